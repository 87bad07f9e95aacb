/*
 * wsgi.c: one request through the WSGI application (PEP 3333).
 *
 * environ carries every CGI variable the front-end sent (decoded as
 * latin-1, as PEP 3333 says), with SCRIPT_NAME set to the mount point
 * (--mount, "" by default) and PATH_INFO to the rest of the path, plus
 * wsgi.input (a stream over the request body, which sticky has read
 * whole, bounded by max_body), wsgi.errors (lines into sticky's log),
 * wsgi.file_wrapper and sticky.session.
 *
 * The response is collected, not streamed: status, headers and body
 * chunks are handed to sticky when the app's iterable is exhausted and
 * closed.  So an exception at any point, even after the first body bytes,
 * answers a clean 500 (with the traceback in the log) and the worker goes
 * on serving.  "Headers sent" in the exc_info sense means: a non-empty
 * body chunk was produced.
 */
#include "pyapp.h" /* Python.h first */

#include <string.h>
#include <strings.h>

/* ---- start_response and write() ---- */

typedef struct {
	PyObject_HEAD
	int started;        /* start_response was called */
	int sent;           /* a non-empty body chunk was produced */
	int finished;       /* the request is over: no more calls */
	int status;
	PyObject *headers;  /* list of (name, value) */
	PyObject *chunks;   /* list of bytes */
	PyObject *write;    /* the bound write method */
} ResponderObject;

static int
header_text_ok(PyObject *s)
{
	Py_ssize_t n;
	const char *p;

	if (!PyUnicode_Check(s))
		return 0;
	if ((p = PyUnicode_AsUTF8AndSize(s, &n)) == NULL) {
		PyErr_Clear();
		return 0;
	}
	for (Py_ssize_t i = 0; i < n; i++)
		if (p[i] == '\r' || p[i] == '\n' || p[i] == '\0')
			return 0;
	return 1;
}

static PyMethodDef r_methods[2];

static PyObject *
start_response(ResponderObject *r, PyObject *args, PyObject *kw)
{
	static char *kwlist[] = { "status", "headers", "exc_info", NULL };
	PyObject *status, *headers, *exc_info = Py_None;
	const char *st;
	Py_ssize_t stlen;

	if (!PyArg_ParseTupleAndKeywords(args, kw, "UO|O:start_response",
	    kwlist, &status, &headers, &exc_info))
		return NULL;
	if (r->finished) {
		/* Kept past its request: its answer is gone already. */
		PyErr_SetString(PyExc_RuntimeError,
		    "start_response called after its request ended");
		return NULL;
	}
	if (exc_info != Py_None) {
		if (r->sent) {
			/* Too late to change the answer: re-raise the app's error. */
			PyObject *t, *v, *tb;

			if (!PyTuple_Check(exc_info) || PyTuple_GET_SIZE(exc_info) != 3) {
				PyErr_SetString(PyExc_TypeError,
				    "exc_info must be a (type, value, traceback) tuple");
				return NULL;
			}
			t = PyTuple_GET_ITEM(exc_info, 0);
			v = PyTuple_GET_ITEM(exc_info, 1);
			tb = PyTuple_GET_ITEM(exc_info, 2);
			Py_INCREF(t);
			Py_INCREF(v);
			Py_INCREF(tb);
			PyErr_Restore(t, v, tb);
			return NULL;
		}
	} else if (r->started) {
		PyErr_SetString(PyExc_AssertionError,
		    "start_response called a second time without exc_info");
		return NULL;
	}
	if ((st = PyUnicode_AsUTF8AndSize(status, &stlen)) == NULL)
		return NULL;
	if (stlen < 4 || st[0] < '1' || st[0] > '5' || st[1] < '0' ||
	    st[1] > '9' || st[2] < '0' || st[2] > '9' || st[3] != ' ' ||
	    !header_text_ok(status)) {
		PyErr_Format(PyExc_ValueError,
		    "status must be '<3 digits> <reason>', got %R", status);
		return NULL;
	}
	if (!PyList_Check(headers)) {
		PyErr_SetString(PyExc_TypeError, "headers must be a list");
		return NULL;
	}
	for (Py_ssize_t i = 0; i < PyList_GET_SIZE(headers); i++) {
		PyObject *h = PyList_GET_ITEM(headers, i);

		if (!PyTuple_Check(h) || PyTuple_GET_SIZE(h) != 2 ||
		    !header_text_ok(PyTuple_GET_ITEM(h, 0)) ||
		    PyUnicode_GET_LENGTH(PyTuple_GET_ITEM(h, 0)) == 0 ||
		    !header_text_ok(PyTuple_GET_ITEM(h, 1))) {
			PyErr_Format(PyExc_ValueError,
			    "header %zd must be a (name, value) tuple of str "
			    "without CR or LF", i);
			return NULL;
		}
	}
	r->status = (st[0] - '0') * 100 + (st[1] - '0') * 10 + (st[2] - '0');
	Py_INCREF(headers);
	Py_XSETREF(r->headers, headers);
	r->started = 1;
	/* write() holds r: wsgi_handler() breaks the cycle by hand. */
	if (r->write == NULL &&
	    (r->write = PyCFunction_New(&r_methods[0], (PyObject *)r)) == NULL)
		return NULL;
	return Py_NewRef(r->write);
}

