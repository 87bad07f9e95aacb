#!/bin/bash
# t_route_lighttpd.sh: lighttpd 1.4 (cookie conditionals, mod_fastcgi)
# with the recipe `stickyctl routes lighttpd` generates: (1) stickiness,
# (2) new users spread, (3) no failover while the owner hangs (504, as
# documented) and no reset when it resumes, (4) respawn under load, (6) a
# second host lost whole (503, as documented), (5) a worker dying in
# flight (500, change saved), and the refusal of routing = hash.
# Limits: 127.0.0.1 and unix sockets in $T only; ~12 s (lighttpd checks
# read-timeout once a second: a hung worker costs ~3 s a request).
. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/lib/procs.sh"
FE_TIMEOUT=1
. "$top_srcdir/tests/integration/frontends.sh"

fe_setup
fe_available lighttpd || { t_log "lighttpd is not installed (apt-get install lighttpd): SKIP"; exit 77; }
start_redis || { fail "redis"; t_done; exit; }
start_sticky counter -w "$STICKY_WORKERS" -r "unix:$REDIS_SOCK" || { fail "sticky"; t_done; exit; }
fe_start lighttpd || { fail "lighttpd did not start with the generated recipe"; t_done; exit; }
ok "lighttpd runs the generated recipe on 127.0.0.1:$FE_PORT"

fe_sticky
fe_spread
# lighttpd: a cookie block holds its one worker, with no failover inside
# it, so the user waits for the owner (504 after read-timeout).
fe_failover pinned
echo "# lighttpd: 503/504 while the owner is stopped, as documented (docs/frontends.md)" >&2
fe_respawn
# A request in flight when its worker dies gets 500 and is not retried
# (documented); a respawn itself is not seen, as the socket stays open.
check "lighttpd: respawn under load: errors only for requests in flight at the kill ($RESPAWN_ERRORS: $RESPAWN_CODES, at most one per client)" \
	test "$RESPAWN_ERRORS" -le 6
if [ "$RESPAWN_ERRORS" -gt 0 ]; then
	t_log "lighttpd: $RESPAWN_ERRORS request(s) in flight at the kill failed, not retried, as documented"
fi

fe_two_hosts pinned
# A request whose worker dies in flight gets 500, GET or POST alike.
fe_inflight 500 500

# routing = hash has no lighttpd recipe: it cannot hash a cookie.
if ROUTING=hash fe_routes lighttpd >/dev/null 2>"$T/err"; then
	fail "lighttpd: routing = hash is refused"
else
	check "lighttpd: routing = hash is refused ($(cat "$T/err"))" grep -q "routing = tag" "$T/err"
fi
t_done
