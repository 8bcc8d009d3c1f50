/* SPDX-License-Identifier: MIT */
#include "loop.h"

#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/auxv.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/strutil.h"

struct tf_source {
        struct tf_loop *loop;
        int fd;
        bool owns_fd;
        bool is_timer;
        bool realtime;
        bool dead;
        bool deferred;
        tf_io_cb cb;
        void *userdata;
        struct tf_source *next; /* all sources, for freeing */
};

struct tf_loop {
        int epfd;
        bool exiting;
        int exit_code;
        struct tf_source *sources;
        unsigned dead_count;
        unsigned n_deferred; /* deferred calls not yet made */
        unsigned holds;
        uint64_t warn_usec; /* TFRUN_LOOP_WARN_MS; 0: off */
        bool warn_fatal;
};

/* Only for an unprivileged tfrun: a setuid one must not take behaviour from its caller's environment. */
static void read_warn_env(struct tf_loop *l) {
        if (getauxval(AT_SECURE))
                return;
        const char *v = getenv("TFRUN_LOOP_WARN_MS");
        if (v && *v) {
                char *end;
                unsigned long ms = strtoul(v, &end, 10);
                if (*end == 0 && ms > 0)
                        l->warn_usec = (uint64_t) ms * 1000;
        }
        v = getenv("TFRUN_LOOP_WARN_FATAL");
        l->warn_fatal = v && streq(v, "1");
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

int tf_loop_new(struct tf_loop **ret, tf_error **err) {
        struct tf_loop *l = tf_malloc0(sizeof(*l));
        read_warn_env(l);
        l->epfd = epoll_create1(EPOLL_CLOEXEC);
        if (l->epfd < 0) {
                int r = tf_error_setc(err, errno, "epoll_create1");
                free(l);
                return r;
        }
        *ret = l;
        return 0;
}

static void source_free(struct tf_source *s) {
        if (s->owns_fd && s->fd >= 0)
                close(s->fd);
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
        if (l->epfd >= 0)
                close(l->epfd);
        free(l);
}

static int add(struct tf_loop *l, int fd, bool owns, uint32_t events, tf_io_cb cb, void *userdata,
               struct tf_source **ret, tf_error **err) {
        struct tf_source *s = tf_malloc0(sizeof(*s));
        *s = (struct tf_source){ .loop = l, .fd = fd, .owns_fd = owns, .cb = cb, .userdata = userdata };
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

int tf_loop_add_io(struct tf_loop *l, int fd, uint32_t events, tf_io_cb cb, void *userdata,
                   struct tf_source **ret, tf_error **err) {
        return add(l, fd, false, events, cb, userdata, ret, err);
}

int tf_source_set_time(struct tf_source *s, uint64_t usec) {
        struct itimerspec its = { .it_value = tf_usec_to_timespec(usec ? usec : 1) };
        int flags = TFD_TIMER_ABSTIME | (s->realtime ? TFD_TIMER_CANCEL_ON_SET : 0);
        if (timerfd_settime(s->fd, flags, &its, NULL) < 0)
                return -errno;
        return 0;
}

int tf_loop_add_timer(struct tf_loop *l, clockid_t clock, uint64_t usec, tf_io_cb cb, void *userdata,
                      struct tf_source **ret, tf_error **err) {
        _cleanup_close_ int fd = timerfd_create(clock, TFD_CLOEXEC | TFD_NONBLOCK);
        if (fd < 0)
                return tf_error_setc(err, errno, "timerfd_create");
        struct tf_source *s = NULL;
        int r = add(l, fd, true, EPOLLIN, cb, userdata, &s, err);
        if (r < 0)
                return r;
        TAKE_FD(fd);
        s->is_timer = true;
        s->realtime = clock == CLOCK_REALTIME;
        r = tf_source_set_time(s, usec);
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
        *s = (struct tf_source){ .loop = l, .fd = -1, .deferred = true, .cb = cb, .userdata = userdata };
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
        if (s->deferred) {
                s->loop->n_deferred--;
                s->deferred = false;
        } else
                epoll_ctl(s->loop->epfd, EPOLL_CTL_DEL, s->fd, NULL);
        s->dead = true;
        s->loop->dead_count++;
}

void tf_loop_exit(struct tf_loop *l, int code) {
        l->exiting = true;
        l->exit_code = code;
}

/* Make the deferred calls pending now; those they defer in turn wait for the next round. */
static int run_deferred(struct tf_loop *l) {
        unsigned n = l->n_deferred;
        for (struct tf_source *s = l->sources; s && n > 0; s = s->next) {
                if (!s->deferred || s->dead)
                        continue;
                n--;
                tf_source_remove(s); /* before the call: the callback may free what userdata points to */
                int r = dispatch(l, s, 0);
                if (r < 0)
                        return r;
        }
        return 0;
}

int tf_loop_run(struct tf_loop *l) {
        while (!l->exiting || l->holds > 0 || l->n_deferred > 0) {
                if (l->n_deferred > 0) {
                        int r = run_deferred(l);
                        reap_dead(l);
                        if (r < 0)
                                return r;
                        continue;
                }
                struct epoll_event evs[16];
                int n = epoll_wait(l->epfd, evs, (int) ELEMENTSOF(evs), -1);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                for (int i = 0; i < n; i++) {
                        struct tf_source *s = evs[i].data.ptr;
                        if (s->dead)
                                continue;
                        uint32_t events = evs[i].events;
                        if (s->is_timer) {
                                uint64_t ticks;
                                /* ECANCELED: the realtime clock was set; tell the owner with events 0. */
                                if (read(s->fd, &ticks, sizeof(ticks)) < 0 && errno == ECANCELED)
                                        events = 0;
                        }
                        int r = dispatch(l, s, events);
                        if (r < 0) {
                                reap_dead(l);
                                return r;
                        }
                }
                reap_dead(l);
        }
        return l->exit_code;
}
