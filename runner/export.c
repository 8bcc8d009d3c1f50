/* SPDX-License-Identifier: MIT */
/*
 * A spec as systemd units (docs/export.md): a .service of Type=oneshot with the same limits and sandbox
 * in systemd's words, and a .timer for a schedule. The target is systemd 252 (Debian 12) on cgroup v2;
 * what that systemd cannot say exactly is a gap: a "# inexact:" comment in the unit, and a refusal with
 * --strict. A container spec becomes a `docker run` with the flags that say what tfrun's create body
 * says (the body is built by docker/body.c and translated key by key, so that a key without a flag is a
 * gap, never dropped).
 */
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/cleanup.h"
#include "base/parse.h"
#include "base/strutil.h"
#include "config.h"
#include "docker/docker.h"
#include "runner/export.h"
#include "sandbox/sandbox.h"
#include "schedule/schedule.h"
#include "spec/caps.h"
#include "spec/limits.h"

#define CAPBIT(c) (UINT64_C(1) << (c))

/* sandbox/sandbox.c's tables (moby oci/caps/defaults.go, and cap_add: [ALL] as Docker 20.10 knows it). */
static const uint64_t docker_default_caps =
        CAPBIT(CAP_CHOWN) | CAPBIT(CAP_DAC_OVERRIDE) | CAPBIT(CAP_FSETID) | CAPBIT(CAP_FOWNER) |
        CAPBIT(CAP_MKNOD) | CAPBIT(CAP_NET_RAW) | CAPBIT(CAP_SETGID) | CAPBIT(CAP_SETUID) |
        CAPBIT(CAP_SETFCAP) | CAPBIT(CAP_SETPCAP) | CAPBIT(CAP_NET_BIND_SERVICE) | CAPBIT(CAP_SYS_CHROOT) |
        CAPBIT(CAP_KILL) | CAPBIT(CAP_AUDIT_WRITE);
#define DOCKER_ALL_CAPS (CAPBIT(CAP_AUDIT_READ + 1) - 1)

/* Masked paths that are directories (an empty read-only tmpfs natively); the others are files (/dev/null
 * bound over them). Fixed here so that the unit does not depend on the exporting host's /proc. */
static const char *const masked_dirs[] = {"/proc/asound", "/proc/acpi", "/proc/scsi", "/sys/firmware", NULL};

#if defined(__x86_64__)
#define NATIVE_ARCH "amd64"
#elif defined(__aarch64__)
#define NATIVE_ARCH "arm64"
#else
#define NATIVE_ARCH "unknown"
#endif

char *tf_export_span(char *buf, size_t len, uint64_t usec) {
        if (usec % 1000000 == 0)
                snprintf(buf, len, "%" PRIu64 "s", usec / 1000000);
        else
                snprintf(buf, len, "%" PRIu64 "us", usec);
        return buf;
}

static void mask_list(char **list, uint64_t *mask, bool *all) {
        for (size_t i = 0; list && list[i]; i++) {
                if (streq(list[i], "ALL"))
                        *all = true;
                else {
                        int n = tf_cap_number(list[i]);
                        if (n >= 0)
                                *mask |= CAPBIT(n);
                }
        }
}

uint64_t tf_export_capabilities(const struct tf_spec *s) {
        uint64_t add = 0, drop = 0;
        bool add_all = false, drop_all = false;
        mask_list(s->sandbox.cap_drop, &drop, &drop_all);
        mask_list(s->sandbox.cap_add, &add, &add_all);
        if (add_all)
                return (DOCKER_ALL_CAPS | add) & ~drop;
        if (drop_all)
                return add;
        return (docker_default_caps & ~drop) | add;
}

static bool strings_contain(json_t *arr, const char *s) {
        size_t i;
        json_t *v;
        json_array_foreach(arr, i, v) if (json_is_string(v) && streq(json_string_value(v), s)) return true;
        return false;
}

static bool caps_hold(json_t *arr, uint64_t caps, bool all) {
        size_t i;
        json_t *v;
        bool any = false;
        json_array_foreach(arr, i, v) {
                const char *n = json_string_value(v);
                int c = n && tf_startswith(n, "CAP_") ? tf_cap_number(n + 4) : -1;
                bool held = c >= 0 && (caps & CAPBIT(c));
                if (all && !held)
                        return false;
                any |= held;
        }
        return all ? true : any;
}

static int cmp_str(const void *a, const void *b) {
        return strcmp(*(char *const *)a, *(char *const *)b);
}

static void push_unique(char ***v, const char *s) {
        if (!tf_strv_contains(*v, s))
                tf_strv_push(v, s);
}

/* moby's setupSeccomp() filter, as sandbox.c applies it: a rule counts when its includes hold (arches,
 * caps; minKernel is taken as met: every kernel tfrun runs on is newer than the profile's 4.8) and its
 * excludes do not, and it allows. */
static bool rule_allows(json_t *rule, uint64_t caps) {
        json_t *inc = json_object_get(rule, "includes"), *exc = json_object_get(rule, "excludes"), *a;
        if ((a = json_object_get(inc, "arches")) && !strings_contain(a, NATIVE_ARCH))
                return false;
        if ((a = json_object_get(inc, "caps")) && !caps_hold(a, caps, true))
                return false;
        if ((a = json_object_get(exc, "arches")) && strings_contain(a, NATIVE_ARCH))
                return false;
        if ((a = json_object_get(exc, "caps")) && caps_hold(a, caps, false))
                return false;
        const char *action = json_string_value(json_object_get(rule, "action"));
        return action && streq(action, "SCMP_ACT_ALLOW");
}

