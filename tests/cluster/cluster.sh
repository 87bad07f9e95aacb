#!/bin/bash
# cluster.sh: three sticky hosts, a replicated Redis under Sentinel, and
# HAProxy and Apache in front, on one machine; failure scenarios under
# load with per-user counters, and a table of what each one cost.
#
#   tests/cluster/cluster.sh [--short] [SCENARIO...]
#     SCENARIO: sync:host_kill async:host_kill sync:host_cut async:host_cut
#               sync:redis_kill async:redis_kill sync:redis_empty
#               async:redis_empty (default: all; --short: make check's set)
#
# Layout.  As root, four network namespaces (private: nothing of this is
# visible outside them): "hub" holds a bridge with 10.200.0.1/24, the
# Redis master (:6379), two replicas (:6380, :6381), three Sentinels
# (:26379-26381), HAProxy (:8080), Apache (:8081) and the load; hosts
# h1..h3 are joined to the bridge by veth pairs and run one sticky master
# each (counter example, workers h<N>-w0, h<N>-w1 on 10.200.0.1<N>:9000,
# 9001).  Without root (or without `ip netns`) everything runs on
# loopback: the hub on 127.0.0.1, host N on 127.0.N.1, free ports, and a
# host is cut off by SIGSTOP instead of taking its link down.
#
# Front-ends: `stickyctl -c h1.conf routes haproxy|apache --also h2.conf
# --also h3.conf`, used as generated (frontends.sh writes the wrapper).
#
# Load: tests/cluster/load.py, USERS users (half through each front-end),
# a counter each, request ids, resent until a 200.  Every scenario starts
# the load, fires its event after LEAD seconds, repairs what it broke, and
# reports (tests/cluster/report.py): ttfg_ms (worst affected user, from
# its next request to its next 200), errors, lost and double-applied
# updates.  Checks: host_kill ttfg < 1000 ms, redis_kill: workers follow
# within 2 s of the promotion; sync loses nothing; async loses at most
# one flush window per worker; nothing applied twice by a front-end resend
# (double counts client retries of a request that failed after it ran:
# at-least-once, see docs/operations.md).
#
# Limits: needs redis-server (with Sentinel), haproxy, apache2, python3;
# every pid is tracked and stopped, every namespace deleted, on any exit.
# make check runs the sync scenarios whose checks count, not time:
# 0 acknowledged updates lost (the async loss windows are timings, and a
# loaded machine stretches them: check-cluster runs those).
: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
. "$top_srcdir/tests/lib/procs.sh"
. "$top_srcdir/tests/lib/replication.sh"
. "$top_srcdir/tests/integration/frontends.sh"

SHORT=""
[ "${1:-}" = --short ] && { SHORT=1; shift; }
SCENARIOS=${*:-}
if [ -z "$SCENARIOS" ]; then
	if [ -n "$SHORT" ]; then
		SCENARIOS="sync:host_kill sync:host_cut sync:redis_kill sync:redis_empty"
	else
		SCENARIOS="sync:host_kill async:host_kill sync:host_cut async:host_cut sync:redis_kill async:redis_kill sync:redis_empty async:redis_empty"
	fi
fi
: "${USERS:=24}"
: "${LEAD:=2}"
: "${DURATION:=$([ -n "$SHORT" ] && echo 6 || echo 10)}"
: "${INTERVAL:=100}" # checkpoint_interval (async flush window), ms
# CLUSTER_CONF: more lines for every host's stickyd.conf (e.g. fencing = strict)
REP_REPLICAS=2
COOKIE=STICKYSID
ms() { date +%s%3N; }

for c in redis-server haproxy apache2 python3; do
	command -v "$c" >/dev/null 2>&1 || { echo "# $c missing: SKIP"; exit 77; }
done

NETNS=""
NS=stk$$
cl_cleanup() {
	local h
	# A stopped host must be resumed to be stopped.
	for h in 1 2 3; do cl_host_cont "$h" 2>/dev/null; done
	t_cleanup
	if [ -n "$NETNS" ]; then
		for h in h1 h2 h3 hub; do ip netns del "$NS-$h" 2>/dev/null; done
	fi
}
t_setup
trap cl_cleanup EXIT

