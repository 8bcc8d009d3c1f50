/* SPDX-License-Identifier: MIT */
/*
 * spec/ unit tests.
 *   test-spec --good DIR   good specs (DIR = tests/fixtures/good) and in-memory specs parse to the right
 *                          normalised values; file-level errors.
 *   test-spec --bad DIR    every DIR/NAME.yaml fails with -EINVAL and exactly the message in DIR/NAME.err.
 */
#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/error.h"
#include "base/parse.h"
#include "base/strutil.h"
#include "spec/caps.h"
#include "spec/limits.h"
#include "spec/spec.h"
#include "spec/spec-internal.h"
#include "tests/tap.h"

#define SEC TF_USEC_PER_SEC
#define MIB (UINT64_C(1) << 20)

static const char *good_dir;

/* A fixed environment, so that interpolation does not depend on the machine. */
static char *const fixed_env[] = {
        "TF_TEST_HOME=/home/tester",
        "TF_TEST_EMPTY=",
        "TF_TEST_SET=yes",
        NULL,
};

static char *good_path(const char *name) {
        return tf_asprintf("%s/%s", good_dir, name);
}

/* Loads yaml as if it were the file `name` in the good fixtures directory. */
static struct tf_spec *load_buf_as(const char *name, const char *yaml) {
        _cleanup_free_ char *path = good_path(name);
        _cleanup_error_ tf_error *err = NULL;
        struct tf_spec *s = NULL;
        static unsigned n;
        int r = tf_spec_load_buffer(path, yaml, strlen(yaml), fixed_env, &s, &err);
        if (!OK(r == 0 && s, "inline spec %u loads", ++n))
                printf("#   error: %s\n", err ? err->msg : "(none)");
        return s;
}

static struct tf_spec *load_buf(const char *yaml) {
        return load_buf_as("inline.yaml", yaml);
}

/* Loads yaml expecting -EINVAL; returns the message without "FILE:" (path-independent). */
static char *load_err(const char *yaml) {
        _cleanup_error_ tf_error *err = NULL;
        struct tf_spec *s = NULL;
        int r = tf_spec_load_buffer("t.yaml", yaml, strlen(yaml), fixed_env, &s, &err);
        static unsigned n;
        IS_INT(r, -EINVAL, "bad inline spec %u refused", ++n);
        OK(!s, "no spec on failure");
        if (s)
                tf_spec_free(s);
        if (!err || !err->msg)
                return tf_strdup("(no message)");
        return tf_strdup(tf_startswith(err->msg, "t.yaml:") ? err->msg + 7 : err->msg);
}

#define IS_POS(p, l, c, what)                                                                               \
        do {                                                                                                \
                IS_INT((p).line, l, "%s line", what);                                                       \
                IS_INT((p).column, c, "%s column", what);                                                   \
        } while (0)

static void test_full(void) {
        _cleanup_free_ char *path = good_path("full.yaml");
        _cleanup_spec_ struct tf_spec *s = NULL;
        _cleanup_error_ tf_error *err = NULL;

        int r = tf_spec_load(path, fixed_env, &s, &err);
        IS_INT(r, 0, "full.yaml loads");
        if (r < 0) {
                printf("#   error: %s\n", err->msg);
                return;
        }
        IS_STR(s->path, path, "path as given");
        IS_STR(s->dir, good_dir, "dir is the file's directory");
        IS_STR(s->name, "nightly-report", "name");
        IS_STR(s->description, "Build the nightly report", "description");
        IS_INT(tf_strv_length(s->argv), 4, "argv length");
        IS_STR(s->argv[0], "python3", "argv[0]");
        IS_STR(s->argv[3], "7", "a number in a command list stays as written");
        IS_STR(s->image, "python:3.12-slim", "image");
        IS_INT(s->backend, TF_BACKEND_AUTO, "backend as written");
        IS_INT(s->resolved_backend, TF_BACKEND_DOCKER, "image + auto resolves to docker");
        IS_STR(s->working_dir, "/srv/report", "working_dir");

        /* env_file entries first (with env: overriding SHARED in place), then env: only names. */
        static const char *want_env[] = {
                "FILE_ONLY=one",
                "SHARED=from-env",
                "QUOTED=hello world",
                "SINGLE=a ${NOT_INTERPOLATED}",
                "TRAILING=value",
                "LOG_LEVEL=info",
                "HOME_DIR=/home/tester/reports",
                "REGION=eu-west",
                "PRICE=$5 and $ 3",
                "RATIO=1.50",
                "ENABLED=true",
        };
        IS_INT(tf_strv_length(s->env), ELEMENTSOF(want_env), "env: one entry per name");
        for (size_t i = 0; i < ELEMENTSOF(want_env) && i < tf_strv_length(s->env); i++)
                IS_STR(s->env[i], want_env[i], "env[%zu]", i);
        _cleanup_free_ char *envf = good_path("full.env");
        IS_INT(tf_strv_length(s->env_files), 1, "one env file");
        IS_STR(s->env_files[0], envf, "env_file resolved against the spec's directory");

        IS_STR(s->user, "1000:1000", "user as written");
        IS_INT(s->uid, 1000, "uid");
        IS_INT(s->gid, 1000, "gid");

        const struct tf_limits *l = &s->limits;
        IS_INT(l->cpu_quota_usec, 150000, "cpus 1.5 -> quota");
        IS_INT(l->cpu_period_usec, TF_CPU_PERIOD_USEC, "cpu period");
        IS_INT(l->cpu_weight, 100, "cpu_weight");
        IS_STR(l->cpuset, "0-1,3", "cpuset");
        IS_INT(l->memory, 512 * MIB, "memory");
        IS_INT(l->memory_high, 400 * MIB, "memory_high");
        IS_INT(l->memory_swap, 0, "memory_swap 0 is a value, not unset");
        IS_INT(l->pids, 64, "pids");
        IS_INT(l->io_weight, 100, "io_weight");
        IS_INT(l->n_io, 1, "one io entry");
        if (l->n_io == 1) {
                IS_STR(l->io[0].device, "/dev/vda", "io device");
                IS_INT(l->io[0].read_bps, 10 * MIB, "read_bps");
                IS_INT(l->io[0].write_bps, 5 * MIB, "write_bps");
                IS_INT(l->io[0].read_iops, 500, "read_iops");
                IS_INT(l->io[0].write_iops, 400, "write_iops");
                IS_POS(l->io[0].pos, 27, 8, "io[0] position");
        }
        IS_INT(l->nofile, 1024, "nofile");
        IS_POS(l->pos_cpus, 19, 3, "limits.cpus key position");
        IS_POS(l->pos_memory, 22, 3, "limits.memory key position");
        IS_POS(l->pos_nofile, 28, 3, "limits.nofile key position");
        IS_POS(l->pos_io, 27, 3, "limits.io key position");

        IS_INT(s->timeout_usec, 30 * 60 * SEC, "timeout");
        IS_INT(s->stop_signal, SIGINT, "stop.signal");
        IS_INT(s->stop_grace_usec, 90 * SEC, "stop.grace '1min 30s'");
        IS_INT(s->restart.policy, TF_RESTART_ON_FAILURE, "restart.policy");
        IS_INT(s->restart.max_retries, 3, "max_retries");
        IS_INT(s->restart.backoff_initial_usec, 2 * SEC, "backoff.initial");
        IS_INT(s->restart.backoff_max_usec, 600 * SEC, "backoff.max");
        OK(!s->restart.jitter, "backoff.jitter false");

        const struct tf_schedule *sc = &s->schedule;
        OK(sc->present, "schedule present");
        IS_POS(sc->pos, 32, 1, "schedule key position");
        IS_INT(sc->n_calendar, 2, "two calendar expressions");
        if (sc->n_calendar == 2) {
                IS_STR(sc->calendar[0].expr, "Mon..Fri 09:00 Europe/Berlin", "calendar[0]");
                IS_POS(sc->calendar[0].pos, 33, 14, "calendar[0] value position (the quote)");
                IS_STR(sc->calendar[1].expr, "daily", "calendar[1]");
                IS_POS(sc->calendar[1].pos, 33, 46, "calendar[1] value position");
        }
        IS_STR(sc->cron.expr, "0 * * * *", "cron");
        IS_POS(sc->cron.pos, 34, 9, "cron value position");
        IS_INT(sc->every_usec, 30 * 60 * SEC, "every");
        OK(sc->persistent, "persistent");
        IS_INT(sc->randomized_delay_usec, 5 * 60 * SEC, "randomized_delay");
        IS_INT(sc->overlap, TF_OVERLAP_QUEUE, "overlap");

        const struct tf_sandbox *sb = &s->sandbox;
        OK(s->sandbox_present, "sandbox present");
        IS_INT(sb->seccomp, TF_SECCOMP_PROFILE, "seccomp profile");
        _cleanup_free_ char *prof = good_path("profiles/seccomp.json");
        IS_STR(sb->seccomp_profile, prof, "seccomp profile resolved");
        OK(!sb->no_new_privileges, "no_new_privileges false");
        IS_INT(tf_strv_length(sb->cap_drop), 1, "cap_drop length");
        IS_STR(sb->cap_drop[0], "ALL", "cap_drop ALL");
        IS_INT(tf_strv_length(sb->cap_add), 2, "cap_add length");
        IS_STR(sb->cap_add[0], "NET_BIND_SERVICE", "cap_add normalised (prefix, case)");
        IS_STR(sb->cap_add[1], "CHOWN", "cap_add normalised (case)");
        OK(sb->read_only_root, "read_only_root");
        IS_INT(sb->network, TF_NETWORK_NAMED, "named network");
        IS_STR(sb->network_name, "backend-net", "network name");
        OK(sb->private_tmp, "private_tmp");
        IS_POS(sb->pos_seccomp, 40, 3, "sandbox.seccomp key position");
        IS_POS(sb->pos_network, 45, 3, "sandbox.network key position");

        IS_INT(s->n_mounts, 2, "two mounts");
        if (s->n_mounts == 2) {
                _cleanup_free_ char *data = good_path("data");
                IS_STR(s->mounts[0].source, data, "mount source resolved against the spec's directory");
                IS_STR(s->mounts[0].target, "/data", "mount target");
                OK(s->mounts[0].read_only, "mount read_only");
                IS_POS(s->mounts[0].pos, 48, 5, "mounts[0] position");
                IS_STR(s->mounts[1].source, "/var/log/app", "absolute source normalised");
                IS_STR(s->mounts[1].target, "/logs", "target normalised");
                OK(!s->mounts[1].read_only, "read_only defaults to false");
        }
        IS_POS(s->pos_image, 5, 1, "image key position");
        IS_POS(s->pos_backend, 6, 1, "backend key position");
        IS_POS(s->pos_command, 4, 1, "command key position");
        IS_POS(s->pos_user, 17, 1, "user key position");
        IS_POS(s->pos_working_dir, 7, 1, "working_dir key position");
        IS_POS(s->pos_mounts, 47, 1, "mounts key position");
        IS_POS(s->pos_sandbox, 39, 1, "sandbox key position");

        _cleanup_free_ char *w = tf_spec_where(s, l->pos_memory);
        _cleanup_free_ char *want = tf_asprintf("%s:22:3", path);
        IS_STR(w, want, "tf_spec_where");
        _cleanup_free_ char *w0 = tf_spec_where(s, (struct tf_pos){0, 0});
        IS_STR(w0, path, "tf_spec_where without a position");
}

