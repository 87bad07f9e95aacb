/*
 * fcgi_client.c: the FastCGI test client (see fcgi_client.h): loopback
 * address checks, request building on top of fcgi.c's writers, and
 * poll(2)-driven exchanges bounded by one overall deadline.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "fcgi_client.h"

#define MAX_PARAMS 64

static int client_fail(char *, size_t, int, const char *, ...)
    __attribute__((format(printf, 4, 5)));

/* Write a reason into err (may be NULL) and return code, errno intact. */
static int
client_fail(char *err, size_t errlen, int code, const char *fmt, ...)
{
	va_list ap;
	int saved = errno;

	if (err != NULL && errlen > 0) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	errno = saved;
	return code;
}

static int
parse_port(const char *s, int *port)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || v < 1 || v > 65535)
		return -1;
	*port = (int)v;
	return 0;
}

int
fcgi_client_addr_parse(const char *spec, struct fcgi_client_addr *a,
    char *err, size_t errlen)
{
	struct sockaddr_un *sun = (struct sockaddr_un *)&a->ss;
	struct sockaddr_in *sin = (struct sockaddr_in *)&a->ss;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&a->ss;
	char host[64];
	const char *colon;
	size_t hlen;

	memset(a, 0, sizeof(*a));
	snprintf(a->text, sizeof(a->text), "%s", spec);
	if (strncmp(spec, "unix:", 5) == 0) {
		if (spec[5] == '\0' || strlen(spec + 5) >= sizeof(sun->sun_path))
			return client_fail(err, errlen, STICKY_EINVAL,
			    "%s: bad unix socket path", spec);
		sun->sun_family = AF_UNIX;
		memcpy(sun->sun_path, spec + 5, strlen(spec + 5) + 1);
		a->len = sizeof(*sun);
		return 0;
	}
	if ((colon = strrchr(spec, ':')) == NULL ||
	    parse_port(colon + 1, &a->port) != 0)
		return client_fail(err, errlen, STICKY_EINVAL,
		    "%s: want unix:/path or 127.0.0.1:port", spec);
	hlen = (size_t)(colon - spec);
	if (hlen >= sizeof(host))
		return client_fail(err, errlen, STICKY_EINVAL, "%s: bad host",
		    spec);
	memcpy(host, spec, hlen);
	host[hlen] = '\0';
	if (strcmp(host, "localhost") == 0)
		snprintf(host, sizeof(host), "127.0.0.1");
	if (host[0] == '[' && hlen > 2 && host[hlen - 1] == ']') {
		host[hlen - 1] = '\0';
		if (inet_pton(AF_INET6, host + 1, &sin6->sin6_addr) != 1 ||
		    !IN6_IS_ADDR_LOOPBACK(&sin6->sin6_addr))
			goto notloop;
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons((uint16_t)a->port);
		a->len = sizeof(*sin6);
		return 0;
	}
	if (inet_pton(AF_INET, host, &sin->sin_addr) != 1 ||
	    (ntohl(sin->sin_addr.s_addr) >> 24) != 127)
		goto notloop;
	sin->sin_family = AF_INET;
	sin->sin_port = htons((uint16_t)a->port);
	a->len = sizeof(*sin);
	return 0;
notloop:
	memset(&a->ss, 0, sizeof(a->ss));
	return client_fail(err, errlen, STICKY_EINVAL,
	    "%s: only loopback addresses (127.0.0.0/8, [::1], localhost, "
	    "unix:) are allowed", spec);
}

int
fcgi_client_connect_start(const struct fcgi_client_addr *a)
{
	int fd, saved;

	fd = socket(a->ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
	    0);
	if (fd == -1)
		return -1;
	if (connect(fd, (const struct sockaddr *)&a->ss, a->len) == 0 ||
	    errno == EINPROGRESS)
		return fd;
	saved = errno;
	close(fd);
	errno = saved;
	return -1;
}

/* ---- building requests ---- */

static void
set_param(struct fcgi_param *pv, size_t *n, const char *name, size_t nlen,
    const char *value)
{
	size_t i;

	for (i = 0; i < *n; i++)
		if (pv[i].nlen == nlen && memcmp(pv[i].name, name, nlen) == 0)
			break;
	if (i == *n)
		(*n)++;
	pv[i].name = name;
	pv[i].nlen = nlen;
	pv[i].value = value;
	pv[i].vlen = strlen(value);
}

