# commands.sh: the script's commands and their dispatch. Part of the
# remote script (lib.sh, release.sh, mirror.sh, gate.sh, build.sh,
# depcache.sh, commands.sh run as one text).

cmd_setup() {
	step layout
	# shared/logs and shared/pids: the classic tool's setup made them
	mkdir -p -- "$P/repo" "$P/releases" "$P/shared/logs" "$P/shared/pids"
	lock setup
	step mirror
	if [ -f "$P/repo/HEAD" ]; then
		if [ "$SOURCE" != push ] && [ -n "$REPO" ]; then
			git_ remote set-url origin -- "$REPO" 2>/dev/null || git_ remote set-url origin "$REPO"
		fi
		mark "info mirror exists"
	elif [ "$SOURCE" = push ] || [ "$SOURCE" = artifact ]; then
		# source push: the server never reaches the origin; deploys send
		# their commits into this repository (build local: it stays empty,
		# for a layout like every other).
		git init --bare --quiet -- "$P/repo" || fail "git init --bare $P/repo failed (status $?)"
		echo "created an empty git repository at $P/repo: each deploy pushes the commits it lacks"
	else
		# a bare clone: the origin's branches and tags (as the classic
		# tool's clone has them), not a --mirror of every ref it has
		# (GitHub's refs/pull/*: see mirror_refspecs)
		run_in "$P" - - git clone --bare --quiet -- "$REPO" "$P/repo" || fail "git clone of the repo failed (status $?): check repo and the server's access to it"
		narrow_mirror
	fi
	local p
	for p in ${SHARED[@]+"${SHARED[@]}"}; do
		case $p in */) mkdir -p -- "$P/shared/$p" ;; esac
	done
	for p in ${SHARED_FILES[@]+"${SHARED_FILES[@]}"}; do
		[ -e "$P/shared/$p" ] || [ -L "$P/shared/$p" ] && continue
		mkdir -p -- "$(dirname -- "$P/shared/$p")"
		(umask 027 && : >"$P/shared/$p")
		echo "created $P/shared/$p as an empty file (mode 0640): fill it in before the first deploy"
	done
	SHA='' hook post-setup "$H_SETUP" "$P" "" "" || fail "post-setup hook exited with status $?"
	mark "done"
}