char **tf_export_default_syscalls(uint64_t caps, char ***ret_conditional) {
        json_error_t je;
        _cleanup_(json_decrefp) json_t *root = json_loads(tf_seccomp_default_profile, 0, &je);
        json_t *rules = json_object_get(root, "syscalls");
        char **allow = NULL, **cond = NULL, **plain = NULL;
        size_t i, j;
        json_t *rule, *n;
        json_array_foreach(rules, i, rule) {
                if (!rule_allows(rule, caps))
                        continue;
                bool has_args = json_array_size(json_object_get(rule, "args")) > 0;
                json_array_foreach(json_object_get(rule, "names"), j, n) {
                        const char *name = json_string_value(n);
                        if (!name)
                                continue;
                        push_unique(&allow, name);
                        push_unique(has_args ? &cond : &plain, name);
                }
        }
        /* A name some rule allows unconditionally is not conditional. */
        char **only_cond = NULL;
        for (size_t k = 0; cond && cond[k]; k++)
                if (!tf_strv_contains(plain, cond[k]))
                        tf_strv_push(&only_cond, cond[k]);
        tf_strv_free(plain);
        tf_strv_free(cond);
        if (allow)
                qsort(allow, tf_strv_length(allow), sizeof(char *), cmp_str);
        if (ret_conditional)
                *ret_conditional = only_cond;
        else
                tf_strv_free(only_cond);
        return allow;
}

/* ---- the unit's text ---- */

struct ctx {
        const struct tf_spec *s;
        FILE *f;
        struct tf_export_unit *u;
};

static void gap(struct ctx *c, const char *key, struct tf_pos pos, const char *fmt, ...)
        __attribute__((format(printf, 4, 5)));
static void gap(struct ctx *c, const char *key, struct tf_pos pos, const char *fmt, ...) {
        va_list ap;
        char *why = NULL;
        va_start(ap, fmt);
        if (vasprintf(&why, fmt, ap) < 0)
                tf_oom();
        va_end(ap);
        c->u->gaps = tf_realloc(c->u->gaps, (c->u->n_gaps + 1) * sizeof(*c->u->gaps));
        c->u->gaps[c->u->n_gaps++] = (struct tf_export_gap){.key = tf_strdup(key), .why = why, .pos = pos};
}

/* A word for a command line or an assignment: double-quoted, with systemd's C escapes; % doubled (every
 * setting expands specifiers) and, in command lines, $ doubled (ExecStart= expands variables). */
static void put_quoted(FILE *f, const char *w, bool exec) {
        /* A word that is a lone ';' separates commands in ExecStart=, quoted or not: systemd's escape. */
        if (exec && streq(w, ";")) {
                fputs("\\;", f);
                return;
        }
        fputc('"', f);
        for (const unsigned char *p = (const unsigned char *)w; *p; p++) {
                switch (*p) {
                case '"':
                        fputs("\\\"", f);
                        break;
                case '\\':
                        fputs("\\\\", f);
                        break;
                case '\n':
                        fputs("\\n", f);
                        break;
                case '\t':
                        fputs("\\t", f);
                        break;
                case '%':
                        fputs("%%", f);
                        break;
                case '$':
                        fputs(exec ? "$$" : "$", f);
                        break;
                default:
                        if (*p < 0x20 || *p == 0x7f)
                                fprintf(f, "\\x%02x", *p);
                        else
                                fputc(*p, f);
                }
        }
        fputc('"', f);
}

/* A path in a space-separated list setting: specifiers doubled, blanks and backslashes escaped. */
static void put_path(FILE *f, const char *p) {
        for (; *p; p++) {
                if (*p == '%')
                        fputs("%%", f);
                else if (*p == ' ')
                        fputs("\\x20", f);
                else if (*p == '\\')
                        fputs("\\\\", f);
                else if (*p == ':')
                        fputs("\\:", f);
                else
                        fputc(*p, f);
        }
}

static void put_caps(FILE *f, uint64_t caps) {
        bool first = true;
        for (unsigned i = 0; i < TF_CAP_COUNT; i++)
                if (caps & CAPBIT(i)) {
                        fprintf(f, "%sCAP_%s", first ? "" : " ", tf_cap_name(i));
                        first = false;
                }
}

static void limits_native(struct ctx *c) {
        const struct tf_limits *l = &c->s->limits;
        FILE *f = c->f;
        char b[32];
        if (tf_limit_is_finite(l->cpu_quota_usec)) {
                uint64_t period =
                        tf_limit_is_set(l->cpu_period_usec) ? l->cpu_period_usec : TF_CPU_PERIOD_USEC;
                /* CPUQuota= is a percentage with two decimals at most: exact for quota/period in 1/10000. */
                uint64_t hundredths = l->cpu_quota_usec * 10000 / period;
                if (hundredths * period != l->cpu_quota_usec * 10000)
                        gap(c, "limits.cpus", l->pos_cpus,
                            "CPUQuota= takes a percentage with two decimals; %.4f%% rounded down",
                            (double)l->cpu_quota_usec * 100 / (double)period);
                if (hundredths % 100)
                        fprintf(f, "CPUQuota=%" PRIu64 ".%02" PRIu64 "%%\n", hundredths / 100,
                                hundredths % 100);
                else
                        fprintf(f, "CPUQuota=%" PRIu64 "%%\n", hundredths / 100);
                if (period != TF_CPU_PERIOD_USEC)
                        fprintf(f, "CPUQuotaPeriodSec=%s\n", tf_export_span(b, sizeof(b), period));
        }
        if (tf_limit_is_set(l->cpu_weight))
                fprintf(f, "CPUWeight=%" PRIu64 "\n", l->cpu_weight);
        if (l->cpuset)
                fprintf(f, "AllowedCPUs=%s\n", l->cpuset);
        if (tf_limit_is_set(l->memory)) {
                if (l->memory == TF_LIMIT_MAX)
                        fputs("MemoryMax=infinity\n", f);
                else
                        fprintf(f, "MemoryMax=%" PRIu64 "\n", l->memory);
        }
        if (tf_limit_is_set(l->memory_high)) {
                if (l->memory_high == TF_LIMIT_MAX)
                        fputs("MemoryHigh=infinity\n", f);
                else
                        fprintf(f, "MemoryHigh=%" PRIu64 "\n", l->memory_high);
        }
        /* Swap as large as memory when only memory is given: Docker's default, which tfrun writes too. */
        uint64_t swap = tf_limit_is_set(l->memory_swap) ? l->memory_swap
                        : tf_limit_is_finite(l->memory) ? l->memory
                                                        : TF_UNSET;
        if (swap == TF_LIMIT_MAX)
                fputs("MemorySwapMax=infinity\n", f);
        else if (tf_limit_is_set(swap))
                fprintf(f, "MemorySwapMax=%" PRIu64 "\n", swap);
        if (tf_limit_is_set(l->pids)) {
                if (l->pids == TF_LIMIT_MAX)
                        fputs("TasksMax=infinity\n", f);
                else
                        fprintf(f, "TasksMax=%" PRIu64 "\n", l->pids);
        }
        if (tf_limit_is_set(l->io_weight))
                fprintf(f, "IOWeight=%" PRIu64 "\n", l->io_weight);
        for (size_t i = 0; i < l->n_io; i++) {
                const struct tf_io_limit *io = &l->io[i];
                const char *const keys[] = {"IOReadBandwidthMax", "IOWriteBandwidthMax", "IOReadIOPSMax",
                                            "IOWriteIOPSMax"};
                const uint64_t v[] = {io->read_bps, io->write_bps, io->read_iops, io->write_iops};
                for (size_t k = 0; k < ELEMENTSOF(v); k++) {
                        if (!tf_limit_is_set(v[k]))
                                continue;
                        fprintf(f, "%s=", keys[k]);
                        put_path(f, io->device);
                        if (v[k] == TF_LIMIT_MAX)
                                fputs(" infinity\n", f);
                        else
                                fprintf(f, " %" PRIu64 "\n", v[k]);
                }
        }
        if (tf_limit_is_finite(l->nofile))
                fprintf(f, "LimitNOFILE=%" PRIu64 "\n", l->nofile);
        else if (l->nofile == TF_LIMIT_MAX)
                fputs("LimitNOFILE=infinity\n", f);
}

