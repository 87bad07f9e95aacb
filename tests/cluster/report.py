#!/usr/bin/env python3
"""report.py: one table row from load.py's log and the event time.

report.py LOG EVENT_MS AFFECTED_PREFIX NAME [FROM_MS]
  AFFECTED_PREFIX: users whose last answer before the event came from a
  worker whose tag starts with it are "affected" ("" = every user).
Columns:
  ttfg_ms  the worst affected user's time from its first request after
           the event (or the event, for a request already in flight) to
           its first good (200) answer after the event
  errors   non-200 answers after FROM_MS (default: the event; all users)
  lost     acknowledged updates gone: per user the largest k - count over
           its 200 answers (count below the number of acknowledged
           requests), summed
  lost_ms  the widest loss window: from the answer of the oldest lost
           update to the request that showed the loss (async: about one
           flush window plus the time to the user's next request)
  double   updates applied twice: per user the largest count - k, summed
  ok       200 answers in the whole run
"""
import sys

log, ev, prefix, name = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
frm = int(sys.argv[5]) if len(sys.argv) > 5 else ev
rows = []
for line in open(log):
    s, e, u, k, st, c, w = line.split()
    rows.append((int(s), int(e), int(u), int(k), int(st),
                 None if c == "-" else int(c), w))
rows.sort(key=lambda r: r[1])
last_worker, first_after, good_after = {}, {}, {}
lost, double, errors, ok = {}, {}, 0, 0
for s, e, u, k, st, c, w in rows:
    if st == 200 and c is not None:
        ok += 1
        lost[u] = max(lost.get(u, 0), k - c)
        double[u] = max(double.get(u, 0), c - k)
    if st != 200 and e >= frm:
        errors += 1
    if e < ev:
        if st == 200:
            last_worker[u] = w
        continue
    if u not in first_after:
        first_after[u] = max(s, ev)
    if st == 200 and u not in good_after:
        good_after[u] = e
users = {r[2] for r in rows}
aff = [u for u in users if last_worker.get(u, "").startswith(prefix)]
worst, never = 0, 0
for u in aff:
    if u not in first_after:
        continue
    if u not in good_after:
        never += 1
        continue
    worst = max(worst, good_after[u] - first_after[u])
ttfg = str(worst) if never == 0 else "never(%d)" % never
# Any answer whose count is not above the highest acknowledged before it
# went back (after the event: a restore from an older checkpoint, or a
# later takeover by a stale host); the acknowledged answers from that count
# on were lost.  The window: from the first of them to the request that
# showed the loss.
win = 0
seen = {}  # user -> [(count, end_ms)] of its 200s so far
for s_, e, u, k, st, c, w in rows:
    if st != 200 or c is None:
        continue
    prev = seen.setdefault(u, [])
    if e >= ev and prev and c <= max(c2 for c2, e2 in prev):
        gone = [e2 for c2, e2 in prev if c2 >= c]
        win = max(win, s_ - min(gone))
        # One loss: what survived is the new history, so the answers
        # that follow (still below the old top) do not count it again.
        prev[:] = [(c2, e2) for c2, e2 in prev if c2 < c]
    prev.append((c, e))
print("%-28s %8s %7d %5d %9d %6d %7d %5d" % (name, ttfg, errors,
      sum(v for v in lost.values() if v > 0), win,
      sum(v for v in double.values() if v > 0), ok, len(aff)))
