/*
 * state.c: the codec of sticky-wsgi.  A user's state is any picklable
 * Python object, kept live in the worker between requests.
 *
 * Encoding: pickle protocol 5 with out-of-band buffers (PEP 574).  Large
 * contiguous buffers (numpy arrays; 4 KiB and up; bytes and bytearray are
 * written in band by CPython's pickler whatever we ask) are not
 * copied into the pickle stream: each is laid at a page-aligned offset of
 * the payload, so a request that changes a few elements of a large array
 * changes a few pages, and sticky's page-delta checkpoints send only those.
 *
 *   "SPK1" | u32 nbuf | u64 pickle_off | u64 pickle_len |
 *   nbuf x (u64 off | u64 len) | buffers, each at a multiple of 4096 |
 *   the pickle stream (in an image, followed by zeros to a page boundary)
 *
 * Integers are big-endian.  Restoring copies the payload into one
 * bytearray and does not unpickle it: that waits for the first access to
 * session.state, and the out-of-band buffers become writable memoryviews
 * of that bytearray (no second copy; numpy arrays come back writable).
 * A restored state that is never accessed is written back as it came.
 *
 * Unpickling runs code: the codec is flagged STICKY_CODEC_NEEDS_MAC, so
 * sticky decodes only checkpoints authenticated under the server secret.
 *
 * The image (session.touch): once an app reports which bytes of its
 * arrays a request changed, the state's payload is kept laid out in C
 * memory and the codec gives sticky a view of it (codec.view).  A flush
 * then re-pickles the object (the arrays stay out of band: no copy),
 * copies only the touched ranges and the new pickle stream into the image,
 * and sticky reads and sends only those pages: no full copy of the
 * arrays, no comparison with the last checkpoint.  The image holds the
 * PickleBuffers it laid out, so their memory stays where it is.  Its
 * pickle region has room for the stream to grow (zeros after it, which
 * pickle.loads ignores).  A request that changed the state without
 * touch() (or raised) has its arrays compared with the image at its end,
 * page by page, and the changed pages reported as touched.  A change of
 * layout (an array replaced or resized, a stream that outgrew its region)
 * drops the image and the whole payload is encoded again; so does a state
 * whose arrays share memory, which never gets an image.
 */
#include "pyapp.h" /* Python.h first */

#include <stdlib.h>
#include <string.h>

#define SCHEMA 1
#define PAGE 4096
#define OOB_MIN 4096  /* smaller buffers stay in the pickle stream */
#define MAX_BUFS 65536
#define HDR_FIXED 24

struct pystate {
	PyObject *obj;     /* the live object once loaded (may be None) */
	int loaded;
	PyObject *raw;     /* bytearray: restored payload, not yet unpickled */
	PyObject *pickled; /* bytes: last good pickle stream of obj */
	PyObject *buffers; /* list of PickleBuffer: its out-of-band data */
	int bad;           /* the last encode could not pickle obj (logged) */
	size_t payload;    /* bytes of the last payload encoded or decoded */
	/* The image (see the top): NULL unless the app reports its changes. */
	unsigned char *img;
	size_t img_len, img_cap;
	size_t img_plen;    /* the pickle stream's length in img */
	PyObject *img_bufs; /* the PickleBuffers laid out in img */
	int precise;        /* the app calls session.touch() for this state */
	int stale;          /* img lags the object: refresh when viewed */
	int hold;           /* view as is (its length only): no refresh */
	struct pend *pend;  /* touched ranges not yet copied into img */
	size_t npend, pend_cap;
};

/* A touched range of an array, to copy into the image at the next flush. */
struct pend {
	size_t off;               /* in the image */
	const unsigned char *src; /* in the array (kept alive by img_bufs) */
	size_t len;
};
#define PEND_MAX 4096 /* more ranges than this: compared instead */

static void
put64(unsigned char *p, uint64_t v)
{
	for (int i = 7; i >= 0; i--, v >>= 8)
		p[i] = (unsigned char)(v & 0xff);
}

static uint64_t
get64(const unsigned char *p)
{
	uint64_t v = 0;

	for (int i = 0; i < 8; i++)
		v = (v << 8) | p[i];
	return v;
}

static void
put32(unsigned char *p, uint32_t v)
{
	for (int i = 3; i >= 0; i--, v >>= 8)
		p[i] = (unsigned char)(v & 0xff);
}

