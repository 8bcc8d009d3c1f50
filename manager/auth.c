/* SPDX-License-Identifier: MIT */
/*
 * Bearer tokens for the network API (manager/auth.h). Kept in memory, loaded from the history at start and
 * written through on every change, so that a request costs one SHA-256 and a few constant-time compares,
 * never a query. Nothing here logs a token or a hash: a refusal names the caller's address and the reason.
 */
#include "manager/auth.h"

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>

#include "base/cleanup.h"
#include "base/parse.h"
#include "base/sha256.h"
#include "base/strutil.h"
#include "base/timeutil.h"
#include "manager/manager.h"
#include "runner/runner.h"

#define TOKEN_PREFIX "tfr_"
#define TOKEN_BYTES 32u
#define TOKEN_PRESENTED_MAX 512u /* longer Authorization values are refused before hashing */
#define TOKENS_MAX 1000u
/* last_used is exact in memory (and in `token list`); the history gets it at most this often per token. */
#define LAST_USED_WRITE_USEC (60 * TF_USEC_PER_SEC)
/* Refusals are logged at most once a second, with a count of those left out: a flood of bad tokens must not
 * flood the log. */
#define REFUSAL_LOG_USEC TF_USEC_PER_SEC

struct token {
        char *name;
        enum tf_role role;
        char *services; /* NULL: all; else "a,b" */
        uint8_t hash[TF_SHA256_SIZE];
        uint64_t created_usec, last_used_usec, last_written_usec;
        struct token *next;
};

struct tf_auth {
        tf_store *store;
        struct token *tokens;
        unsigned n;
        uint64_t last_refusal_log;
        unsigned refusals_unlogged;
};

/* The unix socket's caller: admin over everything. */
static const struct token unix_caller = {.name = (char *)"(unix socket)", .role = TF_ROLE_ADMIN};

static const char *role_name(enum tf_role r) {
        return r == TF_ROLE_ADMIN     ? "admin"
               : r == TF_ROLE_OPERATE ? "operate"
               : r == TF_ROLE_READ    ? "read"
                                      : "none";
}

static enum tf_role role_of(const char *s) {
        return streq(s, "read")      ? TF_ROLE_READ
               : streq(s, "operate") ? TF_ROLE_OPERATE
               : streq(s, "admin")   ? TF_ROLE_ADMIN
                                     : TF_ROLE_NONE;
}

static void token_free(struct token *t) {
        if (!t)
                return;
        free(t->name);
        free(t->services);
        free(t);
}

static int unhex(const char *h, uint8_t *out, size_t n) {
        for (size_t i = 0; i < n; i++) {
                unsigned v;
                if (sscanf(h + 2 * i, "%2x", &v) != 1)
                        return -EINVAL;
                out[i] = (uint8_t)v;
        }
        return 0;
}

static int load_one(const struct tf_store_token *st, void *userdata) {
        struct tf_auth *a = userdata;
        struct token *t = tf_malloc0(sizeof(*t));
        t->name = tf_strdup(st->name);
        t->role = role_of(st->role);
        t->services = st->services ? tf_strdup(st->services) : NULL;
        t->created_usec = st->created_usec;
        t->last_used_usec = t->last_written_usec = st->last_used_usec;
        if (t->role == TF_ROLE_NONE || unhex(st->hash, t->hash, sizeof(t->hash)) < 0) {
                tf_log("warning: token '%s' in the history has an unknown role or a bad hash: ignored",
                       st->name);
                token_free(t);
                return 0;
        }
        t->next = a->tokens;
        a->tokens = t;
        a->n++;
        return 0;
}

int tf_auth_new(tf_store *store, struct tf_auth **ret, tf_error **err) {
        struct tf_auth *a = tf_malloc0(sizeof(*a));
        a->store = store;
        int r = tf_store_tokens(store, load_one, a, err);
        if (r < 0) {
                tf_auth_free(a);
                return r;
        }
        *ret = a;
        return 0;
}

void tf_auth_free(struct tf_auth *a) {
        if (!a)
                return;
        while (a->tokens) {
                struct token *t = a->tokens;
                a->tokens = t->next;
                token_free(t);
        }
        free(a);
}

static bool list_has(const char *list, const char *name) {
        size_t n = strlen(name);
        for (const char *p = list; *p;) {
                size_t k = strcspn(p, ",");
                if (k == n && strncmp(p, name, n) == 0)
                        return true;
                p += k;
                if (*p == ',')
                        p++;
        }
        return false;
}

/* The token whose hash is the presented one's. Every stored hash is compared, whatever matched before:
 * the time taken says how many tokens there are, never which one matched or how much of it. */
