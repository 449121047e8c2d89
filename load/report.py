"""Read locust's ``*_stats.csv`` and judge the run against the target (``make load``).

Target (issue 15): 50 concurrent users, 0 errors, p95 <= 150 ms over all requests. Exit status 0 when
met, 1 when not (each miss is named), 2 when the file is missing or empty.

    python load/report.py var/load/locust_stats.csv [--users 50] [--p95 150]
"""

from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("stats", type=Path)
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--p95", type=float, default=150.0, help="target 95th percentile (ms)")
    args = parser.parse_args(argv)
    if not args.stats.exists():
        print(f"no locust statistics at {args.stats}", file=sys.stderr)
        return 2
    rows = list(csv.DictReader(args.stats.open(encoding="utf-8")))
    total = next((r for r in rows if r["Name"] == "Aggregated"), None)
    if total is None or int(total["Request Count"]) == 0:
        print("the load run made no requests", file=sys.stderr)
        return 2
    width = max(len(r["Name"]) for r in rows)
    print(f"{'request':<{width}}  {'count':>7} {'errors':>6} {'p50':>6} {'p95':>6} {'p99':>6}  (ms)")
    for r in rows:
        line = (
            f"{r['Name']:<{width}}  {r['Request Count']:>7} {r['Failure Count']:>6} "
            f"{r['50%']:>6} {r['95%']:>6} {r['99%']:>6}"
        )
        print(("-" * len(line) + "\n" if r is total else "") + line)
    errors = int(total["Failure Count"])
    p95 = float(total["95%"])
    misses = []
    if errors:
        misses.append(f"{errors} errors (target 0)")
    if p95 > args.p95:
        misses.append(f"p95 {p95:.0f} ms (target <= {args.p95:.0f} ms)")
    rps = float(total.get("Requests/s") or 0)
    verdict = "MET" if not misses else "NOT MET: " + "; ".join(misses)
    print(
        f"\n{args.users} users, {total['Request Count']} requests ({rps:.1f}/s), p50 {total['50%']} ms, "
        f"p95 {total['95%']} ms, p99 {total['99%']} ms, errors {errors}: target {verdict}"
    )
    return 0 if not misses else 1


if __name__ == "__main__":
    sys.exit(main())
