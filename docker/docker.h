/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * docker/: a Docker Engine API client over the engine's unix socket (libcurl), the spec -> container
 * create body translation, and the demultiplexer for attached output.
 *
 * Each call exists twice: blocking, bounded by a timeout (for tests and tools without an event loop), and
 * asynchronous (tf_docker_*_async, below), driven by the caller's event loop through libcurl's multi-socket
 * interface: one multi handle per client, so one per process when the process keeps one client. Both
 * return, or complete with, 0 or -errno and an error filled as "<call>: <cause>", e.g.
 *   "create container: engine said 409: Conflict. The container name \"/x\" is already in use ..."
 * HTTP statuses map to errno: 400 EINVAL, 404 ENOENT, 409 EEXIST, 5xx EIO; a socket that does not
 * exist or refuses gives ECONNREFUSED/ENOENT, a timeout ETIMEDOUT. Request building and response parsing
 * live apart from the two transports (docker-internal.h), so both say the same things in the same words.
 * JSON responses are bounded (TF_DOCKER_JSON_MAX).
 *
 * The module takes spec/spec.h's types as input vocabulary only; it does not link spec's library.
 */

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/error.h"
#include "spec/spec.h"

#define TF_DOCKER_DEFAULT_SOCKET "/var/run/docker.sock"
/* Oldest engine API we talk to (Docker 20.10) and the newest we know. */
#define TF_DOCKER_API_MIN "1.41"
#define TF_DOCKER_API_MAX "1.43"
#define TF_DOCKER_JSON_MAX (8u * 1024 * 1024)
/* Default timeout of calls that do not wait for the container (create, start, inspect, ...). */
#define TF_DOCKER_DEFAULT_TIMEOUT_USEC (30 * UINT64_C(1000000))

typedef struct tf_docker tf_docker;

/* A client for `host`: "unix:///path", or NULL for $DOCKER_HOST, else TF_DOCKER_DEFAULT_SOCKET.
 * Other schemes (tcp://, ssh://, npipe://) give -EPROTONOSUPPORT with a message. Does no I/O. */
int tf_docker_new(const char *host, tf_docker **ret, tf_error **err);
tf_docker *tf_docker_free(tf_docker *d);
static inline void tf_docker_freep(tf_docker **d) {
        if (*d)
                tf_docker_free(*d);
}
#define _cleanup_docker_ __attribute__((cleanup(tf_docker_freep)))

/* Timeout of each ordinary call (0: TF_DOCKER_DEFAULT_TIMEOUT_USEC). */
void tf_docker_set_timeout(tf_docker *d, uint64_t usec);

/* GET /_ping and /version; use min(engine's API version, TF_DOCKER_API_MAX). Engines older than
 * TF_DOCKER_API_MIN are refused (-EPROTONOSUPPORT). Every other call connects first if needed. */
int tf_docker_connect(tf_docker *d, tf_error **err);
const char *tf_docker_socket_path(const tf_docker *d);
const char *tf_docker_api_version(const tf_docker *d);    /* negotiated, "1.41"; NULL before connect */
const char *tf_docker_engine_version(const tf_docker *d); /* "20.10.24+dfsg1"; NULL before connect */

/* ---- images ---- */

/* Validates a reference with Docker's grammar ([domain[:port]/]path[:tag][@digest], lower-case path,
 * length limits). -EINVAL with a message saying what is wrong; no request is made. */
int tf_docker_image_ref_check(const char *ref, tf_error **err);

/* 0 and *ret_id (may be NULL; caller frees) when the image exists locally; -ENOENT when it does not. */
int tf_docker_image_inspect(tf_docker *d, const char *ref, char **ret_id, tf_error **err);

struct tf_docker_pull_progress {
        const char *status;     /* "Pulling fs layer", "Downloading", "Pull complete", ... */
        const char *id;         /* layer id or tag, may be NULL */
        int64_t current, total; /* bytes; -1 when the engine did not say */
};
typedef void (*tf_docker_pull_cb)(const struct tf_docker_pull_progress *p, void *userdata);

