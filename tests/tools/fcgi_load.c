/*
 * fcgi_load.c: fcgi-load, the FastCGI load generator of the benchmarks and
 * the failover tests: simulated users with session cookies, spread over
 * worker addresses the way a sticky front-end would, driven by one poll(2)
 * loop over at most CONCURRENCY connections.  It checks every response and
 * says which kind of error each failure was.  libc and our client library
 * only; loopback addresses only (fcgi_client.h).
 *
 * fcgi-load -a ADDR[,ADDR...] [-u USERS] [--cookies FILE] [-n REQUESTS | -d SECONDS]
 *           [-c CONCURRENCY] [-r RATE] [-k] [-t TIMEOUT_MS] [--uri PATH]
 *           [--cookie NAME] [--tags T0,T1,...] [--worker-header NAME]
 *           [--method M] [--body STRING] [--check-counter] [--tsv]
 *           [--hot HOT_USERS:REQS_PCT] [--save-cookies FILE] [--no-request-id]
 *
 * Users: each keeps the cookie its responses set (--cookie, default
 * STICKYSID; the last Set-Cookie for it wins, an empty value forgets it).
 * A user's request goes to the address whose tag (--tags, default
 * w0,w1,... in the order of -a) is the cookie value's suffix after its
 * last '.'; users without a cookie, or with an unknown tag, go round-robin.
 * One user never has two requests in flight, as a browser tab would not,
 * so --check-counter can tell a lost update from a reordering.  Users take
 * turns in order, unless --hot H:R: then R% of the requests go to a random
 * user among the first H users (the recently active ones) and the rest to
 * a random user among the others (cold ones).  --save-cookies FILE writes
 * each user's cookie value at the end, one a line (for a later
 * --cookies run over the same population).  --no-request-id leaves out
 * REQUEST_ID (by default each request has a unique one, as a front-end's
 * $request_id, which sticky's replay log records).
 *
 * Closed loop by default: CONCURRENCY requests in flight, the next starts
 * when one ends.  -r RATE is open loop: request i is due at start + i/RATE
 * and its latency counts from then, queueing included (no coordinated
 * omission).  -k keeps connections open (FCGI_KEEP_CONN) and reuses them;
 * a kept connection that the server closed before answering a byte is
 * retried once on a new one.  Without -k each request has its own.
 *
 * Always bounded: it stops starting after -n requests (default 1000) or -d
 * seconds, and waits at most TIMEOUT_MS (default 5000) for the last ones.
 *
 * A response counts as ok when END_REQUEST arrived with REQUEST_COMPLETE
 * and Status 200.  Errors by kind: connect (refused, no socket, ...),
 * timeout, status (not 200), proto (malformed, refused by the FastCGI
 * layer), closed (connection closed or reset before END_REQUEST), body
 * (--check-counter and no "count=N" in the body).  --check-counter: the
 * counter example app answers "count=N"; per user N must grow: an N lower
 * than or equal to the last acknowledged one is "lost" (state went back
 * or an update repeated); "max_jump" is the largest step forward;
 * "lost_incr" sums how far each of those went back: acknowledged
 * increments that are gone (last acknowledged N, then M <= N: N - M + 1).
 * Per-worker hits come from the X-Sticky-Worker header (--worker-header).
 *
 * Output: a human summary, or with --tsv one line of tab-separated
 * key=value fields: requests ok errors connect timeout status proto closed
 * body seconds rps p50_us p90_us p99_us max_us users lost max_jump missed
 * lost_incr, then w:<tag>=hits for each worker seen and w:none=hits.
 * Exit 0 when every request was ok and nothing was lost, 1 otherwise,
 * 2 on a usage or setup error.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <math.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "fcgi_client.h"

#define MAX_ADDRS 64
#define MAX_WORKERS 64
#define MAX_CONC 4096
#define COOKIE_MAX 512

enum err_kind { E_CONNECT, E_TIMEOUT, E_STATUS, E_PROTO, E_CLOSED, E_BODY,
	E_NKINDS };
static const char *const err_names[E_NKINDS] = { "connect", "timeout",
	"status", "proto", "closed", "body" };

enum slot_state { S_FREE, S_CONNECTING, S_SENDING, S_READING };

struct user {
	char cookie[COOKIE_MAX + 72]; /* "NAME=value", "" before the first */
	int busy;                /* a request is in flight */
	int has_ack;             /* last_count is valid */
	long long last_count;
};

