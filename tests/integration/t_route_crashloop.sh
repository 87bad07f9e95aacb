#!/bin/bash
# t_route_crashloop.sh: a crash loop behind every front-end recipe, in both
# routing modes.  Three workers with sync checkpoints, 16 users (a cookie
# jar each) at 10 requests a second for 6 s through the front-end, while
# once a second one worker is SIGKILLed and a new user's request makes its
# worker exit in flight (the test-only fault injection: a kill alone
# rarely meets a request in flight, and a request in flight is what a
# front-end counts as a failure).  The master keeps each
# socket through a respawn, so a crash must not take a worker out of the
# ring: where the front-end resends a failed request (Apache, nginx,
# HAProxy) the users see 0 errors, and every count goes up by exactly one
# (a resent request is applied once, from the replay record).  lighttpd
# does not resend: a request in flight on the killed worker gets 500
# (documented, docs/frontends.md), and nothing else fails (no 502/503: no
# worker is taken out); its change may have been saved all the same, so a
# count may skip one after an error, never go back.  lighttpd has no
# routing = hash recipe; Apache's hash recipe routes on the tag.
# Limits: 127.0.0.1 and unix sockets in $T only; ~80 s (7 runs of ~10 s).
. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/lib/procs.sh"
FE_TIMEOUT=5
. "$top_srcdir/tests/integration/frontends.sh"

USERS=16
: "${RATE:=10}" # requests a second per user
: "${SECS:=6}"
: "${CRASHLOOP_FES:=nginx haproxy apache lighttpd}" # to run fewer by hand

fe_setup
start_redis || { fail "redis"; t_done; exit; }
start_sticky counter -w "$STICKY_WORKERS" -r "unix:$REDIS_SOCK" || { fail "sticky"; t_done; exit; }

