/* SPDX-License-Identifier: MIT */
/*
 * detect.c - from evidence to answers: the cloud, the hypervisor (with the
 * reason), the VMM, bare-metal clouds, and the contradictions between
 * sources.  docs/detect.md states the precedence and why; the comments
 * here point at its rules (R1..R8).
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "detect_internal.h"
#include "zpsi/util.h"

static void copy_trunc(char *dst, size_t size, const char *src)
{
	size_t n = strlen(src);

	if (n >= size)
		n = size - 1;
	memcpy(dst, src, n);
	dst[n] = 0;
}

void detect_ev(struct detect_ctx *c, const char *source, const char *where, const char *value,
	       enum zpsi_ev_kind kind, const char *name, unsigned rank, const char *fmt, ...)
{
	struct zpsi_detect_result *r = c->r;
	struct zpsi_detect_evidence *e;
	va_list ap;

	if (r->n_evidence >= ZPSI_DETECT_EVIDENCE_MAX) {
		r->evidence_dropped++;
		return;
	}
	c->rank[r->n_evidence] = (uint8_t)(rank > 255 ? 255 : rank);
	e = &r->evidence[r->n_evidence++];
	e->source = source;
	copy_trunc(e->where, sizeof(e->where), where);
	copy_trunc(e->value, sizeof(e->value), value);
	e->kind = kind;
	e->name = name;
	va_start(ap, fmt);
	vsnprintf(e->conclusion, sizeof(e->conclusion), fmt, ap);
	va_end(ap);
}

static void contradiction(struct detect_ctx *c, const char *id, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void contradiction(struct detect_ctx *c, const char *id, const char *fmt, ...)
{
	struct zpsi_detect_result *r = c->r;
	va_list ap;

	if (r->n_contradictions >= ZPSI_DETECT_CONTRA_MAX)
		return;
	r->contradictions[r->n_contradictions].id = id;
	va_start(ap, fmt);
	vsnprintf(r->contradictions[r->n_contradictions].detail,
		  sizeof(r->contradictions[0].detail), fmt, ap);
	va_end(ap);
	r->n_contradictions++;
}

static void set_hv(struct detect_ctx *c, const char *name, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void set_hv(struct detect_ctx *c, const char *name, const char *fmt, ...)
{
	va_list ap;

	c->r->hypervisor = name;
	va_start(ap, fmt);
	vsnprintf(c->r->reason, sizeof(c->r->reason), fmt, ap);
	va_end(ap);
}

/* The lowest-ranked evidence of `kind` (optionally only names in `names`,
 * optionally not from `skip_source`), or NULL. */
static const struct zpsi_detect_evidence *best(const struct detect_ctx *c, enum zpsi_ev_kind kind,
					       const char *const *names, const char *skip_source)
{
	const struct zpsi_detect_evidence *found = NULL;
	unsigned found_rank = 256;

	for (unsigned i = 0; i < c->r->n_evidence; i++) {
		const struct zpsi_detect_evidence *e = &c->r->evidence[i];
		bool ok = !names;

		if (e->kind != kind || c->rank[i] >= found_rank)
			continue;
		if (skip_source && strcmp(e->source, skip_source) == 0)
			continue;
		for (const char *const *n = names; n && *n && e->name; n++)
			if (strcmp(*n, e->name) == 0)
				ok = true;
		if (!ok)
			continue;
		found = e;
		found_rank = c->rank[i];
	}
	return found;
}

static const char *const uml_only[] = { "uml", NULL };

/* R6: the cloud is the best-ranked cloud evidence; others disagreeing is
 * a contradiction, not a vote. */
static void decide_cloud(struct detect_ctx *c)
{
	const struct zpsi_detect_evidence *e = best(c, ZPSI_EV_CLOUD, NULL, NULL);

	c->r->cloud = e ? e->name : "none";
	if (!e)
		return;
	for (unsigned i = 0; i < c->r->n_evidence; i++) {
		const struct zpsi_detect_evidence *o = &c->r->evidence[i];

		if (o->kind == ZPSI_EV_CLOUD && strcmp(o->name, e->name) != 0) {
			contradiction(c, "cloud-mismatch", "%s (%s) names cloud %s, %s (%s) names %s",
				      e->where, e->source, e->name, o->where, o->source, o->name);
			break;
		}
	}
}