struct slot {
	enum slot_state state;
	int fd;                  /* -1: connect to retry at retry_us */
	int addr;
	int user;
	int reused;              /* on a kept connection */
	int retried;             /* already retried once on a new one */
	struct sticky_buf req;
	size_t sent;
	struct fcgi_response resp;
	int64_t start_us;        /* due time (open loop) or start */
	int64_t deadline_us;
	int64_t retry_us;
};

struct worker_hits {
	char tag[64];
	unsigned long hits;
};

struct load {
	/* options */
	struct fcgi_client_addr addrs[MAX_ADDRS];
	size_t naddrs;
	char *tags[MAX_ADDRS];
	size_t ntags;
	size_t nusers, conc;
	unsigned long nreq;      /* 0: by duration */
	double seconds;
	double rate;             /* 0: closed loop */
	int keep, check, tsv, no_reqid;
	size_t hot_users;           /* --hot: users in the hot set, 0: off */
	double hot_reqs;            /* and the % of requests they get */
	uint64_t rng;
	int timeout_ms;
	const char *uri, *cookie_name, *worker_header, *method, *body;
	/* state */
	struct user *users;
	struct slot *slots;
	int *pool;               /* idle kept connections: fd, addr pairs */
	size_t npool;
	size_t user_cursor, rr;
	unsigned long started, done, seq;
	size_t inflight;
	int64_t t0_us, next_due_us, end_us;
	/* results */
	unsigned long ok, errs[E_NKINDS], lost, missed, no_worker;
	unsigned long long lost_incr; /* acknowledged increments gone */
	long long max_jump;
	int64_t *lat;
	size_t nlat, latcap;
	struct worker_hits workers[MAX_WORKERS];
	size_t nworkers;
};

static void
usage(void)
{
	fprintf(stderr,
	    "usage: fcgi-load -a ADDR[,ADDR...] [-u USERS] [--cookies FILE] "
	    "[-n REQUESTS | -d SECONDS]\n"
	    "                 [-c CONCURRENCY] [-r RATE] [-k] [-t TIMEOUT_MS] "
	    "[--uri PATH]\n"
	    "                 [--cookie NAME] [--tags T0,T1,...] "
	    "[--worker-header NAME]\n"
	    "                 [--method M] [--body STRING] [--check-counter] "
	    "[--tsv]\n"
	    "                 [--hot HOT_USERS:REQS_PCT] [--save-cookies FILE] "
	    "[--no-request-id]\n");
	exit(2);
}

static void
die(const char *msg)
{
	fprintf(stderr, "fcgi-load: %s\n", msg);
	exit(2);
}

static double
num_arg(const char *s, double min, double max)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (errno != 0 || end == s || *end != '\0' || !(v >= min && v <= max))
		usage();
	return v;
}

/* Split a comma-separated list in place. */
static size_t
split_list(char *s, char **out, size_t max)
{
	size_t n = 0;
	char *tok, *save = NULL;

	for (tok = strtok_r(s, ",", &save); tok != NULL;
	    tok = strtok_r(NULL, ",", &save)) {
		if (n == max)
			die("too many list items");
		out[n++] = tok;
	}
	return n;
}

/* ---- users and routing ---- */

/* The address for a user: by the cookie's route tag, else round-robin. */
static int
route(struct load *L, const struct user *u)
{
	const char *dot;
	size_t i;

	if (u->cookie[0] != '\0' && (dot = strrchr(u->cookie, '.')) != NULL)
		for (i = 0; i < L->ntags && i < L->naddrs; i++)
			if (strcmp(dot + 1, L->tags[i]) == 0)
				return (int)i;
	return (int)(L->rr++ % L->naddrs);
}

