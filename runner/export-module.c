/* SPDX-License-Identifier: MIT */
/*
 * tfrun-export.so's entry point: `tfrun export`, `tfrun explain` and `tfrun doctor` (docs/export.md), in a
 * module of their own so that a one-shot `tfrun FILE` maps none of their code, nor the Docker body builder
 * and libcurl that explain links (runner/modules.c).
 */
#include "base/strutil.h"
#include "config.h"
#include "runner/export.h"
#include "runner/runner.h"

int tf_module_export_main(const char *version, int argc, char **argv);

__attribute__((visibility("default"))) int tf_module_export_main(const char *version, int argc,
                                                                 char **argv) {
        if (!streq(version, TF_VERSION)) {
                tf_log("tfrun-export.so belongs to another tfrun than %s", TF_VERSION);
                return 125;
        }
        if (streq(argv[0], "export"))
                return tf_cmd_export(argc, argv);
        if (streq(argv[0], "explain"))
                return tf_cmd_explain(argc, argv);
        return tf_cmd_doctor(argc, argv);
}
