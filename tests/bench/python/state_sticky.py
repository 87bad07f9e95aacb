"""Benchmark app: per-user state under sticky-wsgi.  The user's model (a
numpy vector of BENCH_STATE_BYTES bytes) lives in the worker; each request
nudges 512 bytes of it and says so with session.touch() (BENCH_TOUCH=0:
it does not, and each checkpoint compares the whole model with the last
one).  Answers count=N (fcgi-load --check-counter)."""
import os

import numpy as np

SIZE = int(os.environ.get("BENCH_STATE_BYTES", "65536"))
TOUCH = os.environ.get("BENCH_TOUCH", "1") == "1"


def new_user():
    return {"n": 0, "model": np.zeros(SIZE // 8)}


def application(environ, start_response):
    session = environ["sticky.session"]
    user = session.state
    n = user["n"] = user["n"] + 1
    at = (n * 64) % len(user["model"])
    user["model"][at:at + 64] += 1.0
    if TOUCH:
        session.touch(user["model"][at:at + 64])
    body = b"count=%d\n" % n
    start_response("200 OK", [("Content-Type", "text/plain"),
                              ("Content-Length", str(len(body)))])
    return [body]
