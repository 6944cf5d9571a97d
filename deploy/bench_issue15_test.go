package deploy

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/deploytool/deploy/deploy/remote"
	"github.com/deploytool/deploy/internal/sshtest"
	"github.com/deploytool/deploy/internal/syncbuf"
	"github.com/deploytool/deploy/internal/testfs"
)

// This file holds issue 15's figures, measured side by side in one run:
// BenchmarkBuildCache (build auto's dependency cache against plain npm ci)
// and BenchmarkNoopOverhead (a deploy that changes nothing against one
// `ssh host true`). Both deploy through a real sshd on loopback with the
// Go SSH client, as `deploy production` does: dial, deploy, close.

// benchHost is a real sshd on 127.0.0.1 and what both clients (the Go
// one and OpenSSH's ssh) need to log in to it.
type benchHost struct {
	srv    *sshtest.Server
	target remote.Target
	opts   remote.Options
	// mount, when set, is where the host sees its own disk: deploy
	// paths go under it.
	mount string
	// knownHosts is the known_hosts file both clients check the host
	// key with (the Go client's is in opts.HomeDir).
	knownHosts string
}

// startBenchHost starts sshd for the user running the test, whose home
// (and so its rc files, which run in every session) is this machine's.
func startBenchHost(b *testing.B) *benchHost {
	b.Helper()
	return newBenchHost(b, sshtest.Start(b, sshtest.Options{}), "")
}

// startCleanBenchHost starts sshd in its own mount namespace with an
// empty home over the user's: a fresh server's shell, no rc files.
func startCleanBenchHost(b *testing.B) *benchHost {
	b.Helper()
	mount := b.TempDir()
	testfs.Thaw(b, mount) // a root deploy's cache entries are immutable
	h := sshtest.StartHost(b, mount, sshtest.HostOptions{CleanHome: true})
	return newBenchHost(b, h.Server, mount)
}

func newBenchHost(b *testing.B, srv *sshtest.Server, mount string) *benchHost {
	b.Helper()
	home := sshtest.FakeHome(b, "", srv)
	b.Setenv("SSH_AUTH_SOCK", "")
	return &benchHost{
		srv:        srv,
		target:     remote.Target{Host: srv.Host(), Port: srv.Port(), User: srv.User()},
		opts:       remote.Options{HomeDir: home},
		mount:      mount,
		knownHosts: filepath.Join(home, ".ssh", "known_hosts"),
	}
}

// throughLink makes both clients reach h through l (an emulated link in
// front of its sshd), trusting the host key at l's address too.
func (h *benchHost) throughLink(b *testing.B, l *sshtest.Link) {
	b.Helper()
	h.srv.AppendKnownHost(b, h.knownHosts, l.Addr())
	h.target.Port = l.Port()
}

// benchDeploy is one timed deploy: the wall time of dial + deploy + close,
// the dial's share, and the result.
type benchDeploy struct {
	wall, dial time.Duration
	res        *Result
	sent       int64 // bytes the laptop sent on the commands' stdin
}

// deploy dials, deploys s's env and closes, within limit.
func (h *benchHost) deploy(b *testing.B, s *server, limit time.Duration) benchDeploy {
	b.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	start := time.Now()
	c, err := remote.Dial(ctx, h.target, h.opts)
	if err != nil {
		b.Fatal(err)
	}
	dial := time.Since(start)
	m := &meteredConn{Conn: c}
	res, err := Deploy(ctx, m, s.env, s.opts())
	c.Close()
	wall := time.Since(start)
	if err != nil {
		b.Fatalf("deploy: %v\n%s", err, s.out)
	}
	return benchDeploy{wall: wall, dial: dial, res: res, sent: m.sent.Load()}
}

// setup dials and runs Setup for s's env.
func (h *benchHost) setup(b *testing.B, s *server) {
	b.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c, err := remote.Dial(ctx, h.target, h.opts)
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	if err := Setup(ctx, c, s.env, s.opts()); err != nil {
		b.Fatalf("setup: %v\n%s", err, s.out)
	}
}

