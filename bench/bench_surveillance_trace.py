"""Recall scope query over 10 million serialised units and 50 million supply-chain events (issue 14, item 3).

The data are generated inside DuckDB with SQL (``range()`` and ``hash()``; nothing row by row in
Python): 200 GTINs x 50,000 units in batches of 5,000, 3 to 7 events per unit, 5 on average
(manufactured -> imported or national distribution -> regional distributor -> retailer -> sold ->
recalled -> remedied), among ~100,000 parties in GB/T 2260 regions, each GTIN with its own network.
The store is laid out as :meth:`TraceStore.optimise` leaves it (units by GTIN/batch/serial, events
by unit). Building is timed and reported separately; the scope queries are timed after the data
are built (best of 3).

Reference, measured in the same run: the same scope computed by plain DuckDB SQL (CTEs, a window
for the last event, the scoped events in a temporary table) over an events table in **log order**
(as appended over time; a unit's events far apart), i.e. without the clustered layout and with a
sorted window instead of one-pass ``arg_max``. Its results are checked equal to ours.

Set ``QSLAB_BENCH_TRACE_STORE=/path/trace.duckdb`` to keep the built store and reuse it on later runs
(the build is the slow part: minutes on two cores).
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

from bench.harness import Row, peak_rss_mib, timed

UNITS_PER_GTIN = 50_000
BATCH = 5_000
EVENTS_PER_UNIT = 5  # on average


def gtins(n: int) -> list[str]:
    """``n`` valid GTIN-13s (prefix 690, check digit by python-stdnum), 14-digit, ascending."""
    from stdnum import ean

    out = []
    for g in range(n):
        body = f"690{g + 100000:09d}"
        out.append((body + ean.calc_check_digit(body)).zfill(14))
    return sorted(out)


def _region(number: str) -> str:
    """SQL: a GB/T 2260 district code derived from a party number (integer arithmetic, one cast)."""
    x = f"(({number}) % 31)"
    province = (
        f"CASE WHEN {x} < 5 THEN 11 + {x} WHEN {x} < 8 THEN 16 + {x} WHEN {x} < 15 THEN 23 + {x} "
        f"WHEN {x} < 21 THEN 26 + {x} WHEN {x} < 26 THEN 29 + {x} ELSE 35 + {x} END"
    )
    return (
        f"CAST({province} * 10000 + ((({number}) // 31) % 20 + 1) * 100 "
        f"+ (({number}) // 620) % 12 + 1 AS VARCHAR)"
    )


MAX_STEPS = 7  # manufactured, imported/national, regional, retailer, sold, recalled, remedied


def _events_sql(n_units: int, order: str) -> str:
    """SELECT of all events; ``order`` ``unit`` (clustered) or ``log`` (units scattered, step by step).

    A unit has 3 to 7 events (uniform, mean 5): manufactured -> imported (every 4th GTIN) or
    national distributor -> regional distributor [held there] -> retailer [held] -> sold -> recalled
    by the retailer -> remedied by a service party. Each GTIN has its own network (100 regional
    distributors, 2,000 retailers out of 2,000 and 100,000), as a product line has.
    """
    n_rows = n_units * MAX_STEPS
    if order == "unit":
        uk = f"SELECT j // {MAX_STEPS} AS u, j % {MAX_STEPS} AS k FROM range({n_rows}) t(j)"  # noqa: S608
    else:  # a permutation of the units within each step: (j * A) mod N with A coprime to N
        uk = (
            f"SELECT ((j % {n_units}) * 1000003) % {n_units} AS u, j // {n_units} AS k "  # noqa: S608
            f"FROM range({n_rows}) t(j)"
        )
    party = """
        CASE k
          WHEN 0 THEN g
          WHEN 1 THEN CASE WHEN g % 4 = 0 THEN 1000 + h % 20 ELSE 2000 + h % 50 END
          WHEN 2 THEN 10000 + (g * 37 + (h >> 8) % 100) % 2000
          WHEN 6 THEN 20000 + (h >> 40) % 500
          ELSE 100000 + (g * 7919 + (h >> 20) % 2000) % 100000
        END"""
    return f"""
    WITH base AS (
      SELECT u, k, h, g, b FROM (
        SELECT u, k, hash(u) AS h, u // {UNITS_PER_GTIN} AS g, (u % {UNITS_PER_GTIN}) // {BATCH} AS b
        FROM ({uk})
      ) WHERE k < 3 + h % 5
    ), named AS (
      SELECT u, k, h, g, b, CAST({party} AS BIGINT) AS p FROM base
    ), coded AS (
      SELECT u, k, h, g, b, p,
             CASE WHEN p < 1000 THEN 'M' WHEN p < 2000 THEN 'I' WHEN p < 10000 THEN 'N'
                  WHEN p < 20000 THEN 'D' WHEN p < 100000 THEN 'S' ELSE 'R' END AS c
      FROM named
    )
    SELECT CAST(u * {MAX_STEPS} + k AS BIGINT) AS event_key,
           CAST(u AS BIGINT) AS unit_key,
           CASE k WHEN 0 THEN 'manufactured'
                  WHEN 1 THEN CASE WHEN g % 4 = 0 THEN 'imported' ELSE 'distributed' END
                  WHEN 2 THEN 'distributed' WHEN 3 THEN 'distributed' WHEN 4 THEN 'sold'
                  WHEN 5 THEN 'recalled' ELSE 'remedied'
           END AS kind,
           c || CAST(p AS VARCHAR) AS party_id,
           CASE c WHEN 'M' THEN 'Manufacturer ' WHEN 'I' THEN 'Importer '
                WHEN 'N' THEN 'National distributor ' WHEN 'D' THEN 'Distributor '
                WHEN 'S' THEN 'Service ' ELSE 'Shop ' END || CAST(p AS VARCHAR) AS party_name,
           CASE c WHEN 'M' THEN 'manufacturer' WHEN 'I' THEN 'importer'
                WHEN 'N' THEN 'distributor' WHEN 'D' THEN 'distributor'
                WHEN 'S' THEN 'service' ELSE 'retailer' END AS party_role,
           {_region("CAST(hash(p) % 1000003 AS BIGINT)")} AS region,
           TIMESTAMP '2023-01-02' + to_days(CAST(b * 14 + g % 7 + k * 9 AS INTEGER))
             + to_hours(CAST((h >> (k * 6)) % 200 AS BIGINT)) AS occurred_at
    FROM coded
    """  # noqa: S608 (numbers only, generated here)


def generate(path: str, n_units: int) -> dict[str, float]:
    """Build the store at ``path``: units, clustered events, and the log-ordered reference copy."""
    import duckdb

    from qslab.surveillance.trace import TraceStore

    n_gtin = n_units // UNITS_PER_GTIN
    with TraceStore.duckdb(path):  # creates the tables with the engine's schema
        pass
    con = duckdb.connect(path, config={"threads": 2, "memory_limit": "6GB"})
    seconds = {}
    start = time.perf_counter()
    gtin_list = "[" + ", ".join(f"'{g}'" for g in gtins(n_gtin)) + "]"
    con.execute(f"""
        INSERT INTO trace_units
        SELECT i, {gtin_list}[i // {UNITS_PER_GTIN} + 1],
               'SN' || lpad(CAST(i % {UNITS_PER_GTIN} AS VARCHAR), 9, '0'),
               i % {UNITS_PER_GTIN},
               'MODEL-' || (i // {UNITS_PER_GTIN}) % 17,
               'B' || lpad(CAST((i % {UNITS_PER_GTIN}) // {BATCH} AS VARCHAR), 2, '0'),
               DATE '2023-01-02' + CAST(((i % {UNITS_PER_GTIN}) // {BATCH}) * 14
                                        + (i // {UNITS_PER_GTIN}) % 7 AS INTEGER),
               'M' || lpad(CAST(i // {UNITS_PER_GTIN} AS VARCHAR), 4, '0'),
               'Manufacturer ' || (i // {UNITS_PER_GTIN})
        FROM range({n_units}) t(i)
    """)  # noqa: S608 (numbers and generated GTINs only)
    seconds["units"] = time.perf_counter() - start
    start = time.perf_counter()
    con.execute(f"INSERT INTO trace_events {_events_sql(n_units, 'unit')}")
    seconds["events"] = time.perf_counter() - start
    start = time.perf_counter()
    con.execute(f"CREATE TABLE events_log AS {_events_sql(n_units, 'log')}")
    seconds["reference copy"] = time.perf_counter() - start
    con.execute("CHECKPOINT")
    con.close()
    return seconds


REFERENCE_SQL = """
CREATE OR REPLACE TEMP TABLE ref_units AS
  SELECT * FROM trace_units
  WHERE gtin = $gtin AND batch IN ({batches}) AND ({ranges})
    AND production_date BETWEEN $first AND $last;
CREATE OR REPLACE TEMP TABLE ref_events AS
  SELECT e.* FROM {events} e JOIN ref_units u USING (unit_key);
CREATE OR REPLACE TEMP TABLE ref_last AS
  SELECT * FROM ref_events
  QUALIFY row_number() OVER (
    PARTITION BY unit_key
    ORDER BY occurred_at DESC,
             list_position(['manufactured','imported','distributed','sold','recalled','remedied'], kind) DESC,
             event_key DESC) = 1;
"""

REFERENCE_RESULTS = [
    """SELECT count(*) AS n,
              count(*) FILTER (WHERE l.kind IS NULL) AS none,
              count(*) FILTER (WHERE l.kind IN ('manufactured','imported','distributed')) AS chain,
              count(*) FILTER (WHERE l.kind = 'sold') AS consumers,
              (SELECT count(DISTINCT unit_key) FROM ref_events WHERE kind = 'recalled') AS recalled,
              (SELECT count(DISTINCT unit_key) FROM ref_events WHERE kind = 'remedied') AS remedied
       FROM ref_units u LEFT JOIN ref_last l USING (unit_key)""",
    """SELECT e.party_id, count(DISTINCT e.unit_key) AS handled,
              coalesce(max(h.held), 0) AS held, coalesce(max(h.sold), 0) AS sold
       FROM ref_events e LEFT JOIN (
         SELECT party_id, count(*) FILTER (WHERE kind IN ('manufactured','imported','distributed')) AS held,
                count(*) FILTER (WHERE kind = 'sold') AS sold
         FROM ref_last GROUP BY party_id) h USING (party_id)
       GROUP BY e.party_id ORDER BY e.party_id""",
    """SELECT region, count(DISTINCT unit_key) AS handled, count(DISTINCT party_id) AS parties
       FROM ref_events GROUP BY region ORDER BY region""",
]


def reference(con, events: str, crit) -> tuple:
    ranges = " OR ".join(f"serial_number BETWEEN {a} AND {b}" for a, b in crit.serial_ranges) or "TRUE"
    batches = ", ".join(f"'{b}'" for b in crit.batches)
    params = {"gtin": crit.gtin, "first": crit.produced_from, "last": crit.produced_to}
    for statement in REFERENCE_SQL.format(batches=batches, ranges=ranges, events=events).split(";"):
        if statement.strip():
            con.execute(statement, {k: v for k, v in params.items() if f"${k}" in statement})
    totals, parties, regions = (con.execute(q).fetchall() for q in REFERENCE_RESULTS)
    return totals[0], parties, regions


def run(quick: bool) -> list[Row]:
    from qslab.surveillance.trace import ScopeCriteria, TraceStore, recall_scope

    n_units = 200_000 if quick else 10_000_000
    label = f"{n_units / 1e6:g}M units / {n_units * EVENTS_PER_UNIT / 1e6:g}M events"
    rows: list[Row] = []
    keep = os.environ.get("QSLAB_BENCH_TRACE_STORE")  # a path: build once, reuse on later runs
    with tempfile.TemporaryDirectory(prefix="qslab-bench-trace-") as folder:
        path = keep or os.path.join(folder, "trace.duckdb")
        marker = f"{path}.{n_units}.built"
        if keep and os.path.exists(marker):
            note = f"reused {path} (built earlier: {Path(marker).read_text()})"
            build_s = 0.0
        else:
            if os.path.exists(path):
                os.remove(path)
            start = time.perf_counter()
            build = generate(path, n_units)
            build_s = time.perf_counter() - start
            note = ", ".join(f"{k} {v:.1f}s" for k, v in build.items())
            if keep:
                Path(marker).write_text(f"{build_s:.0f} s: {note}")
        size_mib = os.path.getsize(path) / 2**20
        rows.append(
            Row(
                benchmark=f"trace: build {label} in DuckDB (SQL range()/hash())",
                ours_seconds=build_s,
                note=f"{note}; file {size_mib:,.0f} MiB (clustered events + log-ordered reference copy); "
                "not targeted",
            )
        )
        g = gtins(n_units // UNITS_PER_GTIN)
        cases = [
            (
                "2 batches x serial range, date window",
                ScopeCriteria(
                    g[len(g) // 2 + 1],
                    batches=["B03", "B04"],
                    serial_ranges=[(17_000, 23_999)],
                    produced_from="2023-01-01",
                    produced_to="2024-12-31",
                ),
            ),
            (
                "whole GTIN (10 batches)",
                ScopeCriteria(
                    g[-3],
                    batches=[f"B{i:02d}" for i in range(10)],
                    serial_ranges=[(0, UNITS_PER_GTIN)],
                    produced_from="2023-01-01",
                    produced_to="2024-12-31",
                ),
            ),
        ]
        store = TraceStore.duckdb(path, threads=2)
        con = store.backend.con
        try:
            for name, crit in cases:

                def ours(crit=crit):
                    return recall_scope(
                        store,
                        crit.gtin,
                        crit.batches,
                        crit.serial_ranges,
                        crit.produced_from,
                        crit.produced_to,
                    )

                ours()  # warm the file cache once, like the reference below
                peak, _ = peak_rss_mib(ours)
                ours_s, scope = timed(ours, repeat=3)
                reference(con, "events_log", crit)
                ref_s, (totals, parties, regions) = timed(
                    lambda crit=crit: reference(con, "events_log", crit), 3
                )
                same = (
                    totals == (scope.n_units, scope.n_units_without_events, scope.n_in_supply_chain,
                               scope.n_with_consumers, scope.n_recalled, scope.n_remedied)
                    and sorted((p.party_id, p.units_handled, p.units_held, p.units_sold)
                               for p in scope.parties) == [tuple(r) for r in parties]
                    and sorted((r.region, r.units_handled, r.n_parties) for r in scope.regions)
                    == [tuple(r) for r in regions]
                )  # fmt: skip
                if not same:
                    raise RuntimeError(f"trace bench: reference and recall_scope disagree for {name}")
                rows.append(
                    Row(
                        benchmark=f"trace: recall scope, {name}, over {label}",
                        ours_seconds=ours_s,
                        ours_peak_mib=peak,
                        reference="plain DuckDB SQL, window for last event, events in log order",
                        reference_seconds=ref_s,
                        target="< 2 s",
                        met=ours_s < 2.0,
                        note=f"{scope.n_units:,} units, {len(scope.parties):,} parties "
                        f"({len(scope.holders):,} holding), {len(scope.regions)} regions; results equal; "
                        "best of 3 after one warm-up; peak RSS of the whole process",
                    )
                )
        finally:
            store.close()
    return rows


if __name__ == "__main__":
    from bench.harness import format_table

    print(format_table(run(quick=True)))
