/*
 * buf.c: the growable byte buffer used for encodings, responses and reads.
 * The data is kept NUL-terminated so text can be read in place.
 */
#include <stdio.h>
#include <string.h>

#include "internal.h"

void
buf_init(struct sticky_buf *b)
{
	b->data = NULL;
	b->len = 0;
	b->cap = 0;
}

void
buf_cleanup(struct sticky_buf *b)
{
	xfree(b->data);
	buf_init(b);
}

void
buf_reset(struct sticky_buf *b)
{
	b->len = 0;
	if (b->data != NULL)
		b->data[0] = '\0';
}

int
buf_reserve(struct sticky_buf *b, size_t extra)
{
	size_t need, cap;
	unsigned char *p;

	if (extra > SIZE_MAX - b->len - 1)
		return STICKY_ENOMEM;
	need = b->len + extra + 1; /* room for the NUL */
	if (need <= b->cap)
		return 0;
	cap = b->cap < 64 ? 64 : b->cap;
	while (cap < need)
		cap = cap > SIZE_MAX / 2 ? need : cap * 2;
	if ((p = xreallocarray(b->data, cap, 1)) == NULL)
		return STICKY_ENOMEM;
	b->data = p;
	b->cap = cap;
	return 0;
}

int
buf_append(struct sticky_buf *b, const void *data, size_t len)
{
	int rc;

	if ((rc = buf_reserve(b, len)) != 0)
		return rc;
	if (len > 0)
		memcpy(b->data + b->len, data, len);
	b->len += len;
	b->data[b->len] = '\0';
	return 0;
}

int
buf_puts(struct sticky_buf *b, const char *s)
{
	return buf_append(b, s, strlen(s));
}

/* "name: value\r\n", one reservation and no format parsing (per request). */
int
buf_header(struct sticky_buf *b, const char *name, const char *value)
{
	size_t n = strlen(name), v = strlen(value);
	unsigned char *p;
	int rc;

	if ((rc = buf_reserve(b, n + v + 4)) != 0)
		return rc;
	p = b->data + b->len;
	memcpy(p, name, n);
	memcpy(p + n, ": ", 2);
	memcpy(p + n + 2, value, v);
	memcpy(p + n + 2 + v, "\r\n", 3); /* with the NUL */
	b->len += n + v + 4;
	return 0;
}

int
buf_vprintf(struct sticky_buf *b, const char *fmt, va_list ap)
{
	va_list cp;
	int n, rc;

	va_copy(cp, ap);
	n = vsnprintf(NULL, 0, fmt, cp);
	va_end(cp);
	if (n < 0)
		return STICKY_EINVAL;
	if ((rc = buf_reserve(b, (size_t)n)) != 0)
		return rc;
	vsnprintf((char *)b->data + b->len, (size_t)n + 1, fmt, ap);
	b->len += (size_t)n;
	return 0;
}

int
buf_printf(struct sticky_buf *b, const char *fmt, ...)
{
	va_list ap;
	int rc;

	va_start(ap, fmt);
	rc = buf_vprintf(b, fmt, ap);
	va_end(ap);
	return rc;
}

void
buf_consume(struct sticky_buf *b, size_t n)
{
	if (n >= b->len) {
		buf_reset(b);
		return;
	}
	memmove(b->data, b->data + n, b->len - n);
	b->len -= n;
	b->data[b->len] = '\0';
}

/* The public face of the buffer, for codecs. */
int
sticky_buf_append(struct sticky_buf *b, const void *data, size_t len)
{
	return buf_append(b, data, len);
}

void *
sticky_buf_reserve(struct sticky_buf *b, size_t len)
{
	void *p;

	if (buf_reserve(b, len) != 0)
		return NULL;
	p = b->data + b->len;
	b->len += len;
	b->data[b->len] = '\0';
	return p;
}

size_t
sticky_buf_len(const struct sticky_buf *b)
{
	return b->len;
}
