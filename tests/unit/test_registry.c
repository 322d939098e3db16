/* SPDX-License-Identifier: MIT */
/* test_registry.c - ids and their reuse, capacity and growth, the exact
 * aggregate against a brute-force recomputation, the token bucket, and the
 * power-state machine's full table for the guest and for the host. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "zpsi/registry.h"

#define SEC 1000000000ull

static uint64_t prng_state;

static uint64_t prng(void)	/* splitmix64: fixed seed, reproducible */
{
	uint64_t z = (prng_state += 0x9E3779B97F4A7C15ull);

	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
	return z ^ (z >> 31);
}

static struct zpsi_registry *new_reg(uint32_t cap, uint32_t rate, uint32_t burst)
{
	struct zpsi_registry_config cfg = { .capacity_max = cap, .rate_per_sec = rate, .burst = burst };
	struct zpsi_registry *reg = NULL;

	assert_int_equal(zpsi_registry_new(&cfg, &reg), 0);
	assert_non_null(reg);
	return reg;
}

static uint32_t reg1(struct zpsi_registry *reg, uint32_t weight)
{
	uint32_t id = 0;

	assert_int_equal(zpsi_registry_register(reg, weight, 0, &id), 0);
	assert_true(id >= 1);
	return id;
}

/* round-half-up of num/den, independently of the library */
static uint64_t expect_bp(uint64_t num, uint64_t den)
{
	uint64_t q, r;

	if (den == 0)
		return 0;
	q = num / den;
	r = num % den;
	return 2 * r >= den ? q + 1 : q;
}

static void test_new_free(void **state)
{
	struct zpsi_registry_config bad = { .rate_per_sec = 10, .burst = 0 };
	struct zpsi_registry *reg = (void *)1;

	(void)state;
	assert_int_equal(zpsi_registry_new(&bad, &reg), -EINVAL);
	assert_ptr_equal(reg, (void *)1);	/* output untouched on error */
	assert_int_equal(zpsi_registry_new(NULL, &reg), 0);
	assert_int_equal(zpsi_registry_count(reg), 0);
	assert_int_equal(zpsi_registry_aggregate_bp(reg), 0);
	assert_int_equal(zpsi_registry_next(reg, 0), 0);
	assert_true(zpsi_registry_memory(reg) > 0);
	assert_null(zpsi_registry_free(reg));
	assert_null(zpsi_registry_free(NULL));
}

static void test_ids_and_reuse(void **state)
{
	struct zpsi_registry *reg = new_reg(0, 0, 0);
	struct zpsi_guest_info gi;
	uint32_t id = 77;

	(void)state;
	assert_int_equal(zpsi_registry_register(reg, 0, 0, &id), -EINVAL);
	assert_int_equal(zpsi_registry_register(reg, 65536, 0, &id), -EINVAL);
	assert_int_equal(zpsi_registry_register(reg, UINT32_MAX, 0, &id), -EINVAL);
	assert_int_equal(id, 77);
	assert_int_equal(reg1(reg, 1), 1);
	assert_int_equal(reg1(reg, 65535), 2);
	assert_int_equal(reg1(reg, 3), 3);
	assert_int_equal(reg1(reg, 4), 4);
	assert_int_equal(zpsi_registry_count(reg), 4);

	assert_int_equal(zpsi_registry_unregister(reg, 0), -ENOENT);
	assert_int_equal(zpsi_registry_unregister(reg, 5), -ENOENT);
	assert_int_equal(zpsi_registry_unregister(reg, UINT32_MAX), -ENOENT);
	assert_int_equal(zpsi_registry_unregister(reg, 2), 0);
	assert_int_equal(zpsi_registry_unregister(reg, 2), -ENOENT);
	assert_int_equal(zpsi_registry_get(reg, 2, &gi), -ENOENT);
	assert_int_equal(zpsi_registry_update(reg, 2, 1, 0, 0, 0), -ENOENT);
	assert_int_equal(zpsi_registry_set_weight(reg, 2, 1), -ENOENT);
	assert_int_equal(zpsi_registry_set_power(reg, 2, 0, true, 0), -ENOENT);
	assert_int_equal(zpsi_registry_charge(reg, 2, 0), -ENOENT);
	assert_int_equal(zpsi_registry_restore(reg, 2, &gi), -ENOENT);
	assert_int_equal(zpsi_registry_unregister(reg, 3), 0);
	assert_int_equal(zpsi_registry_count(reg), 2);

	/* freed ids come back (last freed first), then fresh ones */
	assert_int_equal(reg1(reg, 7), 3);
	assert_int_equal(reg1(reg, 8), 2);
	assert_int_equal(reg1(reg, 9), 5);
	/* a reused id starts clean */
	assert_int_equal(zpsi_registry_get(reg, 2, &gi), 0);
	assert_int_equal(gi.weight, 8);
	assert_int_equal(gi.ratio_bp, 0);
	assert_int_equal(gi.updates, 0);
	assert_int_equal(gi.power, ZPSI_POWER_C0);
	zpsi_registry_free(reg);
}

