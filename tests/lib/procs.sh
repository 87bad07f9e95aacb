# procs.sh: start and stop the real processes integration tests need, in a
# private temp dir, on 127.0.0.1 or unix sockets only.  Every process is
# recorded by pid and stopped by pid at exit, whatever happens.
#
#   . "$top_srcdir/tests/lib/procs.sh"
#   t_setup                      # creates $T (temp dir), traps cleanup
#   start_redis                  # sets REDIS_SOCK, REDIS_PID
#   start_sticky counter -w 2 ...# sets STICKY_PID; sockets $T/w0.sock ...
#                                # (with secret_file=$T/secret, made by
#                                # t_setup; STICKY_SECRET=none: without)
#   rkey KEY [SUFFIX]            # the Redis key of session key KEY
#   free_port                    # prints a free 127.0.0.1 TCP port
#   ok "message" / fail "message"; t_done   (prints "N passed, N failed")
#
# Limits: every wait is a bounded loop; nothing here targets any address
# but 127.0.0.1 and unix sockets under $T.

: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
: "${top_builddir:=$top_srcdir}"
export top_srcdir top_builddir

TOOLS="$top_builddir/tests/tools"
FCGI_REQ="$TOOLS/fcgi-req"
FCGI_LOAD="$TOOLS/fcgi-load"
STICKYCTL="$top_builddir/src/cli/stickyctl"
STICKYD="$top_builddir/src/daemon/stickyd"
EXAMPLES="$top_builddir/contrib/examples"

T_PIDS=""
T_PASS=0
T_FAIL=0

t_log() { printf '# %s\n' "$*" >&2; }

t_cleanup() {
	local p
	for p in $T_PIDS; do
		kill -TERM "$p" 2>/dev/null
	done
	for p in $T_PIDS; do
		for _ in $(seq 1 100); do
			kill -0 "$p" 2>/dev/null || break
			sleep 0.05
		done
		kill -KILL "$p" 2>/dev/null
		kill -CONT "$p" 2>/dev/null
	done
	if [ -n "${T:-}" ] && [ -d "$T" ] && [ -z "${KEEP_TMP:-}" ]; then
		rm -rf "$T"
	fi
}

t_setup() {
	T=$(mktemp -d "${TMPDIR:-/tmp}/sticky-test.XXXXXX")
	chmod 755 "$T"
	trap t_cleanup EXIT
	trap 'exit 1' INT TERM
	t_secret "$T/secret"
}

# t_secret FILE: a secret_file (48 random bytes, base64, one line, 0600).
t_secret() {
	(umask 077 && head -c 48 /dev/urandom | base64 -w0 >"$1" && echo >>"$1")
}

# The secret_file flag start_sticky passes (none with STICKY_SECRET=none).
secret_flag() {
	[ "${STICKY_SECRET:-}" = none ] || printf -- '-osecret_file=%s' "${STICKY_SECRET:-$T/secret}"
}

# rkey KEY [SUFFIX]: the Redis key of session key (or id) KEY: its name
# under the secret start_sticky uses, in the default prefix; SUFFIX u
# (default: the session's one key), s or o (the two keys of earlier
# releases) or a glob.
rkey() {
	local name
	if [ "${STICKY_SECRET:-}" = none ]; then
		name=${1%%.*}
	else
		name=$("$STICKYCTL" -o "secret_file=${STICKY_SECRET:-$T/secret}" name "$1") || return 1
	fi
	printf 'sticky:{%s}:%s\n' "$name" "${2:-u}"
}
# A session's key holds its owner record (REC_LEN bytes: epoch, owner,
# MAC; src/lib/redis_scripts.c), then the checkpoint.
REC_LEN=69
# rhas_ckpt KEY: KEY's session has a checkpoint in Redis.
rhas_ckpt() { [ "$(redis-cli -s "$REDIS_SOCK" strlen "$(rkey "$1")")" -gt "$REC_LEN" ]; }

