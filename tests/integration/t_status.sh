#!/bin/bash
# t_status.sh: the status page with real processes.  Its values move as
# the workers do: requests, sessions, bytes, checkpoints written, restores
# (hits, misses, latency) and restarts after a SIGKILL, whose counters
# survive it; dirty sessions and the loss window in async mode; evictions;
# Redis going away; master totals.  The OpenMetrics output passes a strict
# checker (promtool is not available: the checker is below, and is shown
# failing on broken input first).  Other addresses are refused.
#
# Limits: 2 workers on unix sockets under $T, a private Redis; values are
# read through w1 when w0 is measured (a status request counts as a
# request of the worker that answers it); every wait is bounded.
. "$top_srcdir/tests/lib/procs.sh"
t_setup
STICKY_WORKERS=2
ctl() {
	"$STICKYCTL" -o "listen=unix:$T/%t.sock" -o workers=2 \
		-o status_path=/sticky-status "$@"
}
# js ASK EXPR: EXPR (python) over the JSON page fetched from worker ASK;
# m is the master object, w the workers by tag.
js() {
	ctl status json "$1" | python3 -c 'import json, sys
d = json.load(sys.stdin); m = d["master"]; w = {x["tag"]: x for x in d["workers"]}
print(eval(sys.argv[1]))' "$2"
}
# until_js ASK EXPR: wait (bounded, 3 s) until EXPR is True.
until_js() {
	for _ in $(seq 1 60); do
		[ "$(js "$1" "$2" 2>/dev/null)" = True ] && return 0
		sleep 0.05
	done
	return 1
}

# The strict OpenMetrics checker: exit 0 and "ok N samples", or exit 1
# with every violation (line number and reason).
cat >"$T/omcheck.py" <<'PY'
import re, sys
NAME = r'[a-zA-Z_:][a-zA-Z0-9_:]*'
LNAME = r'[a-zA-Z_][a-zA-Z0-9_]*'
LVAL = r'"(?:[^"\\\n]|\\[\\"n])*"'
NUM = r'(?:[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?|[+-]?Inf|NaN)'
SAMPLE = re.compile(r'^(' + NAME + r')(\{(?:' + LNAME + '=' + LVAL +
    r'(?:,' + LNAME + '=' + LVAL + r')*)?\})? (' + NUM + r')(?: (' + NUM + r'))?$')
META = re.compile(r'^# (TYPE|HELP|UNIT) (' + NAME + r') ?(.*)$')
TYPES = {'counter', 'gauge', 'histogram', 'gaugehistogram', 'stateset',
    'info', 'summary', 'unknown'}
SUFFIX = {'counter': ('_total', '_created'), 'gauge': ('',), 'unknown': ('',),
    'info': ('_info',), 'stateset': ('',),
    'summary': ('', '_sum', '_count', '_created'),
    'histogram': ('_bucket', '_sum', '_count', '_created'),
    'gaugehistogram': ('_bucket', '_gsum', '_gcount')}
text = open(sys.argv[1], encoding='utf-8').read()
errs = []
def bad(n, why): errs.append('line %d: %s' % (n, why))
if not text.endswith('# EOF\n'):
    bad(0, 'does not end with "# EOF" and a newline')
lines = text.split('\n')[:-1]
fam = {}            # family name -> {'type', 'help', 'samples'}
done = set()        # families already left behind
cur = None
seen = set()
nsamples = 0
for n, line in enumerate(lines, 1):
    if line == '# EOF':
        if n != len(lines):
            bad(n, '"# EOF" before the end')
        continue
    if line == '':
        bad(n, 'blank line')
        continue
    if line.startswith('#'):
        mm = META.match(line)
        if not mm:
            bad(n, 'comment that is not TYPE, HELP or UNIT')
            continue
        kind, name, rest = mm.groups()
        if name != cur:
            if name in done or name in fam:
                bad(n, name + ': metadata of a family seen before (interleaved)')
            if cur is not None:
                done.add(cur)
            cur = name
            fam.setdefault(name, {'type': None, 'help': None, 'samples': 0})
        f = fam[name]
        if f['samples']:
            bad(n, name + ': ' + kind + ' after its samples')
        if kind == 'TYPE':
            if f['type'] is not None:
                bad(n, name + ': second TYPE')
            if rest not in TYPES:
                bad(n, name + ': unknown type ' + repr(rest))
            if rest == 'counter' and name.endswith('_total'):
                bad(n, name + ': counter family named *_total')
            f['type'] = rest
        elif kind == 'HELP':
            if f['help'] is not None:
                bad(n, name + ': second HELP')
            if re.search(r'\\[^\\n"]', rest):
                bad(n, name + ': bad escape in HELP')
            f['help'] = rest
        continue
    ms = SAMPLE.match(line)
    if not ms:
        bad(n, 'not a valid sample line: ' + repr(line))
        continue
    name, labels, value = ms.group(1), ms.group(2) or '', ms.group(3)
    if cur is None or fam[cur]['type'] is None:
        bad(n, name + ': sample before its TYPE')
        continue
    t = fam[cur]['type']
    if name not in [cur + s for s in SUFFIX[t]]:
        bad(n, name + ': not a sample name of ' + t + ' ' + cur)
    if t == 'counter' and name.endswith('_total'):
        if value == 'NaN' or float(value) < 0:
            bad(n, name + ': counter value ' + value)
    lnames = re.findall(r'(' + LNAME + ')=' + LVAL, labels)
    if len(set(lnames)) != len(lnames):
        bad(n, name + ': repeated label name')
    if any(l.startswith('__') for l in lnames):
        bad(n, name + ': reserved label name')
    if (name, labels) in seen:
        bad(n, name + labels + ': repeated sample')
    seen.add((name, labels))
    fam[cur]['samples'] += 1
    nsamples += 1
