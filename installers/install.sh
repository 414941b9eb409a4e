#!/bin/sh
# SessionForge agent installer for Linux and macOS (x86_64 and aarch64).
#
#   curl -fsSL https://YOUR-SERVER/install.sh | SESSIONFORGE_TOKEN=sfe_... sh -s -- --signing-key-id ID
#
# Downloads the newest agent build for this machine from the SessionForge server that served
# this script, verifies the channel's signed manifest against the release key the install line
# names (when OpenSSL 3 is here to do it), checks the build's SHA-256 (and refuses to install
# when it does not match or cannot be checked), installs it, enrolls this machine with the
# token, and registers a user service (systemd --user or launchd) that keeps the agent running.
# Running it again upgrades in place. The token never appears on a command line (other users
# can read those): it comes from the environment and reaches the agent in a 0600 file.
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

  --token TOKEN    one-time enrollment token (better: SESSIONFORGE_TOKEN, which ps cannot show)
  --signing-key-id ID  the release signing key the server must use (or SESSIONFORGE_SIGNING_KEY_ID)
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
# The agent must not see it twice (environment and file).
unset SESSIONFORGE_TOKEN
signing_key_id="${SESSIONFORGE_SIGNING_KEY_ID:-}"
dir="${SESSIONFORGE_INSTALL_DIR:-${HOME:?HOME is not set}/.local/bin}"
channel="${SESSIONFORGE_CHANNEL:-stable}"
service=1
uninstall=0

while [ $# -gt 0 ]; do
	case "$1" in
	--token) [ $# -ge 2 ] || die "--token needs a value"; token=$2; shift 2 ;;
	--token=*) token=${1#*=}; shift ;;
	--signing-key-id) [ $# -ge 2 ] || die "--signing-key-id needs a value"; signing_key_id=$2; shift 2 ;;
	--signing-key-id=*) signing_key_id=${1#*=}; shift ;;
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
case "$signing_key_id" in "" | [0-9a-f]*) ;; *) die "--signing-key-id must be a key id such as 1a2b3c4d5e6f7a8b" ;; esac
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

# fetch URL FILE: downloads URL into FILE; fails quietly (the caller explains). An https://
# server is never left for plain HTTP, not even by a redirect.
fetch() {
	case "$SERVER" in
	https://*) proto='=https' ;;
	*) proto='=http,https' ;;
	esac
	if command -v curl >/dev/null 2>&1; then
		if [ -n "$PIN" ]; then
			# Self-signed server: trust exactly its public key, nothing else.
			curl -fsSL --proto "$proto" --proto-redir "$proto" -k --pinnedpubkey "$PIN" -o "$2" "$1"
		else
			curl -fsSL --proto "$proto" --proto-redir "$proto" -o "$2" "$1"
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

# Verifies the channel's signed manifest (ed25519, against the key the install line names) and
# that it lists exactly this build: target $1, version $2, SHA-256 $3. Needs OpenSSL 3; says so
# and carries on with HTTPS and the SHA-256 where it is missing.
verify_manifest() {
	if [ -z "$signing_key_id" ]; then
		warn "no --signing-key-id given: not checking the signed release manifest"
		return 0
	fi
	if ! command -v openssl >/dev/null 2>&1 || ! openssl pkeyutl -help 2>&1 | grep -q -- '-rawin'; then
		say "cannot verify the release manifest's signature here (it needs OpenSSL 3); relying on HTTPS and the SHA-256"
		return 0
	fi
	m="$tmp/manifest.txt"
	fetch "$SERVER/api/v1/releases/manifest/$channel/signed.txt" "$m" || die "cannot fetch the signed $channel manifest"
	kid=$(field key_id "$m")
	[ "$kid" = "$signing_key_id" ] || die "the manifest is signed by key $kid, not $signing_key_id; nothing was installed"
	sed -n '4p' "$m" | tr -d '\n' >"$tmp/payload"
	field signature "$m" | openssl base64 -d -A >"$tmp/sig" 2>/dev/null || die "the manifest's signature is malformed"
	fetch "$SERVER/api/v1/releases/signing-keys" "$tmp/keys.json" || die "cannot fetch the release signing keys"
	pub=$(tr '{' '\n' <"$tmp/keys.json" | grep "\"key_id\":\"$kid\"" | sed -n 's/.*"public_key":"\([A-Za-z0-9+/=]*\)".*/\1/p' | head -n 1)
	[ -n "$pub" ] || die "the server does not publish key $kid"
	printf '%s' "$pub" | openssl base64 -d -A >"$tmp/key.raw" 2>/dev/null || die "key $kid is malformed"
	[ "$(openssl dgst -sha256 -r "$tmp/key.raw" | cut -c1-16)" = "$kid" ] || die "the published key does not match id $kid"
	# An ed25519 public key as DER: the fixed SubjectPublicKeyInfo prefix, then the 32 key bytes.
	{
		printf '\060\052\060\005\006\003\053\145\160\003\041\000'
		cat "$tmp/key.raw"
	} >"$tmp/key.der"
	openssl pkeyutl -verify -pubin -keyform DER -inkey "$tmp/key.der" -rawin -in "$tmp/payload" -sigfile "$tmp/sig" \
		>/dev/null 2>&1 || die "the release manifest's signature does not verify; nothing was installed"
	tr '{' '\n' <"$tmp/payload" | grep "\"target\":\"$1\",\"version\":\"$2\"" | grep -q "\"sha256\":\"$3\"" ||
		die "the signed manifest does not list $2 for $1 with SHA-256 $3; nothing was installed"
	say "verified the signed $channel manifest (key $kid)"
}

# Quotes a path for a systemd unit's ExecStart: in double quotes, with \ and " escaped, and %
# and $ doubled (systemd expands both).
systemd_quote() { printf '"%s"' "$(printf '%s' "$1" | sed -e 's/\\/\\\\/g' -e 's/"/\\"/g' -e 's/%/%%/g' -e 's/\$/$$/g')"; }

# Escapes a path for an XML (plist) string.
xml_escape() { printf '%s' "$1" | sed -e 's/&/\&amp;/g' -e 's/</\&lt;/g' -e 's/>/\&gt;/g' -e 's/"/\&quot;/g' -e "s/'/\&apos;/g"; }

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
ExecStart=$(systemd_quote "$bin") run
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
  <key>ProgramArguments</key><array><string>$(xml_escape "$bin")</string><string>run</string></array>
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
verify_manifest "$found" "$version" "$sha256"

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
	# The token reaches the agent in a file only this user can read, not on a command line.
	(umask 077 && printf '%s\n' "$token" >"$tmp/token") || die "cannot write a temporary file in $tmp"
	set -- enroll --server "$SERVER" --skip-if-enrolled --token-file "$tmp/token"
	[ -n "$FINGERPRINT" ] && set -- "$@" --fingerprint "$FINGERPRINT"
	[ -n "$signing_key_id" ] && set -- "$@" --signing-key-id "$signing_key_id"
	# Headless Linux: the kernel keyring forgets credentials at reboot, which would stop the
	# service; without a desktop keyring, keep the credential in a file only this user can read.
	if [ "$(uname -s)" = Linux ] && [ "$service" = 1 ] && [ -z "${DBUS_SESSION_BUS_ADDRESS:-}" ]; then
		set -- "$@" --credential-store file
	fi
	"$bin" "$@" || die "enrollment failed (see above); the agent is installed in $dir"
	rm -f "$tmp/token"
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
