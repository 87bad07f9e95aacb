#!/bin/bash
# t_sentinel.sh: redis = sentinel://...: a real master, its replica and
# three redis-sentinel processes on 127.0.0.1.  Under load (sync,
# checkpoint_replicas = 1) the master is SIGKILLed: Sentinel promotes the
# replica, the workers follow within 2 s of the promotion, no acknowledged
# update is lost (a second replica acknowledges after the failover), and
# stickyctl finds the new master through the Sentinels
# too.  The old master, restarted empty, is demoted by Sentinel (ROLE says
# slave): the workers never go back to it.
. "$top_srcdir/tests/lib/procs.sh"
. "$top_srcdir/tests/lib/replication.sh"
t_setup
STICKY_WORKERS=2
# Two replicas: with checkpoint_replicas = 1, sync answers go on after
# the failover only if a replica is left to acknowledge them.
REP_REPLICAS=2
field() { tr '\t' '\n' <"$1" | sed -n "s/^$2=//p"; }
ms() { date +%s%3N; }

rep_start || { fail "master, replica and 3 Sentinels start"; t_done; exit 1; }
ok "master :$REP_MPORT, replica :$REP_RPORT, Sentinels :${REP_SPORTS// /,:}"
start_sticky counter -w 2 -r "$REP_URL" -o checkpoint=sync \
	-o checkpoint_replicas=1 -o checkpoint_replicas_timeout=1000 \
	-o redis_timeout=300 -o redis_connect_timeout=200 ||
	{ fail "daemon starts with $REP_URL"; t_done; exit 1; }
get w0 / ""; A=$SETCOOKIE
for i in 2 3; do get w0 / "$A"; done
check "served through the master the Sentinels name (count $(count_of))" \
	eval '[ "$STATUS" = 200 ] && [ "$(count_of)" = 3 ]'
check "workers logged the master they use" \
	grep -q "event=redis_master .*name=$REP_NAME addr=127.0.0.1:$REP_MPORT" "$T/sticky.log"
# WAIT 1: at least one of the two replicas has the user's one key (owner
# record and checkpoint); sticky:generation is written apart from requests.
HAVE=0
for p in $REP_RPORTS; do
	[ "$(rep_cli "$p" --scan --pattern 'sticky:{*}:u' | wc -l)" = 1 ] && HAVE=$((HAVE + 1))
done
check "a replica has the checkpoint (WAIT 1 acknowledged; $HAVE of 2 have it)" [ "$HAVE" -ge 1 ]
"$STICKYCTL" -o "redis=$REP_URL" list >"$T/list1" 2>"$T/list1.err"
check "stickyctl list through the Sentinels" grep -q . "$T/list1"

"$FCGI_LOAD" -a "unix:$T/w0.sock,unix:$T/w1.sock" -u 20 -c 4 -d 8 \
	--check-counter --tsv >"$T/load.tsv" 2>/dev/null &
LOAD=$!; t_track $LOAD
sleep 1.5
rep_kill_master
T_KILL=$(ms)
if rep_new_master 1500; then
	T_PROMO=$(ms)
	ok "Sentinel promoted replica :$REP_NEW_MPORT $((T_PROMO - T_KILL)) ms after the kill"
else
	fail "Sentinel promoted the replica"; T_PROMO=$(ms)
fi
# Both workers on the new master (logged when they connect to it).
T_FOLLOW=""
for _ in $(seq 1 400); do
	if [ "$(grep -c "event=redis_master .*addr=127.0.0.1:$REP_NEW_MPORT" "$T/sticky.log")" -ge 2 ]; then
		T_FOLLOW=$(ms); break
	fi
	sleep 0.01
done
check "both workers on the new master $((${T_FOLLOW:-99999} - T_PROMO)) ms after the promotion (< 2000)" \
	eval '[ -n "$T_FOLLOW" ] && [ $((T_FOLLOW - T_PROMO)) -lt 2000 ]'
# Sync answers need the other replica to follow too (Sentinel moves it).
T_OK=""
for _ in $(seq 1 100); do
	get w0 / "$A" -t 1500
	if [ "$STATUS" = 200 ]; then T_OK=$(ms); break; fi
	sleep 0.05
done
check "first good sync answer $((${T_OK:-99999} - T_PROMO)) ms after the promotion" [ -n "$T_OK" ]
wait $LOAD; t_untrack $LOAD
t_log "load: $(cat "$T/load.tsv")"
check "under load: no acknowledged update lost (lost=$(field "$T/load.tsv" lost))" \
	[ "$(field "$T/load.tsv" lost)" = 0 ]
check "... and answered throughout (ok=$(field "$T/load.tsv" ok))" \
	[ "$(field "$T/load.tsv" ok)" -gt 100 ]
check "workers switched to the promoted replica" \
	grep -q "event=redis_master .*name=$REP_NAME addr=127.0.0.1:$REP_NEW_MPORT" "$T/sticky.log"
check "no worker crashed" bash -c "! grep -q event=worker_died '$T/sticky.log'"
"$STICKYCTL" -o "redis=$REP_URL" list >"$T/list2" 2>"$T/list2.err"
check "stickyctl finds the new master through the Sentinels" \
	eval '[ "$(wc -l <"$T/list2")" -ge "$(wc -l <"$T/list1")" ]'
# The old master comes back empty: Sentinel makes it a replica of the new
# one.  Nobody writes to it, and the users keep their counts.
# /peek reads without a change; until it answers (the workers may still be
# settling on the new master on a loaded machine).
BEFORE=
for _ in $(seq 1 100); do
	get w0 /peek "$A"
	[ "$STATUS" = 200 ] && BEFORE=$(count_of) && break
	sleep 0.05
done
_rep_redis rmaster "$REP_MPORT"; REP_MPID=$REP_LAST
for _ in $(seq 1 200); do
	[ "$(rep_cli "$REP_MPORT" role | head -1)" = slave ] && break
	sleep 0.05
done
check "the old master restarted and Sentinel demoted it (ROLE $(rep_cli "$REP_MPORT" role | head -1))" \
	[ "$(rep_cli "$REP_MPORT" role | head -1)" = slave ]
kill -KILL "$(worker_pid w0)"
sleep 0.3
# Until the respawned worker answers: an answer that is not 200 (no
# worker yet, or 503) applied nothing.
for _ in $(seq 1 100); do
	get w0 / "$A"
	[ "$STATUS" = 200 ] && break
	sleep 0.05
done
check "a respawned worker asks the Sentinels and restores the user ($BEFORE -> $(count_of))" \
	eval '[ "$STATUS" = 200 ] && [ "$(count_of)" = $((BEFORE + 1)) ]'
check "no worker ever went back to the old master" \
	bash -c "[ \$(grep -c 'event=redis_master .*name=$REP_NAME addr=127.0.0.1:$REP_MPORT' '$T/sticky.log') -le $STICKY_WORKERS ]"
# An unknown master name: a clear error, no crash.
"$STICKYCTL" -o "redis=${REP_URL%/*}/nosuchmaster" list >/dev/null 2>"$T/err3"
check "an unknown master name is a clear error ($(head -c 120 "$T/err3"))" \
	grep -q "unknown" "$T/err3"
stop_sticky
t_done