for name, f in fam.items():
    if f['type'] is None:
        bad(0, name + ': no TYPE')
    if f['help'] is None:
        bad(0, name + ': no HELP')
if nsamples == 0:
    bad(0, 'no samples')
if errs:
    print('\n'.join(errs))
    sys.exit(1)
print('ok %d samples %d families' % (nsamples, len(fam)))
PY

start_redis || { fail "redis starts"; t_done; exit 1; }
# The config file is re-read on SIGHUP: phase 2 changes it.
printf 'checkpoint = sync\n' >"$T/sticky.conf"
start_sticky counter -w 2 -c "$T/sticky.conf" -r "unix:$REDIS_SOCK" ||
	{ fail "daemon starts"; t_done; exit 1; }

# ---- the formats and stickyctl status ----
ctl status >"$T/text"
check "stickyctl status prints the text page" [ $? = 0 ]
check "text: master line with pid, reloads, workers up, loss window" \
	grep -qE "^master pid $STICKY_PID, up [0-9]+s, reloads 0, workers 2/2 up, redis 2/2 up, loss window [0-9]+ms$" "$T/text"
check "text: a totals block and one block per worker" \
	bash -c "grep -qx totals '$T/text' && grep -qE '^worker w0 pid [0-9]+ up, started [0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z, up [0-9]+s' '$T/text' && grep -qE '^worker w1 pid [0-9]+ up' '$T/text'"
ST0=$(js w1 'w["w0"]["start_time"]')
check "text: w0 started at its JSON start_time ($ST0), as ISO 8601 UTC" \
	grep -q "^worker w0 pid [0-9]* up, started $(date -u -d "@$ST0" +%Y-%m-%dT%H:%M:%SZ), " "$T/text"
for f in requests sessions bytes dirty ckpt_written ckpt_failed ckpt_fenced \
	restore_hits restore_misses evictions restarts crashes recycles timeouts_killed; do
	grep -qE "^  $f +[0-9]+$" "$T/text" || { fail "text: field $f"; continue; }
done
ok "text: every counter listed"
check "json: every per-worker field present" [ "$(js w1 'all(k in w["w0"] for k in ("tag","pid","start_time","restarts","crashes","requests","sessions","bytes","dirty","ckpt_written","ckpt_failed","ckpt_fenced","restore_hits","restore_misses","restore_us_total","evictions","redis_up","loss_window_ms","up"))')" = True ]
check "json: master pid, start time, totals" [ "$(js w1 'm["pid"] == '"$STICKY_PID"' and m["workers"] == 2 and m["workers_up"] == 2 and m["start_time"] > 0 and "requests" in m["totals"]')" = True ]
ctl status json w7 >/dev/null 2>&1
check "stickyctl status json w7 (no such worker) fails" [ $? = 1 ]

# ---- values move: requests, sessions, bytes, checkpoints ----
R0=$(js w1 'w["w0"]["requests"]')
C0=$(js w1 'w["w0"]["ckpt_written"]')
get w0 / ""; A=$SETCOOKIE; for i in 2 3 4 5; do get w0 / "$A"; done
get w0 / ""; B=$SETCOOKIE; for i in 2 3; do get w0 / "$B"; done
get w1 / ""; C=$SETCOOKIE; get w1 / "$C"
check "user A at 5, B at 3 on w0" eval '[ "$(get w0 /peek "$A"; count_of)" = 5 ] && [ "$(get w0 /peek "$B"; count_of)" = 3 ]'
check "w0 requests moved by exactly 10 ($R0 -> $(js w1 'w["w0"]["requests"]'))" \
	[ "$(js w1 'w["w0"]["requests"]')" = $((R0 + 10)) ]