static void sandbox_native(struct ctx *c) {
        const struct tf_spec *s = c->s;
        const struct tf_sandbox *sb = &s->sandbox;
        FILE *f = c->f;
        if (sb->host) {
                fputs("# sandbox: host: no sandbox, as natively\n", f);
                return;
        }
        uint64_t caps = tf_export_capabilities(s);
        fputs("CapabilityBoundingSet=", f);
        put_caps(f, caps);
        fputc('\n', f);
        if (sb->cap_ambient) {
                uint64_t add = 0;
                bool all = false;
                mask_list(sb->cap_add, &add, &all);
                fputs("AmbientCapabilities=", f);
                put_caps(f, add & caps);
                fputc('\n', f);
        }
        if (sb->no_new_privileges)
                fputs("NoNewPrivileges=yes\n", f);
        else if (s->user && !streq(s->user, "0") && !tf_startswith(s->user, "0:") && !streq(s->user, "root") &&
                 !tf_startswith(s->user, "root:"))
                gap(c, "sandbox.no_new_privileges", s->pos_sandbox,
                    "systemd implies NoNewPrivileges=yes for a service with User= and a syscall filter, "
                    "namespace or personality restriction");
        switch (sb->seccomp) {
        case TF_SECCOMP_DEFAULT: {
                _cleanup_strv_free_ char **cond = NULL;
                _cleanup_strv_free_ char **names = tf_export_default_syscalls(caps, &cond);
                fprintf(f, "# seccomp: default, %s, for the capabilities above\n",
                        tf_seccomp_default_revision);
                /* clone3 answers ENOSYS under the profile unless CAP_SYS_ADMIN (glibc then falls back on
                 * clone): RestrictNamespaces= makes it ENOSYS too, if the allow-list lets it through. */
                if (tf_strv_contains(cond, "clone") && !tf_strv_contains(names, "clone3")) {
                        tf_strv_push(&names, "clone3");
                        qsort(names, tf_strv_length(names), sizeof(char *), cmp_str);
                }
                fputs("SystemCallFilter=", f);
                for (size_t i = 0; names && names[i]; i++)
                        fprintf(f, "%s%s", i ? " " : "", names[i]);
                fputc('\n', f);
                fputs("SystemCallErrorNumber=EPERM\nSystemCallArchitectures=native\n", f);
                /* The profile's argument conditions, in the words systemd has for each. */
                if (tf_strv_contains(cond, "clone"))
                        fputs("RestrictNamespaces=yes\n", f);
                if (tf_strv_contains(cond, "personality"))
                        fputs("LockPersonality=yes\n", f);
                if (tf_strv_contains(cond, "socket"))
                        fputs("RestrictAddressFamilies=~AF_VSOCK\n", f);
                gap(c, "sandbox.seccomp", sb->pos_seccomp,
                    "the default profile's argument conditions become RestrictNamespaces= (clone, clone3, "
                    "unshare), LockPersonality= (personality) and RestrictAddressFamilies=~AF_VSOCK "
                    "(socket: "
                    "EAFNOSUPPORT, not EPERM); syscalls newer than the profile answer EPERM, not ENOSYS");
                break;
        }
        case TF_SECCOMP_UNCONFINED:
                fputs("# seccomp: unconfined\n", f);
                break;
        case TF_SECCOMP_PROFILE:
                gap(c, "sandbox.seccomp", sb->pos_seccomp,
                    "a profile file (%s) is not translated into SystemCallFilter=; the unit has no syscall "
                    "filter",
                    sb->seccomp_profile);
                break;
        }
        /* Namespaces. systemd 252 has no PrivatePIDs= (257) and no cgroup namespace setting. */
        if (sb->pid != TF_PID_HOST)
                gap(c, "sandbox.pid", sb->pos_pid,
                    "systemd 252 has no private pid namespace (PrivatePIDs= needs systemd 257); the "
                    "service sees the host's processes");
        if (sb->ipc == TF_NS_PRIVATE)
                fputs("PrivateIPC=yes\n", f);
        if (sb->uts == TF_NS_PRIVATE)
                fputs("ProtectHostname=yes\n", f);
        if (sb->cgroupns == TF_NS_PRIVATE)
                gap(c, "sandbox.cgroupns", sb->pos_cgroupns,
                    "systemd has no private cgroup namespace; ProtectControlGroups=yes makes the cgroup "
                    "tree read-only, but the service sees its place in it");
        fputs("ProtectControlGroups=yes\n", f);
        switch (sb->network) {
        case TF_NETWORK_NONE:
                fputs("PrivateNetwork=yes\n", f);
                break;
        case TF_NETWORK_UNSET:
        case TF_NETWORK_HOST:
                break;
        default:
                gap(c, "sandbox.network", sb->pos_network,
                    "a Docker network ('%s') exists only for containers",
                    sb->network == TF_NETWORK_NAMED ? sb->network_name : tf_network_mode_name(sb->network));
        }
        if (sb->system_paths == TF_SYSTEM_PATHS_MASKED) {
                fprintf(f, "# system paths: %s\n", tf_sandbox_system_paths_revision);
                for (size_t i = 0; tf_sandbox_masked_paths[i]; i++) {
                        bool dir = tf_strv_contains((char **)masked_dirs, tf_sandbox_masked_paths[i]);
                        if (dir)
                                fprintf(f, "InaccessiblePaths=-%s\n", tf_sandbox_masked_paths[i]);
                        else
                                fprintf(f, "BindReadOnlyPaths=-/dev/null:%s\n", tf_sandbox_masked_paths[i]);
                }
                gap(c, "sandbox.system_paths", s->pos_sandbox,
                    "masked directories become InaccessiblePaths= (listing them fails with EACCES) where "
                    "tfrun mounts an empty tmpfs");
                for (size_t i = 0; tf_sandbox_readonly_paths[i]; i++)
                        fprintf(f, "ReadOnlyPaths=-%s\n", tf_sandbox_readonly_paths[i]);
                fputs("ReadOnlyPaths=/sys\n", f);
        }
        if (sb->read_only_root) {
                fputs("ReadOnlyPaths=/\nReadWritePaths=-/dev/shm -/dev/pts -/dev/mqueue\n", f);
                gap(c, "sandbox.read_only_root", s->pos_sandbox,
                    "ReadOnlyPaths=/ also makes /proc read-only, which tfrun leaves writable");
        }
        if (sb->private_tmp)
                fputs("TemporaryFileSystem=/tmp:mode=1777,nosuid,nodev\n", f);
        for (size_t i = 0; i < s->n_mounts; i++) {
                const struct tf_mount *m = &s->mounts[i];
                fputs(m->read_only ? "BindReadOnlyPaths=" : "BindPaths=", f);
                put_path(f, m->source);
                fputc(':', f);
                put_path(f, m->target);
                fputc('\n', f);
        }
        if (s->n_mounts)
                gap(c, "mounts", s->pos_mounts,
                    "systemd follows symbolic links in bind sources, which tfrun refuses, and creates "
                    "missing "
                    "targets");
}

