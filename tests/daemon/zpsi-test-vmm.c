/* SPDX-License-Identifier: MIT */
/*
 * zpsi-test-vmm - a TEST CLIENT that speaks the VMM side of zpsid's control
 * protocol without running a guest: SIMULATED VMs.  For each one it creates
 * a real region memfd, registers over the real socket with the real fd,
 * publishes PSI with abi.h's guest publish helper (the seqlock a guest
 * uses), answers power commands (C3 stops publishing; C6 writes a snapshot
 * to the fd zpsid passes; a wake reads it back and checks it), and
 * reconnects with its resume token when zpsid goes away.  The real VMM is
 * vmm/ (zpsi-vmm --daemon SOCKET); this stands in for it in the daemon
 * tests and the scale benchmark ("simulated writers").
 *
 * Lines on stdout: "READY name id token", "RESUMED name id restored=N",
 * "POWER name C3", "GONE name reason".
 */
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "zpsi/abi.h"
#include "zpsi/ctl.h"
#include "zpsi/region.h"
#include "zpsi/util.h"

enum hostile { H_NONE, H_NAN, H_TORN, H_BACKWARDS, H_FLOOD };

struct vm {
	char name[ZPSI_CTL_NAME_MAX + 1];
	int fd;			/* control connection, -1 while away */
	int region_fd;
	struct zpsi_region *region;
	char token[ZPSI_CTL_TOKEN_LEN + 1];
	uint64_t committed, deferred, steps;
	uint8_t power;
	uint64_t next_try_ns, backoff_ns;
	uint64_t mem_target;
	/* --c6-delay: a C6 whose state is written (and acked) later */
	int c6_fd;
	uint32_t c6_seq;
	uint64_t c6_due_ns;
};

static struct {
	const char *socket;
	unsigned count, weight, vcpus, bp, rate, burn, c6_delay_ms, reset_at;
	uint64_t mem;
	uint32_t features;
	enum hostile hostile;
	bool reconnect, bye, c6_fail;
	double exit_after;
	struct zpsi_ctl_hello hello;
} opt = { .count = 1, .weight = 1, .vcpus = 1, .rate = 100, .mem = 64 << 20, .reconnect = true };

static volatile sig_atomic_t stop;
static volatile uint64_t burn_loops;
static int32_t burn_tids[ZPSI_CTL_TIDS_MAX];

static void on_signal(int s)
{
	(void)s;
	stop = 1;
}

/* A "vCPU": spins, counting its progress. */
static void *burner(void *arg)
{
	unsigned i = (unsigned)(uintptr_t)arg;

	burn_tids[i] = (int32_t)syscall(SYS_gettid);
	while (!stop)
		__atomic_add_fetch(&burn_loops, 1, __ATOMIC_RELAXED);
	return NULL;
}

static void publish(struct vm *v)
{
	unsigned bp = opt.bp;
	uint64_t ts = zpsi_mono_ns();

	if (v->power == ZPSI_POWER_C3 || v->power == ZPSI_POWER_C6)
		return;	/* a paused guest reports nothing */
	/* 10000 operations a step, `bp` of them deferred: the ratio is exact */
	v->committed += ZPSI_BP_MAX - bp;
	v->deferred += bp;
	v->steps++;
	if (opt.reset_at && v->steps == opt.reset_at) {
		/* the guest's PSI_CTRL_MSR.RESET, as its VMM reports it */
		struct zpsi_ctl_msg m = { .type = ZPSI_CTL_STATE };

		m.u.state.counters_reset = true;
		if (v->fd >= 0)
			zpsi_ctl_send(v->fd, &m, NULL, 0);
		v->committed = ZPSI_BP_MAX - bp;
		v->deferred = bp;
		printf("RESET %s\n", v->name);
	}
	switch (opt.hostile) {
	case H_NAN:
		zpsi_region_guest_publish(v->region, 0x7FF8000000000000ull, v->committed, v->deferred, ts);
		return;
	case H_TORN:
		__atomic_store_n(&v->region->version, 1, __ATOMIC_RELAXED);	/* odd for ever */
		return;
	case H_BACKWARDS:
		zpsi_region_guest_publish(v->region, zpsi_f64_from_bp(bp), v->steps & 1 ? 0 : v->committed,
					  v->deferred, ts);
		return;
	default:
		zpsi_region_guest_publish(v->region, zpsi_f64_from_bp(bp), v->committed, v->deferred, ts);
	}
}

