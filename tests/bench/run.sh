#!/bin/bash
# run.sh: sticky's benchmark.  Starts everything it measures itself (one
# Redis, the libfcgi baselines, sticky's bigstate example, nginx), on unix
# sockets and 127.0.0.1 only, in a private temp dir, and stops every process
# by pid at exit.  See tests/bench/README.md for what each figure means.
#
#   tests/bench/run.sh [short|full|smoke]     (or BENCH_MODE=...)
#   make bench BENCH_MODE=full                (from the build dir)
#
# Environment:
#   BENCH_MODE     short (default, < 3 min), full (~10 min), smoke (make
#                  check: tiny sizes, ~1 s per configuration, < 30 s)
#   BENCH_PIN=1    pinned mode: every server and client on CPU 0 (taskset
#                  -c 0), so req/s reads as CPU cost per request
#   BENCH_OUT      results dir (default $top_builddir/bench-results):
#                  raw.tsv (one line per run), summary.tsv, bench.md
#   BENCH_ROUNDS, BENCH_SECONDS, BENCH_SIZES (bytes, comma-separated),
#   BENCH_USERS, BENCH_CONC, BENCH_RATE    override the mode's values
#   BENCH_E2E=0    skip the front-end section
#   BENCH_PYTHON=0 skip the Python section (tests/bench/python.sh)
#
# Sections, in order (the destructive ones last):
#   tput     closed loop, every configuration once per round, rounds
#            interleaved with a rotating order: hello, redis-per-request
#            and sticky off/async/sync at each size
#   rate     open loop at BENCH_RATE req/s (3,000), 64 KiB: p99 with
#            async checkpoints against none
#   e2e      the 64 KiB configurations through nginx, driven by wrk with
#            random cookies from a pool of pre-created sessions
#   restore  sessions written, worker SIGKILLed, each user's first answer
#            on the respawned worker (+ the status page's restore time)
#   respawn  SIGKILL to the first answer on that worker's socket
#   memory   RSS growth of one worker per 10k sessions of 1 KiB
#   scale    tests/bench/scale.sh: one worker holding 10K (short) or 10K,
#            100K and 1M (full) users; BENCH_SCALE=0 skips it
set -u

here=$(cd "$(dirname "$0")" && pwd)
. "$here/env.sh"

MODE=${1:-${BENCH_MODE:-short}}
case $MODE in
short) GAP=0.2 ROUNDS=3 SECS=1.5 SIZES=1024,65536,1048576 USERS=64 CONC=8
	RATE_SECS=1.5 E2E_SECS=2 E2E_ROUNDS=2 RESTORE_N=100 RESPAWN_K=3 MEM_N=10000 RATE_USERS=200 ;;
full) GAP=0.2 ROUNDS=5 SECS=5 SIZES=1024,65536,1048576 USERS=64 CONC=8
	RATE_SECS=5 E2E_SECS=5 E2E_ROUNDS=3 RESTORE_N=500 RESPAWN_K=10 MEM_N=10000 RATE_USERS=200 ;;
smoke) GAP=0.05 ROUNDS=1 SECS=0.8 SIZES=1024,8192 USERS=16 CONC=4
	RATE_SECS=0.8 E2E_SECS=1 E2E_ROUNDS=1 RESTORE_N=20 RESPAWN_K=1 MEM_N=1000 RATE_USERS=20 ;;
*) echo "usage: $0 [short|full|smoke]" >&2; exit 2 ;;
esac
ROUNDS=${BENCH_ROUNDS:-$ROUNDS}
SECS=${BENCH_SECONDS:-$SECS}
SIZES=${BENCH_SIZES:-$SIZES}
USERS=${BENCH_USERS:-$USERS}
CONC=${BENCH_CONC:-$CONC}
RATE=${BENCH_RATE:-3000}
PIN=${BENCH_PIN:-0}
E2E=${BENCH_E2E:-1}
OUT=${BENCH_OUT:-$top_builddir/bench-results}
WORKERS=2
# The size the rate, e2e and restore sections use: 64 KiB, or the
# largest size asked for below it (smoke).
MID=65536
case ",$SIZES," in *,65536,*) ;; *) MID=$(echo "$SIZES" | tr , '\n' | sort -n | tail -1) ;; esac
BIG=$(echo "$SIZES" | tr , '\n' | sort -n | tail -1)

