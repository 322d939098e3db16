/* SPDX-License-Identifier: MIT */
/*
 * guest/workload.c - a guest that works: it performs operations and
 * commits or defers each according to a PSI profile (--profile), reports
 * through the path chosen with --report (hypercall, MSR or region), reads
 * the host's aggregate back, and prints progress:
 *   progress ops=N committed=C deferred=D ratio=R% aggregate=A% [target=PAGES]
 * (target: the memory target the host published in the region, if any).
 * The idle profile defers everything for its time, then steps down the
 * power states (C1, C3, C6), each with an alarm, and says how it woke.
 *
 * Memory (docs/abi.md section 7): --param 0 is the idle alarm (ms),
 * --param 1 a number of MiB the guest writes at start (its "working set",
 * from the first free page up).  When the host publishes a memory target
 * in the region, the guest gives back every page above it with
 * HC_PSI_BALLOON and prints "balloon released=PAGES target=PAGES"; when the
 * target rises again it reclaims them before it would touch them.
 */
#include "psi.h"
#include "rt.h"

#define WL_DEFAULT_OPS 20000u
#define WL_WINDOW 500u			/* operations per report */
#define WL_PRINT_EVERY 10u		/* reports per progress line */
#define WL_IDLE_ALARM_MS 500u

static struct zg_psi psi;
static const struct zpsi_vmm_boot *boot;
static volatile struct zpsi_region *region;
static uint64_t committed, deferred;
static uint64_t balloon_from;	/* first released page's GPA; 0: none released */

static const char *const report_names[] = { "hypercall", "msr", "region" };

/* The profile's target ratio (bp) at `ms` milliseconds. */
static uint32_t target_bp(uint64_t ms)
{
	uint64_t a = boot->profile_a_bp, b = boot->profile_b_bp, span = boot->profile_ms;

	switch (boot->profile) {
	case ZPSI_VMM_PROFILE_STEP:
		return (uint32_t)(ms < span ? a : b);
	case ZPSI_VMM_PROFILE_RAMP:
		if (ms >= span || span == 0)
			return (uint32_t)b;
		return (uint32_t)(b >= a ? a + (b - a) * ms / span : a - (a - b) * ms / span);
	case ZPSI_VMM_PROFILE_IDLE:
		return ZPSI_BP_MAX;
	default:
		return (uint32_t)a;
	}
}

static int wl_register(void)
{
	int64_t r;

	switch (boot->report) {
	case ZPSI_VMM_REPORT_MSR:
		/* CTRL.ENABLE registers the guest with the host's weight. */
		return zg_wrmsr_safe(ZPSI_MSR_CTRL, ZPSI_CTRL_ENABLE);
	case ZPSI_VMM_REPORT_REGION:
		region = (volatile struct zpsi_region *)(uintptr_t)boot->region_gpa;
		r = zg_psi_register(&psi, boot->weight, boot->region_gpa);
		return r >= 1 ? 0 : (int)r;
	default:
		r = zg_psi_register(&psi, boot->weight, 0);
		return r >= 1 ? 0 : (int)r;
	}
}

/* Report a window's ratio and the running counts; returns the aggregate
 * the host gives back (bp), or -1. */
static int32_t wl_report(uint32_t bp)
{
	uint64_t v;

	switch (boot->report) {
	case ZPSI_VMM_REPORT_MSR:
		if (zg_wrmsr_safe(ZPSI_MSR_STATS, zpsi_stats_encode(committed, deferred)) < 0 ||
		    zg_wrmsr_safe(ZPSI_MSR_STATE, bp) < 0 || zg_rdmsr_safe(ZPSI_MSR_STATE, &v) < 0)
			return -1;
		return zpsi_state_host_bp(v);
	case ZPSI_VMM_REPORT_REGION:
		zg_psi_region_publish(region, bp, committed, deferred);
		return zg_psi_region_host_bp(region);
	default:
		if (zg_psi_update(&psi, bp, committed, deferred) < 0)
			return -1;
		return (int32_t)zg_psi_query(&psi);
	}
}

/* Write one byte per page of [free_gpa, free_gpa + MiB): resident memory
 * the host can see. */
static void touch_working_set(uint64_t mib)
{
	uint64_t end = boot->free_gpa + (mib << 20);

	if (end > boot->mem_bytes)
		end = boot->mem_bytes;
	for (uint64_t gpa = boot->free_gpa; gpa < end; gpa += ZPSI_VMM_PAGE_SIZE)
		*(volatile uint8_t *)(uintptr_t)gpa = 0x5A;
	zg_printf("workload: touched %lu KiB\n", (unsigned long)((end - boot->free_gpa) >> 10));
}

/* Follow the host's memory target: release what lies above it (never the
 * image, the stacks or the region page, which are all below free_gpa). */
static void follow_balloon(void)
{
	uint64_t info, target, from;
	int64_t r;

	if (!region || !(psi.features & ZPSI_FEAT_BALLOON))
		return;
	info = zpsi_region_guest_host_info(region);
	if (!(info & ZPSI_HOSTINFO_BALLOON))
		return;
	target = zpsi_hostinfo_target_pages(info) * ZPSI_VMM_PAGE_SIZE;
	from = target < boot->free_gpa ? boot->free_gpa : target;
	if (from >= boot->mem_bytes)
		from = boot->mem_bytes;
	if (balloon_from && from > balloon_from) {
		/* the target rose: take back what we may use again */
		r = zg_psi_balloon(&psi, balloon_from, (from - balloon_from) / ZPSI_VMM_PAGE_SIZE, 0);
		zg_printf("balloon reclaimed=%lu result=%ld\n",
			  (unsigned long)((from - balloon_from) / ZPSI_VMM_PAGE_SIZE), (long)r);
		balloon_from = from < boot->mem_bytes ? from : 0;
	} else if ((!balloon_from || from < balloon_from) && from < boot->mem_bytes) {
		uint64_t end = balloon_from ? balloon_from : boot->mem_bytes;

		r = zg_psi_balloon(&psi, from, (end - from) / ZPSI_VMM_PAGE_SIZE, 1);
		zg_printf("balloon released=%lu target=%lu result=%ld\n",
			  (unsigned long)((end - from) / ZPSI_VMM_PAGE_SIZE),
			  (unsigned long)zpsi_hostinfo_target_pages(info), (long)r);
		if (r == 0)
			balloon_from = from;
	}
}

