/*
 * test_quarantine.c: the crash-in-flight tables (quarantine.c).  A worker
 * slot notes a request and a user; a death recorded by the master makes a
 * resend of that request refused and, after quarantine_crashes deaths
 * within the window, the user refused; deaths not yet recorded (a slot
 * marked by the fatal-signal handler) count already; a handler that ended
 * leaves nothing behind; the window expires; the set-aside is claimed once;
 * the hash is keyed (two mappings disagree), never 0, and SipHash-2-4.
 * The mapping is shared across fork: a child's note is seen by the parent.
 */
#include <criterion/criterion.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "internal.h"
#include "quarantine.h"

static const struct quar_policy pol = { .crashes = 2, .window_ms = 10000 };

static uint64_t
h(const struct quar_shm *q, const char *s)
{
	return quar_hash(q, s, strlen(s));
}

Test(quarantine, request_refused_after_death_only)
{
	struct quar_shm *q;
	uint64_t r, u;

	cr_assert_eq(quar_map(&q, 3), 0);
	r = h(q, "req-1");
	u = h(q, "AAAAAAAAAAAAAAAAAAAAAA");
	cr_assert_eq(quar_check(q, 1, r, u, 1000, &pol), QUAR_OK);
	/* A handler that returned leaves nothing behind. */
	quar_begin(q, 0, r, u);
	quar_end(q, 0);
	cr_assert_eq(quar_worker_died(q, 0, 1000, &pol, 1), 0);
	cr_assert_eq(quar_check(q, 1, r, u, 1000, &pol), QUAR_OK);
	/* Killed from outside (SIGKILL) while running: not the request's fault. */
	quar_begin(q, 0, r, u);
	cr_assert_eq(quar_worker_died(q, 0, 1000, &pol, 0), 0);
	cr_assert_eq(q->w[0].state, QUAR_IDLE);
	cr_assert_eq(quar_check(q, 1, r, u, 1000, &pol), QUAR_OK);
	/* ... unless it was marked first (a request_timeout kill). */
	quar_begin(q, 0, h(q, "req-slow"), 0);
	quar_mark_died(q, 0);
	cr_assert_eq(quar_worker_died(q, 0, 1000, &pol, 0), 1);
	cr_assert_eq(quar_check(q, 1, h(q, "req-slow"), 0, 1000, &pol), QUAR_POISON);
	/* One that was running when its worker died is remembered. */
	quar_begin(q, 0, r, u);
	cr_assert_eq(quar_worker_died(q, 0, 1000, &pol, 1), 1);
	cr_assert_eq(q->crashes, 2, "the timeout kill and this one");
	cr_assert_eq(q->w[0].state, QUAR_IDLE, "the slot is free for the successor");
	cr_assert_eq(quar_check(q, 1, r, 0, 1001, &pol), QUAR_POISON);
	cr_assert_eq(quar_check(q, 0, r, 0, 1001, &pol), QUAR_POISON);
	cr_assert_eq(quar_check(q, 1, h(q, "req-2"), u, 1001, &pol), QUAR_OK,
	    "one crash: the user is not quarantined yet");
	/* Forgotten after the window. */
	cr_assert_eq(quar_check(q, 1, r, 0, 1000 + 10000, &pol), QUAR_OK);
	quar_unmap(q);
}

Test(quarantine, user_quarantined_after_n_crashes_in_window)
{
	struct quar_shm *q;
	uint64_t u, other;

	cr_assert_eq(quar_map(&q, 2), 0);
	u = h(q, "AAAAAAAAAAAAAAAAAAAAAA");
	other = h(q, "BBBBBBBBBBBBBBBBBBBBBB");
	quar_begin(q, 0, 0, u); /* no request id */
	cr_assert_eq(quar_worker_died(q, 0, 1000, &pol, 1), 1);
	cr_assert_eq(quar_check(q, 1, 0, u, 1500, &pol), QUAR_OK);
	quar_begin(q, 1, 0, u);
	cr_assert_eq(quar_worker_died(q, 1, 2000, &pol, 1), 2, "second crash: quarantine");
	cr_assert_eq(q->quarantines, 1);
	cr_assert_eq(quar_check(q, 0, 0, u, 2001, &pol), QUAR_USER);
	cr_assert_eq(quar_check(q, 0, 0, other, 2001, &pol), QUAR_OK);
	cr_assert_eq(quar_active(q, 2001, &pol), 1);
	/* Lasts the window after the last crash, then the user is let in. */
	cr_assert_eq(quar_check(q, 0, 0, u, 2000 + 9999, &pol), QUAR_USER);
	cr_assert_eq(quar_check(q, 0, 0, u, 2000 + 10000, &pol), QUAR_OK);
	cr_assert_eq(quar_active(q, 2000 + 10000, &pol), 0);
	/* Crashes further apart than the window do not add up. */
	quar_begin(q, 0, 0, other);
	quar_worker_died(q, 0, 1000, &pol, 1);
	quar_begin(q, 0, 0, other);
	cr_assert_eq(quar_worker_died(q, 0, 1000 + 10000, &pol, 1), 1);
	cr_assert_eq(quar_check(q, 1, 0, other, 11001, &pol), QUAR_OK);
	/* crashes = 0: never quarantined. */
	struct quar_policy off = { .crashes = 0, .window_ms = 10000 };
	cr_assert_eq(quar_check(q, 0, 0, u, 2001, &off), QUAR_OK);
	quar_unmap(q);
}

