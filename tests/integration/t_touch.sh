#!/bin/bash
# t_touch.sh: checkpoints that read only what changed.  bigstate (1 MiB)
# has a codec view and touches the ranges it changes: after the first
# (full) write each checkpoint sends the touched pages only, the checkpoint
# verifies, and a restore after SIGKILL gives back identical bytes.  A
# change made without a touch (bigtouch's /untouched) is not sent with the
# view, and is with app.view=0 (the whole-state path): the control that
# shows which path wrote.
. "$top_srcdir/tests/lib/procs.sh"
t_setup
APP="$top_builddir/tests/integration/apps/bigtouch"
[ -x "$APP" ] || { fail "bigtouch is built ($APP: make check builds it)"; t_done; exit 1; }
mkdir -p "$T/apps/bigtouch"
printf '#!/bin/sh\nexec "%s" "$@"\n' "$APP" >"$T/apps/bigtouch/bigtouch"
chmod 755 "$T/apps/bigtouch/bigtouch"
STICKY_WORKERS=1
SIZE=1048576
PAGE=4096
start_redis || { fail "redis starts"; t_done; exit 1; }
CTL() { "$STICKYCTL" -o "redis=unix:$REDIS_SOCK" $(secret_flag) -o app.name=bigstate "$@"; }
fnv_of() { echo "$BODY" | sed -n 's/.*fnv=\([0-9a-f]*\).*/\1/p'; }
# get_back URI SID: after a SIGKILL, until the respawned worker answers
# (bounded: 15 s, however long each try takes).
get_back() {
	local end=$((SECONDS + 15))
	while [ $SECONDS -lt $end ]; do
		get w0 "$1" "$2" && [ "$STATUS" = 200 ] && return 0
		sleep 0.05
	done
	return 1
}
for view in 1 0; do
	redis-cli -s "$REDIS_SOCK" flushall >/dev/null
	EXAMPLES="$T/apps" start_sticky bigtouch -w 1 -r "unix:$REDIS_SOCK" \
		-o app.state_bytes=$SIZE -o app.view=$view -o checkpoint=async \
		-o checkpoint_interval=20 || { fail "view=$view: daemon starts"; continue; }
	get w0 / ""; SID=$SETCOOKIE
	sleep 0.3 # the first write, whole
	w0=$(status_field w0 ckpt_written); b0=$(status_field w0 ckpt_bytes)
	for i in 1 2 3 4 5 6; do get w0 / "$SID"; sleep 0.1; done
	w1=$(status_field w0 ckpt_written); b1=$(status_field w0 ckpt_bytes)
	n=$((w1 - w0))
	check "view=$view: one checkpoint per request ($n)" [ "$n" -ge 6 ]
	per=$(( (b1 - b0) / (n > 0 ? n : 1) ))
	t_log "view=$view: $n checkpoints, $per bytes each"
	# two pages (the count's, the floats'), the header and the replay log
	check "view=$view: each sends the two pages changed ($per <= $((2 * PAGE + 1024)))" \
		[ "$per" -le $((2 * PAGE + 1024)) ]
	check "view=$view: the checkpoint verifies" CTL verify "$SID"
	get w0 /fnv "$SID"; C=$(count_of); F=$(fnv_of)
	kill -KILL "$(worker_pid w0)"
	get_back /fnv "$SID"
	check "view=$view: restored after SIGKILL: same count ($C) and bytes ($F)" \
		eval '[ "$(count_of)" = "$C" ] && [ "$(fnv_of)" = "$F" ]'
	sleep 1.1 # a worker that lived < 1 s is respawned after a back-off
	get w0 /untouched "$SID"
	sleep 0.3
	get w0 /fnv "$SID"; C=$(count_of); FMEM=$(fnv_of)
	check "view=$view: written and verified" CTL verify "$SID"
	kill -KILL "$(worker_pid w0)"
	get_back /fnv "$SID"
	check "view=$view: count after restore ($C)" [ "$(count_of)" = "$C" ]
	if [ "$view" = 1 ]; then
		# (under secret_file too: the MAC's block tags of untouched
		# pages are those of what Redis holds)
		check "view=1: a change without a touch is not sent (only touched pages are written)" \
			[ "$(fnv_of)" != "$FMEM" ]
	else
		check "view=0: the whole-state path sends every change" [ "$(fnv_of)" = "$FMEM" ]
	fi
	check "view=$view: no checkpoint was refused" [ "$(status_field w0 restore_bad)" = 0 ]
	stop_sticky
done
t_done
