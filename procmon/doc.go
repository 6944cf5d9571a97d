// Package procmon supervises one app's worker processes: it owns the app's
// public port, starts `workers` copies of `command`, restarts the ones that
// crash, and reloads them all with zero dropped requests. `procmon run -c
// app.toml` (cmd/procmon) is a thin wrapper around [LoadConfig] and
// [NewDaemon], which runs a [Supervisor] (New, Run) together with the
// control socket, the capped log file, the metrics sampler and sd_notify.
//
// # Generations
//
// Workers are started in generations, numbered from 1. A generation is the
// set of `workers` processes started together from one reading of the
// config, in one resolution of `dir`: when `dir` is a `current` symlink it
// is resolved once per generation, so a new generation runs the new release
// while the old one keeps its own directory, even when one of its workers
// is restarted after a crash. Each worker gets WORKER_ID (1..workers),
// PROCMON_GENERATION, NOTIFY_SOCKET (procmon's own, for sd_notify), and in
// proxy mode PORT, a free loopback port of its own. Each worker runs in its
// own process group, which is what gets signalled.
//
// # Scaling
//
// [Supervisor.Scale] (`procmon scale N`) changes the number of workers of
// the serving generation without a reload: new slots take the next
// WORKER_IDs and their workers join the rotation when ready; the highest
// slots leave it first, drain as in a reload (proxy mode) and stop. A
// WORKER_ID is a slot: a worker restarted after a crash or replaced by the
// heartbeat keeps it. The config's workers is the start value; the count
// set at runtime is kept in "<socket>.scale" (temp file, fsync, rename)
// with the config's workers of that time, and applies to every generation
// a reload starts and to procmon's next start for as long as the config's
// workers is unchanged. A generation started from a config whose workers
// changed resets it: the config wins. Scale is refused during a reload.
//
// With workers = "MIN..MAX" (proxy mode only: socket mode has no
// per-request view) the loop samples the requests in flight per ready
// worker and scales by one when every sample of a whole [scale] window
// was over up_inflight or under down_inflight, at most once per cooldown
// and never outside MIN..MAX; see autoscale.go. Each decision is logged
// with its reason and kept as status's last scale event. With MIN 0,
// every worker stops after [scale] idle_timeout without a request
// (StateIdle); a request that then finds no worker is held by the proxy
// (see proxy.Pool.SetWaker) while one worker starts, and gets 503 if none
// is ready within ready.timeout; see idle.go. Socket mode takes "0..N"
// too: procmon watches the connections on the port for idleness
// (connwatch.go) and, while idle, polls the listening socket without
// accepting; a waiting connection starts the workers, and a wake that
// brings none up is answered 503 by procmon itself; see idle_socket.go.
//
// # Before the first deploy
//
// The README's steps start procmon before the first deploy, when `dir`
// (the `current` symlink the deploy creates) does not exist yet. Run then
// does not fail: it opens the listener, the notify and control sockets,
// the watcher and the heartbeat, and waits ([StateWaiting], "waiting" in
// `procmon status`). systemd gets READY=1 (procmon itself is up). No
// worker runs: the public port answers 503 (in socket mode procmon
// accepts on the shared socket and answers 503 itself, until workers are
// about to take it; otherwise clients would hang in the listen backlog),
// and the heartbeat checks nothing, so it cannot reload. The first reload
// that finds dir starts generation 1 (the deploy's `procmon reload --wait`
// exits 0 once it serves; a restart file touched in the new release and
// SIGHUP work too: the watcher watches the nearest existing directory
// until the file's directory appears). A reload while dir is still missing
// is abandoned with the reason "dir … does not exist yet: deploy first";
// so is a first generation that fails, which is no crash loop: nothing is
// restarted and procmon keeps waiting. Only a dir that does not exist is
// waited for (its parent missing, or `current` pointing nowhere, count);
// any other error resolving it stops Run at start as before.
//
// # Users
//
// procmon runs as root and starts each worker as the config's `user` (with
// `group`, and HOME, USER, LOGNAME), never as root when a user is set; the
// control socket (root:group 0660) and the log (root:group 0640) belong to
// `group`, which the deploy user joins. account.go says why procmon keeps
// root rather than running as the user itself.
//
// # Reload protocol
//
// A reload is triggered by the restart file (written, touched, created or
// replaced by rename; its directory is watched and bursts are debounced),
// by SIGHUP, by [Supervisor.Reload], or by a heartbeat round in which
// every check failed. It runs:
//
//  1. Re-read the config file. If it no longer validates, the reload fails
//     here and nothing changes. command, env, workers, dir, [ready],
//     stop_signal and stop_timeout apply to the new generation; listen,
//     mode, restart_file, socket, user, group, [heartbeat] and [log] need
//     a restart of procmon (a warning says so).
//  2. Start: resolve dir and start the whole new generation next to the
//     old one, which keeps serving.
//  3. Readiness: every new worker must pass its check within ready.timeout:
//     http (GET ready.path on its PORT answers 2xx/3xx), tcp (its PORT
//     accepts), accept (socket mode, its default: a process of the worker
//     took the shared socket, i.e. has it in an epoll set or waits in
//     accept, select or poll holding it; read from /proc, see
//     accepting.go) or notify (it sends READY=1 to NOTIFY_SOCKET; in socket
//     mode it must accept as well). A wrapper that does not exec the app
//     (npm start) never passes in socket mode, and the log names it.
//  4. Switch: when all are ready, new requests go to the new generation.
//     In proxy mode procmon's balancer swaps its worker list at once; in
//     socket mode both generations accept from the same socket until the
//     old one is told to stop.
//  5. Settle: the old generation keeps running, told nothing, until every
//     new worker has stayed up for ready.min_uptime (default 1s, pm2's
//     min_uptime; 0 skips this step). A new worker that exits sooner
//     (an app that listens, then dies on a database it cannot reach)
//     sends traffic back to the old generation, and the reload is
//     abandoned: the new one drains and stops. In socket mode both
//     generations accept from the shared socket meanwhile. The reload's
//     verdict comes at the end of this step (see settle.go).
//  6. Drain: in proxy mode procmon waits until the old workers' in-flight
//     requests finish, up to stop_timeout; their long-lived connections
//     (WebSocket and other upgrades, and answers streaming without a
//     length, such as event streams) are ended spread over [proxy]
//     drain_timeout, and the wait lasts that long when it is longer. In socket mode the worker drains itself on
//     stop_signal: it must stop accepting and finish what it accepted.
//  7. Stop: stop_signal goes to each old worker's process group; what is
//     still alive stop_timeout later gets SIGKILL.
//
// A reload never makes things worse. If a new worker exits (before it is
// ready, or within ready.min_uptime of the switch) or misses
// ready.timeout, the whole new generation is stopped and the old one goes
// on serving, untouched; the reload's result (see [ReloadResult]) says why.
// This is where procmon differs from pm2, whose reload kills the old
// workers after a timeout even when the new ones never came up.
//
// Triggers that arrive while a reload runs coalesce into exactly one more
// reload after it, so a burst of touches costs at most two reloads and the
// last one sees the latest release and config. A caller of Reload waiting
// during a reload gets the verdict of that following reload.
//
// # Heartbeat and guard
//
// With heartbeat.interval set, procmon checks the app every interval: one
// round of GETs of heartbeat.path, each on a fresh connection, healthy on
// 2xx/3xx within heartbeat.timeout. A round never overlaps the next.
//
// In proxy mode each ready worker of the serving generation is checked on
// its own port (127.0.0.1:PORT), never through the balancer: the balancer
// sends a request to the worker with the fewest in flight, so it steers a
// check around a worker whose requests are stuck, and such a check passes
// while users' requests to that worker time out. A worker that fails 2
// checks in a row (replaceAfter) is replaced alone, like a one-worker
// reload: it leaves the balancer at once (no new request goes to it), a
// new process starts in its slot (same WORKER_ID, generation and dir) and
// joins the balancer when ready, and the hung process gets stop_signal
// when its replacement is ready, or stop_timeout after it left the
// balancer if that comes first, then SIGKILL stop_timeout later. Until it
// exits, status lists it as a draining worker of its generation. If the
// replacement fails, the slot is restarted like a crashed worker (with
// backoff, and the crash-loop state if it keeps failing).
//
// A round in which every check fails (in socket mode: in which the public
// address fails) means the app is broken, not one worker: it triggers a
// reload at once, as the heartbeat always did. With
// no worker ready the public address is checked (it answers 503), so a
// generation whose workers all crashed gets the reload too.
//
// In socket mode the workers share one listening socket and the kernel
// gives each connection to whichever worker accepts first, so no check can
// reach a chosen worker, and a worker stuck in a handler accepts nothing:
// a GET of the public address always lands on a worker that is fine. Each
// round therefore does two things. It GETs listen+heartbeat.path, as a
// user's request reaches the app; when that fails the app is broken and
// the whole generation is reloaded, as the heartbeat always did. And it
// watches each ready worker, from /proc, come back to the shared socket
// (comeback.go): a live worker, idle or busy, keeps returning to wait for
// the next connection; one stuck in a handler (a busy loop, a sleep, a
// deadlock, a call that never returns, a blocked event loop) never does.
// procmon samples the threads of the worker's process group every 10ms
// for up to heartbeat.timeout, and the worker passes at the first sample
// that shows one of: a thread waiting for a connection on the shared
// socket (in accept on it; in epoll_wait on an epoll set that has it
// registered for input: Node, Go, asyncio; in poll or select with it in
// the read set: Python's socketserver, gunicorn's sync workers); a thread
// blocked reading or writing a socket the worker did not hold when the
// watch began, or such a socket in its fd table (it took a connection);
// or read and write calls made meanwhile (/proc/<pid>/io: an event loop
// too busy with its keep-alive clients ever to wait still reads and
// writes). A worker that shows none of these for the whole timeout, in 2
// rounds in a row, is replaced alone exactly as in proxy mode (minus the
// balancer): same WORKER_ID, guard, status record and log line, the hung
// process stopped once its replacement is ready. Multi-threaded and
// event-loop servers busy with long requests pass, since a thread or the
// loop still waits on the socket; so do saturated ones, which take
// connections or read and write. A stopped process (SIGSTOP, a debugger)
// fails: it accepts nothing.
//
// The limits, all from what /proc can show: a worker one request at a
// time (Python's HTTPServer, a gunicorn sync worker, Unicorn) busy with
// one request for longer than 2 rounds is taken for hung, as in proxy mode
// where it would not answer its GET either. A server whose every thread
// computes for the whole timeout, twice in a row, and takes no connection
// meanwhile (a Go server running GOMAXPROCS CPU-bound requests while the
// other workers take the new ones) is taken for hung too; such a worker
// drains itself on stop_signal up to stop_timeout, so its requests are not
// cut when they end within that. A worker stuck in a loop that keeps
// reading, writing or opening connections (a retry loop that logs each
// try) looks busy and is not replaced; nor is one whose accept loop waits
// on the socket while its request handlers are stuck (a Go server with
// deadlocked handlers: net/http accepts in a goroutine of its own), which
// only the public GET finds, when it lands there, and which then reloads
// the app. Reading another process's syscall state and memory needs the
// right to trace it: procmon runs as root (or as the workers' user, their
// parent); where /proc does not show syscalls (a kernel without
// /proc/<pid>/syscall, an architecture other than amd64 or arm64) socket
// mode checks the public address only, and status says the checks are not
// per worker. In mode none there is no address to check, and [heartbeat]
// is a config error.
//
// The guard keeps a sick app from a storm: no heartbeat reload within
// heartbeat.guard of procmon's start or of the start or end of any
// reload, and none while one runs, so at most one reload per guard; no
// replacement within guard of that worker's start, and at most one
// replacement per worker slot per guard. Failures the guard holds back
// are counted as suppressed in status. The heartbeat is off by default,
// unlike the classic setup, because a default path answering 404 would
// reload a healthy app forever.
//
// # Crashes
//
// A worker that exits on its own is restarted in its slot after a backoff:
// 1s doubling to 30s, counted from 1s again once a worker stayed up 30s.
// Three exits in a row before becoming ready put the app in the crash-loop
// state, where that worker is retried every 30s instead of spinning; the
// other workers keep serving and the state clears when it comes up.
// Within a generation that is still starting, a crash is handled the same
// way; only a reload's new generation is abandoned on the first crash.
//
// # Shutdown
//
// On SIGTERM/SIGINT (the context given to Run ending), procmon stops
// accepting, lets in-flight requests finish (proxy mode, up to
// stop_timeout), then stops the workers as in step 6 and returns. A second
// signal ([Supervisor.Force]) SIGKILLs every worker at once. No worker
// outlives a procmon that exits: groups are killed when their leader
// exits, and Run kills whatever is left before it returns. If procmon
// itself is SIGKILLed, each worker process gets SIGKILL too
// (PR_SET_PDEATHSIG), but processes a worker started (a `sh -c` wrapper's
// child, an npm script's node, a gunicorn master's workers) are the
// kernel's to reparent: under systemd, KillMode=mixed in the shipped unit
// kills the whole cgroup; elsewhere make command exec the server itself.
//
// # Modes
//
// proxy (default): procmon listens on listen and forwards HTTP/1.1 to the
// ready workers of the current generation, least requests in flight
// first, keeping connections to workers alive, reading bodies up to
// [proxy] buffer_body before a worker is picked (larger ones stream),
// passing upgrades (WebSocket) through, and setting X-Forwarded-For,
// -Host and -Proto (a client's own are kept, and appended to, only from
// [proxy] trusted addresses). Requests nginx refuses (smuggling attempts,
// invalid Host, control characters, heads over max_head) are refused
// before any worker sees them; see package proxy's screen.go. A request that cannot connect to a worker is sent
// to another one; a request whose body was already sent is never repeated.
// Plain GET and HEAD requests (nearly all traffic) are read and forwarded
// by procmon's own HTTP/1.1 loop, which costs about a third of what
// net/http's server and client do; the first request on a connection
// that is anything else (a body, an upgrade, HTTP/1.0, a hop-by-hop
// header) hands that connection, unread bytes included, to a net/http
// server running httputil.ReverseProxy (see package proxy); upgrades
// go through the fast path's own tunnel. On the
// fast path answers pass through as the worker wrote them (status text,
// header order, chunked bodies), minus hop-by-hop headers, plus a Date if
// the worker sent none; a Content-Type is never guessed. An answer with
// no length (HTTP/1.0 style) ends the client's connection after it. A
// worker connection with bytes left over after an answer is closed, never
// reused.
//
// socket: the listening socket is fd 3 of every worker, with LISTEN_FDS=1,
// LISTEN_FDNAMES=<name> and LISTEN_PID set to the worker's own pid by a
// /bin/sh exec shim (sh exports its pid, then execs the command in place;
// the command is passed as arguments, never as shell text). Go's
// net.FileListener, Node's server.listen({fd: 3}), gunicorn and Puma take
// it unchanged. Readiness is that the worker accepts on the shared socket
// (ready.check "accept", the default; see the reload protocol). A Go worker
// should close its listener and let the connections it already accepted
// send their request before calling http.Server.Shutdown, which otherwise
// drops a connection accepted just before it.
//
// none: workers have no port (queue consumers, schedulers); a reload
// starts the new generation, then stops the old one. Workers count as
// ready once started, unless ready.check = "notify".
package procmon