# Track a pid for cleanup.
t_track() { T_PIDS="$T_PIDS $1"; }
t_untrack() { T_PIDS=$(echo " $T_PIDS " | sed "s/ $1 / /"); }

ok() { T_PASS=$((T_PASS + 1)); printf 'ok %d - %s\n' $((T_PASS + T_FAIL)) "$*"; }
fail() { T_FAIL=$((T_FAIL + 1)); printf 'not ok %d - %s\n' $((T_PASS + T_FAIL)) "$*"; }
# check "message" command...: one command.  A compound condition goes in
# one eval: check "msg" eval '[ A ] && [ B ]' (written `check "msg" [ A ] &&
# [ B ]`, B would run outside check and assert nothing; t_conf.sh rejects
# that form).  Returns the command's status, for `|| diagnostics`.
check() {
	local msg=$1; shift
	if "$@"; then ok "$msg"; else fail "$msg"; return 1; fi
}
t_done() {
	printf '%d passed, %d failed\n' "$T_PASS" "$T_FAIL"
	[ "$T_FAIL" -eq 0 ]
}

# Wait (bounded) until a unix socket or file exists: wait_for PATH [tries x 50ms].
wait_for() {
	local i
	for i in $(seq 1 "${2:-200}"); do
		[ -e "$1" ] && return 0
		sleep 0.05
	done
	return 1
}

