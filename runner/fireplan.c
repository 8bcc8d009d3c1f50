/* SPDX-License-Identifier: MIT */
#include "runner/fireplan.h"

#include <errno.h>
#include <stdlib.h>

#include "base/cleanup.h"
#include "base/parse.h"
#include "base/strutil.h"

#ifdef TF_HAVE_SCHEDULE
#include "schedule/schedule.h"
#endif

struct tf_fire_plan;
#ifdef TF_HAVE_SCHEDULE
static int fireplan_sched_new(struct tf_fire_plan *p, const struct tf_spec *spec, tf_error **err);
static void fireplan_sched_next(const struct tf_fire_plan *p, uint64_t after, uint64_t *best);
static void fireplan_sched_free(struct tf_fire_plan *p);
#endif

struct tf_fire_plan {
        uint64_t origin, every; /* every: TF_UNSET when absent */
#ifdef TF_HAVE_SCHEDULE
        tf_cal **cal;
        size_t n_cal;
        tf_cron *cron;
#endif
        bool reboot;
};

int tf_fire_plan_new(const struct tf_spec *spec, uint64_t origin_usec, struct tf_fire_plan **ret, tf_error **err) {
        struct tf_fire_plan *p = tf_malloc0(sizeof(*p));
        p->origin = origin_usec;
        p->every = spec->schedule.every_usec;
#ifdef TF_HAVE_SCHEDULE
        int r = fireplan_sched_new(p, spec, err);
        if (r < 0) {
                tf_fire_plan_free(p);
                return r;
        }
#else
        if (spec->schedule.n_calendar > 0 || spec->schedule.cron.expr) {
                _cleanup_free_ char *w = tf_spec_where(spec, spec->schedule.pos);
                free(p);
                return tf_error_set(err, EOPNOTSUPP, "%s: schedule: calendar and cron need the schedule module, "
                                    "which this build lacks", w);
        }
#endif
        *ret = p;
        return 0;
}

int tf_fire_plan_next(const struct tf_fire_plan *p, uint64_t after_usec, uint64_t *ret_usec) {
        uint64_t best = UINT64_MAX;
        if (p->every != TF_UNSET && p->every > 0) {
                /* Fire at origin + k*every, k >= 1: anchored, so a late wake-up never drifts the series. */
                uint64_t k = after_usec < p->origin ? 1 : (after_usec - p->origin) / p->every + 1;
                best = p->origin + k * p->every;
        }
#ifdef TF_HAVE_SCHEDULE
        fireplan_sched_next(p, after_usec, &best);
#endif
        if (best == UINT64_MAX)
                return -ENOENT;
        *ret_usec = best;
        return 0;
}

int tf_fire_plan_has_reboot(const struct tf_fire_plan *p) {
        return p->reboot;
}

uint64_t tf_fire_plan_origin(const struct tf_fire_plan *p) {
        return p->origin;
}

void tf_fire_plan_free(struct tf_fire_plan *p) {
        if (!p)
                return;
#ifdef TF_HAVE_SCHEDULE
        fireplan_sched_free(p);
#endif
        free(p);
}

#ifdef TF_HAVE_SCHEDULE
static int fireplan_sched_new(struct tf_fire_plan *p, const struct tf_spec *spec, tf_error **err) {
        const struct tf_schedule *sc = &spec->schedule;
        p->cal = tf_malloc0(sizeof(tf_cal *) * (sc->n_calendar + 1));
        for (size_t i = 0; i < sc->n_calendar; i++) {
                int r = tf_cal_parse(sc->calendar[i].expr, &p->cal[i], err);
                if (r < 0) {
                        _cleanup_free_ char *w = tf_spec_where(spec, sc->calendar[i].pos);
                        return tf_error_prefix(err, "%s: schedule.calendar", w);
                }
                p->n_cal++;
        }
        if (sc->cron.expr) {
                int r = tf_cron_parse(sc->cron.expr, &p->cron, err);
                if (r < 0) {
                        _cleanup_free_ char *w = tf_spec_where(spec, sc->cron.pos);
                        return tf_error_prefix(err, "%s: schedule.cron", w);
                }
                p->reboot = tf_cron_is_reboot(p->cron);
        }
        return 0;
}

static void fireplan_sched_next(const struct tf_fire_plan *p, uint64_t after, uint64_t *best) {
        uint64_t t;
        for (size_t i = 0; i < p->n_cal; i++)
                if (tf_cal_next(p->cal[i], after, &t, NULL) == 0 && t < *best)
                        *best = t;
        if (p->cron && !p->reboot && tf_cron_next(p->cron, after, &t, NULL) == 0 && t < *best)
                *best = t;
}

static void fireplan_sched_free(struct tf_fire_plan *p) {
        for (size_t i = 0; i < p->n_cal; i++)
                tf_cal_free(p->cal[i]);
        free(p->cal);
        tf_cron_free(p->cron);
}
#endif
