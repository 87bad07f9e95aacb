/*
 * fcgi.c: the FastCGI protocol (fastcgi-archives.github.io, version 1), once:
 * the strict incremental request parser a worker feeds from many
 * connections at once, and the record writers both sides use (the client's
 * response parser is fcgi_response.c).  Pure: bytes in, bytes out.
 *
 * We do not use libfcgi: 2.4.2 aborts the whole process on one PARAMS
 * record declaring 0x7ffffffe-byte names (its allocator asserts), drops
 * other bad records silently and reads one connection at a time.  Here
 * every length is checked against the limits before a byte is buffered,
 * buffers grow only as bytes actually arrive, and every rejection says why.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "fcgi.h"

enum parser_state { PS_IDLE, PS_PARAMS, PS_STDIN, PS_READY };
enum pair_state { PAIR_NLEN, PAIR_VLEN, PAIR_NAME, PAIR_VALUE };

const char *
fcgi_type_name(unsigned t)
{
	static const char *const names[] = { "type 0", "BEGIN_REQUEST",
		"ABORT_REQUEST", "END_REQUEST", "PARAMS", "STDIN", "STDOUT",
		"STDERR", "DATA", "GET_VALUES", "GET_VALUES_RESULT",
		"UNKNOWN_TYPE" };

	return t < sizeof(names) / sizeof(names[0]) ? names[t] : "unknown type";
}

enum fcgi_frame_event
fcgi_frame_next(struct fcgi_frame *f, const void *data, size_t len,
    size_t *off, const unsigned char **chunk, size_t *n)
{
	const unsigned char *d = data, *h = f->hdr;
	size_t take;

	if (f->hdr_have < FCGI_HEADER_LEN) {
		take = FCGI_HEADER_LEN - f->hdr_have;
		if (take > len - *off)
			take = len - *off;
		if (take == 0)
			return FCGI_FRAME_MORE; /* data may be NULL */
		memcpy(f->hdr + f->hdr_have, d + *off, take);
		f->hdr_have += take;
		*off += take;
		if (f->hdr_have < FCGI_HEADER_LEN)
			return FCGI_FRAME_MORE;
		f->version = h[0];
		f->type = h[1];
		f->id = (unsigned)h[2] << 8 | h[3];
		f->clen = f->content_left = (size_t)h[4] << 8 | h[5];
		f->padding_left = h[6];
		return FCGI_FRAME_HEADER;
	}
	if (f->content_left > 0) {
		if (*off == len)
			return FCGI_FRAME_MORE;
		take = f->content_left < len - *off ? f->content_left :
		    len - *off;
		*chunk = d + *off;
		*n = take;
		*off += take;
		f->content_left -= take;
		return FCGI_FRAME_CONTENT;
	}
	if (f->padding_left > 0) {
		take = f->padding_left < len - *off ? f->padding_left :
		    len - *off;
		*off += take;
		f->padding_left -= take;
		if (f->padding_left > 0)
			return FCGI_FRAME_MORE;
	}
	f->hdr_have = 0;
	return FCGI_FRAME_END;
}

/* Truncate back to len: writers leave `out` as it was when they fail. */
static void
buf_truncate(struct sticky_buf *b, size_t len)
{
	b->len = len;
	if (b->data != NULL)
		b->data[len] = '\0';
}

/*
 * A name or value length at b[0..avail): one byte when the high bit is
 * clear, else four bytes big-endian with the high bit masked off.
 * Returns the bytes it takes (1 or 4), or 0 if avail is too short.
 */
static size_t
pair_len(const unsigned char *b, size_t avail, size_t *len)
{
	if (avail < 1)
		return 0;
	if ((b[0] & 0x80) == 0) {
		*len = b[0];
		return 1;
	}
	if (avail < 4)
		return 0;
	*len = ((size_t)(b[0] & 0x7f) << 24) | ((size_t)b[1] << 16) |
	    ((size_t)b[2] << 8) | (size_t)b[3];
	return 4;
}

/* ---- requests ---- */

void
fcgi_request_init(struct fcgi_request *r)
{
	r->id = 0;
	r->keep_conn = 0;
	r->params = NULL;
	r->nparams = 0;
	buf_init(&r->pstream);
	buf_init(&r->body);
}

