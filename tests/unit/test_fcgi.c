/*
 * test_fcgi.c: unit tests of src/lib/fcgi.c: the writers and the request
 * parser round trip, every split point of a request, the management
 * replies, refused and aborted requests, every hostile case we know (with
 * the reason the parser gives), the response parser, injected allocation
 * failures, and the record corpus of tests/data/fcgi (read from
 * $top_srcdir/tests/data/fcgi, top_srcdir defaulting to ".").
 *
 * Limits: the parser runs with the corpus limits (the FCGI_DEFAULT_*), so
 * the etoobig files are over them by construction.
 */
#include <criterion/criterion.h>

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fcgi.h"

#define P(n, v) { n, v, sizeof(n) - 1, sizeof(v) - 1 }

static const struct fcgi_limits lim = {
	FCGI_DEFAULT_MAX_PARAMS, FCGI_DEFAULT_MAX_NPARAMS, FCGI_DEFAULT_MAX_BODY
};

static const struct fcgi_param std_params[] = {
	P("REQUEST_METHOD", "POST"),
	P("REQUEST_URI", "/counter?x=1"),
	P("QUERY_STRING", "x=1"),
	P("HTTP_COOKIE", "STICKYSID=abc.w0"),
	P("EMPTY", ""),
};
#define NSTD (sizeof(std_params) / sizeof(std_params[0]))

static void
build_request(struct sticky_buf *b, uint16_t id, int keep,
    const struct fcgi_param *pv, size_t n, const void *body, size_t blen)
{
	cr_assert_eq(fcgi_write_begin(b, id, FCGI_RESPONDER,
	    keep ? FCGI_KEEP_CONN : 0), 0);
	cr_assert_eq(fcgi_write_params(b, id, pv, n), 0);
	cr_assert_eq(fcgi_write_stdin(b, id, body, blen), 0);
}

/* Feed in chunks of `chunk`; stops at READY or an error. */
static int
feed_chunked(struct fcgi_parser *p, const void *data, size_t len,
    size_t chunk, struct sticky_buf *reply, size_t *consumed)
{
	const unsigned char *d = data;
	size_t off = 0, n, used;
	int rc = FCGI_NEED_MORE;

	while (off < len) {
		n = len - off < chunk ? len - off : chunk;
		rc = fcgi_parser_feed(p, d + off, n, &used, reply);
		cr_assert_leq(used, n);
		off += used;
		if (rc != FCGI_NEED_MORE)
			break;
		cr_assert_eq(used, n, "NEED_MORE must consume everything");
	}
	*consumed = off;
	return rc;
}

static void
check_params(const struct fcgi_request *r, const struct fcgi_param *pv,
    size_t n)
{
	size_t i;

	cr_assert_eq(r->nparams, n);
	for (i = 0; i < n; i++) {
		cr_assert_eq(r->params[i].nlen, pv[i].nlen);
		cr_assert_eq(r->params[i].vlen, pv[i].vlen);
		cr_assert_eq(memcmp(r->params[i].name, pv[i].name, pv[i].nlen),
		    0);
		cr_assert_eq(memcmp(r->params[i].value, pv[i].value,
		    pv[i].vlen), 0);
		cr_assert_eq(r->params[i].name[pv[i].nlen], '\0');
		cr_assert_eq(r->params[i].value[pv[i].vlen], '\0');
		/* Pointers into pstream, which no longer moves. */
		cr_assert(r->params[i].name >= (const char *)r->pstream.data &&
		    r->params[i].value + r->params[i].vlen <
		    (const char *)r->pstream.data + r->pstream.len);
	}
}

/* Decode the END_REQUEST record at reply[off]. */
static void
expect_end_request(const struct sticky_buf *reply, size_t off, unsigned id,
    unsigned ps)
{
	const unsigned char *d = reply->data + off;

	cr_assert_geq(reply->len, off + 16);
	cr_assert_eq(d[0], 1);
	cr_assert_eq(d[1], FCGI_END_REQUEST);
	cr_assert_eq((unsigned)(d[2] << 8 | d[3]), id);
	cr_assert_eq(d[4] << 8 | d[5], 8);
	cr_assert_eq(d[8 + 0] | d[8 + 1] | d[8 + 2] | d[8 + 3], 0,
	    "app status 0");
	cr_assert_eq(d[8 + 4], ps);
}

/* ---- writers ---- */

Test(fcgi_write, record_is_padded_to_8)
{
	struct sticky_buf b;
	const unsigned char want[] = { 1, 6, 0x01, 0x02, 0, 5, 3, 0, 'h', 'e',
		'l', 'l', 'o', 0, 0, 0 };

	buf_init(&b);
	cr_assert_eq(fcgi_write_record(&b, FCGI_STDOUT, 0x0102, "hello", 5), 0);
	cr_assert_eq(b.len, sizeof(want));
	cr_assert_eq(memcmp(b.data, want, sizeof(want)), 0);
	cr_assert_eq(fcgi_write_record(&b, FCGI_STDOUT, 1, "12345678", 8), 0);
	cr_assert_eq(b.len, 16 + 16, "8 bytes need no padding");
	cr_assert_eq(fcgi_write_record(&b, FCGI_STDOUT, 1, NULL, 65536),
	    STICKY_EINVAL);
	cr_assert_eq(b.len, 32);
	buf_cleanup(&b);
}

Test(fcgi_write, stream_splits_at_65535)
{
	struct sticky_buf b;
	unsigned char *big = calloc(1, 150000);
	size_t off = 0, n = 0, total = 0, clen;

	cr_assert_not_null(big);
	buf_init(&b);
	cr_assert_eq(fcgi_write_stream(&b, FCGI_STDOUT, 1, NULL, 0), 0);
	cr_assert_eq(b.len, 0, "len 0 writes nothing");
	cr_assert_eq(fcgi_write_stream(&b, FCGI_STDOUT, 1, big, 150000), 0);
	while (off < b.len) {
		clen = (size_t)b.data[off + 4] << 8 | b.data[off + 5];
		cr_assert_leq(clen, FCGI_MAX_CONTENT);
		cr_assert_eq((clen + b.data[off + 6]) % 8, 0);
		total += clen;
		off += 8 + clen + b.data[off + 6];
		n++;
	}
	cr_assert_eq(n, 3);
	cr_assert_eq(total, 150000);
	free(big);
	buf_cleanup(&b);
}

Test(fcgi_write, pair_lengths_1_and_4_bytes)
{
	struct sticky_buf b;
	char name[200], value[128];

	memset(name, 'n', sizeof(name));
	memset(value, 'v', sizeof(value));
	buf_init(&b);
	cr_assert_eq(fcgi_encode_pair(&b, name, 127, value, 127), 0);
	cr_assert_eq(b.data[0], 127);
	cr_assert_eq(b.data[1], 127);
	cr_assert_eq(b.len, 2 + 254);
	buf_reset(&b);
	cr_assert_eq(fcgi_encode_pair(&b, name, 200, value, 128), 0);
	cr_assert_eq(memcmp(b.data, "\x80\x00\x00\xc8\x80\x00\x00\x80", 8), 0);
	cr_assert_eq(b.len, 8 + 328);
	cr_assert_eq(fcgi_encode_pair(&b, name, (size_t)FCGI_MAX_PAIR_LEN + 1,
	    value, 0), STICKY_EINVAL);
	cr_assert_eq(b.len, 8 + 328);
	buf_cleanup(&b);
}

Test(fcgi_write, end_writes_empty_stdout_then_end_request)
{
	struct sticky_buf b;

	buf_init(&b);
	cr_assert_eq(fcgi_write_end(&b, 7, 0x01020304, FCGI_REQUEST_COMPLETE),
	    0);
	cr_assert_eq(b.len, 8 + 16);
	cr_assert_eq(memcmp(b.data, "\1\6\0\7\0\0\0\0", 8), 0);
	cr_assert_eq(memcmp(b.data + 8, "\1\3\0\7\0\10\0\0\1\2\3\4\0\0\0\0",
	    16), 0);
	buf_cleanup(&b);
}

