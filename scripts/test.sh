#!/usr/bin/env bash
# Runs the whole test suite: formatting and clippy (server and wasm feature sets), unit and
# integration tests (SQLite and PostgreSQL), the check that the wasm holds no server crate, and
# the Playwright suite in Debian's Chromium.
set -euo pipefail
source "$(dirname "$0")/env.sh"
cd "$ROOT"
scripts/setup.sh --browser

say() { printf '\033[1m==> %s\033[0m\n' "$*"; }

export LATCHKEY_TEST_PG="${LATCHKEY_TEST_PG:-postgres://postgres@127.0.0.1:5432/test}"
ensure_postgres
# Schemas left by earlier runs (each integration test makes its own lk_* schema).
psql "$LATCHKEY_TEST_PG" -qAt -c "SELECT 'DROP SCHEMA ' || nspname || ' CASCADE;' FROM pg_namespace WHERE nspname LIKE 'lk\_%'" \
  | psql "$LATCHKEY_TEST_PG" -q >/dev/null 2>&1 || true

say "formatting and lint (server and wasm feature sets)"
cargo fmt --all -- --check
cargo clippy -p app -p server -p bench --features app/ssr --all-targets -- -D warnings
cargo clippy -p frontend --target wasm32-unknown-unknown -- -D warnings

say "unit and integration tests (SQLite and PostgreSQL)"
cargo test -p app -p server -p bench --features app/ssr --no-fail-fast

say "the wasm build holds no server-only crate"
cargo check -p frontend --target wasm32-unknown-unknown
leaked=$(cargo tree -p frontend --target wasm32-unknown-unknown -e normal --prefix none \
  | awk '{print $1}' | grep -xE 'sqlx|sqlx-core|tokio|argon2|axum|leptos_axum|hyper|totp-rs|qrcode|chacha20poly1305|webauthn-rs|openssl|lettre|native-tls' | sort -u || true)
if [ -n "$leaked" ]; then
  echo "server-only crates in the wasm dependency tree:" $leaked >&2
  exit 1
fi
echo "ok: no server-only crate in frontend's wasm tree"

say "a production build refuses the test-only clock"
cargo build -p server
if out=$("$CARGO_TARGET_DIR/debug/server" --test-clock --data-dir "$(mktemp -d)" 2>&1); then
  echo "a build without the test-clock feature accepted --test-clock" >&2
  exit 1
fi
echo "$out" | grep -q "test-only setting" || { echo "$out" >&2; exit 1; }
echo "ok: refused"

# The browser tests' server has the test-only clock: it is built into a target directory of
# its own, so the release binary that scripts/run.sh builds and runs never has it.
say "release build (server + wasm) for the browser tests, with the test-only clock"
E2E_TARGET="$CARGO_TARGET_DIR/e2e"
CARGO_TARGET_DIR="$E2E_TARGET" cargo leptos build --release --precompress --split --bin-features test-clock

say "browser tests (Playwright, Debian's Chromium)"
export LATCHKEY_E2E_BIN="$E2E_TARGET/release/server"
export LATCHKEY_E2E_TEST_CLOCK=1
export LEPTOS_SITE_ROOT="$ROOT/target/site"
free_port() { python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }
export LATCHKEY_E2E_PORT="${LATCHKEY_E2E_PORT:-$(free_port)}"
export LATCHKEY_E2E_SMTP_PORT="${LATCHKEY_E2E_SMTP_PORT:-$(free_port)}"
cd end2end
npx playwright test
