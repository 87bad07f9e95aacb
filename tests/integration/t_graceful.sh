#!/bin/bash
# t_graceful.sh: SIGTERM stops gracefully: requests in flight finish, every
# session is flushed (async mode with a long interval: only the stop can
# have written them), and a new master restores every user.
. "$top_srcdir/tests/lib/procs.sh"
t_setup
STICKY_WORKERS=2
start_redis || { fail "redis starts"; t_done; exit 1; }
start_sticky counter -w 2 -r "unix:$REDIS_SOCK" -o checkpoint=async \
	-o checkpoint_interval=600000 || { fail "daemon starts"; t_done; exit 1; }
get w0 / ""; A=$SETCOOKIE; for i in 2 3 4; do get w0 / "$A"; done
get w1 / ""; B=$SETCOOKIE; get w1 / "$B"
check "nothing written yet (interval 10 min)" [ "$(redis-cli -s "$REDIS_SOCK" --scan --pattern 'sticky:*:u' | wc -l)" = 0 ]

# A request in flight: half of it now, the rest after SIGTERM.
"$FCGI_REQ" -T 1500 -i -c "STICKYSID=$A" "unix:$T/w0.sock" / >"$T/inflight" 2>&1 &
SLOW=$!
wait_accepted "$T/w0.sock" "$(worker_pid w0)" || t_log "w0 did not accept the slow request"
kill -TERM "$STICKY_PID"
wait $SLOW
check "the request in flight at SIGTERM was answered" grep -q 'count=5' "$T/inflight"
for _ in $(seq 1 100); do kill -0 "$STICKY_PID" 2>/dev/null || break; sleep 0.05; done
check "the master exited" bash -c "! kill -0 $STICKY_PID 2>/dev/null"
t_untrack "$STICKY_PID"
check "every session was flushed at stop" [ "$(redis-cli -s "$REDIS_SOCK" --scan --pattern 'sticky:*:u' | wc -l)" = 2 ]

start_sticky counter -w 2 -r "unix:$REDIS_SOCK" || fail "daemon restarts"
get w0 / "$A"
check "user A continues after a restart (6)" [ "$(count_of)" = 6 ]
get w1 / "$B"
check "user B continues after a restart (3)" [ "$(count_of)" = 3 ]
t_done
