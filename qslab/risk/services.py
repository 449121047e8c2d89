"""Operations of product risk monitoring: taxonomies, public reports, defect patterns, data intake,
the early-warning job and signal triage.

Workflow state changes go through :func:`qslab.core.services.apply_transition` only; the rest are verbs
of the domain in ``transaction.atomic()`` that save with ``update_fields``.
"""

from __future__ import annotations

import csv
import datetime as dt
import secrets
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from django.db.models import Count, Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from qslab.core.context import acting_as
from qslab.core.services import apply_transition, save_with_next_reference, watch
from qslab.risk.models import (
    Alarm,
    DefectPattern,
    EarlyWarningRun,
    IncidentReport,
    IngestRun,
    SeriesFamily,
    Signal,
    Term,
    is_risk_staff,
)

CONSENT_TEXT_EN = (
    "I agree that the market regulator may store this report, contact me about it if I ticked the box, "
    "and publish an anonymised summary after review. My name and contact details are never published."
)
CONSENT_TEXT_ZH = (
    "我同意市场监管部门保存本报告，在我勾选时就此与我联系，并在审核后公开匿名摘要。"
    "我的姓名和联系方式不会公开。"
)


def _require_staff(user: Any, what: str) -> None:
    if not is_risk_staff(user):
        raise PermissionDenied(
            _("Only risk analysts and the committee office may %(what)s.") % {"what": what}
        )


# ------------------------------------------------------------------------------------------------
# taxonomies

#: Hazard taxonomy shipped with the platform (EU Safety Gate risk types, in both languages).
HAZARDS = [
    ("mechanical", "机械伤害", "Mechanical (cuts, crushing, entrapment)"),
    ("choking", "窒息（小零件）", "Choking (small parts)"),
    ("suffocation", "窒息（覆盖口鼻、绳带）", "Suffocation and strangulation"),
    ("fall", "跌落", "Falls"),
    ("electrical", "电击", "Electric shock"),
    ("fire", "火灾", "Fire"),
    ("thermal", "烫伤、灼伤", "Burns and scalds (thermal)"),
    ("chemical", "化学危害", "Chemical"),
    ("microbiological", "微生物", "Microbiological"),
    ("drowning", "溺水", "Drowning"),
    ("noise", "噪声", "Damage to hearing"),
    ("radiation", "辐射", "Radiation"),
    ("other", "其他", "Other"),
]

#: Chinese names of the NEISS dispositions and of common diagnoses and body parts (CPSC gives English).
NEISS_ZH = {
    "disposition": {
        "0": "未受伤",
        "1": "诊治后离院",
        "2": "诊治后转院",
        "4": "诊治后住院",
        "5": "留院观察",
        "6": "未就诊离开",
        "8": "死亡",
        "9": "不详",
    },
    "diagnosis": {
        "41": "误食",
        "42": "吸入异物",
        "46": "电烧伤",
        "47": "烧伤（未说明）",
        "48": "烫伤",
        "49": "化学烧伤",
        "51": "热烧伤",
        "52": "脑震荡",
        "53": "挫伤、擦伤",
        "54": "挤压伤",
        "55": "脱位",
        "57": "骨折",
        "58": "血肿",
        "59": "割裂伤",
        "62": "内脏损伤",
        "64": "扭伤、拉伤",
        "65": "窒息",
        "67": "电击",
        "68": "中毒",
        "71": "其他",
    },
    "body_part": {
        "0": "内部",
        "30": "肩",
        "31": "上躯干",
        "32": "肘",
        "33": "前臂",
        "34": "腕",
        "35": "膝",
        "36": "小腿",
        "37": "踝",
        "38": "阴部",
        "75": "头",
        "76": "面部",
        "77": "眼球",
        "79": "下躯干",
        "80": "上臂",
        "81": "大腿",
        "82": "手",
        "83": "足",
        "88": "口",
        "89": "颈",
        "92": "手指",
        "93": "脚趾",
        "94": "耳",
    },
    "product": {
        "1807": "地板",
        "1842": "楼梯、台阶",
        "4076": "床",
        "1205": "篮球",
        "5040": "自行车",
        "4074": "椅子",
        "1211": "橄榄球",
        "464": "刀具",
        "572": "电视机",
        "1893": "门",
        "269": "电热水壶",
        "1329": "滑板车（非电动）",
        "1345": "拼装积木",
    },
}

NEISS_TABLES = {
    Term.Kind.PRODUCT: "products.csv",
    Term.Kind.DIAGNOSIS: "diagnoses.csv",
    Term.Kind.BODY_PART: "body_parts.csv",
    Term.Kind.DISPOSITION: "dispositions.csv",
}


@transaction.atomic
def load_hazards() -> int:
    """The shipped hazard taxonomy; existing terms keep the office's edits."""
    created = 0
    for code, zh, en in HAZARDS:
        _term, new = Term.objects.get_or_create(
            kind=Term.Kind.HAZARD, code=code, defaults={"name_zh": zh, "name_en": en, "source": "qslab"}
        )
        created += new
    return created


@transaction.atomic
def load_neiss_codes(codes_dir: str | Path) -> dict[str, int]:
    """Load CPSC's NEISS code tables (products, diagnoses, body parts, dispositions) as taxonomy terms.

    Idempotent: codes already present are left as they are (the office may have renamed them).
    Returns the number of new terms per taxonomy.
    """
    codes_dir = Path(codes_dir)
    counts: dict[str, int] = {}
    for kind, file_name in NEISS_TABLES.items():
        path = codes_dir / file_name
        if not path.is_file():
            raise ValidationError(_("NEISS code table not found: %(path)s") % {"path": path})
        existing = set(Term.objects.filter(kind=kind).values_list("code", flat=True))
        zh = NEISS_ZH.get(kind, {})
        new = []
        with path.open(encoding="utf-8") as handle:
            for row in csv.DictReader(handle):
                code = (row.get("code") or "").strip()
                if not code or code in existing:
                    continue
                existing.add(code)
                new.append(
                    Term(
                        kind=kind,
                        code=code,
                        name_en=(row.get("label") or code).strip().capitalize()[:200],
                        name_zh=zh.get(code, ""),
                        source="neiss",
                    )
                )
        Term.objects.bulk_create(new, batch_size=500)
        counts[kind] = len(new)
    counts[Term.Kind.HAZARD] = load_hazards()
    return counts


@transaction.atomic
def save_term(user: Any, data: dict[str, Any], term: Term | None = None) -> Term:
    _require_staff(user, _("edit taxonomies"))
    fields = ("kind", "code", "name_zh", "name_en", "parent", "active")
    with acting_as(user):
        if term is None:
            term = Term(source="office", **{f: data[f] for f in fields if f in data})
            term.full_clean()
            term.save()
        else:
            changed = [f for f in fields if f in data and f not in ("kind", "code")]
            for f in changed:
                setattr(term, f, data[f])
            term.save(update_fields=[*changed, "last_updated"])
    return term


def term_label(kind: str, code: str) -> str:
    term = Term.objects.filter(kind=kind, code=code).first()
    return term.name if term else code


# ------------------------------------------------------------------------------------------------
# public incident reports

REPORT_FIELDS = (
    "product_category",
    "brand",
    "model",
    "batch",
    "barcode",
    "incident_date",
    "hazard",
    "description",
    "injured",
    "diagnosis",
    "body_part",
    "disposition",
    "victim_age",
    "reporter_email",
    "consent_contact",
)


def _new_reference() -> str:
    day = timezone.localdate().strftime("%Y%m%d")
    return f"IR{day}-{secrets.token_hex(3).upper()}"


