/*
 * route.c: route tags and session ownership.  Workers, stickyctl and the
 * tests all expand tags and pick owners through these few functions, so
 * that every process agrees on which worker a session belongs to.  The
 * owner is chosen by rendezvous hashing: each (key, tag) pair gets a score
 * and the highest wins, so removing a worker moves only its own sessions
 * and adding one takes a fair share from each.  The hash is part of the
 * contract between processes and releases: changing it re-homes every
 * user, which is why the tests pin its values.
 */
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "internal.h"
#include "route.h"
#include "sid.h"

#define FNV64_OFFSET 0xcbf29ce484222325ULL
#define FNV64_PRIME 0x00000100000001b3ULL

int
route_tag(const char *pattern, unsigned i, char *out, size_t outlen)
{
	char tag[SID_TAG_MAX + 1], num[16];
	size_t n = 0, k;
	const char *p;

	if (pattern == NULL || out == NULL)
		return STICKY_EINVAL;
	snprintf(num, sizeof(num), "%u", i);
	for (p = pattern; *p != '\0'; p++) {
		if (p[0] == '%' && p[1] == 'i') {
			k = strlen(num);
			if (n + k > SID_TAG_MAX)
				return STICKY_EINVAL;
			memcpy(tag + n, num, k);
			n += k;
			p++;
			continue;
		}
		if (n + 1 > SID_TAG_MAX)
			return STICKY_EINVAL;
		tag[n++] = *p;
	}
	/* Any other '%' (or a stray character) fails here. */
	if (!sid_tag_valid(tag, n) || outlen < n + 1)
		return STICKY_EINVAL;
	memcpy(out, tag, n);
	out[n] = '\0';
	return 0;
}

int
route_index(char *const *tags, size_t n, const char *tag)
{
	if (tags == NULL || tag == NULL)
		return -1;
	for (size_t i = 0; i < n && i <= INT_MAX; i++)
		if (tags[i] != NULL && strcmp(tags[i], tag) == 0)
			return (int)i;
	return -1;
}

/*
 * FNV-1a over the 8 seed bytes (little-endian, so every host agrees) and
 * then the data.  FNV-1a alone mixes its last bytes poorly into the high
 * bits, and rendezvous hashing compares whole 64-bit scores, so the
 * splitmix64 finalizer spreads every input bit over the output.
 */
uint64_t
route_hash64(const void *data, size_t len, uint64_t seed)
{
	const unsigned char *p = data;
	uint64_t h = FNV64_OFFSET;

	for (int i = 0; i < 8; i++) {
		h ^= (seed >> (8 * i)) & 0xff;
		h *= FNV64_PRIME;
	}
	for (size_t i = 0; i < len; i++) {
		h ^= p[i];
		h *= FNV64_PRIME;
	}
	h ^= h >> 30;
	h *= 0xbf58476d1ce4e5b9ULL;
	h ^= h >> 27;
	h *= 0x94d049bb133111ebULL;
	h ^= h >> 31;
	return h;
}

/*
 * Each tag's hash seeds the hash of the key, so a score depends on the tag
 * name and not on its position: reordering the worker list moves nobody.
 * Equal scores (only from duplicate tags) go to the lower index.  With
 * n == 0 there is no owner and SIZE_MAX is returned.
 */
size_t
route_hash_owner(const char *key, size_t keylen, char *const *tags,
    size_t n)
{
	size_t best = SIZE_MAX;
	uint64_t score, top = 0;

	for (size_t i = 0; i < n; i++) {
		score = route_hash64(key, keylen,
		    route_hash64(tags[i], strlen(tags[i]), 0));
		if (best == SIZE_MAX || score > top) {
			best = i;
			top = score;
		}
	}
	return best;
}
