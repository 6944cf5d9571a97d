package remote

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// sshGTimeout bounds one `ssh -G` (a `Match exec` command could hang).
const sshGTimeout = 30 * time.Second

// hostQuery is one host to resolve, with what the command line of `ssh`
// would give: -l user, -p port (each "" or 0 when not given).
type hostQuery struct {
	alias string
	user  string
	port  int
}

// resolver evaluates ssh_config for one host.
type resolver interface {
	resolve(q hostQuery) (hostConfig, error)
}

// sshG resolves hosts with the OpenSSH client's own `ssh -G`, so every
// keyword, Match, Include, token and default is OpenSSH's.
type sshG struct {
	bin  string   // the ssh binary
	file string   // -F file, "" = ssh's own (~/.ssh/config, /etc/ssh/ssh_config)
	env  []string // the environment ssh runs with (nil = ours)
	// home expands what ssh prints unexpanded (~ in IdentityFile);
	// rehome maps what ssh expanded with the login user's home to home.
	home      string
	rehome    func(string) string
	localUser string
}

// resolve runs `ssh -G [-F file] [-l user] [-p port] -- alias`
// and reads its `keyword value` lines.
func (r *sshG) resolve(q hostQuery) (hostConfig, error) {
	args := []string{"-G"}
	if r.file != "" {
		args = append(args, "-F", r.file)
	}
	if q.user != "" {
		args = append(args, "-l", q.user)
	}
	if q.port != 0 {
		args = append(args, "-p", strconv.Itoa(q.port))
	}
	args = append(args, "--", q.alias)
	ctx, cancel := context.WithTimeout(context.Background(), sshGTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, r.bin, args...)
	cmd.Env = r.env
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return hostConfig{}, &Error{Op: "resolve", Host: q.alias,
			Err:  fmt.Errorf("%s: %w", strings.Join(append([]string{"ssh"}, args...), " "), sshGError(err, stderr.String())),
			hint: fmt.Sprintf("fix the ssh_config line ssh names; 'ssh -G %s' shows the same", q.alias)}
	}
	return r.parse(q, out)
}

// sshGError is ssh's own message (without its tty warning), else err.
func sshGError(err error, stderr string) error {
	var lines []string
	for _, l := range strings.Split(strings.TrimSpace(stderr), "\n") {
		if l != "" && !strings.HasPrefix(l, "Pseudo-terminal will not be allocated") {
			lines = append(lines, strings.TrimSpace(l))
		}
	}
	if len(lines) == 0 {
		return err
	}
	return errors.New(strings.Join(lines, "; "))
}

// gOutput is ssh -G's output: every value of every keyword, in order.
type gOutput map[string][]string

func (g gOutput) one(key string) string {
	if v := g[key]; len(v) > 0 {
		return v[0]
	}
	return ""
}

func parseGOutput(out []byte) gOutput {
	g := gOutput{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		k, v, _ := strings.Cut(sc.Text(), " ")
		g[k] = append(g[k], v)
	}
	return g
}

// parse turns ssh -G's output into a hostConfig, expanding what ssh
// leaves for connect time (~ and tokens in IdentityFile, CertificateFile
// and ProxyCommand).
func (r *sshG) parse(q hostQuery, out []byte) (hostConfig, error) {
	g := parseGOutput(out)
	h := hostConfig{
		HostName:              g.one("hostname"),
		User:                  g.one("user"),
		HostKeyAlias:          g.one("hostkeyalias"),
		StrictHostKeyChecking: g.one("stricthostkeychecking"),
		IdentitiesOnly:        g.one("identitiesonly") == "yes",
		ForwardAgent:          g.one("forwardagent") == "yes",
		ServerAliveCountMax:   defaultAliveCountMx,
	}
	var err error
	if h.Port, err = strconv.Atoi(g.one("port")); err != nil {
		return hostConfig{}, fmt.Errorf("ssh -G %s: port %q is not a number", q.alias, g.one("port"))
	}
	if h.ConnectTimeout, err = gSeconds(g.one("connecttimeout")); err != nil {
		return hostConfig{}, fmt.Errorf("ssh -G %s: connecttimeout: %w", q.alias, err)
	}
	if h.ServerAliveInterval, err = gSeconds(g.one("serveraliveinterval")); err != nil {
		return hostConfig{}, fmt.Errorf("ssh -G %s: serveraliveinterval: %w", q.alias, err)
	}
	if n, err := strconv.Atoi(g.one("serveralivecountmax")); err == nil {
		h.ServerAliveCountMax = n
	}
	if v := g.one("proxyjump"); v != "none" {
		h.ProxyJump = v
	}
	h.UserKnownHostsFiles = r.knownHosts(g.one("userknownhostsfile"))
	h.GlobalKnownHostsFiles = r.knownHosts(g.one("globalknownhostsfile"))
	if v := g.one("identityagent"); v != "" {
		h.IdentityAgent = r.rehome(v)
	}
	h.SendEnv, h.SetEnv = g["sendenv"], g["setenv"]
	if v := g.one("controlpath"); v != "" && v != "none" {
		h.ControlPath = r.rehome(v)
	}
	if h.ControlMaster, err = controlMasterValue(g.one("controlmaster")); err != nil { // ssh -G prints true and false
		return hostConfig{}, fmt.Errorf("ssh -G %s: %w", q.alias, err)
	}
	h.BatchMode = g.one("batchmode") == "yes"
	h.HashKnownHosts, h.CheckHostIP = g.one("hashknownhosts") == "yes", g.one("checkhostip") == "yes"
	if h.ConnectionAttempts, err = strconv.Atoi(g.one("connectionattempts")); err != nil {
		h.ConnectionAttempts = 1
	}
	if h.AddKeysToAgent, h.AddKeysLifetime, err = addKeysValue(strings.Fields(g.one("addkeystoagent"))); err != nil {
		return hostConfig{}, fmt.Errorf("ssh -G %s: %w", q.alias, err)
	}
	h.AuthMethods = authMethods(g.one("preferredauthentications"), !authOff(g.one("pubkeyauthentication")),
		!authOff(g.one("kbdinteractiveauthentication")), !authOff(g.one("passwordauthentication")))
	if h.PasswordPrompts, err = strconv.Atoi(g.one("numberofpasswordprompts")); err != nil {
		h.PasswordPrompts = defaultPasswordPrompts
	}
	if v := g.one("remotecommand"); v != "" && v != "none" { // ssh -G prints none as nothing
		h.RemoteCommand = v
	}
	if err := r.expand(&h, q, g); err != nil {
		return hostConfig{}, err
	}
	return h, nil
}

