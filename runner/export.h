/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * `tfrun export systemd`, `tfrun explain` and `tfrun doctor` (docs/export.md): the module tfrun-export.so,
 * loaded by those verbs only, so that a one-shot `tfrun FILE` maps none of it (runner/modules.c).
 *
 * What a spec becomes elsewhere is computed from the spec alone, never from this host, so that the same
 * spec gives the same unit and the same explanation everywhere (the goldens in tests/golden/ rely on it);
 * what depends on the host (device numbers, the running kernel) is named as such in the output.
 */

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "base/error.h"
#include "spec/spec.h"

/* One thing systemd cannot say as tfrun means it. `key` is the spec key ("schedule.overlap"), `pos` where
 * it was written (line 0: not written, a default). */
struct tf_export_gap {
        char *key;
        char *why;
        struct tf_pos pos;
};

struct tf_export_unit {
        char *service;      /* the .service unit's text */
        char *timer;        /* the .timer unit's text, NULL without a schedule */
        char *seccomp_file; /* container specs: the profile `docker run --security-opt seccomp=` reads */
        char *seccomp_json; /* its text, NULL when none is needed */
        struct tf_export_gap *gaps;
        size_t n_gaps;
};

/* Build the units of `spec`. `dir`: where they will be written (the container seccomp profile's path is
 * named in ExecStart=; NULL: "."). 0, or -EINVAL with *err (a spec the unit cannot be built from at all:
 * a workflow, a backend's own refusal). */
int tf_export_systemd(const struct tf_spec *spec, const char *dir, struct tf_export_unit *ret,
                      tf_error **err);
void tf_export_unit_done(struct tf_export_unit *u);

/* The syscalls tfrun's pinned default profile allows for the capability set `caps` on this build's
 * architecture (rules with argument conditions included: *ret_conditional gets their names), sorted;
 * NULL-terminated, caller frees. */
char **tf_export_default_syscalls(uint64_t caps, char ***ret_conditional);

/* The final capability set of a service as the sandbox computes it for a root tfrun (Docker's rule). */
uint64_t tf_export_capabilities(const struct tf_spec *spec);

/* "10s", "1500ms"-free: whole seconds as "Ns", else "Nus": exact in systemd's time span syntax. buf >= 32.
 */
char *tf_export_span(char *buf, size_t len, uint64_t usec);

int tf_cmd_export(int argc, char **argv);
int tf_cmd_explain(int argc, char **argv);
int tf_cmd_doctor(int argc, char **argv);
