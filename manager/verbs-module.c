/* SPDX-License-Identifier: MIT */
/*
 * tfrun-verbs.so's entry point: the verbs that talk to a running manager (`tfrun ps`, `status`, `trigger`,
 * ...) in a module of their own, which maps neither SQLite nor libmicrohttpd and its TLS stack (about 5 ms
 * of loading per call, bench/manager.sh). `tfrun up` is tfrun-manager.so's (manager/main.c).
 */
#include "base/strutil.h"
#include "config.h"
#include "manager/verbs.h"
#include "runner/runner.h"

int tf_module_verbs_main(const char *version, int argc, char **argv);

__attribute__((visibility("default"))) int tf_module_verbs_main(const char *version, int argc, char **argv) {
        if (!streq(version, TF_VERSION)) {
                tf_log("tfrun-verbs.so belongs to another tfrun than %s", TF_VERSION);
                return 125;
        }
        return tf_verb_main(argc, argv);
}
