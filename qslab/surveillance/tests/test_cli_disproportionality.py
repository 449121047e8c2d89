"""``qslab disproportionality``: output columns and precision, hyperparameter file, conventions, errors."""

from __future__ import annotations

import csv
import json

import numpy as np
import pandas as pd
import pytest

from qslab.cli import main
from qslab.surveillance.cli_disproportionality import OUTPUT_COLUMNS
from qslab.surveillance.disproportionality import disproportionality


@pytest.fixture(scope="module")
def caers_csv(reference_dir):
    return reference_dir / "disproportionality" / "caers.csv"


@pytest.fixture(scope="module")
def caers_run(caers_csv, tmp_path_factory):
    out = tmp_path_factory.mktemp("dp") / "scores.csv"
    hyper = out.with_name("hyper.json")
    code = main([
        "disproportionality", str(caers_csv), "-o", str(out), "--id", "id", "--product", "var1",
        "--event", "var2", "--hyper", "squashed", "--hyper-out", str(hyper),
    ])  # fmt: skip
    assert code == 0
    return out, hyper


def test_output_has_the_documented_columns_and_every_pair(caers_run):
    out, _ = caers_run
    with open(out, newline="") as fh:
        rows = list(csv.reader(fh))
    assert tuple(rows[0]) == OUTPUT_COLUMNS == (
        "product", "event", "N", "E", "PRR", "PRR_LB95", "ROR", "ROR_LB95", "ROR_UB95",
        "IC", "IC025", "EBGM", "EB05", "EB95",
    )  # fmt: skip
    assert len(rows) == 1 + 17189
    keys = [(r[0], r[1]) for r in rows[1:]]
    assert keys == sorted(keys)


def test_output_values_round_trip_the_engine_at_full_precision(caers_run, caers_csv):
    out, hyper_path = caers_run
    written = pd.read_csv(out, keep_default_na=False, dtype=str)
    hyper = json.loads(hyper_path.read_text())
    frame = pd.read_csv(caers_csv, dtype=str)
    theta = [hyper[k] for k in ("alpha1", "beta1", "alpha2", "beta2", "P")]
    engine = disproportionality(frame, id="id", product="var1", event="var2", hyper=theta).table()
    for col in ("E", "PRR", "ROR_UB95", "IC025", "EBGM", "EB05", "EB95"):
        text = written[col]
        expected = engine[col].to_numpy()
        empty = (text == "").to_numpy()
        np.testing.assert_array_equal(empty, np.isnan(expected))
        # repr of a float parses back to the identical double
        np.testing.assert_array_equal(text[~empty].astype(float).to_numpy(), expected[~empty])
    assert (written["N"].astype(int) == engine["N"]).all()


def test_undefined_scores_are_empty_fields(caers_run):
    out, _ = caers_run
    written = pd.read_csv(out, keep_default_na=False, dtype=str)
    # a product reported only with this event has no reports "product without the event": no ROR
    lonely = written[written["product"] == "1-PHENYLALANINE"]
    assert (lonely[["ROR", "ROR_LB95", "ROR_UB95"]] == "").all().all()
    assert (lonely[["PRR", "IC", "EBGM"]] != "").all().all()


def test_hyper_json_holds_the_vignette_hyperparameters_and_loglik(caers_run):
    _, hyper_path = caers_run
    hyper = json.loads(hyper_path.read_text())
    assert {"alpha1", "beta1", "alpha2", "beta2", "P", "loglik"} <= set(hyper)
    assert hyper["converged"] is True and hyper["data"] == "squashed" and hyper["margins"] == "reports"
    # autoSquash superpoints rather than the vignette's two squashData calls: close, not identical
    vignette = [3.25379356, 0.39988854, 2.02612692, 1.90807970, 0.06534557]
    got = [hyper[k] for k in ("alpha1", "beta1", "alpha2", "beta2", "P")]
    np.testing.assert_allclose(got, vignette, rtol=5e-3)
    assert hyper["loglik"] < 0


