"""Official documents: numbered without gaps or duplicates, rendered with CJK glyphs, stored with a hash."""

import shutil
import subprocess
import threading

import pytest
from django.db import connection
from django.utils import timezone

from qslab.core.documents import issue_document, verify_document
from qslab.core.models import DocumentKind, OfficialDocument

TITLE_ZH = "关于国家质量标准实验室命名的决定"


def _issue(**kw):
    return issue_document(
        kind_code="designation",
        title_zh=TITLE_ZH,
        title_en="Decision on naming laboratories",
        body_zh="经评审委员会审议，决定命名。",
        body_en="The committee decided.",
        **kw,
    )


def test_numbers_follow_the_kind_pattern_and_count_up_per_year(db):
    first, second = _issue(), _issue()
    assert first.number.startswith("国质标实〔") and first.number.endswith("〕1号")
    assert second.sequence == first.sequence + 1
    other = issue_document(kind_code="notice", title_zh="公告", title_en="Notice")
    assert other.sequence == 1, "each kind has its own sequence"


def test_the_office_can_change_a_kinds_pattern(db):
    kind = DocumentKind.objects.get(code="rectification")
    kind.pattern = "{prefix}-{year}-{seq:03d}"
    kind.save()
    doc = issue_document(kind_code="rectification", title_zh="整改", title_en="Rectify")
    assert doc.number.endswith("-001")


def test_pdf_contains_a_cjk_font_and_the_chinese_title(db, tmp_path):
    assert shutil.which("pdffonts") and shutil.which("pdftotext"), (
        "poppler-utils is required (.ci/run installs it)"
    )
    doc = _issue()
    fonts = subprocess.run(["pdffonts", doc.pdf_zh.path], capture_output=True, text=True, check=True).stdout
    assert "CJK" in fonts, f"no CJK font embedded; missing fonts-noto-cjk? {fonts}"
    text = subprocess.run(
        ["pdftotext", doc.pdf_zh.path, "-"], capture_output=True, text=True, check=True
    ).stdout
    assert TITLE_ZH in text.replace("\n", "")
    english = subprocess.run(
        ["pdftotext", doc.pdf_en.path, "-"], capture_output=True, text=True, check=True
    ).stdout
    assert "Decision on naming laboratories" in english


def test_stored_pdfs_are_verified_by_their_hash_and_tampering_is_detected(db):
    doc = _issue()
    assert verify_document(doc)
    with open(doc.pdf_en.path, "ab") as fh:
        fh.write(b"tampered")
    assert not verify_document(doc)


@pytest.mark.postgres_only
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_parallel_issuing_gives_distinct_gap_free_numbers():
    if connection.vendor != "postgresql":
        pytest.skip("row locks are only meaningful on PostgreSQL; this runs in the PostgreSQL CI pass")
    from django.db import close_old_connections

    errors = []

    def worker():
        try:
            issue_document(kind_code="evaluation", title_zh="评估", title_en="Evaluation")
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            close_old_connections()

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    sequences = sorted(
        OfficialDocument.objects.filter(kind__code="evaluation").values_list("sequence", flat=True)
    )
    assert sequences == list(range(1, 9))


class _Abandoned(RuntimeError):
    """The caller's transaction fails after drawing a number (a later step of its service failed)."""


@pytest.mark.postgres_only
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_simultaneous_issuing_with_failing_callers_gives_distinct_gap_free_numbers():
    """Twelve callers released at the same instant for the first numbers of a year (so the year's counter
    row is also created in the race); four of them fail after drawing their number. The eight documents
    that exist carry 1..8: no duplicate, and the numbers of the failed callers were not lost."""
    if connection.vendor != "postgresql":
        pytest.skip("row locks are only meaningful on PostgreSQL; this runs in the PostgreSQL CI pass")
    from django.db import close_old_connections, transaction

    from qslab.core.documents import draw_number
    from qslab.core.models import DocumentSequence

    kind = DocumentKind.objects.get(code="evaluation")
    DocumentSequence.objects.filter(kind=kind).delete()
    barrier = threading.Barrier(12)
    outcomes: list[str] = []

    def issue(fail: bool) -> None:
        try:
            barrier.wait()
            if fail:
                with transaction.atomic():
                    draw_number(kind, timezone.localdate().year)
                    raise _Abandoned
            issue_document(kind_code="evaluation", title_zh="评估", title_en="Evaluation")
            outcomes.append("issued")
        except _Abandoned:
            outcomes.append("abandoned")
        except Exception as exc:  # pragma: no cover - reported below
            outcomes.append(repr(exc))
        finally:
            close_old_connections()

    threads = [threading.Thread(target=issue, args=(i % 3 == 0,)) for i in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["abandoned"] * 4 + ["issued"] * 8, outcomes
    docs = OfficialDocument.objects.filter(kind__code="evaluation")
    assert sorted(docs.values_list("sequence", flat=True)) == list(range(1, 9))
    assert docs.values("number").distinct().count() == 8
    assert DocumentSequence.objects.get(kind=kind).last_number == 8
