/*
 * prefork.c: the master.  It holds every worker's listening socket for the
 * whole run, so a worker's replacement inherits it and the kernel queues
 * connections while a worker restarts: clients never see a refused
 * connection.  Signals are taken synchronously with sigtimedwait(2): the
 * master has no asynchronous handlers at all.
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "allow.h"
#include "config.h"
#include "metrics.h"
#include "prefork.h"
#include "quarantine.h"
#include "route.h"
#include "sock.h"
#include "worker.h"

#define ADDR_MAX SOCK_ADDR_MAX

struct slot {
	char tag[SID_TAG_MAX + 1];
	char addr[ADDR_MAX];
	int fd;
	pid_t pid;             /* 0: not running */
	int64_t started_ms;
	int64_t respawn_at_ms; /* 0: no respawn pending */
	int64_t backoff_ms;    /* next crash-loop delay */
	uint64_t answered0;    /* the slot's answered counter at spawn */
	int retiring;          /* told to stop by a rolling reload */
};

struct master {
	struct sticky_config *cfg; /* current; the first one is borrowed */
	struct sticky_config *owned_cfg;
	const struct sticky_app_def *app;
	void *shared;
	struct metrics_shm *m;
	struct quar_shm *quar; /* what was in flight when a worker died */
	struct slot *slots;
	unsigned n;
	int status_fd;                 /* status_listen; -1: none */
	char status_addr[ADDR_MAX];
	char status_token[STATUS_TOKEN_MAX + 1]; /* "": none */
	int stopping;
	int reload_next; /* next slot to roll, -1: no reload under way */
	prefork_reload_fn reload;
	void *reload_arg;
};

static int
lookup_ids(const char *user, const char *group, uid_t *uid, gid_t *gid)
{
	struct passwd *pw;
	struct group *gr;

	*uid = (uid_t)-1;
	*gid = (gid_t)-1;
	if (user != NULL && *user != '\0') {
		if ((pw = getpwnam(user)) == NULL)
			return STICKY_ECONFIG;
		*uid = pw->pw_uid;
		*gid = pw->pw_gid;
	}
	if (group != NULL && *group != '\0') {
		if ((gr = getgrnam(group)) == NULL)
			return STICKY_ECONFIG;
		*gid = gr->gr_gid;
	}
	return 0;
}

/* mkdir -p for a unix socket's directory. */
static void
make_parent(const char *addr)
{
	char path[ADDR_MAX], *p;

	if (strncmp(addr, "unix:", 5) != 0)
		return;
	snprintf(path, sizeof(path), "%s", addr + 5);
	for (p = path + 1; *p != '\0'; p++)
		if (*p == '/') {
			*p = '\0';
			mkdir(path, 0755);
			*p = '/';
		}
}

/* The status socket: its own owner and mode, accepted by every worker. */
static int
bind_status(struct master *ms)
{
	const struct sticky_config *cfg = ms->cfg;
	char err[256];
	uid_t uid;
	gid_t gid;

	if (cfg->status_listen[0] == '\0')
		return 0;
	if (lookup_ids(cfg->status_socket_owner, cfg->status_socket_group, &uid,
	    &gid) != 0) {
		log_err("config", "reason=\"status_socket_owner/status_socket_group: "
		    "no such user or group\"");
		return STICKY_ECONFIG;
	}
	if (cfg->status_socket_owner[0] == '\0')
		uid = (uid_t)-1;
	snprintf(ms->status_addr, sizeof(ms->status_addr), "%s", cfg->status_listen);
	make_parent(ms->status_addr);
	ms->status_fd = sock_listen(ms->status_addr, (int)cfg->backlog,
	    cfg->status_socket_mode, uid, gid, err, sizeof(err));
	if (ms->status_fd < 0) {
		log_err("bind_failed", "what=status_listen reason=\"%s\"", err);
		return ms->status_fd;
	}
	log_info("listening", "what=status addr=%s", ms->status_addr);
	return 0;
}

/* The status token, if configured: read while we may (before the drop). */
static int
read_token(struct master *ms, const struct sticky_config *cfg)
{
	char err[512];

	if (cfg->status_token_file[0] == '\0') {
		ms->status_token[0] = '\0';
		return 0;
	}
	if (allow_token_read(cfg->status_token_file, ms->status_token,
	    sizeof(ms->status_token), err, sizeof(err)) != 0) {
		log_err("config", "reason=\"%s\"", err);
		return STICKY_ECONFIG;
	}
	return 0;
}

