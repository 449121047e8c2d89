"""Ingest through a declared column mapping: validation of the mapping, of every value, idempotency."""

from __future__ import annotations

import datetime as dt

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from qslab.surveillance.ingest import (
    ColumnMapping,
    FieldMap,
    IngestError,
    IngestValidationError,
    MappingError,
    ingest,
    read_validated,
)
from qslab.surveillance.store import AnalyticalStore

MAPPING = {
    "source": "lab",
    "columns": {
        "record_id": {"column": "id", "required": True},
        "event_date": {"column": "day", "required": True, "date_format": "%d/%m/%Y"},
        "product_code": {
            "column": "item",
            "codes": {"A": "apples", "B": "bananas"},
            "label_to": "product_label",
        },
        "weight": "w",
        "age": {"column": "age", "minimum": 0, "maximum": 120},
        "region": {"constant": "CN-GD"},
    },
}

GOOD = "id,day,item,w,age\n1,04/03/2024,A,2.5,30\n2,05/03/2024,B,1,\n3,11/03/2024,A,4,7\n"


def write(tmp_path, text, name="visits.csv"):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_a_good_file_is_stored_with_labels_constants_and_parsed_types(tmp_path):
    store = AnalyticalStore.duckdb()
    report = ingest(store, write(tmp_path, GOOD), ColumnMapping.from_dict(MAPPING), progress=False)
    assert (report.n_rows, report.n_inserted, report.n_skipped) == (3, 3, 0)
    rows = store.table().order_by("record_id").to_pyarrow().to_pylist()
    assert rows[0]["event_date"] == dt.date(2024, 3, 4)
    assert rows[1]["product_label"] == "bananas"
    assert rows[1]["age"] is None
    assert {r["region"] for r in rows} == {"CN-GD"}
    assert [r["weight"] for r in rows] == [2.5, 1.0, 4.0]
    assert {r["source"] for r in rows} == {"lab"}


def test_ingesting_the_same_file_again_adds_nothing_and_an_overlapping_file_adds_only_new_rows(tmp_path):
    store = AnalyticalStore.duckdb()
    mapping = ColumnMapping.from_dict(MAPPING)
    ingest(store, write(tmp_path, GOOD), mapping, progress=False)
    again = ingest(store, write(tmp_path, GOOD), mapping, progress=False)
    assert (again.n_inserted, again.n_skipped) == (0, 3)
    more = write(tmp_path, GOOD + "4,12/03/2024,B,1,50\n", "more.csv")
    assert ingest(store, more, mapping, progress=False).n_inserted == 1
    assert store.count() == 4


def test_a_file_with_several_bad_rows_reports_every_bad_value_with_row_and_column_and_stores_nothing(
    tmp_path,
):
    store = AnalyticalStore.duckdb()
    mapping = ColumnMapping.from_dict(MAPPING)
    ingest(store, write(tmp_path, GOOD, "first.csv"), mapping, progress=False)
    bad = write(
        tmp_path,
        "id,day,item,w,age\n"
        "10,04/03/2024,A,1,30\n"  # row 1: good
        "11,31/02/2024,A,1,30\n"  # row 2: no 31 February
        "12,05/03/2024,C,-2,abc\n"  # row 3: unknown code, negative weight, age not a number
        ",,B,1,200\n"  # row 4: missing id and date, age above maximum
        "13,06/03/2024,A,1,30\n",  # row 5: good
        "bad.csv",
    )
    with pytest.raises(IngestValidationError) as caught:
        ingest(store, bad, mapping, progress=False)
    found = [(p.row, p.column, p.message) for p in caught.value.problems]
    assert found == [
        (2, "day", "'31/02/2024' is not a date in the format %d/%m/%Y"),
        (3, "age", "'abc' is not a number"),
        (3, "item", "unknown code 'C' (not in code table)"),
        (3, "w", "weight '-2' must be positive"),
        (4, "age", "'200' is above the maximum 120"),
        (4, "day", "missing value (required)"),
        (4, "id", "missing value (required)"),
    ]
    assert all(p.file == "bad.csv" for p in caught.value.problems)
    message = str(caught.value)
    assert message.startswith("bad.csv: 7 bad value(s) in 3 of 5 row(s); nothing was written")
    assert "bad.csv, row 3, column 'item': unknown code 'C' (not in code table)" in message
    assert store.count() == 3  # the first file only
    assert list(caught.value.to_frame().columns) == ["file", "row", "column", "value", "message"]


def test_row_numbers_stay_right_across_read_blocks(tmp_path):
    lines = ["id,day,item,w,age"] + [f"{i},04/03/2024,A,1,30" for i in range(1, 3001)]
    lines[2500] = "2500,04/03/2024,Z,1,30"
    path = write(tmp_path, "\n".join(lines) + "\n")
    with pytest.raises(IngestValidationError) as caught:
        read_validated(path, ColumnMapping.from_dict(MAPPING), progress=False, block_bytes=4096)
    assert [(p.row, p.value) for p in caught.value.problems] == [(2500, "Z")]


def test_identical_repeated_rows_are_dropped_and_a_repeated_id_with_other_values_is_rejected(tmp_path):
    store = AnalyticalStore.duckdb()
    mapping = ColumnMapping.from_dict(MAPPING)
    repeated = write(tmp_path, GOOD + "1,04/03/2024,A,2.5,30\n")
    report = ingest(store, repeated, mapping, progress=False)
    assert (report.n_rows, report.n_duplicates_in_file, report.n_inserted) == (4, 1, 3)
    conflicting = write(tmp_path, GOOD + "3,11/03/2024,B,4,7\n", "conflict.csv")
    with pytest.raises(IngestValidationError) as caught:
        ingest(AnalyticalStore.duckdb(), conflicting, mapping, progress=False)
    [problem] = caught.value.problems
    assert (problem.row, problem.column, problem.message) == (
        4,
        "id",
        "record id '3' repeats row 3 with different values",
    )


