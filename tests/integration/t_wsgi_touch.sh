#!/bin/bash
# t_wsgi_touch.sh: session.touch() (tests/python/touchy.py, a 1 MiB numpy
# model).  Requests that touch the slice they change send about a page to
# Redis (the image: no copy and no comparison of the model at the flush);
# requests that touch nothing, replace the array, grow the pickle stream
# or touch a strided view are compared or written whole, and every one of
# them is restored exactly after kill -9, in sync and in async mode.  Next
# to an image, changes without touch() are found by comparison (small
# writes); a request that raised is compared, not taken at its word; a
# change touch() did not cover is not in the checkpoint (touch() is a
# promise: what shows the image is used).  Arrays that share memory get
# no image and are restored exact.
# Limits: unix sockets in $T only; ~10 s.
. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/lib/procs.sh"
. "$top_srcdir/tests/lib/wsgi.sh"
wsgi_require
t_setup
STICKY_WORKERS=1
start_redis || { fail "redis starts"; t_done; exit 1; }

# restart_w0: kill -9 the worker and wait for its successor.
restart_w0() {
	local pid
	pid=$(worker_pid w0)
	kill -KILL "$pid"
	for _ in $(seq 1 200); do
		get w0 /check "$C" && [ "$STATUS" = 200 ] && [ "$(worker_pid w0)" != "$pid" ] && return 0
		sleep 0.05
	done
	return 1
}

# sent N PATH: N requests of user $C (in async mode a flush apart), then
# the checkpoint writes and bytes to Redis they caused: DW, DB.
sent() {
	local w b
	sleep 0.2
	w=$(status_field w0 ckpt_written); b=$(status_field w0 ckpt_bytes)
	for _ in $(seq 1 "$1"); do get w0 "$2" "$C"; [ "$mode" = async ] && sleep 0.08; done
	sleep 0.2
	DW=$(($(status_field w0 ckpt_written) - w)); DB=$(($(status_field w0 ckpt_bytes) - b))
}

run() { # MODE
	local mode=$1
	start_wsgi touchy:application -w 1 -r "unix:$REDIS_SOCK" \
		-o checkpoint="$mode" -o checkpoint_interval=50 \
		--state-factory touchy:new_user || { fail "$mode: sticky-wsgi starts"; return; }
	get w0 /touch ""
	C=$SETCOOKIE
	get w0 /touch "$C" # written whole: the image is laid out
	sent 20 /touch
	check "$mode: 20 touched 512-byte changes to a 1 MiB model: $DW writes, $DB bytes to Redis (< 20 x 12 KiB) ($BODY)" \
		eval '[ $DW -ge 10 ] && [ $DB -lt $((20 * 12288)) ] && [ "$(count_of)" = 22 ] && echo "$BODY" | grep -q " ok=1 "'
	restart_w0 || fail "$mode: worker back after kill -9"
	check "$mode: restored exactly after kill -9 ($BODY)" eval 'echo "$BODY" | grep -q "^count=22 ok=1 "'
	local n=22 p
	for p in /quiet /touch /replace /touch /grow /touch /strided /touch; do
		get w0 "$p" "$C"
		n=$((n + 1))
		[ "$mode" = async ] && sleep 0.2
		restart_w0 || fail "$mode: worker back after kill -9 ($p)"
		check "$mode: $p then kill -9: count=$n, model exact ($BODY)" \
			eval 'echo "$BODY" | grep -q "^count=$n ok=1 "'
	done
	# With an image: changes made without touch() are found by comparing
	# the arrays with it (small writes, not the whole model).
	get w0 /touch "$C"
	get w0 /touch "$C"
	sent 5 /quiet
	check "$mode: changes without touch() next to an image: $DW writes, $DB bytes (< 5 x 12 KiB)" \
		eval '[ $DW -ge 3 ] && [ $DB -lt $((5 * 12288)) ]'
	n=$((n + 7))
	get w0 /raise "$C"
	n=$((n + 1))
	check "$mode: /raise answers 500" [ "$STATUS" = 500 ]
	[ "$mode" = async ] && sleep 0.2
	restart_w0 || fail "$mode: worker back after kill -9 (/raise)"
	check "$mode: a request that raised is compared, not taken at its word: count=$n, model exact ($BODY)" \
		eval 'echo "$BODY" | grep -q "^count=$n ok=1 "'
	# touch() is taken at its word: a change it does not cover stays out
	# of the checkpoint (what shows the image is used: a comparison with
	# the last checkpoint would have found it).
	get w0 /touch "$C" # the image again (none after a restore)
	n=$((n + 1))
	[ "$mode" = async ] && sleep 0.2
	get w0 /lie "$C"
	[ "$mode" = async ] && sleep 0.2
	restart_w0 || fail "$mode: worker back after kill -9 (/lie)"
	n=$((n + 1))
	check "$mode: a change touch() did not cover is not in the checkpoint (count=$n, ok=0: $BODY)" \
		eval 'echo "$BODY" | grep -q "^count=$n ok=0 "'
	stop_sticky
}

# Arrays that share memory (a view kept next to its base): pickled as two
# buffers, never kept as an image; a touch of one is not trusted to cover
# the other.
alias_run() { # MODE
	local mode=$1 n
	start_wsgi touchy:application -w 1 -r "unix:$REDIS_SOCK" \
		-o checkpoint="$mode" -o checkpoint_interval=50 \
		--state-factory touchy:new_user || { fail "$mode: sticky-wsgi starts"; return; }
	get w0 /touch ""
	C=$SETCOOKIE
	get w0 /alias "$C"
	for _ in $(seq 1 5); do get w0 /touch "$C"; [ "$mode" = async ] && sleep 0.08; done
	n=$(count_of)
	[ "$mode" = async ] && sleep 0.2
	restart_w0 || fail "$mode: worker back after kill -9 (alias)"
	check "$mode: a view kept next to its base, touched through the base: both restored exact (count=$n: $BODY)" \
		eval 'echo "$BODY" | grep -q "^count=$n ok=1 "'
	stop_sticky
}

run sync
run async
alias_run sync
alias_run async
t_done
