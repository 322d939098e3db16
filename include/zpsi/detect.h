/* SPDX-License-Identifier: MIT */
/*
 * zpsi/detect.h - vendor-neutral hypervisor and cloud detection (SPEC
 * component 1; docs/detect.md explains every rule).
 *
 * All inputs come through one struct zpsi_detect_source: CPUID leaves,
 * files at their usual absolute paths, and sysctl values.  The same
 * decision code runs live, on a fixture tree (--sysroot), and in tests with
 * in-memory sources.  Every byte read is untrusted: files are read with a
 * size cap, values are truncated and escaped on output.
 *
 * Error convention: 0 or -errno; outputs written only on success.
 */
#ifndef ZPSI_DETECT_H
#define ZPSI_DETECT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "zpsi/detect_cpuid.h"

/* ------------------------------------------------------------------ */
/* Inputs                                                              */
/* ------------------------------------------------------------------ */

struct zpsi_detect_source {
	const char *label;	/* "live" or the sysroot directory (reported) */
	void *ctx;

	/* NULL: no CPUID here (not x86, or a sysroot without cpuid.txt). */
	zpsi_cpuid_fn cpuid;
	void *cpuid_ctx;

	/* Read at most `max` bytes of the file at absolute `path` into a new
	 * NUL-terminated buffer (*ret, *ret_len without the NUL).  -ENOENT
	 * when absent, -EACCES when unreadable, -EISDIR for a directory. */
	int (*read_file)(void *ctx, const char *path, size_t max, char **ret, size_t *ret_len);

	/* Entry names of directory `path` (no "." or ".."), a NULL-terminated
	 * array freed with zpsi_strv_free(); at most `max` names. */
	int (*list_dir)(void *ctx, const char *path, size_t max, char ***ret);

	/* Value of sysctl `name` (a new string); -ENOENT when there is none. */
	int (*sysctl)(void *ctx, const char *name, char **ret);

	void (*free_ctx)(void *ctx);
};

/* This machine: CPUID by instruction (x86), files from /, sysctl(3) on
 * OpenBSD and FreeBSD. */
int zpsi_detect_source_live(struct zpsi_detect_source **ret);

/* A tree: files under DIR, CPUID from DIR/cpuid.txt (`cpuid -r -1`
 * format; absent = no CPUID), sysctl values from DIR/sysctl.txt
 * (name=value lines; absent = none).  -ENOTDIR if DIR is not a directory,
 * -EBADMSG if cpuid.txt holds no CPUID line. */
int zpsi_detect_source_sysroot(const char *dir, struct zpsi_detect_source **ret);

struct zpsi_detect_source *zpsi_detect_source_free(struct zpsi_detect_source *s);

void zpsi_strv_free(char **v);

/*
 * Inputs held in memory: files added by absolute path (directories are
 * implied by the paths), an optional CPUID dump and sysctl text.  For
 * programs that already hold the values (a daemon given a guest's files
 * over a channel) and for tests.  Capped: ZPSI_DETECT_MEMORY_FILES files,
 * ZPSI_DETECT_MEMORY_BYTES bytes in all (-E2BIG past them).
 */
struct zpsi_detect_memory;

#define ZPSI_DETECT_MEMORY_FILES	512u
#define ZPSI_DETECT_MEMORY_BYTES	(4u << 20)

int zpsi_detect_memory_new(const char *label, struct zpsi_detect_memory **ret);
/* -EINVAL for a relative path or one with "." or ".." components;
 * -EEXIST if the path (or a directory it implies) is already there. */
int zpsi_detect_memory_add_file(struct zpsi_detect_memory *m, const char *path,
				const void *data, size_t len);
int zpsi_detect_memory_set_cpuid_dump(struct zpsi_detect_memory *m, const char *text, size_t len);
int zpsi_detect_memory_set_sysctl(struct zpsi_detect_memory *m, const char *text, size_t len);
/* Valid until the memory is freed. */
const struct zpsi_detect_source *zpsi_detect_memory_source(struct zpsi_detect_memory *m);
struct zpsi_detect_memory *zpsi_detect_memory_free(struct zpsi_detect_memory *m);

