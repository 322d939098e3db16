/* SPDX-License-Identifier: MIT */
/*
 * vmm/vmm.h - zpsi-vmm as a library (zpsi_vmm_core): a micro-VMM on
 * /dev/kvm whose guests execute the PSI ABI (abi.h) on real CPU traps.
 *
 * One `struct vmm` is one VM: one memory slot, 1..4 vCPUs each on its own
 * thread, and a supervisor thread (watchdog, alarms, region sampling, power
 * states).  Several VMs in one process may share one `struct vmm_host`
 * (the registry and its lock), as zpsid and the benchmarks do.
 *
 * Conventions (STYLE.md): 0 or -errno; outputs written only on success;
 * nothing here logs or exits.  After a failure vmm_errctx() names the
 * operation that failed (e.g. "KVM_SET_SREGS") for the caller's message.
 */
#ifndef ZPSI_VMM_H
#define ZPSI_VMM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "zpsi/registry.h"
#include "zpsi/vmm_boot.h"

struct vmm;
struct vmm_host;

/* What failed last in this thread ("KVM_SET_SREGS", "/dev/kvm", ...). */
const char *vmm_errctx(void);

/* ---------------------------------------------------------------- */
/* The host: a registry shared by the VMs of a process               */
/* ---------------------------------------------------------------- */

/* cfg NULL: the registry's defaults. */
int vmm_host_new(const struct zpsi_registry_config *cfg, struct vmm_host **out);
/* Drop a reference (each VM holds one); takes NULL; returns NULL. */
struct vmm_host *vmm_host_unref(struct vmm_host *h);
uint32_t vmm_host_aggregate_bp(struct vmm_host *h);
uint32_t vmm_host_count(struct vmm_host *h);

/* ---------------------------------------------------------------- */
/* A VM                                                              */
/* ---------------------------------------------------------------- */

typedef void (*vmm_console_fn)(void *opaque, unsigned cpu, const char *line, size_t len);

struct vmm_config {
	const char *name;		/* label; NULL: "zpsi" */
	unsigned vcpus;			/* 1..ZPSI_VMM_MAX_VCPUS; 0: 1 */
	uint32_t mem_mib;		/* rounded up to 2 MiB; 0: 32 */
	uint32_t weight;		/* registration weight; 0: 1 */
	const char *signature;		/* another identity at 0x40000000 (1..12 bytes) */
	uint32_t features;		/* ZPSI_FEAT_* offered; 0: MSR|DOORBELL|REGION|BALLOON */
	uint64_t timeout_ms;		/* watchdog: the VM ends with 124 after this; 0: none */
	const char *state_path;		/* where C6 and vmm_request(SAVE) write; NULL: a temp file */
	/* What the guest finds in its boot page (zpsi/vmm_boot.h). */
	uint32_t report, profile, profile_a_bp, profile_b_bp, profile_ms;
	uint64_t ops;
	uint64_t param[4];
	const char *cmdline;
	/* Console lines (without the newline); NULL: written to stdout as they are. */
	vmm_console_fn console;
	void *console_opaque;
	/* A shared host; NULL: the VM gets its own (with `registry`). */
	struct vmm_host *host;
	const struct zpsi_registry_config *registry;
};

/* Create the VM: KVM set-up, memory, long mode, CPUID, MSR filter.  The
 * guest does not run yet. */
int vmm_new(const struct vmm_config *cfg, struct vmm **out);
/* Tear down (stops the VM first if it runs); takes NULL; returns NULL. */
struct vmm *vmm_free(struct vmm *vm);

/* Load a guest: a static x86-64 ELF (validated: hostile input). */
int vmm_load_elf(struct vmm *vm, const void *image, size_t len);

/* Create a VM from a state file written by vmm_request(VMM_REQ_SAVE) or
 * C6: configuration, memory, vCPUs and PSI state; the guest continues where
 * it stopped.  cfg supplies what the file does not hold (console, host,
 * timeout, state_path); its machine fields are ignored. */
int vmm_new_from_state(const char *path, const struct vmm_config *cfg, struct vmm **out);

enum {
	VMM_START_SECCOMP = 1 << 0,	/* apply the seccomp filter before the guest runs */
	VMM_START_SECCOMP_LINK = 1 << 1,	/* ... allowing a zpsid link's unix socket */
};
/* Start the vCPU and supervisor threads. */
int vmm_start(struct vmm *vm, unsigned flags);

/* An eventfd that becomes readable when the VM has ended (for poll). */
int vmm_done_fd(struct vmm *vm);
/* Wait for the end and join the threads: 0 and the exit status
 * (0..119 from the guest, or ZPSI_VMM_EXIT_*). */
int vmm_wait(struct vmm *vm, int *status);

