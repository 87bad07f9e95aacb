/*
 * cmd_status.c: `stickyctl status` asks a worker for the status page over
 * FastCGI, as the front-end would, and `stickyctl conf` prints the example
 * configuration from the key table.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "allow.h"
#include "cli.h"
#include "config.h"
#include "fcgi.h"
#include "route.h"
#include "sid.h"
#include "sock.h"

#define TIMEOUT_MS 3000

static int
fetch(const char *addr, const char *path, const char *query,
    const char *token, struct fcgi_response *resp)
{
	const struct fcgi_param params[] = {
		{ "REQUEST_METHOD", "GET", 14, 3 },
		{ "DOCUMENT_URI", path, 12, strlen(path) },
		{ "REQUEST_URI", path, 11, strlen(path) },
		{ "QUERY_STRING", query, 12, strlen(query) },
		{ "REMOTE_ADDR", "127.0.0.1", 11, 9 },
		{ "SERVER_PROTOCOL", "HTTP/1.1", 15, 8 },
		{ "HTTP_X_STICKY_STATUS_TOKEN", token, 26, strlen(token) },
	};
	size_t nparams = sizeof(params) / sizeof(params[0]) - (*token == '\0');
	struct sticky_buf out;
	unsigned char chunk[16384];
	struct pollfd pfd;
	int64_t deadline = now_ms() + TIMEOUT_MS;
	int fd, rc = STICKY_EPROTO;
	size_t off = 0;

	if ((fd = sock_connect(addr, TIMEOUT_MS)) < 0)
		return fd;
	buf_init(&out);
	if (fcgi_write_begin(&out, 1, FCGI_RESPONDER, 0) != 0 ||
	    fcgi_write_params(&out, 1, params, nparams) != 0 ||
	    fcgi_write_stdin(&out, 1, NULL, 0) != 0) {
		rc = STICKY_ENOMEM;
		goto out;
	}
	pfd.fd = fd;
	while (!resp->done) {
		int left = (int)(deadline - now_ms());

		if (left <= 0) {
			rc = STICKY_ETIMEDOUT;
			goto out;
		}
		pfd.events = off < out.len ? POLLOUT | POLLIN : POLLIN;
		if (poll(&pfd, 1, left) <= 0)
			continue;
		if (off < out.len && (pfd.revents & POLLOUT)) {
			ssize_t n = write(fd, out.data + off, out.len - off);

			if (n > 0)
				off += (size_t)n;
			else if (n == -1 && errno != EAGAIN)
				goto out;
		}
		if (pfd.revents & (POLLIN | POLLHUP)) {
			ssize_t n = read(fd, chunk, sizeof(chunk));

			if (n == 0)
				break;
			if (n < 0 && errno != EAGAIN)
				goto out;
			if (n > 0 && fcgi_response_feed(resp, chunk, (size_t)n) != 0)
				goto out;
		}
	}
	rc = resp->done ? 0 : STICKY_EPROTO;
out:
	buf_cleanup(&out);
	close(fd);
	return rc;
}

int
cmd_status(struct sticky_config *cfg, int argc, char *argv[])
{
	const char *fmt = argc > 1 ? argv[1] : "text";
	const char *want = argc > 2 ? argv[2] : NULL;
	char tag[SID_TAG_MAX + 1], addr[256];
	const char *query = strcmp(fmt, "json") == 0 ? "json" :
	    strcmp(fmt, "openmetrics") == 0 ? "openmetrics" : "";
	struct fcgi_response resp;
	const unsigned char *body;
	char token[STATUS_TOKEN_MAX + 1] = "", err[512];
	size_t len;
	int status, rc;

	/* The status socket, when there is one, answers for every worker. */
	if (cfg->status_listen[0] != '\0' && want == NULL) {
		fcgi_response_init(&resp);
		rc = fetch(cfg->status_listen, cfg->status_path[0] != '\0' ?
		    cfg->status_path : "/", query, "", &resp);
		if (rc == 0 && fcgi_response_status(&resp, &status) == 0 &&
		    status == 200) {
			body = fcgi_response_body(&resp, &len);
			fwrite(body, 1, len, stdout);
			fcgi_response_cleanup(&resp);
			return 0;
		}
		fprintf(stderr, "stickyctl: status socket %s: %s\n",
		    cfg->status_listen, rc != 0 ? sticky_strerror(rc) :
		    "status page refused");
		fcgi_response_cleanup(&resp);
		return 1;
	}
	if (cfg->status_path[0] == '\0') {
		fprintf(stderr, "stickyctl: status_path is not set in the "
		    "configuration\n");
		return 1;
	}
	if (cfg->status_token_file[0] != '\0' &&
	    allow_token_read(cfg->status_token_file, token, sizeof(token), err,
	    sizeof(err)) != 0) {
		fprintf(stderr, "stickyctl: %s\n", err);
		return 1;
	}
	/* Any live worker renders every worker's counters. */
	for (long i = 0; i < cfg->workers; i++) {
		if (route_tag(cfg->tag, (unsigned)i, tag, sizeof(tag)) != 0 ||
		    sock_expand(cfg->listen, (unsigned)i, tag, addr,
		    sizeof(addr)) != 0)
			return 1;
		if (want != NULL && strcmp(want, tag) != 0)
			continue;
		fcgi_response_init(&resp);
		rc = fetch(addr, cfg->status_path, query, token, &resp);
		if (rc == 0 && fcgi_response_status(&resp, &status) == 0 &&
		    status == 200) {
			body = fcgi_response_body(&resp, &len);
			fwrite(body, 1, len, stdout);
			fcgi_response_cleanup(&resp);
			return 0;
		}
		fprintf(stderr, "stickyctl: %s (%s): %s\n", tag, addr,
		    rc != 0 ? sticky_strerror(rc) : "status page refused");
		fcgi_response_cleanup(&resp);
	}
	return 1;
}

int
cmd_conf(struct sticky_config *cfg, int argc, char *argv[])
{
	struct sticky_buf out;
	int rc;

	buf_init(&out);
	if ((rc = config_write_example(&out)) == 0)
		fwrite(out.data, 1, out.len, stdout);
	buf_cleanup(&out);
	return rc == 0 ? 0 : 1;
}
