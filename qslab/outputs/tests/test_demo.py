"""The demo command fills the existing laboratories once and creates no laboratory."""

import io

from django.core.management import call_command

from qslab.labs.models import Laboratory
from qslab.outputs.models import Output, Standard
from qslab.outputs.services import lab_figures


def test_load_demo_outputs_is_idempotent_and_creates_no_laboratory(world):
    world.users["office"].username = "office"
    world.users["office"].save(update_fields=["username"])
    labs = Laboratory.objects.count()
    call_command("load_demo_outputs", "--labs", "2", stdout=io.StringIO())
    counts = (Standard.objects.count(), Output.objects.count())
    call_command("load_demo_outputs", "--labs", "2", stdout=io.StringIO())
    assert (Standard.objects.count(), Output.objects.count()) == counts
    assert Laboratory.objects.count() == labs
    demo = Standard.objects.filter(notes="demo", stage="published").first()
    figures = lab_figures(demo.laboratory, demo.published_on.year)
    assert figures["standards_published_by_level"]["group"] >= 1 and figures["patents_granted"] == 1
