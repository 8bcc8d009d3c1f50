/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdint.h>
#include <stddef.h>

#define TF_USEC_PER_SEC UINT64_C(1000000)
#define TF_USEC_PER_MSEC UINT64_C(1000)
#define TF_USEC_INFINITY UINT64_MAX

/* Parse a byte size: plain bytes, or a number (fractions allowed: "1.5G") with a binary suffix
 * K, M, G, T, P, E (case-insensitive, optionally followed by "B" or "iB": "512M", "512MiB", "512mb" are
 * all 512 * 2^20). Returns 0, -EINVAL (malformed) or -ERANGE (overflows 64 bits). */
int tf_parse_size(const char *s, uint64_t *ret);

/* Parse a time span the way systemd's parse_sec() does, plus the compact form: "90s", "1h30m", "2d",
 * "1h 30min", "500ms", "1.5h", a bare number is seconds, "infinity". Units: us usec µs, ms msec,
 * s sec second seconds, m min minute minutes, h hr hour hours, d day days, w week weeks,
 * M month months (30.44 d), y year years (365.25 d). Result in microseconds. */
int tf_parse_duration(const char *s, uint64_t *ret_usec);

/* Format a span as systemd's format_timespan() does with accuracy 1us: "1h 30min", "2.500s" is
 * rendered as "2s 500ms". Writes into buf (at least 64 bytes) and returns it. */
char *tf_format_duration(char *buf, size_t len, uint64_t usec);

/* Compact human form for summaries: "1.234s", "12ms", "3m04s". */
char *tf_format_duration_short(char *buf, size_t len, uint64_t usec);

/* "512.0M"-style, binary units. */
char *tf_format_size(char *buf, size_t len, uint64_t bytes);

/* Signal by name ("SIGTERM", "TERM", case-insensitive), number ("15") or "SIGRTMIN+3".
 * Returns the signal number or -EINVAL. */
int tf_parse_signal(const char *s);
/* "SIGTERM"; for unknown numbers a static "SIG<n>"-style string is not provided: returns NULL. */
const char *tf_signal_name(int sig);

/* Decimal unsigned integer in full: no sign, no trailing junk. -EINVAL / -ERANGE. */
int tf_parse_u64(const char *s, uint64_t *ret);
