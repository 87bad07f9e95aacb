/*
 * worker.h: one worker process.  It owns the sessions of its users, reads
 * many FastCGI connections at once with poll(2), hands the handler only
 * complete requests, and runs checkpoint timers between requests.
 */
#ifndef STICKY_WORKER_H
#define STICKY_WORKER_H

#include <stddef.h>
#include <stdint.h>

#include "checkpoint.h"
#include "config.h"
#include "internal.h"
#include "sid.h"

struct conn;
struct metrics_shm;
struct quar_shm;
struct worker_stats;
struct store;

struct worker {
	const struct sticky_config *cfg;   /* borrowed */
	const struct sticky_app_def *app;  /* borrowed */
	const void *shared;                /* borrowed: preload's data */
	void *worker_data;                 /* from worker_init */
	unsigned index;
	char tag[SID_TAG_MAX + 1];
	int listen_fd;                     /* inherited from the master */
	int status_fd;                     /* status_listen; -1: none */
	const char *status_token;          /* "": status_allow decides */
	struct worker_stats *stats;        /* borrowed: our slot */
	struct metrics_shm *metrics;       /* borrowed: for the status page */
	struct quar_shm *quar;             /* borrowed: crashes in flight */
	struct store *store;
	struct ckpt ckpt;                  /* checkpoints (checkpoint.h) */
	struct conn **conns;               /* open connections */
	unsigned char *rbuf;               /* the one read buffer (RBUF_LEN) */
	size_t nconns;
	int64_t next_flush_ms;
	int64_t next_sweep_ms;
	int64_t last_tick_ms;
	unsigned long served;              /* for max_requests */
	int stopping;                      /* graceful stop requested */
	int recycle;                       /* stopping for max_requests/rss */
};

/*
 * Set up w->ckpt for this worker (its config, app, store, stats and tag;
 * fenced and taken-over sessions dropped, flush slices yielding to
 * waiting requests); ckpt_open(&w->ckpt) next.  w->store must exist.
 */
void worker_ckpt_init(struct worker *w);
/*
 * Is a request waiting (a new connection, or bytes on one being read)?
 * A poll with a zero timeout: background work (checkpoint slices) stops
 * early to let it in.  Always 0 before the worker loop runs (tests).
 */
int worker_pending(struct worker *w);
/* Runs in the forked child; never returns. */
void worker_main(struct worker *w) __attribute__((noreturn));

#endif /* STICKY_WORKER_H */
