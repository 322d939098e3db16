/* SPDX-License-Identifier: MIT */
/*
 * vmm/io.c - port I/O exits: the console (0xE9), the alarm (0xE5), the exit
 * port (0xF4) and the PSI doorbell (CPUID-advertised, 0xE4), from a table.
 * Any other port is a stray access: writes vanish, reads see all ones.
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"
#include "zpsi/util.h"

#define VMM_ALARM_MAX_MS (24u * 3600u * 1000u)

/* The bytes of an I/O exit, checked against the kvm_run mapping. */
static uint8_t *vmm_io_data(struct vmm_vcpu *v, size_t *len)
{
	const struct kvm_run *run = v->run;
	uint64_t n = (uint64_t)run->io.size * run->io.count;

	if ((run->io.size != 1 && run->io.size != 2 && run->io.size != 4) || run->io.count == 0 ||
	    run->io.data_offset < sizeof(struct kvm_run) || run->io.data_offset > v->vm->run_size ||
	    n > v->vm->run_size - run->io.data_offset)
		return NULL;
	*len = (size_t)n;
	return (uint8_t *)run + run->io.data_offset;
}

static uint32_t vmm_io_value(const uint8_t *d, unsigned size)
{
	uint32_t x = 0;

	for (unsigned i = 0; i < size; i++)
		x |= (uint32_t)d[i] << (8 * i);
	return x;
}

static void vmm_console_emit(struct vmm_vcpu *v)
{
	struct vmm *vm = v->vm;

	if (vm->cfg.console) {
		vm->cfg.console(vm->cfg.console_opaque, v->index, v->line, v->line_len);
	} else {
		char out[VMM_LINE_MAX + 1];
		size_t n = v->line_len, off = 0;

		memcpy(out, v->line, n);
		out[n++] = '\n';
		while (off < n) {	/* one write per line keeps lines whole */
			ssize_t w = write(STDOUT_FILENO, out + off, n - off);

			if (w <= 0)
				break;
			off += (size_t)w;
		}
	}
	v->line_len = 0;
}

void vmm_console_flush(struct vmm_vcpu *v)
{
	if (v->line_len)
		vmm_console_emit(v);
}

/* Guest text is untrusted: the console is ASCII, and control characters
 * and bytes above 0x7E (terminal escapes, C1 controls) become '?'; lines
 * are cut at VMM_LINE_MAX. */
static void vmm_io_console(struct vmm_vcpu *v, uint8_t *d, size_t len, bool out)
{
	if (!out) {
		memset(d, 0xFF, len);
		return;
	}
	VMM_STAT_ADD(v->stats.console_bytes, len);
	for (size_t i = 0; i < len; i++) {
		uint8_t c = d[i];

		if (c == '\n') {
			vmm_console_emit(v);
			continue;
		}
		if ((c < 0x20 && c != '\t') || c >= 0x7F)
			c = '?';
		v->line[v->line_len++] = (char)c;
		if (v->line_len == sizeof(v->line) - 1)
			vmm_console_emit(v);
	}
}

static void vmm_io_exitport(struct vmm_vcpu *v, uint8_t *d, size_t len, bool out)
{
	struct vmm *vm = v->vm;
	uint32_t status;

	if (!out) {
		memset(d, 0xFF, len);
		return;
	}
	status = vmm_io_value(d, v->run->io.size);
	if (status > ZPSI_VMM_EXIT_MAX && status != ZPSI_VMM_EXIT_GUEST_FAULT)
		status = ZPSI_VMM_EXIT_MAX;
	vmm_console_flush(v);
	pthread_mutex_lock(&vm->lock);
	vmm_end_locked(vm, (int)status);
	pthread_mutex_unlock(&vm->lock);
}

static void vmm_io_alarm(struct vmm_vcpu *v, uint8_t *d, size_t len, bool out)
{
	struct vmm *vm = v->vm;

	pthread_mutex_lock(&vm->lock);
	if (out) {
		uint32_t ms = vmm_io_value(d, v->run->io.size);

		v->alarm_ms = ms > VMM_ALARM_MAX_MS ? VMM_ALARM_MAX_MS : ms;
	} else {
		uint32_t reason = v->wake_reason;

		for (size_t i = 0; i < len; i++)
			d[i] = (uint8_t)(reason >> (8 * (i % v->run->io.size)));
	}
	pthread_mutex_unlock(&vm->lock);
}

static void vmm_io_doorbell(struct vmm_vcpu *v, uint8_t *d, size_t len, bool out)
{
	/* Only `out %al, $port` is the doorbell; IN or a string is stray. */
	if (!out || v->run->io.count != 1 || !(v->vm->features & ZPSI_FEAT_DOORBELL)) {
		VMM_STAT_INC(v->stats.stray_ports);
		if (!out)
			memset(d, 0xFF, len);
		return;
	}
	vmm_doorbell(v);
}

static const struct {
	uint16_t port;
	void (*fn)(struct vmm_vcpu *v, uint8_t *d, size_t len, bool out);
} vmm_ports[] = {
	{ ZPSI_DOORBELL_PORT_DEFAULT, vmm_io_doorbell },
	{ ZPSI_VMM_PORT_CONSOLE, vmm_io_console },
	{ ZPSI_VMM_PORT_ALARM, vmm_io_alarm },
	{ ZPSI_VMM_PORT_EXIT, vmm_io_exitport },
};

void vmm_io_exit(struct vmm_vcpu *v)
{
	bool out = v->run->io.direction == KVM_EXIT_IO_OUT;
	size_t len;
	uint8_t *d;

	VMM_STAT_INC(v->stats.io);
	d = vmm_io_data(v, &len);
	if (!d) {
		VMM_STAT_INC(v->stats.stray_ports);
		return;
	}
	for (size_t i = 0; i < ZPSI_ARRAY_SIZE(vmm_ports); i++)
		if (vmm_ports[i].port == v->run->io.port) {
			vmm_ports[i].fn(v, d, len, out);
			return;
		}
	VMM_STAT_INC(v->stats.stray_ports);
	if (!out)
		memset(d, 0xFF, len);
}
