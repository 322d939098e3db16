/* SPDX-License-Identifier: MIT */
/*
 * config.c - zpsid's configuration: "key = value" lines, '#' comments.
 * Every key has one row in the table below (its parser and its printer), so
 * `zpsid -n` prints exactly what was understood, in a fixed order, and the
 * golden files under tests/daemon/config/ pin both.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "zpsid.h"
#include "zpsi/util.h"

#define CONFIG_LINE_MAX 1024
#define CONFIG_LINES_MAX 10000

void config_defaults(struct zpsid_config *c)
{
	memset(c, 0, sizeof(*c));
	strcpy(c->socket, ZPSI_CTL_DEFAULT_SOCKET);
	c->socket_mode = 0600;
	strcpy(c->state_dir, "/var/lib/zpsid");
	strcpy(c->metrics, "127.0.0.1:9477");
	c->cgroup_mode = CG_AUTO;
	strcpy(c->cgroup_root, "/sys/fs/cgroup");
	strcpy(c->cgroup_parent, "/zpsi");
	c->sample_hz = 100;
	zpsi_policy_default(&c->policy);
	c->memory_enforce = true;
	c->guest_hibernate = true;
	c->reconnect_grace_s = 30;
	c->command_timeout_s = 10;
	c->checkpoint_s = 5;
	c->max_guests = 65536;
	c->log_level = LOG_INFO;
}

static int parse_uint(const char *v, unsigned long long min, unsigned long long max, int base,
		      unsigned long long *out)
{
	char *end;
	unsigned long long x;

	if (!*v || *v == '-' || *v == '+')
		return -EINVAL;
	errno = 0;
	x = strtoull(v, &end, base);
	if (errno || *end || x < min || x > max)
		return -EINVAL;
	*out = x;
	return 0;
}

static int parse_bool(const char *v, bool *out)
{
	if (!strcmp(v, "yes") || !strcmp(v, "true") || !strcmp(v, "on") || !strcmp(v, "1"))
		*out = true;
	else if (!strcmp(v, "no") || !strcmp(v, "false") || !strcmp(v, "off") || !strcmp(v, "0"))
		*out = false;
	else
		return -EINVAL;
	return 0;
}

static int copy_str(char *dst, size_t cap, const char *v, bool absolute)
{
	if (strlen(v) >= cap)
		return -ENAMETOOLONG;
	if (absolute && v[0] != '/')
		return -EINVAL;
	strcpy(dst, v);
	return 0;
}

/* "ADDR:PORT" with a numeric IPv4 or [IPv6] address, or "off". */
static int check_listen_addr(const char *v)
{
	char host[64];
	const char *colon = strrchr(v, ':');
	unsigned long long port;
	unsigned char a[16];
	size_t hl;

	if (!strcmp(v, "off"))
		return 0;
	if (!colon || parse_uint(colon + 1, 0, 65535, 10, &port) < 0)
		return -EINVAL;
	hl = (size_t)(colon - v);
	if (hl >= sizeof(host) || hl == 0)
		return -EINVAL;
	memcpy(host, v, hl);
	host[hl] = '\0';
	if (host[0] == '[' && host[hl - 1] == ']') {
		host[hl - 1] = '\0';
		return inet_pton(AF_INET6, host + 1, a) == 1 ? 0 : -EINVAL;
	}
	return inet_pton(AF_INET, host, a) == 1 ? 0 : -EINVAL;
}

enum key_id {
	K_SOCKET, K_SOCKET_MODE, K_STATE_DIR, K_METRICS, K_CGROUP_MODE, K_CGROUP_ROOT,
	K_CGROUP_PARENT, K_SAMPLE_HZ, K_TIERS, K_DEADBAND, K_DWELL, K_PERIOD, K_MEMORY,
	K_HIBERNATE, K_GRACE, K_TIMEOUT, K_CHECKPOINT, K_MAX_GUESTS, K_ALLOW_UID, K_LOG_LEVEL,
	K_COUNT
};

static const char *const key_names[K_COUNT] = {
	[K_SOCKET] = "socket", [K_SOCKET_MODE] = "socket_mode", [K_STATE_DIR] = "state_dir",
	[K_METRICS] = "metrics", [K_CGROUP_MODE] = "cgroup_mode", [K_CGROUP_ROOT] = "cgroup_root",
	[K_CGROUP_PARENT] = "cgroup_parent", [K_SAMPLE_HZ] = "sample_hz", [K_TIERS] = "tiers",
	[K_DEADBAND] = "deadband_bp", [K_DWELL] = "min_dwell_ms", [K_PERIOD] = "cpu_period_us",
	[K_MEMORY] = "memory_enforce", [K_HIBERNATE] = "guest_hibernate",
	[K_GRACE] = "reconnect_grace", [K_TIMEOUT] = "command_timeout",
	[K_CHECKPOINT] = "checkpoint_interval", [K_MAX_GUESTS] = "max_guests",
	[K_ALLOW_UID] = "allow_uid", [K_LOG_LEVEL] = "log_level",
};