static int
bind_all(struct master *ms)
{
	const struct sticky_config *cfg = ms->cfg;
	char err[256];
	uid_t uid;
	gid_t gid;

	if (lookup_ids(cfg->socket_owner, cfg->socket_group, &uid, &gid) != 0) {
		log_err("config", "reason=\"socket_owner/socket_group: no such "
		    "user or group\"");
		return STICKY_ECONFIG;
	}
	if (cfg->socket_owner[0] == '\0')
		uid = (uid_t)-1;
	for (unsigned i = 0; i < ms->n; i++) {
		struct slot *s = &ms->slots[i];

		if (route_tag(cfg->tag, i, s->tag, sizeof(s->tag)) != 0 ||
		    sock_expand(cfg->listen, i, s->tag, s->addr, sizeof(s->addr)) != 0) {
			log_err("config", "reason=\"bad tag or listen pattern\"");
			return STICKY_ECONFIG;
		}
		make_parent(s->addr);
		s->fd = sock_listen(s->addr, (int)cfg->backlog, cfg->socket_mode,
		    uid, gid, err, sizeof(err));
		if (s->fd < 0) {
			log_err("bind_failed", "reason=\"%s\"", err);
			return s->fd;
		}
		snprintf(ms->m->w[i].tag, sizeof(ms->m->w[i].tag), "%s", s->tag);
		log_info("listening", "tag=%s addr=%s", s->tag, s->addr);
	}
	return bind_status(ms);
}

/* OpenBSD's way: groups, then gid, then uid, all three ids each. */
static int
drop_privileges(const struct sticky_config *cfg)
{
	const char *user = cfg->user[0] != '\0' ? cfg->user : "nobody";
	uid_t uid;
	gid_t gid;

	if (geteuid() != 0)
		return 0;
	if (lookup_ids(user, cfg->group, &uid, &gid) != 0) {
		log_err("privdrop_failed", "reason=\"no such user or group\" user=%s",
		    user);
		return STICKY_ECONFIG;
	}
	if (setgroups(1, &gid) == -1 || setresgid(gid, gid, gid) == -1 ||
	    setresuid(uid, uid, uid) == -1) {
		log_err("privdrop_failed", "errno=%d", errno);
		return STICKY_ESYS;
	}
	log_info("privileges_dropped", "user=%s uid=%ld gid=%ld", user,
	    (long)uid, (long)gid);
	return 0;
}

static void
spawn(struct master *ms, unsigned i)
{
	struct slot *s = &ms->slots[i];
	pid_t pid;

	if ((pid = fork()) == -1) {
		log_err("fork_failed", "tag=%s errno=%d", s->tag, errno);
		s->respawn_at_ms = now_ms() + 1000;
		return;
	}
	if (pid == 0) {
		struct worker w;

		/* A worker holds its own socket only. */
		for (unsigned j = 0; j < ms->n; j++)
			if (j != i)
				close(ms->slots[j].fd);
		memset(&w, 0, sizeof(w));
		w.cfg = ms->cfg;
		w.app = ms->app;
		w.shared = ms->shared;
		w.index = i;
		memcpy(w.tag, s->tag, sizeof(w.tag));
		w.listen_fd = s->fd;
		w.stats = &ms->m->w[i];
		w.metrics = ms->m;
		w.quar = ms->quar;
		w.status_fd = ms->status_fd;
		w.status_token = ms->status_token;
		worker_main(&w);
	}
	s->pid = pid;
	s->started_ms = now_ms();
	s->answered0 = ms->m->w[i].answered;
	s->respawn_at_ms = 0;
	s->retiring = 0;
	ms->m->w[i].pid = (int32_t)pid;
}

static struct slot *
slot_of(struct master *ms, pid_t pid, unsigned *idx)
{
	for (unsigned i = 0; i < ms->n; i++)
		if (ms->slots[i].pid == pid) {
			*idx = i;
			return &ms->slots[i];
		}
	return NULL;
}

/*
 * A worker died with a handler running: remember its request and user,
 * so a resend is refused and a user who keeps killing workers is stopped.
 */
static void
note_inflight(struct master *ms, unsigned i, int64_t now, int status)
{
	struct quar_policy pol = {
		.crashes = ms->cfg->quarantine_crashes,
		.window_ms = ms->cfg->quarantine_window_s * 1000,
	};
	/* SIGKILL/SIGTERM from outside (an operator, the OOM killer) does not
	 * blame the request; a request_timeout kill marked the slot first. */
	int guilty = WIFSIGNALED(status) ? WTERMSIG(status) != SIGKILL &&
	    WTERMSIG(status) != SIGTERM : 1;
	int rc = quar_worker_died(ms->quar, i, now, &pol, guilty);

	if (rc == 0)
		return;
	ms->m->inflight_crashes++;
	log_warn("crashed_in_flight", "tag=%s path=\"%s\" action=\"resends of "
	    "this request refused\"", ms->slots[i].tag, ms->m->w[i].last_path);
	if (rc == 2) {
		ms->m->quarantines++;
		log_warn("user_quarantined", "tag=%s crashes=%ld window_s=%ld",
		    ms->slots[i].tag, ms->cfg->quarantine_crashes,
		    ms->cfg->quarantine_window_s);
	}
}

