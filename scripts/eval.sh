#!/usr/bin/env bash
# Accuracy on ../shared/data at the shipped thresholds (JSON on stdout, progress on stderr).
set -euo pipefail
cd "$(dirname "$0")/.."
bin="${CARGO_TARGET_DIR:-target}/release/facegate"
data="${FACEGATE_DATA_DIR:-../shared/data}"
"$bin" eval-pairs "$data/faces/pairs.csv" --root "$data/faces" --json
"$bin" eval-liveness "$data/liveness/labels.csv" --root "$data/liveness" --json
