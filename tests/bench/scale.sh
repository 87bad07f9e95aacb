#!/bin/bash
# scale.sh: sticky's scale curve.  One worker of the bigstate example
# (1 KiB of state per user, async checkpoints to a private Redis) holding
# 10K, 100K and 1M users, each step measured against the first in the same
# run.  Unix sockets only, every process tracked by pid and stopped at exit.
#
#   tests/bench/scale.sh [short|full|smoke]   (or make bench-scale: full)
#
# Environment: SCALE_STEPS (users per step, comma-separated; short 10000,
# full 10000,100000,1000000, smoke 2000), SCALE_SECONDS (measured run per
# step), SCALE_HOT (fcgi-load --hot, default 1000:90: 90% of the requests
# to the same 1,000 recently active users at every step, the rest to a
# random one of the others), BENCH_OUT.
#
# Per step:
#   populate  N new users over kept connections (fcgi-load -k, the fast
#             path), timed; their cookies saved for the measured run
#   settle    until no session is dirty: the time is the flush lag of
#             the whole population's first checkpoint
#   memory    worker VmRSS and Redis used_memory growth per user (and RSS
#             beyond the state itself, as codec.size counts it)
#   measure   closed loop, -c 8, one connection per request (as make
#             bench's tput): most requests go to a fixed set of recently
#             active users, the rest to a random cold one; req/s, p99 and
#             the largest oldest_dirty_ms sampled meanwhile (flush lag)
#   churn     N/10 (at most 20,000) new users with max_sessions = N: every
#             one evicts the least recently used (eviction sweeps, at most
#             256 sessions or 1 ms per call); req/s and p99 of that run, and the
#             longest sweep and async flush slice (status page)
#   restart   SIGKILL the worker, then 0.5 s windows of the measured load
#             until one is back to normal (req/s >= 0.9x, p99 <= 1.3x):
#             that time, the users restored, the average restore, Redis's
#             CPU meanwhile
# Output: $OUT/scale.tsv (one line per step, plot-ready), scale.md.
set -u

here=$(cd "$(dirname "$0")" && pwd)
. "$here/env.sh"
FCGI_LOAD=${SCALE_FCGI_LOAD:-$FCGI_LOAD}

MODE=${1:-${BENCH_MODE:-short}}
case $MODE in
short) STEPS=10000 SECS=3 ;;
full) STEPS=10000,100000,1000000 SECS=5 ;;
smoke) STEPS=2000 SECS=0.5 ;;
*) echo "usage: $0 [short|full|smoke]" >&2; exit 2 ;;
esac
STEPS=${SCALE_STEPS:-$STEPS}
SECS=${SCALE_SECONDS:-$SECS}
HOT=${SCALE_HOT:-1000:90}
OUT=${BENCH_OUT:-$top_builddir/bench-results}
STATE=1024
BIGSTATE="$EXAMPLES/bigstate/bigstate"
for b in "$BIGSTATE" "$FCGI_LOAD" "$STICKYCTL"; do
	[ -x "$b" ] || { echo "scale.sh: $b is not built (make check TESTS= builds it)" >&2; exit 2; }
done
t_setup
mkdir -p "$OUT" || exit 2
TSV="$OUT/scale.tsv"
T0=$(date +%s)
note() { printf '# [%3ds] scale: %s\n' $(($(date +%s) - T0)) "$*" >&2; }
kv() { printf '%s\n' "$2" | tr '\t' '\n' | sed -n "s/^$1=//p" | head -1; }
rss_kb() { sed -n "s/^VmRSS:[[:space:]]*\([0-9]*\) kB/\1/p" "/proc/$1/status"; }
redis_mem() { redis-cli -s "$REDIS_SOCK" info memory | sed -n 's/^used_memory:\([0-9]*\).*/\1/p'; }
now_ms() { date +%s%3N; }
CLK=$(getconf CLK_TCK)
# st FIELD: the worker's field from the status page.
st() {
	"$STICKYCTL" -o "listen=unix:$D/%t.sock" -o workers=1 \
		-o status_path=/sticky-status status json 2>/dev/null |
		python3 -c 'import json,sys; print(json.load(sys.stdin)["workers"][0][sys.argv[1]])' "$1"
}

