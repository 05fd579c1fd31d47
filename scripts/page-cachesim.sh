#!/usr/bin/env bash
# Per-request instructions and simulated cache misses of two pages: the signed-in Overview and
# the sign-in page rendered anew (`/login?from=bench`), under `valgrind --tool=callgrind
# --cache-sim=yes`. Not part of the tests. Use it where `perf stat` has no hardware counters
# (these VMs report cycles as <not supported>): the counts repeat exactly for the same binary,
# whatever else the machine is doing.
#
# Usage: scripts/page-cachesim.sh [LAST_LEVEL_BYTES ...]   (default: 524288 1048576 2097152)
# Needs the release build of scripts/bench.sh (server and latchkey-bench); installs valgrind
# from Debian's packages if it is missing. LATCHKEY_BENCH_SERVER picks another server binary.
set -euo pipefail
source "$(dirname "$0")/env.sh"
cd "$ROOT"

sizes=("$@")
[ ${#sizes[@]} -gt 0 ] || sizes=(524288 1048576 2097152)
for s in "${sizes[@]}"; do
  [[ "$s" =~ ^[0-9]+$ ]] && [ "$s" -ge 65536 ] || { echo "last-level size must be bytes, >= 65536: $s" >&2; exit 2; }
done

server="${LATCHKEY_BENCH_SERVER:-$CARGO_TARGET_DIR/release/server}"
bench="$CARGO_TARGET_DIR/release/latchkey-bench"
for bin in "$server" "$bench"; do
  [ -x "$bin" ] || { echo "$bin is missing: run scripts/bench.sh once first" >&2; exit 2; }
done
if ! command -v valgrind >/dev/null || ! command -v curl >/dev/null; then
  apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y valgrind curl
fi

export LEPTOS_SITE_ROOT="$ROOT/target/site" LEPTOS_OUTPUT_NAME=latchkey
work="$(mktemp -d)"
vpid=""
cleanup() {
  [ -z "$vpid" ] || kill "$vpid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

"$bench" --seed-only >"$work/seed.txt" 2>/dev/null
data_dir="$(head -n1 "$work/seed.txt" | sed 's/.*--data-dir //')"
key="$(head -n1 "$work/seed.txt" | sed 's/^LATCHKEY_SECRET_KEY=\([^ ]*\) .*/\1/')"
cookie="$(grep -m1 '^latchkey_session=' "$work/seed.txt")"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
base="http://127.0.0.1:$port"
warm=20
n=200

fetch() { # URL COUNT [curl args]: COUNT requests, each checked for 200
  local url=$1 count=$2 i code
  shift 2
  for ((i = 0; i < count; i++)); do
    code=$(curl -s -o /dev/null -w '%{http_code}' -H 'Accept-Encoding: gzip' "$@" "$url")
    [ "$code" = 200 ] || { echo "$url answered $code" >&2; exit 1; }
  done
}

printf '| last level | page | instructions | L1i misses | L1d misses | last-level misses (code + data) |\n'
printf '|---|---|---:|---:|---:|---:|\n'
for ll in "${sizes[@]}"; do
  LATCHKEY_SECRET_KEY="$key" RUST_LOG=warn valgrind --tool=callgrind --cache-sim=yes \
    --I1=32768,8,64 --D1=32768,8,64 --LL="$ll",16,64 \
    --callgrind-out-file="$work/cg.$ll.%p" \
    "$server" --data-dir "$data_dir" --listen "127.0.0.1:$port" >"$work/server.$ll.log" 2>&1 &
  vpid=$!
  for _ in $(seq 1 120); do curl -sf "$base/healthz" >/dev/null && break; sleep 0.5; done
  for page in overview signin; do
    if [ $page = overview ]; then url="$base/"; args=(-H "Cookie: $cookie"); else url="$base/login?from=bench"; args=(); fi
    fetch "$url" $warm "${args[@]}"
    callgrind_control -z "$vpid" >/dev/null 2>&1
    fetch "$url" $n "${args[@]}"
    callgrind_control -d "$page" "$vpid" >/dev/null 2>&1
  done
  kill "$vpid"; wait "$vpid" 2>/dev/null || true; vpid=""
  for page in overview signin; do
    f=$(grep -l "^desc: Trigger: dump $page" "$work"/cg."$ll".* | head -n1)
    label=$([ $page = overview ] && echo "Overview" || echo "sign-in page rendered anew")
    # events: Ir Dr Dw I1mr D1mr D1mw ILmr DLmr DLmw
    awk -v ll="$ll" -v label="$label" -v n=$n '/^summary:/ {
      printf "| %d KB | %s | %.0f k | %.1f k | %.1f k | %.2f k (%.2f k + %.2f k) |\n",
        ll / 1024, label, $2 / n / 1000, $5 / n / 1000, ($6 + $7) / n / 1000,
        ($8 + $9 + $10) / n / 1000, $8 / n / 1000, ($9 + $10) / n / 1000 }' "$f"
  done
done
echo
echo "Per request: $n requests after $warm of warm-up; L1i and L1d 32 KB 8-way, the last level 16-way."
rm -rf "$data_dir"
