package procmon

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/deploytool/deploy/internal/hint"
	"github.com/deploytool/deploy/procmon/proxy"
)

// Options are the parts of a Supervisor that are not in the config file.
// The zero value works: output and messages are discarded.
type Options struct {
	// Output receives every line the workers print, one Write per line,
	// stamped with the time, generation, worker id and pid. nil discards.
	Output io.Writer
	// Logger receives procmon's own messages. nil discards them.
	Logger *slog.Logger
	// OnEvent, when set, is called from the supervisor's loop on each state
	// change (ready, reloading, reloaded, …); it must return quickly.
	OnEvent func(Event)
	// Backoff is the crash restart policy; the zero value is 1s doubling
	// to 30s, reset after 30s up.
	Backoff Backoff
	// Debounce is the quiet time after a restart file event before the
	// reload starts. Zero means 100ms.
	Debounce time.Duration
}

// Supervisor runs one app's workers and reloads them. Create it with New,
// run it with Run; Reload, ReloadAsync, Status and Force may be called from
// any goroutine while Run runs.
type Supervisor struct {
	cfg  *Config
	opts Options
	log  *slog.Logger
	sink *lineSink

	reloadReq chan reloadRequest
	scaleReq  chan scaleRequest
	// scaleQueued are the scale requests waiting for the reload that
	// runs (scale.go); only the loop touches it.
	scaleQueued []scaleRequest
	// offerPort picks a worker's PORT, never one taken says is taken;
	// freePortBut unless a test stands in for the kernel.
	offerPort func(taken func(int) bool) (int, error)
	events    chan any
	fileTrig  chan struct{}
	wakeTrig  chan struct{} // a request found no worker (workers = "0..N")
	force     chan struct{}
	forceOnce sync.Once
	running   atomic.Bool
	loopDone  chan struct{}
	snap      atomic.Pointer[Status]

	// Everything below belongs to the loop goroutine.
	loopCtx    context.Context
	proxy      *proxy.Pool
	server     *proxy.Server
	listenFile *os.File
	shared     sharedSocket // listenFile as /proc shows it: the accept check, the heartbeat
	unavail    *unavailable // socket mode's 503 answers while no worker runs
	sockWaker  *socketWaker // socket mode's watch of the listener while idle
	notify     *notifySocket
	heartbeat  *heartbeat
	hb         HeartbeatStatus
	hbGuard    heartbeatGuard
	hbRunning  bool
	cred       *syscall.Credential // the workers' user and group; nil: procmon's own
	userEnv    map[string]string   // HOME, USER and LOGNAME of cred's user
	cur, next  *generation
	retired    []*generation
	settle     *settling // a reload after its switch, before its verdict
	genNum     int
	everReady  bool
	waiting    bool // started without dir: nothing ran yet (StateWaiting)
	stopping   bool
	// serverDrained: the proxy stopped and drained (or there is none).
	serverDrained bool
	since         time.Time
	reload        reloadState
	scale         scaleState
	autoscale     autoscaler
	autoscaleTick *time.Ticker // workers = "MIN..MAX" only
	idle          idleState
	totals        Totals // Status.Totals but the proxy's counts
}

type reloadRequest struct {
	trigger string
	reply   chan ReloadResult // nil: nobody waits
}

// errNotRunning is returned by Reload when Run is not running.
var errNotRunning = errors.New("procmon is not running")

