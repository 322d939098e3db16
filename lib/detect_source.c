/* SPDX-License-Identifier: MIT */
/*
 * detect_source.c - where the detector's inputs come from: this machine
 * (CPUID instruction, files under /, sysctl(3) on the BSDs) or a sysroot
 * tree (files under DIR, DIR/cpuid.txt, DIR/sysctl.txt).
 *
 * In a sysroot every path is resolved with openat2(RESOLVE_IN_ROOT) where
 * the kernel has it, so a tree copied from a real /sys - full of absolute
 * symlinks - is read inside the tree and never escapes to this machine's
 * own files.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#if defined(__linux__)
#include <linux/openat2.h>
#include <sys/syscall.h>
#endif
#if defined(__i386__) || defined(__x86_64__)
#include <cpuid.h>
#endif
#if defined(__OpenBSD__) || defined(__FreeBSD__)
#include <sys/types.h>
#include <sys/sysctl.h>
#endif

#include "zpsi/detect.h"
#include "zpsi/util.h"

#define CPUID_TXT_MAX	(1u << 20)	/* all CPUs of a big machine fit */
#define SYSCTL_TXT_MAX	(256u << 10)
#define DIR_MAX_NAMES	4096u

struct source_ctx {
	int root_fd;			/* -1: live, paths used as they are */
	char *label;
	struct zpsi_cpuid_dump dump;	/* sysroot cpuid.txt, n == 0 if none */
	struct zpsi_sysctl_table sysctl;
};

void zpsi_strv_free(char **v)
{
	if (!v)
		return;
	for (char **p = v; *p; p++)
		free(*p);
	free(v);
}

/* Open `path` (absolute) for this source. */
static int source_open(const struct source_ctx *c, const char *path, int flags)
{
	int fd;

	flags |= O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK;
	if (path[0] != '/')
		return -EINVAL;
	if (c->root_fd < 0) {
		fd = open(path, flags);
		return fd < 0 ? -errno : fd;
	}
#if defined(__linux__) && defined(SYS_openat2)
	{
		struct open_how how = { .flags = (uint64_t)flags, .resolve = RESOLVE_IN_ROOT };

		fd = (int)syscall(SYS_openat2, c->root_fd, path + 1, &how, sizeof(how));
		if (fd >= 0)
			return fd;
		if (errno != ENOSYS && errno != EPERM)	/* EPERM: seccomp */
			return -errno;
	}
#endif
	/* No openat2: relative to the root, symlinks not confined. */
	fd = openat(c->root_fd, path[1] ? path + 1 : ".", flags);
	return fd < 0 ? -errno : fd;
}

