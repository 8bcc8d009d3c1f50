/* SPDX-License-Identifier: MIT */
/* Image references, inspect and pull. */

#include <errno.h>
#include <regex.h>
#include <string.h>

#include "base/cleanup.h"
#include "base/strutil.h"
#include "docker/docker-internal.h"

/* Docker's reference grammar (distribution/reference/regexp.go), as POSIX ERE. */
#define DOMAIN_COMPONENT "[a-zA-Z0-9]([a-zA-Z0-9-]*[a-zA-Z0-9])?"
#define DOMAIN DOMAIN_COMPONENT "(\\." DOMAIN_COMPONENT ")*(:[0-9]+)?"
#define PATH_COMPONENT "[a-z0-9]+((\\.|_|__|-+)[a-z0-9]+)*"
#define NAME "(" DOMAIN "/)?" PATH_COMPONENT "(/" PATH_COMPONENT ")*"
#define TAG "[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}"
#define DIGEST "[A-Za-z][A-Za-z0-9]*([-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}"
#define REFERENCE "^" NAME "(:" TAG ")?(@" DIGEST ")?$"

#define NAME_MAX_LEN 255

static bool ref_matches(const char *ref) {
        static regex_t re;
        static bool compiled;
        if (!compiled) {
                if (regcomp(&re, REFERENCE, REG_EXTENDED | REG_NOSUB) != 0)
                        tf_oom(); /* a constant pattern: only allocation can fail */
                compiled = true;
        }
        return regexec(&re, ref, 0, NULL, 0) == 0;
}

/* Where the name ends: before ":tag" (a ':' after the last '/') or "@digest". */
static size_t name_len(const char *ref) {
        const char *at = strchr(ref, '@');
        size_t n = at ? (size_t)(at - ref) : strlen(ref);
        const char *slash = memrchr(ref, '/', n);
        const char *colon = memrchr(ref, ':', n);
        if (colon && (!slash || colon > slash))
                n = (size_t)(colon - ref);
        return n;
}

int tf_docker_image_ref_check(const char *ref, tf_error **err) {
        if (!ref || !*ref)
                return tf_error_set(err, EINVAL, "invalid image reference: empty");
        if (strlen(ref) > 4096)
                return tf_error_set(err, EINVAL, "invalid image reference: longer than 4096 characters");
        if (!ref_matches(ref)) {
                _cleanup_free_ char *lower = tf_strdup(ref);
                size_t n = name_len(ref);
                for (size_t i = 0; i < n; i++)
                        if (lower[i] >= 'A' && lower[i] <= 'Z')
                                lower[i] = (char)(lower[i] - 'A' + 'a');
                if (!streq(lower, ref) && ref_matches(lower))
                        return tf_error_set(
                                err, EINVAL,
                                "invalid image reference '%s': repository name must be lowercase", ref);
                return tf_error_set(err, EINVAL,
                                    "invalid image reference '%s': expected [registry[:port]/]name[:tag]"
                                    "[@digest] with a lower-case name (e.g. debian:12, "
                                    "registry.example:5000/team/app:1.0)",
                                    ref);
        }
        /* Docker takes the first component as a registry only if it has a '.' or ':' or is
         * "localhost"; otherwise it is a path component on Docker Hub and must be lower-case. */
        const char *slash = memchr(ref, '/', name_len(ref));
        if (slash && !memchr(ref, '.', (size_t)(slash - ref)) && !memchr(ref, ':', (size_t)(slash - ref)) &&
            strncmp(ref, "localhost/", strlen("localhost/")) != 0)
                for (const char *c = ref; c < slash; c++)
                        if (*c >= 'A' && *c <= 'Z')
                                return tf_error_set(err, EINVAL,
                                                    "invalid image reference '%s': repository name must be "
                                                    "lowercase",
                                                    ref);
        if (name_len(ref) > NAME_MAX_LEN)
                return tf_error_set(err, EINVAL,
                                    "invalid image reference '%s': the repository name is longer than %d "
                                    "characters",
                                    ref, NAME_MAX_LEN);
        return 0;
}

int docker_ref_split(const char *ref, char **ret_image, char **ret_tag) {
        const char *at = strchr(ref, '@');
        size_t n = name_len(ref);
        *ret_image = tf_strndup(ref, n);
        if (at)
                *ret_tag = tf_strdup(at + 1);
        else if (ref[n] == ':')
                *ret_tag = tf_strdup(ref + n + 1);
        else
                *ret_tag = tf_strdup("latest");
        return 0;
}

