#!/usr/bin/env bash
# install.sh: build deploy and procmon from this checkout and install them.
# Run ./install.sh --help for the options. Safe to run again: it replaces
# the binaries (atomically, so a running procmon is not disturbed) and
# leaves what is already in place alone.
set -euo pipefail
shopt -s inherit_errexit

usage() {
	cat <<'EOF'
Usage: ./install.sh [--prefix DIR] [--server]

Builds deploy and procmon from this checkout (go build, version stamped from
`git describe`) and installs them:
  into DIR/bin with --prefix DIR,
  else into /usr/local/bin when it is writable,
  else into ~/.local/bin (with a warning when that is not on your PATH).

Options:
  --prefix DIR   install under DIR: DIR/bin, and with --server
                 DIR/etc/systemd/system and DIR/etc/procmon
  --server       also install the systemd unit template procmon@.service
                 into /etc/systemd/system and create /etc/procmon, where
                 each app's config goes as /etc/procmon/<app>.toml
  -h, --help     show this help

Needs: go, git, bash. Safe to re-run.

Examples:
  ./install.sh                       # laptop: deploy and procmon on your PATH
  sudo ./install.sh --server         # server: binaries, unit, /etc/procmon
  ./install.sh --prefix "$HOME/opt"  # somewhere of your own
EOF
}

say() { printf 'install.sh: %s\n' "$*"; }
warn() { printf 'install.sh: warning: %s\n' "$*" >&2; }
die() {
	printf 'install.sh: error: %s\n' "$1" >&2
	[ -z "${2:-}" ] || printf 'hint: %s\n' "$2" >&2
	exit "${3:-1}"
}

prefix=""
server=0
while [ $# -gt 0 ]; do
	case "$1" in
	-h | --help)
		usage
		exit 0
		;;
	--server) server=1 ;;
	--prefix)
		if [ $# -lt 2 ] || [ -z "$2" ]; then
			die "--prefix needs a directory" "./install.sh --prefix \"\$HOME/opt\"" 2
		fi
		prefix=$2
		shift
		;;
	--prefix=*)
		prefix=${1#--prefix=}
		[ -n "$prefix" ] || die "--prefix needs a directory" "./install.sh --prefix \"\$HOME/opt\"" 2
		;;
	*) die "unknown option: $1" "run ./install.sh --help" 2 ;;
	esac
	shift
done

# The checkout is where this script lives, whatever the caller's directory.
src=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
cd -- "$src"

command -v go >/dev/null 2>&1 ||
	die "go is not on PATH" "install Go (https://go.dev/dl/); under sudo, keep your PATH: sudo env PATH=\"\$PATH\" ./install.sh --server"
for cmd in deploy procmon; do
	compgen -G "cmd/$cmd/*.go" >/dev/null ||
		die "no Go files in $src/cmd/$cmd" "run install.sh from a complete checkout of the deploy repository"
done
if [ -n "$prefix" ]; then
	mkdir -p -- "$prefix"
	prefix=$(cd -- "$prefix" && pwd)
fi

# pick_bindir prints where the binaries go: --prefix, else /usr/local/bin
# when writable, else ~/.local/bin.
pick_bindir() {
	if [ -n "$prefix" ]; then
		printf '%s\n' "$prefix/bin"
	elif [ -d /usr/local/bin ] && [ -w /usr/local/bin ]; then
		printf '%s\n' /usr/local/bin
	else
		[ -n "${HOME:-}" ] || die "/usr/local/bin is not writable and HOME is not set" "run with sudo, or give --prefix DIR"
		printf '%s\n' "$HOME/.local/bin"
	fi
}

# on_path reports whether directory $1 is in $PATH.
on_path() {
	case ":${PATH:-}:" in
	*":$1:"*) return 0 ;;
	esac
	return 1
}

