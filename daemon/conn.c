/* SPDX-License-Identifier: MIT */
/*
 * conn.c - control connections: accept with a peer-credential check, read
 * packets (each size-checked by libzpsi's ctl before anything is
 * allocated), route them by the connection's role, and queue what cannot be
 * sent at once.  A peer that misbehaves is answered, counted, and after
 * ZPSID_MAX_BAD_PACKETS closed; it never disturbs the others.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "zpsid.h"
#include "zpsi/util.h"

#define PACKETS_PER_EVENT 16	/* fairness: one busy peer cannot starve the loop */

static bool uid_allowed(const struct zpsid *d, uid_t uid)
{
	if (uid == 0 || uid == geteuid())
		return true;
	for (unsigned i = 0; i < d->cfg.nallow_uids; i++)
		if (d->cfg.allow_uids[i] == uid)
			return true;
	return false;
}

void conn_accept(struct zpsid *d)
{
	for (int i = 0; i < 64; i++) {
		struct ucred cr;
		socklen_t len = sizeof(cr);
		struct conn *c;
		int fd = accept4(d->listenfd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);

		if (fd < 0) {
			if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
				/* The peer stays in the backlog, the listening socket
				 * stays readable: stop watching it until the next
				 * tick, or the loop would spin on it. */
				static uint64_t last_log_ns;
				uint64_t now = zpsi_mono_ns();

				if (!last_log_ns || now - last_log_ns >= 10 * ZPSI_NSEC_PER_SEC) {
					log_warn("accept: %m; not accepting for a moment");
					last_log_ns = now;
				}
				zpsid_epoll_mod(d, d->listenfd, 0, TAG(TAG_LISTEN, 0));
				d->accept_paused = true;
			} else if (errno != EAGAIN && errno != EINTR) {
				log_warn("accept: %m");
			}
			return;
		}
		cr = (struct ucred){ .pid = -1, .uid = (uid_t)-1 };
		if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &len) < 0 || !uid_allowed(d, cr.uid)) {
			struct zpsi_ctl_msg m = { .type = ZPSI_CTL_ERROR };

			m.u.error.error = EPERM;
			strcpy(m.u.error.message, "peer uid not allowed");
			zpsi_ctl_send(fd, &m, NULL, 0);
			close(fd);
			d->peers_refused++;
			log_warn("refused a connection from uid %u pid %d", (unsigned)cr.uid, (int)cr.pid);
			continue;
		}
		c = calloc(1, sizeof(*c));
		if (!c) {
			close(fd);
			return;
		}
		c->fd = fd;
		c->pid = cr.pid;
		c->uid = cr.uid;
		if (zpsid_epoll_add(d, fd, EPOLLIN, TAG(TAG_CONN, c)) < 0) {
			close(fd);
			free(c);
			continue;
		}
		c->next = d->conns;
		if (d->conns)
			d->conns->prev = c;
		d->conns = c;
		d->connections++;
	}
}

static void set_want_out(struct zpsid *d, struct conn *c, bool on)
{
	if (c->want_out == on)
		return;
	c->want_out = on;
	zpsid_epoll_mod(d, c->fd, EPOLLIN | (on ? EPOLLOUT : 0), TAG(TAG_CONN, c));
}

static int enqueue(struct zpsid *d, struct conn *c, const char *buf, size_t len, int fd)
{
	struct sendbuf *b;

	if (c->nqueued >= ZPSID_SENDQ_MAX) {
		conn_kill(d, c, "does not read what it is sent");
		return -ENOBUFS;
	}
	b = malloc(sizeof(*b) + len);
	if (!b)
		return -ENOMEM;
	b->next = NULL;
	b->len = len;
	b->fd = fd >= 0 ? fcntl(fd, F_DUPFD_CLOEXEC, 3) : -1;	/* the caller keeps its own */
	if (fd >= 0 && b->fd < 0) {
		int e = -errno;

		free(b);
		return e;
	}
	memcpy(b->data, buf, len);
	if (c->q_tail)
		c->q_tail->next = b;
	else
		c->q_head = b;
	c->q_tail = b;
	c->nqueued++;
	set_want_out(d, c, true);
	return 0;
}

/* Send what is queued, then more of a chunked reply; stop at EAGAIN (the
 * queue then holds a packet and EPOLLOUT brings us back). */
