/*
 * test_envelope.c: the checkpoint envelope (envelope.c) and CRC32C (crc32c.c).
 *
 * Limits: the hardware CRC path is compared with the software one only on
 * CPUs with SSE4.2 (elsewhere both calls run the software path and the test
 * says so in its log).  The corpus test reads tests/data/checkpoints under
 * $TOP_SRCDIR, else $top_srcdir, else "."; make-corpus.c there documents
 * the file naming and regenerates the files.
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>
#include <criterion/logging.h>

#include <sticky/sticky.h>
#include "envelope.h"

static uint64_t
rnd(uint64_t *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 0x2545F4914F6CDD1DULL;
}

static void
fill(unsigned char *p, size_t n, uint64_t *seed)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (unsigned char)(rnd(seed) >> 56);
}

/* ---- CRC32C ---- */

Test(crc32c, known_answers)
{
	unsigned char b[32];

	cr_assert_eq(crc32c(0, "123456789", 9), 0xE3069283);
	cr_assert_eq(crc32c_sw(0, "123456789", 9), 0xE3069283);
	cr_assert_eq(crc32c(0, "", 0), 0);
	cr_assert_eq(crc32c(0, NULL, 0), 0);
	cr_assert_eq(crc32c(0x12345678, NULL, 0), 0x12345678);
	/* RFC 3720 B.4 (iSCSI) vectors. */
	memset(b, 0, sizeof(b));
	cr_assert_eq(crc32c(0, b, 32), 0x8A9136AA);
	cr_assert_eq(crc32c_sw(0, b, 32), 0x8A9136AA);
	memset(b, 0xff, sizeof(b));
	cr_assert_eq(crc32c(0, b, 32), 0x62A8AB43);
	cr_assert_eq(crc32c_sw(0, b, 32), 0x62A8AB43);
	for (int i = 0; i < 32; i++)
		b[i] = (unsigned char)i;
	cr_assert_eq(crc32c(0, b, 32), 0x46DD794E);
	cr_assert_eq(crc32c_sw(0, b, 32), 0x46DD794E);
	for (int i = 0; i < 32; i++)
		b[i] = (unsigned char)(31 - i);
	cr_assert_eq(crc32c(0, b, 32), 0x113FDB5C);
	cr_assert_eq(crc32c_sw(0, b, 32), 0x113FDB5C);
}

Test(crc32c, chaining)
{
	unsigned char b[1000];
	uint64_t seed = 1;
	uint32_t whole;

	fill(b, sizeof(b), &seed);
	whole = crc32c_sw(0, b, sizeof(b));
	for (size_t cut = 0; cut <= sizeof(b); cut += 7) {
		cr_assert_eq(crc32c(crc32c(0, b, cut), b + cut,
		    sizeof(b) - cut), whole, "cut at %zu", cut);
		cr_assert_eq(crc32c_sw(crc32c_sw(0, b, cut), b + cut,
		    sizeof(b) - cut), whole, "cut at %zu", cut);
	}
}

Test(crc32c, hardware_matches_software_on_1mib)
{
	size_t n = 1 << 20;
	unsigned char *b = malloc(n + 16);
	uint64_t seed = 0xc0ffee;

	cr_assert_not_null(b);
#if defined(__x86_64__)
	if (!__builtin_cpu_supports("sse4.2"))
		cr_log_warn("no SSE4.2: both paths are the software CRC");
#endif
	fill(b, n + 16, &seed);
	cr_assert_eq(crc32c(0, b, n), crc32c_sw(0, b, n));
	/* Every alignment and short tails, where the 8-byte loop hands over. */
	for (size_t off = 0; off < 16; off++)
		for (size_t len = 0; len <= 70; len++)
			cr_assert_eq(crc32c(0x9abc, b + off, len),
			    crc32c_sw(0x9abc, b + off, len), "off %zu len %zu",
			    off, len);
	cr_assert_eq(crc32c(0, b + 3, n - 3), crc32c_sw(0, b + 3, n - 3));
	free(b);
}

Test(crc32c, app_id)
{
	/* Computed by an independent implementation. */
	cr_assert_eq(envelope_app_id("test-app"), 0x4235C921);
	cr_assert_eq(envelope_app_id("123456789"), 0xE3069283);
	cr_assert_eq(envelope_app_id(""), 0);
}

/* ---- encode and decode ---- */