static uint64_t
rnd(struct load *L)
{
	L->rng ^= L->rng << 13;
	L->rng ^= L->rng >> 7;
	L->rng ^= L->rng << 17;
	return L->rng;
}

/* The next user with nothing in flight, or -1. */
static int
pick_user(struct load *L)
{
	size_t i, u;

	if (L->hot_users > 0) {
		size_t nhot = L->hot_users;

		for (i = 0; i < 32; i++) {
			if (nhot >= L->nusers ||
			    (double)(rnd(L) % 10000) < L->hot_reqs * 100)
				u = rnd(L) % nhot;
			else
				u = nhot + rnd(L) % (L->nusers - nhot);
			if (!L->users[u].busy)
				return (int)u;
		}
	}

	for (i = 0; i < L->nusers; i++) {
		u = (L->user_cursor + i) % L->nusers;
		if (!L->users[u].busy) {
			L->user_cursor = u + 1;
			return (int)u;
		}
	}
	return -1;
}

/* ---- connections ---- */

static int
pool_take(struct load *L, int addr)
{
	size_t i;
	int fd;

	for (i = 0; i < L->npool; i++)
		if (L->pool[2 * i + 1] == addr) {
			fd = L->pool[2 * i];
			L->npool--;
			L->pool[2 * i] = L->pool[2 * L->npool];
			L->pool[2 * i + 1] = L->pool[2 * L->npool + 1];
			return fd;
		}
	return -1;
}

/* Keep at most CONCURRENCY idle connections: the oldest goes first. */
static void
pool_put(struct load *L, int fd, int addr)
{
	if (L->npool == L->conc) {
		close(L->pool[0]);
		memmove(L->pool, L->pool + 2, 2 * (L->npool - 1) * sizeof(int));
		L->npool--;
	}
	L->pool[2 * L->npool] = fd;
	L->pool[2 * L->npool + 1] = addr;
	L->npool++;
}

static void
slot_connect(struct load *L, struct slot *s, int64_t now)
{
	if ((s->fd = fcgi_client_connect_start(&L->addrs[s->addr])) >= 0) {
		s->state = S_CONNECTING;
		return;
	}
	s->state = S_CONNECTING;
	/* A unix socket's full backlog: try again shortly. */
	s->retry_us = errno == EAGAIN ? now + 1000 : -1;
}

/* ---- one request ---- */

static void
slot_start(struct load *L, struct slot *s, int user, int64_t due, int64_t now)
{
	struct fcgi_client_req rq;
	struct user *u = &L->users[user];
	char reqid[64];
	const char *extra[2];

	memset(&rq, 0, sizeof(rq));
	snprintf(reqid, sizeof(reqid), "REQUEST_ID=load-%ld-%lu",
	    (long)getpid(), ++L->seq);
	extra[0] = L->no_reqid ? NULL : reqid;
	extra[1] = NULL;
	rq.method = L->method;
	rq.uri = L->uri;
	rq.cookie = u->cookie[0] != '\0' ? u->cookie : NULL;
	rq.body = L->body;
	rq.bodylen = L->body != NULL ? strlen(L->body) : 0;
	rq.extra = extra;
	rq.keep_conn = L->keep;

	u->busy = 1;
	s->user = user;
	s->addr = route(L, u);
	s->start_us = due;
	s->deadline_us = now + (int64_t)L->timeout_ms * 1000;
	s->sent = 0;
	s->reused = 0;
	s->retried = 0;
	buf_init(&s->req);
	fcgi_response_init(&s->resp);
	if (fcgi_client_build(&s->req, &rq, &L->addrs[s->addr]) != 0)
		die("cannot build the request (uri too long?)");
	L->started++;
	L->inflight++;
	if (L->keep && (s->fd = pool_take(L, s->addr)) >= 0) {
		s->reused = 1;
		s->state = S_SENDING;
		return;
	}
	slot_connect(L, s, now);
}

