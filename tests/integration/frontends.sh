# frontends.sh: run a real front-end (apache2, lighttpd, nginx, haproxy)
# with the recipe `stickyctl routes` generates, in $T, on 127.0.0.1, and
# the scenarios the t_route_*.sh tests share.  Source after procs.sh:
#
#   fe_start NAME [routes options]  generate $T/NAME/sticky.conf from the
#                                   workers' settings, write a small main
#                                   config around it, start in the
#                                   foreground; sets FE_PORT, FE_PID
#   fe_stop                         stop it (by pid)
#   fe_get JAR                      one GET / with a cookie jar; sets R_*
#   fe_sticky / fe_spread / fe_respawn   the shared scenarios
#
# The generated file is used as-is: only the wrapper (pid file, logs,
# temp paths, modules, user when run as root) is written here, since an
# operator's server already has one.
#
# Limits: Debian 12 paths (/usr/lib/apache2/modules); front-ends run as
# www-data (apache2, lighttpd) or nobody (nginx workers) when the tests
# run as root, so $T/NAME is handed to that user; every wait is bounded.

COOKIE=STICKYSID
: "${STICKY_WORKERS:=3}"
: "${FE_TIMEOUT:=2}"
: "${ROUTING:=tag}"
export STICKY_WORKERS

# Stopped workers are resumed before procs.sh's cleanup stops everything,
# or a SIGSTOPped worker would outlive the test.
FE_STOPPED=""
fe_cleanup() {
	local p
	for p in $FE_STOPPED; do kill -CONT "$p" 2>/dev/null; done
	t_cleanup
}
fe_setup() {
	t_setup
	trap fe_cleanup EXIT
}
fe_sigstop() { kill -STOP "$1" && FE_STOPPED="$FE_STOPPED $1"; }
fe_sigcont() { kill -CONT "$1"; FE_STOPPED=$(echo " $FE_STOPPED " | sed "s/ $1 / /"); }

fe_available() {
	case $1 in
	apache) command -v apache2 ;;
	*) command -v "$1" ;;
	esac >/dev/null 2>&1
}

# The same settings start_sticky gives the workers.
fe_routes() {
	"$STICKYCTL" -o "listen=unix:$T/%t.sock" -o "workers=$STICKY_WORKERS" \
		-o "cookie_name=$COOKIE" -o status_path=/sticky-status \
		-o "routing=$ROUTING" routes "$@"
}

fe_write_apache() {
	local d=$1 m=/usr/lib/apache2/modules mod
	{
		echo "ServerName 127.0.0.1"
		echo "PidFile $d/httpd.pid"
		echo "ErrorLog $d/error.log"
		echo "LogLevel warn"
		echo "DefaultRuntimeDir $d"
		echo "Mutex file:$d default"
		if [ "$(id -u)" = 0 ]; then echo "User www-data"; echo "Group www-data"; fi
		for mod in mpm_event authz_core proxy proxy_fcgi proxy_balancer \
			slotmem_shm lbmethod_byrequests unique_id; do
			echo "LoadModule ${mod}_module $m/mod_$mod.so"
		done
		echo "Include $d/sticky.conf"
	} >"$d/httpd.conf"
}

fe_write_lighttpd() {
	local d=$1
	{
		echo "server.document-root = \"$d\""
		echo "server.bind = \"127.0.0.1\""
		echo "server.port = $FE_PORT"
		echo "server.pid-file = \"$d/lighttpd.pid\""
		echo "server.errorlog = \"$d/error.log\""
		if [ "$(id -u)" = 0 ]; then
			echo 'server.username = "www-data"'
			echo 'server.groupname = "www-data"'
		fi
		echo "include \"$d/sticky.conf\""
	} >"$d/lighttpd.conf"
}

fe_write_nginx() {
	local d=$1 p
	{
		echo "pid $d/nginx.pid;"
		echo "error_log $d/error.log warn;"
		echo "worker_processes 1;"
		echo "events { worker_connections 512; }"
		echo "http {"
		echo "    access_log off;"
		for p in client_body proxy fastcgi uwsgi scgi; do
			echo "    ${p}_temp_path $d/${p}_temp;"
		done
		echo "    include $d/sticky.conf;"
		echo "}"
	} >"$d/nginx.conf"
}

