/* SPDX-License-Identifier: MIT */
/*
 * vmm/vmstate.c - encode and decode zpsi-vmm's migration sections (layouts
 * in vmstate.h).  Decoding reads untrusted bytes with explicit
 * little-endian loads after checking every length.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "zpsi/abi.h"
#include "zpsi/le.h"
#include "vmstate.h"

bool zpsi_vmstate_known(uint32_t type)
{
	return type == ZPSI_MIG_SEC_PSI || type == ZPSI_MIG_SEC_VM || type == ZPSI_MIG_SEC_VCPU ||
	       type == ZPSI_MIG_SEC_MEMORY;
}

/* ---------------------------------------------------------------- */
/* VM                                                                */
/* ---------------------------------------------------------------- */

static bool vmstate_ram_ok(uint64_t bytes)
{
	return bytes >= (4ull << 20) && bytes <= ZPSI_VMSTATE_MAX_RAM && bytes % (2ull << 20) == 0;
}

int zpsi_vmstate_add_vm(struct zpsi_mig_writer *w, const struct zpsi_vmstate_vm *vm)
{
	uint8_t b[ZPSI_VMSTATE_VM_SIZE] = { 0 };

	zpsi_put_le32(b + 0, ZPSI_VMSTATE_LAYOUT);
	zpsi_put_le32(b + 4, vm->vcpus);
	zpsi_put_le64(b + 8, vm->mem_bytes);
	zpsi_put_le64(b + 16, vm->tsc_khz);
	zpsi_put_le32(b + 24, vm->features);
	zpsi_put_le32(b + 28, vm->cpuid_base);
	zpsi_put_le32(b + 32, vm->flags);
	zpsi_put_le32(b + 36, vm->weight);
	memcpy(b + 40, vm->signature, strnlen(vm->signature, 12));
	b[52] = vm->power;
	memcpy(b + 56, vm->name, strnlen(vm->name, 31));
	zpsi_put_le64(b + 88, vm->entry);
	zpsi_put_le64(b + 96, vm->mem_target_pages);
	zpsi_put_le64(b + 104, vm->balloon_released);
	return zpsi_mig_add_section(w, ZPSI_MIG_SEC_VM, ZPSI_MIG_SEC_REQUIRED, b, sizeof(b));
}

