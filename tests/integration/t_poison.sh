#!/bin/bash
# t_poison.sh: one bad request must not take down every worker.  The test
# app (slowapp: the counter built with COUNTER_TEST_CRASH) dies of SIGSEGV
# on a query string containing "crashme".  Through each front-end with the
# generated recipe (Apache and HAProxy resend a request whose worker died
# to the next worker; nginx and lighttpd do not): a poison request costs at
# most one worker (its resend is refused unrun: 500), a user whose requests
# killed quarantine_crashes (2) workers is quarantined (503, checkpoint set
# aside) and crashes nothing more, other users go on unaffected.  Without
# a request id (fcgi-req straight to the sockets) the user quarantine alone
# bounds the damage to quarantine_crashes workers.
#
# Limits: workers are counted from the master's worker_died/exited lines; the
# front-ends run with their recipe's defaults (Apache retry=5 s takes a
# crashed member out, so the next request goes to another worker).
. "$top_srcdir/tests/lib/procs.sh"
. "$top_srcdir/tests/integration/frontends.sh"
fe_setup
APP="$top_builddir/tests/integration/apps/slowapp"
[ -x "$APP" ] || { fail "slowapp is built ($APP: make check builds it)"; t_done; exit 1; }
mkdir -p "$T/apps/slowapp"
printf '#!/bin/sh\nexec "%s" "$@"\n' "$APP" >"$T/apps/slowapp/slowapp"
chmod 755 "$T/apps/slowapp/slowapp"
EXAMPLES="$T/apps"
start_redis || { fail "redis starts"; t_done; exit 1; }
start_sticky slowapp -w 3 -r "unix:$REDIS_SOCK" -o checkpoint=sync ||
	{ fail "daemon starts"; t_done; exit 1; }

# Deaths: by signal, or (under ASan, whose handler reports and exits 1) exit != 0.
died() { grep -cE 'event=worker_died|event=worker_exited .*status=[1-9]' "$T/sticky.log"; }
started() { grep -c 'event=worker_started' "$T/sticky.log"; }
# Wait until every dead worker has a successor (bounded).
respawned() {
	local want=$(($(died) + 3)) _
	for _ in $(seq 1 100); do
		[ "$(started)" -ge "$want" ] && return 0
		sleep 0.05
	done
	return 1
}
total() {
	"$STICKYCTL" -o "listen=unix:$T/%t.sock" -o workers=3 \
		-o status_path=/sticky-status status json 2>/dev/null |
		python3 -c 'import json,sys; d=json.load(sys.stdin)["master"]; f=sys.argv[1]; print(d["totals"][f] if f in d["totals"] else d[f])' "$1"
}
body() { head -c 120 "$T/fe.body" | tr '\n' ' '; }

for fe in apache haproxy nginx lighttpd; do
	fe_available $fe || { fail "$fe is not installed"; continue; }
	fe_start $fe || { fail "$fe starts"; fe_logs; continue; }
	P="$T/$fe.poison.jar" O="$T/$fe.other.jar"
	rm -f "$P" "$O"
	for i in 1 2 3; do fe_get "$P"; done
	for i in 1 2; do fe_get "$O"; done
	check "$fe: two users served (counts 3 and 2)" \
		test "$(fe_get "$P" /peek; echo "$R_COUNT")" = 3 -a "$(fe_get "$O" /peek; echo "$R_COUNT")" = 2
	q0=$(total quarantines) p0=$(total poison_refused) r0=$(total quarantine_refused)

	for n in 1 2; do
		d0=$(died)
		fe_get "$P" "/?crashme=$n"
		code=$R_CODE
		respawned
		d=$(($(died) - d0))
		t_log "$fe: poison request $n: answer $code ($(body)), workers died: $d"
		check "$fe: poison request $n cost one worker ($d), answered $code (not 200)" \
			test "$d" = 1 -a "$code" != 200
		check "$fe: ... the others kept serving: user 2 answered 200" \
			eval 'fe_get "$O" /peek; [ "$R_CODE" = 200 ] && [ "$R_COUNT" = 2 ]'
	done
	check "$fe: the user is quarantined (master count $q0 -> $(total quarantines))" \
		test "$(total quarantines)" = $((q0 + 1))

	d0=$(died)
	for i in 1 2 3; do fe_get "$P"; done
	t_log "$fe: quarantined user: $(body)"
	check "$fe: the quarantined user's next requests get 503 ($R_CODE), nothing crashes ($(($(died) - d0)))" \
		test "$R_CODE" = 503 -a "$(died)" = "$d0" && grep -q 'suspended' "$T/fe.body"
	fe_get "$P" "/?crashme=3"
	check "$fe: ... even a poison one is refused unrun ($R_CODE)" \
		test "$R_CODE" = 503 -a "$(died)" = "$d0"
	check "$fe: ... counted (quarantine_refused $r0 -> $(total quarantine_refused))" \
		test "$(total quarantine_refused)" -ge $((r0 + 4))
	fe_get "$O"
	check "$fe: the other user goes on (count $R_COUNT = 3)" test "$R_CODE" = 200 -a "$R_COUNT" = 3
	rm -f "$T/new.jar"
	fe_get "$T/new.jar"
	check "$fe: a new user is served ($R_CODE)" test "$R_CODE" = 200 -a "$R_COUNT" = 1
	case $fe in apache | haproxy)
		check "$fe: the resends of the poison requests were refused (poison_refused $p0 -> $(total poison_refused))" \
			test "$(total poison_refused)" -ge $((p0 + 2)) ;;
	esac
	fe_stop
done

# No front-end, no request id: a user's poison requests sent to each worker
# in turn cost quarantine_crashes (2) workers, not 3.
get w0 / ""; U=$SETCOOKIE
d0=$(died)
for w in w0 w1 w2; do get $w "/?crashme=x" "$U"; respawned; done
check "without request ids: 3 poison requests cost $(($(died) - d0)) workers (quarantine_crashes = 2), the third got $STATUS" \
	test "$(($(died) - d0))" = 2 -a "$STATUS" = 503
check "the master logged the quarantine" grep -q 'event=user_quarantined' "$T/sticky.log"
check "the checkpoint was set aside for inspection" \
	grep -q 'event=quarantine_set_aside.*result=set_aside' "$T/sticky.log"
check "no session id in the logs" eval '! grep -qF "${U%%.*}" "$T/sticky.log"'
t_done
