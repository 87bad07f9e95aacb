#!/bin/bash
# python.sh: the Python section of `make bench` (also run alone:
# `make bench-python`, or tests/bench/python.sh [short|full|smoke]).
# Side by side in one run, the same FastCGI load generator (fcgi-load, 8
# connections, 200 users), 2 worker processes each, interleaved rounds:
#
#   uwsgi-hello        uWSGI 2.0 (Debian uwsgi-plugin-python3), --fastcgi-socket,
#                      --processes 2 --master: tests/bench/python/hello.py
#   sticky-hello       sticky-wsgi, the same hello.py
#   uwsgi-redis-S      uWSGI, the user's state (a numpy model of S bytes)
#                      pickled to and from Redis on every request
#                      (python3-redis): tests/bench/python/state_redis.py
#   sticky-async-S     sticky-wsgi, the state kept live in the worker,
#                      async checkpoints (pickle protocol 5, page deltas);
#                      the app says what it changed (session.touch())
#   sticky-untouched-S the same without touch(): each flush lays the whole
#                      payload out and compares it with the last one
#   sticky-off-S       sticky-wsgi, checkpoints off
#
# for S = 64 KiB and 1 MiB.  CPU per request sums the servers' processes
# and Redis.  Writes $BENCH_OUT/python.tsv and python.md and prints the
# table (tests/bench/report_python.py).  Needs sticky-wsgi built; without
# uwsgi the uWSGI rows are left out.
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/env.sh"
. "$top_srcdir/tests/lib/wsgi.sh"

MODE=${1:-${BENCH_MODE:-short}}
case $MODE in
short) ROUNDS=3 SECS=2 SIZES="65536 1048576" ;;
full) ROUNDS=5 SECS=5 SIZES="65536 1048576" ;;
smoke) ROUNDS=1 SECS=0.5 SIZES="65536" ;;
*) echo "usage: $0 [short|full|smoke]" >&2; exit 2 ;;
esac
ROUNDS=${BENCH_ROUNDS:-$ROUNDS}
SECS=${BENCH_SECONDS:-$SECS}
USERS=${BENCH_PY_USERS:-200}
CONC=${BENCH_CONC:-8}
WORKERS=2
OUT=${BENCH_OUT:-$top_builddir/bench-results}
APPS="$top_srcdir/tests/bench/python"
T0=$(date +%s)
note() { printf '# [%3ds] python: %s\n' $(($(date +%s) - T0)) "$*" >&2; }

if [ ! -x "$STICKY_WSGI" ]; then
	note "sticky-wsgi is not built (python3-embed): section skipped"
	exit 0
fi
UWSGI=0
command -v uwsgi >/dev/null && [ -e /usr/lib/uwsgi/plugins/python3_plugin.so ] && UWSGI=1
[ $UWSGI = 1 ] || note "uwsgi or uwsgi-plugin-python3 missing: uWSGI rows left out"

t_setup
mkdir -p "$OUT" || exit 2
RAW="$OUT/python.tsv"
: >"$RAW"
start_redis || { note "redis did not start"; exit 1; }
export BENCH_REDIS_SOCK="$REDIS_SOCK"
wsgi_conf

declare -A DIR PID KIND SIZE ADDR
CONFIGS=()

# start NAME KIND SIZE
start() {
	local name=$1 kind=$2 size=$3 d="$T/$1"
	mkdir -p "$d"
	chmod 755 "$d"
	case $kind in
	uwsgi-hello|uwsgi-redis)
		local mod=hello
		[ "$kind" = uwsgi-redis ] && mod=state_redis
		BENCH_STATE_BYTES=$size uwsgi --plugin python3 --fastcgi-socket "$d/w0.sock" \
			--chmod-socket=666 --processes $WORKERS --master --need-app \
			--disable-logging --pythonpath "$APPS" --module "$mod:application" \
			>"$d/log" 2>&1 &
		ADDR[$name]="unix:$d/w0.sock" ;;
	sticky-hello)
		"$STICKY_WSGI" -c "$T/wsgi.conf" -w $WORKERS -l "unix:$d/%t.sock" \
			-o checkpoint=off -o socket_mode=0666 --pythonpath "$APPS" \
			--app hello:application >"$d/log" 2>&1 &
		ADDR[$name]="unix:$d/w0.sock,unix:$d/w1.sock" ;;
	sticky-*)
		local ck=${kind#sticky-} touch=1
		[ "$ck" = untouched ] && ck=async touch=0
		BENCH_TOUCH=$touch BENCH_STATE_BYTES=$size "$STICKY_WSGI" -c "$T/wsgi.conf" -w $WORKERS \
			-l "unix:$d/%t.sock" -r "unix:$REDIS_SOCK" -o "redis_prefix=$name:" \
			-o "checkpoint=$ck" -o socket_mode=0666 \
			--pythonpath "$APPS" --app state_sticky:application \
			--state-factory state_sticky:new_user >"$d/log" 2>&1 &
		ADDR[$name]="unix:$d/w0.sock,unix:$d/w1.sock" ;;
	esac
	PID[$name]=$!
	t_track $!
	DIR[$name]=$d KIND[$name]=$kind SIZE[$name]=$size
	for _ in $(seq 1 300); do [ -S "$d/w0.sock" ] && break; sleep 0.02; done
	bench_ready "${ADDR[$name]}" || { note "$name did not start"; tail -5 "$d/log" >&2; exit 1; }
	CONFIGS+=("$name")
}