static void test_minimal(void) {
        _cleanup_free_ char *path = good_path("minimal.yaml");
        _cleanup_spec_ struct tf_spec *s = NULL;
        _cleanup_error_ tf_error *err = NULL;
        int r = tf_spec_load(path, fixed_env, &s, &err);
        IS_INT(r, 0, "minimal.yaml loads");
        if (r < 0) {
                printf("#   error: %s\n", err->msg);
                return;
        }
        IS_STR(s->name, "minimal", "name defaults to the basename");
        IS_INT(tf_strv_length(s->argv), 4, "string command split like a shell");
        IS_STR(s->argv[1], "hello world", "double quotes");
        IS_STR(s->argv[2], "a b", "single quotes");
        IS_STR(s->argv[3], "c d", "backslash");
        OK(!s->image && !s->description && !s->working_dir && !s->user, "absent strings are NULL");
        IS_INT(s->backend, TF_BACKEND_AUTO, "backend default auto");
        IS_INT(s->resolved_backend, TF_BACKEND_NATIVE, "no image resolves to native");
        OK(s->env && !s->env[0], "env is an empty vector");
        OK(s->env_files && !s->env_files[0], "env_files is an empty vector");
        IS_INT(s->uid, (uid_t)-1, "uid unset");
        IS_INT(s->gid, (gid_t)-1, "gid unset");
        const struct tf_limits *l = &s->limits;
        OK(l->cpu_quota_usec == TF_UNSET && l->cpu_period_usec == TF_UNSET && l->cpu_weight == TF_UNSET &&
                   l->memory == TF_UNSET && l->memory_high == TF_UNSET && l->memory_swap == TF_UNSET &&
                   l->pids == TF_UNSET && l->io_weight == TF_UNSET && l->nofile == TF_UNSET && !l->cpuset &&
                   l->n_io == 0 && l->pos_memory.line == 0,
           "limits default to unset");
        IS_INT(s->timeout_usec, TF_UNSET, "no timeout");
        IS_INT(s->stop_signal, SIGTERM, "stop signal default");
        IS_INT(s->stop_grace_usec, 10 * SEC, "grace default");
        IS_INT(s->restart.policy, TF_RESTART_NO, "restart default no");
        IS_INT(s->restart.max_retries, TF_UNSET, "max_retries unlimited");
        IS_INT(s->restart.backoff_initial_usec, 1 * SEC, "backoff.initial default");
        IS_INT(s->restart.backoff_max_usec, 300 * SEC, "backoff.max default");
        OK(s->restart.jitter, "jitter default true");
        OK(!s->schedule.present && s->schedule.n_calendar == 0 && !s->schedule.cron.expr &&
                   s->schedule.every_usec == TF_UNSET,
           "no schedule");
        OK(!s->sandbox_present, "no sandbox");
        IS_INT(s->sandbox.seccomp, TF_SECCOMP_DEFAULT, "seccomp default");
        OK(s->sandbox.no_new_privileges, "no_new_privileges default true");
        IS_INT(s->sandbox.network, TF_NETWORK_UNSET, "network unset");
        IS_INT(s->sandbox.pid, TF_PID_UNSET, "pid unset");
        OK(s->sandbox.cap_drop && !s->sandbox.cap_drop[0], "cap_drop empty");
        IS_INT(s->n_mounts, 0, "no mounts");
        IS_POS(s->pos_command, 1, 1, "command position");
        IS_POS(s->pos_image, 0, 0, "absent key has no position");
}

static void test_image_only(void) {
        _cleanup_free_ char *path = good_path("image-only.yaml");
        _cleanup_spec_ struct tf_spec *s = NULL;
        _cleanup_error_ tf_error *err = NULL;
        int r = tf_spec_load(path, fixed_env, &s, &err);
        IS_INT(r, 0, "image-only.yaml loads");
        if (r < 0) {
                printf("#   error: %s\n", err->msg);
                return;
        }
        OK(!s->argv, "argv NULL: the image's own command");
        IS_INT(s->resolved_backend, TF_BACKEND_DOCKER, "docker");
        IS_INT(s->limits.pids, TF_LIMIT_MAX, "pids: max");
        IS_INT(s->limits.memory, 64 * MIB, "memory");
}

static void test_scheduled(void) {
        _cleanup_free_ char *path = good_path("scheduled.yml");
        _cleanup_spec_ struct tf_spec *s = NULL;
        _cleanup_error_ tf_error *err = NULL;
        int r = tf_spec_load(path, fixed_env, &s, &err);
        IS_INT(r, 0, "scheduled.yml loads");
        if (r < 0) {
                printf("#   error: %s\n", err->msg);
                return;
        }
        IS_STR(s->name, "scheduled", ".yml stripped from the default name");
        IS_INT(s->backend, TF_BACKEND_NATIVE, "backend native");
        IS_INT(s->resolved_backend, TF_BACKEND_NATIVE, "resolved native");
        IS_INT(s->restart.policy, TF_RESTART_ALWAYS, "restart always");
        IS_INT(s->schedule.n_calendar, 1, "calendar as a string");
        IS_STR(s->schedule.calendar[0].expr, "hourly", "calendar value");
        IS_POS(s->schedule.calendar[0].pos, 6, 13, "calendar position");
        IS_INT(s->schedule.overlap, TF_OVERLAP_REPLACE, "overlap replace");
        IS_INT(s->schedule.every_usec, TF_UNSET, "no every");
        IS_INT(s->sandbox.seccomp, TF_SECCOMP_UNCONFINED, "seccomp unconfined");
        OK(!s->sandbox.seccomp_profile, "no profile");
        IS_INT(s->sandbox.network, TF_NETWORK_NONE, "network none");
}

