"""Operations of the studies app. Every state change of a study goes through these functions; the
statistics are the engine's (``qslab.methods``) and are stored with the engine's name and version.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

import qslab
from qslab.accounts.roles import Role, has_role
from qslab.core.context import acting_as
from qslab.core.services import apply_transition, watch
from qslab.labs.models import Laboratory
from qslab.methods._validate import MethodInputError
from qslab.results import json_safe
from qslab.studies.models import (
    Alarm,
    Monitor,
    MonitorPoint,
    OutlierDecision,
    PrecisionExperiment,
    PrecisionValue,
    PTMeasurand,
    PTParticipant,
    PTResult,
    PTRound,
    ReferenceMaterialStudy,
    UncertaintyBudget,
    lab_managers,
    manages,
)


def engine(module: str, **config: Any) -> dict[str, Any]:
    """What produced a stored result: the engine module, the qslab version and the settings used."""
    return {"module": module, "version": qslab.__version__, "config": config}


def _require_manager(user: Any, lab: Laboratory) -> None:
    if not manages(user, lab):
        raise PermissionDenied(_("Only a manager of %(lab)s may do this.") % {"lab": lab})


def _save(obj: Any, user: Any, fields: Iterable[str]) -> None:
    with acting_as(user):
        obj.save(update_fields=[*fields, "last_updated"])


def move(user: Any, obj: Any, transition: str, reason: str = "") -> Any:
    """Take a declared workflow transition on any study object."""
    apply_transition(obj, transition, user, reason=reason)
    obj.refresh_from_db()
    return obj


# --------------------------------------------------------------------------- refusals


@dataclass
class Refused(Exception):
    """Input refused as a whole: a sentence, a code and every problem found (row and column named)."""

    message: str
    code: str = "invalid"
    errors: list[dict[str, Any]] = field(default_factory=list)

    def __str__(self) -> str:
        return self.message

    def lines(self) -> list[str]:
        out = []
        for e in self.errors:
            where = []
            if e.get("row"):
                where.append(_("row %(n)s") % {"n": e["row"]})
            if e.get("column"):
                where.append(str(e["column"]))
            out.append((", ".join(where) + ": " if where else "") + str(e["message"]))
        return out


def _number(text: Any, *, required: bool = True, positive: bool = False, non_negative: bool = False) -> Any:
    """A finite float from user input, or an error message."""
    if text is None or str(text).strip() == "":
        return None if not required else ValueError(_("a number is required"))
    try:
        value = float(str(text).strip().replace(",", "."))
    except ValueError:
        return ValueError(_("“%(text)s” is not a number") % {"text": text})
    if not math.isfinite(value):
        return ValueError(_("the number must be finite"))
    if positive and value <= 0:
        return ValueError(_("must be greater than zero"))
    if non_negative and value < 0:
        return ValueError(_("must not be negative"))
    return value


def read_csv(upload: Any) -> tuple[list[str], list[dict[str, str]]]:
    """Header and rows of an uploaded CSV (UTF-8, with or without BOM)."""
    raw = upload.read() if hasattr(upload, "read") else upload
    if isinstance(raw, bytes):
        try:
            raw = raw.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise Refused(_("The file is not UTF-8 text."), "invalid_file") from None
    reader = csv.DictReader(io.StringIO(raw))
    header = [h.strip() for h in (reader.fieldnames or [])]
    rows = [{(k or "").strip(): (v or "").strip() for k, v in row.items()} for row in reader]
    return header, rows


# --------------------------------------------------------------------------- proficiency testing

ROUND_FIELDS = ("code", "title_zh", "title_en", "description", "items_prepared", "deadline")
MEASURAND_FIELDS = (
    "name_zh",
    "name_en",
    "unit",
    "assigned_method",
    "assigned_value",
    "assigned_uncertainty",
    "sigma_method",
    "sigma_pt",
    "mass_fraction_factor",
    "homogeneity_data",
    "stability_before",
    "stability_after",
)


@transaction.atomic
def create_round(user: Any, lab: Laboratory, data: dict[str, Any]) -> PTRound:
    _require_manager(user, lab)
    with acting_as(user):
        rnd = PTRound.objects.create(laboratory=lab, **{f: data[f] for f in ROUND_FIELDS if f in data})
    watch(rnd, user)
    return rnd


@transaction.atomic
def edit_round(user: Any, rnd: PTRound, data: dict[str, Any]) -> PTRound:
    if not PTRound.objects.editable_by(user).filter(pk=rnd.pk).exists():
        raise PermissionDenied(_("Only the organiser may edit a round before it closes."))
    fields = [f for f in ROUND_FIELDS if f in data and f != "code"]
    for f in fields:
        setattr(rnd, f, data[f])
    _save(rnd, user, fields)
    return rnd


def check_measurand_items(m: PTMeasurand) -> None:
    """Homogeneity and stability of the PT items (ISO 13528 B.2, B.5), when data and sigma_pt exist."""
    from qslab.methods.proficiency import homogeneity_check, stability_check

    m.homogeneity_check = m.stability_check = None
    sigma = m.sigma_pt
    if sigma and m.homogeneity_data:
        try:
            res = homogeneity_check(m.homogeneity_data, sigma)
            m.homogeneity_check = {
                "result": json_safe(res.to_dict()),
                "engine": engine("qslab.methods.proficiency.homogeneity_check", sigma_pt=sigma),
            }
        except MethodInputError as exc:
            m.homogeneity_check = {"error": str(exc)}
    if sigma and m.stability_before and m.stability_after:
        try:
            res = stability_check(m.stability_before, m.stability_after, sigma)
            m.stability_check = {
                "result": json_safe(res.to_dict()),
                "engine": engine("qslab.methods.proficiency.stability_check", sigma_pt=sigma),
            }
        except MethodInputError as exc:
            m.stability_check = {"error": str(exc)}


@transaction.atomic
def save_measurand(
    user: Any, rnd: PTRound, data: dict[str, Any], measurand: PTMeasurand | None = None
) -> PTMeasurand:
    if not PTRound.objects.editable_by(user).filter(pk=rnd.pk, status=PTRound.Status.DRAFT).exists():
        raise PermissionDenied(_("Measurands can be changed only while the round is in preparation."))
    m = measurand or PTMeasurand(round=rnd)
    for f in MEASURAND_FIELDS:
        if f in data:
            setattr(m, f, data[f])
    check_measurand_items(m)
    with acting_as(user):
        m.save()
    return m


@transaction.atomic
def register_participant(
    user: Any, rnd: PTRound, *, laboratory: Laboratory | None = None, organisation: Any = None
) -> PTParticipant:
    """Register a laboratory (by one of its managers) or the user's own organisation in an open round."""
    from qslab.core.models import Deadline
    from qslab.core.services import _content_type

    if rnd.status != PTRound.Status.OPEN:
        raise Refused(_("Registration is possible only while the round is open."), "wrong_state")
    if laboratory is not None:
        if not manages(user, laboratory):
            raise PermissionDenied(_("Only a manager of %(lab)s may register it.") % {"lab": laboratory})
        if laboratory.pk == rnd.laboratory_id:
            raise Refused(_("The organising laboratory cannot take part in its own round."), "organiser")
        exists = rnd.participants.filter(laboratory=laboratory).exists()
    else:
        if organisation is None or getattr(user, "organisation_id", None) != organisation.pk:
            raise PermissionDenied(_("You may register only your own organisation."))
        exists = rnd.participants.filter(organisation=organisation).exists()
    if exists:
        raise Refused(_("This participant is already registered in the round."), "already_registered")
    last = PTParticipant.objects.select_for_update().filter(round=rnd).count()
    with acting_as(user):
        p = PTParticipant.objects.create(
            round=rnd,
            code=f"P{last + 1:02d}",
            laboratory=laboratory,
            organisation=organisation if laboratory is None else None,
            contact=user,
        )
    Deadline.objects.create(
        content_type=_content_type(p),
        object_id=str(p.pk),
        label_en=f"Submit results to PT round {rnd.code}",
        label_zh=f"向能力验证 {rnd.code} 提交结果",
        due=rnd.deadline,
        assignee=user,
    )
    return p


