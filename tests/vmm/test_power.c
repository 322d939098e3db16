/* SPDX-License-Identifier: MIT */
/*
 * test_power.c - power states with their host meaning, in-process:
 *   C1: the guest's HLT parks its vCPU thread, which then uses no CPU (its
 *       own CPU clock, not wall time) until the host wakes it;
 *   C3: the host pauses a busy guest: its vCPU thread stops using CPU and
 *       makes no progress until woken;
 *   C6: the VM is saved and its RAM handed back (resident pages drop),
 *       and on wake every byte is back; while the state file is being
 *       written the VM still answers requests (the write runs without
 *       vm->lock), shown by order, not by time: a save held in its middle
 *       by the test's hook, requests made and answered, then the save let
 *       go.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "vmmtest.h"

#define WINDOW_MS 300
#define MAX_CPU_NS (30ull * 1000 * 1000)	/* 10 % of the window */

struct lines {
	pthread_mutex_t lock;
	unsigned progress;
	char last[256];
	char all[8192];
	size_t len;
};

static void on_line(void *opaque, unsigned cpu, const char *line, size_t len)
{
	struct lines *l = opaque;

	(void)cpu;
	pthread_mutex_lock(&l->lock);
	if (len >= 9 && memcmp(line, "progress ", 9) == 0)
		l->progress++;
	snprintf(l->last, sizeof(l->last), "%.*s", (int)len, line);
	if (l->len + len + 2 < sizeof(l->all)) {
		memcpy(l->all + l->len, line, len);
		l->len += len;
		l->all[l->len++] = '\n';
		l->all[l->len] = '\0';
	}
	pthread_mutex_unlock(&l->lock);
}

static bool has_line(struct vmm *vm, void *arg)
{
	struct lines *l = ((void **)arg)[0];
	const char *want = ((void **)arg)[1];
	bool r;

	(void)vm;
	pthread_mutex_lock(&l->lock);
	r = strstr(l->all, want) != NULL;
	pthread_mutex_unlock(&l->lock);
	return r;
}

static bool parked(struct vmm *vm, void *arg)
{
	struct vmm_stats s;

	(void)arg;
	vmm_get_stats(vm, &s);
	return s.parks >= 1;
}

static bool power_is(struct vmm *vm, void *arg)
{
	return vmm_power(vm) == *(uint8_t *)arg;
}

static bool hibernated(struct vmm *vm, void *arg)
{
	struct vmm_stats s;

	(void)arg;
	vmm_get_stats(vm, &s);
	return s.hibernations >= 1;
}

static unsigned progress(struct lines *l)
{
	unsigned n;

	pthread_mutex_lock(&l->lock);
	n = l->progress;
	pthread_mutex_unlock(&l->lock);
	return n;
}

/* CPU used by vCPU 0 over a window of wall time. */
static uint64_t cpu_over_window(struct vmm *vm)
{
	struct timespec w = { 0, WINDOW_MS * 1000000L };
	uint64_t a = 0, b = 0;

	vmm_vcpu_cpu_ns(vm, 0, &a);
	nanosleep(&w, NULL);
	vmm_vcpu_cpu_ns(vm, 0, &b);
	return b - a;
}

static struct vmm *start(struct lines *l, struct vmm_config *cfg)
{
	struct vmm *vm = NULL;

	cfg->console = on_line;
	cfg->console_opaque = l;
	if (vt_vm_new(cfg, "workload", &vm) < 0 || vmm_start(vm, 0) < 0) {
		VT_CHECK(0, "VM start: %s", vmm_errctx());
		vmm_free(vm);
		return NULL;
	}
	return vm;
}

