/* SPDX-License-Identifier: MIT */
/*
 * vmm/internal.h - what the zpsi-vmm subsystems share.
 *
 * Locks, in the only order they may nest:  vm->lock  ->  host->lock.
 *   vm->lock    run control: vCPU modes, pause/wake/hibernate requests,
 *               snapshot hand-offs, the end of the VM.
 *   host->lock  PSI state: the registry (shared by the VMs of a process),
 *               each VM's MSR bank, caller record and region reader.
 * A vCPU thread holds neither while it is inside KVM_RUN.
 */
#ifndef VMM_INTERNAL_H
#define VMM_INTERNAL_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <linux/kvm.h>

#include "kvm.h"
#include "runstate.h"
#include "vmm.h"
#include "zpsi/abi.h"
#include "zpsi/msr.h"
#include "zpsi/region.h"
#include "zpsi/registry.h"

#define VMM_KICK_SIGNAL (SIGRTMIN)
#define VMM_LINE_MAX 4096u	/* a detect payload JSON line fits */
#define VMM_MAX_MSRS 512u	/* bound on the MSRs saved per vCPU */
#define VMM_REGION_SAMPLE_NS (10ull * 1000 * 1000)
#define VMM_C6_MIN_NS (1000ull * 1000 * 1000)	/* an alarm ends a C6 no sooner */

struct vmm_host {
	pthread_mutex_t lock;
	struct zpsi_registry *reg;
	unsigned refs;		/* under lock */
};

enum vmm_vcpu_mode {
	VMM_VCPU_RUN,		/* runs guest code (unless the VM is paused) */
	VMM_VCPU_PARKED,	/* HLT: waits for a wake (alarm or host) */
	VMM_VCPU_STOPPED,	/* HLT in C0 without an alarm: done for good */
};

/* A vCPU's architectural state, as saved (lib layout: vmm/snapshot.c). */
struct vmm_vcpu_state {
	struct kvm_regs regs;
	struct kvm_sregs sregs;
	struct kvm_xcrs xcrs;
	struct kvm_vcpu_events events;
	struct kvm_mp_state mp_state;
	struct kvm_debugregs debugregs;
	uint32_t nmsrs;
	struct kvm_msr_entry msrs[VMM_MAX_MSRS];
	/* the VMM's own view of the vCPU */
	uint8_t mode;		/* enum vmm_vcpu_mode */
	uint32_t alarm_ms;
	/* Last: newer linux/kvm.h ends struct kvm_xsave with a flexible
	 * array (KVM_GET_XSAVE2); KVM_GET_XSAVE fills its fixed 4 KiB. */
	struct kvm_xsave xsave;
};

/* Counters: written by one thread (relaxed), read by any. */
#define VMM_STAT_INC(x) __atomic_store_n(&(x), __atomic_load_n(&(x), __ATOMIC_RELAXED) + 1, __ATOMIC_RELAXED)
#define VMM_STAT_ADD(x, n) __atomic_store_n(&(x), __atomic_load_n(&(x), __ATOMIC_RELAXED) + (n), __ATOMIC_RELAXED)
#define VMM_STAT_GET(x) __atomic_load_n(&(x), __ATOMIC_RELAXED)

struct vmm_vcpu {
	struct vmm *vm;
	unsigned index;
	int fd;
	struct kvm_run *run;
	pthread_t thread;
	bool thread_started;
	pid_t tid;		/* the thread's id, set before it reports alive */

	/* under vm->lock */
	enum vmm_vcpu_mode mode;
	bool quiescent;		/* out of KVM_RUN, waiting in vcpu_wait() */
	uint32_t alarm_ms;	/* armed by the alarm port; used at the next HLT */
	uint64_t alarm_deadline_ns;	/* while parked; 0 = none */
	unsigned wake_reason;	/* enum zpsi_vmm_wake, read back by the guest */
	uint64_t capture_gen, apply_gen;
	struct vmm_vcpu_state *state;	/* captured, or to apply */
	int op_error;		/* result of the last capture/apply */

	/* vCPU thread only */
	char line[VMM_LINE_MAX];
	size_t line_len;

	struct {
		uint64_t exits, io, msr, hlt, mmio, hypercalls, hc_errors;
		uint64_t msr_reads, msr_writes, msr_gp, console_bytes, stray_ports;
	} stats;
};