static int
add_chunk(ResponderObject *r, PyObject *data)
{
	if (!PyBytes_Check(data)) {
		PyErr_Format(PyExc_TypeError,
		    "response body items must be bytes, not %.80s",
		    Py_TYPE(data)->tp_name);
		return -1;
	}
	if (PyBytes_GET_SIZE(data) == 0)
		return 0;
	if (!r->started) {
		PyErr_SetString(PyExc_AssertionError,
		    "body produced before start_response");
		return -1;
	}
	r->sent = 1;
	return PyList_Append(r->chunks, data);
}

static PyObject *
r_write(ResponderObject *r, PyObject *data)
{
	if (r->finished) {
		PyErr_SetString(PyExc_RuntimeError,
		    "write() called after its request ended");
		return NULL;
	}
	if (!r->started) {
		PyErr_SetString(PyExc_AssertionError,
		    "write() called before start_response");
		return NULL;
	}
	if (add_chunk(r, data) != 0)
		return NULL;
	Py_RETURN_NONE;
}

static void
r_dealloc(ResponderObject *r)
{
	Py_XDECREF(r->headers);
	Py_XDECREF(r->chunks);
	Py_XDECREF(r->write);
	PyObject_Free(r);
}

static PyMethodDef r_methods[2] = {
	{ "write", (PyCFunction)r_write, METH_O, "write(bytes): body data" },
	{ NULL, NULL, 0, NULL },
};

static PyTypeObject ResponderType = {
	PyVarObject_HEAD_INIT(NULL, 0)
	.tp_name = "sticky.start_response",
	.tp_basicsize = sizeof(ResponderObject),
	.tp_flags = Py_TPFLAGS_DEFAULT,
	.tp_dealloc = (destructor)r_dealloc,
	.tp_call = (ternaryfunc)start_response,
	.tp_methods = r_methods,
};

static ResponderObject *
responder_new(void)
{
	ResponderObject *r = PyObject_New(ResponderObject, &ResponderType);

	if (r == NULL)
		return NULL;
	r->started = r->sent = r->finished = 0;
	r->status = 200;
	r->headers = NULL;
	r->write = NULL;
	if ((r->chunks = PyList_New(0)) == NULL) {
		Py_DECREF(r);
		return NULL;
	}
	return r;
}

/* ---- wsgi.errors ---- */

typedef struct {
	PyObject_HEAD
	PyObject *pending; /* text of an unfinished line */
} ErrorsObject;

