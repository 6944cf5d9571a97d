// Package sdnotify speaks systemd's readiness protocol (sd_notify) in both
// directions.
//
// Sending: a [Notifier] writes one datagram per call to the unix socket named
// by $NOTIFY_SOCKET (a path, or an abstract name starting with '@'). Each
// datagram is newline-separated KEY=VALUE assignments, e.g. "READY=1",
// "RELOADING=1\nMONOTONIC_USEC=123", "STOPPING=1", "STATUS=serving gen 3",
// "WATCHDOG=1". A Notifier built from an empty socket name is a no-op, so
// code runs the same under systemd and in a terminal.
//
// Watchdog: when systemd sets WATCHDOG_USEC (and WATCHDOG_PID is unset or
// ours), the service must send WATCHDOG=1 more often than that. A
// [Watchdog] does not run a goroutine of its own: the caller's main loop
// ticks at [Watchdog.Interval] (half the timeout) and calls [Watchdog.Ping],
// so a hung main loop stops the pings and systemd restarts the service.
//
// Receiving: [Listen] binds a datagram socket that children can use as their
// NOTIFY_SOCKET (procmon's "notify" readiness check) and that tests use to
// watch what procmon sends. The kernel attaches the sender's credentials
// (SO_PASSCRED), so every [Message] carries the sender's pid.
package sdnotify