FCGI_LOAD=${BENCH_FCGI_LOAD:-$FCGI_LOAD}
RUN=""
[ "$PIN" = 1 ] && RUN="taskset -c 0"
HELLO="$top_builddir/tests/bench/baseline_hello"
REDISBL="$top_builddir/tests/bench/baseline_redis"
PROBE="$top_builddir/tests/bench/bench-probe"
BIGSTATE="$EXAMPLES/bigstate/bigstate"
for b in "$PROBE" "$BIGSTATE" "$FCGI_LOAD" "$STICKYCTL"; do
	[ -x "$b" ] || { echo "run.sh: $b is not built (make check TESTS= builds it)" >&2; exit 2; }
done
# The baselines link libfcgi, which configure only warns about: without
# them the hello world and Redis-per-request configurations are skipped,
# and the notes and the report say so.
BASELINES=1
[ -x "$HELLO" ] && [ -x "$REDISBL" ] || BASELINES=0

t_setup
mkdir -p "$OUT" || exit 2
RAW="$OUT/raw.tsv"
: >"$RAW"
T0=$(date +%s)
note() { printf '# [%3ds] %s\n' $(($(date +%s) - T0)) "$*" >&2; }

# ---- servers -----------------------------------------------------------
declare -A SRV_DIR SRV_PID SRV_KIND SRV_SIZE

# start_srv NAME KIND SIZE [extra sticky -o options]: KIND hello, redis,
# off, async, sync; workers on $T/NAME/w0.sock, w1.sock.
start_srv() {
	local name=$1 kind=$2 size=$3 d="$T/$1"
	shift 3
	mkdir -p "$d"
	chmod 755 "$d"
	case $kind in
	hello) $RUN "$HELLO" -w $WORKERS -l "unix:$d/%t.sock" >"$d/log" 2>&1 & ;;
	redis) $RUN "$REDISBL" -w $WORKERS -l "unix:$d/%t.sock" -r "unix:$REDIS_SOCK" \
		-s "$size" >"$d/log" 2>&1 & ;;
	*) $RUN "$BIGSTATE" -w $WORKERS -l "unix:$d/%t.sock" -r "unix:$REDIS_SOCK" \
		-o "checkpoint=$kind" -o "app.state_bytes=$size" \
		-o worker_header=X-Sticky-Worker -o socket_mode=0666 \
		-o status_path=/sticky-status -o "redis_prefix=$name:" "$@" \
		>"$d/log" 2>&1 & ;;
	esac
	SRV_PID[$name]=$!
	t_track $!
	SRV_DIR[$name]=$d
	SRV_KIND[$name]=$kind
	SRV_SIZE[$name]=$size
	bench_ready "$(for w in $(seq 0 $((WORKERS - 1))); do echo "unix:$d/w$w.sock"; done)" /peek || { note "$name did not start"; tail -5 "$d/log" >&2; exit 1; }
}

# mint_pool NAME N: N sessions created and written before any measured
# run ($T/NAME/pool, one cookie value a line, alternating w0, w1 so that
# the first K lines are spread evenly), so runs measure users whose
# state exists, not the first write of fresh ones.
mint_pool() {
	local d=${SRV_DIR[$1]} w half=$(( ($2 + WORKERS - 1) / WORKERS ))
	for w in $(seq 0 $((WORKERS - 1))); do
		"$PROBE" mint "unix:$d/w$w.sock" "$half" >"$d/pool.w$w" ||
			{ note "mint $1 failed"; exit 1; }
	done
	paste -d '\n' "$d"/pool.w* | sed '/^$/d' >"$d/pool"
}

addrs() { local d=${SRV_DIR[$1]}; echo "unix:$d/w0.sock,unix:$d/w1.sock"; }

