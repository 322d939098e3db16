/* SPDX-License-Identifier: MIT */
/*
 * vmm/snapshot.c - save and restore a whole VM through the libzpsi
 * migration record: the PSI section, then zpsi-vmm's VM, VCPU and MEMORY
 * sections (vmstate.h).  Used by C6 (hibernate to the state file, wake
 * from it), by --state-out (save and stop) and by --restore.
 *
 * A vCPU is captured on its own thread after its pending exit has been
 * completed with immediate_exit, so the saved registers are architectural.
 * MSRs are the ones KVM lists (KVM_GET_MSR_INDEX_LIST); KVM_GET/SET_MSRS
 * stop at the first MSR they refuse, so both loops step past it.
 */
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal.h"
#include "zpsi/migrate.h"
#include "zpsi/util.h"
#include "vmstate.h"

#define VMM_MSR_BATCH 64u

/* struct kvm_msrs ends with a flexible array: room for a batch after it. */
union vmm_msr_batch {
	struct kvm_msrs hdr;
	uint8_t room[sizeof(struct kvm_msrs) + VMM_MSR_BATCH * sizeof(struct kvm_msr_entry)];
};

/* The MSRs worth saving, once per process: KVM's list, bounded. */
static int vmm_msr_list(int kvm_fd, uint32_t *idx, uint32_t *n)
{
	union {
		struct kvm_msr_list hdr;
		uint8_t room[sizeof(struct kvm_msr_list) + VMM_MAX_MSRS * sizeof(uint32_t)];
	} l = { .hdr.nmsrs = VMM_MAX_MSRS };
	int r = vmm_ioctl(kvm_fd, KVM_GET_MSR_INDEX_LIST, &l.hdr);

	if (r < 0)
		return r;
	*n = l.hdr.nmsrs < VMM_MAX_MSRS ? l.hdr.nmsrs : VMM_MAX_MSRS;
	memcpy(idx, l.hdr.indices, *n * sizeof(*idx));
	return 0;
}

/* GET or SET the MSRs in e[0..n), skipping any KVM refuses; returns the
 * count kept in place (refused entries are dropped from e[]). */
static int vmm_msrs_xfer(int fd, unsigned long req, struct kvm_msr_entry *e, uint32_t n, uint32_t *kept)
{
	union vmm_msr_batch b;
	uint32_t in = 0, out = 0;

	while (in < n) {
		uint32_t chunk = n - in < VMM_MSR_BATCH ? n - in : VMM_MSR_BATCH;
		int r;

		memset(&b, 0, sizeof(b));
		b.hdr.nmsrs = chunk;
		memcpy(b.hdr.entries, e + in, chunk * sizeof(*e));
		r = vmm_ioctl_raw(fd, req, &b);
		if (r < 0)
			return vmm_ioctl_failed(req == KVM_GET_MSRS ? "KVM_GET_MSRS" : "KVM_SET_MSRS", r);
		if ((uint32_t)r > chunk)
			return -EPROTO;
		memmove(e + out, b.hdr.entries, (size_t)r * sizeof(*e));
		out += (uint32_t)r;
		in += (uint32_t)r + ((uint32_t)r < chunk);	/* step past the refused one */
	}
	*kept = out;
	return 0;
}

int vmm_vcpu_capture(struct vmm_vcpu *v, struct vmm_vcpu_state *s)
{
	uint32_t idx[VMM_MAX_MSRS], n = 0;
	int r;

	if ((r = vmm_ioctl(v->fd, KVM_GET_REGS, &s->regs)) < 0 ||
	    (r = vmm_ioctl(v->fd, KVM_GET_SREGS, &s->sregs)) < 0 ||
	    (r = vmm_ioctl(v->fd, KVM_GET_XSAVE, &s->xsave)) < 0 ||
	    (r = vmm_ioctl(v->fd, KVM_GET_XCRS, &s->xcrs)) < 0 ||
	    (r = vmm_ioctl(v->fd, KVM_GET_VCPU_EVENTS, &s->events)) < 0 ||
	    (r = vmm_ioctl(v->fd, KVM_GET_MP_STATE, &s->mp_state)) < 0 ||
	    (r = vmm_ioctl(v->fd, KVM_GET_DEBUGREGS, &s->debugregs)) < 0)
		return r;
	r = vmm_msr_list(v->vm->kvm_fd, idx, &n);
	if (r < 0)
		return r;
	for (uint32_t i = 0; i < n; i++)
		s->msrs[i] = (struct kvm_msr_entry){ .index = idx[i] };
	r = vmm_msrs_xfer(v->fd, KVM_GET_MSRS, s->msrs, n, &s->nmsrs);
	if (r < 0)
		return r;
	s->mode = (uint8_t)v->mode;
	s->alarm_ms = v->alarm_ms;
	return 0;
}

