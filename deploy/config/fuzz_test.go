package config

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// addSeeds adds the example configs of testdata/config with the given
// extension to the fuzz seed corpus (testdata/fuzz holds the rest).
func addSeeds(f *testing.F, ext string) {
	paths, err := filepath.Glob("testdata/config/*" + ext)
	if err != nil || len(paths) == 0 {
		f.Fatalf("no seeds in testdata/config/*%s: %v", ext, err)
	}
	for _, p := range paths {
		data, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
}

func FuzzParseINI(f *testing.F) {
	addSeeds(f, ".conf")
	f.Add([]byte(baseINI))
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := ParseINI("/app/deploy.conf", data)
		checkParsed(t, cfg, err)
	})
}

func FuzzParseTOML(f *testing.F) {
	addSeeds(f, ".toml")
	f.Add([]byte(baseTOML))
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := ParseTOML("/app/deploy.toml", data)
		checkParsed(t, cfg, err)
	})
}

// checkParsed checks what holds for any input: an error is one line naming
// the file; a config has only valid envs, and each one printed with WriteTo
// reads back as the same env.
func checkParsed(t *testing.T, cfg *Config, err error) {
	t.Helper()
	if err != nil {
		var ce *Error
		if !errors.As(err, &ce) {
			t.Fatalf("error %T is not a *Error: %v", err, err)
		}
		if strings.ContainsAny(err.Error(), "\n\r\x00") || !strings.HasPrefix(err.Error(), "/app/deploy.") {
			t.Fatalf("bad error message %q", err)
		}
		return
	}
	if len(cfg.Envs) == 0 || len(cfg.Order) != len(cfg.Envs)+len(cfg.Broken) {
		t.Fatalf("order %q for %d envs and %d broken", cfg.Order, len(cfg.Envs), len(cfg.Broken))
	}
	for _, err := range cfg.BrokenErrors() {
		var ce *Error
		if !errors.As(err, &ce) || strings.ContainsAny(err.Error(), "\n\r\x00") {
			t.Fatalf("bad section error %T %q", err, err)
		}
	}
	for name, e := range cfg.Envs {
		if e == nil || e.Name != name || len(e.Hosts) == 0 || e.Repo == "" || CheckPath(e.Path) != nil {
			t.Fatalf("invalid env accepted: %+v", e)
		}
		var buf bytes.Buffer
		if _, err := e.WriteTo(&buf); err != nil {
			t.Fatal(err)
		}
		back, err := ParseINI("/app/deploy.conf", buf.Bytes())
		if err != nil {
			t.Fatalf("WriteTo output does not read back: %v\n%s", err, buf.String())
		}
		if got := back.Envs[name]; !sameSettings(got, e) {
			t.Fatalf("WriteTo output reads back different:\n got %+v\nwant %+v\n%s", got, e, buf.String())
		}
	}
}

// sameSettings compares two envs ignoring Lines and the defaults that
// WriteTo fills in.
func sameSettings(a, b *Env) bool {
	norm := func(e *Env) Env {
		c := *e
		c.Lines = nil
		if c.Keep == DefaultKeep {
			c.Keep = 0
		}
		if c.Parallel == DefaultParallel {
			c.Parallel = 0
		}
		if c.Shell == "bash" {
			c.Shell = ""
		}
		if c.ConnectTimeout == DefaultConnectTimeout {
			c.ConnectTimeout = 0
		}
		return c
	}
	return reflect.DeepEqual(norm(a), norm(b))
}