// expand fills the fields ssh -G prints unexpanded.
func (r *sshG) expand(h *hostConfig, q hostQuery, g gOutput) error {
	t := tokens{home: r.home, hostName: h.HostName, alias: q.alias, port: h.Port, user: h.User,
		localUser: r.localUser, keyAlias: h.HostKeyAlias}
	for _, f := range g["identityfile"] {
		x, err := t.expandPath(f)
		if err != nil {
			return fmt.Errorf("ssh config: host %s: IdentityFile: %w", q.alias, err)
		}
		h.IdentityFiles = append(h.IdentityFiles, x)
	}
	for _, f := range g["certificatefile"] {
		x, err := t.expandPath(f)
		if err != nil {
			return fmt.Errorf("ssh config: host %s: CertificateFile: %w", q.alias, err)
		}
		h.CertificateFiles = append(h.CertificateFiles, x)
	}
	if pc := g.one("proxycommand"); pc != "" && pc != "none" {
		if g.one("proxyusefdpass") == "yes" {
			return &Error{Op: "resolve", Host: q.alias, Err: errors.New("ssh_config sets ProxyUseFdpass yes, which deploy does not support"),
				hint: "use a ProxyCommand that relays the connection on its stdin and stdout, or ProxyJump"}
		}
		x, err := t.expandPercent(pc, proxyTokens)
		if err != nil {
			return fmt.Errorf("ssh config: host %s: ProxyCommand: %w", q.alias, err)
		}
		h.ProxyCommand = x
	}
	return nil
}

// gSeconds reads a duration ssh -G prints in seconds ("none" = 0).
func gSeconds(v string) (time.Duration, error) {
	if v == "" || v == "none" {
		return 0, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("%q is not a number of seconds", v)
	}
	return time.Duration(n) * time.Second, nil
}

// knownHosts splits ssh -G's known_hosts line, which joins the files with
// spaces without quoting them: a word that does not start a path (/ or ~)
// continues the previous one, so "/a b/kh /c" is two files. "none" is nil.
func (r *sshG) knownHosts(v string) []string {
	if v == "" || v == "none" {
		return nil
	}
	var files []string
	for _, w := range strings.Split(v, " ") {
		if len(files) > 0 && !strings.HasPrefix(w, "/") && !strings.HasPrefix(w, "~") {
			files[len(files)-1] += " " + w
			continue
		}
		files = append(files, w)
	}
	for i, f := range files {
		files[i] = r.rehome(expandHome(f, r.home))
	}
	return slices.Clip(files)
}

// newSSHG sets up ssh -G for o; bin is the ssh binary.
func newSSHG(bin string, o Options) *sshG {
	r := &sshG{bin: bin, file: o.SSHConfigFile, home: o.HomeDir, localUser: localUser(), rehome: func(p string) string { return p }}
	if !o.ownHome {
		return r
	}
	// HomeDir stands for the home ssh would use: point ssh at its config
	// and its ~ (Include reads $HOME), and move what ssh expanded with the
	// login user's real home there.
	r.env = append(os.Environ(), "HOME="+o.HomeDir)
	if r.file == "" {
		r.file = filepath.Join(o.HomeDir, ".ssh", "config")
		if _, err := os.Stat(r.file); err != nil {
			r.file = os.DevNull
		}
	}
	if real := loginHome(); real != "" && real != "/" && real != o.HomeDir {
		r.rehome = func(p string) string {
			if p == real || strings.HasPrefix(p, real+"/") {
				return o.HomeDir + p[len(real):]
			}
			return p
		}
	}
	return r
}
