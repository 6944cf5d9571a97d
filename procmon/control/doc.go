// Package control is procmon's control socket: the protocol between the
// running daemon and the `procmon reload`, `procmon status` commands, a
// [Server] the daemon plugs its [Handler] into, and the [Client] the
// commands use.
//
// # Transport
//
// A unix stream socket (default under /run/procmon/), mode 0600, so only its
// owner (and root) may reload or read status; or, with [ServerOptions] GID
// (the procmon config's group), root:group mode 0660, so that the group's
// members, the deploy user among them, may too. A client refused by those
// permissions gets a [PermissionError] naming the socket and the group. One connection carries one
// request and one answer, each a single JSON object:
//
//	→ {"op":"status"}
//	← {"version":1,"ok":true,"status":{…}}
//
//	→ {"op":"reload","wait":true,"timeout":"60s"}
//	← {"version":1,"ok":true,"reload":{"result":"served","generation":4,…}}
//
//	← {"version":1,"ok":false,"error":"…","hint":"…"}
//
// The client keeps its end open until the answer arrives; closing it early
// ends the wait for a verdict (the reload itself goes on). With "wait":
// false a reload is only queued and the answer's result is "queued".
// "timeout" (a Go duration, default [DefaultWaitTimeout], at most
// [MaxWaitTimeout]) bounds the wait; when it passes first the result is
// "timeout" and the reload may still finish.
//
// # Answers
//
// The JSON shapes are [Response], [ReloadResult] and [Status] with its parts;
// field names are stable: new fields may be added, none is renamed or
// removed without bumping [ProtocolVersion]. Times are RFC 3339, durations
// are numbers with their unit in the name (duration_ms, uptime_s).
//
// # Exit codes of `procmon reload --wait`
//
// [ExitCode] maps an answer to the command's exit status, which `deploy`
// relies on: 0 the new generation serves (or, without --wait, the reload was
// queued); 3 the reload was abandoned and the old generation keeps serving;
// 4 no verdict within the timeout; 5 the daemon could not be reached; 6
// permission denied on the socket (the daemon may be running: this user is
// not in its group); 1 any other error.
//
// # One daemon per app
//
// [NewServer] takes an exclusive flock on "<socket>.lock" (holding the
// daemon's pid) before touching the socket, so a second daemon for the same
// app fails with "procmon for <app> already runs, pid N". A socket file left
// by a crashed daemon is detected (nobody accepts a connection on it) and
// replaced. The socket is bound under a temporary name, chmod-ed, then
// renamed into place, so it is never reachable with looser permissions.
package control
