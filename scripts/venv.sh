# Sourced by run.sh, test.sh and .ci/run: make sure .venv exists and has syncdesk installed
# (editable) with the extras asked for, at the versions constraints.txt pins, installing only
# what is missing. Re-installs when pyproject.toml or constraints.txt changed since the last
# install. Needs python3 (>= 3.11) with venv; no root.
ensure_venv() {
  local extras="${1:-}" stamp=.venv/.syncdesk-install want have spec
  if [ ! -x .venv/bin/python ]; then
    python3 -m venv .venv || { echo "could not create .venv: install python3-venv (Python >= 3.11)" >&2; return 1; }
  fi
  want="$(python3 -c 'import hashlib; print(hashlib.sha256(b"".join(open(f, "rb").read() for f in ("pyproject.toml", "constraints.txt"))).hexdigest())')"
  have="$(cat "$stamp" 2>/dev/null || true)"
  # Installed with the same pyproject.toml, and with the test extras if they are asked for?
  if [ "$have" = "$want test" ] || { [ -z "$extras" ] && [ "$have" = "$want base" ]; }; then
    return 0
  fi
  # Keep the test extras once installed: running the bot must not break the test command.
  if [ "$extras" = test ] || [ "${have##* }" = test ]; then spec=".[test]"; extras=test; else spec="."; extras=base; fi
  echo "installing syncdesk ($spec) into .venv…"
  .venv/bin/python -m pip install --quiet -c constraints.txt -e "$spec" || return 1
  echo "$want $extras" > "$stamp"
}