# ---- the network --------------------------------------------------------
if [ "$(id -u)" = 0 ] && [ -z "${CLUSTER_LOOPBACK:-}" ] &&
	ip netns add "$NS-hub" 2>/dev/null; then
	NETNS=1
	for h in 1 2 3; do ip netns add "$NS-h$h" || exit 1; done
	ip -n "$NS-hub" link set lo up
	ip -n "$NS-hub" link add br0 type bridge
	ip -n "$NS-hub" addr add 10.200.0.1/24 dev br0
	ip -n "$NS-hub" link set br0 up
	for h in 1 2 3; do
		ip -n "$NS-hub" link add "v$h" type veth peer name eth0 netns "$NS-h$h"
		ip -n "$NS-hub" link set "v$h" master br0 up
		ip -n "$NS-h$h" link set lo up
		ip -n "$NS-h$h" addr add "10.200.0.1$h/24" dev eth0
		ip -n "$NS-h$h" link set eth0 up
	done
	HUB=10.200.0.1
	RUN_HUB="ip netns exec $NS-hub"
	host_ip() { echo "10.200.0.1$1"; }
	run_host() { echo "ip netns exec $NS-h$1"; }
	REP_FIXED="6379 26379 26380 26381"
	HA_PORT=8080 AP_PORT=8081 WPORT=9000
else
	HUB=127.0.0.1
	RUN_HUB=""
	host_ip() { echo "127.0.$1.1"; }
	run_host() { echo ""; }
	HA_PORT=$(free_port) AP_PORT=$(free_port) WPORT=$(free_port)
fi
t_log "network: $([ -n "$NETNS" ] && echo "namespaces $NS-{hub,h1,h2,h3}, 10.200.0.0/24" || echo "loopback 127.0.N.1")"

# in_hub CMD...: run in the hub's namespace (or here).
in_hub() { $RUN_HUB "$@"; }
# tcp_up IP PORT: it accepts, seen from the hub (bounded, ~10 s).
tcp_up() {
	for _ in $(seq 1 200); do
		in_hub bash -c "exec 3<>/dev/tcp/$1/$2" 2>/dev/null && return 0
		sleep 0.05
	done
	return 1
}

RUN_IN=$RUN_HUB
rep_start "$HUB" || { fail "Redis master, 2 replicas, 3 Sentinels"; t_done; exit 1; }
RUN_IN=$RUN_HUB
ok "Redis master :$REP_MPORT, replicas :${REP_RPORTS// /,:}, Sentinels :${REP_SPORTS// /,:} on $HUB"

# ---- the hosts ----------------------------------------------------------
declare -A HPID
cl_host_conf() { # N MODE
	local h=$1 mode=$2 d="$T/h$1"
	mkdir -p "$d"
	chmod 777 "$d"
	cat >"$d/sticky.conf" <<EOC
workers = 2
listen = $(host_ip "$h"):$WPORT
tag = h$h-w%i
cookie_name = $COOKIE
redis = $REP_URL
checkpoint = $mode
checkpoint_interval = $INTERVAL
checkpoint_replicas = $([ "$mode" = sync ] && echo 1 || echo 0)
checkpoint_replicas_timeout = 500
redis_timeout = 300
redis_connect_timeout = 200
worker_header = X-Sticky-Worker
status_path = /sticky-status
pid_file = $d/sticky.pid
${CLUSTER_CONF:-}
EOC
}
cl_host_start() { # N
	local h=$1
	$(run_host "$h") "$EXAMPLES/counter/counter" -c "$T/h$h/sticky.conf" \
		>>"$T/h$h/sticky.log" 2>&1 &
	HPID[$h]=$!
	disown "${HPID[$h]}" # no "Killed" line from bash when a scenario kills it
	t_track "${HPID[$h]}"
	tcp_up "$(host_ip "$h")" "$WPORT" && tcp_up "$(host_ip "$h")" $((WPORT + 1))
}
cl_host_pids() { # N: master and workers
	echo "${HPID[$1]} $(ps -o pid= --ppid "${HPID[$1]}" 2>/dev/null | tr '\n' ' ')"
}
cl_host_stop() {
	local p
	[ -n "${HPID[$1]:-}" ] || return 0
	kill -TERM "${HPID[$1]}" 2>/dev/null
	for _ in $(seq 1 100); do kill -0 "${HPID[$1]}" 2>/dev/null || break; sleep 0.05; done
	for p in $(cl_host_pids "$1"); do kill -KILL "$p" 2>/dev/null; done
	t_untrack "${HPID[$1]}"
	HPID[$1]=""
}
STOPPED=""
cl_host_stopsig() { # N: SIGSTOP master and workers
	STOPPED="$STOPPED $(cl_host_pids "$1")"
	kill -STOP $(cl_host_pids "$1")
}
cl_host_cont() {
	[ -n "$STOPPED" ] && kill -CONT $STOPPED 2>/dev/null
	STOPPED=""
}

