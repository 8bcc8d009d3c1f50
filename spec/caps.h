/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * The capability names of sandbox.cap_add and sandbox.cap_drop, as the kernel numbers them
 * (linux/capability.h), without the CAP_ prefix: one table for spec/ (which validates the names and
 * suggests one for a typo) and sandbox/ (which turns them into masks, and names a capability in the child's
 * messages between fork and exec, where nothing may allocate). Inline because sandbox/ links no spec
 * object code.
 */

#include <errno.h>
#include <linux/capability.h>
#include <stddef.h>
#include <string.h>

/* Capabilities past the table (a kernel newer than these headers) have no name. */
#define TF_CAP_COUNT (CAP_CHECKPOINT_RESTORE + 1)

/* The table itself, TF_CAP_COUNT names indexed by number. */
static inline const char *const *tf_cap_names(void) {
        static const char *const names[TF_CAP_COUNT] = {
                [CAP_CHOWN] = "CHOWN",
                [CAP_DAC_OVERRIDE] = "DAC_OVERRIDE",
                [CAP_DAC_READ_SEARCH] = "DAC_READ_SEARCH",
                [CAP_FOWNER] = "FOWNER",
                [CAP_FSETID] = "FSETID",
                [CAP_KILL] = "KILL",
                [CAP_SETGID] = "SETGID",
                [CAP_SETUID] = "SETUID",
                [CAP_SETPCAP] = "SETPCAP",
                [CAP_LINUX_IMMUTABLE] = "LINUX_IMMUTABLE",
                [CAP_NET_BIND_SERVICE] = "NET_BIND_SERVICE",
                [CAP_NET_BROADCAST] = "NET_BROADCAST",
                [CAP_NET_ADMIN] = "NET_ADMIN",
                [CAP_NET_RAW] = "NET_RAW",
                [CAP_IPC_LOCK] = "IPC_LOCK",
                [CAP_IPC_OWNER] = "IPC_OWNER",
                [CAP_SYS_MODULE] = "SYS_MODULE",
                [CAP_SYS_RAWIO] = "SYS_RAWIO",
                [CAP_SYS_CHROOT] = "SYS_CHROOT",
                [CAP_SYS_PTRACE] = "SYS_PTRACE",
                [CAP_SYS_PACCT] = "SYS_PACCT",
                [CAP_SYS_ADMIN] = "SYS_ADMIN",
                [CAP_SYS_BOOT] = "SYS_BOOT",
                [CAP_SYS_NICE] = "SYS_NICE",
                [CAP_SYS_RESOURCE] = "SYS_RESOURCE",
                [CAP_SYS_TIME] = "SYS_TIME",
                [CAP_SYS_TTY_CONFIG] = "SYS_TTY_CONFIG",
                [CAP_MKNOD] = "MKNOD",
                [CAP_LEASE] = "LEASE",
                [CAP_AUDIT_WRITE] = "AUDIT_WRITE",
                [CAP_AUDIT_CONTROL] = "AUDIT_CONTROL",
                [CAP_SETFCAP] = "SETFCAP",
                [CAP_MAC_OVERRIDE] = "MAC_OVERRIDE",
                [CAP_MAC_ADMIN] = "MAC_ADMIN",
                [CAP_SYSLOG] = "SYSLOG",
                [CAP_WAKE_ALARM] = "WAKE_ALARM",
                [CAP_BLOCK_SUSPEND] = "BLOCK_SUSPEND",
                [CAP_AUDIT_READ] = "AUDIT_READ",
                [CAP_PERFMON] = "PERFMON",
                [CAP_BPF] = "BPF",
                [CAP_CHECKPOINT_RESTORE] = "CHECKPOINT_RESTORE",
        };
        return names;
}

/* The name of capability n, or NULL past the table. */
static inline const char *tf_cap_name(unsigned n) {
        return n < TF_CAP_COUNT ? tf_cap_names()[n] : NULL;
}

/* The number of a normalised name ("NET_ADMIN" -> 12; upper case, no CAP_ prefix); -EINVAL for "ALL" and
 * unknown names. */
static inline int tf_cap_number(const char *name) {
        for (unsigned i = 0; name && i < TF_CAP_COUNT; i++)
                if (strcmp(name, tf_cap_names()[i]) == 0)
                        return (int)i;
        return -EINVAL;
}
