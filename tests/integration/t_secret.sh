#!/bin/bash
# t_secret.sh: secret_file with a real redis-server.  Redis never sees a
# session key: not in key names, not in values, not in takeover
# announcements; stickyctl hashes an id into its name.  A checkpoint whose
# payload was changed in Redis (CRCs fixed up, so only the MAC can tell) is
# set aside and never decoded; without a secret the same change is decoded
# (the check can fail).  Rotation: a session written under the old secret
# is moved to its new name on first access; checkpoints named by raw
# session keys are moved by `stickyctl migrate`.  A bad secret_file, and
# an app that needs MACs without one, are refused at -n and at start.
. "$top_srcdir/tests/lib/procs.sh"
t_setup
STICKY_WORKERS=2
start_redis || { fail "redis starts"; t_done; exit 1; }
CTL() { "$STICKYCTL" -o "redis=unix:$REDIS_SOCK" $(secret_flag) -o app.name=counter "$@"; }
RCLI() { redis-cli -s "$REDIS_SOCK" "$@"; }

# tamper KEY COUNT: set the counter in KEY's checkpoint (after the owner
# record) to COUNT and fix both envelope CRCs, so the envelope checks pass
# and only a MAC can tell.
tamper() {
	local k
	k=$(rkey "$1") || return 1
	RCLI --raw get "$k" | head -c -1 >"$T/ckpt" || return 1
	python3 - "$T/ckpt" "$2" "$REC_LEN" <<'PY' || return 1
import struct, sys
def crc32c(d):
    c = 0xffffffff
    for b in d:
        c ^= b
        for _ in range(8):
            c = (c >> 1) ^ (0x82f63b78 if c & 1 else 0)
    return c ^ 0xffffffff
v = open(sys.argv[1], 'rb').read()
rec, p = v[:int(sys.argv[3])], bytearray(v[int(sys.argv[3]):])
assert struct.unpack('>I', p[40:44])[0] == crc32c(p[48:]), 'payload crc'
assert struct.unpack('>I', p[44:48])[0] == crc32c(p[:44]), 'header crc'
p[48:56] = struct.pack('>Q', int(sys.argv[2]))
p[40:44] = struct.pack('>I', crc32c(p[48:]))
p[44:48] = struct.pack('>I', crc32c(p[:44]))
open(sys.argv[1], 'wb').write(rec + p)
PY
	RCLI -x set "$k" <"$T/ckpt" >/dev/null
}

# ---- 1. nothing in Redis names a session ----
start_sticky counter -w 2 -r "unix:$REDIS_SOCK" -o checkpoint=sync ||
	{ fail "daemon starts"; t_done; exit 1; }
get w0 / ""; S=$SETCOOKIE; K=${S%.*}
get w0 / "$S"; get w0 / "$S"
N=$(CTL name "$S")
check "stickyctl name: a cookie hashes to a name ('~' + 21 characters)" \
	eval '[ "${#N}" = 22 ] && [ "${N:0:1}" = "~" ] && [ "$(CTL name "$K")" = "$N" ]'
RCLI subscribe sticky:takeover >"$T/ann" 2>/dev/null &
SUB=$!
t_track $SUB
for _ in $(seq 1 50); do grep -q '^1$' "$T/ann" 2>/dev/null && break; sleep 0.1; done
get w1 / "$S"; S1=$SETCOOKIE
check "w1 takes the user over (4)" eval '[ "$(count_of)" = 4 ] && [ "$WORKER" = w1 ]'
for _ in $(seq 1 50); do grep -q " w1 $N" "$T/ann" && break; sleep 0.1; done
kill $SUB; wait $SUB 2>/dev/null; t_untrack $SUB
check "the takeover is announced by name" grep -q "^2 w1 $N\$" "$T/ann"
check "announcements never carry the session key" eval '! grep -q "$K" "$T/ann"'
{
	RCLI --scan
	for k in $(RCLI --scan); do
		case $(RCLI type "$k") in
		string) RCLI --raw get "$k" ;;
		hash) RCLI --raw hgetall "$k" ;;
		esac
	done
} >"$T/dump" 2>&1
check "redis holds the session by name ($(grep -c "{$N}" "$T/dump") keys)" grep -q "^sticky:{$N}:u\$" "$T/dump"
check "no key name or value in redis holds the session key" eval '! grep -qa "$K" "$T/dump"'
check "the owner record holds a MAC (16 bytes)" [ "$(RCLI --raw getrange "$(rkey "$K")" 52 52 | od -An -tu1 -N1 | tr -d ' ')" = 16 ]
check "stickyctl verify checks MACs: all good" CTL verify

# ---- 2. a checkpoint changed in redis is never decoded ----
tamper "$K" 1000 || fail "tamper: the checkpoint's CRCs check out before the change"
CTL verify "$S1" >"$T/verify"
check "stickyctl verify reports the MAC mismatch" grep -q "^$N: BAD: MAC does not match" "$T/verify"
get w0 / "$S1"
check "tampered: the user gets a fresh session (1), not the forged state (1001)" \
	eval '[ "$STATUS" = 200 ] && [ "$(count_of)" = 1 ]'
