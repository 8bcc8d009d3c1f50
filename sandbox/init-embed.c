/* SPDX-License-Identifier: MIT */
/* tfrun-init's bytes (sandbox/init.c, built and embedded at build time). */
#include <stddef.h>

#include "sandbox/sandbox-internal.h"

#include "tfrun-init.inc"
