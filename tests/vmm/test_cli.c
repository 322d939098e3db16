/* SPDX-License-Identifier: MIT */
/*
 * test_cli.c - zpsi-vmm's command line and exit statuses: usage errors (2),
 * a missing or unusable /dev/kvm (125, said clearly), hostile kernel files
 * (125 with the loader's reason), the watchdog ending a guest that spins
 * (124), a triple fault (126), the guest's own status, and the documented
 * example guest of docs/guest.md.
 */
#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/wait.h>
#include <unistd.h>

#include "elfmini.h"
#include "vmmtest.h"

static int run_status(const char *const args[], const char *want_err, const char *want_out)
{
	struct vt_proc p;
	int st = vt_run(&p, args);

	if (want_err)
		VT_CHECK(strstr(p.err, want_err), "stderr lacks '%s': %s", want_err, p.err);
	if (want_out)
		VT_CHECK(strstr(p.out, want_out), "stdout lacks '%s': %s", want_out, p.out);
	vt_proc_free(&p);
	return st;
}

static void usage_errors(void)
{
	static const char *const bad[][6] = {
		{ NULL },
		{ "--payload", "nosuch", NULL },
		{ "--payload", "conformance", "--kernel", "x", NULL },
		{ "--payload", "conformance", "--vcpus", "5", NULL },
		{ "--payload", "conformance", "--vcpus", "0", NULL },
		{ "--payload", "conformance", "--mem", "3", NULL },
		{ "--payload", "conformance", "--mem", "4097", NULL },
		{ "--payload", "conformance", "--weight", "65536", NULL },
		{ "--payload", "workload", "--profile", "const:101", NULL },
		{ "--payload", "workload", "--profile", "step:10,20", NULL },
		{ "--payload", "workload", "--profile", "ramp:10,20,1,2", NULL },
		{ "--payload", "workload", "--profile", "idle:-1", NULL },
		{ "--payload", "workload", "--profile", "sine:5", NULL },
		{ "--payload", "workload", "--report", "mmio", NULL },
		{ "--payload", "workload", "--timeout", "0", NULL },
		{ "--payload", "workload", "stray", NULL },
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int st = run_status(bad[i], NULL, NULL);

		VT_CHECK(st == 2, "usage error %zu (%s %s %s %s) gives %d", i, bad[i][0] ? bad[i][0] : "",
			 bad[i][0] && bad[i][1] ? bad[i][1] : "", bad[i][1] && bad[i][2] ? bad[i][2] : "",
			 bad[i][2] && bad[i][3] ? bad[i][3] : "", st);
	}
	VT_CHECK(run_status((const char *const[]){ "--help", NULL }, NULL, "Usage: zpsi-vmm") == 0, "--help");
	VT_CHECK(run_status((const char *const[]){ "--list-payloads", NULL }, NULL, "conformance") == 0,
		 "--list-payloads");
	VT_CHECK(run_status((const char *const[]){ "--payload", "conformance", "--signature", "ThirteenChars", NULL },
			    "signature", NULL) == 125, "a 13-byte signature is refused");
	VT_CHECK(run_status((const char *const[]){ "--payload", "conformance", "--signature", "bad\tsig", NULL },
			    "signature", NULL) == 125, "a signature with a control character is refused");
}

static void hostile_kernels(void)
{
	char path[256];
	FILE *f;

	VT_CHECK(run_status((const char *const[]){ "--kernel", "/nonexistent/kernel", NULL }, "No such file", NULL) == 125,
		 "missing kernel file");
	vt_tmpname(path, sizeof(path), "text");
	f = fopen(path, "w");
	fputs("#!/bin/sh\n# a shell script is not a guest kernel, however long it is\necho no\n", f);
	fclose(f);
	VT_CHECK(run_status((const char *const[]){ "--kernel", path, NULL }, "not an ELF", NULL) == 125,
		 "a text file is not a kernel");
	unlink(path);
	VT_CHECK(run_status((const char *const[]){ "--kernel", "/dev/null", NULL }, NULL, NULL) == 125,
		 "/dev/null is not a kernel");
	/* Our own VMM binary: a PIE, dynamically linked. */
	VT_CHECK(run_status((const char *const[]){ "--kernel", getenv("ZPSI_VMM"), NULL }, "link with", NULL) == 125,
		 "a host program is refused with the reason");
}

