/*
 * test_sock.c: worker listening sockets (sock.c): the listen pattern
 * expansion (sock_expand: %t, %i, ADDR:PORT + worker index), the address
 * parser behind sock_listen and sock_connect (through their error codes:
 * STICKY_EINVAL for an address that does not parse, STICKY_ESYS for one
 * that parses but cannot be used), and real unix and TCP sockets: mode,
 * stale socket replaced, one in use refused, other files left alone, the
 * sun_path limit.
 *
 * Limits: the listening TCP tests bind to ports the kernel just reported
 * free (a race with other processes is possible, not likely); [::1] tests
 * are skipped where the host has no IPv6 loopback; chown is not tested
 * (root only).
 * Addresses in 192.0.2.0/24 and 2001:db8::/32 (documentation ranges) are
 * used where a valid address that no host interface has is needed.
 */
#include <criterion/criterion.h>
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "config.h"
#include "internal.h"
#include "sock.h"

static char err[512];

/* sock_expand into a fresh buffer; returns its result, out is "" on error. */
static int
expand(const char *spec, unsigned i, const char *tag, char *out, size_t outlen)
{
	int rc;

	memset(out, 0, outlen);
	rc = sock_expand(spec, i, tag, out, outlen);
	if (rc != 0)
		cr_assert_eq(out[0], '\0', "%s: output written on error %d",
		    spec, rc);
	return rc;
}

/* sock_listen with the defaults stickyd uses; err is reset first. */
static int
listen_on(const char *addr)
{
	err[0] = '\0';
	return sock_listen(addr, 16, 0660, (uid_t)-1, (gid_t)-1, err, sizeof(err));
}

/* A free port on a loopback address of family af, or 0 if there is none. */
static unsigned
free_port(int af)
{
	struct sockaddr_storage ss;
	socklen_t len;
	unsigned port = 0;
	int fd;

	memset(&ss, 0, sizeof(ss));
	if (af == AF_INET) {
		struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;

		s4->sin_family = AF_INET;
		s4->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		len = sizeof(*s4);
	} else {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;

		s6->sin6_family = AF_INET6;
		s6->sin6_addr = in6addr_loopback;
		len = sizeof(*s6);
	}
	if ((fd = socket(af, SOCK_STREAM, 0)) == -1)
		return 0;
	if (bind(fd, (struct sockaddr *)&ss, len) == 0 &&
	    getsockname(fd, (struct sockaddr *)&ss, &len) == 0)
		port = ntohs(af == AF_INET ? ((struct sockaddr_in *)&ss)->sin_port :
		    ((struct sockaddr_in6 *)&ss)->sin6_port);
	close(fd);
	return port;
}

/* A private directory for unix sockets; removed by rmtree(). */
static void
mktmpdir(char *dir, size_t len)
{
	snprintf(dir, len, "/tmp/sticky-sock-test.XXXXXX");
	cr_assert_not_null(mkdtemp(dir), "mkdtemp: %s", strerror(errno));
}

static void
rmtree(const char *dir, const char *file)
{
	char path[512];

	if (file != NULL) {
		snprintf(path, sizeof(path), "%s/%s", dir, file);
		unlink(path);
	}
	rmdir(dir);
}

/* Accept one connection on a listening fd (non-blocking: poll first). */
static int
accept_one(int lfd)
{
	for (int tries = 0; tries < 200; tries++) {
		int fd = accept(lfd, NULL, NULL);

		if (fd >= 0)
			return fd;
		cr_assert(errno == EAGAIN || errno == EWOULDBLOCK, "accept: %s",
		    strerror(errno));
		usleep(5000);
	}
	return -1;
}

/* ---- sock_expand: unix paths ---- */

