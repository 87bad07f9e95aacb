/*
 * sha256.c: SHA-256 (FIPS 180-4) and HMAC-SHA256 (RFC 2104).  Portable C,
 * and the x86 SHA extensions where the CPU has them, chosen at run time as
 * envelope.c does for CRC32C: every checkpoint write MACs its whole
 * payload, and the portable code is ~200x slower than CRC32C (~30 MB/s
 * measured on a busy machine), the SHA extensions several times faster.
 * Checked against the FIPS 180-2 and RFC 4231 vectors in
 * tests/unit/test_sha256.c, on both paths.
 */
#include <string.h>

#include "bytes.h"
#include "sha256.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <cpuid.h>
#include <immintrin.h>
#define HAVE_SHA_NI 1
#endif

static const uint32_t K[64] = {
	0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1,
	0x923f82a4, 0xab1c5ed5, 0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3,
	0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786,
	0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
	0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147,
	0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13,
	0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b,
	0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
	0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a,
	0x5b9cca4f, 0x682e6ff3, 0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208,
	0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
};

#define ROR(x, n) (((x) >> (n)) | ((x) << (32 - (n))))

static void
compress(uint32_t h[8], const unsigned char *p)
{
	uint32_t w[64], a, b, c, d, e, f, g, k, t1, t2;
	int i;

	for (i = 0; i < 16; i++)
		w[i] = (uint32_t)p[4 * i] << 24 | (uint32_t)p[4 * i + 1] << 16 |
		    (uint32_t)p[4 * i + 2] << 8 | p[4 * i + 3];
	for (; i < 64; i++) {
		uint32_t s0 = ROR(w[i - 15], 7) ^ ROR(w[i - 15], 18) ^
		    (w[i - 15] >> 3);
		uint32_t s1 = ROR(w[i - 2], 17) ^ ROR(w[i - 2], 19) ^
		    (w[i - 2] >> 10);

		w[i] = w[i - 16] + s0 + w[i - 7] + s1;
	}
	a = h[0], b = h[1], c = h[2], d = h[3];
	e = h[4], f = h[5], g = h[6], k = h[7];
	for (i = 0; i < 64; i++) {
		t1 = k + (ROR(e, 6) ^ ROR(e, 11) ^ ROR(e, 25)) +
		    ((e & f) ^ (~e & g)) + K[i] + w[i];
		t2 = (ROR(a, 2) ^ ROR(a, 13) ^ ROR(a, 22)) +
		    ((a & b) ^ (a & c) ^ (b & c));
		k = g, g = f, f = e, e = d + t1;
		d = c, c = b, b = a, a = t1 + t2;
	}
	h[0] += a, h[1] += b, h[2] += c, h[3] += d;
	h[4] += e, h[5] += f, h[6] += g, h[7] += k;
}

#ifdef HAVE_SHA_NI
/*
 * n blocks with the SHA extensions: the state is kept as ABEF and CDGH,
 * four rounds per group (two sha256rnds2), the message schedule in four
 * registers, expanded with sha256msg1/msg2 (Intel's published method).
 */
__attribute__((target("sha,sse4.1,ssse3"))) static void
compress_ni(uint32_t h[8], const unsigned char *p, size_t n)
{
	const __m128i mask = _mm_set_epi64x(0x0c0d0e0f08090a0bULL,
	    0x0405060700010203ULL);
	__m128i s0, s1, tmp, msg, m[4], abef, cdgh;

	tmp = _mm_loadu_si128((const __m128i *)&h[0]);
	s1 = _mm_loadu_si128((const __m128i *)&h[4]);
	tmp = _mm_shuffle_epi32(tmp, 0xb1);  /* CDAB */
	s1 = _mm_shuffle_epi32(s1, 0x1b);    /* EFGH */
	s0 = _mm_alignr_epi8(tmp, s1, 8);    /* ABEF */
	s1 = _mm_blend_epi16(s1, tmp, 0xf0); /* CDGH */
	for (; n > 0; n--, p += SHA256_BLOCK) {
		abef = s0;
		cdgh = s1;
#pragma GCC unroll 16
		for (int g = 0; g < 16; g++) {
			if (g < 4)
				m[g] = _mm_shuffle_epi8(_mm_loadu_si128(
				    (const __m128i *)(p + 16 * g)), mask);
			msg = _mm_add_epi32(m[g % 4],
			    _mm_loadu_si128((const __m128i *)&K[4 * g]));
			s1 = _mm_sha256rnds2_epu32(s1, s0, msg);
			if (g >= 3 && g <= 14) {
				tmp = _mm_alignr_epi8(m[g % 4], m[(g + 3) % 4], 4);
				m[(g + 1) % 4] = _mm_add_epi32(m[(g + 1) % 4], tmp);
				m[(g + 1) % 4] = _mm_sha256msg2_epu32(
				    m[(g + 1) % 4], m[g % 4]);
			}
			msg = _mm_shuffle_epi32(msg, 0x0e);
			s0 = _mm_sha256rnds2_epu32(s0, s1, msg);
			if (g >= 1 && g <= 12)
				m[(g + 3) % 4] = _mm_sha256msg1_epu32(
				    m[(g + 3) % 4], m[g % 4]);
		}
		s0 = _mm_add_epi32(s0, abef);
		s1 = _mm_add_epi32(s1, cdgh);
	}
	tmp = _mm_shuffle_epi32(s0, 0x1b);   /* FEBA */
	s1 = _mm_shuffle_epi32(s1, 0xb1);    /* DCHG */
	s0 = _mm_blend_epi16(tmp, s1, 0xf0); /* DCBA */
	s1 = _mm_alignr_epi8(s1, tmp, 8);    /* ABEF -> HGFE */
	_mm_storeu_si128((__m128i *)&h[0], s0);
	_mm_storeu_si128((__m128i *)&h[4], s1);
}

