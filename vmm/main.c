/* SPDX-License-Identifier: MIT */
/*
 * vmm/main.c - zpsi-vmm, the command line (zpsi-vmm(1)).  Everything else
 * is the zpsi_vmm_core library; this file parses options, turns signals
 * into host requests through a signalfd, and reports how the VM ended.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include "payloads.h"
#include "vmm.h"
#include "zpsi/util.h"

#define KERNEL_MAX_BYTES (64u << 20)

struct options {
	const char *payload, *kernel, *restore, *daemon;
	struct vmm_config cfg;
	struct zpsi_registry_config reg;
	bool have_rate, no_seccomp, stats;
};

static void usage(FILE *f)
{
	fputs("Usage: zpsi-vmm --payload NAME | --kernel FILE | --restore FILE [OPTIONS]\n"
	      "Run a guest on /dev/kvm whose PSI MSRs, hypercalls and shared region are real.\n\n"
	      "  --payload NAME      a built-in guest: conformance, workload, faults, bench, detect\n"
	      "  --kernel FILE       your own static x86-64 ELF, linked at 0x100000 (docs/guest.md)\n"
	      "  --restore FILE      continue a VM saved with --state-out\n"
	      "  --vcpus N           1..4 vCPUs, each on its own thread (default 1)\n"
	      "  --mem MIB           guest RAM, 4..4096 MiB (default 32)\n"
	      "  --weight W          weight of this guest in the aggregate, 1..65535 (default 1)\n"
	      "  --profile SPEC      workload: const:PCT | step:PCT,PCT,SECONDS |\n"
	      "                      ramp:PCT,PCT,SECONDS | idle:SECONDS (default const:20)\n"
	      "  --report PATH       workload: hypercall | msr | region (default hypercall)\n"
	      "  --ops N             workload: operations to run (default 20000)\n"
	      "  --signature STR     present another hypervisor at 0x40000000 (the PSI block\n"
	      "                      moves to 0x40000100), e.g. \"Microsoft Hv\", KVMKVMKVM\n"
	      "  --name NAME         a label for the VM (default zpsi); zpsid knows it by it\n"
	      "  --daemon SOCKET     register with zpsid there: it sees the guest's PSI, sets\n"
	      "                      its resources and power states (reconnects if zpsid restarts)\n"
	      "  --append STR        a command line for the guest (boot page)\n"
	      "  --param N           a number for the payload, up to four (workload: the idle\n"
	      "                      alarm in ms, then MiB of memory to write at start)\n"
	      "  --state-out FILE    where C6 and SIGUSR2 save the VM\n"
	      "  --timeout SECONDS   watchdog: end the VM (status 124) after this long\n"
	      "  --rate N            per-guest hypercall rate limit, calls/s (0: none;\n"
	      "                      default 1000000)\n"
	      "  --burst N           rate limit burst (default 100000)\n"
	      "  --no-seccomp        do not apply the seccomp filter\n"
	      "  --stats             print exit and PSI counters to stderr at the end\n"
	      "  --list-payloads     print the built-in guests\n"
	      "  -h, --help          this text\n\n"
	      "Signals: SIGUSR1 wakes the guest (C0), SIGUSR2 saves it to --state-out and\n"
	      "exits, SIGPWR hibernates it (C6), SIGINT/SIGTERM/SIGHUP stop it. A failed\n"
	      "hibernation or wake is reported and the VM lives on.\n"
	      "Exit status: the guest's own (0..119), 120 guest fault, 124 watchdog,\n"
	      "125 VMM error (e.g. no usable /dev/kvm), 126 guest crash, 2 usage.\n",
	      f);
}

static int fail_usage(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int fail_usage(const char *fmt, ...)
{
	va_list ap;

	fputs("zpsi-vmm: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputs("\nTry 'zpsi-vmm --help'.\n", stderr);
	return 2;
}

static int parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
	char *end;
	unsigned long long v;

	if (!s || !*s || *s == '-')
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || *end || v < min || v > max)
		return -ERANGE;
	*out = v;
	return 0;
}

/* A fixed-point decimal with up to `digits` fraction digits, scaled by
 * 10^digits: "12.5" with 2 digits -> 1250.  *end points past it. */
static int parse_fixed(const char *s, unsigned digits, uint64_t max, uint64_t *out, const char **end)
{
	uint64_t v = 0;
	unsigned frac = 0;
	bool any = false, dot = false;

	for (; *s; s++) {
		if (*s == '.' && !dot) {
			dot = true;
			continue;
		}
		if (*s < '0' || *s > '9')
			break;
		if (dot && frac == digits)
			return -EINVAL;
		v = v * 10 + (uint64_t)(*s - '0');
		frac += dot;
		any = true;
		if (v > max * 1000)
			return -ERANGE;
	}
	if (!any)
		return -EINVAL;
	for (; frac < digits; frac++)
		v *= 10;
	if (v > max)
		return -ERANGE;
	*out = v;
	*end = s;
	return 0;
}