static void test_values(void) {
        struct tf_spec *s;

        if ((s = load_buf("command: [a]\nlimits: {cpus: 0.01, pids: \"64\", memory: max, memory_high: 1.5G, "
                          "memory_swap: infinity, cpuset: 7, nofile: '2048'}\n"))) {
                IS_INT(s->limits.cpu_quota_usec, 1000, "cpus 0.01 -> 1000us");
                IS_INT(s->limits.pids, 64, "quoted number accepted");
                IS_INT(s->limits.memory, TF_LIMIT_MAX, "memory max");
                IS_INT(s->limits.memory_high, 3 * (UINT64_C(1) << 29), "fractional size");
                IS_INT(s->limits.memory_swap, TF_LIMIT_MAX, "memory_swap infinity");
                IS_STR(s->limits.cpuset, "7", "single CPU");
                IS_INT(s->limits.nofile, 2048, "nofile quoted");
                tf_spec_free(s);
        }
        if ((s = load_buf("command: [a]\nlimits: {cpus: 2, memory: 1048576}\n"))) {
                IS_INT(s->limits.cpu_quota_usec, 200000, "cpus 2");
                IS_INT(s->limits.memory, MIB, "memory in plain bytes (the minimum)");
                tf_spec_free(s);
        }
        if ((s = load_buf("command: [a]\nlimits: {cpus: .333333}\n"))) {
                IS_INT(s->limits.cpu_quota_usec, 33333, "cpus rounded to a whole usec quota");
                tf_spec_free(s);
        }
        static const struct {
                const char *sig;
                int want;
        } sigs[] = {{"TERM", SIGTERM}, {"9", SIGKILL}, {"sigusr1", SIGUSR1}, {"SIGHUP", SIGHUP}};
        for (size_t i = 0; i < ELEMENTSOF(sigs); i++) {
                _cleanup_free_ char *y =
                        tf_asprintf("command: [a]\nstop: {signal: %s, grace: 0}\n", sigs[i].sig);
                if ((s = load_buf(y))) {
                        IS_INT(s->stop_signal, sigs[i].want, "signal %s", sigs[i].sig);
                        IS_INT(s->stop_grace_usec, 0, "grace 0 allowed");
                        tf_spec_free(s);
                }
        }
        if ((s = load_buf("command: [a]\nstop: {signal: SIGRTMIN+3}\ntimeout: infinity\n"))) {
                IS_INT(s->stop_signal, SIGRTMIN + 3, "SIGRTMIN+3");
                IS_INT(s->timeout_usec, TF_UNSET, "timeout: infinity means none");
                tf_spec_free(s);
        }
        static const struct {
                const char *user;
                uid_t uid;
                gid_t gid;
        } users[] = {
                {"alice", (uid_t)-1, (gid_t)-1},
                {"1000", 1000, (gid_t)-1},
                {"0:0", 0, 0},
                {"alice:staff", (uid_t)-1, (gid_t)-1},
                {"1000:staff", 1000, (gid_t)-1},
                {"alice:50", (uid_t)-1, 50},
        };
        for (size_t i = 0; i < ELEMENTSOF(users); i++) {
                _cleanup_free_ char *y = tf_asprintf("command: [a]\nuser: \"%s\"\n", users[i].user);
                if ((s = load_buf(y))) {
                        IS_STR(s->user, users[i].user, "user %s kept as written", users[i].user);
                        IS_INT(s->uid, users[i].uid, "user %s uid", users[i].user);
                        IS_INT(s->gid, users[i].gid, "user %s gid", users[i].user);
                        tf_spec_free(s);
                }
        }
        if ((s = load_buf("command: [a]\nuser: 1000\n"))) {
                IS_INT(s->uid, 1000, "user as a YAML number");
                tf_spec_free(s);
        }
        static const struct {
                const char *net;
                enum tf_network_mode want;
        } nets[] = {{"none", TF_NETWORK_NONE}, {"host", TF_NETWORK_HOST}, {"bridge", TF_NETWORK_BRIDGE}};
        for (size_t i = 0; i < ELEMENTSOF(nets); i++) {
                _cleanup_free_ char *y =
                        tf_asprintf("image: x\nsandbox: {network: %s, seccomp: default}\n", nets[i].net);
                if ((s = load_buf(y))) {
                        IS_INT(s->sandbox.network, nets[i].want, "network %s", nets[i].net);
                        OK(!s->sandbox.network_name, "no network name for %s", nets[i].net);
                        IS_INT(s->sandbox.seccomp, TF_SECCOMP_DEFAULT, "seccomp default written");
                        tf_spec_free(s);
                }
        }
        static const struct {
                const char *pid;
                enum tf_pid_mode want;
        } pids[] = {{"private", TF_PID_PRIVATE}, {"host", TF_PID_HOST}};
        for (size_t i = 0; i < ELEMENTSOF(pids); i++) {
                _cleanup_free_ char *y = tf_asprintf("command: [a]\nsandbox:\n  pid: %s\n", pids[i].pid);
                if ((s = load_buf(y))) {
                        IS_INT(s->sandbox.pid, pids[i].want, "pid %s", pids[i].pid);
                        IS_STR(tf_pid_mode_name(s->sandbox.pid), pids[i].pid, "pid mode name %s",
                               pids[i].pid);
                        IS_POS(s->sandbox.pos_pid, 3, 3, "sandbox.pid key position");
                        tf_spec_free(s);
                }
        }
        if ((s = load_buf("command: [a]\n"))) {
                OK(!s->sandbox.host, "no sandbox key: the default sandbox, not host");
                IS_INT(s->sandbox.ipc, TF_NS_PRIVATE, "ipc private by default");
                IS_INT(s->sandbox.uts, TF_NS_PRIVATE, "uts private by default");
                IS_INT(s->sandbox.cgroupns, TF_NS_PRIVATE, "cgroupns private by default");
                IS_INT(s->sandbox.system_paths, TF_SYSTEM_PATHS_MASKED, "system paths masked by default");
                tf_spec_free(s);
        }
        if ((s = load_buf("command: [a]\nsandbox: host\n"))) {
                OK(s->sandbox.host && s->sandbox_present, "sandbox: host");
                IS_POS(s->pos_sandbox, 2, 1, "sandbox: host key position");
                tf_spec_free(s);
        }
        if ((s = load_buf("command: [a]\nsandbox: {ipc: host, uts: host, cgroupns: host, "
                          "system_paths: unconfined}\n"))) {
                OK(!s->sandbox.host, "a mapping is not host");
                IS_STR(tf_ns_mode_name(s->sandbox.ipc), "host", "ipc host");
                IS_STR(tf_ns_mode_name(s->sandbox.uts), "host", "uts host");
                IS_STR(tf_ns_mode_name(s->sandbox.cgroupns), "host", "cgroupns host");
                IS_INT(s->sandbox.system_paths, TF_SYSTEM_PATHS_UNCONFINED, "system_paths unconfined");
                tf_spec_free(s);
        }
        if ((s = load_buf("command: [a]\nsandbox: {ipc: private, cgroupns: private, system_paths: masked}\n"))) {
                IS_STR(tf_ns_mode_name(s->sandbox.ipc), "private", "ipc private written");
                IS_INT(s->sandbox.system_paths, TF_SYSTEM_PATHS_MASKED, "system_paths masked written");
                tf_spec_free(s);
        }
        if ((s = load_buf("image: x\nbackend: docker\nsandbox: {seccomp: /etc/tfrun/../seccomp.json}\n"))) {
                IS_INT(s->resolved_backend, TF_BACKEND_DOCKER, "backend docker with an image");
                IS_STR(s->sandbox.seccomp_profile, "/etc/seccomp.json", "absolute profile path normalised");
                tf_spec_free(s);
        }
        if ((s = load_buf(
                     "command: [a]\nrestart: {policy: on-failure, max_retries: 0, backoff: {initial: 5m}}\n"
                     "description: |\n  two\n  lines\n"))) {
                IS_INT(s->restart.max_retries, 0, "max_retries 0");
                IS_INT(s->restart.backoff_initial_usec, 300 * SEC, "initial may equal the default max");
                IS_STR(s->description, "two\nlines\n", "block scalar description");
                tf_spec_free(s);
        }
        if ((s = load_buf("command: [a]\nschedule: {cron: '*/5 * * * *', every: 1h 30min}\n"))) {
                IS_INT(s->schedule.n_calendar, 0, "no calendar");
                IS_STR(s->schedule.cron.expr, "*/5 * * * *", "cron");
                IS_INT(s->schedule.every_usec, 5400 * SEC, "every with a space");
                IS_INT(s->schedule.overlap, TF_OVERLAP_SKIP, "overlap default skip");
                OK(!s->schedule.persistent, "persistent default false");
                IS_INT(s->schedule.randomized_delay_usec, 0, "randomized_delay default 0");
                tf_spec_free(s);
        }
        if ((s = load_buf(
                     "command: [a]\nsandbox: {cap_add: [CAP_SYS_PTRACE, sys_admin], cap_drop: []}\n"))) {
                IS_STR(s->sandbox.cap_add[0], "SYS_PTRACE", "CAP_ prefix dropped");
                IS_STR(s->sandbox.cap_add[1], "SYS_ADMIN", "upper-cased");
                OK(s->sandbox.cap_drop && !s->sandbox.cap_drop[0], "empty cap_drop");
                tf_spec_free(s);
        }
        /* A command string with only a program; and a name given explicitly overrides the file name. */
        if ((s = load_buf_as("Not A Name.yaml", "name: web.1\ncommand: /usr/bin/env\n"))) {
                IS_STR(s->name, "web.1", "explicit name");
                IS_INT(tf_strv_length(s->argv), 1, "one word");
                tf_spec_free(s);
        }
        if ((s = load_buf("command: [a]\nmounts: [{source: data/../in, target: /in/./x/}]\n"))) {
                _cleanup_free_ char *in = good_path("in");
                IS_STR(s->mounts[0].source, in, "relative source with .. folded");
                IS_STR(s->mounts[0].target, "/in/x", "target normalised");
                tf_spec_free(s);
        }
}

static void test_env(void) {
        struct tf_spec *s;
        if ((s = load_buf(
                     "command: [a]\nenv:\n  A: ${TF_TEST_EMPTY:-fallback}\n  B: ${TF_TEST_SET:-fallback}\n"
                     "  C: \"${TF_TEST_EMPTY}|\"\n  D: cost $5 or $\n  E: ''\n  F: 007\n  G: a$$b$${X}\n"
                     "  H: ${TF_NOPE:-}\n  I: ~user\n"))) {
                static const char *want[] = {"A=fallback", "B=yes",     "C=|", "D=cost $5 or $", "E=",
                                             "F=007",      "G=a$b${X}", "H=",  "I=~user"};
                IS_INT(tf_strv_length(s->env), ELEMENTSOF(want), "env entries");
                for (size_t i = 0; i < ELEMENTSOF(want) && s->env[i]; i++)
                        IS_STR(s->env[i], want[i], "inline env entry %zu", i);
                tf_spec_free(s);
        }
        /* env_file as a string, from another working directory: resolved against the spec's directory. */
        _cleanup_free_ char *cwd = getcwd(NULL, 0);
        OK(chdir("/") == 0, "chdir /");
        if ((s = load_buf("command: [a]\nenv_file: full.env\nenv: {QUOTED: over}\n"))) {
                IS_INT(tf_strv_length(s->env), 5, "file entries");
                IS_STR(s->env[2], "QUOTED=over", "env: overrides env_file");
                tf_spec_free(s);
        }
        OK(chdir(cwd) == 0, "chdir back");

        /* Relative spec path: dir resolved against the current directory. */
        OK(chdir(good_dir) == 0, "chdir good");
        _cleanup_spec_ struct tf_spec *rel = NULL;
        _cleanup_error_ tf_error *err = NULL;
        int r = tf_spec_load("./full.yaml", fixed_env, &rel, &err);
        IS_INT(r, 0, "relative path loads");
        if (r == 0) {
                IS_STR(rel->path, "./full.yaml", "path as given");
                IS_STR(rel->dir, good_dir, "dir absolute");
        }
        OK(chdir(cwd) == 0, "chdir back");
}

