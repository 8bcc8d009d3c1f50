/* SPDX-License-Identifier: MIT */
#include "manager/verbs.h"

#include "runner/log.h"
#include "runner/runner.h"

int tf_verb_main(int argc, char **argv) {
        (void) argc;
        tf_log("%s: not available yet", argv[0]);
        return 125;
}
