"""Just enough of Office Open XML spreadsheets (XLSX) to export the directory and read an import file:
the first worksheet, text and numbers. Standard library only."""

from __future__ import annotations

import io
import re
import zipfile
from collections.abc import Sequence
from typing import Any
from xml.etree import ElementTree as ET
from xml.sax.saxutils import escape

NS = {"m": "http://schemas.openxmlformats.org/spreadsheetml/2006/main"}
REL_NS = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"


class XlsxError(ValueError):
    """The file is not a spreadsheet we can read."""


def _column_index(ref: str) -> int:
    letters = re.match(r"[A-Z]+", ref)
    n = 0
    for ch in letters.group(0) if letters else "A":
        n = n * 26 + (ord(ch) - 64)
    return n - 1


def read_xlsx(content: bytes) -> list[list[str]]:
    """Rows of the first worksheet as lists of strings (empty cells are "")."""
    try:
        zf = zipfile.ZipFile(io.BytesIO(content))
        names = set(zf.namelist())
        shared: list[str] = []
        if "xl/sharedStrings.xml" in names:
            root = ET.fromstring(zf.read("xl/sharedStrings.xml"))  # noqa: S314 - expat: no external entities, bounded expansion
            for si in root.findall("m:si", NS):
                shared.append("".join(t.text or "" for t in si.iter(f"{{{NS['m']}}}t")))
        workbook = ET.fromstring(zf.read("xl/workbook.xml"))  # noqa: S314 - expat: no external entities, bounded expansion
        first = workbook.find("m:sheets/m:sheet", NS)
        rels = ET.fromstring(zf.read("xl/_rels/workbook.xml.rels"))  # noqa: S314 - expat: no external entities, bounded expansion
        rid = first.get(f"{{{REL_NS}}}id") if first is not None else None
        target = (
            next((r.get("Target") for r in rels if r.get("Id") == rid), "worksheets/sheet1.xml")
            or "worksheets/sheet1.xml"
        )
        path = target.lstrip("/") if target.startswith("/") else f"xl/{target}"
        sheet = ET.fromstring(zf.read(path))  # noqa: S314 - expat: no external entities, bounded expansion
    except (zipfile.BadZipFile, KeyError, ET.ParseError) as exc:
        raise XlsxError(f"not a readable XLSX file ({exc})") from exc
    rows: list[list[str]] = []
    for row in sheet.iter(f"{{{NS['m']}}}row"):
        values: dict[int, str] = {}
        for c in row.findall("m:c", NS):
            kind = c.get("t", "n")
            if kind == "inlineStr":
                text = "".join(t.text or "" for t in c.iter(f"{{{NS['m']}}}t"))
            else:
                v = c.find("m:v", NS)
                text = v.text if v is not None and v.text is not None else ""
                if kind == "s" and text:
                    text = shared[int(text)]
                elif kind == "n" and text.endswith(".0"):
                    text = text[:-2]
            values[_column_index(c.get("r", "A1"))] = text
        if values:
            rows.append([values.get(i, "") for i in range(max(values) + 1)])
    return rows


def _cell(ref: str, value: Any) -> str:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return f'<c r="{ref}"><v>{value}</v></c>'
    return f'<c r="{ref}" t="inlineStr"><is><t xml:space="preserve">{escape(str(value))}</t></is></c>'


def _ref(col: int, row: int) -> str:
    letters = ""
    col += 1
    while col:
        col, rem = divmod(col - 1, 26)
        letters = chr(65 + rem) + letters
    return f"{letters}{row}"


def write_xlsx(header: Sequence[str], rows: Sequence[Sequence[Any]], sheet_name: str = "Sheet1") -> bytes:
    """A one-sheet workbook with a header row."""
    body = []
    for r, values in enumerate([list(header), *[list(x) for x in rows]], start=1):
        body.append(f'<row r="{r}">' + "".join(_cell(_ref(c, r), v) for c, v in enumerate(values)) + "</row>")
    sheet = (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
        f'<worksheet xmlns="{NS["m"]}"><sheetData>{"".join(body)}</sheetData></worksheet>'
    )
    files = {
        "[Content_Types].xml": (
            '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
            '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
            '<Default Extension="rels" '
            'ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
            '<Default Extension="xml" ContentType="application/xml"/>'
            '<Override PartName="/xl/workbook.xml" '
            'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
            '<Override PartName="/xl/worksheets/sheet1.xml" '
            'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
            "</Types>"
        ),
        "_rels/.rels": (
            '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
            '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
            '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/'
            'officeDocument" Target="xl/workbook.xml"/></Relationships>'
        ),
        "xl/workbook.xml": (
            '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
            f'<workbook xmlns="{NS["m"]}" xmlns:r="{REL_NS}"><sheets>'
            f'<sheet name="{escape(sheet_name)}" sheetId="1" r:id="rId1"/></sheets></workbook>'
        ),
        "xl/_rels/workbook.xml.rels": (
            '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
            '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
            '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/'
            'worksheet" Target="worksheets/sheet1.xml"/></Relationships>'
        ),
        "xl/worksheets/sheet1.xml": sheet,
    }
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, text in files.items():
            zf.writestr(name, text)
    return buf.getvalue()
