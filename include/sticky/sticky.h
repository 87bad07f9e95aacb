/*
 * sticky.h: the whole public API of libsticky.
 *
 * An application is a request handler plus a codec for its per-user state.
 * sticky runs it in pre-forked FastCGI workers, keeps each user's state in the
 * memory of the worker that owns the user, and checkpoints it to Redis.
 *
 * Every handle is opaque.  Functions that can fail return 0 on success and a
 * negative STICKY_E* code on failure; sticky_strerror() turns it into text.
 * If you don't see something in sticky(3) and see it here instead, it
 * shouldn't be used.
 */
#ifndef STICKY_STICKY_H
#define STICKY_STICKY_H

#include <stddef.h>
#include <stdint.h>

#include <sticky/version.h>

#ifdef __cplusplus
extern "C" {
#endif

#define STICKY_API __attribute__((visibility("default")))

/* Error codes: always negative, 0 is success. */
#define STICKY_OK 0
#define STICKY_ENOMEM (-1)    /* out of memory */
#define STICKY_EINVAL (-2)    /* invalid argument or value */
#define STICKY_ESYS (-3)      /* system call failed, see errno */
#define STICKY_EPROTO (-4)    /* malformed protocol input */
#define STICKY_ETOOBIG (-5)   /* input over a configured limit */
#define STICKY_ENOENT (-6)    /* no such key, session or checkpoint */
#define STICKY_ECORRUPT (-7)  /* checkpoint failed a check */
#define STICKY_EFENCED (-8)   /* another worker owns the session now */
#define STICKY_EREDIS (-9)    /* Redis unreachable or answered an error */
#define STICKY_ETIMEDOUT (-10) /* deadline passed */
#define STICKY_ECONFIG (-11)  /* configuration error */
#define STICKY_EVERSION (-12) /* unsupported format or schema version */
#define STICKY_EFOREIGN (-13) /* checkpoint written by another application */
#define STICKY_EAGAIN (-14)   /* try again later (e.g. Redis backing off) */
#define STICKY_ESTATE (-15)   /* call not valid in this state */
#define STICKY_ELAST (-16)

STICKY_API const char *sticky_strerror(int err);

/* Opaque handles. */
struct sticky_config; /* key = value settings, see stickyd.conf(5) */
struct sticky_req;    /* one request; valid only inside the handler call */
struct sticky_buf;    /* growable byte buffer the codec encodes into */

/* ---- configuration: the same keys as the config file, one table ---- */

STICKY_API int sticky_config_new(struct sticky_config **out);
STICKY_API void sticky_config_free(struct sticky_config *cfg);
/* Set one key from its text form; errbuf (may be NULL) receives a reason. */
STICKY_API int sticky_config_set(struct sticky_config *cfg, const char *key,
    const char *value, char *errbuf, size_t errlen);
/* Read a config file; errors name file:line in errbuf. */
STICKY_API int sticky_config_load(struct sticky_config *cfg, const char *path,
    char *errbuf, size_t errlen);
/* Current value of a key as text (borrowed, valid until the next set). */
STICKY_API const char *sticky_config_get(const struct sticky_config *cfg,
    const char *key);

/* ---- the application ---- */

/*
 * The state codec.  sticky never looks inside a user's state: it creates,
 * encodes, decodes and frees it through these functions only.
 */
struct sticky_codec {
	uint32_t schema_version; /* written into every checkpoint */
	/* A fresh state for a new user; NULL means out of memory. */
	void *(*create)(void *appdata);
	/* Append the encoding of state to out (sticky_buf_append). */
	int (*encode)(const void *state, struct sticky_buf *out, void *appdata);
	/*
	 * Decode bytes written under schema `schema` (maybe older than
	 * schema_version: migrate, or return STICKY_EVERSION to refuse).
	 */
	int (*decode)(void **state, const void *data, size_t len,
	    uint32_t schema, void *appdata);
	void (*destroy)(void *state, void *appdata);
	/* Optional: bytes the state holds, for memory limits and metrics. */
	size_t (*size)(const void *state, void *appdata);
	/*
	 * Optional: for a state kept in memory in its encoded form, the
	 * bytes encode would append, in place: *data and *len, valid until
	 * the state next changes; 0, or an error (the checkpoint then calls
	 * encode).  With it, a checkpoint of a state whose handler reports
	 * its changes with sticky_session_touch() reads and sends only the
	 * touched pages: no encode, no copy, no comparison.
	 */
	int (*view)(const void *state, const void **data, size_t *len,
	    void *appdata);
	/* STICKY_CODEC_* flags. */
	unsigned flags;
};
#define STICKY_CODEC_NEEDS_MAC 0x1u /* decode only checkpoints authenticated under secret_file; refuse to start without it */

/* The handler: 0 on success; a negative code answers 500 if nothing was sent. */
typedef int (*sticky_handler_fn)(struct sticky_req *req, void *appdata);

struct sticky_app_def {
	const char *name; /* identifies the app in checkpoints; required */
	struct sticky_codec codec;
	sticky_handler_fn handler; /* required */
	/*
	 * Optional: runs once in the master before fork.  What it stores in
	 * *shared is read-only afterwards and shared copy-on-write by every
	 * worker (sticky_req_shared()).
	 */
	int (*preload)(void **shared, const struct sticky_config *cfg,
	    void *appdata);
	void (*unload)(void *shared, void *appdata);
	/* Optional: per worker, after fork and privilege drop (own connections). */
	int (*worker_init)(void **worker_data, const void *shared,
	    const char *tag, void *appdata);
	void (*worker_exit)(void *worker_data, void *appdata);
	void *appdata; /* borrowed; passed to every callback */
};

/*
 * Run the master: parse argv (sticky --help), read the config, bind every
 * worker's socket, preload, fork the workers, and supervise them until
 * SIGTERM/SIGINT.  Returns the process exit status.
 */
STICKY_API int sticky_main(int argc, char *argv[],
    const struct sticky_app_def *def);
/* The same with a prepared configuration (argv is not parsed). */
STICKY_API int sticky_run(const struct sticky_app_def *def,
    struct sticky_config *cfg);

/* Modules for stickyd(8) define their app with this macro. */
#define STICKY_MODULE(def)                                                \
	STICKY_API const struct sticky_app_def *sticky_module_def(void); \
	const struct sticky_app_def *sticky_module_def(void)             \
	{                                                                 \
		return &(def);                                            \
	}
#define STICKY_MODULE_SYMBOL "sticky_module_def"

/* ---- byte buffers (what encode writes into) ---- */

STICKY_API int sticky_buf_append(struct sticky_buf *b, const void *data,
    size_t len);
/* Reserve len bytes at the end and return a pointer to them (or NULL). */
STICKY_API void *sticky_buf_reserve(struct sticky_buf *b, size_t len);
STICKY_API size_t sticky_buf_len(const struct sticky_buf *b);

/* ---- the request, as a handler sees it ---- */

/* A CGI/FastCGI parameter (REQUEST_METHOD, HTTP_HOST, ...), or NULL. */
STICKY_API const char *sticky_req_param(const struct sticky_req *req,
    const char *name);
STICKY_API const char *sticky_req_method(const struct sticky_req *req);
/* The path part of REQUEST_URI (DOCUMENT_URI/SCRIPT_NAME as fallback). */
STICKY_API const char *sticky_req_path(const struct sticky_req *req);
/* The raw QUERY_STRING, "" when absent. */
STICKY_API const char *sticky_req_query(const struct sticky_req *req);
/* A query argument, percent-decoded; NULL when absent. */
STICKY_API const char *sticky_req_arg(struct sticky_req *req,
    const char *name);
/* A cookie's value from the Cookie header; NULL when absent. */
STICKY_API const char *sticky_req_cookie(struct sticky_req *req,
    const char *name);
/* The request body (bounded by max_body); *len receives its length. */
STICKY_API const void *sticky_req_body(const struct sticky_req *req,
    size_t *len);
/* The front-end's per-request id (REQUEST_ID or UNIQUE_ID), or NULL. */
STICKY_API const char *sticky_req_id(const struct sticky_req *req);
/*
 * The i-th CGI parameter as the front-end sent it (0-based, in arrival
 * order): 0 with *name and *value set, STICKY_ENOENT past the last one.
 * For bindings that hand every variable on (a WSGI environ).
 */
STICKY_API int sticky_req_param_at(const struct sticky_req *req, size_t i,
    const char **name, const char **value);
/* This worker's route tag. */
STICKY_API const char *sticky_req_worker_tag(const struct sticky_req *req);
/* What preload stored, and what worker_init stored. */
STICKY_API const void *sticky_req_shared(const struct sticky_req *req);
STICKY_API void *sticky_req_worker_data(const struct sticky_req *req);

/* The response: status (default 200), headers, then the body. */
STICKY_API int sticky_req_set_status(struct sticky_req *req, int status);
STICKY_API int sticky_req_add_header(struct sticky_req *req, const char *name,
    const char *value);
STICKY_API int sticky_req_write(struct sticky_req *req, const void *data,
    size_t len);
STICKY_API int sticky_req_puts(struct sticky_req *req, const char *s);
STICKY_API int sticky_req_printf(struct sticky_req *req, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* ---- the user's session ---- */

/*
 * The user's state: restored from memory or a checkpoint, or created with
 * codec.create for a new user (which also issues the session cookie).
 * NULL with *err set when it cannot be had: STICKY_EAGAIN when the
 * checkpoint store is unreachable (sticky then answers 503 with
 * Retry-After unless the handler wrote something).
 */
STICKY_API void *sticky_session_state(struct sticky_req *req, int *err);
/* Mark the state changed: it will be checkpointed (now, in sync mode). */
STICKY_API void sticky_session_dirty(struct sticky_req *req);
/*
 * Mark bytes [off, off + len) of the state's encoding changed (what
 * codec.view exposes): like sticky_session_dirty(), and with a view the
 * next checkpoint sends only the pages touched since the last one.  Every
 * changed byte must be covered: bytes changed but not touched may not
 * reach the checkpoint.  Without a view it is sticky_session_dirty().
 * 0, STICKY_ESTATE (no session) or STICKY_EINVAL (range past the view:
 * the whole state is written).
 */
STICKY_API int sticky_session_touch(struct sticky_req *req, size_t off,
    size_t len);
/* Logout: drop the state here and in Redis, expire the cookie. */
STICKY_API int sticky_session_destroy(struct sticky_req *req);
/* New id for the same state (after login): stops session fixation. */
STICKY_API int sticky_session_rotate(struct sticky_req *req);
/* 1 when this request created the session. */
STICKY_API int sticky_session_is_new(const struct sticky_req *req);
/*
 * The session's key (the part of the cookie before the tag), or NULL
 * while the request has no session.  It is a bearer token: never log it.
 */
STICKY_API const char *sticky_session_id(const struct sticky_req *req);

/* ---- logging, for bindings and handlers ---- */

#define STICKY_LOG_ERR 0
#define STICKY_LOG_WARN 1
#define STICKY_LOG_INFO 2
#define STICKY_LOG_DEBUG 3
/*
 * One line in sticky's log (stderr, log_file or syslog, as configured):
 * "level=... event=<event> worker=<tag> msg=\"<msg>\"".  event is one word;
 * newlines in msg become spaces, double quotes single ones.
 */
STICKY_API void sticky_log(int level, const char *event, const char *msg);

#ifdef __cplusplus
}
#endif

#endif /* STICKY_STICKY_H */
