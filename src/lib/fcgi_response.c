/*
 * fcgi_response.c: the client side of FastCGI, for the test client, the
 * benchmark load generator and `stickyctl status`: parse the records a
 * worker answers with (STDOUT, STDERR, END_REQUEST), then the CGI header
 * block inside STDOUT.  Pure: bytes in, no sockets.  The record writers
 * the client needs live in fcgi.c with the server side, once.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "fcgi.h"

static int resp_fail(struct fcgi_response *, int, const char *, ...)
    __attribute__((format(printf, 3, 4)));

static int
resp_fail(struct fcgi_response *r, int err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(r->why, sizeof(r->why), fmt, ap);
	va_end(ap);
	r->error = err;
	return err;
}

void
fcgi_response_init(struct fcgi_response *r)
{
	memset(r, 0, sizeof(*r));
	buf_init(&r->out);
	buf_init(&r->err);
}

void
fcgi_response_cleanup(struct fcgi_response *r)
{
	buf_cleanup(&r->out);
	buf_cleanup(&r->err);
	fcgi_response_init(r);
}

static int
resp_record_begin(struct fcgi_response *r)
{
	unsigned id = r->fr.id;
	struct sticky_buf *s;

	if (r->fr.version != FCGI_VERSION_1)
		return resp_fail(r, STICKY_EPROTO, "record version %u, want 1",
		    r->fr.version);
	r->type = r->fr.type;
	r->clen = r->fr.clen;
	r->end_have = 0;
	if (id == 0)
		return resp_fail(r, STICKY_EPROTO,
		    "%s record on request id 0 in a response",
		    fcgi_type_name(r->type));
	if (r->id == 0)
		r->id = id;
	else if (id != r->id)
		return resp_fail(r, STICKY_EPROTO,
		    "record for request %u in the response to request %u", id,
		    r->id);
	switch (r->type) {
	case FCGI_STDOUT:
	case FCGI_STDERR:
		s = r->type == FCGI_STDOUT ? &r->out : &r->err;
		if (r->type == FCGI_STDOUT ? r->out_closed : r->err_closed)
			return resp_fail(r, STICKY_EPROTO,
			    "%s after the end of its stream",
			    fcgi_type_name(r->type));
		if (r->clen > FCGI_MAX_RESPONSE - s->len)
			return resp_fail(r, STICKY_ETOOBIG,
			    "%s over %lu bytes", fcgi_type_name(r->type),
			    FCGI_MAX_RESPONSE);
		return 0;
	case FCGI_END_REQUEST:
		if (r->clen != 8)
			return resp_fail(r, STICKY_EPROTO,
			    "END_REQUEST with %zu content bytes, want 8",
			    r->clen);
		return 0;
	default:
		return resp_fail(r, STICKY_EPROTO,
		    "unexpected %s record (type %u) in a response",
		    fcgi_type_name(r->type), r->type);
	}
}

static int
resp_record_end(struct fcgi_response *r)
{
	const unsigned char *e = r->end;

	switch (r->type) {
	case FCGI_STDOUT:
		if (r->clen == 0)
			r->out_closed = 1;
		return 0;
	case FCGI_STDERR:
		if (r->clen == 0)
			r->err_closed = 1;
		return 0;
	default: /* FCGI_END_REQUEST */
		if (e[4] > FCGI_UNKNOWN_ROLE)
			return resp_fail(r, STICKY_EPROTO,
			    "END_REQUEST with protocol status %u", e[4]);
		r->app_status = (uint32_t)e[0] << 24 | (uint32_t)e[1] << 16 |
		    (uint32_t)e[2] << 8 | e[3];
		r->proto_status = e[4];
		r->done = 1;
		return 0;
	}
}

int
fcgi_response_feed(struct fcgi_response *r, const void *data, size_t len)
{
	const unsigned char *chunk = NULL;
	size_t off = 0, n = 0;
	enum fcgi_frame_event ev;
	int rc;

	if (r->error != 0)
		return r->error;
	for (;;) {
		if (r->done && off < len)
			return resp_fail(r, STICKY_EPROTO,
			    "%zu bytes after END_REQUEST", len - off);
		ev = fcgi_frame_next(&r->fr, data, len, &off, &chunk, &n);
		if (ev == FCGI_FRAME_MORE)
			return 0;
		if (ev == FCGI_FRAME_HEADER) {
			if ((rc = resp_record_begin(r)) != 0)
				return rc;
		} else if (ev == FCGI_FRAME_CONTENT) {
			if (r->type == FCGI_END_REQUEST) {
				memcpy(r->end + r->end_have, chunk, n);
				r->end_have += n;
			} else if (buf_append(r->type == FCGI_STDOUT ? &r->out :
			    &r->err, chunk, n) != 0)
				return resp_fail(r, STICKY_ENOMEM,
				    "out of memory");
		} else if ((rc = resp_record_end(r)) != 0)
			return rc;
	}
}

