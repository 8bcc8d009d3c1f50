/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * The dashboard (DESIGN.md "The network API, metrics, alerts, dashboard"): one HTML page, one script and
 * one style sheet from manager/ui/, compiled into the manager module at build time (scripts/embed-text.py),
 * served at / and /ui/FILE without a token (they hold no data: the page asks the API for everything, with
 * the token its user typed). docs/api.md ("The dashboard") says why it is built this way.
 */

#include "manager/http.h"

/* GET / and GET /ui/{file}: the page and its files; 404 for a file that is not one of them. */
int tf_ui_h(struct tf_http_request *req, struct tf_http_response *resp, void *userdata);

/* The headers every answer of the manager's server carries ({name, value, ..., NULL}): a strict content
 * security policy (no script or style but the dashboard's own files, no frames), nosniff, no referrer, no
 * caching. */
const char *const *tf_ui_headers(void);
