/*
 * quarantine.h: what was in flight when a worker died.  A shared anonymous
 * mapping that the master creates before fork (like the metrics), so it
 * survives the crash: each worker notes the request id and the user (keyed
 * hashes, never the ids themselves) whose handler it is running; a fatal
 * signal marks that note, and the master, reaping the worker, moves it
 * into two host-wide tables.  Before running a handler a worker asks:
 * a request that already killed a worker is answered with an error instead
 * of killing the next one (front-ends resend it to every worker in turn),
 * and a user whose requests killed workers quarantine_crashes times within
 * quarantine_window is refused until the window has passed.
 *
 * Writers: a worker writes its own slot only; the master writes the
 * tables; the first worker to refuse a quarantined user claims the
 * entry's set-aside flag (compare-and-swap).  Fields are read and written
 * with atomic builtins: a reader sees each value whole, maybe a moment old.
 */
#ifndef STICKY_QUARANTINE_H
#define STICKY_QUARANTINE_H

#include <stddef.h>
#include <stdint.h>

#define QUAR_REQS 256  /* request ids remembered (a ring) */
#define QUAR_USERS 256 /* users remembered (the oldest entry is reused) */

/* A worker slot's note: state of its current handler. */
enum { QUAR_IDLE = 0, QUAR_RUNNING = 1, QUAR_DIED = 2 };

struct quar_slot {
	uint64_t req;  /* hash of the request id; 0: none */
	uint64_t user; /* hash of the session key; 0: none */
	uint32_t state;
	uint32_t pad;
};

struct quar_req {
	uint64_t hash;
	int64_t at_ms; /* monotonic */
};

struct quar_user {
	uint64_t hash;
	int64_t last_ms;  /* monotonic time of the last crash */
	uint32_t crashes; /* within the window that ends at last_ms + window */
	uint32_t aside;   /* the checkpoint was set aside in this quarantine */
};

struct quar_shm {
	uint64_t key[2];         /* SipHash key, random per master */
	uint64_t crashes;        /* worker deaths with a handler in flight */
	uint64_t quarantines;    /* users put in quarantine */
	uint32_t req_next;
	uint32_t nworkers;
	struct quar_req reqs[QUAR_REQS];
	struct quar_user users[QUAR_USERS];
	struct quar_slot w[];    /* nworkers */
};

struct quar_policy {
	long crashes;   /* quarantine after this many; 0: never */
	long window_ms; /* crashes counted, requests and users remembered */
};

enum quar_verdict { QUAR_OK = 0, QUAR_POISON, QUAR_USER };

/* The master: map for n workers (before fork), with a random key. */
int quar_map(struct quar_shm **out, unsigned n);
void quar_unmap(struct quar_shm *q);

/* Keyed hash of an id (never 0); 0 for NULL or empty. */
uint64_t quar_hash(const struct quar_shm *q, const char *s, size_t len);

/* A worker: a handler starts (either hash may be 0) / ends. */
void quar_begin(struct quar_shm *q, unsigned idx, uint64_t req, uint64_t user);
void quar_end(struct quar_shm *q, unsigned idx);
/* From a fatal signal handler: async-signal-safe. */
void quar_mark_died(struct quar_shm *q, unsigned idx);

/*
 * The master, after a worker exited abnormally: record what it was
 * running, if anything.  guilty: the death says the handler did it (a
 * crash signal, a non-zero exit); else (SIGKILL, SIGTERM from outside)
 * only a slot marked QUAR_DIED (by the fatal-signal handler, or by the
 * master before a request_timeout kill) is recorded.  Returns 0 (nothing
 * recorded), 1 (recorded) or 2 (recorded, and the user has just entered
 * quarantine).  The slot is idle afterwards.
 */
int quar_worker_died(struct quar_shm *q, unsigned idx, int64_t now,
    const struct quar_policy *p, int guilty);

/*
 * A worker, before resolving the session and running the handler: is this
 * request one that killed a worker, or this user in quarantine?  Deaths
 * the master has not yet recorded (other slots marked QUAR_DIED) count.
 */
enum quar_verdict quar_check(const struct quar_shm *q, unsigned self,
    uint64_t req, uint64_t user, int64_t now, const struct quar_policy *p);

/*
 * 1 if another slot is running this request id now.  A front-end resends
 * a request when its worker's connection drops: if that worker is dying
 * (a fatal signal the handler could not note, under ASan or on stack
 * overflow), the master records it within milliseconds of the exit, so
 * the caller waits a little for the verdict before running a twin.
 */
int quar_running_twin(const struct quar_shm *q, unsigned self, uint64_t req);

/* 1 for the one caller who should set this user's checkpoint aside. */
int quar_claim_aside(struct quar_shm *q, uint64_t user);

/* Users in quarantine now. */
unsigned quar_active(const struct quar_shm *q, int64_t now,
    const struct quar_policy *p);

#endif /* STICKY_QUARANTINE_H */
