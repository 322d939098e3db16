/* SPDX-License-Identifier: MIT */
/*
 * vmm/kvm.h - ioctl wrappers for /dev/kvm, in the manner of the KVM
 * selftests' __vm_ioctl()/vm_ioctl() pair, but never aborting:
 *
 *   vmm_ioctl_raw(fd, req, arg)  the bare call: result >= 0 or -errno
 *   vmm_ioctl(fd, req, argp)     the same, after a compile-time check that
 *                                *argp has the size the request encodes,
 *                                and on failure it records the request's
 *                                name for vmm_errctx()
 *   vmm_ioctl_val(fd, req, val)  for requests that take a value (_IO)
 */
#ifndef VMM_KVM_H
#define VMM_KVM_H

#include <errno.h>
#include <stdint.h>
#include <sys/ioctl.h>
#include <linux/kvm.h>

#include "vmm.h"

static inline int vmm_ioctl_raw(int fd, unsigned long req, const void *arg)
{
	int r;

	do
		r = ioctl(fd, req, (void *)(uintptr_t)arg);
	while (r < 0 && errno == EINTR && req != KVM_RUN);
	return r < 0 ? -errno : r;
}

/* Remember which request failed (thread-local): errors carry context. */
int vmm_ioctl_failed(const char *name, int err);
void vmm_errctx_set(const char *what);

#define vmm_ioctl(fd, req, argp) ({							\
	_Static_assert(_IOC_SIZE(req) == sizeof(*(argp)),				\
		       #req " takes an argument of another size");			\
	int _r = vmm_ioctl_raw((fd), (req), (argp));					\
	_r < 0 ? vmm_ioctl_failed(#req, _r) : _r;					\
})

#define vmm_ioctl_val(fd, req, val) ({							\
	_Static_assert(_IOC_SIZE(req) == 0, #req " takes a pointer");			\
	int _r = vmm_ioctl_raw((fd), (req), (void *)(uintptr_t)(val));			\
	_r < 0 ? vmm_ioctl_failed(#req, _r) : _r;					\
})

/* Open /dev/kvm and check the API version and every capability zpsi-vmm
 * needs.  0 and *fd_out, or -errno with vmm_errctx() naming what is
 * missing (-ENOENT no /dev/kvm, -EACCES no permission, -ENOTSUP a
 * capability). */
int vmm_kvm_open(int *fd_out);

/* KVM_CHECK_EXTENSION on the system or VM fd: the value, 0 if absent. */
int vmm_kvm_cap(int fd, long cap);

#endif /* VMM_KVM_H */
