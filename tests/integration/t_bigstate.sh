#!/bin/bash
# t_bigstate.sh: large per-user state (the bigstate example, 64 KiB and
# 1 MiB) checkpointed as page deltas: after many requests that each change
# one page, every checkpoint in Redis verifies (CRC32C folded from cached
# page CRCs must equal the real one), a restore after SIGKILL brings the
# exact state back, and the bytes sent are a small part of the state.
. "$top_srcdir/tests/lib/procs.sh"
t_setup
STICKY_WORKERS=1
start_redis || { fail "redis starts"; t_done; exit 1; }
CTL() { "$STICKYCTL" -o "redis=unix:$REDIS_SOCK" $(secret_flag) -o app.name=bigstate "$@"; }
# Hooks: preload ran once, in the master, before fork (both workers see
# the same table at the same address, loaded by the master's pid, not
# their own); worker_init ran in each worker with its own tag.
STICKY_WORKERS=2
start_sticky bigstate -w 2 -r "unix:$REDIS_SOCK" || fail "hooks: daemon starts"
get w0 /info ""; I0=$BODY
get w1 /info ""; I1=$BODY
field_of() { sed -n "s/.*$1=\([^ ]*\).*/\1/p" <<<"$2"; }
check "preload: one table, same address in both workers ($(field_of shared "$I0"))" \
	eval '[ "$(field_of shared "$I0")" = "$(field_of shared "$I1")" ] && [ "$(field_of shared "$I0")" != "(nil)" ]'
check "preload: loaded by the master ($(field_of loaded_by "$I0") = $STICKY_PID)" \
	eval '[ "$(field_of loaded_by "$I0")" = "$STICKY_PID" ] && [ "$(field_of loaded_by "$I1")" = "$STICKY_PID" ]'
check "worker_init: each worker with its own tag and pid" \
	eval '[ "$(field_of worker_init "$I0")" = w0 ] && [ "$(field_of worker_init "$I1")" = w1 ] &&
	[ "$(field_of worker_pid "$I0")" = "$(worker_pid w0)" ]'
stop_sticky
STICKY_WORKERS=1
for size in 65536 1048576; do
	redis-cli -s "$REDIS_SOCK" flushall >/dev/null
	start_sticky bigstate -w 1 -r "unix:$REDIS_SOCK" -o app.state_bytes=$size \
		-o checkpoint=async -o checkpoint_interval=20 ||
		{ fail "$size: daemon starts"; continue; }
	get w0 / ""; SID=$SETCOOKIE
	for i in $(seq 2 60); do
		get w0 / "$SID"
		[ $((i % 10)) = 0 ] && sleep 0.05 # let async writes land
	done
	check "$size: 60 requests counted" [ "$(count_of)" = 60 ]
	wait_clean || t_log "$size: w0 still holds unflushed changes"
	check "$size: the checkpoint verifies" CTL verify "$SID"
	written=$(status_field w0 ckpt_written); sent=$(status_field w0 ckpt_bytes)
	t_log "$size: $written checkpoints, $sent bytes sent ($((sent / written)) per checkpoint)"
	check "$size: deltas: average bytes per checkpoint ($((sent / written))) < a quarter of the state" \
		[ $((sent / written)) -lt $((size / 4)) ]
	BEFORE=$(echo "$BODY" | sed -n 's/.*count=\([0-9]*\).*/\1/p')
	kill -KILL "$(worker_pid w0)" # the next request waits for the respawn
	get w0 /peek "$SID"
	check "$size: restored after SIGKILL with its exact count ($BEFORE)" [ "$(count_of)" = "$BEFORE" ]
	check "$size: and its size" grep -q "bytes=$size" <<<"$BODY"
	check "$size: no checkpoint was refused" [ "$(status_field w0 restore_bad)" = 0 ]
	stop_sticky
done
t_done