/* POST /images/create. Calls cb for each progress message. An error reported inside the stream (the
 * engine answers 200 and then fails, e.g. registry unreachable) becomes -EIO with the engine's text.
 * timeout_usec 0: none. */
int tf_docker_image_pull(tf_docker *d, const char *ref, tf_docker_pull_cb cb, void *userdata,
                         uint64_t timeout_usec, tf_error **err);

/* ---- spec -> container create body ---- */

/* Build the JSON body of POST /containers/create from a spec (no daemon involved; the only I/O is
 * reading a seccomp profile file). run_id becomes the label tfrun.run (may be NULL: label omitted).
 * default_seccomp: the Docker-format JSON text `seccomp: default` stands for, sent as the container's
 * profile (HostConfig.SecurityOpt "seccomp=<json>"); the runner passes the pinned profile the native
 * backend compiles (sandbox/seccomp-default.json), so both backends filter alike whatever the engine's
 * version. NULL leaves the engine's built-in profile (only tests of other keys do that).
 * Limits Docker cannot express are refused with -EOPNOTSUPP and a message naming the spec key; values
 * Docker would reject (io_weight outside 10..1000, swap without memory) with -EINVAL. Mapping:
 *   cpus        -> NanoCpus (CpuQuota+CpuPeriod when the period is not 100 ms)
 *   cpu_weight  -> CpuShares = tf_cpu_weight_to_shares() (spec/limits.h): systemd's CPUWeight->CPUShares,
 *                  the same conversion the native backend writes to cpu.shares on v1 (100 <-> 1024);
 *                  on a v2 host (pinned->cgroup_v2) tf_cpu_weight_to_runc_v2_shares(), which runc turns
 *                  into cpu.weight = cpu_weight
 *   cpuset      -> CpusetCpus
 *   memory      -> Memory; MemorySwap = memory + memory_swap ("max": -1); memory_swap unset: swap as
 *                  large as memory, MemorySwap = 2 x memory (the engine's default, sent explicitly; the
 *                  native backend writes the same). memory_swap: max without memory sends nothing.
 *   memory_high -> refused: Docker has no memory.high
 *   pids -> PidsLimit; io_weight -> BlkioWeight; io[] -> BlkioDevice{Read,Write}{Bps,IOps}
 *   nofile      -> Ulimits [{nofile, soft = hard}]
 *   "max" (TF_LIMIT_MAX) -> omitted, the engine's "unlimited".
 * On success *ret owns a new object. */
/* What the runner pins for every container, so that the engine's version does not change it (the
 * native backend's own tables, sandbox/): NULL, or a NULL member, leaves that default to the engine. */
struct tf_docker_pinned {
        const char *seccomp_profile;       /* Docker-format JSON sent for `seccomp: default` */
        const char *const *masked_paths;   /* NULL-terminated: HostConfig.MaskedPaths */
        const char *const *readonly_paths; /* NULL-terminated: HostConfig.ReadonlyPaths */
        /* The open-files limit of a spec without limits.nofile: what a native job inherits (tfrun's own
         * RLIMIT_NOFILE), sent as Ulimits so that a container gets the same and not the engine's; 0: leave
         * it to the engine. */
        uint64_t nofile_soft, nofile_hard;
        /* The engine's host has cgroup v2: cpu_weight is sent as the CpuShares the runtime turns into that
         * cpu.weight (tf_cpu_weight_to_runc_v2_shares()), not as v1's shares. */
        bool cgroup_v2;
};
int tf_docker_create_body(const struct tf_spec *spec, const char *run_id,
                          const struct tf_docker_pinned *pinned, json_t **ret, tf_error **err);

/* ---- containers ---- */

