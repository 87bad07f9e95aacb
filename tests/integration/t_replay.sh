#!/bin/bash
# t_replay.sh: requests resent by a front-end after their worker died
# between its checkpoint and its answer are applied exactly once.  Sync
# checkpoints and the test-only fault switch (the worker exits right after
# Redis acknowledged the checkpoint); the front-end resends the request,
# with the same request id, to another worker, which restores the session
# with its replay log and answers the recorded response without running
# the handler.  Repeated under load, several users, GET and POST (the nginx
# recipe resends POST too: fastcgi_next_upstream ... non_idempotent).  The
# user's cookie is re-homed to the worker that answered.
. "$top_srcdir/tests/lib/procs.sh"
. "$top_srcdir/tests/integration/frontends.sh"
fe_setup
have_fault_injection ||
	{ fail "needs a build configured with --enable-fault-injection"; t_done; exit 1; }
start_redis || { fail "redis starts"; t_done; exit 1; }
start_sticky counter -w 3 -r "unix:$REDIS_SOCK" -o checkpoint=sync \
	-o fault_die_after_checkpoint=on || { fail "daemon starts"; t_done; exit 1; }
ROUNDS=${REPLAY_ROUNDS:-10}

for fe in ${REPLAY_FRONTENDS:-apache nginx haproxy}; do
	fe_available $fe || { fail "$fe is not installed"; continue; }
	fe_start $fe || { fail "$fe starts"; fe_logs; continue; }
	declare -A last=()
	for u in 1 2 3 4; do rm -f "$T/u$u.jar"; fe_get "$T/u$u.jar"; last[$u]=$R_COUNT; done
	# Background users keep the workers busy meanwhile (bounded).
	( for i in $(seq 1 400); do curl -s -m 5 -c "$T/bg.jar" -b "$T/bg.jar" \
		"http://127.0.0.1:$FE_PORT/" >/dev/null; done ) &
	BG=$!; t_track $BG
	twice=0 lost=0 resent=0 errors=0 faults=0 moved=0 rehomed=0 replay0=$(log_count replayed)
	for r in $(seq 1 "$ROUNDS"); do
		u=$(( (r % 4) + 1 ))
		method=GET
		[ $((r % 2)) = 0 ] && method=POST
		f0=$(log_count fault_injected)
		tag0=$(jar_tag "$T/u$u.jar")
		if [ $method = POST ]; then
			fe_get "$T/u$u.jar" / -H 'X-Sticky-Fault: die-after-checkpoint' --data-raw "n=$r"
		else
			fe_get "$T/u$u.jar" / -H 'X-Sticky-Fault: die-after-checkpoint'
		fi
		[ "$(log_count fault_injected)" -gt "$f0" ] && faults=$((faults + 1))
		if [ "$R_CODE" = 200 ]; then
			[ "$R_COUNT" = $((last[$u] + 1)) ] || twice=$((twice + 1))
			# Answered by another worker (it took the user over): the
			# cookie now names it.  By the respawned owner: unchanged.
			if [ "$R_HDR_WORKER" != "$tag0" ]; then
				moved=$((moved + 1))
				[ "$R_REHOME" = "$R_HDR_WORKER" ] &&
					[ "$(jar_tag "$T/u$u.jar")" = "$R_HDR_WORKER" ] && rehomed=$((rehomed + 1))
			fi
		else
			errors=$((errors + 1))
			t_log "$fe round $r ($method, user $u): answer $R_CODE in ${R_TIME}s: $(head -c 200 "$T/fe.body" | tr '\n' ' ')"
			fe_logs; tail -n 8 "$T/sticky.log" >&2
		fi
		last[$u]=$((last[$u] + 1)) # the change was checkpointed: it counts
		sleep 0.2 # the master respawns the dead worker
		fe_get "$T/u$u.jar"
		if [ "$R_COUNT" -gt $((last[$u] + 1)) ] 2>/dev/null; then twice=$((twice + 1)); fi
		if [ "$R_COUNT" -lt $((last[$u] + 1)) ] 2>/dev/null; then lost=$((lost + 1)); fi
		last[$u]=${R_COUNT:-${last[$u]}}
	done
	wait $BG; t_untrack $BG
	resent=$(( $(log_count replayed) - replay0 ))
	t_log "$fe: $ROUNDS in-flight crashes ($faults injected), resent and answered from the replay log: $resent, applied twice: $twice, acknowledged lost: $lost, error answers: $errors, answered by another worker: $moved, cookie re-homed there: $rehomed"
	check "$fe: every round crashed a worker after its checkpoint ($faults/$ROUNDS)" [ "$faults" = "$ROUNDS" ]
	check "$fe: no update applied twice ($twice)" [ "$twice" = 0 ]
	check "$fe: no acknowledged update lost ($lost)" [ "$lost" = 0 ]
	check "$fe: GET and POST resent and answered from the replay log ($resent of $ROUNDS)" [ "$resent" -ge $((ROUNDS - 1)) ]
	check "$fe: users saw no error ($errors)" [ "$errors" = 0 ]
	check "$fe: every request answered by another worker re-homed the cookie there ($rehomed of $moved)" \
		[ "$rehomed" = "$moved" ]
	unset last
	fe_stop
done
check "no worker crashed other than by the injected fault" \
	[ "$(grep -c 'event=worker_died\|event=worker_exited.*status=3' "$T/sticky.log")" = "$(grep -c 'event=fault_injected' "$T/sticky.log")" ]
t_done
