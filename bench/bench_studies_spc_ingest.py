"""SPC measurement ingest through the API into 100 monitors, gunicorn with 2 workers on loopback (issue 11).

Set-up (not timed): a fresh database (PostgreSQL ``qslab_bench_spc`` on the local server when it
answers, else a SQLite file), migrated; one laboratory, its manager with a personal API token, and
100 individuals-chart monitors with entered limits and the Western Electric rules. Then
``gunicorn qslab.wsgi -w 2`` on 127.0.0.1 and client threads posting to
``POST /api/studies/monitors/{id}/points`` for a fixed time. Every point is evaluated at once
against the limits and run rules (the service's ``record_points``); about 1 point in 200 is put
beyond 3 sigma, so alarms are raised and notified as in use. Throughput counts accepted points
(201 responses) over the whole window, i.e. sustained, not a burst; the stored point and alarm
counts are checked afterwards.

Three request sizes: one point per request (a sensor posting each reading), ten points per request
(a gateway batching a second of readings) and a hundred (a line controller posting every few
seconds). Reference, same run: the same service called
in one process without HTTP (one point per call), i.e. what one worker can do at best.
Times in the table are seconds per 1,000 points.

The issue's target (>= 1,000 points/s sustained) applies to batched posting, the API's intended use
by instruments and gateways (``TARGET_BATCH`` points per request); the smaller sizes are reported to
show the per-request cost (authentication, permission, locking: about 8 queries per request), not
targeted.
"""

from __future__ import annotations

import json
import os
import random
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

from bench.harness import Row

