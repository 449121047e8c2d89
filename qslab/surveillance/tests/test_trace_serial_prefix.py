"""Serial ranges in the recall scope compare the prefix (any case) and a numeric tail of the same
width, as the recall plan validates them (``qslab.recalls.models``, cross-checked in
``qslab/recalls/tests/test_serials.py``: the engine imports no platform app); checked against pandas."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from qslab.surveillance.trace import ScopeCriteria, TraceError, TraceStore, recall_scope, scope_units

GTIN = "06901234567892"
PREFIXES = ["SN-A", "SN-B", "sn-a", "SN-AX", "XSN-A", "", "SN-", "S/N.A_"]


def random_units(seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    serials = set()
    while len(serials) < 3000:
        prefix = PREFIXES[rng.integers(len(PREFIXES))]
        width = int(rng.choice([5, 6, 6, 6, 7]))
        number = int(rng.integers(0, 400))
        suffix = "X" if rng.random() < 0.05 else ""  # does not end in digits: never in a serial range
        serials.add(f"{prefix}{number:0{width}d}{suffix}")
    return pd.DataFrame({"gtin": GTIN, "serial": sorted(serials), "batch": "L1"})


def pandas_in_ranges(units: pd.DataFrame, ranges: list[tuple[str, str]]) -> set[str]:
    """Independent: split each serial into prefix and trailing digits, compare like the recall plan."""
    parts = units["serial"].str.extract(r"^(?P<prefix>.*?)(?P<digits>[0-9]+)$")
    keep = np.zeros(len(units), dtype=bool)
    for first, last in ranges:
        (p1, d1), (_p2, d2) = (pd.Series([x]).str.extract(r"^(.*?)([0-9]+)$").iloc[0] for x in (first, last))
        number = pd.to_numeric(parts["digits"], errors="coerce")
        keep |= (
            (parts["prefix"].str.upper() == p1.upper())
            & (parts["digits"].str.len() == len(d1))
            & number.between(int(d1), int(d2))
        ).to_numpy(dtype=bool)
    return set(units.loc[keep, "serial"])


@pytest.fixture(scope="module")
def chain():
    units = random_units(20261125)
    store = TraceStore.duckdb()
    store.ingest_units(units)
    yield store, units
    store.close()


RANGES = [
    [("SN-A000100", "SN-A000250")],
    [("sn-a000100", "SN-A000250")],  # the prefix ignores case on either end
    [("SN-B00050", "SN-B00399"), ("XSN-A0000000", "XSN-A0000399")],
    [("000010", "000200")],  # no prefix: digits only
    [("S/N.A_000000", "S/N.A_000399")],  # characters that mean something in LIKE/regex patterns
    [("SN-000001", "SN-000399"), ("SN-AX0000300", "SN-AX0000399")],
]


@pytest.mark.parametrize("ranges", RANGES, ids=str)
def test_serial_ranges_compare_prefix_and_width_like_pandas(chain, ranges):
    store, units = chain
    expected = pandas_in_ranges(units, ranges)
    assert expected
    scope = recall_scope(store, GTIN, serial_ranges=ranges)
    assert scope.n_units == len(expected)
    listed = scope_units(store, ScopeCriteria(GTIN, serial_ranges=ranges)).to_pyarrow().to_pandas()
    assert set(listed["serial"]) == expected


def test_a_prefixed_range_no_longer_selects_other_series_with_the_same_number():
    units = pd.DataFrame(
        {
            "gtin": GTIN,
            "serial": ["SN-A000120", "SN-B000120", "sn-a000121", "SN-A00120", "SN-A000120X", "SN-A0000120"],
        }
    )
    with TraceStore.duckdb() as store:
        store.ingest_units(units)
        listed = scope_units(store, ScopeCriteria(GTIN, serial_ranges=[("SN-A000100", "SN-A000250")]))
        assert sorted(listed.to_pyarrow().to_pandas()["serial"]) == ["SN-A000120", "sn-a000121"]
        # whole numbers keep their documented meaning: the numeric part of any serial
        assert recall_scope(store, GTIN, serial_ranges=[(120, 120)]).n_units == 5


@pytest.mark.parametrize(
    ("first", "last", "message"),
    [
        ("SN-A000100", "SN-B000250", "different prefixes"),
        ("SN-A000100", "SN-A00250", "6 and 5 digits"),
        ("SN-A000250", "SN-A000100", "is after"),
        ("SN-A", "SN-A000100", "ending in digits"),
        ("SN-A000100", 250, "not one of each"),
    ],
)
def test_a_serial_range_is_one_series(first, last, message):
    with pytest.raises(TraceError, match=message):
        ScopeCriteria(GTIN, serial_ranges=[(first, last)])
