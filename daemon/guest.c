/* SPDX-License-Identifier: MIT */
/*
 * guest.c - the registered VMs: hello (registration and resumption), the
 * sampler over every mapped region, the aggregate written back into every
 * region, the policy decision and its enforcement, detaching and removal.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/pidfd.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "zpsid.h"
#include "zpsi/util.h"

#define HASH_BUCKETS 16384u
#define CPU_QUOTA_MIN_US 1000u	/* the kernel's floor: what C3/C6 keep */

static void sample_one(struct zpsid *d, struct guest *g, uint64_t t0);

static unsigned name_hash(const char *s)
{
	uint32_t h = 2166136261u;	/* FNV-1a */

	while (*s)
		h = (h ^ (uint8_t)*s++) * 16777619u;
	return h % HASH_BUCKETS;
}

struct guest *guest_by_name(struct zpsid *d, const char *name)
{
	if (!d->hash)
		return NULL;
	for (struct guest *g = d->hash[name_hash(name)]; g; g = g->hash_next)
		if (!strcmp(g->name, name))
			return g;
	return NULL;
}

struct guest *guest_by_id(struct zpsid *d, uint32_t id)
{
	return id < d->by_id_cap ? d->by_id[id] : NULL;
}

static int insert(struct zpsid *d, struct guest *g)
{
	unsigned b;

	if (!d->hash) {
		d->hash = calloc(HASH_BUCKETS, sizeof(*d->hash));
		if (!d->hash)
			return -ENOMEM;
	}
	if (g->id >= d->by_id_cap) {
		uint32_t cap = d->by_id_cap ? d->by_id_cap : 64;
		struct guest **n;

		while (cap <= g->id)
			cap *= 2;
		n = realloc(d->by_id, cap * sizeof(*n));
		if (!n)
			return -ENOMEM;
		memset(n + d->by_id_cap, 0, (cap - d->by_id_cap) * sizeof(*n));
		d->by_id = n;
		d->by_id_cap = cap;
	}
	d->by_id[g->id] = g;
	b = name_hash(g->name);
	g->hash_next = d->hash[b];
	d->hash[b] = g;
	d->nguests++;
	return 0;
}

static void unlink_guest(struct zpsid *d, struct guest *g)
{
	struct guest **pp = &d->hash[name_hash(g->name)];

	while (*pp && *pp != g)
		pp = &(*pp)->hash_next;
	if (*pp)
		*pp = g->hash_next;
	if (g->id < d->by_id_cap)
		d->by_id[g->id] = NULL;
	d->nguests--;
}

static void release(struct zpsid *d, struct guest *g)
{
	if (g->pidfd >= 0) {
		epoll_ctl(d->epfd, EPOLL_CTL_DEL, g->pidfd, NULL);
		close(g->pidfd);
	}
	zpsi_region_unmap(g->region);
	free(g->cgroup);
	free(g);
}

/* Field 22 of /proc/PID/stat, after the command's closing parenthesis:
 * with the pid it names one process for ever (pids are reused). */
static int pid_starttime(pid_t pid, uint64_t *out)
{
	char path[64], buf[1024], *p;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -EIO;
	buf[n] = '\0';
	p = strrchr(buf, ')');
	if (!p)
		return -EBADMSG;
	for (int field = 2; field < 22 && p; field++)
		p = strchr(p + 1, ' ');
	if (!p)
		return -EBADMSG;
	*out = strtoull(p + 1, NULL, 10);
	return 0;
}

static void unwatch_pid(struct zpsid *d, struct guest *g)
{
	if (g->pidfd >= 0) {
		epoll_ctl(d->epfd, EPOLL_CTL_DEL, g->pidfd, NULL);
		close(g->pidfd);
		g->pidfd = -1;
	}
}

/* Is g->pid still the process that registered?  Records its start time the
 * first time. */
static int check_pid(struct guest *g)
{
	uint64_t start;

	if (pid_starttime(g->pid, &start) < 0)
		return -ESRCH;
	if (g->pid_start && g->pid_start != start)
		return -ESRCH;	/* the pid now names another process */
	g->pid_start = start;
	return 0;
}

