package deploy

import (
	"fmt"
	"path/filepath"
)

// Serving compares the release procmon serves on a host with the one
// current points at: `deploy <env> status` never shows a release as live
// that procmon is not serving. current moves at the switch, procmon's
// generation at the reload that follows; a reload that failed or never
// came leaves the two apart.
type Serving struct {
	// Release is the release id procmon's serving generation runs from;
	// "" when its directory is not a release directory.
	Release string
	// Dir is that directory as procmon reports it.
	Dir string
	// Ready counts the serving generation's ready workers; 0 means procmon
	// serves nothing (it answers 503).
	Ready int
	// Problem is "" when procmon serves current with at least one ready
	// worker; else what is wrong and what to do.
	Problem string
}

// ServingOf compares procmon's view with the host's deploy state, for env.
// It returns nil when there is nothing to compare: no state or no view,
// or a procmon too old to report its directory.
func ServingOf(env string, d *HostStatus, a *AppStatus) *Serving {
	if d == nil || a == nil {
		return nil
	}
	if a.State == "waiting" { // procmon started before the first deploy and nothing ran since
		if d.Current == "" {
			return &Serving{Problem: fmt.Sprintf("procmon serves nothing (503): it waits for the first deploy to reload it; run 'deploy %s'", env)}
		}
		// a deploy came, but no generation of it ever served: its
		// reload failed (the gate logged it failed) or never came
		return &Serving{Problem: fmt.Sprintf("procmon serves nothing (503): no release has started under it yet, and current %s did not (its reload failed or never came); see 'deploy %s logs', fix, and run 'deploy %s' again", d.Current, env, env)}
	}
	if a.Dir == "" {
		return nil
	}
	s := &Serving{Dir: a.Dir, Ready: a.ServingReady()}
	if filepath.Base(filepath.Dir(a.Dir)) == "releases" {
		s.Release = filepath.Base(a.Dir)
	}
	served := s.Release
	if served == "" {
		served = a.Dir
	}
	current := d.Current
	if current == "" {
		current = "nothing"
	}
	switch {
	case s.Release != d.Current:
		s.Problem = fmt.Sprintf("current %s, procmon serves %s: run 'deploy %s revert' or reload procmon", current, served, env)
	case s.Ready == 0:
		s.Problem = fmt.Sprintf("procmon serves nothing (503): no worker of generation %d is ready (state %s); see 'deploy %s logs'", a.Generation, a.State, env)
	}
	return s
}
