#!/usr/bin/env bash
# deps.sh demo|lint|test|bench: install with apt-get what `make demo`, `make lint`
# / `make test` / `make bench` need and this machine lacks. A fresh Debian machine has Go and git; the
# suite also needs a C compiler (go test -race), OpenSSH's server and
# client (the deploy tests talk to a real sshd), wrk (procmon's load
# tests), util-linux (flock, setsid, unshare), python3 and node (the
# example apps, npm for build auto's tests), systemd-analyze (the unit files),
# nginx (procmon's proxy is compared with it, case by case) and shellcheck (lint).
# The benchmarks also need pm2 (npm install -g): nginx and pm2 are the
# yardsticks procmon is measured against. Not root: it prints the lines to
# run and fails, rather than letting tests skip.
set -euo pipefail

what=${1:-test}
need=()
have() { command -v "$1" >/dev/null 2>&1; }
pkg() { # command package
	have "$1" || need+=("$2")
}

pkg git git
pkg flock util-linux
pkg setsid util-linux
if [ "$what" = lint ] || [ "$what" = test ]; then
	pkg shellcheck shellcheck
fi
if [ "$what" = test ] || [ "$what" = bench ]; then
	pkg gcc gcc
	[ -e /usr/include/stdlib.h ] || need+=(libc6-dev)
	[ -x /usr/sbin/sshd ] || need+=(openssh-server)
	pkg ssh openssh-client
	pkg ssh-keygen openssh-client
	pkg wrk wrk
	pkg unshare util-linux
	pkg python3 python3
	# build auto's Python test makes venvs: Debian's python3 lacks ensurepip without python3-venv
	python3 -c 'import ensurepip' >/dev/null 2>&1 || need+=(python3-venv)
	pkg poetry python3-poetry # build auto's Poetry test locks and installs a vendored wheel
	# build auto's reflink test makes an XFS image (reflinks) and looks at its extents
	pkg mkfs.xfs xfsprogs
	pkg filefrag e2fsprogs
	# a root deploy's linked cache is made immutable (chattr, lsattr); a
	# test drops that capability from its sshd (setpriv)
	pkg chattr e2fsprogs
	pkg lsattr e2fsprogs
	pkg setpriv util-linux
	pkg node nodejs
	pkg npm npm # build auto's Node tests run npm ci
	# build auto's Ruby test builds gems and bundles them offline; its
	# Elixir test runs mix release (elixir brings a minimal erlang)
	pkg ruby ruby
	pkg gem ruby
	pkg bundle ruby-bundler
	pkg elixir elixir
	pkg mix elixir
	pkg rebar3 rebar3 # the Elixir rebar3 test: a git dependency that builds with rebar3
	pkg git-lfs git-lfs # TestGitLFSContentOrSaid: a repo with Git LFS files
	# the login shells a deploy user may have: fish and tcsh run no POSIX
	# line, ksh and zsh do (TestLoginShell*)
	pkg fish fish
	pkg tcsh tcsh
	pkg ksh ksh
	pkg zsh zsh
	[ -x /usr/sbin/nologin ] || need+=(login)
	pkg systemd-analyze systemd
	pkg curl curl
	[ -x /usr/sbin/nginx ] || pkg nginx nginx-light
fi
npm_need=()
if [ "$what" = bench ]; then
	have pm2 || npm_need+=(pm2)
fi
((${#need[@]} + ${#npm_need[@]})) || exit 0

if [ "$(id -u)" != 0 ]; then
	if ((${#need[@]})); then
		mapfile -t need < <(printf '%s\n' "${need[@]}" | sort -u)
		echo "make $what needs: ${need[*]}" >&2
		echo "install them with: sudo apt-get install -y ${need[*]}" >&2
	fi
	if ((${#npm_need[@]})); then
		echo "make $what needs: ${npm_need[*]} (npm)" >&2
		echo "install them with: sudo npm install -g ${npm_need[*]}" >&2
	fi
	exit 1
fi
if ((${#need[@]})); then
	mapfile -t need < <(printf '%s\n' "${need[@]}" | sort -u)
	echo "installing what make $what needs: ${need[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
if ((${#npm_need[@]})); then
	echo "installing what make $what needs: ${npm_need[*]} (npm install -g)"
	npm install -g --no-fund --no-audit "${npm_need[@]}" >/dev/null
fi
