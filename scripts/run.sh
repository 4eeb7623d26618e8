#!/usr/bin/env bash
# Set up a fresh machine and run syncdesk on its embedded defaults (SQLite, local Redis):
# venv, install, .env with a generated INGEST_SECRET, Redis, migrations, then web + worker
# from the Procfile.
set -euo pipefail
cd "$(dirname "$0")/.."

python3 -m venv .venv
.venv/bin/pip install --quiet --upgrade pip
.venv/bin/pip install --quiet -e .
export PATH="$PWD/.venv/bin:$PATH"

if [ ! -f .env ]; then
  secret=$(python3 -c 'import secrets; print(secrets.token_hex(24))')
  printf 'INGEST_SECRET=%s\n' "$secret" > .env
  echo "wrote .env with a new INGEST_SECRET (add SLACK_BOT_TOKEN etc. there when you have them)"
fi

bash scripts/services.sh --redis-only
syncdesk migrate
exec honcho start --port "${PORT:-8000}" web worker
