// Package config reads deploy.conf (the classic INI form) and deploy.toml
// into [Config] values, and is the one place where their rules live: every
// key, its default and its validation. Errors are [*Error] values that name
// the file, the line and the key. It uses nothing from the rest of deploy,
// so the CLI can read a config without dialling anything.
package config

import "time"

// Config is one deploy.conf (INI) or deploy.toml file: its environments.
type Config struct {
	// File is the path the config was read from; relative paths in it
	// (the key file) were resolved against its directory.
	File string
	// Envs holds the environments that read without error, by name
	// ([production], [staging], …).
	Envs map[string]*Env
	// Order lists every environment name in the order the file gives
	// them, those in Broken included.
	Order []string
	// Broken holds, by name, the error of each environment whose section
	// has a bad or missing key: as with the classic tool, a bad section
	// stops only that env (Env returns the error); the others deploy.
	Broken map[string]error
}

// Host is one target host of an environment.
type Host struct {
	// User is the login user; empty means the env's user, then ssh_config,
	// then the local user.
	User string
	// Name is a host name, an address or an ssh_config Host alias.
	Name string
	// Port is the SSH port; 0 means the env's port, then ssh_config, then 22.
	Port int
}

// Env is one environment's settings. The zero value of each field says
// what the key's absence means.
type Env struct {
	// Name is the section name, e.g. "production".
	Name string
	// Hosts are the targets, from `host` (one) or `hosts` (several).
	Hosts []Host
	// User is the default login user for the hosts ("" = ssh_config/local user).
	User string
	// Port is the default SSH port (0 = ssh_config, then 22).
	Port int
	// Key is an identity file, made absolute against the config's directory
	// ("" = agent, then ssh_config IdentityFile, then ~/.ssh/id_*).
	Key string
	// SSHConfig is an ssh_config file read instead of ~/.ssh/config and
	// /etc/ssh/ssh_config, as `ssh -F` reads it; made absolute against the
	// config's directory ("" = ssh's own files). The -F flag wins over it.
	SSHConfig string
	// Repo is the git URL the server fetches from. Required with source
	// fetch (the default); with source push or build local it only tells
	// which local clone is the app's (optional: else the clone holding
	// the config file).
	Repo string
	// Source is how the commits reach the server's mirror: "" (fetch, the
	// default: the server fetches Repo) or "push" (the laptop sends the
	// objects the mirror lacks over the deploy's SSH connection).
	Source string
	// Path is the app's directory on the server. Required: absolute, or
	// `~` / `~/dir` for the login user's home there (IsHomePath), which the
	// remote script expands.
	Path string
	// Ref is what to deploy: a branch (origin/master means master), a tag or
	// a sha. "" means the origin's default branch (HEAD).
	Ref string
	// ForwardAgent forwards the local ssh-agent for the whole deploy.
	ForwardAgent bool
	// NeedsTTY asks for a pseudo-terminal for hooks.
	NeedsTTY bool
	// Build is how the new release is built before the switch: "auto"
	// detects the stack(s) and runs their standard build with a dependency
	// cache; "" (the key unset, or `build none`) builds nothing but what
	// PreDeploy says. An
	// explicit PreDeploy wins over "auto". "local" runs BuildCommand on
	// the laptop in a clean checkout of the ref and ships Artifact as the
	// release's content.
	Build string
	// BuildCommand is build local's command, run by bash in the clean
	// checkout on the laptop (required with build local).
	BuildCommand string
	// Artifact lists what build local ships, relative to the checkout:
	// directories and files (nil = dist/). A directory's content becomes
	// the release's top level when it is the only item; several items
	// keep their paths.
	Artifact []string
	// PreDeploy runs in the new release before the switch (the build).
	PreDeploy string
	// ReleaseCommand runs once per deploy in the new release, after its
	// build and before the switch (database migrations), as Heroku's
	// release phase and Capistrano's deploy:migrate: on the first host of
	// a fleet only, once every host is built. It fails the deploy as the
	// build does.
	ReleaseCommand string
	// PostDeploy runs in the new release after the switch (the restart).
	PostDeploy string
	// PostSetup runs in <path> after `setup`.
	PostSetup string
	// Test runs in the new release after post-deploy; when it fails the
	// deploy is reverted (classic deploy's test hook). -T skips it.
	Test string
	// Vars are variables set for every hook (the `env` key).
	Vars map[string]string
	// Shared are paths relative to the release that are links into shared/.
	Shared []string
	// SharedFiles are the Shared paths that are files: listed under
	// `shared-files`, or named like one (see sharedLooksLikeFile). One
	// missing on the server is created as an empty file, never as a
	// directory; the other Shared paths missing there become directories.
	SharedFiles []string
	// Keep is how many releases to keep (0 = 5).
	Keep int
	// RestartFile is touched after the switch, relative to the release
	// ("" = touch nothing).
	RestartFile string
	// Procmon is the procmon config path on the server; when set, the
	// restart is `procmon reload --wait -c <Procmon>` and gates the deploy.
	Procmon string
	// Healthcheck is a URL (http://127.0.0.1:PORT/path) polled from the
	// server after the restart ("" = no health gate beyond procmon's).
	Healthcheck string
	// Parallel caps simultaneous host connections (0 = 10).
	Parallel int
	// Batch is how many hosts restart at a time (0 = all).
	Batch int
	// Shell is how hooks run: "" or "bash" = `bash -c`, "login" = `bash -lc`
	// (so nvm, rbenv and PATH from profiles are there).
	Shell string
	// ConnectTimeout bounds the SSH connect (0 = 10s).
	ConnectTimeout time.Duration
	// Lines maps each key set in the file to its line, for error messages.
	Lines map[string]int
}