/* Shell operators inside quotes, escaped, or inside a word that is no operator are text, kept as written. */
static void test_command_operators_quoted(void) {
        static const struct {
                const char *yaml;
                size_t n;
                const char *last;
        } t[] = {
                {"command: sh -c 'make && make install'\n", 3, "make && make install"},
                {"command: sh -c \"a | b; c > d 2>&1 $(e) `f`\"\n", 3, "a | b; c > d 2>&1 $(e) `f`"},
                {"command: echo a\\;b \\& \\|\n", 4, "|"},
                {"command: echo $HOME a=b x-1 2\n", 5, "2"},
                {"command: [sh, -c, 'a && b']\n", 3, "a && b"},
                {"command: [echo, '&&', '|']\n", 3, "|"},
        };
        for (size_t i = 0; i < ELEMENTSOF(t); i++) {
                _cleanup_spec_ struct tf_spec *s = load_buf(t[i].yaml);
                if (!s)
                        continue;
                IS_INT(tf_strv_length(s->argv), t[i].n, "operators quoted %zu: words", i);
                IS_STR(s->argv[t[i].n - 1], t[i].last, "operators quoted %zu: last word as written", i);
        }
        /* The docker engine creates a missing working directory inside the private /tmp; a mount's
         * target holds one natively. */
        static const char *const wd_ok[] = {
                "image: debian:12\nworking_dir: /tmp/build\nsandbox: {private_tmp: true}\n",
                "command: [a]\nworking_dir: /tmp/data/x\nsandbox: {private_tmp: true}\n"
                "mounts: [{source: ., target: /tmp/data}]\n",
                "command: [a]\nworking_dir: /tmp\nsandbox: {private_tmp: true}\n",
                "command: [a]\nworking_dir: /tmp/x\n",
        };
        for (size_t i = 0; i < ELEMENTSOF(wd_ok); i++) {
                _cleanup_spec_ struct tf_spec *s = load_buf(wd_ok[i]);
                OK(s, "working_dir with private_tmp accepted %zu", i);
        }
        /* The suggestion for a bare number: a forgotten M up to 64G, else the smallest limit. */
        _cleanup_free_ char *a = load_err("command: [a]\nlimits: {memory: 65536}\n");
        IS_STR(a,
               "2:18: limits.memory: 65536 bytes is too small; expected at least 1M; did you mean "
               "'65536M'?",
               "65536: a forgotten M");
        _cleanup_free_ char *b = load_err("command: [a]\nlimits: {memory: 65537}\n");
        IS_STR(b,
               "2:18: limits.memory: 65537 bytes is too small (a number without a unit is bytes); expected "
               "at least 1M (1048576 bytes); did you mean '1M'?",
               "65537: meant as bytes");
}

static void test_errors_inline(void) {
        /* A few messages checked here too, independent of the fixture files. */
        static const struct {
                const char *yaml, *msg;
        } t[] = {
                {"command: [a]\nlimits:\n  memroy: 1G\n",
                 "3:3: limits.memroy: unknown key; did you mean 'memory'?"},
                {"command: [a]\nlimits: {memory: 512Q}\n",
                 "2:18: limits.memory: '512Q' is not a size; expected bytes or a number with K, M, G or T "
                 "(e.g. 512M)"},
                {"command: [a]\ntimeout: soon\n",
                 "2:10: timeout: 'soon' is not a duration; expected e.g. 90s, 1h30m or '1h 30min'"},
                {"command: [a]\nlimits: {memory: 512}\n",
                 "2:18: limits.memory: 512 bytes is too small; expected at least 1M; did you mean '512M'?"},
                {"command: [a]\nsandbox: {private_tmp: yes}\n",
                 "2:24: sandbox.private_tmp: 'yes' is not a boolean; expected true or false"},
                {"command: [a]\nenv: {A: '${TF_NOPE}'}\n",
                 "2:10: env.A: ${TF_NOPE} is not set in the environment; expected it set, or a default: "
                 "${TF_NOPE:-value}"},
                {"command: [a]\nenv: {A: $HOME}\n",
                 "2:10: env.A: $HOME is not replaced; expected ${HOME}, or $$HOME for the text"},
                {"command: [a]\nenv: {A: '${A'}\n", "2:10: env.A: '${A' has a malformed ${...}; expected "
                                                    "${NAME} or ${NAME:-default}, or $$ for a "
                                                    "literal $"},
                {"command: [a]\nenv: {A: '${A:-x'}\n", "2:10: env.A: '${A:-x' has an unterminated ${...}; "
                                                       "expected ${NAME} or ${NAME:-default}, or $$ "
                                                       "for a literal $"},
                {"command: [a]\nenv: {A: 1, A: 2}\n",
                 "2:13: env.A: duplicate key (first at 2:7); expected each key once"},
                {"command: [a]\nenv: {A: }\n", "2:10: env.A: no value; expected a string, number or boolean "
                                               "(write '' for an empty value)"},
                {"command: \"echo 'unterminated\"\n",
                 "1:16: command: unterminated ' quote; expected a closing '"},
                {"command: echo\\\n",
                 "1:14: command: a backslash at the end; expected a character after it"},
                {"command: [a]\nuser: \"1000:\"\n", "2:7: user: '1000:' is not a user; expected name, uid, "
                                                    "uid:gid or name:group (e.g. 1000:1000)"},
                {"command: [a]\nuser: \"4294967295\"\n",
                 "2:7: user: '4294967295': the uid is out of range; expected 0 to 4294967294"},
                {"command: [a]\nlimits: {cpus: 1e3}\n", "2:16: limits.cpus: '1e3' is not a number; expected "
                                                        "0.01 to 10000 (a number of CPUs, e.g. 1.5)"},
                {"command: [a]\nlimits: {cpus: 0.001}\n",
                 "2:16: limits.cpus: 0.001 is out of range; expected 0.01 to 10000 (a number of CPUs, e.g. "
                 "1.5)"},
                {"command: [a]\nlimits: {memory: 20E}\n",
                 "2:18: limits.memory: '20E' is too large; expected a size below 16E"},
                {"command: [a]\nlimits: {pids: 99999999999999999999999}\n",
                 "2:16: limits.pids: 99999999999999999999999 is out of range; expected a whole number of 1 "
                 "or more, or max"},
                {"command: [a]\nschedule: {every: infinity}\n",
                 "2:19: schedule.every: 'infinity' is not allowed here; expected a finite duration (e.g. "
                 "90s)"},
                {"command: [a]\nschedule: {calendar: []}\n",
                 "2:22: schedule.calendar: empty list; expected a calendar expression (e.g. 'Mon..Fri "
                 "09:00') or "
                 "a list of them"},
                {"command: [a]\nrestart: {max_retries: 3}\n",
                 "2:11: restart.max_retries: has no effect with policy no; expected policy: on-failure or "
                 "always"},
                {"command: [a]\nsandbox: {network: None}\n",
                 "2:20: sandbox.network: 'None' is not a network mode; expected none, host, bridge or a "
                 "network "
                 "name; did you mean 'none'?"},
                {"command: [a]\nsandbox: {cap_drop: [ALL, NET_ADMN]}\n",
                 "2:27: sandbox.cap_drop[1]: 'NET_ADMN' is not a capability; expected a capability name "
                 "like "
                 "NET_ADMIN or SYS_PTRACE, or ALL; did you mean 'NET_ADMIN'?"},
                {"command: [a]\nmounts: [{source: x, target: /x, read_only: 1}]\n",
                 "2:45: mounts[0].read_only: '1' is not a boolean; expected true or false"},
                {"command: [a]\nlimits: {io: [{device: /dev/sda}]}\n",
                 "2:15: limits.io[0]: no limit given; expected at least one of read_bps, write_bps, "
                 "read_iops or "
                 "write_iops"},
                {"command: [a]\nworking_dir: srv\n",
                 "2:14: working_dir: 'srv' is relative; expected an absolute path (e.g. /srv/app)"},
                {"command: [a]\nimage: 'a b'\n",
                 "2:8: image: 'a b' is not an image reference; expected e.g. debian:12 or "
                 "registry.example.com/app:1.0"},
                {"command: [a]\ndescription: \"a\\0b\"\n",
                 "2:14: description: a NUL character in a value; expected text"},
                {"command: [a]\n? [x]\n: y\n", "2:3: a key must be a plain string; expected key: value"},
                {"command: [a]\n\"\": x\n", "2:1: empty key; expected key: value"},
                {"- a\n",
                 "1:1: the document is a list; expected a mapping of keys (e.g. command: [echo, hello])"},
                {"~\n", "1:1: the spec is empty; expected a mapping of keys (e.g. command: [echo, hello])"},
                {"# only a comment\n",
                 "1:1: the spec is empty; expected a mapping of keys (e.g. command: [echo, hello])"},
                {"command: [a]\n\xff: x\n",
                 "2:1: invalid YAML: invalid leading UTF-8 octet; expected UTF-8 text"},
        };
        for (size_t i = 0; i < ELEMENTSOF(t); i++) {
                _cleanup_free_ char *m = load_err(t[i].yaml);
                IS_STR(m, t[i].msg, "message %zu", i);
        }
}