static void
record_latency(struct load *L, int64_t us)
{
	int64_t *n;

	if (L->nlat == L->latcap) {
		L->latcap = L->latcap == 0 ? 4096 : L->latcap * 2;
		if ((n = xreallocarray(L->lat, L->latcap, sizeof(*n))) == NULL)
			die("out of memory");
		L->lat = n;
	}
	L->lat[L->nlat++] = us;
}

static void
count_worker(struct load *L, const char *tag)
{
	size_t i;

	for (i = 0; i < L->nworkers; i++)
		if (strcmp(L->workers[i].tag, tag) == 0) {
			L->workers[i].hits++;
			return;
		}
	if (L->nworkers == MAX_WORKERS) {
		L->no_worker++;
		return;
	}
	snprintf(L->workers[i].tag, sizeof(L->workers[i].tag), "%.63s", tag);
	L->workers[i].hits = 1;
	L->nworkers++;
}

/* "count=N" in the body; 0 when absent. */
static int
body_count(const struct fcgi_response *r, long long *n)
{
	const unsigned char *b;
	char tmp[4096], *p, *end;
	size_t len;

	b = fcgi_response_body(r, &len);
	if (b == NULL)
		return 0;
	if (len >= sizeof(tmp))
		len = sizeof(tmp) - 1;
	memcpy(tmp, b, len);
	tmp[len] = '\0';
	for (p = tmp; (p = strstr(p, "count=")) != NULL; p += 6) {
		if (p != tmp && (p[-1] == '_' || (p[-1] >= 'a' && p[-1] <= 'z')))
			continue; /* part of another word */
		errno = 0;
		*n = strtoll(p + 6, &end, 10);
		if (end != p + 6 && errno == 0)
			return 1;
	}
	return 0;
}

/* A response arrived whole: judge it and learn the cookie. */
static int
judge(struct load *L, struct slot *s)
{
	struct user *u = &L->users[s->user];
	char v[COOKIE_MAX], wtag[64];
	long long n;
	int status, rc;

	if (s->resp.proto_status != FCGI_REQUEST_COMPLETE ||
	    fcgi_response_status(&s->resp, &status) != 0)
		return E_PROTO;
	rc = fcgi_client_set_cookie(&s->resp, L->cookie_name, v, sizeof(v));
	if (rc == 0) {
		if (v[0] == '\0')
			u->cookie[0] = '\0';
		else
			snprintf(u->cookie, sizeof(u->cookie), "%s=%s",
			    L->cookie_name, v);
	} else if (rc != STICKY_ENOENT)
		return E_PROTO;
	if (fcgi_response_header(&s->resp, L->worker_header, wtag,
	    sizeof(wtag)) == 0)
		count_worker(L, wtag);
	else
		L->no_worker++;
	if (status != 200)
		return E_STATUS;
	if (L->check) {
		if (!body_count(&s->resp, &n))
			return E_BODY;
		if (u->has_ack && n <= u->last_count) {
			L->lost++;
			L->lost_incr += (unsigned long long)(u->last_count - n) + 1;
		}
		else if (u->has_ack && n - u->last_count > L->max_jump)
			L->max_jump = n - u->last_count;
		u->last_count = n;
		u->has_ack = 1;
	}
	return -1;
}

/* The request is over: ok (kind < 0) or an error of `kind`. */
static void
slot_finish(struct load *L, struct slot *s, int kind, int64_t now)
{
	if (kind < 0 && s->resp.done)
		kind = judge(L, s);
	if (kind < 0) {
		L->ok++;
		record_latency(L, now - s->start_us);
	} else
		L->errs[kind]++;
	if (s->fd >= 0) {
		if (kind < 0 && L->keep)
			pool_put(L, s->fd, s->addr);
		else
			close(s->fd);
	}
	s->fd = -1;
	L->users[s->user].busy = 0;
	buf_cleanup(&s->req);
	fcgi_response_cleanup(&s->resp);
	s->state = S_FREE;
	L->inflight--;
	L->done++;
}

