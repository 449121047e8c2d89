"""Demo data loads one user per role and a published notice, and loading it twice changes nothing; every
change-logged row of it loads with a correct "before" snapshot."""

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
    _every_row_loads_with_a_before_snapshot_equal_to_its_current_one()


def _every_row_loads_with_a_before_snapshot_equal_to_its_current_one():
    """The change log's "before" is built lazily from the values as loaded; for every change-logged row of
    the demo (every field type the apps use: files, dates, decimals, JSON) it must equal the snapshot of
    the object as read, or an unchanged save would write a record and a change would show wrong fields.
    (Checked on the demo loaded by the test above: loading it takes a minute.)"""
    from django.apps import apps

    from qslab.core.models import ChangeLoggedModel

    checked = set()
    for model in apps.get_models():
        if not issubclass(model, ChangeLoggedModel):
            continue
        for obj in model._base_manager.all()[:20]:
            assert obj._loaded_snapshot == obj.snapshot(), (model.__name__, obj.pk)
            checked.add(model.__name__)
        for obj in model._base_manager.only("pk")[:2]:  # deferred fields: left out of both
            assert obj._loaded_snapshot == obj.snapshot(), (model.__name__, obj.pk)
    assert len(checked) >= 30, sorted(checked)  # the demo fills most of the apps' models
