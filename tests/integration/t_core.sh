#!/bin/bash
# t_core.sh: the core runtime with real processes, no front-end: the
# counter example with 2 workers on unix sockets.  Stickiness per worker
# socket, state across many requests, session cookie attributes, forged and
# oversized cookies, the worker header, logout and id rotation, the status
# page's address check.
. "$top_srcdir/tests/lib/procs.sh"
t_setup
STICKY_WORKERS=2
# As root: the sockets go to group www-data (the web server's) and the
# master drops root.  Run by a user, sticky can only give its sockets to one
# of that user's groups, and has no root to drop.
if [ "$(id -u)" = 0 ]; then SOCK_GROUP=www-data; else SOCK_GROUP=$(id -gn); fi
start_sticky counter -w 2 -o socket_group="$SOCK_GROUP" ||
	{ fail "daemon starts"; t_done; exit 1; }

check "unix sockets get the configured mode (0666 here; default 0660)" \
	eval '[ "$(stat -c %a "$T/w0.sock")" = 666 ] && [ "$(stat -c %a "$T/w1.sock")" = 666 ]'
check "and the configured group ($SOCK_GROUP)" [ "$(stat -c %G "$T/w0.sock")" = "$SOCK_GROUP" ]

# A new user gets a session cookie with the serving worker's tag.
get w0 / ""
check "first request answers 200" [ "$STATUS" = 200 ]
check "worker header names w0" [ "$WORKER" = w0 ]
check "new session cookie issued, tagged .w0" grep -qE '^[A-Za-z0-9_-]{22}\.w0$' <<<"$SETCOOKIE"
check "cookie is HttpOnly, Path=/, SameSite=Lax" grep -q 'Set-Cookie: STICKYSID=.*; Path=/; HttpOnly; SameSite=Lax' "$T/resp"
check "count starts at 1" [ "$(count_of)" = 1 ]
SID=$SETCOOKIE

# The same cookie on the same worker: state lives in memory.
bad=0
for i in $(seq 2 200); do
	get w0 / "$SID"
	[ "$(count_of)" = "$i" ] && [ -z "$SETCOOKIE" ] || bad=$((bad + 1))
done
check "200 requests: count goes 1..200 with no new cookie" [ "$bad" = 0 ]

# Another user on w1 is independent.
get w1 / ""
check "a second user on w1 starts at 1" eval '[ "$(count_of)" = 1 ] && [ "$WORKER" = w1 ]'
SID1=$SETCOOKIE
get w0 /peek "$SID"
check "the first user's count is untouched (200)" [ "$(count_of)" = 200 ]

# Forged ids are never adopted: a well-formed unknown id gets a new one.
FORGED="AAAAAAAAAAAAAAAAAAAAAA.w0"
get w0 / "$FORGED"
check "forged id: 200 and a fresh count" eval '[ "$STATUS" = 200 ] && [ "$(count_of)" = 1 ]'
check "forged id replaced by a new id" eval '[ -n "$SETCOOKIE" ] && [ "$SETCOOKIE" != "$FORGED" ]'

# Malformed, oversized and hostile cookies: a new session, no crash.
for c in 'x' "$SID.extra.dots" "${SID}%00" '";;;;=' "$(head -c 9000 /dev/zero | tr '\0' 'A')"; do
	get w0 / "$c"
	[ "$STATUS" = 200 ] && [ "$(count_of)" = 1 ] || { fail "hostile cookie (${#c} bytes): status $STATUS count $(count_of)"; continue; }
done
ok "malformed and oversized cookies get a new session"
get w0 /peek "$SID"
check "after hostile cookies the real user still has 200" [ "$(count_of)" = 200 ]
check "bad cookies are counted" [ "$(status_field w0 bad_cookies)" -ge 4 ]

# Another user's cookie name must match exactly (no prefix games).
"$FCGI_REQ" -i -c "XSTICKYSID=$SID; STICKYSIDX=$SID" unix:$T/w0.sock / >"$T/resp"
check "similar cookie names do not reach the session" grep -q 'count=1 ' "$T/resp"

# Login rotates the id but keeps the state; logout forgets it.
get w0 /login "$SID"
NEW=$SETCOOKIE
check "login: a new id" eval '[ -n "$NEW" ] && [ "$NEW" != "$SID" ]'
check "login: the state came along" [ "$(count_of)" = 200 ]
get w0 /peek "$SID"
check "login: the old id no longer works" eval '[ "$(count_of)" = 0 ] && [ -n "$SETCOOKIE" ]'
get w0 /logout "$NEW"
check "logout expires the cookie" grep -q 'Set-Cookie: STICKYSID=;.*Max-Age=0' "$T/resp"
get w0 /peek "$NEW"
check "after logout the id is unknown" eval '[ "$(count_of)" = 0 ] && [ -n "$SETCOOKIE" ]'

# The status page answers only allowed addresses.
"$FCGI_REQ" -i -H REMOTE_ADDR=192.0.2.7 unix:$T/w0.sock /sticky-status >"$T/resp"
check "status page refuses other addresses (403)" grep -q '^status: 403' "$T/resp"
get w0 /sticky-status ""
check "status page answers loopback" eval '[ "$STATUS" = 200 ] && echo "$BODY" | grep -q "worker w1 pid"'

MASTER=$STICKY_PID
stop_sticky
check "SIGTERM stops the master and its workers" bash -c "! kill -0 $MASTER 2>/dev/null && ! pgrep -P $MASTER >/dev/null"
if [ "$(id -u)" = 0 ]; then
	check "the master dropped root for nobody" grep -q 'event=privileges_dropped user=nobody' "$T/sticky.log"
else
	t_log "not root: no privileges to drop (checked when the suite runs as root, as CI does)"
fi
check "no worker crashed" bash -c "! grep -q 'event=worker_died' '$T/sticky.log'"
t_done
