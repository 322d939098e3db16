/* SPDX-License-Identifier: MIT */
/* test_cgroup.c - zpsid's cgroup manager: v1 against the real hierarchies
 * (create, attach a real process, write, read back, remove), v2 against the
 * real cgroup2 mount for what it offers here (no controllers) and against a
 * SIMULATED cgroup2 tree (a temporary directory of regular files, named as
 * such) for the cpu.max and memory.high formats this host cannot show. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "cgroup.h"

static void put(const char *dir, const char *file, const char *s)
{
	char p[512];
	FILE *f;

	snprintf(p, sizeof(p), "%s/%s", dir, file);
	f = fopen(p, "w");
	assert_non_null(f);
	fputs(s, f);
	fclose(f);
}

static void get(const char *dir, const char *file, char *buf, size_t cap)
{
	char p[512];
	FILE *f;

	snprintf(p, sizeof(p), "%s/%s", dir, file);
	f = fopen(p, "r");
	assert_non_null(f);
	assert_non_null(fgets(buf, (int)cap, f));
	fclose(f);
	buf[strcspn(buf, "\n")] = '\0';
}

static void test_names_and_paths(void **state)
{
	struct cg_mgr m = { .mode = CG_V1 };
	enum cg_mode x;

	(void)state;
	assert_int_equal(cg_mode_from_name("v2", &x), 0);
	assert_int_equal(x, CG_V2);
	assert_int_equal(cg_mode_from_name("v3", &x), -EINVAL);
	assert_string_equal(cg_mode_name(CG_AUTO), "auto");
	strcpy(m.parent, "/zpsi");
	assert_true(cg_path_under_parent(&m, "/zpsi/vm0"));
	assert_false(cg_path_under_parent(&m, "/zpsi"));
	assert_false(cg_path_under_parent(&m, "/zpsi/"));
	assert_false(cg_path_under_parent(&m, "/zpsix/vm0"));
	assert_false(cg_path_under_parent(&m, "/zpsi/../etc"));
	assert_false(cg_path_under_parent(&m, "zpsi/vm0"));
	assert_false(cg_path_under_parent(&m, "/other/vm0"));
}

/* /proc/PID/cgroup as the kernel writes it, v1 and v2, and hostile forms */
static void test_task_path(void **state)
{
	char dir[] = "/tmp/proc-cgroup-XXXXXX", f[512], out[64];
	struct cg_mgr v1 = { .mode = CG_V1 }, v2 = { .mode = CG_V2 };

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(f, sizeof(f), "%s/cgroup", dir);
	put(dir, "cgroup", "12:memory:/zpsi/a\n4:cpu,cpuacct:/zpsi/vm0/vcpu\n1:name=systemd:/x\n0::/unified\n");
	assert_int_equal(cg_task_path(&v1, f, out, sizeof(out)), 0);
	assert_string_equal(out, "/zpsi/vm0/vcpu");
	assert_int_equal(cg_task_path(&v2, f, out, sizeof(out)), 0);
	assert_string_equal(out, "/unified");
	assert_true(cg_path_within("/zpsi/vm0/vcpu", "/zpsi/vm0"));
	assert_true(cg_path_within("/zpsi/vm0", "/zpsi/vm0"));
	assert_false(cg_path_within("/zpsi/vm01", "/zpsi/vm0"));
	assert_false(cg_path_within("/zpsi", "/zpsi/vm0"));
	/* "cpuset" and "cpuacct" alone are not "cpu" */
	put(dir, "cgroup", "3:cpuset:/a\n2:cpuacct:/b\n");
	assert_int_equal(cg_task_path(&v1, f, out, sizeof(out)), -ENOENT);
	put(dir, "cgroup", "garbage without colons\n");
	assert_int_equal(cg_task_path(&v1, f, out, sizeof(out)), -EBADMSG);
	put(dir, "cgroup", "0::relative\n");
	assert_int_equal(cg_task_path(&v2, f, out, sizeof(out)), -EBADMSG);
	put(dir, "cgroup", "0::/a-path-longer-than-the-buffer-we-give-it-is-refused-not-cut-short\n");
	assert_int_equal(cg_task_path(&v2, f, out, sizeof(out)), -EBADMSG);
	unlink(f);
	rmdir(dir);
}

