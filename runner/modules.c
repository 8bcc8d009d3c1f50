/* SPDX-License-Identifier: MIT */
/*
 * Backends that pull in heavy libraries live in modules loaded with dlopen() on first use, as systemd
 * does for its optional dependencies: mapping libcurl and its TLS stack costs about 4 ms per exec here,
 * twice the whole budget of a native launch. Lookup: $TFRUN_MODULE_DIR, then the directory of the tfrun
 * binary (the build tree), then the install directory.
 */
#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/strutil.h"
#include "config.h"
#include "runner/runner.h"

#ifndef TF_MODULE_DIR
#define TF_MODULE_DIR "/usr/local/lib/tfrun"
#endif

static void *try_open(const char *dir, const char *file) {
        _cleanup_free_ char *p = tf_asprintf("%s/%s", dir, file);
        return access(p, F_OK) == 0 ? dlopen(p, RTLD_NOW | RTLD_LOCAL) : NULL;
}

/* dlopen() FILE from the first of the places above that has it, and look up SYMBOL. */
static int load_module(const char *file, const char *symbol, void **ret, tf_error **err) {
        void *h = NULL;
        const char *env = secure_getenv("TFRUN_MODULE_DIR");
        char exe[PATH_MAX];
        ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
        if (env && *env)
                h = try_open(env, file);
        if (!h && n > 0) {
                exe[n] = 0;
                char *slash = strrchr(exe, '/');
                if (slash) {
                        *slash = 0;
                        h = try_open(exe, file);
                }
        }
        if (!h)
                h = try_open(TF_MODULE_DIR, file);
        if (!h) {
                const char *why = dlerror();
                return tf_error_set(err, ENOENT,
                                    "the module %s could not be loaded from $TFRUN_MODULE_DIR, tfrun's own "
                                    "directory or %s%s%s",
                                    file, TF_MODULE_DIR, why ? ": " : "", why ? why : "");
        }
        void *sym = dlsym(h, symbol);
        if (!sym) {
                dlclose(h);
                return tf_error_set(err, ENOEXEC, "%s does not belong to tfrun %s", file, TF_VERSION);
        }
        /* Never closed: its code runs until the process ends. */
        *ret = sym;
        return 0;
}

/* A backend's ops from the docker module, through entry point `symbol`, once per process (*cached). */
static int load_engine_backend(const char *symbol, const struct tf_backend_ops **cached,
                               const struct tf_backend_ops **ret, tf_error **err) {
        if (*cached) {
                *ret = *cached;
                return 0;
        }
        void *sym;
        int r = load_module("tfrun-docker.so", symbol, &sym, err);
        if (r < 0)
                return r;
        const struct tf_backend_ops *(*entry)(const char *) = (const struct tf_backend_ops * (*) (const char *)) sym;
        const struct tf_backend_ops *ops = entry(TF_VERSION);
        if (!ops)
                return tf_error_set(err, ENOEXEC, "tfrun-docker.so does not belong to tfrun %s", TF_VERSION);
        *ret = *cached = ops;
        return 0;
}

int tf_run_load_docker_backend(const struct tf_backend_ops **ret, tf_error **err) {
        static const struct tf_backend_ops *cached;
        return load_engine_backend("tf_module_docker_backend", &cached, ret, err);
}

/* The swarm backend lives in the docker module too (it is the same Engine API client). */
int tf_run_load_swarm_backend(const struct tf_backend_ops **ret, tf_error **err) {
        static const struct tf_backend_ops *cached;
        return load_engine_backend("tf_module_swarm_backend", &cached, ret, err);
}

int tf_run_manager_module(int argc, char **argv) {
        _cleanup_error_ tf_error *e = NULL;
        void *sym;
        /* The verbs have a module of their own, without the manager's SQLite and libmicrohttpd; export,
         * explain and doctor another (tfrun-export.so). */
        bool up = streq(argv[0], "up");
        bool ex = streq(argv[0], "export") || streq(argv[0], "explain") || streq(argv[0], "doctor");
        if (load_module(up ? "tfrun-manager.so" : ex ? "tfrun-export.so" : "tfrun-verbs.so",
                        up ? "tf_module_manager_main" : ex ? "tf_module_export_main" : "tf_module_verbs_main", &sym,
                        &e) < 0) {
                tf_log("%s", e->msg);
                return 125;
        }
        int (*entry)(const char *, int, char **) = (int (*)(const char *, int, char **)) sym;
        return entry(TF_VERSION, argc, argv);
}
