/* SPDX-License-Identifier: MIT */
/*
 * cgroup/ against the real cgroups of this host (root only). Every file is read back from
 * /sys/fs/cgroup directly, not through the module, so that the module cannot agree with itself.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <sys/mman.h>
#include <sys/statfs.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "cgroup/cgroup.h"
#include "tests/tap.h"

/* The process's host description, made once in main(). */
static struct tf_cg_host *host;
static char own[16][512]; /* by hierarchy name index below */
static const char *const hier[] = {"memory", "pids", "cpu", "cpuacct", "cpuset", "blkio", "unified"};
enum { H_MEMORY, H_PIDS, H_CPU, H_CPUACCT, H_CPUSET, H_BLKIO, H_UNIFIED, _H_MAX };

static void read_own(void) {
        FILE *f = fopen("/proc/self/cgroup", "re");
        char line[1024];
        for (int i = 0; i < _H_MAX; i++)
                strcpy(own[i], "/");
        while (f && fgets(line, sizeof(line), f)) {
                line[strcspn(line, "\n")] = 0;
                char *a = strchr(line, ':'), *b = a ? strchr(a + 1, ':') : NULL;
                if (!b)
                        continue;
                *b = 0;
                for (int i = 0; i < _H_MAX; i++) {
                        const char *name = i == H_UNIFIED ? "" : hier[i];
                        char *save = NULL, copy[256];
                        snprintf(copy, sizeof(copy), "%s", a + 1);
                        if (!*name && !copy[0])
                                snprintf(own[i], sizeof(own[i]), "%s", b + 1);
                        for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save))
                                if (*name && strcmp(t, name) == 0)
                                        snprintf(own[i], sizeof(own[i]), "%s", b + 1);
                }
        }
        if (f)
                fclose(f);
}

static char *leaf(int h, const char *name, const char *file) {
        static char buf[4][1024];
        static int k;
        char *p = buf[k++ % 4];
        snprintf(p, 1024, "/sys/fs/cgroup/%s%s/%s%s%s", hier[h], strcmp(own[h], "/") ? own[h] : "", name,
                 file ? "/" : "", file ? file : "");
        return p;
}

static char *slurp(const char *path) {
        static char buf[8192];
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return NULL;
        ssize_t n = read(fd, buf, sizeof(buf) - 1);
        close(fd);
        if (n < 0)
                return NULL;
        buf[n] = 0;
        while (n > 0 && buf[n - 1] == '\n')
                buf[--n] = 0;
        return buf;
}

static bool exists(const char *path) {
        struct stat st;
        return stat(path, &st) == 0;
}

static bool pid_listed(const char *file, pid_t pid) {
        FILE *f = fopen(file, "re");
        int p;
        bool found = false;
        while (f && fscanf(f, "%d", &p) == 1)
                if (p == pid)
                        found = true;
        if (f)
                fclose(f);
        return found;
}

static struct tf_limits none(void) {
        struct tf_limits l;
        memset(&l, 0, sizeof(l));
        l.cpu_quota_usec = l.cpu_period_usec = l.cpu_weight = TF_UNSET;
        l.memory = l.memory_high = l.memory_swap = l.pids = l.io_weight = l.nofile = TF_UNSET;
        return l;
}

static char name_buf[64];
static const char *next_name(void) {
        static int n;
        snprintf(name_buf, sizeof(name_buf), "tfrun-test-%d-%d", (int)getpid(), ++n);
        return name_buf;
}

/* fork, attach while the child waits on a pipe, then let it run fn. */
static pid_t spawn(struct tf_cg *cg, void (*fn)(void)) {
        int p[2];
        if (pipe2(p, O_CLOEXEC) < 0)
                return -1;
        pid_t pid = fork();
        if (pid == 0) {
                char c;
                close(p[1]);
                if (read(p[0], &c, 1) != 1)
                        _exit(99);
                fn();
                _exit(0);
        }
        close(p[0]);
        tf_error *e = NULL;
        if (tf_cg_attach(cg, pid, &e) < 0) {
                printf("# attach: %s\n", e->msg);
                tf_error_free(e);
        }
        (void)!write(p[1], "x", 1);
        close(p[1]);
        return pid;
}

static void do_pause(void) {
        pause();
}

static void do_alloc20(void) {
        size_t n = 20u << 20;
        char *m = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (m == MAP_FAILED)
                _exit(2);
        memset(m, 1, n);
        /* burn some CPU so that usage is visibly non-zero */
        for (volatile unsigned long i = 0; i < 20000000UL; i++)
                ;
}

static void do_alloc100(void) {
        size_t n = 100u << 20;
        char *m = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (m == MAP_FAILED)
                _exit(2);
        memset(m, 1, n);
        _exit(3);
}

static void do_tree(void) {
        for (int i = 0; i < 3; i++)
                if (fork() == 0) {
                        if (fork() == 0)
                                pause();
                        pause();
                }
        pause();
}

static int wait_status(pid_t pid) {
        int st = 0;
        while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
                ;
        return st;
}

static bool wait_empty(struct tf_cg *cg) {
        for (int i = 0; i < 2000; i++) {
                if (!tf_cg_populated(cg))
                        return true;
                usleep(1000);
        }
        return false;
}

static uint64_t now_ns(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t)ts.tv_sec * 1000000000 + (uint64_t)ts.tv_nsec;
}

