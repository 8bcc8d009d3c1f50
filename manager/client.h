/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * The CLI side of the control API: the verbs (`tfrun ps`, `trigger`, `logs -f`, ...) are short-lived
 * processes, so these calls block (plain HTTP/1.1 over the manager's unix socket, no library: client.c).
 */

#include <jansson.h>
#include <stddef.h>

#include "base/error.h"

/* The socket a verb talks to (and `tfrun up` listens on), per DESIGN.md: `--socket PATH` (option, may be
 * NULL), else $TFRUN_SOCKET, else /run/tfrun/tfrun.sock for root and $XDG_RUNTIME_DIR/tfrun/tfrun.sock for
 * everyone else (-ENOENT, saying so, when XDG_RUNTIME_DIR is unset). The environment is read with
 * secure_getenv(). *ret is owned by the caller. */
int tf_api_socket_path(const char *option, char **ret, tf_error **err);

/* One request: method ("GET", "POST") on path (already encoded; see tf_api_escape()), with body (borrowed,
 * NULL: none) as JSON. 0 once the manager answered, whatever the status: *ret_status gets it and *ret_body
 * the parsed answer (an object; for an error status {"error": "..."}). A manager that cannot be reached or
 * that answers something that is not JSON is an error: "cannot reach the manager at PATH: Connection
 * refused — is `tfrun up` running?". timeout_ms bounds the whole call (0: no bound). */
int tf_api_request(const char *socket_path, const char *method, const char *path, json_t *body,
                   long timeout_ms, long *ret_status, json_t **ret_body, tf_error **err);

/* A streamed GET (`logs -f`): cb gets each chunk of the body as it comes (return < 0 to stop; that value is
 * returned). An error status (>= 400) is not streamed: its {"error"} message becomes *err (-EPROTO).
 * *ret_status (may be NULL) gets the status. */
typedef int (*tf_api_chunk_cb)(const char *buf, size_t n, void *userdata);
int tf_api_stream(const char *socket_path, const char *path, tf_api_chunk_cb cb, void *userdata,
                  long *ret_status, tf_error **err);

/* A path segment percent-encoded (a service name or run id as the user typed it). Caller frees. */
char *tf_api_escape(const char *segment);
/* The "error" member of an answer, or NULL. Borrowed from body. */
const char *tf_api_error_message(json_t *body);
