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
    from qslab.supervision.models import Complaint, EvaluationVisit

    assert Complaint.objects.filter(status="substantiated").count() == 1
    assert Complaint.objects.filter(status="received", filed_by=None).count() == 1
    assert EvaluationVisit.objects.count() == 6
    call_command("load_demo_supervision", stdout=io.StringIO())
    assert counts == [
        m.objects.count()
        for m in (AnnualReport, SpotCheckDraw, Inspection, CorrectiveAction, MajorChange, RectificationOrder)
    ]


def test_load_demo_runs_the_supervision_demo_after_the_demos_it_reads():
    from django.apps import apps

    from qslab.core.management.commands.load_demo import demo_order

    labels = [c.label for c in apps.get_app_configs() if c.name.startswith("qslab.")]
    order = demo_order(labels)
    assert sorted(order) == sorted(labels)
    for before in ("funding", "outputs", "sharing", "labs"):
        assert order.index(before) < order.index("supervision"), before


def test_the_demo_evaluation_computes_its_figures_from_the_funding_and_outputs_demos(db):
    """The campaign's budget figure comes from the funding demo's budgets (which run first), and the
    published grades replace the funding demo's provisional ones."""
    from qslab.accounts.models import RoleMembership
    from qslab.funding.models import LabGrade
    from qslab.labs.tests.conftest import scope_to
    from qslab.supervision.models import EvaluationEntry

    make_user("office", username="office")
    make_user("expert", username="expert")
    lab_manager = make_user(username="labmanager")
    own = make_lab("demo-hx-robotics", status="named", region="320000")
    RoleMembership.objects.create(user=lab_manager, role="lab_manager")
    scope_to(lab_manager, own)
    for i, region in enumerate(("320000", "330000", "440000", "110000", "510000", "420000")):
        make_lab(f"demo-lab{i}", status="named", region=region)
    call_command("load_demo_funding", stdout=io.StringIO())
    assert LabGrade.objects.filter(source="demo").exists()
    call_command("load_demo_supervision", stdout=io.StringIO())
    entries = list(EvaluationEntry.objects.select_related("laboratory"))
    with_budget = [e for e in entries if e.figures.get("budget") is not None]
    assert with_budget and all(
        e.figure_sources["budget"]["source"] == "funding.execution_rate" for e in entries
    )
    graded = {e.laboratory_id for e in entries}
    assert not LabGrade.objects.filter(laboratory_id__in=graded, source="demo").exists()
    call_command("load_demo_funding", stdout=io.StringIO())
    assert not LabGrade.objects.filter(laboratory_id__in=graded, source="demo").exists(), "not overwritten"