static uint32_t
get32(const unsigned char *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	    (uint32_t)p[2] << 8 | p[3];
}

/* ---- the codec ---- */

static void *
st_create(void *appdata)
{
	/* Loaded on first access: the factory runs in state_get. */
	return calloc(1, sizeof(struct pystate));
}

static void
st_destroy(void *state, void *appdata)
{
	struct pystate *st = state;

	Py_XDECREF(st->obj);
	Py_XDECREF(st->raw);
	Py_XDECREF(st->pickled);
	Py_XDECREF(st->buffers);
	Py_XDECREF(st->img_bufs);
	free(st->img);
	free(st->pend);
	free(st);
}

/* Check a payload's table; 0 or STICKY_ECORRUPT. */
static int
check_layout(const unsigned char *p, size_t len, uint32_t *nbuf)
{
	uint64_t off, n;

	if (len < HDR_FIXED || memcmp(p, "SPK1", 4) != 0)
		return STICKY_ECORRUPT;
	*nbuf = get32(p + 4);
	if (*nbuf > MAX_BUFS || HDR_FIXED + 16 * (size_t)*nbuf > len)
		return STICKY_ECORRUPT;
	off = get64(p + 8);
	n = get64(p + 16);
	if (off > len || n > len - off)
		return STICKY_ECORRUPT;
	for (uint32_t i = 0; i < *nbuf; i++) {
		off = get64(p + HDR_FIXED + 16 * i);
		n = get64(p + HDR_FIXED + 16 * i + 8);
		if (off > len || n > len - off)
			return STICKY_ECORRUPT;
	}
	return 0;
}

static int
st_decode(void **state, const void *data, size_t len, uint32_t schema,
    void *appdata)
{
	struct pystate *st;
	uint32_t nbuf;
	int rc;

	if (schema != SCHEMA)
		return STICKY_EVERSION;
	if ((rc = check_layout(data, len, &nbuf)) != 0)
		return rc;
	if ((st = calloc(1, sizeof(*st))) == NULL)
		return STICKY_ENOMEM;
	if (len > PY_SSIZE_T_MAX ||
	    (st->raw = PyByteArray_FromStringAndSize(data, (Py_ssize_t)len)) == NULL) {
		PyErr_Clear();
		free(st);
		return STICKY_ENOMEM;
	}
	st->payload = len;
	*state = st;
	return 0;
}

/*
 * The pickle region of an image: the stream and room for it to grow by
 * half and 64 bytes (the header gives the region's length; the zeros
 * after the stream are ignored by pickle.loads, which stops at STOP).  A
 * state whose pickle stream grows by a few bytes keeps its layout.
 */
static size_t
region_for(size_t plen)
{
	return plen + plen / 2 + 64;
}

/*
 * The size of the layout of pickled + buffers (see the top of the file),
 * and the length of its pickle region: the stream's, or with room to grow
 * for an image.
 */
static int
layout_size(PyObject *pickled, PyObject *buffers, int image, size_t *size,
    size_t *region)
{
	Py_ssize_t nbuf = PyList_GET_SIZE(buffers);
	size_t pos = HDR_FIXED + 16 * (size_t)nbuf;
	size_t plen = (size_t)PyBytes_GET_SIZE(pickled);

	if (nbuf > MAX_BUFS)
		return STICKY_ETOOBIG;
	for (Py_ssize_t i = 0; i < nbuf; i++) {
		const Py_buffer *v = PyPickleBuffer_GetBuffer(
		    PyList_GET_ITEM(buffers, i));

		if (v == NULL) {
			PyErr_Clear();
			return STICKY_EINVAL; /* released: re-pickled next time */
		}
		pos = (pos + PAGE - 1) / PAGE * PAGE + (size_t)v->len;
	}
	*region = image ? region_for(plen) : plen;
	*size = pos + *region;
	return 0;
}

