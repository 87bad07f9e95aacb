/*
 * store.c: a worker's session table.  Chained hash table with power-of-two
 * buckets that doubles at load 2, plus intrusive LRU and dirty lists;
 * sessions come from slabs of fixed-size slots (no malloc header each).  Keys are
 * already 128 random bits, so the hash is just their first bytes mixed: an
 * attacker cannot choose keys that collide because unknown keys never get
 * inserted (ids are never adopted from clients).
 */
#include <string.h>

#include "store.h"

struct store {
	struct session **buckets;
	size_t nbuckets; /* power of two */
	size_t count;
	size_t bytes;
	struct session *mru; /* head: most recently used */
	struct session *lru; /* tail: least recently used */
	struct session *dirty_head; /* oldest unflushed change */
	struct session *dirty_tail;
	size_t ndirty;
	store_destroy_fn destroy;
	void *arg;
	void (*before_remove)(void *arg); /* store_on_remove() */
	void *remove_arg;
};

/*
 * 22 characters of 6 bits fill 132 of the 136 bits; the next bit says the
 * first character is '~' (a name under secret_file, secret.h), packed as 0.
 */
#define KEY_NAME_BIT (SID_KEY_LEN * 6)

void
session_key_pack(const char *key, unsigned char out[SESSION_KEY_BYTES])
{
	memset(out, 0, SESSION_KEY_BYTES);
	if (key[0] == '~')
		out[KEY_NAME_BIT / 8] |= (unsigned char)(0x80 >> (KEY_NAME_BIT % 8));
	for (size_t i = 0; i < SID_KEY_LEN; i++) {
		unsigned v = i == 0 && key[0] == '~' ? 0 :
		    (unsigned)sid_b64url_value((unsigned char)key[i]);

		for (int b = 5; b >= 0; b--) {
			size_t bit = i * 6 + (size_t)(5 - b);

			if (v >> b & 1)
				out[bit / 8] |= (unsigned char)(0x80 >> (bit % 8));
		}
	}
}

char *
session_key(const struct session *s, char out[SID_KEY_LEN + 1])
{
	for (size_t i = 0; i < SID_KEY_LEN; i++) {
		unsigned v = 0;

		for (size_t b = 0; b < 6; b++) {
			size_t bit = i * 6 + b;

			v = v << 1 | ((s->key[bit / 8] >> (7 - bit % 8)) & 1);
		}
		out[i] = sid_b64url[v];
	}
	if (s->key[KEY_NAME_BIT / 8] & (0x80 >> (KEY_NAME_BIT % 8)))
		out[0] = '~';
	out[SID_KEY_LEN] = '\0';
	return out;
}

void
session_set_key(struct session *s, const char *key)
{
	session_key_pack(key, s->key);
}

static size_t
key_hash(const unsigned char *k)
{
	uint64_t h = 1469598103934665603ULL;

	for (size_t i = 0; i < SESSION_KEY_BYTES; i++) {
		h ^= k[i];
		h *= 1099511628211ULL;
	}
	return (size_t)(h ^ (h >> 29));
}

static struct session *
peek_packed(const struct store *st, const unsigned char *k)
{
	struct session *s;

	for (s = st->buckets[key_hash(k) & (st->nbuckets - 1)]; s != NULL;
	    s = s->hnext)
		if (memcmp(s->key, k, SESSION_KEY_BYTES) == 0)
			return s;
	return NULL;
}

int
store_new(struct store **out, store_destroy_fn destroy, void *arg)
{
	struct store *st;

	*out = NULL;
	if ((st = xcalloc(1, sizeof(*st))) == NULL)
		return STICKY_ENOMEM;
	st->nbuckets = 64;
	if ((st->buckets = xcalloc(st->nbuckets, sizeof(*st->buckets))) == NULL) {
		xfree(st);
		return STICKY_ENOMEM;
	}
	st->destroy = destroy;
	st->arg = arg;
	*out = st;
	return 0;
}

void
store_free(struct store *st)
{
	struct session *s, *next;

	if (st == NULL)
		return;
	for (s = st->mru; s != NULL; s = next) {
		next = s->lru_next;
		if (st->destroy != NULL)
			st->destroy(s, st->arg);
		else
			store_session_release(s);
	}
	xfree(st->buckets);
	xfree(st);
}

