/*
 * delta.c: page-granular diff of a state's new encoding against the one
 * last written, so a checkpoint of a large state sends only the pages
 * that changed (as SETRANGE calls) instead of the whole string.  It owns
 * the decision between a delta and a full rewrite, and makes it from the
 * two byte ranges alone.  Pages, not bytes: Redis pays per command, so a
 * few coalesced runs beat many exact ones, and memcmp over a page is as
 * cheap as finding the first differing byte.
 */
#include <limits.h>
#include <string.h>

#include "internal.h"
#include "delta.h"

int
delta_pages(const unsigned char *prev, size_t prevlen,
    const unsigned char *cur, size_t curlen, size_t page,
    struct delta_run *runs, size_t maxruns)
{
	size_t off, n, nruns = 0, changed = 0;
	int open = 0; /* the page before this one is in runs[nruns - 1] */

	if (page == 0)
		return DELTA_REWRITE_WHOLE;
	/* Redis cannot shorten a string in place. */
	if (curlen < prevlen)
		return DELTA_REWRITE_WHOLE;
	if (curlen == 0)
		return 0;
	/* Nothing written yet: all of cur is new. */
	if (prevlen == 0)
		return DELTA_REWRITE_WHOLE;
	if (maxruns > INT_MAX)
		maxruns = INT_MAX;

	for (off = 0; off < curlen; off += n) {
		n = curlen - off < page ? curlen - off : page;
		/* A page reaching past prevlen has new bytes: changed. */
		if (off + n <= prevlen &&
		    memcmp(prev + off, cur + off, n) == 0) {
			open = 0;
			continue;
		}
		changed += n;
		if (changed > curlen / 2)
			return DELTA_REWRITE_WHOLE;
		if (open) {
			runs[nruns - 1].len += n;
			continue;
		}
		if (nruns == maxruns)
			return DELTA_REWRITE_WHOLE;
		runs[nruns].off = off;
		runs[nruns].len = n;
		nruns++;
		open = 1;
	}
	return (int)nruns;
}