int zpsi_vmstate_decode_vm(const struct zpsi_mig_section *sec, struct zpsi_vmstate_vm *out)
{
	struct zpsi_vmstate_vm vm = { 0 };
	struct zpsi_le_cursor c;
	const uint8_t *sig, *rsvd0, *name, *rsvd1;
	uint32_t layout;

	if (sec->type != ZPSI_MIG_SEC_VM || sec->len != ZPSI_VMSTATE_VM_SIZE || !sec->data)
		return -EINVAL;
	/* The fields in order (layout in vmstate.h). */
	c = zpsi_le_cursor(sec->data, (size_t)sec->len);
	layout = zpsi_le_u32(&c);
	vm.vcpus = zpsi_le_u32(&c);
	vm.mem_bytes = zpsi_le_u64(&c);
	vm.tsc_khz = zpsi_le_u64(&c);
	vm.features = zpsi_le_u32(&c);
	vm.cpuid_base = zpsi_le_u32(&c);
	vm.flags = zpsi_le_u32(&c);
	vm.weight = zpsi_le_u32(&c);
	sig = zpsi_le_take(&c, 12);
	vm.power = zpsi_le_u8(&c);
	rsvd0 = zpsi_le_take(&c, 3);
	name = zpsi_le_take(&c, 32);
	vm.entry = zpsi_le_u64(&c);
	vm.mem_target_pages = zpsi_le_u64(&c);
	vm.balloon_released = zpsi_le_u64(&c);
	rsvd1 = zpsi_le_take(&c, 16);
	if (c.bad || zpsi_le_left(&c) != 0)
		return -EINVAL;	/* cannot happen with the length checked: the layout adds up */
	if (layout != ZPSI_VMSTATE_LAYOUT || !zpsi_all_zero(rsvd0, 3) || !zpsi_all_zero(rsvd1, 16))
		return -EINVAL;
	if (vm.vcpus < 1 || vm.vcpus > ZPSI_VMSTATE_MAX_VCPUS || !vmstate_ram_ok(vm.mem_bytes) ||
	    (vm.features & ~ZPSI_FEAT_KNOWN_MASK) || (vm.flags & ~ZPSI_VMSTATE_F_SIGNATURE) ||
	    vm.weight < ZPSI_WEIGHT_MIN || vm.weight > ZPSI_WEIGHT_MAX || !zpsi_power_valid(vm.power) ||
	    vm.entry >= vm.mem_bytes || vm.balloon_released > vm.mem_bytes / ZPSI_VMSTATE_PAGE)
		return -EINVAL;
	if (vm.cpuid_base < ZPSI_CPUID_HV_FIRST || vm.cpuid_base > ZPSI_CPUID_HV_LAST ||
	    vm.cpuid_base % ZPSI_CPUID_HV_STEP)
		return -EINVAL;
	/* Signature: printable, NUL-padded, present iff the flag says so. */
	for (unsigned i = 0; i < 12; i++) {
		uint8_t ch = sig[i];

		if (ch == 0) {
			if (!zpsi_all_zero(sig + i, 12 - i))
				return -EINVAL;
			break;
		}
		if (ch < 0x20 || ch > 0x7E)
			return -EINVAL;
		vm.signature[i] = (char)ch;
	}
	if (!!vm.signature[0] != !!(vm.flags & ZPSI_VMSTATE_F_SIGNATURE))
		return -EINVAL;
	/* Name: NUL-terminated within its 32 bytes, printable. */
	if (memchr(name, 0, 32) == NULL)
		return -EINVAL;
	for (unsigned i = 0; i < 32 && name[i]; i++) {
		if (name[i] < 0x20 || name[i] > 0x7E)
			return -EINVAL;
		vm.name[i] = (char)name[i];
	}
	*out = vm;
	return 0;
}

/* ---------------------------------------------------------------- */
/* vCPU                                                              */
/* ---------------------------------------------------------------- */

int zpsi_vmstate_add_vcpu(struct zpsi_mig_writer *w, const struct zpsi_vmstate_vcpu *v)
{
	size_t len = ZPSI_VMSTATE_VCPU_HDR, off;
	uint8_t *b;
	int r;

	if (v->nmsrs > ZPSI_VMSTATE_MAX_MSRS)
		return -E2BIG;
	for (unsigned i = 0; i < ZPSI_VMSTATE_BLOBS; i++)
		len += zpsi_pad8(v->blob_size[i]);
	len += (size_t)v->nmsrs * 16;
	b = calloc(1, len);
	if (!b)
		return -ENOMEM;
	zpsi_put_le32(b + 0, ZPSI_VMSTATE_LAYOUT);
	zpsi_put_le32(b + 4, v->index);
	zpsi_put_le32(b + 8, v->mode);
	zpsi_put_le32(b + 12, v->alarm_ms);
	zpsi_put_le32(b + 16, v->nmsrs);
	zpsi_put_le32(b + 20, ZPSI_VMSTATE_BLOBS);
	off = ZPSI_VMSTATE_VCPU_HDR;
	for (unsigned i = 0; i < ZPSI_VMSTATE_BLOBS; i++) {
		zpsi_put_le32(b + 24 + 4 * i, v->blob_size[i]);
		memcpy(b + off, v->blob[i], v->blob_size[i]);
		off += zpsi_pad8(v->blob_size[i]);
	}
	for (uint32_t i = 0; i < v->nmsrs; i++, off += 16) {
		zpsi_put_le32(b + off, v->msr_index[i]);
		zpsi_put_le64(b + off + 8, v->msr_value[i]);
	}
	r = zpsi_mig_add_section(w, ZPSI_MIG_SEC_VCPU, ZPSI_MIG_SEC_REQUIRED, b, len);
	free(b);
	return r;
}

