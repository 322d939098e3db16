/* SPDX-License-Identifier: MIT */
/*
 * cgroup.c - the cgroup manager (cgroup.h).  The kernel's documents:
 * Documentation/admin-guide/cgroup-v2.rst ("cpu.max", "memory.high"),
 * Documentation/scheduler/sched-bwc.rst (v1 CFS bandwidth), and
 * Documentation/admin-guide/cgroup-v1/memory.rst (soft limits).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cgroup.h"
#include "zpsi/util.h"

static const char *const mode_names[] = { "none", "v1", "v2", "auto" };

const char *cg_mode_name(enum cg_mode m)
{
	return (unsigned)m < ZPSI_ARRAY_SIZE(mode_names) ? mode_names[m] : "invalid";
}

int cg_mode_from_name(const char *s, enum cg_mode *out)
{
	for (unsigned i = 0; i < ZPSI_ARRAY_SIZE(mode_names); i++)
		if (strcmp(s, mode_names[i]) == 0) {
			*out = (enum cg_mode)i;
			return 0;
		}
	return -EINVAL;
}

/* The hierarchies a mode uses: v1 has one per controller, v2 one. */
enum hier { H_CPU, H_MEM, H_COUNT };

static int hier_path(const struct cg_mgr *m, enum hier h, const char *cgpath, const char *file,
		     char *buf, size_t cap)
{
	int n;

	if (m->mode == CG_V1)
		n = snprintf(buf, cap, "%s/%s%s%s%s", m->root, h == H_CPU ? "cpu" : "memory", cgpath,
			     file ? "/" : "", file ? file : "");
	else
		n = snprintf(buf, cap, "%s%s%s%s", m->root, cgpath, file ? "/" : "", file ? file : "");
	return n < 0 || (size_t)n >= cap ? -ENAMETOOLONG : 0;
}

static unsigned nhier(const struct cg_mgr *m)
{
	return m->mode == CG_V1 ? H_COUNT : m->mode == CG_V2 ? 1 : 0;
}

/* One write(2) per value: cgroup files act on each write. */
static int write_str(const char *path, const char *s)
{
	_cleanup_close_ int fd = open(path, O_WRONLY | O_CLOEXEC | O_TRUNC);
	size_t n = strlen(s);
	ssize_t w;

	if (fd < 0)
		return -errno;
	w = write(fd, s, n);
	if (w < 0)
		return -errno;
	return (size_t)w == n ? 0 : -EIO;
}

static int read_str(const char *path, char *buf, size_t cap)
{
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -errno;
	n = read(fd, buf, cap - 1);
	if (n < 0)
		return -errno;
	buf[n] = '\0';
	return 0;
}

static bool file_exists(const char *path)
{
	return access(path, F_OK) == 0;
}

static bool word_in(const char *list, const char *word)
{
	size_t n = strlen(word);

	for (const char *p = list; (p = strstr(p, word)); p += n)
		if ((p == list || p[-1] == ' ' || p[-1] == '\n') &&
		    (p[n] == '\0' || p[n] == ' ' || p[n] == '\n'))
			return true;
	return false;
}

/* mkdir -p of a cgroup path below a hierarchy root. */
static int mkdir_cg(const char *base, const char *cgpath)
{
	char buf[512];
	size_t blen = strlen(base);

	if (blen + strlen(cgpath) >= sizeof(buf))
		return -ENAMETOOLONG;
	memcpy(buf, base, blen);
	for (const char *p = cgpath; *p;) {
		const char *slash = strchr(p + 1, '/');
		size_t len = slash ? (size_t)(slash - p) : strlen(p);

		memcpy(buf + blen, p, len);
		blen += len;
		buf[blen] = '\0';
		if (mkdir(buf, 0755) < 0 && errno != EEXIST)
			return -errno;
		p += len;
	}
	return 0;
}

static int normalise_parent(const char *in, char *out, size_t cap)
{
	size_t n;

	/* "zpsi", "/zpsi", "/zpsi/" all mean the cgroup path "/zpsi" */
	while (*in == '/')
		in++;
	n = strlen(in);
	while (n && in[n - 1] == '/')
		n--;
	if (n + 2 > cap)
		return -ENAMETOOLONG;
	if (strstr(in, "..") || strstr(in, "//"))
		return -EINVAL;
	if (n == 0) {
		out[0] = '\0';
		return 0;
	}
	out[0] = '/';
	memcpy(out + 1, in, n);
	out[n + 1] = '\0';
	return 0;
}

/* v2: a child can use a controller only when every ancestor enables it in
 * cgroup.subtree_control. */