# crashloop FE ROUTING: one run; the checks say what FE is documented to do.
crashloop() {
	local fe=$1 routing=$2 u urls loaders="" kills=0 victims pid i running
	rm -f "$T"/crash*.out "$T"/crash*.jar
	fe_restart_sticky -o checkpoint=sync -o routing="$routing" \
		-o fault_die_after_checkpoint=on ||
		{ fail "$fe $routing: sticky starts"; return 1; }
	ROUTING=$routing fe_start "$fe" ||
		{ fail "$fe $routing: the generated recipe starts"; fe_stop; return 1; }
	urls=$(for i in $(seq 1 $((RATE * SECS))); do printf 'http://127.0.0.1:%s/ ' "$FE_PORT"; done)
	for u in $(seq 1 $USERS); do
		: >"$T/cl$u.jar"
		# shellcheck disable=SC2086
		curl -s -m 30 --rate "$RATE/s" -b "$T/cl$u.jar" -c "$T/cl$u.jar" \
			-w ' code=%{http_code} t=%{time_total}\n' $urls >"$T/cl$u.out" 2>&1 &
		loaders="$loaders $!"
	done
	# Once a second while the load runs (bounded: the loaders stop after
	# RATE x SECS requests each): a new user's request that makes its
	# worker exit once its change is saved, and a SIGKILL.
	for i in $(seq 1 60); do
		sleep 1
		running=""
		for pid in $loaders; do kill -0 "$pid" 2>/dev/null && running=1; done
		[ -n "$running" ] || break
		# A user with a session, so the resent request is answered
		# from the replay record (a new session would be created, and
		# its worker exit, on every worker it is resent to).
		(
			curl -s -m 30 -c "$T/crash$i.jar" "http://127.0.0.1:$FE_PORT/" >/dev/null
			curl -s -m 30 -b "$T/crash$i.jar" -c "$T/crash$i.jar" \
				-H 'X-Sticky-Fault: die-after-checkpoint' \
				-w ' code=%{http_code} t=%{time_total}\n' \
				"http://127.0.0.1:$FE_PORT/" >"$T/crash$i.out" 2>&1
		) &
		loaders="$loaders $!"
		victims=($(pgrep -P "$STICKY_PID"))
		[ ${#victims[@]} -gt 0 ] || continue
		kill -KILL "${victims[RANDOM % ${#victims[@]}]}" 2>/dev/null && kills=$((kills + 1))
	done
	for pid in $loaders; do wait "$pid"; done
	python3 - "$T"/cl*.out "$T"/crash*.out <<'EOF' >"$T/cl.txt"
import collections, re, sys
ok = bad = back = skip = skip_after_error = moved = 0
codes = collections.Counter()
for f in sys.argv[1:]:
    prev = pw = None
    err = False
    for m in re.finditer(r'(?s)(.*?) code=(\d+) t=([\d.]+)\n', open(f).read()):
        body, code = m.group(1), m.group(2)
        mm = re.search(r'count=(\d+) worker=(\S+)', body)
        if code != '200' or mm is None:
            bad += 1
            codes[code] += 1
            err = True
            continue
        ok += 1
        c = int(mm.group(1))
        if pw is not None and mm.group(2) != pw:
            moved += 1
        pw = mm.group(2)
        if prev is not None:
            if c <= prev:
                back += 1
            elif c != prev + 1:
                if err:
                    skip_after_error += 1
                else:
                    skip += 1
        prev = c
        err = False
print(ok, bad, ",".join("%s:%d" % kv for kv in sorted(codes.items())) or "-",
      back, skip, skip_after_error, moved)
EOF
	read -r CL_OK CL_ERR CL_CODES CL_BACK CL_SKIP CL_SKIP_ERR CL_MOVED <"$T/cl.txt"
	t_log "$fe $routing: $kills kills, $(log_count fault_injected) in-flight exits; $CL_OK ok, $CL_ERR errors ($CL_CODES); counts back $CL_BACK, skipped $CL_SKIP, skipped after an error $CL_SKIP_ERR; $(log_count replayed) replayed; users moved to another worker $CL_MOVED times"
	check "$fe $routing: the crash loop ran ($kills workers SIGKILLed, $(log_count fault_injected) exited in flight, $CL_OK answers)" \
		eval '[ "$kills" -ge 3 ] && [ "$(log_count fault_injected)" -ge 3 ] && [ "$CL_OK" -ge $((USERS * RATE * SECS / 2)) ]'
	if [ "$fe" = lighttpd ]; then
		check "$fe $routing: only requests in flight at a kill failed (500, not resent: documented limit): $CL_ERR ($CL_CODES)" \
			eval '[ "$CL_CODES" = - ] || [ "$CL_CODES" = "500:$CL_ERR" ]'
		check "$fe $routing: no count went back, none skipped but after an error" \
			eval '[ "$CL_BACK" = 0 ] && [ "$CL_SKIP" = 0 ]'
	else
		check "$fe $routing: 0 errors of $((CL_OK + CL_ERR)) ($CL_CODES)" [ "$CL_ERR" = 0 ]
		check "$fe $routing: every count went up by one (back $CL_BACK, skipped $CL_SKIP)" \
			eval '[ "$CL_BACK" = 0 ] && [ "$CL_SKIP" = 0 ] && [ "$CL_SKIP_ERR" = 0 ]'
	fi
	[ "$CL_ERR" = 0 ] || fe_logs
	fe_stop
}

ran=0
for fe in $CRASHLOOP_FES; do
	if ! fe_available "$fe"; then
		t_log "$fe is not installed: SKIP"
		continue
	fi
	for routing in tag hash; do
		if [ "$fe" = lighttpd ] && [ "$routing" = hash ]; then
			t_log "lighttpd has no routing = hash recipe (refused, t_route_lighttpd.sh)"
			continue
		fi
		crashloop "$fe" "$routing"
		ran=$((ran + 1))
	done
done
[ "$ran" -gt 0 ] || { t_log "no front-end installed: SKIP"; exit 77; }
stop_sticky
t_done
