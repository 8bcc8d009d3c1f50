/* SPDX-License-Identifier: MIT */
/*
 * The dashboard's files (manager/ui.h). They are C strings generated from manager/ui/ at build time, so
 * that the module has everything it serves and no file is read at run time: nothing to plant, nothing to
 * traverse. A request names a file by a fixed table, never by a path.
 */
#include "manager/ui.h"

#include <string.h>

#include "base/cleanup.h"
#include "base/strutil.h"

#include "ui-index.html.inc"
#include "ui-app.js.inc"
#include "ui-app.css.inc"
#include "ui-icon.svg.inc"

static const struct {
        const char *name;
        const char *type;
        const char *data;
        size_t len;
} files[] = {
        {"index.html", "text/html; charset=utf-8", tf_ui_index_html, sizeof(tf_ui_index_html) - 1},
        {"app.js", "text/javascript; charset=utf-8", tf_ui_app_js, sizeof(tf_ui_app_js) - 1},
        {"app.css", "text/css; charset=utf-8", tf_ui_app_css, sizeof(tf_ui_app_css) - 1},
        {"icon.svg", "image/svg+xml", tf_ui_icon_svg, sizeof(tf_ui_icon_svg) - 1},
};

int tf_ui_h(struct tf_http_request *req, struct tf_http_response *resp, void *userdata) {
        const char *name = tf_http_request_param(req, "file");
        if (!name)
                name = "index.html"; /* the route "/" */
        for (size_t i = 0; i < ELEMENTSOF(files); i++)
                if (streq(files[i].name, name)) {
                        tf_http_respond_static(resp, 200, files[i].type, files[i].data, files[i].len);
                        return TF_HTTP_DONE;
                }
        tf_http_respond_error(resp, 404, "no such file: /ui/%.80s", name);
        return TF_HTTP_DONE;
}

/* connect-src 'self' is what the page's fetch() needs; form-action 'self' and base-uri 'none' close what
 * default-src does not cover. Every answer carries them, JSON too: an answer opened as a page by itself
 * runs nothing and frames nothing. */
static const char *const headers[] = {
        "Content-Security-Policy",
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
        "form-action 'self'; base-uri 'none'; frame-ancestors 'none'",
        "X-Frame-Options",
        "DENY",
        "X-Content-Type-Options",
        "nosniff",
        "Referrer-Policy",
        "no-referrer",
        "Cross-Origin-Opener-Policy",
        "same-origin",
        "Cross-Origin-Resource-Policy",
        "same-origin",
        "Cache-Control",
        "no-store",
        NULL,
};

const char *const *tf_ui_headers(void) {
        return headers;
}
