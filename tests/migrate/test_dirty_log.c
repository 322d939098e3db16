/* SPDX-License-Identifier: MIT */
/*
 * tests/migrate/test_dirty_log.c - does this host's KVM dirty log report
 * exactly the pages a guest writes?  Pre-copy migration (issue 13) rests on
 * it, and this machine's KVM is a software one (kvm_pvm), so it is proved
 * here rather than assumed.
 *
 * A real-mode vCPU runs a three-instruction loop: write one byte at ES:0,
 * OUT to a port (an exit to us), jump back.  Between exits the test moves
 * ES to the next page it wants written, so it knows the exact set of pages
 * the guest wrote; the code page is only read and nothing else is touched
 * (no stack).  For both ways of reading the log -
 *   get:    KVM_GET_DIRTY_LOG, which also write-protects again
 *   manual: KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2, KVM_GET_DIRTY_LOG then
 *           KVM_CLEAR_DIRTY_LOG for what was copied
 * - three rounds are written and read: each bitmap must equal the round's
 * set exactly, including a page written in an earlier round (so the
 * protection really came back) and nothing from a round already read.
 * Api: Documentation/virt/kvm/api.rst, 4.8 KVM_GET_DIRTY_LOG, 4.118
 * KVM_CLEAR_DIRTY_LOG, 7.18 KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/kvm.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#define PAGES 256u			/* 1 MiB: all of real mode's reach */
#define PAGE 4096u
#define CODE_GPA 0x1000u
#define PORT 0x10u

static unsigned failures;

#define CHECK(cond, ...) do { if (!(cond)) { failures++; printf("FAIL: " __VA_ARGS__); printf("\n"); } } while (0)

struct vm {
	int kvm, fd, vcpu;
	uint8_t *mem;
	struct kvm_run *run;
};

static void skip(const char *why)
{
	printf("SKIP: %s\n", why);
	exit(77);
}

static void die(const char *what)
{
	printf("FAIL: %s: %s\n", what, strerror(errno));
	exit(1);
}

/* The guest: mov byte [es:0], 1 ; out PORT, al ; jmp back */
static const uint8_t guest_code[] = { 0x26, 0xc6, 0x06, 0x00, 0x00, 0x01, 0xe6, PORT, 0xeb, 0xf6 };

