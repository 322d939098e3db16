/* SPDX-License-Identifier: MIT */
/*
 * vmm/power.c - power states and the supervisor thread (docs/abi.md
 * section 8).  The guest asks with HC_PSI_HIBERNATE and then executes HLT;
 * the VMM gives the state its host meaning at that HLT:
 *   C1  the halting vCPU's thread sleeps on a condition variable (no CPU);
 *   C3  every vCPU is paused (kicked out of KVM_RUN and parked);
 *   C6  C3, then the VM's state goes to the state file and guest RAM is
 *       released (MADV_DONTNEED); waking reads it all back.
 * Wakes come from the host (vmm_request(VMM_REQ_WAKE): a signal or a
 * control message) or from the alarm the guest armed before HLT, and return
 * the VM to C0.  The supervisor also runs the watchdog and samples the
 * shared region.
 */
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "internal.h"
#include "zpsi/util.h"

/* host->lock held */
void vmm_power_changed(struct vmm *vm, uint8_t power)
{
	__atomic_store_n(&vm->power, power, __ATOMIC_RELAXED);
	zpsi_msr_set_host(&vm->bank, vm->bank.host_bp, power);
}

uint8_t vmm_power(struct vmm *vm)
{
	return __atomic_load_n(&vm->power, __ATOMIC_RELAXED);
}

/* The host sets a state (any valid one, docs/abi.md section 8). */
static void vmm_power_set_host(struct vmm *vm, uint8_t state)
{
	vmm_host_lock(vm->host);
	if (vm->caller.id)
		(void)zpsi_registry_set_power(vm->host->reg, vm->caller.id, state, true, vmm_now_ns());
	vmm_power_changed(vm, state);
	vmm_host_unlock(vm->host);
}

void vmm_hlt_exit(struct vmm_vcpu *v)
{
	struct vmm *vm = v->vm;
	uint8_t power = vmm_power(vm);

	VMM_STAT_INC(v->stats.hlt);
	vmm_console_flush(v);
	pthread_mutex_lock(&vm->lock);
	if (vm->pending & VMM_PEND_HLT_RETURNS) {
		/* The host woke the VM just before this HLT: it returns at
		 * once, as HLT does with an interrupt already pending. */
		vm->pending &= ~VMM_PEND_HLT_RETURNS;
		v->wake_reason = ZPSI_VMM_WAKE_HOST;
		v->alarm_ms = 0;
	} else if (v->alarm_ms || power != ZPSI_POWER_C0) {
		v->mode = VMM_VCPU_PARKED;
		v->alarm_deadline_ns = v->alarm_ms ? vmm_now_ns() + v->alarm_ms * 1000000ull : 0;
		v->alarm_ms = 0;
		vm->parks++;
		if (power == ZPSI_POWER_C3)
			vm->pending |= VMM_PEND_PAUSE;
		else if (power == ZPSI_POWER_C6 && vm->defer_c6)
			vm->pending |= VMM_PEND_PAUSE | VMM_PEND_TELL_C6;	/* zpsid brings the state file */
		else if (power == ZPSI_POWER_C6)
			vm->pending |= VMM_PEND_HIBERNATE;
	} else {
		/* HLT with interrupts off and nothing to wake it: this vCPU is
		 * done; when all are, so is the VM. */
		bool all = true;

		v->mode = VMM_VCPU_STOPPED;
		for (unsigned i = 0; i < vm->nvcpus; i++)
			all &= vm->vcpu[i].mode == VMM_VCPU_STOPPED;
		if (all)
			vmm_end_locked(vm, 0);
	}
	pthread_cond_broadcast(&vm->cond);
	pthread_mutex_unlock(&vm->lock);
}

/* ---------------------------------------------------------------- */
/* Supervisor steps (vm->lock held)                                  */
/* ---------------------------------------------------------------- */

