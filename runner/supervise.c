/* SPDX-License-Identifier: MIT */
/*
 * The process around one service (`tfrun FILE`): the loop, the signals, the exit. The service logic itself
 * (fires, overlap, retries, persistence) is runner/service.c, which knows nothing of signals or of when the
 * process ends; the manager (`tfrun up`) will drive many services on the same loop the same way.
 */
#include "runner/supervise.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/parse.h"
#include "base/strutil.h"
#include "runner/service.h"
#ifdef TF_HAVE_SCHEDULE
#include "schedule/schedule.h"
#endif

struct supervisor {
        const struct tf_supervise_options *o;
        struct tf_loop *loop;
        struct tf_run_ctx ctx;
        struct tf_service *svc;
        bool stopping;
        unsigned interrupts;
};

static const int handled_signals[] = { SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2 };

static void on_idle(struct tf_service *s, void *userdata) {
        struct supervisor *sv = userdata;
        /* One-shot: done once its run (and retries) ended. Resident: only once asked to stop. */
        if (sv->stopping || !sv->o->resident)
                tf_loop_exit(sv->loop, 0);
}

static void reload(struct supervisor *sv) {
        _cleanup_error_ tf_error *e = NULL;
        struct tf_spec *spec = NULL;
#ifdef TF_HAVE_SCHEDULE
        /* A SIGHUP is also how an operator says "tzdata changed": re-read the zones before the new plan. */
        int z = tf_tz_cache_reload(tf_tz_cache_default());
        if (z > 0)
                tf_log("reload: %d time zone%s read again", z, z == 1 ? "" : "s");
#endif
        if (tf_spec_load(sv->o->spec_path, NULL, &spec, &e) < 0) {
                tf_log("reload: %s; keeping the previous spec", e->msg);
                return;
        }
        if (!spec->schedule.present) {
                tf_log("reload: %s: the new spec has no schedule; keeping the previous spec", sv->o->spec_path);
                tf_spec_free(spec);
                return;
        }
        _cleanup_free_ char *name = tf_strdup(spec->name);
        if (tf_service_reload(sv->svc, spec, &e) < 0) {
                tf_log("reload: %s; keeping the previous spec", e->msg);
                return;
        }
        tf_log("%s: reloaded %s", name, sv->o->spec_path);
}

static void stop(struct supervisor *sv) {
        sv->stopping = true;
        tf_service_stop(sv->svc);
}

static int on_signal(struct tf_source *src, int fd, uint32_t events, void *userdata) {
        struct supervisor *sv = userdata;
        struct signalfd_siginfo si;
        while (read(fd, &si, sizeof(si)) == (ssize_t) sizeof(si)) {
                int sig = (int) si.ssi_signo;
                bool from_terminal = si.ssi_code == SI_KERNEL;
                if (sv->o->resident) {
                        /* Resident: SIGINT/SIGTERM stop the running job per `stop` and end tfrun cleanly,
                         * SIGHUP re-reads the spec; others go to the running jobs. */
                        if (sig == SIGINT || sig == SIGTERM) {
                                if (!sv->stopping)
                                        tf_log("%s: %s: stopping", tf_service_spec(sv->svc)->name,
                                               tf_signal_name(sig));
                                stop(sv);
                        } else if (sig == SIGHUP)
                                reload(sv);
                        else
                                tf_service_forward_signal(sv->svc, sig, false);
                        continue;
                }
                if (sig == SIGINT || sig == SIGTERM) {
                        if (++sv->interrupts >= 2) {
                                /* Asked again: stop the whole run per `stop`, then kill. */
                                stop(sv);
                                continue;
                        }
                        sv->stopping = true;
                        tf_service_drain(sv->svc); /* no retries after an operator's interrupt */
                }
                tf_service_forward_signal(sv->svc, sig, from_terminal);
        }
        return 0;
}

int tf_supervise(struct tf_spec *spec, const struct tf_supervise_options *o) {
        _cleanup_error_ tf_error *e = NULL;
        struct supervisor sv = { .o = o };
        int status = 125;

        /* Blocked before anything starts, so that no signal is lost between start and the loop. They stay
         * blocked to the end: restoring the old mask would deliver a SIGTERM still pending from a burst with
         * its default action, and tfrun would die of it after its summary instead of exiting with the run's
         * status. The process ends right after this. */
        sigset_t mask;
        sigemptyset(&mask);
        for (size_t i = 0; i < ELEMENTSOF(handled_signals); i++)
                sigaddset(&mask, handled_signals[i]);
        sigprocmask(SIG_BLOCK, &mask, NULL);
        _cleanup_close_ int sfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
        if (sfd < 0) {
                tf_log("signalfd: %s", strerror(errno));
                tf_spec_free(spec);
                return 125;
        }
        if (tf_loop_new(&sv.loop, &e) < 0 || tf_loop_add_io(sv.loop, sfd, EPOLLIN, on_signal, &sv, NULL, &e) < 0) {
                tf_log("%s", e->msg);
                tf_spec_free(spec);
                goto out;
        }
        tf_run_ctx_init(&sv.ctx, sv.loop);
        /* Triggers between services need the other services: only the manager has them. */
        const struct tf_service_refs *refs[] = { &spec->on_success_services, &spec->on_failure_services };
        for (size_t i = 0; i < ELEMENTSOF(refs); i++)
                if (refs[i]->n > 0) {
                        _cleanup_free_ char *w = tf_spec_where(spec, refs[i]->pos);
                        tf_log("warning: %s: %s: only `tfrun up` triggers other services; ignored by this run", w,
                               i == 0 ? "on_success" : "on_failure");
                }
        struct tf_service_options so = { .run = &o->run, .state_dir = o->state_dir, .resident = o->resident };
        if (tf_service_new(&sv.ctx, spec, &so, &sv.svc, &e) < 0) {
                tf_log("%s", e->msg);
                goto out;
        }
        tf_service_on_idle(sv.svc, on_idle, &sv);
        tf_service_start(sv.svc);

        int r = tf_loop_run(sv.loop);
        if (r < 0) {
                tf_log("event loop: %s", strerror(-r));
                goto out;
        }
        status = o->resident ? 0 : tf_service_last_status(sv.svc);
out:
        tf_service_free(sv.svc);
        /* Freeing runs that never ended (an error exit) may leave work to the loop, such as a container's
         * DELETE: let it finish; its holders bound it. */
        if (sv.loop) {
                tf_loop_exit(sv.loop, 0);
                (void) tf_loop_run(sv.loop);
        }
        tf_run_ctx_done(&sv.ctx);
        tf_loop_free(sv.loop);
        return status;
}
