/*
 * bench_probe.c: bench-probe, the timed one-off probes of the benchmark
 * (tests/bench/run.sh) that fcgi-load cannot do: it knows users only by
 * the cookies their own responses set, and times requests in bulk.
 * Sequential requests, one connection each, through tests/lib/fcgi_client
 * (loopback and unix sockets only); every wait is bounded.
 *
 *   bench-probe mint ADDR N [URI]
 *       N requests without a cookie; prints each new session's cookie
 *       value (KEY.TAG), one a line.  Exit 1 on any failure.
 *   bench-probe replay ADDR FILE [URI]
 *       one request per cookie value in FILE (STICKYSID=VALUE), in order;
 *       prints one TSV line: n ok errors p50_us p90_us p99_us max_us
 *       total_us (each latency is that user's first answer).
 *   bench-probe respawn ADDR PID [TIMEOUT_MS]
 *       SIGKILL PID, then requests to ADDR in a tight loop until one is
 *       answered 200; prints respawn_us (kill to that answer), attempts
 *       and errors (requests that failed meanwhile).  Exit 1 on timeout.
 *
 * A request is ok when END_REQUEST came with REQUEST_COMPLETE and Status
 * 200.  Exit 2: usage.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fcgi_client.h"

#define COOKIE_NAME "STICKYSID"
#define TIMEOUT_MS 5000
#define MAX_USERS 1000000

static void
usage(void)
{
	fprintf(stderr, "usage: bench-probe mint ADDR N [URI]\n"
	    "       bench-probe replay ADDR FILE [URI]\n"
	    "       bench-probe respawn ADDR PID [TIMEOUT_MS]\n");
	exit(2);
}

/* One request; 0 when answered 200.  A Set-Cookie value goes to setc. */
static int
one(const char *addr, const char *uri, const char *cookie, int timeout_ms,
    char *setc, size_t setclen)
{
	struct fcgi_client_req rq;
	struct fcgi_response resp;
	char err[256];
	int rc, status = 0;

	memset(&rq, 0, sizeof(rq));
	rq.uri = uri;
	rq.cookie = cookie;
	rc = fcgi_client_request(addr, &rq, timeout_ms, &resp, err, sizeof(err));
	if (rc == 0 && resp.proto_status == 0 &&
	    fcgi_response_status(&resp, &status) == 0 && status == 200) {
		if (setc != NULL &&
		    fcgi_client_set_cookie(&resp, COOKIE_NAME, setc, setclen) != 0)
			setc[0] = '\0';
		rc = 0;
	} else {
		rc = -1;
	}
	fcgi_response_cleanup(&resp);
	return rc;
}

static int
cmp64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return x < y ? -1 : x > y;
}

static int64_t
pct(const int64_t *v, size_t n, double p)
{
	size_t i;

	if (n == 0)
		return 0;
	i = (size_t)(p * (double)(n - 1) + 0.5);
	return v[i < n ? i : n - 1];
}

static int
cmd_mint(const char *addr, long n, const char *uri)
{
	char setc[512];

	if (n < 1 || n > MAX_USERS)
		usage();
	for (long i = 0; i < n; i++) {
		if (one(addr, uri, NULL, TIMEOUT_MS, setc, sizeof(setc)) != 0 ||
		    setc[0] == '\0') {
			fprintf(stderr, "bench-probe: mint: request %ld failed\n", i);
			return 1;
		}
		printf("%s\n", setc);
	}
	return fflush(stdout) == 0 ? 0 : 1;
}

static int
cmd_replay(const char *addr, const char *file, const char *uri)
{
	FILE *f = fopen(file, "r");
	char line[512], cookie[600];
	int64_t *lat, t0, total0;
	size_t n = 0, cap = 1024, ok = 0, errors = 0;

	if (f == NULL) {
		fprintf(stderr, "bench-probe: %s: %s\n", file, strerror(errno));
		return 2;
	}
	if ((lat = malloc(cap * sizeof(*lat))) == NULL)
		return 1;
	total0 = now_us();
	while (fgets(line, sizeof(line), f) != NULL && n < MAX_USERS) {
		line[strcspn(line, "\r\n")] = '\0';
		if (line[0] == '\0')
			continue;
		snprintf(cookie, sizeof(cookie), COOKIE_NAME "=%s", line);
		t0 = now_us();
		if (one(addr, uri, cookie, TIMEOUT_MS, NULL, 0) == 0) {
			if (ok == cap) {
				int64_t *nl = realloc(lat, 2 * cap * sizeof(*lat));

				if (nl == NULL)
					return 1;
				lat = nl;
				cap *= 2;
			}
			lat[ok++] = now_us() - t0;
		} else {
			errors++;
		}
		n++;
	}
	fclose(f);
	qsort(lat, ok, sizeof(*lat), cmp64);
	printf("n=%zu\tok=%zu\terrors=%zu\tp50_us=%lld\tp90_us=%lld\t"
	    "p99_us=%lld\tmax_us=%lld\ttotal_us=%lld\n", n, ok, errors,
	    (long long)pct(lat, ok, 0.5), (long long)pct(lat, ok, 0.9),
	    (long long)pct(lat, ok, 0.99), (long long)pct(lat, ok, 1.0),
	    (long long)(now_us() - total0));
	free(lat);
	return errors == 0 ? 0 : 1;
}

static int
cmd_respawn(const char *addr, long pid, long timeout_ms)
{
	int64_t t0, deadline;
	long attempts = 0, errors = 0;

	if (pid <= 1 || timeout_ms < 1)
		usage();
	/* the socket answers before the kill (a live worker) */
	if (one(addr, "/peek", NULL, TIMEOUT_MS, NULL, 0) != 0) {
		fprintf(stderr, "bench-probe: %s does not answer before the kill\n",
		    addr);
		return 1;
	}
	t0 = now_us();
	deadline = t0 + timeout_ms * 1000;
	if (kill((pid_t)pid, SIGKILL) != 0) {
		fprintf(stderr, "bench-probe: kill %ld: %s\n", pid, strerror(errno));
		return 1;
	}
	while (now_us() < deadline) {
		int64_t left = (deadline - now_us()) / 1000;

		attempts++;
		if (one(addr, "/peek", NULL, left > 0 ? (int)left : 1, NULL, 0) == 0) {
			printf("respawn_us=%lld\tattempts=%ld\terrors=%ld\n",
			    (long long)(now_us() - t0), attempts, errors);
			return 0;
		}
		errors++;
	}
	printf("respawn_us=-1\tattempts=%ld\terrors=%ld\n", attempts, errors);
	return 1;
}

int
main(int argc, char **argv)
{
	if (argc < 4)
		usage();
	if (strcmp(argv[1], "mint") == 0)
		return cmd_mint(argv[2], strtol(argv[3], NULL, 10),
		    argc > 4 ? argv[4] : "/");
	if (strcmp(argv[1], "replay") == 0)
		return cmd_replay(argv[2], argv[3], argc > 4 ? argv[4] : "/");
	if (strcmp(argv[1], "respawn") == 0)
		return cmd_respawn(argv[2], strtol(argv[3], NULL, 10),
		    argc > 4 ? strtol(argv[4], NULL, 10) : 2000);
	usage();
	return 2;
}