@transaction.atomic
def submit_report(user: Any, data: dict[str, Any], photo: UploadedFile | None = None) -> IncidentReport:
    """A member of the public files a report; nothing is public until an analyst publishes it.

    The reporter must agree to the consent wording; what they agreed to and when is kept with the
    report.
    """
    if not data.get("consent_publish"):
        raise ValidationError({"consent_publish": [_("Please agree to the consent statement to submit.")]})
    reporter = user if user is not None and user.is_authenticated else None
    language = (data.get("language") or "en").lower()
    report = IncidentReport(
        reference=_new_reference(),
        reporter=reporter,
        consent_publish=True,
        consent_text=CONSENT_TEXT_ZH if language.startswith("zh") else CONSENT_TEXT_EN,
        consent_at=timezone.now(),
        **{f: data[f] for f in REPORT_FIELDS if f in data and data[f] is not None},
    )
    if photo is not None:
        report.photo = photo
    report.full_clean()
    with acting_as(reporter):
        report.save()
    if reporter is not None:
        watch(report, reporter)
    return report


@transaction.atomic
def code_report(user: Any, report: IncidentReport, data: dict[str, Any]) -> IncidentReport:
    """The analyst codes the report (taxonomies) and writes the public summary."""
    if not IncidentReport.objects.editable_by(user).filter(pk=report.pk).exists():
        raise PermissionDenied(_("Only risk analysts may code a report that is not yet decided."))
    fields = [
        f
        for f in (
            "product_category",
            "hazard",
            "diagnosis",
            "body_part",
            "disposition",
            "public_summary_zh",
            "public_summary_en",
        )
        if f in data
    ]
    for f in fields:
        setattr(report, f, data[f])
    with acting_as(user):
        report.save(update_fields=[*fields, "last_updated"])
    return report


def move_report(user: Any, report: IncidentReport, transition: str, reason: str = "") -> IncidentReport:
    apply_transition(report, transition, user, reason=reason)
    report.refresh_from_db()
    return report


def similar_reports(user: Any, report: IncidentReport, limit: int = 10) -> list[IncidentReport]:
    """Reports of the same product category with the same hazard (or injury) or brand, closest first.

    Ranked by shared coded fields and brand, then by narrative words in common (``qslab.risk.search``).
    """
    from qslab.risk.search import similar_incidents

    return similar_incidents(user, report, limit)


# ------------------------------------------------------------------------------------------------
# defect patterns

PATTERN_FIELDS = (
    "title_zh",
    "title_en",
    "product_category",
    "hazard",
    "failure_mode",
    "injury_mechanism",
    "scenario",
    "detection_method",
    "summary_zh",
    "summary_en",
    "evidence_links",
    "is_public",
)


@transaction.atomic
def save_pattern(
    user: Any,
    data: dict[str, Any],
    pattern: DefectPattern | None = None,
    evidence: Iterable[IncidentReport] | None = None,
) -> DefectPattern:
    """Create or edit a defect pattern; ``evidence`` replaces its linked cases when given."""
    _require_staff(user, _("edit defect patterns"))
    with acting_as(user):
        if pattern is None:
            pattern = DefectPattern(author=user, **{f: data[f] for f in PATTERN_FIELDS if f in data})
            pattern.full_clean()
            pattern.save()
        else:
            fields = [f for f in PATTERN_FIELDS if f in data]
            for f in fields:
                setattr(pattern, f, data[f])
            pattern.full_clean()
            pattern.save(update_fields=[*fields, "last_updated"])
    if evidence is not None:
        pattern.evidence.set(IncidentReport.objects.visible_to(user).filter(pk__in=[r.pk for r in evidence]))
    return pattern


def promote_to_pattern(user: Any, reports: Iterable[IncidentReport], data: dict[str, Any]) -> DefectPattern:
    """An analyst turns a cluster of cases into a pattern with those cases as its evidence."""
    return save_pattern(user, data, evidence=list(reports))


def search_patterns(
    user: Any, query: str = "", hazard: str = "", product: str = ""
) -> QuerySet[DefectPattern]:
    """Patterns the user may see matching every term of the query (full text, best first), by code.

    Staff also match the narratives of the linked cases; see ``qslab.risk.search``.
    """
    from qslab.risk import search

    qs = search.search_patterns(user, query) if query.strip() else DefectPattern.objects.visible_to(user)
    qs = qs.select_related("product_category", "hazard")
    if hazard:
        qs = qs.filter(hazard__code=hazard)
    if product:
        qs = qs.filter(product_category__code=product)
    return qs


# ------------------------------------------------------------------------------------------------
# bulk intake into the analytical store


def analytical_store() -> Any:
    from qslab.surveillance.store import AnalyticalStore

    return AnalyticalStore.duckdb(settings.DUCKDB_PATH)


def neiss_codes_dir() -> Path:
    """Where the NEISS code tables are (``settings.RISK_NEISS_CODES_DIR`` or the shared data folder)."""
    configured = getattr(settings, "RISK_NEISS_CODES_DIR", None)
    return (
        Path(configured) if configured else settings.BASE_DIR.parent / "shared" / "data" / "neiss" / "codes"
    )


def mapping_for(source: str, codes_dir: Path | None = None) -> Any:
    from qslab.surveillance import sources

    if source == IngestRun.Source.NEISS:
        return sources.neiss_mapping(codes_dir or neiss_codes_dir())
    if source == IngestRun.Source.FDA_ENFORCEMENT:
        return sources.fda_enforcement_mapping()
    if source == IngestRun.Source.CAERS:
        return sources.caers_mapping()
    if source == IngestRun.Source.MAUDE:
        return sources.maude_mapping()
    raise ValidationError({"source": [_("Unknown data source “%(source)s”.") % {"source": source}]})


ALLOWED_INGEST_SUFFIXES = (".csv", ".csv.gz", ".parquet")
MAX_INGEST_BYTES = 200 * 1024 * 1024


@transaction.atomic
def start_ingest(user: Any, source: str, upload: UploadedFile) -> IngestRun:
    """Store the uploaded file and queue its intake; the task runs after the transaction commits."""
    _require_staff(user, _("load monitoring data"))
    if source not in IngestRun.Source.values:
        raise ValidationError({"source": [_("Unknown data source “%(source)s”.") % {"source": source}]})
    name = Path(upload.name or "data.csv").name
    if not name.lower().endswith(ALLOWED_INGEST_SUFFIXES):
        raise ValidationError({"file": [_("The file must be CSV (.csv or .csv.gz) or Parquet.")]})
    if upload.size and upload.size > MAX_INGEST_BYTES:
        raise ValidationError(
            {"file": [_("The file is larger than 200 MB; load it with the qslab command.")]}
        )
    with acting_as(user):
        run = IngestRun(source=source, file_name=name, owner=user)
        run.file.save(name, upload, save=False)
        run.save()
    from qslab.risk.tasks import ingest_task

    transaction.on_commit(lambda: _enqueue_ingest(run.pk, ingest_task))
    return run


def _enqueue_ingest(run_id: int, task: Any) -> None:
    result = task.enqueue(run_id=run_id)
    IngestRun.objects.filter(pk=run_id, task_id="").update(task_id=str(result.id))