int vmm_vcpu_apply(struct vmm_vcpu *v, const struct vmm_vcpu_state *s)
{
	struct kvm_msr_entry msrs[VMM_MAX_MSRS];
	struct kvm_vcpu_events ev = s->events;
	uint32_t kept;
	int r;

	if ((r = vmm_ioctl(v->fd, KVM_SET_SREGS, &s->sregs)) < 0 ||
	    (r = vmm_ioctl(v->fd, KVM_SET_REGS, &s->regs)) < 0 ||
	    (r = vmm_ioctl(v->fd, KVM_SET_XSAVE, &s->xsave)) < 0 ||
	    (r = vmm_ioctl(v->fd, KVM_SET_XCRS, &s->xcrs)) < 0)
		return r;
	if (s->nmsrs > VMM_MAX_MSRS)
		return -EINVAL;
	memcpy(msrs, s->msrs, s->nmsrs * sizeof(msrs[0]));
	r = vmm_msrs_xfer(v->fd, KVM_SET_MSRS, msrs, s->nmsrs, &kept);
	if (r < 0)
		return r;
	if ((r = vmm_ioctl(v->fd, KVM_SET_MP_STATE, &s->mp_state)) < 0 ||
	    (r = vmm_ioctl(v->fd, KVM_SET_VCPU_EVENTS, &ev)) < 0 ||
	    (r = vmm_ioctl(v->fd, KVM_SET_DEBUGREGS, &s->debugregs)) < 0)
		return r;
	/* The sync-regs copy in kvm_run must not overwrite what we set. */
	v->run->kvm_dirty_regs = 0;
	return 0;
}

/* ---------------------------------------------------------------- */
/* The record                                                        */
/* ---------------------------------------------------------------- */

static const uint32_t vmm_blob_sizes[ZPSI_VMSTATE_BLOBS] = {
	sizeof(struct kvm_regs), sizeof(struct kvm_sregs), sizeof(struct kvm_xsave),
	sizeof(struct kvm_xcrs), sizeof(struct kvm_vcpu_events), sizeof(struct kvm_mp_state),
	sizeof(struct kvm_debugregs),
};

static void vmm_state_blobs(struct vmm_vcpu_state *s, void *blob[ZPSI_VMSTATE_BLOBS])
{
	blob[0] = &s->regs;
	blob[1] = &s->sregs;
	blob[2] = &s->xsave;
	blob[3] = &s->xcrs;
	blob[4] = &s->events;
	blob[5] = &s->mp_state;
	blob[6] = &s->debugregs;
}

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

