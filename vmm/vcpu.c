/* SPDX-License-Identifier: MIT */
/*
 * vmm/vcpu.c - vCPUs: creation, the run loop on each vCPU's own thread,
 * and the table of exit handlers.  Every exit is hostile input: a handler
 * checks what KVM hands over before using it, and an exit nobody expects
 * ends the VM (status ZPSI_VMM_EXIT_CRASH) with the reason recorded.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "arch.h"
#include "internal.h"
#include "zpsi/util.h"

int vmm_vcpu_create(struct vmm *vm, unsigned index)
{
	struct vmm_vcpu *v = &vm->vcpu[index];
	struct kvm_run *run;
	int r;

	v->vm = vm;
	v->index = index;
	r = v->fd = vmm_ioctl_val(vm->vm_fd, KVM_CREATE_VCPU, index);
	if (r < 0)
		return r;
	run = mmap(NULL, vm->run_size, PROT_READ | PROT_WRITE, MAP_SHARED, v->fd, 0);
	if (run == MAP_FAILED)
		return vmm_errctx_set("mmap kvm_run"), -errno;
	v->run = run;
	v->mode = VMM_VCPU_RUN;
	return vmm_arch_vcpu_init(v);
}

void vmm_vcpu_destroy(struct vmm_vcpu *v)
{
	if (v->run)
		munmap(v->run, v->vm->run_size);
	v->run = NULL;
	zpsi_closep(&v->fd);
	v->fd = -1;
	free(v->state);
	v->state = NULL;
}

/* Make a vCPU leave KVM_RUN soon: immediate_exit covers the window before
 * it enters, the signal the time inside (api.rst, "immediate_exit"). */
void vmm_vcpu_kick(struct vmm_vcpu *v)
{
	if (!v->run || !v->thread_started)
		return;
	__atomic_store_n(&v->run->immediate_exit, 1, __ATOMIC_RELEASE);
	pthread_kill(v->thread, VMM_KICK_SIGNAL);
}

void vmm_end_locked(struct vmm *vm, int status)
{
	uint64_t one = 1;

	if (vmm_run_to(vm, VMM_EV_END) < 0)
		return;	/* ended already */
	vm->exit_status = status;
	for (unsigned i = 0; i < vm->nvcpus; i++)
		vmm_vcpu_kick(&vm->vcpu[i]);
	pthread_cond_broadcast(&vm->cond);
	if (write(vm->done_fd, &one, sizeof(one)) < 0) {
		/* the counter cannot overflow from one write; nothing to do */
	}
}

static void vmm_crash(struct vmm_vcpu *v, const char *what)
{
	struct vmm *vm = v->vm;
	char where[64];

	vmm_arch_where(v, where, sizeof(where));
	pthread_mutex_lock(&vm->lock);
	if (!vmm_ended(vm))
		snprintf(vm->crash, sizeof(vm->crash), "vCPU %u: %s (%s)", v->index, what, where);
	vmm_end_locked(vm, ZPSI_VMM_EXIT_CRASH);
	pthread_mutex_unlock(&vm->lock);
}

static void vmm_exit_shutdown(struct vmm_vcpu *v)
{
	vmm_crash(v, "triple fault (KVM_EXIT_SHUTDOWN)");
}

static void vmm_exit_internal(struct vmm_vcpu *v)
{
	char what[64];

	snprintf(what, sizeof(what), "KVM internal error, suberror %u", v->run->internal.suberror);
	vmm_crash(v, what);
}

static void vmm_exit_fail_entry(struct vmm_vcpu *v)
{
	char what[80];

	snprintf(what, sizeof(what), "VM entry failed, reason %#llx",
		 (unsigned long long)v->run->fail_entry.hardware_entry_failure_reason);
	vmm_crash(v, what);
}

/* An access to a guest-physical address with no RAM: nothing decodes it,
 * so reads see all ones and writes vanish, as on a PC. */
static void vmm_exit_mmio(struct vmm_vcpu *v)
{
	VMM_STAT_INC(v->stats.mmio);
	if (!v->run->mmio.is_write)
		memset(v->run->mmio.data, 0xFF, sizeof(v->run->mmio.data));
}

static void vmm_exit_nothing(struct vmm_vcpu *v)
{
	(void)v;	/* KVM_EXIT_INTR: a kick; the loop looks at why */
}

