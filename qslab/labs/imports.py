"""Bulk import of organisations and laboratories from CSV or XLSX: every row is checked, every problem
is reported with its row and column at once, and either all rows are saved or none (a dry run checks
and rolls back)."""

from __future__ import annotations

import csv
import dataclasses
import io
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils.translation import gettext as _

from qslab.accounts.models import Organisation
from qslab.accounts.roles import Role, has_role
from qslab.core.context import acting_as
from qslab.labs.models import IndustryChain, KeyField, Laboratory, ResearchPriority
from qslab.labs.xlsx import XlsxError, read_xlsx

COLUMNS = {
    "organisations": {
        "required": ("name_zh", "name_en", "uscc", "kind", "region_code"),
        "optional": ("website",),
    },
    "laboratories": {
        "required": ("code", "name_zh", "name_en", "supporting_uscc", "region_code"),
        "optional": (
            "prefecture_code",
            "fields",
            "priorities",
            "industry_chains",
            "direction",
            "director_name",
            "contact_email",
            "website",
        ),
    },
}


@dataclasses.dataclass(frozen=True)
class RowError:
    row: int  # spreadsheet row number: the header is row 1
    column: str
    message: str

    def __str__(self) -> str:
        return _("row %(row)d, column “%(column)s”: %(message)s") % {
            "row": self.row,
            "column": self.column,
            "message": self.message,
        }

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


class ImportFailed(Exception):
    def __init__(self, errors: list[RowError]):
        super().__init__(f"{len(errors)} problem(s)")
        self.errors = errors


@dataclasses.dataclass(frozen=True)
class ImportResult:
    kind: str
    dry_run: bool
    rows: int
    created: list[str]


def read_table(filename: str, content: bytes) -> list[list[str]]:
    """Rows (header first) of a CSV (UTF-8, with or without BOM) or XLSX file."""
    if filename.lower().endswith(".xlsx"):
        try:
            return read_xlsx(content)
        except XlsxError as exc:
            raise ImportFailed([RowError(0, "", str(exc))]) from exc
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ImportFailed([RowError(0, "", _("The CSV file is not UTF-8 text."))]) from exc
    return [row for row in csv.reader(io.StringIO(text))]


def _records(kind: str, table: list[list[str]]) -> tuple[list[tuple[int, dict[str, str]]], list[RowError]]:
    if not table:
        return [], [RowError(1, "", _("The file is empty."))]
    header = [h.strip() for h in table[0]]
    spec = COLUMNS[kind]
    errors = [
        RowError(1, col, _("this required column is missing"))
        for col in spec["required"]
        if col not in header
    ]
    unknown = [h for h in header if h and h not in (*spec["required"], *spec["optional"])]
    errors += [RowError(1, col, _("unknown column")) for col in unknown]
    records = []
    for n, row in enumerate(table[1:], start=2):
        if not any(cell.strip() for cell in row):
            continue
        records.append((n, {h: (row[i].strip() if i < len(row) else "") for i, h in enumerate(header) if h}))
    if not records and not errors:
        errors.append(RowError(2, "", _("The file has a header but no rows.")))
    return records, errors


def _field_errors(n: int, exc: ValidationError) -> list[RowError]:
    if hasattr(exc, "error_dict"):
        return [RowError(n, field, " ".join(msgs)) for field, msgs in exc.message_dict.items()]
    return [RowError(n, "", " ".join(exc.messages))]


def _import_organisations(records: list[tuple[int, dict[str, str]]]) -> tuple[list[str], list[RowError]]:
    errors: list[RowError] = []
    created = []
    seen: dict[str, int] = {}
    for n, rec in records:
        row_errors = []
        for col in COLUMNS["organisations"]["required"]:
            if not rec.get(col):
                row_errors.append(RowError(n, col, _("this value is required")))
        if rec.get("uscc") in seen:
            row_errors.append(
                RowError(n, "uscc", _("the same code is on row %(row)d") % {"row": seen[rec["uscc"]]})
            )
        seen.setdefault(rec.get("uscc", ""), n)
        org = Organisation(
            **{k: v for k, v in rec.items() if k in COLUMNS["organisations"]["required"] + ("website",)}
        )
        try:
            org.clean()
            org.full_clean()
        except ValidationError as exc:
            row_errors += [e for e in _field_errors(n, exc) if e.column not in {r.column for r in row_errors}]
        if row_errors:
            errors += row_errors
            continue
        org.save()
        created.append(org.uscc)
    return created, errors