cmd_deploy() {
	# what ships from the laptop comes first on the control channel
	case $SOURCE in
	push) receive_push ;;
	artifact) receive_artifact ;;
	esac
	watch_control
	lock deploy
	cur_id
	OLD=$CUR
	[ -z "$OLD" ] || revision OLD_SHA "$OLD"
	mark "info old ${OLD:--} ${OLD_SHA:--}"
	STATE=preparing
	if [ "$SOURCE" = push ]; then
		# receive_push (or the git push hook) brought the commit
		step resolve
		[ -n "$SHA_ARG" ] || { STATE=locked; fail "source push needs sha=<commit>: the laptop's deploy and this script disagree"; }
		git_ cat-file -e "$SHA_ARG^{commit}" 2>/dev/null ||
			{ STATE=locked; fail "commit $SHA_ARG is not in $P/repo (the push did not arrive?): nothing was changed; deploy again"; }
		SHA=$SHA_ARG
	elif [ "$SOURCE" = artifact ]; then
		# receive_artifact staged it
		step resolve
		[ -n "$SHA_ARG" ] || { STATE=locked; fail "source artifact needs sha=: the laptop's deploy and this script disagree"; }
		SHA=$SHA_ARG
	else
		fetch_and_resolve
	fi
	step checkout
	if [ "$SOURCE" = artifact ]; then
		new_release "$SHA" name
		mark "info new $REL $SHA"
		mv -T -- "$STAGED" "$P/releases/$REL" || fail "cannot move the staged upload into releases/$REL"
	else
		new_release "$SHA" git
		mark "info new $REL $SHA"
		checkout "$P/releases/$REL" "$SHA" || fail "git checkout of $SHA into releases/$REL failed (status $?; git says why: a full disk? an LFS file the origin could not serve?)"
		keep_release "$REL" "$SHA"
		submodules_note "$P/releases/$REL"
		lfs_note "$P/releases/$REL"
	fi
	printf '%s\n' "$SHA" >"$P/releases/$REL/REVISION" || fail "cannot write releases/$REL/REVISION (full disk?)"
	link_shared "$P/releases/$REL"
	local prevdir=''
	[ -n "$OLD" ] && prevdir="$P/releases/$OLD"
	if [ "$BUILD" = auto ] && [ -n "$H_PRE" ]; then
		echo "build auto: pre-deploy is set, and an explicit pre-deploy wins: no stack detection"
	elif [ "$BUILD" = auto ]; then
		build_auto "$P/releases/$REL" "$prevdir"
	fi
	hook pre-deploy "$H_PRE" "$P/releases/$REL" "$P/releases/$REL" "$prevdir" ||
		fail "pre-deploy hook exited with status $?: current is unchanged"
	# release-command: once per deploy (a fleet's first host alone gets
	# it), after the build and before the switch, as Heroku's release
	# phase and Capistrano's deploy:migrate run; in a fleet (hold=1) once
	# every host is built, when the client says `release`
	[ "$HOLD" = 1 ] || release_command "$prevdir"
	STATE=prepared
	STEP=prepared
	mark "prepared $REL $SHA"
	decision
	if [ "$HOLD" = 1 ] && [ -n "$H_RELEASE" ]; then
		[ "$DECISION" = release ] || fail "aborted before the release-command (client said '${DECISION:-nothing}'): current is unchanged"
		release_command "$prevdir"
		STEP=prepared
		mark "released $REL $SHA"
		watch_control
		decision
	fi
	[ "$DECISION" = switch ] || fail "aborted before the switch (client said '${DECISION:-nothing}'): current is unchanged"
	step switch
	switch_to "$REL"
	# current and .deploys must agree: a log that cannot be written (full
	# disk, read-only file) puts current back before anything restarted.
	if ! log_event "$SHA" "$REL" deploy "$REF"; then
		put_back "$OLD"
		fail "cannot append to $P/.deploys (full disk, read-only, or another user's?): current is unchanged"
	fi
	STATE=switched # from here on the release is live: never removed on exit
	mark "switched $REL $SHA"
	restart_gated "$REL" "$prevdir"
	if [ -n "$GATE_FAIL" ]; then
		local why=$GATE_FAIL # the revert's own restart resets GATE_FAIL
		hold_gate "$why"
		STEP=gate
		revert_to_previous "restart or health gate failed: $why"
		STEP=gate
		fail "restart or health gate failed: $why: reverted to $OLD$REVERT_NOTE"
	fi
	local rc=0
	[ "$NO_TEST" = 1 ] || hook test "$H_TEST" "$P/releases/$REL" "$P/releases/$REL" "$prevdir" || rc=$?
	if ((rc)); then
		revert_to_previous "test hook exited with status $rc"
		STEP='test'
		fail "test hook exited with status $rc: reverted to $OLD$REVERT_NOTE"
	fi
	hold_gate ""
	prune
	keep_release_wait
	STATE="done"
	mark "done"
}

# read_blob WHAT FILE reads, from the control channel (fd 3), a line
# "<WHAT> <bytes>" and then exactly that many bytes into FILE (head -c
# never reads past them, so the channel stays in step for the decisions
# that follow). A laptop that dies midway leaves FILE short: an error.
read_blob() {
	local word n
	IFS=' ' read -r word n <&3 || fail "the laptop closed the connection before sending the $1: nothing was changed"
	[ "$word" = "$1" ] && [[ $n =~ ^[0-9]+$ ]] || fail "expected '$1 <bytes>' from the laptop, got '${word:0:20}': the laptop's deploy and this script disagree"
	if ((n > 0)); then
		head -c "$n" <&3 >"$2" || fail "cannot write the $1 under $P (full disk?)"
	else
		: >"$2"
	fi
	[ "$(stat -c %s -- "$2")" = "$n" ] || fail "the $1 arrived short (the connection was cut): nothing was changed"
}