static void enable_v2_controllers(struct cg_mgr *m)
{
	char path[512], ctl[256] = "";
	size_t plen = strlen(m->parent);

	snprintf(path, sizeof(path), "%s/cgroup.controllers", m->root);
	if (read_str(path, ctl, sizeof(ctl)) < 0)
		return;
	m->cpu_ok = word_in(ctl, "cpu");
	m->mem_ok = word_in(ctl, "memory");
	for (size_t i = 0; i <= plen; i++) {
		if (i != plen && m->parent[i] != '/')
			continue;
		if (snprintf(path, sizeof(path), "%s%.*s/cgroup.subtree_control", m->root, (int)i,
			     m->parent) >= (int)sizeof(path))
			return;
		if (m->cpu_ok && write_str(path, "+cpu") < 0)
			m->cpu_ok = false;
		if (m->mem_ok && write_str(path, "+memory") < 0)
			m->mem_ok = false;
	}
}

int cg_mgr_init(struct cg_mgr *m, enum cg_mode mode, const char *root, const char *parent)
{
	struct cg_mgr n = { .mode = mode };
	char path[512], ctl[256] = "";
	int r;

	if (strlen(root) >= sizeof(n.root))
		return -ENAMETOOLONG;
	strcpy(n.root, root);
	r = normalise_parent(parent, n.parent, sizeof(n.parent));
	if (r < 0)
		return r;
	if (n.mode == CG_AUTO) {
		snprintf(path, sizeof(path), "%s/cgroup.controllers", root);
		if (read_str(path, ctl, sizeof(ctl)) == 0 && word_in(ctl, "cpu"))
			n.mode = CG_V2;
		else {
			snprintf(path, sizeof(path), "%s/cpu/cpu.cfs_quota_us", root);
			n.mode = file_exists(path) ? CG_V1 : CG_NONE;
		}
	}
	if (n.mode == CG_NONE) {
		*m = n;
		return 0;
	}
	for (unsigned h = 0; h < nhier(&n); h++) {
		char base[512];

		r = hier_path(&n, (enum hier)h, "", NULL, base, sizeof(base));
		if (r < 0)
			return r;
		if (!file_exists(base))
			return -ENOENT;
		r = mkdir_cg(base, n.parent);
		if (r < 0)
			return r;
	}
	if (n.mode == CG_V1) {
		hier_path(&n, H_CPU, n.parent, "cpu.cfs_quota_us", path, sizeof(path));
		n.cpu_ok = file_exists(path);
		hier_path(&n, H_MEM, n.parent, "memory.soft_limit_in_bytes", path, sizeof(path));
		n.mem_ok = file_exists(path);
	} else
		enable_v2_controllers(&n);
	*m = n;
	return 0;
}

bool cg_path_under_parent(const struct cg_mgr *m, const char *cgpath)
{
	size_t n = strlen(m->parent);

	if (cgpath[0] != '/' || strstr(cgpath, "/..") || strstr(cgpath, "//") ||
	    strncmp(cgpath, m->parent, n) != 0)
		return false;
	return cgpath[n] == '/' && cgpath[n + 1] != '\0';
}

bool cg_path_within(const char *path, const char *cgpath)
{
	size_t n = strlen(cgpath);

	return strncmp(path, cgpath, n) == 0 && (path[n] == '\0' || path[n] == '/');
}

/* One line of /proc/PID/cgroup is "ID:CONTROLLERS:PATH"; the line that
 * counts is v2's "0::PATH" or, on v1, the one whose controller list has
 * "cpu" (where the quota is enforced). */
int cg_task_path(const struct cg_mgr *m, const char *procfile, char *out, size_t cap)
{
	char buf[4096], *line, *save = NULL;
	int r;

	if (m->mode == CG_NONE)
		return -EOPNOTSUPP;
	r = read_str(procfile, buf, sizeof(buf));
	if (r < 0)
		return r;
	for (line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char *c1 = strchr(line, ':'), *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
		bool match;

		if (!c2)
			return -EBADMSG;
		*c2 = '\0';
		if (m->mode == CG_V2) {
			match = strcmp(line, "0:") == 0;
		} else {
			char ctl[256];

			snprintf(ctl, sizeof(ctl), "%s", c1 + 1);
			for (char *p = ctl; *p; p++)
				if (*p == ',')
					*p = ' ';
			match = word_in(ctl, "cpu");
		}
		if (!match)
			continue;
		if (c2[1] != '/' || strlen(c2 + 1) >= cap)
			return -EBADMSG;
		memcpy(out, c2 + 1, strlen(c2 + 1) + 1);
		return 0;
	}
	return -ENOENT;
}