// sshTrue runs `ssh host true` with OpenSSH's client, the test's key and
// known_hosts, and returns its wall time.
func (h *benchHost) sshTrue(b *testing.B) time.Duration {
	b.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s := h.srv
	cmd := exec.CommandContext(ctx, "ssh", "-p", fmt.Sprint(h.target.Port), "-i", s.ClientKeyFile(), "-F", "/dev/null",
		"-o", "UserKnownHostsFile="+h.knownHosts, "-o", "StrictHostKeyChecking=yes", "-o", "BatchMode=yes",
		"-o", "ConnectTimeout=10", s.User()+"@"+s.Host(), "true")
	start := time.Now()
	out, err := cmd.CombinedOutput()
	d := time.Since(start)
	if err != nil {
		b.Fatalf("ssh true: %v\n%s", err, out)
	}
	return d
}

// spread returns the median, lowest and highest of xs.
func spread(xs []float64) (med, lo, hi float64) {
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	return s[len(s)/2], s[0], s[len(s)-1]
}

// reportSpread reports the median of xs as unit and its range as
// unit-min and unit-max, and returns the three as text.
func reportSpread(b *testing.B, xs []float64, unit string) string {
	med, lo, hi := spread(xs)
	b.ReportMetric(med, unit)
	b.ReportMetric(lo, unit+"-min")
	b.ReportMetric(hi, unit+"-max")
	return fmt.Sprintf("%s %.3g (%.3g–%.3g)", unit, med, lo, hi)
}

func medianMs(ds []time.Duration) float64 { return ms(quantile(ds, 0.5)) }

func stepTime(res *Result, name string) time.Duration {
	for _, st := range res.Steps {
		if st.Name == name {
			return st.Duration
		}
	}
	return 0
}

// buildRounds bounds BenchmarkBuildCache: at most this many rounds, and
// no new round once buildBudget has passed (at least two rounds run, so
// that the ratios have a spread).
//
// buildPairs and pairBudget bound the pairs that follow the rounds (the
// same rule: at least two).
const (
	buildRounds = 3
	buildBudget = 50 * time.Second
	buildPairs  = 8
	pairBudget  = 30 * time.Second
	buildLimit  = 3 * time.Minute // one deploy or npm ci
)

