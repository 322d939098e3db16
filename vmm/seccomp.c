/* SPDX-License-Identifier: MIT */
/*
 * vmm/seccomp.c - after set-up the VMM runs under an allow-list, as
 * Firecracker's VMM does: only the system calls the run loop, the
 * supervisor, power states and save/restore make, and only the KVM ioctls
 * they issue.  Anything else kills the process (SIGSYS), except open(),
 * which fails with EACCES (see below).  Files (the state
 * file, the region memfd) are opened before the filter is applied, so
 * open(), socket() and execve() are never needed afterwards.
 *
 * In a sanitizer build the filter is not applied: ASan's runtime makes
 * system calls (leak checking uses ptrace and clone) that a tight list must
 * refuse.  vmm_seccomp_supported() says so; the tests check the filter in
 * the normal build.
 */
#include <errno.h>
#include <seccomp.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <termios.h>

#include "internal.h"
#include "zpsi/util.h"

#if defined(__SANITIZE_ADDRESS__)
#define VMM_UNDER_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define VMM_UNDER_ASAN 1
#endif
#endif

bool vmm_seccomp_supported(void)
{
#ifdef VMM_UNDER_ASAN
	return false;
#else
	return true;
#endif
}

/* Each with the reason it is needed after set-up. */
static const int vmm_allowed_syscalls[] = {
	SCMP_SYS(read),			/* signalfd, eventfd, state file */
	SCMP_SYS(write),		/* console, eventfd, messages */
	SCMP_SYS(pread64),		/* state file (C6 wake) */
	SCMP_SYS(pwrite64),		/* state file (C6, save) */
	SCMP_SYS(lseek),
	SCMP_SYS(fstat),		/* stdio */
	SCMP_SYS(newfstatat),		/* stdio (glibc 2.36 fstat) */
	SCMP_SYS(ftruncate),		/* state file */
	SCMP_SYS(fsync),		/* state file */
	SCMP_SYS(fadvise64),		/* state file: drop its cached pages */
	SCMP_SYS(close),		/* tear-down */
	SCMP_SYS(mmap),			/* malloc, region page, state file (C6 wake) */
	SCMP_SYS(munmap),
	SCMP_SYS(mremap),		/* realloc (the record's small sections) */
	SCMP_SYS(mprotect),		/* malloc arenas */
	SCMP_SYS(madvise),		/* balloon, C6 releases RAM, thread exit */
	SCMP_SYS(mincore),		/* resident RAM in the statistics */
	SCMP_SYS(brk),			/* malloc */
	SCMP_SYS(futex),		/* locks, condition variables, joins */
	SCMP_SYS(clock_gettime),	/* when the vDSO falls back */
	SCMP_SYS(clock_nanosleep),
	SCMP_SYS(nanosleep),
	SCMP_SYS(poll),			/* main: signalfd and the done eventfd */
	SCMP_SYS(ppoll),
	SCMP_SYS(rt_sigprocmask),	/* vCPU threads unblock the kick signal */
	SCMP_SYS(rt_sigreturn),		/* after the kick handler */
	SCMP_SYS(tgkill),		/* kicking a vCPU (pthread_kill) */
	SCMP_SYS(getpid),
	SCMP_SYS(gettid),
	SCMP_SYS(sched_yield),
	SCMP_SYS(restart_syscall),
	SCMP_SYS(exit),			/* thread end */
	SCMP_SYS(exit_group),
};

static const unsigned long vmm_allowed_ioctls[] = {
	KVM_RUN,
	KVM_GET_REGS, KVM_SET_REGS, KVM_GET_SREGS, KVM_SET_SREGS,
	KVM_GET_XSAVE, KVM_SET_XSAVE, KVM_GET_XCRS, KVM_SET_XCRS,
	KVM_GET_VCPU_EVENTS, KVM_SET_VCPU_EVENTS, KVM_GET_MP_STATE, KVM_SET_MP_STATE,
	KVM_GET_DEBUGREGS, KVM_SET_DEBUGREGS, KVM_GET_MSRS, KVM_SET_MSRS,
	KVM_GET_MSR_INDEX_LIST,
	TCGETS,			/* stdio asks whether stdout is a terminal */
};

/* With a zpsid link (VMM_START_SECCOMP_LINK): the control socket, and a
 * new one to reconnect after zpsid restarts -- unix sockets only. */
static const int vmm_link_syscalls[] = {
	SCMP_SYS(connect),		/* reconnect to zpsid */
	SCMP_SYS(sendmsg),		/* messages, with SCM_RIGHTS (the region fd) */
	SCMP_SYS(recvmsg),		/* messages, with SCM_RIGHTS (C6 state files) */
	SCMP_SYS(recvfrom),		/* recv(MSG_PEEK|MSG_TRUNC): a packet's size */
};

int vmm_seccomp_apply(unsigned flags)
{
	scmp_filter_ctx ctx;
	int r = 0;

	ctx = seccomp_init(SCMP_ACT_KILL_PROCESS);
	if (!ctx)
		return vmm_errctx_set("seccomp_init"), -ENOMEM;
	for (size_t i = 0; i < ZPSI_ARRAY_SIZE(vmm_allowed_syscalls) && r == 0; i++)
		r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, vmm_allowed_syscalls[i], 0);
	for (size_t i = 0; (flags & VMM_START_SECCOMP_LINK) && i < ZPSI_ARRAY_SIZE(vmm_link_syscalls) &&
			   r == 0; i++)
		r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, vmm_link_syscalls[i], 0);
	if (r == 0 && (flags & VMM_START_SECCOMP_LINK))
		r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(socket), 1, SCMP_A0(SCMP_CMP_EQ, AF_UNIX));
	for (size_t i = 0; i < ZPSI_ARRAY_SIZE(vmm_allowed_ioctls) && r == 0; i++)
		r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(ioctl), 1,
				     SCMP_A1(SCMP_CMP_EQ, vmm_allowed_ioctls[i]));
	/* glibc's malloc opens /proc/sys/vm/overcommit_memory when it shrinks
	 * a thread's heap: that open fails (EACCES, which glibc handles)
	 * instead of killing the VMM.  No file can be opened either way. */
	if (r == 0)
		r = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EACCES), SCMP_SYS(openat), 0);
	if (r == 0)
		r = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EACCES), SCMP_SYS(open), 0);
	/* Every thread of the process, at once (the vCPU threads exist). */
	if (r == 0)
		r = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_TSYNC, 1);
	if (r == 0)
		r = seccomp_load(ctx);
	seccomp_release(ctx);
	if (r < 0)
		vmm_errctx_set("seccomp filter");
	return r;
}
