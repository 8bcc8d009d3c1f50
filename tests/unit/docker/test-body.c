/* SPDX-License-Identifier: MIT */
/* docker/ without a daemon: spec -> create body, refusals, reference grammar, the stream demultiplexer. */

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/strutil.h"
#include "docker/docker-internal.h"
#include "spec/limits.h"
#include "tests/tap.h"

static char *argv_true[] = {"/bin/true", NULL};

/* A spec as spec/ would leave it with nothing but name and image: every limit unset. */
static void spec_init(struct tf_spec *s) {
        *s = (struct tf_spec){
                .name = "svc",
                .image = "tfrun-test/busybox:latest",
                .argv = argv_true,
                .stop_signal = SIGTERM,
                .sandbox = {.no_new_privileges = true},
        };
        struct tf_limits *l = &s->limits;
        l->cpu_quota_usec = l->cpu_period_usec = l->cpu_weight = l->memory = l->memory_high = TF_UNSET;
        l->memory_swap = l->pids = l->io_weight = l->nofile = TF_UNSET;
}

static json_t *build(const struct tf_spec *s, tf_error **err) {
        json_t *b = NULL;
        int r = tf_docker_create_body(s, "run-1", NULL, &b, err);
        return r < 0 ? NULL : b;
}

static json_t *hc(json_t *b) {
        return json_object_get(b, "HostConfig");
}

static long long ival(json_t *o, const char *k) {
        json_t *v = json_object_get(o, k);
        return json_is_integer(v) ? json_integer_value(v) : -999;
}

static void test_minimal(void) {
        struct tf_spec s;
        spec_init(&s);
        _cleanup_error_ tf_error *e = NULL;
        json_t *b = build(&s, &e);
        OK(b, "minimal spec builds");
        if (!b)
                return;
        IS_STR(json_string_value(json_object_get(b, "Image")), "tfrun-test/busybox:latest", "Image");
        IS_STR(json_string_value(json_array_get(json_object_get(b, "Cmd"), 0)), "/bin/true", "Cmd");
        json_t *labels = json_object_get(b, "Labels");
        IS_STR(json_string_value(json_object_get(labels, "tfrun.service")), "svc", "label tfrun.service");
        IS_STR(json_string_value(json_object_get(labels, "tfrun.run")), "run-1", "label tfrun.run");
        IS_STR(json_string_value(json_object_get(b, "StopSignal")), "SIGTERM", "StopSignal");
        OK(json_is_false(json_object_get(b, "Tty")), "no TTY (the stream is multiplexed)");
        OK(json_is_false(json_object_get(hc(b), "AutoRemove")), "AutoRemove false");
        OK(json_is_false(json_object_get(hc(b), "Init")), "Init false");
        OK(!json_object_get(hc(b), "NetworkMode"), "network unset: NetworkMode omitted");
        OK(!json_object_get(hc(b), "Memory") && !json_object_get(hc(b), "NanoCpus") &&
                   !json_object_get(hc(b), "PidsLimit") && !json_object_get(hc(b), "MemorySwap"),
           "no limits unless asked");
        IS_STR(json_string_value(json_array_get(json_object_get(hc(b), "SecurityOpt"), 0)),
               "no-new-privileges:true", "no_new_privileges");
        IS_INT(json_array_size(json_object_get(hc(b), "SecurityOpt")), 1, "default seccomp adds nothing");
        OK(!json_object_get(b, "Env") && !json_object_get(b, "User") && !json_object_get(b, "WorkingDir"),
           "unset env/user/working_dir omitted");
        json_decref(b);
}

