/* SPDX-License-Identifier: MIT */
/*
 * lib/elf.c - validating loader for freestanding x86-64 guest kernels
 * (zpsi/elf.h).  Fields are read from the untrusted buffer one at a time
 * with explicit little-endian loads, never through a cast pointer, so a
 * misaligned or truncated file cannot fault the host.
 */
#include <elf.h>
#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include "zpsi/elf.h"

static uint64_t elf_le(const uint8_t *p, unsigned n)
{
	uint64_t v = 0;

	for (unsigned i = 0; i < n; i++)
		v |= (uint64_t)p[i] << (8 * i);
	return v;
}

#define ELF_FAIL(err, reason) do { if (why) *why = (reason); return (err); } while (0)

static int elf_check_header(const uint8_t *b, size_t len, const char **why)
{
	if (len < sizeof(Elf64_Ehdr))
		ELF_FAIL(-ENOEXEC, "shorter than an ELF header");
	if (memcmp(b, ELFMAG, SELFMAG) != 0)
		ELF_FAIL(-ENOEXEC, "not an ELF file");
	if (b[EI_CLASS] != ELFCLASS64 || b[EI_DATA] != ELFDATA2LSB)
		ELF_FAIL(-ENOEXEC, "not a 64-bit little-endian ELF");
	if (b[EI_VERSION] != EV_CURRENT || elf_le(b + offsetof(Elf64_Ehdr, e_version), 4) != EV_CURRENT)
		ELF_FAIL(-ENOEXEC, "unknown ELF version");
	if (elf_le(b + offsetof(Elf64_Ehdr, e_machine), 2) != EM_X86_64)
		ELF_FAIL(-ENOEXEC, "not an x86-64 ELF");
	switch (elf_le(b + offsetof(Elf64_Ehdr, e_type), 2)) {
	case ET_EXEC:
		break;
	case ET_DYN:
		ELF_FAIL(-ENOEXEC, "position-independent (ET_DYN): link with -static -no-pie at 0x100000");
	default:
		ELF_FAIL(-ENOEXEC, "not an executable (ET_EXEC)");
	}
	if (elf_le(b + offsetof(Elf64_Ehdr, e_ehsize), 2) != sizeof(Elf64_Ehdr))
		ELF_FAIL(-ENOEXEC, "bad e_ehsize");
	if (elf_le(b + offsetof(Elf64_Ehdr, e_phentsize), 2) != sizeof(Elf64_Phdr))
		ELF_FAIL(-ENOEXEC, "bad e_phentsize");
	return 0;
}

static bool elf_overlaps(const struct zpsi_elf_image *img, uint64_t gpa, uint64_t memsz)
{
	for (unsigned i = 0; i < img->nseg; i++) {
		const struct zpsi_elf_segment *s = &img->seg[i];

		if (gpa < s->gpa + s->memsz && s->gpa < gpa + memsz)
			return true;
	}
	return false;
}

/* One PT_LOAD, checked against the file and the window. */
static int elf_add_load(struct zpsi_elf_image *img, const uint8_t *ph, size_t len, uint64_t win_lo,
			uint64_t win_hi, const char **why)
{
	uint64_t off = elf_le(ph + offsetof(Elf64_Phdr, p_offset), 8);
	uint64_t vaddr = elf_le(ph + offsetof(Elf64_Phdr, p_vaddr), 8);
	uint64_t paddr = elf_le(ph + offsetof(Elf64_Phdr, p_paddr), 8);
	uint64_t filesz = elf_le(ph + offsetof(Elf64_Phdr, p_filesz), 8);
	uint64_t memsz = elf_le(ph + offsetof(Elf64_Phdr, p_memsz), 8);
	uint64_t align = elf_le(ph + offsetof(Elf64_Phdr, p_align), 8);
	struct zpsi_elf_segment *s;

	if (memsz == 0)
		return 0;	/* loads nothing */
	if (filesz > memsz)
		ELF_FAIL(-ENOEXEC, "segment with p_filesz > p_memsz");
	if (off > len || filesz > len - off)
		ELF_FAIL(-ENOEXEC, "segment extends past the end of the file");
	if (vaddr != paddr)
		ELF_FAIL(-ENOEXEC, "p_vaddr != p_paddr: the guest is identity-mapped");
	if (align > 1 && (align & (align - 1)))
		ELF_FAIL(-ENOEXEC, "p_align is not a power of two");
	if (vaddr < win_lo || vaddr > win_hi || memsz > win_hi - vaddr)
		ELF_FAIL(-ERANGE, "segment outside guest RAM above 0x100000");
	if (elf_overlaps(img, vaddr, memsz))
		ELF_FAIL(-ERANGE, "segments overlap");
	if (img->nseg >= ZPSI_ELF_MAX_SEGMENTS)
		ELF_FAIL(-E2BIG, "too many PT_LOAD segments");
	s = &img->seg[img->nseg++];
	s->gpa = vaddr;
	s->offset = off;
	s->filesz = filesz;
	s->memsz = memsz;
	s->flags = (uint32_t)elf_le(ph + offsetof(Elf64_Phdr, p_flags), 4);
	if (vaddr < img->lo)
		img->lo = vaddr;
	if (vaddr + memsz > img->hi)
		img->hi = vaddr + memsz;
	return 0;
}

