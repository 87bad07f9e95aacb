/*
 * interp.c: the interpreter's lifecycle.  The master starts CPython once,
 * imports the application (and the optional state factory and worker hook)
 * before fork, so what the import loads is shared copy-on-write by every
 * worker; fork hooks keep the interpreter sound across fork(); each worker
 * then runs the per-worker hook.  The interpreter is never finalised: a
 * worker exits with its process, the master after its workers.
 */
#include "pyapp.h" /* Python.h first */

#include <pthread.h>
#include <string.h>

#ifndef STICKY_PYTHON_EXE
#define STICKY_PYTHON_EXE "/usr/bin/python3"
#endif

PyObject *
interp_resolve(const char *spec)
{
	const char *colon = strchr(spec, ':');
	PyObject *mod, *obj;
	char *modname, *attrs, *save = NULL;

	if (colon == NULL || colon == spec || colon[1] == '\0') {
		PyErr_Format(PyExc_ValueError,
		    "%s: expected module:callable (e.g. app:application)", spec);
		return NULL;
	}
	if ((modname = strndup(spec, (size_t)(colon - spec))) == NULL)
		return PyErr_NoMemory();
	mod = PyImport_ImportModule(modname);
	free(modname);
	if (mod == NULL)
		return NULL;
	if ((attrs = strdup(colon + 1)) == NULL) {
		Py_DECREF(mod);
		return PyErr_NoMemory();
	}
	obj = mod;
	for (char *a = strtok_r(attrs, ".", &save); a != NULL && obj != NULL;
	    a = strtok_r(NULL, ".", &save)) {
		PyObject *next = PyObject_GetAttrString(obj, a);

		Py_DECREF(obj);
		obj = next;
	}
	free(attrs);
	if (obj != NULL && !PyCallable_Check(obj)) {
		PyErr_Format(PyExc_TypeError, "%s is not callable", spec);
		Py_CLEAR(obj);
	}
	return obj;
}

void
interp_log_exception(const char *event, const char *what)
{
	PyObject *type, *value, *tb, *mod = NULL, *lines = NULL;

	PyErr_Fetch(&type, &value, &tb);
	if (type == NULL)
		return;
	PyErr_NormalizeException(&type, &value, &tb);
	sticky_log(STICKY_LOG_ERR, event, what);
	if ((mod = PyImport_ImportModule("traceback")) != NULL)
		lines = PyObject_CallMethod(mod, "format_exception", "OOO",
		    type, value, tb != NULL ? tb : Py_None);
	if (lines != NULL && PyList_Check(lines)) {
		for (Py_ssize_t i = 0; i < PyList_GET_SIZE(lines); i++) {
			const char *s = PyUnicode_AsUTF8(PyList_GET_ITEM(lines, i));
			char *copy, *save = NULL;

			if (s == NULL || (copy = strdup(s)) == NULL)
				break;
			/* One log line per traceback line. */
			for (char *l = strtok_r(copy, "\n", &save); l != NULL;
			    l = strtok_r(NULL, "\n", &save))
				sticky_log(STICKY_LOG_ERR, event, l);
			free(copy);
		}
	}
	PyErr_Clear();
	Py_XDECREF(lines);
	Py_XDECREF(mod);
	Py_XDECREF(type);
	Py_XDECREF(value);
	Py_XDECREF(tb);
}

static PyObject *
attr_of(const char *module, const char *name)
{
	PyObject *mod = PyImport_ImportModule(module), *obj;

	if (mod == NULL)
		return NULL;
	obj = PyObject_GetAttrString(mod, name);
	Py_DECREF(mod);
	return obj;
}

static int
start_python(struct pyapp *pa)
{
	PyConfig config;
	PyStatus st;
	PyObject *path;

	PyConfig_InitPythonConfig(&config);
	/* sticky owns the signals; Python must not take SIGINT or SIGPIPE. */
	config.install_signal_handlers = 0;
	config.parse_argv = 0;
	/* Debian's interpreter and its dist-packages, whatever python3 is on PATH. */
	st = PyConfig_SetBytesString(&config, &config.program_name,
	    STICKY_PYTHON_EXE);
	if (!PyStatus_Exception(st))
		st = Py_InitializeFromConfig(&config);
	PyConfig_Clear(&config);
	if (PyStatus_Exception(st)) {
		sticky_log(STICKY_LOG_ERR, "python_init_failed",
		    st.err_msg != NULL ? st.err_msg : "Py_InitializeFromConfig");
		return -1;
	}
	if ((path = PySys_GetObject("path")) == NULL) /* borrowed */
		return -1;
	for (size_t i = pa->npaths; i-- > 0;) {
		PyObject *p = PyUnicode_DecodeFSDefault(pa->paths[i]);

		if (p == NULL || PyList_Insert(path, 0, p) != 0) {
			Py_XDECREF(p);
			return -1;
		}
		Py_DECREF(p);
	}
	return 0;
}

