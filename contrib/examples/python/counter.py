"""A plain WSGI counter: each user's count lives in the worker that serves
them, and survives its crash (checkpoints).

    sticky-wsgi -w 2 -l 'unix:/run/sticky/%t.sock' -r unix:/run/redis/redis.sock \
        --pythonpath contrib/examples/python --app counter:application

GET /      count=N (N grows by one per request, per user)
GET /peek  count=N without changing it (session.unchanged())
GET /boom  changes the count, then raises: 500, and the change stays
GET /logout  forget the user
"""


def application(environ, start_response):
    session = environ["sticky.session"]
    path = environ["PATH_INFO"]
    if path == "/logout":
        session.destroy()
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"bye\n"]
    count = session.state or 0
    if path == "/peek":
        session.unchanged()
    else:
        count += 1
        session.state = count
    if path == "/boom":
        raise RuntimeError("boom after count=%d" % count)
    body = ("count=%d worker=%s\n" % (count, session.worker)).encode()
    start_response("200 OK", [("Content-Type", "text/plain"),
                              ("Content-Length", str(len(body)))])
    return [body]