int zpsi_elf_parse(const void *buf, size_t len, uint64_t win_lo, uint64_t win_hi,
		   struct zpsi_elf_image *out, const char **why)
{
	const uint8_t *b = buf;
	struct zpsi_elf_image img = { .lo = UINT64_MAX, .hi = 0 };
	uint64_t phoff, phnum;
	bool entry_ok = false;
	int r;

	if (!buf || win_lo >= win_hi)
		ELF_FAIL(-EINVAL, "no image or empty window");
	r = elf_check_header(b, len, why);
	if (r < 0)
		return r;
	phoff = elf_le(b + offsetof(Elf64_Ehdr, e_phoff), 8);
	phnum = elf_le(b + offsetof(Elf64_Ehdr, e_phnum), 2);
	if (phnum == 0)
		ELF_FAIL(-ENOEXEC, "no program headers");
	if (phnum > ZPSI_ELF_MAX_PHDRS)
		ELF_FAIL(-E2BIG, "too many program headers");
	if (phoff > len || phnum * sizeof(Elf64_Phdr) > len - phoff)
		ELF_FAIL(-ENOEXEC, "program headers extend past the end of the file");

	for (uint64_t i = 0; i < phnum; i++) {
		const uint8_t *ph = b + phoff + i * sizeof(Elf64_Phdr);

		switch (elf_le(ph + offsetof(Elf64_Phdr, p_type), 4)) {
		case PT_LOAD:
			r = elf_add_load(&img, ph, len, win_lo, win_hi, why);
			if (r < 0)
				return r;
			break;
		case PT_INTERP:
		case PT_DYNAMIC:
			ELF_FAIL(-ENOEXEC, "dynamically linked: link with -static -nostdlib");
		case PT_TLS:
			ELF_FAIL(-ENOEXEC, "thread-local storage is not supported");
		default:
			break;	/* notes, GNU_STACK, ...: nothing to load */
		}
	}
	if (img.nseg == 0)
		ELF_FAIL(-ENOEXEC, "nothing to load (no PT_LOAD)");
	img.entry = elf_le(b + offsetof(Elf64_Ehdr, e_entry), 8);
	for (unsigned i = 0; i < img.nseg; i++) {
		const struct zpsi_elf_segment *s = &img.seg[i];

		if ((s->flags & PF_X) && img.entry >= s->gpa && img.entry - s->gpa < s->memsz)
			entry_ok = true;
	}
	if (!entry_ok)
		ELF_FAIL(-ERANGE, "entry point not inside an executable segment");
	*out = img;
	return 0;
}

int zpsi_elf_load(const struct zpsi_elf_image *img, const void *buf, size_t len, uint8_t *ram,
		  uint64_t ram_size)
{
	const uint8_t *b = buf;

	if (img->nseg > ZPSI_ELF_MAX_SEGMENTS)
		return -EINVAL;
	for (unsigned i = 0; i < img->nseg; i++) {
		const struct zpsi_elf_segment *s = &img->seg[i];

		if (s->gpa > ram_size || s->memsz > ram_size - s->gpa || s->filesz > s->memsz ||
		    s->offset > len || s->filesz > len - s->offset)
			return -ERANGE;
	}
	for (unsigned i = 0; i < img->nseg; i++) {
		const struct zpsi_elf_segment *s = &img->seg[i];

		memcpy(ram + s->gpa, b + s->offset, s->filesz);
		memset(ram + s->gpa + s->filesz, 0, s->memsz - s->filesz);
	}
	return 0;
}
