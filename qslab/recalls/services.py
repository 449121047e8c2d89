"""Operations of traceability and recalls: products and batches, the recall plan and its workflow,
progress reports, supply-chain uploads into the analytical store, the recall scope query and its
exports, and the public portal's search and statistics.

Workflow state changes go through :func:`qslab.core.services.apply_transition` only; the rest are verbs
of the domain in ``transaction.atomic()`` that save with ``update_fields``.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Iterable
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Count, Q, QuerySet
from django.db.models.functions import ExtractYear
from django.utils import timezone
from django.utils.translation import gettext as _

from qslab.accounts.models import Organisation
from qslab.accounts.roles import Role, has_role
from qslab.core.context import acting_as
from qslab.core.services import apply_transition, save_with_next_reference, watch
from qslab.recalls.models import (
    Batch,
    Product,
    ProgressReport,
    Recall,
    TraceUpload,
    company_ids,
    is_recall_staff,
    serial_in_range,
    split_serial,
    validate_serial_range,
)


def may_act_for(user: Any, company: Organisation | int | None) -> bool:
    """The company itself (its client users) or the committee office."""
    if company is None:
        return False
    pk = company if isinstance(company, int) else company.pk
    return has_role(user, Role.OFFICE) or pk in company_ids(user)


def companies_for(user: Any) -> QuerySet[Organisation]:
    """Organisations the user may file products and recalls for."""
    if has_role(user, Role.OFFICE):
        return Organisation.objects.filter(kind=Organisation.Kind.ENTERPRISE)
    return Organisation.objects.filter(pk__in=company_ids(user))


def _require_company(user: Any, company: Organisation | int | None) -> None:
    if not may_act_for(user, company):
        raise PermissionDenied(_("Only the responsible company or the committee office may do this."))


# ------------------------------------------------------------------------------------------------
# product identity

PRODUCT_FIELDS = ("name_zh", "name_en", "brand", "model", "gtin", "category")
BATCH_FIELDS = ("lot", "produced_from", "produced_to", "quantity", "serial_first", "serial_last")


@transaction.atomic
def save_product(user: Any, data: dict[str, Any], product: Product | None = None) -> Product:
    """Create a product of ``data['company']`` or change one (its company never changes)."""
    company = product.company if product is not None else data.get("company")
    _require_company(user, company)
    with acting_as(user):
        if product is None:
            product = Product(company=company, **{f: data[f] for f in PRODUCT_FIELDS if f in data})
            product.full_clean()
            product.save()
        else:
            changed = [f for f in PRODUCT_FIELDS if f in data]
            for f in changed:
                setattr(product, f, data[f])
            product.full_clean()
            product.save(update_fields=[*changed, "last_updated"])
    return product


@transaction.atomic
def add_batch(user: Any, product: Product, data: dict[str, Any]) -> Batch:
    _require_company(user, product.company_id)
    batch = Batch(product=product, **{f: data[f] for f in BATCH_FIELDS if f in data and data[f] is not None})
    batch.full_clean()
    with acting_as(user):
        batch.save()
    return batch


# ------------------------------------------------------------------------------------------------
# the recall plan

RECALL_FIELDS = (
    "title_zh",
    "title_en",
    "hazard",
    "risk_level",
    "defect_zh",
    "defect_en",
    "units_planned",
    "remedy",
    "remedy_text_zh",
    "remedy_text_en",
    "advice_zh",
    "advice_en",
    "start_date",
    "planned_end",
    "report_every_days",
    "notice_zh",
    "notice_en",
    "investigation",
    "sales_channels",
    "contact_name",
    "contact_phone",
)
OFFICE_FIELDS = ("office_notes",)
LINK_FIELDS = ("risk_assessment", "alert")


def parse_serial_ranges(text: str) -> list[list[str]]:
    """``"KX-0100 - KX-0199"`` per line (or first,last) into ``[[first, last], ...]``; all errors at once."""
    ranges: list[list[str]] = []
    errors: list[str] = []
    for n, raw in enumerate((text or "").splitlines(), start=1):
        line = raw.strip()
        if not line:
            continue
        for sep in (",", "..", "~", " - ", "—", "–"):
            if sep in line:
                first, last = (p.strip() for p in line.split(sep, 1))
                break
        else:
            first = last = line
        try:
            validate_serial_range(first, last)
        except ValidationError as error:
            errors.append(_("line %(n)d: %(problem)s") % {"n": n, "problem": " ".join(error.messages)})
        else:
            ranges.append([first, last])
    if errors:
        raise ValidationError({"serial_ranges": errors})
    return ranges


def check_serial_ranges(pairs: Iterable[Any]) -> list[list[str]]:
    """Serial ranges given as pairs ``[first, last]`` (the API): each checked as the plan's lines are,
    one message per bad range, all at once."""
    ranges: list[list[str]] = []
    errors: list[str] = []
    for n, pair in enumerate(pairs, start=1):
        try:
            first, last = (str(v).strip() for v in pair)
        except (TypeError, ValueError):
            errors.append(_("range %(n)d: give two serial numbers, first and last.") % {"n": n})
            continue
        try:
            validate_serial_range(first, last)
        except ValidationError as error:
            errors.append(_("range %(n)d: %(problem)s") % {"n": n, "problem": " ".join(error.messages)})
        else:
            ranges.append([first, last])
    if errors:
        raise ValidationError({"serial_ranges": errors})
    return ranges


def lookup_serial(user: Any, serial: str, gtin: str = "") -> dict[str, Any]:
    """Where a serial number belongs: the batches whose range holds it (only those the user may see)
    and the recalls whose scope holds it (a serial range of the recall, or one of its batches), among
    the recalls the user may see (the public: published notices). Optionally for one GTIN.

    ``{"serial": ..., "batches": [(batch, "first - last")], "recalls": [(recall, "first - last")]}``;
    ValidationError with a clear message if ``serial`` is not a serial number.
    """
    from qslab.recalls.models import Batch

    prefix, _number, _width = split_serial(serial)
    serial = serial.strip()
    all_batches = Batch.objects.exclude(serial_first="").filter(serial_first__istartswith=prefix)
    if gtin:
        all_batches = all_batches.filter(product__gtin=gtin)
    holding = [
        b
        for b in all_batches.select_related("product")
        if serial_in_range(serial, b.serial_first, b.serial_last)
    ]
    visible_ids = set(
        Batch.objects.visible_to(user).filter(pk__in=[b.pk for b in holding]).values_list("pk", flat=True)
    )
    batches = [(b, f"{b.serial_first} - {b.serial_last}") for b in holding if b.pk in visible_ids]

    recalls: list[tuple[Recall, str]] = []
    candidates = Recall.objects.visible_to(user).select_related("product", "company", "hazard")
    if gtin:
        candidates = candidates.filter(product__gtin=gtin)
    by_batch = {r.pk: r for r in candidates.filter(batches__in=[b.pk for b in holding]).distinct()}
    for recall in candidates.exclude(serial_ranges=[]).order_by("-created", "-id"):
        for first, last in recall.serial_ranges or []:
            if serial_in_range(serial, first, last):
                recalls.append((recall, f"{first} - {last}"))
                by_batch.pop(recall.pk, None)
                break
    for recall in by_batch.values():
        batch = next(b for b in holding if recall.batches.filter(pk=b.pk).exists())
        recalls.append((recall, f"{batch.lot}: {batch.serial_first} - {batch.serial_last}"))
    return {"serial": serial, "batches": batches, "recalls": recalls}


def format_serial_ranges(ranges: Iterable[Iterable[str]]) -> str:
    return "\n".join(f"{first} - {last}" for first, last in ranges)


def _new_reference() -> str:
    year = timezone.localdate().year
    prefix = f"RC{year}-"
    last = (
        Recall.objects.select_for_update()
        .filter(reference__startswith=prefix)
        .order_by("-reference")
        .values_list("reference", flat=True)
        .first()
    )
    seq = int(last.rsplit("-", 1)[1]) + 1 if last else 1
    return f"{prefix}{seq:04d}"


def _check_scope(recall: Recall, batches: Iterable[Batch] | None) -> None:
    if batches is None:
        return
    foreign = [b.lot for b in batches if b.product_id != recall.product_id]
    if foreign:
        raise ValidationError(
            {"batches": [_("Batches of another product: %(lots)s.") % {"lots": ", ".join(foreign)}]}
        )


def _check_timetable(recall: Recall) -> None:
    if recall.start_date and recall.planned_end and recall.planned_end < recall.start_date:
        raise ValidationError({"planned_end": [_("The recall cannot end before it starts.")]})


@transaction.atomic
def save_recall(
    user: Any,
    data: dict[str, Any],
    recall: Recall | None = None,
    batches: Iterable[Batch] | None = None,
) -> Recall:
    """Draft a recall plan for ``data['product']`` or change a plan the user may edit."""
    fields = [f for f in RECALL_FIELDS if f in data]
    if has_role(user, Role.OFFICE):
        fields += [f for f in OFFICE_FIELDS if f in data]
    fields += [f for f in LINK_FIELDS if f in data]
    if "serial_ranges" in data:
        fields.append("serial_ranges")
    batches = list(batches) if batches is not None else None
    with acting_as(user):
        if recall is None:
            product = data.get("product")
            if product is None:
                raise ValidationError({"product": [_("Choose the product.")]})
            _require_company(user, product.company_id)
            recall = Recall(
                product=product,
                company_id=product.company_id,
                created_by=user,
                **{f: data[f] for f in fields},
            )
            _check_scope(recall, batches)
            _check_timetable(recall)
            recall.full_clean(exclude=["reference"])
            save_with_next_reference(recall, _new_reference)
            watch(recall, user)
        else:
            if not Recall.objects.editable_by(user).filter(pk=recall.pk).exists():
                raise PermissionDenied(_("This recall plan cannot be changed now."))
            period = recall.report_every_days
            for f in fields:
                setattr(recall, f, data[f])
            _check_scope(recall, batches)
            _check_timetable(recall)
            recall.full_clean()
            recall.save(update_fields=[*fields, "last_updated"])
            if recall.report_every_days != period and progress_deadline(recall) is not None:
                # the office changed the reporting period of a running recall: the next report moves
                last = recall.progress_reports.order_by("-period_end").first()
                open_progress_deadline(
                    recall, last.period_end if last else (recall.start_date or timezone.localdate())
                )
        if batches is not None:
            recall.batches.set(batches)
    return recall


def issue_notice_document(recall: Recall, user: Any) -> Any:
    """The recall notice as a numbered public document (zh-Hans and English PDFs): public fields only."""
    from qslab.core.documents import issue_document

    product = recall.product
    remedies_zh = {"repair": "修理", "replace": "更换", "refund": "退货退款", "warning": "警示或补充说明"}
    batches = ", ".join(recall.batches.values_list("lot", flat=True))
    serials = "; ".join(f"{a} - {b}" for a, b in (recall.serial_ranges or []))
    body_zh = "\n\n".join(
        p
        for p in (
            recall.notice_zh,
            f"产品：{product.name_zh} {product.brand} {product.model}；商品条码：{product.gtin or '—'}；"
            f"批次：{batches or '—'}；序列号：{serials or '—'}。",
            f"缺陷：{recall.defect_zh or recall.defect_en}",
            f"召回措施（{remedies_zh.get(recall.remedy, '其他')}）："
            f"{recall.remedy_text_zh or recall.remedy_text_en}",
            f"消费者建议：{recall.advice_zh or recall.advice_en}"
            if (recall.advice_zh or recall.advice_en)
            else "",
            f"召回时间：{recall.start_date} 至 {recall.planned_end}。",
        )
        if p
    )
    body_en = "\n\n".join(
        p
        for p in (
            recall.notice_en,
            f"Product: {product.name_en or product.name_zh} {product.brand} {product.model}; "
            f"GTIN {product.gtin or '—'}; batches {batches or '—'}; serial numbers {serials or '—'}.",
            f"Defect: {recall.defect_en or recall.defect_zh}",
            f"Remedy ({recall.remedy}): {recall.remedy_text_en or recall.remedy_text_zh}",
            f"Advice to consumers: {recall.advice_en or recall.advice_zh}"
            if (recall.advice_zh or recall.advice_en)
            else "",
            f"Timetable: {recall.start_date} to {recall.planned_end}.",
        )
        if p
    )
    return issue_document(
        kind_code="recall_notice",
        title_zh=f"{recall.company.name_zh}召回公告：{recall.title_zh}"[:300],
        title_en=f"Recall notice of {recall.company.name_en}: {recall.title_en or recall.title_zh}"[:300],
        body_zh=body_zh,
        body_en=body_en,
        issued_by=user,
        public=True,
        subject=recall,
    )


def issue_closing_document(recall: Recall, user: Any) -> Any:
    """The recall's closing summary as a numbered public document (zh-Hans and English PDFs).

    Public fields only: the product and scope, the timetable, units affected and remedied, the
    effectiveness, every progress report's cumulative count and the final report's summary (never a
    report's notes to the office or any confidential field of the recall).
    """
    from qslab.core.documents import issue_document

    product = recall.product
    closed = recall.closed_on or timezone.localdate()
    reports = list(recall.progress_reports.order_by("period_end", "id"))
    final = next((r for r in reversed(reports) if r.is_final), None)
    remedied = reports[-1].units_remedied if reports else recall.units_remedied
    affected = recall.units_affected or recall.units_planned
    share = f"{min(1.0, remedied / affected) * 100:.1f} %" if affected else "—"
    batches = ", ".join(recall.batches.values_list("lot", flat=True))
    serials = "; ".join(f"{a} - {b}" for a, b in (recall.serial_ranges or []))
    notice = recall.notice_document.number if recall.notice_document_id else "—"
    lines_zh = [
        f"{i}. 截至 {r.period_end}：已通知 {r.units_notified}，已处理 {r.units_remedied}"
        for i, r in enumerate(reports, 1)
    ]
    lines_en = [
        f"{i}. Up to {r.period_end}: {r.units_notified} notified, {r.units_remedied} remedied"
        for i, r in enumerate(reports, 1)
    ]
    body_zh = "\n\n".join(
        p
        for p in (
            f"召回编号：{recall.reference}；召回公告：{notice}。",
            f"产品：{product.name_zh} {product.brand} {product.model}；商品条码：{product.gtin or '—'}；"
            f"批次：{batches or '—'}；序列号：{serials or '—'}。",
            f"缺陷：{recall.defect_zh or recall.defect_en}",
            f"召回期间：{recall.start_date or '—'} 至 {closed}（计划 {recall.planned_end or '—'}）。",
            f"召回范围内产品 {affected} 件，已处理 {remedied} 件，召回完成率 {share}。",
            "进度报告：\n" + "\n".join(lines_zh) if lines_zh else "",
            f"总结：{final.summary_zh or final.summary_en}"
            if final and (final.summary_zh or final.summary_en)
            else "",
        )
        if p
    )
    body_en = "\n\n".join(
        p
        for p in (
            f"Recall {recall.reference}; recall notice {notice}.",
            f"Product: {product.name_en or product.name_zh} {product.brand} {product.model}; "
            f"GTIN {product.gtin or '—'}; batches {batches or '—'}; serial numbers {serials or '—'}.",
            f"Defect: {recall.defect_en or recall.defect_zh}",
            f"Recall period: {recall.start_date or '—'} to {closed} "
            f"(planned end {recall.planned_end or '—'}).",
            f"Units affected: {affected}; units remedied: {remedied}; effectiveness: {share}.",
            "Progress reports:\n" + "\n".join(lines_en) if lines_en else "",
            f"Summary: {final.summary_en or final.summary_zh}"
            if final and (final.summary_zh or final.summary_en)
            else "",
        )
        if p
    )
    return issue_document(
        kind_code="recall_closure",
        title_zh=f"{recall.company.name_zh}召回总结报告：{recall.title_zh}"[:300],
        title_en=f"Recall closing summary of {recall.company.name_en}: {recall.title_en or recall.title_zh}"[
            :300
        ],
        body_zh=body_zh,
        body_en=body_en,
        issued_by=user,
        public=True,
        subject=recall,
    )


def move_recall(user: Any, recall: Recall, transition: str, reason: str = "") -> Recall:
    """Take a workflow step (submit, return, approve, publish, start, close)."""
    with transaction.atomic():
        if transition in ("submit", "approve", "publish"):
            refresh_units_affected(recall, quiet=True)
        apply_transition(recall, transition, user, reason)
        recall.refresh_from_db()
        if transition == "start":
            open_progress_deadline(recall, recall.start_date or timezone.localdate())
    return recall


#: The label of a periodic progress report's deadline (how the queue and the page find it).
PROGRESS_DEADLINE_EN = "Send the recall progress report"
PROGRESS_DEADLINE_ZH = "提交召回进度报告"


def _progress_deadlines(recall: Recall) -> Any:
    from django.contrib.contenttypes.models import ContentType

    from qslab.core.models import Deadline

    return Deadline.objects.filter(
        content_type=ContentType.objects.get_for_model(Recall),
        object_id=str(recall.pk),
        label_en__startswith=PROGRESS_DEADLINE_EN,
    )


def _report_assignee(recall: Recall) -> Any:
    """Who answers for the reports: the company user who drafted the plan, else the first company user."""
    if recall.created_by_id and recall.company_id in company_ids(recall.created_by):
        return recall.created_by
    from qslab.recalls.models import _company_users

    users = sorted(_company_users(recall), key=lambda u: u.pk)
    return users[0] if users else None


def open_progress_deadline(recall: Recall, since: dt.date) -> Any:
    """Close the open progress-report deadline of ``recall`` and open the next one, ``report_every_days``
    after ``since``. The daily reminder job reminds the company before it and marks it overdue after;
    the office sees it too. With no company user to assign, it goes to the office."""
    from django.contrib.contenttypes.models import ContentType

    from qslab.core.models import Deadline

    _progress_deadlines(recall).filter(done_at__isnull=True).update(done_at=timezone.now())
    assignee = _report_assignee(recall)
    return Deadline.objects.create(
        content_type=ContentType.objects.get_for_model(Recall),
        object_id=str(recall.pk),
        label_en=f"{PROGRESS_DEADLINE_EN}: {recall.reference}",
        label_zh=f"{PROGRESS_DEADLINE_ZH}：{recall.reference}",
        due=since + dt.timedelta(days=recall.report_every_days),
        assignee=assignee,
        assignee_role="" if assignee else Role.OFFICE,
    )


def progress_deadline(recall: Recall) -> Any:
    """The open deadline of the next progress report, or None."""
    return _progress_deadlines(recall).filter(done_at__isnull=True).order_by("due").first()


@transaction.atomic
def record_progress(user: Any, recall: Recall, data: dict[str, Any]) -> ProgressReport:
    """The company (or the office) reports cumulative progress up to a date.

    Counts are cumulative and cannot go down; the recall's remedied count follows the latest report.
    A final report is the summary after which the office may close the recall.
    """
    _require_company(user, recall.company_id)
    recall = Recall.objects.select_for_update().get(pk=recall.pk)
    if recall.status != Recall.Status.IN_PROGRESS:
        raise ValidationError(_("Progress is reported while the recall is in progress."))
    period_end = data["period_end"]
    if period_end > timezone.localdate():
        raise ValidationError({"period_end": [_("A report cannot cover days still to come.")]})
    previous = recall.progress_reports.order_by("-period_end").first()
    if previous is not None:
        if period_end <= previous.period_end:
            raise ValidationError(
                {
                    "period_end": [
                        _("Report a date after the last report (%(d)s).") % {"d": previous.period_end}
                    ]
                }
            )
        if data["units_remedied"] < previous.units_remedied:
            raise ValidationError(
                {
                    "units_remedied": [
                        _("The cumulative count cannot fall below the last report's %(n)d.")
                        % {"n": previous.units_remedied}
                    ]
                }
            )
        if previous.is_final:
            raise ValidationError(_("The final report has been made; the office closes the recall."))
    report = ProgressReport(
        recall=recall,
        author=user,
        **{
            f: data[f]
            for f in (
                "period_end",
                "units_notified",
                "units_remedied",
                "summary_zh",
                "summary_en",
                "notes",
                "is_final",
                "from_trace",
            )
            if f in data
        },
    )
    report.full_clean()
    with acting_as(user):
        report.save()
        recall.units_remedied = report.units_remedied
        recall.save(update_fields=["units_remedied", "last_updated"])
    if report.is_final:
        _progress_deadlines(recall).filter(done_at__isnull=True).update(done_at=timezone.now())
    else:
        open_progress_deadline(recall, report.period_end)
    return report


def progress_series(recall: Recall) -> dict[str, list[Any]]:
    """Effectiveness over time: report dates, cumulative remedied units, and their share of those affected."""
    reports = list(recall.progress_reports.order_by("period_end"))
    dates = [r.period_end for r in reports]
    remedied = [r.units_remedied for r in reports]
    share = [min(1.0, n / recall.units_affected) if recall.units_affected else None for n in remedied]
    if recall.start_date and (not dates or recall.start_date < dates[0]):
        dates.insert(0, recall.start_date)
        remedied.insert(0, 0)
        share.insert(0, 0.0 if recall.units_affected else None)
    return {"dates": dates, "remedied": remedied, "share": share}


def reports_due(user: Any) -> list[tuple[Recall, dt.date]]:
    """Recalls in progress with an open progress-report deadline, soonest first, for the company's (and
    office's) queue: the due date of that deadline (overdue ones are marked on the dashboard)."""
    from django.contrib.contenttypes.models import ContentType

    from qslab.core.models import Deadline

    qs = Recall.objects.visible_to(user).filter(status=Recall.Status.IN_PROGRESS)
    if not has_role(user, Role.OFFICE):
        qs = qs.filter(company__in=company_ids(user))
    recalls = {str(r.pk): r for r in qs}
    deadlines = Deadline.objects.filter(
        content_type=ContentType.objects.get_for_model(Recall),
        object_id__in=list(recalls),
        label_en__startswith=PROGRESS_DEADLINE_EN,
        done_at__isnull=True,
    ).order_by("due", "id")
    return [(recalls[d.object_id], d.due) for d in deadlines]


# ------------------------------------------------------------------------------------------------
# the public portal


def published_recalls() -> QuerySet[Recall]:
    return Recall.objects.filter(status__in=[s.value for s in Recall.PUBLISHED]).select_related(
        "product", "hazard", "product__category", "company", "notice_document"
    )


def search_public_recalls(
    query: str = "",
    *,
    hazard: str = "",
    remedy: str = "",
    year: int | None = None,
    status: str = "",
    category: str = "",
) -> QuerySet[Recall]:
    """Published recalls matching every word (Chinese or English) and the filters, newest notice first."""
    qs = published_recalls()
    fields = (
        "reference",
        "title_zh",
        "title_en",
        "defect_zh",
        "defect_en",
        "product__brand",
        "product__model",
        "product__name_zh",
        "product__name_en",
        "product__gtin",
        "company__name_zh",
        "company__name_en",
    )
    for word in query.split()[:8]:
        text = Q()
        for f in fields:
            text |= Q(**{f"{f}__icontains": word})
        qs = qs.filter(text)
    if hazard:
        qs = qs.filter(hazard__code=hazard)
    if category:
        qs = qs.filter(product__category__code=category)
    if remedy in Recall.Remedy.values:
        qs = qs.filter(remedy=remedy)
    if year:
        qs = qs.filter(notice_published_at__year=year)
    if status in [s.value for s in Recall.PUBLISHED]:
        qs = qs.filter(status=status)
    return qs.order_by("-notice_published_at", "-id")


def domestic_statistics() -> dict[str, list[dict[str, Any]]]:
    """Published recalls on this platform by year, hazard and remedy."""
    qs = published_recalls()
    by_year = (
        qs.annotate(year=ExtractYear("notice_published_at"))
        .values("year")
        .annotate(n=Count("id"))
        .order_by("-year")
    )
    by_hazard = (
        qs.values("hazard__code", "hazard__name_zh", "hazard__name_en").annotate(n=Count("id")).order_by("-n")
    )
    by_remedy = qs.values("remedy").annotate(n=Count("id")).order_by("-n")
    remedies = dict(Recall.Remedy.choices)
    from qslab.core.models import bilingual

    return {
        "by_year": [{"label": str(r["year"]), "n": r["n"]} for r in by_year],
        "by_hazard": [
            {
                "label": bilingual(r["hazard__name_zh"] or "", r["hazard__name_en"] or "")
                or _("not classified"),
                "n": r["n"],
            }
            for r in by_hazard
        ],
        "by_remedy": [{"label": str(remedies.get(r["remedy"], r["remedy"])), "n": r["n"]} for r in by_remedy],
    }


FDA_SOURCE = "fda-enforcement"


def analytical_store(**kwargs: Any) -> Any:
    """The analytical store (``settings.DUCKDB_PATH``), as the risk app reaches it."""
    from qslab.surveillance.store import AnalyticalStore

    return AnalyticalStore.duckdb(settings.DUCKDB_PATH, **kwargs)


def fda_statistics(top_reasons: int = 15) -> dict[str, Any]:
    """FDA drug recalls in the analytical store by class, reason (defect phrase) and report year.

    Counts recalled products (rows) and recall events (one firm action covering several products).
    Empty lists when the store holds no FDA enforcement records (load them in the risk app's intake).
    """
    empty: dict[str, Any] = {"by_class": [], "by_reason": [], "by_year": [], "total": 0, "error": ""}
    try:
        store = analytical_store()
    except Exception as error:  # the store file is locked or missing: the page still renders
        return {**empty, "error": str(error)}
    try:
        t = store.records(source=FDA_SOURCE)

        def grouped(key: Any, name: str) -> list[dict[str, Any]]:
            table = (
                t.group_by(**{name: key})
                .agg(products=t.count(), events=t.report_id.nunique())
                .to_pyarrow()
                .to_pylist()
            )
            return table

        total = int(t.count().to_pyarrow().as_py())
        if not total:
            return empty
        by_class = sorted(grouped(t.severity, "label"), key=lambda r: str(r["label"]))
        by_reason = sorted(grouped(t.hazard_code, "label"), key=lambda r: -r["products"])[:top_reasons]
        by_year = sorted(grouped(t.event_date.year(), "label"), key=lambda r: r["label"] or 0, reverse=True)
    except Exception as error:
        return {**empty, "error": str(error)}
    finally:
        store.close()
    return {"by_class": by_class, "by_reason": by_reason, "by_year": by_year, "total": total, "error": ""}


def alert_statistics() -> dict[str, list[dict[str, Any]]]:
    """Published consumer alerts of the risk app by hazard and product category (once it has alerts)."""
    from qslab.core.models import bilingual
    from qslab.risk.models import ConsumerAlert

    qs = ConsumerAlert.objects.visible_to(None)
    out: dict[str, list[dict[str, Any]]] = {}
    for key, field in (("by_hazard", "hazard"), ("by_category", "product_category")):
        rows = qs.values(f"{field}__name_zh", f"{field}__name_en").annotate(n=Count("id")).order_by("-n")
        out[key] = [
            {
                "label": bilingual(r[f"{field}__name_zh"] or "", r[f"{field}__name_en"] or "")
                or _("not classified"),
                "n": r["n"],
            }
            for r in rows
        ]
    return out


# ------------------------------------------------------------------------------------------------
# exports


def csv_bytes(header: list[str], rows: Iterable[Iterable[Any]]) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(header)
    for row in rows:
        writer.writerow(["" if v is None else v for v in row])
    return ("\ufeff" + buffer.getvalue()).encode("utf-8")  # BOM: spreadsheet programs read UTF-8


def xlsx_bytes(header: list[str], rows: Iterable[Iterable[Any]], sheet: str) -> bytes:
    from qslab.labs.xlsx import write_xlsx

    return write_xlsx(header, [list(r) for r in rows], sheet_name=sheet[:31])


def visible_for_user(user: Any) -> QuerySet[Recall]:
    return Recall.objects.visible_to(user).select_related("product", "company", "hazard", "notice_document")


def confidential_for_user(user: Any) -> QuerySet[Recall]:
    """Recalls whose confidential fields and supply chain the user may see."""
    return Recall.objects.filter(Recall.confidential_q(user)).select_related(
        "product", "company", "hazard", "notice_document"
    )


def may_see_confidential(user: Any, recall: Recall) -> bool:
    return is_recall_staff(user) or Recall.objects.filter(Recall.confidential_q(user), pk=recall.pk).exists()


# ------------------------------------------------------------------------------------------------
# supply-chain records in the analytical store (qslab.surveillance.trace)

#: The lists a scope query exports.
EXPORTS = ("units", "parties", "regions")
#: Rows an XLSX export holds at most (the unit list of a large recall goes to CSV).
XLSX_MAX_ROWS = 100_000


def trace_store() -> Any:
    """The units and events tables, in the analytical store's DuckDB file."""
    from qslab.surveillance.trace import TraceStore

    return TraceStore.duckdb(settings.DUCKDB_PATH)


def gtin14(value: str) -> str:
    from stdnum import ean

    compact = ean.compact(value or "")
    return compact.zfill(14) if compact else ""


def trace_companies(user: Any) -> set[int] | None:
    """Companies whose supply-chain records the user may query; None means every company's."""
    if is_recall_staff(user) or has_role(user, Role.AUTHORITY):
        return None
    return company_ids(user)


def _own_gtins(companies: Iterable[int]) -> set[str]:
    return {
        gtin14(g)
        for g in Product.objects.filter(company__in=list(companies))
        .exclude(gtin="")
        .values_list("gtin", flat=True)
    }


def _foreign_gtin_problems(path: str, file_name: str, allowed: set[str]) -> list[dict[str, Any]]:
    """Rows of a CSV whose GTIN is not one of the company's products (read vectorised, gtin column only)."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.csv as pacsv

    try:
        table = pacsv.read_csv(
            path,
            convert_options=pacsv.ConvertOptions(
                include_columns=["gtin"], column_types={"gtin": pa.string()}, strings_can_be_null=True
            ),
        )
    except (pa.ArrowInvalid, KeyError, OSError):
        return []  # unreadable or no gtin column: the engine reports it
    values = pc.utf8_trim_whitespace(pc.fill_null(table["gtin"], ""))
    padded = pc.utf8_lpad(values, 14, "0")
    foreign = pc.invert(pc.is_in(padded, value_set=pa.array(sorted(allowed), pa.string())))
    rows = pc.indices_nonzero(pc.and_(foreign, pc.not_equal(values, ""))).to_pylist()
    return [
        {
            "row": i + 1,
            "column": "gtin",
            "value": table["gtin"][i].as_py(),
            "message": _("this GTIN is not one of the company's recorded products"),
        }
        for i in rows[:500]
    ]


UNIT_INPUT_COLUMNS = (
    "gtin",
    "serial",
    "model",
    "batch",
    "production_date",
    "manufacturer_id",
    "manufacturer_name",
)


def _dry_run_store(kind: str, path: str, own: set[str]) -> Any:
    """A throw-away in-memory store to validate a refused file; for events, holding the company's
    stored units (their events must refer to stored units)."""
    from qslab.surveillance.trace import TraceStore

    scratch = TraceStore.duckdb(":memory:")
    if kind == TraceUpload.Kind.EVENTS and own:
        real = trace_store()
        try:
            units = real.units()
            stored = units.filter(units.gtin.isin(sorted(own))).select(*UNIT_INPUT_COLUMNS).to_pyarrow()
        finally:
            real.close()
        if stored.num_rows:
            scratch.ingest_units(stored, name="stored units")
    return scratch


#: File names the supply-chain upload accepts: CSV (plain or gzip) and XLSX (the first worksheet).
TRACE_SUFFIXES = (".csv", ".csv.gz", ".xlsx")


def _new_upload(user: Any, company: Organisation, kind: str, upload: Any) -> TraceUpload:
    from pathlib import Path

    _require_company(user, company)
    if kind not in TraceUpload.Kind.values:
        raise ValidationError({"kind": [_("Choose units or events.")]})
    name = Path(upload.name or "trace.csv").name
    if not name.lower().endswith(TRACE_SUFFIXES):
        raise ValidationError({"file": [_("The file must be CSV (.csv or .csv.gz) or XLSX.")]})
    with transaction.atomic(), acting_as(user):
        record = TraceUpload(company=company, kind=kind, file_name=name, owner=user)
        record.file.save(name, upload, save=False)
        record.save()
    return record


def start_trace_upload(user: Any, company: Organisation, kind: str, upload: Any) -> TraceUpload:
    """Store the file and queue its check and load as a background task (after the transaction commits);
    the upload page shows the task's progress, then every problem or the rows loaded."""
    record = _new_upload(user, company, kind, upload)
    from qslab.recalls.tasks import trace_upload_task

    def enqueue() -> None:
        result = trace_upload_task.enqueue(upload_id=record.pk)
        TraceUpload.objects.filter(pk=record.pk, task_id="").update(task_id=str(result.id))

    transaction.on_commit(enqueue)
    return record


def upload_trace(user: Any, company: Organisation, kind: str, upload: Any) -> TraceUpload:
    """Store and load a file at once, in this process (the CLI, the demo data); pages use
    :func:`start_trace_upload`."""
    return run_trace_upload(_new_upload(user, company, kind, upload))


def _xlsx_as_csv(path: str, directory: str) -> str:
    """The first worksheet of an XLSX file as a UTF-8 CSV (rows numbered as in the sheet's data rows)."""
    from pathlib import Path

    from qslab.labs.xlsx import XlsxError, read_xlsx

    try:
        rows = read_xlsx(Path(path).read_bytes())
    except XlsxError as error:
        raise ValidationError(_("The XLSX file cannot be read: %(error)s") % {"error": error}) from error
    rows = [r for r in rows if any(str(v).strip() for v in r)]
    if not rows:
        raise ValidationError(_("The XLSX file's first worksheet is empty."))
    width = len(rows[0])
    out = Path(directory) / "sheet.csv"
    with out.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        for row in rows:
            writer.writerow([str(v).strip() for v in (list(row) + [""] * width)[:width]])
    return str(out)


@transaction.atomic
def abandon_trace_upload(upload_id: int | None, task_id: str, reason: str) -> TraceUpload | None:
    """Mark failed, with the reason, an upload whose task the stale-task recovery gave up on.

    Called by the recovery (no user); an upload already finished is left as it is. The store's load is
    all or nothing, so nothing of the file was kept and the company may upload it again.
    """
    from qslab.core.tasks import fail_abandoned_record

    running = [TraceUpload.Status.QUEUED, TraceUpload.Status.RUNNING]
    unfinished = TraceUpload.objects.filter(status__in=running)
    return fail_abandoned_record(unfinished, upload_id, task_id, reason, TraceUpload.Status.FAILED)


def run_trace_upload(record: TraceUpload, progress: Any = None) -> TraceUpload:
    """Check a stored file of units or events and take it into the analytical store, all or nothing.

    Every bad value (row, column, value, message) is kept on the upload so the company sees all of
    them at once; if any row is rejected nothing is written to the store. A company may load records
    of its own products only (their GTINs). ``progress`` (``qslab.core.tasks.Progress``) advances
    through three steps: read, GTINs checked, values checked and loaded.
    """
    import tempfile

    from qslab.surveillance.ingest import IngestError, IngestValidationError
    from qslab.surveillance.trace import TraceError

    user, kind, name = record.owner, record.kind, record.file_name
    record.status = TraceUpload.Status.RUNNING
    with transaction.atomic(), acting_as(user):
        record.save(update_fields=["status", "last_updated"])

    def step(message: str) -> None:
        if progress is not None:
            progress.advance(message=message[:300])

    with tempfile.TemporaryDirectory() as scratch_dir:
        try:
            path = record.file.path
            if name.lower().endswith(".xlsx"):
                path = _xlsx_as_csv(path, scratch_dir)
            step(_("file read"))
            own = None if has_role(user, Role.OFFICE) else _own_gtins([record.company_id])
            foreign = _foreign_gtin_problems(path, name, own) if own is not None else []
            step(_("GTINs checked"))
            # A file with foreign GTINs is refused already; the engine still checks every value (on a
            # throw-away copy) so the company sees all problems of the file at once.
            store = _dry_run_store(kind, path, own or set()) if foreign else trace_store()
            try:
                method = store.ingest_units if kind == TraceUpload.Kind.UNITS else store.ingest_events
                report = method(path, name=name)
            finally:
                store.close()
        except IngestValidationError as error:
            problems = foreign + [
                {"row": p.row, "column": p.column, "value": p.value, "message": p.message}
                for p in error.problems[:2000]
            ]
            record.status = TraceUpload.Status.REJECTED
            record.n_rows = error.n_rows
            record.problems = sorted(problems, key=lambda p: (p["row"], p["column"]))
            record.message = _("%(n)d bad value(s); nothing was written.") % {"n": len(problems)}
        except ValidationError as error:
            record.status = TraceUpload.Status.FAILED
            record.message = " ".join(error.messages)[:2000]
        except (IngestError, TraceError, OSError) as error:
            record.status = TraceUpload.Status.FAILED
            record.message = str(error)[:2000]
        except Exception as error:  # the store is locked or broken: the upload says so, nothing was written
            record.status = TraceUpload.Status.FAILED
            record.message = _("The analytical store could not be written: %(error)s") % {
                "error": str(error)[:1800]
            }
        else:
            if foreign:
                record.status = TraceUpload.Status.REJECTED
                record.n_rows = report.n_rows
                record.problems = foreign
                record.message = _("%(n)d bad value(s); nothing was written.") % {"n": len(foreign)}
            else:
                record.status = TraceUpload.Status.DONE
                record.n_rows = report.n_rows
                record.n_inserted = report.n_inserted
                record.message = report.summary()
    step(record.message)
    with transaction.atomic(), acting_as(user):
        record.save(update_fields=["status", "n_rows", "n_inserted", "problems", "message", "last_updated"])
    return record


def recall_criteria(recall: Recall) -> dict[str, Any]:
    """The recall's scope as the engine's criteria: the product's GTIN, its batches, its serial ranges."""
    return {
        "gtin": recall.product.gtin,
        "batches": sorted(recall.batches.values_list("lot", flat=True)),
        "serial_ranges": [tuple(r) for r in (recall.serial_ranges or [])],
    }


def _scope(criteria: dict[str, Any]) -> tuple[Any, str]:
    from qslab.surveillance.trace import TraceError, recall_scope

    if not criteria.get("gtin"):
        return None, _("The product has no GTIN: its supply-chain records cannot be found.")
    try:
        store = trace_store()
    except Exception as error:  # locked or missing store file
        return None, str(error)
    try:
        return recall_scope(store, **criteria), ""
    except TraceError as error:
        return None, str(error)
    except Exception as error:  # a backend error: the page says so instead of failing
        return None, _("The supply-chain records could not be queried: %(error)s") % {"error": error}
    finally:
        store.close()


def scope_of_recall(recall: Recall) -> tuple[Any, str]:
    """The recall scope query for ``recall``: (RecallScope or None, error message)."""
    return _scope(recall_criteria(recall))


def run_scope_query(
    user: Any, *, gtin: str, lots: list[str], serial_ranges: list[list[str]]
) -> tuple[Any, str]:
    """An ad-hoc scope query; a company may query only its own products' GTINs."""
    companies = trace_companies(user)
    if companies is not None and gtin14(gtin) not in _own_gtins(companies):
        return None, _("You may query only the GTINs of your company's products.")
    return _scope({"gtin": gtin, "batches": lots, "serial_ranges": [tuple(r) for r in serial_ranges]})


#: Columns of the unit list the API returns (the engine's ``scope_units`` minus internal ones).
SCOPE_UNIT_COLUMNS = (
    "gtin",
    "serial",
    "model",
    "batch",
    "production_date",
    "status",
    "last_kind",
    "last_at",
    "last_party_id",
    "last_party_name",
    "last_party_role",
    "last_region",
    "recalled",
    "remedied",
)


def scope_unit_page(recall: Recall, limit: int, offset: int) -> tuple[int, list[dict[str, Any]], str]:
    """One page of the recall's affected units (by batch and serial): (total, rows, error message)."""
    from qslab.surveillance.store import quiet_backend
    from qslab.surveillance.trace import ScopeCriteria, TraceError, scope_units

    criteria = recall_criteria(recall)
    if not criteria.get("gtin"):
        return 0, [], _("The product has no GTIN: its supply-chain records cannot be found.")
    try:
        store = trace_store()
    except Exception as error:  # locked or missing store file
        return 0, [], str(error)
    try:
        with quiet_backend():
            units = scope_units(store, ScopeCriteria(**criteria))
            total = int(units.count().to_pyarrow().as_py())
            page = units.select(*SCOPE_UNIT_COLUMNS).limit(limit, offset=offset).to_pyarrow().to_pylist()
    except TraceError as error:
        return 0, [], str(error)
    finally:
        store.close()
    return total, page, ""


def refresh_units_affected(recall: Recall, quiet: bool = False) -> int | None:
    """Store the number of units in the recall's scope, from the supply-chain records (if there are any)."""
    result, error = scope_of_recall(recall)
    if result is None or not result.n_units:
        if not quiet and error:
            raise ValidationError(error)
        return None
    Recall.objects.filter(pk=recall.pk).update(units_affected=result.n_units)
    recall.units_affected = result.n_units
    return result.n_units


def remedied_from_trace(recall: Recall) -> int | None:
    """Units in scope with a ``remedied`` event, to prefill a progress report."""
    result, _error = scope_of_recall(recall)
    return result.n_remedied if result is not None and result.n_units else None


def scope_rows(result: Any, what: str) -> tuple[list[str], list[list[Any]]]:
    """Header and rows of one exported list of a scope result."""
    from qslab.surveillance.trace import scope_units

    if what == "parties":
        header = [
            "party_id",
            "party_name",
            "role",
            "region",
            "units_handled",
            "units_held",
            "units_sold",
            "units_recalled",
            "units_remedied",
        ]
        return header, [[getattr(p, h) for h in header] for p in result.parties]
    if what == "regions":
        header = ["region", "region_name", "units_handled", "units_held", "units_sold", "n_parties"]
        from qslab.core.regions import region_name

        return header, [
            [r.region, region_name(r.region), r.units_handled, r.units_held, r.units_sold, r.n_parties]
            for r in result.regions
        ]
    store = trace_store()
    try:
        table = scope_units(store, result.criteria).limit(XLSX_MAX_ROWS).to_pyarrow()
    finally:
        store.close()
    header = table.column_names
    columns = [table[c].to_pylist() for c in header]
    return header, [list(row) for row in zip(*columns, strict=True)]


def export_scope(result: Any, what: str, fmt: str, *, stem: str) -> tuple[bytes, str, str]:
    """One list of a scope result as CSV (the unit list written by the backend) or XLSX."""
    import tempfile
    from pathlib import Path

    name = f"{stem}-{what}.{fmt}"
    if fmt == "csv" and what == "units":
        from qslab.surveillance.trace import export_scope_csv

        with tempfile.TemporaryDirectory() as folder:
            target = Path(folder) / name
            store = trace_store()
            try:
                export_scope_csv(store, result.criteria, units_path=target)
            finally:
                store.close()
            return target.read_bytes(), "text/csv; charset=utf-8", name
    header, rows = scope_rows(result, what)
    if fmt == "csv":
        return csv_bytes(header, rows), "text/csv; charset=utf-8", name
    content = xlsx_bytes(header, [["" if v is None else v for v in r] for r in rows], what)
    return content, "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", name


def latest_public_alerts(limit: int = 6) -> list[Any]:
    """The risk app's latest published consumer alerts, when it has them (for the portal index)."""
    from qslab.risk.models import ConsumerAlert

    return list(ConsumerAlert.objects.visible_to(None).select_related("hazard")[:limit])


def scope_context(result: Any) -> dict[str, Any]:
    """What the scope templates need besides the result: export names and named regions."""
    from qslab.core.regions import region_name

    regions = []
    if result is not None:
        regions = [{**r.to_dict(), "code": r.region, "name": region_name(r.region)} for r in result.regions]
    return {"exports": EXPORTS, "regions": regions}


# ------------------------------------------------------------------------------------------------
# the producer's statutory reports of deaths, serious injuries, major losses and recalls abroad

#: The label of a producer report's deadline (how the dashboard and the page find it).
PRODUCER_DEADLINE_EN = "Report to the market regulator"
PRODUCER_DEADLINE_ZH = "向市场监管部门报告"


def _new_producer_reference() -> str:
    from qslab.recalls.models import ProducerReport

    year = timezone.localdate().year
    prefix = f"PR{year}-"
    last = (
        ProducerReport.objects.select_for_update()
        .filter(reference__startswith=prefix)
        .order_by("-reference")
        .values_list("reference", flat=True)
        .first()
    )
    seq = int(last.rsplit("-", 1)[1]) + 1 if last else 1
    return f"{prefix}{seq:04d}"


def producer_report_due(learned_on: dt.date, working_days: int) -> dt.date:
    """The last day of the report: ``working_days`` working days after the day the producer learned of
    it (that day not counted; weekends, public holidays and adjusted days from ``core.CalendarDay``)."""
    from qslab.core.calendar import add_days

    return add_days(learned_on, working_days)


@transaction.atomic
def record_producer_report(user: Any, data: dict[str, Any]) -> Any:
    """The producer (or the office for it) records what it learned of and when; the report to the market
    regulator falls due ``rule.working_days`` working days later, as a deadline of the company's."""
    from django.contrib.contenttypes.models import ContentType

    from qslab.core.models import Deadline
    from qslab.recalls.models import ProducerReport, ReportingRule

    company = data.get("company")
    _require_company(user, company)
    errors: dict[str, list[str]] = {}
    rule = data.get("rule")
    if not isinstance(rule, ReportingRule) or not rule.active:
        errors["rule"] = [_("Choose what happened.")]
    learned_on = data.get("learned_on")
    if learned_on is None:
        errors["learned_on"] = [_("Give the day the producer learned of it.")]
    elif learned_on > timezone.localdate():
        errors["learned_on"] = [_("The producer cannot have learned of it on a day still to come.")]
    occurred_on = data.get("occurred_on")
    if occurred_on and learned_on and occurred_on > learned_on:
        errors["occurred_on"] = [_("It cannot have happened after the producer learned of it.")]
    product = data.get("product")
    if product is not None and product.company_id != company.pk:
        errors["product"] = [_("The product is not one of this producer's.")]
    recall = data.get("recall")
    if recall is not None and recall.company_id != company.pk:
        errors["recall"] = [_("The recall is not one of this producer's.")]
    if not str(data.get("description") or "").strip():
        errors["description"] = [_("Describe what happened.")]
    if errors:
        raise ValidationError(errors)
    with acting_as(user):
        report = ProducerReport(
            company=company,
            product=product,
            recall=recall,
            rule=rule,
            learned_on=learned_on,
            occurred_on=occurred_on,
            description=data["description"],
            working_days=rule.working_days,
            due=producer_report_due(learned_on, rule.working_days),
            created_by=user,
        )
        report.full_clean(exclude=["reference"])
        save_with_next_reference(report, _new_producer_reference)
        watch(report, user)
        assignee = user if company.pk in company_ids(user) else _first_company_user(company)
        Deadline.objects.create(
            content_type=ContentType.objects.get_for_model(ProducerReport),
            object_id=str(report.pk),
            label_en=f"{PRODUCER_DEADLINE_EN}: {report.reference}",
            label_zh=f"{PRODUCER_DEADLINE_ZH}：{report.reference}",
            due=report.due,
            assignee=assignee,
            assignee_role="" if assignee else Role.OFFICE,
        )
    return report


def _first_company_user(company: Organisation) -> Any:
    from qslab.accounts.models import User

    return (
        User.objects.filter(is_active=True)
        .filter(
            Q(role_memberships__role=Role.CLIENT, role_memberships__organisation=company)
            | Q(role_memberships__role=Role.CLIENT, organisation=company)
        )
        .order_by("pk")
        .first()
    )


def move_producer_report(user: Any, report: Any, transition: str, reason: str = "") -> Any:
    """``report``: the producer has reported to the market regulator (``reason``: what it reported); the
    deadline closes, and the record says whether it was in time."""
    apply_transition(report, transition, user, reason)
    report.refresh_from_db()
    return report


def producer_reports_for(user: Any) -> QuerySet[Any]:
    from qslab.recalls.models import ProducerReport

    return ProducerReport.objects.visible_to(user).select_related("company", "product", "rule")


def producer_report_deadline(report: Any) -> Any:
    from django.contrib.contenttypes.models import ContentType

    from qslab.core.models import Deadline
    from qslab.recalls.models import ProducerReport

    return (
        Deadline.objects.filter(
            content_type=ContentType.objects.get_for_model(ProducerReport), object_id=str(report.pk)
        )
        .order_by("-id")
        .first()
    )


# ------------------------------------------------------------------------------------------------
# laboratory testing for a risk assessment or a recall's defect analysis


#: laboratories that can be asked to test: operating ones and those being built; not suspended, revoked,
#: withdrawn, merged or merely proposed ones
TESTING_LAB_STATES = ("named", "under_rectification", "under_construction", "acceptance")


@transaction.atomic
def request_lab_test(user: Any, data: dict[str, Any]) -> Any:
    """The office asks a laboratory to test (for an assessment and/or a recall); its managers are told."""
    from qslab.core.notifications import notify
    from qslab.recalls.models import LabTestRequest, _lab_managers

    if not has_role(user, Role.OFFICE):
        raise PermissionDenied(_("Only the committee office requests laboratory testing."))
    errors: dict[str, list[str]] = {}
    assessment, recall = data.get("assessment"), data.get("recall")
    if not assessment and not recall:
        errors["assessment"] = [_("Name the risk assessment or the recall the testing is for.")]
    lab = data.get("laboratory")
    if lab is not None and lab.status not in TESTING_LAB_STATES:
        errors["laboratory"] = [
            _(
                "Only a laboratory that is operating or under construction can be asked to test; "
                "this one is %(s)s."
            )
            % {"s": lab.status_label}
        ]
    # the page offers neither; the API names them by id, so the service refuses them for both
    if assessment is not None and assessment.status == "withdrawn":
        errors["assessment"] = [_("The risk assessment is withdrawn.")]
    if recall is not None and recall.status == Recall.Status.CLOSED:
        errors["recall"] = [_("The recall is closed.")]
    if errors:
        raise ValidationError(errors)
    with acting_as(user):
        item = LabTestRequest(
            laboratory=data.get("laboratory"),
            assessment=data.get("assessment"),
            recall=data.get("recall"),
            question=data.get("question", ""),
            due=data.get("due"),
            requested_by=user,
        )
        item.full_clean()
        item.save()
        watch(item, user)
    notify(
        _lab_managers(item),
        verb="lab_test_requested",
        obj=item,
        text_en=f"Testing requested by the committee office: {item.question[:80]}",
        text_zh=f"委员会办公室委托检测：{item.question[:80]}",
    )
    return item


def check_may_deliver(user: Any, item: Any) -> None:
    """Refuse a delivery the user may not make: 409-like ``TransitionRefused`` when it is their own
    laboratory's request and its report was already delivered (a conflict with the state, not a matter
    of rights), ``PermissionDenied`` for anyone else."""
    from qslab.core.workflow import TransitionRefused
    from qslab.recalls.models import LabTestRequest

    if LabTestRequest.objects.editable_by(user).filter(pk=item.pk).exists():
        return
    current = LabTestRequest.objects.select_related("laboratory").get(pk=item.pk)
    manages = LabTestRequest.objects.visible_to(user).filter(pk=item.pk).exists() and has_role(
        user, Role.LAB_MANAGER, scope=current.laboratory
    )
    if manages and current.status == LabTestRequest.Status.REPORTED:
        raise TransitionRefused(
            _(
                "The report of this request was already delivered (%(name)s); a delivered report is not "
                "replaced. Ask the committee office if it must be corrected."
            )
            % {"name": current.report_name or "report.pdf"},
            TransitionRefused.WRONG_STATE,
        )
    raise PermissionDenied(_("Only the managers of this laboratory deliver its report."))


@transaction.atomic
def deliver_lab_report(user: Any, item: Any, upload: Any, summary: str = "") -> Any:
    """A manager of the laboratory attaches the test report (PDF, checked by content) and delivers it;
    once: delivering again is refused as a conflict (see :func:`check_may_deliver`)."""
    from pathlib import Path

    from qslab.recalls.models import LabTestRequest

    # Locked: of two deliveries at once, the second sees the first's report and is refused.
    LabTestRequest.objects.select_for_update().filter(pk=item.pk).first()
    check_may_deliver(user, item)
    field = LabTestRequest._meta.get_field("report")
    for validator in field.validators:
        validator(upload)
    with acting_as(user):
        item.report_name = Path(upload.name or "report.pdf").name[:200]
        item.report_summary = summary
        item.report.save(item.report_name, upload, save=False)
        stored = item.report.name
        try:
            item.save(update_fields=["report", "report_name", "report_summary", "last_updated"])
            apply_transition(item, "deliver", user)
        except BaseException:
            # the rollback forgets the report; the stored PDF must not outlive it
            item.report.storage.delete(stored)
            raise
    item.refresh_from_db()
    return item
