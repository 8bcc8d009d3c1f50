/* SPDX-License-Identifier: MIT */
/* FIPS 180-4 section 6.2, written from the standard; tests/unit/base checks its examples. */
#include "base/sha256.h"

#include <string.h>

static const uint32_t K[64] = {
        0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
        0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
        0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
        0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
        0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
        0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
        0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
        0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
};

static inline uint32_t ror(uint32_t x, unsigned n) {
        return (x >> n) | (x << (32 - n));
}

static void block(struct tf_sha256 *c, const uint8_t *p) {
        uint32_t w[64];
        for (unsigned t = 0; t < 16; t++)
                w[t] = (uint32_t)p[4 * t] << 24 | (uint32_t)p[4 * t + 1] << 16 |
                       (uint32_t)p[4 * t + 2] << 8 | p[4 * t + 3];
        for (unsigned t = 16; t < 64; t++) {
                uint32_t s0 = ror(w[t - 15], 7) ^ ror(w[t - 15], 18) ^ (w[t - 15] >> 3);
                uint32_t s1 = ror(w[t - 2], 17) ^ ror(w[t - 2], 19) ^ (w[t - 2] >> 10);
                w[t] = w[t - 16] + s0 + w[t - 7] + s1;
        }
        uint32_t a = c->h[0], b = c->h[1], cc = c->h[2], d = c->h[3], e = c->h[4], f = c->h[5], g = c->h[6],
                 h = c->h[7];
        for (unsigned t = 0; t < 64; t++) {
                uint32_t t1 = h + (ror(e, 6) ^ ror(e, 11) ^ ror(e, 25)) + ((e & f) ^ (~e & g)) + K[t] + w[t];
                uint32_t t2 = (ror(a, 2) ^ ror(a, 13) ^ ror(a, 22)) + ((a & b) ^ (a & cc) ^ (b & cc));
                h = g;
                g = f;
                f = e;
                e = d + t1;
                d = cc;
                cc = b;
                b = a;
                a = t1 + t2;
        }
        c->h[0] += a, c->h[1] += b, c->h[2] += cc, c->h[3] += d;
        c->h[4] += e, c->h[5] += f, c->h[6] += g, c->h[7] += h;
}

void tf_sha256_init(struct tf_sha256 *c) {
        static const uint32_t h0[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                                       0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};
        memset(c, 0, sizeof(*c));
        memcpy(c->h, h0, sizeof(h0));
}

void tf_sha256_update(struct tf_sha256 *c, const void *data, size_t n) {
        const uint8_t *p = data;
        c->len += n;
        if (c->n) {
                size_t k = TF_SHA256_BLOCK - c->n < n ? TF_SHA256_BLOCK - c->n : n;
                memcpy(c->buf + c->n, p, k);
                c->n += k;
                p += k;
                n -= k;
                if (c->n < TF_SHA256_BLOCK)
                        return;
                block(c, c->buf);
                c->n = 0;
        }
        for (; n >= TF_SHA256_BLOCK; p += TF_SHA256_BLOCK, n -= TF_SHA256_BLOCK)
                block(c, p);
        memcpy(c->buf, p, n);
        c->n = n;
}

void tf_sha256_final(struct tf_sha256 *c, uint8_t out[TF_SHA256_SIZE]) {
        uint64_t bits = c->len * 8;
        static const uint8_t pad[TF_SHA256_BLOCK] = {0x80};
        /* 0x80, zeros up to 56 mod 64, then the length in bits, big-endian. */
        size_t k = c->n < 56 ? 56 - c->n : 120 - c->n;
        tf_sha256_update(c, pad, k);
        uint8_t l[8];
        for (unsigned i = 0; i < 8; i++)
                l[i] = (uint8_t)(bits >> (56 - 8 * i));
        tf_sha256_update(c, l, 8);
        for (unsigned i = 0; i < 8; i++) {
                out[4 * i] = (uint8_t)(c->h[i] >> 24);
                out[4 * i + 1] = (uint8_t)(c->h[i] >> 16);
                out[4 * i + 2] = (uint8_t)(c->h[i] >> 8);
                out[4 * i + 3] = (uint8_t)c->h[i];
        }
        memset(c, 0, sizeof(*c));
}

void tf_sha256(const void *data, size_t n, uint8_t out[TF_SHA256_SIZE]) {
        struct tf_sha256 c;
        tf_sha256_init(&c);
        tf_sha256_update(&c, data, n);
        tf_sha256_final(&c, out);
}

void tf_hmac_sha256(const void *key, size_t key_len, const void *data, size_t n,
                    uint8_t out[TF_SHA256_SIZE]) {
        uint8_t k[TF_SHA256_BLOCK] = {0}, pad[TF_SHA256_BLOCK], inner[TF_SHA256_SIZE];
        if (key_len > TF_SHA256_BLOCK)
                tf_sha256(key, key_len, k);
        else if (key_len)
                memcpy(k, key, key_len);
        struct tf_sha256 c;
        for (unsigned i = 0; i < TF_SHA256_BLOCK; i++)
                pad[i] = k[i] ^ 0x36;
        tf_sha256_init(&c);
        tf_sha256_update(&c, pad, sizeof(pad));
        tf_sha256_update(&c, data, n);
        tf_sha256_final(&c, inner);
        for (unsigned i = 0; i < TF_SHA256_BLOCK; i++)
                pad[i] = k[i] ^ 0x5c;
        tf_sha256_init(&c);
        tf_sha256_update(&c, pad, sizeof(pad));
        tf_sha256_update(&c, inner, sizeof(inner));
        tf_sha256_final(&c, out);
        memset(k, 0, sizeof(k));
        memset(pad, 0, sizeof(pad));
}

void tf_hex(const uint8_t *in, size_t n, char *out) {
        static const char d[] = "0123456789abcdef";
        for (size_t i = 0; i < n; i++) {
                out[2 * i] = d[in[i] >> 4];
                out[2 * i + 1] = d[in[i] & 15];
        }
        out[2 * n] = 0;
}

bool tf_memeq_const(const void *a, const void *b, size_t n) {
        /* volatile: the compiler must not turn the loop into an early-exit memcmp. */
        const volatile uint8_t *x = a, *y = b;
        uint8_t acc = 0;
        for (size_t i = 0; i < n; i++)
                acc |= x[i] ^ y[i];
        return acc == 0;
}
