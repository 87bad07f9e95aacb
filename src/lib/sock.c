/*
 * sock.c: binding the workers' listening sockets (in the master, before
 * fork, so a respawned worker inherits its socket and no client ever sees
 * a refused connection) and connecting to one (stickyctl, tests).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "internal.h"
#include "sock.h"

/*
 * A port: 1-65535 in decimal digits only (strtol alone would take blanks,
 * a sign, and saturate on overflow).  Returns the port or -1.
 */
static long
parse_port(const char *s)
{
	long port = 0;

	if (*s == '\0')
		return -1;
	for (; *s != '\0'; s++) {
		if (*s < '0' || *s > '9')
			return -1;
		port = port * 10 + (*s - '0');
		if (port > 65535)
			return -1;
	}
	return port > 0 ? port : -1;
}

int
sock_expand(const char *spec, unsigned i, const char *tag, char *out,
    size_t outlen)
{
	struct sticky_buf b;
	const char *p, *colon;
	int rc = 0;

	buf_init(&b);
	if (strncmp(spec, "unix:", 5) == 0) {
		for (p = spec; *p != '\0' && rc == 0; p++) {
			if (p[0] == '%' && p[1] == 't') {
				rc = buf_puts(&b, tag);
				p++;
			} else if (p[0] == '%' && p[1] == 'i') {
				rc = buf_printf(&b, "%u", i);
				p++;
			} else
				rc = buf_append(&b, p, 1);
		}
	} else {
		long port;

		if ((colon = strrchr(spec, ':')) == NULL) {
			buf_cleanup(&b);
			return STICKY_EINVAL;
		}
		port = parse_port(colon + 1);
		if (port < 0 || (unsigned long)port + i > 65535) {
			buf_cleanup(&b);
			return STICKY_EINVAL;
		}
		rc = buf_printf(&b, "%.*s:%ld", (int)(colon - spec), spec,
		    port + (long)i);
	}
	if (rc == 0 && b.len + 1 > outlen)
		rc = STICKY_ETOOBIG;
	if (rc == 0)
		memcpy(out, b.data, b.len + 1);
	buf_cleanup(&b);
	return rc;
}

static void
seterr(char *err, size_t errlen, const char *what, const char *addr)
{
	if (err != NULL)
		snprintf(err, errlen, "%s %s: %s", what, addr, strerror(errno));
}

/* Parse "ADDR:PORT" ([v6]:port accepted) into a sockaddr. */
static int
parse_inet(const char *addr, struct sockaddr_storage *ss, socklen_t *len)
{
	char host[256];
	const char *colon = strrchr(addr, ':');
	size_t hl;
	long port;

	if (colon == NULL)
		return STICKY_EINVAL;
	hl = (size_t)(colon - addr);
	if (addr[0] == '[' && hl >= 2 && addr[hl - 1] == ']') {
		addr++;
		hl -= 2;
	}
	if (hl == 0 || hl >= sizeof(host))
		return STICKY_EINVAL;
	memcpy(host, addr, hl);
	host[hl] = '\0';
	if ((port = parse_port(colon + 1)) < 0)
		return STICKY_EINVAL;
	memset(ss, 0, sizeof(*ss));
	struct sockaddr_in *s4 = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;
	if (inet_pton(AF_INET, host, &s4->sin_addr) == 1) {
		s4->sin_family = AF_INET;
		s4->sin_port = htons((uint16_t)port);
		*len = sizeof(*s4);
		return 0;
	}
	if (inet_pton(AF_INET6, host, &s6->sin6_addr) == 1) {
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons((uint16_t)port);
		*len = sizeof(*s6);
		return 0;
	}
	return STICKY_EINVAL;
}

static int
unix_addr(const char *path, struct sockaddr_un *sun)
{
	memset(sun, 0, sizeof(*sun));
	sun->sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sun->sun_path))
		return STICKY_ETOOBIG;
	memcpy(sun->sun_path, path, strlen(path) + 1);
	return 0;
}

/*
 * Does a process listen on this unix socket?  A non-blocking connect says
 * at once: refused (or gone) means stale; accepted, or a full backlog
 * (EAGAIN), means in use.
 */
