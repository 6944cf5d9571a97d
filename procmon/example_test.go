package procmon_test

import (
	"context"
	"log"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/deploytool/deploy/procmon"
)

// Example shows the supervisor as cmd/procmon and the control socket use
// it: load and check the config, run until SIGTERM, reload on demand.
func Example() {
	cfg, err := procmon.LoadConfig("/etc/procmon/vmblog.toml")
	if err != nil {
		log.Fatal(err) // names the file, line and key
	}
	sup, err := procmon.New(cfg, procmon.Options{
		Output: os.Stdout, // each worker line, stamped with time, generation and worker
		Logger: slog.Default(),
		OnEvent: func(e procmon.Event) {
			log.Printf("%s: generation %d %s", e.Kind, e.Generation, e.Message)
		},
	})
	if err != nil {
		log.Fatal(err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	go func() {
		// procmon reload --wait: wait for the verdict of a reload.
		res, err := sup.Reload(ctx)
		if err == nil && !res.OK {
			log.Printf("reload failed, generation %d still serves: %s", sup.Status().Generation, res.Error)
		}
	}()
	if err := sup.Run(ctx); err != nil {
		log.Fatal(err)
	}
}
