package deploy

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// blockedDeploy starts a deploy whose pre-deploy waits until the returned
// release func is called; it returns once the hook runs (the lock is held).
func blockedDeploy(t *testing.T, s *server, who string) (release func(), done chan error) {
	t.Helper()
	dir := t.TempDir()
	started, gate := filepath.Join(dir, "started"), filepath.Join(dir, "go")
	env := *s.env
	env.PreDeploy = gateHook(started, gate)
	opts := s.opts()
	opts.Who = who
	done = make(chan error, 1)
	go func() {
		_, err := Deploy(ctxFor(t), s.conn, &env, opts)
		done <- err
	}()
	waitFile(t, started)
	release = func() { _ = os.WriteFile(gate, nil, 0o644) }
	t.Cleanup(release)
	return release, done
}

func waitErr(t *testing.T, done chan error) error {
	t.Helper()
	select {
	case err := <-done:
		return err
	case <-time.After(30 * time.Second):
		t.Fatal("deploy did not end within 30s")
		return nil
	}
}

func TestConcurrentDeployFailsWithHolder(t *testing.T) {
	o, s, _ := deployed(t)
	o.commit(nil)
	release, first := blockedDeploy(t, s, "alice@laptop")

	_, err := Deploy(ctxFor(t), s.conn, s.env, s.opts())
	if !IsLocked(err) {
		t.Fatalf("second deploy: err = %v, want a lock error", err)
	}
	for _, want := range []string{"locked by alice@laptop (pid ", ", deploy) since 20", "--wait", "run 'deploy production unlock --force'"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("lock error %q lacks %q", err, want)
		}
	}

	// With Wait the next deploy waits for the holder, then runs.
	opts := s.opts()
	opts.Wait = true
	waited := make(chan error, 1)
	go func() {
		_, err := Deploy(ctxFor(t), s.conn, s.env, opts)
		waited <- err
	}()
	deadline := time.Now().Add(20 * time.Second)
	for !strings.Contains(s.out.String(), "waiting for the deploy lock held by alice@laptop") {
		if time.Now().After(deadline) {
			t.Fatalf("no waiting message; output:\n%s", s.out)
		}
		time.Sleep(20 * time.Millisecond)
	}
	release()
	if err := waitErr(t, first); err != nil {
		t.Fatalf("first deploy: %v", err)
	}
	if err := waitErr(t, waited); err != nil {
		t.Fatalf("waiting deploy: %v", err)
	}
	if n := len(s.log()); s.log()[n-1].Event != EventDeploy || s.log()[n-2].Event != EventDeploy {
		t.Errorf("log = %+v", s.log())
	}
}

// TestStaleLockAfterKill: a SIGKILLed deploy leaves no lock (the kernel
// frees it); unlock reports who held it; the next deploy runs.
func TestStaleLockAfterKill(t *testing.T) {
	o, s, _ := deployed(t)
	o.commit(nil)
	release, first := blockedDeploy(t, s, "bob@laptop")
	fields := strings.Split(s.lockLine(), "\t")
	pid, err := strconv.Atoi(fields[1])
	if err != nil || fields[0] != "bob@laptop" {
		t.Fatalf("lock line %q", s.lockLine())
	}
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	release() // lets the orphaned hook end
	if err := waitErr(t, first); err == nil {
		t.Fatal("killed deploy reported success")
	}
	res, err := Unlock(ctxFor(t), s.conn, s.env, false, s.opts())
	if err != nil || res.State != "free" || !strings.HasPrefix(res.Holder, "bob@laptop (pid "+fields[1]) {
		t.Fatalf("unlock = %+v, %v", res, err)
	}
	if s.lockLine() != "" {
		t.Errorf("unlock left the holder line %q", s.lockLine())
	}
	s.deploy()
}

// TestUnlockForce: a live holder is named and only stopped with force; its
// own cleanup runs (no half-made release, failed logged).
func TestUnlockForce(t *testing.T) {
	o, s, first := deployed(t)
	o.commit(nil)
	_, done := blockedDeploy(t, s, "carol@laptop")
	_, err := Unlock(ctxFor(t), s.conn, s.env, false, s.opts())
	if err == nil || !strings.Contains(err.Error(), "held by carol@laptop") || !strings.Contains(err.Error(), "--force") {
		t.Fatalf("unlock without force: %v", err)
	}
	res, err := Unlock(ctxFor(t), s.conn, s.env, true, s.opts())
	if err != nil || res.State != "broken" || !strings.HasPrefix(res.Holder, "carol@laptop") {
		t.Fatalf("unlock --force = %+v, %v", res, err)
	}
	if err := waitErr(t, done); err == nil || !strings.Contains(err.Error(), "interrupted") {
		t.Fatalf("stopped deploy: err = %v", err)
	}
	assertUntouched(t, s, first)
}

