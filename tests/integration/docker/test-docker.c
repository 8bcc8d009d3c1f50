/* SPDX-License-Identifier: MIT */
/*
 * docker/ against the real dockerd that scripts/setup-docker.sh starts: negotiation, limits read back
 * from inside the container, OOM, output order and volume, exit codes, stop/kill, and error paths.
 * TFRUN_BENCH=N also times N create+start+attach+wait+inspect+remove cycles against `docker run --rm`.
 */

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/parse.h"
#include "base/strutil.h"
#include "base/timeutil.h"
#include "docker/docker.h"
#include "tests/tap.h"

#define IMAGE "tfrun-test/busybox:latest"
#define SERVICE "tfrun-itest"

static tf_docker *D;

static void spec_init(struct tf_spec *s, char **argv) {
        *s = (struct tf_spec){
                .name = SERVICE,
                .image = IMAGE,
                .argv = argv,
                .stop_signal = SIGTERM,
                .sandbox = {.no_new_privileges = true, .network = TF_NETWORK_NONE},
        };
        struct tf_limits *l = &s->limits;
        l->cpu_quota_usec = l->cpu_period_usec = l->cpu_weight = l->memory = l->memory_high = TF_UNSET;
        l->memory_swap = l->pids = l->io_weight = l->nofile = TF_UNSET;
}

static char *fd_text(int fd, size_t *ret_len) {
        off_t n = lseek(fd, 0, SEEK_END);
        char *s = tf_malloc0((size_t)n + 1);
        if (pread(fd, s, (size_t)n, 0) != n)
                s[0] = '\0';
        if (ret_len)
                *ret_len = (size_t)n;
        return s;
}

struct result {
        int status; /* from wait */
        struct tf_docker_state st;
        char *out, *err;
        size_t out_len, err_len;
};

static void result_done(struct result *r) {
        tf_docker_state_done(&r->st);
        free(r->out);
        free(r->err);
}

/* The runner's sequence: create, attach, start, drain output, wait, inspect, remove. With merge, stdout
 * and stderr share one fd, which shows the order the engine delivered them in. */
static int run(const struct tf_spec *s, bool merge, struct result *res, tf_error **err) {
        *res = (struct result){.status = -1};
        json_t *body = NULL;
        int r = tf_docker_create_body(s, "run-itest", NULL, &body, err);
        if (r < 0)
                return r;
        _cleanup_free_ char *id = NULL;
        r = tf_docker_container_create(D, NULL, body, &id, NULL, err);
        json_decref(body);
        if (r < 0)
                return r;
        _cleanup_close_ int o = memfd_create("out", MFD_CLOEXEC);
        _cleanup_close_ int e = merge ? -1 : memfd_create("err", MFD_CLOEXEC);
        _cleanup_(tf_docker_attach_freep) tf_docker_attach *a = NULL;
        r = tf_docker_attach_begin(D, id, o, merge ? o : e, &a, err);
        if (r >= 0)
                r = tf_docker_container_start(D, id, err);
        if (r >= 0)
                r = tf_docker_attach_finish(a, 120 * TF_USEC_PER_SEC, err);
        if (r >= 0)
                r = tf_docker_container_wait(D, id, 60 * TF_USEC_PER_SEC, &res->status, err);
        if (r >= 0)
                r = tf_docker_container_inspect(D, id, &res->st, err);
        res->out = fd_text(o, &res->out_len);
        res->err = merge ? tf_strdup("") : fd_text(e, &res->err_len);
        int r2 = tf_docker_container_remove(D, id, true, r < 0 ? NULL : err);
        return r < 0 ? r : r2;
}

static void test_connect(void) {
        _cleanup_error_ tf_error *e = NULL;
        int r = tf_docker_connect(D, &e);
        OK(r == 0, "connect and negotiate%s%s", e ? ": " : "", e ? e->msg : "");
        IS_STR(tf_docker_api_version(D), "1.41", "API 1.41 with Docker 20.10 (min of engine's and ours)");
        OK(tf_docker_engine_version(D) && *tf_docker_engine_version(D), "engine version known: %s",
           tf_docker_engine_version(D));
        OK(tf_docker_image_inspect(D, IMAGE, NULL, &e) == 0, "test image present");
}