/* A connected VMM's death shows as EOF on its socket (the kernel closes it);
 * only a detached registration needs a pidfd to learn that its VMM is gone.
 * So a connected guest costs one fd, not two (10,000 VMs, 10,000 fds). */
static int watch_pid(struct zpsid *d, struct guest *g)
{
	int fd, r;

	r = check_pid(g);
	if (r < 0)
		return r;
	fd = pidfd_open(g->pid, 0);
	if (fd < 0)
		return -errno;
	unwatch_pid(d, g);
	g->pidfd = fd;
	return zpsid_epoll_add(d, fd, EPOLLIN, TAG(TAG_PIDFD, g));
}

static int new_token(char out[ZPSI_CTL_TOKEN_LEN + 1])
{
	uint8_t b[ZPSI_CTL_TOKEN_LEN / 2];

	if (getrandom(b, sizeof(b), 0) != (ssize_t)sizeof(b))
		return -EIO;
	for (unsigned i = 0; i < sizeof(b); i++)
		snprintf(out + 2 * i, 3, "%02x", b[i]);
	return 0;
}

static int map_region(int fd, struct zpsi_region **out)
{
	struct zpsi_region *r;
	struct stat st;
	int e, seals;

	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size < (off_t)ZPSI_REGION_PAGE_SIZE)
		return -EBADF;
	/* The sender keeps the fd: a file it could shrink after we map it
	 * would raise SIGBUS in zpsid's sampler.  Only a memfd sealed against
	 * shrinking is mapped (zpsi_region_create_memfd seals it). */
	seals = fcntl(fd, F_GET_SEALS);
	if (seals < 0 || !(seals & F_SEAL_SHRINK))
		return -EPERM;
	e = zpsi_region_map(fd, 0, &r);
	if (e < 0)
		return -EBADF;
	if (__atomic_load_n(&r->magic, __ATOMIC_RELAXED) != ZPSI_REGION_MAGIC_U64) {
		zpsi_region_unmap(r);
		return -EBADMSG;
	}
	*out = r;
	return 0;
}

static bool tid_of(pid_t pid, int32_t tid)
{
	char path[64];

	snprintf(path, sizeof(path), "/proc/%d/task/%d", (int)pid, (int)tid);
	return access(path, F_OK) == 0;
}

/* A VMM names its own cgroup; no two guests may share one, nor nest one in
 * another's, or one VM's quota would throttle the other. */
static const struct guest *cgroup_holder(const struct zpsid *d, const char *name, const char *cgpath)
{
	for (uint32_t i = 0; i < d->by_id_cap; i++) {
		const struct guest *g = d->by_id[i];

		if (g && g->cgroup && strcmp(g->name, name) != 0 &&
		    (cg_path_within(g->cgroup, cgpath) || cg_path_within(cgpath, g->cgroup)))
			return g;
	}
	return NULL;
}

static void setup_cgroup(struct zpsid *d, struct guest *g, const struct zpsi_ctl_hello *h)
{
	int r;

	if (d->cg.mode == CG_NONE)
		return;
	if (!g->cgroup) {
		if (h->cgroup[0]) {
			g->cgroup = strdup(h->cgroup);
			g->cgroup_created = false;
		} else {
			char want[512];
			const struct guest *holder;

			snprintf(want, sizeof(want), "%s/%s", d->cg.parent, g->name);
			holder = cgroup_holder(d, g->name, want);
			if (holder) {
				log_err("%s: cannot use %s: it overlaps %s's cgroup %s", g->name, want,
					holder->name, holder->cgroup);
				g->enforce_error = -EBUSY;
				return;
			}
			r = cg_vm_create(&d->cg, g->name, &g->cgroup);
			if (r < 0) {
				log_err("%s: cannot create its cgroup: %s", g->name, strerror(-r));
				g->enforce_error = r;
				return;
			}
			g->cgroup_created = true;
		}
	}
	if (!g->cgroup || h->cgroup[0])
		return;	/* a VMM that brings its cgroup is already in it */
	r = cg_attach(&d->cg, g->cgroup, g->pid, h->tids, h->ntids);
	if (r < 0) {
		log_err("%s: cannot move pid %d into %s: %s", g->name, (int)g->pid, g->cgroup, strerror(-r));
		g->enforce_error = r;
	}
}

