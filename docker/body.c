/* SPDX-License-Identifier: MIT */
/* struct tf_spec -> the JSON body of POST /containers/create. Pure: no engine involved. */

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "base/cleanup.h"
#include "base/io.h"
#include "base/parse.h"
#include "base/strutil.h"
#include "docker/docker-internal.h"
#include "spec/limits.h"

#define BLKIO_WEIGHT_MIN 10
#define BLKIO_WEIGHT_MAX 1000
/* The engine refuses CFS quotas below 1 ms and periods outside 1 ms..1 s. */
#define CPU_QUOTA_MIN UINT64_C(1000)
#define SECCOMP_PROFILE_MAX (1024 * 1024)

int docker_refuse(const struct tf_spec *s, struct tf_pos pos, bool name_spec, tf_error **err, int code,
                  const char *fmt, ...) {
        va_list ap;
        _cleanup_free_ char *msg = NULL;
        va_start(ap, fmt);
        if (vasprintf(&msg, fmt, ap) < 0)
                tf_oom();
        va_end(ap);
        if (s->path && pos.line > 0)
                return tf_error_set(err, code, "%s:%u:%u: %s", s->path, pos.line, pos.column, msg);
        if (name_spec)
                return tf_error_set(err, code, "%s: %s", s->path ? s->path : "spec", msg);
        return tf_error_set(err, code, "%s", msg);
}

/* The create body's refusals: without a position, the message alone (the caller names the spec). */
#define refuse(s, pos, err, code, ...) docker_refuse(s, pos, false, err, code, __VA_ARGS__)

static json_t *strv_json(char *const *v) {
        json_t *a = json_array();
        for (size_t i = 0; v && v[i]; i++)
                json_array_append_new(a, json_string(v[i]));
        return a;
}

static void set_u64(json_t *o, const char *key, uint64_t v) {
        json_object_set_new(o, key, json_integer((json_int_t)v));
}

static int read_profile(const struct tf_spec *s, json_t **ret, tf_error **err) {
        const char *path = s->sandbox.seccomp_profile;
        if (!path)
                return refuse(s, s->sandbox.pos_seccomp, err, EINVAL, "sandbox.seccomp: no profile path");
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return refuse(s, s->sandbox.pos_seccomp, err, errno, "sandbox.seccomp: open profile %s: %s",
                              path, strerror(errno));
        struct stat st;
        if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size > SECCOMP_PROFILE_MAX)
                return refuse(s, s->sandbox.pos_seccomp, err, EFBIG,
                              "sandbox.seccomp: profile %s is not a regular file of at most %d bytes", path,
                              SECCOMP_PROFILE_MAX);
        json_error_t je;
        json_t *j = json_loadfd(fd, 0, &je);
        if (!j)
                return refuse(s, s->sandbox.pos_seccomp, err, EINVAL,
                              "sandbox.seccomp: profile %s:%d:%d: %s", path, je.line, je.column, je.text);
        if (!json_is_object(j)) {
                json_decref(j);
                return refuse(
                        s, s->sandbox.pos_seccomp, err, EINVAL,
                        "sandbox.seccomp: profile %s: expected a JSON object (Docker's seccomp format)",
                        path);
        }
        *ret = j;
        return 0;
}

