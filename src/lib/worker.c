/*
 * worker.c: the worker process.  One thread, one poll(2) loop over the
 * inherited listening socket and every open connection; a request reaches
 * the handler only once it has arrived whole, so no user waits behind a
 * slow one.  Between requests the loop runs the timers: async checkpoint
 * flushes, idle expiry, memory limits, recycling.
 */
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "answer.h"
#include "checkpoint.h"
#include "conn.h"
#include "metrics.h"
#include "quarantine.h"
#include "request.h"
#include "session.h"
#include "store.h"
#include "worker.h"

#define RBUF_LEN 65536 /* bytes read from a connection at once */
#define ALTSTACK_LEN 65536 /* the fatal-signal handler's stack */

/* The only file-scope mutable state: what the signal handlers see. */
static volatile sig_atomic_t sig_stop;
static volatile sig_atomic_t sig_reopen;
static struct quar_shm *crash_quar; /* where a fatal signal is noted */
static unsigned crash_index;

static const int fatal_signals[] = { SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT };
static struct sigaction fatal_old[sizeof(fatal_signals) / sizeof(int)];

/*
 * A fatal signal: note in the shared table that the handler running now
 * killed us, before the kernel closes the front-end's connection (which
 * then resends the request elsewhere), then die as we would have.
 */
static void
on_fatal(int sig)
{
	if (crash_quar != NULL)
		quar_mark_died(crash_quar, crash_index);
	for (size_t i = 0; i < sizeof(fatal_signals) / sizeof(int); i++)
		if (fatal_signals[i] == sig)
			sigaction(sig, &fatal_old[i], NULL);
	raise(sig);
}

static void
on_signal(int sig)
{
	if (sig == SIGUSR1)
		sig_reopen = 1;
	else
		sig_stop = 1;
}

static void
worker_signals(void)
{
	struct sigaction sa;
	stack_t alt;
	sigset_t none;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGUSR1, &sa, NULL);
	sa.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	sa.sa_handler = SIG_DFL;
	sigaction(SIGCHLD, &sa, NULL);
	/* Its own stack, so a stack overflow is noted too. */
	if ((alt.ss_sp = xmalloc(ALTSTACK_LEN)) != NULL) {
		alt.ss_size = ALTSTACK_LEN;
		alt.ss_flags = 0;
		if (sigaltstack(&alt, NULL) == 0)
			sa.sa_flags |= SA_ONSTACK;
	}
	sa.sa_handler = on_fatal;
	sa.sa_flags |= SA_NODEFER;
	for (size_t i = 0; i < sizeof(fatal_signals) / sizeof(int); i++)
		sigaction(fatal_signals[i], &sa, &fatal_old[i]);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
}

/* ---- the loop ---- */

static int
add_conn(struct worker *w, int fd)
{
	struct fcgi_limits lim = {
		.max_params = (size_t)w->cfg->max_params,
		.max_nparams = (size_t)w->cfg->max_nparams,
		.max_body = (size_t)w->cfg->max_body,
	};
	struct conn *c;

	if (conn_new(&c, fd, &lim) != 0) {
		close(fd);
		return STICKY_ENOMEM;
	}
	c->deadline_ms = now_ms() + w->cfg->read_timeout_ms;
	w->conns[w->nconns++] = c;
	return 0;
}

static void service(struct worker *w, struct conn *c, short revents);

/*
 * A new connection is served at once when its request is there: a
 * front-end (or a client) sends it as it connects, so going back to the
 * loop's poll cost a wake-up per request.  Only when the loop would do
 * nothing first: no takeover announcement waiting (the zero-timeout poll
 * watches their socket too), no flush due, no Redis reconnection whose
 * generation is unchecked (ckpt_settled); else the loop serves it, after
 * those.  The poll says what the loop's would have, POLLHUP included (a
 * front-end that gave up while this worker was stopped: the request is
 * abandoned, see service()).  At most ACCEPT_BURST per call, and none
 * once the worker is due to recycle: the connections already open are
 * served in between, and those done are closed.
 */