static struct token *find_token(struct tf_auth *a, const char *presented, size_t n) {
        uint8_t h[TF_SHA256_SIZE];
        tf_sha256(presented, n, h);
        struct token *found = NULL;
        for (struct token *t = a->tokens; t; t = t->next) {
                bool eq = tf_memeq_const(t->hash, h, sizeof(h));
                found = eq ? t : found;
        }
        memset(h, 0, sizeof(h));
        return found;
}

static void peer_address(struct tf_http_request *req, char *buf, size_t n);

static void log_refusal(struct tf_auth *a, struct tf_http_request *req, unsigned status, const char *why) {
        uint64_t now = tf_now(CLOCK_MONOTONIC);
        if (a->last_refusal_log && now - a->last_refusal_log < REFUSAL_LOG_USEC) {
                a->refusals_unlogged++;
                return;
        }
        char addr[INET6_ADDRSTRLEN + 8];
        peer_address(req, addr, sizeof(addr));
        /* The method and the path, never a header: the token stays out of the log. The path as sent, with
         * anything unprintable replaced: a request must not write escapes into the log. */
        char path[201];
        snprintf(path, sizeof(path), "%s", tf_http_request_path(req));
        for (char *p = path; *p; p++)
                if ((unsigned char)*p < 0x20 || (unsigned char)*p >= 0x7f)
                        *p = '?';
        tf_log("api: refused %s %s from %s: %u, %s%s", tf_http_request_method(req), path, addr, status, why,
               a->refusals_unlogged ? " (and earlier refusals not logged)" : "");
        a->last_refusal_log = now;
        a->refusals_unlogged = 0;
}

unsigned tf_auth_authorize(struct tf_http_request *req, const struct tf_http_route *route, void *userdata,
                           char *why, size_t why_size) {
        struct tf_manager *m = userdata;
        struct tf_auth *a = tf_manager_auth(m);
        if (tf_http_request_is_unix(req)) {
                /* SO_PEERCRED has let only the manager's uid and root in. */
                tf_http_request_set_auth(req, &unix_caller);
                return 0;
        }
        const char *h = tf_http_request_header(req, "Authorization");
        /* A public route (the dashboard's files, whoami) without credentials has nothing to check; with
         * some they are checked all the same, so that whoami tells a bad token from none. */
        if (!h && route && (enum tf_role)route->perm == TF_ROLE_NONE)
                return 0;
        if (!a) {
                snprintf(why, why_size, "no tokens on this manager");
                return 401;
        }
        if (!h || strncasecmp(h, "Bearer ", 7) != 0) {
                snprintf(why, why_size,
                         "authentication required: send Authorization: Bearer TOKEN (see `tfrun "
                         "token create`)");
                log_refusal(a, req, 401, h ? "not a bearer token" : "no token");
                return 401;
        }
        const char *tok = h + 7;
        while (*tok == ' ')
                tok++;
        size_t n = strnlen(tok, TOKEN_PRESENTED_MAX + 1);
        struct token *t = n > 0 && n <= TOKEN_PRESENTED_MAX ? find_token(a, tok, n) : NULL;
        if (!t) {
                snprintf(why, why_size, "invalid token (revoked, or never created on this manager)");
                log_refusal(a, req, 401, "an invalid token");
                return 401;
        }
        tf_http_request_set_auth(req, t);
        uint64_t now = tf_now(CLOCK_REALTIME);
        t->last_used_usec = now;
        if (now - t->last_written_usec >= LAST_USED_WRITE_USEC) {
                _cleanup_error_ tf_error *e = NULL;
                t->last_written_usec = now;
                if (tf_store_token_used(a->store, t->name, now, &e) < 0)
                        tf_log("warning: token '%s': its last use is not recorded: %s", t->name, e->msg);
        }
        if (!route)
                return 0; /* the server answers the routing error, to a caller we know */
        /* No cookie is ever set, so a cross-site page has no credential to send and a forged form is a 401
         * above. A browser's request that says it comes from another site is refused all the same before
         * it changes anything: should a token reach such a page, it still cannot act from there. */
        const char *site = tf_http_request_header(req, "Sec-Fetch-Site");
        if (!streq(tf_http_request_method(req), "GET") && site && !streq(site, "same-origin") &&
            !streq(site, "none")) {
                snprintf(why, why_size,
                         "a %s request from another site (Sec-Fetch-Site: %.20s) is refused: use the "
                         "dashboard of this manager, or a client that is not a browser",
                         tf_http_request_method(req), site);
                log_refusal(a, req, 403, "a cross-site request");
                return 403;
        }
        if ((enum tf_role)route->perm > t->role) {
                snprintf(why, why_size, "token '%s' has role %s; %s %s needs %s", t->name,
                         role_name(t->role), tf_http_request_method(req), tf_http_request_path(req),
                         role_name((enum tf_role)route->perm));
                log_refusal(a, req, 403, "a role too low");
                return 403;
        }
        if (!t->services)
                return 0;
        /* What an admin does beyond services (reload, tokens) is not for a token limited to some: it could
         * make itself a token without the limit. */
        if ((enum tf_role)route->perm == TF_ROLE_ADMIN) {
                snprintf(why, why_size,
                         "token '%s' is limited to services %s; %s %s is for an admin token of "
                         "every service",
                         t->name, t->services, tf_http_request_method(req), tf_http_request_path(req));
                log_refusal(a, req, 403, "an admin route for a token limited to services");
                return 403;
        }
        /* The service the request is about: a {name} of a service route, ?service= of a listing, or the
         * service of the run {id} (from the history: a run id's prefix is not a proof). */
        const char *svc =
                strstr(route->pattern, "/services/{name}") ? tf_http_request_param(req, "name") : NULL;
        if (!svc)
                svc = tf_http_request_query(req, "service");
        _cleanup_free_ struct tf_store_run *run = NULL;
        const char *id = tf_http_request_param(req, "id");
        if (!svc && id && tf_http_valid_run_id(id)) {
                _cleanup_error_ tf_error *e = NULL;
                if (tf_store_get_run(tf_manager_store(m), id, &run, &e) == 0)
                        svc = run->service;
        }
        if (svc && !list_has(t->services, svc)) {
                snprintf(why, why_size, "token '%s' is limited to services %s", t->name, t->services);
                log_refusal(a, req, 403, "a service outside the token's");
                return 403;
        }
        return 0;
}