/* POST /containers/create[?name=]. *ret_id: full id (caller frees). *ret_warnings (may be NULL): the
 * engine's warnings, NULL-terminated or NULL; a warning may mean a limit was dropped by the engine (e.g.
 * "Your kernel does not support Block I/O weight"), so the caller should not ignore them. */
int tf_docker_container_create(tf_docker *d, const char *name, json_t *body, char **ret_id,
                               char ***ret_warnings, tf_error **err);
int tf_docker_container_start(tf_docker *d, const char *id, tf_error **err);

/*
 * Attach to stdout and stderr BEFORE start. Why attach and not logs?follow=1: the engine registers the
 * attach with the container's output broadcaster before it answers the attach request, so once
 * tf_docker_attach_begin() has returned, every byte the container ever writes reaches us, however short
 * its life; the stream ends when the container exits. logs?follow works only with log drivers that can
 * be read back (not "none", "syslog", ...), goes through the log file (and its rotation limits), and
 * costs a json encode/decode per line.
 *
 * begin returns once the engine has accepted the attach (or failed: -ENOENT for an unknown container).
 * finish pumps the multiplexed stream into out_fd/err_fd (blocking fds; frames are written in the order
 * the engine sent them) until the engine closes it, or timeout_usec (0: none) passes (-ETIMEDOUT).
 */
typedef struct tf_docker_attach tf_docker_attach;
int tf_docker_attach_begin(tf_docker *d, const char *id, int out_fd, int err_fd, tf_docker_attach **ret,
                           tf_error **err);
int tf_docker_attach_finish(tf_docker_attach *a, uint64_t timeout_usec, tf_error **err);
bool tf_docker_attach_done(const tf_docker_attach *a);
/* After the end: 0 when the stream ended cleanly (the engine closed it at the container's exit), else the
 * transport, engine or demultiplexing error. -EBUSY while it is still going. */
int tf_docker_attach_result(tf_docker_attach *a, tf_error **err);
/* Bytes delivered so far to out_fd and err_fd. */
void tf_docker_attach_bytes(const tf_docker_attach *a, uint64_t *ret_out, uint64_t *ret_err);
tf_docker_attach *tf_docker_attach_free(tf_docker_attach *a);
static inline void tf_docker_attach_freep(tf_docker_attach **a) {
        if (*a)
                tf_docker_attach_free(*a);
}
#define _cleanup_docker_attach_ __attribute__((cleanup(tf_docker_attach_freep)))

/* POST /containers/{id}/wait: blocks until the container is not running; *ret_status its exit code.
 * timeout_usec 0: none; on timeout -ETIMEDOUT. */
int tf_docker_container_wait(tf_docker *d, const char *id, uint64_t timeout_usec, int *ret_status,
                             tf_error **err);
/* Send sig. A container that is not running is not an error (returns 0). */
int tf_docker_container_kill(tf_docker *d, const char *id, int sig, tf_error **err);
/* Send sig, wait up to grace_usec for it to exit, then SIGKILL. Uses /stop?signal=&t= on API >= 1.42,
 * else kill + wait + kill. Returns 0 once the container is not running. */
int tf_docker_container_stop(tf_docker *d, const char *id, int sig, uint64_t grace_usec, tf_error **err);

struct tf_docker_state {
        char *status; /* "created", "running", "exited", ... */
        bool running, oom_killed;
        int exit_code;
        int pid;
        char *error;    /* the engine's State.Error, NULL when empty */
        char *finished; /* State.FinishedAt */
};
void tf_docker_state_done(struct tf_docker_state *s);
int tf_docker_container_inspect(tf_docker *d, const char *id, struct tf_docker_state *ret, tf_error **err);

/* DELETE /containers/{id}?force=&v=1. An already absent container gives -ENOENT (with *err). */
/* Whether the engine logged an "oom" event for container id between since and until (seconds since the
 * epoch; until in the past or now makes the engine answer from its history at once). Why: moby copies
 * containerd's OOM flag into State.OOMKilled only when the OOM event arrived before the exit event; a late
 * OOM event is still logged as an "oom" event but never reaches the state. *ret 1 if found, else 0. */
