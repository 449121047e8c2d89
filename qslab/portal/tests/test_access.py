"""Who may open each portal page and API operation, for notices in each state."""

import pytest

from qslab.core.testing import EVERYONE, Case, check_access, matrix

OFFICE_AND_COMMITTEE = {"office", "committee"}

CASES = [
    Case("portal:home", EVERYONE),
    Case("portal:notices", EVERYONE),
    Case("portal:documents", EVERYONE),
    Case("portal:search", EVERYONE, query="q=notice"),
    Case("portal:notice", EVERYONE, note="published", kwargs=lambda w: {"notice_id": w.published.pk}),
    Case("portal:notice", OFFICE_AND_COMMITTEE, note="draft", kwargs=lambda w: {"notice_id": w.draft.pk}),
    Case("portal:notice_create", {"office"}),
    Case("portal:notice_edit", {"office"}, kwargs=lambda w: {"notice_id": w.draft.pk}),
    Case(
        "portal:notice_transition",
        {"office"},
        method="post",
        note="submit a draft",
        kwargs=lambda w: {"notice_id": w.draft.pk, "transition": "submit"},
    ),
    Case(
        "portal:notice_transition",
        {"office", "committee"},
        method="post",
        note="return with reason",
        kwargs=lambda w: {"notice_id": w.in_review.pk, "transition": "return"},
        data={"reason": "fix the title"},
    ),
    Case("qslab_portal_api_notices", EVERYONE, api=True),
    Case(
        "qslab_portal_api_notice",
        EVERYONE,
        api=True,
        note="published",
        kwargs=lambda w: {"notice_id": w.published.pk},
    ),
    Case(
        "qslab_portal_api_notice",
        OFFICE_AND_COMMITTEE,
        api=True,
        note="draft",
        kwargs=lambda w: {"notice_id": w.draft.pk},
    ),
    Case(
        "qslab_portal_api_create_notice",
        {"office"},
        method="post",
        api=True,
        data={"title_zh": "标题", "title_en": "Title"},
    ),
    Case(
        "qslab_portal_api_move_notice",
        {"office", "committee"},
        method="post",
        api=True,
        kwargs=lambda w: {"notice_id": w.in_review.pk, "transition": "return"},
        data={"reason": "typo"},
    ),
]


@pytest.mark.parametrize(("case", "role"), matrix(CASES))
def test_portal_access(case, role, clients, world):
    check_access(case, role, clients, world)
