package main

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

func TestParseInvocation(t *testing.T) {
	two := []string{"production", "staging"}
	one := []string{"production"}
	tests := []struct {
		name     string
		pos      []string
		envs     []string
		want     invocation
		wantErr  string
		wantHint string
	}{
		{"deploy default ref", []string{"production"}, two, invocation{Env: "production", Command: "deploy"}, "", ""},
		{"deploy a ref", []string{"staging", "v1.2"}, two, invocation{Env: "staging", Command: "deploy", Ref: "v1.2"}, "", ""},
		{"env left out no args", nil, one, invocation{Env: "production", Command: "deploy"}, "", ""},
		{"revert default", []string{"production", "revert"}, two, invocation{Env: "production", Command: "revert", N: 1, Args: []string{}}, "", ""},
		{"revert 2", []string{"production", "revert", "2"}, one, invocation{Env: "production", Command: "revert", N: 2, Args: []string{"2"}}, "", ""},
		{"classic aliases", []string{"production", "current"}, two, invocation{Env: "production", Command: "curr", Args: []string{}}, "", ""},
		{"rollback alias", []string{"production", "rollback"}, one, invocation{Env: "production", Command: "revert", N: 1, Args: []string{}}, "", ""},
		{"exec keeps argv", []string{"production", "run", "ls", "-la"}, two, invocation{Env: "production", Command: "exec", Args: []string{"ls", "-la"}}, "", ""},
		{"config key", []string{"production", "config", "path"}, two, invocation{Env: "production", Command: "config", Args: []string{"path"}}, "", ""},
		{"trust", []string{"production", "trust"}, one, invocation{Env: "production", Command: "trust", Args: []string{}}, "", ""},
		// Words after the env that are no typo of a command stay refs.
		{"branch dev", []string{"production", "dev"}, one, invocation{Env: "production", Command: "deploy", Ref: "dev"}, "", ""},
		{"branch test", []string{"production", "test"}, one, invocation{Env: "production", Command: "deploy", Ref: "test"}, "", ""},
		{"branch main", []string{"production", "main"}, one, invocation{Env: "production", Command: "deploy", Ref: "main"}, "", ""},
		{"branch staging", []string{"production", "staging"}, one, invocation{Env: "production", Command: "deploy", Ref: "staging"}, "", ""},
		{"a sha", []string{"production", "3f9c2ab"}, one, invocation{Env: "production", Command: "deploy", Ref: "3f9c2ab"}, "", ""},

		{"no env", nil, two, invocation{}, "no environment given", "production, staging"},
		{"unknown env", []string{"qa"}, two, invocation{}, `unknown environment "qa"`, "the config defines: production, staging"},

		// One env: the first word is never a ref.
		{"one env: a branch first", []string{"staging"}, one, invocation{}, `unknown environment "staging"`, "a ref goes after the env: deploy production staging"},
		{"one env: a tag first", []string{"v1.4.2"}, one, invocation{}, `unknown environment "v1.4.2"`, "deploy production v1.4.2"},
		{"one env: mistyped env", []string{"prodution"}, one, invocation{}, `unknown environment "prodution": did you mean production?`, "the config defines: production"},
		{"one env: mistyped env and a command", []string{"prodution", "revert"}, one, invocation{}, "did you mean production?", ""},
		{"one env: short env", []string{"prod"}, one, invocation{}, "did you mean production?", ""},
		{"one env: command without env", []string{"setup"}, one, invocation{}, "setup needs the environment first", "deploy production setup"},
		{"one env: revert without env", []string{"revert", "2"}, one, invocation{}, "revert needs the environment first", "deploy production revert 2"},
		{"one env: trust without env", []string{"trust"}, one, invocation{}, "trust needs the environment first", "deploy production trust"},
		{"one env: mistyped command first", []string{"stauts"}, one, invocation{}, `unknown environment "stauts"`, "deploy production status"},
		{"one env: rollbak", []string{"production", "rollbak"}, one, invocation{}, `unknown command "rollbak": did you mean revert/rollback?`, "use --ref rollbak"},
		{"one env: stauts", []string{"production", "stauts"}, one, invocation{}, `did you mean status?`, "deploy production --ref stauts"},
		{"one env: lsit", []string{"production", "lsit"}, one, invocation{}, `did you mean list?`, "--ref lsit"},
		{"one env: setpu", []string{"production", "setpu"}, one, invocation{}, `did you mean setup?`, "--ref setpu"},
		{"one env: revet", []string{"production", "revet", "2"}, one, invocation{}, `did you mean revert?`, ""},
		{"one env: Status", []string{"production", "Status"}, one, invocation{}, `did you mean status?`, ""},
		{"one env: curent", []string{"production", "curent"}, one, invocation{}, `did you mean curr/current?`, ""},
		{"one env: trsut", []string{"production", "trsut"}, one, invocation{}, `did you mean trust?`, ""},

		// Several envs: the same, with every env named.
		{"two envs: mistyped env", []string{"stagign"}, two, invocation{}, `unknown environment "stagign": did you mean staging?`, "production, staging"},
		{"two envs: prodution", []string{"prodution", "status"}, two, invocation{}, "did you mean production?", ""},
		{"two envs: command without env", []string{"status"}, two, invocation{}, "status needs the environment first", "deploy <env> status, where <env> is one of: production, staging"},
		{"two envs: a branch first", []string{"feature-x"}, two, invocation{}, `unknown environment "feature-x"`, "a ref goes after the env"},
		{"two envs: rollbak", []string{"staging", "rollbak"}, two, invocation{}, "did you mean revert/rollback?", "deploy staging --ref rollbak"},
		{"two envs: chekc", []string{"staging", "chekc"}, two, invocation{}, "did you mean check?", ""},

		{"revert not a number", []string{"production", "revert", "x"}, two, invocation{}, `revert: "x" is not a positive number`, ""},
		{"revert zero", []string{"production", "revert", "0"}, two, invocation{}, "not a positive number", ""},
		{"exec empty", []string{"production", "exec"}, two, invocation{}, "exec needs a command", ""},
		{"two refs", []string{"production", "a", "b"}, two, invocation{}, "unexpected arguments", ""},
		{"list takes none", []string{"production", "list", "x"}, two, invocation{}, "list takes no arguments", ""},
		{"trust takes none", []string{"production", "trust", "x"}, two, invocation{}, "trust takes no arguments", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseInvocation(tt.pos, tt.envs)
			if tt.wantErr != "" {
				var u *usageError
				if !errors.As(err, &u) || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want a usage error with %q", err, tt.wantErr)
				}
				if !strings.Contains(u.Hint(), tt.wantHint) {
					t.Errorf("hint = %q, want %q", u.Hint(), tt.wantHint)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(*got, tt.want) {
				t.Fatalf("got %+v, want %+v", *got, tt.want)
			}
		})
	}
}

