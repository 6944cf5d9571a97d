package deploy_test

import (
	"context"
	"fmt"
	"os"

	"github.com/deploytool/deploy/deploy"
	"github.com/deploytool/deploy/deploy/config"
)

// A single-host deploy: conn is any deploy.Conn (deploy/remote's SSH
// connection, or deploy.Local here), env comes from the config reader.
func ExampleDeploy() {
	ctx := context.Background()
	conn := &deploy.Local{}
	env := &config.Env{Name: "production", Repo: "https://example.com/app.git", Path: "/var/www/app"}
	opts := deploy.Options{Host: "web1", Stdout: os.Stdout, Ref: "v1.2.0"}
	if err := deploy.Setup(ctx, conn, env, opts); err != nil {
		fmt.Println("error:", err)
		return
	}
	res, err := deploy.Deploy(ctx, conn, env, opts)
	if err != nil {
		fmt.Println("error:", err) // a *deploy.StepError: step, message, hook output
		return
	}
	fmt.Printf("%s: %s -> %s in %v\n", res.Host, res.OldSHA, res.NewSHA, res.Duration)
}

// The two-phase deploy a multi-host rollout builds on: prepare every host,
// switch only when all prepared, gate on health, then commit or revert.
func ExamplePrepare() {
	ctx := context.Background()
	conns := map[string]deploy.Conn{"web1": &deploy.Local{}, "web2": &deploy.Local{}}
	env := &config.Env{Name: "production", Path: "/var/www/app"}
	var rollouts []*deploy.Rollout
	for host, conn := range conns { // in parallel in real code
		r, _, err := deploy.Prepare(ctx, conn, env, deploy.Options{Host: host, Hold: true})
		if err != nil {
			for _, r := range rollouts {
				_ = r.Abort() // nobody switches
			}
			return
		}
		rollouts = append(rollouts, r)
	}
	for _, r := range rollouts {
		if _, err := r.Switch(); err != nil { // restarted; waits for the gate
			for _, r := range rollouts {
				_, _ = r.Revert()
			}
			return
		}
	}
	for _, r := range rollouts {
		_, _ = r.Commit()
	}
}
