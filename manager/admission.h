/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * Admission (`tfrun up --config`): a run starts only when what it reserves (requests:, by default its
 * limits, without limits a documented minimum) fits what the running runs of the manager hold of the
 * budget, its queue has a free place (max_concurrent) and the host's pressure (PSI) is below the
 * settings' thresholds. Otherwise its job waits here, not in the loop: waiting runs are ordered by
 * priority, FIFO within one, with aging (a run gains one priority point per `aging` of waiting), and one
 * that waited max_wait is recorded as missed (reason admission). Preemption only where a spec asks for it
 * (preemptible: true): a waiting run whose reservation does not fit may have such runs of a strictly
 * lower priority stopped (lowest first, newest first, as few as make it fit, none when all would not),
 * and what they free goes to it first.
 *
 * The order: a run enqueued at t with priority p sorts by p * aging - t (higher first; ties by arrival), a
 * key that does not change while it waits, so the queue stays sorted without re-sorting. A pass walks it
 * from the head: a run whose queue is full is passed over (another queue's runs may start), the first one
 * whose reservation does not fit stops the pass (nothing behind it starts: a large reservation is not
 * starved by small ones).
 */

#include <jansson.h>
#include <stdbool.h>

#include "base/error.h"
#include "runner/loop.h"
#include "runner/service.h"
#include "spec/settings.h"

struct tf_admission;
struct tf_budget;

/* What a run reserves without requests: and limits (docs/spec.md). Without a budget nothing is reserved:
 * only queues and pressure apply. */
#define TF_RESERVE_MIN_MEMORY ((uint64_t)64 << 20)
#define TF_RESERVE_MIN_CPU_QUOTA UINT64_C(10000) /* 0.1 CPU over TF_CPU_PERIOD_USEC */

/* Checks the settings against this host (thresholds where PSI is missing are refused with their
 * position). st and budget (may be NULL) are borrowed and outlive it. */
int tf_admission_new(struct tf_loop *loop, const struct tf_settings *st, struct tf_budget *budget,
                     struct tf_admission **ret, tf_error **err);
void tf_admission_free(struct tf_admission *a);

/* A reload of the settings (st replaces the settings given so far; borrowed from then on): check refuses,
 * with its position and numbers, thresholds where the host has no PSI and a budget below what running runs
 * hold; set applies what check accepted (set without a check before it is not allowed): queues
 * (max_concurrent; a run whose queue is gone goes on in default), aging (waiting runs re-sorted), max_wait,
 * thresholds, and starts what now may start. */
int tf_admission_check_settings(struct tf_admission *a, const struct tf_settings *st, tf_error **err);
void tf_admission_set_settings(struct tf_admission *a, const struct tf_settings *st);

/* The checks of a spec at load: its queue exists, its reservation fits the budget at all. The message
 * names the spec's position and the numbers. */
int tf_admission_check_spec(struct tf_admission *a, const struct tf_spec *spec, tf_error **err);

/* The service hooks (tf_service_hooks.admit and .release). */
bool tf_admission_admit(struct tf_admission *a, struct tf_service_job *job);
void tf_admission_release(struct tf_admission *a, struct tf_service_job *job);
/* Drop every waiting run (the manager is stopping): they are neither started nor recorded. */
void tf_admission_stop(struct tf_admission *a);

/* {"waiting": [{service, queue, priority, position, waiting_seconds, reason, ...}], "held": {...},
 * "queues": [...]} (new reference). */
json_t *tf_admission_json(struct tf_admission *a);
unsigned tf_admission_waiting(const struct tf_admission *a);
/* Runs stopped to make room so far. */
uint64_t tf_admission_preemptions(const struct tf_admission *a);
/* What the running runs hold: memory bytes and CPU quota. */
void tf_admission_held(const struct tf_admission *a, uint64_t *memory, uint64_t *cpu_quota, unsigned *runs);
