/* SPDX-License-Identifier: MIT */
/*
 * cgroup.h - zpsid's cgroup manager: a VM's cgroup under a configurable
 * parent, CPU quota and a memory target, on cgroup v1 (cpu + memory
 * hierarchies) or v2 (one unified hierarchy).  Never a hard memory limit:
 * v1 memory.soft_limit_in_bytes, v2 memory.high (SPEC component 5).
 * Functions return 0 or -errno and never log.
 */
#ifndef ZPSID_CGROUP_H
#define ZPSID_CGROUP_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

enum cg_mode { CG_NONE, CG_V1, CG_V2, CG_AUTO };

struct cg_mgr {
	enum cg_mode mode;	/* resolved: NONE, V1 or V2 */
	char root[256];		/* v1: the directory holding cpu/ and memory/; v2: the cgroup2 mount */
	char parent[256];	/* cgroup path of the parent, "/zpsi" ("" = the root) */
	bool cpu_ok, mem_ok;	/* the controllers are there */
};

const char *cg_mode_name(enum cg_mode m);
int cg_mode_from_name(const char *s, enum cg_mode *out);

/* Resolve CG_AUTO (v2 if ROOT/cgroup.controllers lists cpu, else v1 if
 * ROOT/cpu/cpu.cfs_quota_us exists, else none), create the parent in every
 * hierarchy used, and on v2 enable +cpu +memory down to it. */
int cg_mgr_init(struct cg_mgr *m, enum cg_mode mode, const char *root, const char *parent);

/* Is `cgpath` (a cgroup path, "/zpsi/vm0") strictly below the parent? */
bool cg_path_under_parent(const struct cg_mgr *m, const char *cgpath);

/* Is `path` the cgroup `cgpath` or one below it? */
bool cg_path_within(const char *path, const char *cgpath);

/* The task's cgroup path in the hierarchy that enforces the CPU quota (v2:
 * the unified one, v1: the one with "cpu"), from a /proc/.../cgroup file.
 * -ENOENT no such line, -EBADMSG a malformed file. */
int cg_task_path(const struct cg_mgr *m, const char *procfile, char *out, size_t cap);

/* Does the process (its main thread) or one of the listed threads run in
 * exactly `cgpath`?  What makes a cgroup a VMM's own to name. */
bool cg_task_within(const struct cg_mgr *m, pid_t pid, const int32_t *tids, unsigned ntids,
		    const char *cgpath);

/* mkdir PARENT/NAME in every hierarchy (an existing one is reused).
 * *cgpath_out is malloc'ed. */
int cg_vm_create(const struct cg_mgr *m, const char *name, char **cgpath_out);

/* Move the process (ntids == 0) or the given threads into the cgroup.  v1
 * writes threads to the cpu hierarchy's "tasks" and the process to the
 * memory hierarchy; v2 moves the whole process (per-thread placement needs a
 * threaded subtree, which a VMM's other threads would have to join). */
int cg_attach(const struct cg_mgr *m, const char *cgpath, pid_t pid, const int32_t *tids,
	      unsigned ntids);

/* Write the CPU quota (v2 "cpu.max": "QUOTA PERIOD"; v1 cfs_period_us then
 * cfs_quota_us) and the memory target (0 = none: v2 "max", v1 -1).
 * -EOPNOTSUPP when a controller is missing (what it could write, it did). */
int cg_apply(const struct cg_mgr *m, const char *cgpath, uint64_t quota_us, uint32_t period_us,
	     bool memory, uint64_t mem_bytes);

struct cg_values {
	int64_t quota_us;	/* -1 = unlimited */
	int64_t period_us;
	int64_t mem_bytes;	/* -1 = none */
};
int cg_read(const struct cg_mgr *m, const char *cgpath, struct cg_values *out);

/* Move whatever is left in the cgroup to the parent and remove it. */
int cg_remove(const struct cg_mgr *m, const char *cgpath);

#endif /* ZPSID_CGROUP_H */
