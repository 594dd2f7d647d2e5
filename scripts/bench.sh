#!/usr/bin/env bash
# Per-stage latency p50/p99 on one thread and peak RSS (JSON on stdout).
set -euo pipefail
cd "$(dirname "$0")/.."
"${CARGO_TARGET_DIR:-target}/release/facegate" bench --iterations "${ITERATIONS:-200}" --json
