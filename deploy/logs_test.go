package deploy

import (
	"strings"
	"testing"

	"github.com/deploytool/deploy/deploy/config"
)

func TestLogCommand(t *testing.T) {
	plain := &config.Env{Name: "production", Path: "/srv/app", Shared: []string{"log/", "log/app.log", ".env"}}
	withProcmon := &config.Env{Name: "production", Path: "/srv/app", Procmon: "/etc/procmon/app.toml"}
	noLog := &config.Env{Name: "production", Path: "/srv/app", Shared: []string{"a.log", "b.log"}}
	tests := []struct {
		name    string
		env     *config.Env
		lo      LogOptions
		want    string
		wantErr string
	}{
		{"procmon", withProcmon, LogOptions{Lines: 20}, "procmon 'logs' '-n' '20' '-c' '/etc/procmon/app.toml'", ""},
		{"procmon follow default n", withProcmon, LogOptions{Follow: true}, "procmon 'logs' '-f' '-n' '100' '-c' '/etc/procmon/app.toml'", ""},
		{"procmon and a file", withProcmon, LogOptions{File: "x.log"}, "", "only for envs without the procmon key"},
		{"shared log", plain, LogOptions{Lines: 5}, "tail -n 5 -- '/srv/app/shared/log/app.log'", ""},
		{"file in current", plain, LogOptions{File: "log/prod.log", Follow: true}, "tail -F -n 100 -- '/srv/app/current/log/prod.log'", ""},
		{"absolute file", plain, LogOptions{File: "/var/log/app.log"}, "tail -n 100 -- '/var/log/app.log'", ""},
		{"quote in name", plain, LogOptions{File: "it's.log"}, `tail -n 100 -- '/srv/app/current/it'\''s.log'`, ""},
		{"command substitution stays text", plain, LogOptions{File: "$(touch x).log"}, "tail -n 100 -- '/srv/app/current/$(touch x).log'", ""},
		{"no log named", noLog, LogOptions{}, "", "name the file"},
		{"dot dot", plain, LogOptions{File: "../../etc/shadow"}, "", "'..' component"},
		{"leading dash", plain, LogOptions{File: "-n1"}, "", "starts with '-'"},
		{"newline", plain, LogOptions{File: "a\nb"}, "", "log file"},
		{"negative n", plain, LogOptions{Lines: -1}, "", "positive number"},
		{"bad procmon path", &config.Env{Name: "p", Path: "/srv/app", Procmon: "rel/app.toml"}, LogOptions{}, "", "not absolute"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := LogCommand(tt.env, tt.lo)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Errorf("LogCommand = %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}