#define META "replay:0001"
#define APP "counter=41;name=\"test\""

/* The header of tests/data/checkpoints/ok-valid.ckpt, field by field. */
static const unsigned char valid_hdr[ENV_HDR_LEN] = {
	'S', 'T', 'K', 'Y', 0x01, 0x00, 0x00, 0x30,
	0x42, 0x35, 0xc9, 0x21, 0x00, 0x00, 0x00, 0x03,
	0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08,
	0x00, 0x00, 0x00, 0x0b, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x16,
	0xa8, 0x2c, 0xa2, 0xbd, 0xfc, 0x67, 0x19, 0xf3,
};

static struct envelope
valid_env(void)
{
	struct envelope e;

	memset(&e, 0, sizeof(e));
	e.format = ENV_FORMAT;
	e.app_id = envelope_app_id("test-app");
	e.schema = 3;
	e.epoch = 0x0102030405060708ULL;
	e.meta_len = sizeof(META) - 1;
	e.app_len = sizeof(APP) - 1;
	e.crc = crc32c(0, META APP, sizeof(META APP) - 1);
	return e;
}

/* The checkpoint for e with the META APP payload; returns its length. */
static size_t
build(unsigned char *out, const struct envelope *e)
{
	envelope_encode(e, out);
	memcpy(out + ENV_HDR_LEN, META APP, sizeof(META APP) - 1);
	return ENV_HDR_LEN + sizeof(META APP) - 1;
}

static void
put32(unsigned char *p, uint32_t v)
{
	p[0] = (unsigned char)(v >> 24);
	p[1] = (unsigned char)(v >> 16);
	p[2] = (unsigned char)(v >> 8);
	p[3] = (unsigned char)v;
}

static void
reseal(unsigned char *hdr)
{
	put32(hdr + 44, crc32c(0, hdr, 44));
}

static int
env_eq(const struct envelope *a, const struct envelope *b)
{
	return a->format == b->format && a->flags == b->flags &&
	    a->app_id == b->app_id && a->schema == b->schema &&
	    a->epoch == b->epoch && a->meta_len == b->meta_len &&
	    a->app_len == b->app_len && a->crc == b->crc;
}

Test(envelope, encode_known_bytes)
{
	struct envelope e = valid_env();
	unsigned char h[ENV_HDR_LEN];

	envelope_encode(&e, h);
	cr_assert_eq(memcmp(h, valid_hdr, ENV_HDR_LEN), 0);
}

Test(envelope, decode_known_bytes)
{
	unsigned char b[128];
	struct envelope e, want = valid_env();
	const char *why = "unset";
	size_t n;

	memcpy(b, valid_hdr, ENV_HDR_LEN);
	memcpy(b + ENV_HDR_LEN, META APP, sizeof(META APP) - 1);
	n = ENV_HDR_LEN + sizeof(META APP) - 1;
	cr_assert_eq(envelope_decode(b, n, envelope_app_id("test-app"), &e,
	    &why), 0);
	cr_assert_null(why);
	cr_assert(env_eq(&e, &want));
	cr_assert_eq(envelope_decode(b, n, 0, NULL, NULL), 0);
	/* The header alone, with or without the payload behind it. */
	cr_assert_eq(envelope_decode_header(b, ENV_HDR_LEN, 0, &e, &why), 0);
	cr_assert_eq(envelope_decode_header(b, n, 0, &e, &why), 0);
	cr_assert(env_eq(&e, &want));
}

Test(envelope, round_trip_random)
{
	static unsigned char b[ENV_HDR_LEN + 4096];
	uint64_t seed = 42;
	struct envelope in, out;
	const char *why;
	uint32_t id;

	for (int i = 0; i < 1000; i++) {
		size_t meta = rnd(&seed) % 2048, app = rnd(&seed) % 2049;

		memset(&in, 0, sizeof(in));
		in.format = ENV_FORMAT;
		in.app_id = (uint32_t)rnd(&seed);
		in.schema = (uint32_t)rnd(&seed);
		in.epoch = rnd(&seed);
		in.meta_len = (uint32_t)meta;
		in.app_len = app;
		fill(b + ENV_HDR_LEN, meta + app, &seed);
		in.crc = crc32c(0, b + ENV_HDR_LEN, meta + app);
		envelope_encode(&in, b);
		id = i % 2 ? in.app_id : 0;
		memset(&out, 0, sizeof(out));
		cr_assert_eq(envelope_decode(b, ENV_HDR_LEN + meta + app, id,
		    &out, &why), 0, "%s", why);
		cr_assert(env_eq(&in, &out));
	}
}

