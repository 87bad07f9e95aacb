#!/bin/bash
# t_wsgi_core.sh: sticky-wsgi serving WSGI apps (tests/python/probe.py,
# every app under wsgiref.validate, its warnings made errors): the environ
# (every CGI variable sent), wsgi.input, write(), iterables with close(),
# wsgi.file_wrapper, start_response with exc_info, wsgi.errors into the log,
# app exceptions (500, traceback, the worker goes on); sticky.session: a
# counter, unchanged(), state kept after an exception, restore after
# kill -9 (sync checkpoints), lazy unpickling, page-aligned out-of-band
# buffers (small deltas), an unpicklable state (500, log, counter, nothing
# reset), a checkpoint of another app set aside, the app imported once in
# the master.
# Limits: unix sockets in $T only; ~10 s.
. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/lib/procs.sh"
. "$top_srcdir/tests/lib/wsgi.sh"
wsgi_require
t_setup
STICKY_WORKERS=2
start_redis || { fail "redis starts"; t_done; exit 1; }
start_wsgi probe:application -w 2 -r "unix:$REDIS_SOCK" -o checkpoint=sync ||
	{ fail "sticky-wsgi starts"; t_done; exit 1; }
ok "sticky-wsgi starts probe:application with 2 workers"

# ---- PEP 3333 ----
get w0 /env "" -H HTTP_X_PROBE=hello -H REQUEST_URI=/env?a=1 -H QUERY_STRING=a=1
check "environ: 200 under wsgiref.validate" [ "$STATUS" = 200 ]
echo "$BODY" >"$T/env.json"
envq() { py -c 'import json,sys; d=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$T/env.json" "$1"; }
check "environ: a header the front-end sent (HTTP_X_PROBE)" [ "$(envq 'd["cgi"]["HTTP_X_PROBE"]')" = hello ]
check "environ: QUERY_STRING, SCRIPT_NAME '' and PATH_INFO /env" \
	[ "$(envq 'd["cgi"]["QUERY_STRING"], d["cgi"]["SCRIPT_NAME"], d["cgi"]["PATH_INFO"]')" = "('a=1', '', '/env')" ]
got=$(envq 'd["version"], sorted(d["wsgi"])')
check "environ: wsgi.version (1, 0), wsgi.* and sticky.session present ($got)" \
	[ "$got" = "([1, 0], ['sticky.session', 'wsgi.errors', 'wsgi.file_wrapper', 'wsgi.input', 'wsgi.input_terminated', 'wsgi.multiprocess', 'wsgi.multithread', 'wsgi.run_once', 'wsgi.url_scheme', 'wsgi.version'])" ]

printf 'line one\n%05000d' 0 >"$T/post"
get w0 /echo "" -m POST -d "@$T/post" -H CONTENT_LENGTH=5009 -H CONTENT_TYPE=text/plain
check "wsgi.input: readline then read(n) over a POST body ($BODY)" [ "$BODY" = "first=b'line one\n' rest=5000" ]

get w0 /write
check "write() then an iterable: body in order ($BODY)" [ "$BODY" = "written-iterated-done" ]
get w0 /closed
check "the iterable's close() was called (closed=1)" [ "$BODY" = "closed=1" ]
get w0 /file
check "wsgi.file_wrapper: 20000 bytes" [ "${#BODY}" = 20000 ]
get w0 /excinfo
check "start_response(exc_info) before the body replaces the status ($STATUS)" [ "$STATUS" = 503 ]
get w0 /excinfo-late
check "start_response(exc_info) after the body re-raises: 500 ($STATUS)" [ "$STATUS" = 500 ]
get w0 /raise-in-iter
check "an exception in the iterable: 500, not a partial body ($STATUS)" [ "$STATUS" = 500 ]
get w0 /closed
check "... and close() was still called (closed=2: write + raise-in-iter)" [ "$BODY" = "closed=2" ]
check "tracebacks in the log (KeyError: 'mid-body')" grep -q "event=app_exception.*KeyError: 'mid-body'" "$T/sticky.log"
get w0 /errors
check "wsgi.errors: two lines in the log" eval '[ "$(log_events wsgi_errors "probe-error-line one")" = 1 ] && [ "$(log_events wsgi_errors "probe-error-line two")" = 1 ]'
pid0=$(worker_pid w0)
get w0 /imported
check "the worker that raised goes on serving (same pid $pid0)" [ "$(worker_pid w0)" = "$pid0" ]
imp=$(echo "$BODY" | sed -n 's/imported_in=\([0-9]*\) now=\([0-9]*\)/\1 \2/p')
check "the app was imported once, in the master, before fork ($imp, master $STICKY_PID)" \
	eval '[ "${imp% *}" = "$STICKY_PID" ] && [ "${imp#* }" = "$pid0" ]'
get w0 /module
check "import sticky: __version__, StateUnavailable, Session ($BODY)" \
	eval 'echo "$BODY" | grep -q "^version=[0-9.]* unavailable=True session=True$"'
check "exactly one python_app_loaded line" [ "$(log_events python_app_loaded)" = 1 ]

# ---- sticky.session ----
get w0 /set?5
C=$SETCOOKIE
check "a new user gets a cookie for w0 and count=5" eval '[ "$BODY" = count=5 ] && [ "${C##*.}" = w0 ]'
get w0 /whoami "$C" -H REQUEST_ID=req-42
check "session: .id is the cookie key, .worker, .request_id, .is_new, repr hides the id ($BODY)" \
	eval 'echo "$BODY" | grep -q "^idlen=22 worker=w0 rid=req-42 new=False repr=<sticky.Session worker=w0>$"'
check "the id never appears in the log" eval '! grep -q "${C%%.*}" "$T/sticky.log"'
# Read-only requests say so: no checkpoint written.
w0=$(status_field w0 ckpt_written)
get w0 /get "$C"
check "unchanged(): count=5 and no checkpoint written ($w0 -> $(status_field w0 ckpt_written))" \
	eval '[ "$BODY" = count=5 ] && [ "$(status_field w0 ckpt_written)" = "$w0" ]'
# The state was changed, then the app raised: the change stays, and is
# checkpointed like any change (docs/python.md).
get w0 /boom "$C"
check "the app raised after changing the state: 500 ($STATUS)" [ "$STATUS" = 500 ]
get w0 /get "$C"
check "... the change stays in memory (count=6: $BODY)" [ "$BODY" = count=6 ]
errs0=$(status_field w0 handler_errors)
get w0 /bad-state "$C"
check "an unpicklable state: 500 ($STATUS)" [ "$STATUS" = 500 ]
check "... logged as state_unpicklable with the reason" grep -q "event=state_unpicklable.*lambda" "$T/sticky.log"
check "... counted (handler_errors $errs0 -> $(status_field w0 handler_errors))" [ "$(status_field w0 handler_errors)" -gt "$errs0" ]
kill -KILL "$(worker_pid w0)"
for _ in $(seq 1 100); do p=$(worker_pid w0); [ -n "$p" ] && [ "$p" != "$pid0" ] && break; sleep 0.05; done
get w0 /get "$C"
check "after kill -9: the last good checkpoint, with the change of the request that raised (count=6: $BODY)" [ "$BODY" = count=6 ]
get w0 /set?7 "$C"
check "... and the user's session goes on (count=7)" [ "$BODY" = count=7 ]

# Lazy unpickling: a restored state is unpickled on first access only.
get w1 /tracked
C1=$SETCOOKIE
get w1 /tracked "$C1"
check "tracked state: count=2, never unpickled ($BODY)" [ "$BODY" = "count=2 unpickles=0" ]
kill -KILL "$(worker_pid w1)"
sleep 0.3
for _ in $(seq 1 100); do get w1 /unpickles "$C1" && [ "$STATUS" = 200 ] && break; sleep 0.05; done
check "restored after kill -9, a request that does not touch .state unpickles nothing ($BODY)" [ "$BODY" = unpickles=0 ]
get w1 /tracked "$C1"
check "first access unpickles once and the count goes on ($BODY)" [ "$BODY" = "count=3 unpickles=1" ]
get w1 /tracked "$C1"
check "... and only once ($BODY)" [ "$BODY" = "count=4 unpickles=1" ]

# Out-of-band buffers, page-aligned: small deltas.
get w1 /blob
CB=$SETCOOKIE
get w1 /blob "$CB"
b0=$(status_field w1 ckpt_bytes)
for i in $(seq 3 22); do get w1 /blob "$CB"; done
b1=$(status_field w1 ckpt_bytes)
check "a 256 KiB numpy state, 20 one-byte changes: $((b1 - b0)) bytes to Redis (page deltas, < 20 x 16 KiB)" \
	[ $((b1 - b0)) -lt $((20 * 16384)) ]
check "... and its count went on (count=22)" eval 'echo "$BODY" | grep -q "^count=22 "'
sleep 0.3 # the status page's gauges are refreshed every 250 ms
check "max_bytes accounting counts the state's checkpoint size (bytes $(status_field w1 bytes) >= 256 KiB)" \
	[ "$(status_field w1 bytes)" -ge 262144 ]
kill -KILL "$(worker_pid w1)"
sleep 0.3
for _ in $(seq 1 100); do get w1 /blob "$CB" && [ "$STATUS" = 200 ] && break; sleep 0.05; done
check "restored from page-aligned out-of-band buffers after kill -9 ($BODY)" eval 'echo "$BODY" | grep -q "^count=23 blobsum="'
layout=$(py "$top_srcdir/tests/python/layout.py" "$REDIS_SOCK")
t_log "payloads with out-of-band buffers: $layout"
check "the checkpoint holds the 256 KiB array out of band, at a page-aligned offset of the payload ($layout)" \
	eval 'echo "$layout" | grep -Eq "^1 (4096|8192):262144 pickle="'
stop_sticky

# Async checkpoints pickle at the flush: an unpicklable state is found
# there, logged once, and the user's next request that touches the state
# answers 500 until the state can be pickled again; nothing is reset.
start_wsgi probe:application -w 2 -r "unix:$REDIS_SOCK" -o checkpoint=async \
	-o checkpoint_interval=50 || { fail "sticky-wsgi (async) starts"; t_done; exit 1; }
get w0 /set?3
CA=$SETCOOKIE
sleep 0.3
n0=$(log_events state_unpicklable "checkpoint not written")
get w0 /bad-state "$CA"
check "async: the request that made the state unpicklable is answered (pickled later: $STATUS)" [ "$STATUS" = 200 ]
sleep 0.5
n1=$(log_events state_unpicklable "checkpoint not written")
check "async: the flush logs state_unpicklable once ($n0 -> $n1, in 10 flush intervals)" [ "$n1" = $((n0 + 1)) ]
get w0 /touch "$CA"
check "async: the user's next request that touches the state: 500 ($STATUS)" [ "$STATUS" = 500 ]
get w0 /set?4 "$CA"
check "async: a request that makes it picklable again is answered ($BODY)" [ "$BODY" = count=4 ]
sleep 0.3
kill -KILL "$(worker_pid w0)"
sleep 0.3
for _ in $(seq 1 100); do get w0 /get "$CA" && [ "$STATUS" = 200 ] && break; sleep 0.05; done
check "async: after kill -9 the state is the repaired one, flushed (count=4: $BODY)" [ "$BODY" = count=4 ]
# Async: the pickle is dropped at each change, the accounting keeps the
# last checkpoint's size.
get w1 /blob
CB2=$SETCOOKIE
sleep 0.3
get w1 /blob "$CB2"
sleep 0.3
check "async: max_bytes accounting keeps the state's checkpoint size (bytes $(status_field w1 bytes) >= 256 KiB)" \
	[ "$(status_field w1 bytes)" -ge 262144 ]
stop_sticky

# A checkpoint written by another app is set aside, not unpickled.
# (With --worker-init and --mount as well.)
start_wsgi probe:application -w 2 -r "unix:$REDIS_SOCK" -o checkpoint=sync --name other-app \
	--worker-init probe:winit --mount /app ||
	{ fail "sticky-wsgi (other name) starts"; t_done; exit 1; }
get w1 /app/winit
check "--worker-init ran in the worker with its tag, --mount sets SCRIPT_NAME ($BODY)" \
	[ "$BODY" = "winit=w1/$(worker_pid w1) mount=/app" ]
get w1 /app/tracked "$C1"
check "another app's checkpoint: not unpickled, a fresh state ($BODY)" [ "$BODY" = "count=1 unpickles=0" ]
stop_sticky
t_done
