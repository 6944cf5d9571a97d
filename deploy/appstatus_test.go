package deploy

import (
	"errors"
	"strings"
	"testing"
)

// TestProcmonExitCodes: what a failed `procmon status` said becomes the
// error deploy shows: 5 not running, 6 (or an older procmon's "permission
// denied") a permission error with procmon's hint, else a failure.
func TestProcmonExitCodes(t *testing.T) {
	tests := []struct {
		code   int
		stderr string
		want   string
	}{
		{5, "error: status app: is procmon running? socket /run/procmon/app.sock: connect: no such file\nhint: start it\n", "procmon not running: status app: is procmon running?"},
		{6, "error: status app: permission denied on /run/procmon/app.sock\nhint: add deploy to group app\n", "permission denied on /run/procmon/app.sock"},
		{1, "error: status app: control socket /run/procmon/app.sock: dial unix /run/procmon/app.sock: connect: permission denied\n", "permission denied"},
		{1, "error: app.toml:3: key \"user\": no user \"app\" on this host\n", "procmon status failed (exit status 1): app.toml:3"},
	}
	for _, tt := range tests {
		err := procmonExit(tt.code, tt.stderr, errors.New("exit"))
		if !strings.HasPrefix(err.Error(), tt.want) {
			t.Errorf("procmonExit(%d, %q) = %q, want it to start with %q", tt.code, tt.stderr, err, tt.want)
		}
		if strings.Contains(err.Error(), "permission denied") && strings.HasPrefix(err.Error(), "procmon not running") {
			t.Errorf("%q: a permission error must never read as procmon not running", err)
		}
	}
}
