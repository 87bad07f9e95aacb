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
# A background job of a script ignores SIGINT; start the demo with the
# default disposition, as a terminal would, in its own process group, so
# Ctrl-C can be sent as a terminal sends it: to the whole group.  The
# port is picked free but may be taken before lighttpd binds it: then the
# demo exits at start and is started again on another port (5 tries).
for try in 1 2 3 4 5; do
	PORT=$(free_port)
	DEMO_PORT=$PORT DEMO_SETUP=0 DEMO_BUILD=$top_builddir python3 -c '
import os, signal, sys
os.setsid()
signal.signal(signal.SIGINT, signal.SIG_DFL)
os.execvp("bash", ["bash", sys.argv[1]])' "$top_srcdir/contrib/demo/run-demo.sh" >"$T/demo.out" 2>&1 &
	DEMO=$!
	t_track $DEMO
	for _ in $(seq 1 600); do
		grep -q 'sticky demo is running' "$T/demo.out" && break
		kill -0 $DEMO 2>/dev/null || break
		sleep 0.1
	done
	kill -0 $DEMO 2>/dev/null && break
	t_untrack $DEMO
	t_log "the demo exited at start (try $try): $(tail -n 3 "$T/demo.out" | tr '\n' ' ')"
	grep -q 'in use\|lighttpd did not start' "$T/demo.out" || break
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
# Its last change is in Redis (async: after one checkpoint interval).
for _ in $(seq 1 200); do
	[ "$("$STICKYCTL" -o "listen=unix:$DT/%t.sock" -o workers=2 -o status_path=/sticky-status \
		status json 2>/dev/null | python3 -c 'import json,sys; print(sum(w["dirty"] for w in json.load(sys.stdin)["workers"]))' 2>/dev/null)" = 0 ] && break
	sleep 0.05
done
PID=$("$STICKYCTL" -o "listen=unix:$DT/%t.sock" -o workers=2 -o status_path=/sticky-status \
	status json 2>/dev/null | python3 -c 'import json,sys; print([w["pid"] for w in json.load(sys.stdin)["workers"] if w["tag"]==sys.argv[1]][0])' "$W")
check "the serving worker $W has a pid ($PID)" [ -n "$PID" ]
kill -KILL "$PID"
curl_get # waits in the worker's socket until the master respawns it
check "after kill -9 of $W the count continues (6, got $COUNT from $W)" [ "$COUNT" = 6 ]

PIDS=$(pgrep -f "$DT" | tr '\n' ' ')
check "the demo runs its processes from its temp dir ($PIDS)" [ -n "$PIDS" ]
kill -INT -- -$DEMO # Ctrl-C: the demo and every process in its group
for _ in $(seq 1 200); do kill -0 $DEMO 2>/dev/null || break; sleep 0.05; done
wait $DEMO; rc=$?
t_untrack $DEMO
check "Ctrl-C stops the demo quietly (exit $rc)" \
	eval '[ "$rc" = 0 ] && ! grep -q "a process exited" "$T/demo.out"'
left=""
for p in $PIDS; do kill -0 "$p" 2>/dev/null && left="$left $p"; done
check "every process it started is gone (${left:-none left})" [ -z "$left" ]
check "its temp dir is removed" [ ! -d "$DT" ]
# (another process may take the freed port at once: ask who listens)
lis=$(ss -ltnpH "sport = :$PORT" 2>/dev/null)
mine=""
for p in $PIDS; do case $lis in *"pid=$p,"*) mine="$mine $p" ;; esac; done
check "none of its processes listens on 127.0.0.1:$PORT any more${mine:+ ($mine)}" [ -z "$mine" ]
t_done
