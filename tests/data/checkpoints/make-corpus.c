/*
 * make-corpus.c: writes the bad-checkpoint corpus in this directory, which
 * test_envelope.c decodes file by file.  Each name says what decoding must
 * answer: "<code>-<reason>[--<variant>].ckpt", where <code> is ok,
 * ecorrupt, eversion or eforeign and <reason> is envelope_decode()'s
 * reason with spaces as dashes.  The app is "test-app".  Every file but the
 * CRC cases carries a correct header CRC, so each one reaches the check it
 * is named after.  Rebuild the corpus from the top of the tree with:
 *
 *   gcc -std=c11 -D_GNU_SOURCE -Iinclude -Isrc/lib src/lib/envelope.c src/lib/crc32c.c \
 *       tests/data/checkpoints/make-corpus.c -o /tmp/make-corpus &&
 *   /tmp/make-corpus tests/data/checkpoints
 *
 * and commit the output with this file.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sticky/sticky.h>
#include "envelope.h"

static const char meta[] = "replay:0001"; /* sticky's section */
static const char app[] = "counter=41;name=\"test\""; /* the codec's bytes */

static const char *dir;

static void
put32(unsigned char *p, uint32_t v)
{
	p[0] = (unsigned char)(v >> 24);
	p[1] = (unsigned char)(v >> 16);
	p[2] = (unsigned char)(v >> 8);
	p[3] = (unsigned char)v;
}

/* After patching header bytes by hand, make the header CRC right again. */
static void
reseal(unsigned char *hdr)
{
	put32(hdr + 44, crc32c(0, hdr, 44));
}

static void
save(const char *name, const unsigned char *data, size_t len)
{
	char path[4096];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	if ((f = fopen(path, "wb")) == NULL ||
	    (len > 0 && fwrite(data, 1, len, f) != len) || fclose(f) != 0) {
		perror(path);
		exit(1);
	}
}

/* e's header and the payload above; returns the length. */
static size_t
build(unsigned char *out, const struct envelope *e)
{
	envelope_encode(e, out);
	memcpy(out + ENV_HDR_LEN, meta, sizeof(meta) - 1);
	memcpy(out + ENV_HDR_LEN + sizeof(meta) - 1, app, sizeof(app) - 1);
	return ENV_HDR_LEN + sizeof(meta) - 1 + sizeof(app) - 1;
}

int
main(int argc, char *argv[])
{
	unsigned char buf[256];
	struct envelope good, e;
	size_t n;

	if (argc != 2) {
		fprintf(stderr, "usage: make-corpus dir\n");
		return 2;
	}
	dir = argv[1];

	memset(&good, 0, sizeof(good));
	good.format = ENV_FORMAT;
	good.app_id = envelope_app_id("test-app");
	good.schema = 3;
	good.epoch = 0x0102030405060708ULL;
	good.meta_len = sizeof(meta) - 1;
	good.app_len = sizeof(app) - 1;
	good.crc = crc32c(crc32c(0, meta, sizeof(meta) - 1), app,
	    sizeof(app) - 1);

	n = build(buf, &good);
	save("ok-valid.ckpt", buf, n);

	e = good;
	e.meta_len = 0;
	e.app_len = 0;
	e.crc = 0; /* CRC32C of nothing */
	envelope_encode(&e, buf);
	save("ok-empty-payload.ckpt", buf, ENV_HDR_LEN);

	/* Header checks, in the order decode runs them. */
	save("ecorrupt-truncated-header--empty.ckpt", buf, 0);
	n = build(buf, &good);
	save("ecorrupt-truncated-header.ckpt", buf, ENV_HDR_LEN - 1);

	build(buf, &good);
	buf[3] = 'X';
	reseal(buf);
	save("ecorrupt-bad-magic.ckpt", buf, n);

	build(buf, &good);
	buf[7] = ENV_HDR_LEN - 1;
	reseal(buf);
	save("ecorrupt-bad-header-length.ckpt", buf, n);

	build(buf, &good);
	buf[20] ^= 0x10; /* one bit of the epoch */
	save("ecorrupt-header-crc-mismatch.ckpt", buf, n);

	e = good;
	e.format = ENV_FORMAT + 1;
	save("eversion-newer-format.ckpt", buf, build(buf, &e));
	e.format = 0xff;
	save("eversion-newer-format--255.ckpt", buf, build(buf, &e));

	e = good;
	e.format = 0;
	save("ecorrupt-bad-format.ckpt", buf, build(buf, &e));

	build(buf, &good);
	buf[31] = 1;
	reseal(buf);
	save("ecorrupt-reserved-not-zero.ckpt", buf, n);

	e = good;
	e.flags = 0x80;
	save("ecorrupt-bad-flags.ckpt", buf, build(buf, &e));

	e = good;
	e.app_id = envelope_app_id("other-app");
	save("eforeign-foreign-app.ckpt", buf, build(buf, &e));

	/* Lengths: each header is intact and claims too much. */
	e = good;
	e.app_len = (uint64_t)1 << 40;
	save("ecorrupt-bad-length--huge.ckpt", buf, build(buf, &e));
	e.meta_len = UINT32_MAX;
	e.app_len = UINT64_MAX;
	save("ecorrupt-bad-length--wraps.ckpt", buf, build(buf, &e));
	e.app_len = 2; /* the sum is one over ENV_MAX_PAYLOAD */
	save("ecorrupt-bad-length--sum.ckpt", buf, build(buf, &e));
	e.app_len = 1; /* exactly ENV_MAX_PAYLOAD: a good header */
	envelope_encode(&e, buf);
	save("ecorrupt-truncated-payload--max-length.ckpt", buf, ENV_HDR_LEN);

	/* Payload checks. */
	n = build(buf, &good);
	save("ecorrupt-truncated-payload.ckpt", buf, n - 1);
	buf[n] = '\n';
	save("ecorrupt-trailing-bytes.ckpt", buf, n + 1);
	buf[ENV_HDR_LEN + 2] ^= 0x01; /* in meta */
	save("ecorrupt-payload-crc-mismatch.ckpt", buf, n);
	build(buf, &good);
	buf[n - 1] ^= 0x80; /* the codec's last byte */
	save("ecorrupt-payload-crc-mismatch--app.ckpt", buf, n);
	return 0;
}
