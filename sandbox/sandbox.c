/* SPDX-License-Identifier: MIT */
/*
 * The native backend's sandbox, parent side. See sandbox.h for the contract and the order in the child.
 *
 * Split: everything that parses, allocates or can fail for a user's reason runs in the parent
 * (tf_sandbox_prepare, here); the child functions (child.c) only make system calls on data the plan
 * already holds.
 */
#include "sandbox/sandbox.h"
#include "sandbox/sandbox-internal.h"

#include "config.h"

#include <assert.h>
#include <ctype.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <linux/capability.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/openat2.h>
#include <linux/seccomp.h>
#include <net/if.h>
#include <pwd.h>
#include <sched.h>
#include <seccomp.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/io.h"
#include "base/strutil.h"

/* A seccomp profile larger than this is not a profile. */
#define PROFILE_MAX_BYTES (1024 * 1024)

/* moby oci/caps/defaults.go: what a container gets when neither cap_add nor cap_drop is given. */
static const uint64_t docker_default_caps =
        CAPBIT(CAP_CHOWN) | CAPBIT(CAP_DAC_OVERRIDE) | CAPBIT(CAP_FSETID) | CAPBIT(CAP_FOWNER) |
        CAPBIT(CAP_MKNOD) | CAPBIT(CAP_NET_RAW) | CAPBIT(CAP_SETGID) | CAPBIT(CAP_SETUID) |
        CAPBIT(CAP_SETFCAP) | CAPBIT(CAP_SETPCAP) | CAPBIT(CAP_NET_BIND_SERVICE) | CAPBIT(CAP_SYS_CHROOT) |
        CAPBIT(CAP_KILL) | CAPBIT(CAP_AUDIT_WRITE);

/* What cap_add: [ALL] means, pinned like the seccomp profile: the engine's list, not the kernel's. Docker
 * 20.10 (moby's vendored gocapability) knows CHOWN..AUDIT_READ; PERFMON, BPF and CHECKPOINT_RESTORE are
 * newer and the engine refuses them by name ("unknown capability"). Natively they are granted only when
 * cap_add names them. */
#define DOCKER_ALL_CAPS (CAPBIT(CAP_AUDIT_READ + 1) - 1)

/* "FILE:LINE:COL", or "FILE" when the position is unknown. (spec/ has tf_spec_where() with this
 * contract; this twin keeps the sandbox unit free of spec's object code.) */
static char *where(const struct tf_spec *s, struct tf_pos pos) {
        const char *f = s->path ? s->path : "(spec)";
        if (pos.line == 0)
                return tf_strdup(f);
        return tf_asprintf("%s:%u:%u", f, pos.line, pos.column);
}

/* jansson >= 2.9 ships json_decrefp (behind json_auto_t). */
#define _cleanup_json_ _cleanup_(json_decrefp)

static inline void seccomp_releasep(scmp_filter_ctx *c) {
        if (*c)
                seccomp_release(*c);
}

/* ---------------------------------------------------------------------------------------------------- */
/* Capabilities */

static unsigned kernel_cap_last(void) {
        unsigned v = CAP_LAST_CAP;
        _cleanup_fclose_ FILE *f = fopen("/proc/sys/kernel/cap_last_cap", "re");
        if (f && fscanf(f, "%u", &v) != 1)
                v = CAP_LAST_CAP;
        if (v >= 63)
                v = 62;
        return v;
}

static int cap_lookup(const char *name) {
        if (tf_startswith(name, "CAP_") || tf_startswith(name, "cap_"))
                name += 4;
        for (size_t i = 0; i < TF_CAP_COUNT; i++)
                if (strcasecmp(tf_cap_name(i), name) == 0)
                        return (int)i;
        return -EINVAL;
}

static const char *cap_suggest(const char *name) {
        /* A truncated name ("NET_BIND") is far in edit distance but obvious as a prefix. */
        if (strlen(name) >= 3)
                for (size_t i = 0; i < TF_CAP_COUNT; i++)
                        if (strncasecmp(tf_cap_name(i), name, strlen(name)) == 0)
                                return tf_cap_name(i);
        const char *best = NULL;
        unsigned best_d = UINT_MAX;
        for (size_t i = 0; i < TF_CAP_COUNT; i++) {
                unsigned d = tf_edit_distance(name, tf_cap_name(i));
                if (d < best_d) {
                        best_d = d;
                        best = tf_cap_name(i);
                }
        }
        return best && best_d <= 2 + strlen(name) / 4 ? best : NULL;
}

/* Resolves a cap_add/cap_drop list into a mask; *all says whether "ALL" was in it. */
static int resolve_cap_list(const struct tf_spec *s, const char *key, char **list, unsigned cap_last,
                            bool is_add, uint64_t *ret, bool *all, tf_error **err) {
        uint64_t m = 0;
        *all = false;
        for (char **c = list; c && *c; c++) {
                if (strcasecmp(*c, "ALL") == 0) {
                        *all = true;
                        continue;
                }
                int n = cap_lookup(*c);
                if (n < 0) {
                        _cleanup_free_ char *w = where(s, s->pos_sandbox);
                        const char *sug = cap_suggest(*c);
                        if (sug)
                                return tf_error_set(err, EINVAL,
                                                    "%s: %s: unknown capability '%s'; did you mean '%s'?", w,
                                                    key, *c, sug);
                        return tf_error_set(err, EINVAL, "%s: %s: unknown capability '%s'", w, key, *c);
                }
                if ((unsigned)n > cap_last) {
                        /* Dropping what the kernel does not have is already true; adding it is not. */
                        if (!is_add)
                                continue;
                        _cleanup_free_ char *w = where(s, s->pos_sandbox);
                        return tf_error_set(err, EOPNOTSUPP,
                                            "%s: %s: capability '%s' is not known to the running kernel "
                                            "(its last capability is '%s')",
                                            w, key, tf_cap_name(n), tf_cap_name(cap_last));
                }
                m |= CAPBIT(n);
        }
        *ret = m;
        return 0;
}

/* ---------------------------------------------------------------------------------------------------- */
/* Paths without symbolic links */

static bool path_has_dotdot(const char *p) {
        for (const char *c = p; (c = strstr(c, "..")); c += 2)
                if ((c == p || c[-1] == '/') && (c[2] == 0 || c[2] == '/'))
                        return true;
        return false;
}

static unsigned path_depth(const char *p) {
        unsigned n = 0;
        for (const char *c = p; *c; c++)
                if (*c == '/' && c[1] && c[1] != '/')
                        n++;
        return n;
}

static int resolve_path(const struct tf_spec *s, size_t i, const char *field, const char *path, int *ret_fd,
                        tf_error **err) {
        _cleanup_free_ char *w = where(s, s->mounts[i].pos);
        _cleanup_free_ char *bad = NULL;
        int r = tf_open_nofollow(path, ret_fd, &bad);
        if (r == -ELOOP) {
                _cleanup_free_ char *real = realpath(path, NULL);
                return tf_error_set(err, ELOOP,
                                    "%s: mounts[%zu].%s: '%s' is a symbolic link; mount paths must not "
                                    "contain symbolic links%s%s%s",
                                    w, i, field, bad, real ? " (the real path is '" : "", real ? real : "",
                                    real ? "')" : "");
        }
        if (r == -ENOENT && streq(field, "source"))
                return tf_error_set(err, ENOENT, "%s: mounts[%zu].source: '%s' does not exist%s%s%s", w, i,
                                    path, streq(bad, path) ? "" : " (no '", streq(bad, path) ? "" : bad,
                                    streq(bad, path) ? "" : "')");
        if (r == -ENOENT)
                return tf_error_set(err, ENOENT,
                                    "%s: mounts[%zu].target: '%s' does not exist on this host; the native "
                                    "backend binds over existing paths and never creates them on the host "
                                    "(create it, or use a target under /tmp with sandbox.private_tmp)",
                                    w, i, path);
        if (r < 0)
                return tf_error_setc(err, r, "%s: mounts[%zu].%s: open '%s'", w, i, field, bad ? bad : path);
        return 0;
}