func TestUnlockNeverLocked(t *testing.T) {
	o := newOrigin(t)
	o.commit(nil)
	s := newServer(t, o)
	if err := os.MkdirAll(s.env.Path, 0o755); err != nil {
		t.Fatal(err)
	}
	res, err := Unlock(ctxFor(t), s.conn, s.env, false, s.opts())
	if err != nil || res.State != "never" {
		t.Fatalf("unlock = %+v, %v", res, err)
	}
}

func TestStatusBeforeSetup(t *testing.T) {
	o := newOrigin(t)
	o.commit(nil)
	s := newServer(t, o)
	if err := os.MkdirAll(s.env.Path, 0o755); err != nil {
		t.Fatal(err)
	}
	st, err := Status(ctxFor(t), s.conn, s.env, s.opts())
	if err != nil || st.LayoutOK || st.Current != "" || st.Lock != "free" {
		t.Fatalf("status = %+v, %v", st, err)
	}
}

func TestCheck(t *testing.T) {
	o, s, _ := deployed(t)
	o.git("tag", "v1")
	s.env.PreDeploy = "NODE_ENV=production no-such-tool-xyz build"
	s.env.PostDeploy = "./bin/restart"
	s.env.Test = "true"
	items, err := Check(ctxFor(t), s.conn, s.env, s.opts())
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]CheckItem{}
	for _, it := range items {
		got[it.Name] = it
	}
	for name, ok := range map[string]bool{
		"layout": true, "lock": true, "disk": true, "bin:git": true, "bin:flock": true,
		"hook:no-such-tool-xyz": false, "hook:true": true, "ref": true,
	} {
		if it, found := got[name]; !found || it.OK != ok {
			t.Errorf("%s: %+v (found %v), want ok=%v", name, it, found, ok)
		}
	}
	if _, found := got["hook:./bin/restart"]; found {
		t.Error("a hook given by a path was checked; it only exists in the release")
	}
	if !strings.Contains(got["hook:no-such-tool-xyz"].Detail, "not in the hook shell's PATH") {
		t.Errorf("detail = %q", got["hook:no-such-tool-xyz"].Detail)
	}
	for ref, ok := range map[string]bool{"v1": true, "main": true, "nope": false} {
		opts := s.opts()
		opts.Ref = ref
		items, err := Check(ctxFor(t), s.conn, s.env, opts)
		if err != nil {
			t.Fatal(err)
		}
		for _, it := range items {
			if it.Name == "ref" && it.OK != ok {
				t.Errorf("ref %s: %+v", ref, it)
			}
		}
	}
	// procmon set: its config and binary are what the gate needs
	conf := filepath.Join(t.TempDir(), "app.toml")
	bin, _ := fakeProcmon(t, filepath.Join(t.TempDir(), "code"))
	for _, tc := range []struct {
		conf, bin, detail string
		ok                bool
	}{
		{conf, bin, "-c " + conf, true},
		{filepath.Join(t.TempDir(), "missing.toml"), bin, "does not exist", false},
		{conf, "no-such-procmon-xyz", "'no-such-procmon-xyz' is not in the hook shell's PATH", false},
	} {
		must(t, os.WriteFile(conf, []byte("name = \"app\"\n"), 0o644))
		s.env.Procmon = tc.conf
		s.env.Vars = map[string]string{"DEPLOY_PROCMON": tc.bin}
		items, err := Check(ctxFor(t), s.conn, s.env, s.opts())
		if err != nil {
			t.Fatal(err)
		}
		var it CheckItem
		for _, i := range items {
			if i.Name == "procmon" {
				it = i
			}
		}
		if it.Name == "" || it.OK != tc.ok || !strings.Contains(it.Detail, tc.detail) {
			t.Errorf("procmon %s, binary %s: %+v, want ok=%v and %q", tc.conf, tc.bin, it, tc.ok, tc.detail)
		}
	}
	// build auto: the tools of the stacks in what the mirror fetched
	s.env.Procmon, s.env.Vars, s.env.Build = "", nil, "auto"
	items, err = Check(ctxFor(t), s.conn, s.env, s.opts())
	if err != nil {
		t.Fatal(err)
	}
	var build []CheckItem
	for _, it := range items {
		if strings.HasPrefix(it.Name, "build") {
			build = append(build, it)
		}
	}
	if len(build) != 1 || build[0].Name != "build" || !build[0].OK || !strings.Contains(build[0].Detail, "no stack detected in the origin's default branch as the mirror last fetched it") {
		t.Errorf("build auto, no stack in the fetched commit: %+v", build)
	}
	// Nothing changed: no new log line, no lock holder.
	if n := len(s.log()); n != 1 || s.lockLine() != "" {
		t.Errorf("check changed something: %d log lines, lock %q", n, s.lockLine())
	}
}
