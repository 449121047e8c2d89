"""Traceability: unit and event ingest with all-or-nothing validation, and the recall scope query."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from qslab.cli import main
from qslab.surveillance.ingest import IngestError, IngestValidationError
from qslab.surveillance.store import AnalyticalStore
from qslab.surveillance.trace import (
    ScopeCriteria,
    TraceError,
    TraceStore,
    export_scope_csv,
    iter_scope_units,
    recall_scope,
    scope_parties,
    scope_units,
)

GTIN = "6901234567892"  # valid GS1 check digit
OTHER = "4006381333931"

T0 = dt.datetime(2024, 5, 1, 9, 0)


def at(days: int, hours: int = 0) -> str:
    return (T0 + dt.timedelta(days=days, hours=hours)).isoformat()


def unit(serial, batch, produced, gtin=GTIN, model="KX-1"):
    row = {"gtin": gtin, "serial": serial, "batch": batch, "model": model, "manufacturer_id": "M1"}
    if produced is not None:
        row["production_date"] = produced
    return row


def event(serial, kind, party, role, region, when, gtin=GTIN):
    return {
        "gtin": gtin,
        "serial": serial,
        "kind": kind,
        "party_id": party,
        "party_name": f"{party} Co.",
        "party_role": role,
        "region": region,
        "occurred_at": when,
    }


MFG = ("M1", "manufacturer", "440300")
D1 = ("D1", "distributor", "310101")
D2 = ("D2", "distributor", "440106")
R1 = ("R1", "retailer", "110105")
R2 = ("R2", "retailer", "320102")
R3 = ("R3", "retailer", "440104")
S1 = ("S1", "service", "320105")


def chain(serial, *steps, gtin=GTIN):
    """Events of one unit: steps are (kind, party triple, day[, hour])."""
    return [event(serial, kind, *party, at(*when), gtin=gtin) for kind, party, *when in steps]


@pytest.fixture
def store():
    trace = TraceStore.duckdb()
    trace.ingest_units(
        [unit(f"S00{i}", "L1", "2024-01-10") for i in range(1, 7)]
        + [unit(f"S10{i}", "L2", "2024-02-15") for i in range(1, 5)]
        + [unit("S201", "L3", "2024-03-20"), unit("S301", "L3", None)]
        + [unit("S001", "L1", "2024-01-10", gtin=OTHER)]
    )
    events = (
        chain(
            "S001", ("manufactured", MFG, 0), ("distributed", D1, 2), ("distributed", R1, 4), ("sold", R1, 9)
        )
        + chain("S002", ("manufactured", MFG, 0), ("distributed", D1, 2), ("distributed", R1, 4))
        + chain("S003", ("manufactured", MFG, 0), ("distributed", D1, 2))
        + chain(
            "S004",
            ("manufactured", MFG, 0),
            ("distributed", D1, 2),
            ("distributed", R2, 5),
            ("sold", R2, 8),
            ("recalled", R2, 30),
            ("remedied", S1, 35),
        )
        + chain(
            "S005",
            ("manufactured", MFG, 0),
            ("distributed", D1, 2),
            ("distributed", R2, 5),
            ("sold", R2, 8),
            ("recalled", R2, 31),
        )
        + chain("S006", ("manufactured", MFG, 0))
        + chain("S101", ("manufactured", MFG, 40), ("distributed", D2, 42))
        # received and sold in the same instant: the sale (later kind) is the last event
        + chain(
            "S102",
            ("manufactured", MFG, 40),
            ("distributed", D2, 42),
            ("sold", R3, 44),
            ("distributed", R3, 44),
        )
        + chain("S103", ("manufactured", MFG, 40))
        + chain("S104", ("manufactured", MFG, 40))
        + chain("S201", ("manufactured", MFG, 60), ("imported", ("I1", "importer", "310115"), 70))
        + chain("S001", ("manufactured", MFG, 0), ("distributed", R1, 3), gtin=OTHER)
    )
    trace.ingest_events(events)
    yield trace
    trace.close()


def by_party(scope):
    return {p.party_id: p for p in scope.parties}


def test_batch_scope_follows_every_hop_to_the_party_holding_each_unit_now(store):
    scope = recall_scope(store, GTIN, batches=["L1"])
    assert scope.n_units == 6
    assert scope.criteria.gtin == "0" + GTIN
    assert scope.n_in_supply_chain == 3  # S002 at R1, S003 at D1, S006 at M1
    assert scope.n_with_consumers == 1  # S001 sold by R1
    assert (scope.n_recalled, scope.n_remedied, scope.n_outstanding) == (2, 1, 5)
    assert scope.effectiveness == pytest.approx(1 / 6)
    assert scope.last_event_counts == {
        "manufactured": 1,
        "distributed": 2,
        "sold": 1,
        "recalled": 1,
        "remedied": 1,
    }
    parties = by_party(scope)
    assert set(parties) == {"M1", "D1", "R1", "R2", "S1"}
    r1, d1, r2, m1, s1 = (parties[k] for k in ("R1", "D1", "R2", "M1", "S1"))
    assert (r1.role, r1.region, r1.party_name) == ("retailer", "110105", "R1 Co.")
    assert (r1.units_handled, r1.units_held, r1.units_sold) == (2, 1, 1)
    assert (d1.units_handled, d1.units_held, d1.units_sold) == (5, 1, 0)
    assert (r2.units_handled, r2.units_held, r2.units_sold, r2.units_recalled) == (2, 0, 0, 2)
    assert (m1.units_handled, m1.units_held) == (6, 1)
    assert (s1.units_remedied, s1.role) == (1, "service")
    assert [p.party_id for p in scope.holders] == ["R1", "D1"]  # the manufacturer is not a holder
    assert [p.party_id for p in scope.retailers_with_sales] == ["R1"]
    regions = {r.region: r for r in scope.regions}
    assert set(regions) == {"440300", "310101", "110105", "320102", "320105"}
    assert (regions["110105"].units_held, regions["110105"].units_sold) == (1, 1)
    assert (regions["310101"].units_handled, regions["310101"].n_parties) == (5, 1)
    assert scope.batches == {"L1": 6} and scope.models == {"KX-1": 6}
    assert scope.produced_first == scope.produced_last == dt.date(2024, 1, 10)


def test_the_same_serial_under_another_gtin_is_not_in_scope(store):
    scope = recall_scope(store, GTIN, serial_ranges=[(1, 1)])
    assert scope.n_units == 1
    assert "R1" in by_party(scope) and by_party(scope)["R1"].units_handled == 1
    other = recall_scope(store, OTHER)
    assert other.n_units == 1 and [p.party_id for p in other.holders] == ["R1"]


def test_serial_ranges_take_the_numeric_part_and_combine_with_batches(store):
    assert recall_scope(store, GTIN, serial_ranges=[(2, 3)]).n_units == 2
    assert recall_scope(store, GTIN, serial_ranges=[("S101", "S102"), (5, 5)]).n_units == 3
    both = recall_scope(store, GTIN, batches=["L2"], serial_ranges=[(1, 102)])
    assert both.batches == {"L2": 2}
    units = scope_units(store, both.criteria).to_pyarrow().to_pandas()
    assert units["serial"].tolist() == ["S101", "S102"]
    assert units["status"].tolist() == ["in_supply_chain", "with_consumer"]
    assert units["last_party_id"].tolist() == ["D2", "R3"]
    assert units["last_kind"].tolist() == ["distributed", "sold"]


def test_production_window_excludes_units_without_a_date(store):
    scope = recall_scope(store, GTIN, produced_from="2024-02-01")
    assert scope.n_units == 5 and scope.batches == {"L2": 4, "L3": 1}
    assert [p.party_id for p in scope.holders] == ["D2", "I1"]
    window = recall_scope(store, GTIN, produced_from=dt.date(2024, 1, 1), produced_to="2024-02-15")
    assert window.n_units == 10
    everything = recall_scope(store, GTIN)
    assert everything.n_units == 12 and everything.n_units_without_events == 1


def test_a_scope_with_no_units_is_empty_not_an_error(store):
    scope = recall_scope(store, GTIN, batches=["NOPE"])
    assert (scope.n_units, scope.parties, scope.regions, scope.effectiveness) == (0, (), (), None)


def test_criteria_are_validated(store):
    with pytest.raises(TraceError, match="not a valid GTIN"):
        recall_scope(store, "6901234567893")
    with pytest.raises(TraceError, match="first 9 is after last 2"):
        recall_scope(store, GTIN, serial_ranges=[(9, 2)])
    with pytest.raises(TraceError, match="produced_from"):
        recall_scope(store, GTIN, produced_from="2024-05-01", produced_to="2024-01-01")
    with pytest.raises(TraceError, match="not one string"):
        ScopeCriteria(GTIN, batches="L1")


def test_scope_lists_export_to_csv_and_stream_without_python_rows(store, tmp_path):
    criteria = ScopeCriteria(GTIN, batches=["L1"])
    export_scope_csv(
        store,
        criteria,
        units_path=tmp_path / "units.csv",
        parties_path=tmp_path / "parties.csv",
        regions_path=tmp_path / "regions.csv",
    )
    units = pd.read_csv(tmp_path / "units.csv", dtype={"gtin": str})
    assert len(units) == 6 and set(units["gtin"]) == {"0" + GTIN}
    assert dict(zip(units["serial"], units["status"], strict=True)) == {
        "S001": "with_consumer",
        "S002": "in_supply_chain",
        "S003": "in_supply_chain",
        "S004": "remedied",
        "S005": "recalled",
        "S006": "in_supply_chain",
    }
    parties = pd.read_csv(tmp_path / "parties.csv")
    # most units held or sold first, then most handled
    assert parties["party_id"].tolist() == ["R1", "M1", "D1", "R2", "S1"]
    assert len(pd.read_csv(tmp_path / "regions.csv", dtype={"region": str})) == 5
    reader = iter_scope_units(store, criteria, chunk_size=4)
    assert sum(batch.num_rows for batch in reader) == 6
    assert scope_parties(store, criteria).count().to_pyarrow().as_py() == 5


def test_optimised_layout_gives_the_same_scope(store):
    before = recall_scope(store, GTIN, batches=["L1", "L2"])
    store.optimise()
    after = recall_scope(store, GTIN, batches=["L1", "L2"])
    assert before == after


def test_every_bad_unit_value_is_reported_at_once_and_nothing_is_written(store, tmp_path):
    path = tmp_path / "units.csv"
    path.write_text(
        "gtin,serial,model,batch,production_date\n"
        f"{GTIN},N1,KX,L9,2024-01-01\n"  # fine
        "6901234567893,N2,KX,L9,2024-01-01\n"  # check digit
        f"{GTIN},,KX,L9,2024-01-01\n"  # no serial
        f"{GTIN},N 4,KX,L9,2024-13-01\n"  # space in serial and a bad date
        f"{GTIN},N5,KX,{'B' * 21},2024-01-01\n"  # batch too long
        f"{GTIN},N1,KY,L9,2024-01-01\n"  # repeats row 1 with another model
        f"{GTIN},S001,KX,L1,2024-01-10\n"  # stored already with model KX-1
        f",N8,KX,L9,\n"  # no gtin
    )
    before = store.count_units()
    with pytest.raises(IngestValidationError) as info:
        store.ingest_units(path)
    found = {(p.row, p.column) for p in info.value.problems}
    assert found == {
        (2, "gtin"),
        (3, "serial"),
        (4, "serial"),
        (4, "production_date"),
        (5, "batch"),
        (6, "serial"),
        (8, "gtin"),
    }
    assert "units.csv, row 2, column 'gtin': '6901234567893' is not a valid GTIN" in str(info.value)
    assert "repeats row 1 with different values" in str(info.value)
    assert store.count_units() == before
    # with the other rows fixed, the conflict with the stored unit is reported (and still nothing written)
    path.write_text(f"gtin,serial,model,batch\n{GTIN},N1,KX,L9\n{GTIN},S001,KX,L1\n")
    with pytest.raises(IngestValidationError, match=r"row 2, column 'serial': unit .* stored already"):
        store.ingest_units(path)
    assert store.count_units() == before


def test_every_bad_event_value_is_reported_at_once_and_nothing_is_written(store):
    rows = [
        event("S103", "distributed", *D1, at(50)),  # fine
        event("S103", "shipped", *D1, at(51)),  # kind
        event("S103", "sold", "R1", "shop", "110105", at(52)),  # role
        event("S103", "sold", "R1", "retailer", "990000", at(53)),  # not a province
        event("S103", "sold", "R1", "retailer", "11010", at(54)),  # five digits
        event("S103", "sold", "R1", "retailer", "110105", "yesterday"),  # time
        event("S999", "sold", "R1", "retailer", "110105", at(55)),  # unknown unit
        {**event("S104", "sold", "", "retailer", "110105", at(56)), "party_id": None},  # no party
    ]
    before = store.count_events()
    with pytest.raises(IngestValidationError) as info:
        store.ingest_events(rows, name="feed")
    found = {(p.row, p.column) for p in info.value.problems}
    assert found == {
        (2, "kind"),
        (3, "party_role"),
        (4, "region"),
        (5, "region"),
        (6, "occurred_at"),
        (7, "serial"),
        (8, "party_id"),
    }
    assert "feed, row 7, column 'serial': unit (gtin, serial) is not in the store" in str(info.value)
    assert info.value.to_frame()["row"].tolist() == [2, 3, 4, 5, 6, 7, 8]
    assert store.count_events() == before


def test_reingesting_the_same_files_adds_nothing(store, tmp_path):
    units = pd.DataFrame([unit("Z1", "L7", "2024-06-01"), unit("Z2", "L7", "2024-06-01")])
    units.to_csv(tmp_path / "units.csv", index=False)
    first = store.ingest_units(tmp_path / "units.csv")
    again = store.ingest_units(tmp_path / "units.csv")
    assert (first.n_inserted, again.n_inserted, again.n_already_stored) == (2, 0, 2)
    events = pd.DataFrame(
        chain("Z1", ("manufactured", MFG, 0), ("distributed", R1, 1, 3))
        + chain("Z1", ("manufactured", MFG, 0))  # an exact repeat within the file
    )
    events.to_parquet(tmp_path / "events.parquet")
    report = store.ingest_events(tmp_path / "events.parquet")
    assert (report.n_rows, report.n_duplicates_in_file, report.n_inserted) == (3, 1, 2)
    assert store.ingest_events(tmp_path / "events.parquet").n_inserted == 0
    assert (
        "3 row(s), 0 inserted (1 repeated in the file, 2 already stored)"
        in store.ingest_events(tmp_path / "events.parquet").summary()
    )


def test_timestamps_with_an_offset_are_stored_in_utc(store):
    store.ingest_events([event("S103", "distributed", *D2, "2024-07-01T08:00:00+08:00")])
    scope = scope_units(store, ScopeCriteria(GTIN, serial_ranges=[(103, 103)])).to_pyarrow()
    assert scope["last_at"].to_pylist() == [dt.datetime(2024, 7, 1, 0, 0)]


def test_unknown_or_missing_columns_refuse_the_input():
    trace = TraceStore.duckdb()
    with pytest.raises(IngestError, match="unknown column"):
        trace.ingest_units([{"gtin": GTIN, "serial": "1", "colour": "red"}])
    with pytest.raises(IngestError, match="required column"):
        trace.ingest_events([{"gtin": GTIN, "serial": "1"}])


def test_trace_tables_share_the_incident_store_backend(tmp_path):
    path = tmp_path / "store.duckdb"
    with AnalyticalStore.duckdb(path) as incidents:
        TraceStore.of(incidents).ingest_units([unit("A1", "L1", "2024-01-01")])
        assert recall_scope(incidents, GTIN).n_units == 1
    with TraceStore.duckdb(path) as trace:
        assert trace.count_units() == 1


def test_cli_loads_files_and_prints_the_scope(tmp_path, capsys):
    store = str(tmp_path / "trace.duckdb")
    pd.DataFrame([unit("A1", "L1", "2024-01-01"), unit("A2", "L1", "2024-01-01")]).to_csv(
        tmp_path / "u.csv", index=False
    )
    pd.DataFrame(chain("A1", ("manufactured", MFG, 0), ("distributed", D1, 1))).to_csv(
        tmp_path / "e.csv", index=False
    )
    assert main(["trace", "units", str(tmp_path / "u.csv"), "--store", store]) == 0
    assert main(["trace", "events", str(tmp_path / "e.csv"), "--store", store]) == 0
    capsys.readouterr()
    out_units = tmp_path / "scope.csv"
    args = ["trace", "scope", "--store", store, "--gtin", GTIN, "--batch", "L1", "--serials", "1-1"]
    assert main([*args, "--units-out", str(out_units)]) == 0
    printed = capsys.readouterr().out
    assert "1 unit(s); 1 in the supply chain" in printed and "holds: D1 D1 Co. (distributor" in printed
    assert pd.read_csv(out_units)["serial"].tolist() == ["A1"]
    pd.DataFrame([{"gtin": "123", "serial": "X"}]).to_csv(tmp_path / "bad.csv", index=False)
    assert main(["trace", "units", str(tmp_path / "bad.csv"), "--store", store]) == 2
    assert "bad.csv, row 1, column 'gtin': '123' is not a valid GTIN" in capsys.readouterr().err
    assert main(["trace", "scope", "--store", store, "--gtin", GTIN, "--serials", "9"]) == 2
    assert "expected FIRST-LAST" in capsys.readouterr().err
