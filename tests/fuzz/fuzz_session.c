/*
 * fuzz_session.c: libFuzzer harness for session payload decoding: a whole
 * checkpoint (envelope header, app bytes, replay log) through
 * envelope_decode() and then payload_decode(), as a worker restoring a
 * session does.  The custom mutator (envelope_mutator.h) repairs lengths
 * and CRCs, so most inputs get past the envelope into the replay-log
 * parser.  Besides the sanitizers it checks: a payload accepted with room
 * for every entry re-encodes (payload_encode) to exactly the same bytes
 * and meta_len; every decoded entry is found by its id; with fewer slots
 * the newest entries are kept; nothing leaks.
 *
 *   make fuzz FUZZ_TARGETS=session        (or fuzz-long)
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <sticky/sticky.h>
#include "config.h"
#include "envelope_mutator.h"
#include "payload.h"
#include "session.h"
#include "store.h"
#include "worker.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

#define CHECK(c) do { if (!(c)) __builtin_trap(); } while (0)

/* The app: its state is its bytes, so a round trip must be exact. */
struct blob {
	size_t len;
	unsigned char data[];
};

static int
blob_encode(const void *state, struct sticky_buf *out, void *appdata)
{
	const struct blob *b = state;

	return sticky_buf_append(out, b->data, b->len);
}

static int
blob_decode(void **state, const void *data, size_t len, uint32_t schema,
    void *appdata)
{
	struct blob *b;

	if (schema != 1)
		return STICKY_EVERSION;
	if ((b = malloc(sizeof(*b) + len + 1)) == NULL)
		return STICKY_ENOMEM;
	b->len = len;
	memcpy(b->data, data, len);
	*state = b;
	return 0;
}

static void
blob_destroy(void *state, void *appdata)
{
	free(state);
}

static const struct sticky_app_def app = {
	.name = FUZZ_APP_NAME,
	.codec = {
		.schema_version = 1,
		.encode = blob_encode,
		.decode = blob_decode,
		.destroy = blob_destroy,
	},
};

static struct sticky_config cfg;
static struct worker w;
static uint32_t app_id;

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	if (config_init(&cfg) != 0)
		abort();
	w.cfg = &cfg;
	w.app = &app;
	app_id = envelope_app_id(FUZZ_APP_NAME);
	return 0;
}

static void
decode_with(const uint8_t *p, size_t len, const struct envelope *e, long slots)
{
	struct session *s;
	struct sticky_buf out;
	uint32_t meta_len = 0;
	int rc;

	cfg.replay_slots = slots;
	if ((s = store_session_alloc("AAAAAAAAAAAAAAAAAAAAAA")) == NULL)
		return;
	rc = payload_decode(w.app, w.cfg, s, p, len, e->meta_len, e->schema);
	if (rc == 0) {
		const struct session_ext *x = s->x;
		size_t nreplay = x != NULL ? x->nreplay : 0;

		CHECK(s->state != NULL);
		CHECK(nreplay <= (size_t)slots);
		/* The bare count (4 bytes) needs no extension to remember. */
		CHECK(e->meta_len <= 4 ||
		    (x != NULL && x->meta_hwm == e->meta_len));
		for (size_t i = 0; i < nreplay; i++)
			CHECK(payload_replay_find(s, x->replay[i].id) != NULL);
		if (slots == 64) {
			/* Room for every entry (at most 64): the same bytes. */
			buf_init(&out);
			CHECK(payload_encode(w.app, w.cfg, s, &out,
			    &meta_len) == 0);
			CHECK(meta_len == e->meta_len);
			CHECK(out.len == len);
			CHECK(memcmp(out.data, p, len) == 0);
			buf_cleanup(&out);
		}
	} else
		CHECK(rc == STICKY_ECORRUPT || rc == STICKY_EVERSION);
	session_destroy_cb(s, &w);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct envelope e;
	const char *why;

	if (envelope_decode(data, size, app_id, &e, &why) != 0)
		return 0;
	decode_with(data + ENV_HDR_LEN, size - ENV_HDR_LEN, &e, 64);
	decode_with(data + ENV_HDR_LEN, size - ENV_HDR_LEN, &e, 2);
	decode_with(data + ENV_HDR_LEN, size - ENV_HDR_LEN, &e, 0);
	return 0;
}