# receive_push (source push, push-ref= given): lists the mirror's ref tips
# as "have <sha>" lines, then "info haves <n>", and reads the pack of what
# lies beyond them ("pack <bytes>" + a git pack) into the mirror with git
# index-pack, then points push-ref at sha=, so that the commit stays
# reachable and counts as a have next time. It runs before the lock:
# adding objects is safe next to another deploy, and update-ref is
# atomic. The git push hook gives no push-ref: its commit is there.
receive_push() {
	[ -n "$PUSH_REF" ] || return 0
	step push
	[ -f "$P/repo/HEAD" ] || fail "no git repository at $P/repo: run 'deploy ${D_ENV:-<env>} setup' first"
	case $PUSH_REF in
	refs/heads/?* | refs/tags/?* | refs/deploy/pushed) ;;
	*) fail "push-ref '$PUSH_REF' is not refs/heads/…, refs/tags/… or refs/deploy/pushed" ;;
	esac
	git check-ref-format "$PUSH_REF" || fail "push-ref '$PUSH_REF' is not a valid ref name"
	local h n=0 pack
	while IFS= read -r h; do
		mark "have $h"
		n=$((n + 1))
	done < <(git_ for-each-ref --format='%(objectname)' | sort -u)
	mark "info haves $n"
	pack=$(mktemp "$P/repo/incoming.XXXXXX") || fail "cannot create a file in $P/repo"
	TMPFILES+=("$pack")
	read_blob pack "$pack"
	if [ -s "$pack" ]; then
		git_ index-pack --stdin --fix-thin <"$pack" >/dev/null || fail "git index-pack failed (status $?): nothing was changed"
	fi
	rm -f -- "$pack"
	git_ cat-file -e "$SHA_ARG^{commit}" 2>/dev/null || fail "commit $SHA_ARG is not in $P/repo after the push"
	git_ update-ref -- "$PUSH_REF" "$SHA_ARG" || fail "cannot point $PUSH_REF at $SHA_ARG in $P/repo"
}

