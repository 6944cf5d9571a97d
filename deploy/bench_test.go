package deploy

import (
	"testing"
)

// BenchmarkDeployLocal measures a whole deploy through the real script and
// the local transport (no network): a no-op deploy (the same commit again)
// and a one-commit deploy. It shows the script's own cost, the floor under
// an SSH deploy.
func BenchmarkDeployLocal(b *testing.B) {
	for _, tc := range []struct {
		name   string
		commit bool
	}{{"noop", false}, {"one-commit", true}} {
		b.Run(tc.name, func(b *testing.B) {
			o := newOrigin(b)
			o.commit(nil)
			s := newServer(b, o)
			s.env.Keep = 3
			s.setup()
			for b.Loop() {
				if tc.commit {
					b.StopTimer()
					o.commit(nil)
					b.StartTimer()
				}
				s.deploy()
			}
		})
	}
}
