/* SPDX-License-Identifier: MIT */
/*
 * vmm/snapshot.c - capture and restore a whole VM (snapshot.h): the
 * vCPU states (captured by each vCPU's thread, x86/vcpu_state.c), the PSI
 * bank and registration, into a description that statefile.c stores as a
 * migration record; and a record's state put back, the guest
 * re-registered.  Used by C6 (hibernate to the state file, wake from it),
 * by --state-out (save and stop) and by --restore.
 */
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "snapshot.h"
#include "zpsi/util.h"

/* host->lock held */
static void vmm_psi_capture(struct vmm *vm, struct zpsi_psi_state *p)
{
	struct zpsi_guest_info gi = { 0 };
	uint64_t now = vmm_now_ns();

	memset(p, 0, sizeof(*p));
	vmm_psi_refresh(vm);
	p->guest_id = vm->caller.id;
	p->registered = vm->caller.id != 0;
	if (p->registered && zpsi_registry_get(vm->host->reg, vm->caller.id, &gi) == 0) {
		p->weight = gi.weight;
		p->last_update_age_ns = gi.last_update_ns && gi.last_update_ns <= now ? now - gi.last_update_ns : 0;
	}
	p->power = vm->power;
	p->msr_state = zpsi_state_encode(vm->bank.guest_bp, vm->bank.host_bp, vm->bank.power);
	p->msr_conf = vm->bank.conf;
	p->msr_stats = zpsi_stats_encode(vm->bank.committed, vm->bank.deferred);
	p->msr_ctrl = vm->bank.ctrl;
	p->committed = vm->bank.committed;
	p->deferred = vm->bank.deferred;
	p->region_valid = vm->region_gpa != 0;
	p->region_gpa = vm->region_gpa;
	if (p->region_valid) {
		memcpy(p->region, (const void *)vm->region_host, sizeof(p->region));
		/* The magic is the host's, though the guest can write over it:
		 * a scribbling guest must not make its own save fail. */
		memcpy(p->region, ZPSI_REGION_MAGIC, sizeof(ZPSI_REGION_MAGIC));
	}
	p->captured_ns = zpsi_now_ns(CLOCK_REALTIME);
}

void vmm_snapshot_capture(struct vmm *vm, struct vmm_snapshot *s)
{
	struct zpsi_vmstate_vm *vs = &s->vm;

	memset(s, 0, sizeof(*s));
	vmm_host_lock(vm->host);
	vmm_psi_capture(vm, &s->psi);
	vs->mem_target_pages = vm->mem_target_pages;
	vs->balloon_released = vm->balloon_released;
	vmm_host_unlock(vm->host);

	vs->vcpus = vm->nvcpus;
	vs->mem_bytes = vm->ram_size;
	vs->tsc_khz = vm->tsc_khz;
	vs->features = vm->features;
	vs->cpuid_base = vm->cpuid_base;
	vs->flags = vm->has_signature ? ZPSI_VMSTATE_F_SIGNATURE : 0;
	vs->weight = vm->cfg.weight;
	memcpy(vs->signature, vm->signature, sizeof(vs->signature));
	vs->power = s->psi.power;
	memcpy(vs->name, vm->name, sizeof(vs->name));
	vs->entry = vm->entry;
	s->nvcpus = vm->nvcpus;
	for (unsigned i = 0; i < vm->nvcpus; i++)
		s->vcpu[i] = vm->vcpu[i].state;
	s->ram = vm->ram;
	s->ram_size = vm->ram_size;
}

/*
 * Capture under vm->lock (the vCPUs are stopped), then write and fsync
 * without it: the main loop, the zpsid link and vmm_request() take the
 * lock on every pass, and a C6 writes up to the whole guest.  Nothing the
 * record holds can change meanwhile: the VM stays paused (only this
 * thread, the supervisor, unpauses it) and the vCPU states are only
 * rewritten by a capture or a wake, both this thread's.  The fd is this
 * save's own for the duration: a state file zpsid passes meanwhile (for
 * the wake) goes to vm->ext_state_fd, and is not this one.
 */
void vmm_set_save_hook(struct vmm *vm, vmm_save_hook_fn fn, void *opaque)
{
	pthread_mutex_lock(&vm->lock);
	vm->save_hook = fn;
	vm->save_hook_opaque = opaque;
	pthread_mutex_unlock(&vm->lock);
}

int vmm_snapshot_write(struct vmm *vm)
{
	struct vmm_snapshot snap;
	vmm_save_hook_fn hook = vm->save_hook;
	void *opaque = vm->save_hook_opaque;
	bool ext = vm->ext_state_fd >= 0;
	int fd = ext ? vm->ext_state_fd : vm->state_fd;
	uint64_t len = 0;
	int r;

	vmm_snapshot_capture(vm, &snap);
	if (ext)
		vm->ext_state_fd = -1;
	pthread_mutex_unlock(&vm->lock);

	r = vmm_statefile_write(fd, &snap, hook, opaque, &len);
	if (r < 0)
		vmm_errctx_set(vm->state_path && !ext ? vm->state_path : "state file");
	if (ext)
		close(fd);

	pthread_mutex_lock(&vm->lock);
	if (r < 0)
		return r;
	vm->snapshot_bytes = len;
	return 0;
}

