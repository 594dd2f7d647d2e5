#!/usr/bin/env bash
# Creates (idempotently) .venv-sdk/ with the real third-party Python client that the SDK
# compatibility tests in tests/sdk drive against the service: PyPI didit-sdk, pinned.
set -euo pipefail
cd "$(dirname "$0")/.."

venv=.venv-sdk
# Exact pins: the client under test, the test runner, and the HTTP client used for the
# hosted capture POST (httpx is also didit-sdk's own transport). pydantic is pinned because
# didit-sdk's strict response models are what the tests exercise.
requirements=(
  didit-sdk==0.4.0
  pytest==9.2.0
  httpx==0.28.1
  pydantic==2.14.4
)

log() { printf '[sdk-venv] %s\n' "$*" >&2; }

stamp="$venv/.facegate-requirements"
want="$(printf '%s\n' "${requirements[@]}")"
if [[ -x "$venv/bin/python" && -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
  log "$venv is up to date ($(tr '\n' ' ' <"$stamp"))"
  exit 0
fi

if [[ ! -x "$venv/bin/python" ]]; then
  log "creating $venv with $(python3 --version)"
  python3 -m venv "$venv"
fi
log "installing ${requirements[*]}"
"$venv/bin/python" -m pip install --disable-pip-version-check --quiet "${requirements[@]}"
"$venv/bin/python" -m pip check >&2
printf '%s\n' "$want" >"$stamp"
log "done: $("$venv/bin/python" -c 'import importlib.metadata as m; print(", ".join(f"{p}=={m.version(p)}" for p in ("didit-sdk", "pytest", "httpx", "pydantic")))')"
