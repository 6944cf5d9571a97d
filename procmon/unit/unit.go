package unit

import (
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"regexp"
	"strings"
	"text/template"
	"time"
)

// Defaults for the zero fields of Options.
const (
	DefaultBinary       = "/usr/local/bin/procmon"
	DefaultStopTimeout  = 30 * time.Second
	DefaultReadyTimeout = 60 * time.Second
	DefaultWatchdog     = 30 * time.Second
)

// Margins added to the app's own timeouts.
const (
	startMargin  = 30 * time.Second // TimeoutStartSec over ready.timeout
	reloadMargin = 15 * time.Second // reload --timeout over ready.timeout, under TimeoutStartSec
	stopMargin   = 30 * time.Second // TimeoutStopSec over stop_timeout
)

// Options describes the unit to render.
type Options struct {
	// App is the app's name (the config's name key). Empty renders the
	// template unit procmon@.service, whose instance name (%i) names both
	// the app and its config /etc/procmon/%i.toml.
	App string
	// ConfigPath is the absolute path of the app's config; empty means
	// /etc/procmon/<app>.toml. Ignored for the template.
	ConfigPath string
	// Binary is the absolute path of procmon; empty means DefaultBinary.
	Binary string
	// StopTimeout and ReadyTimeout are the app's stop_timeout and
	// ready.timeout; zero means their defaults.
	StopTimeout, ReadyTimeout time.Duration
	// User and Group are the app config's user and group keys: the
	// workers' user and the group of the socket and the log. They are not
	// the unit's User= and Group=: procmon itself runs as root and starts
	// the workers as User (see package procmon). The rendered unit says
	// who runs the app, and warns when User is empty (the workers then run
	// as root). Ignored for the template.
	User, Group string
}

// Name returns the file name the unit should be installed under:
// "procmon@.service" for the template, "procmon-<app>.service" otherwise.
func (o Options) Name() string {
	if o.App == "" {
		return "procmon@.service"
	}
	return "procmon-" + o.App + ".service"
}

var (
	appName  = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]*$`)
	userName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_.-]*$`)
)

// view is what the template sees.
type view struct {
	Template                           bool
	Description, Binary, Config        string
	User, Group                        string
	StartSec, ReloadTimeout, StopSec   string
	WatchdogSec, StopTimeout, ReadyFor string
}

// Render writes the unit described by o.
func Render(w io.Writer, o Options) error {
	v, err := o.view()
	if err != nil {
		return err
	}
	return unitTemplate.Execute(w, v)
}

func (o Options) view() (view, error) {
	stop, ready := o.StopTimeout, o.ReadyTimeout
	if stop == 0 {
		stop = DefaultStopTimeout
	}
	if ready == 0 {
		ready = DefaultReadyTimeout
	}
	if stop < 0 || ready < 0 {
		return view{}, errors.New("unit: negative stop or ready timeout")
	}
	v := view{
		Template:      o.App == "",
		Binary:        DefaultBinary,
		StartSec:      seconds(ready + startMargin),
		ReloadTimeout: seconds(ready + reloadMargin),
		StopSec:       seconds(stop + stopMargin),
		WatchdogSec:   seconds(DefaultWatchdog),
		StopTimeout:   seconds(stop),
		ReadyFor:      seconds(ready),
	}
	if o.Binary != "" {
		b, err := arg("procmon binary", o.Binary)
		if err != nil {
			return view{}, err
		}
		v.Binary = b
	}
	if err := o.fillIdentity(&v); err != nil {
		return view{}, err
	}
	return v, nil
}

// fillIdentity sets the description, config path, user and group.
func (o Options) fillIdentity(v *view) error {
	if o.App == "" {
		v.Description, v.Config = "%i", "/etc/procmon/%i.toml"
		return nil
	}
	if !appName.MatchString(o.App) {
		return fmt.Errorf("unit: app name %q: use letters, digits, '.', '_' and '-' (it becomes part of the unit name)", o.App)
	}
	cfg := o.ConfigPath
	if cfg == "" {
		cfg = "/etc/procmon/" + o.App + ".toml"
	}
	c, err := arg("config path", cfg)
	if err != nil {
		return err
	}
	v.Description, v.Config = o.App, c
	for _, id := range []struct{ key, val string }{{"user", o.User}, {"group", o.Group}} {
		if id.val != "" && !userName.MatchString(id.val) {
			return fmt.Errorf("unit: %s %q is not a valid user or group name", id.key, id.val)
		}
	}
	v.User, v.Group = o.User, o.Group
	return nil
}

// arg checks an absolute path and quotes it as one ExecStart= argument:
// '%' and '$' are escaped so systemd takes them literally.
func arg(what, path string) (string, error) {
	if !filepath.IsAbs(path) {
		return "", fmt.Errorf("unit: %s %q must be absolute: systemd does not start in your directory", what, path)
	}
	if strings.ContainsAny(path, "\n\r\x00") {
		return "", fmt.Errorf("unit: %s %q holds a line break or NUL", what, path)
	}
	s := strings.NewReplacer("%", "%%", "$", "$$").Replace(path)
	if strings.ContainsAny(s, " \t\"'\\;") {
		s = `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) + `"`
	}
	return s, nil
}

// seconds prints d as a whole number of seconds with systemd's "s" unit.
func seconds(d time.Duration) string {
	return fmt.Sprintf("%ds", int64((d+time.Second-1)/time.Second))
}

var unitTemplate = template.Must(template.New("unit").Parse(unitText))
