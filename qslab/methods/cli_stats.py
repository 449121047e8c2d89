"""``qslab spc``, ``qslab precision`` and ``qslab pt``: the statistics engines on CSV files."""

from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path

import numpy as np

from qslab.results import json_safe


def register(subparsers) -> None:
    spc = subparsers.add_parser("spc", help="Shewhart control chart (and capability) from a CSV file")
    spc.add_argument("chart", choices=["xbar", "R", "S", "I", "MR", "p", "np", "c", "u"])
    spc.add_argument("data", type=Path, help="CSV file with a header row")
    spc.add_argument("--column", help="column with the measurements or counts (default: the first)")
    group = spc.add_mutually_exclusive_group()
    group.add_argument("--subgroup-size", type=int, help="consecutive rows form subgroups of this size")
    group.add_argument("--subgroup", help="column naming each row's subgroup")
    spc.add_argument("--sizes", help="column with sample sizes (p, np, u charts)")
    spc.add_argument("--lsl", type=float)
    spc.add_argument("--usl", type=float)
    spc.add_argument("--target", type=float)
    spc.add_argument("--rules", choices=["we", "nelson"])
    spc.add_argument("--json", action="store_true", help="print JSON instead of text")
    spc.set_defaults(func=_run_spc)

    prec = subparsers.add_parser("precision", help="ISO 5725-2 precision experiment from a CSV file")
    prec.add_argument("data", type=Path)
    prec.add_argument("--level", default=None, help="level column (default 'level' if present)")
    prec.add_argument("--lab", default="lab", help="laboratory column (default 'lab')")
    prec.add_argument("--value", default="value", help="result column (default 'value')")
    prec.add_argument("--json", action="store_true")
    prec.set_defaults(func=_run_precision)

    pt = subparsers.add_parser("pt", help="ISO 13528 proficiency-testing scores from a CSV file")
    pt.add_argument("data", type=Path)
    pt.add_argument("--participant", default="participant", help="participant column")
    pt.add_argument("--value", default="value", help="result column")
    pt.add_argument("--u", dest="u_column", help="column with participants' standard uncertainties (zeta)")
    pt.add_argument("--U", dest="big_u_column", help="column with expanded uncertainties (E_n)")
    how = pt.add_mutually_exclusive_group()
    how.add_argument("--assigned", type=float, help="assigned value x_pt (formulation, CRM)")
    how.add_argument("--robust", action="store_true", help="x_pt by Algorithm A consensus (default)")
    pt.add_argument("--u-assigned", type=float, default=0.0, help="standard uncertainty of --assigned")
    pt.add_argument("--sigma-pt", type=float, help="sigma_pt (default: the robust SD s*)")
    pt.add_argument("--json", action="store_true")
    pt.set_defaults(func=_run_pt)


# --------------------------------------------------------------------------- CSV reading


def _read_csv(path: Path) -> tuple[list[str], list[list[str]]]:
    from qslab.cli import CommandError

    try:
        with path.open(newline="", encoding="utf-8-sig") as fh:
            rows = list(csv.reader(fh))
    except OSError as exc:
        raise CommandError(f"cannot read {path}: {exc.strerror}") from exc
    rows = [r for r in rows if any(cell.strip() for cell in r)]
    if len(rows) < 2:
        raise CommandError(f"{path}: needs a header row and at least one data row")
    header = [h.strip() for h in rows[0]]
    for number, row in enumerate(rows[1:], start=2):
        if len(row) != len(header):
            raise CommandError(f"{path}: row {number} has {len(row)} fields, the header has {len(header)}")
    return header, rows[1:]


def _column(path: Path, header: list[str], rows: list[list[str]], name: str | None, numeric: bool = True):
    from qslab.cli import CommandError

    if name is None:
        index = 0
    elif name in header:
        index = header.index(name)
    else:
        raise CommandError(f"{path}: no column {name!r} (columns: {', '.join(header)})")
    column = header[index]
    if not numeric:
        return np.array([r[index].strip() for r in rows])
    out = np.empty(len(rows))
    for number, row in enumerate(rows, start=2):
        text = row[index].strip()
        if text == "" or text.upper() in ("NA", "NAN"):
            out[number - 2] = np.nan
            continue
        try:
            out[number - 2] = float(text)
        except ValueError:
            raise CommandError(f"{path}: row {number}, column {column!r}: {text!r} is not a number") from None
    return out


