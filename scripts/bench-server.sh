#!/usr/bin/env bash
# Server HTTP benchmark (issue: server foundation). Builds the release binary, starts it on
# loopback over plain HTTP with a temp data dir, and measures with wrk (64 connections):
#   - GET /api/v1/health
#   - GET /api/v1/orgs authenticated with an API key
# plus start-to-healthy time, idle RSS and binary size. Prints a Markdown table for
# BENCHMARKS.md. Usage: scripts/bench-server.sh [seconds-per-run, default 15]
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib/common.sh
ensure_apt wrk curl python3

secs=${1:-15}
target=$(cargo_target_dir)
say "building release binary"
cargo build --release --locked -p sessionforge-server
bin="$target/release/sessionforge-server"

data=$(mktemp -d)
out=$(mktemp)
cleanup() { [ -n "${pid:-}" ] && kill "$pid" 2>/dev/null; rm -rf "$data" "$out"; }
trap cleanup EXIT

SESSIONFORGE_TLS__ENABLED=false SESSIONFORGE_LOG__LEVEL=warn \
    "$bin" --data-dir "$data" --listen 127.0.0.1:0 >"$out" 2>/dev/null &
pid=$!
for _ in $(seq 200); do grep -q 'listening on' "$out" && break; sleep 0.05; done
base=$(sed -n 's/.*listening on \(http[^ ]*\).*/\1/p' "$out")
token=$(sed -n 's/.*setup?token=\([A-Za-z0-9]*\).*/\1/p' "$out" | head -1)
if [ -z "$base" ] || [ -z "$token" ]; then die "server did not start"; fi

jar=$(mktemp)
csrf=$(curl -sf -c "$jar" -H 'content-type: application/json' "$base/api/v1/setup" \
    -d "{\"token\":\"$token\",\"email\":\"bench@example.com\",\"password\":\"benchmark password\"}" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["csrf_token"])')
key=$(curl -sf -b "$jar" -H "x-csrf-token: $csrf" -H 'content-type: application/json' "$base/api/v1/api-keys" \
    -d '{"name":"bench","scopes":["read"]}' | python3 -c 'import json,sys; print(json.load(sys.stdin)["key"])')
rm -f "$jar"

run_wrk() { # label, extra args...
    local label=$1; shift
    local res
    res=$(wrk -t1 -c64 -d"${secs}s" --latency "$@")
    local rps p50 p99
    rps=$(awk '/Requests\/sec/ {print $2}' <<<"$res")
    p50=$(awk '$1 == "50%" {print $2}' <<<"$res")
    p99=$(awk '$1 == "99%" {print $2}' <<<"$res")
    printf '| %s | %s | %s | %s |\n' "$label" "$rps" "$p50" "$p99"
}

say "wrk: 1 thread, 64 connections, ${secs}s each"
echo "| endpoint | req/s | p50 | p99 |"
echo "|---|---|---|---|"
run_wrk "GET /api/v1/health" "$base/api/v1/health"
run_wrk "GET /api/v1/orgs (API key)" -H "Authorization: Bearer $key" "$base/api/v1/orgs"

kill "$pid"; wait "$pid" 2>/dev/null || true; pid=

say "start-to-healthy, idle RSS (5 starts each)"
python3 scripts/bench/startup.py "$bin" 5
python3 scripts/bench/startup.py "$bin" 5 --tls
say "binary size"
size=$(stat -c %s "$bin")
awk -v s="$size" 'BEGIN {printf "%s bytes (%.1f MB)\n", s, s/1048576}'
