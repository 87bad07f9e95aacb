#!/bin/bash
# t_fencing.sh: the stale owner in async mode, with a real redis-server.
# A worker stopped with SIGSTOP while it holds unflushed changes, its user
# taken over by another worker that moves on and checkpoints: once resumed
# the stale owner drops its copy (the takeover announcement, or its fenced
# write when the announcement never reached it) and never overwrites the
# newer checkpoint.  LRU eviction (max_sessions) writes a dirty session
# before it drops it.  fencing = strict checks the epoch before serving
# from memory, even when no announcement can arrive (an ACL user without
# channel permissions).
. "$top_srcdir/tests/lib/procs.sh"
t_setup
STICKY_WORKERS=2
start_redis || { fail "redis starts"; t_done; exit 1; }
CTL() { "$STICKYCTL" -o "redis=unix:$REDIS_SOCK" $(secret_flag) -o app.name=counter "$@"; }

# rcount KEY: the counter in KEY's checkpoint (8 bytes, big-endian, after
# the owner record and the 48-byte envelope header); "none" without one.
rcount() {
	if ! rhas_ckpt "$1"; then
		echo none
		return
	fi
	redis-cli -s "$REDIS_SOCK" --raw getrange "$(rkey "$1")" $((REC_LEN + 48)) $((REC_LEN + 55)) |
		od -An -v -tu1 -N8 |
		awk '{ for (i = 1; i <= NF; i++) n = n * 256 + $i } END { print n + 0 }'
}
# owner_of KEY: "<owner> <epoch>" as recorded in Redis.
owner_of() { CTL owner "$1" | sed -n 's/^owner in redis: \([^,]*\), epoch \([0-9]*\).*/\1 \2/p'; }
# wstat TAG FIELD [VIA]: TAG's field read from worker VIA's status page
# (every worker renders every worker's counters; VIA must not be stopped).
wstat() {
	"$STICKYCTL" -o "listen=unix:$T/%t.sock" -o "workers=$STICKY_WORKERS" \
		-o status_path=/sticky-status status json "${3:-w1}" 2>/dev/null |
		python3 -c 'import json,sys; d=json.load(sys.stdin); t,f=sys.argv[1:3]; print([w[f] for w in d["workers"] if w["tag"]==t][0])' "$1" "$2"
}
# wait_log PATTERN: until the log has a line matching PATTERN (bounded, 5 s).
wait_log() {
	for _ in $(seq 1 50); do
		grep -q "$1" "$T/sticky.log" && return 0
		sleep 0.1
	done
	return 1
}

# flush_stop TAG: TAG's worker stops gracefully, which writes every
# unflushed session (the checkpoint interval is long, so nothing is
# written on a timer), and the master respawns it on the same socket.
# Returns once the master reaped it (bounded, 20 s).
flush_stop() {
	local p
	p=$(wstat "$1" pid "$1") # asked of TAG itself: the other may be stopped
	[ -n "$p" ] || return 1
	kill -TERM "$p"
	for _ in $(seq 1 200); do
		grep -q "event=worker_exited.* tag=$1 pid=$p " "$T/sticky.log" && return 0
		sleep 0.1
	done
	return 1
}