void guest_hello(struct zpsid *d, struct conn *c, const struct zpsi_ctl_msg *m, int region_fd)
{
	const struct zpsi_ctl_hello *h = &m->u.hello;
	struct zpsi_ctl_msg w = { .type = ZPSI_CTL_WELCOME, .re = m->seq };
	struct zpsi_region *region = NULL;
	struct guest *g;
	bool restored = false;
	int r;

	r = map_region(region_fd, &region);
	close(region_fd);
	if (r < 0) {
		conn_send_error(d, c, m->seq, r, r == -EBADMSG ? "the region has no ZIMEPSI magic"
						 : r == -EPERM ? "the region fd is not sealed with F_SEAL_SHRINK"
						 : "the fd is not a mappable file of >= 4096 bytes");
		goto refuse;
	}
	if (h->proto != ZPSI_CTL_PROTO_VERSION) {
		r = -EPROTO;
		conn_send_error(d, c, m->seq, r, "protocol %u is not spoken here (1 is)", h->proto);
		goto refuse;
	}
	if (h->pid != c->pid) {
		r = -EPERM;
		conn_send_error(d, c, m->seq, r, "pid %d is not the peer's (%d)", h->pid, (int)c->pid);
		goto refuse;
	}
	for (unsigned i = 0; i < h->ntids; i++)
		if (!tid_of(h->pid, h->tids[i])) {
			r = -ESRCH;
			conn_send_error(d, c, m->seq, r, "thread %d is not one of pid %d's", h->tids[i], h->pid);
			goto refuse;
		}
	if (h->cgroup[0] && d->cg.mode != CG_NONE) {
		const struct guest *holder;

		r = -EPERM;
		if (!cg_path_under_parent(&d->cg, h->cgroup)) {
			conn_send_error(d, c, m->seq, r, "cgroup %s is not under %s", h->cgroup, d->cg.parent);
			goto refuse;
		}
		if (!cg_task_within(&d->cg, h->pid, h->tids, h->ntids, h->cgroup)) {
			conn_send_error(d, c, m->seq, r, "pid %d does not run in cgroup %s", h->pid, h->cgroup);
			goto refuse;
		}
		holder = cgroup_holder(d, h->name, h->cgroup);
		if (holder) {
			conn_send_error(d, c, m->seq, r, "cgroup %s overlaps %s's (%s)", h->cgroup, holder->name,
					holder->cgroup);
			goto refuse;
		}
	}
	g = guest_by_name(d, h->name);
	if (g && g->conn) {
		r = -EEXIST;
		conn_send_error(d, c, m->seq, r, "a VM named %s is connected", h->name);
		goto refuse;
	}
	if (g) {
		if (strcmp(h->resume_token, g->token) != 0) {
			r = -EPERM;
			conn_send_error(d, c, m->seq, r, "%s is registered with another token", h->name);
			goto refuse;
		}
		restored = true;
		zpsi_region_unmap(g->region);
		if (h->power != g->power) {
			/* the VMM kept running while zpsid was away: it knows best */
			log_notice("%s: the VMM says %s (zpsid had %s)", h->name, zpsi_ctl_power_name(h->power),
				   zpsi_ctl_power_name(g->power));
			g->power = h->power;
			zpsi_registry_set_power(d->reg, g->id, g->power, true, zpsi_mono_ns());
		}
		g->pid_start = g->pid == h->pid ? g->pid_start : 0;
	} else {
		uint32_t id;

		r = zpsi_registry_register(d->reg, h->weight, zpsi_mono_ns(), &id);
		if (r < 0) {
			conn_send_error(d, c, m->seq, r, "cannot register: %s", strerror(-r));
			goto refuse;
		}
		g = calloc(1, sizeof(*g));
		if (g) {
			g->id = id;
			strcpy(g->name, h->name);
		}
		if (!g || new_token(g->token) < 0 || insert(d, g) < 0) {
			zpsi_registry_unregister(d->reg, id);
			free(g);
			r = -ENOMEM;
			conn_send_error(d, c, m->seq, r, "out of memory");
			goto refuse;
		}
		g->pidfd = -1;
		g->weight = h->weight;
		g->pid_start = 0;
	}
	g->pid = h->pid;
	g->vcpus = h->vcpus;
	g->mem_bytes = h->mem_bytes;
	g->features = h->features;
	g->region = region;
	region = NULL;
	zpsi_region_reader_init(&g->rd, ZPSI_REGION_DEFAULT_RETRIES);
	g->conn = c;
	g->detached_ns = 0;
	c->role = ROLE_VMM;
	c->guest = g;
	unwatch_pid(d, g);	/* connected: EOF tells us if it dies */
	if (check_pid(g) < 0)
		log_warn("%s: cannot read pid %d's start time", g->name, (int)g->pid);
	setup_cgroup(d, g, h);
	zpsi_region_store_host_ratio(g->region, d->agg_bp);
	if (restored)
		sample_one(d, g, zpsi_mono_ns());
	guest_decide(d, g, true);

	w.u.welcome.guest_id = g->id;
	strcpy(w.u.welcome.resume_token, g->token);
	w.u.welcome.restored = restored;
	w.u.welcome.power = g->power;
	w.u.welcome.mem_target_bytes = g->alloc.mem_target_bytes;
	w.u.welcome.aggregate_psi = d->agg_bp / (double)ZPSI_BP_MAX;
	conn_send(d, c, &w, -1);
	d->state_urgent = true;
	log_notice("%s %s: pid %d, weight %u, %u vCPUs, %" PRIu64 " MiB, cgroup %s", g->name,
		   restored ? "resumed" : "registered", (int)g->pid, g->weight, g->vcpus,
		   g->mem_bytes >> 20, g->cgroup ? g->cgroup : "-");
	return;
refuse:
	zpsi_region_unmap(region);
	d->protocol_errors++;
	log_warn("hello from pid %d (%s) refused: %s", (int)c->pid, h->name, strerror(-r));
	conn_kill(d, c, NULL);
}