# status NAME TAG FIELD: one field of one worker from sticky's status page.
status() {
	"$STICKYCTL" -o "listen=unix:${SRV_DIR[$1]}/%t.sock" -o workers=$WORKERS \
		-o status_path=/sticky-status status json 2>/dev/null |
		python3 -c 'import json,sys; d=json.load(sys.stdin); t,f=sys.argv[1:3]; print([w[f] for w in d["workers"] if w["tag"]==t][0])' "$2" "$3"
}

# wait_clean NAME [nosleep]: until no worker has a dirty session (bounded,
# 5 s).  The status page's gauges (sessions, dirty) are refreshed every
# 250 ms, so right after the writes they may still read 0: wait one period
# first unless the caller did.
wait_clean() {
	local i
	[ "${2:-}" = nosleep ] || sleep 0.3
	for i in $(seq 1 100); do
		[ "$(status "$1" w0 dirty)" = 0 ] && [ "$(status "$1" w1 dirty)" = 0 ] && return 0
		sleep 0.05
	done
	return 1
}

# kv KEY LINE: the value of KEY=... in a tab-separated key=value line.
kv() { printf '%s\n' "$2" | tr '\t' '\n' | sed -n "s/^$1=//p" | head -1; }

# record SECTION key=value...: one line of raw.tsv.
record() {
	local IFS=$'\t'
	printf 'section=%s\t%s\n' "$1" "${*:2}" >>"$RAW"
}

# ticks PID...: their user + system CPU time, in clock ticks.
CLK=$(getconf CLK_TCK)
ticks() {
	local t=0 p a
	for p in "$@"; do
		read -r -a a < <(sed 's/^.*) //' "/proc/$p/stat" 2>/dev/null) || continue
		t=$((t + a[11] + a[12]))
	done
	echo $t
}
workers_of() { pgrep -P "$1" | tr '\n' ' '; }

# load NAME [fcgi-load options]: one closed- or open-loop run; echoes its
# fcgi-load --tsv line plus the CPU time the workers and Redis used
# (cpu_workers_us, cpu_redis_us), which the machine's other load does not
# inflate the way it does req/s.
load() {
	local name=$1 chk= wp w0 w1 r0 r1 line
	shift
	[ "${SRV_KIND[$name]}" != hello ] && chk=--check-counter
	wp=$(workers_of "${SRV_PID[$name]}")
	w0=$(ticks $wp)
	r0=$(ticks "$REDIS_PID")
	[ "$POOLS" = 1 ] && [ -s "${SRV_DIR[$name]}/pool" ] &&
		set -- --cookies "${SRV_DIR[$name]}/pool" "$@"
	line=$($RUN "$FCGI_LOAD" -a "$(addrs "$name")" -t 5000 --tsv \
		--worker-header X-Sticky-Worker $chk "$@" 2>>"$T/load.err")
	w1=$(ticks $wp)
	r1=$(ticks "$REDIS_PID")
	printf '%s\tcpu_workers_us=%d\tcpu_redis_us=%d\n' "$line" \
		$(( (w1 - w0) * 1000000 / CLK )) $(( (r1 - r0) * 1000000 / CLK ))
}

# busy_pct: how busy the machine is over 1 s (before our load starts: the
# other users of the machine).
busy_pct() {
	local a b
	read -r -a a < <(head -1 /proc/stat)
	sleep 1
	read -r -a b < <(head -1 /proc/stat)
	awk -v u=$((b[1] + b[2] + b[3] + b[6] + b[7] + b[8] - a[1] - a[2] - a[3] - a[6] - a[7] - a[8])) \
		-v i=$((b[4] + b[5] - a[4] - a[5])) 'BEGIN { printf "%.0f\n", (u + i) ? 100 * u / (u + i) : 0 }'
}

size_name() {
	case $1 in
	0) echo - ;;
	*) if [ $(($1 % 1048576)) = 0 ]; then echo "$(($1 / 1048576))MiB"
	   elif [ $(($1 % 1024)) = 0 ]; then echo "$(($1 / 1024))KiB"
	   else echo "${1}B"; fi ;;
	esac
}

