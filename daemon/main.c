/* SPDX-License-Identifier: MIT */
/*
 * main.c - zpsid: command line, start-up, the epoll loop, signals (through a
 * signalfd, never in a handler), reload and shutdown.
 */
#include <errno.h>
#include <malloc.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "zpsid.h"
#include "zpsi/util.h"

int zpsid_epoll_add(struct zpsid *d, int fd, uint32_t events, void *tag)
{
	struct epoll_event ev = { .events = events, .data.u64 = (uint64_t)(uintptr_t)tag };

	return epoll_ctl(d->epfd, EPOLL_CTL_ADD, fd, &ev) < 0 ? -errno : 0;
}

int zpsid_epoll_mod(struct zpsid *d, int fd, uint32_t events, void *tag)
{
	struct epoll_event ev = { .events = events, .data.u64 = (uint64_t)(uintptr_t)tag };

	return epoll_ctl(d->epfd, EPOLL_CTL_MOD, fd, &ev) < 0 ? -errno : 0;
}

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: zpsid [OPTION...]\n"
		"The zpsi host daemon: every PSI guest's region, the weighted aggregate, and\n"
		"resource enforcement through cgroups.\n\n"
		"  -c, --config FILE          read FILE (key = value lines)\n"
		"  -n, --check                check the configuration, print it, exit\n"
		"  -s, --socket PATH          control socket (default " ZPSI_CTL_DEFAULT_SOCKET ")\n"
		"  -d, --state-dir DIR        state directory (default /var/lib/zpsid)\n"
		"  -m, --metrics ADDR:PORT    Prometheus endpoint, or 'off' (default 127.0.0.1:9477)\n"
		"  -p, --cgroup-parent PATH   cgroup path under which VM cgroups are made (/zpsi)\n"
		"  -o, --set KEY=VALUE        any configuration key (see zpsid(8))\n"
		"  -h, --help                 this text\n"
		"  -V, --version              print the version\n");
}

static int add_override(struct zpsid *d, const char *key, const char *value)
{
	if (d->ncli >= ZPSI_ARRAY_SIZE(d->cli_overrides))
		return -E2BIG;
	if (asprintf(&d->cli_overrides[d->ncli], "%s=%s", key, value) < 0)
		return -ENOMEM;
	d->ncli++;
	return 0;
}

/* The configuration is the defaults, then the file, then the command line:
 * the same on start-up and on SIGHUP. */
static int build_config(struct zpsid *d, struct zpsid_config *out, char **err)
{
	struct zpsid_config c;
	int r;

	config_defaults(&c);
	if (d->config_path) {
		r = config_load(&c, d->config_path, err);
		if (r < 0)
			return r;
	}
	for (unsigned i = 0; i < d->ncli; i++) {
		char key[64], *eq = strchr(d->cli_overrides[i], '=');
		size_t kl = eq ? (size_t)(eq - d->cli_overrides[i]) : 0;

		if (!eq || kl >= sizeof(key)) {
			if (asprintf(err, "command line: expected KEY=VALUE, got '%s'", d->cli_overrides[i]) < 0)
				*err = NULL;
			return -EINVAL;
		}
		memcpy(key, d->cli_overrides[i], kl);
		key[kl] = '\0';
		char *sub = NULL;
		r = config_set(&c, key, eq + 1, &sub);
		if (r < 0) {
			if (asprintf(err, "command line: %s", sub ? sub : "invalid") < 0)
				*err = NULL;
			free(sub);
			return r;
		}
	}
	*out = c;
	return 0;
}