/* Lay out pickled + buffers at p (layout_size bytes). */
static void
layout_write(unsigned char *p, PyObject *pickled, PyObject *buffers,
    size_t region)
{
	Py_ssize_t nbuf = PyList_GET_SIZE(buffers);
	size_t hdr = HDR_FIXED + 16 * (size_t)nbuf, pos = hdr;
	size_t plen = (size_t)PyBytes_GET_SIZE(pickled);

	for (Py_ssize_t i = 0; i < nbuf; i++)
		pos = (pos + PAGE - 1) / PAGE * PAGE + (size_t)
		    PyPickleBuffer_GetBuffer(PyList_GET_ITEM(buffers, i))->len;
	memcpy(p, "SPK1", 4);
	put32(p + 4, (uint32_t)nbuf);
	put64(p + 8, pos);
	put64(p + 16, region);
	pos = hdr;
	for (Py_ssize_t i = 0; i < nbuf; i++) {
		const Py_buffer *v = PyPickleBuffer_GetBuffer(
		    PyList_GET_ITEM(buffers, i));
		size_t at = (pos + PAGE - 1) / PAGE * PAGE;

		memset(p + pos, 0, at - pos);
		put64(p + HDR_FIXED + 16 * (size_t)i, at);
		put64(p + HDR_FIXED + 16 * (size_t)i + 8, (uint64_t)v->len);
		memcpy(p + at, v->buf, (size_t)v->len);
		pos = at + (size_t)v->len;
	}
	memcpy(p + pos, PyBytes_AS_STRING(pickled), plen);
	memset(p + pos + plen, 0, region - plen);
}

static int
write_layout(PyObject *pickled, PyObject *buffers, struct sticky_buf *out)
{
	size_t n, region;
	unsigned char *p;
	int rc;

	if ((rc = layout_size(pickled, buffers, 0, &n, &region)) != 0)
		return rc;
	if ((p = sticky_buf_reserve(out, n)) == NULL)
		return STICKY_ENOMEM;
	layout_write(p, pickled, buffers, region);
	return 0;
}

/* ---- the image ---- */

static void
image_drop(struct pystate *st)
{
	free(st->img);
	st->img = NULL;
	st->img_len = st->img_cap = st->img_plen = 0;
	Py_CLEAR(st->img_bufs);
	st->stale = 0;
	st->npend = 0;
}

static int
by_address(const void *a, const void *b)
{
	const Py_buffer *x = *(const Py_buffer *const *)a;
	const Py_buffer *y = *(const Py_buffer *const *)b;
	uintptr_t p = (uintptr_t)x->buf, q = (uintptr_t)y->buf;

	return p < q ? -1 : p > q;
}

/*
 * Do two of the out-of-band buffers share memory (a view pickled next to
 * its base, {"m": m, "row": m[0]})?  The image keeps one copy of each, and
 * a touch maps to one of them: such a state is never kept as an image.
 */
static int
buffers_overlap(PyObject *buffers)
{
	Py_ssize_t n = PyList_GET_SIZE(buffers);
	const Py_buffer **v;
	int over = 0;

	if (n < 2)
		return 0;
	if ((v = malloc((size_t)n * sizeof(*v))) == NULL)
		return 1;
	for (Py_ssize_t i = 0; i < n; i++)
		if ((v[i] = PyPickleBuffer_GetBuffer(PyList_GET_ITEM(buffers,
		    i))) == NULL) {
			PyErr_Clear();
			free(v);
			return 1;
		}
	qsort(v, (size_t)n, sizeof(*v), by_address);
	for (Py_ssize_t i = 1; i < n && !over; i++)
		over = (const unsigned char *)v[i - 1]->buf + v[i - 1]->len >
		    (const unsigned char *)v[i]->buf;
	free(v);
	return over;
}

/* The image now holds the current pickle: its buffers are the image's. */
static void
image_current(struct pystate *st)
{
	Py_INCREF(st->buffers);
	Py_XSETREF(st->img_bufs, st->buffers);
	st->stale = 0;
	st->npend = 0;
}

/* Lay the current pickle out into the image; 1: not as an image. */
static int
image_build(struct pystate *st)
{
	size_t n, region;
	int rc;

	if (buffers_overlap(st->buffers))
		return 1;
	if ((rc = layout_size(st->pickled, st->buffers, 1, &n, &region)) != 0)
		return rc;
	if (n > st->img_cap) {
		unsigned char *p = realloc(st->img, n);

		if (p == NULL)
			return STICKY_ENOMEM;
		st->img = p;
		st->img_cap = n;
	}
	layout_write(st->img, st->pickled, st->buffers, region);
	st->img_len = n;
	st->img_plen = (size_t)PyBytes_GET_SIZE(st->pickled);
	image_current(st);
	return 0;
}

/*
 * Bring the image up to date in place: the touched ranges and the new
 * pickle stream.  -1 when the layout changed (the caller drops the image).
 */
