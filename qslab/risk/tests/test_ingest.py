"""Bulk intake of monitoring data into the analytical store: real files in, broken files refused whole."""

import gzip

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from qslab.core.models import TaskProgress
from qslab.core.testing import verified_client
from qslab.risk import services
from qslab.risk.models import IngestRun

pytestmark = pytest.mark.django_db


@pytest.fixture
def store_path(settings, tmp_path, data_dir):
    settings.DUCKDB_PATH = tmp_path / "analytics.duckdb"
    settings.RISK_NEISS_CODES_DIR = data_dir / "neiss" / "codes"
    return settings.DUCKDB_PATH


def _upload(client, name, content, source="neiss"):
    return client.post(reverse("risk:ingests"), {"source": source, "file": SimpleUploadedFile(name, content)})


def _broken_neiss(data_dir) -> bytes:
    """The first five real NEISS records with three values broken in two rows."""
    with gzip.open(data_dir / "neiss" / "neiss_sample_2014_2023_1k.csv.gz", "rt", encoding="utf-8") as handle:
        lines = handle.read()
    header, *rows = lines.splitlines()[:6]
    rows[1] = rows[1].replace("2014-01-15", "2014-02-30", 1)  # impossible date
    _case, rest = rows[3].split(",", 1)
    rows[3] = "," + rest  # case number missing
    rows[3] = rows[3].replace(",1893,", ",99999,", 1) if ",1893," in rows[3] else rows[3]
    return ("\n".join([header, *rows]) + "\n").encode()


def test_an_analyst_loads_a_real_neiss_file_in_the_background_with_progress(
    users, store_path, data_dir, django_capture_on_commit_callbacks
):
    content = (data_dir / "neiss" / "neiss_sample_2014_2023_1k.csv.gz").read_bytes()
    with django_capture_on_commit_callbacks(execute=True):
        response = _upload(verified_client(users["analyst"]), "neiss_1k.csv.gz", content)
    run = IngestRun.objects.get()
    assert response.status_code == 302 and response["Location"] == run.get_absolute_url()
    assert run.status == "done", run.message
    assert (run.n_rows, run.n_inserted) == (1000, 1000)
    progress = TaskProgress.objects.get(task_id=run.task_id)
    assert progress.status == "done" and progress.owner == users["analyst"]
    store = services.analytical_store()
    assert store.count("neiss") == 1000
    store.close()


def test_a_broken_file_is_refused_whole_and_every_bad_value_is_shown(
    users, store_path, data_dir, django_capture_on_commit_callbacks
):
    analyst = verified_client(users["analyst"])
    with django_capture_on_commit_callbacks(execute=True):
        _upload(analyst, "broken.csv", _broken_neiss(data_dir))
    run = IngestRun.objects.get()
    assert run.status == "rejected"
    problems = {(p["row"], p["column"]) for p in run.problems}
    assert (2, "treatment_date") in problems
    assert (4, "cpsc_case_number") in problems
    assert len(problems) >= 2
    page = analyst.get(run.get_absolute_url()).content.decode()
    assert "2014-02-30" in page and "cpsc_case_number" in page
    store = services.analytical_store()
    assert store.count() == 0  # the three good rows were not written either
    store.close()


def test_a_file_of_the_wrong_type_is_refused_before_it_is_stored(users, store_path):
    response = _upload(verified_client(users["analyst"]), "notes.txt", b"hello")
    assert response.status_code == 200
    assert "CSV" in response.content.decode()
    assert not IngestRun.objects.exists()


def test_a_laboratory_manager_may_not_load_monitoring_data(users, store_path):
    response = _upload(verified_client(users["lab_manager"]), "x.csv", b"a,b\n1,2\n")
    assert response.status_code == 403
    assert not IngestRun.objects.exists()
