/*
 * redis_sub.c: takeover announcements.  A second connection, opened on
 * demand, is subscribed to P"takeover": the takeover and drop scripts
 * publish "<epoch> <owner> <key>" there, so a worker still holding a
 * session learns at once that it lost it.  It is blocking for its
 * handshake and non-blocking once subscribed, and backs off on its own.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <string.h>

#include "redis_int.h"


/* read(2)s per redis_sub_read: 64 x 16 KiB, ~14,000 announcements. */
#define SUB_READS_MAX 64
/* An announcement: "<epoch> <owner> <key>". */
#define MAX_MSG_LEN (20 + 1 + MAX_OWNER_LEN + 1 + MAX_KEY_LEN)

/* ["subscribe", <our channel>, n]: SUBSCRIBE's confirmation. */
static int
is_subscribed(const struct redis *r, const redisReply *rep)
{
	const redisReply *kind, *chan;

	if (rep->type != REDIS_REPLY_ARRAY || rep->elements != 3)
		return 0;
	kind = rep->element[0];
	chan = rep->element[1];
	return kind->type == REDIS_REPLY_STRING && kind->len == 9 &&
	    memcmp(kind->str, "subscribe", 9) == 0 &&
	    chan->type == REDIS_REPLY_STRING && chan->len == r->channellen &&
	    memcmp(chan->str, r->channel, chan->len) == 0 &&
	    rep->element[2]->type == REDIS_REPLY_INTEGER;
}

int
redis_sub_open(struct redis *r)
{
	struct conn *cn = &r->sub;
	const char *argv[2] = { "SUBSCRIBE", r->channel };
	size_t lens[2] = { 9, r->channellen };
	redisReply *rep;
	void *p;
	int rc, nauth, nselect, fl;

	if (cn->c != NULL)
		return 0;
	if (now_ms() < cn->retry_at)
		return STICKY_EAGAIN;
	if ((rc = rd_open_context(r, cn)) != 0)
		return rc;
	/* Only TCP can die silently; hiredis: idle 15 s, then 3 probes. */
	if (r->host != NULL && redisEnableKeepAlive(cn->c) != REDIS_OK)
		return rd_failed_io(r, cn, "keepalive");
	rd_append_auth(r, cn, &nauth, &nselect);
	if (redisAppendCommandArgv(cn->c, 2, argv, lens) != REDIS_OK) {
		rd_set_err(r, "sub SUBSCRIBE: out of memory");
		return rd_lost(r, cn);
	}
	if ((rc = rd_read_auth(r, cn, nauth, nselect)) != 0)
		return rc;
	if (redisGetReply(cn->c, &p) != REDIS_OK || p == NULL)
		return rd_failed_io(r, cn, "SUBSCRIBE");
	rep = p;
	if (!is_subscribed(r, rep)) {
		if (rep->type == REDIS_REPLY_ERROR)
			rd_server_error(r, "sub SUBSCRIBE", rep);
		else
			rd_set_err(r, "sub SUBSCRIBE: unexpected reply");
		freeReplyObject(rep);
		return rd_lost(r, cn);
	}
	freeReplyObject(rep);
	/*
	 * From now on only redis_sub_read() reads, and it must never block:
	 * O_NONBLOCK on the fd, and without REDIS_BLOCK hiredis's
	 * redisBufferRead() takes EAGAIN as "nothing yet" and redisGetReply()
	 * only parses what was read (0.14 has no call for this switch).
	 */
	if ((fl = fcntl(cn->c->fd, F_GETFL)) == -1 ||
	    fcntl(cn->c->fd, F_SETFL, fl | O_NONBLOCK) == -1) {
		rd_set_err(r, "sub fcntl: %s", strerror(errno));
		return rd_lost(r, cn);
	}
	cn->c->flags &= ~REDIS_BLOCK;
	r->sub_gen++;
	rd_conn_up(r, cn);
	return 0;
}

int
redis_sub_fd(const struct redis *r)
{
	return r->sub.c != NULL ? r->sub.c->fd : -1;
}

int64_t
redis_sub_backoff_left_ms(const struct redis *r)
{
	return rd_backoff_left(&r->sub);
}

void
redis_sub_close(struct redis *r)
{
	if (r->sub.c != NULL)
		r->sub_gen++;
	rd_drop_context(&r->sub);
}

/*
 * One reply on the subscribed connection: call cb if it is a well-formed
 * announcement on our channel.  Nothing of it is logged but its shape.
 */
static void
sub_reply(const struct redis *r, const redisReply *rep, redis_sub_fn cb,
    void *arg)
{
	const redisReply *kind, *chan, *msg;
	char buf[MAX_MSG_LEN + 1], *owner, *key, *sp;
	uint64_t epoch;
	const char *why = "not a message";

	if (rep->type != REDIS_REPLY_ARRAY || rep->elements != 3 ||
	    (kind = rep->element[0])->type != REDIS_REPLY_STRING ||
	    kind->len != 7 || memcmp(kind->str, "message", 7) != 0)
		goto ignore;
	chan = rep->element[1];
	msg = rep->element[2];
	why = "other channel";
	if (chan->type != REDIS_REPLY_STRING || chan->len != r->channellen ||
	    memcmp(chan->str, r->channel, chan->len) != 0)
		goto ignore;
	why = "malformed announcement";
	if (msg->type != REDIS_REPLY_STRING || msg->len > MAX_MSG_LEN ||
	    memchr(msg->str, '\0', msg->len) != NULL)
		goto ignore;
	memcpy(buf, msg->str, msg->len);
	buf[msg->len] = '\0';
	/* "<epoch> <owner> <key>": the owner has no spaces, the key may. */
	if ((sp = strchr(buf, ' ')) == NULL ||
	    rd_parse_u64(buf, (size_t)(sp - buf), &epoch) != 0 || epoch == 0)
		goto ignore;
	owner = sp + 1;
	if ((sp = strchr(owner, ' ')) == NULL)
		goto ignore;
	*sp = '\0';
	key = sp + 1;
	if ((strcmp(owner, "-") != 0 && !rd_owner_valid(owner)) ||
	    !rd_key_valid(key))
		goto ignore;
	cb(key, epoch, owner, arg);
	return;
ignore:
	log_debug("redis_sub_ignored", "addr=%s reason=\"%s\" type=%d",
	    r->addr, why, rep->type);
}

int
redis_sub_read(struct redis *r, redis_sub_fn cb, void *arg)
{
	struct conn *cn = &r->sub;
	unsigned gen = r->sub_gen;
	void *p;

	if (cn->c == NULL)
		return STICKY_ESTATE;
	for (int reads = 1;; reads++) {
		struct pollfd pfd;

		/* One read(2) of up to 16 KiB; EAGAIN is not an error. */
		if (redisBufferRead(cn->c) != REDIS_OK)
			return rd_failed_io(r, cn, "read");
		for (;;) {
			/* Parses only: the context is not REDIS_BLOCK. */
			if (redisGetReply(cn->c, &p) != REDIS_OK)
				return rd_failed_io(r, cn, "read");
			if (p == NULL)
				break;
			sub_reply(r, p, cb, arg);
			freeReplyObject(p);
			if (r->sub_gen != gen) /* cb closed (or reopened) it */
				return 0;
		}
		/* Drained?  Then the backlog, if any, was read whole. */
		pfd.fd = cn->c->fd;
		pfd.events = POLLIN;
		if (poll(&pfd, 1, 0) != 1 || !(pfd.revents & POLLIN))
			return reads > 1 ? 1 : 0;
		if (reads == SUB_READS_MAX)
			return 1;
	}
}
