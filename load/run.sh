#!/usr/bin/env bash
# make load: seed realistic volumes, serve with gunicorn on loopback, run locust headless for a bounded
# time, report p50/p95/p99 and errors against the target. Settings come from the environment:
#   LOAD_USERS (50) LOAD_SPAWN (10/s) LOAD_TIME (60s) LOAD_PORT (8765) LOAD_WORKERS (2 per core)
#   LOAD_THREADS (1) LOAD_SEED (seed_load options, default the full 1,000 labs / 100,000 incidents /
#   10,000 bookings); DATABASE_URL as usual
#   (default: a separate SQLite file under var/load, so the demo database is not touched).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
BIN=$(dirname "$PY")  # gunicorn and locust from the same virtual environment
STARTED=$SECONDS
export QSLAB_VAR_DIR=${QSLAB_VAR_DIR:-var/load}
export DEBUG=0 LOG_LEVEL=${LOG_LEVEL:-ERROR} OPENBLAS_NUM_THREADS=1
export LOAD_TOKEN_FILE="$QSLAB_VAR_DIR/load-token.txt"
USERS=${LOAD_USERS:-50}; SPAWN=${LOAD_SPAWN:-10}; TIME=${LOAD_TIME:-60s}
PORT=${LOAD_PORT:-8765}
# workers and threads as deployed (gunicorn.conf.py: 2 workers per core) unless LOAD_WORKERS/_THREADS say
export GUNICORN_WORKERS=${LOAD_WORKERS:-${GUNICORN_WORKERS:-$((2 * $(nproc)))}}
export GUNICORN_THREADS=${LOAD_THREADS:-${GUNICORN_THREADS:-1}}
mkdir -p "$QSLAB_VAR_DIR"

$PY manage.py migrate -v0
# shellcheck disable=SC2086
$PY manage.py seed_load ${LOAD_SEED:-}
echo "migrated and seeded in $((SECONDS - STARTED)) s"

# gunicorn.conf.py (preloaded application); persistent database connections as in production settings.
CONN_MAX_AGE=${CONN_MAX_AGE:-60} "$BIN/gunicorn" qslab.wsgi:application --config gunicorn.conf.py \
    --bind "127.0.0.1:$PORT" \
    --log-level warning --access-logfile /dev/null &
GUNICORN=$!
trap 'kill $GUNICORN 2>/dev/null || true; wait $GUNICORN 2>/dev/null || true' EXIT
for _ in $(seq 1 60); do
    curl -fsS "http://127.0.0.1:$PORT/healthz" >/dev/null 2>&1 && break
    sleep 0.5
done
curl -fsS "http://127.0.0.1:$PORT/readyz" || { echo "server not ready"; exit 2; }
echo

# Warm up each worker (imports, templates, translations) so the measured run sees a running server.
for path in / /labs/ /api/labs/laboratories; do
    for _ in 1 2 3 4; do curl -fsS -o /dev/null "http://127.0.0.1:$PORT$path" || true; done
done

"$BIN/locust" -f load/locustfile.py --headless --users "$USERS" --spawn-rate "$SPAWN" --run-time "$TIME" \
    --host "http://127.0.0.1:$PORT" --csv "$QSLAB_VAR_DIR/locust" --only-summary --loglevel WARNING \
    --stop-timeout 5 || true
status=0
$PY load/report.py "$QSLAB_VAR_DIR/locust_stats.csv" --users "$USERS" || status=$?
echo "load run finished in $((SECONDS - STARTED)) s (migrations, seeding, warm-up and $TIME of load)"
exit $status
