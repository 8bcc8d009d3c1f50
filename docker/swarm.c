/* SPDX-License-Identifier: MIT */
/*
 * struct tf_spec -> the body of POST /services/create: one run as a Swarm replicated job. Pure: no engine.
 *
 * What a service can say is TaskTemplate.ContainerSpec and TaskTemplate.Resources, which carry much less
 * than a container's HostConfig: on API 1.41 to 1.43 (the versions tfrun speaks) there is no seccomp
 * profile, no no_new_privileges (ContainerSpec.Privileges has only CredentialSpec and SELinuxContext until
 * API 1.44 adds Seccomp, AppArmor and NoNewPrivileges), no memory.high, no swap, no CPU shares, no cpuset,
 * no block I/O, no pid/ipc/uts/cgroup namespace modes, no masked-paths opt-out and no network mode. Each
 * of those is refused here, naming the key and the API version: never dropped.
 */

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/cleanup.h"
#include "base/strutil.h"
#include "docker/docker-internal.h"
#include "spec/limits.h"

/* The API where ContainerSpec.Privileges gains Seccomp, AppArmor and NoNewPrivileges. */
#define API_PRIVILEGES_MINOR 44

/* "1.41", or for 0 (before the engine is asked) every version tfrun speaks. */
static const char *api_text(int api_minor, char *buf, size_t n) {
        if (api_minor == 0)
                snprintf(buf, n, "%s to %s", TF_DOCKER_API_MIN, TF_DOCKER_API_MAX);
        else
                snprintf(buf, n, "1.%d", api_minor);
        return buf;
}

/* "KEY: a Swarm service has no WHAT on Docker Engine API 1.N; expected SUGGESTION". */
static int no_field(const struct tf_spec *s, struct tf_pos pos, int api_minor, const char *key,
                    const char *what, const char *expected, tf_error **err) {
        char buf[32];
        return docker_refuse(s, pos, true, err, EOPNOTSUPP,
                             "%s: a Swarm service has no %s on Docker Engine API %s, so the backend swarm "
                             "cannot honour it; expected %s",
                             key, what, api_text(api_minor, buf, sizeof(buf)), expected);
}

static int check_limits(const struct tf_spec *s, int api, tf_error **err) {
        const struct tf_limits *l = &s->limits;
        static const char other[] = "no such key with backend: swarm, or backend: docker or native";
        if (tf_limit_is_set(l->memory_high))
                return no_field(s, l->pos_memory_high, api, "limits.memory_high", "memory.high throttle",
                                other, err);
        if (tf_limit_is_set(l->memory_swap))
                return no_field(
                        s, l->pos_memory_swap, api, "limits.memory_swap",
                        "swap limit (Resources.Limits has MemoryBytes only; the engine's default, swap "
                        "as large as memory, is what a spec without memory_swap means)",
                        other, err);
        if (tf_limit_is_set(l->cpu_weight))
                return no_field(s, l->pos_cpu_weight, api, "limits.cpu_weight", "CPU weight (CpuShares)",
                                other, err);
        if (l->cpuset)
                return no_field(s, l->pos_cpuset, api, "limits.cpuset", "cpuset", other, err);
        if (tf_limit_is_set(l->io_weight))
                return no_field(s, l->pos_io_weight, api, "limits.io_weight", "block I/O weight", other,
                                err);
        if (l->n_io > 0)
                return no_field(s, l->pos_io, api, "limits.io", "block I/O limits", other, err);
        if (tf_limit_is_finite(l->cpu_quota_usec) && tf_limit_is_set(l->cpu_period_usec) &&
            l->cpu_period_usec && l->cpu_period_usec != TF_CPU_PERIOD_USEC)
                return no_field(s, l->pos_cpus, api, "limits.cpus",
                                "CFS period other than 100 ms (Resources.Limits has NanoCPUs only)",
                                "limits.cpus without a period", err);
        return 0;
}

