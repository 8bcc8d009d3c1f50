/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * What the spec's limits mean, written once for every backend that turns them into something else
 * (cgroup/ into v2 or v1 files, docker/ into HostConfig, runner/ into setrlimit and its reports). Small
 * and inline: docker/ and sandbox/ link no spec object code, and the child side of a spawn may use these
 * between fork and exec (no allocation, no printing).
 */

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>

#include "spec/spec.h"

/* The spec gave this limit (possibly as "max"). */
static inline bool tf_limit_is_set(uint64_t v) {
        return v != TF_UNSET;
}

/* The spec gave this limit as a number: set and not "max"/"infinity". Every target's default is
 * unlimited, so a limit that is not finite needs no write at all. */
static inline bool tf_limit_is_finite(uint64_t v) {
        return v != TF_UNSET && v != TF_LIMIT_MAX;
}

/* memory_swap is swap alone (cgroup v2's memory.swap.max); cgroup v1 (memory.memsw.limit_in_bytes) and
 * Docker (MemorySwap) take memory + swap as one number. Both must be finite. The sum must fit in an
 * int64_t (a JSON integer, the kernel's page counter): -ERANGE when it does not. */
static inline int tf_limits_memsw(const struct tf_limits *l, uint64_t *ret) {
        if (l->memory > (uint64_t)INT64_MAX || l->memory_swap > (uint64_t)INT64_MAX - l->memory)
                return -ERANGE;
        *ret = l->memory + l->memory_swap;
        return 0;
}

/* cpu_weight (cgroup v2's cpu.weight, 1..10000, default 100) as cgroup v1 cpu.shares and Docker's
 * CpuShares (default 1024): systemd's cgroup_cpu_weight_to_shares(), clamped to the kernel's 2..262144. */
#define TF_CPU_WEIGHT_DEFAULT UINT64_C(100)
#define TF_CPU_SHARES_DEFAULT UINT64_C(1024)
#define TF_CPU_SHARES_MIN UINT64_C(2)
#define TF_CPU_SHARES_MAX UINT64_C(262144)
static inline uint64_t tf_cpu_weight_to_shares(uint64_t weight) {
        uint64_t s = weight * TF_CPU_SHARES_DEFAULT / TF_CPU_WEIGHT_DEFAULT;
        return s < TF_CPU_SHARES_MIN ? TF_CPU_SHARES_MIN : s > TF_CPU_SHARES_MAX ? TF_CPU_SHARES_MAX : s;
}

/* On cgroup v2 a container's runtime turns CpuShares back into cpu.weight with a formula of its own; runc
 * 1.1 (Debian 12's) writes 1 + (shares - 2) * 9999 / 262142. The smallest CpuShares that formula turns into
 * weight exactly, so that a container reads the cpu.weight a native job does (tests/vm/v2: read back). */
static inline uint64_t tf_cpu_weight_to_runc_v2_shares(uint64_t weight) {
        if (weight <= 1)
                return TF_CPU_SHARES_MIN;
        if (weight >= 10000)
                return TF_CPU_SHARES_MAX;
        return TF_CPU_SHARES_MIN + ((weight - 1) * UINT64_C(262142) + 9998) / 9999;
}
