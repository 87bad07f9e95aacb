#!/usr/bin/env python3
"""make-corpus.py: writes the FastCGI record corpus of tests/data/fcgi.

Each <expect>-<case>.bin is the whole byte stream a client sends on one
connection, as a hostile (or merely unusual) front-end would send it:
  ok-*       every request in it completes; the worker answers them
  eproto-*   malformed: the worker closes the connection (STICKY_EPROTO)
  etoobig-*  over a limit: the worker answers 413/431 or closes
MANIFEST lists every file with a substring of the parser's reason (p->why)
that test_fcgi.c checks, so a file rejected for the wrong reason fails.

The etoobig files are sized for limits no larger than the FCGI_DEFAULT_*
of src/lib/fcgi.h: max_params 65536 bytes, max_nparams 1024, max_body
1048576 bytes.  A worker configured with larger limits accepts some of them.
The ok files stay far below any sane limits (params < 4 KiB, body < 64 KiB).

Run from anywhere: python3 tests/data/fcgi/make-corpus.py
"""
import os
import struct
import sys

BEGIN, ABORT, END, PARAMS, STDIN, STDOUT, STDERR, DATA = 1, 2, 3, 4, 5, 6, 7, 8
GET_VALUES, GET_VALUES_RESULT, UNKNOWN_TYPE = 9, 10, 11
MAX_PARAMS, MAX_NPARAMS, MAX_BODY = 65536, 1024, 1048576


def rec(rtype, rid, content=b"", pad=None, version=1, clen=None):
    """One record; clen overrides the declared content length."""
    if pad is None:
        pad = (-len(content)) % 8
    n = len(content) if clen is None else clen
    return (struct.pack(">BBHHBB", version, rtype, rid, n, pad, 0)
            + content + b"\0" * pad)


def enc_len(n):
    return bytes([n]) if n < 128 else struct.pack(">I", n | 0x80000000)


def pair(name, value):
    return enc_len(len(name)) + enc_len(len(value)) + name + value


def begin(rid=1, role=1, flags=0):
    return rec(BEGIN, rid, struct.pack(">HB5x", role, flags))


def stream(rtype, rid, data, chunk=65535, end=True):
    out = b""
    for i in range(0, len(data), chunk):
        out += rec(rtype, rid, data[i:i + chunk])
    return out + (rec(rtype, rid) if end else b"")


def cgi_params(method=b"GET", uri=b"/", body=b""):
    path, _, query = uri.partition(b"?")
    p = [(b"REQUEST_METHOD", method), (b"REQUEST_URI", uri),
         (b"SCRIPT_NAME", path), (b"DOCUMENT_URI", path),
         (b"QUERY_STRING", query), (b"SERVER_PROTOCOL", b"HTTP/1.1"),
         (b"GATEWAY_INTERFACE", b"CGI/1.1"), (b"REMOTE_ADDR", b"127.0.0.1"),
         (b"SERVER_NAME", b"localhost"), (b"SERVER_PORT", b"80"),
         (b"HTTP_HOST", b"localhost"),
         (b"CONTENT_LENGTH", str(len(body)).encode() if body else b"")]
    if body:
        p.append((b"CONTENT_TYPE", b"application/x-www-form-urlencoded"))
    return b"".join(pair(n, v) for n, v in p)


def request(rid=1, uri=b"/corpus", body=b"", flags=0, pchunk=65535,
            schunk=65535):
    method = b"POST" if body else b"GET"
    return (begin(rid, 1, flags)
            + stream(PARAMS, rid, cgi_params(method, uri, body), pchunk)
            + stream(STDIN, rid, body, schunk))


def head(rid=1):
    """BEGIN_REQUEST and the params stream, ended: STDIN comes next."""
    return begin(rid) + stream(PARAMS, rid, cgi_params())


CASES = []


def case(expect, name, why, data):
    CASES.append(("%s-%s.bin" % (expect, name), why, data))