int zpsi_vmstate_decode_vcpu(const struct zpsi_mig_section *sec,
			     const uint32_t expect[ZPSI_VMSTATE_BLOBS], struct zpsi_vmstate_vcpu *out)
{
	struct zpsi_vmstate_vcpu v = { 0 };
	const uint8_t *b = sec->data;
	uint64_t need = ZPSI_VMSTATE_VCPU_HDR, off;

	if (sec->type != ZPSI_MIG_SEC_VCPU || sec->len < ZPSI_VMSTATE_VCPU_HDR || !b)
		return -EINVAL;
	if (zpsi_get_le32(b) != ZPSI_VMSTATE_LAYOUT || zpsi_get_le32(b + 20) != ZPSI_VMSTATE_BLOBS ||
	    zpsi_get_le32(b + 52) != 0)
		return -EINVAL;
	v.index = zpsi_get_le32(b + 4);
	v.mode = zpsi_get_le32(b + 8);
	v.alarm_ms = zpsi_get_le32(b + 12);
	v.nmsrs = zpsi_get_le32(b + 16);
	if (v.index >= ZPSI_VMSTATE_MAX_VCPUS || v.mode > 2 || v.nmsrs > ZPSI_VMSTATE_MAX_MSRS)
		return -EINVAL;
	for (unsigned i = 0; i < ZPSI_VMSTATE_BLOBS; i++) {
		v.blob_size[i] = zpsi_get_le32(b + 24 + 4 * i);
		if (v.blob_size[i] != expect[i])
			return -EINVAL;
		need += zpsi_pad8(v.blob_size[i]);	/* each <= 4 GiB: no overflow */
	}
	need += (uint64_t)v.nmsrs * 16;
	if (sec->len != need)
		return -EINVAL;
	off = ZPSI_VMSTATE_VCPU_HDR;
	for (unsigned i = 0; i < ZPSI_VMSTATE_BLOBS; i++) {
		v.blob[i] = b + off;
		if (!zpsi_all_zero(b + off + v.blob_size[i], zpsi_pad8(v.blob_size[i]) - v.blob_size[i]))
			return -EINVAL;
		off += zpsi_pad8(v.blob_size[i]);
	}
	v.msr_raw = b + off;
	for (uint32_t i = 0; i < v.nmsrs; i++)
		if (zpsi_get_le32(v.msr_raw + 16 * i + 4) != 0)
			return -EINVAL;
	*out = v;
	return 0;
}

void zpsi_vmstate_msr(const struct zpsi_vmstate_vcpu *v, uint32_t i, uint32_t *index, uint64_t *value)
{
	*index = zpsi_get_le32(v->msr_raw + 16 * (size_t)i);
	*value = zpsi_get_le64(v->msr_raw + 16 * (size_t)i + 8);
}

/* ---------------------------------------------------------------- */
/* Memory                                                            */
/* ---------------------------------------------------------------- */

static bool page_is_zero(const uint8_t *p)
{
	const uint64_t *w = (const uint64_t *)(const void *)p;

	for (unsigned i = 0; i < ZPSI_VMSTATE_PAGE / 8; i++)
		if (w[i])
			return false;
	return true;
}

void zpsi_vmstate_memory_free(struct zpsi_vmstate_memory *m)
{
	free(m->head);
	free(m->iov);
	memset(m, 0, sizeof(*m));
}

/*
 * One pass over RAM: the bitmap of non-zero pages into the head, and the
 * runs of consecutive non-zero pages as iovecs pointing into ram.  The
 * iovec array grows by doubling; a RAM of alternating pages needs
 * pages / 2 + 1 entries at worst.
 */