static int
decode_b(const unsigned char *b, size_t n, const char **why)
{
	return envelope_decode(b, n, envelope_app_id("test-app"), NULL, why);
}

Test(envelope, each_check_and_its_reason)
{
	unsigned char b[128];
	struct envelope e;
	const char *why;
	size_t n;

	e = valid_env();
	n = build(b, &e);
	for (size_t len = 0; len < ENV_HDR_LEN; len++) {
		cr_assert_eq(decode_b(b, len, &why), STICKY_ECORRUPT);
		cr_assert_str_eq(why, "truncated header");
	}
	cr_assert_eq(decode_b(NULL, 100, &why), STICKY_ECORRUPT);

	n = build(b, &e);
	b[0] = 's';
	reseal(b);
	cr_assert_eq(decode_b(b, n, &why), STICKY_ECORRUPT);
	cr_assert_str_eq(why, "bad magic");

	n = build(b, &e);
	b[6] = 1; /* 0x0130 */
	reseal(b);
	cr_assert_eq(decode_b(b, n, &why), STICKY_ECORRUPT);
	cr_assert_str_eq(why, "bad header length");

	for (size_t i = 0; i < 44 * 8; i++) {
		n = build(b, &e);
		b[i / 8] ^= (unsigned char)(1u << (i % 8));
		cr_assert_neq(decode_b(b, n, &why), 0, "bit %zu", i);
	}
	n = build(b, &e);
	b[45] ^= 1;
	cr_assert_eq(decode_b(b, n, &why), STICKY_ECORRUPT);
	cr_assert_str_eq(why, "header crc mismatch");

	e = valid_env();
	e.format = ENV_FORMAT + 1;
	n = build(b, &e);
	cr_assert_eq(decode_b(b, n, &why), STICKY_EVERSION);
	cr_assert_str_eq(why, "newer format");

	e.format = 0;
	n = build(b, &e);
	cr_assert_eq(decode_b(b, n, &why), STICKY_ECORRUPT);
	cr_assert_str_eq(why, "bad format");

	e = valid_env();
	n = build(b, &e);
	b[28] = 0x80;
	reseal(b);
	cr_assert_eq(decode_b(b, n, &why), STICKY_ECORRUPT);
	cr_assert_str_eq(why, "reserved not zero");

	e.flags = 1;
	n = build(b, &e);
	cr_assert_eq(decode_b(b, n, &why), STICKY_ECORRUPT);
	cr_assert_str_eq(why, "bad flags");

	e = valid_env();
	e.app_id = envelope_app_id("other-app");
	n = build(b, &e);
	cr_assert_eq(decode_b(b, n, &why), STICKY_EFOREIGN);
	cr_assert_str_eq(why, "foreign app");
	/* app_id 0 accepts any application. */
	cr_assert_eq(envelope_decode(b, n, 0, NULL, &why), 0);

	e = valid_env();
	e.app_len = ENV_MAX_PAYLOAD + 1;
	e.meta_len = 0;
	n = build(b, &e);
	cr_assert_eq(decode_b(b, n, &why), STICKY_ECORRUPT);
	cr_assert_str_eq(why, "bad length");

	e = valid_env();
	n = build(b, &e);
	cr_assert_eq(decode_b(b, n - 1, &why), STICKY_ECORRUPT);
	cr_assert_str_eq(why, "truncated payload");
	cr_assert_eq(decode_b(b, ENV_HDR_LEN, &why), STICKY_ECORRUPT);
	cr_assert_str_eq(why, "truncated payload");
	b[n] = 0;
	cr_assert_eq(decode_b(b, n + 1, &why), STICKY_ECORRUPT);
	cr_assert_str_eq(why, "trailing bytes");

	for (size_t i = ENV_HDR_LEN * 8; i < n * 8; i++) {
		n = build(b, &e);
		b[i / 8] ^= (unsigned char)(1u << (i % 8));
		cr_assert_eq(decode_b(b, n, &why), STICKY_ECORRUPT);
		cr_assert_str_eq(why, "payload crc mismatch", "bit %zu", i);
		/* The header alone is still fine. */
		cr_assert_eq(envelope_decode_header(b, n, 0, NULL, &why), 0);
	}
}