static int read_fd(int fd, size_t max, char **ret, size_t *ret_len)
{
	_cleanup_free_ char *buf = NULL;
	size_t len = 0, cap = 0;

	for (;;) {
		ssize_t n;

		if (len == cap) {
			size_t ncap = cap ? cap * 2 : 4096;
			char *nb;

			if (cap >= max)
				break;
			if (ncap > max)
				ncap = max;
			nb = realloc(buf, ncap + 1);
			if (!nb)
				return -ENOMEM;
			buf = nb;
			cap = ncap;
		}
		n = read(fd, buf + len, cap - len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	if (!buf) {
		buf = malloc(1);
		if (!buf)
			return -ENOMEM;
	}
	buf[len] = 0;
	*ret = ZPSI_TAKE_PTR(buf);
	*ret_len = len;
	return 0;
}

static int source_read_file(void *ctx, const char *path, size_t max, char **ret, size_t *ret_len)
{
	_cleanup_close_ int fd = -1;
	struct stat st;

	fd = source_open(ctx, path, 0);
	if (fd < 0)
		return fd;
	if (fstat(fd, &st) < 0)
		return -errno;
	if (S_ISDIR(st.st_mode))
		return -EISDIR;
	if (!S_ISREG(st.st_mode))	/* never block on a FIFO or a device */
		return -EINVAL;
	return read_fd(fd, max, ret, ret_len);
}

static int source_list_dir(void *ctx, const char *path, size_t max, char ***ret)
{
	_cleanup_close_ int fd = -1;
	char **names = NULL;
	size_t n = 0;
	struct dirent *de;
	DIR *d;

	fd = source_open(ctx, path, O_DIRECTORY);
	if (fd < 0)
		return fd;
	d = fdopendir(fd);
	if (!d)
		return -errno;
	fd = -1;	/* owned by d now */
	names = calloc(1, sizeof(char *));
	if (!names)
		goto oom;
	while ((de = readdir(d)) && n < max && n < DIR_MAX_NAMES) {
		char **nn;

		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		nn = realloc(names, (n + 2) * sizeof(char *));
		if (!nn)
			goto oom;
		names = nn;
		names[n] = strdup(de->d_name);
		if (!names[n])
			goto oom;
		names[++n] = NULL;
	}
	closedir(d);
	*ret = names;
	return 0;
oom:
	closedir(d);
	zpsi_strv_free(names);
	return -ENOMEM;
}

static int table_sysctl(void *ctx, const char *name, char **ret)
{
	const struct source_ctx *c = ctx;
	const char *v = zpsi_sysctl_get(&c->sysctl, name);
	char *s;

	if (!v)
		return -ENOENT;
	s = strdup(v);
	if (!s)
		return -ENOMEM;
	*ret = s;
	return 0;
}

#if defined(__OpenBSD__) || defined(__FreeBSD__)
/* The platform's own values: hw.vendor and hw.product are the SMBIOS
 * system strings on OpenBSD (empty under vmm(4) without SMBIOS);
 * kern.vm_guest is FreeBSD's own guess. */
static int live_sysctl(void *ctx, const char *name, char **ret)
{
	char buf[ZPSI_SYSCTL_VALUE_MAX];
	size_t len = sizeof(buf) - 1;
	char *s;

	(void)ctx;
#if defined(__OpenBSD__)
	int mib[2] = { CTL_HW, 0 };

	if (strcmp(name, "hw.vendor") == 0)
		mib[1] = HW_VENDOR;
	else if (strcmp(name, "hw.product") == 0)
		mib[1] = HW_PRODUCT;
	else
		return -ENOENT;
	if (sysctl(mib, 2, buf, &len, NULL, 0) < 0)
		return errno == EOPNOTSUPP ? -ENOENT : -errno;
#else
	if (sysctlbyname(name, buf, &len, NULL, 0) < 0)
		return -errno;
#endif
	if (len >= sizeof(buf))
		len = sizeof(buf) - 1;
	buf[len] = 0;
	s = strdup(buf);
	if (!s)
		return -ENOMEM;
	*ret = s;
	return 0;
}
#else
static int live_sysctl(void *ctx, const char *name, char **ret)
{
	(void)ctx;
	(void)name;
	(void)ret;
	return -ENOENT;	/* Linux has no such values; /proc/sys is not sysctl(3) */
}
#endif

#if defined(__i386__) || defined(__x86_64__)
static void live_cpuid(void *ctx, uint32_t leaf, uint32_t subleaf, uint32_t out[4])
{
	unsigned a, b, c, d;

	(void)ctx;
	__cpuid_count(leaf, subleaf, a, b, c, d);
	out[ZPSI_EAX] = a;
	out[ZPSI_EBX] = b;
	out[ZPSI_ECX] = c;
	out[ZPSI_EDX] = d;
}
#define LIVE_CPUID live_cpuid
#else
#define LIVE_CPUID NULL
#endif

static void ctx_free(void *p)
{
	struct source_ctx *c = p;

	if (!c)
		return;
	if (c->root_fd >= 0)
		close(c->root_fd);
	zpsi_cpuid_dump_done(&c->dump);
	zpsi_sysctl_table_done(&c->sysctl);
	free(c->label);
	free(c);
}

struct zpsi_detect_source *zpsi_detect_source_free(struct zpsi_detect_source *s)
{
	if (s) {
		if (s->free_ctx)
			s->free_ctx(s->ctx);
		free(s);
	}
	return NULL;
}

static int source_new(struct source_ctx **cret, struct zpsi_detect_source **sret, const char *label)
{
	struct source_ctx *c = calloc(1, sizeof(*c));
	struct zpsi_detect_source *s = calloc(1, sizeof(*s));

	if (!c || !s || !(c->label = strdup(label))) {
		free(c ? c->label : NULL);
		free(c);
		free(s);
		return -ENOMEM;
	}
	c->root_fd = -1;
	s->ctx = c;
	s->label = c->label;
	s->read_file = source_read_file;
	s->list_dir = source_list_dir;
	s->free_ctx = ctx_free;
	*cret = c;
	*sret = s;
	return 0;
}

int zpsi_detect_source_live(struct zpsi_detect_source **ret)
{
	struct source_ctx *c;
	struct zpsi_detect_source *s;
	int r;

	r = source_new(&c, &s, "live");
	if (r < 0)
		return r;
	s->cpuid = LIVE_CPUID;
	s->sysctl = live_sysctl;
	*ret = s;
	return 0;
}

int zpsi_detect_source_sysroot(const char *dir, struct zpsi_detect_source **ret)
{
	struct source_ctx *c;
	struct zpsi_detect_source *s;
	_cleanup_free_ char *text = NULL;
	size_t len;
	int r;

	r = source_new(&c, &s, dir);
	if (r < 0)
		return r;
	s->sysctl = table_sysctl;

	c->root_fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (c->root_fd < 0) {
		r = -errno;
		goto fail;
	}

	r = source_read_file(c, "/cpuid.txt", CPUID_TXT_MAX, &text, &len);
	if (r >= 0) {
		r = zpsi_cpuid_dump_parse(text, len, &c->dump);
		if (r < 0)
			goto fail;
		s->cpuid = zpsi_cpuid_dump_lookup;
		s->cpuid_ctx = &c->dump;
	} else if (r != -ENOENT) {
		goto fail;
	}
	free(text);
	text = NULL;

	r = source_read_file(c, "/sysctl.txt", SYSCTL_TXT_MAX, &text, &len);
	if (r >= 0) {
		r = zpsi_sysctl_parse(text, len, &c->sysctl);
		if (r < 0)
			goto fail;
	} else if (r != -ENOENT) {
		goto fail;
	}
	*ret = s;
	return 0;
fail:
	zpsi_detect_source_free(s);
	return r;
}