void conn_flush(struct zpsid *d, struct conn *c)
{
	while (!c->dead) {
		struct sendbuf *b = c->q_head;
		int r;

		if (!b) {
			if (!c->reply_active)
				break;
			api_reply_continue(d, c);	/* sends or queues one packet */
			continue;
		}
		r = zpsi_ctl_send_raw(c->fd, b->data, b->len, &b->fd, b->fd >= 0 ? 1 : 0);
		if (r == -EAGAIN)
			return;
		if (r < 0) {
			conn_kill(d, c, "send failed");
			return;
		}
		c->q_head = b->next;
		if (!c->q_head)
			c->q_tail = NULL;
		c->nqueued--;
		if (b->fd >= 0)
			close(b->fd);
		free(b);
	}
	if (!c->dead)
		set_want_out(d, c, false);
}

int conn_send(struct zpsid *d, struct conn *c, const struct zpsi_ctl_msg *m, int fd)
{
	_cleanup_free_ char *buf = NULL;
	size_t len;
	int r;

	if (c->dead)
		return -EPIPE;
	r = zpsi_ctl_encode(m, &buf, &len);
	if (r < 0)
		return r;
	if (!c->q_head) {
		r = zpsi_ctl_send_raw(c->fd, buf, len, &fd, fd >= 0 ? 1 : 0);
		if (r != -EAGAIN) {
			if (r < 0)
				conn_kill(d, c, "send failed");
			return r;
		}
	}
	return enqueue(d, c, buf, len, fd);
}

void conn_send_error(struct zpsid *d, struct conn *c, uint32_t re, int err, const char *fmt, ...)
{
	struct zpsi_ctl_msg m = { .type = ZPSI_CTL_ERROR, .re = re };
	va_list ap;

	m.u.error.error = err < 0 ? -err : err;
	va_start(ap, fmt);
	vsnprintf(m.u.error.message, sizeof(m.u.error.message), fmt, ap);
	va_end(ap);
	conn_send(d, c, &m, -1);
}

static void bad_packet(struct zpsid *d, struct conn *c, uint32_t re, int err, const char *what)
{
	d->protocol_errors++;
	log_debug("peer pid %d: %s (%s)", (int)c->pid, what, strerror(-err));
	conn_send_error(d, c, re, err, "%s", what);
	if (++c->bad_packets > ZPSID_MAX_BAD_PACKETS)
		conn_kill(d, c, "too many bad packets");
}

static bool is_query(enum zpsi_ctl_type t)
{
	return t == ZPSI_CTL_STATUS || t == ZPSI_CTL_GUESTS || t == ZPSI_CTL_GUEST ||
	       t == ZPSI_CTL_WAKE || t == ZPSI_CTL_SET;
}

static void dispatch(struct zpsid *d, struct conn *c, struct zpsi_ctl_msg *m, int *fds, size_t nfds)
{
	/* Only a hello carries an fd; anything else with fds is refused whole. */
	if (nfds && !(m->type == ZPSI_CTL_HELLO && nfds == 1 && c->role == ROLE_NEW)) {
		bad_packet(d, c, m->seq, -EBADF, "unexpected file descriptors");
		return;
	}
	switch (c->role) {
	case ROLE_NEW:
		if (m->type == ZPSI_CTL_HELLO) {
			if (nfds != 1) {
				bad_packet(d, c, m->seq, -EBADF, "hello needs the region fd");
				return;
			}
			guest_hello(d, c, m, fds[0]);
			fds[0] = -1;	/* guest_hello took it */
			return;
		}
		if (is_query(m->type)) {
			c->role = ROLE_CLIENT;
			api_query(d, c, m);
			return;
		}
		break;
	case ROLE_VMM:
		if (!c->guest) {	/* removed under it */
			conn_kill(d, c, NULL);
			return;
		}
		if (m->type == ZPSI_CTL_STATE) {
			guest_state(d, c->guest, &m->u.state);
			return;
		}
		if (m->type == ZPSI_CTL_ACK) {
			power_ack(d, c->guest, m);
			return;
		}
		if (m->type == ZPSI_CTL_BYE) {
			guest_remove(d, c->guest, m->u.bye.reason[0] ? m->u.bye.reason : "bye");
			conn_kill(d, c, NULL);
			return;
		}
		break;
	case ROLE_CLIENT:
		if (is_query(m->type)) {
			api_query(d, c, m);
			return;
		}
		if (m->type == ZPSI_CTL_BYE) {
			conn_kill(d, c, NULL);
			return;
		}
		break;
	}
	bad_packet(d, c, m->seq, -EPROTO, "unexpected message for this connection");
}

