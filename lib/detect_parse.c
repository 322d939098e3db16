/* SPDX-License-Identifier: MIT */
/*
 * detect_parse.c - parsers for the detector's inputs: `cpuid -r` dumps,
 * sysctl.txt, /proc/cpuinfo, SMBIOS type 0, ACPI table headers, Xen's
 * feature and capability files, and one-line sysfs values.
 *
 * Every input is untrusted (a sysroot can be anybody's tree): lines are
 * scanned within the given length (embedded NULs included), numbers are
 * parsed by hand with overflow checks (no sscanf), and every table is
 * capped.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "zpsi/detect.h"
#include "zpsi/util.h"

/* ------------------------------------------------------------------ */
/* Line cursor                                                         */
/* ------------------------------------------------------------------ */

struct cursor {
	const char *p, *end;
};

/* Next line without its '\n'; false at the end. */
static bool next_line(struct cursor *c, const char **line, size_t *n)
{
	const char *nl;

	if (c->p >= c->end)
		return false;
	nl = memchr(c->p, '\n', (size_t)(c->end - c->p));
	*line = c->p;
	*n = (size_t)((nl ? nl : c->end) - c->p);
	c->p = nl ? nl + 1 : c->end;
	return true;
}

static bool is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

static void trim(const char **s, size_t *n)
{
	while (*n && is_space(**s)) {
		(*s)++;
		(*n)--;
	}
	while (*n && is_space((*s)[*n - 1]))
		(*n)--;
}

static int hex_digit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* "0x" then 1..8 hex digits; advances *s.  False on anything else. */
static bool take_hex32(const char **s, const char *end, uint32_t *v)
{
	const char *p = *s;
	uint32_t x = 0;
	unsigned digits = 0;

	if (end - p < 3 || p[0] != '0' || (p[1] != 'x' && p[1] != 'X'))
		return false;
	p += 2;
	while (p < end && hex_digit(*p) >= 0) {
		if (++digits > 8)
			return false;
		x = (x << 4) | (uint32_t)hex_digit(*p++);
	}
	if (!digits)
		return false;
	*s = p;
	*v = x;
	return true;
}

static bool take_lit(const char **s, const char *end, const char *lit)
{
	size_t n = strlen(lit);

	if ((size_t)(end - *s) < n || memcmp(*s, lit, n) != 0)
		return false;
	*s += n;
	return true;
}

static bool take_spaces(const char **s, const char *end, bool required)
{
	const char *p = *s;

	while (p < end && is_space(*p))
		p++;
	if (required && p == *s)
		return false;
	*s = p;
	return true;
}

/* ------------------------------------------------------------------ */
/* cpuid -r                                                            */
/* ------------------------------------------------------------------ */

static bool parse_cpuid_line(const char *s, size_t n, struct zpsi_cpuid_entry *e)
{
	static const char *const reg_names[4] = { "eax=", "ebx=", "ecx=", "edx=" };
	const char *end = s + n;

	take_spaces(&s, end, false);
	if (!take_hex32(&s, end, &e->leaf) || !take_spaces(&s, end, true) ||
	    !take_hex32(&s, end, &e->subleaf) || !take_lit(&s, end, ":"))
		return false;
	for (unsigned i = 0; i < 4; i++)
		if (!take_spaces(&s, end, true) || !take_lit(&s, end, reg_names[i]) ||
		    !take_hex32(&s, end, &e->regs[i]))
			return false;
	take_spaces(&s, end, false);
	return s == end;
}

/* "CPU:" (cpuid -1) or "CPU 3:" (all CPUs). */
static bool is_cpu_header(const char *s, size_t n)
{
	trim(&s, &n);
	return n >= 4 && memcmp(s, "CPU", 3) == 0 && s[n - 1] == ':';
}

static const struct zpsi_cpuid_entry *dump_find(const struct zpsi_cpuid_dump *d,
						 uint32_t leaf, uint32_t subleaf, bool any_sub)
{
	for (size_t i = 0; i < d->n; i++)
		if (d->entries[i].leaf == leaf && (any_sub || d->entries[i].subleaf == subleaf))
			return &d->entries[i];
	return NULL;
}

int zpsi_cpuid_dump_parse(const char *text, size_t len, struct zpsi_cpuid_dump *ret)
{
	struct zpsi_cpuid_dump d = { 0, NULL };
	struct cursor c = { text, text + len };
	size_t cap = 0;
	const char *line;
	size_t n;

	while (next_line(&c, &line, &n)) {
		struct zpsi_cpuid_entry e;

		/* Only the first CPU: a dump of all CPUs repeats every leaf. */
		if (is_cpu_header(line, n)) {
			if (d.n > 0)
				break;
			continue;
		}
		if (n > 256 || !parse_cpuid_line(line, n, &e))
			continue;
		if (dump_find(&d, e.leaf, e.subleaf, false))
			continue;	/* first value wins */
		if (d.n >= ZPSI_CPUID_DUMP_MAX)
			break;
		if (d.n == cap) {
			size_t ncap = cap ? cap * 2 : 64;
			struct zpsi_cpuid_entry *ne;

			if (ncap > ZPSI_CPUID_DUMP_MAX)
				ncap = ZPSI_CPUID_DUMP_MAX;
			ne = realloc(d.entries, ncap * sizeof(*ne));
			if (!ne) {
				free(d.entries);
				return -ENOMEM;
			}
			d.entries = ne;
			cap = ncap;
		}
		d.entries[d.n++] = e;
	}
	if (d.n == 0) {
		free(d.entries);
		return -EBADMSG;
	}
	*ret = d;
	return 0;
}

