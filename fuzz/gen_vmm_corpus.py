#!/usr/bin/env python3
# gen_vmm_corpus.py - write the seed corpora of fuzz_elf and fuzz_vmstate
# (fuzz/corpus/elf, fuzz/corpus/vmstate): small valid inputs and the
# near-misses each check exists for.  Run from the repository root.
import os
import struct

ELF_DIR = 'fuzz/corpus/elf'
VMS_DIR = 'fuzz/corpus/vmstate'


def elf(segments, entry=0x100000, etype=2, machine=62, phentsize=56, extra_phdrs=()):
    """An ELF64 executable; segments are (vaddr, paddr, data, memsz, flags)."""
    phnum = len(segments) + len(extra_phdrs)
    off = 64 + 56 * phnum
    body = b''
    phdrs = b''
    for vaddr, paddr, data, memsz, flags in segments:
        phdrs += struct.pack('<IIQQQQQQ', 1, flags, off + len(body), vaddr, paddr, len(data), memsz, 0x1000)
        body += data
    for ptype in extra_phdrs:
        phdrs += struct.pack('<IIQQQQQQ', ptype, 4, 0, 0, 0, 0, 0, 8)
    ident = b'\x7fELF' + bytes([2, 1, 1, 0]) + bytes(8)
    hdr = ident + struct.pack('<HHIQQQIHHHHHH', etype, machine, 1, entry, 64, 0, 0, 64, phentsize,
                              phnum, 64, 0, 0)
    return hdr + phdrs + body


CODE = bytes([0xB8, 0x00, 0x00, 0x00, 0x00, 0xE7, 0xF4, 0xEB, 0xFE])  # mov eax,0; out f4,eax; jmp .


def crc32c(data, crc=0):
    crc ^= 0xFFFFFFFF
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 if crc & 1 else 0)
    return crc ^ 0xFFFFFFFF


def record(sections):
    body = b''
    for stype, data in sections:
        body += struct.pack('<IIQ', stype, 1, len(data)) + data + bytes((-len(data)) % 8)
    hdr = b'ZPSIMIG\0' + struct.pack('<HHIQI', 1, 32, 0, len(body), len(sections))
    hdr += struct.pack('<I', crc32c(hdr))
    rec = hdr + body
    return rec + struct.pack('<I', crc32c(rec)) + b'ZEND'


def vm_section(vcpus=1, mem=4 << 20, sig=b'', name=b'seed'):
    b = struct.pack('<IIQQIIII', 1, vcpus, mem, 2400000, 0x1D, 0x40000100 if sig else 0x40000000,
                    1 if sig else 0, 1)
    b += sig.ljust(12, b'\0') + bytes(4) + name.ljust(32, b'\0')
    b += struct.pack('<QQQ', 0x100000, 0, 0) + bytes(16)
    assert len(b) == 128
    return b


BLOBS = [144, 312, 4096, 392, 64, 4, 128]


def vcpu_section(index=0, nmsrs=2, mode=0):
    b = struct.pack('<IIIIII', 1, index, mode, 0, nmsrs, 7) + b''.join(struct.pack('<I', s) for s in BLOBS)
    b += bytes(4)
    for s in BLOBS:
        b += bytes([0x11] * s) + bytes((-s) % 8)
    for i in range(nmsrs):
        b += struct.pack('<IIQ', 0x10 + i, 0, i * 1000)
    return b


def memory_section(mem=4 << 20, pages=(0, 5)):
    n = mem // 4096
    bitmap = bytearray(((n + 63) // 64) * 8)
    for p in pages:
        bitmap[p // 8] |= 1 << (p % 8)
    b = struct.pack('<IIQQ', 1, 4096, mem, len(pages)) + bytes(bitmap)
    for p in pages:
        b += bytes([p & 0xFF]) * 4096
    return b


def write(d, name, data):
    with open(os.path.join(d, name), 'wb') as f:
        f.write(data)


def main():
    seg = (0x100000, 0x100000, CODE, 0x1000, 5)
    write(ELF_DIR, 'valid_one_segment', elf([seg]))
    write(ELF_DIR, 'valid_bss', elf([seg, (0x102000, 0x102000, b'\1' * 16, 0x3000, 6)]))
    write(ELF_DIR, 'pie', elf([seg], etype=3))
    write(ELF_DIR, 'wrong_machine', elf([seg], machine=3))
    write(ELF_DIR, 'truncated', elf([seg])[:100])
    write(ELF_DIR, 'below_window', elf([(0x1000, 0x1000, CODE, 0x1000, 5)], entry=0x1000))
    write(ELF_DIR, 'past_window', elf([(0x17F000, 0x17F000, CODE, 0x2000, 5)], entry=0x17F000))
    write(ELF_DIR, 'overlap', elf([seg, (0x100800, 0x100800, CODE, 0x1000, 6)]))
    write(ELF_DIR, 'entry_not_exec', elf([(0x100000, 0x100000, CODE, 0x1000, 6)]))
    write(ELF_DIR, 'vaddr_ne_paddr', elf([(0x100000, 0x200000, CODE, 0x1000, 5)]))
    write(ELF_DIR, 'filesz_gt_memsz', elf([(0x100000, 0x100000, CODE, 4, 5)]))
    write(ELF_DIR, 'interp', elf([seg], extra_phdrs=(3,)))
    write(ELF_DIR, 'tls', elf([seg], extra_phdrs=(7,)))
    write(ELF_DIR, 'bad_phentsize', elf([seg], phentsize=32))

    write(VMS_DIR, 'record_valid', b'\0' + record([(16, vm_section()), (17, vcpu_section()),
                                                   (18, memory_section())]))
    write(VMS_DIR, 'record_signature', b'\0' + record([(16, vm_section(sig=b'Microsoft Hv')),
                                                       (17, vcpu_section(nmsrs=0, mode=1))]))
    write(VMS_DIR, 'vm_valid', b'\1' + vm_section())
    write(VMS_DIR, 'vm_bad_ram', b'\1' + vm_section(mem=5 << 20))
    write(VMS_DIR, 'vm_sig_without_flag', b'\1' + vm_section()[:40] + b'KVMKVMKVM\0\0\0' + vm_section()[52:])
    write(VMS_DIR, 'vcpu_valid', b'\2' + vcpu_section())
    v = vcpu_section(nmsrs=3)
    write(VMS_DIR, 'vcpu_too_many_msrs', b'\2' + v[:16] + struct.pack('<I', 513) + v[20:])
    write(VMS_DIR, 'vcpu_short', b'\2' + vcpu_section()[:200])
    write(VMS_DIR, 'memory_valid', b'\3' + memory_section())
    write(VMS_DIR, 'memory_count_mismatch', b'\3' + memory_section()[:16] + struct.pack('<Q', 3) +
          memory_section()[24:])
    write(VMS_DIR, 'memory_empty', b'\3' + memory_section(pages=()))


if __name__ == '__main__':
    main()
