#!/bin/sh
# SessionForge agent installer for Linux and macOS (x86_64 and aarch64).
#
#   curl -fsSL https://YOUR-SERVER/install.sh | sh -s -- --token sfe_...
#
# Downloads the newest agent build for this machine from the SessionForge server that served
# this script, checks its SHA-256 (and refuses to install when it does not match or cannot be
# checked), installs it, enrolls this machine with the token, and registers a user service
# (systemd --user or launchd) that keeps the agent running. Running it again upgrades in place.
# Works in any POSIX sh (dash, busybox, bash). Run with --help for the options.
set -eu

# Filled in by the server when it serves this script.
SERVER="__SESSIONFORGE_SERVER__"
PIN="__SESSIONFORGE_PIN__"
FINGERPRINT="__SESSIONFORGE_FINGERPRINT__"

BIN_NAME="sessionforge-agent"
SERVICE_NAME="sessionforge-agent"
LAUNCHD_LABEL="dev.sessionforge.agent"

say() { printf '%s\n' "sessionforge: $*"; }
warn() { printf '%s\n' "sessionforge: warning: $*" >&2; }
die() {
	printf '%s\n' "sessionforge: error: $*" >&2
	exit 1
}

usage() {
	cat <<EOF
Install the SessionForge agent and connect this machine to $SERVER.

Usage: sh install.sh [options]

  --token TOKEN    one-time enrollment token (or SESSIONFORGE_TOKEN)
  --dir DIR        install directory (or SESSIONFORGE_INSTALL_DIR; default ~/.local/bin)
  --channel NAME   release channel: stable (default) or beta (or SESSIONFORGE_CHANNEL)
  --no-service     do not register a user service (systemd --user or launchd)
  --server URL     use another server than $SERVER
  --uninstall      stop and remove the agent and its service (keeps its configuration)
  -y, --yes        never ask anything (the script never asks when not on a terminal)
  -h, --help       show this help
EOF
}

token="${SESSIONFORGE_TOKEN:-}"
dir="${SESSIONFORGE_INSTALL_DIR:-${HOME:?HOME is not set}/.local/bin}"
channel="${SESSIONFORGE_CHANNEL:-stable}"
service=1
uninstall=0

while [ $# -gt 0 ]; do
	case "$1" in
	--token) [ $# -ge 2 ] || die "--token needs a value"; token=$2; shift 2 ;;
	--token=*) token=${1#*=}; shift ;;
	--dir) [ $# -ge 2 ] || die "--dir needs a value"; dir=$2; shift 2 ;;
	--dir=*) dir=${1#*=}; shift ;;
	--channel) [ $# -ge 2 ] || die "--channel needs a value"; channel=$2; shift 2 ;;
	--channel=*) channel=${1#*=}; shift ;;
	--server) [ $# -ge 2 ] || die "--server needs a value"; SERVER=$2; shift 2 ;;
	--server=*) SERVER=${1#*=}; shift ;;
	--no-service) service=0; shift ;;
	--service) service=1; shift ;;
	--uninstall) uninstall=1; shift ;;
	-y | --yes) shift ;;
	-h | --help) usage; exit 0 ;;
	*) die "unknown option $1 (see --help)" ;;
	esac
done

case "$channel" in stable | beta) ;; *) die "unknown channel $channel: use stable or beta" ;; esac
case "$SERVER" in https://* | http://*) ;; *) die "no server URL; pass --server https://..." ;; esac
SERVER=${SERVER%/}
bin="$dir/$BIN_NAME"