static int parse_args(struct zpsid *d, int argc, char **argv, bool *check)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "check", no_argument, NULL, 'n' },
		{ "socket", required_argument, NULL, 's' },
		{ "state-dir", required_argument, NULL, 'd' },
		{ "metrics", required_argument, NULL, 'm' },
		{ "cgroup-parent", required_argument, NULL, 'p' },
		{ "set", required_argument, NULL, 'o' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ 0 }
	};
	int c, r = 0;

	while ((c = getopt_long(argc, argv, "c:ns:d:m:p:o:hV", opts, NULL)) != -1) {
		switch (c) {
		case 'c': d->config_path = optarg; break;
		case 'n': *check = true; break;
		case 's': r = add_override(d, "socket", optarg); break;
		case 'd': r = add_override(d, "state_dir", optarg); break;
		case 'm': r = add_override(d, "metrics", optarg); break;
		case 'p': r = add_override(d, "cgroup_parent", optarg); break;
		case 'o': {
			char *eq = strchr(optarg, '=');

			if (!eq || eq == optarg) {
				fprintf(stderr, "zpsid: --set needs KEY=VALUE\n");
				return -EINVAL;
			}
			*eq = '\0';
			r = add_override(d, optarg, eq + 1);
			*eq = '=';
			break;
		}
		case 'h': usage(stdout); exit(0);
		case 'V': printf("zpsid " ZPSID_VERSION "\n"); exit(0);
		default: usage(stderr); return -EINVAL;
		}
		if (r < 0)
			return r;
	}
	if (optind < argc) {
		fprintf(stderr, "zpsid: unexpected argument '%s'\n", argv[optind]);
		return -EINVAL;
	}
	return 0;
}

static int arm_timer(struct zpsid *d)
{
	uint64_t ns = ZPSI_NSEC_PER_SEC / d->cfg.sample_hz;
	struct itimerspec it = {
		.it_interval = { .tv_sec = (time_t)(ns / ZPSI_NSEC_PER_SEC), .tv_nsec = (long)(ns % ZPSI_NSEC_PER_SEC) },
	};

	it.it_value = it.it_interval;
	return timerfd_settime(d->timerfd, 0, &it, NULL) < 0 ? -errno : 0;
}

static int mkdir_private(const char *path)
{
	if (mkdir(path, 0700) < 0 && errno != EEXIST)
		return -errno;
	return 0;
}

static void reload(struct zpsid *d)
{
	struct zpsid_config n;
	char *err = NULL, buf[96];
	bool metrics_changed;

	snprintf(buf, sizeof(buf), "RELOADING=1\nMONOTONIC_USEC=%llu",
		 (unsigned long long)(zpsi_mono_ns() / 1000));
	notify_send(buf);
	if (build_config(d, &n, &err) < 0) {
		log_err("reload: %s; keeping the running configuration", err ? err : "failed");
		free(err);
		notify_send("READY=1");
		return;
	}
	/* What the running guests are attached to stays until a restart. */
	if (strcmp(n.socket, d->cfg.socket) || strcmp(n.state_dir, d->cfg.state_dir) ||
	    n.cgroup_mode != d->cfg.cgroup_mode || strcmp(n.cgroup_root, d->cfg.cgroup_root) ||
	    strcmp(n.cgroup_parent, d->cfg.cgroup_parent) || n.max_guests != d->cfg.max_guests)
		log_warn("reload: socket, state_dir, cgroup_* and max_guests change only on restart");
	strcpy(n.socket, d->cfg.socket);
	strcpy(n.state_dir, d->cfg.state_dir);
	n.cgroup_mode = d->cfg.cgroup_mode;
	strcpy(n.cgroup_root, d->cfg.cgroup_root);
	strcpy(n.cgroup_parent, d->cfg.cgroup_parent);
	n.max_guests = d->cfg.max_guests;
	metrics_changed = strcmp(n.metrics, d->cfg.metrics) != 0;
	d->cfg = n;
	log_set_level(n.log_level);
	arm_timer(d);
	if (metrics_changed) {
		metrics_stop(d);
		if (d->cfg.metrics[0] && metrics_start(d, d->cfg.metrics) < 0)
			log_err("reload: metrics endpoint %s could not start", d->cfg.metrics);
	}
	for (uint32_t id = zpsi_registry_next(d->reg, 0); id; id = zpsi_registry_next(d->reg, id)) {
		struct guest *g = guest_by_id(d, id);

		if (g)
			guest_decide(d, g, true);
	}
	log_notice("reloaded configuration; %u guests kept", d->nguests);
	notify_send("READY=1");
}

