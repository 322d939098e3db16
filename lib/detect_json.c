/* SPDX-License-Identifier: MIT */
/*
 * detect_json.c - the detection result as one JSON document.
 *
 * Written with the freestanding zpsi_jw writer (zpsi/detect_cpuid.h) rather
 * than a library: the guest payload prints the CPUID part with the same
 * code, so the two documents cannot drift apart, and libzpsi keeps no
 * dependency beyond libc.  The writer escapes every byte outside printable
 * ASCII, so values read from files stay valid JSON whatever they hold.
 * Two passes: measure, then write into an exact allocation.
 */
#include <errno.h>
#include <stdlib.h>

#include "detect_internal.h"
#include "zpsi/util.h"

static void json_evidence(struct zpsi_jw *w, const struct zpsi_detect_evidence *e)
{
	zpsi_jw_object_begin(w);
	zpsi_jw_key(w, "source");
	zpsi_jw_string(w, e->source);
	zpsi_jw_key(w, "where");
	zpsi_jw_string(w, e->where);
	zpsi_jw_key(w, "value");
	zpsi_jw_string(w, e->value);
	zpsi_jw_key(w, "kind");
	zpsi_jw_string(w, zpsi_detect_ev_kind_name(e->kind));
	zpsi_jw_key(w, "name");
	zpsi_jw_string(w, e->name);
	zpsi_jw_key(w, "conclusion");
	zpsi_jw_string(w, e->conclusion);
	zpsi_jw_object_end(w);
}

static void json_cpuid(struct zpsi_jw *w, const struct zpsi_detect_result *r)
{
	if (!r->have_cpuid) {
		zpsi_jw_null(w);
		return;
	}
	zpsi_jw_object_begin(w);
	zpsi_jw_key(w, "vendor");
	zpsi_jw_string(w, r->cpuid.vendor);
	zpsi_jw_key(w, "max_basic_leaf");
	zpsi_jw_hex32(w, r->cpuid.max_basic_leaf);
	zpsi_jw_key(w, "hypervisor_bit");
	zpsi_jw_bool(w, r->cpuid.hypervisor_bit);
	zpsi_jw_key(w, "rejected_blocks");
	zpsi_jw_u64(w, r->cpuid.rejected);
	zpsi_jw_key(w, "dropped_blocks");
	zpsi_jw_u64(w, r->cpuid.dropped);
	zpsi_jw_object_end(w);
}

static size_t json_write(const struct zpsi_detect_result *r, char *buf, size_t size)
{
	struct zpsi_jw w;

	zpsi_jw_init(&w, buf, size);
	zpsi_jw_object_begin(&w);
	zpsi_jw_key(&w, "virtualized");
	zpsi_jw_bool(&w, r->virtualized);
	zpsi_jw_key(&w, "hypervisor");
	zpsi_jw_string(&w, r->hypervisor);
	zpsi_jw_key(&w, "cloud");
	zpsi_jw_string(&w, r->cloud);
	zpsi_jw_key(&w, "bare_metal_cloud");
	zpsi_jw_bool(&w, r->bare_metal_cloud);
	zpsi_jw_key(&w, "vmm");
	zpsi_jw_string(&w, r->vmm);
	zpsi_jw_key(&w, "xen_dom0");
	zpsi_jw_bool(&w, r->xen_dom0);
	zpsi_jw_key(&w, "reason");
	zpsi_jw_string(&w, r->reason);
	zpsi_jw_key(&w, "input");
	zpsi_jw_string(&w, r->input);
	zpsi_jw_key(&w, "cpuid");
	json_cpuid(&w, r);
	zpsi_jw_key(&w, "stack");
	if (r->have_cpuid)
		zpsi_cpuid_json_stack(&w, &r->cpuid);
	else {
		zpsi_jw_array_begin(&w);
		zpsi_jw_array_end(&w);
	}
	zpsi_jw_key(&w, "psi");
	if (r->have_cpuid)
		zpsi_cpuid_json_psi(&w, &r->cpuid);
	else
		zpsi_jw_null(&w);
	zpsi_jw_key(&w, "evidence");
	zpsi_jw_array_begin(&w);
	for (unsigned i = 0; i < r->n_evidence && i < ZPSI_DETECT_EVIDENCE_MAX; i++)
		json_evidence(&w, &r->evidence[i]);
	zpsi_jw_array_end(&w);
	zpsi_jw_key(&w, "evidence_dropped");
	zpsi_jw_u64(&w, r->evidence_dropped);
	zpsi_jw_key(&w, "contradictions");
	zpsi_jw_array_begin(&w);
	for (unsigned i = 0; i < r->n_contradictions && i < ZPSI_DETECT_CONTRA_MAX; i++) {
		zpsi_jw_object_begin(&w);
		zpsi_jw_key(&w, "id");
		zpsi_jw_string(&w, r->contradictions[i].id);
		zpsi_jw_key(&w, "detail");
		zpsi_jw_string(&w, r->contradictions[i].detail);
		zpsi_jw_object_end(&w);
	}
	zpsi_jw_array_end(&w);
	zpsi_jw_object_end(&w);
	return zpsi_jw_finish(&w);
}

int zpsi_detect_to_json(const struct zpsi_detect_result *r, char **ret)
{
	size_t need = json_write(r, NULL, 0);
	char *buf;

	if (need == (size_t)-1)
		return -EOVERFLOW;
	buf = malloc(need + 1);
	if (!buf)
		return -ENOMEM;
	if (json_write(r, buf, need + 1) != need) {
		free(buf);
		return -EIO;	/* cannot happen: the same input twice */
	}
	*ret = buf;
	return 0;
}
