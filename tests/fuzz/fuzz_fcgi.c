/*
 * fuzz_fcgi.c: libFuzzer harness for the FastCGI parsers of src/lib/fcgi.c.
 * The first two bytes seed how the rest is cut into pieces, so every
 * input is also tried at odd record boundaries; the rest goes to the
 * server-side request parser (small limits, so the over-limit paths run
 * too) and then to the client-side response parser.  Besides the
 * sanitizers it checks the parser's promises: it never consumes more than
 * it was given, a request it hands over is within the limits, buffers
 * never grow past what the limits allow (no allocation from a declared
 * length), and its replies are well-formed records.
 *
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -Iinclude -Isrc/lib \
 *     src/lib/{alloc,buf,log,error,fcgi}.c tests/fuzz/fuzz_fcgi.c -o fuzz_fcgi
 *   ./fuzz_fcgi -dict=tests/fuzz/dict/fcgi.dict -max_total_time=30 \
 *     CORPUS_DIR tests/data/fcgi
 */
#include <stdlib.h>
#include <string.h>

#include "fcgi.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(c) do { if (!(c)) __builtin_trap(); } while (0)

static const struct fcgi_limits lim = { 2048, 32, 4096 };

/* Piece sizes from a small LCG: mostly short, sometimes everything. */
static size_t
next_piece(uint32_t *st, size_t left)
{
	size_t n;

	*st = *st * 1103515245u + 12345u;
	switch ((*st >> 16) % 4) {
	case 0:
		n = 1;
		break;
	case 1:
		n = 1 + (*st >> 20) % 9;
		break;
	case 2:
		n = 1 + (*st >> 18) % 300;
		break;
	default:
		n = left;
		break;
	}
	return n < left ? n : left;
}

static void
check_request(const struct fcgi_request *r)
{
	size_t i;

	CHECK(r->id != 0);
	CHECK(r->nparams <= lim.max_nparams);
	CHECK(r->pstream.len <= lim.max_params);
	CHECK(r->body.len <= lim.max_body);
	CHECK((r->nparams == 0) == (r->params == NULL));
	for (i = 0; i < r->nparams; i++) {
		CHECK(r->params[i].nlen > 0);
		CHECK(strlen(r->params[i].name) == r->params[i].nlen);
		CHECK(strlen(r->params[i].value) == r->params[i].vlen);
		CHECK(fcgi_request_param(r, r->params[i].name) != NULL);
	}
}

/* Every reply is whole records of version 1, padded to 8. */
static void
check_reply(const struct sticky_buf *b)
{
	size_t off = 0, clen;

	while (off < b->len) {
		CHECK(b->len - off >= FCGI_HEADER_LEN);
		CHECK(b->data[off] == FCGI_VERSION_1);
		clen = (size_t)b->data[off + 4] << 8 | b->data[off + 5];
		CHECK((clen + b->data[off + 6]) % 8 == 0);
		off += FCGI_HEADER_LEN + clen + b->data[off + 6];
		CHECK(off <= b->len);
	}
}

static void
fuzz_parser(const uint8_t *d, size_t len, uint32_t seed)
{
	struct fcgi_parser p;
	struct fcgi_request r;
	struct sticky_buf reply;
	size_t off = 0, n, used;
	int rc;

	buf_init(&reply);
	fcgi_parser_init(&p, &lim);
	while (off < len) {
		n = next_piece(&seed, len - off);
		rc = fcgi_parser_feed(&p, d + off, n, &used, &reply);
		CHECK(used <= n);
		off += used;
		/* Buffers hold what arrived, never what was declared. */
		CHECK(p.req.pstream.cap <= 2 * lim.max_params + 128);
		CHECK(p.req.body.cap <= 2 * lim.max_body + 128);
		CHECK(p.mgmt.cap <= 2 * FCGI_MAX_CONTENT + 128);
		check_reply(&reply);
		buf_reset(&reply);
		if (rc < 0) {
			CHECK(rc == STICKY_EPROTO || rc == STICKY_ETOOBIG);
			CHECK(p.why[0] != '\0');
			CHECK(rc != STICKY_ETOOBIG ||
			    fcgi_parser_request_id(&p) != 0);
			CHECK(fcgi_parser_feed(&p, d, len, &used, &reply) == rc);
			CHECK(used == 0);
			break;
		}
		if (rc == FCGI_REQUEST_READY) {
			CHECK(!fcgi_parser_idle(&p));
			fcgi_parser_take(&p, &r);
			check_request(&r);
			fcgi_request_cleanup(&r);
			continue;
		}
		CHECK(rc == FCGI_NEED_MORE && used == n);
	}
	fcgi_parser_cleanup(&p);
	buf_cleanup(&reply);
}

static void
fuzz_response(const uint8_t *d, size_t len, uint32_t seed)
{
	struct fcgi_response r;
	const unsigned char *body;
	const char *hn, *hv;
	char v[64];
	size_t off = 0, n, blen, pos = 0, nl, vl;
	int st, rc = 0;

	fcgi_response_init(&r);
	while (off < len && rc == 0) {
		n = next_piece(&seed, len - off);
		rc = fcgi_response_feed(&r, d + off, n);
		off += n;
	}
	if (rc != 0)
		CHECK(r.why[0] != '\0');
	if (fcgi_response_status(&r, &st) == 0) {
		CHECK(st >= 100 && st <= 599);
		body = fcgi_response_body(&r, &blen);
		CHECK(body != NULL && blen <= r.out.len);
		while (fcgi_response_header_next(&r, &pos, &hn, &nl, &hv,
		    &vl) > 0)
			CHECK(nl > 0 && hn + nl <= hv && hv + vl <=
			    (const char *)r.out.data + r.out.len);
		rc = fcgi_response_header(&r, "Set-Cookie", v, sizeof(v));
		CHECK(rc == 0 || rc == STICKY_ENOENT || rc == STICKY_ETOOBIG);
	}
	fcgi_response_cleanup(&r);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint32_t seed;

	if (size < 2)
		return 0;
	seed = (uint32_t)data[0] << 8 | data[1];
	fuzz_parser(data + 2, size - 2, seed);
	fuzz_response(data + 2, size - 2, seed);
	return 0;
}