static void put_user(struct ctx *c) {
        const struct tf_spec *s = c->s;
        if (!s->user)
                return;
        size_t n = strcspn(s->user, ":");
        fprintf(c->f, "User=%.*s\n", (int)n, s->user);
        if (s->user[n] == ':')
                fprintf(c->f, "Group=%s\n", s->user + n + 1);
}

static void put_env(struct ctx *c) {
        for (size_t i = 0; c->s->env && c->s->env[i]; i++) {
                fputs("Environment=", c->f);
                put_quoted(c->f, c->s->env[i], false);
                fputc('\n', c->f);
        }
        if (c->s->env_files && c->s->env_files[0])
                fputs("# env_file: its variables are written above as read at export\n", c->f);
}

static void put_stop_and_timeout(struct ctx *c, bool simple) {
        const struct tf_spec *s = c->s;
        char b[32];
        const char *sig = tf_signal_name(s->stop_signal);
        if (sig)
                fprintf(c->f, "KillSignal=%s\n", sig);
        fprintf(c->f, "TimeoutStopSec=%s\n", tf_export_span(b, sizeof(b), s->stop_grace_usec));
        const char *key = simple ? "RuntimeMaxSec" : "TimeoutStartSec";
        if (tf_limit_is_set(s->timeout_usec) && s->timeout_usec != TF_LIMIT_MAX)
                fprintf(c->f, "%s=%s\n", key, tf_export_span(b, sizeof(b), s->timeout_usec));
        else
                fprintf(c->f, "%s=infinity\n", key);
}

static void put_restart(struct ctx *c) {
        const struct tf_spec *s = c->s;
        char b[32];
        if (s->restart.policy == TF_RESTART_NO)
                return;
        fprintf(c->f, "Restart=%s\n", s->restart.policy == TF_RESTART_ALWAYS ? "always" : "on-failure");
        fprintf(c->f, "RestartSec=%s\n", tf_export_span(b, sizeof(b), s->restart.backoff_initial_usec));
        if (s->restart.backoff_max_usec > s->restart.backoff_initial_usec)
                gap(c, "restart.backoff", (struct tf_pos){},
                    "systemd 252 waits RestartSec= between every attempt; tfrun doubles the wait up to %s "
                    "(RestartSteps= and RestartMaxDelaySec= need systemd 254)",
                    tf_export_span(b, sizeof(b), s->restart.backoff_max_usec));
        if (s->restart.jitter)
                gap(c, "restart.backoff.jitter", (struct tf_pos){},
                    "systemd does not randomize restart delays");
        if (tf_limit_is_set(s->restart.max_retries))
                gap(c, "restart.max_retries", (struct tf_pos){},
                    "systemd limits starts per StartLimitIntervalSec=, not retries per run; the unit "
                    "retries "
                    "without a bound (StartLimitIntervalSec=0)");
}

/* requests:, queue: and priority: are the manager's admission (`tfrun up --config`): a unit starts when
 * its timer says, whatever else runs. */
