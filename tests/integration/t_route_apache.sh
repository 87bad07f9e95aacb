#!/bin/bash
# t_route_apache.sh: Apache 2.4 (mod_proxy_balancer, stickysession) with
# the recipe `stickyctl routes apache` generates: (1) stickiness, (2) new
# users spread, (3) failover from a hung owner with re-homing, (4) respawn
# under load, (6) a second host lost whole, (5) a worker dying in flight
# (GET and POST resent, applied once by UNIQUE_ID), and the startup error
# of a missing module.  What is asserted is what docs/frontends.md says.
# Limits: 127.0.0.1 and unix sockets in $T only; Debian's module paths;
# ~8 s.
. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/lib/procs.sh"
. "$top_srcdir/tests/integration/frontends.sh"

fe_setup
fe_available apache || { t_log "apache2 is not installed (apt-get install apache2): SKIP"; exit 77; }
start_redis || { fail "redis"; t_done; exit; }
start_sticky counter -w "$STICKY_WORKERS" -r "unix:$REDIS_SOCK" || { fail "sticky"; t_done; exit; }
fe_start apache || { fail "apache2 did not start with the generated recipe"; t_done; exit; }
ok "apache runs the generated recipe on 127.0.0.1:$FE_PORT"

fe_sticky
fe_spread
# Apache: the request that meets the stopped owner gets 504 after the
# member's timeout; failonstatus=504 takes the member out, and the next
# request goes to another worker, which takes the session over.
fe_failover fail-once
fe_respawn
check "apache: respawn under load: 0 errors of $((RESPAWN_OK + RESPAWN_ERRORS))" test "$RESPAWN_ERRORS" = 0
fe_two_hosts resend
fe_inflight resend resend

# A recipe with a module missing fails at startup with the a2enmod line.
fe_stop
sed -i '/unique_id_module/d' "$FE_DIR/httpd.conf"
msg=$(apache2 -t -f "$FE_DIR/httpd.conf" 2>&1)
case $msg in *"a2enmod unique_id"*) ok "apache: a missing module is named at startup" ;;
*) fail "apache: a missing module is named at startup (got: $msg)" ;; esac
t_done
