# deploy-remote: the server side of `deploy`. Read deploy/script/doc.go for the
# protocol. lib.sh and the files after it (script.go: release.sh,
# mirror.sh, gate.sh, build.sh, depcache.sh, commands.sh) are one text,
# sent on stdin framed by its length when the server has no copy of it
# (save_script keeps one), read by the bootstrap and eval'd; every value
# comes in "$@" as name=value, never as shell text.
#
# lib.sh: arguments, cleanup, validation, running hooks, the control
# channel and the lock.
set -euo pipefail
umask 022

# save_script FILE keeps this script's text (the bootstrap's
# deploy_script, which came on stdin) as FILE, the server's copy that
# later commands read instead (script.Bootstrap): in a directory of the
# login user's only (0700), through a temporary file renamed only when
# its sha256 is FILE's name, so that a file by that name is always that
# text. Copies written more than 30 days ago (other versions of deploy's)
# go; one still in use comes back with its next command. Any failure
# (no home, a full disk) only means that the next command sends the
# script again.
save_script() {
	local f=$1 d=${1%/*} t sum=''
	umask 077
	mkdir -p -- "$d" 2>/dev/null && [ -O "$d" ] || return 0
	t=$d/.tmp.$BASHPID
	# shellcheck disable=SC2154 # the bootstrap's (script.Bootstrap)
	if printf '%s' "$deploy_script" >"$t" && sum=$(sha256sum <"$t") && [ "${sum%% *}" = "${f##*/}" ]; then
		mv -f -- "$t" "$f" || rm -f -- "$t"
	else
		rm -f -- "$t"
	fi
	find "$d" -maxdepth 1 -type f -mtime +30 -delete 2>/dev/null || true
}
# SCRIPT_COPIES is where the bootstrap looks for copies ('' = nowhere:
# no absolute HOME); SCRIPT_SAVING the copy this command keeps ('' = it
# ran one), saved by SAVE_PID (see check_script_copy).
# shellcheck disable=SC2154 # the bootstrap's (script.Bootstrap)
SCRIPT_COPIES=${deploy_cache:-} SCRIPT_SAVING='' SAVE_PID=''
if [ -n "${deploy_script_save:-}" ]; then
	save_script "$deploy_script_save" </dev/null >/dev/null 2>&1 &
	SAVE_PID=$! SCRIPT_SAVING=$deploy_script_save
fi
unset deploy_script_save deploy_cache