int tf_docker_container_oom_event(tf_docker *d, const char *id, int64_t since, int64_t until, int *ret,
                                  tf_error **err);

int tf_docker_container_remove(tf_docker *d, const char *id, bool force, tf_error **err);

/* Ids of all containers (running or not) carrying label `label` ("key" or "key=value"). *ret is a
 * NULL-terminated vector (possibly empty, never NULL on success). */
int tf_docker_container_list(tf_docker *d, const char *label, char ***ret, tf_error **err);
/* The same, and for each id (same index) the value of label `key` ("" when the container lacks it) in
 * *ret_values (may be NULL). */
int tf_docker_container_list_labels(tf_docker *d, const char *label, const char *key, char ***ret_ids,
                                    char ***ret_values, tf_error **err);

/* ---- asynchronous calls: the client driven by an event loop ----
 *
 * tf_docker_watch() hands the client's sockets and timer to a loop: w->fd(userdata, fd, what) is called for
 * every socket libcurl wants watched (what: TF_DOCKER_WATCH_IN|OUT; 0: stop watching fd, it may be closed
 * already), w->timer(userdata, at) with an absolute CLOCK_MONOTONIC time at which to call
 * tf_docker_on_timer() (0: no timer). The loop reports readiness with tf_docker_on_fd() and expiry with
 * tf_docker_on_timer(); completions are delivered from inside those two, never from inside the call that
 * issued the request, so a completion callback may issue new calls and cancel others (not its own).
 *
 * Every tf_docker_*_async() returns at once with *ret (borrowed: valid until its completion or cancel)
 * or fails at once (a bad reference, no watch set). The first call of an unconnected client pings and
 * negotiates first, as the blocking calls do. done() runs exactly once unless the call is cancelled:
 * r is 0 or -errno; err (NULL on success) and rep are the client's and freed after done() returns (take
 * fields with TAKE_PTR). Timeouts are the client's (tf_docker_set_timeout) unless given.
 */
#define TF_DOCKER_WATCH_IN 1
#define TF_DOCKER_WATCH_OUT 2
#define TF_DOCKER_WATCH_ERR 4
struct tf_docker_watch {
        int (*fd)(void *userdata, int fd, int what);
        int (*timer)(void *userdata, uint64_t at_usec);
        void *userdata;
};
typedef struct tf_docker_call tf_docker_call;
struct tf_docker_reply {
        char *id;                     /* create */
        char **warnings;              /* create; NULL when none */
        struct tf_docker_state state; /* inspect */
        int status_code;              /* wait */
        bool found;                   /* oom_event */
        char **ids, **values;         /* list */
        uint64_t out_dropped, err_dropped; /* attach: output dropped by tf_docker_attach_drop() */
        json_t *json;                 /* tf_docker_request_async(): the answer, NULL when empty */
};
typedef void (*tf_docker_done_fn)(tf_docker_call *c, int r, tf_error *err, struct tf_docker_reply *rep,
                                  void *userdata);

int tf_docker_watch(tf_docker *d, const struct tf_docker_watch *w, tf_error **err);
/* -errno only when libcurl's multi interface itself fails. */
int tf_docker_on_fd(tf_docker *d, int fd, int what, tf_error **err);
int tf_docker_on_timer(tf_docker *d, tf_error **err);
/* Abandon a call: its transfer is dropped, done() is not called. NULL-safe. */
void tf_docker_call_cancel(tf_docker_call *c);
/* Calls in flight. */
size_t tf_docker_calls(const tf_docker *d);

int tf_docker_connect_async(tf_docker *d, tf_docker_done_fn done, void *userdata, tf_docker_call **ret,
                            tf_error **err);
/* r -ENOENT when absent. */
int tf_docker_image_inspect_async(tf_docker *d, const char *ref, tf_docker_done_fn done, void *userdata,
                                  tf_docker_call **ret, tf_error **err);