Test(fcgi_write, failed_write_leaves_buffer_unchanged)
{
	struct sticky_buf b;

	buf_init(&b);
	cr_assert_eq(buf_puts(&b, "keep"), 0);
	alloc_fail_after(1);
	cr_assert_eq(fcgi_write_params(&b, 1, std_params, NSTD), STICKY_ENOMEM);
	alloc_fail_after(0);
	cr_assert_eq(b.len, 4);
	cr_assert_str_eq((char *)b.data, "keep");
	buf_cleanup(&b);
}

/* ---- the parser: valid input ---- */

Test(fcgi_parse, round_trip_params_and_body)
{
	struct fcgi_parser p;
	struct fcgi_request r;
	struct sticky_buf b, reply;
	struct fcgi_param pv[NSTD + 2];
	char *lname, *lvalue;
	size_t used;

	lname = malloc(300);
	lvalue = malloc(40000);
	memset(lname, 'N', 300);
	memset(lvalue, 'V', 40000);
	memcpy(pv, std_params, sizeof(std_params));
	pv[NSTD] = (struct fcgi_param){ lname, lvalue, 300, 40000 };
	pv[NSTD + 1] = (struct fcgi_param){ "SHORT", lvalue, 5, 127 };
	buf_init(&b);
	buf_init(&reply);
	build_request(&b, 258, 1, pv, NSTD + 2, "a=1&b=2", 7);

	fcgi_parser_init(&p, &lim);
	cr_assert(fcgi_parser_idle(&p));
	cr_assert_eq(fcgi_parser_feed(&p, b.data, b.len, &used, &reply),
	    FCGI_REQUEST_READY);
	cr_assert_eq(used, b.len);
	cr_assert_eq(reply.len, 0, "a valid request needs no reply");
	cr_assert_not(fcgi_parser_idle(&p));
	cr_assert_eq(fcgi_parser_request_id(&p), 258);
	fcgi_parser_take(&p, &r);
	cr_assert(fcgi_parser_idle(&p));
	cr_assert_eq(r.id, 258);
	cr_assert_eq(r.keep_conn, 1);
	check_params(&r, pv, NSTD + 2);
	cr_assert_str_eq(fcgi_request_param(&r, "REQUEST_URI"), "/counter?x=1");
	cr_assert_str_eq(fcgi_request_param(&r, "EMPTY"), "");
	cr_assert_null(fcgi_request_param(&r, "request_uri"),
	    "names are case-sensitive");
	cr_assert_eq(r.body.len, 7);
	cr_assert_eq(memcmp(r.body.data, "a=1&b=2", 7), 0);
	fcgi_request_cleanup(&r);
	fcgi_parser_cleanup(&p);
	buf_cleanup(&b);
	buf_cleanup(&reply);
	free(lname);
	free(lvalue);
}

Test(fcgi_parse, body_across_many_stdin_records)
{
	struct fcgi_parser p;
	struct fcgi_request r;
	struct sticky_buf b, reply;
	unsigned char *body;
	size_t i, used, len = 200000;

	body = malloc(len);
	for (i = 0; i < len; i++)
		body[i] = (unsigned char)(i * 7 + i / 251);
	buf_init(&b);
	buf_init(&reply);
	cr_assert_eq(fcgi_write_begin(&b, 1, FCGI_RESPONDER, 0), 0);
	cr_assert_eq(fcgi_write_params(&b, 1, std_params, NSTD), 0);
	/* Uneven record sizes, including 1-byte records. */
	for (i = 0; i < len;) {
		size_t n = 1 + (i % 3001);

		if (n > len - i)
			n = len - i;
		cr_assert_eq(fcgi_write_record(&b, FCGI_STDIN, 1, body + i, n),
		    0);
		i += n;
	}
	cr_assert_eq(fcgi_write_record(&b, FCGI_STDIN, 1, NULL, 0), 0);
	fcgi_parser_init(&p, &lim);
	cr_assert_eq(feed_chunked(&p, b.data, b.len, 4093, &reply, &used),
	    FCGI_REQUEST_READY);
	cr_assert_eq(used, b.len);
	fcgi_parser_take(&p, &r);
	cr_assert_eq(r.body.len, len);
	cr_assert_eq(memcmp(r.body.data, body, len), 0);
	fcgi_request_cleanup(&r);
	fcgi_parser_cleanup(&p);
	buf_cleanup(&b);
	buf_cleanup(&reply);
	free(body);
}

Test(fcgi_parse, keep_conn_two_requests_in_one_buffer)
{
	struct fcgi_parser p;
	struct fcgi_request r;
	struct sticky_buf b, reply;
	const struct fcgi_param second[] = { P("REQUEST_URI", "/two") };
	size_t first_len, used;

	buf_init(&b);
	buf_init(&reply);
	build_request(&b, 1, 1, std_params, NSTD, "x", 1);
	first_len = b.len;
	build_request(&b, 2, 0, second, 1, NULL, 0);

	fcgi_parser_init(&p, &lim);
	cr_assert_eq(fcgi_parser_feed(&p, b.data, b.len, &used, &reply),
	    FCGI_REQUEST_READY);
	cr_assert_eq(used, first_len, "parsing stops after the first request");
	/* Not taken yet: nothing more is consumed. */
	cr_assert_eq(fcgi_parser_feed(&p, b.data + used, b.len - used, &used,
	    &reply), FCGI_REQUEST_READY);
	cr_assert_eq(used, 0);
	fcgi_parser_take(&p, &r);
	cr_assert_eq(r.id, 1);
	check_params(&r, std_params, NSTD);
	fcgi_request_cleanup(&r);

	cr_assert_eq(fcgi_parser_feed(&p, b.data + first_len, b.len - first_len,
	    &used, &reply), FCGI_REQUEST_READY);
	cr_assert_eq(used, b.len - first_len);
	fcgi_parser_take(&p, &r);
	cr_assert_eq(r.id, 2);
	cr_assert_eq(r.keep_conn, 0);
	check_params(&r, second, 1);
	cr_assert_eq(r.body.len, 0);
	fcgi_request_cleanup(&r);
	cr_assert_eq(reply.len, 0);
	fcgi_parser_cleanup(&p);
	buf_cleanup(&b);
	buf_cleanup(&reply);
}

/*
 * A request whose records cut pairs everywhere (inside 4-byte lengths,
 * names and values), with a GET_VALUES in the middle and padding, parsed
 * from 1-byte pieces and from every split into two pieces: same request,
 * same reply every time.
 */
static void
build_awkward_request(struct sticky_buf *b)
{
	struct sticky_buf enc;
	char name[150], value[300];
	size_t i, n;

	memset(name, 'k', sizeof(name));
	memset(value, 'w', sizeof(value));
	buf_init(&enc);
	for (i = 0; i < NSTD; i++)
		cr_assert_eq(fcgi_encode_pair(&enc, std_params[i].name,
		    std_params[i].nlen, std_params[i].value,
		    std_params[i].vlen), 0);
	cr_assert_eq(fcgi_encode_pair(&enc, name, sizeof(name), value,
	    sizeof(value)), 0);
	cr_assert_eq(fcgi_write_begin(b, 9, FCGI_RESPONDER, 0), 0);
	for (i = 0; i < enc.len; i += n) {
		n = 1 + i % 5;
		if (n > enc.len - i)
			n = enc.len - i;
		cr_assert_eq(fcgi_write_record(b, FCGI_PARAMS, 9, enc.data + i,
		    n), 0);
	}
	cr_assert_eq(fcgi_write_record(b, FCGI_PARAMS, 9, NULL, 0), 0);
	buf_reset(&enc);
	cr_assert_eq(fcgi_encode_pair(&enc, "FCGI_MPXS_CONNS", 15, "", 0), 0);
	cr_assert_eq(fcgi_write_record(b, FCGI_GET_VALUES, 0, enc.data,
	    enc.len), 0);
	cr_assert_eq(fcgi_write_record(b, FCGI_STDIN, 9, "body!", 5), 0);
	cr_assert_eq(fcgi_write_record(b, FCGI_STDIN, 9, "more", 4), 0);
	cr_assert_eq(fcgi_write_record(b, FCGI_STDIN, 9, NULL, 0), 0);
	buf_cleanup(&enc);
}

static void
check_awkward(const struct fcgi_request *r)
{
	size_t i;

	cr_assert_eq(r->id, 9);
	cr_assert_eq(r->nparams, NSTD + 1);
	for (i = 0; i < NSTD; i++)
		cr_assert_str_eq(r->params[i].value, std_params[i].value);
	cr_assert_eq(r->params[NSTD].nlen, 150);
	cr_assert_eq(r->params[NSTD].vlen, 300);
	cr_assert_eq(r->body.len, 9);
	cr_assert_eq(memcmp(r->body.data, "body!more", 9), 0);
}