tmp=""
# An EXIT trap's own status can become the script's in some shells: it must end in success.
cleanup() {
	if [ -n "$tmp" ]; then rm -rf "$tmp"; fi
	return 0
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# --- platform -----------------------------------------------------------------------------

is_musl() {
	if command -v ldd >/dev/null 2>&1 && ldd --version 2>&1 | grep -qi musl; then
		return 0
	fi
	for f in /lib/ld-musl-*.so.1; do
		[ -e "$f" ] && return 0
	done
	return 1
}

# Prints the target triples this machine can run, best first.
targets() {
	os=$(uname -s)
	arch=$(uname -m)
	case "$arch" in
	x86_64 | amd64) arch=x86_64 ;;
	aarch64 | arm64) arch=aarch64 ;;
	*) die "unsupported processor $arch (x86_64 and aarch64 are supported)" ;;
	esac
	case "$os" in
	Linux)
		# Static musl builds run everywhere; a glibc build is preferred where one is published.
		if is_musl; then
			echo "$arch-unknown-linux-musl"
		else
			echo "$arch-unknown-linux-gnu $arch-unknown-linux-musl"
		fi
		;;
	Darwin)
		# A shell running under Rosetta reports x86_64 on Apple silicon: install the native build.
		if [ "$arch" = x86_64 ] && [ "$(sysctl -n sysctl.proc_translated 2>/dev/null || echo 0)" = 1 ]; then
			arch=aarch64
		fi
		echo "$arch-apple-darwin"
		;;
	*) die "unsupported system $os (Linux and macOS are supported; on Windows use install.ps1)" ;;
	esac
}

# --- network and checksums --------------------------------------------------------------------

# fetch URL FILE: downloads URL into FILE; fails quietly (the caller explains).
fetch() {
	if command -v curl >/dev/null 2>&1; then
		if [ -n "$PIN" ]; then
			# Self-signed server: trust exactly its public key, nothing else.
			curl -fsSL --proto '=https,http' -k --pinnedpubkey "$PIN" -o "$2" "$1"
		else
			curl -fsSL --proto '=https,http' -o "$2" "$1"
		fi
	elif command -v wget >/dev/null 2>&1; then
		[ -z "$PIN" ] || die "this server's certificate is self-signed and wget cannot pin it: install curl"
		wget -q -O "$2" "$1"
	else
		die "neither curl nor wget is installed"
	fi
}

sha256_of() {
	if command -v sha256sum >/dev/null 2>&1; then
		sha256sum "$1" | cut -d ' ' -f 1
	elif command -v shasum >/dev/null 2>&1; then
		shasum -a 256 "$1" | cut -d ' ' -f 1
	elif command -v openssl >/dev/null 2>&1; then
		openssl dgst -sha256 -r "$1" | cut -d ' ' -f 1
	else
		return 1
	fi
}

field() { sed -n "s/^$1=//p" "$2" | head -n 1; }

# --- services ----------------------------------------------------------------------------------

have_systemd_user() {
	command -v systemctl >/dev/null 2>&1 && systemctl --user show-environment >/dev/null 2>&1
}

systemd_unit() { echo "${XDG_CONFIG_HOME:-$HOME/.config}/systemd/user/$SERVICE_NAME.service"; }
launchd_plist() { echo "$HOME/Library/LaunchAgents/$LAUNCHD_LABEL.plist"; }

install_service() {
	case "$(uname -s)" in
	Linux)
		if ! have_systemd_user; then
			warn "no systemd user session here; start the agent yourself: $bin run"
			return 0
		fi
		unit=$(systemd_unit)
		mkdir -p "$(dirname "$unit")"
		cat >"$unit" <<EOF
[Unit]
Description=SessionForge agent
After=network-online.target

[Service]
ExecStart=$bin run
Restart=on-failure
RestartSec=5

[Install]
WantedBy=default.target
EOF
		systemctl --user daemon-reload
		systemctl --user enable "$SERVICE_NAME.service" >/dev/null 2>&1
		systemctl --user restart "$SERVICE_NAME.service"
		say "registered and started the systemd user service $SERVICE_NAME"
		;;
	Darwin)
		plist=$(launchd_plist)
		mkdir -p "$(dirname "$plist")"
		cat >"$plist" <<EOF
<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">
<plist version="1.0">
<dict>
  <key>Label</key><string>$LAUNCHD_LABEL</string>
  <key>ProgramArguments</key><array><string>$bin</string><string>run</string></array>
  <key>RunAtLoad</key><true/>
  <key>KeepAlive</key><true/>
</dict>
</plist>
EOF
		launchctl unload "$plist" >/dev/null 2>&1 || true
		launchctl load -w "$plist"
		say "registered and started the launchd agent $LAUNCHD_LABEL"
		;;
	esac
}

