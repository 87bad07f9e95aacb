#!/usr/bin/env python3
"""report.py: the tables of sticky's benchmark, from what run.sh recorded.

    report.py DIR      reads DIR/raw.tsv and DIR/meta.tsv (tab-separated
                       key=value lines), writes DIR/bench.md and
                       DIR/summary.tsv, prints the markdown on stdout.

Every req/s figure is a median over rounds with its (min-max); every ratio
is computed inside each round (both runs of the round) and then summarised
by its median (min-max).  Exit 0 when the tables were written, whatever
the figures; 1 when raw.tsv holds no throughput line.
"""
import os
import statistics
import sys


def parse(path):
    rows = []
    if not os.path.exists(path):
        return rows
    with open(path) as f:
        for line in f:
            d = {}
            for field in line.rstrip("\n").split("\t"):
                if "=" in field:
                    k, v = field.split("=", 1)
                    d[k] = v
            if d:
                rows.append(d)
    return rows


def num(v, default=0.0):
    try:
        return float(v)
    except (TypeError, ValueError):
        return default


def size_name(s):
    s = int(s)
    if s == 0:
        return "-"
    if s % (1 << 20) == 0:
        return "%d MiB" % (s >> 20)
    if s % 1024 == 0:
        return "%d KiB" % (s >> 10)
    return "%d B" % s


def fmt_rate(v):
    return "{:,.0f}".format(v)


def fmt_ratio(v):
    return "%.2f" % v if v < 10 else "%.1f" % v


def fmt_ms(us):
    return "%.2f" % (us / 1000.0)


def med(vals):
    return statistics.median(vals) if vals else float("nan")


def spread(vals, f):
    if not vals:
        return "n/a"
    if len(vals) == 1:
        return f(vals[0])
    return "%s (%s-%s)" % (f(med(vals)), f(min(vals)), f(max(vals)))