# ---- the front-ends -----------------------------------------------------
cl_fronts_start() {
	local fe port d
	for fe in haproxy apache; do
		d="$T/$fe"
		mkdir -p "$d"
		[ "$(id -u)" = 0 ] && chown www-data "$d" 2>/dev/null
		port=$HA_PORT
		[ $fe = apache ] && port=$AP_PORT
		"$STICKYCTL" -c "$T/h1/sticky.conf" routes "$fe" --also "$T/h2/sticky.conf" \
			--also "$T/h3/sticky.conf" --bind "$HUB" --port "$port" --timeout 1 \
			>"$d/sticky.$([ $fe = haproxy ] && echo cfg || echo conf)" 2>"$d/routes.err" ||
			{ t_log "routes $fe: $(cat "$d/routes.err")"; return 1; }
		"fe_write_$fe" "$d"
		# Started here, not through a function: $! must be the server.
		if [ $fe = haproxy ]; then
			$RUN_HUB haproxy -db -f "$d/global.cfg" -f "$d/sticky.cfg" >"$d/stderr.log" 2>&1 &
		else
			$RUN_HUB apache2 -f "$d/httpd.conf" -DFOREGROUND >"$d/stderr.log" 2>&1 &
		fi
		t_track $!
		tcp_up "$HUB" "$port" || { t_log "$fe did not start: $(tail -5 "$d/stderr.log")"; return 1; }
	done
}

# Until new users through HAProxy reach every host (it may hold a
# restarted host down for a while); bounded.  Not Apache: each of its
# processes balances new users on its own, from the first member, so
# which hosts a few new users reach says little.
cl_fronts_ready() {
	local port seen i w
	for port in $HA_PORT; do
		seen=""
		for i in $(seq 1 100); do
			w=$($RUN_HUB curl -s -m 2 -o /dev/null -D - "http://$HUB:$port/" 2>/dev/null |
				tr -d '\r' | sed -n 's/^[Xx]-[Ss]ticky-[Ww]orker: \(h[0-9]\)-.*/\1/p')
			case " $seen " in *" $w "*) ;; *) seen="$seen $w" ;; esac
			[ "$(echo $seen | wc -w)" -ge 3 ] && break
			sleep 0.05
		done
		[ "$(echo $seen | wc -w)" -ge 3 ] || { t_log "front :$port reaches only$seen"; return 1; }
	done
}

# ---- scenarios ----------------------------------------------------------
MODE=""
FRONTS_UP=""
cl_mode() { # restart every host in MODE (sync|async)
	local h
	[ "$MODE" = "$1" ] && return 0
	for h in 1 2 3; do cl_host_stop "$h"; done
	for h in 1 2 3; do
		cl_host_conf "$h" "$1"
		cl_host_start "$h" || { fail "host h$h starts ($1)"; return 1; }
	done
	MODE=$1
	[ -z "$FRONTS_UP" ] || cl_fronts_ready || fail "front-ends reach every host ($1)"
}

# The host whose worker serves most users now: h1 unless told.
load_start() { # NAME
	LOG="$T/load-$1.log"
	$RUN_HUB python3 "$top_srcdir/tests/cluster/load.py" --url "http://$HUB:$HA_PORT/" \
		--url "http://$HUB:$AP_PORT/" --users "$USERS" --duration "$DURATION" \
		--run "$1" --out "$LOG" &
	LOADPID=$!
	t_track $LOADPID
	sleep "$LEAD"
}
load_wait() {
	wait "$LOADPID"
	t_untrack "$LOADPID"
}
ROWS=""
row() { # NAME EVENT_MS PREFIX [FROM_MS]: appends the table row, sets R_*
	local r
	r=$(python3 "$top_srcdir/tests/cluster/report.py" "$LOG" "$2" "$3" "$1" "${4:-$2}")
	ROWS="$ROWS$r
"
	set -- $r
	R_TTFG=$2 R_ERR=$3 R_LOST=$4 R_WIN=$5 R_DOUBLE=$6 R_USERS=$8
	t_log "$r"
}
is_num() { case $1 in ''|*[!0-9]*) return 1 ;; esac; }

sc_host_kill() { # MODE
	local mode=$1 te pids
	cl_mode "$mode" || return 1
	load_start "$mode:host_kill"
	pids=$(cl_host_pids 1) # first: ps takes a while on a busy machine
	te=$(ms)
	kill -KILL $pids
	load_wait
	t_untrack "${HPID[1]}"; HPID[1]=""
	row "$mode:host_kill(h1)" "$te" h1-
	check "$mode host_kill: h1's users answered by other hosts within 1 s of their next request (worst $R_TTFG ms)" \
		eval 'is_num "$R_TTFG" && [ "$R_TTFG" -lt 1000 ]'
	if [ "$mode" = sync ]; then
		check "$mode host_kill: 0 acknowledged updates lost ($R_LOST)" [ "$R_LOST" = 0 ]
	else
		check "$mode host_kill: lost $R_LOST updates, each user at most one flush window ($R_WIN ms <= 2 x $INTERVAL + 200)" \
			[ "$R_WIN" -le $((2 * INTERVAL + 200)) ]
	fi
	check "$mode host_kill: h1 had users ($R_USERS)" [ "$R_USERS" -gt 0 ]
	cl_host_start 1 || fail "h1 restarts"
	cl_fronts_ready || fail "front-ends reach h1 again"
}