fe_write_haproxy() {
	local d=$1
	{
		echo "global"
		echo "    pidfile $d/haproxy.pid"
		echo "    log stderr format short local0 notice"
		echo "defaults"
		echo "    log global"
	} >"$d/global.cfg"
}

# fe_owns_port PID PORT: PID itself listens on 127.0.0.1:PORT (not some
# other process that took the port first).
fe_owns_port() {
	ss -ltnpH "sport = :$2" 2>/dev/null | grep -q "pid=$1,"
}

# fe_start NAME [stickyctl routes options]
# The port is picked free, but another process may take it before the
# front-end binds it: then the front-end exits and the whole start is
# retried on another port (up to 5 times).  Ready once the front-end's
# own process listens on it.
fe_start() {
	local name=$1 d try
	shift
	d="$T/$name"
	FE_NAME=$name
	FE_DIR=$d
	mkdir -p "$d"
	[ "$(id -u)" = 0 ] && chown www-data "$d" 2>/dev/null
	local ext=conf
	[ "$name" = haproxy ] && ext=cfg
	for try in 1 2 3 4 5; do
		FE_PORT=${FE_PORT_FIXED:-$(free_port)}
		if ! fe_routes "$name" --bind 127.0.0.1 --port "$FE_PORT" \
			--timeout "$FE_TIMEOUT" "$@" >"$d/sticky.$ext"; then
			t_log "stickyctl routes $name failed"
			return 1
		fi
		"fe_write_$name" "$d"
		case $name in
		apache)
			apache2 -f "$d/httpd.conf" -DFOREGROUND >"$d/stderr.log" 2>&1 & ;;
		lighttpd)
			lighttpd -D -f "$d/lighttpd.conf" >"$d/stderr.log" 2>&1 & ;;
		nginx)
			nginx -p "$d" -c "$d/nginx.conf" -g 'daemon off;' >"$d/stderr.log" 2>&1 & ;;
		haproxy)
			haproxy -db -f "$d/global.cfg" -f "$d/sticky.cfg" >"$d/stderr.log" 2>&1 & ;;
		esac
		FE_PID=$!
		t_track "$FE_PID"
		for _ in $(seq 1 400); do
			kill -0 "$FE_PID" 2>/dev/null || break
			fe_owns_port "$FE_PID" "$FE_PORT" && wait_port "$FE_PORT" 40 && return 0
			sleep 0.05
		done
		if kill -0 "$FE_PID" 2>/dev/null; then
			break # alive but not listening: not a lost race
		fi
		wait "$FE_PID" 2>/dev/null
		t_untrack "$FE_PID"
		t_log "$name exited at start (port $FE_PORT taken?), try $try:"
		cat "$d/stderr.log" "$d/error.log" 2>/dev/null | tail -5 >&2
		[ -n "${FE_PORT_FIXED:-}" ] && break
	done
	t_log "$name did not start:"
	cat "$d/stderr.log" "$d/error.log" 2>/dev/null | tail -20 >&2
	return 1
}

fe_stop() {
	kill -TERM "$FE_PID" 2>/dev/null
	for _ in $(seq 1 100); do kill -0 "$FE_PID" 2>/dev/null || break; sleep 0.05; done
	kill -KILL "$FE_PID" 2>/dev/null
	wait "$FE_PID" 2>/dev/null
	t_untrack "$FE_PID"
}