start_redis || { note "redis did not start"; exit 1; }
printf 'users\tpopulate_s\tpopulate_rps\tsettle_ms\trss_per_user\toverhead_per_user\tredis_per_user\trps\tp50_us\tp99_us\tflush_lag_max_ms\tflush_slice_max_us\tchurn_rps\tchurn_p99_us\tevicted\tsweep_calls\tsweep_max_us\tsweep_avg_us\terrors\tlost\trestart_back_ms\trestart_windows\trestored\trestore_avg_us\tredis_cpu_max_pct\trestart_errors\n' >"$TSV"
for n in ${STEPS//,/ }; do
	D="$T/s$n"
	mkdir -p "$D"
	chmod 755 "$D"
	redis-cli -s "$REDIS_SOCK" flushall >/dev/null
	"$BIGSTATE" -w 1 -l "unix:$D/%t.sock" -r "unix:$REDIS_SOCK" \
		-o checkpoint=async -o "app.state_bytes=$STATE" -o app.shared_bytes=4096 \
		-o "max_sessions=$n" -o max_bytes=1000000000000 \
		-o worker_header=X-Sticky-Worker -o socket_mode=0666 \
		-o status_path=/sticky-status >"$D/log" 2>&1 &
	SP=$!
	t_track $SP
	for _ in $(seq 1 200); do "$FCGI_REQ" -t 1000 "unix:$D/w0.sock" /peek >/dev/null 2>&1 && break; sleep 0.05; done
	WP=$(st pid)
	sleep 0.3
	r0=$(rss_kb "$WP"); m0=$(redis_mem)
	note "$n users: populate"
	t1=$(now_ms)
	pl=$("$FCGI_LOAD" -a "unix:$D/w0.sock" -u "$n" -n "$n" -c 16 -k -t 20000 \
		--no-request-id --save-cookies "$D/pool" --tsv 2>>"$D/load.err")
	t2=$(now_ms)
	# settle: every session written once (bounded: 600 s)
	for _ in $(seq 1 12000); do [ "$(st dirty)" = 0 ] && break; sleep 0.05; done
	t3=$(now_ms)
	sleep 0.3 # gauges refresh every 250 ms
	r1=$(rss_kb "$WP"); m1=$(redis_mem)
	sess=$(st sessions)
	spu=$(( $(st bytes) / (sess > 0 ? sess : 1) )) # codec.size per user
	rpu=$(( (r1 - r0) * 1024 / n ))
	note "$n users: resident $sess, RSS/user $rpu B; measure ${SECS}s"
	lagf="$D/lag"
	: >"$lagf"
	( while :; do st loss_window_ms >>"$lagf"; sleep 0.2; done ) &
	LP=$!
	t_track $LP
	ml=$("$FCGI_LOAD" -a "unix:$D/w0.sock" -u "$n" --cookies "$D/pool" --hot "$HOT" \
		-c 8 -d "$SECS" -t 5000 --no-request-id --check-counter --tsv 2>>"$D/load.err")
	kill $LP 2>/dev/null; wait $LP 2>/dev/null; t_untrack $LP
	lag=$(sort -n "$lagf" | tail -1)
	fmax=$(st flush_us_max)
	ev0=$(st evictions); sc0=$(st sweep_calls); su0=$(st sweep_us)
	nc=$(( n / 10 < 20000 ? n / 10 : 20000 ))
	note "$n users: churn, $nc new users"
	cl=$("$FCGI_LOAD" -a "unix:$D/w0.sock" -u "$nc" -n "$nc" -c 8 -t 5000 \
		--no-request-id --tsv 2>>"$D/load.err")
	sleep 0.6 # the sweeps that follow the last new users
	ev1=$(st evictions); sc1=$(st sweep_calls); su1=$(st sweep_us)
	smax=$(st sweep_us_max)
	scalls=$((sc1 - sc0))
	savg=0
	[ "$scalls" -gt 0 ] && savg=$(( (su1 - su0) / scalls ))
	# restart: SIGKILL the worker, then 0.5 s windows of the same load on
	# its successor until one is back to normal (req/s >= 0.9x and p99
	# <= 1.3x of the measured run; at most 30 windows).  The time back is
	# counted in windows: fcgi-load's start (reading N cookies) is not in it.
	note "$n users: SIGKILL, restart under load"
	h0=$(st restore_hits); u0=$(st restore_us_total)
	kill -KILL "$WP"
	tk=$(now_ms)
	back=-1 win=0 rmax=0 rerr=0
	for win in $(seq 1 30); do
		rr0=$(awk '{print $14 + $15}' "/proc/$REDIS_PID/stat")
		wl=$("$FCGI_LOAD" -a "unix:$D/w0.sock" -u "$n" --cookies "$D/pool" --hot "$HOT" \
			-c 8 -d 0.5 -t 5000 --no-request-id --tsv 2>>"$D/load.err")
		rr1=$(awk '{print $14 + $15}' "/proc/$REDIS_PID/stat")
		rc=$(( (rr1 - rr0) * 1000000 / CLK / 5000 )) # Redis CPU, % of a core over 0.5 s
		[ "$rc" -gt "$rmax" ] && rmax=$rc
		rerr=$((rerr + $(kv errors "$wl")))
		if awk -v r="$(kv rps "$wl")" -v p="$(kv p99_us "$wl")" -v R="$(kv rps "$ml")" -v P="$(kv p99_us "$ml")" \
			'BEGIN { exit !(r >= 0.9 * R && p <= 1.3 * P) }'; then
			back=$(( $(now_ms) - tk ))
			break
		fi
	done
	h1=$(st restore_hits); u1=$(st restore_us_total)
	[ "$h1" -lt "$h0" ] && h0=0 u0=0 # the successor's counters may start afresh
	rh=$((h1 - h0))
	ravg=0
	[ "$rh" -gt 0 ] && ravg=$(( (u1 - u0) / rh ))
	errs=$(( $(kv errors "$pl") + $(kv errors "$ml") + $(kv errors "$cl") ))
	printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' \
		"$n" "$(awk -v a="$t1" -v b="$t2" 'BEGIN { printf "%.1f", (b - a) / 1000 }')" \
		"$(kv rps "$pl")" "$((t3 - t2))" "$rpu" "$((rpu - spu))" \
		"$(( (m1 - m0) / n ))" "$(kv rps "$ml")" "$(kv p50_us "$ml")" "$(kv p99_us "$ml")" \
		"${lag:-0}" "$fmax" "$(kv rps "$cl")" "$(kv p99_us "$cl")" "$((ev1 - ev0))" \
		"$scalls" "$smax" "$savg" "$errs" "$(kv lost "$ml")" \
		"$back" "$win" "$rh" "$ravg" "$rmax" "$rerr" >>"$TSV"
	kill -TERM $SP
	for _ in $(seq 1 400); do kill -0 $SP 2>/dev/null || break; sleep 0.05; done
	kill -KILL $SP 2>/dev/null
	wait $SP 2>/dev/null
	t_untrack $SP
	rm -f "$D/pool"
done
python3 - "$TSV" "$OUT/scale.md" "$HOT" "$SECS" <<'EOF'
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1]), delimiter='\t'))
out = []
p = out.append
p('### Scale: one worker, 1 KiB of state per user, async checkpoints')
p('')
p('Measured run: %s s closed loop, 8 in flight, one connection per request; '
  '--hot %s (recently active users : %% of requests to them; the rest to a random cold user). '
  'Ratios against the first step of the same run.' % (sys.argv[4], sys.argv[3]))