static void test_capacity_and_growth(void **state)
{
	struct zpsi_registry *reg = new_reg(1000, 0, 0);
	size_t mem0 = zpsi_registry_memory(reg), mem;
	uint32_t id;

	(void)state;
	for (uint32_t i = 1; i <= 1000; i++) {
		assert_int_equal(reg1(reg, i), i);
		mem = zpsi_registry_memory(reg);
		/* never more than twice what is needed, plus the header */
		assert_true(mem <= mem0 + 2 * (size_t)i * 64 + 16 * 64);
	}
	assert_int_equal(zpsi_registry_register(reg, 1, 0, &id), -E2BIG);
	assert_int_equal(zpsi_registry_count(reg), 1000);
	assert_true(zpsi_registry_memory(reg) <= mem0 + 1000 * 64);	/* capped at exactly 1000 */
	for (uint32_t i = 1; i <= 1000; i++) {
		struct zpsi_guest_info gi;

		assert_int_equal(zpsi_registry_get(reg, i, &gi), 0);
		assert_int_equal(gi.id, i);
		assert_int_equal(gi.weight, i);
	}
	assert_int_equal(zpsi_registry_unregister(reg, 500), 0);
	assert_int_equal(reg1(reg, 5), 500);
	assert_int_equal(zpsi_registry_register(reg, 1, 0, &id), -E2BIG);
	zpsi_registry_free(reg);

	reg = new_reg(1, 0, 0);
	assert_int_equal(reg1(reg, 1), 1);
	assert_int_equal(zpsi_registry_register(reg, 1, 0, &id), -E2BIG);
	zpsi_registry_free(reg);
}

static void test_next(void **state)
{
	struct zpsi_registry *reg = new_reg(0, 0, 0);
	uint32_t seen[8], n = 0;

	(void)state;
	for (int i = 0; i < 8; i++)
		reg1(reg, 1);
	zpsi_registry_unregister(reg, 1);
	zpsi_registry_unregister(reg, 4);
	zpsi_registry_unregister(reg, 8);
	for (uint32_t id = zpsi_registry_next(reg, 0); id; id = zpsi_registry_next(reg, id))
		seen[n++] = id;
	assert_int_equal(n, 5);
	assert_int_equal(seen[0], 2);
	assert_int_equal(seen[1], 3);
	assert_int_equal(seen[2], 5);
	assert_int_equal(seen[3], 6);
	assert_int_equal(seen[4], 7);
	assert_int_equal(zpsi_registry_next(reg, 7), 0);
	assert_int_equal(zpsi_registry_next(reg, 1000), 0);
	assert_int_equal(zpsi_registry_next(reg, UINT32_MAX), 0);
	zpsi_registry_free(reg);
}

