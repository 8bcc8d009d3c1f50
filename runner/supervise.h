/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * The supervisor: one event loop that runs a service once (one-shot) or stays resident and fires it on its
 * schedule, with overlap policies, retries with backoff, persistent catch-up, signal handling and SIGHUP
 * reloads. The one-shot run is the same machine with one immediate fire and an exit when it is done.
 */

#include <stdbool.h>

#include "runner/runner.h"

struct tf_supervise_options {
        struct tf_run_options run;
        const char *spec_path;
        bool resident;         /* the spec has a schedule and --now was not given */
        const char *state_dir; /* for persistent: NULL = default */
};

/* Returns the process exit status: one-shot: the (last attempt's) run status; resident: 0 after a clean
 * stop by SIGINT/SIGTERM; 125 when tfrun itself failed. */
int tf_supervise(struct tf_spec *spec, const struct tf_supervise_options *o);