remove_service() {
	case "$(uname -s)" in
	Linux)
		unit=$(systemd_unit)
		if [ -f "$unit" ]; then
			if have_systemd_user; then
				systemctl --user disable --now "$SERVICE_NAME.service" >/dev/null 2>&1 || true
			fi
			rm -f "$unit"
			if have_systemd_user; then systemctl --user daemon-reload || true; fi
			say "removed the systemd user service"
		fi
		;;
	Darwin)
		plist=$(launchd_plist)
		if [ -f "$plist" ]; then
			launchctl unload -w "$plist" >/dev/null 2>&1 || true
			rm -f "$plist"
			say "removed the launchd agent"
		fi
		;;
	esac
}

# --- uninstall ---------------------------------------------------------------------------------

if [ "$uninstall" = 1 ]; then
	remove_service
	if [ -e "$bin" ]; then
		rm -f "$bin"
		say "removed $bin"
	else
		say "$bin was not installed"
	fi
	say "configuration and credentials were kept; enroll again after reinstalling to reuse them"
	exit 0
fi

# --- install -----------------------------------------------------------------------------------

tmp=$(mktemp -d 2>/dev/null || mktemp -d -t sessionforge)
latest="$tmp/latest"
found=""
for target in $(targets); do
	if fetch "$SERVER/api/v1/releases/latest?target=$target&channel=$channel" "$latest" 2>/dev/null; then
		found=$target
		break
	fi
done
[ -n "$found" ] || die "$SERVER has no $channel agent build for this machine ($(targets | tr ' ' ','))"

version=$(field version "$latest")
sha256=$(field sha256 "$latest")
url=$(field url "$latest")
if [ -z "$version" ] || [ -z "$url" ] || [ ${#sha256} -ne 64 ]; then
	die "the server's answer about the latest build is incomplete"
fi

if [ -x "$bin" ] && [ "$("$bin" --version 2>/dev/null | awk '{print $2}')" = "$version" ]; then
	say "sessionforge-agent $version is already installed in $dir"
else
	say "downloading sessionforge-agent $version ($found)"
	fetch "$url" "$tmp/agent" || die "download failed: $url"
	actual=$(sha256_of "$tmp/agent") || die "cannot verify the download: install sha256sum, shasum or openssl"
	[ "$actual" = "$sha256" ] || die "checksum mismatch: expected $sha256, got $actual; nothing was installed"
	chmod 755 "$tmp/agent"
	"$tmp/agent" --version >/dev/null 2>&1 || die "the downloaded agent does not run on this machine; nothing was installed"
	mkdir -p "$dir"
	# Replace atomically: a running agent keeps its old file until it restarts.
	cp "$tmp/agent" "$dir/.$BIN_NAME.new"
	mv -f "$dir/.$BIN_NAME.new" "$bin"
	say "installed $bin ($version)"
fi

if [ -n "$token" ]; then
	set -- enroll --server "$SERVER" --skip-if-enrolled
	[ -n "$FINGERPRINT" ] && set -- "$@" --fingerprint "$FINGERPRINT"
	# Headless Linux: the kernel keyring forgets credentials at reboot, which would stop the
	# service; without a desktop keyring, keep the credential in a file only this user can read.
	if [ "$(uname -s)" = Linux ] && [ "$service" = 1 ] && [ -z "${DBUS_SESSION_BUS_ADDRESS:-}" ]; then
		set -- "$@" --credential-store file
	fi
	# The token goes through the environment, not the command line other users can see.
	SESSIONFORGE_TOKEN="$token" "$bin" "$@" || die "enrollment failed (see above); the agent is installed in $dir"
else
	say "no --token given: enroll later with $bin enroll --server $SERVER --token TOKEN"
fi

if [ "$service" = 1 ] && [ -n "$token" ]; then
	install_service
elif [ "$service" = 1 ]; then
	say "not registering a service before the machine is enrolled"
fi

case ":${PATH:-}:" in
*":$dir:"*) ;;
*) warn "$dir is not on your PATH; add it to use $BIN_NAME directly" ;;
esac
say "done"