Test(sock_expand, unix_tag_and_index)
{
	char out[256];

	cr_assert_eq(expand("unix:/run/sticky/%t.sock", 3, "w3", out, sizeof(out)), 0);
	cr_assert_str_eq(out, "unix:/run/sticky/w3.sock");
	cr_assert_eq(expand("unix:/run/sticky/%t.sock", 0, "web2-w0", out, sizeof(out)), 0);
	cr_assert_str_eq(out, "unix:/run/sticky/web2-w0.sock");
	cr_assert_eq(expand("unix:/tmp/s%i.sock", 12, "w12", out, sizeof(out)), 0);
	cr_assert_str_eq(out, "unix:/tmp/s12.sock");
	cr_assert_eq(expand("unix:/tmp/s%i.sock", 4294967295u, "x", out, sizeof(out)), 0);
	cr_assert_str_eq(out, "unix:/tmp/s4294967295.sock");
}

Test(sock_expand, unix_every_occurrence)
{
	char out[256];

	cr_assert_eq(expand("unix:/x/%t/%t-%i-%i.sock", 7, "a_b", out, sizeof(out)), 0);
	cr_assert_str_eq(out, "unix:/x/a_b/a_b-7-7.sock");
	cr_assert_eq(expand("unix:%t%i", 1, "w1", out, sizeof(out)), 0);
	cr_assert_str_eq(out, "unix:w11", "relative paths are config_validate's business");
}

Test(sock_expand, unix_other_percent_signs_are_kept)
{
	char out[256];

	cr_assert_eq(expand("unix:/a%/b%x%T%I%", 1, "w1", out, sizeof(out)), 0);
	cr_assert_str_eq(out, "unix:/a%/b%x%T%I%", "only %t and %i are expanded");
	/* No escape for a literal "%t": "%%t" is "%" then the tag. */
	cr_assert_eq(expand("unix:/a%%t", 1, "w1", out, sizeof(out)), 0);
	cr_assert_str_eq(out, "unix:/a%w1");
	cr_assert_eq(expand("unix:/a/%t.sock", 1, "", out, sizeof(out)), 0);
	cr_assert_str_eq(out, "unix:/a/.sock", "an empty tag expands to nothing");
}