static void test_aggregate_rounding(void **state)
{
	struct zpsi_registry *reg = new_reg(0, 0, 0);
	uint32_t a = reg1(reg, 1), b = reg1(reg, 1), c;

	(void)state;
	assert_int_equal(zpsi_registry_aggregate_bp(reg), 0);
	assert_int_equal(zpsi_registry_update(reg, b, 1, 0, 0, 0), 0);
	assert_int_equal(zpsi_registry_aggregate_bp(reg), 1);		/* 0.5 -> 1 (tie up) */
	c = reg1(reg, 1);
	assert_int_equal(zpsi_registry_aggregate_bp(reg), 0);		/* 1/3 -> 0 */
	assert_int_equal(zpsi_registry_update(reg, c, 1, 0, 0, 0), 0);
	assert_int_equal(zpsi_registry_aggregate_bp(reg), 1);		/* 2/3 -> 1 */
	assert_int_equal(zpsi_registry_update(reg, a, 10000, 0, 0, 0), 0);
	assert_int_equal(zpsi_registry_aggregate_bp(reg), 3334);	/* 10002/3 */
	assert_int_equal(zpsi_registry_set_weight(reg, a, 2), 0);
	assert_int_equal(zpsi_registry_aggregate_bp(reg), 5001);	/* 20002/4 = 5000.5 */
	assert_int_equal(zpsi_registry_set_weight(reg, a, 0), -EINVAL);
	assert_int_equal(zpsi_registry_set_weight(reg, a, 65536), -EINVAL);
	assert_int_equal(zpsi_registry_unregister(reg, a), 0);
	assert_int_equal(zpsi_registry_aggregate_bp(reg), 1);		/* 2/2 */
	assert_int_equal(zpsi_registry_unregister(reg, b), 0);
	assert_int_equal(zpsi_registry_unregister(reg, c), 0);
	assert_int_equal(zpsi_registry_aggregate_bp(reg), 0);
	zpsi_registry_free(reg);
}

/* 100,000 random register/update/set_weight/unregister operations; after each
 * one the aggregate equals the rounded exact average recomputed from scratch
 * over a shadow copy, and the registry's view matches the shadow. */
#define SHADOW_MAX 300
static void test_aggregate_random(void **state)
{
	struct zpsi_registry *reg = new_reg(SHADOW_MAX, 0, 0);
	struct { uint32_t id, w, bp; uint64_t c, d; } g[SHADOW_MAX];
	uint32_t n = 0;

	(void)state;
	prng_state = 12345;
	for (int op = 0; op < 100000; op++) {
		uint64_t x = prng(), num = 0, den = 0;
		uint32_t k = n ? (uint32_t)(prng() % n) : 0, id;

		switch (x % 8) {
		case 0: case 1:
			if (n == SHADOW_MAX) {
				assert_int_equal(zpsi_registry_register(reg, 1, 0, &id), -E2BIG);
				break;
			}
			g[n].w = x & 0x10 ? 1 + (uint32_t)(prng() % 65535) : (x & 0x20 ? 65535 : 1);
			assert_int_equal(zpsi_registry_register(reg, g[n].w, 0, &g[n].id), 0);
			g[n].bp = 0;
			g[n].c = g[n].d = 0;
			n++;
			break;
		case 2: case 3: case 4: case 5:
			if (!n)
				break;
			g[k].bp = (uint32_t)(prng() % 10001);
			g[k].c += prng() % 1000;
			g[k].d += prng() % 1000;
			assert_int_equal(zpsi_registry_update(reg, g[k].id, g[k].bp, g[k].c, g[k].d, 0), 0);
			break;
		case 6:
			if (!n)
				break;
			g[k].w = 1 + (uint32_t)(prng() % 65535);
			assert_int_equal(zpsi_registry_set_weight(reg, g[k].id, g[k].w), 0);
			break;
		case 7:
			if (!n)
				break;
			assert_int_equal(zpsi_registry_unregister(reg, g[k].id), 0);
			g[k] = g[--n];
			break;
		}
		for (uint32_t i = 0; i < n; i++) {
			num += (uint64_t)g[i].w * g[i].bp;
			den += g[i].w;
		}
		assert_int_equal(zpsi_registry_aggregate_bp(reg), expect_bp(num, den));
		assert_int_equal(zpsi_registry_count(reg), n);
	}
	/* the registry holds exactly the shadow's guests */
	for (uint32_t i = 0; i < n; i++) {
		struct zpsi_guest_info gi;

		assert_int_equal(zpsi_registry_get(reg, g[i].id, &gi), 0);
		assert_int_equal(gi.weight, g[i].w);
		assert_int_equal(gi.ratio_bp, g[i].bp);
		assert_int_equal(gi.committed, g[i].c);
		assert_int_equal(gi.deferred, g[i].d);
	}
	zpsi_registry_free(reg);
}

/* The extremes at scale: 100,000 guests, weights 1 and 65535, all at
 * 10000 bp, then changed; the sums are far beyond 32 bits. */