static int try_connect(struct vm *v)
{
	struct zpsi_ctl_hello h = opt.hello;
	struct zpsi_ctl_welcome w;
	int r;

	strcpy(h.name, v->name);
	strcpy(h.resume_token, v->token);
	h.power = v->power;
	r = zpsi_ctl_vmm_register(opt.socket, &h, v->region_fd, 5000, &v->fd, &w);
	if (r < 0)
		return r;
	if (v->token[0])
		printf("RESUMED %s %u restored=%d power=%s\n", v->name, w.guest_id, w.restored,
		       zpsi_ctl_power_name(w.power));
	else
		printf("READY %s %u %s\n", v->name, w.guest_id, w.resume_token);
	fflush(stdout);
	strcpy(v->token, w.resume_token);
	v->power = w.power;
	v->backoff_ns = 0;
	return 0;
}

static void ack(struct vm *v, uint32_t re, int err, uint8_t power, uint64_t bytes)
{
	struct zpsi_ctl_msg a = { .type = ZPSI_CTL_ACK, .re = re };

	a.u.ack.ok = err == 0;
	a.u.ack.error = err;
	a.u.ack.has_power = true;
	a.u.ack.power = power;
	a.u.ack.bytes = bytes;
	zpsi_ctl_send(v->fd, &a, NULL, 0);
}

/* The "saved state" of a simulated VM: its counters and region bytes. */
struct snapshot {
	char magic[8];
	uint64_t committed, deferred;
	uint8_t region[ZPSI_REGION_SIZE];
};

static void c6_write(struct vm *v, uint32_t seq, int fd)
{
	struct snapshot s;

	memcpy(s.magic, "ZTESTVM", 8);
	s.committed = v->committed;
	s.deferred = v->deferred;
	memcpy(s.region, (void *)v->region, sizeof(s.region));
	/* --c6-fail: half a state, then the failure a full disk would give */
	if (opt.c6_fail) {
		(void)!write(fd, &s, sizeof(s) / 2);
		ack(v, seq, ENOSPC, v->power, 0);
		return;
	}
	if (write(fd, &s, sizeof(s)) != (ssize_t)sizeof(s)) {
		ack(v, seq, EIO, v->power, 0);
		return;
	}
	v->power = ZPSI_POWER_C6;
	ack(v, seq, 0, v->power, sizeof(s));
	printf("POWER %s C6\n", v->name);
	fflush(stdout);
}

/* A delayed C6 whose time has come (or whose connection went: it is
 * finished all the same, as a real VMM's save would be). */
static void c6_finish(struct vm *v)
{
	c6_write(v, v->c6_seq, v->c6_fd);
	close(v->c6_fd);
	v->c6_fd = -1;
}

static void on_power(struct vm *v, const struct zpsi_ctl_msg *m, int *fdp)
{
	uint8_t to = m->u.power.state;
	int fd = *fdp;
	struct snapshot s;

	if (v->c6_fd >= 0) {
		ack(v, m->seq, EBUSY, v->power, 0);
		return;
	}
	if (to == ZPSI_POWER_C6 && fd >= 0 && opt.c6_delay_ms) {
		v->c6_fd = fd;
		*fdp = -1;
		v->c6_seq = m->seq;
		v->c6_due_ns = zpsi_mono_ns() + opt.c6_delay_ms * 1000000ull;
		return;
	}
	if (to == ZPSI_POWER_C6) {
		if (fd < 0)
			ack(v, m->seq, EBADF, v->power, 0);
		else
			c6_write(v, m->seq, fd);
		return;
	} else if (to == ZPSI_POWER_C0 && v->power == ZPSI_POWER_C6) {
		if (fd < 0 || read(fd, &s, sizeof(s)) != (ssize_t)sizeof(s) || memcmp(s.magic, "ZTESTVM", 8) ||
		    s.committed != v->committed || s.deferred != v->deferred) {
			ack(v, m->seq, EBADMSG, v->power, 0);
			return;
		}
		v->power = to;
		ack(v, m->seq, 0, to, 0);
	} else {
		v->power = to;
		ack(v, m->seq, 0, to, 0);
	}
	printf("POWER %s %s\n", v->name, zpsi_ctl_power_name(to));
	fflush(stdout);
}

static void lost(struct vm *v, const char *why)
{
	close(v->fd);
	v->fd = -1;
	printf("GONE %s %s\n", v->name, why);
	fflush(stdout);
	v->backoff_ns = v->backoff_ns ? v->backoff_ns * 2 : 100000000ull;
	if (v->backoff_ns > 5 * ZPSI_NSEC_PER_SEC)
		v->backoff_ns = 5 * ZPSI_NSEC_PER_SEC;
	v->next_try_ns = zpsi_mono_ns() + v->backoff_ns;
	if (!opt.reconnect)
		stop = 1;
}

