"""t_wsgi_touch.sh: session.touch().  The state is {"n": count, "model":
a 1 MiB float64 vector, "tags": a list}; request n adds 1.0 to the 64
elements [64n, 64n + 64) mod the length.  The answer says whether the
model is exactly what n requests make of it (ok=1), so a checkpoint that
missed a change shows after a restore.

    /touch     change the slice, touch() exactly it
    /quiet     change the slice, touch() nothing (the whole state counts)
    /replace   change the slice of a copy that replaces the model, touch()
               the copy's slice (not in the image: written whole)
    /grow      change and touch the slice, and grow the list (the pickle
               stream changes length: written whole)
    /strided   also change every 4096th element from n % 8 and touch()
               that strided view (its extent spans the array)
    /lie       change the slice, touch() another page (breaks touch()'s
               promise: the change does not reach the checkpoint)
    /raise     as /lie, then raise: a request that raised is compared, its
               change reaches the checkpoint (500; the state stays)
    /alias     keep a view of the whole model next to it in the state (the
               two share memory: no image), then as /touch
    /check     read only (unchanged())
"""
import numpy as np

DIM = 1 << 17  # 1 MiB of float64
SPAN = 64


def new_user():
    return {"n": 0, "model": np.zeros(DIM), "tags": [], "strided": [0] * 8}


def expected(n, strided):
    m = np.zeros(DIM)
    for i in range(1, n + 1):
        at = (i * SPAN) % DIM
        m[at:at + SPAN] += 1.0
    for k in range(8):
        m[k::4096] += strided[k]
    return m


def application(environ, start_response):
    s = environ["sticky.session"]
    path = environ.get("PATH_INFO", "/")
    u = s.state
    if path == "/check":
        s.unchanged()
    else:
        u["n"] += 1
        n = u["n"]
        at = (n * SPAN) % DIM
        if path == "/replace":
            u["model"] = u["model"].copy()
        if path == "/alias":
            u["all"] = u["model"][:]
        u["model"][at:at + SPAN] += 1.0
        if path == "/strided":
            u["strided"][n % 8] += 1
            u["model"][n % 8::4096] += 1.0
            s.touch(u["model"][at:at + SPAN])
            s.touch(u["model"][n % 8::4096])
        elif path in ("/lie", "/raise"):
            away = (at + DIM // 2) % DIM
            s.touch(u["model"][away:away + SPAN])
        elif path != "/quiet":
            s.touch(u["model"][at:at + SPAN])
        if path == "/grow":
            u["tags"].append("x" * 50)
        if path == "/raise":
            raise RuntimeError("touchy: raised after a change touch() missed")
    want = expected(u["n"], u["strided"])
    ok = np.array_equal(u["model"], want) and (
        "all" not in u or np.array_equal(u["all"], want))
    body = b"count=%d ok=%d tags=%d\n" % (u["n"], ok, len(u["tags"]))
    start_response("200 OK", [("Content-Type", "text/plain"),
                              ("Content-Length", str(len(body)))])
    return [body]
