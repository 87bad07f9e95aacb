#!/bin/bash
# t_checkpoint.sh: Redis checkpoints with a real redis-server.  Crash
# recovery under load in sync and async mode (a client counts acknowledged
# increments while workers are SIGKILLed), failover to another worker with
# re-homing, the stale owner stopped with SIGSTOP and resumed, a corrupt
# checkpoint set aside, and stickyctl's checkpoint commands.
. "$top_srcdir/tests/lib/procs.sh"
t_setup
STICKY_WORKERS=3
start_redis || { fail "redis starts"; t_done; exit 1; }
CTL() { "$STICKYCTL" -o "redis=unix:$REDIS_SOCK" $(secret_flag) -o app.name=counter "$@"; }
field() { tr '\t' '\n' <"$1" | sed -n "s/^$2=//p"; }

# crash_run MODE: load with --check-counter while killing workers.
crash_run() {
	local mode=$1 kills=0
	start_sticky counter -w 3 -r "unix:$REDIS_SOCK" -o checkpoint="$mode" \
		-o checkpoint_interval=100 || { fail "$mode: daemon starts"; return; }
	"$FCGI_LOAD" -a "unix:$T/w0.sock,unix:$T/w1.sock,unix:$T/w2.sock" -u 30 \
		-c 6 -d 6 --check-counter --tsv >"$T/crash-$mode.tsv" 2>"$T/load.err" &
	local load=$!
	t_track $load
	sleep 0.5
	for k in 1 2 3 4 5 6 7 8; do
		local tag="w$((RANDOM % 3))" p
		p=$(worker_pid "$tag")
		[ -n "$p" ] && kill -KILL "$p" && kills=$((kills + 1))
		sleep 0.6
	done
	wait $load
	t_untrack $load
	t_log "$mode: kills=$kills $(cat "$T/crash-$mode.tsv")"
	CRASH_KILLS=$kills
	stop_sticky
}

crash_run sync
check "sync: workers were killed ($CRASH_KILLS)" [ "$CRASH_KILLS" -ge 6 ]
check "sync: acknowledged increments ($(field "$T/crash-sync.tsv" ok))" [ "$(field "$T/crash-sync.tsv" ok)" -gt 300 ]
check "sync: no acknowledged increment lost, no counter went back (lost=$(field "$T/crash-sync.tsv" lost))" [ "$(field "$T/crash-sync.tsv" lost)" = 0 ]
check "sync: zero refused connections" [ "$(field "$T/crash-sync.tsv" connect)" = 0 ]

redis-cli -s "$REDIS_SOCK" flushall >/dev/null
crash_run async
lost=$(field "$T/crash-async.tsv" lost)
check "async: workers were killed ($CRASH_KILLS)" [ "$CRASH_KILLS" -ge 6 ]
# Each kill can lose at most the last flush window of the users it held.
check "async: losses bounded by kills x users (lost=$lost, kills=$CRASH_KILLS)" [ "$lost" -le $((CRASH_KILLS * 30)) ]
# The same in increments: a kill loses what its users acknowledged since
# the last flush, at most every user's requests of one window
# (checkpoint_interval, 100 ms): rps x 0.1 s over all users, each of
# whom may also lose the one write a flush was late for.  Twice that for
# slack (the killed worker holds a third of the users).  Without async
# flushing a kill loses its users' whole history since their last reset:
# measured ~65% of the acknowledged increments (~85000 of ~130000) against
# ~2% (600-2700) with it; the bound is ~25%.
ok_a=$(field "$T/crash-async.tsv" ok)
rps_a=$(field "$T/crash-async.tsv" rps)
lost_incr=$(field "$T/crash-async.tsv" lost_incr)
win_req=$(awk -v r="$rps_a" 'BEGIN { printf "%d", r * 0.1 }')
bound=$((CRASH_KILLS * (2 * win_req + 30)))
t_log "async: ok=$ok_a rps=$rps_a kills=$CRASH_KILLS lost=$lost lost_incr=$lost_incr" \
	"(per kill $((lost_incr / (CRASH_KILLS > 0 ? CRASH_KILLS : 1))), requests per window $win_req," \
	"bound $bound, $(awk -v l="$lost_incr" -v o="$ok_a" 'BEGIN { printf "%.2f", o ? 100 * l / o : 0 }')% of ok)"
check "async: lost increments bounded by the flush window (lost_incr=$lost_incr <= $bound)" \
	eval '[ -n "$lost_incr" ] && [ "$ok_a" -gt 300 ] && [ "$lost_incr" -le "$bound" ]'