# build_all builds both binaries into directory $1 with the version stamped.
build_all() {
	local out=$1 version
	version=$(git describe --tags --always --dirty 2>/dev/null || echo devel)
	say "building deploy and procmon $version with $(go version | cut -d' ' -f3)"
	for cmd in deploy procmon; do
		go build \
			-ldflags "-s -w -X github.com/deploytool/deploy/internal/version.Version=$version" \
			-o "$out/$cmd" "./cmd/$cmd" ||
			die "go build ./cmd/$cmd failed" "the output above says why; 'go version' must be at least the go.mod's"
	done
}

# install_file copies $1 to $2 with mode $3 through a temporary name and a
# rename, so a running binary is replaced, never overwritten in place. It
# prints "installed", "updated" or "unchanged".
install_file() {
	local from=$1 to=$2 mode=$3 tmp
	if [ -f "$to" ] && cmp -s -- "$from" "$to"; then
		chmod -- "$mode" "$to"
		echo unchanged
		return
	fi
	local was=installed
	[ -e "$to" ] && was=updated
	tmp=$(dirname -- "$to")/.$(basename -- "$to").install.$$
	cp -- "$from" "$tmp"
	chmod -- "$mode" "$tmp"
	mv -f -- "$tmp" "$to"
	echo "$was"
}

# make_dir creates directory $1 and says whether it had to.
make_dir() {
	if [ -d "$1" ]; then
		say "$1 already exists"
	else
		mkdir -p -- "$1"
		say "created $1"
	fi
}

install_binaries() {
	local bindir=$1 work=$2 cmd result
	if ! { mkdir -p -- "$bindir" 2>/dev/null && [ -w "$bindir" ]; }; then
		die "cannot write to $bindir" "run with sudo, or give --prefix DIR"
	fi
	for cmd in deploy procmon; do
		result=$(install_file "$work/$cmd" "$bindir/$cmd" 0755)
		say "$result $bindir/$cmd ($("$bindir/$cmd" --version 2>/dev/null | head -n1 || echo "no --version"))"
	done
	if ! on_path "$bindir"; then
		warn "$bindir is not on your PATH; add it, e.g.: echo 'export PATH=\"$bindir:\$PATH\"' >> ~/.profile"
	fi
}

# install_server installs the unit template and creates the config dir,
# under --prefix when given. $1 is where procmon was installed.
install_server() {
	local bindir=$1 root="${prefix:-}" unit=examples/systemd/procmon@.service
	[ -f "$unit" ] || die "no $src/$unit in this checkout" "run install.sh from a complete checkout of the deploy repository"
	local unitdir="$root/etc/systemd/system" confdir="$root/etc/procmon"
	if ! { mkdir -p -- "$unitdir" 2>/dev/null && [ -w "$unitdir" ]; }; then
		die "cannot write to $unitdir" "run it as root (sudo ./install.sh --server), or give --prefix DIR"
	fi
	say "$(install_file "$unit" "$unitdir/procmon@.service" 0644) $unitdir/procmon@.service"
	make_dir "$confdir"
	local execstart
	execstart=$(sed -n 's/^ExecStart=\([^ ]*\).*/\1/p' "$unitdir/procmon@.service" | head -n1)
	if [ -n "$execstart" ] && [ "$execstart" != "$bindir/procmon" ]; then
		warn "the unit runs $execstart but procmon was installed as $bindir/procmon;" \
			"fix ExecStart= with 'systemctl edit procmon@' or install without --prefix"
	fi
	if [ -z "$root" ] && [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then
		systemctl daemon-reload && say "ran systemctl daemon-reload"
	fi
	say "next: put an app's config in $confdir/<app>.toml, then: systemctl enable --now procmon@<app>"
}

work="" # the build directory, removed on exit
trap 'if [ -n "$work" ]; then rm -rf -- "$work"; fi' EXIT

main() {
	local bindir
	bindir=$(pick_bindir)
	work=$(mktemp -d)
	build_all "$work"
	install_binaries "$bindir" "$work"
	if [ "$server" = 1 ]; then
		install_server "$bindir"
	fi
	say "done"
}

main
