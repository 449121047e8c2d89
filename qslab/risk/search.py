"""Full-text search over defect patterns, incident reports and consumer alerts, in Chinese and English.

Each pattern and report has one :class:`~qslab.risk.models.SearchDocument` (kept in sync by the signals
connected in :func:`connect_signals`) with two texts: ``public_text`` (coded names, titles, public
summaries) and ``private_text`` (narratives, brand, model, ...). The index is backend specific:

- **SQLite**: the FTS5 table ``risk_search_fts`` (external content over ``risk_searchdocument``, kept in
  sync by triggers, ``trigram`` tokenizer, created in migration 0004). Chinese has no spaces between
  words; the trigram tokenizer matches any substring of three or more characters, in any script.
  Terms of one or two characters cannot use trigrams and fall back to ``LIKE``. Ranked by ``bm25``.
- **PostgreSQL**: words without Chinese characters match a ``simple`` (no stemming, no stop words) text
  search vector, ranked by ``ts_rank``; terms with Chinese characters match as substrings (``ILIKE``,
  helped by a pg_trgm GIN index when the extension is available), ranked by how often they occur.

Every term of the query must match (AND). Results are filtered through ``visible_to(user)``; a user who
is not risk staff matches only the public text of others' objects (a search must not reveal a
confidential value), and a reporter also the full text of his own reports.
"""

from __future__ import annotations

import re
from typing import Any

from django.db import connection
from django.db.models import Case, FloatField, IntegerField, Q, QuerySet, Value, When
from django.db.models.expressions import RawSQL
from django.db.models.functions import Cast, Length, Replace, Upper

MAX_TERMS = 8
MAX_HITS = 500
CJK = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uff00-\uffef]")

# ------------------------------------------------------------------------------------------------
# documents


def _names(term: Any) -> list[str]:
    return [term.name_zh, term.name_en, term.code] if term is not None else []


def _join(parts: list[Any]) -> str:
    return "\n".join(str(p) for p in parts if p)


def pattern_texts(pattern: Any) -> tuple[str, str]:
    """(public, private) searchable text of a defect pattern; works on historical models too."""
    public = _join(
        [
            pattern.title_zh,
            pattern.title_en,
            pattern.failure_mode,
            pattern.injury_mechanism,
            pattern.scenario,
            pattern.detection_method,
            pattern.summary_zh,
            pattern.summary_en,
            *_names(pattern.product_category),
            *_names(pattern.hazard),
        ]
    )
    cases = list(pattern.evidence.all())
    # a published case's summary is public; the rest of every case stays with staff
    published = [r for r in cases if r.status == "published"]
    public = _join([public, *[t for r in published for t in (r.public_summary_zh, r.public_summary_en)]])
    private = _join(
        [
            pattern.evidence_links,
            *[part for r in cases for part in (r.reference, r.brand, r.model, r.description)],
        ]
    )
    return public, private


def report_texts(report: Any) -> tuple[str, str]:
    """(public, private) searchable text of an incident report: public = what a published report shows."""
    public = _join(
        [
            report.public_summary_zh,
            report.public_summary_en,
            *_names(report.product_category),
            *_names(report.hazard),
            *_names(report.diagnosis),
            *_names(report.body_part),
            *_names(report.disposition),
        ]
    )
    private = _join(
        [report.reference, report.brand, report.model, report.batch, report.barcode, report.description]
    )
    return public, private


#: The alert fields that are searched: public fields only, for everyone (a search must not reveal a
#: confidential value; the confidential fields are never indexed).
ALERT_TEXT_FIELDS = (
    "reference",
    "title_zh",
    "title_en",
    "product_name_zh",
    "product_name_en",
    "brand",
    "model",
    "batch",
    "barcode",
    "product_description_zh",
    "product_description_en",
    "country_of_origin",
    "hazard_description_zh",
    "hazard_description_en",
    "measures_zh",
    "measures_en",
    "advice_zh",
    "advice_en",
)


def alert_texts(alert: Any) -> tuple[str, str]:
    """(public, private) searchable text of a consumer alert: its public fields, coded names and public
    follow-ups; the private text stays empty (confidential fields are never indexed)."""
    updates = [t for u in alert.updates.all() if u.is_public for t in (u.text_zh, u.text_en)]
    public = _join(
        [
            *[getattr(alert, f) for f in ALERT_TEXT_FIELDS],
            *_names(alert.hazard),
            *_names(alert.product_category),
            *updates,
        ]
    )
    return public, ""