static void on_packet(struct vm *v)
{
	struct zpsi_ctl_msg m = { 0 };
	int fds[ZPSI_CTL_FDS_MAX];
	size_t n = 0;
	int r = zpsi_ctl_recv(v->fd, 0, &m, fds, &n);

	if (r == -EAGAIN)
		return;
	if (r < 0) {
		lost(v, strerror(-r));
		return;
	}
	switch (m.type) {
	case ZPSI_CTL_POWER:
		if (!n)
			fds[n++] = -1;
		on_power(v, &m, &fds[0]);
		break;
	case ZPSI_CTL_MEM_TARGET:
		v->mem_target = m.u.mem_target_bytes;
		ack(v, m.seq, 0, v->power, 0);
		break;
	case ZPSI_CTL_SET_WEIGHT:
		ack(v, m.seq, 0, v->power, 0);
		break;
	case ZPSI_CTL_BYE:
		zpsi_ctl_close_fds(fds, n);
		zpsi_ctl_msg_done(&m);
		lost(v, "bye");
		return;
	default:
		break;
	}
	zpsi_ctl_close_fds(fds, n);
	zpsi_ctl_msg_done(&m);
}

static void usage(void)
{
	fprintf(stderr,
		"Usage: zpsi-test-vmm --socket PATH --name NAME [--count N] [--weight W] [--vcpus N]\n"
		"       [--memory BYTES] [--psi BP] [--rate HZ] [--features c3,c6,balloon] [--burn N]\n"
		"       [--hostile nan|torn|backwards|flood] [--no-reconnect] [--bye] [--exit-after S]\n"
		"       [--c6-delay MS] [--c6-fail] [--reset-at STEP]\n"
		"A TEST CLIENT with simulated VMs (see the file's comment).\n");
	exit(2);
}

static void parse(int argc, char **argv, const char **name)
{
	static const struct option o[] = {
		{ "socket", 1, NULL, 's' }, { "name", 1, NULL, 'n' }, { "count", 1, NULL, 'c' },
		{ "weight", 1, NULL, 'w' }, { "vcpus", 1, NULL, 'v' }, { "memory", 1, NULL, 'm' },
		{ "psi", 1, NULL, 'p' }, { "rate", 1, NULL, 'r' }, { "features", 1, NULL, 'f' },
		{ "burn", 1, NULL, 'b' }, { "hostile", 1, NULL, 'H' }, { "no-reconnect", 0, NULL, 'N' },
		{ "bye", 0, NULL, 'B' }, { "exit-after", 1, NULL, 'x' }, { "c6-delay", 1, NULL, 'D' },
		{ "c6-fail", 0, NULL, 'F' }, { "reset-at", 1, NULL, 'R' }, { 0 }
	};
	int c;

	while ((c = getopt_long(argc, argv, "", o, NULL)) != -1) {
		switch (c) {
		case 's': opt.socket = optarg; break;
		case 'n': *name = optarg; break;
		case 'c': opt.count = (unsigned)atoi(optarg); break;
		case 'w': opt.weight = (unsigned)atoi(optarg); break;
		case 'v': opt.vcpus = (unsigned)atoi(optarg); break;
		case 'm': opt.mem = strtoull(optarg, NULL, 0); break;
		case 'p': opt.bp = (unsigned)atoi(optarg); break;
		case 'r': opt.rate = (unsigned)atoi(optarg); break;
		case 'f':
			opt.features |= strstr(optarg, "c3") ? ZPSI_CTL_F_C3 : 0;
			opt.features |= strstr(optarg, "c6") ? ZPSI_CTL_F_C6 : 0;
			opt.features |= strstr(optarg, "balloon") ? ZPSI_CTL_F_BALLOON : 0;
			break;
		case 'b': opt.burn = (unsigned)atoi(optarg); break;
		case 'H':
			opt.hostile = !strcmp(optarg, "nan") ? H_NAN : !strcmp(optarg, "torn") ? H_TORN
				: !strcmp(optarg, "backwards") ? H_BACKWARDS : !strcmp(optarg, "flood") ? H_FLOOD
				: H_NONE;
			break;
		case 'N': opt.reconnect = false; break;
		case 'B': opt.bye = true; break;
		case 'x': opt.exit_after = atof(optarg); break;
		case 'D': opt.c6_delay_ms = (unsigned)atoi(optarg); break;
		case 'F': opt.c6_fail = true; break;
		case 'R': opt.reset_at = (unsigned)atoi(optarg); break;
		default: usage();
		}
	}
	if (!opt.socket || !*name || !opt.count || opt.bp > ZPSI_BP_MAX || !opt.rate ||
	    opt.burn > ZPSI_CTL_TIDS_MAX)
		usage();
}