/* const:PCT | step:PCT,PCT,SECONDS | ramp:PCT,PCT,SECONDS | idle:SECONDS */
static int parse_profile(const char *spec, struct vmm_config *c)
{
	static const struct {
		const char *name;
		uint32_t kind;
		unsigned pcts;
		bool secs;
	} kinds[] = {
		{ "const:", ZPSI_VMM_PROFILE_CONST, 1, false },
		{ "step:", ZPSI_VMM_PROFILE_STEP, 2, true },
		{ "ramp:", ZPSI_VMM_PROFILE_RAMP, 2, true },
		{ "idle:", ZPSI_VMM_PROFILE_IDLE, 0, true },
	};

	for (size_t k = 0; k < ZPSI_ARRAY_SIZE(kinds); k++) {
		const char *p = spec;
		uint64_t v[3] = { 0 };
		unsigned n = 0;

		if (strncmp(p, kinds[k].name, strlen(kinds[k].name)) != 0)
			continue;
		p += strlen(kinds[k].name);
		for (unsigned i = 0; i < kinds[k].pcts + kinds[k].secs; i++) {
			bool is_secs = i == kinds[k].pcts;
			/* percent with 2 decimals = bp; seconds with 3 = ms (1 day max) */
			int r = parse_fixed(p, is_secs ? 3 : 2, is_secs ? 86400000 : ZPSI_BP_MAX, &v[n++], &p);

			if (r < 0)
				return r;
			if (i + 1 < kinds[k].pcts + kinds[k].secs && *p++ != ',')
				return -EINVAL;
		}
		if (*p)
			return -EINVAL;
		c->profile = kinds[k].kind;
		c->profile_a_bp = kinds[k].pcts ? (uint32_t)v[0] : ZPSI_BP_MAX;
		c->profile_b_bp = kinds[k].pcts == 2 ? (uint32_t)v[1] : c->profile_a_bp;
		c->profile_ms = kinds[k].secs ? (uint32_t)v[kinds[k].pcts] : 0;
		return 0;
	}
	return -EINVAL;
}

static int parse_report(const char *s, uint32_t *out)
{
	static const char *const names[] = {
		[ZPSI_VMM_REPORT_HYPERCALL] = "hypercall",
		[ZPSI_VMM_REPORT_MSR] = "msr",
		[ZPSI_VMM_REPORT_REGION] = "region",
	};

	for (uint32_t i = 0; i < ZPSI_ARRAY_SIZE(names); i++)
		if (strcmp(s, names[i]) == 0) {
			*out = i;
			return 0;
		}
	return -EINVAL;
}

enum {
	OPT_PAYLOAD = 0x100, OPT_KERNEL, OPT_RESTORE, OPT_VCPUS, OPT_MEM, OPT_WEIGHT, OPT_PROFILE,
	OPT_REPORT, OPT_OPS, OPT_SIGNATURE, OPT_NAME, OPT_APPEND, OPT_STATE_OUT, OPT_TIMEOUT,
	OPT_RATE, OPT_BURST, OPT_NO_SECCOMP, OPT_STATS, OPT_LIST, OPT_PARAM, OPT_DAEMON,
};

