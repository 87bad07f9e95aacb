#!/bin/bash
# t_conf.sh: conf/stickyd.conf.example is generated from the key table
# (`stickyctl conf`), never edited by hand: fail when they drift apart.
# Also: a config error names file and line, and -n checks a config.
. "$top_srcdir/tests/lib/procs.sh"
t_setup
"$STICKYCTL" conf >"$T/example"
check "conf/stickyd.conf.example matches stickyctl conf" \
	diff -u "$top_srcdir/conf/stickyd.conf.example" "$T/example"
printf 'workers = 2\nlisten = "unix:%s/%%t.sock"\ncheckpoint = sometimes\n' "$T" >"$T/bad.conf"
"$EXAMPLES/counter/counter" -c "$T/bad.conf" -n >"$T/out" 2>&1
check "a bad value is refused with file:line" grep -q "bad.conf:3: checkpoint" "$T/out"
printf 'workers = 2\nlisten = "unix:%s/%%t.sock"\n' "$T" >"$T/good.conf"
check "-n accepts a good config" "$EXAMPLES/counter/counter" -c "$T/good.conf" -n
# -n runs the validation the start runs: what workers would refuse (and
# crash-loop on) is refused here, with the key and the reason.
nflag() { "$EXAMPLES/counter/counter" -c "$T/good.conf" "$@" -n >"$T/out" 2>&1; }
R="-r 127.0.0.1:6379"
nflag $R -o checkpoint_ttl=2147483648
check "-n: checkpoint_ttl above 2^31-1 is refused" grep -q "checkpoint_ttl: 2147483648 is out of range" "$T/out"
nflag $R -o "redis_prefix=$(printf 'p%.0s' $(seq 1 257))"
check "-n: a redis_prefix over 256 bytes is refused" grep -q "redis_prefix: 257 bytes, at most 256" "$T/out"
nflag $R -o redis_user=app
check "-n: redis_user without redis_password is refused" grep -q "redis_user needs redis_password" "$T/out"
nflag $R -o idle_timeout=9223372036854775807
check "-n: idle_timeout = LONG_MAX is accepted (never)" grep -q "configuration ok" "$T/out"
LONGPATH=$T/$(printf 'd%.0s' $(seq 1 600))
nflag -l "unix:$LONGPATH/%t.sock"
check "-n: a -l value of 600+ bytes is an error, not cut" grep -q "^.*: listen: 'unix:" "$T/out"
nflag -r "unix:$LONGPATH/redis.sock"
check "-n: a -r value of 600+ bytes is an error, not cut" grep -q "^.*: redis: 'unix:" "$T/out"
nflag -l "unix:$T/$(printf 's%.0s' $(seq 1 120))/%t.sock"
check "-n: a unix socket path longer than sun_path is refused" grep -q "listen: the socket path of worker 0 is" "$T/out"
# The test-only fault switch: accepted exactly when its code is in the
# library (./configure --enable-fault-injection); otherwise refused, and
# the request-triggered exit is not in the binary at all.
LIB=$(ls "$top_builddir"/.libs/libsticky.so.*.*.* 2>/dev/null | head -1)
check "the built library is found ($LIB)" [ -f "$LIB" ]
if grep -q -- '--enable-fault-injection' "$top_builddir/config.status"; then
	check "fault injection build: fault_die_after_checkpoint = on is accepted" \
		"$EXAMPLES/counter/counter" -c "$T/good.conf" -o fault_die_after_checkpoint=on -n
	check "and its code is in the library" grep -qa 'die-after-checkpoint' "$LIB"
else
	"$EXAMPLES/counter/counter" -c "$T/good.conf" -o fault_die_after_checkpoint=on -n >"$T/out" 2>&1
	check "plain build: fault_die_after_checkpoint = on is refused, saying why" \
		grep -q 'no fault injection (./configure --enable-fault-injection)' "$T/out"
	check "and its code is not in the library" bash -c "! grep -qa -e 'die-after-checkpoint' -e 'HTTP_X_STICKY_FAULT' '$LIB'"
fi
# The test scripts themselves: `check "msg" [ A ] && [ B ]` asserts A only
# (B runs outside check), so a compound condition must be one eval.
python3 - "$top_srcdir"/tests/integration/*.sh "$top_srcdir"/tests/bench/*.sh >"$T/lint" <<'PY'
import re, sys
for path in sys.argv[1:]:
    lines = open(path).read().split("\n")
    i = 0
    while i < len(lines):
        if re.match(r"\s*check ", lines[i]):
            j = i
            while lines[j].rstrip().endswith(("\\", "&&", "||")) and j + 1 < len(lines):
                j += 1
            stmt = " ".join(lines[i:j + 1])
            rest = re.sub(r"eval '.*'|bash -c \".*\"|awk '.*'|python3 -c '.*'", "", stmt)
            if re.search(r"\] *(&&|\|\|) *(\[|!|grep|echo|test)", rest):
                print("%s:%d: compound condition outside check" % (path, i + 1))
            i = j
        i += 1
PY
check "no test script asserts only half of a compound condition" [ ! -s "$T/lint" ] ||
	cat "$T/lint" >&2
t_done
