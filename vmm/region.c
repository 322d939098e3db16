/* SPDX-License-Identifier: MIT */
/*
 * vmm/region.c - the shared PSI region (docs/abi.md section 6) and the
 * balloon (section 7).
 *
 * The region page is a one-page memfd, created at set-up, so zpsid can map
 * exactly that page (SCM_RIGHTS) and nothing else of the guest.  When the
 * guest enables the region at page X, the page's bytes are copied into the
 * memfd and the memfd is mapped MAP_SHARED|MAP_FIXED over X's place in the
 * RAM mapping; KVM follows the change through its MMU notifier, so from
 * then on guest and host share the page.  Disabling or moving the region
 * puts ordinary anonymous memory back, with the page's current bytes.
 */
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "internal.h"

int vmm_region_setup(struct vmm *vm)
{
	struct zpsi_region *r;
	char label[48];
	int ret;

	snprintf(label, sizeof(label), "zpsi-region-%s", vm->name);
	ret = zpsi_region_create_memfd(label, &vm->region_fd);
	if (ret < 0)
		return vmm_errctx_set("region memfd"), ret;
	ret = zpsi_region_map(vm->region_fd, 0, &r);
	if (ret < 0)
		return vmm_errctx_set("region mmap"), ret;
	vm->region_host = r;
	return 0;
}

void vmm_region_teardown(struct vmm *vm)
{
	if (vm->region_host)
		zpsi_region_unmap((struct zpsi_region *)vm->region_host);
	vm->region_host = NULL;
	if (vm->region_fd >= 0)
		close(vm->region_fd);
	vm->region_fd = -1;
}

int vmm_region_fd(struct vmm *vm)
{
	return vm->region_fd >= 0 ? vm->region_fd : -ENOENT;
}

/* Put private memory back at `gpa`, holding the page's current bytes. */
static int vmm_region_unmap_page(struct vmm *vm, uint64_t gpa)
{
	uint8_t *hva = vmm_gpa(vm, gpa);

	if (mmap(hva, ZPSI_REGION_PAGE_SIZE, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED | MAP_NORESERVE, -1, 0) == MAP_FAILED)
		return -errno;
	memcpy(hva, (const void *)vm->region_host, ZPSI_REGION_PAGE_SIZE);
	return 0;
}

uint32_t vmm_aggregate_bp(struct vmm *vm)
{
	if (vm->host_external) {
		uint64_t info = zpsi_region_guest_host_info(vm->region_host);
		int32_t bp = zpsi_bp_from_f64(zpsi_region_guest_host_ratio(vm->region_host));

		if ((info & ZPSI_HOSTINFO_AGG_VALID) && bp >= 0)
			return (uint32_t)bp;
	}
	return zpsi_registry_aggregate_bp(vm->host->reg);
}

void vmm_region_publish_guest(struct vmm *vm)
{
	if (!vm->host_external || vm->region_gpa)
		return;	/* nobody reads it, or the guest writes it itself */
	zpsi_region_guest_publish(vm->region_host, zpsi_f64_from_bp(vm->bank.guest_bp),
				  vm->bank.committed, vm->bank.deferred, vmm_now_ns());
}

static void vmm_region_publish_host(struct vmm *vm)
{
	if (vm->host_external)
		return;	/* zpsid's fields */
	zpsi_region_store_host_ratio(vm->region_host, zpsi_registry_aggregate_bp(vm->host->reg));
	if (vm->mem_target_pages)
		zpsi_region_store_mem_target(vm->region_host, vm->mem_target_pages);
}

int vmm_region_set(struct vmm *vm, uint64_t gpa, bool preserve)
{
	uint8_t *hva;
	int r;

	if (gpa == vm->region_gpa && !preserve)
		return 0;
	if (gpa && (gpa % ZPSI_REGION_PAGE_SIZE || gpa < ZPSI_VMM_PAGE_SIZE ||
		    !vmm_gpa_range_ok(vm, gpa, ZPSI_REGION_PAGE_SIZE)))
		return -EFAULT;
	if (vm->region_gpa) {
		r = vmm_region_unmap_page(vm, vm->region_gpa);
		if (r < 0)
			return r;
		vm->region_gpa = 0;
	}
	if (!gpa)
		return 0;
	hva = vmm_gpa(vm, gpa);
	if (vm->host_external && !preserve) {
		/* zpsid reads this page: keep its fields, and keep the version
		 * moving forward so that zpsid sees "unchanged", not zeroed
		 * counts that went backwards, until the guest publishes. */
		uint64_t version = vm->region_host->version, host_ratio = vm->region_host->host_ratio;
		uint64_t host_info = vm->region_host->host_info;

		memcpy((void *)vm->region_host, hva, ZPSI_REGION_PAGE_SIZE);
		zpsi_region_init(vm->region_host);
		vm->region_host->version = version & ~1ull;
		vm->region_host->host_ratio = host_ratio;
		vm->region_host->host_info = host_info;
	} else {
		memcpy((void *)vm->region_host, hva, ZPSI_REGION_PAGE_SIZE);
		if (!preserve)
			zpsi_region_init(vm->region_host);
	}
	if (mmap(hva, ZPSI_REGION_PAGE_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED,
		 vm->region_fd, 0) == MAP_FAILED) {
		r = -errno;
		/* The old page content is still in `hva`'s private mapping. */
		return r;
	}
	vm->region_gpa = gpa;
	vm->region_kick = true;
	zpsi_region_reader_reset(&vm->reader);
	vmm_region_publish_host(vm);
	return 0;
}

