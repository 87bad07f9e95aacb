#!/bin/bash
# t_reload.sh: SIGHUP under steady load.  The master re-reads the config
# file and replaces the workers one at a time; each old worker stops
# accepting, finishes its requests, flushes its dirty sessions and exits,
# and its successor inherits the socket.  Checkpoints are async with a
# 60 s interval, so the reload's own flush is the only thing that can
# carry a user's state to the successor: zero failed requests and zero
# lost updates (fcgi-load --check-counter) prove both.  Two reloads run
# back to back during one load, one with kept-alive connections; a config
# that does not parse is refused and the old workers stay.
#
# Limits: 2 workers, 40 users, 8 connections in flight, 2 x 7 s of load;
# unix sockets under $T; every wait is bounded.
. "$top_srcdir/tests/lib/procs.sh"
t_setup
STICKY_WORKERS=2
start_redis || { fail "redis starts"; t_done; exit 1; }
conf() { printf 'checkpoint = async\ncheckpoint_interval = 60000\ncookie_path = %s\n' "$1" >"$T/sticky.conf"; }
conf /
start_sticky counter -w 2 -c "$T/sticky.conf" -r "unix:$REDIS_SOCK" ||
	{ fail "daemon starts"; t_done; exit 1; }
ctl() {
	"$STICKYCTL" -o "listen=unix:$T/%t.sock" -o workers=2 \
		-o status_path=/sticky-status "$@"
}
pids() { ctl status json w0 | python3 -c 'import json,sys; print(" ".join(str(w["pid"]) for w in json.load(sys.stdin)["workers"]))'; }
# wait_done N: until the log shows N reload_done lines (bounded, 15 s).
wait_done() {
	for _ in $(seq 1 300); do
		[ "$(grep -c 'event=reload_done' "$T/sticky.log")" -ge "$1" ] && return 0
		sleep 0.05
	done
	return 1
}
field() { tr '\t' '\n' <"$1" | sed -n "s/^$2=//p"; }

# run_load NAME [fcgi-load flags]: 7 s of load with two reloads in it.
run_load() {
	local name=$1 n0
	shift
	n0=$(grep -c 'event=reload_done' "$T/sticky.log")
	"$FCGI_LOAD" -a "unix:$T/w0.sock,unix:$T/w1.sock" -u 40 -c 8 -d 7 \
		--check-counter --worker-header X-Sticky-Worker --tsv "$@" \
		>"$T/$name.tsv" 2>"$T/$name.err" &
	LOAD=$!
	t_track $LOAD
	sleep 1.5
	BEFORE=$(pids)
	conf "/$name-1"
	kill -HUP "$STICKY_PID"
	wait_done $((n0 + 1)) || fail "$name: first reload finishes"
	MID=$(pids)
	sleep 1
	conf "/$name-2"
	kill -HUP "$STICKY_PID"
	wait_done $((n0 + 2)) || fail "$name: second reload finishes"
	AFTER=$(pids)
	wait $LOAD
	LOAD_RC=$?
	t_untrack $LOAD
	t_log "$name: $(cat "$T/$name.tsv")"
	t_log "$name: pids $BEFORE -> $MID -> $AFTER"
}

check_load() {
	local name=$1 f=$T/$1.tsv
	check "$name: fcgi-load exits 0" [ "$LOAD_RC" = 0 ]
	check "$name: $(field "$f" requests) requests, $(field "$f" errors) failed" \
		eval '[ "$(field "$f" errors)" = 0 ] && [ "$(field "$f" requests)" -gt 300 ]'
	check "$name: no refused, reset or timed-out request (connect=$(field "$f" connect) closed=$(field "$f" closed) timeout=$(field "$f" timeout))" \
		eval '[ "$(field "$f" connect)" = 0 ] && [ "$(field "$f" closed)" = 0 ] && [ "$(field "$f" timeout)" = 0 ]'
	check "$name: zero lost updates over $(field "$f" users) users (lost=$(field "$f" lost), max_jump=$(field "$f" max_jump))" \
		eval '[ "$(field "$f" lost)" = 0 ] && [ "$(field "$f" max_jump)" = 1 ]'
	check "$name: both workers served (w0=$(field "$f" w:w0) w1=$(field "$f" w:w1))" \
		eval '[ "$(field "$f" w:w0)" -gt 0 ] && [ "$(field "$f" w:w1)" -gt 0 ]'
	check "$name: every worker replaced by each reload" \
		python3 -c 'import sys; a, b, c = (s.split() for s in sys.argv[1:4]); sys.exit(not (len(a) == 2 and all(x != y != z != x for x, y, z in zip(a, b, c))))' \
		"$BEFORE" "$MID" "$AFTER"
}

run_load plain
check_load plain
check "the old workers flushed at reload: every user has a checkpoint" \
	[ "$(redis-cli -s "$REDIS_SOCK" --scan --pattern 'sticky:*:u' | wc -l)" -ge 40 ]
run_load keepalive -k
check_load keepalive

check "4 reloads started and done, in the log" \
	eval '[ "$(grep -c "event=reload_started" "$T/sticky.log")" = 4 ] && [ "$(grep -c "event=reload_done" "$T/sticky.log")" = 4 ]'
check "no worker crashed (status: crashes 0, reloads 4)" \
	[ "$(ctl status json | python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["master"]["reloads"], d["master"]["totals"]["crashes"])')" = "4 0" ]
check "no stop_kill, stop_unsaved or worker_died" \
	bash -c "! grep -qE 'event=(stop_kill|stop_unsaved|worker_died)' '$T/sticky.log'"
get w0 / ""
check "the new config is live: new cookies have Path=/keepalive-2" \
	grep -q 'Set-Cookie: STICKYSID=.*; Path=/keepalive-2;' "$T/resp"

# A config that does not parse: refused, the old workers stay.
KEEP=$(pids)
printf 'checkpoint = sometimes\n' >"$T/sticky.conf"
kill -HUP "$STICKY_PID"
for _ in $(seq 1 100); do grep -q 'event=reload_failed' "$T/sticky.log" && break; sleep 0.05; done
check "a broken config is refused with file:line" \
	grep -qE 'event=reload_config .*sticky.conf:1: checkpoint' "$T/sticky.log"
check "reload_failed logged, the same workers keep serving" \
	eval 'grep -q "event=reload_failed" "$T/sticky.log" && [ "$(pids)" = "$KEEP" ]'
get w1 / ""
check "and they answer" [ "$STATUS" = 200 ]
t_done