void
fcgi_request_cleanup(struct fcgi_request *r)
{
	xfree(r->params);
	buf_cleanup(&r->pstream);
	buf_cleanup(&r->body);
	fcgi_request_init(r);
}

const char *
fcgi_request_param(const struct fcgi_request *r, const char *name)
{
	size_t i;

	for (i = 0; i < r->nparams; i++)
		if (strcmp(r->params[i].name, name) == 0)
			return r->params[i].value;
	return NULL;
}

/* ---- the server-side parser ---- */

static int parser_fail(struct fcgi_parser *, int, const char *, ...)
    __attribute__((format(printf, 3, 4)));

static int
parser_fail(struct fcgi_parser *p, int err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(p->why, sizeof(p->why), fmt, ap);
	va_end(ap);
	return err;
}

static void
parser_reset_request(struct fcgi_parser *p)
{
	fcgi_request_cleanup(&p->req);
	p->state = PS_IDLE;
	p->params_pos = 0;
	p->pair_state = PAIR_NLEN;
	p->len_have = 0;
	p->nlen = p->vlen = p->pair_left = 0;
}

void
fcgi_parser_init(struct fcgi_parser *p, const struct fcgi_limits *lim)
{
	memset(p, 0, sizeof(*p));
	if (lim != NULL)
		p->lim = *lim;
	else {
		p->lim.max_params = FCGI_DEFAULT_MAX_PARAMS;
		p->lim.max_nparams = FCGI_DEFAULT_MAX_NPARAMS;
		p->lim.max_body = FCGI_DEFAULT_MAX_BODY;
	}
	buf_init(&p->mgmt);
	fcgi_request_init(&p->req);
	parser_reset_request(p);
}

void
fcgi_parser_cleanup(struct fcgi_parser *p)
{
	fcgi_request_cleanup(&p->req);
	buf_cleanup(&p->mgmt);
}

int
fcgi_parser_idle(const struct fcgi_parser *p)
{
	return p->state == PS_IDLE && fcgi_frame_idle(&p->fr);
}

unsigned
fcgi_parser_request_id(const struct fcgi_parser *p)
{
	return p->state == PS_IDLE ? 0 : p->req.id;
}

void
fcgi_parser_take(struct fcgi_parser *p, struct fcgi_request *out)
{
	if (p->state != PS_READY) {
		fcgi_request_init(out);
		return;
	}
	*out = p->req;
	p->last_id = p->req.id;
	fcgi_request_init(&p->req);
	parser_reset_request(p);
}

static int
rejected_find(const struct fcgi_parser *p, unsigned id)
{
	size_t i;

	for (i = 0; i < p->nrejected; i++)
		if (p->rejected[i] == id)
			return (int)i;
	return -1;
}

static void
rejected_remove(struct fcgi_parser *p, unsigned id)
{
	int i;

	if ((i = rejected_find(p, id)) < 0)
		return;
	p->rejected[i] = p->rejected[--p->nrejected];
}

/*
 * Remember a refused request so its records can be skipped.  The set is
 * small and fixed: a client that keeps opening requests it knows we refuse
 * is not one we owe memory to.
 */
static int
rejected_add(struct fcgi_parser *p, unsigned id)
{
	if (rejected_find(p, id) >= 0)
		return 0;
	if (p->nrejected == FCGI_MAX_REJECTED)
		return parser_fail(p, STICKY_EPROTO,
		    "more than %d refused requests still open (request %u)",
		    FCGI_MAX_REJECTED, id);
	p->rejected[p->nrejected++] = (uint16_t)id;
	return 0;
}

static int
write_end_request(struct sticky_buf *out, unsigned id, uint32_t app_status,
    unsigned ps)
{
	unsigned char b[8];

	b[0] = (unsigned char)(app_status >> 24);
	b[1] = (unsigned char)(app_status >> 16);
	b[2] = (unsigned char)(app_status >> 8);
	b[3] = (unsigned char)app_status;
	b[4] = (unsigned char)ps;
	b[5] = b[6] = b[7] = 0;
	return fcgi_write_record(out, FCGI_END_REQUEST, (uint16_t)id, b, 8);
}