static void print_pct(const char *label, int32_t bp)
{
	if (bp < 0)
		zg_printf(" %s=?", label);
	else
		zg_printf(" %s=%u.%02u%%", label, (unsigned)bp / 100, (unsigned)bp % 100);
}

/* One state deeper per idle period: C1, then C3, then C6 (waking returns
 * to C0, so each period steps down again from there). */
static void idle_step_down(void)
{
	static const unsigned states[] = { ZPSI_POWER_C1, ZPSI_POWER_C3, ZPSI_POWER_C6 };
	uint32_t alarm = boot->param[0] ? (uint32_t)boot->param[0] : WL_IDLE_ALARM_MS;

	for (unsigned depth = 0; depth < ZG_ARRAY_SIZE(states); depth++) {
		unsigned why;

		for (unsigned j = 0; j <= depth; j++) {
			int64_t r = zg_psi_hibernate(&psi, states[j]);

			if (r < 0) {
				zg_printf("idle: HIBERNATE C%u refused (%ld)\n", states[j], (long)r);
				return;
			}
		}
		zg_printf("idle: entering C%u\n", states[depth]);
		why = zg_halt(alarm);
		zg_printf("idle: woke from C%u (%s)\n", states[depth],
			  why == ZPSI_VMM_WAKE_HOST ? "host" : why == ZPSI_VMM_WAKE_ALARM ? "alarm" : "?");
		if (why == ZPSI_VMM_WAKE_HOST)
			return;	/* the host wants us back: stay in C0 */
	}
}

int zg_main(const struct zpsi_vmm_boot *b)
{
	uint64_t ops, t0, work = 0x1234567, window_def = 0, done = 0;
	unsigned reports = 0;
	int32_t agg = -1;
	uint32_t bp = 0;
	int r;

	boot = b;
	if (zg_psi_discover(&psi) < 0 || psi.transport == ZG_PSI_NONE) {
		zg_puts("workload: no PSI interface\n");
		return 1;
	}
	if (b->report > ZPSI_VMM_REPORT_REGION) {
		zg_puts("workload: unknown report path\n");
		return 1;
	}
	r = wl_register();
	if (r < 0) {
		zg_printf("workload: registration failed (%d)\n", r);
		return 1;
	}
	ops = b->ops ? b->ops : WL_DEFAULT_OPS;
	if (b->param[1])
		touch_working_set(b->param[1]);
	zg_printf("workload: %lu ops, profile %u (%u..%u bp over %u ms), report by %s, weight %u\n",
		  (unsigned long)ops, b->profile, b->profile_a_bp, b->profile_b_bp, b->profile_ms,
		  report_names[b->report], b->weight);
	t0 = zg_now_ns();
	for (;;) {
		uint64_t in_window = done % WL_WINDOW;

		/* The clock is read once per window: guest instructions are
		 * dear on a software KVM, and the profile moves slowly. */
		if (in_window == 0) {
			uint64_t ms = (zg_now_ns() - t0) / 1000000;

			if (b->profile == ZPSI_VMM_PROFILE_IDLE ? ms >= b->profile_ms : done >= ops)
				break;
			bp = target_bp(ms);
			window_def = 0;
		} else if (done >= ops && b->profile != ZPSI_VMM_PROFILE_IDLE) {
			break;
		}
		/* One operation: a little arithmetic, then commit or defer so
		 * that this window's share of deferrals follows the profile. */
		work = zg_rand(&work);
		if (window_def * ZPSI_BP_MAX < (uint64_t)bp * (in_window + 1)) {
			window_def++;
			deferred++;
		} else {
			committed++;
		}
		done++;
		if (done % WL_WINDOW == 0) {
			agg = wl_report((uint32_t)(window_def * ZPSI_BP_MAX / WL_WINDOW));
			follow_balloon();
			if (++reports % WL_PRINT_EVERY == 0) {
				zg_printf("progress ops=%lu committed=%lu deferred=%lu", (unsigned long)done,
					  (unsigned long)committed, (unsigned long)deferred);
				print_pct("ratio", (int32_t)(window_def * ZPSI_BP_MAX / WL_WINDOW));
				print_pct("aggregate", agg);
				if (region && (zpsi_region_guest_host_info(region) & ZPSI_HOSTINFO_BALLOON))
					zg_printf(" target=%lu", (unsigned long)zpsi_hostinfo_target_pages(
									 zpsi_region_guest_host_info(region)));
				zg_putc('\n');
			}
		}
	}
	if (b->profile == ZPSI_VMM_PROFILE_IDLE)
		idle_step_down();
	zg_printf("workload: done ops=%lu committed=%lu deferred=%lu", (unsigned long)done,
		  (unsigned long)committed, (unsigned long)deferred);
	print_pct("aggregate", agg);
	zg_putc('\n');
	return 0;
}
