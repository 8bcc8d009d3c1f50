/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * runner/: one run of a service, driven through the same interface by every backend.
 *
 * A run moves pending -> starting -> running -> (stopping) -> succeeded | failed | timed-out |
 * oom-killed | cancelled. The supervision loop (run.c) owns timeouts, signal forwarding and the stop
 * sequence; a backend only knows how to start, signal, kill, collect and clean up its own kind of child.
 */

#include <jansson.h>
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

/* Why a run ended. Printed as tf_run_reason_name(): the words of the summary line and of --json. */
enum tf_run_reason {
        TF_REASON_NONE,           /* not ended yet */
        TF_REASON_EXITED,         /* the main process exited by itself, any code */
        TF_REASON_SIGNALED,       /* killed by a signal tfrun did not send (or forwarded from outside) */
        TF_REASON_TIMED_OUT,      /* stopped by tfrun at `timeout:` (124) */
        TF_REASON_OOM_KILLED,     /* the main process was killed by the kernel's OOM killer (137) */
        TF_REASON_CANCELLED,      /* stopped by tfrun on request (SIGINT/SIGTERM to tfrun, overlap: replace) */
        TF_REASON_NOT_FOUND,      /* the command does not exist (127) */
        TF_REASON_NOT_EXECUTABLE, /* the command cannot be executed (126) */
        TF_REASON_START_FAILED,   /* tfrun could not start it: refused limit, backend down, ... (125) */
        TF_REASON_INVALID_SPEC,   /* the spec failed validation; nothing was started (125) */
        TF_REASON_NODE_LOST,      /* the node running it went away: its end is unknown (125; swarm) */
};
const char *tf_run_reason_name(enum tf_run_reason r);

struct tf_run_result {
        int exit_status; /* what tfrun exits with: code, 128+sig, 124, 125, 126, 127 */
        int exit_code;   /* the child's own exit code, -1 when killed or never started */
        int signal;      /* the killing signal, 0 when exited */
        enum tf_run_reason reason;
        char *error;     /* owned: why it could not start (START_FAILED, NOT_FOUND, ...); NULL otherwise */
        uint64_t start_realtime_usec;
        uint64_t wall_usec;     /* from the start request to the main process's end (not cleanup) */
        uint64_t cpu_usec;      /* TF_UNSET when unknown */
        uint64_t memory_peak;   /* TF_UNSET when unknown */
        uint64_t pids_peak;     /* TF_UNSET when unknown */
        uint64_t oom_kills;     /* processes of the run the OOM killer took; TF_UNSET when unknown */
        uint64_t pids_refused;  /* forks the pids limit refused; TF_UNSET when unknown */
        /* The run's output kept (tf_run_options.log): NULL when it was not. */
        char *log_path;         /* owned */
        uint64_t log_bytes;     /* the log file's size */
        uint64_t output_bytes;  /* what the run wrote to stdout and stderr, kept or not */
        uint64_t output_lines;
        bool log_truncated;     /* the cap was reached (or the file could not be written) */
        /* A workflow run: one entry per step (document order), then the handlers that ran. NULL/0 for a
         * plain run. Owned (tf_run_result_done()). */
        struct tf_step_result *steps;
        size_t n_steps;
};

/* ---- workflows (runner/workflow.c) -------------------------------------------------------------------- */

enum tf_step_status {
        TF_STEP_PENDING,   /* not started yet */
        TF_STEP_RUNNING,
        TF_STEP_SUCCEEDED, /* exited 0, or with one of its continue_on exit codes */
        TF_STEP_FAILED,    /* any other end: exit code, signal, timeout, OOM, start failure */
        TF_STEP_SKIPPED,   /* its when: was false, or a step it needs did not succeed */
        TF_STEP_CANCELLED, /* the run was stopped (or timed out) before the step could end by itself */
        TF_STEP_REUSED,    /* a retry took its recorded success and output instead of running it again */
};
/* "pending", "running", "succeeded", "failed", "skipped", "cancelled", "reused". */
const char *tf_step_status_name(enum tf_step_status s);

