package deploy

import (
	"context"
	"fmt"
	"net/url"
	"strconv"
	"strings"

	"github.com/deploytool/deploy/deploy/config"
	"github.com/deploytool/deploy/deploy/script"
)

// InstallGitPush makes `git push <remote> <branch>` deploy env on the host
// behind conn (setup --git-remote): the server keeps the remote script and
// this deploy's arguments in <path>/.deploy, and hooks in <path>/repo
// refuse any ref but refs/heads/<branch> (pre-receive) and deploy the
// pushed commit (post-receive) with the same script as `deploy <env>`:
// lock, release, build, switch, health gate, log, revert on a failed
// gate. The server runs the deploy by itself, so the laptop's local
// checks, and the fleet's batches and common gate, do not apply: the
// caller refuses envs with several hosts.
func InstallGitPush(ctx context.Context, conn Conn, env *config.Env, branch string, o Options) error {
	if err := config.CheckRef(branch); err != nil {
		return fmt.Errorf("env %s: git push: %w", env.Name, err)
	}
	pushEnv := *env
	pushEnv.Source = "push"
	args, err := gitPushArgs(&pushEnv, o)
	if err != nil {
		return err
	}
	base, err := baseArgs(&pushEnv, o)
	if err != nil {
		return err
	}
	base = append(append(base, script.Arg("ref", branch), "--"), args...)
	return runSimple(ctx, conn, "githook", base, o, nil)
}

// gitPushArgs are the arguments the post-receive hook gives the deploy,
// before the pushed sha, the branch and who pushed: deployArgs' without
// the commit (it comes with the push), the stamp, hold and wait.
func gitPushArgs(env *config.Env, o Options) ([]string, error) {
	if env.Build == "local" {
		return nil, fmt.Errorf("env %s: git push deploys commits, which the server builds, and build local ships an artifact built on the laptop: use 'deploy %s' (or set build auto / pre-deploy)", env.Name, env.Name)
	}
	args, err := baseArgs(env, o)
	if err != nil {
		return nil, err
	}
	h, err := hookArgs(env)
	if err != nil {
		return nil, err
	}
	args = append(args, h...)
	r, err := releaseArgs(env)
	if err != nil {
		return nil, err
	}
	args = append(args, r...)
	if env.Build == "auto" {
		args = append(args, script.Arg("build", "auto"))
	}
	g, err := gateArgs(env)
	if err != nil {
		return nil, err
	}
	return append(args, g...), nil
}

// GitRemoteURL is the URL `git push` reaches the host's repository by,
// over the user's own ssh (so ssh_config aliases apply):
// ssh://[user@]host[:port]/<path>/repo, with a ~/ path as /~/…, which
// git hands to the remote shell for it to expand.
func GitRemoteURL(env *config.Env, h config.Host) string {
	user := h.User
	if user == "" {
		user = env.User
	}
	port := h.Port
	if port == 0 {
		port = env.Port
	}
	host := h.Name
	if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	if port != 0 {
		host += ":" + strconv.Itoa(port)
	}
	u := url.URL{Scheme: "ssh", Host: host}
	if user != "" {
		u.User = url.User(user)
	}
	p := strings.TrimSuffix(env.Path, "/") + "/repo"
	if !strings.HasPrefix(p, "/") {
		p = "/" + p // ~/app → /~/app
	}
	return u.String() + p
}
