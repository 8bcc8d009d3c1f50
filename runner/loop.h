/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * The one event loop (after redis' ae.c): epoll over file descriptors, each with a callback. Signals come
 * in through a signalfd, children through pidfds, timeouts and schedules through timerfds, so every source
 * is a file descriptor and there is no polling and no thread.
 *
 * Removing a source from inside any callback is safe: removal marks the entry and the loop frees it after
 * the current dispatch round.
 */

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "base/error.h"
#include "base/timeutil.h"

struct tf_loop;
struct tf_source;

/* Return < 0 to stop the loop with that error (the loop returns it). */
typedef int (*tf_io_cb)(struct tf_source *s, int fd, uint32_t events, void *userdata);

int tf_loop_new(struct tf_loop **ret, tf_error **err);
/* A loop on a virtual clock, for unit tests of what runs on it: time stands still until
 * tf_loop_advance() moves both clocks, firing due timers and deferred calls in order. I/O sources are
 * not watched (tf_loop_run() returns -EDEADLK once only they are left). */
int tf_loop_new_virtual(uint64_t realtime_usec, uint64_t monotonic_usec, struct tf_loop **ret, tf_error **err);
int tf_loop_advance(struct tf_loop *l, uint64_t usec);
/* The loop's clock: tf_now() for a real loop, the virtual time otherwise. Everything that arms the loop's
 * timers takes its "now" from here. */
uint64_t tf_loop_now(const struct tf_loop *l, clockid_t clock);
void tf_loop_free(struct tf_loop *l);

/* Watch fd (borrowed: the caller keeps owning and closing it, after removing the source). */
int tf_loop_add_io(struct tf_loop *l, int fd, uint32_t events, tf_io_cb cb, void *userdata,
                   struct tf_source **ret, tf_error **err);

/* A one-shot timer on `clock` firing at absolute time `usec` (tf_now(clock) units). Timers live in the
 * loop (one timerfd per clock for all of them, armed at the earliest deadline). With CLOCK_REALTIME, TFD_TIMER_CANCEL_ON_SET is used and the callback gets events == 0 when the
 * clock was set (the caller recomputes its deadline). Re-arm with tf_source_set_time(). */
int tf_loop_add_timer(struct tf_loop *l, clockid_t clock, uint64_t usec, tf_io_cb cb, void *userdata,
                      struct tf_source **ret, tf_error **err);
int tf_source_set_time(struct tf_source *s, uint64_t usec);

/* Call cb(s, -1, 0, userdata) once from the loop, before it waits again: for work that must not run
 * inside its caller (a run that ends from inside its own start). Deferred calls run in the order they were
 * made. The source is gone after the call; tf_source_remove() before it cancels it. */
int tf_loop_defer(struct tf_loop *l, tf_io_cb cb, void *userdata, struct tf_source **ret);

/* Work that must finish before the process ends (a container's DELETE in flight): after tf_loop_exit(),
 * tf_loop_run() goes on dispatching until every hold is released. Holders bound their own work. */
void tf_loop_hold(struct tf_loop *l);
void tf_loop_release(struct tf_loop *l);

/* How late the most recent timer fired: the time between its deadline and its dispatch round (the loop
 * busy elsewhere, or the host). 0 before any. */
uint64_t tf_loop_lag_usec(const struct tf_loop *l);

/* Stop watching; NULL-safe. Safe inside callbacks. */
void tf_source_remove(struct tf_source *s);

/* Run until tf_loop_exit() or a callback error. Returns the exit code given to tf_loop_exit(), or the
 * callback's negative error. */
int tf_loop_run(struct tf_loop *l);
/* Debug switch: TFRUN_LOOP_WARN_MS=N in the environment (ignored for a setuid or otherwise privileged
 * tfrun, AT_SECURE) makes the loop log every dispatch that took longer than N ms, naming the callback. */
void tf_loop_exit(struct tf_loop *l, int code);
