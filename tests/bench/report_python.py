#!/usr/bin/env python3
"""report_python.py: the table of the Python section of the benchmark.

    report_python.py DIR   reads DIR/python.tsv and DIR/python-meta.tsv
                           (written by python.sh), writes DIR/python.md
                           and prints it.

req/s are medians over rounds (min-max); ratios are computed inside each
round and summarised by their median (min-max).  CPU per request is the
servers' processes plus Redis, in microseconds.
"""
import os
import statistics
import sys


def parse(path):
    rows = []
    if os.path.exists(path):
        with open(path) as f:
            for line in f:
                d = dict(x.split("=", 1) for x in line.rstrip("\n").split("\t")
                         if "=" in x)
                if d:
                    rows.append(d)
    return rows


def num(v):
    try:
        return float(v)
    except (TypeError, ValueError):
        return 0.0


def spread(vals, fmt):
    if not vals:
        return "n/a"
    if len(vals) == 1:
        return fmt(vals[0])
    return "%s (%s-%s)" % (fmt(statistics.median(vals)), fmt(min(vals)),
                           fmt(max(vals)))


def rate(v):
    return "{:,.0f}".format(v)


def ratio(v):
    return "%.2f" % v if v < 10 else "%.1f" % v


def size_name(s):
    s = int(s)
    if s == 0:
        return "-"
    return "%d MiB" % (s >> 20) if s % (1 << 20) == 0 else "%d KiB" % (s >> 10)


LABEL = {
    "uwsgi-hello": "uWSGI, hello world",
    "sticky-hello": "sticky-wsgi, hello world",
    "uwsgi-redis": "uWSGI, state pickled to/from Redis per request",
    "sticky-async": "sticky-wsgi, state in the worker, async checkpoints, touch()",
    "sticky-untouched": "sticky-wsgi, state in the worker, async checkpoints, no touch()",
    "sticky-off": "sticky-wsgi, state in the worker, checkpoints off",
}


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else "bench-results"
    rows = [r for r in parse(os.path.join(out, "python.tsv"))
            if r.get("section") == "python"]
    meta = (parse(os.path.join(out, "python-meta.tsv")) or [{}])[0]
    if not rows:
        print("no python rows in %s" % out, file=sys.stderr)
        return 1
    by = {}  # name -> round -> row
    for r in rows:
        by.setdefault(r["name"], {})[r["round"]] = r
    names = list(dict.fromkeys(r["name"] for r in rows))
    lines = []
    p = lines.append
    p("### Python: sticky-wsgi against uWSGI")
    p("")
    p("%s rounds x %s s, fcgi-load: %s users, %s connections; %s worker "
      "processes each; %s CPUs, load average %s; %s; Python %s." % (
          meta.get("rounds", "?"), meta.get("seconds", "?"),
          meta.get("users", "?"), meta.get("conc", "?"),
          meta.get("workers", "?"), meta.get("cpus", "?"),
          meta.get("loadavg", "?"), "uWSGI " + meta.get("uwsgi", "-"),
          meta.get("python", "?")))
    p("")
    p("| configuration | state | req/s | server CPU us/req | p99 ms | errors | lost |")
    p("|---|---|---|---|---|---|---|")
    for n in names:
        rr = list(by[n].values())
        k = rr[0]["kind"]
        cpu = [(num(r["cpu_server_us"]) + num(r["cpu_redis_us"])) / max(1, num(r["ok"]))
               for r in rr]
        p("| %s | %s | %s | %s | %s | %d | %d |" % (
            LABEL.get(k, k), size_name(rr[0]["size"]),
            spread([num(r["rps"]) for r in rr], rate),
            spread(cpu, lambda v: "%.0f" % v),
            spread([num(r["p99_us"]) / 1000 for r in rr], lambda v: "%.2f" % v),
            sum(int(num(r["errors"])) for r in rr),
            sum(int(num(r.get("lost", 0))) for r in rr)))
    p("")

    def per_round(a, b, f):
        out = []
        for rnd, ra in by.get(a, {}).items():
            rb = by.get(b, {}).get(rnd)
            if rb is not None:
                v = f(ra, rb)
                if v is not None:
                    out.append(v)
        return out

    def rps_ratio(ra, rb):
        return num(ra["rps"]) / num(rb["rps"]) if num(rb["rps"]) else None

    def cpu_ratio(ra, rb):  # b's CPU per request over a's
        ca = (num(ra["cpu_server_us"]) + num(ra["cpu_redis_us"])) / max(1, num(ra["ok"]))
        cb = (num(rb["cpu_server_us"]) + num(rb["cpu_redis_us"])) / max(1, num(rb["ok"]))
        return cb / ca if ca else None

    p("| ratio | measured | target |")
    p("|---|---|---|")
    checks = [("sticky-wsgi hello / uWSGI hello (req/s)", "sticky-hello",
               "uwsgi-hello", rps_ratio, ">= 1.0")]
    sizes = sorted({int(r["size"]) for r in rows if int(r["size"]) > 0})
    for s in sizes:
        sn = size_name(s)
        checks.append(("sticky-wsgi %s async / uWSGI hello (req/s)" % sn,
                       "sticky-async-%d" % s, "uwsgi-hello", rps_ratio, ">= 0.9"))
        checks.append(("sticky-wsgi %s async / uWSGI pickle+Redis (req/s)" % sn,
                       "sticky-async-%d" % s, "uwsgi-redis-%d" % s, rps_ratio,
                       ">= 4" if s < (1 << 20) else ">= 100"))
        checks.append(("uWSGI pickle+Redis / sticky-wsgi %s async (CPU per request)" % sn,
                       "sticky-async-%d" % s, "uwsgi-redis-%d" % s, cpu_ratio,
                       ">= 8" if s < (1 << 20) else "-"))
        checks.append(("sticky-wsgi %s async / checkpoints off (req/s)" % sn,
                       "sticky-async-%d" % s, "sticky-off-%d" % s, rps_ratio, ">= 0.9"))
        checks.append(("sticky-wsgi %s async without touch() / checkpoints off (req/s)" % sn,
                       "sticky-untouched-%d" % s, "sticky-off-%d" % s, rps_ratio, "-"))
    for label, a, b, f, target in checks:
        vals = per_round(a, b, f)
        if vals:
            p("| %s | %s | %s |" % (label, spread(vals, ratio), target))
    text = "\n".join(lines) + "\n"
    with open(os.path.join(out, "python.md"), "w") as f:
        f.write(text)
    sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