struct tf_step_result {
        const struct tf_step *step; /* borrowed from the run's spec */
        size_t position;            /* index in spec->steps; handlers follow at n_steps + k */
        enum tf_step_status status;
        char *run_id;               /* owned: "<run id>.<step name>" */
        struct tf_run_result result; /* as a run's, when it ran (log_path: the step's own log) */
        char *output;               /* owned: step->output set and it succeeded or was reused */
        size_t output_len;
        char *why;                  /* owned: skipped or failed: a sentence for people ("needs b, which failed") */
};

/* A step a retry does not run again: its recorded output (NULL when it had none). */
struct tf_step_reuse {
        const char *name;
        const char *output;
        size_t output_len;
};

/* What one run carries beyond its spec (set before tf_run_start(); copied). */
struct tf_run_extra {
        char **env;           /* "KEY=VALUE" added to the run's (and each step's) environment; a key the
                                 spec sets too is replaced */
        const char *retry_of; /* the run id this run retries (tfrun retry); NULL */
        const struct tf_step_reuse *reuse; /* a workflow retry: steps that are not run again */
        size_t n_reuse;
};

struct tf_run;
struct tf_outlog;
struct tf_outlog_options;

/* Process-wide state of the runs of one process (one loop): what used to be static. */
struct tf_run_ctx {
        struct tf_loop *loop; /* borrowed */
        unsigned run_counter; /* run ids "<name>-<pid>-<n>" */
        /* A backend's process-wide state (docker: the engine client, its requests in flight, the
         * containers this process made), created on first use and freed by tf_run_ctx_done(). */
        void *backend_state[4];
        void (*backend_state_free[4])(void *state);
        /* Unit tests of what drives runs (services) put a backend of their own here. */
        const struct tf_backend_ops *backend_override;
        /* The swarm backend: the swarm manager's engine ("unix:///path"; NULL: $DOCKER_HOST, else the
         * default socket) and the engines of other nodes (NULL-terminated; may be NULL), asked for their
         * node ids so that a task's exited container is removed, and its OOM kill read, on its own node.
         * Borrowed. */
        const char *swarm_host;
        char *const *swarm_nodes;
};
#define TF_RUN_CTX_DOCKER 0
#define TF_RUN_CTX_NATIVE 1
#define TF_RUN_CTX_SWARM 2
void tf_run_ctx_init(struct tf_run_ctx *c, struct tf_loop *loop);
void tf_run_ctx_done(struct tf_run_ctx *c);

struct tf_backend_ops {
        const char *name;
        /* The main process is in tfrun's process group, so a terminal's ^C already reached it. */
        bool shares_pgrp;
        /* Refuse, before anything is created, what this backend cannot honour. Must not block. */
        int (*check)(struct tf_run *r, tf_error **err);
        /* Begin creating and starting; never blocks the loop. The run is STARTING until the backend calls
         * tf_run_started() (the main process runs; may be called from inside start()), then RUNNING.
         * A failure is either returned at once (< 0, with *err) or reported later with
         * tf_run_start_failed(); exec-level failures (not found, not executable) with tf_run_exec_failed().
         * Once the main process has ended, the backend calls tf_run_child_exited() exactly once, after it
         * has collected what it reports (for native: after the cgroup is empty). Every tf_run_* call
         * above may be made from inside start(): the run finishes from a deferred call, never re-entrantly.
         */
        int (*start)(struct tf_run *r, tf_error **err);
        /* STARTING only, optional: give up starting (a timeout or a stop came first). The backend cancels
         * what it has in flight and ends the run with tf_run_start_failed() (or tf_run_child_exited() if
         * the process exists after all). Without abort, the run is stopped once it is RUNNING. */
        void (*abort)(struct tf_run *r);
        /* Send sig to the main process (forwarding) or, with all, to every process of the run. */
        int (*signal)(struct tf_run *r, int sig, bool all, tf_error **err);
        /* After exit: fill cpu/memory/pids/oom into the result. *oom: the main process was OOM-killed. */
        int (*collect)(struct tf_run *r, struct tf_run_result *res, bool *oom, tf_error **err);
        /* Remove everything made; idempotent; called on every path; must not block (work that must
         * outlive the run, such as a container's DELETE, goes on in the backend's ctx state). */
        void (*cleanup)(struct tf_run *r);
        /* Optional: remove what runs of `service` left when their tfrun is gone (the manager at start, for
         * the runs it marked lost); asynchronous, never blocks, logs what it removes. */
        int (*sweep)(struct tf_run_ctx *c, const char *service, tf_error **err);
};