int vmm_snapshot_write(struct vmm *vm)
{
	struct zpsi_mig_writer w;
	struct zpsi_psi_state psi;
	struct zpsi_vmstate_vm vs = { 0 };
	struct zpsi_vmstate_memory mem;
	int fd = vmm_state_fd(vm);
	uint64_t len = 0;
	struct stat st;
	int r;

	/* zpsid passes the fd: it must be a file we can write at offsets */
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode))
		return vmm_errctx_set("state file: not a regular file"), -EBADF;
	r = zpsi_mig_writer_init(&w);
	if (r < 0)
		return r;
	vmm_host_lock(vm->host);
	vmm_psi_capture(vm, &psi);
	vs.mem_target_pages = vm->mem_target_pages;
	vs.balloon_released = vm->balloon_released;
	vmm_host_unlock(vm->host);
	zpsi_mig_add_psi(&w, &psi);

	vs.vcpus = vm->nvcpus;
	vs.mem_bytes = vm->ram_size;
	vs.tsc_khz = vm->tsc_khz;
	vs.features = vm->features;
	vs.cpuid_base = vm->cpuid_base;
	vs.flags = vm->has_signature ? ZPSI_VMSTATE_F_SIGNATURE : 0;
	vs.weight = vm->cfg.weight;
	memcpy(vs.signature, vm->signature, sizeof(vs.signature));
	vs.power = psi.power;
	memcpy(vs.name, vm->name, sizeof(vs.name));
	vs.entry = vm->entry;
	zpsi_vmstate_add_vm(&w, &vs);

	for (unsigned i = 0; i < vm->nvcpus; i++) {
		struct vmm_vcpu_state *s = vm->vcpu[i].state;
		struct zpsi_vmstate_vcpu vc = { .index = i, .mode = s->mode, .alarm_ms = s->alarm_ms,
						.nmsrs = s->nmsrs };
		uint32_t idx[VMM_MAX_MSRS];
		uint64_t val[VMM_MAX_MSRS];
		void *blob[ZPSI_VMSTATE_BLOBS];

		vmm_state_blobs(s, blob);
		for (unsigned b = 0; b < ZPSI_VMSTATE_BLOBS; b++) {
			vc.blob[b] = blob[b];
			vc.blob_size[b] = vmm_blob_sizes[b];
		}
		for (uint32_t m = 0; m < s->nmsrs; m++) {
			idx[m] = s->msrs[m].index;
			val[m] = s->msrs[m].data;
		}
		vc.msr_index = idx;
		vc.msr_value = val;
		zpsi_vmstate_add_vcpu(&w, &vc);
	}

	/* RAM goes from the guest's pages straight to the file: saving a VM
	 * costs no memory the size of the VM (the vCPUs are paused, so the
	 * pages hold still). */
	r = zpsi_vmstate_memory_iov(vm->ram, vm->ram_size, &mem);
	if (r < 0) {
		zpsi_mig_writer_free(&w);
		return vmm_errctx_set("building the migration record"), r;
	}
	r = zpsi_mig_finish_fd(&w, fd, ZPSI_MIG_SEC_MEMORY, ZPSI_MIG_SEC_REQUIRED, mem.iov, mem.iovcnt, &len);
	zpsi_vmstate_memory_free(&mem);
	if (r == 0 && (ftruncate(fd, (off_t)len) < 0 || fsync(fd) < 0))
		r = -errno;
	if (r < 0)
		return vmm_errctx_set(vm->state_path ? vm->state_path : "state file"), r;
	/* The file is on disk: its page cache need not hold a second copy
	 * of the guest's memory. */
	posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
	vm->snapshot_bytes = len;
	return 0;
}

/* ---------------------------------------------------------------- */
/* Reading a state file back                                          */
/* ---------------------------------------------------------------- */

struct vmm_record {
	uint8_t *buf;		/* the file, mapped read-only */
	size_t len;
	struct zpsi_mig_section secs[3 + ZPSI_VMSTATE_MAX_VCPUS];
	size_t nsecs;
};

static void vmm_record_free(struct vmm_record *rec)
{
	if (rec->buf)
		munmap(rec->buf, rec->len);
	rec->buf = NULL;
}

/*
 * Map and validate a whole record from fd (hostile: sizes come from the
 * header only after its CRC has been checked).  Mapped, not read: the file
 * is paged in as the checksum and the decoder walk it, and reading a
 * hibernated VM back costs no second copy of its memory.  The files are
 * zpsi-vmm's own (mode 0600) or the operator's; one truncated while mapped
 * would fault, so the size is checked against the header first.
 */