static int prepare_mounts(const struct tf_spec *s, struct tf_sandbox_plan *p, tf_error **err) {
        if (s->n_mounts == 0)
                return 0;
        if (s->n_mounts > TF_SANDBOX_MAX_MOUNTS) {
                _cleanup_free_ char *w = where(s, s->pos_mounts);
                return tf_error_set(err, EINVAL, "%s: mounts: at most %d mounts are supported, got %zu", w,
                                    TF_SANDBOX_MAX_MOUNTS, s->n_mounts);
        }
        p->mounts = tf_malloc0(sizeof(struct plan_mount) * s->n_mounts);
        for (size_t i = 0; i < s->n_mounts; i++)
                p->mounts[i].source_fd = -1;
        p->n_mounts = s->n_mounts;

        for (size_t i = 0; i < s->n_mounts; i++) {
                const struct tf_mount *m = &s->mounts[i];
                struct plan_mount *pm = &p->mounts[i];
                _cleanup_free_ char *w = where(s, m->pos);
                const char *field = NULL;
                if (!m->source || m->source[0] != '/')
                        field = "source";
                else if (!m->target || m->target[0] != '/')
                        field = "target";
                if (field)
                        return tf_error_set(err, EINVAL, "%s: mounts[%zu].%s: must be an absolute path", w,
                                            i, field);
                if (strlen(m->source) >= PATH_MAX || strlen(m->target) >= PATH_MAX)
                        return tf_error_set(err, ENAMETOOLONG, "%s: mounts[%zu]: path too long", w, i);
                if (path_depth(m->target) == 0)
                        return tf_error_set(err, EINVAL, "%s: mounts[%zu].target: cannot mount over /", w,
                                            i);
                if (path_has_dotdot(m->target))
                        return tf_error_set(err, EINVAL,
                                            "%s: mounts[%zu].target: '..' is not allowed in '%s'", w, i,
                                            m->target);

                int r = resolve_path(s, i, "source", m->source, &pm->source_fd, err);
                if (r < 0)
                        return r;
                struct stat sst;
                if (fstat(pm->source_fd, &sst) < 0)
                        return tf_error_setc(err, errno, "%s: mounts[%zu].source: stat '%s'", w, i,
                                             m->source);
                pm->is_dir = S_ISDIR(sst.st_mode);
                pm->target = tf_strdup(m->target);
                pm->read_only = m->read_only;
                pm->depth = path_depth(m->target);

                if (s->sandbox.private_tmp && tf_startswith(m->target, "/tmp/")) {
                        pm->create_in_tmp = true;
                        continue;
                }
                _cleanup_close_ int tfd = -1;
                r = resolve_path(s, i, "target", m->target, &tfd, err);
                if (r < 0)
                        return r;
                struct stat tst;
                if (fstat(tfd, &tst) < 0)
                        return tf_error_setc(err, errno, "%s: mounts[%zu].target: stat '%s'", w, i,
                                             m->target);
                if (S_ISDIR(tst.st_mode) != pm->is_dir)
                        return tf_error_set(
                                err, ENOTDIR, "%s: mounts[%zu]: source '%s' is %s but target '%s' is %s", w,
                                i, m->source, pm->is_dir ? "a directory" : "not a directory", m->target,
                                S_ISDIR(tst.st_mode) ? "a directory" : "not a directory");
        }
        /* Parents before children, as Docker sorts them, so that /data/sub lands inside /data. */
        for (size_t i = 1; i < p->n_mounts; i++)
                for (size_t j = i; j > 0 && p->mounts[j - 1].depth > p->mounts[j].depth; j--) {
                        struct plan_mount t = p->mounts[j];
                        p->mounts[j] = p->mounts[j - 1];
                        p->mounts[j - 1] = t;
                }
        return 0;
}

/* ---------------------------------------------------------------------------------------------------- */
/* Seccomp: Docker-format JSON profile -> libseccomp -> raw BPF */

struct profile_ctx {
        const char *name;   /* for messages: the profile's path, or "default" */
        const char *prefix; /* "FILE:L:C: sandbox.seccomp" */
        uint64_t caps;
        uint32_t native_arch;
        const char *go_arch; /* moby matches includes/excludes arches against Go's GOARCH names */
        unsigned kernel[3];
        struct tf_sandbox_cache *cache; /* NULL: none in memory */
        tf_error **err;
        /* The ENOSYS stub's input (see enosys_stub()): every architecture of the filter and the highest
         * syscall number, on it, of the entries that apply here. */
        struct {
                uint32_t arch; /* libseccomp token */
                int last;      /* 0: none named */
        } archs[16];
        size_t n_archs;
};

static int perr(struct profile_ctx *c, const char *path, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));
static int perr(struct profile_ctx *c, const char *path, const char *fmt, ...) {
        va_list ap;
        va_start(ap, fmt);
        _cleanup_free_ char *msg = NULL;
        if (vasprintf(&msg, fmt, ap) < 0)
                msg = NULL;
        va_end(ap);
        return tf_error_set(c->err, EINVAL, "%s: seccomp profile %s: %s: %s", c->prefix, c->name, path,
                            msg ? msg : "invalid");
}

static const char *go_arch_name(uint32_t a) {
        switch (a) {
        case SCMP_ARCH_X86_64:
                return "amd64";
        case SCMP_ARCH_X86:
                return "x86";
        case SCMP_ARCH_X32:
                return "x32";
        case SCMP_ARCH_AARCH64:
                return "arm64";
        case SCMP_ARCH_ARM:
                return "arm";
        case SCMP_ARCH_PPC64LE:
                return "ppc64le";
        case SCMP_ARCH_PPC64:
                return "ppc64";
        case SCMP_ARCH_S390X:
                return "s390x";
        case SCMP_ARCH_S390:
                return "s390";
        case SCMP_ARCH_RISCV64:
                return "riscv64";
        default:
                return "unknown";
        }
}

/* "SCMP_ARCH_X86_64" -> libseccomp token; 0 when unknown. */
static uint32_t arch_token(const char *s) {
        char buf[32];
        if (!tf_startswith(s, "SCMP_ARCH_") || strlen(s) - 10 >= sizeof(buf))
                return 0;
        size_t n = 0;
        for (const char *c = s + 10; *c; c++)
                buf[n++] = (char)tolower((unsigned char)*c);
        buf[n] = 0;
        return seccomp_arch_resolve_name(buf);
}

static int parse_version(const char *s, unsigned v[3]) {
        v[0] = v[1] = v[2] = 0;
        int n = sscanf(s, "%u.%u.%u", &v[0], &v[1], &v[2]);
        return n >= 2 ? 0 : -EINVAL;
}

static bool kernel_at_least(const struct profile_ctx *c, const unsigned v[3]) {
        for (int i = 0; i < 3; i++)
                if (c->kernel[i] != v[i])
                        return c->kernel[i] > v[i];
        return true;
}

static int parse_action(struct profile_ctx *c, const char *path, json_t *jaction, json_t *jerrno,
                        uint32_t *ret) {
        if (!json_is_string(jaction))
                return perr(c, path, "expected a string");
        const char *a = json_string_value(jaction);
        int errno_ret = EPERM;
        if (jerrno && !json_is_null(jerrno)) {
                if (!json_is_integer(jerrno) || json_integer_value(jerrno) < 0 ||
                    json_integer_value(jerrno) > 4095)
                        return perr(c, path, "errnoRet must be an integer 0..4095");
                errno_ret = (int)json_integer_value(jerrno);
        }
        if (streq(a, "SCMP_ACT_ALLOW"))
                *ret = SCMP_ACT_ALLOW;
        else if (streq(a, "SCMP_ACT_ERRNO"))
                *ret = SCMP_ACT_ERRNO((uint32_t)errno_ret);
        else if (streq(a, "SCMP_ACT_KILL") || streq(a, "SCMP_ACT_KILL_THREAD"))
                *ret = SCMP_ACT_KILL_THREAD;
        else if (streq(a, "SCMP_ACT_KILL_PROCESS"))
                *ret = SCMP_ACT_KILL_PROCESS;
        else if (streq(a, "SCMP_ACT_TRAP"))
                *ret = SCMP_ACT_TRAP;
        else if (streq(a, "SCMP_ACT_TRACE"))
                *ret = SCMP_ACT_TRACE((uint32_t)errno_ret);
        else if (streq(a, "SCMP_ACT_LOG"))
                *ret = SCMP_ACT_LOG;
        else if (streq(a, "SCMP_ACT_NOTIFY"))
                return perr(c, path, "'SCMP_ACT_NOTIFY' needs a seccomp agent; tfrun has none");
        else
                return perr(c, path, "unknown action '%s'", a);
        return 0;
}

static int parse_op(const char *s, enum scmp_compare *ret) {
        static const struct {
                const char *name;
                enum scmp_compare op;
        } ops[] = {
                {"SCMP_CMP_NE", SCMP_CMP_NE},
                {"SCMP_CMP_LT", SCMP_CMP_LT},
                {"SCMP_CMP_LE", SCMP_CMP_LE},
                {"SCMP_CMP_EQ", SCMP_CMP_EQ},
                {"SCMP_CMP_GE", SCMP_CMP_GE},
                {"SCMP_CMP_GT", SCMP_CMP_GT},
                {"SCMP_CMP_MASKED_EQ", SCMP_CMP_MASKED_EQ},
        };
        for (size_t i = 0; i < ELEMENTSOF(ops); i++)
                if (streq(s, ops[i].name)) {
                        *ret = ops[i].op;
                        return 0;
                }
        return -EINVAL;
}

static int parse_u64(json_t *j, uint64_t *ret) {
        if (!j || json_is_null(j)) {
                *ret = 0;
                return 0;
        }
        if (!json_is_integer(j) || json_integer_value(j) < 0)
                return -EINVAL;
        *ret = (uint64_t)json_integer_value(j);
        return 0;
}

static bool json_strings_contain(json_t *arr, const char *s) {
        size_t i;
        json_t *v;
        json_array_foreach(arr, i, v) {
                if (streq(json_string_value(v), s))
                        return true;
        }
        return false;
}

/* includes/excludes: checks the shape; *matches says whether the entry's conditions hold here. For
 * includes every listed condition must hold; for excludes any one holding excludes the entry. */