/* The PSI state of the record, re-registered with this host's registry
 * (SPEC component 6, step 4: the guest gets a valid registration here). */
static int vmm_psi_restore(struct vmm *vm, const struct zpsi_psi_state *ps)
{
	const struct zpsi_psi_state p = *ps;	/* decoded and checked by the load */
	int r = 0;

	if (p.region_valid && (!(vm->features & ZPSI_FEAT_REGION) ||
			       p.region_gpa != zpsi_ctrl_gpa(p.msr_ctrl)))
		return vmm_errctx_set("state file: region does not match CTRL"), -EINVAL;

	vmm_host_lock(vm->host);
	vm->bank.guest_bp = zpsi_state_guest_bp(p.msr_state);
	vm->bank.conf = p.msr_conf;
	vm->bank.ctrl = p.msr_ctrl;
	vm->bank.committed = p.committed;
	vm->bank.deferred = p.deferred;
	if (p.registered) {
		struct zpsi_guest_info gi = { 0 };
		uint32_t id;

		r = zpsi_registry_register(vm->host->reg, p.weight ? p.weight : vm->cfg.weight,
					   vmm_now_ns(), &id);
		if (r == 0 && zpsi_registry_get(vm->host->reg, id, &gi) == 0) {
			gi.ratio_bp = vm->bank.guest_bp;
			gi.committed = p.committed;
			gi.deferred = p.deferred;
			gi.power = ZPSI_POWER_C0;	/* restoring wakes the guest */
			r = zpsi_registry_restore(vm->host->reg, id, &gi);
		}
		if (r == 0)
			vm->caller.id = id;
	}
	if (r == 0 && p.region_valid) {
		r = vmm_region_set(vm, p.region_gpa, true);
		vm->caller.region_gpa = p.region_gpa;
	}
	vmm_power_changed(vm, ZPSI_POWER_C0);
	vmm_host_unlock(vm->host);
	if (r < 0)
		vmm_errctx_set("state file: re-registering the guest");
	return r;
}

/* A restore: the VM is made to the record's shape once its VM section is
 * read, and its (fresh, zero) RAM takes the memory section. */
struct vmm_restore {
	const struct vmm_config *cfg;
	struct vmm *vm;
};

static int vmm_restore_ram(void *ctx, const struct zpsi_vmstate_vm *vs, uint8_t **ram, uint64_t *size)
{
	struct vmm_restore *rs = ctx;
	struct vmm_config c = *rs->cfg;
	int r;

	c.vcpus = vs->vcpus;
	c.mem_mib = (uint32_t)(vs->mem_bytes >> 20);
	c.weight = vs->weight;
	c.features = vs->features;
	c.signature = (vs->flags & ZPSI_VMSTATE_F_SIGNATURE) ? vs->signature : NULL;
	c.name = vs->name[0] ? vs->name : rs->cfg->name;
	r = vmm_new(&c, &rs->vm);
	if (r < 0)
		return r;
	if (rs->vm->cpuid_base != vs->cpuid_base || rs->vm->ram_size != vs->mem_bytes)
		return vmm_errctx_set("state file: machine does not match"), -EINVAL;
	*ram = rs->vm->ram;
	*size = rs->vm->ram_size;
	return 0;
}

int vmm_new_from_state(const char *path, const struct vmm_config *cfg, struct vmm **out)
{
	_cleanup_close_ int fd = -1;
	struct vmm_restore rs = { .cfg = cfg };
	struct vmm_record rec;
	struct vmm *vm;
	int r;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return vmm_errctx_set(path), -errno;
	r = vmm_statefile_load(fd, &rec, vmm_restore_ram, &rs);
	vm = rs.vm;
	if (r == 0)
		r = vmm_record_apply_vcpus(vm, &rec);
	if (r == 0)
		r = vmm_psi_restore(vm, &rec.psi);
	vmm_record_free(&rec);
	if (r < 0) {
		vmm_free(vm);
		return r;
	}
	vm->entry = rec.vm.entry;
	vm->mem_target_pages = rec.vm.mem_target_pages;
	vm->balloon_released = vm->balloon_base = rec.vm.balloon_released;
	vm->restored = true;
	/* Restoring is a wake: parked vCPUs run again; the threads apply
	 * their registers before the guest runs (vmm_start waits for it). */
	for (unsigned i = 0; i < vm->nvcpus; i++) {
		struct vmm_vcpu *v = &vm->vcpu[i];

		v->mode = v->state->mode == VMM_VCPU_STOPPED ? VMM_VCPU_STOPPED : VMM_VCPU_RUN;
		v->wake_reason = v->state->mode == VMM_VCPU_PARKED ? ZPSI_VMM_WAKE_HOST : ZPSI_VMM_WAKE_NONE;
		v->alarm_ms = v->state->alarm_ms;
	}
	vm->apply_gen++;
	*out = vm;
	return 0;
}