static int vmm_record_read(int fd, struct vmm_record *rec)
{
	uint8_t hdr[ZPSI_MIG_HEADER_SIZE];
	struct stat st;
	uint64_t total;
	ssize_t n;
	void *p;
	int r;

	n = pread(fd, hdr, sizeof(hdr), 0);
	if (n < 0)
		return -errno;
	r = zpsi_mig_check_header(hdr, (size_t)n, &total);
	if (r < 0)
		return vmm_errctx_set(zpsi_mig_strerror(r)), r;
	/* Our records are never larger than RAM plus a little, nor than the
	 * file. */
	if (total > ZPSI_VMSTATE_MAX_RAM + (64u << 20))
		return vmm_errctx_set("state file too large"), -E2BIG;
	if (fstat(fd, &st) < 0)
		return -errno;
	if (!S_ISREG(st.st_mode))
		return vmm_errctx_set("state file: not a regular file"), -EBADF;
	if ((uint64_t)st.st_size < total)
		return vmm_errctx_set(zpsi_mig_strerror(-ENODATA)), -ENODATA;
	p = mmap(NULL, (size_t)total, PROT_READ, MAP_PRIVATE, fd, 0);
	if (p == MAP_FAILED)
		return vmm_errctx_set("mapping the state file"), -errno;
	rec->buf = p;
	rec->len = (size_t)total;
	r = zpsi_mig_parse(rec->buf, rec->len, zpsi_vmstate_known, rec->secs, ZPSI_ARRAY_SIZE(rec->secs),
			   &rec->nsecs);
	if (r < 0) {
		vmm_record_free(rec);
		return vmm_errctx_set(zpsi_mig_strerror(r)), r;
	}
	/* The checksum read every page; the decoder will read them again,
	 * a stretch at a time, dropping each behind it. */
	madvise(rec->buf, rec->len, MADV_DONTNEED);
	return 0;
}

/* Decoded page data of the mapped record: out of this process's RSS (the
 * page cache keeps it until the kernel needs the memory). */
static void vmm_record_consumed(void *ctx, const uint8_t *data, size_t len)
{
	uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE), start, end;

	(void)ctx;
	start = ((uintptr_t)data + page - 1) & ~(page - 1);
	end = ((uintptr_t)data + len) & ~(page - 1);
	if (end > start)
		madvise((void *)start, end - start, MADV_DONTNEED);
}

/* Memory and vCPU states from a record into a VM of the same shape. */
static int vmm_record_apply(struct vmm *vm, const struct vmm_record *rec)
{
	const struct zpsi_mig_section *mem = zpsi_mig_find(rec->secs, rec->nsecs, ZPSI_MIG_SEC_MEMORY);
	const struct zpsi_mig_section *vsec = zpsi_mig_find(rec->secs, rec->nsecs, ZPSI_MIG_SEC_VM);
	struct zpsi_vmstate_vm vs;
	unsigned seen = 0;
	int r;

	if (!mem)
		return vmm_errctx_set("state file: no memory section"), -EINVAL;
	/* A record of another VM (or another shape) must not be woken into
	 * this one. */
	if (!vsec || zpsi_vmstate_decode_vm(vsec, &vs) < 0)
		return vmm_errctx_set("state file: bad VM section"), -EINVAL;
	if (vs.vcpus != vm->nvcpus || vs.mem_bytes != vm->ram_size || vs.cpuid_base != vm->cpuid_base ||
	    (vs.name[0] && strncmp(vs.name, vm->name, sizeof(vs.name)) != 0))
		return vmm_errctx_set("state file: the record is of another VM"), -EINVAL;
	for (size_t i = 0; i < rec->nsecs; i++) {
		const struct zpsi_mig_section *sec = &rec->secs[i];
		struct zpsi_vmstate_vcpu vc;
		struct vmm_vcpu_state *s;
		void *blob[ZPSI_VMSTATE_BLOBS];

		if (sec->type != ZPSI_MIG_SEC_VCPU)
			continue;
		r = zpsi_vmstate_decode_vcpu(sec, vmm_blob_sizes, &vc);
		if (r < 0 || vc.index >= vm->nvcpus || (seen & (1u << vc.index)))
			return vmm_errctx_set("state file: bad vCPU section"), -EINVAL;
		seen |= 1u << vc.index;
		s = vm->vcpu[vc.index].state;
		if (!s && !(s = vm->vcpu[vc.index].state = calloc(1, sizeof(*s))))
			return -ENOMEM;
		vmm_state_blobs(s, blob);
		for (unsigned b = 0; b < ZPSI_VMSTATE_BLOBS; b++)
			memcpy(blob[b], vc.blob[b], vmm_blob_sizes[b]);
		s->nmsrs = vc.nmsrs;
		for (uint32_t m = 0; m < vc.nmsrs; m++) {
			uint64_t val;
			uint32_t idx;

			zpsi_vmstate_msr(&vc, m, &idx, &val);
			s->msrs[m] = (struct kvm_msr_entry){ .index = idx, .data = val };
		}
		s->mode = (uint8_t)vc.mode;
		s->alarm_ms = vc.alarm_ms;
	}
	if (seen != (1u << vm->nvcpus) - 1)
		return vmm_errctx_set("state file: a vCPU is missing"), -EINVAL;
	/* Zero RAM the cheap way, then write only the pages the file holds. */
	madvise(vm->ram, vm->ram_size, MADV_DONTNEED);
	r = zpsi_vmstate_decode_memory_cb(mem, vm->ram, vm->ram_size, false, vmm_record_consumed, NULL);
	if (r < 0)
		return vmm_errctx_set("state file: bad memory section"), r;
	return 0;
}