static void test_create_readback(void) {
        struct tf_limits l = none();
        l.memory = 32u << 20;
        l.pids = 16;
        l.cpu_quota_usec = 50000;
        l.cpu_period_usec = 100000;
        l.cpu_weight = 300;
        l.cpuset = (char *)"0";
        const char *name = next_name();
        struct tf_cg_options o = {.name = name};
        struct tf_cg *cg = NULL;
        tf_error *e = NULL;
        int r = tf_cg_create(host, &l, &o, &cg, &e);
        if (!OK(r == 0, "create with memory, pids, cpus, cpu_weight, cpuset")) {
                printf("# %s\n", e ? e->msg : "?");
                tf_error_free(e);
                return;
        }
        IS_STR(slurp(leaf(H_MEMORY, name, "memory.limit_in_bytes")), "33554432", "memory.limit_in_bytes");
        IS_STR(slurp(leaf(H_PIDS, name, "pids.max")), "16", "pids.max");
        IS_STR(slurp(leaf(H_CPU, name, "cpu.cfs_quota_us")), "50000", "cpu.cfs_quota_us");
        IS_STR(slurp(leaf(H_CPU, name, "cpu.cfs_period_us")), "100000", "cpu.cfs_period_us");
        IS_STR(slurp(leaf(H_CPU, name, "cpu.shares")), "3072", "cpu.shares = 300 * 1024 / 100");
        IS_STR(slurp(leaf(H_CPUSET, name, "cpuset.cpus")), "0", "cpuset.cpus");
        char parent_mems[64], pm[1024];
        snprintf(pm, sizeof(pm), "/sys/fs/cgroup/cpuset%s/cpuset.mems",
                 strcmp(own[H_CPUSET], "/") ? own[H_CPUSET] : "");
        snprintf(parent_mems, sizeof(parent_mems), "%s", slurp(pm) ?: "?");
        IS_STR(slurp(leaf(H_CPUSET, name, "cpuset.mems")), parent_mems,
               "cpuset.mems copied from the parent");
        OK(exists(leaf(H_UNIFIED, name, "cgroup.procs")), "tracking cgroup in the unified hierarchy");
        OK(!exists(leaf(H_BLKIO, name, NULL)), "no blkio cgroup when no io limit is set");
        OK(!exists(leaf(H_CPUACCT, name, NULL)), "no cpuacct cgroup: unified cpu.stat is used");
        IS_STR(tf_cg_path(cg), leaf(H_MEMORY, name, NULL), "tf_cg_path is the memory cgroup");
        OK(tf_cg_needs_attach(cg), "hybrid: needs attach to v1 hierarchies");
        int cfd = tf_cg_clone_fd(cg);
        struct stat st;
        OK(cfd >= 0 && fstat(cfd, &st) == 0 && S_ISDIR(st.st_mode), "clone fd is the unified directory");
        OK(!tf_cg_populated(cg), "empty cgroup is not populated");

        /* attach */
        pid_t pid = spawn(cg, do_pause);
        OK(pid_listed(leaf(H_MEMORY, name, "cgroup.procs"), pid), "child in memory cgroup.procs");
        OK(pid_listed(leaf(H_CPU, name, "tasks"), pid), "child in cpu tasks");
        OK(pid_listed(leaf(H_CPUSET, name, "tasks"), pid), "child in cpuset tasks");
        OK(pid_listed(leaf(H_PIDS, name, "cgroup.procs"), pid), "child in pids cgroup.procs");
        OK(pid_listed(leaf(H_UNIFIED, name, "cgroup.procs"), pid), "child in unified cgroup.procs");
        OK(tf_cg_populated(cg), "populated with a child");
        r = tf_cg_kill(cg, SIGTERM, &e);
        IS_INT(r, 0, "kill SIGTERM");
        int ws = wait_status(pid);
        OK(WIFSIGNALED(ws) && WTERMSIG(ws) == SIGTERM, "child got SIGTERM");
        OK(wait_empty(cg), "not populated after the child died");

        /* destroy removes everything */
        r = tf_cg_destroy(cg, &e);
        IS_INT(r, 0, "destroy");
        OK(!exists(leaf(H_MEMORY, name, NULL)), "memory dir removed");
        OK(!exists(leaf(H_PIDS, name, NULL)), "pids dir removed");
        OK(!exists(leaf(H_CPU, name, NULL)), "cpu dir removed");
        OK(!exists(leaf(H_CPUSET, name, NULL)), "cpuset dir removed");
        OK(!exists(leaf(H_UNIFIED, name, NULL)), "unified dir removed");
}

/* The parent's file in hierarchy h (tfrun's own cgroup there). */
static const char *parent_file(int h, const char *file) {
        static char path[1024];
        snprintf(path, sizeof(path), "/sys/fs/cgroup/%s%s/%s", hier[h], strcmp(own[h], "/") ? own[h] : "",
                 file);
        return path;
}

/* every_controller: a leaf in each v1 hierarchy without a limit asking for it (a sandboxed job's cgroup
 * namespace then has its own cgroup as the root everywhere); a cpuset made only for that inherits the
 * parent's cpus and mems, one a limit asks for keeps the limit. */
