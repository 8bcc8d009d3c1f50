/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * The manager's budget (`budget:` in its settings): one parent cgroup, PARENT/tfrun-budget-<pid> at the same
 * path in every hierarchy, that every run of the manager lives under: native runs as their cgroup parent,
 * containers through the engine's CgroupParent. Its limits are the budget's, so the sum of everything the
 * manager runs cannot exceed them, whatever the services' own limits say. Created at start, removed at exit;
 * one left by a manager that is gone is swept at start.
 */

#include <jansson.h>
#include <stdint.h>

#include "base/error.h"
#include "cgroup/cgroup.h"
#include "spec/settings.h"

struct tf_budget;

/* parent: --cgroup-parent, or NULL for the deepest of tfrun's own cgroups. Sweeps budgets of managers
 * that are gone below the same parent (blocking, bounded: before the loop runs). */
int tf_budget_new(struct tf_cg_host *h, const struct tf_settings *st, const char *parent,
                  struct tf_budget **ret, tf_error **err);
/* A reload of the settings: st's budget limits written to the budget's cgroup (the same keys as it was made
 * with; see tf_cg_set_limits()); on failure the previous ones are written back. st is borrowed from then
 * on. */
int tf_budget_set_limits(struct tf_budget *b, const struct tf_settings *st, tf_error **err);
/* Kills what is left below it, removes it and the directories made for it (bounded wait). NULL-safe. */
void tf_budget_free(struct tf_budget *b);
/* "/a/b/tfrun-budget-<pid>": the parent of every run. */
const char *tf_budget_path(const struct tf_budget *b);
/* On cgroup v2, the budget cgroup's directory, where its own cpu.pressure, memory.pressure and io.pressure
 * are; NULL elsewhere (v1 has no pressure files). */
const char *tf_budget_pressure_dir(const struct tf_budget *b);
/* The main hierarchy's directory, for messages. */
const char *tf_budget_dir(const struct tf_budget *b);
/* {"path", "limits": {cpus, memory, memory_swap, pids, io_weight, io: [{device,
 * read_bps, write_bps, read_iops, write_iops}]}, "usage": {memory, pids, cpu_seconds}};
 * new reference. */
json_t *tf_budget_json(struct tf_budget *b);
struct tf_cg_usage;
void tf_budget_usage(struct tf_budget *b, struct tf_cg_usage *ret);
