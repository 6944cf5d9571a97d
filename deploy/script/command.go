package script

import (
	"fmt"
	"strconv"
	"strings"
)

// Bootstrap is the fixed program given to `bash -c` on the server. It reads
// the framed script from stdin (see Frame: a line with its length in
// bytes, then exactly that many bytes, with `head -c`, which never reads
// past them) and evaluates it; the arguments that follow on the command
// line become the script's "$@". The rest of stdin stays open as the
// control channel. A script cut short (a dropped connection) lacks its
// last line, EndMark, and is never run: exit 97.
//
// (bash's read with an empty delimiter, up to a NUL, the first framing, reads a pipe one
// byte per read(2): about 70 ms per remote command for the 60 KB script
// on these machines, against one head process.)
const Bootstrap = `IFS= read -r n && deploy_script=$(head -c "$n") && [ "${deploy_script##*$'\n'}" = "` + EndMark + `" ] || { echo "deploy-remote: no script on stdin" >&2; exit 97; }; eval "$deploy_script"`

// EndMark is the framed script's last line: the bootstrap runs a script
// only when it arrived whole, up to this line.
const EndMark = "#deploy-remote-end"

// Frame returns text as the bootstrap reads it: its length in bytes on a
// line, then text with EndMark as its last line.
func Frame(text string) string {
	body := text + "\n" + EndMark + "\n"
	return strconv.Itoa(len(body)) + "\n" + body
}

// ProgramName is the script's $0 on the server, seen in `ps`.
const ProgramName = "deploy-remote"

// Bash starts every command line: bash, found through the login PATH,
// with --norc when the login shell running the line is bash itself.
//
// sshd runs the line through the login shell, and Debian's bash reads
// ~/.bashrc for every sshd command. The line being its only command, a
// bash login shell execs our bash with SHLVL put back, so that bash saw
// an sshd session too and read ~/.bashrc again: every deploy paid the
// user's rc files (pyenv or nvm init, say) twice. With --norc it is read
// once, by the login shell, and what it exported still reaches the script
// and its hooks. Under another login shell (sh, dash, zsh), BASH_VERSION
// is unset and our bash reads ~/.bashrc as before: the one read there is.
const Bash = "bash ${BASH_VERSION:+--norc}"

// Command returns the command line that runs the remote script's command
// sub with args on the server, e.g.
//
//	bash ${BASH_VERSION:+--norc} -c '<Bootstrap>' deploy-remote 'deploy' 'path=/srv/app' …
//
// Every word is single-quoted with Quote, so no value is ever read as shell
// text by the login shell sshd starts. The line must be run with Stdin as
// its standard input. An argument holding a NUL cannot be passed in argv and
// is an error. (Bash, the line's start, is the one piece of shell text.)
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
			b.WriteString(Bash) // shell text of ours, no value in it
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