// Only a word one typo away from a command is refused after the env;
// common branch names stay refs.
func TestMistypedCommand(t *testing.T) {
	typo := []string{"rollbak", "rolback", "revret", "stauts", "satus", "lsit", "chekc", "unlcok", "consloe", "confg", "setpu", "Status", "LIST"}
	for _, w := range typo {
		if len(commandSuggestions(w)) == 0 {
			t.Errorf("%q: no command suggested, want it taken for a typo", w)
		}
	}
	refs := []string{"main", "master", "dev", "develop", "test", "prod", "staging", "release", "hotfix", "next", "beta", "stable", "v1.4.2", "3f9c2ab", "HEAD", "fun", "rum", "origin/main"}
	for _, w := range refs {
		if s := commandSuggestions(w); len(s) > 0 {
			t.Errorf("%q taken for a typo of %v, want a ref", w, s)
		}
	}
}

func TestEditDistance(t *testing.T) {
	tests := []struct {
		a, b string
		want int
	}{
		{"", "", 0}, {"a", "", 1}, {"status", "status", 0}, {"stauts", "status", 1},
		{"rollbak", "rollback", 1}, {"prodution", "production", 1}, {"dev", "prev", 2},
		{"kitten", "sitting", 3}, {"Status", "status", 0}, {"ca", "abc", 3},
	}
	for _, tt := range tests {
		if got := editDistance(tt.a, tt.b); got != tt.want {
			t.Errorf("editDistance(%q, %q) = %d, want %d", tt.a, tt.b, got, tt.want)
		}
	}
}

