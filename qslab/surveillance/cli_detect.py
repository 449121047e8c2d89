"""``qslab detect``: run an R ``surveillance`` detector on a CSV of counts, with R's control names.

    qslab detect METHOD INPUT.csv -o OUTPUT.csv --freq F [--start YEAR,PERIOD] [--control CONTROL.json]

METHOD is one of ``farrington``, ``farringtonFlexible``, ``glrnb``, ``cusum``, ``earsC``. INPUT.csv has
the columns ``unit,time,observed`` and optionally ``date`` (ISO; dates then drive reference weeks as
``epochAsDate=TRUE``) and ``population``; ``time`` runs 1..n in every unit. CONTROL.json is an R control
list as ``jsonlite`` writes it. OUTPUT.csv has one row per unit and scored time point:
``unit,time,observed,upperbound,alarm`` and then the method's own outputs as R names them; NA is
written empty and infinity as ``Inf``.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import sys
from pathlib import Path
from typing import Any

import numpy as np

from qslab.surveillance.detectors.registry import METHOD_NAMES, get_method
from qslab.surveillance.sts import CountSeries, SeriesError

REQUIRED_COLUMNS = ("unit", "time", "observed")
OPTIONAL_COLUMNS = ("date", "population")
_NA = {"", "NA", "NaN", "nan"}


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "detect",
        help="run farrington, farringtonFlexible, glrnb, cusum or earsC on a CSV of counts (R control names)",
        description=__doc__.split("\n\n")[0] if __doc__ else None,
    )
    parser.add_argument("method", choices=METHOD_NAMES, metavar="METHOD", help=", ".join(METHOD_NAMES))
    parser.add_argument("input", type=Path, metavar="INPUT.csv")
    parser.add_argument("-o", "--output", type=Path, required=True, metavar="OUTPUT.csv")
    parser.add_argument("--freq", type=int, required=True, help="periods per year (52 weekly, 12 monthly)")
    parser.add_argument(
        "--start", default="2000,1", metavar="YEAR,PERIOD", help="as R's start (default 2000,1)"
    )
    parser.add_argument("--control", type=Path, metavar="CONTROL.json", help="R control list as JSON")
    parser.set_defaults(func=run_detect)


def _parse_start(text: str, freq: int) -> tuple[int, int]:
    from qslab.cli import CommandError

    parts = text.split(",")
    try:
        year, period = (int(p) for p in parts)
    except ValueError:
        raise CommandError(f"--start must be YEAR,PERIOD (two integers), got {text!r}") from None
    if not 1 <= period <= freq:
        raise CommandError(f"--start period {period} is outside 1..{freq}")
    return year, period


def _number(text: str, column: str, line: int) -> float:
    from qslab.cli import CommandError

    if text.strip() in _NA:
        return math.nan
    try:
        value = float(text)
    except ValueError:
        raise CommandError(f"line {line}: {column} {text!r} is not a number") from None
    if not math.isfinite(value):
        raise CommandError(f"line {line}: {column} {text!r} is not a finite number")
    return value


def read_counts(path: Path, freq: int, start: tuple[int, int]) -> CountSeries:
    """Read INPUT.csv into a :class:`CountSeries`; errors name the line, column or unit."""
    from qslab.cli import CommandError

    try:
        handle = path.open(newline="", encoding="utf-8")
    except OSError as exc:
        raise CommandError(f"cannot read {path}: {exc.strerror}") from None
    with handle:
        reader = csv.reader(handle)
        header = next(reader, None)
        if header is None:
            raise CommandError(f"{path} is empty")
        header = [h.strip() for h in header]
        missing = [c for c in REQUIRED_COLUMNS if c not in header]
        if missing:
            raise CommandError(f"{path}: missing column(s) {', '.join(missing)} (need unit,time,observed)")
        extra = [c for c in header if c not in REQUIRED_COLUMNS + OPTIONAL_COLUMNS]
        if extra:
            raise CommandError(f"{path}: unknown column(s) {', '.join(extra)}")
        if len(set(header)) != len(header):
            raise CommandError(f"{path}: duplicate column names in the header")
        col = {name: header.index(name) for name in header}
        units: dict[str, dict[int, tuple[int, float, str | None, float]]] = {}
        for line, row in enumerate(reader, start=2):
            if not row or all(not cell.strip() for cell in row):
                continue
            if len(row) != len(header):
                raise CommandError(f"line {line}: {len(row)} fields, the header has {len(header)}")
            unit = row[col["unit"]].strip()
            if not unit:
                raise CommandError(f"line {line}: unit is empty")
            time_text = row[col["time"]].strip()
            try:
                time = int(time_text)
            except ValueError:
                raise CommandError(f"line {line}: time {time_text!r} is not a whole number") from None
            if time < 1:
                raise CommandError(f"line {line}: time {time} must be 1 or more")
            observed = _number(row[col["observed"]], "observed", line)
            if observed < 0 or (not math.isnan(observed) and observed != int(observed)):
                raise CommandError(
                    f"line {line}: observed {row[col['observed']]!r} must be a count (0, 1, 2, ...)"
                )
            date = row[col["date"]].strip() if "date" in col else None
            if date is not None and not _is_iso_date(date):
                raise CommandError(f"line {line}: date {date!r} is not an ISO date (YYYY-MM-DD)")
            population = _number(row[col["population"]], "population", line) if "population" in col else 1.0
            if "population" in col and not population > 0:
                raise CommandError(f"line {line}: population {row[col['population']]!r} must be positive")
            per_unit = units.setdefault(unit, {})
            if time in per_unit:
                raise CommandError(
                    f"line {line}: unit {unit!r} has time {time} twice (first on line {per_unit[time][0]})"
                )
            per_unit[time] = (line, observed, date, population)
    if not units:
        raise CommandError(f"{path} has no data rows")
    n_time = max(max(t) for t in units.values())
    names = list(units)
    observed_arr = np.full((n_time, len(names)), np.nan)
    population_arr = np.ones((n_time, len(names)))
    dates: list[str | None] = [None] * n_time
    date_line = [0] * n_time
    for j, name in enumerate(names):
        rows = units[name]
        if len(rows) != n_time:
            absent = next(t for t in range(1, n_time + 1) if t not in rows)
            raise CommandError(f"unit {name!r} has no row for time {absent} (times must run 1..{n_time})")
        for t, (line, obs, date, pop) in rows.items():
            observed_arr[t - 1, j] = obs
            population_arr[t - 1, j] = pop
            if date is not None:
                if dates[t - 1] is None:
                    dates[t - 1], date_line[t - 1] = date, line
                elif dates[t - 1] != date:
                    raise CommandError(
                        f"line {line}: unit {name!r} has date {date} at time {t}, "
                        f"line {date_line[t - 1]} has {dates[t - 1]}"
                    )
    date_arr = None
    if "date" in col:
        date_arr = np.array(dates, dtype="datetime64[D]")
    try:
        return CountSeries(
            observed=observed_arr,
            freq=freq,
            start=start,
            dates=date_arr,
            population=population_arr if "population" in col else None,
            units=tuple(names),
        )
    except SeriesError as exc:
        raise CommandError(f"{path}: {exc}") from None


def _is_iso_date(text: str | None) -> bool:
    try:
        np.datetime64(text, "D")
    except (ValueError, TypeError):
        return False
    return text is not None and len(text) == 10


def format_value(value: float) -> str:
    """R-like text of a number at full precision: NA empty, ``Inf``/``-Inf``, whole numbers without '.0'."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    value = float(value)
    if math.isnan(value):
        return ""
    if math.isinf(value):
        return "Inf" if value > 0 else "-Inf"
    if value == int(value) and abs(value) < 2**53:
        return str(int(value))
    return repr(value)