fe_logs() { # the front-end's logs, for a failing test
	tail -n 15 "$FE_DIR"/*.log >&2 2>/dev/null
}

# fe_get JAR [PATH [CURL ARGS...]]: one request (GET unless the curl
# arguments say otherwise) through the front-end, cookies kept in JAR.
# Sets R_CODE, R_TIME (s), R_COUNT, R_WORKER (from the body), R_HDR_WORKER
# (X-Sticky-Worker) and R_REHOME (the tag of a Set-Cookie, or empty).
fe_get() {
	local out jar=$1 path=${2:-/}
	shift
	[ $# -gt 0 ] && shift
	out=$(curl -s -m 20 -D "$T/fe.hdr" -o "$T/fe.body" \
		-w '%{http_code} %{time_total}' -c "$jar" -b "$jar" "$@" \
		"http://127.0.0.1:$FE_PORT$path")
	R_CODE=${out%% *}
	R_TIME=${out##* }
	R_COUNT=$(sed -n 's/^count=\([0-9]*\) .*/\1/p' "$T/fe.body")
	R_WORKER=$(sed -n 's/^count=[0-9]* worker=\([A-Za-z0-9_-]*\).*/\1/p' "$T/fe.body")
	R_HDR_WORKER=$(tr -d '\r' <"$T/fe.hdr" | sed -n 's/^[Xx]-[Ss]ticky-[Ww]orker: //p')
	R_REHOME=$(tr -d '\r' <"$T/fe.hdr" |
		sed -n "s/^[Ss][Ee][Tt]-[Cc][Oo][Oo][Kk][Ii][Ee]: $COOKIE=[^.;]*\.\([A-Za-z0-9_-]*\).*/\1/p")
}

# The tag in a jar's cookie.
jar_tag() { sed -n "s/.*[[:space:]]${COOKIE}[[:space:]][^.]*\.\(.*\)$/\1/p" "$1" | tail -n 1; }

# (1) Stickiness: 20 requests with one jar, one worker, counts 1..20.
# Leaves the jar in $T/user.jar and its worker in STICKY_OWNER.
fe_sticky() {
	local jar="$T/user.jar" i workers="" bad=0
	rm -f "$jar"
	for i in $(seq 1 20); do
		fe_get "$jar"
		if [ "$R_CODE" != 200 ] || [ "$R_COUNT" != "$i" ]; then
			t_log "request $i: code $R_CODE count '$R_COUNT' worker '$R_WORKER'"
			bad=$((bad + 1))
		fi
		case " $workers " in *" $R_WORKER "*) ;; *) workers="$workers $R_WORKER" ;; esac
	done
	STICKY_OWNER=$(echo $workers)
	check "$FE_NAME: 20 requests with one cookie: counts 1..20" [ "$bad" -eq 0 ]
	check "$FE_NAME: ... all on one worker (${STICKY_OWNER:-none})" \
		[ "$(echo $workers | wc -w)" -eq 1 ]
	check "$FE_NAME: ... X-Sticky-Worker matches the body" [ "$R_HDR_WORKER" = "$R_WORKER" ]
	check "$FE_NAME: ... the cookie carries the worker's tag" \
		[ "$(jar_tag "$jar")" = "$STICKY_OWNER" ]
}

# (2) New users spread: 12 clients without a cookie hit >= 2 workers.
fe_spread() {
	local i seen="" n
	for i in $(seq 1 12); do
		rm -f "$T/new.jar"
		fe_get "$T/new.jar"
		[ "$R_CODE" = 200 ] && seen="$seen
$R_WORKER"
	done
	n=$(echo "$seen" | sed '/^$/d' | sort -u | wc -l)
	t_log "$FE_NAME: 12 new users on: $(echo "$seen" | sed '/^$/d' | sort | uniq -c | tr -s ' \n' ' ')"
	check "$FE_NAME: 12 new users reach $n distinct workers (>= 2)" [ "$n" -ge 2 ]
}