void guest_state(struct zpsid *d, struct guest *g, const struct zpsi_ctl_state *s)
{
	if (!g)
		return;
	if (s->has_power && s->power != g->power) {
		/* C1 is the guest's own (HLT); the VMM is the witness */
		zpsi_registry_set_power(d->reg, g->id, s->power, true, zpsi_mono_ns());
		log_info("%s: now in %s (reported by the VMM)", g->name, zpsi_ctl_power_name(s->power));
		g->power = s->power;
		guest_decide(d, g, true);
		d->state_urgent = true;
	}
	if (s->counters_reset) {
		log_info("%s: the guest reset its counts", g->name);
		g->reset_pending = true;
	}
	if (s->has_balloon)
		g->balloon_bytes = s->balloon_bytes;
	if (s->has_rss)
		g->rss_bytes = s->rss_bytes;
	if (s->has_power_request) {
		int r;

		if (!d->cfg.guest_hibernate) {
			log_info("%s: guest asked for %s; guest_hibernate is off", g->name,
				 zpsi_ctl_power_name(s->power_request));
			return;
		}
		r = power_request(d, g, s->power_request, NULL, 0);
		if (r < 0)
			log_warn("%s: guest's request for %s not carried out: %s", g->name,
				 zpsi_ctl_power_name(s->power_request), strerror(-r));
	}
}

void guest_detach(struct zpsid *d, struct guest *g, const char *why)
{
	int r;

	g->conn = NULL;
	r = watch_pid(d, g);
	if (r < 0) {
		guest_remove(d, g, "its VMM exited");
		return;
	}
	g->detached_ns = zpsi_mono_ns();
	if (g->pending != PENDING_NONE)
		pending_fail(d, g, -ECONNRESET, "the VMM's connection closed");
	log_notice("%s: detached (%s); kept for %u s", g->name, why, d->cfg.reconnect_grace_s);
	d->state_dirty = true;
}