static int
parser_reply_end(struct fcgi_parser *p, struct sticky_buf *reply, unsigned id,
    unsigned ps)
{
	if (write_end_request(reply, id, 0, ps) != 0)
		return parser_fail(p, STICKY_ENOMEM, "out of memory");
	return 0;
}

/*
 * The pair's lengths are known: check them against what is left of the
 * limits now, before a byte of the name or value is buffered.
 */
static int
pair_begin(struct fcgi_parser *p)
{
	size_t room;

	if (p->nlen == 0)
		return parser_fail(p, STICKY_EPROTO,
		    "PARAMS: param %zu has an empty name", p->req.nparams + 1);
	if (p->req.nparams >= p->lim.max_nparams)
		return parser_fail(p, STICKY_ETOOBIG,
		    "PARAMS: more than max_nparams %zu params",
		    p->lim.max_nparams);
	room = p->lim.max_params - p->params_pos;
	if (p->nlen > room || p->vlen > room - p->nlen)
		return parser_fail(p, STICKY_ETOOBIG,
		    "PARAMS: param %zu declares a %zu-byte name and a %zu-byte "
		    "value, over max_params %zu", p->req.nparams + 1, p->nlen,
		    p->vlen, p->lim.max_params);
	p->pair_state = PAIR_NAME;
	p->pair_left = p->nlen;
	return 0;
}

/* A name or value is complete: terminate it and move on. */
static int
pair_field_end(struct fcgi_parser *p)
{
	if (buf_append(&p->req.pstream, "", 1) != 0)
		return parser_fail(p, STICKY_ENOMEM, "out of memory");
	if (p->pair_state == PAIR_NAME) {
		p->pair_state = PAIR_VALUE;
		p->pair_left = p->vlen;
		if (p->vlen > 0)
			return 0;
		if (buf_append(&p->req.pstream, "", 1) != 0)
			return parser_fail(p, STICKY_ENOMEM, "out of memory");
	}
	p->req.nparams++;
	p->pair_state = PAIR_NLEN;
	return 0;
}

/* PARAMS content: pairs may be cut anywhere, even inside a length. */
static int
params_consume(struct fcgi_parser *p, const unsigned char *d, size_t n)
{
	size_t take, len;
	int rc;

	while (n > 0) {
		switch (p->pair_state) {
		case PAIR_NLEN:
		case PAIR_VLEN:
			p->lenbuf[p->len_have++] = *d++;
			n--;
			p->params_pos++;
			if (pair_len(p->lenbuf, p->len_have, &len) == 0)
				break;
			p->len_have = 0;
			if (p->pair_state == PAIR_NLEN) {
				p->nlen = len;
				p->pair_state = PAIR_VLEN;
			} else {
				p->vlen = len;
				if ((rc = pair_begin(p)) != 0)
					return rc;
			}
			break;
		default: /* PAIR_NAME, PAIR_VALUE */
			take = n < p->pair_left ? n : p->pair_left;
			if (memchr(d, '\0', take) != NULL)
				return parser_fail(p, STICKY_EPROTO,
				    "PARAMS: NUL byte in the %s of param %zu",
				    p->pair_state == PAIR_NAME ? "name" :
				    "value", p->req.nparams + 1);
			if (buf_append(&p->req.pstream, d, take) != 0)
				return parser_fail(p, STICKY_ENOMEM,
				    "out of memory");
			d += take;
			n -= take;
			p->params_pos += take;
			p->pair_left -= take;
			if (p->pair_left == 0 && (rc = pair_field_end(p)) != 0)
				return rc;
			break;
		}
	}
	return 0;
}

/*
 * The empty PARAMS record: the stream is whole and pstream stops growing,
 * so only now is it safe to point into it.
 */
