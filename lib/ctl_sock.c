/* SPDX-License-Identifier: MIT */
/*
 * ctl_sock.c - the control protocol's transport: unix SOCK_SEQPACKET
 * packets, SCM_RIGHTS, and the two client helpers (zpsictl's request and a
 * VMM's registration).
 *
 * SEQPACKET rather than a length-prefixed stream: the kernel keeps message
 * boundaries, so a packet is read whole or not at all, its real length is
 * known before reading it (MSG_PEEK|MSG_TRUNC), and the fds a peer passes
 * arrive with the one packet they belong to (with SOCK_STREAM they attach to
 * whichever byte range a read happens to cover).
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include "zpsi/ctl.h"
#include "zpsi/util.h"

static int make_addr(const char *path, struct sockaddr_un *sa, socklen_t *salen)
{
	size_t n = strlen(path);

	if (n == 0 || n >= sizeof(sa->sun_path))
		return -ENAMETOOLONG;
	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	memcpy(sa->sun_path, path, n);
	*salen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n + 1);
	return 0;
}

int zpsi_ctl_connect(const char *path, int *fd_out)
{
	_cleanup_close_ int fd = -1;
	struct sockaddr_un sa;
	socklen_t salen;
	int r;

	r = make_addr(path, &sa, &salen);
	if (r < 0)
		return r;
	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&sa, salen) < 0)
		return -errno;
	*fd_out = ZPSI_TAKE_FD(fd);
	return 0;
}

int zpsi_ctl_listen(const char *path, mode_t mode, int backlog, int *fd_out)
{
	_cleanup_close_ int fd = -1;
	struct sockaddr_un sa;
	socklen_t salen;
	mode_t old;
	int r, probe;

	r = make_addr(path, &sa, &salen);
	if (r < 0)
		return r;
	/* A socket file someone still listens on is a running zpsid: never
	 * steal it.  One nobody answers is left over from a crash. */
	if (zpsi_ctl_connect(path, &probe) == 0) {
		close(probe);
		return -EADDRINUSE;
	}
	if (unlink(path) < 0 && errno != ENOENT)
		return -errno;
	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	/* The umask makes the file private from the moment it exists; the
	 * chmod below only ever widens it to what was asked for. */
	old = umask(0177);
	r = bind(fd, (struct sockaddr *)&sa, salen);
	umask(old);
	if (r < 0)
		return -errno;
	if (chmod(path, mode) < 0 || listen(fd, backlog) < 0) {
		r = -errno;
		unlink(path);
		return r;
	}
	*fd_out = ZPSI_TAKE_FD(fd);
	return 0;
}

void zpsi_ctl_close_fds(int *fds, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (fds[i] >= 0) {
			close(fds[i]);
			fds[i] = -1;
		}
}

int zpsi_ctl_send_raw(int fd, const void *buf, size_t len, const int *fds, size_t nfds)
{
	union {
		char buf[CMSG_SPACE(sizeof(int) * ZPSI_CTL_FDS_MAX)];
		struct cmsghdr align;
	} ctl;
	struct iovec iov = { .iov_base = (void *)buf, .iov_len = len };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
	ssize_t n;

	if (len == 0 || len > ZPSI_CTL_MSG_MAX || nfds > ZPSI_CTL_FDS_MAX)
		return -EINVAL;
	if (nfds) {
		struct cmsghdr *c;

		memset(&ctl, 0, sizeof(ctl));
		mh.msg_control = ctl.buf;
		mh.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
		c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
		memcpy(CMSG_DATA(c), fds, sizeof(int) * nfds);
	}
	do
		n = sendmsg(fd, &mh, MSG_NOSIGNAL);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return errno == EWOULDBLOCK ? -EAGAIN : -errno;
	return (size_t)n == len ? 0 : -EIO;	/* SEQPACKET sends all or nothing */
}

int zpsi_ctl_send(int fd, const struct zpsi_ctl_msg *m, const int *fds, size_t nfds)
{
	_cleanup_free_ char *buf = NULL;
	size_t len;
	int r;

	r = zpsi_ctl_encode(m, &buf, &len);
	if (r < 0)
		return r;
	return zpsi_ctl_send_raw(fd, buf, len, fds, nfds);
}

static int wait_readable(int fd, int timeout_ms)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	int n;

	do
		n = poll(&p, 1, timeout_ms);
	while (n < 0 && errno == EINTR);	/* a signal restarts the whole wait: callers bound it */
	if (n < 0)
		return -errno;
	return n == 0 ? -ETIMEDOUT : 0;
}

