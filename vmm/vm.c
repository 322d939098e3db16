/* SPDX-License-Identifier: MIT */
/*
 * vmm/vm.c - the VM: the shared host, KVM set-up, guest RAM in one memory
 * slot, the boot page, the guest image, and the VM's life cycle (start,
 * wait, free).  What the machine is (x86-64 long mode, CPUID, MSRs) is
 * the architecture's: arch.h, vmm/x86/.
 */
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <unistd.h>

#include "arch.h"
#include "internal.h"
#include "zpsi/elf.h"
#include "zpsi/util.h"

uint64_t vmm_now_ns(void)
{
	return zpsi_mono_ns();
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
	r = vmm_arch_vm_init(vm);
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

	r = vmm_arch_vm_setup(vm);
	if (r < 0)
		goto fail;
	r = vmm_region_setup(vm);
	if (r < 0)
		goto fail;
	vmm_arch_build_tables(vm);
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
		r = vmm_arch_vcpu_boot(&vm->vcpu[i]);
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