static void test_aggregate_extremes(void **state)
{
	const uint32_t n = 100000;
	struct zpsi_registry *reg = new_reg(0, 0, 0);
	uint64_t num = 0, den = 0;

	(void)state;
	for (uint32_t i = 1; i <= n; i++) {
		uint32_t w = i & 1 ? 65535 : 1;

		assert_int_equal(reg1(reg, w), i);
		assert_int_equal(zpsi_registry_update(reg, i, 10000, 0, 0, 0), 0);
		den += w;
	}
	assert_int_equal(zpsi_registry_aggregate_bp(reg), 10000);
	num = den * 10000;	/* about 3.3e13: needs 45 bits */
	assert_true(num > UINT32_MAX);
	/* the heavy guests drop to 0: the average is exactly 50000/(65536*50000) */
	for (uint32_t i = 1; i <= n; i += 2) {
		assert_int_equal(zpsi_registry_update(reg, i, 0, 0, 0, 0), 0);
		num -= 65535ull * 10000;
	}
	assert_int_equal(num, 50000ull * 10000);
	assert_int_equal(zpsi_registry_aggregate_bp(reg), expect_bp(num, den));	/* 0.15 bp -> 0 */
	assert_int_equal(zpsi_registry_aggregate_bp(reg), 0);
	/* and the other way round: light guests at 0, heavy ones at 10000 */
	for (uint32_t i = 1; i <= n; i++)
		assert_int_equal(zpsi_registry_update(reg, i, i & 1 ? 10000 : 0, 0, 0, 0), 0);
	assert_int_equal(zpsi_registry_aggregate_bp(reg), expect_bp(50000ull * 65535 * 10000, den));
	assert_int_equal(zpsi_registry_aggregate_bp(reg), 10000);	/* 655350000/65536 = 9999.85 */
	zpsi_registry_free(reg);
}

static void test_update_validation(void **state)
{
	struct zpsi_registry *reg = new_reg(0, 1, 1);	/* one token, 1/s */
	struct zpsi_guest_info gi;
	uint32_t id = 0;

	(void)state;
	assert_int_equal(zpsi_registry_register(reg, 10, 5 * SEC, &id), 0);
	assert_int_equal(zpsi_registry_update(reg, id, 10001, 0, 0, 5 * SEC), -EINVAL);
	assert_int_equal(zpsi_registry_update(reg, id, UINT32_MAX, 0, 0, 5 * SEC), -EINVAL);
	/* a refused argument costs no token: the one token is still there */
	assert_int_equal(zpsi_registry_update(reg, id, 10000, 100, 50, 5 * SEC), 0);
	assert_int_equal(zpsi_registry_update(reg, id, 10000, 100, 50, 5 * SEC), -EBUSY);
	/* counts never go backwards; equal is fine */
	assert_int_equal(zpsi_registry_update(reg, id, 1, 99, 50, 6 * SEC), -EINVAL);
	assert_int_equal(zpsi_registry_update(reg, id, 1, 100, 49, 6 * SEC), -EINVAL);
	assert_int_equal(zpsi_registry_update(reg, id, 1, 100, 50, 6 * SEC), 0);
	assert_int_equal(zpsi_registry_get(reg, id, &gi), 0);
	assert_int_equal(gi.ratio_bp, 1);
	assert_int_equal(gi.committed, 100);
	assert_int_equal(gi.deferred, 50);
	assert_int_equal(gi.updates, 2);
	assert_int_equal(gi.throttled, 1);
	assert_int_equal(gi.registered_ns, 5 * SEC);
	assert_int_equal(gi.last_update_ns, 6 * SEC);
	zpsi_registry_free(reg);
}

