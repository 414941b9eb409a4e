#!/usr/bin/env bash
# Relay benchmark (issue: live sessions). Builds the release server and load generator, then runs
# every scenario of `sessionforge-loadgen` against a fresh server on loopback, one after the
# other, and prints each JSON report. Figures go to BENCHMARKS.md; nothing here is a pass/fail
# test. Usage: scripts/bench-relay.sh [seconds-per-streaming-run, default 15]
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib/common.sh

secs=${1:-15}
target=$(cargo_target_dir)
say "building release binaries"
cargo build --release --locked -p sessionforge-server -p sessionforge-agent -p sessionforge-loadgen
lg="$target/release/sessionforge-loadgen"

# 10,000 sockets on each side need more than the usual 1024 descriptors.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

run() { # title, loadgen arguments...
    say "$1"; shift
    "$lg" "$@"
}
run "100 agents, one viewer each, 1 KiB frames, as fast as possible" throughput --agents 100 --frame-bytes 1024 --seconds "$secs"
run "one session, 16 KiB frames, as fast as possible" throughput --agents 1 --frame-bytes 16384 --seconds "$secs"
run "1,000 idle + 100 active sessions at 50 frames/s: latency" latency --idle 1000 --active 100 --rate 50 --seconds "$secs"
run "10,000 idle agent connections from 8 source addresses" idle --connections 10000 --source-ips 8
run "one session at 10 MB/s, 3 viewers, one paused for 60 s" paused --mbps 10 --viewers 3 --seconds 60 --pause-one
run "control: the same with no viewer paused" paused --mbps 10 --viewers 3 --seconds 60
run "200 MB through a real agent and PTY, idle" pty --mb 200
run "200 MB through a real agent and PTY, one core busy" pty --mb 200 --cpu-hog
