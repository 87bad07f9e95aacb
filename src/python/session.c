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
 *   .touch(buf)   this request changed these bytes of an array in the
 *                 state (any buffer: a numpy array or a slice of one); a
 *                 request that calls it promises that every array byte it
 *                 changed was touched, and its checkpoint then copies and
 *                 sends only those (everything else in the state is pickled
 *                 again as usual).  A request that raised is not taken at
 *                 its word: its arrays are compared with the last image.
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
	int assigned;  /* .state was replaced: laid out afresh */
	int over;      /* a touch() that cannot be mapped: the whole state */
	struct range { const unsigned char *p; size_t len; } *ranges;
	size_t nranges, cap;
} SessionObject;

#define RANGES_MAX 1024 /* more touch() calls in one request: whole state */

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
	s->assigned = 1;
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

/* The bytes a buffer spans, strides and all: [*lo, *hi); 0, or -1. */
static int
extent(const Py_buffer *v, const unsigned char **lo, const unsigned char **hi)
{
	Py_ssize_t a = 0, b = v->itemsize;

	if (v->suboffsets != NULL)
		return -1;
	if (v->strides == NULL)
		b = v->len;
	else
		for (int d = 0; d < v->ndim; d++) {
			if (v->shape[d] == 0) {
				a = b = 0;
				break;
			}
			if (v->strides[d] > 0)
				b += (v->shape[d] - 1) * v->strides[d];
			else
				a += (v->shape[d] - 1) * v->strides[d];
		}
	*lo = (const unsigned char *)v->buf + a;
	*hi = (const unsigned char *)v->buf + b;
	return 0;
}

static PyObject *
m_touch(SessionObject *s, PyObject *obj)
{
	Py_buffer v;
	const unsigned char *lo, *hi;

	if (!alive(s) || box(s) == NULL)
		return NULL;
	if (PyObject_GetBuffer(obj, &v, PyBUF_FULL_RO) != 0)
		return NULL;
	s->touched = 1;
	state_precise(s->st);
	if (extent(&v, &lo, &hi) != 0 || s->nranges == RANGES_MAX)
		s->over = 1;
	else if (hi > lo) {
		if (s->nranges == s->cap) {
			size_t cap = s->cap ? s->cap * 2 : 4;
			struct range *r = PyMem_Realloc(s->ranges,
			    cap * sizeof(*r));

			if (r == NULL) {
				s->over = 1; /* not recorded: compared instead */
				PyBuffer_Release(&v);
				return PyErr_NoMemory();
			}
			s->ranges = r;
			s->cap = cap;
		}
		s->ranges[s->nranges].p = lo;
		s->ranges[s->nranges++].len = (size_t)(hi - lo);
	}
	PyBuffer_Release(&v);
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
	{ "touch", (PyCFunction)m_touch, METH_O,
	  "this request changed these bytes of an array in the state (a "
	  "numpy array or a slice of one): its checkpoint sends only the "
	  "touched bytes of the arrays" },
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
	s->assigned = 0;
	s->over = 0;
	s->ranges = NULL;
	s->nranges = s->cap = 0;
	return (PyObject *)s;
}

static int
changed_pages(void *req, size_t off, size_t len)
{
	return sticky_session_touch(req, off, len);
}

/*
 * What the request changed, as pages of the image for sticky: its pickle
 * region always (the rest of the object, pickled again at the flush), and
 * the touched ranges; or, for a request that did not call touch(), raised
 * or touched something outside the arrays, the pages of the arrays that
 * differ from the image.  -1 without an image: the whole state.
 */
static int
touch_ranges(SessionObject *s, int failed)
{
	size_t off, len;
	int rc, exact = !failed && !s->over && s->nranges > 0;

	if (s->assigned || !state_has_image(s->st))
		return -1;
	state_hold(s->st, 1); /* the view's length only, for the ranges' check */
	state_tail(s->st, &off, &len);
	rc = sticky_session_touch(s->req, off, len);
	for (size_t i = 0; rc == 0 && exact && i < s->nranges; i++)
		if (state_touch(s->st, s->ranges[i].p, s->ranges[i].len,
		    &off) != 0)
			exact = 0;
		else
			rc = sticky_session_touch(s->req, off, s->ranges[i].len);
	if (rc == 0 && !exact)
		rc = state_compare(s->st, changed_pages, s->req);
	state_hold(s->st, 0);
	if (rc != 0)
		return -1;
	state_stale(s->st);
	return 0;
}

int
session_finish(PyObject *obj, int failed)
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
		} else if (touch_ranges(s, failed) != 0)
			sticky_session_dirty(s->req);
	}
	PyMem_Free(s->ranges);
	s->ranges = NULL;
	s->nranges = s->cap = 0;
	s->req = NULL;
	s->st = NULL;
	return rc;
}