static void test_rate_limit_bucket(void **state)
{
	struct zpsi_registry *reg = new_reg(0, 10, 5);	/* 10/s, burst 5 */
	const uint64_t t0 = 1000 * SEC;
	uint32_t id = 0;
	uint64_t t;

	(void)state;
	assert_int_equal(zpsi_registry_register(reg, 1, t0, &id), 0);
	for (int i = 0; i < 5; i++)
		assert_int_equal(zpsi_registry_update(reg, id, 1, 0, 0, t0), 0);
	assert_int_equal(zpsi_registry_update(reg, id, 1, 0, 0, t0), -EBUSY);
	/* one token per 100 ms, to the nanosecond */
	assert_int_equal(zpsi_registry_update(reg, id, 1, 0, 0, t0 + 99999999), -EBUSY);
	assert_int_equal(zpsi_registry_update(reg, id, 1, 0, 0, t0 + 100000000), 0);
	assert_int_equal(zpsi_registry_update(reg, id, 1, 0, 0, t0 + 100000000), -EBUSY);
	/* refused requests do not reset the refill: 100 ms after the accept */
	t = t0 + 100000000;
	for (uint64_t dt = 1; dt < 100000000; dt += 9999991)
		assert_int_equal(zpsi_registry_update(reg, id, 1, 0, 0, t + dt), -EBUSY);
	assert_int_equal(zpsi_registry_update(reg, id, 1, 0, 0, t + 100000000), 0);
	t += 100000000;
	/* a long pause refills to the burst and no further */
	t += 3600 * SEC;
	for (int i = 0; i < 5; i++)
		assert_int_equal(zpsi_registry_update(reg, id, 1, 0, 0, t), 0);
	assert_int_equal(zpsi_registry_update(reg, id, 1, 0, 0, t), -EBUSY);
	/* a clock that steps back earns nothing, and breaks nothing */
	assert_int_equal(zpsi_registry_update(reg, id, 1, 0, 0, 0), -EBUSY);
	assert_int_equal(zpsi_registry_update(reg, id, 1, 0, 0, t + 100000000), 0);
	/* a jump to the end of time: a full bucket, no overflow */
	for (int i = 0; i < 5; i++)
		assert_int_equal(zpsi_registry_update(reg, id, 1, 0, 0, UINT64_MAX), 0);
	assert_int_equal(zpsi_registry_update(reg, id, 1, 0, 0, UINT64_MAX), -EBUSY);
	zpsi_registry_free(reg);
}

/* A rate that does not divide a second: 3/s.  Polling every millisecond for
 * 100 s accepts exactly 2 (the initial burst) + 300, with no drift: every
 * fraction of a token earned between polls is kept. */
static void test_rate_limit_exact(void **state)
{
	struct zpsi_registry *reg = new_reg(0, 3, 2);
	uint32_t id = 0, accepted = 0;

	(void)state;
	assert_int_equal(zpsi_registry_register(reg, 1, 0, &id), 0);
	for (uint64_t t = 0; t <= 100 * SEC; t += 1000000)
		if (zpsi_registry_update(reg, id, 1, 0, 0, t) == 0)
			accepted++;
	assert_int_equal(accepted, 302);
	/* 1/3 s is 333,333,333.3 ns: the token is there only after the .3 */
	assert_int_equal(zpsi_registry_register(reg, 1, 0, &id), 0);
	assert_int_equal(zpsi_registry_update(reg, id, 1, 0, 0, 0), 0);
	assert_int_equal(zpsi_registry_update(reg, id, 1, 0, 0, 0), 0);
	assert_int_equal(zpsi_registry_update(reg, id, 1, 0, 0, 333333333), -EBUSY);
	assert_int_equal(zpsi_registry_update(reg, id, 1, 0, 0, 333333334), 0);
	/* the 2 nanotokens left over count: the next one needs 333,333,333 ns */
	assert_int_equal(zpsi_registry_update(reg, id, 1, 0, 0, 666666666), -EBUSY);
	assert_int_equal(zpsi_registry_update(reg, id, 1, 0, 0, 666666667), 0);
	zpsi_registry_free(reg);
}

/* A guest flooding the registry is refused; its neighbour is not. */
static void test_rate_limit_isolation(void **state)
{
	struct zpsi_registry *reg = new_reg(0, 1000, 100);
	struct zpsi_guest_info gi;
	uint32_t flood = reg1(reg, 1), quiet = reg1(reg, 1), busy = 0;

	(void)state;
	for (uint64_t t = 0; t < SEC; t += 10000) {	/* 100,000 tries in 1 s */
		if (zpsi_registry_update(reg, flood, 10000, 0, 0, t) == -EBUSY)
			busy++;
		if (t % 10000000 == 0)	/* the neighbour: 100/s, all accepted */
			assert_int_equal(zpsi_registry_update(reg, quiet, 5000, 0, 0, t), 0);
	}
	assert_true(busy >= 100000 - 1000 - 100 - 1);
	assert_true(busy <= 100000 - 1000);
	assert_int_equal(zpsi_registry_get(reg, quiet, &gi), 0);
	assert_int_equal(gi.updates, 100);
	assert_int_equal(gi.throttled, 0);
	assert_int_equal(zpsi_registry_get(reg, flood, &gi), 0);
	assert_int_equal(gi.throttled, busy);
	assert_int_equal(gi.updates + gi.throttled, 100000);
	/* the aggregate saw both */
	assert_int_equal(zpsi_registry_aggregate_bp(reg), 7500);
	zpsi_registry_free(reg);
}

