package deploy_test

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/deploytool/deploy/deploy"
	"github.com/deploytool/deploy/deploy/config"
	"github.com/deploytool/deploy/deploy/remote"
)

// A deploy to every host of an env: one SSH connection per host, all
// prepared before any switches, restarts in batches gated on procmon, and
// a summary line per host.
func ExampleDeployFleet() {
	env := &config.Env{Name: "production", Repo: "https://example.com/app.git", Path: "/var/www/app",
		Hosts:   []config.Host{{Name: "web1"}, {Name: "web2"}, {User: "deploy", Name: "web3", Port: 2222}},
		Procmon: "/etc/procmon/app.toml", Healthcheck: "/healthz", Batch: 1}
	keys := &remote.KeyCache{}
	fo := deploy.FleetOptions{
		Dial: func(ctx context.Context, h config.Host) (deploy.Conn, error) {
			return remote.Dial(ctx, remote.Target{Host: h.Name, User: h.User, Port: h.Port}, remote.Options{Keys: keys})
		},
		OnEvent: func(ev deploy.FleetEvent) { fmt.Fprintln(os.Stderr, ev.Host, ev.Phase, ev.Step) },
	}
	results, err := deploy.DeployFleet(context.Background(), env, fo)
	for _, r := range results {
		fmt.Println(r.Host, r.Outcome)
	}
	var fe *deploy.FleetError
	if errors.As(err, &fe) {
		fmt.Println("error:", err) // names the host that failed, why, and where every host ended
	}
}
