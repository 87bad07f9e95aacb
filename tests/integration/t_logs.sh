#!/bin/bash
# t_logs.sh: logging as operators rely on it.  With log_file set, master
# and workers write key=value lines to the file; logrotate renames it and
# sends SIGUSR1 (contrib/logrotate): every process reopens the path, so
# later lines (a crash, a respawn, a graceful stop) land in the new file
# and none in the renamed one.  A crash line names the signal and the last
# request path; session ids are never logged in full.  (syslog = on is
# not tested: it would need the machine's /dev/log.)
. "$top_srcdir/tests/lib/procs.sh"
t_setup
L=$T/logs
mkdir -p "$L"
# The master drops root for nobody, which must be able to create the new
# file after a rotation (systemd's LogsDirectory= gives the service user
# /var/log/sticky the same way).
[ "$(id -u)" = 0 ] && chown nobody "$L"
rm -f "$T"/w*.sock
"$EXAMPLES/counter/counter" -w 2 -l "unix:$T/%t.sock" -o "pid_file=$T/sticky.pid" \
	-o socket_mode=0666 -o worker_header=X-Sticky-Worker -o status_path=/sticky-status \
	-o "log_file=$L/sticky.log" >"$T/stderr.log" 2>&1 &
MASTER=$!
t_track $MASTER
started() { local n; n=$(grep -c 'event=worker_started' "$1" 2>/dev/null); echo "${n:-0}"; }
for _ in $(seq 1 200); do
	[ "$(started "$L/sticky.log")" -ge 2 ] && break
	sleep 0.05
done
check "master and workers log to log_file (2 workers started)" [ "$(started "$L/sticky.log")" -ge 2 ]
check "nothing goes to stderr once log_file is open" [ ! -s "$T/stderr.log" ]
STICKY_WORKERS=2
get w0 / ""; SID=$SETCOOKIE
get w0 /logout "$SID"
get w1 / "forged-and-never-issued.w1"

# Rotation: rename, then SIGUSR1 to the master (it tells the workers).
mv "$L/sticky.log" "$L/sticky.log.1"
kill -USR1 $MASTER
for _ in $(seq 1 100); do [ -s "$L/sticky.log" ] && break; sleep 0.05; done
check "SIGUSR1: the master reopened the path (log_reopened)" grep -q 'event=log_reopened' "$L/sticky.log"
sleep 0.2 # the workers reopen in their next loop turn (bounded by poll)
W1=$(worker_pid w1)
get w1 /crash-here ""
kill -KILL "$W1"
for _ in $(seq 1 100); do
	[ "$(started "$L/sticky.log")" -ge 1 ] && break
	sleep 0.05
done
check "after the rotation the crash is logged in the new file, with signal and last path" \
	grep -qE "event=worker_died tag=w1 pid=$W1 signal=9 lived_ms=[0-9]+ last_path=\"/crash-here\"" "$L/sticky.log"
check "and the respawned worker logs there too" [ "$(started "$L/sticky.log")" -ge 1 ]
kill -TERM $MASTER
for _ in $(seq 1 200); do kill -0 $MASTER 2>/dev/null || break; sleep 0.05; done
t_untrack $MASTER
check "graceful stop: both workers' last lines are in the new file" \
	eval '[ "$(grep -c "event=worker_stopped" "$L/sticky.log")" = 2 ]'
check "the renamed file got nothing after the rotation" \
	bash -c "! grep -qE 'event=(worker_stopped|worker_died|log_reopened)' '$L/sticky.log.1'"
check "no reopen failure" bash -c "! grep -q log_reopen_failed '$L/sticky.log' '$L/sticky.log.1' '$T/stderr.log'"
check "session ids never appear in full in the logs" \
	bash -c "! grep -qF -- '${SID%.*}' '$L/sticky.log' '$L/sticky.log.1' '$T/stderr.log'"
check "the forged id is not echoed in full either" \
	bash -c "! grep -qF 'forged-and-never-issued' '$L/sticky.log' '$L/sticky.log.1'"
t_done