static int
image_refresh(struct pystate *st, struct pyapp *pa)
{
	Py_ssize_t nbuf;
	size_t plen, poff;

	if (st->pickled == NULL && state_snapshot(st, pa) != 0) {
		PyErr_Clear(); /* the encode that follows logs it */
		return -1;
	}
	nbuf = PyList_GET_SIZE(st->buffers);
	if (nbuf != PyList_GET_SIZE(st->img_bufs))
		return -1;
	for (Py_ssize_t i = 0; i < nbuf; i++) {
		const Py_buffer *a = PyPickleBuffer_GetBuffer(
		    PyList_GET_ITEM(st->buffers, i));
		const Py_buffer *b = PyPickleBuffer_GetBuffer(
		    PyList_GET_ITEM(st->img_bufs, i));

		if (a == NULL || b == NULL) {
			PyErr_Clear();
			return -1;
		}
		if (a->buf != b->buf || a->len != b->len)
			return -1;
	}
	plen = (size_t)PyBytes_GET_SIZE(st->pickled);
	poff = (size_t)get64(st->img + 8);
	if (plen > (size_t)get64(st->img + 16))
		return -1; /* outgrew its region */
	for (size_t i = 0; i < st->npend; i++)
		memcpy(st->img + st->pend[i].off, st->pend[i].src,
		    st->pend[i].len);
	memcpy(st->img + poff, PyBytes_AS_STRING(st->pickled), plen);
	if (st->img_plen > plen)
		memset(st->img + poff + plen, 0, st->img_plen - plen);
	st->img_plen = plen;
	image_current(st);
	return 0;
}

/* Write out what pickled + buffers lay out: through the image if kept. */
static int
lay_out(struct pystate *st, struct sticky_buf *out)
{
	int rc;

	if (st->precise) {
		if ((rc = image_build(st)) == 0)
			return sticky_buf_append(out, st->img, st->img_len);
		image_drop(st);
		if (rc < 0)
			return rc;
	}
	return write_layout(st->pickled, st->buffers, out);
}

/*
 * codec.view: the image, brought up to date; an error without one (sticky
 * encodes then, and the encode lays a new image out).  The state is ours:
 * refreshing it is no change sticky would see.
 */
static int
st_view(const void *state, const void **data, size_t *len, void *appdata)
{
	struct pystate *st = (struct pystate *)(uintptr_t)state;

	if (st->img == NULL)
		return STICKY_EINVAL;
	if (st->stale && !st->hold && image_refresh(st, appdata) != 0) {
		image_drop(st);
		return STICKY_EINVAL;
	}
	*data = st->img;
	*len = st->img_len;
	return 0;
}

int
state_has_image(const struct pystate *st)
{
	return st->img != NULL && st->img_bufs != NULL;
}

int
state_touch(struct pystate *st, const unsigned char *p, size_t len,
    size_t *off)
{
	Py_ssize_t nbuf;

	if (!state_has_image(st) || st->npend == PEND_MAX)
		return -1;
	nbuf = PyList_GET_SIZE(st->img_bufs);
	for (Py_ssize_t i = 0; i < nbuf; i++) {
		const Py_buffer *v = PyPickleBuffer_GetBuffer(
		    PyList_GET_ITEM(st->img_bufs, i));
		const unsigned char *b;

		if (v == NULL) {
			PyErr_Clear();
			return -1;
		}
		b = v->buf;
		if (p < b || p > b + v->len || len > (size_t)(b + v->len - p))
			continue;
		*off = get64(st->img + HDR_FIXED + 16 * (size_t)i) +
		    (size_t)(p - b);
		if (st->npend == st->pend_cap) {
			size_t cap = st->pend_cap ? st->pend_cap * 2 : 8;
			struct pend *n = realloc(st->pend, cap * sizeof(*n));

			if (n == NULL)
				return -1;
			st->pend = n;
			st->pend_cap = cap;
		}
		st->pend[st->npend].off = *off;
		st->pend[st->npend].src = p;
		st->pend[st->npend++].len = len;
		return 0;
	}
	return -1;
}

