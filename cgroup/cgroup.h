/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * cgroup/: one service cgroup, one lifecycle, whatever the host has: pure cgroup v2, or v1/hybrid
 * (v1 controllers, possibly plus a controller-less v2 hierarchy that is still used for tracking, kill-all
 * and populated events, as systemd does in hybrid mode). libcgroup does the creating, setting, attaching
 * and deleting; nothing outside this module sees it.
 *
 * Lifecycle:  tf_cg_host_new() once per process, then per run:
 *             tf_cg_check() -> tf_cg_create() -> (clone3 into tf_cg_clone_fd() | fork + tf_cg_attach())
 *             -> run -> tf_cg_kill() -> (wait: tf_cg_watch(), tf_cg_populated()) -> tf_cg_stats()
 *             -> tf_cg_remove() (until not -EBUSY) -> tf_cg_free();  tf_cg_destroy() for tools and tests.
 * A sweep of another run's leftovers: tf_cg_list() -> tf_cg_open() -> tf_cg_kill() -> tf_cg_remove()
 *             (until not -EBUSY) -> tf_cg_free().
 * The runner guarantees tf_cg_destroy() on every path, and tf_cg_host_free() after the last cgroup.
 */

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "base/error.h"
#include "spec/spec.h"

enum tf_cg_mode {
        TF_CG_V2,     /* unified hierarchy with controllers */
        TF_CG_HYBRID, /* v1 controllers (+ an optional controller-less v2 hierarchy) */
};

/* The host description: cgroup mode, mounted hierarchies, tfrun's own cgroups (and whether tfrun moved
 * itself out of its v2 cgroup), the cgroup events fd. Plans and cgroups borrow it: free it last. */
struct tf_cg_host;
struct tf_cg;
/* Limits turned into (controller, file, value) writes and the hierarchies they need, checked against
 * this host: built once by tf_cg_check(), used by tf_cg_create_from(). */
struct tf_cg_plan;

struct tf_cg_options {
        /* --cgroup-parent: a path below the hierarchy root ("/tfrun.slice/batch"), used in every hierarchy;
         * a relative one ("tfrun-wf-42-1") is below tfrun's own cgroup in each hierarchy (a workflow's
         * cgroup, whose path differs between v1 hierarchies when tfrun's own cgroups do). NULL: tfrun's own
         * cgroup in each hierarchy (read from /proc/self/cgroup). */
        const char *parent;
        /* Leaf name, unique per run, e.g. "tfrun-hello-4242-1". */
        const char *name;
        /* The spec file, for messages: a refusal about a limit starts "FILE:LINE:COL: limits.KEY: ". NULL:
         * messages start with the key. */
        const char *spec_path;
        /* A leaf in every cgroup v1 hierarchy tfrun knows (cpu, cpuacct, cpuset, memory, pids, blkio),
         * limited or not, as a container has: set for a sandboxed job, whose cgroup namespace would else
         * have tfrun's own cgroup as its root in the hierarchies no limit needs (the host's whole tree,
         * read-only, and that cgroup's files read as the job's). A v1 cpuset leaf made only for this
         * gets its parent's cpuset.cpus and cpuset.mems, and is left out below a parent without both.
         * Hierarchies whose parent is missing are left out too (as for statistics). v2 is unchanged:
         * one cgroup there already. */
        bool every_controller;
};

struct tf_cg_stats {
        uint64_t cpu_usage_usec; /* TF_UNSET when unknown */
        uint64_t memory_peak;    /* bytes; TF_UNSET when unknown */
        uint64_t pids_peak;      /* TF_UNSET when unknown */
        uint64_t oom_kills;      /* memory.events oom_kill (v2) or memory.oom_control oom_kill (v1) */
        uint64_t pids_refused;   /* forks the pids limit refused: pids.events "max" (v1 and v2) */
};

/* Detect what this host offers: reads /proc/self/cgroup and the mount table. libcgroup's cgroup_init() runs
 * at the first call of the process only (it clears a 2.35 MiB table). *ret owned by the caller. */
int tf_cg_host_new(struct tf_cg_host **ret, tf_error **err);
/* Closes the events fd (about 20 ms: once per process). NULL-safe; returns NULL. */
struct tf_cg_host *tf_cg_host_free(struct tf_cg_host *h);
enum tf_cg_mode tf_cg_host_mode(const struct tf_cg_host *h);
const char *tf_cg_mode_name(enum tf_cg_mode m);

/* Check, without creating anything, that every limit set in `limits` can be enforced here, and build the
 * plan (*ret, when ret is not NULL; owned by the caller; it borrows nothing). A limit that cannot
 * (controller absent or not delegated, a v1 host and memory_high, io_weight without blkio.weight, an io
 * device that is not a block device, cpuset CPUs this host does not offer) fails with -EOPNOTSUPP and a
 * message naming the spec key (after its position when o->spec_path is set) and the controller:
 * "limits.memory_high: cgroup v1 has no equivalent of memory.high (needs cgroup v2)". */
