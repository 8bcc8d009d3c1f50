/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * SHA-256 (FIPS 180-4) and HMAC-SHA256 (RFC 2104), self-contained: the network API stores only the hash of
 * a token, and webhooks sign their bodies. Not for bulk data; no hardware acceleration.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TF_SHA256_SIZE 32u
#define TF_SHA256_BLOCK 64u

struct tf_sha256 {
        uint32_t h[8];
        uint64_t len; /* bytes so far */
        uint8_t buf[TF_SHA256_BLOCK];
        size_t n; /* bytes in buf */
};

void tf_sha256_init(struct tf_sha256 *c);
void tf_sha256_update(struct tf_sha256 *c, const void *data, size_t n);
void tf_sha256_final(struct tf_sha256 *c, uint8_t out[TF_SHA256_SIZE]);
void tf_sha256(const void *data, size_t n, uint8_t out[TF_SHA256_SIZE]);
void tf_hmac_sha256(const void *key, size_t key_len, const void *data, size_t n,
                    uint8_t out[TF_SHA256_SIZE]);

/* Lower-case hex of n bytes into out (2n + 1 bytes, NUL-terminated). */
void tf_hex(const uint8_t *in, size_t n, char *out);

/* a[n] == b[n], in a time that depends on n only (never on where they differ). */
bool tf_memeq_const(const void *a, const void *b, size_t n);
