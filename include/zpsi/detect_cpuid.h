/* SPDX-License-Identifier: MIT */
/*
 * zpsi/detect_cpuid.h - the CPUID part of hypervisor detection (SPEC
 * component 1), and a bounded JSON writer.
 *
 * FREESTANDING: no libc, no allocation, no FPU.  The same code runs in
 * libzpsi (live CPUID or a parsed `cpuid -r -1` dump) and inside a micro-VM
 * guest payload that executes the real instruction.  As with any GCC or
 * clang freestanding code, the environment must provide memcpy, memset,
 * memmove and memcmp (the compiler may emit calls to them); nothing else is
 * referenced, and a test checks that with nm.
 *
 * Validation rule for a hypervisor leaf block at base B (B = 0x40000000 +
 * k * 0x100, k = 0..255), because leaves past a CPU's or hypervisor's range
 * return garbage: Intel CPUs answer an out-of-range leaf with the data of
 * the highest basic leaf, AMD CPUs answer zeros, and KVM copies whichever
 * behaviour matches the guest's vendor.  A block is VALID when
 *   1. its 12-byte signature (EBX:ECX:EDX) is printable ASCII (0x20..0x7E)
 *      followed only by NUL padding, and contains a letter or digit; and
 *   2. EAX of leaf B (the block's highest leaf) lies in [B, B + 0xFF] -
 *      leaf numbers are absolute, so data echoed from another leaf or a
 *      block mirrored from another base fails this - or EAX is 0 and the
 *      signature is one we know (old KVM hosts report 0, per
 *      Documentation/virt/kvm/x86/cpuid.rst; OpenBSD vmm(4) always does).
 * Every base is probed whether or not CPUID.1:ECX[31] is set (a hypervisor
 * may hide the bit but still answer its leaves); leaf 1 itself is read only
 * when the highest basic leaf is at least 1.
 */
#ifndef ZPSI_DETECT_CPUID_H
#define ZPSI_DETECT_CPUID_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "zpsi/abi.h"

/* Execute (or look up) CPUID: out[0..3] = EAX, EBX, ECX, EDX. */
typedef void (*zpsi_cpuid_fn)(void *ctx, uint32_t leaf, uint32_t subleaf, uint32_t out[4]);

enum { ZPSI_EAX = 0, ZPSI_EBX = 1, ZPSI_ECX = 2, ZPSI_EDX = 3 };

/* Valid blocks kept; more are counted in `dropped` (real stacks have 1-3). */
#define ZPSI_CPUID_STACK_MAX	16u
#define ZPSI_CPUID_SIG_LEN	12u

enum zpsi_cpuid_block_kind {
	ZPSI_CPUID_BLOCK_UNKNOWN = 0,	/* valid, signature not in our table */
	ZPSI_CPUID_BLOCK_HYPERVISOR,	/* a known hypervisor's identity */
	ZPSI_CPUID_BLOCK_PSI,		/* our own PSI block: not an identity */
};

/* One known signature. */
struct zpsi_cpuid_sig {
	char sig[ZPSI_CPUID_SIG_LEN + 1];	/* NUL-padded as in the registers */
	uint8_t kind;				/* enum zpsi_cpuid_block_kind */
	const char *name;			/* systemd-detect-virt's name, or ours */
	const char *what;			/* who presents it, for humans */
};

struct zpsi_cpuid_block {
	uint32_t base;
	uint32_t max_leaf;			/* EAX of leaf `base`, as reported */
	uint32_t sig_regs[3];			/* EBX, ECX, EDX as read */
	char signature[ZPSI_CPUID_SIG_LEN + 1];	/* printable, NUL-terminated */
	uint8_t kind;				/* enum zpsi_cpuid_block_kind */
	const char *name;			/* known hypervisor name, or NULL */
	const char *what;			/* description, or NULL */
};

struct zpsi_cpuid_psi {
	bool present;
	uint32_t base;
	uint32_t abi_version;		/* leaf B+1 EAX */
	uint32_t features;		/* leaf B+1 EBX, ZPSI_FEAT_* */
	uint32_t doorbell_port;		/* leaf B+1 ECX, 0 = none */
};

struct zpsi_cpuid_info {
	char vendor[ZPSI_CPUID_SIG_LEN + 1];	/* CPUID.0 EBX:EDX:ECX */
	uint32_t max_basic_leaf;
	bool hypervisor_bit;			/* CPUID.1:ECX[31] */
	uint32_t n_blocks;			/* valid blocks in stack[], base order */
	uint32_t rejected;			/* non-zero blocks that failed the rule */
	uint32_t dropped;			/* valid blocks past ZPSI_CPUID_STACK_MAX */
	struct zpsi_cpuid_block stack[ZPSI_CPUID_STACK_MAX];
	int outer;				/* index of the outermost known
						 * hypervisor in stack[], or -1 */
	struct zpsi_cpuid_psi psi;		/* the first valid PSI block */
	uint32_t psi_blocks;			/* PSI signatures seen (valid or not) */
};

