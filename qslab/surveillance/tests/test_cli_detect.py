"""``qslab detect``: the same CSV through our CLI and through R surveillance 1.20.3, and the error paths."""

from __future__ import annotations

import argparse
import contextlib
import csv
import io
import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from qslab.surveillance import cli_detect

R_DETECT = r"""
suppressMessages(library(surveillance)); library(jsonlite)
jobs <- fromJSON(commandArgs(TRUE)[1], simplifyVector = FALSE)
for (job in jobs) {
  d <- read.csv(job$input, stringsAsFactors = FALSE)
  ctl <- if (nzchar(job$control)) fromJSON(job$control) else list()
  freq <- job$freq; start <- unlist(job$start)
  rows <- list()
  for (u in unique(d$unit)) {
    du <- d[d$unit == u, ]; du <- du[order(du$time), ]
    y <- du$observed
    dp <- list(observed = matrix(y, ncol = 1), state = matrix(0, length(y), 1), freq = freq, start = start)
    class(dp) <- "disProg"
    if (job$method == "glrnb") {
      rng <- ctl$range
      r <- tryCatch(suppressMessages(suppressWarnings(algo.glrnb(dp, control = ctl))),
                    error = function(e) NULL)
      if (is.null(r)) {
        out <- data.frame(unit = u, time = rng, observed = y[rng], upperbound = NA, alarm = NA,
                          mu0 = NA, alpha = NA)
      } else {
        out <- data.frame(unit = u, time = rng, observed = y[rng], upperbound = as.numeric(r$upperbound),
                          alarm = as.integer(r$alarm), mu0 = r$control$mu0, alpha = r$control$alpha)
      }
    } else if (job$method == "cusum") {
      rng <- ctl$range
      r <- algo.cusum(dp, control = ctl)
      out <- data.frame(unit = u, time = rng, observed = y[rng], upperbound = as.numeric(r$upperbound),
                        alarm = as.integer(r$alarm), m = rep_len(r$control$m, length(rng)), cusum = r$cusum)
    } else if (job$method %in% c("farrington", "farringtonFlexible")) {
      s <- sts(observed = matrix(y, ncol = 1), epoch = as.numeric(as.Date(du$date)), epochAsDate = TRUE,
               frequency = freq, start = start)
      if (job$method == "farrington") {
        r <- suppressWarnings(farrington(s, control = ctl, verbose = FALSE))
        rng <- ctl$range
        out <- data.frame(unit = u, time = rng, observed = y[rng],
                          upperbound = as.numeric(upperbound(r)[, 1]),
                          alarm = as.integer(alarms(r)[, 1]))
      } else {
        r <- suppressWarnings(farringtonFlexible(s, control = ctl))
        rng <- ctl$range
        cc <- r@control
        out <- data.frame(unit = u, time = rng, observed = y[rng],
                          upperbound = as.numeric(upperbound(r)[, 1]),
                          alarm = as.integer(alarms(r)[, 1]), expected = as.numeric(cc$expected),
                          score = as.numeric(cc$score), pvalue = as.numeric(cc$pvalue),
                          trend = as.numeric(cc$trend))
      }
    } else {
      r <- earsC(sts(observed = matrix(y, ncol = 1), frequency = freq, start = start), control = ctl)
      rng <- r@control$range
      out <- data.frame(unit = u, time = rng, observed = y[rng], upperbound = as.numeric(upperbound(r)[, 1]),
                        alarm = as.integer(alarms(r)[, 1]))
    }
    rows[[length(rows) + 1]] <- out
  }
  write.csv(do.call(rbind, rows), job$output, row.names = FALSE, na = "", quote = FALSE)
}
"""


def _series_csv(path: Path, *, dates: bool = False) -> None:
    rng = np.random.default_rng(41)
    t = np.arange(1, 313)
    units = {
        "shigella": rng.negative_binomial(4, 4 / (4 + 15 * np.exp(0.5 * np.cos(2 * np.pi * t / 52)))),
        "rare": rng.negative_binomial(1, 1 / (1 + 0.8 * np.exp(0.7 * np.sin(2 * np.pi * t / 52)))),
        "allzero": np.zeros(312, dtype=int),
    }
    units["shigella"][290:294] += 25
    day0 = np.datetime64("2001-01-01")
    with path.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["unit", "time", "observed", *(["date", "population"] if dates else [])])
        for name, y in units.items():
            for i, v in enumerate(y):
                extra = [str(day0 + 7 * i), 1000] if dates else []
                w.writerow([name, i + 1, int(v), *extra])


def _read(path: Path) -> list[list[str]]:
    with path.open(newline="") as fh:
        return list(csv.reader(fh))


