"""``qslab spc | precision | pt`` on small CSV files."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from qslab.cli import main

DATA = Path(__file__).parent / "data"


def test_precision_command_prints_limits_per_level(capsys):
    assert main(["precision", str(DATA / "precision_study.csv")]) == 0
    out = capsys.readouterr().out
    assert "Level 1" in out and "Level 2" in out and "Cochran C" in out and "r = 0.342929" in out


def test_precision_command_json_has_repeatability_sd(capsys):
    assert main(["precision", str(DATA / "precision_study.csv"), "--json"]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert payload["levels"][0]["repeatability_sd"] == pytest.approx(np.sqrt(0.015))


def test_pt_command_scores_every_participant_against_the_robust_consensus(capsys):
    assert main(["pt", str(DATA / "pt_round.csv"), "--u", "u", "--json"]) == 0
    payload = json.loads(capsys.readouterr().out)
    scores = payload["scores"]
    assert scores["participants"][6] == "L07" and scores["z_class"][6] == "action"
    assert scores["x_pt"] == pytest.approx(payload["robust"]["x_star"])


def test_spc_command_builds_an_xbar_chart_with_capability(tmp_path, capsys):
    rng = np.random.default_rng(0)
    csv = tmp_path / "x.csv"
    csv.write_text("x\n" + "\n".join(f"{v:.4f}" for v in rng.normal(10, 0.1, 50)))
    assert (
        main(["spc", "xbar", str(csv), "--subgroup-size", "5", "--lsl", "9.5", "--usl", "10.5", "--json"])
        == 0
    )
    payload = json.loads(capsys.readouterr().out)
    assert payload["chart"]["chart"] == "xbar" and len(payload["chart"]["statistics"]) == 10
    assert payload["capability"]["cp"] > 1


def test_malformed_csv_names_the_row_and_column(tmp_path, capsys):
    csv = tmp_path / "bad.csv"
    csv.write_text("lab,value\nA,1.0\nA,abc\n")
    assert main(["precision", str(csv)]) == 2
    assert "row 3, column 'value': 'abc' is not a number" in capsys.readouterr().err
    csv.write_text("lab,value\nA,1.0,7\n")
    assert main(["precision", str(csv)]) == 2
    assert "row 2 has 3 fields, the header has 2" in capsys.readouterr().err


def test_engine_errors_become_command_errors(tmp_path, capsys):
    csv = tmp_path / "one.csv"
    csv.write_text("lab,value\nA,1.0\nB,2.0\n")
    assert main(["precision", str(csv)]) == 2
    assert "fewer than two replicates" in capsys.readouterr().err
    assert main(["spc", "xbar", str(csv), "--column", "value"]) == 2
    assert "needs --subgroup-size or --subgroup" in capsys.readouterr().err
