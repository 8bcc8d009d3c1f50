/* SPDX-License-Identifier: MIT */
/*
 * spec/: tf_spec_load_buffer() on arbitrary bytes. Properties: no crash, no leak (LeakSanitizer), no
 * UB; a failure is -errno with exactly one message, one line, starting with "FILE:" (the path given);
 * nothing is returned on failure; a success honours the header's contract (name syntax, argv or image,
 * a resolved backend, an absolute directory; a workflow's steps each a complete spec, its dependencies in
 * range, an order that runs every step after its dependencies, references inside their text).
 */

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/strutil.h"
#include "spec/spec.h"
#include "fuzz.h"

/* A directory that does not exist: relative env_file and mount paths resolve under it, so the result
 * does not depend on the files of the machine (absolute ones still may; reading them is harmless). */
#define FUZZ_PATH "/nonexistent/tfrun-fuzz/service.yaml"

static char *const fuzz_environ[] = { "HOME=/root", "USER=fuzz", "PATH=/usr/bin:/bin", "EMPTY=", NULL };

int LLVMFuzzerInitialize(int *argc, char ***argv) {
        /* An env_file may name /dev/stdin or /proc/self/fd/0: make that an empty file, not a hang. */
        int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
        if (fd >= 0) {
                dup2(fd, STDIN_FILENO);
                close(fd);
        }
        return 0;
}