static void test_limits(void) {
        char *argv[] = {"cat",
                        "/sys/fs/cgroup/memory/memory.limit_in_bytes",
                        "/sys/fs/cgroup/pids/pids.max",
                        "/sys/fs/cgroup/cpu/cpu.cfs_quota_us",
                        "/sys/fs/cgroup/cpu/cpu.cfs_period_us",
                        "/sys/fs/cgroup/cpu/cpu.shares",
                        NULL};
        struct tf_spec s;
        spec_init(&s, argv);
        s.limits.memory = 32 << 20;
        s.limits.pids = 16;
        s.limits.cpu_quota_usec = 50000; /* cpus: 0.5 -> NanoCpus 0.5e9 */
        s.limits.cpu_period_usec = TF_CPU_PERIOD_USEC;
        s.limits.cpu_weight = 50;
        struct result res;
        _cleanup_error_ tf_error *e = NULL;
        int r = run(&s, false, &res, &e);
        OK(r == 0, "limits container ran%s%s", e ? ": " : "", e ? e->msg : "");
        IS_STR(res.out, "33554432\n16\n50000\n100000\n512\n",
               "memory 32M, pids 16, cpus 0.5, cpu_weight 50 read back inside the container");
        IS_INT(res.status, 0, "exit 0");
        result_done(&res);
}

static void test_oom(void) {
        /* dd's 200M block buffer is written by read(2) from /dev/zero: every page is touched. */
        char *argv[] = {"sh", "-c",
                        "dd if=/dev/zero bs=200M count=1 of=/dev/null 2>/dev/null; "
                        "cat /sys/fs/cgroup/memory/memory.max_usage_in_bytes",
                        NULL};
        struct tf_spec s;
        spec_init(&s, argv);
        s.limits.memory = 512 << 20;
        struct result res;
        _cleanup_error_ tf_error *e = NULL;
        int r = run(&s, false, &res, &e);
        unsigned long long peak = strtoull(res.out ? res.out : "0", NULL, 10);
        OK(r == 0 && res.status == 0 && peak >= 200ULL << 20,
           "the workload really holds 200M (peak %llu bytes under a 512M limit)", peak);
        result_done(&res);

        char *argv2[] = {"dd", "if=/dev/zero", "bs=200M", "count=1", "of=/dev/null", NULL};
        spec_init(&s, argv2);
        s.limits.memory = 32 << 20;
        s.limits.memory_swap = 0; /* no escape into swap */
        e = tf_error_free(e);
        r = run(&s, false, &res, &e);
        OK(r == 0, "oom container ran%s%s", e ? ": " : "", e ? e->msg : "");
        OK(res.st.oom_killed, "200M under Memory=32M: State.OOMKilled true");
        IS_INT(res.st.exit_code, 137, "exit code 137 (SIGKILL)");
        IS_STR(res.st.status, "exited", "State.Status exited");
        result_done(&res);
}

static void test_output(void) {
        /* The engine reads a container's stdout and stderr from two FIFOs in two goroutines, so writes
         * to different streams microseconds apart can reach the attach stream in either order (the docker
         * CLI shows the same). tfrun keeps the order of the frames it receives (unit-tested); here, writes
         * a little apart must come out exactly interleaved, and back-to-back ones in order per stream. */
        char *spaced[] = {"sh", "-c", "echo a; sleep 0.1; echo b >&2; sleep 0.1; echo c", NULL};
        struct tf_spec s;
        spec_init(&s, spaced);
        struct result res;
        _cleanup_error_ tf_error *e = NULL;
        int ok = 0, n = 5;
        for (int i = 0; i < n; i++) {
                e = tf_error_free(e);
                if (run(&s, true, &res, &e) == 0 && streq(res.out, "a\nb\nc\n"))
                        ok++;
                else
                        printf("# run %d: '%s' %s\n", i, res.out, e ? e->msg : "");
                result_done(&res);
        }
        IS_INT(ok, n, "stdout/stderr interleaving preserved (a, b on stderr, c) in every run");

        char *tight[] = {"sh", "-c", "echo a; echo b >&2; echo c", NULL};
        spec_init(&s, tight);
        int exact = 0, per_stream = 0;
        for (int i = 0; i < n; i++) {
                e = tf_error_free(e);
                if (run(&s, false, &res, &e) == 0 && streq(res.out, "a\nc\n") && streq(res.err, "b\n"))
                        per_stream++;
                result_done(&res);
                if (run(&s, true, &res, NULL) == 0 && streq(res.out, "a\nb\nc\n"))
                        exact++;
                result_done(&res);
        }
        IS_INT(per_stream, n, "back-to-back writes: stdout and stderr complete and in order per stream");
        printf("# back-to-back writes: exact cross-stream order in %d of %d runs (engine-side race)\n",
               exact, n);

        char *big[] = {"sh", "-c", "head -c 10485760 /dev/zero; head -c 100000 /dev/zero >&2; echo end",
                       NULL};
        spec_init(&s, big);
        e = tf_error_free(e);
        int r = run(&s, false, &res, &e);
        OK(r == 0, "10 MiB container ran%s%s", e ? ": " : "", e ? e->msg : "");
        IS_INT(res.out_len, 10485760 + 4, "10 MiB of stdout arrive complete");
        IS_INT(res.err_len, 100000, "stderr complete");
        OK(res.out_len > 4 && memcmp(res.out + res.out_len - 4, "end\n", 4) == 0, "last line last");
        result_done(&res);
}