#define ACCEPT_BURST 16
static int
serve_now(struct worker *w, int fd, short *revents)
{
	struct pollfd p[2] = { { .fd = fd, .events = POLLIN },
		{ .fd = -1, .events = POLLIN } };

	if ((ckpt_enabled(&w->ckpt) && now_ms() >= w->next_flush_ms) ||
	    !ckpt_settled(&w->ckpt))
		return 0;
	p[1].fd = ckpt_sub_fd(&w->ckpt);
	if (poll(p, 2, 0) < 1 || p[1].revents != 0 || p[0].revents == 0)
		return 0;
	*revents = p[0].revents;
	return 1;
}

static void
accept_all(struct worker *w, int lfd, int status_only)
{
	for (int n = 0; n < ACCEPT_BURST &&
	    w->nconns < (size_t)w->cfg->max_connections &&
	    !(w->cfg->max_requests > 0 &&
	    w->served >= (unsigned long)w->cfg->max_requests); n++) {
		int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (fd == -1) {
			if (errno != EAGAIN && errno != EWOULDBLOCK &&
			    errno != EINTR && errno != ECONNABORTED)
				log_warn("accept_failed", "errno=%d", errno);
			return;
		}
		if (add_conn(w, fd) == 0) {
			struct conn *c = w->conns[w->nconns - 1];
			short revents;

			c->status_only = status_only;
			if (serve_now(w, fd, &revents))
				service(w, c, revents);
		}
	}
}

/*
 * Too much unsent output: a peer that sends records earning a reply and
 * never reads would grow c->out without bound.  Such a connection is not
 * read (nor parsed) until its output drains; at most max_pending_output
 * plus what one read produces is held.
 */
static int
out_full(struct worker *w, struct conn *c)
{
	if (c->out.len <= (size_t)w->cfg->max_pending_output) {
		c->stalled = 0;
		return 0;
	}
	if (!c->stalled) {
		c->stalled = 1;
		w->stats->output_stalls++;
		log_debug("output_stall", "pending=%zu", c->out.len);
	}
	return 1;
}