int
state_compare(struct pystate *st, int (*changed)(void *, size_t, size_t),
    void *arg)
{
	Py_ssize_t nbuf;

	if (!state_has_image(st))
		return -1;
	nbuf = PyList_GET_SIZE(st->img_bufs);
	for (Py_ssize_t i = 0; i < nbuf; i++) {
		const Py_buffer *v = PyPickleBuffer_GetBuffer(
		    PyList_GET_ITEM(st->img_bufs, i));
		size_t at, n, run = 0, start = 0;

		if (v == NULL) {
			PyErr_Clear();
			return -1;
		}
		at = (size_t)get64(st->img + HDR_FIXED + 16 * (size_t)i);
		n = (size_t)v->len;
		/* Page by page (at is page-aligned): runs of changed pages. */
		for (size_t o = 0; o <= n; o += PAGE) {
			size_t k = n - o < PAGE ? n - o : PAGE;
			int diff = k > 0 && memcmp(st->img + at + o,
			    (const unsigned char *)v->buf + o, k) != 0;

			if (diff) {
				memcpy(st->img + at + o,
				    (const unsigned char *)v->buf + o, k);
				if (run == 0)
					start = o;
				run += k;
			} else if (run > 0) {
				if (changed(arg, at + start, run) != 0)
					return -1;
				run = 0;
			}
			if (k < PAGE)
				break;
		}
		if (run > 0 && changed(arg, at + start, run) != 0)
			return -1;
	}
	return 0;
}

void
state_tail(const struct pystate *st, size_t *off, size_t *len)
{
	*off = st->img != NULL ? (size_t)get64(st->img + 8) : 0;
	*len = st->img != NULL ? (size_t)get64(st->img + 16) : 0;
}

void
state_precise(struct pystate *st)
{
	st->precise = 1;
}

void
state_hold(struct pystate *st, int on)
{
	st->hold = on;
}

void
state_stale(struct pystate *st)
{
	st->stale = 1;
}

static int
st_encode(const void *state, struct sticky_buf *out, void *appdata)
{
	struct pystate *st = (struct pystate *)state;
	size_t before = sticky_buf_len(out);
	int rc;

	if (!st->loaded && st->raw != NULL) /* never unpickled: as it came */
		return sticky_buf_append(out, PyByteArray_AS_STRING(st->raw),
		    (size_t)PyByteArray_GET_SIZE(st->raw));
	if (st->pickled == NULL && state_snapshot(st, appdata) != 0) {
		/* Once per bad state: the runtime retries every interval. */
		if (!st->bad)
			interp_log_exception("state_unpicklable",
			    "the session state cannot be pickled: checkpoint not "
			    "written, the last one stays; the user's next request "
			    "answers 500");
		PyErr_Clear();
		st->bad = 1;
		return STICKY_EINVAL;
	}
	st->bad = 0;
	if ((rc = lay_out(st, out)) == STICKY_EINVAL) {
		/* A buffer was released since: pickle the live object again. */
		if (state_snapshot(st, appdata) != 0) {
			interp_log_exception("state_unpicklable", "re-pickle");
			return STICKY_EINVAL;
		}
		rc = lay_out(st, out);
	}
	if (rc == 0)
		st->payload = sticky_buf_len(out) - before;
	return rc;
}

/*
 * What sticky counts against max_bytes: the size of the state's last
 * checkpoint (or of the pickle made for the next one).  Python cannot tell
 * an object graph's memory cheaply; with checkpoints off nothing is
 * pickled and a state counts as a few bytes: bound memory with
 * max_sessions then (docs/python.md).
 */
static size_t
st_size(const void *state, void *appdata)
{
	const struct pystate *st = state;
	size_t n = 0;

	if (st->pickled != NULL) {
		n = (size_t)PyBytes_GET_SIZE(st->pickled);
		for (Py_ssize_t i = 0; i < PyList_GET_SIZE(st->buffers); i++) {
			const Py_buffer *v = PyPickleBuffer_GetBuffer(
			    PyList_GET_ITEM(st->buffers, i));

			if (v != NULL)
				n += (size_t)v->len;
			else
				PyErr_Clear();
		}
	}
	return sizeof(*st) + (n > st->payload ? n : st->payload) + st->img_cap;
}

void
state_codec(struct sticky_codec *c)
{
	c->schema_version = SCHEMA;
	c->create = st_create;
	c->encode = st_encode;
	c->decode = st_decode;
	c->destroy = st_destroy;
	c->size = st_size;
	c->view = st_view;
	c->flags = STICKY_CODEC_NEEDS_MAC;
}

/* ---- the live state ---- */

