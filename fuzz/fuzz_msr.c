/* SPDX-License-Identifier: MIT */
/*
 * fuzz_msr.c - the MSR write path: a sequence of RDMSR/WRMSR (and host
 * updates) on one bank, checking after every step that
 *   - a faulting write changes nothing but the fault counter,
 *   - every field stays in range and no reserved or RESET bit is stored,
 *   - the region, when on, is offered and lies wholly inside RAM,
 *   - reads return exactly the encoding of the stored fields,
 *   - the extended STATS counters never go backwards (except on RESET),
 *     move by less than 2^32 per write, and keep the written low halves,
 *   - the events are exactly the ones the before/after states imply.
 *
 * Input: byte 0 configures the bank (RAM size, region offered), then 9-byte
 * ops: a selector byte and a little-endian u64 value.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "zpsi/msr.h"

#define CHECK(x) do { if (!(x)) abort(); } while (0)

static const uint32_t fuzz_indices[8] = {
	ZPSI_MSR_STATE, ZPSI_MSR_CONF, ZPSI_MSR_STATS, ZPSI_MSR_CTRL,
	ZPSI_MSR_FIRST - 1, ZPSI_MSR_FIRST + ZPSI_MSR_COUNT, 0, 0xFFFFFFFFu,
};

static const uint64_t fuzz_ram[4] = { 0, 4096, 64ull << 20, UINT64_MAX };

/* Shape a value so that the checks past the reserved bits get exercised. */
static uint64_t fuzz_shape(uint64_t v, unsigned how)
{
	switch (how) {
	case 0: return v;
	case 1: return v & 0xFFFF;
	case 2: return v & 0xFFFFFFFFull;
	default: return v & ~ZPSI_CTRL_RSVD_MASK & 0x0000000FFFFFFFFFull;
	}
}

static void fuzz_invariants(const struct zpsi_msr_bank *b)
{
	CHECK(b->guest_bp <= ZPSI_BP_MAX);
	CHECK(b->host_bp <= ZPSI_BP_MAX);
	CHECK(b->power <= 0xF);
	CHECK(!(b->conf & ZPSI_CONF_RSVD_MASK));
	CHECK(zpsi_conf_delta_bp(b->conf) <= ZPSI_BP_MAX);
	CHECK(zpsi_conf_thresh_bp(b->conf) <= ZPSI_BP_MAX);
	CHECK(!(b->ctrl & (ZPSI_CTRL_RSVD_MASK | ZPSI_CTRL_RESET)));
	if (b->ctrl & ZPSI_CTRL_REGION) {
		CHECK(b->region_supported);
		CHECK(b->ram_size >= ZPSI_REGION_PAGE_SIZE);
		CHECK(zpsi_ctrl_gpa(b->ctrl) <= b->ram_size - ZPSI_REGION_PAGE_SIZE);
	}
}

static bool fuzz_same(const struct zpsi_msr_bank *a, const struct zpsi_msr_bank *b)
{
	return a->allowed == b->allowed && a->guest_bp == b->guest_bp && a->host_bp == b->host_bp &&
	       a->power == b->power && a->conf == b->conf && a->ctrl == b->ctrl &&
	       a->committed == b->committed && a->deferred == b->deferred;
}

/* The events a successful write must report, from the states around it. */
static int fuzz_expected_events(uint32_t index, uint64_t val, const struct zpsi_msr_bank *o,
				const struct zpsi_msr_bank *n)
{
	int ev = 0;
	bool was_on = o->ctrl & ZPSI_CTRL_REGION, on = n->ctrl & ZPSI_CTRL_REGION;

	switch (index) {
	case ZPSI_MSR_STATE: return ZPSI_MSR_EV_RATIO;
	case ZPSI_MSR_CONF: return ZPSI_MSR_EV_CONF;
	case ZPSI_MSR_STATS: return ZPSI_MSR_EV_STATS;
	default: break;
	}
	if ((n->ctrl & ZPSI_CTRL_ENABLE) && !(o->ctrl & ZPSI_CTRL_ENABLE))
		ev |= ZPSI_MSR_EV_ENABLE;
	if (!(n->ctrl & ZPSI_CTRL_ENABLE) && (o->ctrl & ZPSI_CTRL_ENABLE))
		ev |= ZPSI_MSR_EV_DISABLE;
	if (val & ZPSI_CTRL_RESET)
		ev |= ZPSI_MSR_EV_RESET;
	if (on && (!was_on || zpsi_ctrl_gpa(o->ctrl) != zpsi_ctrl_gpa(n->ctrl)))
		ev |= ZPSI_MSR_EV_REGION_ON;
	if (!on && was_on)
		ev |= ZPSI_MSR_EV_REGION_OFF;
	return ev;
}