# wait_port PORT: until 127.0.0.1:PORT accepts (bounded).
wait_port() {
	local i
	for i in $(seq 1 "${2:-200}"); do
		(exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
		sleep 0.05
	done
	return 1
}

free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# start_redis [extra redis-server args]: a private Redis on a unix socket.
start_redis() {
	REDIS_SOCK="$T/redis.sock"
	redis-server --port 0 --unixsocket "$REDIS_SOCK" --unixsocketperm 777 \
		--save '' --appendonly no --dir "$T" --logfile "$T/redis.log" "$@" &
	REDIS_PID=$!
	t_track "$REDIS_PID"
	wait_for "$REDIS_SOCK" || { t_log "redis did not start"; cat "$T/redis.log" >&2; return 1; }
	for _ in $(seq 1 100); do
		redis-cli -s "$REDIS_SOCK" ping >/dev/null 2>&1 && return 0
		sleep 0.05
	done
	return 1
}

stop_redis() {
	kill -TERM "$REDIS_PID" 2>/dev/null
	for _ in $(seq 1 100); do kill -0 "$REDIS_PID" 2>/dev/null || break; sleep 0.05; done
	kill -KILL "$REDIS_PID" 2>/dev/null
	wait "$REDIS_PID" 2>/dev/null
	t_untrack "$REDIS_PID"
	rm -f "$REDIS_SOCK"
}

# start_sticky APP [flags]: the example APP (counter, bigstate) as its own
# binary, workers on $T/<tag>.sock, logs in $T/sticky.log.
start_sticky() {
	local app=$1 before
	shift
	# Sockets a previous master left (it runs as nobody and cannot
	# remove them from $T) must not fool the wait below.
	rm -f "$T"/w*.sock
	touch "$T/sticky.log"
	before=$(wc -l <"$T/sticky.log")
	"$EXAMPLES/$app/$app" -l "unix:$T/%t.sock" -o "pid_file=$T/sticky.pid" \
		-o worker_header=X-Sticky-Worker -o socket_mode=0666 \
		-o status_path=/sticky-status $(secret_flag) "$@" \
		>>"$T/sticky.log" 2>&1 &
	STICKY_PID=$!
	t_track "$STICKY_PID"
	# Ready once every worker of this master logged worker_started.
	for _ in $(seq 1 200); do
		if [ "$(tail -n +$((before + 1)) "$T/sticky.log" | grep -c 'event=worker_started')" -ge "${STICKY_WORKERS:-1}" ]; then
			return 0
		fi
		kill -0 "$STICKY_PID" 2>/dev/null || break
		sleep 0.05
	done
	t_log "sticky did not start"
	tail -n +$((before + 1)) "$T/sticky.log" >&2
	return 1
}

stop_sticky() {
	kill -TERM "$STICKY_PID" 2>/dev/null
	for _ in $(seq 1 200); do kill -0 "$STICKY_PID" 2>/dev/null || break; sleep 0.05; done
	kill -KILL "$STICKY_PID" 2>/dev/null
	wait "$STICKY_PID" 2>/dev/null
	t_untrack "$STICKY_PID"
}


# get SOCKNAME URI [COOKIEVALUE] [extra fcgi-req args]: one request with -i
# to $T/SOCKNAME.sock; the response (status, headers, body) goes to $T/resp.
# Sets STATUS, WORKER (X-Sticky-Worker), SETCOOKIE (the STICKYSID value
# from Set-Cookie, or empty) and BODY.
get() {
	local sock=$1 uri=$2 cookie=${3:-}
	shift 3 2>/dev/null || shift $#
	if [ -n "$cookie" ]; then
		"$FCGI_REQ" -i -t 5000 -c "STICKYSID=$cookie" "$@" "unix:$T/$sock.sock" "$uri" >"$T/resp" 2>"$T/resp.err"
	else
		"$FCGI_REQ" -i -t 5000 "$@" "unix:$T/$sock.sock" "$uri" >"$T/resp" 2>"$T/resp.err"
	fi
	GET_RC=$?
	STATUS=$(sed -n 's/^status: //p' "$T/resp" | head -1)
	WORKER=$(sed -n 's/^X-Sticky-Worker: //p' "$T/resp" | head -1)
	SETCOOKIE=$(sed -n 's/^Set-Cookie: STICKYSID=\([^;]*\);.*/\1/p' "$T/resp" | head -1)
	BODY=$(sed '1,/^$/d' "$T/resp")
	return $GET_RC
}

# count_of: the N of "count=N" in $BODY.
count_of() { echo "$BODY" | sed -n 's/.*count=\([0-9]*\).*/\1/p' | head -1; }

# status_field TAG FIELD: one worker's field from the status page (JSON).
status_field() {
	"$STICKYCTL" -o "listen=unix:$T/%t.sock" -o "workers=${STICKY_WORKERS:-2}" \
		-o status_path=/sticky-status status json 2>/dev/null |
		python3 -c 'import json,sys; d=json.load(sys.stdin); t,f=sys.argv[1:3]; print([w[f] for w in d["workers"] if w["tag"]==t][0])' "$1" "$2"
}

# have_fault_injection: the build has the test-only fault switch
# (./configure --enable-fault-injection, as tests/run-all.sh does).
have_fault_injection() {
	"$EXAMPLES/counter/counter" -l "unix:$T/%t.sock" -w 1 \
		-o fault_die_after_checkpoint=on -n >/dev/null 2>&1
}

# worker_pid TAG
worker_pid() { status_field "$1" pid; }

# wait_accepted SOCKET PID: until process PID has accepted a connection on
# the unix socket SOCKET (bounded, 10 s): a request is in its hands, not
# just queued.
wait_accepted() {
	for _ in $(seq 1 200); do
		ss -xpH src "$1" 2>/dev/null | grep -q "pid=$2," && return 0
		sleep 0.05
	done
	return 1
}

# wait_clean: until no worker holds an unflushed change (bounded, 10 s).
wait_clean() {
	for _ in $(seq 1 200); do
		[ "$("$STICKYCTL" -o "listen=unix:$T/%t.sock" -o "workers=${STICKY_WORKERS:-2}" \
			-o status_path=/sticky-status status json 2>/dev/null |
			python3 -c 'import json,sys; print(sum(w["dirty"] for w in json.load(sys.stdin)["workers"]))' 2>/dev/null)" = 0 ] &&
			return 0
		sleep 0.05
	done
	return 1
}