Test(fcgi_parse, one_byte_at_a_time)
{
	struct fcgi_parser p;
	struct fcgi_request r;
	struct sticky_buf b, reply;
	size_t used;

	buf_init(&b);
	buf_init(&reply);
	build_awkward_request(&b);
	fcgi_parser_init(&p, &lim);
	cr_assert_eq(feed_chunked(&p, b.data, b.len, 1, &reply, &used),
	    FCGI_REQUEST_READY);
	cr_assert_eq(used, b.len);
	fcgi_parser_take(&p, &r);
	check_awkward(&r);
	cr_assert_gt(reply.len, 0, "GET_VALUES answered");
	fcgi_request_cleanup(&r);
	fcgi_parser_cleanup(&p);
	buf_cleanup(&b);
	buf_cleanup(&reply);
}

Test(fcgi_parse, every_split_point)
{
	struct fcgi_parser p;
	struct fcgi_request r;
	struct sticky_buf b, reply, ref;
	size_t i, used;
	int rc;

	buf_init(&b);
	buf_init(&ref);
	build_awkward_request(&b);
	fcgi_parser_init(&p, &lim);
	cr_assert_eq(fcgi_parser_feed(&p, b.data, b.len, &used, &ref),
	    FCGI_REQUEST_READY);
	fcgi_parser_cleanup(&p);
	for (i = 0; i <= b.len; i++) {
		buf_init(&reply);
		fcgi_parser_init(&p, &lim);
		rc = fcgi_parser_feed(&p, b.data, i, &used, &reply);
		cr_assert_eq(used, i, "split at %zu", i);
		if (i < b.len) {
			cr_assert_eq(rc, FCGI_NEED_MORE, "split at %zu", i);
			cr_assert_eq(fcgi_parser_feed(&p, b.data + i, b.len - i,
			    &used, &reply), FCGI_REQUEST_READY,
			    "split at %zu: %s", i, p.why);
			cr_assert_eq(used, b.len - i);
		} else
			cr_assert_eq(rc, FCGI_REQUEST_READY);
		fcgi_parser_take(&p, &r);
		check_awkward(&r);
		cr_assert_eq(reply.len, ref.len);
		cr_assert_eq(memcmp(reply.data, ref.data, ref.len), 0);
		fcgi_request_cleanup(&r);
		fcgi_parser_cleanup(&p);
		buf_cleanup(&reply);
	}
	buf_cleanup(&b);
	buf_cleanup(&ref);
}

Test(fcgi_parse, odd_padding_and_zero_params)
{
	struct fcgi_parser p;
	struct fcgi_request r;
	struct sticky_buf reply;
	/* BEGIN with 255 padding bytes, no params, STDIN "ab" padded 1. */
	unsigned char in[8 + 8 + 255 + 8 + 8 + 2 + 1 + 8];
	size_t used, o = 0;

	memset(in, 0, sizeof(in));
	memcpy(in + o, "\1\1\0\3\0\10\377\0\0\1\0\0\0\0\0\0", 16);
	o += 16 + 255;
	memcpy(in + o, "\1\4\0\3\0\0\0\0", 8);
	o += 8;
	memcpy(in + o, "\1\5\0\3\0\2\1\0ab", 10);
	o += 11;
	memcpy(in + o, "\1\5\0\3\0\0\0\0", 8);
	o += 8;
	cr_assert_eq(o, sizeof(in));
	buf_init(&reply);
	fcgi_parser_init(&p, &lim);
	cr_assert_eq(fcgi_parser_feed(&p, in, sizeof(in), &used, &reply),
	    FCGI_REQUEST_READY);
	cr_assert_eq(used, sizeof(in));
	fcgi_parser_take(&p, &r);
	cr_assert_eq(r.nparams, 0);
	cr_assert_null(r.params);
	cr_assert_null(fcgi_request_param(&r, "X"));
	cr_assert_eq(r.body.len, 2);
	fcgi_request_cleanup(&r);
	fcgi_parser_cleanup(&p);
	buf_cleanup(&reply);
}

Test(fcgi_parse, ready_includes_padding_of_last_record)
{
	struct fcgi_parser p;
	struct sticky_buf b, reply;
	size_t used;

	buf_init(&b);
	buf_init(&reply);
	cr_assert_eq(fcgi_write_begin(&b, 1, FCGI_RESPONDER, 0), 0);
	cr_assert_eq(fcgi_write_params(&b, 1, std_params, NSTD), 0);
	/* Empty STDIN record with 3 padding bytes. */
	cr_assert_eq(buf_append(&b, "\1\5\0\1\0\0\3\0\0\0\0", 11), 0);
	fcgi_parser_init(&p, &lim);
	cr_assert_eq(fcgi_parser_feed(&p, b.data, b.len - 1, &used, &reply),
	    FCGI_NEED_MORE, "the padding is still missing");
	cr_assert_eq(fcgi_parser_feed(&p, b.data + b.len - 1, 1, &used,
	    &reply), FCGI_REQUEST_READY);
	cr_assert_eq(used, 1);
	fcgi_parser_cleanup(&p);
	buf_cleanup(&b);
	buf_cleanup(&reply);
}

Test(fcgi_parse, take_without_request_and_null_limits)
{
	struct fcgi_parser p;
	struct fcgi_request r;

	fcgi_parser_init(&p, NULL);
	cr_assert_eq(p.lim.max_params, FCGI_DEFAULT_MAX_PARAMS);
	cr_assert_eq(p.lim.max_nparams, FCGI_DEFAULT_MAX_NPARAMS);
	cr_assert_eq(p.lim.max_body, FCGI_DEFAULT_MAX_BODY);
	fcgi_parser_take(&p, &r);
	cr_assert_eq(r.id, 0);
	cr_assert_eq(r.nparams, 0);
	cr_assert_null(r.params);
	cr_assert_eq(fcgi_parser_request_id(&p), 0);
	fcgi_request_cleanup(&r);
	fcgi_parser_cleanup(&p);
}

/* ---- management records, refused and aborted requests ---- */

Test(fcgi_mgmt, get_values_reply)
{
	struct fcgi_parser p;
	struct sticky_buf b, enc, reply;
	const unsigned char *d;
	size_t used, off, clen;
	char got[256];

	buf_init(&b);
	buf_init(&enc);
	buf_init(&reply);
	cr_assert_eq(fcgi_encode_pair(&enc, "FCGI_MPXS_CONNS", 15, "", 0), 0);
	cr_assert_eq(fcgi_encode_pair(&enc, "NOT_A_VALUE", 11, "", 0), 0);
	cr_assert_eq(fcgi_encode_pair(&enc, "FCGI_MAX_CONNS", 14, "", 0), 0);
	cr_assert_eq(fcgi_encode_pair(&enc, "FCGI_MAX_REQS", 13, "", 0), 0);
	cr_assert_eq(fcgi_encode_pair(&enc, "FCGI_MAX_CONNS", 14, "", 0), 0);
	cr_assert_eq(fcgi_write_record(&b, FCGI_GET_VALUES, 0, enc.data,
	    enc.len), 0);
	fcgi_parser_init(&p, &lim);
	cr_assert_eq(fcgi_parser_feed(&p, b.data, b.len, &used, &reply),
	    FCGI_NEED_MORE);
	cr_assert_eq(used, b.len);
	cr_assert(fcgi_parser_idle(&p));

	d = reply.data;
	cr_assert_geq(reply.len, 8);
	cr_assert_eq(d[0], 1);
	cr_assert_eq(d[1], FCGI_GET_VALUES_RESULT);
	cr_assert_eq(d[2] | d[3], 0, "management replies use id 0");
	clen = (size_t)d[4] << 8 | d[5];
	cr_assert_eq(reply.len, 8 + clen + d[6], "exactly one record");
	/* Pairs with 1-byte lengths, rendered "name=value;". */
	got[0] = '\0';
	for (off = 8; off < 8 + clen;) {
		size_t nl = d[off], vl = d[off + 1];

		cr_assert_lt(nl, 128);
		cr_assert_lt(vl, 128);
		snprintf(got + strlen(got), sizeof(got) - strlen(got),
		    "%.*s=%.*s;", (int)nl, (const char *)d + off + 2, (int)vl,
		    (const char *)d + off + 2 + nl);
		off += 2 + nl + vl;
	}
	cr_assert_str_eq(got,
	    "FCGI_MPXS_CONNS=0;FCGI_MAX_CONNS=64;FCGI_MAX_REQS=64;");
	fcgi_parser_cleanup(&p);
	buf_cleanup(&b);
	buf_cleanup(&enc);
	buf_cleanup(&reply);
}