Test(sock_expand, unix_without_pattern_is_the_same_for_every_worker)
{
	char a[256], b[256];
	struct sticky_config *cfg;

	/* sock_expand does not refuse it... */
	cr_assert_eq(expand("unix:/tmp/one.sock", 0, "w0", a, sizeof(a)), 0);
	cr_assert_eq(expand("unix:/tmp/one.sock", 1, "w1", b, sizeof(b)), 0);
	cr_assert_str_eq(a, b);
	cr_assert_str_eq(a, "unix:/tmp/one.sock");
	/* ...config_validate does, for more than one worker. */
	cr_assert_eq(sticky_config_new(&cfg), 0);
	cr_assert_eq(sticky_config_set(cfg, "listen", "unix:/tmp/one.sock", NULL, 0), 0);
	cr_assert_eq(sticky_config_set(cfg, "workers", "1", NULL, 0), 0);
	cr_assert_eq(config_validate(cfg, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(sticky_config_set(cfg, "workers", "2", NULL, 0), 0);
	cr_assert_eq(config_validate(cfg, err, sizeof(err)), STICKY_ECONFIG);
	cr_assert(strstr(err, "needs %t or %i") != NULL, "%s", err);
	sticky_config_free(cfg);
}

Test(sock_expand, default_listen_gives_each_worker_its_socket)
{
	struct sticky_config *cfg;
	char tag[64], addr[8][256];

	cr_assert_eq(sticky_config_new(&cfg), 0);
	cr_assert_eq(sticky_config_set(cfg, "workers", "8", NULL, 0), 0);
	cr_assert_eq(config_validate(cfg, err, sizeof(err)), 0, "%s", err);
	for (unsigned i = 0; i < 8; i++) {
		snprintf(tag, sizeof(tag), "w%u", i);
		cr_assert_eq(expand(cfg->listen, i, tag, addr[i], sizeof(addr[i])), 0);
		for (unsigned j = 0; j < i; j++)
			cr_assert_str_neq(addr[i], addr[j]);
	}
	cr_assert_str_eq(addr[5], "unix:/run/sticky/w5.sock");
	sticky_config_free(cfg);
}

Test(sock_expand, output_buffer_limit)
{
	char out[32];
	const char *spec = "unix:/run/%t.sock"; /* "unix:/run/w1.sock": 17 + NUL */

	cr_assert_eq(expand(spec, 1, "w1", out, 18), 0, "exact fit");
	cr_assert_str_eq(out, "unix:/run/w1.sock");
	cr_assert_eq(expand(spec, 1, "w1", out, 17), STICKY_ETOOBIG, "no room for NUL");
	cr_assert_eq(expand(spec, 1, "w1", out, 1), STICKY_ETOOBIG);
	cr_assert_eq(sock_expand(spec, 1, "w1", out, 0), STICKY_ETOOBIG);
	cr_assert_eq(expand("127.0.0.1:9000", 5, "w5", out, 15), 0);
	cr_assert_str_eq(out, "127.0.0.1:9005");
	cr_assert_eq(expand("127.0.0.1:9000", 5, "w5", out, 14), STICKY_ETOOBIG);
}

/* ---- sock_expand: ADDR:PORT ---- */

Test(sock_expand, inet_port_plus_index)
{
	char out[256];

	cr_assert_eq(expand("127.0.0.1:9000", 0, "w0", out, sizeof(out)), 0);
	cr_assert_str_eq(out, "127.0.0.1:9000");
	cr_assert_eq(expand("127.0.0.1:9000", 5, "w5", out, sizeof(out)), 0);
	cr_assert_str_eq(out, "127.0.0.1:9005", "the tag plays no part");
	cr_assert_eq(expand("[::1]:9000", 2, "w2", out, sizeof(out)), 0);
	cr_assert_str_eq(out, "[::1]:9002");
	cr_assert_eq(expand("0.0.0.0:1", 0, "w0", out, sizeof(out)), 0);
	cr_assert_str_eq(out, "0.0.0.0:1");
	cr_assert_eq(expand("127.0.0.1:09000", 1, "w1", out, sizeof(out)), 0);
	cr_assert_str_eq(out, "127.0.0.1:9001", "written back in plain decimal");
}

Test(sock_expand, inet_host_is_not_checked_here)
{
	char out[256];

	/* The host is copied; sock_listen refuses what it cannot parse. */
	cr_assert_eq(expand("localhost:9000", 1, "w1", out, sizeof(out)), 0);
	cr_assert_str_eq(out, "localhost:9001");
	cr_assert_eq(expand("127.0.0.%i:9000", 1, "w1", out, sizeof(out)), 0);
	cr_assert_str_eq(out, "127.0.0.%i:9001", "no %i expansion in ADDR:PORT");
	cr_assert_eq(listen_on(out), STICKY_EINVAL);
}

Test(sock_expand, inet_port_range)
{
	char out[256];

	cr_assert_eq(expand("127.0.0.1:65535", 0, "w0", out, sizeof(out)), 0);
	cr_assert_str_eq(out, "127.0.0.1:65535");
	cr_assert_eq(expand("127.0.0.1:65535", 1, "w1", out, sizeof(out)), STICKY_EINVAL,
	    "the last worker's port would be 65536");
	cr_assert_eq(expand("127.0.0.1:65530", 5, "w5", out, sizeof(out)), 0);
	cr_assert_str_eq(out, "127.0.0.1:65535");
	cr_assert_eq(expand("127.0.0.1:65530", 6, "w6", out, sizeof(out)), STICKY_EINVAL);
	cr_assert_eq(expand("127.0.0.1:9000", 4294967295u, "x", out, sizeof(out)),
	    STICKY_EINVAL, "a huge index does not wrap");
	cr_assert_eq(expand("127.0.0.1:65536", 0, "w0", out, sizeof(out)), STICKY_EINVAL);
	cr_assert_eq(expand("127.0.0.1:0", 0, "w0", out, sizeof(out)), STICKY_EINVAL);
	cr_assert_eq(expand("127.0.0.1:0", 1, "w1", out, sizeof(out)), STICKY_EINVAL,
	    "port 0 is refused even when 0 + i would be a port");
}

Test(sock_expand, inet_bad_ports)
{
	static const char *const bad[] = {
		"127.0.0.1", "127.0.0.1:", "127.0.0.1:x", "127.0.0.1:80x",
		"127.0.0.1:-1", "127.0.0.1:-9000", "127.0.0.1: 9000",
		"127.0.0.1:+9000", "127.0.0.1:9000 ", "127.0.0.1:0x10",
		"127.0.0.1:9e3", "127.0.0.1:99999999999999999999",
		"127.0.0.1:9223372036854775807", "", "no-colon", "[::1]",
	};
	char out[256];

	for (size_t k = 0; k < sizeof(bad) / sizeof(bad[0]); k++)
		for (unsigned i = 0; i < 3; i++)
			cr_assert_eq(expand(bad[k], i, "w", out, sizeof(out)),
			    STICKY_EINVAL, "'%s' worker %u: accepted as '%s'",
			    bad[k], i, out);
}

/* ---- the ADDR:PORT parser (sock_listen, sock_connect) ---- */

Test(sock_parse, unparsable_addresses_are_einval)
{
	static const char *const bad[] = {
		"localhost:9000",        /* no names */
		"example.com:80",
		"127.0.0.1",             /* no port */
		"127.0.0.1:",
		"127.0.0.1:0",
		"127.0.0.1:65536",
		"127.0.0.1:-80",
		"127.0.0.1:+80",
		"127.0.0.1: 80",
		"127.0.0.1:80 ",
		"127.0.0.1:99999999999999999999",
		":9000",                 /* no host */
		"[]:9000",
		"[::1]",                 /* brackets, no port */
		"[::1:9000",             /* unclosed bracket */
		"::1]:9000",
		"[::1]x:9000",
		"256.0.0.1:9000",
		"1.2.3.4.5:9000",
		"127.0.0.1 :9000",
		" 127.0.0.1:9000",
		"::g:9000",
		"",
		"unixx:/tmp/a",          /* not "unix:", so ADDR:PORT, and no port */
	};

	for (size_t k = 0; k < sizeof(bad) / sizeof(bad[0]); k++) {
		int rc = listen_on(bad[k]);

		if (rc >= 0)
			close(rc);
		cr_assert_eq(rc, STICKY_EINVAL, "sock_listen('%s') = %d", bad[k], rc);
		cr_assert(strncmp(err, "bad address ", 12) == 0, "'%s': %s", bad[k], err);
		cr_assert(strstr(err, bad[k]) != NULL, "the error names the address: %s",
		    err);
		cr_assert_eq(sock_connect(bad[k], 100), STICKY_EINVAL,
		    "sock_connect('%s')", bad[k]);
	}
}

Test(sock_parse, host_too_long)
{
	char addr[400];

	memset(addr, '1', 300);
	strcpy(addr + 300, ":9000");
	cr_assert_eq(listen_on(addr), STICKY_EINVAL, "%s", err);
	cr_assert_eq(sock_connect(addr, 100), STICKY_EINVAL);
}

/*
 * Valid addresses that no interface has: they parse (so not EINVAL, and
 * not "bad address"), then bind fails (STICKY_ESYS).  Non-loopback hosts
 * are not refused as such: that is the administrator's choice.
 */
Test(sock_parse, parsable_addresses_reach_bind)
{
	static const char *const good[] = {
		"192.0.2.1:9000", "192.0.2.1:65535", "192.0.2.1:1",
		"192.0.2.1:00080",
		"[2001:db8::1]:9000", "2001:db8::1:9000", "[2001:db8::1:2]:65535",
		"[192.0.2.1]:9000",
	};

	for (size_t k = 0; k < sizeof(good) / sizeof(good[0]); k++) {
		int rc = listen_on(good[k]);

		if (rc >= 0)
			close(rc);
		cr_assert_neq(rc, STICKY_EINVAL, "'%s' refused by the parser: %s",
		    good[k], err);
		cr_assert_eq(rc, STICKY_ESYS, "'%s': %d", good[k], rc);
		cr_assert(strncmp(err, "cannot listen on ", 17) == 0, "%s", err);
	}
}

/* ---- TCP ---- */

Test(sock_tcp, listen_connect_ipv4)
{
	char addr[64], got[8] = "";
	unsigned port = free_port(AF_INET);
	int lfd, cfd, afd;
	struct sockaddr_in sin;
	socklen_t len = sizeof(sin);

	cr_assert_neq(port, 0);
	snprintf(addr, sizeof(addr), "127.0.0.1:%u", port);
	lfd = listen_on(addr);
	cr_assert_geq(lfd, 0, "%s: %s", addr, err);
	cr_assert(fcntl(lfd, F_GETFL) & O_NONBLOCK, "the listening socket blocks");
	cr_assert_eq(getsockname(lfd, (struct sockaddr *)&sin, &len), 0);
	cr_assert_eq(sin.sin_family, AF_INET);
	cr_assert_eq(ntohs(sin.sin_port), port);
	cr_assert_eq(ntohl(sin.sin_addr.s_addr), INADDR_LOOPBACK);

	cfd = sock_connect(addr, 1000);
	cr_assert_geq(cfd, 0, "sock_connect(%s) = %d", addr, cfd);
	cr_assert(fcntl(cfd, F_GETFD) & FD_CLOEXEC, "connected socket not CLOEXEC");
	afd = accept_one(lfd);
	cr_assert_geq(afd, 0);
	cr_assert_eq(write(cfd, "ping", 4), 4);
	for (int t = 0; t < 200 && read(afd, got, 4) != 4; t++)
		usleep(5000);
	cr_assert_str_eq(got, "ping");
	close(afd);
	close(cfd);

	/* The port is taken: a second listener fails, naming the address. */
	cr_assert_eq(listen_on(addr), STICKY_ESYS);
	cr_assert(strstr(err, addr) != NULL, "%s", err);
	close(lfd);
}

Test(sock_tcp, listen_connect_ipv6)
{
	char addr[64];
	unsigned port = free_port(AF_INET6);
	int lfd, cfd, afd;
	struct sockaddr_in6 sin6;
	socklen_t len = sizeof(sin6);

	if (port == 0)
		cr_skip_test("no IPv6 loopback here");
	snprintf(addr, sizeof(addr), "[::1]:%u", port);
	lfd = listen_on(addr);
	cr_assert_geq(lfd, 0, "%s: %s", addr, err);
	cr_assert_eq(getsockname(lfd, (struct sockaddr *)&sin6, &len), 0);
	cr_assert_eq(sin6.sin6_family, AF_INET6);
	cr_assert_eq(ntohs(sin6.sin6_port), port);
	cr_assert(IN6_IS_ADDR_LOOPBACK(&sin6.sin6_addr));
	cfd = sock_connect(addr, 1000);
	cr_assert_geq(cfd, 0, "sock_connect(%s) = %d", addr, cfd);
	afd = accept_one(lfd);
	cr_assert_geq(afd, 0);
	close(afd);
	close(cfd);
	/* Without brackets: the last colon separates the port. */
	snprintf(addr, sizeof(addr), "::1:%u", port);
	cfd = sock_connect(addr, 1000);
	cr_assert_geq(cfd, 0, "sock_connect(%s) = %d", addr, cfd);
	close(cfd);
	close(lfd);
}

Test(sock_tcp, connect_refused)
{
	struct sockaddr_in sin;
	socklen_t len = sizeof(sin);
	char addr[64];
	int fd;

	/* A port bound but not listening: refused, and no one else can take it. */
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	fd = socket(AF_INET, SOCK_STREAM, 0);
	cr_assert_geq(fd, 0);
	cr_assert_eq(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	cr_assert_eq(getsockname(fd, (struct sockaddr *)&sin, &len), 0);
	snprintf(addr, sizeof(addr), "127.0.0.1:%u", (unsigned)ntohs(sin.sin_port));
	cr_assert_eq(sock_connect(addr, 1000), STICKY_ESYS,
	    "nobody listens on %s", addr);
	close(fd);
}

/* ---- unix sockets ---- */

Test(sock_unix, listen_mode_connect_unlink)
{
	char dir[64], addr[128];
	struct stat st;
	int lfd, cfd, afd;

	mktmpdir(dir, sizeof(dir));
	snprintf(addr, sizeof(addr), "unix:%s/w0.sock", dir);
	lfd = listen_on(addr);
	cr_assert_geq(lfd, 0, "%s: %s", addr, err);
	cr_assert(fcntl(lfd, F_GETFL) & O_NONBLOCK, "the listening socket blocks");
	cr_assert_eq(lstat(addr + 5, &st), 0);
	cr_assert(S_ISSOCK(st.st_mode));
	cr_assert_eq(st.st_mode & 07777, 0660, "mode %o", st.st_mode & 07777);

	cfd = sock_connect(addr, 1000);
	cr_assert_geq(cfd, 0, "sock_connect(%s) = %d", addr, cfd);
	afd = accept_one(lfd);
	cr_assert_geq(afd, 0);
	close(afd);
	close(cfd);
	close(lfd);

	sock_unlink(addr);
	cr_assert_eq(lstat(addr + 5, &st), -1, "the socket file is gone");
	cr_assert_eq(sock_connect(addr, 1000), STICKY_ESYS);
	sock_unlink(addr); /* twice: nothing to do */
	rmtree(dir, NULL);
}

Test(sock_unix, other_modes)
{
	char dir[64], addr[128];
	struct stat st;
	int lfd;

	mktmpdir(dir, sizeof(dir));
	snprintf(addr, sizeof(addr), "unix:%s/w0.sock", dir);
	lfd = sock_listen(addr, 4, 0600, (uid_t)-1, (gid_t)-1, err, sizeof(err));
	cr_assert_geq(lfd, 0, "%s", err);
	cr_assert_eq(lstat(addr + 5, &st), 0);
	cr_assert_eq(st.st_mode & 07777, 0600, "mode %o", st.st_mode & 07777);
	close(lfd);
	lfd = sock_listen(addr, 4, 0666, (uid_t)-1, (gid_t)-1, err, sizeof(err));
	cr_assert_geq(lfd, 0, "%s", err);
	cr_assert_eq(lstat(addr + 5, &st), 0);
	cr_assert_eq(st.st_mode & 07777, 0666, "mode %o", st.st_mode & 07777);
	close(lfd);
	rmtree(dir, "w0.sock");
}

Test(sock_unix, stale_socket_is_replaced)
{
	char dir[64], addr[128];
	int lfd, cfd;

	mktmpdir(dir, sizeof(dir));
	snprintf(addr, sizeof(addr), "unix:%s/w1.sock", dir);
	lfd = listen_on(addr);
	cr_assert_geq(lfd, 0, "%s", err);
	close(lfd); /* the file stays behind, as after a crash */
	cr_assert_eq(sock_connect(addr, 1000), STICKY_ESYS, "nobody listens");
	lfd = listen_on(addr);
	cr_assert_geq(lfd, 0, "the stale socket was not replaced: %s", err);
	cfd = sock_connect(addr, 1000);
	cr_assert_geq(cfd, 0);
	close(cfd);
	close(lfd);
	rmtree(dir, "w1.sock");
}

Test(sock_unix, socket_in_use_is_not_taken_over)
{
	char dir[64], addr[128];
	int lfd, cfd;

	mktmpdir(dir, sizeof(dir));
	snprintf(addr, sizeof(addr), "unix:%s/w1.sock", dir);
	lfd = listen_on(addr);
	cr_assert_geq(lfd, 0, "%s", err);
	/* A second master with the same configuration. */
	cr_assert_lt(listen_on(addr), 0, "a listening socket was replaced");
	cr_assert_not_null(strstr(err, "in use"), "%s", err);
	cfd = sock_connect(addr, 1000);
	cr_assert_geq(cfd, 0, "the first listener lost its socket");
	close(cfd);
	close(lfd);
	rmtree(dir, "w1.sock");
}

Test(sock_unix, other_files_are_left_alone)
{
	char dir[64], addr[128], sub[160], buf[16] = "";
	struct stat st;
	FILE *f;

	mktmpdir(dir, sizeof(dir));
	snprintf(addr, sizeof(addr), "unix:%s/data", dir);
	f = fopen(addr + 5, "w");
	cr_assert_not_null(f);
	fputs("precious", f);
	fclose(f);

	cr_assert_eq(listen_on(addr), STICKY_EINVAL);
	cr_assert(strstr(err, "not a socket") != NULL, "%s", err);
	cr_assert(strstr(err, addr + 5) != NULL, "%s", err);
	sock_unlink(addr);
	f = fopen(addr + 5, "r");
	cr_assert_not_null(f, "sock_unlink removed a file");
	cr_assert_not_null(fgets(buf, sizeof(buf), f));
	fclose(f);
	cr_assert_str_eq(buf, "precious");

	/* A directory is not a socket either. */
	snprintf(sub, sizeof(sub), "%s/d", dir);
	cr_assert_eq(mkdir(sub, 0700), 0);
	snprintf(addr, sizeof(addr), "unix:%s/d", dir);
	cr_assert_eq(listen_on(addr), STICKY_EINVAL);
	sock_unlink(addr);
	cr_assert_eq(lstat(sub, &st), 0);
	cr_assert(S_ISDIR(st.st_mode));
	rmdir(sub);
	rmtree(dir, "data");
}

Test(sock_unix, symlink_to_a_file_is_not_followed)
{
	char dir[64], addr[128], target[128];
	struct stat st;
	FILE *f;

	mktmpdir(dir, sizeof(dir));
	snprintf(target, sizeof(target), "%s/target", dir);
	f = fopen(target, "w");
	cr_assert_not_null(f);
	fclose(f);
	snprintf(addr, sizeof(addr), "unix:%s/link", dir);
	cr_assert_eq(symlink(target, addr + 5), 0);
	cr_assert_eq(listen_on(addr), STICKY_EINVAL, "%s", err);
	sock_unlink(addr);
	cr_assert_eq(lstat(addr + 5, &st), 0, "the link is still there");
	cr_assert_eq(stat(target, &st), 0, "the target is still there");
	unlink(addr + 5);
	rmtree(dir, "target");
}

Test(sock_unix, missing_directory)
{
	cr_assert_eq(listen_on("unix:/nonexistent-sticky-dir/w0.sock"), STICKY_ESYS);
	cr_assert(strstr(err, "cannot listen on unix:/nonexistent-sticky-dir/w0.sock")
	    != NULL, "%s", err);
	cr_assert_eq(sock_connect("unix:/nonexistent-sticky-dir/w0.sock", 100),
	    STICKY_ESYS);
	sock_unlink("unix:/nonexistent-sticky-dir/w0.sock");
}

/* sun_path holds 107 bytes and a NUL: 107 is the longest path that works. */
Test(sock_unix, path_length_limit)
{
	struct sockaddr_un sun;
	char dir[64], addr[256], name[160];
	size_t max = sizeof(sun.sun_path) - 1, dl;
	int lfd, cfd;

	mktmpdir(dir, sizeof(dir));
	dl = strlen(dir);
	cr_assert_lt(dl + 2, max);
	memset(name, 'a', max - dl - 1);
	name[max - dl - 1] = '\0';
	snprintf(addr, sizeof(addr), "unix:%s/%s", dir, name);
	cr_assert_eq(strlen(addr + 5), max);
	lfd = listen_on(addr);
	cr_assert_geq(lfd, 0, "a %zu-byte path: %s", max, err);
	cfd = sock_connect(addr, 1000);
	cr_assert_geq(cfd, 0);
	close(cfd);
	close(lfd);
	sock_unlink(addr);

	strcat(addr, "a"); /* one byte over */
	cr_assert_eq(strlen(addr + 5), max + 1);
	cr_assert_eq(listen_on(addr), STICKY_EINVAL);
	cr_assert(strstr(err, "socket path") != NULL, "%s", err);
	cr_assert(strstr(err, strerror(ENAMETOOLONG)) != NULL, "%s", err);
	cr_assert_eq(sock_connect(addr, 100), STICKY_EINVAL);
	rmtree(dir, NULL);
}

Test(sock_unix, expanded_tag_can_overflow_sun_path)
{
	char out[512], tag[33];

	/* sock_expand does not know the limit; sock_listen refuses the result. */
	memset(tag, 'w', 32);
	tag[32] = '\0';
	cr_assert_eq(expand("unix:/tmp/a-rather-long-directory-name-for-sockets/"
	    "and-another-one/%t/%t/%t.sock", 0, tag, out, sizeof(out)), 0);
	cr_assert_gt(strlen(out + 5), 107);
	cr_assert_eq(listen_on(out), STICKY_EINVAL);
	cr_assert(strstr(err, "socket path") != NULL, "%s", err);
}

Test(sock_unix, error_buffer_is_optional_and_bounded)
{
	char small[8];

	cr_assert_eq(sock_listen("localhost:80", 4, 0660, (uid_t)-1, (gid_t)-1,
	    NULL, 0), STICKY_EINVAL);
	memset(small, 'x', sizeof(small));
	cr_assert_eq(sock_listen("localhost:80", 4, 0660, (uid_t)-1, (gid_t)-1,
	    small, sizeof(small)), STICKY_EINVAL);
	cr_assert_eq(strlen(small), sizeof(small) - 1, "truncated, terminated");
	cr_assert_eq(sock_listen("unix:/nonexistent-sticky-dir/x", 4, 0660,
	    (uid_t)-1, (gid_t)-1, NULL, 0), STICKY_ESYS);
}

/*
 * A host:port address names no file: sock_unlink leaves alone a socket
 * whose relative path happens to be spelt the same, and so does "".  The
 * same path given as unix: is removed (the control).
 */
Test(sock_unix, unlink_ignores_inet_addresses)
{
	char dir[64], addr[128], cwd[512];
	struct stat st;
	int lfd;

	mktmpdir(dir, sizeof(dir));
	snprintf(addr, sizeof(addr), "unix:%s/127.0.0.1:9000", dir);
	lfd = listen_on(addr);
	cr_assert_geq(lfd, 0, "%s", err);
	close(lfd);
	cr_assert_not_null(getcwd(cwd, sizeof(cwd)));
	cr_assert_eq(chdir(dir), 0);
	sock_unlink("127.0.0.1:9000");
	sock_unlink("");
	cr_assert_eq(lstat("127.0.0.1:9000", &st), 0, "an inet address removed a file");
	cr_assert(S_ISSOCK(st.st_mode));
	sock_unlink("unix:127.0.0.1:9000");
	cr_assert_eq(lstat("127.0.0.1:9000", &st), -1, "the unix: form is removed");
	cr_assert_eq(chdir(cwd), 0);
	rmtree(dir, "127.0.0.1:9000");
}