/* A VMM that has just exited may still be in its cgroup for a moment (an
 * exiting task keeps a cgroup busy): what cannot be removed now is tried
 * again each tick, for up to a minute. */
struct doomed_cg {
	struct doomed_cg *next;
	uint64_t give_up_ns;
	char path[];
};

static void cgroup_remove_later(struct zpsid *d, const char *name, const char *cgpath)
{
	struct doomed_cg *x;
	int r = cg_remove(&d->cg, cgpath);

	if (r == 0)
		return;
	if (r != -EBUSY) {
		log_warn("%s: cgroup %s not removed: %s", name, cgpath, strerror(-r));
		return;
	}
	x = malloc(sizeof(*x) + strlen(cgpath) + 1);
	if (!x) {
		log_warn("%s: cgroup %s not removed: it is busy", name, cgpath);
		return;
	}
	strcpy(x->path, cgpath);
	x->give_up_ns = zpsi_mono_ns() + 60 * ZPSI_NSEC_PER_SEC;
	x->next = d->doomed_cgroups;
	d->doomed_cgroups = x;
	log_debug("%s: cgroup %s is busy; removing it later", name, cgpath);
}

static void cgroup_remove_retry(struct zpsid *d, uint64_t now)
{
	for (struct doomed_cg **pp = &d->doomed_cgroups, *x; (x = *pp);) {
		int r = cg_remove(&d->cg, x->path);

		if (r == -EBUSY && now < x->give_up_ns) {
			pp = &x->next;
			continue;
		}
		if (r < 0)
			log_warn("cgroup %s not removed: %s", x->path, strerror(-r));
		*pp = x->next;
		free(x);
	}
}

void guest_remove(struct zpsid *d, struct guest *g, const char *why)
{
	if (g->pending != PENDING_NONE)
		pending_fail(d, g, -ENOENT, "the VM was removed");
	zpsi_registry_unregister(d->reg, g->id);
	if (g->cgroup && g->cgroup_created)
		cgroup_remove_later(d, g->name, g->cgroup);
	snapshot_drop(d, g);
	if (g->conn) {
		g->conn->guest = NULL;
		conn_kill(d, g->conn, NULL);
	}
	unlink_guest(d, g);
	log_notice("%s: removed (%s)", g->name, why);
	d->guests_removed++;
	d->state_urgent = true;
	/* freed after the current batch of events, which may still name it */
	unwatch_pid(d, g);
	g->removed = true;
	g->hash_next = d->graveyard;
	d->graveyard = g;
}

void guest_reap(struct zpsid *d)
{
	while (d->graveyard) {
		struct guest *g = d->graveyard;

		d->graveyard = g->hash_next;
		release(d, g);
	}
}

void guest_pidfd_event(struct zpsid *d, struct guest *g)
{
	if (!g->removed)
		guest_remove(d, g, "its VMM exited");
}

int guest_restore(struct zpsid *d, struct guest *g, const struct zpsi_guest_info *info)
{
	uint32_t id;
	int r;

	g->pidfd = -1;
	if (guest_by_name(d, g->name))
		return -EEXIST;
	r = zpsi_registry_register(d->reg, g->weight, zpsi_mono_ns(), &id);
	if (r < 0)
		return r;
	struct zpsi_guest_info in = *info;
	in.id = id;
	r = zpsi_registry_restore(d->reg, id, &in);
	if (r == 0) {
		g->id = id;
		r = watch_pid(d, g);
	}
	if (r == 0)
		r = insert(d, g);
	if (r < 0) {
		zpsi_registry_unregister(d->reg, id);
		unwatch_pid(d, g);
		return r;
	}
	g->detached_ns = zpsi_mono_ns();
	return 0;
}

