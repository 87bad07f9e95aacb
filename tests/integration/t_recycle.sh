#!/bin/bash
# t_recycle.sh: per-worker limits that end a worker gracefully.  After
# max_requests a worker stops accepting, finishes, flushes its sessions
# and exits 0; its successor inherits the socket and restores the users:
# counts go on without a gap, under load too.  The same for max_rss (set
# below any real worker's size, so every worker recycles at its first
# check).  The reason is logged and counted (recycles), never as a crash.
#
# Limits: 2 workers, async checkpoints (the recycle's flush carries the
# state), a private Redis, unix sockets under $T; bounded loops.
. "$top_srcdir/tests/lib/procs.sh"
t_setup
STICKY_WORKERS=2
start_redis || { fail "redis starts"; t_done; exit 1; }
start_sticky counter -w 2 -r "unix:$REDIS_SOCK" -o checkpoint=async \
	-o checkpoint_interval=60000 -o max_requests=20 ||
	{ fail "daemon starts"; t_done; exit 1; }
ctl() {
	"$STICKYCTL" -o "listen=unix:$T/%t.sock" -o workers=2 \
		-o status_path=/sticky-status "$@"
}
# sf ASK TAG FIELD: a worker's field, read through worker ASK.
sf() { ctl status json "$1" | python3 -c 'import json,sys; t,f=sys.argv[1:3]; print([w[f] for w in json.load(sys.stdin)["workers"] if w["tag"]==t][0])' "$2" "$3"; }

# ---- max_requests: one user, 70 requests in a row on w0 ----
P0=$(sf w1 w0 pid)
get w0 / ""; A=$SETCOOKIE
bad=0
for i in $(seq 2 70); do
	get w0 / "$A"
	[ "$STATUS" = 200 ] && [ "$(count_of)" = "$i" ] || { bad=$((bad + 1)); t_log "request $i: $STATUS $BODY"; }
done
check "70 requests across recycles: count 1..70 without a gap ($bad bad)" [ "$bad" = 0 ]
check "w0 recycled 3 times (max_requests 20), logged with the reason" \
	[ "$(grep -c 'event=recycle worker=w0 reason=max_requests served=20' "$T/sticky.log")" -ge 3 ]
check "recycles counted on the status page ($(sf w1 w0 recycles))" [ "$(sf w1 w0 recycles)" -ge 3 ]
check "a recycle is not a crash (crashes 0), the slot restarted ($(sf w1 w0 restarts))" \
	eval '[ "$(sf w1 w0 crashes)" = 0 ] && [ "$(sf w1 w0 restarts)" -ge 3 ]'
check "w0 has a new pid" [ "$(sf w1 w0 pid)" != "$P0" ]
check "the recycled worker exited 0 after flushing" \
	bash -c "grep -q 'event=worker_stopped worker=w0 served=20 recycle=1' '$T/sticky.log' && ! grep -q 'event=stop_unsaved' '$T/sticky.log'"
check "requests counted across recycles ($(sf w1 w0 requests) >= 70)" [ "$(sf w1 w0 requests)" -ge 70 ]

# ---- max_requests under load: 20 users, 600 requests ----
"$FCGI_LOAD" -a "unix:$T/w0.sock,unix:$T/w1.sock" -u 20 -c 4 -n 600 \
	--check-counter --tsv >"$T/load.tsv" 2>"$T/load.err"
rc=$?
t_log "load: $(cat "$T/load.tsv")"
field() { tr '\t' '\n' <"$T/load.tsv" | sed -n "s/^$1=//p"; }
check "under load: 600 requests, $(field errors) failed, $(field lost) lost, max_jump $(field max_jump)" \
	eval '[ "$rc" = 0 ] && [ "$(field ok)" = 600 ] && [ "$(field lost)" = 0 ] && [ "$(field max_jump)" = 1 ]'
check "under load: both workers recycled many times" \
	eval '[ "$(sf w0 w1 recycles)" -ge 10 ] && [ "$(sf w1 w0 recycles)" -ge 10 ]'
stop_sticky

# ---- max_rss: 1 MiB, below any worker (~1.7 MiB): each recycles at its
# first check, 250 ms after it starts ----
: >"$T/sticky.log"
start_sticky counter -w 2 -r "unix:$REDIS_SOCK" -o checkpoint=async \
	-o checkpoint_interval=60000 -o max_rss=1 ||
	{ fail "daemon starts (max_rss)"; t_done; exit 1; }
get w0 / "$A"
first=$(count_of)
check "the user continues on w0 after a restart (71)" [ "$first" = 71 ]
bad=0
for i in $(seq 1 15); do
	get w0 / "$A"
	[ "$STATUS" = 200 ] && [ "$(count_of)" = $((first + i)) ] || bad=$((bad + 1))
	sleep 0.1
done
check "1.5 s of requests across max_rss recycles: no gap ($bad bad)" [ "$bad" = 0 ]
check "max_rss recycles logged with the reason and the size" \
	grep -qE 'event=recycle worker=w0 reason=max_rss rss_kb=[0-9]+ max_rss_mb=1' "$T/sticky.log"
check "max_rss recycles counted ($(sf w1 w0 recycles)), no crash" \
	eval '[ "$(sf w1 w0 recycles)" -ge 2 ] && [ "$(sf w1 w0 crashes)" = 0 ]'
t_done
