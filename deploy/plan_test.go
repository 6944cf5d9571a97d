package deploy

import (
	"strings"
	"testing"

	"github.com/deploytool/deploy/deploy/config"
	"github.com/deploytool/deploy/deploy/script"
	"github.com/deploytool/deploy/internal/golden"
)

// TestPlanGolden pins what a dry run shows: the steps, the script
// arguments and the command line, for one host and for several.
func TestPlanGolden(t *testing.T) {
	env := sampleEnv()
	env.PreDeploy, env.PostDeploy, env.Test = "npm ci && npm run build", "./bin/restart", "curl -fsS localhost:3000/up"
	env.Shared = []string{"log/", ".env"}
	var b strings.Builder
	for _, hosts := range []int{1, 3} {
		env.Hosts = make([]config.Host, hosts)
		p, err := PlanDeploy(env, Options{Who: "alice@laptop", Ref: "v1.2.3"})
		if err != nil {
			t.Fatal(err)
		}
		b.WriteString("ref " + p.Ref + "\n")
		for _, s := range p.Steps {
			b.WriteString(s.Name + ": " + s.What + "\n")
		}
		// the bootstrap names the server's copy of the script by its sha256
		command := strings.ReplaceAll(p.Command, script.Hash(script.Script()), "<script-sha256>")
		b.WriteString(strings.Join(p.Args, "\n") + "\n" + command + "\n--\n")
	}
	golden.Assert(t, "plan", b.String())
	if _, err := PlanDeploy(env, Options{Who: "a@b", Ref: "--upload-pack=x"}); err == nil {
		t.Error("a hostile ref made a plan")
	}
}
