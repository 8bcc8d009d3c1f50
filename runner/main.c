/* SPDX-License-Identifier: MIT */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "base/strutil.h"
#include "config.h"
#include "runner/commands.h"
#include "runner/log.h"
#include "runner/runner.h"

static void usage(FILE *f) {
        fputs("Usage: tfrun [OPTIONS] FILE            run a service spec (same as `tfrun run FILE`)\n"
              "       tfrun run [OPTIONS] FILE        run it now with its limits; exit with its status\n"
              "       tfrun validate FILE...          check specs without running anything\n"
              "       tfrun next [-n N] FILE          list the next fire times of a spec's schedule\n"
              "       tfrun calendar [--iterations=N] [--base-time=T] [--cron] EXPR...\n"
              "                                       normalize and evaluate calendar (or cron) expressions\n"
              "       tfrun up [DIR] [OPTIONS]         supervise every spec in DIR (the manager)\n"
              "       tfrun ps | status NAME | trigger NAME | stop NAME | enable NAME | disable NAME\n"
              "       tfrun reload | history [NAME] | logs NAME|RUN_ID | token create|list|revoke\n"
              "       tfrun retry RUN_ID [--from STEP]\n"
              "                                       ask the running manager (see docs/manager.md)\n"
              "       tfrun export systemd FILE [--dir D] [--strict]\n"
              "                                       write a spec as systemd units (docs/export.md)\n"
              "       tfrun explain FILE [--backend B] what a spec becomes on each backend\n"
              "       tfrun doctor [--json]            what this host offers tfrun, and what to fix\n"
              "       tfrun --help | --version\n"
              "\n"
              "Exit status: the command's own; 128+N when killed by signal N; 124 timed out;\n"
              "125 tfrun failed (bad spec, backend unavailable); 126 not executable; 127 not found.\n"
              "See `tfrun run --help` for run options.\n",
              f);
}

static int run_command(int argc, char **argv);

int main(int argc, char **argv) {
        int status = run_command(argc, argv);
        /* What a stalled reader did not take of tfrun's own output gets a bounded last chance. */
        tf_out_flush(2 * 1000000);
        return status;
}

static int run_command(int argc, char **argv) {
        /* A reader that goes away (`tfrun x | head -1`) must not kill tfrun by SIGPIPE in the middle of a
         * run, before it cleaned up: writes then fail with EPIPE and the output is dropped. The child resets
         * every disposition before exec, so the service gets SIGPIPE as usual. */
        signal(SIGPIPE, SIG_IGN);
        /* Unbuffered stderr keeps tfrun's lines in order with the child's output on a shared terminal. */
        setvbuf(stderr, NULL, _IONBF, 0);
        /* A setuid or setgid tfrun would run any caller's spec with the owner's powers and take its module
         * path, cache and state directories from the caller's environment: refuse. Privilege is given by
         * running tfrun as that user (sudo, a systemd unit, the manager), never by the file mode. */
        if (getuid() != geteuid() || getgid() != getegid()) {
                fprintf(stderr,
                        "tfrun: refusing to run with real uid/gid %u/%u and effective uid/gid %u/%u (a setuid or "
                        "setgid tfrun): run it as the user it should run jobs as (sudo, a systemd unit)\n",
                        (unsigned) getuid(), (unsigned) getgid(), (unsigned) geteuid(), (unsigned) getegid());
                return 125;
        }
        if (argc < 2) {
                usage(stderr);
                return 125;
        }
        const char *cmd = argv[1];
        if (streq(cmd, "--version") || streq(cmd, "-V")) {
                printf("tfrun %s\n", TF_VERSION);
                return 0;
        }
        if (streq(cmd, "--help") || streq(cmd, "-h") || streq(cmd, "help")) {
                usage(stdout);
                return 0;
        }
        if (streq(cmd, "run"))
                return tf_cmd_run(argc - 1, argv + 1);
        if (streq(cmd, "validate"))
                return tf_cmd_validate(argc - 1, argv + 1);
        if (streq(cmd, "next"))
                return tf_cmd_next(argc - 1, argv + 1);
#ifdef TF_HAVE_CALENDAR_CMD
        if (streq(cmd, "calendar"))
                return tf_cmd_calendar(argc - 1, argv + 1);
#endif
        static const char *const manager_verbs[] = { "up",      "ps",     "status",  "trigger", "stop", "enable",
                                                     "disable", "reload", "history", "logs", "token",
                                                     "retry",   "export",  "explain", "doctor", "queue" };
        for (size_t i = 0; i < sizeof(manager_verbs) / sizeof(manager_verbs[0]); i++)
                if (streq(cmd, manager_verbs[i]))
                        return tf_run_manager_module(argc - 1, argv + 1);
        /* A word that is neither a command nor a file, and does not look like a spec's name, is most likely
         * a command this version does not have (`tfrun status`): say so rather than "cannot open". */
        if (cmd[0] != '-' && !strchr(cmd, '/') && !tf_endswith(cmd, ".yaml") && !tf_endswith(cmd, ".yml") &&
            access(cmd, F_OK) < 0) {
                fprintf(stderr,
                        "tfrun: '%s' is not a tfrun command nor a spec file; commands: run, validate, next, "
                        "calendar, up, ps, status, trigger, stop, enable, disable, reload, history, logs, "
                        "token, retry, export, explain, doctor (see tfrun --help)\n",
                        cmd);
                return 125;
        }
        /* `tfrun [OPTIONS] FILE`: everything else is a run. */
        argv[0] = (char *) "run";
        return tf_cmd_run(argc, argv);
}