static bool vmm_all(struct vmm *vm, bool (*pred)(const struct vmm *, const struct vmm_vcpu *))
{
	for (unsigned i = 0; i < vm->nvcpus; i++)
		if (!pred(vm, &vm->vcpu[i]))
			return false;
	return true;
}

static bool vmm_is_quiescent(const struct vmm *vm, const struct vmm_vcpu *v)
{
	(void)vm;
	return v->quiescent;
}

static bool vmm_is_captured(const struct vmm *vm, const struct vmm_vcpu *v)
{
	return v->capture_gen == vm->capture_gen;
}

static bool vmm_is_applied(const struct vmm *vm, const struct vmm_vcpu *v)
{
	return v->apply_gen == vm->apply_gen;
}

/* Wait until every vCPU satisfies pred; false if the VM ends first. */
static bool vmm_await(struct vmm *vm, bool (*pred)(const struct vmm *, const struct vmm_vcpu *))
{
	while (!vmm_ended(vm) && !vmm_all(vm, pred))
		pthread_cond_wait(&vm->cond, &vm->lock);
	return !vmm_ended(vm);
}

/* The state no longer lets the vCPUs run: get them out of KVM_RUN. */
static bool vmm_quiesce(struct vmm *vm)
{
	for (unsigned i = 0; i < vm->nvcpus; i++)
		vmm_vcpu_kick(&vm->vcpu[i]);
	return vmm_await(vm, vmm_is_quiescent);
}

/* Every vCPU saves its own registers on its own thread. */
static int vmm_capture_all(struct vmm *vm)
{
	vm->capture_gen++;
	pthread_cond_broadcast(&vm->cond);
	if (!vmm_await(vm, vmm_is_captured))
		return -ECANCELED;
	for (unsigned i = 0; i < vm->nvcpus; i++)
		if (vm->vcpu[i].op_error < 0)
			return vm->vcpu[i].op_error;
	return 0;
}

static int vmm_apply_all(struct vmm *vm)
{
	vm->apply_gen++;
	pthread_cond_broadcast(&vm->cond);
	if (!vmm_await(vm, vmm_is_applied))
		return -ECANCELED;
	for (unsigned i = 0; i < vm->nvcpus; i++)
		if (vm->vcpu[i].op_error < 0)
			return vm->vcpu[i].op_error;
	return 0;
}

static void vmm_do_pause(struct vmm *vm)
{
	vm->pending &= ~VMM_PEND_PAUSE;
	vmm_run_to(vm, VMM_EV_PAUSE);
	vmm_quiesce(vm);
}

/* vm->lock held */
static void vmm_op_failed(struct vmm *vm, const char *what, int err)
{
	snprintf(vm->op_error, sizeof(vm->op_error), "%s (%s): %s", what, vmm_errctx(), strerror(-err));
	vm->op_failures++;
}

unsigned vmm_op_failures(struct vmm *vm, char *msg, size_t cap, uint64_t *bytes)
{
	unsigned n;

	pthread_mutex_lock(&vm->lock);
	n = vm->op_failures;
	if (msg && cap)
		snprintf(msg, cap, "%s", vm->op_error);
	if (bytes)
		*bytes = vm->snapshot_bytes;
	pthread_mutex_unlock(&vm->lock);
	return n;
}

static void vmm_do_hibernate(struct vmm *vm)
{
	bool ext = vm->ext_state_fd >= 0;
	int r;

	vm->pending &= ~(VMM_PEND_HIBERNATE | VMM_PEND_PAUSE);
	vmm_run_to(vm, VMM_EV_HIBERNATE);	/* SAVING: the vCPUs stay out */
	vm->state_ext = ext;
	if (!vmm_quiesce(vm))
		return;
	r = vmm_capture_all(vm);
	if (r == 0)
		r = vmm_snapshot_write(vm);	/* drops vm->lock while it writes */
	if (r < 0) {
		/* Memory stays; the VM waits paused, as in C3.  A file passed
		 * for the wake while the save ran is of no use now. */
		vm->state_ext = false;
		zpsi_closep(&vm->ext_state_fd);
		vmm_op_failed(vm, "hibernation failed", r);
		vmm_run_to(vm, VMM_EV_SAVE_FAILED);
		return;
	}
	madvise(vm->ram, vm->ram_size, MADV_DONTNEED);
	vm->hibernated_ns = vmm_now_ns();
	/* The save closed its file; the wake brings its own (and may have
	 * brought it already, while the save ran: it stays). */
	if (!ext)
		zpsi_closep(&vm->ext_state_fd);
	vm->hibernations++;
	vmm_run_to(vm, VMM_EV_SAVED);	/* refused if the VM ended meanwhile */
}

