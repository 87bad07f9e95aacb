/*
 * test_log.c: sticky_log(), the public way into sticky's log: one line,
 * the event, the message as one quoted field that cannot be forged (no
 * newline, no double quote), levels below the configured one dropped.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"

/* Run sticky_log with stderr on a pipe; the text written, in out. */
static void
capture(int level, const char *event, const char *msg, char *out, size_t len)
{
	int p[2], saved = dup(STDERR_FILENO);
	ssize_t n;

	cr_assert_eq(pipe(p), 0);
	fflush(stderr);
	dup2(p[1], STDERR_FILENO);
	sticky_log(level, event, msg);
	fflush(stderr);
	dup2(saved, STDERR_FILENO);
	close(saved);
	close(p[1]);
	n = read(p[0], out, len - 1);
	out[n > 0 ? n : 0] = '\0';
	close(p[0]);
}

Test(log, one_quoted_field_that_cannot_be_forged)
{
	char out[2048];

	log_setup(LOG_LVL_INFO, 0, "test");
	capture(STICKY_LOG_WARN, "wsgi_errors",
	    "a \"quoted\" line\nlevel=error event=forged", out, sizeof(out));
	cr_assert(strstr(out, "level=warn event=wsgi_errors msg=\"a 'quoted' "
	    "line level=error event=forged\"\n") != NULL, "%s", out);
	cr_assert_eq(strchr(out, '\n'), strrchr(out, '\n'), "one line: %s", out);
}

Test(log, levels_and_defaults)
{
	char out[2048];

	log_setup(LOG_LVL_WARN, 0, "test");
	capture(STICKY_LOG_INFO, "app", "dropped", out, sizeof(out));
	cr_assert_str_eq(out, "");
	capture(99, NULL, NULL, out, sizeof(out));
	cr_assert_str_eq(out, "", "out of range means debug: dropped");
	capture(-5, "", "x", out, sizeof(out));
	cr_assert(strstr(out, "level=error event=app msg=\"x\"") != NULL, "%s", out);
}
