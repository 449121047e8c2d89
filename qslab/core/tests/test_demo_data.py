"""Demo data loads one user per role and a published notice, and loading it twice changes nothing."""

import io

from django.core.management import call_command

from qslab.accounts.models import Organisation, RoleMembership, User
from qslab.core.models import ChangeRecord, OfficialDocument
from qslab.core.testing import ROLES
from qslab.portal.models import Notice


def _counts():
    return tuple(
        m.objects.count()
        for m in (User, Organisation, RoleMembership, Notice, OfficialDocument, ChangeRecord)
    )


def test_demo_data_has_every_role_and_is_idempotent(db):
    out = io.StringIO()
    call_command("load_demo", stdout=out)
    first = _counts()
    call_command("load_demo", stdout=out)
    assert "labmanager" in out.getvalue(), "the logins are printed"
    assert _counts() == first
    assert set(RoleMembership.objects.values_list("role", flat=True)) == set(ROLES)
    assert Notice.objects.filter(status="published").count() == 1
    for org in Organisation.objects.all():
        org.full_clean()  # every demo USCC passes the checksum
