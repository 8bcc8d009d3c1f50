/* SPDX-License-Identifier: MIT */
#include "loop.h"

#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/epoll.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/strutil.h"

enum kind { IO, TIMER, DEFERRED };

struct tf_source {
        struct tf_loop *loop;
        enum kind kind;
        int fd;       /* IO only */
        bool realtime; /* TIMER: CLOCK_REALTIME, else CLOCK_MONOTONIC */
        bool armed;    /* TIMER: in its clock's queue */
        bool dead;
        uint64_t at;   /* TIMER: absolute deadline */
        tf_io_cb cb;
        void *userdata;
        struct tf_source *next;  /* all sources, for freeing */
        struct tf_source *tnext; /* TIMER: its clock's queue, sorted by deadline */
};

/* One timerfd per clock, armed at the earliest deadline of its queue: hundreds of services' timers cost two
 * descriptors, not hundreds. The realtime one carries TFD_TIMER_CANCEL_ON_SET. */
struct clock_q {
        int fd;
        struct tf_source *head;
        uint64_t armed_at; /* what the timerfd is set to; UINT64_MAX: disarmed */
};

struct tf_loop {
        int epfd;
        bool exiting;
        int exit_code;
        struct tf_source *sources;
        unsigned dead_count;
        unsigned n_deferred;
        unsigned holds;
        struct clock_q q[2]; /* [0] monotonic, [1] realtime */
        bool is_virtual;
        uint64_t vnow[2];
        uint64_t warn_usec; /* TFRUN_LOOP_WARN_MS; 0: off */
        uint64_t lag_usec;  /* tf_loop_lag_usec() */
        bool warn_fatal;
};

/* Only for an unprivileged tfrun: a setuid one must not take behaviour from its caller's environment. */
static void read_warn_env(struct tf_loop *l) {
        if (getauxval(AT_SECURE))
                return;
        const char *v = secure_getenv("TFRUN_LOOP_WARN_MS");
        if (v && *v) {
                char *end;
                unsigned long ms = strtoul(v, &end, 10);
                if (*end == 0 && ms > 0)
                        l->warn_usec = (uint64_t) ms * 1000;
        }
        v = secure_getenv("TFRUN_LOOP_WARN_FATAL");
        l->warn_fatal = v && streq(v, "1");
}

uint64_t tf_loop_lag_usec(const struct tf_loop *l) {
        return l->lag_usec;
}

uint64_t tf_loop_now(const struct tf_loop *l, clockid_t clock) {
        if (l->is_virtual)
                return l->vnow[clock == CLOCK_REALTIME];
        return tf_now(clock);
}

/* One callback, timed when the debug switch is on. */
static int dispatch(struct tf_loop *l, struct tf_source *s, uint32_t events) {
        if (!l->warn_usec)
                return s->cb(s, s->fd, events, s->userdata);
        uint64_t t0 = tf_now(CLOCK_MONOTONIC);
        tf_io_cb cb = s->cb;
        int fd = s->fd;
        int r = cb(s, fd, events, s->userdata);
        uint64_t took = tf_now(CLOCK_MONOTONIC) - t0;
        if (took > l->warn_usec) {
                Dl_info di = {};
                dladdr((void *) (uintptr_t) cb, &di);
                fprintf(stderr, "tfrun: loop: a dispatch took %llu ms (callback %s%s%p, fd %d)\n",
                        (unsigned long long) (took / 1000), di.dli_sname ? di.dli_sname : "",
                        di.dli_sname ? " at " : "", (void *) (uintptr_t) cb, fd);
                if (l->warn_fatal)
                        abort();
        }
        return r;
}