def run_ingest(run: IngestRun, progress: Any = None, codes_dir: Path | None = None) -> IngestRun:
    """Validate the whole file and append it to the analytical store, or write nothing.

    Every bad value (file, row, column, value, message) is kept on the run so the user sees them all.
    """
    from qslab.surveillance.ingest import IngestError, IngestValidationError, MappingError, ingest

    run.status = IngestRun.Status.RUNNING
    run.save(update_fields=["status", "last_updated"])
    try:
        mapping = mapping_for(run.source, codes_dir)
        store = analytical_store()
        try:
            report = ingest(store, Path(run.file.path), mapping, progress=False)
        finally:
            store.close()
    except IngestValidationError as error:
        run.status = IngestRun.Status.REJECTED
        run.n_rows = error.n_rows
        run.problems = [
            {"row": p.row, "column": p.column, "value": p.value, "message": p.message} for p in error.problems
        ]
        run.message = _("%(n)d bad value(s); nothing was written.") % {"n": len(error.problems)}
    except (IngestError, MappingError, ValidationError, OSError) as error:
        run.status = IngestRun.Status.FAILED
        run.message = str(error)[:2000]
    else:
        run.status = IngestRun.Status.DONE
        run.n_rows = report.n_rows
        run.n_inserted = report.n_inserted
        run.message = report.summary()
    if progress is not None:
        progress.advance(message=run.message[:300])
    run.save(update_fields=["status", "n_rows", "n_inserted", "problems", "message", "last_updated"])
    return run


@transaction.atomic
def abandon_ingest(run_id: int | None, task_id: str, reason: str) -> IngestRun | None:
    """Mark failed, with the reason, an intake whose task the stale-task recovery gave up on.

    Called by the recovery (no user); an intake already finished is left as it is. Nothing half-written
    stays in the store (the append is one transaction), so the analyst may simply upload the file again.
    """
    from qslab.core.tasks import fail_abandoned_record

    unfinished = IngestRun.objects.filter(status__in=[IngestRun.Status.QUEUED, IngestRun.Status.RUNNING])
    return fail_abandoned_record(unfinished, run_id, task_id, reason, IngestRun.Status.FAILED)


def ingest_file(path: str | Path, source: str, codes_dir: Path | None = None) -> Any:
    """Ingest a file from disk (demo loader and CLI); raises the engine's errors."""
    from qslab.surveillance.ingest import ingest

    store = analytical_store()
    try:
        return ingest(store, Path(path), mapping_for(source, codes_dir), progress=False)
    finally:
        store.close()


# ------------------------------------------------------------------------------------------------
# early warning

DEFAULT_FAMILIES = [
    {
        "name": "NEISS product × diagnosis, weekly (glrnb)",
        "source": "neiss",
        "by": "product_code,hazard_code",
        "period": "week",
        "method": "glrnb",
        "control": {"c.ARL": 5},
        "score_last": 8,
        "min_total": 20,
    },
    {
        "name": "NEISS products, monthly (EARS C2)",
        "source": "neiss",
        "by": "product_code",
        "period": "month",
        "method": "earsC",
        "control": {"method": "C2", "minSigma": 1},
        "score_last": 6,
        "min_total": 20,
    },
    {
        "name": "NEISS product × diagnosis disproportionality (GPS, EB05 ≥ 2)",
        "kind": "disproportionality",
        "source": "neiss",
        "by": "product_code,hazard_code",
        "period": "month",
        "method": "gps",
        "control": {"statistic": "EB05", "threshold": 2, "min_count": 3, "hyper": "exact"},
        "score_last": 1,
        "min_total": 0,
    },
    {
        "name": "FDA drug recalls by defect, weekly (EARS C1)",
        "source": "fda-enforcement",
        "by": "product_code,hazard_code",
        "period": "week",
        "method": "earsC",
        "control": {"method": "C1", "minSigma": 1},
        "score_last": 8,
        "min_total": 20,
    },
]


@transaction.atomic
def ensure_default_families() -> int:
    created = 0
    for spec in DEFAULT_FAMILIES:
        _family, new = SeriesFamily.objects.get_or_create(name=spec["name"], defaults=spec)
        created += new
    return created


def _severity(observed: float, upperbound: float) -> str:
    ratio = observed / upperbound if upperbound > 0 else float("inf")
    if ratio >= 2:
        return Signal.Severity.HIGH
    if ratio >= 1.5:
        return Signal.Severity.MEDIUM
    return Signal.Severity.LOW


_LABEL_KINDS = {
    "product_code": (Term.Kind.PRODUCT,),
    "product_code_2": (Term.Kind.PRODUCT,),
    "hazard_code": (Term.Kind.DIAGNOSIS, Term.Kind.HAZARD),
    "severity": (Term.Kind.DISPOSITION,),
}


def unit_label(family: SeriesFamily, unit: str) -> str:
    """A readable name of a series: taxonomy names for the codes of its unit."""
    from qslab.surveillance.aggregate import UNIT_SEPARATOR

    parts = []
    for column, value in zip(family.by_columns, unit.split(UNIT_SEPARATOR), strict=False):
        kinds = _LABEL_KINDS.get(column, ()) if family.source == "neiss" else ()
        term = Term.objects.filter(kind__in=kinds, code=value).first() if kinds else None
        parts.append(term.name_en if term else value)
    return " × ".join(parts)[:400]


def _detect_family(store: Any, family: SeriesFamily) -> tuple[Any, Any]:
    """Build every series of the family from the store and run its detector over all at once."""
    from qslab.surveillance.aggregate import count_series
    from qslab.surveillance.detectors.registry import get_method
    from qslab.surveillance.sts import CountSeries

    series = count_series(store.records(source=family.source), family.by_columns, family.period)
    keep = series.observed.sum(axis=0) >= family.min_total
    if not keep.any():
        return None, None
    monitored = CountSeries(
        series.observed[:, keep],
        freq=series.freq,
        start=series.start,
        dates=series.dates,
        units=tuple(np.asarray(series.units)[keep]),
    )
    method = get_method(family.method)
    n = monitored.n_time
    control = {k: v for k, v in (family.control or {}).items() if k != "range"}
    control["range"] = list(range(max(1, n - family.score_last + 1), n + 1))
    config = method.config_class.from_r_control(control, monitored.freq, n)
    return method.detect(monitored, config), control


def _config_record(family: SeriesFamily, control: dict[str, Any]) -> dict[str, Any]:
    return {
        "kind": family.kind,
        "source": family.source,
        "by": family.by_columns,
        "period": family.period,
        "method": family.method,
        "control": control,
    }


@transaction.atomic
def _store_alarms(
    family: SeriesFamily, result: Any, control: dict[str, Any], run: EarlyWarningRun
) -> tuple[int, int, int]:
    """Alarms of one detector result as Alarm rows (once per series and period) grouped into signals."""
    rows, cols = np.nonzero(np.nan_to_num(result.alarm) == 1)
    if rows.size == 0:
        return 0, 0, 0
    dates = result.series.dates
    units = result.series.units
    found = [
        (
            units[c],
            dt.date.fromisoformat(str(dates[result.range[r]])),
            float(result.series.observed[result.range[r], c]),
            float(result.upperbound[r, c]),
        )
        for r, c in zip(rows, cols, strict=True)
    ]
    return _store_found(family, found, _config_record(family, control), run)