static void fuzz_read(struct zpsi_msr_bank *b, uint32_t index)
{
	uint64_t v = 0x5A5A5A5A5A5A5A5Aull, want = 0;
	int r = zpsi_msr_read(b, index, &v);

	if (!zpsi_msr_is_psi(index)) {
		CHECK(r == -ENOENT && v == 0x5A5A5A5A5A5A5A5Aull);
		return;
	}
	if (!b->allowed) {
		CHECK(r == -EPERM && v == 0x5A5A5A5A5A5A5A5Aull);
		return;
	}
	CHECK(r == 0);
	switch (index) {
	case ZPSI_MSR_STATE:
		want = zpsi_state_encode(b->guest_bp, b->host_bp, b->power);
		CHECK(!(v & ZPSI_STATE_RSVD_MASK));
		break;
	case ZPSI_MSR_CONF: want = b->conf; break;
	case ZPSI_MSR_STATS: want = zpsi_stats_encode(b->committed, b->deferred); break;
	case ZPSI_MSR_CTRL: want = b->ctrl; break;
	}
	CHECK(v == want);
}

static void fuzz_write(struct zpsi_msr_bank *b, uint32_t index, uint64_t val)
{
	struct zpsi_msr_bank before = *b;
	int r = zpsi_msr_write(b, index, val);

	if (r < 0) {
		CHECK(r == -ENOENT || r == -EPERM || r == -EINVAL);
		CHECK(r != -ENOENT || !zpsi_msr_is_psi(index));
		CHECK(r != -EPERM || !b->allowed);
		CHECK(fuzz_same(&before, b));
		CHECK(b->faults == before.faults + 1 && b->writes == before.writes);
		return;
	}
	CHECK(zpsi_msr_is_psi(index) && b->allowed);
	CHECK(b->writes == before.writes + 1 && b->faults == before.faults);
	CHECK(r == fuzz_expected_events(index, val, &before, b));
	if (index == ZPSI_MSR_STATE)
		CHECK(b->guest_bp == (val & 0xFFFF));
	if (index == ZPSI_MSR_STATS) {
		CHECK(b->committed >= before.committed && b->committed - before.committed < (1ull << 32));
		CHECK(b->deferred >= before.deferred && b->deferred - before.deferred < (1ull << 32));
		CHECK((uint32_t)b->committed == zpsi_stats_committed32(val));
		CHECK((uint32_t)b->deferred == zpsi_stats_deferred32(val));
	} else if (index == ZPSI_MSR_CTRL && (val & ZPSI_CTRL_RESET)) {
		CHECK(b->committed == 0 && b->deferred == 0);
	} else {
		CHECK(b->committed == before.committed && b->deferred == before.deferred);
	}
	if (index != ZPSI_MSR_CTRL)
		CHECK(b->ctrl == before.ctrl);
	if (index != ZPSI_MSR_CONF)
		CHECK(b->conf == before.conf);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct zpsi_msr_bank b;

	if (size < 1)
		return 0;
	zpsi_msr_bank_init(&b, fuzz_ram[data[0] & 3], data[0] & 4);
	data++;
	size--;
	for (; size >= 9; data += 9, size -= 9) {
		uint8_t sel = data[0];
		uint64_t v;
		uint32_t index = fuzz_indices[sel & 7];

		memcpy(&v, data + 1, sizeof(v));	/* the fuzzer's bytes, LE on x86 */
		v = fuzz_shape(v, (sel >> 4) & 3);
		if (sel & 0x40) {
			if (sel & 0x80)
				b.allowed = !b.allowed;
			else
				zpsi_msr_set_host(&b, (uint16_t)v, (uint8_t)(v >> 16));
		} else if (sel & 8) {
			fuzz_write(&b, index, v);
		} else {
			fuzz_read(&b, index);
		}
		fuzz_invariants(&b);
	}
	return 0;
}
