/*
 * answer.h: one complete FastCGI request answered by a worker (answer.c).
 */
#ifndef STICKY_ANSWER_H
#define STICKY_ANSWER_H

struct conn;
struct fcgi_request;
struct worker;

/*
 * Run the request (status page, quarantine, session, replay or handler,
 * sync checkpoint) and queue its answer on c; on failure to queue it, c
 * is marked done.  Counts it in w's stats and served total.
 */
void worker_answer(struct worker *w, struct conn *c, struct fcgi_request *fr);

#endif /* STICKY_ANSWER_H */
