package deploy

import "github.com/deploytool/deploy/deploy/script"

// Built is one stack that `build auto` detected and built in a release.
type Built struct {
	// Stack is node, python, ruby, elixir or go; "none" when build auto
	// found no stack (Why says so).
	Stack string
	// Why names the files the stack was detected by
	// ("package.json + package-lock.json + scripts.build").
	Why string
	// Deps says how its dependencies got into the release: "reused" (from
	// the cache), "installed" (and cached), "uncached" (no lockfile,
	// requirements naming the release's own files, or install scripts of
	// the app's own package.json other than prepare), or "pip-cache" /
	// "go-cache" (the tool's own cache); "" = not said.
	Deps string
	// Method is how a cached install reached the release: reflink,
	// link, hardlink or copy ("" when Deps is not reused or installed).
	Method string
	// Key is the cache entry, <stack>-<hash of lockfile, runtime and
	// platform> ("" when Deps is not reused or installed).
	Key string
}

// onBuildInfo records an `info build` or `info deps` line in res.Built.
func onBuildInfo(res *Result, ev script.Message) {
	switch ev.Field(0) {
	case script.InfoBuild:
		res.Built = append(res.Built, Built{Stack: ev.Field(1), Why: ev.After(2)})
	case script.InfoDeps:
		for i := len(res.Built) - 1; i >= 0; i-- {
			if b := &res.Built[i]; b.Stack == ev.Field(1) {
				b.Deps = ev.Field(2)
				if b.Deps == "reused" || b.Deps == "installed" {
					b.Method, b.Key = ev.Field(3), ev.Field(4)
				}
				return
			}
		}
	}
}