static void
lru_unlink(struct store *st, struct session *s)
{
	if (s->lru_prev != NULL)
		s->lru_prev->lru_next = s->lru_next;
	else
		st->mru = s->lru_next;
	if (s->lru_next != NULL)
		s->lru_next->lru_prev = s->lru_prev;
	else
		st->lru = s->lru_prev;
	s->lru_prev = s->lru_next = NULL;
}

static void
lru_push(struct store *st, struct session *s)
{
	s->lru_prev = NULL;
	s->lru_next = st->mru;
	if (st->mru != NULL)
		st->mru->lru_prev = s;
	st->mru = s;
	if (st->lru == NULL)
		st->lru = s;
}

struct session *
store_peek(const struct store *st, const char *key)
{
	unsigned char k[SESSION_KEY_BYTES];

	if (strnlen(key, SID_KEY_LEN + 1) != SID_KEY_LEN)
		return NULL;
	session_key_pack(key, k);
	return peek_packed(st, k);
}

struct session *
store_get(struct store *st, const char *key, int64_t now)
{
	struct session *s;

	if ((s = store_peek(st, key)) == NULL)
		return NULL;
	if (st->mru != s) {
		lru_unlink(st, s);
		lru_push(st, s);
	}
	s->last_used_ms = (uint32_t)now;
	return s;
}

/* Double the bucket array; on allocation failure keep the old one. */
static void
grow(struct store *st)
{
	struct session **nb, *s, *next;
	size_t n = st->nbuckets * 2;

	if ((nb = xcalloc(n, sizeof(*nb))) == NULL)
		return;
	for (size_t i = 0; i < st->nbuckets; i++)
		for (s = st->buckets[i]; s != NULL; s = next) {
			size_t b = key_hash(s->key) & (n - 1);

			next = s->hnext;
			s->hnext = nb[b];
			nb[b] = s;
		}
	xfree(st->buckets);
	st->buckets = nb;
	st->nbuckets = n;
}

int
store_insert(struct store *st, struct session *s, int64_t now)
{
	size_t b;

	if (peek_packed(st, s->key) != NULL)
		return STICKY_EINVAL;
	if (st->count >= 2 * st->nbuckets)
		grow(st);
	b = key_hash(s->key) & (st->nbuckets - 1);
	s->hnext = st->buckets[b];
	st->buckets[b] = s;
	lru_push(st, s);
	s->last_used_ms = (uint32_t)now;
	if (s->dirty_since_ms != 0) { /* dirty before it came in: queue it */
		uint32_t since = s->dirty_since_ms;

		s->dirty_since_ms = 0;
		store_dirty(st, s, since);
	}
	st->count++;
	st->bytes += s->bytes;
	return 0;
}

void
store_dirty(struct store *st, struct session *s, int64_t now)
{
	if (s->dirty_since_ms != 0)
		return; /* already queued: keep the time of its first change */
	s->dirty_since_ms = (uint32_t)now != 0 ? (uint32_t)now : 1;
	s->dirty_next = NULL;
	s->dirty_prev = st->dirty_tail;
	if (st->dirty_tail != NULL)
		st->dirty_tail->dirty_next = s;
	else
		st->dirty_head = s;
	st->dirty_tail = s;
	st->ndirty++;
}

void
store_clean(struct store *st, struct session *s)
{
	if (s->dirty_since_ms == 0)
		return;
	if (s->dirty_prev != NULL)
		s->dirty_prev->dirty_next = s->dirty_next;
	else
		st->dirty_head = s->dirty_next;
	if (s->dirty_next != NULL)
		s->dirty_next->dirty_prev = s->dirty_prev;
	else
		st->dirty_tail = s->dirty_prev;
	s->dirty_prev = s->dirty_next = NULL;
	s->dirty_since_ms = 0;
	st->ndirty--;
}

void
store_dirty_first(struct store *st, struct session *s, int64_t since)
{
	store_clean(st, s);
	s->dirty_since_ms = (uint32_t)since != 0 ? (uint32_t)since : 1;
	s->dirty_prev = NULL;
	s->dirty_next = st->dirty_head;
	if (st->dirty_head != NULL)
		st->dirty_head->dirty_prev = s;
	else
		st->dirty_tail = s;
	st->dirty_head = s;
	st->ndirty++;
}

struct session *
store_dirty_oldest(const struct store *st)
{
	return st->dirty_head;
}

size_t
store_dirty_count(const struct store *st)
{
	return st->ndirty;
}

