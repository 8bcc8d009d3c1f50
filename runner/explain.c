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
        const char *arg = argv[optind - 1];
        if (c == ':')
                tf_log("%s: option '%s' needs a value; see `tfrun %s --help`", verb, arg, verb);
        else if (optopt && tf_startswith(arg, "--") && strchr(arg, '='))
                /* getopt's '?' with the option's own letter: a value given to a flag (--json=x). */
                tf_log("%s: option '%.*s' takes no value; see `tfrun %s --help`", verb,
                       (int)(strchr(arg, '=') - arg), arg, verb);
        else if (optopt)
                tf_log("%s: unknown option '-%c'; see `tfrun %s --help`", verb, optopt, verb);
        else
                tf_log("%s: unknown option '%s'; see `tfrun %s --help`", verb, arg, verb);
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

/*
 * Each part prints the human text, or with `j` (--json) fills that object instead: the same facts from the
 * same code, so the two cannot say different things (docs/export.md has the keys).
 */

/* One cgroup file: printed as a row, or appended to `a` as {file, value, key[, note]}. value NULL: not
 * tfrun's to choose, the note says whose it is (human: in the value's column). */
static void row_note(json_t *a, const char *file, const char *value, const char *key, const char *note) {
        if (a) {
                json_t *o = json_pack("{s:s,s:s?,s:s}", "file", file, "value", value, "key", key);
                if (note)
                        json_object_set_new(o, "note", json_string(note));
                json_array_append_new(a, o);
                return;
        }
        _cleanup_free_ char *v = value ? NULL : tf_asprintf("(%s)", note);
        _cleanup_free_ char *k = note && value ? tf_asprintf("%s (%s)", key, note) : NULL;
        printf("  %-40s %-28s %s\n", file, v ? v : value, k ? k : key);
}

static void row(json_t *a, const char *file, const char *value, const char *key) {
        row_note(a, file, value, key, NULL);
}

static void row_u64_note(json_t *a, const char *file, uint64_t v, const char *key, const char *note) {
        char b[32];
        snprintf(b, sizeof(b), "%" PRIu64, v);
        row_note(a, file, b, key, note);
}

static void row_u64(json_t *a, const char *file, uint64_t v, const char *key) {
        row_u64_note(a, file, v, key, NULL);
}

/* A key this cgroup version cannot hold: {file: null, value: null, key, refused}. */
static void row_refused(json_t *a, const char *key, const char *why) {
        if (a) {
                json_array_append_new(
                        a, json_pack("{s:n,s:n,s:s,s:s}", "file", "value", "key", key, "refused", why));
                return;
        }
        _cleanup_free_ char *k = tf_asprintf("%s: %s", key, why);
        printf("  %-40s %-28s %s\n", "(none)", "refused", k);
}

