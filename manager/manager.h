/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * The manager (`tfrun up DIR`): every spec in DIR is a service, all on one loop in one process, with the
 * machinery of a single spec (runner/service.c: fires, overlap, retries, persistence) times N. The manager
 * owns the loop, the signals, the state directory and its lock, the run history and the control API; the
 * services know nothing of each other.
 *
 * Services are identified by their spec's name. A file that does not load is kept as a "broken" entry named
 * by its file, reported by `ps` and `status`, and its neighbours run. A second file with a name already
 * taken is broken too ("name 'x' is already used by a.yaml").
 */

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "base/error.h"
#include "runner/loop.h"
#include "store/store.h"

struct tf_manager;
struct tf_settings;

struct tf_manager_options {
        const char *dir;           /* the specs */
        const char *state_dir;     /* NULL: tf_default_state_dir() */
        const char *socket_path;   /* NULL: the default for this user (manager/client.h) */
        const char *cgroup_parent; /* --cgroup-parent for native runs */
        uint64_t log_max;          /* each run's log cap; 0: TF_OUTLOG_MAX_DEFAULT */
        const char *listen;        /* --listen [ADDR]:PORT: the API on TCP too (bearer tokens); NULL: not */
        /* --config FILE (borrowed; outlives the manager); NULL: none (no budget, no admission). */
        const struct tf_settings *settings;
        /* --swarm[=ENGINE]: a spec with an image and no backend: key runs on the swarm backend (as
         * backend: swarm); swarm_host (NULL: $DOCKER_HOST) is the swarm manager's engine of every swarm run.
         * --swarm-node ENGINE...: other nodes' engines (NULL-terminated, may be NULL). Borrowed. */
        bool swarm;
        const char *swarm_host;
        char *const *swarm_nodes;
};

/* Takes the state directory's lock, loads DIR; nothing runs before tf_manager_run(). */
int tf_manager_new(const struct tf_manager_options *o, struct tf_manager **ret, tf_error **err);
/* Serve until SIGINT/SIGTERM (every running run stopped per its `stop:`); 0, or 125 on a failure of the
 * manager itself. */
int tf_manager_run(struct tf_manager *m);
void tf_manager_free(struct tf_manager *m);

/* --- what the control API asks (manager/api.c); every call from the loop --- */

/* Re-read DIR: new files become services, removed ones stop firing (a running run finishes), changed ones
 * apply from their next run, unchanged ones keep their timers. Returns the summary as JSON (new reference):
 * {"added": [...], "changed": [...], "removed": [...], "broken": [{"file", "error"}], "unchanged": N}. */
json_t *tf_manager_reload(struct tf_manager *m);

/* The services as JSON objects (new references). NULL from _service_json when there is no such name. */
json_t *tf_manager_services_json(struct tf_manager *m);
json_t *tf_manager_service_json(struct tf_manager *m, const char *name);
/* The same list as JSON text, between before and after: what GET /api/v1/services sends, from entries
 * cached per service and rebuilt only when the service changed. allowed (NULL: every entry) filters by
 * name (NULL for a broken file). Returns a new string of *ret_len bytes. */
char *tf_manager_services_text(struct tf_manager *m, const char *before, const char *after,
                               bool (*allowed)(const char *name, void *userdata), void *userdata,
                               size_t *ret_len);

/* Actions on a service by name: -ENOENT when there is none, -EBADF for a broken file. trigger: *ret gets a
 * JSON object {"outcome": "started"|"queued"|"skipped"|..., "run_id": ...} (new reference). */
int tf_manager_trigger(struct tf_manager *m, const char *name, json_t **ret, tf_error **err);
int tf_manager_stop(struct tf_manager *m, const char *name, unsigned *ret_stopped, tf_error **err);
int tf_manager_set_enabled(struct tf_manager *m, const char *name, bool enabled, tf_error **err);

/* tfrun retry RUN_ID [--from STEP]: a new run of the run's service, linked to it (retry_of). A workflow's
 * retry reruns the steps that did not succeed (or `from` and every step downstream of it) and everything
 * downstream of them, and reuses the others with their recorded outputs. *ret as for trigger, with
 * "retry_of", "rerun" and "reused" (step names). -ENOENT: no such run, or its service is gone; -EBUSY: it
 * is still running; -EINVAL: from is no step of the workflow (or the run is not a workflow's); -ESTALE: the
 * workflow's steps changed since that run; -EALREADY: every step succeeded (nothing to retry). */
int tf_manager_retry(struct tf_manager *m, const char *run_id, const char *from, json_t **ret, tf_error **err);

/* status NAME: the service, its last runs from the history and its next fire times (new reference). */
json_t *tf_manager_service_status_json(struct tf_manager *m, const char *name);
/* The run is going on in this manager now. */
bool tf_manager_run_is_running(struct tf_manager *m, const char *run_id);
tf_store *tf_manager_store(struct tf_manager *m);
struct tf_auth *tf_manager_auth(struct tf_manager *m);
struct tf_metrics *tf_manager_metrics(struct tf_manager *m);
struct tf_alerts *tf_manager_alerts(struct tf_manager *m);
/* Every entry of DIR in file order: name and svc NULL for a broken file; state as `ps` shows it (waiting,
 * running, idle, disabled, broken). */
struct tf_service;
void tf_manager_foreach(struct tf_manager *m,
                        void (*cb)(const char *name, const struct tf_service *svc, const char *state,
                                   void *userdata),
                        void *userdata);
struct tf_loop *tf_manager_loop(struct tf_manager *m);
/* Admission (--config): the waiting runs, their position and why each waits, the queues, what the running
 * runs hold and the budget ({"waiting": [], "queues": []} without settings); new reference. */
json_t *tf_manager_queue_json(struct tf_manager *m);
/* The budget's limits, usage, what runs hold and how many wait; NULL without settings. New reference. */
json_t *tf_manager_budget_json(struct tf_manager *m);
struct tf_budget;
struct tf_admission;
struct tf_budget *tf_manager_budget(struct tf_manager *m);     /* NULL: none */
struct tf_admission *tf_manager_admission(struct tf_manager *m); /* NULL: none */
