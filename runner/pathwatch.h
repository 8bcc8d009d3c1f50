/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * File triggers (schedule.path): a spec's path conditions watched with one inotify instance on the loop,
 * like systemd's .path units. Paths that do not exist yet are watched through their nearest existing
 * ancestor directory, and the watches follow as directories appear and vanish.
 *
 * A burst of events is one fire: the fire comes once the watched paths have been quiet for `settle`
 * (schedule.path.settle), or at the latest ten times that after the burst's first event, so that a file
 * written without pause still fires now and then. What the service does with the fire (overlap) is its
 * business.
 */

#include <stdbool.h>

#include "base/error.h"
#include "runner/loop.h"
#include "spec/spec.h"

struct tf_path_watch;

/* `why` names the first condition that fired in the burst ("changed /srv/conf"), valid for the call. */
typedef void (*tf_path_fire_cb)(const char *why, void *userdata);

/* Watch sc's paths (copied) on loop. initial: conditions that hold already (exists, glob, not_empty) fire
 * once at start, as a .path unit does; else (a reload) only what changes from now on fires. */
int tf_path_watch_new(struct tf_loop *loop, const struct tf_schedule *sc, bool initial, tf_path_fire_cb fire,
                      void *userdata, struct tf_path_watch **ret, tf_error **err);
void tf_path_watch_free(struct tf_path_watch *w);

/* Whether two schedules watch the same paths the same way (a reload then keeps its watch). */
bool tf_path_watch_same(const struct tf_schedule *a, const struct tf_schedule *b);

/* "exists", "glob", "changed", "modified", "not_empty". */
const char *tf_path_kind_name(enum tf_path_kind k);
