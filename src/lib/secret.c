/*
 * secret.c: secret_file, session names and checkpoint MACs (secret.h).
 * The secrets are read once, by the master before it forks (and before it
 * drops privileges), so the file can be readable by root alone.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "internal.h"
#include "secret.h"

#define SECRET_FILE_MAX 65536

/* Domain separation: one secret, two unrelated keys. */
static const char NAME_LABEL[] = "sticky session name v1";
static const char MAC_LABEL[] = "sticky checkpoint mac v1";

static void
derive(struct hmac_key *out, const struct hmac_key *master, const char *label)
{
	unsigned char k[SHA256_LEN];

	hmac_sha256(master, label, strlen(label), k);
	hmac_key_init(out, k, sizeof(k));
	sha256_wipe(k, sizeof(k));
}

static int
add(struct secrets *s, const void *key, size_t len)
{
	struct hmac_key master;

	if (s->n == SECRET_MAX)
		return -1;
	hmac_key_init(&master, key, len);
	derive(&s->name[s->n], &master, NAME_LABEL);
	derive(&s->mac[s->n], &master, MAC_LABEL);
	sha256_wipe(&master, sizeof(master));
	s->n++;
	return 0;
}

int
secrets_from(struct secrets **out, const char *const *keys,
    const size_t *lens, size_t n)
{
	struct secrets *s;

	*out = NULL;
	if (n == 0 || n > SECRET_MAX)
		return STICKY_EINVAL;
	if ((s = xcalloc(1, sizeof(*s))) == NULL)
		return STICKY_ENOMEM;
	for (size_t i = 0; i < n; i++)
		add(s, keys[i], lens[i]);
	*out = s;
	return 0;
}

struct secrets *
secrets_dup(const struct secrets *s)
{
	struct secrets *d;

	if (s == NULL || (d = xmalloc(sizeof(*d))) == NULL)
		return NULL;
	memcpy(d, s, sizeof(*d));
	return d;
}

void
secrets_free(struct secrets *s)
{
	if (s == NULL)
		return;
	sha256_wipe(s, sizeof(*s));
	xfree(s);
}

/* Split the file's text into secrets; 0 or -1 with err set. */
static int
parse(struct secrets *s, char *text, size_t len, const char *path,
    char *err, size_t errlen)
{
	size_t lineno = 0;
	char *p = text, *end = text + len;

	while (p < end) {
		char *nl = memchr(p, '\n', (size_t)(end - p));
		char *e = nl != NULL ? nl : end;
		size_t n;

		lineno++;
		if (e > p && e[-1] == '\r')
			e--;
		n = (size_t)(e - p);
		if (n > 0 && p[0] != '#') {
			if (n < SECRET_MIN_LEN) {
				snprintf(err, errlen, "secret_file %s:%zu: a secret "
				    "must be at least %d bytes (this one has %zu)",
				    path, lineno, SECRET_MIN_LEN, n);
				return -1;
			}
			if (add(s, p, n) != 0) {
				snprintf(err, errlen, "secret_file %s: more than "
				    "%d secrets", path, SECRET_MAX);
				return -1;
			}
		}
		p = nl != NULL ? nl + 1 : end;
	}
	if (s->n == 0) {
		snprintf(err, errlen, "secret_file %s: no secret in it", path);
		return -1;
	}
	return 0;
}

int
secrets_load(struct secrets **out, const char *path, char *err,
    size_t errlen)
{
	struct secrets *s = NULL;
	struct stat st;
	char *text = NULL;
	size_t len = 0;
	ssize_t n;
	int fd, rc = STICKY_ECONFIG;

	*out = NULL;
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0) {
		snprintf(err, errlen, "secret_file %s: %s", path, strerror(errno));
		return STICKY_ECONFIG;
	}
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "secret_file %s: not a regular file", path);
		goto out;
	}
	if (st.st_mode & (S_IRWXO | S_IWGRP)) {
		snprintf(err, errlen, "secret_file %s: mode %03o lets other users "
		    "read or change it (chmod 600 or 640)", path,
		    (unsigned)(st.st_mode & 0777));
		goto out;
	}
	if (st.st_size > SECRET_FILE_MAX) {
		snprintf(err, errlen, "secret_file %s: larger than %d bytes",
		    path, SECRET_FILE_MAX);
		goto out;
	}
	if ((text = xmalloc((size_t)st.st_size + 1)) == NULL ||
	    (s = xcalloc(1, sizeof(*s))) == NULL) {
		snprintf(err, errlen, "secret_file %s: out of memory", path);
		goto out;
	}
	while (len < (size_t)st.st_size &&
	    (n = read(fd, text + len, (size_t)st.st_size - len)) != 0) {
		if (n < 0) {
			if (errno == EINTR)
				continue;
			snprintf(err, errlen, "secret_file %s: %s", path,
			    strerror(errno));
			goto out;
		}
		len += (size_t)n;
	}
	if (parse(s, text, len, path, err, errlen) != 0)
		goto out;
	*out = s;
	s = NULL;
	rc = 0;
out:
	if (text != NULL) {
		sha256_wipe(text, len);
		xfree(text);
	}
	secrets_free(s);
	close(fd);
	return rc;
}