// BenchmarkBuildCache measures build auto's dependency cache with a
// real-size Node app (Express 4.21.2: 72 packages from the npm registry,
// pinned by testdata/bench-express/package-lock.json) deployed through a
// real sshd whose sessions start in an empty home (a fresh server's
// shell: this machine's root .bashrc starts pyenv, ~0.8 s a session,
// which every case would pay alike), in rounds that alternate six cases:
//
//   - cold: a code change, with <path>/.cache/deps removed first: npm ci,
//     then the install is put into the cache;
//   - warm: a code change, lockfile unchanged: node_modules comes from
//     the cache, by the method the server picks (as root here: links
//     into an immutable entry; copy where chattr +i is refused);
//   - warm-link: the same with DEPLOY_CACHE_METHOD=link, what a non-root
//     deploy user gets for node_modules without reflinks (one directory of
//     links into the read-only entry; as root the entry is immutable),
//     after an untimed deploy that made the link entry (or, as root,
//     found warm's);
//   - lockfile: the app's version bumped in package.json and
//     package-lock.json, which changes the lockfile's hash as a changed
//     dependency does: npm ci installs afresh and is cached;
//   - npm-ci: plain `npm ci` in a fresh copy of the release (its files
//     without node_modules), run locally: the install alone;
//   - npm-ci-deploy: the same deploy with pre-deploy `npm ci` instead of
//     build auto (what a user without the cache runs).
//
// npm's own download cache (npm_config_cache, a temp dir filled by an
// untimed first deploy) is warm for every case, as it is on a server that
// deployed before: the cache measured is build auto's, not npm's.
//
// kB-fs-warm is what the warm deploy added to the filesystem that holds
// the app (statfs before and after, synced), which counts blocks that
// reflinks share once; it is exact only on a filesystem nothing else
// writes to. DEPLOY_BENCH_APP_DIR=<dir> puts the app's path under dir,
// e.g. a mounted XFS image, where the server's method is reflink.
//
// After the rounds come pairs of warm-link and npm-ci-deploy alone,
// alternated (pairs-warm-link/npm-ci-deploy: median, min, max; and each
// side's median wall time), the target ratio with more samples,
// with keep 4 so that each deploy prunes a release of its own kind.
//
// It reports each case's median wall time (ms-<case>), the ratios
// warm/cold, warm/npm-ci and warm/npm-ci-deploy taken within each round
// (median, min, max over the rounds), the dependency step as the script
// reports it (ms-deps-warm: putting node_modules into the release from
// the cache; ms-build-<case>: the build step, detection and npm ci or the
// cache included, from Result.Steps), and the disk the warm deploy's
// release takes that no other release or cache entry shares
// (kB-release-warm, kB-release-warm-link), next to the app's own files
// (kB-app). The cache
// method is the one the server picks (a root deploy user on a filesystem
// without reflinks: link, into an immutable entry); after the rounds, one untimed lockfile change
// and warm deploy with DEPLOY_CACHE_METHOD=hardlink (what a non-root
// deploy user gets there) give kB-release-warm-hardlink.
//
//	DEPLOY_REQUIRE_SSHD=1 go test -run '^$' -bench 'BuildCache|NoopOverhead' -benchtime 1x ./deploy
func BenchmarkBuildCache(b *testing.B) {
	needTool(b, "npm")
	h := startCleanBenchHost(b)
	fixture := map[string]string{}
	for _, name := range []string{"package.json", "package-lock.json", "server.js"} {
		data, err := os.ReadFile(filepath.Join("testdata", "bench-express", name))
		if err != nil {
			b.Fatal(err)
		}
		fixture[name] = string(data)
	}
	o := newOrigin(b)
	o.commit(fixture)
	s := newServer(b, o)
	if dir := os.Getenv("DEPLOY_BENCH_APP_DIR"); dir != "" {
		// the app's path on another filesystem (one with reflinks)
		p, err := os.MkdirTemp(dir, "bench-")
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { _ = exec.Command("rm", "-rf", p).Run() })
		s.env.Path = filepath.Join(p, "srv", "app")
	}
	s.env.Build = "auto"
	s.env.Vars = map[string]string{"npm_config_cache": filepath.Join(b.TempDir(), "npm-cache"), "npm_config_update_notifier": "false"}
	h.setup(b, s)
	// Untimed: fills npm's download cache from the registry.
	h.deploy(b, s, buildLimit)

	version := 0
	code := func() { o.commit(map[string]string{"VERSION": fmt.Sprintf("code %d\n", o.n)}) }
	bumpLockfile := func() {
		version++
		v := fmt.Sprintf(`"version": "1.0.%d"`, version)
		o.commit(map[string]string{
			"package.json":      strings.Replace(fixture["package.json"], `"version": "1.0.0"`, v, 1),
			"package-lock.json": strings.Replace(fixture["package-lock.json"], `"version": "1.0.0"`, v, 2),
		})
	}
	wantDeps := func(d benchDeploy, want string) {
		if len(d.res.Built) != 1 || d.res.Built[0].Stack != "node" || d.res.Built[0].Deps != want {
			b.Fatalf("Built = %+v, want node deps %s\n%s", d.res.Built, want, s.out)
		}
	}
	cases := []string{"cold", "warm", "warm-link", "lockfile", "npm-ci", "npm-ci-deploy"}
	walls := map[string][]time.Duration{}
	builds := map[string][]time.Duration{}
	var depsWarm []time.Duration
	warmSteps := map[string][]time.Duration{}
	var warmCold, warmNpm, warmNpmDeploy, linkNpmDeploy []float64
	var releaseKB, linkKB, appKB int64
	var fsWarm []int64
	var method string
	begin := time.Now()
	for b.Loop() {
		for round := 0; round < buildRounds && (round < 2 || time.Since(begin) < buildBudget); round++ {
			t := map[string]time.Duration{}
			for _, c := range cases {
				b.StopTimer()
				var d benchDeploy
				switch c {
				case "cold":
					deps := filepath.Join(s.env.Path, ".cache", "deps")
					if os.Geteuid() == 0 { // a root deploy's link entries are immutable
						if out, err := exec.Command("chattr", "-R", "-f", "-i", deps).CombinedOutput(); err != nil && len(out) > 0 {
							b.Fatalf("chattr -R -i %s: %v\n%s", deps, err, out)
						}
					}
					if err := os.RemoveAll(deps); err != nil {
						b.Fatal(err)
					}
					code()
					b.StartTimer()
					d = h.deploy(b, s, buildLimit)
					wantDeps(d, "installed")
				case "warm":
					code()
					s.out = &syncbuf.Buffer{}
					before := fsUsedKB(b, s.env.Path)
					b.StartTimer()
					d = h.deploy(b, s, buildLimit)
					b.StopTimer()
					fsWarm = append(fsWarm, fsUsedKB(b, s.env.Path)-before)
					wantDeps(d, "reused")
					method = d.res.Built[0].Method
					for _, st := range d.res.Steps {
						warmSteps[st.Name] = append(warmSteps[st.Name], st.Duration)
					}
					if secs, ok := reportedSeconds(s.out.String(), "deps: node_modules reused from "); ok {
						depsWarm = append(depsWarm, secs)
					}
					rel := filepath.Join(s.env.Path, "releases", d.res.NewRelease)
					releaseKB, appKB = ownKB(b, rel, ""), ownKB(b, rel, "node_modules")
				case "warm-link":
					// Untimed: the link entry for this lockfile (a link
					// entry has its own key; as root, warm's is it).
					s.env.Vars["DEPLOY_CACHE_METHOD"] = "link"
					code()
					if d := h.deploy(b, s, buildLimit); os.Geteuid() != 0 || method != "link" {
						wantDeps(d, "installed")
					}
					code()
					b.StartTimer()
					d = h.deploy(b, s, buildLimit)
					b.StopTimer()
					delete(s.env.Vars, "DEPLOY_CACHE_METHOD")
					wantDeps(d, "reused")
					if d.res.Built[0].Method != "link" {
						b.Fatalf("warm-link: method %q", d.res.Built[0].Method)
					}
					linkKB = ownKB(b, filepath.Join(s.env.Path, "releases", d.res.NewRelease), "")
				case "lockfile":
					bumpLockfile()
					b.StartTimer()
					d = h.deploy(b, s, buildLimit)
					wantDeps(d, "installed")
				case "npm-ci":
					d.wall = npmCI(b, filepath.Join(s.env.Path, "current"), s.env.Vars)
				case "npm-ci-deploy":
					code()
					s.env.Build, s.env.PreDeploy = "", "npm ci --no-audit --no-fund"
					b.StartTimer()
					d = h.deploy(b, s, buildLimit)
					s.env.Build, s.env.PreDeploy = "auto", ""
					if d.res.Built != nil {
						b.Fatalf("build auto ran beside pre-deploy: %+v", d.res.Built)
					}
				}
				b.StopTimer()
				t[c] = d.wall
				walls[c] = append(walls[c], d.wall)
				if d.res != nil {
					builds[c] = append(builds[c], stepTime(d.res, "build")+stepTime(d.res, "pre-deploy"))
				}
				b.StartTimer()
			}
			warmCold = append(warmCold, float64(t["warm"])/float64(t["cold"]))
			warmNpm = append(warmNpm, float64(t["warm"])/float64(t["npm-ci"]))
			warmNpmDeploy = append(warmNpmDeploy, float64(t["warm"])/float64(t["npm-ci-deploy"]))
			linkNpmDeploy = append(linkNpmDeploy, float64(t["warm-link"])/float64(t["npm-ci-deploy"]))
			b.Logf("round %d: cold %v, warm %v, warm-link %v, lockfile %v, npm ci %v, npm-ci deploy %v", round+1,
				t["cold"].Round(time.Millisecond), t["warm"].Round(time.Millisecond), t["warm-link"].Round(time.Millisecond), t["lockfile"].Round(time.Millisecond),
				t["npm-ci"].Round(time.Millisecond), t["npm-ci-deploy"].Round(time.Millisecond))
		}
	}
	b.StopTimer()
	// Pairs: warm-link and npm-ci-deploy alone, alternated, for the ratio
	// the issue sets a target on with more samples than the rounds give.
	// keep 4: with two kinds alternating, each deploy prunes a release of
	// its own kind, as a user of either would (with keep 5, the warm-link
	// deploy would remove the npm-ci release's node_modules)
	s.env.Vars["DEPLOY_CACHE_METHOD"] = "link"
	keep := s.env.Keep
	s.env.Keep = 4
	code()
	h.deploy(b, s, buildLimit) // untimed: the link entry for this lockfile, and the prune to 4
	var pairs []float64
	pairWalls := map[string][]time.Duration{}
	linkSteps := map[string][]time.Duration{}
	pairsBegin := time.Now()
	for i := 0; i < buildPairs && (i < 2 || time.Since(pairsBegin) < pairBudget); i++ {
		code()
		d := h.deploy(b, s, buildLimit)
		wantDeps(d, "reused")
		if d.res.Built[0].Method != "link" {
			b.Fatalf("pairs: warm-link's method %q", d.res.Built[0].Method)
		}
		for _, st := range d.res.Steps {
			linkSteps[st.Name] = append(linkSteps[st.Name], st.Duration)
		}
		code()
		s.env.Build, s.env.PreDeploy = "", "npm ci --no-audit --no-fund"
		n := h.deploy(b, s, buildLimit)
		s.env.Build, s.env.PreDeploy = "auto", ""
		pairs = append(pairs, float64(d.wall)/float64(n.wall))
		pairWalls["warm-link"] = append(pairWalls["warm-link"], d.wall)
		pairWalls["npm-ci-deploy"] = append(pairWalls["npm-ci-deploy"], n.wall)
	}
	delete(s.env.Vars, "DEPLOY_CACHE_METHOD")
	s.env.Keep = keep
	b.ReportMetric(medianMs(pairWalls["warm-link"]), "ms-pairs-warm-link")
	b.ReportMetric(medianMs(pairWalls["npm-ci-deploy"]), "ms-pairs-npm-ci-deploy")
	pairText := reportSpread(b, pairs, "pairs-warm-link/npm-ci-deploy")
	b.Logf("%d pairs in %v: %s; warm-link %v, npm-ci deploy %v (medians); warm-link's steps (median): %s",
		len(pairs), time.Since(pairsBegin).Round(time.Second), pairText,
		quantile(pairWalls["warm-link"], 0.5).Round(time.Millisecond), quantile(pairWalls["npm-ci-deploy"], 0.5).Round(time.Millisecond),
		stepMedians(linkSteps))

	// Untimed: the disk a warm release takes with hard links.
	s.env.Vars["DEPLOY_CACHE_METHOD"] = "hardlink"
	bumpLockfile()
	wantDeps(h.deploy(b, s, buildLimit), "installed")
	code()
	d := h.deploy(b, s, buildLimit)
	wantDeps(d, "reused")
	delete(s.env.Vars, "DEPLOY_CACHE_METHOD")
	b.ReportMetric(float64(ownKB(b, filepath.Join(s.env.Path, "releases", d.res.NewRelease), "")), "kB-release-warm-hardlink")

	for _, c := range cases {
		b.ReportMetric(medianMs(walls[c]), "ms-"+c)
		if len(builds[c]) > 0 {
			b.ReportMetric(medianMs(builds[c]), "ms-build-"+c)
		}
	}
	text := []string{
		reportSpread(b, warmCold, "warm/cold"),
		reportSpread(b, warmNpm, "warm/npm-ci"),
		reportSpread(b, warmNpmDeploy, "warm/npm-ci-deploy"),
		reportSpread(b, linkNpmDeploy, "warm-link/npm-ci-deploy"),
	}
	if len(depsWarm) > 0 {
		b.ReportMetric(medianMs(depsWarm), "ms-deps-warm")
	}
	b.ReportMetric(float64(releaseKB), "kB-release-warm")
	sort.Slice(fsWarm, func(i, j int) bool { return fsWarm[i] < fsWarm[j] })
	b.ReportMetric(float64(fsWarm[len(fsWarm)/2]), "kB-fs-warm")
	b.ReportMetric(float64(linkKB), "kB-release-warm-link")
	b.ReportMetric(float64(appKB), "kB-app")
	b.Logf("%d rounds in %v (load average %s); cache method %s; %s; build step medians: cold %v, warm %v, lockfile %v, npm-ci-deploy (pre-deploy) %v; warm deploy's steps (median): %s",
		len(warmCold), time.Since(begin).Round(time.Second), loadAvg(), method, strings.Join(text, ", "),
		quantile(builds["cold"], 0.5).Round(time.Millisecond), quantile(builds["warm"], 0.5).Round(time.Millisecond),
		quantile(builds["lockfile"], 0.5).Round(time.Millisecond), quantile(builds["npm-ci-deploy"], 0.5).Round(time.Millisecond),
		stepMedians(warmSteps))
}