struct tf_run_options {
        /* --cgroup-parent; relative: below tfrun's own cgroup in each hierarchy (a workflow's steps) */
        const char *cgroup_parent;
        /* Containers are created with this cgroup parent (HostConfig.CgroupParent): the manager's budget
         * (`budget:` in its settings; the same path as cgroup_parent, which native runs use), or a
         * workflow's cgroup for its docker steps. NULL: the engine's own cgroups, and a cgroup_parent
         * refuses containers. */
        const char *container_cgroup_parent;
        bool json;                 /* --json: summary object on stdout */
        bool quiet;                /* --quiet: no summary line */
        const char *json_file;     /* --json-file: the result object written (atomically) to this file */
        /* The run's stdout and stderr kept in a log of its own, DIR/SERVICE/RUN_ID.log, and copied to
         * tfrun's fds as it says (runner/outlog.h); NULL: the run writes to tfrun's stdout and stderr
         * itself (native: inherited; docker: copied unchanged). */
        const struct tf_outlog_options *log;
        /* Workflows: called when a step starts running and when it reaches its final status (skipped and
         * reused ones included: once, with that status); the pointer is valid for the call only. */
        void (*on_step)(const struct tf_run *r, const struct tf_step_result *step, void *userdata);
        void *on_step_userdata;
};

struct tf_run {
        const struct tf_spec *spec; /* borrowed */
        const struct tf_run_options *opts;
        const struct tf_backend_ops *ops;
        struct tf_run_ctx *ctx; /* borrowed */
        struct tf_loop *loop;   /* borrowed: ctx->loop */
        char *run_id;           /* "<name>-<pid>-<counter>" */
        enum tf_run_state state;
        struct tf_run_result result;
        uint64_t start_mono_usec;
        bool ended;                  /* the main process ended (or never started): wall time is taken */
        enum tf_run_reason stopping; /* TIMED_OUT or CANCELLED once tfrun asked it to stop */
        uint64_t stop_realtime_usec; /* when tfrun asked it to stop */
        int pending_signal;          /* forwarded while starting; delivered once it runs */
        /* Backends that know when the main process really ended (a container's FinishedAt) set this
         * before tf_run_child_exited(): a run that ended before tfrun's stop was not stopped by it. */
        uint64_t exit_realtime_usec;
        struct tf_source *timeout_source, *grace_source, *finish_source;
        void (*on_done)(struct tf_run *r, void *userdata);
        void *on_done_userdata;
        void *backend; /* backend-private state */
        struct tf_outlog *outlog; /* opts->log set: the sink backends write the output to */
        /* tf_run_set_extra(): the copies, and the spec with the extra env (a shallow copy of *spec whose
         * env vector is its own); spec then points to it. */
        struct tf_run_extra *extra; /* NULL: none */
        struct tf_spec *own_spec;
        void *workflow; /* runner/workflow.c's state of a workflow run */
};

