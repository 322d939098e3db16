/* SPDX-License-Identifier: MIT */
/*
 * vmm/vm.c - the VM: the shared host, KVM set-up, guest RAM in one memory
 * slot, the long-mode machine (identity map, GDT, TSS), the boot page, the
 * guest image, and the VM's life cycle (start, wait, free).
 */
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <unistd.h>

#include "internal.h"
#include "zpsi/elf.h"
#include "zpsi/util.h"

#define VMM_TSS_GPA	(ZPSI_VMM_GDT_GPA + 0x80)
#define VMM_TSS_LIMIT	103u		/* a 64-bit TSS, no I/O bitmap */
#define VMM_KVM_TSS_ADDR 0xFFFBD000ul	/* KVM's real-mode TSS: outside RAM */

/* Page-table entry bits (Intel SDM vol. 3, 4.5). */
#define PTE_P	(1ull << 0)
#define PTE_RW	(1ull << 1)
#define PTE_PS	(1ull << 7)

#define CR0_PE	(1ull << 0)
#define CR0_MP	(1ull << 1)
#define CR0_ET	(1ull << 4)
#define CR0_NE	(1ull << 5)
#define CR0_WP	(1ull << 16)
#define CR0_AM	(1ull << 18)
#define CR0_PG	(1ull << 31)
#define CR4_PAE	(1ull << 5)
#define CR4_OSFXSR (1ull << 9)
#define CR4_OSXMMEXCPT (1ull << 10)
#define EFER_LME (1ull << 8)
#define EFER_LMA (1ull << 10)
#define EFER_NXE (1ull << 11)

uint64_t vmm_now_ns(void)
{
	return zpsi_mono_ns();
}

/* ---------------------------------------------------------------- */
/* The machine                                                       */
/* ---------------------------------------------------------------- */

/* Identity map of RAM: 2 MiB pages, except 4 KiB pages for the first 2 MiB
 * so that page 0 and the stack guards can be absent. */
static void vmm_build_page_tables(struct vmm *vm)
{
	uint64_t *pml4 = vmm_gpa(vm, ZPSI_VMM_PML4_GPA), *pdpt = vmm_gpa(vm, ZPSI_VMM_PDPT_GPA);
	uint64_t *pd = vmm_gpa(vm, ZPSI_VMM_PD_GPA), *pt = vmm_gpa(vm, ZPSI_VMM_PT_GPA);
	uint64_t large = vm->ram_size >> 21, gibs = (vm->ram_size + (1ull << 30) - 1) >> 30;

	pml4[0] = ZPSI_VMM_PDPT_GPA | PTE_P | PTE_RW;
	for (uint64_t i = 0; i < gibs; i++)
		pdpt[i] = (ZPSI_VMM_PD_GPA + i * ZPSI_VMM_PAGE_SIZE) | PTE_P | PTE_RW;
	pd[0] = ZPSI_VMM_PT_GPA | PTE_P | PTE_RW;
	for (uint64_t i = 1; i < large; i++)
		pd[i] = (i << 21) | PTE_P | PTE_RW | PTE_PS;
	for (uint64_t i = 1; i < 512; i++)
		pt[i] = (i << 12) | PTE_P | PTE_RW;
	for (unsigned c = 0; c < ZPSI_VMM_MAX_VCPUS; c++)
		pt[(ZPSI_VMM_STACKS_GPA + c * ZPSI_VMM_STACK_SIZE) >> 12] = 0;	/* guard */
}