static int loop_new(bool is_virtual, struct tf_loop **ret, tf_error **err) {
        struct tf_loop *l = tf_malloc0(sizeof(*l));
        l->is_virtual = is_virtual;
        l->q[0].fd = l->q[1].fd = -1;
        l->q[0].armed_at = l->q[1].armed_at = UINT64_MAX;
        read_warn_env(l);
        l->epfd = epoll_create1(EPOLL_CLOEXEC);
        if (l->epfd < 0) {
                int r = tf_error_setc(err, errno, "epoll_create1");
                free(l);
                return r;
        }
        if (!is_virtual)
                for (int i = 0; i < 2; i++) {
                        l->q[i].fd = timerfd_create(i ? CLOCK_REALTIME : CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
                        struct epoll_event ev = { .events = EPOLLIN, .data.ptr = &l->q[i] };
                        if (l->q[i].fd < 0 || epoll_ctl(l->epfd, EPOLL_CTL_ADD, l->q[i].fd, &ev) < 0) {
                                int r = tf_error_setc(err, errno, "timerfd");
                                tf_loop_free(l);
                                return r;
                        }
                }
        *ret = l;
        return 0;
}

int tf_loop_new(struct tf_loop **ret, tf_error **err) {
        return loop_new(false, ret, err);
}

int tf_loop_new_virtual(uint64_t realtime_usec, uint64_t monotonic_usec, struct tf_loop **ret, tf_error **err) {
        int r = loop_new(true, ret, err);
        if (r == 0) {
                (*ret)->vnow[0] = monotonic_usec;
                (*ret)->vnow[1] = realtime_usec;
        }
        return r;
}

/* I/O sources borrow their fd; timers and deferred calls have none of their own. */
static void source_free(struct tf_source *s) {
        free(s);
}

static void reap_dead(struct tf_loop *l) {
        if (!l->dead_count)
                return;
        for (struct tf_source **p = &l->sources; *p;) {
                if ((*p)->dead) {
                        struct tf_source *d = *p;
                        *p = d->next;
                        source_free(d);
                } else
                        p = &(*p)->next;
        }
        l->dead_count = 0;
}

void tf_loop_free(struct tf_loop *l) {
        if (!l)
                return;
        while (l->sources) {
                struct tf_source *s = l->sources;
                l->sources = s->next;
                source_free(s);
        }
        for (int i = 0; i < 2; i++)
                if (l->q[i].fd >= 0)
                        close(l->q[i].fd);
        if (l->epfd >= 0)
                close(l->epfd);
        free(l);
}

static struct tf_source *source_new(struct tf_loop *l, enum kind k, tf_io_cb cb, void *userdata) {
        struct tf_source *s = tf_malloc0(sizeof(*s));
        *s = (struct tf_source){ .loop = l, .kind = k, .fd = -1, .cb = cb, .userdata = userdata };
        s->next = l->sources;
        l->sources = s;
        return s;
}

int tf_loop_add_io(struct tf_loop *l, int fd, uint32_t events, tf_io_cb cb, void *userdata,
                   struct tf_source **ret, tf_error **err) {
        struct tf_source *s = tf_malloc0(sizeof(*s));
        *s = (struct tf_source){ .loop = l, .kind = IO, .fd = fd, .cb = cb, .userdata = userdata };
        struct epoll_event ev = { .events = events, .data.ptr = s };
        if (epoll_ctl(l->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
                int r = tf_error_setc(err, errno, "epoll_ctl add fd %d", fd);
                free(s);
                return r;
        }
        s->next = l->sources;
        l->sources = s;
        if (ret)
                *ret = s;
        return 0;
}

/* Set the clock's timerfd to its queue's head, if that changed. */
static int rearm(struct tf_loop *l, struct clock_q *q, bool realtime) {
        uint64_t want = q->head ? q->head->at : UINT64_MAX;
        if (l->is_virtual || want == q->armed_at)
                return 0;
        /* An all-zero value disarms; a deadline at the epoch is due at once anyway, so make it 1 ns. */
        struct itimerspec its = {};
        if (want != UINT64_MAX) {
                its.it_value = tf_usec_to_timespec(want);
                if (want == 0)
                        its.it_value.tv_nsec = 1;
        }
        int flags = TFD_TIMER_ABSTIME | (realtime ? TFD_TIMER_CANCEL_ON_SET : 0);
        if (timerfd_settime(q->fd, flags, &its, NULL) < 0)
                return -errno;
        q->armed_at = want;
        return 0;
}

static void unqueue(struct tf_source *s) {
        if (!s->armed)
                return;
        struct clock_q *q = &s->loop->q[s->realtime];
        for (struct tf_source **p = &q->head; *p; p = &(*p)->tnext)
                if (*p == s) {
                        *p = s->tnext;
                        break;
                }
        s->tnext = NULL;
        s->armed = false;
}

int tf_source_set_time(struct tf_source *s, uint64_t usec) {
        struct tf_loop *l = s->loop;
        struct clock_q *q = &l->q[s->realtime];
        unqueue(s);
        s->at = usec;
        /* After equal deadlines: timers due at the same time fire in the order they were set. */
        struct tf_source **p = &q->head;
        while (*p && (*p)->at <= usec)
                p = &(*p)->tnext;
        s->tnext = *p;
        *p = s;
        s->armed = true;
        return rearm(l, q, s->realtime);
}

int tf_loop_add_timer(struct tf_loop *l, clockid_t clock, uint64_t usec, tf_io_cb cb, void *userdata,
                      struct tf_source **ret, tf_error **err) {
        struct tf_source *s = source_new(l, TIMER, cb, userdata);
        s->realtime = clock == CLOCK_REALTIME;
        int r = tf_source_set_time(s, usec);
        if (r < 0) {
                tf_source_remove(s);
                return tf_error_setc(err, r, "timerfd_settime");
        }
        if (ret)
                *ret = s;
        return 0;
}

int tf_loop_defer(struct tf_loop *l, tf_io_cb cb, void *userdata, struct tf_source **ret) {
        struct tf_source *s = tf_malloc0(sizeof(*s));
        *s = (struct tf_source){ .loop = l, .kind = DEFERRED, .fd = -1, .cb = cb, .userdata = userdata };
        /* Appended, so that deferred calls run in order. */
        struct tf_source **p = &l->sources;
        while (*p)
                p = &(*p)->next;
        *p = s;
        l->n_deferred++;
        if (ret)
                *ret = s;
        return 0;
}

void tf_loop_hold(struct tf_loop *l) {
        l->holds++;
}

void tf_loop_release(struct tf_loop *l) {
        if (l->holds > 0)
                l->holds--;
}

void tf_source_remove(struct tf_source *s) {
        if (!s || s->dead)
                return;
        struct tf_loop *l = s->loop;
        switch (s->kind) {
        case DEFERRED:
                l->n_deferred--;
                break;
        case TIMER:
                unqueue(s);
                (void) rearm(l, &l->q[s->realtime], s->realtime);
                break;
        case IO:
                epoll_ctl(l->epfd, EPOLL_CTL_DEL, s->fd, NULL);
                break;
        }
        s->dead = true;
        l->dead_count++;
}

void tf_loop_exit(struct tf_loop *l, int code) {
        l->exiting = true;
        l->exit_code = code;
}

/* Make the deferred calls pending now; those they defer in turn wait for the next round. */
static int run_deferred(struct tf_loop *l) {
        unsigned n = l->n_deferred;
        for (struct tf_source *s = l->sources; s && n > 0; s = s->next) {
                if (s->kind != DEFERRED || s->dead)
                        continue;
                n--;
                tf_source_remove(s); /* before the call: the callback may free what userdata points to */
                int r = dispatch(l, s, 0);
                if (r < 0)
                        return r;
        }
        return 0;
}

/* Fire the timers of one clock that are due at `now` (cancelled: the realtime clock was set, and every
 * realtime timer is told with events 0 so that its owner recomputes). */
static int run_timers(struct tf_loop *l, int which, uint64_t now, bool cancelled) {
        struct clock_q *q = &l->q[which];
        q->armed_at = UINT64_MAX; /* the timerfd fired or was cancelled: it is no longer set */
        /* Take the due ones out first, into an array of their own: callbacks re-arm, add and remove timers
         * freely (a re-armed one is back in the queue and is skipped here). */
        size_t n = 0, cap = 0;
        struct tf_source **due = NULL;
        while (q->head && (cancelled || q->head->at <= now)) {
                struct tf_source *s = q->head;
                q->head = s->tnext;
                s->armed = false;
                s->tnext = NULL;
                if (n == cap) {
                        cap = cap ? cap * 2 : 8;
                        due = tf_realloc(due, cap * sizeof(*due));
                }
                due[n++] = s;
        }
        int r = rearm(l, q, which == 1);
        /* The earliest deadline is the latest fire of the round. */
        if (n && !cancelled)
                l->lag_usec = now > due[0]->at ? now - due[0]->at : 0;
        for (size_t i = 0; i < n && r >= 0; i++) {
                struct tf_source *s = due[i];
                if (s->dead || s->armed)
                        continue;
                int k = dispatch(l, s, cancelled ? 0 : EPOLLIN);
                if (k < 0)
                        r = k;
        }
        free(due);
        return r < 0 ? r : 0;
}

static bool running(const struct tf_loop *l) {
        return !l->exiting || l->holds > 0 || l->n_deferred > 0;
}

int tf_loop_run(struct tf_loop *l) {
        while (running(l)) {
                if (l->n_deferred > 0) {
                        int r = run_deferred(l);
                        reap_dead(l);
                        if (r < 0)
                                return r;
                        continue;
                }
                if (l->is_virtual)
                        return -EDEADLK; /* nothing to do until the test advances the clock */
                struct epoll_event evs[16];
                int n = epoll_wait(l->epfd, evs, (int) ELEMENTSOF(evs), -1);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                for (int i = 0; i < n; i++) {
                        void *p = evs[i].data.ptr;
                        int r = 0;
                        if (p == &l->q[0] || p == &l->q[1]) {
                                int which = p == &l->q[1];
                                uint64_t ticks;
                                bool cancelled = read(l->q[which].fd, &ticks, sizeof(ticks)) < 0 &&
                                                 errno == ECANCELED;
                                r = run_timers(l, which, tf_now(which ? CLOCK_REALTIME : CLOCK_MONOTONIC),
                                               cancelled);
                        } else {
                                struct tf_source *s = p;
                                if (!s->dead)
                                        r = dispatch(l, s, evs[i].events);
                        }
                        if (r < 0) {
                                reap_dead(l);
                                return r;
                        }
                }
                reap_dead(l);
        }
        return l->exit_code;
}

int tf_loop_advance(struct tf_loop *l, uint64_t usec) {
        if (!l->is_virtual)
                return -EINVAL;
        uint64_t end = l->vnow[0] + usec;
        for (;;) {
                int r = run_deferred(l);
                reap_dead(l);
                if (r < 0)
                        return r;
                if (l->n_deferred > 0)
                        continue;
                /* The next deadline of either clock within the step; both clocks move together. */
                uint64_t step = end - l->vnow[0];
                int which = -1;
                for (int i = 0; i < 2; i++)
                        if (l->q[i].head) {
                                uint64_t d = l->q[i].head->at > l->vnow[i] ? l->q[i].head->at - l->vnow[i] : 0;
                                if (d <= step) {
                                        step = d;
                                        which = i;
                                }
                        }
                l->vnow[0] += step;
                l->vnow[1] += step;
                if (which < 0)
                        return 0;
                r = run_timers(l, which, l->vnow[which], false);
                reap_dead(l);
                if (r < 0)
                        return r;
        }
}
