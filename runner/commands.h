/* SPDX-License-Identifier: MIT */
#pragma once

/* One entry point per subcommand of the tfrun CLI. argv[0] is the subcommand's name; each returns the
 * process exit status (0, 125 for tfrun's own failures, or the run's status). */

int tf_cmd_run(int argc, char **argv);
int tf_cmd_validate(int argc, char **argv);
int tf_cmd_calendar(int argc, char **argv);
int tf_cmd_next(int argc, char **argv);