struct vmm {
	char name[32];
	char signature[13];
	bool has_signature;
	char *state_path;
	struct vmm_config cfg;		/* strings above, not cfg's pointers */

	int kvm_fd, vm_fd;
	size_t run_size;
	uint8_t *ram;
	uint64_t ram_size;
	uint64_t tsc_khz;
	uint64_t entry;			/* the guest image's entry point */
	uint64_t image_end;		/* first page above it */
	uint32_t features, cpuid_base;
	struct kvm_cpuid2 *cpuid;
	unsigned nvcpus;
	struct vmm_vcpu vcpu[ZPSI_VMM_MAX_VCPUS];
	struct vmm_host *host;

	/* PSI, under host->lock */
	struct zpsi_msr_bank bank;
	struct zpsi_caller caller;
	uint8_t power;			/* enum zpsi_power_state, mirrored from the registry */
	int region_fd;			/* one-page memfd: the region page */
	volatile struct zpsi_region *region_host;	/* the host's own mapping of it */
	uint64_t region_gpa;		/* 0: region off */
	struct zpsi_region_reader reader;
	uint64_t region_next_sample_ns;
	bool region_kick;		/* region just enabled: the supervisor must start sampling */
	/* The guest wrote PSI_CTRL_MSR.RESET: its next smaller counts are a
	 * new start, not a count going backwards; zpsid is told too. */
	bool region_reset_pending, counters_reset_report;
	/* Pages the guest has given back now (HC_PSI_BALLOON): one bit a
	 * page, so a range given twice counts once and a reclaim subtracts.
	 * balloon_base: pages given back before a restore, whose bits the
	 * state file does not carry. */
	uint64_t *balloon_map;
	uint64_t balloon_released, balloon_base;
	uint64_t mem_target_pages;
	/* zpsid writes the region's host fields (aggregate, memory target):
	 * the VMM then only reads them, and publishes MSR and hypercall
	 * reports into the region on the guest's behalf (docs/control.md). */
	bool host_external;

	/* run control, under lock */
	pthread_mutex_t lock;
	pthread_cond_t cond;
	enum vmm_run_state run;		/* runstate.h: change it with vmm_run_to() */
	unsigned pending;		/* VMM_PEND_*: requests for the supervisor, latches */
	int exit_status;
	/* Linked to zpsid: a guest's C6 pauses the VM and waits for zpsid to
	 * hibernate it into its state directory (VMM_PEND_TELL_C6 tells the
	 * link). */
	bool defer_c6;
	unsigned req_wake_reason;
	uint64_t capture_gen, apply_gen;
	uint64_t deadline_ns;		/* watchdog, CLOCK_MONOTONIC; 0: none */
	pthread_t supervisor;
	bool supervisor_started;
	unsigned threads_alive;		/* reached their start routine */
	bool joined;
	int done_fd;
	int state_fd;			/* opened at set-up, so seccomp needs no open() */
	/* A state file zpsid passed for one C6 or one wake (vmm_request_file);
	 * used instead of state_fd, closed after that operation. */
	int ext_state_fd;
	/* SAVING or HIBERNATED into a file zpsid passed: only zpsid, with
	 * the file, can wake the VM. */
	bool state_ext;
	vmm_save_hook_fn save_hook;	/* tests */
	void *save_hook_opaque;
	uint64_t hibernated_ns;		/* when the last C6 was on disk */
	bool seccomp_on;
	bool restored;			/* created from a state file */
	char crash[160];		/* why the guest crashed, for the caller */
	/* A host operation (C6, a wake from C6) that failed while the VM
	 * lives on: counted, so that the link and the signal loop can tell
	 * this failure from an earlier one. */
	unsigned op_failures;
	char op_error[160];
	uint64_t snapshot_bytes;	/* the last state file written */
	uint64_t wakes, parks, hibernations;
};

/* The run state (vm->lock held). */
static inline bool vmm_started(const struct vmm *vm)
{
	return vm->run != VMM_RUN_CREATED;
}
static inline bool vmm_ended(const struct vmm *vm)
{
	return vm->run == VMM_RUN_ENDED;
}
/* Make the transition `ev` (runstate.c's table); -EPERM, the state
 * unchanged, if the table refuses it. */
static inline int vmm_run_to(struct vmm *vm, enum vmm_run_event ev)
{
	int next = vmm_run_next(vm->run, ev);

	if (next < 0)
		return next;
	vm->run = (enum vmm_run_state)next;
	return 0;
}