Test(fcgi_mgmt, unknown_management_type)
{
	struct fcgi_parser p;
	struct sticky_buf reply;
	const unsigned char in[] = { 1, 42, 0, 0, 0, 3, 5, 0, 'a', 'b', 'c',
		0, 0, 0, 0, 0 };
	size_t used;

	buf_init(&reply);
	fcgi_parser_init(&p, &lim);
	cr_assert_eq(fcgi_parser_feed(&p, in, sizeof(in), &used, &reply),
	    FCGI_NEED_MORE);
	cr_assert_eq(reply.len, 16);
	cr_assert_eq(memcmp(reply.data,
	    "\1\13\0\0\0\10\0\0\52\0\0\0\0\0\0\0", 16), 0);
	fcgi_parser_cleanup(&p);
	buf_cleanup(&reply);
}

Test(fcgi_mgmt, cant_mpx_conn)
{
	struct fcgi_parser p;
	struct fcgi_request r;
	struct sticky_buf b, reply;
	const struct fcgi_param other[] = { P("REQUEST_URI", "/intruder") };
	size_t used;

	buf_init(&b);
	buf_init(&reply);
	cr_assert_eq(fcgi_write_begin(&b, 1, FCGI_RESPONDER, 0), 0);
	cr_assert_eq(fcgi_write_begin(&b, 2, FCGI_RESPONDER, 0), 0);
	cr_assert_eq(fcgi_write_params(&b, 2, other, 1), 0);
	cr_assert_eq(fcgi_write_params(&b, 1, std_params, NSTD), 0);
	cr_assert_eq(fcgi_write_stdin(&b, 2, "ignored", 7), 0);
	cr_assert_eq(fcgi_write_stdin(&b, 1, "mine", 4), 0);
	fcgi_parser_init(&p, &lim);
	cr_assert_eq(feed_chunked(&p, b.data, b.len, 3, &reply, &used),
	    FCGI_REQUEST_READY, "%s", p.why);
	cr_assert_eq(used, b.len);
	cr_assert_eq(reply.len, 16);
	expect_end_request(&reply, 0, 2, FCGI_CANT_MPX_CONN);
	fcgi_parser_take(&p, &r);
	cr_assert_eq(r.id, 1);
	check_params(&r, std_params, NSTD);
	cr_assert_eq(r.body.len, 4);
	cr_assert_eq(memcmp(r.body.data, "mine", 4), 0);
	fcgi_request_cleanup(&r);

	/* Request 2's streams ended: a record for it now is an error. */
	buf_reset(&b);
	cr_assert_eq(fcgi_write_record(&b, FCGI_STDIN, 2, "x", 1), 0);
	cr_assert_eq(fcgi_parser_feed(&p, b.data, b.len, &used, &reply),
	    STICKY_EPROTO);
	cr_assert(strstr(p.why, "STDIN for request 2") != NULL, "%s", p.why);
	fcgi_parser_cleanup(&p);
	buf_cleanup(&b);
	buf_cleanup(&reply);
}

Test(fcgi_mgmt, refused_set_is_bounded)
{
	struct fcgi_parser p;
	struct sticky_buf b, reply;
	size_t used;
	unsigned id;

	buf_init(&b);
	buf_init(&reply);
	cr_assert_eq(fcgi_write_begin(&b, 1, FCGI_RESPONDER, 0), 0);
	for (id = 2; id < 2 + FCGI_MAX_REJECTED; id++)
		cr_assert_eq(fcgi_write_begin(&b, (uint16_t)id, FCGI_RESPONDER,
		    0), 0);
	fcgi_parser_init(&p, &lim);
	cr_assert_eq(fcgi_parser_feed(&p, b.data, b.len, &used, &reply),
	    FCGI_NEED_MORE);
	cr_assert_eq(reply.len, 16 * FCGI_MAX_REJECTED);
	buf_reset(&b);
	cr_assert_eq(fcgi_write_begin(&b, 100, FCGI_RESPONDER, 0), 0);
	cr_assert_eq(fcgi_parser_feed(&p, b.data, b.len, &used, &reply),
	    STICKY_EPROTO);
	cr_assert(strstr(p.why, "refused requests") != NULL, "%s", p.why);
	cr_assert_eq(fcgi_parser_feed(&p, b.data, b.len, &used, &reply),
	    STICKY_EPROTO, "errors are final");
	cr_assert_eq(used, 0);
	fcgi_parser_cleanup(&p);
	buf_cleanup(&b);
	buf_cleanup(&reply);
}

Test(fcgi_mgmt, unknown_role)
{
	struct fcgi_parser p;
	struct fcgi_request r;
	struct sticky_buf b, reply;
	size_t used;

	buf_init(&b);
	buf_init(&reply);
	/* An AUTHORIZER request (role 2), then a responder on the same id. */
	cr_assert_eq(fcgi_write_begin(&b, 1, 2, 0), 0);
	cr_assert_eq(fcgi_write_params(&b, 1, std_params, NSTD), 0);
	cr_assert_eq(fcgi_write_stdin(&b, 1, "zz", 2), 0);
	build_request(&b, 1, 0, std_params, 2, "ok", 2);
	fcgi_parser_init(&p, &lim);
	cr_assert_eq(fcgi_parser_feed(&p, b.data, b.len, &used, &reply),
	    FCGI_REQUEST_READY, "%s", p.why);
	cr_assert_eq(used, b.len);
	cr_assert_eq(reply.len, 16);
	expect_end_request(&reply, 0, 1, FCGI_UNKNOWN_ROLE);
	fcgi_parser_take(&p, &r);
	cr_assert_eq(r.nparams, 2);
	cr_assert_eq(r.body.len, 2);
	fcgi_request_cleanup(&r);
	fcgi_parser_cleanup(&p);
	buf_cleanup(&b);
	buf_cleanup(&reply);
}

Test(fcgi_mgmt, abort_request)
{
	struct fcgi_parser p;
	struct fcgi_request r;
	struct sticky_buf b, reply;
	size_t used;

	buf_init(&b);
	buf_init(&reply);
	cr_assert_eq(fcgi_write_begin(&b, 5, FCGI_RESPONDER, 1), 0);
	cr_assert_eq(fcgi_write_params(&b, 5, std_params, NSTD), 0);
	cr_assert_eq(fcgi_write_record(&b, FCGI_STDIN, 5, "partial", 7), 0);
	cr_assert_eq(fcgi_write_record(&b, FCGI_ABORT_REQUEST, 5, NULL, 0), 0);
	fcgi_parser_init(&p, &lim);
	cr_assert_eq(fcgi_parser_feed(&p, b.data, b.len, &used, &reply),
	    FCGI_NEED_MORE);
	cr_assert_eq(p.aborted, 1);
	cr_assert(fcgi_parser_idle(&p));
	cr_assert_eq(reply.len, 16);
	expect_end_request(&reply, 0, 5, FCGI_REQUEST_COMPLETE);

	/* The connection goes on with the next request. */
	buf_reset(&b);
	buf_reset(&reply);
	build_request(&b, 5, 0, std_params, NSTD, NULL, 0);
	cr_assert_eq(fcgi_parser_feed(&p, b.data, b.len, &used, &reply),
	    FCGI_REQUEST_READY);
	fcgi_parser_take(&p, &r);
	cr_assert_eq(r.body.len, 0, "nothing of the aborted body is left");
	fcgi_request_cleanup(&r);

	/* A late ABORT for the request just taken is a race, not an error. */
	buf_reset(&b);
	cr_assert_eq(fcgi_write_record(&b, FCGI_ABORT_REQUEST, 5, NULL, 0), 0);
	cr_assert_eq(fcgi_parser_feed(&p, b.data, b.len, &used, &reply),
	    FCGI_NEED_MORE);
	cr_assert_eq(p.aborted, 1);
	cr_assert_eq(reply.len, 0);
	/* For an id never seen, it is. */
	buf_reset(&b);
	cr_assert_eq(fcgi_write_record(&b, FCGI_ABORT_REQUEST, 6, NULL, 0), 0);
	cr_assert_eq(fcgi_parser_feed(&p, b.data, b.len, &used, &reply),
	    STICKY_EPROTO);
	fcgi_parser_cleanup(&p);
	buf_cleanup(&b);
	buf_cleanup(&reply);
}

