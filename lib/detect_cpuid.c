/* SPDX-License-Identifier: MIT */
/*
 * detect_cpuid.c - hypervisor leaf blocks, the PSI block, and a bounded
 * JSON writer.  FREESTANDING (see zpsi/detect_cpuid.h): no libc calls, no
 * allocation, so that a micro-VM guest payload links it unchanged.
 */
#include "zpsi/detect_cpuid.h"

/*
 * Known signatures, exactly as the 12 register bytes read (NUL padding
 * included).  Names follow systemd-detect-virt where it has one; `what` is
 * who presents the signature.  Several are also *emulated* by other
 * hypervisors (Hyper-V's by KVM, Xen, VirtualBox; KVM's by VirtualBox):
 * the hosted detector resolves that with other evidence (docs/detect.md).
 */
static const struct zpsi_cpuid_sig cpuid_sigs[] = {
	{ "KVMKVMKVM\0\0\0", ZPSI_CPUID_BLOCK_HYPERVISOR, "kvm",
	  "Linux KVM (also VirtualBox's KVM paravirt provider)" },
	{ "Linux KVM Hv", ZPSI_CPUID_BLOCK_HYPERVISOR, "kvm",
	  "Linux KVM's Hyper-V emulation" },
	{ "TCGTCGTCGTCG", ZPSI_CPUID_BLOCK_HYPERVISOR, "qemu",
	  "QEMU TCG (no hardware acceleration)" },
	{ "XenVMMXenVMM", ZPSI_CPUID_BLOCK_HYPERVISOR, "xen", "Xen" },
	{ "Microsoft Hv", ZPSI_CPUID_BLOCK_HYPERVISOR, "microsoft",
	  "Hyper-V interface (Hyper-V, or emulated by KVM, Xen Viridian, VirtualBox)" },
	{ "VMwareVMware", ZPSI_CPUID_BLOCK_HYPERVISOR, "vmware", "VMware" },
	{ "bhyve bhyve ", ZPSI_CPUID_BLOCK_HYPERVISOR, "bhyve", "FreeBSD bhyve" },
	{ "BHyVE BHyVE ", ZPSI_CPUID_BLOCK_HYPERVISOR, "bhyve", "FreeBSD bhyve (older releases)" },
	{ "OpenBSDVMM58", ZPSI_CPUID_BLOCK_HYPERVISOR, "vmm", "OpenBSD vmm(4)" },
	{ "ACRNACRNACRN", ZPSI_CPUID_BLOCK_HYPERVISOR, "acrn", "ACRN" },
	{ "QNXQVMBSQG\0\0", ZPSI_CPUID_BLOCK_HYPERVISOR, "qnx", "QNX hypervisor" },
	{ " QNXQVMBSQG ", ZPSI_CPUID_BLOCK_HYPERVISOR, "qnx", "QNX hypervisor (space-padded)" },
	{ "SRESRESRESRE", ZPSI_CPUID_BLOCK_HYPERVISOR, "sre",
	  "Lockheed Martin Hardened Security for Intel Processors" },
	{ "Apple VZ\0\0\0\0", ZPSI_CPUID_BLOCK_HYPERVISOR, "apple",
	  "Apple Virtualization.framework" },
	{ "VBoxVBoxVBox", ZPSI_CPUID_BLOCK_HYPERVISOR, "oracle",
	  "Oracle VirtualBox (Hyper-V provider)" },
	{ "___ NVMM ___", ZPSI_CPUID_BLOCK_HYPERVISOR, "nvmm", "NetBSD NVMM" },
	{ "Jailhouse\0\0\0", ZPSI_CPUID_BLOCK_HYPERVISOR, "jailhouse",
	  "Siemens Jailhouse partitioning hypervisor" },
	{ "LKVMLKVMLKVM", ZPSI_CPUID_BLOCK_HYPERVISOR, "kvm", "kvmtool (lkvm) on KVM" },
	{ " prl hyperv ", ZPSI_CPUID_BLOCK_HYPERVISOR, "parallels", "Parallels" },
	/* Parallels Desktop's byte-swapped variant (virt-what knows it too). */
	{ " lrpepyh  vr", ZPSI_CPUID_BLOCK_HYPERVISOR, "parallels", "Parallels" },
	{ "ZIMEPSI\0\0\0\0\0", ZPSI_CPUID_BLOCK_PSI, 0,
	  "zpsi PSI interface (docs/abi.md)" },
};