static int parse_filter(struct profile_ctx *c, const char *path, json_t *f, bool is_include, bool *skip) {
        if (!f || json_is_null(f))
                return 0;
        if (!json_is_object(f))
                return perr(c, path, "expected an object");
        char sub[128];
        json_t *caps = json_object_get(f, "caps"), *arches = json_object_get(f, "arches"),
               *mink = json_object_get(f, "minKernel");
        if (caps && !json_is_null(caps)) {
                snprintf(sub, sizeof(sub), "%s.caps", path);
                if (!json_is_array(caps))
                        return perr(c, sub, "expected an array of capability names");
                size_t i;
                json_t *v;
                json_array_foreach(caps, i, v) {
                        if (!json_is_string(v)) {
                                snprintf(sub, sizeof(sub), "%s.caps[%zu]", path, i);
                                return perr(c, sub, "expected a string");
                        }
                        int n = cap_lookup(json_string_value(v));
                        bool have = n >= 0 && (c->caps & CAPBIT(n));
                        if (is_include && !have)
                                *skip = true;
                        if (!is_include && have)
                                *skip = true;
                }
        }
        if (arches && !json_is_null(arches)) {
                snprintf(sub, sizeof(sub), "%s.arches", path);
                if (!json_is_array(arches))
                        return perr(c, sub, "expected an array of architecture names");
                size_t i;
                json_t *v;
                json_array_foreach(arches, i, v) {
                        if (!json_is_string(v)) {
                                snprintf(sub, sizeof(sub), "%s.arches[%zu]", path, i);
                                return perr(c, sub, "expected a string");
                        }
                }
                bool in = json_strings_contain(arches, c->go_arch);
                if (json_array_size(arches) > 0 && (is_include ? !in : in))
                        *skip = true;
        }
        if (mink && !json_is_null(mink) && !(json_is_string(mink) && json_string_length(mink) == 0)) {
                unsigned v[3];
                snprintf(sub, sizeof(sub), "%s.minKernel", path);
                if (!json_is_string(mink) || parse_version(json_string_value(mink), v) < 0)
                        return perr(c, sub, "expected a kernel version like \"4.8\"");
                bool ok = kernel_at_least(c, v);
                if (is_include ? !ok : ok)
                        *skip = true;
        }
        return 0;
}

static void note_arch(struct profile_ctx *c, uint32_t arch) {
        for (size_t i = 0; i < c->n_archs; i++)
                if (c->archs[i].arch == arch)
                        return;
        if (c->n_archs < ELEMENTSOF(c->archs))
                c->archs[c->n_archs++].arch = arch;
}

/* runc's findLastSyscalls(): the highest number, per architecture, of any name in an entry that applies
 * (whatever its action); names this libseccomp cannot resolve, and its negative pseudo-numbers, count for
 * nothing. */
static void note_names(struct profile_ctx *c, json_t *names) {
        size_t i;
        json_t *v;
        json_array_foreach(names, i, v) {
                for (size_t k = 0; k < c->n_archs; k++) {
                        int nr = seccomp_syscall_resolve_name_arch(c->archs[k].arch, json_string_value(v));
                        if (nr > c->archs[k].last)
                                c->archs[k].last = nr;
                }
        }
}

static int add_rules(struct profile_ctx *c, scmp_filter_ctx ctx, const char *path, json_t *names,
                     uint32_t action, const struct scmp_arg_cmp *cmps, size_t n_cmps, bool split) {
        size_t i;
        json_t *v;
        json_array_foreach(names, i, v) {
                const char *name = json_string_value(v);
                int nr = seccomp_syscall_resolve_name(name);
                /* A name libseccomp does not know is skipped, as Docker and runc do: profiles list
                 * syscalls of newer kernels and of other architectures. */
                if (nr == __NR_SCMP_ERROR)
                        continue;
                int r = 0;
                if (split)
                        for (size_t k = 0; k < n_cmps && r >= 0; k++)
                                r = seccomp_rule_add_array(ctx, action, nr, 1, &cmps[k]);
                else
                        r = seccomp_rule_add_array(ctx, action, nr, (unsigned)n_cmps, n_cmps ? cmps : NULL);
                if (r < 0)
                        return tf_error_setc(c->err, r, "%s: seccomp profile %s: %s: rule for '%s'",
                                             c->prefix, c->name, path, name);
        }
        return 0;
}

static int compile_syscall(struct profile_ctx *c, scmp_filter_ctx ctx, uint32_t default_action, size_t idx,
                           json_t *e) {
        char path[64], sub[128];
        snprintf(path, sizeof(path), "syscalls[%zu]", idx);
        if (!json_is_object(e))
                return perr(c, path, "expected an object");

        json_t *name = json_object_get(e, "name"), *names = json_object_get(e, "names");
        _cleanup_json_ json_t *one = NULL;
        if (name && names)
                return perr(c, path, "'name' and 'names' are both given; use one");
        if (name) {
                snprintf(sub, sizeof(sub), "%s.name", path);
                if (!json_is_string(name))
                        return perr(c, sub, "expected a string");
                one = json_array();
                json_array_append(one, name);
                names = one;
        }
        snprintf(sub, sizeof(sub), "%s.names", path);
        if (!names || !json_is_array(names) || json_array_size(names) == 0)
                return perr(c, names ? sub : path, "expected a non-empty array of syscall names in 'names'");
        size_t i;
        json_t *v;
        json_array_foreach(names, i, v) {
                if (!json_is_string(v)) {
                        snprintf(sub, sizeof(sub), "%s.names[%zu]", path, i);
                        return perr(c, sub, "expected a string");
                }
        }

        uint32_t action;
        snprintf(sub, sizeof(sub), "%s.action", path);
        json_t *ja = json_object_get(e, "action");
        if (!ja)
                return perr(c, path, "missing 'action'");
        int r = parse_action(c, sub, ja, json_object_get(e, "errnoRet"), &action);
        if (r < 0)
                return r;

        struct scmp_arg_cmp cmps[32];
        size_t n_cmps = 0;
        bool split = false;
        unsigned seen = 0;
        json_t *args = json_object_get(e, "args");
        if (args && !json_is_null(args)) {
                snprintf(sub, sizeof(sub), "%s.args", path);
                if (!json_is_array(args))
                        return perr(c, sub, "expected an array");
                if (json_array_size(args) > ELEMENTSOF(cmps))
                        return perr(c, sub, "at most %zu conditions", ELEMENTSOF(cmps));
                json_array_foreach(args, i, v) {
                        snprintf(sub, sizeof(sub), "%s.args[%zu]", path, i);
                        if (!json_is_object(v))
                                return perr(c, sub, "expected an object");
                        json_t *jidx = json_object_get(v, "index"), *jop = json_object_get(v, "op");
                        if (!json_is_integer(jidx) || json_integer_value(jidx) < 0 ||
                            json_integer_value(jidx) > 5)
                                return perr(c, sub, "index must be an integer 0..5");
                        enum scmp_compare op;
                        if (!json_is_string(jop))
                                return perr(c, sub, "op must be a string");
                        if (parse_op(json_string_value(jop), &op) < 0) {
                                snprintf(sub, sizeof(sub), "%s.args[%zu].op", path, i);
                                return perr(c, sub, "unknown operator '%s'", json_string_value(jop));
                        }
                        uint64_t a, b;
                        if (parse_u64(json_object_get(v, "value"), &a) < 0 ||
                            parse_u64(json_object_get(v, "valueTwo"), &b) < 0)
                                return perr(c, sub, "value and valueTwo must be non-negative integers");
                        unsigned ix = (unsigned)json_integer_value(jidx);
                        /* runc: conditions on distinct arguments are ANDed in one rule; the same argument
                         * named twice means OR, one rule per condition. */
                        if (seen & (1U << ix))
                                split = true;
                        seen |= 1U << ix;
                        cmps[n_cmps++] =
                                (struct scmp_arg_cmp){.arg = ix, .op = op, .datum_a = a, .datum_b = b};
                }
        }

        bool skip = false;
        snprintf(sub, sizeof(sub), "%s.includes", path);
        r = parse_filter(c, sub, json_object_get(e, "includes"), true, &skip);
        if (r < 0)
                return r;
        snprintf(sub, sizeof(sub), "%s.excludes", path);
        r = parse_filter(c, sub, json_object_get(e, "excludes"), false, &skip);
        if (r < 0)
                return r;
        if (skip)
                return 0;
        note_names(c, names);
        /* libseccomp refuses a rule whose action is the default one; it would change nothing anyway. */
        if (action == default_action)
                return 0;
        return add_rules(c, ctx, path, names, action, cmps, n_cmps, split);
}

static int add_arch(struct profile_ctx *c, scmp_filter_ctx ctx, const char *path, json_t *j) {
        if (!json_is_string(j))
                return perr(c, path, "expected an architecture name like \"SCMP_ARCH_X86_64\"");
        uint32_t t = arch_token(json_string_value(j));
        if (t == 0)
                return perr(c, path, "unknown architecture '%s'", json_string_value(j));
        int r = seccomp_arch_add(ctx, t);
        if (r < 0 && r != -EEXIST)
                return tf_error_setc(c->err, r, "%s: seccomp profile %s: %s: add architecture '%s'",
                                     c->prefix, c->name, path, json_string_value(j));
        note_arch(c, t);
        return 0;
}