/* ---- hostile input ---- */

/* Feed raw bytes to a fresh parser; returns the result and keeps why. */
static int
feed_raw(const void *data, size_t len, const struct fcgi_limits *l,
    char *why, size_t whylen)
{
	struct fcgi_parser p;
	struct sticky_buf reply;
	size_t used;
	int rc;

	buf_init(&reply);
	fcgi_parser_init(&p, l);
	rc = fcgi_parser_feed(&p, data, len, &used, &reply);
	snprintf(why, whylen, "%s", p.why);
	fcgi_parser_cleanup(&p);
	buf_cleanup(&reply);
	return rc;
}

/* BEGIN_REQUEST id 1, then a PARAMS record holding `content`. */
static void
params_record(struct sticky_buf *b, const void *content, size_t len)
{
	cr_assert_eq(fcgi_write_begin(b, 1, FCGI_RESPONDER, 0), 0);
	cr_assert_eq(fcgi_write_record(b, FCGI_PARAMS, 1, content, len), 0);
}

#define EXPECT(b, err, text)                                              \
	do {                                                              \
		char why_[128];                                           \
		cr_assert_eq(feed_raw((b)->data, (b)->len, &lim, why_,    \
		    sizeof(why_)), err, "%s", why_);                      \
		cr_assert(strstr(why_, text) != NULL, "why: %s", why_);   \
	} while (0)

Test(fcgi_hostile, libfcgi_killer_lengths)
{
	struct fcgi_parser p;
	struct fcgi_limits huge = { SIZE_MAX, SIZE_MAX, SIZE_MAX };
	struct sticky_buf b, reply;
	const unsigned char killer[] = { 0xff, 0xff, 0xff, 0xfe, 0xff, 0xff,
		0xff, 0xfe, 'A', 'A', 'A', 'A', 'A', 'A', 'A', 'A' };
	size_t used;
	int64_t t0 = now_ms();

	buf_init(&b);
	buf_init(&reply);
	params_record(&b, killer, sizeof(killer));
	EXPECT(&b, STICKY_ETOOBIG, "2147483646-byte name");

	/*
	 * Even with no limit at all the parser never allocates from a
	 * declared length: it buffers only the bytes that actually came.
	 */
	fcgi_parser_init(&p, &huge);
	cr_assert_eq(fcgi_parser_feed(&p, b.data, b.len, &used, &reply),
	    FCGI_NEED_MORE);
	cr_assert_leq(p.req.pstream.cap, 64, "cap %zu", p.req.pstream.cap);
	fcgi_parser_cleanup(&p);

	/* With limits the pair is refused before a byte of it is buffered. */
	fcgi_parser_init(&p, &lim);
	cr_assert_eq(fcgi_parser_feed(&p, b.data, b.len, &used, &reply),
	    STICKY_ETOOBIG);
	cr_assert_eq(p.req.pstream.cap, 0);
	cr_assert_eq(fcgi_parser_request_id(&p), 1, "the request to answer");
	cr_assert_eq(p.body_too_big, 0, "431, not 413");
	fcgi_parser_cleanup(&p);
	cr_assert_lt(now_ms() - t0, 1000);
	buf_cleanup(&b);
	buf_cleanup(&reply);
}

Test(fcgi_hostile, params_record_over_limit_rejected_at_header)
{
	struct fcgi_limits small = { 100, 10, 100 };
	struct fcgi_parser p;
	struct sticky_buf b, reply;
	unsigned char pad[200];
	size_t used;

	memset(pad, 1, sizeof(pad));
	buf_init(&b);
	buf_init(&reply);
	params_record(&b, pad, sizeof(pad));
	fcgi_parser_init(&p, &small);
	/* Only BEGIN and the PARAMS header: the content never arrives. */
	cr_assert_eq(fcgi_parser_feed(&p, b.data, 24, &used, &reply),
	    STICKY_ETOOBIG);
	cr_assert_eq(used, 24);
	cr_assert(strstr(p.why, "stream over max_params 100") != NULL, "%s",
	    p.why);
	fcgi_parser_cleanup(&p);
	buf_cleanup(&b);
	buf_cleanup(&reply);
}

Test(fcgi_hostile, truncated_pair_at_end_of_params)
{
	struct sticky_buf b;

	buf_init(&b);
	params_record(&b, "\4\5NAMEval", 9);
	cr_assert_eq(fcgi_write_record(&b, FCGI_PARAMS, 1, NULL, 0), 0);
	EXPECT(&b, STICKY_EPROTO, "truncated pair");
	buf_reset(&b);
	params_record(&b, "\4\200\0", 3); /* stream ends inside a length */
	cr_assert_eq(fcgi_write_record(&b, FCGI_PARAMS, 1, NULL, 0), 0);
	EXPECT(&b, STICKY_EPROTO, "truncated pair");
	buf_cleanup(&b);
}

Test(fcgi_hostile, wrong_versions)
{
	const unsigned char v0[] = { 0, 1, 0, 1, 0, 8, 0, 0 };
	const unsigned char v2[] = { 2, 1, 0, 1, 0, 8, 0, 0 };
	char why[128];

	cr_assert_eq(feed_raw(v0, 8, &lim, why, sizeof(why)), STICKY_EPROTO);
	cr_assert_str_eq(why, "record version 0, want 1");
	cr_assert_eq(feed_raw(v2, 8, &lim, why, sizeof(why)), STICKY_EPROTO);
	cr_assert_str_eq(why, "record version 2, want 1");
	cr_assert_eq(feed_raw(v2, 7, &lim, why, sizeof(why)), FCGI_NEED_MORE,
	    "nothing is judged before the header is whole");
}

Test(fcgi_hostile, unknown_type_on_request)
{
	struct sticky_buf b;

	buf_init(&b);
	params_record(&b, NULL, 0);
	cr_assert_eq(fcgi_write_record(&b, 42, 1, NULL, 0), 0);
	EXPECT(&b, STICKY_EPROTO, "unknown record type 42 on request id 1");
	buf_cleanup(&b);
}

Test(fcgi_hostile, application_types_sent_to_us)
{
	const enum fcgi_type t[] = { FCGI_STDOUT, FCGI_STDERR,
		FCGI_END_REQUEST, FCGI_GET_VALUES_RESULT, FCGI_UNKNOWN_TYPE };
	struct sticky_buf b;
	size_t i;

	buf_init(&b);
	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		buf_reset(&b);
		cr_assert_eq(fcgi_write_record(&b, t[i], 1, "12345678", 8), 0);
		EXPECT(&b, STICKY_EPROTO, "sent to the application");
	}
	buf_cleanup(&b);
}

Test(fcgi_hostile, stdin_before_params_end)
{
	struct sticky_buf b;

	buf_init(&b);
	params_record(&b, "\1\1ab", 4);
	cr_assert_eq(fcgi_write_record(&b, FCGI_STDIN, 1, "x", 1), 0);
	EXPECT(&b, STICKY_EPROTO, "STDIN before the PARAMS stream ended");
	buf_cleanup(&b);
}

Test(fcgi_hostile, params_after_params_end)
{
	struct sticky_buf b;

	buf_init(&b);
	cr_assert_eq(fcgi_write_begin(&b, 1, FCGI_RESPONDER, 0), 0);
	cr_assert_eq(fcgi_write_params(&b, 1, std_params, NSTD), 0);
	cr_assert_eq(fcgi_write_record(&b, FCGI_PARAMS, 1, "\1\1ab", 4), 0);
	EXPECT(&b, STICKY_EPROTO, "PARAMS after the PARAMS stream ended");
	buf_cleanup(&b);
}

