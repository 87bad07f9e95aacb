#!/bin/bash
# redis_mem.sh: what a user costs in Redis.  One worker of an example app
# (counter: 8 bytes of state; bigstate: 1 KiB) with async checkpoints to a
# private Redis; N new users over kept connections, then until none is
# dirty (every user written once); Redis's used_memory growth per user,
# its key count, and MEMORY USAGE of one user's key(s).  Unix sockets
# only; every process tracked by pid and stopped at exit.
#
#   tests/bench/redis_mem.sh [USERS] [counter|bigstate ...]
#                            (make bench-redis-mem: 100000, both apps)
#
# To compare two builds side by side, run it from each build tree one
# after the other (top_builddir=... top_srcdir=...): the script measures
# whatever layout that build writes.  Prints one tab-separated line per app:
# app users keys used_memory_per_user_B memory_usage_of_one_user_B
set -u

here=$(cd "$(dirname "$0")" && pwd)
. "$here/env.sh"

USERS=${1:-100000}
shift
APPS=${*:-counter bigstate}
for b in "$FCGI_LOAD" "$FCGI_REQ" "$STICKYCTL"; do
	[ -x "$b" ] || { echo "redis_mem.sh: $b is not built (make check TESTS= builds it)" >&2; exit 2; }
done
t_setup
redis_mem() { redis-cli -s "$REDIS_SOCK" info memory | sed -n 's/^used_memory:\([0-9]*\).*/\1/p'; }
# st FIELD: the worker's field from the status page.
st() {
	"$STICKYCTL" -o "listen=unix:$D/%t.sock" -o workers=1 \
		-o status_path=/sticky-status status json 2>/dev/null |
		python3 -c 'import json,sys; print(json.load(sys.stdin)["workers"][0][sys.argv[1]])' "$1"
}
start_redis || { echo "redis_mem.sh: redis did not start" >&2; exit 1; }
printf 'app\tusers\tkeys\tused_memory_per_user_B\tmemory_usage_of_one_user_B\n'
for app in $APPS; do
	D="$T/$app"
	mkdir -p "$D"
	chmod 755 "$D"
	redis-cli -s "$REDIS_SOCK" flushall >/dev/null
	extra=()
	[ "$app" = bigstate ] && extra=(-o app.state_bytes=1024 -o app.shared_bytes=4096)
	"$EXAMPLES/$app/$app" -w 1 -l "unix:$D/%t.sock" -r "unix:$REDIS_SOCK" \
		-o checkpoint=async "${extra[@]}" -o "max_sessions=$USERS" \
		-o max_bytes=1000000000000 -o socket_mode=0666 $(secret_flag) \
		-o status_path=/sticky-status >"$D/log" 2>&1 &
	SP=$!
	t_track $SP
	for _ in $(seq 1 200); do "$FCGI_REQ" -t 1000 "unix:$D/w0.sock" /peek >/dev/null 2>&1 && break; sleep 0.05; done
	redis-cli -s "$REDIS_SOCK" set sticky:probe x >/dev/null # the generation token and script cache exist
	redis-cli -s "$REDIS_SOCK" del sticky:probe >/dev/null
	sleep 0.5
	m0=$(redis_mem)
	"$FCGI_LOAD" -a "unix:$D/w0.sock" -u "$USERS" -n "$USERS" -c 16 -k -t 20000 \
		--no-request-id --tsv >/dev/null 2>>"$D/load.err"
	for _ in $(seq 1 12000); do [ "$(st dirty)" = 0 ] && break; sleep 0.05; done
	sleep 0.3
	m1=$(redis_mem)
	keys=$(redis-cli -s "$REDIS_SOCK" --scan --pattern 'sticky:{*' | sort -u | wc -l)
	one=$(redis-cli -s "$REDIS_SOCK" --scan --pattern 'sticky:{*' | head -1)
	one=${one%:*}
	usage=0
	for k in $(redis-cli -s "$REDIS_SOCK" --scan --pattern "$one:*"); do
		usage=$((usage + $(redis-cli -s "$REDIS_SOCK" memory usage "$k" samples 0)))
	done
	printf '%s\t%s\t%s\t%s\t%s\n' "$app" "$USERS" "$keys" $(( (m1 - m0) / USERS )) "$usage"
	kill "$SP"
	wait "$SP" 2>/dev/null
	t_untrack "$SP"
done
