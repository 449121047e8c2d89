"""``own_and_other``: the two access-matrix rows of an endpoint on a laboratory's object."""

from qslab.core.testing import Case, own_and_other


def own(w):
    return {"lab_id": w.lab.pk}


def other(w):
    return {"lab_id": w.other_lab.pk}


def test_the_lab_manager_is_allowed_on_its_own_lab_only():
    mine, theirs = own_and_other("labs:edit", {"office"}, own=own, other=other)
    assert mine == Case("labs:edit", {"office", "lab_manager"}, kwargs=own)
    assert theirs == Case("labs:edit", {"office"}, kwargs=other, note="another lab")


def test_the_other_fields_go_to_both_rows():
    rows = own_and_other(
        "api_op", {"office"}, own=own, other=other, method="post", api=True, data={"a": 1}, own_note="mine"
    )
    assert [(c.method, c.api, c.data) for c in rows] == [("post", True, {"a": 1})] * 2
    assert [c.note for c in rows] == ["mine", "another lab"]
