#!/bin/bash
# t_replicas.sh: checkpoint_replicas = 1 (sync).  A master and its replica
# on 127.0.0.1.  Replica running: 200.  Replica SIGSTOPped: a change waits
# checkpoint_replicas_timeout for WAIT and gets 503 (nothing acknowledged);
# its request id replays 503 too, not the recorded 200, until the replica
# acknowledges; the next new request is refused before it runs (no count
# change).  Replica resumed: the retried id gets its answer, applied once.
. "$top_srcdir/tests/lib/procs.sh"
. "$top_srcdir/tests/lib/replication.sh"
t_setup
trap 'kill -CONT $REP_RPID 2>/dev/null; t_cleanup' EXIT
STICKY_WORKERS=1
ms() { date +%s%3N; }
rep_start || { fail "master, replica and Sentinels start"; t_done; exit 1; }
start_sticky counter -w 1 -r "127.0.0.1:$REP_MPORT" -o checkpoint=sync \
	-o checkpoint_replicas=1 -o checkpoint_replicas_timeout=700 ||
	{ fail "daemon starts"; t_done; exit 1; }
get w0 / ""; A=$SETCOOKIE
get w0 / "$A"
check "replica running: 200 (count $(count_of))" eval '[ "$STATUS" = 200 ] && [ "$(count_of)" = 2 ]'
# One key per user holds the owner record and the checkpoint; the WAIT
# before the 200 means the replica has it (sticky:generation is written
# apart from any request: not counted).
check "... the replica holds the user's checkpoint key" \
	[ "$(rep_cli "$REP_RPORT" --scan --pattern 'sticky:{*}:u' | wc -l)" = 1 ]
kill -STOP "$REP_RPID"
T0=$(ms)
get w0 / "$A" -H HTTP_X_REQUEST_ID=r1
T1=$(ms)
check "replica stopped: 503 after the WAIT timeout ($((T1 - T0)) ms >= 600)" \
	eval '[ "$STATUS" = 503 ] && [ $((T1 - T0)) -ge 600 ]'
get w0 / "$A" -H HTTP_X_REQUEST_ID=r1
check "... the same request id again: 503, the recorded answer is not given" [ "$STATUS" = 503 ]
get w0 / "$A" -H HTTP_X_REQUEST_ID=r2
check "... a new request: 503 before it runs" [ "$STATUS" = 503 ]
grep -q 'event=checkpoint_unreplicated' "$T/sticky.log"
check "... logged checkpoint_unreplicated" [ $? = 0 ]
kill -CONT "$REP_RPID"
OKR=""
for _ in $(seq 1 50); do
	get w0 / "$A" -H HTTP_X_REQUEST_ID=r1
	[ "$STATUS" = 200 ] && { OKR=1; break; }
	sleep 0.05
done
check "replica resumed: the retried request id answers 200 (count $(count_of), applied once: 3)" \
	eval '[ -n "$OKR" ] && [ "$(count_of)" = 3 ]'
get w0 / "$A" -H HTTP_X_REQUEST_ID=r3
check "... new changes: 200, count 4 (r2 never ran)" eval '[ "$STATUS" = 200 ] && [ "$(count_of)" = 4 ]'
# Config: replicas need sync mode.
stop_sticky
"$EXAMPLES/counter/counter" -l "unix:$T/x%t.sock" -r 127.0.0.1:1 -o checkpoint=async \
	-o checkpoint_replicas=1 >"$T/bad.log" 2>&1 &
BADPID=$!; t_track $BADPID
for _ in $(seq 1 100); do kill -0 $BADPID 2>/dev/null || break; sleep 0.05; done
check "checkpoint_replicas with checkpoint = async is refused ($(grep -o 'checkpoint_replicas needs[^"]*' "$T/bad.log" | head -1))" \
	grep -q "checkpoint_replicas needs checkpoint = sync" "$T/bad.log"
t_done
