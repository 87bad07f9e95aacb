/*
 * fcgi_req.c: fcgi-req, one FastCGI request from the command line, for the
 * shell integration tests (the curl of our workers).  A thin wrapper over
 * tests/lib/fcgi_client.c; loopback addresses only.
 *
 *   fcgi-req [-i] [-m METHOD] [-c COOKIE] [-d BODY|@FILE] [-H NAME=VALUE]...
 *            [-t TIMEOUT_MS] ADDR URI
 *     -T MS sends half the request, stalls MS milliseconds, then the rest
 *     (a slow client).
 *     prints the body on stdout; -i first prints "status: N", every
 *     response header as "Name: value" and a blank line.  The app's
 *     STDERR stream goes to stderr.
 *     Exit 0: a complete response (END_REQUEST, REQUEST_COMPLETE, a valid
 *     header block), whatever its HTTP status; 1 otherwise.
 *
 *   fcgi-req -r FILE [-s] [-t TIMEOUT_MS] ADDR
 *     sends FILE's bytes as they are (the tests/data/fcgi files), then prints
 *     what came back: "received: N bytes", a hex line, one line per record
 *     ("record: STDOUT id=1 len=93 first-line=Status: 413 ..." and
 *     "record: END_REQUEST id=1 app_status=0 protocol_status=0"), and last
 *     "closed" or "open" (still open when the timeout ran out).  -s half-
 *     closes after sending.  Exit 0 when the peer closed the connection,
 *     1 when it stayed open or the connection failed.
 *
 *   Exit 2: usage.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fcgi_client.h"

#define MAX_EXTRA 32

static void
usage(void)
{
	fprintf(stderr,
	    "usage: fcgi-req [-i] [-m METHOD] [-c COOKIE] [-d BODY|@FILE] "
	    "[-H NAME=VALUE]... [-t MS] [-T STALL_MS] ADDR URI\n"
	    "       fcgi-req -r FILE [-s] [-t MS] ADDR\n"
	    "ADDR: unix:/path, 127.0.0.1:port, localhost:port or [::1]:port\n");
	exit(2);
}

static int
read_file(const char *path, struct sticky_buf *out)
{
	FILE *f;
	char chunk[65536];
	size_t n;

	if ((f = fopen(path, "rb")) == NULL) {
		fprintf(stderr, "fcgi-req: %s: %s\n", path, strerror(errno));
		return -1;
	}
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
		if (buf_append(out, chunk, n) != 0) {
			fclose(f);
			fprintf(stderr, "fcgi-req: out of memory\n");
			return -1;
		}
	if (ferror(f)) {
		fprintf(stderr, "fcgi-req: %s: read error\n", path);
		fclose(f);
		return -1;
	}
	fclose(f);
	return 0;
}

/* Printable text of at most max bytes of d, up to the first line end. */
static void
print_line(const unsigned char *d, size_t len, size_t max)
{
	size_t i;

	for (i = 0; i < len && i < max && d[i] != '\r' && d[i] != '\n'; i++)
		putchar(d[i] >= 0x20 && d[i] < 0x7f ? d[i] : '.');
}

/* What came back from a raw send, record by record. */
static void
print_raw(const struct sticky_buf *b)
{
	const unsigned char *d = b->data;
	const unsigned char *chunk;
	struct fcgi_frame fr;
	size_t off = 0, i, clen, k, nl, vl, n;
	unsigned type;

	printf("received: %zu bytes\n", b->len);
	if (b->len > 0) {
		printf("hex:");
		for (i = 0; i < b->len && i < 64; i++)
			printf(" %02x", d[i]);
		printf("%s\n", b->len > 64 ? " ..." : "");
	}
	/* Whole records only: a truncated last one is not printed. */
	memset(&fr, 0, sizeof(fr));
	while (fcgi_frame_next(&fr, d, b->len, &off, &chunk, &n) ==
	    FCGI_FRAME_HEADER) {
		type = fr.type;
		clen = fr.clen;
		if (fr.version != FCGI_VERSION_1 ||
		    clen + fr.padding_left > b->len - off)
			break;
		printf("record: %s id=%u len=%zu", fcgi_type_name(type), fr.id,
		    clen);
		if (type == FCGI_END_REQUEST && clen == 8)
			printf(" app_status=%lu protocol_status=%u",
			    (unsigned long)d[off] << 24 |
			    (unsigned long)d[off + 1] << 16 |
			    (unsigned long)d[off + 2] << 8 | d[off + 3],
			    d[off + 4]);
		else if ((type == FCGI_STDOUT || type == FCGI_STDERR) &&
		    clen > 0) {
			printf(" first-line=");
			print_line(d + off, clen, 120);
		} else if (type == FCGI_GET_VALUES_RESULT) {
			/* Our worker answers with 1-byte lengths only. */
			for (k = 0; k + 2 <= clen; k += 2 + nl + vl) {
				nl = d[off + k];
				vl = d[off + k + 1];
				if (nl >= 0x80 || vl >= 0x80 ||
				    k + 2 + nl + vl > clen)
					break;
				printf(" %.*s=%.*s", (int)nl,
				    (const char *)d + off + k + 2, (int)vl,
				    (const char *)d + off + k + 2 + nl);
			}
		}
		printf("\n");
		/* The rest of the record: its content and padding. */
		while (fcgi_frame_next(&fr, d, b->len, &off, &chunk, &n) ==
		    FCGI_FRAME_CONTENT)
			;
	}
	if (off < b->len)
		printf("trailing: %zu bytes\n", b->len - off);
}

