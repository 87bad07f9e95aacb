/*
 * session.c: environ['sticky.session'], the user's session as a WSGI app
 * sees it.  Valid during its request only.
 *
 *   .state        the user's object: restored (unpickled) on first access,
 *                 or created (state factory, else None) for a new user;
 *                 assigning replaces it
 *   .id           the session key: a bearer token, never log it
 *   .worker       this worker's route tag
 *   .request_id   the front-end's request id, or None
 *   .is_new       True when this request created the session
 *   .unchanged()  this request did not change the state (not checkpointed)
 *   .destroy()    logout: drop the state here and in Redis
 *   .rotate()     new id for the same state (after login)
 *
 * A request that read or assigned .state is taken as having changed it
 * (unless it called unchanged()), also when the app raised: what it did to
 * the object in memory stays, and is checkpointed, so what a user sees
 * does not depend on whether the worker crashed since.
 */
#include "pyapp.h" /* Python.h first */

struct pystate;

typedef struct {
	PyObject_HEAD
	struct pyapp *pa;
	struct sticky_req *req; /* NULL once the request is over */
	struct pystate *st;     /* the state's box once reached */
	int touched;
	int unchanged;
} SessionObject;

static PyObject *StateUnavailable;

static int
alive(SessionObject *s)
{
	if (s->req != NULL)
		return 1;
	PyErr_SetString(PyExc_RuntimeError,
	    "sticky.session used after its request ended");
	return 0;
}

/* The box, created for a new user (which also issues the cookie). */
static struct pystate *
box(SessionObject *s)
{
	int err = 0;

	if (s->st != NULL)
		return s->st;
	s->st = sticky_session_state(s->req, &err);
	if (s->st == NULL) {
		if (err == STICKY_EAGAIN)
			PyErr_SetString(StateUnavailable,
			    "session state temporarily unavailable (Redis)");
		else
			PyErr_Format(PyExc_MemoryError, "session state: %s",
			    sticky_strerror(err));
	}
	return s->st;
}

static PyObject *
get_state(SessionObject *s, void *closure)
{
	PyObject *obj;

	if (!alive(s) || box(s) == NULL)
		return NULL;
	s->touched = 1;
	if ((obj = state_get(s->st, s->pa)) == NULL)
		sticky_log(STICKY_LOG_ERR, "state_restore_failed",
		    "the checkpointed state cannot be unpickled; kept as is");
	return obj;
}

static int
set_state(SessionObject *s, PyObject *value, void *closure)
{
	if (value == NULL) {
		PyErr_SetString(PyExc_AttributeError,
		    "cannot delete state (assign None, or call destroy())");
		return -1;
	}
	if (!alive(s) || box(s) == NULL)
		return -1;
	s->touched = 1;
	state_set(s->st, value);
	return 0;
}

static PyObject *
str_or_none(const char *v)
{
	if (v == NULL)
		Py_RETURN_NONE;
	return PyUnicode_DecodeLatin1(v, (Py_ssize_t)strlen(v), NULL);
}

static PyObject *
get_id(SessionObject *s, void *closure)
{
	return alive(s) ? str_or_none(sticky_session_id(s->req)) : NULL;
}

static PyObject *
get_worker(SessionObject *s, void *closure)
{
	return alive(s) ? str_or_none(sticky_req_worker_tag(s->req)) : NULL;
}

static PyObject *
get_request_id(SessionObject *s, void *closure)
{
	return alive(s) ? str_or_none(sticky_req_id(s->req)) : NULL;
}

static PyObject *
get_is_new(SessionObject *s, void *closure)
{
	return alive(s) ? PyBool_FromLong(sticky_session_is_new(s->req)) : NULL;
}

static PyObject *
m_unchanged(SessionObject *s, PyObject *unused)
{
	if (!alive(s))
		return NULL;
	s->unchanged = 1;
	Py_RETURN_NONE;
}

static PyObject *
m_destroy(SessionObject *s, PyObject *unused)
{
	int rc;

	if (!alive(s))
		return NULL;
	if ((rc = sticky_session_destroy(s->req)) != 0)
		return PyErr_Format(StateUnavailable, "destroy: %s",
		    sticky_strerror(rc));
	s->st = NULL; /* freed by sticky */
	s->touched = 0;
	Py_RETURN_NONE;
}

