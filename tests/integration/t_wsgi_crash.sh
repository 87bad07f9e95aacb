#!/bin/bash
# t_wsgi_crash.sh: kill -9 under load with sync checkpoints loses no
# acknowledged update, for Python apps: the WSGI counter and the Flask
# recommender (a 64 KiB numpy model per user, pickled out of band).
# fcgi-load --check-counter counts, per user, every acknowledged count=N
# that later went back (lost, lost_incr), the same accounting as
# t_checkpoint.sh, while workers are SIGKILLed at random.
# Limits: unix sockets in $T only; ~15 s.
. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/lib/procs.sh"
. "$top_srcdir/tests/lib/wsgi.sh"
wsgi_require
t_setup
STICKY_WORKERS=3
start_redis || { fail "redis starts"; t_done; exit 1; }
field() { tr '\t' '\n' <"$1" | sed -n "s/^$2=//p"; }

# crash_run NAME APP [flags]: 5 s of load, a worker SIGKILLed every 0.6 s.
crash_run() {
	local name=$1 app=$2 kills=0
	shift 2
	start_wsgi "$app" -w 3 -r "unix:$REDIS_SOCK" -o checkpoint=sync "$@" ||
		{ fail "$name: sticky-wsgi starts"; return 1; }
	"$FCGI_LOAD" -a "unix:$T/w0.sock,unix:$T/w1.sock,unix:$T/w2.sock" -u 30 \
		-c 6 -d 5 --check-counter --tsv >"$T/crash-$name.tsv" 2>"$T/load.err" &
	local load=$!
	t_track $load
	sleep 0.5
	for k in 1 2 3 4 5 6; do
		local p
		p=$(worker_pid "w$((RANDOM % 3))")
		[ -n "$p" ] && kill -KILL "$p" && kills=$((kills + 1))
		sleep 0.6
	done
	wait $load
	t_untrack $load
	t_log "$name: kills=$kills $(cat "$T/crash-$name.tsv")"
	local hits=0 i
	for i in 0 1 2; do hits=$((hits + $(status_field "w$i" restore_hits))); done
	stop_sticky
	check "$name: users restored from checkpoints after the kills (restore_hits=$hits)" [ "$hits" -gt 0 ]
	check "$name: workers were killed ($kills)" [ "$kills" -ge 5 ]
	check "$name: acknowledged updates ($(field "$T/crash-$name.tsv" ok))" [ "$(field "$T/crash-$name.tsv" ok)" -gt 100 ]
	check "$name: no acknowledged update lost (lost=$(field "$T/crash-$name.tsv" lost), lost_incr=$(field "$T/crash-$name.tsv" lost_incr))" \
		eval '[ "$(field "$T/crash-$name.tsv" lost)" = 0 ] && [ "$(field "$T/crash-$name.tsv" lost_incr)" = 0 ]'
	check "$name: zero refused connections" [ "$(field "$T/crash-$name.tsv" connect)" = 0 ]
}

crash_run counter counter:application
crash_run flask recommender:app --state-factory recommender:new_user
t_done