Test(fcgi_hostile, oversized_body)
{
	struct fcgi_limits small = { 1000, 10, 10 };
	struct fcgi_parser p;
	struct sticky_buf b, reply;
	size_t used;

	buf_init(&b);
	buf_init(&reply);
	cr_assert_eq(fcgi_write_begin(&b, 3, FCGI_RESPONDER, 0), 0);
	cr_assert_eq(fcgi_write_params(&b, 3, std_params, NSTD), 0);
	cr_assert_eq(fcgi_write_record(&b, FCGI_STDIN, 3, "0123456789", 10),
	    0);
	cr_assert_eq(fcgi_write_record(&b, FCGI_STDIN, 3, "x", 1), 0);
	cr_assert_eq(fcgi_write_record(&b, FCGI_STDIN, 3, NULL, 0), 0);
	fcgi_parser_init(&p, &small);
	cr_assert_eq(fcgi_parser_feed(&p, b.data, b.len, &used, &reply),
	    STICKY_ETOOBIG);
	cr_assert(strstr(p.why, "body over max_body 10") != NULL, "%s", p.why);
	cr_assert_eq(p.body_too_big, 1);
	cr_assert_eq(fcgi_parser_request_id(&p), 3);
	cr_assert_eq(p.req.body.len, 10, "exactly max_body is allowed");
	fcgi_parser_cleanup(&p);
	buf_cleanup(&b);
	buf_cleanup(&reply);
}

Test(fcgi_hostile, too_many_params)
{
	struct fcgi_limits small = { 1000, 3, 1000 };
	struct sticky_buf b;
	char why[128];

	buf_init(&b);
	params_record(&b, "\1\0A\1\0B\1\0C", 9);
	cr_assert_eq(fcgi_write_record(&b, FCGI_PARAMS, 1, NULL, 0), 0);
	cr_assert_eq(fcgi_write_record(&b, FCGI_STDIN, 1, NULL, 0), 0);
	cr_assert_eq(feed_raw(b.data, b.len, &small, why, sizeof(why)),
	    FCGI_REQUEST_READY, "exactly max_nparams is allowed: %s", why);
	buf_reset(&b);
	params_record(&b, "\1\0A\1\0B\1\0C\1\0D", 12);
	cr_assert_eq(feed_raw(b.data, b.len, &small, why, sizeof(why)),
	    STICKY_ETOOBIG);
	cr_assert(strstr(why, "more than max_nparams 3") != NULL, "%s", why);
	buf_cleanup(&b);
}

Test(fcgi_hostile, bad_names_and_values)
{
	struct sticky_buf b;

	buf_init(&b);
	params_record(&b, "\0\1v", 3);
	EXPECT(&b, STICKY_EPROTO, "param 1 has an empty name");
	buf_reset(&b);
	params_record(&b, "\1\1ab\3\1N\0Mv", 10);
	EXPECT(&b, STICKY_EPROTO, "NUL byte in the name of param 2");
	buf_reset(&b);
	params_record(&b, "\1\3Av\0l", 6);
	EXPECT(&b, STICKY_EPROTO, "NUL byte in the value of param 1");
	buf_cleanup(&b);
}

Test(fcgi_hostile, begin_request_content_length)
{
	struct sticky_buf b;

	buf_init(&b);
	cr_assert_eq(fcgi_write_record(&b, FCGI_BEGIN_REQUEST, 1,
	    "\0\1\0\0\0\0\0", 7), 0);
	EXPECT(&b, STICKY_EPROTO, "BEGIN_REQUEST with 7 content bytes");
	buf_reset(&b);
	cr_assert_eq(fcgi_write_record(&b, FCGI_BEGIN_REQUEST, 1,
	    "\0\1\0\0\0\0\0\0\0", 9), 0);
	EXPECT(&b, STICKY_EPROTO, "BEGIN_REQUEST with 9 content bytes");
	buf_reset(&b);
	cr_assert_eq(fcgi_write_begin(&b, 0, FCGI_RESPONDER, 0), 0);
	EXPECT(&b, STICKY_EPROTO, "BEGIN_REQUEST on request id 0");
	buf_reset(&b);
	cr_assert_eq(fcgi_write_begin(&b, 4, FCGI_RESPONDER, 0), 0);
	cr_assert_eq(fcgi_write_begin(&b, 4, FCGI_RESPONDER, 0), 0);
	EXPECT(&b, STICKY_EPROTO, "request 4 already in progress");
	buf_cleanup(&b);
}

Test(fcgi_hostile, records_for_wrong_requests)
{
	struct sticky_buf b;

	buf_init(&b);
	cr_assert_eq(fcgi_write_record(&b, FCGI_PARAMS, 1, NULL, 0), 0);
	EXPECT(&b, STICKY_EPROTO, "PARAMS for request 1, which is not");
	buf_reset(&b);
	params_record(&b, NULL, 0);
	cr_assert_eq(fcgi_write_record(&b, FCGI_STDIN, 0, NULL, 0), 0);
	EXPECT(&b, STICKY_EPROTO, "STDIN on request id 0");
	buf_reset(&b);
	cr_assert_eq(fcgi_write_record(&b, FCGI_GET_VALUES, 1, NULL, 0), 0);
	EXPECT(&b, STICKY_EPROTO, "GET_VALUES on request id 1");
	buf_reset(&b);
	cr_assert_eq(fcgi_write_record(&b, FCGI_GET_VALUES, 0, "\x0e", 1), 0);
	EXPECT(&b, STICKY_EPROTO, "GET_VALUES: truncated length");
	buf_reset(&b);
	cr_assert_eq(fcgi_write_record(&b, FCGI_GET_VALUES, 0, "\x7f\0AB", 4),
	    0);
	EXPECT(&b, STICKY_EPROTO, "GET_VALUES: pair runs past the record");
	buf_reset(&b);
	params_record(&b, NULL, 0);
	cr_assert_eq(fcgi_write_record(&b, FCGI_ABORT_REQUEST, 1, "xxxxxxxx",
	    8), 0);
	EXPECT(&b, STICKY_EPROTO, "ABORT_REQUEST with 8 content bytes");
	buf_cleanup(&b);
}

/*
 * Every allocation of a parse fails in turn: the parser reports
 * STICKY_ENOMEM, never half a request, and leaks nothing (valgrind).
 */
Test(fcgi_hostile, allocation_failures)
{
	struct fcgi_parser p;
	struct fcgi_request r;
	struct sticky_buf b, enc, reply;
	unsigned long n;
	size_t used;
	int rc, ok = 0;

	buf_init(&b);
	buf_init(&enc);
	cr_assert_eq(fcgi_encode_pair(&enc, "FCGI_MAX_REQS", 13, "", 0), 0);
	cr_assert_eq(fcgi_write_record(&b, FCGI_GET_VALUES, 0, enc.data,
	    enc.len), 0);
	build_request(&b, 1, 0, std_params, NSTD, "body", 4);
	for (n = 1; n < 100 && !ok; n++) {
		buf_init(&reply);
		fcgi_parser_init(&p, &lim);
		alloc_fail_after(n);
		rc = feed_chunked(&p, b.data, b.len, 5, &reply, &used);
		alloc_fail_after(0);
		if (rc == FCGI_REQUEST_READY) {
			fcgi_parser_take(&p, &r);
			check_params(&r, std_params, NSTD);
			fcgi_request_cleanup(&r);
			ok = 1;
		} else {
			cr_assert_eq(rc, STICKY_ENOMEM, "n=%lu: %d %s", n, rc,
			    p.why);
			cr_assert_str_eq(p.why, "out of memory");
		}
		fcgi_parser_cleanup(&p);
		buf_cleanup(&reply);
	}
	cr_assert(ok, "some allocation budget must suffice");
	cr_assert_gt(n, 3, "the first allocations were made to fail");
	buf_cleanup(&b);
	buf_cleanup(&enc);
}

/* ---- the response parser ---- */

static void
build_response(struct sticky_buf *b, uint16_t id, const char *out)
{
	cr_assert_eq(fcgi_write_stream(b, FCGI_STDOUT, id, out, strlen(out)),
	    0);
	cr_assert_eq(fcgi_write_stream(b, FCGI_STDERR, id, "warn", 4), 0);
	cr_assert_eq(fcgi_write_record(b, FCGI_STDERR, id, NULL, 0), 0);
	cr_assert_eq(fcgi_write_end(b, id, 3, FCGI_REQUEST_COMPLETE), 0);
}