static void c1_parks(void)
{
	struct lines l = { .lock = PTHREAD_MUTEX_INITIALIZER };
	struct vmm_config cfg = { .profile = ZPSI_VMM_PROFILE_IDLE, .profile_ms = 50, .param = { 600000 } };
	struct vmm *vm = start(&l, &cfg);
	void *woke[2] = { &l, "idle: woke from C1 (host)" };
	uint64_t used;
	int st = -1;

	if (!vm)
		return;
	VT_CHECK(vt_await(vm, parked, NULL, 30000), "C1: the vCPU parked");
	VT_CHECK(vmm_power(vm) == ZPSI_POWER_C1, "C1: power state %u", vmm_power(vm));
	used = cpu_over_window(vm);
	VT_CHECK(used < MAX_CPU_NS, "C1: the parked vCPU thread used %llu ns of CPU in %d ms",
		 (unsigned long long)used, WINDOW_MS);
	printf("C1: parked vCPU thread used %llu us of CPU in %d ms\n", (unsigned long long)used / 1000, WINDOW_MS);
	VT_CHECK(vmm_request(vm, VMM_REQ_WAKE) == 0, "C1: wake");
	VT_CHECK(vt_await(vm, has_line, woke, 30000), "C1: the guest saw a host wake");
	vmm_wait(vm, &st);
	VT_CHECK(st == 0, "C1: status %d", st);
	VT_CHECK(vmm_power(vm) == ZPSI_POWER_C0, "C1: back in C0");
	vmm_free(vm);
}

static void c3_pauses(void)
{
	struct lines l = { .lock = PTHREAD_MUTEX_INITIALIZER };
	struct vmm_config cfg = { .profile_a_bp = 3000, .profile_b_bp = 3000, .ops = 100000000ull };
	struct vmm *vm = start(&l, &cfg);
	uint8_t c3 = ZPSI_POWER_C3;
	unsigned before;
	uint64_t used, busy;
	int st = -1;

	if (!vm)
		return;
	VT_CHECK(vt_await(vm, has_line, (void *[]){ &l, "progress " }, 30000), "C3: the guest makes progress");
	busy = cpu_over_window(vm);
	VT_CHECK(vmm_request(vm, VMM_REQ_PAUSE) == 0, "C3: pause");
	VT_CHECK(vt_await(vm, power_is, &c3, 10000), "C3: power state");
	before = progress(&l);
	used = cpu_over_window(vm);
	VT_CHECK(used < MAX_CPU_NS, "C3: the paused vCPU thread used %llu ns of CPU", (unsigned long long)used);
	VT_CHECK(progress(&l) == before, "C3: no progress while paused");
	printf("C3: vCPU thread CPU in %d ms: busy %llu us, paused %llu us\n", WINDOW_MS,
	       (unsigned long long)busy / 1000, (unsigned long long)used / 1000);
	VT_CHECK(vmm_request(vm, VMM_REQ_WAKE) == 0, "C3: wake");
	{
		char want[64];

		snprintf(want, sizeof(want), "progress ops=%u", (before + 1) * 5000);
		VT_CHECK(vt_await(vm, has_line, (void *[]){ &l, want }, 30000), "C3: progress again after the wake");
	}
	vmm_stop(vm, 0);
	vmm_wait(vm, &st);
	vmm_free(vm);
}

static void c6_releases_memory(void)
{
	struct lines l = { .lock = PTHREAD_MUTEX_INITIALIZER };
	struct vmm_config cfg = { .profile = ZPSI_VMM_PROFILE_IDLE, .profile_ms = 50, .param = { 600000 },
				  .mem_mib = 32 };
	struct vmm *vm = start(&l, &cfg);
	struct vmm_stats s0, s1, s2;
	uint64_t size, *ram, from = 16ull << 20, words = (8ull << 20) / 8, bad = 0;
	int st = -1;

	if (!vm)
		return;
	VT_CHECK(vt_await(vm, parked, NULL, 30000), "C6: the guest parked in C1");
	/* 8 MiB of memory the guest owns, filled by the host to measure. */
	ram = vmm_ram(vm, &size);
	for (uint64_t i = 0; i < words; i++)
		ram[from / 8 + i] = i * 0x9E3779B97F4A7C15ull + 1;
	vmm_get_stats(vm, &s0);
	VT_CHECK(vmm_request(vm, VMM_REQ_HIBERNATE) == 0, "C6: hibernate");
	VT_CHECK(vt_await(vm, hibernated, NULL, 30000), "C6: saved");
	vmm_get_stats(vm, &s1);
	printf("C6: guest RAM resident: %llu pages before, %llu in C6\n", (unsigned long long)s0.ram_resident_pages,
	       (unsigned long long)s1.ram_resident_pages);
	VT_CHECK(s0.ram_resident_pages >= 2048, "C6: RAM in use before: %llu", (unsigned long long)s0.ram_resident_pages);
	VT_CHECK(s1.ram_resident_pages <= 16, "C6: RAM released: %llu pages left", (unsigned long long)s1.ram_resident_pages);
	VT_CHECK(s1.power == ZPSI_POWER_C6, "C6: power state %u", s1.power);
	VT_CHECK(vmm_request(vm, VMM_REQ_WAKE) == 0, "C6: wake");
	VT_CHECK(vt_await(vm, has_line, (void *[]){ &l, "idle: woke from C1 (host)" }, 30000), "C6: the guest runs again");
	vmm_wait(vm, &st);
	VT_CHECK(st == 0, "C6: status %d", st);
	for (uint64_t i = 0; i < words; i++)
		bad += ram[from / 8 + i] != i * 0x9E3779B97F4A7C15ull + 1;
	VT_CHECK(bad == 0, "C6: %llu words differ after the wake", (unsigned long long)bad);
	vmm_get_stats(vm, &s2);
	VT_CHECK(s2.wakes == 1 && s2.hibernations == 1, "C6: one hibernation, one wake");
	vmm_free(vm);
}

