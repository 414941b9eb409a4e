#!/usr/bin/env bash
# The README's test command. On a fresh Debian/Ubuntu machine with only Rust it installs what
# the checks need (idempotently), then runs formatting, lints and every test, and prints the
# test runner's summary. Exits non-zero if anything fails.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib/common.sh

# C toolchain for the bundled SQLite and aws-lc; pkg-config for -sys crates.
ensure_apt build-essential pkg-config ca-certificates

say "cargo fmt --check"
cargo fmt --all --check

say "cargo clippy --all-targets -- -D warnings"
cargo clippy --all-targets --locked -- -D warnings

say "building every binary (the end-to-end tests run the real server and agent)"
cargo build --workspace --bins --locked

say "tests"
if cargo nextest --version >/dev/null 2>&1; then
    cargo nextest run --locked --no-fail-fast
else
    warn "cargo-nextest not found; using cargo test"
    log=$(mktemp)
    status=0
    cargo test --locked --no-fail-fast 2>&1 | tee "$log" || status=$?
    # cargo test prints one result line per test binary; sum them into one summary.
    awk -v status="$status" '/^test result:/ { for (i = 1; i <= NF; i++) { if ($(i+1) ~ /^passed/) p += $i; if ($(i+1) ~ /^failed/) f += $i; if ($(i+1) ~ /^ignored/) g += $i } }
         END { printf "\nSummary: %d passed, %d failed, %d ignored\n", p, f, g; exit (f > 0 || status != 0) }' "$log"
fi
