/*
 * allow.h: who may read the status page.  status_allow is a
 * comma-separated list of client addresses (REMOTE_ADDR as the front-end
 * passes it), compared as text: no prefixes, no CIDR, no names.  It is
 * what the FastCGI peer claims; status_token_file names a secret the
 * client must present instead (X-Sticky-Status-Token), compared in
 * constant time.
 */
#ifndef STICKY_ALLOW_H
#define STICKY_ALLOW_H

/*
 * 1 if addr is one of the entries of list, else 0.  Blanks before an
 * entry are skipped; everything else must match exactly, so "127.0.0.10"
 * is not "127.0.0.1" and "::1" is not "0:0:0:0:0:0:0:1".  An empty list,
 * a NULL or empty addr: 0.
 */
int allow_match(const char *list, const char *addr);

#include <stddef.h>

#define STATUS_TOKEN_MIN 16
#define STATUS_TOKEN_MAX 256
/*
 * Read the status token: the file's first line, STATUS_TOKEN_MIN to
 * STATUS_TOKEN_MAX visible ASCII characters.  0, or STICKY_ECONFIG with a
 * reason in err (the token itself never appears in it).
 */
int allow_token_read(const char *path, char *out, size_t outlen, char *err,
    size_t errlen);
/* 1 if got equals want; the time taken depends on want's length only. */
int allow_token_match(const char *want, const char *got);

#endif /* STICKY_ALLOW_H */