/* Pull the fds out of a received control block; closes what does not fit. */
static size_t take_fds(struct msghdr *mh, int *fds, size_t cap, bool *overflow)
{
	size_t n = 0;

	for (struct cmsghdr *c = CMSG_FIRSTHDR(mh); c; c = CMSG_NXTHDR(mh, c)) {
		size_t k;

		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
			continue;
		k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (size_t i = 0; i < k; i++) {
			int f;

			memcpy(&f, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
			if (n < cap)
				fds[n++] = f;
			else {
				close(f);
				*overflow = true;
			}
		}
	}
	return n;
}

int zpsi_ctl_recv_raw(int fd, int timeout_ms, char **buf_out, size_t *len_out, int *fds,
		      size_t *nfds)
{
	union {
		char buf[CMSG_SPACE(sizeof(int) * ZPSI_CTL_FDS_MAX)];
		struct cmsghdr align;
	} ctl;
	_cleanup_free_ char *buf = NULL;
	struct iovec iov;
	struct msghdr mh = { 0 };
	int got[ZPSI_CTL_FDS_MAX];
	bool overflow = false;
	size_t n_got;
	ssize_t n;
	int r;

	if (timeout_ms != 0) {
		r = wait_readable(fd, timeout_ms);
		if (r < 0)
			return r;
	}
	/* The packet's real length, without taking it (fds stay queued: a
	 * peek with no control buffer installs none). */
	do
		n = recv(fd, NULL, 0, MSG_PEEK | MSG_TRUNC | MSG_DONTWAIT);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return errno == EWOULDBLOCK ? -EAGAIN : -errno;
	if (n == 0) {
		/* EOF, or an empty packet, which recv() cannot tell apart; no
		 * sender of ours makes one, so it ends the conversation too. */
		return -ECONNRESET;
	}
	if ((size_t)n > ZPSI_CTL_MSG_MAX) {
		char small[1];

		/* Discard it unread; the fds that came with it are closed by
		 * the kernel because there is no room for them. */
		iov = (struct iovec){ .iov_base = small, .iov_len = sizeof(small) };
		mh = (struct msghdr){ .msg_iov = &iov, .msg_iovlen = 1 };
		mh.msg_control = ctl.buf;
		mh.msg_controllen = sizeof(ctl.buf);
		if (recvmsg(fd, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC) >= 0) {
			n_got = take_fds(&mh, got, ZPSI_CTL_FDS_MAX, &overflow);
			zpsi_ctl_close_fds(got, n_got);
		}
		return -EMSGSIZE;
	}
	buf = malloc((size_t)n + 1);
	if (!buf)
		return -ENOMEM;
	iov = (struct iovec){ .iov_base = buf, .iov_len = (size_t)n };
	mh = (struct msghdr){ .msg_iov = &iov, .msg_iovlen = 1 };
	mh.msg_control = ctl.buf;
	mh.msg_controllen = sizeof(ctl.buf);
	do
		n = recvmsg(fd, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return errno == EWOULDBLOCK ? -EAGAIN : -errno;
	n_got = take_fds(&mh, got, ZPSI_CTL_FDS_MAX, &overflow);
	if (overflow || (mh.msg_flags & (MSG_TRUNC | MSG_CTRUNC))) {
		zpsi_ctl_close_fds(got, n_got);
		return -EMSGSIZE;
	}
	buf[n] = '\0';
	memcpy(fds, got, n_got * sizeof(int));
	*nfds = n_got;
	*len_out = (size_t)n;
	*buf_out = ZPSI_TAKE_PTR(buf);
	return 0;
}

/* zpsi_ctl_recv, and the packet's size to *len_out */
static int ctl_recv_len(int fd, int timeout_ms, struct zpsi_ctl_msg *m, int *fds, size_t *nfds,
			size_t *len_out)
{
	_cleanup_free_ char *buf = NULL;
	int got[ZPSI_CTL_FDS_MAX];
	size_t len, n = 0;
	int r;

	r = zpsi_ctl_recv_raw(fd, timeout_ms, &buf, &len, got, &n);
	if (r < 0)
		return r;
	*len_out = len;
	r = zpsi_ctl_decode(buf, len, m);
	if (r < 0) {
		zpsi_ctl_close_fds(got, n);
		return r;
	}
	memcpy(fds, got, n * sizeof(int));
	*nfds = n;
	return 0;
}

int zpsi_ctl_recv(int fd, int timeout_ms, struct zpsi_ctl_msg *m, int *fds, size_t *nfds)
{
	size_t len;

	return ctl_recv_len(fd, timeout_ms, m, fds, nfds, &len);
}

/* A monotonic deadline so that a stream of unrelated packets cannot keep a
 * bounded wait going for ever. */
static int remaining_ms(uint64_t deadline_ns)
{
	uint64_t now;

	if (deadline_ns == UINT64_MAX)
		return -1;
	now = zpsi_mono_ns();
	return now >= deadline_ns ? 0 : (int)((deadline_ns - now + 999999) / 1000000);
}

static int append_chunk(json_t *acc, json_t *body, size_t *total, size_t len)
{
	json_t *more = json_object_get(body, "guests");
	json_t *have = json_object_get(acc, "guests");

	*total += len;
	if (*total > ZPSI_CTL_REPLY_MAX)
		return -EMSGSIZE;
	if (!more)
		return 0;
	if (!json_is_array(more) || (have && !json_is_array(have)))
		return -EBADMSG;
	if (!have)
		return json_object_set(acc, "guests", more) == 0 ? 0 : -ENOMEM;
	return json_array_extend(have, more) == 0 ? 0 : -ENOMEM;
}

int zpsi_ctl_request(int fd, const struct zpsi_ctl_msg *req, int timeout_ms, json_t **reply)
{
	static uint32_t next_seq;
	struct zpsi_ctl_msg m = *req;
	uint64_t deadline = timeout_ms < 0 ? UINT64_MAX : zpsi_mono_ns() + (uint64_t)timeout_ms * 1000000;
	json_t *acc = NULL;
	size_t total = 0;
	int r;

	m.seq = ++next_seq ? next_seq : ++next_seq;
	m.body = NULL;
	r = zpsi_ctl_send(fd, &m, NULL, 0);
	if (r < 0)
		return r;
	for (;;) {
		struct zpsi_ctl_msg in = { 0 };
		int fds[ZPSI_CTL_FDS_MAX];
		size_t nfds = 0, len = 0;
		int left = remaining_ms(deadline);

		if (left == 0) {
			r = -ETIMEDOUT;
			break;
		}
		r = ctl_recv_len(fd, left, &in, fds, &nfds, &len);
		if (r < 0)
			break;
		zpsi_ctl_close_fds(fds, nfds);	/* a client expects none */
		if (in.re != m.seq) {
			zpsi_ctl_msg_done(&in);
			continue;
		}
		if (in.type == ZPSI_CTL_ERROR) {
			json_t *e = json_pack("{s:s,s:s}", "error", zpsi_ctl_errno_name(in.u.error.error),
					      "message", in.u.error.message);

			json_decref(acc);
			if (!e)
				return -ENOMEM;
			*reply = e;
			return -in.u.error.error;
		}
		if (in.type != ZPSI_CTL_REPLY) {
			zpsi_ctl_msg_done(&in);
			continue;
		}
		if (!acc) {
			acc = in.body;
			in.body = NULL;
			total = len;
		} else {
			r = append_chunk(acc, in.body, &total, len);
			if (r < 0) {
				zpsi_ctl_msg_done(&in);
				break;
			}
		}
		zpsi_ctl_msg_done(&in);
		if (!in.more) {
			*reply = acc;
			return 0;
		}
	}
	json_decref(acc);
	return r;
}

int zpsi_ctl_vmm_register(const char *path, const struct zpsi_ctl_hello *hello, int region_fd,
			  int timeout_ms, int *fd_out, struct zpsi_ctl_welcome *welcome)
{
	_cleanup_close_ int fd = -1;
	struct zpsi_ctl_msg m = { .type = ZPSI_CTL_HELLO, .seq = 1 };
	uint64_t deadline = timeout_ms < 0 ? UINT64_MAX : zpsi_mono_ns() + (uint64_t)timeout_ms * 1000000;
	int r;

	if (region_fd < 0)
		return -EBADF;
	m.u.hello = *hello;
	r = zpsi_ctl_connect(path, &fd);
	if (r < 0)
		return r;
	r = zpsi_ctl_send(fd, &m, &region_fd, 1);
	if (r < 0)
		return r;
	for (;;) {
		struct zpsi_ctl_msg in = { 0 };
		int fds[ZPSI_CTL_FDS_MAX];
		size_t nfds = 0;
		int left = remaining_ms(deadline);

		if (left == 0)
			return -ETIMEDOUT;
		r = zpsi_ctl_recv(fd, left, &in, fds, &nfds);
		if (r < 0)
			return r;
		zpsi_ctl_close_fds(fds, nfds);
		zpsi_ctl_msg_done(&in);
		if (in.re != 1)
			continue;
		if (in.type == ZPSI_CTL_ERROR)
			return -in.u.error.error;
		if (in.type != ZPSI_CTL_WELCOME)
			return -EPROTO;
		*welcome = in.u.welcome;
		*fd_out = ZPSI_TAKE_FD(fd);
		return 0;
	}
}
