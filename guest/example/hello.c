/* hello.c - a whole zpsi-vmm guest (docs/guest.md): register, report 25 %, read the aggregate. */
#include <stdint.h>
#include "zpsi/abi.h"
#include "zpsi/vmm_boot.h"

static int64_t psi_call(uint64_t nr, uint64_t a1, uint64_t a2, uint64_t a3)
{
	uint64_t ret;	/* KVM's convention: nr in RAX, arguments in RBX, RCX, RDX, result in RAX */
	__asm__ volatile("outb %%al, $0xE4" : "=a"(ret) : "a"(nr), "b"(a1), "c"(a2), "d"(a3) : "memory");
	return (int64_t)ret;
}

static void say(const char *s)
{
	while (*s)
		__asm__ volatile("outb %0, %1" :: "a"(*s++), "Nd"((uint16_t)ZPSI_VMM_PORT_CONSOLE));
}

void _start(void)
{
	int64_t id = psi_call(ZPSI_HC_REGISTER, 1, 0, 0);	/* weight 1, no region */
	int64_t ok = psi_call(ZPSI_HC_UPDATE, 2500, 3, 1);	/* 25 %: 3 committed, 1 deferred */
	int64_t agg = psi_call(ZPSI_HC_QUERY, 0, 0, 0);		/* the weighted aggregate, bp */
	int good = id > 0 && ok == 0 && agg == 2500;

	say(good ? "hello: registered, the aggregate is 25 %\n" : "hello: failed\n");
	__asm__ volatile("outl %0, %1" :: "a"(good ? 0 : 1), "Nd"((uint16_t)ZPSI_VMM_PORT_EXIT));
}