bool cg_task_within(const struct cg_mgr *m, pid_t pid, const int32_t *tids, unsigned ntids,
		    const char *cgpath)
{
	char file[64], path[512];

	snprintf(file, sizeof(file), "/proc/%d/cgroup", (int)pid);
	/* exactly there: a VMM below a cgroup that holds other processes
	 * must not get zpsid to throttle them */
	if (cg_task_path(m, file, path, sizeof(path)) == 0 && strcmp(path, cgpath) == 0)
		return true;
	for (unsigned i = 0; i < ntids; i++) {
		snprintf(file, sizeof(file), "/proc/%d/task/%d/cgroup", (int)pid, (int)tids[i]);
		if (cg_task_path(m, file, path, sizeof(path)) == 0 && strcmp(path, cgpath) == 0)
			return true;
	}
	return false;
}

int cg_vm_create(const struct cg_mgr *m, const char *name, char **cgpath_out)
{
	char cg[512];
	char *dup;
	int r;

	if (m->mode == CG_NONE)
		return -EOPNOTSUPP;
	if (strchr(name, '/') || name[0] == '.' || !name[0])
		return -EINVAL;
	if (snprintf(cg, sizeof(cg), "%s/%s", m->parent, name) >= (int)sizeof(cg))
		return -ENAMETOOLONG;
	for (unsigned h = 0; h < nhier(m); h++) {
		char path[512];

		r = hier_path(m, (enum hier)h, cg, NULL, path, sizeof(path));
		if (r < 0)
			return r;
		if (mkdir(path, 0755) < 0 && errno != EEXIST)
			return -errno;
	}
	dup = strdup(cg);
	if (!dup)
		return -ENOMEM;
	*cgpath_out = dup;
	return 0;
}

static int write_id(const char *path, long id)
{
	char s[24];

	snprintf(s, sizeof(s), "%ld", id);
	return write_str(path, s);
}

int cg_attach(const struct cg_mgr *m, const char *cgpath, pid_t pid, const int32_t *tids,
	      unsigned ntids)
{
	char path[512];
	int r;

	if (m->mode == CG_NONE)
		return -EOPNOTSUPP;
	if (m->mode == CG_V1) {
		if (ntids == 0) {
			r = hier_path(m, H_CPU, cgpath, "cgroup.procs", path, sizeof(path));
			if (r < 0 || (r = write_id(path, pid)) < 0)
				return r;
		}
		for (unsigned i = 0; i < ntids; i++) {
			r = hier_path(m, H_CPU, cgpath, "tasks", path, sizeof(path));
			if (r < 0 || (r = write_id(path, tids[i])) < 0)
				return r;
		}
		/* memory is charged to the address space: the whole process */
		r = hier_path(m, H_MEM, cgpath, "cgroup.procs", path, sizeof(path));
		return r < 0 ? r : write_id(path, pid);
	}
	r = hier_path(m, H_CPU, cgpath, "cgroup.procs", path, sizeof(path));
	return r < 0 ? r : write_id(path, pid);
}

int cg_apply(const struct cg_mgr *m, const char *cgpath, uint64_t quota_us, uint32_t period_us,
	     bool memory, uint64_t mem_bytes)
{
	char path[512], val[64];
	int r, missing = 0;

	if (m->mode == CG_NONE)
		return -EOPNOTSUPP;
	/* the kernel refuses a quota below 1 ms and a period outside 1 ms..1 s */
	if (quota_us < 1000 || period_us < 1000 || period_us > 1000000 || quota_us > INT64_MAX / 2)
		return -EINVAL;
	if (!m->cpu_ok)
		missing = -EOPNOTSUPP;
	else if (m->mode == CG_V1) {
		r = hier_path(m, H_CPU, cgpath, "cpu.cfs_period_us", path, sizeof(path));
		snprintf(val, sizeof(val), "%" PRIu32, period_us);
		if (r < 0 || (r = write_str(path, val)) < 0)
			return r;
		r = hier_path(m, H_CPU, cgpath, "cpu.cfs_quota_us", path, sizeof(path));
		snprintf(val, sizeof(val), "%" PRIu64, quota_us);
		if (r < 0 || (r = write_str(path, val)) < 0)
			return r;
	} else {
		r = hier_path(m, H_CPU, cgpath, "cpu.max", path, sizeof(path));
		snprintf(val, sizeof(val), "%" PRIu64 " %" PRIu32, quota_us, period_us);
		if (r < 0 || (r = write_str(path, val)) < 0)
			return r;
	}
	if (!memory)
		return missing;
	if (!m->mem_ok)
		return -EOPNOTSUPP;
	if (m->mode == CG_V1) {
		r = hier_path(m, H_MEM, cgpath, "memory.soft_limit_in_bytes", path, sizeof(path));
		snprintf(val, sizeof(val), "%" PRId64, mem_bytes ? (int64_t)mem_bytes : (int64_t)-1);
	} else {
		r = hier_path(m, H_CPU, cgpath, "memory.high", path, sizeof(path));
		if (mem_bytes)
			snprintf(val, sizeof(val), "%" PRIu64, mem_bytes);
		else
			strcpy(val, "max");
	}
	if (r < 0 || (r = write_str(path, val)) < 0)
		return r;
	return missing;
}