static void test_name_default(void) {
        _cleanup_error_ tf_error *err = NULL;
        struct tf_spec *s = NULL;
        static const char y[] = "command: [a]\n";
        int r = tf_spec_load_buffer("/srv/My Service.yaml", y, strlen(y), fixed_env, &s, &err);
        IS_INT(r, -EINVAL, "invalid basename without name: refused");
        IS_STR(err ? err->msg : NULL,
               "/srv/My Service.yaml:1:1: name: missing, and the file name 'My Service' is not a valid "
               "name; "
               "expected a name: key with lower-case letters, digits, '_', '.' and '-', starting with a "
               "letter "
               "or digit, at most 63 characters; did you mean 'name: my-service'?",
               "message suggests a name");
        err = tf_error_free(err);
        r = tf_spec_load_buffer("relative/dir/svc-1.yml", y, strlen(y), fixed_env, &s, &err);
        IS_INT(r, 0, "basename with .yml");
        if (s) {
                IS_STR(s->name, "svc-1", "name from basename");
                _cleanup_free_ char *cwd = getcwd(NULL, 0);
                _cleanup_free_ char *want = tf_asprintf("%s/relative/dir", cwd);
                IS_STR(s->dir, want, "dir of a relative path (need not exist)");
                s = tf_spec_free(s);
        }
}

static void test_files(void) {
        _cleanup_error_ tf_error *err = NULL;
        struct tf_spec *s = NULL;
        int r = tf_spec_load("/nonexistent/tfrun/spec.yaml", NULL, &s, &err);
        IS_INT(r, -ENOENT, "missing file: -ENOENT");
        IS_STR(err ? err->msg : NULL, "/nonexistent/tfrun/spec.yaml: cannot open: No such file or directory",
               "missing file message");
        OK(!s, "no spec");
        err = tf_error_free(err);
        r = tf_spec_load(good_dir, NULL, &s, &err);
        IS_INT(r, -EISDIR, "directory: -EISDIR");
        _cleanup_free_ char *want_dir = tf_asprintf("%s: is a directory, expected a spec file", good_dir);
        IS_STR(err ? err->msg : NULL, want_dir, "directory message");
        err = tf_error_free(err);

        /* Size bound: exactly 1 MiB loads; one byte more is refused, from a buffer and from a file. */
        size_t n = 1024 * 1024;
        _cleanup_free_ char *big = tf_malloc0(n + 2);
        memset(big, '#', n + 1);
        memcpy(big, "command: [a]\n", 13);
        big[n - 1] = '\n';
        r = tf_spec_load_buffer("big.yaml", big, n, NULL, &s, &err);
        IS_INT(r, 0, "exactly 1 MiB loads");
        s = tf_spec_free(s);
        big[n] = '\n';
        r = tf_spec_load_buffer("big.yaml", big, n + 1, NULL, &s, &err);
        IS_INT(r, -EINVAL, "1 MiB + 1 byte refused");
        IS_STR(err ? err->msg : NULL, "big.yaml:1:1: the file is larger than 1 MiB; expected a smaller spec",
               "size message (buffer)");
        err = tf_error_free(err);

        char tmpl[] = "/tmp/tfrun-spec-XXXXXX";
        int fd = mkstemp(tmpl);
        OK(fd >= 0, "temp file");
        if (fd >= 0) {
                OK(write(fd, big, n + 1) == (ssize_t)(n + 1), "write big file");
                close(fd);
                r = tf_spec_load(tmpl, NULL, &s, &err);
                IS_INT(r, -EINVAL, "big file refused");
                _cleanup_free_ char *want =
                        tf_asprintf("%s:1:1: the file is larger than 1 MiB; expected a smaller spec", tmpl);
                IS_STR(err ? err->msg : NULL, want, "size message (file)");
                err = tf_error_free(err);
                unlink(tmpl);
        }
}

static void test_names(void) {
        IS_STR(tf_backend_name(TF_BACKEND_AUTO), "auto", "backend name auto");
        IS_STR(tf_backend_name(TF_BACKEND_NATIVE), "native", "backend name native");
        IS_STR(tf_backend_name(TF_BACKEND_DOCKER), "docker", "backend name docker");
        IS_STR(tf_restart_policy_name(TF_RESTART_ON_FAILURE), "on-failure", "restart policy name");
        IS_STR(tf_overlap_name(TF_OVERLAP_REPLACE), "replace", "overlap name");
        IS_STR(tf_seccomp_mode_name(TF_SECCOMP_UNCONFINED), "unconfined", "seccomp mode name");
        IS_STR(tf_network_mode_name(TF_NETWORK_BRIDGE), "bridge", "network mode name");
        IS_INT(tf_spec_capability_number("NET_ADMIN"), 12, "CAP_NET_ADMIN is 12");
        IS_INT(tf_spec_capability_number("CHECKPOINT_RESTORE"), 40, "CAP_CHECKPOINT_RESTORE is 40");
        IS_INT(tf_spec_capability_number("ALL"), -EINVAL, "ALL has no number");
        IS_STR(tf_cap_name(12), "NET_ADMIN", "capability 12 is NET_ADMIN");
        OK(tf_cap_name(TF_CAP_COUNT) == NULL, "no name past the table");
        for (unsigned i = 0; i < TF_CAP_COUNT; i++)
                if (!tf_cap_name(i) || tf_cap_number(tf_cap_name(i)) != (int)i) {
                        OK(false, "capability %u has a name that maps back to it", i);
                        break;
                }
}

/* spec/limits.h: the facts every backend converts from. */
static void test_limit_facts(void) {
        OK(!tf_limit_is_set(TF_UNSET) && tf_limit_is_set(TF_LIMIT_MAX) && tf_limit_is_set(0), "is set");
        OK(!tf_limit_is_finite(TF_UNSET) && !tf_limit_is_finite(TF_LIMIT_MAX) && tf_limit_is_finite(0),
           "is finite");
        IS_INT(tf_cpu_weight_to_shares(1), 10, "cpu_weight 1 -> 10 shares");
        IS_INT(tf_cpu_weight_to_shares(100), 1024, "cpu_weight 100 -> 1024 shares");
        IS_INT(tf_cpu_weight_to_shares(200), 2048, "cpu_weight 200 -> 2048 shares");
        IS_INT(tf_cpu_weight_to_shares(10000), 102400, "cpu_weight 10000 -> 102400 shares");
        IS_INT(tf_cpu_weight_to_shares(0), 2, "clamped to the kernel's minimum 2");
        struct tf_limits l = {.memory = 64 << 20, .memory_swap = 32 << 20};
        uint64_t v = 0;
        OK(tf_limits_memsw(&l, &v) == 0 && v == 96 << 20, "memsw = memory + swap");
        l.memory_swap = (uint64_t)INT64_MAX - l.memory;
        OK(tf_limits_memsw(&l, &v) == 0 && v == (uint64_t)INT64_MAX, "memsw up to INT64_MAX");
        l.memory_swap++;
        IS_INT(tf_limits_memsw(&l, &v), -ERANGE, "memsw past INT64_MAX: -ERANGE");
        l.memory = (uint64_t)INT64_MAX + 1;
        l.memory_swap = 0;
        IS_INT(tf_limits_memsw(&l, &v), -ERANGE, "memory past INT64_MAX: -ERANGE");
}

static char *read_text(const char *path) {
        _cleanup_fclose_ FILE *f = fopen(path, "re");
        if (!f)
                return NULL;
        char *buf = tf_malloc0(64 * 1024);
        size_t n = fread(buf, 1, 64 * 1024 - 1, f);
        buf[n] = 0;
        if (n > 0 && buf[n - 1] == '\n')
                buf[n - 1] = 0;
        return buf;
}

static int run_bad(const char *dir) {
        if (chdir(dir) < 0) {
                OK(0, "chdir %s: %s", dir, strerror(errno));
                return tap_done();
        }
        glob_t g;
        OK(glob("*.yaml", 0, NULL, &g) == 0, "glob *.yaml in %s", dir);
        OK(g.gl_pathc >= 60, "found %zu bad fixtures", (size_t)g.gl_pathc);
        for (size_t i = 0; i < g.gl_pathc; i++) {
                const char *y = g.gl_pathv[i];
                _cleanup_free_ char *errpath = tf_asprintf("%.*s.err", (int)(strlen(y) - 5), y);
                _cleanup_free_ char *want = read_text(errpath);
                if (!OK(want, "%s has %s", y, errpath))
                        continue;
                OK(!strchr(want, '\n'), "%s is one line", errpath);
                _cleanup_error_ tf_error *err = NULL;
                struct tf_spec *s = NULL;
                int r = tf_spec_load(y, fixed_env, &s, &err);
                IS_INT(r, -EINVAL, "%s: -EINVAL", y);
                OK(!s, "%s: no spec", y);
                if (s)
                        tf_spec_free(s);
                IS_STR(err ? err->msg : NULL, want, "%s: message", y);
        }
        globfree(&g);
        /* Every .err must belong to a .yaml: a renamed fixture must not leave its expectation unchecked. */
        OK(glob("*.err", 0, NULL, &g) == 0, "glob *.err");
        for (size_t i = 0; i < g.gl_pathc; i++) {
                _cleanup_free_ char *yp =
                        tf_asprintf("%.*s.yaml", (int)(strlen(g.gl_pathv[i]) - 4), g.gl_pathv[i]);
                OK(access(yp, F_OK) == 0, "%s has %s", g.gl_pathv[i], yp);
        }
        globfree(&g);
        return tap_done();
}

