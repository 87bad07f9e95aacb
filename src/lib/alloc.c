/*
 * alloc.c: every allocation of libsticky goes through here, so that sizes are
 * overflow-checked in one place and tests can make the n-th allocation fail.
 */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/* Countdown to an injected failure; 0 means never.  Tests only. */
static unsigned long fail_countdown;

void
alloc_fail_after(unsigned long n)
{
	fail_countdown = n;
}

static int
injected_failure(void)
{
	if (fail_countdown == 0)
		return 0;
	if (--fail_countdown == 0)
		return 1;
	return 0;
}

void *
xmalloc(size_t n)
{
	if (n > PTRDIFF_MAX || injected_failure()) {
		errno = ENOMEM;
		return NULL;
	}
	return malloc(n == 0 ? 1 : n);
}

void *
xcalloc(size_t nmemb, size_t size)
{
	if (injected_failure()) {
		errno = ENOMEM;
		return NULL;
	}
	if (nmemb == 0 || size == 0)
		nmemb = size = 1;
	/* Checked here, not left to calloc: sanitizers abort on a huge size. */
	if (nmemb > SIZE_MAX / size || nmemb * size > PTRDIFF_MAX) {
		errno = ENOMEM;
		return NULL;
	}
	return calloc(nmemb, size);
}

void *
xreallocarray(void *p, size_t nmemb, size_t size)
{
	if (size != 0 && (nmemb > SIZE_MAX / size || nmemb * size > PTRDIFF_MAX)) {
		errno = ENOMEM;
		return NULL;
	}
	if (injected_failure()) {
		errno = ENOMEM;
		return NULL;
	}
	return realloc(p, nmemb * size == 0 ? 1 : nmemb * size);
}

char *
xstrndup(const char *s, size_t n)
{
	char *p;

	if (n == SIZE_MAX || (p = xmalloc(n + 1)) == NULL)
		return NULL;
	memcpy(p, s, n);
	p[n] = '\0';
	return p;
}

char *
xstrdup(const char *s)
{
	return xstrndup(s, strlen(s));
}

void
xfree(void *p)
{
	free(p);
}