static void vmm_do_save(struct vmm *vm)
{
	int r;

	vm->pending &= ~VMM_PEND_SAVE;
	if (vm->run == VMM_RUN_HIBERNATED) {
		vmm_end_locked(vm, 0);	/* the file already holds this state */
		return;
	}
	vmm_run_to(vm, VMM_EV_SAVE);
	vm->state_ext = vm->ext_state_fd >= 0;
	if (!vmm_quiesce(vm))
		return;
	r = vmm_capture_all(vm);
	if (r == 0)
		r = vmm_snapshot_write(vm);
	if (r < 0) {
		snprintf(vm->crash, sizeof(vm->crash), "saving the VM failed (%s): %s", vmm_errctx(),
			 strerror(-r));
		vmm_end_locked(vm, ZPSI_VMM_EXIT_ERROR);
		return;
	}
	vmm_end_locked(vm, 0);
}

static void vmm_do_wake(struct vmm *vm)
{
	unsigned reason = vm->req_wake_reason;
	bool woke_someone = vm->run != VMM_RUN_RUNNING;
	int r;

	vm->pending &= ~(VMM_PEND_WAKE | VMM_PEND_PAUSE | VMM_PEND_HIBERNATE);
	if (vm->run == VMM_RUN_HIBERNATED) {
		r = vmm_snapshot_reload(vm);
		zpsi_closep(&vm->ext_state_fd);
		if (r == 0)
			r = vmm_apply_all(vm);
		if (r < 0) {
			/* The VM stays in C6: the file (or a good one passed with
			 * the next wake) still holds it.  Whatever the failed
			 * read put into RAM goes. */
			madvise(vm->ram, vm->ram_size, MADV_DONTNEED);
			vm->hibernated_ns = vmm_now_ns();	/* an alarm retries no sooner */
			vmm_op_failed(vm, "waking from C6 failed", r);
			return;
		}
		vm->state_ext = false;
	}
	for (unsigned i = 0; i < vm->nvcpus; i++) {
		struct vmm_vcpu *v = &vm->vcpu[i];

		if (v->mode == VMM_VCPU_PARKED) {
			v->mode = VMM_VCPU_RUN;
			v->wake_reason = reason;
			v->alarm_deadline_ns = 0;
			woke_someone = true;
		}
	}
	/* Nobody was halted: the guest may be on its way to HLT (it asked
	 * for C1 and has not halted yet); that HLT must not sleep. */
	if (!woke_someone && reason == ZPSI_VMM_WAKE_HOST)
		vm->pending |= VMM_PEND_HLT_RETURNS;
	else
		vm->pending &= ~VMM_PEND_HLT_RETURNS;
	vmm_run_to(vm, VMM_EV_WAKE);
	vm->wakes++;
	vmm_power_set_host(vm, ZPSI_POWER_C0);
	pthread_cond_broadcast(&vm->cond);
}

/*
 * The supervisor's one priority ladder: of the requests waiting, the first
 * in this order whose event the state machine takes from the current
 * state.  A request the state does not take (a pause while paused, a C6
 * while in C6) waits, as it did before, until a later state takes it or a
 * wake drops it.
 */
