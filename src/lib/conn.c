/*
 * conn.c: one FastCGI connection.  Reads never block and never wait for a
 * whole request: the worker polls many connections and only a complete,
 * checked request reaches the handler, so a client that stalls halfway
 * delays nobody but itself.
 */
#include <errno.h>
#include <unistd.h>

#include "conn.h"

int
conn_new(struct conn **out, int fd, const struct fcgi_limits *lim)
{
	struct conn *c;

	if ((c = xcalloc(1, sizeof(*c))) == NULL)
		return STICKY_ENOMEM;
	c->fd = fd;
	c->state = CONN_READING;
	fcgi_parser_init(&c->parser, lim);
	buf_init(&c->in);
	buf_init(&c->out);
	*out = c;
	return 0;
}

void
conn_free(struct conn *c)
{
	if (c == NULL)
		return;
	if (c->fd != -1)
		close(c->fd);
	fcgi_parser_cleanup(&c->parser);
	buf_cleanup(&c->in);
	buf_cleanup(&c->out);
	xfree(c);
}

int
conn_read(struct conn *c, unsigned char *scratch, size_t len)
{
	ssize_t n;

	/*
	 * One read buffer per worker: a connection's own buffer grows only by
	 * the bytes that arrived (a 64 KiB buffer per connection cost a brk
	 * and page faults per request).
	 */
	n = read(c->fd, scratch, len);
	if (n > 0) {
		if (buf_append(&c->in, scratch, (size_t)n) != 0)
			return STICKY_ENOMEM;
		c->started = 1;
		return 0;
	}
	if (n == 0) {
		c->peer_closed = 1;
		return 0;
	}
	if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
		return 0;
	return STICKY_ESYS;
}

int
conn_parse(struct conn *c, struct fcgi_request *req)
{
	size_t used = 0;
	int rc;

	if (c->in.len == 0)
		return FCGI_NEED_MORE;
	rc = fcgi_parser_feed(&c->parser, c->in.data, c->in.len, &used, &c->out);
	buf_consume(&c->in, used);
	if (rc == FCGI_REQUEST_READY) {
		fcgi_parser_take(&c->parser, req);
		c->keep_conn = req->keep_conn;
	}
	return rc;
}

int
conn_respond(struct conn *c, uint16_t id, const void *cgi, size_t len)
{
	size_t start = c->out.len;

	if (fcgi_write_stream(&c->out, FCGI_STDOUT, id, cgi, len) != 0 ||
	    fcgi_write_end(&c->out, id, 0, FCGI_REQUEST_COMPLETE) != 0) {
		c->out.len = start; /* nothing half-queued */
		if (c->out.data != NULL)
			c->out.data[start] = '\0';
		return STICKY_ENOMEM;
	}
	return 0;
}

int
conn_flush(struct conn *c)
{
	ssize_t n;

	while (c->out.len > 0) {
		n = write(c->fd, c->out.data, c->out.len);
		if (n > 0) {
			buf_consume(&c->out, (size_t)n);
			continue;
		}
		if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return 1;
		if (n == -1 && errno == EINTR)
			continue;
		return STICKY_ESYS;
	}
	return 0;
}
