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
# Before the first deploy (no dir yet) it sends READY=1 as soon as it
# waits for that deploy, answering 503 until the deploy reloads it.
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
# would delete the other apps' sockets). It is open to all (0755): each
# socket carries its own access, 0600 for root alone or, with group set in
# the app's config, root:group 0660.
RuntimeDirectory=procmon
RuntimeDirectoryMode=0755
RuntimeDirectoryPreserve=yes
# The proxy holds two descriptors per client connection.
LimitNOFILE=65536
# No User= here: procmon itself runs as root, so that it may bind any port,
# own the control socket and the log out of the app's reach (the app cannot
# forge the reload verdict deploy's gate trusts), and start the workers as
# the app's user. It never runs the app as root when the config names one:
{{- if .Template}}
# set user = "<app user>" in /etc/procmon/<app>.toml (and group, default the
# user's primary group). The workers run as that user; the socket and the
# log belong to that group: add the deploy user to it (usermod -aG <group>
# deploy) so that deploy's 'procmon reload --wait' may use them.
{{- else if and .User .Group}}
# the workers of {{.Description}} run as user {{.User}}, group {{.Group}} (user and group in
# {{.Config}}). The control socket and the log belong to group
# {{.Group}}: add the deploy user to it (usermod -aG {{.Group}} deploy).
{{- else if .User}}
# the workers of {{.Description}} run as user {{.User}} and its primary group (user in
# {{.Config}}), to which the control socket and the log
# belong: add the deploy user to that group (usermod -aG <group> deploy).
{{- else}}
# WARNING: {{.Config}} sets no user, so the workers of
# {{.Description}} run as root. Set user = "<app user>" there (and group, which the
# deploy user must be in) and restart the unit.
{{- end}}

[Install]
WantedBy=multi-user.target
`