static int check_sandbox(const struct tf_spec *s, int api, tf_error **err) {
        const struct tf_sandbox *sb = &s->sandbox;
        static const char other[] = "backend: docker";
        if (sb->host)
                return docker_refuse(s, s->pos_sandbox, true, err, EOPNOTSUPP,
                                     "sandbox: 'host' exists only with the native backend; expected a "
                                     "mapping");
        /* The default sandbox's first wall a service cannot pin: it is refused unless the spec opts out in
         * words, so that a spec without sandbox: never runs with less than it says. */
        char buf[32];
        /* No backend: key: `tfrun up --swarm` sent a spec with an image here; its image: is the line. */
        struct tf_pos pos = s->pos_sandbox.line ? s->pos_sandbox
                            : s->pos_backend.line ? s->pos_backend
                                                  : s->pos_image;
        if (sb->no_new_privileges && api < API_PRIVILEGES_MINOR)
                return docker_refuse(
                        s, pos, true, err, EOPNOTSUPP,
                        "sandbox.no_new_privileges: a Swarm service has no Privileges.NoNewPrivileges on "
                        "Docker Engine API %s (it needs 1.%d), and the default sandbox sets it, so the "
                        "backend swarm cannot honour it%s; expected sandbox: {no_new_privileges: false} to "
                        "run "
                        "without it (the engine's own seccomp profile and masked paths still apply), or "
                        "backend: docker",
                        api_text(api, buf, sizeof(buf)), API_PRIVILEGES_MINOR,
                        s->backend == TF_BACKEND_AUTO
                                ? " (tfrun up --swarm runs a spec with an image and no backend: key there)"
                                : "");
        if (sb->seccomp == TF_SECCOMP_PROFILE)
                return no_field(s, sb->pos_seccomp, api, "sandbox.seccomp", "seccomp profile",
                                "seccomp: default (the engine's built-in profile) or backend: docker", err);
        if (sb->seccomp == TF_SECCOMP_UNCONFINED)
                return no_field(
                        s, sb->pos_seccomp, api, "sandbox.seccomp",
                        "way to turn seccomp off (its tasks always get the engine's default profile)",
                        "seccomp: default or backend: docker", err);
        if (sb->cap_ambient)
                return no_field(s, sb->pos_cap_ambient, api, "sandbox.cap_ambient", "ambient capabilities",
                                "no cap_ambient", err);
        if (sb->network != TF_NETWORK_UNSET)
                return no_field(s, sb->pos_network, api, "sandbox.network",
                                "network mode tfrun maps yet (tasks attach to the engine's default)",
                                "no network key with backend: swarm, or backend: docker", err);
        if (sb->pid == TF_PID_HOST)
                return no_field(s, sb->pos_pid, api, "sandbox.pid", "host pid namespace", other, err);
        if (sb->ipc == TF_NS_HOST)
                return no_field(s, sb->pos_ipc, api, "sandbox.ipc", "host ipc namespace", other, err);
        if (sb->uts == TF_NS_HOST)
                return no_field(s, sb->pos_uts, api, "sandbox.uts", "host uts namespace", other, err);
        if (sb->cgroupns == TF_NS_HOST)
                return no_field(s, sb->pos_cgroupns, api, "sandbox.cgroupns", "cgroup namespace mode", other,
                                err);
        if (sb->system_paths == TF_SYSTEM_PATHS_UNCONFINED)
                return no_field(s, sb->pos_system_paths, api, "sandbox.system_paths",
                                "way to unmask /proc and /sys paths", other, err);
        return 0;
}

static json_t *strv_json(char *const *v) {
        json_t *a = json_array();
        for (size_t i = 0; v && v[i]; i++)
                json_array_append_new(a, json_string(v[i]));
        return a;
}

/* "NET_ADMIN" -> "CAP_NET_ADMIN": the engine's service API wants the kernel's names. */
static json_t *caps_json(char *const *v) {
        json_t *a = json_array();
        for (size_t i = 0; v && v[i]; i++) {
                _cleanup_free_ char *c = streq(v[i], "ALL") ? tf_strdup("ALL") : tf_asprintf("CAP_%s", v[i]);
                json_array_append_new(a, json_string(c));
        }
        return a;
}

