/*
 * allow.h: the status page's address check.  status_allow is a
 * comma-separated list of client addresses (REMOTE_ADDR as the front-end
 * passes it), compared as text: no prefixes, no CIDR, no names.
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

#endif /* STICKY_ALLOW_H */
