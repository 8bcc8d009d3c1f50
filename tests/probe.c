/* SPDX-License-Identifier: MIT */
/*
 * tfprobe: a small static program that integration tests run as the service, to look from inside the
 * child and to make limits bite. Static so that it also runs in a bare busybox container and in the VM.
 *
 *   tfprobe alloc MB [HOLD_MS]     allocate and touch MB MiB, then hold them
 *   tfprobe fork N                 try N forks of sleeping children; print "forked=A failed=B"; reap
 *   tfprobe spin SECONDS           busy loop for SECONDS of wall time
 *   tfprobe ignore-term SECONDS N  ignore SIGTERM, start N children that ignore it too, sleep
 *   tfprobe sleep SECONDS          plain sleep
 *   tfprobe exit CODE              exit with CODE
 *   tfprobe kill-self SIG          raise SIG (number)
 *   tfprobe cgroup                 print /proc/self/cgroup
 *   tfprobe limits                 print the effective limits of its own cgroup, v1 or v2, one per line
 *   tfprobe fds                    list open fds (from /proc/self/fd)
 *   tfprobe env NAME...            print NAME=value for each (or NAME unset)
 *   tfprobe rlimit-nofile          print soft and hard RLIMIT_NOFILE
 *   tfprobe ids                    print uid, gid and supplementary groups
 *   tfprobe cwd                    print the working directory
 *   tfprobe output BYTES           write BYTES of a known pattern to stdout
 *   tfprobe interleave N           alternate N lines between stdout and stderr
 */
#include <dirent.h>
#include <errno.h>
#include <grp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}

static void cat(const char *path) {
        FILE *f = fopen(path, "re");
        if (!f)
                return;
        char line[4096];
        while (fgets(line, sizeof line, f))
                fputs(line, stdout);
        fclose(f);
}

static int read_line(const char *path, char *buf, size_t len) {
        FILE *f = fopen(path, "re");
        if (!f)
                return -1;
        if (!fgets(buf, (int) len, f)) {
                fclose(f);
                return -1;
        }
        fclose(f);
        buf[strcspn(buf, "\n")] = 0;
        return 0;
}

/* The cgroup path of controller `ctl` ("" for the v2 entry). */
static int own_cgroup(const char *ctl, char *out, size_t len) {
        FILE *f = fopen("/proc/self/cgroup", "re");
        if (!f)
                return -1;
        char line[4096];
        int found = -1;
        while (fgets(line, sizeof line, f)) {
                line[strcspn(line, "\n")] = 0;
                char *a = strchr(line, ':');
                if (!a)
                        continue;
                char *b = strchr(a + 1, ':');
                if (!b)
                        continue;
                *b = 0;
                const char *ctls = a + 1;
                int match = 0;
                if (!*ctl)
                        match = !*ctls;
                else {
                        char tmp[256];
                        snprintf(tmp, sizeof tmp, ",%s,", ctls);
                        char want[64];
                        snprintf(want, sizeof want, ",%s,", ctl);
                        match = strstr(tmp, want) != NULL;
                }
                if (match) {
                        snprintf(out, len, "%s", b + 1);
                        found = 0;
                        break;
                }
        }
        fclose(f);
        return found;
}

static void limit(const char *key, const char *ctl, const char *file) {
        char cg[2048], path[4096], val[256];
        int v2 = access("/sys/fs/cgroup/cgroup.controllers", F_OK) == 0;
        if (own_cgroup(v2 ? "" : ctl, cg, sizeof cg) < 0) {
                printf("%s=?\n", key);
                return;
        }
        if (v2)
                snprintf(path, sizeof path, "/sys/fs/cgroup%s/%s", cg, file);
        else
                snprintf(path, sizeof path, "/sys/fs/cgroup/%s%s/%s", ctl, cg, file);
        /* In a container on v1, /proc/self/cgroup names the host's path while the container sees its own
         * cgroup mounted at the controller's root. */
        if (read_line(path, val, sizeof val) < 0 &&
            (v2 ? snprintf(path, sizeof path, "/sys/fs/cgroup/%s", file)
                : snprintf(path, sizeof path, "/sys/fs/cgroup/%s/%s", ctl, file),
             read_line(path, val, sizeof val) < 0))
                printf("%s=?\n", key);
        else
                printf("%s=%s\n", key, val);
}

/* Effective limits in one vocabulary whatever the cgroup version, so that tests compare v1 and v2. */
static int limits(void) {
        int v2 = access("/sys/fs/cgroup/cgroup.controllers", F_OK) == 0;
        printf("cgroup=%s\n", v2 ? "v2" : "v1");
        if (v2) {
                limit("memory", "memory", "memory.max");
                limit("pids", "pids", "pids.max");
                char cg[2048], path[4096], val[256];
                if (own_cgroup("", cg, sizeof cg) == 0) {
                        snprintf(path, sizeof path, "/sys/fs/cgroup%s/cpu.max", cg);
                        if (read_line(path, val, sizeof val) == 0) {
                                char q[64], p[64];
                                if (sscanf(val, "%63s %63s", q, p) == 2)
                                        printf("cpu_quota=%s\ncpu_period=%s\n", strcmp(q, "max") ? q : "-1", p);
                        }
                }
                limit("cpuset", "cpuset", "cpuset.cpus");
        } else {
                limit("memory", "memory", "memory.limit_in_bytes");
                limit("pids", "pids", "pids.max");
                limit("cpu_quota", "cpu", "cpu.cfs_quota_us");
                limit("cpu_period", "cpu", "cpu.cfs_period_us");
                limit("cpuset", "cpuset", "cpuset.cpus");
        }
        return 0;
}