static int host_limits(const struct tf_spec *s, const struct tf_docker_pinned *pinned, json_t *hc,
                       tf_error **err) {
        const struct tf_limits *l = &s->limits;

        /* Refusals first: nothing is built for a spec Docker cannot honour. */
        if (tf_limit_is_set(l->memory_high))
                return refuse(
                        s, l->pos_memory_high, err, EOPNOTSUPP,
                        "limits.memory_high: Docker has no equivalent of memory.high (MemoryReservation "
                        "is a soft minimum, not a throttle); remove it or use the native backend");
        if (tf_limit_is_set(l->io_weight) &&
            (l->io_weight < BLKIO_WEIGHT_MIN || l->io_weight > BLKIO_WEIGHT_MAX))
                return refuse(s, l->pos_io_weight, err, EINVAL,
                              "limits.io_weight: Docker's BlkioWeight accepts %d..%d, got %" PRIu64
                              "; use a value in that range or the native backend",
                              BLKIO_WEIGHT_MIN, BLKIO_WEIGHT_MAX, l->io_weight);
        if (tf_limit_is_finite(l->memory_swap) && !tf_limit_is_finite(l->memory))
                return refuse(s, l->pos_memory_swap, err, EINVAL,
                              "limits.memory_swap: Docker limits memory and swap together (MemorySwap = "
                              "memory + swap), so it needs limits.memory as well; add limits.memory");
        if (tf_limit_is_finite(l->cpu_quota_usec) && tf_limit_is_set(l->cpu_period_usec) &&
            l->cpu_quota_usec < CPU_QUOTA_MIN)
                return refuse(s, l->pos_cpus, err, EINVAL,
                              "limits.cpus: Docker's smallest CPU quota is 1 ms per period (0.01 CPU at "
                              "the 100 ms period); raise it");

        if (tf_limit_is_finite(l->cpu_quota_usec)) {
                uint64_t period = tf_limit_is_set(l->cpu_period_usec) && l->cpu_period_usec
                                          ? l->cpu_period_usec
                                          : TF_CPU_PERIOD_USEC;
                if (period == TF_CPU_PERIOD_USEC)
                        /* The engine turns NanoCpus back into quota/period at 100 ms: exact. */
                        set_u64(hc, "NanoCpus", l->cpu_quota_usec * UINT64_C(1000000000) / period);
                else {
                        set_u64(hc, "CpuPeriod", period);
                        set_u64(hc, "CpuQuota", l->cpu_quota_usec);
                }
        }
        if (tf_limit_is_set(l->cpu_weight))
                set_u64(hc, "CpuShares", pinned && pinned->cgroup_v2 ? tf_cpu_weight_to_runc_v2_shares(l->cpu_weight)
                                                                     : tf_cpu_weight_to_shares(l->cpu_weight));
        if (l->cpuset)
                json_object_set_new(hc, "CpusetCpus", json_string(l->cpuset));
        if (tf_limit_is_finite(l->memory))
                set_u64(hc, "Memory", l->memory);
        /* Swap goes with memory only. Unset, it is as large as memory: the engine's own default, sent
         * explicitly (MemorySwap = 2 x Memory) so that the native backend's rule is what the engine gets. */
        if (tf_limit_is_finite(l->memory)) {
                struct tf_limits both = {.memory = l->memory,
                                         .memory_swap = tf_limit_is_set(l->memory_swap) ? l->memory_swap
                                                                                        : l->memory};
                uint64_t memsw;
                if (l->memory_swap == TF_LIMIT_MAX)
                        json_object_set_new(hc, "MemorySwap", json_integer(-1));
                else if (tf_limits_memsw(&both, &memsw) < 0)
                        return refuse(
                                s, tf_limit_is_set(l->memory_swap) ? l->pos_memory_swap : l->pos_memory, err,
                                ERANGE, "%s: memory + swap too large",
                                tf_limit_is_set(l->memory_swap) ? "limits.memory_swap" : "limits.memory");
                else
                        set_u64(hc, "MemorySwap", memsw);
        }
        if (tf_limit_is_finite(l->pids))
                set_u64(hc, "PidsLimit", l->pids);
        if (tf_limit_is_set(l->io_weight))
                set_u64(hc, "BlkioWeight", l->io_weight);
        static const char *const io_keys[] = {"BlkioDeviceReadBps", "BlkioDeviceWriteBps",
                                              "BlkioDeviceReadIOps", "BlkioDeviceWriteIOps"};
        for (size_t k = 0; k < ELEMENTSOF(io_keys); k++) {
                json_t *a = json_array();
                for (size_t i = 0; i < l->n_io; i++) {
                        const struct tf_io_limit *io = &l->io[i];
                        const uint64_t v[] = {io->read_bps, io->write_bps, io->read_iops, io->write_iops};
                        if (!tf_limit_is_finite(v[k]))
                                continue;
                        if (!io->device) {
                                json_decref(a);
                                return refuse(s, io->pos, err, EINVAL, "limits.io[%zu].device: missing", i);
                        }
                        json_array_append_new(
                                a, json_pack("{s:s,s:I}", "Path", io->device, "Rate", (json_int_t)v[k]));
                }
                if (json_array_size(a) > 0)
                        json_object_set_new(hc, io_keys[k], a);
                else
                        json_decref(a);
        }
        if (tf_limit_is_finite(l->nofile))
                json_object_set_new(hc, "Ulimits",
                                    json_pack("[{s:s,s:I,s:I}]", "Name", "nofile", "Soft",
                                              (json_int_t)l->nofile, "Hard", (json_int_t)l->nofile));
        else if (pinned && pinned->nofile_soft > 0 && pinned->nofile_hard >= pinned->nofile_soft &&
                 pinned->nofile_hard <= INT64_MAX)
                json_object_set_new(hc, "Ulimits",
                                    json_pack("[{s:s,s:I,s:I}]", "Name", "nofile", "Soft",
                                              (json_int_t)pinned->nofile_soft, "Hard",
                                              (json_int_t)pinned->nofile_hard));
        return 0;
}