static void test_every_controller(void) {
        struct tf_limits l = none();
        const char *name = next_name();
        struct tf_cg_options o = {.name = name, .every_controller = true};
        struct tf_cg *cg = NULL;
        tf_error *e = NULL;
        int r = tf_cg_create(host, &l, &o, &cg, &e);
        if (!OK(r == 0, "every_controller, no limits: create")) {
                printf("# %s\n", e ? e->msg : "?");
                tf_error_free(e);
                return;
        }
        for (int h = 0; h < H_UNIFIED; h++)
                OK(exists(leaf(h, name, NULL)), "every_controller: a %s cgroup without a limit", hier[h]);
        IS_STR(slurp(leaf(H_CPU, name, "cpu.shares")), "1024", "every_controller: cpu.shares the default");
        IS_STR(slurp(leaf(H_CPU, name, "cpu.cfs_quota_us")), "-1", "every_controller: no cpu quota");
        char want[1024];
        snprintf(want, sizeof(want), "%s", slurp(parent_file(H_CPUSET, "cpuset.cpus")) ?: "?");
        IS_STR(slurp(leaf(H_CPUSET, name, "cpuset.cpus")), want,
               "every_controller: the parent's cpuset.cpus");
        snprintf(want, sizeof(want), "%s", slurp(parent_file(H_CPUSET, "cpuset.mems")) ?: "?");
        IS_STR(slurp(leaf(H_CPUSET, name, "cpuset.mems")), want,
               "every_controller: the parent's cpuset.mems");
        pid_t pid = spawn(cg, do_pause);
        for (int h = 0; h < H_UNIFIED; h++)
                OK(pid_listed(leaf(h, name, "tasks"), pid), "every_controller: the child in %s", hier[h]);
        r = tf_cg_kill(cg, SIGKILL, &e);
        IS_INT(r, 0, "every_controller: kill");
        (void)wait_status(pid);
        OK(wait_empty(cg), "every_controller: empty after the child died");
        r = tf_cg_destroy(cg, &e);
        IS_INT(r, 0, "every_controller: destroy");
        for (int h = 0; h <= H_UNIFIED; h++)
                OK(!exists(leaf(h, name, NULL)), "every_controller: %s dir removed", hier[h]);

        l.cpuset = (char *)"0";
        name = next_name();
        o.name = name;
        r = tf_cg_create(host, &l, &o, &cg, &e);
        if (!OK(r == 0, "every_controller, cpuset 0: create")) {
                printf("# %s\n", e ? e->msg : "?");
                tf_error_free(e);
                return;
        }
        IS_STR(slurp(leaf(H_CPUSET, name, "cpuset.cpus")), "0", "every_controller: a cpuset limit is kept");
        OK(exists(leaf(H_BLKIO, name, NULL)), "every_controller, cpuset 0: a blkio cgroup too");
        r = tf_cg_destroy(cg, &e);
        IS_INT(r, 0, "every_controller, cpuset 0: destroy");

        /* A parent cpuset made by hand (mkdir: no cpus, no mems) could hold no task: the run goes on
         * without a cpuset leaf rather than failing for a limit nobody asked for. */
        char parent[64], dcs[256], du[256];
        snprintf(parent, sizeof(parent), "/tfrun-test-emptycs-%d", (int)getpid());
        snprintf(dcs, sizeof(dcs), "/sys/fs/cgroup/cpuset%s", parent);
        snprintf(du, sizeof(du), "/sys/fs/cgroup/unified%s", parent);
        if (!OK(mkdir(dcs, 0755) == 0 && mkdir(du, 0755) == 0, "an empty parent cpuset %s", dcs))
                return;
        struct tf_limits none_l = none();
        struct tf_cg_options po = {.name = "leaf", .parent = parent, .every_controller = true};
        r = tf_cg_create(host, &none_l, &po, &cg, &e);
        if (OK(r == 0, "every_controller below an empty parent cpuset: runs")) {
                char lcs[320];
                snprintf(lcs, sizeof(lcs), "%s/leaf", dcs);
                OK(!exists(lcs), "every_controller below an empty parent cpuset: no cpuset leaf");
                IS_INT(tf_cg_destroy(cg, &e), 0, "every_controller below an empty parent cpuset: destroy");
        } else {
                printf("# %s\n", e ? e->msg : "?");
                tf_error_free(e);
        }
        rmdir(dcs);
        rmdir(du);
}

static struct tf_cg *mk(struct tf_limits *l, const char *what) {
        struct tf_cg_options o = {.name = next_name()};
        struct tf_cg *cg = NULL;
        tf_error *e = NULL;
        int r = tf_cg_create(host, l, &o, &cg, &e);
        if (!OK(r == 0, "create (%s)", what)) {
                printf("# %s\n", e ? e->msg : "?");
                tf_error_free(e);
                return NULL;
        }
        return cg;
}

static void test_stats(void) {
        struct tf_limits l = none();
        struct tf_cg *cg = mk(&l, "no limits, for stats");
        if (!cg)
                return;
        pid_t pid = spawn(cg, do_alloc20);
        int ws = wait_status(pid);
        OK(WIFEXITED(ws) && WEXITSTATUS(ws) == 0, "allocating child exited 0");
        struct tf_cg_stats s;
        tf_error *e = NULL;
        IS_INT(tf_cg_stats(cg, &s, &e), 0, "stats");
        OK(s.memory_peak != TF_UNSET && s.memory_peak >= (20u << 20), "peak memory %llu >= 20M",
           (unsigned long long)s.memory_peak);
        OK(s.cpu_usage_usec != TF_UNSET && s.cpu_usage_usec > 0, "cpu usage %llu us",
           (unsigned long long)s.cpu_usage_usec);
        OK(s.pids_peak != TF_UNSET && s.pids_peak >= 1, "pids peak %llu", (unsigned long long)s.pids_peak);
        IS_INT(s.oom_kills, 0, "no OOM kill");
        IS_INT(tf_cg_destroy(cg, &e), 0, "destroy");
}