int zpsi_vmstate_memory_iov(const uint8_t *ram, uint64_t mem_bytes, struct zpsi_vmstate_memory *m)
{
	uint64_t pages = mem_bytes / ZPSI_VMSTATE_PAGE, present = 0, words = (pages + 63) / 64;
	size_t cap = 16;

	memset(m, 0, sizeof(*m));
	if (mem_bytes % ZPSI_VMSTATE_PAGE || mem_bytes > ZPSI_VMSTATE_MAX_RAM || (!ram && mem_bytes))
		return -EINVAL;
	m->head_len = 24 + words * 8;
	m->head = calloc(1, m->head_len);
	m->iov = calloc(cap, sizeof(*m->iov));
	if (!m->head || !m->iov) {
		zpsi_vmstate_memory_free(m);
		return -ENOMEM;
	}
	m->iov[m->iovcnt++] = (struct iovec){ .iov_base = m->head, .iov_len = m->head_len };
	for (uint64_t p = 0; p < pages; p++) {
		const uint8_t *src = ram + p * ZPSI_VMSTATE_PAGE;
		struct iovec *last = &m->iov[m->iovcnt - 1];

		if (page_is_zero(src))
			continue;
		m->head[24 + p / 8] |= (uint8_t)(1u << (p % 8));
		present++;
		if (m->iovcnt > 1 && (const uint8_t *)last->iov_base + last->iov_len == src) {
			last->iov_len += ZPSI_VMSTATE_PAGE;
			continue;
		}
		if (m->iovcnt == cap) {
			struct iovec *n = reallocarray(m->iov, cap * 2, sizeof(*n));

			if (!n) {
				zpsi_vmstate_memory_free(m);
				return -ENOMEM;
			}
			m->iov = n;
			cap *= 2;
		}
		m->iov[m->iovcnt++] = (struct iovec){ .iov_base = (void *)src, .iov_len = ZPSI_VMSTATE_PAGE };
	}
	zpsi_put_le32(m->head + 0, ZPSI_VMSTATE_LAYOUT);
	zpsi_put_le32(m->head + 4, ZPSI_VMSTATE_PAGE);
	zpsi_put_le64(m->head + 8, mem_bytes);
	zpsi_put_le64(m->head + 16, present);
	m->present = present;
	return 0;
}

int zpsi_vmstate_add_memory(struct zpsi_mig_writer *w, const uint8_t *ram, uint64_t mem_bytes)
{
	struct zpsi_vmstate_memory m;
	int r;

	r = zpsi_vmstate_memory_iov(ram, mem_bytes, &m);
	if (r < 0)
		return r;
	r = zpsi_mig_add_section_iov(w, ZPSI_MIG_SEC_MEMORY, ZPSI_MIG_SEC_REQUIRED, m.iov, m.iovcnt);
	zpsi_vmstate_memory_free(&m);
	return r;
}

int zpsi_vmstate_decode_memory(const struct zpsi_mig_section *sec, uint8_t *ram, uint64_t mem_bytes,
			       bool zero_absent)
{
	return zpsi_vmstate_decode_memory_cb(sec, ram, mem_bytes, zero_absent, NULL, NULL);
}