/* Drive one connection after poll said it is ready. */
static void
service(struct worker *w, struct conn *c, short revents)
{
	struct fcgi_request fr;
	int rc;

	if (c->state == CONN_READING && !out_full(w, c) &&
	    (revents & (POLLIN | POLLHUP | POLLERR))) {
		if (conn_read(c, w->rbuf, RBUF_LEN) != 0) {
			c->state = CONN_DONE;
			return;
		}
	}
	while (c->state == CONN_READING && !out_full(w, c)) {
		fcgi_request_init(&fr);
		rc = conn_parse(c, &fr);
		if (rc == FCGI_REQUEST_READY && (revents & POLLHUP)) {
			/*
			 * The front-end hung up (it timed out while this worker
			 * was stopped, and failed over): nobody will read the
			 * answer, and running it now would take the user back
			 * from the worker that serves them.
			 */
			w->stats->abandoned++;
			log_warn("abandoned", "reason=client_closed path_unrun=1");
			fcgi_request_cleanup(&fr);
			c->state = CONN_DONE;
			return;
		}
		if (rc == FCGI_REQUEST_READY) {
			worker_answer(w, c, &fr);
			fcgi_request_cleanup(&fr);
			if (c->state == CONN_DONE)
				return;
			c->state = CONN_WRITING;
			c->deadline_ms = now_ms() + w->cfg->write_timeout_ms;
			break;
		}
		fcgi_request_cleanup(&fr);
		if (rc == FCGI_NEED_MORE) {
			if (c->peer_closed)
				c->state = CONN_DONE; /* no more will come */
			break;
		}
		/* Malformed or oversized: say why, close, keep serving others. */
		w->stats->bad_records++;
		log_warn("bad_request", "reason=\"%s\" code=%d", c->parser.why, rc);
		if (rc == STICKY_ETOOBIG && fcgi_parser_request_id(&c->parser) != 0) {
			struct sticky_buf cgi;
			unsigned id = fcgi_parser_request_id(&c->parser);

			buf_init(&cgi);
			if (c->parser.body_too_big)
				buf_printf(&cgi, "Status: 413 Content Too Large\r\n"
				    "Content-Type: text/plain\r\n\r\n"
				    "413 request body too large\n");
			else
				buf_printf(&cgi, "Status: 431 Request Header Fields "
				    "Too Large\r\nContent-Type: text/plain\r\n\r\n"
				    "431 request headers too large\n");
			conn_respond(c, (uint16_t)id, cgi.data, cgi.len);
			buf_cleanup(&cgi);
			c->keep_conn = 0;
			c->state = CONN_WRITING;
			c->deadline_ms = now_ms() + w->cfg->write_timeout_ms;
		} else
			c->state = CONN_DONE;
		break;
	}
	if (c->out.len > 0) {
		rc = conn_flush(c);
		if (rc < 0) {
			c->state = CONN_DONE;
			return;
		}
		if (rc == 0 && c->state == CONN_WRITING) {
			if (c->keep_conn && !c->peer_closed && !w->stopping) {
				c->state = CONN_READING;
				c->started = c->in.len > 0;
				c->deadline_ms = now_ms() + w->cfg->read_timeout_ms;
				/* A pipelined next request may already be here. */
				if (c->in.len > 0)
					service(w, c, 0);
			} else
				c->state = CONN_DONE;
		}
	} else if (c->state == CONN_WRITING)
		c->state = c->keep_conn && !w->stopping ? CONN_READING : CONN_DONE;
}

static void
reap_conns(struct worker *w, int64_t now)
{
	size_t i = 0;

	while (i < w->nconns) {
		struct conn *c = w->conns[i];

		if (c->state != CONN_DONE && now >= c->deadline_ms) {
			if (c->state == CONN_READING && c->started) {
				w->stats->read_timeouts++;
				log_warn("read_timeout", "after_ms=%ld buffered=%zu",
				    w->cfg->read_timeout_ms, c->in.len);
			}
			c->state = CONN_DONE;
		}
		if (c->state == CONN_DONE) {
			conn_free(c);
			w->conns[i] = w->conns[--w->nconns];
			continue;
		}
		i++;
	}
}

static void
update_gauges(struct worker *w, int64_t now)
{
	struct worker_stats *st = w->stats;
	struct session *oldest = store_dirty_oldest(w->store);
	uint32_t since;
	size_t out = ckpt_in_flight(&w->ckpt, &since);
	int64_t age;

	st->sessions = store_count(w->store);
	st->bytes = store_bytes(w->store);
	/* Sent and not yet answered is not saved yet. */
	st->dirty = store_dirty_count(w->store) + out;
	st->oldest_dirty_ms = oldest != NULL ?
	    store_age_ms(now, oldest->dirty_since_ms) : 0;
	if (since != 0 && (age = store_age_ms(now, since)) > st->oldest_dirty_ms)
		st->oldest_dirty_ms = age;
}

/* Resident size in KiB: compared rounded up, so 100.5 MiB is over 100. */
static long
rss_kb(void)
{
	long pages = 0, rss = 0;
	FILE *f = fopen("/proc/self/statm", "r");

	if (f == NULL)
		return 0;
	if (fscanf(f, "%ld %ld", &pages, &rss) != 2)
		rss = 0;
	fclose(f);
	return rss * (sysconf(_SC_PAGESIZE) / 1024);
}

