#!/usr/bin/env bash
# License validation benchmark (issue: plans and licenses): `POST /api/v1/licenses/validate`
# with a real license key and an instance fingerprint, every answer signed (ed25519 over its
# exact bytes), against a release build on plain HTTP loopback, driven by wrk. Prints
# requests/s and the latency distribution of each run.
# Usage: scripts/bench-licenses.sh [runs, default 3] [seconds per run, default 10] [connections, default 16]
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib/common.sh
ensure_apt wrk curl python3

runs=${1:-3}
secs=${2:-10}
conns=${3:-16}
target=$(cargo_target_dir)
say "building release binary"
cargo build --release --locked -p sessionforge-server
bin="$target/release/sessionforge-server"

work=$(mktemp -d)
pid=
cleanup() {
    if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; fi
    rm -rf "$work"
}
trap cleanup EXIT

# Rate limits per address and per key would otherwise refuse a load test from one address.
SESSIONFORGE_TLS__ENABLED=false SESSIONFORGE_LOG__LEVEL=warn \
    SESSIONFORGE_RATE_LIMIT__TOKENS_PER_MINUTE=1000000000 \
    "$bin" --data-dir "$work/data" --listen 127.0.0.1:0 >"$work/out" 2>/dev/null &
pid=$!
for _ in $(seq 200); do grep -q 'listening on' "$work/out" && break; sleep 0.05; done
base=$(sed -n 's/.*listening on \(http[^ ]*\).*/\1/p' "$work/out")
[ -n "$base" ] || die "server did not start"
token=$(sed -n 's/.*setup?token=\([A-Za-z0-9_-]*\).*/\1/p' "$work/out" | head -n 1)

jar="$work/cookies"
curl -fsS -c "$jar" -H 'content-type: application/json' "$base/api/v1/setup" \
    -d "{\"token\":\"$token\",\"email\":\"bench@example.com\",\"password\":\"a long benchmark passphrase\"}" >/dev/null
csrf=$(curl -fsS -b "$jar" "$base/api/v1/auth/me" | python3 -c 'import json,sys; print(json.load(sys.stdin)["csrf_token"])')
key=$(curl -fsS -b "$jar" -H "x-csrf-token: $csrf" -H 'content-type: application/json' \
    "$base/api/v1/admin/licenses" -d '{"plan":"team","licensee":"Bench","max_activations":5}' |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["key"])')
curl -fsS -H 'content-type: application/json' "$base/api/v1/licenses/activate" \
    -d "{\"key\":\"$key\",\"fingerprint\":\"bench-instance\"}" | grep -q '"code":"VALID"' || die "activation failed"

cat >"$work/validate.lua" <<LUA
wrk.method = "POST"
wrk.headers["content-type"] = "application/json"
wrk.body = '{"key":"$key","fingerprint":"bench-instance","nonce":"bench-nonce"}'
LUA
# Every answer must be a signed VALID before we time them.
curl -fsS -D "$work/headers" -H 'content-type: application/json' "$base/api/v1/licenses/validate" \
    -d "{\"key\":\"$key\",\"fingerprint\":\"bench-instance\",\"nonce\":\"n\"}" | grep -q '"code":"VALID"' ||
    die "validation is not VALID"
grep -qi '^x-sessionforge-signature: kid=' "$work/headers" || die "the answer is not signed"

say "wrk: 2 threads, $conns connections, ${secs}s per run, $runs runs"
for run in $(seq "$runs"); do
    out=$(wrk -t2 -c"$conns" -d"${secs}s" --latency -s "$work/validate.lua" "$base/api/v1/licenses/validate")
    rps=$(awk '/^Requests\/sec/ { print $2 }' <<<"$out")
    p50=$(awk '$1 == "50%" { print $2 }' <<<"$out")
    p99=$(awk '$1 == "99%" { print $2 }' <<<"$out")
    non2xx=$(awk '/Non-2xx/ { print $NF }' <<<"$out")
    echo "run $run: ${rps} validations/s, p50 ${p50}, p99 ${p99}${non2xx:+, non-2xx: $non2xx}"
done