static int compile_archs(struct profile_ctx *c, scmp_filter_ctx ctx, json_t *root) {
        json_t *archs = json_object_get(root, "architectures"), *map = json_object_get(root, "archMap");
        char sub[128];
        size_t i, k;
        json_t *v, *w;
        if (archs && !json_is_null(archs) && map && !json_is_null(map) && json_array_size(archs) &&
            json_array_size(map))
                return perr(c, "architectures", "'architectures' and 'archMap' are both given; use one");
        if (archs && !json_is_null(archs)) {
                if (!json_is_array(archs))
                        return perr(c, "architectures", "expected an array");
                json_array_foreach(archs, i, v) {
                        snprintf(sub, sizeof(sub), "architectures[%zu]", i);
                        int r = add_arch(c, ctx, sub, v);
                        if (r < 0)
                                return r;
                }
        }
        if (map && !json_is_null(map)) {
                if (!json_is_array(map))
                        return perr(c, "archMap", "expected an array");
                json_array_foreach(map, i, v) {
                        snprintf(sub, sizeof(sub), "archMap[%zu]", i);
                        if (!json_is_object(v))
                                return perr(c, sub, "expected an object");
                        json_t *a = json_object_get(v, "architecture"),
                               *subs = json_object_get(v, "subArchitectures");
                        snprintf(sub, sizeof(sub), "archMap[%zu].architecture", i);
                        if (!json_is_string(a) || !tf_startswith(json_string_value(a), "SCMP_ARCH_"))
                                return perr(c, sub,
                                            "expected an architecture name like \"SCMP_ARCH_X86_64\"");
                        if (subs && !json_is_null(subs) && !json_is_array(subs)) {
                                snprintf(sub, sizeof(sub), "archMap[%zu].subArchitectures", i);
                                return perr(c, sub, "expected an array");
                        }
                        /* Only the native architecture's entry counts, as in moby's setupSeccomp(): an
                         * entry for an architecture this libseccomp does not know (SCMP_ARCH_LOONGARCH64
                         * before 2.6) cannot be the native one and is skipped; the native entry's
                         * sub-architectures must all be known, as runc refuses them otherwise. */
                        bool native = arch_token(json_string_value(a)) == c->native_arch;
                        json_array_foreach(subs, k, w) {
                                snprintf(sub, sizeof(sub), "archMap[%zu].subArchitectures[%zu]", i, k);
                                if (!json_is_string(w) || (native && arch_token(json_string_value(w)) == 0))
                                        return perr(c, sub, "unknown architecture '%s'",
                                                    json_is_string(w) ? json_string_value(w)
                                                                      : "(not a string)");
                                if (native) {
                                        int r = add_arch(c, ctx, sub, w);
                                        if (r < 0)
                                                return r;
                                }
                        }
                }
        }
        return 0;
}

static int compile_flags(struct profile_ctx *c, json_t *root, unsigned *ret) {
        json_t *flags = json_object_get(root, "flags");
        *ret = 0;
        if (!flags || json_is_null(flags))
                return 0;
        if (!json_is_array(flags))
                return perr(c, "flags", "expected an array");
        size_t i;
        json_t *v;
        json_array_foreach(flags, i, v) {
                char sub[64];
                snprintf(sub, sizeof(sub), "flags[%zu]", i);
                const char *f = json_string_value(v);
                if (streq(f, "SECCOMP_FILTER_FLAG_LOG"))
                        *ret |= SECCOMP_FILTER_FLAG_LOG;
                else if (streq(f, "SECCOMP_FILTER_FLAG_SPEC_ALLOW"))
                        *ret |= SECCOMP_FILTER_FLAG_SPEC_ALLOW;
                else if (streq(f, "SECCOMP_FILTER_FLAG_TSYNC"))
                        *ret |= SECCOMP_FILTER_FLAG_TSYNC; /* the child has one thread: harmless */
                else
                        return perr(c, sub, "unknown flag '%s'", f ? f : "(not a string)");
        }
        return 0;
}

/*
 * Syscalls newer than the profile answer ENOSYS, as runc's filters do (libcontainer/seccomp/patchbpf,
 * the same in runc 1.1 and 1.2): programs fall back on ENOSYS (glibc's fchmodat2 -> fchmodat, clone3 ->
 * clone), never on the profile's EPERM. A stub runs before libseccomp's program: on each architecture of
 * the filter, a number above the highest one any applying entry names (note_names()) returns
 * ERRNO(ENOSYS); everything else, and an architecture the filter does not know, goes on to the program,
 * where a known syscall the profile does not allow keeps the default action (EPERM). x86_64 and x32 share
 * AUDIT_ARCH_X86_64 and are told apart by the x32 bit of the number, as runc does; s390's multiplexer
 * (number 0) answers ENOSYS as well. Both evaluate names with the host's libseccomp, so on one host a
 * profile gives the same verdicts natively and under runc.
 */
#define ENOSYS_STUB_MAX 96
#define X32_SYSCALL_BIT 0x40000000U
#define STUB_ARCH_OFF offsetof(struct seccomp_data, arch)
#define STUB_NR_OFF offsetof(struct seccomp_data, nr)

/* runc prepends no stub when the default action already allows (ALLOW, LOG, TRACE) or is ENOSYS. */
static bool enosys_wanted(json_t *root, uint32_t def) {
        json_t *jdef = json_object_get(root, "defaultAction"),
               *jerr = json_object_get(root, "defaultErrnoRet");
        const char *a = json_string_value(jdef);
        if (a && (streq(a, "SCMP_ACT_ALLOW") || streq(a, "SCMP_ACT_LOG") || streq(a, "SCMP_ACT_TRACE")))
                return false;
        if (json_is_integer(jerr) && json_integer_value(jerr) == ENOSYS)
                return false;
        return def != SCMP_ACT_ERRNO(ENOSYS);
}

/* A tiny assembler: jumps name labels, resolved once the stub is laid out. */
/* L_SECTION + k: the section of audit arch k; L_SECTION + ARCHS + k: its x32 half. */
enum { L_FILTER = 0, L_ENOSYS = 1, L_SECTION = 2 };
struct stub_insn {
        struct sock_filter f;
        int jt, jf; /* label or -1 (next instruction) */
};

static size_t stub_emit(struct stub_insn *s, size_t n, uint16_t code, uint32_t k, int jt, int jf) {
        assert(n < ENOSYS_STUB_MAX);
        s[n] = (struct stub_insn){.f = BPF_STMT(code, k), .jt = jt, .jf = jf};
        return n + 1;
}

static size_t enosys_stub(const struct profile_ctx *c, struct sock_filter *out) {
        struct stub_insn s[ENOSYS_STUB_MAX];
        enum { ARCHS = ELEMENTSOF(c->archs) };
        int label[L_SECTION + 2 * ARCHS];
        size_t n = 0;
        /* Group the architectures by audit arch: x32 joins x86_64. */
        uint32_t audit[ELEMENTSOF(c->archs)];
        int last64[ELEMENTSOF(c->archs)], last32[ELEMENTSOF(c->archs)];
        size_t n_audit = 0;
        for (size_t i = 0; i < c->n_archs; i++) {
                if (c->archs[i].last <= 0)
                        continue;
                bool x32 = c->archs[i].arch == SCMP_ARCH_X32;
                /* libseccomp's tokens are the AUDIT_ARCH_* values, but for x32 */
                uint32_t a = x32 ? SCMP_ARCH_X86_64 : c->archs[i].arch;
                size_t k = 0;
                while (k < n_audit && audit[k] != a)
                        k++;
                if (k == n_audit) {
                        audit[n_audit] = a;
                        last64[n_audit] = last32[n_audit] = 0;
                        n_audit++;
                }
                if (x32)
                        last32[k] = c->archs[i].last;
                else
                        last64[k] = c->archs[i].last;
        }
        if (n_audit == 0)
                return 0;

        n = stub_emit(s, n, BPF_LD | BPF_W | BPF_ABS, STUB_ARCH_OFF, -1, -1);
        for (size_t k = 0; k < n_audit; k++)
                n = stub_emit(s, n, BPF_JMP | BPF_JEQ | BPF_K, audit[k], L_SECTION + (int)k, -1);
        n = stub_emit(s, n, BPF_JMP | BPF_JA, 0, L_FILTER, -1);
        for (size_t k = 0; k < n_audit; k++) {
                label[L_SECTION + k] = (int)n;
                n = stub_emit(s, n, BPF_LD | BPF_W | BPF_ABS, STUB_NR_OFF, -1, -1);
                if (audit[k] == SCMP_ARCH_S390 || audit[k] == SCMP_ARCH_S390X)
                        n = stub_emit(s, n, BPF_JMP | BPF_JEQ | BPF_K, 0, L_ENOSYS, -1);
                if (audit[k] == SCMP_ARCH_X86_64) {
                        /* x32 numbers carry the x32 bit; libseccomp's x32 numbers include it. An ABI the
                         * filter does not name goes on to the program, which refuses it. */
                        n = stub_emit(s, n, BPF_JMP | BPF_JSET | BPF_K, X32_SYSCALL_BIT,
                                      L_SECTION + ARCHS + (int)k, -1);
                        if (last64[k] > 0)
                                n = stub_emit(s, n, BPF_JMP | BPF_JGT | BPF_K, (uint32_t)last64[k], L_ENOSYS,
                                              L_FILTER);
                        else
                                n = stub_emit(s, n, BPF_JMP | BPF_JA, 0, L_FILTER, -1);
                        label[L_SECTION + ARCHS + k] = (int)n;
                        if (last32[k] > 0)
                                n = stub_emit(s, n, BPF_JMP | BPF_JGT | BPF_K, (uint32_t)last32[k], L_ENOSYS,
                                              L_FILTER);
                        else
                                n = stub_emit(s, n, BPF_JMP | BPF_JA, 0, L_FILTER, -1);
                        continue;
                }
                n = stub_emit(s, n, BPF_JMP | BPF_JGT | BPF_K, (uint32_t)last64[k], L_ENOSYS, L_FILTER);
        }
        label[L_ENOSYS] = (int)n;
        n = stub_emit(s, n, BPF_RET | BPF_K, SCMP_ACT_ERRNO(ENOSYS), -1, -1);
        label[L_FILTER] = (int)n; /* libseccomp's program follows */

        /* Resolve: labels are absolute indexes, jumps are relative and only go forward. */
        for (size_t i = 0; i < n; i++) {
                int tgt[2] = {s[i].jt, s[i].jf};
                uint32_t off[2];
                for (int b = 0; b < 2; b++) {
                        int t = tgt[b] == -1 ? (int)i + 1 : label[tgt[b]];
                        assert(t > (int)i);
                        off[b] = (uint32_t)(t - (int)i - 1);
                }
                out[i] = s[i].f;
                if (BPF_CLASS(s[i].f.code) == BPF_JMP && BPF_OP(s[i].f.code) == BPF_JA)
                        out[i].k = off[0];
                else if (BPF_CLASS(s[i].f.code) == BPF_JMP) {
                        assert(off[0] <= 255 && off[1] <= 255);
                        out[i].jt = (uint8_t)off[0];
                        out[i].jf = (uint8_t)off[1];
                }
        }
        return n;
}