extern const struct tf_backend_ops tf_native_backend;
/* A workflow (spec->n_steps > 0): its steps as child runs, each on its own backend (runner/workflow.c). */
extern const struct tf_backend_ops tf_workflow_backend;
/* Kill and remove the cgroups named tfrun-<service>-<pid>-<n> below --cgroup-parent (NULL: tfrun's own
 * cgroups) whose tfrun (pid) is gone, in every hierarchy; service NULL: those of every service (the
 * manager at start). A live tfrun's are never touched. Does not wait: what does not empty at once is
 * retried from c's loop (bounded), then left with a warning. Each one removed is logged. A native run
 * calls it for its service before it creates its cgroup. */
int tf_native_sweep(struct tf_run_ctx *c, const char *cgroup_parent, const char *service, tf_error **err);
/* Workflows: the cgroup over a workflow's native steps, tfrun-<run id> below --cgroup-parent (or tfrun's own
 * cgroup) in every hierarchy, with the workflow spec's top-level limits; what an earlier tfrun left of the
 * service is swept first. one_path (a workflow with container steps, whose CgroupParent names one path
 * for every hierarchy): at one path in every hierarchy instead, below an absolute --cgroup-parent or else
 * below the deepest of tfrun's own cgroups (the missing ancestors made). *ret_path: the cgroup's path, for
 * the steps' cgroup_parent and container_cgroup_parent. check: tf_cg_check() of it, nothing made. remove:
 * asynchronous (the steps' cgroups below it go first), takes cg and name (NULL-safe); one_path: the
 * *ret_path of a one-path cgroup, removed in every v1 hierarchy (the engine's runtime makes it in those
 * cgroup/ does not use too) with the ancestors made for it. */
struct tf_cg;
int tf_native_parent_check(struct tf_run *r, tf_error **err);
int tf_native_parent_create(struct tf_run *r, bool one_path, struct tf_cg **ret, char **ret_name,
                            char **ret_path, tf_error **err);
void tf_native_parent_remove(struct tf_run *r, struct tf_cg *cg, char *name, const char *one_path);
/* The cgroup host description the native runs of c use (detected on first use; owned by c, freed by
 * tf_run_ctx_done()): for what lives beside the runs, such as the manager's budget. */
struct tf_cg_host;
int tf_native_cg_host(struct tf_run_ctx *c, struct tf_cg_host **ret, tf_error **err);
/* Containers through the Docker Engine API (runner/docker-backend.c). */
/* The docker backend lives in a module (tfrun-docker.so) loaded on first use: libcurl stays out of native
 * runs. Fails with a message naming where it looked. */
int tf_run_load_docker_backend(const struct tf_backend_ops **ret, tf_error **err);
/* The module's entry point: its ops when `version` is the module's own TF_VERSION, else NULL. */
const struct tf_backend_ops *tf_module_docker_backend(const char *version);
/* One Swarm service (replicated job) per run through the manager DOCKER_HOST names
 * (runner/swarm-backend.c, in tfrun-docker.so). */
int tf_run_load_swarm_backend(const struct tf_backend_ops **ret, tf_error **err);
const struct tf_backend_ops *tf_module_swarm_backend(const char *version);
/* The manager (`tfrun up`) lives in tfrun-manager.so (SQLite and libmicrohttpd stay out of the one-shot
 * path), its client verbs in tfrun-verbs.so (nor are they mapped by a verb): load the one for the verb
 * argv[0] and run it; the process's exit status. */
int tf_run_manager_module(int argc, char **argv);


/* Create a run for spec; nothing is started. */
int tf_run_new(struct tf_run_ctx *ctx, const struct tf_spec *spec, const struct tf_run_options *opts,
               struct tf_run **ret, tf_error **err);
void tf_run_free(struct tf_run *r);

/* Everything tf_run_start() checks before it creates anything (the backend's check: limits this host and
 * backend can honour, the sandbox, the container body), without starting: `tfrun validate`. */
int tf_run_check(struct tf_run_ctx *ctx, const struct tf_spec *spec, const struct tf_run_options *opts,
                 tf_error **err);

