/*
 * sock.h: worker listening sockets.  The master binds them all before
 * forking and keeps them open, so a worker's replacement inherits its
 * socket and the kernel queues connections during a restart.
 */
#ifndef STICKY_SOCK_H
#define STICKY_SOCK_H

#include <stddef.h>
#include <sys/types.h>

/* Longest expanded listen address, with its NUL (prefork's buffers). */
#define SOCK_ADDR_MAX 256

/* Expand a listen spec for worker i with route tag tag into out. */
int sock_expand(const char *spec, unsigned i, const char *tag, char *out,
    size_t outlen);
/*
 * Bind and listen on an expanded address ("unix:/path" or "ADDR:PORT";
 * for ADDR:PORT the port is already final).  A stale unix socket file is
 * replaced; any other file at that path is an error.  Sets mode and
 * owner/group on unix sockets (uid/gid -1: unchanged).  Returns the fd
 * (O_NONBLOCK, listening) or a negative STICKY_E* code, with a reason
 * in err.
 */
int sock_listen(const char *addr, int backlog, long mode, uid_t uid, gid_t gid,
    char *err, size_t errlen);
/* Remove a unix socket file (at shutdown). */
void sock_unlink(const char *addr);
/* Connect to "unix:/path" or "ADDR:PORT", blocking with a timeout. */
int sock_connect(const char *addr, int timeout_ms);

#endif /* STICKY_SOCK_H */
