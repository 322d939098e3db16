/* SPDX-License-Identifier: MIT */
/*
 * registry.c - registered PSI guests (SPEC component 3, docs/abi.md
 * "Hypercalls").
 *
 * Layout: one dense array of 64-byte entries (one cache line each), indexed
 * by id - 1, with the free slots chained through the array so that an
 * unregistered id is reused by the next registration (LIFO).  The array
 * grows by doubling up to capacity_max and never shrinks, so at worst half
 * of it is slack: 128 bytes per registered guest, plus the fixed header.
 *
 * Aggregate: sum_w = sum(w_i) and sum_w_bp = sum(w_i * bp_i) over registered
 * guests, both u64 and adjusted in O(1) by every change.  With at most 2^32
 * guests of weight <= 65535 and ratio <= 10000, sum_w_bp < 2^62 and
 * 2 * sum_w_bp + sum_w cannot overflow, so the query is exact.
 *
 * Rate limit: a token bucket per guest in integer nanotokens.  The credit
 * earned between two instants is elapsed_ns * rate (in 1e-9 tokens), so no
 * fraction of a token is ever lost or invented, and a refused request needs
 * to store nothing: recomputing from the last accepted request gives the
 * same credit later (min(c + a*r + b*r, max) is path-independent).  The
 * bucket's clock is therefore the time of the last accepted request.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "zpsi/registry.h"

#define NSEC_PER_SEC	1000000000ull
#define REGISTRY_INITIAL_SLOTS	16u
#define REGISTRY_ALIGN	64u

struct registry_entry {
	uint64_t committed, deferred;	/* running counts from the guest */
	uint64_t updates, throttled;
	uint64_t registered_ns;
	uint64_t last_ns;	/* last accepted guest request; bucket clock */
	union {
		uint64_t credit;	/* in use: bucket, in 1e-9 tokens */
		uint32_t next_free;	/* free: index + 1 of the next free slot */
	};
	uint16_t weight;	/* 0: the slot is free */
	uint16_t ratio_bp;
	uint8_t power;
	uint8_t pad[3];
};
_Static_assert(sizeof(struct registry_entry) == 64, "one cache line per guest");

struct zpsi_registry {
	struct registry_entry *slots;
	uint32_t used;		/* slots[0, used) have been handed out at least once */
	uint32_t capacity;	/* slots allocated */
	uint32_t capacity_max;
	uint32_t count;		/* registered guests */
	uint32_t free_head;	/* index + 1 of the first free slot below `used`, 0: none */
	uint32_t rate;		/* tokens per second, 0: unlimited */
	uint64_t credit_max;	/* burst, in 1e-9 tokens */
	uint64_t full_ns;	/* time that fills an empty bucket */
	uint64_t sum_w, sum_w_bp;
};

/* The entry of a registered id, or NULL. */
static struct registry_entry *registry_entry(const struct zpsi_registry *reg, uint32_t id)
{
	struct registry_entry *e;

	if (id == 0 || id > reg->used)
		return NULL;
	e = &reg->slots[id - 1];
	return e->weight ? e : NULL;
}

int zpsi_registry_new(const struct zpsi_registry_config *cfg, struct zpsi_registry **out)
{
	static const struct zpsi_registry_config defaults = {
		.capacity_max = ZPSI_REGISTRY_DEFAULT_MAX,
		.rate_per_sec = ZPSI_REGISTRY_DEFAULT_RATE,
		.burst = ZPSI_REGISTRY_DEFAULT_BURST,
	};
	struct zpsi_registry *reg;

	if (!cfg)
		cfg = &defaults;
	if (cfg->rate_per_sec && !cfg->burst)
		return -EINVAL;		/* a bucket that can never hold a token */
	reg = calloc(1, sizeof(*reg));
	if (!reg)
		return -ENOMEM;
	reg->capacity_max = cfg->capacity_max ? cfg->capacity_max : ZPSI_REGISTRY_DEFAULT_MAX;
	reg->rate = cfg->rate_per_sec;
	if (reg->rate) {
		reg->credit_max = (uint64_t)cfg->burst * NSEC_PER_SEC;	/* < 2^62 */
		reg->full_ns = (reg->credit_max + reg->rate - 1) / reg->rate;
	}
	*out = reg;
	return 0;
}

struct zpsi_registry *zpsi_registry_free(struct zpsi_registry *reg)
{
	if (reg) {
		free(reg->slots);
		free(reg);
	}
	return NULL;
}

