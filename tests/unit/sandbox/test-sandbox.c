/* SPDX-License-Identifier: MIT */
/*
 * The native backend's sandbox on the real kernel: prepare a plan from a hand-built spec, fork, apply it in
 * the child in the order native.c uses (namespaces, bounding set, user switch, privileges), exec
 * sandbox-probe and assert on what the probe sees after execve. Needs root.
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <sched.h>
#include <sys/prctl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/strutil.h"
#include "sandbox/sandbox.h"
#include "tests/tap.h"

static const char *probe;
static char tmpdir[64];

static void spec_init(struct tf_spec *s) {
        memset(s, 0, sizeof(*s));
        s->path = (char *)"test.yaml";
        s->sandbox.seccomp = TF_SECCOMP_DEFAULT;
        s->sandbox.no_new_privileges = true;
        s->sandbox.network = TF_NETWORK_UNSET;
        s->sandbox_present = true;
        s->pos_sandbox = (struct tf_pos){3, 1};
}

struct result {
        char out[8192];
        char err[512];
        int status; /* exit code, or -1 */
};

/* The value of "key=" in the probe's output, or NULL. */
static const char *val(const struct result *r, const char *key) {
        static char buf[512];
        size_t kl = strlen(key);
        for (const char *l = r->out; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL) {
                if (strncmp(l, key, kl) == 0 && l[kl] == '=') {
                        size_t n = strcspn(l + kl + 1, "\n");
                        if (n >= sizeof(buf))
                                n = sizeof(buf) - 1;
                        memcpy(buf, l + kl + 1, n);
                        buf[n] = 0;
                        return buf;
                }
        }
        return NULL;
}

static int ival(const struct result *r, const char *key) {
        const char *v = val(r, key);
        return v ? atoi(v) : -12345;
}

static uint64_t hval(const struct result *r, const char *key) {
        const char *v = val(r, key);
        return v ? strtoull(v, NULL, 16) : UINT64_MAX;
}

static _Noreturn void child_fail(int fd, const char *what, int e) {
        char m[512];
        int n = snprintf(m, sizeof(m), "%s: %s", what, strerror(e));
        ssize_t _unused_ w = write(fd, m, (size_t)n);
        _exit(125);
}

/* Runs the probe under plan p as uid (or as root when uid is (uid_t) -1). */
static void run(const struct tf_sandbox_plan *p, uid_t uid, char **args, struct result *r) {
        memset(r, 0, sizeof(*r));
        r->status = -1;
        int out[2], errp[2];
        if (pipe2(out, O_CLOEXEC) < 0 || pipe2(errp, O_CLOEXEC) < 0)
                abort();
        char *argv[32] = {(char *)probe};
        for (size_t i = 0; args[i] && i < 30; i++)
                argv[i + 1] = args[i];
        pid_t pid = fork();
        if (pid == 0) {
                char what[256] = "";
                int ret;
                dup2(out[1], 1);
                /* What native.c's clone3 does for a non-root tfrun (the pid namespace aside). */
                if ((tf_sandbox_plan_clone_flags(p) & CLONE_NEWUSER) && unshare(CLONE_NEWUSER) < 0)
                        child_fail(errp[1], "unshare(CLONE_NEWUSER)", errno);
                if ((ret = tf_sandbox_child_namespaces(p, what, sizeof(what))) < 0)
                        child_fail(errp[1], what, -ret);
                if ((ret = tf_sandbox_child_bounding(p, what, sizeof(what))) < 0)
                        child_fail(errp[1], what, -ret);
                if (uid != (uid_t)-1) {
                        if (setgroups(0, NULL) < 0)
                                child_fail(errp[1], "setgroups", errno);
                        if (setresgid(uid, uid, uid) < 0)
                                child_fail(errp[1], "setresgid", errno);
                        if (setresuid(uid, uid, uid) < 0)
                                child_fail(errp[1], "setresuid", errno);
                }
                if ((ret = tf_sandbox_child_privileges(p, what, sizeof(what))) < 0)
                        child_fail(errp[1], what, -ret);
                execv(probe, argv);
                child_fail(errp[1], "execv", errno);
        }
        close(out[1]);
        close(errp[1]);
        size_t got = 0;
        ssize_t n;
        while ((n = read(out[0], r->out + got, sizeof(r->out) - 1 - got)) > 0)
                got += (size_t)n;
        r->out[got] = 0;
        n = read(errp[0], r->err, sizeof(r->err) - 1);
        r->err[n > 0 ? n : 0] = 0;
        close(out[0]);
        close(errp[0]);
        int st;
        if (waitpid(pid, &st, 0) == pid && WIFEXITED(st))
                r->status = WEXITSTATUS(st);
        if (r->status != 0 || r->err[0])
                printf("# child: status %d, error '%s'\n# output:\n%s", r->status, r->err, r->out);
}