static void test_exit_codes(void) {
        static const int codes[] = {0, 1, 3, 42, 255};
        for (size_t i = 0; i < ELEMENTSOF(codes); i++) {
                _cleanup_free_ char *cmd = tf_asprintf("exit %d", codes[i]);
                char *argv[] = {"sh", "-c", cmd, NULL};
                struct tf_spec s;
                spec_init(&s, argv);
                struct result res;
                _cleanup_error_ tf_error *e = NULL;
                int r = run(&s, false, &res, &e);
                OK(r == 0 && res.status == codes[i] && res.st.exit_code == codes[i] && !res.st.oom_killed,
                   "exit %d propagates through wait and inspect", codes[i]);
                result_done(&res);
        }
        char *argv[] = {"/bin/not-there", NULL};
        struct tf_spec s;
        spec_init(&s, argv);
        json_t *body = NULL;
        _cleanup_error_ tf_error *e = NULL;
        _cleanup_free_ char *id = NULL;
        tf_docker_create_body(&s, "r", NULL, &body, NULL);
        int r = tf_docker_container_create(D, NULL, body, &id, NULL, &e);
        json_decref(body);
        if (r == 0)
                r = tf_docker_container_start(D, id, &e);
        OK(r < 0 && e && strstr(e->msg, "start container: engine said") && strstr(e->msg, "not-there"),
           "a missing executable fails start with the engine's message: %s", e ? e->msg : "");
        if (id)
                tf_docker_container_remove(D, id, true, NULL);
}

static int start_sleeper(const char *script, char **ret_id, tf_error **err) {
        char *argv[] = {"sh", "-c", (char *)script, NULL};
        struct tf_spec s;
        spec_init(&s, argv);
        json_t *body = NULL;
        int r = tf_docker_create_body(&s, "r", NULL, &body, err);
        if (r < 0)
                return r;
        r = tf_docker_container_create(D, NULL, body, ret_id, NULL, err);
        json_decref(body);
        if (r < 0)
                return r;
        return tf_docker_container_start(D, *ret_id, err);
}

static void test_stop(void) {
        /* A shell as PID 1 that traps TERM: the signal arrives and the grace is not needed. */
        _cleanup_error_ tf_error *e = NULL;
        _cleanup_free_ char *id = NULL;
        int r = start_sleeper("trap 'exit 7' TERM; while :; do sleep 0.1; done", &id, &e);
        OK(r == 0, "trapping sleeper started%s%s", e ? ": " : "", e ? e->msg : "");
        usleep(300 * 1000); /* let the shell install its trap */
        uint64_t t0 = tf_now(CLOCK_MONOTONIC);
        r = tf_docker_container_stop(D, id, SIGTERM, 10 * TF_USEC_PER_SEC, &e);
        uint64_t took = tf_now(CLOCK_MONOTONIC) - t0;
        struct tf_docker_state st = {};
        if (r == 0)
                r = tf_docker_container_inspect(D, id, &st, &e);
        OK(r == 0 && st.exit_code == 7 && !st.running, "SIGTERM delivered: exit 7 (took %llu ms)",
           (unsigned long long)(took / 1000));
        OK(took < 9 * TF_USEC_PER_SEC, "stop did not wait out the 10 s grace");
        tf_docker_state_done(&st);
        tf_docker_container_remove(D, id, true, NULL);
        free(id);
        id = NULL;

        /* PID 1 ignores TERM (no handler, and the kernel does not apply defaults to init): SIGKILL after
         * grace. */
        r = start_sleeper("while :; do sleep 0.1; done", &id, &e);
        OK(r == 0, "ignoring sleeper started");
        t0 = tf_now(CLOCK_MONOTONIC);
        r = tf_docker_container_stop(D, id, SIGTERM, 1 * TF_USEC_PER_SEC, &e);
        took = tf_now(CLOCK_MONOTONIC) - t0;
        if (r == 0)
                r = tf_docker_container_inspect(D, id, &st, &e);
        OK(r == 0 && st.exit_code == 137 && !st.running, "TERM ignored, SIGKILL after the grace: exit 137");
        OK(took >= 900 * 1000, "the grace was given (%llu ms)", (unsigned long long)(took / 1000));
        tf_docker_state_done(&st);
        tf_docker_container_remove(D, id, true, NULL);
        free(id);
        id = NULL;

        r = start_sleeper("sleep 100", &id, &e);
        int status = -1;
        if (r == 0)
                r = tf_docker_container_kill(D, id, SIGKILL, &e);
        if (r == 0)
                r = tf_docker_container_wait(D, id, 30 * TF_USEC_PER_SEC, &status, &e);
        OK(r == 0 && status == 137, "kill SIGKILL: wait says 137");
        OK(tf_docker_container_kill(D, id, SIGTERM, &e) == 0, "killing a stopped container is not an error");
        tf_docker_container_remove(D, id, true, NULL);
}

