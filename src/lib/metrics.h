/*
 * metrics.h: counters in a shared anonymous mapping that the master creates
 * before fork, so they survive a worker's crash.  Each worker writes only
 * its own slot; the master writes the master fields.  Readers (the status
 * page, answered by any worker) see values that are at worst a moment old.
 */
#ifndef STICKY_METRICS_H
#define STICKY_METRICS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "internal.h"

#define METRICS_PATH_MAX 128

struct worker_stats {
	char tag[40];
	int32_t pid;
	int32_t up;            /* 1 while the worker runs */
	int64_t start_time;    /* unix seconds of the current process */
	uint64_t restarts;     /* respawns of this slot */
	uint64_t crashes;      /* abnormal exits */
	int32_t last_signal;   /* signal of the last crash, 0 if none */
	uint64_t requests;
	uint64_t answered;      /* responses rendered (crash-loop detection) */
	uint64_t sessions;
	uint64_t bytes;
	uint64_t dirty;
	int64_t oldest_dirty_ms; /* age of the oldest unflushed change */
	uint64_t sessions_created;
	uint64_t ckpt_written;
	uint64_t ckpt_bytes;   /* bytes sent to Redis */
	uint64_t ckpt_failed;
	uint64_t ckpt_fenced;
	uint64_t restore_hits;
	uint64_t restore_misses;
	uint64_t restore_failed; /* Redis unreachable or corrupt */
	uint64_t restore_us_total;
	uint64_t restore_bad;    /* refused checkpoints (set aside) */
	uint64_t restore_unauthenticated; /* of those: MAC missing or wrong */
	uint64_t migrated;       /* sessions moved to their new name */
	uint64_t reclaims;       /* sessions rewritten after Redis lost them */
	uint64_t sessions_lost;  /* cookies whose session nobody held */
	uint64_t evictions;
	uint64_t expired;
	uint64_t sweep_calls;    /* eviction/idle-expiry sweeps (bounded each) */
	uint64_t sweep_us;
	uint64_t sweep_us_max;   /* the longest one since the worker started */
	uint64_t flush_slices;   /* async checkpoint slices (bounded each) */
	uint64_t flush_us;
	uint64_t flush_us_max;   /* the longest one since the worker started */
	uint64_t replays;        /* resent requests answered from the log */
	uint64_t rehomed;
	uint64_t bad_records;    /* malformed FastCGI input */
	uint64_t bad_cookies;
	uint64_t read_timeouts;
	uint64_t abandoned;      /* requests whose client left before the handler ran */
	uint64_t status_503;
	uint64_t handler_errors;  /* handler returned an error (500 unless it wrote) */
	uint64_t recycles;       /* graceful exits for max_requests/max_rss */
	uint64_t timeouts_killed; /* killed by request_timeout */
	uint64_t poison_refused;  /* resent requests that had killed a worker */
	uint64_t quarantine_refused; /* requests of quarantined users */
	uint64_t output_stalls;  /* reads paused: output above max_pending_output */
	int32_t redis_up;
	int64_t busy_since_ms; /* monotonic ms when the handler started; 0 idle */
	char last_path[METRICS_PATH_MAX]; /* path of the current/last request */
};

struct metrics_shm {
	int64_t master_start; /* unix seconds */
	int32_t master_pid;
	uint64_t reloads;
	uint64_t inflight_crashes; /* worker deaths with a handler running */
	uint64_t quarantines;      /* users put in quarantine */
	uint32_t nworkers;
	struct worker_stats w[]; /* nworkers slots */
};

/* Map the shared counters for n workers (before fork). */
int metrics_map(struct metrics_shm **out, unsigned n);
void metrics_unmap(struct metrics_shm *m);

enum status_format { STATUS_TEXT, STATUS_JSON, STATUS_OPENMETRICS };
/* Render the status page body. */
int metrics_render(const struct metrics_shm *m, enum status_format f,
    struct sticky_buf *out);

#endif /* STICKY_METRICS_H */
