package unit

// unitText is the unit, with a comment for every choice.
const unitText = `# procmon for {{if .Template}}one app per instance: procmon@<app>.service reads /etc/procmon/<app>.toml{{else}}the app {{.Description}}{{end}}.
# Rendered by 'procmon unit'; install it as /etc/systemd/system/{{if .Template}}procmon@.service{{else}}procmon-{{.Description}}.service{{end}},
# then: systemctl daemon-reload && systemctl enable --now {{if .Template}}procmon@<app>{{else}}procmon-{{.Description}}{{end}}
[Unit]
Description=procmon: {{.Description}} workers with zero-downtime reloads
# procmon listens on the app's public address and workers may call out at
# boot: start once the network is up.
Wants=network-online.target
After=network-online.target

[Service]
# procmon sends READY=1 once the first generation of workers serves, so
# units ordered after this one start when the app answers, not before.
Type=notify
# Only procmon itself may talk to systemd: workers get procmon's own
# NOTIFY_SOCKET, and a stray READY=1 or WATCHDOG=1 from a child must not
# count as procmon's.
NotifyAccess=main
ExecStart={{.Binary}} run -c {{.Config}}
# 'systemctl reload' waits for the verdict: exit 0 once the new generation
# serves, non-zero (reload failed, service stays up) when it was abandoned and
# the old generation keeps serving. The reload gives up before
# TimeoutStartSec, which systemd also applies to ExecReload, so a slow
# generation is reported as a failed reload and never as a timeout, which
# Restart=on-failure would answer by restarting procmon and every worker.
ExecReload={{.Binary}} reload --wait --timeout {{.ReloadTimeout}} -c {{.Config}}
# The first generation has ready.timeout ({{.ReadyFor}}) to become ready; the rest
# is margin for starting procmon itself.{{if .Template}} For an app whose
# ready.timeout is longer, raise this and --timeout above in a drop-in
# ('systemctl edit procmon@<app>'), or use 'procmon unit -c' for that app.{{end}}
TimeoutStartSec={{.StartSec}}
# Stopping: KillMode=mixed sends SIGTERM to procmon alone. procmon then stops
# accepting, lets in-flight requests finish and stops its workers in order
# (stop_signal, SIGKILL after stop_timeout). With control-group every worker
# would get SIGTERM at the same moment as procmon and could drop requests
# procmon is still forwarding to it. When TimeoutStopSec passes, mixed sends
# SIGKILL to the whole cgroup, so no worker outlives the service.
KillMode=mixed
# stop_timeout ({{.StopTimeout}}) plus margin for procmon's own shutdown.
TimeoutStopSec={{.StopSec}}
# Restart procmon when it crashes, is killed or misses its watchdog; not after
# a clean 'systemctl stop'. A bad config also exits non-zero and is retried
# every RestartSec: 'journalctl -u' shows the error.
Restart=on-failure
RestartSec=5s
# procmon pings WATCHDOG=1 every half of this from its main loop; a hung loop
# stops the pings and systemd restarts it.
WatchdogSec={{.WatchdogSec}}
# The control socket lives in /run/procmon/. The procmon units of all apps
# share the directory, so it is kept when one of them stops (the default
# would delete the other apps' sockets). Apps that run as different users
# should each get their own directory (RuntimeDirectory=procmon/<app>) and
# socket path.
RuntimeDirectory=procmon
RuntimeDirectoryMode=0755
RuntimeDirectoryPreserve=yes
# The proxy holds two descriptors per client connection.
LimitNOFILE=65536
{{- if .User}}
User={{.User}}
{{- end}}
{{- if .Group}}
Group={{.Group}}
{{- end}}
{{- if not .User}}
# procmon runs as root unless User= is set. With User=, the log file's
# directory, the app's dir and the restart file must be writable by that
# user, and a listen port below 1024 needs
# AmbientCapabilities=CAP_NET_BIND_SERVICE.
#User=www-data
#Group=www-data
{{- end}}

[Install]
WantedBy=multi-user.target
`