/* ---- workflows ---------------------------------------------------------------------------------------- */

static const struct tf_step *step_named(const struct tf_spec *s, const char *name) {
        for (size_t i = 0; i < s->n_steps; i++)
                if (streq(s->steps[i].name, name))
                        return &s->steps[i];
        return NULL;
}

static const char *env_get(char *const *env, const char *name) {
        size_t n = strlen(name);
        for (size_t i = 0; env && env[i]; i++)
                if (strncmp(env[i], name, n) == 0 && env[i][n] == '=')
                        return env[i] + n + 1;
        return NULL;
}

/* The bytes a reference covers, as written. */
static char *ref_text(const struct tf_step *st, size_t i) {
        const struct tf_step_ref *ref = &st->refs[i];
        const char *t = ref->field == TF_REF_ARGV  ? st->spec->argv[ref->index]
                        : ref->field == TF_REF_ENV ? st->spec->env[ref->index]
                                                   : st->spec->working_dir;
        return tf_strndup(t + ref->offset, ref->len);
}

static void test_workflow(void) {
        _cleanup_free_ char *path = good_path("workflow.yaml");
        _cleanup_spec_ struct tf_spec *s = NULL;
        _cleanup_error_ tf_error *err = NULL;
        int r = tf_spec_load(path, fixed_env, &s, &err);
        IS_INT(r, 0, "workflow.yaml loads");
        if (r < 0) {
                printf("#   error: %s\n", err->msg);
                return;
        }
        IS_INT(s->n_steps, 4, "four steps");
        OK(!s->argv && !s->image, "a workflow has no command of its own");
        IS_INT(s->resolved_backend, TF_BACKEND_NATIVE, "the top level's backend is never auto");
        IS_INT(s->max_parallel, 2, "max_parallel");
        IS_INT(s->limits.memory, 1024 * MIB, "top-level limits are the whole run's");
        IS_INT(s->timeout_usec, 3600 * SEC, "top-level timeout is the whole run's");
        IS_POS(s->pos_steps, 13, 1, "steps: key");
        const char *names[] = {"fetch", "build", "lint", "package"};
        for (size_t i = 0; i < 4; i++)
                IS_STR(s->steps[i].name, names[i], "step %zu in document order", i);

        const struct tf_step *fetch = &s->steps[0], *build = &s->steps[1], *lint = &s->steps[2],
                             *pkg = &s->steps[3];
        IS_STR(fetch->spec->name, "release.fetch", "a step's spec is named SERVICE.STEP");
        IS_STR(fetch->output, "VERSION", "output");
        IS_INT(fetch->n_deps, 0, "fetch depends on nothing");
        IS_INT(build->n_deps, 1, "build: one dependency");
        IS_INT(build->deps[0], 0, "build depends on fetch (by index)");
        IS_INT(lint->n_deps, 1, "a single name for depends_on");
        IS_INT(lint->deps[0], 0, "lint depends on fetch");
        IS_INT(pkg->n_deps, 2, "package: two dependencies");
        IS_INT(pkg->deps[0], 1, "package after build");
        IS_INT(pkg->deps[1], 2, "package after lint");
        IS_POS(fetch->pos, 14, 5, "a step's position");

        /* Inheritance: fetch sets nothing of its own. */
        const struct tf_spec *f = fetch->spec;
        IS_STR(f->user, "1000:1000", "user inherited");
        IS_INT(f->uid, 1000, "uid inherited");
        IS_STR(f->working_dir, "/srv/app", "working_dir inherited");
        IS_INT(f->sandbox.network, TF_NETWORK_NONE, "sandbox inherited");
        IS_INT(tf_strv_length(f->sandbox.cap_drop), 1, "sandbox's cap_drop copied");
        OK(f->sandbox.cap_drop != s->sandbox.cap_drop, "a copy, not shared");
        IS_INT(f->n_mounts, 1, "mounts inherited");
        IS_STR(f->mounts[0].target, "/data", "mount target inherited");
        IS_INT(f->stop_signal, SIGINT, "stop inherited");
        IS_INT(f->stop_grace_usec, 5 * SEC, "stop grace inherited");
        IS_STR(env_get(f->env, "LEVEL"), "info", "env inherited");
        IS_STR(env_get(f->env, "HOME_AT_LOAD"), "/home/tester", "the top level's env interpolated at load");
        IS_INT(f->limits.memory, TF_UNSET, "limits are not inherited");
        IS_INT(f->timeout_usec, TF_UNSET, "timeout is not inherited");
        IS_INT(f->resolved_backend, TF_BACKEND_NATIVE, "a step with a command runs natively");
        OK(!f->schedule.present && f->n_steps == 0, "a step's spec has no schedule and no steps");

        /* build: its own keys, the outputs it uses kept for run time. */
        const struct tf_spec *b = build->spec;
        IS_STR(env_get(b->env, "LEVEL"), "debug", "a step's env overrides the top level's");
        IS_STR(env_get(b->env, "HOME_AT_LOAD"), "/home/tester", "and keeps the rest");
        IS_STR(env_get(b->env, "PRICE"), "$5", "$$ in a step's env value is $");
        IS_INT(b->limits.memory, 256 * MIB, "a step's own limits");
        IS_INT(b->restart.policy, TF_RESTART_ON_FAILURE, "a step's retry");
        IS_INT(b->restart.max_retries, 2, "a step's max_retries");
        IS_INT(b->restart.backoff_initial_usec, 2 * SEC, "a step's backoff");
        IS_STR(b->argv[1], "VERSION=${VERSION}", "an output reference stays as written");
        IS_STR(b->argv[2], "literal=${VERSION}", "$${ is a literal ${");
        IS_STR(b->argv[3], "yes", "an environment variable is replaced at load");
        IS_STR(b->argv[4], "sh: $1 $HOME", "other $ stay literal in a step's command");
        IS_INT(build->n_refs, 2, "build: two references");
        if (build->n_refs == 2) {
                const struct tf_step_ref *r0 = &build->refs[0], *r1 = &build->refs[1];
                IS_INT(r0->field, TF_REF_ARGV, "ref 0 in argv");
                IS_INT(r0->index, 1, "ref 0 in argv[1]");
                IS_INT(r0->offset, 8, "ref 0 offset");
                IS_STR(r0->var, "VERSION", "ref 0 var");
                OK(!r0->default_value, "ref 0 has no default");
                IS_INT(r1->field, TF_REF_ENV, "ref 1 in env");
                IS_STR(r1->var, "VERSION", "ref 1 var");
                IS_STR(r1->default_value, "dev", "ref 1 default");
                _cleanup_free_ char *t0 = ref_text(build, 0), *t1 = ref_text(build, 1);
                IS_STR(t0, "${VERSION}", "ref 0 covers ${VERSION}");
                IS_STR(t1, "${VERSION:-dev}", "ref 1 covers ${VERSION:-dev} in its env entry");
                IS_STR(b->env[r1->index], "TAG=v${VERSION:-dev}-x", "ref 1's entry");
        }

        /* lint: docker, its own user and sandbox, conditions, continue_on. */
        const struct tf_spec *l = lint->spec;
        IS_INT(l->resolved_backend, TF_BACKEND_DOCKER, "a step with an image runs on docker");
        IS_STR(l->user, "nobody", "a step's own user");
        IS_INT(l->sandbox.network, TF_NETWORK_UNSET, "sandbox: {} in a step is the defaults, not the top's");
        IS_INT(tf_strv_length(l->argv), 2, "a command line split");
        IS_INT(lint->n_refs, 1, "a reference in a split command line");
        IS_INT(lint->n_when, 4, "four conditions");
        if (lint->n_when == 4) {
                IS_INT(lint->when[0].kind, TF_COND_MATCHES, "matches");
                IS_STR(lint->when[0].var, "VERSION", "var");
                OK(lint->when[0].var_is_output, "VERSION is an output");
                IS_STR(lint->when[0].value, "^v[0-9]+", "the expression");
                IS_INT(lint->when[1].kind, TF_COND_EQUALS, "equals");
                OK(!lint->when[1].var_is_output, "TF_TEST_SET is the environment's");
                IS_STR(lint->when[1].env_value, "yes", "its value at load");
                IS_INT(lint->when[2].kind, TF_COND_COMMAND, "command");
                IS_STR(lint->when[2].argv[0], "test", "command argv");
                IS_INT(lint->when[2].exit_code, 0, "exit_code defaults to 0");
                IS_INT(lint->when[3].exit_code, 1, "exit_code");
                IS_POS(lint->when[0].pos, 31, 9, "a condition's position");
        }
        OK(lint->continue_on.failure && !lint->continue_on.skipped, "continue_on.failure");
        IS_INT(lint->continue_on.n_exit_codes, 2, "continue_on.exit_codes");
        IS_INT(lint->continue_on.exit_codes[1], 4, "exit code 4");

        IS_STR(pkg->spec->working_dir, "/srv/out/${VERSION}", "a working_dir reference stays");
        IS_INT(pkg->n_refs, 3, "package: three references");
        IS_INT(pkg->refs[2].field, TF_REF_WORKING_DIR, "the working_dir's");
        IS_INT(pkg->spec->timeout_usec, 600 * SEC, "a step's own timeout");
        OK(pkg->continue_on.skipped, "continue_on.skipped");
        IS_INT(pkg->when[0].kind, TF_COND_NOT_EQUALS, "not_equals");

        /* Handlers. */
        OK(!s->on_success, "no on_success");
        OK(s->on_failure && s->on_exit, "on_failure and on_exit");
        if (s->on_failure && s->on_exit) {
                IS_STR(s->on_failure->name, "on_failure", "a handler's name defaults to its key");
                IS_STR(s->on_failure->spec->name, "release.on_failure", "its spec's name");
                OK(s->on_failure->handler, "handler flag");
                IS_INT(s->on_failure->n_refs, 1, "a handler may use every output");
                IS_STR(s->on_exit->name, "cleanup", "a handler's own name");
                IS_STR(s->on_exit->spec->user, "1000:1000", "a handler inherits too");
        }

        _cleanup_free_ size_t *order = NULL;
        IS_INT(tf_spec_steps_order(s, &order), 0, "an order");
        if (order)
                OK(order[0] == 0 && order[1] == 1 && order[2] == 2 && order[3] == 3,
                   "diamond: document order");
}

