"""The supervision demo loads on top of the users and labs demos, and a second run changes nothing."""

import io

from django.core.management import call_command

from qslab.core.testing import make_user
from qslab.labs.tests.conftest import make_lab


def test_the_demo_loads_once_and_fills_every_part_of_the_app(db):
    from qslab.funding.models import LabGrade
    from qslab.supervision.models import (
        AnnualReport,
        CorrectiveAction,
        EvaluationCampaign,
        Inspection,
        MajorChange,
        RectificationOrder,
        SpotCheckDraw,
    )

    make_user("office", username="office")
    make_user("expert", username="expert")
    lab_manager = make_user(username="labmanager")
    own = make_lab("demo-hx-robotics", status="named", region="320000")
    from qslab.accounts.models import RoleMembership
    from qslab.labs.tests.conftest import scope_to

    RoleMembership.objects.create(user=lab_manager, role="lab_manager")
    scope_to(lab_manager, own)
    for i, region in enumerate(("320000", "330000", "440000", "110000", "510000", "420000")):
        make_lab(f"demo-lab{i}", status="named", region=region)

    call_command("load_demo_supervision", stdout=io.StringIO())
    counts = [
        m.objects.count()
        for m in (AnnualReport, SpotCheckDraw, Inspection, CorrectiveAction, MajorChange, RectificationOrder)
    ]
    assert all(counts), counts
    assert EvaluationCampaign.objects.get().status == "published"
    assert LabGrade.objects.filter(source__startswith="supervision:").count() == 6
    assert Inspection.objects.filter(kind="for_cause").exists()
    call_command("load_demo_supervision", stdout=io.StringIO())
    assert counts == [
        m.objects.count()
        for m in (AnnualReport, SpotCheckDraw, Inspection, CorrectiveAction, MajorChange, RectificationOrder)
    ]
