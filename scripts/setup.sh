#!/usr/bin/env bash
# Installs what building and testing Latchkey needs, idempotently, from the package registries only.
# Usage: scripts/setup.sh [--browser]   (--browser also installs Debian's chromium for the tests)
set -euo pipefail
cd "$(dirname "$0")/.."

CARGO_LEPTOS_VERSION=0.3.10     # 0.3.11 needs rustc >= 1.96
WASM_BINDGEN_VERSION=0.2.130    # must equal wasm-bindgen in Cargo.lock
export PATH="$HOME/.cargo/bin:$PATH"

say() { printf '\033[1m==> %s\033[0m\n' "$*"; }

# webauthn-rs (passkeys) and lettre (mail over TLS) build against the system's OpenSSL; the
# tests' SMTP server (scripts/smtp-sink.py) runs on Debian's Python with aiosmtpd.
if ! dpkg -s libssl-dev pkg-config python3-aiosmtpd >/dev/null 2>&1; then
  say "installing Debian's libssl-dev, pkg-config and python3-aiosmtpd"
  apt-get update
  DEBIAN_FRONTEND=noninteractive apt-get install -y libssl-dev pkg-config python3-aiosmtpd
fi

if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
  say "adding the wasm32 target"
  rustup target add wasm32-unknown-unknown
fi

for component in clippy rustfmt; do
  if ! rustup component list --installed | grep -q "^$component"; then
    say "adding rustup component $component"
    rustup component add "$component"
  fi
done

if ! cargo leptos --version 2>/dev/null | grep -q " $CARGO_LEPTOS_VERSION"; then
  say "installing cargo-leptos $CARGO_LEPTOS_VERSION (takes ~16 minutes once)"
  cargo install cargo-leptos --locked --version "$CARGO_LEPTOS_VERSION"
fi

if ! wasm-bindgen --version 2>/dev/null | grep -q " $WASM_BINDGEN_VERSION"; then
  say "installing wasm-bindgen-cli $WASM_BINDGEN_VERSION"
  # No --locked: its lockfile names a crate version the registry no longer has.
  cargo install wasm-bindgen-cli --version "$WASM_BINDGEN_VERSION" --force
fi

# wasm-opt (binaryen 132) and Playwright come from the npm lockfile. Debian's binaryen 108
# builds a wasm that silently never hydrates, so ours must come first on PATH.
if [ ! -x end2end/node_modules/.bin/wasm-opt ] || ! (cd end2end && npm ls --silent >/dev/null 2>&1); then
  say "installing npm packages (end2end/package-lock.json)"
  (cd end2end && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund)
fi

if [ "${1:-}" = "--browser" ] && [ ! -x /usr/bin/chromium ]; then
  say "installing Debian's chromium"
  apt-get update
  DEBIAN_FRONTEND=noninteractive apt-get install -y chromium
fi