static void test_v2_simulated_tree(void **state)
{
	char root[] = "/tmp/simulated-cgroup2-XXXXXX", dir[256], buf[128];
	struct cg_mgr m;
	struct cg_values v;
	char *cg = NULL;

	(void)state;
	assert_non_null(mkdtemp(root));
	put(root, "cgroup.controllers", "cpuset cpu io memory pids\n");
	put(root, "cgroup.subtree_control", "");
	snprintf(dir, sizeof(dir), "%s/zpsi", root);
	assert_int_equal(mkdir(dir, 0755), 0);
	put(dir, "cgroup.subtree_control", "");
	assert_int_equal(cg_mgr_init(&m, CG_AUTO, root, "zpsi/"), 0);
	assert_int_equal(m.mode, CG_V2);	/* auto: cgroup.controllers lists cpu */
	assert_true(m.cpu_ok && m.mem_ok);
	assert_string_equal(m.parent, "/zpsi");
	get(dir, "cgroup.subtree_control", buf, sizeof(buf));
	assert_string_equal(buf, "+memory");	/* each write replaces the simulated file */
	assert_int_equal(cg_vm_create(&m, "vm0", &cg), 0);
	assert_string_equal(cg, "/zpsi/vm0");
	assert_int_equal(cg_vm_create(&m, "../x", &(char *){ NULL }), -EINVAL);
	snprintf(dir, sizeof(dir), "%s/zpsi/vm0", root);
	put(dir, "cpu.max", "max 100000\n");
	put(dir, "memory.high", "max\n");
	put(dir, "cgroup.procs", "");
	assert_int_equal(cg_apply(&m, cg, 160000, 100000, true, 1ull << 30), 0);
	get(dir, "cpu.max", buf, sizeof(buf));
	assert_string_equal(buf, "160000 100000");
	get(dir, "memory.high", buf, sizeof(buf));
	assert_string_equal(buf, "1073741824");
	assert_int_equal(cg_read(&m, cg, &v), 0);
	assert_int_equal(v.quota_us, 160000);
	assert_int_equal(v.period_us, 100000);
	assert_int_equal(v.mem_bytes, 1 << 30);
	assert_int_equal(cg_apply(&m, cg, 1000, 100000, true, 0), 0);
	get(dir, "memory.high", buf, sizeof(buf));
	assert_string_equal(buf, "max");	/* no target: no limit, never memory.max */
	assert_int_equal(cg_read(&m, cg, &v), 0);
	assert_int_equal(v.mem_bytes, -1);
	/* the kernel's CFS bounds are checked before writing */
	assert_int_equal(cg_apply(&m, cg, 999, 100000, false, 0), -EINVAL);
	assert_int_equal(cg_apply(&m, cg, 5000, 999, false, 0), -EINVAL);
	assert_int_equal(cg_apply(&m, cg, 5000, 1000001, false, 0), -EINVAL);
	get(dir, "cpu.max", buf, sizeof(buf));
	assert_string_equal(buf, "1000 100000");
	snprintf(buf, sizeof(buf), "rm -rf %s", root);
	assert_int_equal(system(buf), 0);
	free(cg);
}

static pid_t sleeper(void)
{
	pid_t p = fork();

	if (p == 0) {
		pause();
		_exit(0);
	}
	return p;
}

