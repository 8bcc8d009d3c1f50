/* SPDX-License-Identifier: MIT */
/*
 * The runner's workflow interface as the manager and `tfrun retry` use it, through the real runner and
 * native backend (no CLI reaches it): tf_run_extra's reuse (a reused step does not run, its recorded output
 * reaches its dependants) and env (added to every step's), and tf_run_options.on_step (once when a step
 * starts running, once at its final status; skipped and reused steps once). TAP.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/strutil.h"
#include "runner/runner.h"

extern char **environ;

static int n_tests, n_failed;
static void is(const char *got, const char *want, const char *what) {
        n_tests++;
        if (got && want && strcmp(got, want) == 0) {
                printf("ok %d - %s\n", n_tests, what);
                return;
        }
        n_failed++;
        printf("not ok %d - %s\n# got:  %s\n# want: %s\n", n_tests, what, got ? got : "(null)", want);
}

static char events[4096];

static void on_step(const struct tf_run *r, const struct tf_step_result *st, void *userdata) {
        size_t n = strlen(events);
        snprintf(events + n, sizeof(events) - n, "%s%s=%s", n ? " " : "", st->step->name,
                 tf_step_status_name(st->status));
}

static void on_done(struct tf_run *r, void *userdata) {
        *(struct tf_run **)userdata = r;
        tf_loop_exit(r->loop, 0);
}

static char *slurp(const char *path) {
        static char buf[4096];
        FILE *f = fopen(path, "re");
        if (!f)
                return NULL;
        size_t n = fread(buf, 1, sizeof(buf) - 1, f);
        fclose(f);
        buf[n] = 0;
        return buf;
}

int main(void) {
        if (geteuid() != 0) {
                printf("1..0 # SKIP needs root\n");
                return 0;
        }
        char dir[] = "/tmp/tfrun-hooks.XXXXXX";
        if (!mkdtemp(dir))
                return 1;
        char *path = tf_asprintf("%s/hooks.yaml", dir);
        FILE *f = fopen(path, "we");
        fprintf(f,
                "name: hooks\n"
                "steps:\n"
                "  - {name: a, command: [touch, %s/a.ran], output: A}\n"
                "  - name: b\n"
                "    depends_on: [a]\n"
                "    command: [sh, -c, 'printf %%s \"$1 $WF_EXTRA\" >%s/b.out', sh, '${A}']\n"
                "  - {name: c, depends_on: [b], command: [touch, %s/c.ran], when: [{command: ['false']}]}\n",
                dir, dir, dir);
        fclose(f);

        struct tf_spec *spec;
        struct tf_loop *loop;
        tf_error *e = NULL;
        if (tf_spec_load(path, environ, &spec, &e) < 0 || tf_loop_new(&loop, &e) < 0) {
                printf("Bail out! %s\n", e->msg);
                return 1;
        }
        struct tf_run_ctx ctx;
        tf_run_ctx_init(&ctx, loop);
        struct tf_run_options opts = {.quiet = true, .on_step = on_step};
        struct tf_run *r = NULL, *ended = NULL;
        if (tf_run_new(&ctx, spec, &opts, &r, &e) < 0) {
                printf("Bail out! %s\n", e->msg);
                return 1;
        }
        const struct tf_step_reuse reuse[] = {
                {.name = "a", .output = "recorded 'out' $x", .output_len = 17}};
        char *env[] = {"WF_EXTRA=from-extra", NULL};
        tf_run_set_extra(r, &(struct tf_run_extra){
                                    .env = env, .retry_of = "hooks-1-1", .reuse = reuse, .n_reuse = 1});
        tf_run_start(r, on_done, &ended);
        tf_loop_run(loop);

        is(ended == r ? "ended" : "not ended", "ended", "the run ended through on_done");
        char st[64];
        snprintf(st, sizeof(st), "%d", r->result.exit_status);
        is(st, "0", "the run succeeded");
        is(events, "a=reused b=running b=succeeded c=skipped",
           "on_step: once per start and per final status");
        char *a_ran = tf_asprintf("%s/a.ran", dir), *b_out = tf_asprintf("%s/b.out", dir);
        char *c_ran = tf_asprintf("%s/c.ran", dir), *a_id = tf_asprintf("%s.a", r->run_id);
        is(access(a_ran, F_OK) == 0 ? "ran" : "not run", "not run", "the reused step did not run");
        is(slurp(b_out), "recorded 'out' $x from-extra", "b got the reused output and the extra env");
        snprintf(st, sizeof(st), "%zu", r->result.n_steps);
        is(st, "3", "three step results");
        is(r->result.steps[0].output, "recorded 'out' $x", "a's result carries its reused output");
        is(r->result.steps[0].run_id, a_id, "a step's run id is RUN_ID.STEP");
        is(tf_step_status_name(r->result.steps[2].status), "skipped", "c skipped by its when:");
        tf_run_free(r);
        tf_run_ctx_done(&ctx);
        tf_loop_free(loop);
        tf_spec_free(spec);
        unlink(a_ran);
        unlink(b_out);
        unlink(c_ran);
        unlink(path);
        rmdir(dir);
        free(a_ran);
        free(b_out);
        free(c_ran);
        free(a_id);
        free(path);
        printf("1..%d\n", n_tests);
        return n_failed ? 1 : 0;
}
