#!/bin/bash
# t_route_haproxy.sh: HAProxy 2.6 with the recipe `stickyctl routes
# haproxy` generates: (1) stickiness, (2) new users spread, (3) failover
# from a hung owner with re-homing, (4) respawn under load, (6) a second
# host lost whole, (5) a worker dying in flight (GET and POST resent,
# applied once by unique-id), and balance hash on the cookie (routing =
# hash).  Limits: 127.0.0.1 and unix sockets in $T only; ~9 s.
. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/lib/procs.sh"
. "$top_srcdir/tests/integration/frontends.sh"

fe_setup
fe_available haproxy || { t_log "haproxy is not installed (apt-get install haproxy): SKIP"; exit 77; }
start_redis || { fail "redis"; t_done; exit; }
start_sticky counter -w "$STICKY_WORKERS" -r "unix:$REDIS_SOCK" || { fail "sticky"; t_done; exit; }
fe_start haproxy || { fail "haproxy did not start with the generated recipe"; t_done; exit; }
ok "haproxy runs the generated recipe on 127.0.0.1:$FE_PORT"

fe_sticky
fe_spread
# HAProxy: use-server picks the stopped owner (its health check has not
# failed yet); after timeout server the request is resent elsewhere
# (retry-on response-timeout, option redispatch).
fe_failover resend
fe_respawn
check "haproxy: respawn under load: 0 errors of $((RESPAWN_OK + RESPAWN_ERRORS))" test "$RESPAWN_ERRORS" = 0
fe_two_hosts resend
fe_inflight resend resend

# routing = hash: balance hash on the session key, hash-type consistent.
fe_stop
fe_restart_sticky -o routing=hash || { fail "sticky (hash)"; t_done; exit; }
ROUTING=hash fe_start haproxy || { fail "haproxy did not start with the hash recipe"; t_done; exit; }
grep -q "balance hash req.cook($COOKIE),field(1,.)" "$FE_DIR/sticky.cfg"
check "haproxy: routing = hash generates balance hash req.cook($COOKIE),field(1,.)" test $? = 0
bad="" moved=0 firsts=""
for u in 1 2 3 4 5 6; do
	jar="$T/hash$u.jar"
	rm -f "$jar"
	first="" ; owner=""
	for i in 1 2 3 4 5; do
		fe_get "$jar"
		[ "$R_CODE" = 200 ] && [ "$R_COUNT" = "$i" ] || bad="$bad u$u:$i:$R_CODE/$R_COUNT"
		[ "$i" = 1 ] && first=$R_WORKER
		[ "$i" = 2 ] && owner=$R_WORKER
		[ "$i" -gt 2 ] && [ "$R_WORKER" != "$owner" ] && bad="$bad u$u:$i:moved"
	done
	firsts="$firsts
$first"
	[ "$first" != "$owner" ] && moved=$((moved + 1))
done
check "haproxy hash: 6 users x 5 requests, counts 1..5 each, one worker from the 2nd request on${bad:+ (got$bad)}" test -z "$bad"
check "haproxy hash: requests without a cookie are spread ($(echo "$firsts" | sed '/^$/d' | sort -u | tr '\n' ' '))" \
	test "$(echo "$firsts" | sed '/^$/d' | sort -u | wc -l)" -ge 2
t_log "haproxy hash: $moved of 6 new sessions moved to their hash owner on the 2nd request (restored from the first checkpoint)"
t_done
