/* SPDX-License-Identifier: MIT */
/*
 * The verbs that ask a running manager: each is one request (two for `logs NAME`) to the control API and a
 * table for people or the answer itself with --json. Every failure, bad input included, exits 125 with one
 * line saying what to do.
 */
#include "manager/verbs.h"

#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/parse.h"
#include "base/strutil.h"
#include "base/timeutil.h"
#include "manager/client.h"
#include "runner/log.h"
#include "runner/runner.h"

#define TIMEOUT_MS 30000

struct verb_opts {
        const char *verb;
        const char *socket_opt;
        bool json;
        bool follow;
        const char *status;
        const char *since;
        const char *lines;
        const char *role, *services; /* token create */
        const char *step;            /* logs --step */
        const char *from;            /* retry --from */
        char *socket;
        int argc;
        char **argv; /* the operands */
};

static void usage(FILE *f, const char *verb) {
        static const struct {
                const char *verb, *args, *what;
        } verbs[] = {
                { "ps", "", "every service: state, last result, next fire" },
                { "status", "NAME", "one service: its spec, state, last runs and next fires" },
                { "trigger", "NAME", "run it now (as a fire would, under its overlap policy); prints the run id" },
                { "stop", "NAME", "stop its running runs per its `stop:`" },
                { "enable", "NAME", "fire on its schedule again" },
                { "disable", "NAME", "no more fires (kept across restarts); a running run goes on" },
                { "reload", "", "re-read the manager's settings (--config) and directory" },
                { "queue", "", "runs waiting for admission (--config): position, priority, why each waits" },
                { "history", "[NAME] [--status S] [--since DURATION] [-n N]", "past runs, newest first" },
                { "logs", "NAME|RUN_ID [-f] [-n N] [--step STEP]",
                  "a run's output (NAME: its newest run; --step: one step's of a workflow run)" },
                { "retry", "RUN_ID [--from STEP]",
                  "a new run of that run's service, linked to it; a workflow reruns its failed and skipped "
                  "steps (or STEP and what follows it) and reuses the others' outputs; prints the run id" },
                { "token", "create NAME --role read|operate|admin [--services a,b]",
                  "a bearer token for `tfrun up --listen`: printed once, alone; only its hash is kept" },
                { "token", "list", "the tokens: name, role, services, created, last used (never a token)" },
                { "token", "revoke NAME", "the token stops working at once" },
        };
        for (size_t i = 0; i < ELEMENTSOF(verbs); i++)
                if (!verb || streq(verb, verbs[i].verb))
                        fprintf(f, "Usage: tfrun %s %s%s[--json] [--socket PATH]\n  %s\n", verbs[i].verb,
                                verbs[i].args, *verbs[i].args ? " " : "", verbs[i].what);
}

