/* SPDX-License-Identifier: MIT */
/*
 * guest/rt.h - the freestanding runtime of zpsi-vmm's guest payloads.
 *
 * start.S enters zg_entry() on every vCPU with its own stack; vCPU 0 then
 * calls the payload's zg_main(), the others zg_ap_main().  The runtime gives
 * them an IDT whose #GP handler records the fault and skips a faulting
 * RDMSR/WRMSR (so tests observe #GP instead of dying), a console over port
 * I/O, exit over port I/O, a TSC clock and an alarm to wake from HLT.
 * No FPU: everything is built with -mgeneral-regs-only.
 */
#ifndef ZG_RT_H
#define ZG_RT_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include "zpsi/vmm_boot.h"

#define ZG_NORETURN __attribute__((noreturn))
#define ZG_PRINTF(a, b) __attribute__((format(printf, a, b)))
#define ZG_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* The payload provides zg_main (vCPU 0); zg_ap_main is optional (the
 * default returns at once, and the vCPU stops). */
int zg_main(const struct zpsi_vmm_boot *boot);
void zg_ap_main(const struct zpsi_vmm_boot *boot, unsigned cpu);

const struct zpsi_vmm_boot *zg_boot(void);
unsigned zg_cpu(void);		/* this vCPU's index, from its stack */

/* Console: buffered per vCPU, one port exit per line. */
void zg_putc(char c);
void zg_puts(const char *s);
void zg_flush(void);
int zg_printf(const char *fmt, ...) ZG_PRINTF(1, 2);
int zg_vsnprintf(char *buf, size_t size, const char *fmt, va_list ap);
int zg_snprintf(char *buf, size_t size, const char *fmt, ...) ZG_PRINTF(3, 4);

/* End the whole VM with `status` (flushes the console). */
ZG_NORETURN void zg_exit(unsigned status);
/* This vCPU stops for good (HLT with interrupts off); the VM ends when
 * every vCPU has stopped or one calls zg_exit. */
ZG_NORETURN void zg_stop_cpu(void);

/* Clock */
static inline uint64_t zg_rdtsc(void)
{
	uint32_t lo, hi;

	__asm__ __volatile__("rdtsc" : "=a"(lo), "=d"(hi));
	return ((uint64_t)hi << 32) | lo;
}
uint64_t zg_now_ns(void);		/* from the TSC and boot->tsc_khz */
void zg_delay_ms(uint32_t ms);		/* busy wait */

/* Halt this vCPU until the host or the alarm wakes it; returns the reason
 * (enum zpsi_vmm_wake).  alarm_ms 0: no alarm (only the host can wake). */
unsigned zg_halt(uint32_t alarm_ms);

/* Faults seen by this vCPU's handler. */
struct zg_fault {
	uint64_t count;		/* every exception taken */
	uint64_t gp;		/* #GP among them */
	uint64_t last_vector, last_rip, last_error;
};
void zg_fault_get(struct zg_fault *out);

/* MSR access; the _safe forms return -1 if the access raised #GP. */
int zg_rdmsr_safe(uint32_t index, uint64_t *val);
int zg_wrmsr_safe(uint32_t index, uint64_t val);

/* Port I/O */
static inline void zg_outb(uint16_t port, uint8_t v) { __asm__ __volatile__("outb %0, %1" :: "a"(v), "Nd"(port)); }
static inline void zg_outl(uint16_t port, uint32_t v) { __asm__ __volatile__("outl %0, %1" :: "a"(v), "Nd"(port)); }
static inline uint8_t zg_inb(uint16_t port) { uint8_t v; __asm__ __volatile__("inb %1, %0" : "=a"(v) : "Nd"(port)); return v; }
static inline uint32_t zg_inl(uint16_t port) { uint32_t v; __asm__ __volatile__("inl %1, %0" : "=a"(v) : "Nd"(port)); return v; }

static inline void zg_cpuid(uint32_t leaf, uint32_t sub, uint32_t r[4])
{
	__asm__ __volatile__("cpuid" : "=a"(r[0]), "=b"(r[1]), "=c"(r[2]), "=d"(r[3]) : "a"(leaf), "c"(sub));
}

static inline void zg_pause(void) { __asm__ __volatile__("pause" ::: "memory"); }

/* The compiler may emit calls to these even in freestanding code. */
void *memset(void *d, int c, size_t n);
void *memcpy(void *d, const void *s, size_t n);
void *memmove(void *d, const void *s, size_t n);
int memcmp(const void *a, const void *b, size_t n);
size_t zg_strlen(const char *s);
int zg_strcmp(const char *a, const char *b);

/* A small deterministic PRNG (xorshift64*), for payloads. */
static inline uint64_t zg_rand(uint64_t *state)
{
	uint64_t x = *state ? *state : 0x9E3779B97F4A7C15ull;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*state = x;
	return x * 0x2545F4914F6CDD1Dull;
}

#endif /* ZG_RT_H */
