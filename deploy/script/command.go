package script

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
)

// Bootstrap returns the program given to `bash -c` on the server for a
// script whose Hash is hash. The server keeps a copy of each script it
// ran, named by its hash, in $XDG_CACHE_HOME/deploy-remote (else
// ~/.cache/deploy-remote), so that the script travels only when it
// changed (a new version of deploy), not with every command: 120 kB
// before each deploy's first step is several round trips on a real link.
//
// The bootstrap first says on stderr, as a line of its own, which it
// does (see Feed, which acts on the line and removes it):
//
//   - AskCached: the copy is there, owned by the login user as its
//     directory is, and whole (it ends in EndMark): it is read, with
//     bash's own read and no process started, and nothing of the script
//     comes on stdin, which is the control channel from the start;
//   - AskSend: it reads the framed script from stdin (see Frame: a line
//     with its length in bytes, then exactly that many bytes, with `head
//     -c`, which never reads past them); the rest of stdin stays open as
//     the control channel. A script cut short (a dropped connection)
//     lacks its last line, EndMark, and is never run: exit 97. The
//     script then saves its copy in the background (lib.sh's
//     save_script: written to a temporary file, renamed only when its
//     sha256 is the name), so that no text can ever be kept under
//     another's hash.
//
// Either way the text is evaluated with the arguments that follow on the
// command line as its "$@". No copy is kept (every command sends the
// script, as before) when neither XDG_CACHE_HOME nor HOME is an absolute
// path other than /, or the cache cannot be written.
//
// (bash's read with an empty delimiter, up to a NUL, the first framing,
// reads a pipe one byte per read(2): about 70 ms per remote command for
// the 60 KB script on these machines, against one head process. From a
// regular file it reads in blocks: under 1 ms for the copy.)
func Bootstrap(hash string) string {
	return `deploy_cache=${XDG_CACHE_HOME:-}; [[ $deploy_cache == /?* ]] || { deploy_cache=''; [[ ${HOME:-} != /?* ]] || deploy_cache=$HOME/.cache; }; ` +
		`[ -z "$deploy_cache" ] || deploy_cache+=/deploy-remote; deploy_script=''; deploy_script_save=''; ` +
		`if [ -n "$deploy_cache" ] && [ -O "$deploy_cache" ] && [ -O "$deploy_cache/` + hash + `" ]; then IFS= read -r -d '' deploy_script <"$deploy_cache/` + hash + `" || :; fi; ` +
		`if [[ $deploy_script == *$'\n` + EndMark + `' ]]; then echo '` + AskCached + `' >&2; ` +
		`else echo '` + AskSend + `' >&2; IFS= read -r n && deploy_script=$(head -c "$n") && [[ $deploy_script == *$'\n` + EndMark + `' ]] || { echo "deploy-remote: no script on stdin" >&2; exit 97; }; ` +
		`[ -z "$deploy_cache" ] || deploy_script_save=$deploy_cache/` + hash + `; fi; unset n; eval "$deploy_script"`
}

// AskCached and AskSend are the bootstrap's line on stderr: it has its
// copy of the script, or the script must come on stdin.
const (
	AskCached = "@@deploy-script cached"
	AskSend   = "@@deploy-script send"
)

// EndMark is the framed script's last line: the bootstrap runs a script
// only when it arrived whole, up to this line.
const EndMark = "#deploy-remote-end"

// Frame returns text as the bootstrap reads it: its length in bytes on a
// line, then text with EndMark as its last line.
func Frame(text string) string {
	body := text + "\n" + EndMark + "\n"
	return strconv.Itoa(len(body)) + "\n" + body
}

// Hash returns what the bootstrap names the server's copy of text by:
// the hex sha256 of what it evaluates, text and EndMark (Frame's body
// without its length line and last newline, as head -c's output in
// $(...) is).
func Hash(text string) string {
	sum := sha256.Sum256([]byte(text + "\n" + EndMark))
	return hex.EncodeToString(sum[:])
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
// text by the login shell sshd starts. The line must be run with a Feed's
// Stdin as its standard input and its stderr through the Feed's Stderr.
// An argument holding a NUL cannot be passed in argv and is an error.
// (Bash, the line's start, is the one piece of shell text.)
//
// mark (NewMark, "" for none) comes first, as mark=<mark>: the script's
// protocol lines then start with MarkerOf(mark).
func Command(mark, sub string, args ...string) (string, error) {
	return command(scriptHash, mark, sub, args)
}

// CommandFor is Command for another text than the remote script (tests
// give their own): its bootstrap looks for text's copy on the server.
func CommandFor(text, mark, sub string, args ...string) (string, error) {
	return command(Hash(text), mark, sub, args)
}

func command(hash, mark, sub string, args []string) (string, error) {
	words := []string{"bash", "-c", Bootstrap(hash), ProgramName, sub}
	if mark != "" {
		words = append(words, Arg("mark", mark))
	}
	words = append(words, args...)
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