/* TFRUN_SECCOMP_COMPACT=0 keeps libseccomp's program as it is (benchmarks, tests comparing the two). */
static bool compact_wanted(void) {
        const char *v = secure_getenv("TFRUN_SECCOMP_COMPACT");
        return !v || !streq(v, "0");
}

/* The whole profile -> BPF in p->prog. Empty profile (no defaultAction, no syscalls): no filter, as in
 * moby. */
static int compile_profile(struct profile_ctx *c, json_t *root, struct tf_sandbox_plan *p) {
        if (!json_is_object(root))
                return tf_error_set(c->err, EINVAL, "%s: seccomp profile %s: expected a JSON object",
                                    c->prefix, c->name);
        json_t *jdef = json_object_get(root, "defaultAction"), *sys = json_object_get(root, "syscalls");
        if (!jdef && (!sys || json_array_size(sys) == 0))
                return 0;
        if (!jdef)
                return perr(c, "defaultAction", "missing");
        uint32_t def;
        int r = parse_action(c, "defaultAction", jdef, json_object_get(root, "defaultErrnoRet"), &def);
        if (r < 0)
                return r;
        json_t *lp = json_object_get(root, "listenerPath");
        if (json_is_string(lp) && json_string_length(lp) > 0)
                return perr(c, "listenerPath", "seccomp agents are not supported by tfrun");

        _cleanup_(seccomp_releasep) scmp_filter_ctx ctx = seccomp_init(def);
        if (!ctx)
                return tf_error_set(c->err, EINVAL, "%s: seccomp profile %s: seccomp_init failed", c->prefix,
                                    c->name);
        /* The filter is exported, never loaded by libseccomp; NNP is the child's business. */
        seccomp_attr_set(ctx, SCMP_FLTATR_CTL_NNP, 0);
        /* A binary tree over syscall numbers instead of libseccomp's default linear chain. Every system
         * call of the service walks the filter, and so does the kernel when the filter is attached: since
         * 5.11 it emulates the filter once per syscall number and architecture to build its allow-bitmap
         * cache. With Docker's ~370 allowed calls the chain makes that cost grow with the square of the
         * list. Only from libseccomp 2.5.4 on: before it, a tree with no rule ignored the default action
         * (libseccomp issue 370), which a profile whose rules are all filtered out by arch, caps or
         * minKernel would hit. */
        const struct scmp_version *sv = seccomp_version();
        unsigned ver = sv ? sv->major * 10000 + sv->minor * 100 + sv->micro : 0;
        if (ver >= 20504)
                seccomp_attr_set(ctx, SCMP_FLTATR_CTL_OPTIMIZE, 2);

        note_arch(c, c->native_arch); /* libseccomp's context starts with it */
        r = compile_archs(c, ctx, root);
        if (r < 0)
                return r;
        r = compile_flags(c, root, &p->seccomp_flags);
        if (r < 0)
                return r;
        if (sys && !json_is_null(sys)) {
                if (!json_is_array(sys))
                        return perr(c, "syscalls", "expected an array");
                size_t i;
                json_t *e;
                json_array_foreach(sys, i, e) {
                        r = compile_syscall(c, ctx, def, i, e);
                        if (r < 0)
                                return r;
                }
        }

        /* libseccomp 2.5 exports only to a descriptor; a memfd keeps it in memory. */
        _cleanup_close_ int fd = memfd_create("tfrun-seccomp", MFD_CLOEXEC);
        if (fd < 0)
                return tf_error_setc(c->err, errno, "%s: memfd_create", c->prefix);
        r = seccomp_export_bpf(ctx, fd);
        if (r < 0)
                return tf_error_setc(c->err, r, "%s: seccomp profile %s: export BPF", c->prefix, c->name);
        struct stat st;
        if (fstat(fd, &st) < 0)
                return tf_error_setc(c->err, errno, "%s: fstat memfd", c->prefix);
        size_t n = (size_t)st.st_size;
        if (n == 0 || n % sizeof(struct sock_filter) != 0 || n / sizeof(struct sock_filter) > BPF_MAXINSNS)
                return tf_error_set(c->err, E2BIG, "%s: seccomp profile %s: compiled filter has %zu bytes",
                                    c->prefix, c->name, n);
        struct sock_filter stub[ENOSYS_STUB_MAX];
        size_t n_stub = enosys_wanted(root, def) ? enosys_stub(c, stub) : 0;
        size_t total = n_stub + n / sizeof(struct sock_filter);
        if (total > BPF_MAXINSNS)
                return tf_error_set(c->err, E2BIG,
                                    "%s: seccomp profile %s: compiled filter has %zu instructions",
                                    c->prefix, c->name, total);
        struct sock_filter *insns = tf_malloc0(total * sizeof(struct sock_filter));
        memcpy(insns, stub, n_stub * sizeof(struct sock_filter));
        if (pread(fd, insns + n_stub, n, 0) != (ssize_t)n) {
                int e = errno ? errno : EIO;
                free(insns);
                return tf_error_setc(c->err, e, "%s: read compiled filter", c->prefix);
        }
        /* Attaching costs in proportion to the length (the kernel converts and JIT-compiles the program
         * on every seccomp(2)): the same verdicts as runs of syscall numbers, about half the length for
         * Docker's profile. Kept as compiled where that cannot be proven equal (bpf-compact.c). */
        struct sock_filter *small;
        size_t n_small;
        if (compact_wanted() && tf_bpf_compact(insns, total, &small, &n_small) == 0) {
                free(insns);
                insns = small;
                total = n_small;
        }
        p->prog.len = (unsigned short)total;
        p->prog.filter = insns;
        p->seccomp = true;
        return 0;
}

/*
 * The compiled filter, cached on disk. Compiling Docker's profile for its three architectures costs 10-20 ms
 * in libseccomp, most of a sandboxed launch. The key is everything the compiled filter depends on: tfrun's
 * and libseccomp's versions and its library file (a patched syscall table changes which names resolve),
 * the ENOSYS stub's layout, the kernel release (minKernel entries), the native architecture, the final
 * capability set (includes/excludes by caps) and the profile's canonical JSON text. The whole key is stored
 * in the entry and compared byte for byte, so the file name's hash may collide harmlessly. An entry is used
 * only if it and its directory belong to our effective uid and are not writable by group or others; a
 * malformed entry is a miss. Writing is best effort: a temp file renamed into place.
 * Directory: $TFRUN_CACHE_DIR/seccomp, else /var/cache/tfrun/seccomp as root, else
 * ${XDG_CACHE_HOME:-~/.cache}/tfrun/seccomp. TFRUN_SECCOMP_CACHE=0 turns it off.
 */
#define CACHE_MAGIC "tfrun-seccomp-bpf 1\n"
#define CACHE_MAX ((size_t) 4 << 20)

static char *cache_dir(void) {
        const char *off = secure_getenv("TFRUN_SECCOMP_CACHE");
        if (off && streq(off, "0"))
                return NULL;
        const char *d = secure_getenv("TFRUN_CACHE_DIR");
        if (d && *d == '/')
                return tf_asprintf("%s/seccomp", d);
        if (geteuid() == 0)
                return tf_strdup("/var/cache/tfrun/seccomp");
        const char *x = getenv("XDG_CACHE_HOME"), *h = getenv("HOME");
        if (x && *x == '/')
                return tf_asprintf("%s/tfrun/seccomp", x);
        return h && *h == '/' ? tf_asprintf("%s/.cache/tfrun/seccomp", h) : NULL;
}

static bool private_to_us(int fd) {
        struct stat st;
        return fstat(fd, &st) == 0 && st.st_uid == geteuid() && !(st.st_mode & (S_IWGRP | S_IWOTH));
}

/* The cache directory, created 0700 if missing; -1 when it cannot be trusted. */
static int cache_open_dir(const char *dir) {
        _cleanup_free_ char *p = tf_strdup(dir);
        for (char *q = p + 1; *q; q++)
                if (*q == '/') {
                        *q = 0;
                        (void) mkdir(p, 0755);
                        *q = '/';
                }
        (void) mkdir(p, 0700);
        int fd = open(p, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd >= 0 && !private_to_us(fd)) {
                close(fd);
                return -1;
        }
        return fd;
}

/* The libseccomp in use, as a file: its syscall tables decide which names resolve (rules and the ENOSYS
 * stub's highest numbers), and a distribution may patch them without changing the version. */
static char *libseccomp_identity(void) {
        Dl_info info;
        struct stat st;
        if (dladdr((void *)seccomp_init, &info) == 0 || !info.dli_fname || stat(info.dli_fname, &st) < 0)
                return tf_strdup("?");
        return tf_asprintf("%s %llu:%llu %lld %lld", info.dli_fname, (unsigned long long)st.st_dev,
                           (unsigned long long)st.st_ino, (long long)st.st_size, (long long)st.st_mtime);
}

