#!/usr/bin/env python3
"""report.py: one table row from load.py's log and the event time.

report.py LOG EVENT_MS AFFECTED_PREFIX NAME
  AFFECTED_PREFIX: users whose last answer before the event came from a
  worker whose tag starts with it are "affected" ("" = every user).
Columns:
  ttfg_ms  the worst affected user's time from its first request after
           the event (or the event, for a request already in flight) to
           its first good (200) answer after the event
  errors   non-200 answers after the event (all users)
  lost     acknowledged updates gone: per user the largest k - count over
           its 200 answers (count below the number of acknowledged
           requests), summed
  double   updates applied twice: per user the largest count - k, summed
  ok       200 answers in the whole run
"""
import sys

log, ev, prefix, name = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
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
    if e < ev:
        if st == 200:
            last_worker[u] = w
        continue
    if st != 200:
        errors += 1
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
print("%-28s %8s %7d %5d %6d %7d %5d" % (name, ttfg, errors,
      sum(v for v in lost.values() if v > 0),
      sum(v for v in double.values() if v > 0), ok, len(aff)))