def _store_found(
    family: SeriesFamily,
    found: list[tuple[str, dt.date, float, float]],
    record: dict[str, Any],
    run: EarlyWarningRun,
    unit_extra: dict[str, dict[str, Any]] | None = None,
) -> tuple[int, int, int]:
    """Store alarms ``(unit, period, observed, threshold)``: each once per series and period; a new
    alarm joins the series' open signal or opens one. ``unit_extra`` adds per-series facts (scores)
    to the signal's settings record."""
    if not found:
        return 0, 0, 0
    found.sort(key=lambda a: (a[0], a[1]))
    stored = set(
        Alarm.objects.filter(family=family, unit__in={a[0] for a in found}).values_list("unit", "period")
    )
    new_alarms = new_signals = 0
    open_signals = {
        s.unit: s for s in Signal.objects.filter(family=family, status__in=[s.value for s in Signal.OPEN])
    }
    for unit, period, observed, upperbound in found:
        if (unit, period) in stored:
            continue
        signal = open_signals.get(unit)
        unit_record = {**record, **unit_extra[unit]} if unit_extra and unit in unit_extra else record
        if signal is None:
            signal = Signal.objects.create(
                family=family,
                unit=unit,
                unit_label=unit_label(family, unit),
                first_period=period,
                last_period=period,
                observed=observed,
                upperbound=upperbound,
                method=family.method,
                config=unit_record,
                severity=_severity(observed, upperbound),
                run=run,
            )
            open_signals[unit] = signal
            new_signals += 1
        elif period > signal.last_period:
            signal.last_period = period
            signal.observed = observed
            signal.upperbound = upperbound
            signal.config = unit_record
            signal.severity = max(
                signal.severity, _severity(observed, upperbound), key=[s.value for s in Signal.Severity].index
            )
            signal.save(
                update_fields=["last_period", "observed", "upperbound", "config", "severity", "last_updated"]
            )
        Alarm.objects.create(
            signal=signal,
            family=family,
            unit=unit,
            period=period,
            observed=observed,
            upperbound=upperbound,
            run=run,
        )
        stored.add((unit, period))
        new_alarms += 1
    return len(found), new_alarms, new_signals


#: Settings of a disproportionality family (``SeriesFamily.control``) and their defaults.
DISPROPORTIONALITY_DEFAULTS: dict[str, Any] = {
    "statistic": "EB05",
    "threshold": 2.0,
    "min_count": 3,
    "hyper": "exact",
    "margins": "reports",
}
DISPROPORTIONALITY_STATISTICS = ("EB05", "EBGM", "PRR_LB95", "ROR_LB95", "IC025")


def _disproportionality_family(
    store: Any, family: SeriesFamily
) -> tuple[list[tuple[str, dt.date, float, float]], dict[str, dict[str, Any]], dict[str, Any], int]:
    """Disproportionality over the family's report table (one row per report x product x event).

    ``by`` names the product and event columns. A pair alarms when its statistic reaches the
    threshold and it has at least ``min_count`` reports. The alarm's period is the period of the
    latest record (or, for undated sources, the current month), its observed value the statistic
    and its threshold the configured one. Returns (alarms, scores per pair, settings, pairs scored).
    """
    import ibis

    from qslab.surveillance.aggregate import UNIT_SEPARATOR
    from qslab.surveillance.disproportionality import disproportionality

    control = {**DISPROPORTIONALITY_DEFAULTS, **(family.control or {})}
    statistic = str(control["statistic"])
    if statistic not in DISPROPORTIONALITY_STATISTICS:
        raise ValueError(f"statistic must be one of {', '.join(DISPROPORTIONALITY_STATISTICS)}")
    columns = family.by_columns
    if len(columns) != 2:
        raise ValueError("a disproportionality family is grouped by two columns: product and event")
    product_col, event_col = columns
    table = store.records(source=family.source)
    table = table.filter(table[product_col].notnull(), table[event_col].notnull())
    reports = table.select(
        id=ibis.coalesce(table.report_id, table.record_id),
        product=table[product_col].cast("string"),
        event=table[event_col].cast("string"),
    )
    result = disproportionality(
        reports.to_pyarrow().to_pandas(),
        id="id",
        product="product",
        event="event",
        margins=control["margins"],
        hyper=control["hyper"],
    )
    frame = result.table()
    threshold = float(control["threshold"])
    hits = frame[(frame[statistic] >= threshold) & (frame["N"] >= int(control["min_count"]))]
    _first, last = store.date_range(family.source)
    day = last or timezone.localdate()
    if family.period == SeriesFamily.Period.WEEK:
        period = day - dt.timedelta(days=day.weekday())
    else:
        period = day.replace(day=1)
    found, extra = [], {}
    for row in hits.itertuples(index=False):
        unit = f"{row.product}{UNIT_SEPARATOR}{row.event}"
        found.append((unit, period, float(getattr(row, statistic)), threshold))
        extra[unit] = {
            "scores": {
                k: (None if not np.isfinite(float(getattr(row, k))) else round(float(getattr(row, k)), 4))
                for k in ("N", "E", "EBGM", "EB05", "EB95", "PRR", "PRR_LB95", "ROR", "ROR_LB95", "IC025")
            }
        }
    settings_record = {
        **control,
        "hyperparameters": {
            k: round(float(getattr(result.hyper, k)), 6) for k in ("alpha1", "beta1", "alpha2", "beta2", "P")
        },
    }
    return found, extra, settings_record, len(frame)


def run_early_warning(
    user: Any = None,
    families: Iterable[SeriesFamily] | None = None,
    progress: Any = None,
    task_id: str = "",
) -> EarlyWarningRun:
    """Run every active series family's detector over all its series and store the alarms as signals.

    Re-running adds nothing already stored: an alarm is kept once per series and period, and new
    alarms on a series with an open signal join that signal instead of opening another. ``task_id`` (the
    background task running it) is stored at the start, so a run whose worker dies can be found and
    failed by the stale-task recovery (``abandon_early_warning``).
    """
    if user is not None:
        _require_staff(user, _("run the early-warning job"))
    if not SeriesFamily.objects.exists():
        ensure_default_families()
    chosen = list(families if families is not None else SeriesFamily.objects.filter(active=True))
    with acting_as(user, "early-warning run"):
        run = EarlyWarningRun.objects.create(owner=user, task_id=task_id)
    try:
        return _run_families(run, chosen, user, progress)
    except Exception as error:
        _fail_early_warning(run, f"{type(error).__name__}: {error}"[:1000], "early-warning run failed", user)
        raise


def _fail_early_warning(run: EarlyWarningRun, error: str, reason: str, user: Any = None) -> None:
    run.status = EarlyWarningRun.Status.FAILED
    run.error = error
    with acting_as(user, reason):
        run.save(update_fields=["status", "error", "last_updated"])


def _run_families(
    run: EarlyWarningRun, chosen: list[SeriesFamily], user: Any, progress: Any
) -> EarlyWarningRun:
    lines = []
    store = analytical_store()
    try:
        sources = store.sources()
        for family in chosen:
            if family.source not in sources:
                lines.append(f"{family.name}: no records of source {family.source!r} in the store")
            elif family.kind == SeriesFamily.Kind.DISPROPORTIONALITY:
                try:
                    found, extra, control, n_pairs = _disproportionality_family(store, family)
                except Exception as error:
                    lines.append(f"{family.name}: failed: {type(error).__name__}: {error}"[:500])
                else:
                    with acting_as(user, "early-warning run"), transaction.atomic():
                        n_alarms, n_new, n_signals = _store_found(
                            family, found, _config_record(family, control), run, extra
                        )
                    run.n_series += n_pairs
                    run.n_alarms += n_alarms
                    run.n_new_alarms += n_new
                    run.n_new_signals += n_signals
                    lines.append(
                        f"{family.name}: {n_pairs} product x event pairs, {n_alarms} disproportionate, "
                        f"{n_new} new, {n_signals} new signal(s)"
                    )
            else:
                try:
                    result, control = _detect_family(store, family)
                except Exception as error:
                    lines.append(f"{family.name}: failed: {type(error).__name__}: {error}"[:500])
                else:
                    if result is None:
                        lines.append(f"{family.name}: no series with at least {family.min_total} records")
                    else:
                        with acting_as(user, "early-warning run"):
                            n_alarms, n_new, n_signals = _store_alarms(family, result, control, run)
                        run.n_series += result.series.n_units
                        run.n_alarms += n_alarms
                        run.n_new_alarms += n_new
                        run.n_new_signals += n_signals
                        lines.append(
                            f"{family.name}: {result.series.n_units} series, {n_alarms} alarm(s), "
                            f"{n_new} new, {n_signals} new signal(s)"
                            + (f"; {len(result.warnings)} series not fitted" if result.warnings else "")
                        )
            if progress is not None:
                progress.advance(message=lines[-1][:300])
    finally:
        store.close()
    run.finished = timezone.now()
    run.status = EarlyWarningRun.Status.FINISHED
    run.report = "\n".join(lines)
    run.save(
        update_fields=[
            "finished",
            "status",
            "report",
            "n_series",
            "n_alarms",
            "n_new_alarms",
            "n_new_signals",
            "last_updated",
        ]
    )
    return run


