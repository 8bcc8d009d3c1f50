/* SPDX-License-Identifier: MIT */
/*
 * `tfrun export systemd SPEC` and `tfrun explain SPEC`: what a spec becomes on each backend, computed from
 * the spec alone (docs/export.md). The cgroup files mirror cgroup/cgroup.c's plan (which also checks the
 * host: delegation, devices, swap accounting, which this does not).
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/io.h"
#include "base/parse.h"
#include "base/strutil.h"
#include "base/timeutil.h"
#include "docker/docker.h"
#include "runner/export.h"
#include "runner/fireplan.h"
#include "runner/pathwatch.h"
#include "runner/runner.h"
#include "sandbox/sandbox.h"
#include "schedule/schedule.h"
#include "spec/caps.h"
#include "spec/limits.h"

static int load_spec(const char *verb, const char *path, struct tf_spec **ret) {
        _cleanup_error_ tf_error *e = NULL;
        if (!path) {
                tf_log("%s: expected a spec file (see tfrun %s --help)", verb, verb);
                return -EINVAL;
        }
        if (tf_spec_load(path, NULL, ret, &e) < 0) {
                tf_log("%s", e->msg);
                return -EINVAL;
        }
        return 0;
}

static void bad_option(const char *verb, int c, char **argv) {
        if (c == ':')
                tf_log("%s: option '%s' needs a value; see `tfrun %s --help`", verb, argv[optind - 1], verb);
        else if (optopt)
                tf_log("%s: unknown option '-%c'; see `tfrun %s --help`", verb, optopt, verb);
        else
                tf_log("%s: unknown option '%s'; see `tfrun %s --help`", verb, argv[optind - 1], verb);
}

/* ---- export systemd ---- */

static int write_one(const char *dir, const char *name, const char *text, bool secret, tf_error **err) {
        _cleanup_free_ char *p = tf_asprintf("%s/%s", dir, name);
        /* A unit that holds what an env_file held (Environment=) is readable by its owner only. */
        int r = tf_write_file_atomic(p, text, strlen(text), secret ? 0600 : 0644);
        if (r < 0)
                return tf_error_setc(err, r, "export systemd: write %s", p);
        return 0;
}

