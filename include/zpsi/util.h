/* SPDX-License-Identifier: MIT */
/* zpsi/util.h - small helpers shared by libzpsi and the programs (hosted). */
#ifndef ZPSI_UTIL_H
#define ZPSI_UTIL_H

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#define ZPSI_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define ZPSI_NSEC_PER_SEC 1000000000ull

/* Scope-bound cleanup, systemd style: `_cleanup_free_ char *p = NULL;`. */
#define _cleanup_(f) __attribute__((cleanup(f)))
static inline void zpsi_freep(void *p) { free(*(void **)p); }
/* Close and forget: the variable is -1 afterwards, so a second call (or a
 * cleanup at scope end) cannot close a number that has been reused. */
static inline void zpsi_closep(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}
#define _cleanup_free_ _cleanup_(zpsi_freep)
#define _cleanup_close_ _cleanup_(zpsi_closep)

/* Take ownership out of a cleanup variable. */
#define ZPSI_TAKE_PTR(p) ({ __typeof__(p) _t = (p); (p) = NULL; _t; })
#define ZPSI_TAKE_FD(fd) ({ int _t = (fd); (fd) = -1; _t; })

static inline uint64_t zpsi_now_ns(clockid_t clk)
{
	struct timespec ts;

	clock_gettime(clk, &ts);
	return (uint64_t)ts.tv_sec * ZPSI_NSEC_PER_SEC + (uint64_t)ts.tv_nsec;
}
static inline uint64_t zpsi_mono_ns(void) { return zpsi_now_ns(CLOCK_MONOTONIC); }

#endif /* ZPSI_UTIL_H */
