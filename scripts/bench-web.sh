#!/usr/bin/env bash
# Dashboard benchmark (issue: web dashboard): the bundle sizes (gzipped, the app without xterm.js
# and the terminal bundle with it), then headless Chromium against a release-built server and
# agent on loopback. Prints one JSON line per scenario (a cold load of the sessions list; opening
# 10 MB of stored output; a session printing 5 MB/s). Figures go to BENCHMARKS.md; nothing here
# is pass/fail.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib/common.sh
ensure_apt chromium
ensure_node
ensure_npm_deps server/web
cargo build --release --locked -p sessionforge-server -p sessionforge-agent
cd server/web
node build.mjs --sizes
SF_BIN_DIR="$(cd ../.. && cargo_target_dir)/release" npx --no-install playwright test -c bench/playwright.config.ts --reporter=line