static void
reap(struct master *ms)
{
	int status;
	pid_t pid;

	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		struct worker_stats *st;
		struct slot *s;
		unsigned i;
		int64_t now = now_ms(), lived;
		int crashed;

		if ((s = slot_of(ms, pid, &i)) == NULL)
			continue;
		st = &ms->m->w[i];
		st->up = 0;
		st->busy_since_ms = 0;
		/* Its memory is gone: gauges drop, counters stay. */
		st->sessions = st->bytes = st->dirty = 0;
		st->oldest_dirty_ms = 0;
		st->redis_up = 0;
		s->pid = 0;
		lived = now - s->started_ms;
		crashed = !(WIFEXITED(status) && WEXITSTATUS(status) == 0) &&
		    !s->retiring;
		if (WIFSIGNALED(status)) {
			st->last_signal = WTERMSIG(status);
			log_warn("worker_died", "tag=%s pid=%ld signal=%d lived_ms=%lld "
			    "last_path=\"%s\"", s->tag, (long)pid, WTERMSIG(status),
			    (long long)lived, st->last_path);
		} else if (crashed)
			log_warn("worker_exited", "tag=%s pid=%ld status=%d "
			    "lived_ms=%lld", s->tag, (long)pid, WEXITSTATUS(status),
			    (long long)lived);
		else
			log_info("worker_exited", "tag=%s pid=%ld status=0", s->tag,
			    (long)pid);
		if (crashed) {
			st->crashes++;
			note_inflight(ms, i, now, status);
		} else
			quar_end(ms->quar, i);
		if (ms->stopping)
			continue;
		/*
		 * Respawn at once.  A crash loop is a worker that dies young
		 * without answering a single request (worker_init fails, every
		 * request crashes it): it waits longer each time, up to
		 * respawn_backoff_max.  A worker that answered requests is
		 * respawned at once whatever its age: it does useful work, and
		 * while a slot waits, requests queue on its socket unanswered.
		 */
		if (crashed && lived < 1000 && st->answered == s->answered0) {
			s->backoff_ms = s->backoff_ms == 0 ? 100 : s->backoff_ms * 2;
			if (s->backoff_ms > ms->cfg->respawn_backoff_max_ms)
				s->backoff_ms = ms->cfg->respawn_backoff_max_ms;
		} else
			s->backoff_ms = 0;
		s->respawn_at_ms = now + s->backoff_ms;
		st->restarts++;
		if (s->backoff_ms > 0)
			log_warn("respawn_backoff", "tag=%s delay_ms=%lld", s->tag,
			    (long long)s->backoff_ms);
	}
}

static void
spawn_due(struct master *ms, int64_t now)
{
	for (unsigned i = 0; i < ms->n; i++)
		if (ms->slots[i].pid == 0 && ms->slots[i].respawn_at_ms != 0 &&
		    now >= ms->slots[i].respawn_at_ms)
			spawn(ms, i);
}

/* request_timeout: a handler stuck that long loses its process. */
static void
check_timeouts(struct master *ms, int64_t now)
{
	long limit = ms->cfg->request_timeout_ms;

	if (limit <= 0)
		return;
	for (unsigned i = 0; i < ms->n; i++) {
		struct worker_stats *st = &ms->m->w[i];
		int64_t busy = st->busy_since_ms;

		if (ms->slots[i].pid > 0 && busy != 0 && now - busy > limit) {
			log_warn("request_timeout", "tag=%s pid=%ld busy_ms=%lld "
			    "path=\"%s\" action=kill", ms->slots[i].tag,
			    (long)ms->slots[i].pid, (long long)(now - busy),
			    st->last_path);
			st->timeouts_killed++;
			st->busy_since_ms = 0;
			quar_mark_died(ms->quar, i); /* the request is to blame */
			kill(ms->slots[i].pid, SIGKILL);
		}
	}
}

/*
 * Rolling reload: one worker at a time stops accepting, finishes its
 * requests, flushes its sessions and exits; its successor (with the new
 * configuration) inherits the socket.  Connections wait in the backlog
 * meanwhile, so none fails.
 */
