# wsgi.sh: helpers of the sticky-wsgi tests, on top of procs.sh.
#
#   . "$top_srcdir/tests/lib/procs.sh"; . "$top_srcdir/tests/lib/wsgi.sh"
#   wsgi_require                  SKIP (77) unless sticky-wsgi was built
#   start_wsgi APP [flags]        like start_sticky, for --app APP; the
#                                 apps live in contrib/examples/python and
#                                 tests/python; config in $T/wsgi.conf
#   py ARGS                       Debian's interpreter (the embedded one)
#
# Python tests run Debian's python3 (configure's PYTHON_EXE, exported by
# make check as STICKY_PYTHON), never the python3 first on PATH.

STICKY_WSGI="$top_builddir/src/python/sticky-wsgi"
PY="${STICKY_PYTHON:-/usr/bin/python3}"
PYEX="$top_srcdir/contrib/examples/python"
export PYTHONPATH="$PYEX:$top_srcdir/tests/python"
# CPython keeps its heap at exit by design: no leak reports for it.
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0"
export PYTHONDONTWRITEBYTECODE=1

py() { "$PY" "$@"; }

wsgi_require() {
	if [ ! -x "$STICKY_WSGI" ]; then
		t_log "SKIP: sticky-wsgi not built (configure found no python3-embed; apt-get install python3-dev)"
		exit 77
	fi
}

# The server secret the checkpoints' MAC is keyed with (secret_file):
# pickles are code, so sticky-wsgi's codec asks for authenticated
# checkpoints (STICKY_CODEC_NEEDS_MAC).  The key goes into the config as
# soon as the runtime knows it; this is the one place that decides.
wsgi_conf() {
	head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$T/secret"
	chmod 0640 "$T/secret"
	: >"$T/wsgi.conf"
	if "$STICKYCTL" conf 2>/dev/null | grep -q '^#* *secret_file'; then
		echo "secret_file = $T/secret" >>"$T/wsgi.conf"
	fi
}

# start_wsgi APP [flags]: sticky-wsgi --app APP, workers on $T/<tag>.sock,
# logs in $T/sticky.log; sets STICKY_PID.
start_wsgi() {
	local app=$1 before
	shift
	[ -f "$T/wsgi.conf" ] || wsgi_conf
	rm -f "$T"/w*.sock
	touch "$T/sticky.log"
	before=$(wc -l <"$T/sticky.log")
	"$STICKY_WSGI" -c "$T/wsgi.conf" --app "$app" -l "unix:$T/%t.sock" \
		-o "pid_file=$T/sticky.pid" -o worker_header=X-Sticky-Worker \
		-o socket_mode=0666 -o status_path=/sticky-status "$@" \
		>>"$T/sticky.log" 2>&1 &
	STICKY_PID=$!
	t_track "$STICKY_PID"
	for _ in $(seq 1 300); do
		if [ "$(tail -n +$((before + 1)) "$T/sticky.log" | grep -c 'event=worker_started')" -ge "${STICKY_WORKERS:-1}" ]; then
			return 0
		fi
		kill -0 "$STICKY_PID" 2>/dev/null || break
		sleep 0.05
	done
	t_log "sticky-wsgi did not start"
	tail -n +$((before + 1)) "$T/sticky.log" >&2
	return 1
}

# log_has EVENT [PATTERN]: lines of the workers' log with event=EVENT.
log_events() { grep -c "event=$1${2:+.*$2}" "$T/sticky.log"; }
