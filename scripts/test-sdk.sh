#!/usr/bin/env bash
# Drives the real PyPI didit-sdk 0.4.0 (client, webhook verifier and CLI) against the real
# service in wrangler dev; tests/sdk/conftest.py starts the service like tests/edge/harness.mjs.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/sdk-venv.sh
printf '\n==> didit-sdk 0.4.0 against the service (tests/sdk)\n' >&2
PYTHONDONTWRITEBYTECODE=1 exec .venv-sdk/bin/pytest -q -p no:cacheprovider tests/sdk "$@"