@transaction.atomic
def abandon_early_warning(task_id: str, reason: str) -> EarlyWarningRun | None:
    """Mark failed, with the reason, the run whose task the stale-task recovery gave up on.

    Called by the recovery (no user); a run already finished or failed is left as it is. What the run
    stored before the worker died stays (signals are kept once per series and period), so the next run
    simply carries on.
    """
    run = (
        EarlyWarningRun.objects.select_for_update()
        .filter(task_id=task_id, status=EarlyWarningRun.Status.RUNNING, finished__isnull=True)
        .first()
        if task_id
        else None
    )
    if run is None:
        return None
    error = _("Stopped: the background worker was lost (%(reason)s). Start a new run.") % {"reason": reason}
    _fail_early_warning(run, error, reason)
    return run


def start_early_warning(user: Any) -> Any:
    """Queue the early-warning job as a background task with progress; returns the task result."""
    _require_staff(user, _("run the early-warning job"))
    from qslab.risk.tasks import early_warning_task

    return early_warning_task.enqueue(owner_id=user.pk)


# ------------------------------------------------------------------------------------------------
# signal triage


@transaction.atomic
def move_signal(user: Any, signal: Signal, transition: str, reason: str = "") -> Signal:
    """Triage, dismiss or escalate a signal; escalation opens a draft risk assessment of it."""
    apply_transition(signal, transition, user, reason=reason)
    signal.refresh_from_db()
    if transition == "escalate":
        assessment_from_signal(user, signal, reason)
    return signal


def series_of_signal(signal: Signal, periods: int = 104) -> dict[str, Any]:
    """The signal's series (last ``periods`` periods), with thresholds where the detector scores them.

    Returns dates, observed, threshold dates/values from rerunning the detector on this one series,
    and the stored alarms.
    """
    from qslab.surveillance.aggregate import UNIT_SEPARATOR, count_series
    from qslab.surveillance.detectors.registry import get_method

    family = signal.family
    alarms = list(signal.alarms.all())
    out: dict[str, Any] = {
        "dates": [],
        "observed": [],
        "threshold_dates": [],
        "threshold": [],
        "alarm_dates": [a.period for a in alarms],
        "alarm_observed": [a.observed for a in alarms],
        "alarm_threshold": [a.upperbound for a in alarms],
        "error": "",
    }
    values = signal.unit.split(UNIT_SEPARATOR)
    store = analytical_store()
    try:
        filters = dict(zip(family.by_columns, values, strict=False))
        table = store.records(source=family.source, **{k: v for k, v in filters.items() if v != "NA"})
        first, last = store.date_range(family.source)
        if first is None:
            out["error"] = _("The analytical store has no records of this source.")
            return out
        series = count_series(table, family.by_columns, family.period, start=first, end=last)
    except Exception as error:
        out["error"] = str(error)
        return out
    finally:
        store.close()
    column = series.observed[:, 0]
    dates = [dt.date.fromisoformat(str(d)) for d in series.dates]
    start = max(0, len(dates) - periods)
    out["dates"], out["observed"] = dates[start:], column[start:].tolist()
    if family.kind == SeriesFamily.Kind.DISPROPORTIONALITY:
        # the alarms are scores (e.g. EB05), not counts: the chart shows the pair's counts only
        out["alarm_dates"], out["alarm_observed"], out["alarm_threshold"] = [], [], []
        return out
    try:
        method = get_method(family.method)
        control = {
            k: v for k, v in (signal.config.get("control") or family.control or {}).items() if k != "range"
        }
        n = series.n_time
        control["range"] = list(range(max(1, start + 1, n - periods + 1), n + 1))
        result = method.detect(series, method.config_class.from_r_control(control, series.freq, n))
    except Exception:
        try:
            control["range"] = list(range(max(1, n - family.score_last + 1), n + 1))
            result = method.detect(series, method.config_class.from_r_control(control, series.freq, n))
        except Exception:
            return out
    bound = result.upperbound[:, 0]
    out["threshold_dates"] = [dates[i] for i in result.range]
    out["threshold"] = [None if not np.isfinite(b) else float(b) for b in bound]
    return out


def open_signals_queue(user: Any) -> QuerySet[Signal]:
    return (
        Signal.objects.visible_to(user)
        .filter(status__in=[s.value for s in Signal.OPEN])
        .select_related("family", "assignee")
        .order_by("created")
    )


@transaction.atomic
def reassign_signal(user: Any, signal: Signal, assignee: Any, reason: str = "") -> Signal:
    """Hand an open signal to another analyst: audited (change log with the reason), the open
    deadline follows it, and the new and previous assignees are told."""
    from django.contrib.contenttypes.models import ContentType

    from qslab.core.models import Deadline
    from qslab.core.notifications import notify

    _require_staff(user, _("reassign signals"))
    signal = Signal.objects.select_for_update().get(pk=signal.pk)
    if signal.status not in [s.value for s in Signal.OPEN]:
        raise ValidationError({"assignee": [_("Only an open signal can be reassigned.")]})
    if assignee is None or not is_risk_staff(assignee):
        raise ValidationError({"assignee": [_("Assign the signal to a risk analyst or the office.")]})
    if assignee.pk == signal.assignee_id:
        raise ValidationError({"assignee": [_("The signal is already assigned to this person.")]})
    previous = signal.assignee
    signal.assignee = assignee
    fields = ["assignee", "last_updated"]
    if signal.due is None:
        from qslab.core.calendar import add_days

        signal.due = add_days(timezone.localdate(), 10)
        fields.append("due")
    with acting_as(user, reason or _("reassigned")):
        signal.save(update_fields=fields)
    Deadline.objects.filter(
        content_type=ContentType.objects.get_for_model(Signal),
        object_id=str(signal.pk),
        done_at__isnull=True,
    ).update(assignee=assignee)
    label = signal.unit_label or signal.unit
    notify(
        [assignee],
        verb="assigned",
        text_en=f"Signal assigned to you by {user}: {label}" + (f" ({reason})" if reason else ""),
        text_zh=f"{user} 将预警信号转交给您：{label}" + (f"（{reason}）" if reason else ""),
        obj=signal,
    )
    if previous is not None and previous.pk != user.pk:
        notify(
            [previous],
            verb="reassigned",
            text_en=f"Signal reassigned to {assignee}: {label}",
            text_zh=f"预警信号已转交 {assignee}：{label}",
            obj=signal,
        )
    return signal