/* cb: progress, called from inside tf_docker_on_fd(). */
int tf_docker_image_pull_async(tf_docker *d, const char *ref, tf_docker_pull_cb cb, void *cb_userdata,
                               uint64_t timeout_usec, tf_docker_done_fn done, void *userdata,
                               tf_docker_call **ret, tf_error **err);
int tf_docker_container_list_labels_async(tf_docker *d, const char *label, const char *key,
                                          tf_docker_done_fn done, void *userdata, tf_docker_call **ret,
                                          tf_error **err);
int tf_docker_container_create_async(tf_docker *d, const char *name, json_t *body, tf_docker_done_fn done,
                                     void *userdata, tf_docker_call **ret, tf_error **err);
int tf_docker_container_start_async(tf_docker *d, const char *id, tf_docker_done_fn done, void *userdata,
                                    tf_docker_call **ret, tf_error **err);
int tf_docker_container_kill_async(tf_docker *d, const char *id, int sig, tf_docker_done_fn done,
                                   void *userdata, tf_docker_call **ret, tf_error **err);
int tf_docker_container_inspect_async(tf_docker *d, const char *id, tf_docker_done_fn done, void *userdata,
                                      tf_docker_call **ret, tf_error **err);
/* timeout_usec 0: none. */
int tf_docker_container_wait_async(tf_docker *d, const char *id, uint64_t timeout_usec, tf_docker_done_fn done,
                                   void *userdata, tf_docker_call **ret, tf_error **err);
int tf_docker_container_oom_event_async(tf_docker *d, const char *id, int64_t since, int64_t until,
                                        tf_docker_done_fn done, void *userdata, tf_docker_call **ret,
                                        tf_error **err);
/* timeout_usec 0: the client's. */
int tf_docker_container_remove_async(tf_docker *d, const char *id, bool force, uint64_t timeout_usec,
                                     tf_docker_done_fn done, void *userdata, tf_docker_call **ret,
                                     tf_error **err);
/* The attach stream (see tf_docker_attach_begin() for why attach): ready(c, userdata) once the engine has
 * accepted it (from then on every byte the container writes reaches out_fd/err_fd); done() when the stream
 * ended and its output was written: 0 when the engine closed it cleanly, else the transport, engine,
 * demultiplexing or write error. No timeout: it lasts as long as the container's output.
 *
 * The output never blocks the loop, and out_fd/err_fd's open file descriptions are left as they are (no
 * O_NONBLOCK on what tfrun shares with its shell or terminal): pipes, FIFOs and terminals are reopened
 * through /proc/self/fd for a description of the client's own, sockets written with MSG_DONTWAIT, regular
 * files and other devices written as they are (docker/output.c says why). Frames keep the engine's order
 * across both fds. What a reader does not take is queued; at TF_DOCKER_OUTPUT_MAX bytes queued for a
 * stream the transfer pauses until the queue has drained to half, which holds the container's writes
 * back as a full pipe would. */
#define TF_DOCKER_OUTPUT_MAX (1024u * 1024)
int tf_docker_attach_async(tf_docker *d, const char *id, int out_fd, int err_fd,
                           void (*ready)(tf_docker_call *c, void *userdata), tf_docker_done_fn done,
                           void *userdata, tf_docker_call **ret, tf_error **err);
/* The payload of each frame also to output(userdata, stream 1 or 2, bytes, n), as it is read (before
 * out_fd/err_fd take it; give -1, -1 there for output alone): the caller keeps the output as it likes
 * (tfrun's per-run logs). output must not block; the stream pauses only for out_fd/err_fd. Set right
 * after tf_docker_attach_async(), before the loop runs again. */
typedef void (*tf_docker_output_fn)(void *userdata, int stream, const uint8_t *p, size_t n);
void tf_docker_attach_set_output(tf_docker_call *c, tf_docker_output_fn output, void *userdata);
/* stalled(c, ended, userdata) when a reader holds the stream back: once when the transfer first pauses
 * (ended false: the container may still run, but its end will not show until the reader reads), once when
 * the stream ended with output still queued (ended true). Delivered from the loop like done(). */