# (3) Failover: SIGSTOP the owner of $T/user.jar (it accepts connections
# but never answers, like a hung worker or a lost host) and go on with the
# same user.  MODE says what the front-end is documented to do:
#   resend    the request that meets the stopped owner waits for the
#             front-end's timeout and is resent to another worker
#   fail-once that request fails (504) and marks the owner down; the
#             next one goes to another worker
#   pinned    no failover: requests fail until the owner is back
# Then SIGCONT the old owner: the user must not snap back to its stale copy.
fe_failover() {
	local mode=$1 jar="$T/user.jar" owner=$STICKY_OWNER opid last=20 i bad
	local new fenced0 limit
	# The owner's last change is in Redis, as it would be for any user
	# not mid-request (async: written after checkpoint_interval).
	fe_wait_clean -o "listen=unix:$T/%t.sock" -o "workers=$STICKY_WORKERS" ||
		t_log "$FE_NAME: the workers still hold unflushed changes"
	opid=$(worker_pid "$owner")
	fenced0=$(log_count fenced)
	fe_sigstop "$opid"
	t_log "$FE_NAME: owner $owner (pid $opid) SIGSTOPped at count $last"
	case $mode in
	fail-once)
		fe_get "$jar"
		check "$FE_NAME: first request to the stopped owner: 504 after ${R_TIME}s (timeout $FE_TIMEOUT s, not resent; documented limit)" \
			test "$R_CODE" = 504
		;;
	pinned)
		limit=""
		for i in 1 2; do
			fe_get "$jar"
			limit="$limit $R_CODE/${R_TIME}s"
			case $R_CODE in 503|504) ;; *) bad=1 ;; esac
		done
		check "$FE_NAME: owner stopped: its user gets$limit, no failover (documented limit)" \
			test -z "$bad"
		fe_sigcont "$opid"
		sleep 0.5
		fe_get "$jar"
		check "$FE_NAME: owner resumed: its user is served by it again ($R_CODE, $R_WORKER)" \
			test "$R_CODE" = 200 -a "$R_WORKER" = "$owner"
		check "$FE_NAME: ... count went on from $last to $R_COUNT, no reset (requests that timed out ran when the worker resumed: at-least-once)" \
			test -n "$R_COUNT" -a "${R_COUNT:-0}" -gt "$last"
		last=${R_COUNT:-0}
		bad=""
		for i in 1 2 3 4 5; do
			fe_get "$jar"
			[ "$R_CODE" = 200 ] && [ "$R_WORKER" = "$owner" ] &&
				[ "$R_COUNT" = $((last + 1)) ] || bad=1
			last=${R_COUNT:-$last}
		done
		check "$FE_NAME: ... 5 more requests stay there, counts +1 each" test -z "$bad"
		return 0
		;;
	esac
	fe_get "$jar"
	new=$R_WORKER
	check "$FE_NAME: owner stopped: request answered $R_CODE by another worker (${new:-none}) after ${R_TIME}s" \
		test "$R_CODE" = 200 -a -n "$new" -a "$new" != "$owner"
	check "$FE_NAME: ... state restored from Redis: count $R_COUNT = $((last + 1)) (no reset)" \
		test "$R_COUNT" = $((last + 1))
	check "$FE_NAME: ... the answer re-homes the cookie (Set-Cookie tag ${R_REHOME:-none})" \
		test -n "$new" -a "$R_REHOME" = "$new"
	last=${R_COUNT:-$last}
	bad=""
	for i in 1 2 3 4 5; do
		fe_get "$jar"
		[ "$R_CODE" = 200 ] && [ "$R_WORKER" = "$new" ] &&
			[ "$R_COUNT" = $((last + 1)) ] || bad="$bad $R_CODE/$R_WORKER/$R_COUNT"
		last=${R_COUNT:-$last}
	done
	check "$FE_NAME: ... 5 more requests stay on $new, counts +1 each${bad:+ (got$bad)}" test -z "$bad"
	fe_sigcont "$opid"
	sleep 0.5
	bad=""
	for i in 1 2 3 4 5; do
		fe_get "$jar"
		[ "$R_CODE" = 200 ] && [ "$R_WORKER" = "$new" ] &&
			[ "$R_COUNT" = $((last + 1)) ] || bad="$bad $R_CODE/$R_WORKER/$R_COUNT"
		last=${R_COUNT:-$last}
	done
	check "$FE_NAME: old owner resumed: no snap-back, 5 requests on $new, counts +1 each (now $last)${bad:+ (got$bad)}" \
		test -z "$bad"
	t_log "$FE_NAME: fenced events in the workers' log: $fenced0 before, $(log_count fenced) after (the old owner's stale copy)"
	return 0
}

