"""``qslab trace scope --serials`` takes the prefixed ranges the app takes (SN000017000-SN000023999, a
prefix with dashes, any case), still takes whole-number ranges, and refuses a malformed one with the
reason, as the recall plan's form does."""

import random

import pytest
from django.core.exceptions import ValidationError

from qslab.cli import main
from qslab.recalls.models import validate_serial_range
from qslab.recalls.services import parse_serial_ranges
from qslab.surveillance.cli_trace import parse_serial_range
from qslab.surveillance.trace import TraceStore

GTIN = "06901234567892"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("SN000017000-SN000023999", ("SN000017000", "SN000023999")),
        ("SN-A000100-SN-A000250", ("SN-A000100", "SN-A000250")),
        ("sn-a000100..SN-A000250", ("sn-a000100", "SN-A000250")),
        ("KX/7.0010 - KX/7.0020", ("KX/7.0010", "KX/7.0020")),
        ("SN01~SN09", ("SN01", "SN09")),
        ("100-199", (100, 199)),
        (" 1000 - 1999 ", (1000, 1999)),
    ],
)
def test_a_range_is_read_as_the_app_reads_it(text, expected):
    assert parse_serial_range(text) == expected


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("SN100-XY200", "different prefixes"),
        ("SN0100-SN200", "4 and 3 digits"),
        ("SN200-SN100", "ends before it starts"),
        ("SN#1-SN#2", "character a serial number cannot have"),
        ("abc-def", "must end in digits"),
        ("9", "expected FIRST-LAST"),
        ("", "expected FIRST-LAST"),
        ("200-100", "ends before it starts"),
        (f"{'S' * 40}1-{'S' * 40}2", "longer than 40"),
    ],
)
def test_a_malformed_range_is_refused_with_its_reason(text, reason, capsys, tmp_path):
    with pytest.raises(ValueError, match=reason):
        parse_serial_range(text)
    store = tmp_path / "trace.duckdb"
    TraceStore.duckdb(str(store)).close()
    assert main(["trace", "scope", "--store", str(store), "--gtin", GTIN, "--serials", text]) == 2
    err = capsys.readouterr().err
    assert "--serials" in err and reason in err


def test_the_cli_accepts_exactly_the_ranges_the_plan_form_accepts():
    """Random ranges of mixed prefixes, cases and widths: the CLI and the app agree on every one."""
    rng = random.Random(14)
    prefixes = ["SN", "sn", "SN-A", "sn-a", "KX/7.", "B_", "X", ""]
    for _ in range(400):
        p1, p2 = rng.choice(prefixes), rng.choice(prefixes)
        w1, w2 = rng.choice([3, 6, 9]), rng.choice([3, 6, 9])
        first = f"{p1}{rng.randrange(10**w1):0{w1}d}"
        last = f"{p2}{rng.randrange(10**w2):0{w2}d}"
        try:
            validate_serial_range(first, last)
            app_ok = True
        except ValidationError:
            app_ok = False
        if first.isdigit() and last.isdigit():
            continue  # whole numbers keep their CLI meaning (the numeric part of any serial)
        try:
            cli = parse_serial_range(f"{first}-{last}")
        except ValueError:
            cli = None
        assert (cli is not None) == app_ok, (first, last)
        if app_ok:
            assert cli == (first, last)
            assert parse_serial_ranges(f"{first} - {last}") == [[first, last]]


def test_the_scope_command_selects_the_prefixed_range(tmp_path, capsys):
    store_path = str(tmp_path / "trace.duckdb")
    store = TraceStore.duckdb(store_path)
    try:
        store.ingest_units(
            [{"gtin": GTIN, "serial": f"SN{n:09d}", "batch": "L1"} for n in range(16_990, 24_010)]
            + [{"gtin": GTIN, "serial": f"XY{n:09d}", "batch": "L1"} for n in range(17_000, 17_010)],
            name="units",
        )
    finally:
        store.close()
    args = ["trace", "scope", "--store", store_path, "--gtin", GTIN, "--json"]
    assert main([*args, "--serials", "SN000017000-SN000023999"]) == 0
    out = capsys.readouterr().out
    assert '"n_units": 7000' in out
    assert main([*args, "--serials", "sn000017000..sn000017009"]) == 0
    assert '"n_units": 10' in capsys.readouterr().out