/* Double the array (at most to capacity_max).  Cache-line aligned, so it is
 * copied rather than realloc()ed; amortised O(1) per registration. */
static int registry_grow(struct zpsi_registry *reg)
{
	uint32_t cap;
	void *p;

	if (reg->capacity >= reg->capacity_max)
		return -E2BIG;
	if (reg->capacity == 0)
		cap = REGISTRY_INITIAL_SLOTS;
	else if (reg->capacity > reg->capacity_max / 2)
		cap = reg->capacity_max;
	else
		cap = reg->capacity * 2;
	if (cap > reg->capacity_max)
		cap = reg->capacity_max;
#if SIZE_MAX / 64 < UINT32_MAX	/* 32-bit hosts: cap * 64 could wrap */
	if ((size_t)cap > SIZE_MAX / sizeof(struct registry_entry))
		return -ENOMEM;
#endif
	if (posix_memalign(&p, REGISTRY_ALIGN, (size_t)cap * sizeof(struct registry_entry)))
		return -ENOMEM;
	if (reg->used)
		memcpy(p, reg->slots, (size_t)reg->used * sizeof(struct registry_entry));
	free(reg->slots);
	reg->slots = p;
	reg->capacity = cap;
	return 0;
}

int zpsi_registry_register(struct zpsi_registry *reg, uint32_t weight, uint64_t now_ns,
			   uint32_t *id_out)
{
	struct registry_entry *e;
	uint32_t idx;
	int r;

	if (weight < ZPSI_WEIGHT_MIN || weight > ZPSI_WEIGHT_MAX)
		return -EINVAL;
	if (reg->free_head) {
		idx = reg->free_head - 1;
		reg->free_head = reg->slots[idx].next_free;
	} else {
		if (reg->used == reg->capacity) {
			r = registry_grow(reg);
			if (r < 0)
				return r;
		}
		idx = reg->used++;
	}
	e = &reg->slots[idx];
	memset(e, 0, sizeof(*e));
	e->weight = (uint16_t)weight;
	e->power = ZPSI_POWER_C0;
	e->registered_ns = now_ns;
	e->last_ns = now_ns;
	e->credit = reg->credit_max;	/* a new guest starts with a full bucket */
	reg->count++;
	reg->sum_w += weight;		/* ratio 0 adds nothing to sum_w_bp */
	*id_out = idx + 1;
	return 0;
}

int zpsi_registry_unregister(struct zpsi_registry *reg, uint32_t id)
{
	struct registry_entry *e = registry_entry(reg, id);

	if (!e)
		return -ENOENT;
	reg->sum_w -= e->weight;
	reg->sum_w_bp -= (uint64_t)e->weight * e->ratio_bp;
	reg->count--;
	memset(e, 0, sizeof(*e));
	e->next_free = reg->free_head;
	reg->free_head = id;
	return 0;
}

int zpsi_registry_set_weight(struct zpsi_registry *reg, uint32_t id, uint32_t weight)
{
	struct registry_entry *e = registry_entry(reg, id);

	if (!e)
		return -ENOENT;
	if (weight < ZPSI_WEIGHT_MIN || weight > ZPSI_WEIGHT_MAX)
		return -EINVAL;
	reg->sum_w = reg->sum_w - e->weight + weight;
	reg->sum_w_bp = reg->sum_w_bp - (uint64_t)e->weight * e->ratio_bp + (uint64_t)weight * e->ratio_bp;
	e->weight = (uint16_t)weight;
	return 0;
}

/* Take one token for a guest request at now_ns; true when there was one.
 * On success the bucket's clock moves to now_ns (never backwards: a clock
 * that steps back earns nothing until it passes the last request again). */
static bool registry_take_token(const struct zpsi_registry *reg, struct registry_entry *e,
				uint64_t now_ns)
{
	uint64_t credit = e->credit, dt;

	if (reg->rate == 0)
		goto accept;
	if (now_ns > e->last_ns) {
		dt = now_ns - e->last_ns;
		/* dt < full_ns keeps dt * rate below credit_max + rate < 2^63 */
		if (dt >= reg->full_ns)
			credit = reg->credit_max;
		else
			credit += dt * reg->rate;
		if (credit > reg->credit_max)
			credit = reg->credit_max;
	}
	if (credit < NSEC_PER_SEC) {
		e->throttled++;
		return false;
	}
	e->credit = credit - NSEC_PER_SEC;
accept:
	if (now_ns > e->last_ns)
		e->last_ns = now_ns;
	return true;
}

