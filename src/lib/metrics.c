/*
 * metrics.c: the shared counters and the status page.  The mapping is
 * MAP_SHARED|MAP_ANONYMOUS, created by the master before fork: a worker
 * that crashes leaves its counters behind for its successor and for the
 * status page, which any worker can render.
 */
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#include "metrics.h"

static size_t
map_size(unsigned n)
{
	return sizeof(struct metrics_shm) + (size_t)n * sizeof(struct worker_stats);
}

int
metrics_map(struct metrics_shm **out, unsigned n)
{
	void *p;

	p = mmap(NULL, map_size(n), PROT_READ | PROT_WRITE,
	    MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return STICKY_ESYS;
	memset(p, 0, map_size(n));
	*out = p;
	(*out)->nworkers = n;
	return 0;
}

void
metrics_unmap(struct metrics_shm *m)
{
	if (m != NULL)
		munmap(m, map_size(m->nworkers));
}

/* One row per counter: how each format names it. */
struct counter {
	const char *name; /* snake_case; openmetrics adds sticky_ and _total */
	const char *help;
	int is_counter;   /* else a gauge */
	size_t off;
	int wide;         /* int64 rather than uint64 */
};

#define C(f, help) { #f, help, 1, offsetof(struct worker_stats, f), 0 }
#define G(f, help) { #f, help, 0, offsetof(struct worker_stats, f), 0 }

static const struct counter counters[] = {
	C(requests, "Requests served."),
	G(sessions, "Sessions held in memory."),
	G(bytes, "Bytes of state held in memory."),
	G(dirty, "Sessions with changes not yet checkpointed."),
	C(sessions_created, "Sessions created."),
	C(ckpt_written, "Checkpoints written."),
	C(ckpt_bytes, "Bytes of checkpoints sent to Redis."),
	C(ckpt_failed, "Checkpoint writes that failed (retried)."),
	C(ckpt_fenced, "Checkpoint writes refused: another worker owns the session."),
	C(restore_hits, "Sessions restored from a checkpoint."),
	C(restore_misses, "Restores that found no checkpoint."),
	C(restore_failed, "Restores that failed: Redis unreachable."),
	C(restore_bad, "Checkpoints refused as corrupt or foreign (set aside)."),
	C(evictions, "Sessions evicted by memory limits."),
	C(expired, "Sessions expired by the idle timeout."),
	C(sweep_calls, "Eviction and idle-expiry sweeps (each bounded)."),
	C(sweep_us, "Microseconds spent in sweeps."),
	G(sweep_us_max, "Longest sweep, microseconds."),
	C(flush_slices, "Async checkpoint slices (each bounded in bytes)."),
	C(flush_us, "Microseconds spent in async checkpoint slices."),
	G(flush_us_max, "Longest async checkpoint slice, microseconds."),
	C(replays, "Resent requests answered from the replay log."),
	C(rehomed, "Sessions taken over from another worker."),
	C(bad_records, "Connections closed for malformed FastCGI input."),
	C(bad_cookies, "Malformed or oversized session cookies."),
	C(read_timeouts, "Connections closed for not sending a request in time."),
	C(abandoned, "Requests dropped unrun: the client had closed the connection."),
	C(status_503, "Requests answered 503 because state was unavailable."),
	C(handler_errors, "Requests whose handler returned an error."),
	C(restarts, "Times this worker slot was respawned."),
	C(crashes, "Abnormal worker exits."),
	C(recycles, "Graceful recycles (max_requests, max_rss)."),
	C(timeouts_killed, "Workers killed by request_timeout."),
	C(poison_refused, "Resent requests refused unrun: they had killed a worker."),
	C(quarantine_refused, "Requests refused: the user's requests kept killing workers."),
	C(output_stalls, "Connections not read until their unsent output "
	    "drained below max_pending_output."),
	C(restore_unauthenticated, "Refused checkpoints whose MAC was missing or wrong."),
	C(migrated, "Sessions moved to their name under the current secret."),
	C(reclaims, "Sessions re-claimed and rewritten after Redis lost them."),
	C(sessions_lost, "Cookies whose session was neither in memory nor in Redis."),
};

#define NCOUNTERS (sizeof(counters) / sizeof(counters[0]))

static uint64_t
value(const struct worker_stats *w, const struct counter *c)
{
	return *(const uint64_t *)((const char *)w + c->off);
}

/* Master totals: counters and gauges summed, the loss window the worst. */
struct totals {
	uint64_t v[NCOUNTERS];
	uint64_t restore_us_total, restore_hits;
	unsigned up, redis_up;
	int64_t loss_window_ms;
};

static void
sum_up(const struct metrics_shm *m, struct totals *t)
{
	memset(t, 0, sizeof(*t));
	for (unsigned i = 0; i < m->nworkers; i++) {
		const struct worker_stats *w = &m->w[i];

		for (size_t c = 0; c < NCOUNTERS; c++)
			t->v[c] += value(w, &counters[c]);
		t->restore_us_total += w->restore_us_total;
		t->restore_hits += w->restore_hits;
		t->up += w->up ? 1 : 0;
		t->redis_up += w->redis_up ? 1 : 0;
		if (w->oldest_dirty_ms > t->loss_window_ms)
			t->loss_window_ms = w->oldest_dirty_ms;
	}
}

/* Unix time as ISO 8601 UTC (2026-12-07T06:30:00Z); "-" for none. */
static void
iso_utc(int64_t t, char *out, size_t len)
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (t <= 0 || gmtime_r(&tt, &tm) == NULL ||
	    strftime(out, len, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		snprintf(out, len, "-");
}

static int
render_text(const struct metrics_shm *m, struct sticky_buf *out)
{
	int64_t now = (int64_t)time(NULL);
	struct totals t;

	sum_up(m, &t);
	buf_printf(out, "master pid %d, up %llds, reloads %llu, workers %u/%u up, "
	    "redis %u/%u up, loss window %lldms\n", m->master_pid,
	    (long long)(now - m->master_start), (unsigned long long)m->reloads,
	    t.up, m->nworkers, t.redis_up, m->nworkers,
	    (long long)t.loss_window_ms);
	buf_printf(out, "in-flight crashes %llu, users quarantined %llu\n",
	    (unsigned long long)m->inflight_crashes,
	    (unsigned long long)m->quarantines);
	buf_puts(out, "\ntotals\n");
	for (size_t c = 0; c < NCOUNTERS; c++)
		buf_printf(out, "  %-18s %llu\n", counters[c].name,
		    (unsigned long long)t.v[c]);
	if (t.restore_hits > 0)
		buf_printf(out, "  %-18s %llu\n", "restore_avg_us",
		    (unsigned long long)(t.restore_us_total / t.restore_hits));
	for (unsigned i = 0; i < m->nworkers; i++) {
		const struct worker_stats *w = &m->w[i];
		char started[32];

		iso_utc(w->start_time, started, sizeof(started));
		buf_printf(out, "\nworker %s pid %d %s, started %s, up %llds, "
		    "redis %s, loss window %lldms\n", w->tag, w->pid,
		    w->up ? "up" : "down", started,
		    w->up ? (long long)(now - w->start_time) : 0LL,
		    w->redis_up ? "up" : "down", (long long)w->oldest_dirty_ms);
		for (size_t c = 0; c < NCOUNTERS; c++)
			buf_printf(out, "  %-18s %llu\n", counters[c].name,
			    (unsigned long long)value(w, &counters[c]));
		if (w->restore_hits > 0)
			buf_printf(out, "  %-18s %llu\n", "restore_avg_us",
			    (unsigned long long)(w->restore_us_total / w->restore_hits));
		if (w->last_signal != 0)
			buf_printf(out, "  %-18s %d\n", "last_crash_signal",
			    w->last_signal);
	}
	return 0;
}

/* Tags are [A-Za-z0-9_-]: safe in JSON and label values as they are. */
static int
render_json(const struct metrics_shm *m, struct sticky_buf *out)
{
	int64_t now = (int64_t)time(NULL);
	struct totals t;

	sum_up(m, &t);
	buf_printf(out, "{\"master\":{\"pid\":%d,\"start_time\":%lld,"
	    "\"uptime_s\":%lld,\"reloads\":%llu,\"workers\":%u,"
	    "\"workers_up\":%u,\"redis_up\":%u,\"loss_window_ms\":%lld,"
	    "\"inflight_crashes\":%llu,\"quarantines\":%llu,"
	    "\"totals\":{", m->master_pid, (long long)m->master_start,
	    (long long)(now - m->master_start), (unsigned long long)m->reloads,
	    m->nworkers, t.up, t.redis_up, (long long)t.loss_window_ms,
	    (unsigned long long)m->inflight_crashes,
	    (unsigned long long)m->quarantines);
	for (size_t c = 0; c < NCOUNTERS; c++)
		buf_printf(out, "\"%s\":%llu,", counters[c].name,
		    (unsigned long long)t.v[c]);
	buf_printf(out, "\"restore_us_total\":%llu}},\"workers\":[",
	    (unsigned long long)t.restore_us_total);
	for (unsigned i = 0; i < m->nworkers; i++) {
		const struct worker_stats *w = &m->w[i];

		buf_printf(out, "%s{\"tag\":\"%s\",\"pid\":%d,\"up\":%s,"
		    "\"start_time\":%lld,\"redis_up\":%s,\"loss_window_ms\":%lld,"
		    "\"last_crash_signal\":%d", i ? "," : "", w->tag, w->pid,
		    w->up ? "true" : "false", (long long)w->start_time,
		    w->redis_up ? "true" : "false", (long long)w->oldest_dirty_ms,
		    w->last_signal);
		for (size_t c = 0; c < NCOUNTERS; c++)
			buf_printf(out, ",\"%s\":%llu", counters[c].name,
			    (unsigned long long)value(w, &counters[c]));
		buf_printf(out, ",\"restore_us_total\":%llu}",
		    (unsigned long long)w->restore_us_total);
	}
	return buf_puts(out, "]}\n");
}

static int
render_openmetrics(const struct metrics_shm *m, struct sticky_buf *out)
{
	/* Totals are not repeated here: sum() over the worker label has them. */
	buf_printf(out, "# TYPE sticky_master_start_time_seconds gauge\n"
	    "# HELP sticky_master_start_time_seconds Unix time the master "
	    "started.\nsticky_master_start_time_seconds %lld\n"
	    "# TYPE sticky_reloads counter\n"
	    "# HELP sticky_reloads Configuration reloads (SIGHUP).\n"
	    "sticky_reloads_total %llu\n"
	    "# TYPE sticky_inflight_crashes counter\n"
	    "# HELP sticky_inflight_crashes Worker deaths with a handler running.\n"
	    "sticky_inflight_crashes_total %llu\n"
	    "# TYPE sticky_quarantines counter\n"
	    "# HELP sticky_quarantines Users put in quarantine: their requests "
	    "kept killing workers.\n"
	    "sticky_quarantines_total %llu\n", (long long)m->master_start,
	    (unsigned long long)m->reloads,
	    (unsigned long long)m->inflight_crashes,
	    (unsigned long long)m->quarantines);
	buf_puts(out, "# TYPE sticky_worker_pid gauge\n"
	    "# HELP sticky_worker_pid Process id of the worker in this slot.\n");
	for (unsigned i = 0; i < m->nworkers; i++)
		buf_printf(out, "sticky_worker_pid{worker=\"%s\"} %d\n", m->w[i].tag,
		    m->w[i].pid);
	buf_puts(out, "# TYPE sticky_worker_start_time_seconds gauge\n"
	    "# HELP sticky_worker_start_time_seconds Unix time the worker "
	    "process started.\n");
	for (unsigned i = 0; i < m->nworkers; i++)
		buf_printf(out, "sticky_worker_start_time_seconds{worker=\"%s\"} "
		    "%lld\n", m->w[i].tag, (long long)m->w[i].start_time);
	buf_puts(out, "# TYPE sticky_worker_up gauge\n"
	    "# HELP sticky_worker_up 1 while the worker process runs.\n");
	for (unsigned i = 0; i < m->nworkers; i++)
		buf_printf(out, "sticky_worker_up{worker=\"%s\"} %d\n", m->w[i].tag,
		    m->w[i].up ? 1 : 0);
	buf_puts(out, "# TYPE sticky_redis_up gauge\n"
	    "# HELP sticky_redis_up 1 while the worker is connected to Redis.\n");
	for (unsigned i = 0; i < m->nworkers; i++)
		buf_printf(out, "sticky_redis_up{worker=\"%s\"} %d\n", m->w[i].tag,
		    m->w[i].redis_up ? 1 : 0);
	buf_puts(out, "# TYPE sticky_loss_window_seconds gauge\n"
	    "# HELP sticky_loss_window_seconds Age of the oldest unflushed change.\n");
	for (unsigned i = 0; i < m->nworkers; i++)
		buf_printf(out, "sticky_loss_window_seconds{worker=\"%s\"} %.3f\n",
		    m->w[i].tag, (double)m->w[i].oldest_dirty_ms / 1000.0);
	buf_puts(out, "# TYPE sticky_restore_seconds counter\n"
	    "# HELP sticky_restore_seconds Time spent restoring sessions.\n");
	for (unsigned i = 0; i < m->nworkers; i++)
		buf_printf(out, "sticky_restore_seconds_total{worker=\"%s\"} %.6f\n",
		    m->w[i].tag, (double)m->w[i].restore_us_total / 1e6);
	for (size_t c = 0; c < NCOUNTERS; c++) {
		const struct counter *k = &counters[c];

		buf_printf(out, "# TYPE sticky_%s %s\n# HELP sticky_%s %s\n",
		    k->name, k->is_counter ? "counter" : "gauge", k->name, k->help);
		for (unsigned i = 0; i < m->nworkers; i++)
			buf_printf(out, "sticky_%s%s{worker=\"%s\"} %llu\n", k->name,
			    k->is_counter ? "_total" : "", m->w[i].tag,
			    (unsigned long long)value(&m->w[i], k));
	}
	return buf_puts(out, "# EOF\n");
}

int
metrics_render(const struct metrics_shm *m, enum status_format f,
    struct sticky_buf *out)
{
	switch (f) {
	case STATUS_JSON:
		return render_json(m, out);
	case STATUS_OPENMETRICS:
		return render_openmetrics(m, out);
	default:
		return render_text(m, out);
	}
}
