/* SPDX-License-Identifier: MIT */
/*
 * Docker's masked and read-only paths, pinned: the one table behind the default `system_paths: masked`
 * on both backends. The native backend applies it in the child (child.c); the docker backend sends the
 * same lists as HostConfig.MaskedPaths and ReadonlyPaths (docker/body.c), so that the engine's version
 * does not change them. Paths absent on the running kernel are skipped on both (runc skips them too).
 */
#include "sandbox/sandbox.h"

const char tf_sandbox_system_paths_revision[] = "moby 20.10 oci/defaults.go (DefaultLinuxSpec)";

/* Hidden: a file gets /dev/null bound over it, a directory an empty read-only tmpfs. */
const char *const tf_sandbox_masked_paths[] = {
        "/proc/asound",
        "/proc/acpi",
        "/proc/kcore",
        "/proc/keys",
        "/proc/latency_stats",
        "/proc/timer_list",
        "/proc/timer_stats",
        "/proc/sched_debug",
        "/proc/scsi",
        "/sys/firmware",
        NULL,
};

/* Bound read-only onto themselves. */
const char *const tf_sandbox_readonly_paths[] = {
        "/proc/bus",
        "/proc/fs",
        "/proc/irq",
        "/proc/sys",
        "/proc/sysrq-trigger",
        NULL,
};