static void decide_hypervisor(struct detect_ctx *c)
{
	struct zpsi_detect_result *r = c->r;
	const char *outer = r->have_cpuid ? zpsi_cpuid_outer_name(&r->cpuid) : NULL;
	const struct cloud_info *cloud = detect_cloud_info(r->cloud);
	const struct zpsi_detect_evidence *e, *w;

	r->xen_dom0 = best(c, ZPSI_EV_DOM0, NULL, NULL) != NULL;

	/* R1: UML is a process; whatever CPUID and DMI say is its host. */
	e = best(c, ZPSI_EV_HV, uml_only, NULL);
	if (e) {
		set_hv(c, "uml", "%s says User-Mode Linux: the innermost layer, a process on its host",
		       e->where);
		return;
	}

	/* R2: CPUID's outermost known identity, unless it is an interface
	 * that the hypervisor another source names is known to present. */
	if (outer) {
		const struct zpsi_cpuid_block *b = &r->cpuid.stack[r->cpuid.outer];

		const char *const *emulators = detect_hv_emulators(outer);

		e = emulators ? best(c, ZPSI_EV_HV, emulators, "cpuid") : NULL;
		if (e) {
			const char *name = e->name;

			/* QEMU offers Hyper-V enlightenments only with KVM. */
			if (strcmp(outer, "microsoft") == 0 && strcmp(name, "qemu") == 0)
				name = "kvm";
			set_hv(c, name, "CPUID 0x%08x '%s' is an interface %s also presents, and %s "
			       "(%s) names %s", b->base, b->signature, e->name, e->where, e->value, e->name);
		} else {
			set_hv(c, outer, "CPUID 0x%08x '%s' is the outermost known hypervisor "
			       "signature (stack of %u)", b->base, b->signature, r->cpuid.n_blocks);
		}
		/* R3: the Xen control domain is the host side. */
		if (r->xen_dom0 && strcmp(r->hypervisor, "xen") == 0)
			set_hv(c, "none", "Xen control domain (dom0): it drives the hardware, the host "
			       "side of Xen (as systemd-detect-virt)");
		return;
	}
	if (r->xen_dom0) {
		set_hv(c, "none", "Xen control domain (dom0): it drives the hardware, the host side "
		       "of Xen (as systemd-detect-virt)");
		return;
	}

	/* R4: a source that names a hypervisor and proves a guest. */
	e = best(c, ZPSI_EV_HV, NULL, NULL);
	if (e) {
		if (strcmp(e->name, "qemu") == 0 && cloud && cloud->default_hv &&
		    strcmp(cloud->default_hv, "kvm") == 0)
			set_hv(c, "kvm", "%s (%s) names QEMU, and %s runs QEMU on KVM, never TCG",
			       e->where, e->value, cloud->name);
		else
			set_hv(c, e->name, "%s (%s): %s", e->where, e->value, e->conclusion);
		return;
	}

	/* R5: proof of a guest without a name; a vendor string, the VMM or
	 * the cloud may name it, or it stays vm-other. */
	e = best(c, ZPSI_EV_VM, NULL, NULL);
	if (!e) {
		w = best(c, ZPSI_EV_HV_WEAK, NULL, NULL);
		if (w)
			set_hv(c, "none", "only a vendor string (%s = %s) names a hypervisor, and no "
			       "CPUID bit, SMBIOS bit or VM product agrees", w->where, w->value);
		else
			set_hv(c, "none", "no source says this is a guest");
		return;
	}
	w = best(c, ZPSI_EV_HV_WEAK, NULL, NULL);
	if (w) {
		set_hv(c, w->name, "%s (%s) says a guest, and %s (%s) names %s", e->where, e->value,
		       w->where, w->value, w->name);
		return;
	}
	w = best(c, ZPSI_EV_VMM, NULL, NULL);
	if (w && detect_vmm_hypervisor(w->name)) {
		set_hv(c, detect_vmm_hypervisor(w->name), "%s (%s) says a guest, and the VMM %s runs "
		       "only on %s", e->where, e->value, w->name, detect_vmm_hypervisor(w->name));
		return;
	}
	if (cloud && cloud->default_hv) {
		set_hv(c, cloud->default_hv, "%s (%s) says a guest, and %s's guests run on %s",
		       e->where, e->value, cloud->name, cloud->default_hv);
		return;
	}
	set_hv(c, "vm-other", "%s (%s) says a guest, and no source names the hypervisor",
	       e->where, e->value);
}