int zpsi_registry_update(struct zpsi_registry *reg, uint32_t id, uint32_t bp,
			 uint64_t committed, uint64_t deferred, uint64_t now_ns)
{
	struct registry_entry *e = registry_entry(reg, id);

	if (!e)
		return -ENOENT;
	if (bp > ZPSI_BP_MAX || committed < e->committed || deferred < e->deferred)
		return -EINVAL;
	if (!registry_take_token(reg, e, now_ns))
		return -EBUSY;
	/* w * bp < 2^30: the subtraction cannot go below zero as a whole */
	reg->sum_w_bp = reg->sum_w_bp - (uint64_t)e->weight * e->ratio_bp + (uint64_t)e->weight * bp;
	e->ratio_bp = (uint16_t)bp;
	e->committed = committed;
	e->deferred = deferred;
	e->updates++;
	return 0;
}

int zpsi_registry_charge(struct zpsi_registry *reg, uint32_t id, uint64_t now_ns)
{
	struct registry_entry *e = registry_entry(reg, id);

	if (!e)
		return -ENOENT;
	return registry_take_token(reg, e, now_ns) ? 0 : -EBUSY;
}

int zpsi_registry_set_power(struct zpsi_registry *reg, uint32_t id, uint64_t state,
			    bool host, uint64_t now_ns)
{
	struct registry_entry *e = registry_entry(reg, id);

	if (!e)
		return -ENOENT;
	/* The host may put a guest in any valid state (e.g. wake it from C6
	 * after a restore, or park it directly in C3); the guest only moves one
	 * step deeper or wakes. */
	if (!zpsi_power_valid(state))
		return -EINVAL;
	if (!host) {
		if (!zpsi_power_transition_ok(e->power, state))
			return -EINVAL;
		if (!registry_take_token(reg, e, now_ns))
			return -EBUSY;
	}
	e->power = (uint8_t)state;
	return 0;
}

int zpsi_registry_restore(struct zpsi_registry *reg, uint32_t id, const struct zpsi_guest_info *in)
{
	struct registry_entry *e = registry_entry(reg, id);
	uint32_t w;

	if (!e)
		return -ENOENT;
	w = in->weight ? in->weight : e->weight;
	if (in->ratio_bp > ZPSI_BP_MAX || !zpsi_power_valid(in->power) || w > ZPSI_WEIGHT_MAX)
		return -EINVAL;
	reg->sum_w = reg->sum_w - e->weight + w;
	reg->sum_w_bp = reg->sum_w_bp - (uint64_t)e->weight * e->ratio_bp + (uint64_t)w * in->ratio_bp;
	e->weight = (uint16_t)w;
	e->ratio_bp = in->ratio_bp;
	e->power = in->power;
	e->committed = in->committed;
	e->deferred = in->deferred;
	e->updates = in->updates;
	e->throttled = in->throttled;
	return 0;
}

/* Round half up: (2 * sum_w_bp + sum_w) / (2 * sum_w) = floor(avg + 1/2),
 * so an average of exactly x.5 bp reports x + 1. */
uint32_t zpsi_registry_aggregate_bp(const struct zpsi_registry *reg)
{
	if (reg->sum_w == 0)
		return 0;
	return (uint32_t)((2 * reg->sum_w_bp + reg->sum_w) / (2 * reg->sum_w));
}

uint32_t zpsi_registry_count(const struct zpsi_registry *reg)
{
	return reg->count;
}

int zpsi_registry_get(const struct zpsi_registry *reg, uint32_t id, struct zpsi_guest_info *out)
{
	const struct registry_entry *e = registry_entry(reg, id);

	if (!e)
		return -ENOENT;
	*out = (struct zpsi_guest_info){
		.id = id,
		.weight = e->weight,
		.ratio_bp = e->ratio_bp,
		.power = e->power,
		.committed = e->committed,
		.deferred = e->deferred,
		.updates = e->updates,
		.throttled = e->throttled,
		.registered_ns = e->registered_ns,
		.last_update_ns = e->last_ns,
	};
	return 0;
}

uint32_t zpsi_registry_next(const struct zpsi_registry *reg, uint32_t after)
{
	for (uint32_t i = after; i < reg->used; i++)
		if (reg->slots[i].weight)
			return i + 1;
	return 0;
}

size_t zpsi_registry_memory(const struct zpsi_registry *reg)
{
	return sizeof(*reg) + (size_t)reg->capacity * sizeof(struct registry_entry);
}