# M starts every protocol line (script.MarkerOf): '@@deploy', or with the
# client's mark (its first argument, mark=<16 hex digits>, new each run)
# '@@deploy:<mark>', which no hook's output can carry by chance.
M='@@deploy'
mark() { printf '%s %s\n' "$M" "$*" 2>/dev/null || true; }
# anon_url VAR URL sets VAR to URL without the user and password that
# git's messages leave out (config.AnonymizeURL on the laptop, which says
# where it differs from git): a token in repo reaches no terminal or CI
# log. An ssh login name (git@host:path, ssh://deploy@host/…) is kept.
anon_url() {
	local u=$2 rest auth
	printf -v "$1" '%s' "$u"
	[[ $u == ?*://* && ${u%%://*} =~ ^[A-Za-z0-9+.-]+$ ]] || return 0
	rest=${u#*://}
	auth=${rest%%/*}
	[[ $auth == *@* ]] || return 0
	case ${u%%://*} in
	[Hh][Tt][Tt][Pp] | [Hh][Tt][Tt][Pp][Ss] | [Ff][Tt][Pp] | [Ff][Tt][Pp][Ss]) ;;
	*) [[ ${auth%@*} == *:* ]] || return 0 ;;
	esac
	printf -v "$1" '%s' "${u%%://*}://${rest#"${auth%@*}"@}"
}

# now VAR [FORMAT] sets VAR to the UTC time (ISO 8601 by default) with
# bash's own strftime: no date(1) to start, which a deploy would do four
# times. TZ is local to the function: hooks see the server's own.
now() { local TZ=UTC0; printf -v "$1" "%(${2:-%Y-%m-%dT%H:%M:%SZ})T" -1; }

# ---- arguments -------------------------------------------------------------
CMD=${1:-}
(($#)) && shift
D_ENV='' P='' REPO='' REF='' WHO='unknown' KEEP=5 SHELL_MODE='' N=1
H_PRE='' H_RELEASE='' H_POST='' H_SETUP='' H_TEST='' RESTART_FILE='' WAIT=0 FORCE=0
NO_TEST=0 HOLD=0 PROCMON='' HEALTHCHECK='' TTY=0 STAMP='' BUILD=''
SOURCE='' SHA_ARG='' PUSH_REF='' STAGED='' TMPFILES=()
SHARED=() SHARED_FILES=() VARS=() REST=()
while (($#)); do
	a=$1
	shift
	case $a in
	--) REST=("$@"); break ;;
	mark=*) M="@@deploy:${a#*=}" ;;
	env=*) D_ENV=${a#*=} ;;
	path=*) P=${a#*=} ;;
	repo=*) REPO=${a#*=} ;;
	ref=*) REF=${a#*=} ;;
	who=*) WHO=${a#*=} ;;
	keep=*) KEEP=${a#*=} ;;
	shell=*) SHELL_MODE=${a#*=} ;;
	n=*) N=${a#*=} ;;
	pre-deploy=*) H_PRE=${a#*=} ;;
	release-command=*) H_RELEASE=${a#*=} ;;
	post-deploy=*) H_POST=${a#*=} ;;
	post-setup=*) H_SETUP=${a#*=} ;;
	test=*) H_TEST=${a#*=} ;;
	restart-file=*) RESTART_FILE=${a#*=} ;;
	shared=*) SHARED+=("${a#*=}") ;;
	shared-file=*) SHARED+=("${a#*=}") SHARED_FILES+=("${a#*=}") ;;
	var=*) VARS+=("${a#*=}") ;;
	wait=*) WAIT=${a#*=} ;;
	force=*) FORCE=${a#*=} ;;
	no-test=*) NO_TEST=${a#*=} ;;
	hold=*) HOLD=${a#*=} ;;
	procmon=*) PROCMON=${a#*=} ;;
	healthcheck=*) HEALTHCHECK=${a#*=} ;;
	tty=*) TTY=${a#*=} ;;
	stamp=*) STAMP=${a#*=} ;;
	build=*) BUILD=${a#*=} ;;
	source=*) SOURCE=${a#*=} ;;
	sha=*) SHA_ARG=${a#*=} ;;
	push-ref=*) PUSH_REF=${a#*=} ;;
	*) mark "fail args unknown argument '${a%%=*}': the laptop's deploy and this script disagree"; exit 2 ;;
	esac
done

# ---- state and cleanup -----------------------------------------------------
STEP=start   # the step running now, reported on failure
STATE=init   # init | locked | preparing | prepared | switched | done
REPORTED=0   # a fail line was printed
LOCKED=0 CHILD='' WATCHER='' REL='' SHA='' OLD='' OLD_SHA=''

step() { STEP=$1; mark "step $1"; }
fail() { mark "fail $STEP $*"; REPORTED=1; exit 1; }

on_exit() {
	local rc=$?
	trap - EXIT
	trap '' PIPE INT TERM HUP
	set +e
	[ -n "$CHILD" ] && { kill -TERM -- "-$CHILD" 2>/dev/null || kill -TERM "$CHILD" 2>/dev/null; wait "$CHILD" 2>/dev/null; }
	[ -n "$WATCHER" ] && kill "$WATCHER" 2>/dev/null
	if [ "$rc" != 0 ] && [ "$REPORTED" = 0 ]; then
		if [ -z "${ABORTED:-}" ]; then
			mark "fail $STEP exit status $rc"
		elif [ "$STATE" = preparing ] || [ "$STATE" = prepared ]; then
			mark "fail $STEP $ABORTED before the switch: current is unchanged"
		else
			mark "fail $STEP $ABORTED (exit status $rc)"
		fi
	fi
	# a pack or a staged upload that never became part of a release
	((${#TMPFILES[@]})) && rm -rf -- "${TMPFILES[@]}"
	if [ "$STATE" = preparing ] || [ "$STATE" = prepared ]; then
		cur_id
		[ -n "$REL" ] && [ "$CUR" != "$REL" ] && rm -rf -- "$P/releases/$REL"
		log_event "${SHA:--}" "${REL:--}" failed "${REF:-HEAD}"
		mark "discarded ${REL:--}"
	fi
	[ "$LOCKED" = 1 ] && : >"$P/.deploy.lock"
	mark "exit $rc"
	exit "$rc"
}
trap on_exit EXIT
trap 'ABORTED=interrupted; exit 130' INT TERM HUP
trap on_pipe PIPE

# on_pipe: a write to the client failed (only if the output relay below
# died: it normally outlives the client). Before the switch that aborts:
# nothing changed. From the switch on the script must finish what it
# started whatever happens to the laptop: the gate, and the rollback when
# it fails (or, holding, when no commit comes), so it goes on with its
# output sent nowhere.
on_pipe() {
	case $STATE in
	switched | done)
		exec 1>/dev/null 2>&1
		;;
	*) ABORTED="connection lost"; exit 141 ;;
	esac
}

# fd 3 is the control channel (the rest of stdin); children get /dev/null.
# Errors go to stdout with everything else, in order, so that a failing
# step's output holds them; fd 4 keeps the real stderr for exec.
exec 3<&0 0</dev/null 4>&2 2>&1
# All output then goes through a relay that outlives the client: when the
# client is gone (a write fails), the relay drains the rest into /dev/null
# instead of closing the pipe, so neither this script nor a hook, git or
# procmon dies of SIGPIPE halfway through a gate or a rollback. (A client
# that goes away is noticed on the control channel instead: EOF before the
# switch aborts, EOF while holding for the commit rolls back.)
exec > >(
	trap '' PIPE
	cat || exec cat >/dev/null # only a failed write leaves input to drain
) 2>&1

# ---- validation (the laptop checked too; this is defence in depth) ---------
check_common() {
	expand_home
	repo_from_home
	case $P in /*) ;; *) fail "path '$P' is not absolute" ;; esac
	[ "$P" != / ] || fail "path is the root directory"
	case $P in *$'\n'* | *$'\t'*) fail "path contains a newline or tab" ;; esac
	[[ $KEEP =~ ^[1-9][0-9]*$ ]] || fail "keep '$KEEP' is not a positive number"
	[[ $N =~ ^[1-9][0-9]*$ ]] || fail "revert count '$N' is not a positive number"
	case $WHO$REF in *$'\n'* | *$'\t'*) fail "ref or user contains a newline or tab" ;; esac
	case $REF in -*) fail "ref '$REF' starts with '-'" ;; esac
	case $BUILD in '' | auto | none) ;; *) fail "build '$BUILD' is not auto or none" ;; esac
	case $SOURCE in '' | fetch | push | artifact) ;; *) fail "source '$SOURCE' is not fetch, push or artifact" ;; esac
	[ -z "$SHA_ARG" ] || [[ $SHA_ARG =~ ^[0-9a-f]{40}$ ]] || fail "sha '$SHA_ARG' is not a full commit id"
	case $PROCMON$HEALTHCHECK in *$'\n'* | *[[:space:]]*) fail "procmon or healthcheck contains whitespace" ;; esac
	local kv p
	for kv in ${VARS[@]+"${VARS[@]}"}; do
		[[ ${kv%%=*} =~ ^[A-Za-z_][A-Za-z0-9_]*$ ]] || fail "env variable name '${kv%%=*}' is not a valid name"
	done
	for p in ${SHARED[@]+"${SHARED[@]}"}; do
		case /$p/ in //* | */../* | */./*) fail "shared path '$p' must be relative, without . or .." ;; esac
	done
}

# expand_home turns path=~ or path=~/dir (a classic deploy.conf's
# `path ~/app`) into the login user's home as sshd set $HOME: a plain
# string operation, never eval, so nothing else in the value is expanded.
expand_home() {
	# shellcheck disable=SC2088 # a literal ~ is what is matched here
	case $P in
	'~' | '~/'*)
		case ${HOME:-} in
		/*) P=${HOME%/}${P#'~'} ;;
		*) fail "path '$P' starts with ~, but \$HOME is not an absolute directory on this server: give the full path" ;;
		esac
		;;
	esac
}

# repo_from_home takes a repo that is a relative local path (or starts
# with ~) from the login user's home, where the classic tool's `git clone
# $repo` ran (ssh's working directory, its shell expanding ~), so that the
# mirror, deploy check and a release's remote.origin.url all read it the
# same. A URL (scheme://) or scp-like host:path (a colon before any
# slash, git's rule) is left as it is.
repo_from_home() {
	case $REPO in '' | /* | *://*) return 0 ;; esac
	[[ $REPO == *:* && ${REPO%%:*} != */* ]] && return 0
	case ${HOME:-} in
	/*) ;;
	*) fail "repo '$REPO' is a relative path, but \$HOME is not an absolute directory on this server: give the full path" ;;
	esac
	# shellcheck disable=SC2088 # a literal ~ is what is matched here
	case $REPO in
	'~' | '~/'*) REPO=${HOME%/}${REPO#'~'} ;;
	*) REPO=${HOME%/}/$REPO ;;
	esac
}

# ---- helpers ---------------------------------------------------------------
# setting VAR NAME DEFAULT sets VAR to NAME from the `env` key's variables,
# else from the server's environment, else DEFAULT (DEPLOY_PROCMON,
# DEPLOY_HEALTH_TIMEOUT): no $(…), which costs two forks with the traps.
setting() {
	local kv
	for kv in ${VARS[@]+"${VARS[@]}"}; do
		[ "${kv%%=*}" = "$2" ] && { printf -v "$1" '%s' "${kv#*=}"; return; }
	done
	printf -v "$1" '%s' "${!2:-$3}"
}

git_() { git --git-dir="$P/repo" "$@"; }
# cur_id sets CUR to the release current points at, the last component
# of its link as readlink gives it ("" when none), and current_id prints
# it. Builtins where they can (cd -P resolves the link; with the script's
# traps every $(…) costs two forks, more than the rest of a step on a busy
# server); readlink when current is dangling, does not resolve straight
# into releases/, or releases/ holds a symlink (whose name cd -P would
# not give).
CUR=''
cur_id() {
	CUR=''
	[ -L "$P/current" ] || return 0
	local rels='' cur r
	for r in "$P"/releases/*; do [ ! -L "$r" ] || rels=-; done
	if [ -z "$rels" ]; then
		physical rels "$P/releases"
		physical cur "$P/current" # unchanged when it does not resolve (dangling)
		[ "$cur" = "$P/current" ] || [ "${cur%/*}" != "$rels" ] || CUR=${cur##*/}
	fi
	[ -z "$CUR" ] || return 0
	CUR=$(readlink -- "$P/current" 2>/dev/null) || CUR=''
	CUR=${CUR##*/}
}
# physical VAR DIR sets VAR to DIR with its symlinks resolved, as a
# program started in DIR sees its working directory (python -m venv writes
# that path into a venv; cur_id reads current with it), without a fork;
# to DIR unchanged when it cannot be entered.
physical() {
	local back=$PWD
	printf -v "$1" '%s' "$2"
	cd -P -- "$2" 2>/dev/null || return 0
	printf -v "$1" '%s' "$PWD"
	cd -- "$back" 2>/dev/null || cd / # nothing after relies on the directory
}
current_id() { cur_id; printf '%s\n' "$CUR"; }
# revision VAR ID sets VAR to the commit release ID was made from (its
# REVISION), or -; sha_of ID prints it.
revision() {
	local _s=''
	[ -f "$P/releases/$2/REVISION" ] && IFS= read -r _s <"$P/releases/$2/REVISION"
	printf -v "$1" '%s' "${_s:--}"
}
sha_of() { local s; revision s "$1"; printf '%s\n' "$s"; }

# log_event SHA RELEASE EVENT REF appends a line to .deploys. An append
# that fails on a full disk can still have written the line's first bytes
# (up to the end of the file's last block): they are cut off again, or
# the next line would run into them and .deploys would name a sha no
# deploy had.
log_event() { # sha release event ref
	local t line
	now t
	printf -v line '%s\t%s\t%s\t%s\t%s\t%s\n' "$1" "$2" "$t" "$3" "$4" "$WHO"
	printf '%s' "$line" >>"$P/.deploys" && return 0
	unappend "$P/.deploys" "$line"
	return 1
}

# unappend FILE LINE cuts from FILE's end what a failed append of LINE
# left: the bytes after its last newline, when they are the start of
# LINE (anything else is left alone). truncate frees, so it works on a
# full disk. Byte counts: LC_ALL=C.
unappend() {
	local LC_ALL=C size end
	size=$(stat -c %s -- "$1") && end=$(tail -c "$((${#2} - 1))" -- "$1" && echo .) || return 0
	end=${end%.}
	[ -n "$end" ] && [[ $end != *$'\n' ]] || return 0
	end=${end##*$'\n'}
	[[ $2 == "$end"* ]] || return 0
	truncate -s "$((size - ${#end}))" -- "$1" ||
		echo "warning: $1 ends with part of a line this command could not finish writing; remove it by hand: it would run into the next line"
}

# hook_env RELEASE PREVIOUS sets HOOK_ENV to what hooks see, as NAME=value
# words for env(1): SHARED (the classic tool's name for <path>/shared; the
# env key may override it), the env key's variables, then the DEPLOY_
# contract. Nothing is exported into this shell, so a variable named like
# one of the script's own (SHA, P, SHARED, …) cannot change what it runs.
HOOK_ENV=()
hook_env() {
	HOOK_ENV=("SHARED=$P/shared" ${VARS[@]+"${VARS[@]}"} "DEPLOY_ENV=$D_ENV" "DEPLOY_PATH=$P" "DEPLOY_RELEASE=$1"
		"DEPLOY_SHA=$SHA" "DEPLOY_REF=$REF" "DEPLOY_PREVIOUS=$2")
}

# run_in DIR RELEASE PREVIOUS CMD... runs CMD in DIR in its own session (so
# an abort stops the whole tree), stdin /dev/null, output on stdout, the lock
# fd closed; RELEASE other than "-" gives it the hook environment. It waits
# with `wait` so that a signal is handled at once.
SETSID=()
command -v setsid >/dev/null 2>&1 && SETSID=(setsid -w)
run_in() {
	local dir=$1 rel=$2 prev=$3 rc=0
	shift 3
	(
		cd -- "$dir" || exit 1
		[ "$rel" = - ] || { hook_env "$rel" "$prev"; exec env "${HOOK_ENV[@]}" ${SETSID[@]+"${SETSID[@]}"} "$@"; }
		exec ${SETSID[@]+"${SETSID[@]}"} "$@"
	) </dev/null 2>&1 3<&- 4>&- 9>&- &
	CHILD=$!
	wait "$CHILD" || rc=$?
	CHILD=''
	return "$rc"
}

# hook NAME COMMAND DIR RELEASE PREVIOUS runs a configured hook and returns
# its status; an empty COMMAND does nothing.
hook() {
	local name=$1 cmd=$2 lflag=()
	[ -n "$cmd" ] || return 0
	step "$name"
	[ "$SHELL_MODE" = login ] && lflag=(-l)
	if [ "$TTY" = 1 ]; then
		# needs_tty: util-linux script(1) gives the hook a pseudo-terminal.
		# The command travels in the environment, never in script's text.
		command -v script >/dev/null 2>&1 || {
			echo "needs_tty: script(1) from util-linux is not installed on this server" >&2
			return 127
		}
		DEPLOY_HOOK_CMD=$cmd run_in "$3" "$4" "$5" env SHELL=/bin/bash \
			script -qefc "exec bash ${lflag[*]-} -c \"\$DEPLOY_HOOK_CMD\"" /dev/null
		return
	fi
	run_in "$3" "$4" "$5" bash ${lflag[@]+"${lflag[@]}"} -c "$cmd"
}

# watch_control reads the client's decision line in the background; EOF
# (a dropped connection, Ctrl-C on the laptop) aborts the script at once.
# The watcher's exit status is the decision (no file to make and remove):
# 0 switch, 3 abort, 6 release (a fleet's release-command), 4 anything else.
watch_control() {
	(
		trap - EXIT INT TERM HUP PIPE
		if IFS= read -r d <&3; then
			case $d in switch) exit 0 ;; abort) exit 3 ;; release) exit 6 ;; *) exit 4 ;; esac
		fi
		kill -TERM $$ 2>/dev/null
		exit 5
	) </dev/null >/dev/null 2>&1 4>&- 9>&- &
	WATCHER=$!
}

