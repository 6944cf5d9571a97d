# release.sh: release directories and the deploy log — checkout, shared
# links, the atomic switch, revert targets and pruning. Part of the remote
# script (lib.sh, release.sh, mirror.sh, gate.sh, build.sh, depcache.sh,
# commands.sh run as one text).

# new_release SHA git|name sets REL to a free release name for SHA and,
# with "git", creates the release directory and the skeleton of its .git
# (see checkout) in one mkdir; with "name" it creates nothing (the caller
# renames a staged directory to it). It runs under the lock: no other
# deploy makes releases meanwhile, so a name is free when nothing is there.
new_release() {
	local base i=1 id r dirs=()
	# stamp= (a fleet deploy) names the release the same on every host.
	local stamp
	now stamp '%Y%m%dT%H%M%SZ'
	[[ $STAMP =~ ^[0-9]{8}T[0-9]{6}Z$ ]] && stamp=$STAMP
	base="$stamp-${1:0:7}"
	id=$base
	while [ -e "$P/releases/$id" ] || [ -L "$P/releases/$id" ]; do
		i=$((i + 1))
		((i < 100)) || fail "cannot find a free release name under $P/releases ($base-99 exists)"
		id="$base-$i"
	done
	REL=$id
	[ "$2" = git ] || return 0
	r=$P/releases/$id
	dirs=("$r" "$r/.git" "$r/.git/objects" "$r/.git/objects/info" "$r/.git/refs")
	mkdir -- "${dirs[@]}" || fail "cannot create the release directory $r (full disk? permissions?)"
}

# checkout DIR SHA fills the new release at DIR with the commit's files
# and gives it a git directory of its own, as the classic tool's clone and
# checkout do, so that git in a hook (rev-parse HEAD, log -1, describe,
# status, diff-index) sees the release's commit, clean: DIR/.git has HEAD
# detached at SHA, a copy of the mirror's branches and tags
# (packed-refs), and the mirror's objects through objects/info/alternates,
# read-only: whatever git does in the release writes into DIR/.git, never
# into the mirror. One `git read-tree --reset -u` writes the files and the
# index (with their stat data) together. Like `git archive`, it leaves a
# submodule an empty directory (submodules_note says so).
checkout() {
	local g=$1/.git url=''
	[ -d "$g/objects/info" ] && [ -d "$g/refs" ] || mkdir -p -- "$g/objects/info" "$g/refs" || return
	# the origin as a clone has it: for a hook's git submodule update or
	# git fetch, and for git-lfs's smudge filter in read-tree (lfs_note)
	[ -z "$REPO" ] || { config_quote url "$REPO" && url=$'[remote "origin"]\n\turl = '$url$'\n'; }
	printf '%s\n' "$P/repo/objects" >"$g/objects/info/alternates" &&
		printf '%s\n' "$2" >"$g/HEAD" &&
		printf '[core]\n\trepositoryformatversion = 0\n\tbare = false\n[gc]\n\tauto = 0\n%s' "$url" >"$g/config" || return
	((MIRROR_REFS_READ)) || mirror_refs || return
	if [ -n "$MIRROR_REFS" ]; then printf '%s\n' "$MIRROR_REFS" >"$g/packed-refs" || return; fi
	lfs_reuse "$g"
	git --git-dir="$g" --work-tree="$1" read-tree --reset -u "$2"
}

# lfs_reuse GITDIR gives the new release's .git the Git LFS objects of
# the live release ($OLD), as hard links, before the checkout's smudge
# filter looks for them there: a file whose content did not change is not
# downloaded from the origin again, and costs no disk twice. An object is
# named by its sha256 and never written in place (git-lfs writes a new one
# beside it and renames), as the mirror's objects that every release
# borrows. Nothing is started unless the live release has LFS objects; a
# failed link (another filesystem) leaves the smudge filter to download.
lfs_reuse() {
	local from="$P/releases/$OLD/.git/lfs/objects"
	[ -n "$OLD" ] && [ -d "$from" ] || return 0
	mkdir -p -- "$1/lfs" && cp -al -- "$from" "$1/lfs/objects" 2>/dev/null && return 0
	rm -rf -- "$1/lfs/objects"
	echo "git lfs: could not link the live release's LFS objects into the new release: the checkout downloads them from the origin"
}

