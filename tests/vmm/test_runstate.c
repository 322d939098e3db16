/* SPDX-License-Identifier: MIT */
/* test_runstate.c - the run state machine (vmm/runstate.c): the
 * transitions docs/abi.md section 8 describes are there, every other
 * (state, event) pair is refused, and the machine's invariants hold. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "runstate.h"

static const struct {
	enum vmm_run_state from;
	enum vmm_run_event ev;
	enum vmm_run_state to;
} legal[] = {
	{ VMM_RUN_CREATED, VMM_EV_START, VMM_RUN_RUNNING },
	{ VMM_RUN_RUNNING, VMM_EV_PAUSE, VMM_RUN_PAUSED },
	{ VMM_RUN_RUNNING, VMM_EV_HIBERNATE, VMM_RUN_SAVING },
	{ VMM_RUN_RUNNING, VMM_EV_SAVE, VMM_RUN_SAVING },
	{ VMM_RUN_RUNNING, VMM_EV_WAKE, VMM_RUN_RUNNING },	/* parked vCPUs run */
	{ VMM_RUN_PAUSED, VMM_EV_HIBERNATE, VMM_RUN_SAVING },
	{ VMM_RUN_PAUSED, VMM_EV_SAVE, VMM_RUN_SAVING },
	{ VMM_RUN_PAUSED, VMM_EV_WAKE, VMM_RUN_RUNNING },
	{ VMM_RUN_SAVING, VMM_EV_SAVED, VMM_RUN_HIBERNATED },
	{ VMM_RUN_SAVING, VMM_EV_SAVE_FAILED, VMM_RUN_PAUSED },
	{ VMM_RUN_HIBERNATED, VMM_EV_WAKE, VMM_RUN_RUNNING },
	{ VMM_RUN_HIBERNATED, VMM_EV_SAVE, VMM_RUN_ENDED },
};

static int expected(enum vmm_run_state s, enum vmm_run_event ev)
{
	if (ev == VMM_EV_END)
		return s == VMM_RUN_ENDED ? -EPERM : VMM_RUN_ENDED;
	for (size_t i = 0; i < sizeof(legal) / sizeof(legal[0]); i++)
		if (legal[i].from == s && legal[i].ev == ev)
			return legal[i].to;
	return -EPERM;
}

static void test_every_pair(void **state)
{
	(void)state;
	for (int s = 0; s < VMM_RUN_NSTATES; s++)
		for (int ev = 0; ev < VMM_EV_NEVENTS; ev++) {
			int got = vmm_run_next((enum vmm_run_state)s, (enum vmm_run_event)ev);

			if (got != expected((enum vmm_run_state)s, (enum vmm_run_event)ev))
				fail_msg("%s x %s -> %d", vmm_run_state_name((enum vmm_run_state)s),
					 vmm_run_event_name((enum vmm_run_event)ev), got);
		}
	/* out of range: refused, not read past the table */
	assert_int_equal(vmm_run_next(VMM_RUN_NSTATES, VMM_EV_END), -EPERM);
	assert_int_equal(vmm_run_next(VMM_RUN_RUNNING, VMM_EV_NEVENTS), -EPERM);
	assert_int_equal(vmm_run_next((enum vmm_run_state)-1, VMM_EV_END), -EPERM);
}

/* The guest can only be running, paused or saved while it lives; no
 * event goes back to CREATED; SAVING is left only by its outcome or the
 * end; from every state the VM can end. */
static void test_invariants(void **state)
{
	(void)state;
	for (int s = 0; s < VMM_RUN_NSTATES; s++)
		for (int ev = 0; ev < VMM_EV_NEVENTS; ev++) {
			int to = vmm_run_next((enum vmm_run_state)s, (enum vmm_run_event)ev);

			assert_int_not_equal(to, VMM_RUN_CREATED);
			if (s == VMM_RUN_SAVING && to >= 0)
				assert_true(ev == VMM_EV_SAVED || ev == VMM_EV_SAVE_FAILED || ev == VMM_EV_END);
			if (to == VMM_RUN_HIBERNATED)
				assert_int_equal(s, VMM_RUN_SAVING);	/* C6 only once on disk */
		}
}

static void test_names(void **state)
{
	(void)state;
	for (int s = 0; s < VMM_RUN_NSTATES; s++)
		for (int t = 0; t < s; t++)
			assert_string_not_equal(vmm_run_state_name((enum vmm_run_state)s),
						vmm_run_state_name((enum vmm_run_state)t));
	assert_string_equal(vmm_run_state_name(VMM_RUN_SAVING), "saving");
	assert_string_equal(vmm_run_event_name(VMM_EV_SAVE_FAILED), "save-failed");
	assert_string_equal(vmm_run_state_name(VMM_RUN_NSTATES), "?");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_every_pair),
		cmocka_unit_test(test_invariants),
		cmocka_unit_test(test_names),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