static const struct option long_options[] = {
	{ "payload", required_argument, NULL, OPT_PAYLOAD },
	{ "kernel", required_argument, NULL, OPT_KERNEL },
	{ "restore", required_argument, NULL, OPT_RESTORE },
	{ "vcpus", required_argument, NULL, OPT_VCPUS },
	{ "mem", required_argument, NULL, OPT_MEM },
	{ "weight", required_argument, NULL, OPT_WEIGHT },
	{ "profile", required_argument, NULL, OPT_PROFILE },
	{ "report", required_argument, NULL, OPT_REPORT },
	{ "ops", required_argument, NULL, OPT_OPS },
	{ "signature", required_argument, NULL, OPT_SIGNATURE },
	{ "name", required_argument, NULL, OPT_NAME },
	{ "daemon", required_argument, NULL, OPT_DAEMON },
	{ "append", required_argument, NULL, OPT_APPEND },
	{ "state-out", required_argument, NULL, OPT_STATE_OUT },
	{ "timeout", required_argument, NULL, OPT_TIMEOUT },
	{ "rate", required_argument, NULL, OPT_RATE },
	{ "burst", required_argument, NULL, OPT_BURST },
	{ "param", required_argument, NULL, OPT_PARAM },
	{ "no-seccomp", no_argument, NULL, OPT_NO_SECCOMP },
	{ "stats", no_argument, NULL, OPT_STATS },
	{ "list-payloads", no_argument, NULL, OPT_LIST },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

/* 0 to run, 1 to exit 0 (help), 2 usage error. */
static int parse_args(int argc, char **argv, struct options *o)
{
	unsigned nparam = 0;
	uint64_t v;
	int c;

	o->cfg.profile = ZPSI_VMM_PROFILE_CONST;
	o->cfg.profile_a_bp = o->cfg.profile_b_bp = 2000;
	o->reg = (struct zpsi_registry_config){ .rate_per_sec = ZPSI_REGISTRY_DEFAULT_RATE,
						.burst = ZPSI_REGISTRY_DEFAULT_BURST };
	while ((c = getopt_long(argc, argv, "h", long_options, NULL)) != -1) {
		switch (c) {
		case OPT_PAYLOAD: o->payload = optarg; break;
		case OPT_KERNEL: o->kernel = optarg; break;
		case OPT_RESTORE: o->restore = optarg; break;
		case OPT_VCPUS:
			if (parse_u64(optarg, 1, ZPSI_VMM_MAX_VCPUS, &v) < 0)
				return fail_usage("--vcpus: 1 to 4, not '%s'", optarg);
			o->cfg.vcpus = (unsigned)v;
			break;
		case OPT_MEM:
			if (parse_u64(optarg, ZPSI_VMM_MEM_MIN_MIB, ZPSI_VMM_MEM_MAX_MIB, &v) < 0)
				return fail_usage("--mem: 4 to 4096 (MiB), not '%s'", optarg);
			o->cfg.mem_mib = (uint32_t)v;
			break;
		case OPT_WEIGHT:
			if (parse_u64(optarg, ZPSI_WEIGHT_MIN, ZPSI_WEIGHT_MAX, &v) < 0)
				return fail_usage("--weight: 1 to 65535, not '%s'", optarg);
			o->cfg.weight = (uint32_t)v;
			break;
		case OPT_PROFILE:
			if (parse_profile(optarg, &o->cfg) < 0)
				return fail_usage("--profile: const:PCT, step:PCT,PCT,SECONDS, "
						  "ramp:PCT,PCT,SECONDS or idle:SECONDS (PCT 0..100), not '%s'",
						  optarg);
			break;
		case OPT_REPORT:
			if (parse_report(optarg, &o->cfg.report) < 0)
				return fail_usage("--report: hypercall, msr or region, not '%s'", optarg);
			break;
		case OPT_OPS:
			if (parse_u64(optarg, 1, UINT64_MAX, &o->cfg.ops) < 0)
				return fail_usage("--ops: a positive number, not '%s'", optarg);
			break;
		case OPT_SIGNATURE: o->cfg.signature = optarg; break;
		case OPT_NAME: o->cfg.name = optarg; break;
		case OPT_DAEMON: o->daemon = optarg; break;
		case OPT_APPEND: o->cfg.cmdline = optarg; break;
		case OPT_STATE_OUT: o->cfg.state_path = optarg; break;
		case OPT_TIMEOUT:
			if (parse_u64(optarg, 1, 86400, &v) < 0)
				return fail_usage("--timeout: 1 to 86400 seconds, not '%s'", optarg);
			o->cfg.timeout_ms = v * 1000;
			break;
		case OPT_RATE:
			if (parse_u64(optarg, 0, UINT32_MAX, &v) < 0)
				return fail_usage("--rate: calls per second, not '%s'", optarg);
			o->reg.rate_per_sec = (uint32_t)v;
			break;
		case OPT_BURST:
			if (parse_u64(optarg, 1, UINT32_MAX, &v) < 0)
				return fail_usage("--burst: a positive number, not '%s'", optarg);
			o->reg.burst = (uint32_t)v;
			break;
		case OPT_PARAM:
			if (nparam >= ZPSI_ARRAY_SIZE(o->cfg.param) || parse_u64(optarg, 0, UINT64_MAX, &v) < 0)
				return fail_usage("--param: at most 4 numbers, not '%s'", optarg);
			o->cfg.param[nparam++] = v;
			break;
		case OPT_NO_SECCOMP: o->no_seccomp = true; break;
		case OPT_STATS: o->stats = true; break;
		case OPT_LIST:
			for (const struct vmm_payload *p = vmm_payloads; p->name; p++)
				printf("%s\n", p->name);
			return 1;
		case 'h':
			usage(stdout);
			return 1;
		default:
			return fail_usage("%s", "unknown option");
		}
	}
	if (optind < argc)
		return fail_usage("unexpected argument '%s'", argv[optind]);
	if (!!o->payload + !!o->kernel + !!o->restore != 1)
		return fail_usage("%s", "give exactly one of --payload, --kernel, --restore");
	return 0;
}

static int read_file(const char *path, uint8_t **buf, size_t *len)
{
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
	_cleanup_free_ uint8_t *b = NULL;
	struct stat st;
	size_t off = 0;

	if (fd < 0 || fstat(fd, &st) < 0)
		return -errno;
	if (!S_ISREG(st.st_mode))
		return -EINVAL;
	if ((uint64_t)st.st_size > KERNEL_MAX_BYTES)
		return -EFBIG;
	b = malloc(st.st_size ? (size_t)st.st_size : 1);
	if (!b)
		return -ENOMEM;
	while (off < (size_t)st.st_size) {
		ssize_t n = read(fd, b + off, (size_t)st.st_size - off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -errno : -EIO;
		off += (size_t)n;
	}
	*buf = ZPSI_TAKE_PTR(b);
	*len = off;
	return 0;
}

static void print_stats(struct vmm *vm)
{
	struct vmm_stats s;

	vmm_get_stats(vm, &s);
	fprintf(stderr,
		"zpsi-vmm: stats exits=%" PRIu64 " io=%" PRIu64 " msr=%" PRIu64 " hlt=%" PRIu64
		" mmio=%" PRIu64 " hypercalls=%" PRIu64 " hypercall_errors=%" PRIu64
		" msr_reads=%" PRIu64 " msr_writes=%" PRIu64 " msr_gp=%" PRIu64
		" console_bytes=%" PRIu64 " stray_ports=%" PRIu64 " region_samples=%" PRIu64
		" region_rejected=%" PRIu64 " region_torn=%" PRIu64 " balloon_released=%" PRIu64
		" parks=%" PRIu64 " wakes=%" PRIu64 " hibernations=%" PRIu64 " resident_pages=%" PRIu64
		" guest_id=%u power=%u seccomp=%d\n",
		s.exits, s.io_exits, s.msr_exits, s.hlt_exits, s.mmio_exits, s.hypercalls,
		s.hypercall_errors, s.msr_reads, s.msr_writes, s.msr_gp, s.console_bytes, s.stray_ports,
		s.region_samples, s.region_rejected, s.region_torn, s.balloon_pages_released, s.parks,
		s.wakes, s.hibernations, s.ram_resident_pages, s.guest_id, s.power, s.seccomp);
}

static void link_log(void *opaque, int prio, const char *msg)
{
	(void)opaque;
	fprintf(stderr, "<%d>zpsi-vmm: %s\n", prio, msg);
}

/* Turn signals into host requests, and serve the zpsid link, until the VM
 * ends. */
static void control_loop(struct vmm *vm, int sigfd, bool have_state_file, struct vmm_link *link)
{
	struct pollfd pfd[3] = { { .fd = sigfd, .events = POLLIN }, { .fd = vmm_done_fd(vm), .events = POLLIN },
				 { .fd = -1, .events = POLLIN } };
	unsigned failures = vmm_op_failures(vm, NULL, 0, NULL);
	uint64_t watch_until = 0;	/* a local C6 or wake is under way */

	for (;;) {
		struct signalfd_siginfo si;
		int timeout = -1;
		char why[160];

		if (vmm_op_failures(vm, why, sizeof(why), NULL) != failures) {
			failures = vmm_op_failures(vm, why, sizeof(why), NULL);
			fprintf(stderr, "zpsi-vmm: %s; the VM lives on\n", why);
		}
		if (watch_until && zpsi_mono_ns() < watch_until)
			timeout = 50;
		if (link) {
			vmm_link_tick(link);
			pfd[2].fd = vmm_link_fd(link);
			timeout = vmm_link_timeout_ms(link);
		}
		if (poll(pfd, 3, timeout) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (pfd[1].revents)
			return;
		if (link && pfd[2].fd >= 0 && pfd[2].revents)
			vmm_link_event(link);
		if (!(pfd[0].revents & POLLIN) || read(sigfd, &si, sizeof(si)) != sizeof(si))
			continue;
		if (si.ssi_signo == SIGUSR1 || si.ssi_signo == SIGPWR)
			watch_until = zpsi_mono_ns() + 60 * ZPSI_NSEC_PER_SEC;
		switch (si.ssi_signo) {
		case SIGUSR1:
			if (vmm_request(vm, VMM_REQ_WAKE) == -EPERM)
				fprintf(stderr, "zpsi-vmm: SIGUSR1 ignored: the VM is hibernated into zpsid's "
						"state directory; wake it with zpsictl wake\n");
			break;
		case SIGUSR2:
			if (have_state_file)
				vmm_request(vm, VMM_REQ_SAVE);
			else
				fprintf(stderr, "zpsi-vmm: SIGUSR2 ignored: no --state-out FILE\n");
			break;
		case SIGPWR:
			vmm_request(vm, VMM_REQ_HIBERNATE);
			break;
		default:	/* SIGINT, SIGTERM, SIGHUP */
			vmm_stop(vm, 128 + (int)si.ssi_signo);
			break;
		}
	}
}

int main(int argc, char **argv)
{
	struct options o = { 0 };
	_cleanup_free_ uint8_t *image = NULL;
	const uint8_t *img = NULL;
	size_t img_len = 0;
	struct vmm *vm = NULL;
	struct vmm_link *link = NULL;
	sigset_t mask;
	int r, status = ZPSI_VMM_EXIT_ERROR, sigfd;

	r = parse_args(argc, argv, &o);
	if (r)
		return r == 1 ? 0 : r;
	if (o.payload) {
		const struct vmm_payload *p = vmm_payload_find(o.payload);

		if (!p) {
			fprintf(stderr, "zpsi-vmm: no payload '%s'; built in:", o.payload);
			for (const struct vmm_payload *q = vmm_payloads; q->name; q++)
				fprintf(stderr, " %s", q->name);
			fputc('\n', stderr);
			return 2;
		}
		img = p->image;
		img_len = p->size;
	} else if (o.kernel) {
		r = read_file(o.kernel, &image, &img_len);
		if (r < 0) {
			fprintf(stderr, "zpsi-vmm: %s: %s\n", o.kernel, strerror(-r));
			return ZPSI_VMM_EXIT_ERROR;
		}
		img = image;
	}

	/* Signals go to the signalfd only; every thread inherits the mask. */
	sigemptyset(&mask);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGHUP);
	sigaddset(&mask, SIGUSR1);
	sigaddset(&mask, SIGUSR2);
	sigaddset(&mask, SIGPWR);
	pthread_sigmask(SIG_BLOCK, &mask, NULL);
	sigfd = signalfd(-1, &mask, SFD_CLOEXEC);
	if (sigfd < 0) {
		perror("zpsi-vmm: signalfd");
		return ZPSI_VMM_EXIT_ERROR;
	}

	o.cfg.registry = &o.reg;
	r = o.restore ? vmm_new_from_state(o.restore, &o.cfg, &vm) : vmm_new(&o.cfg, &vm);
	if (r == 0 && img)
		r = vmm_load_elf(vm, img, img_len);
	if (r == 0 && o.daemon)
		r = vmm_link_new(vm, o.daemon, link_log, NULL, &link);
	if (r == 0)
		r = vmm_start(vm, o.no_seccomp ? 0 : VMM_START_SECCOMP | (link ? VMM_START_SECCOMP_LINK : 0));
	if (r < 0) {
		if (r == -ENOENT && strcmp(vmm_errctx(), "/dev/kvm") == 0)
			fprintf(stderr, "zpsi-vmm: /dev/kvm does not exist: KVM is not available on this machine\n");
		else if (r == -EACCES && strcmp(vmm_errctx(), "/dev/kvm") == 0)
			fprintf(stderr, "zpsi-vmm: /dev/kvm: permission denied (join the kvm group)\n");
		else
			fprintf(stderr, "zpsi-vmm: %s: %s\n", vmm_errctx(), strerror(-r));
		vmm_link_free(link, NULL);
		vmm_free(vm);
		close(sigfd);
		return ZPSI_VMM_EXIT_ERROR;
	}

	if (!o.no_seccomp && !vmm_seccomp_available())
		fprintf(stderr, "zpsi-vmm: note: seccomp filter not applied in a sanitizer build\n");
	control_loop(vm, sigfd, o.cfg.state_path != NULL, link);
	if (vmm_wait(vm, &status) < 0)
		status = ZPSI_VMM_EXIT_ERROR;
	link = vmm_link_free(link, "exit");
	if (vmm_crash_reason(vm)[0])
		fprintf(stderr, "zpsi-vmm: %s\n", vmm_crash_reason(vm));
	if (o.stats)
		print_stats(vm);
	vmm_free(vm);
	close(sigfd);
	return status;
}
