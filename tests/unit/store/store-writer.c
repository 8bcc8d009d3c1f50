/* SPDX-License-Identifier: MIT */
/*
 * store-writer DB FIRST MANAGER_ID: records runs FIRST, FIRST+1, ... in the history at DB for as long as it
 * lives (test-store kills it with SIGKILL). After each commit it writes a line on stdout, unbuffered:
 * "b N" once run w-N is recorded as running, "e N" once it has ended. Those lines are what the killer
 * may rely on: every one of them must survive the kill.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/error.h"
#include "store/store.h"

static void say(const char *what, unsigned long n) {
        char line[64];
        int len = snprintf(line, sizeof(line), "%s %lu\n", what, n);
        if (write(STDOUT_FILENO, line, (size_t)len) != len)
                exit(3); /* the reader is gone */
}

int main(int argc, char **argv) {
        _cleanup_error_ tf_error *err = NULL;
        _cleanup_store_ tf_store *s = NULL;
        if (argc != 4) {
                fprintf(stderr, "usage: store-writer DB FIRST MANAGER_ID\n");
                return 2;
        }
        if (tf_store_open(argv[1], 0, &s, &err) < 0) {
                fprintf(stderr, "store-writer: %s\n", err->msg);
                return 1;
        }
        unsigned long first = strtoul(argv[2], NULL, 10);
        for (unsigned long i = first; i < first + 1000000; i++) {
                char id[64], svc[16], log[96];
                snprintf(id, sizeof(id), "w-%lu", i);
                snprintf(svc, sizeof(svc), "svc%lu", i % 3);
                snprintf(log, sizeof(log), "/state/logs/%s/%s.log", svc, id);
                struct tf_store_run r = TF_STORE_RUN_INIT;
                r.run_id = id;
                r.service = svc;
                r.trigger = "schedule";
                r.started_usec = 1000000 + i;
                r.backend = "native";
                r.log_path = log;
                r.manager_id = argv[3];
                if (tf_store_run_begin(s, &r, &err) < 0) {
                        fprintf(stderr, "store-writer: %s\n", err->msg);
                        return 1;
                }
                say("b", i);
                r.status = i % 5 ? "success" : "failure";
                r.ended_usec = 2000000 + i;
                r.exit_code = i % 5 ? 0 : 1;
                r.cpu_usec = (int64_t)i;
                if (tf_store_run_end(s, &r, &err) < 0) {
                        fprintf(stderr, "store-writer: %s\n", err->msg);
                        return 1;
                }
                say("e", i);
                if (i % 7 == 0) {
                        struct tf_store_service_state st = {
                                .service = svc, .enabled = i % 2, .last_fire_usec = i};
                        if (tf_store_service_set(s, &st, &err) < 0) {
                                fprintf(stderr, "store-writer: %s\n", err->msg);
                                return 1;
                        }
                }
        }
        return 0;
}