/*
 * The kept connection died before a byte of the answer: the server
 * closed it while idle, which is normal; retry once on a new connection.
 */
static int
slot_retry(struct load *L, struct slot *s, int64_t now)
{
	if (!s->reused || s->retried || !fcgi_frame_idle(&s->resp.fr) ||
	    s->resp.out.len != 0 || s->resp.done)
		return 0;
	close(s->fd);
	s->retried = 1;
	s->reused = 0;
	s->sent = 0;
	fcgi_response_cleanup(&s->resp);
	fcgi_response_init(&s->resp);
	slot_connect(L, s, now);
	return 1;
}

static void
slot_event(struct load *L, struct slot *s, short rev, int64_t now)
{
	unsigned char rbuf[65536];
	socklen_t sl = sizeof(int);
	ssize_t k;
	int soerr = 0;

	if (s->state == S_CONNECTING) {
		if (getsockopt(s->fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) == -1 ||
		    soerr != 0) {
			slot_finish(L, s, E_CONNECT, now);
			return;
		}
		s->state = S_SENDING;
		return; /* poll again with the send events */
	}
	if ((rev & POLLOUT) != 0 && s->state == S_SENDING) {
		k = send(s->fd, s->req.data + s->sent, s->req.len - s->sent,
		    MSG_NOSIGNAL);
		if (k > 0) {
			s->sent += (size_t)k;
			if (s->sent == s->req.len)
				s->state = S_READING;
		} else if (k == -1 && errno != EAGAIN && errno != EINTR) {
			if (!slot_retry(L, s, now))
				s->state = S_READING; /* read what it said */
			return;
		}
	}
	if ((rev & (POLLIN | POLLHUP | POLLERR)) == 0)
		return;
	k = recv(s->fd, rbuf, sizeof(rbuf), 0);
	if (k == -1 && (errno == EAGAIN || errno == EINTR))
		return;
	if (k <= 0) {
		if (!slot_retry(L, s, now))
			slot_finish(L, s, E_CLOSED, now);
		return;
	}
	if (fcgi_response_feed(&s->resp, rbuf, (size_t)k) != 0) {
		slot_finish(L, s, E_PROTO, now);
		return;
	}
	if (s->resp.done)
		slot_finish(L, s, -1, now);
}

/* ---- the loop ---- */

static int
may_start(const struct load *L, int64_t now)
{
	if (L->nreq > 0)
		return L->started < L->nreq;
	if (L->rate == 0)
		return now < L->end_us;
	/*
	 * Open loop: every request due before the end starts, late if the
	 * server is behind, but not after one more timeout (then "missed").
	 */
	return L->next_due_us < L->end_us &&
	    now < L->end_us + (int64_t)L->timeout_ms * 1000;
}

static struct slot *
free_slot(struct load *L)
{
	size_t i;

	for (i = 0; i < L->conc; i++)
		if (L->slots[i].state == S_FREE)
			return &L->slots[i];
	return NULL;
}

static void
start_due(struct load *L, int64_t now)
{
	struct slot *s;
	int u;

	while (may_start(L, now) && (L->rate == 0 || L->next_due_us <= now) &&
	    (s = free_slot(L)) != NULL && (u = pick_user(L)) >= 0) {
		slot_start(L, s, u, L->rate > 0 ? L->next_due_us : now, now);
		L->next_due_us = L->t0_us +
		    (int64_t)((double)L->started * 1e6 / (L->rate > 0 ?
		    L->rate : 1));
	}
}

