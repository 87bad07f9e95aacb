/*
 * delta.h: which pages of a new encoding differ from the one last written,
 * so a checkpoint sends only those.  Pure: compares two byte ranges.
 */
#ifndef STICKY_DELTA_H
#define STICKY_DELTA_H

#include <stddef.h>

#define DELTA_PAGE 4096

/*
 * delta_pages()'s answer when no delta should be sent.  Its own name: it
 * is not an error, and -1 is also STICKY_ENOMEM.
 */
enum delta_result {
	DELTA_REWRITE_WHOLE = -1
};

struct delta_run {
	size_t off; /* byte offset, a multiple of the page size */
	size_t len; /* bytes, coalesced over adjacent changed pages */
};

/*
 * Fill runs[] with the changed ranges of cur against prev (both the full
 * payload); bytes past prevlen count as changed.  Returns the number of
 * runs (0: identical), or DELTA_REWRITE_WHOLE when a whole rewrite is
 * needed or cheaper:
 * curlen < prevlen (Redis cannot shorten a string in place), more than
 * maxruns runs, or more than half of cur changed.
 */
int delta_pages(const unsigned char *prev, size_t prevlen,
    const unsigned char *cur, size_t curlen, size_t page,
    struct delta_run *runs, size_t maxruns);

#endif /* STICKY_DELTA_H */
