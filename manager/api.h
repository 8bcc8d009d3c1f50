/* SPDX-License-Identifier: MIT */
#pragma once

/* The control API's routes over the manager (manager/manager.h) and its history (store/). */

#include <jansson.h>

#include "manager/http.h"
#include "manager/manager.h"
#include "store/store.h"

/* The route table for tf_http_server_new(), with the manager as userdata. */
const struct tf_http_route *tf_api_routes(void);

/* A run of the history as the API shows it (new reference). */
json_t *tf_api_run_json(const struct tf_store_run *r);
/* run["steps"]: the run's steps from the history ([] for a plain run), each with its result; with outputs,
 * each step's output too (a string, or null when it has none or it is not UTF-8). */
void tf_api_run_add_steps(json_t *run, tf_store *store, const char *run_id, bool outputs);
