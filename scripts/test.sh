#!/usr/bin/env bash
# The test command: installs what it needs (.venv with syncdesk and its test extras), then the
# import contracts, then the whole suite on the embedded SQLite and on the real PostgreSQL.
# Redis: the one at TEST_REDIS_URL (default redis://127.0.0.1:6379), else an embedded Valkey
# started on that port for the run. PostgreSQL: 127.0.0.1:5432 (TEST_PG_ADMIN_URL);
# TEST_DATABASES="sqlite" runs the SQLite pass alone. Tests run in TEST_WORKERS processes
# (pytest-xdist; default: the cores, at most 4; 0 runs them in pytest's own process), each
# with its own database and Redis database; the 15 slowest of each pass are listed (issue 22:
# where the time goes, run by run). Arguments go to pytest.
# pytest's exit code 5 (no tests collected) is a failure here.
set -uo pipefail
cd "$(dirname "$0")/.."
source scripts/venv.sh
ensure_venv test || exit 1
PY=.venv/bin/python
echo "== import contracts (lint-imports) =="
.venv/bin/lint-imports || exit 1

export TEST_REDIS_URL="${TEST_REDIS_URL:-redis://127.0.0.1:6379}"
cores=$(nproc 2>/dev/null || echo 2)
workers="${TEST_WORKERS:-$(( cores < 4 ? cores : 4 ))}"
pg_up() { "$PY" -c 'import socket,sys; socket.create_connection(("127.0.0.1", 5432), 2)' 2>/dev/null; }

status=0
for backend in ${TEST_DATABASES:-sqlite postgres}; do
  echo "== tests on ${backend} =="
  if [ "$backend" = postgres ] && [ -z "${TEST_PG_ADMIN_URL:-}" ] && ! pg_up; then
    echo "PostgreSQL does not answer at 127.0.0.1:5432: the PostgreSQL pass needs it (bash scripts/services.sh"
    echo "starts or installs it, as root), or set TEST_PG_ADMIN_URL, or run TEST_DATABASES=sqlite $0: failing"
    status=1
    continue
  fi
  # The embedded Redis stands in for the default test URL when nothing answers there.
  TEST_DATABASE=$backend "$PY" -m syncdesk.cli embedded-redis --url "$TEST_REDIS_URL" \
    --data-dir .syncdesk/test-redis -- "$PY" -m pytest -q -p no:cacheprovider -n "$workers" --durations=15 "$@"
  code=$?
  if [ "$code" -eq 5 ]; then echo "no tests ran on ${backend}: failing"; code=1; fi
  if [ "$code" -ne 0 ]; then status=$code; fi
done
exit $status