/* Give the run what it carries beyond its spec (copied); before tf_run_start() only. */
void tf_run_set_extra(struct tf_run *r, const struct tf_run_extra *x);
/* A deep copy (NULL for NULL), and its free. */
struct tf_run_extra *tf_run_extra_dup(const struct tf_run_extra *x);
void tf_run_extra_free(struct tf_run_extra *x);

/* Check and start. Every run ends through on_done, called once from the loop (never from inside this
 * call) after the run reached a final state and was cleaned up, whatever happened: a refused check or a
 * failed start ends as TF_REASON_START_FAILED (status 125) with result.error set. on_done may free r. */
void tf_run_start(struct tf_run *r, void (*on_done)(struct tf_run *, void *), void *userdata);

/* Backends: the main process runs (STARTING -> RUNNING). */
void tf_run_started(struct tf_run *r);
/* Backends: starting failed; takes err (may be NULL with msg in none). status 125, or 124/cancelled when
 * the run was being stopped. */
void tf_run_start_failed(struct tf_run *r, tf_error *err);

/* Called by backends when the main process has ended. code and status are waitid()'s si_code and si_status. */
void tf_run_child_exited(struct tf_run *r, int code, int status);

/* Called by backends when exec failed in the child: 126 or 127, with the child's message. */
void tf_run_exec_failed(struct tf_run *r, int exit_status, const char *msg);
/* The main process's end can no longer be known (a swarm node went down under it): the run fails with
 * status 125, reason node-lost and msg as its error. */
void tf_run_lost(struct tf_run *r, const char *msg);

/* Stop per the spec: stop signal to every process, grace, then SIGKILL. `cancel` marks it cancelled
 * (operator request) rather than timed-out. */
void tf_run_stop(struct tf_run *r, bool cancel);

/* Forward a signal received by tfrun to the main process; one that comes while the run is still starting is
 * delivered once it runs. */
void tf_run_forward_signal(struct tf_run *r, int sig);

const char *tf_run_state_name(enum tf_run_state s);

/* The result as a JSON object (new reference). spec may be NULL (a spec that failed to load). */
json_t *tf_run_result_json(const char *service, const char *backend, const char *run_id,
                           const struct tf_run_result *res);

/* One step's entry of a workflow result's "steps" array (new reference): name, run_id, handler, status (the
 * step's word), backend, exit_status, exit_code, signal, reason, error, why, started_at, ended_at,
 * wall_usec, cpu_usec, memory_peak_bytes, pids_peak, oom_kills, oom, log_path, output_bytes; null where the
 * step did not run. */
json_t *tf_step_result_json(const struct tf_step_result *st);

/* The summary line (stderr) or JSON object (stdout), and --json-file. */
void tf_run_report(const struct tf_run *r);
/* A result object (takes obj) to --json-file (atomically: tf_write_file_atomic()) and/or --json (stdout). */
void tf_run_emit_json(const struct tf_run_options *o, json_t *obj);
/* A result before anything is known: no exit code, statistics unknown. */
void tf_run_result_init(struct tf_run_result *res);
/* Free what a result owns (error, log_path, steps); it is left as after tf_run_result_init(). */
void tf_run_result_done(struct tf_run_result *res);

/* A random number below n (0 for n == 0): getrandom(), or the monotonic clock when it has no entropy yet. */
uint64_t tf_random_below(uint64_t n);
/* The delay before retry `attempt` (1: the first): exponential from restart.backoff_initial, doubled per
 * attempt, capped at restart.backoff_max; with jitter, a random point in the upper half, so retries of many
 * services spread out but never come sooner than half the step. One rule for services and workflow steps. */
uint64_t tf_restart_backoff(const struct tf_spec *spec, unsigned attempt);

/* Log a line on stderr prefixed "tfrun: " (the runner is the only module that prints). */
void tf_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
