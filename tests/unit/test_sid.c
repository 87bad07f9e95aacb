/*
 * test_sid.c: session ids (sid.c).
 *
 * Limits: the generator is checked statistically (10000 ids, distinct, every
 * alphabet character seen) and for failure without fallback by making
 * getrandom(2) fail with a seccomp filter, which is skipped where seccomp is
 * unavailable.  The EINTR retry is not exercised.  Criterion forks each test,
 * so the filter dies with the test's process.
 */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <linux/filter.h>
#include <linux/seccomp.h>

#include <criterion/criterion.h>

#include <sticky/sticky.h>
#include "sid.h"

#define ALPHABET \
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
/* The base64url encodings of 16 zero bytes and 16 0xff bytes. */
#define KEY_ZERO "AAAAAAAAAAAAAAAAAAAAAA"
#define KEY_ONES "_____________________w"

static int
parse_str(const char *s, struct sid *out)
{
	return sid_parse(s, strlen(s), out);
}

Test(sid, parses_known_ids)
{
	struct sid s;

	cr_assert_eq(parse_str(KEY_ZERO ".w0", &s), 0);
	cr_assert_str_eq(s.key, KEY_ZERO);
	cr_assert_str_eq(s.tag, "w0");
	cr_assert_eq(parse_str(KEY_ONES ".web2-w_13", &s), 0);
	cr_assert_str_eq(s.key, KEY_ONES);
	cr_assert_str_eq(s.tag, "web2-w_13");
	/* 0x00 0x10 0x83 ... : "ABCD" starts the key. */
	cr_assert_eq(parse_str("ABCDEFGHIJKLMNOPQRSTUQ.a", &s), 0);
	cr_assert_str_eq(s.tag, "a");
}

Test(sid, only_canonical_last_char)
{
	char id[SID_MAX + 1];
	struct sid s;
	int ok = 0;

	memcpy(id, KEY_ZERO ".w1", SID_KEY_LEN + 4);
	for (const char *c = ALPHABET; *c != '\0'; c++) {
		id[SID_KEY_LEN - 1] = *c;
		if (parse_str(id, &s) == 0) {
			ok++;
			cr_assert(strchr("AQgw", *c) != NULL,
			    "non-canonical last char %c accepted", *c);
		}
	}
	cr_assert_eq(ok, 4);
}

Test(sid, every_invalid_byte_at_every_key_position)
{
	char id[SID_MAX + 1];
	struct sid s;
	size_t len = SID_KEY_LEN + 3;

	for (size_t pos = 0; pos < SID_KEY_LEN; pos++) {
		for (int c = 0; c < 256; c++) {
			if (c != 0 && strchr(ALPHABET, c) != NULL)
				continue;
			memcpy(id, KEY_ZERO ".w1", len + 1);
			id[pos] = (char)c;
			cr_assert_eq(sid_parse(id, len, &s), STICKY_EPROTO,
			    "byte %d at %zu accepted", c, pos);
		}
	}
}

Test(sid, separator_must_be_a_dot)
{
	char id[SID_MAX + 1];
	struct sid s;

	for (int c = 0; c < 256; c++) {
		memcpy(id, KEY_ZERO ".w1", SID_KEY_LEN + 4);
		id[SID_KEY_LEN] = (char)c;
		cr_assert_eq(sid_parse(id, SID_KEY_LEN + 3, &s),
		    c == '.' ? 0 : STICKY_EPROTO, "separator %d", c);
	}
}

Test(sid, every_invalid_byte_at_every_tag_position)
{
	char id[SID_MAX + 1];
	struct sid s;
	size_t len = SID_MAX;

	memset(id, 'x', sizeof(id));
	memcpy(id, KEY_ZERO ".", SID_KEY_LEN + 1);
	cr_assert_eq(sid_parse(id, len, &s), 0);
	for (size_t pos = SID_KEY_LEN + 1; pos < len; pos++) {
		for (int c = 0; c < 256; c++) {
			int valid = c != 0 && strchr(ALPHABET, c) != NULL;

			id[pos] = (char)c;
			cr_assert_eq(sid_parse(id, len, &s),
			    valid ? 0 : STICKY_EPROTO, "byte %d at %zu", c,
			    pos);
		}
		id[pos] = 'x';
	}
}

Test(sid, tag_length_limits)
{
	char id[SID_MAX + 8];
	struct sid s;

	memset(id, 'T', sizeof(id));
	memcpy(id, KEY_ZERO ".", SID_KEY_LEN + 1);
	cr_assert_eq(sid_parse(id, SID_KEY_LEN + 1, &s), STICKY_EPROTO,
	    "empty tag accepted");
	cr_assert_eq(sid_parse(id, SID_KEY_LEN + 2, &s), 0);
	cr_assert_eq(sid_parse(id, SID_MAX, &s), 0);
	cr_assert_eq(strlen(s.tag), SID_TAG_MAX);
	cr_assert_eq(sid_parse(id, SID_MAX + 1, &s), STICKY_EPROTO,
	    "33-char tag accepted");
}