check "async: zero refused connections" [ "$(field "$T/crash-async.tsv" connect)" = 0 ]

# ---- failover, re-homing and the stale owner ----
: >"$T/sticky.log"
start_sticky counter -w 3 -r "unix:$REDIS_SOCK" -o checkpoint=sync || fail "daemon restarts"
get w0 / ""; SID=$SETCOOKIE
for i in 2 3 4 5; do get w0 / "$SID"; done
check "user at 5 on w0" eval '[ "$(count_of)" = 5 ] && [ "$WORKER" = w0 ]'
P0=$(worker_pid w0)
kill -STOP "$P0"
# The front-end sends the user elsewhere while w0 is stopped.
get w1 / "$SID"
check "failover: w1 restores the state (6)" eval '[ "$(count_of)" = 6 ] && [ "$WORKER" = w1 ]'
check "failover: the cookie is re-homed to w1" eval '[ "${SETCOOKIE#*.}" = w1 ] && [ "${SETCOOKIE%.*}" = "${SID%.*}" ]'
SID1=$SETCOOKIE
get w1 / "$SID1"; get w1 / "$SID1"
check "the user stays on w1 (8)" eval '[ "$(count_of)" = 8 ] && [ -z "$SETCOOKIE" ]'
check "owner in redis is w1" eval 'CTL owner "$SID1" | grep -q "owner in redis: w1"'
sleep 2.5 # w0 stays stopped long enough to notice it was
kill -CONT "$P0"
# An old cookie brings the user back to the stale owner.
get w0 / "$SID"
check "the resumed owner does not serve its stale copy (9, not 6)" [ "$(count_of)" = 9 ]
check "it noticed the stall and was fenced" grep -q 'event=stall_detected worker=w0' "$T/sticky.log"
get w1 / "$SID"
check "and w1, now stale, takes over again from redis (10)" [ "$(count_of)" = 10 ]
# A live (not stopped) old owner that gets a cookie naming another worker
# takes the state over from redis instead of trusting its memory.
get w2 / ""; S2=$SETCOOKIE; get w2 / "$S2"
get w0 / "$S2"; S2b=$SETCOOKIE
check "w0 restores w2's user (3) and re-homes" eval '[ "$(count_of)" = 3 ] && [ "${S2b#*.}" = w0 ]'
get w2 / "$S2"
check "w2 gets the user back with the newest state (4)" [ "$(count_of)" = 4 ]

# ---- restore latency is measured, and fencing was counted ----
check "restores counted on w1" [ "$(status_field w1 restore_hits)" -ge 1 ]

# ---- a corrupt checkpoint is refused and set aside ----
get w0 / ""; SC=$SETCOOKIE; get w0 / "$SC"
KEY=${SC%.*}
redis-cli -s "$REDIS_SOCK" setrange "$(rkey "$KEY")" $((REC_LEN + 48)) "garbage!" >/dev/null
get w1 / "$SC"
check "corrupt checkpoint: the user gets a fresh session, not a crash" eval '[ "$STATUS" = 200 ] && [ "$(count_of)" = 1 ]'
check "corrupt checkpoint: refused with a reason (its MAC, before any decoding)" grep -q 'event=checkpoint_refused worker=w1 .*reason="MAC does not match"' "$T/sticky.log"
check "corrupt checkpoint: counted as unauthenticated" [ "$(status_field w1 restore_unauthenticated)" = 1 ]
check "corrupt checkpoint: kept aside for inspection" [ "$(redis-cli -s "$REDIS_SOCK" --scan --pattern "$(rkey "$KEY" 'bad:*')" | wc -l)" = 1 ]
check "corrupt checkpoint: counted" [ "$(status_field w1 restore_bad)" = 1 ]

# ---- stickyctl ----
CTL list >"$T/list" 2>&1
check "stickyctl list shows sessions by name, with owners" grep -q "^$(CTL name "$SID") owner=w" "$T/list"
check "stickyctl list never shows a session key" eval '! grep -q -e "${SID%.*}" -e "${SID1%.*}" "$T/list"'
CTL show "$SID1" >"$T/show"
check "stickyctl show decodes the header" grep -q 'schema 1, epoch' "$T/show"
check "stickyctl verify: all good" CTL verify
CTL delete "$SID1" && get w2 /peek "$SID1"
check "stickyctl delete: the session is gone from redis" eval '[ "$(count_of)" = 0 ] && [ -n "$SETCOOKIE" ]'
stop_sticky
t_done