int tf_cg_check(struct tf_cg_host *h, const struct tf_limits *limits, const struct tf_cg_options *o,
                struct tf_cg_plan **ret, tf_error **err);
void tf_cg_plan_free(struct tf_cg_plan *plan);

/* Create the service cgroup(s) of a plan and write every limit. On failure nothing is left behind. */
int tf_cg_create_from(const struct tf_cg_plan *plan, struct tf_cg **ret, tf_error **err);
/* tf_cg_check() and tf_cg_create_from() in one call, for tools and tests. */
int tf_cg_create(struct tf_cg_host *h, const struct tf_limits *limits, const struct tf_cg_options *o,
                 struct tf_cg **ret, tf_error **err);

/* An O_PATH|O_DIRECTORY fd of the v2 cgroup for clone3(CLONE_INTO_CGROUP), or -1 when the child must
 * instead be attached with tf_cg_attach() before it is released (v1 controllers). Owned by cg. */
/* Write limits to cg as it is (a manager's budget reloaded; parent: the one it was made below), read back
 * as at create. A limit whose controller cg was made without is refused. Limits not given are left as
 * they are. */
int tf_cg_set_limits(struct tf_cg *cg, const struct tf_limits *limits, const char *parent, tf_error **err);
int tf_cg_clone_fd(struct tf_cg *cg);
/* True when tf_cg_attach() must still be called for a child cloned into tf_cg_clone_fd(). */
bool tf_cg_needs_attach(struct tf_cg *cg);

/* Move pid into every hierarchy of cg. */
int tf_cg_attach(struct tf_cg *cg, pid_t pid, tf_error **err);

/* Move the CALLING process into every hierarchy of cg (all but the unified one when `placed` by
 * CLONE_INTO_CGROUP), writing "0", which names the writer itself. For the child between fork and exec:
 * a parent writing the child's pid makes the kernel take its global threadgroup lock for writing, which
 * waits for an RCU grace period (about 10 ms on an idle host; nothing when attaches come back to back),
 * while a thread moving itself through a v1 "tasks" file skips that lock. System calls only (openat and
 * write through the leaves' descriptors, no allocation): safe in a child that shares tfrun's memory
 * until its execve. 0 or -errno, with the failing step in what[len]. */
int tf_cg_attach_self(struct tf_cg *cg, bool placed, char *what, size_t len);

/* Send sig to every process in cg (and in cgroups below it), in one pass that never waits. With SIGKILL:
 * cgroup.kill where the kernel has it (racing forks fail), else freeze, kill every pid listed, thaw, once:
 * a fork that raced the pass survives it, so a caller that needs the cgroup empty watches
 * tf_cg_events_fd() and kills again while tf_cg_populated(). Tests force the fallback with
 * TFRUN_CG_NO_KILL_FILE=1 in the environment. */
int tf_cg_kill(struct tf_cg *cg, int sig, tf_error **err);

/* Emptiness as an event. tf_cg_events_fd() is the host's one inotify fd (non-blocking, closed only with the
 * host: closing an inotify fd waits for an SRCU grace period, ~20 ms), readable when the populated state of
 * a watched cgroup may have changed; tf_cg_watch() adds cg's watch (IN_MODIFY on the cgroup.events of its
 * cgroup2 leaf: pure v2, or the hybrid host's unified hierarchy; removed by tf_cg_free), -EOPNOTSUPP
 * without a cgroup2 hierarchy (pure v1: re-check tf_cg_populated() on a timer instead).
 * tf_cg_events_drain() empties the fd; drain, then check tf_cg_populated() of each watched cgroup. Watch
 * before the check that decides to wait, so that no change is missed. */
int tf_cg_events_fd(struct tf_cg_host *h);
int tf_cg_watch(struct tf_cg *cg);
void tf_cg_events_drain(struct tf_cg_host *h);

/* True while any process is in cg (cgroup.events "populated", or a pid in cgroup.procs on pure v1). */
bool tf_cg_populated(struct tf_cg *cg);

int tf_cg_stats(struct tf_cg *cg, struct tf_cg_stats *ret, tf_error **err);

/* One non-blocking attempt at removing every directory of cg (killing first if populated). 0 once all
 * are gone; -EBUSY while processes remain or the kernel still holds a just-emptied cgroup (call again
 * later, from a timer); other -errno on failure. cg stays allocated either way: tf_cg_free(). */
int tf_cg_remove(struct tf_cg *cg, tf_error **err);
/* Free cg without touching the cgroups (what was not removed stays). NULL-safe. */
void tf_cg_free(struct tf_cg *cg);

/* Kill what is left, wait until empty (poll on tf_cg_events_fd(), at most 2 s), remove every directory,
 * free cg. Blocking: for tools and tests, not for a loop (the runner uses tf_cg_kill, tf_cg_watch,
 * tf_cg_remove). NULL-safe. Errors are reported but cg is freed. */
