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
#include "zpsi/le.h"
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
	for (unsigned i = 0; i < ZPSI_VMSTATE_MAX_VCPUS; i++) {
		free(rec->vcpu[i]);
		rec->vcpu[i] = NULL;
	}
}

/* The largest VCPU section: every blob and ZPSI_VMSTATE_MAX_MSRS MSRs. */
static uint64_t vmm_vcpu_section_max(void)
{
	uint64_t n = ZPSI_VMSTATE_VCPU_HDR + (uint64_t)ZPSI_VMSTATE_MAX_MSRS * 16;

	for (unsigned b = 0; b < ZPSI_VMSTATE_BLOBS; b++)
		n += zpsi_pad8(vmm_blob_sizes[b]);
	return n;
}

/* A small section's data, read whole into buf (len already bounded). */
static int vmm_section_data(struct zpsi_mig_stream_reader *in, struct zpsi_mig_section *sec, void *buf)
{
	int r = zpsi_mig_stream_read(in, buf, (size_t)sec->len);

	if (r == 0)
		sec->data = buf;
	return r;
}

static int vmm_stage_vcpu(struct vmm_record *rec, struct zpsi_mig_stream_reader *in, struct zpsi_mig_section *sec)
{
	_cleanup_free_ uint8_t *buf = NULL;
	struct zpsi_vmstate_vcpu vc;
	struct vmm_vcpu_state *s;
	void *blob[ZPSI_VMSTATE_BLOBS];
	int r;

	if (sec->len < ZPSI_VMSTATE_VCPU_HDR || sec->len > vmm_vcpu_section_max())
		return vmm_errctx_set("state file: bad vCPU section"), -EINVAL;
	buf = malloc((size_t)sec->len);
	if (!buf)
		return -ENOMEM;
	r = vmm_section_data(in, sec, buf);
	if (r < 0)
		return r;
	r = zpsi_vmstate_decode_vcpu(sec, vmm_blob_sizes, &vc);
	if (r < 0 || (rec->vcpus_seen & (1u << vc.index)))
		return vmm_errctx_set("state file: bad vCPU section"), -EINVAL;
	s = calloc(1, sizeof(*s));
	if (!s)
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
	rec->vcpu[vc.index] = s;
	rec->vcpus_seen |= 1u << vc.index;
	return 0;
}

/* One section as it arrives; the first of each type counts (as
 * zpsi_mig_find would pick it), VCPU ones once per index. */
static int vmm_record_section(struct vmm_record *rec, struct zpsi_mig_stream_reader *in,
			      struct zpsi_mig_section *sec, vmm_record_ram_fn ram_fn, void *ctx)
{
	uint8_t small[ZPSI_VMSTATE_VM_SIZE > ZPSI_MIG_PSI_SIZE ? ZPSI_VMSTATE_VM_SIZE : ZPSI_MIG_PSI_SIZE];
	uint8_t *ram = NULL;
	uint64_t size = 0;
	int r;

	switch (sec->type) {
	case ZPSI_MIG_SEC_PSI:
		/* zpsi_mig_decode_psi() refuses any other length */
		r = sec->len == ZPSI_MIG_PSI_SIZE ? vmm_section_data(in, sec, small) : -EINVAL;
		if (r == 0)
			r = zpsi_mig_decode_psi(sec, &rec->psi);
		if (r < 0)
			return vmm_errctx_set("state file: bad PSI section"), r;
		rec->has_psi = true;
		return 0;
	case ZPSI_MIG_SEC_VM:
		if (rec->has_vm)
			return 0;
		r = sec->len == ZPSI_VMSTATE_VM_SIZE ? vmm_section_data(in, sec, small) : -EINVAL;
		if (r == 0)
			r = zpsi_vmstate_decode_vm(sec, &rec->vm);
		if (r < 0)
			return vmm_errctx_set("state file: bad VM section"), -EINVAL;
		rec->has_vm = true;
		return 0;
	case ZPSI_MIG_SEC_VCPU:
		return vmm_stage_vcpu(rec, in, sec);
	case ZPSI_MIG_SEC_MEMORY:
		if (rec->has_memory)
			return 0;
		/* zpsi-vmm writes the VM section first: the RAM it names is
		 * where the memory goes. */
		if (!rec->has_vm)
			return vmm_errctx_set("state file: bad VM section"), -EINVAL;
		r = ram_fn(ctx, &rec->vm, &ram, &size);
		if (r < 0)
			return r;
		r = zpsi_vmstate_memory_read(in, sec->len, ram, size);
		if (r < 0)
			return vmm_errctx_set("state file: bad memory section"), r;
		rec->has_memory = true;
		return 0;
	default:
		return 0;	/* known to zpsi_vmstate_known() but not ours: skipped */
	}
}

