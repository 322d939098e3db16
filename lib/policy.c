/* SPDX-License-Identifier: MIT */
/*
 * policy.c - PSI tiers to CPU and memory shares (SPEC component 5).
 *
 * The seed's table is the default; operators may install their own.  The
 * optional hysteresis (dead band, minimum dwell) exists because a guest whose
 * ratio hovers at a tier boundary would otherwise rewrite its cgroup limits on
 * every update; with both off the decision is exactly the table.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "zpsi/abi.h"
#include "zpsi/policy.h"

#define POLICY_PAGE_MASK 4095ull

/* The seed: < 10 % -> 100 %, 10 % .. 30 % inclusive -> 80 %, > 30 % -> 50 %. */
static const struct zpsi_tier policy_seed_tiers[] = {
	{ .max_bp = 999, .share_bp = 10000 },
	{ .max_bp = 3000, .share_bp = 8000 },
	{ .max_bp = ZPSI_BP_MAX, .share_bp = 5000 },
};

void zpsi_policy_default(struct zpsi_policy *p)
{
	memset(p, 0, sizeof(*p));
	p->ntiers = sizeof(policy_seed_tiers) / sizeof(policy_seed_tiers[0]);
	memcpy(p->tiers, policy_seed_tiers, sizeof(policy_seed_tiers));
	p->cpu_period_us = ZPSI_CPU_PERIOD_US_DEFAULT;
}

static int policy_check_tiers(const struct zpsi_tier *t, unsigned n)
{
	if (n < 1 || n > ZPSI_POLICY_MAX_TIERS || t[n - 1].max_bp != ZPSI_BP_MAX)
		return -EINVAL;
	for (unsigned i = 0; i < n; i++) {
		if (t[i].share_bp < 1 || t[i].share_bp > ZPSI_BP_MAX)
			return -EINVAL;
		if (i > 0 && t[i].max_bp <= t[i - 1].max_bp)
			return -EINVAL;
	}
	return 0;
}

int zpsi_policy_set_tiers(struct zpsi_policy *p, const struct zpsi_tier *t, unsigned n)
{
	int r = t ? policy_check_tiers(t, n) : -EINVAL;

	if (r < 0)
		return r;
	memset(p->tiers, 0, sizeof(p->tiers));
	memcpy(p->tiers, t, n * sizeof(*t));
	p->ntiers = n;
	return 0;
}

int zpsi_policy_validate(const struct zpsi_policy *p)
{
	if (policy_check_tiers(p->tiers, p->ntiers) < 0)
		return -EINVAL;
	if (p->deadband_bp > ZPSI_BP_MAX)
		return -EINVAL;
	if (p->cpu_period_us < ZPSI_CPU_PERIOD_US_MIN || p->cpu_period_us > ZPSI_CPU_PERIOD_US_MAX)
		return -EINVAL;
	return 0;
}

/* ---------------------------------------------------------------- */
/* Text form                                                          */
/* ---------------------------------------------------------------- */

static bool policy_is_digit(char c) { return c >= '0' && c <= '9'; }
static bool policy_is_blank(char c) { return c == ' ' || c == '\t'; }

/* One or more decimal digits, value <= max.  The cap is checked per digit,
 * so a long run of digits cannot overflow; leading zeros are harmless. */
static int policy_parse_uint(const char **s, uint32_t max, uint32_t *out)
{
	const char *c = *s;
	uint32_t v = 0;

	if (!policy_is_digit(*c))
		return -EINVAL;
	for (; policy_is_digit(*c); c++) {
		v = v * 10 + (uint32_t)(*c - '0');
		if (v > max)
			return -EINVAL;
	}
	*s = c;
	*out = v;
	return 0;
}

/* "100", "62.5", "62.50", "80%" -> basis points. */
static int policy_parse_percent(const char **s, uint32_t *bp)
{
	const char *c = *s;
	uint32_t whole, frac = 0;

	if (policy_parse_uint(&c, 100, &whole) < 0)
		return -EINVAL;
	if (*c == '.') {
		c++;
		if (!policy_is_digit(c[0]))
			return -EINVAL;
		frac = (uint32_t)(c[0] - '0') * 10;
		c++;
		if (policy_is_digit(c[0])) {
			frac += (uint32_t)(c[0] - '0');
			c++;
		}
		if (policy_is_digit(c[0]))	/* a third decimal */
			return -EINVAL;
	}
	if (*c == '%')
		c++;
	*s = c;
	*bp = whole * 100 + frac;	/* <= 10099; set_tiers rejects > 10000 */
	return 0;
}

int zpsi_policy_parse_tiers(struct zpsi_policy *p, const char *spec)
{
	struct zpsi_tier t[ZPSI_POLICY_MAX_TIERS];
	const char *s = spec;
	unsigned n = 0;

	if (!s)
		return -EINVAL;
	for (;;) {
		uint32_t max_bp, share_bp;

		while (policy_is_blank(*s))
			s++;
		if (n == ZPSI_POLICY_MAX_TIERS)
			return -EINVAL;
		if (policy_parse_uint(&s, ZPSI_BP_MAX, &max_bp) < 0 || *s++ != ':' ||
		    policy_parse_percent(&s, &share_bp) < 0)
			return -EINVAL;
		t[n++] = (struct zpsi_tier){ .max_bp = (uint16_t)max_bp,
					     .share_bp = (uint16_t)share_bp };
		while (policy_is_blank(*s))
			s++;
		if (*s == '\0')
			break;
		if (*s++ != ',')
			return -EINVAL;
	}
	return zpsi_policy_set_tiers(p, t, n);
}