# (4) Respawn under load: 6 users (cookie jars), 35 requests each at 50/s
# (210 in all, ~0.7 s); the worker of the first user is SIGKILLed 0.3 s
# in.  The master respawns it on the same socket.  Sets RESPAWN_ERRORS
# (non-200 answers) for the caller to judge; logs what happened.
fe_respawn() {
	local c urls victim pid newpid i
	for c in 1 2 3 4 5 6; do
		rm -f "$T/load$c.jar"
		fe_get "$T/load$c.jar"
	done
	victim=$(jar_tag "$T/load1.jar")
	pid=$(worker_pid "$victim")
	urls=$(for i in $(seq 1 35); do printf 'http://127.0.0.1:%s/ ' "$FE_PORT"; done)
	for c in 1 2 3 4 5 6; do
		# shellcheck disable=SC2086
		curl -s -m 30 --rate 50/s -b "$T/load$c.jar" -c "$T/load$c.jar" \
			-w ' code=%{http_code} t=%{time_total}\n' $urls >"$T/load$c.out" 2>&1 &
		FE_LOADERS="$FE_LOADERS $!"
	done
	sleep 0.3
	kill -KILL "$pid"
	for c in $FE_LOADERS; do wait "$c"; done
	FE_LOADERS=""
	# The replacement answers on the same socket (bounded wait).
	newpid=""
	for i in $(seq 1 40); do
		newpid=$(worker_pid "$victim" 2>/dev/null)
		[ -n "$newpid" ] && [ "$newpid" != "$pid" ] && break
		sleep 0.05
	done
	check "$FE_NAME: worker $victim (pid $pid) SIGKILLed and respawned (pid ${newpid:-none})" \
		test -n "$newpid" -a "$newpid" != "$pid"
	python3 - "$T"/load?.out <<'EOF' >"$T/respawn.txt"
import collections, re, sys
ok = bad = 0
workers = collections.Counter()
lost = []
codes = collections.Counter()
for f in sys.argv[1:]:
    prev = None
    for m in re.finditer(r'(?s)(.*?) code=(\d+) t=([\d.]+)\n', open(f).read()):
        body, code = m.group(1), m.group(2)
        mm = re.search(r'count=(\d+) worker=(\S+)', body)
        if code != '200' or mm is None:
            bad += 1
            codes[code] += 1
            continue
        ok += 1
        c = int(mm.group(1))
        workers[mm.group(2)] += 1
        if prev is not None and c != prev + 1:
            lost.append("%d->%d" % (prev, c))
        prev = c
print(bad, ok, ",".join("%s:%d" % kv for kv in sorted(workers.items())) or "-",
      ",".join("%s:%d" % kv for kv in sorted(codes.items())) or "-",
      ",".join(lost) or "-")
EOF
	read -r RESPAWN_ERRORS RESPAWN_OK RESPAWN_WORKERS RESPAWN_CODES RESPAWN_JUMPS <"$T/respawn.txt"
	t_log "$FE_NAME: respawn under load: $RESPAWN_OK ok, $RESPAWN_ERRORS errors ($RESPAWN_CODES), per worker $RESPAWN_WORKERS, count jumps $RESPAWN_JUMPS"
	[ "$RESPAWN_JUMPS" != "-" ] && t_log "$FE_NAME: count jumps are increments lost in the async checkpoint window (checkpoint_interval), not front-end errors"
	return 0
}