static void
reload_step(struct master *ms)
{
	struct slot *s;

	if (ms->reload_next < 0)
		return;
	/*
	 * The previous slot is done once its old worker has exited
	 * (spawn() clears retiring) and the successor runs.  A successor
	 * that cannot start (a bad new configuration) holds the roll here:
	 * the remaining workers keep the old one and go on serving.
	 */
	if (ms->reload_next > 0) {
		s = &ms->slots[ms->reload_next - 1];
		if (s->retiring || s->pid == 0 ||
		    !ms->m->w[ms->reload_next - 1].up)
			return;
	}
	if ((unsigned)ms->reload_next == ms->n) {
		ms->reload_next = -1;
		log_info("reload_done", "workers=%u", ms->n);
		return;
	}
	s = &ms->slots[ms->reload_next++];
	if (s->pid > 0) {
		s->retiring = 1;
		kill(s->pid, SIGTERM);
	}
}

static void
start_reload(struct master *ms)
{
	struct sticky_config *ncfg;

	if (ms->reload == NULL || (ncfg = ms->reload(ms->reload_arg)) == NULL) {
		log_warn("reload_failed", "reason=\"configuration refused; "
		    "keeping the old one\"");
		return;
	}
	/* Sockets, tags and users are bound for the master's lifetime. */
	if (ncfg->workers != ms->cfg->workers ||
	    strcmp(ncfg->listen, ms->cfg->listen) != 0 ||
	    strcmp(ncfg->tag, ms->cfg->tag) != 0)
		log_warn("reload_partial", "reason=\"workers, listen and tag "
		    "need a restart\"");
	if (strcmp(ncfg->status_listen, ms->cfg->status_listen) != 0)
		log_warn("reload_partial", "reason=\"status_listen needs a "
		    "restart\"");
	/* Re-read (it may be rotated); unreadable now: keep the one we have. */
	if (ncfg->status_token_file[0] != '\0') {
		char tok[STATUS_TOKEN_MAX + 1], err[512];

		if (allow_token_read(ncfg->status_token_file, tok, sizeof(tok), err,
		    sizeof(err)) == 0)
			memcpy(ms->status_token, tok, sizeof(tok));
		else
			log_warn("reload_partial", "reason=\"%s; keeping the "
			    "previous status token\"", err);
		memset(tok, 0, sizeof(tok));
	} else
		ms->status_token[0] = '\0';
	ncfg->workers = ms->cfg->workers;
	sticky_config_set(ncfg, "status_listen", ms->cfg->status_listen, NULL, 0);
	sticky_config_set(ncfg, "listen", ms->cfg->listen, NULL, 0);
	sticky_config_set(ncfg, "tag", ms->cfg->tag, NULL, 0);
	sticky_config_free(ms->owned_cfg);
	ms->owned_cfg = ncfg;
	ms->cfg = ncfg;
	ms->m->reloads++;
	ms->reload_next = 0;
	log_info("reload_started", "workers=%u", ms->n);
}

static int
running(const struct master *ms)
{
	for (unsigned i = 0; i < ms->n; i++)
		if (ms->slots[i].pid > 0)
			return 1;
	return 0;
}

static void
stop_all(struct master *ms)
{
	int64_t deadline = now_ms() + ms->cfg->stop_timeout_ms + 1000;
	struct timespec ts = { 0, 50 * 1000000 };

	ms->stopping = 1;
	for (unsigned i = 0; i < ms->n; i++)
		if (ms->slots[i].pid > 0)
			kill(ms->slots[i].pid, SIGTERM);
	while (running(ms) && now_ms() < deadline) {
		nanosleep(&ts, NULL);
		reap(ms);
	}
	for (unsigned i = 0; i < ms->n; i++)
		if (ms->slots[i].pid > 0) {
			log_warn("stop_kill", "tag=%s pid=%ld reason=stop_timeout",
			    ms->slots[i].tag, (long)ms->slots[i].pid);
			kill(ms->slots[i].pid, SIGKILL);
		}
	while (running(ms)) {
		nanosleep(&ts, NULL);
		reap(ms);
	}
}

/*
 * Written before the privilege drop, so never through a symbolic link
 * (file_open_safe): 0, or 1 when the path is refused.
 */
static int
write_pid_file(const char *path)
{
	const char *why;
	char line[32];
	int fd, n;

	if (path == NULL || *path == '\0')
		return 0;
	if ((fd = file_open_safe(path, O_WRONLY, 0644, &why)) < 0) {
		if (fd == STICKY_EINVAL) {
			log_err("pid_file_refused", "path=\"%s\" reason=\"%s\"",
			    path, why);
			return 1;
		}
		log_warn("pid_file_failed", "errno=%d", errno);
		return 0;
	}
	n = snprintf(line, sizeof(line), "%ld\n", (long)getpid());
	if (ftruncate(fd, 0) == -1 || write(fd, line, (size_t)n) != n)
		log_warn("pid_file_failed", "errno=%d", errno);
	close(fd);
	return 0;
}

