// Package script is the server side of deploy: one bash script
// (lib.sh, release.sh, mirror.sh, gate.sh, build.sh, depcache.sh and
// commands.sh, embedded and sent as one text) that
// every remote command runs, the command line that starts it, and the
// checks on the values it receives.
//
// # Starting the script
//
// The client runs the line returned by Command through the login user's
// shell (as sshd does):
//
//	bash ${BASH_VERSION:+--norc} -c '<Bootstrap>' deploy-remote '<command>' 'name=value' … ['--' 'arg' …]
//
// with a Feed as standard input and stderr filter. The bootstrap says on
// stderr whether the server has its copy of this script (named by its
// sha256, under ~/.cache/deploy-remote) or needs it; the Feed then sends
// the script text, framed (its length on a line, then the text ending
// in the line EndMark), and the control channel, or the control channel
// alone. The bootstrap reads exactly the framed bytes (head -c), evals
// the text only when it arrived whole, and the script keeps a copy for
// the next command (see Bootstrap), so the script itself never travels
// on the command line, travels on stdin once per version of deploy, and
// stdin stays open afterwards. Every word is single-quoted (Quote): a config value, ref or
// path is only ever an element of "$@", never shell text. The script
// accepts these names (unknown ones are an error): mark (first, from
// NewMark: the run's protocol marker, see Output) env path repo ref who
// keep shell n pre-deploy release-command post-deploy post-setup test restart-file procmon
// healthcheck wait force no-test hold tty stamp build source sha push-ref,
// and repeatable
// shared=<relpath>, shared-file=<relpath> (created as an empty file, not a
// directory, when missing) and var=<NAME>=<value>. path is absolute, or
// `~` / `~/dir` (a classic deploy.conf's `path ~/app`): the script replaces
// the leading ~ with $HOME as sshd set it (the login user's home), by
// string operations, never eval; a repo that is a relative local path (or
// ~/…; not a URL or host:path) is taken under $HOME likewise, as the
// classic tool's `git clone $repo` in ssh's working directory took it. A
// deploy gets repo too:
// when it differs from the mirror's origin the origin is updated (and the
// script says so). --norc when the login shell is bash: it read ~/.bashrc
// already, and the script's bash must not read it again (see Bash).
// Hook commands (pre-deploy …) are shell text by design: they run with
// `bash -c "$cmd"` (`bash -lc` when shell=login). With tty=1 (needs_tty)
// they run under util-linux script(1), which gives them a pseudo-terminal;
// the command reaches it in $DEPLOY_HOOK_CMD, not in script's own text.
//
// # Commands
//
//	setup    mkdir <path>/{repo,releases,shared/logs,shared/pids} (logs
//	         and pids as the classic tool made them); git clone --bare into
//	         repo, fetching branches and tags (kept, with its origin URL
//	         updated, when it exists;
//	         source=push: git init --bare, the origin is never reached);
//	         mkdir the shared directories (entries ending in '/'); run
//	         post-setup in <path>. Idempotent.
//	deploy   lock, fetch (the deploy's one contact with the origin: the
//	         origin's branches and tags, as a clone has them, not every
//	         ref (GitHub's refs/pull/*), plus ref when it is another full
//	         name, refs/…; a mirror an older deploy made with git clone
//	         --mirror loses its other refs once; with
//	         ref unset it also fetches the origin's HEAD into
//	         refs/deploy-origin-head: the mirror's HEAD branch is the
//	         default one when it is there, else one git ls-remote
//	         --symref asks), resolve (a ref the mirror lacks after the
//	         fetch is refused: no release, no failed line), checkout
//	         (refs/deploy/releases/<id> in the mirror keeps the release's
//	         commit from the mirror's gc; the refs of releases gone are
//	         deleted by the same git update-ref; the release's .git has
//	         the origin as remote.origin.url, so git-lfs's filter fetches
//	         LFS content as in a clone, those of the live release
//	         hard-linked in first (pointer files are said);
//	         submodules are left empty, and said), link shared,
//	         build (build=auto, unless pre-deploy is set), pre-deploy,
//	         release-command (the client gives it to one host only; with
//	         hold=1 it waits for the decision `release` after PREPARED,
//	         runs it, says RELEASED and waits again),
//	         PREPARED → wait for the decision → switch, log, restart and
//	         health gate (below), test, [hold], prune, unlock.
//	         source=push (with push-ref=): before the lock, "have <sha>"
//	         for each ref tip of the mirror, "info haves <n>", then it
//	         reads "pack <bytes>" and a git pack on the control channel
//	         (git index-pack) and points push-ref at sha=; no ls-remote,
//	         no fetch, and the release is sha=, logged under ref=.
//	         source=artifact (build local): before the lock it reads
//	         "manifest <bytes>" and the manifest, copies the files the
//	         current release has with the same hash into a staging dir,
//	         answers "need <n>" per manifest line to send and "info reused
//	         <n>", reads "tar <bytes>" and the tar; the release is the
//	         staging dir, with REVISION and no .git.
//	githook  installs git push (setup --git-remote): the script and the
//	         arguments after "--" in <path>/.deploy, pre-receive and
//	         post-receive hooks in repo/hooks.
//	revert   n=N: relink the release N successful deploys before current,
//	         log `revert`, restart (and gate, reported). No fetch.
//	list     "current <id>" then the raw lines of .deploys.
//	curr     "release <id> <sha> present|pruned" for current;
//	prev     the same for what `revert` (n=1) would go back to.
//	exec     after "--": one word runs as `bash -c word`, several as argv,
//	         in <path>/current with the hook environment; stdin is passed on.
//	unlock   reports the holder; force=1 signals a live holder (SIGTERM,
//	         its cleanup runs) and waits up to 30 s for the lock.
//	status   "status <key> <value…>": current, behind, layout,
//	         lock, disk-free-kb. Changes nothing.
//	check    "check <item> ok|fail <detail>": layout, lock, disk
//	         (100 MiB), bin:git|flock|setsid|tar, hook:<command word> in the
//	         hook shell's PATH, ref at the origin (ls-remote; a sha in the
//	         mirror), script-copy (kept, run, or why it cannot be kept:
//	         always ok). Changes nothing of the app's. (Any command keeps
//	         the script's copy, under the login user's ~/.cache, when
//	         the server lacks it: see Bootstrap.)
//
// # Output
//
// Everything goes to stdout in order: hook and git output as plain lines,
// and protocol lines starting with "@@deploy:<mark> " (MarkerOf: mark is
// the client's (or the git push hook's) random one for this run, which
// no hook gets, so that a hook printing "@@deploy exit 1" is output, not
// the script's last line), or "@@deploy " (Marker) in a run without a
// mark (by hand). The kinds are the Kind constants of protocol.go, and
// ParseMarked reads a line; below, the marker is left out:
//
//	step <name>              a step starts: ref lock fetch resolve checkout
//	                         shared build pre-deploy release-command switch
//	                         restart post-deploy
//	                         health test revert prune (setup: layout lock mirror
//	                         post-setup; revert: lock revert switch restart
//	                         post-deploy)
//	info old <id> <sha>      what current was ("-" when nothing)
//	info new <id> <sha>      the release being prepared
//	info pruned <id>         a release removed by prune
//	waiting lock held by …   wait=1 and the lock is busy
//	prepared <id> <sha>      the release is built; the script now waits
//	released <id> <sha>      hold=1: release-command ran (the client said
//	                         release); the script waits for the switch
//	switched <id> <sha>      current points at the new release
//	info health <url> <code> the healthcheck answered 2xx/3xx
//	info unchecked <why>     the release is live but nothing checked that
//	                         it serves (no procmon nor healthcheck, or
//	                         procmon not running yet on a first deploy)
//	info repo-changed        the mirror's origin was set to a new repo
//	info default-ref <name>  ref is unset: the origin's default branch
//	                         <name> ships (also said in a plain line)
//	info revert-gate fail …  the release put back does not pass either
//	info build <stack> <why> build=auto detected <stack> (node python ruby
//	                         elixir go) by the files in <why>; `none` when
//	                         it found no stack
//	info deps <stack> reused|installed <method> <key>  the stack's install
//	                         came from cache entry <key> (or was made and
//	                         cached) by reflink, hardlink or copy; or
//	                         uncached no-lockfile|local-requirement|
//	                         workspaces|lifecycle|yarn-<linker>,
//	                         pip-cache, go-cache
//	info pruned-cache <key>  prune removed a cache entry no kept release used
//	gate <id> <sha> ok       hold=1: restarted, gate passed; waits for
//	                         commit|revert
//	gate <id> <sha> fail <why>  hold=1: the gate failed; waits likewise
//	reverted <id> <sha>      current was put back to <id>
//	discarded <id>           a failed or aborted release was removed
//	fail <step> <message>    the command fails in <step> (first one wins)
//	done                     the command succeeded
//	exit <status>            the very last line: the script is exiting
//
// The client closes the control channel when it reads `exit`, so that its
// transport's Run can return (a Conn must not wait for stdin's EOF once the
// command has exited: the script may have been killed before `exit`).
//
// # Control channel
//
// After the script the client writes lines. deploy reads one decision in the
// background from the start: `switch` lets it switch after PREPARED,
// anything else aborts there, and EOF (the client closed stdin, the
// connection dropped, Ctrl-C) aborts at once, even mid-build: the running
// git or hook gets SIGTERM (each runs in its own session), the new release
// is removed, `failed` is logged, the lock is freed. With hold=1 the script
// reads a second line after the restart, gate and test (at once when the
// gate failed, skipping the test): `commit` finishes (prune, unlock);
// anything else or EOF relinks the previous release, logs `revert` and
// restarts it. This is the two-phase protocol a multi-host deploy
// needs: prepare every host, switch them, gate on health, then commit all
// or revert the switched ones.
//
// # Health gate
//
// After the switch the script restarts the new release and judges it:
//
//   - procmon=<conf> set: `procmon reload --wait -c <conf>`, run in the
//     release by the hook shell (bash -c, or bash -lc with shell=login, so
//     procmon is looked up in the hook shell's PATH; DEPLOY_PROCMON, from
//     the env key or the server's environment, names another binary). Exit
//     0: the new generation serves. Non-zero: procmon abandoned the reload
//     and the old workers still serve; its output lines say why. 127:
//     procmon was not found.
//   - else restart-file set: it is touched (relative to the release).
//
// then post-deploy runs, then, with healthcheck=<url|path>, the server GETs
// it until it answers 2xx or 3xx, for at most DEPLOY_HEALTH_TIMEOUT seconds
// (env key or server environment; default 60), each try bounded to 5 s,
// with curl when the server has it, else plain http over bash's /dev/tcp
// (DEPLOY_NO_CURL=1 forces that; https needs curl). A URL is used as is; a
// bare path (/healthz) is tried against procmon's `listen` address (the
// top-level listen of the procmon config; 0.0.0.0 and an empty host mean
// 127.0.0.1); the laptop refuses a bare path without procmon.
//
// A failed gate without hold=1 relinks the previous release, logs `revert`,
// restarts it (its own gate is reported, not acted on) and fails in step
// `gate` with the reason. With hold=1 the script reports `gate … fail <why>`
// and waits: `revert` (or EOF) puts the previous release back, `commit`
// keeps the new one (the client's --no-rollback). A first deploy has no
// previous release: a failed gate then fails with current on the new one.
//
// # Build auto
//
// With build=auto and no pre-deploy, the deploy detects the stacks at the
// new release's root and runs their standard build in it before the
// switch (build.sh lists them and their commands), through the hook shell
// and with the hook environment. A command that fails fails the deploy in
// step `build` ("node: 'npm ci …' exited with status 1: current is
// unchanged"), like a failing pre-deploy.
//
// Dependencies are cached in <path>/.cache/deps/<stack>-<key>/ (not under
// shared/, which the README makes group-writable for the app), keyed by a
// hash of the lockfile, the runtime's version, the platform and the install
// command: a deploy whose lockfile did not change copies the entry into the
// release instead of installing. The copy never lets one release change
// another's files: reflinks (copy-on-write) where the filesystem has them;
// else, unless the deploy runs as root, for a node_modules no build prunes
// links into an entry made read-only (the release's node_modules is its
// own directory of links, one per package, through .deploy-cache), and
// for the rest hard links to files made read-only (directories are each
// release's own, so files a package adds or renames stay in its release,
// and a write into a shared file is refused); else a plain copy.
// DEPLOY_CACHE_METHOD=reflink|link|hardlink|copy (env key or server
// environment) forces one; depcache.sh says each in full. A release's entries are listed in
// .cache/deps/used/<release>; prune removes the entries no kept release
// lists. Python's venv is cached the same way, keyed by requirements.txt
// (with the files it includes by -r/-c), python's version and executable:
// each entry records the path its venv was made at, and the release's copy
// is relocated: the files that hold that path (bin/'s scripts' #! lines,
// bin/activate*, pyvenv.cfg) are replaced in the release, never written
// through, by new files that name the release's .venv (deps_relocate_python
// in depcache.sh); site-packages needs nothing, being relative to the venv.
// Requirements that name the release's own files or a URL's requirements
// (-e, a local path, file:, -r https://…), and a pyproject.toml without
// requirements.txt (pip install . installs the app itself), install
// fresh each time with pip's cache in .cache/pip. Go uses its own caches
// under .cache/go.
//
// # Lock
//
// `flock` on <path>/.deploy.lock, held by the script's process for the
// whole command, hooks included (hooks and git get the lock fd closed, so a
// daemon started by a hook cannot keep it). The holder writes
// "<user@laptop>\t<pid>\t<since>\t<command>" into the file and empties it
// when done. A busy lock fails at once with that holder, or waits (wait=1).
// The kernel frees a flock when its holder dies, so a killed deploy never
// leaves a lock behind; unlock then reports the stale holder line.
//
// # Hook environment
//
// Hooks run in the new release (post-setup in <path>) with stdin
// /dev/null, stdout and stderr into the deploy's output, and:
//
//	DEPLOY_ENV       the environment's name (production)
//	DEPLOY_PATH      <path>
//	DEPLOY_RELEASE   the release directory, <path>/releases/<id>
//	DEPLOY_SHA       the full commit sha being deployed
//	DEPLOY_REF       the ref as resolved (origin/ dropped; the default
//	                 branch's name when ref is unset)
//	DEPLOY_PREVIOUS  the previous release directory ("" on a first deploy)
//
// plus SHARED (<path>/shared, the classic tool's name) and every variable
// of the `env` key (which may override SHARED). An unset ref deploys the
// origin's default branch (its HEAD), not the latest tag as the classic
// tool did: tags are deployed by naming them, and the deploy prints
// `ref: <branch> (the origin's default branch; set ref to pin one)`.
//
// # Git in a release
//
// Hooks written for the classic tool's checkout run git in the release
// (`git rev-parse HEAD`, `git log -1`, `git describe`). Each release
// therefore has its own <release>/.git: HEAD detached at the release's
// commit, the mirror's branches and tags copied as packed-refs, an index
// (so `git status` is clean but for REVISION and the shared links), and
// the mirror's objects borrowed through objects/info/alternates. A git
// command in the release writes only into that .git (a hook's commit,
// fetch or gc never reaches the mirror, which only the script writes).
// Not chosen: GIT_DIR pointing at the mirror (its HEAD is the default
// branch, not the release's commit, and a hook could write into it) and
// a worktree (`git worktree add`: it writes the mirror's worktrees/ and
// shares its refs). The .git is a few KB; a web server that serves the
// release directory itself must deny /.git, as with the classic checkout.
// A commit the origin force-pushed away may be pruned from the mirror by
// git's own gc after two weeks; git in a release that old then fails.
//
// # Releases and .deploys
//
// A release is releases/<UTC time>-<short sha> (a -2, -3… suffix if that
// exists) holding a checkout of the commit (git read-tree -u, which
// writes the files and the index together), a REVISION file with the
// sha and its .git (above); current is switched by `ln -s` to a temp name then `mv -T`. Each
// deploy, revert or failure appends
// "<sha>\t<id>\t<UTC time>\t<deploy|revert|failed>\t<ref>\t<user@laptop>"
// to .deploys ("-" for what a failure did not get to know). revert N goes N
// entries back in the list of `deploy` lines from the one current points at
// (so it never toggles), and prune keeps `keep` releases, never current nor
// the keep-1 deploys before it, removing first the directories .deploys
// does not list as deploys (failed or killed ones), then deploys in log
// order (ids made in the same second do not sort by time). A shared entry missing from shared/ is
// seeded from the release when the release has it, else created as a
// directory; create shared files (.env) on the server before deploying.
//
// # Limits
//
// The login shell must be a POSIX shell (sh, bash, dash, zsh), and the
// server needs bash 4.4+, git, flock and setsid (util-linux). Submodules are
// not checked out (an empty directory, as git archive gives). Hooks get no terminal (stdin /dev/null).
package script