static void
run(struct load *L)
{
	struct pollfd *pfd;
	size_t *map, n, i;
	int64_t now, wake;
	int timeout, ended;

	if ((pfd = xcalloc(L->conc, sizeof(*pfd))) == NULL ||
	    (map = xcalloc(L->conc, sizeof(*map))) == NULL)
		die("out of memory");
	L->t0_us = L->next_due_us = now_us();
	L->end_us = L->t0_us + (int64_t)(L->seconds * 1e6);
	for (;;) {
		now = now_us();
		start_due(L, now);
		if (L->inflight == 0 && !may_start(L, now))
			break;
		wake = now + 1000000;
		if (L->rate > 0 && may_start(L, now) && L->next_due_us < wake)
			wake = L->next_due_us;
		if (L->nreq == 0 && L->end_us > now && L->end_us < wake)
			wake = L->end_us;
		n = 0;
		ended = 0;
		for (i = 0; i < L->conc; i++) {
			struct slot *s = &L->slots[i];

			if (s->state == S_FREE)
				continue;
			if (now >= s->deadline_us) {
				slot_finish(L, s, E_TIMEOUT, now);
				ended = 1;
				continue;
			}
			if (s->deadline_us < wake)
				wake = s->deadline_us;
			if (s->fd < 0) {
				if (s->retry_us < 0) {
					slot_finish(L, s, E_CONNECT, now);
					ended = 1;
					continue;
				}
				if (s->retry_us <= now)
					slot_connect(L, s, now);
				if (s->fd < 0) {
					if (s->retry_us >= 0 && s->retry_us < wake)
						wake = s->retry_us;
					continue;
				}
			}
			pfd[n].fd = s->fd;
			pfd[n].events = s->state == S_CONNECTING ? POLLOUT :
			    s->state == S_SENDING ? POLLIN | POLLOUT : POLLIN;
			pfd[n].revents = 0;
			map[n++] = i;
		}
		if (ended)
			continue; /* their slots and users are free again */
		timeout = wake <= now ? 0 : (int)((wake - now + 999) / 1000);
		if (poll(pfd, n, timeout) == -1) {
			if (errno == EINTR)
				continue;
			die("poll failed");
		}
		now = now_us();
		for (i = 0; i < n; i++)
			if (pfd[i].revents != 0 &&
			    L->slots[map[i]].state != S_FREE &&
			    L->slots[map[i]].fd == pfd[i].fd)
				slot_event(L, &L->slots[map[i]], pfd[i].revents,
				    now);
	}

	if (L->rate > 0 && L->nreq == 0) {
		double due = ceil(L->seconds * L->rate);

		if (due > (double)L->started)
			L->missed = (unsigned long)(due - (double)L->started);
	}
	xfree(pfd);
	xfree(map);
}

/* ---- report ---- */

static int
cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return x < y ? -1 : x > y;
}

static int64_t
pct(const struct load *L, double p)
{
	size_t k;

	if (L->nlat == 0)
		return 0;
	k = (size_t)(p * (double)L->nlat + 0.999999);
	if (k < 1)
		k = 1;
	if (k > L->nlat)
		k = L->nlat;
	return L->lat[k - 1];
}