static void
errors_emit(const char *s, Py_ssize_t n)
{
	char line[800];
	size_t k = (size_t)n < sizeof(line) - 1 ? (size_t)n : sizeof(line) - 1;

	memcpy(line, s, k);
	line[k] = '\0';
	sticky_log(STICKY_LOG_WARN, "wsgi_errors", line);
}

static PyObject *
e_write(ErrorsObject *e, PyObject *text)
{
	PyObject *all;
	const char *s, *nl;
	Py_ssize_t n;

	if (!PyUnicode_Check(text)) {
		PyErr_SetString(PyExc_TypeError, "wsgi.errors takes str");
		return NULL;
	}
	if (e->pending != NULL) {
		if ((all = PyUnicode_Concat(e->pending, text)) == NULL)
			return NULL;
		Py_CLEAR(e->pending);
	} else
		all = Py_NewRef(text);
	if ((s = PyUnicode_AsUTF8AndSize(all, &n)) == NULL) {
		Py_DECREF(all);
		return NULL;
	}
	while ((nl = memchr(s, '\n', (size_t)n)) != NULL) {
		errors_emit(s, nl - s);
		n -= nl - s + 1;
		s = nl + 1;
	}
	if (n > 0)
		e->pending = PyUnicode_FromStringAndSize(s, n);
	Py_DECREF(all);
	return PyLong_FromSsize_t(PyUnicode_GET_LENGTH(text));
}

static PyObject *
e_flush(ErrorsObject *e, PyObject *unused)
{
	if (e->pending != NULL) {
		Py_ssize_t n;
		const char *s = PyUnicode_AsUTF8AndSize(e->pending, &n);

		if (s != NULL)
			errors_emit(s, n);
		Py_CLEAR(e->pending);
	}
	PyErr_Clear();
	Py_RETURN_NONE;
}

static PyObject *
e_writelines(ErrorsObject *e, PyObject *seq)
{
	PyObject *it = PyObject_GetIter(seq), *item, *r;

	if (it == NULL)
		return NULL;
	while ((item = PyIter_Next(it)) != NULL) {
		r = e_write(e, item);
		Py_DECREF(item);
		if (r == NULL) {
			Py_DECREF(it);
			return NULL;
		}
		Py_DECREF(r);
	}
	Py_DECREF(it);
	if (PyErr_Occurred())
		return NULL;
	Py_RETURN_NONE;
}

static PyMethodDef e_methods[] = {
	{ "write", (PyCFunction)e_write, METH_O, "log text, one line per line" },
	{ "writelines", (PyCFunction)e_writelines, METH_O, NULL },
	{ "flush", (PyCFunction)e_flush, METH_NOARGS, NULL },
	{ NULL, NULL, 0, NULL },
};

static PyTypeObject ErrorsType = {
	PyVarObject_HEAD_INIT(NULL, 0)
	.tp_name = "sticky.ErrorStream",
	.tp_basicsize = sizeof(ErrorsObject),
	.tp_flags = Py_TPFLAGS_DEFAULT,
	.tp_doc = "wsgi.errors: text written here goes to sticky's log.",
	.tp_methods = e_methods,
	.tp_new = PyType_GenericNew,
};

int
wsgi_types_init(struct pyapp *pa)
{
	PyObject *mod, *modules = PyImport_GetModuleDict(); /* borrowed */
	int rc;

	/* import sticky: the exception and the session's type, for apps. */
	if ((mod = PyModule_New("sticky")) == NULL)
		return -1;
	rc = PyType_Ready(&ResponderType) != 0 || PyType_Ready(&ErrorsType) != 0 ||
	    session_type_init(mod) != 0 ||
	    PyModule_AddStringConstant(mod, "__version__", STICKY_VERSION) != 0 ||
	    PyDict_SetItemString(modules, "sticky", mod) != 0;
	Py_DECREF(mod);
	if (rc)
		return -1;
	if ((pa->errors = PyObject_CallNoArgs((PyObject *)&ErrorsType)) == NULL ||
	    (pa->version = Py_BuildValue("(ii)", 1, 0)) == NULL ||
	    (pa->http = PyUnicode_InternFromString("http")) == NULL ||
	    (pa->https = PyUnicode_InternFromString("https")) == NULL)
		return -1;
	return 0;
}