/* When several checks fail, the earliest in the documented order wins. */
Test(envelope, check_order)
{
	unsigned char b[128];
	struct envelope e;
	const char *why;
	size_t n;

	e = valid_env();
	n = build(b, &e);
	b[0] = 'X'; /* bad magic, and the CRC is now wrong too */
	b[7] = 0;
	cr_assert_eq(decode_b(b, n, &why), STICKY_ECORRUPT);
	cr_assert_str_eq(why, "bad magic");
	cr_assert_eq(decode_b(b, 10, &why), STICKY_ECORRUPT);
	cr_assert_str_eq(why, "truncated header");

	n = build(b, &e);
	b[7] = 0; /* bad header length with a stale CRC */
	cr_assert_eq(decode_b(b, n, &why), STICKY_ECORRUPT);
	cr_assert_str_eq(why, "bad header length");

	/* A newer format is not believed without a good header CRC. */
	e.format = 9;
	n = build(b, &e);
	b[44] ^= 0xff;
	cr_assert_eq(decode_b(b, n, &why), STICKY_ECORRUPT);
	cr_assert_str_eq(why, "header crc mismatch");

	/* Newer format from another app: the version speaks first. */
	e.app_id = 1;
	n = build(b, &e);
	cr_assert_eq(decode_b(b, n, &why), STICKY_EVERSION);

	e.format = 0;
	n = build(b, &e);
	cr_assert_eq(decode_b(b, n, &why), STICKY_ECORRUPT);
	cr_assert_str_eq(why, "bad format");

	e.format = ENV_FORMAT;
	e.app_len = UINT64_MAX; /* foreign and a bad length */
	n = build(b, &e);
	cr_assert_eq(decode_b(b, n, &why), STICKY_EFOREIGN);

	e = valid_env();
	e.app_len = UINT64_MAX;
	n = build(b, &e); /* a bad length and a short payload */
	cr_assert_eq(decode_b(b, n, &why), STICKY_ECORRUPT);
	cr_assert_str_eq(why, "bad length");

	e = valid_env();
	e.crc ^= 1;
	n = build(b, &e); /* trailing bytes and a bad payload CRC */
	cr_assert_eq(decode_b(b, n + 1, &why), STICKY_ECORRUPT);
	cr_assert_str_eq(why, "trailing bytes");
}

Test(envelope, length_limits)
{
	unsigned char b[ENV_HDR_LEN];
	struct envelope e = valid_env(), out;
	const char *why;

	/* meta + app == ENV_MAX_PAYLOAD: a good header, a missing payload. */
	e.meta_len = UINT32_MAX;
	e.app_len = 1;
	envelope_encode(&e, b);
	cr_assert_eq(envelope_decode_header(b, sizeof(b), 0, &out, &why), 0);
	cr_assert_eq(out.app_len, 1);
	cr_assert_eq(envelope_decode(b, sizeof(b), 0, &out, &why),
	    STICKY_ECORRUPT);
	cr_assert_str_eq(why, "truncated payload");
	e.app_len = 2;
	envelope_encode(&e, b);
	cr_assert_eq(envelope_decode_header(b, sizeof(b), 0, &out, &why),
	    STICKY_ECORRUPT);
	cr_assert_str_eq(why, "bad length");
	e.meta_len = 0;
	e.app_len = ENV_MAX_PAYLOAD;
	envelope_encode(&e, b);
	cr_assert_eq(envelope_decode_header(b, sizeof(b), 0, &out, &why), 0);
	e.app_len = ENV_MAX_PAYLOAD + 1;
	envelope_encode(&e, b);
	cr_assert_eq(envelope_decode_header(b, sizeof(b), 0, &out, &why),
	    STICKY_ECORRUPT);
	/* Wraps to a small sum if added carelessly. */
	e.meta_len = 2;
	e.app_len = UINT64_MAX;
	envelope_encode(&e, b);
	cr_assert_eq(envelope_decode_header(b, sizeof(b), 0, &out, &why),
	    STICKY_ECORRUPT);
	cr_assert_str_eq(why, "bad length");
}