static int
params_end(struct fcgi_parser *p)
{
	struct fcgi_request *r = &p->req;
	const char *s;
	size_t i;

	if (p->pair_state != PAIR_NLEN || p->len_have != 0)
		return parser_fail(p, STICKY_EPROTO,
		    "PARAMS: stream ends inside param %zu (truncated pair)",
		    r->nparams + 1);
	if (r->nparams > 0) {
		if ((r->params = xcalloc(r->nparams, sizeof(*r->params))) ==
		    NULL)
			return parser_fail(p, STICKY_ENOMEM, "out of memory");
		s = (const char *)r->pstream.data;
		for (i = 0; i < r->nparams; i++) {
			/* Names and values hold no NUL: checked on the way in. */
			r->params[i].name = s;
			r->params[i].nlen = strlen(s);
			s += r->params[i].nlen + 1;
			r->params[i].value = s;
			r->params[i].vlen = strlen(s);
			s += r->params[i].vlen + 1;
		}
	}
	p->state = PS_STDIN;
	return 0;
}

/* Answer GET_VALUES: the names we know, once each, in the order asked. */
static int
get_values_reply(struct fcgi_parser *p, struct sticky_buf *reply)
{
	static const struct {
		const char *name;
		const char *value;
	} known[] = {
		{ "FCGI_MAX_CONNS", FCGI_VALUE_MAX_CONNS },
		{ "FCGI_MAX_REQS", FCGI_VALUE_MAX_REQS },
		{ "FCGI_MPXS_CONNS", FCGI_VALUE_MPXS_CONNS },
	};
	struct sticky_buf ans;
	const unsigned char *d = p->mgmt.data;
	size_t off = 0, len = p->mgmt.len, k, nlen, vlen, i;
	unsigned answered = 0;
	int rc = 0;

	buf_init(&ans);
	while (off < len) {
		if ((k = pair_len(d + off, len - off, &nlen)) == 0 ||
		    (off += k, k = pair_len(d + off, len - off, &vlen)) == 0) {
			rc = parser_fail(p, STICKY_EPROTO,
			    "GET_VALUES: truncated length");
			goto out;
		}
		off += k;
		if (nlen == 0) {
			rc = parser_fail(p, STICKY_EPROTO,
			    "GET_VALUES: empty name");
			goto out;
		}
		if (nlen > len - off || vlen > len - off - nlen) {
			rc = parser_fail(p, STICKY_EPROTO,
			    "GET_VALUES: pair runs past the record");
			goto out;
		}
		for (i = 0; i < sizeof(known) / sizeof(known[0]); i++) {
			if ((answered & (1U << i)) != 0 ||
			    strlen(known[i].name) != nlen ||
			    memcmp(known[i].name, d + off, nlen) != 0)
				continue;
			answered |= 1U << i;
			if (fcgi_encode_pair(&ans, known[i].name, nlen,
			    known[i].value, strlen(known[i].value)) != 0) {
				rc = parser_fail(p, STICKY_ENOMEM,
				    "out of memory");
				goto out;
			}
		}
		off += nlen + vlen;
	}
	if (fcgi_write_record(reply, FCGI_GET_VALUES_RESULT, 0, ans.data,
	    ans.len) != 0)
		rc = parser_fail(p, STICKY_ENOMEM, "out of memory");
out:
	buf_cleanup(&ans);
	return rc;
}

static int
begin_request(struct fcgi_parser *p, struct sticky_buf *reply)
{
	unsigned id = p->rec_id;
	unsigned role = (unsigned)p->small[0] << 8 | p->small[1];
	int rc;

	if (p->state == PS_IDLE) {
		/* A new BEGIN_REQUEST reuses the id of a refused request. */
		rejected_remove(p, id);
		if (role != FCGI_RESPONDER) {
			if ((rc = rejected_add(p, id)) != 0)
				return rc;
			return parser_reply_end(p, reply, id,
			    FCGI_UNKNOWN_ROLE);
		}
		p->req.id = (uint16_t)id;
		p->req.keep_conn = (p->small[2] & FCGI_KEEP_CONN) != 0;
		p->state = PS_PARAMS;
		return 0;
	}
	if (id == p->req.id)
		return parser_fail(p, STICKY_EPROTO,
		    "BEGIN_REQUEST for request %u already in progress", id);
	/* One request per connection at a time: refuse the other. */
	if ((rc = rejected_add(p, id)) != 0)
		return rc;
	return parser_reply_end(p, reply, id, FCGI_CANT_MPX_CONN);
}

/*
 * A header is complete: check everything it declares before any content
 * is read, so a bad record costs nothing.
 */
