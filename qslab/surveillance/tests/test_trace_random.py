"""The recall scope agrees with an independent pandas computation on a random supply chain."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from qslab.surveillance.trace import (
    EVENT_KINDS,
    HOLDING_KINDS,
    ScopeCriteria,
    TraceStore,
    recall_scope,
    scope_units,
)

GTINS = ["06901234567892", "04006381333931", "00036000291452"]
REGIONS = ["110105", "310101", "440300", "320102", "510104"]


def random_chain(seed: int):
    rng = np.random.default_rng(seed)
    parties = (
        [(f"M{i}", "manufacturer") for i in range(3)]
        + [(f"I{i}", "importer") for i in range(2)]
        + [(f"D{i}", "distributor") for i in range(6)]
        + [(f"R{i}", "retailer") for i in range(10)]
        + [("S0", "service")]
    )
    region_of = {p: REGIONS[rng.integers(len(REGIONS))] for p, _ in parties}
    by_role: dict[str, list[str]] = {}
    for p, role in parties:
        by_role.setdefault(role, []).append(p)
    role_of = dict(parties)
    n = 1500
    g = rng.integers(0, 3, n)
    units = pd.DataFrame(
        {
            "gtin": np.array(GTINS)[g],
            "serial": [f"SN{int(v):06d}" for v in rng.permutation(n * 3)[:n]],
            "batch": [f"B{int(v)}" for v in rng.integers(0, 6, n)],
            "production_date": [
                (dt.date(2024, 1, 1) + dt.timedelta(days=int(d))).isoformat() for d in rng.integers(0, 120, n)
            ],
        }
    )
    units.loc[rng.random(n) < 0.05, "production_date"] = None
    units.loc[rng.random(n) < 0.05, "batch"] = None
    rows = []
    start = dt.datetime(2024, 6, 1)
    for i, u in units.iterrows():
        if rng.random() < 0.05:
            continue  # no events
        t = start + dt.timedelta(hours=int(rng.integers(0, 500)))
        steps = [("manufactured", f"M{g[i]}")]
        if rng.random() < 0.3:
            steps.append(("imported", by_role["importer"][rng.integers(2)]))
        for _ in range(rng.integers(0, 3)):
            steps.append(("distributed", by_role["distributor"][rng.integers(6)]))
        if rng.random() < 0.7:
            shop = by_role["retailer"][rng.integers(10)]
            steps.append(("distributed", shop))
            if rng.random() < 0.6:
                steps.append(("sold", shop))
                if rng.random() < 0.3:
                    steps.append(("recalled", shop))
                    if rng.random() < 0.5:
                        steps.append(("remedied", "S0"))
        for kind, party in steps:
            if rng.random() > 0.15:  # some events share the instant of the previous one
                t = t + dt.timedelta(hours=int(rng.integers(1, 100)))
            rows.append(
                {
                    "gtin": u.gtin,
                    "serial": u.serial,
                    "kind": kind,
                    "party_id": party,
                    "party_name": f"Name {party}",
                    "party_role": role_of[party],
                    "region": region_of[party],
                    "occurred_at": t.isoformat(),
                }
            )
    events = pd.DataFrame(rows)
    # file order is not time order
    events = events.sample(frac=1.0, random_state=seed).reset_index(drop=True)
    return units, events


def pandas_scope(units: pd.DataFrame, events: pd.DataFrame, crit: ScopeCriteria):
    u = units.copy()
    u["gtin"] = u["gtin"].str.zfill(14)
    u["number"] = u["serial"].str.extract(r"(\d+)\D*$", expand=False).astype(int)
    keep = u["gtin"] == crit.gtin
    if crit.batches:
        keep &= u["batch"].isin(crit.batches)
    if crit.serial_ranges:
        keep &= np.logical_or.reduce([u["number"].between(a, b) for a, b in crit.serial_ranges])
    dates = pd.to_datetime(u["production_date"]).dt.date
    if crit.produced_from:
        keep &= dates.notna() & (dates >= crit.produced_from)
    if crit.produced_to:
        keep &= dates.notna() & (dates <= crit.produced_to)
    u = u[keep]
    e = events.assign(order=np.arange(len(events)))  # stored in file order: ties go to the later row
    e = e.merge(u[["gtin", "serial"]], on=["gtin", "serial"])
    e["rank"] = e["kind"].map({k: i for i, k in enumerate(EVENT_KINDS)})
    e["t"] = pd.to_datetime(e["occurred_at"])
    last = e.sort_values(["t", "rank", "order"]).groupby(["gtin", "serial"]).tail(1)
    held = last[last["kind"].isin(HOLDING_KINDS)].groupby("party_id").size()
    sold = last[last["kind"] == "sold"].groupby("party_id").size()
    handled = e.groupby("party_id")["serial"].nunique()
    parties = pd.DataFrame({"handled": handled}).assign(
        held=held.reindex(handled.index, fill_value=0),
        sold=sold.reindex(handled.index, fill_value=0),
        recalled=e[e.kind == "recalled"]
        .groupby("party_id")["serial"]
        .nunique()
        .reindex(handled.index, fill_value=0),
        remedied=e[e.kind == "remedied"]
        .groupby("party_id")["serial"]
        .nunique()
        .reindex(handled.index, fill_value=0),
    )
    r_handled = e.groupby("region")["serial"].nunique()
    regions = pd.DataFrame({"handled": r_handled}).assign(
        held=last[last["kind"].isin(HOLDING_KINDS)]
        .groupby("region")
        .size()
        .reindex(r_handled.index, fill_value=0),
        sold=last[last["kind"] == "sold"].groupby("region").size().reindex(r_handled.index, fill_value=0),
        parties=e.groupby("region")["party_id"].nunique(),
    )
    per_unit = e.groupby("serial")["kind"].agg(set)
    return {
        "n_units": len(u),
        "n_without": len(u) - e["serial"].nunique(),
        "n_recalled": int(per_unit.map(lambda s: "recalled" in s).sum()),
        "n_remedied": int(per_unit.map(lambda s: "remedied" in s).sum()),
        "last": dict(zip(last["serial"], last["party_id"], strict=True)),
        "last_kinds": last["kind"].value_counts().to_dict(),
        "parties": parties,
        "regions": regions,
    }


@pytest.fixture(scope="module")
def chain():
    units, events = random_chain(20241125)
    store = TraceStore.duckdb()
    store.ingest_units(units)
    store.ingest_events(events)
    yield store, units, events
    store.close()


CRITERIA = [
    ScopeCriteria(GTINS[0]),
    ScopeCriteria(GTINS[1], batches=["B1", "B4"]),
    ScopeCriteria(GTINS[2], serial_ranges=[(0, 1500), (3000, 3600)]),
    ScopeCriteria(GTINS[0], batches=["B2"], produced_from="2024-02-01", produced_to="2024-03-31"),
    ScopeCriteria(GTINS[1], serial_ranges=[(100, 2000)], produced_to="2024-02-15"),
]


@pytest.mark.parametrize("crit", CRITERIA, ids=lambda c: c.describe())
def test_scope_matches_pandas_on_a_random_chain(chain, crit):
    store, units, events = chain
    expected = pandas_scope(units, events, crit)
    scope = recall_scope(
        store,
        crit.gtin,
        batches=crit.batches,
        serial_ranges=crit.serial_ranges,
        produced_from=crit.produced_from,
        produced_to=crit.produced_to,
    )
    assert scope.n_units == expected["n_units"] > 0
    assert scope.n_units_without_events == expected["n_without"]
    assert (scope.n_recalled, scope.n_remedied) == (expected["n_recalled"], expected["n_remedied"])
    assert scope.last_event_counts == {k: v for k, v in expected["last_kinds"].items() if v}
    got = pd.DataFrame(
        [
            (p.party_id, p.units_handled, p.units_held, p.units_sold, p.units_recalled, p.units_remedied)
            for p in scope.parties
        ],
        columns=["party_id", "handled", "held", "sold", "recalled", "remedied"],
    ).set_index("party_id")
    pd.testing.assert_frame_equal(
        got.sort_index(), expected["parties"].sort_index(), check_dtype=False, check_names=False
    )
    got_regions = pd.DataFrame(
        [(r.region, r.units_handled, r.units_held, r.units_sold, r.n_parties) for r in scope.regions],
        columns=["region", "handled", "held", "sold", "parties"],
    ).set_index("region")
    pd.testing.assert_frame_equal(
        got_regions.sort_index(), expected["regions"].sort_index(), check_dtype=False, check_names=False
    )
    listed = scope_units(store, crit).to_pyarrow().to_pandas()
    with_events = listed[listed["last_party_id"].notna()]
    assert dict(zip(with_events["serial"], with_events["last_party_id"], strict=True)) == expected["last"]


def test_optimise_keeps_the_random_scope(chain):
    store, _, _ = chain
    before = [
        recall_scope(store, c.gtin, c.batches, c.serial_ranges, c.produced_from, c.produced_to)
        for c in CRITERIA
    ]
    store.optimise()
    after = [
        recall_scope(store, c.gtin, c.batches, c.serial_ranges, c.produced_from, c.produced_to)
        for c in CRITERIA
    ]
    assert before == after


def test_last_event_by_duckdb_arg_max_equals_the_portable_window(chain):
    from qslab.surveillance.trace import _scope_events, _unit_list, affected_units

    store, _, _ = chain
    crit = CRITERIA[0]
    units = affected_units(store, crit)
    events = _scope_events(store, units)
    fast = _unit_list(units, events, fast=True).order_by("unit_key").to_pyarrow()
    window = _unit_list(units, events, fast=False).order_by("unit_key").to_pyarrow()
    assert fast.num_rows > 400
    assert fast.equals(window)


def test_the_duckdb_path_and_the_portable_ibis_path_give_the_same_scope(chain):
    from qslab.surveillance.store import quiet_backend
    from qslab.surveillance.trace import _recall_scope_duckdb, _recall_scope_portable

    store, _, _ = chain
    with quiet_backend():
        for crit in CRITERIA:
            fast = _recall_scope_duckdb(store, crit)
            assert fast == _recall_scope_portable(store, crit)
            assert all(type(p.units_held) is int and type(p.units_handled) is int for p in fast.parties)
        assert "_trace_scope_units" not in store.backend.con.sql("SHOW ALL TABLES").fetchall().__str__()