static void vmm_build_gdt(struct vmm *vm)
{
	uint64_t *gdt = vmm_gpa(vm, ZPSI_VMM_GDT_GPA);
	uint64_t tss = VMM_TSS_GPA;

	gdt[0] = 0;
	gdt[1] = 0x00AF9B000000FFFFull;	/* 0x08: 64-bit code, DPL 0 */
	gdt[2] = 0x00CF93000000FFFFull;	/* 0x10: data, DPL 0 */
	/* 0x18: 64-bit TSS (busy), two slots */
	gdt[3] = VMM_TSS_LIMIT | ((tss & 0xFFFFFF) << 16) | (0x8Bull << 40) | (((tss >> 24) & 0xFF) << 56);
	gdt[4] = tss >> 32;
	/* The TSS itself: zero, with the I/O map base past its end. */
	memset(vmm_gpa(vm, VMM_TSS_GPA), 0, VMM_TSS_LIMIT + 1);
	*(uint16_t *)vmm_gpa(vm, VMM_TSS_GPA + 102) = VMM_TSS_LIMIT + 1;
}

static void vmm_segment(struct kvm_segment *s, uint16_t sel, uint8_t type, bool code)
{
	*s = (struct kvm_segment){
		.base = 0, .limit = 0xFFFFFFFF, .selector = sel, .type = type,
		.present = 1, .dpl = 0, .db = !code, .s = 1, .l = code, .g = 1,
	};
}

/* Long mode at CPL 0, as zpsi/vmm_boot.h documents. */
int vmm_vcpu_boot_state(struct vmm_vcpu *v)
{
	struct vmm *vm = v->vm;
	struct kvm_sregs sregs;
	struct kvm_regs regs = { 0 };
	int r;

	r = vmm_ioctl(v->fd, KVM_GET_SREGS, &sregs);
	if (r < 0)
		return r;
	vmm_segment(&sregs.cs, 0x08, 11, true);
	vmm_segment(&sregs.ds, 0x10, 3, false);
	sregs.es = sregs.fs = sregs.gs = sregs.ss = sregs.ds;
	sregs.tr = (struct kvm_segment){ .base = VMM_TSS_GPA, .limit = VMM_TSS_LIMIT, .selector = 0x18,
					 .type = 11, .present = 1 };
	sregs.ldt = (struct kvm_segment){ .type = 2, .unusable = 1 };
	sregs.gdt.base = ZPSI_VMM_GDT_GPA;
	sregs.gdt.limit = 5 * 8 - 1;
	sregs.idt.base = 0;
	sregs.idt.limit = 0;
	sregs.cr0 = CR0_PE | CR0_MP | CR0_ET | CR0_NE | CR0_WP | CR0_AM | CR0_PG;
	sregs.cr3 = ZPSI_VMM_PML4_GPA;
	sregs.cr4 = CR4_PAE | CR4_OSFXSR | CR4_OSXMMEXCPT;
	sregs.efer = EFER_LME | EFER_LMA | EFER_NXE;
	r = vmm_ioctl(v->fd, KVM_SET_SREGS, &sregs);
	if (r < 0)
		return r;
	regs.rip = vm->entry;
	regs.rsp = zpsi_vmm_stack_top(v->index) - 8;	/* as if _start had been called */
	regs.rdi = ZPSI_VMM_BOOT_GPA;
	regs.rsi = v->index;
	regs.rflags = 0x2;
	return vmm_ioctl(v->fd, KVM_SET_REGS, &regs);
}

static void vmm_write_boot_page(struct vmm *vm)
{
	struct zpsi_vmm_boot *b = vmm_gpa(vm, ZPSI_VMM_BOOT_GPA);
	const struct vmm_config *c = &vm->cfg;

	memset(b, 0, sizeof(*b));
	b->magic = ZPSI_VMM_BOOT_MAGIC;
	b->version = ZPSI_VMM_BOOT_VERSION;
	b->size = sizeof(*b);
	b->mem_bytes = vm->ram_size;
	b->free_gpa = vm->image_end;
	b->region_gpa = ZPSI_VMM_REGION_GPA;
	b->tsc_khz = vm->tsc_khz;
	b->vcpus = vm->nvcpus;
	b->flags = (vm->has_signature ? ZPSI_VMM_BOOT_FOREIGN_ID : 0);
	b->console_port = ZPSI_VMM_PORT_CONSOLE;
	b->alarm_port = ZPSI_VMM_PORT_ALARM;
	b->exit_port = ZPSI_VMM_PORT_EXIT;
	b->weight = c->weight;
	b->report = c->report;
	b->profile = c->profile;
	b->profile_a_bp = c->profile_a_bp;
	b->profile_b_bp = c->profile_b_bp;
	b->profile_ms = c->profile_ms;
	b->ops = c->ops;
	memcpy(b->param, c->param, sizeof(b->param));
	snprintf(b->name, sizeof(b->name), "%s", vm->name);
	if (c->cmdline)
		snprintf(b->cmdline, sizeof(b->cmdline), "%s", c->cmdline);
}