static bool name_valid(const char *n) {
        size_t l = strlen(n);
        if (l < 1 || l > 63)
                return false;
        for (size_t i = 0; i < l; i++) {
                char ch = n[i];
                bool alnum = (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9');
                if (!alnum && (i == 0 || !strchr("_.-", ch)))
                        return false;
        }
        return true;
}

static const char *fuzz_output(const char *var, void *userdata) {
        return "out $ ${X} \"'\n";
}

/* A step's contract: its own complete spec, dependencies in range, references inside their text. */
static void check_step(const struct tf_spec *s, const struct tf_step *st, size_t self) {
        FUZZ_ASSERT(st->name && name_valid(st->name), "invalid step name '%s'",
                    st->name ? st->name : "(null)");
        FUZZ_ASSERT(st->spec && (st->spec->argv || st->spec->image), "step '%s' runs nothing", st->name);
        FUZZ_ASSERT(st->spec->n_steps == 0 && st->spec->resolved_backend != TF_BACKEND_AUTO,
                    "step '%s': steps of its own or no backend", st->name);
        for (size_t k = 0; k < st->n_deps; k++)
                FUZZ_ASSERT(st->deps[k] < s->n_steps && st->deps[k] != self, "step '%s': dependency %zu",
                            st->name, st->deps[k]);
        for (size_t k = 0; k < st->n_refs; k++) {
                const struct tf_step_ref *ref = &st->refs[k];
                const char *t = ref->field == TF_REF_ARGV
                                        ? (st->spec->argv ? st->spec->argv[ref->index] : NULL)
                                : ref->field == TF_REF_ENV ? st->spec->env[ref->index]
                                                           : st->spec->working_dir;
                FUZZ_ASSERT(t && ref->offset + ref->len <= strlen(t) &&
                                    strncmp(t + ref->offset, "${", 2) == 0 &&
                                    t[ref->offset + ref->len - 1] == '}',
                            "step '%s': reference %zu outside its text", st->name, k);
        }
        char **argv = NULL, **env = NULL, *wd = NULL;
        tf_step_expand(st, fuzz_output, NULL, &argv, &env, &wd);
        tf_strv_free(argv);
        tf_strv_free(env);
        free(wd);
}

static void check_workflow(const struct tf_spec *s) {
        for (size_t i = 0; i < s->n_steps; i++)
                check_step(s, &s->steps[i], i);
        const struct tf_step *handlers[] = {s->on_success, s->on_failure, s->on_exit};
        for (size_t i = 0; i < 3; i++)
                if (handlers[i])
                        check_step(s, handlers[i], SIZE_MAX);
        size_t *order = NULL;
        FUZZ_ASSERT(tf_spec_steps_order(s, &order) == 0 && order, "a loaded workflow without an order");
        for (size_t k = 0; k < s->n_steps; k++) {
                const struct tf_step *st = &s->steps[order[k]];
                for (size_t d = 0; d < st->n_deps; d++) {
                        bool before = false;
                        for (size_t j = 0; j < k && !before; j++)
                                before = order[j] == st->deps[d];
                        FUZZ_ASSERT(before, "step '%s' ordered before its dependency", st->name);
                }
        }
        free(order);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        struct tf_spec *s = NULL;
        tf_error *err = NULL;

        /* Bigger inputs only exercise the size cap; keep runs fast. */
        if (size > 256 * 1024)
                return 0;
        int r = tf_spec_load_buffer(FUZZ_PATH, (const char *)data, size, fuzz_environ, &s, &err);
        if (r < 0) {
                FUZZ_ASSERT(s == NULL, "failure (%d) but a spec was returned", r);
                FUZZ_ASSERT(err && err->msg, "failure (%d) without a message", r);
                FUZZ_ASSERT(err->code == -r, "code %d but return %d: %s", err->code, r, err->msg);
                FUZZ_ASSERT(fuzz_one_line_with_prefix(err->msg, FUZZ_PATH ":"),
                            "message is not one line starting with the file name: '%s'", err->msg);
                tf_error_free(err);
                return 0;
        }
        FUZZ_ASSERT(r == 0 && s, "success (%d) without a spec", r);
        FUZZ_ASSERT(err == NULL, "success with an error: %s", err->msg);
        FUZZ_ASSERT(s->name && name_valid(s->name), "invalid name '%s'", s->name ? s->name : "(null)");
        if (s->n_steps == 0)
                FUZZ_ASSERT(s->argv || s->image, "neither command nor image");
        else {
                FUZZ_ASSERT(!s->argv && !s->image, "a workflow with a command or an image");
                check_workflow(s);
        }
        FUZZ_ASSERT(!s->argv || s->argv[0], "empty argv");
        FUZZ_ASSERT(s->resolved_backend != TF_BACKEND_AUTO, "backend not resolved");
        FUZZ_ASSERT(s->dir && s->dir[0] == '/', "directory not absolute: '%s'", s->dir ? s->dir : "(null)");
        for (size_t i = 0; i < s->schedule.n_calendar; i++)
                FUZZ_ASSERT(s->schedule.calendar[i].expr, "calendar[%zu] without an expression", i);
        for (size_t i = 0; i < s->n_mounts; i++)
                FUZZ_ASSERT(s->mounts[i].source && s->mounts[i].source[0] == '/' && s->mounts[i].target &&
                                    s->mounts[i].target[0] == '/',
                            "mount %zu not absolute", i);
        if (s->sandbox.seccomp == TF_SECCOMP_PROFILE)
                FUZZ_ASSERT(s->sandbox.seccomp_profile && s->sandbox.seccomp_profile[0] == '/',
                            "seccomp profile path not absolute");
        for (char **e = s->env; e && *e; e++)
                FUZZ_ASSERT(strchr(*e, '=') && **e != '=', "env entry '%s' is not KEY=VALUE", *e);
        FUZZ_ASSERT(tf_backend_name(s->backend) && tf_restart_policy_name(s->restart.policy) &&
                            tf_overlap_name(s->schedule.overlap) && tf_seccomp_mode_name(s->sandbox.seccomp) &&
                            tf_network_mode_name(s->sandbox.network),
                    "an enum outside its range");
        char *w = tf_spec_where(s, s->pos_command);
        FUZZ_ASSERT(w && strncmp(w, FUZZ_PATH, strlen(FUZZ_PATH)) == 0, "tf_spec_where: '%s'", w);
        free(w);
        tf_spec_free(s);
        return 0;
}