int zpsi_policy_format_tiers(const struct zpsi_policy *p, char *buf, size_t size)
{
	size_t off = 0;

	if (policy_check_tiers(p->tiers, p->ntiers) < 0)
		return -EINVAL;
	for (unsigned i = 0; i < p->ntiers; i++) {
		unsigned share = p->tiers[i].share_bp, whole = share / 100, frac = share % 100;
		int k;

		if (frac == 0)
			k = snprintf(buf + off, size - off, "%s%u:%u", i ? "," : "",
				     p->tiers[i].max_bp, whole);
		else if (frac % 10 == 0)
			k = snprintf(buf + off, size - off, "%s%u:%u.%u", i ? "," : "",
				     p->tiers[i].max_bp, whole, frac / 10);
		else
			k = snprintf(buf + off, size - off, "%s%u:%u.%02u", i ? "," : "",
				     p->tiers[i].max_bp, whole, frac);
		if (k < 0 || (size_t)k >= size - off) {
			if (size > 0)
				buf[0] = '\0';
			return -ENOBUFS;
		}
		off += (size_t)k;
	}
	return 0;
}

/* ---------------------------------------------------------------- */
/* Decisions                                                          */
/* ---------------------------------------------------------------- */

/* The number of tiers to look at, never beyond the array even if a caller
 * filled the struct by hand. */
static unsigned policy_ntiers(const struct zpsi_policy *p)
{
	return p->ntiers > ZPSI_POLICY_MAX_TIERS ? ZPSI_POLICY_MAX_TIERS : p->ntiers;
}

unsigned zpsi_policy_tier_of(const struct zpsi_policy *p, uint32_t bp)
{
	unsigned n = policy_ntiers(p);

	if (bp > ZPSI_BP_MAX)
		bp = ZPSI_BP_MAX;
	for (unsigned i = 0; i < n; i++)
		if (bp <= p->tiers[i].max_bp)
			return i;
	return n ? n - 1 : 0;
}

void zpsi_policy_alloc(const struct zpsi_policy *p, unsigned tier, const struct zpsi_vm_size *vm,
		       struct zpsi_alloc *out)
{
	unsigned n = policy_ntiers(p);
	uint16_t share = ZPSI_BP_MAX;
	unsigned __int128 q, m;

	if (n == 0)
		tier = 0;
	else if (tier >= n)
		tier = n - 1;
	if (n)
		share = p->tiers[tier].share_bp > ZPSI_BP_MAX ? ZPSI_BP_MAX : p->tiers[tier].share_bp;

	/* 128-bit intermediates: with share <= 10000 each result is at most
	 * its unscaled input (vcpus * period < 2^64, mem < 2^64), so the final
	 * narrowing is exact for every input, not only realistic ones. */
	q = (unsigned __int128)vm->vcpus * p->cpu_period_us * share / ZPSI_BP_MAX;
	m = (unsigned __int128)vm->mem_bytes * share / ZPSI_BP_MAX;

	out->tier = tier;
	out->share_bp = share;
	out->cpu_period_us = p->cpu_period_us;
	out->cpu_quota_us = q < ZPSI_CPU_QUOTA_US_MIN ? ZPSI_CPU_QUOTA_US_MIN : (uint64_t)q;
	out->mem_target_bytes = (uint64_t)m & ~POLICY_PAGE_MASK;
}

/* The tier bp moves to from `cur` under the dead band, before the dwell.
 * Moving up, bp - D must already be in the new tier; moving down, bp + D.
 * The raw tier lies between the two, so at most one direction applies. */
static unsigned policy_deadband_tier(const struct zpsi_policy *p, unsigned cur, uint32_t bp)
{
	uint32_t d = p->deadband_bp, up, down;

	if (bp > ZPSI_BP_MAX)
		bp = ZPSI_BP_MAX;
	up = zpsi_policy_tier_of(p, bp >= d ? bp - d : 0);
	down = zpsi_policy_tier_of(p, bp + d);	/* tier_of clamps above 10000 */
	if (up > cur)
		return up;
	if (down < cur)
		return down;
	return cur;
}

int zpsi_policy_decide(const struct zpsi_policy *p, struct zpsi_policy_state *st, uint32_t bp,
		       uint64_t now_ns, const struct zpsi_vm_size *vm, struct zpsi_alloc *out)
{
	unsigned cur = st->tier, next;

	if (!st->valid || cur >= policy_ntiers(p)) {
		st->valid = true;
		st->tier = zpsi_policy_tier_of(p, bp);
		st->since_ns = now_ns;
		zpsi_policy_alloc(p, st->tier, vm, out);
		return 1;
	}
	next = policy_deadband_tier(p, cur, bp);
	if (next != cur && p->min_dwell_ns &&
	    (now_ns < st->since_ns || now_ns - st->since_ns < p->min_dwell_ns))
		next = cur;
	if (next != cur) {
		st->tier = next;
		st->since_ns = now_ns;
	}
	zpsi_policy_alloc(p, st->tier, vm, out);
	return next != cur;
}