Test(quarantine, unrecorded_death_counts)
{
	struct quar_shm *q;
	uint64_t r, u;

	cr_assert_eq(quar_map(&q, 3), 0);
	r = h(q, "req-9");
	u = h(q, "CCCCCCCCCCCCCCCCCCCCCC");
	quar_begin(q, 2, r, u);
	/* Running elsewhere is not a death: a concurrent twin runs. */
	cr_assert_eq(quar_check(q, 0, r, u, 10, &pol), QUAR_OK);
	cr_assert_eq(quar_running_twin(q, 0, r), 1, "the caller waits for it");
	cr_assert_eq(quar_running_twin(q, 2, r), 0, "not its own slot");
	cr_assert_eq(quar_running_twin(q, 0, h(q, "other")), 0);
	cr_assert_eq(quar_running_twin(q, 0, 0), 0, "no id: no twin");
	quar_mark_died(q, 2); /* the fatal-signal handler, before the reap */
	cr_assert_eq(quar_check(q, 0, r, u, 10, &pol), QUAR_POISON);
	cr_assert_eq(quar_check(q, 2, r, u, 10, &pol), QUAR_OK,
	    "a slot's own note is its current request");
	/* With one recorded crash, a pending one reaches the threshold. */
	quar_begin(q, 1, 0, u);
	cr_assert_eq(quar_worker_died(q, 1, 10, &pol, 1), 1);
	cr_assert_eq(quar_check(q, 0, 0, u, 11, &pol), QUAR_USER);
	/* mark_died only marks a running slot. */
	quar_end(q, 1);
	quar_mark_died(q, 1);
	cr_assert_eq(q->w[1].state, QUAR_IDLE);
	quar_unmap(q);
}

Test(quarantine, set_aside_claimed_once_per_quarantine)
{
	struct quar_shm *q;
	uint64_t u;

	cr_assert_eq(quar_map(&q, 1), 0);
	u = h(q, "DDDDDDDDDDDDDDDDDDDDDD");
	cr_assert_eq(quar_claim_aside(q, u), 0, "unknown user");
	quar_begin(q, 0, 0, u);
	quar_worker_died(q, 0, 100, &pol, 1);
	quar_begin(q, 0, 0, u);
	quar_worker_died(q, 0, 200, &pol, 1);
	cr_assert_eq(quar_claim_aside(q, u), 1);
	cr_assert_eq(quar_claim_aside(q, u), 0);
	/* A new quarantine (after the window) sets aside again. */
	quar_begin(q, 0, 0, u);
	quar_worker_died(q, 0, 200 + 20000, &pol, 1);
	quar_begin(q, 0, 0, u);
	quar_worker_died(q, 0, 200 + 20001, &pol, 1);
	cr_assert_eq(quar_claim_aside(q, u), 1);
	quar_unmap(q);
}

Test(quarantine, full_tables_reuse_the_oldest)
{
	struct quar_shm *q;
	char id[32];

	cr_assert_eq(quar_map(&q, 1), 0);
	for (int i = 0; i < QUAR_USERS + 10; i++) {
		snprintf(id, sizeof(id), "user-%d", i);
		quar_begin(q, 0, h(q, id), h(q, id));
		quar_worker_died(q, 0, 1000 + i, &pol, 1);
	}
	snprintf(id, sizeof(id), "user-%d", QUAR_USERS + 9);
	cr_assert_eq(quar_check(q, 0, 0, h(q, id), 2000, &pol), QUAR_OK);
	quar_begin(q, 0, 0, h(q, id));
	quar_worker_died(q, 0, 1500, &pol, 1);
	cr_assert_eq(quar_check(q, 0, 0, h(q, id), 2000, &pol), QUAR_USER,
	    "the newest entries survive");
	/* The request ring keeps the last QUAR_REQS ids. */
	cr_assert_eq(quar_check(q, 0, h(q, "user-0"), 0, 2000, &pol), QUAR_OK);
	cr_assert_eq(quar_check(q, 0, h(q, id), 0, 2000, &pol), QUAR_POISON);
	quar_unmap(q);
}

/* SipHash-2-4 test vector (key 00..0f, message 00..0e): a8 17 f6 4c ... */
Test(quarantine, hash_is_keyed_siphash)
{
	struct quar_shm *a, *b;
	unsigned char msg[15];

	cr_assert_eq(quar_map(&a, 1), 0);
	cr_assert_eq(quar_map(&b, 1), 0);
	cr_assert_neq(h(a, "same"), h(b, "same"), "random keys per master");
	cr_assert_eq(h(a, "same"), h(a, "same"));
	cr_assert_eq(quar_hash(a, "", 0), 0);
	cr_assert_eq(quar_hash(a, NULL, 3), 0);
	for (int i = 0; i < 15; i++)
		msg[i] = (unsigned char)i;
	a->key[0] = 0x0706050403020100ULL;
	a->key[1] = 0x0f0e0d0c0b0a0908ULL;
	cr_assert_eq(quar_hash(a, (const char *)msg, 15), 0xa129ca6149be45e5ULL);
	quar_unmap(a);
	quar_unmap(b);
}

Test(quarantine, shared_across_fork)
{
	struct quar_shm *q;
	uint64_t r;
	pid_t pid;
	int status;

	cr_assert_eq(quar_map(&q, 2), 0);
	r = h(q, "req-fork");
	if ((pid = fork()) == 0) {
		quar_begin(q, 1, r, 0);
		quar_mark_died(q, 1);
		_exit(0);
	}
	cr_assert(pid > 0);
	waitpid(pid, &status, 0);
	cr_assert_eq(quar_check(q, 0, r, 0, 5, &pol), QUAR_POISON);
	cr_assert_eq(quar_worker_died(q, 1, 5, &pol, 1), 1);
	quar_unmap(q);
}