int
worker_pending(struct worker *w)
{
	struct pollfd pfd[16];
	nfds_t n = 0;

	if (w->conns == NULL || w->stopping)
		return 0;
	pfd[n].fd = w->listen_fd;
	pfd[n].events = POLLIN;
	n++;
	for (size_t i = 0; i < w->nconns && n < 16; i++)
		if (w->conns[i]->state == CONN_READING) {
			pfd[n].fd = w->conns[i]->fd;
			pfd[n].events = POLLIN;
			n++;
		}
	return poll(pfd, n, 0) > 0;
}

/* Count one bounded step of background work and how long it took. */
static void
timed(uint64_t *calls, uint64_t *total, uint64_t *max, int64_t t0)
{
	uint64_t us = (uint64_t)(now_us() - t0);

	(*calls)++;
	*total += us;
	if (us > *max)
		*max = us;
}

static void
timers(struct worker *w, int64_t now)
{
	long kb;

	if (ckpt_enabled(&w->ckpt) && now >= w->next_flush_ms) {
		int64_t due;

		int64_t t0 = now_us();
		int rc;

		/* One slice now; if more are due, the loop comes back at once. */
		rc = ckpt_flush(&w->ckpt, 0, &due);
		timed(&w->stats->flush_slices, &w->stats->flush_us,
		    &w->stats->flush_us_max, t0);
		if (rc != 0 || due == 0)
			w->next_flush_ms = now + w->cfg->checkpoint_interval_ms;
		else
			w->next_flush_ms = due;
	}
	update_gauges(w, now); /* O(1): the status page is never stale */
	if (now >= w->next_sweep_ms) {
		int64_t t0 = now_us();

		session_sweep(w, now);
		timed(&w->stats->sweep_calls, &w->stats->sweep_us,
		    &w->stats->sweep_us_max, t0);
		w->next_sweep_ms = now + 250;
		if (w->cfg->max_rss_mb > 0 && !w->stopping &&
		    ((kb = rss_kb()) + 1023) / 1024 > w->cfg->max_rss_mb) {
			log_info("recycle", "reason=max_rss rss_kb=%ld max_rss_mb=%ld",
			    kb, w->cfg->max_rss_mb);
			w->stats->recycles++;
			w->stopping = w->recycle = 1;
		}
	}
	if (w->cfg->max_requests > 0 && w->served >= (unsigned long)w->cfg->max_requests &&
	    !w->stopping) {
		log_info("recycle", "reason=max_requests served=%lu", w->served);
		w->stats->recycles++;
		w->stopping = w->recycle = 1;
	}
	if (sig_reopen) {
		sig_reopen = 0;
		if (log_reopen(w->cfg->log_file) != 0)
			log_warn("log_reopen_failed", "errno=%d", errno);
	}
	if (sig_stop && !w->stopping) {
		w->stopping = 1;
		log_info("stopping", "reason=signal");
	}
}

static int
poll_timeout(struct worker *w, int64_t now, int64_t reopen_ms)
{
	int64_t next = now + 1000;

	if (now + reopen_ms < next)
		next = now + reopen_ms;

	if (ckpt_enabled(&w->ckpt) && w->next_flush_ms < next)
		next = w->next_flush_ms;
	if (w->next_sweep_ms < next)
		next = w->next_sweep_ms;
	for (size_t i = 0; i < w->nconns; i++)
		if (w->conns[i]->deadline_ms < next)
			next = w->conns[i]->deadline_ms;
	return next <= now ? 0 : (int)(next - now);
}

/*
 * A gap far beyond the poll timeout means this process was stopped
 * (SIGSTOP, a VM pause) or held up: another worker may have taken our
 * users meanwhile, so each session checks its epoch in Redis once before
 * it is served from memory again.  Measured from the top of one loop to
 * the top of the next (tick), and also right after poll, before anything
 * is served (tick 0: the gap so far, counted once).
 */
static void
check_stall(struct worker *w, int64_t now, int tick)
{
	int stalled = w->last_tick_ms != 0 &&
	    now - w->last_tick_ms > 2000 + w->cfg->checkpoint_interval_ms;

	if (stalled) {
		w->ckpt.stall_gen++;
		log_warn("stall_detected", "gap_ms=%lld action=verify_owners",
		    (long long)(now - w->last_tick_ms));
	}
	if (tick || stalled)
		w->last_tick_ms = now;
}