BUSY0=-
[ "$MODE" != smoke ] && BUSY0=$(busy_pct)
LOAD0=$(cut -d' ' -f1 /proc/loadavg)
note "machine busy before the run: ${BUSY0}% (load average $LOAD0)"
note "mode $MODE, pinned=$PIN, sizes $SIZES, $ROUNDS rounds x ${SECS}s, users $USERS, concurrency $CONC"
if [ "$PIN" = 1 ]; then
	# procs.sh's start_redis runs redis-server in the background: exec
	# keeps its pid the one that is tracked and stopped.
	redis-server() { exec taskset -c 0 "$(type -P redis-server)" "$@"; }
fi
start_redis || { note "redis did not start"; exit 1; }

CONFIGS=()
KINDS="redis off async sync"
if [ "$BASELINES" = 1 ]; then
	start_srv hello hello 0
	CONFIGS+=(hello)
else
	KINDS="off async sync"
	note "SKIPPED: the libfcgi baselines (hello world, Redis per request) are not built: libfcgi-dev was not found when configure ran"
fi
for s in ${SIZES//,/ }; do
	for k in $KINDS; do
		start_srv "$k-$s" "$k" "$s"
		CONFIGS+=("$k-$s")
	done
done
note "${#CONFIGS[@]} configurations up"
# fcgi-load --cookies FILE (users start with these sessions) where it has
# it: exit 2 is a usage error, 1 the connection refused here.
POOLS=0
"$FCGI_LOAD" --cookies /dev/null -a "unix:$T/none.sock" -n 1 -t 100 --tsv >/dev/null 2>&1
[ $? = 1 ] && POOLS=1
NPOOL=$(( USERS > RATE_USERS ? USERS : RATE_USERS ))
for name in "${CONFIGS[@]}"; do
	[ "${SRV_KIND[$name]}" = hello ] || mint_pool "$name" "$NPOOL"
done
sleep 0.3 # see wait_clean
for name in "${CONFIGS[@]}"; do
	case ${SRV_KIND[$name]} in async|sync) wait_clean "$name" nosleep || note "$name: pool not written yet" ;; esac
done
note "$NPOOL sessions per configuration created; users start with them: $([ $POOLS = 1 ] && echo yes || echo 'no (fcgi-load has no --cookies: every run starts fresh users)')"