static void test_all_limits(void) {
        struct tf_spec s;
        spec_init(&s);
        char *env[] = {"A=1", "B=two", NULL};
        char *drop[] = {"ALL", NULL}, *add[] = {"NET_BIND_SERVICE", NULL};
        struct tf_io_limit io[] = {{.device = "/dev/vda",
                                    .read_bps = 10 << 20,
                                    .write_bps = 5 << 20,
                                    .read_iops = 500,
                                    .write_iops = TF_UNSET},
                                   {.device = "/dev/vdb",
                                    .read_bps = TF_UNSET,
                                    .write_bps = TF_UNSET,
                                    .read_iops = TF_UNSET,
                                    .write_iops = 42}};
        struct tf_mount mounts[] = {{.source = "/srv/data", .target = "/data", .read_only = true},
                                    {.source = "/srv/out", .target = "/out", .read_only = false}};
        s.env = env;
        s.user = "1000:1000";
        s.working_dir = "/srv";
        s.limits.cpu_quota_usec = 150000;
        s.limits.cpu_period_usec = TF_CPU_PERIOD_USEC;
        s.limits.cpu_weight = 100;
        s.limits.cpuset = "0-1";
        s.limits.memory = 512 << 20;
        s.limits.memory_swap = 0;
        s.limits.pids = 64;
        s.limits.io_weight = 100;
        s.limits.io = io;
        s.limits.n_io = 2;
        s.limits.nofile = 1024;
        s.sandbox.cap_drop = drop;
        s.sandbox.cap_add = add;
        s.sandbox.read_only_root = true;
        s.sandbox.network = TF_NETWORK_NONE;
        s.sandbox.seccomp = TF_SECCOMP_UNCONFINED;
        s.mounts = mounts;
        s.n_mounts = 2;

        _cleanup_error_ tf_error *e = NULL;
        json_t *b = build(&s, &e);
        OK(b, "full spec builds%s%s", e ? ": " : "", e ? e->msg : "");
        if (!b)
                return;
        json_t *h = hc(b);
        IS_INT(ival(h, "NanoCpus"), 1500000000LL, "cpus 1.5 -> NanoCpus 1.5e9");
        OK(!json_object_get(h, "CpuQuota"), "NanoCpus, not CpuQuota, at the 100 ms period");
        IS_INT(ival(h, "CpuShares"), 1024, "cpu_weight 100 -> CpuShares 1024");
        IS_STR(json_string_value(json_object_get(h, "CpusetCpus")), "0-1", "CpusetCpus");
        IS_INT(ival(h, "Memory"), 512LL << 20, "Memory");
        IS_INT(ival(h, "MemorySwap"), 512LL << 20, "memory_swap 0 -> MemorySwap = memory + 0");
        IS_INT(ival(h, "PidsLimit"), 64, "PidsLimit");
        IS_INT(ival(h, "BlkioWeight"), 100, "BlkioWeight");
        json_t *rb = json_object_get(h, "BlkioDeviceReadBps");
        IS_INT(json_array_size(rb), 1, "one read_bps rule");
        IS_STR(json_string_value(json_object_get(json_array_get(rb, 0), "Path")), "/dev/vda",
               "read_bps Path");
        IS_INT(ival(json_array_get(rb, 0), "Rate"), 10 << 20, "read_bps Rate");
        IS_INT(ival(json_array_get(json_object_get(h, "BlkioDeviceWriteBps"), 0), "Rate"), 5 << 20,
               "write_bps Rate");
        IS_INT(ival(json_array_get(json_object_get(h, "BlkioDeviceReadIOps"), 0), "Rate"), 500, "read_iops");
        json_t *wi = json_object_get(h, "BlkioDeviceWriteIOps");
        IS_INT(json_array_size(wi), 1, "one write_iops rule");
        IS_STR(json_string_value(json_object_get(json_array_get(wi, 0), "Path")), "/dev/vdb",
               "write_iops Path");
        IS_INT(ival(json_array_get(wi, 0), "Rate"), 42, "write_iops Rate");
        json_t *ul = json_array_get(json_object_get(h, "Ulimits"), 0);
        IS_STR(json_string_value(json_object_get(ul, "Name")), "nofile", "Ulimits nofile");
        OK(ival(ul, "Soft") == 1024 && ival(ul, "Hard") == 1024, "nofile soft = hard = 1024");
        IS_STR(json_string_value(json_array_get(json_object_get(h, "CapDrop"), 0)), "ALL", "CapDrop");
        IS_STR(json_string_value(json_array_get(json_object_get(h, "CapAdd"), 0)), "NET_BIND_SERVICE",
               "CapAdd");
        OK(json_is_true(json_object_get(h, "ReadonlyRootfs")), "ReadonlyRootfs");
        IS_STR(json_string_value(json_object_get(h, "NetworkMode")), "none", "NetworkMode none");
        IS_STR(json_string_value(json_array_get(json_object_get(h, "SecurityOpt"), 1)), "seccomp=unconfined",
               "seccomp unconfined");
        json_t *m0 = json_array_get(json_object_get(h, "Mounts"), 0),
               *m1 = json_array_get(json_object_get(h, "Mounts"), 1);
        IS_STR(json_string_value(json_object_get(m0, "Type")), "bind", "mount type bind");
        IS_STR(json_string_value(json_object_get(m0, "Source")), "/srv/data", "mount source");
        IS_STR(json_string_value(json_object_get(m0, "Target")), "/data", "mount target");
        OK(json_is_true(json_object_get(m0, "ReadOnly")) && json_is_false(json_object_get(m1, "ReadOnly")),
           "mount ReadOnly follows read_only");
        IS_INT(json_array_size(json_object_get(b, "Env")), 2, "Env");
        IS_STR(json_string_value(json_array_get(json_object_get(b, "Env"), 1)), "B=two", "Env order kept");
        IS_STR(json_string_value(json_object_get(b, "User")), "1000:1000", "User");
        IS_STR(json_string_value(json_object_get(b, "WorkingDir")), "/srv", "WorkingDir");
        json_decref(b);
}

/* Without limits.nofile the body carries the open-files limit a native job would inherit (pinned's), so the
 * container does not get the engine's own; a spec's nofile wins; none given: the engine decides. */
