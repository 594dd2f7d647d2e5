#!/usr/bin/env bash
# Builds edge-worker/public/hosted/, the hosted page's static assets: its scripts and styles
# (web/hosted), capture-wasm with and without wasm SIMD, and the two client models. Workers
# serve these as static assets, outside the 10 MB worker bundle. Returns at once when nothing
# changed, because wrangler runs its build command twice at each start.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
out="$root/edge-worker/public/hosted"
stamp="$out/.built"
prepared="$root/models/prepared"
if [ -f "$stamp" ] && [ -z "$(find "$root/capture-wasm" "$root/crates/pipeline/src" "$root/crates/pipeline/Cargo.toml" \
    "$root/Cargo.lock" "$root/.cargo" "$root/web/hosted" "$prepared" -newer "$stamp" -type f -print -quit)" ]; then
  exit 0
fi
target="${CARGO_TARGET_DIR:-$root/target}"
bindgen="${WASM_BINDGEN_BIN:-$(command -v wasm-bindgen || true)}"
[ -x "$bindgen" ] || { echo "wasm-bindgen not found: run npm install (scripts/setup.sh installs it)" >&2; exit 1; }
unset CARGO_ENCODED_RUSTFLAGS
build() { # $1 = simd|nosimd, $2 = target dir; RUSTFLAGS set by the caller
  CARGO_TARGET_DIR="$2" cargo build --quiet -p facegate-capture --target wasm32-unknown-unknown --profile capture
  rm -rf "$out/capture/$1"
  "$bindgen" --target web --remove-name-section --out-dir "$out/capture/$1" \
    "$2/wasm32-unknown-unknown/capture/facegate_capture.wasm"
  rm -f "$out/capture/$1"/*.d.ts
}
mkdir -p "$out/models"
# SIMD comes from .cargo/config.toml. Browsers without wasm SIMD (Safari before 16.4) get a
# build without it, from its own target dir so the two flag sets never rebuild each other.
(unset RUSTFLAGS; build simd "$target")
RUSTFLAGS="" build nosimd "$target/nosimd"

rm -rf "$out/lang" && mkdir -p "$out/lang"
cp "$root"/web/hosted/*.js "$root"/web/hosted/*.css "$out/"
cp "$root"/web/hosted/lang/*.json "$out/lang/" 2>/dev/null || true
# Half-precision weights when prepared (half the download, scores within 0.02); else fp32.
client_model() { # $1 = served name, $2 = half-precision file, $3 = fp32 file
  if [ -f "$prepared/client/$2" ]; then cp "$prepared/client/$2" "$out/models/$1"
  elif [ -f "$prepared/$3" ]; then cp "$prepared/$3" "$out/models/$1"
  else echo "models/prepared/$3 is missing: run npm install (or facegate models prepare)" >&2; exit 1; fi
}
client_model yunet.onnx yunet_2023mar_f16w.onnx yunet_2023mar_fp32.onnx
client_model minifasnet_v2.onnx minifasnet_v2_2.7_80x80_f16w.onnx minifasnet_v2_2.7_80x80.onnx
touch "$stamp"
