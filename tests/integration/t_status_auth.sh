#!/bin/bash
# t_status_auth.sh: the status page without trusting REMOTE_ADDR.  Any
# FastCGI peer can claim REMOTE_ADDR=127.0.0.1 (fcgi-req does, like a
# client reaching a TCP worker port directly): with status_token_file the
# worker sockets answer the status page only with the right
# X-Sticky-Status-Token, and status_listen is a separate unix socket, with
# its own mode, that answers only the status page.  Refusals and successes
# both; stickyctl uses either; a missing token file stops the start.
#
# Limits: unix sockets under $T (the TCP case differs only in who can
# connect); run as root the socket mode is checked with stat, since root
# connects whatever the mode.
. "$top_srcdir/tests/lib/procs.sh"
t_setup
STICKY_WORKERS=2
TOKEN=tok-0123456789abcdef-0123456789
printf '%s\n' "$TOKEN" >"$T/token"
chmod 600 "$T/token"
start_sticky counter -w 2 -o "status_token_file=$T/token" \
	-o "status_listen=unix:$T/status.sock" -o status_socket_mode=0640 ||
	{ fail "daemon starts"; t_done; exit 1; }

# Worker sockets: REMOTE_ADDR 127.0.0.1 (in status_allow) is not enough.
get w0 /sticky-status ""
check "no token, REMOTE_ADDR 127.0.0.1 claimed: 403 ($STATUS)" test "$STATUS" = 403
get w1 /sticky-status "" -H HTTP_X_STICKY_STATUS_TOKEN=tok-0123456789abcdef-0123456788
check "wrong token: 403 ($STATUS)" test "$STATUS" = 403
get w1 /sticky-status "" -H HTTP_X_STICKY_STATUS_TOKEN=tok-0123456789abcdef-012345678
check "a prefix of the token: 403 ($STATUS)" test "$STATUS" = 403
check "... the refusal does not show the page" eval '! echo "$BODY" | grep -q "master pid"'
get w0 /sticky-status "" -H "HTTP_X_STICKY_STATUS_TOKEN=$TOKEN" -H REMOTE_ADDR=192.0.2.7
check "right token, from an address not in status_allow: 200 ($STATUS)" \
	eval '[ "$STATUS" = 200 ] && echo "$BODY" | grep -q "^master pid"'
check "the token is not in the log" eval '! grep -qF "$TOKEN" "$T/sticky.log"'
get w0 / ""
check "the application is served as before ($STATUS, $(count_of))" \
	test "$STATUS" = 200 -a "$(count_of)" = 1

# The status socket: its permissions are the check.
check "status socket exists with mode 640 ($(stat -c %a "$T/status.sock" 2>/dev/null))" \
	test "$(stat -c %a "$T/status.sock" 2>/dev/null)" = 640
get status /sticky-status "" -H REMOTE_ADDR=192.0.2.7
check "status socket: answered 200 without token, any REMOTE_ADDR ($STATUS)" \
	eval '[ "$STATUS" = 200 ] && echo "$BODY" | grep -q "^master pid"'
get status "/?json" ""
check "status socket: any path is the status page, ?json parses" \
	eval 'echo "$BODY" | python3 -c "import json,sys; d=json.load(sys.stdin); assert len(d[\"workers\"]) == 2"'
get status "/" ""
check "status socket: never the application" eval '! echo "$BODY" | grep -q "count="'
ctl() { "$STICKYCTL" -o "listen=unix:$T/%t.sock" -o workers=2 -o status_path=/sticky-status "$@"; }
check "stickyctl status uses status_listen" \
	eval 'ctl -o "status_listen=unix:$T/status.sock" status | grep -q "^master pid"'
check "stickyctl status TAG sends the token from status_token_file" \
	eval 'ctl -o "status_token_file=$T/token" status text w1 | grep -q "^master pid"'
check "stickyctl status TAG without the token is refused" \
	eval '! ctl status text w1 >/dev/null 2>&1'
stop_sticky

# A token file that cannot be read stops the start with a clear error.
"$EXAMPLES/counter/counter" -l "unix:$T/bad%t.sock" -o workers=1 \
	-o "status_token_file=$T/missing" >"$T/bad.log" 2>&1 &
BAD=$!
t_track $BAD
for _ in $(seq 1 100); do kill -0 $BAD 2>/dev/null || break; sleep 0.05; done
wait $BAD; rc=$?
t_untrack $BAD
check "missing token file: the daemon exits ($rc) saying why" \
	eval '[ "$rc" != 0 ] && grep -q "status_token_file: cannot open" "$T/bad.log"'
t_done
