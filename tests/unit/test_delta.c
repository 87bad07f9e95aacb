/*
 * test_delta.c: page diffs (delta.c).
 *
 * Limits: the randomized test (1000 seeded iterations) uses small pages
 * (1..64 bytes, plus DELTA_PAGE on a few larger buffers) so that runs,
 * partial last pages and the half-changed rule all occur often; it checks
 * delta_pages against a byte-by-byte model and by applying the runs.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include <sticky/sticky.h>
#include "delta.h"

#define MAXRUNS 64

static unsigned char a[160], b[160];

static void
setup_pages(void)
{
	for (size_t i = 0; i < sizeof(a); i++)
		a[i] = b[i] = (unsigned char)(i * 7 + 1);
}

TestSuite(delta, .init = setup_pages);

Test(delta, identical_is_zero)
{
	struct delta_run r[MAXRUNS];

	cr_assert_eq(delta_pages(a, 160, b, 160, 16, r, MAXRUNS), 0);
	cr_assert_eq(delta_pages(a, 150, b, 150, 16, r, MAXRUNS), 0);
	cr_assert_eq(delta_pages(a, 1, b, 1, DELTA_PAGE, r, MAXRUNS), 0);
	cr_assert_eq(delta_pages(NULL, 0, NULL, 0, 16, r, MAXRUNS), 0);
	cr_assert_eq(delta_pages(a, 160, b, 160, 16, NULL, 0), 0);
}

Test(delta, full_rewrite_cases)
{
	struct delta_run r[MAXRUNS];

	cr_assert_eq(delta_pages(a, 160, b, 160, 0, r, MAXRUNS), DELTA_REWRITE_WHOLE);
	cr_assert_eq(delta_pages(a, 160, b, 159, 16, r, MAXRUNS), DELTA_REWRITE_WHOLE);
	cr_assert_eq(delta_pages(a, 1, b, 0, 16, r, MAXRUNS), DELTA_REWRITE_WHOLE);
	cr_assert_eq(delta_pages(a, 0, b, 1, 16, r, MAXRUNS), DELTA_REWRITE_WHOLE);
	cr_assert_eq(delta_pages(NULL, 0, b, 160, 16, r, MAXRUNS), DELTA_REWRITE_WHOLE);
}

Test(delta, single_and_coalesced_runs)
{
	struct delta_run r[MAXRUNS];

	b[40] ^= 1; /* page 2 */
	cr_assert_eq(delta_pages(a, 160, b, 160, 16, r, MAXRUNS), 1);
	cr_assert_eq(r[0].off, 32);
	cr_assert_eq(r[0].len, 16);
	b[48] ^= 1; /* page 3: adjacent, one run */
	cr_assert_eq(delta_pages(a, 160, b, 160, 16, r, MAXRUNS), 1);
	cr_assert_eq(r[0].off, 32);
	cr_assert_eq(r[0].len, 32);
	b[48] ^= 1;
	b[79] ^= 1; /* page 4 (64..79): a second run */
	cr_assert_eq(delta_pages(a, 160, b, 160, 16, r, MAXRUNS), 2);
	cr_assert_eq(r[0].off, 32);
	cr_assert_eq(r[0].len, 16);
	cr_assert_eq(r[1].off, 64);
	cr_assert_eq(r[1].len, 16);
	/* The first and the last byte. */
	setup_pages();
	b[0] ^= 1;
	b[159] ^= 1;
	cr_assert_eq(delta_pages(a, 160, b, 160, 16, r, MAXRUNS), 2);
	cr_assert_eq(r[0].off, 0);
	cr_assert_eq(r[0].len, 16);
	cr_assert_eq(r[1].off, 144);
	cr_assert_eq(r[1].len, 16);
}

