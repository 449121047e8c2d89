"""National scale: 10 million seeded incident rows in a DuckDB file -> weekly series -> every detector.

Issue 13, part 8. The rows (364 weeks, product x hazard x region units with seasonal Poisson rates)
are generated in a child process and written to a DuckDB file through ``AnalyticalStore.append``;
the timed pipeline then opens the file, aggregates to weekly series by product x hazard x region
in DuckDB through Ibis (``count_series``), and runs every detector found in
``qslab.surveillance.detectors`` on all series with R's default controls, scoring the last 52
weeks. Target: <= 60 s and <= 4 GiB peak RSS. The same pipeline runs on Spark local mode (time
reported, not targeted). The aggregation step is compared with a plain pandas groupby on a data
frame already in memory.
"""

from __future__ import annotations

import gc
import multiprocessing
import os
import tempfile
import time
from pathlib import Path

import numpy as np

from bench.harness import Row, peak_rss_mib

N_WEEKS = 364
FIRST_MONDAY = np.datetime64("2017-01-02")
BY = ["product_code", "hazard_code", "region"]


def _sizes(quick: bool) -> tuple[int, int, int, int]:
    # rows, products, hazards, regions
    return (100_000, 10, 4, 3) if quick else (10_000_000, 20, 8, 6)


def generate(
    path: str, n_rows: int, n_products: int, n_hazards: int, n_regions: int, seed: int = 20240613
) -> None:
    """Write ``n_rows`` seeded incident records to the DuckDB store at ``path`` (run in a child process)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    from qslab.surveillance.store import AnalyticalStore

    rng = np.random.default_rng(seed)
    n_units = n_products * n_hazards * n_regions
    unit_rate = rng.lognormal(0.0, 1.0, n_units)
    unit_rate /= unit_rate.sum()
    week = np.arange(N_WEEKS)
    season = 1.0 + 0.4 * np.sin(2 * np.pi * week / 52.18) + 0.0005 * week
    season /= season.sum()
    unit = rng.choice(n_units, size=n_rows, p=unit_rate)
    week_of = rng.choice(N_WEEKS, size=n_rows, p=season)
    day = FIRST_MONDAY + (week_of * 7 + rng.integers(0, 7, n_rows)).astype("timedelta64[D]")
    product = unit // (n_hazards * n_regions)
    hazard = (unit // n_regions) % n_hazards
    region = unit % n_regions

    def codes(prefix: str, index: np.ndarray, n: int) -> pa.Array:
        labels = pa.array([f"{prefix}{i:02d}" for i in range(n)])
        return pc.take(labels, pa.array(index))

    table = pa.table(
        {
            "source": pa.array(np.full(n_rows, "bench", dtype=object), pa.string()),
            "record_id": pc.cast(pa.array(np.arange(n_rows)), pa.string()),
            "event_date": pa.array(day.astype("datetime64[D]")),
            "product_code": codes("P", product, n_products),
            "hazard_code": codes("H", hazard, n_hazards),
            "region": codes("R", region, n_regions),
            "weight": pa.array(rng.uniform(1.0, 100.0, n_rows)),
        }
    )
    with AnalyticalStore.duckdb(path) as store:
        store.drop()
        store.append(table)


def _detectors(n_time: int):
    """Every detector available at run time, with R's default controls scoring the last 52 weeks."""
    from qslab.surveillance.detectors import registry

    found = []
    for name in registry.METHOD_NAMES:
        try:
            method = registry.get_method(name)
        except (ImportError, AttributeError):
            continue
        control = {"range": list(range(n_time - 51, n_time + 1))}
        found.append((name, method, method.config_class.from_r_control(control, 52, n_time)))
    return found


def _warm_up() -> None:
    """Import the detectors and compile their numba kernels on a small series, outside the timing."""
    from qslab.surveillance.sts import CountSeries

    rng = np.random.default_rng(1)
    dates = FIRST_MONDAY + np.arange(N_WEEKS) * 7
    _run_detectors(CountSeries(rng.poisson(5.0, (N_WEEKS, 3)), freq=52, start=(2017, 1), dates=dates))


def _run_detectors(series) -> tuple[dict[str, float], list[str]]:
    times: dict[str, float] = {}
    notes: list[str] = []
    for name, method, config in _detectors(series.n_time):
        start = time.perf_counter()
        try:
            result = method.detect(series, config)
        except Exception as exc:  # report, don't hide: a detector that fails on this data is news
            notes.append(f"{name} failed: {type(exc).__name__}: {exc}"[:120])
            continue
        times[name] = time.perf_counter() - start
        alarms = int(np.nansum(result.alarm))
        notes.append(f"{name} {times[name]:.2f}s/{alarms} alarms")
    return times, notes