/* Host requests; thread-safe (not async-signal-safe: use signalfd). */
enum vmm_request {
	VMM_REQ_WAKE,		/* back to C0 from C1/C3/C6 */
	VMM_REQ_PAUSE,		/* C3: pause every vCPU */
	VMM_REQ_HIBERNATE,	/* C6: save to the state file, free memory */
	VMM_REQ_SAVE,		/* save to the state file and end the VM (status 0) */
};
int vmm_request(struct vmm *vm, enum vmm_request req);
/* The same for HIBERNATE or WAKE with a state file opened by someone else
 * (zpsid: O_WRONLY for C6, O_RDONLY to wake), used for that one operation
 * instead of the VM's own; takes the fd in every case.  A VM hibernated
 * into such a file wakes only with one (-EPERM otherwise). */
int vmm_request_file(struct vmm *vm, enum vmm_request req, int fd);
/* End the VM now with `status`. */
void vmm_stop(struct vmm *vm, int status);
/* Why the VM ended abnormally (crash, watchdog, a failed save), or "". */
const char *vmm_crash_reason(struct vmm *vm);

/* How many host operations failed while the VM lived on (a hibernation
 * that could not be written: the VM stays paused with its memory; a wake
 * from C6 that could not be read: the VM stays in C6); the last one's
 * reason goes to msg.  The snapshot size of the last successful C6 to
 * *bytes (NULL: not wanted). */
unsigned vmm_op_failures(struct vmm *vm, char *msg, size_t cap, uint64_t *bytes);

/* The current power state (enum zpsi_power_state). */
uint8_t vmm_power(struct vmm *vm);
/* Publish a memory target in the region (balloon; 0 clears it). */
int vmm_set_mem_target(struct vmm *vm, uint64_t pages);
/* The region's memfd (for SCM_RIGHTS to zpsid), or -ENOENT. */
int vmm_region_fd(struct vmm *vm);
/* The VM's weight in the aggregate (its registration's too). -EINVAL
 * outside 1..65535. */
int vmm_set_weight(struct vmm *vm, uint32_t weight);

/* ---------------------------------------------------------------- */
/* The link to zpsid (vmm/link.c, docs/control.md)                   */
/* ---------------------------------------------------------------- */

struct vmm_link;
/* prio: syslog's (3 error, 4 warning, 6 info). */
typedef void (*vmm_link_log_fn)(void *opaque, int prio, const char *msg);

/* Before vmm_start(): zpsid will own the region's host fields (the VMM
 * reads the aggregate and memory target from there and publishes the
 * guest's MSR and hypercall reports into it), a guest's C6 waits for
 * zpsid's state file, and the VM's name must be one zpsid accepts.  The
 * first connection is made by vmm_link_tick(). */
int vmm_link_new(struct vmm *vm, const char *socket_path, vmm_link_log_fn log, void *opaque,
		 struct vmm_link **out);
/* The socket to poll for input (-1 while away), and how long to poll at
 * most before calling vmm_link_tick(). */
int vmm_link_fd(const struct vmm_link *l);
int vmm_link_timeout_ms(const struct vmm_link *l);
/* The socket is readable: handle zpsid's commands. */
void vmm_link_event(struct vmm_link *l);
/* Timers: (re)connect, finish power commands, report state changes. */
void vmm_link_tick(struct vmm_link *l);
/* Say bye (if bye_reason and connected: zpsid then removes the VM) and
 * free; takes NULL; returns NULL. */
struct vmm_link *vmm_link_free(struct vmm_link *l, const char *bye_reason);

struct vmm_stats {
	uint64_t exits, io_exits, msr_exits, hlt_exits, mmio_exits;
	uint64_t hypercalls, hypercall_errors;
	uint64_t msr_reads, msr_writes, msr_gp;		/* #GP injected */
	uint64_t console_bytes, stray_ports;		/* unhandled port accesses */
	uint64_t region_samples, region_rejected, region_torn;
	uint64_t balloon_pages_released;
	uint64_t wakes, parks, hibernations;
	uint64_t ram_resident_pages;			/* guest RAM in host memory now */
	uint64_t tsc_khz;				/* the guest's TSC rate */
	uint32_t guest_id;				/* 0 if not registered */
	uint8_t power;
	bool seccomp;
};
void vmm_get_stats(struct vmm *vm, struct vmm_stats *out);

/* Guest RAM as the host sees it (tests). */
void *vmm_ram(struct vmm *vm, uint64_t *size);
/* CPU time a vCPU's thread has used, in ns (tests: a parked vCPU uses none). */
int vmm_vcpu_cpu_ns(struct vmm *vm, unsigned index, uint64_t *ns);
/* Tests: fn(opaque, bytes written so far) after each chunk of a state file
 * is written, on the saving thread, with no lock held (so a test can hold
 * a save in the middle and show the VM still answers).  NULL: none.  Set
 * before vmm_start(). */
typedef void (*vmm_save_hook_fn)(void *opaque, uint64_t written);
void vmm_set_save_hook(struct vmm *vm, vmm_save_hook_fn fn, void *opaque);
/* False in sanitizer builds, where vmm_start() does not apply the filter. */
bool vmm_seccomp_available(void);

#endif /* ZPSI_VMM_H */
