"""``qslab ingest`` and ``qslab series`` from the command line."""

from __future__ import annotations

import pandas as pd

from qslab.cli import main


def test_ingest_of_neiss_twice_then_series_writes_detect_input_layout(tmp_path, data_dir, capsys):
    store = str(tmp_path / "store.duckdb")
    path = str(data_dir / "neiss" / "neiss_sample_2017_2021_10k.csv.gz")
    assert main(["ingest", "neiss", path, "--store", store, "--no-progress"]) == 0
    assert "10000 inserted" in capsys.readouterr().out
    assert main(["ingest", "neiss", path, "--store", store, "--no-progress"]) == 0
    assert "0 inserted, 10000 already stored" in capsys.readouterr().out
    out = tmp_path / "series.csv"
    assert main(["series", "--store", store, "--by", "severity", "--period", "month", "-o", str(out)]) == 0
    frame = pd.read_csv(out, dtype={"unit": str})
    assert list(frame.columns) == ["unit", "time", "observed", "date"]
    assert frame["observed"].sum() == 10_000 and frame["time"].max() == 60
    assert frame.loc[frame["unit"] == "8", "observed"].sum() == 7


def test_ingest_of_a_csv_with_a_yaml_mapping_lists_every_bad_row_and_writes_nothing(tmp_path, capsys):
    (tmp_path / "mapping.yaml").write_text(
        "source: lab\ncolumns:\n  record_id: {column: id, required: true}\n"
        "  event_date: {column: day, required: true}\n  weight: w\n"
    )
    (tmp_path / "data.csv").write_text("id,day,w\n1,2024-01-01,1\n2,2024-13-01,1\n3,2024-01-03,zero\n")
    store = str(tmp_path / "store.duckdb")
    errors = tmp_path / "errors.csv"
    code = main(
        [
            "ingest",
            "csv",
            str(tmp_path / "data.csv"),
            "--store",
            store,
            "--mapping",
            str(tmp_path / "mapping.yaml"),
            "--errors-out",
            str(errors),
            "--no-progress",
        ]
    )
    err = capsys.readouterr().err
    assert code == 2
    assert "data.csv, row 2, column 'day': '2024-13-01' is not a date in the format %Y-%m-%d" in err
    assert "data.csv, row 3, column 'w': 'zero' is not a number" in err
    assert pd.read_csv(errors)["row"].tolist() == [2, 3]
    assert main(["series", "--store", store, "--by", "region"]) == 2
    assert "no dated records" in capsys.readouterr().err


def test_user_errors_exit_2_with_a_message(tmp_path, capsys):
    assert main(["ingest", "csv", str(tmp_path / "x.csv"), "--store", str(tmp_path / "s.duckdb")]) == 2
    assert "SOURCE csv needs --mapping MAPPING.yaml" in capsys.readouterr().err
    assert main(["series", "--store", str(tmp_path / "none.duckdb"), "--by", "region"]) == 2
    assert "store not found" in capsys.readouterr().err
