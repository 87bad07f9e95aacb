"""t_wsgi_cow.sh: a large module-level data set, loaded at import (in the
master, before fork).  BIGDATA_MB megabytes of numpy data plus a dict of
Python objects; workers only read them."""
import os

import numpy as np

MB = int(os.environ.get("BIGDATA_MB", "64"))
TABLE = np.arange(MB * 1024 * 1024 // 8, dtype=np.int64)
NAMES = {i: "name-%d" % i for i in range(100000)}


def application(environ, start_response):
    i = int(environ.get("QUERY_STRING") or 0)
    body = ("value=%d name=%s pid=%d\n" % (TABLE[i % len(TABLE)],
            NAMES[i % len(NAMES)], os.getpid())).encode()
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [body]
