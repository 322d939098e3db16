/* SPDX-License-Identifier: MIT */
/*
 * test_region.c - the region page really is shared through its memfd, in
 * both directions, on this KVM.  A workload reports through the region;
 * the test maps the VM's region fd on its own (as zpsid will, after
 * SCM_RIGHTS), sees the guest's seqlocked reports arrive there, writes a
 * memory target into it from this second mapping, and the guest prints
 * that target back.  Then the region is read as zpsid would, with the
 * libzpsi reader.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "vmmtest.h"
#include "zpsi/region.h"

struct lines {
	pthread_mutex_t lock;
	char all[16384];
	size_t len;
};

static void on_line(void *opaque, unsigned cpu, const char *line, size_t len)
{
	struct lines *l = opaque;

	(void)cpu;
	pthread_mutex_lock(&l->lock);
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
	bool r;

	(void)vm;
	pthread_mutex_lock(&l->lock);
	r = strstr(l->all, ((void **)arg)[1]) != NULL;
	pthread_mutex_unlock(&l->lock);
	return r;
}

static bool published(struct vmm *vm, void *arg)
{
	volatile struct zpsi_region *r = arg;

	(void)vm;
	return r->version >= 4 && !(r->version & 1) && r->committed + r->deferred >= 1000;
}

int main(void)
{
	struct lines l = { .lock = PTHREAD_MUTEX_INITIALIZER };
	struct vmm_config cfg = { .report = ZPSI_VMM_REPORT_REGION, .profile_a_bp = 4000, .profile_b_bp = 4000,
				  .ops = 100000000ull, .console = on_line, .console_opaque = &l };
	struct zpsi_region_reader rd;
	struct zpsi_region *mine = NULL;
	struct zpsi_sample s;
	struct vmm *vm = NULL;
	int st, r;

	vt_require_kvm();
	if (vt_vm_new(&cfg, "workload", &vm) < 0 || vmm_start(vm, 0) < 0) {
		VT_CHECK(0, "VM start: %s", vmm_errctx());
		return vt_done("region");
	}
	VT_CHECK(vt_await(vm, has_line, (void *[]){ &l, "progress " }, 30000), "the guest reports");
	r = zpsi_region_map(vmm_region_fd(vm), 0, &mine);
	VT_CHECK(r == 0, "map the region fd: %d", r);
	if (r == 0) {
		/* guest -> host, through a mapping the VMM never touches */
		VT_CHECK(mine->magic == ZPSI_REGION_MAGIC_U64, "magic seen through the fd");
		VT_CHECK(vt_await(vm, published, mine, 30000), "the guest's reports arrive in the fd's page");
		zpsi_region_reader_init(&rd, ZPSI_REGION_DEFAULT_RETRIES);
		r = zpsi_region_read(&rd, mine, &s);
		VT_CHECK(r == 0 || r == -EAGAIN, "read as zpsid would: %d", r);
		if (r == 0)
			VT_CHECK(s.ratio_bp == 4000 && s.committed + s.deferred >= 1000, "sample %u bp, %llu ops",
				 s.ratio_bp, (unsigned long long)(s.committed + s.deferred));
		/* host -> guest, written through this second mapping */
		zpsi_region_store_mem_target(mine, 12345);
		VT_CHECK(vt_await(vm, has_line, (void *[]){ &l, "target=12345" }, 30000),
			 "the guest read the target written through the fd");
	}
	vmm_stop(vm, 0);
	vmm_wait(vm, &st);
	{
		struct vmm_stats stats;

		vmm_get_stats(vm, &stats);
		VT_CHECK(stats.region_samples >= 2, "the VMM sampled the region: %llu",
			 (unsigned long long)stats.region_samples);
	}
	zpsi_region_unmap(mine);
	vmm_free(vm);
	return vt_done("region");
}
