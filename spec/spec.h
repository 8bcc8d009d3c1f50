/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * spec/: a service.yaml parsed with libyaml into a typed, validated, normalised struct tf_spec.
 *
 * Units are normalised at load: sizes in bytes, durations in microseconds, CPU as a CFS quota over a
 * period, signals as numbers. Relative paths (env_file, mounts' sources, seccomp profile) are resolved
 * against the spec file's directory. Unknown keys are errors. Every error message starts with
 * "FILE:LINE:COLUMN: " and names the key, what was expected, and a suggestion where one exists.
 *
 * spec/ uses only base/. Things other modules must check (calendar and cron syntax, whether a backend
 * can honour a limit) keep the position of their value (struct tf_pos) so that the caller can report
 * FILE:LINE:COLUMN too.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "base/error.h"

/* "not set" for every uint64_t field below; 0 is a real value for several (memory_swap: 0). */
#define TF_UNSET UINT64_MAX
/* "max"/"infinity" where a limit may be explicitly unlimited. */
#define TF_LIMIT_MAX (UINT64_MAX - 1)

#define TF_CPU_PERIOD_USEC UINT64_C(100000)

struct tf_pos {
        unsigned line, column; /* 1-based; 0 = unknown */
};

struct tf_io_limit {
        char *device; /* path as written, e.g. /dev/vda */
        struct tf_pos pos;
        uint64_t read_bps, write_bps, read_iops, write_iops; /* TF_UNSET when absent */
};

struct tf_limits {
        /* cpus: 1.5 -> cpu_quota_usec 150000 over cpu_period_usec 100000. TF_UNSET when absent. */
        uint64_t cpu_quota_usec;
        uint64_t cpu_period_usec;
        uint64_t cpu_weight; /* 1..10000 */
        char *cpuset;        /* "0-1,3", validated syntax; NULL when absent */
        uint64_t memory;     /* bytes, or TF_LIMIT_MAX */
        uint64_t memory_high;
        uint64_t memory_swap; /* swap alone (v2 memory.swap.max semantics); backends convert */
        uint64_t pids;
        uint64_t io_weight; /* 1..10000 (cgroup v2 range); docker needs 10..1000 and refuses outside */
        struct tf_io_limit *io;
        size_t n_io;
        uint64_t nofile; /* RLIMIT_NOFILE soft and hard */
        /* Positions of each key, for errors raised by backends that cannot honour it. */
        struct tf_pos pos_cpus, pos_cpu_weight, pos_cpuset, pos_memory, pos_memory_high, pos_memory_swap,
                pos_pids, pos_io_weight, pos_io, pos_nofile;
};

/* swarm: one Docker Swarm service (replicated job) per run, through the manager DOCKER_HOST names. */
enum tf_backend { TF_BACKEND_AUTO, TF_BACKEND_NATIVE, TF_BACKEND_DOCKER, TF_BACKEND_SWARM };

enum tf_restart_policy { TF_RESTART_NO, TF_RESTART_ON_FAILURE, TF_RESTART_ALWAYS };

enum tf_overlap { TF_OVERLAP_SKIP, TF_OVERLAP_QUEUE, TF_OVERLAP_REPLACE, TF_OVERLAP_ALLOW };

enum tf_seccomp_mode { TF_SECCOMP_DEFAULT, TF_SECCOMP_UNCONFINED, TF_SECCOMP_PROFILE };

enum tf_network_mode {
        TF_NETWORK_UNSET, /* native: share the host's; docker: the engine's default */
        TF_NETWORK_NONE,
        TF_NETWORK_HOST,
        TF_NETWORK_BRIDGE, /* docker only */
        TF_NETWORK_NAMED,  /* docker only: network_name */
};

enum tf_pid_mode {
        TF_PID_UNSET,   /* native: as private (the default sandbox); docker: the engine's default (own, no
                           init) */
        TF_PID_PRIVATE, /* a pid namespace of its own with an init as pid 1 that reaps zombies */
        TF_PID_HOST,
};

/* sandbox.ipc, sandbox.uts, sandbox.cgroupns: a namespace of the service's own (the default) or the
 * host's. */
enum tf_ns_mode { TF_NS_PRIVATE, TF_NS_HOST };

/* sandbox.system_paths: Docker's masked and read-only paths under /proc and /sys (the default), or none
 * (Docker's --security-opt systempaths=unconfined). */
enum tf_system_paths { TF_SYSTEM_PATHS_MASKED, TF_SYSTEM_PATHS_UNCONFINED };

struct tf_schedule_expr {
        char *expr;
        struct tf_pos pos;
};

/* schedule.path: file triggers, like systemd's .path units (PathExists=, PathExistsGlob=, PathChanged=,
 * PathModified=, DirectoryNotEmpty=); watched with inotify by runner/. */
enum tf_path_kind {
        TF_PATH_EXISTS,    /* the path comes to exist */
        TF_PATH_GLOB,      /* a name matching the pattern appears (wildcards in the last component only) */
        TF_PATH_CHANGED,   /* closed after writing, created, removed, moved, attributes changed */
        TF_PATH_MODIFIED,  /* changed, and every write */
        TF_PATH_NOT_EMPTY, /* a directory gets an entry */
};

struct tf_path_trigger {
        enum tf_path_kind kind;
        char *path; /* absolute, normalised (no "//", ".", "..", trailing '/') */
        struct tf_pos pos;
};

#define TF_PATH_SETTLE_DEFAULT_USEC UINT64_C(500000)

struct tf_schedule {
        bool present;
        struct tf_schedule_expr *calendar; /* systemd OnCalendar expressions, syntax checked by schedule/ */
        size_t n_calendar;
        struct tf_schedule_expr cron; /* expr NULL when absent */
        uint64_t every_usec;          /* TF_UNSET when absent */
        bool persistent;
        uint64_t randomized_delay_usec; /* 0 when absent */
        enum tf_overlap overlap;
        struct tf_pos pos;
        struct tf_path_trigger *paths; /* in document order; n_paths 0 when there is no path: */
        size_t n_paths;
        uint64_t path_settle_usec; /* a burst ends after this long without events [500ms] */
        struct tf_pos pos_path;
};

/* on_success / on_failure at the top level: other services to trigger (`tfrun up` only). */
struct tf_service_ref {
        char *name; /* a valid service name, not the spec's own, each once */
        struct tf_pos pos;
};

struct tf_service_refs {
        struct tf_service_ref *refs;
        size_t n;
        struct tf_pos pos; /* of the key */
        bool list;         /* written as a list (key paths in messages: on_failure[0]) */
};

struct tf_sandbox {
        enum tf_seccomp_mode seccomp;
        char *seccomp_profile; /* absolute path when TF_SECCOMP_PROFILE */
        bool no_new_privileges; /* default true */
        char **cap_drop;        /* normalised upper case without CAP_ prefix, "ALL" allowed; NULL-terminated */
        char **cap_add;
        bool cap_ambient; /* native only: a non-root user keeps cap_add as ambient capabilities */
        bool read_only_root;
        enum tf_network_mode network;
        char *network_name;
        bool private_tmp;
        enum tf_pid_mode pid;
        enum tf_ns_mode ipc, uts, cgroupns;
        enum tf_system_paths system_paths;
        /* `sandbox: host`: native only, no sandbox at all (the plain child of tfrun); every other field
         * keeps its default and means nothing then. */
        bool host;
        struct tf_pos pos_seccomp, pos_network, pos_pid, pos_cap_ambient, pos_ipc, pos_uts, pos_cgroupns,
                pos_system_paths;
};

struct tf_mount {
        char *source; /* absolute (resolved against the spec's directory), not yet checked for existence */
        char *target; /* absolute */
        bool read_only;
        struct tf_pos pos;
};

/* ---- alerts: notify: ---------------------------------------------------------------------------------- */

/* What a notifier is told of (the manager sends them; a one-shot run sends none). */
enum tf_alert {
        TF_ALERT_FAILURE,  /* a job's last attempt did not succeed (a run stopped on request excepted) */
        TF_ALERT_MISSED,   /* a fire of the schedule did not start within the grace of its time */
        TF_ALERT_STALE,    /* no success for longer than stale: */
        TF_ALERT_SUCCESS,  /* a job succeeded */
        TF_ALERT_RECOVERY, /* the first success after a failure */
        TF_ALERT_N,
};
#define TF_ALERT_BIT(a) (1u << (a))
/* "failure", "missed", "stale", "success", "recovery"; NULL outside the enum. */
const char *tf_alert_name(enum tf_alert a);

#define TF_NOTIFY_ATTEMPTS_DEFAULT 5u
#define TF_NOTIFY_ATTEMPTS_MAX 20u
#define TF_NOTIFY_SECRET_MAX 4096u
#define TF_NOTIFY_URL_MAX 2048u

struct tf_notify {
        bool present;
        unsigned on;                /* TF_ALERT_BIT()s; never 0 when present */
        uint64_t missed_grace_usec; /* missed: how late a fire may start before it is missed [1m] */
        uint64_t stale_usec;        /* stale: no success for this long; TF_UNSET unless on has stale */
        struct {
                char *url;         /* http:// or https://; NULL: no webhook */
                char *secret_file; /* absolute; NULL: deliveries are not signed */
                char *secret;      /* the file's bytes (a trailing newline dropped), read at load; never
                                      printed or logged */
                size_t secret_len;
                unsigned attempts;     /* deliveries tried before giving up [5] */
                uint64_t timeout_usec; /* one attempt's bound [10s] */
        } webhook;
        char **argv;                   /* command: NULL: none */
        uint64_t command_timeout_usec; /* the command's run bound [1m] */
        struct tf_pos pos, pos_webhook, pos_command, pos_missed;
};
/* Frees what n owns (the secret wiped first) and zeroes it. */
void tf_notify_done(struct tf_notify *n);
struct tf_spec;
/* The spec a notify: command runs as: a native run of n->argv named "SERVICE.notify" in the service's
 * directory, with the default sandbox and small bounds (timeout: n->command_timeout_usec; memory 256M,
 * pids 64, nofile 1024), no schedule, no retries. *ret is new; n->argv must be set. */
void tf_spec_notify_command(const struct tf_spec *service, const struct tf_notify *n, struct tf_spec **ret);

struct tf_step;

struct tf_spec {
        char *path; /* the file as given */
        char *dir;  /* absolute directory of the file */

        char *name; /* [a-z0-9][a-z0-9_.-]{0,62}; defaults to the file's basename without .yaml/.yml
                       when that is valid, else an error */
        char *description;
        char **argv; /* NULL-terminated, at least one element; may be NULL only when image is set */
        char *image;
        enum tf_backend backend;          /* as written */
        enum tf_backend resolved_backend; /* never AUTO: docker when image is set, else native */
        char *working_dir;
        char **env; /* "KEY=VALUE", NULL-terminated, env_file entries first then env:, after interpolation */
        char **env_files; /* resolved absolute paths, as read */
        char *user;       /* as written: "name", "uid", "uid:gid", "name:group" */
        uid_t uid;        /* (uid_t)-1 unless numeric */
        gid_t gid;        /* (gid_t)-1 unless numeric */
        struct tf_limits limits;
        uint64_t timeout_usec; /* TF_UNSET when absent */
        int stop_signal;       /* default SIGTERM */
        uint64_t stop_grace_usec; /* default 10s */
        struct {
                enum tf_restart_policy policy;
                uint64_t max_retries; /* TF_UNSET = unlimited */
                uint64_t backoff_initial_usec, backoff_max_usec;
                bool jitter;
        } restart;
        struct tf_schedule schedule;
        struct tf_sandbox sandbox;
        bool sandbox_present; /* the sandbox: key was given at all */
        struct tf_mount *mounts;
        size_t n_mounts;
        /* backend: swarm: placement constraints ("node.role==manager"), syntax checked; NULL-terminated,
         * NULL when absent. */
        char **placement;
        struct tf_pos pos_placement;
        /* The manager's history of this service (`tfrun up`): the newest keep_runs runs and those of the
         * last keep_days days are kept; TF_UNSET: the manager's defaults. */
        struct {
                uint64_t keep_runs, keep_days;
        } history;
        /* Under a manager with a budget (`tfrun up --config`): what a run reserves of it, its queue and
         * priority (manager/admission.c). TF_UNSET where not given: the reservation is then the limit. */
        struct {
                uint64_t cpu_quota_usec; /* over TF_CPU_PERIOD_USEC, as limits.cpus */
                uint64_t memory;         /* bytes */
                struct tf_pos pos, pos_cpus, pos_memory;
        } requests;
        char *queue;      /* NULL: "default" */
        int64_t priority; /* -1000..1000, higher first; 0 when absent */
        /* Its running runs may be stopped to make room for a waiting run of a higher priority whose
         * reservation does not fit (manager/admission.c); false: never stopped for room. */
        bool preemptible;
        struct tf_pos pos_queue, pos_priority, pos_preemptible;
        /* Alerts (`tfrun up`): present false when the spec has no notify: (the manager's default applies). */
        struct tf_notify notify;

        /* Positions for backend-level errors. */
        struct tf_pos pos_image, pos_backend, pos_user, pos_command, pos_working_dir, pos_mounts, pos_sandbox;

        /* A workflow (`steps:` instead of command:/image:): n_steps > 0, argv and image NULL. The top
         * level's limits and timeout then bound the whole run; its env, env_file, user, working_dir,
         * sandbox, mounts and stop are the defaults of every step and handler (already applied to each
         * step's spec). */
        struct tf_step *steps; /* in document order */
        size_t n_steps;
        uint64_t max_parallel;                             /* steps running at once; TF_UNSET: no bound */
        struct tf_step *on_success, *on_failure, *on_exit; /* handlers, NULL when absent */
        struct tf_pos pos_steps, pos_max_parallel, pos_handlers;

        /* Services the manager triggers when a run of this one ended for good (its last attempt):
         * succeeded, or failed (failed, timed out, OOM-killed). Names are checked against DIR by the
         * manager, not here. */
        struct tf_service_refs on_success_services, on_failure_services;
};

/* ---- workflows ---------------------------------------------------------------------------------------- */

/* One condition of a step's `when:` (all must hold, or the step is skipped). */
enum tf_condition_kind {
        TF_COND_EQUALS,     /* {var: NAME, equals: TEXT} */
        TF_COND_NOT_EQUALS, /* {var: NAME, not_equals: TEXT} */
        TF_COND_MATCHES, /* {var: NAME, matches: ERE}: POSIX extended regex, unanchored, compiled at load */
        TF_COND_COMMAND, /* {command: ARGV, exit_code: N}: the command exits with N [0] */
};

struct tf_condition {
        enum tf_condition_kind kind;
        char *var; /* value conditions: an output of a step depended on, or an environment variable */
        bool var_is_output; /* false: env_value is the variable's value in the environment at load */
        char *env_value;
        char *value;   /* equals/not_equals: the text; matches: the expression as written */
        char **argv;   /* command: NULL-terminated, literal (no ${...}) */
        int exit_code; /* command: 0..255 */
        struct tf_pos pos;
};

/* A ${NAME} (or ${NAME:-default}) in a step's command, env or working_dir that names the output of a step
 * it depends on: kept in the text as written, to be replaced at run time by the output's bytes, in place,
 * with no shell and no further expansion (tf_step_expand()). Every other ${NAME} was replaced at load from
 * the environment, and `$${` is a literal `${`. */
enum tf_step_ref_field { TF_REF_ARGV, TF_REF_ENV, TF_REF_WORKING_DIR };

struct tf_step_ref {
        enum tf_step_ref_field field;
        size_t index;       /* TF_REF_ARGV: argv[index]; TF_REF_ENV: env[index] ("NAME=VALUE") */
        size_t offset, len; /* the bytes of "${NAME...}" in that string */
        char *var;
        char *default_value; /* ${NAME:-x}: x, used when the output is empty; NULL for ${NAME} */
};

struct tf_step {
        char *name; /* [a-z0-9][a-z0-9_.-]{0,62}, unique among the steps and handlers */
        /* What the step runs: a complete spec of its own, named "SERVICE.STEP", with the workflow's
         * defaults applied, that goes through the same backends as a service (its ${...} references
         * expanded first when n_refs > 0). Never NULL; no steps of its own. */
        struct tf_spec *spec;
        size_t *deps; /* indexes into the workflow's steps, as written (no duplicates) */
        size_t n_deps;
        char *output; /* [A-Za-z_][A-Za-z0-9_]*: the step's stdout (bounded, trailing newline
                         trimmed) becomes ${output} of the steps after it; NULL when absent */
        struct tf_condition *when;
        size_t n_when;
        struct {
                bool failure;    /* a failure does not fail the workflow; the dependants run */
                bool skipped;    /* when skipped (a `when:` false), the dependants still run */
                int *exit_codes; /* these exit codes (0..255) count as success */
                size_t n_exit_codes;
        } continue_on;
        struct tf_step_ref *refs;
        size_t n_refs;
        bool handler; /* one of on_success, on_failure, on_exit */
        struct tf_pos pos, pos_name, pos_output;
};

/* The steps in an order that runs every step after its dependencies: the topological order that takes the
 * earliest step in the document among those ready. *ret gets n_steps indexes (caller frees); -EINVAL for
 * a cycle (a loaded spec has none), 0 and NULL for a spec without steps. */
int tf_spec_steps_order(const struct tf_spec *s, size_t **ret);

/* The step's command, env and working_dir with its references replaced: lookup(var, userdata) gives an
 * output's value (NULL: not produced, e.g. its step failed: taken as empty). New vectors, caller frees;
 * argv NULL when the step has none (an image's own command). */
void tf_step_expand(const struct tf_step *st, const char *(*lookup)(const char *var, void *userdata),
                    void *userdata, char ***ret_argv, char ***ret_env, char **ret_working_dir);

/* Load and validate a spec. `environ_in` is the environment used for ${VAR} interpolation (NULL: the
 * process's environ). On success *ret owns a new spec. On failure returns -EINVAL (bad spec; *err has
 * "FILE:LINE:COL: ..."), -ENOENT/-EISDIR/-EACCES (file), and nothing is allocated. */
int tf_spec_load(const char *path, char *const *environ_in, struct tf_spec **ret, tf_error **err);

/* Same, from a buffer; `path` is used only in messages and to resolve relative paths. */
int tf_spec_load_buffer(const char *path, const char *buf, size_t len, char *const *environ_in,
                        struct tf_spec **ret, tf_error **err);

struct tf_spec *tf_spec_free(struct tf_spec *s);
static inline void tf_spec_freep(struct tf_spec **s) {
        if (*s)
                tf_spec_free(*s);
}
#define _cleanup_spec_ __attribute__((cleanup(tf_spec_freep)))

/* "FILE:LINE:COL" for messages about a value at pos. Caller frees. */
char *tf_spec_where(const struct tf_spec *s, struct tf_pos pos);

/* Names for enums, for messages and --json: the words a spec uses ("on-failure", "none", ...). Static
 * strings; NULL for a value outside the enum. */
const char *tf_backend_name(enum tf_backend b);
const char *tf_restart_policy_name(enum tf_restart_policy p);
const char *tf_overlap_name(enum tf_overlap o);
const char *tf_seccomp_mode_name(enum tf_seccomp_mode m);
const char *tf_pid_mode_name(enum tf_pid_mode m); /* "unset", "private", "host" */
const char *tf_ns_mode_name(enum tf_ns_mode m);   /* "private", "host" */
const char *tf_network_mode_name(enum tf_network_mode m); /* "unset" for TF_NETWORK_UNSET, "named" for NAMED */

/* Linux capability number of a normalised name as stored in cap_drop/cap_add ("NET_ADMIN" -> 12).
 * "ALL" and unknown names give -EINVAL. */
int tf_spec_capability_number(const char *name);