static void record_decision(struct zpsid *d, struct guest *g, int err)
{
	struct decision *x = &g->decisions[g->decision_head];

	x->realtime_ns = zpsi_now_ns(CLOCK_REALTIME);
	x->bp = g->bp;
	x->tier = (uint8_t)g->alloc.tier;
	x->power = g->power;
	x->share_bp = g->alloc.share_bp;
	x->cpu_quota_us = (uint32_t)g->alloc.cpu_quota_us;
	x->mem_target_bytes = g->alloc.mem_target_bytes;
	x->error = err;
	g->decision_head = (g->decision_head + 1) % ZPSID_DECISIONS;
	if (g->ndecisions < ZPSID_DECISIONS)
		g->ndecisions++;
	d->decisions++;
}

/* the power state of the last recorded decision, or -1 */
static int last_decided_power(const struct guest *g)
{
	if (!g->ndecisions)
		return -1;
	return g->decisions[(g->decision_head + ZPSID_DECISIONS - 1) % ZPSID_DECISIONS].power;
}

void guest_decide(struct zpsid *d, struct guest *g, bool force)
{
	struct zpsi_vm_size vm = { .vcpus = g->vcpus ? g->vcpus : 1, .mem_bytes = g->mem_bytes };
	struct zpsi_alloc a;
	uint64_t now = zpsi_mono_ns();
	bool paused = g->power == ZPSI_POWER_C3 || g->power == ZPSI_POWER_C6;
	int changed, r = 0;

	changed = zpsi_policy_decide(&d->cfg.policy, &g->pst, g->bp, now, &vm, &a);
	if (!changed && !force)
		return;
	if (g->mem_override)
		a.mem_target_bytes = g->mem_override;
	if (paused)
		a.cpu_quota_us = CPU_QUOTA_MIN_US;	/* C3/C6: the allocation is released */
	if (changed || !g->since_realtime_ns)
		g->since_realtime_ns = zpsi_now_ns(CLOCK_REALTIME);
	if (g->enforced && !changed && a.cpu_quota_us == g->alloc.cpu_quota_us &&
	    a.cpu_period_us == g->alloc.cpu_period_us && a.mem_target_bytes == g->alloc.mem_target_bytes &&
	    last_decided_power(g) == (int)g->power)
		return;	/* nothing to write, nothing new to record (C3 -> C6 is) */
	g->alloc = a;
	if (g->cgroup && d->cg.mode != CG_NONE) {
		r = cg_apply(&d->cg, g->cgroup, a.cpu_quota_us, a.cpu_period_us, d->cfg.memory_enforce,
			     a.mem_target_bytes);
		g->enforced = r == 0;
		if (r < 0 && r != g->enforce_error) {
			log_warn("%s: cgroup %s not fully enforced: %s", g->name, g->cgroup, strerror(-r));
			d->enforce_errors++;
		}
		g->enforce_error = r;
	}
	if (g->region)
		zpsi_region_store_mem_target(g->region, d->cfg.memory_enforce
			? a.mem_target_bytes / ZPSI_REGION_PAGE_SIZE : 0);
	if (g->conn && (g->features & ZPSI_CTL_F_BALLOON) && d->cfg.memory_enforce)
		send_command(d, g, PENDING_MEMORY, a.mem_target_bytes, NULL, 0);
	record_decision(d, g, r);
	log_info("%s: psi %u.%02u%% -> tier %u, share %u.%02u%%, cpu %" PRIu64 "/%u us, memory target %" PRIu64
		 " bytes%s", g->name, g->bp / 100, g->bp % 100, a.tier, a.share_bp / 100, a.share_bp % 100,
		 a.cpu_quota_us, a.cpu_period_us, a.mem_target_bytes, paused ? " (paused)" : "");
	d->state_dirty = true;
}

static void store_aggregate(struct zpsid *d)
{
	uint32_t agg = zpsi_registry_aggregate_bp(d->reg);

	d->agg_bp = agg;
	if (d->agg_valid && agg == d->agg_written_bp)
		return;
	for (uint32_t i = 1; i < d->by_id_cap; i++) {
		struct guest *g = d->by_id[i];

		if (g && g->region)
			zpsi_region_store_host_ratio(g->region, agg);
	}
	d->agg_written_bp = agg;
	d->agg_valid = true;
}

/* One sample of g's region into the registry (the sampler's step; also
 * taken when a VM resumes, so zpsid never shows the older counts of its
 * checkpoint once the VMM is back). */