/* ------------------------------------------------------------------ */
/* Parsers (exposed for tests and fuzzers)                             */
/* ------------------------------------------------------------------ */

/* A CPUID dump: entries of the first CPU in the file. */
struct zpsi_cpuid_entry {
	uint32_t leaf, subleaf;
	uint32_t regs[4];
};

struct zpsi_cpuid_dump {
	size_t n;
	struct zpsi_cpuid_entry *entries;
};

#define ZPSI_CPUID_DUMP_MAX	4096u	/* entries kept per dump */

/* Lines "   0xLEAF 0xSUB: eax=0x.. ebx=0x.. ecx=0x.. edx=0x..", as printed
 * by `cpuid -r` (Debian's cpuid package); only the first "CPU N:" section
 * counts.  -EBADMSG when the text holds no such line. */
int zpsi_cpuid_dump_parse(const char *text, size_t len, struct zpsi_cpuid_dump *ret);
void zpsi_cpuid_dump_done(struct zpsi_cpuid_dump *d);
/* zpsi_cpuid_fn over a dump (ctx = the dump): exact (leaf, subleaf), else
 * the leaf's first entry, else zeros (as AMD answers an absent leaf). */
void zpsi_cpuid_dump_lookup(void *ctx, uint32_t leaf, uint32_t subleaf, uint32_t out[4]);

/* sysctl.txt: "name=value", "name = value" or "name: value" lines (the
 * output of OpenBSD's and FreeBSD's sysctl(8)); '#' starts a comment.
 * Lines that are neither are skipped. */
struct zpsi_sysctl_kv {
	char *name, *value;
};

struct zpsi_sysctl_table {
	size_t n;
	struct zpsi_sysctl_kv *kv;
};

#define ZPSI_SYSCTL_MAX		1024u	/* entries kept */
#define ZPSI_SYSCTL_VALUE_MAX	256u	/* bytes of a value kept */

int zpsi_sysctl_parse(const char *text, size_t len, struct zpsi_sysctl_table *ret);
void zpsi_sysctl_table_done(struct zpsi_sysctl_table *t);
const char *zpsi_sysctl_get(const struct zpsi_sysctl_table *t, const char *name);

/* /proc/cpuinfo: the first processor's block. */
struct zpsi_cpuinfo {
	bool has_flags;			/* an x86 "flags" line was seen */
	bool hypervisor_flag;		/* "hypervisor" among the flags */
	char vendor_id[64];		/* "" when absent */
	char model_name[96];
};

int zpsi_cpuinfo_parse(const char *text, size_t len, struct zpsi_cpuinfo *ret);

/* SMBIOS type 0 (BIOS Information) as in /sys/firmware/dmi/entries/0-0/raw:
 * 1 = "system is a virtual machine" (BIOS Characteristics Extension Byte 2,
 * bit 4; DMTF DSP0134 7.1.2.2), 0 = not set, -EBADMSG if the structure is
 * too short to carry that byte or is not type 0. */
int zpsi_smbios_vm_bit(const uint8_t *raw, size_t len);

/* ACPI table header (ACPI 6.x 5.2.6): signature, OEM ID, OEM table ID,
 * creator ID, each NUL-terminated with trailing spaces removed. */
struct zpsi_acpi_header {
	char signature[5];
	char oem_id[7];
	char oem_table_id[9];
	char creator_id[5];
};

int zpsi_acpi_header_parse(const uint8_t *raw, size_t len, struct zpsi_acpi_header *ret);

/* Xen: /sys/hypervisor/properties/features (hex without 0x) -> 1 if
 * XENFEAT_dom0 (bit 11) is set, 0 if not, -EBADMSG if not hex.
 * /proc/xen/capabilities (comma-separated) -> 1 if "control_d" is there. */
