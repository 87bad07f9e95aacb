/*
 * route.h: route tags and which worker owns a session.  The one copy the
 * workers, stickyctl and the tests call.
 */
#ifndef STICKY_ROUTE_H
#define STICKY_ROUTE_H

#include <stddef.h>
#include <stdint.h>

/*
 * Expand the tag of worker i: `pattern` with "%i" replaced by the index
 * (e.g. "w%i" -> "w3", "web2-w%i" -> "web2-w3").  STICKY_EINVAL if the
 * result is not a valid tag.
 */
int route_tag(const char *pattern, unsigned i, char *out, size_t outlen);
/* Index of tag among n tags, or -1. */
int route_index(char *const *tags, size_t n, const char *tag);
/*
 * Rendezvous (highest random weight) hash of a session key over n workers:
 * stable when workers are added or removed, used where the front-end
 * hashes the cookie and by `stickyctl owner`.
 */
size_t route_hash_owner(const char *key, size_t keylen, char *const *tags,
    size_t n);
/* 64-bit FNV-1a, the hash under route_hash_owner. */
uint64_t route_hash64(const void *data, size_t len, uint64_t seed);

#endif /* STICKY_ROUTE_H */