def _store(document_model: Any, kind: str, object_id: int, texts: tuple[str, str]) -> None:
    document_model.objects.update_or_create(
        kind=kind, object_id=object_id, defaults={"public_text": texts[0], "private_text": texts[1]}
    )


def index_pattern(pattern: Any) -> None:
    from qslab.risk.models import SearchDocument

    _store(SearchDocument, SearchDocument.Kind.PATTERN, pattern.pk, pattern_texts(pattern))


def index_report(report: Any) -> None:
    from qslab.risk.models import SearchDocument

    _store(SearchDocument, SearchDocument.Kind.REPORT, report.pk, report_texts(report))
    for pattern in report.patterns.all():
        index_pattern(pattern)


def index_alert(alert: Any) -> None:
    from qslab.risk.models import SearchDocument

    _store(SearchDocument, SearchDocument.Kind.ALERT, alert.pk, alert_texts(alert))


def unindex(kind: str, object_id: int) -> None:
    from qslab.risk.models import SearchDocument

    SearchDocument.objects.filter(kind=kind, object_id=object_id).delete()


def rebuild(apps: Any = None) -> int:
    """Index every pattern, report and alert again (after a taxonomy rename, or from a migration)."""
    from django.apps import apps as registry

    get = (apps or registry).get_model
    document, pattern_model, report_model = (
        get("risk", "SearchDocument"),
        get("risk", "DefectPattern"),
        get("risk", "IncidentReport"),
    )
    document.objects.all().delete()
    n = 0
    for report in report_model.objects.select_related(
        "product_category", "hazard", "diagnosis", "body_part", "disposition"
    ):
        _store(document, "report", report.pk, report_texts(report))
        n += 1
    patterns = pattern_model.objects.select_related("product_category", "hazard").prefetch_related("evidence")
    for pattern in patterns:
        _store(document, "pattern", pattern.pk, pattern_texts(pattern))
        n += 1
    alert_model = get("risk", "ConsumerAlert")
    for alert in alert_model.objects.select_related("hazard", "product_category").prefetch_related("updates"):
        _store(document, "alert", alert.pk, alert_texts(alert))
        n += 1
    return n


# ------------------------------------------------------------------------------------------------
# keeping the index in sync


def connect_signals() -> None:
    from django.db.models.signals import m2m_changed, post_delete, post_save, pre_delete

    from qslab.risk.models import AlertUpdate, ConsumerAlert, DefectPattern, IncidentReport, SearchDocument

    def alert_saved(sender: Any, instance: Any, raw: bool = False, **kw: Any) -> None:
        index_alert(instance)

    def alert_deleted(sender: Any, instance: Any, **kw: Any) -> None:
        unindex(SearchDocument.Kind.ALERT, instance.pk)

    def update_changed(sender: Any, instance: Any, raw: bool = False, **kw: Any) -> None:
        alert = ConsumerAlert.objects.filter(pk=instance.alert_id).first()
        if alert is not None:
            index_alert(alert)

    def pattern_saved(sender: Any, instance: Any, raw: bool = False, **kw: Any) -> None:
        index_pattern(instance)

    def report_saved(sender: Any, instance: Any, raw: bool = False, **kw: Any) -> None:
        index_report(instance)

    def pattern_deleted(sender: Any, instance: Any, **kw: Any) -> None:
        unindex(SearchDocument.Kind.PATTERN, instance.pk)

    def report_deleting(sender: Any, instance: Any, **kw: Any) -> None:
        instance._search_patterns = list(instance.patterns.values_list("pk", flat=True))

    def report_deleted(sender: Any, instance: Any, **kw: Any) -> None:
        unindex(SearchDocument.Kind.REPORT, instance.pk)
        for pattern in DefectPattern.objects.filter(pk__in=getattr(instance, "_search_patterns", [])):
            index_pattern(pattern)

    def evidence_changed(
        sender: Any, instance: Any, action: str, reverse: bool, pk_set: Any, **kw: Any
    ) -> None:
        if action == "pre_clear" and reverse:  # instance is a report: remember its patterns
            instance._search_patterns = list(instance.patterns.values_list("pk", flat=True))
        if not action.startswith("post_"):
            return
        if reverse:  # instance is a report; pk_set the patterns (None on clear)
            pks = pk_set if pk_set is not None else getattr(instance, "_search_patterns", [])
            for pattern in DefectPattern.objects.filter(pk__in=pks):
                index_pattern(pattern)
        else:
            index_pattern(instance)

    connections = [
        (post_save, pattern_saved, DefectPattern, "pattern_saved"),
        (post_save, report_saved, IncidentReport, "report_saved"),
        (post_delete, pattern_deleted, DefectPattern, "pattern_deleted"),
        (pre_delete, report_deleting, IncidentReport, "report_deleting"),
        (post_delete, report_deleted, IncidentReport, "report_deleted"),
        (m2m_changed, evidence_changed, DefectPattern.evidence.through, "evidence_changed"),
        (post_save, alert_saved, ConsumerAlert, "alert_saved"),
        (post_delete, alert_deleted, ConsumerAlert, "alert_deleted"),
        (post_save, update_changed, AlertUpdate, "alert_update_saved"),
        (post_delete, update_changed, AlertUpdate, "alert_update_deleted"),
    ]
    for signal, receiver, sender, name in connections:
        signal.connect(receiver, sender=sender, dispatch_uid=f"risk_search_{name}", weak=False)