/* The profile's own bytes are part of the key, so a hit needs no JSON parsing at all. "enosys 1" names
 * the stub's layout (enosys_stub()) and "compact 1" the rewrite (bpf-compact.c), so that a change to
 * either never meets an old entry. */
static char *cache_key(const struct profile_ctx *c, const char *text, size_t len) {
        const struct scmp_version *v = seccomp_version();
        _cleanup_free_ char *lib = libseccomp_identity();
        return tf_asprintf("tfrun %s|libseccomp %u.%u.%u (%s)|tree|enosys 1|compact %d|kernel %u.%u.%u|"
                           "arch %u|caps %llx|%.*s",
                           TF_VERSION, v ? v->major : 0, v ? v->minor : 0, v ? v->micro : 0, lib,
                           compact_wanted() ? 1 : 0,
                           c->kernel[0], c->kernel[1], c->kernel[2], c->native_arch,
                           (unsigned long long)c->caps, (int)len, text);
}

static uint64_t fnv1a(const char *s) {
        uint64_t h = 0xcbf29ce484222325ULL;
        for (; *s; s++)
                h = (h ^ (unsigned char) *s) * 0x100000001b3ULL;
        return h;
}

static struct sock_filter *insns_dup(const void *f, size_t n) {
        struct sock_filter *d = tf_malloc0(n * sizeof(*d));
        memcpy(d, f, n * sizeof(*d));
        return d;
}

/* The plan's filter: a copy of f[n] (from a cache, on disk or in memory). */
static void plan_set_filter(struct tf_sandbox_plan *p, const void *f, size_t n, uint32_t flags) {
        p->prog.len = (unsigned short) n;
        p->prog.filter = insns_dup(f, n);
        p->seccomp_flags = flags;
        p->seccomp = true;
}

/* Entry: magic, u32 key length, key, u32 flags, u32 instruction count, instructions. */
static bool cache_load(int dfd, const char *name, const char *key, struct tf_sandbox_plan *p) {
        _cleanup_close_ int fd = openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
        struct stat st;
        if (fd < 0 || !private_to_us(fd) || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) ||
            (size_t) st.st_size > CACHE_MAX)
                return false;
        size_t n = (size_t) st.st_size;
        _cleanup_free_ char *buf = tf_malloc0(n + 1);
        if (pread(fd, buf, n, 0) != (ssize_t) n)
                return false;
        size_t ml = strlen(CACHE_MAGIC), kl = strlen(key), off = ml;
        uint32_t u;
        if (n < ml + 12 || memcmp(buf, CACHE_MAGIC, ml) != 0)
                return false;
        memcpy(&u, buf + off, 4);
        off += 4;
        if (u != kl || n < off + kl + 8 || memcmp(buf + off, key, kl) != 0)
                return false;
        off += kl;
        uint32_t flags, count;
        memcpy(&flags, buf + off, 4);
        memcpy(&count, buf + off + 4, 4);
        off += 8;
        if (count == 0 || count > BPF_MAXINSNS || n != off + (size_t) count * sizeof(struct sock_filter))
                return false;
        plan_set_filter(p, buf + off, count, flags);
        return true;
}

static void cache_store(int dfd, const char *name, const char *key, const struct tf_sandbox_plan *p) {
        char tmp[64];
        snprintf(tmp, sizeof(tmp), ".%s.%d.tmp", name, (int) getpid());
        _cleanup_close_ int fd = openat(dfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (fd < 0)
                return;
        uint32_t kl = (uint32_t) strlen(key), flags = p->seccomp_flags, count = p->prog.len;
        bool ok = write(fd, CACHE_MAGIC, strlen(CACHE_MAGIC)) == (ssize_t) strlen(CACHE_MAGIC) &&
                  write(fd, &kl, 4) == 4 && write(fd, key, kl) == (ssize_t) kl && write(fd, &flags, 4) == 4 &&
                  write(fd, &count, 4) == 4 &&
                  write(fd, p->prog.filter, count * sizeof(struct sock_filter)) ==
                          (ssize_t) (count * sizeof(struct sock_filter));
        if (!ok || renameat(dfd, tmp, dfd, name) < 0)
                (void) unlinkat(dfd, tmp, 0);
}

/* The filters a process compiled or loaded, newest last; beyond CACHE_FILTERS the oldest goes. */
#define CACHE_FILTERS 8
struct tf_sandbox_cache {
        bool have_cgmounts;
        struct plan_cgmount *cgmounts;
        size_t n_cgmounts;
        struct {
                char *key;
                struct sock_filter *insns;
                unsigned short len;
                uint32_t flags;
        } filters[CACHE_FILTERS];
        size_t n_filters;
        int init_fd; /* tfrun-init in a sealed memfd, made at the first use; -1: not yet, or none here */
        int init_err;
};

struct tf_sandbox_cache *tf_sandbox_cache_new(void) {
        struct tf_sandbox_cache *c = tf_malloc0(sizeof(struct tf_sandbox_cache));
        c->init_fd = -1;
        return c;
}

#ifndef MFD_EXEC
#define MFD_EXEC 0x0010U
#endif

/* The embedded tfrun-init in a memfd, sealed against any change, executable (MFD_EXEC: a host with
 * vm.memfd_noexec 1 would otherwise make it non-executable; one with 2 refuses, and the child then stays
 * the init itself). */
static int init_program_make(void) {
#ifdef TF_HAVE_INIT_PROGRAM
        int fd = memfd_create("tfrun-init", MFD_CLOEXEC | MFD_ALLOW_SEALING | MFD_EXEC);
        if (fd < 0 && errno == EINVAL) /* before Linux 6.3, no MFD_EXEC: executable anyway */
                fd = memfd_create("tfrun-init", MFD_CLOEXEC | MFD_ALLOW_SEALING);
        if (fd < 0)
                return -errno;
        int r = tf_write_all(fd, tf_init_binary, tf_init_binary_size);
        if (r >= 0 && fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL) < 0)
                r = -errno;
        if (r < 0) {
                close(fd);
                return r;
        }
        return fd;
#else
        return -EOPNOTSUPP;
#endif
}

int tf_sandbox_init_program(struct tf_sandbox_cache *c) {
        if (!c)
                return -EINVAL;
        if (c->init_fd < 0 && !c->init_err) {
                int fd = init_program_make();
                if (fd < 0)
                        c->init_err = fd;
                else
                        c->init_fd = fd;
        }
        return c->init_fd >= 0 ? c->init_fd : c->init_err;
}

static void cgmounts_free(struct plan_cgmount *m, size_t n) {
        for (size_t i = 0; i < n; i++) {
                free(m[i].target);
                free(m[i].data);
        }
        free(m);
}

void tf_sandbox_cache_free(struct tf_sandbox_cache *c) {
        if (!c)
                return;
        cgmounts_free(c->cgmounts, c->n_cgmounts);
        if (c->init_fd >= 0)
                close(c->init_fd);
        for (size_t i = 0; i < c->n_filters; i++) {
                free(c->filters[i].key);
                free(c->filters[i].insns);
        }
        free(c);
}

static bool memory_load(const struct tf_sandbox_cache *mc, const char *key, struct tf_sandbox_plan *p) {
        for (size_t i = 0; mc && i < mc->n_filters; i++)
                if (streq(mc->filters[i].key, key)) {
                        plan_set_filter(p, mc->filters[i].insns, mc->filters[i].len, mc->filters[i].flags);
                        return true;
                }
        return false;
}

static void memory_store(struct tf_sandbox_cache *mc, const char *key, const struct tf_sandbox_plan *p) {
        if (!mc || !p->seccomp)
                return;
        if (mc->n_filters == CACHE_FILTERS) {
                free(mc->filters[0].key);
                free(mc->filters[0].insns);
                memmove(&mc->filters[0], &mc->filters[1], (CACHE_FILTERS - 1) * sizeof(mc->filters[0]));
                mc->n_filters--;
        }
        size_t i = mc->n_filters++;
        mc->filters[i].key = tf_strdup(key);
        mc->filters[i].insns = insns_dup(p->prog.filter, p->prog.len);
        mc->filters[i].len = p->prog.len;
        mc->filters[i].flags = p->seccomp_flags;
}

/* Parse and compile, or take the filter from the cache. `text` is the profile as read (NUL-free JSON). */
static int compile_profile_cached(struct profile_ctx *c, const char *text, size_t len, struct tf_sandbox_plan *p) {
        _cleanup_free_ char *key = cache_key(c, text, len);
        if (memory_load(c->cache, key, p))
                return 0;
        _cleanup_free_ char *dir = cache_dir();
        _cleanup_close_ int dfd = dir ? cache_open_dir(dir) : -1;
        char name[32];
        if (dfd >= 0) {
                snprintf(name, sizeof(name), "%016llx.bpf", (unsigned long long) fnv1a(key));
                if (cache_load(dfd, name, key, p)) {
                        memory_store(c->cache, key, p);
                        return 0;
                }
        }
        json_error_t je;
        _cleanup_json_ json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
        if (!root)
                return tf_error_set(c->err, EINVAL, "%s: seccomp profile %s:%d:%d: %s", c->prefix, c->name,
                                    je.line, je.column, je.text);
        int r = compile_profile(c, root, p);
        if (r == 0 && p->seccomp && dfd >= 0)
                cache_store(dfd, name, key, p);
        if (r == 0)
                memory_store(c->cache, key, p);
        return r;
}