static int
record_begin(struct fcgi_parser *p)
{
	unsigned id;

	if (p->fr.version != FCGI_VERSION_1)
		return parser_fail(p, STICKY_EPROTO,
		    "record version %u, want 1", p->fr.version);
	p->type = p->fr.type;
	p->rec_id = id = p->fr.id;
	p->clen = p->fr.clen;
	p->skip = 0;
	p->small_have = 0;

	switch (p->type) {
	case FCGI_BEGIN_REQUEST:
		if (id == 0)
			return parser_fail(p, STICKY_EPROTO,
			    "BEGIN_REQUEST on request id 0");
		if (p->clen != 8)
			return parser_fail(p, STICKY_EPROTO,
			    "BEGIN_REQUEST with %zu content bytes, want 8",
			    p->clen);
		return 0;
	case FCGI_ABORT_REQUEST:
	case FCGI_PARAMS:
	case FCGI_STDIN:
	case FCGI_DATA:
		break;
	case FCGI_GET_VALUES:
		if (id != 0)
			return parser_fail(p, STICKY_EPROTO,
			    "GET_VALUES on request id %u, want 0", id);
		buf_reset(&p->mgmt);
		return 0;
	case FCGI_END_REQUEST:
	case FCGI_STDOUT:
	case FCGI_STDERR:
	case FCGI_GET_VALUES_RESULT:
	case FCGI_UNKNOWN_TYPE:
		return parser_fail(p, STICKY_EPROTO,
		    "%s record sent to the application (request %u)",
		    fcgi_type_name(p->type), id);
	default:
		if (id != 0)
			return parser_fail(p, STICKY_EPROTO,
			    "unknown record type %u on request id %u",
			    p->type, id);
		p->skip = 1; /* answered UNKNOWN_TYPE at its end */
		return 0;
	}

	/* Application records of a request: ABORT_REQUEST, PARAMS, STDIN, DATA. */
	if (id == 0)
		return parser_fail(p, STICKY_EPROTO, "%s on request id 0",
		    fcgi_type_name(p->type));
	if (p->type == FCGI_ABORT_REQUEST && p->clen != 0)
		return parser_fail(p, STICKY_EPROTO,
		    "ABORT_REQUEST with %zu content bytes, want 0", p->clen);
	if (rejected_find(p, id) >= 0) {
		p->skip = 1;
		return 0;
	}
	if (p->state == PS_IDLE || id != p->req.id) {
		/* A late ABORT_REQUEST for an answered request is a race. */
		if (p->type == FCGI_ABORT_REQUEST && id == p->last_id) {
			p->skip = 1;
			return 0;
		}
		return parser_fail(p, STICKY_EPROTO,
		    "%s for request %u, which is not in progress",
		    fcgi_type_name(p->type), id);
	}
	switch (p->type) {
	case FCGI_PARAMS:
		if (p->state != PS_PARAMS)
			return parser_fail(p, STICKY_EPROTO,
			    "PARAMS after the PARAMS stream ended (request %u)",
			    id);
		if (p->clen > p->lim.max_params - p->params_pos) {
			p->body_too_big = 0;
			return parser_fail(p, STICKY_ETOOBIG,
			    "PARAMS: stream over max_params %zu bytes",
			    p->lim.max_params);
		}
		break;
	case FCGI_STDIN:
		if (p->state != PS_STDIN)
			return parser_fail(p, STICKY_EPROTO,
			    "STDIN before the PARAMS stream ended (request %u)",
			    id);
		if (p->clen > p->lim.max_body - p->req.body.len) {
			p->body_too_big = 1;
			return parser_fail(p, STICKY_ETOOBIG,
			    "STDIN: body over max_body %zu bytes",
			    p->lim.max_body);
		}
		break;
	case FCGI_DATA:
		p->skip = 1; /* for the Filter role; a responder has none */
		break;
	}
	return 0;
}