static int set_key(struct zpsid_config *c, enum key_id k, const char *v, const char **why)
{
	unsigned long long x;
	int r;

	*why = "invalid value";
	switch (k) {
	case K_SOCKET:
		*why = "must be an absolute path shorter than 108 bytes";
		return copy_str(c->socket, sizeof(c->socket), v, true);
	case K_SOCKET_MODE:
		*why = "must be an octal mode of at most 0777 including 0600";
		r = parse_uint(v, 0, 0777, 8, &x);
		if (r < 0 || (x & 0600) != 0600)
			return -EINVAL;
		c->socket_mode = (unsigned)x;
		return 0;
	case K_STATE_DIR:
		*why = "must be an absolute path";
		return copy_str(c->state_dir, sizeof(c->state_dir), v, true);
	case K_METRICS:
		*why = "must be ADDR:PORT (numeric IPv4 or [IPv6]) or off";
		if (check_listen_addr(v) < 0)
			return -EINVAL;
		return copy_str(c->metrics, sizeof(c->metrics), strcmp(v, "off") ? v : "", false);
	case K_CGROUP_MODE:
		*why = "must be auto, v1, v2 or none";
		return cg_mode_from_name(v, &c->cgroup_mode);
	case K_CGROUP_ROOT:
		*why = "must be an absolute path";
		return copy_str(c->cgroup_root, sizeof(c->cgroup_root), v, true);
	case K_CGROUP_PARENT: {
		/* kept in cgroup notation: "zpsi", "/zpsi/" -> "/zpsi" */
		size_t n;

		*why = "must be a cgroup path without '..' or '//'";
		if (strstr(v, "..") || strstr(v, "//"))
			return -EINVAL;
		while (*v == '/')
			v++;
		n = strlen(v);
		while (n && v[n - 1] == '/')
			n--;
		if (n + 2 > sizeof(c->cgroup_parent))
			return -ENAMETOOLONG;
		c->cgroup_parent[0] = '/';
		memcpy(c->cgroup_parent + 1, v, n);
		c->cgroup_parent[n + 1] = '\0';
		return 0;
	}
	case K_SAMPLE_HZ:
		*why = "must be 1..10000";
		r = parse_uint(v, 1, 10000, 10, &x);
		if (r == 0)
			c->sample_hz = (unsigned)x;
		return r;
	case K_TIERS:
		*why = "must be MAXBP:SHARE%,... ascending, ending at 10000";
		return zpsi_policy_parse_tiers(&c->policy, v);
	case K_DEADBAND:
		*why = "must be 0..10000";
		r = parse_uint(v, 0, ZPSI_BP_MAX, 10, &x);
		if (r == 0)
			c->policy.deadband_bp = (uint16_t)x;
		return r;
	case K_DWELL:
		*why = "must be 0..3600000";
		r = parse_uint(v, 0, 3600000, 10, &x);
		if (r == 0)
			c->policy.min_dwell_ns = x * 1000000ull;
		return r;
	case K_PERIOD:
		*why = "must be 1000..1000000 (the kernel's CFS limits)";
		r = parse_uint(v, 1000, 1000000, 10, &x);
		if (r == 0)
			c->policy.cpu_period_us = (uint32_t)x;
		return r;
	case K_MEMORY:
		*why = "must be yes or no";
		return parse_bool(v, &c->memory_enforce);
	case K_HIBERNATE:
		*why = "must be yes or no";
		return parse_bool(v, &c->guest_hibernate);
	case K_GRACE:
		*why = "must be 0..86400 seconds";
		r = parse_uint(v, 0, 86400, 10, &x);
		if (r == 0)
			c->reconnect_grace_s = (unsigned)x;
		return r;
	case K_TIMEOUT:
		*why = "must be 1..3600 seconds";
		r = parse_uint(v, 1, 3600, 10, &x);
		if (r == 0)
			c->command_timeout_s = (unsigned)x;
		return r;
	case K_CHECKPOINT:
		*why = "must be 1..86400 seconds";
		r = parse_uint(v, 1, 86400, 10, &x);
		if (r == 0)
			c->checkpoint_s = (unsigned)x;
		return r;
	case K_MAX_GUESTS:
		*why = "must be 1..1048576";
		r = parse_uint(v, 1, 1u << 20, 10, &x);
		if (r == 0)
			c->max_guests = (unsigned)x;
		return r;
	case K_ALLOW_UID:
		*why = "must be a numeric uid (at most 16 of them)";
		r = parse_uint(v, 0, UINT32_MAX - 1, 10, &x);
		if (r < 0 || c->nallow_uids >= ZPSID_MAX_ALLOW_UIDS)
			return -EINVAL;
		c->allow_uids[c->nallow_uids++] = (uid_t)x;
		return 0;
	case K_LOG_LEVEL:
		*why = "must be err, warning, notice, info or debug";
		r = log_level_from_name(v);
		if (r < 0)
			return r;
		c->log_level = r;
		return 0;
	default:
		return -EINVAL;
	}
}