# ---- 1. the stale owner resumes with unflushed changes ----
# stale_owner HOW: HOW=announce: w0 gets the takeover announcement when
# it resumes; HOW=nosub: w0's subscription is killed while it is stopped,
# so the announcement never reaches it and its own write is what gets
# fenced.  The checkpoint interval is 600 s: no write ever happens on a
# timer, so "two increments unflushed" holds however slow the machine
# is; the writes the scenario needs are forced by graceful worker stops.
stale_owner() {
	local how=$1 sid sid1 key lk p0 written fenced ow
	get w0 / ""; sid=$SETCOOKIE; key=${sid%.*}
	lk=$(CTL name "$key") # logs name the session by its name in Redis
	get w0 / "$sid"; get w0 / "$sid"
	flush_stop w0 || fail "$how: w0 stops and writes U"
	# U back in w0's memory, clean (/peek changes nothing).
	get w0 /peek "$sid"
	check "$how: U at 3 on w0, checkpointed" eval '[ "$(count_of)" = 3 ] && [ "$(rcount "$key")" = 3 ] && [ "$WORKER" = w0 ]'
	get w0 / "$sid"; get w0 / "$sid"
	written=$(wstat w0 ckpt_written)
	fenced=$(wstat w0 ckpt_fenced)
	p0=$(worker_pid w0)
	kill -STOP "$p0"
	t_track "$p0" # killed at exit if the test ends while it is stopped
	check "$how: w0 stopped with U at 5, two increments unflushed (redis: $(rcount "$key"))" \
		eval '[ "$(count_of)" = 5 ] && [ "$(rcount "$key")" = 3 ]'
	if [ "$how" = nosub ]; then
		check "$how: the subscriptions are cut while w0 is stopped" \
			[ "$(redis-cli -s "$REDIS_SOCK" client kill type pubsub)" -ge 1 ]
	fi
	# The front-end fails U over to w1, which takes over from the
	# checkpoint (3, not w0's unflushed 5) and moves on.
	get w1 / "$sid"
	check "$how: w1 takes over from the checkpoint (4) and re-homes" \
		eval '[ "$(count_of)" = 4 ] && [ "$WORKER" = w1 ] && [ "${SETCOOKIE#*.}" = w1 ]'
	sid1=$SETCOOKIE
	for _ in 1 2 3; do get w1 / "$sid1"; done
	check "$how: U at 7 on w1" [ "$(count_of)" = 7 ]
	flush_stop w1 || fail "$how: w1 stops and writes U"
	ow=$(owner_of "$key")
	check "$how: redis holds w1's state (7), owned by w1 ($ow)" \
		eval '[ "$(rcount "$key")" = 7 ] && [ "${ow% *}" = w1 ]'
	# w0 resumes.  announce: it reads the announcement and drops U.
	# Either way it then stops gracefully and so writes everything it
	# still holds: its write of U must be refused (nosub) or not
	# attempted at all (announce), never overwrite w1's.
	kill -CONT "$p0"
	t_untrack "$p0"
	if [ "$how" = announce ]; then
		wait_log "event=taken_over worker=w0 sid=${lk:0:6}"
		check "$how: w0 got the announcement and dropped U (taken_over)" \
			grep -q "event=taken_over worker=w0 sid=${lk:0:6}\.\.\. .*by=w1 action=drop_local_copy" "$T/sticky.log"
	fi
	flush_stop w0 || fail "$how: w0 stops and writes what it holds"
	if [ "$how" = nosub ]; then
		check "$how: w0's write of U was fenced and U dropped" \
			grep -q "event=fenced worker=w0 sid=${lk:0:6}\.\.\. epoch=[0-9]* action=drop_local_copy" "$T/sticky.log"
	fi
	grep "worker=w0 sid=${lk:0:6}" "$T/sticky.log" | sed 's/^/# /' >&2
	t_log "$how: w0 ckpt_written $written -> $(wstat w0 ckpt_written), ckpt_fenced $fenced -> $(wstat w0 ckpt_fenced); owner $(owner_of "$key")"
	check "$how: w0 counted it (ckpt_fenced $fenced -> +1) and wrote nothing (ckpt_written $written)" \
		eval '[ "$(wstat w0 ckpt_fenced)" = $((fenced + 1)) ] && [ "$(wstat w0 ckpt_written)" = "$written" ]'
	check "$how: redis still holds w1's state (7, owner and epoch unchanged)" \
		eval '[ "$(rcount "$key")" = 7 ] && [ "$(owner_of "$key")" = "$ow" ]'
	# An old cookie brings U back to w0: it restores the newest state.
	get w0 / "$sid"
	check "$how: U sent to w0 again gets the newest state (8, not 6) from w0" \
		eval '[ "$STATUS" = 200 ] && [ "$(count_of)" = 8 ] && [ "$WORKER" = w0 ]'
}

start_sticky counter -w 2 -r "unix:$REDIS_SOCK" -o checkpoint=async \
	-o checkpoint_interval=600000 || { fail "daemon starts"; t_done; exit 1; }
stale_owner announce
stale_owner nosub
stop_sticky

# ---- 2. LRU eviction writes a dirty session first ----
: >"$T/sticky.log"
start_sticky counter -w 2 -r "unix:$REDIS_SOCK" -o checkpoint=async \
	-o checkpoint_interval=600000 -o max_sessions=3 ||
	{ fail "daemon starts (max_sessions=3)"; t_done; exit 1; }
get w0 / ""; A=$SETCOOKIE; AK=${A%.*}
for _ in 2 3 4; do get w0 / "$A"; done
check "A at 4 on w0, never checkpointed (interval 600 s)" \
	eval '[ "$(count_of)" = 4 ] && [ "$(rcount "$AK")" = none ]'