/*
 * The next line of the header block at *pos: [*ls, *le) without its line
 * end.  Returns 1 for a header line, 0 for the blank line that ends the
 * block (*pos then points at the body), STICKY_EPROTO when no line end is
 * left, i.e. the block never ends.
 */
static int
header_line(const struct fcgi_response *r, size_t *pos, size_t *ls, size_t *le)
{
	const unsigned char *d = r->out.data, *nl;
	size_t start = *pos, end;

	if (d == NULL || start >= r->out.len ||
	    (nl = memchr(d + start, '\n', r->out.len - start)) == NULL)
		return STICKY_EPROTO;
	end = (size_t)(nl - d);
	*pos = end + 1;
	if (end > start && d[end - 1] == '\r')
		end--;
	*ls = start;
	*le = end;
	return end > start ? 1 : 0;
}

int
fcgi_response_header_next(const struct fcgi_response *r, size_t *pos,
    const char **name, size_t *nlen, const char **value, size_t *vlen)
{
	const char *d = (const char *)r->out.data;
	const char *colon;
	size_t ls, le, vs, ve;
	int rc;

	if ((rc = header_line(r, pos, &ls, &le)) <= 0)
		return rc;
	if ((colon = memchr(d + ls, ':', le - ls)) == NULL || colon == d + ls)
		return STICKY_EPROTO;
	vs = (size_t)(colon - d) + 1;
	ve = le;
	while (vs < ve && (d[vs] == ' ' || d[vs] == '\t'))
		vs++;
	while (ve > vs && (d[ve - 1] == ' ' || d[ve - 1] == '\t'))
		ve--;
	*name = d + ls;
	*nlen = (size_t)(colon - (d + ls));
	*value = d + vs;
	*vlen = ve - vs;
	return 1;
}

/* Position of the body, after walking and checking every header line. */
static int
response_body_pos(const struct fcgi_response *r, size_t *body)
{
	const char *n, *v;
	size_t pos = 0, nl, vl;
	int rc;

	while ((rc = fcgi_response_header_next(r, &pos, &n, &nl, &v, &vl)) > 0)
		;
	if (rc < 0)
		return rc;
	*body = pos;
	return 0;
}

int
fcgi_response_status(const struct fcgi_response *r, int *status)
{
	const char *n, *v;
	size_t pos = 0, nl, vl, body;
	int rc, st = 200;

	if ((rc = response_body_pos(r, &body)) != 0)
		return rc;
	while ((rc = fcgi_response_header_next(r, &pos, &n, &nl, &v, &vl)) > 0) {
		if (nl != 6 || strncasecmp(n, "Status", 6) != 0)
			continue;
		if (vl < 3 || v[0] < '1' || v[0] > '5' || v[1] < '0' ||
		    v[1] > '9' || v[2] < '0' || v[2] > '9' ||
		    (vl > 3 && v[3] != ' '))
			return STICKY_EPROTO;
		st = (v[0] - '0') * 100 + (v[1] - '0') * 10 + (v[2] - '0');
		break;
	}
	*status = st;
	return 0;
}

int
fcgi_response_header(const struct fcgi_response *r, const char *name,
    char *out, size_t outlen)
{
	const char *n, *v;
	size_t pos = 0, nl, vl, body;
	int rc;

	if ((rc = response_body_pos(r, &body)) != 0)
		return rc;
	while ((rc = fcgi_response_header_next(r, &pos, &n, &nl, &v, &vl)) > 0) {
		if (nl != strlen(name) || strncasecmp(n, name, nl) != 0)
			continue;
		if (vl >= outlen)
			return STICKY_ETOOBIG;
		memcpy(out, v, vl);
		out[vl] = '\0';
		return 0;
	}
	return STICKY_ENOENT;
}

const unsigned char *
fcgi_response_body(const struct fcgi_response *r, size_t *len)
{
	size_t body;

	if (response_body_pos(r, &body) != 0) {
		*len = 0;
		return NULL;
	}
	*len = r->out.len - body;
	return r->out.data + body;
}
