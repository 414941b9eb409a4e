#!/usr/bin/env bash
# Generated API tests: Schemathesis (pinned, from PyPI, in a venv under the user's cache dir)
# against a live sessionforge-server, over the whole OpenAPI spec, with an admin API key. It
# fails on any 5xx, any response that does not match the spec (status, content type, headers,
# body schema), any request the spec forbids that the server accepts, any request the spec
# allows that the server refuses, and any 405 without an Allow header. The run is bounded
# (examples per operation, a hard time cap) and deterministic, so CI sends the same requests
# every time.
# The report (JUnit XML, and a cassette of every request) goes to test-artifacts/schemathesis/.
#
# The server and agent binaries come from SF_BIN_DIR when set (scripts/test.sh has built them),
# else from cargo's debug dir after a `cargo build` (a no-op when they are fresh).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib/common.sh

# Hard cap on Schemathesis's running time, in seconds: a run takes under two minutes (the examples
# per operation and the other bounds are in scripts/schemathesis.toml); a hang fails instead
# of blocking CI.
MAX_TIME=300

repo=$(pwd)
report_dir="$repo/test-artifacts/schemathesis"

command -v curl >/dev/null 2>&1 || ensure_apt curl ca-certificates

# --- Schemathesis, pinned with everything it pulls in (scripts/lib/common.sh) -------------------
ensure_schemathesis
venv=$SCHEMATHESIS_VENV
schemathesis_version=$("$venv/bin/st" --version | sed 's/.*version //')

# --- The binaries ------------------------------------------------------------------------------
if [ -n "${SF_BIN_DIR:-}" ]; then
    bin_dir=$SF_BIN_DIR
else
    cargo build --workspace --bin sessionforge-server --bin sessionforge-agent --locked
    bin_dir="$(cargo_target_dir)/debug"
fi
server_bin="$bin_dir/sessionforge-server"
agent_bin="$bin_dir/sessionforge-agent"
[ -x "$server_bin" ] || die "$server_bin is missing"
[ -x "$agent_bin" ] || die "$agent_bin is missing"

# --- A server of our own -------------------------------------------------------------------------
work=$(mktemp -d "${TMPDIR:-/tmp}/sf-api-fuzz.XXXXXX")
server_pid=""
agent_pid=""
cleanup() {
    local pid
    for pid in "$agent_pid" "$server_pid"; do
        if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
            kill "$pid" 2>/dev/null || true
            wait "$pid" 2>/dev/null || true
        fi
    done
    rm -rf "$work"
}
trap cleanup EXIT

# Plain HTTP on loopback, and limits a generator would trip raised for this run only (the
# defaults stay as they are): thousands of requests a minute from one address and one account.
mkdir -p "$work/data"
(
    cd "$work" # no ./sessionforge.toml of the caller's gets picked up
    exec env SESSIONFORGE_TLS__ENABLED=false \
        SESSIONFORGE_LOG__LEVEL=warn \
        SESSIONFORGE_RATE_LIMIT__LOGIN_PER_IP_PER_MINUTE=1000000 \
        SESSIONFORGE_RATE_LIMIT__LOGIN_PER_ACCOUNT_PER_MINUTE=1000000 \
        SESSIONFORGE_RATE_LIMIT__LOGIN_PER_ACCOUNT_AND_IP_PER_MINUTE=1000000 \
        SESSIONFORGE_RATE_LIMIT__TOKENS_PER_MINUTE=1000000 \
        SESSIONFORGE_RATE_LIMIT__DOWNLOADS_PER_IP_PER_MINUTE=1000000 \
        SESSIONFORGE_RATE_LIMIT__MAIL_LINKS_PER_MINUTE=1000000 \
        SESSIONFORGE_EMAIL__SMTP_URL=smtp://127.0.0.1:9 \
        SESSIONFORGE_LIMITS__API_KEYS_PER_USER=100000 \
        SESSIONFORGE_LIMITS__ORGS_PER_USER=100000 \
        "$server_bin" --data-dir "$work/data" --listen 127.0.0.1:0 >"$work/server.out" 2>"$work/server.log"
) &
server_pid=$!

base=""
for _ in $(seq 1 300); do
    base=$(sed -n 's/^ *listening on \(http:\/\/127\.0\.0\.1:[0-9]*\).*/\1/p' "$work/server.out" | head -n 1)
    [ -n "$base" ] && break
    kill -0 "$server_pid" 2>/dev/null || { cat "$work/server.log" >&2; die "the server exited before listening"; }
    sleep 0.1