static void test_charge(void **state)
{
	struct zpsi_registry *reg = new_reg(0, 1, 2);
	uint32_t id = reg1(reg, 1);

	(void)state;
	assert_int_equal(zpsi_registry_charge(reg, id, 0), 0);
	assert_int_equal(zpsi_registry_charge(reg, id, 0), 0);
	assert_int_equal(zpsi_registry_charge(reg, id, 0), -EBUSY);
	assert_int_equal(zpsi_registry_update(reg, id, 1, 0, 0, 0), -EBUSY);	/* one bucket */
	assert_int_equal(zpsi_registry_update(reg, id, 1, 0, 0, SEC), 0);
	zpsi_registry_free(reg);

	reg = new_reg(0, 0, 0);		/* unlimited */
	id = reg1(reg, 1);
	for (int i = 0; i < 100000; i++)
		assert_int_equal(zpsi_registry_charge(reg, id, 0), 0);
	zpsi_registry_free(reg);
}

/* Every (from, to) pair, for the guest and for the host. */
static void test_power_table(void **state)
{
	static const uint8_t states[] = { ZPSI_POWER_C0, ZPSI_POWER_C1, ZPSI_POWER_C3, ZPSI_POWER_C6 };
	static const uint64_t targets[] = {
		0, 1, 2, 3, 4, 5, 6, 7, 8, 15, 16, 255, 256, 0x100000000ull, 0x100000001ull,
		0x100000003ull, 0x8000000000000006ull, UINT64_MAX,
	};
	/* the guest's allowed moves, as the spec states them */
	static const struct { uint8_t from, to; } guest_ok[] = {
		{ 0, 0 }, { 0, 1 }, { 1, 0 }, { 1, 3 }, { 3, 0 }, { 3, 6 }, { 6, 0 },
	};
	struct zpsi_registry *reg = new_reg(0, 0, 0);
	uint32_t id = reg1(reg, 1);

	(void)state;
	for (size_t i = 0; i < sizeof(states); i++) {
		for (size_t j = 0; j < sizeof(targets) / sizeof(targets[0]); j++) {
			uint64_t to = targets[j];
			bool valid = to == 0 || to == 1 || to == 3 || to == 6, ok = false;
			struct zpsi_guest_info gi;

			for (size_t k = 0; k < sizeof(guest_ok) / sizeof(guest_ok[0]); k++)
				ok |= guest_ok[k].from == states[i] && guest_ok[k].to == to;

			/* guest */
			assert_int_equal(zpsi_registry_set_power(reg, id, states[i], true, 0), 0);
			assert_int_equal(zpsi_registry_set_power(reg, id, to, false, 0), ok ? 0 : -EINVAL);
			assert_int_equal(zpsi_registry_get(reg, id, &gi), 0);
			assert_int_equal(gi.power, ok ? to : states[i]);

			/* host: any valid state from anywhere */
			assert_int_equal(zpsi_registry_set_power(reg, id, states[i], true, 0), 0);
			assert_int_equal(zpsi_registry_set_power(reg, id, to, true, 0), valid ? 0 : -EINVAL);
			assert_int_equal(zpsi_registry_get(reg, id, &gi), 0);
			assert_int_equal(gi.power, valid ? to : states[i]);
		}
	}
	zpsi_registry_free(reg);
}

/* The whole descent and wake, and the rate limit on the guest's requests
 * (not on the host's). */
static void test_power_walk(void **state)
{
	struct zpsi_registry *reg = new_reg(0, 1, 3);
	struct zpsi_guest_info gi;
	uint32_t id = reg1(reg, 1);

	(void)state;
	assert_int_equal(zpsi_registry_set_power(reg, id, 1, false, 0), 0);
	assert_int_equal(zpsi_registry_set_power(reg, id, 3, false, 0), 0);
	assert_int_equal(zpsi_registry_set_power(reg, id, 6, false, 0), 0);
	assert_int_equal(zpsi_registry_set_power(reg, id, 0, false, 0), -EBUSY);	/* bucket empty */
	assert_int_equal(zpsi_registry_get(reg, id, &gi), 0);
	assert_int_equal(gi.power, 6);
	assert_int_equal(gi.throttled, 1);
	assert_int_equal(zpsi_registry_set_power(reg, id, 7, false, 0), -EINVAL);	/* checked first */
	assert_int_equal(zpsi_registry_set_power(reg, id, 0, true, 0), 0);		/* host: no limit */
	assert_int_equal(zpsi_registry_set_power(reg, id, 6, true, 0), 0);
	assert_int_equal(zpsi_registry_set_power(reg, id, 0, false, SEC), 0);
	zpsi_registry_free(reg);
}

