"""The same store, ingest and aggregation expressions on Spark local mode give DuckDB's results."""

from __future__ import annotations

import numpy as np
import pytest

from qslab.surveillance import sources
from qslab.surveillance.aggregate import count_series, national_estimates
from qslab.surveillance.ingest import ingest
from qslab.surveillance.store import AnalyticalStore, spark_session

pytestmark = [
    pytest.mark.spark,
    pytest.mark.slow,
    # pyspark 4.0.5's toPandas calls DataFrame.astype(copy=False), deprecated in pandas 3.
    pytest.mark.filterwarnings("ignore:The copy keyword is deprecated:pandas.errors.Pandas4Warning"),
    # ... and its createDataFrame(pandas) reads the option future.infer_string, deprecated in pandas 3.
    pytest.mark.filterwarnings(
        "ignore:The 'future.infer_string' option is deprecated:pandas.errors.Pandas4Warning"
    ),
    # py4j leaves its gateway socket to the garbage collector when the session stops.
    pytest.mark.filterwarnings("ignore:unclosed <socket.socket:ResourceWarning"),
    pytest.mark.filterwarnings(
        "ignore:Exception ignored in. <socket.socket:pytest.PytestUnraisableExceptionWarning"
    ),
]


@pytest.fixture(scope="session")
def spark():
    """One local Spark session for this module's run (start-up takes several seconds)."""
    session = spark_session("qslab-tests")
    yield session
    session.stop()


def test_spark_and_duckdb_stores_give_identical_series_and_estimates_for_neiss(spark, data_dir):
    path = data_dir / "neiss" / "neiss_sample_2014_2023_1k.csv.gz"
    mapping = sources.neiss_mapping(data_dir / "neiss" / "codes")
    on_duckdb = AnalyticalStore.duckdb()
    on_spark = AnalyticalStore.spark(spark, table_name="incidents_test")
    on_spark.drop()
    assert ingest(on_duckdb, path, mapping, progress=False).n_inserted == 1000
    assert ingest(on_spark, path, mapping, progress=False).n_inserted == 1000
    assert ingest(on_spark, path, mapping, progress=False).n_inserted == 0  # idempotent on Spark too

    duck = count_series(on_duckdb.table(), by=["hazard_code", "severity"], period="month", value="weight")
    spk = count_series(on_spark.table(), by=["hazard_code", "severity"], period="month", value="weight")
    assert spk.units == duck.units and spk.start == duck.start
    np.testing.assert_array_equal(spk.dates, duck.dates)
    np.testing.assert_allclose(spk.observed, duck.observed, rtol=1e-12)

    weekly_duck = count_series(on_duckdb.table(), by="product_code", period="week")
    weekly_spark = count_series(on_spark.table(), by="product_code", period="week")
    np.testing.assert_array_equal(weekly_spark.observed, weekly_duck.observed)
    np.testing.assert_array_equal(weekly_spark.dates, weekly_duck.dates)

    est_duck = national_estimates(on_duckdb.table(), "severity").table
    est_spark = national_estimates(on_spark.table(), "severity").table
    assert est_spark["severity"].tolist() == est_duck["severity"].tolist()
    for column in ("n_records", "estimate", "variance", "cv"):
        np.testing.assert_allclose(
            est_spark[column].to_numpy(float), est_duck[column].to_numpy(float), rtol=1e-9
        )
