/*
 * baseline.h: the pre-forked master both benchmark baselines share, written
 * the way a user writes a libfcgi server without sticky: the master binds
 * one unix socket per worker (DIR/w0.sock, DIR/w1.sock, ...), forks one
 * single-threaded worker per socket (FCGX_Accept_r on it) and respawns a
 * worker that dies.  SIGTERM/SIGINT: the workers are terminated and the
 * master exits.  Workers die with the master (PR_SET_PDEATHSIG).
 *
 *   int main(...) { return baseline_main(argc, argv, serve, init); }
 *
 * Options: -w N workers, -l unix:DIR/%t.sock (tag w%i), -s STATE_BYTES,
 * -r unix:REDIS_SOCKET (used by baseline_redis only).  Unix sockets only.
 */
#ifndef STICKY_BENCH_BASELINE_H
#define STICKY_BENCH_BASELINE_H

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fcgiapp.h>

#define BL_MAX_WORKERS 64

struct bl_opts {
	int workers;
	char listen[512];   /* "DIR/%t.sock" without "unix:" */
	size_t state_bytes;
	char redis[512];    /* unix socket path, or "" */
};

/* The worker's identity, set before serve() runs. */
struct bl_worker {
	int index;
	char tag[16];
	int listen_fd;
	const struct bl_opts *opts;
};

typedef int (*bl_serve_fn)(struct bl_worker *w);

static volatile sig_atomic_t bl_stop;

static void
bl_on_term(int sig)
{
	(void)sig;
	bl_stop = 1;
}

static void
bl_usage(const char *prog)
{
	fprintf(stderr, "usage: %s [-w N] -l unix:DIR/%%t.sock [-s BYTES] "
	    "[-r unix:REDIS_SOCKET]\n", prog);
	exit(2);
}

/* DIR/%t.sock with %t = tag. */
static int
bl_sock_path(const struct bl_opts *o, const char *tag, char *out, size_t len)
{
	const char *p = strstr(o->listen, "%t");

	if (p == NULL)
		return -1;
	return snprintf(out, len, "%.*s%s%s", (int)(p - o->listen), o->listen,
	    tag, p + 2) < (int)len ? 0 : -1;
}

static pid_t
bl_spawn(struct bl_worker *w, bl_serve_fn serve)
{
	pid_t pid = fork();

	if (pid != 0)
		return pid;
	prctl(PR_SET_PDEATHSIG, SIGTERM);
	signal(SIGTERM, SIG_DFL);
	signal(SIGINT, SIG_DFL);
	/* libfcgi installs its own SIGPIPE handler only where it is default. */
	signal(SIGPIPE, SIG_IGN);
	if (FCGX_Init() != 0)
		_exit(1);
	_exit(serve(w) == 0 ? 0 : 1);
}

static int
baseline_main(int argc, char **argv, bl_serve_fn serve)
{
	static struct bl_opts o = { 2, "", 65536, "" };
	static struct bl_worker w[BL_MAX_WORKERS];
	pid_t pids[BL_MAX_WORKERS];
	struct sigaction sa;
	int c;

	while ((c = getopt(argc, argv, "w:l:s:r:")) != -1) {
		switch (c) {
		case 'w':
			o.workers = atoi(optarg);
			break;
		case 'l':
			if (strncmp(optarg, "unix:", 5) != 0 ||
			    strlen(optarg + 5) >= sizeof(o.listen))
				bl_usage(argv[0]);
			strcpy(o.listen, optarg + 5);
			break;
		case 's':
			o.state_bytes = strtoul(optarg, NULL, 10);
			break;
		case 'r':
			if (strncmp(optarg, "unix:", 5) != 0 ||
			    strlen(optarg + 5) >= sizeof(o.redis))
				bl_usage(argv[0]);
			strcpy(o.redis, optarg + 5);
			break;
		default:
			bl_usage(argv[0]);
		}
	}
	if (o.workers < 1 || o.workers > BL_MAX_WORKERS || o.listen[0] == '\0' ||
	    o.state_bytes < 64 || o.state_bytes > (1u << 30))
		bl_usage(argv[0]);

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = bl_on_term;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);

	for (int i = 0; i < o.workers; i++) {
		char path[600];

		w[i].index = i;
		snprintf(w[i].tag, sizeof(w[i].tag), "w%d", i);
		w[i].opts = &o;
		if (bl_sock_path(&o, w[i].tag, path, sizeof(path)) != 0)
			bl_usage(argv[0]);
		unlink(path);
		if ((w[i].listen_fd = FCGX_OpenSocket(path, 1024)) < 0) {
			fprintf(stderr, "%s: cannot listen on %s\n", argv[0], path);
			return 1;
		}
		chmod(path, 0666); /* the front-end's workers run as nobody */
	}
	for (int i = 0; i < o.workers; i++)
		pids[i] = bl_spawn(&w[i], serve);
	fprintf(stderr, "%s: %d workers started\n", argv[0], o.workers);

	while (!bl_stop) {
		int st;
		pid_t p = waitpid(-1, &st, 0);

		if (p < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		for (int i = 0; i < o.workers; i++)
			if (pids[i] == p && !bl_stop)
				pids[i] = bl_spawn(&w[i], serve);
	}
	for (int i = 0; i < o.workers; i++)
		if (pids[i] > 0)
			kill(pids[i], SIGTERM);
	for (int i = 0; i < o.workers; i++)
		if (pids[i] > 0)
			waitpid(pids[i], NULL, 0);
	for (int i = 0; i < o.workers; i++) {
		char path[600];

		if (bl_sock_path(&o, w[i].tag, path, sizeof(path)) == 0)
			unlink(path);
	}
	return 0;
}

#endif /* STICKY_BENCH_BASELINE_H */