// loadAvg returns the machine's load averages (1, 5, 15 min), to say how
// quiet the run was.
func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}

// reportedSeconds finds the line of out that starts with prefix and
// returns the time it ends with ("… in 0.05 s").
func reportedSeconds(out, prefix string) (time.Duration, bool) {
	for _, line := range strings.Split(out, "\n") {
		i := strings.Index(line, prefix)
		j := strings.LastIndex(line, " in ")
		if i < 0 || j < 0 || !strings.HasSuffix(line, " s") {
			continue
		}
		var secs float64
		if _, err := fmt.Sscanf(line[j+len(" in "):], "%g s", &secs); err == nil {
			return time.Duration(secs * float64(time.Second)), true
		}
	}
	return 0, false
}

// npmCI copies release's files, without node_modules, to a fresh
// directory and times a plain `npm ci` there, with vars in its
// environment.
func npmCI(b *testing.B, release string, vars map[string]string) time.Duration {
	b.Helper()
	dir := filepath.Join(b.TempDir(), "app")
	if out, err := exec.Command("cp", "-a", release+"/.", dir).CombinedOutput(); err != nil {
		b.Fatalf("copy the release: %v\n%s", err, out)
	}
	if err := os.RemoveAll(filepath.Join(dir, "node_modules")); err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), buildLimit)
	defer cancel()
	cmd := exec.CommandContext(ctx, "npm", "ci", "--no-audit", "--no-fund")
	cmd.Dir = dir
	cmd.Env = os.Environ()
	for k, v := range vars {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	start := time.Now()
	out, err := cmd.CombinedOutput()
	d := time.Since(start)
	if err != nil {
		b.Fatalf("npm ci: %v\n%s", err, out)
	}
	_ = os.RemoveAll(dir)
	return d
}