def _assert_same_table(ours: list[list[str]], theirs: list[list[str]], *, exact_header: bool = True) -> None:
    if exact_header:
        assert ours[0] == theirs[0]
    else:  # compare the columns R gives, by name
        assert ours[0][:5] == theirs[0][:5]
        index = [ours[0].index(name) for name in theirs[0]]
        ours = [[row[i] for i in index] for row in ours]
    assert len(ours) == len(theirs)
    for a_row, b_row in zip(ours[1:], theirs[1:], strict=True):
        assert a_row[:3] == b_row[:3]
        assert a_row[4] == b_row[4], f"alarm differs at {a_row[:2]}"
        for a, b in zip(a_row[3:], b_row[3:], strict=True):
            if a == "" or b == "":
                assert a == b, f"{a_row[:2]}: {a!r} vs {b!r}"
            elif b == "Inf":
                assert a == "Inf"
            else:
                assert math.isclose(float(a), float(b), rel_tol=1e-6, abs_tol=1e-9), (
                    f"{a_row[:2]}: {a} vs {b}"
                )


JOBS = [
    ("glrnb", {"range": list(range(261, 313))}),
    ("cusum", {"range": list(range(261, 313)), "m": "glm", "trans": "anscombe"}),
    ("earsC", {"method": "C3", "alpha": 0.01}),
]
FARRINGTON_JOBS = [
    ("farringtonFlexible", {"range": list(range(264, 313)), "noPeriods": 10, "populationOffset": False}),
    ("farrington", {"range": list(range(264, 313))}),
]


@pytest.fixture(scope="module")
def cli_and_r(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("detect")
    _series_csv(tmp / "in.csv", dates=True)
    jobs, ours = [], {}
    for method, control in JOBS + FARRINGTON_JOBS:
        (tmp / f"{method}.json").write_text(json.dumps(control))
        out = tmp / f"ours_{method}.csv"
        argv = ["detect", method, str(tmp / "in.csv"), "-o", str(out), "--freq", "52", "--start", "2001,1"]
        argv += ["--control", str(tmp / f"{method}.json")]
        if method == "glrnb":  # once through the installed entry point, in its own process
            proc = subprocess.run(
                [sys.executable, "-m", "qslab.cli", *argv], capture_output=True, text=True, timeout=300
            )
            code, stderr = proc.returncode, proc.stderr
        else:
            buffer = io.StringIO()
            with contextlib.redirect_stderr(buffer):
                code = _run(argv)
            stderr = buffer.getvalue()
        assert code == 0, stderr
        ours[method] = (out, stderr)
        jobs.append(
            {
                "method": method,
                "input": str(tmp / "in.csv"),
                "control": str(tmp / f"{method}.json"),
                "output": str(tmp / f"r_{method}.csv"),
                "freq": 52,
                "start": [2001, 1],
            }
        )
    (tmp / "jobs.json").write_text(json.dumps(jobs))
    (tmp / "detect.R").write_text(R_DETECT)
    subprocess.run(
        ["Rscript", str(tmp / "detect.R"), str(tmp / "jobs.json")],
        check=True,
        capture_output=True,
        timeout=300,
    )
    return tmp, ours


@pytest.mark.r
@pytest.mark.parametrize("method", [m for m, _ in JOBS])
def test_qslab_detect_writes_the_same_table_as_r(cli_and_r, method):
    tmp, ours = cli_and_r
    _assert_same_table(_read(ours[method][0]), _read(tmp / f"r_{method}.csv"))


@pytest.mark.r
@pytest.mark.parametrize("method", [m for m, _ in FARRINGTON_JOBS])
def test_qslab_detect_farrington_methods_with_dates_match_r(cli_and_r, method):
    tmp, ours = cli_and_r
    # The all-zero unit is left out here: R's farringtonFlexible gives expected = 0 with NA bounds for
    # it while qslab reports it as not fitted (empty outputs and a warning); the alarms agree (none).
    theirs = [row for row in _read(tmp / f"r_{method}.csv") if row[0] != "allzero"]
    mine = [row for row in _read(ours[method][0]) if row[0] != "allzero"]
    _assert_same_table(mine, theirs, exact_header=False)
    assert any(row[4] == "1" for row in theirs[1:])


@pytest.mark.r
def test_qslab_detect_scores_other_units_and_warns_about_an_unfittable_one(cli_and_r):
    _, ours = cli_and_r
    out, stderr = ours["glrnb"]
    assert "warning: unit allzero: negative-binomial fit failed" in stderr
    rows = [r for r in _read(out)[1:] if r[0] == "allzero"]
    assert rows and all(r[3:] == ["", "", "", ""] for r in rows)
    scored = [r for r in _read(out)[1:] if r[0] == "shigella"]
    assert any(r[4] == "1" for r in scored)


def _run(argv: list[str]) -> int:
    """The ``detect`` subcommand alone, as qslab.cli runs it (CommandError -> exit 2)."""
    from qslab.cli import CommandError

    parser = argparse.ArgumentParser(prog="qslab")
    cli_detect.register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except CommandError as exc:
        print(f"qslab detect: error: {exc}", file=sys.stderr)
        return 2


@pytest.fixture
def small_csv(tmp_path):
    path = tmp_path / "in.csv"
    rows = ["unit,time,observed"] + [f"a,{t},{(t * 7) % 5}" for t in range(1, 41)]
    rows += [f"b,{t},{(t * 3) % 4}" for t in range(1, 41)]
    path.write_text("\n".join(rows) + "\n")
    return path


def test_qslab_detect_earsc_default_control_runs_in_process(small_csv, tmp_path):
    out = tmp_path / "out.csv"
    assert _run(["detect", "earsC", str(small_csv), "-o", str(out), "--freq", "52"]) == 0
    table = _read(out)
    assert table[0] == ["unit", "time", "observed", "upperbound", "alarm"]
    assert len(table) == 1 + 2 * 33  # times 8..40 for both units
    assert table[1][:2] == ["a", "8"]


@pytest.mark.parametrize(
    ("control", "message"),
    [
        ({"range": [30, 40], "c.ARL": 5, "foo": 1}, "unknown control key 'foo' for glrnb"),
        ({"range": [30, 41]}, "control 'range' for glrnb: index 41 is outside 1..40"),
        ({"range": [30, 40], "dir": "both"}, "control 'dir' for glrnb: must be one of"),
    ],
)
def test_qslab_detect_rejects_bad_control_naming_the_key(small_csv, tmp_path, capsys, control, message):
    ctl = tmp_path / "c.json"
    ctl.write_text(json.dumps(control))
    code = _run(
        [
            "detect",
            "glrnb",
            str(small_csv),
            "-o",
            str(tmp_path / "o.csv"),
            "--freq",
            "52",
            "--control",
            str(ctl),
        ]
    )
    assert code == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "o.csv").exists()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("unit,time,observed\na,1,3\na,2,x\n", "line 3: observed 'x' is not a number"),
        ("unit,time,observed\na,1,3\na,2,-1\n", "line 3: observed '-1' must be a count"),
        ("unit,time,observed\na,1,3\na,1,4\n", "line 3: unit 'a' has time 1 twice"),
        ("unit,time,observed\na,1,3\na,3,4\n", "unit 'a' has no row for time 2"),
        ("unit,time,observed\na,1,3\nb,1\n", "line 3: 2 fields, the header has 3"),
        ("unit,time,count\na,1,3\n", "missing column(s) observed"),
        ("unit,time,observed,region\na,1,3,x\n", "unknown column(s) region"),
        (
            "unit,time,observed,date\na,1,3,2020-01-06\nb,1,3,2020-01-13\n",
            "unit 'b' has date 2020-01-13 at time 1",
        ),
        ("unit,time,observed,date\na,1,3,06/01/2020\n", "line 2: date '06/01/2020' is not an ISO date"),
        ("unit,time,observed\na,1.5,3\n", "line 2: time '1.5' is not a whole number"),
    ],
)
def test_qslab_detect_rejects_malformed_csv_naming_the_line_or_unit(tmp_path, capsys, text, message):
    path = tmp_path / "in.csv"
    path.write_text(text)
    assert _run(["detect", "earsC", str(path), "-o", str(tmp_path / "o.csv"), "--freq", "52"]) == 2
    assert message in capsys.readouterr().err


