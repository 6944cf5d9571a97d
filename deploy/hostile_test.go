package deploy

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/deploytool/deploy/deploy/config"
)

// countingConn counts the commands run through it.
type countingConn struct {
	Local
	runs atomic.Int32
}

func (c *countingConn) Run(ctx context.Context, cmd string, stdin io.Reader, stdout, stderr io.Writer) error {
	c.runs.Add(1)
	return c.Local.Run(ctx, cmd, stdin, stdout, stderr)
}

// TestHostileValuesRefused: values that could run something or reach git
// as an option are refused before anything is sent, with a clear error.
func TestHostileValuesRefused(t *testing.T) {
	marker := filepath.Join(t.TempDir(), "pwned")
	touch := "touch " + marker
	for _, tc := range []struct {
		name string
		set  func(e *config.Env, o *Options)
		want string
	}{
		{"ref subst", func(e *config.Env, o *Options) { o.Ref = "$(" + touch + ")" }, "contains ' '"},
		{"ref option", func(e *config.Env, o *Options) { o.Ref = "--upload-pack=" + touch }, "starts with '-'"},
		{"ref dash", func(e *config.Env, o *Options) { e.Ref = "-c" }, "starts with '-'"},
		{"ref newline", func(e *config.Env, o *Options) { o.Ref = "main\n" + touch }, "control character"},
		{"ref backtick space", func(e *config.Env, o *Options) { o.Ref = "`" + touch + "`" }, "contains ' '"},
		{"ref quote", func(e *config.Env, o *Options) { o.Ref = "a' ; " + touch + " ; '" }, "contains ' '"},
		{"path relative", func(e *config.Env, o *Options) { e.Path = "srv;" + touch }, "not absolute"},
		{"path newline", func(e *config.Env, o *Options) { e.Path = "/srv/app\n" + touch }, "control character"},
		{"path dotdot", func(e *config.Env, o *Options) { e.Path = "/srv/../etc" }, "not clean"},
		{"shared escape", func(e *config.Env, o *Options) { e.Shared = []string{"../../etc"} }, "'..'"},
		{"shared absolute", func(e *config.Env, o *Options) { e.Shared = []string{"/etc/passwd"} }, "absolute"},
		{"shared dash", func(e *config.Env, o *Options) { e.Shared = []string{"-rf"} }, "starts with '-'"},
		{"restart newline", func(e *config.Env, o *Options) { e.RestartFile = "tmp/x\n" + touch }, "control character"},
		{"var name", func(e *config.Env, o *Options) { e.Vars = map[string]string{"A;" + touch: "1"} }, "not valid"},
		{"who tab", func(e *config.Env, o *Options) { o.Who = "me\tx" }, "control character"},
		{"hook NUL", func(e *config.Env, o *Options) { e.PreDeploy = "make\x00" }, "NUL"},
		{"keep", func(e *config.Env, o *Options) { e.Keep = -1 }, "keep -1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env := &config.Env{Name: "production", Repo: "/nonexistent", Path: filepath.Join(t.TempDir(), "app")}
			opts := Options{Who: "t@l"}
			tc.set(env, &opts)
			conn := &countingConn{}
			_, err := Deploy(context.Background(), conn, env, opts)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want it to contain %q", err, tc.want)
			}
			if n := conn.runs.Load(); n != 0 {
				t.Errorf("%d remote commands ran despite the bad value", n)
			}
			if _, err := os.Stat(marker); err == nil {
				t.Fatal("the hostile value ran")
			}
		})
	}
	conn := &countingConn{}
	err := Setup(context.Background(), conn, &config.Env{Name: "p", Path: "/srv/app", Repo: "--upload-pack=" + touch}, Options{Who: "t@l"})
	if err == nil || !strings.Contains(err.Error(), "git would take as an option") || conn.runs.Load() != 0 {
		t.Fatalf("setup with an option as repo: %v", err)
	}
}

// TestHostileButLegalValues: a path, branch, shared entry and restart file
// full of shell syntax are legal names; they must work as names and run
// nothing.
func TestHostileButLegalValues(t *testing.T) {
	marker := filepath.Join(t.TempDir(), "pwned")
	evil := "$(touch${IFS}" + marker + ")`touch${IFS}" + marker + "`;x'q\"&|"
	o := newOrigin(t)
	o.commit(nil)
	branch := "evil;" + evil
	o.git("branch", branch)
	s := newServer(t, o)
	s.env.Path = filepath.Join(t.TempDir(), "app "+evil)
	s.env.Shared = []string{"data " + evil + "/"}
	s.env.RestartFile = "tmp/restart " + evil
	s.env.PostDeploy = `test -e "$DEPLOY_RELEASE/tmp/restart $X"`
	s.env.Vars = map[string]string{"X": evil}
	s.setup()
	opts := s.opts()
	opts.Ref = branch
	res, err := Deploy(ctxFor(t), s.conn, s.env, opts)
	if err != nil {
		t.Fatalf("deploy: %v\n%s", err, s.out)
	}
	if _, err := os.Lstat(filepath.Join(s.env.Path, "current", "data "+evil)); err != nil {
		t.Errorf("shared link: %v", err)
	}
	if log := s.log(); log[len(log)-1].Ref != branch || res.NewSHA == "" {
		t.Errorf("log ref = %q", log[len(log)-1].Ref)
	}
	if _, err := os.Stat(marker); err == nil {
		t.Fatal("a value ran as shell text")
	}
}
