# build.sh: `build auto`: detect the stack(s) in the new release and run
# their standard build there, before the switch. Part of the remote script
# (lib.sh, release.sh, mirror.sh, gate.sh, build.sh, depcache.sh, commands.sh run as
# one text).
#
# Stacks, in the order they build (a Node front end first, so that a Go,
# Python, Ruby or Elixir app can embed what it produced):
#
#   node    package.json     npm ci | yarn install --frozen-lockfile |
#                            pnpm install --frozen-lockfile, by lockfile;
#                            then `<pm> run build` when package.json has one
#   python  requirements.txt | pyproject.toml: a venv in .venv, pip install;
#           with requirements.txt, the venv is cached per requirements
#           (deps_cached) and relocated to the release (deps_relocate_python);
#           without it, pyproject.toml + poetry.lock: poetry install
#           --only main --no-root into .venv, cached per poetry.lock
#           (build_poetry); a uv.lock, pdm.lock or Pipfile(.lock), which
#           pip would ignore, fails the build with the command that
#           exports it to requirements.txt
#   ruby    Gemfile          bundle install in deployment mode (vendor/bundle)
#   elixir  mix.exs          mix deps.get --only $MIX_ENV (with a mix.lock,
#                            after mix local.hex/local.rebar when it needs
#                            them and they are missing), mix release; the
#                            compiled dependencies are kept per mix.lock
#                            (mix_build_get/put)
#   go      go.mod           go build -o <name> . | -o bin/<x> ./cmd/<x>
#
# Each stack says what it detected and why (a plain line and `info build`);
# a failing command fails the deploy in step `build`, naming the stack and
# the command, before the switch: current is unchanged.

BUILD_REL='' BUILD_PREV=''
BUILD_ENV=() # NAME=value words a stack's commands get (GOCACHE, PIP_CACHE_DIR, …)

