#!/bin/bash
# t_harden.sh: what a hostile peer or a hostile local user can do.
# 1. Every descriptor of the master and of a worker (listening socket,
#    FastCGI connections, Redis connections, log file) is close-on-exec:
#    a child a handler runs (system(), popen()) inherits none of them.
# 2. Started as root, the pid file and the log file are opened before the
#    privilege drop: a symbolic link planted there is refused with a clear
#    error, and the file it points to is left alone.
# 3. A FastCGI peer that sends records earning a reply and never reads
#    cannot grow a worker's memory: past a cap on its pending output the
#    worker stops reading it (counted as output_stalls), and other users
#    are still served.  (Without the cap: 64 MiB sent in ~1 s, the worker
#    +128 MiB RSS.)
. "$top_srcdir/tests/lib/procs.sh"
t_setup
start_redis || { fail "redis starts"; t_done; exit 1; }
STICKY_WORKERS=1
start_sticky counter -w 1 -r "unix:$REDIS_SOCK" -o "log_file=$T/sticky.log" ||
	{ fail "daemon starts"; t_done; exit 1; }

# ---- 1. close-on-exec ----
get w0 / ""
check "a request is served (the worker holds its Redis connections)" [ "$STATUS" = 200 ]
W0=$(worker_pid w0)
# O_CLOEXEC in /proc/PID/fdinfo's octal flags; 0-2 are stdio, meant to be
# inherited.  Prints each inheritable descriptor the daemon opened: its
# sockets and its files in $T (not what the test harness left open).
inheritable() {
	local pid=$1 f fd flags target
	for f in /proc/"$pid"/fdinfo/*; do
		fd=${f##*/}
		[ "$fd" -le 2 ] && continue
		target=$(readlink /proc/"$pid"/fd/"$fd" 2>/dev/null) || continue
		case $target in socket:*|"$T"/*) ;; *) continue ;; esac
		flags=$(sed -n 's/^flags:[[:space:]]*//p' "$f" 2>/dev/null) || continue
		[ -n "$flags" ] || continue
		if [ $(( 8#$flags & 8#2000000 )) -eq 0 ]; then
			echo "fd $fd -> $target"
		fi
	done
}
nsock() { ls -l /proc/"$1"/fd 2>/dev/null | grep -c 'socket:'; }
# Keep a FastCGI connection open while looking (fcgi-req -t waits).
python3 -c 'import socket,sys,time; s=socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); time.sleep(3)' \
	"$T/w0.sock" & HOLD=$!; t_track $HOLD
sleep 0.3
check "the worker has sockets to look at (listen, Redis x2, a client)" eval '[ "$(nsock "$W0")" -ge 3 ]'
out=$(inheritable "$W0")
check "every worker descriptor above stderr is close-on-exec${out:+: $out}" [ -z "$out" ]
out=$(inheritable "$STICKY_PID")
check "every master descriptor above stderr is close-on-exec${out:+: $out}" [ -z "$out" ]
kill "$HOLD" 2>/dev/null; wait "$HOLD" 2>/dev/null; t_untrack $HOLD
stop_sticky

# ---- 2. no symbolic links for the pid and log files ----
# ended PID: its exit status once it exits (bounded); still running: stop
# it and return 0 (it started when it should not have).
ended() {
	for _ in $(seq 1 100); do kill -0 "$1" 2>/dev/null || break; sleep 0.05; done
	if kill -0 "$1" 2>/dev/null; then
		kill -TERM "$1"; wait "$1"; return 0
	fi
	wait "$1"
}
echo "precious" >"$T/target"
chmod 644 "$T/target"
ln -s "$T/target" "$T/link.pid"
"$EXAMPLES/counter/counter" -w 1 -l "unix:$T/%t.sock" -o "pid_file=$T/link.pid" \
	>"$T/pid.out" 2>&1 &
P=$!; t_track $P
ended $P; rc=$?; t_untrack $P
check "a symlinked pid_file: the daemon refuses to start (exit $rc)" [ "$rc" -ne 0 ]
check "with a clear error" grep -q 'event=pid_file_refused .*reason="is a symbolic link"' "$T/pid.out"
check "the link's target is untouched" eval '[ "$(cat "$T/target")" = precious ]'
check "the link itself is left in place" [ -L "$T/link.pid" ]
ln -s "$T/target" "$T/link.log"
"$EXAMPLES/counter/counter" -w 1 -l "unix:$T/%t.sock" -o "log_file=$T/link.log" \
	>"$T/log.out" 2>&1 &
P=$!; t_track $P
ended $P; rc=$?; t_untrack $P
check "a symlinked log_file: the daemon refuses to start (exit $rc)" [ "$rc" -ne 0 ]
check "with a clear error" grep -q 'event=log_file_refused .*reason="is a symbolic link"' "$T/log.out"
check "the link's target is untouched" eval '[ "$(cat "$T/target")" = precious ]'

# ---- 3. a peer that never reads cannot grow a worker's memory ----
start_sticky counter -w 1 -o read_timeout=60000 || { fail "daemon starts"; t_done; exit 1; }
W0=$(worker_pid w0)
rss_kb() { sed -n 's/^VmRSS:[[:space:]]*\([0-9]*\).*/\1/p' /proc/"$1"/status; }
RSS0=$(rss_kb "$W0")
# Management records of an unknown type each earn a 16-byte UNKNOWN_TYPE
# reply; the peer sends up to 64 MiB of them (or for 4 s) and never reads.
python3 - "$T/w0.sock" "$T/hostile.sent" <<'PY' &
import socket, sys, time
s = socket.socket(socket.AF_UNIX)
s.connect(sys.argv[1])
s.settimeout(0.2)
rec = bytes([1, 50, 0, 0, 0, 0, 0, 0]) * 8192  # 64 KiB of records
sent, t0 = 0, time.monotonic()
while sent < 64 << 20 and time.monotonic() - t0 < 4:
    try:
        sent += s.send(rec)
    except socket.timeout:
        pass
open(sys.argv[2], "w").write("%d\n" % sent)
time.sleep(60)  # hold the connection, never read
PY
HOSTILE=$!; t_track $HOSTILE
wait_for "$T/hostile.sent" 200
SENT=$(cat "$T/hostile.sent" 2>/dev/null)
RSS1=$(rss_kb "$W0")
t_log "hostile peer sent ${SENT:-?} bytes; worker RSS ${RSS0} -> ${RSS1} KiB"
check "the worker stopped reading it (sent $((${SENT:-0} / 1024)) KiB of 64 MiB)" \
	[ "${SENT:-0}" -lt $((16 << 20)) ]
check "worker RSS stays bounded (${RSS0} -> ${RSS1} KiB, under +8 MiB)" \
	[ "$RSS1" -lt $((RSS0 + 8192)) ]
get w0 / ""
check "another user is served meanwhile" [ "$STATUS" = 200 ]
check "the stall is counted (output_stalls)" eval '[ "$(status_field w0 output_stalls)" -ge 1 ]'
kill "$HOSTILE" 2>/dev/null; wait "$HOSTILE" 2>/dev/null; t_untrack $HOSTILE
stop_sticky

t_done