static void put_admission(struct ctx *c) {
        const struct tf_spec *s = c->s;
        if (s->requests.memory != TF_UNSET || s->requests.cpu_quota_usec != TF_UNSET)
                gap(c, "requests", s->requests.pos,
                    "systemd reserves nothing before a start; the unit starts whatever the other units hold "
                    "(a slice caps their sum, it does not make a start wait)");
        if (s->queue)
                gap(c, "queue", s->pos_queue, "systemd has no queue of waiting starts");
        if (s->priority != 0)
                gap(c, "priority", s->pos_priority, "systemd has no start priority among waiting units");
}

/* ---- container specs: `docker run` from the create body ---- */

static void flag(FILE *f, const char *name, const char *value) {
        fprintf(f, " %s=", name);
        put_quoted(f, value, true);
}

static void flag_u64(FILE *f, const char *name, json_t *v) {
        fprintf(f, " %s=%" JSON_INTEGER_FORMAT, name, json_integer_value(v));
}

static int docker_exec(struct ctx *c, const char *dir, tf_error **err) {
        const struct tf_spec *s = c->s;
        const struct tf_docker_pinned pinned = {.seccomp_profile = tf_seccomp_default_profile,
                                                .masked_paths = tf_sandbox_masked_paths,
                                                .readonly_paths = tf_sandbox_readonly_paths};
        _cleanup_(json_decrefp) json_t *body = NULL;
        int r = tf_docker_create_body(s, NULL, &pinned, &body, err);
        if (r < 0)
                return r;
        _cleanup_free_ char *name = tf_asprintf("tfrun-%s", s->name);
        FILE *f = c->f;
        fprintf(f, "ExecStartPre=-docker rm -f %s\n", name);
        fprintf(f, "ExecStart=docker run --rm --name=%s", name);
        json_t *hc = json_object_get(body, "HostConfig");
        const char *key;
        json_t *v;
        json_object_foreach(hc, key, v) {
                size_t i;
                json_t *e;
                if (streq(key, "NanoCpus")) {
                        char b[48];
                        snprintf(b, sizeof(b), "%" JSON_INTEGER_FORMAT ".%09" JSON_INTEGER_FORMAT,
                                 json_integer_value(v) / 1000000000, json_integer_value(v) % 1000000000);
                        fprintf(f, " --cpus=%s", b);
                } else if (streq(key, "CpuPeriod"))
                        flag_u64(f, "--cpu-period", v);
                else if (streq(key, "CpuQuota"))
                        flag_u64(f, "--cpu-quota", v);
                else if (streq(key, "CpuShares"))
                        flag_u64(f, "--cpu-shares", v);
                else if (streq(key, "CpusetCpus"))
                        flag(f, "--cpuset-cpus", json_string_value(v));
                else if (streq(key, "Memory"))
                        flag_u64(f, "--memory", v);
                else if (streq(key, "MemorySwap"))
                        flag_u64(f, "--memory-swap", v);
                else if (streq(key, "PidsLimit"))
                        flag_u64(f, "--pids-limit", v);
                else if (streq(key, "BlkioWeight"))
                        flag_u64(f, "--blkio-weight", v);
                else if (tf_startswith(key, "BlkioDevice")) {
                        const char *fl = streq(key, "BlkioDeviceReadBps")    ? "--device-read-bps"
                                         : streq(key, "BlkioDeviceWriteBps") ? "--device-write-bps"
                                         : streq(key, "BlkioDeviceReadIOps") ? "--device-read-iops"
                                                                             : "--device-write-iops";
                        json_array_foreach(v, i, e) {
                                _cleanup_free_ char *x =
                                        tf_asprintf("%s:%" JSON_INTEGER_FORMAT,
                                                    json_string_value(json_object_get(e, "Path")),
                                                    json_integer_value(json_object_get(e, "Rate")));
                                flag(f, fl, x);
                        }
                } else if (streq(key, "Ulimits")) {
                        json_array_foreach(v, i, e) {
                                _cleanup_free_ char *x =
                                        tf_asprintf("%s=%" JSON_INTEGER_FORMAT ":%" JSON_INTEGER_FORMAT,
                                                    json_string_value(json_object_get(e, "Name")),
                                                    json_integer_value(json_object_get(e, "Soft")),
                                                    json_integer_value(json_object_get(e, "Hard")));
                                flag(f, "--ulimit", x);
                        }
                } else if (streq(key, "SecurityOpt")) {
                        json_array_foreach(v, i, e) {
                                const char *o = json_string_value(e);
                                if (tf_startswith(o, "seccomp=") && !streq(o, "seccomp=unconfined")) {
                                        /* The CLI reads a profile from a file: written beside the unit. */
                                        json_error_t je;
                                        _cleanup_(json_decrefp) json_t *p = json_loads(o + 8, 0, &je);
                                        free(c->u->seccomp_json);
                                        c->u->seccomp_json = json_dumps(p, JSON_INDENT(2));
                                        free(c->u->seccomp_file);
                                        c->u->seccomp_file = tf_asprintf("%s.seccomp.json", s->name);
                                        _cleanup_free_ char *x =
                                                tf_asprintf("seccomp=%s/%s", dir, c->u->seccomp_file);
                                        flag(f, "--security-opt", x);
                                } else
                                        flag(f, "--security-opt", o);
                        }
                } else if (streq(key, "CapDrop")) {
                        json_array_foreach(v, i, e) flag(f, "--cap-drop", json_string_value(e));
                } else if (streq(key, "CapAdd")) {
                        json_array_foreach(v, i, e) flag(f, "--cap-add", json_string_value(e));
                } else if (streq(key, "ReadonlyRootfs")) {
                        if (json_is_true(v))
                                fputs(" --read-only", f);
                } else if (streq(key, "Tmpfs")) {
                        const char *t;
                        json_t *o;
                        json_object_foreach(v, t, o) {
                                _cleanup_free_ char *x = tf_asprintf("%s:%s", t, json_string_value(o));
                                flag(f, "--tmpfs", x);
                        }
                } else if (streq(key, "NetworkMode"))
                        flag(f, "--network", json_string_value(v));
                else if (streq(key, "Init")) {
                        if (json_is_true(v))
                                fputs(" --init", f);
                        else
                                gap(c, "sandbox.pid", s->sandbox.pos_pid,
                                    "docker run cannot say Init: false; an engine configured with "
                                    "\"init\": true adds its init");
                } else if (streq(key, "PidMode"))
                        flag(f, "--pid", json_string_value(v));
                else if (streq(key, "IpcMode"))
                        flag(f, "--ipc", json_string_value(v));
                else if (streq(key, "UTSMode"))
                        flag(f, "--uts", json_string_value(v));
                else if (streq(key, "CgroupnsMode"))
                        flag(f, "--cgroupns", json_string_value(v));
                else if (streq(key, "MaskedPaths") || streq(key, "ReadonlyPaths")) {
                        if (json_array_size(v) == 0) {
                                if (streq(key, "MaskedPaths"))
                                        flag(f, "--security-opt", "systempaths=unconfined");
                        } else if (streq(key, "MaskedPaths"))
                                gap(c, "sandbox.system_paths", s->pos_sandbox,
                                    "docker run cannot pin tfrun's masked and read-only paths (%s): the "
                                    "engine's own lists apply",
                                    tf_sandbox_system_paths_revision);
                } else if (streq(key, "Mounts")) {
                        json_array_foreach(v, i, e) {
                                _cleanup_free_ char *x = tf_asprintf(
                                        "type=bind,source=%s,target=%s%s",
                                        json_string_value(json_object_get(e, "Source")),
                                        json_string_value(json_object_get(e, "Target")),
                                        json_is_true(json_object_get(e, "ReadOnly")) ? ",readonly" : "");
                                flag(f, "--mount", x);
                        }
                } else if (streq(key, "AutoRemove")) {
                        /* tfrun removes the container after reading its state; --rm does it here. */
                } else
                        gap(c, "image", s->pos_image, "docker run has no flag for HostConfig.%s", key);
        }
        size_t i;
        json_t *e;
        json_array_foreach(json_object_get(body, "Env"), i, e) flag(f, "--env", json_string_value(e));
        if ((v = json_object_get(body, "User")))
                flag(f, "--user", json_string_value(v));
        if ((v = json_object_get(body, "WorkingDir")))
                flag(f, "--workdir", json_string_value(v));
        json_object_foreach(json_object_get(body, "Labels"), key, v) {
                _cleanup_free_ char *x = tf_asprintf("%s=%s", key, json_string_value(v));
                flag(f, "--label", x);
        }
        if ((v = json_object_get(body, "StopSignal")))
                flag(f, "--stop-signal", json_string_value(v));
        char b[32];
        fprintf(f, " --stop-timeout=%" PRIu64, (s->stop_grace_usec + 999999) / 1000000);
        if (s->stop_grace_usec % 1000000)
                gap(c, "stop.grace", (struct tf_pos){},
                    "docker's stop timeout is whole seconds; %s rounded up",
                    tf_export_span(b, sizeof(b), s->stop_grace_usec));
        if (!tf_limit_is_set(s->limits.nofile))
                gap(c, "limits.nofile", s->limits.pos_nofile,
                    "unset, the container gets the engine's open-files limit; tfrun sends its own (what a native "
                    "job inherits), which the unit cannot know: set limits.nofile");
        fputc(' ', f);
        put_quoted(f, s->image, true);
        json_array_foreach(json_object_get(body, "Cmd"), i, e) {
                fputc(' ', f);
                put_quoted(f, json_string_value(e), true);
        }
        fputc('\n', f);
        /* The CLI forwards the stop signal (--sig-proxy); a SIGKILL after the grace kills the CLI only. */
        fprintf(f, "ExecStopPost=-docker rm -f %s\n", name);
        return 0;
}