static int vmm_check_config(const struct vmm_config *c)
{
	if (c->vcpus > ZPSI_VMM_MAX_VCPUS)
		return vmm_errctx_set("vCPUs: 1 to 4"), -EINVAL;
	if (c->mem_mib && (c->mem_mib < ZPSI_VMM_MEM_MIN_MIB || c->mem_mib > ZPSI_VMM_MEM_MAX_MIB))
		return vmm_errctx_set("memory: 4 to 4096 MiB"), -EINVAL;
	if (c->weight > ZPSI_WEIGHT_MAX)
		return vmm_errctx_set("weight: 1 to 65535"), -EINVAL;
	if (c->features & ~ZPSI_FEAT_KNOWN_MASK)
		return vmm_errctx_set("unknown feature bits"), -EINVAL;
	/* A VMCALL never reaches user space on stock KVM (docs/abi.md 4.1):
	 * advertising it would hang the guest. */
	if (c->features & ZPSI_FEAT_VMCALL)
		return vmm_errctx_set("VMCALL cannot be offered: KVM handles it in the kernel"), -EOPNOTSUPP;
	if (c->signature) {
		size_t n = strlen(c->signature);

		if (n == 0 || n > 12)
			return vmm_errctx_set("signature: 1 to 12 characters"), -EINVAL;
		for (size_t i = 0; i < n; i++)
			if (c->signature[i] < 0x20 || c->signature[i] > 0x7E)
				return vmm_errctx_set("signature: printable ASCII only"), -EINVAL;
	}
	if (c->name && strlen(c->name) >= sizeof(((struct vmm *)0)->name))
		return vmm_errctx_set("name: at most 31 characters"), -ENAMETOOLONG;
	if (c->cmdline && strlen(c->cmdline) >= sizeof(((struct zpsi_vmm_boot *)0)->cmdline))
		return vmm_errctx_set("command line: at most 255 characters"), -E2BIG;
	if (c->report > ZPSI_VMM_REPORT_REGION || c->profile > ZPSI_VMM_PROFILE_IDLE ||
	    c->profile_a_bp > ZPSI_BP_MAX || c->profile_b_bp > ZPSI_BP_MAX)
		return vmm_errctx_set("profile or report out of range"), -EINVAL;
	return 0;
}

static void vmm_kick_handler(int sig)
{
	(void)sig;	/* only interrupts KVM_RUN */
}