int
fcgi_client_build(struct sticky_buf *out, const struct fcgi_client_req *rq,
    const struct fcgi_client_addr *a)
{
	struct fcgi_param pv[MAX_PARAMS];
	char path[2048], clen[32], port[16];
	const char *q, *method, *host, *eq;
	size_t n = 0, plen, i, start = out->len;
	uint16_t id = rq->id != 0 ? rq->id : 1;
	int rc;

	if (rq->uri == NULL || rq->uri[0] == '\0')
		return STICKY_EINVAL;
	q = strchr(rq->uri, '?');
	plen = q != NULL ? (size_t)(q - rq->uri) : strlen(rq->uri);
	if (plen >= sizeof(path))
		return STICKY_EINVAL;
	memcpy(path, rq->uri, plen);
	path[plen] = '\0';
	method = rq->method != NULL ? rq->method :
	    rq->bodylen > 0 ? "POST" : "GET";
	host = rq->host != NULL ? rq->host : "localhost";
	snprintf(clen, sizeof(clen), "%zu", rq->bodylen);
	snprintf(port, sizeof(port), "%d", a != NULL && a->port != 0 ?
	    a->port : 80);

#define STD(name, value) set_param(pv, &n, name, sizeof(name) - 1, value)
	STD("REQUEST_METHOD", method);
	STD("REQUEST_URI", rq->uri);
	STD("SCRIPT_NAME", path);
	STD("DOCUMENT_URI", path);
	STD("QUERY_STRING", q != NULL ? q + 1 : "");
	STD("SERVER_PROTOCOL", "HTTP/1.1");
	STD("GATEWAY_INTERFACE", "CGI/1.1");
	STD("REMOTE_ADDR", "127.0.0.1");
	STD("SERVER_ADDR", "127.0.0.1");
	STD("SERVER_NAME", host);
	STD("SERVER_PORT", port);
	STD("CONTENT_LENGTH", clen);
	STD("CONTENT_TYPE", rq->content_type != NULL ? rq->content_type :
	    rq->bodylen > 0 ? "application/x-www-form-urlencoded" : "");
	STD("HTTP_HOST", host);
	if (rq->cookie != NULL)
		STD("HTTP_COOKIE", rq->cookie);
#undef STD
	for (i = 0; rq->extra != NULL && rq->extra[i] != NULL; i++) {
		if ((eq = strchr(rq->extra[i], '=')) == NULL ||
		    eq == rq->extra[i] || n == MAX_PARAMS)
			return STICKY_EINVAL;
		set_param(pv, &n, rq->extra[i], (size_t)(eq - rq->extra[i]),
		    eq + 1);
	}
	if ((rc = fcgi_write_begin(out, id, FCGI_RESPONDER,
	    rq->keep_conn ? FCGI_KEEP_CONN : 0)) != 0 ||
	    (rc = fcgi_write_params(out, id, pv, n)) != 0 ||
	    (rc = fcgi_write_stdin(out, id, rq->body, rq->bodylen)) != 0) {
		out->len = start;
		if (out->data != NULL)
			out->data[start] = '\0';
	}
	return rc;
}

/* ---- exchanges ---- */

static int
remaining_ms(int64_t deadline)
{
	int64_t left = deadline - now_ms();

	return left < 0 ? 0 : left > 1000000 ? 1000000 : (int)left;
}

static int64_t
deadline_after(int timeout_ms)
{
	return now_ms() + (timeout_ms > 0 ? timeout_ms : FCGI_CLIENT_TIMEOUT_MS);
}

/* Connect before the deadline; a full unix backlog is retried. */
static int
connect_deadline(const struct fcgi_client_addr *a, int64_t deadline, int *fdp,
    char *err, size_t errlen)
{
	struct pollfd pfd;
	socklen_t sl = sizeof(int);
	int fd, soerr = 0, n;

	while ((fd = fcgi_client_connect_start(a)) == -1) {
		if (errno != EAGAIN || remaining_ms(deadline) == 0)
			return client_fail(err, errlen,
			    errno == EAGAIN ? STICKY_ETIMEDOUT : STICKY_ESYS,
			    "connect %s: %s", a->text, strerror(errno));
		poll(NULL, 0, 1);
	}
	pfd.fd = fd;
	pfd.events = POLLOUT;
	while ((n = poll(&pfd, 1, remaining_ms(deadline))) == -1 &&
	    errno == EINTR)
		;
	if (n == 0) {
		close(fd);
		errno = ETIMEDOUT;
		return client_fail(err, errlen, STICKY_ETIMEDOUT,
		    "connect %s: timed out", a->text);
	}
	if (n == -1 || getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) == -1 ||
	    soerr != 0) {
		if (soerr != 0)
			errno = soerr;
		n = errno;
		close(fd);
		errno = n;
		return client_fail(err, errlen, STICKY_ESYS, "connect %s: %s",
		    a->text, strerror(errno));
	}
	*fdp = fd;
	return 0;
}