void conn_event(struct zpsid *d, struct conn *c, uint32_t events)
{
	if (c->dead)
		return;
	if (events & EPOLLOUT)
		conn_flush(d, c);
	for (int i = 0; i < PACKETS_PER_EVENT && !c->dead && (events & (EPOLLIN | EPOLLHUP | EPOLLERR)); i++) {
		struct zpsi_ctl_msg m = { 0 };
		int fds[ZPSI_CTL_FDS_MAX];
		size_t nfds = 0;
		int r = zpsi_ctl_recv(c->fd, 0, &m, fds, &nfds);

		if (r == -EAGAIN)
			break;
		if (r == -ECONNRESET || r == -ECONNREFUSED || r == -EPIPE) {
			conn_kill(d, c, NULL);
			break;
		}
		if (r < 0) {
			bad_packet(d, c, 0, r, r == -EMSGSIZE ? "packet too large or too many fds" :
					 r == -EOPNOTSUPP ? "unknown message type" :
					 r == -EINVAL ? "a field is missing, mistyped or out of range" :
					 "not a JSON object");
			if (r != -EMSGSIZE && r != -EBADMSG && r != -EINVAL && r != -EOPNOTSUPP)
				conn_kill(d, c, "receive failed");
			continue;
		}
		dispatch(d, c, &m, fds, nfds);
		zpsi_ctl_close_fds(fds, nfds);
		zpsi_ctl_msg_done(&m);
	}
}

void conn_kill(struct zpsid *d, struct conn *c, const char *why)
{
	if (c->dead)
		return;
	if (why)
		log_info("closing connection of pid %d: %s", (int)c->pid, why);
	c->dead = true;
	d->ndead++;
}

static void conn_free(struct zpsid *d, struct conn *c)
{
	epoll_ctl(d->epfd, EPOLL_CTL_DEL, c->fd, NULL);
	if (c->role == ROLE_VMM && c->guest) {
		c->guest->conn = NULL;
		guest_detach(d, c->guest, "connection closed");
	}
	if (c->role == ROLE_CLIENT)
		for (uint32_t id = zpsi_registry_next(d->reg, 0); id; id = zpsi_registry_next(d->reg, id)) {
			struct guest *g = guest_by_id(d, id);

			if (g && g->pending_client == c)
				g->pending_client = NULL;
		}
	while (c->q_head) {
		struct sendbuf *b = c->q_head;

		c->q_head = b->next;
		if (b->fd >= 0)
			close(b->fd);
		free(b);
	}
	close(c->fd);
	if (c->prev)
		c->prev->next = c->next;
	else
		d->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	free(c);
}

void conn_reap(struct zpsid *d)
{
	struct conn *c, *next;

	/* Freeing one connection can kill another (a guest detached, a
	 * client answered): go round until none is left dead. */
	while (d->ndead) {
		d->ndead = 0;
		for (c = d->conns; c; c = next) {
			next = c->next;
			if (c->dead)
				conn_free(d, c);
		}
	}
}

void conn_accept_resume(struct zpsid *d)
{
	if (!d->accept_paused)
		return;
	d->accept_paused = false;
	zpsid_epoll_mod(d, d->listenfd, EPOLLIN, TAG(TAG_LISTEN, 0));
}

void conn_close_all(struct zpsid *d, bool say_bye)
{
	struct zpsi_ctl_msg bye = { .type = ZPSI_CTL_BYE };

	strcpy(bye.u.bye.reason, "shutdown");
	bye.u.bye.reconnect = true;
	for (struct conn *c = d->conns; c; c = c->next) {
		/* best effort, never blocking: a VMM that misses it sees EOF */
		if (say_bye && c->role == ROLE_VMM && !c->dead && !c->q_head)
			zpsi_ctl_send(c->fd, &bye, NULL, 0);
		if (c->guest)
			c->guest->conn = NULL;
		c->guest = NULL;
		c->role = ROLE_NEW;
		c->dead = true;
	}
	d->ndead = 1;
	conn_reap(d);
}