static void test_oom(void) {
        struct tf_limits l = none();
        l.memory = 32u << 20;
        l.memory_swap = 0; /* memsw = memory: the child cannot escape into swap */
        struct tf_cg *cg = mk(&l, "memory 32M, swap 0");
        if (!cg)
                return;
        char f[1024];
        snprintf(f, sizeof(f), "%s/memory.memsw.limit_in_bytes", tf_cg_path(cg));
        IS_STR(slurp(f), "33554432", "memory_swap 0 -> memory.memsw.limit_in_bytes = memory");
        pid_t pid = spawn(cg, do_alloc100);
        int ws = wait_status(pid);
        OK(WIFSIGNALED(ws) && WTERMSIG(ws) == SIGKILL, "child allocating 100M under 32M was SIGKILLed");
        struct tf_cg_stats s;
        tf_error *e = NULL;
        tf_cg_stats(cg, &s, &e);
        OK(s.oom_kills != TF_UNSET && s.oom_kills >= 1, "oom_kills %llu >= 1",
           (unsigned long long)s.oom_kills);
        IS_INT(tf_cg_destroy(cg, &e), 0, "destroy");
}

static void test_kill_tree(void) {
        struct tf_limits l = none();
        l.pids = 16;
        struct tf_cg *cg = mk(&l, "pids 16, process tree");
        if (!cg)
                return;
        char mem_procs[1024];
        snprintf(mem_procs, sizeof(mem_procs), "%s/cgroup.procs", tf_cg_path(cg));
        pid_t pid = spawn(cg, do_tree);
        /* wait for the 1 + 3 + 3 processes */
        int n = 0;
        for (int i = 0; i < 2000 && n < 7; i++) {
                FILE *f = fopen(mem_procs, "re");
                int p;
                n = 0;
                while (f && fscanf(f, "%d", &p) == 1)
                        n++;
                if (f)
                        fclose(f);
                usleep(1000);
        }
        IS_INT(n, 7, "child and 6 descendants in the cgroup");
        tf_error *e = NULL;
        IS_INT(tf_cg_kill(cg, SIGKILL, &e), 0, "kill SIGKILL");
        int ws = wait_status(pid);
        OK(WIFSIGNALED(ws) && WTERMSIG(ws) == SIGKILL, "child SIGKILLed");
        OK(wait_empty(cg), "tree gone: not populated");
        IS_STR(slurp(mem_procs), "", "memory cgroup.procs empty");
        IS_INT(tf_cg_destroy(cg, &e), 0, "destroy");
}

static void test_destroy_kills(void) {
        struct tf_limits l = none();
        struct tf_cg *cg = mk(&l, "leftover process");
        if (!cg)
                return;
        char dir[1024];
        snprintf(dir, sizeof(dir), "%s", tf_cg_path(cg));
        pid_t pid = spawn(cg, do_pause);
        tf_error *e = NULL;
        int r = tf_cg_destroy(cg, &e);
        if (r < 0)
                printf("# %s\n", e->msg);
        IS_INT(r, 0, "destroy with a live process kills it and removes the cgroup");
        int ws = wait_status(pid);
        OK(WIFSIGNALED(ws) && WTERMSIG(ws) == SIGKILL, "leftover was SIGKILLed");
        OK(!exists(dir), "directory removed");
}

/* A cgroup another run left (made, given a process, then freed without removal) is found by name in every
 * hierarchy, adopted, killed and removed: the sweep's cgroup half. */
static void test_list_open(void) {
        struct tf_limits l = none();
        l.memory = 64u << 20;
        l.pids = 16;
        struct tf_cg *cg = mk(&l, "a run that will be left");
        if (!cg)
                return;
        char name[64];
        snprintf(name, sizeof(name), "%s", name_buf);
        pid_t pid = spawn(cg, do_pause);
        tf_cg_free(cg); /* as a killed tfrun leaves it */
        const int hs[] = {H_MEMORY, H_PIDS, H_UNIFIED};
        for (size_t i = 0; i < sizeof(hs) / sizeof(hs[0]); i++)
                OK(exists(leaf(hs[i], name, NULL)), "left: %s exists in %s", name, hier[hs[i]]);

        char prefix[64];
        snprintf(prefix, sizeof(prefix), "tfrun-test-%d-", (int)getpid());
        char **names = NULL;
        tf_error *e = NULL;
        IS_INT(tf_cg_list(host, NULL, prefix, &names, &e), 0, "list by prefix");
        int found = 0, n = 0;
        for (char **q = names; q && *q; q++, n++)
                found += strcmp(*q, name) == 0;
        IS_INT(found, 1, "list: the left cgroup once, the union of its hierarchies (%d names)", n);
        tf_strv_free(names);
        names = NULL;
        IS_INT(tf_cg_list(host, NULL, "tfrun-no-such-prefix-", &names, &e), 0, "list: no match");
        OK(names == NULL, "list: no match is NULL");

        IS_INT(tf_cg_open(host, NULL, "tfrun-no-such-1-1", &cg, &e), -ENOENT, "open: a name in no hierarchy");
        tf_error_free(e);
        e = NULL;
        IS_INT(tf_cg_open(host, NULL, "../x", &cg, &e), -EINVAL, "open: a name with '/'");
        tf_error_free(e);
        e = NULL;
        cg = NULL;
        IS_INT(tf_cg_open(host, NULL, name, &cg, &e), 0, "open the left cgroup");
        if (!cg)
                return;
        OK(tf_cg_populated(cg), "open: populated");
        pid_t *pids = NULL;
        size_t np = 0;
        IS_INT(tf_cg_pids(cg, &pids, &np, &e), 0, "pids");
        OK(np == 1 && pids[0] == pid, "pids: the process left in it (%zu)", np);
        free(pids);
        IS_INT(tf_cg_kill(cg, SIGKILL, &e), 0, "kill");
        int ws = wait_status(pid);
        OK(WIFSIGNALED(ws) && WTERMSIG(ws) == SIGKILL, "the left process was SIGKILLed");
        int r = -EBUSY;
        for (int i = 0; i < 200 && r == -EBUSY; i++) {
                tf_error_free(e);
                e = NULL;
                r = tf_cg_remove(cg, &e);
                if (r == -EBUSY)
                        usleep(5000);
        }
        IS_INT(r, 0, "remove");
        tf_cg_free(cg);
        for (size_t i = 0; i < sizeof(hs) / sizeof(hs[0]); i++)
                OK(!exists(leaf(hs[i], name, NULL)), "removed from %s", hier[hs[i]]);
        tf_error_free(e);
}