def test_parquet_and_csv_with_the_same_content_give_the_same_records(tmp_path):
    table = pa.table(
        {
            "id": ["1", "2", "3"],
            "day": ["04/03/2024", "05/03/2024", "11/03/2024"],
            "item": ["A", "B", "A"],
            "w": [2.5, 1.0, 4.0],
            "age": [30, None, 7],
        }
    )
    pq.write_table(table, tmp_path / "visits.parquet")
    mapping = ColumnMapping.from_dict(MAPPING)
    from_parquet, _ = read_validated(tmp_path / "visits.parquet", mapping, progress=False)
    from_csv, _ = read_validated(write(tmp_path, GOOD), mapping, progress=False)
    assert from_parquet.equals(from_csv)


def test_joined_columns_fallbacks_patterns_case_and_replacements_are_applied(tmp_path):
    mapping = ColumnMapping.from_dict(
        {
            "source": "recalls",
            "delimiter": ";",
            "columns": {
                "record_id": {"column": "no", "fallback": ["event", "text"], "required": True},
                "report_id": {"column": ["event", "text"], "separator": "/"},
                "hazard_code": {
                    "column": "text",
                    "pattern": r"^\s*([^:]*[^:.\s])",
                    "case": "lower",
                    "replace": {"non-sterility": "sterility"},
                },
            },
        }
    )
    path = write(tmp_path, "no;event;text\nR1;7;Non-Sterility: lot 5\n;8;Labeling.\n")
    table, _ = read_validated(path, mapping, progress=False)
    assert table["record_id"].to_pylist() == ["R1", "8|Labeling."]
    assert table["report_id"].to_pylist() == ["7/Non-Sterility: lot 5", "8/Labeling."]
    assert table["hazard_code"].to_pylist() == ["sterility", "labeling"]


def test_a_mapping_read_from_yaml_loads_its_code_table_relative_to_the_yaml_file(tmp_path):
    (tmp_path / "codes.csv").write_text("code,label\nA,apples\nB,bananas\n")
    (tmp_path / "mapping.yaml").write_text(
        "source: lab\ncolumns:\n  record_id: id\n  event_date: {column: day, date_format: '%d/%m/%Y'}\n"
        "  product_code: {column: item, codes_file: codes.csv, label_to: product_label}\n"
    )
    mapping = ColumnMapping.from_yaml(tmp_path / "mapping.yaml")
    assert mapping.columns["product_code"].codes == {"A": "apples", "B": "bananas"}
    assert mapping.columns["product_code"].codes_name == "codes.csv"
    assert ingest(AnalyticalStore.duckdb(), write(tmp_path, GOOD), mapping, progress=False).n_inserted == 3


@pytest.mark.parametrize(
    ("columns", "message"),
    [
        ({"record_id": "id", "colour": "c"}, "column 'colour': not in the canonical schema"),
        ({"event_date": "day"}, "column 'record_id': must be mapped"),
        ({"record_id": "id", "region": {"column": "r", "date_format": "%Y"}}, "date_format is only for date"),
        ({"record_id": "id", "age": {"column": "a", "codes": {"1": "x"}}}, "codes are only for text columns"),
        (
            {"record_id": "id", "region": {"column": "r", "constant": "x"}},
            "give exactly one of 'column' and 'constant'",
        ),
        ({"record_id": "id", "region": {"column": "r", "pattern": "([a-"}}, "is not a regular expression"),
        ({"record_id": "id", "region": {"column": "r", "pattern": "a+"}}, "needs a capturing group"),
        ({"record_id": "id", "region": {"column": "r", "case": "title"}}, "case must be 'lower' or 'upper'"),
        (
            {"record_id": "id", "region": {"column": "r", "colour": 1}},
            "column 'region': unknown key\\(s\\) colour",
        ),
        ({"record_id": "id", "source": "s"}, "do not map it"),
        ({"record_id": "id", "region": {"column": "r", "label_to": "product_label"}}, "label_to needs codes"),
    ],
)
def test_a_malformed_mapping_is_refused_with_the_column_and_key(columns, message):
    with pytest.raises(MappingError, match=message):
        ColumnMapping.from_dict({"source": "lab", "columns": columns})


def test_a_mapping_is_frozen():
    mapping = ColumnMapping.from_dict(MAPPING)
    with pytest.raises(AttributeError):
        mapping.source = "other"  # type: ignore[misc]
    with pytest.raises(TypeError):
        mapping.columns["region"] = FieldMap(constant="x")  # type: ignore[index]


def test_a_file_without_a_mapped_column_or_no_file_at_all_is_an_ingest_error(tmp_path):
    mapping = ColumnMapping.from_dict(MAPPING)
    with pytest.raises(IngestError, match="column\\(s\\) 'age' not in the file; it has id, day, item, w"):
        ingest(
            AnalyticalStore.duckdb(),
            write(tmp_path, "id,day,item,w\n1,04/03/2024,A,1\n"),
            mapping,
            progress=False,
        )
    with pytest.raises(IngestError, match="file not found"):
        ingest(AnalyticalStore.duckdb(), tmp_path / "missing.csv", mapping, progress=False)
