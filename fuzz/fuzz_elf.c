/* SPDX-License-Identifier: MIT */
/*
 * fuzz_elf.c - the guest-kernel loader (zpsi-vmm --kernel FILE) on hostile
 * files.  An accepted image must satisfy everything the VMM relies on:
 * 1..16 segments, each inside the load window, none overlapping, filesz <=
 * memsz, file ranges inside the input, the entry in an executable segment;
 * loading it must succeed and write nothing outside the window (the guard
 * bytes around it stay intact).  A refused image must say why.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "zpsi/elf.h"

#define CHECK(x) do { if (!(x)) abort(); } while (0)

#define WIN_LO 0x100000u
#define WIN_HI 0x180000u	/* a small guest: 1.5 MiB of RAM */
#define GUARD 4096u

static uint8_t ram[WIN_HI + GUARD];

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct zpsi_elf_image img;
	const char *why = NULL;
	bool entry_ok = false;
	int r;

	r = zpsi_elf_parse(data, size, WIN_LO, WIN_HI, &img, &why);
	if (r < 0) {
		CHECK(why != NULL && why[0] != '\0');
		return 0;
	}
	CHECK(img.nseg >= 1 && img.nseg <= ZPSI_ELF_MAX_SEGMENTS);
	for (unsigned i = 0; i < img.nseg; i++) {
		const struct zpsi_elf_segment *s = &img.seg[i];

		CHECK(s->memsz > 0 && s->filesz <= s->memsz);
		CHECK(s->gpa >= WIN_LO && s->gpa <= WIN_HI && s->memsz <= WIN_HI - s->gpa);
		CHECK(s->offset <= size && s->filesz <= size - s->offset);
		CHECK(s->gpa >= img.lo && s->gpa + s->memsz <= img.hi);
		for (unsigned j = 0; j < i; j++)
			CHECK(s->gpa >= img.seg[j].gpa + img.seg[j].memsz ||
			      img.seg[j].gpa >= s->gpa + s->memsz);
		if ((s->flags & 1) && img.entry >= s->gpa && img.entry - s->gpa < s->memsz)
			entry_ok = true;
	}
	CHECK(entry_ok);
	memset(ram, 0xEE, sizeof(ram));
	CHECK(zpsi_elf_load(&img, data, size, ram, WIN_HI) == 0);
	for (size_t i = 0; i < WIN_LO; i += 997)
		CHECK(ram[i] == 0xEE);
	for (size_t i = WIN_HI; i < sizeof(ram); i++)
		CHECK(ram[i] == 0xEE);
	/* The same image refused for a window it does not fit. */
	CHECK(zpsi_elf_load(&img, data, size, ram, img.hi - 1) == -ERANGE);
	return 0;
}