static const char *lookup_outputs(const char *var, void *userdata);

static void test_workflow_diamond(void) {
        _cleanup_free_ char *path = good_path("workflow-diamond.yaml");
        _cleanup_spec_ struct tf_spec *s = NULL;
        _cleanup_error_ tf_error *err = NULL;
        int r = tf_spec_load(path, fixed_env, &s, &err);
        IS_INT(r, 0, "workflow-diamond.yaml loads");
        if (r < 0) {
                printf("#   error: %s\n", err->msg);
                return;
        }
        const struct tf_step *d = step_named(s, "d");
        IS_INT(d->n_deps, 2, "d waits for two steps");
        IS_INT(d->deps[0], 2, "d's first dependency as written (c)");
        IS_INT(d->n_refs, 4, "d uses both outputs, in argv and env");
        OK(!s->on_success && !s->on_failure && s->on_exit, "one handler");
        _cleanup_free_ size_t *order = NULL;
        IS_INT(tf_spec_steps_order(s, &order), 0, "an order");
        if (order)
                OK(order[0] == 0 && order[1] == 1 && order[2] == 2 && order[3] == 3, "a, b, c, d");
        const char *outs[] = {"A=1", "B=x y", "C='z'", NULL};
        _cleanup_strv_free_ char **argv = NULL, **env = NULL;
        _cleanup_free_ char *wd = NULL;
        tf_step_expand(d, lookup_outputs, (void *)outs, &argv, &env, &wd);
        IS_STR(argv[2], "x y", "d gets B");
        IS_STR(argv[3], "'z'", "d gets C");
        IS_STR(env_get(env, "BOTH"), "x y+'z'", "both in one env value");
        OK(!wd, "no working_dir");
}

static const char *lookup_outputs(const char *var, void *userdata) {
        char *const *outs = userdata;
        return env_get(outs, var);
}

static void test_step_expand(void) {
        _cleanup_spec_ struct tf_spec *s =
                load_buf("name: w\n"
                         "steps:\n"
                         "  - {name: a, command: [echo], output: OUT}\n"
                         "  - name: b\n"
                         "    depends_on: [a]\n"
                         "    command: [printf, '%s', '<${OUT}>', '${OUT}${OUT}', "
                         "'${NONE:-d}', '${OUT:-empty}']\n"
                         "    env: {V: '${OUT}', W: 'x${OUT:-def}y'}\n"
                         "    working_dir: /w/${OUT}\n");
        if (!s)
                return;
        const struct tf_step *b = step_named(s, "b");
        IS_STR(b->spec->argv[4], "d", "an unset variable with a default: the default, at load");
        /* Quotes, spaces, newlines and $ arrive byte for byte: no shell, no second expansion. */
        const char tricky[] = "it's \"quoted\" \n $HOME ${OUT} $$ `x`";
        char *outs[] = {tf_asprintf("OUT=%s", tricky), NULL};
        _cleanup_strv_free_ char **argv = NULL, **env = NULL;
        _cleanup_free_ char *wd = NULL;
        tf_step_expand(b, lookup_outputs, outs, &argv, &env, &wd);
        _cleanup_free_ char *want1 = tf_asprintf("<%s>", tricky),
                            *want2 = tf_asprintf("%s%s", tricky, tricky);
        _cleanup_free_ char *wantv = tf_asprintf("V=%s", tricky), *wantw = tf_asprintf("W=x%sy", tricky);
        _cleanup_free_ char *wantd = tf_asprintf("/w/%s", tricky);
        IS_STR(argv[0], "printf", "argv[0]");
        IS_STR(argv[2], want1, "an output inside an argument, byte-exact");
        IS_STR(argv[3], want2, "two references in one argument");
        IS_STR(argv[5], tricky, "${OUT:-empty} with OUT set");
        IS_STR(env_get(env, "V"), tricky, "an output in env");
        IS_STR(env[1], wantw, "an output with text around it in env");
        IS_STR(env[0], wantv, "env entry");
        IS_STR(wd, wantd, "an output in working_dir");
        IS_STR(b->spec->argv[2], "<${OUT}>", "the step's spec is untouched");
        free(outs[0]);

        /* An empty or missing output: the default, or nothing. */
        char *empty[] = {"OUT=", NULL};
        _cleanup_strv_free_ char **argv2 = NULL, **env2 = NULL;
        _cleanup_free_ char *wd2 = NULL;
        tf_step_expand(b, lookup_outputs, empty, &argv2, &env2, &wd2);
        IS_STR(argv2[2], "<>", "an empty output");
        IS_STR(argv2[5], "empty", "${OUT:-empty} with OUT empty");
        IS_STR(env_get(env2, "W"), "xdefy", "an env default");
        char *none[] = {NULL};
        _cleanup_strv_free_ char **argv3 = NULL, **env3 = NULL;
        _cleanup_free_ char *wd3 = NULL;
        tf_step_expand(b, lookup_outputs, none, &argv3, &env3, &wd3);
        IS_STR(argv3[3], "", "an output not produced is empty");
        IS_STR(wd3, "/w/", "working_dir with no output");
}

/* Graphs built by hand for the cycle finder: deps[i] lists the steps step i depends on. */
static void graph(struct tf_step *steps, size_t n, const char *const *deps) {
        memset(steps, 0, n * sizeof(*steps));
        for (size_t i = 0; i < n; i++) {
                steps[i].deps = tf_malloc0(8 * sizeof(size_t));
                for (const char *p = deps[i]; *p; p++)
                        steps[i].deps[steps[i].n_deps++] = (size_t)(*p - 'a');
        }
}

static void graph_free(struct tf_step *steps, size_t n) {
        for (size_t i = 0; i < n; i++)
                free(steps[i].deps);
}

static char *cycle_text(const struct tf_step *steps, size_t n) {
        size_t *cyc = NULL, len = 0;
        if (!spec_steps_cycle(steps, n, &cyc, &len))
                return tf_strdup("none");
        char *t = tf_malloc0(len + 1);
        for (size_t i = 0; i < len; i++)
                t[i] = (char)('a' + cyc[i]);
        free(cyc);
        return t;
}

static void test_cycles(void) {
        static const struct {
                const char *what;
                size_t n;
                const char *deps[6];
                const char *cycle; /* run order, from the earliest step in the document */
        } cases[] = {
                {"diamond", 4, {"", "a", "a", "bc"}, "none"},
                {"chain", 5, {"", "a", "b", "c", "d"}, "none"},
                {"chain written backwards", 4, {"b", "c", "d", ""}, "none"},
                {"self-loop", 2, {"", "bb" + 1}, "b"},
                {"two-step cycle", 2, {"b", "a"}, "ab"},
                {"three-step cycle", 3, {"c", "a", "b"}, "abc"},
                {"cycle after a head", 4, {"", "ad", "b", "c"}, "bcd"},
                {"two cycles: the first one met", 6, {"b", "a", "", "e", "f", "d"}, "ab"},
                {"two cycles, the first reached through another", 5, {"b", "cd", "b", "e", "d"}, "bc"},
        };
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                struct tf_step steps[6];
                graph(steps, cases[i].n, cases[i].deps);
                _cleanup_free_ char *got = cycle_text(steps, cases[i].n);
                IS_STR(got, cases[i].cycle, "cycle finder: %s", cases[i].what);
                struct tf_spec s = {.steps = steps, .n_steps = cases[i].n};
                _cleanup_free_ size_t *order = NULL;
                int r = tf_spec_steps_order(&s, &order);
                IS_INT(r, streq(cases[i].cycle, "none") ? 0 : -EINVAL, "order: %s", cases[i].what);
                /* Every step after its dependencies. */
                bool ok = true;
                for (size_t k = 0; order && k < cases[i].n; k++)
                        for (size_t d = 0; d < steps[order[k]].n_deps; d++) {
                                bool before = false;
                                for (size_t j = 0; j < k; j++)
                                        before = before || order[j] == steps[order[k]].deps[d];
                                ok = ok && before;
                        }
                OK(ok, "order respects dependencies: %s", cases[i].what);
                graph_free(steps, cases[i].n);
        }
        struct tf_step steps[4];
        graph(steps, 4, (const char *const[]){"b", "c", "d", ""});
        struct tf_spec s = {.steps = steps, .n_steps = 4};
        _cleanup_free_ size_t *order = NULL;
        tf_spec_steps_order(&s, &order);
        OK(order && order[0] == 3 && order[1] == 2 && order[2] == 1 && order[3] == 0,
           "a backwards chain runs d, c, b, a");
        graph_free(steps, 4);
        struct tf_spec none = {0};
        _cleanup_free_ size_t *order0 = NULL;
        IS_INT(tf_spec_steps_order(&none, &order0), 0, "no steps: no order");
        OK(!order0, "no steps: NULL");
}

