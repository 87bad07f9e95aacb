#!/bin/bash
# t_route_nginx.sh: nginx 1.22 with the recipe `stickyctl routes nginx`
# generates: (1) stickiness, (2) new users spread, (3) failover from a hung
# owner with re-homing, (4) respawn under load, (6) a second host lost
# whole, (5) a worker dying in flight (GET and POST resent, the recipe has
# non_idempotent, and applied once), and the hash $cookie consistent mode
# (routing = hash).
# Limits: 127.0.0.1 and unix sockets in $T only; ~9 s.
. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/lib/procs.sh"
. "$top_srcdir/tests/integration/frontends.sh"

fe_setup
fe_available nginx || { t_log "nginx is not installed (apt-get install nginx-light): SKIP"; exit 77; }
start_redis || { fail "redis"; t_done; exit; }
start_sticky counter -w "$STICKY_WORKERS" -r "unix:$REDIS_SOCK" || { fail "sticky"; t_done; exit; }
fe_start nginx || { fail "nginx did not start with the generated recipe"; t_done; exit; }
ok "nginx runs the generated recipe on 127.0.0.1:$FE_PORT"

fe_sticky
fe_spread
# nginx: the request that meets the stopped owner times out
# (fastcgi_read_timeout) and goes to a backup server (fastcgi_next_upstream
# timeout), which takes the session over.
fe_failover resend
fe_respawn
check "nginx: respawn under load: 0 errors of $((RESPAWN_OK + RESPAWN_ERRORS))" test "$RESPAWN_ERRORS" = 0
fe_two_hosts resend
fe_inflight resend resend

# routing = hash: the workers checkpoint a new session before its first
# answer, so the hash owner can restore it on the second request.
fe_stop
fe_restart_sticky -o routing=hash || { fail "sticky (hash)"; t_done; exit; }
ROUTING=hash fe_start nginx || { fail "nginx did not start with the hash recipe"; t_done; exit; }
grep -q 'hash $sticky_key consistent' "$FE_DIR/sticky.conf"
check "nginx: routing = hash generates hash \$sticky_key consistent" test $? = 0
bad="" moved=0
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
	[ "$first" != "$owner" ] && moved=$((moved + 1))
done
check "nginx hash: 6 users x 5 requests, counts 1..5 each, one worker from the 2nd request on${bad:+ (got$bad)}" test -z "$bad"
t_log "nginx hash: $moved of 6 new sessions moved to their hash owner on the 2nd request (restored from the first checkpoint)"
t_done