/* The lock that tells a sweep the maker lives: held while the creating tf_cg is, and by a child forked
 * before its execve (the sandboxed child's setup), gone with both; then a sweep takes it and keeps it
 * while it removes the cgroup. Pid-free, so it holds for a tfrun of another pid namespace. */
static void test_take(void) {
        struct tf_limits l = none();
        l.memory = 64u << 20;
        struct tf_cg *cg = mk(&l, "a cgroup whose maker lives");
        if (!cg)
                return;
        char name[64];
        snprintf(name, sizeof(name), "%s", name_buf);
        struct tf_cg *o = NULL, *o2 = NULL;
        tf_error *e = NULL;
        int gate[2] = {-1, -1};
        IS_INT(tf_cg_open(host, NULL, name, &o, &e), 0, "take: open it as a sweep does");
        IS_INT(tf_cg_open(host, NULL, name, &o2, &e), 0, "take: and as a second sweep does");
        if (!o || !o2 || !OK(pipe2(gate, O_CLOEXEC) == 0, "take: a pipe"))
                goto out;
        IS_INT(tf_cg_take(o), -EBUSY, "held while its maker's tf_cg is");
        IS_INT(tf_cg_take(o), -EBUSY, "held still: a failed take leaves nothing taken");
        pid_t child = fork();
        if (child == 0) {
                char c;
                close(gate[1]);
                (void) !read(gate[0], &c, 1); /* until the parent closes its end */
                _exit(0);
        }
        close(gate[0]);
        tf_cg_free(cg); /* the maker's own handle gone, the cgroup left */
        cg = NULL;
        IS_INT(tf_cg_take(o), -EBUSY, "held by a forked child that has not exec'ed");
        close(gate[1]);
        wait_status(child);
        IS_INT(tf_cg_take(o), 0, "taken once the maker and its child are gone (kill -9 drops it the same way)");
        IS_INT(tf_cg_take(o2), -EBUSY, "a second sweep finds it held by the first");
        IS_INT(tf_cg_destroy(o, &e), 0, "take: removed by the sweep that took it");
        o = NULL;
        OK(!exists(leaf(H_MEMORY, name, NULL)), "take: gone");
out:
        tf_cg_free(o2);
        if (o)
                (void) tf_cg_destroy(o, NULL);
        if (cg)
                (void) tf_cg_destroy(cg, NULL);
        tf_error_free(e);
}

static void expect_refusal(struct tf_limits *l, const char *what, const char *msg) {
        tf_error *e = NULL;
        int r = tf_cg_check(host, l, &(struct tf_cg_options){.name = "x"}, NULL, &e);
        IS_INT(r, -EOPNOTSUPP, "check refuses %s", what);
        IS_STR(e ? e->msg : NULL, msg, "message for %s", what);
        tf_error_free(e);
}

static void test_refusals(void) {
        tf_error *e = NULL;
        struct tf_limits l = none();
        l.memory_high = 64u << 20;
        expect_refusal(&l, "memory_high",
                       "limits.memory_high: cgroup v1 has no equivalent of memory.high (needs cgroup v2)");
        l = none();
        l.io_weight = 100;
        expect_refusal(
                &l, "io_weight",
                "limits.io_weight: this host has no io weight controller (cgroup v1 blkio without "
                "blkio.weight, and no block device uses the bfq scheduler that blkio.bfq.weight needs); "
                "remove io_weight or run on a cgroup v2 host");
        l = none();
        l.memory_swap = 0;
        expect_refusal(
                &l, "memory_swap without memory",
                "limits.memory_swap: cgroup v1 limits memory and swap together "
                "(memory.memsw.limit_in_bytes = memory + swap), so it needs limits.memory set as well");
        l = none();
        struct tf_io_limit io = {.device = (char *)"/dev/null",
                                 .read_bps = 1 << 20,
                                 .write_bps = TF_UNSET,
                                 .read_iops = TF_UNSET,
                                 .write_iops = TF_UNSET};
        l.io = &io;
        l.n_io = 1;
        expect_refusal(
                &l, "io on a character device",
                "limits.io[0].device: /dev/null is not a block device; io limits apply to whole disks "
                "such as /dev/vda");
        /* cpuset CPUs this host does not have: named, with the ones it has (this host: 0-1, see below) */
        char online[64];
        snprintf(online, sizeof(online), "%s", slurp("/sys/devices/system/cpu/online"));
        char want[1024];
        l = none();
        l.cpuset = (char *)"0,4095";
        char eff[64], effp[600];
        snprintf(effp, sizeof(effp), "/sys/fs/cgroup/cpuset%s/cpuset.effective_cpus",
                 strcmp(own[H_CPUSET], "/") ? own[H_CPUSET] : "");
        snprintf(eff, sizeof(eff), "%s", slurp(effp));
        snprintf(want, sizeof(want),
                 "limits.cpuset: CPU 4095 of '0,4095' is not available here: the cgroup parent offers CPUs "
                 "%.64s (%.300s; online: %.64s); choose CPUs among those",
                 eff, effp, online);
        expect_refusal(&l, "cpuset CPU 4095", want);
        /* With the spec's path, the key's position goes first (as tf_spec_where() prints it). */
        l = none();
        l.memory_high = 64u << 20;
        l.pos_memory_high = (struct tf_pos){.line = 4, .column = 10};
        e = NULL;
        IS_INT(tf_cg_check(host, &l, &(struct tf_cg_options){.name = "x", .spec_path = "svc.yaml"}, NULL,
                           &e),
               -EOPNOTSUPP, "memory_high refused with a spec path");
        IS_STR(e ? e->msg : NULL,
               "svc.yaml:4:10: limits.memory_high: cgroup v1 has no equivalent of memory.high (needs cgroup v2)",
               "the refusal names the key's position");
        e = tf_error_free(e);
        /* nothing was created by any of these */
        l = none();
        l.nofile = 1024;
        IS_INT(tf_cg_check(host, &l, &(struct tf_cg_options){.name = "x"}, NULL, &e), 0,
               "nofile is not a cgroup limit");
        tf_error_free(e);
}

