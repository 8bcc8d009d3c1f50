/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <jansson.h>
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
#include "runner/outlog.h"
#include "runner/runner.h"
#include "runner/supervise.h"
#include "runner/fireplan.h"
#include "runner/pathwatch.h"
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
              "  --json                 print the run's summary as a JSON object on stdout (after the\n"
              "                         service's own output: see --json-file for a clean channel)\n"
              "  --json-file FILE       write the run's result object to FILE (atomically), also for\n"
              "                         status 125; resident: after every run\n"
              "  -q, --quiet            no summary line on stderr\n"
              "  --cgroup-parent PATH   create the service's cgroup below PATH (default: tfrun's own cgroup)\n"
              "  --now                  run once now, even if the spec has a schedule\n"
              "  --log-dir DIR          keep each run's output in DIR/SERVICE/RUN_ID.log as well\n"
              "                         (timestamped lines, capped; see docs/running.md)\n"
              "  --log-max SIZE         the cap of each such log (default 10M)\n"
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

/* A schedule with no future fire time (calendar dates in the past, say) would sit idle forever: refuse
 * it, in `validate` as in `run`. @reboot fires once at start and needs no future. */
static int check_schedule(const struct tf_spec *spec, tf_error **err) {
        if (!spec->schedule.present)
                return 0;
        struct tf_fire_plan *plan = NULL;
        uint64_t now = tf_now(CLOCK_REALTIME), next;
        int r = tf_fire_plan_new(spec, now, &plan, err);
        if (r < 0)
                return r;
        /* A path trigger alone is a schedule that waits for the file system. */
        if (!tf_fire_plan_has_reboot(plan) && spec->schedule.n_paths == 0 && tf_fire_plan_next(plan, now, &next) < 0) {
                _cleanup_free_ char *w = tf_spec_where(spec, spec->schedule.pos);
                r = tf_error_set(err, EINVAL,
                                 "%s: schedule: no fire time after now: this schedule can never fire "
                                 "(check the years of the calendar expressions; `tfrun next FILE` lists fire times)",
                                 w);
        }
        tf_fire_plan_free(plan);
        return r;
}

/* Status 125 before any run: the same result object a run would have given, for --json and --json-file. */
static void report_failure(const struct tf_run_options *o, const char *service, enum tf_run_reason reason,
                           const char *msg) {
        if (!o->json && !o->json_file)
                return;
        struct tf_run_result res;
        tf_run_result_init(&res);
        res.exit_status = 125;
        res.reason = reason;
        res.error = (char *) msg;
        json_t *obj = tf_run_result_json(service, NULL, NULL, &res);
        json_object_set_new(obj, "state", json_string("failed"));
        tf_run_emit_json(o, obj);
}

