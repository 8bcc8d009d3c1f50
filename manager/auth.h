/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * The network API's bearer tokens (DESIGN.md "The network API"): `Authorization: Bearer TOKEN` on TCP,
 * each token with a role and optionally limited to some services. A token is 256 random bits from
 * getrandom(2), shown once at its creation; the history (store/, mode 0600) keeps only its SHA-256. A
 * presented token is hashed and compared with every stored hash in constant time. The unix socket
 * (SO_PEERCRED: the manager's uid and root) counts as admin.
 *
 * Roles, each with what the one below may do: read (services, runs, logs, metrics), operate (+ trigger,
 * stop, enable, disable, retry), admin (+ reload, tokens).
 */

#include <jansson.h>
#include <stdbool.h>

#include "base/error.h"
#include "manager/http.h"
#include "store/store.h"

enum tf_role {
        TF_ROLE_NONE = 0, /* a route with perm 0 needs no token: the dashboard's files, whoami */
        TF_ROLE_READ,
        TF_ROLE_OPERATE,
        TF_ROLE_ADMIN,
};

struct tf_auth;

/* Loads the tokens from the history; store is borrowed. */
int tf_auth_new(tf_store *store, struct tf_auth **ret, tf_error **err);
void tf_auth_free(struct tf_auth *a);

/* The server's authorize callback (tf_http_options.authorize); userdata is the manager. */
unsigned tf_auth_authorize(struct tf_http_request *req, const struct tf_http_route *route, void *userdata,
                           char *why, size_t why_size);

/* What the request's caller may see: a service of its token (every service for the unix socket and for a
 * token without --services). services: "a,b" or NULL for all. */
bool tf_auth_service_allowed(const struct tf_http_request *req, const char *service);
const char *tf_auth_services(const struct tf_http_request *req);

/* The token routes' handlers (userdata: the manager): GET /api/v1/tokens, POST /api/v1/tokens {"name",
 * "role", "services": [...]} answering {"name", "token"} (the only time the token is shown), DELETE
 * /api/v1/tokens/{name}. */
int tf_auth_h_list(struct tf_http_request *req, struct tf_http_response *resp, void *userdata);
int tf_auth_h_create(struct tf_http_request *req, struct tf_http_response *resp, void *userdata);
int tf_auth_h_revoke(struct tf_http_request *req, struct tf_http_response *resp, void *userdata);
/* GET /api/v1/whoami (public): {"name", "role", "services", "via"} of the caller's token, all null without
 * one ("via": "unix" or "tcp"); never the token. */
int tf_auth_h_whoami(struct tf_http_request *req, struct tf_http_response *resp, void *userdata);

/* --listen SPEC: "ADDR:PORT", ":PORT" (127.0.0.1), "[IPV6]:PORT"; port 0 takes any free one. Logs the
 * address bound, and a warning for an address that is not loopback. */
int tf_auth_listen_tcp(struct tf_http_server *s, const char *spec, tf_error **err);