# config_quote VAR VALUE sets VAR to VALUE as a quoted git config value
# ("…", with \ and " escaped; the values it gets hold no newline).
config_quote() {
	local _v=${2//\\/\\\\}
	_v=${_v//\"/\\\"}
	printf -v "$1" '"%s"' "$_v"
}

# lfs_note DIR says when the release's .gitattributes sends files through
# Git LFS and git-lfs is not set up for the deploy user (not installed, or
# `git lfs install` not run): the release then holds LFS pointer files,
# not their content, as a clone would. When it is set up, the checkout's
# smudge filter fetched the content from the origin (remote.origin.url)
# into the release's .git/lfs, as a clone's checkout does, those the live
# release held linked there first (lfs_reuse; lfs.storage, to share them
# between releases, would break a file:// origin: git-lfs then looks for
# the origin's objects there too). Only
# a root .gitattributes is read; nothing is started without one that
# names filter=lfs.
lfs_note() {
	local a=''
	[ -f "$1/.gitattributes" ] || return 0
	IFS= read -r -d '' a <"$1/.gitattributes" || true
	[[ $a == *filter=lfs* ]] || return 0
	if git --git-dir="$1/.git" config --get filter.lfs.process >/dev/null 2>&1 ||
		git --git-dir="$1/.git" config --get filter.lfs.smudge >/dev/null 2>&1; then
		mark "info lfs"
		return 0
	fi
	echo "git lfs: .gitattributes sends files through Git LFS, and git-lfs is not set up for the deploy user on this server (install git-lfs, then run 'git lfs install' as that user): the release holds LFS pointer files, not their content"
	mark "info lfs pointers"
}

# submodules_note DIR says that the release's submodules are not checked
# out (checkout, like the classic tool's git clone and Capistrano's git
# archive, leaves each an empty directory) and how to ship them: a hook's
# `git submodule update --init` resolves a relative URL (../lib) against
# the release's remote.origin.url, as in a clone. Nothing to do, and
# nothing started, without a .gitmodules.
submodules_note() {
	[ -f "$1/.gitmodules" ] || return 0
	echo "submodules: the release has a .gitmodules, and its submodules are not checked out (their directories are empty, as after the classic tool's git clone): to ship them, run 'git submodule update --init --recursive' in pre-deploy"
	mark "info submodules"
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
			if [ -e "$rel/$p" ]; then
				cp -a -- "$rel/$p" "$t"
			elif in_list "$p" ${SHARED_FILES[@]+"${SHARED_FILES[@]}"}; then
				(umask 027 && : >"$t")
				echo "created $t as an empty file (mode 0640): fill it in on the server"
			else
				mkdir -p -- "$t"
				echo "created $t as a directory: if it is meant to be a file, list it under shared-files"
			fi
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
	if [ -e "$tmp" ] || [ -L "$tmp" ]; then rm -f -- "$tmp"; fi
	ln -s -- "releases/$1" "$tmp"
	mv -T -- "$tmp" "$P/current"
}

# put_back OLD points current back at OLD, or removes it when there was
# none (the first deploy), best-effort: it runs on a failure path.
put_back() {
	if [ -n "$1" ]; then
		switch_to "$1" || true
	else
		rm -f -- "$P/current"
	fi
}

# ref_of prints the ref release $1 was deployed from.
ref_of() { awk -F'\t' -v r="$1" '$2 == r && $4 == "deploy" { ref = $5 } END { print ref }' "$P/.deploys"; }

# deploy_ids [CUR N [CURSHA]] prints the release ids of successful
# deploys, oldest first: a release logged `failed` after its `deploy` line
# (its gate or test failed and it was put back) is not one. With CUR and N
# it then prints a line "--" and the releases revert 1..N from CUR go back
# to, newest first (see back_from), or "--!" when CUR is not a successful
# deploy. When no `deploy` or `failed` line names CUR, the line is "--?"
# and the steps back start after the last successful deploy, from CURSHA
# (CUR's commit): that is a deploy cut off between its switch and its log
# line (its script killed, the power lost), which nothing else leaves (a
# later deploy whose gate failed may have gone back to it: a `revert`
# line). Call it
# only in a subshell, as <(deploy_ids): it execs awk (one fork less, with
# the script's traps).
deploy_ids() {
	if [ ! -f "$P/.deploys" ]; then
		[ -z "${1:-}" ] || echo '--?'
		return 0
	fi
	exec awk -F'\t' -v cur="${1:-}" -v n="${2:-0}" -v cursha="${3:-}" '
		$4 == "deploy" || $4 == "failed" { named[$2] = 1 }
		$4 == "deploy" { k++; id[k] = $2; sha[$2] = $1; at[$2] = k; ok[$2] = 1 }
		$4 == "failed" && ($2 in ok) { ok[$2] = 0 }
		END {
			for (i = 1; i <= k; i++) if (at[id[i]] == i && ok[id[i]]) { m++; ids[m] = id[i]; print id[i]; if (id[i] == cur) c = m }
			if (cur == "") exit
			if (c) { print "--"; s = sha[cur] }
			else if (cur in named) { print "--!"; exit }
			else { print "--?"; c = m + 1; s = cursha }
			for (i = c - 1; i >= 1 && got < n; i--) if (sha[ids[i]] != s) { print ids[i]; got++; s = sha[ids[i]] }
		}' "$P/.deploys"
}

# back_from CUR N sets TARGET to the release N successful deploys of
# other code before CUR: each step back is to the newest older deploy
# whose commit differs from the one it steps from, so that a redeploy of
# the same commit (a restart, or a deploy of what a revert had replaced)
# is not a step back: revert would switch to the code already live.
#
# A current that no deploy or failed line of .deploys names (a deploy cut
# off between its switch and its log line) is taken as newer than every
# deploy, as
# Capistrano's rollback takes the release directories' order: revert 1
# goes to the last successful deploy.
back_from() { # cur n [cur's sha, when the caller read it]
	local cur=$1 n=$2 sha=${3:-}
	[ -n "$sha" ] || revision sha "$cur"
	revert_history "$cur" "$n" "$sha"
	if ((HIST_CUR_CUT)); then
		echo "current release $cur is no deploy that .deploys records: a deploy cut off between its switch and its log line (its script killed, or the power lost); going back from it as the newest release"
	else
		((HIST_CUR_OK)) || fail "current release '${cur:-none}' is not a successful deploy in .deploys"
	fi
	((${#HIST_BACK[@]} >= n)) || fail "cannot go back $n: only ${#HIST_BACK[@]} successful deploy(s) before $cur (a redeploy of the same commit does not count)"
	TARGET=${HIST_BACK[n - 1]}
}

# revert_history CUR N [CURSHA] reads deploy_ids CUR N CURSHA into
# HIST_IDS (the successful deploys, oldest first), HIST_BACK (what revert
# 1..N from CUR goes back to, newest first), HIST_CUR_OK (1 when CUR is a
# successful deploy) and HIST_CUR_CUT (1 when no deploy or failed line
# names CUR): one awk
# for back_from, prune and status alike.
HIST_IDS=() HIST_BACK=() HIST_CUR_OK=0 HIST_CUR_CUT=0
revert_history() {
	local hist=() sep=-1 k
	mapfile -t hist < <(deploy_ids "$1" "$2" "${3:-}")
	for k in "${!hist[@]}"; do [[ ${hist[k]} != --* ]] || sep=$k; done
	HIST_IDS=() HIST_BACK=() HIST_CUR_OK=0 HIST_CUR_CUT=0
	((sep >= 0)) || return 0
	HIST_IDS=("${hist[@]:0:sep}")
	HIST_BACK=("${hist[@]:sep+1}")
	case ${hist[sep]} in
	--) HIST_CUR_OK=1 ;;
	--\?) HIST_CUR_CUT=1 ;;
	esac
}

# prune_release ID DIR removes release ID, at DIR (releases/ID, or
# releases/.prune-ID where an earlier prune could not finish), with the
# list of cache entries it used. A removal that stops midway (files
# another user owns: a `sudo npm install` in a release) renames what is
# left to .prune-ID (no release by its name, and no glob of releases/*
# finds it), so that no revert can switch to a half-removed release, and
# is a warning, never the deploy's failure: the deploy is live by then.
# Each prune tries again. rm's own message says what it could not remove.
prune_release() {
	local id=$1 dir=$2 trash="$P/releases/.prune-$1"
	if rm -rf -- "$dir" "$P/.cache/deps/used/$id"; then
		[ "$dir" = "$trash" ] || mark "info pruned $id"
		return 0
	fi
	if [ "$dir" != "$trash" ]; then
		if ! mv -T -- "$dir" "$trash"; then
			mark "info prune-failed $id"
			echo "warning: old release $id could not be removed, nor renamed: a revert could switch to what is left of it; remove $dir by hand (files another user owns? sudo rm -rf)"
			return 1
		fi
		mark "info pruned $id"
	fi
	mark "info prune-failed $id"
	echo "warning: old release $id could not be removed: the deploy is live; remove $trash by hand (files another user owns? sudo rm -rf). Each deploy tries again."
}

in_list() { # word list...
	local w=$1 x
	shift
	for x in "$@"; do [ "$x" = "$w" ] && return 0; done
	return 1
}

# prune keeps $KEEP releases, never current nor what revert 1..KEEP-1 needs
# (back_from: a redeploy of the same commit is not what revert goes to).
# Oldest go first: directories .deploys does not know as deploys (failed,
# killed), then deploys in log order (ids of one second do not sort by time).
prune() {
	step prune
	local cur ids=() keep=() r all=() order=()
	cur_id
	cur=$CUR
	# the successful deploys, and what revert 1..KEEP-1 goes back to
	revert_history "${cur:--}" $((KEEP - 1))
	ids=(${HIST_IDS[@]+"${HIST_IDS[@]}"})
	keep+=("$cur" ${HIST_BACK[@]+"${HIST_BACK[@]}"})
	for r in "$P"/releases/*; do
		if [ -e "$r" ] || [ -L "$r" ]; then all+=("${r##*/}"); fi
	done
	for r in ${all[@]+"${all[@]}"}; do in_list "$r" ${ids[@]+"${ids[@]}"} || order+=("$r"); done
	for r in ${ids[@]+"${ids[@]}"}; do
		[ -d "$P/releases/$r" ] && ! in_list "$r" ${order[@]+"${order[@]}"} && order+=("$r")
	done
	local excess=$((${#all[@]} - KEEP)) t
	# what an earlier prune could not remove (see prune_release)
	for t in "$P"/releases/.prune-*; do
		[ -e "$t" ] || continue
		prune_release "${t##*/.prune-}" "$t" || true
	done
	for r in ${order[@]+"${order[@]}"}; do
		((excess > 0)) || break
		in_list "$r" "${keep[@]}" && continue
		prune_release "$r" "$P/releases/$r" && excess=$((excess - 1))
	done
	# uploads a killed laptop staged and never deployed
	if [ -d "$P/.staging" ]; then
		find "$P/.staging" -mindepth 1 -maxdepth 1 -mmin +1440 -exec rm -rf -- {} + 2>/dev/null || true
	fi
	prune_caches
}