static int
record_content(struct fcgi_parser *p, const unsigned char *d, size_t n)
{
	int rc;

	if (p->skip)
		return 0;
	switch (p->type) {
	case FCGI_BEGIN_REQUEST:
		memcpy(p->small + p->small_have, d, n); /* clen is 8 */
		p->small_have += n;
		return 0;
	case FCGI_PARAMS:
		return params_consume(p, d, n);
	case FCGI_STDIN:
		rc = buf_append(&p->req.body, d, n);
		break;
	case FCGI_GET_VALUES:
		rc = buf_append(&p->mgmt, d, n); /* at most 65535 bytes */
		break;
	default:
		return 0;
	}
	return rc != 0 ? parser_fail(p, STICKY_ENOMEM, "out of memory") : 0;
}

/* The record's content and padding are consumed: act on it. */
static int
record_end(struct fcgi_parser *p, struct sticky_buf *reply)
{
	unsigned char body[8];

	switch (p->type) {
	case FCGI_BEGIN_REQUEST:
		return begin_request(p, reply);
	case FCGI_ABORT_REQUEST:
		if (rejected_find(p, p->rec_id) >= 0) {
			/* Already answered; the client gave it up too. */
			rejected_remove(p, p->rec_id);
			return 0;
		}
		if (p->skip) /* late, for the request last taken */
			return 0;
		parser_reset_request(p);
		p->aborted++;
		return parser_reply_end(p, reply, p->rec_id,
		    FCGI_REQUEST_COMPLETE);
	case FCGI_PARAMS:
		if (p->clen != 0 || p->skip)
			return 0;
		return params_end(p);
	case FCGI_STDIN:
		if (p->clen != 0)
			return 0;
		if (p->skip) {
			/* The refused request's streams are over. */
			rejected_remove(p, p->rec_id);
			return 0;
		}
		p->state = PS_READY;
		return 0;
	case FCGI_GET_VALUES:
		return get_values_reply(p, reply);
	case FCGI_DATA:
		return 0;
	default:
		memset(body, 0, sizeof(body));
		body[0] = (unsigned char)p->type;
		if (fcgi_write_record(reply, FCGI_UNKNOWN_TYPE, 0, body, 8) != 0)
			return parser_fail(p, STICKY_ENOMEM, "out of memory");
		return 0;
	}
}

int
fcgi_parser_feed(struct fcgi_parser *p, const void *data, size_t len,
    size_t *used, struct sticky_buf *reply)
{
	const unsigned char *chunk = NULL;
	size_t off = 0, n = 0;
	enum fcgi_frame_event ev;
	int rc = 0;

	*used = 0;
	if (p->err != 0)
		return p->err;
	if (p->state == PS_READY)
		return FCGI_REQUEST_READY;
	while ((ev = fcgi_frame_next(&p->fr, data, len, &off, &chunk, &n)) !=
	    FCGI_FRAME_MORE) {
		switch (ev) {
		case FCGI_FRAME_HEADER:
			rc = record_begin(p);
			break;
		case FCGI_FRAME_CONTENT:
			if ((rc = record_content(p, chunk, n)) != 0)
				off -= n; /* not consumed */
			break;
		default:
			rc = record_end(p, reply);
			break;
		}
		if (rc != 0)
			goto fail;
		if (ev == FCGI_FRAME_END && p->state == PS_READY)
			break;
	}
	*used = off;
	return p->state == PS_READY ? FCGI_REQUEST_READY : FCGI_NEED_MORE;
fail:
	/* off counts the bytes that led to the error; nothing after it. */
	*used = off;
	p->err = rc;
	return rc;
}

/* ---- writers ---- */

static void
put_header(unsigned char *h, unsigned type, unsigned id, size_t clen,
    size_t plen)
{
	h[0] = FCGI_VERSION_1;
	h[1] = (unsigned char)type;
	h[2] = (unsigned char)(id >> 8);
	h[3] = (unsigned char)id;
	h[4] = (unsigned char)(clen >> 8);
	h[5] = (unsigned char)clen;
	h[6] = (unsigned char)plen;
	h[7] = 0;
}