int zpsi_xen_features_dom0(const char *text, size_t len);
int zpsi_xen_caps_dom0(const char *text, size_t len);

/* A one-line value (DMI file, sysfs attribute): the first line, trailing
 * whitespace removed, at most `size`-1 bytes, NUL-terminated.  Device-tree
 * string lists ("a\0b\0") become "a,b".  Returns the length. */
size_t zpsi_detect_clean_value(const char *raw, size_t len, char *out, size_t size);

/* ------------------------------------------------------------------ */
/* Result                                                              */
/* ------------------------------------------------------------------ */

enum zpsi_ev_kind {
	ZPSI_EV_INFO = 0,	/* recorded; decides nothing */
	ZPSI_EV_VM,		/* says "a guest", without naming a hypervisor */
	ZPSI_EV_HV,		/* names the hypervisor; proof of a guest */
	ZPSI_EV_HV_WEAK,	/* names one, but a hardware vendor also uses the
				 * string: no proof of a guest on its own */
	ZPSI_EV_NOT_VM,		/* says "bare metal" (e.g. an EC2 .metal type) */
	ZPSI_EV_CLOUD,		/* names the cloud */
	ZPSI_EV_VMM,		/* names the user-space VMM */
	ZPSI_EV_DOM0,		/* Xen control domain */
	ZPSI_EV_IGNORED,	/* read but rejected (garbage, unreadable) */
	_ZPSI_EV_MAX,
};

#define ZPSI_DETECT_EVIDENCE_MAX	96u
#define ZPSI_DETECT_CONTRA_MAX		16u

struct zpsi_detect_evidence {
	const char *source;	/* "cpuid", "dmi", "smbios", "cpuinfo", "sysfs",
				 * "procfs", "device-tree", "sysctl", "acpi" */
	char where[96];		/* path, leaf or sysctl name */
	char value[128];	/* raw value (may hold any byte; JSON escapes) */
	char conclusion[160];
	enum zpsi_ev_kind kind;
	const char *name;	/* hypervisor, cloud or VMM name for the kind */
};

struct zpsi_detect_contradiction {
	const char *id;		/* stable: "hypervisor-mismatch", ... */
	char detail[224];
};

struct zpsi_detect_result {
	bool virtualized;		/* a guest of some hypervisor */
	const char *hypervisor;		/* "none" when not virtualized */
	const char *cloud;		/* "none" when no cloud is identified */
	bool bare_metal_cloud;		/* a cloud, and not virtualized */
	const char *vmm;		/* user-space VMM when known, else NULL */
	bool xen_dom0;
	char reason[224];		/* why `hypervisor` */

	bool have_cpuid;
	struct zpsi_cpuid_info cpuid;

	unsigned n_evidence, evidence_dropped;
	struct zpsi_detect_evidence evidence[ZPSI_DETECT_EVIDENCE_MAX];
	unsigned n_contradictions;
	struct zpsi_detect_contradiction contradictions[ZPSI_DETECT_CONTRA_MAX];
	char input[160];		/* the source's label */
};

/* Read every input of `src` and decide.  *ret is freed with free().
 * Unreadable inputs become evidence, not errors; -ENOMEM is the only
 * failure. */
int zpsi_detect_run(const struct zpsi_detect_source *src, struct zpsi_detect_result **ret);

/* The whole result as a JSON document (malloc'd, NUL-terminated). */
int zpsi_detect_to_json(const struct zpsi_detect_result *r, char **ret);

/* Names for --list: hypervisors, clouds, VMMs (NULL-terminated, static). */
const char *const *zpsi_detect_hypervisor_names(void);
const char *const *zpsi_detect_cloud_names(void);
const char *const *zpsi_detect_vmm_names(void);
const char *zpsi_detect_ev_kind_name(enum zpsi_ev_kind k);

#endif /* ZPSI_DETECT_H */
