#!/bin/bash
# t_bad_input.sh: hostile FastCGI byte streams sent straight to a worker
# (the corpus in tests/data/fcgi, which includes the PARAMS record that
# aborts a plain libfcgi 2.4.2 worker).  The worker answers or closes with
# a logged reason, never dies, and its users' state survives.
. "$top_srcdir/tests/lib/procs.sh"
t_setup
STICKY_WORKERS=1
start_sticky counter -w 1 -o max_body=65536 || { fail "daemon starts"; t_done; exit 1; }
get w0 / ""; SID=$SETCOOKIE
for i in 2 3; do get w0 / "$SID"; done
PID0=$(worker_pid w0)

n=0
for f in "$top_srcdir"/tests/data/fcgi/*.bin; do
	n=$((n + 1))
	"$FCGI_REQ" -r "$f" -s -t 2000 "unix:$T/w0.sock" >"$T/raw.out" 2>&1
	case "$(basename "$f")" in
	ok-*) grep -q 'record: END_REQUEST' "$T/raw.out" ||
		fail "$(basename "$f"): a valid stream gets END_REQUEST" ;;
	*) grep -q '^closed' "$T/raw.out" ||
		fail "$(basename "$f"): the worker closes a hostile connection" ;;
	esac
done
check "sent $n corpus files" [ "$n" -ge 10 ]
check "the worker survived every one (same pid)" [ "$(worker_pid w0)" = "$PID0" ]
check "no worker died" bash -c "! grep -q event=worker_died '$T/sticky.log'"
check "every rejection logged with a reason" grep -q 'event=bad_request worker=w0 reason=' "$T/sticky.log"
check "rejections counted" [ "$(status_field w0 bad_records)" -ge 5 ]
get w0 / "$SID"
check "the user's state survived (count 4)" [ "$(count_of)" = 4 ]

# A body over max_body gets 413, and the connection is not left hanging.
head -c 70000 /dev/zero | tr '\0' 'x' >"$T/big"
"$FCGI_REQ" -i -m POST -d "@$T/big" "unix:$T/w0.sock" /upload >"$T/resp" 2>&1
check "an oversized body gets 413" grep -q '^status: 413' "$T/resp"
get w0 / "$SID"
check "and the worker serves on (count 5)" [ "$(count_of)" = 5 ]
t_done
