/* SPDX-License-Identifier: MIT */
/*
 * docker/: the parts that read what the engine or the user sends, without a daemon. The first input byte
 * picks the parser (so one corpus covers all), the rest is its input:
 *   0  tf_docker_image_ref_check() (Docker's reference grammar) and, on success, docker_ref_split():
 *      the image is a non-empty prefix of the reference, and re-checking image:tag / image@digest passes.
 *   1  docker_engine_error() on an error body (JSON {"message": ...} or raw text): message starts with
 *      "CALL: engine said STATUS: ".
 *   2  a pull progress line: json_loadb() + docker_pull_parse().
 *   3  tf_docker_demux_feed()/end() on an attach stream, fed whole and fed in small chunks: both give the
 *      same result and the same per-stream byte counts (the parser keeps state across any split).
 *   4  docker_api_parse() ("1.41").
 */

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/strutil.h"
#include "docker/docker-internal.h"
#include "fuzz.h"

static int devnull = -1;

int LLVMFuzzerInitialize(int *argc, char ***argv) {
        devnull = open("/dev/null", O_WRONLY | O_CLOEXEC);
        if (devnull < 0)
                abort();
        return 0;
}

static void fuzz_ref(const uint8_t *data, size_t size) {
        _cleanup_free_ char *ref = fuzz_cstring(data, size);
        if (!ref)
                return;
        tf_error *err = NULL;
        int r = tf_docker_image_ref_check(ref, &err);
        if (r < 0) {
                FUZZ_ASSERT(err && err->msg && (strchr(ref, '\n') || !strchr(err->msg, '\n')),
                            "ref '%s': no message, or one of several lines", ref);
                tf_error_free(err);
                return;
        }
        FUZZ_ASSERT(!err, "ref '%s': success with an error", ref);
        char *image = NULL, *tag = NULL;
        FUZZ_ASSERT(docker_ref_split(ref, &image, &tag) == 0 && image && tag, "split '%s'", ref);
        FUZZ_ASSERT(*image && strncmp(ref, image, strlen(image)) == 0, "'%s': image '%s' not a prefix", ref,
                    image);
        FUZZ_ASSERT(*tag, "'%s': empty tag", ref);
        _cleanup_free_ char *again = tf_asprintf("%s%c%s", image, strchr(tag, ':') ? '@' : ':', tag);
        r = tf_docker_image_ref_check(again, &err);
        FUZZ_ASSERT(r == 0, "'%s' splits into '%s' + '%s', and '%s' is refused: %s", ref, image, tag, again,
                    err ? err->msg : "?");
        free(image);
        free(tag);
}

static void fuzz_engine_error(const uint8_t *data, size_t size) {
        static const long statuses[] = { 400, 404, 409, 500 };
        long status = statuses[size % ELEMENTSOF(statuses)];
        tf_error *err = NULL;
        int r = docker_engine_error("create container", status, (const char *)data, size, &err);
        FUZZ_ASSERT(r < 0 && err && err->msg, "no error");
        _cleanup_free_ char *want = tf_asprintf("create container: engine said %ld: ", status);
        FUZZ_ASSERT(strncmp(err->msg, want, strlen(want)) == 0, "message '%s'", err->msg);
        tf_error_free(err);
}

static void fuzz_pull_line(const uint8_t *data, size_t size) {
        json_t *j = json_loadb((const char *)data, size, 0, NULL);
        if (!j)
                return;
        struct tf_docker_pull_progress p;
        char *e = NULL;
        int r = docker_pull_parse(j, &p, &e);
        FUZZ_ASSERT(r == 0 || (r == 1 && e), "pull_parse %d", r);
        if (r == 0 && p.status)
                FUZZ_ASSERT(strlen(p.status) < size, "status longer than the line");
        free(e);
        json_decref(j);
}

static int demux_run(const uint8_t *data, size_t size, size_t chunk, struct tf_docker_demux *m) {
        tf_error *err = NULL;
        int r = 0;
        tf_docker_demux_init(m, devnull, devnull);
        for (size_t off = 0; off < size && r >= 0; off += chunk)
                r = tf_docker_demux_feed(m, data + off, size - off < chunk ? size - off : chunk, &err);
        if (r >= 0)
                r = tf_docker_demux_end(m, &err);
        FUZZ_ASSERT(r == 0 || (err && err->msg), "demux failure %d without a message", r);
        tf_error_free(err);
        return r;
}

static void fuzz_demux(const uint8_t *data, size_t size) {
        struct tf_docker_demux whole, bytes, sevens;
        int r1 = demux_run(data, size, size ? size : 1, &whole);
        int r2 = demux_run(data, size, 1, &bytes);
        int r3 = demux_run(data, size, 7, &sevens);
        FUZZ_ASSERT(r1 == r2 && r1 == r3, "split changes the result: %d %d %d", r1, r2, r3);
        for (int i = 0; i < 3; i++)
                FUZZ_ASSERT(whole.bytes[i] == bytes.bytes[i] && whole.bytes[i] == sevens.bytes[i],
                            "split changes stream %d's bytes", i);
        FUZZ_ASSERT(whole.bytes[0] + whole.bytes[1] + whole.bytes[2] <= size, "more payload than input");
}

static void fuzz_api(const uint8_t *data, size_t size) {
        _cleanup_free_ char *s = fuzz_cstring(data, size);
        int ma = -1, mi = -1;
        if (s && docker_api_parse(s, &ma, &mi) == 0)
                FUZZ_ASSERT(ma >= 0 && mi >= 0, "'%s' -> %d.%d", s, ma, mi);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        if (size < 1 || size > 64 * 1024)
                return 0;
        switch (data[0] % 5) {
        case 0:
                fuzz_ref(data + 1, size - 1);
                break;
        case 1:
                fuzz_engine_error(data + 1, size - 1);
                break;
        case 2:
                fuzz_pull_line(data + 1, size - 1);
                break;
        case 3:
                fuzz_demux(data + 1, size - 1);
                break;
        case 4:
                fuzz_api(data + 1, size - 1);
                break;
        }
        return 0;
}