# (5) In-flight crash: the workers restart with checkpoint = sync and the
# test-only fault injection, and one GET and one POST (header
# X-Sticky-Fault) each make their worker exit after the checkpoint is
# written and before it answers.  $1 and $2 say what the front-end is
# documented to do with the GET and with the POST:
#   resend  sent again to another worker, which answers it from the
#           replay record of the request id (applied once: count +1)
#   NNN     that status; the change was saved all the same (at-least-once:
#           the next request sees it)
fe_inflight() {
	local jar="$T/inflight.jar" method expect last i code tag0
	fe_restart_sticky -o checkpoint=sync -o fault_die_after_checkpoint=on ||
		{ fail "$FE_NAME: sticky with fault injection (needs ./configure --enable-fault-injection)"; return 1; }
	rm -f "$jar"
	for i in 1 2 3; do fe_get "$jar"; done
	last=${R_COUNT:-0}
	for method in GET POST; do
		if [ "$method" = GET ]; then expect=$1; else expect=$2; fi
		tag0=$(jar_tag "$jar")
		i=$(log_count fault_injected)
		if [ "$method" = POST ]; then
			fe_get "$jar" / -H 'X-Sticky-Fault: die-after-checkpoint' --data-raw x=1
		else
			fe_get "$jar" / -H 'X-Sticky-Fault: die-after-checkpoint'
		fi
		code=$R_CODE
		if [ "$(log_count fault_injected)" -le "$i" ]; then
			fail "$FE_NAME: $method: the worker did not crash in flight (fault injection)"
			return 1
		fi
		if [ "$expect" = resend ]; then
			check "$FE_NAME: $method whose worker died in flight: resent, $code from ${R_HDR_WORKER:-?}, count $R_COUNT = $((last + 1)) (applied once, by request id)" \
				test "$code" = 200 -a "$R_COUNT" = $((last + 1))
			check "$FE_NAME: $method resent: the cookie names the worker that answered (was $tag0, Set-Cookie ${R_REHOME:-none}, answered by ${R_HDR_WORKER:-?})" \
				test "$(jar_tag "$jar")" = "$R_HDR_WORKER" -a \( "$R_HDR_WORKER" = "$tag0" -o "$R_REHOME" = "$R_HDR_WORKER" \)
		else
			check "$FE_NAME: $method whose worker died in flight: $code (expected $expect, not resent: documented limit)" \
				test "$code" = "$expect"
		fi
		last=$((last + 1))
		sleep 0.3 # the master respawns the dead worker
		fe_get "$jar"
		check "$FE_NAME: ... next request: count $R_COUNT = $((last + 1)) (the change was saved once)" \
			test "$R_CODE" = 200 -a "$R_COUNT" = $((last + 1))
		last=${R_COUNT:-$last}
	done
	t_log "$FE_NAME: replays answered from the request id: $(log_count replayed)"
}

# fe_restart_sticky [flags]: the counter workers again, with other flags.
# start_sticky's readiness checks (socket file, worker_started lines) would
# pass at once on what the first run left, so that log is moved aside and
# the socket files removed: the workers drop privileges before they stop
# and cannot always unlink them.
fe_restart_sticky() {
	local i
	stop_sticky
	for i in $(seq 1 9); do [ -e "$T/sticky.$i.log" ] || break; done
	mv "$T/sticky.log" "$T/sticky.$i.log"
	for i in $(seq 0 $((STICKY_WORKERS - 1))); do rm -f "$T/w$i.sock"; done
	start_sticky counter -w "$STICKY_WORKERS" -r "unix:$REDIS_SOCK" "$@"
}