int tf_cmd_export(int argc, char **argv) {
        static const struct option longopts[] = {
                {"dir", required_argument, NULL, 'd'},
                {"strict", no_argument, NULL, 's'},
                {"help", no_argument, NULL, 'h'},
                {},
        };
        const char *dir = NULL;
        bool strict = false;
        if (argc < 2 || (!streq(argv[1], "systemd") && !streq(argv[1], "-h") && !streq(argv[1], "--help"))) {
                tf_log("export: expected a target: `tfrun export systemd SPEC [--dir D] [--strict]`%s%s%s",
                       argc >= 2 ? " (not '" : "", argc >= 2 ? argv[1] : "", argc >= 2 ? "')" : "");
                return 125;
        }
        int c;
        optind = 1;
        opterr = 0;
        argc--, argv++;
        while ((c = getopt_long(argc, argv, "+:h", longopts, NULL)) >= 0) {
                switch (c) {
                case 'd':
                        dir = optarg;
                        break;
                case 's':
                        strict = true;
                        break;
                case 'h':
                        puts("Usage: tfrun export systemd SPEC [--dir D] [--strict]\n\n"
                             "Write SPEC as systemd units: NAME.service (and NAME.timer for a schedule) in "
                             "D,\n"
                             "or print them on stdout without --dir. What systemd cannot express as tfrun "
                             "does\n"
                             "is listed in the unit as \"inexact\"; --strict refuses it (status 125).\n"
                             "See docs/export.md.");
                        return 0;
                default:
                        bad_option("export", c, argv);
                        return 125;
                }
        }
        if (optind != argc - 1) {
                tf_log("export: expected exactly one spec file (see tfrun export --help)");
                return 125;
        }
        _cleanup_spec_ struct tf_spec *spec = NULL;
        if (load_spec("export", argv[optind], &spec) < 0)
                return 125;
        _cleanup_error_ tf_error *e = NULL;
        struct tf_export_unit u;
        _cleanup_free_ char *absdir = dir ? realpath(dir, NULL) : NULL;
        if (dir && !absdir) {
                tf_log("export: --dir %s: %s", dir, strerror(errno));
                return 125;
        }
        if (tf_export_systemd(spec, absdir, &u, &e) < 0) {
                tf_log("%s", e->msg);
                return 125;
        }
        int status = 0;
        if (strict && u.n_gaps) {
                const struct tf_export_gap *g = &u.gaps[0];
                _cleanup_free_ char *w = g->pos.line ? tf_spec_where(spec, g->pos) : tf_strdup(spec->path);
                tf_log("%s: %s: systemd cannot express this exactly: %s; change the spec or export without "
                       "--strict%s",
                       w, g->key, g->why,
                       u.n_gaps > 1 ? " (and more: run without --strict to see all)" : "");
                status = 125;
        } else if (!dir) {
                printf("# %s.service\n%s", spec->name, u.service);
                if (u.timer)
                        printf("\n# %s.timer\n%s", spec->name, u.timer);
                if (u.seccomp_json)
                        printf("\n# %s (the container's seccomp profile; written with --dir)\n",
                               u.seccomp_file);
        } else {
                _cleanup_free_ char *sn = tf_asprintf("%s.service", spec->name);
                _cleanup_free_ char *tn = tf_asprintf("%s.timer", spec->name);
                bool secret = spec->env_files && spec->env_files[0];
                if (write_one(absdir, sn, u.service, secret, &e) < 0 ||
                    (u.timer && write_one(absdir, tn, u.timer, false, &e) < 0) ||
                    (u.seccomp_json && write_one(absdir, u.seccomp_file, u.seccomp_json, false, &e) < 0)) {
                        tf_log("%s", e->msg);
                        status = 125;
                } else {
                        printf("%s/%s\n", absdir, sn);
                        if (u.timer)
                                printf("%s/%s\n", absdir, tn);
                        if (u.seccomp_json)
                                printf("%s/%s\n", absdir, u.seccomp_file);
                        for (size_t i = 0; i < u.n_gaps; i++)
                                tf_log("export: inexact: %s: %s", u.gaps[i].key, u.gaps[i].why);
                }
        }
        tf_export_unit_done(&u);
        return status;
}

/* ---- explain ---- */

static void row(const char *file, const char *value, const char *key) {
        printf("  %-40s %-28s %s\n", file, value, key);
}

static void row_u64(const char *file, uint64_t v, const char *key) {
        char b[32];
        snprintf(b, sizeof(b), "%" PRIu64, v);
        row(file, b, key);
}