def test_qslab_detect_rejects_a_series_too_short_for_the_baseline(tmp_path, capsys):
    path = tmp_path / "in.csv"
    path.write_text("unit,time,observed\n" + "".join(f"a,{t},2\n" for t in range(1, 7)))
    assert _run(["detect", "earsC", str(path), "-o", str(tmp_path / "o.csv"), "--freq", "52"]) == 2
    assert "earsC C1 with baseline 7 needs more than 7" in capsys.readouterr().err


def test_qslab_detect_rejects_invalid_json_and_start(small_csv, tmp_path, capsys):
    ctl = tmp_path / "c.json"
    ctl.write_text("{range: 1}")
    assert (
        _run(
            [
                "detect",
                "cusum",
                str(small_csv),
                "-o",
                str(tmp_path / "o.csv"),
                "--freq",
                "52",
                "--control",
                str(ctl),
            ]
        )
        == 2
    )
    assert "invalid JSON at line 1" in capsys.readouterr().err
    assert (
        _run(
            [
                "detect",
                "cusum",
                str(small_csv),
                "-o",
                str(tmp_path / "o.csv"),
                "--freq",
                "12",
                "--start",
                "2001,13",
            ]
        )
        == 2
    )
    assert "--start period 13 is outside 1..12" in capsys.readouterr().err


def test_format_value_writes_na_empty_and_inf_as_r_does():
    assert cli_detect.format_value(float("nan")) == ""
    assert cli_detect.format_value(float("inf")) == "Inf"
    assert cli_detect.format_value(-float("inf")) == "-Inf"
    assert cli_detect.format_value(3.0) == "3"
    assert cli_detect.format_value(0.1 + 0.2) == "0.30000000000000004"