#define CPUID_SIG_COUNT (sizeof(cpuid_sigs) / sizeof(cpuid_sigs[0]))

static const char *const psi_feature_names[] = { "msr", "vmcall", "doorbell", "region", "balloon" };

size_t zpsi_cpuid_sig_count(void)
{
	return CPUID_SIG_COUNT;
}

const struct zpsi_cpuid_sig *zpsi_cpuid_sig_at(size_t i)
{
	return i < CPUID_SIG_COUNT ? &cpuid_sigs[i] : 0;
}

const char *zpsi_cpuid_psi_feature_name(unsigned bit)
{
	return bit < sizeof(psi_feature_names) / sizeof(psi_feature_names[0]) ?
		psi_feature_names[bit] : 0;
}

/* Little-endian register bytes, independent of the host's byte order. */
static void regs_to_bytes(const uint32_t regs3[3], char out[ZPSI_CPUID_SIG_LEN])
{
	for (unsigned r = 0; r < 3; r++)
		for (unsigned b = 0; b < 4; b++)
			out[r * 4 + b] = (char)((regs3[r] >> (8 * b)) & 0xFF);
}

static bool bytes_equal(const char *a, const char *b, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (a[i] != b[i])
			return false;
	return true;
}

const struct zpsi_cpuid_sig *zpsi_cpuid_sig_lookup(const uint32_t regs3[3])
{
	char sig[ZPSI_CPUID_SIG_LEN];

	regs_to_bytes(regs3, sig);
	for (size_t i = 0; i < CPUID_SIG_COUNT; i++)
		if (bytes_equal(sig, cpuid_sigs[i].sig, ZPSI_CPUID_SIG_LEN))
			return &cpuid_sigs[i];
	return 0;
}

