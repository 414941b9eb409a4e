#!/usr/bin/env bash
# Download benchmark (issue: signed releases): a 100 MB artifact served by sessionforge-server
# through a signed link, against nginx (from Debian) serving the same file, both plain HTTP on
# loopback, measured in one run with the same load tool. Prints MB/s for each and the ratio.
# Usage: scripts/bench-downloads.sh [seconds-per-run, default 10] [connections, default 4]
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib/common.sh
ensure_apt nginx wrk curl python3

secs=${1:-10}
conns=${2:-4}
target=$(cargo_target_dir)
say "building release binary"
cargo build --release --locked -p sessionforge-server
bin="$target/release/sessionforge-server"

work=$(mktemp -d)
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    rm -rf "$work"
}
trap cleanup EXIT

head -c 100000000 /dev/urandom >"$work/artifact.bin"

# nginx: one site serving the file, as a package install would (sendfile on, auto workers).
mkdir -p "$work/nginx/logs" "$work/www"
cp "$work/artifact.bin" "$work/www/artifact.bin"
# nginx's workers run as an unprivileged user: let them read the file.
chmod 755 "$work" "$work/www"
chmod 644 "$work/www/artifact.bin"
nginx_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat >"$work/nginx/nginx.conf" <<EOF
worker_processes auto;
pid $work/nginx/nginx.pid;
error_log $work/nginx/logs/error.log;
events { worker_connections 1024; }
http {
    access_log off;
    sendfile on;
    tcp_nopush on;
    server {
        listen 127.0.0.1:$nginx_port;
        root $work/www;
    }
}
EOF
nginx -p "$work/nginx" -c "$work/nginx/nginx.conf" -g 'daemon off;' &
pids+=($!)

# sessionforge-server: publish the same file, take the signed link from the manifest.
SESSIONFORGE_TLS__ENABLED=false SESSIONFORGE_LOG__LEVEL=warn \
    SESSIONFORGE_RATE_LIMIT__DOWNLOADS_PER_IP_PER_MINUTE=100000000 \
    "$bin" --data-dir "$work/data" --listen 127.0.0.1:0 >"$work/out" 2>/dev/null &
pids+=($!)
for _ in $(seq 200); do grep -q 'listening on' "$work/out" && break; sleep 0.05; done
base=$(sed -n 's/.*listening on \(http[^ ]*\).*/\1/p' "$work/out")
[ -n "$base" ] || die "server did not start"
"$bin" --data-dir "$work/data" --log-level warn release publish --version 1.0.0 \
    --target x86_64-unknown-linux-musl "$work/artifact.bin" >/dev/null
url=$(curl -fsS "$base/api/v1/releases/latest?target=x86_64-unknown-linux-musl" | sed -n 's/^url=//p')
url=${url/localhost:/127.0.0.1:}  # the server listens on 127.0.0.1 only
for _ in $(seq 100); do curl -fsS -o /dev/null "http://127.0.0.1:$nginx_port/artifact.bin" && break; sleep 0.05; done

# Both must serve the same bytes before we time them.
a=$(curl -fsS "$url" | sha256sum | cut -d ' ' -f 1)
b=$(curl -fsS "http://127.0.0.1:$nginx_port/artifact.bin" | sha256sum | cut -d ' ' -f 1)
[ "$a" = "$b" ] || die "the two servers serve different bytes"

rate() { # URL -> MB/s (decimal) over the run
    wrk -t2 -c"$conns" -d"${secs}s" "$1" | awk '
        /Transfer\/sec/ { v = $2; u = substr(v, length(v) - 1); n = substr(v, 1, length(v) - 2)
            f = (u == "GB") ? 1073741824 : (u == "MB") ? 1048576 : (u == "KB") ? 1024 : 1
            printf "%.0f\n", n * f / 1000000 }'
}
say "wrk: 2 threads, $conns connections, ${secs}s each, 100 MB file"
ours=$(rate "$url")
theirs=$(rate "http://127.0.0.1:$nginx_port/artifact.bin")
echo "sessionforge-server: $ours MB/s"
echo "nginx:               $theirs MB/s"
awk -v a="$ours" -v b="$theirs" 'BEGIN { printf "ratio: %.2f x nginx\n", a / b }'

say "single stream (curl, one download each, best of 3)"
best() {
    local best=0 t
    for _ in 1 2 3; do
        t=$(curl -fsS -o /dev/null -w '%{speed_download}' "$1")
        best=$(awk -v a="$t" -v b="$best" 'BEGIN { print (a > b) ? a : b }')
    done
    awk -v s="$best" 'BEGIN { printf "%.0f\n", s / 1000000 }'
}
o=$(best "$url")
n=$(best "http://127.0.0.1:$nginx_port/artifact.bin")
echo "sessionforge-server: $o MB/s, nginx: $n MB/s"
awk -v a="$o" -v b="$n" 'BEGIN { printf "ratio: %.2f x nginx\n", a / b }'