int zpsi_vmstate_decode_memory_cb(const struct zpsi_mig_section *sec, uint8_t *ram, uint64_t mem_bytes,
				  bool zero_absent, zpsi_vmstate_consumed_fn consumed, void *ctx)
{
	const uint8_t *b = sec->data, *bitmap, *data, *done;
	uint64_t pages, words, present, count = 0;

	if (sec->type != ZPSI_MIG_SEC_MEMORY || sec->len < 24 || !b || mem_bytes % ZPSI_VMSTATE_PAGE ||
	    mem_bytes > ZPSI_VMSTATE_MAX_RAM)
		return -EINVAL;
	if (zpsi_get_le32(b) != ZPSI_VMSTATE_LAYOUT || zpsi_get_le32(b + 4) != ZPSI_VMSTATE_PAGE ||
	    zpsi_get_le64(b + 8) != mem_bytes)
		return -EINVAL;
	pages = mem_bytes / ZPSI_VMSTATE_PAGE;
	words = (pages + 63) / 64;
	present = zpsi_get_le64(b + 16);
	if (present > pages || sec->len != 24 + words * 8 + present * ZPSI_VMSTATE_PAGE)
		return -EINVAL;
	bitmap = b + 24;
	data = done = bitmap + words * 8;
	for (uint64_t p = 0; p < words * 64; p++) {
		bool set = bitmap[p / 8] & (1u << (p % 8));

		if (set && p >= pages)
			return -EINVAL;	/* bits past the end of RAM */
		count += set;
	}
	if (count != present)
		return -EINVAL;
	for (uint64_t p = 0; p < pages; p++) {
		uint8_t *dst = ram + p * ZPSI_VMSTATE_PAGE;

		if (bitmap[p / 8] & (1u << (p % 8))) {
			memcpy(dst, data, ZPSI_VMSTATE_PAGE);
			data += ZPSI_VMSTATE_PAGE;
			if (consumed && (size_t)(data - done) >= ZPSI_VMSTATE_CONSUMED_CHUNK) {
				consumed(ctx, done, (size_t)(data - done));
				done = data;
			}
		} else if (zero_absent) {
			memset(dst, 0, ZPSI_VMSTATE_PAGE);
		}
	}
	if (consumed && data > done)
		consumed(ctx, done, (size_t)(data - done));
	return 0;
}

/* Pages read into RAM per call: bounded, as every read of a stream is. */
#define VMSTATE_READ_RUN (ZPSI_VMSTATE_CONSUMED_CHUNK / ZPSI_VMSTATE_PAGE)

int zpsi_vmstate_memory_read(struct zpsi_mig_stream_reader *in, uint64_t len, uint8_t *ram, uint64_t mem_bytes)
{
	uint8_t head[24], *bitmap;
	uint64_t pages, words, present, count = 0;
	int r;

	if (len < sizeof(head) || !ram || mem_bytes % ZPSI_VMSTATE_PAGE || mem_bytes > ZPSI_VMSTATE_MAX_RAM)
		return -EINVAL;
	r = zpsi_mig_stream_read(in, head, sizeof(head));
	if (r < 0)
		return r;
	if (zpsi_get_le32(head) != ZPSI_VMSTATE_LAYOUT || zpsi_get_le32(head + 4) != ZPSI_VMSTATE_PAGE ||
	    zpsi_get_le64(head + 8) != mem_bytes)
		return -EINVAL;
	pages = mem_bytes / ZPSI_VMSTATE_PAGE;
	words = (pages + 63) / 64;	/* <= 16384: the bitmap is <= 128 KiB */
	present = zpsi_get_le64(head + 16);
	if (present > pages || len != sizeof(head) + words * 8 + present * ZPSI_VMSTATE_PAGE)
		return -EINVAL;
	bitmap = malloc(words ? words * 8 : 1);
	if (!bitmap)
		return -ENOMEM;
	r = zpsi_mig_stream_read(in, bitmap, words * 8);
	for (uint64_t p = 0; r == 0 && p < words * 64; p++) {
		bool set = bitmap[p / 8] & (1u << (p % 8));

		if (set && p >= pages)
			r = -EINVAL;	/* bits past the end of RAM */
		count += set;
	}
	if (r == 0 && count != present)
		r = -EINVAL;
	for (uint64_t p = 0; r == 0 && p < pages;) {
		uint64_t q = p;

		while (q < pages && q - p < VMSTATE_READ_RUN && (bitmap[q / 8] & (1u << (q % 8))))
			q++;
		if (q > p)
			r = zpsi_mig_stream_read(in, ram + p * ZPSI_VMSTATE_PAGE, (size_t)(q - p) * ZPSI_VMSTATE_PAGE);
		p = q > p ? q : p + 1;
	}
	free(bitmap);
	return r;
}
