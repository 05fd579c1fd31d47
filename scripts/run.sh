#!/usr/bin/env bash
# Builds and runs the console on http://localhost:3000 with a SQLite database in ./data.
# Set DATABASE_URL=postgres://… to use PostgreSQL instead.
set -euo pipefail
source "$(dirname "$0")/env.sh"
cd "$ROOT"
scripts/setup.sh
cargo leptos build --release --precompress --split
export LEPTOS_SITE_ROOT="$ROOT/target/site"
exec "$CARGO_TARGET_DIR/release/server" --data-dir "${LATCHKEY_DATA_DIR:-$ROOT/data}" "$@"