static int
report(struct load *L, double secs)
{
	unsigned long errors = 0;
	double rps = secs > 0 ? (double)L->done / secs : 0;
	size_t i;

	for (i = 0; i < E_NKINDS; i++)
		errors += L->errs[i];
	if (L->nlat > 0)
		qsort(L->lat, L->nlat, sizeof(*L->lat), cmp_i64);
	if (L->tsv) {
		printf("requests=%lu\tok=%lu\terrors=%lu", L->done, L->ok,
		    errors);
		for (i = 0; i < E_NKINDS; i++)
			printf("\t%s=%lu", err_names[i], L->errs[i]);
		printf("\tseconds=%.3f\trps=%.1f\tp50_us=%lld\tp90_us=%lld"
		    "\tp99_us=%lld\tmax_us=%lld\tusers=%zu\tlost=%lu"
		    "\tmax_jump=%lld\tmissed=%lu\tlost_incr=%llu", secs, rps,
		    (long long)pct(L, 0.50), (long long)pct(L, 0.90),
		    (long long)pct(L, 0.99), (long long)pct(L, 1.0), L->nusers,
		    L->lost, L->max_jump, L->missed, L->lost_incr);
		for (i = 0; i < L->nworkers; i++)
			printf("\tw:%s=%lu", L->workers[i].tag,
			    L->workers[i].hits);
		printf("\tw:none=%lu\n", L->no_worker);
	} else {
		printf("fcgi-load: %lu requests in %.3f s: %.1f req/s%s\n",
		    L->done, secs, rps, L->rate > 0 ? " (open loop)" : "");
		printf("ok %lu, errors %lu:", L->ok, errors);
		for (i = 0; i < E_NKINDS; i++)
			printf(" %s %lu%s", err_names[i], L->errs[i],
			    i + 1 < E_NKINDS ? "," : "\n");
		printf("latency us: p50 %lld, p90 %lld, p99 %lld, max %lld\n",
		    (long long)pct(L, 0.50), (long long)pct(L, 0.90),
		    (long long)pct(L, 0.99), (long long)pct(L, 1.0));
		printf("workers:");
		for (i = 0; i < L->nworkers; i++)
			printf(" %s %lu,", L->workers[i].tag, L->workers[i].hits);
		printf(" none %lu\n", L->no_worker);
		if (L->check)
			printf("counter: users %zu, lost %lu (%llu increments), "
			    "max_jump %lld\n", L->nusers, L->lost, L->lost_incr,
			    L->max_jump);
		if (L->missed > 0)
			printf("missed: %lu requests due were never started\n",
			    L->missed);
	}
	fflush(stdout);
	return errors == 0 && L->lost == 0 ? 0 : 1;
}

