/* SPDX-License-Identifier: MIT */
/*
 * test_elf.c - the guest kernel loader (lib/elf.c): every built-in payload
 * and the minimal kernel load; each way a file can be wrong is refused
 * with its own reason; loading writes only the image and zeroes its bss.
 * Needs no KVM.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "elfmini.h"
#include "payloads.h"
#include "vmmtest.h"
#include "zpsi/elf.h"

#define LO 0x100000u
#define HI (4u << 20)

static uint8_t img[4096];
static size_t img_len;

static void build(void)
{
	static const unsigned char code[] = { 0xF4 };
	char path[256];
	FILE *f;

	vt_tmpname(path, sizeof(path), "elf");
	elfmini_write(path, code, sizeof(code));
	f = fopen(path, "rb");
	img_len = fread(img, 1, sizeof(img), f);
	fclose(f);
	remove(path);
}

static int parse_mod(size_t off, const void *val, size_t n, const char **why)
{
	uint8_t copy[4096];
	struct zpsi_elf_image im;

	memcpy(copy, img, img_len);
	memcpy(copy + off, val, n);
	return zpsi_elf_parse(copy, img_len, LO, HI, &im, why);
}

int main(void)
{
	struct zpsi_elf_image im;
	const char *why = NULL;
	uint8_t *ram = calloc(1, HI);
	uint16_t u16;
	uint64_t u64;
	uint32_t u32;

	for (const struct vmm_payload *p = vmm_payloads; p->name; p++) {
		int r = zpsi_elf_parse(p->image, p->size, LO, HI, &im, &why);

		VT_CHECK(r == 0, "payload %s: %s", p->name, why);
		VT_CHECK(r == 0 && im.entry >= LO && im.lo >= LO && im.hi <= HI, "payload %s placement", p->name);
		VT_CHECK(r == 0 && zpsi_elf_load(&im, p->image, p->size, ram, HI) == 0, "payload %s loads", p->name);
	}
	build();
	VT_CHECK(zpsi_elf_parse(img, img_len, LO, HI, &im, &why) == 0 && im.nseg == 1 && im.entry == LO,
		 "minimal kernel");
	memset(ram, 0xAB, HI);
	VT_CHECK(zpsi_elf_load(&im, img, img_len, ram, HI) == 0, "load");
	VT_CHECK(ram[LO] == 0xF4 && ram[LO + 1] == 0 && ram[LO + 0xFFF] == 0 && ram[LO + 0x1000] == 0xAB &&
		 ram[LO - 1] == 0xAB, "only the segment is written, its tail zeroed");

	for (size_t n = 0; n < img_len; n += 7)
		VT_CHECK(zpsi_elf_parse(img, n, LO, HI, &im, &why) < 0 && why, "truncated at %zu", n);
	u16 = ET_DYN;
	VT_CHECK(parse_mod(offsetof(Elf64_Ehdr, e_type), &u16, 2, &why) == -ENOEXEC && strstr(why, "ET_DYN"), "PIE");
	u16 = EM_386;
	VT_CHECK(parse_mod(offsetof(Elf64_Ehdr, e_machine), &u16, 2, &why) == -ENOEXEC, "i386");
	u16 = 0xFFFF;
	VT_CHECK(parse_mod(offsetof(Elf64_Ehdr, e_phnum), &u16, 2, &why) == -E2BIG, "65535 headers");
	u64 = UINT64_MAX - 8;
	VT_CHECK(parse_mod(offsetof(Elf64_Ehdr, e_phoff), &u64, 8, &why) == -ENOEXEC, "phoff overflow");
	u64 = 0x1000;
	VT_CHECK(parse_mod(sizeof(Elf64_Ehdr) + offsetof(Elf64_Phdr, p_vaddr), &u64, 8, &why) < 0, "vaddr != paddr");
	u64 = UINT64_MAX - 0x100;
	VT_CHECK(parse_mod(sizeof(Elf64_Ehdr) + offsetof(Elf64_Phdr, p_offset), &u64, 8, &why) == -ENOEXEC,
		 "offset overflow");
	u64 = UINT64_MAX;
	VT_CHECK(parse_mod(sizeof(Elf64_Ehdr) + offsetof(Elf64_Phdr, p_memsz), &u64, 8, &why) == -ERANGE,
		 "memsz overflow");
	u32 = PF_R | PF_W;
	VT_CHECK(parse_mod(sizeof(Elf64_Ehdr) + offsetof(Elf64_Phdr, p_flags), &u32, 4, &why) == -ERANGE,
		 "entry in a non-executable segment");
	u64 = LO + 0x2000;
	VT_CHECK(parse_mod(offsetof(Elf64_Ehdr, e_entry), &u64, 8, &why) == -ERANGE, "entry outside");
	VT_CHECK(zpsi_elf_parse(img, img_len, LO, LO + 0x800, &im, &why) == -ERANGE, "does not fit RAM");
	VT_CHECK(zpsi_elf_parse(img, img_len, LO, HI, &im, &why) == 0 && zpsi_elf_load(&im, img, img_len, ram, LO + 0x800) == -ERANGE,
		 "load refuses a smaller RAM");
	free(ram);
	return vt_done("elf");
}
