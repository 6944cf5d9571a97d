package demo

import (
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/pelletier/go-toml/v2"
)

// example is the sample app the demo deploys.
type example struct {
	Name     string   // examples/<Name>
	Command  []string // the worker command, relative to the release
	Mode     string   // procmon mode
	Ready    string   // procmon ready.check
	PreBuild string   // pre-deploy hook ("" = none)
}

// pickExample returns the example named ("" = the Node app when node is
// installed, else the Go one: Go is always there, the demo is built with it).
func pickExample(name string) (example, error) {
	if name != "" && name != "node-hello" && name != "go-hello" {
		return example{}, fmt.Errorf("no demo example %q: use node-hello or go-hello", name)
	}
	if node, err := exec.LookPath("node"); err == nil && name != "go-hello" {
		return example{Name: "node-hello", Command: []string{node, "server.js"}, Mode: "proxy", Ready: "http"}, nil
	} else if name == "node-hello" {
		return example{}, fmt.Errorf("node-hello needs node on PATH: %w", err)
	}
	gobin, err := exec.LookPath("go")
	if err != nil {
		return example{}, fmt.Errorf("neither node nor go found on PATH: install one to run the demo")
	}
	return example{Name: "go-hello", Command: []string{"./bin/go-hello"}, Mode: "socket", Ready: "notify",
		PreBuild: gobin + " build -o bin/go-hello ."}, nil
}

// git runs git in dir with a fixed identity.
func git(dir string, args ...string) (string, error) {
	cmd := exec.Command("git", append([]string{"-C", dir}, args...)...)
	cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=demo", "GIT_AUTHOR_EMAIL=demo@localhost",
		"GIT_COMMITTER_NAME=demo", "GIT_COMMITTER_EMAIL=demo@localhost")
	out, err := cmd.CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("git %s: %v: %s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out)), nil
}

// makeOrigin copies examples/<name> into a new git repo with VERSION v1.
func makeOrigin(src, dir string) error {
	if err := copyTree(src, dir); err != nil {
		return fmt.Errorf("copy %s: %w", src, err)
	}
	if _, err := git(dir, "init", "-q", "-b", "main"); err != nil {
		return err
	}
	return commitVersion(dir, "v1")
}

// commitVersion writes VERSION (what the app answers with) and commits.
func commitVersion(dir, version string) error {
	if err := os.WriteFile(filepath.Join(dir, "VERSION"), []byte("demo "+version+"\n"), 0o644); err != nil {
		return err
	}
	if _, err := git(dir, "add", "-A"); err != nil {
		return err
	}
	_, err := git(dir, "commit", "-q", "-m", "demo "+version)
	return err
}

// copyTree copies regular files and directories (no build output).
func copyTree(src, dst string) error {
	return filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		if d.IsDir() && (d.Name() == "node_modules" || d.Name() == "bin") {
			return filepath.SkipDir
		}
		target := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		if !d.Type().IsRegular() {
			return nil
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		info, _ := d.Info()
		return os.WriteFile(target, data, info.Mode().Perm())
	})
}

// writeDeployConf writes the demo's deploy.conf (classic INI form).
func writeDeployConf(path string, w *workspace, ex example) error {
	lines := []string{
		"# written by the deploy demo",
		"[demo]",
		"host 127.0.0.1",
		"repo " + w.origin,
		"path " + w.server,
		"ref origin/main",
		"shared tmp",
		"restart-file tmp/restart.txt",
		"keep 3",
		// The gate: procmon reload --wait, then /health through procmon.
		"procmon " + w.pmConf,
		"healthcheck /health",
		"env DEPLOY_PROCMON=" + filepath.Join(w.binDir, "procmon"),
	}
	if w.sshd != nil {
		lines = append(lines, "user "+w.sshd.User, fmt.Sprintf("port %d", w.sshd.Port))
	}
	if ex.PreBuild != "" {
		lines = append(lines, "pre-deploy "+ex.PreBuild)
	}
	return os.WriteFile(path, []byte(strings.Join(lines, "\n")+"\n"), 0o644)
}

// writeProcmonConf writes the procmon config serving the deployed app.
func writeProcmonConf(path string, w *workspace, ex example) error {
	cfg := map[string]any{
		"name":         "demo",
		"dir":          filepath.Join(w.server, "current"),
		"command":      ex.Command,
		"workers":      2,
		"listen":       w.listen,
		"mode":         ex.Mode,
		"restart_file": filepath.Join(w.server, "shared", "tmp", "restart.txt"),
		"socket":       filepath.Join(w.dir, "procmon.sock"),
		"stop_timeout": "10s",
		"ready":        map[string]any{"check": ex.Ready, "path": "/health", "timeout": "30s"},
		"heartbeat":    map[string]any{"interval": "10s", "timeout": "5s", "path": "/health", "guard": "10s"},
		"log":          map[string]any{"file": filepath.Join(w.dir, "procmon.log"), "max_size": "10MB"},
	}
	if ex.Ready != "http" {
		delete(cfg["ready"].(map[string]any), "path")
	}
	data, err := toml.Marshal(cfg)
	if err != nil {
		return err
	}
	return os.WriteFile(path, data, 0o644)
}