bool tf_auth_service_allowed(const struct tf_http_request *req, const char *service) {
        const struct token *t = tf_http_request_auth(req);
        if (!t)
                return tf_http_request_is_unix(req); /* TCP without a token never gets this far */
        return !t->services || (service && list_has(t->services, service));
}

const char *tf_auth_services(const struct tf_http_request *req) {
        const struct token *t = tf_http_request_auth(req);
        return t ? t->services : NULL;
}

static void peer_address(struct tf_http_request *req, char *buf, size_t n) {
        const char *a = tf_http_request_peer_address(req);
        snprintf(buf, n, "%s", a ? a : "?");
}

/* --- the token routes --- */

static json_t *services_json(const char *list) {
        if (!list)
                return json_null();
        json_t *sv = json_array();
        for (const char *p = list; *p;) {
                size_t k = strcspn(p, ",");
                json_array_append_new(sv, json_stringn(p, k));
                p += k + (p[k] == ',');
        }
        return sv;
}

int tf_auth_h_whoami(struct tf_http_request *req, struct tf_http_response *resp, void *userdata) {
        const struct token *t = tf_http_request_auth(req);
        /* Never the token, never its hash: what the caller may do, for the dashboard to show. */
        tf_http_respond_json(resp, 200,
                             json_pack("{s:o,s:o,s:o,s:s}", "name", t ? json_string(t->name) : json_null(),
                                       "role", t ? json_string(role_name(t->role)) : json_null(), "services",
                                       services_json(t ? t->services : NULL), "via",
                                       tf_http_request_is_unix(req) ? "unix" : "tcp"));
        return TF_HTTP_DONE;
}

static json_t *time_json(uint64_t usec) {
        if (!usec)
                return json_null();
        char b[40];
        tf_format_utc_usec(b, sizeof(b), usec);
        return json_string(b);
}

int tf_auth_h_list(struct tf_http_request *req, struct tf_http_response *resp, void *userdata) {
        struct tf_auth *a = tf_manager_auth(userdata);
        json_t *arr = json_array();
        for (struct token *t = a ? a->tokens : NULL; t; t = t->next) {
                json_t *sv = services_json(t->services);
                /* Never the token, never its hash. */
                json_array_insert_new(arr, 0,
                                      json_pack("{s:s,s:s,s:o,s:o,s:o}", "name", t->name, "role",
                                                role_name(t->role), "services", sv, "created",
                                                time_json(t->created_usec), "last_used",
                                                time_json(t->last_used_usec)));
        }
        tf_http_respond_json(resp, 200, json_pack("{s:o}", "tokens", arr));
        return TF_HTTP_DONE;
}

static struct token *find_name(struct tf_auth *a, const char *name) {
        for (struct token *t = a->tokens; t; t = t->next)
                if (streq(t->name, name))
                        return t;
        return NULL;
}

