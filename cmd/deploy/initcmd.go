package main

import (
	"bufio"
	"cmp"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/deploytool/deploy/deploy/appinit"
	"github.com/deploytool/deploy/deploy/gitsource"
)

// initFlags are the flags only `deploy init` takes.
type initFlags struct {
	Host string // --host: the server ("" = ask)
	Path string // --path: the app's directory there ("" = ask)
	Repo string // --repo: the git URL ("" = the clone's origin, else ask)
}

// initApp is `deploy init`: detect the stack of the repository in -C (or
// .), ask for what cannot be detected, write deploy.conf and procmon.toml
// (never over an existing file without --force), print the server steps.
func initApp(g *globals, args []string, stdin io.Reader, stdout io.Writer) error {
	if len(args) > 0 {
		return usagef("deploy init --host HOST --path DIR", "init takes no arguments, got %q", strings.Join(args, " "))
	}
	dir := cmp.Or(g.Chdir, ".")
	files := []string{filepath.Join(dir, "deploy.conf"), filepath.Join(dir, "procmon.toml")}
	if !g.Force {
		for _, f := range files {
			if _, err := os.Stat(f); err == nil {
				return usagef("run 'deploy init --force' to write it again, or edit it", "%s exists: init never overwrites it", f)
			}
		}
	}
	app, err := appinit.Detect(dir)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "app %s: %s\n", app.Name, detectedText(app))
	s, err := initSettings(g.Init, dir, app, bufio.NewReader(stdin), stdout)
	if err != nil {
		return err
	}
	// both files before a word about them: a reader that goes away
	// (deploy init | head -1) ends a Go program at its next write, which
	// must not leave deploy.conf without procmon.toml
	for i, text := range []string{appinit.DeployConf(app, s), appinit.ProcmonTOML(app, s.Path)} {
		if err := writeNew(files[i], text, g.Force); err != nil {
			return err
		}
	}
	fmt.Fprintf(stdout, "wrote %s\nwrote %s\n\n%s", files[0], files[1], appinit.ServerSteps(app, s))
	return nil
}

func detectedText(app *appinit.App) string {
	if len(app.Stacks) == 0 {
		return app.Detected() + " (build auto will build nothing; add a pre-deploy hook if it needs one)"
	}
	return app.Detected()
}

// initSettings fills what the flags left out: the repo from the clone's
// remotes, the host and path by asking.
func initSettings(f initFlags, dir string, app *appinit.App, in *bufio.Reader, out io.Writer) (appinit.Settings, error) {
	s := appinit.Settings{Host: f.Host, Path: f.Path, Repo: f.Repo}
	if s.Repo == "" {
		if r, err := gitsource.Open(dir); err == nil {
			s.Repo, _ = r.DefaultRemoteURL()
		}
	}
	var err error
	if s.Repo == "" {
		if s.Repo, err = ask(in, out, "git URL the server fetches (repo)", "", "--repo"); err != nil {
			return s, err
		}
	}
	if s.Host == "" {
		if s.Host, err = ask(in, out, "server ([user@]host[:port] or an ssh_config alias)", "", "--host"); err != nil {
			return s, err
		}
	}
	if s.Path == "" {
		if s.Path, err = ask(in, out, "app's directory on the server", "/var/www/"+app.Name, "--path"); err != nil {
			return s, err
		}
	}
	for _, v := range []string{s.Host, s.Path, s.Repo} {
		if strings.ContainsAny(v, " \t\r\n") {
			return s, usagef("give one word", "%q contains whitespace", v)
		}
	}
	// deploy.conf's path must be absolute (config refuses a relative
	// one): refused here, before anything is written
	if !strings.HasPrefix(s.Path, "/") {
		return s, usagef("give the app's absolute directory on the server, such as /var/www/"+app.Name, "path %q is not absolute", s.Path)
	}
	return s, nil
}

// ask prints a question and reads one line; def is taken on an empty
// answer. End of input without an answer is an error naming flag.
func ask(in *bufio.Reader, out io.Writer, what, def, flag string) (string, error) {
	if def != "" {
		fmt.Fprintf(out, "%s [%s]: ", what, def)
	} else {
		fmt.Fprintf(out, "%s: ", what)
	}
	line, err := in.ReadString('\n')
	line = strings.TrimSpace(line)
	if line == "" && def != "" && err == nil {
		return def, nil
	}
	if line == "" {
		fmt.Fprintln(out)
		return "", usagef("pass it as "+flag+" (deploy init "+flag+" …)", "init needs the %s", what)
	}
	return line, nil
}

// writeNew writes path; unless force, it fails when path exists (O_EXCL:
// never over a file made in between).
func writeNew(path, text string, force bool) error {
	flags := os.O_WRONLY | os.O_CREATE | os.O_EXCL
	if force {
		flags = os.O_WRONLY | os.O_CREATE | os.O_TRUNC
	}
	f, err := os.OpenFile(path, flags, 0o644)
	if errors.Is(err, os.ErrExist) {
		return usagef("run 'deploy init --force' to write it again", "%s exists: init never overwrites it", path)
	}
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if _, err := io.WriteString(f, text); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	return f.Close()
}