// New checks cfg and returns a Supervisor ready to Run. Nothing starts yet.
func New(cfg *Config, opts Options) (*Supervisor, error) {
	if cfg == nil {
		return nil, errors.New("procmon: nil config")
	}
	if len(cfg.Command) == 0 || (cfg.Workers < 1 && cfg.WorkersMax == 0) || cfg.Dir == "" || cfg.Ready.Timeout <= 0 || cfg.StopTimeout <= 0 {
		return nil, hint.Wrap(errors.New("procmon: config is not validated"), "use LoadConfig or ParseConfig")
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Debounce <= 0 {
		opts.Debounce = 100 * time.Millisecond
	}
	opts.Backoff = opts.Backoff.withDefaults()
	s := &Supervisor{
		cfg:       cfg,
		opts:      opts,
		log:       opts.Logger.With("app", cfg.Name),
		sink:      &lineSink{out: opts.Output},
		reloadReq: make(chan reloadRequest),
		scaleReq:  make(chan scaleRequest),
		scale:     newScaleState(cfg),
		events:    make(chan any, 64),
		fileTrig:  make(chan struct{}, 1),
		wakeTrig:  make(chan struct{}, 1),
		force:     make(chan struct{}),
		loopDone:  make(chan struct{}),
		hbGuard:   heartbeatGuard{guard: cfg.Heartbeat.Guard},
	}
	s.snap.Store(&Status{Name: cfg.Name, State: StateStopped})
	return s, nil
}

// Run starts the workers, serves until ctx is cancelled, then shuts down:
// stop accepting, drain, stop the workers (stop_signal, SIGKILL at
// stop_timeout). It returns nil after a clean shutdown, or an error when
// the app could not start (listen unusable, command not found). A dir that
// does not exist yet is no error: Run waits for the first deploy
// (StateWaiting) and a reload starts the workers. No worker outlives Run.
func (s *Supervisor) Run(ctx context.Context) error {
	if !s.running.CompareAndSwap(false, true) {
		return errors.New("procmon: Run called twice")
	}
	defer close(s.loopDone)
	loopCtx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s.loopCtx = loopCtx
	s.since = time.Now()
	defer s.cleanup()
	if err := s.setup(loopCtx); err != nil {
		return err
	}
	s.restoreScale()
	s.armAutoscale(s.cfg)
	if err := s.startFirst(); err != nil {
		s.stopping = true
		s.waitAllExited()
		return err
	}
	s.publish()
	s.loop(ctx)
	return nil
}

// setup resolves the workers' user and opens the listener, the notify
// socket, the watcher and the heartbeat.
func (s *Supervisor) setup(ctx context.Context) error {
	acct, err := accountOf(s.cfg)
	if err != nil {
		return err
	}
	if s.cred, err = acct.credential(); err != nil {
		return err
	}
	s.userEnv = acct.env()
	if acct.user == "" && os.Geteuid() == 0 {
		s.log.Warn("config sets no user: the workers run as root", "hint", `set user = "<app user>" in the config`)
	}
	notify, err := openNotifySocket(s.cred)
	if err != nil {
		return err
	}
	s.notify = notify
	msgs := make(chan notifyMsg, 16)
	go notify.serve(msgs, s.loopDone)
	go s.forwardNotify(msgs)
	if s.cfg.Mode != ModeNone {
		l, err := listenPublic(s.cfg.Listen)
		if err != nil {
			return err
		}
		if err := s.serve(l); err != nil {
			return err
		}
	}
	if s.cfg.RestartFile != "" {
		file := s.cfg.RestartFile
		if !filepath.IsAbs(file) {
			file = filepath.Join(s.cfg.Dir, file)
		}
		w, err := newWatcher(file, s.opts.Debounce, s.log)
		if err != nil {
			return err
		}
		go w.run(ctx, func() {
			select {
			case s.fileTrig <- struct{}{}:
			default:
			}
		})
	}
	if h := s.cfg.Heartbeat; h.Interval > 0 {
		s.heartbeat = newHeartbeat(s.cfg.Listen, s.cfg.Mode, h.Path, h.Timeout, s.shared)
		s.hb.Enabled, s.hb.PerWorker = true, s.heartbeat.perWorker
	}
	return nil
}

// serve starts the proxy on l, or keeps l's socket for socket-mode workers.
func (s *Supervisor) serve(nl net.Listener) error {
	if s.cfg.Mode == ModeSocket {
		f, err := listenerFile(nl)
		if err != nil {
			return err
		}
		s.shared.port = nl.Addr().(*net.TCPAddr).Port // listenerFile checked it is TCP
		if s.shared.ino, err = socketInode(f); err != nil {
			f.Close()
			return err
		}
		s.listenFile, s.shared.file = f, f
		s.idle.conns = newConnWatch(nl.Addr().(*net.TCPAddr).Port)
		return nil
	}
	s.proxy = proxy.NewPool()
	s.server = proxy.NewServer(s.proxy, s.log, s.cfg.Proxy)
	go func() {
		if err := s.server.Serve(nl); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("proxy stopped serving", "err", err)
		}
	}()
	return nil
}