def build():
    # ---- accepted ----
    case("ok", "get", "-", request())
    case("ok", "post-many-stdin-records", "-",
         request(body=bytes(range(256)) * 200, schunk=1000))
    case("ok", "params-4byte-lengths", "-",
         begin() + stream(PARAMS, 1, cgi_params()
                          + pair(b"HTTP_X_" + b"N" * 200, b"v" * 3000)
                          + pair(b"HTTP_X_SHORT", b"s" * 127)
                          + pair(b"HTTP_X_EDGE", b"e" * 128), 7)
         + rec(STDIN, 1))
    case("ok", "pairs-split-inside-lengths", "-",
         begin() + stream(PARAMS, 1, cgi_params()
                          + pair(b"HTTP_X_LONG", b"x" * 300), 1)
         + rec(STDIN, 1))
    case("ok", "odd-padding", "-",
         rec(BEGIN, 1, struct.pack(">HB5x", 1, 0), pad=255)
         + rec(PARAMS, 1, cgi_params(), pad=0) + rec(PARAMS, 1, pad=3)
         + rec(STDIN, 1, b"abc", pad=200) + rec(STDIN, 1, pad=1))
    case("ok", "no-params-empty-value", "-",
         begin(1) + rec(PARAMS, 1) + rec(STDIN, 1)
         + begin(2) + stream(PARAMS, 2, pair(b"EMPTY", b"")) + rec(STDIN, 2))
    case("ok", "keepconn-two-requests", "-",
         request(1, flags=1) + request(1, b"/second", flags=1)
         + request(2, b"/third"))
    case("ok", "get-values", "-",
         rec(GET_VALUES, 0, pair(b"FCGI_MAX_CONNS", b"")
             + pair(b"FCGI_MAX_REQS", b"") + pair(b"FCGI_MPXS_CONNS", b"")
             + pair(b"NO_SUCH_VALUE", b"")) + request())
    case("ok", "get-values-mid-request", "-",
         head() + rec(GET_VALUES, 0, pair(b"FCGI_MPXS_CONNS", b""))
         + rec(STDIN, 1))
    case("ok", "unknown-management-type", "-",
         rec(42, 0, b"whatever") + rec(0, 0) + rec(255, 0, b"x" * 100)
         + request())
    case("ok", "unknown-role", "-",
         begin(1, role=2) + stream(PARAMS, 1, cgi_params()) + rec(STDIN, 1)
         + begin(3, role=3) + request(2))
    case("ok", "cant-mpx", "-",
         begin(1) + begin(2) + stream(PARAMS, 2, cgi_params())
         + stream(PARAMS, 1, cgi_params()) + rec(STDIN, 2, b"ignored")
         + rec(STDIN, 2) + rec(STDIN, 1))
    case("ok", "abort-then-request", "-",
         begin(1) + rec(PARAMS, 1, cgi_params()[:20]) + rec(ABORT, 1)
         + request(2))
    case("ok", "data-ignored", "-",
         head() + rec(DATA, 1, b"filter data") + rec(DATA, 1) + rec(STDIN, 1))

    # ---- malformed ----
    case("eproto", "http-request", "version 71",
         b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")
    case("eproto", "version-0", "version 0", rec(BEGIN, 1,
         struct.pack(">HB5x", 1, 0), version=0) + rec(STDIN, 1))
    case("eproto", "version-2", "version 2", rec(BEGIN, 1,
         struct.pack(">HB5x", 1, 0), version=2) + rec(STDIN, 1))
    case("eproto", "version-2-mid-request", "version 2",
         begin() + rec(PARAMS, 1, cgi_params(), version=2))
    case("eproto", "begin-len-7", "BEGIN_REQUEST with 7",
         rec(BEGIN, 1, b"\0\1\0\0\0\0\0") + rec(PARAMS, 1) + rec(STDIN, 1))
    case("eproto", "begin-len-9", "BEGIN_REQUEST with 9",
         rec(BEGIN, 1, b"\0\1\0\0\0\0\0\0\0") + rec(PARAMS, 1)
         + rec(STDIN, 1))
    case("eproto", "begin-id-0", "BEGIN_REQUEST on request id 0",
         begin(0) + rec(PARAMS, 0) + rec(STDIN, 0))
    case("eproto", "begin-twice", "already in progress", begin(1) + begin(1))
    case("eproto", "params-without-begin", "not in progress",
         stream(PARAMS, 1, cgi_params()) + rec(STDIN, 1))
    case("eproto", "params-id-0", "PARAMS on request id 0",
         begin(1) + rec(PARAMS, 0, cgi_params()))
    case("eproto", "stdin-wrong-id", "STDIN for request 2",
         head(1) + rec(STDIN, 2))
    case("eproto", "data-id-0", "DATA on request id 0",
         head(1) + rec(DATA, 0, b"x"))
    case("eproto", "stdin-before-params-end", "STDIN before",
         begin() + rec(PARAMS, 1, cgi_params()) + rec(STDIN, 1, b"body")
         + rec(PARAMS, 1) + rec(STDIN, 1))
    case("eproto", "params-after-params-end", "PARAMS after",
         head() + rec(PARAMS, 1, pair(b"LATE", b"1")) + rec(PARAMS, 1)
         + rec(STDIN, 1))
    case("eproto", "truncated-pair", "truncated pair",
         begin() + rec(PARAMS, 1, cgi_params() + pair(b"NAME", b"value")[:7])
         + rec(PARAMS, 1) + rec(STDIN, 1))
    case("eproto", "truncated-4byte-length", "truncated pair",
         begin() + rec(PARAMS, 1, b"\x04\x80\x00") + rec(PARAMS, 1)
         + rec(STDIN, 1))
    case("eproto", "empty-name", "empty name",
         begin() + stream(PARAMS, 1, pair(b"", b"value")) + rec(STDIN, 1))
    case("eproto", "nul-in-name", "NUL byte in the name",
         begin() + stream(PARAMS, 1, pair(b"NA\0ME", b"value"))
         + rec(STDIN, 1))
    case("eproto", "nul-in-value", "NUL byte in the value",
         begin() + stream(PARAMS, 1, pair(b"NAME", b"val\0ue"))
         + rec(STDIN, 1))
    case("eproto", "unknown-type-on-request", "unknown record type 42",
         head() + rec(42, 1, b"x") + rec(STDIN, 1))
    case("eproto", "type-0-on-request", "unknown record type 0",
         begin() + rec(0, 1))
    for t, n in ((STDOUT, "stdout"), (STDERR, "stderr"),
                 (END, "end-request"), (GET_VALUES_RESULT, "get-values-result"),
                 (UNKNOWN_TYPE, "unknown-type")):
        rid = 0 if t in (GET_VALUES_RESULT, UNKNOWN_TYPE) else 1
        case("eproto", n + "-to-application", "sent to the application",
             head() + rec(t, rid, b"\0" * 8) + rec(STDIN, 1))
    case("eproto", "get-values-on-request", "GET_VALUES on request id 1",
         rec(GET_VALUES, 1, pair(b"FCGI_MAX_CONNS", b"")))
    case("eproto", "get-values-truncated", "GET_VALUES: truncated",
         rec(GET_VALUES, 0, b"\x0e"))
    case("eproto", "get-values-overrun", "runs past",
         rec(GET_VALUES, 0, b"\x7f\x00FCGI_MAX_CONNS"))
    case("eproto", "abort-unknown-id", "ABORT_REQUEST for request 7",
         head(1) + rec(ABORT, 7))
    case("eproto", "abort-with-content", "ABORT_REQUEST with 8",
         head(1) + rec(ABORT, 1, b"\0" * 8))
    case("eproto", "too-many-refused", "refused requests",
         begin(1) + b"".join(begin(i) for i in range(2, 12)))
    case("eproto", "garbage-after-request", "version 0",
         request() + b"\0" * 64)

    # ---- over a limit ----
    case("etoobig", "libfcgi-killer", "over max_params",
         begin() + rec(PARAMS, 1, b"\xff\xff\xff\xfe\xff\xff\xff\xfe" + b"A" * 24)
         + rec(PARAMS, 1) + rec(STDIN, 1))
    case("etoobig", "name-len-max", "over max_params",
         begin() + rec(PARAMS, 1, b"\xff\xff\xff\xff\x00" + b"A" * 64))
    case("etoobig", "value-just-over", "over max_params",
         begin() + rec(PARAMS, 1, pair(b"V", b"")[:1]
                       + enc_len(MAX_PARAMS) + b"V" + b"v" * 1000))
    case("etoobig", "too-many-params", "max_nparams",
         begin() + stream(PARAMS, 1, b"".join(
             pair(b"P%d" % i, b"") for i in range(MAX_NPARAMS + 1)))
         + rec(STDIN, 1))
    case("etoobig", "params-stream", "PARAMS: stream over max_params",
         begin() + stream(PARAMS, 1, b"".join(
             pair(b"HTTP_X_%03d" % i, b"v" * 100)
             for i in range(MAX_PARAMS // 100 + 8)), 8000)
         + rec(STDIN, 1))
    case("etoobig", "body", "body over max_body",
         head() + stream(STDIN, 1, b"\0" * (MAX_BODY + 65535)))


def main():
    out = os.path.dirname(os.path.abspath(__file__))
    build()
    for f in os.listdir(out):
        if f.endswith(".bin"):
            os.unlink(os.path.join(out, f))
    with open(os.path.join(out, "MANIFEST"), "w") as m:
        m.write("# generated by make-corpus.py: file, expected reason substring\n")
        for name, why, data in CASES:
            with open(os.path.join(out, name), "wb") as f:
                f.write(data)
            m.write("%s\t%s\n" % (name, why))
    print("%d files in %s" % (len(CASES), out), file=sys.stderr)


if __name__ == "__main__":
    main()
