/*
 * pyapp.h: what the files of sticky-wsgi share.  These files are the only
 * ones in sticky that include Python.h.
 *
 *   main.c     command line, the struct sticky_app_def, sticky_main()
 *   interp.c   the interpreter's lifecycle: start and import in the master,
 *              fork hooks, the per-worker hook, tracebacks into the log
 *   state.c    the codec: a user's Python state, pickled (protocol 5,
 *              out-of-band buffers page-aligned), unpickled on first use
 *   session.c  environ['sticky.session']: .state, .id, .worker, ...
 *   wsgi.c     the handler: environ, start_response/write, wsgi.errors,
 *              response iteration and close()
 */
#ifndef STICKY_PYAPP_H
#define STICKY_PYAPP_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <sticky/sticky.h>

/* The application, as the command line named it and the master imported it. */
struct pyapp {
	const char *app_spec;     /* --app module:callable */
	const char *factory_spec; /* --state-factory, or NULL */
	const char *winit_spec;   /* --worker-init, or NULL */
	const char *mount;        /* --mount: SCRIPT_NAME, "" by default */
	const char **paths;       /* --pythonpath, prepended to sys.path */
	size_t npaths;
	char name[128];           /* the app's name in checkpoints */
	int sync;                 /* checkpoint = sync (read at start) */
	PyObject *app;            /* the WSGI callable */
	PyObject *factory;        /* new-user state factory, or NULL */
	PyObject *winit;          /* per-worker hook, or NULL */
	PyObject *dumps, *loads;  /* dump(obj, cb), load(data, bufs): interp.c */
	PyObject *bytesio;        /* io.BytesIO, for wsgi.input */
	PyObject *file_wrapper;   /* wsgiref.util.FileWrapper */
	PyObject *errors;         /* wsgi.errors: lines into sticky's log */
	PyObject *version;        /* (1, 0) */
	PyObject *http, *https;   /* url schemes */
};

/* interp.c */
int interp_start(struct pyapp *pa);
int interp_worker_init(struct pyapp *pa, const char *tag);
/* Log the pending Python exception with its traceback; clears it. */
void interp_log_exception(const char *event, const char *what);
/* "pkg.module:attr.attr" -> new reference, or NULL with an exception. */
PyObject *interp_resolve(const char *spec);

/* state.c: the codec and the live state of one user */
struct pystate;
void state_codec(struct sticky_codec *c);
/* The user's object (new reference), unpickled or created on first use. */
PyObject *state_get(struct pystate *st, struct pyapp *pa);
void state_set(struct pystate *st, PyObject *obj);
/* Pickle the state now (end of a request that changed it): 0, or -1 with
 * a Python exception set (the last good pickle is kept). */
int state_snapshot(struct pystate *st, struct pyapp *pa);
/* Drop the pickle of an object that changed: the next encode makes one. */
void state_changed(struct pystate *st);
/* 1 when the last encode could not pickle the state. */
int state_bad(const struct pystate *st);
/*
 * session.touch(): the app reports what it changes.  state_precise: lay
 * the state out into an image from its next encode on (state_has_image).
 * state_touch: the image offset of len bytes at p, inside one of its
 * arrays (recorded, to be copied at the next flush); -1 when they are not
 * (no image, not in one array, too many ranges).  state_compare: every
 * array against the image, page by page: changed runs are copied into it
 * and passed to changed(arg, off, len); -1 if that fails.  state_tail:
 * the pickle region of the image.  state_hold: while on, codec.view gives
 * the image as is (its length, for sticky_session_touch).  state_stale:
 * the object changed since the image.
 */
void state_precise(struct pystate *st);
int state_has_image(const struct pystate *st);
int state_touch(struct pystate *st, const unsigned char *p, size_t len,
    size_t *off);
int state_compare(struct pystate *st, int (*changed)(void *, size_t, size_t),
    void *arg);
void state_tail(const struct pystate *st, size_t *off, size_t *len);
void state_hold(struct pystate *st, int on);
void state_stale(struct pystate *st);

/* session.c */
int session_type_init(PyObject *module);
PyObject *session_new(struct pyapp *pa, struct sticky_req *req);
/* After the app ran (failed: it raised): mark the state dirty if it was
 * touched; returns -1 when the state cannot be pickled (logged; the
 * request answers 500). */
int session_finish(PyObject *sess, int failed);

/* wsgi.c */
int wsgi_types_init(struct pyapp *pa);
int wsgi_handler(struct sticky_req *req, void *appdata);

#endif /* STICKY_PYAPP_H */