static int
unix_in_use(const struct sockaddr_un *sun)
{
	int fd, used;

	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
	    0)) == -1)
		return 0;
	used = connect(fd, (const struct sockaddr *)sun, sizeof(*sun)) == 0 ||
	    (errno != ECONNREFUSED && errno != ENOENT);
	close(fd);
	return used;
}

int
sock_listen(const char *addr, int backlog, long mode, uid_t uid, gid_t gid,
    char *err, size_t errlen)
{
	struct sockaddr_storage ss;
	struct sockaddr_un sun;
	struct stat st;
	socklen_t len;
	int fd = -1, one = 1;
	const char *bound = NULL; /* a unix socket file this call created */

	if (strncmp(addr, "unix:", 5) == 0) {
		const char *path = addr + 5;

		if (unix_addr(path, &sun) != 0) {
			errno = ENAMETOOLONG;
			seterr(err, errlen, "socket path", path);
			return STICKY_EINVAL;
		}
		/*
		 * Replace a stale socket; refuse to clobber anything else, or
		 * a socket a running process still listens on (a second
		 * master with the same configuration).
		 */
		if (lstat(path, &st) == 0) {
			if (!S_ISSOCK(st.st_mode)) {
				errno = EEXIST;
				seterr(err, errlen, "not a socket:", path);
				return STICKY_EINVAL;
			}
			if (unix_in_use(&sun)) {
				errno = EADDRINUSE;
				seterr(err, errlen, "in use by a running process:",
				    path);
				return STICKY_EINVAL;
			}
			unlink(path);
		}
		if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK |
		    SOCK_CLOEXEC, 0)) == -1)
			goto fail;
		if (bind(fd, (struct sockaddr *)&sun, sizeof(sun)) == -1)
			goto fail;
		bound = path;
		if (chmod(path, (mode_t)mode) == -1)
			goto fail;
		if ((uid != (uid_t)-1 || gid != (gid_t)-1) &&
		    chown(path, uid, gid) == -1)
			goto fail;
	} else {
		if (parse_inet(addr, &ss, &len) != 0) {
			errno = EINVAL;
			seterr(err, errlen, "bad address", addr);
			return STICKY_EINVAL;
		}
		if ((fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK |
		    SOCK_CLOEXEC, 0)) == -1)
			goto fail;
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (bind(fd, (struct sockaddr *)&ss, len) == -1)
			goto fail;
	}
	if (listen(fd, backlog) == -1)
		goto fail;
	return fd;
fail:
	seterr(err, errlen, "cannot listen on", addr);
	if (fd != -1)
		close(fd);
	if (bound != NULL)
		unlink(bound); /* no socket file nobody listens on */
	return STICKY_ESYS;
}

void
sock_unlink(const char *addr)
{
	struct stat st;

	if (strncmp(addr, "unix:", 5) == 0 && lstat(addr + 5, &st) == 0 &&
	    S_ISSOCK(st.st_mode))
		unlink(addr + 5);
}

int
sock_connect(const char *addr, int timeout_ms)
{
	struct sockaddr_storage ss;
	struct sockaddr_un sun;
	struct sockaddr *sa;
	socklen_t len;
	struct pollfd pfd;
	int fd, soerr = 0;
	socklen_t sl = sizeof(soerr);

	if (strncmp(addr, "unix:", 5) == 0) {
		if (unix_addr(addr + 5, &sun) != 0)
			return STICKY_EINVAL;
		sa = (struct sockaddr *)&sun;
		len = sizeof(sun);
	} else {
		if (parse_inet(addr, &ss, &len) != 0)
			return STICKY_EINVAL;
		sa = (struct sockaddr *)&ss;
	}
	if ((fd = socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK |
	    SOCK_CLOEXEC, 0)) == -1)
		return STICKY_ESYS;
	if (connect(fd, sa, len) == -1) {
		if (errno != EINPROGRESS && errno != EAGAIN)
			goto fail;
		pfd.fd = fd;
		pfd.events = POLLOUT;
		if (poll(&pfd, 1, timeout_ms) != 1) {
			errno = ETIMEDOUT;
			goto fail;
		}
		if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) == -1 ||
		    soerr != 0) {
			errno = soerr;
			goto fail;
		}
	}
	return fd;
fail:
	close(fd);
	return STICKY_ESYS;
}
