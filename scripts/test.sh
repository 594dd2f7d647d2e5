#!/usr/bin/env bash
# Every test of the project. `npm test` runs this; so does .ci/run.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup.sh

printf '\n==> Unit and integration tests (real models, real images from ../shared/data)\n' >&2
cargo test --release --workspace

printf '\n==> The hosted page'"'"'s scripts (translations, language choice)\n' >&2
node --test tests/unit/

printf '\n==> Edge worker in wrangler dev (real workerd with local D1 and R2)\n' >&2
# Builds capture-wasm (SIMD and non-SIMD) and the worker for wasm32.
bash scripts/build-worker.sh
node --test --test-concurrency=1 tests/edge/

printf '\n==> The didit-sdk 0.4.0 client and CLI against the service\n' >&2
bash scripts/test-sdk.sh

printf '\n==> The demo integrator: webhook signature verification against the published vectors\n' >&2
node --test tests/demo/

printf '\n==> The hosted page in Chromium with a fake camera (screenshots in out/screenshots/)\n' >&2
node --test --test-concurrency=1 tests/browser/
