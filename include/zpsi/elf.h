/* SPDX-License-Identifier: MIT */
/*
 * zpsi/elf.h - the loader for user guest kernels (zpsi-vmm --kernel FILE):
 * a static, freestanding x86-64 ELF executable, linked at its physical
 * address (identity map).  The file is hostile input: every field is
 * checked before use, and nothing is written outside the load window.
 */
#ifndef ZPSI_ELF_H
#define ZPSI_ELF_H

#include <stddef.h>
#include <stdint.h>

#define ZPSI_ELF_MAX_SEGMENTS	16u	/* PT_LOAD entries */
#define ZPSI_ELF_MAX_PHDRS	64u	/* program headers of any type */

struct zpsi_elf_segment {
	uint64_t gpa;		/* = p_vaddr = p_paddr */
	uint64_t offset;	/* in the file */
	uint64_t filesz, memsz;	/* filesz <= memsz; the rest is zeroed */
	uint32_t flags;		/* PF_R/W/X */
};

struct zpsi_elf_image {
	uint64_t entry;
	uint64_t lo, hi;	/* lowest and one past the highest loaded byte */
	unsigned nseg;
	struct zpsi_elf_segment seg[ZPSI_ELF_MAX_SEGMENTS];
};

/*
 * Validate `buf` as an image that loads entirely inside [win_lo, win_hi).
 * 0 and *out, or -ENOEXEC (not an ELF we run) / -E2BIG (too many headers or
 * segments) / -ERANGE (a segment or the entry outside the window, or
 * segments overlapping), with *why (if not NULL) a short static reason.
 */
int zpsi_elf_parse(const void *buf, size_t len, uint64_t win_lo, uint64_t win_hi,
		   struct zpsi_elf_image *out, const char **why);

/* Copy the segments of a parsed image into guest memory `ram` (which maps
 * guest-physical [0, ram_size)) and zero their tails.  -ERANGE if the image
 * does not fit `ram` (it was parsed for another window). */
int zpsi_elf_load(const struct zpsi_elf_image *img, const void *buf, size_t len, uint8_t *ram,
		  uint64_t ram_size);

#endif /* ZPSI_ELF_H */