static int
have_sha_ni(void)
{
	static int have = -1;
	unsigned a, b, c, d;

	if (have < 0) {
		have = __get_cpuid(1, &a, &b, &c, &d) && (c & bit_SSE4_1) &&
		    (c & bit_SSSE3) && __get_cpuid_count(7, 0, &a, &b, &c, &d) &&
		    (b & (1u << 29));
	}
	return have;
}
#endif

static int force_portable;

void
sha256_force_portable(int on)
{
	force_portable = on;
}

/* n whole blocks. */
static void
blocks(uint32_t h[8], const unsigned char *p, size_t n)
{
#ifdef HAVE_SHA_NI
	if (!force_portable && have_sha_ni()) {
		compress_ni(h, p, n);
		return;
	}
#endif
	for (; n > 0; n--, p += SHA256_BLOCK)
		compress(h, p);
}

void
sha256_init(struct sha256 *c)
{
	static const uint32_t iv[8] = {
		0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
		0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
	};

	memcpy(c->h, iv, sizeof(iv));
	c->len = 0;
	c->nbuf = 0;
}

void
sha256_update(struct sha256 *c, const void *data, size_t len)
{
	const unsigned char *p = data;

	c->len += len;
	if (c->nbuf > 0) {
		size_t take = SHA256_BLOCK - c->nbuf;

		if (take > len)
			take = len;
		memcpy(c->buf + c->nbuf, p, take);
		c->nbuf += take;
		p += take;
		len -= take;
		if (c->nbuf < SHA256_BLOCK)
			return;
		blocks(c->h, c->buf, 1);
		c->nbuf = 0;
	}
	if (len >= SHA256_BLOCK) {
		blocks(c->h, p, len / SHA256_BLOCK);
		p += len / SHA256_BLOCK * SHA256_BLOCK;
		len %= SHA256_BLOCK;
	}
	if (len > 0) {
		memcpy(c->buf, p, len);
		c->nbuf = len;
	}
}

void
sha256_final(struct sha256 *c, unsigned char out[SHA256_LEN])
{
	uint64_t bits = c->len * 8;

	c->buf[c->nbuf++] = 0x80;
	if (c->nbuf > SHA256_BLOCK - 8) {
		memset(c->buf + c->nbuf, 0, SHA256_BLOCK - c->nbuf);
		blocks(c->h, c->buf, 1);
		c->nbuf = 0;
	}
	memset(c->buf + c->nbuf, 0, SHA256_BLOCK - 8 - c->nbuf);
	put64(c->buf + SHA256_BLOCK - 8, bits);
	blocks(c->h, c->buf, 1);
	for (int i = 0; i < 8; i++)
		put32(out + 4 * i, c->h[i]);
	sha256_wipe(c, sizeof(*c));
}

void
sha256(const void *data, size_t len, unsigned char out[SHA256_LEN])
{
	struct sha256 c;

	sha256_init(&c);
	sha256_update(&c, data, len);
	sha256_final(&c, out);
}

void
hmac_key_init(struct hmac_key *k, const void *key, size_t keylen)
{
	unsigned char kb[SHA256_BLOCK], pad[SHA256_BLOCK];

	memset(kb, 0, sizeof(kb));
	if (keylen > SHA256_BLOCK)
		sha256(key, keylen, kb);
	else if (keylen > 0)
		memcpy(kb, key, keylen);
	for (int i = 0; i < SHA256_BLOCK; i++)
		pad[i] = kb[i] ^ 0x36;
	sha256_init(&k->inner);
	sha256_update(&k->inner, pad, sizeof(pad));
	for (int i = 0; i < SHA256_BLOCK; i++)
		pad[i] = kb[i] ^ 0x5c;
	sha256_init(&k->outer);
	sha256_update(&k->outer, pad, sizeof(pad));
	sha256_wipe(kb, sizeof(kb));
	sha256_wipe(pad, sizeof(pad));
}

void
hmac_start(const struct hmac_key *k, struct sha256 *c)
{
	*c = k->inner;
}

void
hmac_finish(const struct hmac_key *k, struct sha256 *c,
    unsigned char out[SHA256_LEN])
{
	unsigned char ih[SHA256_LEN];
	struct sha256 o = k->outer;

	sha256_final(c, ih);
	sha256_update(&o, ih, sizeof(ih));
	sha256_final(&o, out);
	sha256_wipe(ih, sizeof(ih));
}

void
hmac_sha256(const struct hmac_key *k, const void *data, size_t len,
    unsigned char out[SHA256_LEN])
{
	struct sha256 c;

	hmac_start(k, &c);
	sha256_update(&c, data, len);
	hmac_finish(k, &c, out);
}

int
sha256_equal(const unsigned char *a, const unsigned char *b, size_t n)
{
	unsigned char d = 0;

	for (size_t i = 0; i < n; i++)
		d |= a[i] ^ b[i];
	return d == 0;
}

void
sha256_wipe(void *p, size_t n)
{
	volatile unsigned char *v = p;

	while (n-- > 0)
		*v++ = 0;
}