sc_host_cut() { # MODE
	local mode=$1 te h2f0 pids
	cl_mode "$mode" || return 1
	h2f0=$(grep -cE 'event=(fenced|taken_over)' "$T/h2/sticky.log")
	load_start "$mode:host_cut"
	[ -n "$NETNS" ] || pids=$(cl_host_pids 2)
	te=$(ms)
	if [ -n "$NETNS" ]; then
		ip -n "$NS-h2" link set eth0 down
	else
		STOPPED="$pids"
		kill -STOP $pids
	fi
	sleep 3
	if [ -n "$NETNS" ]; then
		ip -n "$NS-h2" link set eth0 up
	else
		cl_host_cont
	fi
	load_wait
	row "$mode:host_cut(h2,3s)" "$te" h2-
	check "$mode host_cut: h2's $R_USERS users served elsewhere (worst $R_TTFG ms)" \
		eval 'is_num "$R_TTFG" && [ "$R_USERS" -gt 0 ]'
	cl_fronts_ready || fail "front-ends reach h2 again"
	if [ "$mode" = sync ]; then
		check "$mode host_cut: no snap-back: 0 acknowledged updates lost ($R_LOST)" [ "$R_LOST" = 0 ]
	else
		# What h2 had not flushed when it was cut off is lost, as in a
		# crash; a snap-back to its stale copies would lose far more.
		check "$mode host_cut: no snap-back: lost $R_LOST updates, each user at most one flush window ($R_WIN ms <= 2 x $INTERVAL + 200)" \
			[ "$R_WIN" -le $((2 * INTERVAL + 200)) ]
	fi
	t_log "$mode host_cut: h2 fenced or dropped $(( $(grep -cE 'event=(fenced|taken_over)' "$T/h2/sticky.log") - h2f0 )) stale copies after it came back"
}

sc_redis_kill() { # MODE
	local mode=$1 te tp
	cl_mode "$mode" || return 1
	load_start "$mode:redis_kill"
	te=$(ms)
	rep_kill_master
	rep_new_master 1500 || fail "$mode redis_kill: Sentinel promotes a replica"
	tp=$(ms)
	load_wait
	row "$mode:redis_kill" "$tp" "" "$te"
	t_log "$mode redis_kill: promotion $((tp - te)) ms after the kill"
	check "$mode redis_kill: workers follow within 2 s of the promotion (worst user $R_TTFG ms)" \
		eval 'is_num "$R_TTFG" && [ "$R_TTFG" -lt 2000 ]'
	if [ "$mode" = sync ]; then
		check "$mode redis_kill: checkpoint_replicas = 1 loses 0 acknowledged ($R_LOST)" [ "$R_LOST" = 0 ]
	else
		check "$mode redis_kill: lost $R_LOST updates, each user at most one flush window ($R_WIN ms <= 2 x $INTERVAL + 200)" \
			[ "$R_WIN" -le $((2 * INTERVAL + 200)) ]
	fi
	# The old master comes back (empty) and Sentinel makes it a replica.
	rep_restart_old_master
	rep_wait_ready || t_log "replication not ready again"
	rep_sync_roles
}

sc_redis_empty() { # MODE
	local mode=$1 te
	cl_mode "$mode" || return 1
	load_start "$mode:redis_empty"
	te=$(ms)
	# Restarted without persistence before Sentinel notices: the replicas
	# resync from an empty master.
	rep_kill_master
	_rep_redis rmaster "$REP_MPORT"
	REP_MPID=$REP_LAST
	sleep 1
	rep_sync_roles
	t_log "$mode redis_empty: keys on the master 1 s after its restart: $(rep_cli "$REP_MPORT" dbsize) (the workers rewrite what they hold)"
	load_wait
	row "$mode:redis_empty" "$te" ""
	check "$mode redis_empty: 0 acknowledged updates lost ($R_LOST: the workers re-claim what Redis forgot)" \
		[ "$R_LOST" = 0 ]
	rep_sync_roles
	rep_wait_ready || t_log "replication not ready again"
}

cl_mode sync || { t_done; exit 1; }
cl_fronts_start || { fail "HAProxy and Apache start with the --also recipes"; t_done; exit 1; }
FRONTS_UP=1
cl_fronts_ready || fail "front-ends reach every host"
ok "HAProxy :$HA_PORT and Apache :$AP_PORT with stickyctl routes --also"
for s in $SCENARIOS; do
	"sc_${s#*:}" "${s%%:*}"
done
printf '\n%-28s %8s %7s %5s %9s %6s %7s %5s\n' scenario ttfg_ms errors lost lost_ms double ok users
printf '%s' "$ROWS"
echo
t_done
