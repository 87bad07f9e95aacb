"""Benchmark app: hello world (the same file under uWSGI and sticky-wsgi)."""


def application(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain"),
                              ("Content-Length", "12")])
    return [b"hello world\n"]