def _split(value: str) -> list[str]:
    return [v.strip() for v in value.replace("；", ";").replace(",", ";").split(";") if v.strip()]


def _import_laboratories(records: list[tuple[int, dict[str, str]]]) -> tuple[list[str], list[RowError]]:
    from qslab.labs.services import _check_naming, _check_prefecture

    vocab = {
        "fields": {f.code: f for f in KeyField.objects.all()},
        "priorities": {p.code: p for p in ResearchPriority.objects.all()},
        "industry_chains": {c.code: c for c in IndustryChain.objects.all()},
    }
    errors: list[RowError] = []
    created = []
    seen: dict[str, int] = {}
    for n, rec in records:
        row_errors = []
        for col in COLUMNS["laboratories"]["required"]:
            if not rec.get(col):
                row_errors.append(RowError(n, col, _("this value is required")))
        code = rec.get("code", "")
        if code in seen:
            row_errors.append(RowError(n, "code", _("the same code is on row %(row)d") % {"row": seen[code]}))
        seen.setdefault(code, n)
        institution = None
        if rec.get("supporting_uscc"):
            institution = Organisation.objects.filter(uscc=rec["supporting_uscc"].upper()).first()
            if institution is None:
                row_errors.append(
                    RowError(
                        n,
                        "supporting_uscc",
                        _("no organisation has the code %(code)s") % {"code": rec["supporting_uscc"]},
                    )
                )
        related: dict[str, list[Any]] = {}
        for col, terms in vocab.items():
            codes = _split(rec.get(col, ""))
            unknown = [c for c in codes if c not in terms]
            if unknown:
                row_errors.append(
                    RowError(n, col, _("unknown codes: %(codes)s") % {"codes": ", ".join(unknown)})
                )
            related[col] = [terms[c] for c in codes if c in terms]
        data = {
            k: rec.get(k, "")
            for k in (
                "code",
                "name_zh",
                "name_en",
                "region_code",
                "prefecture_code",
                "direction",
                "director_name",
                "contact_email",
                "website",
            )
        }
        try:
            _check_naming(data)
            _check_prefecture(data["region_code"], data["prefecture_code"])
        except ValidationError as exc:
            row_errors += _field_errors(n, exc)
        lab = Laboratory(supporting_institution=institution, **data)
        try:
            lab.full_clean(exclude=["status", "supporting_institution"])
        except ValidationError as exc:
            taken = {r.column for r in row_errors}
            row_errors += [e for e in _field_errors(n, exc) if e.column not in taken]
        if row_errors:
            errors += row_errors
            continue
        lab.save()
        for col, terms in related.items():
            getattr(lab, col).set(terms)
        created.append(lab.code)
    return created, errors


def import_records(user: Any, kind: str, table: list[list[str]], dry_run: bool = False) -> ImportResult:
    """Import ``table`` (header row first) as ``kind``; raise :class:`ImportFailed` with every problem."""
    if not has_role(user, Role.OFFICE):
        raise PermissionDenied(_("Only the committee office imports records."))
    if kind not in COLUMNS:
        raise ImportFailed([RowError(0, "kind", _("unknown import kind “%(kind)s”") % {"kind": kind})])
    records, errors = _records(kind, table)
    if errors:
        raise ImportFailed(errors)
    run = _import_organisations if kind == "organisations" else _import_laboratories
    try:
        with transaction.atomic(), acting_as(user, _("bulk import")):
            created, errors = run(records)
            if errors:
                raise ImportFailed(errors)
            if dry_run:
                raise _DryRun(created)
    except _DryRun as done:
        return ImportResult(kind=kind, dry_run=True, rows=len(records), created=done.created)
    return ImportResult(kind=kind, dry_run=False, rows=len(records), created=created)


class _DryRun(Exception):
    def __init__(self, created: list[str]):
        super().__init__("dry run")
        self.created = created
