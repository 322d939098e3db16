/* SPDX-License-Identifier: MIT */
/*
 * vmm/runstate.h - the VM's run state: one enum, its transitions in one
 * table (runstate.c), and the requests waiting for the supervisor as bits
 * of one word.  Everything here is under vm->lock.
 *
 * The states and what each means on the host (docs/abi.md section 8):
 *
 *   CREATED ---START---> RUNNING <---------------WAKE----------------+
 *                         |  ^ WAKE (parked vCPUs run)               |
 *                   PAUSE |  +----------------+                      |
 *                         v                   |                      |
 *                       PAUSED ---HIBERNATE/SAVE---> SAVING ---SAVED---> HIBERNATED
 *                         ^                           |
 *                         +------SAVE_FAILED----------+
 *   (RUNNING also goes straight to SAVING; any state but ENDED --END--> ENDED;
 *    HIBERNATED --SAVE--> ENDED: the file already holds the state.)
 */
#ifndef VMM_RUNSTATE_H
#define VMM_RUNSTATE_H

enum vmm_run_state {
	VMM_RUN_CREATED,	/* threads not released yet */
	VMM_RUN_RUNNING,	/* C0/C1: vCPUs run, or park on their own HLT */
	VMM_RUN_PAUSED,		/* C3: every vCPU kept out of KVM_RUN, memory kept */
	VMM_RUN_SAVING,		/* paused, the state file being written without vm->lock */
	VMM_RUN_HIBERNATED,	/* C6: state in the file, guest RAM released */
	VMM_RUN_ENDED,		/* the VM has ended (or is ending): threads leave */
	VMM_RUN_NSTATES
};

enum vmm_run_event {
	VMM_EV_START,		/* vmm_start() releases the threads */
	VMM_EV_PAUSE,		/* C3 */
	VMM_EV_HIBERNATE,	/* C6: save to the state file, release RAM */
	VMM_EV_SAVE,		/* save to the state file and end */
	VMM_EV_SAVED,		/* the state file is on disk */
	VMM_EV_SAVE_FAILED,	/* it could not be written: the VM waits paused */
	VMM_EV_WAKE,		/* back to C0 (from C6: the state has been read back) */
	VMM_EV_END,		/* the VM ends: guest, watchdog, host, crash */
	VMM_EV_NEVENTS
};

/* Requests and latches waiting in vm->pending. */
enum {
	VMM_PEND_SAVE = 1u << 0,
	VMM_PEND_WAKE = 1u << 1,
	VMM_PEND_HIBERNATE = 1u << 2,
	VMM_PEND_PAUSE = 1u << 3,
	/* a host wake found nobody halted: the next HLT returns at once */
	VMM_PEND_HLT_RETURNS = 1u << 4,
	/* linked to zpsid: a guest asked for C6; the link tells zpsid */
	VMM_PEND_TELL_C6 = 1u << 5,
};

/* The state `ev` leads to from `s`, or -EPERM: not a transition of the
 * machine. */
int vmm_run_next(enum vmm_run_state s, enum vmm_run_event ev);
const char *vmm_run_state_name(enum vmm_run_state s);
const char *vmm_run_event_name(enum vmm_run_event ev);

#endif /* VMM_RUNSTATE_H */
