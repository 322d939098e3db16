/* SPDX-License-Identifier: MIT */
/*
 * detect_memory.c - a detection source whose files live in memory (see
 * zpsi/detect.h).  The same read_file/list_dir contract as a sysroot:
 * absent -> -ENOENT, a directory read as a file -> -EISDIR, reads capped.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "zpsi/detect.h"
#include "zpsi/util.h"

struct mem_file {
	char *path;
	char *data;
	size_t len;
};

struct zpsi_detect_memory {
	struct zpsi_detect_source src;
	char *label;
	struct mem_file *files;
	size_t n, bytes;
	struct zpsi_cpuid_dump dump;
	struct zpsi_sysctl_table sysctl;
};

/* Absolute, no empty, "." or ".." components, no trailing slash. */
static bool path_ok(const char *p)
{
	const char *c = p;

	if (p[0] != '/' || p[1] == 0)
		return false;
	while (*c) {
		const char *next;
		size_t n;

		c++;	/* past '/' */
		next = strchr(c, '/');
		n = next ? (size_t)(next - c) : strlen(c);
		if (n == 0 || (n == 1 && c[0] == '.') || (n == 2 && c[0] == '.' && c[1] == '.'))
			return false;
		c += n;
	}
	return true;
}

/* `dir` is a proper ancestor directory of `path`. */
static bool is_under(const char *path, const char *dir)
{
	size_t n = strlen(dir);

	if (n == 1)	/* "/" */
		return path[1] != 0;
	return strncmp(path, dir, n) == 0 && path[n] == '/';
}

static const struct mem_file *find(const struct zpsi_detect_memory *m, const char *path)
{
	for (size_t i = 0; i < m->n; i++)
		if (strcmp(m->files[i].path, path) == 0)
			return &m->files[i];
	return NULL;
}

static bool is_dir(const struct zpsi_detect_memory *m, const char *path)
{
	if (strcmp(path, "/") == 0)
		return true;
	for (size_t i = 0; i < m->n; i++)
		if (is_under(m->files[i].path, path))
			return true;
	return false;
}

static int mem_read_file(void *ctx, const char *path, size_t max, char **ret, size_t *ret_len)
{
	const struct zpsi_detect_memory *m = ctx;
	const struct mem_file *f = find(m, path);
	size_t n;
	char *buf;

	if (!f)
		return is_dir(m, path) ? -EISDIR : -ENOENT;
	n = f->len < max ? f->len : max;
	buf = malloc(n + 1);
	if (!buf)
		return -ENOMEM;
	memcpy(buf, f->data, n);
	buf[n] = 0;
	*ret = buf;
	*ret_len = n;
	return 0;
}

static int mem_list_dir(void *ctx, const char *path, size_t max, char ***ret)
{
	const struct zpsi_detect_memory *m = ctx;
	size_t dlen = strcmp(path, "/") == 0 ? 0 : strlen(path), n = 0;
	char **names;

	if (find(m, path))
		return -ENOTDIR;
	if (!is_dir(m, path))
		return -ENOENT;
	names = calloc(m->n + 1, sizeof(char *));
	if (!names)
		return -ENOMEM;
	for (size_t i = 0; i < m->n && n < max; i++) {
		const char *p = m->files[i].path, *child, *slash;
		bool dup = false;
		size_t clen;

		if (!is_under(p, path))
			continue;
		child = p + dlen + 1;
		slash = strchr(child, '/');
		clen = slash ? (size_t)(slash - child) : strlen(child);
		for (size_t k = 0; k < n; k++)
			dup |= strlen(names[k]) == clen && strncmp(names[k], child, clen) == 0;
		if (dup)
			continue;
		names[n] = strndup(child, clen);
		if (!names[n]) {
			zpsi_strv_free(names);
			return -ENOMEM;
		}
		n++;
	}
	*ret = names;
	return 0;
}

static int mem_sysctl(void *ctx, const char *name, char **ret)
{
	const struct zpsi_detect_memory *m = ctx;
	const char *v = zpsi_sysctl_get(&m->sysctl, name);

	if (!v)
		return -ENOENT;
	*ret = strdup(v);
	return *ret ? 0 : -ENOMEM;
}

int zpsi_detect_memory_new(const char *label, struct zpsi_detect_memory **ret)
{
	struct zpsi_detect_memory *m = calloc(1, sizeof(*m));

	if (!m)
		return -ENOMEM;
	m->label = strdup(label ? label : "memory");
	if (!m->label) {
		free(m);
		return -ENOMEM;
	}
	m->src.label = m->label;
	m->src.ctx = m;
	m->src.read_file = mem_read_file;
	m->src.list_dir = mem_list_dir;
	m->src.sysctl = mem_sysctl;
	*ret = m;
	return 0;
}

int zpsi_detect_memory_add_file(struct zpsi_detect_memory *m, const char *path,
				const void *data, size_t len)
{
	struct mem_file *nf;
	char *p, *d;

	if (!path_ok(path))
		return -EINVAL;
	if (m->n >= ZPSI_DETECT_MEMORY_FILES || len > ZPSI_DETECT_MEMORY_BYTES - m->bytes)
		return -E2BIG;
	if (find(m, path) || is_dir(m, path))
		return -EEXIST;
	/* A file where this path needs a directory? */
	for (size_t i = 0; i < m->n; i++)
		if (is_under(path, m->files[i].path))
			return -EEXIST;
	nf = realloc(m->files, (m->n + 1) * sizeof(*nf));
	if (!nf)
		return -ENOMEM;
	m->files = nf;
	p = strdup(path);
	d = malloc(len ? len : 1);
	if (!p || !d) {
		free(p);
		free(d);
		return -ENOMEM;
	}
	if (len)
		memcpy(d, data, len);
	m->files[m->n++] = (struct mem_file){ p, d, len };
	m->bytes += len;
	return 0;
}

int zpsi_detect_memory_set_cpuid_dump(struct zpsi_detect_memory *m, const char *text, size_t len)
{
	struct zpsi_cpuid_dump d;
	int r = zpsi_cpuid_dump_parse(text, len, &d);

	if (r < 0)
		return r;
	zpsi_cpuid_dump_done(&m->dump);
	m->dump = d;
	m->src.cpuid = zpsi_cpuid_dump_lookup;
	m->src.cpuid_ctx = &m->dump;
	return 0;
}

int zpsi_detect_memory_set_sysctl(struct zpsi_detect_memory *m, const char *text, size_t len)
{
	struct zpsi_sysctl_table t;
	int r = zpsi_sysctl_parse(text, len, &t);

	if (r < 0)
		return r;
	zpsi_sysctl_table_done(&m->sysctl);
	m->sysctl = t;
	return 0;
}

const struct zpsi_detect_source *zpsi_detect_memory_source(struct zpsi_detect_memory *m)
{
	return &m->src;
}

struct zpsi_detect_memory *zpsi_detect_memory_free(struct zpsi_detect_memory *m)
{
	if (!m)
		return NULL;
	for (size_t i = 0; i < m->n; i++) {
		free(m->files[i].path);
		free(m->files[i].data);
	}
	free(m->files);
	zpsi_cpuid_dump_done(&m->dump);
	zpsi_sysctl_table_done(&m->sysctl);
	free(m->label);
	free(m);
	return NULL;
}
