# depcache.sh: the dependency cache of `build auto`. Part of the remote
# script (lib.sh, release.sh, mirror.sh, gate.sh, build.sh, depcache.sh, commands.sh
# run as one text).
#
# An install (node_modules, vendor/bundle, deps) is cached under
# $P/.cache/deps/<stack>-<key>/tree, where key hashes what determines it:
# the lockfile, the runtime's version, the platform (uname -sm) and the
# install command. An entry is made under a temp name and renamed into
# place, so one that exists is complete. A release that used an entry is
# listed in $P/.cache/deps/used/<release>; prune removes the entries no
# kept release lists. An entry also records where its tree was made
# (origin): a stack whose install holds its own absolute path (Python's
# venv) defines deps_relocate_<stack> FROM TO, which deps_cached runs on
# the release's copy after taking it from the cache.
#
# How an entry reaches a release (CACHE_METHOD; DEPLOY_CACHE_METHOD, from
# the env key or the server's environment, forces one):
#   reflink   cp --reflink=always: copy-on-write clones (btrfs, xfs, …):
#             no bytes copied, and a write in one release never shows in
#             another.
#   link      node_modules only (the stack sets DEPS_LINK): the release's
#             node_modules is its own directory holding one symlink per
#             top-level entry (packages, @scopes, .bin) into the entry
#             (through node_modules/.deploy-cache, see cache_link),
#             whose files and directories are made read-only (a-w), as
#             pnpm links its store: writing into a package, or adding a
#             file to one, is refused (EACCES); a directory the app or its
#             build adds (node_modules/.cache) is the release's own. Node
#             resolves a package by its real path, so its dependencies are
#             found beside it in the entry. A release costs one directory
#             and its links, whatever the install's size. Chosen instead of
#             hardlink for node, unless the build prunes node_modules
#             afterwards (NODE_ENV=production with a build script): a
#             pruned node_modules is the release's own. Link entries have
#             their own keys, and are never replaced while they exist (a
#             kept release's links point into them). As root, whom mode
#             bits do not stop, the entry is made immutable (chattr +i,
#             which refuses root's writes too: EPERM) when the cache's
#             filesystem and the deploy's capabilities allow it (probed
#             each deploy; CACHE_IMMUTABLE), and the entry's key says so;
#             without that root gets copy. To remove such an entry by
#             hand: chattr -R -f -i, then rm -rf (prune does both). With no build
#             step and no install script of the app's own (DEPS_LINK=2),
#             nothing of the deploy writes into node_modules, and the
#             release's node_modules is one link to the entry's: the whole
#             of it read-only, as on AWS Lambda or a read-only container.
#   hardlink  cp -al of an entry whose files are made read-only (a-w):
#             directories are the release's own, so a file a package adds
#             or replaces (rename) at run time stays in its release, and
#             writing into a shared file is refused (EACCES). Not chosen
#             when the deploy runs as root, since root ignores mode bits
#             (and an immutable file cannot be hard-linked).
#   copy      cp -a: always safe, costs the install's size per release.

CACHE_METHOD='' CACHE_FORCED=0
CACHE_IMMUTABLE=0 # 1: root, and chattr +i works in the cache (link entries are made immutable)
DEPS_LINK=0     # set by a stack whose install may be linked (node_modules): 1, 2 = whole
DEPS_WRITABLE='' # set (to why) by a stack whose build writes into the install: copy, not links
DEPS_METHOD=''  # the method of the deps_cached call under way