check "sessions: 2 on w0, 1 on w1, 3 in the master totals" \
	until_js w1 'w["w0"]["sessions"] == 2 and w["w1"]["sessions"] == 1 and m["totals"]["sessions"] == 3'
check "bytes: 8 per counter (codec size), 24 in total" \
	until_js w1 'w["w0"]["bytes"] == 16 and m["totals"]["bytes"] == 24'
check "sync mode: 8 checkpoints written on w0, nothing dirty, loss window 0" \
	until_js w1 'w["w0"]["ckpt_written"] == '"$((C0 + 8))"' and w["w0"]["dirty"] == 0 and w["w0"]["loss_window_ms"] == 0'
check "redis up on both; nothing failed or fenced" \
	[ "$(js w1 'w["w0"]["redis_up"] and w["w1"]["redis_up"] and m["redis_up"] == 2 and m["totals"]["ckpt_failed"] == 0 and m["totals"]["ckpt_fenced"] == 0')" = True ]
check "master totals are the sums over workers" \
	[ "$(js w1 'all(m["totals"][k] == sum(x[k] for x in w.values()) for k in ("requests","ckpt_written","sessions_created","restarts"))')" = True ]

# ---- SIGKILL: restarts and crashes count, counters survive, restores ----
P0=$(js w1 'w["w0"]["pid"]')
S0=$(js w1 'w["w0"]["start_time"]')
R1=$(js w1 'w["w0"]["requests"]')
sleep 1 # a new start_time must be visibly later
kill -KILL "$P0"
check "the respawned w0 is up with a new pid" until_js w1 'w["w0"]["up"] and w["w0"]["pid"] != '"$P0"
check "restarts 1, crashes 1, last crash signal 9, start time moved" \
	[ "$(js w1 'w["w0"]["restarts"] == 1 and w["w0"]["crashes"] == 1 and w["w0"]["last_crash_signal"] == 9 and w["w0"]["start_time"] > '"$S0")" = True ]
check "counters survived the crash (requests still $R1)" [ "$(js w1 'w["w0"]["requests"]')" = "$R1" ]
check "the dead worker's memory gauges dropped (sessions 0)" [ "$(js w1 'w["w0"]["sessions"]')" = 0 ]
get w0 / "$A"; a=$(count_of)
get w0 / "$B"; b=$(count_of)
check "A and B continue at 6 and 4 (restored)" eval '[ "$a" = 6 ] && [ "$b" = 4 ]'
check "restore hits 2, with a latency" [ "$(js w1 'w["w0"]["restore_hits"] == 2 and w["w0"]["restore_us_total"] > 0')" = True ]
ctl status text w1 >"$T/text2"
check "text page: restore_avg_us" grep -qE '^  restore_avg_us +[0-9]+$' "$T/text2"
M0=$(js w1 'w["w0"]["restore_misses"]')
get w0 / "AAAAAAAAAAAAAAAAAAAAAA.w0"
check "an unknown id is a restore miss (and a new session)" \
	eval '[ "$(js w1 '\''w["w0"]["restore_misses"]'\'')" = $((M0 + 1)) ] && [ "$(count_of)" = 1 ]'

# ---- SIGHUP to async with a long interval: dirty, the loss window, evictions ----
printf 'checkpoint = async\ncheckpoint_interval = 600000\nmax_sessions = 3\n' >"$T/sticky.conf"
kill -HUP "$STICKY_PID"
for _ in $(seq 1 100); do grep -q 'event=reload_done' "$T/sticky.log" && break; sleep 0.05; done
check "reload done, counted in the master" [ "$(js w1 'm["reloads"]')" = 1 ]
get w1 / ""; D=$SETCOOKIE; get w1 / "$D"; get w1 / "$D"
check "async: one dirty session on w1" until_js w0 'w["w1"]["dirty"] == 1'
l1=$(js w0 'w["w1"]["loss_window_ms"]')
sleep 0.6
l2=$(js w0 'w["w1"]["loss_window_ms"]')
check "the loss window grows while the change is unflushed ($l1 -> $l2 ms)" eval '[ "$l2" -ge 500 ] && [ "$l2" -gt "$l1" ]'
check "the master's loss window is the worst worker's" [ "$(js w0 'm["loss_window_ms"] >= w["w1"]["loss_window_ms"] > 0')" = True ]
E0=$(js w0 'w["w1"]["evictions"]')
for i in 1 2 3 4; do get w1 / ""; done
check "max_sessions 3: 2 evictions on w1, 3 sessions left" \
	until_js w0 'w["w1"]["evictions"] == '"$((E0 + 2))"' and w["w1"]["sessions"] == 3'