int tf_auth_h_create(struct tf_http_request *req, struct tf_http_response *resp, void *userdata) {
        struct tf_manager *m = userdata;
        struct tf_auth *a = tf_manager_auth(m);
        _cleanup_error_ tf_error *e = NULL;
        json_t *body = NULL;
        if (tf_http_request_json(req, &body, &e) < 0) {
                tf_http_respond_error(resp, 400, "%s", e->msg);
                return TF_HTTP_DONE;
        }
        _cleanup_(json_decrefp) json_t *b = body;
        const char *name = json_string_value(json_object_get(b, "name"));
        const char *role = json_string_value(json_object_get(b, "role"));
        json_t *services = json_object_get(b, "services");
        const char *key;
        json_t *v;
        json_object_foreach(b, key,
                            v) if (!streq(key, "name") && !streq(key, "role") && !streq(key, "services")) {
                tf_http_respond_error(resp, 400, "unknown key '%.40s': a token has name, role and services",
                                      key);
                return TF_HTTP_DONE;
        }
        if (!tf_http_valid_name(name)) {
                tf_http_respond_error(resp, 400,
                                      "invalid token name '%.80s': expected [a-z0-9][a-z0-9_.-]{0,62}",
                                      name ? name : "");
                return TF_HTTP_DONE;
        }
        if (!role || role_of(role) == TF_ROLE_NONE) {
                tf_http_respond_error(resp, 400, "invalid role '%.40s': expected read, operate or admin",
                                      role ? role : "");
                return TF_HTTP_DONE;
        }
        _cleanup_free_ char *list = NULL;
        if (services && !json_is_null(services)) {
                size_t i;
                json_t *s;
                if (!json_is_array(services) || json_array_size(services) == 0 ||
                    json_array_size(services) > 64) {
                        tf_http_respond_error(resp, 400,
                                              "services: expected a list of 1 to 64 service names");
                        return TF_HTTP_DONE;
                }
                json_array_foreach(services, i, s) {
                        const char *sn = json_string_value(s);
                        if (!tf_http_valid_name(sn)) {
                                tf_http_respond_error(resp, 400,
                                                      "invalid service name '%.80s' in services: expected "
                                                      "[a-z0-9][a-z0-9_.-]{0,62}",
                                                      sn ? sn : "");
                                return TF_HTTP_DONE;
                        }
                        char *n2 = tf_asprintf("%s%s%s", list ? list : "", list ? "," : "", sn);
                        free(list);
                        list = n2;
                }
        }
        if (!a) {
                tf_http_respond_error(resp, 503, "tokens are not available on this manager");
                return TF_HTTP_DONE;
        }
        if (find_name(a, name)) {
                tf_http_respond_error(resp, 409, "a token named '%s' exists already (revoke it first)",
                                      name);
                return TF_HTTP_DONE;
        }
        if (a->n >= TOKENS_MAX) {
                tf_http_respond_error(resp, 409, "this manager has %u tokens already: revoke some", a->n);
                return TF_HTTP_DONE;
        }
        uint8_t raw[TOKEN_BYTES];
        if (getrandom(raw, sizeof(raw), 0) != (ssize_t)sizeof(raw)) {
                tf_http_respond_error(resp, 500, "getrandom: %s", strerror(errno));
                return TF_HTTP_DONE;
        }
        char token[sizeof(TOKEN_PREFIX) + 2 * TOKEN_BYTES];
        memcpy(token, TOKEN_PREFIX, strlen(TOKEN_PREFIX));
        tf_hex(raw, sizeof(raw), token + strlen(TOKEN_PREFIX));
        struct token *t = tf_malloc0(sizeof(*t));
        tf_sha256(token, strlen(token), t->hash);
        char hash_hex[2 * TF_SHA256_SIZE + 1];
        tf_hex(t->hash, sizeof(t->hash), hash_hex);
        t->name = tf_strdup(name);
        t->role = role_of(role);
        t->services = TAKE_PTR(list);
        t->created_usec = tf_now(CLOCK_REALTIME);
        struct tf_store_token st = {.name = t->name,
                                    .role = role_name(t->role),
                                    .services = t->services,
                                    .hash = hash_hex,
                                    .created_usec = t->created_usec};
        if (tf_store_token_add(a->store, &st, &e) < 0) {
                token_free(t);
                memset(token, 0, sizeof(token));
                tf_http_respond_error(resp, e->code == EEXIST ? 409 : 500, "%s", e->msg);
                return TF_HTTP_DONE;
        }
        t->next = a->tokens;
        a->tokens = t;
        a->n++;
        tf_log("api: token '%s' created (role %s%s%s)", t->name, role_name(t->role),
               t->services ? ", services " : "", t->services ? t->services : "");
        tf_http_respond_json(
                resp, 201,
                json_pack("{s:s,s:s,s:s}", "name", t->name, "role", role_name(t->role), "token", token));
        memset(token, 0, sizeof(token));
        memset(raw, 0, sizeof(raw));
        return TF_HTTP_DONE;
}