static void test_nofile_inherited(void) {
        struct tf_spec s;
        spec_init(&s);
        const struct tf_docker_pinned pinned = {.nofile_soft = 4096, .nofile_hard = 8192};
        json_t *b = NULL;
        OK(tf_docker_create_body(&s, "r", &pinned, &b, NULL) == 0, "nofile inherited: body built");
        json_t *ul = json_array_get(json_object_get(hc(b), "Ulimits"), 0);
        IS_STR(json_string_value(json_object_get(ul, "Name")), "nofile", "inherited: Ulimits nofile");
        OK(ival(ul, "Soft") == 4096 && ival(ul, "Hard") == 8192, "inherited: soft 4096, hard 8192");
        json_decref(b);
        s.limits.nofile = 100;
        OK(tf_docker_create_body(&s, "r", &pinned, &b, NULL) == 0, "nofile set: body built");
        ul = json_array_get(json_object_get(hc(b), "Ulimits"), 0);
        OK(ival(ul, "Soft") == 100 && ival(ul, "Hard") == 100 &&
                   json_array_size(json_object_get(hc(b), "Ulimits")) == 1,
           "the spec's nofile wins over the inherited one");
        json_decref(b);
        s.limits.nofile = TF_UNSET;
        const struct tf_docker_pinned none = {};
        OK(tf_docker_create_body(&s, "r", &none, &b, NULL) == 0, "no inherited nofile: body built");
        OK(!json_object_get(hc(b), "Ulimits"), "no inherited nofile: Ulimits omitted");
        json_decref(b);
}

/* On a v2 host the shares are the ones runc 1.1 turns back into cpu.weight = cpu_weight, every value. */
static void test_cpu_weight_v2(void) {
        bool all = true;
        for (uint64_t w = 1; w <= 10000; w++) {
                uint64_t sh = tf_cpu_weight_to_runc_v2_shares(w);
                uint64_t back = 1 + (sh - 2) * 9999 / 262142;
                if (back != w || sh < 2 || sh > 262144) {
                        all = false;
                        printf("# cpu_weight %llu: shares %llu, runc writes %llu\n", (unsigned long long) w,
                               (unsigned long long) sh, (unsigned long long) back);
                        break;
                }
        }
        OK(all, "v2: runc 1.1's formula turns the shares sent back into cpu_weight, 1..10000");
        struct tf_spec s;
        spec_init(&s);
        s.limits.cpu_weight = 200;
        const struct tf_docker_pinned v2 = {.cgroup_v2 = true};
        json_t *b = NULL;
        OK(tf_docker_create_body(&s, "r", &v2, &b, NULL) == 0, "v2 cpu_weight: body built");
        IS_INT(ival(hc(b), "CpuShares"), 5220, "v2: cpu_weight 200 -> CpuShares 5220 (runc: cpu.weight 200)");
        json_decref(b);
        const struct tf_docker_pinned v1 = {};
        OK(tf_docker_create_body(&s, "r", &v1, &b, NULL) == 0, "v1 cpu_weight: body built");
        IS_INT(ival(hc(b), "CpuShares"), 2048, "v1: cpu_weight 200 -> CpuShares 2048 (cpu.shares as natively)");
        json_decref(b);
}

static void test_cpu(void) {
        struct tf_spec s;
        spec_init(&s);
        s.limits.cpu_quota_usec = 50000;
        s.limits.cpu_period_usec = 50000;
        _cleanup_error_ tf_error *e = NULL;
        json_t *b = build(&s, &e);
        OK(b && ival(hc(b), "CpuQuota") == 50000 && ival(hc(b), "CpuPeriod") == 50000 &&
                   !json_object_get(hc(b), "NanoCpus"),
           "a non-default period maps to CpuQuota+CpuPeriod");
        json_decref(b);

        s.limits.cpu_quota_usec = 500;
        s.limits.cpu_period_usec = TF_CPU_PERIOD_USEC;
        OK(!build(&s, &e) && e && strstr(e->msg, "limits.cpus"),
           "quota below 1 ms refused naming limits.cpus");

        spec_init(&s);
        s.limits.cpu_quota_usec = TF_LIMIT_MAX;
        s.limits.cpu_period_usec = TF_CPU_PERIOD_USEC;
        b = build(&s, &e);
        OK(b && !json_object_get(hc(b), "NanoCpus") && !json_object_get(hc(b), "CpuQuota"),
           "cpus max: omitted");
        json_decref(b);
}