check "tampered: refused for its MAC" grep -q 'event=checkpoint_refused worker=w0 .*reason="MAC does not match"' "$T/sticky.log"
check "tampered: set aside for inspection" [ "$(RCLI --scan --pattern "sticky:{$N}:bad:*" | wc -l)" = 1 ]
check "tampered: counted (restore_bad 1, restore_unauthenticated 1)" \
	eval '[ "$(status_field w0 restore_bad)" = 1 ] && [ "$(status_field w0 restore_unauthenticated)" = 1 ]'
# The same change without a secret is decoded: the check above can fail.
stop_sticky
STICKY_SECRET=none start_sticky counter -w 2 -r "unix:$REDIS_SOCK" -o checkpoint=sync ||
	fail "daemon starts without a secret"
get w0 / ""; U=$SETCOOKIE; get w0 / "$U"
STICKY_SECRET=none tamper "${U%.*}" 1000
get w1 / "$U"
check "control, no secret: the same change is decoded (1001)" [ "$(count_of)" = 1001 ]
get w0 / ""; R=$SETCOOKIE; get w0 / "$R"; get w0 / "$R"
check "control, no secret: keys are named by raw session keys" \
	[ "$(RCLI exists "sticky:{${R%.*}}:u")" = 1 ]
stop_sticky

# ---- 3. checkpoints named by raw keys: stickyctl migrate ----
CTL migrate >"$T/migrate" 2>&1
check "stickyctl migrate moves them ($(cat "$T/migrate"))" grep -q '^2 moved, [0-9]* skipped, 0 failed$' "$T/migrate"
check "stickyctl migrate: no raw key names a checkpoint any more" \
	eval '[ "$(RCLI strlen "sticky:{${R%.*}}:u")" = "$REC_LEN" ] && rhas_ckpt "$R"'
check "stickyctl migrate: signed (verify)" CTL verify "$R"
start_sticky counter -w 2 -r "unix:$REDIS_SOCK" -o checkpoint=sync ||
	fail "daemon starts with the secret again"
get w1 / "$R"
check "a migrated user continues (4)" eval '[ "$STATUS" = 200 ] && [ "$(count_of)" = 4 ]'
# A session written under the secret now, before the rotation.
get w0 / ""; V=$SETCOOKIE; get w0 / "$V"; get w0 / "$V"
stop_sticky

# ---- 4. rotation: new secret first, the old one still accepted ----
t_secret "$T/secret.new"
cat "$T/secret" >>"$T/secret.new"
OLDN=$(CTL name "$V")
export STICKY_SECRET=$T/secret.new
start_sticky counter -w 2 -r "unix:$REDIS_SOCK" -o checkpoint=sync ||
	fail "daemon starts with the rotated secret"
get w0 / "$V"
check "rotated: the user continues (4)" eval '[ "$STATUS" = 200 ] && [ "$(count_of)" = 4 ]'
check "rotated: moved to its new name, counted and logged" \
	eval '[ "$(status_field w0 migrated)" = 1 ] && grep -q "event=session_migrated worker=w0 sid=$(CTL name "$V" | cut -c1-6)\.\.\. secret=2" "$T/sticky.log"'
check "rotated: the old name is a fenced tombstone, the new one holds it" \
	eval '[ "$(RCLI strlen "sticky:{$OLDN}:u")" = "$REC_LEN" ] && [ "$(RCLI getrange "sticky:{$OLDN}:u" 20 20)" = - ] && rhas_ckpt "$V"'
get w0 / "$V"
check "rotated: served from memory after (5), migrated once" \
	eval '[ "$(count_of)" = 5 ] && [ "$(status_field w0 migrated)" = 1 ]'
check "rotated: stickyctl verify accepts MACs under either secret" CTL verify
stop_sticky
unset STICKY_SECRET

# ---- 5. a bad secret_file, or none for an app that needs MACs ----
chmod 644 "$T/secret"
"$EXAMPLES/counter/counter" -o "secret_file=$T/secret" -n >"$T/n.out" 2>&1
check "-n refuses a world-readable secret_file, saying why" \
	eval '! "$EXAMPLES/counter/counter" -o "secret_file=$T/secret" -n >/dev/null 2>&1 && grep -q "mode 644" "$T/n.out"'
chmod 600 "$T/secret"
echo short >"$T/secret.short"; chmod 600 "$T/secret.short"
"$EXAMPLES/counter/counter" -o "secret_file=$T/secret.short" -n >"$T/n.out" 2>&1
check "-n refuses a secret shorter than 32 bytes" grep -q "at least 32 bytes" "$T/n.out"
MAC=$top_builddir/tests/integration/apps/maccounter
"$MAC" -n >"$T/n.out" 2>&1
check "-n: an app with STICKY_CODEC_NEEDS_MAC needs secret_file" \
	eval '! "$MAC" -n >/dev/null 2>&1 && grep -q "STICKY_CODEC_NEEDS_MAC.*set secret_file" "$T/n.out"'
check "-n: and is content with one" "$MAC" -o "secret_file=$T/secret" -n
rm -f "$T"/w*.sock
"$MAC" -l "unix:$T/%t.sock" >"$T/mac.log" 2>&1 &
P=$!
t_track $P
for _ in $(seq 1 100); do kill -0 $P 2>/dev/null || break; sleep 0.05; done
check "start: it does not start without one (exit 1, clear error)" \
	eval '! kill -0 $P 2>/dev/null && ! wait $P && grep -q "set secret_file" "$T/mac.log"'
t_untrack $P
t_done
