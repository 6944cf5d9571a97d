package procmon

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/deploytool/deploy/internal/hint"
	"github.com/deploytool/deploy/procmon/control"
	"github.com/deploytool/deploy/procmon/logfile"
	"github.com/deploytool/deploy/procmon/metrics"
	"github.com/deploytool/deploy/procmon/sdnotify"
)

// DaemonOptions are the parts of a Daemon that are not in the config file.
// The zero value is what `procmon run` uses in production.
type DaemonOptions struct {
	// Stderr receives procmon's own messages and, when the config sets no
	// [log] file, the workers' stamped lines too (under systemd both end up
	// in the journal). nil means os.Stderr.
	Stderr io.Writer
	// Getenv reads NOTIFY_SOCKET, WATCHDOG_USEC and WATCHDOG_PID; nil means
	// os.Getenv.
	Getenv func(string) string
	// MetricsSource reads the host and process counters; nil reads /proc.
	MetricsSource metrics.Source
	// MetricsInterval is the time between samples; zero means 30s.
	MetricsInterval time.Duration
	// Threshold is the percentage at or over which a reading marks the app
	// degraded; zero means 80.
	Threshold float64
	// Backoff and Debounce are passed to the Supervisor (see Options).
	Backoff  Backoff
	Debounce time.Duration
}

// Daemon is `procmon run`: a Supervisor plus its control socket, its
// capped log file, its metrics sampler and its sd_notify messages. Create
// it with NewDaemon, run it with Run; Close releases what NewDaemon took
// when Run is never called.
//
// Without a [log] file, worker lines go to Stderr (the journal under
// systemd) and `procmon logs` says so; the last lines of each generation
// are kept in memory either way, for the reason of a failed reload.
type Daemon struct {
	cfg       *Config
	sup       *Supervisor
	ctl       *control.Server
	logFile   *logfile.Log // nil without [log] file
	recent    *recentLines
	sampler   *metrics.Sampler
	metrics   *metricsEndpoint // nil without [metrics] listen
	notifier  *sdnotify.Notifier
	watchdog  *sdnotify.Watchdog
	logger    *slog.Logger
	queue     eventQueue
	gid       int // the socket's and the log's group; 0: private
	closeOnce sync.Once
	closeErr  error
}

// NewDaemon takes the app's control socket (refusing when another procmon
// runs for it, recovering a stale socket), opens the log file and builds
// the supervisor and sampler. Nothing starts yet.
func NewDaemon(cfg *Config, opts DaemonOptions) (*Daemon, error) {
	if cfg == nil {
		return nil, errors.New("procmon: nil config")
	}
	if opts.Stderr == nil {
		opts.Stderr = os.Stderr
	}
	if opts.Getenv == nil {
		opts.Getenv = os.Getenv
	}
	d := &Daemon{cfg: cfg, recent: newRecentLines(recentKeep), queue: newEventQueue()}
	d.logger = slog.New(slog.NewTextHandler(opts.Stderr, nil))
	d.notifier = sdnotify.FromEnv(opts.Getenv)
	wd, err := sdnotify.WatchdogFromEnv(d.notifier, opts.Getenv, os.Getpid())
	if err != nil {
		return nil, hint.Wrap(fmt.Errorf("systemd watchdog: %w", err), "WATCHDOG_USEC comes from WatchdogSec= in the unit")
	}
	d.watchdog = wd
	acct, err := accountOf(cfg)
	if err != nil {
		return nil, err
	}
	d.gid = acct.sharedGID()
	if d.ctl, err = control.NewServerWith(cfg.Socket, cfg.Name, d, control.ServerOptions{GID: d.gid}); err != nil {
		return nil, err
	}
	if err := d.build(opts); err != nil {
		d.Close()
		return nil, err
	}
	if cfg.Metrics.Listen != "" {
		if d.metrics, err = openMetrics(cfg.Metrics.Listen, http.HandlerFunc(d.serveMetrics), d.logger); err != nil {
			d.Close()
			return nil, err
		}
	}
	d.warnUnreachable(acct.group)
	return d, nil
}

// warnUnreachable says at start when a directory above the socket or the
// log keeps the members of group out: the deploy user would be refused
// there, and better know it now than at the next deploy's gate.
func (d *Daemon) warnUnreachable(group string) {
	if d.gid <= 0 {
		return
	}
	for _, p := range []string{d.cfg.Socket, d.cfg.Log.File} {
		if dir := blockingDir(p, d.gid); p != "" && dir != "" {
			d.logger.Warn("members of the config's group cannot reach "+p+": "+dir+" is closed to them",
				"group", group, "hint", "chmod o+x "+dir+", or chgrp "+group+" "+dir+" and chmod g+x "+dir)
		}
	}
}

