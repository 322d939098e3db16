/* SPDX-License-Identifier: MIT */
/*
 * zpsi/vmm_boot.h - the machine zpsi-vmm gives a guest: guest-physical
 * layout, I/O ports, registers at entry, and the boot-information page.
 *
 * Freestanding (no libc), shared by the VMM and guest code.  This is the
 * zpsi-vmm machine contract, not the PSI ABI (that is abi.h): another VMM
 * implementing the PSI ABI may lay out its machine differently.
 * docs/guest.md is the prose version.
 *
 * At entry, every vCPU is in 64-bit long mode at CPL 0 with:
 *   RIP = the ELF entry point, RSP = the top of its own stack minus 8 (as
 *   if _start had been called, so it may be a C function),
 *   RDI = ZPSI_VMM_BOOT_GPA (struct zpsi_vmm_boot), RSI = the vCPU index,
 *   every other general register 0, RFLAGS = 0x2 (interrupts off),
 *   CR0 = PE|MP|ET|NE|WP|AM|PG, CR4 = PAE|OSFXSR|OSXMMEXCPT, EFER = LME|LMA|NXE,
 *   CR3 = ZPSI_VMM_PML4_GPA, flat 64-bit code (selector 0x08) and data (0x10)
 *   segments, a 64-bit TSS (0x18), no IDT (IDTR limit 0: the guest installs
 *   its own before it can take an exception).
 * Guest RAM is identity-mapped (virtual == physical), read/write/execute,
 * except page 0 and each stack's lowest page (guards), which are not present.
 */
#ifndef ZPSI_VMM_BOOT_H
#define ZPSI_VMM_BOOT_H

#include <stdint.h>

/* ---------------------------------------------------------------- */
/* Guest-physical layout                                            */
/* ---------------------------------------------------------------- */

#define ZPSI_VMM_PAGE_SIZE	0x1000u
#define ZPSI_VMM_GDT_GPA	0x1000u		/* GDT and TSS */
#define ZPSI_VMM_PML4_GPA	0x2000u
#define ZPSI_VMM_PDPT_GPA	0x3000u
#define ZPSI_VMM_PD_GPA		0x4000u		/* 4 pages: one per GiB */
#define ZPSI_VMM_PT_GPA		0x8000u		/* 4 KiB pages of the first 2 MiB */
#define ZPSI_VMM_BOOT_GPA	0x9000u		/* struct zpsi_vmm_boot */
#define ZPSI_VMM_REGION_GPA	0xA000u		/* a free page for the PSI region */
#define ZPSI_VMM_STACKS_GPA	0x10000u	/* vCPU i: [base + i * size, + size) */
#define ZPSI_VMM_STACK_SIZE	0x10000u	/* 64 KiB, lowest page a guard */
#define ZPSI_VMM_MAX_VCPUS	4u
#define ZPSI_VMM_LOAD_MIN	0x100000u	/* ELF segments start at 1 MiB or above */
#define ZPSI_VMM_MEM_MIN_MIB	4u
#define ZPSI_VMM_MEM_MAX_MIB	4096u

static inline uint64_t zpsi_vmm_stack_top(unsigned cpu)
{
	return ZPSI_VMM_STACKS_GPA + (uint64_t)(cpu + 1) * ZPSI_VMM_STACK_SIZE;
}

/* ---------------------------------------------------------------- */
/* I/O ports (all 8-bit immediates: `out %al, $PORT`)                */
/* ---------------------------------------------------------------- */

/* The PSI doorbell is in the CPUID block (abi.h, ZPSI_DOORBELL_PORT_DEFAULT). */
#define ZPSI_VMM_PORT_CONSOLE	0xE9u	/* bytes to the VMM's stdout (Bochs/QEMU debugcon);
					 * `rep outsb` writes a whole string in one exit */
#define ZPSI_VMM_PORT_ALARM	0xE5u	/* OUT 32-bit: wake a halted guest after N ms
					 * (0 cancels); IN: why the last halt ended */
#define ZPSI_VMM_PORT_EXIT	0xF4u	/* OUT 8/16/32-bit: end the VM with this status */
/* Every other port: writes ignored, reads return all ones, as on a PC
 * with nothing decoding the address; the VMM counts them. */