static void test_refusals(void) {
        struct tf_spec s;
        spec_init(&s);
        s.limits.memory = 512 << 20;
        s.limits.memory_high = 400 << 20;
        _cleanup_error_ tf_error *e = NULL;
        json_t *b = NULL;
        int r = tf_docker_create_body(&s, "r", NULL, &b, &e);
        IS_INT(r, -EOPNOTSUPP, "memory_high refused with -EOPNOTSUPP");
        OK(!b, "nothing built");
        IS_STR(e ? e->msg : NULL,
               "limits.memory_high: Docker has no equivalent of memory.high (MemoryReservation is a soft "
               "minimum, "
               "not a throttle); remove it or use the native backend",
               "memory_high message");

        /* With a file position the message says where. */
        s.path = "svc.yaml";
        s.limits.pos_memory_high = (struct tf_pos){7, 3};
        e = tf_error_free(e);
        tf_docker_create_body(&s, "r", NULL, &b, &e);
        OK(e && tf_startswith(e->msg, "svc.yaml:7:3: limits.memory_high: Docker has no equivalent"),
           "position prefixed when known");

        static const struct {
                uint64_t w;
                bool ok;
        } weights[] = {{1, false},   {9, false},    {10, true},    {500, true},
                       {1000, true}, {1001, false}, {10000, false}};
        for (size_t i = 0; i < ELEMENTSOF(weights); i++) {
                spec_init(&s);
                s.limits.io_weight = weights[i].w;
                e = tf_error_free(e);
                b = NULL;
                r = tf_docker_create_body(&s, "r", NULL, &b, &e);
                if (weights[i].ok)
                        OK(r == 0 && ival(hc(b), "BlkioWeight") == (long long)weights[i].w,
                           "io_weight %llu accepted", (unsigned long long)weights[i].w);
                else
                        OK(r == -EINVAL && e &&
                                   tf_startswith(e->msg,
                                                 "limits.io_weight: Docker's BlkioWeight accepts 10..1000"),
                           "io_weight %llu refused naming the key", (unsigned long long)weights[i].w);
                json_decref(b);
        }

        spec_init(&s);
        s.limits.memory_swap = 100 << 20;
        e = tf_error_free(e);
        r = tf_docker_create_body(&s, "r", NULL, &b, &e);
        OK(r == -EINVAL && e && tf_startswith(e->msg, "limits.memory_swap: "),
           "swap without memory refused");

        spec_init(&s);
        s.limits.memory = 64 << 20;
        s.limits.memory_swap = 32 << 20;
        b = build(&s, NULL);
        IS_INT(ival(hc(b), "MemorySwap"), 96LL << 20, "swap 32M + memory 64M -> MemorySwap 96M");
        json_decref(b);
        s.limits.memory_swap = TF_LIMIT_MAX;
        b = build(&s, NULL);
        IS_INT(ival(hc(b), "MemorySwap"), -1, "swap max -> MemorySwap -1 (unlimited)");
        json_decref(b);
        s.limits.memory_swap = TF_UNSET;
        b = build(&s, NULL);
        IS_INT(ival(hc(b), "MemorySwap"), 128LL << 20,
               "memory 64M alone -> MemorySwap 128M, sent explicitly (swap as large as memory, both "
               "backends)");
        json_decref(b);
        spec_init(&s);
        s.limits.memory_swap = TF_LIMIT_MAX;
        b = build(&s, NULL);
        OK(!json_object_get(hc(b), "Memory") && !json_object_get(hc(b), "MemorySwap"),
           "swap max without memory: accepted, nothing to send (unlimited, as natively)");
        json_decref(b);

        spec_init(&s);
        s.image = NULL;
        e = tf_error_free(e);
        OK(tf_docker_create_body(&s, "r", NULL, &b, &e) == -EINVAL && e && strstr(e->msg, "image"),
           "no image refused");
        spec_init(&s);
        s.image = "Bad Image!";
        e = tf_error_free(e);
        OK(tf_docker_create_body(&s, "r", NULL, &b, &e) == -EINVAL && e &&
                   strstr(e->msg, "invalid image reference"),
           "bad image reference refused before any request");
}

static void test_sandbox(void) {
        struct tf_spec s;
        spec_init(&s);
        static const struct {
                enum tf_network_mode m;
                const char *name, *want;
        } nets[] = {{TF_NETWORK_HOST, NULL, "host"},
                    {TF_NETWORK_BRIDGE, NULL, "bridge"},
                    {TF_NETWORK_NAMED, "backend-net", "backend-net"}};
        for (size_t i = 0; i < ELEMENTSOF(nets); i++) {
                s.sandbox.network = nets[i].m;
                s.sandbox.network_name = (char *)nets[i].name;
                json_t *b = build(&s, NULL);
                IS_STR(json_string_value(json_object_get(hc(b), "NetworkMode")), nets[i].want, "network %s",
                       nets[i].want);
                json_decref(b);
        }

        spec_init(&s);
        s.sandbox.pid = TF_PID_PRIVATE;
        json_t *bp = build(&s, NULL);
        OK(json_is_true(json_object_get(hc(bp), "Init")), "pid private: Init true (docker-init as pid 1)");
        OK(!json_object_get(hc(bp), "PidMode"), "pid private: PidMode omitted (the container's own)");
        json_decref(bp);
        s.sandbox.pid = TF_PID_HOST;
        bp = build(&s, NULL);
        IS_STR(json_string_value(json_object_get(hc(bp), "PidMode")), "host", "pid host: PidMode host");
        OK(json_is_false(json_object_get(hc(bp), "Init")), "pid host: Init false");
        json_decref(bp);

        spec_init(&s);
        s.sandbox.no_new_privileges = false;
        s.sandbox.private_tmp = true;
        json_t *b = build(&s, NULL);
        IS_INT(json_array_size(json_object_get(hc(b), "SecurityOpt")), 0,
               "no_new_privileges false: no option");
        OK(json_object_get(json_object_get(hc(b), "Tmpfs"), "/tmp"), "private_tmp -> Tmpfs /tmp");
        /* The native private /tmp is executable; without "exec" the engine would add noexec. */
        IS_STR(json_string_value(json_object_get(json_object_get(hc(b), "Tmpfs"), "/tmp")),
               "rw,exec,nosuid,nodev,mode=1777", "private_tmp: the native backend's options, exec explicit");
        json_decref(b);

        /* A profile file is read and passed inline. */
        char path[] = "/tmp/tfrun-seccomp-XXXXXX";
        int fd = mkostemp(path, O_CLOEXEC);
        const char *prof = "{\"defaultAction\": \"SCMP_ACT_ALLOW\", \"syscalls\": []}";
        OK(fd >= 0 && write(fd, prof, strlen(prof)) == (ssize_t)strlen(prof), "write a seccomp profile");
        close(fd);
        spec_init(&s);
        s.sandbox.seccomp = TF_SECCOMP_PROFILE;
        s.sandbox.seccomp_profile = path;
        b = build(&s, NULL);
        const char *opt = json_string_value(json_array_get(json_object_get(hc(b), "SecurityOpt"), 1));
        IS_STR(opt, "seccomp={\"defaultAction\":\"SCMP_ACT_ALLOW\",\"syscalls\":[]}",
               "profile passed inline");
        json_decref(b);
        fd = open(path, O_WRONLY | O_TRUNC | O_CLOEXEC);
        OK(fd >= 0 && write(fd, "{nope", 5) == 5, "corrupt the profile");
        close(fd);
        _cleanup_error_ tf_error *e = NULL;
        OK(tf_docker_create_body(&s, "r", NULL, &b, &e) == -EINVAL && e && strstr(e->msg, "sandbox.seccomp"),
           "a broken profile is refused naming sandbox.seccomp");
        unlink(path);
        e = tf_error_free(e);
        OK(tf_docker_create_body(&s, "r", NULL, &b, &e) == -ENOENT && e && strstr(e->msg, path),
           "a missing profile is refused with its path");
}