/* ---- the timer ---- */

static const char *const dow_names[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};

/* One canonical cron field (tf_cron_format(): numbers, "a-b", "*", "*\/S" and lists of them) in systemd's
 * words. `first` is the field's smallest value; weekdays are written as names, one by one. */
static char *cron_field(const char *field, unsigned first, unsigned last, bool dow) {
        _cleanup_free_ char *copy = tf_strdup(field);
        char *out = NULL;
        size_t outlen = 0;
        FILE *f = open_memstream(&out, &outlen);
        bool any = false;
        for (char *save = NULL, *item = strtok_r(copy, ",", &save); item;
             item = strtok_r(NULL, ",", &save)) {
                unsigned a = first, b = last, step = 1;
                if (streq(item, "*")) {
                        if (!dow) {
                                fprintf(f, "%s*", any ? "," : "");
                                any = true;
                                continue;
                        }
                } else if (tf_startswith(item, "*/")) {
                        step = (unsigned)strtoul(item + 2, NULL, 10);
                        if (!dow) {
                                fprintf(f, "%s%u/%u", any ? "," : "", first, step);
                                any = true;
                                continue;
                        }
                } else {
                        char *dash = strchr(item, '-');
                        a = (unsigned)strtoul(item, NULL, 10);
                        b = dash ? (unsigned)strtoul(dash + 1, NULL, 10) : a;
                        if (!dow) {
                                if (dash)
                                        fprintf(f, "%s%u..%u", any ? "," : "", a, b);
                                else
                                        fprintf(f, "%s%u", any ? "," : "", a);
                                any = true;
                                continue;
                        }
                }
                for (unsigned d = a; d <= b; d += step ? step : 1) {
                        fprintf(f, "%s%s", any ? "," : "", dow_names[d % 7]);
                        any = true;
                }
        }
        fclose(f);
        return out;
}

/* Canonical cron -> OnCalendar= lines (1, or 2 for Vixie's rule: day of month OR weekday when neither
 * field starts with '*'). NULL for @reboot. */