# ---- tput: interleaved rounds -----------------------------------------
N=${#CONFIGS[@]}
STEP=$(( (N + ROUNDS - 1) / ROUNDS ))
for r in $(seq 1 "$ROUNDS"); do
	off=$(( ((r - 1) * STEP) % N ))
	for i in $(seq 0 $((N - 1))); do
		name=${CONFIGS[$(( (i + off) % N ))]}
		line=$(load "$name" -u "$USERS" -c "$CONC" -d "$SECS")
		record tput "round=$r" "kind=${SRV_KIND[$name]}" "size=${SRV_SIZE[$name]}" \
			"$line"
		sleep "$GAP" # the async flush of the last dirty pages lands here
	done
	note "tput round $r/$ROUNDS done"
done

# ---- rate: open loop at a fixed rate ----------------------------------
for r in $(seq 1 "$ROUNDS"); do
	order="off-$MID async-$MID"
	[ $((r % 2)) = 0 ] && order="async-$MID off-$MID"
	for name in $order; do
		line=$(load "$name" -u "$RATE_USERS" -c 256 -r "$RATE" -d "$RATE_SECS")
		record rate "round=$r" "kind=${SRV_KIND[$name]}" "size=$MID" "rate=$RATE" "$line"
		sleep "$GAP"
	done
done
note "rate ($RATE req/s, $(size_name "$MID")) done"

# ---- e2e: through nginx, wrk with a cookie pool -----------------------
wrk_us() { # 1.23ms -> 1230
	awk -v v="$1" 'BEGIN { n = v + 0; u = v; sub(/^[0-9.]+/, "", u);
		f = (u == "us") ? 1 : (u == "ms") ? 1000 : (u == "s") ? 1000000 : (u == "m") ? 60000000 : 0;
		printf "%d\n", n * f }'
}
if [ "$E2E" = 1 ] && command -v nginx >/dev/null && command -v wrk >/dev/null; then
	fe="$T/nginx"
	mkdir -p "$fe"
	[ "$(id -u)" = 0 ] && chown nobody "$fe" 2>/dev/null
	E2E_CONFIGS="hello redis-$MID off-$MID async-$MID sync-$MID"
	[ "$BASELINES" = 1 ] || E2E_CONFIGS="off-$MID async-$MID sync-$MID"
	declare -A FE_PORTS
	{
		echo "pid $fe/nginx.pid;"
		echo "error_log $fe/error.log warn;"
		echo "worker_processes 1;"
		echo "events { worker_connections 1024; }"
		echo "http {"
		echo "    access_log off;"
		for p in client_body proxy fastcgi uwsgi scgi; do
			echo "    ${p}_temp_path $fe/${p}_temp;"
		done
		for name in $E2E_CONFIGS; do
			echo "    include $fe/${name}.conf;"
		done
		echo "}"
	} >"$fe/nginx.conf"
	# e2e_confs: each backend's recipe on a free port (picked again on each
	# try: a port may be taken before nginx binds it).
	e2e_confs() {
		local name
		for name in $E2E_CONFIGS; do
			FE_PORTS[$name]=$(free_port)
			# The recipe sticky generates, used as-is for every backend.
			"$STICKYCTL" -o "listen=unix:${SRV_DIR[$name]}/%t.sock" -o workers=$WORKERS \
				-o cookie_name=STICKYSID routes nginx --bind 127.0.0.1 \
				--port "${FE_PORTS[$name]}" --name "b_${name//-/_}" --timeout 5 \
				>"$fe/$name.conf" || { note "stickyctl routes failed"; exit 1; }
		done
	}
	e2e_confs
	for name in $E2E_CONFIGS; do
		# the configuration's pool of written sessions (none for hello)
		: >"$fe/$name.pool"
		[ -s "${SRV_DIR[$name]}/pool" ] && cp "${SRV_DIR[$name]}/pool" "$fe/$name.pool"
	done
	cat >"$fe/pool.lua" <<'EOF'
-- wrk: each request carries the cookie of a random user of the pool
-- (the file given after --), so the front-end routes it to its worker.
local pool = {}
function init(args)
	for line in io.lines(args[1]) do
		if #line > 0 then pool[#pool + 1] = line end
	end
	math.randomseed(os.time() + (tonumber(tostring({}):match("0x(%x+)"), 16) or 0) % 1000)