static void test_io(void) {
        struct stat st;
        if (stat("/dev/vda", &st) < 0 || !S_ISBLK(st.st_mode)) {
                tap_skip("/dev/vda is not a block device here");
                return;
        }
        struct tf_limits l = none();
        struct tf_io_limit io = {.device = (char *)"/dev/vda",
                                 .read_bps = 10u << 20,
                                 .write_bps = TF_UNSET,
                                 .read_iops = TF_UNSET,
                                 .write_iops = 500};
        l.io = &io;
        l.n_io = 1;
        const char *name;
        struct tf_cg *cg = mk(&l, "io throttle on /dev/vda");
        if (!cg)
                return;
        name = name_buf;
        char want[64];
        snprintf(want, sizeof(want), "%u:%u 10485760", major(st.st_rdev), minor(st.st_rdev));
        IS_STR(slurp(leaf(H_BLKIO, name, "blkio.throttle.read_bps_device")), want, "read_bps_device");
        snprintf(want, sizeof(want), "%u:%u 500", major(st.st_rdev), minor(st.st_rdev));
        IS_STR(slurp(leaf(H_BLKIO, name, "blkio.throttle.write_iops_device")), want, "write_iops_device");
        IS_STR(slurp(leaf(H_BLKIO, name, "blkio.throttle.write_bps_device")), "",
               "write_bps_device untouched");
        tf_error *e = NULL;
        IS_INT(tf_cg_destroy(cg, &e), 0, "destroy");
        OK(!exists(leaf(H_BLKIO, name, NULL)), "blkio dir removed");
}

static void test_failure_leaves_nothing(void) {
        struct tf_limits l = none();
        l.memory = 32u << 20;
        l.pids = 16;
        l.cpu_weight = 100;
        /* A quota under 1 ms passes the plan and is refused by the kernel (EINVAL) at create, after
         * the leaves exist. */
        l.cpu_quota_usec = 500;
        const char *name = next_name();
        struct tf_cg *cg = NULL;
        tf_error *e = NULL;
        int r = tf_cg_create(host, &l, &(struct tf_cg_options){.name = name, .spec_path = "svc.yaml"}, &cg,
                             &e);
        OK(r < 0 && cg == NULL, "create with a 500 us cpu quota fails");
        const char *pre = "svc.yaml: limits.cpus: write '500' to cpu.cfs_quota_us in ";
        OK(e && !strncmp(e->msg, pre, strlen(pre)) && strstr(e->msg, ": Invalid argument"),
           "message names position, key and file: %s", e ? e->msg : "(none)");
        tf_error_free(e);
        for (int h = 0; h < _H_MAX; h++)
                OK(!exists(leaf(h, name, NULL)), "no %s directory left", hier[h]);

        /* a leftover directory with the same name is not adopted */
        name = next_name();
        char *d = leaf(H_UNIFIED, name, NULL);
        OK(mkdir(d, 0755) == 0, "make a stale directory");
        e = NULL;
        l = none();
        r = tf_cg_create(host, &l, &(struct tf_cg_options){.name = name}, &cg, &e);
        IS_INT(r, -EEXIST, "create refuses an existing directory");
        OK(!exists(leaf(H_MEMORY, name, NULL)), "and removes what it made before");
        tf_error_free(e);
        rmdir(d);
}

/* Cgroups the service made below its leaves (as root it may) go with them: the removal tries rmdir first
 * and looks for them only when the leaf stays busy. */
static void test_remove_subcgroups(void) {
        struct tf_limits l = none();
        l.memory = 64u << 20;
        l.pids = 32;
        struct tf_cg *cg = mk(&l, "for sub-cgroups");
        if (!cg)
                return;
        char name[64];
        snprintf(name, sizeof(name), "%s", name_buf);
        bool made = true;
        for (int h = 0; h < _H_MAX; h++) {
                char *d = leaf(h, name, NULL);
                if (!exists(d))
                        continue;
                char sub[1100], deep[1200];
                snprintf(sub, sizeof(sub), "%s/made-by-service", d);
                snprintf(deep, sizeof(deep), "%s/deeper", sub);
                made = made && mkdir(sub, 0755) == 0 && mkdir(deep, 0755) == 0;
        }
        OK(made, "the service's own sub-cgroups (two levels) below every leaf");
        tf_error *e = NULL;
        int r = tf_cg_remove(cg, &e);
        IS_INT(r, 0, "removed with its sub-cgroups%s%s", e ? ": " : "", e ? e->msg : "");
        tf_error_free(e);
        tf_cg_free(cg);
        for (int h = 0; h < _H_MAX; h++)
                OK(!exists(leaf(h, name, NULL)), "no %s directory left", hier[h]);
}

