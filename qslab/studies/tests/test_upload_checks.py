"""Every CSV upload of the studies app (PT results, precision data, SPC points) is checked by content and
size before a row is read: a page, an image, an executable or an oversized file is refused with the
reason, and nothing changes."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from qslab.studies.forms import CSV_MAX_BYTES
from qslab.studies.models import MonitorPoint, PrecisionValue, PTResult

BAD_FILES = [
    pytest.param(b"<html><script>alert(1)</script></html>", "not an accepted type", id="html"),
    pytest.param(b"\x89PNG\r\n\x1a\n" + b"\x00" * 16, "not an accepted type", id="png"),
    pytest.param(b"MZ\x90\x00\x03\x00", "not an accepted type", id="executable"),
    pytest.param(b"", "empty", id="empty"),
    pytest.param(b"value\n" + b"1.0\n" * (CSV_MAX_BYTES // 4 + 1), "too large", id="too large"),
]


def _post(client, url, content):  # type: ignore[no-untyped-def]
    upload = SimpleUploadedFile("results.csv", content, "text/csv")
    return client.post(url, {"file": upload}, follow=True).content.decode()


@pytest.mark.parametrize("content, reason", BAD_FILES)
def test_a_bad_pt_results_file_is_refused_and_nothing_is_submitted(world, clients, content, reason):
    url = reverse("studies:pt_upload", args=[world.open.pk, world.open_p_org.pk])
    assert reason in _post(clients["client"], url, content)
    assert not PTResult.objects.filter(participant=world.open_p_org).exists()


@pytest.mark.parametrize("content, reason", BAD_FILES)
def test_a_bad_precision_data_file_is_refused_and_nothing_is_written(world, clients, content, reason):
    before = PrecisionValue.objects.filter(experiment=world.collecting).count()
    url = reverse("studies:precision_data", args=[world.collecting.pk])
    assert reason in _post(clients["lab_manager"], url, content)
    assert PrecisionValue.objects.filter(experiment=world.collecting).count() == before


@pytest.mark.parametrize("content, reason", BAD_FILES)
def test_a_bad_points_file_is_refused_and_no_point_is_recorded(world, clients, content, reason):
    before = MonitorPoint.objects.filter(monitor=world.monitor).count()
    url = reverse("studies:monitor_point", args=[world.monitor.pk])
    page = _post(clients["lab_manager"], url, content)
    if content:  # an empty file part is no file at all: the form then asks for a value
        assert reason in page
    assert MonitorPoint.objects.filter(monitor=world.monitor).count() == before


def test_a_good_points_file_is_still_recorded(world, clients):
    before = MonitorPoint.objects.filter(monitor=world.monitor).count()
    url = reverse("studies:monitor_point", args=[world.monitor.pk])
    _post(clients["lab_manager"], url, b"value\n10.01\n10.02\n")
    assert MonitorPoint.objects.filter(monitor=world.monitor).count() == before + 2