# receive_artifact (build local): reads the manifest ("manifest <bytes>" +
# one line per regular file, "<sha256>\t<mode>\t<size>\t<path>") and
# stages the new release in <path>/.staging/<pid>: every file whose copy
# in the current release has the same path, mode, size and sha256 is
# copied from there (never linked: no release can change another's
# files), hashed here on the server, since the laptop trusts no record of
# what the server has. It answers "need <n>" for each manifest line n to
# send, then "info reused <count>", and reads the tar of what it needs
# ("tar <bytes>" + a tar: those files, every directory and symlink).
# Sets STAGED.
receive_artifact() {
	step upload
	[ -d "$P/releases" ] || fail "$P is not set up: run 'deploy ${D_ENV:-<env>} setup' first"
	local dir="$P/.staging/$$" cur n
	mkdir -p -- "$P/.staging" || fail "cannot create $P/.staging"
	rm -rf -- "$dir" "$dir".*
	TMPFILES+=("$dir" "$dir.manifest" "$dir.have" "$dir.reuse" "$dir.tar")
	mkdir -- "$dir" || fail "cannot create $dir"
	read_blob manifest "$dir.manifest"
	: >"$dir.have"
	cur_id
	cur=$CUR
	if [ -n "$cur" ] && [ -d "$P/releases/$cur" ]; then
		# candidates: same path, size and mode in current; hashed in one sha256sum
		(cd -- "$P/releases/$cur" && awk -F'\t' 'FILENAME == ARGV[1] { meta[$3] = $1 "\t" $2; next }
			($4 in meta) && meta[$4] == $3 "\t" $2 { printf "%s%c", $4, 0 }' \
			<(find . -type f -printf '%s\t%m\t%P\n') "$dir.manifest" | xargs -0 -r sha256sum --) >"$dir.have" ||
			fail "cannot hash the current release's files"
	fi
	: >"$dir.reuse"
	while IFS= read -r n; do
		mark "need $n"
	done < <(awk -F'\t' -v list="$dir.reuse" '
		FILENAME == ARGV[1] { have[substr($0, 67)] = substr($0, 1, 64); next }
		have[$4] == $1 { printf "%s%c", $4, 0 > list; next }
		{ print FNR }' "$dir.have" "$dir.manifest")
	if [ -s "$dir.reuse" ]; then
		(cd -- "$P/releases/$cur" && tar -c --null -T "$dir.reuse" -f -) | tar -x -f - -C "$dir" ||
			fail "cannot copy the unchanged files from the current release (full disk?)"
	fi
	mark "info reused $(tr -cd '\0' <"$dir.reuse" | wc -c)"
	read_blob tar "$dir.tar"
	tar -x --no-same-owner -f "$dir.tar" -C "$dir" || fail "tar could not unpack the upload (status $?): full disk?"
	rm -f -- "$dir.tar" "$dir.have" "$dir.reuse"
	while IFS=$'\t' read -r _ _ _ n; do
		[ -f "$dir/$n" ] || fail "the upload lacks $n"
	done <"$dir.manifest"
	rm -f -- "$dir.manifest"
	STAGED=$dir
}

# cmd_githook installs `git push <env>` (setup --git-remote): this very
# script ($deploy_script, as the bootstrap read it) and the deploy's
# arguments (after --, NUL-ended) in <path>/.deploy/, the branch (ref=)
# in .deploy/git-push.branch, and pre-receive and post-receive hooks in
# repo/hooks that read them. The hooks are fixed text: every value stays
# in the data files, never in shell text.
cmd_githook() {
	step githook
	[ -f "$P/repo/HEAD" ] || fail "no git repository at $P/repo: run setup first"
	[ -n "$REF" ] || fail "githook needs ref=<branch>"
	git check-ref-format "refs/heads/$REF" || fail "'$REF' is not a branch name"
	local d="$P/.deploy" h
	mkdir -p -- "$d" "$P/repo/hooks" || fail "cannot create $d"
	# shellcheck disable=SC2154 # deploy_script: set by the bootstrap (script.Bootstrap)
	printf '%s' "$deploy_script" >"$d/script.tmp" && mv -f -- "$d/script.tmp" "$d/script" || fail "cannot write $d/script"
	printf '%s\0' ${REST[@]+"${REST[@]}"} >"$d/git-push.args" || fail "cannot write $d/git-push.args"
	printf '%s\n' "$REF" >"$d/git-push.branch" || fail "cannot write $d/git-push.branch"
	for h in pre-receive post-receive; do
		"githook_$h" >"$P/repo/hooks/$h.tmp" && chmod 755 "$P/repo/hooks/$h.tmp" &&
			mv -f -- "$P/repo/hooks/$h.tmp" "$P/repo/hooks/$h" || fail "cannot write $P/repo/hooks/$h"
	done
	echo "git push: a push to $REF in $P/repo deploys it; other branches are refused"
	mark "done"
}

githook_pre-receive() {
	cat <<'HOOK'
#!/usr/bin/env bash
# Installed by `deploy <env> setup --git-remote`: only the env's branch
# (../../.deploy/git-push.branch) may be pushed here, and never deleted.
set -u
d=$(cd -- "$(dirname -- "$0")/../.." && pwd)/.deploy
branch=$(cat -- "$d/git-push.branch")
while read -r _ new ref; do
	if [ "$ref" != "refs/heads/$branch" ]; then
		echo "deploy: this remote deploys branch $branch only: ${ref#refs/heads/} is refused (to deploy it: git push <remote> ${ref#refs/heads/}:$branch)"
		exit 1
	fi
	if [ "$new" = 0000000000000000000000000000000000000000 ]; then
		echo "deploy: deleting $branch here is refused"
		exit 1
	fi
done
HOOK
}

githook_post-receive() {
	cat <<'HOOK'
#!/usr/bin/env bash
# Installed by `deploy <env> setup --git-remote`: a push to the env's
# branch deploys the pushed commit with the same script as `deploy <env>`
# (lock, release, build, switch, health gate, log, revert on a failed
# gate). Its values are in ../../.deploy (script, git-push.args,
# git-push.branch). git ignores this hook's exit status: the push
# succeeds whatever the deploy does, and the last line says how it ended.
set -u
d=$(cd -- "$(dirname -- "$0")/../.." && pwd)/.deploy
branch=$(cat -- "$d/git-push.branch")
sha=''
while read -r _ new ref; do
	if [ "$ref" = "refs/heads/$branch" ] && [ "$new" != 0000000000000000000000000000000000000000 ]; then
		sha=$new
	fi
done
[ -n "$sha" ] || exit 0
unset GIT_DIR GIT_QUARANTINE_PATH GIT_OBJECT_DIRECTORY GIT_ALTERNATE_OBJECT_DIRECTORIES
mapfile -d '' args <"$d/git-push.args"
from=${SSH_CLIENT:-local}
# The script's protocol lines carry a mark of this push's (mark=, the
# script's first argument), so that a hook's output that looks like them
# is passed on as output. $RANDOM: no process to start.
printf -v m '%04x%04x%04x%04x' "$RANDOM" "$RANDOM" "$RANDOM" "$RANDOM"
printf 'switch\n' |
	bash -c 'deploy_script=$(cat -- "$1") && shift && eval "$deploy_script"' deploy-remote "$d/script" \
		deploy "mark=$m" "${args[@]}" "sha=$sha" "ref=$branch" "who=git push from ${from%% *}" 2>&1 |
	while IFS= read -r line; do
		case $line in
		"@@deploy:$m step "*) printf '==> %s\n' "${line#"@@deploy:$m step "}" ;;
		"@@deploy:$m fail "*) printf 'deploy failed: %s\n' "${line#"@@deploy:$m fail "}" ;;
		"@@deploy:$m "*) ;;
		*) printf '%s\n' "$line" ;;
		esac
	done
rc=${PIPESTATUS[1]}
if [ "$rc" = 0 ]; then
	echo "deployed ${sha:0:7} ($branch)"