int tf_cmd_run(int argc, char **argv) {
        static const struct option longopts[] = {
                { "json", no_argument, NULL, 'j' },          { "quiet", no_argument, NULL, 'q' },
                { "cgroup-parent", required_argument, NULL, 'p' }, { "now", no_argument, NULL, 'n' },
                { "state-dir", required_argument, NULL, 's' }, { "json-file", required_argument, NULL, 'J' },
                { "log-dir", required_argument, NULL, 'L' }, { "log-max", required_argument, NULL, 'M' },
                { "help", no_argument, NULL, 'h' },          {},
        };
        struct tf_run_options opts = {};
        /* --log-dir: the terminal keeps seeing the output as it is (echo_raw); the log has it as lines. */
        struct tf_outlog_options log = { .echo_raw = true };
        bool now = false;
        const char *state_dir = NULL;
        int c;
        optind = 1;
        opterr = 0;
        while ((c = getopt_long(argc, argv, "+:qh", longopts, NULL)) >= 0) {
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
                case 'J':
                        opts.json_file = optarg;
                        break;
                case 'L':
                        log.dir = optarg;
                        break;
                case 'M':
                        if (tf_parse_size(optarg, &log.max_bytes) < 0 || log.max_bytes < 1024) {
                                tf_log("run: --log-max takes a size of at least 1K (10M, 512K, 1G), "
                                       "not '%s'", optarg);
                                return 125;
                        }
                        break;
                case 'h':
                        usage_run(stdout);
                        return 0;
                default:
                        if (c == ':')
                                tf_log("run: option '%s' needs a value; see `tfrun run --help`", argv[optind - 1]);
                        else if (optopt)
                                tf_log("run: unknown option '-%c'; see `tfrun run --help` for the options", optopt);
                        else
                                tf_log("run: unknown option '%s'; see `tfrun run --help` for the options",
                                       argv[optind - 1]);
                        return 125;
                }
        }
        if (optind != argc - 1) {
                tf_log("run: expected exactly one spec file (see tfrun run --help)");
                return 125;
        }
        if (log.max_bytes && !log.dir) {
                tf_log("run: --log-max needs --log-dir");
                return 125;
        }
        if (log.dir)
                opts.log = &log;

        _cleanup_spec_ struct tf_spec *spec = NULL;
        _cleanup_error_ tf_error *e = NULL;
        if (tf_spec_load(argv[optind], NULL, &spec, &e) < 0) {
                tf_log("%s", e->msg);
                report_failure(&opts, NULL, TF_REASON_INVALID_SPEC, e->msg);
                return 125;
        }
        if (spec->schedule.present && !now && check_schedule(spec, &e) < 0) {
                tf_log("%s", e->msg);
                report_failure(&opts, spec->name, TF_REASON_INVALID_SPEC, e->msg);
                return 125;
        }

        struct tf_supervise_options so = {
                .run = opts,
                .spec_path = argv[optind],
                .resident = spec->schedule.present && !now,
                .state_dir = state_dir,
        };
        return tf_supervise(TAKE_PTR(spec), &so);
}

/* A service's backend checks; a workflow's are its steps' and handlers' (each a spec of its own) and its
 * cgroup's (runner/workflow.c). */
static int check_spec_or_steps(struct tf_run_ctx *ctx, const struct tf_spec *spec,
                               const struct tf_run_options *ro, tf_error **err) {
        return tf_run_check(ctx, spec, ro, err);
}

int tf_cmd_validate(int argc, char **argv) {
        if (argc < 2 || streq(argv[1], "-h") || streq(argv[1], "--help")) {
                fputs("Usage: tfrun validate FILE...\n\nCheck spec files without running anything: the spec, its\n"
                      "schedule, and everything tfrun checks before it starts a run (limits this host and the\n"
                      "backend can honour, the sandbox, the container body).\n",
                      argc < 2 ? stderr : stdout);
                return argc < 2 ? 125 : 0;
        }
        int status = 0;
        /* A loop is needed only as the context's; nothing is dispatched. */
        struct tf_loop *loop = NULL;
        _cleanup_error_ tf_error *le = NULL;
        if (tf_loop_new(&loop, &le) < 0) {
                tf_log("%s", le->msg);
                return 125;
        }
        struct tf_run_ctx ctx;
        tf_run_ctx_init(&ctx, loop);
        struct tf_run_options ro = {};
        for (int i = 1; i < argc; i++) {
                _cleanup_spec_ struct tf_spec *spec = NULL;
                _cleanup_error_ tf_error *e = NULL;
                if (load(argv[i], &spec) < 0) {
                        status = 125;
                        continue;
                }
                if (check_schedule(spec, &e) < 0 || check_spec_or_steps(&ctx, spec, &ro, &e) < 0) {
                        tf_log("%s", e->msg);
                        status = 125;
                        continue;
                }
                if (spec->n_steps > 0)
                        printf("%s: ok (workflow %s, %zu steps)\n", argv[i], spec->name, spec->n_steps);
                else
                        printf("%s: ok (service %s, backend %s)\n", argv[i], spec->name,
                               tf_backend_name(spec->resolved_backend));
        }
        tf_run_ctx_done(&ctx);
        tf_loop_free(loop);
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
        for (size_t i = 0; i < spec->schedule.n_paths; i++)
                printf("path: %s %s (when it happens)\n", tf_path_kind_name(spec->schedule.paths[i].kind),
                       spec->schedule.paths[i].path);
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