CLK=$(getconf CLK_TCK)
ticks() {
	local t=0 p a
	for p in "$@"; do
		read -r -a a < <(sed 's/^.*) //' "/proc/$p/stat" 2>/dev/null) || continue
		t=$((t + a[11] + a[12]))
	done
	echo $t
}

[ $UWSGI = 1 ] && start uwsgi-hello uwsgi-hello 0
start sticky-hello sticky-hello 0
for s in $SIZES; do
	[ $UWSGI = 1 ] && start "uwsgi-redis-$s" uwsgi-redis "$s"
	start "sticky-async-$s" sticky-async "$s"
	start "sticky-untouched-$s" sticky-untouched "$s"
	start "sticky-off-$s" sticky-off "$s"
done
note "${#CONFIGS[@]} configurations up: ${CONFIGS[*]}"
# Users start with written sessions (a pool per configuration, minted
# before any measured run), so runs measure users whose state exists,
# not the first write of fresh ones.
PROBE="$top_builddir/tests/bench/bench-probe"
for name in "${CONFIGS[@]}"; do
	case ${KIND[$name]} in *hello) continue ;; esac
	addrs=${ADDR[$name]//,/ }
	set -- $addrs
	per=$(( (USERS + $# - 1) / $# ))
	for a in $addrs; do
		"$PROBE" mint "$a" "$per" / || { note "mint $name failed"; exit 1; }
	done >"${DIR[$name]}/pool"
done
sleep 1 # the async flush of the minted sessions
note "$USERS sessions per configuration minted"

N=${#CONFIGS[@]}
for r in $(seq 1 "$ROUNDS"); do
	for i in $(seq 0 $((N - 1))); do
		name=${CONFIGS[$(( (i + r - 1) % N ))]}
		chk=--check-counter
		case ${KIND[$name]} in *hello) chk= ;; esac
		procs="${PID[$name]} $(pgrep -P "${PID[$name]}" | tr '\n' ' ')"
		c0=$(ticks $procs)
		r0=$(ticks "$REDIS_PID")
		pool=
		[ -s "${DIR[$name]}/pool" ] && pool="--cookies ${DIR[$name]}/pool"
		line=$("$FCGI_LOAD" -a "${ADDR[$name]}" -u "$USERS" -c "$CONC" -d "$SECS" \
			-t 10000 --tsv $chk $pool 2>>"$T/load.err")
		c1=$(ticks $procs)
		r1=$(ticks "$REDIS_PID")
		printf 'section=python\tround=%s\tname=%s\tkind=%s\tsize=%s\t%s\tcpu_server_us=%d\tcpu_redis_us=%d\n' \
			"$r" "$name" "${KIND[$name]}" "${SIZE[$name]}" "$line" \
			$(( (c1 - c0) * 1000000 / CLK )) $(( (r1 - r0) * 1000000 / CLK )) >>"$RAW"
		sleep 0.2
	done
	note "round $r/$ROUNDS done"
done
printf 'mode=%s\trounds=%s\tseconds=%s\tusers=%s\tconc=%s\tworkers=%s\tdate=%s\tcpus=%s\tloadavg=%s\tuwsgi=%s\tpython=%s\n' \
	"$MODE" "$ROUNDS" "$SECS" "$USERS" "$CONC" "$WORKERS" "$(date -u +%Y-%m-%dT%H:%MZ)" \
	"$(nproc)" "$(cut -d' ' -f1 /proc/loadavg)" "$(uwsgi --version 2>/dev/null || echo -)" \
	"$("$PY" -c 'import sys; print(sys.version.split()[0])')" >"$OUT/python-meta.tsv"
"$PY" "$top_srcdir/tests/bench/report_python.py" "$OUT"