end
function request()
	if #pool == 0 then return wrk.format("GET", "/") end
	return wrk.format("GET", "/", { ["Cookie"] = "STICKYSID=" .. pool[math.random(#pool)] })
end
EOF
	# nginx exits when a port was taken meanwhile: new ports, again (5 tries).
	for try in 1 2 3 4 5; do
		$RUN nginx -p "$fe" -c "$fe/nginx.conf" -g 'daemon off;' >"$fe/stderr.log" 2>&1 &
		FE_PID=$!
		t_track $FE_PID
		fe_ok=1
		for name in $E2E_CONFIGS; do
			wait_port "${FE_PORTS[$name]}" 200 || { fe_ok=0; break; }
		done
		kill -0 "$FE_PID" 2>/dev/null || fe_ok=0
		[ $fe_ok = 1 ] && break
		kill -TERM "$FE_PID" 2>/dev/null
		wait "$FE_PID" 2>/dev/null
		t_untrack "$FE_PID"
		note "nginx did not start (try $try):"
		cat "$fe/stderr.log" "$fe/error.log" 2>/dev/null | tail -3 >&2
		e2e_confs
	done
	if [ $fe_ok = 1 ]; then
		read -r -a EC <<<"$E2E_CONFIGS"
		ne=${#EC[@]}
		for r in $(seq 1 "$E2E_ROUNDS"); do
			for i in $(seq 0 $((ne - 1))); do
				name=${EC[$(( (i + (r - 1) * 2) % ne ))]}
				out=$($RUN wrk -t1 -c "$((CONC * 2))" -d "${E2E_SECS}s" --timeout 5s --latency \
					-s "$fe/pool.lua" "http://127.0.0.1:${FE_PORTS[$name]}/" -- "$fe/$name.pool" 2>&1)
				rps=$(echo "$out" | sed -n 's/^Requests\/sec: *//p')
				p50=$(wrk_us "$(echo "$out" | awk '$1 == "50%" { print $2 }')")
				p99=$(wrk_us "$(echo "$out" | awk '$1 == "99%" { print $2 }')")
				n=$(echo "$out" | sed -n 's/^ *\([0-9]*\) requests in.*/\1/p')
				non2xx=$(echo "$out" | sed -n 's/.*Non-2xx or 3xx responses: *//p')
				sock=$(echo "$out" | sed -n 's/.*Socket errors: connect \([0-9]*\), read \([0-9]*\), write \([0-9]*\), timeout \([0-9]*\).*/\1+\2+\3+\4/p')
				errs=$(( ${non2xx:-0} + ${sock:-0} ))
				[ -z "$rps" ] && { errs=1; note "wrk failed: $(echo "$out" | head -3)"; }
				echo "$out" >"$T/wrk.last"
				record e2e "round=$r" "kind=${SRV_KIND[$name]}" "size=${SRV_SIZE[$name]}" \
					"frontend=nginx" "requests=${n:-0}" "rps=${rps:-0}" "p50_us=$p50" \
					"p99_us=$p99" "errors=$errs" "pool=$(wc -l <"$fe/$name.pool")"
				sleep "$GAP"
			done
		done
		note "e2e through nginx done"
	fi
	kill -TERM "$FE_PID" 2>/dev/null
	for _ in $(seq 1 100); do kill -0 "$FE_PID" 2>/dev/null || break; sleep 0.05; done
	kill -KILL "$FE_PID" 2>/dev/null
	wait "$FE_PID" 2>/dev/null
	t_untrack "$FE_PID"
else
	note "e2e skipped (BENCH_E2E=0 or no nginx/wrk)"
fi

rss_kb() { sed -n "s/^VmRSS:[[:space:]]*\([0-9]*\) kB/\1/p" "/proc/$1/status"; }

# ---- restore: SIGKILL a worker holding written sessions ----------------
RESTORE_SIZES=$MID
[ "$BIG" != "$MID" ] && RESTORE_SIZES="$MID $BIG"
for s in $RESTORE_SIZES; do
	name="async-$s"
	d=${SRV_DIR[$name]}
	"$PROBE" mint "unix:$d/w0.sock" "$RESTORE_N" >"$T/restore.$s" ||
		{ note "restore: mint failed"; record restore "size=$s" "n=$RESTORE_N" "ok=0" "errors=$RESTORE_N"; continue; }
	wait_clean "$name" || note "restore: $name still dirty"
	pid=$(status "$name" w0 pid)
	rss=$(rss_kb "$pid")
	h0=$(status "$name" w0 restore_hits)
	m0=$(status "$name" w0 restore_misses)
	u0=$(status "$name" w0 restore_us_total)
	rline=$("$PROBE" respawn "unix:$d/w0.sock" "$pid" 2000)
	line=$("$PROBE" replay "unix:$d/w0.sock" "$T/restore.$s")
	h1=$(status "$name" w0 restore_hits)
	m1=$(status "$name" w0 restore_misses)
	u1=$(status "$name" w0 restore_us_total)
	# the respawned slot may start its counters afresh
	if [ "$h1" -lt "$h0" ] || [ "$u1" -lt "$u0" ] || [ "$m1" -lt "$m0" ]; then h0=0 u0=0 m0=0; fi
	hits=$((h1 - h0))
	avg=0
	[ "$hits" -gt 0 ] && avg=$(( (u1 - u0) / hits ))
	record restore "size=$s" "$line" "restore_hits=$hits" "restore_misses=$((m1 - m0))" \
		"restore_avg_us=$avg" \
		"respawn_us=$(kv respawn_us "$rline")" "respawn_errors=$(kv errors "$rline")" \
		"rss_kb=$rss"
done
note "restore done"

# ---- respawn: SIGKILL to first answer ----------------------------------
name="async-$MID"
d=${SRV_DIR[$name]}
for k in $(seq 1 "$RESPAWN_K"); do
	pid=$(status "$name" w1 pid)
	rss=$(rss_kb "$pid")
	line=$("$PROBE" respawn "unix:$d/w1.sock" "$pid" 2000)
	record respawn "k=$k" "size=$MID" "rss_kb=$rss" "$line"
	# a worker that lived < 1 s is respawned after a back-off (crash loop)
	[ "$k" -lt "$RESPAWN_K" ] && sleep 1.1
done
note "respawn done"

# ---- memory: RSS per session -------------------------------------------
for k in off async; do
	name="mem-$k"
	start_srv "$name" "$k" 1024
	pid=$(status "$name" w0 pid)
	r0=$(rss_kb "$pid")
	line=$($RUN "$FCGI_LOAD" -a "unix:${SRV_DIR[$name]}/w0.sock" -u "$MEM_N" -n "$MEM_N" \
		-c "$CONC" -t 5000 --tsv 2>>"$T/load.err")
	[ "$k" = async ] && { wait_clean "$name" || note "memory: still dirty"; }
	sleep 0.2
	r1=$(rss_kb "$pid")
	sess=$(status "$name" w0 sessions)
	record memory "kind=$k" "size=1024" "sessions=$sess" "rss0_kb=$r0" "rss1_kb=$r1" \
		"errors=$(kv errors "$line")" "ok=$(kv ok "$line")"
done
note "memory done"

# ---- report --------------------------------------------------------------
stop_all() { # the servers, by pid, before the idle sample
	local n
	for n in "${!SRV_PID[@]}"; do kill -TERM "${SRV_PID[$n]}" 2>/dev/null; done
	for n in "${!SRV_PID[@]}"; do
		for _ in $(seq 1 100); do kill -0 "${SRV_PID[$n]}" 2>/dev/null || break; sleep 0.05; done
		kill -0 "${SRV_PID[$n]}" 2>/dev/null || t_untrack "${SRV_PID[$n]}"
	done
}
stop_all
BUSY1=-
[ "$MODE" != smoke ] && BUSY1=$(busy_pct)
{
	printf 'busy_before=%s\tbusy_after=%s\tloadavg_before=%s\tpools=%s\tpool_users=%s\tbaselines=%s\t' \
		"$BUSY0" "$BUSY1" "$LOAD0" "$POOLS" "$NPOOL" "$BASELINES"
	printf 'mode=%s\tpinned=%s\tdate=%s\tkernel=%s\tcpus=%s\tcpu=%s\trounds=%s\tseconds=%s\tusers=%s\tconc=%s\tworkers=%s\tseconds_total=%s\n' \
		"$MODE" "$PIN" "$(date -u +%Y-%m-%dT%H:%MZ)" "$(uname -r)" "$(nproc)" \
		"$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)" \
		"$ROUNDS" "$SECS" "$USERS" "$CONC" "$WORKERS" $(($(date +%s) - T0))
} >"$OUT/meta.tsv"
python3 "$top_srcdir/tests/bench/report.py" "$OUT"
rc=$?

# ---- scale: the scale curve, its own script (tests/bench/scale.sh) ------
# short: 10K users; full: 10K, 100K, 1M (make bench-scale runs it alone).
if [ "${BENCH_SCALE:-1}" = 1 ] && [ "$MODE" != smoke ]; then
	note "scale curve ($MODE)"
	BENCH_OUT="$OUT" bash "$here/scale.sh" "$MODE" &&
		{ echo; cat "$OUT/scale.md"; } >>"$OUT/bench.md"
fi

# ---- python: sticky-wsgi against uWSGI (its own script and table) -------
if [ "${BENCH_PYTHON:-1}" = 1 ]; then
	BENCH_OUT="$OUT" bash "$top_srcdir/tests/bench/python.sh" "$MODE" || rc=1
fi
exit $rc