static int child_in_cgroup(void *arg) {
        (void)arg;
        return 0;
}

static void test_clone3(void) {
        struct tf_limits l = none();
        l.memory = 64u << 20;
        struct tf_cg *cg = mk(&l, "for clone3");
        if (!cg)
                return;
        int p[2];
        if (pipe2(p, O_CLOEXEC) < 0)
                return;
        struct clone_args a = {
                .flags = CLONE_INTO_CGROUP, .exit_signal = SIGCHLD, .cgroup = (uint64_t)tf_cg_clone_fd(cg)};
        long pid = syscall(SYS_clone3, &a, sizeof(a));
        if (pid == 0) {
                char c;
                close(p[1]);
                (void)!read(p[0], &c, 1);
                _exit(child_in_cgroup(NULL));
        }
        close(p[0]);
        OK(pid > 0, "clone3(CLONE_INTO_CGROUP) with the clone fd: %s", pid < 0 ? strerror(errno) : "ok");
        if (pid > 0) {
                char f[1024];
                snprintf(f, sizeof(f), "%s", leaf(H_UNIFIED, name_buf, "cgroup.procs"));
                OK(pid_listed(f, (pid_t)pid), "born in the unified cgroup");
                tf_error *e = NULL;
                IS_INT(tf_cg_attach(cg, (pid_t)pid, &e), 0, "then attached to the v1 hierarchies");
                snprintf(f, sizeof(f), "%s/cgroup.procs", tf_cg_path(cg));
                OK(pid_listed(f, (pid_t)pid), "in memory cgroup");
                (void)!write(p[1], "x", 1);
                wait_status((pid_t)pid);
        }
        close(p[1]);
        tf_error *e = NULL;
        IS_INT(tf_cg_destroy(cg, &e), 0, "destroy");
}

/* The child moves itself (tf_cg_attach_self), born in the unified cgroup by clone3 or not at all. */
static void test_attach_self(void) {
        for (int placed = 1; placed >= 0; placed--) {
                struct tf_limits l = none();
                l.memory = 64u << 20;
                l.pids = 32;
                struct tf_cg *cg = mk(&l, "for self-attach");
                if (!cg)
                        return;
                int p[2];
                if (pipe2(p, O_CLOEXEC) < 0)
                        return;
                struct clone_args a = {.exit_signal = SIGCHLD};
                if (placed) {
                        a.flags = CLONE_INTO_CGROUP;
                        a.cgroup = (uint64_t)tf_cg_clone_fd(cg);
                }
                long pid = syscall(SYS_clone3, &a, sizeof(a));
                if (pid == 0) {
                        char what[256] = "";
                        close(p[0]);
                        int r = tf_cg_attach_self(cg, placed, what, sizeof(what));
                        (void)!write(p[1], what, strlen(what) + 1);
                        /* Stay until the parent has looked. */
                        pause();
                        _exit(r < 0 ? 1 : 0);
                }
                close(p[1]);
                char what[256] = "";
                ssize_t n = pid > 0 ? read(p[0], what, sizeof(what) - 1) : -1;
                OK(n > 0 && what[0] == 0, "%s: the child moved itself (%s)",
                   placed ? "placed" : "not placed",
                   n > 0 && what[0] ? what : "no error");
                if (pid > 0) {
                        char f[1024];
                        if (!placed) {
                                /* (When placed, clone3 put it there, and attach_self leaves it.) */
                                snprintf(f, sizeof(f), "%s", leaf(H_UNIFIED, name_buf, "cgroup.procs"));
                                OK(pid_listed(f, (pid_t)pid), "not placed: moved itself into unified");
                        }
                        snprintf(f, sizeof(f), "%s/cgroup.procs", tf_cg_path(cg));
                        const char *how = placed ? "placed" : "not placed";
                        OK(pid_listed(f, (pid_t)pid), "%s: in the v1 memory cgroup", how);
                        snprintf(f, sizeof(f), "%s", leaf(H_PIDS, name_buf, "cgroup.procs"));
                        OK(pid_listed(f, (pid_t)pid), "%s: in the v1 pids cgroup", how);
                        kill((pid_t)pid, SIGKILL);
                        wait_status((pid_t)pid);
                }
                close(p[0]);
                tf_error *e = NULL;
                IS_INT(tf_cg_destroy(cg, &e), 0, "destroy");
        }
}

static void bench(void) {
        /* Not an assertion (timings are for bench/), just the number for the report. */
        struct tf_limits typical = none();
        typical.memory = 64u << 20;
        typical.pids = 64;
        typical.cpu_quota_usec = 50000;
        typical.cpu_period_usec = 100000;
        struct tf_limits bare = none();
        struct {
                const char *what;
                struct tf_limits *l;
        } cases[] = {{"no limits", &bare}, {"memory+pids+cpus", &typical}};
        for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
                const int N = 50;
                uint64_t t_create = 0, t_attach = 0, t_destroy = 0;
                bool ok = true;
                for (int i = 0; i < N && ok; i++) {
                        struct tf_cg *cg = NULL;
                        tf_error *e = NULL;
                        uint64_t t0 = now_ns();
                        ok = tf_cg_create(host, cases[c].l, &(struct tf_cg_options){.name = next_name()},
                                          &cg, &e) == 0;
                        uint64_t t1 = now_ns();
                        if (!ok)
                                break;
                        pid_t pid = fork();
                        if (pid == 0) {
                                pause();
                                _exit(0);
                        }
                        uint64_t t2 = now_ns();
                        ok = tf_cg_attach(cg, pid, &e) == 0;
                        uint64_t t3 = now_ns();
                        kill(pid, SIGKILL);
                        wait_status(pid);
                        uint64_t t4 = now_ns();
                        ok = tf_cg_destroy(cg, &e) == 0 && ok;
                        uint64_t t5 = now_ns();
                        t_create += t1 - t0;
                        t_attach += t3 - t2;
                        t_destroy += t5 - t4;
                        tf_error_free(e);
                }
                OK(ok, "bench %s: %d cycles", cases[c].what, N);
                printf("# %s: create %.0f us, attach %.0f us, destroy %.0f us, total %.0f us per run\n",
                       cases[c].what, t_create / 1e3 / N, t_attach / 1e3 / N, t_destroy / 1e3 / N,
                       (t_create + t_attach + t_destroy) / 1e3 / N);
        }
}