static int64_t parse_limit(const char *s)
{
	char *end;
	long long v;

	if (strncmp(s, "max", 3) == 0)
		return -1;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno || end == s)
		return INT64_MIN;
	/* v1 reports "no limit" as a huge page-rounded number */
	return v >= (1ll << 62) ? -1 : v;
}

int cg_read(const struct cg_mgr *m, const char *cgpath, struct cg_values *out)
{
	struct cg_values v = { -1, -1, -1 };
	char path[512], buf[128];
	int r;

	if (m->mode == CG_NONE)
		return -EOPNOTSUPP;
	if (m->mode == CG_V1) {
		hier_path(m, H_CPU, cgpath, "cpu.cfs_quota_us", path, sizeof(path));
		if ((r = read_str(path, buf, sizeof(buf))) < 0)
			return r;
		v.quota_us = parse_limit(buf);
		hier_path(m, H_CPU, cgpath, "cpu.cfs_period_us", path, sizeof(path));
		if ((r = read_str(path, buf, sizeof(buf))) < 0)
			return r;
		v.period_us = parse_limit(buf);
		hier_path(m, H_MEM, cgpath, "memory.soft_limit_in_bytes", path, sizeof(path));
		if (read_str(path, buf, sizeof(buf)) == 0)
			v.mem_bytes = parse_limit(buf);
	} else {
		char *sp;

		hier_path(m, H_CPU, cgpath, "cpu.max", path, sizeof(path));
		if ((r = read_str(path, buf, sizeof(buf))) < 0)
			return r;
		v.quota_us = parse_limit(buf);
		sp = strchr(buf, ' ');
		v.period_us = sp ? parse_limit(sp + 1) : INT64_MIN;
		hier_path(m, H_CPU, cgpath, "memory.high", path, sizeof(path));
		if (read_str(path, buf, sizeof(buf)) == 0)
			v.mem_bytes = parse_limit(buf);
	}
	if (v.quota_us == INT64_MIN || v.period_us == INT64_MIN || v.mem_bytes == INT64_MIN)
		return -EBADMSG;
	*out = v;
	return 0;
}

/* Move every task of one hierarchy's cgroup to the parent, bounded. */
static int evacuate(const struct cg_mgr *m, enum hier h, const char *cgpath)
{
	char path[512], dst[512], buf[4096];
	int r;

	r = hier_path(m, h, cgpath, "cgroup.procs", path, sizeof(path));
	if (r < 0)
		return r;
	r = hier_path(m, h, m->parent, "cgroup.procs", dst, sizeof(dst));
	if (r < 0)
		return r;
	for (int round = 0; round < 8; round++) {
		char *p, *end;

		if (read_str(path, buf, sizeof(buf)) < 0 || !buf[0])
			return 0;
		for (p = buf; *p; p = end) {
			long pid = strtol(p, &end, 10);

			if (end == p)
				break;
			write_id(dst, pid);	/* a task that exited meanwhile: fine */
			while (*end == '\n')
				end++;
		}
	}
	return -EBUSY;
}

int cg_remove(const struct cg_mgr *m, const char *cgpath)
{
	int r = 0;

	if (m->mode == CG_NONE)
		return -EOPNOTSUPP;
	if (!cg_path_under_parent(m, cgpath))
		return -EPERM;
	for (unsigned h = 0; h < nhier(m); h++) {
		char path[512];

		if (hier_path(m, (enum hier)h, cgpath, NULL, path, sizeof(path)) < 0)
			continue;
		if (!file_exists(path))
			continue;
		evacuate(m, (enum hier)h, cgpath);
		if (rmdir(path) < 0 && errno != ENOENT && r == 0)
			r = -errno;
	}
	return r;
}
