"""Faults: an import or a multi-step service interrupted mid-way leaves nothing half-written, and a re-run
completes.

The fault is injected at the database driver (``connection.execute_wrapper``): the operation is first
rehearsed to count its writes (INSERT/UPDATE/DELETE statements), then run again with a failure raised
before its first write, half-way and before its last, once as a database error and once as a crash in
Python (a bug or a killed worker's exception). After each interrupted run every row of every table and
every stored file must be as before; finally an uninterrupted run must succeed.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from django.apps import apps
from django.conf import settings
from django.core import serializers
from django.db import OperationalError, connection, transaction

from qslab.core.documents import sweep_orphan_files

WRITES = ("INSERT", "UPDATE", "DELETE", "REPLACE")


class InjectedCrash(RuntimeError):
    """Stands for any exception raised by Python code half-way through an operation."""


class FaultAfter:
    """An ``execute_wrapper`` that counts writes and fails (once) instead of performing write ``n + 1``."""

    def __init__(self, n: int | None, exc: type[Exception] = OperationalError):
        self.n, self.exc, self.writes = n, exc, 0

    def __call__(self, execute, sql, params, many, context):
        if sql.lstrip().upper().startswith(WRITES):
            if self.n is not None and self.writes >= self.n:
                self.n = None  # a transient fault: what runs after it (cleanup, the retry) writes normally
                raise self.exc(f"fault injected before write {self.writes + 1}")
            self.writes += 1
        return execute(sql, params, many, context)


def snapshot() -> dict[str, Any]:
    """Every row of every table and every stored file (name and SHA-256)."""
    rows = {}
    for model in apps.get_models(include_auto_created=True):
        if model._meta.managed and not model._meta.proxy:
            if model._meta.auto_created:
                columns = [f.attname for f in model._meta.concrete_fields if not f.primary_key]
                rows[model._meta.label] = sorted(model._default_manager.values_list(*columns))
            else:
                rows[model._meta.label] = serializers.serialize("json", model._default_manager.order_by("pk"))
    media = Path(settings.MEDIA_ROOT)
    files = {
        p.relative_to(media).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in (media.rglob("*") if media.exists() else [])
        if p.is_file()
    }
    return {"rows": rows, "files": files}


def differences(before: dict[str, Any], after: dict[str, Any]) -> list[str]:
    changed = [f"table {k}" for k in before["rows"] if before["rows"][k] != after["rows"].get(k)]
    added = sorted(set(after["files"]) - set(before["files"]))
    changed += [f"file {k}" for k in added]
    changed += [f"file {k} changed" for k in before["files"] if after["files"].get(k) != before["files"][k]]
    return changed


@dataclasses.dataclass
class Operation:
    name: str
    prepare: Callable[[dict[str, Any]], Callable[[], Any]]  # users -> the operation to run
    check: Callable[[Any], None] = lambda result: None  # what a successful run leaves behind


# --- the operations -----------------------------------------------------------------------------------


def _labs_organisations(users):
    from qslab.core.management.commands.load_demo import fake_uscc
    from qslab.labs.imports import import_records, read_table

    rows = "".join(f"机构{i},Org {i},{fake_uscc(f'fault-{i}')},enterprise,320000\n" for i in range(4))
    table = read_table("orgs.csv", ("name_zh,name_en,uscc,kind,region_code\n" + rows).encode())
    return lambda: import_records(users["office"], "organisations", table)


def _labs_laboratories(users):
    from qslab.core.testing import make_organisation
    from qslab.labs.imports import import_records, read_table

    org = make_organisation()
    rows = "".join(
        f"fault{i},国家故障{i}质量标准实验室,Fault {i} lab,{org.uscc},320000,robots\n" for i in range(3)
    )
    table = read_table(
        "labs.csv", ("code,name_zh,name_en,supporting_uscc,region_code,fields\n" + rows).encode()
    )
    return lambda: import_records(users["office"], "laboratories", table)


def _funding_expenditures(users):
    from qslab.funding import services
    from qslab.funding.tests.conftest import budget_with_lines, make_lab

    budget = budget_with_lines(make_lab("fault"), users["office"], status="approved")
    csv = (
        "date,line,source,amount\n2025-02-01,equipment,central,100.00\n"
        "2025-03-01,testing,service,250.00\n2025-04-01,materials,supporting,10.00\n"
    )
    table = services.read_table("x.csv", csv.encode())
    return lambda: services.import_expenditures(users["office"], budget, table)


def _outputs(users):
    from qslab.funding.tests.conftest import make_lab, manager_of
    from qslab.outputs.imports import import_outputs

    lab = make_lab("own")
    manager = manager_of(lab)
    content = (
        "laboratory,kind,title_zh,year,doi,application_number,participants,people\n"
        + "".join(f"own,paper,论文{i},2026,10.1000/fault.{i},,,\n" for i in range(3))
    ).encode()
    return lambda: import_outputs(manager, "outputs.csv", content)


def _studies_precision(users):
    from qslab.core.context import acting_as
    from qslab.funding.tests.conftest import make_lab, manager_of
    from qslab.studies import services
    from qslab.studies.models import PrecisionExperiment

    lab = make_lab("prec")
    manager = manager_of(lab)
    with acting_as(manager):
        study = PrecisionExperiment.objects.create(
            laboratory=lab,
            code="prec-fault",
            title_zh="精密度",
            title_en="Precision",
            standard_reference="GB/T draft",
            levels=["A"],
            n_labs=6,
            replicates=2,
            status="collecting",
        )
    rows = [
        {"level": "A", "lab": f"L{i + 1}", "replicate": str(r), "value": str(10 + i / 10 + r / 100)}
        for i in range(6)
        for r in (1, 2)
    ]
    services.import_precision_values(manager, study, rows[:4])  # a first import, replaced by the next
    return lambda: services.import_precision_values(manager, study, rows)


def _publish_notice(users):
    """A workflow step with side effects: a numbered document with two PDFs, notifications, an audit row."""
    from qslab.portal import services
    from qslab.portal.models import Notice

    notice = Notice.objects.create(
        title_zh="故障测试公告",
        title_en="Fault test notice",
        body_zh="正文",
        body_en="Body",
        status="in_review",
        author=users["office"],
    )
    return lambda: services.move_notice(users["committee"], notice, "publish")


def _reminders(users):
    """The daily job (run by the task worker): reminds and marks overdue, each deadline once."""
    from django.contrib.contenttypes.models import ContentType

    from qslab.core.models import Deadline
    from qslab.core.reminders import send_reminders
    from qslab.portal.models import Notice

    target = Notice.objects.create(title_zh="期限", title_en="Deadline", author=users["office"])
    today = dt.date.today()
    for due in (today - dt.timedelta(days=3), today - dt.timedelta(days=1)):
        Deadline.objects.create(
            content_type=ContentType.objects.get_for_model(target),
            object_id=str(target.pk),
            label_en="Answer",
            label_zh="答复",
            due=due,
            assignee=users["lab_manager"],
        )
    return send_reminders


OPERATIONS = [
    Operation("labs organisations import", _labs_organisations),
    Operation("labs laboratories import", _labs_laboratories),
    Operation("funding expenditures import", _funding_expenditures),
    Operation("outputs import", _outputs),
    Operation("studies precision import", _studies_precision),
    Operation("portal publish notice (document, PDFs, notifications)", _publish_notice),
    Operation("core daily reminders job", _reminders),
]


def _rehearse(run: Callable[[], Any]) -> int:
    counter = FaultAfter(None)
    with transaction.atomic(), connection.execute_wrapper(counter):
        run()
        transaction.set_rollback(True)
    return counter.writes


@pytest.mark.parametrize("operation", OPERATIONS, ids=lambda o: o.name)
@pytest.mark.parametrize("exc", [OperationalError, InjectedCrash], ids=["database error", "crash"])
def test_an_interrupted_operation_leaves_nothing_half_written_and_a_rerun_completes(users, operation, exc):
    run = operation.prepare(users)
    total = _rehearse(run)
    assert total >= 2, f"{operation.name}: only {total} writes, nothing to interrupt"
    sweep_orphan_files(min_age_seconds=0)  # the rehearsal was rolled back too
    before = snapshot()
    for n in sorted({0, total // 2, total - 1}):
        with pytest.raises(exc), connection.execute_wrapper(FaultAfter(n, exc)):
            run()
        # Files written before the failed transaction (a document's PDFs) are not rows: the sweeper run by
        # the daily job removes them (here at once; in production only once an hour old).
        sweep_orphan_files(min_age_seconds=0)
        changed = differences(before, snapshot())
        assert not changed, f"{operation.name} interrupted before write {n + 1}/{total} left: {changed}"
    counter = FaultAfter(None)
    with connection.execute_wrapper(counter):
        run()
    assert counter.writes == total  # the re-run did the whole job, no more and no less
    assert differences(before, snapshot())


def test_a_retried_reminder_job_reminds_each_deadline_once(users):
    """A task retried after it failed (or after it succeeded but its result was lost) does no work twice."""
    from qslab.core.models import Notification
    from qslab.core.tasks import send_reminders_task

    _reminders(users)
    with connection.execute_wrapper(FaultAfter(3, InjectedCrash)):
        failed = send_reminders_task.enqueue()  # the immediate backend runs it and records the failure
    assert failed.status == "FAILED"
    assert not Notification.objects.filter(verb="overdue").exists()
    first, again = send_reminders_task.enqueue(), send_reminders_task.enqueue()
    assert first.status == again.status == "SUCCESSFUL"
    assert first.return_value["overdue"] == 2 and again.return_value == {"reminded": 0, "overdue": 0}
    assert Notification.objects.filter(verb="overdue").count() == 2


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_the_reminder_job_runs_outside_a_request_transaction_as_the_worker_runs_it():
    """The worker calls tasks in autocommit mode: the job must open its own transaction (its row locks
    need one on PostgreSQL)."""
    from qslab.core.reminders import send_reminders
    from qslab.core.testing import make_user

    users = {"office": make_user("office"), "lab_manager": make_user("lab_manager")}
    _reminders(users)
    assert connection.get_autocommit()
    assert send_reminders()["overdue"] == 2


def test_the_fault_injector_counts_writes_and_not_reads(db):
    from qslab.portal.models import Notice

    counter = FaultAfter(None)
    with connection.execute_wrapper(counter):
        list(Notice.objects.all())
        Notice.objects.create(title_zh="甲", title_en="A")
    assert counter.writes >= 1
    with pytest.raises(OperationalError), transaction.atomic(), connection.execute_wrapper(FaultAfter(0)):
        Notice.objects.create(title_zh="乙", title_en="B")
    assert not Notice.objects.filter(title_en="B").exists()


def test_a_change_logged_row_loaded_with_only_some_fields_does_not_recurse(db):
    """Serialisers (backups, dumpdata) load many-to-many targets with .only("pk")."""
    from qslab.core import services  # noqa: F401  (the change log is connected)
    from qslab.portal.models import Notice

    notice = Notice.objects.create(title_zh="甲", title_en="A")
    partial = Notice.objects.only("pk").get(pk=notice.pk)
    assert partial.title_en == "A"
    partial.title_en = "B"
    partial.save()
    notice.refresh_from_db()
    assert notice.title_en == "B"


@pytest.fixture
def own_media_root(settings: Any, tmp_path: Path) -> Path:
    """A media folder of this test's own: files left by earlier tests in the same worker (their rows were
    rolled back) would otherwise be orphans too."""
    settings.MEDIA_ROOT = tmp_path
    return tmp_path


def test_the_sweeper_removes_only_unreferenced_files_old_enough(own_media_root: Path, world: Any) -> None:
    from django.core.files.base import ContentFile
    from django.core.files.storage import default_storage

    stray = default_storage.save("documents/2026/notice/stray.pdf", ContentFile(b"%PDF-1.4 stray"))
    assert sweep_orphan_files(min_age_seconds=3600) == []  # too young: may belong to a running transaction
    assert sweep_orphan_files(min_age_seconds=0) == [stray]
    assert default_storage.exists(world.document.pdf_zh.name)  # referenced files stay