/* Rule 1 of the header: printable, then only NUL padding, some alnum. */
static bool sig_printable(const uint32_t regs3[3])
{
	char sig[ZPSI_CPUID_SIG_LEN];
	bool padding = false, alnum = false;

	regs_to_bytes(regs3, sig);
	for (unsigned i = 0; i < ZPSI_CPUID_SIG_LEN; i++) {
		unsigned char c = (unsigned char)sig[i];

		if (c == 0) {
			padding = true;
			continue;
		}
		if (padding || c < 0x20 || c > 0x7E)
			return false;
		if ((c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z'))
			alnum = true;
	}
	return alnum;
}

bool zpsi_cpuid_block_valid(uint32_t base, const uint32_t regs[4])
{
	uint32_t eax = regs[ZPSI_EAX];

	if (!sig_printable(&regs[ZPSI_EBX]))
		return false;
	if (eax >= base && eax - base <= 0xFF)
		return true;
	/* Some hypervisors report 0 (old KVM hosts, per Documentation/virt/
	 * kvm/x86/cpuid.rst; OpenBSD vmm(4) always): trusted only for a
	 * signature we know, which garbage does not spell. */
	return eax == 0 && zpsi_cpuid_sig_lookup(&regs[ZPSI_EBX]) != 0;
}

static void zero_bytes(void *p, size_t n)
{
	volatile unsigned char *c = p;	/* volatile: never turned into memset */

	for (size_t i = 0; i < n; i++)
		c[i] = 0;
}

static void fill_block(struct zpsi_cpuid_block *b, uint32_t base, const uint32_t regs[4])
{
	const struct zpsi_cpuid_sig *s = zpsi_cpuid_sig_lookup(&regs[ZPSI_EBX]);
	char sig[ZPSI_CPUID_SIG_LEN];

	regs_to_bytes(&regs[ZPSI_EBX], sig);
	b->base = base;
	b->max_leaf = regs[ZPSI_EAX];
	for (unsigned i = 0; i < 3; i++)
		b->sig_regs[i] = regs[ZPSI_EBX + i];
	for (unsigned i = 0; i < ZPSI_CPUID_SIG_LEN; i++)
		b->signature[i] = sig[i];
	b->signature[ZPSI_CPUID_SIG_LEN] = 0;
	b->kind = s ? s->kind : ZPSI_CPUID_BLOCK_UNKNOWN;
	b->name = s ? s->name : 0;
	b->what = s ? s->what : 0;
}

/* docs/abi.md "Discovery": leaf B+1 holds version, features, doorbell port.
 * A block whose highest leaf does not reach B+1 has no info leaf. */
static void read_psi(zpsi_cpuid_fn cpuid, void *ctx, const struct zpsi_cpuid_block *b,
		     struct zpsi_cpuid_psi *psi)
{
	uint32_t regs[4] = { 0, 0, 0, 0 };

	if (b->max_leaf < b->base + ZPSI_CPUID_INFO_OFFSET)
		return;
	cpuid(ctx, b->base + ZPSI_CPUID_INFO_OFFSET, 0, regs);
	if (regs[ZPSI_EAX] == 0)	/* version 0 does not exist */
		return;
	psi->present = true;
	psi->base = b->base;
	psi->abi_version = regs[ZPSI_EAX];
	psi->features = regs[ZPSI_EBX];
	psi->doorbell_port = regs[ZPSI_ECX];
}

void zpsi_cpuid_scan(zpsi_cpuid_fn cpuid, void *ctx, struct zpsi_cpuid_info *out)
{
	uint32_t regs[4] = { 0, 0, 0, 0 };
	uint32_t vendor[3];

	zero_bytes(out, sizeof(*out));
	out->outer = -1;

	cpuid(ctx, 0, 0, regs);
	out->max_basic_leaf = regs[ZPSI_EAX];
	vendor[0] = regs[ZPSI_EBX];	/* "Genu" "ineI" "ntel": EBX, EDX, ECX */
	vendor[1] = regs[ZPSI_EDX];
	vendor[2] = regs[ZPSI_ECX];
	regs_to_bytes(vendor, out->vendor);
	for (unsigned i = 0; i < ZPSI_CPUID_SIG_LEN; i++) {
		unsigned char c = (unsigned char)out->vendor[i];

		if (c && (c < 0x20 || c > 0x7E))
			out->vendor[i] = '?';	/* keep it a printable string */
	}
	out->vendor[ZPSI_CPUID_SIG_LEN] = 0;

	if (out->max_basic_leaf >= ZPSI_CPUID_FEATURES_LEAF) {
		cpuid(ctx, ZPSI_CPUID_FEATURES_LEAF, 0, regs);
		out->hypervisor_bit = (regs[ZPSI_ECX] & ZPSI_CPUID_1_ECX_HYPERVISOR) != 0;
	}

	for (uint32_t k = 0; k < ZPSI_CPUID_HV_BLOCKS; k++) {
		uint32_t base = ZPSI_CPUID_HV_FIRST + k * ZPSI_CPUID_HV_STEP;
		struct zpsi_cpuid_block b;

		regs[0] = regs[1] = regs[2] = regs[3] = 0;
		cpuid(ctx, base, 0, regs);
		if (!zpsi_cpuid_block_valid(base, regs)) {
			if (regs[0] | regs[1] | regs[2] | regs[3])
				out->rejected++;
			continue;
		}
		fill_block(&b, base, regs);
		if (b.kind == ZPSI_CPUID_BLOCK_PSI) {
			/* docs/abi.md 2: no interface without the present bit. */
			out->psi_blocks++;
			if (!out->psi.present && out->hypervisor_bit)
				read_psi(cpuid, ctx, &b, &out->psi);
		}
		if (out->n_blocks >= ZPSI_CPUID_STACK_MAX) {
			out->dropped++;
			continue;
		}
		out->stack[out->n_blocks] = b;
		/* Bases ascend, so the last known identity is the outermost. */
		if (b.kind == ZPSI_CPUID_BLOCK_HYPERVISOR)
			out->outer = (int)out->n_blocks;
		out->n_blocks++;
	}
}

const char *zpsi_cpuid_outer_name(const struct zpsi_cpuid_info *info)
{
	if (info->outer < 0 || (uint32_t)info->outer >= info->n_blocks)
		return 0;
	return info->stack[info->outer].name;
}

/* ------------------------------------------------------------------ */
/* JSON writer                                                         */
/* ------------------------------------------------------------------ */

#define JW_MAX_DEPTH 63u

void zpsi_jw_init(struct zpsi_jw *w, char *buf, size_t size)
{
	w->buf = buf;
	w->size = size;
	w->len = 0;
	w->items = 0;
	w->depth = 0;
	w->after_key = false;
	w->overflow = false;
	if (buf && size)
		buf[0] = 0;
}

/* Every byte goes through here: stored while it fits (leaving room for
 * the NUL), counted always. */
static void jw_putc(struct zpsi_jw *w, char c)
{
	if (w->buf && w->len + 1 < w->size)
		w->buf[w->len] = c;
	if (w->len != (size_t)-1)
		w->len++;
}

static void jw_puts(struct zpsi_jw *w, const char *s)
{
	while (*s)
		jw_putc(w, *s++);
}

/* Separator before a value or a key at the current level. */
static void jw_sep(struct zpsi_jw *w)
{
	uint64_t bit;

	if (w->after_key) {
		w->after_key = false;
		return;
	}
	if (w->depth == 0)
		return;
	bit = 1ull << w->depth;
	if (w->items & bit)
		jw_putc(w, ',');
	w->items |= bit;
}

static void jw_open(struct zpsi_jw *w, char c)
{
	jw_sep(w);
	jw_putc(w, c);
	if (w->depth >= JW_MAX_DEPTH) {
		w->overflow = true;
		return;
	}
	w->depth++;
	w->items &= ~(1ull << w->depth);
}

static void jw_close(struct zpsi_jw *w, char c)
{
	jw_putc(w, c);
	if (w->depth > 0)
		w->depth--;
	w->after_key = false;
}

void zpsi_jw_object_begin(struct zpsi_jw *w) { jw_open(w, '{'); }
void zpsi_jw_object_end(struct zpsi_jw *w) { jw_close(w, '}'); }
void zpsi_jw_array_begin(struct zpsi_jw *w) { jw_open(w, '['); }
void zpsi_jw_array_end(struct zpsi_jw *w) { jw_close(w, ']'); }

static const char jw_hex[] = "0123456789abcdef";

static void jw_quoted(struct zpsi_jw *w, const char *s, size_t n)
{
	jw_putc(w, '"');
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == '"' || c == '\\') {
			jw_putc(w, '\\');
			jw_putc(w, (char)c);
		} else if (c == '\n') {
			jw_puts(w, "\\n");
		} else if (c == '\t') {
			jw_puts(w, "\\t");
		} else if (c < 0x20 || c >= 0x7F) {
			jw_puts(w, "\\u00");
			jw_putc(w, jw_hex[c >> 4]);
			jw_putc(w, jw_hex[c & 0xF]);
		} else {
			jw_putc(w, (char)c);
		}
	}
	jw_putc(w, '"');
}