# decision waits for the client's first decision line and sets DECISION.
DECISION=''
decision() {
	local rc=0
	wait "$WATCHER" 2>/dev/null || rc=$?
	WATCHER=''
	case $rc in
	0) DECISION=switch ;;
	3) DECISION=abort ;;
	6) DECISION=release ;;
	4) DECISION='something other than switch, release or abort' ;;
	*) DECISION='' ;;
	esac
}

# ---- lock ------------------------------------------------------------------
lock() { # what
	[ -d "$P/releases" ] || { STEP=lock; fail "$P is not set up: run 'deploy <env> setup' first"; }
	step lock
	open_lock
	if ! flock -n 9; then
		local holder
		holder=$(holder_text)
		[ "$WAIT" = 1 ] || fail "locked by $holder: wait with --wait, or if it is stuck run 'deploy ${D_ENV:-<env>} unlock --force'"
		mark "waiting lock held by $holder"
		flock 9 &
		CHILD=$!
		wait "$CHILD"
		CHILD=''
	fi
	LOCKED=1
	STATE=locked
	local t
	now t
	printf '%s\t%s\t%s\t%s\n' "$WHO" "$$" "$t" "$1" >"$P/.deploy.lock" ||
		fail "cannot write who holds the lock to $P/.deploy.lock (full disk, read-only, or another user's?): nothing was changed"
}

# open_lock opens the lock file as fd 9 for lock and unlock (status and
# check probe it read-only).
open_lock() {
	exec 9>>"$P/.deploy.lock" ||
		fail "cannot open $P/.deploy.lock (the line above says why): $P and what is in it must be the deploy user's (chown -R), on a disk with room: nothing was changed"
}

holder_text() {
	local who pid since what
	IFS=$'\t' read -r who pid since what <"$P/.deploy.lock" || true
	[ -n "${who:-}" ] || { echo "an unknown holder"; return; }
	echo "$who (pid $pid, $what) since $since"
}