/* R7: what other sources claim against the decision. */
static void find_contradictions(struct detect_ctx *c)
{
	struct zpsi_detect_result *r = c->r;
	const char *seen[ZPSI_DETECT_EVIDENCE_MAX];
	unsigned n_seen = 0;
	const struct zpsi_detect_evidence *e;

	for (unsigned i = 0; i < r->n_evidence; i++) {
		const struct zpsi_detect_evidence *o = &r->evidence[i];
		const char *against = r->hypervisor;
		bool dup = false;

		if (o->kind != ZPSI_EV_HV)
			continue;
		if (strcmp(against, "none") == 0 && r->xen_dom0)
			against = "xen";
		if (detect_hv_explains(against, o->name))
			continue;
		for (unsigned s = 0; s < n_seen; s++)
			dup |= strcmp(seen[s], o->name) == 0;
		if (dup)
			continue;
		seen[n_seen++] = o->name;
		contradiction(c, "hypervisor-mismatch", "%s (%s) says %s, decided %s: %s", o->where,
			      o->value, o->name, r->hypervisor, r->reason);
	}

	if (r->have_cpuid && !r->cpuid.hypervisor_bit && r->cpuid.outer >= 0)
		contradiction(c, "hidden-hypervisor-bit", "CPUID.1:ECX[31] is clear, yet 0x%08x answers "
			      "'%s': a hypervisor hiding the present bit",
			      r->cpuid.stack[r->cpuid.outer].base, r->cpuid.stack[r->cpuid.outer].signature);
	else if (r->have_cpuid && !r->cpuid.hypervisor_bit && r->virtualized &&
		 strcmp(r->hypervisor, "uml") != 0)
		contradiction(c, "hidden-hypervisor-bit", "CPUID.1:ECX[31] is clear and no hypervisor "
			      "block answers, yet %s", r->reason);

	e = best(c, ZPSI_EV_NOT_VM, NULL, NULL);
	if (e && r->virtualized)
		contradiction(c, "metal-vs-virtual", "%s (%s) says bare metal, decided %s: %s",
			      e->where, e->value, r->hypervisor, r->reason);

	if (r->have_cpuid && c->cpuinfo_flags && c->cpuinfo_hypervisor != r->cpuid.hypervisor_bit)
		contradiction(c, "cpuinfo-vs-cpuid", "/proc/cpuinfo %s the hypervisor flag but "
			      "CPUID.1:ECX[31] is %d (inputs from two machines, or a kernel override)",
			      c->cpuinfo_hypervisor ? "has" : "lacks", r->cpuid.hypervisor_bit);
}

int zpsi_detect_run(const struct zpsi_detect_source *src, struct zpsi_detect_result **ret)
{
	_cleanup_free_ struct zpsi_detect_result *r = NULL;
	struct detect_ctx c;
	const struct zpsi_detect_evidence *e;
	int err;

	if (!src || !src->read_file || !src->list_dir)
		return -EINVAL;
	r = calloc(1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	memset(&c, 0, sizeof(c));
	c.src = src;
	c.r = r;
	r->cpuid.outer = -1;
	copy_trunc(r->input, sizeof(r->input), src->label ? src->label : "");

	err = detect_collect(&c);
	if (err < 0)
		return err;
	decide_cloud(&c);
	decide_hypervisor(&c);
	r->virtualized = strcmp(r->hypervisor, "none") != 0;
	/* R6: a cloud machine that is no guest is a bare-metal instance. */
	r->bare_metal_cloud = strcmp(r->cloud, "none") != 0 && !r->virtualized;
	/* R8: the VMM, only inside a guest. */
	e = r->virtualized ? best(&c, ZPSI_EV_VMM, NULL, NULL) : NULL;
	r->vmm = e ? e->name : NULL;
	find_contradictions(&c);

	*ret = ZPSI_TAKE_PTR(r);
	return 0;
}

const char *zpsi_detect_ev_kind_name(enum zpsi_ev_kind k)
{
	static const char *const names[_ZPSI_EV_MAX] = {
		[ZPSI_EV_INFO] = "info",
		[ZPSI_EV_VM] = "vm",
		[ZPSI_EV_HV] = "hypervisor",
		[ZPSI_EV_HV_WEAK] = "vendor-only",
		[ZPSI_EV_NOT_VM] = "bare-metal",
		[ZPSI_EV_CLOUD] = "cloud",
		[ZPSI_EV_VMM] = "vmm",
		[ZPSI_EV_DOM0] = "xen-dom0",
		[ZPSI_EV_IGNORED] = "ignored",
	};

	return (unsigned)k < _ZPSI_EV_MAX ? names[k] : "unknown";
}