static int
run_raw(const char *addr, const char *file, int timeout_ms, int shut)
{
	struct sticky_buf data, reply;
	char err[256];
	int closed, rc, ret = 1;

	buf_init(&data);
	buf_init(&reply);
	if (read_file(file, &data) != 0)
		goto out;
	rc = fcgi_client_raw(addr, data.data, data.len, timeout_ms,
	    shut ? FCGI_RAW_SHUT_WR : 0, &reply, &closed, err, sizeof(err));
	if (rc != 0) {
		fprintf(stderr, "fcgi-req: %s\n", err);
		goto out;
	}
	print_raw(&reply);
	printf("%s\n", closed ? "closed" : "open");
	ret = closed ? 0 : 1;
out:
	fflush(stdout);
	buf_cleanup(&data);
	buf_cleanup(&reply);
	return ret;
}

static int
run_request(const char *addr, struct fcgi_client_req *rq, int timeout_ms,
    int show_headers)
{
	struct fcgi_response resp;
	const unsigned char *body;
	const char *n, *v;
	char err[256];
	size_t pos = 0, nl, vl, blen;
	int rc, status, ret = 1;

	rc = fcgi_client_request(addr, rq, timeout_ms, &resp, err, sizeof(err));
	if (resp.err.len > 0)
		fwrite(resp.err.data, 1, resp.err.len, stderr);
	if (rc != 0) {
		fprintf(stderr, "fcgi-req: %s\n", err);
		goto out;
	}
	if (resp.proto_status != FCGI_REQUEST_COMPLETE) {
		fprintf(stderr, "fcgi-req: request refused, protocol status "
		    "%u\n", resp.proto_status);
		goto out;
	}
	if (fcgi_response_status(&resp, &status) != 0) {
		fprintf(stderr, "fcgi-req: malformed CGI header block\n");
		goto out;
	}
	if (show_headers) {
		printf("status: %d\n", status);
		while (fcgi_response_header_next(&resp, &pos, &n, &nl, &v,
		    &vl) > 0)
			printf("%.*s: %.*s\n", (int)nl, n, (int)vl, v);
		printf("\n");
	}
	body = fcgi_response_body(&resp, &blen);
	fwrite(body, 1, blen, stdout);
	ret = 0;
out:
	fflush(stdout);
	fcgi_response_cleanup(&resp);
	return ret;
}

int
main(int argc, char *argv[])
{
	struct fcgi_client_req rq;
	struct sticky_buf body;
	const char *extra[MAX_EXTRA + 1], *raw = NULL;
	char *end;
	size_t nextra = 0;
	int c, show = 0, shut = 0, timeout_ms = FCGI_CLIENT_TIMEOUT_MS, ret;
	long v;

	memset(&rq, 0, sizeof(rq));
	buf_init(&body);
	while ((c = getopt(argc, argv, "c:d:H:im:r:sT:t:")) != -1) {
		switch (c) {
		case 'c':
			rq.cookie = optarg;
			break;
		case 'd':
			buf_reset(&body);
			if (optarg[0] == '@') {
				if (read_file(optarg + 1, &body) != 0)
					return 1;
			} else if (buf_puts(&body, optarg) != 0)
				return 1;
			rq.body = body.data;
			rq.bodylen = body.len;
			break;
		case 'H':
			if (nextra == MAX_EXTRA || strchr(optarg, '=') == NULL ||
			    optarg[0] == '=')
				usage();
			extra[nextra++] = optarg;
			break;
		case 'i':
			show = 1;
			break;
		case 'm':
			rq.method = optarg;
			break;
		case 'r':
			raw = optarg;
			break;
		case 's':
			shut = 1;
			break;
		case 'T':
			errno = 0;
			v = strtol(optarg, &end, 10);
			if (errno != 0 || *end != '\0' || v < 1 || v > 3600000)
				usage();
			rq.stall_ms = (int)v;
			break;
		case 't':
			errno = 0;
			v = strtol(optarg, &end, 10);
			if (errno != 0 || *end != '\0' || v < 1 || v > 3600000)
				usage();
			timeout_ms = (int)v;
			break;
		default:
			usage();
		}
	}
	argc -= optind;
	argv += optind;
	extra[nextra] = NULL;
	if (raw != NULL) {
		if (argc != 1)
			usage();
		ret = run_raw(argv[0], raw, timeout_ms, shut);
	} else {
		if (argc != 2)
			usage();
		rq.uri = argv[1];
		rq.extra = extra;
		ret = run_request(argv[0], &rq, timeout_ms, show);
	}
	buf_cleanup(&body);
	return ret;
}
