/* SPDX-License-Identifier: MIT */
/*
 * vmm/runstate.c - the run state machine's table (runstate.h): every
 * transition the VM can make, and only those.  A pair missing from the
 * table is a refusal: the caller gets -EPERM and the state stays.
 */
#include <errno.h>

#include "runstate.h"
#include "zpsi/util.h"

#define R(x) ((signed char)(VMM_RUN_##x))
#define NO ((signed char)-1)

/* state x event -> next state.  Rows: states; columns, in order: START,
 * PAUSE, HIBERNATE, SAVE, SAVED, SAVE_FAILED, WAKE, END. */
static const signed char vmm_run_table[VMM_RUN_NSTATES][VMM_EV_NEVENTS] = {
	[VMM_RUN_CREATED]    = { R(RUNNING), NO, NO, NO, NO, NO, NO, R(ENDED) },
	[VMM_RUN_RUNNING]    = { NO, R(PAUSED), R(SAVING), R(SAVING), NO, NO, R(RUNNING), R(ENDED) },
	[VMM_RUN_PAUSED]     = { NO, NO, R(SAVING), R(SAVING), NO, NO, R(RUNNING), R(ENDED) },
	/* while the file is written nothing else happens to the VM: the
	 * requests wait in vm->pending for the outcome */
	[VMM_RUN_SAVING]     = { NO, NO, NO, NO, R(HIBERNATED), R(PAUSED), NO, R(ENDED) },
	/* SAVE: the file already holds this state */
	[VMM_RUN_HIBERNATED] = { NO, NO, NO, R(ENDED), NO, NO, R(RUNNING), R(ENDED) },
	[VMM_RUN_ENDED]      = { NO, NO, NO, NO, NO, NO, NO, NO },
};

static const char *const vmm_run_state_names[] = {
	[VMM_RUN_CREATED] = "created",
	[VMM_RUN_RUNNING] = "running",
	[VMM_RUN_PAUSED] = "paused",
	[VMM_RUN_SAVING] = "saving",
	[VMM_RUN_HIBERNATED] = "hibernated",
	[VMM_RUN_ENDED] = "ended",
};
_Static_assert(ZPSI_ARRAY_SIZE(vmm_run_state_names) == VMM_RUN_NSTATES, "a name for every state");

static const char *const vmm_run_event_names[] = {
	[VMM_EV_START] = "start",
	[VMM_EV_PAUSE] = "pause",
	[VMM_EV_HIBERNATE] = "hibernate",
	[VMM_EV_SAVE] = "save",
	[VMM_EV_SAVED] = "saved",
	[VMM_EV_SAVE_FAILED] = "save-failed",
	[VMM_EV_WAKE] = "wake",
	[VMM_EV_END] = "end",
};
_Static_assert(ZPSI_ARRAY_SIZE(vmm_run_event_names) == VMM_EV_NEVENTS, "a name for every event");

int vmm_run_next(enum vmm_run_state s, enum vmm_run_event ev)
{
	if ((unsigned)s >= VMM_RUN_NSTATES || (unsigned)ev >= VMM_EV_NEVENTS || vmm_run_table[s][ev] == NO)
		return -EPERM;
	return vmm_run_table[s][ev];
}

const char *vmm_run_state_name(enum vmm_run_state s)
{
	return (unsigned)s < VMM_RUN_NSTATES ? vmm_run_state_names[s] : "?";
}

const char *vmm_run_event_name(enum vmm_run_event ev)
{
	return (unsigned)ev < VMM_EV_NEVENTS ? vmm_run_event_names[ev] : "?";
}
