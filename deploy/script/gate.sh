# gate.sh: the restart and the health gate after a switch — procmon reload
# --wait, or the restart file and an HTTP healthcheck polled from the
# server. Part of the remote script (lib.sh, release.sh, mirror.sh,
# gate.sh, build.sh, depcache.sh, commands.sh run as one text).

# restart_gated RELEASE PREVIOUS-DIR restarts RELEASE and sets GATE_FAIL to
# why it does not serve ("" = it serves, or nothing could check it: then
# UNCHECKED says why and an "info unchecked <why>" line reports it):
#   procmon set: `procmon reload --wait -c <procmon>` run by the hook shell
#     (DEPLOY_PROCMON, from the env key or the server's environment, names
#     another binary); non-zero = procmon kept the old workers serving,
#     except exit 5 (procmon not running) on the very first deploy: nothing
#     can serve the release yet, so the healthcheck is not polled (it would
#     only time out) and the release is reported unchecked, with the
#     command that starts procmon;
#   else: touch restart-file (if set);
# then post-deploy (a failure sets GATE_FAIL), then, with healthcheck set,
# poll it until 2xx/3xx. With neither procmon nor healthcheck nothing
# checks the release: unchecked.
GATE_FAIL='' UNCHECKED=''
restart_gated() {
	local dir="$P/releases/$1" rc=0
	GATE_FAIL='' UNCHECKED=''
	if [ -n "$PROCMON" ]; then
		step restart
		procmon_reload "$dir" "$2" || rc=$?
		if ((rc == 5)) && [ -z "$OLD" ]; then
			# The first deploy: procmon cannot have run this app before
			# there was a current. Not a failure; say what to do.
			UNCHECKED="procmon is not running for $PROCMON yet: start it with '$(procmon_start_cmd)', it will serve this release"
			rc=0
		fi
		if ((rc)); then
			GATE_FAIL="procmon reload --wait exited with status $rc$(procmon_why "$rc")"
			return 0
		fi
	elif [ -n "$RESTART_FILE" ]; then
		step restart
		mkdir -p -- "$(dirname -- "$dir/$RESTART_FILE")"
		touch -- "$dir/$RESTART_FILE"
	fi
	# A failed post-deploy is a failed restart: the gate's path puts the
	# previous release back (and a fleet reverts every host), rather than
	# leaving this one switched on its own.
	hook post-deploy "$H_POST" "$dir" "$dir" "$2" || {
		GATE_FAIL="post-deploy hook exited with status $?"
		return 0
	}
	if [ -z "$UNCHECKED" ] && [ -n "$HEALTHCHECK" ]; then
		step health
		health_poll || GATE_FAIL=$HEALTH_WHY
	elif [ -z "$UNCHECKED" ] && [ -z "$PROCMON" ]; then
		UNCHECKED="nothing checked that the release serves: set procmon or healthcheck in deploy.conf"
	fi
	[ -z "$UNCHECKED" ] || mark "info unchecked $UNCHECKED"
}