Test(envelope, out_untouched_on_failure)
{
	unsigned char b[128];
	struct envelope e = valid_env(), out, before;
	size_t n;

	memset(&out, 0xa5, sizeof(out));
	before = out;
	e.app_id = 7;
	n = build(b, &e);
	cr_assert_eq(envelope_decode(b, n, 8, &out, NULL), STICKY_EFOREIGN);
	cr_assert_eq(memcmp(&out, &before, sizeof(out)), 0);
	cr_assert_eq(envelope_decode(b, n - 1, 7, &out, NULL),
	    STICKY_ECORRUPT);
	cr_assert_eq(memcmp(&out, &before, sizeof(out)), 0);
}

/* ---- the corpus in tests/data/checkpoints ---- */

static unsigned char *
slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	unsigned char *p = NULL;
	long n;

	cr_assert_not_null(f, "%s", path);
	cr_assert_eq(fseek(f, 0, SEEK_END), 0);
	n = ftell(f);
	cr_assert_geq(n, 0);
	rewind(f);
	p = malloc((size_t)n + 1);
	cr_assert_not_null(p);
	cr_assert_eq(fread(p, 1, (size_t)n, f), (size_t)n, "%s", path);
	fclose(f);
	*len = (size_t)n;
	return p;
}

/* "<code>-<reason words>[--<variant>].ckpt" -> code and reason. */
static int
expect_from_name(const char *name, char *reason, size_t rlen)
{
	static const struct {
		const char *prefix;
		int code;
	} codes[] = {
		{ "ok-", 0 },
		{ "ecorrupt-", STICKY_ECORRUPT },
		{ "eversion-", STICKY_EVERSION },
		{ "eforeign-", STICKY_EFOREIGN },
	};
	const char *r, *end;

	for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++) {
		if (strncmp(name, codes[i].prefix, strlen(codes[i].prefix)))
			continue;
		r = name + strlen(codes[i].prefix);
		if ((end = strstr(r, "--")) == NULL)
			end = strstr(r, ".ckpt");
		cr_assert_lt((size_t)(end - r), rlen);
		for (size_t k = 0; r + k < end; k++)
			reason[k] = r[k] == '-' ? ' ' : r[k];
		reason[end - r] = '\0';
		return codes[i].code;
	}
	cr_assert_fail("corpus file %s has no known code prefix", name);
	return 1;
}

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

Test(envelope, bad_checkpoint_corpus)
{
	static const char *const required[] = {
		"ok-valid.ckpt", "ecorrupt-truncated-header.ckpt",
		"ecorrupt-truncated-payload.ckpt", "ecorrupt-bad-magic.ckpt",
		"ecorrupt-header-crc-mismatch.ckpt",
		"ecorrupt-payload-crc-mismatch.ckpt",
		"eversion-newer-format.ckpt", "eforeign-foreign-app.ckpt",
		"ecorrupt-trailing-bytes.ckpt",
		"ecorrupt-bad-length--huge.ckpt",
	};
	const char *top = getenv("TOP_SRCDIR"), *why;
	char dir[4096], path[8192], reason[64];
	int seen[NELEM(required)] = { 0 };
	uint32_t app_id = envelope_app_id("test-app");
	struct dirent *de;
	unsigned char *data;
	size_t len, nfiles = 0, nlen;
	struct envelope e;
	int want, rc;
	DIR *d;

	if (top == NULL)
		top = getenv("top_srcdir");
	snprintf(dir, sizeof(dir), "%s/tests/data/checkpoints",
	    top != NULL ? top : ".");
	d = opendir(dir);
	cr_assert_not_null(d, "cannot open %s", dir);
	while ((de = readdir(d)) != NULL) {
		nlen = strlen(de->d_name);
		if (nlen < 5 || strcmp(de->d_name + nlen - 5, ".ckpt") != 0)
			continue;
		for (size_t i = 0; i < NELEM(required); i++)
			if (strcmp(de->d_name, required[i]) == 0)
				seen[i] = 1;
		want = expect_from_name(de->d_name, reason, sizeof(reason));
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		data = slurp(path, &len);
		why = NULL;
		rc = envelope_decode(data, len, app_id, &e, &why);
		cr_assert_eq(rc, want, "%s: got %d (%s), want %d", de->d_name,
		    rc, why != NULL ? why : "-", want);
		if (want != 0)
			cr_assert_str_eq(why, reason, "%s", de->d_name);
		else
			cr_assert_eq(e.app_id, app_id);
		free(data);
		nfiles++;
	}
	closedir(d);
	for (size_t i = 0; i < NELEM(required); i++)
		cr_assert(seen[i], "%s/%s is missing", dir, required[i]);
	cr_log_info("%zu corpus files decoded as named", nfiles);
}

