#!/bin/bash
# t_slow_client.sh: a client that sends half a request and stalls, or
# trickles its body, delays no other user of the same worker (and one that
# gave up while the worker was stopped is not run): the worker
# reads every connection with poll and hands the handler only complete
# requests.  The stalled connection is closed after read_timeout, logged
# and counted, and the worker and its users' state survive.
. "$top_srcdir/tests/lib/procs.sh"
t_setup
STICKY_WORKERS=1
start_sticky counter -w 1 -o read_timeout=6000 || { fail "daemon starts"; t_done; exit 1; }
get w0 / ""; SID=$SETCOOKIE
ms() { echo $(( $(date +%s%N) / 1000000 )); }
# The bound: half of read_timeout.  A worker that read one connection until
# it ended (libfcgi) would keep the other user waiting until the stalled one
# is closed (6000 ms) or has sent the rest (4000 ms at least); a poll loop
# answers in a few ms, but each request here is a fork/exec of fcgi-req on
# a noisy 2-core machine, so the bound is generous and the measured figure
# is printed.  Each stalled connection is in the worker's hands (accepted)
# before the other user's requests start.
BOUND=3000
W0=$(worker_pid w0)
# accepted N: until w0 holds N connections on its socket (bounded).
accepted() {
	for _ in $(seq 1 200); do
		[ "$(ss -xpH src "$T/w0.sock" 2>/dev/null | grep -c "pid=$W0,")" -ge "$1" ] && return 0
		sleep 0.05
	done
	return 1
}

# 1. A stalled request (headers half sent) for 9 s, longer than read_timeout.
"$FCGI_REQ" -T 9000 -t 15000 "unix:$T/w0.sock" /stalled >"$T/stalled.out" 2>"$T/stalled.err" &
STALLED=$!
accepted 1 || t_log "the stalled connection was not accepted"
worst=0
for i in $(seq 1 20); do
	t0=$(ms); get w0 / "$SID"; dt=$(( $(ms) - t0 ))
	[ "$dt" -gt "$worst" ] && worst=$dt
done
t_log "other user's slowest request behind a stalled connection: ${worst} ms"
check "another user is answered while a connection stalls (slowest ${worst} ms < $BOUND ms)" [ "$worst" -lt $BOUND ]
check "and their state moved on (21)" [ "$(count_of)" = 21 ]
wait $STALLED; rc=$?
check "the stalled connection was closed without an answer" [ "$rc" != 0 ]
check "closed after read_timeout, logged" grep -q 'event=read_timeout worker=w0 after_ms=6000' "$T/sticky.log"
check "and counted" [ "$(status_field w0 read_timeouts)" = 1 ]

# 2. A body that trickles in (half now, half 4 s later, within the
# deadline): the other user is not delayed, and the slow one is answered.
head -c 20000 /dev/zero | tr '\0' 'b' >"$T/body"
"$FCGI_REQ" -T 4000 -t 15000 -m POST -d "@$T/body" -c "STICKYSID=$SID" "unix:$T/w0.sock" / >"$T/slow.out" 2>&1 &
SLOW=$!
accepted 1 || t_log "the trickling connection was not accepted"
worst=0
for i in $(seq 1 10); do
	t0=$(ms); get w0 /peek ""; dt=$(( $(ms) - t0 ))
	[ "$dt" -gt "$worst" ] && worst=$dt
done
check "a trickling body delays nobody (slowest ${worst} ms < $BOUND ms)" [ "$worst" -lt $BOUND ]
wait $SLOW
check "the slow request is answered once whole (22)" grep -q 'count=22' "$T/slow.out"

# 3. Many stalled connections at once (a slowloris): still served.
for i in $(seq 1 30); do
	"$FCGI_REQ" -T 4000 -t 15000 "unix:$T/w0.sock" /stalled >/dev/null 2>&1 &
	PIDS="$PIDS $!"
done
accepted 30 || t_log "w0 did not accept the 30 stalled connections"
t0=$(ms); get w0 / "$SID"; dt=$(( $(ms) - t0 ))
check "30 stalled connections: another user still answered in ${dt} ms" eval '[ "$dt" -lt $BOUND ] && [ "$(count_of)" = 23 ]'
wait $PIDS 2>/dev/null
check "the worker survived (no crash)" bash -c "! grep -q event=worker_died '$T/sticky.log'"

# 4. A client that gave up while the worker was stopped (its request sent,
# its connection closed, still in the socket's backlog): when the worker
# resumes, the request is not run (nobody reads the answer, and running it
# could take the user back from a worker that serves them now), however
# soon the worker reads a new connection.
W0=$(worker_pid w0)
kill -STOP "$W0"
"$FCGI_REQ" -t 300 -c "STICKYSID=$SID" "unix:$T/w0.sock" / >/dev/null 2>&1
check "the client gave up while the worker was stopped" [ $? != 0 ]
kill -CONT "$W0"
for _ in $(seq 1 100); do grep -q 'event=abandoned' "$T/sticky.log" && break; sleep 0.05; done
check "the worker logged the request abandoned" grep -qE 'event=abandoned .*reason=client_closed path_unrun=1' "$T/sticky.log"
get w0 /peek "$SID"
check "and did not run it (count still 23)" [ "$(count_of)" = 23 ]
check "counted" [ "$(status_field w0 abandoned)" = 1 ]
t_done