func (s *Supervisor) forwardNotify(msgs <-chan notifyMsg) {
	for {
		select {
		case m := <-msgs:
			s.send(m)
		case <-s.loopDone:
			return
		}
	}
}

func (s *Supervisor) notifyPath() string {
	if s.notify == nil {
		return ""
	}
	return s.notify.path
}

// send hands an event to the loop, or drops it once the loop is gone.
func (s *Supervisor) send(ev any) {
	select {
	case s.events <- ev:
	case <-s.loopDone:
	}
}

// cleanup runs when Run returns: nothing of the app may survive it.
func (s *Supervisor) cleanup() {
	if s.autoscaleTick != nil {
		s.autoscaleTick.Stop()
	}
	for _, g := range s.all() {
		if g == nil {
			continue
		}
		for _, sl := range g.slots {
			if sl.timer != nil {
				sl.timer.Stop()
			}
			if sl.w != nil && sl.w.state != WorkerExited {
				sl.w.signalGroup(syscall.SIGKILL)
			}
		}
	}
	if s.server != nil {
		s.server.Close()
	}
	s.stopUnavailable()
	s.stopSocketWaker()
	if s.listenFile != nil {
		s.listenFile.Close()
	}
	if s.notify != nil {
		s.notify.Close()
	}
	st := s.buildStatus()
	st.State = StateStopped
	s.snap.Store(&st)
}

// Force skips the grace period of a shutdown (the second SIGTERM): every
// worker gets SIGKILL now. It starts the shutdown if none is running.
func (s *Supervisor) Force() {
	s.forceOnce.Do(func() { close(s.force) })
}

// Reload asks for a reload and waits for its verdict. When a reload is
// already running the request coalesces with the one more reload that
// follows it (which sees the latest config and release), and Reload waits
// for that one. The error is non-nil only when no verdict came: procmon is
// not running, or ctx ended. A reload that was abandoned is a result with
// OK false and the reason in Error; the old generation still serves.
func (s *Supervisor) Reload(ctx context.Context) (ReloadResult, error) {
	reply := make(chan ReloadResult, 1)
	if err := s.request(ctx, reloadRequest{trigger: "api", reply: reply}); err != nil {
		return ReloadResult{}, err
	}
	select {
	case r := <-reply:
		return r, nil
	case <-ctx.Done():
		return ReloadResult{}, ctx.Err()
	case <-s.loopDone:
		return ReloadResult{}, errNotRunning
	}
}

// ReloadAsync asks for a reload without waiting; trigger names the cause in
// Status ("signal" for SIGHUP, for example).
func (s *Supervisor) ReloadAsync(trigger string) {
	go func() { _ = s.request(context.Background(), reloadRequest{trigger: trigger}) }()
}

func (s *Supervisor) request(ctx context.Context, r reloadRequest) error {
	if !s.running.Load() {
		return errNotRunning
	}
	select {
	case s.reloadReq <- r:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-s.loopDone:
		return errNotRunning
	}
}

// Status returns a snapshot of the app; it never blocks.
func (s *Supervisor) Status() Status { return *s.snap.Load() }

func (s *Supervisor) emit(kind EventKind, gen int, msg string) {
	if s.opts.OnEvent != nil {
		s.opts.OnEvent(Event{Kind: kind, Generation: gen, Message: msg})
	}
}

// loopProbe is an event the loop ignores; like every event, handling it
// makes the loop publish a fresh snapshot.
type loopProbe struct{}

// Ping returns nil once the supervisor's loop has gone round since the
// call: it sends the loop an event and waits for the loop's next snapshot.
// A watchdog pings systemd only when this succeeds, so a hung loop gets
// procmon restarted. It fails when Run is not running or ctx ends first.
func (s *Supervisor) Ping(ctx context.Context) error {
	if !s.running.Load() {
		return errNotRunning
	}
	before := s.snap.Load()
	select {
	case s.events <- loopProbe{}:
	case <-ctx.Done():
		return ctx.Err()
	case <-s.loopDone:
		return errNotRunning
	}
	t := time.NewTicker(5 * time.Millisecond)
	defer t.Stop()
	for s.snap.Load() == before {
		select {
		case <-t.C:
		case <-ctx.Done():
			return ctx.Err()
		case <-s.loopDone:
			return errNotRunning
		}
	}
	return nil
}
