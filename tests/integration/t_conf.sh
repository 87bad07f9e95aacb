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