static void test_errors(void) {
        _cleanup_error_ tf_error *e = NULL;
        uint64_t t0 = tf_now(CLOCK_MONOTONIC);
        int r = tf_docker_image_pull(D, "127.0.0.1:1/nope:1.0", NULL, NULL, 60 * TF_USEC_PER_SEC, &e);
        OK(r < 0 && e && strstr(e->msg, "pull image '127.0.0.1:1/nope:1.0'") &&
                   strstr(e->msg, "connection refused"),
           "pull from a refusing registry fails clearly: %s", e ? e->msg : "");
        OK(tf_now(CLOCK_MONOTONIC) - t0 < 30 * TF_USEC_PER_SEC, "and quickly");
        e = tf_error_free(e);
        r = tf_docker_image_pull(D, "No/Such Image", NULL, NULL, 0, &e);
        OK(r == -EINVAL && e && strstr(e->msg, "invalid image reference"),
           "invalid reference refused before any request");

        e = tf_error_free(e);
        r = tf_docker_image_inspect(D, "tfrun-test/does-not-exist:1", NULL, &e);
        OK(r == -ENOENT && e && strstr(e->msg, "No such image"), "inspect of an unknown image: -ENOENT: %s",
           e ? e->msg : "");

        char *argv[] = {"true", NULL};
        struct tf_spec s;
        spec_init(&s, argv);
        s.image = "tfrun-test/does-not-exist:1";
        struct result res;
        e = tf_error_free(e);
        r = run(&s, false, &res, &e);
        OK(r == -ENOENT && e &&
                   strstr(e->msg, "create container: engine said 404: No such image: "
                                  "tfrun-test/does-not-exist:1"),
           "create from an unknown image: %s", e ? e->msg : "");
        result_done(&res);

        spec_init(&s, argv);
        s.limits.cpuset = "99";
        e = tf_error_free(e);
        r = run(&s, false, &res, &e);
        OK(r < 0 && e && strstr(e->msg, "engine said") && strstr(e->msg, "99"),
           "CpusetCpus 99 rejected with the engine's message: %s", e ? e->msg : "");
        result_done(&res);

        /* Name conflict: the engine's own words, with the call. */
        spec_init(&s, argv);
        json_t *body = NULL;
        tf_docker_create_body(&s, "r", NULL, &body, NULL);
        _cleanup_free_ char *id1 = NULL, *id2 = NULL;
        e = tf_error_free(e);
        r = tf_docker_container_create(D, "tfrun-itest-conflict", body, &id1, NULL, &e);
        OK(r == 0, "named container created");
        r = tf_docker_container_create(D, "tfrun-itest-conflict", body, &id2, NULL, &e);
        OK(r == -EEXIST && e &&
                   tf_startswith(e->msg, "create container: engine said 409: Conflict. The container name "
                                         "\"/tfrun-itest-conflict\" is already in use"),
           "name conflict: %s", e ? e->msg : "");
        json_decref(body);

        /* Listing by label finds it (the crashed-run cleanup path). */
        _cleanup_strv_free_ char **ids = NULL;
        e = tf_error_free(e);
        r = tf_docker_container_list(D, "tfrun.service=" SERVICE, &ids, &e);
        OK(r == 0 && tf_strv_contains(ids, id1), "list by label finds the container");
        OK(tf_docker_container_remove(D, id1, true, NULL) == 0, "remove");
        e = tf_error_free(e);
        OK(tf_docker_container_remove(D, id1, true, &e) == -ENOENT && e &&
                   strstr(e->msg, "remove container"),
           "removing it again: -ENOENT");
        e = tf_error_free(e);
        struct tf_docker_state st;
        OK(tf_docker_container_inspect(D, "tfrun-no-such-container", &st, &e) == -ENOENT && e &&
                   strstr(e->msg, "No such container"),
           "inspect unknown container: %s", e ? e->msg : "");
        e = tf_error_free(e);
        tf_docker_attach *a = NULL;
        OK(tf_docker_attach_begin(D, "tfrun-no-such-container", -1, -1, &a, &e) == -ENOENT && e &&
                   strstr(e->msg, "attach to container: engine said 404"),
           "attach to unknown container: %s", e ? e->msg : "");

        /* A socket that does not exist. */
        _cleanup_docker_ tf_docker *bad = NULL;
        e = tf_error_free(e);
        OK(tf_docker_new("unix:///tmp/tfrun-no-such-dir/docker.sock", &bad, &e) == 0,
           "client for a bad path");
        r = tf_docker_connect(bad, &e);
        OK(r == -ENOENT && e && strstr(e->msg, "/tmp/tfrun-no-such-dir/docker.sock") &&
                   strstr(e->msg, "No such file or directory"),
           "missing socket: %s", e ? e->msg : "");
        e = tf_error_free(e);
        r = tf_docker_container_start(bad, "x", &e);
        OK(r == -ENOENT && e && tf_startswith(e->msg, "start container: "),
           "calls say which call failed: %s", e ? e->msg : "");
}