static void cgroup_files(const struct tf_spec *s, bool v2) {
        const struct tf_limits *l = &s->limits;
        char b[128];
        bool any = false;
        printf("cgroup %s:\n", v2 ? "v2" : "v1 (hybrid hosts; controller/file)");
        if (tf_limit_is_finite(l->cpu_quota_usec)) {
                uint64_t period =
                        tf_limit_is_set(l->cpu_period_usec) ? l->cpu_period_usec : TF_CPU_PERIOD_USEC;
                if (v2) {
                        snprintf(b, sizeof(b), "%" PRIu64 " %" PRIu64, l->cpu_quota_usec, period);
                        row("cpu.max", b, "limits.cpus");
                } else {
                        row_u64("cpu/cpu.cfs_period_us", period, "limits.cpus");
                        row_u64("cpu/cpu.cfs_quota_us", l->cpu_quota_usec, "limits.cpus");
                }
                any = true;
        }
        if (tf_limit_is_set(l->cpu_weight)) {
                if (v2)
                        row_u64("cpu.weight", l->cpu_weight, "limits.cpu_weight");
                else
                        row_u64("cpu/cpu.shares", tf_cpu_weight_to_shares(l->cpu_weight),
                                "limits.cpu_weight");
                any = true;
        }
        if (l->cpuset) {
                if (!v2)
                        row("cpuset/cpuset.mems", "(the parent's)", "limits.cpuset");
                row(v2 ? "cpuset.cpus" : "cpuset/cpuset.cpus", l->cpuset, "limits.cpuset");
                any = true;
        }
        if (tf_limit_is_finite(l->memory)) {
                row_u64(v2 ? "memory.max" : "memory/memory.limit_in_bytes", l->memory, "limits.memory");
                any = true;
        }
        if (tf_limit_is_set(l->memory_high)) {
                if (!v2)
                        row("(none)", "refused", "limits.memory_high: cgroup v1 has no memory.high");
                else if (l->memory_high != TF_LIMIT_MAX)
                        row_u64("memory.high", l->memory_high, "limits.memory_high");
                any = true;
        }
        bool derived = tf_limit_is_finite(l->memory) && !tf_limit_is_set(l->memory_swap);
        if (derived || tf_limit_is_finite(l->memory_swap)) {
                uint64_t swap = derived ? l->memory : l->memory_swap;
                const char *key = derived ? "limits.memory (swap as large as memory)" : "limits.memory_swap";
                if (v2)
                        row_u64("memory.swap.max", swap, key);
                else if (!tf_limit_is_finite(l->memory))
                        row("(none)", "refused", "limits.memory_swap: v1 needs limits.memory too");
                else
                        row_u64("memory/memory.memsw.limit_in_bytes", l->memory + swap, key);
                any = true;
        }
        if (tf_limit_is_finite(l->pids)) {
                row_u64(v2 ? "pids.max" : "pids/pids.max", l->pids, "limits.pids");
                any = true;
        }
        if (tf_limit_is_set(l->io_weight)) {
                if (v2) {
                        snprintf(b, sizeof(b), "default %" PRIu64, l->io_weight);
                        row("io.weight", b, "limits.io_weight");
                } else {
                        uint64_t w = l->io_weight * 500 / 100;
                        w = w < 10 ? 10 : w > 1000 ? 1000 : w;
                        row_u64("blkio/blkio.weight", w, "limits.io_weight (or blkio.bfq.weight)");
                }
                any = true;
        }
        for (size_t i = 0; i < l->n_io; i++) {
                const struct tf_io_limit *io = &l->io[i];
                static const char *const v2key[] = {"rbps", "wbps", "riops", "wiops"};
                static const char *const v1file[] = {
                        "blkio/blkio.throttle.read_bps_device", "blkio/blkio.throttle.write_bps_device",
                        "blkio/blkio.throttle.read_iops_device", "blkio/blkio.throttle.write_iops_device"};
                const uint64_t v[] = {io->read_bps, io->write_bps, io->read_iops, io->write_iops};
                /* The device number is this host's (stat at run time): named, not resolved. */
                if (v2) {
                        int n = snprintf(b, sizeof(b), "<%s>", io->device);
                        for (size_t k = 0; k < ELEMENTSOF(v); k++)
                                if (tf_limit_is_set(v[k]) && n > 0 && (size_t)n < sizeof(b)) {
                                        if (v[k] == TF_LIMIT_MAX)
                                                n += snprintf(b + n, sizeof(b) - (size_t)n, " %s=max",
                                                              v2key[k]);
                                        else
                                                n += snprintf(b + n, sizeof(b) - (size_t)n, " %s=%" PRIu64,
                                                              v2key[k], v[k]);
                                }
                        row("io.max", b, "limits.io");
                } else
                        for (size_t k = 0; k < ELEMENTSOF(v); k++)
                                if (tf_limit_is_finite(v[k])) {
                                        snprintf(b, sizeof(b), "<%s> %" PRIu64, io->device, v[k]);
                                        row(v1file[k], b, "limits.io");
                                }
                any = true;
        }
        if (!any)
                puts("  (no limit: nothing written)");
}

