"""Benchmark app: the same per-user state, the way it is written without
sticky (here under uWSGI): the session cookie names a Redis key; every
request loads the pickled state from Redis, nudges it and stores it back.
Answers count=N like state_sticky.py."""
import os
import pickle
import secrets

import numpy as np
import redis

SIZE = int(os.environ.get("BENCH_STATE_BYTES", "65536"))
R = None  # one connection per process, opened after fork


def conn():
    global R
    if R is None:
        R = redis.Redis(unix_socket_path=os.environ["BENCH_REDIS_SOCK"])
    return R


def sid_of(environ):
    for part in environ.get("HTTP_COOKIE", "").split(";"):
        k, _, v = part.strip().partition("=")
        if k == "STICKYSID" and v:
            return v
    return None


def application(environ, start_response):
    r = conn()
    sid = sid_of(environ)
    headers = [("Content-Type", "text/plain")]
    blob = r.get("py:" + sid) if sid else None
    if blob is None:
        sid = secrets.token_urlsafe(16)
        headers.append(("Set-Cookie", "STICKYSID=%s; Path=/; HttpOnly" % sid))
        user = {"n": 0, "model": np.zeros(SIZE // 8)}
    else:
        user = pickle.loads(blob)
    n = user["n"] = user["n"] + 1
    at = (n * 64) % len(user["model"])
    user["model"][at:at + 64] += 1.0
    r.set("py:" + sid, pickle.dumps(user, protocol=5))
    body = b"count=%d\n" % n
    headers.append(("Content-Length", str(len(body))))
    start_response("200 OK", headers)
    return [body]
