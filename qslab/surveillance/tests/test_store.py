"""The analytical store: canonical table, idempotent appends, filtered queries (DuckDB)."""

from __future__ import annotations

import datetime as dt

import ibis
import pyarrow as pa
import pytest

from qslab.surveillance.schema import CANONICAL_SCHEMA
from qslab.surveillance.store import AnalyticalStore, StoreError, quiet_backend


def batch(ids, source="demo", **extra):
    n = len(ids)
    data = {
        "source": [source] * n,
        "record_id": list(ids),
        "event_date": [dt.date(2024, 1, 1) + dt.timedelta(days=7 * i) for i in range(n)],
        "product_code": ["A" if i % 2 == 0 else "B" for i in range(n)],
    }
    data.update(extra)
    return pa.table(data)


def test_a_new_duckdb_file_gets_the_canonical_table_and_keeps_records_after_reopening(tmp_path):
    path = tmp_path / "store.duckdb"
    with AnalyticalStore.duckdb(path) as store:
        assert store.table().schema() == CANONICAL_SCHEMA
        assert store.append(batch(["1", "2", "3"])).n_inserted == 3
    with AnalyticalStore.duckdb(path) as store:
        assert store.count() == 3
        assert store.sources() == {"demo": 3}


def test_appending_the_same_records_twice_stores_them_once():
    store = AnalyticalStore.duckdb()
    first = store.append(batch(["1", "2", "3"]))
    second = store.append(batch(["2", "3", "4"]))
    assert (first.n_inserted, second.n_inserted, second.n_skipped) == (3, 1, 2)
    assert store.count() == 4


def test_the_same_record_id_in_two_sources_is_two_records():
    store = AnalyticalStore.duckdb()
    store.append(batch(["1", "2"], source="a"))
    store.append(batch(["1", "2"], source="b"))
    assert store.sources() == {"a": 2, "b": 2}


def test_a_batch_that_repeats_a_key_is_refused_and_nothing_is_written():
    store = AnalyticalStore.duckdb()
    store.append(batch(["0"]))
    with pytest.raises(
        StoreError, match=r"1 key\(s\) \(source, record_id\) repeated within the batch: \(demo, 7\)"
    ):
        store.append(batch(["7", "8", "7"]))
    assert store.count() == 1


def test_a_column_outside_the_schema_is_refused():
    with pytest.raises(StoreError, match="column\\(s\\) not in the canonical schema: colour"):
        AnalyticalStore.duckdb().append(batch(["1"], colour=["red"]))


def test_a_missing_key_or_a_non_positive_weight_is_refused_with_the_row():
    store = AnalyticalStore.duckdb()
    with pytest.raises(StoreError, match="key column 'record_id' is empty in row\\(s\\) 2"):
        store.append(batch(["1", ""]))
    with pytest.raises(StoreError, match="must be positive and finite; not so in row\\(s\\) 1, 3"):
        store.append(batch(["1", "2", "3"], weight=[0.0, 1.0, float("nan")]))
    assert store.count() == 0


def test_missing_columns_are_filled_and_weight_defaults_to_one():
    store = AnalyticalStore.duckdb()
    store.append(batch(["1", "2"]))
    row = store.table().to_pyarrow().to_pylist()[0]
    assert row["weight"] == 1.0
    assert row["hazard_code"] is None


def test_records_filters_by_source_dates_and_column_values():
    store = AnalyticalStore.duckdb()
    store.append(batch([str(i) for i in range(6)]))
    store.append(batch(["x"], source="other"))
    t = store.records(source="demo", start="2024-01-08", end=dt.date(2024, 1, 29), product_code=["A"])
    assert sorted(t.record_id.to_pyarrow().to_pylist()) == ["2", "4"]
    assert store.date_range("demo") == (dt.date(2024, 1, 1), dt.date(2024, 2, 5))
    with pytest.raises(StoreError, match="unknown column 'colour'"):
        store.records(colour="red")
    with pytest.raises(StoreError, match="start must be an ISO date YYYY-MM-DD, got '2024/01/01'"):
        store.records(start="2024/01/01")


def test_an_existing_table_without_the_canonical_columns_is_refused():
    con = ibis.duckdb.connect()
    with quiet_backend():  # ibis 12 + duckdb 2 deprecation, see quiet_backend
        con.create_table("incidents", schema=ibis.schema({"source": "string", "record_id": "string"}))
    with pytest.raises(
        StoreError, match="table 'incidents' lacks canonical column\\(s\\): report_id, event_date"
    ):
        AnalyticalStore(con)


def test_a_store_in_a_missing_directory_is_refused(tmp_path):
    with pytest.raises(StoreError, match="directory of the store does not exist"):
        AnalyticalStore.duckdb(tmp_path / "nope" / "store.duckdb")
