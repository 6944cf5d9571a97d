// Package unit renders the systemd service unit that runs procmon for an
// app: `procmon unit -c app.toml` prints one, and
// examples/systemd/procmon@.service is the same rendering as a template
// (one instance per app, configured by /etc/procmon/<instance>.toml).
//
// The unit is Type=notify (procmon sends READY=1 once its first generation
// serves, RELOADING=1/READY=1 around reloads and WATCHDOG=1 from its main
// loop) and every setting is explained by a comment inside the rendered
// file. The timeouts follow from the app's config: TimeoutStartSec covers
// ready.timeout (systemd applies it to the first start and to ExecReload),
// the reload command gives up before that so a slow reload is reported as
// failed instead of timing out (which Restart=on-failure would answer by
// restarting procmon and every worker), and TimeoutStopSec covers
// stop_timeout, procmon's own grace for draining and stopping workers.
//
// The unit sets no User=: procmon runs as root and starts the workers as
// the config's user (see package procmon for why). The rendered file names
// that user and the group the deploy user must join, or warns when the
// config names no user and the app would run as root.
package unit