def test_openebgm_signals_appear_in_the_output(caers_run, reference_dir):
    out, _ = caers_run
    written = pd.read_csv(out)
    signals = pd.read_csv(reference_dir / "disproportionality" / "caers_signals_q05_ge_2.csv")
    merged = signals.merge(written, left_on=["var1", "var2"], right_on=["product", "event"])
    assert len(merged) == 131
    # the CLI's autoSquash hyperparameters differ from the vignette's in the 3rd digit: scores agree to ~1 %
    np.testing.assert_allclose(merged["EBGM_y"], merged["EBGM_x"], rtol=0.01)
    np.testing.assert_allclose(merged["EB05"], merged["QUANT_05"], rtol=0.01)


def test_pair_margins_and_strata_change_the_expected_counts(caers_csv, tmp_path):
    reports = tmp_path / "reports.csv"
    pairs = tmp_path / "pairs.csv"
    strat = tmp_path / "strat.csv"
    common = ["--id", "id", "--product", "var1", "--event", "var2"]
    assert main(["disproportionality", str(caers_csv), "-o", str(reports), *common]) == 0
    assert main(["disproportionality", str(caers_csv), "-o", str(pairs), *common, "--margins", "pairs"]) == 0
    assert main(["disproportionality", str(caers_csv), "-o", str(strat), *common, "--strata", "strat1"]) == 0
    a, b, c = (pd.read_csv(p) for p in (reports, pairs, strat))
    np.testing.assert_array_equal(a["N"], b["N"])
    assert not np.allclose(a["E"], b["E"]) and not np.allclose(a["E"], c["E"])
    # PRR uses the unstratified margins
    np.testing.assert_array_equal(a["PRR"].fillna(-1), c["PRR"].fillna(-1))


def test_missing_column_is_named(caers_csv, tmp_path, capsys):
    code = main([
        "disproportionality", str(caers_csv), "-o", str(tmp_path / "o.csv"),
        "--id", "report", "--product", "var1", "--event", "var2", "--strata", "sex,strat1",
    ])  # fmt: skip
    assert code == 2
    err = capsys.readouterr().err
    assert "missing columns 'report', 'sex'" in err and "columns present: id, var1, var2, strat1" in err
    assert not (tmp_path / "o.csv").exists()


def test_empty_value_names_the_row_and_column(tmp_path, capsys):
    src = tmp_path / "bad.csv"
    src.write_text("id,drug,ae\n1,A,x\n2,B,\n3,,y\n")
    code = main([
        "disproportionality", str(src), "-o", str(tmp_path / "o.csv"),
        "--id", "id", "--product", "drug", "--event", "ae",
    ])  # fmt: skip
    assert code == 2
    assert "row 4: empty value in column 'drug'" in capsys.readouterr().err


def test_missing_file_and_malformed_csv_are_reported(tmp_path, capsys):
    args = ["-o", str(tmp_path / "o.csv"), "--id", "id", "--product", "p", "--event", "e"]
    assert main(["disproportionality", str(tmp_path / "nope.csv"), *args]) == 2
    assert "input file not found" in capsys.readouterr().err
    bad = tmp_path / "bad.csv"
    bad.write_text('id,p,e\n1,"A,x\n')
    assert main(["disproportionality", str(bad), *args]) == 2
    assert "cannot read" in capsys.readouterr().err
    header_only = tmp_path / "header.csv"
    header_only.write_text("id,p,e\n")
    assert main(["disproportionality", str(header_only), *args]) == 2
    assert "no data rows" in capsys.readouterr().err


def test_bad_choice_is_refused_by_argparse(caers_csv, tmp_path):
    with pytest.raises(SystemExit) as exc:
        main([
            "disproportionality", str(caers_csv), "-o", str(tmp_path / "o.csv"), "--id", "id",
            "--product", "var1", "--event", "var2", "--margins", "rows",
        ])  # fmt: skip
    assert exc.value.code == 2
