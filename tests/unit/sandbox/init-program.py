#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""tfrun-init (sandbox/init.c) is what a sandboxed run's pid namespace gets as pid 1: it must be a static
program with no interpreter and no dynamic section (nothing resolved at its start, no library of the host
loaded into the namespace's init), small, and the very bytes tfrun embeds. Usage: init-program.py INIT
TFRUN
"""
import struct
import sys

PT_INTERP, PT_DYNAMIC = 3, 2


def main():
    init = open(sys.argv[1], "rb").read()
    tfrun = open(sys.argv[2], "rb").read()
    n = 0

    def ok(cond, what):
        nonlocal n
        n += 1
        print(f"{'ok' if cond else 'not ok'} {n} - {what}")
        return cond

    ok(init[:4] == b"\x7fELF" and init[4] == 2, "tfrun-init is a 64-bit ELF file")
    e_phoff, = struct.unpack_from("<Q", init, 0x20)
    e_phentsize, e_phnum = struct.unpack_from("<HH", init, 0x36)
    types = [struct.unpack_from("<I", init, e_phoff + i * e_phentsize)[0] for i in range(e_phnum)]
    e_type, = struct.unpack_from("<H", init, 0x10)
    ok(e_type == 2, f"it is an executable, not position-independent (e_type {e_type})")
    ok(PT_INTERP not in types and PT_DYNAMIC not in types,
       f"no interpreter and no dynamic section (program headers {types})")
    ok(len(init) <= 16384, f"it is small: {len(init)} bytes")
    ok(tfrun.find(init) >= 0, "tfrun embeds these very bytes")
    print(f"1..{n}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