static void vm_open(struct vm *vm, bool manual)
{
	struct kvm_userspace_memory_region slot;
	struct kvm_sregs sregs;
	struct kvm_regs regs = { .rip = CODE_GPA, .rflags = 0x2 };
	int mmap_size;

	vm->kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (vm->kvm < 0)
		skip("no usable /dev/kvm");
	vm->fd = ioctl(vm->kvm, KVM_CREATE_VM, 0);
	if (vm->fd < 0)
		skip("KVM_CREATE_VM failed");
	if (manual) {
		struct kvm_enable_cap cap = { .cap = KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2,
					      .args = { KVM_DIRTY_LOG_MANUAL_PROTECT_ENABLE } };

		if (ioctl(vm->fd, KVM_ENABLE_CAP, &cap) < 0)
			die("KVM_ENABLE_CAP(KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2)");
	}
	vm->mem = mmap(NULL, PAGES * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (vm->mem == MAP_FAILED)
		die("mmap guest memory");
	memcpy(vm->mem + CODE_GPA, guest_code, sizeof(guest_code));
	slot = (struct kvm_userspace_memory_region){ .slot = 0, .flags = KVM_MEM_LOG_DIRTY_PAGES,
		.guest_phys_addr = 0, .memory_size = PAGES * PAGE, .userspace_addr = (uintptr_t)vm->mem };
	if (ioctl(vm->fd, KVM_SET_USER_MEMORY_REGION, &slot) < 0)
		die("KVM_SET_USER_MEMORY_REGION with KVM_MEM_LOG_DIRTY_PAGES");
	vm->vcpu = ioctl(vm->fd, KVM_CREATE_VCPU, 0);
	if (vm->vcpu < 0)
		die("KVM_CREATE_VCPU");
	mmap_size = ioctl(vm->kvm, KVM_GET_VCPU_MMAP_SIZE, 0);
	if (mmap_size <= 0)
		die("KVM_GET_VCPU_MMAP_SIZE");
	vm->run = mmap(NULL, (size_t)mmap_size, PROT_READ | PROT_WRITE, MAP_SHARED, vm->vcpu, 0);
	if (vm->run == MAP_FAILED)
		die("mmap kvm_run");
	if (ioctl(vm->vcpu, KVM_GET_SREGS, &sregs) < 0)
		die("KVM_GET_SREGS");
	sregs.cs.base = 0;
	sregs.cs.selector = 0;
	if (ioctl(vm->vcpu, KVM_SET_SREGS, &sregs) < 0 || ioctl(vm->vcpu, KVM_SET_REGS, &regs) < 0)
		die("KVM_SET_SREGS/REGS");
}

/* Have the guest write one byte into page `pfn`. */
static void guest_write(struct vm *vm, unsigned pfn)
{
	struct kvm_sregs sregs;

	if (ioctl(vm->vcpu, KVM_GET_SREGS, &sregs) < 0)
		die("KVM_GET_SREGS");
	sregs.es.base = (uint64_t)pfn * PAGE;
	sregs.es.selector = (uint16_t)(pfn * (PAGE >> 4));
	if (ioctl(vm->vcpu, KVM_SET_SREGS, &sregs) < 0)
		die("KVM_SET_SREGS");
	/* a stray exit would loop; three runs at most reach the OUT */
	for (int i = 0; i < 3; i++) {
		if (ioctl(vm->vcpu, KVM_RUN, 0) < 0)
			die("KVM_RUN");
		if (vm->run->exit_reason == KVM_EXIT_IO && vm->run->io.port == PORT)
			return;
	}
	printf("FAIL: the guest did not reach its OUT (exit reason %u)\n", vm->run->exit_reason);
	exit(1);
}

/* Read the log into `bits` (one bit a page); with manual protection also
 * clear (re-protect) what was read, as a migration would after copying. */
static void read_log(struct vm *vm, bool manual, uint64_t bits[PAGES / 64])
{
	struct kvm_dirty_log log = { .slot = 0, .dirty_bitmap = bits };

	memset(bits, 0, PAGES / 8);
	if (ioctl(vm->fd, KVM_GET_DIRTY_LOG, &log) < 0)
		die("KVM_GET_DIRTY_LOG");
	if (manual) {
		struct kvm_clear_dirty_log clr = { .slot = 0, .first_page = 0, .num_pages = PAGES,
						   .dirty_bitmap = bits };

		if (ioctl(vm->fd, KVM_CLEAR_DIRTY_LOG, &clr) < 0)
			die("KVM_CLEAR_DIRTY_LOG");
	}
}

static unsigned count_bits(const uint64_t bits[PAGES / 64])
{
	unsigned n = 0;

	for (unsigned i = 0; i < PAGES / 64; i++)
		n += (unsigned)__builtin_popcountll(bits[i]);
	return n;
}

static bool bit(const uint64_t bits[PAGES / 64], unsigned pfn)
{
	return bits[pfn / 64] >> (pfn % 64) & 1;
}

static void run_mode(bool manual)
{
	/* round 3 repeats pages of rounds 1 and 2: the protection must be back */
	static const unsigned rounds[][6] = {
		{ 0x05, 0x09, 0x40, 0x41, 0xfe, 0 },
		{ 0x06, 0x80, 0x81, 0 },
		{ 0x05, 0x80, 0x20, 0 },
	};
	const char *mode = manual ? "manual" : "get";
	uint64_t bits[PAGES / 64];
	struct vm vm;

	vm_open(&vm, manual);
	/* anything before the first round (there should be nothing: the test's
	 * own stores through its mapping are not the guest's) */
	read_log(&vm, manual, bits);
	CHECK(count_bits(bits) == 0, "%s: %u pages dirty before the guest ran", mode, count_bits(bits));
	for (unsigned r = 0; r < sizeof(rounds) / sizeof(rounds[0]); r++) {
		unsigned want = 0;

		for (unsigned i = 0; rounds[r][i]; i++, want++)
			guest_write(&vm, rounds[r][i]);
		read_log(&vm, manual, bits);
		for (unsigned i = 0; rounds[r][i]; i++)
			CHECK(bit(bits, rounds[r][i]), "%s round %u: page 0x%x written, not in the log", mode, r + 1,
			      rounds[r][i]);
		CHECK(count_bits(bits) == want, "%s round %u: %u pages in the log, the guest wrote %u", mode, r + 1,
		      count_bits(bits), want);
		for (unsigned i = 0; rounds[r][i]; i++)
			CHECK(vm.mem[rounds[r][i] * PAGE] == 1, "%s: the guest's byte is in page 0x%x", mode,
			      rounds[r][i]);
		printf("%s round %u: guest wrote %u pages, log reports %u, all of them\n", mode, r + 1, want,
		       count_bits(bits));
	}
	close(vm.vcpu);
	close(vm.fd);
	close(vm.kvm);
	munmap(vm.mem, PAGES * PAGE);
}

int main(void)
{
	int kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	int vm, protect2, ring;

	if (kvm < 0)
		skip("no usable /dev/kvm");
	vm = ioctl(kvm, KVM_CREATE_VM, 0);
	if (vm < 0)
		skip("KVM_CREATE_VM failed");
	/* asked of a VM, as api.rst says these capabilities must be */
	protect2 = ioctl(vm, KVM_CHECK_EXTENSION, KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2);
	ring = ioctl(vm, KVM_CHECK_EXTENSION, KVM_CAP_DIRTY_LOG_RING);
	printf("KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2 = %d, KVM_CAP_DIRTY_LOG_RING = %d\n", protect2, ring);
	close(vm);
	close(kvm);

	run_mode(false);
	if (protect2 & KVM_DIRTY_LOG_MANUAL_PROTECT_ENABLE)
		run_mode(true);
	else
		printf("manual: not offered by this KVM; KVM_GET_DIRTY_LOG alone is what pre-copy uses\n");
	if (failures) {
		printf("dirty log: %u checks failed: this KVM's log cannot be trusted for pre-copy\n", failures);
		return 1;
	}
	printf("dirty log: KVM reports exactly the pages the guest wrote (get%s)\n",
	       protect2 & KVM_DIRTY_LOG_MANUAL_PROTECT_ENABLE ? " and manual protect" : "");
	return 0;
}