else
	echo "deploy of ${sha:0:7} FAILED (status $rc): the lines above say where; current is unchanged or was put back"
fi
exit "$rc"
HOOK
}

# release_command PREVDIR runs release-command (if any) in the new release;
# its failure fails the deploy before the switch.
release_command() {
	hook release-command "$H_RELEASE" "$P/releases/$REL" "$P/releases/$REL" "$1" ||
		fail "release-command exited with status $?: current is unchanged"
}

# hold_gate WHY: with hold=1 the client gates all hosts together: the script
# reports this host's gate ("gate <id> <sha> ok", or "fail <why>" when the
# restart or healthcheck failed) and waits for `commit` (keep the release,
# even after a failed gate: --no-rollback) or `revert` (EOF = revert: never
# leave a host on a version the fleet did not agree on). Without hold=1 it
# returns at once.
hold_gate() {
	[ "$HOLD" = 1 ] || return 0
	STEP=gate
	if [ -n "$1" ]; then mark "gate $REL $SHA fail $1"; else mark "gate $REL $SHA ok"; fi
	local d=''
	IFS= read -r d <&3 || d=''
	if [ "$d" = commit ]; then
		[ -z "$1" ] || { prune; STATE="done"; mark "done"; exit 0; }
		return 0
	fi
	revert_to_previous "the client said '${d:-nothing}'"
	[ "$d" = revert ] || { STEP=gate; fail "no commit from the client (it said '${d:-nothing}'): reverted to $OLD$REVERT_NOTE"; }
	STATE="done"
	mark "done"
	exit 0
}

# revert_to_previous relinks the release that was current before this
# deploy and restarts it; REVERT_NOTE says when that one does not serve
# either (its gate is reported, not acted on: there is nothing older to go to).
REVERT_NOTE=''
revert_to_previous() {
	if [ -z "$OLD" ] || [ ! -d "$P/releases/$OLD" ]; then
		# nothing to go back to: current stays, but the release is logged
		# failed, so that .deploys and list do not call it deployed, and
		# no later revert goes back to it
		log_event "$SHA" "$REL" failed "$REF" || true
		fail "$1, and there is no previous release to revert to: current stays on $REL, logged failed"
	fi
	step revert
	# The release being put back did not serve: log it failed, so that a
	# later revert never goes back to it (deploy_ids skips it).
	log_event "$SHA" "$REL" failed "$REF" || true
	switch_to "$OLD"
	SHA=$OLD_SHA REF=$(ref_of "$OLD")
	# The rollback goes on (the old release must be restarted) even when
	# the log cannot be written; status then shows where they disagree.
	log_event "$SHA" "$OLD" revert "$REF" ||
		echo "warning: could not append the revert to $P/.deploys (full disk, read-only, or another user's?): current is $OLD"
	mark "reverted $OLD $SHA"
	restart_gated "$OLD" ""
	if [ -n "$GATE_FAIL" ]; then
		REVERT_NOTE=" (whose own restart failed too: $GATE_FAIL)"
		mark "info revert-gate fail $GATE_FAIL"
	fi
}

cmd_revert() {
	watch_control
	lock "revert $N"
	cur_id
	OLD=$CUR
	[ -n "$OLD" ] || fail "nothing is deployed yet"
	revision OLD_SHA "$OLD"
	mark "info old $OLD $OLD_SHA"
	local target tsha
	step revert
	back_from "$OLD" "$N" "$OLD_SHA"
	target=$TARGET
	[ -d "$P/releases/$target" ] || fail "release $target was pruned (keep=$KEEP): cannot go back $N"
	revision tsha "$target"
	SHA=$tsha
	REF=$(ref_of "$target")
	step switch
	switch_to "$target"
	if ! log_event "$tsha" "$target" revert "$REF"; then
		switch_to "$OLD"
		fail "cannot append to $P/.deploys (full disk, read-only, or another user's?): current is unchanged, still $OLD"
	fi
	STATE=switched
	mark "reverted $target $tsha"
	restart_gated "$target" "$P/releases/$OLD"
	[ -z "$GATE_FAIL" ] || { STEP=gate; fail "reverted to $target, but it does not serve: $GATE_FAIL"; }
	mark "done"
}

cmd_list() {
	mark "current $(current_id)"
	[ -f "$P/.deploys" ] && cat -- "$P/.deploys"
	mark "done"
}