def read_control(path: Path | None) -> dict[str, Any]:
    from qslab.cli import CommandError

    if path is None:
        return {}
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise CommandError(f"cannot read {path}: {exc.strerror}") from None
    try:
        control = json.loads(text)
    except json.JSONDecodeError as exc:
        raise CommandError(
            f"{path}: invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}"
        ) from None
    if not isinstance(control, dict):
        raise CommandError(f"{path}: the control must be a JSON object of R control names")
    return control


def write_result(result: Any, path: Path) -> int:
    """Write one row per unit and scored time point; returns the number of rows written."""
    names = list(result.outputs)
    series = result.series
    rng = np.asarray(result.range)
    rows = 0
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(["unit", "time", "observed", "upperbound", "alarm", *names])
        outs = [np.asarray(result.outputs[n], dtype=float) for n in names]
        for j, unit in enumerate(series.units):
            for i, t in enumerate(rng):
                alarm = result.alarm[i, j]
                writer.writerow(
                    [
                        unit,
                        int(t) + 1,
                        format_value(series.observed[t, j]),
                        format_value(result.upperbound[i, j]),
                        "" if math.isnan(alarm) else str(int(alarm)),
                        *(format_value(o[i, j]) for o in outs),
                    ]
                )
                rows += 1
    return rows


def run_detect(args: argparse.Namespace) -> int:
    from qslab.cli import CommandError

    if args.freq < 1:
        raise CommandError(f"--freq must be a positive integer, got {args.freq}")
    start = _parse_start(args.start, args.freq)
    control = read_control(args.control)
    series = read_counts(args.input, args.freq, start)
    try:
        method = get_method(args.method)
        config = method.config_class.from_r_control(control, args.freq, series.n_time)
        result = method.detect(series, config)
    except ModuleNotFoundError as exc:
        raise CommandError(f"method {args.method} is not available in this build ({exc.name})") from None
    except (SeriesError, ValueError) as exc:
        raise CommandError(str(exc)) from None
    for warning in result.warnings:
        print(f"qslab detect: warning: {warning}", file=sys.stderr)
    try:
        write_result(result, args.output)
    except OSError as exc:
        raise CommandError(f"cannot write {args.output}: {exc.strerror}") from None
    return 0
