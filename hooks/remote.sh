# deploy-remote: the server side of `deploy`. Read hooks/doc.go for the
# protocol. This text arrives on stdin, is read up to a NUL by the bootstrap
# and eval'd; every value comes in "$@" as name=value, never as shell text.
set -euo pipefail
umask 022

M='@@deploy'
mark() { printf '%s %s\n' "$M" "$*" 2>/dev/null || true; }
now() { date -u +%Y-%m-%dT%H:%M:%SZ; }

# ---- arguments -------------------------------------------------------------
CMD=${1:-}
(($#)) && shift
D_ENV='' P='' REPO='' REF='' WHO='unknown' KEEP=5 SHELL_MODE='' N=1
H_PRE='' H_POST='' H_SETUP='' H_TEST='' RESTART_FILE='' WAIT=0 FORCE=0
NO_TEST=0 HOLD=0
SHARED=() VARS=() REST=()
while (($#)); do
	a=$1
	shift
	case $a in
	--) REST=("$@"); break ;;
	env=*) D_ENV=${a#*=} ;;
	path=*) P=${a#*=} ;;
	repo=*) REPO=${a#*=} ;;
	ref=*) REF=${a#*=} ;;
	who=*) WHO=${a#*=} ;;
	keep=*) KEEP=${a#*=} ;;
	shell=*) SHELL_MODE=${a#*=} ;;
	n=*) N=${a#*=} ;;
	pre-deploy=*) H_PRE=${a#*=} ;;
	post-deploy=*) H_POST=${a#*=} ;;
	post-setup=*) H_SETUP=${a#*=} ;;
	test=*) H_TEST=${a#*=} ;;
	restart-file=*) RESTART_FILE=${a#*=} ;;
	shared=*) SHARED+=("${a#*=}") ;;
	var=*) VARS+=("${a#*=}") ;;
	wait=*) WAIT=${a#*=} ;;
	force=*) FORCE=${a#*=} ;;
	no-test=*) NO_TEST=${a#*=} ;;
	hold=*) HOLD=${a#*=} ;;
	*) mark "fail args unknown argument '${a%%=*}': the laptop's deploy and this script disagree"; exit 2 ;;
	esac
done

# ---- state and cleanup -----------------------------------------------------
STEP=start   # the step running now, reported on failure
STATE=init   # init | locked | preparing | prepared | switched | done
REPORTED=0   # a fail line was printed
LOCKED=0 CHILD='' WATCHER='' CTL='' REL='' SHA='' OLD='' OLD_SHA=''

step() { STEP=$1; mark "step $1"; }
fail() { mark "fail $STEP $*"; REPORTED=1; exit 1; }

on_exit() {
	local rc=$?
	trap - EXIT
	trap '' PIPE INT TERM HUP
	set +e
	[ -n "$CHILD" ] && { kill -TERM -- "-$CHILD" 2>/dev/null || kill -TERM "$CHILD" 2>/dev/null; wait "$CHILD" 2>/dev/null; }
	[ -n "$WATCHER" ] && kill "$WATCHER" 2>/dev/null
	[ -n "$CTL" ] && rm -f "$CTL"
	if [ "$rc" != 0 ] && [ "$REPORTED" = 0 ]; then
		mark "fail $STEP exit status $rc${ABORTED:+ ($ABORTED)}"
	fi
	if [ "$STATE" = preparing ] || [ "$STATE" = prepared ]; then
		[ -n "$REL" ] && rm -rf -- "$P/releases/$REL"
		log_event "${SHA:--}" "${REL:--}" failed "${REF:-HEAD}"
		mark "discarded ${REL:--}"
	fi
	[ "$LOCKED" = 1 ] && : >"$P/.deploy.lock"
	mark "exit $rc"
	exit "$rc"
}
trap on_exit EXIT
trap 'ABORTED=interrupted; exit 130' INT TERM HUP
trap 'ABORTED="connection lost"; exit 141' PIPE

# fd 3 is the control channel (the rest of stdin); children get /dev/null.
exec 3<&0 0</dev/null