def _pipeline(store) -> tuple[float, float, dict[str, float], list[str], tuple[int, int]]:
    from qslab.surveillance.aggregate import count_series

    start = time.perf_counter()
    series = count_series(store.table(), by=BY, period="week")
    aggregate_s = time.perf_counter() - start
    times, notes = _run_detectors(series)
    return aggregate_s, time.perf_counter() - start, times, notes, series.observed.shape


def _pandas_baseline(path: str) -> tuple[float, int]:
    from qslab.surveillance.store import AnalyticalStore

    with AnalyticalStore.duckdb(path, read_only=True) as store:
        frame = store.table().select("event_date", *BY).to_pyarrow().to_pandas()
    days = frame["event_date"].to_numpy().astype("datetime64[D]")
    gc.collect()
    start = time.perf_counter()
    as_int = days.astype(np.int64)
    week = (as_int - (as_int + 3) % 7).astype("datetime64[D]")  # Monday of the ISO week
    counts = frame.assign(week=week).groupby(["week", *BY], observed=True).size()
    return time.perf_counter() - start, int(counts.sum())


def _spark(path: str) -> tuple[float, float, list[str]]:
    import ibis

    from qslab.surveillance.store import AnalyticalStore, spark_session

    parquet = str(Path(path).with_suffix(".parquet"))
    with AnalyticalStore.duckdb(path, read_only=True) as store:
        store.backend.to_parquet(store.table(), parquet)
    session = spark_session("qslab-bench", settings={"spark.driver.memory": "3g"})
    try:
        start = time.perf_counter()
        session.read.parquet(parquet).createOrReplaceTempView("incidents")
        store = AnalyticalStore(ibis.pyspark.connect(session))
        aggregate_s, _, _, notes, _ = _pipeline(store)
        return aggregate_s, time.perf_counter() - start, notes
    finally:
        session.stop()


def run(quick: bool) -> list[Row]:
    n_rows, n_products, n_hazards, n_regions = _sizes(quick)
    label = f"{n_rows / 1e6:g}M" if n_rows >= 1e6 else f"{n_rows:,}"
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="qslab-bench-") as folder:
        path = os.path.join(folder, "incidents.duckdb")
        start = time.perf_counter()
        child = multiprocessing.get_context("spawn").Process(
            target=generate, args=(path, n_rows, n_products, n_hazards, n_regions)
        )
        child.start()
        child.join()
        if child.exitcode != 0:
            raise RuntimeError(f"generating the incident rows failed (exit code {child.exitcode})")
        setup_s = time.perf_counter() - start

        from qslab.surveillance.store import AnalyticalStore

        def ours():
            with AnalyticalStore.duckdb(path, read_only=True) as store:
                return _pipeline(store)

        _warm_up()
        peak, (aggregate_s, total_s, _, notes, shape) = peak_rss_mib(ours)
        pandas_s, pandas_total = _pandas_baseline(path)
        if pandas_total != n_rows:
            raise RuntimeError(f"pandas baseline counted {pandas_total} rows, expected {n_rows}")
        rows.append(
            Row(
                benchmark=f"national scale: {label} rows -> weekly series product x hazard x region (Ibis)",
                ours_seconds=aggregate_s,
                reference="pandas groupby (frame in memory)",
                reference_seconds=pandas_s,
                note=f"{shape[1]} series x {shape[0]} weeks, zero-filled; store written in {setup_s:.1f}s "
                "(not timed); detectors compiled on a small series first",
            )
        )
        rows.append(
            Row(
                benchmark=f"national scale: {label} rows DuckDB file -> series -> all detectors",
                ours_seconds=total_s,
                ours_peak_mib=peak,
                target="<= 60 s, <= 4096 MiB",
                met=bool(total_s <= 60 and peak <= 4096),
                note="; ".join(notes) or "no detector available",
            )
        )
        gc.collect()
        spark_agg, spark_total, spark_notes = _spark(path)
        rows.append(
            Row(
                benchmark=f"national scale: {label} rows on Spark local[2] -> series -> all detectors",
                ours_seconds=spark_total,
                note=f"aggregation {spark_agg:.1f}s (reported, not targeted); " + "; ".join(spark_notes),
            )
        )
    return rows


if __name__ == "__main__":
    from bench.harness import format_table

    print(format_table(run(quick=True)))