int
fcgi_write_record(struct sticky_buf *out, enum fcgi_type type, uint16_t id,
    const void *data, size_t len)
{
	size_t pad;
	unsigned char *w;

	if (len > FCGI_MAX_CONTENT)
		return STICKY_EINVAL;
	pad = (8 - len % 8) % 8;
	/* Reserve first: then nothing below can fail halfway. */
	if (buf_reserve(out, FCGI_HEADER_LEN + len + pad) != 0)
		return STICKY_ENOMEM;
	w = out->data + out->len;
	put_header(w, type, id, len, pad);
	if (len > 0)
		memcpy(w + FCGI_HEADER_LEN, data, len);
	memset(w + FCGI_HEADER_LEN + len, 0, pad);
	out->len += FCGI_HEADER_LEN + len + pad;
	out->data[out->len] = '\0';
	return 0;
}

int
fcgi_write_stream(struct sticky_buf *out, enum fcgi_type type, uint16_t id,
    const void *data, size_t len)
{
	const unsigned char *d = data;
	size_t start = out->len, n;
	int rc;

	while (len > 0) {
		n = len > FCGI_MAX_CONTENT ? FCGI_MAX_CONTENT : len;
		if ((rc = fcgi_write_record(out, type, id, d, n)) != 0) {
			buf_truncate(out, start);
			return rc;
		}
		d += n;
		len -= n;
	}
	return 0;
}

int
fcgi_write_end(struct sticky_buf *out, uint16_t id, uint32_t app_status,
    enum fcgi_proto_status ps)
{
	size_t start = out->len;
	int rc;

	if ((rc = fcgi_write_record(out, FCGI_STDOUT, id, NULL, 0)) != 0 ||
	    (rc = write_end_request(out, id, app_status, ps)) != 0)
		buf_truncate(out, start);
	return rc;
}

int
fcgi_write_begin(struct sticky_buf *out, uint16_t id, uint16_t role,
    uint8_t flags)
{
	unsigned char b[8];

	memset(b, 0, sizeof(b));
	b[0] = (unsigned char)(role >> 8);
	b[1] = (unsigned char)role;
	b[2] = flags;
	return fcgi_write_record(out, FCGI_BEGIN_REQUEST, id, b, sizeof(b));
}

static int
encode_len(struct sticky_buf *out, size_t len)
{
	unsigned char b[4];

	if (len < 0x80) {
		b[0] = (unsigned char)len;
		return buf_append(out, b, 1);
	}
	b[0] = (unsigned char)(0x80 | (len >> 24));
	b[1] = (unsigned char)(len >> 16);
	b[2] = (unsigned char)(len >> 8);
	b[3] = (unsigned char)len;
	return buf_append(out, b, 4);
}

int
fcgi_encode_pair(struct sticky_buf *out, const char *name, size_t nlen,
    const char *value, size_t vlen)
{
	size_t start = out->len;

	if (nlen > FCGI_MAX_PAIR_LEN || vlen > FCGI_MAX_PAIR_LEN)
		return STICKY_EINVAL;
	if (encode_len(out, nlen) != 0 || encode_len(out, vlen) != 0 ||
	    buf_append(out, name, nlen) != 0 ||
	    buf_append(out, value, vlen) != 0) {
		buf_truncate(out, start);
		return STICKY_ENOMEM;
	}
	return 0;
}

int
fcgi_write_params(struct sticky_buf *out, uint16_t id,
    const struct fcgi_param *params, size_t n)
{
	struct sticky_buf enc;
	size_t start = out->len, i;
	int rc = 0;

	buf_init(&enc);
	for (i = 0; i < n && rc == 0; i++)
		rc = fcgi_encode_pair(&enc, params[i].name, params[i].nlen,
		    params[i].value, params[i].vlen);
	if (rc == 0 &&
	    ((rc = fcgi_write_stream(out, FCGI_PARAMS, id, enc.data,
	    enc.len)) != 0 ||
	    (rc = fcgi_write_record(out, FCGI_PARAMS, id, NULL, 0)) != 0))
		buf_truncate(out, start);
	buf_cleanup(&enc);
	return rc;
}

int
fcgi_write_stdin(struct sticky_buf *out, uint16_t id, const void *data,
    size_t len)
{
	size_t start = out->len;
	int rc;

	if ((rc = fcgi_write_stream(out, FCGI_STDIN, id, data, len)) != 0 ||
	    (rc = fcgi_write_record(out, FCGI_STDIN, id, NULL, 0)) != 0)
		buf_truncate(out, start);
	return rc;
}