/* Prepare + run in one; returns the prepare result. */
static int prepare_run(const struct tf_spec *s, uid_t uid, char **args, struct result *r) {
        _cleanup_sandbox_plan_ struct tf_sandbox_plan *p = NULL;
        _cleanup_error_ tf_error *e = NULL;
        int ret = tf_sandbox_prepare(s, true, &p, &e);
        if (ret < 0) {
                printf("# prepare: %s\n", e ? e->msg : "?");
                memset(r, 0, sizeof(*r));
                r->status = -1;
                return ret;
        }
        run(p, uid, args, r);
        return 0;
}

static char *prepare_error(const struct tf_spec *s, bool root) {
        struct tf_sandbox_plan *p = NULL;
        _cleanup_error_ tf_error *e = NULL;
        int ret = tf_sandbox_prepare(s, root, &p, &e);
        tf_sandbox_plan_free(p);
        if (ret >= 0)
                return tf_strdup("(no error)");
        return tf_strdup(e && e->msg ? e->msg : "(no message)");
}

static void write_file(const char *path, const char *text) {
        FILE *f = fopen(path, "we");
        if (!f)
                abort();
        fputs(text, f);
        fclose(f);
}

static uint64_t usec_now(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

static int cmp_u64(const void *a, const void *b) {
        uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
        return x < y ? -1 : x > y;
}

static void test_prepare_time(void) {
        struct tf_spec s;
        spec_init(&s);
        uint64_t t[25];
        size_t insns = 0;
        bool ok = true;
        for (size_t i = 0; i < ELEMENTSOF(t); i++) {
                struct tf_sandbox_plan *p = NULL;
                uint64_t a = usec_now();
                if (tf_sandbox_prepare(&s, true, &p, NULL) < 0)
                        ok = false;
                t[i] = usec_now() - a;
                if (p)
                        insns = tf_sandbox_plan_seccomp_instructions(p);
                tf_sandbox_plan_free(p);
        }
        qsort(t, ELEMENTSOF(t), sizeof(t[0]), cmp_u64);
        OK(ok && insns > 100, "prepare(seccomp: default) compiles a filter (%zu BPF instructions)", insns);
        printf("# prepare(seccomp: default): min %llu us, median %llu us, max %llu us over %zu runs\n",
               (unsigned long long)t[0], (unsigned long long)t[ELEMENTSOF(t) / 2],
               (unsigned long long)t[ELEMENTSOF(t) - 1], ELEMENTSOF(t));
}

/* A long-lived process's plans through one tf_sandbox_cache: the same filter as without it, and a plan for
 * other capabilities (another key) never gets the filter cached for the first. */
static void test_prepare_cached(void) {
        struct tf_spec s;
        struct result r;
        spec_init(&s);
        struct tf_sandbox_cache *c = tf_sandbox_cache_new();
        struct tf_sandbox_plan *p0 = NULL, *p1 = NULL, *p2 = NULL;
        bool ok = tf_sandbox_prepare(&s, true, &p0, NULL) == 0 &&
                  tf_sandbox_prepare_cached(c, &s, true, &p1, NULL) == 0 &&
                  tf_sandbox_prepare_cached(c, &s, true, &p2, NULL) == 0;
        OK(ok && tf_sandbox_plan_seccomp_instructions(p0) > 100 &&
                   tf_sandbox_plan_seccomp_instructions(p1) == tf_sandbox_plan_seccomp_instructions(p0) &&
                   tf_sandbox_plan_seccomp_instructions(p2) == tf_sandbox_plan_seccomp_instructions(p0) &&
                   tf_sandbox_plan_capabilities(p2) == tf_sandbox_plan_capabilities(p0),
           "cached plans: the same filter (%zu instructions) and capabilities as an uncached one",
           p0 ? tf_sandbox_plan_seccomp_instructions(p0) : 0);
        char *args[] = {"status", "try", "reboot", NULL};
        if (p2)
                run(p2, (uid_t)-1, args, &r);
        IS_INT(ok ? ival(&r, "reboot") : -1, EPERM, "cached default plan: reboot -> EPERM (the filter is in force)");
        char *add[] = {(char *)"SYS_BOOT", NULL};
        s.sandbox.cap_add = add;
        struct tf_sandbox_plan *p3 = NULL;
        ok = tf_sandbox_prepare_cached(c, &s, true, &p3, NULL) == 0;
        if (p3)
                run(p3, (uid_t)-1, args, &r);
        IS_INT(ok ? ival(&r, "reboot") : -1, EINVAL,
               "cached plan with CAP_SYS_BOOT: its own filter, which allows reboot (EINVAL), not the first's");
        tf_sandbox_plan_free(p0);
        tf_sandbox_plan_free(p1);
        tf_sandbox_plan_free(p2);
        tf_sandbox_plan_free(p3);
        tf_sandbox_cache_free(c);
}

static void test_seccomp_default(void) {
        struct tf_spec s;
        struct result r;
        spec_init(&s);
        /* SYS_BOOT makes the default profile allow reboot (an includes.caps entry) but nothing allows
         * kexec_load: with the capability held, EPERM can only come from the filter. */
        char *add[] = {(char *)"SYS_BOOT", NULL};
        s.sandbox.cap_add = add;
        char *args[] = {"status",       "try", "reboot", "try", "kexec_load", "try", "keyctl", "try",
                        "unshare-user", "try", "clone3", "try", "getpid",     "try", "write",  NULL};
        prepare_run(&s, (uid_t)-1, args, &r);
        IS_INT(r.status, 0, "default profile: probe ran");
        IS_INT(ival(&r, "Seccomp"), 2, "default profile: Seccomp: 2 (filter mode)");
        IS_INT(ival(&r, "reboot"), EINVAL,
               "default profile + CAP_SYS_BOOT: reboot allowed (kernel says EINVAL)");
        IS_INT(ival(&r, "kexec_load"), EPERM, "default profile: kexec_load -> EPERM");
        IS_INT(ival(&r, "keyctl"), EPERM, "default profile: keyctl -> EPERM");
        IS_INT(ival(&r, "unshare-user"), EPERM,
               "default profile: unshare(CLONE_NEWUSER) without SYS_ADMIN -> EPERM");
        IS_INT(ival(&r, "clone3"), ENOSYS,
               "default profile: clone3 without SYS_ADMIN -> ENOSYS (errnoRet 38)");
        IS_INT(ival(&r, "getpid"), 0, "default profile: getpid works");
        IS_INT(ival(&r, "write"), 0, "default profile: write works");

        /* Control: the same capabilities without a filter, so the EPERMs above are the filter's. */
        s.sandbox.seccomp = TF_SECCOMP_UNCONFINED;
        prepare_run(&s, (uid_t)-1, args, &r);
        IS_INT(ival(&r, "Seccomp"), 0, "unconfined: Seccomp: 0");
        OK(ival(&r, "kexec_load") != EPERM, "unconfined control: kexec_load is not EPERM (%d)",
           ival(&r, "kexec_load"));
        OK(ival(&r, "keyctl") != EPERM, "unconfined control: keyctl is not EPERM (%d)", ival(&r, "keyctl"));
        IS_INT(ival(&r, "unshare-user"), 0, "unconfined control: unshare(CLONE_NEWUSER) works");

        /* Without SYS_BOOT the includes.caps entry drops out and reboot is filtered. */
        spec_init(&s);
        char *args2[] = {"try", "reboot", NULL};
        prepare_run(&s, (uid_t)-1, args2, &r);
        IS_INT(ival(&r, "reboot"), EPERM, "default profile, default caps: reboot -> EPERM");
}

static void test_caps(void) {
        struct tf_spec s;
        struct result r;
        char *args[] = {"status", NULL};

        spec_init(&s);
        prepare_run(&s, (uid_t)-1, args, &r);
        uint64_t docker = 0xa80425fbULL; /* moby's 14 default capabilities */
        IS_INT(hval(&r, "CapBnd"), docker, "root, no cap keys: bounding set is Docker's default (%s)",
               val(&r, "CapBnd") ?: "?");
        IS_INT(hval(&r, "CapEff"), docker, "root, no cap keys: effective set is Docker's default");
        IS_INT(hval(&r, "CapInh"), 0, "root: inheritable set empty (as Docker since 20.10.14)");

        char *all[] = {(char *)"ALL", NULL};
        s.sandbox.cap_drop = all;
        prepare_run(&s, (uid_t)-1, args, &r);
        IS_INT(hval(&r, "CapEff"), 0, "cap_drop [ALL]: CapEff 0");
        IS_INT(hval(&r, "CapPrm"), 0, "cap_drop [ALL]: CapPrm 0");
        IS_INT(hval(&r, "CapBnd"), 0, "cap_drop [ALL]: CapBnd 0");

        /* uid 65534 + cap_add NET_BIND_SERVICE, as Docker does it: the capability widens the bounding set
         * only; after execve a non-root process holds nothing (moby issues 8460, 45491). */
        char *nbs0[] = {(char *)"NET_BIND_SERVICE", NULL};
        spec_init(&s);
        s.sandbox.cap_add = nbs0;
        char *args1[] = {"status", "bind", "80", NULL};
        prepare_run(&s, 65534, args1, &r);
        IS_INT(r.status, 0, "uid 65534 + cap_add NET_BIND_SERVICE (no cap_ambient): probe ran");
        IS_INT(ival(&r, "bind"), EACCES,
               "uid 65534 + cap_add, no cap_ambient: bind 127.0.0.1:80 -> EACCES (Docker)");
        IS_INT(hval(&r, "CapEff") | hval(&r, "CapPrm") | hval(&r, "CapAmb") | hval(&r, "CapInh"), 0,
               "uid 65534 + cap_add, no cap_ambient: CapEff, CapPrm, CapAmb, CapInh all 0 (Docker)");

        /* uid 65534 + cap_add NET_BIND_SERVICE + cap_ambient: port 80 binds, chown does not. In the host's
         * network namespace (on 127.0.0.1, for an instant): a namespace of the service's own lets anyone bind
         * low ports, as Docker's does, and would prove nothing about the capability. */
        char path[128];
        snprintf(path, sizeof(path), "%s/owned-by-nobody", tmpdir);
        write_file(path, "x\n");
        if (chown(path, 65534, 65534) < 0)
                abort();
        char *nbs[] = {(char *)"NET_BIND_SERVICE", NULL};
        spec_init(&s);
        s.sandbox.cap_add = nbs;
        s.sandbox.cap_ambient = true;
        char *args2[] = {"status", "bind", "80", "chown", path, NULL};
        prepare_run(&s, 65534, args2, &r);
        IS_INT(r.status, 0, "uid 65534 + cap_add NET_BIND_SERVICE: probe ran");
        IS_INT(ival(&r, "bind"), 0, "uid 65534 + cap_add NET_BIND_SERVICE: binds 127.0.0.1:80");
        IS_INT(ival(&r, "chown"), EPERM, "uid 65534 + cap_add NET_BIND_SERVICE: chown -> EPERM");
        IS_INT(hval(&r, "CapEff"), 1ULL << 10, "uid 65534: CapEff is exactly NET_BIND_SERVICE");
        IS_INT(hval(&r, "CapAmb"), 1ULL << 10, "uid 65534: CapAmb is exactly NET_BIND_SERVICE");
        IS_INT(hval(&r, "CapBnd"), docker,
               "uid 65534: bounding set is Docker's default (+ NET_BIND_SERVICE)");

        /* Control: no cap_add, same user: port 80 refused. */
        s.sandbox.cap_add = NULL;
        s.sandbox.cap_ambient = false;
        prepare_run(&s, 65534, args2, &r);
        IS_INT(ival(&r, "bind"), EACCES, "uid 65534 without cap_add: bind 127.0.0.1:80 -> EACCES");
        IS_INT(hval(&r, "CapEff"), 0, "uid 65534 without cap_add: CapEff 0 (as in Docker)");

        /* network none: ip_unprivileged_port_start is 0 in the new namespace (Docker's choice): the same
         * uid without the capability binds port 80 there. */
        s.sandbox.network = TF_NETWORK_NONE;
        prepare_run(&s, 65534, args2, &r);
        IS_INT(ival(&r, "bind"), 0, "uid 65534, network none, no capability: binds port 80 in its netns");
        IS_INT(hval(&r, "CapEff"), 0, "uid 65534, network none: still CapEff 0");
}

static void test_nnp(void) {
        struct tf_spec s;
        struct result r;
        char *args[] = {"status", "try", "getpid", NULL};
        spec_init(&s);
        prepare_run(&s, 65534, args, &r);
        IS_INT(ival(&r, "NoNewPrivs"), 1, "no_new_privileges: true -> NoNewPrivs: 1");

        /* no_new_privs off with a filter and a non-root user: the filter goes in while CAP_SYS_ADMIN is
         * still held. */
        s.sandbox.no_new_privileges = false;
        prepare_run(&s, 65534, args, &r);
        IS_INT(r.status, 0, "no_new_privileges: false + default seccomp + uid 65534: probe ran");
        IS_INT(ival(&r, "NoNewPrivs"), 0, "no_new_privileges: false -> NoNewPrivs: 0");
        IS_INT(ival(&r, "Seccomp"), 2, "no_new_privileges: false -> filter still installed");
        IS_INT(hval(&r, "CapEff"), 0, "no_new_privileges: false, uid 65534: CapEff 0");
}

static void test_unprivileged_plan(void) {
        /* A plan made by a tfrun that is not root, in a helper that is uid 65534 from the start: no
         * capability management, a user namespace of the child's own for the other namespaces (pid: host
         * here, as fork() makes no pid namespace), and no_new_privs and the filter still apply. */
        struct result r;
        memset(&r, 0, sizeof(r));
        r.status = -1;
        int pp[2];
        if (pipe(pp) < 0)
                abort();
        pid_t h = fork();
        if (h == 0) {
                close(pp[0]);
                struct tf_spec s;
                spec_init(&s);
                s.sandbox.pid = TF_PID_HOST;
                struct result hr;
                memset(&hr, 0, sizeof(hr));
                hr.status = -1;
                if (setgroups(0, NULL) == 0 && setresgid(65534, 65534, 65534) == 0 &&
                    setresuid(65534, 65534, 65534) == 0) {
                        /* The uid change made us not dumpable, which a tfrun started as 65534 is. */
                        prctl(PR_SET_DUMPABLE, 1, 0, 0, 0);
                        struct tf_sandbox_plan *p = NULL;
                        tf_error *e = NULL;
                        if (tf_sandbox_prepare(&s, false, &p, &e) == 0) {
                                char *args[] = {"status", "try", "keyctl", NULL};
                                run(p, (uid_t)-1, args, &hr);
                        } else
                                snprintf(hr.err, sizeof(hr.err), "prepare: %s", e ? e->msg : "?");
                }
                ssize_t _unused_ w = write(pp[1], &hr, sizeof(hr));
                _exit(0);
        }
        close(pp[1]);
        ssize_t n = read(pp[0], &r, sizeof(r));
        close(pp[0]);
        waitpid(h, NULL, 0);
        IS_INT(n == (ssize_t)sizeof(r) ? r.status : -2, 0,
               "not root: default sandbox prepares and runs (%s)", r.err[0] ? r.err : "ok");
        IS_INT(ival(&r, "Seccomp"), 2, "not root: filter installed");
        IS_INT(ival(&r, "NoNewPrivs"), 1, "not root: NoNewPrivs 1");
        IS_INT(ival(&r, "keyctl"), EPERM, "not root: keyctl -> EPERM");
        IS_INT(hval(&r, "CapEff"), 0, "not root: no capability after execve in its user namespace");
}

static void test_child_error(void) {
        /* The target disappears between prepare and fork: the child reports the step, not a crash. */
        struct tf_spec s;
        struct result r;
        char src[128], dst[128];
        snprintf(src, sizeof(src), "%s/src", tmpdir);
        snprintf(dst, sizeof(dst), "%s/vanishing", tmpdir);
        mkdir(src, 0755);
        mkdir(dst, 0755);
        struct tf_mount m = {.source = src, .target = dst};
        spec_init(&s);
        s.mounts = &m;
        s.n_mounts = 1;
        _cleanup_sandbox_plan_ struct tf_sandbox_plan *p = NULL;
        if (tf_sandbox_prepare(&s, true, &p, NULL) < 0) {
                OK(0, "prepare for the vanishing target");
                return;
        }
        rmdir(dst);
        char *args[] = {"status", NULL};
        run(p, (uid_t)-1, args, &r);
        _cleanup_free_ char *want = tf_asprintf("mounts: open target %s: No such file or directory", dst);
        IS_INT(r.status, 125, "vanished mount target: the child fails before exec");
        IS_STR(r.err, want, "vanished mount target: the child names the step");
}

static void test_network(void) {
        struct tf_spec s;
        struct result r;
        char *args[] = {"netdev", "bind", "8080", NULL};
        spec_init(&s);
        s.sandbox.network = TF_NETWORK_NONE;
        prepare_run(&s, (uid_t)-1, args, &r);
        IS_STR(val(&r, "netdev"), "lo", "network none: only lo in /proc/net/dev");
        IS_INT(ival(&r, "lo_up"), 1, "network none: lo is UP");
        IS_INT(ival(&r, "bind"), 0, "network none: 127.0.0.1 is usable");
}

static void test_fs(void) {
        struct tf_spec s;
        struct result r;
        char marker[128];
        snprintf(marker, sizeof(marker), "/tmp/tfrun-sandbox-marker-%d", (int)getpid());
        unlink(marker);

        spec_init(&s);
        s.sandbox.read_only_root = true;
        char *args[] = {"write", "/tfrun-sandbox-should-not-exist", NULL};
        prepare_run(&s, (uid_t)-1, args, &r);
        IS_INT(ival(&r, "write"), EROFS, "read_only_root: write to / -> EROFS");
        OK(access("/tfrun-sandbox-should-not-exist", F_OK) < 0,
           "read_only_root: nothing appeared on the host");
        char *args_dev[] = {"write", "/dev/null", "write", "/dev/shm/tfrun-sandbox-x", NULL};
        prepare_run(&s, (uid_t)-1, args_dev, &r);
        IS_INT(ival(&r, "write"), 0, "read_only_root: /dev/null and /dev/shm stay writable");
        unlink("/dev/shm/tfrun-sandbox-x");

        spec_init(&s);
        s.sandbox.private_tmp = true;
        s.sandbox.read_only_root = true;
        char *args2[] = {"ls", "/tmp", "write", marker, NULL};
        prepare_run(&s, (uid_t)-1, args2, &r);
        IS_INT(ival(&r, "ls"), 0, "private_tmp: /tmp starts empty");
        IS_INT(ival(&r, "write"), 0, "private_tmp + read_only_root: /tmp is writable");
        OK(access(marker, F_OK) < 0 && errno == ENOENT, "private_tmp: the file is not on the host's /tmp");
}

static void test_mounts(void) {
        struct tf_spec s;
        struct result r;
        char src[128], dst[128], file[160], inner[128], link[128], escape[160];
        snprintf(src, sizeof(src), "%s/src", tmpdir);
        snprintf(dst, sizeof(dst), "%s/dst", tmpdir);
        snprintf(file, sizeof(file), "%s/hello", src);
        mkdir(src, 0755);
        mkdir(dst, 0755);
        write_file(file, "hello from the host\n");

        struct tf_mount m[2] = {
                {.source = src, .target = dst, .read_only = true, .pos = {9, 5}},
                {.source = src, .target = inner, .read_only = false, .pos = {10, 5}},
        };
        snprintf(inner, sizeof(inner), "/tmp/tfrun-inner-%d/data", (int)getpid());
        spec_init(&s);
        s.mounts = m;
        s.n_mounts = 1;
        char rd[160], wr[160], rd2[200];
        snprintf(rd, sizeof(rd), "%s/hello", dst);
        snprintf(wr, sizeof(wr), "%s/new", dst);
        snprintf(rd2, sizeof(rd2), "%s/hello", inner);
        char *args[] = {"read", rd, "write", wr, NULL};
        prepare_run(&s, (uid_t)-1, args, &r);
        IS_STR(val(&r, "read"), "hello from the host",
               "read-only bind: the source is visible at the target");
        IS_INT(ival(&r, "write"), EROFS, "read-only bind: writes -> EROFS");

        /* A target under the private /tmp is created there, never on the host. */
        s.sandbox.private_tmp = true;
        s.mounts = &m[1];
        char *args2[] = {"read", rd2, NULL};
        prepare_run(&s, (uid_t)-1, args2, &r);
        IS_STR(val(&r, "read"), "hello from the host", "bind onto a target created in the private /tmp");
        char innerdir[128];
        snprintf(innerdir, sizeof(innerdir), "/tmp/tfrun-inner-%d", (int)getpid());
        OK(access(innerdir, F_OK) < 0, "the created target does not exist on the host");

        /* Symlink escape: a link inside the source path pointing outside. */
        snprintf(link, sizeof(link), "%s/link", tmpdir);
        if (symlink("/etc", link) < 0)
                abort();
        snprintf(escape, sizeof(escape), "%s/link/ssl", tmpdir);
        struct tf_mount bad = {.source = escape, .target = dst, .pos = {11, 7}};
        spec_init(&s);
        s.mounts = &bad;
        s.n_mounts = 1;
        _cleanup_free_ char *e = prepare_error(&s, true);
        _cleanup_free_ char *want =
                tf_asprintf("test.yaml:11:7: mounts[0].source: '%s' is a symbolic link; mount "
                            "paths must not contain symbolic links (the real path is "
                            "'/etc/ssl')",
                            link);
        IS_STR(e, want, "symlink in a mount source is refused, naming the link");

        char missing[160];
        snprintf(missing, sizeof(missing), "%s/missing", tmpdir);
        bad.source = missing;
        free(e);
        e = prepare_error(&s, true);
        free(want);
        want = tf_asprintf("test.yaml:11:7: mounts[0].source: '%s' does not exist", missing);
        IS_STR(e, want, "missing mount source is an error naming it");
        OK(access(missing, F_OK) < 0, "and nothing was created");

        bad.source = src;
        bad.target = (char *)"/tfrun-no-such-target";
        free(e);
        e = prepare_error(&s, true);
        OK(tf_startswith(
                   e,
                   "test.yaml:11:7: mounts[0].target: '/tfrun-no-such-target' does not exist on this host"),
           "missing target outside the private /tmp is refused: %s", e);
}

static void test_errors(void) {
        struct tf_spec s;
        spec_init(&s);
        char *bad[] = {(char *)"NET_BIND", NULL};
        s.sandbox.cap_add = bad;
        _cleanup_free_ char *e = prepare_error(&s, true);
        IS_STR(e,
               "test.yaml:3:1: sandbox.cap_add: unknown capability 'NET_BIND'; did you mean "
               "'NET_BIND_SERVICE'?",
               "unknown capability: exact message");
        char *bad2[] = {(char *)"SYS_ADMN", NULL};
        s.sandbox.cap_add = NULL;
        s.sandbox.cap_drop = bad2;
        free(e);
        e = prepare_error(&s, true);
        IS_STR(e,
               "test.yaml:3:1: sandbox.cap_drop: unknown capability 'SYS_ADMN'; did you mean 'SYS_ADMIN'?",
               "misspelt capability in cap_drop: exact message");

        char prof[128];
        snprintf(prof, sizeof(prof), "%s/x.json", tmpdir);
        write_file(prof, "{\"defaultAction\": \"SCMP_ACT_ERRNO\", \"syscalls\": [\n"
                         " {\"names\": [\"read\"], \"action\": \"SCMP_ACT_ALLOW\"},\n"
                         " {\"names\": [\"write\"], \"action\": \"SCMP_ACT_ALLOW\"},\n"
                         " {\"names\": [\"close\"], \"action\": \"SCMP_ACT_ALLOW\"},\n"
                         " {\"names\": [\"getpid\"], \"action\": \"SCMP_ACT_MAYBE\"}]}\n");
        spec_init(&s);
        s.sandbox.seccomp = TF_SECCOMP_PROFILE;
        s.sandbox.seccomp_profile = prof;
        s.sandbox.pos_seccomp = (struct tf_pos){5, 12};
        free(e);
        e = prepare_error(&s, true);
        _cleanup_free_ char *want = tf_asprintf("test.yaml:5:12: sandbox.seccomp: seccomp profile %s: "
                                                "syscalls[3].action: unknown action 'SCMP_ACT_MAYBE'",
                                                prof);
        IS_STR(e, want, "malformed profile: exact message with the JSON path");

        write_file(prof, "{\"defaultAction\": \"SCMP_ACT_ALLOW\",\n \"syscalls\": [\n  {\"names\": "
                         "[\"keyctl\"],}\n]}\n");
        free(e);
        e = prepare_error(&s, true);
        free(want);
        want = tf_asprintf("test.yaml:5:12: sandbox.seccomp: seccomp profile %s:3:", prof);
        OK(tf_startswith(e, want), "JSON syntax error names file, line and column: %s", e);

        write_file(prof, "{\"defaultAction\": \"SCMP_ACT_ALLOW\", \"syscalls\": [\n"
                         " {\"names\": [\"keyctl\"], \"action\": \"SCMP_ACT_ERRNO\", \"errnoRet\": 13},\n"
                         " {\"names\": [\"getpid\"], \"action\": \"SCMP_ACT_ALLOW\", \"args\": [{\"index\": "
                         "0, \"op\": \"SCMP_CMP_XX\"}]}]}\n");
        free(e);
        e = prepare_error(&s, true);
        free(want);
        want = tf_asprintf(
                "test.yaml:5:12: sandbox.seccomp: seccomp profile %s: syscalls[1].args[0].op: unknown "
                "operator 'SCMP_CMP_XX'",
                prof);
        IS_STR(e, want, "unknown operator: exact message");

        /* A valid custom profile is enforced: keyctl gets the profile's errno, the rest is allowed. */
        write_file(prof, "{\"defaultAction\": \"SCMP_ACT_ALLOW\", \"syscalls\": [\n"
                         " {\"names\": [\"keyctl\"], \"action\": \"SCMP_ACT_ERRNO\", \"errnoRet\": 13},\n"
                         " {\"names\": [\"no_such_syscall_at_all\"], \"action\": \"SCMP_ACT_ERRNO\"}]}\n");
        struct result r;
        char *args[] = {"try", "keyctl", "try", "unshare-user", NULL};
        prepare_run(&s, (uid_t)-1, args, &r);
        IS_INT(ival(&r, "keyctl"), EACCES, "custom profile: keyctl gets errnoRet 13");
        IS_INT(ival(&r, "unshare-user"), 0, "custom profile: default action allow");

        /* Without root: refuse what cannot be enforced. */
        spec_init(&s);
        s.sandbox.network = TF_NETWORK_NONE;
        free(e);
        e = prepare_error(&s, false);
        IS_STR(e,
               "test.yaml:3:1: sandbox.network: needs tfrun to run as root (new namespaces and mounts need "
               "CAP_SYS_ADMIN)",
               "not root: network none refused");
        spec_init(&s);
        struct tf_sandbox_plan *hp = NULL;
        tf_error *he = NULL;
        IS_INT(tf_sandbox_prepare(&s, false, &hp, &he), 0,
               "not root: the default (pid private) is accepted, in a user namespace");
        IS_INT((long long)tf_sandbox_plan_clone_flags(hp), CLONE_NEWPID | CLONE_NEWUSER,
               "not root, default: cloned with CLONE_NEWPID | CLONE_NEWUSER");
        hp = tf_sandbox_plan_free(hp);
        tf_error_free(he);
        he = NULL;
        spec_init(&s);
        s.sandbox.pid = TF_PID_HOST;
        IS_INT(tf_sandbox_prepare(&s, false, &hp, &he), 0, "not root: pid host accepted");
        OK(!tf_sandbox_plan_pid_private(hp), "pid host: no pid namespace");
        IS_INT((long long)tf_sandbox_plan_clone_flags(hp), CLONE_NEWUSER,
               "not root, pid host: CLONE_NEWUSER");
        tf_sandbox_plan_free(hp);
        tf_error_free(he);
        spec_init(&s);
        char *add[] = {(char *)"NET_ADMIN", NULL};
        s.sandbox.cap_add = add;
        free(e);
        e = prepare_error(&s, false);
        IS_STR(e,
               "test.yaml:3:1: sandbox.cap_add: tfrun is not running as root and cannot grant capabilities",
               "not root: cap_add refused");
        spec_init(&s);
        s.sandbox.network = TF_NETWORK_BRIDGE;
        free(e);
        e = prepare_error(&s, true);
        OK(strstr(e, "sandbox.network: 'bridge' exists only with the docker backend") != NULL,
           "network bridge refused on native: %s", e);
}

int main(int argc, char **argv) {
        probe = argc > 1 ? argv[1] : getenv("SANDBOX_PROBE");
        if (geteuid() != 0) {
                tap_skip("the sandbox tests need root (namespaces, capabilities, mounts)");
                return tap_done();
        }
        if (!probe || access(probe, X_OK) < 0) {
                tap_skip("sandbox-probe not found (pass its path as argv[1])");
                return tap_done();
        }
        /* With private_tmp the service sees a fresh /tmp: a probe in a build tree under /tmp (a CI clone
         * there, say) would vanish from under it. Run a copy kept outside /tmp. */
        static char probe_dir[64], probe_copy[96];
        snprintf(probe_dir, sizeof(probe_dir), "/run/tfrun-sandbox-probe-XXXXXX");
        if (!mkdtemp(probe_dir))
                abort();
        chmod(probe_dir, 0755);
        snprintf(probe_copy, sizeof(probe_copy), "%s/sandbox-probe", probe_dir);
        {
                int in = open(probe, O_RDONLY | O_CLOEXEC);
                int out = open(probe_copy, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0755);
                char buf[65536];
                ssize_t n;
                if (in < 0 || out < 0)
                        abort();
                while ((n = read(in, buf, sizeof(buf))) > 0)
                        if (write(out, buf, (size_t) n) != n)
                                abort();
                close(in);
                close(out);
        }
        probe = probe_copy;

        /* The probe must be executable by uid 65534 too. */
        snprintf(tmpdir, sizeof(tmpdir), "/tmp/tfrun-sandbox-XXXXXX");
        if (!mkdtemp(tmpdir))
                abort();
        chmod(tmpdir, 0755);

        test_prepare_time();
        test_prepare_cached();
        test_errors();
        test_seccomp_default();
        test_caps();
        test_nnp();
        test_network();
        test_fs();
        test_mounts();
        test_unprivileged_plan();
        test_child_error();

        char cmd[128];
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
        if (system(cmd) != 0)
                printf("# could not remove %s\n", tmpdir);
        unlink(probe_copy);
        rmdir(probe_dir);
        return tap_done();
}
