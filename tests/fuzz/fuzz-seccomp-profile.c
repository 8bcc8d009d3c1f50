/* SPDX-License-Identifier: MIT */
/*
 * sandbox/sandbox.c's Docker-format seccomp profile reader (jansson) and compiler (libseccomp -> BPF).
 * sandbox/sandbox.h has no buffer entry point: the profile is reached only through tf_sandbox_prepare()
 * with a spec whose sandbox.seccomp_profile is a path. So the input is written to a memfd and the spec
 * names it as /proc/self/fd/N (a regular file to open(), as the real profile is). The spec is built by
 * hand, with nothing else in the sandbox: prepare() then makes no system change (no namespace, no mount;
 * capability sets are only computed), so this is safe to run as root.
 * Properties: no crash, leak or UB; a failure is -errno with a message starting with the spec position
 * ("fuzz.yaml:3:5: sandbox.seccomp"); a success with a filter has 1..BPF_MAXINSNS instructions.
 */

#include <errno.h>
#include <linux/filter.h>
#include <sys/mman.h>
#include <unistd.h>

#include "sandbox/sandbox.h"
#include "fuzz.h"

#define PREFIX "fuzz.yaml:3:5: sandbox.seccomp"

static int memfd = -1;
static char profile_path[64];

int LLVMFuzzerInitialize(int *argc, char ***argv) {
        memfd = memfd_create("tfrun-fuzz-profile", MFD_CLOEXEC);
        if (memfd < 0) {
                perror("memfd_create");
                abort();
        }
        snprintf(profile_path, sizeof(profile_path), "/proc/self/fd/%d", memfd);
        return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        /* The reader refuses profiles over 1 MiB before parsing; nothing to learn past that. */
        if (size > 256 * 1024)
                return 0;
        if (ftruncate(memfd, 0) < 0 || (size && pwrite(memfd, data, size, 0) != (ssize_t)size)) {
                perror("write profile to memfd");
                abort();
        }

        struct tf_spec spec = {
                .path = "fuzz.yaml",
                .dir = "/",
                .pos_sandbox = { 2, 1 },
        };
        spec.sandbox = (struct tf_sandbox){
                .seccomp = TF_SECCOMP_PROFILE,
                .seccomp_profile = profile_path,
                .no_new_privileges = true,
                .pos_seccomp = { 3, 5 },
        };
        spec.sandbox_present = true;

        struct tf_sandbox_plan *p = NULL;
        tf_error *err = NULL;
        /* As root: the final capability set is Docker's default one, against which includes.caps and
         * excludes.caps are matched (the common case; with false it is empty). */
        int r = tf_sandbox_prepare(&spec, true, &p, &err);
        if (r < 0) {
                FUZZ_ASSERT(p == NULL, "failure but a plan");
                FUZZ_ASSERT(err && err->msg && strncmp(err->msg, PREFIX, strlen(PREFIX)) == 0,
                            "message does not start with '" PREFIX "': %s", err && err->msg ? err->msg : "(none)");
                tf_error_free(err);
                return 0;
        }
        FUZZ_ASSERT(p && !err, "success without a plan");
        if (tf_sandbox_plan_has_seccomp(p)) {
                size_t n = tf_sandbox_plan_seccomp_instructions(p);
                FUZZ_ASSERT(n > 0 && n <= BPF_MAXINSNS, "%zu instructions", n);
        }
        tf_sandbox_plan_free(p);
        return 0;
}