int
main(int argc, char *argv[])
{
	static const struct option longopts[] = {
		{ "uri", required_argument, NULL, 'U' },
		{ "cookie", required_argument, NULL, 'C' },
		{ "tags", required_argument, NULL, 'T' },
		{ "worker-header", required_argument, NULL, 'W' },
		{ "method", required_argument, NULL, 'M' },
		{ "body", required_argument, NULL, 'B' },
		{ "check-counter", no_argument, NULL, 'K' },
		{ "tsv", no_argument, NULL, 'V' },
		{ "cookies", required_argument, NULL, 'F' },
		{ "hot", required_argument, NULL, 'H' },
		{ "save-cookies", required_argument, NULL, 'S' },
		{ "no-request-id", no_argument, NULL, 'R' },
		{ NULL, 0, NULL, 0 }
	};
	static char deftags[MAX_ADDRS][24];
	struct load L;
	struct rlimit rl;
	char *alist[MAX_ADDRS], err[256];
	size_t i;
	int c, have_n = 0, have_d = 0, ret;
	int64_t t0;
	const char *cookies_file = NULL, *save_file = NULL;
	char *colon;

	memset(&L, 0, sizeof(L));
	L.nusers = 100;
	L.conc = 8;
	L.nreq = 1000;
	L.timeout_ms = 5000;
	L.uri = "/";
	L.cookie_name = "STICKYSID";
	L.worker_header = "X-Sticky-Worker";
	while ((c = getopt_long(argc, argv, "a:u:n:d:c:r:kt:", longopts,
	    NULL)) != -1) {
		switch (c) {
		case 'a':
			L.naddrs = split_list(optarg, alist, MAX_ADDRS);
			for (i = 0; i < L.naddrs; i++)
				if (fcgi_client_addr_parse(alist[i], &L.addrs[i],
				    err, sizeof(err)) != 0)
					die(err);
			break;
		case 'u':
			L.nusers = (size_t)num_arg(optarg, 1, 10000000);
			break;
		case 'n':
			L.nreq = (unsigned long)num_arg(optarg, 1, 1e12);
			have_n = 1;
			break;
		case 'd':
			L.seconds = num_arg(optarg, 0.001, 86400);
			have_d = 1;
			break;
		case 'c':
			L.conc = (size_t)num_arg(optarg, 1, MAX_CONC);
			break;
		case 'r':
			L.rate = num_arg(optarg, 0.001, 1e7);
			break;
		case 'k':
			L.keep = 1;
			break;
		case 't':
			L.timeout_ms = (int)num_arg(optarg, 1, 3600000);
			break;
		case 'U':
			L.uri = optarg;
			break;
		case 'C':
			L.cookie_name = optarg;
			break;
		case 'T':
			L.ntags = split_list(optarg, L.tags, MAX_ADDRS);
			break;
		case 'W':
			L.worker_header = optarg;
			break;
		case 'M':
			L.method = optarg;
			break;
		case 'B':
			L.body = optarg;
			break;
		case 'K':
			L.check = 1;
			break;
		case 'V':
			L.tsv = 1;
			break;
		case 'F':
			cookies_file = optarg;
			break;
		case 'H':
			if ((colon = strchr(optarg, ':')) == NULL)
				usage();
			*colon = '\0';
			L.hot_users = (size_t)num_arg(optarg, 1, 1e7);
			L.hot_reqs = num_arg(colon + 1, 0, 100);
			break;
		case 'S':
			save_file = optarg;
			break;
		case 'R':
			L.no_reqid = 1;
			break;
		default:
			usage();
		}
	}
	if (optind != argc || L.naddrs == 0 || (have_n && have_d) ||
	    L.cookie_name[0] == '\0' || strlen(L.cookie_name) > 64)
		usage();
	if (have_d)
		L.nreq = 0;
	if (L.ntags == 0) {
		for (i = 0; i < L.naddrs; i++) {
			snprintf(deftags[i], sizeof(deftags[i]), "w%zu", i);
			L.tags[i] = deftags[i];
		}
		L.ntags = L.naddrs;
	}
	/* Every slot may hold a connection and so may the idle pool. */
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
	    (rlim_t)(2 * L.conc + 16) > rl.rlim_cur)
		die("concurrency too high for the open-file limit (ulimit -n)");
	if ((L.users = xcalloc(L.nusers, sizeof(*L.users))) == NULL ||
	    (L.slots = xcalloc(L.conc, sizeof(*L.slots))) == NULL ||
	    (L.pool = xcalloc(2 * L.conc, sizeof(int))) == NULL)
		die("out of memory");
	for (i = 0; i < L.conc; i++)
		L.slots[i].fd = -1;
	/* --cookies FILE: user i starts with the cookie value on line i. */
	if (cookies_file != NULL) {
		FILE *f = fopen(cookies_file, "r");
		char line[COOKIE_MAX + 2];

		if (f == NULL)
			die("cannot open the --cookies file");
		for (i = 0; i < L.nusers && fgets(line, sizeof(line), f) != NULL;) {
			line[strcspn(line, "\r\n")] = '\0';
			if (line[0] == '\0')
				continue;
			snprintf(L.users[i].cookie, sizeof(L.users[i].cookie),
			    "%s=%s", L.cookie_name, line);
			i++;
		}
		fclose(f);
	}

	L.rng = ((uint64_t)now_us() * 2654435761u ^ (uint64_t)getpid() << 32) | 1;
	t0 = now_us();
	run(&L);
	ret = report(&L, (double)(now_us() - t0) / 1e6);
	if (save_file != NULL) {
		FILE *f = fopen(save_file, "w");
		size_t nl = strlen(L.cookie_name) + 1;

		if (f == NULL)
			die("cannot write the --save-cookies file");
		for (i = 0; i < L.nusers; i++)
			fprintf(f, "%s\n", strlen(L.users[i].cookie) > nl ?
			    L.users[i].cookie + nl : "");
		if (fclose(f) != 0)
			die("cannot write the --save-cookies file");
	}
	for (i = 0; i < L.npool; i++)
		close(L.pool[2 * i]);
	xfree(L.pool);
	xfree(L.slots);
	xfree(L.users);
	xfree(L.lat);
	return ret;
}
