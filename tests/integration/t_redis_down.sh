#!/bin/bash
# t_redis_down.sh: Redis killed and restarted under load.  Workers keep
# serving the users they hold, never crash, answer 503 (never an empty
# state) where a change cannot be saved (sync mode) or a state cannot be
# restored, and write every dirty session once Redis is back.  Redis runs
# with appendfsync always, so what it acknowledged survives its restart:
# after the outage every worker is SIGKILLed and every user must come back
# at or above the last count the client saw acknowledged.
. "$top_srcdir/tests/lib/procs.sh"
t_setup
STICKY_WORKERS=2
REDIS_ARGS="--appendonly yes --appendfsync always"
start_redis $REDIS_ARGS || { fail "redis starts"; t_done; exit 1; }
field() { tr '\t' '\n' <"$1" | sed -n "s/^$2=//p"; }

for mode in sync async; do
	: >"$T/sticky.log"
	start_sticky counter -w 2 -r "unix:$REDIS_SOCK" -o checkpoint=$mode \
		-o redis_timeout=200 -o redis_connect_timeout=100 ||
		{ fail "$mode: daemon starts"; continue; }
	# Users with known counts before the outage.
	get w0 / ""; A=$SETCOOKIE; for i in 2 3; do get w0 / "$A"; done
	get w1 / ""; B=$SETCOOKIE; for i in 2 3 4; do get w1 / "$B"; done
	wait_clean
	"$FCGI_LOAD" -a "unix:$T/w0.sock,unix:$T/w1.sock" -u 20 -c 4 -d 5 \
		--check-counter --tsv >"$T/load-$mode.tsv" 2>/dev/null &
	LOAD=$!; t_track $LOAD
	sleep 1
	kill -KILL "$REDIS_PID"; wait "$REDIS_PID" 2>/dev/null; t_untrack "$REDIS_PID"
	sleep 0.3
	get w0 / "$A"
	if [ $mode = sync ]; then
		check "$mode: redis down: a change that cannot be saved gets 503 + Retry-After" \
			eval '[ "$STATUS" = 503 ] && grep -q "^Retry-After: 1" "$T/resp"'
	else
		check "$mode: redis down: users in memory are still served (4)" eval '[ "$STATUS" = 200 ] && [ "$(count_of)" = 4 ]'
	fi
	get w0 / "AAAAAAAAAAAAAAAAAAAAAA.w1"
	check "$mode: redis down: a user that must be restored gets 503, not an empty state" [ "$STATUS" = 503 ]
	sleep 1.5
	rm -f "$REDIS_SOCK"
	start_redis $REDIS_ARGS || fail "redis restarts"
	wait $LOAD; t_untrack $LOAD
	t_log "$mode: $(cat "$T/load-$mode.tsv")"
	check "$mode: no worker crashed" bash -c "! grep -q event=worker_died '$T/sticky.log'"
	check "$mode: no counter went backwards during the outage (lost=$(field "$T/load-$mode.tsv" lost))" [ "$(field "$T/load-$mode.tsv" lost)" = 0 ]
	check "$mode: the workers noticed redis down and up" grep -q 'event=redis_up' "$T/sticky.log"
	wait_clean # one flush interval and a backoff (bounded wait)
	check "$mode: every dirty session was written after recovery" eval '[ "$(status_field w0 dirty)" = 0 ] && [ "$(status_field w1 dirty)" = 0 ]'
	# Crash every worker: users must come back from redis.
	get w1 /peek "$B"; BEFORE=$(count_of)
	kill -KILL "$(worker_pid w0)" "$(worker_pid w1)"
	sleep 0.3
	get w1 /peek "$B"
	check "$mode: after the outage and a crash the user is restored ($BEFORE -> $(count_of))" [ "$(count_of)" = "$BEFORE" ]
	stop_sticky
done
t_done