int
secret_config_load(struct sticky_config *cfg, char *err, size_t errlen)
{
	struct secrets *s = NULL;
	int rc;

	if (cfg->secret_file[0] != '\0' &&
	    (rc = secrets_load(&s, cfg->secret_file, err, errlen)) != 0)
		return rc;
	secrets_free(cfg->secrets);
	cfg->secrets = s;
	return 0;
}

int
secret_is_name(const char *k)
{
	return k[0] == '~';
}

void
secret_name(const struct secrets *s, size_t i, const char *key,
    char out[SECRET_NAME_LEN + 1])
{
	static const char b64url[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
	unsigned char h[SHA256_LEN];
	unsigned acc = 0, bits = 0;
	size_t o = 0, in = 0;

	if (s == NULL || i >= s->n) {
		snprintf(out, SECRET_NAME_LEN + 1, "%s", key);
		return;
	}
	hmac_sha256(&s->name[i], key, strlen(key), h);
	out[o++] = '~';
	while (o < SECRET_NAME_LEN) {
		if (bits < 6) {
			acc = (acc << 8 | h[in++]) & 0xffff;
			bits += 8;
		}
		bits -= 6;
		out[o++] = b64url[(acc >> bits) & 0x3f];
	}
	out[o] = '\0';
	sha256_wipe(h, sizeof(h));
}

void
secret_block_tag(const void *block, unsigned char out[SECRET_TAG_LEN])
{
	unsigned char h[SHA256_LEN];

	sha256(block, SECRET_MAC_BLOCK, h);
	memcpy(out, h, SECRET_TAG_LEN);
}

void
secret_mac_tags(const struct secrets *s, size_t i, const void *hdr,
    size_t hdrlen, const unsigned char *tags, size_t ntags, const void *tail,
    size_t taillen, unsigned char out[SECRET_MAC_LEN])
{
	unsigned char h[SHA256_LEN];
	struct sha256 c;

	hmac_start(&s->mac[i], &c);
	sha256_update(&c, hdr, hdrlen);
	if (ntags > 0)
		sha256_update(&c, tags, ntags * SECRET_TAG_LEN);
	if (taillen > 0)
		sha256_update(&c, tail, taillen);
	hmac_finish(&s->mac[i], &c, h);
	memcpy(out, h, SECRET_MAC_LEN);
}

/* The tags of payload's full blocks into tags (len / SECRET_MAC_BLOCK). */
static void
block_tags(const unsigned char *payload, size_t len, unsigned char *tags)
{
	for (size_t b = 0; b < len / SECRET_MAC_BLOCK; b++)
		secret_block_tag(payload + b * SECRET_MAC_BLOCK,
		    tags + b * SECRET_TAG_LEN);
}

int
secret_mac_tagged(const struct secrets *s, size_t i, const void *hdr,
    size_t hdrlen, const void *payload, size_t len,
    unsigned char out[SECRET_MAC_LEN], unsigned char *tags)
{
	size_t nb = len / SECRET_MAC_BLOCK;
	unsigned char *t = tags;

	if (t == NULL && nb > 0 &&
	    (t = xcalloc(nb, SECRET_TAG_LEN)) == NULL)
		return STICKY_ENOMEM;
	block_tags(payload, len, t);
	secret_mac_tags(s, i, hdr, hdrlen, t, nb,
	    (const unsigned char *)payload + nb * SECRET_MAC_BLOCK,
	    len - nb * SECRET_MAC_BLOCK, out);
	if (t != tags)
		xfree(t);
	return 0;
}

void
secret_mac(const struct secrets *s, size_t i, const void *hdr,
    size_t hdrlen, const void *payload, size_t len,
    unsigned char out[SECRET_MAC_LEN])
{
	if (secret_mac_tagged(s, i, hdr, hdrlen, payload, len, out, NULL) != 0)
		memset(out, 0, SECRET_MAC_LEN); /* out of memory: matches nothing */
}

int
secret_mac_check_tags(const struct secrets *s, const void *hdr,
    size_t hdrlen, const void *payload, size_t len,
    const unsigned char mac[SECRET_MAC_LEN], unsigned char *tags, int *which)
{
	size_t nb = len / SECRET_MAC_BLOCK;
	unsigned char want[SECRET_MAC_LEN], *t = tags;
	int found = -1;

	*which = -1;
	if (t == NULL && nb > 0 &&
	    (t = xcalloc(nb, SECRET_TAG_LEN)) == NULL)
		return STICKY_ENOMEM;
	block_tags(payload, len, t); /* once, whatever the number of secrets */
	for (size_t i = 0; i < s->n && found < 0; i++) {
		secret_mac_tags(s, i, hdr, hdrlen, t, nb,
		    (const unsigned char *)payload + nb * SECRET_MAC_BLOCK,
		    len - nb * SECRET_MAC_BLOCK, want);
		if (sha256_equal(want, mac, SECRET_MAC_LEN))
			found = (int)i;
	}
	if (t != tags)
		xfree(t);
	*which = found;
	return 0;
}

int
secret_mac_check(const struct secrets *s, const void *hdr, size_t hdrlen,
    const void *payload, size_t len, const unsigned char mac[SECRET_MAC_LEN])
{
	int which;

	if (secret_mac_check_tags(s, hdr, hdrlen, payload, len, mac, NULL,
	    &which) != 0)
		return -1; /* out of memory: not verified */
	return which;
}