// fsUsedKB is the disk in use on the filesystem that holds path (statfs,
// after a sync): around a deploy, what it added there, whatever shares
// what (reflinks share blocks between files that du counts apart). On a
// filesystem others write to as well, it is noisy.
func fsUsedKB(b *testing.B, path string) int64 {
	b.Helper()
	syscall.Sync()
	var st syscall.Statfs_t
	if err := syscall.Statfs(path, &st); err != nil {
		b.Fatal(err)
	}
	return int64(st.Blocks-st.Bfree) * st.Bsize / 1024
}

// ownKB is the disk (du's blocks, in kB) that dir's files and directories
// take and share with nothing else: a file with more than one hard link is
// left out, as it is counted where its other links are. skip (a top-level
// name, "" = none) is left out too.
func ownKB(b *testing.B, dir, skip string) int64 {
	b.Helper()
	var blocks int64
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if skip != "" && p == filepath.Join(dir, skip) {
			return filepath.SkipDir
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		if st, ok := info.Sys().(*syscall.Stat_t); ok && (d.IsDir() || st.Nlink == 1) {
			blocks += st.Blocks
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	return blocks * 512 / 1024
}

// noopPairs bounds each series of BenchmarkNoopOverhead: at most this
// many pairs, and no new pair once noopBudget has passed (at least three
// run).
const (
	noopPairs  = 10
	noopBudget = 12 * time.Second
)

// BenchmarkNoopOverhead measures what a deploy that changes nothing costs
// next to the floor of any SSH tool: a redeploy of the same commit (no
// build, no pre-deploy, no procmon: lock, fetch, checkout, switch, prune,
// unlock) against `ssh host true` with OpenSSH's client, to the same sshd,
// alternated (deploy, ssh, deploy, ssh, …). It reports both medians, the
// ratio deploy/ssh-true taken within each pair (median, min, max; issue
// 15's target is at most 1.25), and where the deploy's time goes: the
// dial (ms-dial: ssh_config resolution, TCP, key exchange, auth), the
// remote command until its first step (ms-script-start: the session, the
// login shell, the script sent and read), and the steps (per-step medians
// in the log). Two series, each its own sshd:
//
//   - home=real: the login user's real home, as the other deploy
//     benchmarks: on this machine root's ~/.bashrc runs pyenv init, which
//     every SSH session pays, ssh true included;
//   - home=clean: an empty home (a fresh server's shell, no rc files), in
//     a mount namespace (root only; skipped otherwise).
func BenchmarkNoopOverhead(b *testing.B) {
	needTool(b, "ssh")
	b.Run("home=real", func(b *testing.B) { benchNoop(b, startBenchHost(b)) })
	b.Run("home=clean", func(b *testing.B) { benchNoop(b, startCleanBenchHost(b)) })
}

// BenchmarkNoopOverLink is BenchmarkNoopOverhead's home=clean series
// through an emulated link (sshtest.Link: 20 ms round trip, 20 Mbit/s
// each way, a home broadband or a nearby cloud region), which loopback
// hides: what each round trip and each byte sent costs, for the deploy
// and for `ssh host true` alike. It also reports the bytes the laptop
// sends per no-op deploy (kB-sent).
func BenchmarkNoopOverLink(b *testing.B) {
	needTool(b, "ssh")
	h := startCleanBenchHost(b)
	h.throughLink(b, sshtest.NewLink(b, h.srv.Addr(), sshtest.LinkOptions{Delay: 10 * time.Millisecond, Rate: 20e6 / 8}))
	benchNoop(b, h)
}

func benchNoop(b *testing.B, h *benchHost) {
	o := newOrigin(b)
	o.commit(nil)
	s := newServer(b, o)
	if h.mount != "" {
		s.env.Path = filepath.Join(h.mount, "app")
	}
	s.env.Keep = 3
	h.setup(b, s)
	// Untimed: the first deploy, and a first ssh.
	h.deploy(b, s, time.Minute)
	h.sshTrue(b)

	var deploys, sshs, dials, starts, remotes []time.Duration
	var ratios, sent []float64
	steps := map[string][]time.Duration{}
	begin := time.Now()
	for b.Loop() {
		for i := 0; i < noopPairs && (i < 3 || time.Since(begin) < noopBudget); i++ {
			s.out = &syncbuf.Buffer{}
			d := h.deploy(b, s, time.Minute)
			if d.res.NewSHA != d.res.OldSHA {
				b.Fatalf("not a no-op: %s → %s", d.res.OldSHA, d.res.NewSHA)
			}
			t := h.sshTrue(b)
			deploys, sshs, dials = append(deploys, d.wall), append(sshs, t), append(dials, d.dial)
			ratios = append(ratios, float64(d.wall)/float64(t))
			sent = append(sent, float64(d.sent)/1024)
			var sum time.Duration
			for _, st := range d.res.Steps {
				steps[st.Name] = append(steps[st.Name], st.Duration)
				sum += st.Duration
			}
			starts = append(starts, d.res.Duration-sum)
			remotes = append(remotes, d.res.Duration)
		}
	}
	b.ReportMetric(medianMs(deploys), "ms-deploy")
	b.ReportMetric(medianMs(sshs), "ms-ssh-true")
	text := reportSpread(b, ratios, "deploy/ssh-true")
	b.ReportMetric(medianMs(dials), "ms-dial")
	b.ReportMetric(medianMs(starts), "ms-script-start")
	b.ReportMetric(medianMs(remotes), "ms-remote")
	kB, _, _ := spread(sent)
	b.ReportMetric(kB, "kB-sent")
	b.Logf("%d pairs in %v (load average %s): deploy %v, ssh true %v, %s; deploy = dial %v + remote command %v (until the first step %v; per step (median): %s) + close; %.1f kB sent",
		len(ratios), time.Since(begin).Round(time.Second), loadAvg(), quantile(deploys, 0.5).Round(time.Millisecond),
		quantile(sshs, 0.5).Round(time.Millisecond), text, quantile(dials, 0.5).Round(time.Millisecond),
		quantile(remotes, 0.5).Round(time.Millisecond), quantile(starts, 0.5).Round(time.Millisecond), stepMedians(steps), kB)
}