Test(sid, wrong_lengths)
{
	char id[SID_MAX + 1];
	struct sid s;

	memcpy(id, KEY_ZERO ".w1", SID_KEY_LEN + 4);
	for (size_t len = 0; len <= SID_KEY_LEN + 1; len++)
		cr_assert_eq(sid_parse(id, len, &s), STICKY_EPROTO,
		    "length %zu accepted", len);
	/* A key one character short or long moves the dot. */
	cr_assert_eq(parse_str("AAAAAAAAAAAAAAAAAAAAA.w1", &s), STICKY_EPROTO);
	cr_assert_eq(parse_str("AAAAAAAAAAAAAAAAAAAAAAA.w1", &s),
	    STICKY_EPROTO);
	cr_assert_eq(parse_str(KEY_ZERO, &s), STICKY_EPROTO);
	cr_assert_eq(parse_str("", &s), STICKY_EPROTO);
}

/* len is the caller's claim: it must be refused before anything is read. */
Test(sid, absurd_length_rejected_early)
{
	char *id = malloc(SID_KEY_LEN + 3);
	struct sid s;

	cr_assert_not_null(id);
	memcpy(id, KEY_ZERO ".w", SID_KEY_LEN + 2);
	cr_assert_eq(sid_parse(id, SIZE_MAX, &s), STICKY_EPROTO);
	cr_assert_eq(sid_parse(id, SID_MAX + 1, &s), STICKY_EPROTO);
	cr_assert_eq(sid_parse(NULL, 0, &s), STICKY_EPROTO);
	free(id);
}

Test(sid, extra_dots_nuls_and_junk)
{
	struct sid s;

	cr_assert_eq(parse_str(KEY_ZERO ".w.1", &s), STICKY_EPROTO);
	cr_assert_eq(parse_str(KEY_ZERO "..w1", &s), STICKY_EPROTO);
	cr_assert_eq(parse_str(KEY_ZERO ".w1.", &s), STICKY_EPROTO);
	cr_assert_eq(parse_str(KEY_ZERO ".w1 ", &s), STICKY_EPROTO);
	cr_assert_eq(parse_str(" " KEY_ZERO ".w1", &s), STICKY_EPROTO);
	cr_assert_eq(parse_str(KEY_ZERO ".w1;", &s), STICKY_EPROTO);
	cr_assert_eq(parse_str(KEY_ZERO ".w=", &s), STICKY_EPROTO);
	cr_assert_eq(parse_str("AAAAAAAAAAAAAAAAAAAA==.w1", &s), STICKY_EPROTO);
	cr_assert_eq(parse_str("AAAAAAAAAAAAAAAAAAAA+/.w1", &s), STICKY_EPROTO);
	/* A NUL inside the explicit length. */
	cr_assert_eq(sid_parse(KEY_ZERO ".w1\0x", SID_KEY_LEN + 5, &s),
	    STICKY_EPROTO);
	cr_assert_eq(sid_parse(KEY_ZERO ".\0w1", SID_KEY_LEN + 4, &s),
	    STICKY_EPROTO);
	/* The explicit length, not the NUL, ends the id. */
	cr_assert_eq(sid_parse(KEY_ZERO ".w1junk", SID_KEY_LEN + 3, &s), 0);
	cr_assert_str_eq(s.tag, "w1");
}

Test(sid, tag_valid)
{
	cr_assert_eq(sid_tag_valid("w1", 2), 1);
	cr_assert_eq(sid_tag_valid("A-z_09", 6), 1);
	cr_assert_eq(sid_tag_valid("", 0), 0);
	cr_assert_eq(sid_tag_valid(NULL, 3), 0);
	cr_assert_eq(sid_tag_valid("w.1", 3), 0);
	cr_assert_eq(sid_tag_valid("w 1", 3), 0);
	cr_assert_eq(sid_tag_valid("w%i", 3), 0);
	cr_assert_eq(sid_tag_valid("w\0", 2), 0);
	cr_assert_eq(sid_tag_valid("\xc3\xa9", 2), 0);
	cr_assert_eq(sid_tag_valid("01234567890123456789012345678901", 32), 1);
	cr_assert_eq(sid_tag_valid("012345678901234567890123456789012", 33),
	    0);
}