static PyObject *
m_rotate(SessionObject *s, PyObject *unused)
{
	int rc;

	if (!alive(s) || box(s) == NULL)
		return NULL;
	if ((rc = sticky_session_rotate(s->req)) != 0)
		return PyErr_Format(StateUnavailable, "rotate: %s",
		    sticky_strerror(rc));
	Py_RETURN_NONE;
}

static PyObject *
s_repr(SessionObject *s)
{
	/* Never the id: reprs end up in logs. */
	return PyUnicode_FromFormat("<sticky.Session worker=%s%s>",
	    s->req != NULL ? sticky_req_worker_tag(s->req) : "-",
	    s->req == NULL ? " ended" : "");
}

static PyGetSetDef s_getset[] = {
	{ "state", (getter)get_state, (setter)set_state,
	  "the user's object (any picklable)", NULL },
	{ "id", (getter)get_id, NULL,
	  "the session key, or None: a bearer token, never log it", NULL },
	{ "worker", (getter)get_worker, NULL, "this worker's route tag", NULL },
	{ "request_id", (getter)get_request_id, NULL,
	  "the front-end's request id, or None", NULL },
	{ "is_new", (getter)get_is_new, NULL,
	  "True when this request created the session", NULL },
	{ NULL, NULL, NULL, NULL, NULL },
};

static PyMethodDef s_methods[] = {
	{ "unchanged", (PyCFunction)m_unchanged, METH_NOARGS,
	  "this request did not change the state: do not checkpoint it" },
	{ "destroy", (PyCFunction)m_destroy, METH_NOARGS,
	  "logout: drop the state here and in Redis, expire the cookie" },
	{ "rotate", (PyCFunction)m_rotate, METH_NOARGS,
	  "give the same state a new id (after login)" },
	{ NULL, NULL, 0, NULL },
};

static PyTypeObject SessionType = {
	PyVarObject_HEAD_INIT(NULL, 0)
	.tp_name = "sticky.Session",
	.tp_basicsize = sizeof(SessionObject),
	.tp_flags = Py_TPFLAGS_DEFAULT,
	.tp_doc = "A user's session during one request.",
	.tp_repr = (reprfunc)s_repr,
	.tp_getset = s_getset,
	.tp_methods = s_methods,
};

int
session_type_init(PyObject *module)
{
	if (PyType_Ready(&SessionType) != 0)
		return -1;
	StateUnavailable = PyErr_NewExceptionWithDoc("sticky.StateUnavailable",
	    "The session state cannot be had now (checkpoint store "
	    "unreachable): sticky answers 503 with Retry-After.",
	    PyExc_RuntimeError, NULL);
	if (StateUnavailable == NULL)
		return -1;
	if (module != NULL &&
	    (PyModule_AddObjectRef(module, "StateUnavailable", StateUnavailable) != 0 ||
	    PyModule_AddObjectRef(module, "Session", (PyObject *)&SessionType) != 0))
		return -1;
	return 0;
}

PyObject *
session_new(struct pyapp *pa, struct sticky_req *req)
{
	SessionObject *s = PyObject_New(SessionObject, &SessionType);

	if (s == NULL)
		return NULL;
	s->pa = pa;
	s->req = req;
	s->st = NULL;
	s->touched = 0;
	s->unchanged = 0;
	return (PyObject *)s;
}

int
session_finish(PyObject *obj)
{
	SessionObject *s = (SessionObject *)obj;
	int rc = 0;

	/*
	 * Sync mode writes the checkpoint before the answer: pickle now, so
	 * an unpicklable state answers 500 (the encode reuses this pickle).
	 * Async mode pickles when it flushes, once per flush however many
	 * requests changed the state; an encode that failed is answered at
	 * the user's next request.  Checkpoints off: never pickled.
	 */
	if (s->req != NULL && s->st != NULL && s->touched && !s->unchanged) {
		state_changed(s->st);
		if ((s->pa->sync || state_bad(s->st)) &&
		    state_snapshot(s->st, s->pa) != 0) {
			interp_log_exception("state_unpicklable",
			    "the session state cannot be pickled: answered 500, "
			    "the last checkpoint stays");
			rc = -1;
		} else
			sticky_session_dirty(s->req);
	}
	s->req = NULL;
	s->st = NULL;
	return rc;
}