// build opens the log and creates the supervisor and the sampler.
func (d *Daemon) build(opts DaemonOptions) error {
	out := opts.Stderr
	if d.cfg.Log.File != "" {
		if err := os.MkdirAll(filepath.Dir(d.cfg.Log.File), 0o755); err != nil {
			return hint.Wrap(fmt.Errorf("log file: %w", err), "create the directory or change [log] file")
		}
		lf, err := logfile.Open(d.cfg.Log.File, logfile.Options{MaxSize: d.cfg.Log.MaxSize, GID: d.gid})
		if err != nil {
			return hint.Wrap(fmt.Errorf("log file: %w", err), "check [log] file and its directory's permissions")
		}
		d.logFile, out = lf, lf
		d.logger = slog.New(slog.NewMultiHandler(d.logger.Handler(), ownLinesHandler(lf)))
	}
	sup, err := New(d.cfg, Options{
		Output:   io.MultiWriter(d.recent, out),
		Logger:   d.logger,
		OnEvent:  func(e Event) { d.queue.push(e) },
		Backoff:  opts.Backoff,
		Debounce: opts.Debounce,
	})
	if err != nil {
		return err
	}
	d.sup = sup
	d.sampler, err = metrics.New(metrics.Config{
		Interval:  opts.MetricsInterval,
		Threshold: opts.Threshold,
		DiskPath:  d.cfg.Dir,
		Processes: d.processes,
		Source:    opts.MetricsSource,
		OnSample:  func(s metrics.Sample) { d.queue.push(s) },
	})
	return err
}

// Supervisor returns the daemon's supervisor.
func (d *Daemon) Supervisor() *Supervisor { return d.sup }

// SocketPath returns the control socket's path.
func (d *Daemon) SocketPath() string { return d.ctl.Path() }

// Run serves the app until ctx ends, then shuts it down (see
// Supervisor.Run) and releases the socket and the log. It returns the
// supervisor's error.
func (d *Daemon) Run(ctx context.Context) error {
	defer d.Close()
	auxCtx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var aux sync.WaitGroup
	aux.Add(2)
	go func() {
		defer aux.Done()
		if err := d.ctl.Serve(auxCtx); err != nil {
			d.logger.Error("control socket stopped", "err", err)
		}
	}()
	go func() {
		defer aux.Done()
		d.sampler.Run(auxCtx)
	}()
	if d.metrics != nil {
		d.logger.Info("metrics: GET /metrics in the Prometheus text format", "listen", d.metrics.Addr())
		aux.Add(1)
		go func() {
			defer aux.Done()
			d.metrics.serve(d.logger)
		}()
	}
	done := make(chan error, 1)
	go func() { done <- d.sup.Run(ctx) }()
	err := d.mainLoop(done)
	cancel()
	d.ctl.Close() // ends the control waits in progress
	if d.metrics != nil {
		d.metrics.close()
	}
	aux.Wait()
	return err
}

// Force skips the grace period of a shutdown (see Supervisor.Force).
func (d *Daemon) Force() { d.sup.Force() }

// ReloadAsync asks for a reload without waiting (see Supervisor.ReloadAsync).
func (d *Daemon) ReloadAsync(trigger string) { d.sup.ReloadAsync(trigger) }

// Close releases the control socket and its lock and closes the log
// file. Run calls it; it is safe to call more than once.
func (d *Daemon) Close() error {
	d.closeOnce.Do(func() {
		if d.ctl != nil {
			d.closeErr = d.ctl.Close()
		}
		if d.metrics != nil {
			d.metrics.close()
		}
		if d.logFile != nil {
			if err := d.logFile.Close(); err != nil && d.closeErr == nil {
				d.closeErr = fmt.Errorf("log file: %w", err)
			}
		}
	})
	return d.closeErr
}

// processes lists the live workers for the sampler.
func (d *Daemon) processes() []metrics.Process {
	var ps []metrics.Process
	for _, w := range d.sup.Status().Workers {
		if w.PID != 0 && w.State != WorkerExited {
			ps = append(ps, metrics.Process{ID: workerName(w.ID), PID: w.PID})
		}
	}
	return ps
}

func workerName(id int) string { return fmt.Sprintf("w%d", id) }
