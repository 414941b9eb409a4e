# Shared helpers for the scripts in scripts/: logging, and idempotent installs of what the
# checks need. Source it; do not run it.

say() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }
warn() { printf 'warning: %s\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# Runs a command as root: directly when we are root, through sudo otherwise.
as_root() {
    if [ "$(id -u)" -eq 0 ]; then "$@"; elif command -v sudo >/dev/null 2>&1; then sudo "$@"; else
        die "need root (or sudo) to run: $*"
    fi
}

# Installs Debian/Ubuntu packages that are not installed yet. A no-op when all are present.
ensure_apt() {
    local missing=()
    for pkg in "$@"; do
        dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    command -v apt-get >/dev/null 2>&1 || die "missing packages (${missing[*]}) and no apt-get to install them"
    say "installing ${missing[*]}"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
}

# Node.js 18 or newer with npm, from the distribution unless one is already installed.
ensure_node() {
    command -v node >/dev/null 2>&1 || ensure_apt nodejs
    command -v npm >/dev/null 2>&1 || ensure_apt npm
    local major
    major=$(node -p 'process.versions.node.split(".")[0]')
    [ "$major" -ge 18 ] || die "Node.js 18 or newer is needed (found $(node --version))"
}

# `npm ci` in DIR, skipped when node_modules already matches its package-lock.json.
ensure_npm_deps() {
    local dir=$1 stamp=$1/node_modules/.sessionforge-lock
    if [ -f "$stamp" ] && cmp -s "$dir/package-lock.json" "$stamp"; then
        return 0
    fi
    say "installing npm packages in $dir"
    (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error)
    cp "$dir/package-lock.json" "$stamp"
}

# A Python virtualenv under the user's cache dir holding the packages pinned in a requirements
# file, every dependency included. A no-op (no network) while the venv matches that file;
# rebuilt from PyPI when it changes. Usage: ensure_venv NAME REQUIREMENTS EXECUTABLE.
ensure_venv() {
    local name=$1 requirements=$2 executable=$3
    local venv="${XDG_CACHE_HOME:-$HOME/.cache}/sessionforge/$name"
    if cmp -s "$requirements" "$venv/.sessionforge-requirements" && [ -x "$venv/bin/$executable" ]; then
        return 0
    fi
    command -v python3 >/dev/null 2>&1 || ensure_apt python3
    rm -rf "$venv"
    # Debian ships venv's pip bootstrap separately.
    if ! python3 -m venv "$venv" 2>/dev/null; then
        rm -rf "$venv"
        ensure_apt python3-venv
        python3 -m venv "$venv"
    fi
    say "installing $name into $venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$requirements"
    cp "$requirements" "$venv/.sessionforge-requirements"
}

# Schemathesis (scripts/api-fuzz.sh, which runs it from SCHEMATHESIS_VENV), pinned in
# scripts/schemathesis-requirements.txt.
# shellcheck disable=SC2034
SCHEMATHESIS_VENV="${XDG_CACHE_HOME:-$HOME/.cache}/sessionforge/schemathesis"
ensure_schemathesis() {
    ensure_venv schemathesis scripts/schemathesis-requirements.txt st
}

# aiosmtpd, the real SMTP server the server's mail tests start (pinned in
# scripts/smtp-requirements.txt). The tests find it through SF_TEST_AIOSMTPD.
ensure_smtp_server() {
    ensure_venv aiosmtpd scripts/smtp-requirements.txt aiosmtpd
    export SF_TEST_AIOSMTPD="${XDG_CACHE_HOME:-$HOME/.cache}/sessionforge/aiosmtpd/bin/aiosmtpd"
}

# cargo-fuzz, the cargo subcommand that builds and runs the fuzz targets in fuzz/, from
# crates.io unless it is installed. Built in a temporary dir (not CARGO_TARGET_DIR) that cargo
# removes afterwards.
CARGO_FUZZ_VERSION=0.13.2
ensure_cargo_fuzz() {
    command -v cargo-fuzz >/dev/null 2>&1 && return 0
    say "installing cargo-fuzz $CARGO_FUZZ_VERSION"
    env -u CARGO_TARGET_DIR cargo install --locked cargo-fuzz --version "$CARGO_FUZZ_VERSION"
}

# Where cargo puts its builds.
cargo_target_dir() {
    if [ -n "${CARGO_TARGET_DIR:-}" ]; then
        printf '%s\n' "$CARGO_TARGET_DIR"
    else
        cargo metadata --format-version 1 --no-deps | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>console.log(JSON.parse(s).target_directory))'
    fi
}