int config_set(struct zpsid_config *c, const char *key, const char *value, char **err)
{
	const char *why;

	for (unsigned k = 0; k < K_COUNT; k++)
		if (!strcmp(key, key_names[k])) {
			if (set_key(c, (enum key_id)k, value, &why) < 0) {
				if (asprintf(err, "%s: '%s' %s", key, value, why) < 0)
					*err = NULL;
				return -EINVAL;
			}
			return 0;
		}
	if (asprintf(err, "unknown key '%s'", key) < 0)
		*err = NULL;
	return -ENOENT;
}

static char *trim(char *s)
{
	char *e;

	while (*s == ' ' || *s == '\t')
		s++;
	e = s + strlen(s);
	while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\n' || e[-1] == '\r'))
		*--e = '\0';
	return s;
}

int config_load(struct zpsid_config *c, const char *path, char **err)
{
	struct zpsid_config n = *c;
	char line[CONFIG_LINE_MAX + 2];
	unsigned lineno = 0;
	FILE *f;
	int r = 0;

	f = fopen(path, "re");
	if (!f) {
		r = -errno;
		if (asprintf(err, "%s: %s", path, strerror(-r)) < 0)
			*err = NULL;
		return r;
	}
	/* Parsing goes into a copy: a bad file leaves the running config
	 * alone (what SIGHUP relies on). */
	n.nallow_uids = 0;
	while (fgets(line, sizeof(line), f)) {
		char *key, *val, *eq, *sub = NULL;

		if (++lineno > CONFIG_LINES_MAX) {
			r = -E2BIG;
			if (asprintf(err, "%s:%u: too many lines", path, lineno) < 0)
				*err = NULL;
			break;
		}
		if (!strchr(line, '\n') && !feof(f)) {
			r = -E2BIG;
			if (asprintf(err, "%s:%u: line longer than %u bytes", path, lineno,
				     CONFIG_LINE_MAX) < 0)
				*err = NULL;
			break;
		}
		key = trim(line);
		if (!*key || *key == '#')
			continue;
		eq = strchr(key, '=');
		if (!eq) {
			r = -EINVAL;
			if (asprintf(err, "%s:%u: expected 'key = value'", path, lineno) < 0)
				*err = NULL;
			break;
		}
		*eq = '\0';
		val = trim(eq + 1);
		key = trim(key);
		r = config_set(&n, key, val, &sub);
		if (r < 0) {
			if (asprintf(err, "%s:%u: %s", path, lineno, sub ? sub : "invalid") < 0)
				*err = NULL;
			free(sub);
			break;
		}
	}
	fclose(f);
	if (r == 0)
		*c = n;
	return r;
}

static void print_tiers(const struct zpsi_policy *p, FILE *f)
{
	for (unsigned i = 0; i < p->ntiers; i++) {
		unsigned s = p->tiers[i].share_bp;

		fprintf(f, "%s%u:%u", i ? "," : "", p->tiers[i].max_bp, s / 100);
		if (s % 100)
			fprintf(f, ".%02u", s % 100);
	}
}

void config_print(const struct zpsid_config *c, FILE *f)
{
	fprintf(f, "socket = %s\n", c->socket);
	fprintf(f, "socket_mode = %04o\n", c->socket_mode);
	fprintf(f, "state_dir = %s\n", c->state_dir);
	fprintf(f, "metrics = %s\n", c->metrics[0] ? c->metrics : "off");
	fprintf(f, "cgroup_mode = %s\n", cg_mode_name(c->cgroup_mode));
	fprintf(f, "cgroup_root = %s\n", c->cgroup_root);
	fprintf(f, "cgroup_parent = %s\n", c->cgroup_parent);
	fprintf(f, "sample_hz = %u\n", c->sample_hz);
	fprintf(f, "tiers = ");
	print_tiers(&c->policy, f);
	fprintf(f, "\n");
	fprintf(f, "deadband_bp = %u\n", c->policy.deadband_bp);
	fprintf(f, "min_dwell_ms = %" PRIu64 "\n", c->policy.min_dwell_ns / 1000000);
	fprintf(f, "cpu_period_us = %u\n", c->policy.cpu_period_us);
	fprintf(f, "memory_enforce = %s\n", c->memory_enforce ? "yes" : "no");
	fprintf(f, "guest_hibernate = %s\n", c->guest_hibernate ? "yes" : "no");
	fprintf(f, "reconnect_grace = %u\n", c->reconnect_grace_s);
	fprintf(f, "command_timeout = %u\n", c->command_timeout_s);
	fprintf(f, "checkpoint_interval = %u\n", c->checkpoint_s);
	fprintf(f, "max_guests = %u\n", c->max_guests);
	for (unsigned i = 0; i < c->nallow_uids; i++)
		fprintf(f, "allow_uid = %u\n", (unsigned)c->allow_uids[i]);
	fprintf(f, "log_level = %s\n", log_level_name(c->log_level));
}