void zpsi_cpuid_dump_done(struct zpsi_cpuid_dump *d)
{
	free(d->entries);
	d->entries = NULL;
	d->n = 0;
}

void zpsi_cpuid_dump_lookup(void *ctx, uint32_t leaf, uint32_t subleaf, uint32_t out[4])
{
	const struct zpsi_cpuid_dump *d = ctx;
	const struct zpsi_cpuid_entry *e = dump_find(d, leaf, subleaf, false);

	if (!e)
		e = dump_find(d, leaf, 0, true);
	for (unsigned i = 0; i < 4; i++)
		out[i] = e ? e->regs[i] : 0;
}

/* ------------------------------------------------------------------ */
/* sysctl.txt                                                          */
/* ------------------------------------------------------------------ */

static bool sysctl_name_ok(const char *s, size_t n)
{
	if (n == 0 || n > 128)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '.' || c == '_' || c == '-' || c == '%'))
			return false;
	}
	return true;
}

void zpsi_sysctl_table_done(struct zpsi_sysctl_table *t)
{
	for (size_t i = 0; i < t->n; i++) {
		free(t->kv[i].name);
		free(t->kv[i].value);
	}
	free(t->kv);
	t->kv = NULL;
	t->n = 0;
}

int zpsi_sysctl_parse(const char *text, size_t len, struct zpsi_sysctl_table *ret)
{
	struct zpsi_sysctl_table t = { 0, NULL };
	struct cursor c = { text, text + len };
	size_t cap = 0;
	const char *line;
	size_t n;

	while (next_line(&c, &line, &n) && t.n < ZPSI_SYSCTL_MAX) {
		const char *sep, *eq, *colon, *name, *value;
		char key[129];
		size_t nlen, vlen;

		trim(&line, &n);
		if (n == 0 || line[0] == '#')
			continue;
		/* The first '=' or ':' splits (FreeBSD prints "name: value"). */
		eq = memchr(line, '=', n);
		colon = memchr(line, ':', n);
		sep = !eq ? colon : !colon ? eq : eq < colon ? eq : colon;
		if (!sep)
			continue;
		name = line;
		nlen = (size_t)(sep - line);
		value = sep + 1;
		vlen = n - nlen - 1;
		trim(&name, &nlen);
		trim(&value, &vlen);
		if (!sysctl_name_ok(name, nlen))
			continue;
		memcpy(key, name, nlen);	/* nlen <= 128 */
		key[nlen] = 0;
		if (zpsi_sysctl_get(&t, key))
			continue;	/* first value wins */
		if (vlen >= ZPSI_SYSCTL_VALUE_MAX)
			vlen = ZPSI_SYSCTL_VALUE_MAX - 1;
		if (t.n == cap) {
			size_t ncap = cap ? cap * 2 : 16;
			struct zpsi_sysctl_kv *nkv = realloc(t.kv, ncap * sizeof(*nkv));

			if (!nkv)
				goto oom;
			t.kv = nkv;
			cap = ncap;
		}
		t.kv[t.n].name = strndup(name, nlen);
		t.kv[t.n].value = strndup(value, vlen);
		if (!t.kv[t.n].name || !t.kv[t.n].value) {
			free(t.kv[t.n].name);
			free(t.kv[t.n].value);
			goto oom;
		}
		t.n++;
	}
	*ret = t;
	return 0;
oom:
	zpsi_sysctl_table_done(&t);
	return -ENOMEM;
}

const char *zpsi_sysctl_get(const struct zpsi_sysctl_table *t, const char *name)
{
	for (size_t i = 0; i < t->n; i++)
		if (strcmp(t->kv[i].name, name) == 0)
			return t->kv[i].value;
	return NULL;
}

/* ------------------------------------------------------------------ */
/* /proc/cpuinfo                                                       */
/* ------------------------------------------------------------------ */

static void copy_field(char *dst, size_t size, const char *s, size_t n)
{
	if (n >= size)
		n = size - 1;
	memcpy(dst, s, n);
	dst[n] = 0;
}

static bool has_token(const char *s, size_t n, const char *tok)
{
	size_t tlen = strlen(tok), i = 0;

	while (i < n) {
		size_t start;

		while (i < n && is_space(s[i]))
			i++;
		start = i;
		while (i < n && !is_space(s[i]))
			i++;
		if (i - start == tlen && memcmp(s + start, tok, tlen) == 0)
			return true;
	}
	return false;
}