static void test_v1_real(void **state)
{
	char parent[64], dir[512], buf[128], pidstr[16];
	struct cg_mgr m;
	struct cg_values v;
	char *cg = NULL;
	pid_t child;
	int st;

	(void)state;
	if (geteuid() != 0 || access("/sys/fs/cgroup/cpu/cpu.cfs_quota_us", W_OK) != 0) {
		print_message("SKIP: v1 part needs root and /sys/fs/cgroup/cpu\n");
		skip();
	}
	snprintf(parent, sizeof(parent), "/zpsi-test-%d", (int)getpid());
	assert_int_equal(cg_mgr_init(&m, CG_V1, "/sys/fs/cgroup", parent), 0);
	assert_true(m.cpu_ok);
	assert_int_equal(cg_vm_create(&m, "vm", &cg), 0);
	child = sleeper();
	assert_int_equal(cg_attach(&m, cg, child, NULL, 0), 0);
	snprintf(dir, sizeof(dir), "/sys/fs/cgroup/cpu%s", cg);
	snprintf(pidstr, sizeof(pidstr), "%d", (int)child);
	get(dir, "cgroup.procs", buf, sizeof(buf));
	assert_string_equal(buf, pidstr);
	assert_int_equal(cg_apply(&m, cg, 150000, 50000, m.mem_ok, 64 << 20), 0);
	get(dir, "cpu.cfs_quota_us", buf, sizeof(buf));
	assert_string_equal(buf, "150000");
	get(dir, "cpu.cfs_period_us", buf, sizeof(buf));
	assert_string_equal(buf, "50000");
	assert_int_equal(cg_read(&m, cg, &v), 0);
	assert_int_equal(v.quota_us, 150000);
	if (m.mem_ok)
		assert_int_equal(v.mem_bytes, 64 << 20);
	/* a bad value reaches the kernel's own check too */
	assert_int_equal(cg_attach(&m, cg, 999999999, NULL, 0), -ESRCH);
	/* removal moves what is left to the parent first */
	assert_int_equal(cg_remove(&m, cg), 0);
	assert_int_equal(access(dir, F_OK), -1);
	assert_int_equal(cg_remove(&m, "/elsewhere/x"), -EPERM);
	kill(child, SIGKILL);
	waitpid(child, &st, 0);
	snprintf(dir, sizeof(dir), "/sys/fs/cgroup/cpu%s", parent);
	assert_int_equal(rmdir(dir), 0);
	snprintf(dir, sizeof(dir), "/sys/fs/cgroup/memory%s", parent);
	assert_int_equal(rmdir(dir), 0);
	free(cg);
}

static void test_v2_real_mount(void **state)
{
	const char *root = "/sys/fs/cgroup/unified";
	char parent[64], dir[512], buf[128], pidstr[16];
	struct cg_mgr m;
	char *cg = NULL;
	pid_t child;
	int st, r;

	(void)state;
	if (geteuid() != 0 || access("/sys/fs/cgroup/unified/cgroup.procs", W_OK) != 0) {
		print_message("SKIP: needs root and a cgroup2 mount at %s\n", root);
		skip();
	}
	snprintf(parent, sizeof(parent), "/zpsi-test-%d", (int)getpid());
	assert_int_equal(cg_mgr_init(&m, CG_V2, root, parent), 0);
	assert_int_equal(cg_vm_create(&m, "vm", &cg), 0);
	child = sleeper();
	assert_int_equal(cg_attach(&m, cg, child, NULL, 0), 0);
	snprintf(dir, sizeof(dir), "%s%s", root, cg);
	snprintf(pidstr, sizeof(pidstr), "%d", (int)child);
	get(dir, "cgroup.procs", buf, sizeof(buf));
	assert_string_equal(buf, pidstr);
	r = cg_apply(&m, cg, 50000, 100000, true, 1 << 20);
	if (!m.cpu_ok)	/* this host: cgroup2 without controllers */
		assert_int_equal(r, -EOPNOTSUPP);
	else
		assert_int_equal(r, 0);
	assert_int_equal(cg_remove(&m, cg), 0);
	kill(child, SIGKILL);
	waitpid(child, &st, 0);
	snprintf(dir, sizeof(dir), "%s%s", root, parent);
	assert_int_equal(rmdir(dir), 0);
	free(cg);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_names_and_paths),
		cmocka_unit_test(test_task_path),
		cmocka_unit_test(test_v2_simulated_tree),
		cmocka_unit_test(test_v1_real),
		cmocka_unit_test(test_v2_real_mount),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
