/*
 * test_sha256.c: SHA-256 against the FIPS 180-2 examples, HMAC-SHA256
 * against RFC 4231's test cases, and what secret.c builds on them:
 * session names, checkpoint MACs, and the secret_file checks.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include <sticky/sticky.h>
#include "secret.h"
#include "sha256.h"

static void
hex(const unsigned char *d, size_t n, char *out)
{
	for (size_t i = 0; i < n; i++)
		sprintf(out + 2 * i, "%02x", d[i]);
}

/* Both code paths: the SHA extensions (where the CPU has them) and C. */
static void
assert_sha(const void *msg, size_t len, const char *want)
{
	unsigned char h[SHA256_LEN];
	char got[2 * SHA256_LEN + 1];

	for (int portable = 0; portable < 2; portable++) {
		sha256_force_portable(portable);
		sha256(msg, len, h);
		hex(h, sizeof(h), got);
		cr_assert_str_eq(got, want, "len %zu, portable %d", len, portable);
	}
	sha256_force_portable(0);
}

Test(sha256, fips_examples)
{
	assert_sha("abc", 3,
	    "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
	assert_sha("", 0,
	    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
	assert_sha("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq", 56,
	    "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
	assert_sha("abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmn"
	    "hijklmnoijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu", 112,
	    "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1");
}

/* One million 'a', fed in uneven pieces: the buffering paths. */
Test(sha256, million_a_in_pieces)
{
	static unsigned char a[1000000];
	unsigned char h[SHA256_LEN];
	char got[2 * SHA256_LEN + 1];
	struct sha256 c;
	size_t off = 0, step = 1;

	memset(a, 'a', sizeof(a));
	sha256_force_portable(1);
	sha256_init(&c);
	while (off < sizeof(a)) {
		size_t n = step < sizeof(a) - off ? step : sizeof(a) - off;

		sha256_update(&c, a + off, n);
		off += n;
		step = step * 7 % 193 + 1;
	}
	sha256_final(&c, h);
	sha256_force_portable(0);
	hex(h, sizeof(h), got);
	cr_assert_str_eq(got,
	    "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
	assert_sha(a, sizeof(a),
	    "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

struct rfc4231 {
	unsigned char key[131];
	size_t keylen;
	const char *data;
	size_t datalen;
	const char *mac; /* hex; case 5 is truncated to 128 bits */
};

Test(hmac, rfc4231)
{
	static struct rfc4231 tc[7];
	static unsigned char dd[50], cd[50];
	struct hmac_key k;
	unsigned char m[SHA256_LEN];
	char got[2 * SHA256_LEN + 1];

	memset(dd, 0xdd, sizeof(dd));
	memset(cd, 0xcd, sizeof(cd));
	memset(tc[0].key, 0x0b, 20);
	tc[0].keylen = 20;
	tc[0].data = "Hi There";
	tc[0].mac = "b0344c61d8db38535ca8afceaf0bf12b"
	    "881dc200c9833da726e9376c2e32cff7";
	memcpy(tc[1].key, "Jefe", 4);
	tc[1].keylen = 4;
	tc[1].data = "what do ya want for nothing?";
	tc[1].mac = "5bdcc146bf60754e6a042426089575c7"
	    "5a003f089d2739839dec58b964ec3843";
	memset(tc[2].key, 0xaa, 20);
	tc[2].keylen = 20;
	tc[2].data = (const char *)dd;
	tc[2].datalen = 50;
	tc[2].mac = "773ea91e36800e46854db8ebd09181a7"
	    "2959098b3ef8c122d9635514ced565fe";
	for (int i = 0; i < 25; i++)
		tc[3].key[i] = (unsigned char)(i + 1);
	tc[3].keylen = 25;
	tc[3].data = (const char *)cd;
	tc[3].datalen = 50;
	tc[3].mac = "82558a389a443c0ea4cc819899f2083a"
	    "85f0faa3e578f8077a2e3ff46729665b";
	memset(tc[4].key, 0x0c, 20);
	tc[4].keylen = 20;
	tc[4].data = "Test With Truncation";
	tc[4].mac = "a3b6167473100ee06e0c796c2955552b";
	memset(tc[5].key, 0xaa, 131);
	tc[5].keylen = 131;
	tc[5].data = "Test Using Larger Than Block-Size Key - Hash Key First";
	tc[5].mac = "60e431591ee0b67f0d8a26aacbf5b77f"
	    "8e0bc6213728c5140546040f0ee37f54";
	memset(tc[6].key, 0xaa, 131);
	tc[6].keylen = 131;
	tc[6].data = "This is a test using a larger than block-size key and a "
	    "larger than block-size data. The key needs to be hashed before "
	    "being used by the HMAC algorithm.";
	tc[6].mac = "9b09ffa71b942fcb27635fbcd5b0e944"
	    "bfdc63644f0713938a7f51535c3a35e2";
	for (int r = 0; r < 14; r++) {
		int i = r % 7;
		size_t len;

		if (r == 7)
			sha256_force_portable(1); /* again, in C */
		len = tc[i].datalen ? tc[i].datalen : strlen(tc[i].data);

		hmac_key_init(&k, tc[i].key, tc[i].keylen);
		hmac_sha256(&k, tc[i].data, len, m);
		hex(m, strlen(tc[i].mac) / 2, got);
		cr_assert_str_eq(got, tc[i].mac, "RFC 4231 test case %d", i + 1);
		/* The same key state serves again: pads were copied, not used up. */
		hmac_sha256(&k, tc[i].data, len, m);
		hex(m, strlen(tc[i].mac) / 2, got);
		cr_assert_str_eq(got, tc[i].mac, "test case %d, twice", i + 1);
	}
	sha256_force_portable(0);
}

Test(hmac, equal_is_exact)
{
	unsigned char a[16] = { 1, 2, 3 }, b[16] = { 1, 2, 3 };

	cr_assert(sha256_equal(a, b, sizeof(a)));
	for (size_t i = 0; i < sizeof(a); i++) {
		b[i] ^= 0x80;
		cr_assert(!sha256_equal(a, b, sizeof(a)), "byte %zu", i);
		b[i] ^= 0x80;
	}
}

static struct secrets *
two_secrets(int swap)
{
	const char *k[2] = { "0123456789abcdef0123456789abcdef-one",
		"0123456789abcdef0123456789abcdef-two" };
	const char *kk[2] = { k[swap], k[!swap] };
	size_t lens[2] = { strlen(kk[0]), strlen(kk[1]) };
	struct secrets *s;

	cr_assert_eq(secrets_from(&s, kk, lens, 2), 0);
	return s;
}

Test(secret, names)
{
	struct secrets *s = two_secrets(0), *r = two_secrets(1);
	const char *key = "AAAAAAAAAAAAAAAAAAAAAA";
	char n0[SECRET_NAME_LEN + 1], n1[SECRET_NAME_LEN + 1];
	char again[SECRET_NAME_LEN + 1], other[SECRET_NAME_LEN + 1];

	secret_name(s, 0, key, n0);
	secret_name(s, 1, key, n1);
	secret_name(s, 0, key, again);
	secret_name(s, 0, "AAAAAAAAAAAAAAAAAAAAAB", other);
	cr_assert_eq(strlen(n0), SECRET_NAME_LEN);
	cr_assert(secret_is_name(n0) && !secret_is_name(key));
	cr_assert_str_eq(n0, again, "names are stable");
	cr_assert_str_neq(n0, n1, "each secret names differently");
	cr_assert_str_neq(n0, other);
	cr_assert(strstr(n0, key) == NULL);
	for (const char *p = n0 + 1; *p != '\0'; p++)
		cr_assert(strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
		    "0123456789-_", *p) != NULL);
	/* After a rotation the old name is secret 1's. */
	secret_name(r, 1, key, again);
	cr_assert_str_eq(again, n0);
	/* Without a secret the key names itself. */
	secret_name(NULL, 0, key, again);
	cr_assert_str_eq(again, key);
	secrets_free(s);
	secrets_free(r);
}

Test(secret, macs)
{
	struct secrets *s = two_secrets(0), *r = two_secrets(1);
	unsigned char hdr[48], pay[300], m[SECRET_MAC_LEN], m2[SECRET_MAC_LEN];

	memset(hdr, 7, sizeof(hdr));
	for (size_t i = 0; i < sizeof(pay); i++)
		pay[i] = (unsigned char)i;
	secret_mac(s, 0, hdr, sizeof(hdr), pay, sizeof(pay), m);
	/* Header and payload split anywhere: the MAC is over their bytes. */
	unsigned char all[348];
	memcpy(all, hdr, 48);
	memcpy(all + 48, pay, 300);
	secret_mac(s, 0, all, sizeof(all), NULL, 0, m2);
	cr_assert(memcmp(m, m2, sizeof(m)) == 0);
	cr_assert_eq(secret_mac_check(s, all, sizeof(all), NULL, 0, m), 0);
	cr_assert_eq(secret_mac_check(r, all, sizeof(all), NULL, 0, m), 1,
	    "an older secret still verifies");
	for (size_t i = 0; i < sizeof(all); i += 37) {
		all[i] ^= 1;
		cr_assert_eq(secret_mac_check(s, all, sizeof(all), NULL, 0, m), -1,
		    "flipped byte %zu", i);
		all[i] ^= 1;
	}
	secrets_free(s);
	secrets_free(r);
}

static char *
write_file(const char *text, mode_t mode)
{
	static char path[64];
	int fd;

	snprintf(path, sizeof(path), "/tmp/sticky-secret-XXXXXX");
	cr_assert((fd = mkstemp(path)) >= 0);
	cr_assert_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	cr_assert_eq(chmod(path, mode), 0);
	return path;
}

static int
load(const char *text, mode_t mode, char *err, size_t errlen, size_t *n)
{
	char *path = write_file(text, mode);
	struct secrets *s = NULL;
	int rc = secrets_load(&s, path, err, errlen);

	*n = s != NULL ? s->n : 0;
	secrets_free(s);
	unlink(path);
	return rc;
}

Test(secret, file)
{
	char err[256];
	size_t n;
	const char *two = "# current first\n"
	    "0123456789abcdef0123456789abcdef\n\n"
	    "older-0123456789abcdef0123456789abcdef\r\n";

	cr_assert_eq(load(two, 0600, err, sizeof(err), &n), 0, "%s", err);
	cr_assert_eq(n, 2);
	cr_assert_eq(load(two, 0640, err, sizeof(err), &n), 0, "%s", err);
	cr_assert_eq(load(two, 0644, err, sizeof(err), &n), STICKY_ECONFIG);
	cr_assert(strstr(err, "mode 644") != NULL, "%s", err);
	cr_assert_eq(load(two, 0660, err, sizeof(err), &n), STICKY_ECONFIG);
	cr_assert_eq(load("short\n", 0600, err, sizeof(err), &n), STICKY_ECONFIG);
	cr_assert(strstr(err, ":1:") != NULL && strstr(err, "32") != NULL,
	    "%s", err);
	cr_assert_eq(load("# nothing\n\n", 0600, err, sizeof(err), &n),
	    STICKY_ECONFIG);
	cr_assert(strstr(err, "no secret") != NULL, "%s", err);
	cr_assert_eq(secrets_load(&(struct secrets *){ NULL },
	    "/nonexistent/secret", err, sizeof(err)), STICKY_ECONFIG);
	cr_assert(strstr(err, "No such file") != NULL, "%s", err);
}

/*
 * A payload over several 4 KiB blocks: the MAC is over the header, each
 * full block's tag and the partial last block, so a writer that kept the
 * tags of unchanged blocks gets the same MAC as one that hashes it all.
 */
Test(secret, macs_over_block_tags)
{
	struct secrets *s = two_secrets(0), *r = two_secrets(1);
	enum { NB = 3, TAIL = 100, LEN = NB * SECRET_MAC_BLOCK + TAIL };
	static unsigned char pay[LEN];
	unsigned char hdr[48], m[SECRET_MAC_LEN], m2[SECRET_MAC_LEN];
	unsigned char tags[NB * SECRET_TAG_LEN], got[NB * SECRET_TAG_LEN];

	memset(hdr, 9, sizeof(hdr));
	for (size_t i = 0; i < sizeof(pay); i++)
		pay[i] = (unsigned char)(i * 7);
	secret_mac(s, 0, hdr, sizeof(hdr), pay, sizeof(pay), m);
	for (size_t b = 0; b < NB; b++)
		secret_block_tag(pay + b * SECRET_MAC_BLOCK, tags + b * SECRET_TAG_LEN);
	secret_mac_tags(s, 0, hdr, sizeof(hdr), tags, NB,
	    pay + NB * SECRET_MAC_BLOCK, TAIL, m2);
	cr_assert(memcmp(m, m2, sizeof(m)) == 0);
	memset(got, 0, sizeof(got));
	int which = 5;
	cr_assert_eq(secret_mac_check_tags(s, hdr, sizeof(hdr), pay, sizeof(pay),
	    m, got, &which), 0);
	cr_assert_eq(which, 0);
	cr_assert(memcmp(got, tags, sizeof(tags)) == 0, "the tags come back");
	cr_assert_eq(secret_mac_check(r, hdr, sizeof(hdr), pay, sizeof(pay), m),
	    1, "an older secret still verifies");
	/* one changed block: its tag alone is recomputed, the MAC follows */
	pay[SECRET_MAC_BLOCK + 5] ^= 0x40;
	cr_assert_eq(secret_mac_check(s, hdr, sizeof(hdr), pay, sizeof(pay), m),
	    -1, "a flipped byte in block 1");
	secret_block_tag(pay + SECRET_MAC_BLOCK, tags + SECRET_TAG_LEN);
	secret_mac_tags(s, 0, hdr, sizeof(hdr), tags, NB,
	    pay + NB * SECRET_MAC_BLOCK, TAIL, m2);
	cr_assert_eq(secret_mac_check(s, hdr, sizeof(hdr), pay, sizeof(pay), m2), 0);
	for (size_t i = 0; i < sizeof(pay); i += 1021) {
		pay[i] ^= 1;
		cr_assert_eq(secret_mac_check(s, hdr, sizeof(hdr), pay, sizeof(pay),
		    m2), -1, "flipped byte %zu", i);
		pay[i] ^= 1;
	}
	secrets_free(s);
	secrets_free(r);
}
