"""Who may open each account page and API operation."""

import pytest

from qslab.core.testing import EVERYONE, SIGNED_IN, Case, check_access, matrix

CASES = [
    Case("accounts:login", EVERYONE, note="signed-in users are sent on to their dashboard"),
    Case("accounts:logout", EVERYONE, method="post"),
    Case("accounts:two_factor_verify", SIGNED_IN),
    Case("accounts:two_factor_setup", SIGNED_IN),
    Case("accounts:profile", SIGNED_IN),
    Case("accounts:api_tokens", SIGNED_IN),
    Case(
        "accounts:revoke_api_token",
        {"client"},
        method="post",
        note="client's own token",
        kwargs=lambda w: {"token_id": w.token_rows["client"].pk},
    ),
    Case("accounts:password_reset", EVERYONE),
    Case("accounts:password_reset_done", EVERYONE),
    Case(
        "accounts:password_reset_confirm",
        EVERYONE,
        note="an invalid link shows an explanation",
        kwargs=lambda w: {"uidb64": "MQ", "token": "bad-token"},
    ),
    Case("qslab_accounts_api_organisations", EVERYONE, api=True),
    Case(
        "qslab_accounts_api_organisation", EVERYONE, api=True, kwargs=lambda w: {"org_id": w.organisation.pk}
    ),
    Case(
        "qslab_accounts_api_create_organisation",
        {"office"},
        method="post",
        api=True,
        data=lambda w: {
            "name_zh": "新机构",
            "name_en": "New body",
            "uscc": w.new_uscc,
            "kind": "enterprise",
            "region_code": "330000",
        },
    ),
    Case("qslab_accounts_api_tokens", SIGNED_IN, api=True),
    Case("qslab_accounts_api_create_token", SIGNED_IN, method="post", api=True, data={"name": "ci"}),
    Case(
        "qslab_accounts_api_revoke_token",
        {"expert"},
        method="post",
        api=True,
        note="expert's own token",
        kwargs=lambda w: {"token_id": w.token_rows["expert"].pk},
    ),
]


@pytest.fixture
def account_world(world):
    from qslab.core.management.commands.load_demo import fake_uscc
    from qslab.core.testing import make_organisation

    world.organisation = make_organisation()
    world.new_uscc = fake_uscc("brand-new")
    return world


@pytest.mark.parametrize(("case", "role"), matrix(CASES))
def test_account_access(case, role, clients, account_world):
    check_access(case, role, clients, account_world)