static void sandbox_native(const struct tf_spec *s) {
        const struct tf_sandbox *sb = &s->sandbox;
        puts("sandbox (native):");
        if (sb->host) {
                puts("  none (sandbox: host): the plain child of tfrun");
                return;
        }
        printf("  namespaces:        mount%s%s%s%s%s (+ user when tfrun is not root)\n",
               sb->pid != TF_PID_HOST ? " pid" : "", sb->ipc == TF_NS_PRIVATE ? " ipc" : "",
               sb->uts == TF_NS_PRIVATE ? " uts" : "", sb->cgroupns == TF_NS_PRIVATE ? " cgroup" : "",
               sb->network == TF_NETWORK_NONE ? " net" : "");
        if (sb->pid != TF_PID_HOST)
                puts("  pid 1:             tfrun's minimal init; the service is pid 2");
        uint64_t caps = tf_export_capabilities(s);
        switch (sb->seccomp) {
        case TF_SECCOMP_DEFAULT: {
                _cleanup_strv_free_ char **cond = NULL;
                _cleanup_strv_free_ char **names = tf_export_default_syscalls(caps, &cond);
                _cleanup_free_ char *cj = tf_strv_join_quoted(cond);
                printf("  seccomp:           default, %s: %zu syscalls allowed for these capabilities "
                       "(with argument conditions: %s); newer syscalls answer ENOSYS, others EPERM\n",
                       tf_seccomp_default_revision, tf_strv_length(names), cj);
                break;
        }
        case TF_SECCOMP_UNCONFINED:
                puts("  seccomp:           unconfined (no filter)");
                break;
        case TF_SECCOMP_PROFILE:
                printf("  seccomp:           profile %s (compiled at start)\n", sb->seccomp_profile);
                break;
        }
        printf("  capabilities:      ");
        bool first = true;
        for (unsigned i = 0; i < TF_CAP_COUNT; i++)
                if (caps & (UINT64_C(1) << i)) {
                        printf("%s%s", first ? "" : " ", tf_cap_name(i));
                        first = false;
                }
        printf("%s (bounding set; a root service holds them, another user none%s)\n", first ? "none" : "",
               sb->cap_ambient ? " but cap_add as ambient" : "");
        printf("  no_new_privileges: %s\n", sb->no_new_privileges ? "yes" : "no");
        printf("  network:           %s\n",
               sb->network == TF_NETWORK_UNSET ? "the host's" : tf_network_mode_name(sb->network));
        if (sb->system_paths == TF_SYSTEM_PATHS_MASKED) {
                printf("  masked paths:      ");
                for (size_t i = 0; tf_sandbox_masked_paths[i]; i++)
                        printf("%s%s", i ? " " : "", tf_sandbox_masked_paths[i]);
                printf("\n  read-only paths:   ");
                for (size_t i = 0; tf_sandbox_readonly_paths[i]; i++)
                        printf("%s%s", i ? " " : "", tf_sandbox_readonly_paths[i]);
                printf(" /sys\n  (%s)\n", tf_sandbox_system_paths_revision);
        } else
                puts("  system paths:      unconfined");
        printf("  root filesystem:   the host's, %s\n", sb->read_only_root ? "read-only" : "writable");
        if (sb->private_tmp)
                puts("  /tmp:              a private tmpfs (mode 1777, nosuid, nodev)");
        for (size_t i = 0; i < s->n_mounts; i++)
                printf("  mount:             %s -> %s%s\n", s->mounts[i].source, s->mounts[i].target,
                       s->mounts[i].read_only ? " (read-only)" : "");
        if (tf_limit_is_finite(s->limits.nofile))
                printf("  rlimit:            RLIMIT_NOFILE %" PRIu64 " (soft and hard)\n", s->limits.nofile);
}

/* backend swarm: the POST /services/create body, or what it refuses (for every API version tfrun speaks). */
static void swarm_body(const struct tf_spec *s) {
        _cleanup_(json_decrefp) json_t *body = NULL;
        _cleanup_error_ tf_error *e = NULL;
        puts("swarm: POST /services/create body:");
        if (tf_docker_service_body(s, NULL, 0, &body, &e) < 0) {
                printf("  refused: %s\n", e->msg);
                return;
        }
        _cleanup_free_ char *text = json_dumps(body, JSON_INDENT(2));
        for (char *line = text, *nl; line && *line; line = nl ? nl + 1 : NULL) {
                nl = strchr(line, '\n');
                printf("  %.*s\n", nl ? (int)(nl - line) : (int)strlen(line), line);
        }
}