build_auto() { # release-dir previous-dir
	BUILD_REL=$1 BUILD_PREV=$2
	step build
	hook_env "$BUILD_REL" "$BUILD_PREV"
	local stacks=() s
	stacks_of release_has
	stacks=(${STACKS[@]+"${STACKS[@]}"})
	if ((${#stacks[@]} == 0)); then
		echo "build auto: no stack detected (no package.json, go.mod, requirements.txt, pyproject.toml, Pipfile, Gemfile or mix.exs at the release's root): nothing to build"
		mark "info build none no stack detected"
		return 0
	fi
	((${#stacks[@]} == 1)) || echo "build auto: ${#stacks[@]} stacks detected, built in this order: ${stacks[*]}"
	for s in "${stacks[@]}"; do
		BUILD_ENV=()
		"build_$s"
	done
	BUILD_ENV=()
}

# stacks_of HAS sets STACKS to the stacks build auto builds, in order, for
# a root where `HAS FILE` succeeds for each FILE it holds (release_has for
# the release; check_build reads what the next deploy ships).
STACKS=()
stacks_of() {
	STACKS=()
	"$1" package.json && STACKS+=(node)
	{ "$1" requirements.txt || "$1" pyproject.toml || "$1" Pipfile; } && STACKS+=(python)
	"$1" Gemfile && STACKS+=(ruby)
	"$1" mix.exs && STACKS+=(elixir)
	"$1" go.mod && STACKS+=(go)
	return 0
}
release_has() { [ -f "$BUILD_REL/$1" ]; }

# node_lock HAS sets NODE_LOCK to the lockfile build_node installs from
# ("" for none): the first of npm's, yarn's and pnpm's that HAS finds.
NODE_LOCK=''
node_lock() {
	local f
	NODE_LOCK=''
	for f in package-lock.json npm-shrinkwrap.json yarn.lock pnpm-lock.yaml; do
		"$1" "$f" && { NODE_LOCK=$f; return 0; }
	done
	return 0
}

# build_says STACK WHY WHAT reports a detection, for people and the client.
build_says() {
	echo "build: $1 detected ($2): $3"
	mark "info build $1 $2"
}

# build_run STACK CMD... runs CMD in the release with the hook environment
# and BUILD_ENV, through the hook shell (bash -lc with shell=login, so a
# profile's PATH counts), and fails the build naming the stack and command.
build_run() {
	local stack=$1 rc=0 lflag=()
	shift
	echo "\$ $*"
	[ "$SHELL_MODE" = login ] && lflag=(-l)
	run_in "$BUILD_REL" "$BUILD_REL" "$BUILD_PREV" bash ${lflag[@]+"${lflag[@]}"} -c '"$@"' deploy-build \
		env ${BUILD_ENV[@]+"${BUILD_ENV[@]}"} "$@" || rc=$?
	((rc == 0)) && return 0
	if ((rc == 127)); then
		local corepack=''
		case $1 in yarn | pnpm) corepack=" (Node's corepack provides $1: run 'corepack enable' as root once)" ;; esac
		fail "$stack: '$1' was not found in the hook shell's PATH on this server: install it$corepack, or set shell login (or env PATH=…) when a profile puts it there; current is unchanged"
	fi
	fail "$stack: '$*' exited with status $rc: current is unchanged$BUILD_FAIL_NOTE"
}

# BUILD_FAIL_NOTE ends build_run's failure message while set: what the
# step ran against that may be why (build_node's read-only node_modules).
BUILD_FAIL_NOTE=

# build_out CMD... prints CMD's output, run like build_run but quietly;
# nothing when it fails (a runtime's version, a package.json query). The
# hook shell (bash -c; -l with shell login) starts only when it can change
# what runs: with shell login, or a BASH_ENV for it to read; else CMD runs
# straight, found in the same PATH (the env key's, when it sets one): an
# exec fewer.
build_out() {
	local lflag=()
	[ "$SHELL_MODE" = login ] && lflag=(-l)
	# export, not env: one exec fewer (the names are identifiers, checked
	# on the laptop)
	(
		cd -- "$BUILD_REL" || exit
		((${#HOOK_ENV[@]} == 0)) || export "${HOOK_ENV[@]}"
		[ "$SHELL_MODE" != login ] && [ -z "${BASH_ENV:-}" ] && exec "$@"
		exec bash ${lflag[@]+"${lflag[@]}"} -c '"$@"' deploy-build "$@"
	) </dev/null 2>/dev/null 3<&- 4>&- 9>&- || true
}

build_node() {
	local lock='' pm=npm install=() build=() why=package.json f
	node_lock release_has
	lock=$NODE_LOCK
	# bun's lockfile: npm, yarn and pnpm do not read it, and an install
	# without it ships versions the app was not locked and tested with
	for f in bun.lockb bun.lock; do
		[ -z "$lock" ] && [ -f "$BUILD_REL/$f" ] || continue
		fail "node: $f pins this app's dependencies, but build auto installs with npm, yarn or pnpm, which do not read it: commit a package-lock.json made from it (npm install --package-lock-only), or build with pre-deploy (bun install --frozen-lockfile, then bun run build); current is unchanged"
	done
	# workspaces: the packages under it get node_modules of their own (a
	# version that differs from the root's), and the root's holds links
	# to the packages (../packages/a), which the cache would not keep
	local workspaces=''
	if [ -f "$BUILD_REL/pnpm-workspace.yaml" ]; then
		workspaces=pnpm-workspace.yaml
	else
		IFS= read -r -d '' f <"$BUILD_REL/package.json" || true
		[[ $f != *'"workspaces"'* ]] || workspaces="package.json's workspaces"
	fi
	# Yarn 2+ (a yarn.lock with __metadata): yarn install --immutable; by
	# default it installs Plug'n'Play (.pnp.cjs and .yarn/, with packages
	# in yarn's own cache), not node_modules (nodeLinker in .yarnrc.yml)
	local berry='' linker='' line n re
	if [ "$lock" = yarn.lock ]; then
		# its header: two comments, a blank line, __metadata:
		for n in 1 2 3 4 5 6; do
			IFS= read -r line || break
			[[ $line != __metadata:* ]] || { berry=1 linker=pnp; }
		done <"$BUILD_REL/yarn.lock"
		f=''
		[ -z "$berry" ] || [ ! -f "$BUILD_REL/.yarnrc.yml" ] || IFS= read -r -d '' f <"$BUILD_REL/.yarnrc.yml" || true
		re=$'(^|\n)nodeLinker:[[:space:]]*([^[:space:]#]+)'
		if [[ $f =~ $re ]]; then
			linker=${BASH_REMATCH[2]}
			linker=${linker//[\"\']/}
		fi
	fi
	case $lock in
	yarn.lock) pm=yarn install=(yarn install --frozen-lockfile) ;;
	pnpm-lock.yaml) pm=pnpm install=(pnpm install --frozen-lockfile) ;;
	'') install=(npm install --no-audit --no-fund) ;;
	*) install=(npm ci --no-audit --no-fund) ;;
	esac
	[ -z "$berry" ] || install=(yarn install --immutable)
	[ -z "$lock" ] || why+=" + $lock"
	local info hooks=''
	node_info
	node_wanted "${info%% *}"
	[[ $info != *' hooks='* ]] || hooks=${info##* hooks=}
	if [[ $info == *' build'* ]]; then
		build=("$pm" run build)
		why+=" + scripts.build"
	fi
	# NODE_ENV=production makes the installs leave out devDependencies, and
	# builds need theirs (bundlers, compilers, type checkers): install them
	# for the build and prune them after it, as Heroku's Node buildpack does.
	local prune=() nodeenv
	setting nodeenv NODE_ENV ''
	if ((${#build[@]})) && [ "$nodeenv" = production ]; then
		case $pm$berry in
		yarn1) prune=(yarn workspaces focus --all --production) ;; # Yarn 2+ installs devDependencies whatever NODE_ENV
		npm) install+=(--include=dev) prune=(npm prune --omit=dev --no-audit --no-fund) ;;
		yarn) install+=(--production=false) prune=(yarn install --frozen-lockfile --production=true --ignore-scripts --prefer-offline) ;;
		pnpm) install+=(--prod=false) prune=(pnpm prune --prod) ;;
		esac
		why+=" + NODE_ENV=production"
	fi
	build_says node "$why" "${install[*]}${build[*]:+, then ${build[*]}}${prune[*]:+, then ${prune[*]}}"
	if [ -z "$lock" ]; then
		build_run node "${install[@]}"
		echo "deps: node_modules installed fresh and not cached: there is no lockfile (commit package-lock.json, yarn.lock or pnpm-lock.yaml)"
		mark "info deps node uncached no-lockfile"
	elif [ -n "$berry" ] && [ "$linker" != node-modules ]; then
		build_run node "${install[@]}"
		echo "deps: Yarn 2+ installs with nodeLinker $linker (.pnp.cjs, .yarn/ and yarn's own cache), not into node_modules: run each deploy, from yarn's cache, and not cached here (nodeLinker: node-modules in .yarnrc.yml is)"
		mark "info deps node uncached yarn-$linker"
	elif [ -n "$workspaces" ]; then
		build_run node "${install[@]}"
		echo "deps: node_modules installed fresh and not cached: the app has workspaces ($workspaces), whose packages keep node_modules of their own and are linked from the root's, and the cache holds the root's node_modules alone"
		mark "info deps node uncached workspaces"
	elif [ -n "$hooks" ] && [ "$hooks" != prepare ]; then
		# what the app's own install scripts make (prisma generate,
		# patch-package) can depend on files other than the lockfile
		build_run node "${install[@]}"
		echo "deps: node_modules installed fresh and not cached: package.json's ${hooks//,/, } script runs in $pm's install, and what it makes (prisma generate, patch-package) can depend on files other than $lock; to get the cache, move that work into scripts.build (one that writes into node_modules, as prisma generate does, also needs env DEPLOY_CACHE_METHOD=copy)"
		mark "info deps node uncached lifecycle"
	else
		# a node_modules the build does not prune afterwards may be
		# links into a read-only cache entry (depcache.sh: link)
		((${#prune[@]})) || DEPS_LINK=1
		# with no build step and no install script of the app's own,
		# nothing of the deploy writes into node_modules: it may be one
		# link to the entry's (a read-only node_modules, as on AWS Lambda)
		((${#build[@]} || ${#prune[@]})) || [ -n "$hooks" ] || DEPS_LINK=2
		# patch-package writes into installed packages after the install
		# (from scripts.build or prepare), and when it cannot, it says
		# "Failed to apply patch" and exits 0 (unless CI is set): the
		# release would go live unpatched. So its node_modules is the
		# release's own files.
		if ((NODE_PATCHES)) && { ((${#build[@]})) || [ "$hooks" = prepare ]; }; then
			DEPS_WRITABLE="package.json uses patch-package, which writes into installed packages after the install (and exits 0 when it cannot)"
		fi
		local conf
		deps_conf conf .npmrc .yarnrc .yarnrc.yml .pnpmfile.cjs -- npm_config_ NPM_CONFIG_ YARN_ PNPM_
		deps_cached node node_modules "$lock" "node ${info%% *} NODE_ENV=$nodeenv$conf" "${install[@]}"
		DEPS_LINK=0 DEPS_WRITABLE=''
		# a package writes no file of its own at run time, but a build
		# step may: patch-package, prisma generate (which hides EACCES
		# behind "cannot apply the patch")
		case $DEPS_METHOD in
		link | hardlink)
			local how
			cache_method_text how
			BUILD_FAIL_NOTE=" (node_modules came from the dependency cache by $how, where nothing can be written into an installed package: if the build writes into node_modules, as patch-package and prisma generate do, set env DEPLOY_CACHE_METHOD=copy)"
			;;
		esac
		# the install runs the app's prepare script (husky install, a
		# compile into dist/); the cache does not, so run it here
		if ((DEPS_REUSED)) && [ "$hooks" = prepare ]; then
			echo "deps: package.json's prepare script, which $pm's install runs:"
			build_run node "$pm" run prepare
		fi
	fi
	((${#build[@]} == 0)) || build_run node "${build[@]}"
	BUILD_FAIL_NOTE=''
	if ((${#prune[@]})); then
		# npm rewrites its hidden lockfile in place, and with the hard-link
		# cache the release's copy is a read-only link: remove it (npm
		# makes a new one)
		rm -f -- "$BUILD_REL/node_modules/.package-lock.json"
		build_run node "${prune[@]}"
		echo "deps: devDependencies pruned after the build (NODE_ENV=production)"
	fi
}

# deps_conf VAR FILE... -- PREFIX... sets VAR to what else decides an
# install, for its cache key: each FILE that is in the release (a package
# manager's project config: .npmrc's legacy-peer-deps or omit, a
# readPackage hook) with its text, then the env key's variables whose
# names start with a PREFIX (npm_config_, PIP_, BUNDLE_); "" when there
# are none, so that the key stays what it was without them. Read by bash:
# nothing to start. The server's own config files and environment are,
# like its runtime, the server's.
deps_conf() {
	# _names: VAR may be any name but these
	local _out=$1 _f _t _kv _p _c=''
	shift
	while (($#)) && [ "$1" != -- ]; do
		_f=$1
		shift
		[ -f "$BUILD_REL/$_f" ] || continue
		_t=''
		IFS= read -r -d '' _t <"$BUILD_REL/$_f" || true
		_c+=$'\n'"$_f: $_t"
	done
	(($# == 0)) || shift
	for _kv in ${VARS[@]+"${VARS[@]}"}; do
		for _p in "$@"; do
			[[ ${_kv%%=*} == "$_p"* ]] && { _c+=$'\n'"$_kv"; break; }
		done
	done
	printf -v "$_out" '%s' "$_c"
}

# NODE_PATCHES is 1 when package.json names patch-package (node_info).
NODE_PATCHES=0

# node_info sets build_node's info to node's version (for the cache key),
# then " build" when package.json has a build script, then " hooks=" and
# the install lifecycle scripts it has that the package manager's install
# runs for the app itself (preinstall, install, postinstall, prepublish,
# preprepare, prepare, postprepare), comma-separated. `node --version`
# takes 10 ms where a node that reads the JSON takes 110 here, so the JSON
# is read only when it can hold one of those keys (the word, or a \u
# escape that could spell it), and then once per package.json text: the
# answer is kept, with the text it is for, in .cache/deps/.node-scripts
# (first line "2:" and the flags; another first line is an older
# deploy's, without hooks, and is read again).
node_info() {
	local text='' memo="$P/.cache/deps/.node-scripts" old='' flag=''
	IFS= read -r -d '' text <"$BUILD_REL/package.json" || true
	NODE_PATCHES=0
	[[ $text != *patch-package* ]] || NODE_PATCHES=1
	if [[ $text == *'"build"'* || $text == *'install"'* || $text == *'prepublish"'* || $text == *'prepare"'* || $text == *'\u'* ]]; then
		[ -f "$memo" ] && { IFS= read -r -d '' old <"$memo" || true; }
		if [[ $old == 2:* ]] && [ "${old#*$'\n'}" = "$text" ]; then
			flag=${old%%$'\n'*}
			flag=${flag#2:}
		else
			# shellcheck disable=SC2016 # node's code, not the shell's
			info=$(build_out node -e 'let f = ""; try { const s = require(process.argv[1]).scripts || {}; if (s.build) f += " build"; const h = ["preinstall", "install", "postinstall", "prepublish", "preprepare", "prepare", "postprepare"].filter(k => s[k]); if (h.length) f += " hooks=" + h.join(",") } catch (e) {} console.log(process.version + f)' "$BUILD_REL/package.json")
			flag=${info#* }
			[ "$flag" != "$info" ] || flag=''
			flag=${flag:+ $flag}
			[ -z "$info" ] || { cache_method && printf '2:%s\n%s' "$flag" "$text" >"$memo.$$" && mv -f -- "$memo.$$" "$memo"; } ||
				rm -f -- "$memo.$$"
			return 0
		fi
	fi
	info=$(build_out node --version)
	info+=$flag
}

# node_wanted VERSION says when .nvmrc or .node-version asks for another
# major version of node than VERSION, the one the build runs (nvm, fnm or
# n read them on a laptop; nothing switches versions here): the app may
# not run as it was tested. An alias (lts/*, node) is not compared.
node_wanted() {
	local f want have=${1#v}
	have=${have%%.*}
	for f in .nvmrc .node-version; do
		[ -f "$BUILD_REL/$f" ] || continue
		want=''
		IFS= read -r want <"$BUILD_REL/$f" || true
		want=${want//[[:space:]]/}
		want=${want#v}
		want=${want%%[!0-9]*}
		if [ -n "$want" ] && [ -n "$have" ] && [ "$want" != "$have" ]; then
			echo "node: $f asks for node $want, and the build runs node ${1:-(unknown)} on this server: the app may not run as it was tested (install node $want on this server)"
		fi
		return 0
	done
}

# python_lock_hint LOCKFILE says how to make requirements.txt from it.
python_lock_hint() {
	case $1 in
	poetry.lock) echo "poetry export -f requirements.txt --output requirements.txt" ;;
	uv.lock) echo "uv export --format requirements-txt --output-file requirements.txt" ;;
	pdm.lock) echo "pdm export -o requirements.txt" ;;
	*) echo "pipenv requirements > requirements.txt" ;;
	esac
}

build_python() {
	BUILD_ENV=("PIP_CACHE_DIR=$P/.cache/pip" PIP_DISABLE_PIP_VERSION_CHECK=1)
	if [ ! -f "$BUILD_REL/requirements.txt" ]; then
		if [ -f "$BUILD_REL/poetry.lock" ] && [ -f "$BUILD_REL/pyproject.toml" ]; then
			build_poetry
			return 0
		fi
		# pip reads none of these: installing without them would ship
		# other versions than the ones the app was locked and tested with
		local f
		for f in poetry.lock uv.lock pdm.lock Pipfile.lock Pipfile; do
			[ -f "$BUILD_REL/$f" ] || continue
			fail "python: $f pins this app's dependencies, but build auto installs with pip, which does not read it: commit a requirements.txt made from it ($(python_lock_hint "$f")), which build auto installs and caches, or build with pre-deploy; current is unchanged"
		done
	fi
	if [ ! -f "$BUILD_REL/requirements.txt" ]; then
		build_says python pyproject.toml "python3 -m venv .venv, then .venv/bin/pip install ."
		python_venv_install .
		echo "deps: .venv installed fresh and not cached (pip install . installs the app itself, which changes with each commit); pip's download and wheel cache in $P/.cache/pip"
		mark "info deps python pip-cache"
		return 0
	fi
	build_says python requirements.txt "python3 -m venv .venv, then .venv/bin/pip install -r requirements.txt"
	python_reqs "$BUILD_REL/requirements.txt"
	if [ -n "$PY_UNKEYED" ]; then
		python_venv_install -r requirements.txt
		echo "deps: .venv installed fresh and not cached: '$PY_UNKEYED' in the requirements names files or a URL whose content their text does not pin; pip's download and wheel cache in $P/.cache/pip"
		mark "info deps python uncached local-requirement"
		return 0
	fi
	# The key: requirements.txt (deps_cached hashes it), the files it
	# includes with -r/-c, python's version and executable.
	local runtime
	runtime="python $(build_out python3 -c 'import sys; print(sys.version.split()[0], sys.executable)')"
	((${#PY_INCLUDES[@]} == 0)) || runtime+=" includes $(cat -- "${PY_INCLUDES[@]}" | sha256sum)"
	local conf
	deps_conf conf -- PIP_
	deps_cached python .venv requirements.txt "$runtime$conf" python_venv_install -r requirements.txt
}

# build_poetry installs a Poetry project's locked main dependencies into
# the release's .venv, as Heroku's Python buildpack runs Poetry:
# `poetry install --only main --no-root` (the app runs from the release,
# so the project itself is not installed), with the venv in the project
# and Poetry's cache in .cache/poetry. The venv is cached per poetry.lock
# (whose content-hash covers pyproject.toml's dependencies) and python's
# version and executable, and relocated like pip's; a lock with a
# directory dependency, whose files its text does not pin, installs
# fresh each time. Poetry's own version is not in the key: asking it
# costs a Poetry start (0.7 s here) on every deploy, and the lock, not
# Poetry, says what is installed.
build_poetry() {
	BUILD_ENV+=(POETRY_VIRTUALENVS_IN_PROJECT=true POETRY_VIRTUALENVS_CREATE=true "POETRY_CACHE_DIR=$P/.cache/poetry" POETRY_NO_INTERACTION=1)
	local install=(poetry install --only main --no-root) runtime
	build_says python "pyproject.toml + poetry.lock" "${install[*]} (into .venv)"
	if grep -q '^type = "directory"' -- "$BUILD_REL/poetry.lock"; then
		build_run python "${install[@]}"
		echo "deps: .venv installed fresh and not cached: poetry.lock has a directory dependency, whose files its text does not pin; Poetry's cache in $P/.cache/poetry"
		mark "info deps python uncached local-requirement"
		return 0
	fi
	runtime="python $(build_out python3 -c 'import sys; print(sys.version.split()[0], sys.executable)')"
	local conf
	deps_conf conf poetry.toml -- POETRY_ PIP_
	deps_cached python .venv poetry.lock "$runtime$conf" "${install[@]}"
}

# python_venv_install PIP-ARGS... makes the release's venv and installs
# into it with its own pip.
python_venv_install() {
	build_run python python3 -m venv .venv
	build_run python .venv/bin/pip install "$@"
}

PY_INCLUDES=() PY_UNKEYED=''

# python_reqs FILE reads a requirements file and the ones it includes
# (-r/-c, relative to the including file) and sets PY_INCLUDES to the
# included files, and PY_UNKEYED to the first line whose install the
# files' text does not determine: an editable (-e), a local path or
# file: URL (the release's own files, which change with each commit), a
# -r/-c of a URL.
python_reqs() {
	local queue=("$1") i=0 f line arg
	PY_INCLUDES=() PY_UNKEYED=''
	while ((i < ${#queue[@]})); do
		f=${queue[i++]}
		[ -f "$f" ] || continue
		while IFS= read -r line || [ -n "$line" ]; do
			line=${line%%[[:space:]]#*}
			[[ $line == '#'* ]] && continue
			line=${line#"${line%%[![:space:]]*}"}
			line=${line%"${line##*[![:space:]]}"}
			case $line in
			'') ;;
			-r* | -c* | --requirement* | --constraint*)
				arg=${line#--requirement}
				arg=${arg#--constraint}
				arg=${arg#-[rc]}
				arg=${arg#=}
				arg=${arg#"${arg%%[![:space:]]*}"}
				[[ $arg == /* ]] || arg=${f%/*}/$arg
				if [[ $line == *://* ]] || ((${#queue[@]} > 64)); then
					PY_UNKEYED=$line
				elif ! in_list "$arg" "${queue[@]}"; then
					queue+=("$arg")
					PY_INCLUDES+=("$arg")
				fi
				;;
			-e* | --editable* | .* | '~'* | *file:*) PY_UNKEYED=$line ;;
			*://*) ;; # pkg @ https://…: the URL is the pin
			*/* | *.whl | *.zip | *.tar.gz) PY_UNKEYED=$line ;;
			esac
			[ -z "$PY_UNKEYED" ] || return 0
		done <"$f"
	done
}

# build_ruby installs the bundle as Capistrano's bundler plugin and
# Heroku's Ruby buildpack do: Bundler in deployment mode (the lockfile is
# frozen: a Gemfile.lock out of step with the Gemfile fails the build),
# gems in the release's vendor/bundle, the development and test groups
# left out (BUNDLE_WITHOUT, from the env key or the server, overrides).
# `bundle install --deployment` (this tool's first form) is deprecated
# since Bundler 2.1 in favour of settings; they go into the release's
# .bundle/config, as `bundle config set --local` would write them, so
# that `bundle exec` at run time finds the same path and groups with no
# environment to set. The file is written here rather than with three
# `bundle config` runs (a Ruby start each, on every deploy, warm or not);
# other settings a committed .bundle/config holds are kept.
# The cache key adds the Gemfile and the groups left out to the lockfile:
# Gemfile.lock does not record groups, so moving a gem out of the
# development group changes what is installed but not the lockfile.
build_ruby() {
	[ -f "$BUILD_REL/Gemfile.lock" ] || fail "ruby: a Gemfile without Gemfile.lock: commit Gemfile.lock (deployment mode installs exactly what it locks); current is unchanged"
	local without cfg="$BUILD_REL/.bundle/config" gemfile
	setting without BUNDLE_WITHOUT development:test
	[[ $without =~ ^[A-Za-z0-9_:\ ]*$ ]] || fail "ruby: BUNDLE_WITHOUT '$without' is not a list of group names (development:test)"
	build_says ruby "Gemfile + Gemfile.lock" "bundle install in deployment mode (path vendor/bundle, without $without)"
	# for the key, the committed .bundle/config (build flags for native
	# gems…) as it was, and the env key's BUNDLE_ variables
	local conf
	deps_conf conf .bundle/config -- BUNDLE_
	mkdir -p -- "$BUILD_REL/.bundle" || fail "ruby: cannot make $BUILD_REL/.bundle"
	{
		echo ---
		[ ! -f "$cfg" ] || grep -Ev '^(---|BUNDLE_(DEPLOYMENT|FROZEN|PATH|WITHOUT):)' -- "$cfg" || true
		printf 'BUNDLE_DEPLOYMENT: "true"\nBUNDLE_PATH: "vendor/bundle"\nBUNDLE_WITHOUT: "%s"\n' "$without"
	} >"$cfg.tmp" && mv -f -- "$cfg.tmp" "$cfg" || fail "ruby: cannot write $cfg"
	echo "bundle config (--local, in .bundle/config): deployment true, path vendor/bundle, without $without"
	gemfile=$(sha256sum <"$BUILD_REL/Gemfile")
	# The key: ruby's version and platform, and the Bundler that ruby
	# loads (its default gem, which `bundle` runs unless Gemfile.lock's
	# BUNDLED WITH, hashed with the lockfile, names another).
	local runtime
	# shellcheck disable=SC2016 # ruby's code, not the shell's
	runtime=$(build_out ruby -e 'print RUBY_VERSION, " ", RUBY_PLATFORM; begin; require "bundler/version"; print " bundler ", Bundler::VERSION; rescue LoadError; end')
	deps_cached ruby vendor/bundle Gemfile.lock "ruby $runtime without=$without Gemfile=${gemfile%% *}$conf" bundle install
}

# build_elixir builds a release with MIX_ENV (prod unless set), as
# Heroku's and Gigalixir's Elixir buildpacks do: mix deps.get --only
# $MIX_ENV, then mix release. mix deps.get writes mix.lock whenever there
# is a dependency to fetch (hex or git), and Elixir projects commit it: a
# project without one has nothing to fetch, and skips deps.get (a BEAM
# start, and hex when it is not installed). deps is cached by mix.lock,
# the runtime and MIX_ENV; _build (the compiled code) is the release's
# own, with the compiled dependencies copied in from beside that entry
# (mix_build_get), so that mix release compiles the app, not them.
build_elixir() {
	local mixenv rel
	setting mixenv MIX_ENV prod
	BUILD_ENV=("MIX_ENV=$mixenv")
	if [ -f "$BUILD_REL/mix.lock" ]; then
		build_says elixir "mix.exs + mix.lock" "mix deps.get --only $mixenv, then mix release (MIX_ENV=$mixenv)"
		mix_tools
		mix_rebar # before deps.get too, for a hex.pm package's :rebar3
		deps_cached elixir deps mix.lock "$(build_out elixir --version | tr '\n' ' ') MIX_ENV=$mixenv" mix deps.get --only "$mixenv"
		mix_rebar
		mix_build_get "$mixenv"
	else
		build_says elixir mix.exs "mix release (MIX_ENV=$mixenv; no mix.lock: no dependencies to fetch)"
	fi
	build_run elixir mix release --overwrite
	[ ! -f "$BUILD_REL/mix.lock" ] || mix_build_put "$mixenv"
	for rel in "$BUILD_REL/_build/$mixenv/rel"/*/; do # each release mix made
		rel=${rel%/}
		if [ -d "$rel/bin" ]; then echo "release: _build/$mixenv/rel/${rel##*/} (bin/${rel##*/} start)"; fi
	done
}

# mix_tools installs Hex when mix.lock has a hex.pm package, as Heroku's
# Elixir buildpack does (mix local.hex --force): a server's mix from a
# distribution has none, and mix would ask on a terminal the deploy does
# not have. --if-missing keeps an installed one; a glob of mix's archives
# (MIX_HOME, MIX_ARCHIVES, or ~/.mix) saves the BEAM start when it is
# there.
mix_tools() {
	local lock='' home archives
	IFS= read -r -d '' lock <"$BUILD_REL/mix.lock" || true
	setting home MIX_HOME "$HOME/.mix"
	setting archives MIX_ARCHIVES "$home/archives"
	if [[ $lock == *'{:hex, '* ]] && ! compgen -G "$archives/hex-*" >/dev/null; then
		build_run elixir mix local.hex --force --if-missing
	fi
}

# mix_rebar, with the deps in the release, finds rebar3 for those that
# build with it: a hex.pm package whose mix.lock entry names :rebar3, or
# a git or path dependency with a rebar.config or rebar.lock and no
# mix.exs (mix's own rule for its rebar3 manager). mix compiles them
# with MIX_REBAR3, else the rebar3 that mix local.rebar put in MIX_HOME;
# it never looks in PATH, and without either it asks on a terminal. So:
# MIX_REBAR3 or mix's own copy when there is one; else the server's
# rebar3 (Debian's rebar3 package) from the hook shell's PATH, passed as
# MIX_REBAR3, and said; else mix local.rebar --force, as Heroku's
# buildpack does (it downloads rebar3). It runs before mix deps.get (for
# a hex.pm package, named in mix.lock) and after it (for the others).
mix_rebar() {
	local lock='' home rebar d need=''
	IFS= read -r -d '' lock <"$BUILD_REL/mix.lock" || true
	[[ $lock == *':rebar3'* ]] && need='a hex.pm package built with rebar3 (mix.lock)'
	for d in "$BUILD_REL"/deps/*/; do
		[ -z "$need" ] || break
		d=${d%/}
		[ ! -f "$d/mix.exs" ] && { [ -f "$d/rebar.config" ] || [ -f "$d/rebar.lock" ]; } && need="deps/${d##*/} (rebar.config, no mix.exs)"
	done
	[ -n "$need" ] || return 0
	[[ " ${BUILD_ENV[*]} " != *" MIX_REBAR3="* ]] || return 0 # chosen already
	setting home MIX_HOME "$HOME/.mix"
	setting rebar MIX_REBAR3 ''
	[ -z "$rebar" ] || return 0
	compgen -G "$home/elixir/*/rebar3" >/dev/null && return 0
	rebar=$(build_out bash -c 'command -v rebar3')
	if [[ $rebar == /* ]]; then
		BUILD_ENV+=("MIX_REBAR3=$rebar")
		echo "build: elixir: $need builds with rebar3, and mix has none of its own: using this server's $rebar (MIX_REBAR3; set MIX_REBAR3 in env to choose another)"
		return 0
	fi
	build_run elixir mix local.rebar --force --if-missing
}

# mix_build_get ENV and mix_build_put ENV keep the compiled dependencies
# (_build/ENV/lib/<dep>, for each dep in deps/) beside the deps entry they
# were compiled from (build-ENV in it, so they go when it is pruned), as
# Heroku's Elixir buildpack keeps _build: put after a mix release, when
# the entry has none yet; got before mix release, which then compiles the
# app (and a dependency whose sources or Elixir changed) but not the rest,
# as mix does with a developer's kept _build. A copy (reflinks where the
# filesystem has them, never links: mix rewrites what it recompiles).
mix_build_get() {
	local from="$P/.cache/deps/$DEPS_KEY/build-$1" to="$BUILD_REL/_build/$1/lib"
	[ -n "$DEPS_KEY" ] && [ -d "$from" ] || return 0
	[ -d "$to" ] || mkdir -p -- "$to" || fail "elixir: cannot make $to"
	cp -a --reflink=auto -- "$from/." "$to/" || fail "elixir: cannot copy the compiled dependencies from $from into $to"
	echo "deps: _build/$1/lib's compiled dependencies reused from $from"
}

mix_build_put() {
	local e="$P/.cache/deps/$DEPS_KEY" lib="$BUILD_REL/_build/$1/lib" d built=()
	[ -n "$DEPS_KEY" ] && [ -d "$e" ] && [ ! -d "$e/build-$1" ] || return 0
	for d in "$BUILD_REL"/deps/*/; do
		d=${d%/}
		[ ! -d "$lib/${d##*/}" ] || built+=("$lib/${d##*/}")
	done
	((${#built[@]})) || return 0
	# under a temp name (the lock is held: a fixed one), renamed when whole
	rm -rf -- "$e/.tmp-build"
	if mkdir -- "$e/.tmp-build" && cp -a --reflink=auto -- "${built[@]}" "$e/.tmp-build/" && mv -T -- "$e/.tmp-build" "$e/build-$1"; then
		echo "deps: _build/$1/lib's compiled dependencies cached in $e/build-$1"
	else
		rm -rf -- "$e/.tmp-build"
		echo "deps: could not cache _build/$1/lib's compiled dependencies in $e (the next deploy compiles them again)"
	fi
}

# go_main DIR: DIR holds a Go main package: a .go file, not a _test.go,
# whose package clause says main, and whose build constraints above it do
# not name the ignore tag (//go:build ignore: a generator run by go run,
# which go build leaves out). deploy init's hasMain reads them alike.
go_main() {
	local f=("$1"/*.go)
	[ -e "${f[0]}" ] || return 1
	awk '
		FNR == 1 { skip = (FILENAME ~ /_test[.]go$/) }
		skip { nextfile }
		/^\/\/(go:build|[[:space:]]*\+build)[[:space:]]/ && /(^|[^A-Za-z0-9_.])ignore([^A-Za-z0-9_.]|$)/ { nextfile }
		/^package[[:space:]]/ { if ($2 == "main") { found = 1; exit } nextfile }
		END { exit !found }' "${f[@]}"
}

build_go() {
	local mod name d targets=()
	mod=$(awk '$1 == "module" { gsub(/"/, "", $2); print $2; exit }' "$BUILD_REL/go.mod")
	name=${mod##*/}
	if [[ $name =~ ^v[0-9]+$ ]]; then
		mod=${mod%/*}
		name=${mod##*/}
	fi
	[[ $name =~ ^[A-Za-z0-9_][A-Za-z0-9._-]*$ ]] || name=app
	BUILD_ENV=("GOCACHE=$P/.cache/go/build" "GOMODCACHE=$P/.cache/go/mod")
	if go_main "$BUILD_REL"; then
		build_says go "go.mod + package main at the root" "go build -o $name ."
		build_run go go build -o "$name" .
	else
		for d in "$BUILD_REL"/cmd/*/; do
			go_main "$d" && targets+=("$(basename -- "$d")")
		done
		if ((${#targets[@]} == 0)); then
			# go the only stack (build_auto's stacks): a release without
			# the binary would switch and then fail to start
			((${#stacks[@]} > 1)) || fail "go: go.mod, but no package main at the root or in cmd/*/ (as go build finds them: a _test.go or a //go:build ignore file is not one), so build auto does not know what to build: build it with pre-deploy (go build -o bin/<name> ./<dir>); current is unchanged"
			echo "build: go detected (go.mod), but there is no package main at the root or in cmd/*/: nothing to build"
			mark "info build go go.mod without a main package"
			return 0
		fi
		build_says go "go.mod + package main in cmd/{$(IFS=,; echo "${targets[*]}")}" "go build -o bin/<name> ./cmd/<name>"
		for d in "${targets[@]}"; do build_run go go build -o "bin/$d" "./cmd/$d"; done
	fi
	echo "deps: go's own build and module caches in $P/.cache/go (content-addressed by go; module files are read-only)"
	mark "info deps go go-cache"
}
