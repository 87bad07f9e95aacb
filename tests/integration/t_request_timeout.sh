#!/bin/bash
# t_request_timeout.sh: a handler stuck longer than request_timeout loses
# its process.  The master sees the worker busy too long (busy_since_ms in
# the shared counters), logs the reason with the path and SIGKILLs it; the
# slot is respawned and the worker's users restore from their last
# checkpoint.  Counted as timeouts_killed.  A slow handler under the limit
# is left alone, and the other worker never notices.
#
# Limits: tests/integration/apps/slowapp (the counter plus /sleep?ms=N),
# 2 workers, sync checkpoints, request_timeout 1000 ms, unix sockets under
# $T; every wait is bounded.
. "$top_srcdir/tests/lib/procs.sh"
t_setup
STICKY_WORKERS=2
APP="$top_builddir/tests/integration/apps/slowapp"
[ -x "$APP" ] || { fail "slowapp is built ($APP: make check builds it)"; t_done; exit 1; }
# start_sticky runs $EXAMPLES/NAME/NAME: point it at slowapp.  exec keeps
# the pid, so STICKY_PID is the master's.
mkdir -p "$T/apps/slowapp"
printf '#!/bin/sh\nexec "%s" "$@"\n' "$APP" >"$T/apps/slowapp/slowapp"
chmod 755 "$T/apps/slowapp/slowapp"
start_redis || { fail "redis starts"; t_done; exit 1; }
EXAMPLES="$T/apps" start_sticky slowapp -w 2 -r "unix:$REDIS_SOCK" \
	-o checkpoint=sync -o request_timeout=1000 ||
	{ fail "daemon starts"; t_done; exit 1; }
ctl() {
	"$STICKYCTL" -o "listen=unix:$T/%t.sock" -o workers=2 \
		-o status_path=/sticky-status "$@"
}
sf() { ctl status json "$1" | python3 -c 'import json,sys; t,f=sys.argv[1:3]; print([w[f] for w in json.load(sys.stdin)["workers"] if w["tag"]==t][0])' "$2" "$3"; }

get w0 / ""; A=$SETCOOKIE; for i in 2 3 4 5; do get w0 / "$A"; done
get w0 / ""; B=$SETCOOKIE; get w0 / "$B"
get w1 / ""; C=$SETCOOKIE; get w1 / "$C"
check "A at 5 and B at 2 on w0, C at 2 on w1" \
	eval '[ "$(get w0 /peek "$A"; count_of)" = 5 ] && [ "$(get w0 /peek "$B"; count_of)" = 2 ] && [ "$(get w1 /peek "$C"; count_of)" = 2 ]'

# Slow but under the limit: answered, nobody killed.
get w0 "/sleep?ms=300" "$A"
check "a 300 ms handler is answered (count 5)" eval '[ "$STATUS" = 200 ] && [ "$(count_of)" = 5 ]'
check "and not killed (timeouts_killed 0)" [ "$(sf w1 w0 timeouts_killed)" = 0 ]

# Stuck: 20 s in the handler with a 1 s limit.
P0=$(sf w1 w0 pid)
P1=$(sf w0 w1 pid)
t0=$(date +%s%N)
"$FCGI_REQ" -i -t 10000 -c "STICKYSID=$A" "unix:$T/w0.sock" "/sleep?ms=20000" >"$T/stuck" 2>&1
rc=$?
ms=$((($(date +%s%N) - t0) / 1000000))
# At least the limit; well under the client's 10 s timeout and the 20 s
# sleep (the upper bound is loose: the machine may be busy).
check "the stuck request fails, after about the limit (${ms} ms)" \
	eval '[ "$rc" != 0 ] && [ "$ms" -ge 1000 ] && [ "$ms" -lt 9000 ]'
check "the master logged the timeout with its path and the kill" \
	grep -qE "event=request_timeout tag=w0 pid=$P0 busy_ms=[0-9]+ path=\"/sleep\" action=kill" "$T/sticky.log"
check "and the worker's death by SIGKILL" grep -q "event=worker_died tag=w0 pid=$P0 signal=9" "$T/sticky.log"
for _ in $(seq 1 100); do
	np=$(sf w1 w0 pid)
	[ -n "$np" ] && [ "$np" != "$P0" ] && [ "$(sf w1 w0 up)" = True ] && break
	sleep 0.05
done
check "w0 respawned with a new pid" eval '[ "$(sf w1 w0 pid)" != "$P0" ] && [ "$(sf w1 w0 up)" = True ]'
check "counted: timeouts_killed 1, restarts 1" \
	eval '[ "$(sf w1 w0 timeouts_killed)" = 1 ] && [ "$(sf w1 w0 restarts)" = 1 ]'
get w0 / "$A"
check "A's state came back from the checkpoint (6)" eval '[ "$STATUS" = 200 ] && [ "$(count_of)" = 6 ]'
get w0 / "$B"
check "so did B's, who shared the worker (3)" [ "$(count_of)" = 3 ]
check "restored from Redis: restore_hits 2" [ "$(sf w1 w0 restore_hits)" = 2 ]
get w1 / "$C"
check "w1 untouched: same pid, C continues in memory (3)" \
	eval '[ "$(sf w0 w1 pid)" = "$P1" ] && [ "$(count_of)" = 3 ] && [ "$(sf w0 w1 timeouts_killed)" = 0 ]'
ctl status openmetrics w1 >"$T/om"
check "openmetrics: sticky_timeouts_killed_total of w0 is 1" \
	grep -qx 'sticky_timeouts_killed_total{worker="w0"} 1' "$T/om"
t_done
