package main

import (
	"reflect"
	"strings"
	"testing"
)

func TestParseInvocation(t *testing.T) {
	two := []string{"production", "staging"}
	one := []string{"production"}
	tests := []struct {
		name    string
		pos     []string
		envs    []string
		want    invocation
		wantErr string
	}{
		{"deploy default ref", []string{"production"}, two, invocation{Env: "production", Command: "deploy"}, ""},
		{"deploy a ref", []string{"staging", "v1.2"}, two, invocation{Env: "staging", Command: "deploy", Ref: "v1.2"}, ""},
		{"env left out", []string{"revert", "2"}, one, invocation{Env: "production", Command: "revert", N: 2, Args: []string{"2"}}, ""},
		{"env left out no args", nil, one, invocation{Env: "production", Command: "deploy"}, ""},
		{"revert default", []string{"production", "revert"}, two, invocation{Env: "production", Command: "revert", N: 1, Args: []string{}}, ""},
		{"classic aliases", []string{"production", "current"}, two, invocation{Env: "production", Command: "curr", Args: []string{}}, ""},
		{"exec keeps argv", []string{"production", "run", "ls", "-la"}, two, invocation{Env: "production", Command: "exec", Args: []string{"ls", "-la"}}, ""},
		{"config key", []string{"production", "config", "path"}, two, invocation{Env: "production", Command: "config", Args: []string{"path"}}, ""},
		{"no env", nil, two, invocation{}, "no environment given"},
		{"unknown env", []string{"prod"}, two, invocation{}, `unknown environment "prod"`},
		{"revert not a number", []string{"production", "revert", "x"}, two, invocation{}, `revert: "x" is not a positive number`},
		{"revert zero", []string{"production", "revert", "0"}, two, invocation{}, "not a positive number"},
		{"exec empty", []string{"production", "exec"}, two, invocation{}, "exec needs a command"},
		{"two refs", []string{"production", "a", "b"}, two, invocation{}, "unexpected arguments"},
		{"list takes none", []string{"production", "list", "x"}, two, invocation{}, "list takes no arguments"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseInvocation(tt.pos, tt.envs)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
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
