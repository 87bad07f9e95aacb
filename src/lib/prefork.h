/*
 * prefork.h: the master process.  It binds every worker's socket, drops
 * privileges, runs the preload hook, forks the workers and supervises
 * them: respawn on exit (with backoff when they crash in a loop), graceful
 * stop, rolling reload, request timeouts.
 */
#ifndef STICKY_PREFORK_H
#define STICKY_PREFORK_H

struct sticky_config;
struct sticky_app_def;

/* Build a fresh configuration for SIGHUP (re-read the file, re-apply
 * flags); NULL if none can be had (the old one stays). */
typedef struct sticky_config *(*prefork_reload_fn)(void *arg);

/* Run until stopped; returns the exit status.  cfg is borrowed. */
int prefork_run(struct sticky_config *cfg, const struct sticky_app_def *app,
    prefork_reload_fn reload, void *reload_arg);

#endif /* STICKY_PREFORK_H */
