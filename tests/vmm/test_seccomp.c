/* SPDX-License-Identifier: MIT */
/*
 * test_seccomp.c - after set-up zpsi-vmm runs under its seccomp filter:
 * /proc shows the filter on the running VMM (and none with --no-seccomp),
 * the guest still does everything (park, wake), and a system call outside
 * the allow-list kills the process with SIGSYS.  Sanitizer builds do not
 * apply the filter (vmm/seccomp.c says why): the checks are skipped there.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "payloads.h"
#include "vmmtest.h"

static long proc_status(pid_t pid, const char *key)
{
	char path[64], line[256];
	long v = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	f = fopen(path, "r");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (strncmp(line, key, strlen(key)) == 0 && line[strlen(key)] == ':')
			v = strtol(line + strlen(key) + 1, NULL, 10);
	fclose(f);
	return v;
}

static void filter_in_proc(bool with)
{
	const char *args[] = { "--payload", "workload", "--profile", "idle:0", "--param", "600000",
			       "--timeout", "60", with ? NULL : "--no-seccomp", NULL };
	struct vt_proc p;
	char line[256];
	bool parked = false;
	int st;

	vt_spawn(&p, args);
	while (!parked && vt_next_line(&p, line, sizeof(line), 30000))
		parked = strcmp(line, "idle: entering C1") == 0;
	VT_CHECK(parked, "the guest parked");
	VT_CHECK(proc_status(p.pid, "Seccomp") == (with ? 2 : 0), "Seccomp mode %ld (with=%d)",
		 proc_status(p.pid, "Seccomp"), with);
	if (with)
		VT_CHECK(proc_status(p.pid, "Seccomp_filters") >= 1, "a filter is installed");
	kill(p.pid, SIGUSR1);
	st = vt_finish(&p);
	VT_CHECK(st == 0 && strstr(p.out, "idle: woke from C1 (host)"), "wake under the filter: %d", st);
	vt_proc_free(&p);
}

/* In a child: run a guest to its end under the filter, then try to open a
 * socket: the kernel must kill the process. */
static void forbidden_call_kills(void)
{
	pid_t pid = fork();
	int st;

	if (pid == 0) {
		const struct vmm_payload *pl = vmm_payload_find("bench");
		struct vmm_config cfg = { .timeout_ms = 30000, .param = { 0, 10, 1 },
					  .console = NULL };
		struct vmm *vm;
		int status = -1;

		if (!pl || vmm_new(&cfg, &vm) < 0 || vmm_load_elf(vm, pl->image, pl->size) < 0 ||
		    vmm_start(vm, VMM_START_SECCOMP) < 0 || vmm_wait(vm, &status) < 0 || status != 0)
			_exit(3);
		if (socket(AF_INET, SOCK_STREAM, 0) >= 0)
			_exit(4);
		_exit(5);
	}
	waitpid(pid, &st, 0);
	VT_CHECK(WIFSIGNALED(st) && WTERMSIG(st) == SIGSYS, "socket() after set-up: %s %d",
		 WIFSIGNALED(st) ? "signal" : "exit", WIFSIGNALED(st) ? WTERMSIG(st) : WEXITSTATUS(st));
}

int main(void)
{
	vt_require_kvm();
	if (!vmm_seccomp_available()) {
		printf("SKIP: sanitizer build: the seccomp filter is not applied (vmm/seccomp.c)\n");
		return 77;
	}
	filter_in_proc(true);
	filter_in_proc(false);
	forbidden_call_kills();
	return vt_done("seccomp");
}