static int read_profile(const char *prefix, const char *path, char **ret, size_t *ret_len, tf_error **err) {
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return tf_error_setc(err, errno, "%s: seccomp profile %s", prefix, path);
        struct stat st;
        if (fstat(fd, &st) < 0)
                return tf_error_setc(err, errno, "%s: seccomp profile %s", prefix, path);
        if (!S_ISREG(st.st_mode))
                return tf_error_set(err, EINVAL, "%s: seccomp profile %s: not a regular file", prefix, path);
        if (st.st_size > PROFILE_MAX_BYTES)
                return tf_error_set(err, EFBIG, "%s: seccomp profile %s: larger than %d bytes", prefix, path,
                                    PROFILE_MAX_BYTES);
        _cleanup_free_ char *buf = tf_malloc0((size_t)st.st_size + 1);
        ssize_t n = tf_read_full(fd, buf, (size_t)st.st_size);
        if (n < 0)
                return tf_error_setc(err, (int)-n, "%s: seccomp profile %s: read", prefix, path);
        size_t got = (size_t)n;
        /* JSON has no raw NUL; refusing it here also keeps the cache key (a C string) exact. */
        if (memchr(buf, 0, got))
                return tf_error_set(err, EINVAL, "%s: seccomp profile %s: contains a NUL byte", prefix, path);
        *ret = TAKE_PTR(buf);
        *ret_len = got;
        return 0;
}

static int prepare_seccomp(const struct tf_spec *s, struct tf_sandbox_plan *p, struct tf_sandbox_cache *cache,
                           tf_error **err) {
        const struct tf_sandbox *sb = &s->sandbox;
        if (sb->seccomp == TF_SECCOMP_UNCONFINED)
                return 0;
        _cleanup_free_ char *w = where(s, sb->pos_seccomp.line ? sb->pos_seccomp : s->pos_sandbox);
        _cleanup_free_ char *prefix = tf_asprintf("%s: sandbox.seccomp", w);
        struct utsname u;
        struct profile_ctx c = {
                .prefix = prefix,
                .caps = p->caps,
                .native_arch = seccomp_arch_native(),
                .cache = cache,
                .err = err,
        };
        c.go_arch = go_arch_name(c.native_arch);
        if (uname(&u) == 0)
                (void)parse_version(u.release, c.kernel);

        if (sb->seccomp == TF_SECCOMP_DEFAULT) {
                c.name = "default";
                return compile_profile_cached(&c, tf_seccomp_default_profile, strlen(tf_seccomp_default_profile), p);
        }
        if (!sb->seccomp_profile)
                return tf_error_set(err, EINVAL, "%s: no profile path", prefix);
        c.name = sb->seccomp_profile;
        _cleanup_free_ char *text = NULL;
        size_t len = 0;
        int r = read_profile(prefix, sb->seccomp_profile, &text, &len, err);
        if (r < 0)
                return r;
        return compile_profile_cached(&c, text, len, p);
}

/* ---------------------------------------------------------------------------------------------------- */

static int prepare_caps(const struct tf_spec *s, bool root, struct tf_sandbox_plan *p, tf_error **err) {
        const struct tf_sandbox *sb = &s->sandbox;
        uint64_t add = 0, drop = 0;
        bool add_all, drop_all;
        p->cap_last = kernel_cap_last();
        uint64_t known = p->cap_last >= 63 ? UINT64_MAX : (CAPBIT(p->cap_last + 1) - 1);

        int r = resolve_cap_list(s, "sandbox.cap_drop", sb->cap_drop, p->cap_last, false, &drop, &drop_all,
                                 err);
        if (r < 0)
                return r;
        r = resolve_cap_list(s, "sandbox.cap_add", sb->cap_add, p->cap_last, true, &add, &add_all, err);
        if (r < 0)
                return r;

        if (!root) {
                _cleanup_free_ char *w = where(s, s->pos_sandbox);
                if (add || add_all)
                        return tf_error_set(
                                err, EPERM,
                                "%s: sandbox.cap_add: tfrun is not running as root and cannot grant "
                                "capabilities",
                                w);
                if ((drop || drop_all) && !sb->no_new_privileges)
                        return tf_error_set(
                                err, EPERM,
                                "%s: sandbox.cap_drop: tfrun is not running as root and cannot shrink "
                                "the bounding set; keep no_new_privileges: true so that the service "
                                "cannot gain capabilities",
                                w);
                p->manage_caps = false;
                p->caps = 0;
                return 0;
        }

        /* moby TweakCapabilities: ALL in cap_add wins; ALL in cap_drop leaves exactly cap_add; otherwise
         * the defaults minus cap_drop plus cap_add (an explicit add beats a drop of the same name). */
        if (add_all)
                p->caps = (DOCKER_ALL_CAPS | add) & ~drop;
        else if (drop_all)
                p->caps = add;
        else
                p->caps = (docker_default_caps & ~drop) | add;
        p->caps &= known;
        /* Docker gives a non-root user nothing but the bounding set (CapEff 0 after execve); keeping
         * cap_add as ambient capabilities is the native-only choice sandbox.cap_ambient makes. */
        p->ambient = sb->cap_ambient ? add & p->caps : 0;
        p->manage_caps = true;
        return 0;
}

/* tfrun's own bounding set: what any child of it (and, on this host, the engine's runc) can hold. */
static uint64_t held_caps(unsigned cap_last) {
        uint64_t m = 0;
        for (unsigned c = 0; c <= cap_last; c++)
                if (prctl(PR_CAPBSET_READ, c, 0, 0, 0) == 1)
                        m |= CAPBIT(c);
        return m;
}

/* The service runs as uid 0: no user:, or "0" / "root" before any ':' (a name that maps to 0 otherwise is
 * rare enough to be looked up). */
static bool service_is_root(const struct tf_spec *s) {
        if (!s->user)
                return true;
        size_t n = strcspn(s->user, ":");
        _cleanup_free_ char *u = strndup(s->user, n);
        if (!u)
                tf_oom();
        if (streq(u, "0") || streq(u, "root"))
                return true;
        struct passwd *pw = u[0] < '0' || u[0] > '9' ? getpwnam(u) : NULL;
        return pw && pw->pw_uid == 0;
}

/* A root service holds its whole set in CapPrm, which cannot exceed the bounding set tfrun itself has: the
 * native capset would fail in the child, and runc fails the same way ("unable to apply caps: operation not
 * permitted"). Say which capability before anything starts, on both backends. A non-root service only has
 * the bounding set, where an absent capability is simply absent on both. */
static int check_held(const struct tf_spec *s, const struct tf_sandbox_plan *p, tf_error **err) {
        if (!p->manage_caps || !service_is_root(s))
                return 0;
        uint64_t missing = p->caps & ~held_caps(p->cap_last);
        if (!missing)
                return 0;
        char names[512] = "";
        size_t n = 0;
        for (unsigned c = 0; c <= p->cap_last && n < sizeof(names) - 32; c++)
                if (missing & CAPBIT(c))
                        n += (size_t)snprintf(names + n, sizeof(names) - n, "%s%s", n ? ", " : "",
                                              tf_cap_name(c) ?: "?");
        _cleanup_free_ char *w = where(s, s->pos_sandbox);
        return tf_error_set(err, EPERM,
                            "%s: sandbox.cap_add: this host does not grant %s to tfrun (not in its bounding "
                            "set), so a root service cannot hold %s; add %s to cap_drop",
                            w, names, __builtin_popcountll(missing) > 1 ? "them" : "it", names);
}

int tf_sandbox_check_capabilities(const struct tf_spec *spec, tf_error **err) {
        _cleanup_sandbox_plan_ struct tf_sandbox_plan *p = tf_malloc0(sizeof(*p));
        /* The engine runs the container as root, whatever uid tfrun has. */
        int r = prepare_caps(spec, true, p, err);
        if (r < 0)
                return r;
        return check_held(spec, p, err);
}

/* Superblock options of a v1 hierarchy that a fresh mount of it may not, or need not, repeat: only the
 * controllers and name= select the hierarchy (a mismatch of the rest is ignored by the kernel, and
 * release_agent is refused outside the initial namespaces). */
static bool cg1_option_kept(const char *o) {
        static const char *const dropped[] = {
                "rw", "ro", "clone_children", "noprefix", "xattr", "cpuset_v2_mode", "favordynmods"};
        if (tf_startswith(o, "release_agent="))
                return false;
        for (size_t i = 0; i < ELEMENTSOF(dropped); i++)
                if (streq(o, dropped[i]))
                        return false;
        return true;
}

/* The host's cgroup filesystems under /sys (from /proc/self/mountinfo), for the child to mount afresh
 * in its cgroup namespace, read-only, as a container has them: its own cgroup is the root there, so that
 * /proc/self/cgroup ("/") and /sys/fs/cgroup agree. */