struct exchange {
	int fd;
	const unsigned char *out; /* borrowed: bytes to send */
	size_t outlen;
	int64_t deadline;
	int shut_wr;
	struct fcgi_response *resp; /* parse into this, or */
	struct sticky_buf *raw;     /* collect raw bytes into this */
	int closed;                 /* peer closed (EOF or reset) */
	int send_err;               /* errno of a failed send, 0 if none */
	int stall_ms;               /* pause after half the bytes (slow client) */
};

/*
 * Send everything while reading, so a peer that answers early and closes
 * (an error reply) is heard rather than hidden behind EPIPE.  Ends when
 * the response is complete, the peer closes, or the deadline passes.
 */
static int
exchange_run(struct exchange *x, char *err, size_t errlen)
{
	unsigned char rbuf[65536];
	struct pollfd pfd;
	size_t sent = 0, limit = x->stall_ms > 0 ? x->outlen / 2 : x->outlen;
	int64_t resume = 0;
	ssize_t k;
	int n, rc, wait;

	while (!(x->resp != NULL && x->resp->done)) {
		/* A slow client: after half the bytes, stall, then the rest. */
		if (sent == limit && limit < x->outlen) {
			if (resume == 0)
				resume = deadline_after(x->stall_ms);
			if (remaining_ms(resume) == 0)
				limit = x->outlen;
		}
		pfd.fd = x->fd;
		pfd.events = POLLIN;
		if (sent < limit && x->send_err == 0)
			pfd.events |= POLLOUT;
		wait = remaining_ms(x->deadline);
		if (sent == limit && limit < x->outlen &&
		    remaining_ms(resume) < wait)
			wait = remaining_ms(resume) + 1;
		n = poll(&pfd, 1, wait);
		if (n == 0 && sent == limit && limit < x->outlen &&
		    remaining_ms(x->deadline) > 0)
			continue;
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1)
			return client_fail(err, errlen, STICKY_ESYS, "poll: %s",
			    strerror(errno));
		if (n == 0) {
			errno = ETIMEDOUT;
			return client_fail(err, errlen, STICKY_ETIMEDOUT,
			    "timed out after sending %zu of %zu bytes and "
			    "receiving %zu", sent, x->outlen, x->resp != NULL ?
			    x->resp->out.len : x->raw->len);
		}
		if ((pfd.revents & POLLOUT) != 0) {
			k = send(x->fd, x->out + sent, limit - sent,
			    MSG_NOSIGNAL);
			if (k > 0) {
				sent += (size_t)k;
				if (sent == x->outlen && x->shut_wr)
					shutdown(x->fd, SHUT_WR);
			} else if (k == -1 && errno != EAGAIN && errno != EINTR)
				x->send_err = errno; /* keep reading */
		}
		if ((pfd.revents & (POLLIN | POLLHUP | POLLERR)) == 0)
			continue;
		k = recv(x->fd, rbuf, sizeof(rbuf), 0);
		if (k == -1 && (errno == EAGAIN || errno == EINTR))
			continue;
		if (k <= 0) {
			x->closed = 1;
			if (k == -1 && errno != ECONNRESET)
				return client_fail(err, errlen, STICKY_ESYS,
				    "recv: %s", strerror(errno));
			if (x->resp == NULL)
				return 0;
			errno = k == 0 ? EPIPE : ECONNRESET;
			return client_fail(err, errlen, STICKY_EPROTO,
			    "connection %s before END_REQUEST (sent %zu of "
			    "%zu bytes%s%s)", k == 0 ? "closed" : "reset", sent,
			    x->outlen, x->send_err != 0 ? ", send: " : "",
			    x->send_err != 0 ? strerror(x->send_err) : "");
		}
		if (x->raw != NULL) {
			if (buf_append(x->raw, rbuf, (size_t)k) != 0)
				return client_fail(err, errlen, STICKY_ENOMEM,
				    "out of memory");
			continue;
		}
		if ((rc = fcgi_response_feed(x->resp, rbuf, (size_t)k)) != 0)
			return client_fail(err, errlen, rc, "response: %s",
			    x->resp->why);
	}
	return 0;
}

int
fcgi_client_init(struct fcgi_client *c, const char *addr)
{
	c->fd = -1;
	c->err[0] = '\0';
	return fcgi_client_addr_parse(addr, &c->addr, c->err, sizeof(c->err));
}

