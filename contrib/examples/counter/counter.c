/*
 * counter.c: the smallest sticky application.  Each user has a counter
 * that lives in the memory of the worker that owns them; every request to
 * / adds one.  /peek shows it without changing it, /login rotates the
 * session id, /logout forgets the session.
 *
 * Build as a program (sticky_main) with -DSTICKY_STANDALONE, or as a
 * module for stickyd(8).  The tests build it once more with
 * -DCOUNTER_TEST_SLEEP (tests/integration/apps/slowapp): /sleep?ms=N then
 * reads the count and sleeps N ms (at most 60000) inside the handler, as a
 * handler stuck on a slow backend would, for request_timeout; and with
 * -DCOUNTER_TEST_CRASH a query string containing "crashme" makes the
 * handler dereference NULL (SIGSEGV), as a bug triggered by one request
 * would.  Neither is in the shipped binaries.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sticky/sticky.h>

/* The count as its encoding: 8 bytes big-endian, so the codec's view
 * exposes it in place (a checkpoint needs no encode). */
struct counter {
	unsigned char be[8];
};

static uint64_t
get_count(const struct counter *c)
{
	uint64_t n = 0;

	for (int i = 0; i < 8; i++)
		n = n << 8 | c->be[i];
	return n;
}

static void
set_count(struct counter *c, uint64_t n)
{
	for (int i = 0; i < 8; i++)
		c->be[i] = (unsigned char)(n >> (56 - 8 * i));
}

static void *
counter_create(void *appdata)
{
	return calloc(1, sizeof(struct counter));
}

/* Eight bytes, big-endian: a format that outlives compilers and hosts. */
static int
counter_encode(const void *state, struct sticky_buf *out, void *appdata)
{
	const struct counter *c = state;

	return sticky_buf_append(out, c->be, sizeof(c->be));
}

static int
counter_view(const void *state, const void **data, size_t *len,
    void *appdata)
{
	const struct counter *c = state;

	*data = c->be;
	*len = sizeof(c->be);
	return 0;
}

static int
counter_decode(void **state, const void *data, size_t len, uint32_t schema,
    void *appdata)
{
	const unsigned char *b = data;
	struct counter *c;

	if (schema != 1)
		return STICKY_EVERSION;
	if (len != 8)
		return STICKY_ECORRUPT;
	if ((c = calloc(1, sizeof(*c))) == NULL)
		return STICKY_ENOMEM;
	memcpy(c->be, b, sizeof(c->be));
	*state = c;
	return 0;
}

static void
counter_destroy(void *state, void *appdata)
{
	free(state);
}

static size_t
counter_size(const void *state, void *appdata)
{
	return sizeof(struct counter);
}

#ifdef COUNTER_TEST_SLEEP
/* One nanosleep restarted after signals: only SIGKILL ends it early. */
static void
test_sleep(struct sticky_req *req)
{
	const char *arg = sticky_req_arg(req, "ms");
	long ms = arg != NULL ? strtol(arg, NULL, 10) : 1000;
	struct timespec ts;

	ms = ms < 0 ? 0 : ms > 60000 ? 60000 : ms;
	ts.tv_sec = ms / 1000;
	ts.tv_nsec = (ms % 1000) * 1000000L;
	while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
		;
}
#endif

static int
counter_handle(struct sticky_req *req, void *appdata)
{
	const char *path = sticky_req_path(req);
	struct counter *c;
	int err;

	if (strcmp(path, "/logout") == 0) {
		if ((err = sticky_session_destroy(req)) != 0)
			return err;
		return sticky_req_puts(req, "logged out\n");
	}
	if ((c = sticky_session_state(req, &err)) == NULL)
		return err;
#ifdef COUNTER_TEST_CRASH
	if (strstr(sticky_req_query(req), "crashme") != NULL) {
		volatile int *volatile nowhere = NULL;

		*nowhere = 1;
	}
#endif
#ifdef COUNTER_TEST_SLEEP
	if (strcmp(path, "/sleep") == 0)
		test_sleep(req);
	else
#endif
	if (strcmp(path, "/login") == 0) {
		if ((err = sticky_session_rotate(req)) != 0)
			return err;
	} else if (strcmp(path, "/peek") != 0) {
		set_count(c, get_count(c) + 1);
		sticky_session_touch(req, 0, sizeof(c->be));
	}
	sticky_req_add_header(req, "Cache-Control", "no-store");
	return sticky_req_printf(req, "count=%" PRIu64 " worker=%s%s\n",
	    get_count(c), sticky_req_worker_tag(req),
	    sticky_session_is_new(req) ? " new-session" : "");
}

#ifndef COUNTER_CODEC_FLAGS
#define COUNTER_CODEC_FLAGS 0 /* STICKY_CODEC_NEEDS_MAC: a test build */
#endif

static const struct sticky_app_def counter_app = {
	.name = "counter",
	.codec = {
		.schema_version = 1,
		.create = counter_create,
		.encode = counter_encode,
		.decode = counter_decode,
		.destroy = counter_destroy,
		.size = counter_size,
		.flags = COUNTER_CODEC_FLAGS,
		.view = counter_view,
	},
	.handler = counter_handle,
};

#ifdef STICKY_STANDALONE
int
main(int argc, char *argv[])
{
	return sticky_main(argc, argv, &counter_app);
}
#else
STICKY_MODULE(counter_app)
#endif