static void test_workflow_errors(void) {
        static const struct {
                const char *yaml, *err;
        } cases[] = {
                /* Two cycles: the one a walk in document order meets first, from its earliest step. */
                {"name: w\nsteps:\n"
                 "  - {name: a, command: [x], depends_on: [b]}\n"
                 "  - {name: b, command: [x], depends_on: [a]}\n"
                 "  - {name: c, command: [x], depends_on: [d]}\n"
                 "  - {name: d, command: [x], depends_on: [c]}\n",
                 "3:5: steps: a cycle: a -> b -> a (each step depends on the one before it); expected a "
                 "graph "
                 "without cycles: drop one of these depends_on"},
                {"name: w\nsteps:\n"
                 "  - {name: head, command: [x]}\n"
                 "  - {name: x, command: [x], depends_on: [head, z]}\n"
                 "  - {name: y, command: [x], depends_on: [x]}\n"
                 "  - {name: z, command: [x], depends_on: [y]}\n",
                 "4:5: steps: a cycle: x -> y -> z -> x (each step depends on the one before it); expected "
                 "a "
                 "graph without cycles: drop one of these depends_on"},
                {"name: w\nsteps:\n  - {name: a, command: [x], depends_on: [b, b]}\n  - {name: b, command: "
                 "[x]}\n",
                 "3:45: steps[0].depends_on[1]: 'b' is listed twice; expected each step once"},
                /* Unknown keys are found in the first pass, before the graph. */
                {"name: w\nsteps:\n  - {name: a, command: ['${X}'], depend_on: [b]}\n",
                 "3:34: steps[0].depend_on: unknown key; did you mean 'depends_on'?"},
                /* Environment variables are fine; outputs of a step depended on through another too. */
                {"name: w\nsteps:\n  - {name: a, command: [x], output: A}\n"
                 "  - {name: b, command: [x], depends_on: [a]}\n"
                 "  - {name: c, command: ['${A}', '${TF_TEST_SET}', '${B}'], depends_on: [b]}\n",
                 "5:51: steps[2].command[2]: ${B} is neither the output of a step this step depends on nor "
                 "set "
                 "in the environment; expected a step with output: B in depends_on, B set in the "
                 "environment, "
                 "or $${B} for the text"},
                {"name: w\nsteps:\n  - {name: a, command: [x], working_dir: 'relative/${TF_TEST_SET}'}\n",
                 "3:42: steps[0].working_dir: 'relative/${TF_TEST_SET}' is relative; expected an absolute "
                 "path (e.g. "
                 "/srv/app)"},
                {"name: w\nenv: {A: '${NO_SUCH}'}\nsteps:\n  - {name: a, command: [x], output: NO_SUCH}\n",
                 "2:10: env.A: ${NO_SUCH} is not set in the environment; expected it set, or a default: "
                 "${NO_SUCH:-value}"},
                {"name: w\nsteps:\n  - {name: a, command: [x], continue_on: {failure: yes}}\n",
                 "3:52: steps[0].continue_on.failure: 'yes' is not a boolean; expected true or false"},
        };
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                _cleanup_free_ char *e = load_err(cases[i].yaml);
                IS_STR(e, cases[i].err, "workflow error %zu", i);
        }
        /* The top level's command keeps its $ as written: only steps take ${NAME}. */
        _cleanup_spec_ struct tf_spec *s = load_buf("command: [echo, '${NOT_EXPANDED}']\n");
        if (s)
                IS_STR(s->argv[1], "${NOT_EXPANDED}", "a service's command is not interpolated");
        _cleanup_spec_ struct tf_spec *w =
                load_buf("name: w\nsteps:\n  - {name: a, command: [x], output: D}\n"
                         "  - {name: b, command: [x], working_dir: '${D}/x', depends_on: [a]}\n");
        if (w)
                IS_STR(w->steps[1].spec->working_dir, "${D}/x",
                       "a working_dir that starts with an output is "
                       "checked when it is known");
        if (w)
                IS_INT(w->max_parallel, TF_UNSET,
                       "a workflow without max_parallel: TF_UNSET, like every optional number");
}

/* notify: what each key fills, the defaults, the secret read at load, the notifier command's spec. */
static void test_notify(void) {
        char dir[] = "/tmp/tfrun-test-notify-XXXXXX";
        if (!OK(mkdtemp(dir) != NULL, "notify: a temporary directory"))
                return;
        _cleanup_free_ char *sec = tf_asprintf("%s/hook.secret", dir);
        FILE *f = fopen(sec, "w");
        fputs("s3cret\n", f);
        fclose(f);
        chmod(sec, 0600);
        _cleanup_free_ char *y = tf_asprintf("name: n\ncommand: [true]\nschedule: {every: 1h}\nnotify:\n"
                                             "  on: [failure, missed, stale, recovery]\n"
                                             "  missed: {grace: 5m}\n  stale: 2h\n"
                                             "  webhook: {url: 'http://127.0.0.1:9000/h', secret_file: %s, "
                                             "attempts: 3, timeout: 2s}\n"
                                             "  command: [page-me, --now]\n  command_timeout: 30s\n",
                                             sec);
        struct tf_spec *s = load_buf(y);
        if (s) {
                const struct tf_notify *n = &s->notify;
                OK(n->present, "notify: present");
                IS_INT(n->on, TF_ALERT_BIT(TF_ALERT_FAILURE) | TF_ALERT_BIT(TF_ALERT_MISSED) |
                                      TF_ALERT_BIT(TF_ALERT_STALE) | TF_ALERT_BIT(TF_ALERT_RECOVERY),
                       "notify.on: the four listed");
                OK(n->missed_grace_usec == 5 * 60 * TF_USEC_PER_SEC, "notify.missed.grace: 5m");
                OK(n->stale_usec == 2 * 3600 * TF_USEC_PER_SEC, "notify.stale: 2h");
                IS_STR(n->webhook.url, "http://127.0.0.1:9000/h", "notify.webhook.url");
                IS_STR(n->webhook.secret_file, sec, "notify.webhook.secret_file: absolute");
                OK(n->webhook.secret_len == 6 && memcmp(n->webhook.secret, "s3cret", 6) == 0,
                   "the secret is read at load, without its newline");
                IS_INT(n->webhook.attempts, 3, "notify.webhook.attempts");
                OK(n->webhook.timeout_usec == 2 * TF_USEC_PER_SEC, "notify.webhook.timeout");
                IS_STR(n->argv[1], "--now", "notify.command");
                struct tf_spec *c = NULL;
                tf_spec_notify_command(s, n, &c);
                IS_STR(c->name, "n.notify", "the notifier's spec: its name");
                IS_STR(c->argv[0], "page-me", "  its command");
                OK(c->timeout_usec == 30 * TF_USEC_PER_SEC, "  its timeout: command_timeout");
                OK(c->limits.memory == (uint64_t)256 << 20 && c->limits.pids == 64, "  its limits");
                OK(c->resolved_backend == TF_BACKEND_NATIVE && !c->schedule.present, "  native, unscheduled");
                tf_spec_free(c);
                tf_spec_free(s);
        }
        s = load_buf("name: d\ncommand: [true]\nschedule: {every: 1h}\n"
                     "notify: {missed: {grace: 10s}, command: [x]}\n");
        if (s) {
                IS_INT(s->notify.on, TF_ALERT_BIT(TF_ALERT_FAILURE) | TF_ALERT_BIT(TF_ALERT_MISSED),
                       "notify.on by default: failure, and missed with missed:");
                OK(!s->notify.webhook.url && s->notify.webhook.attempts == TF_NOTIFY_ATTEMPTS_DEFAULT,
                   "no webhook; the attempts default");
                OK(s->notify.stale_usec == TF_UNSET, "no stale");
                tf_spec_free(s);
        }
        s = load_buf("name: e\ncommand: [true]\n");
        if (s) {
                OK(!s->notify.present, "no notify: not present (the manager's default applies)");
                tf_spec_free(s);
        }
        IS_STR(tf_alert_name(TF_ALERT_RECOVERY), "recovery", "tf_alert_name");
        OK(tf_alert_name(TF_ALERT_N) == NULL, "tf_alert_name outside the enum");
        unlink(sec);
        rmdir(dir);
}

int main(int argc, char **argv) {
        if (argc == 3 && streq(argv[1], "--bad"))
                return run_bad(argv[2]);
        if (argc != 3 || !streq(argv[1], "--good")) {
                fprintf(stderr, "usage: test-spec --good DIR | --bad DIR\n");
                return 2;
        }
        char *dir = realpath(argv[2], NULL);
        if (!dir) {
                OK(0, "realpath %s", argv[2]);
                return tap_done();
        }
        good_dir = dir;
        test_full();
        test_minimal();
        test_image_only();
        test_scheduled();
        test_values();
        test_env();
        test_errors_inline();
        test_command_operators_quoted();
        test_name_default();
        test_files();
        test_names();
        test_limit_facts();
        test_workflow();
        test_workflow_diamond();
        test_step_expand();
        test_cycles();
        test_workflow_errors();
        test_notify();
        free(dir);
        return tap_done();
}