/* `seccomp: default` sends the profile the runner hands over (tfrun's pinned one), compacted; unconfined and
 * a file ignore it; no text leaves the engine's built-in profile. */
static void test_default_seccomp(void) {
        struct tf_spec s;
        spec_init(&s);
        s.sandbox.seccomp = TF_SECCOMP_DEFAULT;
        const struct tf_docker_pinned pinned = {
                .seccomp_profile =
                        "{\n\t\"defaultAction\": \"SCMP_ACT_ERRNO\",\n\t\"defaultErrnoRet\": 1\n}\n"};
        const struct tf_docker_pinned garbled = {.seccomp_profile = "{nope"};
        json_t *b = NULL;
        OK(tf_docker_create_body(&s, "r", &pinned, &b, NULL) == 0, "default: body built");
        json_t *opts = json_object_get(hc(b), "SecurityOpt");
        IS_INT((long long)json_array_size(opts), 2, "default: no-new-privileges and the profile");
        IS_STR(json_string_value(json_array_get(opts, 1)),
               "seccomp={\"defaultAction\":\"SCMP_ACT_ERRNO\",\"defaultErrnoRet\":1}",
               "default: the pinned profile passed inline, compact");
        json_decref(b);
        b = NULL;
        OK(tf_docker_create_body(&s, "r", NULL, &b, NULL) == 0,
           "default without a profile text: body built");
        IS_INT((long long)json_array_size(json_object_get(hc(b), "SecurityOpt")), 1,
               "default without a profile text: only no-new-privileges (the engine's profile)");
        json_decref(b);
        b = NULL;
        s.sandbox.seccomp = TF_SECCOMP_UNCONFINED;
        OK(tf_docker_create_body(&s, "r", &pinned, &b, NULL) == 0, "unconfined: body built");
        IS_STR(json_string_value(json_array_get(json_object_get(hc(b), "SecurityOpt"), 1)),
               "seccomp=unconfined", "unconfined: seccomp=unconfined, the pinned text unused");
        json_decref(b);
        b = NULL;
        _cleanup_error_ tf_error *e = NULL;
        s.sandbox.seccomp = TF_SECCOMP_DEFAULT;
        OK(tf_docker_create_body(&s, "r", &garbled, &b, &e) == -EINVAL && e &&
                   strstr(e->msg, "sandbox.seccomp"),
           "a default profile text that does not parse is refused");
}

/* The namespaces and system paths: IpcMode and CgroupnsMode always, UTSMode only for host; the pinned
 * masked and read-only lists as handed over, or two empty lists for unconfined; sandbox: host refused. */