/* "seccomp=<compact JSON>": the engine takes the profile itself, not a path it would read on its side. */
static void append_profile(json_t *opts, json_t *prof) {
        _cleanup_free_ char *text = json_dumps(prof, JSON_COMPACT);
        if (!text)
                tf_oom();
        _cleanup_free_ char *opt = tf_asprintf("seccomp=%s", text);
        json_array_append_new(opts, json_string(opt));
}

static json_t *paths_json(const char *const *paths) {
        json_t *a = json_array();
        for (size_t i = 0; paths && paths[i]; i++)
                json_array_append_new(a, json_string(paths[i]));
        return a;
}

static int host_sandbox(const struct tf_spec *s, const struct tf_docker_pinned *pinned, json_t *hc,
                        tf_error **err) {
        const struct tf_sandbox *sb = &s->sandbox;
        const char *default_seccomp = pinned ? pinned->seccomp_profile : NULL;
        if (sb->host)
                return refuse(
                        s, s->pos_sandbox, err, EOPNOTSUPP,
                        "sandbox: 'host' (no sandbox) exists only with the native backend; expected "
                        "the opt-outs a container has, e.g. sandbox: {pid: host, ipc: host, uts: host, "
                        "system_paths: unconfined}");
        json_t *opts = json_array();
        json_object_set_new(hc, "SecurityOpt", opts);

        if (sb->no_new_privileges)
                json_array_append_new(opts, json_string("no-new-privileges:true"));
        switch (sb->seccomp) {
        case TF_SECCOMP_DEFAULT: {
                /* tfrun's pinned profile, the one the native backend compiles, so that the engine's version
                 * does not change what a job may call. Without one (unit tests of unrelated keys): the
                 * engine's own default. */
                if (!default_seccomp)
                        break;
                json_error_t je;
                json_t *prof = json_loads(default_seccomp, 0, &je);
                if (!prof || !json_is_object(prof)) {
                        json_decref(prof);
                        return refuse(s, sb->pos_seccomp, err, EINVAL,
                                      "sandbox.seccomp: tfrun's default profile does not parse (%d:%d: %s)",
                                      je.line, je.column, je.text);
                }
                append_profile(opts, prof);
                json_decref(prof);
                break;
        }
        case TF_SECCOMP_UNCONFINED:
                json_array_append_new(opts, json_string("seccomp=unconfined"));
                break;
        case TF_SECCOMP_PROFILE: {
                json_t *prof = NULL;
                int r = read_profile(s, &prof, err);
                if (r < 0)
                        return r;
                append_profile(opts, prof);
                json_decref(prof);
                break;
        }
        default:
                return refuse(s, sb->pos_seccomp, err, EINVAL, "sandbox.seccomp: unknown mode %d",
                              sb->seccomp);
        }
        if (sb->cap_ambient)
                return refuse(s, sb->pos_cap_ambient, err, EOPNOTSUPP,
                              "sandbox.cap_ambient: Docker gives a non-root user no ambient capabilities "
                              "(cap_add only widens its bounding set); remove cap_ambient or use the native "
                              "backend");
        if (sb->cap_drop && sb->cap_drop[0])
                json_object_set_new(hc, "CapDrop", strv_json(sb->cap_drop));
        if (sb->cap_add && sb->cap_add[0])
                json_object_set_new(hc, "CapAdd", strv_json(sb->cap_add));
        json_object_set_new(hc, "ReadonlyRootfs", json_boolean(sb->read_only_root));
        /* The native backend's private /tmp: a fresh tmpfs, mode 1777, nosuid, nodev, and executable. The
         * engine adds noexec to every Tmpfs entry unless told "exec" (moby MergeTmpfsOptions keeps the
         * last of a pair), which would make the same spec behave differently on the two backends. */
        if (sb->private_tmp)
                json_object_set_new(hc, "Tmpfs",
                                    json_pack("{s:s}", "/tmp", "rw,exec,nosuid,nodev,mode=1777"));
        switch (sb->network) {
        case TF_NETWORK_UNSET:
                break;
        case TF_NETWORK_NONE:
                json_object_set_new(hc, "NetworkMode", json_string("none"));
                break;
        case TF_NETWORK_HOST:
                json_object_set_new(hc, "NetworkMode", json_string("host"));
                break;
        case TF_NETWORK_BRIDGE:
                json_object_set_new(hc, "NetworkMode", json_string("bridge"));
                break;
        case TF_NETWORK_NAMED:
                if (!sb->network_name || !*sb->network_name)
                        return refuse(s, sb->pos_network, err, EINVAL, "sandbox.network: no network name");
                json_object_set_new(hc, "NetworkMode", json_string(sb->network_name));
                break;
        default:
                return refuse(s, sb->pos_network, err, EINVAL, "sandbox.network: unknown mode %d",
                              sb->network);
        }
        /* A container always has a pid namespace of its own, with the service as its pid 1 (no zombie
         * reaping, unhandled signals ignored). `pid: private` means what it means natively: an init as
         * pid 1 that reaps and forwards signals, the service below it; here the engine's docker-init. */
        switch (sb->pid) {
        case TF_PID_UNSET:
                break;
        case TF_PID_PRIVATE:
                json_object_set_new(hc, "Init", json_true());
                break;
        case TF_PID_HOST:
                json_object_set_new(hc, "PidMode", json_string("host"));
                break;
        default:
                return refuse(s, sb->pos_pid, err, EINVAL, "sandbox.pid: unknown mode %d", sb->pid);
        }
        /* Sent whatever the engine's own default (daemon.json default-ipc-mode, default-cgroupns-mode,
         * which is host on cgroup v1), so that both backends read back the same namespaces. */
        json_object_set_new(hc, "IpcMode", json_string(sb->ipc == TF_NS_HOST ? "host" : "private"));
        if (sb->uts == TF_NS_HOST)
                json_object_set_new(hc, "UTSMode", json_string("host"));
        json_object_set_new(hc, "CgroupnsMode",
                            json_string(sb->cgroupns == TF_NS_HOST ? "host" : "private"));
        /* tfrun's pinned lists, or none at all (`--security-opt systempaths=unconfined`). */
        if (sb->system_paths == TF_SYSTEM_PATHS_UNCONFINED) {
                json_object_set_new(hc, "MaskedPaths", json_array());
                json_object_set_new(hc, "ReadonlyPaths", json_array());
        } else {
                if (pinned && pinned->masked_paths)
                        json_object_set_new(hc, "MaskedPaths", paths_json(pinned->masked_paths));
                if (pinned && pinned->readonly_paths)
                        json_object_set_new(hc, "ReadonlyPaths", paths_json(pinned->readonly_paths));
        }
        return 0;
}