static void cgroup_files(const struct tf_spec *s, bool v2, json_t *a) {
        const struct tf_limits *l = &s->limits;
        char b[128];
        bool any = false;
        if (!a)
                printf("cgroup %s:\n", v2 ? "v2" : "v1 (hybrid hosts; controller/file)");
        if (tf_limit_is_finite(l->cpu_quota_usec)) {
                uint64_t period =
                        tf_limit_is_set(l->cpu_period_usec) ? l->cpu_period_usec : TF_CPU_PERIOD_USEC;
                if (v2) {
                        snprintf(b, sizeof(b), "%" PRIu64 " %" PRIu64, l->cpu_quota_usec, period);
                        row(a, "cpu.max", b, "limits.cpus");
                } else {
                        row_u64(a, "cpu/cpu.cfs_period_us", period, "limits.cpus");
                        row_u64(a, "cpu/cpu.cfs_quota_us", l->cpu_quota_usec, "limits.cpus");
                }
                any = true;
        }
        if (tf_limit_is_set(l->cpu_weight)) {
                if (v2)
                        row_u64(a, "cpu.weight", l->cpu_weight, "limits.cpu_weight");
                else
                        row_u64(a, "cpu/cpu.shares", tf_cpu_weight_to_shares(l->cpu_weight),
                                "limits.cpu_weight");
                any = true;
        }
        if (l->cpuset) {
                if (!v2)
                        row_note(a, "cpuset/cpuset.mems", NULL, "limits.cpuset", "the parent's");
                row(a, v2 ? "cpuset.cpus" : "cpuset/cpuset.cpus", l->cpuset, "limits.cpuset");
                any = true;
        }
        if (tf_limit_is_finite(l->memory)) {
                row_u64(a, v2 ? "memory.max" : "memory/memory.limit_in_bytes", l->memory, "limits.memory");
                any = true;
        }
        if (tf_limit_is_set(l->memory_high)) {
                if (!v2)
                        row_refused(a, "limits.memory_high", "cgroup v1 has no memory.high");
                else if (l->memory_high != TF_LIMIT_MAX)
                        row_u64(a, "memory.high", l->memory_high, "limits.memory_high");
                any = true;
        }
        bool derived = tf_limit_is_finite(l->memory) && !tf_limit_is_set(l->memory_swap);
        if (derived || tf_limit_is_finite(l->memory_swap)) {
                uint64_t swap = derived ? l->memory : l->memory_swap;
                const char *key = derived ? "limits.memory" : "limits.memory_swap";
                const char *note = derived ? "swap as large as memory" : NULL;
                if (v2)
                        row_u64_note(a, "memory.swap.max", swap, key, note);
                else if (!tf_limit_is_finite(l->memory))
                        row_refused(a, "limits.memory_swap", "v1 needs limits.memory too");
                else
                        row_u64_note(a, "memory/memory.memsw.limit_in_bytes", l->memory + swap, key, note);
                any = true;
        }
        if (tf_limit_is_finite(l->pids)) {
                row_u64(a, v2 ? "pids.max" : "pids/pids.max", l->pids, "limits.pids");
                any = true;
        }
        if (tf_limit_is_set(l->io_weight)) {
                if (v2) {
                        snprintf(b, sizeof(b), "default %" PRIu64, l->io_weight);
                        row(a, "io.weight", b, "limits.io_weight");
                } else {
                        uint64_t w = l->io_weight * 500 / 100;
                        w = w < 10 ? 10 : w > 1000 ? 1000 : w;
                        row_u64_note(a, "blkio/blkio.weight", w, "limits.io_weight", "or blkio.bfq.weight");
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
                        row(a, "io.max", b, "limits.io");
                } else
                        for (size_t k = 0; k < ELEMENTSOF(v); k++)
                                if (tf_limit_is_finite(v[k])) {
                                        snprintf(b, sizeof(b), "<%s> %" PRIu64, io->device, v[k]);
                                        row(a, v1file[k], b, "limits.io");
                                }
                any = true;
        }
        if (!any && !a)
                puts("  (no limit: nothing written)");
}

static json_t *strv_json(const char *const *v) {
        json_t *a = json_array();
        for (size_t i = 0; v && v[i]; i++)
                json_array_append_new(a, json_string(v[i]));
        return a;
}