int zpsi_cpuinfo_parse(const char *text, size_t len, struct zpsi_cpuinfo *ret)
{
	struct zpsi_cpuinfo ci;
	struct cursor c = { text, text + len };
	bool seen = false;
	const char *line;
	size_t n;

	memset(&ci, 0, sizeof(ci));
	while (next_line(&c, &line, &n)) {
		const char *colon, *key, *val;
		size_t klen, vlen;

		trim(&line, &n);
		if (n == 0) {
			if (seen)
				break;	/* end of the first processor's block */
			continue;
		}
		seen = true;
		colon = memchr(line, ':', n);
		if (!colon)
			continue;
		key = line;
		klen = (size_t)(colon - line);
		val = colon + 1;
		vlen = n - klen - 1;
		trim(&key, &klen);
		trim(&val, &vlen);
		if (klen == 9 && memcmp(key, "vendor_id", 9) == 0) {
			copy_field(ci.vendor_id, sizeof(ci.vendor_id), val, vlen);
		} else if (klen == 10 && memcmp(key, "model name", 10) == 0) {
			copy_field(ci.model_name, sizeof(ci.model_name), val, vlen);
		} else if (klen == 5 && memcmp(key, "flags", 5) == 0) {
			ci.has_flags = true;
			ci.hypervisor_flag = has_token(val, vlen, "hypervisor");
		}
	}
	*ret = ci;
	return 0;
}

/* ------------------------------------------------------------------ */
/* SMBIOS, ACPI, Xen                                                   */
/* ------------------------------------------------------------------ */

#define SMBIOS_T0_EXT2		0x13	/* BIOS Characteristics Extension Byte 2 */
#define SMBIOS_T0_EXT2_VM	(1u << 4)

int zpsi_smbios_vm_bit(const uint8_t *raw, size_t len)
{
	/* raw[1] is the formatted length: 0x12 + number of extension bytes. */
	if (len <= SMBIOS_T0_EXT2 || raw[0] != 0 || raw[1] <= SMBIOS_T0_EXT2)
		return -EBADMSG;
	return (raw[SMBIOS_T0_EXT2] & SMBIOS_T0_EXT2_VM) ? 1 : 0;
}

static void acpi_field(char *dst, const uint8_t *src, size_t n)
{
	for (size_t i = 0; i < n; i++)
		dst[i] = (src[i] >= 0x20 && src[i] < 0x7F) ? (char)src[i] : (src[i] ? '?' : ' ');
	while (n && dst[n - 1] == ' ')
		n--;
	dst[n] = 0;
}

int zpsi_acpi_header_parse(const uint8_t *raw, size_t len, struct zpsi_acpi_header *ret)
{
	struct zpsi_acpi_header h;

	if (len < 36)	/* the fixed header of every table */
		return -EBADMSG;
	acpi_field(h.signature, raw, 4);
	acpi_field(h.oem_id, raw + 10, 6);
	acpi_field(h.oem_table_id, raw + 16, 8);
	acpi_field(h.creator_id, raw + 28, 4);
	*ret = h;
	return 0;
}

#define XENFEAT_DOM0 11	/* xen/include/public/features.h */

int zpsi_xen_features_dom0(const char *text, size_t len)
{
	const char *s = text;
	uint64_t v = 0;
	size_t n = len, digits = 0;

	trim(&s, &n);
	if (n >= 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
		s += 2;
		n -= 2;
	}
	for (size_t i = 0; i < n; i++) {
		int d = hex_digit(s[i]);

		if (d < 0 || ++digits > 16)
			return -EBADMSG;
		v = (v << 4) | (uint64_t)d;
	}
	if (!digits)
		return -EBADMSG;
	return (v >> XENFEAT_DOM0) & 1;
}

int zpsi_xen_caps_dom0(const char *text, size_t len)
{
	size_t i = 0;

	while (i < len) {
		size_t start;

		while (i < len && (text[i] == ',' || is_space(text[i]) || text[i] == '\n'))
			i++;
		start = i;
		while (i < len && text[i] != ',' && !is_space(text[i]) && text[i] != '\n')
			i++;
		if (i - start == 9 && memcmp(text + start, "control_d", 9) == 0)
			return 1;
	}
	return 0;
}

size_t zpsi_detect_clean_value(const char *raw, size_t len, char *out, size_t size)
{
	const char *nl = memchr(raw, '\n', len);
	size_t o = 0, end = nl ? (size_t)(nl - raw) : len, start = 0;

	if (size == 0)
		return 0;
	/* Trailing NULs (device-tree strings) and whitespace go first. */
	while (end > 0 && (raw[end - 1] == 0 || is_space(raw[end - 1])))
		end--;
	while (start < end && is_space(raw[start]))
		start++;
	for (size_t i = start; i < end && o + 1 < size; i++)
		out[o++] = raw[i] ? raw[i] : ',';	/* "a\0b" string lists */
	while (o > 0 && is_space(out[o - 1]))	/* truncation can end on a space */
		o--;
	out[o] = 0;
	return o;
}