/*
 * The framer the parser, the response reader and fcgi-req share: fed one
 * byte at a time or all at once, the same events in the same order, the
 * same content, and idle only between records.
 */
static void
frame_walk(const struct sticky_buf *in, size_t step, struct sticky_buf *log)
{
	struct fcgi_frame fr;
	const unsigned char *chunk;
	size_t off = 0, end, n;
	enum fcgi_frame_event ev;

	memset(&fr, 0, sizeof(fr));
	for (end = step < in->len ? step : in->len;; end += step) {
		if (end > in->len)
			end = in->len;
		while ((ev = fcgi_frame_next(&fr, in->data, end, &off, &chunk,
		    &n)) != FCGI_FRAME_MORE) {
			if (ev == FCGI_FRAME_HEADER) {
				cr_assert(!fcgi_frame_idle(&fr));
				buf_printf(log, "[%s %u %zu]", fcgi_type_name(fr.type),
				    fr.id, fr.clen);
			} else if (ev == FCGI_FRAME_CONTENT)
				buf_append(log, chunk, n);
			else {
				cr_assert(fcgi_frame_idle(&fr));
				buf_puts(log, "[end]");
			}
		}
		cr_assert_eq(off, end, "every byte given is consumed");
		if (end == in->len)
			break;
	}
}

Test(fcgi_frame, same_events_whatever_the_split)
{
	struct sticky_buf in, all, one, three;
	const char *want = "[STDOUT 7 5]hello[end][STDERR 7 0][end]"
	    "[STDOUT 7 0][end][END_REQUEST 7 8]";

	buf_init(&in);
	buf_init(&all);
	buf_init(&one);
	buf_init(&three);
	cr_assert_eq(fcgi_write_record(&in, FCGI_STDOUT, 7, "hello", 5), 0);
	cr_assert_eq(fcgi_write_record(&in, FCGI_STDERR, 7, NULL, 0), 0);
	cr_assert_eq(fcgi_write_end(&in, 7, 0, FCGI_REQUEST_COMPLETE), 0);
	frame_walk(&in, in.len, &all);
	frame_walk(&in, 1, &one);
	frame_walk(&in, 3, &three);
	/* fcgi_write_end adds an empty STDOUT, then END_REQUEST's 8 bytes. */
	cr_assert_eq(all.len, strlen(want) + 8 + strlen("[end]"), "%s",
	    (char *)all.data);
	cr_assert(memcmp(all.data, want, strlen(want)) == 0, "%s",
	    (char *)all.data);
	cr_assert_eq(one.len, all.len);
	cr_assert(memcmp(one.data, all.data, all.len) == 0);
	cr_assert_eq(three.len, all.len);
	cr_assert(memcmp(three.data, all.data, all.len) == 0);
	buf_cleanup(&in);
	buf_cleanup(&all);
	buf_cleanup(&one);
	buf_cleanup(&three);
}

Test(fcgi_response, parse_byte_by_byte)
{
	struct fcgi_response r;
	struct sticky_buf b;
	const unsigned char *body;
	char v[64];
	size_t i, len;
	int st;

	buf_init(&b);
	build_response(&b, 1, "Status: 404 Not Found\r\n"
	    "Content-Type: text/plain\r\nset-cookie:  a=b; Path=/  \r\n"
	    "Set-Cookie: c=d\r\n\r\nno such thing\r\n\r\nreally");
	fcgi_response_init(&r);
	for (i = 0; i < b.len; i++) {
		cr_assert_not(r.done);
		cr_assert_eq(fcgi_response_feed(&r, b.data + i, 1), 0, "%s",
		    r.why);
	}
	cr_assert(r.done);
	cr_assert_eq(r.app_status, 3);
	cr_assert_eq(r.proto_status, FCGI_REQUEST_COMPLETE);
	cr_assert_eq(r.err.len, 4);
	cr_assert_eq(fcgi_response_status(&r, &st), 0);
	cr_assert_eq(st, 404);
	cr_assert_eq(fcgi_response_header(&r, "content-TYPE", v, sizeof(v)), 0);
	cr_assert_str_eq(v, "text/plain");
	cr_assert_eq(fcgi_response_header(&r, "Set-Cookie", v, sizeof(v)), 0);
	cr_assert_str_eq(v, "a=b; Path=/", "first one, blanks trimmed");
	cr_assert_eq(fcgi_response_header(&r, "Set-Cookie", v, 5),
	    STICKY_ETOOBIG);
	cr_assert_eq(fcgi_response_header(&r, "X-None", v, sizeof(v)),
	    STICKY_ENOENT);
	body = fcgi_response_body(&r, &len);
	cr_assert_eq(len, strlen("no such thing\r\n\r\nreally"));
	cr_assert_eq(memcmp(body, "no such thing\r\n\r\nreally", len), 0);
	fcgi_response_cleanup(&r);
	buf_cleanup(&b);
}

Test(fcgi_response, default_status_and_bare_newlines)
{
	struct fcgi_response r;
	struct sticky_buf b;
	const char *n, *v;
	size_t pos = 0, nl, vl, len;
	int st, count = 0;

	buf_init(&b);
	build_response(&b, 7, "Content-Type: text/html\nX-A: 1\n\n<p>");
	fcgi_response_init(&r);
	cr_assert_eq(fcgi_response_feed(&r, b.data, b.len), 0);
	cr_assert_eq(fcgi_response_status(&r, &st), 0);
	cr_assert_eq(st, 200);
	while (fcgi_response_header_next(&r, &pos, &n, &nl, &v, &vl) == 1)
		count++;
	cr_assert_eq(count, 2);
	cr_assert_str_eq((const char *)fcgi_response_body(&r, &len), "<p>");
	fcgi_response_cleanup(&r);
	buf_cleanup(&b);
}

Test(fcgi_response, bad_header_blocks)
{
	struct fcgi_response r;
	struct sticky_buf b;
	char v[16];
	size_t len;
	int st;

	buf_init(&b);
	build_response(&b, 1, "Content-Type: text/html\r\nno blank line");
	fcgi_response_init(&r);
	cr_assert_eq(fcgi_response_feed(&r, b.data, b.len), 0);
	cr_assert_eq(fcgi_response_status(&r, &st), STICKY_EPROTO);
	cr_assert_eq(fcgi_response_header(&r, "Content-Type", v, sizeof(v)),
	    STICKY_EPROTO);
	cr_assert_null(fcgi_response_body(&r, &len));
	cr_assert_eq(len, 0);
	fcgi_response_cleanup(&r);

	buf_reset(&b);
	build_response(&b, 1, "Status: 99x\r\n\r\n");
	fcgi_response_init(&r);
	cr_assert_eq(fcgi_response_feed(&r, b.data, b.len), 0);
	cr_assert_eq(fcgi_response_status(&r, &st), STICKY_EPROTO);
	fcgi_response_cleanup(&r);

	buf_reset(&b);
	build_response(&b, 1, "no colon here\r\n\r\n");
	fcgi_response_init(&r);
	cr_assert_eq(fcgi_response_feed(&r, b.data, b.len), 0);
	cr_assert_eq(fcgi_response_status(&r, &st), STICKY_EPROTO);
	fcgi_response_cleanup(&r);
	buf_cleanup(&b);
}

/* Feed a response made of `bytes`; expect an error whose why has `text`. */
static void
response_fails(const void *bytes, size_t len, int err, const char *text)
{
	struct fcgi_response r;

	fcgi_response_init(&r);
	cr_assert_eq(fcgi_response_feed(&r, bytes, len), err, "%s", r.why);
	cr_assert(strstr(r.why, text) != NULL, "why: %s", r.why);
	cr_assert_eq(fcgi_response_feed(&r, "", 1), err, "errors are final");
	fcgi_response_cleanup(&r);
}

