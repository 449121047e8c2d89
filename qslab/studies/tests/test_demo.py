"""The demo loader makes a scored PT round, a precision experiment and a monitor with a signal, once."""

from django.core.management import call_command

from qslab.studies.models import Alarm, PrecisionExperiment, PTResult, PTRound


def test_demo_studies_load_once_with_scores_and_a_signal(db):
    call_command("load_demo_studies")
    call_command("load_demo_studies")
    rnd = PTRound.objects.get(code="demo-pt-2026-cu")
    assert rnd.status == "reported"
    assert PTResult.objects.filter(participant__round=rnd, scores__isnull=False).count() == 6
    assert PrecisionExperiment.objects.get(code="demo-prec-moisture").decisions.exists()
    assert Alarm.objects.filter(monitor__name_en="Ash in flour").exists()
