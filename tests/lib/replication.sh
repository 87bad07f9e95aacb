# replication.sh: a Redis master, its replica and three Sentinels, for the
# Sentinel and replica tests and the cluster harness.  Source after
# procs.sh (t_setup first: everything lives in $T, every pid is tracked).
#
#   rep_start [HOST]     master + replica (REP_REPLICAS of them, default
#                        1) + 3 Sentinels on HOST (default 127.0.0.1);
#                        sets REP_HOST, REP_MPORT, REP_RPORT (the first
#                        replica), REP_RPORTS, REP_RPIDS,
#                        REP_SPORTS ("p1 p2 p3"), REP_MPID, REP_RPID,
#                        REP_SPIDS, REP_URL (sentinel://.../$REP_NAME)
#   rep_master           prints the master's "host port" as Sentinel says
#   rep_wait_master H P  until every Sentinel names H:P (bounded)
#   rep_kill_master      SIGKILL the master; sets REP_OLD_MPID
#   rep_cli PORT ARGS    redis-cli on $REP_HOST:PORT
#
# Ports: free_port cannot reserve a port (a Sentinel announces the port it
# was given, so port 0 is no option): if any process fails to bind, every
# one of them is stopped and the whole start is retried with new ports.
# Sentinels notice a dead master after REP_DOWN_MS (default 500) and give
# up a failover after REP_FAILOVER_MS (default 3000): short, for tests.
#
# Limits: RUN_IN (e.g. "ip netns exec NS") prefixes every command when
# the harness runs them in a network namespace; redis-cli waits are
# bounded.

: "${REP_NAME:=stickym}"
: "${REP_DOWN_MS:=500}"
: "${REP_FAILOVER_MS:=3000}"
: "${REP_REPLICAS:=1}"
: "${RUN_IN:=}"

rep_cli() {
	local port=$1
	shift
	$RUN_IN redis-cli -h "$REP_HOST" -p "$port" "$@" 2>/dev/null
}

# _rep_up PORT: until it answers PING (bounded, ~5 s); 1 if it died.
_rep_up() {
	local pid=$2
	for _ in $(seq 1 100); do
		[ "$(rep_cli "$1" ping)" = PONG ] && return 0
		kill -0 "$pid" 2>/dev/null || return 1
		sleep 0.05
	done
	return 1
}

_rep_stop_all() {
	local p
	for p in $REP_MPID $REP_RPIDS $REP_SPIDS; do
		kill -KILL "$p" 2>/dev/null
		wait "$p" 2>/dev/null
		t_untrack "$p"
	done
	REP_MPID="" REP_RPID="" REP_RPIDS="" REP_SPIDS=""
}

declare -A REP_PID_OF # port -> pid of the redis-server there

_rep_redis() { # NAME PORT [args]: sets REP_LAST
	# Protected mode refuses non-loopback clients without a password: the
	# only other addresses used are inside the harness's own namespaces.
	$RUN_IN redis-server --bind "$REP_HOST" --port "$2" --save '' \
		--protected-mode no \
		--appendonly no --dir "$T/$1" --logfile "$T/$1/redis.log" \
		"${@:3}" >/dev/null 2>&1 &
	REP_LAST=$!
	REP_PID_OF[$2]=$REP_LAST
	t_track "$REP_LAST"
}

