package deploy

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/deploytool/deploy/internal/syncbuf"
)

// npmTools installs packages (name@version) from the npm registry into a
// temp prefix and returns its bin directory: the package managers the
// yarn and pnpm tests run, as a user would get them with npm i -g.
func npmTools(t *testing.T, pkgs ...string) string {
	t.Helper()
	needTool(t, "npm")
	prefix := t.TempDir()
	args := append([]string{"install", "--prefix", prefix, "--no-audit", "--no-fund", "--cache", filepath.Join(prefix, ".npm")}, pkgs...)
	if out, err := exec.Command("npm", args...).CombinedOutput(); err != nil {
		t.Fatalf("npm %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return filepath.Join(prefix, "node_modules", ".bin")
}

// TestBuildAutoYarnAndPnpm: build auto with yarn 1, pnpm and Yarn 4, each
// real (from the npm registry), on an app whose lockfile the tool itself
// wrote (ms 2.1.3): yarn 1 and pnpm install with --frozen-lockfile and
// their node_modules is cached and reused (pnpm's links into
// node_modules/.pnpm resolve in the reused copy); Yarn 4 installs with
// --immutable, and its default Plug'n'Play install (.pnp.cjs, not
// node_modules) runs each deploy and is not cached (a reused empty
// node_modules would ship a release without .pnp.cjs), while with
// nodeLinker: node-modules it is cached like the others. In every
// release, node requires ms. With NODE_ENV=production and a build, Yarn
// 4 (which installs devDependencies whatever NODE_ENV says) builds with
// its devDependency and then drops it (yarn workspaces focus --all
// --production), in the first release and in the one whose node_modules
// came from the cache.
func TestBuildAutoYarnAndPnpm(t *testing.T) {
	classic := npmTools(t, "yarn@1.22.22", "pnpm@9.15.9")
	berry := npmTools(t, "@yarnpkg/cli-dist@4.12.0")
	pkg := `{ "name": "app", "version": "1.0.0", "private": true, "dependencies": { "ms": "2.1.3" } }` + "\n"
	// the build requires the devDependency (a bundler would) and leaves
	// built.txt behind
	prodPkg := `{ "name": "app", "version": "1.0.0", "private": true, "dependencies": { "ms": "2.1.3" },
  "devDependencies": { "is-number": "7.0.0" },
  "scripts": { "build": "node -e \"require('is-number'); require('fs').writeFileSync('built.txt', 'ok')\"" } }` + "\n"
	for _, tc := range []struct {
		name, bin, lock, yarnrc, install, deps string
		require                                string // node's flags to require ms in the release
		production                             bool   // prodPkg with NODE_ENV=production
	}{
		{"yarn 1", classic, "yarn.lock", "", "yarn install --frozen-lockfile", "reused", "", false},
		{"pnpm", classic, "pnpm-lock.yaml", "", "pnpm install --frozen-lockfile", "reused", "", false},
		{"yarn 4", berry, "yarn.lock", "", "yarn install --immutable", "uncached", "-r ./.pnp.cjs", false},
		{"yarn 4 node-modules", berry, "yarn.lock", "nodeLinker: node-modules\n", "yarn install --immutable", "reused", "", false},
		{"yarn 4 production", berry, "yarn.lock", "nodeLinker: node-modules\n", "yarn install --immutable", "reused", "", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := tc.bin + ":" + os.Getenv("PATH")
			cache := t.TempDir()
			env := []string{"PATH=" + path, "YARN_CACHE_FOLDER=" + filepath.Join(cache, "yarn"),
				"YARN_GLOBAL_FOLDER=" + filepath.Join(cache, "berry"), "npm_config_store_dir=" + filepath.Join(cache, "pnpm"),
				"YARN_ENABLE_TELEMETRY=0"}
			o := newOrigin(t)
			// what the tools make stays out of git, as their docs say
			files := map[string]string{"package.json": pkg, ".gitignore": "node_modules/\n.pnp.*\n.yarn/\nbuilt.txt\n"}
			if tc.production {
				files["package.json"] = prodPkg
			}
			if tc.yarnrc != "" {
				files[".yarnrc.yml"] = tc.yarnrc
			}
			o.commit(files)
			// the tool writes its lockfile in the origin, as a developer's
			// install does (Yarn 4 forbids that under CI=true unless told)
			tool := strings.Fields(tc.install)[0]
			cmd := exec.Command(filepath.Join(tc.bin, tool), "install")
			cmd.Dir, cmd.Env = o.dir, append(os.Environ(), append(env, "YARN_ENABLE_IMMUTABLE_INSTALLS=false")...)
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("%s install in the origin: %v\n%s", tool, err, out)
			}
			lock, err := os.ReadFile(filepath.Join(o.dir, tc.lock))
			if err != nil {
				t.Fatal(err)
			}
			o.commit(map[string]string{tc.lock: string(lock)})
			if tracked := o.git("ls-files"); strings.Contains(tracked, "node_modules") || strings.Contains(tracked, ".pnp") {
				t.Fatalf("the origin tracks what the install made:\n%s", tracked)
			}
			s := newServer(t, o)
			s.conn.Env = env
			s.env.Build = "auto"
			if tc.production {
				s.env.Vars = map[string]string{"NODE_ENV": "production"}
			}
			s.setup()
			requires := func(what string) {
				t.Helper()
				if tc.production {
					rel := filepath.Join(s.env.Path, "current")
					if b, err := os.ReadFile(filepath.Join(rel, "built.txt")); err != nil || string(b) != "ok" {
						t.Errorf("%s: the build's built.txt: %q, %v", what, b, err)
					}
					if _, err := os.Lstat(filepath.Join(rel, "node_modules", "is-number")); !os.IsNotExist(err) {
						t.Errorf("%s: the devDependency is-number is still in the release's node_modules after the production prune (%v)", what, err)
					}
				}
				args := append(strings.Fields(tc.require), "-e", "console.log(require('ms')('1h'))")
				c := exec.Command("node", args...)
				c.Dir = filepath.Join(s.env.Path, "current")
				if out, err := c.CombinedOutput(); err != nil || strings.TrimSpace(string(out)) != "3600000" {
					t.Errorf("%s: node %s in the release: %q, %v", what, strings.Join(args, " "), out, err)
				}
			}
			res := s.deploy()
			first := "installed"
			if tc.deps == "uncached" {
				first = "uncached"
			}
			if b := res.Built; len(b) != 1 || b[0].Deps != first || !strings.Contains(s.out.String(), "$ "+tc.install+"\n") {
				t.Fatalf("first deploy: Built %+v, want deps %s and $ %s\n%s", b, first, tc.install, s.out)
			}
			if prune := "$ yarn workspaces focus --all --production\n"; tc.production != strings.Contains(s.out.String(), prune) {
				t.Errorf("first deploy: %q in the output is %v, want %v\n%s", prune, !tc.production, tc.production, s.out)
			}
			requires("first deploy")
			o.commit(map[string]string{"app.txt": "code\n"})
			s.out = &syncbuf.Buffer{}
			res = s.deploy()
			if b := res.Built; len(b) != 1 || b[0].Deps != tc.deps {
				t.Errorf("second deploy, same lockfile: Built %+v, want deps %s\n%s", b, tc.deps, s.out)
			}
			requires("second deploy")
		})
	}
}