# ---- validation (the laptop checked too; this is defence in depth) ---------
check_common() {
	case $P in /*) ;; *) fail "path '$P' is not absolute" ;; esac
	case $P in *$'\n'* | *$'\t'*) fail "path contains a newline or tab" ;; esac
	[[ $KEEP =~ ^[1-9][0-9]*$ ]] || fail "keep '$KEEP' is not a positive number"
	[[ $N =~ ^[1-9][0-9]*$ ]] || fail "revert count '$N' is not a positive number"
	case $WHO$REF in *$'\n'* | *$'\t'*) fail "ref or user contains a newline or tab" ;; esac
	local kv p
	for kv in ${VARS[@]+"${VARS[@]}"}; do
		[[ ${kv%%=*} =~ ^[A-Za-z_][A-Za-z0-9_]*$ ]] || fail "env variable name '${kv%%=*}' is not a valid name"
	done
	for p in ${SHARED[@]+"${SHARED[@]}"}; do
		case /$p/ in //* | */../* | */./*) fail "shared path '$p' must be relative, without . or .." ;; esac
	done
}

# ---- helpers ---------------------------------------------------------------
git_() { git --git-dir="$P/repo" "$@"; }
current_id() { local l; l=$(readlink -- "$P/current" 2>/dev/null) || return 0; printf '%s\n' "${l##*/}"; }
sha_of() { [ -f "$P/releases/$1/REVISION" ] && head -n1 "$P/releases/$1/REVISION" || echo -; }

log_event() { # sha release event ref
	printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$1" "$2" "$(now)" "$3" "$4" "$WHO" >>"$P/.deploys"
}

# hook_env exports what hooks see; called in the hook's own subshell.
hook_env() {
	local kv
	for kv in ${VARS[@]+"${VARS[@]}"}; do export -- "$kv"; done
	export DEPLOY_ENV="$D_ENV" DEPLOY_PATH="$P" DEPLOY_RELEASE="$1" \
		DEPLOY_SHA="$SHA" DEPLOY_REF="$REF" DEPLOY_PREVIOUS="$2"
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
		[ "$rel" = - ] || hook_env "$rel" "$prev"
		exec ${SETSID[@]+"${SETSID[@]}"} "$@"
	) </dev/null 2>&1 3<&- 9>&- &
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
	run_in "$3" "$4" "$5" bash ${lflag[@]+"${lflag[@]}"} -c "$cmd"
}

# watch_control reads the client's decision line in the background; EOF
# (a dropped connection, Ctrl-C on the laptop) aborts the script at once.
watch_control() {
	CTL=$(mktemp "${TMPDIR:-/tmp}/deploy-ctl.XXXXXX")
	(
		trap - EXIT INT TERM HUP PIPE
		if IFS= read -r d <&3; then printf '%s\n' "$d" >"$CTL"; else kill -TERM $$ 2>/dev/null; fi
	) </dev/null >/dev/null 2>&1 9>&- &
	WATCHER=$!
}

# decision waits for the client's first decision line and sets DECISION.
DECISION=''
decision() {
	wait "$WATCHER" 2>/dev/null || true
	WATCHER=''
	DECISION=$(head -n1 "$CTL")
}

# ---- lock ------------------------------------------------------------------
lock() { # what
	[ -d "$P/releases" ] || { STEP=lock; fail "$P is not set up: run 'deploy <env> setup' first"; }
	step lock
	exec 9>>"$P/.deploy.lock"
	if ! flock -n 9; then
		local holder
		holder=$(holder_text)
		[ "$WAIT" = 1 ] || fail "locked by $holder: wait with --wait, or if it is stuck run 'deploy <env> unlock --force'"
		mark "waiting lock held by $holder"
		flock 9 &
		CHILD=$!
		wait "$CHILD"
		CHILD=''
	fi
	LOCKED=1
	STATE=locked
	printf '%s\t%s\t%s\t%s\n' "$WHO" "$$" "$(now)" "$1" >"$P/.deploy.lock"
}

holder_text() {
	local who pid since what
	IFS=$'\t' read -r who pid since what <"$P/.deploy.lock" || true
	[ -n "${who:-}" ] || { echo "an unknown holder"; return; }
	echo "$who (pid $pid, $what) since $since"
}

