/* SPDX-License-Identifier: MIT */
/*
 * vmm/host.c - what VMs share and what the VMM reports: the host (the
 * registry of a process's VMs and its lock), the VM's counters, and small
 * accessors for tests and benchmarks.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#include "internal.h"
#include "payloads.h"

/* ---------------------------------------------------------------- */
/* The host                                                          */
/* ---------------------------------------------------------------- */

int vmm_host_new(const struct zpsi_registry_config *cfg, struct vmm_host **out)
{
	struct vmm_host *h = calloc(1, sizeof(*h));
	int r;

	if (!h)
		return -ENOMEM;
	r = zpsi_registry_new(cfg, &h->reg);
	if (r < 0) {
		free(h);
		return r;
	}
	pthread_mutex_init(&h->lock, NULL);
	h->refs = 1;
	*out = h;
	return 0;
}

struct vmm_host *vmm_host_ref(struct vmm_host *h)
{
	pthread_mutex_lock(&h->lock);
	h->refs++;
	pthread_mutex_unlock(&h->lock);
	return h;
}

struct vmm_host *vmm_host_unref(struct vmm_host *h)
{
	unsigned left;

	if (!h)
		return NULL;
	pthread_mutex_lock(&h->lock);
	left = --h->refs;
	pthread_mutex_unlock(&h->lock);
	if (left)
		return NULL;
	zpsi_registry_free(h->reg);
	pthread_mutex_destroy(&h->lock);
	free(h);
	return NULL;
}

void vmm_host_lock(struct vmm_host *h) { pthread_mutex_lock(&h->lock); }
void vmm_host_unlock(struct vmm_host *h) { pthread_mutex_unlock(&h->lock); }

uint32_t vmm_host_aggregate_bp(struct vmm_host *h)
{
	uint32_t a;

	vmm_host_lock(h);
	a = zpsi_registry_aggregate_bp(h->reg);
	vmm_host_unlock(h);
	return a;
}

uint32_t vmm_host_count(struct vmm_host *h)
{
	uint32_t n;

	vmm_host_lock(h);
	n = zpsi_registry_count(h->reg);
	vmm_host_unlock(h);
	return n;
}

void *vmm_ram(struct vmm *vm, uint64_t *size)
{
	*size = vm->ram_size;
	return vm->ram;
}

void vmm_get_stats(struct vmm *vm, struct vmm_stats *out)
{
	struct vmm_stats s = { 0 };
	unsigned char *vec;

	for (unsigned i = 0; i < vm->nvcpus; i++) {
		const struct vmm_vcpu *v = &vm->vcpu[i];

		s.exits += VMM_STAT_GET(v->stats.exits);
		s.io_exits += VMM_STAT_GET(v->stats.io);
		s.msr_exits += VMM_STAT_GET(v->stats.msr);
		s.hlt_exits += VMM_STAT_GET(v->stats.hlt);
		s.mmio_exits += VMM_STAT_GET(v->stats.mmio);
		s.hypercalls += VMM_STAT_GET(v->stats.hypercalls);
		s.hypercall_errors += VMM_STAT_GET(v->stats.hc_errors);
		s.msr_reads += VMM_STAT_GET(v->stats.msr_reads);
		s.msr_writes += VMM_STAT_GET(v->stats.msr_writes);
		s.msr_gp += VMM_STAT_GET(v->stats.msr_gp);
		s.console_bytes += VMM_STAT_GET(v->stats.console_bytes);
		s.stray_ports += VMM_STAT_GET(v->stats.stray_ports);
	}
	vmm_host_lock(vm->host);
	s.region_samples = vm->reader.accepted;
	s.region_rejected = vm->reader.rejected;
	s.region_torn = vm->reader.torn;
	s.balloon_pages_released = vm->balloon_released;
	s.guest_id = vm->caller.id;
	s.power = vm->power;
	vmm_host_unlock(vm->host);
	pthread_mutex_lock(&vm->lock);
	s.wakes = vm->wakes;
	s.parks = vm->parks;
	s.hibernations = vm->hibernations;
	s.seccomp = vm->seccomp_on;
	pthread_mutex_unlock(&vm->lock);
	s.tsc_khz = vm->tsc_khz;
	/* What of guest RAM the host holds right now (C6 and the balloon
	 * give it back). */
	vec = malloc(vm->ram_size / ZPSI_VMM_PAGE_SIZE);
	if (vec && mincore(vm->ram, vm->ram_size, vec) == 0)
		for (uint64_t i = 0; i < vm->ram_size / ZPSI_VMM_PAGE_SIZE; i++)
			s.ram_resident_pages += vec[i] & 1;
	free(vec);
	*out = s;
}

const struct vmm_payload *vmm_payload_find(const char *name)
{
	for (const struct vmm_payload *p = vmm_payloads; p->name; p++)
		if (strcmp(p->name, name) == 0)
			return p;
	return NULL;
}

int vmm_vcpu_cpu_ns(struct vmm *vm, unsigned index, uint64_t *ns)
{
	struct timespec ts;
	clockid_t clk;
	int r;

	if (index >= vm->nvcpus || !vm->vcpu[index].thread_started || vm->joined)
		return -ESRCH;
	r = pthread_getcpuclockid(vm->vcpu[index].thread, &clk);
	if (r)
		return -r;
	if (clock_gettime(clk, &ts) < 0)
		return -errno;
	*ns = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
	return 0;
}

bool vmm_seccomp_available(void)
{
	return vmm_seccomp_supported();
}