void
store_on_remove(struct store *st, void (*fn)(void *arg), void *arg)
{
	st->before_remove = fn;
	st->remove_arg = arg;
}

void
store_remove(struct store *st, struct session *s)
{
	struct session **pp;
	int64_t since;

	if (st->before_remove != NULL)
		st->before_remove(st->remove_arg);
	for (pp = &st->buckets[key_hash(s->key) & (st->nbuckets - 1)];
	    *pp != NULL; pp = &(*pp)->hnext)
		if (*pp == s) {
			*pp = s->hnext;
			s->hnext = NULL;
			lru_unlink(st, s);
			/*
			 * Off the dirty list, still marked: a session put back
			 * (a restore that failed) is queued again by
			 * store_insert, so its unsaved changes are not lost.
			 */
			since = s->dirty_since_ms;
			store_clean(st, s);
			s->dirty_since_ms = since;
			st->count--;
			st->bytes -= s->bytes;
			return;
		}
}

void
store_set_bytes(struct store *st, struct session *s, size_t bytes)
{
	if (bytes > UINT32_MAX)
		bytes = UINT32_MAX;
	st->bytes = st->bytes - s->bytes + bytes;
	s->bytes = (uint32_t)bytes;
}

struct session *
store_lru(const struct store *st)
{
	return st->lru;
}

struct session *
store_newer(const struct session *s)
{
	return s->lru_prev;
}

size_t
store_count(const struct store *st)
{
	return st->count;
}

size_t
store_bytes(const struct store *st)
{
	return st->bytes;
}

void
store_foreach(struct store *st, void (*cb)(struct session *, void *),
    void *arg)
{
	for (struct session *s = st->mru; s != NULL; s = s->lru_next)
		cb(s, arg);
}

/*
 * Session slots.  Under AddressSanitizer each is its own allocation, so
 * a use after free is still caught; otherwise slabs of SLAB_N slots with a
 * free list through hnext, all freed when the last session goes (tests,
 * valgrind).  A worker is one thread: no locking.
 */
#define SLAB_N 1024

#if defined(__SANITIZE_ADDRESS__)
#define SLOTS_MALLOC 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SLOTS_MALLOC 1
#endif
#endif

#ifndef SLOTS_MALLOC
struct slab {
	struct slab *next;
	struct session slot[SLAB_N];
};

static struct slab *slabs;
static struct session *free_slots;
static size_t live_slots;
#endif

static struct session *
slot_get(void)
{
#ifdef SLOTS_MALLOC
	return xcalloc(1, sizeof(struct session));
#else
	struct session *s;

	if (free_slots == NULL) {
		struct slab *b = xmalloc(sizeof(*b));

		if (b == NULL)
			return NULL;
		b->next = slabs;
		slabs = b;
		for (size_t i = SLAB_N; i-- > 0;) {
			b->slot[i].hnext = free_slots;
			free_slots = &b->slot[i];
		}
	}
	s = free_slots;
	free_slots = s->hnext;
	live_slots++;
	memset(s, 0, sizeof(*s));
	return s;
#endif
}

static void
slot_put(struct session *s)
{
#ifdef SLOTS_MALLOC
	xfree(s);
#else
	s->hnext = free_slots;
	free_slots = s;
	if (--live_slots == 0) {
		while (slabs != NULL) {
			struct slab *next = slabs->next;

			xfree(slabs);
			slabs = next;
		}
		free_slots = NULL;
	}
#endif
}

struct session *
store_session_alloc(const char *key)
{
	struct session *s;

	if ((s = slot_get()) == NULL)
		return NULL;
	session_set_key(s, key);
	return s;
}

struct session_ext *
session_ext(struct session *s)
{
	if (s->x == NULL && (s->x = xcalloc(1, sizeof(*s->x))) != NULL)
		buf_init(&s->x->written);
	return s->x;
}

void
store_session_release(struct session *s)
{
	struct session_ext *x;

	if (s == NULL)
		return;
	if ((x = s->x) != NULL) {
		for (size_t i = 0; i < x->nreplay; i++) {
			xfree(x->replay[i].id);
			buf_cleanup(&x->replay[i].out);
		}
		xfree(x->replay);
		buf_cleanup(&x->written);
		xfree(x->page_crc);
		xfree(x->tag);
		xfree(x->touched);
		xfree(x);
	}
	slot_put(s);
}