static void test_walls(void) {
        static const char *const masked[] = {"/proc/kcore", "/sys/firmware", NULL};
        static const char *const ro[] = {"/proc/sys", NULL};
        const struct tf_docker_pinned pinned = {.masked_paths = masked, .readonly_paths = ro};
        struct tf_spec s;
        spec_init(&s);
        json_t *b = NULL;
        OK(tf_docker_create_body(&s, "r", &pinned, &b, NULL) == 0, "walls: default body built");
        IS_STR(json_string_value(json_object_get(hc(b), "IpcMode")), "private", "default: IpcMode private");
        IS_STR(json_string_value(json_object_get(hc(b), "CgroupnsMode")), "private",
               "default: CgroupnsMode private (also on cgroup v1)");
        OK(!json_object_get(hc(b), "UTSMode"), "default: UTSMode omitted (the container's own)");
        json_t *m = json_object_get(hc(b), "MaskedPaths");
        IS_INT((long long)json_array_size(m), 2, "default: the pinned masked paths");
        IS_STR(json_string_value(json_array_get(m, 1)), "/sys/firmware", "default: in their order");
        IS_STR(json_string_value(json_array_get(json_object_get(hc(b), "ReadonlyPaths"), 0)), "/proc/sys",
               "default: the pinned read-only paths");
        json_decref(b);
        b = NULL;
        OK(tf_docker_create_body(&s, "r", NULL, &b, NULL) == 0, "walls: body built without pinned lists");
        OK(!json_object_get(hc(b), "MaskedPaths") && !json_object_get(hc(b), "ReadonlyPaths"),
           "without pinned lists: the engine's own");
        json_decref(b);
        b = NULL;
        s.sandbox.ipc = s.sandbox.uts = s.sandbox.cgroupns = TF_NS_HOST;
        s.sandbox.system_paths = TF_SYSTEM_PATHS_UNCONFINED;
        OK(tf_docker_create_body(&s, "r", &pinned, &b, NULL) == 0, "walls: host body built");
        IS_STR(json_string_value(json_object_get(hc(b), "IpcMode")), "host", "ipc host: IpcMode host");
        IS_STR(json_string_value(json_object_get(hc(b), "UTSMode")), "host", "uts host: UTSMode host");
        IS_STR(json_string_value(json_object_get(hc(b), "CgroupnsMode")), "host", "cgroupns host");
        OK(json_is_array(json_object_get(hc(b), "MaskedPaths")) &&
                   json_array_size(json_object_get(hc(b), "MaskedPaths")) == 0 &&
                   json_is_array(json_object_get(hc(b), "ReadonlyPaths")) &&
                   json_array_size(json_object_get(hc(b), "ReadonlyPaths")) == 0,
           "system_paths unconfined: two empty lists");
        json_decref(b);
        b = NULL;
        spec_init(&s);
        s.sandbox.host = true;
        _cleanup_error_ tf_error *e = NULL;
        OK(tf_docker_create_body(&s, "r", &pinned, &b, &e) == -EOPNOTSUPP && e &&
                   strstr(e->msg, "sandbox: 'host' (no sandbox) exists only with the native backend"),
           "sandbox: host refused");
}

/* A symbolic link anywhere in a bind source is refused before create, as on the native backend: the
 * engine would follow it. */
static void test_mount_symlink(void) {
        char dir[] = "/tmp/tfrun-body-XXXXXX";
        OK(mkdtemp(dir) != NULL, "make a directory");
        _cleanup_free_ char *real = tf_asprintf("%s/real", dir), *link = tf_asprintf("%s/link", dir),
                            *via = tf_asprintf("%s/link/sub", dir), *sub = tf_asprintf("%s/real/sub", dir),
                            *file = tf_asprintf("%s/real/sub/f", dir),
                            *viafile = tf_asprintf("%s/link/sub/f", dir),
                            *dangling = tf_asprintf("%s/dangling", dir),
                            *missing = tf_asprintf("%s/missing", dir);
        OK(mkdir(real, 0755) == 0 && mkdir(sub, 0755) == 0 && symlink("real", link) == 0 &&
                   symlink("nowhere", dangling) == 0,
           "a real directory, a link to it and a dangling link");
        int fd = open(file, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
        OK(fd >= 0, "a file inside");
        if (fd >= 0)
                close(fd);

        struct tf_spec s;
        struct tf_mount m = {.target = "/data", .pos = {.line = 7, .column = 5}};
        spec_init(&s);
        s.path = "svc.yaml";
        s.mounts = &m;
        s.n_mounts = 1;
        struct {
                const char *source, *bad;
                const char *real;
        } cases[] = {
                {link, link, real}, {via, link, sub}, {viafile, link, file}, {dangling, dangling, NULL}};
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                m.source = (char *)cases[i].source;
                _cleanup_error_ tf_error *e = NULL;
                json_t *b = NULL;
                int r = tf_docker_create_body(&s, "r", NULL, &b, &e);
                IS_INT(r, -ELOOP, "symlink source %s refused with -ELOOP", cases[i].source);
                _cleanup_free_ char *want = tf_asprintf(
                        "svc.yaml:7:5: mounts[0].source: '%s' is a symbolic link; mount paths must not "
                        "contain symbolic links%s%s%s",
                        cases[i].bad, cases[i].real ? " (the real path is '" : "",
                        cases[i].real ? cases[i].real : "", cases[i].real ? "')" : "");
                IS_STR(e ? e->msg : NULL, want, "the native backend's message for %s", cases[i].source);
                OK(!b, "no body built");
        }
        /* A real path builds, and the source is passed as written. */
        m.source = file;
        json_t *b = build(&s, NULL);
        IS_STR(json_string_value(
                       json_object_get(json_array_get(json_object_get(hc(b), "Mounts"), 0), "Source")),
               file, "a source without links builds");
        json_decref(b);
        /* A missing source is the engine's to refuse (it does, at create). */
        m.source = missing;
        b = build(&s, NULL);
        OK(b != NULL, "a missing source is left to the engine");
        json_decref(b);

        unlink(file);
        rmdir(sub);
        rmdir(real);
        unlink(link);
        unlink(dangling);
        rmdir(dir);
}

