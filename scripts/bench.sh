#!/usr/bin/env bash
# Load benchmark (not part of the tests): builds the release console, seeds a fresh database,
# drives the server with latchkey-bench (bench/src/main.rs), prints one table and writes it
# to BENCHMARKS.md. Extra arguments go to latchkey-bench. Environment knobs:
#   LATCHKEY_BENCH_USERS (1000 per code scenario), LATCHKEY_BENCH_SECS (5 per timed scenario),
#   LATCHKEY_BENCH_PG (PostgreSQL URL for the second code-check run; "none" skips it).
set -euo pipefail
source "$(dirname "$0")/env.sh"
cd "$ROOT"
scripts/setup.sh
export LATCHKEY_BENCH_PG="${LATCHKEY_BENCH_PG:-postgres://postgres@127.0.0.1:5432/test}"
[ "$LATCHKEY_BENCH_PG" = none ] || ensure_postgres
cargo leptos build --release --precompress --split
# The same compiler settings cargo-leptos uses for the server, so its build is reused.
RUSTFLAGS="--cfg erase_components" LEPTOS_OUTPUT_NAME=latchkey cargo build --release -p bench
export LEPTOS_SITE_ROOT="$ROOT/target/site"
"$CARGO_TARGET_DIR/release/latchkey-bench" --write BENCHMARKS.md "$@"