Test(delta, short_last_page_and_growth)
{
	struct delta_run r[MAXRUNS];

	b[149] ^= 1;
	cr_assert_eq(delta_pages(a, 150, b, 150, 16, r, MAXRUNS), 1);
	cr_assert_eq(r[0].off, 144);
	cr_assert_eq(r[0].len, 6);
	setup_pages();
	/* Grown inside the last page: that page is new. */
	cr_assert_eq(delta_pages(a, 150, b, 160, 16, r, MAXRUNS), 1);
	cr_assert_eq(r[0].off, 144);
	cr_assert_eq(r[0].len, 16);
	/* Grown from a page boundary, by a partial page. */
	cr_assert_eq(delta_pages(a, 144, b, 150, 16, r, MAXRUNS), 1);
	cr_assert_eq(r[0].off, 144);
	cr_assert_eq(r[0].len, 6);
	/* Grown by one byte, and the page before changed: one run. */
	b[130] ^= 1;
	cr_assert_eq(delta_pages(a, 144, b, 145, 16, r, MAXRUNS), 1);
	cr_assert_eq(r[0].off, 128);
	cr_assert_eq(r[0].len, 17);
}

Test(delta, maxruns_limit)
{
	struct delta_run r[4];

	b[5] ^= 1;
	b[37] ^= 1;
	b[69] ^= 1;
	memset(r, 0xee, sizeof(r));
	cr_assert_eq(delta_pages(a, 160, b, 160, 16, r, 3), 3);
	cr_assert_eq(r[2].off, 64);
	cr_assert_eq(delta_pages(a, 160, b, 160, 16, r, 2), DELTA_REWRITE_WHOLE);
	/* Nothing written past maxruns. */
	memset(r, 0xee, sizeof(r));
	cr_assert_eq(delta_pages(a, 160, b, 160, 16, r, 1), DELTA_REWRITE_WHOLE);
	for (int i = 1; i < 4; i++)
		cr_assert_eq(r[i].off, (size_t)0xeeeeeeeeeeeeeeeeULL);
	cr_assert_eq(delta_pages(a, 160, b, 160, 16, NULL, 0), DELTA_REWRITE_WHOLE);
}

Test(delta, half_changed_is_the_limit)
{
	struct delta_run r[MAXRUNS];

	/* 5 of 10 pages (80 of 160 bytes): exactly half is still a delta. */
	for (int p = 0; p < 10; p += 2)
		b[p * 16] ^= 1;
	cr_assert_eq(delta_pages(a, 160, b, 160, 16, r, MAXRUNS), 5);
	b[16] ^= 1; /* 6 pages */
	cr_assert_eq(delta_pages(a, 160, b, 160, 16, r, MAXRUNS), DELTA_REWRITE_WHOLE);
	/* 75 is half of 150: pages 0..3 (64) + the 6-byte tail = 70. */
	setup_pages();
	for (int p = 0; p < 4; p++)
		b[p * 16 + 3] ^= 1;
	b[149] ^= 1;
	cr_assert_eq(delta_pages(a, 150, b, 150, 16, r, MAXRUNS), 2);
	b[64] ^= 1; /* 86 */
	cr_assert_eq(delta_pages(a, 150, b, 150, 16, r, MAXRUNS), DELTA_REWRITE_WHOLE);
}

static uint64_t
rnd(uint64_t *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 0x2545F4914F6CDD1DULL;
}

/* The model: what delta_pages must return, from byte-by-byte compares. */
static int
model(const unsigned char *p, size_t plen, const unsigned char *c,
    size_t clen, size_t page, size_t maxruns, struct delta_run *out)
{
	size_t nruns = 0, changed = 0;
	int prev_changed = 0;

	if (clen < plen || (plen == 0 && clen > 0))
		return DELTA_REWRITE_WHOLE;
	for (size_t off = 0; off < clen; off += page) {
		size_t n = clen - off < page ? clen - off : page;
		int ch = 0;

		for (size_t i = off; i < off + n; i++)
			if (i >= plen || p[i] != c[i])
				ch = 1;
		if (ch) {
			changed += n;
			if (prev_changed) {
				out[nruns - 1].len += n;
			} else {
				if (nruns == maxruns)
					return DELTA_REWRITE_WHOLE;
				out[nruns].off = off;
				out[nruns].len = n;
				nruns++;
			}
		}
		prev_changed = ch;
	}
	if (changed > clen / 2)
		return DELTA_REWRITE_WHOLE;
	return (int)nruns;
}