/* After the whole record has been read and verified: all of it there? */
static int vmm_record_complete(const struct vmm_record *rec)
{
	uint32_t all;

	if (!rec->has_memory)
		return vmm_errctx_set("state file: no memory section"), -EINVAL;
	all = (1u << rec->vm.vcpus) - 1;	/* vcpus is 1..4 (decoded) */
	if (rec->vcpus_seen & ~all)
		return vmm_errctx_set("state file: bad vCPU section"), -EINVAL;
	if (rec->vcpus_seen != all)
		return vmm_errctx_set("state file: a vCPU is missing"), -EINVAL;
	if (!rec->has_psi)
		return vmm_errctx_set("state file: no PSI section"), -EINVAL;
	return 0;
}

/*
 * Read a state file in order with the stream reader, from offset 0, in
 * bounded chunks: guest RAM straight into the VM's memory, nothing of the
 * size of the guest held on the side.  The record is hostile (sizes come
 * from the header only after its CRC has been checked); nothing is
 * vouched for until the trailer has been read, so the vCPU states and the
 * PSI state stay staged in rec until then, and a caller that sees an
 * error drops whatever went into RAM.
 */
int vmm_statefile_load(int fd, struct vmm_record *rec, vmm_record_ram_fn ram_fn, void *ctx)
{
	struct zpsi_mig_fd f = { .fd = fd, .positional = true };
	struct zpsi_mig_stream_reader in;
	struct zpsi_mig_section sec;
	uint8_t hdr[ZPSI_MIG_HEADER_SIZE];
	struct stat st;
	uint64_t total;
	ssize_t n;
	int r;

	memset(rec, 0, sizeof(*rec));
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

	r = zpsi_mig_stream_open(&in, zpsi_mig_fd_source(&f), zpsi_vmstate_known);
	while (r == 0) {
		bool stream_failed;
		int e;

		r = zpsi_mig_stream_next(&in, &sec);
		if (r <= 0)
			break;	/* 0: the end, verified */
		e = vmm_record_section(rec, &in, &sec, ram_fn, ctx);
		if (e == 0) {
			r = 0;
			continue;
		}
		/* A damaged record is reported as damaged, before what the
		 * damage happened to look like to the section's decoder. */
		stream_failed = in.error != 0;
		r = zpsi_mig_stream_fail(&in, e);
		if (stream_failed || r != e)
			vmm_errctx_set(zpsi_mig_strerror(r));
		goto out;
	}
	if (r < 0)
		vmm_errctx_set(zpsi_mig_strerror(r));
out:
	if (r == 0)
		r = vmm_record_complete(rec);
	/* The file's pages were read once; the page cache need not keep
	 * them. */
	posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
	if (r < 0)
		vmm_record_free(rec);
	return r;
}

int vmm_record_apply_vcpus(struct vmm *vm, struct vmm_record *rec)
{
	for (unsigned i = 0; i < vm->nvcpus; i++) {
		if (!rec->vcpu[i])
			return -EINVAL;
		free(vm->vcpu[i].state);
		vm->vcpu[i].state = rec->vcpu[i];
		rec->vcpu[i] = NULL;
	}
	return 0;
}

/* A wake: the record must be this VM's, of its shape. */
static int vmm_reload_ram(void *ctx, const struct zpsi_vmstate_vm *vs, uint8_t **ram, uint64_t *size)
{
	struct vmm *vm = ctx;

	/* A record of another VM (or another shape) must not be woken into
	 * this one. */
	if (vs->vcpus != vm->nvcpus || vs->mem_bytes != vm->ram_size || vs->cpuid_base != vm->cpuid_base ||
	    (vs->name[0] && strncmp(vs->name, vm->name, sizeof(vs->name)) != 0))
		return vmm_errctx_set("state file: the record is of another VM"), -EINVAL;
	/* Zero RAM the cheap way, then write only the pages the file holds. */
	madvise(vm->ram, vm->ram_size, MADV_DONTNEED);
	*ram = vm->ram;
	*size = vm->ram_size;
	return 0;
}

int vmm_snapshot_reload(struct vmm *vm)
{
	struct vmm_record rec;
	int r;

	r = vmm_statefile_load(vmm_state_fd(vm), &rec, vmm_reload_ram, vm);
	if (r == 0)
		r = vmm_record_apply_vcpus(vm, &rec);
	vmm_record_free(&rec);
	return r;
}