void
fcgi_client_close(struct fcgi_client *c)
{
	if (c->fd != -1)
		close(c->fd);
	c->fd = -1;
}

int
fcgi_client_do(struct fcgi_client *c, const struct fcgi_client_req *rq,
    int timeout_ms, struct fcgi_response *out)
{
	struct exchange x;
	struct sticky_buf req;
	int rc;

	fcgi_response_init(out);
	buf_init(&req);
	memset(&x, 0, sizeof(x));
	x.deadline = deadline_after(timeout_ms);
	if ((rc = fcgi_client_build(&req, rq, &c->addr)) != 0) {
		client_fail(c->err, sizeof(c->err), rc, "cannot build the "
		    "request: %s", sticky_strerror(rc));
		goto out;
	}
	if (c->fd == -1 && (rc = connect_deadline(&c->addr, x.deadline, &c->fd,
	    c->err, sizeof(c->err))) != 0)
		goto out;
	x.fd = c->fd;
	x.out = req.data;
	x.outlen = req.len;
	x.resp = out;
	x.stall_ms = rq->stall_ms;
	rc = exchange_run(&x, c->err, sizeof(c->err));
out:
	if (rc != 0 || !rq->keep_conn)
		fcgi_client_close(c);
	buf_cleanup(&req);
	return rc;
}

int
fcgi_client_request(const char *addr, const struct fcgi_client_req *rq,
    int timeout_ms, struct fcgi_response *out, char *err, size_t errlen)
{
	struct fcgi_client c;
	struct fcgi_client_req one = *rq;
	int rc;

	one.keep_conn = 0;
	if ((rc = fcgi_client_init(&c, addr)) != 0) {
		fcgi_response_init(out);
		return client_fail(err, errlen, rc, "%s", c.err);
	}
	if ((rc = fcgi_client_do(&c, &one, timeout_ms, out)) != 0)
		client_fail(err, errlen, rc, "%s", c.err);
	fcgi_client_close(&c);
	return rc;
}

int
fcgi_client_raw(const char *addr, const void *data, size_t len,
    int timeout_ms, int flags, struct sticky_buf *reply, int *closed,
    char *err, size_t errlen)
{
	struct fcgi_client_addr a;
	struct exchange x;
	int rc;

	*closed = 0;
	if ((rc = fcgi_client_addr_parse(addr, &a, err, errlen)) != 0)
		return rc;
	memset(&x, 0, sizeof(x));
	x.deadline = deadline_after(timeout_ms);
	if ((rc = connect_deadline(&a, x.deadline, &x.fd, err, errlen)) != 0)
		return rc;
	x.out = data;
	x.outlen = len;
	x.shut_wr = (flags & FCGI_RAW_SHUT_WR) != 0;
	if (x.shut_wr && len == 0)
		shutdown(x.fd, SHUT_WR);
	x.raw = reply;
	rc = exchange_run(&x, err, errlen);
	close(x.fd);
	*closed = x.closed;
	/* The time running out with the connection open is an answer too. */
	return rc == STICKY_ETIMEDOUT ? 0 : rc;
}

int
fcgi_client_set_cookie(const struct fcgi_response *r, const char *name,
    char *out, size_t outlen)
{
	const char *hn, *v, *eq, *end, *vs = NULL;
	size_t pos = 0, hl, vl, want = strlen(name), nl, len = 0;
	int rc;

	while ((rc = fcgi_response_header_next(r, &pos, &hn, &hl, &v, &vl)) >
	    0) {
		if (hl != 10 || strncasecmp(hn, "Set-Cookie", 10) != 0)
			continue;
		end = memchr(v, ';', vl);
		if (end == NULL)
			end = v + vl;
		if ((eq = memchr(v, '=', (size_t)(end - v))) == NULL)
			continue;
		nl = (size_t)(eq - v);
		while (nl > 0 && (v[nl - 1] == ' ' || v[nl - 1] == '\t'))
			nl--;
		if (nl != want || memcmp(v, name, nl) != 0)
			continue;
		vs = eq + 1;
		while (vs < end && (*vs == ' ' || *vs == '\t'))
			vs++;
		len = (size_t)(end - vs);
		while (len > 0 && (vs[len - 1] == ' ' || vs[len - 1] == '\t'))
			len--;
	}
	if (rc < 0)
		return rc;
	if (vs == NULL)
		return STICKY_ENOENT;
	if (len >= outlen)
		return STICKY_ETOOBIG;
	memcpy(out, vs, len);
	out[len] = '\0';
	return 0;
}
