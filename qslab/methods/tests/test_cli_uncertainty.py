"""``qslab uncertainty BUDGET.yaml``: the GUM H.1 result in one command, JSON output, user errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from qslab.cli import main

REPO = Path(__file__).resolve().parents[3]
EXAMPLE = REPO / "examples" / "budgets" / "gum_h1_end_gauge.yaml"
DATA = Path(__file__).parent / "data"


def test_one_command_reproduces_gum_h1():
    # the real entry point in a fresh interpreter, as a metrologist would run it
    done = subprocess.run(
        [sys.executable, "-m", "qslab.cli", "uncertainty", str(EXAMPLE)],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "Uncertainty budget for l" in out
    assert "l = 50000838 nm, u_c = 32 nm, nu_eff = 16.6 (16 used for k), k = 2.92, U(99 %) = 93 nm" in out
    assert "delta_theta" in out and "27.7 %" in out


def test_json_output_has_the_budget_rows(capsys):
    assert main(["uncertainty", str(EXAMPLE), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["method"] == "GUF"
    est = data["guf"]["outputs"][0]
    assert round(est["u_c"]) == 32 and round(est["U"]) == 93 and round(est["k"], 2) == 2.92
    rows = {r["label"]: r for r in data["guf"]["budgets"][0]["rows"]}
    assert round(rows["delta_theta"]["contribution"], 1) == 16.7
    assert rows["d_mean"]["component_of"] == "d"


def test_monte_carlo_from_the_command_line(capsys):
    code = main(
        ["uncertainty", str(EXAMPLE), "--method", "mcm", "--trials", "20000", "--seed", "5", "--json"]
    )
    assert code == 0
    data = json.loads(capsys.readouterr().out)
    assert data["method"] == "MCM"
    assert data["mcm"]["trials"] == 20000 and data["mcm"]["seed"] == 5
    assert data["mcm"]["validation"][0]["delta"] == 0.5
    assert main(["uncertainty", str(EXAMPLE), "--method", "MCM", "--trials", "20000", "--seed", "5"]) == 0
    text = capsys.readouterr().out
    assert "Monte Carlo method (JCGM 101): 20000 trials, fixed, seed 5" in text
    assert "GUF NOT validated for l" in text


def test_adaptive_monte_carlo_from_the_command_line(capsys):
    assert (
        main(
            [
                "uncertainty",
                str(DATA / "ea402_s2_weight.yaml"),
                "--method",
                "MCM",
                "--adaptive",
                "--seed",
                "1",
            ]
        )
        == 0
    )
    assert "adaptive (JCGM 101 7.9)" in capsys.readouterr().out


def test_an_invalid_budget_exits_2_with_the_key_named(tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text("model: a + b\ninputs:\n  a: {x: 1, u: -0.1}\n  b: {x: 2, u: 0.1}\n")
    assert main(["uncertainty", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "qslab uncertainty: error: inputs.a.u: standard uncertainty must be a non-negative number" in err
    assert main(["uncertainty", str(tmp_path / "none.yaml")]) == 2
    assert "cannot read budget file" in capsys.readouterr().err
    assert main(["uncertainty", str(EXAMPLE), "--method", "MCM", "--trials", "1"]) == 2
    assert "--trials must be at least 2" in capsys.readouterr().err