done
[ -n "$base" ] || die "the server printed no 'listening on' line"
setup_token=$(sed -n 's/.*setup?token=\([A-Za-z0-9_-]*\).*/\1/p' "$work/server.out" | head -n 1)
[ -n "$setup_token" ] || die "the server printed no setup token"
say "server at $base (data in $work/data)"

# --- Seed data, so that path parameters have real ids to hit ------------------------------------
# JSON field of a response body.
field() {
    "$venv/bin/python" -c '
import json, sys
value = json.load(sys.stdin)
for key in sys.argv[1].split("."):
    value = value[key]
print(value)' "$1"
}
# curl that fails on HTTP errors and shows the body when it does.
call() {
    local out status
    out=$(curl -sS -w '\n%{http_code}' "$@")
    status=${out##*$'\n'}
    out=${out%$'\n'*}
    case $status in 2??) printf '%s' "$out" ;; *) printf 'seeding: %s %s\n' "$status" "$out" >&2; return 1 ;; esac
}
json=(-H 'content-type: application/json')
password="correct horse battery staple"

setup=$(curl -sS -D "$work/setup.headers" "${json[@]}" "$base/api/v1/setup" \
    -d "{\"token\":\"$setup_token\",\"email\":\"admin@example.com\",\"password\":\"$password\",\"display_name\":\"Admin\"}")
cookie=$(sed -n 's/^[Ss]et-[Cc]ookie: \(sf_session=[^;]*\).*/\1/p' "$work/setup.headers" | head -n 1)
csrf=$(printf '%s' "$setup" | field csrf_token)
[ -n "$cookie" ] || die "setup gave no sign-in cookie: $setup"
browser=(-H "cookie: $cookie" -H "x-csrf-token: $csrf")

key=$(call "${json[@]}" "${browser[@]}" "$base/api/v1/api-keys" -d '{"name":"fuzz","scopes":["admin"]}' | field key)
# A second key for the generator to revoke: revoking the one it runs with would leave it 401s.
spare_key_id=$(call "${json[@]}" "${browser[@]}" "$base/api/v1/api-keys" -d '{"name":"spare","scopes":["read"]}' | field api_key.id)
admin=(-H "authorization: Bearer $key")

org_id=$(call "${json[@]}" "${admin[@]}" "$base/api/v1/orgs" -d '{"name":"Fuzz team"}' | field id)
member_id=$(call "${json[@]}" "${admin[@]}" "$base/api/v1/admin/users" \
    -d "{\"email\":\"member@example.com\",\"password\":\"$password\"}" | field id)
# The member joins by invitation: the link is returned once to the admin who invites.
accept_url=$(call "${json[@]}" "${admin[@]}" "$base/api/v1/orgs/$org_id/invitations" \
    -d '{"email":"member@example.com","role":"member"}' | field accept_url)
member_login=$(curl -sS -D "$work/member.headers" "${json[@]}" "$base/api/v1/auth/login" \
    -d "{\"email\":\"member@example.com\",\"password\":\"$password\"}")
member_cookie=$(sed -n 's/^[Ss]et-[Cc]ookie: \(sf_session=[^;]*\).*/\1/p' "$work/member.headers" | head -n 1)
member_csrf=$(printf '%s' "$member_login" | field csrf_token)
call "${json[@]}" -H "cookie: $member_cookie" -H "x-csrf-token: $member_csrf" "$base/api/v1/invitations/accept" \
    -d "{\"token\":\"${accept_url#*#token=}\"}" >/dev/null
# Only `echo` may be started remotely: the generator cannot start anything with an effect.
call -X PUT "${json[@]}" "${admin[@]}" "$base/api/v1/orgs/$org_id/allowed-commands" \
    -d '{"commands":["echo"]}' >/dev/null

# A token for the generator to revoke, and a spare machine for it to sign out (the one below
# must stay, so that sessions can start).
token_id=$(call "${json[@]}" "${admin[@]}" "$base/api/v1/orgs/$org_id/enrollment-tokens" -d '{"note":"spare"}' |
    field enrollment_token.id)