#: Age bands of open signals on the dashboard: (key, label, minimum days open, maximum days open).
SIGNAL_AGE_BANDS = (
    ("week", "under 1 week", 0, 7),
    ("month", "1 to 4 weeks", 7, 28),
    ("quarter", "1 to 3 months", 28, 91),
    ("older", "over 3 months", 91, None),
)


def signal_age_filter(band: str) -> Q | None:
    now = timezone.now()
    for key, _label, lo, hi in SIGNAL_AGE_BANDS:
        if key == band:
            q = Q(created__lte=now - dt.timedelta(days=lo))
            if hi is not None:
                q &= Q(created__gt=now - dt.timedelta(days=hi))
            return q
    return None


def open_signal_dashboard(user: Any) -> dict[str, Any]:
    """Open signals counted by severity (rows) and age since opened (columns), plus overdue ones."""
    from django.utils.translation import gettext_lazy

    labels = {
        "week": gettext_lazy("under 1 week"),
        "month": gettext_lazy("1 to 4 weeks"),
        "quarter": gettext_lazy("1 to 3 months"),
        "older": gettext_lazy("over 3 months"),
    }
    open_qs = open_signals_queue(user)
    severities = (Signal.Severity.HIGH, Signal.Severity.MEDIUM, Signal.Severity.LOW)
    # One query for the whole grid and the three totals (it was fifteen counts on every page view).
    counts = open_qs.aggregate(
        total=Count("pk"),
        overdue=Count("pk", filter=Q(due__lt=timezone.localdate())),
        unassigned=Count("pk", filter=Q(assignee__isnull=True)),
        **{
            f"{severity.value}_{key}": Count("pk", filter=signal_age_filter(key) & Q(severity=severity))
            for severity in severities
            for key, *_rest in SIGNAL_AGE_BANDS
        },
    )
    rows = []
    for severity in severities:
        cells = [{"age": key, "count": counts[f"{severity.value}_{key}"]} for key, *_rest in SIGNAL_AGE_BANDS]
        rows.append(
            {
                "severity": severity.value,
                "label": severity.label,
                "cells": cells,
                "total": sum(c["count"] for c in cells),
            }
        )
    return {
        "ages": [(key, labels[key]) for key, *_rest in SIGNAL_AGE_BANDS],
        "rows": rows,
        "total": counts["total"],
        "overdue": counts["overdue"],
        "unassigned": counts["unassigned"],
    }


# ------------------------------------------------------------------------------------------------
# risk assessment by injury scenarios (issue 14 item 1)

ASSESSMENT_FIELDS = (
    "title_zh",
    "title_en",
    "product_category",
    "hazard",
    "product_name",
    "brand",
    "model",
    "batch",
    "barcode",
    "product_description",
    "matrix",
    "conclusion_zh",
    "conclusion_en",
)


def _new_serial(model: Any, prefix: str) -> str:
    year = timezone.localdate().year
    stem = f"{prefix}{year}-"
    last = (
        model.objects.filter(reference__startswith=stem)
        .order_by("-reference")
        .values_list("reference", flat=True)
    ).first()
    n = int(last.rsplit("-", 1)[1]) + 1 if last else 1
    return f"{stem}{n:04d}"


def default_matrix() -> Any:
    from qslab.risk.models import RiskMatrix

    matrix = RiskMatrix.objects.filter(active=True, is_default=True).first()
    matrix = matrix or RiskMatrix.objects.filter(active=True).first()
    if matrix is None:
        raise ValidationError(
            {"matrix": [_("No risk matrix is configured; the office adds one in the admin.")]}
        )
    return matrix


@transaction.atomic
def save_assessment(
    user: Any, data: dict[str, Any], assessment: Any = None, signal: Signal | None = None
) -> Any:
    """Create (standalone or from a signal) or edit a draft risk assessment."""
    from qslab.risk.models import RiskAssessment

    _require_staff(user, _("assess risks"))
    fields = [f for f in ASSESSMENT_FIELDS if f in data]
    with acting_as(user):
        if assessment is None:
            assessment = RiskAssessment(
                assessor=user,
                signal=signal,
                **{f: data[f] for f in fields},
            )
            if not data.get("matrix"):
                assessment.matrix = default_matrix()
            assessment.full_clean(exclude=["reference"])
            save_with_next_reference(assessment, lambda: _new_serial(RiskAssessment, "RA"))
        else:
            if not RiskAssessment.objects.editable_by(user).filter(pk=assessment.pk).exists():
                raise PermissionDenied(_("Only a draft assessment can be edited."))
            for f in fields:
                setattr(assessment, f, data[f])
            assessment.full_clean()
            assessment.save(update_fields=[*fields, "last_updated"])
    return assessment


def _signal_terms(signal: Signal) -> dict[str, Any]:
    """Product category (and hazard, when the series names one) of a signal's series."""
    from qslab.surveillance.aggregate import UNIT_SEPARATOR

    out: dict[str, Any] = {}
    values = dict(zip(signal.family.by_columns, signal.unit.split(UNIT_SEPARATOR), strict=False))
    if "product_code" in values:
        out["product_category"] = Term.objects.filter(
            kind=Term.Kind.PRODUCT, code=values["product_code"]
        ).first()
    if "hazard_code" in values:
        out["hazard"] = Term.objects.filter(kind=Term.Kind.HAZARD, code=values["hazard_code"]).first()
    return {k: v for k, v in out.items() if v is not None}


def assessment_from_signal(user: Any, signal: Signal, reason: str = "") -> Any:
    """The draft assessment an escalated signal opens, with what the series says about the product."""
    label = signal.unit_label or signal.unit
    data = {
        "title_zh": f"预警信号风险评估：{label}"[:200],
        "title_en": f"Risk assessment of signal: {label}"[:200],
        "product_description": reason,
        **_signal_terms(signal),
    }
    return save_assessment(user, data, signal=signal)


def _parse_steps(text: str) -> list[dict[str, Any]]:
    """Lines ``probability | step (Chinese) | step (English)``; all bad lines reported at once."""
    from qslab.risk.assessment import parse_probability

    steps, problems = [], []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        parts = [p.strip() for p in line.split("|")]
        try:
            probability = parse_probability(parts[0])
        except ValidationError as error:
            problems.append(_("Line %(n)d: %(error)s") % {"n": number, "error": " ".join(error.messages)})
            continue
        zh = parts[1] if len(parts) > 1 else ""
        en = parts[2] if len(parts) > 2 else ""
        if not (zh or en):
            problems.append(_("Line %(n)d: describe the step after the probability.") % {"n": number})
            continue
        steps.append(
            {
                "probability": probability,
                "probability_text": parts[0][:40],
                "description_zh": zh[:300],
                "description_en": en[:300],
            }
        )
    if problems:
        raise ValidationError({"steps": problems})
    if not steps:
        raise ValidationError({"steps": [_("Give at least one step with its probability.")]})
    return steps


