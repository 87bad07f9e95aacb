/*
 * log.c: one line per event with key=value fields, to stderr, a file or
 * syslog.  Session ids are never logged whole: callers pass them through
 * log_sid(), which keeps a prefix long enough to correlate lines and too
 * short to replay.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"

/* Process-wide logging setup: written at startup and after fork only. */
static struct {
	enum log_level level;
	int use_syslog;
	char tag[40];
} logcfg = { LOG_LVL_INFO, 0, "" };

static const char *const level_names[] = { "error", "warn", "info", "debug" };

void
log_setup(enum log_level level, int use_syslog, const char *ident)
{
	logcfg.level = level;
	if (use_syslog && !logcfg.use_syslog)
		openlog(ident != NULL ? ident : "sticky", LOG_PID | LOG_NDELAY,
		    LOG_DAEMON);
	logcfg.use_syslog = use_syslog;
}

int
file_open_safe(const char *path, int flags, mode_t mode, const char **why)
{
	struct stat st;
	int fd;

	*why = "";
	fd = open(path, flags | O_CREAT | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY |
	    O_NONBLOCK, mode);
	if (fd == -1) {
		*why = errno == ELOOP ? "is a symbolic link" : strerror(errno);
		return errno == ELOOP ? STICKY_EINVAL : STICKY_ESYS;
	}
	if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode) || st.st_nlink != 1) {
		*why = !S_ISREG(st.st_mode) ? "is not a regular file" :
		    "has other hard links";
		close(fd);
		return STICKY_EINVAL;
	}
	/* Blocking writes from here on, as for any log or pid file. */
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
	return fd;
}

int
log_reopen(const char *path)
{
	const char *why;
	int fd;

	if (path == NULL || *path == '\0')
		return 0;
	if ((fd = file_open_safe(path, O_WRONLY | O_APPEND, 0640, &why)) < 0) {
		log_err("log_file_refused", "path=\"%s\" reason=\"%s\"", path,
		    why);
		return fd;
	}
	if (dup2(fd, STDERR_FILENO) == -1) {
		close(fd);
		return STICKY_ESYS;
	}
	close(fd);
	return 0;
}

void
log_set_worker(const char *tag)
{
	if (tag == NULL)
		logcfg.tag[0] = '\0';
	else
		snprintf(logcfg.tag, sizeof(logcfg.tag), "%s", tag);
}

int
log_parse_level(const char *s, enum log_level *out)
{
	for (size_t i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++)
		if (strcasecmp(s, level_names[i]) == 0) {
			*out = (enum log_level)i;
			return 0;
		}
	return STICKY_EINVAL;
}

void
log_msg(enum log_level lvl, const char *event, const char *fmt, ...)
{
	char line[1024], ts[32];
	struct timespec tsp;
	struct tm tm;
	va_list ap;
	int n, saved = errno;
	static const int prio[] = { LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG };

	if (lvl > logcfg.level)
		return;
	n = snprintf(line, sizeof(line), "level=%s event=%s", level_names[lvl],
	    event);
	if (logcfg.tag[0] != '\0' && n >= 0 && (size_t)n < sizeof(line))
		n += snprintf(line + n, sizeof(line) - (size_t)n, " worker=%s",
		    logcfg.tag);
	if (fmt != NULL && *fmt != '\0' && n >= 0 && (size_t)n < sizeof(line) - 1) {
		line[n++] = ' ';
		va_start(ap, fmt);
		vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
		va_end(ap);
	}
	/* A value never spans lines: newlines would forge log entries. */
	for (char *p = line; *p != '\0'; p++)
		if (*p == '\n' || *p == '\r')
			*p = ' ';
	if (logcfg.use_syslog) {
		syslog(prio[lvl], "%s", line);
	} else {
		clock_gettime(CLOCK_REALTIME, &tsp);
		gmtime_r(&tsp.tv_sec, &tm);
		strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", &tm);
		fprintf(stderr, "ts=%s.%03ldZ pid=%ld %s\n", ts,
		    tsp.tv_nsec / 1000000, (long)getpid(), line);
	}
	errno = saved;
}

const char *
log_sid(const char *sid, char out[16])
{
	size_t n = 0;

	if (sid == NULL)
		return "-";
	while (n < 6 && sid[n] != '\0')
		n++;
	memcpy(out, sid, n);
	memcpy(out + n, "...", 4);
	return out;
}

void
sticky_log(int level, const char *event, const char *msg)
{
	char text[900];
	size_t n = 0;

	if (level < STICKY_LOG_ERR)
		level = STICKY_LOG_ERR;
	if (level > STICKY_LOG_DEBUG)
		level = STICKY_LOG_DEBUG;
	/* A quote in the text would end the field early: make it '. */
	for (; msg != NULL && msg[n] != '\0' && n < sizeof(text) - 1; n++)
		text[n] = msg[n] == '"' ? '\'' : msg[n];
	text[n] = '\0';
	log_msg((enum log_level)level, event != NULL && *event != '\0' ?
	    event : "app", "msg=\"%s\"", text);
}