# (6) Two hosts: a second counter instance stands for host web2 (tags
# web2-w%i, TCP on 127.0.0.1, the same Redis), the recipe lists both
# (--also), and a user of web2 stays served when that whole host goes
# away (master and workers SIGKILLed: connections refused).  MODE is
# resend (another host's worker takes the user over) or pinned (the
# front-end answers 503 while the worker is gone: documented limit).
fe_two_hosts() {
	local mode=$1 port="" i jar="$T/web2.jar" web2pid="" pids tag last bad try
	# web2's workers listen on PORT and PORT+1: picked free, they may be
	# taken before web2 binds them; then its master exits (bind_failed)
	# and web2 is started again on other ports (up to 5 times).
	for try in 1 2 3 4 5; do
		port=$(free_port)
		printf 'workers = 2\nlisten = 127.0.0.1:%s\ntag = web2-w%%i\ncookie_name = %s\n' \
			"$port" "$COOKIE" >"$T/web2.conf"
		: >"$T/web2.log"
		"$EXAMPLES/counter/counter" -c "$T/web2.conf" -r "unix:$REDIS_SOCK" \
			-o worker_header=X-Sticky-Worker -o status_path=/sticky-status $(secret_flag) \
			>>"$T/web2.log" 2>&1 &
		web2pid=$!
		t_track "$web2pid"
		for _ in $(seq 1 400); do
			kill -0 "$web2pid" 2>/dev/null || break
			[ "$(grep -c 'event=worker_started' "$T/web2.log")" -ge 2 ] && break
			sleep 0.05
		done
		kill -0 "$web2pid" 2>/dev/null && break
		wait "$web2pid" 2>/dev/null
		t_untrack "$web2pid"
		t_log "$FE_NAME: two hosts: web2 exited at start, try $try: $(grep -o 'event=bind_failed.*' "$T/web2.log")"
		web2pid=""
	done
	[ -n "$web2pid" ] && fe_owns_port "$web2pid" "$port" &&
		fe_owns_port "$web2pid" "$((port + 1))" && wait_port "$port" && wait_port "$((port + 1))" ||
		{ fail "$FE_NAME: two hosts: web2 did not start"; return 1; }
	fe_stop
	fe_start "$FE_NAME" --also "$T/web2.conf" ||
		{ fail "$FE_NAME: two hosts: the recipe with --also does not start"; return 1; }
	tag=""
	for i in $(seq 1 15); do
		rm -f "$jar"
		fe_get "$jar"
		case $R_WORKER in web2-*) tag=$R_WORKER; break ;; esac
	done
	check "$FE_NAME: two hosts: new users reach web2 (${tag:-none} after $i)" test -n "$tag"
	[ -n "$tag" ] || return 1
	for i in 2 3 4 5; do fe_get "$jar"; done
	check "$FE_NAME: two hosts: a user stays on $tag over TCP (count $R_COUNT)" \
		test "$R_CODE" = 200 -a "$R_WORKER" = "$tag" -a "$R_COUNT" = 5
	last=5
	# The last change is checkpointed (async, after checkpoint_interval).
	fe_wait_clean -c "$T/web2.conf" || t_log "$FE_NAME: web2 still holds unflushed changes"
	pids=$("$STICKYCTL" -c "$T/web2.conf" -o status_path=/sticky-status status json web2-w0 2>/dev/null |
		python3 -c 'import json,sys; print(" ".join(str(w["pid"]) for w in json.load(sys.stdin)["workers"]))')
	kill -KILL "$web2pid" $pids 2>/dev/null
	wait "$web2pid" 2>/dev/null
	t_untrack "$web2pid"
	t_log "$FE_NAME: host web2 gone (master $web2pid and workers $pids SIGKILLed)"
	fe_get "$jar"
	if [ "$mode" = pinned ]; then
		check "$FE_NAME: two hosts: web2 gone: its user gets $R_CODE (503 expected, no failover: documented limit)" \
			test "$R_CODE" = 503
		fe_one_host
		return
	fi
	check "$FE_NAME: two hosts: web2 gone: answered $R_CODE by ${R_WORKER:-none} on this host, count $R_COUNT = $((last + 1)) (restored from Redis)" \
		test "$R_CODE" = 200 -a "$R_COUNT" = $((last + 1)) -a "${R_WORKER#web2-}" = "$R_WORKER"
	check "$FE_NAME: ... cookie re-homed to ${R_REHOME:-none}" test -n "$R_WORKER" -a "$R_REHOME" = "$R_WORKER"
	last=${R_COUNT:-$last}
	tag=$R_WORKER
	bad=""
	for i in 1 2 3; do
		fe_get "$jar"
		[ "$R_CODE" = 200 ] && [ "$R_WORKER" = "$tag" ] &&
			[ "$R_COUNT" = $((last + 1)) ] || bad="$bad $R_CODE/$R_WORKER/$R_COUNT"
		last=${R_COUNT:-$last}
	done
	check "$FE_NAME: ... and stays on $tag${bad:+ (got$bad)}" test -z "$bad"
	fe_one_host
}

# Back to the recipe of this host alone.
fe_one_host() {
	fe_stop
	fe_start "$FE_NAME" || fail "$FE_NAME: restart with the one-host recipe"
}

# fe_wait_clean STICKYCTL-OPTIONS: until no worker of that instance holds
# an unflushed change (bounded, 10 s).
fe_wait_clean() {
	local n
	for _ in $(seq 1 200); do
		n=$("$STICKYCTL" "$@" -o status_path=/sticky-status status json 2>/dev/null |
			python3 -c 'import json,sys; print(sum(w["dirty"] for w in json.load(sys.stdin)["workers"]))' 2>/dev/null)
		[ "$n" = 0 ] && return 0
		sleep 0.05
	done
	return 1
}

# Counters of the workers' log, for before/after comparisons.
log_count() { grep -c "event=$1" "$T/sticky.log" 2>/dev/null || true; }