int vmm_snapshot_reload(struct vmm *vm)
{
	struct vmm_record rec = { 0 };
	int r;

	r = vmm_record_read(vmm_state_fd(vm), &rec);
	if (r < 0)
		return r;
	r = vmm_record_apply(vm, &rec);
	vmm_record_free(&rec);
	posix_fadvise(vmm_state_fd(vm), 0, 0, POSIX_FADV_DONTNEED);
	return r;
}

/* The PSI state of the record, re-registered with this host's registry
 * (SPEC component 6, step 4: the guest gets a valid registration here). */
static int vmm_psi_restore(struct vmm *vm, const struct vmm_record *rec)
{
	const struct zpsi_mig_section *sec = zpsi_mig_find(rec->secs, rec->nsecs, ZPSI_MIG_SEC_PSI);
	struct zpsi_psi_state p;
	int r;

	if (!sec)
		return vmm_errctx_set("state file: no PSI section"), -EINVAL;
	r = zpsi_mig_decode_psi(sec, &p);
	if (r < 0)
		return vmm_errctx_set("state file: bad PSI section"), r;
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

int vmm_new_from_state(const char *path, const struct vmm_config *cfg, struct vmm **out)
{
	_cleanup_close_ int fd = -1;
	struct vmm_record rec = { 0 };
	const struct zpsi_mig_section *sec;
	struct zpsi_vmstate_vm vs;
	struct vmm_config c = *cfg;
	struct vmm *vm = NULL;
	int r;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return vmm_errctx_set(path), -errno;
	r = vmm_record_read(fd, &rec);
	if (r < 0)
		return r;
	sec = zpsi_mig_find(rec.secs, rec.nsecs, ZPSI_MIG_SEC_VM);
	if (!sec || zpsi_vmstate_decode_vm(sec, &vs) < 0) {
		vmm_record_free(&rec);
		return vmm_errctx_set("state file: bad VM section"), -EINVAL;
	}
	c.vcpus = vs.vcpus;
	c.mem_mib = (uint32_t)(vs.mem_bytes >> 20);
	c.weight = vs.weight;
	c.features = vs.features;
	c.signature = (vs.flags & ZPSI_VMSTATE_F_SIGNATURE) ? vs.signature : NULL;
	c.name = vs.name[0] ? vs.name : cfg->name;
	r = vmm_new(&c, &vm);
	if (r < 0) {
		vmm_record_free(&rec);
		return r;
	}
	if (vm->cpuid_base != vs.cpuid_base || vm->ram_size != vs.mem_bytes) {
		r = -EINVAL;
		vmm_errctx_set("state file: machine does not match");
	}
	if (r == 0)
		r = vmm_record_apply(vm, &rec);
	if (r == 0)
		r = vmm_psi_restore(vm, &rec);
	vmm_record_free(&rec);
	if (r < 0) {
		vmm_free(vm);
		return r;
	}
	vm->entry = vs.entry;
	vm->mem_target_pages = vs.mem_target_pages;
	vm->balloon_released = vm->balloon_base = vs.balloon_released;
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