Test(sid, format_known_and_limits)
{
	struct sid s;
	char out[SID_MAX + 1];

	cr_assert_eq(parse_str(KEY_ONES ".w7", &s), 0);
	cr_assert_eq(sid_format(&s, out, sizeof(out)), 0);
	cr_assert_str_eq(out, KEY_ONES ".w7");
	/* Exactly enough room, then one byte short. */
	cr_assert_eq(sid_format(&s, out, SID_KEY_LEN + 4), 0);
	cr_assert_str_eq(out, KEY_ONES ".w7");
	cr_assert_eq(sid_format(&s, out, SID_KEY_LEN + 3), STICKY_EINVAL);
	/* Structs that could not have come from sid_parse. */
	strcpy(s.tag, "w.7");
	cr_assert_eq(sid_format(&s, out, sizeof(out)), STICKY_EINVAL);
	strcpy(s.tag, "");
	cr_assert_eq(sid_format(&s, out, sizeof(out)), STICKY_EINVAL);
	strcpy(s.tag, "w7");
	s.key[SID_KEY_LEN - 1] = 'x'; /* non-canonical */
	cr_assert_eq(sid_format(&s, out, sizeof(out)), STICKY_EINVAL);
	s.key[3] = '\0';
	cr_assert_eq(sid_format(&s, out, sizeof(out)), STICKY_EINVAL);
}

Test(sid, generate_format_parse_round_trip)
{
	struct sid a, b;
	char out[SID_MAX + 1];

	for (int i = 0; i < 1000; i++) {
		cr_assert_eq(sid_generate(&a, "web2-w3"), 0);
		cr_assert_eq(strlen(a.key), SID_KEY_LEN);
		cr_assert_str_eq(a.tag, "web2-w3");
		cr_assert_eq(sid_format(&a, out, sizeof(out)), 0);
		cr_assert_eq(strlen(out), SID_KEY_LEN + 8);
		cr_assert_eq(parse_str(out, &b), 0, "generated %s", out);
		cr_assert_str_eq(a.key, b.key);
		cr_assert_str_eq(a.tag, b.tag);
	}
}

Test(sid, generate_rejects_bad_tags)
{
	struct sid s;

	cr_assert_eq(sid_generate(&s, ""), STICKY_EINVAL);
	cr_assert_eq(sid_generate(&s, NULL), STICKY_EINVAL);
	cr_assert_eq(sid_generate(&s, "w.1"), STICKY_EINVAL);
	cr_assert_eq(sid_generate(&s, "012345678901234567890123456789012"),
	    STICKY_EINVAL);
	cr_assert_eq(sid_generate(&s, "01234567890123456789012345678901"), 0);
}

static int
cmp_key(const void *a, const void *b)
{
	return memcmp(a, b, SID_KEY_LEN);
}

Test(sid, generate_unique_and_uses_whole_alphabet)
{
	enum { N = 10000 };
	char (*keys)[SID_KEY_LEN] = calloc(N, SID_KEY_LEN);
	int seen[SID_KEY_LEN][256];
	struct sid s;

	cr_assert_not_null(keys);
	memset(seen, 0, sizeof(seen));
	for (int i = 0; i < N; i++) {
		cr_assert_eq(sid_generate(&s, "w0"), 0);
		memcpy(keys[i], s.key, SID_KEY_LEN);
		for (int j = 0; j < SID_KEY_LEN; j++)
			seen[j][(unsigned char)s.key[j]]++;
	}
	qsort(keys, N, SID_KEY_LEN, cmp_key);
	for (int i = 1; i < N; i++)
		cr_assert_neq(memcmp(keys[i - 1], keys[i], SID_KEY_LEN), 0,
		    "duplicate id after %d ids", N);
	/* 10000 draws of 64 values: missing one is a broken encoder. */
	for (int j = 0; j < SID_KEY_LEN - 1; j++)
		for (const char *c = ALPHABET; *c != '\0'; c++)
			cr_assert_gt(seen[j][(unsigned char)*c], 0,
			    "'%c' never at position %d", *c, j);
	for (const char *c = ALPHABET; *c != '\0'; c++)
		cr_assert_eq(seen[SID_KEY_LEN - 1][(unsigned char)*c] > 0,
		    strchr("AQgw", *c) != NULL, "last char '%c'", *c);
	free(keys);
}

/* Make getrandom(2) fail with EIO in this (forked) test process. */
static int
break_getrandom(void)
{
#ifdef __NR_getrandom
	struct sock_filter f[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
		    offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_getrandom, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EIO),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog prog = { sizeof(f) / sizeof(f[0]), f };

	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
		return -1;
	return prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog, 0, 0);
#else
	return -1;
#endif
}

Test(sid, getrandom_failure_is_esys_without_fallback)
{
	struct sid s;

	if (break_getrandom() != 0)
		cr_skip_test("seccomp unavailable: %s", strerror(errno));
	memset(&s, 0, sizeof(s));
	cr_assert_eq(sid_generate(&s, "w1"), STICKY_ESYS);
	cr_assert_eq(errno, EIO);
	cr_assert_eq(s.key[0], '\0', "a key was produced without getrandom");
}