static void docker_body(const struct tf_spec *s) {
        const struct tf_docker_pinned pinned = {.seccomp_profile = tf_seccomp_default_profile,
                                                .masked_paths = tf_sandbox_masked_paths,
                                                .readonly_paths = tf_sandbox_readonly_paths};
        _cleanup_(json_decrefp) json_t *body = NULL;
        _cleanup_error_ tf_error *e = NULL;
        puts("docker: POST /containers/create body:");
        if (tf_docker_create_body(s, NULL, &pinned, &body, &e) < 0) {
                printf("  refused: %s\n", e->msg);
                return;
        }
        /* The profile is sent whole; here it is named, not printed (tens of kilobytes). */
        json_t *opts = json_object_get(json_object_get(body, "HostConfig"), "SecurityOpt");
        size_t i;
        json_t *o;
        json_array_foreach(opts, i, o) {
                const char *t = json_string_value(o);
                if (!tf_startswith(t, "seccomp=") || streq(t, "seccomp=unconfined"))
                        continue;
                _cleanup_free_ char *n =
                        s->sandbox.seccomp == TF_SECCOMP_DEFAULT
                                ? tf_asprintf("seccomp=<tfrun's default profile, %s>",
                                              tf_seccomp_default_revision)
                                : tf_asprintf("seccomp=<the profile %s>", s->sandbox.seccomp_profile);
                json_array_set_new(opts, i, json_string(n));
        }
        _cleanup_free_ char *text = json_dumps(body, JSON_INDENT(2));
        for (char *save = NULL, *line = strtok_r(text, "\n", &save); line;
             line = strtok_r(NULL, "\n", &save))
                printf("  %s\n", line);
        if (!tf_limit_is_finite(s->limits.nofile))
                puts("  (without limits.nofile the backend also sends HostConfig.Ulimits nofile = tfrun's own "
                     "RLIMIT_NOFILE, what a native job inherits: host-dependent, not shown)");
}

static void systemd_units(const struct tf_spec *s) {
        struct tf_export_unit u;
        _cleanup_error_ tf_error *e = NULL;
        if (tf_export_systemd(s, NULL, &u, &e) < 0) {
                printf("systemd:\n  refused: %s\n", e->msg);
                return;
        }
        printf("systemd: %s.service:\n", s->name);
        for (char *save = NULL, *line = strtok_r(u.service, "\n", &save); line;
             line = strtok_r(NULL, "\n", &save))
                printf("  %s\n", line);
        if (u.timer) {
                printf("systemd: %s.timer:\n", s->name);
                for (char *save = NULL, *line = strtok_r(u.timer, "\n", &save); line;
                     line = strtok_r(NULL, "\n", &save))
                        printf("  %s\n", line);
        }
        tf_export_unit_done(&u);
}

static void fire_times(const struct tf_spec *s, uint64_t base, bool given, unsigned n) {
        if (!s->schedule.present) {
                puts("schedule: none (runs once when started)");
                return;
        }
        struct tf_fire_plan *plan = NULL;
        _cleanup_error_ tf_error *e = NULL;
        printf("schedule: first fire times after %s (as `tfrun next` shows them; randomized_delay not "
               "applied):\n",
               given ? "--base-time" : "now");
        if (tf_fire_plan_new(s, base, &plan, &e) < 0) {
                printf("  refused: %s\n", e->msg);
                return;
        }
        if (tf_fire_plan_has_reboot(plan))
                puts("  @reboot (at start)");
        for (size_t i = 0; i < s->schedule.n_paths; i++)
                printf("  path: %s %s (when it happens)\n", tf_path_kind_name(s->schedule.paths[i].kind),
                       s->schedule.paths[i].path);
        uint64_t t = base;
        for (unsigned i = 0; i < n; i++) {
                if (tf_fire_plan_next(plan, t, &t) < 0) {
                        if (i == 0 && s->schedule.n_paths == 0)
                                puts("  (none: this schedule never fires)");
                        break;
                }
                char buf[96];
                tf_sched_format_timestamp(buf, sizeof(buf), t, tf_tz_local(), false);
                printf("  %s\n", buf);
        }
        tf_fire_plan_free(plan);
}

