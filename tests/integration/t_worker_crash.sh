#!/bin/bash
# t_worker_crash.sh: SIGKILL a worker under load.  The master holds every
# socket, so the kernel queues connections while the worker is replaced:
# zero refused connections, and the new worker answers within a second.
# With sync checkpoints, the killed worker's users continue where they
# were.  A worker that keeps crashing is respawned with growing delays.
. "$top_srcdir/tests/lib/procs.sh"
t_setup
STICKY_WORKERS=2
start_redis || { fail "redis starts"; t_done; exit 1; }
start_sticky counter -w 2 -r "unix:$REDIS_SOCK" -o checkpoint=sync ||
	{ fail "daemon starts"; t_done; exit 1; }

get w0 / ""; SID=$SETCOOKIE
for i in 2 3 4 5; do get w0 / "$SID"; done
check "user at count 5 on w0" [ "$(count_of)" = 5 ]

PID0=$(worker_pid w0)
"$FCGI_LOAD" -a "unix:$T/w0.sock,unix:$T/w1.sock" -u 40 -c 8 -d 4 --tsv \
	>"$T/load.tsv" 2>"$T/load.err" &
LOAD=$!
t_track $LOAD
sleep 1
t0=$(date +%s%N)
kill -KILL "$PID0"
# Time to the first answer of the respawned worker.
back=""
for _ in $(seq 1 1000); do
	if "$FCGI_REQ" -t 1000 "unix:$T/w0.sock" /peek >/dev/null 2>&1; then
		back=$((($(date +%s%N) - t0) / 1000000)); break
	fi
	sleep 0.005
done
wait $LOAD
t_untrack $LOAD
t_log "load: $(cat "$T/load.tsv")"
t_log "SIGKILL to first answer: ${back:-never} ms"
field() { tr '\t' '\n' <"$T/load.tsv" | sed -n "s/^$1=//p"; }
# Respawned at once (no backoff: it had answered requests); the time is
# printed, the bound is loose as the machine may be busy.
check "the respawned worker answers (${back:-never} ms; no respawn backoff)" \
	eval '[ -n "$back" ] && [ "$back" -lt 5000 ] && ! grep -q "event=respawn_backoff tag=w0" "$T/sticky.log"'
check "zero refused connections during the kill ($(field connect))" [ "$(field connect)" = 0 ]
check "load completed requests ($(field ok) ok)" [ "$(field ok)" -gt 100 ]
NEWPID=$(worker_pid w0)
check "w0 has a new pid" eval '[ -n "$NEWPID" ] && [ "$NEWPID" != "$PID0" ]'
check "the master logged the crash with its signal" grep -q "event=worker_died tag=w0 pid=$PID0 signal=9" "$T/sticky.log"
get w0 / "$SID"
check "the killed worker's user continues at 6 (restored)" [ "$(count_of)" = 6 ]
check "restarts counted on the status page" [ "$(status_field w0 restarts)" -ge 1 ]

# A crash loop: a worker that dies young without answering anything (as
# when its worker_init fails).  Kill each new w0 as soon as it logs its
# start, before it can answer, 4 times; the master must slow down.  (A
# worker that answered requests is respawned at once whatever its age:
# t_replay.sh crashes workers every few hundred ms.)
started() { grep -c 'event=worker_started worker=w0 ' "$T/sticky.log"; }
for k in 1 2 3 4; do
	n=$(started)
	p=$(grep 'event=worker_started worker=w0 ' "$T/sticky.log" | tail -n 1 |
		sed -n 's/.* pid=\([0-9]*\).*/\1/p')
	[ -n "$p" ] && kill -KILL "$p" 2>/dev/null
	for _ in $(seq 1 300); do
		[ "$(started)" -gt "$n" ] && break
		sleep 0.01
	done
done
check "a crash loop backs off" grep -q 'event=respawn_backoff tag=w0' "$T/sticky.log"
get w0 / "$SID"
check "after the crash loop the user still continues (7)" [ "$(count_of)" = 7 ]
t_done