/* The engine resolves a bind source with the kernel's ordinary path walk, following symbolic links in
 * every component (`docker run --mount type=bind,source=LINK` binds the link's target). The native
 * backend refuses such sources, so the docker backend refuses them too, with the same message and the same
 * walk (tf_open_nofollow), before anything is created. A missing component is left to the engine, which
 * refuses it at create ("bind source path does not exist"). What this cannot do is pin the source as the
 * native backend does with an O_PATH descriptor: the API takes a path, so a swap by someone who can write
 * to a parent directory after this check stays possible; keep mount sources in directories only trusted
 * users can write. */
static int check_source(const struct tf_spec *s, size_t i, tf_error **err) {
        const struct tf_mount *m = &s->mounts[i];
        _cleanup_free_ char *bad = NULL;
        int r = tf_open_nofollow(m->source, NULL, &bad);
        if (r == -ELOOP) {
                _cleanup_free_ char *real = realpath(m->source, NULL);
                return refuse(s, m->pos, err, ELOOP,
                              "mounts[%zu].source: '%s' is a symbolic link; mount paths must not contain "
                              "symbolic links%s%s%s",
                              i, bad, real ? " (the real path is '" : "", real ? real : "",
                              real ? "')" : "");
        }
        if (r < 0 && r != -ENOENT)
                return refuse(s, m->pos, err, -r,
                              "mounts[%zu].source: cannot check '%s' for symbolic links: %s", i,
                              bad ? bad : m->source, strerror(-r));
        return 0;
}