static void on_signal(struct zpsid *d)
{
	struct signalfd_siginfo si;

	while (read(d->sigfd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
		switch (si.ssi_signo) {
		case SIGHUP:
			reload(d);
			break;
		case SIGTERM:
		case SIGINT:
			log_notice("signal %u: stopping", si.ssi_signo);
			d->quit = true;
			break;
		default:
			break;
		}
	}
}

static void on_timer(struct zpsid *d)
{
	uint64_t expirations, now;
	unsigned every = d->cfg.sample_hz / 10 ? d->cfg.sample_hz / 10 : 1;

	if (read(d->timerfd, &expirations, sizeof(expirations)) != (ssize_t)sizeof(expirations))
		return;
	d->ticks++;
	conn_accept_resume(d);
	guest_sample_all(d);
	if (d->ticks % every)
		return;
	guest_tick(d);	/* ~10 Hz: timeouts and grace periods */
	metrics_tick(d);
	now = zpsi_mono_ns();
	/* registrations and power changes are saved within 250 ms, decisions
	 * within a second, counters every checkpoint_interval; the file is
	 * rewritten whole, so saves are rate limited (10,000 guests: ~3 MB) */
	if ((d->state_urgent && now - d->last_checkpoint_ns >= ZPSI_NSEC_PER_SEC / 4) ||
	    (d->state_dirty && now - d->last_checkpoint_ns >= ZPSI_NSEC_PER_SEC) ||
	    now - d->last_checkpoint_ns >= d->cfg.checkpoint_s * ZPSI_NSEC_PER_SEC) {
		int r = persist_save(d);

		if (r < 0)
			log_err("cannot save state in %s: %s", d->cfg.state_dir, strerror(-r));
		/* The save built and freed a document the size of the guest
		 * table; give those pages back rather than keep them idle. */
		malloc_trim(0);
		d->state_dirty = d->state_urgent = false;
		d->last_checkpoint_ns = now;
	}
}

static int setup(struct zpsid *d)
{
	struct zpsi_registry_config rc = { .capacity_max = d->cfg.max_guests,
					   .rate_per_sec = 0 /* the sampler is the rate */ };
	char path[512];
	sigset_t mask;
	struct rlimit rl;
	int r;

	log_set_level(d->cfg.log_level);
	/* one connection and one pidfd per VM: 10,000 VMs need 20,000 fds */
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGHUP);
	if (sigprocmask(SIG_BLOCK, &mask, NULL) < 0)
		return -errno;
	d->sigfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
	d->epfd = epoll_create1(EPOLL_CLOEXEC);
	d->timerfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	if (d->sigfd < 0 || d->epfd < 0 || d->timerfd < 0)
		return -errno;

	if ((r = mkdir_private(d->cfg.state_dir)) < 0) {
		log_err("state directory %s: %s", d->cfg.state_dir, strerror(-r));
		return r;
	}
	snprintf(path, sizeof(path), "%s/snapshots", d->cfg.state_dir);
	if ((r = mkdir_private(path)) < 0)
		return r;
	r = zpsi_registry_new(&rc, &d->reg);
	if (r < 0)
		return r;
	r = cg_mgr_init(&d->cg, d->cfg.cgroup_mode, d->cfg.cgroup_root, d->cfg.cgroup_parent);
	if (r < 0) {
		if (d->cfg.cgroup_mode != CG_AUTO) {
			log_err("cgroup %s at %s, parent %s: %s", cg_mode_name(d->cfg.cgroup_mode),
				d->cfg.cgroup_root, d->cfg.cgroup_parent, strerror(-r));
			return r;
		}
		log_warn("no usable cgroup hierarchy (%s): decisions are not enforced", strerror(-r));
		d->cg.mode = CG_NONE;
	}
	log_info("cgroups: %s at %s, parent %s (cpu %s, memory %s)", cg_mode_name(d->cg.mode),
		 d->cg.root, d->cg.parent[0] ? d->cg.parent : "/", d->cg.cpu_ok ? "yes" : "no",
		 d->cg.mem_ok ? "yes" : "no");

	r = zpsi_ctl_listen(d->cfg.socket, d->cfg.socket_mode, 128, &d->listenfd);
	if (r < 0) {
		log_err("control socket %s: %s", d->cfg.socket, strerror(-r));
		return r;
	}
	r = persist_load(d);
	if (r < 0 && r != -ENOENT)
		log_err("state file in %s unusable (%s): starting empty", d->cfg.state_dir, strerror(-r));
	if ((r = zpsid_epoll_add(d, d->listenfd, EPOLLIN, TAG(TAG_LISTEN, 0))) < 0 ||
	    (r = zpsid_epoll_add(d, d->sigfd, EPOLLIN, TAG(TAG_SIGNAL, 0))) < 0 ||
	    (r = zpsid_epoll_add(d, d->timerfd, EPOLLIN, TAG(TAG_TIMER, 0))) < 0)
		return r;
	if ((r = arm_timer(d)) < 0)
		return r;
	if (d->cfg.metrics[0] && (r = metrics_start(d, d->cfg.metrics)) < 0) {
		log_err("metrics endpoint %s: %s", d->cfg.metrics, strerror(-r));
		return r;
	}
	return 0;
}