void vmm_region_sync(struct vmm *vm)
{
	struct zpsi_sample s;
	int r;

	if (!vm->region_gpa)
		return;
	r = zpsi_region_read(&vm->reader, vm->region_host, &s);
	if (r == -EINVAL && vm->region_reset_pending) {
		/* smaller counts after the guest's RESET: a new start */
		zpsi_region_reader_reset(&vm->reader);
		r = zpsi_region_read(&vm->reader, vm->region_host, &s);
	}
	if (r == 0)
		vm->region_reset_pending = false;
	/* Version 0: the guest has not published since the host zeroed the
	 * page, so the zeros are not a report. */
	if (r == 0 && s.version != 0) {
		vm->bank.guest_bp = s.ratio_bp;
		vm->bank.committed = s.committed;
		vm->bank.deferred = s.deferred;
		if (vm->caller.id)
			(void)zpsi_registry_update(vm->host->reg, vm->caller.id, s.ratio_bp, s.committed,
						   s.deferred, vmm_now_ns());
	}
	vmm_region_publish_host(vm);
}

int vmm_set_mem_target(struct vmm *vm, uint64_t pages)
{
	vmm_host_lock(vm->host);
	vm->mem_target_pages = pages;
	if (!vm->host_external)	/* else zpsid has written it already */
		zpsi_region_store_mem_target(vm->region_host, pages);
	vmm_host_unlock(vm->host);
	return 0;
}

int vmm_set_weight(struct vmm *vm, uint32_t weight)
{
	int r = 0;

	if (weight < ZPSI_WEIGHT_MIN || weight > ZPSI_WEIGHT_MAX)
		return -EINVAL;
	vmm_host_lock(vm->host);
	vm->cfg.weight = weight;
	if (vm->caller.id)
		r = zpsi_registry_set_weight(vm->host->reg, vm->caller.id, weight);
	vmm_host_unlock(vm->host);
	return r;
}

/* Set or clear the pages' bits; balloon_released follows what changed.  A
 * reclaimed page without a bit was given back before a restore. */
static void balloon_mark(struct vmm *vm, uint64_t first, uint64_t pages, bool given)
{
	uint64_t total = vm->ram_size / ZPSI_VMM_PAGE_SIZE;

	for (uint64_t p = first; p < first + pages; p++) {
		uint64_t *w = &vm->balloon_map[p / 64], bit = 1ull << (p % 64);

		if (given && !(*w & bit)) {
			*w |= bit;
			vm->balloon_released++;
		} else if (!given && (*w & bit)) {
			*w &= ~bit;
			vm->balloon_released--;
		} else if (!given && vm->balloon_base) {
			vm->balloon_base--;
			vm->balloon_released--;
		}
	}
	if (vm->balloon_released > total)	/* base pages given again: never above RAM */
		vm->balloon_released = total;
}

int vmm_balloon_release(struct vmm *vm, uint64_t gpa, uint64_t pages)
{
	uint64_t len;

	if (gpa % ZPSI_VMM_PAGE_SIZE || pages == 0 || pages > vm->ram_size / ZPSI_VMM_PAGE_SIZE)
		return -EFAULT;
	len = pages * ZPSI_VMM_PAGE_SIZE;
	if (!vmm_gpa_range_ok(vm, gpa, len))
		return -EFAULT;
	/* The region page is shared with other processes: never released. */
	if (vm->region_gpa && vm->region_gpa >= gpa && vm->region_gpa - gpa < len)
		return -EINVAL;
	/* Private anonymous memory: the pages go back to the host now and read
	 * as zeros afterwards (docs/abi.md section 7). */
	if (madvise(vmm_gpa(vm, gpa), len, MADV_DONTNEED) < 0)
		return -errno;
	balloon_mark(vm, gpa / ZPSI_VMM_PAGE_SIZE, pages, true);
	return 0;
}

int vmm_balloon_reclaim(struct vmm *vm, uint64_t gpa, uint64_t pages)
{
	if (gpa % ZPSI_VMM_PAGE_SIZE || pages == 0 || pages > vm->ram_size / ZPSI_VMM_PAGE_SIZE ||
	    !vmm_gpa_range_ok(vm, gpa, pages * ZPSI_VMM_PAGE_SIZE))
		return -EFAULT;
	balloon_mark(vm, gpa / ZPSI_VMM_PAGE_SIZE, pages, false);
	return 0;
}