# ---- commands --------------------------------------------------------------
cmd_setup() {
	step layout
	mkdir -p -- "$P/repo" "$P/releases" "$P/shared"
	lock setup
	step mirror
	if [ -f "$P/repo/HEAD" ]; then
		git_ remote set-url origin -- "$REPO" 2>/dev/null || git_ remote set-url origin "$REPO"
		mark "info mirror exists"
	else
		run_in "$P" - - git clone --mirror --quiet -- "$REPO" "$P/repo" || fail "git clone of the repo failed (status $?): check repo and the server's access to it"
	fi
	local p
	for p in ${SHARED[@]+"${SHARED[@]}"}; do
		case $p in */) mkdir -p -- "$P/shared/$p" ;; esac
	done
	SHA='' hook post-setup "$H_SETUP" "$P" "" "" || fail "post-setup hook exited with status $?"
	mark done
}

cmd_deploy() {
	watch_control
	lock deploy
	OLD=$(current_id)
	[ -n "$OLD" ] && OLD_SHA=$(sha_of "$OLD")
	mark "info old ${OLD:--} ${OLD_SHA:--}"
	STATE=preparing
	step fetch
	run_in "$P" - - git --git-dir="$P/repo" fetch --prune --quiet origin || fail "git fetch failed (status $?)"
	step resolve
	[ -n "$REF" ] || default_branch
	SHA=$(resolve "$REF") || fail "ref '$REF' is not a branch, tag or commit of the repo"
	step checkout
	new_release "$SHA"
	mark "info new $REL $SHA"
	git_ archive --format=tar "$SHA" | tar -x -C "$P/releases/$REL" || fail "git archive of $SHA failed"
	printf '%s\n' "$SHA" >"$P/releases/$REL/REVISION"
	link_shared "$P/releases/$REL"
	local prevdir=''
	[ -n "$OLD" ] && prevdir="$P/releases/$OLD"
	hook pre-deploy "$H_PRE" "$P/releases/$REL" "$P/releases/$REL" "$prevdir" ||
		fail "pre-deploy hook exited with status $?: current is unchanged"
	STATE=prepared
	STEP=prepared
	mark "prepared $REL $SHA"
	decision
	[ "$DECISION" = switch ] || fail "aborted before the switch (client said '${DECISION:-nothing}'): current is unchanged"
	step switch
	switch_to "$REL"
	log_event "$SHA" "$REL" deploy "$REF"
	STATE=switched
	mark "switched $REL $SHA"
	restart "$REL" "$prevdir"
	local rc=0
	[ "$NO_TEST" = 1 ] || hook test "$H_TEST" "$P/releases/$REL" "$P/releases/$REL" "$prevdir" || rc=$?
	if ((rc)); then
		revert_to_previous "test hook exited with status $rc"
		STEP=test
		fail "test hook exited with status $rc: reverted to $OLD"
	fi
	hold_gate "$prevdir"
	prune
	STATE=done
	mark done
}

# hold_gate: with hold=1 the client runs its health gate over all hosts and
# then says `commit` or `revert` (EOF = revert: never leave a host on a
# version the fleet did not agree on).
hold_gate() {
	[ "$HOLD" = 1 ] || return 0
	STEP=gate
	mark "gate $REL $SHA"
	local d=''
	IFS= read -r d <&3 || d=''
	[ "$d" = commit ] && return 0
	revert_to_previous "the client said '${d:-nothing}'"
	[ "$d" = revert ] || { STEP=gate; fail "no commit from the client (it said '${d:-nothing}'): reverted to $OLD"; }
	STATE=done
	mark done
	exit 0
}

# revert_to_previous relinks the release that was current before this deploy.
revert_to_previous() {
	[ -n "$OLD" ] && [ -d "$P/releases/$OLD" ] || fail "$1, and there is no previous release to revert to"
	step revert
	switch_to "$OLD"
	log_event "$OLD_SHA" "$OLD" revert "$REF"
	mark "reverted $OLD $OLD_SHA"
	restart "$OLD" ""
}

restart() { # release previous-dir
	local dir="$P/releases/$1"
	if [ -n "$RESTART_FILE" ]; then
		step restart
		mkdir -p -- "$(dirname -- "$dir/$RESTART_FILE")"
		touch -- "$dir/$RESTART_FILE"
	fi
	hook post-deploy "$H_POST" "$dir" "$dir" "$2" || fail "post-deploy hook exited with status $?"
}

# default_branch sets REF to the origin's default branch (its HEAD).
default_branch() {
	REF=$(git_ ls-remote --symref origin HEAD 2>/dev/null | sed -n 's|^ref: refs/heads/\(.*\)[[:space:]]HEAD$|\1|p') || true
	[ -n "$REF" ] || REF=$(git_ symbolic-ref --short HEAD 2>/dev/null) || true
	[ -n "$REF" ] || fail "cannot find the origin's default branch: set ref"
}

