#!/bin/bash
# run-demo.sh: the README's demo.  On a fresh Debian 12 machine it installs
# what sticky needs, builds it, and starts, all on this machine only:
#   - a private redis-server on a unix socket (checkpoints),
#   - the counter example: 2 workers (w0, w1) on unix sockets,
#   - lighttpd on http://127.0.0.1:8080/ with the routing rules that
#     `stickyctl routes lighttpd` generates (sticky by the session cookie).
# It prints the URL and what to try, and runs until Ctrl-C, then stops
# every process it started (by pid) and removes its temp dir.
#
# DEMO_PORT changes the port; DEMO_WORKERS the number of workers;
# DEMO_BUILD the build directory (default build/); DEMO_SETUP=0 skips the
# package check (tests/integration/t_demo.sh runs the demo that way).
set -u
top=$(cd "$(dirname "$0")/../.." && pwd)
cd "$top" || exit 1
build=${DEMO_BUILD:-$top/build}

if [ "${DEMO_SETUP:-1}" != 0 ]; then
	sh contrib/setup-debian.sh || { echo "demo: setup failed" >&2; exit 1; }
fi
[ -x configure ] || autoreconf -fi >/dev/null 2>&1 || { echo "demo: autoreconf failed" >&2; exit 1; }
mkdir -p "$build"
(cd "$build" && { [ -f Makefile ] || "$top/configure" -q; } && make -s -j2 >/dev/null) ||
	{ echo "demo: build failed (see $build/)" >&2; exit 1; }

export top_srcdir=$top top_builddir=$build
. "$top/tests/lib/procs.sh"
. "$top/tests/integration/frontends.sh"
STICKY_WORKERS=${DEMO_WORKERS:-2}
FE_PORT_FIXED=${DEMO_PORT:-8080}
FE_TIMEOUT=5
fe_setup
if (exec 3<>"/dev/tcp/127.0.0.1/$FE_PORT_FIXED") 2>/dev/null; then
	echo "demo: 127.0.0.1:$FE_PORT_FIXED is in use; set DEMO_PORT" >&2
	exit 1
fi
start_redis || { echo "demo: redis-server did not start" >&2; exit 1; }
start_sticky counter -w "$STICKY_WORKERS" -r "unix:$REDIS_SOCK" ||
	{ echo "demo: workers did not start" >&2; exit 1; }
fe_start lighttpd || { echo "demo: lighttpd did not start" >&2; exit 1; }

cat <<MSG

  sticky demo is running: http://127.0.0.1:$FE_PORT/

  Reload the page: the count goes up, served by the same worker (its tag
  is in the page and in the X-Sticky-Worker header).  A new browser (or
  curl without a cookie) may land on the other worker.

    curl -s -c $T/jar -b $T/jar http://127.0.0.1:$FE_PORT/

  Kill the worker that serves you; the master respawns it on the same
  socket and it restores your count from Redis:

    kill -9 \$(pgrep -P $STICKY_PID | head -1)      # or the other one

  Redis names each session by a keyed hash of its id, under the secret in
  $T/secret (secret_file): $STICKYCTL -o secret_file=$T/secret name <cookie>

  Status page:  $STICKYCTL -o 'listen=unix:$T/%t.sock' -o workers=$STICKY_WORKERS -o status_path=/sticky-status status
  Logs:         $T/sticky.log   lighttpd: $T/lighttpd/sticky.conf

  Ctrl-C stops everything.
MSG
# Ctrl-C reaches the whole foreground process group: redis, the workers
# and lighttpd stop on it too, maybe before this loop notices the signal.
# So a stop is quiet (exit 0) whenever SIGINT or SIGTERM arrived, even
# just after a process was seen gone; "wait" returns at once on a trapped
# signal, where a foreground sleep would finish first.
stop=""
trap 'stop=1' INT TERM
while [ -z "$stop" ] && kill -0 "$STICKY_PID" 2>/dev/null && kill -0 "$FE_PID" 2>/dev/null; do
	sleep 1 &
	wait $! 2>/dev/null
done
if [ -z "$stop" ]; then
	sleep 0.5 &
	wait $! 2>/dev/null # a Ctrl-C that killed the process first arrives here
fi
[ -n "$stop" ] && exit 0
echo "demo: a process exited; stopping" >&2
exit 1