/* ---- CRC combining (what page-cached checkpoint CRCs rely on) ---- */

Test(crc32c_combine, equals_the_crc_of_the_concatenation)
{
	static unsigned char buf[3 * 4096 + 777];
	struct crc32c_shift page, tail;
	uint32_t seed = 12345, whole, a, b;

	for (size_t i = 0; i < sizeof(buf); i++) {
		seed = seed * 1103515245u + 12345u;
		buf[i] = (unsigned char)(seed >> 16);
	}
	crc32c_shift_init(&page, 4096);
	crc32c_shift_init(&tail, 777);
	whole = crc32c(0, buf, sizeof(buf));
	/* Fold page by page, then the tail, as a checkpoint does. */
	a = 0;
	for (size_t p = 0; p < 3; p++)
		a = crc32c_combine(&page, a, crc32c(0, buf + p * 4096, 4096));
	b = crc32c_combine(&tail, a, crc32c(0, buf + 3 * 4096, 777));
	cr_assert_eq(b, whole, "%08x != %08x", b, whole);
	/* And continuing a CRC over the tail gives the same. */
	cr_assert_eq(crc32c(a, buf + 3 * 4096, 777), whole);
	/* A changed page changes the combined CRC. */
	buf[5000] ^= 1;
	a = 0;
	for (size_t p = 0; p < 3; p++)
		a = crc32c_combine(&page, a, crc32c(0, buf + p * 4096, 4096));
	cr_assert_eq(crc32c(a, buf + 3 * 4096, 777), crc32c(0, buf, sizeof(buf)));
	cr_assert_neq(crc32c(a, buf + 3 * 4096, 777), whole);
}

Test(crc32c_combine, zero_length_is_identity)
{
	struct crc32c_shift op;

	crc32c_shift_init(&op, 0);
	cr_assert_eq(crc32c_combine(&op, 0xdeadbeef, 0), 0xdeadbeef);
}

/* The page CRCs a restore keeps come from the pass that verifies. */
Test(envelope, decode_pages_verifies_and_keeps_page_crcs)
{
	size_t page = 64, plen = 5 * page + 17, full = plen / page;
	unsigned char *buf = malloc(ENV_HDR_LEN + plen);
	uint32_t pc[5];
	struct crc32c_shift op;
	struct envelope e, got;
	const char *why;

	cr_assert_not_null(buf);
	for (size_t i = 0; i < plen; i++)
		buf[ENV_HDR_LEN + i] = (unsigned char)(i * 7 + 3);
	e = valid_env();
	e.meta_len = 17;
	e.app_len = plen - 17;
	e.crc = crc32c(0, buf + ENV_HDR_LEN, plen);
	envelope_encode(&e, buf);
	crc32c_shift_init(&op, page);
	cr_assert_eq(envelope_decode_pages(buf, ENV_HDR_LEN + plen, e.app_id,
	    &got, &why, &op, page, pc), 0, "%s", why);
	cr_assert(env_eq(&got, &e));
	for (size_t i = 0; i < full; i++)
		cr_assert_eq(pc[i], crc32c(0, buf + ENV_HDR_LEN + i * page, page));
	/* a flipped byte in a full page, then in the tail: refused */
	buf[ENV_HDR_LEN + 2 * page + 5] ^= 1;
	cr_assert_eq(envelope_decode_pages(buf, ENV_HDR_LEN + plen, e.app_id,
	    &got, &why, &op, page, pc), STICKY_ECORRUPT);
	cr_assert_str_eq(why, "payload crc mismatch");
	buf[ENV_HDR_LEN + 2 * page + 5] ^= 1;
	buf[ENV_HDR_LEN + plen - 1] ^= 1;
	cr_assert_eq(envelope_decode_pages(buf, ENV_HDR_LEN + plen, e.app_id,
	    &got, &why, &op, page, pc), STICKY_ECORRUPT);
	cr_assert_eq(envelope_decode_pages(buf, ENV_HDR_LEN + plen - 1, e.app_id,
	    &got, &why, &op, page, pc), STICKY_ECORRUPT, "truncated");
	free(buf);
}