static char **cron_to_calendar(const char *canon, char **ret_tz) {
        const char *p = canon;
        *ret_tz = NULL;
        if (tf_startswith(p, "CRON_TZ=")) {
                const char *sp = strchr(p, ' ');
                *ret_tz = tf_strndup(p + 8, (size_t)(sp - p - 8));
                p = sp + 1;
        }
        _cleanup_strv_free_ char **w = NULL;
        _cleanup_free_ char *copy = tf_strdup(p);
        for (char *save = NULL, *t = strtok_r(copy, " ", &save); t; t = strtok_r(NULL, " ", &save))
                tf_strv_push(&w, t);
        size_t n = tf_strv_length(w);
        if (n != 5 && n != 7)
                return NULL;
        const char *sec = n == 7 ? w[0] : "0", *year = n == 7 ? w[6] : "*";
        char **f = n == 7 ? w + 1 : w; /* min hour dom mon dow */
        _cleanup_free_ char *S = cron_field(sec, 0, 59, false), *M = cron_field(f[0], 0, 59, false),
                            *H = cron_field(f[1], 0, 23, false), *D = cron_field(f[2], 1, 31, false),
                            *MO = cron_field(f[3], 1, 12, false), *W = cron_field(f[4], 0, 6, true),
                            *Y = cron_field(year, 1970, 2199, false);
        bool dom_star = f[2][0] == '*', dow_star = f[4][0] == '*', dow_all = streq(f[4], "*");
        const char *tz = *ret_tz;
        char **out = NULL;
        if (dom_star || dow_star) {
                tf_strv_consume(&out, tf_asprintf("%s%s%s-%s-%s %s:%s:%s%s%s", dow_all ? "" : W,
                                                  dow_all ? "" : " ", Y, MO, D, H, M, S, tz ? " " : "",
                                                  tz ? tz : ""));
        } else {
                tf_strv_consume(&out, tf_asprintf("%s-%s-%s %s:%s:%s%s%s", Y, MO, D, H, M, S, tz ? " " : "",
                                                  tz ? tz : ""));
                tf_strv_consume(&out, tf_asprintf("%s %s-%s-* %s:%s:%s%s%s", W, Y, MO, H, M, S,
                                                  tz ? " " : "", tz ? tz : ""));
        }
        return out;
}

static void timer_text(struct ctx *c, char **ret) {
        const struct tf_spec *s = c->s;
        const struct tf_schedule *sc = &s->schedule;
        char *out = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&out, &len);
        char b[32];
        fprintf(f, "# Generated by tfrun %s export systemd from %s\n", TF_VERSION, s->path);
        fprintf(f, "[Unit]\nDescription=Timer of %s (tfrun spec %s)\n\n[Timer]\n", s->name, s->name);
        for (size_t i = 0; i < sc->n_calendar; i++)
                fprintf(f, "OnCalendar=%s\n", sc->calendar[i].expr);
        if (sc->cron.expr) {
                _cleanup_(tf_cron_freep) tf_cron *cr = NULL;
                _cleanup_error_ tf_error *e = NULL;
                if (tf_cron_parse(sc->cron.expr, &cr, &e) >= 0) {
                        if (tf_cron_is_reboot(cr)) {
                                fputs("OnBootSec=0\n", f);
                                gap(c, "schedule.cron", sc->cron.pos,
                                    "@reboot fires at boot under systemd, at tfrun's start under tfrun");
                        } else {
                                _cleanup_free_ char *canon = tf_cron_format(cr);
                                _cleanup_free_ char *tz = NULL;
                                _cleanup_strv_free_ char **cal = cron_to_calendar(canon, &tz);
                                fprintf(f, "# cron '%s'\n", sc->cron.expr);
                                for (size_t i = 0; cal && cal[i]; i++)
                                        fprintf(f, "OnCalendar=%s\n", cal[i]);
                                if (!tz || !(streq(tz, "UTC") || streq(tz, "Etc/UTC")))
                                        gap(c, "schedule.cron", sc->cron.pos,
                                            "cron's daylight saving rule (cronie: a time in a skipped hour "
                                            "fires after the jump) is not OnCalendar='s (it does not fire); "
                                            "the same in a zone without DST (CRON_TZ=UTC)");
                        }
                }
        }
        if (tf_limit_is_set(sc->every_usec)) {
                tf_export_span(b, sizeof(b), sc->every_usec);
                fprintf(f, "OnActiveSec=%s\nOnUnitActiveSec=%s\n", b, b);
                gap(c, "schedule.every", sc->pos,
                    "OnUnitActiveSec= counts from the service's last start, tfrun from its own start (a "
                    "fixed "
                    "rate): the same unless a run outlasts the interval");
                if (sc->persistent && sc->n_calendar == 0 && !sc->cron.expr)
                        gap(c, "schedule.persistent", sc->pos,
                            "Persistent= catches up OnCalendar= only, not an interval");
        }
        if (sc->persistent)
                fputs("Persistent=true\n", f);
        if (sc->randomized_delay_usec)
                fprintf(f, "RandomizedDelaySec=%s\n",
                        tf_export_span(b, sizeof(b), sc->randomized_delay_usec));
        /* tfrun fires on the microsecond; systemd coalesces within AccuracySec= (default 1 min). */
        fputs("AccuracySec=1us\n", f);
        if (sc->overlap != TF_OVERLAP_SKIP)
                gap(c, "schedule.overlap", sc->pos,
                    "a timer never starts a service that is still running (overlap: skip); '%s' has no "
                    "equivalent",
                    tf_overlap_name(sc->overlap));
        fprintf(f, "Unit=%s.service\n\n[Install]\nWantedBy=timers.target\n", s->name);
        fclose(f);
        *ret = out;
}