static void
run(struct worker *w)
{
	struct pollfd *pfd;
	size_t max = (size_t)w->cfg->max_connections;
	int64_t stop_deadline = 0, now;

	pfd = xcalloc(max + 4, sizeof(*pfd));
	w->conns = xcalloc(max, sizeof(*w->conns));
	w->rbuf = xmalloc(RBUF_LEN);
	if (pfd == NULL || w->conns == NULL || w->rbuf == NULL) {
		log_err("worker_init_failed", "reason=out_of_memory");
		_exit(1);
	}
	for (;;) {
		size_t n = 0, first_conn, status_at = 0, watch_at = 0, flight_at = 0;
		int accepting, watch_fd, flight_fd;
		int64_t reopen_ms = 1000;

		now = now_ms();
		check_stall(w, now, 1);
		timers(w, now);
		if (w->stopping) {
			if (stop_deadline == 0)
				stop_deadline = now + w->cfg->stop_timeout_ms;
			if (w->nconns == 0 || now >= stop_deadline)
				break;
		}
		accepting = !w->stopping && w->nconns < max;
		if (accepting) {
			pfd[n].fd = w->listen_fd;
			pfd[n].events = POLLIN;
			n++;
			if (w->status_fd >= 0) {
				status_at = n;
				pfd[n].fd = w->status_fd;
				pfd[n].events = POLLIN;
				pfd[n].revents = 0;
				n++;
			}
		}
		/* Takeover announcements from other workers, via Redis. */
		if ((watch_fd = ckpt_watch_fd(&w->ckpt, &reopen_ms)) >= 0) {
			watch_at = n;
			pfd[n].fd = watch_fd;
			pfd[n].events = POLLIN;
			pfd[n].revents = 0;
			n++;
		}
		/* The replies of a checkpoint slice sent by timers(). */
		if ((flight_fd = ckpt_flight_fd(&w->ckpt)) >= 0) {
			flight_at = n;
			pfd[n].fd = flight_fd;
			pfd[n].events = POLLIN;
			pfd[n].revents = 0;
			n++;
		}
		first_conn = n;
		for (size_t i = 0; i < w->nconns; i++, n++) {
			struct conn *c = w->conns[i];

			pfd[n].fd = c->fd;
			/* Reading: also drain queued replies; not while full. */
			if (c->state == CONN_WRITING)
				pfd[n].events = POLLOUT;
			else if (out_full(w, c))
				pfd[n].events = POLLOUT;
			else
				pfd[n].events = POLLIN | (c->out.len > 0 ? POLLOUT : 0);
			pfd[n].revents = 0;
		}
		if (poll(pfd, n, poll_timeout(w, now, reopen_ms)) == -1 &&
		    errno != EINTR) {
			log_err("poll_failed", "errno=%d", errno);
			break;
		}
		/* Stopped in poll: known before anything is served. */
		check_stall(w, now_ms(), 0);
		/* Drop what others took over before serving anything. */
		if (flight_fd >= 0 && pfd[flight_at].revents != 0)
			ckpt_land(&w->ckpt);
		if (watch_fd >= 0 && pfd[watch_at].revents != 0)
			ckpt_watch_read(&w->ckpt); /* lands a slice still out */
		/* Serve connections first, then take new ones. */
		size_t nc = w->nconns;
		for (size_t i = 0; i < nc; i++)
			if (pfd[first_conn + i].revents != 0)
				service(w, w->conns[i], pfd[first_conn + i].revents);
		if (accepting && (pfd[0].revents & POLLIN))
			accept_all(w, w->listen_fd, 0);
		if (accepting && status_at != 0 && (pfd[status_at].revents & POLLIN))
			accept_all(w, w->status_fd, 1);
		reap_conns(w, now_ms());
	}
	for (size_t i = 0; i < w->nconns; i++)
		conn_free(w->conns[i]);
	w->nconns = 0;
	xfree(w->conns);
	w->conns = NULL; /* worker_pending: no loop any more */
	xfree(w->rbuf);
	xfree(pfd);
}

