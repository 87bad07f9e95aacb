/*
 * slowapp.c: the counter app plus a handler that gets stuck, for the
 * request_timeout scenario (t_request_timeout.sh).  GET / adds one to the
 * user's counter, /peek reads it, and /sleep?ms=N reads it and then sleeps
 * N milliseconds inside the handler before answering, as a handler stuck
 * on a slow backend would.
 *
 * Limits: N is capped at 60000; the sleep is one nanosleep(2) restarted
 * after signals, so only SIGKILL (what request_timeout sends) ends it
 * early.  Answers "count=N worker=TAG" like contrib/examples/counter.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sticky/sticky.h>

struct counter {
	uint64_t count;
};

static void *
slow_create(void *appdata)
{
	return calloc(1, sizeof(struct counter));
}

static int
slow_encode(const void *state, struct sticky_buf *out, void *appdata)
{
	const struct counter *c = state;
	unsigned char b[8];

	for (int i = 0; i < 8; i++)
		b[i] = (unsigned char)(c->count >> (56 - 8 * i));
	return sticky_buf_append(out, b, sizeof(b));
}

static int
slow_decode(void **state, const void *data, size_t len, uint32_t schema,
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
	for (int i = 0; i < 8; i++)
		c->count = c->count << 8 | b[i];
	*state = c;
	return 0;
}

static void
slow_destroy(void *state, void *appdata)
{
	free(state);
}

static size_t
slow_size(const void *state, void *appdata)
{
	return sizeof(struct counter);
}

static void
sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
		continue;
}

static int
slow_handle(struct sticky_req *req, void *appdata)
{
	const char *path = sticky_req_path(req);
	const char *arg;
	struct counter *c;
	long ms;
	int err;

	if ((c = sticky_session_state(req, &err)) == NULL)
		return err;
	if (strcmp(path, "/sleep") == 0) {
		arg = sticky_req_arg(req, "ms");
		ms = arg != NULL ? strtol(arg, NULL, 10) : 1000;
		if (ms < 0)
			ms = 0;
		if (ms > 60000)
			ms = 60000;
		sleep_ms(ms);
	} else if (strcmp(path, "/peek") != 0) {
		c->count++;
		sticky_session_dirty(req);
	}
	sticky_req_add_header(req, "Cache-Control", "no-store");
	return sticky_req_printf(req, "count=%" PRIu64 " worker=%s%s\n",
	    c->count, sticky_req_worker_tag(req),
	    sticky_session_is_new(req) ? " new-session" : "");
}

static const struct sticky_app_def slow_app = {
	.name = "counter", /* reads and writes the counter's checkpoints */
	.codec = {
		.schema_version = 1,
		.create = slow_create,
		.encode = slow_encode,
		.decode = slow_decode,
		.destroy = slow_destroy,
		.size = slow_size,
	},
	.handler = slow_handle,
};

int
main(int argc, char *argv[])
{
	return sticky_main(argc, argv, &slow_app);
}