/* ---- environ ---- */

/*
 * The names of CGI variables as Python strings, made once: a small
 * fixed table (a front-end sends the same few dozen names every time;
 * names that collide or overflow it are made per request, so a client
 * cannot grow it).
 */
#define KEY_SLOTS 512
static struct {
	char name[48];
	PyObject *key;
} key_cache[KEY_SLOTS];

static PyObject *
key_of(const char *name)
{
	uint32_t h = 2166136261u;
	size_t n = 0;
	PyObject *k;

	for (; name[n] != '\0'; n++)
		h = (h ^ (unsigned char)name[n]) * 16777619u;
	h = (h ^ (h >> 16)) % KEY_SLOTS;
	if (key_cache[h].key != NULL && n < sizeof(key_cache[h].name) &&
	    memcmp(key_cache[h].name, name, n + 1) == 0)
		return Py_NewRef(key_cache[h].key);
	if ((k = PyUnicode_DecodeLatin1(name, (Py_ssize_t)n, NULL)) == NULL)
		return NULL;
	if (key_cache[h].key == NULL && n < sizeof(key_cache[h].name)) {
		PyUnicode_InternInPlace(&k);
		memcpy(key_cache[h].name, name, n + 1);
		key_cache[h].key = Py_NewRef(k);
	}
	return k;
}

static int
set_str(PyObject *d, const char *key, const char *val, size_t len)
{
	PyObject *k, *v;
	int rc;

	if ((k = key_of(key)) == NULL)
		return -1;
	if ((v = PyUnicode_DecodeLatin1(val, (Py_ssize_t)len, NULL)) == NULL) {
		Py_DECREF(k);
		return -1;
	}
	rc = PyDict_SetItem(d, k, v);
	Py_DECREF(k);
	Py_DECREF(v);
	return rc;
}

static int
set_obj(PyObject *d, const char *key, PyObject *v)
{
	PyObject *k = key_of(key);
	int rc;

	if (k == NULL)
		return -1;
	rc = PyDict_SetItem(d, k, v);
	Py_DECREF(k);
	return rc;
}

/* The path below the mount point: PATH_INFO. */
static const char *
path_info(struct pyapp *pa, struct sticky_req *req, size_t *len)
{
	const char *p = sticky_req_path(req), *u;
	size_t m = strlen(pa->mount);

	/* A front-end that sends neither DOCUMENT_URI nor SCRIPT_NAME. */
	if (strcmp(p, "/") == 0 && (u = sticky_req_param(req, "REQUEST_URI")) != NULL &&
	    *u == '/')
		p = u, *len = strcspn(u, "?");
	else
		*len = strlen(p);
	if (m > 0 && *len >= m && strncmp(p, pa->mount, m) == 0 &&
	    (p[m] == '/' || *len == m)) {
		p += m;
		*len -= m;
	}
	return p;
}

/* What PEP 3333 requires in environ, with what stands in when missing. */
static const struct {
	const char *name, *def;
} required[] = {
	{ "REQUEST_METHOD", "GET" },
	{ "QUERY_STRING", "" },
	{ "SERVER_NAME", "localhost" },
	{ "SERVER_PORT", "80" },
	{ "SERVER_PROTOCOL", "HTTP/1.1" },
};
#define NREQUIRED ((int)(sizeof(required) / sizeof(required[0])))

