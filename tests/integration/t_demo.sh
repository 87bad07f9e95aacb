#!/bin/bash
# t_demo.sh: the README's first command, contrib/demo/run-demo.sh, as a
# newcomer uses it: it prints the URL; the same browser (a curl cookie jar)
# keeps hitting the same worker through lighttpd with its count going up;
# killing that worker loses nothing (restored from Redis); Ctrl-C (SIGINT)
# stops every process it started and removes its temp dir.  Runs on a
# free port instead of 8080, with the build under test, without the
# package step (the suite's setup did it).
. "$top_srcdir/tests/lib/procs.sh"
t_setup
PORT=$(free_port)
# A background job of a script ignores SIGINT; start the demo with the
# default disposition, as a terminal would, so Ctrl-C can be sent.
DEMO_PORT=$PORT DEMO_SETUP=0 DEMO_BUILD=$top_builddir python3 -c '
import os, signal, sys
signal.signal(signal.SIGINT, signal.SIG_DFL)
os.execvp("bash", ["bash", sys.argv[1]])' "$top_srcdir/contrib/demo/run-demo.sh" >"$T/demo.out" 2>&1 &
DEMO=$!
t_track $DEMO
for _ in $(seq 1 600); do
	grep -q 'sticky demo is running' "$T/demo.out" && break
	kill -0 $DEMO 2>/dev/null || break
	sleep 0.1
done
check "the demo prints its URL" grep -q "sticky demo is running: http://127.0.0.1:$PORT/" "$T/demo.out" ||
	{ cat "$T/demo.out" >&2; t_done; exit 1; }
DT=$(sed -n 's|^  Logs: *\(/[^ ]*\)/sticky.log .*|\1|p' "$T/demo.out")
check "it names its temp dir ($DT)" [ -d "$DT" ]

curl_get() {
	OUT=$(curl -s -m 10 -D "$T/hdr" -c "$T/jar" -b "$T/jar" "http://127.0.0.1:$PORT/")
	COUNT=$(sed -n 's/^count=\([0-9]*\) .*/\1/p' <<<"$OUT")
	W=$(tr -d '\r' <"$T/hdr" | sed -n 's/^X-Sticky-Worker: //p')
}
bad=0 workers=""
for i in 1 2 3 4 5; do
	curl_get
	[ "$COUNT" = "$i" ] || bad=$((bad + 1))
	case " $workers " in *" $W "*) ;; *) workers="$workers $W" ;; esac
done
check "the same browser: counts 1..5 ($bad wrong), one worker ($workers)" \
	eval '[ "$bad" = 0 ] && [ "$(echo $workers | wc -w)" = 1 ]'

# The README's recovery step: kill the worker that serves you.
sleep 0.3 # one async checkpoint interval (100 ms) and more
PID=$("$STICKYCTL" -o "listen=unix:$DT/%t.sock" -o workers=2 -o status_path=/sticky-status \
	status json 2>/dev/null | python3 -c 'import json,sys; print([w["pid"] for w in json.load(sys.stdin)["workers"] if w["tag"]==sys.argv[1]][0])' "$W")
check "the serving worker $W has a pid ($PID)" [ -n "$PID" ]
kill -KILL "$PID"
sleep 0.3
curl_get
check "after kill -9 of $W the count continues (6, got $COUNT from $W)" [ "$COUNT" = 6 ]

PIDS=$(pgrep -f "$DT" | tr '\n' ' ')
check "the demo runs its processes from its temp dir ($PIDS)" [ -n "$PIDS" ]
kill -INT $DEMO
for _ in $(seq 1 200); do kill -0 $DEMO 2>/dev/null || break; sleep 0.05; done
wait $DEMO; rc=$?
t_untrack $DEMO
check "Ctrl-C stops the demo (exit $rc)" [ "$rc" = 0 ]
left=""
for p in $PIDS; do kill -0 "$p" 2>/dev/null && left="$left $p"; done
check "every process it started is gone (${left:-none left})" [ -z "$left" ]
check "its temp dir is removed" [ ! -d "$DT" ]
check "nothing listens on 127.0.0.1:$PORT any more" \
	bash -c "! (exec 3<>/dev/tcp/127.0.0.1/$PORT) 2>/dev/null"
t_done
