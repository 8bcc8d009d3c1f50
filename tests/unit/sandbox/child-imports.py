#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""sandbox/child.c runs between fork and exec: it must neither allocate nor print. Checked on the object
itself: every symbol its child.c.o member of libtfsandbox.a imports must be a system call wrapper or a
string function on this list (sanitizer and stack-protector hooks aside). A new call fails here, naming
the symbol: add it only if it is async-signal-safe and allocates nothing. Usage: child-imports.py LIB.a
"""
import subprocess
import sys

ALLOWED = {
    # system calls (async-signal-safe, no allocation)
    "close", "geteuid", "ioctl", "mkdir", "mount", "mount_setattr", "move_mount", "open", "open64",
    "openat", "open_tree", "prctl", "socket", "syscall", "unshare", "write", "__errno_location",
    "lstat", "lstat64",
    # string functions on caller-owned memory
    "memcpy", "memset", "memmove", "strlen", "strchr",
    # constant tables (sandbox/system-paths.c), data, not code
    "tf_sandbox_masked_paths", "tf_sandbox_readonly_paths",
}
HOOKS = ("__asan_", "__ubsan_", "__sanitizer_", "__tsan_", "__stack_chk_", "_GLOBAL_OFFSET_TABLE_",
         "__sancov_", "__llvm_")


def main():
    out = subprocess.run(["nm", "-u", sys.argv[1]], capture_output=True, text=True, check=True).stdout
    member, imports = None, []
    for line in out.splitlines():
        if line.endswith(":"):
            member = line[:-1]
        elif member and member.endswith("child.c.o") and line.strip():
            imports.append(line.split()[-1])
    n = 1
    if not imports:
        print(f"not ok {n} - child.c.o found in {sys.argv[1]} with imports\n1..{n}")
        return 1
    bad = [s for s in imports if s not in ALLOWED and not s.startswith(HOOKS)]
    if bad:
        print(f"not ok {n} - sandbox/child.c imports only system calls and string functions")
        for s in bad:
            print(f"#   child.c calls {s}")
    else:
        print(f"ok {n} - sandbox/child.c imports only system calls and string functions ({len(imports)})")
    print(f"1..{n}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