int tf_docker_service_body(const struct tf_spec *s, const char *run_id, int api_minor, json_t **ret,
                           tf_error **err) {
        /* 0: before the engine is asked; every version tfrun speaks is below API_PRIVILEGES_MINOR. */
        int r = check_limits(s, api_minor, err);
        if (r < 0)
                return r;
        r = check_sandbox(s, api_minor, err);
        if (r < 0)
                return r;
        if (!s->image)
                return docker_refuse(s, s->pos_image, true, err, EINVAL,
                                     "image: the backend swarm needs an image");

        const struct tf_limits *l = &s->limits;
        _cleanup_(json_decrefp) json_t *body = json_object();
        json_t *labels = json_pack("{s:s}", "tfrun.service", s->name);
        if (run_id)
                json_object_set_new(labels, "tfrun.run", json_string(run_id));
        /* Service names are at most 63 characters; a longer run id leaves the name to the engine (the
         * labels say whose it is). */
        if (run_id && strlen(run_id) <= 63)
                json_object_set_new(body, "Name", json_string(run_id));
        json_object_set_new(body, "Labels", json_deep_copy(labels));

        json_t *cs = json_object();
        json_object_set_new(cs, "Image", json_string(s->image));
        json_object_set_new(cs, "Labels", labels);
        if (s->argv)
                /* Args, as the docker backend's Cmd: the image's entrypoint is kept. */
                json_object_set_new(cs, "Args", strv_json(s->argv));
        json_object_set_new(cs, "Env", strv_json(s->env));
        if (s->user)
                json_object_set_new(cs, "User", json_string(s->user));
        if (s->working_dir)
                json_object_set_new(cs, "Dir", json_string(s->working_dir));
        if (s->sandbox.read_only_root)
                json_object_set_new(cs, "ReadOnly", json_true());
        if (s->sandbox.pid == TF_PID_PRIVATE)
                json_object_set_new(cs, "Init", json_true());
        if (s->sandbox.cap_add && s->sandbox.cap_add[0])
                json_object_set_new(cs, "CapabilityAdd", caps_json(s->sandbox.cap_add));
        if (s->sandbox.cap_drop && s->sandbox.cap_drop[0])
                json_object_set_new(cs, "CapabilityDrop", caps_json(s->sandbox.cap_drop));
        if (tf_limit_is_finite(l->nofile))
                json_object_set_new(cs, "Ulimits",
                                    json_pack("[{s:s,s:I,s:I}]", "Name", "nofile", "Soft",
                                              (json_int_t)l->nofile, "Hard", (json_int_t)l->nofile));
        char sig[16];
        snprintf(sig, sizeof(sig), "%d", s->stop_signal);
        json_object_set_new(cs, "StopSignal", json_string(sig));
        json_object_set_new(cs, "StopGracePeriod", json_integer((json_int_t)(s->stop_grace_usec * 1000)));
        json_t *mounts = json_array();
        for (size_t i = 0; i < s->n_mounts; i++)
                json_array_append_new(mounts, json_pack("{s:s,s:s,s:s,s:b}", "Type", "bind", "Source",
                                                        s->mounts[i].source, "Target", s->mounts[i].target,
                                                        "ReadOnly", s->mounts[i].read_only));
        if (s->sandbox.private_tmp)
                json_array_append_new(mounts, json_pack("{s:s,s:s}", "Type", "tmpfs", "Target", "/tmp"));
        if (json_array_size(mounts) > 0)
                json_object_set_new(cs, "Mounts", mounts);
        else
                json_decref(mounts);

        json_t *limits = json_object();
        if (tf_limit_is_finite(l->cpu_quota_usec))
                json_object_set_new(limits, "NanoCPUs",
                                    json_integer((json_int_t)(l->cpu_quota_usec * UINT64_C(1000000000) /
                                                              TF_CPU_PERIOD_USEC)));
        if (tf_limit_is_finite(l->memory))
                json_object_set_new(limits, "MemoryBytes", json_integer((json_int_t)l->memory));
        if (tf_limit_is_finite(l->pids))
                json_object_set_new(limits, "Pids", json_integer((json_int_t)l->pids));

        json_t *tt = json_object();
        json_object_set_new(tt, "ContainerSpec", cs);
        /* requests: what the scheduler reserves on the node (the manager's budget reserves the same). */
        json_t *resv = json_object();
        if (tf_limit_is_finite(s->requests.cpu_quota_usec))
                json_object_set_new(resv, "NanoCPUs",
                                    json_integer((json_int_t)(s->requests.cpu_quota_usec * UINT64_C(1000000000) /
                                                              TF_CPU_PERIOD_USEC)));
        if (tf_limit_is_finite(s->requests.memory))
                json_object_set_new(resv, "MemoryBytes", json_integer((json_int_t)s->requests.memory));
        json_object_set_new(tt, "Resources", json_pack("{s:o,s:o}", "Limits", limits, "Reservations", resv));
        json_object_set_new(tt, "RestartPolicy",
                            json_pack("{s:s,s:i}", "Condition", "none", "MaxAttempts", 0));
        /* A driver the engine can read back: GET /services/{id}/logs reads the task's log file. */
        json_object_set_new(tt, "LogDriver", json_pack("{s:s,s:{}}", "Name", "json-file", "Options"));
        if (s->placement)
                json_object_set_new(tt, "Placement",
                                    json_pack("{s:o}", "Constraints", strv_json(s->placement)));
        json_object_set_new(body, "TaskTemplate", tt);
        json_object_set_new(
                body, "Mode",
                json_pack("{s:{s:i,s:i}}", "ReplicatedJob", "MaxConcurrent", 1, "TotalCompletions", 1));
        *ret = TAKE_PTR(body);
        return 0;
}
