/* SPDX-License-Identifier: MIT */
/*
 * vmm/link.c - zpsi-vmm's side of zpsid's control protocol
 * (docs/control.md section 2): register the VM with its region fd and its
 * vCPU threads, report power states, the balloon and the resident set,
 * carry out zpsid's power commands (C3, C6 into a file zpsid opened, wake)
 * and memory targets, and come back with the resume token when zpsid goes
 * away -- the guest keeps running all the while.
 *
 * The link lives in the caller's thread (zpsi-vmm's main loop polls
 * vmm_link_fd() and calls vmm_link_tick() on time); it never blocks for
 * long: a connection attempt waits at most LINK_CONNECT_MS.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"
#include "zpsi/ctl.h"
#include "zpsi/util.h"

#define LINK_CONNECT_MS		2000
#define LINK_BACKOFF_MIN_NS	(100 * 1000000ull)
#define LINK_BACKOFF_MAX_NS	(5 * ZPSI_NSEC_PER_SEC)
#define LINK_POLL_BUSY_MS	5	/* while a command is under way */
#define LINK_REPORT_NS		(1 * ZPSI_NSEC_PER_SEC)	/* rss and balloon */

struct vmm_link {
	struct vmm *vm;
	char *socket_path;
	vmm_link_log_fn log;
	void *log_opaque;

	int fd;				/* -1 while away */
	char token[ZPSI_CTL_TOKEN_LEN + 1];
	uint32_t guest_id;
	uint64_t backoff_ns, next_try_ns;
	bool ever_connected;

	/* A power command under way: acked when the VM gets there or the
	 * attempt fails, never before - a C6 that is still being written
	 * must not be reported as failed (zpsid would drop the file). */
	bool pending;
	uint32_t pending_seq;
	uint8_t pending_power;
	unsigned pending_failures;	/* vmm_op_failures() when it began */

	uint8_t reported_power;		/* 0xFF: nothing reported on this connection */
	uint64_t reported_balloon, reported_rss, next_report_ns;
	int statm_fd;			/* /proc/self/statm, opened before seccomp */
};