static int cmp_u64(const void *a, const void *b) {
        uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
        return x < y ? -1 : x > y;
}

static void bench(int n) {
        char *argv[] = {"true", NULL};
        struct tf_spec s;
        spec_init(&s, argv);
        uint64_t *api = calloc((size_t)n, sizeof(uint64_t)), *cli = calloc((size_t)n, sizeof(uint64_t));
        for (int i = 0; i < n; i++) {
                struct result res;
                uint64_t t0 = tf_now(CLOCK_MONOTONIC);
                run(&s, false, &res, NULL);
                api[i] = tf_now(CLOCK_MONOTONIC) - t0;
                result_done(&res);
                t0 = tf_now(CLOCK_MONOTONIC);
                if (system("/usr/bin/docker run --rm --network none " IMAGE " true") != 0)
                        printf("# docker run failed\n");
                cli[i] = tf_now(CLOCK_MONOTONIC) - t0;
        }
        qsort(api, (size_t)n, sizeof(uint64_t), cmp_u64);
        qsort(cli, (size_t)n, sizeof(uint64_t), cmp_u64);
        printf("# bench (%d runs of `true`): tf_docker cycle median %.1f ms (min %.1f, max %.1f); "
               "docker run --rm median %.1f ms (min %.1f, max %.1f)\n",
               n, api[n / 2] / 1000.0, api[0] / 1000.0, api[n - 1] / 1000.0, cli[n / 2] / 1000.0,
               cli[0] / 1000.0, cli[n - 1] / 1000.0);
        free(api);
        free(cli);
}

int main(void) {
        const char *src = getenv("SRCDIR");
        _cleanup_free_ char *setup = tf_asprintf("bash '%s/scripts/setup-docker.sh' >&2", src ? src : ".");
        int rc = system(setup);
        if (rc != 0) {
                tap_skip("scripts/setup-docker.sh could not start dockerd with the test image (see its "
                         "message)");
                return tap_done();
        }
        _cleanup_error_ tf_error *e = NULL;
        unsetenv("DOCKER_HOST");
        if (tf_docker_new(NULL, &D, &e) < 0) {
                OK(0, "client: %s", e->msg);
                return tap_done();
        }
        test_connect();
        test_limits();
        test_oom();
        test_output();
        test_exit_codes();
        test_stop();
        test_errors();

        const char *b = getenv("TFRUN_BENCH");
        if (b && atoi(b) > 0)
                bench(atoi(b));

        /* Nothing left behind by any of the above. */
        _cleanup_strv_free_ char **left = NULL;
        int r = tf_docker_container_list(D, "tfrun.service", &left, &e);
        OK(r == 0 && left && !left[0], "no container with label tfrun.service remains (%zu)",
           tf_strv_length(left));
        for (size_t i = 0; left && left[i]; i++)
                tf_docker_container_remove(D, left[i], true, NULL);
        tf_docker_free(D);
        return tap_done();
}