int
prefork_run(struct sticky_config *cfg, const struct sticky_app_def *app,
    prefork_reload_fn reload, void *reload_arg)
{
	struct master ms;
	sigset_t set;
	siginfo_t info;
	struct timespec tick = { 0, 100 * 1000000 };
	int rc, status = 0, pid_refused = 0;

	memset(&ms, 0, sizeof(ms));
	ms.cfg = cfg;
	ms.app = app;
	ms.n = (unsigned)cfg->workers;
	ms.reload_next = -1;
	ms.reload = reload;
	ms.reload_arg = reload_arg;

	/* Signals are read with sigtimedwait below; block them first. */
	sigemptyset(&set);
	sigaddset(&set, SIGCHLD);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGUSR1);
	sigprocmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);

	if ((ms.slots = xcalloc(ms.n, sizeof(*ms.slots))) == NULL ||
	    metrics_map(&ms.m, ms.n) != 0 || quar_map(&ms.quar, ms.n) != 0) {
		log_err("startup_failed", "reason=out_of_memory");
		metrics_unmap(ms.m);
		xfree(ms.slots);
		return 1;
	}
	for (unsigned i = 0; i < ms.n; i++)
		ms.slots[i].fd = -1;
	ms.status_fd = -1;
	ms.m->master_pid = (int32_t)getpid();
	ms.m->master_start = (int64_t)time(NULL);
	if ((rc = read_token(&ms, cfg)) != 0 || (rc = bind_all(&ms)) != 0) {
		status = 1;
		goto out;
	}
	if (write_pid_file(cfg->pid_file) != 0) { /* while we may write there */
		pid_refused = 1; /* not ours to remove */
		status = 1;
		goto out;
	}
	if ((rc = drop_privileges(cfg)) != 0) {
		status = 1;
		goto out;
	}
	if (app->preload != NULL &&
	    (rc = app->preload(&ms.shared, cfg, app->appdata)) != 0) {
		log_err("preload_failed", "code=%d reason=\"%s\"", rc,
		    sticky_strerror(rc));
		status = 1;
		goto out;
	}
	log_info("started", "workers=%u app=%s", ms.n, app->name);
	for (unsigned i = 0; i < ms.n; i++)
		spawn(&ms, i);

	while (!ms.stopping) {
		int sig = sigtimedwait(&set, &info, &tick);

		switch (sig) {
		case SIGCHLD:
			break; /* reaped below */
		case SIGTERM:
		case SIGINT:
			log_info("stopping", "signal=%d", sig);
			ms.stopping = 1;
			continue;
		case SIGHUP:
			if (ms.reload_next < 0)
				start_reload(&ms);
			else
				log_warn("reload_ignored", "reason=\"a reload is "
				    "under way\" next=%d", ms.reload_next);
			break;
		case SIGUSR1:
			/* The old file keeps the failure, if any (logrotate). */
			if (log_reopen(ms.cfg->log_file) != 0)
				log_warn("log_reopen_failed", "errno=%d", errno);
			else if (ms.cfg->log_file[0] != '\0')
				log_info("log_reopened", "workers=%u", ms.n);
			for (unsigned i = 0; i < ms.n; i++)
				if (ms.slots[i].pid > 0)
					kill(ms.slots[i].pid, SIGUSR1);
			break;
		default:
			break;
		}
		reap(&ms);
		spawn_due(&ms, now_ms());
		reload_step(&ms);
		check_timeouts(&ms, now_ms());
	}
	stop_all(&ms);
	log_info("stopped", NULL);
out:
	if (ms.shared != NULL && app->unload != NULL)
		app->unload(ms.shared, app->appdata);
	for (unsigned i = 0; i < ms.n; i++)
		if (ms.slots[i].fd >= 0) {
			close(ms.slots[i].fd);
			sock_unlink(ms.slots[i].addr);
		}
	if (ms.status_fd >= 0) {
		close(ms.status_fd);
		sock_unlink(ms.status_addr);
	}
	if (cfg->pid_file[0] != '\0' && !pid_refused)
		unlink(cfg->pid_file);
	metrics_unmap(ms.m);
	quar_unmap(ms.quar);
	xfree(ms.slots);
	sticky_config_free(ms.owned_cfg);
	return status;
}

