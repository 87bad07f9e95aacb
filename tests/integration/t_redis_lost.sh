#!/bin/bash
# t_redis_lost.sh: Redis forgets users the workers still hold, under load,
# in sync and async mode, each way data goes missing: FLUSHALL, Redis
# restarted empty, the users' keys deleted, older checkpoints restored
# over newer ones.  The workers re-claim what Redis lost and write it
# again (new epoch, counted and logged); then, with the load generator
# stopped (SIGSTOP) and every change flushed, every worker is SIGKILLed:
# every user must come back from Redis at its last acknowledged count
# (fcgi-load --check-counter: lost=0, lost_incr=0), including users that
# sent nothing after the loss (FLUSHALL and restart: found by the
# generation token; deleted keys and older copies: by the scrub).  A user that only Redis held gets a fresh session,
# counted and logged as lost.
. "$top_srcdir/tests/lib/procs.sh"
t_setup
STICKY_WORKERS=2
start_redis || { fail "redis starts"; t_done; exit 1; }
RCLI() { redis-cli -s "$REDIS_SOCK" "$@"; }
field() { tr '\t' '\n' <"$1" | sed -n "s/^$2=//p"; }
# each_user_key LUA: run LUA (on k, a user's key: sticky:{NAME}:u, not the
# generation token) for every user key, in one script.
each_user_key() {
	RCLI eval "for _, k in ipairs(redis.call('KEYS', ARGV[1])) do $1 end return 1" \
		0 "${2:-sticky:\{*\}:u}" >/dev/null
}
# both FIELD [FIELD2]: "<w0's> <w1's>" values of FIELD (summed with FIELD2
# when given), from one status page
both() {
	"$STICKYCTL" -o "listen=unix:$T/%t.sock" -o workers=2 \
		-o status_path=/sticky-status status json w0 2>/dev/null |
		python3 -c 'import json,sys; d={w["tag"]: w for w in json.load(sys.stdin)["workers"]}; print(" ".join(str(sum(d[t].get(f, 0) for f in sys.argv[1:])) for t in ("w0", "w1")))' "$@"
}

# lost_run MODE WAY
lost_run() {
	local mode=$1 way=$2 i c load p0 p1 rec bad=0 w
	: >"$T/sticky.log"
	start_sticky counter -w 2 -r "unix:$REDIS_SOCK" -o checkpoint="$mode" \
		-o checkpoint_interval=100 || { fail "$mode $way: daemon starts"; return; }
	# Idle users: at 3, nothing after the loss.
	IDLE=()
	for i in 0 1 2 3; do
		get "w$((i % 2))" / ""; c=$SETCOOKIE
		get "w$((i % 2))" / "$c"; get "w$((i % 2))" / "$c"
		IDLE+=("$c")
	done
	"$FCGI_LOAD" -a "unix:$T/w0.sock,unix:$T/w1.sock" -u 20 -c 4 -d 6 \
		--check-counter --tsv >"$T/load.tsv" 2>/dev/null &
	load=$!
	t_track $load
	sleep 0.5
	IDLE_N=3
	if [ "$way" = old ]; then
		# A copy of every user as it is now, put back later: older
		# checkpoints (and owner records) over newer ones.
		each_user_key "redis.call('COPY', k, 'bak:' .. k, 'REPLACE')"
		for c in "${IDLE[@]}"; do get "w${c##*.w}" / "$c"; done
		IDLE_N=4
		sleep 0.5
	fi
	case $way in
	flushall) RCLI flushall >/dev/null ;;
	restart) stop_redis; start_redis || fail "$mode $way: redis restarts" ;;
	del) each_user_key "redis.call('DEL', k)" ;;
	old) each_user_key "redis.call('COPY', k, string.sub(k, 5), 'REPLACE') redis.call('DEL', k)" 'bak:*' ;;
	esac
	sleep 0.8
	# Everything acknowledged is flushed, then every worker dies.
	kill -STOP $load || fail "$mode $way: the load was still running"
	for _ in $(seq 1 50); do
		[ "$(both dirty)" = "0 0" ] && break
		sleep 0.1
	done
	rec=$(both reclaims | awk '{ print $1 + $2 }')
	read -r p0 p1 <<<"$(both pid)"
	kill -KILL "$p0" "$p1"
	for _ in $(seq 1 100); do
		read -r w q <<<"$(both pid up)" # pid + up: new pids, up again
		[ "$w" -gt 1 ] && [ "$w" != $((p0 + 1)) ] && [ "$q" -gt 1 ] && [ "$q" != $((p1 + 1)) ] && break
		sleep 0.1
	done
	kill -CONT $load
	wait $load
	t_untrack $load
	t_log "$mode $way: reclaims=$rec $(cut -f1-3,16-20 "$T/load.tsv")"
	check "$mode $way: load ran ($(field "$T/load.tsv" ok) ok)" [ "$(field "$T/load.tsv" ok)" -gt 100 ]
	check "$mode $way: no acknowledged increment lost after the loss and a crash of every worker (lost=$(field "$T/load.tsv" lost), lost_incr=$(field "$T/load.tsv" lost_incr))" \
		eval '[ "$(field "$T/load.tsv" lost)" = 0 ] && [ "$(field "$T/load.tsv" lost_incr)" = 0 ]'
	case $way in
	flushall|restart|del)
		check "$mode $way: users re-claimed, counted and logged (reclaims=$rec)" \
			eval '[ "$rec" -ge 1 ] && grep -q "event=reclaimed worker=w[01] sid=~.* reason=redis_lost_it" "$T/sticky.log"' ;;
	esac
	case $way in
	flushall|restart)
		check "$mode $way: the loss was noticed (redis_data_lost)" grep -q 'event=redis_data_lost' "$T/sticky.log" ;;
	*)
		check "$mode $way: the scrub noticed idle users' checkpoints" grep -q 'event=scrub_rewrite' "$T/sticky.log" ;;
	esac
	for c in "${IDLE[@]}"; do
		get w0 /peek "$c"
		[ "$(count_of)" = "$IDLE_N" ] || { bad=$((bad + 1)); t_log "idle user ${c:0:6}: $BODY"; }
	done
	check "$mode $way: users idle since before the loss are back at $IDLE_N ($bad of ${#IDLE[@]} not)" [ "$bad" = 0 ]
	check "$mode $way: no session counted lost" eval '[ "$(status_field w0 sessions_lost)" = 0 ] && [ "$(status_field w1 sessions_lost)" = 0 ]'
	stop_sticky
}

for mode in sync async; do
	for way in flushall restart del old; do
		lost_run "$mode" "$way"
	done
done

# ---- a user only Redis held: lost, never silently ----
: >"$T/sticky.log"
start_sticky counter -w 2 -r "unix:$REDIS_SOCK" -o checkpoint=sync || fail "daemon starts"
get w0 / ""; X=$SETCOOKIE; get w0 / "$X"
stop_sticky # memory gone: Redis alone holds X (2)
RCLI flushall >/dev/null
start_sticky counter -w 2 -r "unix:$REDIS_SOCK" -o checkpoint=sync || fail "daemon restarts"
get w0 / "$X"
check "a user whose only copy was lost gets a fresh session (1)" \
	eval '[ "$STATUS" = 200 ] && [ "$(count_of)" = 1 ] && [ -n "$SETCOOKIE" ]'
check "and it is counted (sessions_lost 1) and logged" \
	eval '[ "$(status_field w0 sessions_lost)" = 1 ] && grep -q "event=session_lost worker=w0 sid=~.* reason=no_checkpoint" "$T/sticky.log"'
stop_sticky
t_done