static void test_refs(void) {
        static const char *const good[] = {
                "busybox",
                "tfrun-test/busybox:latest",
                "127.0.0.1:1/nope:1.0",
                "localhost:5000/a/b_c.d-e:v1.2",
                "registry.example.com/team/app",
                "debian:12",
                "a@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
                "x/y:t@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"};
        static const char *const bad[] = {
                "",      "Busybox",        "a b",    "a:",        ":tag", "a//b", "-a", "a/",
                "a:t:t", "a@sha256:short", "a:-tag", "UPPER/case"};
        for (size_t i = 0; i < ELEMENTSOF(good); i++) {
                _cleanup_error_ tf_error *e = NULL;
                OK(tf_docker_image_ref_check(good[i], &e) == 0, "valid reference '%s'%s%s", good[i],
                   e ? ": " : "", e ? e->msg : "");
        }
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                _cleanup_error_ tf_error *e = NULL;
                OK(tf_docker_image_ref_check(bad[i], &e) == -EINVAL && e &&
                           strstr(e->msg, "invalid image reference"),
                   "invalid reference '%s' refused", bad[i]);
        }
        _cleanup_error_ tf_error *e = NULL;
        tf_docker_image_ref_check("Busybox", &e);
        OK(e && strstr(e->msg, "must be lowercase"), "upper case is explained");
        char long_name[300];
        memset(long_name, 'a', sizeof(long_name) - 1);
        long_name[sizeof(long_name) - 1] = '\0';
        e = tf_error_free(e);
        OK(tf_docker_image_ref_check(long_name, &e) == -EINVAL && e && strstr(e->msg, "longer than"),
           "name over 255 characters refused");

        static const struct {
                const char *ref, *img, *tag;
        } split[] = {{"busybox", "busybox", "latest"},
                     {"127.0.0.1:1/nope:1.0", "127.0.0.1:1/nope", "1.0"},
                     {"localhost:5000/app", "localhost:5000/app", "latest"},
                     {"a@sha256:0123456789abcdef0123456789abcdef", "a",
                      "sha256:0123456789abcdef0123456789abcdef"}};
        for (size_t i = 0; i < ELEMENTSOF(split); i++) {
                _cleanup_free_ char *img = NULL, *tag = NULL;
                docker_ref_split(split[i].ref, &img, &tag);
                OK(streq(img, split[i].img) && streq(tag, split[i].tag),
                   "split '%s' -> '%s' '%s' (got '%s' '%s')", split[i].ref, split[i].img, split[i].tag, img,
                   tag);
        }
}

static void test_pull_parse(void) {
        struct tf_docker_pull_progress p;
        char *err = NULL;
        json_t *j =
                json_loads("{\"status\":\"Downloading\",\"progressDetail\":{\"current\":100,\"total\":300},"
                           "\"id\":\"abc\"}",
                           0, NULL);
        OK(docker_pull_parse(j, &p, &err) == 0 && streq(p.status, "Downloading") && streq(p.id, "abc") &&
                   p.current == 100 && p.total == 300,
           "progress line parsed");
        json_decref(j);
        j = json_loads("{\"errorDetail\":{\"message\":\"connection refused\"},\"error\":\"x\"}", 0, NULL);
        OK(docker_pull_parse(j, &p, &err) == 1 && streq(err, "connection refused"), "error line parsed");
        free(err);
        json_decref(j);
}

static void test_engine_error(void) {
        _cleanup_error_ tf_error *e = NULL;
        const char *body = "{\"message\":\"Conflict. The container name \\\"/x\\\" is already in use\"}\n";
        int r = docker_engine_error("create container", 409, body, strlen(body), &e);
        IS_INT(r, -EEXIST, "409 -> -EEXIST");
        IS_STR(e->msg,
               "create container: engine said 409: Conflict. The container name \"/x\" is already in use",
               "engine message carried");
        e = tf_error_free(e);
        r = docker_engine_error("x", 500, "plain text\n", 11, &e);
        OK(r == -EIO && streq(e->msg, "x: engine said 500: plain text"), "non-JSON body shown raw");
        int ma, mi;
        OK(docker_api_parse("1.41", &ma, &mi) == 0 && ma == 1 && mi == 41, "api version parsed");
        OK(docker_api_parse("1.x", &ma, &mi) < 0 && docker_api_parse("1.41a", &ma, &mi) < 0,
           "bad versions refused");
}

static void test_host(void) {
        _cleanup_error_ tf_error *e = NULL;
        tf_docker *d = NULL;
        OK(tf_docker_new("tcp://127.0.0.1:2375", &d, &e) == -EPROTONOSUPPORT && e &&
                   strstr(e->msg, "unix://"),
           "tcp:// refused clearly");
        e = tf_error_free(e);
        setenv("DOCKER_HOST", "ssh://me@host", 1);
        OK(tf_docker_new(NULL, &d, &e) == -EPROTONOSUPPORT && e && strstr(e->msg, "DOCKER_HOST"),
           "DOCKER_HOST ssh:// refused, naming DOCKER_HOST");
        setenv("DOCKER_HOST", "unix:///run/other.sock", 1);
        OK(tf_docker_new(NULL, &d, NULL) == 0 && streq(tf_docker_socket_path(d), "/run/other.sock"),
           "DOCKER_HOST unix:// honoured");
        d = tf_docker_free(d);
        unsetenv("DOCKER_HOST");
        OK(tf_docker_new(NULL, &d, NULL) == 0 && streq(tf_docker_socket_path(d), TF_DOCKER_DEFAULT_SOCKET),
           "default socket");
        OK(tf_docker_api_version(d) == NULL, "no API version before connect");
        tf_docker_free(d);
}

