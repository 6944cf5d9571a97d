package deploy

import (
	"errors"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/deploytool/deploy/deploy/config"
)

// fakeProcmon writes an executable standing in for `procmon` that records
// its arguments and release, prints reason lines and exits with the code
// in the file codeFile (0 when missing). It returns its path and the log.
func fakeProcmon(t testing.TB, codeFile string) (bin, log string) {
	t.Helper()
	dir := t.TempDir()
	bin, log = filepath.Join(dir, "procmon"), filepath.Join(dir, "calls")
	if err := os.WriteFile(bin, []byte(procmonScript(codeFile, log)), 0o755); err != nil {
		t.Fatal(err)
	}
	return bin, log
}

// procmonScript is the text of a fake procmon (see fakeProcmon), its
// files named as the host sees them.
func procmonScript(codeFile, log string) string {
	return "#!/bin/bash\n" +
		"printf '%s|%s|%s\\n' \"$*\" \"$DEPLOY_RELEASE\" \"$PWD\" >>'" + log + "'\n" +
		"code=0; [ -f '" + codeFile + "' ] && code=$(cat '" + codeFile + "')\n" +
		"if [ \"$code\" != 0 ]; then echo 'procmon: worker 1 exited before ready (status 1)'; echo 'procmon: reload abandoned: the old generation keeps serving'; fi\n" +
		"exit $code\n"
}

// gatedServer is a set-up server whose restarts go through a fake procmon
// (fakeProcmon): write an exit status into code to make its reloads fail.
// calls logs each reload.
func gatedServer(t testing.TB) (o *origin, s *server, code, calls string) {
	t.Helper()
	o = newOrigin(t)
	o.commit(nil)
	s = newServer(t, o)
	code = filepath.Join(t.TempDir(), "code")
	bin, calls := fakeProcmon(t, code)
	s.env.Procmon = "/etc/procmon/app.toml"
	s.env.Vars = map[string]string{"DEPLOY_PROCMON": bin}
	s.setup()
	return o, s, code, calls
}

func readLines(t testing.TB, name string) []string {
	t.Helper()
	b, err := os.ReadFile(name)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	return strings.Split(strings.TrimSpace(string(b)), "\n")
}

// healthServer serves /healthz on 127.0.0.1 with the status in *code.
func healthServer(t testing.TB, code *atomic.Int32) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/healthz" {
			http.NotFound(w, r)
			return
		}
		w.WriteHeader(int(code.Load()))
	})}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return ln.Addr().String()
}

// TestGateProcmon: procmon reload --wait decides a single-host deploy; a
// non-zero exit puts the previous release back, restarts it, and the
// error says the gate failed with procmon's reason lines.
func TestGateProcmon(t *testing.T) {
	o, s, code, calls := gatedServer(t)
	first := s.deploy()
	if first.Gate != GatePassed {
		t.Errorf("Gate = %q, want passed", first.Gate)
	}
	got := readLines(t, calls)
	want := "reload --wait -c /etc/procmon/app.toml|" + filepath.Join(s.env.Path, "releases", first.NewRelease)
	if len(got) != 1 || !strings.HasPrefix(got[0], want) {
		t.Fatalf("procmon calls %q, want one %q", got, want)
	}

	o.commit(nil)
	must(t, os.WriteFile(code, []byte("3"), 0o644))
	res, err := Deploy(ctxFor(t), s.conn, s.env, s.opts())
	var se *StepError
	if !errors.As(err, &se) || se.Step != "gate" || !strings.Contains(se.Message, "status 3") ||
		!strings.Contains(strings.Join(se.Output, "\n"), "reload abandoned") {
		t.Fatalf("err = %#v (%v), want a gate StepError with procmon's reason", se, err)
	}
	if !res.Switched || !res.Reverted || res.Gate != GateFailed || !strings.Contains(res.GateReason, "status 3") {
		t.Errorf("result %+v", res)
	}
	if s.current() != first.NewRelease {
		t.Errorf("current = %s, want %s back", s.current(), first.NewRelease)
	}
	if log := s.log(); log[len(log)-1].Event != EventRevert || log[len(log)-1].Release != first.NewRelease {
		t.Errorf("last log entry %+v, want a revert to %s", log[len(log)-1], first.NewRelease)
	}
	got = readLines(t, calls)
	if len(got) != 3 || !strings.Contains(got[2], "releases/"+first.NewRelease) {
		t.Errorf("procmon calls %q: want the new release then the old one reloaded", got)
	}
	if s.lockLine() != "" {
		t.Errorf("lock left: %q", s.lockLine())
	}
}