int tf_cg_destroy(struct tf_cg *cg, tf_error **err);

/*
 * Cgroups made by other runs, for a sweep of what a killed tfrun left (the policy, whose cgroup may go, is
 * the caller's). tf_cg_list() names the leaves below `parent` (as in tf_cg_options: NULL is tfrun's own
 * cgroup) whose name starts with `prefix`, in every hierarchy a run uses (their union, sorted; *ret is a
 * NULL-terminated strv, NULL when there is none). tf_cg_open() takes such a leaf in every hierarchy it is
 * found in as a struct tf_cg that tf_cg_kill(), tf_cg_populated(), tf_cg_watch(), tf_cg_remove() and
 * tf_cg_free() work on as on one tfrun created (-ENOENT when it is in none). tf_cg_pids() lists the
 * processes in cg and below it (*ret owned by the caller). Nothing here waits.
 */
int tf_cg_list(struct tf_cg_host *h, const char *parent, const char *prefix, char ***ret, tf_error **err);
int tf_cg_open(struct tf_cg_host *h, const char *parent, const char *name, struct tf_cg **ret,
               tf_error **err);
int tf_cg_pids(struct tf_cg *cg, pid_t **ret, size_t *ret_n, tf_error **err);
/* Take cg for a sweep: an exclusive flock on each of its directories, kept until tf_cg_free(), so that its
 * maker, if it lives, is never killed, and a maker that comes second fails its create. -EBUSY while the
 * process that made cg with tf_cg_create_from() (or a child it forked that has not exec'ed yet) lives:
 * each cgroup made there holds such a lock on one of its directories until tf_cg_free(). Pid-free, so it
 * holds across pid namespaces, where the pid in a leaf's name means another process. Another -errno
 * when a lock cannot be tried (treat as alive). Cgroups made by a tfrun before the lock existed are never
 * held. */
int tf_cg_take(struct tf_cg *cg);

/* The main path for messages, e.g. /sys/fs/cgroup/memory/.../tfrun-hello-4242-1. */
const char *tf_cg_path(const struct tf_cg *cg);

/*
 * A parent for many runs (the manager's budget): one path, the same in every hierarchy, so that native
 * runs (tf_cg_options.parent) and containers (the engine's CgroupParent, one path for all hierarchies)
 * both land below it.
 */
/* The deepest of tfrun's own cgroups across the hierarchies (hybrid: often the memory one, the others
 * being "/"): a parent below it is below tfrun's own cgroup in every hierarchy. */
const char *tf_cg_host_deepest_own(const struct tf_cg_host *h);
/* mkdir -p of path (below each hierarchy's mount), for the hierarchies where tfrun's own cgroup is higher
 * up; a v1 cpuset made here gets its parent's cpus and mems. Each directory made is pushed on *made
 * (outermost first) for tf_cg_rmdirs(). */
int tf_cg_make_parent(struct tf_cg_host *h, const char *path, char ***made, tf_error **err);
/* rmdir of each, innermost first; what is not empty (another manager's) stays. */
void tf_cg_rmdirs(char **made);
/* rmdir of path and its ancestors in every hierarchy, innermost first, down to (not including) tfrun's own
 * cgroup there: what tf_cg_make_parent() made, also when an earlier tfrun made it (and was killed before
 * it could remove it). What is not empty stays. */
void tf_cg_rmdir_parent(struct tf_cg_host *h, const char *path);
/* The engine's runtime makes a container's cgroup below its CgroupParent in every v1 hierarchy, those
 * cgroup/ does not use too (freezer, devices, name=systemd: mkdir -p), and removes only the container's
 * own directory: rmdir of path and its ancestors there, innermost first (tfrun sits at their root). What
 * is not empty stays: -EBUSY when path itself does (the runtime removes the container's own directory
 * there one hierarchy after another: retry). With `empty_below`, the empty directories below path go
 * first (deepest first, as a leaf's removal does): a container's own that the runtime gave up removing (seen under load: runc's delete left a
 * removed container's freezer, devices and name=systemd directories behind for good), for a caller
 * that knows no container of path's lives or will be made there. */
int tf_cg_rmdir_others(const char *path, bool empty_below);

struct tf_cg_usage {
        uint64_t memory;   /* bytes now (memory.current, memory.usage_in_bytes); TF_UNSET unknown */
        uint64_t pids;     /* pids.current */
        uint64_t cpu_usec; /* CPU time so far */
};
/* What cg and every cgroup below it use now. Never fails: unknown values are TF_UNSET. */
int tf_cg_usage(struct tf_cg *cg, struct tf_cg_usage *ret);
/* The path below the mount of the main hierarchy (memory's, else the v2 one): "/a/b/name". */
const char *tf_cg_rel_path(const struct tf_cg *cg);