static int read_cgmounts(struct tf_sandbox_plan *p, tf_error **err) {
        _cleanup_fclose_ FILE *f = fopen("/proc/self/mountinfo", "re");
        if (!f)
                return tf_error_setc(err, errno, "sandbox.cgroupns: open /proc/self/mountinfo");
        char line[4096];
        while (fgets(line, sizeof(line), f)) {
                char *sep = strstr(line, " - ");
                if (!sep)
                        continue;
                char target[PATH_MAX], fstype[64], source[256], opts[1024];
                if (sscanf(line, "%*s %*s %*s %*s %4095s", target) != 1 ||
                    sscanf(sep + 3, "%63s %255s %1023s", fstype, source, opts) != 3)
                        continue;
                bool v2 = streq(fstype, "cgroup2");
                if ((!v2 && !streq(fstype, "cgroup")) || !tf_startswith(target, "/sys/") ||
                    strchr(target, '\\'))
                        continue;
                _cleanup_free_ char *data = NULL;
                if (!v2) {
                        char *save = NULL;
                        for (char *o = strtok_r(opts, ",", &save); o; o = strtok_r(NULL, ",", &save)) {
                                if (!cg1_option_kept(o))
                                        continue;
                                char *d = data ? tf_asprintf("%s,%s", data, o) : tf_strdup(o);
                                free(data);
                                data = d;
                        }
                        if (!data)
                                continue;
                }
                p->cgmounts = tf_realloc(p->cgmounts, (p->n_cgmounts + 1) * sizeof(*p->cgmounts));
                p->cgmounts[p->n_cgmounts++] =
                        (struct plan_cgmount){.target = tf_strdup(target), .v2 = v2, .data = TAKE_PTR(data)};
                if (p->n_cgmounts >= TF_SANDBOX_MAX_MOUNTS)
                        break;
        }
        return 0;
}

static struct plan_cgmount *cgmounts_dup(const struct plan_cgmount *m, size_t n) {
        struct plan_cgmount *d = tf_malloc0((n ? n : 1) * sizeof(*d));
        for (size_t i = 0; i < n; i++)
                d[i] = (struct plan_cgmount){.target = tf_strdup(m[i].target),
                                             .v2 = m[i].v2,
                                             .data = m[i].data ? tf_strdup(m[i].data) : NULL};
        return d;
}

static int prepare_cgmounts(struct tf_sandbox_plan *p, struct tf_sandbox_cache *cache, tf_error **err) {
        if (cache && cache->have_cgmounts) {
                p->cgmounts = cgmounts_dup(cache->cgmounts, cache->n_cgmounts);
                p->n_cgmounts = cache->n_cgmounts;
                return 0;
        }
        int r = read_cgmounts(p, err);
        if (r < 0 || !cache)
                return r;
        cache->cgmounts = cgmounts_dup(p->cgmounts, p->n_cgmounts);
        cache->n_cgmounts = p->n_cgmounts;
        cache->have_cgmounts = true;
        return 0;
}

/* A non-root tfrun builds the default sandbox in a user namespace of the child's own; where the kernel
 * allows none, the run is refused here, never silently left unconfined. */
static int check_userns(const struct tf_spec *spec, tf_error **err) {
        static const struct {
                const char *path, *name;
        } knobs[] = {
                {"/proc/sys/kernel/unprivileged_userns_clone", "kernel.unprivileged_userns_clone"},
                {"/proc/sys/user/max_user_namespaces", "user.max_user_namespaces"},
        };
        for (size_t i = 0; i < ELEMENTSOF(knobs); i++) {
                _cleanup_fclose_ FILE *f = fopen(knobs[i].path, "re");
                long v;
                if (!f || fscanf(f, "%ld", &v) != 1 || v != 0)
                        continue;
                _cleanup_free_ char *w = where(spec, spec->pos_sandbox);
                return tf_error_set(
                        err, EPERM,
                        "%s: sandbox: the default sandbox needs an unprivileged user namespace "
                        "when tfrun is not root, and this kernel allows none (%s = 0); run tfrun "
                        "as root, set %s to 1, or write `sandbox: host` to run unconfined",
                        w, knobs[i].name, knobs[i].name);
        }
        return 0;
}

int tf_sandbox_prepare(const struct tf_spec *spec, bool running_as_root, struct tf_sandbox_plan **ret,
                       tf_error **err) {
        return tf_sandbox_prepare_cached(NULL, spec, running_as_root, ret, err);
}

int tf_sandbox_prepare_cached(struct tf_sandbox_cache *cache, const struct tf_spec *spec, bool running_as_root,
                              struct tf_sandbox_plan **ret, tf_error **err) {
        const struct tf_sandbox *sb = &spec->sandbox;
        struct tf_sandbox_plan *p = tf_malloc0(sizeof(*p));
        _cleanup_sandbox_plan_ struct tf_sandbox_plan *owned = p;
        int r;

        p->no_new_privs = sb->no_new_privileges;

        if (sb->network == TF_NETWORK_BRIDGE || sb->network == TF_NETWORK_NAMED) {
                _cleanup_free_ char *w =
                        where(spec, sb->pos_network.line ? sb->pos_network : spec->pos_sandbox);
                return tf_error_set(
                        err, EOPNOTSUPP,
                        "%s: sandbox.network: '%s' exists only with the docker backend; the native "
                        "backend supports none and host",
                        w,
                        sb->network == TF_NETWORK_BRIDGE ? "bridge"
                        : sb->network_name               ? sb->network_name
                                                         : "named");
        }
        p->unshare_net = sb->network == TF_NETWORK_NONE;
        p->read_only_root = sb->read_only_root;
        p->private_tmp = sb->private_tmp;
        /* The default sandbox: every namespace of its own but the network's (pid: unset is private),
         * hence always a mount namespace, for the pid namespace's /proc, the masks and a read-only /sys. */
        p->pid_private = sb->pid != TF_PID_HOST;
        p->unshare_ipc = sb->ipc == TF_NS_PRIVATE;
        p->unshare_uts = sb->uts == TF_NS_PRIVATE;
        p->unshare_cgroup = sb->cgroupns == TF_NS_PRIVATE;
        p->mask_system_paths = sb->system_paths == TF_SYSTEM_PATHS_MASKED;
        p->unshare_mnt = true;

        /* Without root, the namespaces come from a user namespace; what needs root's view of the host
         * (the host's network devices, binds of host mounts, a read-only root, a private /tmp) is still
         * refused. */
        if (!running_as_root &&
            (p->unshare_net || sb->read_only_root || sb->private_tmp || spec->n_mounts > 0)) {
                const char *key = p->unshare_net       ? "sandbox.network"
                                  : sb->read_only_root ? "sandbox.read_only_root"
                                  : sb->private_tmp    ? "sandbox.private_tmp"
                                                       : "mounts";
                struct tf_pos pos = p->unshare_net && sb->pos_network.line ? sb->pos_network
                                    : streq(key, "mounts")                 ? spec->pos_mounts
                                                                           : spec->pos_sandbox;
                _cleanup_free_ char *w = where(spec, pos);
                return tf_error_set(err, EPERM,
                                    "%s: %s: needs tfrun to run as root (new namespaces and mounts need "
                                    "CAP_SYS_ADMIN)",
                                    w, key);
        }

        if (!running_as_root) {
                r = check_userns(spec, err);
                if (r < 0)
                        return r;
                p->userns = true;
                p->outer_uid = geteuid();
                p->outer_gid = getegid();
        }
        if (p->unshare_cgroup) {
                r = prepare_cgmounts(p, cache, err);
                if (r < 0)
                        return r;
        }

        r = prepare_caps(spec, running_as_root, p, err);
        if (r < 0)
                return r;
        r = check_held(spec, p, err);
        if (r < 0)
                return r;

        if (sb->seccomp != TF_SECCOMP_UNCONFINED && !sb->no_new_privileges && !running_as_root) {
                _cleanup_free_ char *w =
                        where(spec, sb->pos_seccomp.line ? sb->pos_seccomp : spec->pos_sandbox);
                return tf_error_set(
                        err, EPERM,
                        "%s: sandbox.seccomp: installing a filter without no_new_privileges needs "
                        "tfrun to run as root; set no_new_privileges: true or seccomp: unconfined",
                        w);
        }
        r = prepare_seccomp(spec, p, cache, err);
        if (r < 0)
                return r;

        r = prepare_mounts(spec, p, err);
        if (r < 0)
                return r;

        *ret = TAKE_PTR(owned);
        return 0;
}

int tf_sandbox_check_seccomp_profile(const struct tf_spec *spec, tf_error **err) {
        if (spec->sandbox.seccomp != TF_SECCOMP_PROFILE)
                return 0;
        _cleanup_sandbox_plan_ struct tf_sandbox_plan *p = tf_malloc0(sizeof(*p));
        /* The capability set a root engine gives the container decides the caps-gated entries. */
        int r = prepare_caps(spec, true, p, err);
        if (r < 0)
                return r;
        return prepare_seccomp(spec, p, NULL, err);
}

struct tf_sandbox_plan *tf_sandbox_plan_free(struct tf_sandbox_plan *p) {
        if (!p)
                return NULL;
        for (size_t i = 0; i < p->n_mounts; i++) {
                if (p->mounts[i].source_fd >= 0)
                        close(p->mounts[i].source_fd);
                free(p->mounts[i].target);
        }
        free(p->mounts);
        cgmounts_free(p->cgmounts, p->n_cgmounts);
        free(p->prog.filter);
        free(p);
        return NULL;
}

uint64_t tf_sandbox_plan_capabilities(const struct tf_sandbox_plan *p) {
        return p->caps;
}

uint64_t tf_sandbox_plan_ambient(const struct tf_sandbox_plan *p) {
        return p->ambient;
}

bool tf_sandbox_plan_pid_private(const struct tf_sandbox_plan *p) {
        return p && p->pid_private;
}

uint64_t tf_sandbox_plan_clone_flags(const struct tf_sandbox_plan *p) {
        if (!p)
                return 0;
        return (p->pid_private ? CLONE_NEWPID : 0) | (p->userns ? CLONE_NEWUSER : 0);
}

bool tf_sandbox_plan_has_seccomp(const struct tf_sandbox_plan *p) {
        return p->seccomp;
}

size_t tf_sandbox_plan_seccomp_instructions(const struct tf_sandbox_plan *p) {
        return p->seccomp ? p->prog.len : 0;
}