static PyObject *
unpickle_raw(struct pystate *st, struct pyapp *pa)
{
	const unsigned char *p = (const unsigned char *)PyByteArray_AS_STRING(st->raw);
	PyObject *mv, *bufs = NULL, *data = NULL, *obj = NULL;
	uint32_t nbuf;

	if (check_layout(p, (size_t)PyByteArray_GET_SIZE(st->raw), &nbuf) != 0) {
		PyErr_SetString(PyExc_ValueError, "corrupt state payload");
		return NULL;
	}
	if ((mv = PyMemoryView_FromObject(st->raw)) == NULL)
		return NULL;
	if ((bufs = PyList_New(nbuf)) == NULL)
		goto out;
	for (uint32_t i = 0; i < nbuf; i++) {
		Py_ssize_t off = (Py_ssize_t)get64(p + HDR_FIXED + 16 * i);
		Py_ssize_t n = (Py_ssize_t)get64(p + HDR_FIXED + 16 * i + 8);
		PyObject *s = PySequence_GetSlice(mv, off, off + n);

		if (s == NULL)
			goto out;
		PyList_SET_ITEM(bufs, i, s);
	}
	data = PySequence_GetSlice(mv, (Py_ssize_t)get64(p + 8),
	    (Py_ssize_t)(get64(p + 8) + get64(p + 16)));
	if (data == NULL)
		goto out;
	obj = PyObject_CallFunctionObjArgs(pa->loads, data, bufs, NULL);
out:
	Py_XDECREF(data);
	Py_XDECREF(bufs);
	Py_DECREF(mv);
	return obj;
}

PyObject *
state_get(struct pystate *st, struct pyapp *pa)
{
	PyObject *obj;

	if (st->loaded) {
		Py_INCREF(st->obj);
		return st->obj;
	}
	if (st->raw != NULL) {
		if ((obj = unpickle_raw(st, pa)) == NULL)
			return NULL; /* st->raw stays: nothing is lost */
		Py_CLEAR(st->raw); /* the arrays keep what they use alive */
	} else if (pa->factory != NULL) {
		if ((obj = PyObject_CallNoArgs(pa->factory)) == NULL)
			return NULL;
	} else {
		obj = Py_NewRef(Py_None);
	}
	st->obj = obj;
	st->loaded = 1;
	Py_INCREF(obj);
	return obj;
}

void
state_set(struct pystate *st, PyObject *obj)
{
	Py_INCREF(obj);
	Py_XSETREF(st->obj, obj);
	st->loaded = 1;
	Py_CLEAR(st->raw);
	Py_CLEAR(st->pickled);
	Py_CLEAR(st->buffers);
	image_drop(st); /* another object: laid out afresh */
}

void
state_changed(struct pystate *st)
{
	Py_CLEAR(st->pickled);
	Py_CLEAR(st->buffers);
}

int
state_bad(const struct pystate *st)
{
	return st->bad;
}

/* buffer_callback: large contiguous buffers out of band, the rest in band. */
static PyObject *
oob_callback(PyObject *list, PyObject *pb)
{
	const Py_buffer *v = PyPickleBuffer_GetBuffer(pb);

	if (v == NULL)
		return NULL;
	if (v->len < OOB_MIN || !PyBuffer_IsContiguous(v, 'A'))
		Py_RETURN_TRUE;
	if (PyList_Append(list, pb) != 0)
		return NULL;
	Py_RETURN_FALSE;
}

static PyMethodDef oob_def = { "sticky_oob", (PyCFunction)oob_callback, METH_O,
	NULL };

int
state_snapshot(struct pystate *st, struct pyapp *pa)
{
	PyObject *bufs, *cb = NULL, *pickled = NULL;

	if (!st->loaded && st->raw != NULL)
		return 0; /* untouched since restored */
	if (!st->loaded) { /* a new user's state nobody looked at */
		PyObject *o = state_get(st, pa);

		if (o == NULL)
			return -1;
		Py_DECREF(o);
	}
	if ((bufs = PyList_New(0)) == NULL)
		return -1;
	if ((cb = PyCFunction_New(&oob_def, bufs)) == NULL)
		goto out;
	if ((pickled = PyObject_CallFunctionObjArgs(pa->dumps, st->obj, cb,
	    NULL)) == NULL)
		goto out;
	Py_XSETREF(st->pickled, pickled);
	Py_XSETREF(st->buffers, bufs);
	bufs = NULL;
	st->bad = 0;
out:
	Py_XDECREF(cb);
	Py_XDECREF(bufs);
	return pickled != NULL ? 0 : -1;
}