void tf_docker_attach_on_stall(tf_docker_call *c,
                               void (*stalled)(tf_docker_call *c, bool ended, void *userdata));
/* Give up on the reader: what is queued is dropped, and the rest of the stream is read and dropped too, so
 * that it comes to its end; done() reports the bytes dropped (rep->out_dropped, err_dropped). */
void tf_docker_attach_drop(tf_docker_call *c);

/* ---- Swarm services (runner/swarm-backend.c) ---- */

/* Any call answered with JSON: method and path (unversioned, query escaped by the caller), body NULL or
 * sent as JSON. A status >= 400 completes with the engine's error ("<call>: engine said 404: ..."); else
 * rep->json is the answer (NULL when it was empty). timeout_usec 0: the client's. */
int tf_docker_request_async(tf_docker *d, const char *call, const char *method, const char *path, json_t *body,
                            uint64_t timeout_usec, tf_docker_done_fn done, void *userdata, tf_docker_call **ret,
                            tf_error **err);
/* GET /services/{id}/logs?follow=&stdout=1&stderr=1: the task's output, framed as attach's, to out_fd and
 * err_fd (-1: none) as the attach stream's, and each frame's payload to output() as it is read. A follow
 * stream does not end by itself when the job completes (the engine keeps following the service): the
 * caller cancels it. Without follow the stream ends after what the log driver has kept; skip_out and
 * skip_err payload bytes of each stream are then not delivered again (what a follow stream gave already).
 * No timeout with follow. */
int tf_docker_service_logs_async(tf_docker *d, const char *id, bool follow, uint64_t skip_out, uint64_t skip_err,
                                 int out_fd, int err_fd, tf_docker_output_fn output, void *output_userdata,
                                 tf_docker_done_fn done, void *userdata, tf_docker_call **ret, tf_error **err);

/* The body of POST /services/create for one run of spec: a replicated job (MaxConcurrent 1,
 * TotalCompletions 1, restart condition none) labelled tfrun.service and tfrun.run, its container spec,
 * resources, placement and the json-file log driver. api_minor: the engine's API (1.<api_minor>), for
 * what each version can express; 0 before the engine was asked (every version tfrun speaks). What a Swarm service cannot express on that API is refused with
 * -EOPNOTSUPP and "FILE:LINE:COL: KEY: ... on Docker Engine API 1.N ...; expected ..." (docker/swarm.c). */
int tf_docker_service_body(const struct tf_spec *spec, const char *run_id, int api_minor, json_t **ret,
                           tf_error **err);

/* ---- the multiplexed attach stream ---- */

/* Frames: 8-byte header {stream (0 stdin, 1 stdout, 2 stderr), 0, 0, 0, big-endian u32 length}, then
 * payload. Feed it bytes as they come, split anywhere; payload goes to fd[stream] in order. */
struct tf_docker_demux {
        int fd[3];
        /* When set, payload goes to sink instead of fd[] (async.c queues it without blocking); its error
         * is the feed's. */
        int (*sink)(void *userdata, int stream, const uint8_t *p, size_t n, tf_error **err);
        void *sink_userdata;
        uint8_t hdr[8];
        size_t hdr_len;
        uint32_t remaining; /* payload bytes left in the current frame */
        int stream;
        uint64_t bytes[3];
};
void tf_docker_demux_init(struct tf_docker_demux *m, int out_fd, int err_fd);
/* -EBADMSG on a stream type other than 0..2; -errno when a write fails. */
int tf_docker_demux_feed(struct tf_docker_demux *m, const void *buf, size_t len, tf_error **err);
/* At end of stream: -EBADMSG if it ended inside a frame. */
int tf_docker_demux_end(const struct tf_docker_demux *m, tf_error **err);
