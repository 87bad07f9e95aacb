"""Test apps of t_wsgi_core.sh: PEP 3333 under wsgiref.validate, and the
sticky.session semantics.  Every app is wrapped in the standard library's
validator; its warnings are errors (a 500 the test sees)."""
import io
import json
import sys
import warnings
import wsgiref.validate

warnings.simplefilter("error", wsgiref.validate.WSGIWarning)

CLOSED = 0       # close() calls on our iterables, in this worker
UNPICKLES = 0    # Tracker objects unpickled in this worker
IMPORTED_IN = None


class Tracker:
    """A state that counts how often a worker unpickles it."""

    def __init__(self, n=0):
        self.n = n

    def __setstate__(self, d):
        global UNPICKLES
        UNPICKLES += 1
        self.__dict__.update(d)


class Body:
    """An iterable with close()."""

    def __init__(self, chunks):
        self.chunks = chunks

    def __iter__(self):
        return iter(self.chunks)

    def close(self):
        global CLOSED
        CLOSED += 1


def text(start_response, s, status="200 OK"):
    b = s.encode()
    start_response(status, [("Content-Type", "text/plain"),
                            ("Content-Length", str(len(b)))])
    return [b]


def app(environ, start_response):
    global CLOSED
    path = environ["PATH_INFO"]
    sess = environ["sticky.session"]
    if path == "/env":
        cgi = {k: v for k, v in environ.items() if "." not in k}
        wsgi = {k: type(v).__name__ for k, v in environ.items() if "." in k}
        return text(start_response, json.dumps({"cgi": cgi, "wsgi": wsgi,
                                                "version": list(environ["wsgi.version"])}))
    if path == "/echo":
        inp = environ["wsgi.input"]
        first = inp.readline()
        rest = inp.read(int(environ.get("CONTENT_LENGTH") or 0) - len(first))
        return text(start_response, "first=%r rest=%d" % (first, len(rest)))
    if path == "/write":
        write = start_response("200 OK", [("Content-Type", "text/plain")])
        write(b"written-")
        return Body([b"iterated-", b"", b"done"])
    if path == "/closed":
        return text(start_response, "closed=%d" % CLOSED)
    if path == "/file":
        wrapper = environ["wsgi.file_wrapper"]
        start_response("200 OK", [("Content-Type", "application/octet-stream")])
        return wrapper(io.BytesIO(b"x" * 20000), 4096)
    if path == "/excinfo":
        start_response("200 OK", [("Content-Type", "text/plain")])
        try:
            raise ValueError("before any body")
        except ValueError:
            start_response("503 Service Unavailable",
                           [("Content-Type", "text/plain")], sys.exc_info())
        return [b"replaced by exc_info"]
    if path == "/excinfo-late":
        def gen():
            yield b"some body"
            try:
                raise ValueError("after the body started")
            except ValueError:
                # Headers are "sent": start_response re-raises.
                start_response("500 Oops", [("Content-Type", "text/plain")],
                               sys.exc_info())
            yield b"never"
        start_response("200 OK", [("Content-Type", "text/plain")])
        return gen()
    if path == "/raise-in-iter":
        def gen():
            yield b"partial"
            raise KeyError("mid-body")
        start_response("200 OK", [("Content-Type", "text/plain")])
        return Body(gen())
    if path == "/errors":
        environ["wsgi.errors"].write("probe-error-line one\nprobe-error-")
        environ["wsgi.errors"].writelines(["line two\n"])
        environ["wsgi.errors"].flush()
        return text(start_response, "logged")
    if path == "/bad-state":
        sess.state = {"f": lambda: 1}
        return text(start_response, "should not be seen")
    if path == "/get":
        sess.unchanged()
        return text(start_response, "count=%s" % sess.state)
    if path == "/boom":
        sess.state = (sess.state or 0) + 1
        raise RuntimeError("boom at %d" % sess.state)
    if path == "/touch":
        sess.state
        return text(start_response, "touched")
    if path == "/set":
        sess.state = int(environ["QUERY_STRING"] or 0)
        return text(start_response, "count=%d" % sess.state)
    if path == "/blob":
        import numpy as np
        st = sess.state
        if st is None:
            st = sess.state = {"n": 0, "blob": np.zeros(256 * 1024, dtype=np.uint8)}
        st["n"] += 1
        st["blob"][(st["n"] * 4096) % len(st["blob"])] = st["n"] % 256
        return text(start_response, "count=%d blobsum=%d" % (st["n"], int(st["blob"].sum())))
    if path == "/tracked":
        st = sess.state
        if st is None:
            st = sess.state = Tracker()
        st.n += 1
        return text(start_response, "count=%d unpickles=%d" % (st.n, UNPICKLES))
    if path == "/unpickles":
        return text(start_response, "unpickles=%d" % UNPICKLES)
    if path == "/whoami":
        return text(start_response, "idlen=%s worker=%s rid=%s new=%s repr=%r" % (
            len(sess.id) if sess.id else None, sess.worker, sess.request_id,
            sess.is_new, sess))
    if path == "/module":
        import sticky
        return text(start_response, "version=%s unavailable=%s session=%s" % (
            sticky.__version__, issubclass(sticky.StateUnavailable, RuntimeError),
            isinstance(sess, sticky.Session)))
    if path == "/winit":
        return text(start_response, "winit=%s mount=%s" % (WORKER_INIT, environ["SCRIPT_NAME"]))
    if path == "/imported":
        return text(start_response, "imported_in=%s now=%s" % (IMPORTED_IN, __import__("os").getpid()))
    return text(start_response, "not found", "404 Not Found")


WORKER_INIT = None


def winit(tag):
    """--worker-init: runs in each worker after fork, with its tag."""
    global WORKER_INIT
    WORKER_INIT = "%s/%d" % (tag, __import__("os").getpid())


IMPORTED_IN = __import__("os").getpid()
application = wsgiref.validate.validator(app)
