// Package version reports the version of the deploy and procmon binaries.
package version

import "runtime/debug"

// Version is set at build time with
// -ldflags "-X github.com/deploytool/deploy/internal/version.Version=v1.2.3".
// When empty, String falls back to the module version or VCS revision
// recorded by the Go toolchain.
var Version string

// String returns the version to print for --version.
func String() string {
	if Version != "" {
		return Version
	}
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return "devel"
	}
	if v := info.Main.Version; v != "" && v != "(devel)" {
		return v
	}
	for _, s := range info.Settings {
		if s.Key == "vcs.revision" && len(s.Value) >= 12 {
			return "devel-" + s.Value[:12]
		}
	}
	return "devel"
}