# cache_method picks CACHE_METHOD once per deploy, with a probe file in
# the cache directory (reflinks depend on the filesystem) whose answer is
# kept in .reflink.
cache_method() {
	[ -z "$CACHE_METHOD" ] || return 0
	local d="$P/.cache/deps" want
	[ -d "$d/used" ] || mkdir -p -- "$d/used"
	setting want DEPLOY_CACHE_METHOD ''
	case $want in
	reflink | link | hardlink | copy)
		CACHE_METHOD=$want CACHE_FORCED=1
		[ "$want" != link ] || cache_immutable "$d"
		case $want in link | hardlink) ((EUID != 0 || CACHE_IMMUTABLE)) || echo "deps: DEPLOY_CACHE_METHOD=$want as root: root ignores the read-only bits that keep one release from writing into another's files${immutable_why:+ (and the cache cannot be made immutable: $immutable_why)}; copy (the default for root) does not depend on them" ;; esac
		return 0
		;;
	'') ;;
	*) fail "DEPLOY_CACHE_METHOD '$want' is not reflink, link, hardlink or copy" ;;
	esac
	# The probe runs once: its answer stays in .reflink (yes or no), and
	# cache_copy removes a yes that a reflink then contradicts (the cache
	# was moved to another filesystem). Its files stay (the lock is held).
	local memo=''
	[ ! -f "$d/.reflink" ] || IFS= read -r memo <"$d/.reflink" || true
	if [ "$memo" != yes ] && [ "$memo" != no ]; then
		[ -f "$d/.probe" ] || : >"$d/.probe"
		memo=no
		cp --reflink=always -- "$d/.probe" "$d/.probe2" 2>/dev/null && memo=yes
		printf '%s\n' "$memo" >"$d/.reflink" 2>/dev/null || true
	fi
	if [ "$memo" = yes ]; then
		CACHE_METHOD=reflink
	elif ((EUID != 0)); then
		CACHE_METHOD=hardlink
	else
		CACHE_METHOD=copy # deps_cached may link node_modules (cache_immutable)
	fi
}

# cache_immutable DIR sets CACHE_IMMUTABLE when the deploy runs as root
# and can set and clear the immutable attribute on a file in DIR: the
# filesystem must keep it (ext4, xfs, btrfs, tmpfs; not NFS) and the
# process must hold CAP_LINUX_IMMUTABLE (a container's default set does
# not). Else immutable_why says why not. Two chattr runs, once in a
# deploy that could link (deps_cached, or DEPLOY_CACHE_METHOD=link): an
# answer kept from an earlier deploy could outlive the capability.
immutable_why='' immutable_probed=0
cache_immutable() {
	local probe="$1/.probe-immutable" err
	((!immutable_probed)) || return 0
	immutable_probed=1 CACHE_IMMUTABLE=0 immutable_why=''
	((EUID == 0)) || return 0
	# (a probe left immutable by a killed deploy is still a probe)
	[ -f "$probe" ] || : >"$probe" 2>/dev/null || { immutable_why="cannot write $probe" && return 0; }
	if ! err=$(chattr +i -- "$probe" 2>&1); then
		immutable_why="chattr +i is refused here: ${err:-no chattr}"
		return 0
	fi
	if ! err=$(chattr -i -- "$probe" 2>&1); then
		immutable_why="chattr -i is refused here: $err"
		return 0
	fi
	CACHE_IMMUTABLE=1
}

# cache_method_text VAR sets VAR to DEPS_METHOD in words.
cache_method_text() {
	case $DEPS_METHOD in
	reflink) printf -v "$1" '%s' "reflink (copy-on-write clones)" ;;
	link)
		local entry="a read-only cache entry"
		((!CACHE_IMMUTABLE)) || entry="an immutable cache entry (chattr +i: root cannot write into it either)"
		if ((DEPS_LINK == 2)); then
			printf -v "$1" '%s' "one link to $entry (no build step to write into it)"
		else
			printf -v "$1" '%s' "links to $entry"
		fi
		;;
	hardlink) printf -v "$1" '%s' "hard links to read-only files" ;;
	*)
		local why="no reflinks on this filesystem; the deploy runs as root, which read-only files would not stop"
		if ((CACHE_FORCED)); then
			why="DEPLOY_CACHE_METHOD=copy"
		elif [ -n "$DEPS_WRITABLE" ]; then
			why="the build writes into it"
		elif [ -n "$immutable_why" ]; then
			why+=", and the cache cannot be made immutable: $immutable_why"
		fi
		printf -v "$1" '%s' "a plain copy ($why)"
		;;
	esac
}

