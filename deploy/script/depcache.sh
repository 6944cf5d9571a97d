# depcache.sh: the dependency cache of `build auto`. Part of the remote
# script (lib.sh, release.sh, gate.sh, build.sh, depcache.sh, commands.sh
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
#   hardlink  cp -al of an entry whose files are made read-only (a-w):
#             directories are the release's own, so a file a package adds
#             or replaces (rename) at run time stays in its release, and
#             writing into a shared file is refused (EACCES). Not chosen
#             when the deploy runs as root, since root ignores mode bits.
#   copy      cp -a: always safe, costs the install's size per release.

CACHE_METHOD=''

# cache_method picks CACHE_METHOD once per deploy, with a probe file in
# the cache directory (reflinks depend on the filesystem).
cache_method() {
	[ -z "$CACHE_METHOD" ] || return 0
	local d="$P/.cache/deps" want
	mkdir -p -- "$d/used"
	want=$(setting DEPLOY_CACHE_METHOD '')
	case $want in
	reflink | hardlink | copy) CACHE_METHOD=$want && return 0 ;;
	'') ;;
	*) fail "DEPLOY_CACHE_METHOD '$want' is not reflink, hardlink or copy" ;;
	esac
	: >"$d/.probe.$$"
	if cp --reflink=always -- "$d/.probe.$$" "$d/.probe2.$$" 2>/dev/null; then
		CACHE_METHOD=reflink
	elif ((EUID != 0)); then
		CACHE_METHOD=hardlink
	else
		CACHE_METHOD=copy
	fi
	rm -f -- "$d/.probe.$$" "$d/.probe2.$$"
}

# cache_method_text says CACHE_METHOD in words.
cache_method_text() {
	case $CACHE_METHOD in
	reflink) echo "reflink (copy-on-write clones)" ;;
	hardlink) echo "hard links to read-only files" ;;
	*) echo "a plain copy (no reflinks on this filesystem; the deploy runs as root, which read-only files would not stop)" ;;
	esac
}

# cache_copy FROM TO copies a tree by CACHE_METHOD, falling back to a
# plain copy (another filesystem: no links across it).
cache_copy() {
	case $CACHE_METHOD in
	reflink) cp -a --reflink=always -- "$1" "$2" 2>/dev/null && return 0 ;;
	hardlink) cp -al -- "$1" "$2" 2>/dev/null && return 0 ;;
	esac
	rm -rf -- "$2"
	[ "$CACHE_METHOD" = copy ] || echo "deps: $CACHE_METHOD failed between $1 and $2: a plain copy instead"
	cp -a -- "$1" "$2"
}

# clock VAR sets VAR to the time in µs (bash 5's EPOCHREALTIME; 0 under
# bash 4) and since T prints the seconds from T to now as 0.00 ("?" under
# bash 4): no date or awk to start.
clock() { local t=${EPOCHREALTIME:-0.0}; printf -v "$1" '%s' "${t%%[.,]*}${t##*[.,]}"; }
since() {
	local t1 d
	clock t1
	((t1 > 0)) || { printf '?'; return; }
	d=$(((t1 - $1) / 10000))
	printf '%d.%02d' $((d / 100)) $((d % 100))
}

# deps_cached STACK DIR LOCKFILE RUNTIME INSTALL... puts the release's DIR
# (node_modules) in place from the cache when an entry for this lockfile,
# runtime and platform exists; else runs INSTALL in the release and caches
# what it made. INSTALL is a command (run by build_run), or a function of
# this script when the install takes several commands (Python's venv).
deps_cached() {
	local stack=$1 dir=$2 lock=$3 runtime=$4 key t0 got=0
	shift 4
	key=$({ printf '%s\n' "$runtime" "$(uname -sm)" "$*"; cat -- "$BUILD_REL/$lock"; } | sha256sum)
	key=$stack-${key:0:16}
	cache_method
	clock t0
	if cache_get "$key" "$dir" && got=1 && deps_relocate "$stack" "$dir"; then
		echo "deps: $dir reused from $P/.cache/deps/$key ($lock, runtime and platform unchanged) by $(cache_method_text) in $(since "$t0") s"
		mark "info deps $stack reused $CACHE_METHOD $key"
	else
		((got == 0)) || rm -rf -- "${BUILD_REL:?}/$dir"
		echo "deps: no cached install for this $lock, runtime and platform ($key): installing"
		if declare -F -- "$1" >/dev/null; then "$@"; else build_run "$stack" "$@"; fi
		clock t0
		cache_put "$key" "$dir"
		echo "deps: $dir cached as $P/.cache/deps/$key by $(cache_method_text) in $(since "$t0") s"
		mark "info deps $stack installed $CACHE_METHOD $key"
	fi
	printf '%s\n' "$key" >>"$P/.cache/deps/used/$REL"
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
	rm -rf -- "$to"
	[ -e "$from/tree" ] || return 0 # the install made no DIR
	mkdir -p -- "${to%/*}"
	cache_copy "$from/tree" "$to" || fail "cannot copy the cached $2 from $from into the release"
}

# cache_put KEY DIR makes entry KEY from the release's DIR. With hard
# links the release's files become read-only too: they are the entry's.
cache_put() {
	local d="$P/.cache/deps" src="$BUILD_REL/$2" tmp
	tmp="$d/.tmp-$1-$$"
	rm -rf -- "$tmp"
	mkdir -p -- "$tmp"
	if [ -e "$src" ]; then
		[ "$CACHE_METHOD" != hardlink ] || find "$src" -type f -perm /222 -exec chmod a-w {} + ||
			fail "cannot make the files of $src read-only for the cache"
		cache_copy "$src" "$tmp/tree" || fail "cannot copy $src into the cache $tmp"
	fi
	local origin
	physical origin "$src"
	printf '%s\n' "$origin" >"$tmp/origin"
	rm -rf -- "${d:?}/$1"
	mv -T -- "$tmp" "$d/$1"
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
		[ -d "$P/releases/${u##*/}" ] || rm -f -- "$u"
	done
	mapfile -t keys < <(cat -- "$d"/used/* 2>/dev/null | sort -u)
	for e in "$d"/* "$d"/.tmp-*; do
		[ -d "$e" ] || continue
		name=${e##*/}
		[ "$name" != used ] || continue
		in_list "$name" ${keys[@]+"${keys[@]}"} && continue
		rm -rf -- "$e"
		[[ $name == .tmp-* ]] || mark "info pruned-cache $name"
	done
}