p('')
p('| users | populate s (req/s) | req/s | ratio | p99 us | ratio | RSS/user B | beyond state B | Redis/user B | settle ms | flush lag max ms | flush slice max us | churn req/s | churn p99 us | evicted | sweep max us | sweep avg us | errors |')
p('|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|')
b = rows[0] if rows else None
def f(x):
    try: return float(x)
    except ValueError: return 0.0
for r in rows:
    rr = f(r['rps']) / f(b['rps']) if f(b['rps']) else 0
    pr = f(r['p99_us']) / f(b['p99_us']) if f(b['p99_us']) else 0
    p('| %s | %s (%s) | %.0f | %.2fx | %s | %.2fx | %s | %s | %s | %s | %s | %s | %.0f | %s | %s | %s | %s | %s |' % (
        r['users'], r['populate_s'], r['populate_rps'], f(r['rps']), rr, r['p99_us'], pr,
        r['rss_per_user'], r['overhead_per_user'], r['redis_per_user'], r['settle_ms'],
        r['flush_lag_max_ms'], r['flush_slice_max_us'], f(r['churn_rps']), r['churn_p99_us'],
        r['evicted'], r['sweep_max_us'], r['sweep_avg_us'], int(f(r['errors'])) + int(f(r['lost']))))
p('')
p('Restart: the worker SIGKILLed after the runs above, then 0.5 s windows of the same load on its successor '
  '(each user restored from Redis on its first request; one request per user in flight, so one restore per user) '
  'until a window is back to normal (req/s >= 0.9x, p99 <= 1.3x of the measured run).')
p('')
p('| users | back to normal s (0.5 s windows) | users restored | restore avg us | Redis CPU max % | errors |')
p('|---:|---:|---:|---:|---:|---:|')
for r in rows:
    p('| %s | %s | %s | %s | %s | %s |' % (r['users'],
        '%.1f' % (0.5 * int(r['restart_windows'])) if r['restart_back_ms'] != '-1' else 'not within %s windows' % r['restart_windows'],
        r['restored'], r['restore_avg_us'], r['redis_cpu_max_pct'], r['restart_errors']))
if len(rows) > 1:
    last = rows[-1]
    rr = f(last['rps']) / f(b['rps']) if f(b['rps']) else 0
    pr = f(last['p99_us']) / f(b['p99_us']) if f(b['p99_us']) else 0
    p('')
    p('Targets: req/s at %s users >= 0.9x of %s: %.2fx %s; p99 <= 1.3x: %.2fx %s; '
      'longest sweep %s us (bounded: 256 sessions or 1 ms per call; the machine may preempt one).' % (
        last['users'], b['users'], rr, 'met' if rr >= 0.9 else 'NOT met',
        pr, 'met' if pr <= 1.3 else 'NOT met', max(int(f(r['sweep_max_us'])) for r in rows)))
p('')
p('Plot-ready: `%s` (one line per step).' % sys.argv[1].split('/')[-1])
open(sys.argv[2], 'w').write('\n'.join(out) + '\n')
print('\n'.join(out))
EOF