Test(fcgi_response, malformed)
{
	struct sticky_buf b;

	buf_init(&b);
	cr_assert_eq(fcgi_write_record(&b, FCGI_END_REQUEST, 1, "\0\0\0\0\0\0\0",
	    7), 0);
	response_fails(b.data, b.len, STICKY_EPROTO, "END_REQUEST with 7");
	response_fails("\2\6\0\1\0\0\0\0", 8, STICKY_EPROTO, "version 2");
	response_fails("\1\5\0\1\0\0\0\0", 8, STICKY_EPROTO, "unexpected STDIN");
	response_fails("\1\6\0\0\0\0\0\0", 8, STICKY_EPROTO, "request id 0");
	response_fails("\1\6\0\1\0\0\0\0\1\6\0\2\0\0\0\0", 16, STICKY_EPROTO,
	    "record for request 2");
	response_fails("\1\6\0\1\0\0\0\0\1\6\0\1\0\1\7\0x", 17, STICKY_EPROTO,
	    "STDOUT after the end");
	buf_reset(&b);
	cr_assert_eq(fcgi_write_end(&b, 1, 0, FCGI_REQUEST_COMPLETE), 0);
	cr_assert_eq(buf_append(&b, "\1", 1), 0);
	response_fails(b.data, b.len, STICKY_EPROTO, "after END_REQUEST");
	buf_reset(&b);
	cr_assert_eq(fcgi_write_record(&b, FCGI_END_REQUEST, 1,
	    "\0\0\0\0\11\0\0\0", 8), 0);
	response_fails(b.data, b.len, STICKY_EPROTO, "protocol status 9");
	buf_cleanup(&b);
}

Test(fcgi_response, refusal_without_stdout)
{
	struct fcgi_response r;
	struct sticky_buf b;
	int st;

	buf_init(&b);
	cr_assert_eq(fcgi_write_record(&b, FCGI_END_REQUEST, 2,
	    "\0\0\0\0\1\0\0\0", 8), 0);
	fcgi_response_init(&r);
	cr_assert_eq(fcgi_response_feed(&r, b.data, b.len), 0);
	cr_assert(r.done);
	cr_assert_eq(r.proto_status, FCGI_CANT_MPX_CONN);
	cr_assert_eq(fcgi_response_status(&r, &st), STICKY_EPROTO);
	fcgi_response_cleanup(&r);
	buf_cleanup(&b);
}

/* ---- the corpus of hostile byte streams ---- */

struct corpus_result {
	int rc;            /* final result: error or FCGI_NEED_MORE */
	size_t consumed;
	size_t requests;
	int idle;
	unsigned req_id;   /* on error: the request being read */
	char why[128];
	size_t reply_len;
};

static void
corpus_run(const unsigned char *d, size_t len, size_t chunk,
    struct corpus_result *res)
{
	struct fcgi_parser p;
	struct fcgi_request r;
	struct sticky_buf reply;
	size_t off = 0, n, used;
	int rc = FCGI_NEED_MORE;

	memset(res, 0, sizeof(*res));
	buf_init(&reply);
	fcgi_parser_init(&p, &lim);
	while (off < len) {
		n = len - off < chunk ? len - off : chunk;
		rc = fcgi_parser_feed(&p, d + off, n, &used, &reply);
		off += used;
		if (rc < 0)
			break;
		if (rc == FCGI_REQUEST_READY) {
			fcgi_parser_take(&p, &r);
			cr_assert_eq(r.nparams == 0, r.params == NULL);
			fcgi_request_cleanup(&r);
			res->requests++;
			rc = FCGI_NEED_MORE;
		}
	}
	res->rc = rc;
	res->consumed = off;
	res->idle = fcgi_parser_idle(&p);
	res->req_id = fcgi_parser_request_id(&p);
	res->reply_len = reply.len;
	snprintf(res->why, sizeof(res->why), "%s", p.why);
	fcgi_parser_cleanup(&p);
	buf_cleanup(&reply);
}

static unsigned char *
read_file(const char *path, size_t *len)
{
	FILE *f;
	unsigned char *d = NULL;
	long n;

	cr_assert_not_null(f = fopen(path, "rb"), "open %s", path);
	cr_assert_eq(fseek(f, 0, SEEK_END), 0);
	n = ftell(f);
	rewind(f);
	cr_assert_geq(n, 0);
	d = malloc((size_t)n + 1);
	cr_assert_not_null(d);
	cr_assert_eq(fread(d, 1, (size_t)n, f), (size_t)n);
	fclose(f);
	*len = (size_t)n;
	return d;
}

static void
corpus_dir(char *dir, size_t len)
{
	const char *top = getenv("top_srcdir");

	snprintf(dir, len, "%s/tests/data/fcgi", top != NULL ? top : ".");
}

Test(fcgi_corpus, every_file_gives_its_expected_outcome)
{
	static const size_t chunks[] = { SIZE_MAX, 1, 7, 4096 };
	struct corpus_result res, first;
	char dir[1024], path[2048], line[512], *tab, *nl;
	unsigned char *d;
	size_t len, i, nok = 0, nproto = 0, nbig = 0;
	FILE *m;
	int want;

	corpus_dir(dir, sizeof(dir));
	snprintf(path, sizeof(path), "%s/MANIFEST", dir);
	cr_assert_not_null(m = fopen(path, "r"), "no %s (top_srcdir?)", path);
	while (fgets(line, sizeof(line), m) != NULL) {
		if (line[0] == '#')
			continue;
		if ((nl = strchr(line, '\n')) != NULL)
			*nl = '\0';
		cr_assert_not_null(tab = strchr(line, '\t'), "%s", line);
		*tab++ = '\0';
		if (strncmp(line, "ok-", 3) == 0) {
			want = FCGI_NEED_MORE;
			nok++;
		} else if (strncmp(line, "eproto-", 7) == 0) {
			want = STICKY_EPROTO;
			nproto++;
		} else if (strncmp(line, "etoobig-", 8) == 0) {
			want = STICKY_ETOOBIG;
			nbig++;
		} else
			cr_assert_fail("bad corpus name %s", line);
		snprintf(path, sizeof(path), "%s/%s", dir, line);
		d = read_file(path, &len);
		for (i = 0; i < sizeof(chunks) / sizeof(chunks[0]); i++) {
			if (chunks[i] == 1 && len > 65536)
				continue; /* byte by byte: small files only */
			corpus_run(d, len, chunks[i], &res);
			cr_assert_eq(res.rc, want, "%s (chunk %zu): rc %d, %s",
			    line, chunks[i], res.rc, res.why);
			if (i == 0)
				first = res;
			/*
			 * The chunking changes nothing (but how much of the
			 * piece that failed counts as consumed).
			 */
			if (want == FCGI_NEED_MORE)
				cr_assert_eq(res.consumed, first.consumed, "%s",
				    line);
			cr_assert_eq(res.requests, first.requests, "%s", line);
			cr_assert_eq(res.reply_len, first.reply_len, "%s", line);
			cr_assert_str_eq(res.why, first.why, "%s", line);
		}
		if (want == FCGI_NEED_MORE) {
			cr_assert_eq(res.consumed, len, "%s", line);
			cr_assert(res.idle, "%s ends inside a request", line);
			cr_assert_geq(res.requests, 1, "%s", line);
		} else {
			cr_assert(strstr(res.why, tab) != NULL,
			    "%s: reason \"%s\", want \"%s\"", line, res.why, tab);
			cr_assert_lt(res.consumed, len + 1);
		}
		if (want == STICKY_ETOOBIG)
			cr_assert_neq(res.req_id, 0, "%s: no request to answer",
			    line);
		free(d);
	}
	fclose(m);
	/* An empty or missing corpus must not pass. */
	cr_assert_geq(nok, 10);
	cr_assert_geq(nproto, 25);
	cr_assert_geq(nbig, 5);
}

Test(fcgi_corpus, manifest_lists_every_file)
{
	char dir[1024], path[2048], line[512];
	struct dirent *e;
	DIR *dp;
	FILE *m;
	size_t n;
	int found;

	corpus_dir(dir, sizeof(dir));
	cr_assert_not_null(dp = opendir(dir), "no %s", dir);
	snprintf(path, sizeof(path), "%s/MANIFEST", dir);
	while ((e = readdir(dp)) != NULL) {
		n = strlen(e->d_name);
		if (n < 4 || strcmp(e->d_name + n - 4, ".bin") != 0)
			continue;
		cr_assert_not_null(m = fopen(path, "r"));
		found = 0;
		while (!found && fgets(line, sizeof(line), m) != NULL)
			found = strncmp(line, e->d_name, n) == 0 &&
			    line[n] == '\t';
		fclose(m);
		cr_assert(found, "%s is not in MANIFEST", e->d_name);
	}
	closedir(dp);
}
