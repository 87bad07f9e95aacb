#!/bin/bash
# t_bench_smoke.sh: the benchmark still runs (make check; no timing
# assertion).  tests/bench/run.sh in smoke mode: tiny sizes, every
# configuration for ~1 s, then checks that every run answered without an
# error, that state stayed consistent (--check-counter), that restore,
# respawn and memory produced figures, and that the tables printed.
# Builds nothing: make check has built the baselines and tools.
. "$top_srcdir/tests/lib/procs.sh"
t_setup

out="$T/results"
t0=$(date +%s)
BENCH_OUT="$out" bash "$top_srcdir/tests/bench/run.sh" smoke >"$T/table.md" 2>"$T/run.err"
rc=$?
check "run.sh smoke exits 0 (in $(($(date +%s) - t0)) s)" [ "$rc" = 0 ]
[ "$rc" = 0 ] || tail -20 "$T/run.err" >&2

raw="$out/raw.tsv"
# field NAME LINE
field() { printf '%s\n' "$2" | tr '\t' '\n' | sed -n "s/^$1=//p" | head -1; }
# every line of SECTION has ok > 0 (or KEY > 0), errors = 0, lost = 0
section_clean() {
	local sec=$1 key=${2:-ok} n=0 bad=0 line
	while IFS= read -r line; do
		n=$((n + 1))
		if [ "$(field "$key" "$line")" = "" ] || [ "$(field errors "$line")" != 0 ] ||
			[ "${3:-}" = lost -a "$(field lost "$line")" != 0 ] ||
			! awk -v v="$(field "$key" "$line")" 'BEGIN { exit !(v + 0 > 0) }'; then
			bad=$((bad + 1))
			t_log "$sec: $line"
		fi
	done < <(grep -P "^section=$sec\t" "$raw" 2>/dev/null)
	echo "$n $bad"
}

# Without libfcgi the baselines are not built: 6 configurations, and the
# report says they were skipped.
NCONF=9
if [ ! -x "$top_builddir/tests/bench/baseline_hello" ]; then
	NCONF=6
	check "no libfcgi: the report says the baselines were skipped" grep -q 'Baselines skipped' "$T/table.md"
fi
set -- $(section_clean tput ok lost)
check "throughput: $NCONF configurations ran (hello, 2 sizes x redis/off/async/sync, or without the baselines 2 x off/async/sync): $1" [ "$1" -eq $NCONF ]
check "throughput: every run answered 200 with consistent counts ($2 bad)" [ "$2" -eq 0 ]
set -- $(section_clean rate ok lost)
check "fixed rate: off and async ran without errors ($1 runs, $2 bad)" [ "$1:$2" = 2:0 ]
if command -v nginx >/dev/null && command -v wrk >/dev/null; then
	set -- $(section_clean e2e requests)
	NE2E=5
	[ "$NCONF" = 9 ] || NE2E=3
	check "end to end through nginx: $NE2E configurations, no errors ($1 runs, $2 bad)" [ "$1:$2" = "$NE2E:0" ]
else
	ok "end to end skipped: no nginx or wrk"
fi
line=$(grep -P '^section=restore\t' "$raw" | head -1)
check "restore: every user answered after SIGKILL ($(field ok "$line")/$(field n "$line"))" \
	[ -n "$line" -a "$(field ok "$line")" = "$(field n "$line")" -a "$(field errors "$line")" = 0 ]
check "restore: the status page counted each restore ($(field restore_hits "$line") hits, $(field restore_misses "$line") not found)" \
	[ "$(field restore_hits "$line")" = "$(field n "$line")" -a "$(field restore_misses "$line")" = 0 ]
line=$(grep -P '^section=respawn\t' "$raw" | head -1)
us=$(field respawn_us "$line")
check "respawn: answered after SIGKILL (${us:-none} us), 0 client errors" \
	[ "${us:--1}" -ge 0 -a "$(field errors "$line")" = 0 ]
n=$(grep -cP '^section=memory\t.*\tsessions=1[0-9]{3}\t.*rss1_kb=[0-9]+\terrors=0' "$raw")
check "memory: RSS read for 1000 sessions, off and async ($n of 2)" [ "$n" -eq 2 ]

check "the table printed: throughput rows" [ "$(grep -c '^| \(hello world\|Redis per request\|sticky,\)' "$T/table.md")" -ge $NCONF ]
check "the table printed: ratios and targets" grep -q '^### Targets' "$T/table.md"
check "bench.md and summary.tsv written" [ -s "$out/bench.md" -a -s "$out/summary.tsv" ]
# The Python section (tests/bench/python.sh) when sticky-wsgi is built.
if [ -x "$top_builddir/src/python/sticky-wsgi" ]; then
	check "python section: the table printed, no errors, nothing lost" \
		eval 'grep -q "^### Python: sticky-wsgi against uWSGI" "$T/table.md" && ! grep -v "^section=" "$out/python.tsv" >/dev/null && ! grep -Eq "errors=[1-9]|lost=[1-9]" "$out/python.tsv"'
fi
t_done
