/* SPDX-License-Identifier: MIT */
/*
 * tests/vmm/vmmtest.h - helpers for the end-to-end tests under real KVM:
 * SKIP without a usable /dev/kvm, run zpsi-vmm ($ZPSI_VMM) as a child with
 * its output captured, read its lines as they come, and count failures.
 * Every VM a test starts has the VMM's own watchdog (--timeout, or
 * timeout_ms in-process); meson's timeout is the second line of defence.
 */
#ifndef VMMTEST_H
#define VMMTEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "vmm.h"

extern unsigned vt_failures, vt_checks;

#define VT_CHECK(cond, ...) vt_check(!!(cond), __FILE__, __LINE__, __VA_ARGS__)
void vt_check(bool ok, const char *file, int line, const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* Print "SKIP: reason" and exit 77 unless /dev/kvm can run a VM. */
void vt_require_kvm(void);
/* Summary line; the test's exit status. */
int vt_done(const char *name);

struct vt_proc {
	pid_t pid;
	int out_fd, err_fd;
	char *out, *err;	/* everything read so far, NUL-terminated */
	size_t out_len, err_len, out_pos;	/* out_pos: next line for vt_next_line */
};

/* Start $ZPSI_VMM with these arguments (NULL-terminated). */
int vt_spawn(struct vt_proc *p, const char *const args[]);
/* The next complete stdout line (without '\n') into buf, waiting up to
 * timeout_ms; false on EOF or timeout. */
bool vt_next_line(struct vt_proc *p, char *buf, size_t size, int timeout_ms);
/* Read the rest, reap the child: its exit status, or 128 + signal. */
int vt_finish(struct vt_proc *p);
void vt_proc_free(struct vt_proc *p);
/* Spawn, finish; the caller frees p. */
int vt_run(struct vt_proc *p, const char *const args[]);

/* Count lines of s starting with prefix; the last such line into buf. */
unsigned vt_grep(const char *s, const char *prefix, char *last, size_t size);
/* The value of " key=" in a line, or -1. */
long long vt_field(const char *line, const char *key);

/* Run a built-in payload in-process; lines go to the callback. */
int vt_vm_new(struct vmm_config *cfg, const char *payload, struct vmm **out);
/* Wait up to timeout_ms for pred(vm) to hold, looking every millisecond. */
bool vt_await(struct vmm *vm, bool (*pred)(struct vmm *vm, void *arg), void *arg, int timeout_ms);

/* A temporary file name under $TMPDIR (or /tmp), unique per call. */
void vt_tmpname(char *buf, size_t size, const char *tag);

#endif /* VMMTEST_H */
