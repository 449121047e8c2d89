"""Plain-text forms for the office's structured inputs: report sections, indicator trees and grades.

Each is one line per item with ``|`` between the columns, so the office can paste from a document and
read the whole structure at a glance. Parsers return the data the services take, or raise one
ValidationError naming every faulty line.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

SECTIONS_EXAMPLE = """# work | 工作进展 | Progress
summary | 年度工作总结 | Summary of the year | text
staff | 固定人员数 | Permanent staff | number | key_figures.staff
# standards | 标准工作 | Standards work
standards_drafted | 主导制修订标准数 | Standards drafted | number | key_figures.standards_drafted
# sharing | 开放共享与经费 | Sharing and budget
machine_hours | 大型仪器共享机时 | Shared-instrument hours | number | sharing.machine_hours
execution_rate | 年度预算执行率（%） | Budget execution (%) | number | funding.execution_rate
"""

INDICATORS_EXAMPLE = """research | 研究水平 | Research | group | 60
  quality | 研究质量 | Quality of research | qualitative | 1
  standards | 发布标准 | Standards published | quantitative | 1 | 10 | outputs.standards_published
openness | 开放共享 | Openness | group | 30
  sharing | 开放共享评价 | Sharing practice | qualitative | 1
  external | 对外机时占比 | External share (%) | quantitative | 1 | 30 | sharing.external_share
management | 运行管理 | Management | group | 10
  budget | 预算执行率（%） | Budget execution (%) | quantitative | 1 | 90 | funding.execution_rate
  rectifications | 未完成整改 | Open orders | quantitative | 1 | 0 | supervision.open_rectifications | at_most
"""


def _cols(line: str) -> list[str]:
    return [c.strip() for c in line.split("|")]


def parse_sections(text: str) -> list[dict[str, Any]]:
    """``# key | 标题 | Title`` starts a section; ``key | 标签 | Label | text|number [| source]``
    is a field of the section above."""
    sections: list[dict[str, Any]] = []
    errors: list[str] = []
    for n, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line:
            continue
        if line.startswith("#"):
            cols = _cols(line[1:])
            if len(cols) < 2 or not cols[0] or not cols[1]:
                errors.append(_("Line %(n)d: a section needs “# key | 中文标题 | English title”.") % {"n": n})
                continue
            sections.append(
                {
                    "key": cols[0],
                    "title_zh": cols[1],
                    "title_en": cols[2] if len(cols) > 2 else cols[1],
                    "fields": [],
                }
            )
            continue
        cols = _cols(line)
        if not sections:
            errors.append(_("Line %(n)d: start with a section line (“# key | 标题 | Title”).") % {"n": n})
            continue
        if len(cols) < 4 or not cols[0]:
            errors.append(_("Line %(n)d: a field needs “key | 标签 | Label | text or number”.") % {"n": n})
            continue
        field: dict[str, Any] = {"key": cols[0], "label_zh": cols[1], "label_en": cols[2], "type": cols[3]}
        if len(cols) > 4 and cols[4]:
            field["source"] = cols[4]
        sections[-1]["fields"].append(field)
    if errors:
        raise ValidationError(errors)
    return sections


def parse_indicators(text: str) -> list[dict[str, Any]]:
    """``code | 名称 | Name | group|qualitative|quantitative | weight [| target | source [| rule]]``; a
    quantitative indicator names the computed source of its figure and, optionally, the rule
    ``at_least`` (default) or ``at_most``. Two spaces of indentation per level put an indicator under
    the group above it."""
    roots: list[dict[str, Any]] = []
    stack: list[tuple[int, dict[str, Any]]] = []
    errors: list[str] = []
    for n, raw in enumerate(text.splitlines(), 1):
        if not raw.strip():
            continue
        depth = (len(raw) - len(raw.lstrip(" "))) // 2
        cols = _cols(raw)
        if len(cols) < 5 or not cols[0]:
            errors.append(_("Line %(n)d: write “code | 名称 | Name | kind | weight [| target]”.") % {"n": n})
            continue
        if cols[3] not in ("group", "qualitative", "quantitative"):
            errors.append(_("Line %(n)d: the kind is group, qualitative or quantitative.") % {"n": n})
            continue
        try:
            weight = float(cols[4])
            target = float(cols[5]) if len(cols) > 5 and cols[5] else None
        except ValueError:
            errors.append(_("Line %(n)d: weight and target are numbers.") % {"n": n})
            continue
        node: dict[str, Any] = {
            "code": cols[0],
            "name_zh": cols[1],
            "name_en": cols[2],
            "kind": cols[3],
            "weight": weight,
            "children": [],
        }
        if target is not None:
            node["target"] = target
        if len(cols) > 6 and cols[6]:
            node["source"] = cols[6]
        if len(cols) > 7 and cols[7]:
            node["rule"] = cols[7]
        while stack and stack[-1][0] >= depth:
            stack.pop()
        if depth and not stack:
            errors.append(_("Line %(n)d: indented, but there is no group above it.") % {"n": n})
            continue
        (stack[-1][1]["children"] if stack else roots).append(node)
        stack.append((depth, node))
    if errors:
        raise ValidationError(errors)
    return roots


def parse_grades(text: str) -> list[dict[str, Any]]:
    """``code | 中文 | English | minimum score``, highest grade first."""
    grades = []
    errors: list[str] = []
    for n, raw in enumerate(text.splitlines(), 1):
        if not raw.strip():
            continue
        cols = _cols(raw)
        if len(cols) < 4:
            errors.append(_("Line %(n)d: write “code | 中文 | English | minimum score”.") % {"n": n})
            continue
        try:
            minimum = float(cols[3])
        except ValueError:
            errors.append(_("Line %(n)d: the minimum score is a number.") % {"n": n})
            continue
        grades.append({"code": cols[0], "label_zh": cols[1], "label_en": cols[2], "min": minimum})
    if errors:
        raise ValidationError(errors)
    return grades


def grades_text(grades: list[dict[str, Any]]) -> str:
    return "\n".join(f"{g['code']} | {g['label_zh']} | {g['label_en']} | {g['min']:g}" for g in grades)