ev0=$(wstat w0 evictions w0)
for _ in 1 2 3 4; do get w0 / ""; done
for _ in $(seq 1 40); do
	[ "$(wstat w0 evictions w0)" -ge $((ev0 + 2)) ] && break
	sleep 0.1
done
t_log "eviction: w0 sessions=$(wstat w0 sessions w0) evictions $ev0 -> $(wstat w0 evictions w0) ckpt_written=$(wstat w0 ckpt_written w0) dirty=$(wstat w0 dirty w0)"
check "5 users on a worker with max_sessions=3: 2 evicted, 3 left" \
	eval '[ "$(wstat w0 evictions w0)" = $((ev0 + 2)) ] && [ "$(wstat w0 sessions w0)" = 3 ]'
check "A, least recently used, was written before it was dropped (redis: $(rcount "$AK"))" [ "$(rcount "$AK")" = 4 ]
rh=$(wstat w0 restore_hits w0)
get w0 / "$A"
check "A continues from its count (5), restored, same session" \
	eval '[ "$(count_of)" = 5 ] && [ -z "$SETCOOKIE" ] && [ "$(wstat w0 restore_hits w0)" = $((rh + 1)) ]'
stop_sticky

# ---- 3. fencing = strict, with no announcement to rely on ----
# The workers log in as an ACL user without channel permissions: the
# subscription is refused and every PUBLISH fails (the scripts ignore it),
# so a stale owner learns nothing of the takeover.  The checkpoint
# interval is 600 s, so the stop is far shorter than the stall detector's
# gap (2 s + checkpoint_interval) however slow the machine is: it is the
# epoch check that is tested, and the writes are forced by worker stops.
redis-cli -s "$REDIS_SOCK" acl setuser stk on '>stkpw' '~*' '+@all' resetchannels >/dev/null
# strict_run FENCING: U on w0, w0 stopped, U taken over by w1 (which then
# stops and flushes), w0 resumed and asked for U at once; sets SR_STATUS,
# SR_COUNT (w0's answer) and SR_KEY.
strict_run() {
	local fencing=$1 sid sid1 p0
	: >"$T/sticky.log"
	start_sticky counter -w 2 -r "unix:$REDIS_SOCK" -o redis_user=stk \
		-o redis_password=stkpw -o checkpoint=async \
		-o checkpoint_interval=600000 -o fencing="$fencing" ||
		{ fail "$fencing: daemon starts"; return 1; }
	get w0 / ""; sid=$SETCOOKIE; SR_KEY=${sid%.*}; SR_LK=$(CTL name "$SR_KEY")
	for _ in 2 3 4 5; do get w0 / "$sid"; done
	flush_stop w0 || fail "$fencing: w0 stops and writes U"
	get w0 /peek "$sid" # U back in w0's memory, clean
	check "$fencing: U at 5 on w0, checkpointed, in memory and clean" \
		eval '[ "$(count_of)" = 5 ] && [ "$(rcount "$SR_KEY")" = 5 ] && [ "$WORKER" = w0 ]'
	p0=$(worker_pid w0)
	kill -STOP "$p0"
	t_track "$p0" # killed at exit if the test ends while it is stopped
	get w1 / "$sid"; sid1=$SETCOOKIE; get w1 / "$sid1"; get w1 / "$sid1"
	check "$fencing: w1 took U over and moved on (8)" \
		eval '[ "$(count_of)" = 8 ] && [ "$WORKER" = w1 ]'
	# w1 stops (a rolling reload, say) and flushes: redis holds 8.
	flush_stop w1 || fail "$fencing: w1 stops and writes U"
	check "$fencing: redis holds w1's state (8)" [ "$(rcount "$SR_KEY")" = 8 ]
	kill -CONT "$p0"
	t_untrack "$p0"
	get w0 / "$sid" # the old cookie, naming w0
	SR_STATUS=$STATUS
	SR_COUNT=$(count_of)
	if grep -q 'event=stall_detected worker=w0' "$T/sticky.log"; then
		t_log "$fencing: w0 detected the stall (the stop was unexpectedly long)"
	fi
	stop_sticky
}
if strict_run strict; then
	check "strict: the subscription was refused (no announcements)" \
		grep -q 'event=redis_sub_down worker=w0' "$T/sticky.log"
	check "strict: the resumed owner serves the newest state (9), not its stale copy (6)" \
		eval '[ "$SR_STATUS" = 200 ] && [ "$SR_COUNT" = 9 ]'
	check "strict: it checked the epoch and dropped its copy" \
		grep -q "event=fenced worker=w0 sid=${SR_LK:0:6}\.\.\. action=drop_local_copy check=strict" "$T/sticky.log"
	check "strict: and took the user over in redis" [ "$(owner_of "$SR_KEY" | cut -d' ' -f1)" = w0 ]