/* A session another worker owns now (ckpt.drop): our copy goes. */
static void
drop_stale(struct session *s, void *arg)
{
	session_forget(arg, s);
}

static int
pending_cb(void *arg)
{
	return worker_pending(arg);
}

void
worker_ckpt_init(struct worker *w)
{
	ckpt_init(&w->ckpt, w->cfg, w->app, w->store, w->stats, w->tag);
	w->ckpt.drop = drop_stale;
	w->ckpt.pending = pending_cb;
	w->ckpt.arg = w;
}

/*
 * glibc serves allocations from 128 KiB up with mmap and, since it raises
 * that threshold only to the size of a chunk freed, keeps doing so for
 * equal sizes: every 1 MiB checkpoint read or payload was fresh memory,
 * its pages faulted in and zeroed, then unmapped (a 1 MiB restore spent a
 * third of its time in page faults).  Workers keep such buffers in the
 * heap and up to 64 MiB of free memory at its top.  GLIBC_TUNABLES, when
 * set, decides instead.
 */
static void
worker_keep_heap(void)
{
#if defined(M_MMAP_THRESHOLD) && defined(M_TRIM_THRESHOLD)
	if (getenv("GLIBC_TUNABLES") != NULL)
		return;
	mallopt(M_MMAP_THRESHOLD, 32 << 20);
	mallopt(M_TRIM_THRESHOLD, 64 << 20);
#endif
}

void
worker_main(struct worker *w)
{
	int rc, code = 0;

	crash_quar = w->quar;
	crash_index = w->index;
	worker_keep_heap();
	worker_signals();
	log_set_worker(w->tag);
	w->stats->pid = (int32_t)getpid();
	w->stats->start_time = (int64_t)time(NULL);
	if ((rc = store_new(&w->store, session_destroy_cb, w)) != 0) {
		log_err("worker_init_failed", "reason=out_of_memory");
		_exit(1);
	}
	worker_ckpt_init(w);
	if (w->app->worker_init != NULL &&
	    (rc = w->app->worker_init(&w->worker_data, w->shared, w->tag,
	    w->app->appdata)) != 0) {
		log_err("worker_init_failed", "reason=\"app worker_init: %s\"",
		    sticky_strerror(rc));
		_exit(1);
	}
	if ((rc = ckpt_open(&w->ckpt)) != 0) {
		log_err("worker_init_failed", "reason=\"redis: %s\"",
		    sticky_strerror(rc));
		_exit(1);
	}
	w->next_flush_ms = now_ms() + w->cfg->checkpoint_interval_ms;
	w->next_sweep_ms = now_ms() + 250;
	w->stats->up = 1; /* ready: a rolling reload moves on to the next */
	log_info("worker_started", "pid=%ld", (long)getpid());
	run(w);
	/* The successor takes the socket: close ours, save everything. */
	close(w->listen_fd);
	if (w->status_fd >= 0)
		close(w->status_fd);
	int64_t unused;

	ckpt_flush(&w->ckpt, 1, &unused);
	update_gauges(w, now_ms());
	if (w->stats->dirty > 0) {
		log_err("stop_unsaved", "dirty=%llu reason=\"redis unreachable\"",
		    (unsigned long long)w->stats->dirty);
		code = 2;
	}
	if (w->app->worker_exit != NULL)
		w->app->worker_exit(w->worker_data, w->app->appdata);
	log_info("worker_stopped", "served=%lu recycle=%d", w->served, w->recycle);
	ckpt_close(&w->ckpt); /* settles what is still out: the store first */
	store_free(w->store);
	w->stats->up = 0;
	_exit(code);
}
