/* SPDX-License-Identifier: MIT */
#pragma once

/* The CLI verbs that talk to a running manager through its control API (ps, status, trigger, stop, enable,
 * disable, reload, history, logs): thin clients, each with --json. argv[0] is the verb. */
int tf_verb_main(int argc, char **argv);