static int vmm_open_state_file(struct vmm *vm)
{
	int fd;

	if (vm->state_path) {
		fd = open(vm->state_path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
		if (fd < 0)
			return vmm_errctx_set(vm->state_path), -errno;
	} else {
		/* C6 needs somewhere on disk; nobody else needs to find it. */
		fd = open("/var/tmp", O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
		if (fd < 0)
			fd = open("/tmp", O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
		if (fd < 0)
			return vmm_errctx_set("state file in /var/tmp"), -errno;
	}
	vm->state_fd = fd;
	return 0;
}

int vmm_new(const struct vmm_config *cfg, struct vmm **out)
{
	struct sigaction sa = { .sa_handler = vmm_kick_handler, .sa_flags = SA_RESTART };
	struct kvm_userspace_memory_region slot;
	pthread_condattr_t ca;
	struct vmm *vm;
	int r;

	r = vmm_check_config(cfg);
	if (r < 0)
		return r;
	vm = calloc(1, sizeof(*vm));
	if (!vm)
		return -ENOMEM;
	vm->cfg = *cfg;
	vm->kvm_fd = vm->vm_fd = vm->region_fd = vm->done_fd = vm->state_fd = vm->ext_state_fd = -1;
	for (unsigned i = 0; i < ZPSI_VMM_MAX_VCPUS; i++)
		vm->vcpu[i].fd = -1;
	pthread_mutex_init(&vm->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&vm->cond, &ca);
	pthread_condattr_destroy(&ca);

	snprintf(vm->name, sizeof(vm->name), "%s", cfg->name ? cfg->name : "zpsi");
	if (cfg->signature) {
		snprintf(vm->signature, sizeof(vm->signature), "%s", cfg->signature);
		vm->has_signature = true;
	}
	vm->cfg.name = vm->cfg.signature = vm->cfg.cmdline = NULL;
	vm->cfg.state_path = NULL;
	if (!vm->cfg.vcpus)
		vm->cfg.vcpus = 1;
	if (!vm->cfg.mem_mib)
		vm->cfg.mem_mib = 32;
	if (!vm->cfg.weight)
		vm->cfg.weight = 1;
	if (!vm->cfg.features)
		vm->cfg.features = ZPSI_FEAT_MSR | ZPSI_FEAT_DOORBELL | ZPSI_FEAT_REGION | ZPSI_FEAT_BALLOON;
	vm->features = vm->cfg.features;
	vm->nvcpus = vm->cfg.vcpus;
	vm->ram_size = ((uint64_t)vm->cfg.mem_mib + 1) / 2 * 2 << 20;
	vm->image_end = ZPSI_VMM_LOAD_MIN;
	if (cfg->state_path && !(vm->state_path = strdup(cfg->state_path))) {
		r = -ENOMEM;
		goto fail;
	}
	if (cfg->host) {
		vm->host = vmm_host_ref(cfg->host);
	} else {
		r = vmm_host_new(cfg->registry, &vm->host);
		if (r < 0)
			goto fail;
	}
	sigaction(VMM_KICK_SIGNAL, &sa, NULL);

	r = vmm_kvm_open(&vm->kvm_fd);
	if (r < 0)
		goto fail;
	r = vm->vm_fd = vmm_ioctl_val(vm->kvm_fd, KVM_CREATE_VM, 0);
	if (r < 0) {
		vmm_errctx_set("/dev/kvm is not usable: KVM_CREATE_VM");
		goto fail;
	}
	r = vmm_ioctl_val(vm->kvm_fd, KVM_GET_VCPU_MMAP_SIZE, 0);
	if (r < 0)
		goto fail;
	vm->run_size = (size_t)r;
	if (vm->run_size < sizeof(struct kvm_run)) {
		r = -EPROTO;
		vmm_errctx_set("KVM_GET_VCPU_MMAP_SIZE smaller than struct kvm_run");
		goto fail;
	}
	r = vmm_ioctl_val(vm->vm_fd, KVM_SET_TSS_ADDR, VMM_KVM_TSS_ADDR);
	if (r < 0)
		goto fail;

	vm->ram = mmap(NULL, vm->ram_size, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (vm->ram == MAP_FAILED) {
		vm->ram = NULL;
		r = -errno;
		vmm_errctx_set("mmap guest RAM");
		goto fail;
	}
	/* 4 GiB of RAM: 128 KiB of map */
	vm->balloon_map = calloc((vm->ram_size / ZPSI_VMM_PAGE_SIZE + 63) / 64, sizeof(uint64_t));
	if (!vm->balloon_map) {
		r = -ENOMEM;
		vmm_errctx_set("balloon page map");
		goto fail;
	}
	slot = (struct kvm_userspace_memory_region){
		.slot = 0, .guest_phys_addr = 0, .memory_size = vm->ram_size,
		.userspace_addr = (uint64_t)(uintptr_t)vm->ram,
	};
	r = vmm_ioctl(vm->vm_fd, KVM_SET_USER_MEMORY_REGION, &slot);
	if (r < 0)
		goto fail;

	r = vmm_msr_setup(vm);
	if (r < 0)
		goto fail;
	r = vmm_cpuid_setup(vm);
	if (r < 0)
		goto fail;
	r = vmm_region_setup(vm);
	if (r < 0)
		goto fail;
	vmm_build_page_tables(vm);
	vmm_build_gdt(vm);
	for (unsigned i = 0; i < vm->nvcpus; i++) {
		r = vmm_vcpu_create(vm, i);
		if (r < 0)
			goto fail;
	}
	vmm_write_boot_page(vm);

	zpsi_msr_bank_init(&vm->bank, vm->ram_size, vm->features & ZPSI_FEAT_REGION);
	vm->bank.allowed = vm->features & ZPSI_FEAT_MSR;
	vm->caller = (struct zpsi_caller){
		.region_supported = vm->features & ZPSI_FEAT_REGION,
		.ram_size = vm->ram_size,
		.balloon_supported = vm->features & ZPSI_FEAT_BALLOON,
	};
	zpsi_region_reader_init(&vm->reader, ZPSI_REGION_DEFAULT_RETRIES);

	vm->done_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (vm->done_fd < 0) {
		r = -errno;
		vmm_errctx_set("eventfd");
		goto fail;
	}
	r = vmm_open_state_file(vm);
	if (r < 0)
		goto fail;
	*out = vm;
	return 0;
fail:
	vmm_free(vm);
	return r;
}

int vmm_load_elf(struct vmm *vm, const void *image, size_t len)
{
	struct zpsi_elf_image img;
	const char *why = NULL;
	int r;

	if (vmm_started(vm))
		return -EBUSY;
	r = zpsi_elf_parse(image, len, ZPSI_VMM_LOAD_MIN, vm->ram_size, &img, &why);
	if (r < 0) {
		vmm_errctx_set(why ? why : "ELF");
		return r;
	}
	r = zpsi_elf_load(&img, image, len, vm->ram, vm->ram_size);
	if (r < 0)
		return vmm_errctx_set("ELF load"), r;
	vm->entry = img.entry;
	vm->image_end = (img.hi + ZPSI_VMM_PAGE_SIZE - 1) & ~(uint64_t)(ZPSI_VMM_PAGE_SIZE - 1);
	vmm_write_boot_page(vm);
	for (unsigned i = 0; i < vm->nvcpus; i++) {
		r = vmm_vcpu_boot_state(&vm->vcpu[i]);
		if (r < 0)
			return r;
	}
	return 0;
}

int vmm_start(struct vmm *vm, unsigned flags)
{
	int r = 0;

	pthread_mutex_lock(&vm->lock);
	if (vmm_started(vm) || (!vm->entry && !vm->restored)) {
		pthread_mutex_unlock(&vm->lock);
		return vmm_errctx_set("no guest loaded"), -EINVAL;
	}
	/* Threads first (they wait for `started`), then the filter with
	 * TSYNC covers all of them, then the guest runs. */
	for (unsigned i = 0; i < vm->nvcpus && r == 0; i++) {
		r = -pthread_create(&vm->vcpu[i].thread, NULL, vmm_vcpu_thread, &vm->vcpu[i]);
		vm->vcpu[i].thread_started = r == 0;
	}
	if (r == 0) {
		r = -pthread_create(&vm->supervisor, NULL, vmm_supervisor_thread, vm);
		vm->supervisor_started = r == 0;
	}
	/* Threads make system calls of their own as they start (rseq,
	 * set_robust_list): let them reach their start routines before the
	 * filter closes. */
	while (r == 0 && vm->threads_alive < vm->nvcpus + 1)
		pthread_cond_wait(&vm->cond, &vm->lock);
	/* A restored VM: each vCPU thread loads its registers first. */
	while (r == 0 && vm->restored) {
		bool all = true;

		for (unsigned i = 0; i < vm->nvcpus; i++) {
			all &= vm->vcpu[i].apply_gen == vm->apply_gen;
			if (vm->vcpu[i].apply_gen == vm->apply_gen && vm->vcpu[i].op_error < 0) {
				r = vm->vcpu[i].op_error;
				vmm_errctx_set("restoring vCPU registers");
			}
		}
		if (all || r < 0)
			break;
		pthread_cond_wait(&vm->cond, &vm->lock);
	}
	if (r == 0 && (flags & VMM_START_SECCOMP) && vmm_seccomp_supported()) {
		r = vmm_seccomp_apply(flags);
		vm->seccomp_on = r == 0;
	}
	if (r < 0) {
		vmm_end_locked(vm, ZPSI_VMM_EXIT_ERROR);
	} else {
		if (vm->cfg.timeout_ms)
			vm->deadline_ns = vmm_now_ns() + vm->cfg.timeout_ms * 1000000ull;
	}
	vmm_run_to(vm, VMM_EV_START);	/* refused if the start failed: ENDED */
	pthread_cond_broadcast(&vm->cond);
	pthread_mutex_unlock(&vm->lock);
	return r;
}

int vmm_done_fd(struct vmm *vm)
{
	return vm->done_fd;
}

static void vmm_join(struct vmm *vm)
{
	if (vm->joined)
		return;
	for (unsigned i = 0; i < vm->nvcpus; i++)
		if (vm->vcpu[i].thread_started)
			pthread_join(vm->vcpu[i].thread, NULL);
	if (vm->supervisor_started)
		pthread_join(vm->supervisor, NULL);
	vm->joined = true;
}

int vmm_wait(struct vmm *vm, int *status)
{
	pthread_mutex_lock(&vm->lock);
	if (!vmm_started(vm)) {
		pthread_mutex_unlock(&vm->lock);
		return -EINVAL;
	}
	while (!vmm_ended(vm))
		pthread_cond_wait(&vm->cond, &vm->lock);
	pthread_mutex_unlock(&vm->lock);
	vmm_join(vm);
	for (unsigned i = 0; i < vm->nvcpus; i++)
		vmm_console_flush(&vm->vcpu[i]);
	*status = vm->exit_status;
	return 0;
}

struct vmm *vmm_free(struct vmm *vm)
{
	if (!vm)
		return NULL;
	if (vmm_started(vm)) {
		pthread_mutex_lock(&vm->lock);
		vmm_end_locked(vm, ZPSI_VMM_EXIT_ERROR);
		pthread_mutex_unlock(&vm->lock);
		vmm_join(vm);
	}
	for (unsigned i = 0; i < ZPSI_VMM_MAX_VCPUS; i++)
		vmm_vcpu_destroy(&vm->vcpu[i]);
	if (vm->caller.id) {
		vmm_host_lock(vm->host);
		zpsi_registry_unregister(vm->host->reg, vm->caller.id);
		vmm_host_unlock(vm->host);
	}
	vmm_region_teardown(vm);
	if (vm->ram)
		munmap(vm->ram, vm->ram_size);
	free(vm->balloon_map);
	free(vm->cpuid);
	free(vm->state_path);
	zpsi_closep(&vm->state_fd);
	zpsi_closep(&vm->ext_state_fd);
	zpsi_closep(&vm->done_fd);
	zpsi_closep(&vm->vm_fd);
	zpsi_closep(&vm->kvm_fd);
	vmm_host_unref(vm->host);
	pthread_cond_destroy(&vm->cond);
	pthread_mutex_destroy(&vm->lock);
	free(vm);
	return NULL;
}