Test(delta, randomized_apply_reproduces_cur)
{
	enum { MAXLEN = 3 * DELTA_PAGE + 100 };
	unsigned char *prev = malloc(MAXLEN), *cur = malloc(MAXLEN),
	    *work = malloc(MAXLEN);
	struct delta_run got[MAXRUNS], want[MAXRUNS];
	uint64_t seed = 20240601;
	int ndelta = 0, nfull = 0, nsame = 0;

	cr_assert(prev != NULL && cur != NULL && work != NULL);
	for (int iter = 0; iter < 1000; iter++) {
		size_t page, plen, clen, maxruns, nmut;
		int rc, m;

		if (iter % 10 == 0) {
			page = DELTA_PAGE;
			plen = 1 + rnd(&seed) % (MAXLEN - 100);
		} else {
			page = 1 + rnd(&seed) % 64;
			plen = 1 + rnd(&seed) % 1500;
		}
		clen = plen;
		if (rnd(&seed) % 4 == 0)
			clen += rnd(&seed) % 100; /* grown */
		else if (rnd(&seed) % 20 == 0)
			clen -= rnd(&seed) % plen; /* shrunk */
		maxruns = 1 + rnd(&seed) % MAXRUNS;
		for (size_t i = 0; i < plen; i++)
			prev[i] = (unsigned char)rnd(&seed);
		memcpy(cur, prev, plen);
		for (size_t i = plen; i < clen; i++)
			cur[i] = (unsigned char)rnd(&seed);
		/* A few mutations, some in clusters. */
		nmut = rnd(&seed) % 8;
		for (size_t k = 0; k < nmut && clen > 0; k++) {
			size_t at = rnd(&seed) % clen;
			size_t span = 1 + rnd(&seed) % 40;

			for (size_t i = at; i < at + span && i < clen; i++)
				cur[i] ^= (unsigned char)(1 + rnd(&seed) % 255);
		}

		rc = delta_pages(prev, plen, cur, clen, page, got, maxruns);
		m = model(prev, plen, cur, clen, page, maxruns, want);
		cr_assert_eq(rc, m, "iter %d: got %d, model %d", iter, rc, m);
		if (rc < 0) {
			nfull++;
			continue;
		}
		if (rc == 0) {
			nsame++;
			cr_assert_eq(memcmp(prev, cur, clen), 0);
			continue;
		}
		ndelta++;
		/* Apply the runs to prev (grown with junk) and get cur. */
		memcpy(work, prev, plen);
		memset(work + plen, 0xee, clen - plen);
		for (int r = 0; r < rc; r++) {
			cr_assert_eq(got[r].off, want[r].off);
			cr_assert_eq(got[r].len, want[r].len);
			cr_assert_eq(got[r].off % page, 0);
			cr_assert_leq(got[r].off + got[r].len, clen);
			if (r > 0)
				cr_assert_gt(got[r].off,
				    got[r - 1].off + got[r - 1].len,
				    "adjacent runs not coalesced");
			memcpy(work + got[r].off, cur + got[r].off,
			    got[r].len);
		}
		cr_assert_eq(memcmp(work, cur, clen), 0, "iter %d", iter);
	}
	/* The mix must exercise every outcome. */
	cr_assert_gt(ndelta, 300, "only %d deltas", ndelta);
	cr_assert_gt(nfull, 50, "only %d rewrites", nfull);
	cr_assert_gt(nsame, 20, "only %d identical", nsame);
	free(prev);
	free(cur);
	free(work);
}