static void sandbox_native(const struct tf_spec *s, json_t *j) {
        const struct tf_sandbox *sb = &s->sandbox;
        if (!j)
                puts("sandbox (native):");
        if (sb->host) {
                if (j)
                        json_object_set_new(j, "sandbox", json_string("host"));
                else
                        puts("  none (sandbox: host): the plain child of tfrun");
                return;
        }
        const char *ns[] = {"mount",
                            sb->pid != TF_PID_HOST ? "pid" : NULL,
                            sb->ipc == TF_NS_PRIVATE ? "ipc" : NULL,
                            sb->uts == TF_NS_PRIVATE ? "uts" : NULL,
                            sb->cgroupns == TF_NS_PRIVATE ? "cgroup" : NULL,
                            sb->network == TF_NETWORK_NONE ? "net" : NULL};
        uint64_t caps = tf_export_capabilities(s);
        _cleanup_strv_free_ char **cond = NULL;
        _cleanup_strv_free_ char **names =
                sb->seccomp == TF_SECCOMP_DEFAULT ? tf_export_default_syscalls(caps, &cond) : NULL;
        const char *network =
                sb->network == TF_NETWORK_UNSET ? "the host's" : tf_network_mode_name(sb->network);
        bool masked = sb->system_paths == TF_SYSTEM_PATHS_MASKED;
        if (j) {
                json_t *a = json_array();
                for (size_t i = 0; i < ELEMENTSOF(ns); i++)
                        if (ns[i])
                                json_array_append_new(a, json_string(ns[i]));
                json_t *sc = json_object();
                switch (sb->seccomp) {
                case TF_SECCOMP_DEFAULT:
                        json_object_set_new(sc, "mode", json_string("default"));
                        json_object_set_new(sc, "revision", json_string(tf_seccomp_default_revision));
                        json_object_set_new(sc, "allowed", json_integer((json_int_t)tf_strv_length(names)));
                        json_object_set_new(sc, "conditional", strv_json((const char *const *)cond));
                        json_object_set_new(sc, "newer_syscalls", json_string("ENOSYS"));
                        json_object_set_new(sc, "other_syscalls", json_string("EPERM"));
                        break;
                case TF_SECCOMP_UNCONFINED:
                        json_object_set_new(sc, "mode", json_string("unconfined"));
                        break;
                case TF_SECCOMP_PROFILE:
                        json_object_set_new(sc, "mode", json_string("profile"));
                        json_object_set_new(sc, "profile", json_string(sb->seccomp_profile));
                        break;
                }
                json_t *cj = json_array();
                for (unsigned i = 0; i < TF_CAP_COUNT; i++)
                        if (caps & (UINT64_C(1) << i))
                                json_array_append_new(cj, json_string(tf_cap_name(i)));
                json_t *mounts = json_array();
                for (size_t i = 0; i < s->n_mounts; i++) {
                        const struct tf_mount *m = &s->mounts[i];
                        json_array_append_new(mounts, json_pack("{s:s,s:s,s:b}", "source", m->source,
                                                                "target", m->target, "read_only",
                                                                m->read_only));
                }
                json_object_set_new(j, "sandbox", json_string("default"));
                json_object_set_new(j, "namespaces", a);
                json_object_set_new(j, "user_namespace", json_string("when tfrun is not root"));
                json_object_set_new(j, "init", json_boolean(sb->pid != TF_PID_HOST));
                json_object_set_new(j, "seccomp", sc);
                json_object_set_new(j, "capabilities", cj);
                json_object_set_new(j, "cap_add_ambient", json_boolean(sb->cap_ambient));
                json_object_set_new(j, "no_new_privileges", json_boolean(sb->no_new_privileges));
                json_object_set_new(j, "network", json_string(network));
                if (masked) {
                        json_t *ro = strv_json(tf_sandbox_readonly_paths);
                        json_array_append_new(ro, json_string("/sys"));
                        json_object_set_new(j, "system_paths",
                                            json_pack("{s:s,s:o,s:o,s:s}", "mode", "masked", "masked",
                                                      strv_json(tf_sandbox_masked_paths), "read_only", ro,
                                                      "revision", tf_sandbox_system_paths_revision));
                } else
                        json_object_set_new(j, "system_paths", json_pack("{s:s}", "mode", "unconfined"));
                json_object_set_new(j, "read_only_root", json_boolean(sb->read_only_root));
                json_object_set_new(j, "private_tmp", json_boolean(sb->private_tmp));
                json_object_set_new(j, "mounts", mounts);
                json_object_set_new(j, "rlimit_nofile", tf_limit_is_finite(s->limits.nofile)
                                                                ? json_integer((json_int_t)s->limits.nofile)
                                                                : json_null());
                return;
        }
        printf("  namespaces:       ");
        for (size_t i = 0; i < ELEMENTSOF(ns); i++)
                if (ns[i])
                        printf(" %s", ns[i]);
        puts(" (+ user when tfrun is not root)");
        if (sb->pid != TF_PID_HOST)
                puts("  pid 1:             tfrun's minimal init; the service is pid 2");
        switch (sb->seccomp) {
        case TF_SECCOMP_DEFAULT: {
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
        printf("  network:           %s\n", network);
        if (masked) {
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

/* A JSON value printed indented by two, as the human output shows bodies. */
static void print_indented(json_t *v) {
        _cleanup_free_ char *text = json_dumps(v, JSON_INDENT(2));
        for (char *line = text, *nl; line && *line; line = nl ? nl + 1 : NULL) {
                nl = strchr(line, '\n');
                printf("  %.*s\n", nl ? (int)(nl - line) : (int)strlen(line), line);
        }
}

/* backend swarm: the POST /services/create body, or what it refuses (for every API version tfrun speaks). */
static void swarm_body(const struct tf_spec *s, json_t *j) {
        _cleanup_(json_decrefp) json_t *body = NULL;
        _cleanup_error_ tf_error *e = NULL;
        int r = tf_docker_service_body(s, NULL, 0, &body, &e);
        if (j) {
                if (r < 0)
                        json_object_set_new(j, "refused", json_string(e->msg));
                else
                        json_object_set(j, "service_spec", body);
                return;
        }
        puts("swarm: POST /services/create body:");
        if (r < 0)
                printf("  refused: %s\n", e->msg);
        else
                print_indented(body);
}

static void docker_body(const struct tf_spec *s, json_t *j) {
        const struct tf_docker_pinned pinned = {.seccomp_profile = tf_seccomp_default_profile,
                                                .masked_paths = tf_sandbox_masked_paths,
                                                .readonly_paths = tf_sandbox_readonly_paths};
        _cleanup_(json_decrefp) json_t *body = NULL;
        _cleanup_error_ tf_error *e = NULL;
        if (!j)
                puts("docker: POST /containers/create body:");
        if (tf_docker_create_body(s, NULL, &pinned, &body, &e) < 0) {
                if (j)
                        json_object_set_new(j, "refused", json_string(e->msg));
                else
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
        bool inherit = !tf_limit_is_finite(s->limits.nofile);
        if (j) {
                json_object_set(j, "create_body", body);
                json_object_set_new(j, "nofile_from_tfrun", json_boolean(inherit));
                return;
        }
        print_indented(body);
        if (inherit)
                puts("  (without limits.nofile the backend also sends HostConfig.Ulimits nofile = tfrun's own "
                     "RLIMIT_NOFILE, what a native job inherits: host-dependent, not shown)");
}

static void print_lines(char *text) {
        for (char *save = NULL, *line = strtok_r(text, "\n", &save); line;
             line = strtok_r(NULL, "\n", &save))
                printf("  %s\n", line);
}

static void systemd_units(const struct tf_spec *s, json_t *j) {
        struct tf_export_unit u;
        _cleanup_error_ tf_error *e = NULL;
        if (tf_export_systemd(s, NULL, &u, &e) < 0) {
                if (j)
                        json_object_set_new(j, "refused", json_string(e->msg));
                else
                        printf("systemd:\n  refused: %s\n", e->msg);
                return;
        }
        if (j) {
                json_t *gaps = json_array();
                for (size_t i = 0; i < u.n_gaps; i++)
                        json_array_append_new(gaps, json_pack("{s:s,s:s}", "key", u.gaps[i].key, "why",
                                                              u.gaps[i].why));
                json_object_set_new(j, "service_name", json_sprintf("%s.service", s->name));
                json_object_set_new(j, "service", json_string(u.service));
                json_object_set_new(j, "timer_name",
                                    u.timer ? json_sprintf("%s.timer", s->name) : json_null());
                json_object_set_new(j, "timer", u.timer ? json_string(u.timer) : json_null());
                json_object_set_new(j, "seccomp_file", u.seccomp_file && u.seccomp_json
                                                               ? json_string(u.seccomp_file)
                                                               : json_null());
                json_object_set_new(j, "inexact", gaps);
        } else {
                printf("systemd: %s.service:\n", s->name);
                print_lines(u.service);
                if (u.timer) {
                        printf("systemd: %s.timer:\n", s->name);
                        print_lines(u.timer);
                }
        }
        tf_export_unit_done(&u);
}

/* {epoch, epoch_usec, utc (ISO 8601), local (as `tfrun next` prints it)}. */
static json_t *time_json(uint64_t t) {
        char local[96], iso[64];
        time_t secs = (time_t)(t / TF_USEC_PER_SEC);
        struct tm tm;
        gmtime_r(&secs, &tm);
        size_t n = strftime(iso, sizeof(iso), "%Y-%m-%dT%H:%M:%S", &tm);
        if (t % TF_USEC_PER_SEC)
                n += (size_t)snprintf(iso + n, sizeof(iso) - n, ".%06" PRIu64, t % TF_USEC_PER_SEC);
        snprintf(iso + n, sizeof(iso) - n, "Z");
        tf_sched_format_timestamp(local, sizeof(local), t, tf_tz_local(), false);
        return json_pack("{s:I,s:I,s:s,s:s}", "epoch", (json_int_t)secs, "epoch_usec", (json_int_t)t, "utc",
                         iso, "local", local);
}

static void fire_times(const struct tf_spec *s, uint64_t base, bool given, unsigned n, json_t *j) {
        if (!s->schedule.present) {
                if (!j)
                        puts("schedule: none (runs once when started)");
                return;
        }
        struct tf_fire_plan *plan = NULL;
        _cleanup_error_ tf_error *e = NULL;
        if (j) {
                json_object_set_new(j, "after", time_json(base));
                json_object_set_new(j, "after_given", json_boolean(given));
        } else
                printf("schedule: first fire times after %s (as `tfrun next` shows them; randomized_delay "
                       "not applied):\n",
                       given ? "--base-time" : "now");
        if (tf_fire_plan_new(s, base, &plan, &e) < 0) {
                if (j)
                        json_object_set_new(j, "refused", json_string(e->msg));
                else
                        printf("  refused: %s\n", e->msg);
                return;
        }
        bool reboot = tf_fire_plan_has_reboot(plan);
        json_t *paths = j ? json_array() : NULL, *fires = j ? json_array() : NULL;
        if (reboot && !j)
                puts("  @reboot (at start)");
        for (size_t i = 0; i < s->schedule.n_paths; i++) {
                const char *kind = tf_path_kind_name(s->schedule.paths[i].kind);
                if (j)
                        json_array_append_new(paths, json_pack("{s:s,s:s}", "kind", kind, "path",
                                                               s->schedule.paths[i].path));
                else
                        printf("  path: %s %s (when it happens)\n", kind, s->schedule.paths[i].path);
        }
        uint64_t t = base;
        for (unsigned i = 0; i < n; i++) {
                if (tf_fire_plan_next(plan, t, &t) < 0) {
                        if (i == 0 && s->schedule.n_paths == 0 && !j)
                                puts("  (none: this schedule never fires)");
                        break;
                }
                if (j) {
                        json_array_append_new(fires, time_json(t));
                        continue;
                }
                char buf[96];
                tf_sched_format_timestamp(buf, sizeof(buf), t, tf_tz_local(), false);
                printf("  %s\n", buf);
        }
        if (j) {
                json_object_set_new(j, "reboot", json_boolean(reboot));
                json_object_set_new(j, "paths", paths);
                json_object_set_new(j, "fires", fires);
                json_object_set_new(j, "randomized_delay_applied", json_false());
        }
        tf_fire_plan_free(plan);
}

/* A new object under `key` of `parent` (borrowed), or NULL without --json. */
static json_t *part(json_t *parent, const char *key) {
        if (!parent)
                return NULL;
        json_t *o = json_object();
        json_object_set_new(parent, key, o);
        return o;
}

int tf_cmd_explain(int argc, char **argv) {
        static const struct option longopts[] = {
                {"backend", required_argument, NULL, 'b'},
                {"base-time", required_argument, NULL, 't'},
                {"json", no_argument, NULL, 'j'},
                {"help", no_argument, NULL, 'h'},
                {},
        };
        const char *backend = NULL, *base_s = NULL;
        bool json = false;
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
                case 'j':
                        json = true;
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
                        puts("Usage: tfrun explain SPEC [--backend native|docker|swarm|systemd] [-n N] "
                             "[--base-time T] [--json]\n\n"
                             "Show what SPEC becomes on each backend: the cgroup files and values (v2 and "
                             "v1),\n"
                             "the sandbox (namespaces, seccomp, capabilities), the Docker create body, the\n"
                             "systemd units, and the first N (5) fire times. Computed from the spec alone.\n"
                             "--json: the same as one JSON object (see docs/export.md).");
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
        _cleanup_(json_decrefp) json_t *j = NULL;
        if (json)
                j = json_pack("{s:s,s:s,s:s,s:b,s:s?}", "spec", spec->path, "service", spec->name, "backend",
                              tf_backend_name(spec->resolved_backend), "backend_auto",
                              spec->backend == TF_BACKEND_AUTO, "only", backend);
        else
                printf("%s: service %s, backend %s%s\n", spec->path, spec->name,
                       tf_backend_name(spec->resolved_backend),
                       spec->backend == TF_BACKEND_AUTO ? " (auto)" : "");
        if (!backend || streq(backend, "native") || streq(backend, "docker")) {
                bool engine = spec->resolved_backend == TF_BACKEND_DOCKER ||
                              spec->resolved_backend == TF_BACKEND_SWARM;
                json_t *cg = part(j, "cgroup");
                if (cg) {
                        json_object_set_new(cg, "written_by", json_string(engine ? "engine" : "tfrun"));
                        json_object_set_new(cg, "v2", json_array());
                        json_object_set_new(cg, "v1", json_array());
                } else if (engine)
                        puts("(a container: the engine writes these files for it, with the same values)");
                cgroup_files(spec, true, json_object_get(cg, "v2"));
                cgroup_files(spec, false, json_object_get(cg, "v1"));
        }
        if ((!backend && spec->resolved_backend == TF_BACKEND_NATIVE) ||
            (backend && streq(backend, "native"))) {
                json_t *nat = part(j, "native");
                if (!spec->image)
                        sandbox_native(spec, nat);
                else if (nat)
                        json_object_set_new(nat, "refused",
                                            json_string("image: the native backend does not run images"));
                else
                        puts("sandbox (native):\n  refused: image: the native backend does not run images");
        }
        if ((!backend && spec->image) || (backend && streq(backend, "docker")))
                docker_body(spec, part(j, "docker"));
        if ((!backend && spec->resolved_backend == TF_BACKEND_SWARM) || (backend && streq(backend, "swarm")))
                swarm_body(spec, part(j, "swarm"));
        if (!backend || streq(backend, "systemd"))
                systemd_units(spec, part(j, "systemd"));
        if (j) {
                /* null without a schedule: the spec runs once when started. */
                if (spec->schedule.present)
                        fire_times(spec, base, base_s != NULL, n, part(j, "schedule"));
                else
                        json_object_set_new(j, "schedule", json_null());
                _cleanup_free_ char *text = json_dumps(j, JSON_INDENT(2));
                puts(text);
        } else
                fire_times(spec, base, base_s != NULL, n, NULL);
        return 0;
}
