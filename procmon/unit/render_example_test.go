package unit_test

import (
	"os"

	"github.com/deploytool/deploy/procmon/unit"
)

// ExampleRender prints the unit for one app, as 'procmon unit' does.
func ExampleRender() {
	err := unit.Render(os.Stdout, unit.Options{App: "vmblog", ConfigPath: "/etc/procmon/vmblog.toml", User: "www-data", Group: "www-data"})
	if err != nil {
		panic(err)
	}
}