static PyObject *
build_environ(struct pyapp *pa, struct sticky_req *req, PyObject *session)
{
	PyObject *env = PyDict_New(), *body, *input;
	const char *name, *value, *pi, *https = NULL;
	size_t blen, pilen;
	unsigned seen = 0;
	const void *b;

	if (env == NULL)
		return NULL;
	for (size_t i = 0; sticky_req_param_at(req, i, &name, &value) == 0; i++) {
		if (set_str(env, name, value, strlen(value)) != 0)
			goto fail;
		for (int j = 0; j < NREQUIRED; j++)
			if (name[0] == required[j].name[0] &&
			    strcmp(name, required[j].name) == 0)
				seen |= 1u << j;
		if (strcmp(name, "HTTPS") == 0)
			https = value;
		else if (name[0] == 'C' && strcmp(name, "CONTENT_LENGTH") == 0 &&
		    *value == '\0' &&
		    PyDict_DelItemString(env, "CONTENT_LENGTH") != 0)
			goto fail; /* empty is "unknown": dropped (wsgiref.validate) */
	}
	pi = path_info(pa, req, &pilen);
	if (set_str(env, "SCRIPT_NAME", pa->mount, strlen(pa->mount)) != 0 ||
	    set_str(env, "PATH_INFO", pi, pilen) != 0)
		goto fail;
	/* What PEP 3333 requires and some front-ends leave out. */
	for (int j = 0; j < NREQUIRED; j++)
		if (!(seen & (1u << j)) && set_str(env, required[j].name,
		    required[j].def, strlen(required[j].def)) != 0)
			goto fail;
	b = sticky_req_body(req, &blen);
	if ((body = PyBytes_FromStringAndSize(blen > 0 ? b : "", (Py_ssize_t)blen)) == NULL)
		goto fail;
	input = PyObject_CallOneArg(pa->bytesio, body);
	Py_DECREF(body);
	if (input == NULL)
		goto fail;
	if (set_obj(env, "wsgi.input", input) != 0) {
		Py_DECREF(input);
		goto fail;
	}
	Py_DECREF(input);
	if (set_obj(env, "wsgi.version", pa->version) != 0 ||
	    set_obj(env, "wsgi.url_scheme",
	    https != NULL && (strcasecmp(https, "on") == 0 ||
	    strcmp(https, "1") == 0) ? pa->https : pa->http) != 0 ||
	    set_obj(env, "wsgi.errors", pa->errors) != 0 ||
	    set_obj(env, "wsgi.multithread", Py_False) != 0 ||
	    set_obj(env, "wsgi.multiprocess", Py_True) != 0 ||
	    set_obj(env, "wsgi.run_once", Py_False) != 0 ||
	    set_obj(env, "wsgi.input_terminated", Py_True) != 0 ||
	    set_obj(env, "wsgi.file_wrapper", pa->file_wrapper) != 0 ||
	    set_obj(env, "sticky.session", session) != 0)
		goto fail;
	return env;
fail:
	Py_DECREF(env);
	return NULL;
}

/* ---- running the app ---- */

/* getattr without an AttributeError when it is missing (*v NULL then). */
static int
lookup_attr(PyObject *o, PyObject *name, PyObject **v)
{
#if PY_VERSION_HEX >= 0x030D0000
	return PyObject_GetOptionalAttr(o, name, v);
#else
	return _PyObject_LookupAttr(o, name, v);
#endif
}