LABEL = {
    "hello": "hello world (libfcgi)",
    "redis": "Redis per request (libfcgi+hiredis)",
    "off": "sticky, checkpoints off",
    "async": "sticky, async delta checkpoints",
    "sync": "sticky, sync checkpoints",
}


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else "bench-results"
    raw = parse(os.path.join(out, "raw.tsv"))
    meta = (parse(os.path.join(out, "meta.tsv")) or [{}])[0]
    pinned = meta.get("pinned") == "1"
    tput = [r for r in raw if r.get("section") == "tput"]
    if not tput:
        print("report.py: no throughput results in %s/raw.tsv" % out,
              file=sys.stderr)
        return 1
    md = []
    summary = []
    targets = []

    def srow(table, kind, size, metric, vals):
        if vals:
            summary.append("\t".join([table, kind, str(size), metric,
                                      "%.4g" % med(vals), "%.4g" % min(vals),
                                      "%.4g" % max(vals), str(len(vals))]))

    md.append("## sticky benchmark: %s mode%s" % (
        meta.get("mode", "?"), ", pinned to CPU 0" if pinned else ""))
    md.append("")
    if meta.get("baselines") == "0":
        md.append("**Baselines skipped:** hello world (libfcgi) and Redis per "
                  "request (libfcgi+hiredis) are not built, as libfcgi-dev was "
                  "not found when configure ran; their rows and ratios are "
                  "missing (n/a). Install it and re-run configure to get them.")
        md.append("")
    md.append("Machine busy with other work: %s%% before the run, %s%% after "
              "(load average %s before); req/s and p99 move with it, CPU per "
              "request much less." % (meta.get("busy_before", "?"),
                                      meta.get("busy_after", "?"),
                                      meta.get("loadavg_before", "?")))
    md.append("")
    md.append("%s, %s CPUs (%s), kernel %s; %s workers; %s rounds x %s s, "
              "%s users, %s connections in flight (closed loop, one "
              "FastCGI connection per request); total run %s s." % (
                  meta.get("date", "?"), meta.get("cpus", "?"),
                  meta.get("cpu", "?"), meta.get("kernel", "?"),
                  meta.get("workers", "?"), meta.get("rounds", "?"),
                  meta.get("seconds", "?"), meta.get("users", "?"),
                  meta.get("conc", "?"), meta.get("seconds_total", "?")))
    md.append("")
    if meta.get("pools") == "1":
        md.append("Users start with sessions created and written before the "
                  "first run (a pool of %s per configuration): every run "
                  "measures existing users." % meta.get("pool_users", "?"))
    else:
        md.append("fcgi-load without --cookies: every run starts fresh users, "
                  "so each run includes creating (and first writing in full) "
                  "its users' sessions.")
    md.append("")

    # ---- throughput ------------------------------------------------------
    sizes = sorted({int(r["size"]) for r in tput if r["kind"] != "hello"})
    rounds = sorted({int(r["round"]) for r in tput})
    by = {}
    for r in tput:
        by[(r["kind"], int(r["size"]), int(r["round"]))] = r

    def rps(kind, size, rnd):
        r = by.get((kind, size if kind != "hello" else 0, rnd))
        return num(r.get("rps")) if r else None

    md.append("### Throughput")
    md.append("")
    hdr = ("| configuration | state | req/s median (min-max) | p99 ms | "
           "server CPU us/req (workers+Redis) | errors |")
    sep = "|---|---|---|---|---|---|"
    if pinned:
        hdr += " CPU us/req (all on CPU 0) |"
        sep += "---|"
    md += [hdr, sep]
    rows = [("hello", 0)] + [(k, s) for s in sizes
                             for k in ("redis", "off", "async", "sync")]
    CPU = {}
    for kind, size in rows:
        rs = [r for r in tput if r["kind"] == kind and int(r["size"]) == size]
        if not rs:
            continue
        v = [num(r.get("rps")) for r in rs]
        p99 = [num(r.get("p99_us")) for r in rs]
        errs = sum(int(num(r.get("errors"))) for r in rs)
        lost = sum(int(num(r.get("lost"))) for r in rs)
        e = str(errs) + (" (lost %d)" % lost if lost else "")
        cw = [num(r.get("cpu_workers_us")) / num(r.get("ok"), 1) for r in rs
              if num(r.get("ok")) > 0]
        cr = [num(r.get("cpu_redis_us")) / num(r.get("ok"), 1) for r in rs
              if num(r.get("ok")) > 0]
        cpu = "%.1f" % med(cw) if kind in ("hello", "off") else \
            "%.1f+%.1f" % (med(cw), med(cr))
        line = "| %s | %s | %s | %s | %s | %s |" % (
            LABEL[kind], size_name(size), spread(v, fmt_rate),
            fmt_ms(med(p99)), cpu, e)
        CPU[(kind, size)] = med([a + b for a, b in zip(cw, cr)])
        if pinned:
            line += " %.1f |" % (1e6 / med(v) if med(v) > 0 else 0)
        md.append(line)
        srow("tput", kind, size, "rps", v)
        srow("tput", kind, size, "p99_us", p99)
        srow("tput", kind, size, "errors", [errs])
    md.append("")
    md.append("Server CPU: the workers' and Redis's user+system time during the "
              "run (/proc/PID/stat) per answered request; the client and other "
              "load on the machine are not in it.")
    md.append("")

    def ratio(a, b, size):
        vals = []
        for rnd in rounds:
            x, y = rps(a[0], a[1], rnd), rps(b[0], b[1], rnd)
            if x is not None and y:
                vals.append(x / y)
        return vals

    md.append("Ratios of req/s, computed inside each round, median (min-max):")
    md.append("")
    md.append("| state | async / hello | off / hello | async / Redis per "
              "request | sync / Redis per request | async / off | sync / async |")
    md.append("|---|---|---|---|---|---|---|")
    R = {}
    for s in sizes:
        cols = [
            ("async_hello", ("async", s), ("hello", 0)),
            ("off_hello", ("off", s), ("hello", 0)),
            ("async_redis", ("async", s), ("redis", s)),
            ("sync_redis", ("sync", s), ("redis", s)),
            ("async_off", ("async", s), ("off", s)),
            ("sync_async", ("sync", s), ("async", s)),
        ]
        cells = []
        for key, a, b in cols:
            vals = ratio(a, b, s)
            R[(key, s)] = vals
            srow("ratio", key, s, "ratio", vals)
            cells.append(spread(vals, fmt_ratio))
        md.append("| %s | %s |" % (size_name(s), " | ".join(cells)))
    md.append("")
    md.append("The same by server CPU per request (hello or Redis per request "
              "CPU / sticky async CPU, medians):")
    md.append("")
    md.append("| state | hello / async | Redis per request / async | async / off | sync / async |")
    md.append("|---|---|---|---|---|")
    for s in sizes:
        def q(a, b):
            x, y = CPU.get(a), CPU.get(b)
            return fmt_ratio(x / y) if x and y else "n/a"
        md.append("| %s | %s | %s | %s | %s |" % (
            size_name(s), q(("hello", 0), ("async", s)), q(("redis", s), ("async", s)),
            q(("async", s), ("off", s)), q(("sync", s), ("async", s))))
    md.append("")

    for s in sizes:
        v = R.get(("async_hello", s))
        if v:
            targets.append(("sticky async >= 0.9x hello world at %s" %
                            size_name(s), med(v) >= 0.9,
                            "%s x" % fmt_ratio(med(v))))
    for s, goal in ((65536, 5), (1 << 20, 30)):
        v = R.get(("async_redis", s))
        if v:
            targets.append(("sticky async / Redis per request >= %dx at %s" %
                            (goal, size_name(s)), med(v) >= goal,
                            "%s x" % fmt_ratio(med(v))))

    # ---- fixed rate --------------------------------------------------------
    rate = [r for r in raw if r.get("section") == "rate"]
    if rate:
        rr = rate[0]
        md.append("### Fixed rate: %s req/s open loop, %s, %s users" % (
            rr.get("rate"), size_name(rr.get("size", 0)), rr.get("users", "?")))
        md.append("")
        md.append("Latency counts from each request's due time (no "
                  "coordinated omission).")
        md.append("")
        md.append("| configuration | achieved req/s | p50 ms | p99 ms median "
                  "(min-max) | max ms | errors |")
        md.append("|---|---|---|---|---|---|")
        for kind in ("off", "async", "sync"):
            rs = [r for r in rate if r["kind"] == kind]
            if not rs:
                continue
            p99 = [num(r.get("p99_us")) for r in rs]
            md.append("| %s | %s | %s | %s | %s | %d |" % (
                LABEL[kind], fmt_rate(med([num(r.get("rps")) for r in rs])),
                fmt_ms(med([num(r.get("p50_us")) for r in rs])),
                spread(p99, fmt_ms),
                fmt_ms(max(num(r.get("max_us")) for r in rs)),
                sum(int(num(r.get("errors"))) for r in rs)))
            srow("rate", kind, rr.get("size"), "p99_us", p99)
        per = {}
        for r in rate:
            per.setdefault(r["round"], {})[r["kind"]] = num(r.get("p99_us"))
        vals = [d["async"] / d["off"] for d in per.values()
                if d.get("off") and "async" in d]
        md.append("")
        md.append("p99 async / p99 off, per round: %s" % spread(vals, fmt_ratio))
        md.append("")
        srow("rate", "async_off", rr.get("size"), "p99_ratio", vals)
        if vals and int(rr.get("size", 0)) == 65536:
            targets.append(("%s req/s, 64 KiB: p99 async <= 1.5x p99 off" %
                            rr.get("rate"), med(vals) <= 1.5,
                            "%s x" % fmt_ratio(med(vals))))

    # ---- end to end ----------------------------------------------------------
    e2e = [r for r in raw if r.get("section") == "e2e"]
    if e2e:
        s = int(next(r["size"] for r in e2e if r["kind"] != "hello"))
        md.append("### End to end: nginx (generated recipe) + wrk, %s, "
                  "cookies from a pool of %s pre-created sessions" % (
                      size_name(s), max(int(num(r.get("pool"))) for r in e2e)))
        md.append("")
        md.append("| configuration | req/s median (min-max) | p99 ms | errors |")
        md.append("|---|---|---|---|")
        ebys = {}
        for r in e2e:
            ebys[(r["kind"], r["round"])] = num(r.get("rps"))
        for kind in ("hello", "redis", "off", "async", "sync"):
            rs = [r for r in e2e if r["kind"] == kind]
            if not rs:
                continue
            v = [num(r.get("rps")) for r in rs]
            md.append("| %s | %s | %s | %d |" % (
                LABEL[kind], spread(v, fmt_rate),
                fmt_ms(med([num(r.get("p99_us")) for r in rs])),
                sum(int(num(r.get("errors"))) for r in rs)))
            srow("e2e", kind, s, "rps", v)
        rnds = sorted({r["round"] for r in e2e})
        parts = []
        for a, b in (("async", "hello"), ("async", "redis"), ("async", "off"),
                     ("sync", "async")):
            vals = [ebys[(a, x)] / ebys[(b, x)] for x in rnds
                    if (a, x) in ebys and ebys.get((b, x))]
            if vals:
                parts.append("%s / %s %s" % (a, b, spread(vals, fmt_ratio)))
                srow("e2e_ratio", a + "_" + b, s, "ratio", vals)
        md.append("")
        md.append("Ratios per round: " + "; ".join(parts) + ".")
        md.append("")

    # ---- restore -------------------------------------------------------------
    rest = [r for r in raw if r.get("section") == "restore"]
    if rest:
        md.append("### Restore after SIGKILL (async checkpoints)")
        md.append("")
        md.append("Sessions created on w0 and written, w0 SIGKILLed, then one "
                  "request per user on the respawned w0: each is that user's "
                  "first answer (restore from Redis included).")
        md.append("")
        md.append("| state | sessions | first answer p50 / p99 / max ms | "
                  "restore avg ms (status page) | restores | not found | "
                  "all users ms | errors |")
        md.append("|---|---|---|---|---|---|---|---|")
        for r in rest:
            md.append("| %s | %s | %s / %s / %s | %s | %s | %s | %s | %s |" % (
                size_name(r.get("size", 0)), r.get("n", "?"),
                fmt_ms(num(r.get("p50_us"))), fmt_ms(num(r.get("p99_us"))),
                fmt_ms(num(r.get("max_us"))),
                fmt_ms(num(r.get("restore_avg_us"))), r.get("restore_hits", "?"),
                r.get("restore_misses", "?"),
                fmt_ms(num(r.get("total_us"))), r.get("errors", "?")))
            srow("restore", "async", r.get("size"), "p99_us", [num(r.get("p99_us"))])
            srow("restore", "async", r.get("size"), "restore_avg_us",
                 [num(r.get("restore_avg_us"))])
        md.append("")

    # ---- respawn -------------------------------------------------------------
    resp = [r for r in raw if r.get("section") == "respawn"]
    if resp:
        resp_us = [num(r.get("respawn_us")) for r in resp
                   if num(r.get("respawn_us"), -1) >= 0]
        resp_err = sum(int(num(r.get("errors"))) for r in resp)
        failed = len(resp) - len(resp_us)
        md.append("### Respawn: SIGKILL to the first answer on that worker's socket")
        md.append("")
        md.append("A request loop on the killed worker's socket; the master holds "
                  "the socket, so requests wait in its backlog meanwhile.  The "
                  "kernel frees the dead worker's memory before the master hears "
                  "of the death, so the time grows with the worker's RSS.")
        md.append("")
        md.append("| worker killed | kills | RSS at kill MiB | median ms | min-max ms "
                  "| client errors |")
        md.append("|---|---|---|---|---|---|")
        rss = [num(r.get("rss_kb")) / 1024 for r in resp]
        md.append("| w1, async, %s | %d | %.0f-%.0f | %s | %s-%s | %d%s |" % (
            size_name(resp[0].get("size", 0)), len(resp), min(rss), max(rss),
            fmt_ms(med(resp_us)) if resp_us else "n/a",
            fmt_ms(min(resp_us)) if resp_us else "-",
            fmt_ms(max(resp_us)) if resp_us else "-", resp_err,
            (", %d no answer within 2 s" % failed) if failed else ""))
        for r in rest:
            md.append("| w0 before the restore test, %s | 1 | %.0f | %s | - | %s |" % (
                size_name(r.get("size", 0)), num(r.get("rss_kb")) / 1024,
                fmt_ms(num(r.get("respawn_us"))), r.get("respawn_errors", "?")))
        md.append("")
        srow("respawn", "async", resp[0].get("size", 0), "respawn_us", resp_us)
        targets.append(("SIGKILL to first answer < 5 ms, 0 client errors "
                        "(w1 row, every kill)",
                        bool(resp_us) and max(resp_us) < 5000 and resp_err == 0
                        and failed == 0,
                        "median %s, max %s ms, %d errors" % (
                            fmt_ms(med(resp_us)) if resp_us else "n/a",
                            fmt_ms(max(resp_us)) if resp_us else "n/a", resp_err)))

    # ---- memory --------------------------------------------------------------
    mem = [r for r in raw if r.get("section") == "memory"]
    if mem:
        md.append("### Memory per session: one worker's RSS growth, 1 KiB state")
        md.append("")
        md.append("| checkpoints | sessions | RSS before -> after MiB | per session "
                  "bytes | per 10k sessions MiB | errors |")
        md.append("|---|---|---|---|---|---|")
        for r in mem:
            n = int(num(r.get("sessions")))
            d = (num(r.get("rss1_kb")) - num(r.get("rss0_kb"))) * 1024
            per = d / n if n else 0
            md.append("| %s | %d | %.1f -> %.1f | %.0f | %.1f | %s |" % (
                r.get("kind"), n, num(r.get("rss0_kb")) / 1024,
                num(r.get("rss1_kb")) / 1024, per, per * 10000 / (1 << 20),
                r.get("errors", "?")))
            srow("memory", r.get("kind"), 1024, "bytes_per_session", [per])
        md.append("")

    # ---- targets -------------------------------------------------------------
    if targets:
        md.append("### Targets")
        md.append("")
        md.append("| target | measured | met |")
        md.append("|---|---|---|")
        for name, okay, val in targets:
            md.append("| %s | %s | %s |" % (name, val, "yes" if okay else "**no**"))
        md.append("")
        for name, okay, val in targets:
            summary.append("\t".join(["target", name, "", "met" if okay else
                                      "not_met", val, "", "", ""]))

    text = "\n".join(md) + "\n"
    with open(os.path.join(out, "bench.md"), "w") as f:
        f.write(text)
    with open(os.path.join(out, "summary.tsv"), "w") as f:
        f.write("table\tconfig\tsize\tmetric\tmedian\tmin\tmax\tn\n")
        f.write("\n".join(summary) + "\n")
    sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
