"""Series from the store: zero-filled counts by group and period, exposure, NEISS national estimates."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from qslab.surveillance import sources
from qslab.surveillance.aggregate import (
    AggregateError,
    SuppressionRules,
    aggregate_counts,
    count_series,
    national_estimates,
)
from qslab.surveillance.ingest import ingest
from qslab.surveillance.store import AnalyticalStore


@pytest.fixture(scope="module")
def neiss(data_dir):
    store = AnalyticalStore.duckdb()
    codes = data_dir / "neiss" / "codes"
    ingest(
        store,
        data_dir / "neiss" / "neiss_sample_2017_2021_10k.csv.gz",
        sources.neiss_mapping(codes),
        progress=False,
    )
    return store


@pytest.fixture(scope="module")
def neiss_raw(data_dir):
    return pd.read_csv(data_dir / "neiss" / "neiss_sample_2017_2021_10k.csv.gz", dtype=str)


def small_store(rows):
    store = AnalyticalStore.duckdb()
    frame = pd.DataFrame(rows, columns=["record_id", "event_date", "product_code", "region"])
    frame["source"] = "demo"
    frame["event_date"] = pd.to_datetime(frame["event_date"]).dt.date
    store.append(pa.Table.from_pandas(frame, preserve_index=False))
    return store


def test_weekly_series_by_product_and_diagnosis_equals_a_pandas_groupby_over_iso_weeks(neiss, neiss_raw):
    series = count_series(neiss.table(), by=["product_code", "hazard_code"], period="week")
    raw = neiss_raw.assign(
        week=pd.to_datetime(neiss_raw["treatment_date"]).dt.to_period("W-SUN").dt.start_time,
        unit=neiss_raw["product_1_code"].fillna("NA") + "|" + neiss_raw["diagnosis_code"],
    )
    expected = raw.groupby(["week", "unit"]).size().unstack(fill_value=0)
    weeks = pd.date_range(expected.index.min(), expected.index.max(), freq="7D")
    expected = expected.reindex(index=weeks, fill_value=0).sort_index(axis=1)
    assert series.units == tuple(expected.columns)
    np.testing.assert_array_equal(series.observed, expected.to_numpy(dtype=float))
    np.testing.assert_array_equal(series.dates, weeks.to_numpy().astype("datetime64[D]"))
    assert series.freq == 52 and series.start == (2016, 52)  # 2017-01-01 is a Sunday of ISO week 2016-W52


def test_weighted_monthly_series_sums_the_statistical_weights(neiss, neiss_raw):
    series = count_series(neiss.table(), by="severity", period="month", value="weight")
    raw = neiss_raw.assign(month=pd.to_datetime(neiss_raw["treatment_date"]).dt.to_period("M"))
    expected = raw.assign(weight=raw["weight"].astype(float)).pivot_table(
        index="month", columns="disposition_code", values="weight", aggfunc="sum", fill_value=0.0
    )
    assert series.units == tuple(expected.columns) and series.observed.shape == (60, 6)
    np.testing.assert_allclose(series.observed, expected.to_numpy(), rtol=1e-12)


def test_the_time_axis_runs_over_the_requested_dates_with_zeros_where_nothing_happened():
    store = small_store([("1", "2024-02-14", "A", "N"), ("2", "2024-02-20", "A", "S")])
    series = count_series(
        store.table(), by=["product_code", "region"], period="month", start="2023-11-30", end="2024-05-01"
    )
    assert [str(d) for d in series.dates] == [
        f"{m}-01" for m in ("2023-11", "2023-12", "2024-01", "2024-02", "2024-03", "2024-04", "2024-05")
    ]
    assert series.units == ("A|N", "A|S")
    np.testing.assert_array_equal(series.observed[:, 0], [0, 0, 0, 1, 0, 0, 0])
    assert series.start == (2023, 11)
    empty = count_series(
        store.table(), by="product_code", period="week", start="2025-01-01", end="2025-01-20"
    )
    assert empty.observed.shape == (4, 1) and empty.observed.sum() == 0


def test_missing_group_values_form_their_own_unit_named_na():
    store = small_store([("1", "2024-01-01", None, "N"), ("2", "2024-01-02", "A", "N")])
    assert count_series(store.table(), by="product_code").units == ("A", "NA")


def test_a_population_table_by_year_and_group_becomes_the_series_exposure():
    store = small_store(
        [("1", "2023-12-25", "A", "N"), ("2", "2024-01-02", "A", "S"), ("3", "2024-01-09", "B", "S")]
    )
    population = pd.DataFrame(
        {
            "region": ["N", "S", "N", "S"],
            "year": [2023, 2023, 2024, 2024],
            "population": [10.0, 20.0, 11.0, 21.0],
        }
    )
    series = count_series(store.table(), by=["product_code", "region"], period="week", population=population)
    assert series.units == ("A|N", "A|S", "B|S")
    np.testing.assert_array_equal(series.population, [[10, 20, 20], [11, 21, 21], [11, 21, 21]])
    one = count_series(store.table(), by="product_code", population=pd.DataFrame({"population": [5.0]}))
    assert np.all(one.population == 5.0)
    with pytest.raises(
        AggregateError, match="population missing for 3 unit-period\\(s\\), first unit 'A\\|N' at 2023-12-25"
    ):
        count_series(
            store.table(), by=["product_code", "region"], population=population[population["year"] == 2024]
        )


def test_all_products_counts_a_neiss_record_under_each_of_its_products(neiss, neiss_raw):
    series = count_series(neiss.table(), by="product_code", period="month", all_products=True)
    slots = (
        pd.concat(
            [
                neiss_raw[["cpsc_case_number", c]].rename(columns={c: "p"})
                for c in ("product_1_code", "product_2_code", "product_3_code")
            ]
        )
        .dropna()
        .drop_duplicates()
    )
    expected = slots["p"].value_counts()
    totals = dict(zip(series.units, series.observed.sum(axis=0), strict=True))
    assert totals["1842"] == expected["1842"] and totals["1807"] == expected["1807"]
    assert sum(v for k, v in totals.items() if k != "NA") == len(slots)


def test_the_aggregation_is_an_ibis_expression_run_by_the_backend(neiss):
    expr = aggregate_counts(neiss.table(), ["region"], "month")
    frame = expr.to_pyarrow().to_pandas()
    assert list(frame.columns) == ["period_start", "region", "n", "weight"] and frame["n"].sum() == 10_000


def test_bad_series_requests_name_the_argument(neiss):
    t = neiss.table()
    with pytest.raises(AggregateError, match="by: unknown column 'colour'"):
        count_series(t, by="colour")
    with pytest.raises(AggregateError, match="by: column 'weight' cannot group a series"):
        count_series(t, by="weight")
    with pytest.raises(AggregateError, match="period must be one of week, month, got 'day'"):
        count_series(t, by="region", period="day")
    with pytest.raises(AggregateError, match="value must be 'count' or 'weight'"):
        count_series(t, by="region", value="mean")
    with pytest.raises(AggregateError, match="end 2020-01-01 is before start 2021-01-01"):
        count_series(t, by="region", start="2021-01-01", end="2020-01-01")


def test_national_estimate_variance_matches_a_hand_computed_stratified_example():
    rows = [  # (record, stratum, psu, product, weight)
        ("1", "A", "a1", "X", 10.0),
        ("2", "A", "a2", "X", 20.0),
        ("3", "A", "a3", "Y", 7.0),
        ("4", "B", "b1", "X", 5.0),
        ("5", "B", "b2", "Y", 3.0),
    ]
    store = AnalyticalStore.duckdb()
    store.append(
        pa.table(
            {
                "source": ["s"] * 5,
                "record_id": [r[0] for r in rows],
                "stratum": [r[1] for r in rows],
                "psu": [r[2] for r in rows],
                "product_code": [r[3] for r in rows],
                "weight": [r[4] for r in rows],
                "event_date": [dt.date(2024, 1, 1)] * 5,
            }
        )
    )
    result = national_estimates(store.table(), "product_code")
    x = result.table.set_index("product_code").loc["X"]
    # stratum A: y = (10, 20, 0), 3/2 * 200 = 300; stratum B: y = (5, 0), 2/1 * 12.5 = 25
    assert x["estimate"] == 35.0 and x["n_records"] == 3
    assert x["variance"] == pytest.approx(325.0, rel=1e-12)
    assert x["cv"] == pytest.approx(np.sqrt(325.0) / 35.0, rel=1e-12)
    assert x["ci_lower"] == pytest.approx(35.0 - 1.96 * np.sqrt(325.0), rel=1e-12)
    assert bool(x["unstable"])


def test_national_estimates_for_neiss_products_match_a_dense_psu_computation(neiss, neiss_raw):
    result = national_estimates(neiss.table(), "product_code", start="2019-01-01", end="2019-12-31")
    raw = neiss_raw[neiss_raw["treatment_date"].between("2019-01-01", "2019-12-31")]
    raw = raw.assign(weight=raw["weight"].astype(float), product=raw["product_1_code"].fillna("NA"))
    y = raw.pivot_table(
        index=["stratum", "psu"], columns="product", values="weight", aggfunc="sum", fill_value=0.0
    )
    variance = pd.Series(0.0, index=y.columns)
    for _, block in y.groupby(level="stratum"):
        n_h = len(block)
        variance += n_h / (n_h - 1) * ((block - block.mean()) ** 2).sum()
    got = result.table.assign(product_code=result.table["product_code"].fillna("NA")).set_index(
        "product_code"
    )
    np.testing.assert_allclose(got.loc[y.columns, "estimate"], y.sum(), rtol=1e-12)
    np.testing.assert_allclose(got.loc[y.columns, "variance"], variance, rtol=1e-9, atol=1e-6)
    floors = got.loc["1807"]
    assert floors["n_records"] == (raw["product"] == "1807").sum()
    assert not floors["unstable"]


def test_suppression_follows_cpsc_thresholds_and_can_use_wisqars_cv():
    store = AnalyticalStore.duckdb()
    n = 25
    store.append(
        pa.table(
            {
                "source": ["s"] * n,
                "record_id": [str(i) for i in range(n)],
                "product_code": ["X"] * n,
                "stratum": ["A"] * n,
                "psu": [f"p{i % 5}" for i in range(n)],
                "weight": [60.0 + (i % 5) * 4 for i in range(n)],
            }
        )
    )
    row = national_estimates(store.table(), "product_code").table.iloc[0]
    assert row["estimate"] == 1700.0 and row["n_records"] == 25 and not row["unstable"]
    strict = national_estimates(store.table(), "product_code", rules=SuppressionRules(min_estimate=2000))
    assert bool(strict.table["unstable"].iloc[0])
    with pytest.raises(AggregateError, match="suppression thresholds must be non-negative"):
        SuppressionRules(max_cv=0)
