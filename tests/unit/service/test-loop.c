/* SPDX-License-Identifier: MIT */
/* The loop's own timers (real clock) and deferred calls: order, removal and re-arming from callbacks. */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "base/cleanup.h"
#include "runner/loop.h"
#include "tests/tap.h"

static char order[64];
static struct tf_source *victim, *rearmed;
static int rearm_count;

static void note(char c) {
        size_t n = strlen(order);
        if (n < sizeof(order) - 1)
                order[n] = c;
}

static int on_timer(struct tf_source *s, int fd, uint32_t events, void *userdata) {
        char c = *(const char *) userdata;
        note(c);
        if (c == 'a')
                tf_source_remove(victim); /* due in the same round: must not fire */
        if (c == 'r' && ++rearm_count < 3)
                tf_source_set_time(s, tf_now(CLOCK_MONOTONIC) + 1000);
        else
                tf_source_remove(s);
        return 0;
}

static int on_defer(struct tf_source *s, int fd, uint32_t events, void *userdata) {
        note(*(const char *) userdata);
        return 0;
}

static int on_end(struct tf_source *s, int fd, uint32_t events, void *userdata) {
        tf_loop_exit(userdata, 0);
        return 0;
}

int main(void) {
        _cleanup_error_ tf_error *e = NULL;
        struct tf_loop *l = NULL;
        if (tf_loop_new(&l, &e) < 0)
                return 1;
        uint64_t now = tf_now(CLOCK_MONOTONIC);
        static const char a = 'a', b = 'b', c = 'c', v = 'v', r = 'r', d1 = '1', d2 = '2';
        tf_loop_add_timer(l, CLOCK_MONOTONIC, now + 30000, on_timer, (void *) &c, NULL, &e);
        tf_loop_add_timer(l, CLOCK_MONOTONIC, now + 10000, on_timer, (void *) &a, NULL, &e);
        tf_loop_add_timer(l, CLOCK_MONOTONIC, now + 10000, on_timer, (void *) &v, &victim, &e);
        tf_loop_add_timer(l, CLOCK_MONOTONIC, now + 20000, on_timer, (void *) &b, NULL, &e);
        tf_loop_add_timer(l, CLOCK_REALTIME, tf_now(CLOCK_REALTIME) + 50000, on_timer, (void *) &r, &rearmed, &e);
        tf_loop_defer(l, on_defer, (void *) &d1, NULL);
        tf_loop_defer(l, on_defer, (void *) &d2, NULL);
        tf_loop_add_timer(l, CLOCK_MONOTONIC, now + 200000, on_end, l, NULL, &e);
        int k = tf_loop_run(l);
        IS_INT(k, 0, "the loop ends with its exit code");
        IS_STR(order, "12abcrrr", "deferred calls first, in order; timers by deadline; removed one silent; "
               "a re-armed realtime timer fires again");
        uint64_t took = tf_now(CLOCK_MONOTONIC) - now;
        OK(took >= 200000, "the loop waited for the last timer (%llu us)", (unsigned long long) took);
        tf_loop_free(l);
        victim = NULL; /* freed with its loop */

        /* A virtual loop: time moves only when told. */
        if (tf_loop_new_virtual(1000000, 5000000, &l, &e) < 0)
                return 1;
        memset(order, 0, sizeof(order));
        tf_loop_add_timer(l, CLOCK_MONOTONIC, 7000000, on_timer, (void *) &b, NULL, &e);
        tf_loop_add_timer(l, CLOCK_REALTIME, 2000000, on_timer, (void *) &a, NULL, &e);
        tf_loop_advance(l, 1000000);
        IS_STR(order, "a", "virtual: a realtime timer 1 s ahead fired after 1 s");
        IS_INT(tf_loop_now(l, CLOCK_MONOTONIC), 6000000, "virtual: both clocks moved together");
        tf_loop_advance(l, 999999);
        IS_STR(order, "a", "virtual: not before its deadline");
        tf_loop_advance(l, 1);
        IS_STR(order, "ab", "virtual: at its deadline");
        tf_loop_free(l);
        printf("1..%d\n", tap_count);
        return tap_failed ? 1 : 0;
}