static void sample_one(struct zpsid *d, struct guest *g, uint64_t t0)
{
	struct zpsi_sample s;
	int r;

	r = zpsi_region_read(&g->rd, g->region, &s);
	if (r == -EINVAL && g->reset_pending) {
		/* smaller counts after the guest's PSI_CTRL_MSR.RESET
		 * (its VMM said so): a new start, re-based below */
		zpsi_region_reader_reset(&g->rd);
		r = zpsi_region_read(&g->rd, g->region, &s);
		if (r == 0)
			g->reset_pending = false;
	}
	if (r == 1)
		return;
	if (r < 0) {
		/* a count going backwards without a reset is refused,
		 * every time (docs/abi.md 6.2) */
		if (r == -EAGAIN)
			d->samples_torn++;
		else
			d->samples_rejected++;
		return;
	}
	r = zpsi_registry_update(d->reg, g->id, s.ratio_bp, s.committed, s.deferred, t0);
	if (r == -EINVAL) {
		/* counts below what was restored: the guest reset them */
		struct zpsi_guest_info info;

		if (zpsi_registry_get(d->reg, g->id, &info) == 0) {
			info.ratio_bp = s.ratio_bp;
			info.committed = s.committed;
			info.deferred = s.deferred;
			info.last_update_ns = t0;
			r = zpsi_registry_restore(d->reg, g->id, &info);
		}
		g->resets++;
	}
	if (r < 0)
		return;
	g->samples++;
	g->committed = s.committed;
	g->deferred = s.deferred;
	if (s.ratio_bp != g->bp || !g->pst.valid) {
		g->bp = s.ratio_bp;
		guest_decide(d, g, false);
	}
}

void guest_sample_all(struct zpsid *d)
{
	uint64_t t0 = zpsi_mono_ns(), n = 0;

	for (uint32_t i = 1; i < d->by_id_cap; i++) {
		struct guest *g = d->by_id[i];

		if (!g || !g->region)
			continue;
		n++;
		sample_one(d, g, t0);
	}
	store_aggregate(d);
	d->samples += n;
	d->sample_ns += zpsi_mono_ns() - t0;
}

void guest_tick(struct zpsid *d)
{
	uint64_t now = zpsi_mono_ns();

	cgroup_remove_retry(d, now);
	for (uint32_t i = 1; i < d->by_id_cap; i++) {
		struct guest *g = d->by_id[i];

		if (!g)
			continue;
		if (g->pending == PENDING_POWER && now >= g->pending_deadline_ns)
			pending_client_timeout(d, g);
		if (!g->conn && g->detached_ns &&
		    now - g->detached_ns >= d->cfg.reconnect_grace_s * ZPSI_NSEC_PER_SEC)
			guest_remove(d, g, "its VMM did not come back in time");
	}
}

int guest_set_weight(struct zpsid *d, struct guest *g, uint32_t weight)
{
	int r = zpsi_registry_set_weight(d->reg, g->id, weight);

	if (r < 0)
		return r;
	g->weight = weight;
	if (g->conn)
		send_command(d, g, PENDING_WEIGHT, weight, NULL, 0);
	d->state_urgent = true;
	log_notice("%s: weight set to %u", g->name, weight);
	return 0;
}

void guest_set_memory_override(struct zpsid *d, struct guest *g, uint64_t bytes)
{
	g->mem_override = bytes & ~(uint64_t)(ZPSI_REGION_PAGE_SIZE - 1);
	guest_decide(d, g, true);
}

void guests_free(struct zpsid *d)
{
	for (uint32_t i = 1; i < d->by_id_cap; i++)
		if (d->by_id[i])
			release(d, d->by_id[i]);
	guest_reap(d);
	while (d->doomed_cgroups) {
		struct doomed_cg *x = d->doomed_cgroups;

		d->doomed_cgroups = x->next;
		cg_remove(&d->cg, x->path);	/* a last try on the way out */
		free(x);
	}
	free(d->by_id);
	free(d->hash);
	d->by_id = NULL;
	d->hash = NULL;
	d->by_id_cap = 0;
}
