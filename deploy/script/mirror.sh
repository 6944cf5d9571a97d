# mirror.sh: the server's git mirror of the origin (repo/) — what a
# deploy fetches into it, resolving the ref there, and the refs that keep
# releases' commits. Part of the remote script (lib.sh, release.sh,
# mirror.sh, gate.sh, build.sh, depcache.sh, commands.sh run as one text).

# fetch_and_resolve brings the mirror up to date with the origin and sets
# SHA to what REF names there (REF unset: the origin's default branch).
# The fetch is the deploy's one contact with the origin (one SSH
# handshake to a real one): with REF unset it also brings the origin's
# HEAD, for origin_default_branch. A ref the origin lacks is refused
# after it, before any release exists.
fetch_and_resolve() {
	step fetch
	local f="$P/repo/$ORIGIN_RECORD" was='' synced=0
	if [ -f "$f" ] && [ -w "$f" ]; then IFS= read -r -d '' was <"$f" || true; fi
	# the last complete fetch was from REPO (sync_origin had set the url
	# before it) and the mirror's config is older than that record (not
	# edited since): no git config to start
	[[ -n $REPO && $was == "$REPO"$'\n'* ]] && [ "$f" -nt "$P/repo/config" ] && synced=1
	# until this fetch is known complete, the record says nothing
	[ ! -f "$f" ] || : >"$f" || rm -f -- "$f"
	if ((!synced)); then
		sync_origin
		narrow_mirror
	fi
	mirror_refspecs
	local rc=0
	fetch_mirror || rc=$?
	if ((rc)) && stale_mirror_locks; then
		rc=0
		fetch_mirror || rc=$?
	fi
	((rc == 0)) || fail "git fetch failed (status $rc)"
	mirror_gc
	[ -z "$REPO" ] || printf '%s\n' "$REPO" >"$f" 2>/dev/null || rm -f -- "$f"
	step resolve
	# Nothing was made yet: a ref that does not resolve leaves no release
	# and no `failed` line (only the mirror was brought up to date).
	mirror_refs || { STATE=locked; fail "cannot list the branches and tags of $P/repo (status $?): nothing was changed"; }
	if [ -z "$REF" ]; then
		origin_default_branch
		echo "ref: $REF (the origin's default branch; set ref to pin one)"
		mark "info default-ref $REF"
	fi
	resolve "$REF" && return 0
	STATE=locked
	local shown
	anon_url shown "$REPO"
	if [[ $REF == refs/* ]]; then
		fail "ref '$REF' is not a ref of $shown: nothing was changed"
	elif [[ $REF =~ ^[0-9a-fA-F]{7,40}$ ]]; then
		fail "ref '$REF' is not a commit of any branch or tag of $shown (the mirror fetches branches and tags, as a clone does: deploy a commit that is only on another ref, such as a pull request's, by that ref's full name, refs/…): nothing was changed"
	fi
	fail "ref '$REF' is not a branch, tag or commit of $shown (a ref other than a branch or tag is given by its full name, refs/…): nothing was changed"
}

# fetch_mirror fetches SPECS from the origin into the mirror; git's own
# gc --auto runs only when mirror_gc says it may have work.
fetch_mirror() {
	run_in "$P" - - git --git-dir="$P/repo" -c maintenance.auto=false -c gc.auto=0 fetch --prune --quiet origin "${SPECS[@]}"
}

# stale_mirror_locks removes the lock files (refs/heads/main.lock,
# packed-refs.lock, HEAD.lock, config.lock, …) a git killed while it
# updated the mirror left, on which every later update fails ("Unable to
# create '….lock': File exists"), and says which; it fails when there
# were none. Under the deploy lock every git in the mirror is this
# script's (mirror_gc's gc does not detach), so a lock there is stale.
# Called only after a mirror update failed: no find on a deploy's way.
stale_mirror_locks() {
	local l found=1
	while IFS= read -r -d '' l; do
		rm -f -- "$l" || continue
		echo "removed a lock file git left in the mirror: $l (a git killed while it updated the mirror: under the deploy lock no other git runs there)"
		found=0
	done < <(find "$P/repo" -path "$P/repo/objects" -prune -o -type f -name '*.lock' -print0 2>/dev/null)
	return "$found"
}

# ORIGIN_RECORD, in the mirror, holds REPO after a complete fetch from it
# by a mirror that fetches mirror_refspecs (see fetch_and_resolve); a
# mirror without one (new, or an older deploy's) is checked once by
# sync_origin and narrow_mirror.
ORIGIN_RECORD=deploy-origin

# mirror_refspecs sets SPECS to the refspecs a deploy fetches: the
# origin's branches and tags (what the classic tool's clone and `git
# fetch --all` bring; not every ref, as `git clone --mirror` and
# Capistrano do: GitHub keeps refs/pull/<n>/head and /merge for every
# pull request ever opened, and recomputes the open ones' merges, so a
# busy repository's every fetch would list thousands of refs and bring
# commits nobody deploys). With REF unset, the origin's HEAD too (into
# ORIGIN_HEAD, for origin_default_branch); with REF a full name outside
# branches and tags (refs/pull/7/head), that ref. Those two are
# patterns, so that a HEAD that names no branch (a bare repo's HEAD left
# at master, main pushed), or a ref the origin lacks, fetches nothing
# rather than failing the fetch: resolve then refuses it. --prune removes
# what the origin deleted, within these.
SPECS=()
mirror_refspecs() {
	SPECS=('+refs/heads/*:refs/heads/*' '+refs/tags/*:refs/tags/*')
	case $REF in
	'') SPECS+=("+HEAD*:$ORIGIN_HEAD*") ;;
	refs/heads/* | refs/tags/*) ;;
	refs/*) SPECS+=("+$REF*:$REF*") ;;
	esac
}

# narrow_mirror makes the mirror's configured refspecs the branches and
# tags (so a `git fetch` by hand in it brings what a deploy does), and
# removes the refs a mirror made by an older deploy (git clone --mirror)
# fetched besides (refs/pull/*, refs/changes/*, …): left, they would
# never be updated again, and a short name (pull/7/head) would resolve to
# them. Its own refs (refs/deploy*) stay. Run when the mirror has no
# ORIGIN_RECORD: once, then again only after its config was edited.
narrow_mirror() {
	local have='' ref n=0 del=''
	have=$(git_ config --get-all remote.origin.fetch 2>/dev/null) || have=''
	if [ "$have" != $'+refs/heads/*:refs/heads/*\n+refs/tags/*:refs/tags/*' ]; then
		# (status 5: there was no such key)
		git_ config --unset-all remote.origin.mirror 2>/dev/null || true
		[ -z "$have" ] || git_ config --unset-all remote.origin.fetch ||
			fail "cannot set the fetch refspecs of $P/repo (status $?): nothing was changed"
		git_ config --add remote.origin.fetch '+refs/heads/*:refs/heads/*' &&
			git_ config --add remote.origin.fetch '+refs/tags/*:refs/tags/*' ||
			fail "cannot set the fetch refspecs of $P/repo (status $?): nothing was changed"
	fi
	while IFS= read -r ref; do
		case $ref in refs/heads/* | refs/tags/* | refs/deploy*) continue ;; esac
		del+="delete $ref"$'\n'
		n=$((n + 1))
	done < <(git_ for-each-ref --format='%(refname)' refs/ 2>/dev/null)
	# (the record of the fetch skip that deploys before this one kept)
	rm -f -- "$P/repo/deploy-origin-refs"
	((n)) || return 0
	git_ update-ref --stdin <<<"${del%$'\n'}" || fail "cannot remove the $n refs of $P/repo that are neither branches nor tags (status $?): nothing was changed"
	echo "the mirror held $n refs besides the origin's branches and tags (as git clone --mirror fetches them: pull requests' refs, …); removed: it fetches branches and tags, as a clone does (a ref outside them is fetched when ref names it in full, refs/…)"
}

# origin_default_branch sets REF to the origin's default branch: the
# branch the mirror's HEAD names (the clone copied the origin's),
# when it is where the origin's HEAD is (ORIGIN_HEAD, just fetched; of
# two branches at that one commit, the mirror's: the same commit ships).
# Otherwise the origin changed its default branch since: ask it (git
# ls-remote --symref, a second contact, this once), and point the
# mirror's HEAD at the answer, as a new clone would. An origin whose HEAD
# names no branch it has (or that does not say) is refused: set ref.
origin_default_branch() {
	local line='' mine='' sha=${MIRROR_HEAD_SHA:-} theirs=''
	IFS= read -r line <"$P/repo/HEAD" || true
	[[ $line == 'ref: refs/heads/'* ]] && mine=${line#ref: refs/heads/}
	if [ -n "$mine" ] && [ -n "$sha" ] && [[ $'\n'$MIRROR_REFS$'\n' == *$'\n'"$sha refs/heads/$mine"$'\n'* ]]; then
		REF=$mine
		return 0
	fi
	theirs=$(cd -- "$P" && GIT_TERMINAL_PROMPT=0 exec git ls-remote --symref -- "${REPO:-origin}" HEAD </dev/null 2>/dev/null 3<&- 4>&- 9>&-) || theirs=''
	line=${theirs%%$'\n'*}
	if [[ -z $sha || $line != 'ref: refs/heads/'*$'\t'HEAD ]]; then
		STATE=locked
		local shown
		anon_url shown "$REPO"
		fail "cannot tell the origin's default branch: its HEAD names no branch that $shown has; set ref in deploy.conf to the branch to deploy (or point the origin's HEAD at one); nothing was changed"
	fi
	REF=${line#ref: refs/heads/}
	REF=${REF%$'\t'HEAD}
	if [ "$REF" != "$mine" ] && git_ symbolic-ref HEAD "refs/heads/$REF" 2>/dev/null; then
		echo "the origin's default branch is $REF (the mirror's HEAD said ${mine:-nothing}): the mirror's HEAD now says $REF"
	fi
}

# mirror_gc runs `git gc --auto` on the mirror, as git fetch itself does
# (maintenance run --auto), but only when git's default limits may be
# crossed, so that a fetch starts no third git to learn that there is
# nothing to do: more than 27 loose objects in objects/17 (git counts
# that one directory to estimate 6700 loose objects: gc.auto), or more
# than 50 packs (gc.autoPackLimit). gc --auto then applies the mirror's
# own gc settings; a lower gc.auto than git's default waits for those
# limits.
mirror_gc() {
	local loose=("$P/repo/objects/17/"*) packs=("$P/repo/objects/pack/"*.pack)
	[ -e "${loose[0]}" ] || loose=()
	[ -e "${packs[0]}" ] || packs=()
	((${#loose[@]} > 27 || ${#packs[@]} > 50)) || return 0
	# not detached (git's default): no git outlives the deploy lock
	run_in "$P" - - git --git-dir="$P/repo" -c gc.autoDetach=false gc --auto --quiet || echo "git gc --auto on $P/repo exited with status $?: the mirror is fetched, and the deploy goes on"
}

# sync_origin points the mirror at REPO when deploy.conf's repo changed
# since setup (or the last deploy), and says so.
sync_origin() {
	[ -n "$REPO" ] || return 0
	local was shown
	was=$(git_ config --get remote.origin.url 2>/dev/null) || was=''
	[ "$was" = "$REPO" ] && return 0
	anon_url shown "$REPO"
	git_ remote set-url origin "$REPO" || { stale_mirror_locks && git_ remote set-url origin "$REPO"; } ||
		fail "cannot set the mirror's origin to $shown"
	anon_url was "$was"
	echo "repo changed: the mirror's origin was ${was:-unset}, now $shown"
	mark "info repo-changed"
}

# mirror_refs sets MIRROR_REFS to the mirror's branches and tags, one
# "<sha> <refname>" per line, read once for resolve and for the release's
# packed-refs (MIRROR_REFS_READ=1 once read), MIRROR_HEAD_SHA to where
# the origin's HEAD was at the last fetch that brought it (ORIGIN_HEAD: a
# deploy with ref unset fetches it; "" when none), and KEPT_IDS to the
# releases that have a ref under KEPT (see keep_release).
ORIGIN_HEAD=refs/deploy-origin-head
KEPT=refs/deploy/releases
MIRROR_REFS='' MIRROR_REFS_READ=0 MIRROR_HEAD_SHA='' KEPT_IDS=()
mirror_refs() {
	MIRROR_REFS=$(exec git --git-dir="$P/repo" for-each-ref --format='%(objectname) %(refname)' "$ORIGIN_HEAD" "$KEPT" refs/heads refs/tags) || return
	# sorted by name: ORIGIN_HEAD (refs/deploy-…) first, then KEPT's
	# (refs/deploy/…), then branches and tags. One regex match splits
	# them off: bash's pattern removal (${x#…}, ${x%%…*}) on the whole
	# text takes time that grows with the square of its length (seconds
	# for a repository with thousands of tags); a regex, with its length.
	local nl=$'\n' re block line
	re="^([^$nl]* refs/deploy[-/][^$nl]*$nl)+"
	MIRROR_HEAD_SHA='' KEPT_IDS=()
	if [[ $MIRROR_REFS$nl =~ $re ]]; then
		block=${BASH_REMATCH[0]}
		MIRROR_REFS=${MIRROR_REFS:${#block}}
		while IFS= read -r line; do
			case $line in
			*" $ORIGIN_HEAD") MIRROR_HEAD_SHA=${line%% *} ;;
			*" $KEPT/"*) KEPT_IDS+=("${line##*/}") ;;
			esac
		done <<<"${block%"$nl"}"
	fi
	MIRROR_REFS_READ=1
}

# keep_release ID SHA points KEPT/ID in the mirror at the release's
# commit, so that the mirror's gc keeps the objects the release's .git
# borrows (objects/info/alternates: git log, describe or status in a hook)
# when no branch holds them any more (a force-push, a deleted branch or
# pull request), and deletes the refs of releases that are gone (pruned
# by an earlier deploy, failed, or removed by hand), in one git
# update-ref; the releases an older deploy made, which have no ref, get
# theirs (keep_older). It runs in the background, beside the build, the
# switch and the prune (run in line, its 8-12 ms, mostly git's start, made
# a warm deploy's checkout step half again as long; joined before the
# release was prepared, a no-op deploy still waited 7 ms for it);
# keep_release_wait joins it before the deploy is done, under the lock,
# which the job does not hold. A failure is said and the deploy goes on:
# the release is whole; only git in it could lose objects to a later gc
# of the mirror. A deploy that fails after the checkout leaves the job to
# finish on its own (the next keep_release deletes a failed release's
# ref).
KEEP_PID=''
keep_release() {
	local id d sha lines="update $KEPT/$1 $2" back=()
	for id in ${KEPT_IDS[@]+"${KEPT_IDS[@]}"}; do
		[ "$id" = "$1" ] || [ -d "$P/releases/$id" ] || lines+=$'\n'"delete $KEPT/$id"
	done
	# a kept release with a .git and no ref: an older deploy made it
	for d in "$P"/releases/*/.git; do
		id=${d%/.git} && id=${id##*/}
		[ "$id" != "$1" ] && [ -d "$d" ] || continue
		! in_list "$id" ${KEPT_IDS[@]+"${KEPT_IDS[@]}"} || continue
		sha=''
		[ ! -f "$P/releases/$id/REVISION" ] || IFS= read -r sha <"$P/releases/$id/REVISION" || true
		[[ $sha =~ ^([0-9a-f]{40}|[0-9a-f]{64})$ ]] && back+=("$id $sha")
	done
	{
		git_ update-ref --stdin <<<"$lines" ||
			echo "cannot point $KEPT/$1 in $P/repo at $2 (status $?): a gc of the mirror could take objects that git in releases/$1 uses once no branch holds them"
		((${#back[@]} == 0)) || keep_older "${back[@]}"
	} </dev/null 3<&- 4>&- 9>&- &
	KEEP_PID=$!
}

# keep_older "ID SHA"... gives the releases an older deploy made (no ref
# yet) their refs, in one update-ref; when that fails (a commit the
# mirror no longer has: gc'd after a force-push), one by one, saying
# which release's git has lost its commit.
keep_older() {
	local lines='' r
	for r in "$@"; do lines+="update $KEPT/$r"$'\n'; done
	git_ update-ref --stdin <<<"${lines%$'\n'}" 2>/dev/null && return 0
	for r in "$@"; do
		git_ update-ref "$KEPT/${r% *}" "${r#* }" 2>/dev/null ||
			echo "releases/${r% *}: its commit ${r#* } is no longer in $P/repo (a force-push, then a gc of the mirror): its files are whole, but git in it fails"
	done
}
keep_release_wait() {
	[ -n "$KEEP_PID" ] || return 0
	wait "$KEEP_PID" || true
	KEEP_PID=''
}

# resolve REF sets SHA to the commit REF names in the mirror: a branch,
# else a tag, else a full name (refs/…, fetched for this deploy: see
# mirror_refspecs), a sha or HEAD. A branch is looked up in MIRROR_REFS
# (git lets a branch name only a commit); the rest asks git for the
# commit. git's other guesses (pull/7/head for refs/pull/7/head) are not
# made: such a ref is not fetched, and one left in the mirror is stale.
resolve() {
	local r=$1 c nl=$'\n' re more=()
	# a regex, not ${MIRROR_REFS%%…*}: see mirror_refs
	re="$nl([0-9a-f]{40}|[0-9a-f]{64}) refs/heads/"
	if [ -n "$r" ] && [[ $nl$MIRROR_REFS$nl =~ $re"$r"$nl ]]; then
		SHA=${BASH_REMATCH[1]}
		return 0
	fi
	[[ $r == refs/* || $r == HEAD || $r =~ ^[0-9a-fA-F]{7,40}$ ]] && more=("$r")
	for c in "refs/heads/$r" "refs/tags/$r" ${more[@]+"${more[@]}"}; do
		SHA=$(exec git --git-dir="$P/repo" rev-parse --verify --quiet "$c^{commit}" 2>/dev/null) && return 0
	done
	return 1
}