static void loop(struct zpsid *d)
{
	struct epoll_event ev[64];

	while (!d->quit) {
		int n = epoll_wait(d->epfd, ev, (int)ZPSI_ARRAY_SIZE(ev), -1);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			log_err("epoll_wait: %m");
			break;
		}
		for (int i = 0; i < n; i++) {
			uint64_t tag = ev[i].data.u64;
			void *ptr = (void *)(uintptr_t)(tag & ~7ull);

			switch (tag & 7) {
			case TAG_LISTEN: conn_accept(d); break;
			case TAG_SIGNAL: on_signal(d); break;
			case TAG_TIMER: on_timer(d); break;
			case TAG_METRICS: metrics_event(d); break;
			case TAG_CONN: conn_event(d, ptr, ev[i].events); break;
			case TAG_PIDFD: guest_pidfd_event(d, ptr); break;
			default: break;
			}
		}
		conn_reap(d);
		guest_reap(d);
	}
}

static void free_overrides(struct zpsid *d)
{
	for (unsigned i = 0; i < d->ncli; i++)
		free(d->cli_overrides[i]);
	d->ncli = 0;
}

int main(int argc, char **argv)
{
	struct zpsid d = { .epfd = -1, .sigfd = -1, .timerfd = -1, .listenfd = -1 };
	bool check = false;
	char *err = NULL;
	int r;

	if (parse_args(&d, argc, argv, &check) < 0) {
		free_overrides(&d);
		return 2;
	}
	r = build_config(&d, &d.cfg, &err);
	if (r < 0) {
		fprintf(stderr, "zpsid: %s\n", err ? err : strerror(-r));
		free(err);
		free_overrides(&d);
		return 1;
	}
	if (check) {
		config_print(&d.cfg, stdout);
		fprintf(stderr, "zpsid: configuration OK\n");
		free_overrides(&d);
		return 0;
	}
	d.start_mono_ns = zpsi_mono_ns();
	d.start_realtime_ns = zpsi_now_ns(CLOCK_REALTIME);
	d.last_checkpoint_ns = d.start_mono_ns;
	r = setup(&d);
	if (r < 0) {
		log_err("start-up failed: %s", strerror(-r));
		free_overrides(&d);
		return 1;
	}
	log_notice("zpsid " ZPSID_VERSION " ready on %s, sampling at %u Hz, %u guests restored",
		   d.cfg.socket, d.cfg.sample_hz, d.nguests);
	notify_send("READY=1\nSTATUS=sampling");
	loop(&d);

	notify_send("STOPPING=1");
	r = persist_save_now(&d);
	if (r < 0)
		log_err("final save failed: %s", strerror(-r));
	conn_close_all(&d, true);
	metrics_stop(&d);
	unlink(d.cfg.socket);
	guests_free(&d);
	zpsi_registry_free(d.reg);
	free_overrides(&d);
	close(d.listenfd);
	close(d.timerfd);
	close(d.sigfd);
	close(d.epfd);
	log_notice("stopped; VMs keep running and will reconnect");
	return 0;
}