/* Holds the first write of a save until the test lets it go; gives up
 * after HOLD_MS (a request that waited for the save would then be answered
 * only after it, and the test fails on the order). */
#define HOLD_MS 20000
struct hold {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool entered, released, gave_up, finished_early;
	uint64_t first, last;	/* bytes written at the hold, and at the end */
};

static void hold_save(void *opaque, uint64_t written)
{
	struct hold *h = opaque;
	struct timespec until;

	pthread_mutex_lock(&h->lock);
	h->last = written;
	if (!h->entered) {
		h->entered = true;
		h->first = written;
		pthread_cond_broadcast(&h->cond);
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_sec += HOLD_MS / 1000;
		while (!h->released)
			if (pthread_cond_timedwait(&h->cond, &h->lock, &until) == ETIMEDOUT) {
				__atomic_store_n(&h->gave_up, true, __ATOMIC_RELEASE);
				break;
			}
	}
	pthread_mutex_unlock(&h->lock);
}

static bool hold_wait_entered(struct hold *h)
{
	struct timespec until;
	bool r;

	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += 30;
	pthread_mutex_lock(&h->lock);
	while (!h->entered && pthread_cond_timedwait(&h->cond, &h->lock, &until) != ETIMEDOUT)
		;
	r = h->entered;
	pthread_mutex_unlock(&h->lock);
	return r;
}

static void hold_release(struct hold *h)
{
	pthread_mutex_lock(&h->lock);
	h->released = true;
	pthread_cond_broadcast(&h->cond);
	pthread_mutex_unlock(&h->lock);
}

/*
 * While a C6 of a 64 MiB guest (48 MiB of it non-zero) is held in its
 * first write, the VM answers: its failure count and power state, a wake
 * request (which then runs once the save is done), and in a second VM the
 * stop (what SIGTERM does).  Had any of them waited for vm->lock, held by
 * the save, the hold would have run out first.
 */
