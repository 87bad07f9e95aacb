/*
 * quarantine.c: requests and users that were in flight when a worker died
 * (see quarantine.h).  Tables are small and scanned linearly: a check is a
 * few hundred 64-bit compares, done once per request.
 */
#include <errno.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>

#include "internal.h"
#include "quarantine.h"

#define LOAD(p) __atomic_load_n((p), __ATOMIC_ACQUIRE)
#define STORE(p, v) __atomic_store_n((p), (v), __ATOMIC_RELEASE)

static size_t
map_size(unsigned n)
{
	return sizeof(struct quar_shm) + (size_t)n * sizeof(struct quar_slot);
}

int
quar_map(struct quar_shm **out, unsigned n)
{
	struct quar_shm *q;
	size_t got = 0;
	ssize_t r;

	q = mmap(NULL, map_size(n), PROT_READ | PROT_WRITE,
	    MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (q == MAP_FAILED)
		return STICKY_ESYS;
	memset(q, 0, map_size(n));
	while (got < sizeof(q->key)) {
		r = getrandom((unsigned char *)q->key + got, sizeof(q->key) - got, 0);
		if (r < 0 && errno != EINTR) {
			munmap(q, map_size(n));
			return STICKY_ESYS;
		}
		if (r > 0)
			got += (size_t)r;
	}
	q->nworkers = n;
	*out = q;
	return 0;
}

void
quar_unmap(struct quar_shm *q)
{
	if (q != NULL)
		munmap(q, map_size(q->nworkers));
}

/* ---- SipHash-2-4 (Aumasson and Bernstein), 64-bit output ---- */

#define ROTL(x, b) (uint64_t)(((x) << (b)) | ((x) >> (64 - (b))))
#define SIPROUND                                                       \
	do {                                                           \
		v0 += v1; v1 = ROTL(v1, 13); v1 ^= v0; v0 = ROTL(v0, 32); \
		v2 += v3; v3 = ROTL(v3, 16); v3 ^= v2;                 \
		v0 += v3; v3 = ROTL(v3, 21); v3 ^= v0;                 \
		v2 += v1; v1 = ROTL(v1, 17); v1 ^= v2; v2 = ROTL(v2, 32); \
	} while (0)

static uint64_t
le64(const unsigned char *p)
{
	uint64_t v = 0;

	for (int i = 7; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

static uint64_t
siphash(const uint64_t key[2], const unsigned char *m, size_t len)
{
	uint64_t v0 = 0x736f6d6570736575ULL ^ key[0];
	uint64_t v1 = 0x646f72616e646f6dULL ^ key[1];
	uint64_t v2 = 0x6c7967656e657261ULL ^ key[0];
	uint64_t v3 = 0x7465646279746573ULL ^ key[1];
	uint64_t b = (uint64_t)len << 56, mi;
	size_t i, tail = len & 7;

	for (i = 0; i + 8 <= len; i += 8) {
		mi = le64(m + i);
		v3 ^= mi;
		SIPROUND;
		SIPROUND;
		v0 ^= mi;
	}
	for (size_t j = 0; j < tail; j++)
		b |= (uint64_t)m[i + j] << (8 * j);
	v3 ^= b;
	SIPROUND;
	SIPROUND;
	v0 ^= b;
	v2 ^= 0xff;
	SIPROUND;
	SIPROUND;
	SIPROUND;
	SIPROUND;
	return v0 ^ v1 ^ v2 ^ v3;
}

uint64_t
quar_hash(const struct quar_shm *q, const char *s, size_t len)
{
	uint64_t h;

	if (s == NULL || len == 0)
		return 0;
	h = siphash(q->key, (const unsigned char *)s, len);
	return h != 0 ? h : 1;
}

/* ---- a worker's note ---- */

void
quar_begin(struct quar_shm *q, unsigned idx, uint64_t req, uint64_t user)
{
	struct quar_slot *s = &q->w[idx];

	STORE(&s->state, QUAR_IDLE);
	STORE(&s->req, req);
	STORE(&s->user, user);
	STORE(&s->state, QUAR_RUNNING);
}

void
quar_end(struct quar_shm *q, unsigned idx)
{
	STORE(&q->w[idx].state, QUAR_IDLE);
}

void
quar_mark_died(struct quar_shm *q, unsigned idx)
{
	uint32_t running = QUAR_RUNNING;

	__atomic_compare_exchange_n(&q->w[idx].state, &running, QUAR_DIED, 0,
	    __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE);
}

/* ---- the master's record ---- */

static struct quar_user *
user_find(const struct quar_shm *q, uint64_t user)
{
	for (size_t i = 0; i < QUAR_USERS; i++)
		if (LOAD(&q->users[i].hash) == user)
			return (struct quar_user *)&q->users[i];
	return NULL;
}

static int
within(int64_t then, int64_t now, const struct quar_policy *p)
{
	return then != 0 && now - then < p->window_ms;
}

int
quar_worker_died(struct quar_shm *q, unsigned idx, int64_t now,
    const struct quar_policy *p, int guilty)
{
	struct quar_slot *s = &q->w[idx];
	struct quar_user *u, *oldest;
	uint64_t req, user;
	uint32_t state = LOAD(&s->state);
	int rc = 1;

	if (state == QUAR_IDLE || (state == QUAR_RUNNING && !guilty)) {
		STORE(&s->state, QUAR_IDLE);
		return 0;
	}
	req = LOAD(&s->req);
	user = LOAD(&s->user);
	STORE(&q->crashes, LOAD(&q->crashes) + 1);
	if (req != 0) {
		struct quar_req *r = &q->reqs[q->req_next];

		STORE(&r->hash, 0);
		STORE(&r->at_ms, now);
		STORE(&r->hash, req);
		STORE(&q->req_next, (q->req_next + 1) % QUAR_REQS);
	}
	if (user != 0) {
		if ((u = user_find(q, user)) == NULL) {
			oldest = &q->users[0];
			for (size_t i = 1; i < QUAR_USERS; i++)
				if (q->users[i].last_ms < oldest->last_ms)
					oldest = &q->users[i];
			u = oldest;
			STORE(&u->hash, 0);
			STORE(&u->crashes, 0);
		}
		if (LOAD(&u->crashes) == 0 || !within(u->last_ms, now, p)) {
			STORE(&u->crashes, 1);
			STORE(&u->aside, 0);
		} else
			STORE(&u->crashes, LOAD(&u->crashes) + 1);
		STORE(&u->last_ms, now);
		STORE(&u->hash, user);
		if (p->crashes > 0 && LOAD(&u->crashes) == (uint32_t)p->crashes) {
			STORE(&q->quarantines, LOAD(&q->quarantines) + 1);
			rc = 2;
		}
	}
	STORE(&s->state, QUAR_IDLE);
	return rc;
}

/* ---- a worker's question ---- */

enum quar_verdict
quar_check(const struct quar_shm *q, unsigned self, uint64_t req,
    uint64_t user, int64_t now, const struct quar_policy *p)
{
	const struct quar_user *u;
	uint64_t n = 0;

	for (unsigned j = 0; j < q->nworkers; j++) {
		const struct quar_slot *s = &q->w[j];

		if (j == self || LOAD(&s->state) != QUAR_DIED)
			continue;
		if (req != 0 && LOAD(&s->req) == req)
			return QUAR_POISON;
		if (user != 0 && LOAD(&s->user) == user)
			n++;
	}
	if (req != 0)
		for (size_t i = 0; i < QUAR_REQS; i++)
			if (LOAD(&q->reqs[i].hash) == req &&
			    within(LOAD(&q->reqs[i].at_ms), now, p))
				return QUAR_POISON;
	if (user == 0 || p->crashes <= 0)
		return QUAR_OK;
	if ((u = user_find(q, user)) != NULL && within(LOAD(&u->last_ms), now, p))
		n += LOAD(&u->crashes);
	return n >= (uint64_t)p->crashes ? QUAR_USER : QUAR_OK;
}

int
quar_running_twin(const struct quar_shm *q, unsigned self, uint64_t req)
{
	if (req == 0)
		return 0;
	for (unsigned j = 0; j < q->nworkers; j++)
		if (j != self && LOAD(&q->w[j].state) == QUAR_RUNNING &&
		    LOAD(&q->w[j].req) == req)
			return 1;
	return 0;
}

int
quar_claim_aside(struct quar_shm *q, uint64_t user)
{
	struct quar_user *u = user_find(q, user);
	uint32_t zero = 0;

	if (u == NULL)
		return 0;
	return __atomic_compare_exchange_n(&u->aside, &zero, 1, 0,
	    __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE);
}

unsigned
quar_active(const struct quar_shm *q, int64_t now, const struct quar_policy *p)
{
	unsigned n = 0;

	if (p->crashes <= 0)
		return 0;
	for (size_t i = 0; i < QUAR_USERS; i++)
		if (LOAD(&q->users[i].hash) != 0 &&
		    LOAD(&q->users[i].crashes) >= (uint32_t)p->crashes &&
		    within(LOAD(&q->users[i].last_ms), now, p))
			n++;
	return n;
}
