/*
 * internal.h: what every libsticky file needs, and nothing else:
 * allocation (alloc.c), logging (log.c) and byte buffers (buf.c).
 */
#ifndef STICKY_INTERNAL_H
#define STICKY_INTERNAL_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <sticky/sticky.h>

#define HIDDEN __attribute__((visibility("hidden")))

/* ---- alloc.c: every allocation goes through these (tests inject failure) ---- */
void *xmalloc(size_t n);
void *xcalloc(size_t nmemb, size_t size); /* overflow-checked */
void *xreallocarray(void *p, size_t nmemb, size_t size); /* overflow-checked */
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
void xfree(void *p);
/* Fail the n-th allocation from now on (0 = never); for tests. */
void alloc_fail_after(unsigned long n);

/* ---- buf.c: growable byte buffer; struct sticky_buf is public as opaque ---- */
struct sticky_buf {
	unsigned char *data; /* owned; NUL-terminated when len < cap */
	size_t len;
	size_t cap;
};
void buf_init(struct sticky_buf *b);
void buf_cleanup(struct sticky_buf *b);
void buf_reset(struct sticky_buf *b); /* len = 0, keeps the memory */
int buf_reserve(struct sticky_buf *b, size_t extra);
int buf_append(struct sticky_buf *b, const void *data, size_t len);
int buf_puts(struct sticky_buf *b, const char *s);
int buf_header(struct sticky_buf *b, const char *name, const char *value);
int buf_printf(struct sticky_buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
int buf_vprintf(struct sticky_buf *b, const char *fmt, va_list ap);
/* Remove the first n bytes. */
void buf_consume(struct sticky_buf *b, size_t n);

/* ---- log.c: one line per event, key=value; session ids redacted here ---- */
enum log_level { LOG_LVL_ERR, LOG_LVL_WARN, LOG_LVL_INFO, LOG_LVL_DEBUG };
void log_setup(enum log_level level, int use_syslog, const char *ident);
int log_reopen(const char *path); /* NULL: stderr */
/*
 * Open (creating it 'mode') a file sticky writes, possibly as root in a
 * directory others can write: never through a symbolic link, only a regular
 * file with one link, close-on-exec.  The fd, or STICKY_EINVAL (refused) or
 * STICKY_ESYS with *why saying why.
 */
int file_open_safe(const char *path, int flags, mode_t mode, const char **why);
void log_set_worker(const char *tag); /* adds worker=<tag> to each line */
int log_parse_level(const char *s, enum log_level *out);
/* event is one word; fmt adds key=value fields. */
void log_msg(enum log_level lvl, const char *event, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* A session id as it may appear in logs: its first 6 characters and "...". */
const char *log_sid(const char *sid, char out[16]);

#define log_err(ev, ...) log_msg(LOG_LVL_ERR, ev, __VA_ARGS__)
#define log_warn(ev, ...) log_msg(LOG_LVL_WARN, ev, __VA_ARGS__)
#define log_info(ev, ...) log_msg(LOG_LVL_INFO, ev, __VA_ARGS__)
#define log_debug(ev, ...) log_msg(LOG_LVL_DEBUG, ev, __VA_ARGS__)

/* clock.c: the monotonic clock in milliseconds and microseconds. */
int64_t now_ms(void);
int64_t now_us(void);

#endif /* STICKY_INTERNAL_H */
