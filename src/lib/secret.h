/*
 * secret.h: the server secret (config key secret_file) and what it is for:
 * naming each session in Redis by a keyed hash of its key, so Redis never
 * sees a bearer token, and authenticating checkpoints (a MAC over envelope
 * header and payload) before any codec decodes them.
 *
 * secret_file holds one secret per line (blank lines and lines starting
 * with '#' are skipped), each at least SECRET_MIN_LEN bytes, at most
 * SECRET_MAX of them.  The first names and signs every new write; the
 * others are older secrets, tried when a session or a MAC is not found
 * under the first, so a rotation loses no session (the session moves to
 * its new name on first access).  The file must be a regular file that
 * other users cannot read or write.
 *
 * A name is "~" and 21 base64url characters (126 bits of
 * HMAC-SHA256(name key, session key)); a raw session key (22 characters,
 * no '~') names the session when there is no secret, as releases before
 * secret_file did.  Each secret yields two independent keys: one for
 * names, one for MACs.
 */
#ifndef STICKY_SECRET_H
#define STICKY_SECRET_H

#include <stddef.h>

#include "sha256.h"
#include "sid.h"

#define SECRET_MIN_LEN 32
#define SECRET_MAX 8
#define SECRET_NAME_LEN SID_KEY_LEN /* same size as a key: it replaces it */
#define SECRET_MAC_LEN 16           /* HMAC-SHA256 truncated to 128 bits */

struct sticky_config;

struct secrets {
	size_t n;
	struct hmac_key name[SECRET_MAX];
	struct hmac_key mac[SECRET_MAX];
};

/*
 * Read path.  0, or STICKY_ECONFIG with err saying why (unreadable, mode
 * too open, not a regular file, no secret, a line too short, too many).
 */
int secrets_load(struct secrets **out, const char *path, char *err,
    size_t errlen);
/* From memory (tests): n secrets of lens bytes each. */
int secrets_from(struct secrets **out, const char *const *keys,
    const size_t *lens, size_t n);
void secrets_free(struct secrets *s); /* wipes */
struct secrets *secrets_dup(const struct secrets *s); /* NULL: none or ENOMEM */

/*
 * cfg->secret_file into cfg->secrets (replacing what it held); NULL when
 * secret_file is empty.  Shared by -n, start and reload.
 */
int secret_config_load(struct sticky_config *cfg, char *err, size_t errlen);

/* Is k a name (as opposed to a raw session key)? */
int secret_is_name(const char *k);
/*
 * The Redis name of session key `key` under secret i (0: the current
 * one), into out (SECRET_NAME_LEN + 1 bytes).  s NULL: the key itself.
 */
void secret_name(const struct secrets *s, size_t i, const char *key,
    char out[SECRET_NAME_LEN + 1]);
/*
 * The MAC of a checkpoint under secret i: HMAC-SHA256 of the envelope
 * header, then the tag of each full SECRET_MAC_BLOCK-byte block of the
 * payload (SHA-256, first SECRET_TAG_LEN bytes), then the payload's last
 * partial block as it is.  A writer that keeps the tags of what Redis holds
 * hashes only the blocks it sends again (secret_mac_tags), so a 1 MiB state
 * with one changed page costs one block's hash, not 1 MiB of HMAC; forging
 * a block means a second preimage of its 128-bit tag.
 */
#define SECRET_MAC_BLOCK 4096
#define SECRET_TAG_LEN 16
void secret_block_tag(const void *block, unsigned char out[SECRET_TAG_LEN]);
void secret_mac_tags(const struct secrets *s, size_t i, const void *hdr,
    size_t hdrlen, const unsigned char *tags, size_t ntags, const void *tail,
    size_t taillen, unsigned char out[SECRET_MAC_LEN]);
/* The whole computation; tags (len / SECRET_MAC_BLOCK entries) if wanted. */
int secret_mac_tagged(const struct secrets *s, size_t i, const void *hdr,
    size_t hdrlen, const void *payload, size_t len,
    unsigned char out[SECRET_MAC_LEN], unsigned char *tags);
void secret_mac(const struct secrets *s, size_t i, const void *hdr,
    size_t hdrlen, const void *payload, size_t len,
    unsigned char out[SECRET_MAC_LEN]);
/*
 * Check a checkpoint's MAC under every secret, current first: the index of
 * the secret that made it, or -1.  The _tags form returns 0 with that index
 * in *which, or STICKY_ENOMEM, and leaves the payload's block tags in tags
 * when it is not NULL.
 */
int secret_mac_check(const struct secrets *s, const void *hdr,
    size_t hdrlen, const void *payload, size_t len,
    const unsigned char mac[SECRET_MAC_LEN]);
int secret_mac_check_tags(const struct secrets *s, const void *hdr,
    size_t hdrlen, const void *payload, size_t len,
    const unsigned char mac[SECRET_MAC_LEN], unsigned char *tags,
    int *which);

#endif /* STICKY_SECRET_H */
