/*
 * fcgi_client.h: the one FastCGI test client every test, tool and benchmark
 * uses.  It speaks through src/lib/fcgi.c (the writers and the response
 * parser), so the client and the worker share one codec and tests exercise
 * it from both ends.
 *
 * Loopback only: addresses are "unix:/path", "127.x.y.z:port",
 * "localhost:port" or "[::1]:port"; anything else is refused with
 * STICKY_EINVAL.  The tools are meant for our own workers on this machine
 * and must never become a load generator pointed elsewhere.
 *
 * Every call is bounded by a timeout and uses non-blocking sockets with
 * poll(2).  Functions return 0 or a negative STICKY_E* code:
 *   STICKY_EINVAL     bad or non-loopback address, bad request
 *   STICKY_ESYS       a system call failed; errno is kept (ECONNREFUSED,
 *                     ENOENT for a missing socket, ECONNRESET, ...)
 *   STICKY_ETIMEDOUT  the overall deadline passed
 *   STICKY_EPROTO     malformed response, or closed before END_REQUEST
 *   STICKY_ETOOBIG    a response stream over FCGI_MAX_RESPONSE
 *   STICKY_ENOMEM
 * and put a one-line reason into the caller's err buffer.
 */
#ifndef STICKY_FCGI_CLIENT_H
#define STICKY_FCGI_CLIENT_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "fcgi.h"

#define FCGI_CLIENT_TIMEOUT_MS 10000 /* used when a timeout is <= 0 */

struct fcgi_client_addr {
	struct sockaddr_storage ss;
	socklen_t len;
	int port;       /* TCP port, 0 for unix sockets (SERVER_PORT) */
	char text[128]; /* as given, for messages */
};

/* Parse and check (loopback only) an address; reason in err. */
int fcgi_client_addr_parse(const char *spec, struct fcgi_client_addr *a,
    char *err, size_t errlen);
/*
 * A non-blocking, close-on-exec socket with connect(2) started: poll it for
 * POLLOUT, then read SO_ERROR.  Returns the fd, or -1 with errno set
 * (EAGAIN: a unix socket's backlog is full, try again).
 */
int fcgi_client_connect_start(const struct fcgi_client_addr *a);

/* One request, as a front-end (nginx's fastcgi_params) would send it. */
struct fcgi_client_req {
	const char *method;       /* NULL: GET, or POST when there is a body */
	const char *uri;          /* "/path?query"; required */
	const char *cookie;       /* HTTP_COOKIE, or NULL */
	const char *host;         /* HTTP_HOST and SERVER_NAME; NULL: localhost */
	const void *body;         /* STDIN */
	size_t bodylen;
	const char *content_type; /* NULL: form-urlencoded when there is a body */
	/* NULL-terminated "NAME=VALUE" strings, e.g. "REQUEST_ID=42"; one
	 * named like a standard param replaces it.  May be NULL. */
	const char *const *extra;
	int keep_conn;            /* set FCGI_KEEP_CONN */
	int stall_ms;             /* tests: send half the request, stall this
	                             long, then send the rest (a slow client) */
	uint16_t id;              /* request id; 0 means 1 */
};

/*
 * Append the whole request (BEGIN_REQUEST, PARAMS, STDIN) to out.  The
 * params: REQUEST_METHOD, REQUEST_URI, SCRIPT_NAME, DOCUMENT_URI,
 * QUERY_STRING, SERVER_PROTOCOL, GATEWAY_INTERFACE, REMOTE_ADDR,
 * SERVER_ADDR, SERVER_NAME, SERVER_PORT (from a, which may be
 * NULL), CONTENT_LENGTH, CONTENT_TYPE, HTTP_HOST, HTTP_COOKIE (when set),
 * then the extras.  STICKY_EINVAL without a uri or for an extra without '='.
 */
int fcgi_client_build(struct sticky_buf *out, const struct fcgi_client_req *rq,
    const struct fcgi_client_addr *a);

/* A connection that may be kept open across requests. */
struct fcgi_client {
	struct fcgi_client_addr addr;
	int fd;        /* -1 while not connected */
	char err[256]; /* reason of the last failure */
};

/* Parse the address; does not connect yet. */
int fcgi_client_init(struct fcgi_client *c, const char *addr);
/*
 * Send one request and read its response into out (initialized here;
 * always release it with fcgi_response_cleanup(), also after a failure).
 * Connects first if needed.  Keeps the connection when rq->keep_conn,
 * closes it otherwise and after any failure.  Success means END_REQUEST
 * arrived; check out->proto_status and fcgi_response_status() yourself.
 */
int fcgi_client_do(struct fcgi_client *c, const struct fcgi_client_req *rq,
    int timeout_ms, struct fcgi_response *out);
void fcgi_client_close(struct fcgi_client *c);

/* One request on its own connection: init + do + close. */
int fcgi_client_request(const char *addr, const struct fcgi_client_req *rq,
    int timeout_ms, struct fcgi_response *out, char *err, size_t errlen);

#define FCGI_RAW_SHUT_WR 1 /* half-close after sending: the peer sees EOF */
/*
 * For hostile tests: send arbitrary bytes, then collect whatever comes
 * back into reply (appended) until the peer closes or the timeout.
 * *closed is 1 when the peer closed (EOF or reset), 0 when the time ran
 * out with the connection open.  Both are success; the peer closing while
 * we still send is not an error either.  Fails only on connect (or ENOMEM).
 */
int fcgi_client_raw(const char *addr, const void *data, size_t len,
    int timeout_ms, int flags, struct sticky_buf *reply, int *closed,
    char *err, size_t errlen);

/*
 * The value of cookie `name` set by the response's Set-Cookie headers (the
 * last one setting it wins, as in a browser; attributes dropped), copied
 * NUL-terminated into out.  STICKY_ENOENT when none sets it,
 * STICKY_ETOOBIG when it does not fit, STICKY_EPROTO for a bad header block.
 */
int fcgi_client_set_cookie(const struct fcgi_response *r, const char *name,
    char *out, size_t outlen);

#endif /* STICKY_FCGI_CLIENT_H */
