/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * The manager's settings (`tfrun up DIR --config FILE`): one YAML document read as strictly as a spec
 * (positions, unknown keys with suggestions, the same scalars), into struct tf_settings. Each top-level
 * section is one entry of the key table in spec/settings.c (its name and its parser): a new section is a
 * field here, a parser there and that one entry.
 *
 *   budget:     the caps of the one parent cgroup of every run of the manager (cpus, memory, memory_swap,
 *               pids, io_weight, io): a struct tf_limits, so that cgroup/ applies them as it applies a
 *               spec's
 *   admission:  PSI avg10 thresholds (percent) per resource, some and full; max_wait; aging
 *   queues:     named queues with max_concurrent
 *
 * What the host decides (whether it has PSI, whether the budget's controllers exist) is checked by the
 * manager at start, with the positions kept here.
 */

#include <stdbool.h>
#include <stdint.h>

#include "base/error.h"
#include "base/parse.h"
#include "spec/spec.h"

enum tf_psi_resource { TF_PSI_CPU, TF_PSI_MEMORY, TF_PSI_IO, TF_PSI_N };
const char *tf_psi_resource_name(enum tf_psi_resource r);

struct tf_psi_threshold {
        /* avg10 in percent, 0..100; < 0: not set */
        double some, full;
        struct tf_pos pos; /* of the resource's key */
};

struct tf_settings_queue {
        char *name;
        uint64_t max_concurrent; /* TF_UNSET: no bound */
        struct tf_pos pos;
};

/* Aging: a waiting run gains one priority point per this much waiting (admission.aging). */
#define TF_ADMISSION_AGING_DEFAULT_USEC (10 * TF_USEC_PER_SEC)

struct tf_settings {
        char *path;
        bool have_budget;
        struct tf_pos pos_budget;
        /* cpus (cpu_quota_usec), memory, memory_swap, pids, io_weight, io; the rest TF_UNSET. */
        struct tf_limits budget;
        struct {
                bool present;
                struct tf_pos pos;
                struct tf_psi_threshold psi[TF_PSI_N];
                uint64_t max_wait_usec; /* TF_UNSET: wait for ever */
                uint64_t aging_usec;    /* > 0 */
                struct tf_pos pos_max_wait;
        } admission;
        struct tf_settings_queue *queues;
        size_t n_queues;
        struct tf_pos pos_queues;
        /* notify: the alerts of every service whose spec has no notify: of its own (the spec's keys;
         * secret_file relative to the settings file's directory). present false when absent. */
        struct tf_notify notify;
};

/* Reads FILE. Errors: "FILE:LINE:COL: KEYPATH: what; expected ...", -EINVAL; a file that cannot be read:
 * its -errno and "FILE: cannot open: ...". *ret owned by the caller. */
int tf_settings_load(const char *path, struct tf_settings **ret, tf_error **err);
int tf_settings_load_buffer(const char *path, const char *buf, size_t len, struct tf_settings **ret,
                            tf_error **err);
/* Settings with nothing set (no file given). */
struct tf_settings *tf_settings_new(void);
struct tf_settings *tf_settings_free(struct tf_settings *s);
static inline void tf_settings_freep(struct tf_settings **s) {
        tf_settings_free(*s);
}
#define _cleanup_settings_ __attribute__((cleanup(tf_settings_freep)))

/* The queue named so, or NULL. */
const struct tf_settings_queue *tf_settings_queue(const struct tf_settings *s, const char *name);
/* "FILE:LINE:COL" of pos (caller frees). */
char *tf_settings_where(const struct tf_settings *s, struct tf_pos pos);
