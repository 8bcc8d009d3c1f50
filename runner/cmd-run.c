/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/strutil.h"
#include "runner/commands.h"
#include "runner/runner.h"
#include "runner/supervise.h"
#include "runner/fireplan.h"
#include "base/timeutil.h"
#include "base/parse.h"
#ifdef TF_HAVE_SCHEDULE
#include "schedule/schedule.h"
#endif
#include "spec/spec.h"

static void usage_run(FILE *f) {
        fputs("Usage: tfrun [run] [OPTIONS] FILE\n"
              "\n"
              "Run the service described by FILE now, with its limits, and exit with its status.\n"
              "With a schedule: stay in the foreground and run it at each fire time.\n"
              "\n"
              "Options:\n"
              "  --json                 print the run's summary as a JSON object on stdout\n"
              "  -q, --quiet            no summary line on stderr\n"
              "  --cgroup-parent PATH   create the service's cgroup below PATH (default: tfrun's own cgroup)\n"
              "  --now                  run once now, even if the spec has a schedule\n"
              "  --state-dir DIR        where persistent schedules keep their state\n"
              "                         (default /var/lib/tfrun as root, else $XDG_STATE_HOME/tfrun)\n"
              "  -h, --help             show this help\n",
              f);
}

static int load(const char *path, struct tf_spec **ret) {
        _cleanup_error_ tf_error *e = NULL;
        if (tf_spec_load(path, NULL, ret, &e) < 0) {
                tf_log("%s", e->msg);
                return -1;
        }
        return 0;
}

int tf_cmd_run(int argc, char **argv) {
        static const struct option longopts[] = {
                { "json", no_argument, NULL, 'j' },          { "quiet", no_argument, NULL, 'q' },
                { "cgroup-parent", required_argument, NULL, 'p' }, { "now", no_argument, NULL, 'n' },
                { "state-dir", required_argument, NULL, 's' },
                { "help", no_argument, NULL, 'h' },          {},
        };
        struct tf_run_options opts = {};
        bool now = false;
        const char *state_dir = NULL;
        int c;
        optind = 1;
        while ((c = getopt_long(argc, argv, "+qh", longopts, NULL)) >= 0) {
                switch (c) {
                case 'j':
                        opts.json = true;
                        break;
                case 'q':
                        opts.quiet = true;
                        break;
                case 'p':
                        opts.cgroup_parent = optarg;
                        break;
                case 'n':
                        now = true;
                        break;
                case 's':
                        state_dir = optarg;
                        break;
                case 'h':
                        usage_run(stdout);
                        return 0;
                default:
                        usage_run(stderr);
                        return 125;
                }
        }
        if (optind != argc - 1) {
                tf_log("run: expected exactly one spec file (see tfrun run --help)");
                return 125;
        }

        _cleanup_spec_ struct tf_spec *spec = NULL;
        if (load(argv[optind], &spec) < 0)
                return 125;

        struct tf_supervise_options so = {
                .run = opts,
                .spec_path = argv[optind],
                .resident = spec->schedule.present && !now,
                .state_dir = state_dir,
        };
        return tf_supervise(TAKE_PTR(spec), &so);
}

int tf_cmd_validate(int argc, char **argv) {
        if (argc < 2 || streq(argv[1], "-h") || streq(argv[1], "--help")) {
                fputs("Usage: tfrun validate FILE...\n\nCheck spec files without running anything.\n",
                      argc < 2 ? stderr : stdout);
                return argc < 2 ? 125 : 0;
        }
        int status = 0;
        for (int i = 1; i < argc; i++) {
                _cleanup_spec_ struct tf_spec *spec = NULL;
                if (load(argv[i], &spec) < 0) {
                        status = 125;
                        continue;
                }
                if (spec->schedule.present) {
                        _cleanup_error_ tf_error *e = NULL;
                        struct tf_fire_plan *plan = NULL;
                        if (tf_fire_plan_new(spec, tf_now(CLOCK_REALTIME), &plan, &e) < 0) {
                                tf_log("%s", e->msg);
                                status = 125;
                                continue;
                        }
                        tf_fire_plan_free(plan);
                }
                printf("%s: ok (service %s, backend %s)\n", argv[i], spec->name,
                       tf_backend_name(spec->resolved_backend));
        }
        return status;
}

int tf_cmd_next(int argc, char **argv) {
        uint64_t n = 10;
        const char *path = NULL;
        for (int i = 1; i < argc; i++) {
                if ((streq(argv[i], "-n") || streq(argv[i], "--iterations")) && i + 1 < argc) {
                        if (tf_parse_u64(argv[++i], &n) < 0 || n == 0 || n > 100000) {
                                tf_log("next: -n takes a number from 1 to 100000, not '%s'", argv[i]);
                                return 125;
                        }
                } else if (streq(argv[i], "-h") || streq(argv[i], "--help")) {
                        puts("Usage: tfrun next [-n N] FILE\n\nList the next N (default 10) fire times of a spec's "
                             "whole schedule (calendar, cron and every:), merged.");
                        return 0;
                } else if (!path)
                        path = argv[i];
                else {
                        tf_log("next: expected one spec file");
                        return 125;
                }
        }
        if (!path) {
                tf_log("next: expected a spec file (see tfrun next --help)");
                return 125;
        }
        _cleanup_spec_ struct tf_spec *spec = NULL;
        if (load(path, &spec) < 0)
                return 125;
        if (!spec->schedule.present) {
                tf_log("%s: has no schedule", path);
                return 125;
        }
        _cleanup_error_ tf_error *e = NULL;
        struct tf_fire_plan *plan = NULL;
        uint64_t t = tf_now(CLOCK_REALTIME);
        if (tf_fire_plan_new(spec, t, &plan, &e) < 0) {
                tf_log("%s", e->msg);
                return 125;
        }
        if (tf_fire_plan_has_reboot(plan))
                puts("@reboot (at start)");
        for (uint64_t i = 0; i < n; i++) {
                if (tf_fire_plan_next(plan, t, &t) < 0)
                        break;
                char buf[96];
#ifdef TF_HAVE_SCHEDULE
                tf_sched_format_timestamp(buf, sizeof(buf), t, tf_tz_local(), false);
#else
                time_t s = (time_t) (t / 1000000);
                struct tm tm;
                strftime(buf, sizeof(buf), "%a %Y-%m-%d %H:%M:%S %Z", localtime_r(&s, &tm));
#endif
                puts(buf);
        }
        tf_fire_plan_free(plan);
        return 0;
}