static size_t jw_strlen(const char *s)
{
	size_t n = 0;

	while (s[n])
		n++;
	return n;
}

void zpsi_jw_key(struct zpsi_jw *w, const char *key)
{
	jw_sep(w);
	jw_quoted(w, key, jw_strlen(key));
	jw_putc(w, ':');
	w->after_key = true;
}

void zpsi_jw_string_n(struct zpsi_jw *w, const char *s, size_t n)
{
	jw_sep(w);
	jw_quoted(w, s, n);
}

void zpsi_jw_string(struct zpsi_jw *w, const char *s)
{
	if (!s) {
		zpsi_jw_null(w);
		return;
	}
	zpsi_jw_string_n(w, s, jw_strlen(s));
}

void zpsi_jw_u64(struct zpsi_jw *w, uint64_t v)
{
	char digits[20];
	unsigned n = 0;

	jw_sep(w);
	do {
		digits[n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	while (n)
		jw_putc(w, digits[--n]);
}

void zpsi_jw_hex32(struct zpsi_jw *w, uint32_t v)
{
	jw_sep(w);
	jw_puts(w, "\"0x");
	for (int shift = 28; shift >= 0; shift -= 4)
		jw_putc(w, jw_hex[(v >> shift) & 0xF]);
	jw_putc(w, '"');
}

void zpsi_jw_bool(struct zpsi_jw *w, bool v)
{
	jw_sep(w);
	jw_puts(w, v ? "true" : "false");
}

void zpsi_jw_null(struct zpsi_jw *w)
{
	jw_sep(w);
	jw_puts(w, "null");
}

size_t zpsi_jw_finish(struct zpsi_jw *w)
{
	if (w->buf && w->size) {
		size_t end = w->len < w->size ? w->len : w->size - 1;

		w->buf[end] = 0;
	}
	return w->len;
}

/* ------------------------------------------------------------------ */
/* The scan result as JSON                                             */
/* ------------------------------------------------------------------ */

static const char *block_kind_name(uint8_t kind)
{
	switch (kind) {
	case ZPSI_CPUID_BLOCK_HYPERVISOR: return "hypervisor";
	case ZPSI_CPUID_BLOCK_PSI: return "psi";
	default: return "unknown";
	}
}

static void json_block(struct zpsi_jw *w, const struct zpsi_cpuid_block *b)
{
	zpsi_jw_object_begin(w);
	zpsi_jw_key(w, "base");
	zpsi_jw_hex32(w, b->base);
	zpsi_jw_key(w, "signature");
	zpsi_jw_string(w, b->signature);	/* NUL padding ends the string */
	zpsi_jw_key(w, "max_leaf");
	zpsi_jw_hex32(w, b->max_leaf);
	zpsi_jw_key(w, "kind");
	zpsi_jw_string(w, block_kind_name(b->kind));
	zpsi_jw_key(w, "name");
	zpsi_jw_string(w, b->name);
	zpsi_jw_object_end(w);
}

static void json_psi(struct zpsi_jw *w, const struct zpsi_cpuid_psi *psi)
{
	if (!psi->present) {
		zpsi_jw_null(w);
		return;
	}
	zpsi_jw_object_begin(w);
	zpsi_jw_key(w, "base");
	zpsi_jw_hex32(w, psi->base);
	zpsi_jw_key(w, "abi_version");
	zpsi_jw_u64(w, psi->abi_version);
	zpsi_jw_key(w, "features");
	zpsi_jw_hex32(w, psi->features);
	zpsi_jw_key(w, "feature_names");
	zpsi_jw_array_begin(w);
	for (unsigned bit = 0; bit < 32; bit++)
		if (psi->features & (1u << bit))
			zpsi_jw_string(w, zpsi_cpuid_psi_feature_name(bit) ?
					  zpsi_cpuid_psi_feature_name(bit) : "unknown");
	zpsi_jw_array_end(w);
	zpsi_jw_key(w, "doorbell_port");
	zpsi_jw_hex32(w, psi->doorbell_port);
	zpsi_jw_object_end(w);
}

/* Shared with the hosted detector so both print the same shapes. */
void zpsi_cpuid_json_stack(struct zpsi_jw *w, const struct zpsi_cpuid_info *info)
{
	zpsi_jw_array_begin(w);
	for (uint32_t i = 0; i < info->n_blocks && i < ZPSI_CPUID_STACK_MAX; i++)
		json_block(w, &info->stack[i]);
	zpsi_jw_array_end(w);
}

void zpsi_cpuid_json_psi(struct zpsi_jw *w, const struct zpsi_cpuid_info *info)
{
	json_psi(w, &info->psi);
}

size_t zpsi_cpuid_to_json(const struct zpsi_cpuid_info *info, char *buf, size_t size)
{
	struct zpsi_jw w;

	zpsi_jw_init(&w, buf, size);
	zpsi_jw_object_begin(&w);
	zpsi_jw_key(&w, "hypervisor_bit");
	zpsi_jw_bool(&w, info->hypervisor_bit);
	zpsi_jw_key(&w, "vendor");
	zpsi_jw_string(&w, info->vendor);
	zpsi_jw_key(&w, "max_basic_leaf");
	zpsi_jw_hex32(&w, info->max_basic_leaf);
	zpsi_jw_key(&w, "outer");
	zpsi_jw_string(&w, zpsi_cpuid_outer_name(info));
	zpsi_jw_key(&w, "stack");
	zpsi_cpuid_json_stack(&w, info);
	zpsi_jw_key(&w, "rejected");
	zpsi_jw_u64(&w, info->rejected);
	zpsi_jw_key(&w, "dropped");
	zpsi_jw_u64(&w, info->dropped);
	zpsi_jw_key(&w, "psi");
	zpsi_cpuid_json_psi(&w, info);
	zpsi_jw_object_end(&w);
	return zpsi_jw_finish(&w);
}