static int run_code(const unsigned char *code, size_t len, const char *timeout, const char *want_err)
{
	char path[256];
	int st;

	vt_tmpname(path, sizeof(path), "mini.elf");
	if (elfmini_write(path, code, len) < 0)
		return -1;
	st = run_status((const char *const[]){ "--kernel", path, "--timeout", timeout, NULL }, want_err, NULL);
	unlink(path);
	return st;
}

static void guest_endings(void)
{
	static const unsigned char spin[] = { 0xEB, 0xFE };			/* jmp . */
	static const unsigned char ud2[] = { 0x0F, 0x0B };			/* #UD, no IDT */
	static const unsigned char exit7[] = { 0xB8, 7, 0, 0, 0, 0xE7, 0xF4 };	/* out eax, 0xF4 */
	static const unsigned char exit200[] = { 0xB8, 200, 0, 0, 0, 0xE7, 0xF4 };
	static const unsigned char halt[] = { 0xFA, 0xF4, 0xEB, 0xFC };		/* cli; hlt */
	static const unsigned char wild[] = { 0x48, 0xB8, 0, 0, 0, 0, 0, 0, 0, 0x40, 0xFF, 0xE0 };	/* jmp 2^62 */

	VT_CHECK(run_code(spin, sizeof(spin), "1", "watchdog") == 124, "the watchdog ends a spinning guest");
	VT_CHECK(run_code(ud2, sizeof(ud2), "10", "triple fault") == 126, "a triple fault is a crash");
	VT_CHECK(run_code(wild, sizeof(wild), "10", NULL) == 126, "a jump into nowhere is a crash");
	VT_CHECK(run_code(exit7, sizeof(exit7), "10", NULL) == 7, "the guest's own status");
	VT_CHECK(run_code(exit200, sizeof(exit200), "10", NULL) == 119, "statuses above 119 are clamped");
	VT_CHECK(run_code(halt, sizeof(halt), "10", NULL) == 0, "every vCPU halted for good: status 0");
}

static void example_guest(void)
{
	const char *ex = getenv("ZPSI_GUEST_EXAMPLE");

	VT_CHECK(ex && run_status((const char *const[]){ "--kernel", ex, "--timeout", "10", NULL }, NULL,
				  "hello: registered, the aggregate is 25 %") == 0,
		 "the docs/guest.md example runs");
}

/* /dev/kvm missing (an empty /dev) or unusable (/dev/null in its place),
 * in a private mount namespace.  Skipped where namespaces are not allowed. */
static void no_kvm(const char *how, const char *want)
{
	int out[2], st;
	pid_t pid;
	char buf[4096] = "";
	ssize_t n, len = 0;

	if (pipe(out) < 0)
		return;
	pid = fork();
	if (pid == 0) {
		dup2(out[1], 2);
		if (unshare(CLONE_NEWNS) < 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
			_exit(77);
		if (strcmp(how, "missing") == 0 ? mount("tmpfs", "/dev", "tmpfs", 0, NULL) < 0
						: mount("/dev/null", "/dev/kvm", NULL, MS_BIND, NULL) < 0)
			_exit(77);
		execl(getenv("ZPSI_VMM"), "zpsi-vmm", "--payload", "conformance", (char *)NULL);
		_exit(127);
	}
	close(out[1]);
	while ((n = read(out[0], buf + len, sizeof(buf) - 1 - (size_t)len)) > 0)
		len += n;
	close(out[0]);
	waitpid(pid, &st, 0);
	if (WIFEXITED(st) && WEXITSTATUS(st) == 77) {
		printf("note: /dev/kvm %s: no mount namespace here, not checked\n", how);
		return;
	}
	VT_CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 125, "/dev/kvm %s: status %d", how, WEXITSTATUS(st));
	VT_CHECK(strstr(buf, want), "/dev/kvm %s: message '%s'", how, buf);
}

int main(void)
{
	vt_require_kvm();
	usage_errors();
	hostile_kernels();
	guest_endings();
	example_guest();
	no_kvm("missing", "/dev/kvm does not exist");
	no_kvm("unusable", "/dev/kvm is not usable");
	return vt_done("cli");
}