static int parse(int argc, char **argv, struct verb_opts *o) {
        static const struct option longopts[] = {
                { "json", no_argument, NULL, 'j' },          { "socket", required_argument, NULL, 'S' },
                { "follow", no_argument, NULL, 'f' },        { "status", required_argument, NULL, 's' },
                { "since", required_argument, NULL, 'd' },   { "lines", required_argument, NULL, 'n' },
                { "help", no_argument, NULL, 'h' },          { "role", required_argument, NULL, 'r' },
                { "services", required_argument, NULL, 'v' }, { "step", required_argument, NULL, 'P' },
                { "from", required_argument, NULL, 'F' },     {},
        };
        bool is_logs = streq(o->verb, "logs"), is_history = streq(o->verb, "history"),
             is_token = streq(o->verb, "token"), is_retry = streq(o->verb, "retry");
        int c;
        optind = 1;
        opterr = 0;
        /* An option of another verb that takes a value: getopt has moved past its value, which is what
         * argv[optind - 1] holds then ("--step a": "a"). */
#define OTHER_VERBS_OPTION()                                                                                \
        do {                                                                                                \
                bad = optarg == argv[optind - 1] && optind >= 2 ? argv[optind - 2] : argv[optind - 1];      \
                goto unknown;                                                                               \
        } while (0)
        const char *bad = NULL;
        while ((c = getopt_long(argc, argv, ":fn:h", longopts, NULL)) >= 0) {
                switch (c) {
                case 'j':
                        o->json = true;
                        break;
                case 'S':
                        o->socket_opt = optarg;
                        break;
                case 'f':
                        if (!is_logs)
                                goto unknown;
                        o->follow = true;
                        break;
                case 's':
                case 'd':
                        if (!is_history)
                                OTHER_VERBS_OPTION();
                        *(c == 's' ? &o->status : &o->since) = optarg;
                        break;
                case 'n':
                        if (!is_logs && !is_history)
                                OTHER_VERBS_OPTION();
                        o->lines = optarg;
                        break;
                case 'r':
                case 'v':
                        if (!is_token)
                                OTHER_VERBS_OPTION();
                        *(c == 'r' ? &o->role : &o->services) = optarg;
                        break;
                case 'P':
                        if (!is_logs)
                                OTHER_VERBS_OPTION();
                        o->step = optarg;
                        break;
                case 'F':
                        if (!is_retry)
                                OTHER_VERBS_OPTION();
                        o->from = optarg;
                        break;
                case 'h':
                        usage(stdout, o->verb);
                        return 0;
                case ':':
                        tf_log("%s: option '%s' needs a value; see `tfrun %s --help`", o->verb, argv[optind - 1],
                               o->verb);
                        return -EINVAL;
                default:
                unknown:
                        tf_log("%s: unknown option '%s'; its options: %s--json, --socket PATH, --help", o->verb,
                               bad ? bad : argv[optind - 1],
                               is_logs      ? "-f, -n N, --step STEP, "
                               : is_history ? "--status S, --since DURATION, -n N, "
                               : is_token   ? "--role ROLE, --services a,b, "
                               : is_retry   ? "--from STEP, "
                                            : "");
                        return -EINVAL;
                }
        }
        o->argc = argc - optind;
        o->argv = argv + optind;
#undef OTHER_VERBS_OPTION
        return 1;
}

/* NAME operand: exactly one, and a valid name (the API says so too; saying it here names the operand). */
static int one_name(const struct verb_opts *o, const char *what) {
        if (o->argc != 1) {
                tf_log("%s: expected one %s, got %d (see `tfrun %s --help`)", o->verb, what, o->argc, o->verb);
                return -EINVAL;
        }
        return 0;
}

static int request(struct verb_opts *o, const char *method, const char *path, json_t **ret) {
        _cleanup_error_ tf_error *e = NULL;
        long status = 0;
        json_t *body = NULL;
        if (tf_api_request(o->socket, method, path, NULL, TIMEOUT_MS, &status, &body, &e) < 0) {
                tf_log("%s: %s", o->verb, e->msg);
                return -EIO;
        }
        if (status >= 400) {
                const char *msg = tf_api_error_message(body);
                tf_log("%s: %s", o->verb, msg ? msg : "the manager answered an error");
                json_decref(body);
                return -EPROTO;
        }
        *ret = body;
        return 0;
}

