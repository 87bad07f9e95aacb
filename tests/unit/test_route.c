/*
 * test_route.c: tag expansion and rendezvous ownership (route.c).
 *
 * Limits: keys are 22-character ids from a seeded generator, not
 * getrandom, so the distribution bounds (+-15% over 4 tags, 10000 keys)
 * are checked against one fixed sample.  The pinned hash values were
 * computed by an independent Python implementation; if they change, every
 * deployed session changes owner.
 */
#include <limits.h>
#include <stdint.h>
#include <string.h>

#include <criterion/criterion.h>

#include <sticky/sticky.h>
#include "route.h"
#include "sid.h"

#define NKEYS 10000

Test(route_tag, expands_every_index_marker)
{
	char out[SID_TAG_MAX + 1];

	cr_assert_eq(route_tag("w%i", 3, out, sizeof(out)), 0);
	cr_assert_str_eq(out, "w3");
	cr_assert_eq(route_tag("web2-w%i", 3, out, sizeof(out)), 0);
	cr_assert_str_eq(out, "web2-w3");
	cr_assert_eq(route_tag("%i-%i_%i", 12, out, sizeof(out)), 0);
	cr_assert_str_eq(out, "12-12_12");
	cr_assert_eq(route_tag("w%i", 0, out, sizeof(out)), 0);
	cr_assert_str_eq(out, "w0");
	cr_assert_eq(route_tag("w%i", UINT_MAX, out, sizeof(out)), 0);
	cr_assert_str_eq(out, "w4294967295");
	cr_assert_eq(route_tag("single", 5, out, sizeof(out)), 0);
	cr_assert_str_eq(out, "single");
}

Test(route_tag, result_must_be_a_valid_tag)
{
	char out[SID_TAG_MAX + 1];
	static const char *const bad[] = { "", "w%d", "w%", "%", "%%i",
		"w.%i", "w %i", "w/%i", "%I", "w%i;" };

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		cr_assert_eq(route_tag(bad[i], 1, out, sizeof(out)),
		    STICKY_EINVAL, "[%s]", bad[i]);
	cr_assert_eq(route_tag(NULL, 1, out, sizeof(out)), STICKY_EINVAL);
}

Test(route_tag, length_limits)
{
	/* 30 characters before the marker. */
	const char *pat = "abcdefghijklmnopqrstuvwxyz0123%i";
	char out[SID_TAG_MAX + 1];

	cr_assert_eq(route_tag(pat, 9, out, sizeof(out)), 0);
	cr_assert_eq(strlen(out), 31);
	cr_assert_eq(route_tag(pat, 10, out, sizeof(out)), 0);
	cr_assert_eq(strlen(out), SID_TAG_MAX);
	cr_assert_eq(route_tag(pat, 100, out, sizeof(out)), STICKY_EINVAL);
	cr_assert_eq(route_tag("abcdefghijklmnopqrstuvwxyz0123456", 0, out,
	    sizeof(out)), STICKY_EINVAL);
	/* The output buffer: exactly enough, then one short. */
	cr_assert_eq(route_tag("w%i", 12, out, 4), 0);
	cr_assert_str_eq(out, "w12");
	cr_assert_eq(route_tag("w%i", 12, out, 3), STICKY_EINVAL);
	cr_assert_eq(route_tag("w%i", 12, out, 0), STICKY_EINVAL);
}

Test(route_index, finds_tags)
{
	char *tags[] = { "w0", "w1", "w10" };

	cr_assert_eq(route_index(tags, 3, "w0"), 0);
	cr_assert_eq(route_index(tags, 3, "w10"), 2);
	cr_assert_eq(route_index(tags, 3, "w2"), -1);
	cr_assert_eq(route_index(tags, 3, "w"), -1);
	cr_assert_eq(route_index(tags, 2, "w10"), -1);
	cr_assert_eq(route_index(tags, 0, "w0"), -1);
	cr_assert_eq(route_index(tags, 3, NULL), -1);
}

Test(route_hash64, pinned_values)
{
	cr_assert_eq(route_hash64("", 0, 0), 0x813f0174a2367c13ULL);
	cr_assert_eq(route_hash64(NULL, 0, 0), 0x813f0174a2367c13ULL);
	cr_assert_eq(route_hash64("a", 1, 0), 0x0d38d3c8a628cc82ULL);
	cr_assert_eq(route_hash64("foobar", 6, 0), 0xf608598b377e8321ULL);
	cr_assert_eq(route_hash64("foobar", 6, 0x123456789abcdef0ULL),
	    0x4d068fd085e2bc3aULL);
	cr_assert_eq(route_hash64("AAAAAAAAAAAAAAAAAAAAAA", 22, 0),
	    0x477381aa25f0133bULL);
}