/* A second host in the same process (libcgroup is initialised once, by the first) describes the same host.
 */
static void test_second_host(enum tf_cg_mode m) {
        struct tf_cg_host *h2 = NULL;
        tf_error *e = NULL;
        uint64_t t0 = now_ns();
        int r = tf_cg_host_new(&h2, &e);
        printf("# second host (no cgroup_init): %.0f us\n", (now_ns() - t0) / 1e3);
        IS_INT(r, 0, "a second host in one process");
        OK(h2 && tf_cg_host_mode(h2) == m, "... of the same mode");
        tf_cg_host_free(h2);
        tf_error_free(e);
}

/* Pure cgroup v2: detection agrees with the kernel, and a limited cgroup's lifecycle (limit written,
 * populated, events on emptying, kill, removal) seen through /sys/fs/cgroup directly. */
static void test_pure_v2(enum tf_cg_mode m) {
        struct statfs sfs;
        OK(statfs("/sys/fs/cgroup", &sfs) == 0 && (uint64_t)sfs.f_type == UINT64_C(0x63677270),
           "detect says %s and /sys/fs/cgroup is a cgroup2 mount (statfs)", tf_cg_mode_name(m));
        IS_STR(tf_cg_mode_name(m), "v2", "mode name v2");
        struct tf_limits l = none();
        l.pids = 16;
        const char *name = next_name();
        tf_error *e = NULL;
        struct tf_cg *cg = NULL;
        int r = tf_cg_create(host, &l, &(struct tf_cg_options){.name = name}, &cg, &e);
        IS_INT(r, 0, "v2: create with pids 16");
        if (r < 0) {
                printf("# %s\n", e->msg);
                tf_error_free(e);
                return;
        }
        char dir[1024], f[1100];
        snprintf(dir, sizeof(dir), "/sys/fs/cgroup%s/%s", strcmp(own[H_UNIFIED], "/") ? own[H_UNIFIED] : "",
                 name);
        snprintf(f, sizeof(f), "%s/pids.max", dir);
        IS_STR(slurp(f), "16", "v2: pids.max reads 16");
        IS_INT(tf_cg_watch(cg), 0, "v2: cgroup.events watched");
        int fd = tf_cg_events_fd(host);
        OK(fd >= 0, "v2: an events fd");
        OK(!tf_cg_populated(cg), "v2: empty at first");
        pid_t pid = spawn(cg, do_pause);
        snprintf(f, sizeof(f), "%s/cgroup.procs", dir);
        OK(pid > 0 && pid_listed(f, pid), "v2: the child is in the cgroup");
        OK(tf_cg_populated(cg), "v2: populated with the child");
        IS_INT(tf_cg_kill(cg, SIGKILL, &e), 0, "v2: kill");
        int ws = wait_status(pid);
        OK(WIFSIGNALED(ws) && WTERMSIG(ws) == SIGKILL, "v2: the child was SIGKILLed");
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        bool empty = false;
        for (int i = 0; i < 20 && !empty; i++)
                empty = !tf_cg_populated(cg) ||
                        (poll(&pfd, 1, 100) >= 0 && (tf_cg_events_drain(host), !tf_cg_populated(cg)));
        OK(empty, "v2: not populated after the kill");
        IS_INT(tf_cg_destroy(cg, &e), 0, "v2: destroy");
        OK(!exists(dir), "v2: directory removed");
}

int main(void) {
        if (geteuid() != 0) {
                tap_skip("needs root to create cgroups");
                return tap_done();
        }
        read_own();
        enum tf_cg_mode m;
        tf_error *e = NULL;
        uint64_t t0 = now_ns();
        int r = tf_cg_host_new(&host, &e);
        printf("# detect (cgroup_init included): %.0f us\n", (now_ns() - t0) / 1e3);
        IS_INT(r, 0, "detect");
        if (r < 0)
                return tap_done();
        m = tf_cg_host_mode(host);
        test_second_host(m);
        if (m != TF_CG_HYBRID) {
                /* The rest is written for the hybrid host; on pure v2 (inside the VM, vm-native) the
                 * lifecycle is proven here against the kernel's own files, the limits by vm-v2. */
                test_pure_v2(m);
                host = tf_cg_host_free(host);
                return tap_done();
        }
        IS_STR(tf_cg_mode_name(m), "hybrid", "detect says hybrid");

        test_create_readback();
        test_every_controller();
        test_stats();
        test_oom();
        test_kill_tree();
        test_destroy_kills();
        test_list_open();
        test_take();
        test_refusals();
        test_io();
        test_failure_leaves_nothing();
        test_clone3();
        test_remove_subcgroups();
        test_attach_self();
        bench();
        host = tf_cg_host_free(host);
        return tap_done();
}