static void link_log(struct vmm_link *l, int prio, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void link_log(struct vmm_link *l, int prio, const char *fmt, ...)
{
	char msg[384];
	va_list ap;

	if (!l->log)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	l->log(l->log_opaque, prio, msg);
}

/* What the VM really is in now: a guest that asked for C3 or C6 is C0
 * until it halts and the VMM pauses it, and C6 only once its state is on
 * disk and its memory released. */
static uint8_t link_actual_power(struct vmm *vm)
{
	uint8_t p = vmm_power(vm), actual;

	pthread_mutex_lock(&vm->lock);
	if (vm->run == VMM_RUN_HIBERNATED)
		actual = ZPSI_POWER_C6;
	else if (vm->run == VMM_RUN_PAUSED || vm->run == VMM_RUN_SAVING)
		actual = ZPSI_POWER_C3;
	else
		actual = p == ZPSI_POWER_C1 ? ZPSI_POWER_C1 : ZPSI_POWER_C0;
	pthread_mutex_unlock(&vm->lock);
	return actual;
}

static uint64_t link_rss_bytes(struct vmm_link *l)
{
	char buf[128];
	unsigned long long size, resident;
	ssize_t n;

	if (l->statm_fd < 0)
		return 0;
	n = pread(l->statm_fd, buf, sizeof(buf) - 1, 0);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	if (sscanf(buf, "%llu %llu", &size, &resident) != 2)
		return 0;
	return (uint64_t)resident * (uint64_t)sysconf(_SC_PAGESIZE);
}

static int link_send(struct vmm_link *l, const struct zpsi_ctl_msg *m)
{
	int r = l->fd >= 0 ? zpsi_ctl_send(l->fd, m, NULL, 0) : -ENOTCONN;

	if (r < 0 && r != -ENOTCONN)
		link_log(l, 4, "zpsid: sending %s failed: %s", zpsi_ctl_type_name(m->type), strerror(-r));
	return r;
}

static void link_ack_bytes(struct vmm_link *l, uint32_t re, int err, const char *message, uint64_t bytes)
{
	struct zpsi_ctl_msg a = { .type = ZPSI_CTL_ACK, .re = re };

	a.u.ack.ok = err == 0;
	a.u.ack.error = err;
	a.u.ack.bytes = bytes;
	a.u.ack.has_power = true;
	a.u.ack.power = link_actual_power(l->vm);
	if (message)
		snprintf(a.u.ack.message, sizeof(a.u.ack.message), "%s", message);
	(void)link_send(l, &a);
}

static void link_ack(struct vmm_link *l, uint32_t re, int err, const char *message)
{
	link_ack_bytes(l, re, err, message, 0);
}

/* Report what changed since the last report on this connection. */
static void link_report(struct vmm_link *l, bool periodic)
{
	struct zpsi_ctl_msg m = { .type = ZPSI_CTL_STATE };
	struct zpsi_ctl_state *s = &m.u.state;
	uint8_t power = link_actual_power(l->vm);

	if (power != l->reported_power) {
		s->has_power = true;
		s->power = power;
	}
	if (periodic) {
		uint64_t balloon, rss = link_rss_bytes(l);

		vmm_host_lock(l->vm->host);
		balloon = l->vm->balloon_released * ZPSI_VMM_PAGE_SIZE;
		vmm_host_unlock(l->vm->host);
		if (balloon != l->reported_balloon) {
			s->has_balloon = true;
			s->balloon_bytes = balloon;
		}
		if (rss && rss != l->reported_rss) {
			s->has_rss = true;
			s->rss_bytes = rss;
		}
	}
	vmm_host_lock(l->vm->host);
	s->counters_reset = l->vm->counters_reset_report;
	vmm_host_unlock(l->vm->host);
	if (!s->has_power && !s->has_balloon && !s->has_rss && !s->counters_reset)
		return;
	if (link_send(l, &m) < 0)
		return;
	if (s->has_power)
		l->reported_power = s->power;
	if (s->has_balloon)
		l->reported_balloon = s->balloon_bytes;
	if (s->has_rss)
		l->reported_rss = s->rss_bytes;
	if (s->counters_reset) {	/* sent: a later reset sets it again */
		vmm_host_lock(l->vm->host);
		l->vm->counters_reset_report = false;
		vmm_host_unlock(l->vm->host);
	}
}

static void link_lost(struct vmm_link *l, const char *why, bool soon)
{
	if (l->fd >= 0) {
		close(l->fd);
		l->fd = -1;
		link_log(l, 4, "zpsid: connection lost (%s); the guest keeps running, reconnecting", why);
	}
	l->pending = false;	/* zpsid fails the command on its side */
	l->backoff_ns = soon || !l->backoff_ns ? LINK_BACKOFF_MIN_NS : l->backoff_ns * 2;
	if (l->backoff_ns > LINK_BACKOFF_MAX_NS)
		l->backoff_ns = LINK_BACKOFF_MAX_NS;
	l->next_try_ns = zpsi_mono_ns() + l->backoff_ns;
}

static int link_connect(struct vmm_link *l)
{
	struct vmm *vm = l->vm;
	struct zpsi_ctl_hello h = { .proto = ZPSI_CTL_PROTO_VERSION };
	struct zpsi_ctl_welcome w;
	int r;

	snprintf(h.name, sizeof(h.name), "%s", vm->name);
	h.pid = getpid();
	h.weight = vm->cfg.weight ? vm->cfg.weight : 1;
	h.vcpus = vm->nvcpus;
	h.mem_bytes = vm->ram_size;
	/* Only the vCPU threads go into the VM's cgroup: the VMM's own
	 * threads (this one, the supervisor) are not the guest's CPU. */
	h.ntids = vm->nvcpus;
	for (unsigned i = 0; i < vm->nvcpus; i++)
		h.tids[i] = vm->vcpu[i].tid;
	snprintf(h.resume_token, sizeof(h.resume_token), "%s", l->token);
	h.features = ZPSI_CTL_F_C3 | ZPSI_CTL_F_C6 | ZPSI_CTL_F_BALLOON;
	h.power = link_actual_power(vm);

	r = zpsi_ctl_vmm_register(l->socket_path, &h, vm->region_fd, LINK_CONNECT_MS, &l->fd, &w);
	if (r < 0) {
		l->fd = -1;
		return r;
	}
	link_log(l, 6, "zpsid: %s as guest %u (aggregate %.2f %%)",
		 l->ever_connected ? (w.restored ? "resumed" : "registered again") : "registered",
		 w.guest_id, w.aggregate_psi * 100.0);
	snprintf(l->token, sizeof(l->token), "%s", w.resume_token);
	l->guest_id = w.guest_id;
	l->ever_connected = true;
	l->backoff_ns = 0;
	l->reported_power = 0xFF;
	l->reported_balloon = l->reported_rss = UINT64_MAX;
	if (w.mem_target_bytes)
		vmm_set_mem_target(vm, w.mem_target_bytes / ZPSI_VMM_PAGE_SIZE);
	link_report(l, true);
	return 0;
}

static void link_on_power(struct vmm_link *l, const struct zpsi_ctl_msg *m, int fd)
{
	struct vmm *vm = l->vm;
	uint8_t to = m->u.power.state, now = link_actual_power(vm);
	int r;

	if (l->pending) {
		zpsi_closep(&fd);
		link_ack(l, m->seq, EBUSY, "another power command is under way");
		return;
	}
	if (to == now) {
		zpsi_closep(&fd);
		link_ack(l, m->seq, 0, NULL);
		return;
	}
	/* taken before the request: a failure from here on is this one's */
	l->pending_failures = vmm_op_failures(vm, NULL, 0, NULL);
	switch (to) {
	case ZPSI_POWER_C3:
		zpsi_closep(&fd);
		r = vmm_request(vm, VMM_REQ_PAUSE);
		break;
	case ZPSI_POWER_C6:
		if (fd < 0) {
			link_ack(l, m->seq, EBADF, "C6 needs the state file's fd");
			return;
		}
		r = vmm_request_file(vm, VMM_REQ_HIBERNATE, fd);
		break;
	case ZPSI_POWER_C0:
		r = fd >= 0 ? vmm_request_file(vm, VMM_REQ_WAKE, fd) : vmm_request(vm, VMM_REQ_WAKE);
		break;
	default:
		zpsi_closep(&fd);
		r = -EINVAL;
		break;
	}
	if (r < 0) {
		link_ack(l, m->seq, -r, strerror(-r));
		return;
	}
	l->pending = true;
	l->pending_seq = m->seq;
	l->pending_power = to;
	link_log(l, 6, "zpsid: entering %s", zpsi_ctl_power_name(to));
}

static void link_check_pending(struct vmm_link *l)
{
	char why[160];
	uint64_t bytes;
	const char *crash;
	uint8_t now;

	if (!l->pending)
		return;
	if (vmm_op_failures(l->vm, why, sizeof(why), &bytes) != l->pending_failures) {
		l->pending = false;
		link_ack(l, l->pending_seq, EIO, why);
		link_report(l, false);
		return;
	}
	now = link_actual_power(l->vm);
	/* a woken guest may halt again at once: C1 is its own, not a failure */
	if (now == l->pending_power || (l->pending_power == ZPSI_POWER_C0 && now == ZPSI_POWER_C1)) {
		l->pending = false;
		link_ack_bytes(l, l->pending_seq, 0, NULL, l->pending_power == ZPSI_POWER_C6 ? bytes : 0);
		link_report(l, false);
		return;
	}
	crash = vmm_crash_reason(l->vm);
	if (crash[0]) {	/* the VM is ending */
		l->pending = false;
		link_ack(l, l->pending_seq, EIO, crash);
	}
}

void vmm_link_event(struct vmm_link *l)
{
	for (int i = 0; i < 16 && l->fd >= 0; i++) {
		struct zpsi_ctl_msg m = { 0 };
		int fds[ZPSI_CTL_FDS_MAX];
		size_t nfds = 0;
		int r = zpsi_ctl_recv(l->fd, 0, &m, fds, &nfds);

		if (r == -EAGAIN || r == -ETIMEDOUT)
			return;
		if (r < 0) {
			link_lost(l, r == -ECONNRESET ? "zpsid closed it" : strerror(-r), false);
			return;
		}
		switch (m.type) {
		case ZPSI_CTL_POWER:
			link_on_power(l, &m, nfds ? fds[0] : -1);
			if (nfds)
				fds[0] = -1;	/* taken */
			break;
		case ZPSI_CTL_MEM_TARGET:
			vmm_set_mem_target(l->vm, m.u.mem_target_bytes / ZPSI_VMM_PAGE_SIZE);
			link_ack(l, m.seq, 0, NULL);
			break;
		case ZPSI_CTL_SET_WEIGHT:
			link_ack(l, m.seq, -vmm_set_weight(l->vm, m.u.weight), NULL);
			break;
		case ZPSI_CTL_BYE:
			zpsi_ctl_close_fds(fds, nfds);
			link_lost(l, m.u.bye.reason[0] ? m.u.bye.reason : "bye", m.u.bye.reconnect);
			zpsi_ctl_msg_done(&m);
			return;
		case ZPSI_CTL_ERROR:
			link_log(l, 4, "zpsid refused a message: %s %s", zpsi_ctl_errno_name(m.u.error.error),
				 m.u.error.message);
			break;
		default:
			link_log(l, 4, "zpsid: ignored an unexpected '%s'", zpsi_ctl_type_name(m.type));
			break;
		}
		zpsi_ctl_close_fds(fds, nfds);
		zpsi_ctl_msg_done(&m);
	}
}

void vmm_link_tick(struct vmm_link *l)
{
	struct vmm *vm = l->vm;
	uint64_t now = zpsi_mono_ns();
	bool c6_request;

	if (l->fd < 0) {
		int r;

		if (now < l->next_try_ns)
			return;
		r = link_connect(l);
		if (r < 0) {
			if (!l->ever_connected && !l->backoff_ns)
				link_log(l, 4, "zpsid at %s: %s; the guest runs, retrying", l->socket_path,
					 strerror(-r));
			link_lost(l, strerror(-r), false);
			return;
		}
	}
	link_check_pending(l);
	pthread_mutex_lock(&vm->lock);
	c6_request = vm->pending & VMM_PEND_TELL_C6;
	vm->pending &= ~VMM_PEND_TELL_C6;
	pthread_mutex_unlock(&vm->lock);
	if (c6_request) {
		struct zpsi_ctl_msg m = { .type = ZPSI_CTL_STATE };

		m.u.state.has_power_request = true;
		m.u.state.power_request = ZPSI_POWER_C6;
		(void)link_send(l, &m);
	}
	link_report(l, now >= l->next_report_ns);
	if (now >= l->next_report_ns)
		l->next_report_ns = now + LINK_REPORT_NS;
}

int vmm_link_fd(const struct vmm_link *l)
{
	return l->fd;
}

int vmm_link_timeout_ms(const struct vmm_link *l)
{
	uint64_t now = zpsi_mono_ns(), next;

	if (l->pending)
		return LINK_POLL_BUSY_MS;
	next = l->fd < 0 ? l->next_try_ns : l->next_report_ns;
	/* power changes the guest makes are reported within this */
	if (next > now + 200 * 1000000ull)
		next = now + 200 * 1000000ull;
	return next > now ? (int)((next - now + 999999) / 1000000) : 0;
}

int vmm_link_new(struct vmm *vm, const char *socket_path, vmm_link_log_fn log, void *opaque,
		 struct vmm_link **out)
{
	struct vmm_link *l;

	if (!zpsi_ctl_name_valid(vm->name))
		return vmm_errctx_set("VM name (zpsid needs [A-Za-z0-9][A-Za-z0-9._-]{0,62})"), -EINVAL;
	l = calloc(1, sizeof(*l));
	if (!l)
		return -ENOMEM;
	l->socket_path = strdup(socket_path);
	if (!l->socket_path) {
		free(l);
		return -ENOMEM;
	}
	l->vm = vm;
	l->log = log;
	l->log_opaque = opaque;
	l->fd = -1;
	l->reported_power = 0xFF;
	/* Opened now: the seccomp filter refuses open() later. */
	l->statm_fd = open("/proc/self/statm", O_RDONLY | O_CLOEXEC);
	/* jansson seeds its hash function on first use, from /dev/urandom:
	 * do that now too. */
	json_object_seed(0);

	vmm_host_lock(vm->host);
	vm->host_external = true;
	vmm_host_unlock(vm->host);
	pthread_mutex_lock(&vm->lock);
	vm->defer_c6 = true;
	pthread_mutex_unlock(&vm->lock);
	*out = l;
	return 0;
}

struct vmm_link *vmm_link_free(struct vmm_link *l, const char *bye_reason)
{
	if (!l)
		return NULL;
	if (l->fd >= 0 && bye_reason) {
		struct zpsi_ctl_msg b = { .type = ZPSI_CTL_BYE };

		snprintf(b.u.bye.reason, sizeof(b.u.bye.reason), "%s", bye_reason);
		(void)zpsi_ctl_send(l->fd, &b, NULL, 0);
	}
	zpsi_closep(&l->fd);
	zpsi_closep(&l->statm_fd);
	free(l->socket_path);
	free(l);
	return NULL;
}
