/* SPDX-License-Identifier: MIT */
/*
 * Docker's default seccomp profile, pinned: github.com/moby/profiles/seccomp v0.2.3, the default.json that
 * moby tag docker-v29.7.2 (commit 6a43e3d5afddf4111da0f864bbc7cae5d7e95001) vendors, unchanged on moby's
 * master at b985e2313a86 (the newest revision readable when it was pinned). sandbox/seccomp-default.json is
 * that file byte for byte (sha256 536529b665dd0972c37bfb569f5d4ac8a53592e7b00752bc39ff063ca9864c74), so
 * provenance is checkable with sha256sum; the build embeds it (scripts/embed-text.py).
 *
 * Kept as Docker-format JSON rather than a C table so that `default` and `seccomp: FILE` take one code path
 * (sandbox/sandbox.c): whatever a user can write in a profile, the default exercises. The docker backend
 * sends the same text to the engine (HostConfig.SecurityOpt "seccomp=<json>"), so what a job may call does
 * not depend on the engine's version. To update: replace the JSON with a newer moby default.json and the
 * revision below (docs/spec.md names it too).
 */
#include "sandbox/sandbox.h"

const char tf_seccomp_default_revision[] =
        "moby/profiles/seccomp v0.2.3 (moby docker-v29.7.2, 6a43e3d5afddf4111da0f864bbc7cae5d7e95001)";

#include "seccomp-default.json.inc"
