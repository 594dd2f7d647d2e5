#!/usr/bin/env bash
# Builds edge-worker/build/ (wasm + JS shim) with worker-build, using the wasm-bindgen and
# esbuild this project installs: nothing is downloaded at build time. Returns at once when the
# output is newer than every input, because wrangler runs it twice at each start.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
bash "$root/scripts/build-capture.sh"
# The console (web/console) is a few static files: refreshed at every start, only those that
# changed, so wrangler's watcher sees nothing when nothing changed.
console="$root/edge-worker/public/console"
mkdir -p "$console"
for f in "$root"/web/console/*.html "$root"/web/console/*.js "$root"/web/console/*.css; do
  cmp -s "$f" "$console/$(basename "$f")" || cp "$f" "$console/"
done
cmp -s "$root/web/console/_headers" "$root/edge-worker/public/_headers" || cp "$root/web/console/_headers" "$root/edge-worker/public/_headers"
out="$root/edge-worker/build/index.js"
if [ -f "$out" ] && [ -z "$(find "$root/edge-worker/src" "$root/edge-worker/Cargo.toml" "$root/crates" "$root/Cargo.lock" "$root/.cargo" "$root/web/hosted/index.html" \
    -newer "$out" -type f \( -name '*.rs' -o -name '*.toml' -o -name 'Cargo.lock' -o -name '*.html' -o -name '*.js' -o -name '*.css' \) -print -quit)" ]; then
  exit 0
fi
export WASM_BINDGEN_BIN="${WASM_BINDGEN_BIN:-$(command -v wasm-bindgen || true)}"
export ESBUILD_BIN="${ESBUILD_BIN:-$root/node_modules/.bin/esbuild}"
[ -x "$WASM_BINDGEN_BIN" ] || { echo "wasm-bindgen not found: run npm install (scripts/setup.sh installs it)" >&2; exit 1; }
command -v worker-build >/dev/null || { echo "worker-build not found: run npm install (scripts/setup.sh installs it)" >&2; exit 1; }
cd "$root/edge-worker"
# --no-opt: wasm-opt takes minutes on this module and barely changes its compressed size.
worker-build --release --no-opt