# ---- OpenMetrics: strict format, content type, values ----
get w0 '/sticky-status?openmetrics' ""
check "openmetrics: 200 with the OpenMetrics content type" \
	eval '[ "$STATUS" = 200 ] && grep -q "^Content-Type: application/openmetrics-text; version=1.0.0; charset=utf-8" "$T/resp"'
ctl status openmetrics w0 >"$T/om"
out=$(python3 "$T/omcheck.py" "$T/om")
check "openmetrics passes the strict checker ($out)" [ $? = 0 ]
[ "${out#ok}" = "$out" ] && t_log "$out"
check "openmetrics: loss window of w1 > 0 s" \
	awk '$1 == "sticky_loss_window_seconds{worker=\"w1\"}" && $2 > 0 { f = 1 } END { exit !f }' "$T/om"
check "openmetrics: restarts_total of w0 is 2 (crash + reload), reloads_total 1" \
	bash -c "grep -qx 'sticky_restarts_total{worker=\"w0\"} 2' '$T/om' && grep -qx 'sticky_reloads_total 1' '$T/om'"
check "openmetrics: worker pid and start time per worker" \
	bash -c "grep -qE '^sticky_worker_pid\{worker=\"w1\"\} [0-9]+$' '$T/om' && grep -qE '^sticky_worker_start_time_seconds\{worker=\"w0\"\} [0-9]+$' '$T/om'"
# The checker is a test too: each broken variant must be refused.
refused=0
mutate() { python3 - "$T/om" "$T/om.bad" "$1" <<'PY'
import sys
t = open(sys.argv[1]).read(); k = sys.argv[3]
if k == 'no-eof': t = t.replace('# EOF\n', '')
if k == 'no-total': t = t.replace('sticky_requests_total{', 'sticky_requests{', 1)
if k == 'sample-first':
    l = t.split('\n'); i = next(j for j, x in enumerate(l) if x.startswith('# TYPE sticky_evictions'))
    l[i], l[i + 2] = l[i + 2], l[i]; t = '\n'.join(l)
if k == 'bad-label': t = t.replace('{worker="w0"}', '{worker=w0}', 1)
if k == 'blank': t = t.replace('\n# TYPE', '\n\n# TYPE', 1)
if k == 'interleave':
    l = t.split('\n'); i = next(j for j, x in enumerate(l) if x.startswith('sticky_requests_total'))
    l.insert(l.index('# EOF'), l.pop(i)); t = '\n'.join(l)
if k == 'bad-value': t = t.replace('sticky_dirty{worker="w0"} 0', 'sticky_dirty{worker="w0"} zero', 1)
open(sys.argv[2], 'w').write(t)
PY
}
for k in no-eof no-total sample-first bad-label blank interleave bad-value; do
	mutate "$k"
	if python3 "$T/omcheck.py" "$T/om.bad" >/dev/null; then t_log "checker accepted $k"; else refused=$((refused + 1)); fi
done
check "the checker refuses all 7 broken variants ($refused)" [ "$refused" = 7 ]

# ---- the address check ----
get w0 /sticky-status "" -H REMOTE_ADDR=10.1.2.3
check "another address gets 403 and no counters" eval '[ "$STATUS" = 403 ] && ! grep -q "master pid" "$T/resp"'
get w1 '/sticky-status?json' "" -H REMOTE_ADDR=192.0.2.7
check "refused for the JSON format too" [ "$STATUS" = 403 ]
get w0 /sticky-status "" -H REMOTE_ADDR=::1
check "::1 (in the default status_allow) gets 200" [ "$STATUS" = 200 ]
get w0 /sticky-status "" -H REMOTE_ADDR=127.0.0.10
check "no prefix match: 127.0.0.10 is refused" [ "$STATUS" = 403 ]

# ---- Redis goes away: the connection state shows it ----
stop_redis
get w0 / "BBBBBBBBBBBBBBBBBBBBBA.w0" # a restore must ask Redis
check "redis down: w0 reports redis_up false, the master 1/2" \
	until_js w1 'not w["w0"]["redis_up"] and m["redis_up"] <= 1'
ctl status openmetrics w1 >"$T/om2"
check "openmetrics: sticky_redis_up of w0 is 0" grep -qx 'sticky_redis_up{worker="w0"} 0' "$T/om2"
check "openmetrics still strict with Redis down" python3 "$T/omcheck.py" "$T/om2"
t_done