cmd_release() { # curr | prev
	local cur target
	cur_id
	cur=$CUR
	[ -n "$cur" ] || fail "nothing is deployed yet"
	target=$cur
	if [ "$1" = prev ]; then
		back_from "$cur" 1
		target=$TARGET
	fi
	mark "release $target $(sha_of "$target") $([ -d "$P/releases/$target" ] && echo present || echo pruned)"
	mark "done"
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
		exec env "${HOOK_ENV[@]}" bash ${lflag[@]+"${lflag[@]}"} -c "${REST[0]}" <&3 3<&- 2>&4 4>&-
	fi
	exec env "${HOOK_ENV[@]}" bash ${lflag[@]+"${lflag[@]}"} -c '"$@"' deploy-exec "${REST[@]}" <&3 3<&- 2>&4 4>&-
}

cmd_unlock() {
	step unlock
	[ -f "$P/.deploy.lock" ] || { mark "unlock never"; mark "done"; return; }
	local holder pid
	holder=$(holder_text)
	open_lock
	if flock -n 9; then
		: >"$P/.deploy.lock"
		mark "unlock free $holder"
		mark "done"
		return
	fi
	[ "$FORCE" = 1 ] || fail "held by $holder, which is still running: pass --force to stop it"
	pid=$(cut -f2 "$P/.deploy.lock")
	[[ $pid =~ ^[0-9]+$ ]] || fail "cannot tell which process holds the lock"
	kill -TERM "$pid" 2>/dev/null || true
	flock -w 30 9 || fail "pid $pid still holds the lock after 30s"
	: >"$P/.deploy.lock"
	mark "unlock broken $holder"
	mark "done"
}

