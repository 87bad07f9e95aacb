#!/usr/bin/env python3
"""load.py: HTTP users with per-user counters, for tests/cluster.

Each user is a thread with its own keep-alive connection to one front-end
(users alternate over the --url list), its own STICKYSID cookie, and
logical requests numbered 1, 2, ...: request k carries X-Request-Id
RUN-USER-k and is resent with the same id (after 20 ms) until it gets a
200, so a front-end or worker replaying it must not apply it twice.  The
counter app answers "count=N worker=TAG"; after the k-th acknowledged
request the count must be k.

Writes one line per response to --out:
    start_ms end_ms user k status count worker
(count and worker "-" when absent).  Bounded: stops starting requests
after --duration seconds; each request times out after --timeout.
"""
import argparse
import http.client
import re
import threading
import time
import urllib.parse

BODY = re.compile(rb"count=(\d+) worker=([A-Za-z0-9_-]+)")


def now_ms():
    return int(time.time() * 1000)


def user(i, url, a, lines, lock, deadline):
    u = urllib.parse.urlsplit(url)
    conn = None
    cookie = ""
    k = 1
    while time.time() < deadline:
        t0 = now_ms()
        status, count, worker = 0, "-", "-"
        try:
            if conn is None:
                conn = http.client.HTTPConnection(u.hostname, u.port,
                                                  timeout=a.timeout)
            hdr = {"X-Request-Id": "%s-%d-%d" % (a.run, i, k)}
            if cookie:
                hdr["Cookie"] = "STICKYSID=" + cookie
            conn.request("GET", u.path or "/", headers=hdr)
            r = conn.getresponse()
            body = r.read()
            status = r.status
            for h, v in r.getheaders():
                if h.lower() == "set-cookie" and v.startswith("STICKYSID="):
                    cookie = v[len("STICKYSID="):].split(";", 1)[0]
            m = BODY.search(body)
            if m:
                count, worker = m.group(1).decode(), m.group(2).decode()
            if r.getheader("Connection", "").lower() == "close":
                conn.close()
                conn = None
        except Exception:
            status = 0
            if conn is not None:
                conn.close()
            conn = None
        with lock:
            lines.append("%d %d %d %d %d %s %s\n" % (t0, now_ms(), i, k,
                                                     status, count, worker))
        if status == 200 and count != "-":
            k += 1
            time.sleep(a.think / 1000.0)
        else:
            time.sleep(0.02)
    if conn is not None:
        conn.close()


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--url", action="append", required=True)
    p.add_argument("--users", type=int, default=24)
    p.add_argument("--duration", type=float, default=10)
    p.add_argument("--timeout", type=float, default=3)
    p.add_argument("--think", type=float, default=10, help="ms between requests")
    p.add_argument("--run", default=str(now_ms()))
    p.add_argument("--out", required=True)
    a = p.parse_args()
    lines, lock = [], threading.Lock()
    deadline = time.time() + a.duration
    ts = [threading.Thread(target=user, args=(i, a.url[i % len(a.url)], a,
                                              lines, lock, deadline))
          for i in range(a.users)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    with open(a.out, "w") as f:
        f.writelines(lines)


if __name__ == "__main__":
    main()
