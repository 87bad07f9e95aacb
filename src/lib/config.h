/*
 * config.h: struct sticky_config, its defaults and validation.  Every key
 * is one row of the table in config.c, which also documents it: the config
 * file, the command-line flags, stickyd.conf(5) and conf/stickyd.conf.example
 * all come from that one table.  No file parsing here (conffile.c).
 */
#ifndef STICKY_CONFIG_H
#define STICKY_CONFIG_H

#include <stddef.h>
#include <sys/types.h>

#include "cookie.h"

struct secrets;

enum ckpt_mode { CKPT_OFF, CKPT_ASYNC, CKPT_SYNC };
enum routing_mode { ROUTING_TAG, ROUTING_HASH };

struct sticky_config {
	/* processes and sockets */
	long workers;
	char *listen;     /* "unix:/path/%t.sock" or "127.0.0.1:9000" (+i) */
	char *tag;        /* route tag pattern, "%i" = worker index */
	long socket_mode; /* octal permission bits of unix sockets */
	char *socket_owner;
	char *socket_group;
	char *user; /* drop to this user after binding (when root) */
	char *group;
	long backlog;
	long stop_timeout_ms;
	long respawn_backoff_max_ms;
	long quarantine_crashes; /* 0: never */
	long quarantine_window_s;

	/* requests */
	long max_connections; /* open connections per worker */
	long read_timeout_ms; /* a request must arrive whole within this */
	long write_timeout_ms;
	long max_body;
	long max_params;
	long max_nparams;
	char *worker_header; /* "" = off */
	long max_pending_output; /* stop reading a connection above this */
	long replay_max_bytes;   /* replay log bytes per session */

	/* sessions */
	char *cookie_name;
	char *cookie_path;
	char *cookie_domain;
	int cookie_secure;
	int cookie_httponly;
	enum cookie_samesite cookie_samesite;
	long cookie_max_age; /* -1: browser-session cookie */
	long max_sessions;
	long max_bytes;
	long idle_timeout_s;
	long replay_slots; /* remembered request ids per session */

	/* checkpoints */
	char *redis; /* "" = no checkpoints */
	char *redis_user;
	char *redis_password;
	char *redis_sentinel_user;
	char *redis_sentinel_password;
	long redis_db;
	long redis_connect_timeout_ms;
	long redis_timeout_ms;
	char *redis_prefix;
	char *secret_file; /* "" = session ids name keys, no MAC */
	struct secrets *secrets; /* loaded from secret_file (secret.c) */
	enum ckpt_mode checkpoint;
	long checkpoint_interval_ms;
	long checkpoint_ttl_s;
	long checkpoint_replicas;         /* sync: WAIT for this many */
	long checkpoint_replicas_timeout_ms;
	long checkpoint_page;
	enum routing_mode routing;
	int strict_fencing;

	/* operations */
	char *status_path; /* "" = off */
	char *status_allow;
	char *status_token_file; /* "" = address check (status_allow) */
	char *status_listen;     /* "" = off; "unix:/path" */
	long status_socket_mode;
	char *status_socket_owner;
	char *status_socket_group;
	long max_requests;  /* recycle a worker after this many; 0 = never */
	long max_rss_mb;    /* recycle a worker above this RSS; 0 = never */
	long request_timeout_ms; /* kill a worker stuck in a handler; 0 = off */
	char *log_level;
	char *log_file;
	int syslog;
	char *pid_file;
	int fault_die_after_checkpoint; /* tests only: see answer.c */

	/* app.* keys, passed through to the application */
	char **app_keys;
	char **app_values;
	size_t napp;

	char textbuf[64]; /* sticky_config_get's answer for numbers */
};

/* Defaults for every key. */
int config_init(struct sticky_config *cfg);
void config_cleanup(struct sticky_config *cfg);
/* Cross-key checks after everything is set (e.g. workers vs listen). */
int config_validate(const struct sticky_config *cfg, char *err, size_t errlen);

/* The key table, for documentation generators. */
struct config_key_doc {
	const char *name;
	const char *def;   /* default, as text */
	const char *doc;   /* one or two sentences */
	const char *group; /* heading */
};
size_t config_keys(const struct config_key_doc **out);
/* Write the documented example config (every key, commented, defaults). */
int config_write_example(struct sticky_buf *out);

#endif /* STICKY_CONFIG_H */
