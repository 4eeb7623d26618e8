#!/usr/bin/env bash
# The test command: the whole suite on the embedded SQLite, then on the real PostgreSQL.
# pytest's exit code 5 (no tests collected) is a failure here.
set -uo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
status=0
for backend in sqlite postgres; do
  echo "== tests on ${backend} =="
  TEST_DATABASE=$backend "$PY" -m pytest -q -p no:cacheprovider "$@"
  code=$?
  if [ "$code" -eq 5 ]; then echo "no tests ran on ${backend}: failing"; code=1; fi
  if [ "$code" -ne 0 ]; then status=$code; fi
done
exit $status
