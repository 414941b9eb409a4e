#!/usr/bin/env bash
# Download benchmark (issue: signed releases; issue 12): a 100 MB artifact served by
# sessionforge-server through a signed link, against nginx (from Debian) serving the same file,
# over plain HTTP and over TLS (the same certificate) on loopback, alternating in one run with
# the same load tool. Prints MB/s for each, the ratios, and medians with their spread.
# Usage: scripts/bench-downloads.sh [seconds-per-run, default 10] [connections, default 4] [runs, default 3]
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib/common.sh
ensure_apt nginx wrk curl python3

secs=${1:-10}
conns=${2:-4}
runs=${3:-3}
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

# Two sessionforge-servers with the same file published: plain HTTP (sent with sendfile) and
# TLS (its generated certificate). nginx serves the same file over both, with that same
# certificate, so that TLS is like for like.
start_server() { # name, TLS enabled -> prints the base URL
    local dir="$work/$1"
    SESSIONFORGE_TLS__ENABLED=$2 SESSIONFORGE_LOG__LEVEL=warn \
        SESSIONFORGE_RATE_LIMIT__DOWNLOADS_PER_IP_PER_MINUTE=100000000 \
        "$bin" --data-dir "$dir" --listen 127.0.0.1:0 >"$work/$1.out" 2>/dev/null &
    pids+=($!)
    for _ in $(seq 200); do grep -q 'listening on' "$work/$1.out" && break; sleep 0.05; done
    local base
    base=$(sed -n 's/.*listening on \(http[^ ]*\).*/\1/p' "$work/$1.out")
    [ -n "$base" ] || die "server $1 did not start"
    "$bin" --data-dir "$dir" --log-level warn release publish --version 1.0.0 \
        --target x86_64-unknown-linux-musl "$work/artifact.bin" >/dev/null
    local url
    url=$(curl -kfsS "$base/api/v1/releases/latest?target=x86_64-unknown-linux-musl" | sed -n 's/^url=//p')
    echo "${url/localhost:/127.0.0.1:}"  # the server listens on 127.0.0.1 only
}
plain_url=$(start_server plain false)
tls_url=$(start_server tls true)

# nginx: one site serving the file, as a package install would (sendfile on, auto workers).
mkdir -p "$work/nginx/logs" "$work/www"
cp "$work/artifact.bin" "$work/www/artifact.bin"
# nginx's workers run as an unprivileged user: let them read the file.
chmod 755 "$work" "$work/www"
chmod 644 "$work/www/artifact.bin"
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
nginx_port=$(free_port)
nginx_tls_port=$(free_port)
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
        listen 127.0.0.1:$nginx_tls_port ssl;
        ssl_certificate $work/tls/tls/cert.pem;
        ssl_certificate_key $work/tls/tls/key.pem;
        root $work/www;
    }
}
EOF
nginx -p "$work/nginx" -c "$work/nginx/nginx.conf" -g 'daemon off;' &
pids+=($!)
nginx_url="http://127.0.0.1:$nginx_port/artifact.bin"
nginx_tls_url="https://127.0.0.1:$nginx_tls_port/artifact.bin"
for _ in $(seq 100); do curl -fsS -o /dev/null "$nginx_url" && break; sleep 0.05; done

# All four must serve the same bytes before we time them.
want=$(sha256sum <"$work/artifact.bin" | cut -d ' ' -f 1)
for u in "$plain_url" "$tls_url" "$nginx_url" "$nginx_tls_url"; do
    [ "$(curl -kfsS "$u" | sha256sum | cut -d ' ' -f 1)" = "$want" ] || die "$u serves different bytes"
done

rate() { # URL -> MB/s (decimal) over the run
    wrk -t2 -c"$conns" -d"${secs}s" "$1" | awk '
        /Transfer\/sec/ { v = $2; u = substr(v, length(v) - 1); n = substr(v, 1, length(v) - 2)
            f = (u == "GB") ? 1073741824 : (u == "MB") ? 1048576 : (u == "KB") ? 1024 : 1
            printf "%.0f\n", n * f / 1000000 }'
}
median() { sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
spread() { sort -n | awk 'NR == 1 { lo = $1 } { hi = $1 } END { print lo "-" hi }'; }

compare() { # title, ours URL, nginx URL
    say "$1: wrk, 2 threads, $conns connections, ${secs}s each, 100 MB file, $runs runs (alternating)"
    local o n ratios=() os=() ns=()
    for i in $(seq "$runs"); do
        o=$(rate "$2")
        n=$(rate "$3")
        os+=("$o")
        ns+=("$n")
        ratios+=("$(awk -v a="$o" -v b="$n" 'BEGIN { printf "%.2f", a / b }')")
        echo "run $i: sessionforge-server $o MB/s, nginx $n MB/s, ratio ${ratios[-1]}"
    done
    echo "median: sessionforge-server $(printf '%s\n' "${os[@]}" | median) MB/s ($(printf '%s\n' "${os[@]}" | spread))," \
        "nginx $(printf '%s\n' "${ns[@]}" | median) MB/s ($(printf '%s\n' "${ns[@]}" | spread))," \
        "ratio $(printf '%s\n' "${ratios[@]}" | median) ($(printf '%s\n' "${ratios[@]}" | spread))"
}
compare "plain HTTP" "$plain_url" "$nginx_url"
compare "TLS" "$tls_url" "$nginx_tls_url"

say "single stream (curl, one download each, best of 3)"
best() {
    local best=0 t
    for _ in 1 2 3; do
        t=$(curl -kfsS -o /dev/null -w '%{speed_download}' "$1")
        best=$(awk -v a="$t" -v b="$best" 'BEGIN { print (a > b) ? a : b }')
    done
    awk -v s="$best" 'BEGIN { printf "%.0f\n", s / 1000000 }'
}
single() { # title, ours URL, nginx URL
    local o n
    o=$(best "$2")
    n=$(best "$3")
    echo "$1: sessionforge-server $o MB/s, nginx $n MB/s, ratio $(awk -v a="$o" -v b="$n" 'BEGIN { printf "%.2f", a / b }')"
}
single "plain HTTP" "$plain_url" "$nginx_url"
single "TLS" "$tls_url" "$nginx_tls_url"
