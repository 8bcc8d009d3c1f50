/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * runner/: one run of a service, driven through the same interface by every backend.
 *
 * A run moves pending -> starting -> running -> (stopping) -> succeeded | failed | timed-out |
 * oom-killed | cancelled. The supervision loop (run.c) owns timeouts, signal forwarding and the stop
 * sequence; a backend only knows how to start, signal, kill, collect and clean up its own kind of child.
 */

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "base/error.h"
#include "runner/loop.h"
#include "spec/spec.h"

enum tf_run_state {
        TF_RUN_PENDING,
        TF_RUN_STARTING,
        TF_RUN_RUNNING,
        TF_RUN_STOPPING,
        TF_RUN_SUCCEEDED,
        TF_RUN_FAILED,
        TF_RUN_TIMED_OUT,
        TF_RUN_OOM_KILLED,
        TF_RUN_CANCELLED,
};

struct tf_run_result {
        int exit_status;    /* what tfrun exits with: code, 128+sig, 124, 125, 126, 127 */
        int exit_code;      /* the child's own exit code, -1 when killed */
        int signal;         /* the killing signal, 0 when exited */
        const char *reason; /* "exited", "killed", "timed-out", "oom-killed", "not-found",
                               "not-executable", "start-failed" */
        uint64_t start_realtime_usec;
        uint64_t wall_usec;
        uint64_t cpu_usec;    /* TF_UNSET when unknown */
        uint64_t memory_peak; /* TF_UNSET when unknown */
        uint64_t pids_peak;   /* TF_UNSET when unknown */
};

struct tf_run;

struct tf_backend_ops {
        const char *name;
        /* The main process is in tfrun's process group, so a terminal's ^C already reached it. */
        bool shares_pgrp;
        /* Refuse, before anything is created, what this backend cannot honour. */
        int (*check)(struct tf_run *r, tf_error **err);
        /* Create and start. On success the backend has registered a source on r->loop that calls
         * tf_run_child_exited() when the main process is gone. On failure everything made is undone
         * by cleanup(). Exec-level failures (not found, not executable) are not errors: they end the run
         * through tf_run_child_exited() with the 127/126 status set in the result. */
        int (*start)(struct tf_run *r, tf_error **err);
        /* Send sig to the main process (forwarding) or, with all, to every process of the run. */
        int (*signal)(struct tf_run *r, int sig, bool all, tf_error **err);
        /* After exit: kill leftovers and fill cpu/memory/pids/oom into the result. */
        int (*collect)(struct tf_run *r, struct tf_run_result *res, bool *oom, tf_error **err);
        /* Remove everything made; idempotent; called on every path. */
        void (*cleanup)(struct tf_run *r);
};

struct tf_run_options {
        const char *cgroup_parent; /* --cgroup-parent */
        bool json;                 /* --json: summary object on stdout */
        bool quiet;                /* --quiet: no summary line */
};

struct tf_run {
        const struct tf_spec *spec; /* borrowed */
        const struct tf_run_options *opts;
        const struct tf_backend_ops *ops;
        struct tf_loop *loop; /* borrowed */
        char *run_id;         /* "<name>-<pid>-<counter>" */
        enum tf_run_state state;
        struct tf_run_result result;
        uint64_t start_mono_usec;
        struct tf_source *timeout_source, *grace_source;
        void (*on_done)(struct tf_run *r, void *userdata);
        void *on_done_userdata;
        void *backend; /* backend-private state */
};

extern const struct tf_backend_ops tf_native_backend;
/* Containers through the Docker Engine API (runner/docker-backend.c). */
/* The docker backend lives in a module (tfrun-docker.so) loaded on first use: libcurl stays out of native
 * runs. Fails with a message naming where it looked. */
int tf_run_load_docker_backend(const struct tf_backend_ops **ret, tf_error **err);
/* The module's entry point: its ops when `version` is the module's own TF_VERSION, else NULL. */
const struct tf_backend_ops *tf_module_docker_backend(const char *version);


/* Create a run for spec; nothing is started. */
int tf_run_new(const struct tf_spec *spec, const struct tf_run_options *opts, struct tf_loop *loop,
               struct tf_run **ret, tf_error **err);
void tf_run_free(struct tf_run *r);

/* Check and start; arms the timeout. on_done is called once the run reached a final state and was cleaned
 * up. */
int tf_run_start(struct tf_run *r, void (*on_done)(struct tf_run *, void *), void *userdata, tf_error **err);

/* Called by backends when the main process has ended. code and status are waitid()'s si_code and si_status. */
void tf_run_child_exited(struct tf_run *r, int code, int status);

/* Called by backends when exec failed in the child: 126 or 127, with the child's message. */
void tf_run_exec_failed(struct tf_run *r, int exit_status, const char *msg);

/* Stop per the spec: stop signal to every process, grace, then SIGKILL. `cancel` marks it cancelled
 * (operator request) rather than timed-out. */
void tf_run_stop(struct tf_run *r, bool cancel);

/* Forward a signal received by tfrun to the main process. */
void tf_run_forward_signal(struct tf_run *r, int sig);

const char *tf_run_state_name(enum tf_run_state s);

/* The summary line (stderr) or JSON object (stdout). */
void tf_run_report(const struct tf_run *r);

/* Log a line on stderr prefixed "tfrun: " (the runner is the only module that prints). */
void tf_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
