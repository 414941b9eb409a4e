#!/usr/bin/env bash
# Footprint benchmark (issue: tray app): idle RSS and CPU over a window (60 s by default) of the
# headless agent (`sessionforge-agent run`) and of the tray app, each enrolled with a local
# server and connected with no sessions, plus the release binary sizes. Release builds; the tray
# runs on a virtual display (Xvfb) with a private D-Bus session. RSS and CPU cover the process
# and its children. Figures go to BENCHMARKS.md; nothing here is a pass/fail test.
# Usage: scripts/bench-footprint.sh [seconds, default 60]
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib/common.sh
ensure_apt curl python3 xvfb xauth dbus libwebkit2gtk-4.1-dev libayatana-appindicator3-dev librsvg2-dev

secs=${1:-60}
target=$(cargo_target_dir)
say "building release binaries"
cargo build --release --locked --workspace --bin sessionforge-server --bin sessionforge-agent --bin sessionforge-tray
server="$target/release/sessionforge-server"
agent="$target/release/sessionforge-agent"
tray="$target/release/sessionforge-tray"

work=$(mktemp -d)
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT
for v in $(env | sed -n 's/^\(SESSIONFORGE_[A-Z_]*\)=.*/\1/p'); do unset "$v"; done

SESSIONFORGE_TLS__ENABLED=false SESSIONFORGE_LOG__LEVEL=warn \
    "$server" --data-dir "$work/data" --listen 127.0.0.1:0 >"$work/server.out" 2>/dev/null &
pids+=($!)
for _ in $(seq 200); do grep -q 'setup?token=' "$work/server.out" && break; sleep 0.05; done
base=$(sed -n 's/.*listening on \(http[^ ]*\).*/\1/p' "$work/server.out")
setup=$(sed -n 's/.*setup?token=\([A-Za-z0-9]*\).*/\1/p' "$work/server.out")
if [ -z "$base" ] || [ -z "$setup" ]; then die "server did not start"; fi
base=${base/localhost:/127.0.0.1:}

json() { python3 -c "import json,sys; print(json.load(sys.stdin)$1)"; }
csrf=$(curl -fsS -c "$work/jar" -H 'content-type: application/json' \
    -d "{\"token\":\"$setup\",\"email\":\"bench@example.com\",\"password\":\"bench password 12345\"}" \
    "$base/api/v1/setup" | json "['csrf_token']")
org=$(curl -fsS -b "$work/jar" "$base/api/v1/auth/me" | json "['orgs'][0]['id']")
token() {
    curl -fsS -b "$work/jar" -H "x-csrf-token: $csrf" -H 'content-type: application/json' -d '{}' \
        "$base/api/v1/orgs/$org/enrollment-tokens" | json "['token']"
}
online_count() {
    curl -fsS -b "$work/jar" "$base/api/v1/orgs/$org/machines" |
        python3 -c 'import json,sys; d=json.load(sys.stdin); d=d.get("machines", d) if isinstance(d, dict) else d; print(sum(1 for m in d if m.get("online")))'
}
wait_online() { # count
    for _ in $(seq 600); do [ "$(online_count)" -ge "$1" ] && return 0; sleep 0.1; done
    die "no machine came online"
}

# RSS (sum over the process tree, sampled every second: mean and max) and CPU share over $secs.
measure() { # pid
    python3 - "$1" "$secs" <<'PY'
import os, sys, time
root, secs = int(sys.argv[1]), float(sys.argv[2])
tick = os.sysconf("SC_CLK_TCK")
def tree():
    kids = {}
    for p in os.listdir("/proc"):
        if p.isdigit():
            try:
                f = open(f"/proc/{p}/stat").read().rsplit(")", 1)[1].split()
                kids.setdefault(int(f[1]), []).append(int(p))
            except OSError:
                pass
    out, todo = [], [root]
    while todo:
        p = todo.pop(); out.append(p); todo += kids.get(p, [])
    return out
def cpu(ps):
    t = 0
    for p in ps:
        try:
            f = open(f"/proc/{p}/stat").read().rsplit(")", 1)[1].split()
            t += int(f[11]) + int(f[12])
        except OSError:
            pass
    return t
def rss(ps):
    kb = 0
    for p in ps:
        try:
            for line in open(f"/proc/{p}/status"):
                if line.startswith("VmRSS:"):
                    kb += int(line.split()[1])
        except OSError:
            pass
    return kb / 1024
ps = tree(); c0 = cpu(ps); t0 = time.monotonic(); samples = []
while time.monotonic() - t0 < secs:
    samples.append(rss(tree())); time.sleep(1)
ps = tree(); used = (cpu(ps) - c0) / tick; wall = time.monotonic() - t0
print(f"processes {len(ps)}, RSS mean {sum(samples)/len(samples):.1f} MiB, max {max(samples):.1f} MiB, "
      f"CPU {100*used/wall:.3f}% of one core ({used:.2f} s over {wall:.0f} s)")
PY
}

say "headless agent: enroll, run, wait until online, then ${secs}s idle"
SESSIONFORGE_CONFIG_DIR="$work/agent" "$agent" enroll --server "$base" --token "$(token)" \
    --credential-store file >/dev/null
SESSIONFORGE_CONFIG_DIR="$work/agent" SESSIONFORGE_LOG=warn "$agent" run >/dev/null 2>&1 &
agent_pid=$!
pids+=("$agent_pid")
wait_online 1
measure "$agent_pid"
kill "$agent_pid"

say "tray app: enroll through its flags, wait until online, then ${secs}s idle (Xvfb, no window open)"
SESSIONFORGE_CONFIG_DIR="$work/tray" SESSIONFORGE_CREDENTIAL_STORE=file SESSIONFORGE_LOG=warn \
    xvfb-run -a dbus-run-session -- "$tray" --server "$base" --token "$(token)" >/dev/null 2>&1 &
pids+=($!)
for _ in $(seq 600); do
    tray_pid=$(pgrep -f -n "^$tray " || true)
    [ -n "$tray_pid" ] && break
    sleep 0.1
done
[ -n "$tray_pid" ] || die "the tray did not start"
wait_online 1
measure "$tray_pid"
kill "$tray_pid"

say "release binary sizes (stripped)"
for f in "$agent" "$tray" "$server"; do
    printf '%-24s %6.1f MiB\n' "$(basename "$f")" "$(stat -c %s "$f" | awk '{ print $1 / 1048576 }')"
done
