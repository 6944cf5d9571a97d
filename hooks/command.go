package hooks

import (
	"fmt"
	"strings"
)

// Bootstrap is the fixed program given to `bash -c` on the server. It reads
// the script's length in bytes from the first line of stdin, then exactly
// that many bytes with head -c (GNU and busybox head read no further; bash's
// own read would take one read(2) per byte), and evaluates them; the
// arguments that follow on the command line become the script's "$@". The
// rest of stdin stays open as the control channel.
const Bootstrap = `IFS= read -r deploy_len && [[ $deploy_len =~ ^[0-9]+$ ]] && deploy_script=$(head -c "$deploy_len") && [ -n "$deploy_script" ] || { echo "deploy-remote: no script on stdin" >&2; exit 97; }; eval "$deploy_script"`

// ProgramName is the script's $0 on the server, seen in `ps`.
const ProgramName = "deploy-remote"

// Command returns the command line that runs the remote script's command
// sub with args on the server, e.g.
//
//	bash -c '<Bootstrap>' deploy-remote 'deploy' 'path=/srv/app' …
//
// Every word is single-quoted with Quote, so no value is ever read as shell
// text by the login shell sshd starts. The line must be run with Stdin as
// its standard input. An argument holding a NUL cannot be passed in argv and
// is an error.
func Command(sub string, args ...string) (string, error) {
	words := append([]string{"bash", "-c", Bootstrap, ProgramName, sub}, args...)
	var b strings.Builder
	for i, w := range words {
		if strings.IndexByte(w, 0) >= 0 {
			return "", fmt.Errorf("argument %d of the remote command holds a NUL byte: remove it", i)
		}
		if i > 0 {
			b.WriteByte(' ')
		}
		if i == 0 {
			b.WriteString(w) // "bash": a plain word, found through the login PATH
			continue
		}
		b.WriteString(Quote(w))
	}
	return b.String(), nil
}

// Arg returns the script argument that sets name to value ("name=value").
// The script accepts a fixed set of names (see the package doc).
func Arg(name, value string) string { return name + "=" + value }

// Quote returns s as one single-quoted word for a POSIX shell (sh, bash,
// dash, zsh): everything between single quotes is literal, and a single
// quote inside s ends the quoting, is written escaped and reopens it.
// The empty string becomes a pair of single quotes.
func Quote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