static void c6_answers_while_saving(bool stop)
{
	struct lines l = { .lock = PTHREAD_MUTEX_INITIALIZER };
	struct hold h = { .lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER };
	struct vmm_config cfg = { .profile = ZPSI_VMM_PROFILE_IDLE, .profile_ms = 50, .param = { 600000 },
				  .mem_mib = 64 };
	const char *what = stop ? "C6 save + stop" : "C6 save + requests";
	uint64_t size, *ram, from = 16ull << 20, words = (48ull << 20) / 8, bad = 0;
	struct vmm_stats s;
	struct vmm *vm = NULL;
	int st = -1;

	cfg.console = on_line;
	cfg.console_opaque = &l;
	if (vt_vm_new(&cfg, "workload", &vm) < 0) {
		VT_CHECK(0, "%s: VM: %s", what, vmm_errctx());
		return;
	}
	vmm_set_save_hook(vm, hold_save, &h);
	if (vmm_start(vm, 0) < 0) {
		VT_CHECK(0, "%s: start: %s", what, vmm_errctx());
		vmm_free(vm);
		return;
	}
	VT_CHECK(vt_await(vm, parked, NULL, 30000), "%s: the guest parked in C1", what);
	ram = vmm_ram(vm, &size);
	for (uint64_t i = 0; i < words; i++)
		ram[from / 8 + i] = i * 0x9E3779B97F4A7C15ull + 1;
	VT_CHECK(vmm_request(vm, VMM_REQ_HIBERNATE) == 0, "%s: hibernate", what);
	VT_CHECK(hold_wait_entered(&h), "%s: the save began", what);

	/* The save is held: everything below must be answered now. */
	VT_CHECK(vmm_op_failures(vm, NULL, 0, NULL) == 0, "%s: status answered", what);
	vmm_get_stats(vm, &s);
	VT_CHECK(s.hibernations == 0, "%s: not yet saved while held", what);
	if (stop)
		vmm_stop(vm, 3);
	else
		VT_CHECK(vmm_request(vm, VMM_REQ_WAKE) == 0, "%s: wake request answered", what);
	VT_CHECK(!__atomic_load_n(&h.gave_up, __ATOMIC_ACQUIRE), "%s: answered before the save completed", what);
	hold_release(&h);

	if (!stop) {
		VT_CHECK(vt_await(vm, hibernated, NULL, 30000), "%s: saved", what);
		VT_CHECK(vt_await(vm, has_line, (void *[]){ &l, "idle: woke from C1 (host)" }, 30000),
			 "%s: the wake asked for during the save ran after it", what);
	}
	vmm_wait(vm, &st);
	VT_CHECK(st == (stop ? 3 : 0), "%s: status %d", what, st);
	vmm_get_stats(vm, &s);
	VT_CHECK(s.hibernations == 1, "%s: the save completed (%llu)", what, (unsigned long long)s.hibernations);
	VT_CHECK(h.first < 1u << 20 && h.last > 48ull << 20, "%s: held at %llu of %llu bytes", what,
		 (unsigned long long)h.first, (unsigned long long)h.last);
	if (!stop) {
		for (uint64_t i = 0; i < words; i++)
			bad += ram[from / 8 + i] != i * 0x9E3779B97F4A7C15ull + 1;
		VT_CHECK(bad == 0, "%s: %llu words differ after the wake", what, (unsigned long long)bad);
		VT_CHECK(s.wakes == 1, "%s: one wake", what);
	}
	vmm_free(vm);
}

/* A VM saved while parked in C1 is woken by its restore. */
static void restore_wakes(void)
{
	struct lines l = { .lock = PTHREAD_MUTEX_INITIALIZER };
	char state[256];
	struct vmm_config cfg = { .profile = ZPSI_VMM_PROFILE_IDLE, .profile_ms = 50, .param = { 600000 },
				  .state_path = state };
	struct vmm *vm;
	int st = -1, r;

	vt_tmpname(state, sizeof(state), "state");
	vm = start(&l, &cfg);
	if (!vm)
		return;
	VT_CHECK(vt_await(vm, parked, NULL, 30000), "restore: the vCPU parked");
	VT_CHECK(vmm_request(vm, VMM_REQ_SAVE) == 0, "restore: save");
	vmm_wait(vm, &st);
	VT_CHECK(st == 0, "restore: saved, status %d", st);
	vmm_free(vm);

	memset(l.all, 0, sizeof(l.all));
	l.len = 0;
	cfg.state_path = NULL;
	r = vmm_new_from_state(state, &cfg, &vm);
	VT_CHECK(r == 0, "restore: %s", vmm_errctx());
	if (r < 0)
		return;
	VT_CHECK(vmm_start(vm, 0) == 0, "restore: start");
	vmm_wait(vm, &st);
	VT_CHECK(st == 0 && strstr(l.all, "idle: woke from C1 (host)"), "restore: woken by the restore: %d\n%s", st,
		 l.all);
	VT_CHECK(vmm_power(vm) == ZPSI_POWER_C0, "restore: C0");
	vmm_free(vm);
	unlink(state);
}

int main(void)
{
	vt_require_kvm();
	c1_parks();
	restore_wakes();
	c3_pauses();
	c6_releases_memory();
	c6_answers_while_saving(false);
	c6_answers_while_saving(true);
	return vt_done("power");
}