/* Probe leaf 0, leaf 1 and every hypervisor block; fills *out completely.
 * Costs 2 + 256 + (PSI blocks) CPUID executions. */
void zpsi_cpuid_scan(zpsi_cpuid_fn cpuid, void *ctx, struct zpsi_cpuid_info *out);

/* The block-validation rule above, for one base (exposed for tests). */
bool zpsi_cpuid_block_valid(uint32_t base, const uint32_t regs[4]);

/* The outermost known hypervisor's name ("kvm", ...) or NULL. */
const char *zpsi_cpuid_outer_name(const struct zpsi_cpuid_info *info);

/* The signature table (for --list and the docs). */
size_t zpsi_cpuid_sig_count(void);
const struct zpsi_cpuid_sig *zpsi_cpuid_sig_at(size_t i);
const struct zpsi_cpuid_sig *zpsi_cpuid_sig_lookup(const uint32_t regs3[3]);

/* Feature bit names of the PSI block ("msr", "vmcall", ...), NULL past the
 * known bits. */
const char *zpsi_cpuid_psi_feature_name(unsigned bit);

/*
 * The scan result as one JSON object:
 *   {"hypervisor_bit":B,"vendor":S,"max_basic_leaf":"0x..","outer":S|null,
 *    "stack":[{"base":"0x..","signature":S,"max_leaf":"0x..","kind":S,
 *              "name":S|null}...],"rejected":N,"dropped":N,
 *    "psi":null|{"base":"0x..","abi_version":N,"features":"0x..",
 *                "feature_names":[S...],"doorbell_port":"0x.."}}
 * Writes at most `size` bytes including a terminating NUL (truncating, as
 * snprintf does) and returns the length of the whole document without the
 * NUL: a return >= size means the buffer was too small.
 */
size_t zpsi_cpuid_to_json(const struct zpsi_cpuid_info *info, char *buf, size_t size);

/* ------------------------------------------------------------------ */
/* Bounded JSON writer (freestanding; also used by the hosted detector) */
/* ------------------------------------------------------------------ */

/*
 * Commas are placed automatically: values written directly inside an
 * object or array are separated, and a value following zpsi_jw_key() is
 * not.  Nesting deeper than 63 levels is refused (sets `overflow`).
 * Strings are escaped completely: quote, backslash, control characters and
 * every byte >= 0x80 (as \u00XX, i.e. read as Latin-1) so that the output
 * is valid JSON whatever bytes a file or a guest supplied.
 */
struct zpsi_jw {
	char *buf;
	size_t size;		/* capacity of buf including the NUL */
	size_t len;		/* bytes the document needs so far */
	uint64_t items;		/* bit d: level d already holds an item */
	unsigned depth;
	bool after_key;
	bool overflow;		/* nesting too deep: document is invalid */
};

void zpsi_jw_init(struct zpsi_jw *w, char *buf, size_t size);
void zpsi_jw_object_begin(struct zpsi_jw *w);
void zpsi_jw_object_end(struct zpsi_jw *w);
void zpsi_jw_array_begin(struct zpsi_jw *w);
void zpsi_jw_array_end(struct zpsi_jw *w);
void zpsi_jw_key(struct zpsi_jw *w, const char *key);
void zpsi_jw_string(struct zpsi_jw *w, const char *s);			/* NULL -> null */
void zpsi_jw_string_n(struct zpsi_jw *w, const char *s, size_t n);	/* n bytes, NULs too */
void zpsi_jw_u64(struct zpsi_jw *w, uint64_t v);
void zpsi_jw_hex32(struct zpsi_jw *w, uint32_t v);			/* "0x%08x" */
void zpsi_jw_bool(struct zpsi_jw *w, bool v);
void zpsi_jw_null(struct zpsi_jw *w);
/* NUL-terminate (truncated if needed); returns the full length. */
size_t zpsi_jw_finish(struct zpsi_jw *w);

/* The "stack" array and the "psi" value of zpsi_cpuid_to_json(), for
 * documents that embed them (the hosted detector's output). */
void zpsi_cpuid_json_stack(struct zpsi_jw *w, const struct zpsi_cpuid_info *info);
void zpsi_cpuid_json_psi(struct zpsi_jw *w, const struct zpsi_cpuid_info *info);

#endif /* ZPSI_DETECT_CPUID_H */
