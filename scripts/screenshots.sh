#!/usr/bin/env bash
# Takes the README's screenshots (docs/screenshots/) from the release console in Debian's
# Chromium, through end2end/tests/screenshots.spec.ts.
set -euo pipefail
source "$(dirname "$0")/env.sh"
cd "$ROOT"
scripts/setup.sh --browser
cargo leptos build --release --precompress --split
mkdir -p docs/screenshots
export LATCHKEY_E2E_BIN="$CARGO_TARGET_DIR/release/server"
export LEPTOS_SITE_ROOT="$ROOT/target/site"
export LATCHKEY_SCREENSHOTS="$ROOT/docs/screenshots"
export LATCHKEY_E2E_PORT="${LATCHKEY_E2E_PORT:-$(python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])')}"
cd end2end
npx playwright test tests/screenshots.spec.ts --project js
