/*
 * sha256.h: SHA-256 (FIPS 180-4) and HMAC-SHA256 (RFC 2104), portable C,
 * for naming sessions in Redis and authenticating checkpoints (secret.c).
 * Not constant-time beyond what the algorithm is; compare MACs with
 * sha256_equal().
 */
#ifndef STICKY_SHA256_H
#define STICKY_SHA256_H

#include <stddef.h>
#include <stdint.h>

#define SHA256_LEN 32
#define SHA256_BLOCK 64

struct sha256 {
	uint32_t h[8];
	uint64_t len; /* bytes hashed so far */
	unsigned char buf[SHA256_BLOCK];
	size_t nbuf;
};

void sha256_init(struct sha256 *c);
void sha256_update(struct sha256 *c, const void *data, size_t len);
void sha256_final(struct sha256 *c, unsigned char out[SHA256_LEN]);
void sha256(const void *data, size_t len, unsigned char out[SHA256_LEN]);

/*
 * HMAC-SHA256 with the key's pads hashed once: hmac_init() keeps the inner
 * and outer states, so each MAC under the same key costs the message plus
 * two compressions.
 */
struct hmac_key {
	struct sha256 inner, outer;
};

void hmac_key_init(struct hmac_key *k, const void *key, size_t keylen);
/* A running MAC under k: start, feed, finish. */
void hmac_start(const struct hmac_key *k, struct sha256 *c);
void hmac_finish(const struct hmac_key *k, struct sha256 *c,
    unsigned char out[SHA256_LEN]);
void hmac_sha256(const struct hmac_key *k, const void *data, size_t len,
    unsigned char out[SHA256_LEN]);
/* For tests: 1 makes every later call use the portable code. */
void sha256_force_portable(int on);
/* Constant-time comparison of n bytes: 1 when equal. */
int sha256_equal(const unsigned char *a, const unsigned char *b, size_t n);
/* Overwrite memory the compiler may not optimise away. */
void sha256_wipe(void *p, size_t n);

#endif /* STICKY_SHA256_H */