// TestGateHealthcheck polls a real loopback HTTP server, with curl and
// with bash's /dev/tcp, and a bare path against procmon's listen.
func TestGateHealthcheck(t *testing.T) {
	var status atomic.Int32
	addr := healthServer(t, &status)
	for _, tc := range []struct {
		name, noCurl string
		bare         bool
		quote        string // how procmon.toml quotes listen
	}{{"curl", "0", false, ""}, {"dev-tcp", "1", false, ""}, {"procmon-listen", "0", true, `"`},
		{"procmon-listen-literal", "0", true, "'"}} {
		t.Run(tc.name, func(t *testing.T) {
			o := newOrigin(t)
			o.commit(nil)
			s := newServer(t, o)
			s.env.RestartFile = "tmp/restart.txt"
			s.env.Healthcheck = "http://" + addr + "/healthz"
			s.env.Vars = map[string]string{"DEPLOY_HEALTH_TIMEOUT": "1", "DEPLOY_NO_CURL": tc.noCurl}
			if tc.bare {
				conf := filepath.Join(t.TempDir(), "procmon.toml")
				must(t, os.WriteFile(conf, []byte("name = \"app\"\nlisten = "+tc.quote+addr+tc.quote+"\n[ready]\nlisten = \"x\"\n"), 0o644))
				bin, _ := fakeProcmon(t, filepath.Join(t.TempDir(), "none"))
				s.env.Procmon, s.env.Healthcheck = conf, "/healthz"
				s.env.Vars["DEPLOY_PROCMON"] = bin
			}
			s.setup()
			status.Store(204)
			first := s.deploy()
			if first.Gate != GatePassed {
				t.Fatalf("gate %q", first.Gate)
			}
			status.Store(503)
			o.commit(nil)
			res, err := Deploy(ctxFor(t), s.conn, s.env, s.opts())
			var se *StepError
			if !errors.As(err, &se) || se.Step != "gate" || !strings.Contains(se.Message, "HTTP 503") ||
				!strings.Contains(se.Message, addr+"/healthz") {
				t.Fatalf("err = %v, want the gate failing on HTTP 503 at %s", err, addr)
			}
			if !res.Reverted || s.current() != first.NewRelease {
				t.Errorf("reverted %v, current %s, want %s", res.Reverted, s.current(), first.NewRelease)
			}
		})
	}
}

// TestGateBarePathNeedsProcmon: a bare healthcheck path without procmon
// has no address to be tried on: refused before anything runs.
func TestGateBarePathNeedsProcmon(t *testing.T) {
	env := &config.Env{Name: "prod", Path: "/srv/app", Repo: "r", Healthcheck: "/healthz"}
	_, err := deployArgs(env, Options{Who: "a@b"})
	if err == nil || !strings.Contains(err.Error(), "http://127.0.0.1:3000/healthz") {
		t.Fatalf("err = %v, want a hint to write a URL", err)
	}
	env.Procmon = "/etc/procmon/app.toml"
	args, err := deployArgs(env, Options{Who: "a@b"})
	if err != nil || !strings.Contains(strings.Join(args, " "), "healthcheck=/healthz") {
		t.Fatalf("with procmon: %v %v", args, err)
	}
}