fi
# The same with fencing = normal: while no announcement can arrive (the
# subscription is down or refused), a session cannot learn that it moved,
# so each one checks its epoch before it is served, as strict does.
if strict_run normal; then
	check "normal, subscription refused: the resumed owner serves the newest state (9), not its stale copy (6)" \
		eval '[ "$SR_STATUS" = 200 ] && [ "$SR_COUNT" = 9 ]'
	check "normal, subscription refused: it checked the epoch (check=unwatched)" \
		grep -q "event=fenced worker=w0 sid=${SR_LK:0:6}\.\.\. action=drop_local_copy check=unwatched" "$T/sticky.log"
fi

# ---- 4. A backlog of announcements ----
# w0 stopped (for well under the stall gap: the interval is 600 s, the
# writes are forced by worker stops) while 600 of its users move to w1: their announcements (~70 bytes each) are more than one read.  The
# resumed w0 must not serve any of them from its stale copy: it reads the
# whole backlog before serving, and a backlog makes every session check
# its epoch once (Redis may still hold more in its output buffer).
N=600
: >"$T/sticky.log"
start_sticky counter -w 2 -r "unix:$REDIS_SOCK" -o checkpoint=async \
	-o checkpoint_interval=600000 || { fail "backlog: daemon starts"; t_done; exit 1; }
for i in $(seq 1 $N); do
	"$FCGI_REQ" -i "unix:$T/w0.sock" / | sed -n 's/^Set-Cookie: STICKYSID=\([^;]*\);.*/\1/p'
done >"$T/cookies"
flush_stop w0 || fail "backlog: w0 stops and writes its $N users"
# Back in w0's memory, clean (/peek changes nothing): the stale copies.
"$FCGI_LOAD" -a "unix:$T/w0.sock" --cookies "$T/cookies" -u $N -n $N -c 8 \
	--uri /peek --tsv >"$T/peek.tsv"
check "backlog: $N users on w0, all checkpointed" \
	eval '[ "$(wc -l <"$T/cookies")" = $N ] && grep -qP "^requests=$N\tok=$N\t" "$T/peek.tsv" &&
		[ "$(wstat w0 sessions w0)" = $N ] && [ "$(wstat w0 dirty w0)" = 0 ]'
P0=$(worker_pid w0)
LAST=$(tail -n 1 "$T/cookies")
kill -STOP "$P0"
t_track "$P0"
t0=$(date +%s%N)
"$FCGI_LOAD" -a "unix:$T/w1.sock" --tags w0 --cookies "$T/cookies" -u $N -n $((2 * N)) \
	-c 8 --check-counter --tsv >"$T/backlog.tsv"
check "backlog: w1 took the $N users over (2 requests each, no error)" \
	grep -qP '^requests=1200\tok=1200\t' "$T/backlog.tsv"
# w1 flushes (graceful stop): redis holds 3 for each user.
flush_stop w1 || fail "backlog: w1 stops and writes its users"
# The last user comes back to w0 (old cookie) while it is still stopped:
# its connection waits in w0's listen queue (bounded wait for it).
"$FCGI_REQ" -i -t 20000 -c "STICKYSID=$LAST" "unix:$T/w0.sock" / >"$T/late" 2>&1 &
RQ=$!
for _ in $(seq 1 100); do
	[ "$(ss -xlH src "$T/w0.sock" | awk '{ print $3; exit }')" -ge 1 ] 2>/dev/null && break
	sleep 0.05
done
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
kill -CONT "$P0"
t_untrack "$P0"
wait $RQ
late=$(sed -n 's/.*count=\([0-9]*\).*/\1/p' "$T/late")
t_log "backlog: w0 stopped ${ms} ms; $(grep -c 'event=taken_over worker=w0' "$T/sticky.log") announcements read after it resumed"
check "backlog: the resumed owner answers the newest state (4), not its stale copy (2): got ${late:-nothing}" [ "$late" = 4 ]
check "backlog: w0 noticed the backlog and verified its sessions" \
	grep -q 'event=announcement_backlog worker=w0' "$T/sticky.log"
stop_sticky
t_done