int tf_cmd_explain(int argc, char **argv) {
        static const struct option longopts[] = {
                {"backend", required_argument, NULL, 'b'},
                {"base-time", required_argument, NULL, 't'},
                {"help", no_argument, NULL, 'h'},
                {},
        };
        const char *backend = NULL, *base_s = NULL;
        unsigned n = 5;
        int c;
        optind = 1;
        opterr = 0;
        while ((c = getopt_long(argc, argv, "+:hn:", longopts, NULL)) >= 0) {
                switch (c) {
                case 'b':
                        backend = optarg;
                        break;
                case 't':
                        base_s = optarg;
                        break;
                case 'n': {
                        uint64_t v;
                        if (tf_parse_u64(optarg, &v) < 0 || v == 0 || v > 1000) {
                                tf_log("explain: -n takes a number from 1 to 1000, not '%s'", optarg);
                                return 125;
                        }
                        n = (unsigned)v;
                        break;
                }
                case 'h':
                        puts("Usage: tfrun explain SPEC [--backend native|docker|systemd] [-n N] "
                             "[--base-time T]\n\n"
                             "Show what SPEC becomes on each backend: the cgroup files and values (v2 and "
                             "v1),\n"
                             "the sandbox (namespaces, seccomp, capabilities), the Docker create body, the\n"
                             "systemd units, and the first N (5) fire times. Computed from the spec alone.");
                        return 0;
                default:
                        bad_option("explain", c, argv);
                        return 125;
                }
        }
        if (backend && !streq(backend, "native") && !streq(backend, "docker") && !streq(backend, "swarm") &&
            !streq(backend, "systemd")) {
                tf_log("explain: --backend takes native, docker, swarm or systemd, not '%s'", backend);
                return 125;
        }
        if (optind < argc - 1) {
                tf_log("explain: expected exactly one spec file (see tfrun explain --help)");
                return 125;
        }
        _cleanup_spec_ struct tf_spec *spec = NULL;
        if (load_spec("explain", optind < argc ? argv[optind] : NULL, &spec) < 0)
                return 125;
        uint64_t base = tf_now(CLOCK_REALTIME);
        if (base_s) {
                _cleanup_error_ tf_error *e = NULL;
                if (tf_sched_parse_timestamp(base_s, base, &base, &e) < 0) {
                        tf_log("explain: --base-time: %s", e->msg);
                        return 125;
                }
        }
        if (spec->n_steps > 0) {
                _cleanup_free_ char *w = tf_spec_where(spec, spec->pos_steps);
                tf_log("%s: steps: explain shows one service; explain each step as a spec of its own", w);
                return 125;
        }
        printf("%s: service %s, backend %s%s\n", spec->path, spec->name,
               tf_backend_name(spec->resolved_backend), spec->backend == TF_BACKEND_AUTO ? " (auto)" : "");
        if (!backend || streq(backend, "native") || streq(backend, "docker")) {
                if (spec->resolved_backend == TF_BACKEND_DOCKER)
                        puts("(a container: the engine writes these files for it, with the same values)");
                cgroup_files(spec, true);
                cgroup_files(spec, false);
        }
        if ((!backend && spec->resolved_backend == TF_BACKEND_NATIVE) ||
            (backend && streq(backend, "native"))) {
                if (spec->image)
                        puts("sandbox (native):\n  refused: image: the native backend does not run images");
                else
                        sandbox_native(spec);
        }
        if ((!backend && spec->image) || (backend && streq(backend, "docker")))
                docker_body(spec);
        if ((!backend && spec->resolved_backend == TF_BACKEND_SWARM) || (backend && streq(backend, "swarm")))
                swarm_body(spec);
        if (!backend || streq(backend, "systemd"))
                systemd_units(spec);
        fire_times(spec, base, base_s != NULL, n);
        return 0;
}