// TestGateValuesAreNotShellText: procmon and healthcheck values that would
// run something if pasted into shell text only ever reach the gate as
// arguments; a missing procmon binary is named as such.
func TestGateValuesAreNotShellText(t *testing.T) {
	o := newOrigin(t)
	o.commit(nil)
	s := newServer(t, o)
	marker := filepath.Join(t.TempDir(), "pwned")
	s.setup()
	first := s.deploy()
	for _, tc := range []struct{ procmon, health, want string }{
		{"/nonexistent/$(touch${IFS}" + marker + ")", "", "not in the hook shell's PATH"},
		{"", "http://127.0.0.1:1/$(touch${IFS}" + marker + ")`touch${IFS}" + marker + "`", "no answer"},
	} {
		s.env.Procmon, s.env.Healthcheck = tc.procmon, tc.health
		s.env.Vars = map[string]string{"DEPLOY_HEALTH_TIMEOUT": "0", "DEPLOY_PROCMON": "/nonexistent/procmon"}
		o.commit(nil)
		_, err := Deploy(ctxFor(t), s.conn, s.env, s.opts())
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("procmon %q healthcheck %q: err = %v, want %q", tc.procmon, tc.health, err, tc.want)
		}
		if _, err := os.Stat(marker); err == nil {
			t.Fatalf("a gate value ran as shell text: %s exists", marker)
		}
		if s.current() != first.NewRelease {
			t.Errorf("current = %s, want the first release back", s.current())
		}
	}
}

// TestGateFailsOnFirstDeploy: with nothing to go back to, a failed gate
// still says why, and that there was no previous release; the release
// stays current but is logged failed, so a later revert never goes back
// to it.
func TestGateFailsOnFirstDeploy(t *testing.T) {
	o, s, code, _ := gatedServer(t)
	must(t, os.WriteFile(code, []byte("3"), 0o644))
	res, err := Deploy(ctxFor(t), s.conn, s.env, s.opts())
	var se *StepError
	if !errors.As(err, &se) || se.Step != "gate" || !strings.Contains(se.Message, "status 3") ||
		!strings.Contains(se.Message, "no previous release") {
		t.Fatalf("err = %v, want the gate's reason and that nothing older exists", err)
	}
	if res.Gate != GateFailed || s.lockLine() != "" {
		t.Errorf("gate %q, lock %q", res.Gate, s.lockLine())
	}
	// current stays (nothing older), but .deploys does not call the
	// release deployed, and no later revert goes back to it
	log := s.log()
	if last := log[len(log)-1]; last.Event != "failed" || last.Release != res.NewRelease || s.current() != res.NewRelease {
		t.Errorf("after the failed gate: current %s, last event %+v; want %s logged failed", s.current(), last, res.NewRelease)
	}
	must(t, os.WriteFile(code, []byte("0"), 0o644))
	o.commit(nil)
	good := s.deploy()
	if _, err := Revert(ctxFor(t), s.conn, s.env, 1, s.opts()); err == nil || !strings.Contains(err.Error(), "cannot go back 1") {
		t.Errorf("revert 1 from the first good deploy: %v, want a refusal (the release before it never served)", err)
	}
	if s.current() != good.NewRelease {
		t.Errorf("current = %s after the refused revert, want %s", s.current(), good.NewRelease)
	}
}

// TestGateHealthSaysWhatItGets: a healthcheck that keeps failing is
// waited for up to DEPLOY_HEALTH_TIMEOUT, and every 5 s of it says what
// it gets (a release answering 500 was live for a silent minute in a
// real-app trial), then reverts (whose own check fails here too).
func TestGateHealthSaysWhatItGets(t *testing.T) {
	var status atomic.Int32
	addr := healthServer(t, &status)
	o := newOrigin(t)
	o.commit(nil)
	s := newServer(t, o)
	s.env.Healthcheck = "http://" + addr + "/healthz"
	s.env.Vars = map[string]string{"DEPLOY_HEALTH_TIMEOUT": "6"}
	s.setup()
	status.Store(200)
	first := s.deploy()
	status.Store(500)
	o.commit(nil)
	_, err := Deploy(ctxFor(t), s.conn, s.env, s.opts())
	if err == nil || !strings.Contains(err.Error(), "HTTP 500 after 6s") {
		t.Fatalf("err = %v, want the healthcheck failing on HTTP 500", err)
	}
	if out := s.out.String(); !strings.Contains(out, "health: http://"+addr+"/healthz: HTTP 500; trying for ") || !strings.Contains(out, " s more (DEPLOY_HEALTH_TIMEOUT=6)") {
		t.Errorf("no progress line after 5 s:\n%s", s.out)
	}
	if s.current() != first.NewRelease {
		t.Errorf("current = %s, want %s back", s.current(), first.NewRelease)
	}
}
