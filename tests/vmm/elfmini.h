/* SPDX-License-Identifier: MIT */
/*
 * tests/vmm/elfmini.h - write a minimal guest kernel: one PT_LOAD at
 * 0x100000 holding `code`, entry at its first byte.  For tests that need a
 * guest which spins, crashes or exits with a given status.
 */
#ifndef ELFMINI_H
#define ELFMINI_H

#include <elf.h>
#include <stdio.h>
#include <string.h>

static inline int elfmini_write(const char *path, const unsigned char *code, size_t len)
{
	Elf64_Ehdr eh = { 0 };
	Elf64_Phdr ph = { 0 };
	FILE *f = fopen(path, "wb");
	int ok;

	if (!f)
		return -1;
	memcpy(eh.e_ident, ELFMAG, SELFMAG);
	eh.e_ident[EI_CLASS] = ELFCLASS64;
	eh.e_ident[EI_DATA] = ELFDATA2LSB;
	eh.e_ident[EI_VERSION] = EV_CURRENT;
	eh.e_type = ET_EXEC;
	eh.e_machine = EM_X86_64;
	eh.e_version = EV_CURRENT;
	eh.e_entry = 0x100000;
	eh.e_phoff = sizeof(eh);
	eh.e_ehsize = sizeof(eh);
	eh.e_phentsize = sizeof(ph);
	eh.e_phnum = 1;
	ph.p_type = PT_LOAD;
	ph.p_flags = PF_R | PF_X;
	ph.p_offset = sizeof(eh) + sizeof(ph);
	ph.p_vaddr = ph.p_paddr = 0x100000;
	ph.p_filesz = len;
	ph.p_memsz = 0x1000;
	ph.p_align = 0x1000;
	ok = fwrite(&eh, sizeof(eh), 1, f) == 1 && fwrite(&ph, sizeof(ph), 1, f) == 1 &&
	     fwrite(code, len, 1, f) == 1;
	return fclose(f) == 0 && ok ? 0 : -1;
}

#endif /* ELFMINI_H */