/* Run the app and exhaust its iterable; 0, or -1 with an exception set. */
static int
run_app(struct pyapp *pa, PyObject *env, ResponderObject *r)
{
	PyObject *result, *it = NULL, *item, *close, *cr;
	int rc = 0;

	if ((result = PyObject_CallFunctionObjArgs(pa->app, env, (PyObject *)r,
	    NULL)) == NULL)
		return -1;
	if (PyList_CheckExact(result) || PyTuple_CheckExact(result)) {
		for (Py_ssize_t i = 0; i < PySequence_Fast_GET_SIZE(result); i++)
			if (add_chunk(r, PySequence_Fast_GET_ITEM(result, i)) != 0) {
				rc = -1;
				break;
			}
	} else if ((it = PyObject_GetIter(result)) == NULL) {
		rc = -1;
	} else {
		while ((item = PyIter_Next(it)) != NULL) {
			int bad = add_chunk(r, item);

			Py_DECREF(item);
			if (bad) {
				rc = -1;
				break;
			}
		}
		if (rc == 0 && PyErr_Occurred())
			rc = -1;
		Py_DECREF(it);
	}
	/*
	 * close() runs in any case, keeping the first error (a list or a
	 * tuple has none: no lookup, which would make an AttributeError).
	 */
	if (!PyList_CheckExact(result) && !PyTuple_CheckExact(result)) {
		static PyObject *name_close;
		PyObject *t = NULL, *v = NULL, *tb = NULL;
		int failed = 0;

		if (rc != 0)
			PyErr_Fetch(&t, &v, &tb);
		close = NULL;
		if ((name_close == NULL &&
		    (name_close = PyUnicode_InternFromString("close")) == NULL) ||
		    lookup_attr(result, name_close, &close) < 0)
			failed = 1;
		else if (close != NULL) {
			cr = PyObject_CallNoArgs(close);
			Py_DECREF(close);
			failed = cr == NULL;
			Py_XDECREF(cr);
		}
		if (failed && rc == 0)
			rc = -1;
		else if (failed)
			PyErr_Clear();
		if (t != NULL)
			PyErr_Restore(t, v, tb);
	}
	Py_DECREF(result);
	if (rc == 0 && !r->started) {
		PyErr_SetString(PyExc_AssertionError,
		    "the application returned without calling start_response");
		rc = -1;
	}
	return rc;
}

static int
send_response(struct sticky_req *req, ResponderObject *r)
{
	int rc = sticky_req_set_status(req, r->status);

	for (Py_ssize_t i = 0; rc == 0 && i < PyList_GET_SIZE(r->headers); i++) {
		PyObject *h = PyList_GET_ITEM(r->headers, i);
		const char *n = PyUnicode_AsUTF8(PyTuple_GET_ITEM(h, 0));
		const char *v = PyUnicode_AsUTF8(PyTuple_GET_ITEM(h, 1));

		if (n == NULL || v == NULL)
			return -1;
		rc = sticky_req_add_header(req, n, v);
	}
	for (Py_ssize_t i = 0; rc == 0 && i < PyList_GET_SIZE(r->chunks); i++) {
		PyObject *c = PyList_GET_ITEM(r->chunks, i);

		rc = sticky_req_write(req, PyBytes_AS_STRING(c),
		    (size_t)PyBytes_GET_SIZE(c));
	}
	if (rc == 0 && PyList_GET_SIZE(r->chunks) == 0)
		rc = sticky_req_write(req, "", 0); /* an empty body is an answer */
	return rc;
}

int
wsgi_handler(struct sticky_req *req, void *appdata)
{
	struct pyapp *pa = appdata;
	PyObject *session, *env = NULL;
	ResponderObject *r = NULL;
	int failed = 0, rc = 0;
	char what[200];

	if ((session = session_new(pa, req)) == NULL) {
		PyErr_Clear();
		return STICKY_ENOMEM;
	}
	if ((r = responder_new()) == NULL ||
	    (env = build_environ(pa, req, session)) == NULL ||
	    run_app(pa, env, r) != 0) {
		snprintf(what, sizeof(what), "%s %.120s: the application raised; "
		    "answered 500", sticky_req_method(req), sticky_req_path(req));
		interp_log_exception("app_exception", what);
		failed = 1;
	}
	/* State the app touched is checkpointed, also when it raised. */
	if (session_finish(session, failed) != 0)
		failed = 1;
	if (!failed && send_response(req, r) != 0) {
		PyErr_Clear();
		sticky_log(STICKY_LOG_ERR, "response_refused",
		    "a header sticky refuses, or out of memory: answered 500");
		failed = 1;
		rc = STICKY_EINVAL;
	}
	if (r != NULL) {
		r->finished = 1;
		Py_CLEAR(r->write); /* the bound method refers back to r */
	}
	Py_XDECREF(env);
	Py_XDECREF((PyObject *)r);
	Py_DECREF(session);
	if (failed)
		return rc != 0 ? rc : STICKY_EINVAL;
	return 0;
}