_rep_try() {
	local i port pid d
	# REP_FIXED="M S1 S2 S3": fixed ports (in a private network namespace);
	# the replicas get M+1, M+2...
	set -- $REP_FIXED
	REP_MPORT=${1:-$(free_port)} REP_RPORTS="" REP_RPIDS=""
	REP_SPORTS="${2:-$(free_port)} ${3:-$(free_port)} ${4:-$(free_port)}"
	mkdir -p "$T/rmaster"
	_rep_redis rmaster "$REP_MPORT"
	REP_MPID=$REP_LAST
	_rep_up "$REP_MPORT" "$REP_MPID" || return 1
	for i in $(seq 1 "$REP_REPLICAS"); do
		if [ -n "$REP_FIXED" ]; then port=$((REP_MPORT + i)); else port=$(free_port); fi
		mkdir -p "$T/rreplica$i"
		_rep_redis "rreplica$i" "$port" --replicaof "$REP_HOST" "$REP_MPORT"
		REP_RPORTS="$REP_RPORTS $port" REP_RPIDS="$REP_RPIDS $REP_LAST"
		_rep_up "$port" "$REP_LAST" || return 1
	done
	REP_RPORTS=${REP_RPORTS# } REP_RPIDS=${REP_RPIDS# }
	REP_RPORT=${REP_RPORTS%% *} REP_RPID=${REP_RPIDS%% *}
	REP_ALL_PORTS="$REP_MPORT $REP_RPORTS"
	i=0
	for port in $REP_SPORTS; do
		i=$((i + 1))
		d="$T/sentinel$i"
		mkdir -p "$d"
		cat >"$d/sentinel.conf" <<EOC
bind $REP_HOST
port $port
protected-mode no
dir $d
logfile $d/sentinel.log
sentinel monitor $REP_NAME $REP_HOST $REP_MPORT 2
sentinel down-after-milliseconds $REP_NAME $REP_DOWN_MS
sentinel failover-timeout $REP_NAME $REP_FAILOVER_MS
sentinel parallel-syncs $REP_NAME 1
EOC
		$RUN_IN redis-server "$d/sentinel.conf" --sentinel >/dev/null 2>&1 &
		pid=$!
		t_track "$pid"
		REP_SPIDS="$REP_SPIDS $pid"
		_rep_up "$port" "$pid" || return 1
	done
	return 0
}

rep_start() {
	REP_HOST=${1:-127.0.0.1}
	local try
	for try in 1 2 3; do
		if _rep_try; then
			REP_URL="sentinel://"
			for p in $REP_SPORTS; do REP_URL="$REP_URL$REP_HOST:$p,"; done
			REP_URL="${REP_URL%,}/$REP_NAME"
			rep_wait_ready && return 0
			t_log "replication: Sentinels did not see each other and the replica"
		fi
		t_log "replication: start $try failed (a port taken?), retrying"
		_rep_stop_all
	done
	return 1
}

# Every Sentinel knows the replica and the two other Sentinels, and the
# replica is in sync: only then can a failover happen (bounded, ~15 s).
rep_wait_ready() {
	local port ok
	for _ in $(seq 1 300); do
		ok=1
		for port in $REP_SPORTS; do
			[ "$(rep_cli "$port" sentinel replicas "$REP_NAME" | grep -c '^ip$')" -ge "$REP_REPLICAS" ] || ok=0
			[ "$(rep_cli "$port" sentinel sentinels "$REP_NAME" | grep -c '^ip$')" -ge 2 ] || ok=0
		done
		for port in $REP_RPORTS; do
			rep_cli "$port" info replication | grep -q 'master_link_status:up' || ok=0
		done
		[ $ok = 1 ] && return 0
		sleep 0.05
	done
	return 1
}

rep_master() {
	rep_cli "${REP_SPORTS%% *}" sentinel get-master-addr-by-name "$REP_NAME" | tr '\n' ' '
}

# rep_new_master [tries x 10ms]: until every Sentinel names another
# master than REP_MPORT, the same one; sets REP_NEW_MPORT.
rep_new_master() {
	local port m first
	for _ in $(seq 1 "${1:-1000}"); do
		first=""
		for port in $REP_SPORTS; do
			m=$(rep_cli "$port" sentinel get-master-addr-by-name "$REP_NAME" | tr '\n' ' ')
			[ -z "$first" ] && first=$m
			[ "$m" = "$first" ] || first=none
		done
		case $first in
		none|"$REP_HOST $REP_MPORT "|"") ;;
		*) REP_NEW_MPORT=${first#* }; REP_NEW_MPORT=${REP_NEW_MPORT% }; return 0 ;;
		esac
		sleep 0.01
	done
	return 1
}

# rep_wait_master HOST PORT [tries x 10ms]: every Sentinel names it.
rep_wait_master() {
	local port ok
	for _ in $(seq 1 "${3:-1000}"); do
		ok=1
		for port in $REP_SPORTS; do
			[ "$(rep_cli "$port" sentinel get-master-addr-by-name "$REP_NAME" | tr '\n' ' ')" = "$1 $2 " ] || ok=0
		done
		[ $ok = 1 ] && return 0
		sleep 0.01
	done
	return 1
}

rep_kill_master() {
	local pid=${REP_PID_OF[$REP_MPORT]}
	kill -KILL "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	t_untrack "$pid"
	REP_OLD_MPID=$pid
	REP_MPID=""
}

# rep_sync_roles: REP_MPORT, REP_MPID, REP_RPORTS from what the first
# Sentinel says now (after a failover, planned or not).
rep_sync_roles() {
	local m
	m=$(rep_master)
	m=${m#* }
	m=${m% }
	[ -n "$m" ] || return 1
	REP_MPORT=$m
	REP_MPID=${REP_PID_OF[$m]}
	REP_RPORTS=$(echo $REP_ALL_PORTS | tr ' ' '\n' | grep -vx "$m" | tr '\n' ' ')
	REP_RPORTS=${REP_RPORTS% }
	REP_RPORT=${REP_RPORTS%% *}
}

# rep_restart_old_master: after rep_kill_master and rep_new_master, the
# old master comes back empty on its port (Sentinel makes it a replica of
# the new one, as a restarted server with its stale config would be);
# REP_MPORT, REP_RPORTS and REP_MPID follow the new roles.
rep_restart_old_master() {
	local old=$REP_MPORT
	_rep_redis rmaster "$old"
	REP_MPORT=$REP_NEW_MPORT
	REP_MPID=${REP_PID_OF[$REP_MPORT]}
	REP_RPORTS=$(echo $REP_RPORTS $old | tr ' ' '\n' | grep -vx "$REP_MPORT" | tr '\n' ' ')
	REP_RPORTS=${REP_RPORTS% }
	REP_RPORT=${REP_RPORTS%% *}
}