# procmon_start_cmd prints the command that starts procmon for $PROCMON:
# the unit instance for /etc/procmon/<app>.toml, else procmon run.
procmon_start_cmd() {
	case $PROCMON in
	/etc/procmon/*.toml) local app=${PROCMON#/etc/procmon/}; echo "sudo systemctl enable --now procmon@${app%.toml}" ;;
	*) echo "procmon run -c $PROCMON" ;;
	esac
}

procmon_reload() { # dir previous-dir
	local lflag=() bin
	[ "$SHELL_MODE" = login ] && lflag=(-l)
	setting bin DEPLOY_PROCMON procmon
	run_in "$1" "$1" "$2" bash ${lflag[@]+"${lflag[@]}"} -c 'exec "$@"' deploy-procmon \
		"$bin" reload --wait -c "$PROCMON"
}

procmon_why() { # status
	case $1 in
	126 | 127) echo ": procmon is not in the hook shell's PATH (shell=${SHELL_MODE:-bash}): install it, or set DEPLOY_PROCMON in env" ;;
	5) echo ": procmon is not running for $PROCMON: start it with '$(procmon_start_cmd)'" ;;
	6) echo ": permission denied: $(id -un) may not use procmon for $PROCMON, which did not reload (the old workers still serve): add $(id -un) to the group of its config's group key (usermod -aG <group> $(id -un))" ;;
	3) echo ": the new workers did not become ready, or one exited within procmon's ready.min_uptime of taking over; procmon kept the old ones serving" ;;
	4) echo ": procmon gave no verdict in time; the reload may still be running: look with 'procmon status -c $PROCMON' on the server" ;;
	1) echo ": procmon reload failed (its message is above); if procmon itself stopped, nothing may be serving: look with 'procmon status -c $PROCMON' on the server" ;;
	*) echo ": procmon reload ended abnormally; nothing may be serving: look with 'procmon status -c $PROCMON' on the server" ;;
	esac
}

# health_url prints the URL to poll: HEALTHCHECK itself when it is a URL; a
# bare path is tried against procmon's `listen` (0.0.0.0 and an empty host
# become 127.0.0.1). The laptop refuses a bare path without procmon.
health_url() {
	case $HEALTHCHECK in
	http://* | https://*) printf '%s\n' "$HEALTHCHECK"; return ;;
	esac
	[ -n "$PROCMON" ] || { echo "healthcheck '$HEALTHCHECK' is a path and procmon is not set: give a URL" >&2; return 1; }
	local listen
	# listen = "…" or '…' (a TOML basic or literal string), before any table.
	listen=$(awk '/^[[:space:]]*\[/ { exit } /^[[:space:]]*listen[[:space:]]*=/ { sub(/^[^=]*=[[:space:]]*["\047]/, ""); sub(/["\047].*/, ""); print; exit }' "$PROCMON" 2>/dev/null) || listen=''
	[ -n "$listen" ] || { echo "no listen address in $PROCMON to try healthcheck '$HEALTHCHECK' against" >&2; return 1; }
	case $listen in :*) listen="127.0.0.1$listen" ;; 0.0.0.0:*) listen="127.0.0.1:${listen#*:}" ;; "[::]:"*) listen="[::1]:${listen##*:}" ;; esac
	printf 'http://%s%s\n' "$listen" "$HEALTHCHECK"
}

# health_poll polls the healthcheck until it answers 2xx/3xx, for at most
# DEPLOY_HEALTH_TIMEOUT seconds (default 60; env key or server
# environment), 5 s per try. On failure HEALTH_WHY says what it last got.
HEALTH_WHY=''
health_poll() {
	local url timeout code last='no answer' end
	url=$(health_url 2>&1) || { HEALTH_WHY=$url; return 1; }
	setting timeout DEPLOY_HEALTH_TIMEOUT 60
	[[ $timeout =~ ^[0-9]+$ ]] || timeout=60
	end=$((SECONDS + timeout))
	local say=$((end - timeout + 5))
	while :; do
		code=$(http_status "$url") || code=''
		case $code in
		2?? | 3??) mark "info health $url $code"; return 0 ;;
		'') last='no answer (connection refused or timed out)' ;;
		*) last="HTTP $code" ;;
		esac
		((SECONDS < end)) || break
		# a wait that may last DEPLOY_HEALTH_TIMEOUT says what it gets
		if ((SECONDS >= say)); then
			echo "health: $url: $last; trying for $((end - SECONDS)) s more (DEPLOY_HEALTH_TIMEOUT=$timeout)"
			say=$((SECONDS + 5))
		fi
		sleep 0.5
	done
	HEALTH_WHY="healthcheck $url: $last after ${timeout}s"
	return 1
}

# http_status prints the HTTP status of a GET of $1: with curl when the
# server has it, else plain http:// over bash's /dev/tcp (DEPLOY_NO_CURL=1
# forces that).
http_status() {
	local nocurl
	setting nocurl DEPLOY_NO_CURL 0
	if [ "$nocurl" != 1 ] && command -v curl >/dev/null 2>&1; then
		local c
		c=$(curl -s -o /dev/null -m 5 -w '%{http_code}' -- "$1" 2>/dev/null) || true
		[ "${c:-000}" != 000 ] && printf '%s\n' "$c"
		return 0
	fi
	case $1 in https://*) echo "https healthcheck needs curl on the server" >&2; return 1 ;; esac
	local rest=${1#http://} hostport path
	hostport=${rest%%/*}
	path=${rest#"$hostport"}
	[ -n "$path" ] || path=/
	local host=${hostport%:*} port=80
	[ "$hostport" != "$host" ] && port=${hostport##*:}
	timeout 5 bash -c '
		exec 5<>"/dev/tcp/$1/$2" || exit 1
		printf "GET %s HTTP/1.0\r\nHost: %s\r\nConnection: close\r\n\r\n" "$3" "$1" >&5
		IFS=" " read -r _ code _ <&5 && printf "%s\n" "$code"' deploy-health "$host" "$port" "$path" 2>/dev/null </dev/null 3<&- 9>&- || true
}