int tf_auth_h_revoke(struct tf_http_request *req, struct tf_http_response *resp, void *userdata) {
        struct tf_auth *a = tf_manager_auth(userdata);
        _cleanup_error_ tf_error *e = NULL;
        const char *name = tf_http_request_param(req, "name");
        if (!tf_http_valid_name(name)) {
                tf_http_respond_error(resp, 400,
                                      "invalid token name '%.80s': expected [a-z0-9][a-z0-9_.-]{0,62}",
                                      name ? name : "");
                return TF_HTTP_DONE;
        }
        struct token *t = a ? find_name(a, name) : NULL;
        if (!t) {
                tf_http_respond_error(resp, 404, "no token named '%s' (see `tfrun token list`)", name);
                return TF_HTTP_DONE;
        }
        if (tf_store_token_remove(a->store, name, &e) < 0 && e->code != ENOENT) {
                tf_http_respond_error(resp, 500, "%s", e->msg);
                return TF_HTTP_DONE;
        }
        for (struct token **p = &a->tokens; *p; p = &(*p)->next)
                if (*p == t) {
                        *p = t->next;
                        break;
                }
        a->n--;
        tf_log("api: token '%s' revoked", name);
        token_free(t);
        tf_http_respond_json(resp, 200, json_pack("{s:s,s:b}", "name", name, "revoked", 1));
        return TF_HTTP_DONE;
}

/* --- --listen --- */

int tf_auth_listen_tcp(struct tf_http_server *s, const char *spec, tf_error **err) {
        /* [ADDR]:PORT: ":8080" is 127.0.0.1; an IPv6 address goes in brackets ("[::1]:8080"). */
        _cleanup_free_ char *addr = NULL;
        const char *port_s;
        if (spec[0] == '[') {
                const char *end = strchr(spec, ']');
                if (!end || end[1] != ':')
                        return tf_error_set(err, EINVAL, "--listen '%s': expected [IPV6]:PORT", spec);
                addr = tf_strndup(spec + 1, (size_t)(end - spec - 1));
                port_s = end + 2;
        } else {
                const char *colon = strrchr(spec, ':');
                if (!colon || strchr(spec, ':') != colon)
                        return tf_error_set(
                                err, EINVAL,
                                "--listen '%s': expected ADDR:PORT, :PORT (127.0.0.1) or [IPV6]:PORT", spec);
                addr = colon == spec ? tf_strdup("127.0.0.1") : tf_strndup(spec, (size_t)(colon - spec));
                port_s = colon + 1;
        }
        char *end;
        errno = 0;
        unsigned long port = strtoul(port_s, &end, 10);
        if (!*port_s || *end || errno || port > 65535)
                return tf_error_set(err, EINVAL,
                                    "--listen '%s': the port must be 0 to 65535 (0: any free one)", spec);
        struct in_addr a4;
        struct in6_addr a6;
        bool loopback;
        if (inet_pton(AF_INET, addr, &a4) == 1)
                loopback = (ntohl(a4.s_addr) >> 24) == 127;
        else if (inet_pton(AF_INET6, addr, &a6) == 1)
                loopback = IN6_IS_ADDR_LOOPBACK(&a6);
        else
                return tf_error_set(err, EINVAL,
                                    "--listen '%s': '%s' is not an IPv4 or IPv6 address (a host name is not "
                                    "resolved: give the address)",
                                    spec, addr);
        /* Before the bind: said even when the bind then fails. */
        if (!loopback)
                tf_log("warning: api: --listen %s is not a loopback address: the API will be reachable from "
                       "the "
                       "network, over plain HTTP (tokens travel in clear): put it behind a TLS proxy or a "
                       "firewall",
                       addr);
        uint16_t bound = 0;
        int r = tf_http_listen_tcp(s, addr, (uint16_t)port, &bound, err);
        if (r < 0)
                return r;
        bool v6 = strchr(addr, ':');
        tf_log("api: listening on %s%s%s:%u (bearer tokens; see `tfrun token create`)", v6 ? "[" : "", addr,
               v6 ? "]" : "", (unsigned)bound);
        return 0;
}
