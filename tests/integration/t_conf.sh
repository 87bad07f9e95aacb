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
t_done