/* The exits of every architecture; vmm_arch_exit_handler() has the rest. */
static const vmm_exit_fn vmm_exit_handlers[] = {
	[KVM_EXIT_HLT] = vmm_hlt_exit,
	[KVM_EXIT_MMIO] = vmm_exit_mmio,
	[KVM_EXIT_SHUTDOWN] = vmm_exit_shutdown,
	[KVM_EXIT_FAIL_ENTRY] = vmm_exit_fail_entry,
	[KVM_EXIT_INTERNAL_ERROR] = vmm_exit_internal,
	[KVM_EXIT_INTR] = vmm_exit_nothing,
};

static void vmm_dispatch_exit(struct vmm_vcpu *v)
{
	uint32_t reason = v->run->exit_reason;
	vmm_exit_fn fn = reason < ZPSI_ARRAY_SIZE(vmm_exit_handlers) ? vmm_exit_handlers[reason] : NULL;

	VMM_STAT_INC(v->stats.exits);
	if (!fn)
		fn = vmm_arch_exit_handler(reason);
	if (fn) {
		fn(v);
	} else {
		char what[48];

		snprintf(what, sizeof(what), "unexpected exit reason %u", reason);
		vmm_crash(v, what);
	}
}

/* Finish a pending exit (I/O, MSR) without running guest code, so the
 * saved state is architecturally complete (api.rst: immediate_exit). */
static int vmm_vcpu_settle(struct vmm_vcpu *v)
{
	int r;

	__atomic_store_n(&v->run->immediate_exit, 1, __ATOMIC_RELEASE);
	r = vmm_ioctl_raw(v->fd, KVM_RUN, NULL);
	return r == -EINTR || r == 0 ? 0 : r;
}

/* Snapshot hand-offs, done on the vCPU's own thread (vm->lock held). */
static void vmm_vcpu_service(struct vmm_vcpu *v)
{
	struct vmm *vm = v->vm;
	int r;

	if (v->capture_gen != vm->capture_gen) {
		r = vmm_vcpu_settle(v);
		if (r == 0) {
			if (!v->state && !(v->state = calloc(1, sizeof(*v->state))))
				r = -ENOMEM;
			else
				r = vmm_vcpu_capture(v, v->state);
		}
		v->op_error = r;
		v->capture_gen = vm->capture_gen;
		pthread_cond_broadcast(&vm->cond);
	}
	if (v->apply_gen != vm->apply_gen) {
		r = v->state ? vmm_vcpu_apply(v, v->state) : -ENODATA;
		v->op_error = r;
		v->apply_gen = vm->apply_gen;
		pthread_cond_broadcast(&vm->cond);
	}
}

static bool vmm_vcpu_runnable(const struct vmm_vcpu *v)
{
	const struct vmm *vm = v->vm;

	return vm->run == VMM_RUN_RUNNING && v->mode == VMM_VCPU_RUN &&
	       v->capture_gen == vm->capture_gen && v->apply_gen == vm->apply_gen;
}

void *vmm_vcpu_thread(void *arg)
{
	struct vmm_vcpu *v = arg;
	struct vmm *vm = v->vm;
	sigset_t kick;
	int r;

	sigemptyset(&kick);
	sigaddset(&kick, VMM_KICK_SIGNAL);
	pthread_sigmask(SIG_UNBLOCK, &kick, NULL);

	pthread_mutex_lock(&vm->lock);
	v->tid = gettid();
	vm->threads_alive++;
	pthread_cond_broadcast(&vm->cond);
	for (;;) {
		vmm_vcpu_service(v);
		if (vmm_ended(vm))
			break;
		if (!vmm_vcpu_runnable(v)) {
			if (!v->quiescent) {
				v->quiescent = true;
				pthread_cond_broadcast(&vm->cond);
			}
			pthread_cond_wait(&vm->cond, &vm->lock);
			continue;
		}
		v->quiescent = false;
		/* Cleared under the lock: a kick after this point sets it again. */
		v->run->immediate_exit = 0;
		pthread_mutex_unlock(&vm->lock);

		r = vmm_ioctl_raw(v->fd, KVM_RUN, NULL);
		if (r == 0) {
			vmm_dispatch_exit(v);
		} else if (r != -EINTR && r != -EAGAIN) {
			char what[64];

			snprintf(what, sizeof(what), "KVM_RUN failed: %s", strerror(-r));
			vmm_crash(v, what);
		}
		pthread_mutex_lock(&vm->lock);
	}
	v->quiescent = true;
	pthread_cond_broadcast(&vm->cond);
	pthread_mutex_unlock(&vm->lock);
	vmm_console_flush(v);
	return NULL;
}