static const struct vmm_rung {
	unsigned pending;
	enum vmm_run_event ev;
	void (*act)(struct vmm *vm);
} vmm_ladder[] = {
	{ VMM_PEND_SAVE, VMM_EV_SAVE, vmm_do_save },
	{ VMM_PEND_WAKE, VMM_EV_WAKE, vmm_do_wake },
	{ VMM_PEND_HIBERNATE, VMM_EV_HIBERNATE, vmm_do_hibernate },
	{ VMM_PEND_PAUSE, VMM_EV_PAUSE, vmm_do_pause },
};

static const struct vmm_rung *vmm_ladder_next(const struct vmm *vm)
{
	for (size_t i = 0; i < ZPSI_ARRAY_SIZE(vmm_ladder); i++)
		if ((vm->pending & vmm_ladder[i].pending) && vmm_run_next(vm->run, vmm_ladder[i].ev) >= 0)
			return &vmm_ladder[i];
	return NULL;
}

/* Region sampling is due: take a sample, publish the aggregate. */
static uint64_t vmm_region_tick(struct vmm *vm, uint64_t now)
{
	uint64_t next = UINT64_MAX;

	vmm_host_lock(vm->host);
	if (vm->region_gpa) {
		if (now >= vm->region_next_sample_ns) {
			vmm_region_sync(vm);
			vm->region_next_sample_ns = now + VMM_REGION_SAMPLE_NS;
		}
		next = vm->region_next_sample_ns;
	}
	vmm_host_unlock(vm->host);
	return next;
}

static void vmm_timedwait(struct vmm *vm, uint64_t until_ns)
{
	struct timespec ts;

	if (until_ns == UINT64_MAX) {
		pthread_cond_wait(&vm->cond, &vm->lock);
		return;
	}
	ts.tv_sec = (time_t)(until_ns / 1000000000ull);
	ts.tv_nsec = (long)(until_ns % 1000000000ull);
	pthread_cond_timedwait(&vm->cond, &vm->lock, &ts);
}

void *vmm_supervisor_thread(void *arg)
{
	struct vmm *vm = arg;

	pthread_mutex_lock(&vm->lock);
	vm->threads_alive++;
	pthread_cond_broadcast(&vm->cond);
	while (!vmm_started(vm))
		pthread_cond_wait(&vm->cond, &vm->lock);
	while (!vmm_ended(vm)) {
		const bool hibernated = vm->run == VMM_RUN_HIBERNATED;
		uint64_t now = vmm_now_ns(), next = UINT64_MAX, t;
		const struct vmm_rung *step;

		if (vm->deadline_ns) {
			if (now >= vm->deadline_ns) {
				snprintf(vm->crash, sizeof(vm->crash),
					 "watchdog: the guest ran for more than %llu ms",
					 (unsigned long long)vm->cfg.timeout_ms);
				vmm_end_locked(vm, ZPSI_VMM_EXIT_WATCHDOG);
				break;
			}
			next = vm->deadline_ns;
		}
		for (unsigned i = 0; i < vm->nvcpus; i++) {
			const struct vmm_vcpu *v = &vm->vcpu[i];

			/* Under zpsid a guest that asked for C6 is woken by zpsid
			 * alone (it brings the state file back): its alarm does
			 * not fire, before the hibernation or after it. */
			if (v->mode != VMM_VCPU_PARKED || !v->alarm_deadline_ns || (hibernated && vm->state_ext) ||
			    (vm->defer_c6 && vmm_power(vm) == ZPSI_POWER_C6))
				continue;
			/* A C6 costs a write of the guest's memory: an alarm
			 * does not end one sooner than VMM_C6_MIN_NS after it
			 * began, so a guest cannot make the host thrash its
			 * disk with a zero-length C6 loop. */
			if (hibernated && now < vm->hibernated_ns + VMM_C6_MIN_NS) {
				if (vm->hibernated_ns + VMM_C6_MIN_NS < next)
					next = vm->hibernated_ns + VMM_C6_MIN_NS;
				continue;
			}
			if (v->alarm_deadline_ns <= now && !(vm->pending & VMM_PEND_WAKE)) {
				vm->pending |= VMM_PEND_WAKE;
				vm->req_wake_reason = ZPSI_VMM_WAKE_ALARM;
			} else if (v->alarm_deadline_ns < next) {
				next = v->alarm_deadline_ns;
			}
		}
		step = vmm_ladder_next(vm);
		if (step)
			step->act(vm);
		if (vmm_ended(vm))
			break;
		t = vmm_region_tick(vm, now);
		if (t < next)
			next = t;
		/* Pausing and the snapshot steps wait on the condition and
		 * drop the lock: a request that came in meanwhile has had its
		 * broadcast already, so look again before sleeping. */
		if (vmm_ladder_next(vm))
			continue;
		vmm_timedwait(vm, next);
	}
	pthread_mutex_unlock(&vm->lock);
	return NULL;
}