# ------------------------------------------------------------------------------------------------
# querying


def terms(query: str) -> list[str]:
    """The query's terms: whitespace-separated, at most eight, without FTS5 syntax characters."""
    return [t for t in (w.strip('"*^:(){}') for w in (query or "").split()) if t][:MAX_TERMS]


def _occurrences(column: str, term: str) -> Any:
    """How often ``term`` occurs in ``column`` (case-insensitive), as an SQL expression."""
    return Cast(
        (Length(column) - Length(Replace(Upper(column), Value(term.upper()), Value("")))) / len(term),
        FloatField(),
    )


def _fts_expression(long_terms: list[str], columns: tuple[str, ...]) -> str:
    """An FTS5 MATCH expression (a parameter value, not SQL): every term, as a quoted string."""
    body = " AND ".join('"' + t.replace('"', '""') + '"' for t in long_terms)
    if len(columns) == 1:
        return "{" + columns[0] + "} : (" + body + ")"
    return body


def ranked_ids(kind: str, query: str, private: bool) -> dict[int, float]:
    """``{object_id: rank}`` of the documents of ``kind`` matching every term (higher rank first).

    ``private`` says whether the confidential text may match too.
    """
    from qslab.risk.models import SearchDocument

    words = terms(query)
    if not words:
        return {}
    columns = ("public_text", "private_text") if private else ("public_text",)
    docs = SearchDocument.objects.filter(kind=kind)
    rank: Any = Value(0.0, output_field=FloatField())
    sqlite = connection.vendor == "sqlite"
    postgres = connection.vendor == "postgresql"
    if sqlite:
        long_terms = [t for t in words if len(t) >= 3]
    elif postgres:
        long_terms = [t for t in words if not CJK.search(t)]
    else:
        long_terms = []
    like_terms = [t for t in words if t not in long_terms]
    if long_terms and sqlite:
        expression = _fts_expression(long_terms, columns)
        docs = docs.filter(
            id__in=RawSQL("SELECT rowid FROM risk_search_fts WHERE risk_search_fts MATCH %s", [expression])
        )
        rank = RawSQL(
            "SELECT -bm25(risk_search_fts) FROM risk_search_fts"
            " WHERE risk_search_fts MATCH %s AND rowid = risk_searchdocument.id",
            [expression],
            output_field=FloatField(),
        )
    elif long_terms and postgres:
        from django.contrib.postgres.search import SearchQuery, SearchRank, SearchVector

        vector = SearchVector(*columns, config="simple")
        search = SearchQuery(" ".join(long_terms), config="simple", search_type="plain")
        docs = docs.annotate(search_vector=vector).filter(search_vector=search)
        rank = SearchRank(vector, search)
    for t in like_terms:
        match = Q()
        for c in columns:
            match |= Q(**{f"{c}__icontains": t})
        docs = docs.filter(match)
        for c in columns:
            rank = rank + _occurrences(c, t)
    rows = docs.annotate(rank=rank).order_by("-rank", "-object_id").values_list("object_id", "rank")
    return {object_id: float(r or 0) for object_id, r in rows[:MAX_HITS]}


def _ordered(qs: QuerySet[Any], ranks: dict[int, float]) -> QuerySet[Any]:
    order = sorted(ranks, key=lambda pk: (-ranks[pk], -pk))
    if not order:
        return qs.none()
    position = Case(*[When(pk=pk, then=Value(i)) for i, pk in enumerate(order)], output_field=IntegerField())
    return qs.filter(pk__in=order).annotate(search_position=position).order_by("search_position")


