/*
 * conffile.h: the stickyd.conf grammar.  Pure: parses text, calls back for
 * each `key = value`.  Errors carry file:line.
 *
 *   # comment           whole-line comments; blank lines ignored
 *   key = value         value trimmed; "double quoted" values keep spaces
 *                       and take \" \\ escapes; a trailing # comment after
 *                       an unquoted value is stripped
 *   [section]           optional: keys below become "section.key"
 */
#ifndef STICKY_CONFFILE_H
#define STICKY_CONFFILE_H

#include <stddef.h>

/* Return 0 to go on, or a negative code with a reason in err. */
typedef int (*conffile_cb)(const char *key, const char *value, void *arg,
    char *err, size_t errlen);

/*
 * Parse text (need not be NUL-terminated).  On error returns
 * STICKY_ECONFIG (or the callback's code) and writes "fname:line: reason"
 * into err.  Lines over 4096 bytes and NUL bytes are errors.
 */
int conffile_parse(const char *text, size_t len, const char *fname,
    conffile_cb cb, void *arg, char *err, size_t errlen);
/* Read a file (at most 1 MiB) and parse it. */
int conffile_load(const char *path, conffile_cb cb, void *arg, char *err,
    size_t errlen);

#endif /* STICKY_CONFFILE_H */