/* Values read from ZPSI_VMM_PORT_ALARM. */
enum zpsi_vmm_wake {
	ZPSI_VMM_WAKE_NONE = 0,		/* has not halted yet */
	ZPSI_VMM_WAKE_ALARM = 1,	/* the alarm it set fired */
	ZPSI_VMM_WAKE_HOST = 2,		/* the host asked (signal or control message) */
};

/* Exit statuses the VMM itself uses; a guest should end with 0..ZPSI_VMM_EXIT_MAX
 * (larger values are clamped to ZPSI_VMM_EXIT_MAX). */
#define ZPSI_VMM_EXIT_MAX	119u
#define ZPSI_VMM_EXIT_GUEST_FAULT 120u	/* guest runtime: unexpected exception */
#define ZPSI_VMM_EXIT_WATCHDOG	124u	/* the VMM's watchdog ended the VM */
#define ZPSI_VMM_EXIT_ERROR	125u	/* the VMM failed (no /dev/kvm, bad file, ...) */
#define ZPSI_VMM_EXIT_CRASH	126u	/* the guest crashed (triple fault, bad state) */

/* ---------------------------------------------------------------- */
/* Boot information, at ZPSI_VMM_BOOT_GPA                            */
/* ---------------------------------------------------------------- */

#define ZPSI_VMM_BOOT_MAGIC	0x544F4F424D4D565Aull	/* "ZVMMBOOT" */
#define ZPSI_VMM_BOOT_VERSION	1u

/* flags */
#define ZPSI_VMM_BOOT_FOREIGN_ID	(1u << 0)	/* --signature: another identity at 0x40000000 */
#define ZPSI_VMM_BOOT_SECCOMP		(1u << 1)	/* the VMM runs under its seccomp filter */

/* How the workload reports (--report). */
enum zpsi_vmm_report {
	ZPSI_VMM_REPORT_HYPERCALL = 0,
	ZPSI_VMM_REPORT_MSR = 1,
	ZPSI_VMM_REPORT_REGION = 2,
};

/* The workload's PSI profile (--profile); ratios in basis points. */
enum zpsi_vmm_profile {
	ZPSI_VMM_PROFILE_CONST = 0,	/* a: ratio */
	ZPSI_VMM_PROFILE_STEP = 1,	/* a for `ms`, then b */
	ZPSI_VMM_PROFILE_RAMP = 2,	/* a to b linearly over `ms`, then b */
	ZPSI_VMM_PROFILE_IDLE = 3,	/* all deferred for `ms`, then C1, C3, C6 */
};

struct zpsi_vmm_boot {
	uint64_t magic;			/* ZPSI_VMM_BOOT_MAGIC */
	uint32_t version;		/* ZPSI_VMM_BOOT_VERSION */
	uint32_t size;			/* sizeof(struct zpsi_vmm_boot) */
	uint64_t mem_bytes;		/* RAM: [0, mem_bytes) */
	uint64_t free_gpa;		/* first page above the loaded image */
	uint64_t region_gpa;		/* a page reserved for the PSI region */
	uint64_t tsc_khz;		/* TSC frequency, 0 if unknown */
	uint32_t vcpus;			/* 1..ZPSI_VMM_MAX_VCPUS */
	uint32_t flags;			/* ZPSI_VMM_BOOT_* */
	uint16_t console_port, alarm_port, exit_port, reserved0;
	uint32_t weight;		/* --weight: the host-configured weight */
	uint32_t report;		/* enum zpsi_vmm_report */
	uint32_t profile;		/* enum zpsi_vmm_profile */
	uint32_t profile_a_bp, profile_b_bp;
	uint32_t profile_ms;
	uint32_t reserved1;
	uint64_t ops;			/* --ops: operations for the workload, 0 = its default */
	uint64_t param[4];		/* payload-specific (bench: iterations) */
	char name[32];			/* --name, NUL-terminated */
	char cmdline[256];		/* --append, NUL-terminated */
};

_Static_assert(sizeof(struct zpsi_vmm_boot) == 424, "boot page layout");
_Static_assert(__builtin_offsetof(struct zpsi_vmm_boot, weight) == 64, "boot weight");
_Static_assert(__builtin_offsetof(struct zpsi_vmm_boot, ops) == 96, "boot ops");
_Static_assert(__builtin_offsetof(struct zpsi_vmm_boot, name) == 136, "boot name");

#endif /* ZPSI_VMM_BOOT_H */