static void print_json(json_t *v) {
        char *s = json_dumps(v, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
        if (s)
                printf("%s\n", s);
        free(s);
}

static const char *str(json_t *o, const char *key) {
        const char *s = json_string_value(json_object_get(o, key));
        return s ? s : "-";
}

/* "2026-12-01 22:47:08" from an ISO UTC string (the table's width; the zone is said in the header). */
static const char *short_time(const char *iso, char *buf, size_t len) {
        if (!iso || strlen(iso) < 19)
                return "-";
        snprintf(buf, len, "%.10s %.8s", iso, iso + 11);
        return buf;
}

static const char *left(json_t *usec, char *buf, size_t len) {
        if (!json_is_integer(usec))
                return "-";
        uint64_t t = (uint64_t) json_integer_value(usec), now = tf_now(CLOCK_REALTIME);
        if (t <= now)
                return "now";
        /* systemctl list-timers rounds to seconds */
        return tf_format_duration(buf, len, (t - now) / TF_USEC_PER_SEC * TF_USEC_PER_SEC);
}

static const char *result_of(json_t *last, char *buf, size_t len) {
        if (!json_is_object(last))
                return "-";
        const char *w = str(last, "result");
        json_t *code = json_object_get(last, "exit_code");
        if (streq(w, "failure") && json_is_integer(code))
                snprintf(buf, len, "failure (%" JSON_INTEGER_FORMAT ")", json_integer_value(code));
        else if (streq(w, "failure") && json_is_string(json_object_get(last, "signal")))
                snprintf(buf, len, "failure (%s)", str(last, "signal"));
        else
                snprintf(buf, len, "%s", w);
        return buf;
}

static const char *size_text(json_t *v, char *buf, size_t len) {
        if (!json_is_integer(v))
                return "-";
        return tf_format_size(buf, len, (uint64_t) json_integer_value(v));
}

/* "budget: memory 128M held, 96M used of 256M; cpus 0.50 held of 1.50; pids 3 of 100; 2 runs, 1 waiting" */
static void print_budget(json_t *b) {
        if (!json_is_object(b))
                return;
        json_t *lim = json_object_get(b, "limits"), *use = json_object_get(b, "usage"), *held = json_object_get(b, "held");
        char x[32], y[32], z[32];
        printf("budget: memory %s held, %s used of %s", size_text(json_object_get(held, "memory"), x, sizeof(x)),
               size_text(json_object_get(use, "memory"), y, sizeof(y)),
               json_is_integer(json_object_get(lim, "memory")) ? size_text(json_object_get(lim, "memory"), z, sizeof(z))
                                                              : "no limit");
        if (json_is_number(json_object_get(lim, "cpus")))
                printf("; cpus %.2f held of %.2f", json_number_value(json_object_get(held, "cpus")),
                       json_number_value(json_object_get(lim, "cpus")));
        if (json_is_integer(json_object_get(lim, "pids")))
                printf("; pids %" JSON_INTEGER_FORMAT " of %" JSON_INTEGER_FORMAT,
                       json_integer_value(json_object_get(use, "pids")), json_integer_value(json_object_get(lim, "pids")));
        printf("; %" JSON_INTEGER_FORMAT " running, %" JSON_INTEGER_FORMAT " waiting\n",
               json_integer_value(json_object_get(held, "runs")), json_integer_value(json_object_get(b, "waiting")));
}

static int verb_queue(struct verb_opts *o) {
        json_t *body = NULL;
        if (o->argc != 0) {
                tf_log("queue: takes no operands, got '%s'", o->argv[0]);
                return 125;
        }
        if (request(o, "GET", "/api/v1/queue", &body) < 0)
                return 125;
        if (o->json) {
                print_json(body);
                json_decref(body);
                return 0;
        }
        json_t *a = json_object_get(body, "waiting"), *w;
        size_t i;
        printf("%-4s %-24s %-12s %-8s %-9s %-12s %s\n", "POS", "SERVICE", "QUEUE", "PRIORITY", "WAITING", "REASON",
               "DETAIL");
        json_array_foreach(a, i, w) {
                char d[32];
                tf_format_duration_short(d, sizeof(d),
                                         (uint64_t) (json_number_value(json_object_get(w, "waiting_seconds")) * 1e6));
                printf("%-4" JSON_INTEGER_FORMAT " %-24s %-12s %-8" JSON_INTEGER_FORMAT " %-9s %-12s %s\n",
                       json_integer_value(json_object_get(w, "position")), str(w, "service"), str(w, "queue"),
                       json_integer_value(json_object_get(w, "priority")), d, str(w, "reason"), str(w, "detail"));
        }
        json_decref(body);
        return 0;
}

static int verb_ps(struct verb_opts *o) {
        json_t *body = NULL;
        if (o->argc != 0) {
                tf_log("ps: takes no operands, got '%s' (see `tfrun status NAME` for one service)", o->argv[0]);
                return 125;
        }
        if (request(o, "GET", "/api/v1/services", &body) < 0)
                return 125;
        if (o->json) {
                print_json(body);
                json_decref(body);
                return 0;
        }
        json_t *a = json_object_get(body, "services"), *s;
        size_t i;
        printf("%-24s %-7s %-9s %-20s %-14s %-20s %s\n", "NAME", "BACKEND", "STATE", "LAST (UTC)", "RESULT",
               "NEXT (UTC)", "LEFT");
        json_array_foreach(a, i, s) {
                char t1[32], t2[32], r[48], l[48];
                json_t *last = json_object_get(s, "last");
                const char *name = json_is_string(json_object_get(s, "name")) ? str(s, "name") : str(s, "file");
                printf("%-24s %-7s %-9s %-20s %-14s %-20s %s\n", name, str(s, "backend"), str(s, "state"),
                       short_time(json_is_object(last) ? json_string_value(json_object_get(last, "ended")) : NULL,
                                  t1, sizeof(t1)),
                       result_of(last, r, sizeof(r)),
                       short_time(json_string_value(json_object_get(s, "next")), t2, sizeof(t2)),
                       left(json_object_get(s, "next_usec"), l, sizeof(l)));
                if (json_is_string(json_object_get(s, "error")))
                        printf("  error: %s\n", str(s, "error"));
        }
        print_budget(json_object_get(body, "budget"));
        json_decref(body);
        return 0;
}

static void print_run_row(json_t *r) {
        char t[32], d[32] = "-";
        json_t *st = json_object_get(r, "started_usec"), *en = json_object_get(r, "ended_usec");
        if (json_is_integer(st) && json_is_integer(en))
                tf_format_duration_short(d, sizeof(d),
                                         (uint64_t) (json_integer_value(en) - json_integer_value(st)));
        json_t *code = json_object_get(r, "exit_code");
        char c[16] = "-";
        if (json_is_integer(code))
                snprintf(c, sizeof(c), "%" JSON_INTEGER_FORMAT, json_integer_value(code));
        printf("%-36s %-20s %-9s %-20s %-9s %-10s %s\n", str(r, "run_id"), str(r, "service"), str(r, "trigger"),
               short_time(json_string_value(json_object_get(r, "started")), t, sizeof(t)), d, str(r, "status"), c);
}

/* A workflow run's steps under its row, in the same columns (and what it retries). */
static void print_run_steps(json_t *r) {
        if (json_is_string(json_object_get(r, "retry_of")))
                printf("  retry of %s\n", str(r, "retry_of"));
        json_t *steps = json_object_get(r, "steps"), *st;
        size_t i;
        json_array_foreach(steps, i, st) {
                char t[32], d[32] = "-", c[16] = "-";
                json_t *b = json_object_get(st, "started_usec"), *en = json_object_get(st, "ended_usec"),
                       *code = json_object_get(st, "exit_code");
                bool ran = !streq(str(st, "status"), "skipped") && !streq(str(st, "status"), "reused");
                if (ran && json_is_integer(b) && json_is_integer(en))
                        tf_format_duration_short(d, sizeof(d),
                                                 (uint64_t) (json_integer_value(en) - json_integer_value(b)));
                if (json_is_integer(code))
                        snprintf(c, sizeof(c), "%" JSON_INTEGER_FORMAT, json_integer_value(code));
                _cleanup_free_ char *name = tf_asprintf("  step %s", str(st, "name"));
                const char *why = json_string_value(json_object_get(st, "why"));
                printf("%-36s %-20s %-9s %-20s %-9s %-10s %s%s%s\n", name, "", "",
                       ran ? short_time(json_string_value(json_object_get(st, "started")), t, sizeof(t)) : "-", d,
                       str(st, "status"), c, why ? "  " : "", why ? why : "");
        }
}

static void print_run_header(void) {
        printf("%-36s %-20s %-9s %-20s %-9s %-10s %s\n", "RUN", "SERVICE", "TRIGGER", "STARTED (UTC)", "DURATION",
               "STATUS", "EXIT");
}

static int verb_status(struct verb_opts *o) {
        if (one_name(o, "service name") < 0)
                return 125;
        _cleanup_free_ char *esc = tf_api_escape(o->argv[0]);
        _cleanup_free_ char *path = tf_asprintf("/api/v1/services/%s", esc);
        json_t *s = NULL;
        if (request(o, "GET", path, &s) < 0)
                return 125;
        if (o->json) {
                print_json(s);
                json_decref(s);
                return 0;
        }
        char r[48];
        printf("%s - %s\n", o->argv[0], str(s, "file"));
        printf("     State: %s%s\n", str(s, "state"),
               json_is_false(json_object_get(s, "enabled")) ? " (disabled)" : "");
        if (json_is_string(json_object_get(s, "error")))
                printf("     Error: %s\n", str(s, "error"));
        printf("   Backend: %s\n", str(s, "backend"));
        printf("      Last: %s\n", result_of(json_object_get(s, "last"), r, sizeof(r)));
        json_t *next = json_object_get(s, "next_fires"), *v, *runs = json_object_get(s, "runs");
        size_t i;
        json_array_foreach(next, i, v) printf("%s %s\n", i == 0 ? "      Next:" : "           ",
                                              json_string_value(v));
        if (json_is_string(json_object_get(s, "queue")))
                printf("     Queue: %s, priority %" JSON_INTEGER_FORMAT "\n", str(s, "queue"),
                       json_integer_value(json_object_get(s, "priority")));
        if (json_is_object(json_object_get(s, "budget"))) {
                printf("    ");
                print_budget(json_object_get(s, "budget"));
        }
        if (json_array_size(runs) > 0) {
                printf("\n");
                print_run_header();
                json_array_foreach(runs, i, v) {
                        print_run_row(v);
                        print_run_steps(v);
                }
        }
        json_decref(s);
        return 0;
}

static int verb_action(struct verb_opts *o) {
        if (one_name(o, "service name") < 0)
                return 125;
        _cleanup_free_ char *esc = tf_api_escape(o->argv[0]);
        _cleanup_free_ char *path = tf_asprintf("/api/v1/services/%s/%s", esc, o->verb);
        json_t *a = NULL;
        if (request(o, "POST", path, &a) < 0)
                return 125;
        int status = 0;
        if (o->json)
                print_json(a);
        else if (streq(o->verb, "trigger")) {
                const char *oc = str(a, "outcome");
                if (streq(oc, "started"))
                        printf("%s\n", str(a, "run_id"));
                else {
                        tf_log("trigger: %s: %s%s", o->argv[0], oc,
                               streq(oc, "skipped")   ? " (a run is going and its overlap policy skips)"
                               : streq(oc, "queued")  ? " (it starts when the running one ends)"
                               : streq(oc, "waiting") ? " (for admission: room in the budget, its queue, pressure; "
                                                        "see `tfrun queue`)"
                                                      : "");
                        status = streq(oc, "queued") || streq(oc, "waiting") ? 0 : 125;
                }
        } else if (streq(o->verb, "stop"))
                printf("%s: %" JSON_INTEGER_FORMAT " run(s) stopping\n", o->argv[0],
                       json_integer_value(json_object_get(a, "stopping")));
        else
                printf("%s: %s\n", o->argv[0], streq(o->verb, "enable") ? "enabled" : "disabled");
        json_decref(a);
        return status;
}

static int verb_reload(struct verb_opts *o) {
        if (o->argc != 0) {
                tf_log("reload: takes no operands (it re-reads the manager's whole directory)");
                return 125;
        }
        json_t *a = NULL;
        if (request(o, "POST", "/api/v1/reload", &a) < 0)
                return 125;
        if (o->json)
                print_json(a);
        else {
                printf("%zu added, %zu changed, %zu removed, %zu broken, %" JSON_INTEGER_FORMAT " unchanged\n",
                       json_array_size(json_object_get(a, "added")), json_array_size(json_object_get(a, "changed")),
                       json_array_size(json_object_get(a, "removed")), json_array_size(json_object_get(a, "broken")),
                       json_integer_value(json_object_get(a, "unchanged")));
                json_t *b, *v;
                size_t i;
                b = json_object_get(a, "broken");
                json_array_foreach(b, i, v) printf("  broken: %s\n", str(v, "error"));
        }
        json_decref(a);
        return 0;
}

static int parse_count(const struct verb_opts *o, const char *v, unsigned max, unsigned *ret) {
        uint64_t n;
        if (tf_parse_u64(v, &n) < 0 || n == 0 || n > max) {
                tf_log("%s: invalid -n '%s': expected a number of %s from 1 to %u", o->verb, v,
                       streq(o->verb, "logs") ? "lines" : "runs", max);
                return -EINVAL;
        }
        *ret = (unsigned) n;
        return 0;
}

static int verb_history(struct verb_opts *o) {
        if (o->argc > 1) {
                tf_log("history: expected at most one service name, got %d", o->argc);
                return 125;
        }
        _cleanup_free_ char *q = tf_strdup("/api/v1/runs?");
        unsigned n = 20;
        if (o->lines && parse_count(o, o->lines, 10000, &n) < 0)
                return 125;
        char *t = tf_asprintf("%slimit=%u", q, n);
        free(q);
        q = t;
        if (o->argc == 1) {
                _cleanup_free_ char *esc = tf_api_escape(o->argv[0]);
                t = tf_asprintf("%s&service=%s", q, esc);
                free(q);
                q = t;
        }
        if (o->status) {
                _cleanup_free_ char *esc = tf_api_escape(o->status);
                t = tf_asprintf("%s&status=%s", q, esc);
                free(q);
                q = t;
        }
        if (o->since) {
                uint64_t d;
                if (tf_parse_duration(o->since, &d) < 0 || d == TF_USEC_INFINITY) {
                        tf_log("history: invalid --since '%s': expected a duration such as 30min, 12h or 7d", o->since);
                        return 125;
                }
                uint64_t now = tf_now(CLOCK_REALTIME);
                t = tf_asprintf("%s&since_usec=%" PRIu64, q, d < now ? now - d : 0);
                free(q);
                q = t;
        }
        json_t *a = NULL;
        if (request(o, "GET", q, &a) < 0)
                return 125;
        if (o->json)
                print_json(a);
        else {
                json_t *runs = json_object_get(a, "runs"), *v;
                size_t i;
                print_run_header();
                json_array_foreach(runs, i, v) {
                        print_run_row(v);
                        print_run_steps(v);
                }
        }
        json_decref(a);
        return 0;
}

static int write_chunk(const char *buf, size_t n, void *userdata) {
        return fwrite(buf, 1, n, stdout) == n && fflush(stdout) == 0 ? 0 : -EPIPE;
}

static int verb_logs(struct verb_opts *o) {
        _cleanup_error_ tf_error *e = NULL;
        if (one_name(o, "service name or run id") < 0)
                return 125;
        unsigned n = 0;
        if (o->lines && parse_count(o, o->lines, 100000, &n) < 0)
                return 125;
        const char *arg = o->argv[0];
        _cleanup_free_ char *run_id = NULL;
        /* A service's name gives its newest run; anything else must be a run id. */
        _cleanup_free_ char *esc = tf_api_escape(arg);
        _cleanup_free_ char *q = tf_asprintf("/api/v1/runs?service=%s&limit=1", esc);
        long status = 0;
        json_t *a = NULL;
        if (tf_api_request(o->socket, "GET", q, NULL, TIMEOUT_MS, &status, &a, &e) < 0) {
                tf_log("logs: %s", e->msg);
                return 125;
        }
        json_t *runs = json_object_get(a, "runs");
        if (status == 200 && json_array_size(runs) > 0)
                run_id = tf_strdup(str(json_array_get(runs, 0), "run_id"));
        json_decref(a);
        if (!run_id)
                run_id = tf_strdup(arg);
        _cleanup_free_ char *rid = tf_api_escape(run_id);
        _cleanup_free_ char *sesc = o->step ? tf_api_escape(o->step) : NULL;
        _cleanup_free_ char *path = tf_asprintf("/api/v1/runs/%s/log?tail=%u%s%s%s", rid, n, o->follow ? "&follow=1" : "",
                                                sesc ? "&step=" : "", sesc ? sesc : "");
        if (tf_api_stream(o->socket, path, write_chunk, NULL, &status, &e) < 0) {
                if (status == 404 && o->step && e->msg && strstr(e->msg, "step"))
                        tf_log("logs: %s", e->msg);
                else if (status == 404)
                        tf_log("logs: no run '%s' and no service of that name with a run (see `tfrun history`)", arg);
                else
                        tf_log("logs: %s", e->msg);
                return 125;
        }
        return 0;
}

static int verb_retry(struct verb_opts *o) {
        if (one_name(o, "run id") < 0)
                return 125;
        _cleanup_free_ char *esc = tf_api_escape(o->argv[0]);
        _cleanup_free_ char *path = tf_asprintf("/api/v1/runs/%s/retry", esc);
        json_t *body = o->from ? json_pack("{s:s}", "from", o->from) : NULL;
        _cleanup_error_ tf_error *e = NULL;
        long status = 0;
        json_t *a = NULL;
        int r = tf_api_request(o->socket, "POST", path, body, TIMEOUT_MS, &status, &a, &e);
        json_decref(body);
        if (r < 0) {
                tf_log("retry: %s", e->msg);
                return 125;
        }
        if (status >= 400) {
                const char *msg = tf_api_error_message(a);
                tf_log("retry: %s", msg ? msg : "the manager answered an error");
                json_decref(a);
                return 125;
        }
        int ret = 0;
        const char *oc = str(a, "outcome");
        if (o->json)
                print_json(a);
        else if (streq(oc, "started"))
                printf("%s\n", str(a, "run_id"));
        else
                tf_log("retry: %s of %s: %s%s", o->argv[0], str(a, "service"), oc,
                       streq(oc, "skipped")   ? " (a run is going and its overlap policy skips)"
                       : streq(oc, "queued")  ? " (it starts when the running one ends)"
                       : streq(oc, "waiting") ? " (for admission: room in the budget, its queue, pressure; see "
                                                "`tfrun queue`)"
                                              : "");
        if (!streq(oc, "started") && !streq(oc, "queued") && !streq(oc, "waiting"))
                ret = 125;
        json_decref(a);
        return ret;
}

static int token_usage(const char *why) {
        tf_log("token: %s; usage: tfrun token create NAME --role read|operate|admin [--services a,b] | "
               "list | revoke NAME",
               why);
        return 125;
}

static int verb_token(struct verb_opts *o) {
        const char *sub = o->argc > 0 ? o->argv[0] : NULL;
        if (!sub)
                return token_usage("expected create, list or revoke");
        if ((o->role || o->services) && !streq(sub, "create"))
                return token_usage("--role and --services go with create");
        json_t *a = NULL;
        if (streq(sub, "list")) {
                if (o->argc != 1)
                        return token_usage("list takes no operands");
                if (request(o, "GET", "/api/v1/tokens", &a) < 0)
                        return 125;
                if (o->json)
                        print_json(a);
                else {
                        json_t *v;
                        size_t i;
                        printf("%-24s %-8s %-24s %-20s %s\n", "NAME", "ROLE", "SERVICES", "CREATED (UTC)",
                               "LAST USED (UTC)");
                        json_array_foreach(json_object_get(a, "tokens"), i, v) {
                                char t1[32], t2[32], sv[256] = "";
                                json_t *s, *l = json_object_get(v, "services");
                                size_t k;
                                json_array_foreach(l, k, s) {
                                        size_t n = strlen(sv);
                                        snprintf(sv + n, sizeof(sv) - n, "%s%s", k ? "," : "",
                                                 json_string_value(s));
                                }
                                const char *c = json_string_value(json_object_get(v, "created")),
                                           *u = json_string_value(json_object_get(v, "last_used"));
                                printf("%-24s %-8s %-24s %-20s %s\n", str(v, "name"), str(v, "role"),
                                       json_is_array(l) ? sv : "(all)", short_time(c, t1, sizeof(t1)),
                                       short_time(u, t2, sizeof(t2)));
                        }
                }
                json_decref(a);
                return 0;
        }
        if (streq(sub, "revoke")) {
                if (o->argc != 2)
                        return token_usage("revoke takes one token name");
                _cleanup_free_ char *esc = tf_api_escape(o->argv[1]);
                _cleanup_free_ char *path = tf_asprintf("/api/v1/tokens/%s", esc);
                if (request(o, "DELETE", path, &a) < 0)
                        return 125;
                if (o->json)
                        print_json(a);
                else
                        printf("%s: revoked\n", o->argv[1]);
                json_decref(a);
                return 0;
        }
        if (!streq(sub, "create"))
                return token_usage("unknown subcommand");
        if (o->argc != 2)
                return token_usage("create takes one token name");
        if (!o->role)
                return token_usage("create needs --role");
        json_t *body = json_pack("{s:s,s:s}", "name", o->argv[1], "role", o->role);
        if (o->services) {
                json_t *l = json_array();
                _cleanup_free_ char *copy = tf_strdup(o->services);
                char *save = NULL;
                for (char *p = strtok_r(copy, ",", &save); p; p = strtok_r(NULL, ",", &save))
                        json_array_append_new(l, json_string(p));
                json_object_set_new(body, "services", l);
        }
        _cleanup_error_ tf_error *e = NULL;
        long status = 0;
        int r = tf_api_request(o->socket, "POST", "/api/v1/tokens", body, TIMEOUT_MS, &status, &a, &e);
        json_decref(body);
        if (r < 0) {
                tf_log("token: %s", e->msg);
                return 125;
        }
        if (status >= 400) {
                const char *msg = tf_api_error_message(a);
                tf_log("token: %s", msg ? msg : "the manager answered an error");
                json_decref(a);
                return 125;
        }
        /* The token alone on stdout, for `TOKEN=$(tfrun token create ...)`; it is never shown again. */
        if (o->json)
                print_json(a);
        else
                printf("%s\n", str(a, "token"));
        json_decref(a);
        return 0;
}

int tf_verb_main(int argc, char **argv) {
        struct verb_opts o = { .verb = argv[0] };
        int r = parse(argc, argv, &o);
        if (r <= 0)
                return r < 0 ? 125 : 0;
        _cleanup_error_ tf_error *e = NULL;
        if (tf_api_socket_path(o.socket_opt, &o.socket, &e) < 0) {
                tf_log("%s: %s", o.verb, e->msg);
                return 125;
        }
        _cleanup_free_ char *sock = o.socket;
        if (streq(o.verb, "ps"))
                return verb_ps(&o);
        if (streq(o.verb, "status"))
                return verb_status(&o);
        if (streq(o.verb, "trigger") || streq(o.verb, "stop") || streq(o.verb, "enable") || streq(o.verb, "disable"))
                return verb_action(&o);
        if (streq(o.verb, "reload"))
                return verb_reload(&o);
        if (streq(o.verb, "queue"))
                return verb_queue(&o);
        if (streq(o.verb, "history"))
                return verb_history(&o);
        if (streq(o.verb, "logs"))
                return verb_logs(&o);
        if (streq(o.verb, "token"))
                return verb_token(&o);
        if (streq(o.verb, "retry"))
                return verb_retry(&o);
        tf_log("%s: not a verb of the manager", o.verb);
        return 125;
}