/*
 * pickle.dumps and pickle.loads, called through two Python functions: a
 * pickle made from C outside any Python frame (a flush between requests)
 * finds no globals, so every import that pickling a global does (numpy's
 * reduce imports two modules, pickle checks each global it names) looked
 * up "builtins" through the import system and raised and dropped an
 * AttributeError each time (__spec__._initializing): a 64 KiB state's
 * pickle took ~40 us instead of ~10.  Inside these frames the builtins
 * come from their globals.
 */
static const char pickle_helpers[] =
	"from pickle import dumps as _dumps, loads as _loads\n"
	"def dump(obj, cb):\n"
	"    return _dumps(obj, protocol=5, buffer_callback=cb)\n"
	"def load(data, buffers):\n"
	"    return _loads(data, buffers=buffers)\n";

static int
pickle_init(struct pyapp *pa)
{
	PyObject *g = PyDict_New(), *r = NULL;
	int rc = -1;

	if (g == NULL ||
	    PyDict_SetItemString(g, "__builtins__", PyEval_GetBuiltins()) != 0 ||
	    (r = PyRun_String(pickle_helpers, Py_file_input, g, g)) == NULL)
		goto out;
	pa->dumps = PyDict_GetItemString(g, "dump"); /* borrowed */
	pa->loads = PyDict_GetItemString(g, "load");
	if (pa->dumps == NULL || pa->loads == NULL)
		goto out;
	Py_INCREF(pa->dumps);
	Py_INCREF(pa->loads);
	rc = 0;
out:
	Py_XDECREF(r);
	Py_XDECREF(g);
	return rc;
}

int
interp_start(struct pyapp *pa)
{
	PyObject *gc;

	if (start_python(pa) != 0)
		goto fail;
	/*
	 * fork() in the master: take the import lock and the interpreter's
	 * locks before, reinitialise them in the child (what os.fork() does).
	 * The master's one thread holds the GIL throughout.
	 */
	if (pthread_atfork(PyOS_BeforeFork, PyOS_AfterFork_Parent,
	    PyOS_AfterFork_Child) != 0) {
		sticky_log(STICKY_LOG_ERR, "python_init_failed", "pthread_atfork");
		return -1;
	}
	if (pickle_init(pa) != 0 ||
	    (pa->bytesio = attr_of("io", "BytesIO")) == NULL ||
	    (pa->file_wrapper = attr_of("wsgiref.util", "FileWrapper")) == NULL ||
	    wsgi_types_init(pa) != 0)
		goto fail;
	if ((pa->app = interp_resolve(pa->app_spec)) == NULL) {
		interp_log_exception("python_import_failed", pa->app_spec);
		return -1;
	}
	if (pa->factory_spec != NULL &&
	    (pa->factory = interp_resolve(pa->factory_spec)) == NULL) {
		interp_log_exception("python_import_failed", pa->factory_spec);
		return -1;
	}
	if (pa->winit_spec != NULL &&
	    (pa->winit = interp_resolve(pa->winit_spec)) == NULL) {
		interp_log_exception("python_import_failed", pa->winit_spec);
		return -1;
	}
	/*
	 * Everything imported so far lives as long as the process: keep the
	 * cyclic collector's hands off it, so its bookkeeping writes do not
	 * unshare the pages every worker inherits (gc.freeze, Python 3.7+).
	 */
	if ((gc = PyImport_ImportModule("gc")) != NULL) {
		PyObject *r = PyObject_CallMethod(gc, "collect", NULL);

		Py_XDECREF(r);
		r = PyObject_CallMethod(gc, "freeze", NULL);
		Py_XDECREF(r);
		Py_DECREF(gc);
	}
	PyErr_Clear();
	sticky_log(STICKY_LOG_INFO, "python_app_loaded", pa->app_spec);
	return 0;
fail:
	if (Py_IsInitialized())
		interp_log_exception("python_init_failed", "interpreter setup");
	return -1;
}

int
interp_worker_init(struct pyapp *pa, const char *tag)
{
	PyObject *r;

	if (pa->winit == NULL)
		return 0;
	if ((r = PyObject_CallFunction(pa->winit, "s", tag)) == NULL) {
		interp_log_exception("python_worker_init_failed",
		    pa->winit_spec);
		return -1;
	}
	Py_DECREF(r);
	return 0;
}
