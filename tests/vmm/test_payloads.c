/* SPDX-License-Identifier: MIT */
/*
 * test_payloads.c - the workload over each report path (hypercall, MSR,
 * region) and each profile, and the hostile guest (faults): undefined
 * MSRs, a hypercall flood against a rate limit, random registers, garbage
 * in the region, stray ports and control characters on the console.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vmmtest.h"

/* Progress lines: ops strictly increasing by 5000; ratios returned. */
static unsigned check_progress(const char *out, const char *what, long long ratios[], unsigned max)
{
	unsigned n = 0;
	long long last_ops = 0;

	for (const char *l = strstr(out, "progress "); l; l = strstr(l + 1, "\nprogress ")) {
		long long ops;
		const char *r;

		if (*l == '\n')
			l++;
		ops = vt_field(l, "ops");
		VT_CHECK(ops == last_ops + 5000, "%s: progress ops %lld after %lld", what, ops, last_ops);
		VT_CHECK(vt_field(l, "committed") + vt_field(l, "deferred") == ops, "%s: counts add up", what);
		last_ops = ops;
		r = strstr(l, "ratio=");
		if (r && n < max)
			ratios[n++] = (long long)(atof(r + 6) * 100 + 0.5);
	}
	return n;
}

static void workload(const char *report, const char *profile, const char *ops, long long want_agg_bp,
		     long long lo, long long hi, bool monotonic)
{
	struct vt_proc p;
	char done[256] = "", what[96];
	long long ratios[64];
	unsigned n;
	int st = vt_run(&p, (const char *const[]){ "--payload", "workload", "--report", report, "--profile",
						   profile, "--ops", ops, "--weight", "3", "--timeout", "60", NULL });

	snprintf(what, sizeof(what), "workload %s %s", report, profile);
	VT_CHECK(st == 0, "%s: status %d\n%s", what, st, p.out);
	VT_CHECK(vt_grep(p.out, "workload: done", done, sizeof(done)) == 1, "%s: no done line", what);
	VT_CHECK(vt_field(done, "ops") == atoll(ops), "%s: %s", what, done);
	n = check_progress(p.out, what, ratios, 64);
	VT_CHECK(n == (unsigned)(atoll(ops) / 5000), "%s: %u progress lines", what, n);
	for (unsigned i = 0; i < n; i++) {
		VT_CHECK(ratios[i] >= lo && ratios[i] <= hi, "%s: ratio %lld bp outside [%lld, %lld]", what,
			 ratios[i], lo, hi);
		if (monotonic && i)
			VT_CHECK(ratios[i] >= ratios[i - 1], "%s: ratio went down", what);
	}
	if (want_agg_bp >= 0) {
		char want[32];

		snprintf(want, sizeof(want), "aggregate=%lld.%02lld%%", want_agg_bp / 100, want_agg_bp % 100);
		VT_CHECK(strstr(done, want), "%s: %s, want %s", what, done, want);
	}
	vt_proc_free(&p);
}

static void idle_profile(void)
{
	struct vt_proc p;
	char stats[1024] = "";
	int st = vt_run(&p, (const char *const[]){ "--payload", "workload", "--profile", "idle:0.2", "--param", "30",
						   "--timeout", "60", "--stats", NULL });

	VT_CHECK(st == 0, "idle: status %d", st);
	VT_CHECK(strstr(p.out, "idle: entering C1\nidle: woke from C1 (alarm)\n"
			       "idle: entering C3\nidle: woke from C3 (alarm)\n"
			       "idle: entering C6\nidle: woke from C6 (alarm)\n"),
		 "idle steps down C1, C3, C6:\n%s", p.out);
	vt_grep(p.err, "zpsi-vmm: stats", stats, sizeof(stats));
	VT_CHECK(vt_field(stats, "hibernations") == 1, "idle: C6 saved the VM once: %s", stats);
	VT_CHECK(vt_field(stats, "wakes") == 3, "idle: three wakes: %s", stats);
	vt_proc_free(&p);
}

static void faults(void)
{
	struct vt_proc p;
	char line[1024] = "", stats[1024] = "";
	int st = vt_run(&p, (const char *const[]){ "--payload", "faults", "--rate", "1000", "--burst", "100", "--param", "100", "--param", "1000",
						   "--timeout", "60", "--stats", NULL });

	VT_CHECK(st == 0, "faults: status %d\n%s", st, p.out);
	VT_CHECK(strstr(p.out, " passed, 0 failed"), "faults: %s", p.out);
	VT_CHECK(vt_grep(p.out, "undefined_msr_gp=", line, sizeof(line)) && vt_field(line, "undefined_msr_gp") == 1000,
		 "faults: %s", line);
	VT_CHECK(vt_grep(p.out, "flood_calls=", line, sizeof(line)) && vt_field(line, "flood_throttled") > 0 &&
		 vt_field(line, "flood_ok") > 0, "faults: the rate limit throttled the flood: %s", line);
	vt_grep(p.err, "zpsi-vmm: stats", stats, sizeof(stats));
	VT_CHECK(vt_field(stats, "msr_gp") >= 1000, "faults: %s", stats);
	VT_CHECK(vt_field(stats, "region_rejected") + vt_field(stats, "region_torn") > 0,
		 "faults: garbage in the region was refused: %s", stats);
	VT_CHECK(vt_field(stats, "stray_ports") >= 500, "faults: %s", stats);
	VT_CHECK(vt_grep(p.out, "console: ", line, sizeof(line)) == 1, "faults: console line");
	for (const char *c = line; *c; c++)
		VT_CHECK((*c >= 0x20 && *c < 0x7F) || *c == '\t', "console byte %#x reached stdout",
			 (unsigned char)*c);
	vt_proc_free(&p);
}

int main(void)
{
	vt_require_kvm();
	workload("hypercall", "const:25", "20000", 2500, 2500, 2500, false);
	workload("msr", "const:25", "20000", 2500, 2500, 2500, false);
	workload("region", "const:25", "20000", 2500, 2500, 2500, false);
	workload("hypercall", "step:10,60,0.5", "30000", -1, 1000, 6000, true);
	workload("msr", "ramp:0,100,1", "30000", -1, 0, 10000, true);
	workload("region", "const:0", "10000", 0, 0, 0, false);
	idle_profile();
	faults();
	return vt_done("payloads");
}