spare_token=$(call "${json[@]}" "${admin[@]}" "$base/api/v1/orgs/$org_id/enrollment-tokens" -d '{}' | field token)
machine_info='{"hostname":"spare","os":"linux","os_version":"6","arch":"x86_64","cpus":1,"memory_bytes":1,"agent_version":"0.0.0"}'
spare_machine_id=$(call "${json[@]}" "$base/api/v1/agent/enroll" -d "{\"token\":\"$spare_token\",\"machine\":$machine_info}" |
    field machine_id)

# A machine: the real agent enrolls with a token and stays connected, so sessions can start.
enroll_token=$(call "${json[@]}" "${admin[@]}" "$base/api/v1/orgs/$org_id/enrollment-tokens" -d '{}' | field token)
agent_env=(env SESSIONFORGE_CONFIG_DIR="$work/agent" SESSIONFORGE_CREDENTIAL_STORE=file SESSIONFORGE_LOG=warn)
"${agent_env[@]}" "$agent_bin" enroll --server "$base" --token "$enroll_token" >"$work/agent.log" 2>&1 ||
    { cat "$work/agent.log" >&2; die "the agent could not enroll"; }
machine_id=$(sed -n 's/^machine_id = "\(.*\)"/\1/p' "$work/agent/agent.toml")
"${agent_env[@]}" "$agent_bin" run >>"$work/agent.log" 2>&1 &
agent_pid=$!
for _ in $(seq 1 100); do
    online=$(call "${admin[@]}" "$base/api/v1/orgs/$org_id/machines/$machine_id" | field online)
    [ "$online" = True ] && break
    sleep 0.2
done
[ "$online" = True ] || { cat "$work/agent.log" >&2; die "the agent did not come online"; }
session_id=$(call "${json[@]}" "${admin[@]}" "$base/api/v1/orgs/$org_id/sessions" \
    -d "{\"machine_id\":\"$machine_id\",\"command\":\"echo\",\"args\":[\"hello from the fuzzer\"]}" | field id)

# Releases: one for manifests and signed downloads, a spare one to yank.
publish() {
    printf 'not really an agent %s\n' "$1" >"$work/artifact"
    call "${admin[@]}" -H 'content-type: application/octet-stream' --data-binary "@$work/artifact" \
        "$base/api/v1/releases?version=$1&target=$2&channel=stable" | field id
}
release_id=$(publish 1.0.0 x86_64-unknown-linux-gnu)
spare_release_id=$(publish 1.0.0 aarch64-unknown-linux-gnu)

# A live signed download link for it.
link=$(call "$base/api/v1/releases/latest?target=x86_64-unknown-linux-gnu&channel=stable" | sed -n 's/^url=//p')
query_param() { printf '%s\n' "$link" | sed -n "s/.*[?&]$1=\([^&]*\).*/\1/p"; }
link_exp=$(query_param exp)
link_kid=$(query_param kid)
link_sig=$(query_param sig)
[ -n "$link_sig" ] || die "seeding: no signed link in $link"

# --- Schemathesis ------------------------------------------------------------------------------
say "schemathesis $schemathesis_version: every operation of the spec, deterministic inputs"
rm -rf "$report_dir"
mkdir -p "$report_dir"
started=$(date +%s)
status=0
SF_API_KEY=$key SF_ORG_ID=$org_id SF_MEMBER_ID=$member_id SF_SPARE_KEY_ID=$spare_key_id \
    SF_TOKEN_ID=$token_id SF_MACHINE_ID=$machine_id SF_SPARE_MACHINE_ID=$spare_machine_id \
    SF_SESSION_ID=$session_id SF_RELEASE_ID=$release_id SF_SPARE_RELEASE_ID=$spare_release_id \
    SF_LINK_EXP=$link_exp SF_LINK_KID=$link_kid SF_LINK_SIG=$link_sig \
    timeout "$MAX_TIME" "$venv/bin/st" --config-file "$repo/scripts/schemathesis.toml" run "$base/api/openapi.json" \
    --workers 2 --no-color \
    --report junit,vcr --report-junit-path "$report_dir/junit.xml" --report-vcr-path "$report_dir/cassette.yaml" ||
    status=$?
echo "schemathesis took $(($(date +%s) - started)) s"
cp "$work/server.log" "$report_dir/server.log"
if ! kill -0 "$server_pid" 2>/dev/null; then
    die "the server died during the run (see $report_dir/server.log)"
fi
[ "$status" -eq 0 ] || die "schemathesis found problems (exit $status); report in $report_dir"
say "schemathesis: no failures"