/* vm.c */
uint64_t vmm_now_ns(void);
static inline void *vmm_gpa(struct vmm *vm, uint64_t gpa) { return vm->ram + gpa; }
static inline bool vmm_gpa_range_ok(const struct vmm *vm, uint64_t gpa, uint64_t len)
{
	return gpa <= vm->ram_size && len <= vm->ram_size - gpa;
}
struct vmm_host *vmm_host_ref(struct vmm_host *h);
void vmm_host_lock(struct vmm_host *h);
void vmm_host_unlock(struct vmm_host *h);

/* x86/cpuid.c */
int vmm_cpuid_setup(struct vmm *vm);
int vmm_cpuid_apply(struct vmm *vm, struct vmm_vcpu *v);

/* x86/msr.c */
int vmm_msr_setup(struct vmm *vm);
void vmm_msr_exit(struct vmm_vcpu *v);
/* Act on the ZPSI_MSR_EV_* of a write (host->lock held). */
void vmm_psi_msr_events(struct vmm *vm, unsigned events);
/* Refresh the bank's read-only STATE fields from the registry (host->lock held). */
void vmm_psi_refresh(struct vmm *vm);

/* hypercall.c */
void vmm_doorbell(struct vmm_vcpu *v);

/* io.c */
void vmm_io_exit(struct vmm_vcpu *v);
void vmm_console_flush(struct vmm_vcpu *v);

/* region.c */
int vmm_region_setup(struct vmm *vm);
void vmm_region_teardown(struct vmm *vm);
/* Enable the region at a page, or move it; 0 disables (host->lock held).
 * preserve: keep the page's bytes as they are (restore), else the region
 * is initialised as docs/abi.md section 6 says. */
int vmm_region_set(struct vmm *vm, uint64_t gpa, bool preserve);
/* Take a sample from the region and publish the aggregate (host->lock held). */
void vmm_region_sync(struct vmm *vm);
/* Give guest pages back to the host (host->lock held). */
int vmm_balloon_release(struct vmm *vm, uint64_t gpa, uint64_t pages);
/* The guest takes pages back (HC_PSI_BALLOON with RDX 0): only counted. */
int vmm_balloon_reclaim(struct vmm *vm, uint64_t gpa, uint64_t pages);
/* The aggregate the guest sees: zpsid's, from the region, when it writes
 * one; else this process's registry (host->lock held). */
uint32_t vmm_aggregate_bp(struct vmm *vm);
/* Linked to zpsid and the guest does not write the region itself: publish
 * its last MSR or hypercall report there, as its writer (host->lock held). */
void vmm_region_publish_guest(struct vmm *vm);

/* vcpu.c */
int vmm_vcpu_create(struct vmm *vm, unsigned index);
void vmm_vcpu_destroy(struct vmm_vcpu *v);
void *vmm_vcpu_thread(void *arg);
void vmm_vcpu_kick(struct vmm_vcpu *v);		/* vm->lock held */
void vmm_end_locked(struct vmm *vm, int status);	/* vm->lock held */

/* power.c */
void vmm_hlt_exit(struct vmm_vcpu *v);
void *vmm_supervisor_thread(void *arg);
void vmm_power_changed(struct vmm *vm, uint8_t power);	/* host->lock held */
/* After an exit that may have enabled the region (no lock held). */
void vmm_supervisor_poke(struct vmm *vm);

/* x86/vcpu_state.c: on the vCPU's own thread */
int vmm_vcpu_capture(struct vmm_vcpu *v, struct vmm_vcpu_state *s);
int vmm_vcpu_apply(struct vmm_vcpu *v, const struct vmm_vcpu_state *s);

/* snapshot.c (capture), statefile.c (storage): snapshot.h */
static inline int vmm_state_fd(const struct vmm *vm)
{
	return vm->ext_state_fd >= 0 ? vm->ext_state_fd : vm->state_fd;
}
/* All vCPUs captured; vm->lock held, and dropped while the file is written. */
int vmm_snapshot_write(struct vmm *vm);
int vmm_snapshot_reload(struct vmm *vm);	/* memory and vCPU states back from the file */

/* seccomp.c */
int vmm_seccomp_apply(unsigned flags);	/* VMM_START_* */
bool vmm_seccomp_supported(void);

#endif /* VMM_INTERNAL_H */