int tf_docker_image_inspect(tf_docker *d, const char *ref, char **ret_id, tf_error **err) {
        int r = tf_docker_image_ref_check(ref, err);
        if (r < 0)
                return tf_error_prefix(err, "inspect image");
        _cleanup_free_ char *call = tf_asprintf("inspect image '%s'", ref);
        /* References contain '/' and ':' which the engine's router takes as they are. */
        _cleanup_free_ char *path = tf_asprintf("/images/%s/json", ref);
        struct docker_resp resp;
        r = docker_call(
                d,
                &(struct docker_req){
                        .call = call, .method = "GET", .path = path, .timeout_usec = d->timeout_usec},
                &resp, err);
        if (r < 0)
                return r;
        json_t *j = json_loadb(resp.body, resp.len, 0, NULL);
        docker_resp_done(&resp);
        const char *id = json_string_value(json_object_get(j, "Id"));
        if (!id) {
                json_decref(j);
                return tf_error_set(err, EPROTO, "%s: the engine's answer has no Id", call);
        }
        if (ret_id)
                *ret_id = tf_strdup(id);
        json_decref(j);
        return 0;
}

int docker_pull_parse(json_t *j, struct tf_docker_pull_progress *p, char **ret_error) {
        json_t *ed = json_object_get(j, "errorDetail");
        const char *e = json_string_value(json_object_get(ed, "message"));
        if (!e)
                e = json_string_value(json_object_get(j, "error"));
        if (e) {
                *ret_error = tf_strdup(e);
                return 1;
        }
        json_t *pd = json_object_get(j, "progressDetail");
        json_t *cur = json_object_get(pd, "current"), *tot = json_object_get(pd, "total");
        *p = (struct tf_docker_pull_progress){
                .status = json_string_value(json_object_get(j, "status")),
                .id = json_string_value(json_object_get(j, "id")),
                .current = json_is_integer(cur) ? json_integer_value(cur) : -1,
                .total = json_is_integer(tot) ? json_integer_value(tot) : -1,
        };
        return 0;
}

#define PULL_LINE_MAX (1024 * 1024)

static int pull_line(struct docker_pull *p, const char *s, size_t n) {
        while (n > 0 && (s[n - 1] == '\r' || s[n - 1] == ' '))
                n--;
        if (n == 0)
                return 0;
        json_t *j = json_loadb(s, n, 0, NULL);
        if (!j)
                return 0; /* not ours to judge: the engine only sends JSON here */
        struct tf_docker_pull_progress prog;
        char *e = NULL;
        if (docker_pull_parse(j, &prog, &e) > 0) {
                free(p->error);
                p->error = e;
        } else if (p->cb)
                p->cb(&prog, p->userdata);
        json_decref(j);
        return 0;
}

int docker_pull_data(const char *buf, size_t len, void *userdata) {
        struct docker_pull *p = userdata;
        while (len > 0) {
                const char *nl = memchr(buf, '\n', len);
                size_t take = nl ? (size_t)(nl - buf) : len;
                if (p->len + take > PULL_LINE_MAX)
                        return -EFBIG;
                p->line = tf_realloc(p->line, p->len + take + 1);
                memcpy(p->line + p->len, buf, take);
                p->len += take;
                if (!nl)
                        break;
                pull_line(p, p->line, p->len);
                p->len = 0;
                buf = nl + 1;
                len -= take + 1;
        }
        return 0;
}

char *docker_pull_path(const char *ref) {
        _cleanup_free_ char *image = NULL, *tag = NULL;
        docker_ref_split(ref, &image, &tag);
        _cleanup_free_ char *ei = docker_escape(image), *et = docker_escape(tag);
        return tf_asprintf("/images/create?fromImage=%s&tag=%s", ei, et);
}

int docker_pull_finish(struct docker_pull *p, const char *call, int r, tf_error **err) {
        if (r == 0 && p->len > 0)
                pull_line(p, p->line, p->len);
        free(p->line);
        p->line = NULL;
        p->len = 0;
        _cleanup_free_ char *e = TAKE_PTR(p->error);
        if (r == -EFBIG && !e) {
                tf_error_freep(err);
                return tf_error_set(err, EFBIG, "%s: a progress message exceeds %d bytes", call, PULL_LINE_MAX);
        }
        if (r < 0)
                return r;
        if (e)
                return tf_error_set(err, EIO, "%s: engine said: %s", call, e);
        return 0;
}

int tf_docker_image_pull(tf_docker *d, const char *ref, tf_docker_pull_cb cb, void *userdata,
                         uint64_t timeout_usec, tf_error **err) {
        int r = tf_docker_image_ref_check(ref, err);
        if (r < 0)
                return tf_error_prefix(err, "pull image");
        _cleanup_free_ char *path = docker_pull_path(ref);
        _cleanup_free_ char *call = tf_asprintf("pull image '%s'", ref);
        struct docker_pull p = {.cb = cb, .userdata = userdata};
        struct docker_resp resp;
        r = docker_call(d,
                        &(struct docker_req){.call = call,
                                             .method = "POST",
                                             .path = path,
                                             .timeout_usec = timeout_usec,
                                             .on_data = docker_pull_data,
                                             .userdata = &p},
                        &resp, err);
        if (r == 0)
                docker_resp_done(&resp);
        return docker_pull_finish(&p, call, r, err);
}