resolve() {
	local r=$1 c
	for c in "refs/heads/$r" "refs/tags/$r" "$r"; do
		git_ rev-parse --verify --quiet "$c^{commit}" 2>/dev/null && return 0
	done
	return 1
}

# new_release creates a unique release directory for sha $1 and sets REL.
new_release() {
	local base i=1 id
	base="$(date -u +%Y%m%dT%H%M%SZ)-${1:0:7}"
	id=$base
	until mkdir -- "$P/releases/$id" 2>/dev/null; do
		i=$((i + 1))
		((i < 100)) || fail "cannot create a release directory under $P/releases"
		id="$base-$i"
	done
	REL=$id
}

link_shared() {
	local rel=$1 p t
	((${#SHARED[@]})) || return 0
	step shared
	for p in "${SHARED[@]}"; do
		p=${p%/}
		t="$P/shared/$p"
		if [ ! -e "$t" ] && [ ! -L "$t" ]; then
			mkdir -p -- "$(dirname -- "$t")"
			if [ -e "$rel/$p" ]; then cp -a -- "$rel/$p" "$t"; else mkdir -p -- "$t"; fi
		fi
		rm -rf -- "${rel:?}/$p"
		mkdir -p -- "$(dirname -- "$rel/$p")"
		ln -s -- "$t" "$rel/$p"
	done
}

# switch_to points current at releases/$1 atomically: a new link under a
# temp name, then rename(2) over current (mv -T), never ln -sfn.
switch_to() {
	local tmp="$P/.current.tmp.$$"
	[ ! -e "$P/current" ] || [ -L "$P/current" ] || fail "$P/current is not a symlink: move it away"
	rm -f -- "$tmp"
	ln -s -- "releases/$1" "$tmp"
	mv -T -- "$tmp" "$P/current"
}

# deploy_ids prints the release ids of successful deploys, oldest first.
deploy_ids() { [ -f "$P/.deploys" ] && awk -F'\t' '$4 == "deploy" { print $2 }' "$P/.deploys" || true; }

# back_from CUR N sets TARGET to the release N successful deploys before CUR.
back_from() {
	local cur=$1 n=$2 i=-1 k ids
	mapfile -t ids < <(deploy_ids)
	for k in "${!ids[@]}"; do [ "${ids[k]}" = "$cur" ] && i=$k; done
	((i >= 0)) || fail "current release '${cur:-none}' is not a successful deploy in .deploys"
	((i - n >= 0)) || fail "cannot go back $n: only $i successful deploy(s) before $cur"
	TARGET=${ids[i - n]}
}

in_list() { # word list...
	local w=$1 x
	shift
	for x in "$@"; do [ "$x" = "$w" ] && return 0; done
	return 1
}

# prune keeps $KEEP releases, never current nor what revert 1..KEEP-1 needs.
# Oldest go first: directories .deploys does not know as deploys (failed,
# killed), then deploys in log order (ids of one second do not sort by time).
prune() {
	step prune
	local cur ids keep=() r i=-1 k all=() order=()
	cur=$(current_id)
	mapfile -t ids < <(deploy_ids)
	for k in "${!ids[@]}"; do [ "${ids[k]}" = "$cur" ] && i=$k; done
	keep+=("$cur")
	for ((k = i - 1; k >= 0 && k > i - KEEP; k--)); do keep+=("${ids[k]}"); done
	mapfile -t all < <(ls -1 -- "$P/releases")
	for r in ${all[@]+"${all[@]}"}; do in_list "$r" ${ids[@]+"${ids[@]}"} || order+=("$r"); done
	for r in ${ids[@]+"${ids[@]}"}; do
		[ -d "$P/releases/$r" ] && ! in_list "$r" ${order[@]+"${order[@]}"} && order+=("$r")
	done
	local excess=$((${#all[@]} - KEEP))
	for r in ${order[@]+"${order[@]}"}; do
		((excess > 0)) || break
		in_list "$r" "${keep[@]}" && continue
		rm -rf -- "${P:?}/releases/$r"
		mark "info pruned $r"
		excess=$((excess - 1))
	done
}

cmd_revert() {
	watch_control
	lock "revert $N"
	OLD=$(current_id)
	[ -n "$OLD" ] || fail "nothing is deployed yet"
	OLD_SHA=$(sha_of "$OLD")
	mark "info old $OLD $OLD_SHA"
	local target tsha
	step revert
	back_from "$OLD" "$N"
	target=$TARGET
	[ -d "$P/releases/$target" ] || fail "release $target was pruned (keep=$KEEP): cannot go back $N"
	tsha=$(sha_of "$target")
	SHA=$tsha
	REF=$(awk -F'\t' -v r="$target" '$2 == r && $4 == "deploy" { ref = $5 } END { print ref }' "$P/.deploys")
	step switch
	switch_to "$target"
	log_event "$tsha" "$target" revert "$REF"
	mark "reverted $target $tsha"
	restart "$target" "$P/releases/$OLD"
	mark done
}

cmd_list() {
	mark "current $(current_id)"
	[ -f "$P/.deploys" ] && cat -- "$P/.deploys"
	mark done
}

cmd_release() { # curr | prev
	local cur target
	cur=$(current_id)
	[ -n "$cur" ] || fail "nothing is deployed yet"
	target=$cur
	if [ "$1" = prev ]; then
		back_from "$cur" 1
		target=$TARGET
	fi
	mark "release $target $(sha_of "$target") $([ -d "$P/releases/$target" ] && echo present || echo pruned)"
	mark done
}

cmd_exec() {
	local lflag=()
	[ -L "$P/current" ] || fail "nothing is deployed yet at $P"
	((${#REST[@]})) || fail "no command given"
	[ "$SHELL_MODE" = login ] && lflag=(-l)
	SHA=$(sha_of "$(current_id)")
	trap - EXIT
	cd -- "$P/current"
	hook_env "$P/current" ""
	if ((${#REST[@]} == 1)); then
		exec bash ${lflag[@]+"${lflag[@]}"} -c "${REST[0]}" <&3 3<&-
	fi
	exec bash ${lflag[@]+"${lflag[@]}"} -c '"$@"' deploy-exec "${REST[@]}" <&3 3<&-
}

cmd_unlock() {
	step unlock
	[ -f "$P/.deploy.lock" ] || { mark "unlock never"; mark done; return; }
	local holder pid
	holder=$(holder_text)
	exec 9>>"$P/.deploy.lock"
	if flock -n 9; then
		: >"$P/.deploy.lock"
		mark "unlock free $holder"
		mark done
		return
	fi
	[ "$FORCE" = 1 ] || fail "held by $holder, which is still running: pass --force to stop it"
	pid=$(cut -f2 "$P/.deploy.lock")
	[[ $pid =~ ^[0-9]+$ ]] || fail "cannot tell which process holds the lock"
	kill -TERM "$pid" 2>/dev/null || true
	flock -w 30 9 || fail "pid $pid still holds the lock after 30s"
	: >"$P/.deploy.lock"
	mark "unlock broken $holder"
	mark done
}

cmd_status() {
	local cur behind=0 ids i=-1 k
	cur=$(current_id)
	mapfile -t ids < <(deploy_ids)
	for k in "${!ids[@]}"; do [ "${ids[k]}" = "$cur" ] && i=$k; done
	((i >= 0)) && behind=$((${#ids[@]} - 1 - i))
	mark "status current ${cur:--} $([ -n "$cur" ] && sha_of "$cur" || echo -)"
	mark "status behind $behind"
	mark "status layout $([ -d "$P/repo" ] && [ -d "$P/releases" ] && echo ok || echo missing)"
	exec 9>>"$P/.deploy.lock" 2>/dev/null || true
	if flock -n 9 2>/dev/null; then mark "status lock free"; else mark "status lock $(holder_text)"; fi
	mark "status disk-free-kb $(df -Pk -- "$P" 2>/dev/null | awk 'NR == 2 { print $4 }')"
	mark done
}

check_common
case $CMD in
setup) cmd_setup ;;
deploy) cmd_deploy ;;
revert) cmd_revert ;;
list) cmd_list ;;
curr | prev) cmd_release "$CMD" ;;
exec) cmd_exec ;;
unlock) cmd_unlock ;;
status) cmd_status ;;
*) STEP=args; fail "unknown command '$CMD'" ;;
esac