static int host_mounts(const struct tf_spec *s, json_t *hc, tf_error **err) {
        if (s->n_mounts == 0)
                return 0;
        /* Mounts, not Binds: a missing source is an error instead of an empty directory the engine
         * would create on the host. */
        json_t *a = json_array();
        json_object_set_new(hc, "Mounts", a);
        for (size_t i = 0; i < s->n_mounts; i++) {
                const struct tf_mount *m = &s->mounts[i];
                if (!m->source || !m->target || m->source[0] != '/' || m->target[0] != '/')
                        return refuse(s, m->pos, err, EINVAL,
                                      "mounts[%zu]: source and target must be absolute paths", i);
                int r = check_source(s, i, err);
                if (r < 0)
                        return r;
                json_array_append_new(a, json_pack("{s:s,s:s,s:s,s:b}", "Type", "bind", "Source", m->source,
                                                   "Target", m->target, "ReadOnly", m->read_only));
        }
        return 0;
}

int tf_docker_create_body(const struct tf_spec *s, const char *run_id, const struct tf_docker_pinned *pinned,
                          json_t **ret, tf_error **err) {
        if (!s->image || !*s->image)
                return refuse(s, s->pos_image, err, EINVAL, "image: the docker backend needs an image");
        int r = tf_docker_image_ref_check(s->image, err);
        if (r < 0)
                return s->path && s->pos_image.line ? tf_error_prefix(err, "%s:%u:%u: image", s->path,
                                                                      s->pos_image.line, s->pos_image.column)
                                                    : tf_error_prefix(err, "image");

        json_t *body = json_object();
        json_t *hc = json_object();
        json_object_set_new(body, "HostConfig", hc);

        r = host_limits(s, pinned, hc, err);
        if (r >= 0)
                r = host_sandbox(s, pinned, hc, err);
        if (r >= 0)
                r = host_mounts(s, hc, err);
        if (r < 0) {
                json_decref(body);
                return r;
        }

        json_object_set_new(body, "Image", json_string(s->image));
        if (s->argv && s->argv[0])
                json_object_set_new(body, "Cmd", strv_json(s->argv));
        if (s->env && s->env[0])
                json_object_set_new(body, "Env", strv_json(s->env));
        if (s->user && *s->user)
                json_object_set_new(body, "User", json_string(s->user));
        if (s->working_dir && *s->working_dir)
                json_object_set_new(body, "WorkingDir", json_string(s->working_dir));
        json_t *labels = json_object();
        if (s->name)
                json_object_set_new(labels, "tfrun.service", json_string(s->name));
        if (run_id)
                json_object_set_new(labels, "tfrun.run", json_string(run_id));
        json_object_set_new(body, "Labels", labels);
        /* For a `docker stop` by hand; tfrun itself passes the signal on each stop. */
        const char *sig = s->stop_signal > 0 ? tf_signal_name(s->stop_signal) : NULL;
        if (sig)
                json_object_set_new(body, "StopSignal", json_string(sig));
        /* Output is attached, never a TTY (the demultiplexer relies on it); no stdin. */
        json_object_set_new(body, "AttachStdin", json_false());
        json_object_set_new(body, "AttachStdout", json_true());
        json_object_set_new(body, "AttachStderr", json_true());
        json_object_set_new(body, "Tty", json_false());
        json_object_set_new(body, "OpenStdin", json_false());

        /* tfrun is the janitor: it reads the exit state, then removes the container. Init is explicit
         * either way, so that a daemon configured with `"init": true` does not change what the spec
         * says (an init only with pid: private). */
        if (!json_object_get(hc, "Init"))
                json_object_set_new(hc, "Init", json_false());
        json_object_set_new(hc, "AutoRemove", json_false());

        *ret = body;
        return 0;
}