def search_patterns(user: Any, query: str) -> QuerySet[Any]:
    """Defect patterns the user may see matching every term of ``query``, best match first.

    Risk staff also match the evidence narratives and brands; others only the pattern's public text.
    """
    from qslab.risk.models import DefectPattern, SearchDocument, is_risk_staff

    ranks = ranked_ids(SearchDocument.Kind.PATTERN, query, private=is_risk_staff(user))
    return _ordered(DefectPattern.objects.visible_to(user), ranks)


def search_incidents(user: Any, query: str) -> QuerySet[Any]:
    """Incident reports the user may see matching every term of ``query``, best match first.

    Risk staff match everything; a reporter matches the full text of his own reports and the public
    text (summary and coded fields) of published ones; the public only the latter.
    """
    from qslab.risk.models import IncidentReport, SearchDocument, is_risk_staff

    kind = SearchDocument.Kind.REPORT
    visible = IncidentReport.objects.visible_to(user)
    if is_risk_staff(user):
        return _ordered(visible, ranked_ids(kind, query, private=True))
    ranks = ranked_ids(kind, query, private=False)
    if user is not None and user.is_authenticated:
        own = set(visible.filter(reporter=user).values_list("pk", flat=True))
        if own:
            for pk, r in ranked_ids(kind, query, private=True).items():
                if pk in own:
                    ranks[pk] = max(r, ranks.get(pk, r))
    return _ordered(visible, ranks)


def search_alerts(user: Any, query: str) -> QuerySet[Any]:
    """Consumer alerts the user may see matching every term of ``query`` in their public text, best
    match first (for everyone, staff included: the confidential fields are not indexed)."""
    from qslab.risk.models import ConsumerAlert, SearchDocument

    ranks = ranked_ids(SearchDocument.Kind.ALERT, query, private=False)
    return _ordered(ConsumerAlert.objects.visible_to(user), ranks)


def similar_incidents(user: Any, report: Any, limit: int = 10) -> list[Any]:
    """Reports like ``report``, closest first: same product category and the same hazard (or diagnosis
    when no hazard is coded) or brand; ranked by the shared coded fields and brand, then by the text
    rank of the report's own narrative words in theirs (through the search index).
    """
    from qslab.risk.models import IncidentReport

    same = Q(hazard=report.hazard_id) if report.hazard_id else Q(diagnosis=report.diagnosis_id)
    score: Any = Value(0, output_field=IntegerField())
    shared = [Q(hazard=report.hazard_id)] if report.hazard_id else []
    shared += [Q(diagnosis=report.diagnosis_id)] if report.diagnosis_id else []
    shared += [Q(brand__iexact=report.brand)] if report.brand else []
    for q in shared:
        score = score + Case(When(q, then=Value(1)), default=Value(0), output_field=IntegerField())
    candidates = list(
        IncidentReport.objects.visible_to(user)
        .filter(product_category=report.product_category_id)
        .filter(same | Q(brand__iexact=report.brand))
        .exclude(pk=report.pk)
        .annotate(shared_terms=score)
        .select_related("product_category", "hazard")
        .order_by("-shared_terms", "-pk")[: limit * 5]
    )
    bonus = _narrative_ranks(report, {c.pk for c in candidates})
    candidates.sort(key=lambda c: (-(c.shared_terms + bonus.get(c.pk, 0.0)), -c.pk))
    return candidates[:limit]


def _narrative_ranks(report: Any, pks: set[int]) -> dict[int, float]:
    """A bonus in [0, 1) for candidates whose narratives share the report's longest words."""
    text = report.description or ""
    words = {w for w in re.findall(r"[^\W\d_]{4,}", text) if not CJK.search(w)}
    runs = re.findall(CJK.pattern + "{3,}", text)
    words |= {run[i : i + 3] for run in runs for i in range(0, len(run) - 2, 3)}
    words_list = sorted(words, key=lambda w: (-len(w), w))[:6]
    if not words_list or not pks:
        return {}
    from qslab.risk.models import SearchDocument

    bonus: dict[int, float] = {}
    for word in words_list:
        for pk in ranked_ids(SearchDocument.Kind.REPORT, word, private=True):
            if pk in pks:
                bonus[pk] = bonus.get(pk, 0.0) + 0.15
    return {pk: min(b, 0.9) for pk, b in bonus.items()}


__all__ = [
    "alert_texts",
    "connect_signals",
    "index_alert",
    "index_pattern",
    "index_report",
    "rebuild",
    "search_alerts",
    "search_incidents",
    "search_patterns",
    "similar_incidents",
]
