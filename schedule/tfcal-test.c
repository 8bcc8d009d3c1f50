/* SPDX-License-Identifier: MIT */
/* A stand-alone driver for tf_cmd_calendar() ("tfrun calendar"), for tests until runner/main.c
 * dispatches to it: `tfcal-test [--cron] [--iterations=N] [--base-time=T] EXPR...`. */
#include "runner/commands.h"

int main(int argc, char **argv) {
        argv[0] = (char *) "calendar";
        return tf_cmd_calendar(argc, argv);
}