int main(int argc, char **argv)
{
	const char *name = NULL;
	struct vm *vms;
	struct pollfd *pfd;
	pthread_t th[ZPSI_CTL_TIDS_MAX];
	uint64_t start, next_pub, period;

	parse(argc, argv, &name);
	signal(SIGTERM, on_signal);
	signal(SIGINT, on_signal);
	signal(SIGPIPE, SIG_IGN);
	setvbuf(stdout, NULL, _IOLBF, 0);
	opt.hello.proto = ZPSI_CTL_PROTO_VERSION;
	opt.hello.pid = getpid();
	opt.hello.weight = opt.weight;
	opt.hello.vcpus = opt.vcpus;
	opt.hello.mem_bytes = opt.mem;
	opt.hello.features = opt.features;
	for (unsigned i = 0; i < opt.burn; i++) {
		pthread_create(&th[i], NULL, burner, (void *)(uintptr_t)i);
		while (!__atomic_load_n(&burn_tids[i], __ATOMIC_ACQUIRE))
			usleep(100);
	}
	memcpy(opt.hello.tids, burn_tids, sizeof(burn_tids));
	opt.hello.ntids = opt.burn;

	vms = calloc(opt.count, sizeof(*vms));
	pfd = calloc(opt.count, sizeof(*pfd));
	if (!vms || !pfd)
		return 1;
	for (unsigned i = 0; i < opt.count; i++) {
		struct vm *v = &vms[i];
		int r;

		v->c6_fd = -1;
		if (opt.count == 1)
			snprintf(v->name, sizeof(v->name), "%s", name);
		else
			snprintf(v->name, sizeof(v->name), "%s%u", name, i);
		if (zpsi_region_create_memfd(v->name, &v->region_fd) < 0 ||
		    zpsi_region_map(v->region_fd, 0, &v->region) < 0) {
			fprintf(stderr, "zpsi-test-vmm: cannot create a region: %m\n");
			return 1;
		}
		publish(v);
		r = try_connect(v);
		if (r < 0) {
			fprintf(stderr, "zpsi-test-vmm: %s: register: %s\n", v->name, strerror(-r));
			if (!opt.reconnect)
				return 1;
			v->fd = -1;
			v->next_try_ns = zpsi_mono_ns() + 100000000ull;
		}
	}
	start = zpsi_mono_ns();
	period = ZPSI_NSEC_PER_SEC / opt.rate;
	next_pub = start;
	while (!stop) {
		uint64_t now = zpsi_mono_ns();
		int wait;

		if (opt.exit_after > 0 && now - start >= (uint64_t)(opt.exit_after * 1e9))
			break;
		if (opt.hostile == H_FLOOD || now >= next_pub) {
			for (unsigned i = 0; i < opt.count; i++)
				publish(&vms[i]);
			next_pub += period;
			if (next_pub < now)
				next_pub = now + period;	/* fell behind: do not catch up in a burst */
		}
		wait = opt.hostile == H_FLOOD ? 0 : (int)((next_pub > now ? next_pub - now : 0) / 1000000);
		for (unsigned i = 0; i < opt.count; i++) {
			struct vm *v = &vms[i];

			if (v->c6_fd >= 0 && now >= v->c6_due_ns)
				c6_finish(v);
			else if (v->c6_fd >= 0 && (int)((v->c6_due_ns - now) / 1000000) < wait)
				wait = (int)((v->c6_due_ns - now) / 1000000);
			if (v->fd < 0 && opt.reconnect && now >= v->next_try_ns && try_connect(v) < 0) {
				v->backoff_ns = v->backoff_ns ? v->backoff_ns * 2 : 100000000ull;
				if (v->backoff_ns > 5 * ZPSI_NSEC_PER_SEC)
					v->backoff_ns = 5 * ZPSI_NSEC_PER_SEC;
				v->next_try_ns = now + v->backoff_ns;
			}
			pfd[i] = (struct pollfd){ .fd = v->fd, .events = POLLIN };
		}
		if (poll(pfd, opt.count, wait) > 0)
			for (unsigned i = 0; i < opt.count; i++)
				if (pfd[i].revents && vms[i].fd >= 0)
					on_packet(&vms[i]);
	}
	stop = 1;
	for (unsigned i = 0; i < opt.burn; i++)
		pthread_join(th[i], NULL);
	for (unsigned i = 0; i < opt.count; i++) {
		if (opt.bye && vms[i].fd >= 0) {
			struct zpsi_ctl_msg b = { .type = ZPSI_CTL_BYE };

			strcpy(b.u.bye.reason, "exit");
			zpsi_ctl_send(vms[i].fd, &b, NULL, 0);
		}
		if (vms[i].fd >= 0)
			close(vms[i].fd);
		zpsi_region_unmap(vms[i].region);
		close(vms[i].region_fd);
	}
	printf("EXIT burn_loops=%llu\n", (unsigned long long)burn_loops);
	free(vms);
	free(pfd);
	return 0;
}