static void test_restore(void **state)
{
	struct zpsi_registry *reg = new_reg(0, 0, 0);
	struct zpsi_guest_info in = {
		.weight = 0, .ratio_bp = 4000, .power = ZPSI_POWER_C3,
		.committed = 1ull << 40, .deferred = 7, .updates = 99, .throttled = 3,
		.registered_ns = 12345, .last_update_ns = 67890,
	}, gi;
	uint32_t other = reg1(reg, 1), id = 0;

	(void)state;
	assert_int_equal(zpsi_registry_register(reg, 3, 555, &id), 0);
	assert_int_equal(zpsi_registry_update(reg, other, 1000, 0, 0, 0), 0);
	assert_int_equal(zpsi_registry_restore(reg, id, &in), 0);
	assert_int_equal(zpsi_registry_get(reg, id, &gi), 0);
	assert_int_equal(gi.weight, 3);		/* weight 0: kept */
	assert_int_equal(gi.ratio_bp, 4000);
	assert_int_equal(gi.power, 3);
	assert_int_equal(gi.committed, 1ull << 40);
	assert_int_equal(gi.deferred, 7);
	assert_int_equal(gi.updates, 99);
	assert_int_equal(gi.throttled, 3);
	assert_int_equal(gi.registered_ns, 555);	/* our clock, not theirs */
	assert_int_equal(zpsi_registry_aggregate_bp(reg), 3250);	/* (1000 + 12000) / 4 */
	/* counts may now only go forward from the restored ones */
	assert_int_equal(zpsi_registry_update(reg, id, 1, 5, 7, 0), -EINVAL);
	in.weight = 1;
	assert_int_equal(zpsi_registry_restore(reg, id, &in), 0);
	assert_int_equal(zpsi_registry_aggregate_bp(reg), 2500);
	/* bad input changes nothing */
	in.ratio_bp = 10001;
	assert_int_equal(zpsi_registry_restore(reg, id, &in), -EINVAL);
	in.ratio_bp = 0;
	in.power = 2;
	assert_int_equal(zpsi_registry_restore(reg, id, &in), -EINVAL);
	in.power = 0;
	in.weight = 65536;
	assert_int_equal(zpsi_registry_restore(reg, id, &in), -EINVAL);
	assert_int_equal(zpsi_registry_aggregate_bp(reg), 2500);
	assert_int_equal(zpsi_registry_get(reg, id, &gi), 0);
	assert_int_equal(gi.power, 3);
	zpsi_registry_free(reg);
}

static void test_memory_per_guest(void **state)
{
	struct zpsi_registry *reg = new_reg(0, ZPSI_REGISTRY_DEFAULT_RATE, ZPSI_REGISTRY_DEFAULT_BURST);

	(void)state;
	for (int i = 0; i < 100000; i++)
		reg1(reg, 1);
	assert_true(zpsi_registry_memory(reg) / 100000 <= 256);
	zpsi_registry_free(reg);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_new_free),
		cmocka_unit_test(test_ids_and_reuse),
		cmocka_unit_test(test_capacity_and_growth),
		cmocka_unit_test(test_next),
		cmocka_unit_test(test_aggregate_rounding),
		cmocka_unit_test(test_aggregate_random),
		cmocka_unit_test(test_aggregate_extremes),
		cmocka_unit_test(test_update_validation),
		cmocka_unit_test(test_rate_limit_bucket),
		cmocka_unit_test(test_rate_limit_exact),
		cmocka_unit_test(test_rate_limit_isolation),
		cmocka_unit_test(test_charge),
		cmocka_unit_test(test_power_table),
		cmocka_unit_test(test_power_walk),
		cmocka_unit_test(test_restore),
		cmocka_unit_test(test_memory_per_guest),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
