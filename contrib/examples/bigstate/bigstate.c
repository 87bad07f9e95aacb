/*
 * bigstate.c: an application whose per-user state is large: an array of
 * floats (app.state_bytes, default 64 KiB) that each request updates in
 * one place, like a recommender nudging a user's model.  Rebuilding or
 * deserialising it per request is what sticky exists to avoid.
 *
 * It also shows preload: a read-only table (app.shared_bytes, default
 * 1 MiB) built once in the master before fork and shared copy-on-write by
 * every worker.
 */
#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sticky/sticky.h>

/*
 * Kept in its encoded form (enc: the count, 8 bytes big-endian, then the
 * floats as they are in memory), so the codec's view hands the checkpoint
 * the bytes in place and the handler touches the two ranges it changes.
 */
struct big {
	uint64_t count;
	size_t n;      /* floats */
	unsigned char enc[8]; /* count, big-endian: the encoding starts here */
	float v[];
};
_Static_assert(offsetof(struct big, v) == offsetof(struct big, enc) + 8,
    "the encoding is enc then v, contiguous");

/* Set by preload in the master, before fork; read-only afterwards. */
struct settings {
	size_t state_bytes;
	int view; /* app.view: 0 turns the view and the touches off */
};

struct shared_table {
	long loaded_by;  /* pid of the process that ran preload: the master */
	size_t n;
	float w[]; /* read-only after preload: pages stay shared */
};

static struct settings settings = { 65536, 1 };

static size_t
size_arg(const struct sticky_config *cfg, const char *key, size_t def)
{
	const char *v = sticky_config_get(cfg, key);
	char *end;
	unsigned long long n;

	if (v == NULL || *v == '\0')
		return def;
	n = strtoull(v, &end, 10);
	return *end == '\0' && n >= 16 && n <= (1ULL << 30) ? (size_t)n : def;
}

static int
big_preload(void **shared, const struct sticky_config *cfg, void *appdata)
{
	struct settings *s = appdata;
	size_t tbytes = size_arg(cfg, "app.shared_bytes", 1 << 20);
	struct shared_table *t;

	s->state_bytes = size_arg(cfg, "app.state_bytes", 65536);
	s->view = sticky_config_get(cfg, "app.view") == NULL ||
	    strcmp(sticky_config_get(cfg, "app.view"), "0") != 0;
	if ((t = malloc(sizeof(*t) + tbytes)) == NULL)
		return STICKY_ENOMEM;
	t->loaded_by = (long)getpid();
	t->n = tbytes / sizeof(float);
	for (size_t i = 0; i < t->n; i++)
		t->w[i] = (float)(i % 97) / 97.0f;
	*shared = t;
	return 0;
}

static void
big_unload(void *shared, void *appdata)
{
	free(shared);
}

static struct big *
big_alloc(size_t n)
{
	struct big *b = calloc(1, sizeof(*b) + n * sizeof(float));

	if (b != NULL)
		b->n = n;
	return b;
}

static void *
big_create(void *appdata)
{
	const struct settings *s = appdata;

	return big_alloc(s->state_bytes / sizeof(float));
}

/* count (8 bytes BE) then the floats as they are in memory: this codec is
 * for one architecture, as a real model's weights often are. */
static int
big_encode(const void *state, struct sticky_buf *out, void *appdata)
{
	const struct big *b = state;
	unsigned char hdr[8];
	int rc;

	for (int i = 0; i < 8; i++)
		hdr[i] = (unsigned char)(b->count >> (56 - 8 * i));
	if ((rc = sticky_buf_append(out, hdr, sizeof(hdr))) != 0)
		return rc;
	return sticky_buf_append(out, b->v, b->n * sizeof(float));
}

/* The encoding in place: what big_encode would append. */
/* The encoding's bytes: enc then v, addressed from the start of the
 * allocation (not through the 8-byte member, which they outgrow). */
static unsigned char *
enc_of(const struct big *b)
{
	return (unsigned char *)b + offsetof(struct big, enc);
}

static int
big_view(const void *state, const void **data, size_t *len, void *appdata)
{
	const struct settings *s = appdata;
	const struct big *b = state;

	if (!s->view)
		return STICKY_EINVAL; /* app.view=0: the checkpoint encodes */
	*data = enc_of(b);
	*len = sizeof(b->enc) + b->n * sizeof(float);
	return 0;
}

static void
set_count(struct big *b, uint64_t count)
{
	b->count = count;
	for (int i = 0; i < 8; i++)
		b->enc[i] = (unsigned char)(count >> (56 - 8 * i));
}