cmd_status() {
	local cur behind=0 i=-1 k
	cur_id
	cur=$CUR
	revert_history "${cur:--}" 0
	for k in "${!HIST_IDS[@]}"; do [ "${HIST_IDS[k]}" = "$cur" ] && i=$k; done
	((i >= 0)) && behind=$((${#HIST_IDS[@]} - 1 - i))
	mark "status current ${cur:--} $([ -n "$cur" ] && sha_of "$cur" || echo -)"
	mark "status behind $behind"
	# a current no line of .deploys names: a deploy cut off between its
	# switch and its log line (see deploy_ids)
	[ -z "$cur" ] || ((!HIST_CUR_CUT)) || mark "status unlogged yes"
	mark "status layout $([ -d "$P/repo" ] && [ -d "$P/releases" ] && echo ok || echo missing)"
	if [ ! -f "$P/.deploy.lock" ]; then
		mark "status lock free"
	else
		# read-only: flock needs no more, and a lock file another user
		# owns is still read (check says what is wrong with it)
		exec 9<"$P/.deploy.lock"
		if flock -n 9; then mark "status lock free"; else mark "status lock $(holder_text)"; fi
		exec 9>&- # a probe: never hold the lock a deploy may be waiting for
	fi
	mark "status disk-free-kb $(df -Pk -- "$P" 2>/dev/null | awk 'NR == 2 { print $4 }')"
	mark "done"
}

# cmd_check is a preflight that changes nothing: one line per item,
# "@@deploy check <item> ok|fail <detail>".
cmd_check() {
	local h word ok
	if [ -f "$P/repo/HEAD" ] && [ -d "$P/releases" ]; then
		mark "check layout ok $P"
	else
		mark "check layout fail $P is not set up: run 'deploy <env> setup'"
	fi
	if [ ! -f "$P/.deploy.lock" ]; then
		mark "check lock ok free"
	else
		exec 9<"$P/.deploy.lock" # read-only, as status
		if flock -n 9; then mark "check lock ok free"; else mark "check lock fail held by $(holder_text)"; fi
		exec 9>&-
	fi
	local free
	free=$(df -Pk -- "$P" 2>/dev/null | awk 'NR == 2 { print $4 }') || free=''
	if [ -z "$free" ]; then
		mark "check disk fail cannot read the free space of $P"
	elif ((free < 102400)); then
		mark "check disk fail only ${free} KiB free under $P"
	else
		mark "check disk ok ${free} KiB free"
	fi
	for word in git flock setsid tar; do
		if command -v "$word" >/dev/null 2>&1; then mark "check bin:$word ok $(command -v "$word")"; else mark "check bin:$word fail $word is not installed"; fi
	done
	for h in "$H_PRE" "$H_RELEASE" "$H_POST" "$H_TEST"; do
		[ -n "$h" ] || continue
		word=$(first_word "$h")
		case $word in '' | */*) continue ;; esac
		if in_hook_path ok "$word"; then
			mark "check hook:$word ok $ok"
		else
			mark "check hook:$word fail '$word' is not in the hook shell's PATH (shell=${SHELL_MODE:-bash}): install it or set shell login"
		fi
	done
	check_writable
	check_procmon
	check_build
	check_ref
	check_script_copy
	mark "done"
}

# check_writable finds what a deploy must write and the deploy user
# cannot: the path, releases/, shared/, .deploys, the lock file and the
# mirror's directories (a deploy or a git run as root once leaves them
# root's), and the dependency cache's entries (the prune must make them
# writable to remove them: the user's own).
check_writable() {
	local p bad=''
	for p in "$P" "$P/releases" "$P/shared" "$P/.deploys" "$P/.deploy.lock"; do
		if [ -e "$p" ] && [ ! -w "$p" ]; then bad=$p && break; fi
	done
	if [ -z "$bad" ] && [ -d "$P/repo" ]; then
		bad=$(find "$P/repo" -type d ! -writable -print -quit 2>/dev/null) || bad=''
	fi
	# the cache's entries of another user (root's linked ones are
	# immutable, which chown -R refuses: the hint clears that first)
	local cache_bad=''
	if [ -d "$P/.cache/deps" ]; then
		cache_bad=$(find "$P/.cache/deps" ! -uid "$EUID" -print -quit 2>/dev/null) || cache_bad=''
	fi
	[ -n "$bad" ] || bad=$cache_bad
	if [ -n "$cache_bad" ]; then
		mark "check writable fail $bad is another user's or read-only for ${USER:-uid $EUID}: a deploy would fail on it (as root: chattr -R -f -i $P/.cache/deps; chown -R ${USER:-<deploy user>} $P)"
	elif [ -n "$bad" ]; then
		mark "check writable fail $bad is another user's or read-only for ${USER:-uid $EUID}: a deploy would fail on it (chown -R ${USER:-<deploy user>} $P)"
	else
		mark "check writable ok what a deploy writes under $P"
	fi
}

# check_script_copy says whether the server keeps this script's copy (see
# script.Bootstrap): without one every command sends the script again.
check_script_copy() {
	local n LC_ALL=C
	n=${#deploy_script}
	if [ -z "$SCRIPT_COPIES" ]; then
		mark "check script-copy ok none kept: HOME is not an absolute directory, so every command sends the script ($n bytes)"
	elif [ -z "$SCRIPT_SAVING" ]; then
		mark "check script-copy ok this command ran the copy in $SCRIPT_COPIES"
	elif wait "$SAVE_PID" 2>/dev/null; [ -f "$SCRIPT_SAVING" ]; then
		mark "check script-copy ok kept in $SCRIPT_COPIES: later commands send only their control words"
	else
		mark "check script-copy ok cannot keep a copy in $SCRIPT_COPIES (not writable, or not the login user's): every command sends the script ($n bytes)"
	fi
}

# in_hook_path VAR WORD sets VAR to where the hook shell (bash; bash -l
# with shell login) finds the command WORD, and fails when it finds none.
in_hook_path() {
	local lflag=() found
	[ "$SHELL_MODE" = login ] && lflag=(-l)
	found=$(bash ${lflag[@]+"${lflag[@]}"} -c 'command -v -- "$1"' deploy-check "$2" 2>/dev/null </dev/null) || return 1
	printf -v "$1" '%s' "$found"
}

# check_procmon checks what the gate needs when procmon is set: its config
# on this server, and the procmon binary in the hook shell's PATH (or
# DEPLOY_PROCMON). Whether procmon runs is not asked: before the first
# deploy it need not.
check_procmon() {
	[ -n "$PROCMON" ] || return 0
	local bin ok
	setting bin DEPLOY_PROCMON procmon
	if [ ! -r "$PROCMON" ]; then
		mark "check procmon fail $PROCMON does not exist or $(id -un) cannot read it: install the app's procmon config there (deploy init wrote it as procmon.toml)"
	elif in_hook_path ok "$bin"; then
		mark "check procmon ok $ok -c $PROCMON"
	else
		mark "check procmon fail '$bin' is not in the hook shell's PATH (shell=${SHELL_MODE:-bash}): install procmon (./install.sh --server), set shell login, or set DEPLOY_PROCMON in env"
	fi
}

# check_build checks, with build auto, that the tools of the stacks the
# next deploy would build are in the hook shell's PATH (a server without
# npm fails that deploy at its build). The stacks are read as build auto
# reads them, from the root of what ships: the ref in the server's mirror
# (as of its last fetch), else current; with neither, nothing to read yet.
CHECK_NAMES=''
check_build() {
	[ "$BUILD" = auto ] || return 0
	local tree='' from stack tool ok
	if [ -f "$P/repo/HEAD" ] && tree=$(git_ rev-parse --verify --quiet "${REF:-HEAD}^{tree}" 2>/dev/null) &&
		CHECK_NAMES=$(git_ ls-tree --name-only "$tree" 2>/dev/null); then
		from="the origin's default branch"
		[ -z "$REF" ] || from=$REF
		from+=" as the mirror last fetched it"
	elif [ -d "$P/current/" ] && CHECK_NAMES=$(cd "$P/current/" && ls -A); then
		from=current
	else
		mark "check build ok auto: nothing fetched yet, so the stacks are detected at the first deploy"
		return 0
	fi
	stacks_of check_has
	if ((${#STACKS[@]} == 0)); then
		mark "check build ok auto: no stack detected in $from: nothing to build"
		return 0
	fi
	for stack in "${STACKS[@]}"; do
		case $stack in
		node)
			node_lock check_has
			case $NODE_LOCK in yarn.lock) tool='node yarn' ;; pnpm-lock.yaml) tool='node pnpm' ;; *) tool='node npm' ;; esac
			;;
		python) tool=python3 ;;
		ruby) tool=bundle ;;
		elixir) tool=mix ;;
		go) tool=go ;;
		esac
		for tool in $tool; do
			if in_hook_path ok "$tool"; then
				mark "check build:$tool ok $ok ($stack, detected in $from)"
			else
				mark "check build:$tool fail '$tool' is not in the hook shell's PATH (shell=${SHELL_MODE:-bash}), and build auto needs it for $stack (detected in $from): install it on this server, or set shell login"
			fi
		done
	done
}
check_has() { [[ $'\n'$CHECK_NAMES$'\n' == *$'\n'"$1"$'\n'* ]]; }

# first_word prints a hook's command word, skipping NAME=value prefixes.
first_word() {
	local w words=()
	read -ra words <<<"$1" || true
	for w in ${words[@]+"${words[@]}"}; do
		case $w in [A-Za-z_]*=*) continue ;; esac
		printf '%s\n' "$w"
		return
	done
}

check_ref() {
	[ -f "$P/repo/HEAD" ] || return 0
	[ "$SOURCE" != push ] || return 0 # the laptop sends the commits: the origin is never asked
	local was shown
	was=$(git_ config --get remote.origin.url 2>/dev/null) || was=''
	anon_url shown "$REPO"
	if [ -n "$REPO" ] && [ "$was" != "$REPO" ]; then
		anon_url was "$was"
		mark "check repo ok $shown (the mirror's origin is ${was:-unset}: the next deploy switches it)"
	elif [ -n "$REPO" ]; then
		mark "check repo ok $shown"
	fi
	if [ -z "$REF" ]; then
		if git_ ls-remote --exit-code --symref -- "${REPO:-origin}" HEAD >/dev/null 2>&1; then
			mark "check ref ok the origin's default branch"
		else
			mark "check ref fail cannot reach the origin from the server: check repo and access"
		fi
	elif [[ $REF =~ ^[0-9a-fA-F]{7,40}$ ]]; then
		if git_ rev-parse --verify --quiet "$REF^{commit}" >/dev/null; then
			mark "check ref ok commit $REF"
		else
			mark "check ref fail commit $REF is not in the server's mirror yet (a deploy fetches it when a branch or tag of the origin holds it)"
		fi
	else
		# what resolve takes after the fetch: the branch, the tag, or the
		# full name (ls-remote's patterns also match a name's tail:
		# pull/7/head would match refs/pull/7/head, which is not fetched)
		local out='' t=$'\t'
		out=$(git_ ls-remote -- "${REPO:-origin}" "refs/heads/$REF" "refs/tags/$REF" "$REF" 2>/dev/null) || out=''
		out=$'\n'$out$'\n'
		if [[ $out == *"$t"refs/heads/"$REF"$'\n'* || $out == *"$t"refs/tags/"$REF"$'\n'* ]] ||
			[[ $REF == refs/* && $out == *"$t$REF"$'\n'* ]]; then
			mark "check ref ok $REF"
		elif [[ $REF != refs/* && $out == *"$t"refs/*"$REF"$'\n'* ]]; then
			mark "check ref fail '$REF' is not a branch or tag of the origin: give another ref by its full name, refs/…"
		else
			mark "check ref fail '$REF' is not a branch or tag of the origin"
		fi
	fi
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
check) cmd_check ;;
githook) cmd_githook ;;
*) STEP=args; fail "unknown command '$CMD'" ;;
esac
