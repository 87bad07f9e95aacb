#!/bin/bash
# t_wsgi_cow.sh: the app is imported once, in the master, and its data is
# shared copy-on-write by the workers.  tests/python/bigdata.py holds a
# 64 MiB numpy table and a 100k-entry dict at module level; with 1 and with
# 4 workers, every worker serves requests that read the data, then the
# memory of the workers is read from /proc/PID/smaps_rollup: RSS counts
# the shared pages in every worker, PSS splits them.  Printed as a line
# for docs/python.md; asserted: 4 workers' PSS stays far below 4 copies.
# Limits: Linux (smaps_rollup); unix sockets in $T only; ~6 s.
. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/lib/procs.sh"
. "$top_srcdir/tests/lib/wsgi.sh"
wsgi_require
t_setup
export BIGDATA_MB=64

# mem N: start N workers, load them, print "rss_kb pss_kb" summed over
# the workers, then the same with the master.
mem() {
	local n=$1 rss=0 pss=0 pid i
	STICKY_WORKERS=$n
	start_wsgi bigdata:application -w "$n" -o checkpoint=off || return 1
	for i in $(seq 0 $((n - 1))); do
		"$FCGI_LOAD" -a "unix:$T/w$i.sock" -u 4 -c 2 -n 200 --uri "/?$i" >/dev/null 2>&1
	done
	for i in $(seq 0 $((n - 1))); do
		pid=$(worker_pid "w$i")
		rss=$((rss + $(awk '/^Rss:/ { print $2 }' "/proc/$pid/smaps_rollup")))
		pss=$((pss + $(awk '/^Pss:/ { print $2 }' "/proc/$pid/smaps_rollup")))
	done
	pid=$(cat "$T/sticky.pid")
	mrss=$(awk '/^Rss:/ { print $2 }' "/proc/$pid/smaps_rollup")
	mpss=$(awk '/^Pss:/ { print $2 }' "/proc/$pid/smaps_rollup")
	stop_sticky
	echo "$rss $pss $((rss + mrss)) $((pss + mpss))"
}

one=$(mem 1) || { fail "1 worker starts"; t_done; exit 1; }
four=$(mem 4) || { fail "4 workers start"; t_done; exit 1; }
read -r rss1 pss1 trss1 tpss1 <<<"$one"
read -r rss4 pss4 trss4 tpss4 <<<"$four"
data_kb=$((BIGDATA_MB * 1024))
t_log "cow: data ${BIGDATA_MB} MiB; 1 worker: RSS $((rss1 / 1024)) MiB PSS $((pss1 / 1024)) MiB; 4 workers: RSS $((rss4 / 1024)) MiB PSS $((pss4 / 1024)) MiB (sums over workers); with the master: PSS $((tpss1 / 1024)) MiB vs $((tpss4 / 1024)) MiB"
echo "cow: data=${BIGDATA_MB}MiB w1_rss=$((rss1 / 1024))MiB w1_pss=$((pss1 / 1024))MiB w4_rss=$((rss4 / 1024))MiB w4_pss=$((pss4 / 1024))MiB total_pss_1=$((tpss1 / 1024))MiB total_pss_4=$((tpss4 / 1024))MiB" >&2
check "4 workers map the data 4 times (RSS $((rss4 / 1024)) MiB >= 4 x $BIGDATA_MB MiB)" [ "$rss4" -ge $((4 * data_kb)) ]
check "... but share it: PSS of 4 workers $((pss4 / 1024)) MiB < 1 copy + 4 x 20 MiB of private memory" \
	[ "$pss4" -lt $((data_kb + 4 * 20 * 1024)) ]
check "... master + 4 workers: PSS < 1.5 x master + 1 worker ($((tpss4 / 1024)) vs $((tpss1 / 1024)) MiB; 2 x if each loaded its own)" \
	[ $((tpss4 * 10)) -lt $((tpss1 * 15)) ]
t_done
