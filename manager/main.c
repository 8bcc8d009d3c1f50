/* SPDX-License-Identifier: MIT */
/*
 * tfrun-manager.so's entry point: `tfrun up` and the verbs that talk to a running manager. The module keeps
 * SQLite and libmicrohttpd out of the one-shot path (runner/modules.c).
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/cleanup.h"
#include "base/parse.h"
#include "base/strutil.h"
#include "config.h"
#include "manager/manager.h"
#include "manager/verbs.h"
#include "runner/log.h"
#include "runner/runner.h"
#include "spec/settings.h"

static void usage_up(FILE *f) {
        fputs("Usage: tfrun up [DIR] [OPTIONS]\n"
              "Supervise every spec (*.yaml, *.yml) in DIR (default: the current directory) in one process:\n"
              "scheduled services fire on time, the others run when triggered (`tfrun trigger NAME`).\n"
              "\n"
              "  --state-dir DIR        history, logs, persistent state and the lock (default: /var/lib/tfrun\n"
              "                         as root, else $XDG_STATE_HOME/tfrun)\n"
              "  --socket PATH          the control API's unix socket (default: /run/tfrun/tfrun.sock as\n"
              "                         root, else $XDG_RUNTIME_DIR/tfrun/tfrun.sock; also $TFRUN_SOCKET)\n"
              "  --cgroup-parent PATH   create native services' cgroups below PATH\n"
              "  --config FILE          the manager's settings (YAML): budget, admission, queues\n"
              "                         (docs/manager.md, \"Settings\")\n"
              "  --listen [ADDR]:PORT   the API on TCP too, with bearer tokens (see `tfrun token create`):\n"
              "                         :PORT is 127.0.0.1; another address is reachable from the network\n"
              "                         (a warning says so); [IPV6]:PORT; port 0 takes a free one\n"
              "  --log-max SIZE         the cap of each run's log (default 10M): its first three quarters\n"
              "                         and its last quarter are kept\n"
              "  --swarm[=ENGINE]       specs with an image and no backend: key run on the swarm (as\n"
              "                         backend: swarm); ENGINE (unix:///PATH) is the swarm manager's engine\n"
              "                         of every swarm run (default: $DOCKER_HOST, else the local engine)\n"
              "  --swarm-node ENGINE    another node's engine (repeatable): tfrun removes the exited\n"
              "                         containers of tasks that ran there and reads their OOM kills\n"
              "  -h, --help             this text\n"
              "\n"
              "SIGTERM/SIGINT stop every run per its `stop:` and exit 0; SIGHUP re-reads DIR (as `tfrun reload`).\n",
              f);
}

static int cmd_up(int argc, char **argv) {
        static const struct option longopts[] = {
                { "state-dir", required_argument, NULL, 's' },     { "socket", required_argument, NULL, 'S' },
                { "cgroup-parent", required_argument, NULL, 'p' }, { "help", no_argument, NULL, 'h' },
                { "log-max", required_argument, NULL, 'M' },
                { "listen", required_argument, NULL, 'L' },
                { "config", required_argument, NULL, 'c' },
                { "swarm", optional_argument, NULL, 'W' },
                { "swarm-node", required_argument, NULL, 'N' },
                {},
        };
        _cleanup_strv_free_ char **nodes = NULL;
        struct tf_manager_options o = { .dir = "." };
        const char *config = NULL;
        int c;
        optind = 1;
        opterr = 0;
        while ((c = getopt_long(argc, argv, ":h", longopts, NULL)) >= 0) {
                switch (c) {
                case 's':
                        o.state_dir = optarg;
                        break;
                case 'S':
                        o.socket_path = optarg;
                        break;
                case 'p':
                        o.cgroup_parent = optarg;
                        break;
                case 'L':
                        o.listen = optarg;
                        break;
                case 'c':
                        config = optarg;
                        break;
                case 'W':
                case 'N':
                        /* Checked now: tfrun speaks to engines on unix sockets only (docker/docker.h). */
                        if (optarg && (!tf_startswith(optarg, "unix:///") || strlen(optarg) > 4096)) {
                                tf_log("up: %s takes an engine's socket as unix:///PATH, not '%s'",
                                       c == 'W' ? "--swarm" : "--swarm-node", optarg);
                                return 125;
                        }
                        if (c == 'W') {
                                o.swarm = true;
                                o.swarm_host = optarg;
                        } else
                                tf_strv_push(&nodes, optarg);
                        break;
                case 'M':
                        if (tf_parse_size(optarg, &o.log_max) < 0 || o.log_max < 4096) {
                                tf_log("up: --log-max takes a size of at least 4K (10M, 512K, 1G), not '%s'", optarg);
                                return 125;
                        }
                        break;
                case 'h':
                        usage_up(stdout);
                        return 0;
                default:
                        if (c == ':')
                                tf_log("up: option '%s' needs a value; see `tfrun up --help`", argv[optind - 1]);
                        else
                                tf_log("up: unknown option '%s'; see `tfrun up --help` for the options",
                                       argv[optind - 1]);
                        return 125;
                }
        }
        if (argc - optind > 1) {
                tf_log("up: expected at most one directory, got %d arguments (see tfrun up --help)", argc - optind);
                return 125;
        }
        if (optind < argc)
                o.dir = argv[optind];
        _cleanup_error_ tf_error *e = NULL;
        /* Read before anything is created: a bad settings file starts nothing. */
        _cleanup_settings_ struct tf_settings *settings = NULL;
        if (config && tf_settings_load(config, &settings, &e) < 0) {
                tf_log("%s", e->msg);
                return 125;
        }
        o.settings = settings;
        o.swarm_nodes = nodes;
        struct tf_manager *m = NULL;
        if (tf_manager_new(&o, &m, &e) < 0) {
                tf_log("up: %s", e->msg);
                return 125;
        }
        int r = tf_manager_run(m);
        tf_manager_free(m);
        return r;
}

int tf_module_manager_main(const char *version, int argc, char **argv);

__attribute__((visibility("default"))) int tf_module_manager_main(const char *version, int argc, char **argv) {
        if (!streq(version, TF_VERSION)) {
                tf_log("tfrun-manager.so belongs to another tfrun than %s", TF_VERSION);
                return 125;
        }
        if (streq(argv[0], "up"))
                return cmd_up(argc, argv);
        return tf_verb_main(argc, argv);
}