/* Frames built by hand, fed in every split, must come out in order on the right fds. */
static void frame(uint8_t **buf, size_t *len, int stream, const char *payload) {
        size_t n = strlen(payload);
        *buf = tf_realloc(*buf, *len + 8 + n);
        uint8_t *h = *buf + *len;
        h[0] = (uint8_t)stream;
        h[1] = h[2] = h[3] = 0;
        h[4] = (uint8_t)(n >> 24), h[5] = (uint8_t)(n >> 16), h[6] = (uint8_t)(n >> 8), h[7] = (uint8_t)n;
        memcpy(h + 8, payload, n);
        *len += 8 + n;
}

static char *fd_text(int fd) {
        off_t n = lseek(fd, 0, SEEK_END);
        char *s = tf_malloc0((size_t)n + 1);
        if (pread(fd, s, (size_t)n, 0) != n)
                s[0] = '\0';
        return s;
}

static void test_demux(void) {
        _cleanup_free_ uint8_t *buf = NULL;
        size_t len = 0;
        frame(&buf, &len, 1, "a\n");
        frame(&buf, &len, 2, "b\n");
        frame(&buf, &len, 1, "");
        frame(&buf, &len, 1, "c\nlonger line of output\n");
        frame(&buf, &len, 2, "e");

        bool all = true;
        /* Every chunk size from 1 byte to the whole buffer. */
        for (size_t chunk = 1; chunk <= len; chunk++) {
                _cleanup_close_ int o = memfd_create("out", MFD_CLOEXEC),
                                    er = memfd_create("err", MFD_CLOEXEC);
                struct tf_docker_demux m;
                tf_docker_demux_init(&m, o, er);
                int r = 0;
                for (size_t off = 0; off < len && r == 0; off += chunk)
                        r = tf_docker_demux_feed(&m, buf + off, off + chunk > len ? len - off : chunk, NULL);
                if (r == 0)
                        r = tf_docker_demux_end(&m, NULL);
                _cleanup_free_ char *so = fd_text(o), *se = fd_text(er);
                if (r != 0 || !streq(so, "a\nc\nlonger line of output\n") || !streq(se, "b\ne") ||
                    m.bytes[1] != strlen(so) || m.bytes[2] != strlen(se)) {
                        all = false;
                        printf("# chunk %zu: r=%d out='%s' err='%s'\n", chunk, r, so, se);
                }
        }
        OK(all, "demux correct for every split of %zu bytes", len);

        /* Interleaving across streams is kept: with both streams on one fd, order is the stream's. */
        _cleanup_close_ int one = memfd_create("one", MFD_CLOEXEC);
        struct tf_docker_demux m;
        tf_docker_demux_init(&m, one, one);
        for (size_t off = 0; off < len; off += 3)
                tf_docker_demux_feed(&m, buf + off, off + 3 > len ? len - off : 3, NULL);
        _cleanup_free_ char *all_text = fd_text(one);
        IS_STR(all_text, "a\nb\nc\nlonger line of output\ne", "frames delivered in stream order");

        _cleanup_error_ tf_error *e = NULL;
        tf_docker_demux_init(&m, -1, -1);
        OK(tf_docker_demux_feed(&m, buf, len - 1, &e) == 0 && tf_docker_demux_end(&m, &e) == -EBADMSG,
           "stream ending inside a frame is an error");
        e = tf_error_free(e);
        tf_docker_demux_init(&m, -1, -1);
        uint8_t badhdr[8] = {7, 0, 0, 0, 0, 0, 0, 1};
        OK(tf_docker_demux_feed(&m, badhdr, sizeof(badhdr), &e) == -EBADMSG && e &&
                   strstr(e->msg, "stream type"),
           "unknown stream type refused");
        e = tf_error_free(e);
        tf_docker_demux_init(&m, -1, -1);
        OK(tf_docker_demux_feed(&m, buf, 5, &e) == 0 && tf_docker_demux_end(&m, &e) == -EBADMSG,
           "stream ending inside a header is an error");
        e = tf_error_free(e);
        /* A write failure is reported, not swallowed. */
        int p[2];
        OK(pipe2(p, O_CLOEXEC) == 0, "pipe");
        close(p[0]);
        signal(SIGPIPE, SIG_IGN);
        tf_docker_demux_init(&m, p[1], p[1]);
        OK(tf_docker_demux_feed(&m, buf, len, &e) == -EPIPE && e && strstr(e->msg, "write stdout"),
           "write error reported");
        close(p[1]);
}

int main(void) {
        test_minimal();
        test_all_limits();
        test_cpu();
        test_nofile_inherited();
        test_cpu_weight_v2();
        test_refusals();
        test_sandbox();
        test_default_seccomp();
        test_walls();
        test_mount_symlink();
        test_refs();
        test_pull_parse();
        test_engine_error();
        test_host();
        test_demux();
        return tap_done();
}