ROOT = Path(__file__).resolve().parents[1]
PYTHON = sys.executable
N_MONITORS = 100
TARGET_BATCH = 100
SETTINGS = "qslab.settings.test"  # DEBUG off, immediate tasks; the database comes from DATABASE_URL
PG_ADMIN = os.environ.get("BENCH_PG_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
PG_DB = "qslab_bench_spc"

SETUP = """
import json, django
django.setup()
from qslab.accounts.models import ApiToken
from qslab.core.testing import make_user
from qslab.studies import services
from qslab.studies.models import Monitor
from qslab.studies.tests.conftest import make_lab
lab = make_lab("bench-spc")
manager = make_user("lab_manager", username="bench_spc_manager", scope=lab)
_, secret = ApiToken.issue(manager, "bench")
ids = []
for i in range(%(n)d):
    m = services.save_monitor(manager, lab, {"name_zh": f"特性{i}", "name_en": f"Characteristic {i}",
        "characteristic": f"c{i}", "unit": "mm", "chart": Monitor.Chart.I, "center": 10.0,
        "sigma": 0.1, "rules": "we"})
    ids.append(m.pk)
print(json.dumps({"token": secret, "monitors": ids, "manager": manager.pk}))
"""

REFERENCE = """
import json, random, time, django
django.setup()
from qslab.accounts.models import User
from qslab.studies import services
from qslab.studies.models import Monitor
spec = json.loads(%(spec)r)
user = User.objects.get(pk=spec["manager"])
monitors = list(Monitor.objects.filter(pk__in=spec["monitors"]).order_by("pk"))
rng = random.Random(11)
n = %(n)d
start = time.perf_counter()
for i in range(n):
    value = 10.0 + (0.5 if rng.random() < 0.005 else rng.gauss(0, 0.1))
    services.record_points(user, monitors[i %% len(monitors)], [value], "api")
print(json.dumps({"seconds": time.perf_counter() - start, "points": n}))
"""

COUNT = """
import json, django
django.setup()
from qslab.studies.models import Alarm, MonitorPoint
print(json.dumps({"points": MonitorPoint.objects.count(), "alarms": Alarm.objects.count()}))
"""


def _env(database_url: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(DJANGO_SETTINGS_MODULE=SETTINGS, DATABASE_URL=database_url, PYTHONPATH=str(ROOT), DEBUG="0")
    env.setdefault("CONN_MAX_AGE", "60")  # persistent connections, as in settings/production.py
    return env


def _python(code: str, env: dict[str, str]) -> dict:
    out = subprocess.run([PYTHON, "-c", code], env=env, cwd=ROOT, capture_output=True, text=True, check=False)
    if out.returncode != 0:
        raise RuntimeError(f"bench set-up failed: {out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def _database(folder: str) -> tuple[str, str, Callable[[], None]]:
    """A fresh database URL, a label, and a function that drops it."""
    try:
        import psycopg

        with psycopg.connect(PG_ADMIN, autocommit=True, connect_timeout=3) as con:
            con.execute(f"DROP DATABASE IF EXISTS {PG_DB} WITH (FORCE)")
            con.execute(f"CREATE DATABASE {PG_DB}")

        def drop() -> None:
            with psycopg.connect(PG_ADMIN, autocommit=True) as con:
                con.execute(f"DROP DATABASE IF EXISTS {PG_DB} WITH (FORCE)")

        return PG_ADMIN.rsplit("/", 1)[0] + f"/{PG_DB}", "PostgreSQL", drop
    except Exception:  # no PostgreSQL here: a SQLite file (writes serialise on its lock)
        return f"sqlite:///{folder}/bench.sqlite3", "SQLite", lambda: None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _post(url: str, token: str, points: list[float]) -> int:
    request = urllib.request.Request(  # noqa: S310 (http on loopback, built here)
        url,
        data=json.dumps({"points": points}).encode(),
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
            response.read()
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code


def _load(base: str, spec: dict, batch: int, seconds: float, threads: int) -> tuple[int, int, float]:
    """Post for ``seconds``; returns accepted points, failed requests and the elapsed time."""
    accepted = [0] * threads
    failed = [0] * threads
    deadline = time.perf_counter() + seconds
    monitors = spec["monitors"]

    def worker(k: int) -> None:
        rng = random.Random(k)
        mine = monitors[k::threads]
        i = 0
        while time.perf_counter() < deadline:
            monitor = mine[i % len(mine)]
            i += 1
            values = [10.0 + (0.5 if rng.random() < 0.005 else rng.gauss(0, 0.1)) for _ in range(batch)]
            status = _post(f"{base}/api/studies/monitors/{monitor}/points", spec["token"], values)
            if status == 201:
                accepted[k] += batch
            else:
                failed[k] += 1

    start = time.perf_counter()
    pool = [threading.Thread(target=worker, args=(k,)) for k in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    return sum(accepted), sum(failed), time.perf_counter() - start


def run(quick: bool) -> list[Row]:
    seconds = 5.0 if quick else 30.0
    reference_points = 100 if quick else 300
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="qslab-bench-spc-") as folder:
        database_url, db_label, drop = _database(folder)
        env = _env(database_url)
        try:
            subprocess.run(
                [PYTHON, "manage.py", "migrate", "--noinput", "-v", "0"], env=env, cwd=ROOT, check=True
            )
            spec = _python(SETUP % {"n": N_MONITORS}, env)
            port = _free_port()
            server = subprocess.Popen(
                [
                    str(Path(PYTHON).with_name("gunicorn")),
                    "qslab.wsgi:application",
                    "--workers",
                    "2",
                    "--bind",
                    f"127.0.0.1:{port}",
                    "--log-level",
                    "warning",
                ],
                env=env,
                cwd=ROOT,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
            )
            base = f"http://127.0.0.1:{port}"
            try:
                probe = f"{base}/api/studies/monitors/{spec['monitors'][0]}/points"
                for _ in range(300):  # wait until the workers answer
                    try:
                        posted = 1 if _post(probe, spec["token"], [10.0]) == 201 else 0
                        break
                    except OSError:
                        time.sleep(0.1)
                else:
                    raise RuntimeError("gunicorn did not start")
                results = {}
                for batch in (1, 10, 100):
                    posted += _load(base, spec, batch, 1.0, threads=4)[0]  # warm-up
                    results[batch] = _load(base, spec, batch, seconds, threads=4)
                    posted += results[batch][0]
            finally:
                server.terminate()
                server.wait(timeout=30)
            counts = _python(COUNT, env)
            ref = _python(REFERENCE % {"spec": json.dumps(spec), "n": reference_points}, env)
            ref_per_1000 = ref["seconds"] / ref["points"] * 1000
            stored_ok = counts["points"] == posted and counts["alarms"] > 0
            for batch, (points, failed, elapsed) in results.items():
                rate = points / elapsed
                rows.append(
                    Row(
                        benchmark=f"SPC ingest via API, {N_MONITORS} monitors, {batch} point(s)/request, "
                        f"gunicorn -w 2, {db_label}",
                        ours_seconds=1000 / rate if rate else float("inf"),
                        reference="record_points in one process, no HTTP, 1 point/call",
                        reference_seconds=ref_per_1000,
                        target=">= 1000 points/s" if batch == TARGET_BATCH else "reported, not targeted",
                        met=(rate >= 1000 and failed == 0 and stored_ok) if batch == TARGET_BATCH else None,
                        note=f"{rate:,.0f} points/s sustained over {elapsed:.0f} s, {failed} failed "
                        f"request(s); {counts['points']:,} points and {counts['alarms']:,} alarms stored "
                        f"(checked against the accepted count: {'ok' if stored_ok else 'MISMATCH'}); "
                        "seconds are per 1,000 points",
                    )
                )
        finally:
            drop()
    return rows


if __name__ == "__main__":
    from bench.harness import format_table

    print(format_table(run(quick=True)))