void vmm_supervisor_poke(struct vmm *vm)
{
	bool kick;

	vmm_host_lock(vm->host);
	kick = vm->region_kick;
	vm->region_kick = false;
	vmm_host_unlock(vm->host);
	if (!kick)
		return;
	pthread_mutex_lock(&vm->lock);
	pthread_cond_broadcast(&vm->cond);
	pthread_mutex_unlock(&vm->lock);
}

/* ---------------------------------------------------------------- */
/* Host requests                                                     */
/* ---------------------------------------------------------------- */

/* vm->lock held */
static int vmm_request_locked(struct vmm *vm, enum vmm_request req)
{
	int r = 0;

	if (!vmm_started(vm) || vmm_ended(vm))
		return -ESRCH;
	switch (req) {
	case VMM_REQ_WAKE:
		/* From zpsid's C6 only zpsid can wake: the state is in its file
		 * (or is going there now). */
		if (vm->state_ext && vm->ext_state_fd < 0)
			return -EPERM;
		vm->pending |= VMM_PEND_WAKE;
		vm->req_wake_reason = ZPSI_VMM_WAKE_HOST;
		break;
	case VMM_REQ_PAUSE:
		vmm_power_set_host(vm, ZPSI_POWER_C3);
		vm->pending |= VMM_PEND_PAUSE;
		break;
	case VMM_REQ_HIBERNATE:
		vmm_power_set_host(vm, ZPSI_POWER_C6);
		vm->pending |= VMM_PEND_HIBERNATE;
		break;
	case VMM_REQ_SAVE:
		vm->pending |= VMM_PEND_SAVE;
		break;
	default:
		r = -EINVAL;
		break;
	}
	pthread_cond_broadcast(&vm->cond);
	return r;
}

int vmm_request(struct vmm *vm, enum vmm_request req)
{
	int r;

	pthread_mutex_lock(&vm->lock);
	r = vmm_request_locked(vm, req);
	pthread_mutex_unlock(&vm->lock);
	return r;
}

int vmm_request_file(struct vmm *vm, enum vmm_request req, int fd)
{
	int r;

	if (req != VMM_REQ_HIBERNATE && req != VMM_REQ_WAKE) {
		close(fd);
		return -EINVAL;
	}
	pthread_mutex_lock(&vm->lock);
	zpsi_closep(&vm->ext_state_fd);
	/* A wake reads a passed file only if the C6 went into one: a VM in
	 * its own C6 (or not in C6) must never be rolled back to an older
	 * file zpsid happens to hold. */
	if (req == VMM_REQ_WAKE && !vm->state_ext)
		close(fd);
	else
		vm->ext_state_fd = fd;
	r = vmm_request_locked(vm, req);
	if (r < 0)
		zpsi_closep(&vm->ext_state_fd);
	pthread_mutex_unlock(&vm->lock);
	return r;
}

void vmm_stop(struct vmm *vm, int status)
{
	pthread_mutex_lock(&vm->lock);
	vmm_end_locked(vm, status);
	pthread_mutex_unlock(&vm->lock);
}

const char *vmm_crash_reason(struct vmm *vm)
{
	return vm->crash;
}