int tf_export_systemd(const struct tf_spec *s, const char *dir, struct tf_export_unit *ret, tf_error **err) {
        *ret = (struct tf_export_unit){};
        if (s->n_steps > 0) {
                _cleanup_free_ char *w = tf_spec_where(s, s->pos_steps);
                return tf_error_set(
                        err, EOPNOTSUPP,
                        "%s: steps: a workflow has no systemd unit (its steps' order, outputs and "
                        "conditions are tfrun's); export each step as a spec of its own",
                        w);
        }
        struct ctx c = {.s = s, .u = ret};
        char *out = NULL;
        size_t len = 0;
        c.f = open_memstream(&out, &len);
        /* Every backend but the native one runs an image: on one host, that is a `docker run`. */
        bool docker = s->resolved_backend != TF_BACKEND_NATIVE;
        if (docker && s->resolved_backend != TF_BACKEND_DOCKER)
                gap(&c, "backend", s->pos_backend, "'%s' becomes a docker run on the unit's host",
                    tf_backend_name(s->resolved_backend));
        bool simple = s->restart.policy == TF_RESTART_ALWAYS;
        fprintf(c.f, "# Generated by tfrun %s export systemd from %s (service %s, backend %s).\n",
                TF_VERSION, s->path, s->name, tf_backend_name(s->resolved_backend));
        fputs("# For systemd >= 252 on cgroup v2. What systemd cannot say as tfrun means it is listed below "
              "as\n"
              "# \"inexact\" (`tfrun export systemd --strict` refuses it).\n",
              c.f);
        fputs("[Unit]\n", c.f);
        if (s->description) {
                fputs("Description=", c.f);
                for (const char *p = s->description; *p; p++)
                        *p == '%' ? fputs("%%", c.f) : *p == '\n' ? fputc(' ', c.f) : fputc(*p, c.f);
                fputc('\n', c.f);
        } else
                fprintf(c.f, "Description=tfrun spec %s\n", s->name);
        if (docker)
                fputs("Wants=docker.service\nAfter=docker.service\n", c.f);
        if (s->restart.policy != TF_RESTART_NO)
                fputs("StartLimitIntervalSec=0\n", c.f);
        /* on_success / on_failure: systemd's OnSuccess= / OnFailure=, with other words for the facts. */
        const struct tf_service_refs *refs[] = {&s->on_success_services, &s->on_failure_services};
        static const char *const ref_keys[] = {"on_success", "on_failure"}, *const ref_settings[] = {"OnSuccess",
                                                                                                     "OnFailure"};
        for (size_t k = 0; k < ELEMENTSOF(refs); k++) {
                if (refs[k]->n == 0)
                        continue;
                fprintf(c.f, "%s=", ref_settings[k]);
                for (size_t i = 0; i < refs[k]->n; i++)
                        fprintf(c.f, "%s%s.service", i ? " " : "", refs[k]->refs[i].name);
                fputc('\n', c.f);
                gap(&c, ref_keys[k], refs[k]->pos,
                    "the triggered unit gets $MONITOR_SERVICE_RESULT, $MONITOR_INVOCATION_ID, ... from systemd, "
                    "not TFRUN_TRIGGER_SERVICE, TFRUN_TRIGGER_RUN_ID, TFRUN_TRIGGER_STATUS");
        }
        fprintf(c.f, "\n[Service]\nType=%s\n", simple ? "simple" : "oneshot");
        if (docker) {
                int r = docker_exec(&c, dir ? dir : ".", err);
                if (r < 0) {
                        fclose(c.f);
                        free(out);
                        tf_export_unit_done(ret);
                        return r;
                }
                /* Limits and sandbox are the container's (the flags above), not the unit's. */
        } else {
                fputs("ExecStart=", c.f);
                for (size_t i = 0; s->argv && s->argv[i]; i++) {
                        if (i)
                                fputc(' ', c.f);
                        put_quoted(c.f, s->argv[i], true);
                }
                fputc('\n', c.f);
                if (s->argv && s->argv[0] && s->argv[0][0] != '/')
                        fprintf(c.f, "# '%s' is looked up in systemd's fixed PATH, not in tfrun's $PATH\n",
                                s->argv[0]);
        }
        if (!docker) {
                put_user(&c);
                if (s->working_dir) {
                        fputs("WorkingDirectory=", c.f);
                        /* Taken as it is written, but for specifiers. */
                        for (const char *p = s->working_dir; *p; p++)
                                *p == '%' ? fputs("%%", c.f) : fputc(*p, c.f);
                        fputc('\n', c.f);
                }
                put_env(&c);
        }
        put_stop_and_timeout(&c, simple);
        put_restart(&c);
        put_admission(&c);
        if (!docker) {
                fputs("# limits\n", c.f);
                limits_native(&c);
                fputs("# sandbox\n", c.f);
                sandbox_native(&c);
        }
        const struct tf_schedule *sc = &s->schedule;
        /* File triggers would be a .path unit, which export does not write (yet): a timer without a time
         * trigger would never fire, so a schedule of paths alone has none. */
        if (sc->n_paths > 0)
                gap(&c, "schedule.path", sc->pos_path,
                    "not exported: a .path unit (PathExists=, PathExistsGlob=, PathChanged=, PathModified=, "
                    "DirectoryNotEmpty=) would say it, and export writes none; the units fire on %s only",
                    sc->n_calendar > 0 || sc->cron.expr || tf_limit_is_set(sc->every_usec) ? "the timer"
                                                                                           : "a manual start");
        if (sc->present && (sc->n_calendar > 0 || sc->cron.expr || tf_limit_is_set(sc->every_usec))) {
                char *t = NULL;
                timer_text(&c, &t);
                ret->timer = t;
        }
        if (ret->n_gaps) {
                fputs("# inexact:\n", c.f);
                for (size_t i = 0; i < ret->n_gaps; i++)
                        fprintf(c.f, "#   %s: %s\n", ret->gaps[i].key, ret->gaps[i].why);
        }
        fclose(c.f);
        ret->service = out;
        return 0;
}

void tf_export_unit_done(struct tf_export_unit *u) {
        free(u->service);
        free(u->timer);
        free(u->seccomp_file);
        free(u->seccomp_json);
        for (size_t i = 0; i < u->n_gaps; i++) {
                free(u->gaps[i].key);
                free(u->gaps[i].why);
        }
        free(u->gaps);
        *u = (struct tf_export_unit){};
}