Test(route_hash64, every_input_bit_matters)
{
	unsigned char buf[22];
	uint64_t base, h;
	int flips;

	memset(buf, 'A', sizeof(buf));
	base = route_hash64(buf, sizeof(buf), 7);
	for (size_t i = 0; i < sizeof(buf) * 8; i++) {
		buf[i / 8] ^= (unsigned char)(1u << (i % 8));
		h = route_hash64(buf, sizeof(buf), 7);
		buf[i / 8] ^= (unsigned char)(1u << (i % 8));
		/* Avalanche: about 32 of 64 output bits flip. */
		flips = __builtin_popcountll(h ^ base);
		cr_assert(flips >= 12 && flips <= 52, "bit %zu flips %d", i,
		    flips);
	}
	for (int i = 0; i < 64; i++)
		cr_assert_neq(route_hash64(buf, sizeof(buf), 7 ^ (1ULL << i)),
		    base, "seed bit %d ignored", i);
}

static uint64_t
rnd(uint64_t *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 0x2545F4914F6CDD1DULL;
}

/* NKEYS ids' keys, 22 base64url characters each. */
static char (*make_keys(void))[SID_KEY_LEN]
{
	static const char b64[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
	static char keys[NKEYS][SID_KEY_LEN];
	uint64_t seed = 0x9e3779b97f4a7c15ULL;

	for (int i = 0; i < NKEYS; i++)
		for (int j = 0; j < SID_KEY_LEN; j++)
			keys[i][j] = b64[rnd(&seed) % 64];
	return keys;
}

static char *const four[] = { "w0", "w1", "w2", "w3" };

Test(route_hash_owner, pinned_owners)
{
	cr_assert_eq(route_hash_owner("AAAAAAAAAAAAAAAAAAAAAA", 22, four, 4),
	    0);
	cr_assert_eq(route_hash_owner("_____________________w", 22, four, 4),
	    3);
	cr_assert_eq(route_hash_owner("hello", 5, four, 4), 2);
}

Test(route_hash_owner, degenerate_sets)
{
	char *dup[] = { "w1", "w1", "w1" };

	cr_assert_eq(route_hash_owner("k", 1, four, 0), SIZE_MAX);
	cr_assert_eq(route_hash_owner("k", 1, four, 1), 0);
	/* Equal scores: the lower index wins. */
	for (int i = 0; i < 100; i++) {
		char k[8];

		k[0] = (char)('a' + i % 26);
		k[1] = (char)('a' + i / 26);
		cr_assert_eq(route_hash_owner(k, 2, dup, 3), 0);
	}
}

Test(route_hash_owner, roughly_uniform_over_four)
{
	char (*keys)[SID_KEY_LEN] = make_keys();
	int count[4] = { 0 };
	size_t o;

	for (int i = 0; i < NKEYS; i++) {
		o = route_hash_owner(keys[i], SID_KEY_LEN, four, 4);
		cr_assert_lt(o, 4);
		count[o]++;
	}
	for (int t = 0; t < 4; t++)
		cr_assert(count[t] >= 2125 && count[t] <= 2875,
		    "tag %d owns %d of %d", t, count[t], NKEYS);
}

Test(route_hash_owner, removing_a_tag_moves_only_its_keys)
{
	char (*keys)[SID_KEY_LEN] = make_keys();
	char *three[3];
	int moved[4] = { 0 };

	for (int gone = 0; gone < 4; gone++) {
		for (int t = 0, j = 0; t < 4; t++)
			if (t != gone)
				three[j++] = four[t];
		for (int i = 0; i < NKEYS; i++) {
			size_t before = route_hash_owner(keys[i], SID_KEY_LEN,
			    four, 4);
			size_t after = route_hash_owner(keys[i], SID_KEY_LEN,
			    three, 3);

			if ((int)before == gone) {
				moved[gone]++;
				continue;
			}
			cr_assert_str_eq(three[after], four[before],
			    "key %d moved from %s to %s without cause", i,
			    four[before], three[after]);
		}
		cr_assert_gt(moved[gone], 2000);
	}
}

Test(route_hash_owner, adding_a_tag_only_takes_keys)
{
	char (*keys)[SID_KEY_LEN] = make_keys();
	char *five[] = { "w0", "w1", "w2", "w3", "w4" };
	int taken = 0;

	for (int i = 0; i < NKEYS; i++) {
		size_t before = route_hash_owner(keys[i], SID_KEY_LEN, four, 4);
		size_t after = route_hash_owner(keys[i], SID_KEY_LEN, five, 5);

		if (after == 4)
			taken++;
		else
			cr_assert_eq(after, before, "key %d", i);
	}
	/* About a fifth. */
	cr_assert(taken >= 1700 && taken <= 2300, "new tag took %d", taken);
}

Test(route_hash_owner, order_of_tags_does_not_matter)
{
	char (*keys)[SID_KEY_LEN] = make_keys();
	char *rev[] = { "w3", "w2", "w1", "w0" };

	for (int i = 0; i < NKEYS; i++) {
		size_t a = route_hash_owner(keys[i], SID_KEY_LEN, four, 4);
		size_t b = route_hash_owner(keys[i], SID_KEY_LEN, rev, 4);

		cr_assert_str_eq(four[a], rev[b]);
	}
}
