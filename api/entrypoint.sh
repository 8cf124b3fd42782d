#!/bin/sh
# Starts the API the same way in the image and in the tests' native twin.
# The metrics directory is emptied here, before any worker starts: files left by an earlier run
# would be added to this run's counters.
set -eu

if [ -n "${PROMETHEUS_MULTIPROC_DIR:-}" ]; then
    mkdir -p "$PROMETHEUS_MULTIPROC_DIR"
    find "$PROMETHEUS_MULTIPROC_DIR" -mindepth 1 -delete
fi

# No access log: request paths carry document numbers (personal data); /metrics has the traffic.
exec uvicorn "${APP_MODULE:-app.main:app}" \
    --host "${API_HOST:-0.0.0.0}" --port "${API_PORT:-8000}" \
    --workers "${WEB_CONCURRENCY:-2}" \
    --no-access-log \
    --timeout-graceful-shutdown 10