static int
big_decode(void **state, const void *data, size_t len, uint32_t schema,
    void *appdata)
{
	const unsigned char *p = data;
	struct big *b;

	if (schema != 1)
		return STICKY_EVERSION;
	if (len < 8 || (len - 8) % sizeof(float) != 0)
		return STICKY_ECORRUPT;
	if ((b = big_alloc((len - 8) / sizeof(float))) == NULL)
		return STICKY_ENOMEM;
	memcpy(enc_of(b), p, len); /* enc and v are contiguous */
	for (int i = 0; i < 8; i++)
		b->count = b->count << 8 | p[i];
	*state = b;
	return 0;
}

static void
big_destroy(void *state, void *appdata)
{
	free(state);
}

static size_t
big_size(const void *state, void *appdata)
{
	const struct big *b = state;

	return sizeof(*b) + b->n * sizeof(float);
}

/* Per worker: what worker_init made (here, just the tag it was given). */
struct worker_info {
	char tag[40];
	long pid;
};

static int
big_worker_init(void **worker_data, const void *shared, const char *tag,
    void *appdata)
{
	struct worker_info *wi = calloc(1, sizeof(*wi));

	if (wi == NULL)
		return STICKY_ENOMEM;
	snprintf(wi->tag, sizeof(wi->tag), "%s", tag);
	wi->pid = (long)getpid();
	*worker_data = wi;
	return 0;
}

static void
big_worker_exit(void *worker_data, void *appdata)
{
	free(worker_data);
}

static int
big_handle(struct sticky_req *req, void *appdata)
{
	const struct shared_table *t = sticky_req_shared(req);
	const struct settings *set = appdata;
	struct big *b;
	size_t at;
	int err;

	/* /info: where the shared table and the per-worker data came from. */
	if (strcmp(sticky_req_path(req), "/info") == 0) {
		const struct worker_info *wi = sticky_req_worker_data(req);

		return sticky_req_printf(req, "shared=%p loaded_by=%ld "
		    "worker_init=%s worker_pid=%ld\n", (const void *)t,
		    t != NULL ? t->loaded_by : 0L, wi != NULL ? wi->tag : "-",
		    wi != NULL ? wi->pid : 0L);
	}
	if ((b = sticky_session_state(req, &err)) == NULL)
		return err;
#ifdef BIGSTATE_TEST
	/*
	 * Tests only (tests/integration/apps/bigtouch): /fnv hashes the whole
	 * encoding; /untouched changes the middle float and touches only the
	 * count, a handler bug that shows which bytes a checkpoint sends.
	 */
	if (strcmp(sticky_req_path(req), "/fnv") == 0) {
		uint64_t h = 1469598103934665603ULL;

		const unsigned char *e = enc_of(b);

		for (size_t i = 0; i < 8 + b->n * sizeof(float); i++)
			h = (h ^ e[i]) * 1099511628211ULL;
		return sticky_req_printf(req, "count=%" PRIu64 " fnv=%016" PRIx64
		    "\n", b->count, h);
	}
	if (strcmp(sticky_req_path(req), "/untouched") == 0) {
		b->v[b->n / 2] += 1.0f;
		set_count(b, b->count + 1);
		if (set->view)
			sticky_session_touch(req, 0, sizeof(b->enc));
		else
			sticky_session_dirty(req);
		return sticky_req_printf(req, "count=%" PRIu64 "\n", b->count);
	}
#endif
	if (strcmp(sticky_req_path(req), "/peek") != 0) {
		/* Nudge 16 floats at a moving place: one page changes. */
		at = (size_t)(b->count * 16) % (b->n > 16 ? b->n - 16 : 1);
		for (size_t i = 0; i < 16 && at + i < b->n; i++)
			b->v[at + i] += t != NULL ? t->w[(at + i) % t->n] : 1.0f;
		set_count(b, b->count + 1);
		if (set->view) { /* the two ranges that changed */
			sticky_session_touch(req, 0, sizeof(b->enc));
			sticky_session_touch(req, sizeof(b->enc) +
			    at * sizeof(float), 16 * sizeof(float));
		} else
			sticky_session_dirty(req);
	}
	return sticky_req_printf(req, "count=%" PRIu64 " worker=%s bytes=%zu\n",
	    b->count, sticky_req_worker_tag(req), b->n * sizeof(float));
}

static const struct sticky_app_def big_app = {
	.name = "bigstate",
	.codec = {
		.schema_version = 1,
		.create = big_create,
		.encode = big_encode,
		.decode = big_decode,
		.destroy = big_destroy,
		.size = big_size,
		.view = big_view,
	},
	.handler = big_handle,
	.preload = big_preload,
	.worker_init = big_worker_init,
	.worker_exit = big_worker_exit,
	.unload = big_unload,
	.appdata = &settings,
};

#ifdef STICKY_STANDALONE
int
main(int argc, char *argv[])
{
	return sticky_main(argc, argv, &big_app);
}
#else
STICKY_MODULE(big_app)
#endif