func TestReorder(t *testing.T) {
	tests := []struct{ in, want string }{
		{"deploy production", "deploy -- production"},
		{"deploy production --dry-run", "deploy --dry-run -- production"},
		{"deploy -c x.conf production revert 2", "deploy -c x.conf -- production revert 2"},
		{"deploy production -c x.conf", "deploy -c x.conf -- production"},
		{"deploy production exec ls -la", "deploy -- production exec ls -la"},
		{"deploy production run -- rm -x", "deploy -- production run -- rm -x"},
		{"deploy --version", "deploy --version"},
		{"deploy production --generate-bash-completion", "deploy production --generate-bash-completion"},
		{"deploy --generate-bash-completion", "deploy --generate-bash-completion"},
	}
	for _, tt := range tests {
		got := strings.Join(reorder(strings.Fields(tt.in)), " ")
		if got != tt.want {
			t.Errorf("reorder(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestMetaOf(t *testing.T) {
	tests := []struct {
		args    string
		want    meta
		ok      bool
		wantErr string
	}{
		{"--help", meta{help: true}, true, ""},
		{"-h", meta{help: true}, true, ""},
		{"help", meta{help: true}, true, ""},
		{"-c x.conf help", meta{help: true}, true, ""},
		{"production --help", meta{help: true, topic: "deploy"}, true, ""},
		{"prodution --help", meta{help: true, topic: "deploy"}, true, ""},
		{"production revert --help", meta{help: true, topic: "revert"}, true, ""},
		{"production rollback 2 -h", meta{help: true, topic: "revert"}, true, ""},
		{"revert --help", meta{help: true, topic: "revert"}, true, ""},
		{"help revert", meta{help: true, topic: "revert"}, true, ""},
		{"help rollback", meta{help: true, topic: "revert"}, true, ""},
		{"help trust", meta{help: true, topic: "trust"}, true, ""},
		{"help deploy", meta{help: true, topic: "deploy"}, true, ""},
		{"production help", meta{help: true}, true, ""},
		{"production help revert", meta{help: true, topic: "revert"}, true, ""},
		{"production exec --help", meta{help: true, topic: "exec"}, true, ""},
		{"production --help exec ls", meta{help: true, topic: "exec"}, true, ""},
		{"version", meta{version: true}, true, ""},
		{"--version", meta{version: true}, true, ""},
		{"-v", meta{version: true}, true, ""},
		{"production version", meta{version: true}, true, ""},
		{"version --help", meta{help: true}, true, ""},
		{"help rollbak", meta{}, false, `no help for "rollbak": did you mean revert/rollback?`},
		{"help foo", meta{}, false, `no help for "foo": not a command`},
		// Not for deploy itself.
		{"production", meta{}, false, ""},
		{"production v1.4.2", meta{}, false, ""},
		{"production exec grep --help", meta{}, false, ""},
		{"production exec help", meta{}, false, ""},
		{"production run -- ls --version", meta{}, false, ""},
		{"-c help production", meta{}, false, ""},
		{"help --generate-bash-completion", meta{}, false, ""},
	}
	for _, tt := range tests {
		t.Run(tt.args, func(t *testing.T) {
			got, ok, err := metaOf(append([]string{"deploy"}, strings.Fields(tt.args)...))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || ok != tt.ok || got != tt.want {
				t.Fatalf("metaOf = %+v, %v, %v; want %+v, %v", got, ok, err, tt.want, tt.ok)
			}
		})
	}
}
