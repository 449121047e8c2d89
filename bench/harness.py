"""Tiny benchmark harness: each ``bench/bench_*.py`` module exposes ``run(quick: bool) -> list[Row]``.

A row compares our implementation with a reference implementation measured in the same run, so the
ratio means something on whatever machine runs it. ``make bench`` prints all rows as one table.
"""

from __future__ import annotations

import gc
import threading
import time
import tracemalloc
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Row:
    benchmark: str
    ours_seconds: float
    reference: str = ""
    reference_seconds: float | None = None
    ours_peak_mib: float | None = None
    reference_peak_mib: float | None = None
    target: str = ""
    met: bool | None = None
    note: str = ""

    @property
    def ratio(self) -> float | None:
        """How many times faster we are than the reference (reference time / our time)."""
        if self.reference_seconds is None or self.ours_seconds <= 0:
            return None
        return self.reference_seconds / self.ours_seconds


def timed(func: Callable[[], Any], repeat: int = 1) -> tuple[float, Any]:
    """Best wall-clock time of ``repeat`` calls and the last return value."""
    best = float("inf")
    value = None
    for _ in range(repeat):
        gc.collect()
        start = time.perf_counter()
        value = func()
        best = min(best, time.perf_counter() - start)
    return best, value


def peak_python_mib(func: Callable[[], Any]) -> tuple[float, Any]:
    """Peak memory allocated through Python's allocators (numpy included) while ``func`` runs."""
    gc.collect()
    tracemalloc.start()
    try:
        value = func()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return peak / 2**20, value


def peak_rss_mib(func: Callable[[], Any], interval: float = 0.01) -> tuple[float, Any]:
    """Peak resident set size of this process while ``func`` runs (catches native allocations)."""

    def rss() -> float:
        with open("/proc/self/statm") as fh:
            pages = int(fh.read().split()[1])
        import os

        return pages * os.sysconf("SC_PAGE_SIZE") / 2**20

    peak = rss()
    stop = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not stop.is_set():
            peak = max(peak, rss())
            time.sleep(interval)

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    try:
        value = func()
    finally:
        stop.set()
        thread.join()
    return max(peak, rss()), value


def format_table(rows: list[Row]) -> str:
    headers = [
        "benchmark",
        "ours s",
        "reference",
        "ref s",
        "ratio",
        "ours MiB",
        "ref MiB",
        "target",
        "met",
        "note",
    ]
    body = []
    for r in rows:
        body.append(
            [
                r.benchmark,
                f"{r.ours_seconds:.3f}",
                r.reference,
                "" if r.reference_seconds is None else f"{r.reference_seconds:.3f}",
                "" if r.ratio is None else f"{r.ratio:.1f}x",
                "" if r.ours_peak_mib is None else f"{r.ours_peak_mib:.0f}",
                "" if r.reference_peak_mib is None else f"{r.reference_peak_mib:.0f}",
                r.target,
                "" if r.met is None else ("yes" if r.met else "NO"),
                r.note,
            ]
        )
    widths = [max(len(h), *(len(row[i]) for row in body)) if body else len(h) for i, h in enumerate(headers)]
    lines = [" | ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True))]
    lines.append("-+-".join("-" * w for w in widths))
    lines += [" | ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) for row in body]
    return "\n".join(lines)
