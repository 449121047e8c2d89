"""Bulk import of outputs from CSV or XLSX: every row is checked with the same rules as the form,
every problem is reported with its row and column at once, and either all rows are saved or none
(a dry run checks and saves nothing)."""

from __future__ import annotations

import csv
import dataclasses
import io
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils.translation import gettext as _

from qslab.accounts.roles import Role, has_role
from qslab.labs.models import Laboratory
from qslab.outputs import services

REQUIRED = ("laboratory", "kind", "title_zh", "year")
OPTIONAL = tuple(f for f in services.OUTPUT_FIELDS if f not in REQUIRED)
UNIQUE_KEYS = ("doi", "application_number", "grant_number")


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
    dry_run: bool
    rows: int
    created: list[int]


def read_table(filename: str, content: bytes) -> list[list[str]]:
    """Rows (header first) of a CSV (UTF-8, with or without BOM) or XLSX file."""
    if filename.lower().endswith(".xlsx"):
        from qslab.labs.xlsx import XlsxError, read_xlsx

        try:
            return read_xlsx(content)
        except XlsxError as exc:
            raise ImportFailed([RowError(0, "", str(exc))]) from exc
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ImportFailed([RowError(0, "", _("The CSV file is not UTF-8 text."))]) from exc
    return list(csv.reader(io.StringIO(text)))


def import_outputs(user: Any, filename: str, content: bytes, dry_run: bool = False) -> ImportResult:
    """Check every row and save all of them, or raise :class:`ImportFailed` with every problem."""
    if not (has_role(user, Role.OFFICE) or has_role(user, Role.LAB_MANAGER)):
        raise PermissionDenied(_("Only the office and laboratory managers import outputs."))
    table = read_table(filename, content)
    if not table:
        raise ImportFailed([RowError(1, "", _("The file is empty."))])
    header = [h.strip() for h in table[0]]
    errors = [RowError(1, c, _("this required column is missing")) for c in REQUIRED if c not in header]
    errors += [RowError(1, h, _("unknown column")) for h in header if h and h not in (*REQUIRED, *OPTIONAL)]
    records = []
    for n, row in enumerate(table[1:], start=2):
        if any(cell.strip() for cell in row):
            records.append(
                (n, {h: (row[i].strip() if i < len(row) else "") for i, h in enumerate(header) if h})
            )
    if not records and not errors:
        errors.append(RowError(2, "", _("The file has a header but no rows.")))
    if errors:
        raise ImportFailed(errors)
    labs = {
        lab.code: lab
        for lab in Laboratory.objects.filter(code__in={r.get("laboratory") for _n, r in records})
    }
    seen: dict[tuple[str, str], int] = {}
    checked = []
    for n, rec in records:
        row_errors = []
        lab = labs.get(rec.get("laboratory", ""))
        if lab is None:
            row_errors.append(
                RowError(
                    n,
                    "laboratory",
                    _("no laboratory has the code “%(code)s”") % {"code": rec.get("laboratory", "")},
                )
            )
        elif not services.may_record_for(user, lab):
            row_errors.append(
                RowError(n, "laboratory", _("you may record outputs only for your own laboratory"))
            )
        data = {k: v for k, v in rec.items() if k != "laboratory"}
        values: dict[str, Any] = {}
        try:
            values = services.clean_output(data)
        except ValidationError as exc:
            for field, messages in exc.message_dict.items():
                row_errors.append(RowError(n, field, " ".join(messages)))
        for key in UNIQUE_KEYS:
            value = values.get(key)
            if value:
                if (key, value) in seen:
                    row_errors.append(
                        RowError(n, key, _("the same value is on row %(row)d") % {"row": seen[(key, value)]})
                    )
                seen.setdefault((key, value), n)
        if row_errors:
            errors += row_errors
        else:
            checked.append((lab, data))
    if errors:
        raise ImportFailed(errors)
    if dry_run:
        return ImportResult(True, len(checked), [])
    with transaction.atomic():
        created = [services.record_output(user, lab, data).pk for lab, data in checked]
    return ImportResult(False, len(created), created)