def _emit(result, as_json: bool) -> None:
    if as_json:
        print(json.dumps(json_safe(result.to_dict()), indent=2))
    else:
        print(result.summary())


def _engine_call(func, *args, **kwargs):
    from qslab.cli import CommandError
    from qslab.methods._validate import MethodInputError

    try:
        return func(*args, **kwargs)
    except MethodInputError as exc:
        raise CommandError(str(exc)) from exc


# --------------------------------------------------------------------------- commands


def _run_spc(args: argparse.Namespace) -> int:
    from qslab.cli import CommandError
    from qslab.methods import spc

    header, rows = _read_csv(args.data)
    values = _column(args.data, header, rows, args.column)
    sizes = _column(args.data, header, rows, args.sizes) if args.sizes else None
    data: object = values
    if args.chart in ("xbar", "R", "S"):
        if args.subgroup_size:
            if values.size % args.subgroup_size:
                raise CommandError(
                    f"{values.size} values do not split into subgroups of {args.subgroup_size}"
                )
            data = values.reshape(-1, args.subgroup_size)
        elif args.subgroup:
            labels = _column(args.data, header, rows, args.subgroup, numeric=False)
            _, first = np.unique(labels, return_index=True)
            order = labels[np.sort(first)]
            data = [values[labels == g] for g in order]
        else:
            raise CommandError(f"a {args.chart} chart needs --subgroup-size or --subgroup")
    chart = _engine_call(spc.control_chart, args.chart, data, sizes=sizes, rules=args.rules)
    capability = None
    if args.lsl is not None or args.usl is not None:
        capability = _engine_call(
            spc.process_capability,
            values,
            lsl=args.lsl,
            usl=args.usl,
            target=args.target,
            sigma=chart.sigma,
        )
    if args.json:
        payload = {"chart": chart.to_dict()}
        if capability is not None:
            payload["capability"] = capability.to_dict()
        print(json.dumps(json_safe(payload), indent=2))
    else:
        print(chart.summary())
        if capability is not None:
            print(capability.summary())
    return 0


def _run_precision(args: argparse.Namespace) -> int:
    from qslab.methods.precision import precision_study

    header, rows = _read_csv(args.data)
    level_name = args.level or ("level" if "level" in header else None)
    values = _column(args.data, header, rows, args.value)
    labs = _column(args.data, header, rows, args.lab, numeric=False)
    levels = _column(args.data, header, rows, level_name, numeric=False) if level_name else None
    _emit(_engine_call(precision_study, values, labs, levels), args.json)
    return 0


def _run_pt(args: argparse.Namespace) -> int:
    from qslab.methods.proficiency import algorithm_a, pt_scores

    header, rows = _read_csv(args.data)
    values = _column(args.data, header, rows, args.value)
    names = (
        _column(args.data, header, rows, args.participant, numeric=False)
        if args.participant in header
        else np.array([str(i + 1) for i in range(values.size)])
    )
    u = _column(args.data, header, rows, args.u_column) if args.u_column else None
    big_u = _column(args.data, header, rows, args.big_u_column) if args.big_u_column else None
    robust = _engine_call(algorithm_a, values)
    if args.assigned is not None:
        x_pt, u_pt, how = args.assigned, args.u_assigned, "given"
    else:
        x_pt, u_pt, how = robust.x_star, robust.u_x_star, "consensus (Algorithm A)"
    sigma_pt = args.sigma_pt if args.sigma_pt is not None else robust.s_star
    scores = _engine_call(
        pt_scores,
        values,
        x_pt,
        sigma_pt=sigma_pt,
        u_x_pt=u_pt,
        u_results=u,
        expanded_results=big_u,
        participants=names,
    )
    if args.json:
        payload = {"robust": robust.to_dict(), "assigned_value_method": how, "scores": scores.to_dict()}
        print(json.dumps(json_safe(payload), indent=2))
    else:
        print(robust.summary())
        print(f"assigned value: {how}")
        print(scores.summary())
    return 0
