/* SPDX-License-Identifier: MIT */
/* tests/vmm/vmmtest.c - see vmmtest.h. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <linux/kvm.h>

#include "payloads.h"
#include "vmmtest.h"

unsigned vt_failures, vt_checks;

void vt_check(bool ok, const char *file, int line, const char *fmt, ...)
{
	va_list ap;

	vt_checks++;
	if (ok)
		return;
	vt_failures++;
	fprintf(stderr, "FAIL %s:%d: ", file, line);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

void vt_require_kvm(void)
{
	int fd = open("/dev/kvm", O_RDWR | O_CLOEXEC), vm;

	if (fd < 0) {
		printf("SKIP: /dev/kvm: %s\n", strerror(errno));
		exit(77);
	}
	vm = ioctl(fd, KVM_CREATE_VM, 0);
	if (ioctl(fd, KVM_GET_API_VERSION, 0) != KVM_API_VERSION || vm < 0) {
		printf("SKIP: /dev/kvm cannot create a VM\n");
		exit(77);
	}
	close(vm);
	close(fd);
	if (!getenv("ZPSI_VMM")) {
		printf("SKIP: ZPSI_VMM is not set (run through meson test)\n");
		exit(77);
	}
}

int vt_done(const char *name)
{
	printf("%s: %u checks, %u failed\n", name, vt_checks, vt_failures);
	return vt_failures ? 1 : 0;
}

int vt_spawn(struct vt_proc *p, const char *const args[])
{
	const char *vmm = getenv("ZPSI_VMM");
	const char *argv[64];
	int out[2], err[2];
	size_t n = 0;

	memset(p, 0, sizeof(*p));
	argv[n++] = vmm;
	for (size_t i = 0; args[i] && n < 63; i++)
		argv[n++] = args[i];
	argv[n] = NULL;
	if (pipe2(out, O_CLOEXEC) < 0 || pipe2(err, O_CLOEXEC) < 0)
		return -errno;
	p->pid = fork();
	if (p->pid < 0)
		return -errno;
	if (p->pid == 0) {
		dup2(out[1], 1);
		dup2(err[1], 2);
		execv(vmm, (char *const *)argv);
		_exit(127);
	}
	close(out[1]);
	close(err[1]);
	p->out_fd = out[0];
	p->err_fd = err[0];
	p->out = calloc(1, 1);
	p->err = calloc(1, 1);
	return 0;
}

/* Read what is there from fd into *buf; 0 on EOF. */
static ssize_t vt_slurp(int fd, char **buf, size_t *len)
{
	char tmp[4096];
	ssize_t n = read(fd, tmp, sizeof(tmp));

	if (n > 0) {
		*buf = realloc(*buf, *len + (size_t)n + 1);
		memcpy(*buf + *len, tmp, (size_t)n);
		*len += (size_t)n;
		(*buf)[*len] = '\0';
	}
	return n;
}

static uint64_t vt_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

bool vt_next_line(struct vt_proc *p, char *buf, size_t size, int timeout_ms)
{
	uint64_t end = vt_now_ms() + (uint64_t)timeout_ms;

	for (;;) {
		char *nl = strchr(p->out + p->out_pos, '\n');
		struct pollfd pfd[2] = { { .fd = p->out_fd, .events = POLLIN }, { .fd = p->err_fd, .events = POLLIN } };
		uint64_t now;

		if (nl) {
			size_t n = (size_t)(nl - (p->out + p->out_pos));

			snprintf(buf, size, "%.*s", (int)n, p->out + p->out_pos);
			p->out_pos += n + 1;
			return true;
		}
		now = vt_now_ms();
		if (p->out_fd < 0 || now >= end)
			return false;
		if (poll(pfd, p->err_fd >= 0 ? 2 : 1, (int)(end - now)) <= 0)
			continue;
		if (pfd[0].revents && vt_slurp(p->out_fd, &p->out, &p->out_len) <= 0) {
			close(p->out_fd);
			p->out_fd = -1;
		}
		if (p->err_fd >= 0 && pfd[1].revents && vt_slurp(p->err_fd, &p->err, &p->err_len) <= 0) {
			close(p->err_fd);
			p->err_fd = -1;
		}
	}
}

int vt_finish(struct vt_proc *p)
{
	int st;

	while (p->out_fd >= 0 || p->err_fd >= 0) {
		struct pollfd pfd[2] = { { .fd = p->out_fd, .events = POLLIN }, { .fd = p->err_fd, .events = POLLIN } };

		if (poll(pfd, 2, -1) < 0 && errno != EINTR)
			break;
		if (p->out_fd >= 0 && pfd[0].revents && vt_slurp(p->out_fd, &p->out, &p->out_len) <= 0) {
			close(p->out_fd);
			p->out_fd = -1;
		}
		if (p->err_fd >= 0 && pfd[1].revents && vt_slurp(p->err_fd, &p->err, &p->err_len) <= 0) {
			close(p->err_fd);
			p->err_fd = -1;
		}
	}
	if (waitpid(p->pid, &st, 0) < 0)
		return -1;
	if (p->err_len)
		fprintf(stderr, "--- zpsi-vmm stderr:\n%s---\n", p->err);
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

void vt_proc_free(struct vt_proc *p)
{
	free(p->out);
	free(p->err);
	p->out = p->err = NULL;
}

int vt_run(struct vt_proc *p, const char *const args[])
{
	int r = vt_spawn(p, args);

	return r < 0 ? r : vt_finish(p);
}

unsigned vt_grep(const char *s, const char *prefix, char *last, size_t size)
{
	unsigned n = 0;
	size_t plen = strlen(prefix);

	for (const char *line = s; line && *line;) {
		const char *nl = strchr(line, '\n');
		size_t len = nl ? (size_t)(nl - line) : strlen(line);

		if (len >= plen && memcmp(line, prefix, plen) == 0) {
			n++;
			if (last)
				snprintf(last, size, "%.*s", (int)len, line);
		}
		line = nl ? nl + 1 : NULL;
	}
	return n;
}

long long vt_field(const char *line, const char *key)
{
	char pat[64];
	const char *p;

	snprintf(pat, sizeof(pat), "%s=", key);
	for (p = strstr(line, pat); p; p = strstr(p + 1, pat))
		if (p == line || p[-1] == ' ')
			return strtoll(p + strlen(pat), NULL, 10);
	return -1;
}

int vt_vm_new(struct vmm_config *cfg, const char *payload, struct vmm **out)
{
	const struct vmm_payload *p = vmm_payload_find(payload);
	struct vmm *vm;
	int r;

	if (!p)
		return -ENOENT;
	if (!cfg->timeout_ms)
		cfg->timeout_ms = 60000;
	r = vmm_new(cfg, &vm);
	if (r < 0)
		return r;
	r = vmm_load_elf(vm, p->image, p->size);
	if (r < 0) {
		vmm_free(vm);
		return r;
	}
	*out = vm;
	return 0;
}

bool vt_await(struct vmm *vm, bool (*pred)(struct vmm *vm, void *arg), void *arg, int timeout_ms)
{
	uint64_t end = vt_now_ms() + (uint64_t)timeout_ms;
	struct timespec ms = { 0, 1000000 };

	while (!pred(vm, arg)) {
		if (vt_now_ms() >= end)
			return false;
		nanosleep(&ms, NULL);
	}
	return true;
}

void vt_tmpname(char *buf, size_t size, const char *tag)
{
	static unsigned seq;
	const char *dir = getenv("TMPDIR");

	snprintf(buf, size, "%s/zpsi-vmm-test-%d-%u-%s", dir ? dir : "/tmp", (int)getpid(), seq++, tag);
}