int main(int argc, char **argv) {
        setvbuf(stdout, NULL, _IOLBF, 0);
        if (argc < 2) {
                fprintf(stderr, "usage: tfprobe COMMAND ARGS (see tests/probe.c)\n");
                return 2;
        }
        const char *c = argv[1];
        if (!strcmp(c, "alloc") && argc >= 3) {
                size_t mb = strtoul(argv[2], NULL, 10);
                long hold = argc >= 4 ? strtol(argv[3], NULL, 10) : 0;
                for (size_t i = 0; i < mb; i++) {
                        char *p = malloc(1 << 20);
                        if (!p) {
                                printf("allocated=%zu failed\n", i);
                                return 1;
                        }
                        memset(p, (int) (i + 1), 1 << 20);
                }
                printf("allocated=%zu\n", mb);
                if (hold > 0)
                        usleep((useconds_t) hold * 1000);
                return 0;
        }
        if (!strcmp(c, "fork") && argc >= 3) {
                int n = atoi(argv[2]), ok = 0, failed = 0;
                pid_t pids[4096];
                for (int i = 0; i < n && i < 4096; i++) {
                        pid_t p = fork();
                        if (p == 0) {
                                sleep(30);
                                _exit(0);
                        }
                        if (p < 0)
                                failed++;
                        else
                                pids[ok++] = p;
                }
                printf("forked=%d failed=%d\n", ok, failed);
                for (int i = 0; i < ok; i++)
                        kill(pids[i], SIGKILL);
                for (int i = 0; i < ok; i++)
                        waitpid(pids[i], NULL, 0);
                return 0;
        }
        if (!strcmp(c, "spin") && argc >= 3) {
                double end = now() + atof(argv[2]);
                volatile unsigned long x = 0;
                while (now() < end)
                        for (int i = 0; i < 10000; i++)
                                x++;
                return 0;
        }
        if (!strcmp(c, "ignore-term") && argc >= 4) {
                signal(SIGTERM, SIG_IGN);
                int n = atoi(argv[3]);
                for (int i = 0; i < n; i++)
                        if (fork() == 0) {
                                sleep((unsigned) atoi(argv[2]));
                                _exit(0);
                        }
                printf("ready\n");
                sleep((unsigned) atoi(argv[2]));
                return 0;
        }
        if (!strcmp(c, "sleep") && argc >= 3) {
                usleep((useconds_t) (atof(argv[2]) * 1e6));
                return 0;
        }
        if (!strcmp(c, "exit") && argc >= 3)
                return atoi(argv[2]);
        if (!strcmp(c, "kill-self") && argc >= 3) {
                int sig = atoi(argv[2]);
                signal(sig, SIG_DFL);
                raise(sig);
                return 0;
        }
        if (!strcmp(c, "cgroup")) {
                cat("/proc/self/cgroup");
                return 0;
        }
        if (!strcmp(c, "limits"))
                return limits();
        if (!strcmp(c, "fds")) {
                DIR *d = opendir("/proc/self/fd");
                if (!d)
                        return 1;
                int dfd = dirfd(d);
                struct dirent *e;
                while ((e = readdir(d)))
                        if (e->d_name[0] != '.' && atoi(e->d_name) != dfd)
                                printf("%s\n", e->d_name);
                closedir(d);
                return 0;
        }
        if (!strcmp(c, "env")) {
                for (int i = 2; i < argc; i++) {
                        const char *v = getenv(argv[i]);
                        if (v)
                                printf("%s=%s\n", argv[i], v);
                        else
                                printf("%s unset\n", argv[i]);
                }
                return 0;
        }
        if (!strcmp(c, "rlimit-nofile")) {
                struct rlimit rl;
                getrlimit(RLIMIT_NOFILE, &rl);
                printf("soft=%llu hard=%llu\n", (unsigned long long) rl.rlim_cur, (unsigned long long) rl.rlim_max);
                return 0;
        }
        if (!strcmp(c, "ids")) {
                gid_t g[64];
                int n = getgroups(64, g);
                printf("uid=%u gid=%u groups=", (unsigned) getuid(), (unsigned) getgid());
                for (int i = 0; i < n; i++)
                        printf("%s%u", i ? "," : "", (unsigned) g[i]);
                printf("\n");
                return 0;
        }
        if (!strcmp(c, "cwd")) {
                char buf[4096];
                printf("%s\n", getcwd(buf, sizeof buf) ? buf : "?");
                return 0;
        }
        if (!strcmp(c, "output") && argc >= 3) {
                long long n = atoll(argv[2]);
                char buf[65536];
                for (size_t i = 0; i < sizeof buf; i++)
                        buf[i] = (char) ('a' + i % 26);
                setvbuf(stdout, NULL, _IOFBF, 1 << 16);
                while (n > 0) {
                        size_t k = n > (long long) sizeof buf ? sizeof buf : (size_t) n;
                        if (fwrite(buf, 1, k, stdout) != k)
                                return 1;
                        n -= (long long) k;
                }
                return 0;
        }
        if (!strcmp(c, "interleave") && argc >= 3) {
                int n = atoi(argv[2]);
                setvbuf(stderr, NULL, _IOLBF, 0);
                for (int i = 0; i < n; i++) {
                        fprintf(i % 2 ? stderr : stdout, "line %d\n", i);
                        fflush(i % 2 ? stderr : stdout);
                }
                return 0;
        }
        fprintf(stderr, "tfprobe: unknown command '%s'\n", c);
        return 2;
}