# cache_copy FROM TO copies a tree by CACHE_METHOD, falling back to a
# plain copy (another filesystem: no links across it).
cache_copy() {
	case $DEPS_METHOD in
	reflink)
		cp -a --reflink=always -- "$1" "$2" 2>/dev/null && return 0
		((CACHE_FORCED)) || rm -f -- "$P/.cache/deps/.reflink" # probe again next deploy
		;;
	hardlink) cp -al -- "$1" "$2" 2>/dev/null && return 0 ;;
	esac
	# what a failed reflink or hardlink copy left (a new release has none)
	if [ -e "$2" ] || [ -L "$2" ]; then rm -rf -- "$2"; fi
	[ "$DEPS_METHOD" = copy ] || echo "deps: $DEPS_METHOD failed between $1 and $2: a plain copy instead"
	cp -a -- "$1" "$2"
}

# cache_link FROM TO makes TO a new directory holding a link to each
# entry of FROM (dot entries too), through one link to FROM itself, named
# .deploy-cache: each entry's link (.deploy-cache/express) is then short
# enough for the filesystem to keep it in its inode, so a release costs
# TO's directory and that one link. The link to FROM is relative (so the
# app's path can move) when TO is in the new release, under $P; else
# absolute. The relative links are the same for every release, so the
# entry keeps them ready in links/ (cache_put), and one cp -a puts them in.
# With DEPS_LINK=2, TO is made one link to FROM instead.
cache_link() {
	local from=$1 to=$2 target
	link_target target "$from" "$to"
	if ((DEPS_LINK == 2)); then
		# TO itself is the link: one level less up than TO/.deploy-cache
		ln -s -- "${target#../}" "$to"
		return
	fi
	if [[ $target == ../* ]] && [ -d "${from%/link/*}/links" ]; then
		cp -a -- "${from%/link/*}/links" "$to"
	else
		link_dir "$from" "$target" "$to"
	fi
}

# link_target VAR FROM TO sets VAR to what TO/.deploy-cache links to:
# FROM relative to TO when TO is in the new release, physically under $P
# (releases/<id>/<dir>); else FROM.
link_target() {
	local rel=${3#"$P/"} e parts=() t=$2
	if [[ $rel == "releases/$REL/"* ]]; then
		local here there
		physical here "$P/releases/$REL"
		physical there "$P"
		if [ "$here" = "$there/releases/$REL" ]; then
			IFS=/ read -ra parts <<<"$rel"
			t=${2#"$P/"}
			for e in "${parts[@]}"; do t=../$t; done
		fi
	fi
	printf -v "$1" '%s' "$t"
}

# link_dir FROM TARGET TO makes directory TO with .deploy-cache linking to
# TARGET and a link .deploy-cache/<name> for each entry of FROM.
link_dir() {
	local from=$1 e names=()
	mkdir -- "$3" && ln -s -- "$2" "$3/.deploy-cache" || return 1
	for e in "$from"/* "$from"/.[!.]* "$from"/..?*; do
		[ -e "$e" ] || [ -L "$e" ] || continue
		names+=(".deploy-cache/${e##*/}")
	done
	((${#names[@]} == 0)) || ln -s -- "${names[@]}" "$3/"
}

# clock VAR sets VAR to the time in µs (bash 5's EPOCHREALTIME; 0 under
# bash 4) and since VAR T sets VAR to the seconds from T to now as 0.00
# ("?" under bash 4): no date or awk to start, and no $(…).
clock() { local t=${EPOCHREALTIME:-0.0}; printf -v "$1" '%s' "${t%%[.,]*}${t##*[.,]}"; }
since() {
	local t1 d
	clock t1
	((t1 > 0)) || { printf -v "$1" '?'; return; }
	d=$(((t1 - $2) / 10000))
	printf -v "$1" '%d.%02d' $((d / 100)) $((d % 100))
}

# deps_cached STACK DIR LOCKFILE RUNTIME INSTALL... puts the release's DIR
# (node_modules) in place from the cache when an entry for this lockfile,
# runtime and platform exists; else runs INSTALL in the release and caches
# what it made. INSTALL is a command (run by build_run), or a function of
# this script when the install takes several commands (Python's venv).
deps_cached() {
	local stack=$1 dir=$2 lock=$3 runtime=$4 key t0 got=0 layout=() how took
	shift 4
	cache_method
	DEPS_METHOD=$CACHE_METHOD
	if ((DEPS_LINK)); then
		[ "$DEPS_METHOD" != hardlink ] || ((CACHE_FORCED)) || DEPS_METHOD='link'
		if [ "$DEPS_METHOD" = copy ] && ((!CACHE_FORCED)); then
			cache_immutable "$P/.cache/deps"
			((!CACHE_IMMUTABLE)) || DEPS_METHOD='link'
		fi
	elif [ "$DEPS_METHOD" = link ]; then
		DEPS_METHOD=hardlink
		echo "deps: $dir is not linked (link is for a node_modules nothing changes after the install): hard links instead"
	fi
	if [ -n "$DEPS_WRITABLE" ]; then
		case $DEPS_METHOD in
		link | hardlink)
			if ((CACHE_FORCED)); then
				echo "warning: $DEPS_WRITABLE, and DEPLOY_CACHE_METHOD=$DEPS_METHOD makes its files read-only: its writes will be refused (unset DEPLOY_CACHE_METHOD, or set it to copy)"
			else
				DEPS_METHOD=copy
				echo "deps: $DEPS_WRITABLE: $dir is copied from the cache, not linked to its read-only files"
			fi
			;;
		esac
	fi
	# a link entry is never copied from, nor a copied one linked to, nor
	# a read-only one taken for an immutable one
	if [ "$DEPS_METHOD" = link ]; then
		layout=('layout link')
		((!CACHE_IMMUTABLE)) || layout=('layout link immutable')
	fi
	deps_key key "$BUILD_REL/$lock" "$runtime" "$*" ${layout[@]+"${layout[@]}"}
	key=$stack-${key:0:16}
	clock t0
	if cache_get "$key" "$dir" && got=1 && deps_relocate "$stack" "$dir" && deps_writable "$dir"; then
		cache_method_text how
		since took "$t0"
		echo "deps: $dir reused from $P/.cache/deps/$key ($lock, runtime and platform unchanged) by $how in $took s"
		mark "info deps $stack reused $DEPS_METHOD $key"
		DEPS_REUSED=1
	else
		DEPS_REUSED=0
		((got == 0)) || rm -rf -- "${BUILD_REL:?}/$dir"
		echo "deps: no cached install for this $lock, runtime and platform ($key): installing"
		if declare -F -- "$1" >/dev/null; then "$@"; else build_run "$stack" "$@"; fi
		clock t0
		cache_put "$key" "$dir"
		cache_method_text how
		since took "$t0"
		echo "deps: $dir cached as $P/.cache/deps/$key by $how in $took s"
		mark "info deps $stack installed $DEPS_METHOD $key"
	fi
	printf '%s\n' "$key" >>"$P/.cache/deps/used/$REL"
	DEPS_KEY=$key
}

# deps_writable DIR makes the release's copy of DIR writable by its
# owner with DEPS_WRITABLE: an entry a hardlink deploy made holds
# read-only files, and cp -a keeps their mode.
deps_writable() {
	[ -n "$DEPS_WRITABLE" ] && [ "$DEPS_METHOD" = copy ] && [ -e "$BUILD_REL/$1" ] || return 0
	chmod -R u+w -- "$BUILD_REL/$1" || fail "cannot make $BUILD_REL/$1 writable"
}

DEPS_KEY=''   # the entry of the last deps_cached call
DEPS_REUSED=0 # 1 when it came from the cache, 0 when installed

# deps_key VAR LOCKFILE RUNTIME LINE... sets VAR to the sha256 (hex) of
# RUNTIME, the platform and the LINEs, one per line, then LOCKFILE's
# bytes. The platform is bash's "Linux $HOSTTYPE" on Linux (what `uname
# -sm` prints there, for the userland bash was built for), else uname
# -sm. One cat and one sha256sum, no uname or pipe to start (bash reading
# the lockfile itself would be slower than cat from a few hundred kB on).
# A lockfile that cannot be read fails the build, rather than naming an
# entry by the other lines alone.
deps_key() {
	local out=$1 file=$2 runtime=$3 plat sum=''
	shift 3
	if [[ $OSTYPE == linux* && -n $HOSTTYPE ]]; then plat="Linux $HOSTTYPE"; else plat=$(uname -sm) || plat=''; fi
	if [ -f "$file" ] && [ -r "$file" ]; then
		sum=$(exec sha256sum < <(printf '%s\n' "$runtime" "$plat" "$@" && exec cat -- "$file")) || sum=''
	fi
	[[ $sum =~ ^[0-9a-f]{64} ]] || fail "cannot hash $file for the dependency cache (unreadable, or sha256sum failed): current is unchanged"
	printf -v "$out" '%s' "${sum:0:64}"
}

# deps_relocate STACK DIR runs deps_relocate_<stack> ORIGIN RELEASE-DIR
# when the stack has one (ORIGIN: where the entry's tree was made, from
# cache_get's DEPS_ORIGIN); it fails, and the deploy installs afresh, when
# the entry does not say its origin.
deps_relocate() {
	declare -F -- "deps_relocate_$1" >/dev/null || return 0
	[ -n "$DEPS_ORIGIN" ] || { echo "deps: the cache entry for $2 does not say where it was made, so its paths cannot be moved: installing instead"; return 1; }
	"deps_relocate_$1" "$DEPS_ORIGIN" "$BUILD_REL/$2"
}

DEPS_ORIGIN=''

# cache_get KEY DIR puts entry KEY into the release as DIR, and sets
# DEPS_ORIGIN to the path its tree was made at ("" when the entry does not
# say); it fails when there is no such entry.
cache_get() {
	local from="$P/.cache/deps/$1" to="$BUILD_REL/$2"
	DEPS_ORIGIN=''
	[ -d "$from" ] || return 1
	[ -f "$from/origin" ] && IFS= read -r DEPS_ORIGIN <"$from/origin"
	# (no rm or mkdir to start in a fresh release's usual case)
	if [ -e "$to" ] || [ -L "$to" ]; then rm -rf -- "$to"; fi
	[ -d "${to%/*}" ] || mkdir -p -- "${to%/*}"
	if [ "$DEPS_METHOD" = link ]; then
		[ -e "$from/link/${2##*/}" ] || return 0 # the install made no DIR
		cache_link "$from/link/${2##*/}" "$to" || fail "cannot link the cached $2 from $from into the release"
		return 0
	fi
	[ -e "$from/tree" ] || return 0 # the install made no DIR
	cache_copy "$from/tree" "$to" || fail "cannot copy the cached $2 from $from into the release"
}

# cache_put KEY DIR makes entry KEY from the release's DIR. With hard
# links the release's files become read-only too: they are the entry's.
# With link, DIR moves into the entry (no copy), is made read-only, and
# the release gets its links to it.
cache_put() {
	local d="$P/.cache/deps" src="$BUILD_REL/$2" tmp origin err
	tmp="$d/.tmp-$1-$$"
	rm -rf -- "$tmp"
	mkdir -p -- "$tmp"
	physical origin "$src"
	printf '%s\n' "$origin" >"$tmp/origin"
	if [ ! -e "$src" ]; then
		:
	elif [ "$DEPS_METHOD" = link ]; then
		mkdir -- "$tmp/link" && mv -T -- "$src" "$tmp/link/${2##*/}" ||
			fail "cannot move $src into the cache $tmp"
		chmod -R a-w -- "$tmp/link/${2##*/}" || fail "cannot make $tmp/link/${2##*/} read-only for the cache"
		# (not chattr -R: it fails on each symlink, which has no attributes)
		if ((CACHE_IMMUTABLE)) && ! err=$(find "$tmp/link/${2##*/}" \( -type f -o -type d \) -exec chattr +i -- {} + 2>&1); then
			fail "cannot make $tmp/link/${2##*/} immutable for the cache (chattr +i: $err), which a root deploy's links need: run deploys as a non-root user, or set env DEPLOY_CACHE_METHOD=copy; current is unchanged"
		fi
		# the links a release at releases/<id> gets (cache_link), kept
		# writable: cp -a gives the release's DIR this directory's mode;
		# only relative ones are the same for every release
		local target
		link_target target "$d/$1/link/${2##*/}" "$src"
		if [[ $target == ../* ]]; then
			link_dir "$tmp/link/${2##*/}" "$target" "$tmp/links" || fail "cannot make the links for $2 in $tmp"
		fi
	else
		[ "$DEPS_METHOD" != hardlink ] || find "$src" -type f -perm /222 -exec chmod a-w {} + ||
			fail "cannot make the files of $src read-only for the cache"
		cache_copy "$src" "$tmp/tree" || fail "cannot copy $src into the cache $tmp"
	fi
	# a link entry is not replaced: kept releases link into it (and with
	# its own key, deps_cached only puts one that does not exist)
	[ "$DEPS_METHOD" = link ] || rm -rf -- "${d:?}/$1"
	mv -T -- "$tmp" "$d/$1" || fail "cannot put $tmp into the cache as $d/$1"
	[ "$DEPS_METHOD" != link ] || [ ! -e "$d/$1/link/${2##*/}" ] ||
		cache_link "$d/$1/link/${2##*/}" "$src" || fail "cannot link the cached $2 from $d/$1 into the release"
}

# deps_relocate_python FROM TO makes the venv made at FROM and copied to
# TO work at TO. A venv holds its own absolute path in bin/'s scripts
# (pip's and the packages' console scripts: the #! line, or the
# '''exec' "…/bin/python" line pip writes when that is too long),
# bin/activate* (VIRTUAL_ENV) and pyvenv.cfg (command); those files, and
# only in TO, are replaced by new files with TO for FROM. New files, not
# writes: with hard links or reflinks the old file is the cache entry's,
# and writing through it would change every release. bin/python stays a
# link to the base interpreter (part of the key); site-packages is
# relative to the venv, and the .pyc files' source paths are fixed on
# import by Python itself. Paths a package writes elsewhere at install
# time (an editable's .pth, which python_reqs keeps out of the cache) are
# not rewritten.
deps_relocate_python() {
	local from=$1 to f text files=() texts=() exe=()
	physical to "$2"
	[ "$from" != "$to" ] || return 0
	for f in "$to"/bin/* "$to/pyvenv.cfg"; do
		[ -f "$f" ] && [ ! -L "$f" ] && files+=("$f")
	done
	((${#files[@]})) || return 0
	mapfile -t files < <(grep -lIF -- "$from" "${files[@]}" 2>/dev/null)
	((${#files[@]})) || return 0
	for f in "${files[@]}"; do
		IFS= read -r -d '' text <"$f" || true
		texts+=("${text//"$from"/"$to"}")
		[ ! -x "$f" ] || exe+=("$f")
	done
	rm -f -- "${files[@]}" || fail "cannot replace the venv's scripts in $to/bin"
	for f in "${!files[@]}"; do
		printf '%s' "${texts[f]}" >"${files[f]}" || fail "cannot write ${files[f]}"
	done
	((${#exe[@]} == 0)) || chmod a+x -- "${exe[@]}" || fail "cannot make the venv's scripts in $to/bin executable"
}

# prune_caches removes the cache entries that no kept release used, and
# what a killed deploy left half-made (the lock is held: nothing is being
# made now).
prune_caches() {
	local d="$P/.cache/deps" u e name keys=()
	[ -d "$d/used" ] || return 0
	for u in "$d"/used/*; do
		[ -e "$u" ] || continue
		if [ -d "$P/releases/${u##*/}" ]; then
			mapfile -t -O "${#keys[@]}" keys <"$u"
		else
			rm -f -- "$u"
		fi
	done
	for e in "$d"/* "$d"/.tmp-*; do
		[ -d "$e" ] || continue
		name=${e##*/}
		[ "$name" != used ] || continue
		in_list "$name" ${keys[@]+"${keys[@]}"} && continue
		# a link entry's directories are read-only (and as root
		# immutable): writable first
		if ! rm -rf -- "$e" 2>/dev/null; then
			((EUID != 0)) || chattr -R -f -i -- "$e" 2>/dev/null || true
			if ! { chmod -R u+w -- "$e" && rm -rf -- "$e"; } 2>/dev/null; then
				echo "warning: the unused cache entry $e could not be removed (another user's files, or immutable ones this deploy cannot change): remove it by hand (as root: chattr -R -f -i $e; rm -rf $e). Each deploy tries again."
				continue
			fi
		fi
		[[ $name == .tmp-* ]] || mark "info pruned-cache $name"
	done
}
