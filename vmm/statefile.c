/* SPDX-License-Identifier: MIT */
/*
 * vmm/statefile.c - storage of a VM's saved state (snapshot.h): a
 * description captured by snapshot.c becomes one migration record (the
 * PSI section, then zpsi-vmm's VM, VCPU and MEMORY sections, vmstate.h)
 * written in order to a sink, and a state file is read back, checked and
 * put into a VM.  No KVM ioctl here and no lock: the caller has paused the
 * VM, so nothing written can change under the writer.
 */
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "snapshot.h"
#include "zpsi/util.h"

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

/* ---------------------------------------------------------------- */
/* Writing                                                           */
/* ---------------------------------------------------------------- */

static int vmm_add_vcpu(struct zpsi_mig_writer *w, unsigned index, const struct vmm_vcpu_state *s)
{
	struct zpsi_vmstate_vcpu vc = { .index = index, .mode = s->mode, .alarm_ms = s->alarm_ms,
					.nmsrs = s->nmsrs };
	uint32_t idx[VMM_MAX_MSRS];
	uint64_t val[VMM_MAX_MSRS];
	void *blob[ZPSI_VMSTATE_BLOBS];

	if (s->nmsrs > VMM_MAX_MSRS)
		return -EINVAL;
	vmm_state_blobs((struct vmm_vcpu_state *)s, blob);
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
	return zpsi_vmstate_add_vcpu(w, &vc);
}

int vmm_snapshot_encode(const struct vmm_snapshot *s, struct zpsi_mig_sink sink, uint64_t *len)
{
	struct zpsi_vmstate_memory mem;
	struct zpsi_mig_writer w;
	int r;

	/* The small sections in memory, then RAM from the guest's pages
	 * straight to the sink: saving a VM costs no memory the size of the
	 * VM. */
	r = zpsi_mig_writer_init(&w);
	if (r < 0)
		return r;
	zpsi_mig_add_psi(&w, &s->psi);
	zpsi_vmstate_add_vm(&w, &s->vm);
	for (unsigned i = 0; i < s->nvcpus; i++) {
		r = vmm_add_vcpu(&w, i, s->vcpu[i]);
		if (r < 0) {
			zpsi_mig_writer_free(&w);
			return vmm_errctx_set("building the migration record"), r;
		}
	}
	r = zpsi_vmstate_memory_iov(s->ram, s->ram_size, &mem);
	if (r < 0) {
		zpsi_mig_writer_free(&w);
		return vmm_errctx_set("building the migration record"), r;
	}
	r = zpsi_mig_finish_sink(&w, sink, ZPSI_MIG_SEC_MEMORY, ZPSI_MIG_SEC_REQUIRED, mem.iov, mem.iovcnt, len);
	zpsi_vmstate_memory_free(&mem);
	return r;
}

/* A file sink that tells the hook (tests) how far it got. */
struct vmm_hooked_sink {
	struct zpsi_mig_sink inner;
	vmm_save_hook_fn hook;
	void *opaque;
	uint64_t written;
};

static int vmm_hooked_write(void *ctx, const void *data, size_t len)
{
	struct vmm_hooked_sink *h = ctx;
	int r = h->inner.write(h->inner.ctx, data, len);

	if (r == 0) {
		h->written += len;
		h->hook(h->opaque, h->written);
	}
	return r;
}

int vmm_statefile_write(int fd, const struct vmm_snapshot *s, vmm_save_hook_fn hook, void *opaque,
			uint64_t *len)
{
	struct zpsi_mig_fd f = { .fd = fd, .positional = true };
	struct vmm_hooked_sink h = { .inner = zpsi_mig_fd_sink(&f), .hook = hook, .opaque = opaque };
	struct zpsi_mig_sink sink = hook ? (struct zpsi_mig_sink){ vmm_hooked_write, &h } : h.inner;
	uint64_t n = 0;
	struct stat st;
	int r;

	/* zpsid passes the fd: it must be a file we can write at offsets */
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode))
		return vmm_errctx_set("state file: not a regular file"), -EBADF;
	r = vmm_snapshot_encode(s, sink, &n);
	if (r == 0 && (ftruncate(fd, (off_t)n) < 0 || fsync(fd) < 0))
		r = -errno;
	if (r < 0)
		return r;
	/* The file is on disk: its page cache need not hold a second copy
	 * of the guest's memory. */
	posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
	*len = n;
	return 0;
}

/* ---------------------------------------------------------------- */
/* Reading a state file back                                          */
/* ---------------------------------------------------------------- */

void vmm_record_free(struct vmm_record *rec)
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
int vmm_statefile_read(int fd, struct vmm_record *rec)
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

int vmm_record_apply(struct vmm *vm, const struct vmm_record *rec)
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

	r = vmm_statefile_read(vmm_state_fd(vm), &rec);
	if (r < 0)
		return r;
	r = vmm_record_apply(vm, &rec);
	vmm_record_free(&rec);
	posix_fadvise(vmm_state_fd(vm), 0, 0, POSIX_FADV_DONTNEED);
	return r;
}