def _resolve_measurand(rnd_measurands: Sequence[PTMeasurand], key: str) -> PTMeasurand | None:
    key = key.strip()
    for m in rnd_measurands:
        if key in (str(m.pk), m.name_en, m.name_zh):
            return m
    return None


RESULT_COLUMNS = ("measurand", "value", "u", "k")


def validate_results(rnd: PTRound, rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Check every row; return clean rows or raise :class:`Refused` listing all problems at once.

    A row names the ``measurand`` (its id or its English or Chinese name), the ``value``, the
    standard uncertainty ``u`` and optionally the coverage factor ``k`` (default 2), and ``method``.
    """
    measurands = list(rnd.measurands.all())
    errors: list[dict[str, Any]] = []
    clean: list[dict[str, Any]] = []
    seen: dict[int, int] = {}
    if not rows:
        raise Refused(_("No results were given."), "empty")
    for i, row in enumerate(rows, start=1):
        row_errors = []
        m = _resolve_measurand(measurands, str(row.get("measurand", "")))
        if m is None:
            names = ", ".join(x.name_en for x in measurands)
            row_errors.append(
                {
                    "row": i,
                    "column": "measurand",
                    "message": _("unknown measurand “%(m)s” (this round has: %(names)s)")
                    % {"m": row.get("measurand", ""), "names": names},
                }
            )
        elif m.pk in seen:
            row_errors.append(
                {
                    "row": i,
                    "column": "measurand",
                    "message": _("%(m)s is given twice (also in row %(other)d)")
                    % {"m": m.name_en, "other": seen[m.pk]},
                }
            )
        values = {}
        for column, kwargs in (
            ("value", {}),
            ("u", {"non_negative": True}),
            ("k", {"required": False, "positive": True}),
        ):
            v = _number(row.get(column), **kwargs)
            if isinstance(v, ValueError):
                row_errors.append({"row": i, "column": column, "message": str(v)})
            values[column] = v
        if values.get("u") == 0:
            row_errors.append(
                {"row": i, "column": "u", "message": _("a standard uncertainty of zero is not credible")}
            )
        if row_errors:
            errors.extend(row_errors)
            continue
        assert m is not None
        seen[m.pk] = i
        k = values["k"] or 2.0
        clean.append(
            {
                "measurand": m,
                "value": values["value"],
                "standard_uncertainty": values["u"],
                "expanded_uncertainty": k * values["u"],
                "method_note": str(row.get("method", "") or "")[:200],
            }
        )
    if errors:
        raise Refused(
            _("%(n)d problems found; nothing was saved.") % {"n": len(errors)}, "invalid_results", errors
        )
    return clean


def parse_results_csv(rnd: PTRound, upload: Any) -> list[dict[str, Any]]:
    header, rows = read_csv(upload)
    missing = [c for c in ("measurand", "value", "u") if c not in header]
    if missing:
        raise Refused(
            _("The file needs the columns measurand, value, u (and optionally k, method); missing: %(cols)s.")
            % {"cols": ", ".join(missing)},
            "invalid_file",
        )
    return rows


@transaction.atomic
def submit_results(
    user: Any, participant: PTParticipant, rows: Sequence[dict[str, Any]], channel: str = "form"
) -> list[PTResult]:
    """Store a participant's results, all or none; late or malformed submissions are refused."""
    rnd = PTRound.objects.select_for_update().get(pk=participant.round_id)
    if not participant.spoken_for_by(user):
        raise PermissionDenied(_("You do not speak for this participant."))
    today = timezone.localdate()
    if rnd.status != PTRound.Status.OPEN:
        raise Refused(
            _("The round is “%(state)s”: results are no longer accepted.")
            % {"state": rnd.workflow.state(rnd.status).label},
            "closed",
        )
    if today > rnd.deadline:
        raise Refused(
            _("The deadline was %(deadline)s; results submitted on %(today)s are late and refused.")
            % {"deadline": rnd.deadline, "today": today},
            "late",
        )
    clean = validate_results(rnd, rows)
    saved = []
    with acting_as(user):
        for row in clean:
            result, _created = PTResult.objects.update_or_create(
                participant=participant,
                measurand=row["measurand"],
                defaults={
                    "value": row["value"],
                    "standard_uncertainty": row["standard_uncertainty"],
                    "expanded_uncertainty": row["expanded_uncertainty"],
                    "method_note": row["method_note"],
                    "submitted_at": timezone.now(),
                    "submitted_by": user,
                    "channel": channel,
                },
            )
            saved.append(result)
    if participant.results.count() >= rnd.measurands.count():
        from qslab.core.models import Deadline
        from qslab.core.services import _content_type

        Deadline.objects.filter(
            content_type=_content_type(participant), object_id=str(participant.pk), done_at__isnull=True
        ).update(done_at=timezone.now())
    return saved


def _sigma_pt(m: PTMeasurand, x_pt: float, values: np.ndarray) -> float:
    from qslab.methods.proficiency import algorithm_a, sigma_pt_horwitz

    if m.sigma_method == PTMeasurand.SigmaMethod.HORWITZ:
        factor = float(m.mass_fraction_factor or 0)
        return float(sigma_pt_horwitz(x_pt * factor)) / factor
    if m.sigma_method == PTMeasurand.SigmaMethod.ROBUST:
        return algorithm_a(values).s_star
    return float(m.sigma_pt or 0)


def score_measurand(m: PTMeasurand) -> dict[str, Any] | None:
    """Assigned value, sigma_pt and z, z', zeta, E_n for one measurand (ISO 13528), stored as given."""
    from qslab.methods.proficiency import assigned_value, pt_scores

    results = list(m.results.select_related("participant").order_by("participant__code"))
    if not results:
        m.evaluation = None
        m.save(update_fields=["evaluation", "last_updated"])
        return None
    x = np.array([r.value for r in results])
    u = np.array([r.standard_uncertainty for r in results])
    big_u = np.array([r.expanded_uncertainty for r in results])
    codes = [r.participant.code for r in results]
    try:
        if m.assigned_method == PTMeasurand.AssignedMethod.CONSENSUS:
            av = assigned_value("consensus", results=x)
        else:
            av = assigned_value(m.assigned_method, value=m.assigned_value, uncertainty=m.assigned_uncertainty)
        sigma = _sigma_pt(m, av.x_pt, x)
        scores = pt_scores(
            x,
            av.x_pt,
            sigma_pt=sigma,
            u_x_pt=av.u_x_pt,
            u_results=u,
            expanded_results=big_u,
            participants=codes,
        )
    except MethodInputError as exc:
        m.evaluation = {"error": str(exc)}
        m.save(update_fields=["evaluation", "last_updated"])
        return m.evaluation
    data = json_safe(scores.to_dict())
    m.evaluation = {
        "assigned": json_safe(av.to_dict()),
        "sigma_pt": sigma,
        "scores": data,
        "engine": engine(
            "qslab.methods.proficiency.pt_scores",
            assigned_method=m.assigned_method,
            sigma_method=m.sigma_method,
            sigma_pt=m.sigma_pt,
            mass_fraction_factor=m.mass_fraction_factor,
        ),
        "scored_at": timezone.now().isoformat(),
    }
    m.save(update_fields=["evaluation", "last_updated"])
    for i, r in enumerate(results):
        r.scores = {
            key: data[key][i]
            for key in ("z", "z_prime", "zeta", "e_n", "z_class", "z_prime_class", "zeta_class", "e_n_class")
        }
        r._skip_change_record = True
        r.save(update_fields=["scores", "last_updated"])
    return m.evaluation


def score_round(rnd: PTRound) -> None:
    """Score every measurand of the round (called by the ``score`` transition)."""
    for m in rnd.measurands.all():
        score_measurand(m)


# --------------------------------------------------------------------------- precision experiments

EXPERIMENT_FIELDS = (
    "code",
    "title_zh",
    "title_en",
    "standard_reference",
    "unit",
    "levels",
    "n_labs",
    "replicates",
)


@transaction.atomic
def create_experiment(user: Any, lab: Laboratory, data: dict[str, Any]) -> PrecisionExperiment:
    _require_manager(user, lab)
    with acting_as(user):
        study = PrecisionExperiment.objects.create(
            laboratory=lab, **{f: data[f] for f in EXPERIMENT_FIELDS if f in data}
        )
    watch(study, user)
    return study


@transaction.atomic
def edit_experiment(user: Any, study: PrecisionExperiment, data: dict[str, Any]) -> PrecisionExperiment:
    _require_manager(user, study.laboratory)
    if study.status != "design":
        raise Refused(_("The design can be changed only before data collection starts."), "wrong_state")
    fields = [f for f in EXPERIMENT_FIELDS if f in data and f != "code"]
    for f in fields:
        setattr(study, f, data[f])
    _save(study, user, fields)
    return study


def validate_precision_rows(study: PrecisionExperiment, rows: Sequence[dict[str, Any]]) -> list[dict]:
    """Rows ``level, lab, replicate, value``; every problem is reported at once."""
    errors: list[dict[str, Any]] = []
    clean = []
    seen: dict[tuple[str, str, int], int] = {}
    levels = [str(v) for v in study.levels]
    if not rows:
        raise Refused(_("No test results were given."), "empty")
    for i, row in enumerate(rows, start=1):
        row_errors = []
        level = str(row.get("level", "")).strip()
        lab = str(row.get("lab", "")).strip()
        if level not in levels:
            row_errors.append(
                {
                    "row": i,
                    "column": "level",
                    "message": _("unknown level “%(level)s” (the design has: %(levels)s)")
                    % {"level": level, "levels": ", ".join(levels)},
                }
            )
        if not lab:
            row_errors.append({"row": i, "column": "lab", "message": _("the laboratory code is missing")})
        rep_text = str(row.get("replicate", "")).strip()
        replicate = int(rep_text) if rep_text.isdigit() else 0
        if not 1 <= replicate <= study.replicates:
            row_errors.append(
                {
                    "row": i,
                    "column": "replicate",
                    "message": _("replicate must be a whole number from 1 to %(n)d")
                    % {"n": study.replicates},
                }
            )
        value = _number(row.get("value"))
        if isinstance(value, ValueError):
            row_errors.append({"row": i, "column": "value", "message": str(value)})
        key = (level, lab, replicate)
        if not row_errors and key in seen:
            row_errors.append(
                {
                    "row": i,
                    "column": "replicate",
                    "message": _("this cell and replicate is also in row %(other)d") % {"other": seen[key]},
                }
            )
        if row_errors:
            errors.extend(row_errors)
            continue
        seen[key] = i
        clean.append({"level": level, "lab_code": lab, "replicate": replicate, "value": value})
    labs = {r["lab_code"] for r in clean}
    if not errors and len(labs) > study.n_labs:
        errors.append(
            {
                "row": None,
                "column": "lab",
                "message": _("%(n)d laboratories in the data, the design has %(design)d")
                % {"n": len(labs), "design": study.n_labs},
            }
        )
    if errors:
        raise Refused(
            _("%(n)d problems found; nothing was saved.") % {"n": len(errors)}, "invalid_results", errors
        )
    return clean


@transaction.atomic
def import_precision_values(user: Any, study: PrecisionExperiment, rows: Sequence[dict[str, Any]]) -> int:
    """Replace the experiment's test results with ``rows`` (all or nothing)."""
    _require_manager(user, study.laboratory)
    if study.status != "collecting":
        raise Refused(_("Test results can be entered only while data are being collected."), "wrong_state")
    clean = validate_precision_rows(study, rows)
    study.values.all().delete()
    PrecisionValue.objects.bulk_create(PrecisionValue(experiment=study, **r) for r in clean)
    _save(study, user, [])
    return len(clean)


def precision_design_gaps(study: PrecisionExperiment) -> list[str]:
    counts: dict[str, set[str]] = {}
    for level, lab in study.values.values_list("level", "lab_code"):
        counts.setdefault(level, set()).add(lab)
    return [str(lv) for lv in study.levels if len(counts.get(str(lv), ())) < 2]


def _precision(values: Sequence[PrecisionValue]) -> Any:
    from qslab.methods.precision import precision_study

    return precision_study([v.value for v in values], [v.lab_code for v in values], [v.level for v in values])


FLAG_TESTS = ("cochran", "grubbs_single", "grubbs_double")


def analyse_precision(study: PrecisionExperiment) -> None:
    """Outlier tests and Mandel's statistics on all data; each flagged cell waits for a decision."""
    values = list(study.values.all())
    result = _precision(values)
    study.analysis = {"result": json_safe(result.to_dict()), "engine": engine("qslab.methods.precision")}
    study.estimates = None
    study.save(update_fields=["analysis", "estimates", "last_updated"])
    study.decisions.all().delete()
    flagged: dict[tuple[str, str, str], tuple[float, str]] = {}
    for lv in result.levels:
        outcomes = []
        if lv.cochran is not None:
            outcomes.append(("cochran", lv.cochran))
        for name in ("grubbs_single", "grubbs_double"):
            for o in getattr(lv, name) or ():
                outcomes.append((name, o))
        for name, o in outcomes:
            if o.verdict in ("straggler", "outlier"):
                for lab in [s.strip() for s in o.lab.split(",") if s.strip()]:
                    flagged[(lv.level, lab, name)] = (o.statistic, o.verdict)
        for stat, indicators, key in (
            (lv.mandel_h, lv.mandel_h_indicators, "mandel_h"),
            (lv.mandel_k, lv.mandel_k_indicators, "mandel_k"),
        ):
            for lab, value in zip(lv.labs, stat, strict=True):
                if not np.isfinite(value):
                    continue
                a = abs(value) if key == "mandel_h" else value
                if a > indicators.get("1%", np.inf):
                    flagged[(lv.level, lab, key)] = (float(value), "outlier")
                elif a > indicators.get("5%", np.inf):
                    flagged[(lv.level, lab, key)] = (float(value), "straggler")
    OutlierDecision.objects.bulk_create(
        OutlierDecision(experiment=study, level=lv, lab_code=lab, test=t, statistic=s, verdict=v)
        for (lv, lab, t), (s, v) in sorted(flagged.items())
    )


@transaction.atomic
def decide_outlier(user: Any, decision: OutlierDecision, choice: str, reason: str) -> OutlierDecision:
    study = decision.experiment
    if not (manages(user, study.laboratory) or has_role(user, Role.OFFICE)):
        raise PermissionDenied(_("Only the study's organiser or the committee office decides on outliers."))
    if study.status != "analysed":
        raise Refused(_("Decisions are recorded while the outliers are under review."), "wrong_state")
    if choice not in (OutlierDecision.Decision.RETAIN, OutlierDecision.Decision.EXCLUDE):
        raise Refused(_("Choose “retain” or “exclude”."), "invalid")
    if not reason.strip():
        raise Refused(_("Give the technical reason for the decision."), "reason_required")
    decision.decision = choice
    decision.reason = reason.strip()
    decision.decided_by = user
    decision.decided_at = timezone.now()
    with acting_as(user, reason):
        decision.save(update_fields=["decision", "reason", "decided_by", "decided_at", "last_updated"])
    return decision


def finalise_precision(study: PrecisionExperiment) -> None:
    """Precision estimates without the cells the office excluded (ISO 5725-2 7.3)."""
    excluded = set(
        study.decisions.filter(decision=OutlierDecision.Decision.EXCLUDE).values_list("level", "lab_code")
    )
    values = [v for v in study.values.all() if (v.level, v.lab_code) not in excluded]
    try:
        result = _precision(values)
    except MethodInputError as exc:
        from qslab.core.workflow import TransitionRefused

        raise TransitionRefused(str(exc), TransitionRefused.GUARD) from exc
    study.estimates = {
        "result": json_safe(result.to_dict()),
        "excluded_cells": sorted([list(c) for c in excluded]),
        "engine": engine("qslab.methods.precision", excluded_cells=sorted([list(c) for c in excluded])),
    }
    study.save(update_fields=["estimates", "last_updated"])


# --------------------------------------------------------------------------- uncertainty budgets


def parse_spec(text: str) -> Any:
    """Validate a YAML budget; raise :class:`Refused` with the engine's message naming the key."""
    import yaml

    from qslab.methods.budgetfile import parse_budget

    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = (
            _(" at line %(line)d, column %(col)d") % {"line": mark.line + 1, "col": mark.column + 1}
            if mark
            else ""
        )
        raise Refused(
            _("The budget is not valid YAML%(where)s.") % {"where": where}, "invalid_yaml"
        ) from None
    try:
        return parse_budget(data)
    except MethodInputError as exc:
        raise Refused(str(exc), "invalid_budget", [{"column": "spec", "message": str(exc)}]) from None


BUDGET_FIELDS = ("name_zh", "name_en", "spec", "method", "is_template", "report_reference")


@transaction.atomic
def create_budget(user: Any, lab: Laboratory, data: dict[str, Any]) -> UncertaintyBudget:
    _require_manager(user, lab)
    parse_spec(data["spec"])
    with acting_as(user):
        return UncertaintyBudget.objects.create(
            laboratory=lab, **{f: data[f] for f in BUDGET_FIELDS if f in data}
        )


@transaction.atomic
def revise_budget(user: Any, budget: UncertaintyBudget, data: dict[str, Any]) -> UncertaintyBudget:
    """A new version: the old one is kept unchanged (with its evaluation) and marked superseded."""
    if not UncertaintyBudget.objects.editable_by(user).filter(pk=budget.pk).exists():
        raise PermissionDenied(_("Only the current version of your laboratory's budget can be revised."))
    parse_spec(data.get("spec", budget.spec))
    budget.is_current = False
    _save(budget, user, ["is_current"])
    with acting_as(user):
        return UncertaintyBudget.objects.create(
            laboratory=budget.laboratory,
            version=budget.version + 1,
            previous=budget,
            **{f: data.get(f, getattr(budget, f)) for f in BUDGET_FIELDS},
        )


@transaction.atomic
def copy_budget(user: Any, template: UncertaintyBudget, lab: Laboratory) -> UncertaintyBudget:
    """Reuse a template (or any visible budget) as version 1 of a new budget of ``lab``."""
    _require_manager(user, lab)
    with acting_as(user):
        return UncertaintyBudget.objects.create(
            laboratory=lab,
            name_zh=template.name_zh,
            name_en=template.name_en,
            spec=template.spec,
            method=template.method,
        )


MAX_TRIALS = 200_000


@transaction.atomic
def evaluate_budget(user: Any, budget: UncertaintyBudget, method: str | None = None) -> UncertaintyBudget:
    """Evaluate by GUF or MCM (trials capped for the web) and store the result with its settings."""
    if not UncertaintyBudget.objects.editable_by(user).filter(pk=budget.pk).exists():
        raise PermissionDenied(_("Only the current version of your laboratory's budget can be evaluated."))
    spec = parse_spec(budget.spec)
    how = (method or budget.method).upper()
    trials = min(spec.trials, MAX_TRIALS)
    seed = spec.seed if spec.seed is not None else 1
    try:
        result = spec.evaluate(method=how, trials=trials, seed=seed, adaptive=False)
    except MethodInputError as exc:
        raise Refused(str(exc), "invalid_budget") from None
    budget.method = how
    budget.result = {
        "result": json_safe(result.to_dict()),
        "summary": result.summary(),
        "engine": engine("qslab.methods.budgetfile", method=how, trials=trials, seed=seed),
    }
    budget.evaluated_at = timezone.now()
    _save(budget, user, ["method", "result", "evaluated_at"])
    return budget


# --------------------------------------------------------------------------- reference materials

RM_FIELDS = (
    "code",
    "name_zh",
    "name_en",
    "property_name",
    "unit",
    "homogeneity_data",
    "stability_times",
    "stability_values",
    "shelf_life",
    "characterisation_means",
    "coverage_factor",
)


@transaction.atomic
def save_reference_material(
    user: Any, lab: Laboratory, data: dict[str, Any], study: ReferenceMaterialStudy | None = None
) -> ReferenceMaterialStudy:
    _require_manager(user, lab)
    if study is not None and study.status != "draft":
        raise Refused(_("The data can be changed only before evaluation."), "wrong_state")
    study = study or ReferenceMaterialStudy(laboratory=lab)
    for f in RM_FIELDS:
        if f in data and not (f == "code" and study.pk):
            setattr(study, f, data[f])
    with acting_as(user):
        study.save()
    return study


def evaluate_reference_material(study: ReferenceMaterialStudy) -> None:
    from qslab.core.workflow import TransitionRefused
    from qslab.methods import refmaterials as rm

    try:
        char = rm.characterisation(study.characterisation_means)
        hom = rm.homogeneity(study.homogeneity_data) if study.homogeneity_data else None
        stab = (
            rm.stability(study.stability_times, study.stability_values, shelf_life=study.shelf_life)
            if study.stability_times
            else None
        )
        cert = rm.certified_uncertainty(
            char.value,
            u_char=char.u_char,
            u_bb=hom.u_bb if hom else 0.0,
            u_lts=(stab.u_lts or 0.0) if stab else 0.0,
            coverage_factor=study.coverage_factor,
        )
    except MethodInputError as exc:
        raise TransitionRefused(str(exc), TransitionRefused.GUARD) from exc
    study.result = {
        "characterisation": json_safe(char.to_dict()),
        "homogeneity": json_safe(hom.to_dict()) if hom else None,
        "stability": json_safe(stab.to_dict()) if stab else None,
        "certified": json_safe(cert.to_dict()),
        "engine": engine("qslab.methods.refmaterials", coverage_factor=study.coverage_factor),
    }
    study.save(update_fields=["result", "last_updated"])


def issue_rm_certificate(study: ReferenceMaterialStudy, user: Any) -> None:
    from qslab.core.documents import issue_document

    cert = study.result["certified"]
    value = f"{cert['value']:.6g} ± {cert['expanded_uncertainty']:.2g} {study.unit}"
    value += f" (k = {cert['coverage_factor']:g})"
    study.certificate = issue_document(
        kind_code="rm_certificate",
        title_zh=f"标准物质定值证书：{study.name_zh}",
        title_en=f"Reference material certificate: {study.name_en}",
        body_zh=f"{study.name_zh}（{study.code}）{study.property_name} 的认定值为 {value}。",
        body_en=f"The certified value of {study.property_name} in {study.name_en} ({study.code}) is {value}.",
        issued_by=user,
        public=False,
        subject=study,
        recipients=list({user, *lab_managers(study.laboratory)}),
    )
    study.save(update_fields=["certificate", "last_updated"])


# --------------------------------------------------------------------------- SPC monitors

MONITOR_FIELDS = (
    "name_zh",
    "name_en",
    "client",
    "characteristic",
    "unit",
    "chart",
    "subgroup_size",
    "rules",
    "phase_one_points",
    "center",
    "sigma",
    "lsl",
    "usl",
    "active",
)
WINDOW = 15  # the longest run rule (Nelson 15 within 1 sigma) looks back 15 points


@transaction.atomic
def save_monitor(user: Any, lab: Laboratory, data: dict[str, Any], monitor: Monitor | None = None) -> Monitor:
    _require_manager(user, lab)
    monitor = monitor or Monitor(laboratory=lab)
    for f in MONITOR_FIELDS:
        if f in data:
            setattr(monitor, f, data[f])
    if monitor.chart == Monitor.Chart.I:
        monitor.subgroup_size = 1
    if monitor.has_limits:
        monitor.limits = monitor.limits or {"source": "entered"}
        monitor.limits_set_at = monitor.limits_set_at or timezone.now()
    with acting_as(user):
        monitor.save()
    return monitor


def _chart_data(monitor: Monitor, values: Sequence[Any]) -> Any:
    if monitor.chart == Monitor.Chart.XBAR:
        return [list(v) for v in values]
    return [float(v[0]) if isinstance(v, list) else float(v) for v in values]


def _clean_points(monitor: Monitor, points: Sequence[Any]) -> list[list[float]]:
    """Each point as a list of floats of the monitor's subgroup size; every problem reported."""
    errors = []
    clean = []
    n = monitor.subgroup_size if monitor.chart == Monitor.Chart.XBAR else 1
    for i, p in enumerate(points, start=1):
        raw = p if isinstance(p, (list, tuple)) else [p]
        nums = [_number(v) for v in raw]
        bad = [v for v in nums if isinstance(v, ValueError)]
        if bad:
            errors.append({"row": i, "column": "values", "message": str(bad[0])})
        elif len(nums) != n:
            errors.append(
                {
                    "row": i,
                    "column": "values",
                    "message": _("expected %(n)d values per point, got %(got)d") % {"n": n, "got": len(nums)},
                }
            )
        else:
            clean.append([float(v) for v in nums])
    if not points:
        raise Refused(_("No measurements were given."), "empty")
    if errors:
        raise Refused(
            _("%(n)d problems found; nothing was saved.") % {"n": len(errors)}, "invalid_points", errors
        )
    return clean


def _evaluate(monitor: Monitor, history: list[list[float]], new: list[list[float]]) -> list[list[str]]:
    """Signals of each new point against the monitor's limits and run rules (engine: control_chart)."""
    from qslab.methods.spc import control_chart

    if not monitor.has_limits:
        return [[] for _ in new]
    window = history[-(WINDOW - 1) :] + new
    chart = (
        control_chart(
            monitor.chart,
            _chart_data(monitor, window),
            center=monitor.center,
            sigma=monitor.sigma,
            rules=monitor.rules,
        )
        if len(window) >= 2 or monitor.chart == Monitor.Chart.XBAR
        else None
    )
    if chart is None:  # a single individual value: only the limits apply
        x = window[0][0]
        lo, hi = monitor.center - 3 * monitor.sigma, monitor.center + 3 * monitor.sigma
        return [["beyond_3sigma"] if not lo <= x <= hi else []]
    offset = len(window) - len(new)
    out = []
    for j in range(len(new)):
        i = offset + j
        out.append(sorted(rule for rule, flags in chart.violations.items() if bool(flags[i])))
    return out


def set_limits(user: Any, monitor: Monitor) -> Monitor:
    """Phase I limits from the points so far (revised after removing out-of-control points)."""
    _require_manager(user, monitor.laboratory)
    return _phase_one(monitor, user)


def _phase_one(monitor: Monitor, user: Any) -> Monitor:
    from qslab.methods.spc import phase_one

    values = [p.values for p in monitor.points.all()]
    if len(values) < 2:
        raise Refused(_("Phase I limits need at least two points."), "too_few_points")
    try:
        result = phase_one(monitor.chart, _chart_data(monitor, values), rules=None)
    except MethodInputError as exc:
        raise Refused(str(exc), "phase_one_failed") from None
    chart = result.chart
    monitor.center = chart.center_value
    monitor.sigma = chart.sigma
    monitor.limits = {
        "result": json_safe(
            {
                "center": chart.center_value,
                "sigma": chart.sigma,
                "lcl": float(chart.lcl[0]),
                "ucl": float(chart.ucl[0]),
                "points": len(values),
                "removed": [list(r) for r in result.removed_per_iteration],
            }
        ),
        "engine": engine("qslab.methods.spc.phase_one", chart=monitor.chart, points=len(values)),
    }
    monitor.limits_set_at = timezone.now()
    _save(monitor, user, ["center", "sigma", "limits", "limits_set_at"])
    return monitor


@transaction.atomic
def record_points(
    user: Any, monitor: Monitor, points: Sequence[Any], source: str = "form"
) -> list[MonitorPoint]:
    """Add measurements, evaluate each at once, and raise an alarm for every signal."""
    if not manages(user, monitor.laboratory):
        raise PermissionDenied(
            _("Only a manager of %(lab)s may post measurements.") % {"lab": monitor.laboratory}
        )
    if not monitor.active:
        raise Refused(_("This monitor is not active."), "inactive")
    clean = _clean_points(monitor, points)
    laboratory = monitor.laboratory
    monitor = Monitor.objects.select_for_update().get(pk=monitor.pk)
    monitor.laboratory = laboratory
    # one query gives the last sequence number and the window of recent points
    recent = list(monitor.points.order_by("-seq").values_list("seq", "values")[: WINDOW - 1])
    last = recent[0][0] if recent else 0
    history = [values for _, values in reversed(recent)]
    signals = _evaluate(monitor, history, clean)
    now = timezone.now()
    rows = [
        MonitorPoint(
            monitor=monitor,
            seq=last + i + 1,
            time=now,
            values=v,
            statistic=float(np.mean(v)),
            signals=s,
            source=source,
        )
        for i, (v, s) in enumerate(zip(clean, signals, strict=True))
    ]
    MonitorPoint.objects.bulk_create(rows)
    if rows and rows[0].pk is None:  # backends without RETURNING: read the ids back
        rows = list(monitor.points.filter(seq__gt=last).order_by("seq"))
    alarms = [Alarm(monitor=monitor, point=p, signals=p.signals) for p in rows if p.signals]
    if alarms:
        Alarm.objects.bulk_create(alarms)
        from qslab.core.notifications import notify

        managers = lab_managers(monitor.laboratory)
        for a in alarms[:5]:
            notify(
                managers,
                verb="spc_alarm",
                text_en=f"{monitor.name_en}: point {a.point.seq} signals {', '.join(a.signals)}",
                text_zh=f"{monitor.name_zh}：第 {a.point.seq} 点触发 {', '.join(a.signals)}",
                obj=monitor,
            )
    if not monitor.has_limits and last + len(rows) >= monitor.phase_one_points:
        _phase_one(monitor, user)
    return rows


@transaction.atomic
def explain_alarm(user: Any, alarm: Alarm, cause: str, corrective_action: str, assignee: Any = None) -> Alarm:
    if not Alarm.objects.editable_by(user).filter(pk=alarm.pk).exists():
        raise PermissionDenied(_("Only a manager of the monitor's laboratory may work on its alarms."))
    alarm.cause = cause.strip()
    alarm.corrective_action = corrective_action.strip()
    fields = ["cause", "corrective_action"]
    if assignee is not None:
        alarm.assignee = assignee
        fields.append("assignee")
    _save(alarm, user, fields)
    return alarm


def capability(monitor: Monitor) -> Any:
    """Process capability on the points since the limits were set (on demand, not stored)."""
    from qslab.methods.spc import process_capability

    if monitor.lsl is None and monitor.usl is None:
        return None
    values = [v for p in monitor.points.all() for v in p.values]
    if len(values) < 2 or monitor.sigma is None:
        return None
    try:
        return process_capability(np.asarray(values), lsl=monitor.lsl, usl=monitor.usl, sigma=monitor.sigma)
    except (MethodInputError, TypeError):
        return None