def _steps_from_items(items: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """Steps given as ``{"probability": "1/50" | 0.02, "description_zh": ..., "description_en": ...}``
    (the API); the same checks and messages as the text form, numbered by step."""
    from qslab.risk.assessment import parse_probability

    steps, problems = [], []
    for number, item in enumerate(items, start=1):
        raw = item.get("probability")
        zh = str(item.get("description_zh") or "").strip()
        en = str(item.get("description_en") or "").strip()
        try:
            if raw is None or isinstance(raw, bool) or str(raw).strip() == "":
                raise ValidationError(_("Give the step's probability, e.g. 1/50, 0.02 or 2%."))
            probability = parse_probability(raw)
        except ValidationError as error:
            problems.append(_("Step %(n)d: %(error)s") % {"n": number, "error": " ".join(error.messages)})
            continue
        if not (zh or en):
            problems.append(_("Step %(n)d: describe the step (Chinese or English).") % {"n": number})
            continue
        if len(zh) > 300 or len(en) > 300:
            problems.append(_("Step %(n)d: a step is described in at most 300 characters.") % {"n": number})
            continue
        steps.append(
            {
                "probability": probability,
                "probability_text": str(raw).strip()[:40],
                "description_zh": zh,
                "description_en": en,
            }
        )
    if problems:
        raise ValidationError({"steps": problems})
    if not steps:
        raise ValidationError({"steps": [_("Give at least one step with its probability.")]})
    return steps


def steps_as_text(scenario: Any) -> str:
    return "\n".join(
        f"{s.probability_text or s.probability:g} | {s.description_zh} | {s.description_en}".rstrip(" |")
        if not s.probability_text
        else f"{s.probability_text} | {s.description_zh} | {s.description_en}"
        for s in scenario.steps.all()
    )


SCENARIO_FIELDS = ("description_zh", "description_en", "consumer", "injury", "severity")


@transaction.atomic
def save_scenario(user: Any, assessment: Any, data: dict[str, Any], scenario: Any = None) -> Any:
    """Add or replace an injury scenario of a draft assessment; ``data["steps"]`` is the steps' text."""
    from qslab.risk.models import RiskAssessment, RiskScenario, ScenarioStep

    # locked first: a completion at the same instant fixes the level either with this scenario or
    # before it (then the assessment is no longer a draft and the scenario is refused)
    assessment = RiskAssessment.objects.select_for_update().get(pk=assessment.pk)
    if not RiskAssessment.objects.editable_by(user).filter(pk=assessment.pk).exists():
        raise PermissionDenied(_("Only a draft assessment can be edited."))
    errors: dict[str, list[str]] = {}
    raw_steps = data.get("steps", "")
    try:  # the page sends the steps as text, one a line; the API as a list of steps
        steps = _parse_steps(raw_steps) if isinstance(raw_steps, str) else _steps_from_items(raw_steps)
    except ValidationError as error:
        errors.update(error.message_dict)
    try:
        severity = int(data.get("severity") or 0)
    except (TypeError, ValueError):
        severity = 0
    if severity not in (1, 2, 3, 4):
        errors["severity"] = [_("Severity is 1, 2, 3 or 4.")]
    if not (str(data.get("description_zh") or "").strip() or str(data.get("description_en") or "").strip()):
        errors["description_en"] = [_("Describe the scenario (Chinese or English).")]
    for field in ("consumer", "injury"):
        if len(str(data.get(field) or "")) > 200:
            errors[field] = [_("At most 200 characters.")]
    if errors:
        raise ValidationError(errors)
    with acting_as(user):
        if scenario is None:
            scenario = RiskScenario(
                assessment=assessment,
                position=(assessment.scenarios.count() + 1),
            )
        for f in SCENARIO_FIELDS:
            if f in data:
                setattr(scenario, f, data[f])
        scenario.severity = severity
        scenario.save()
        scenario.steps.all().delete()
        ScenarioStep.objects.bulk_create(
            [ScenarioStep(scenario=scenario, position=i, **step) for i, step in enumerate(steps, start=1)]
        )
        store_results(assessment)
        assessment.save(update_fields=["last_updated"])  # the change log keeps the new level
    return scenario


@transaction.atomic
def delete_scenario(user: Any, scenario: Any) -> None:
    from qslab.risk.models import RiskAssessment

    assessment = RiskAssessment.objects.select_for_update().get(pk=scenario.assessment_id)  # as above
    if not RiskAssessment.objects.editable_by(user).filter(pk=assessment.pk).exists():
        raise PermissionDenied(_("Only a draft assessment can be edited."))
    with acting_as(user):
        scenario.delete()
        for i, other in enumerate(assessment.scenarios.all(), start=1):
            if other.position != i:
                other.position = i
                other.save(update_fields=["position"])
        store_results(assessment)


def store_results(assessment: Any) -> str:
    """Save each scenario's probability and level and the assessment's level; returns the level."""
    from qslab.risk.assessment import compute

    outcome = compute(assessment)
    for scenario in assessment.scenarios.all():
        result = outcome["results"].get(scenario.pk)
        scenario.probability = result.probability if result else None
        scenario.risk_level = result.level if result else ""
        scenario.save(update_fields=["probability", "risk_level"])
    assessment.risk_level = outcome["level"]
    assessment.deciding_scenario_id = outcome["deciding"]
    assessment.save(update_fields=["risk_level", "deciding_scenario", "last_updated"])
    return outcome["level"]


def finalise_assessment(assessment: Any, user: Any) -> None:
    """On completion (inside the transition): fix the level and issue the numbered report."""
    from qslab.core.documents import issue_document
    from qslab.risk.assessment import format_probability, level_label, sensitivity
    from qslab.risk.models import RiskLevel

    level = store_results(assessment)
    assessment.completed_at = timezone.now()
    assessment.assessor = assessment.assessor or user
    scenarios = list(assessment.scenarios.prefetch_related("steps"))
    level_zh = {"serious": "严重风险", "high": "高风险", "medium": "中等风险", "low": "低风险"}
    product = " ".join(x for x in (assessment.product_name, assessment.brand, assessment.model) if x)
    category, hazard = assessment.product_category, assessment.hazard
    body_en = (
        f"Product: {product or category.name_en} ({category.name_en}). Hazard: {hazard.name_en}. "
        f"{len(scenarios)} injury scenario(s) assessed with the matrix “{assessment.matrix.name_en}”. "
        f"Risk level: {RiskLevel(level).label if level else '–'}.\n\n"
        f"{assessment.conclusion_en or assessment.conclusion_zh}"
    )
    body_zh = (
        f"产品：{product or category.name_zh or category.name_en}（{category.name_zh or category.name_en}）。"
        f"危害：{hazard.name_zh or hazard.name_en}。"
        f"按风险矩阵“{assessment.matrix.name_zh or assessment.matrix.name_en}”"
        f"评估伤害情景 {len(scenarios)} 个。"
        f"风险等级：{level_zh.get(level, '–')}。\n\n{assessment.conclusion_zh or assessment.conclusion_en}"
    )
    assessment.document = issue_document(
        kind_code="risk_assessment",
        title_zh=f"产品安全风险评估报告：{assessment.title_zh or assessment.title_en or product}",
        title_en=f"Product safety risk assessment: {assessment.title_en or assessment.title_zh or product}",
        body_zh=body_zh,
        body_en=body_en,
        issued_by=user,
        public=False,
        subject=assessment,
        recipients=[user],
        template="risk/pdf/assessment.html",
        extra_context={
            "assessment": assessment,
            "scenarios": [
                {
                    "scenario": s,
                    "steps": [(st, format_probability(st.probability)) for st in s.steps.all()],
                    "probability": format_probability(s.probability),
                    "level_en": str(RiskLevel(s.risk_level).label) if s.risk_level else "",
                    "level_zh": level_zh.get(s.risk_level, ""),
                }
                for s in scenarios
            ],
            "sensitivity": [
                {
                    **row,
                    "up_zh": level_zh.get(row["up"], ""),
                    "down_zh": level_zh.get(row["down"], ""),
                    "up_en": level_label(row["up"]),
                    "down_en": level_label(row["down"]),
                }
                for row in sensitivity(assessment)
            ],
            "level": level,
            "level_zh": level_zh.get(level, ""),
            "level_en": str(RiskLevel(level).label) if level else "",
        },
    )
    assessment.save(update_fields=["completed_at", "assessor", "document", "last_updated"])


def move_assessment(user: Any, assessment: Any, transition: str, reason: str = "") -> Any:
    apply_transition(assessment, transition, user, reason=reason)
    assessment.refresh_from_db()
    return assessment


# ------------------------------------------------------------------------------------------------
# consumer alerts (issue 14 item 2)

ALERT_FIELDS = (
    "notification_type",
    "assessment",
    "title_zh",
    "title_en",
    "product_category",
    "product_name_zh",
    "product_name_en",
    "brand",
    "model",
    "batch",
    "barcode",
    "product_description_zh",
    "product_description_en",
    "country_of_origin",
    "hazard",
    "risk_level",
    "hazard_description_zh",
    "hazard_description_en",
    "measures_zh",
    "measures_en",
    "advice_zh",
    "advice_en",
    "operator_name",
    "operator_contact",
    "supply_chain",
    "information_source",
    "internal_notes",
)


@transaction.atomic
def save_alert(user: Any, data: dict[str, Any], alert: Any = None) -> Any:
    """Draft a consumer alert or edit one not yet published (analysts: drafts; office: until approval)."""
    from qslab.risk.models import ConsumerAlert

    _require_staff(user, _("write consumer alerts"))
    fields = [f for f in ALERT_FIELDS if f in data]
    with acting_as(user):
        if alert is None:
            alert = ConsumerAlert(author=user, **{f: data[f] for f in fields})
            alert.full_clean(exclude=["reference"])
            save_with_next_reference(alert, lambda: _new_serial(ConsumerAlert, "CA"))
        else:
            if not ConsumerAlert.objects.editable_by(user).filter(pk=alert.pk).exists():
                raise PermissionDenied(_("This alert can no longer be edited."))
            for f in fields:
                setattr(alert, f, data[f])
            alert.full_clean()
            alert.save(update_fields=[*fields, "last_updated"])
    return alert


def alert_initial_from_assessment(assessment: Any) -> dict[str, Any]:
    """What an alert drafted from a risk assessment starts with (product, hazard, level)."""
    return {
        "assessment": assessment.pk,
        "title_zh": assessment.title_zh,
        "title_en": assessment.title_en,
        "product_category": assessment.product_category_id,
        "product_name_zh": assessment.product_name,
        "product_name_en": assessment.product_name,
        "brand": assessment.brand,
        "model": assessment.model,
        "batch": assessment.batch,
        "barcode": assessment.barcode,
        "hazard": assessment.hazard_id,
        "risk_level": assessment.risk_level,
        "notification_type": "serious" if assessment.risk_level == "serious" else "other",
    }


@transaction.atomic
def add_alert_photo(
    user: Any, alert: Any, image: UploadedFile, caption_zh: str = "", caption_en: str = ""
) -> Any:
    from qslab.risk.models import AlertPhoto, ConsumerAlert

    if not ConsumerAlert.objects.editable_by(user).filter(pk=alert.pk).exists():
        raise PermissionDenied(_("This alert can no longer be edited."))
    photo = AlertPhoto(
        alert=alert, caption_zh=caption_zh, caption_en=caption_en, position=alert.photos.count() + 1
    )
    photo.image.save(Path(image.name or "photo.jpg").name, image, save=False)
    photo.full_clean()
    photo.save()
    with acting_as(user, _("photo added")):
        alert.save(update_fields=["last_updated"])
    return photo


@transaction.atomic
def delete_alert_photo(user: Any, photo: Any) -> None:
    from qslab.risk.models import ConsumerAlert

    alert = photo.alert
    if not ConsumerAlert.objects.editable_by(user).filter(pk=alert.pk).exists():
        raise PermissionDenied(_("This alert can no longer be edited."))
    photo.image.delete(save=False)
    photo.delete()
    with acting_as(user, _("photo removed")):
        alert.save(update_fields=["last_updated"])


def move_alert(user: Any, alert: Any, transition: str, reason: str = "") -> Any:
    apply_transition(alert, transition, user, reason=reason)
    alert.refresh_from_db()
    return alert


@transaction.atomic
def add_alert_update(user: Any, alert: Any, data: dict[str, Any]) -> Any:
    """A follow-up to a published alert; public ones show on its page and move it up in the feed."""
    from qslab.risk.models import AlertUpdate, ConsumerAlert

    _require_staff(user, _("add updates to alerts"))
    if alert.status != ConsumerAlert.Status.PUBLISHED:
        raise ValidationError(_("Updates are added to published alerts."))
    with acting_as(user):
        update = AlertUpdate(
            alert=alert,
            date=data.get("date") or timezone.localdate(),
            text_zh=data.get("text_zh", ""),
            text_en=data.get("text_en", ""),
            is_public=bool(data.get("is_public", True)),
            author=user,
        )
        update.full_clean()
        update.save()
        alert.save(update_fields=["last_updated"])
    return update


def search_alerts(
    user: Any,
    query: str = "",
    hazard: str = "",
    risk_level: str = "",
    category: str = "",
    year: int | None = None,
    status: str = "",
) -> QuerySet[Any]:
    """Alerts the user may see whose public text matches every word (full text, ``qslab.risk.search``,
    best match first), filtered by code and year.

    Only public fields are indexed and searched, for everyone: a search must not reveal a confidential
    value.
    """
    from qslab.risk.models import ConsumerAlert
    from qslab.risk.search import search_alerts as full_text
    from qslab.risk.search import terms

    # with words: best match first; without: the model's order (latest published first)
    qs = full_text(user, query) if terms(query) else ConsumerAlert.objects.visible_to(user)
    qs = qs.select_related("hazard", "product_category")
    if hazard:
        qs = qs.filter(hazard__code=hazard)
    if risk_level:
        qs = qs.filter(risk_level=risk_level)
    if category:
        qs = qs.filter(product_category__code=category)
    if year:
        qs = qs.filter(published_at__year=year)
    if status and status in ConsumerAlert.Status.values:
        qs = qs.filter(status=status)
    return qs


def iso_week_bounds(year: int, week: int) -> tuple[dt.date, dt.date]:
    start = dt.date.fromisocalendar(year, week, 1)
    return start, start + dt.timedelta(days=6)


@transaction.atomic
def build_weekly_digest(year: int | None = None, week: int | None = None) -> Any:
    """The digest of the alerts published in one ISO week (by default the last complete week).

    Idempotent: building a week again refreshes its list (a withdrawn alert leaves it).
    """
    from qslab.risk.models import AlertDigest, ConsumerAlert

    if year is None or week is None:
        last_week = timezone.localdate() - dt.timedelta(days=7)
        year, week, _day = last_week.isocalendar()
    start, end = iso_week_bounds(year, week)
    with acting_as(None, "weekly alert digest"):
        digest, _created = AlertDigest.objects.get_or_create(
            year=year, week=week, defaults={"start": start, "end": end}
        )
        first = timezone.make_aware(dt.datetime.combine(start, dt.time.min))
        after = timezone.make_aware(dt.datetime.combine(end + dt.timedelta(days=1), dt.time.min))
        digest.alerts.set(
            ConsumerAlert.objects.filter(
                status=ConsumerAlert.Status.PUBLISHED, published_at__gte=first, published_at__lt=after
            )
        )
        digest.save()
    return digest


def start_weekly_digest(user: Any = None) -> Any:
    from qslab.risk.tasks import weekly_digest_task

    if user is not None:
        _require_staff(user, _("build the weekly digest"))
    return weekly_digest_task.enqueue()
