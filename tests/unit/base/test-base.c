/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/error.h"
#include "base/io.h"
#include "base/parse.h"
#include "base/sha256.h"
#include "base/strutil.h"
#include "tests/tap.h"

static void test_size(void) {
        static const struct {
                const char *in;
                int r;
                uint64_t v;
        } t[] = {
                { "0", 0, 0 },
                { "4096", 0, 4096 },
                { "1K", 0, 1024 },
                { "512M", 0, 512ULL << 20 },
                { "512m", 0, 512ULL << 20 },
                { "512MiB", 0, 512ULL << 20 },
                { "512MB", 0, 512ULL << 20 },
                { "1.5G", 0, 3ULL << 29 },
                { "2T", 0, 2ULL << 40 },
                { "", -EINVAL, 0 },
                { "M", -EINVAL, 0 },
                { "12Q", -EINVAL, 0 },
                { "1.5", -EINVAL, 0 },
                { "-1", -EINVAL, 0 },
                { "1 M", -EINVAL, 0 },
                { "99999999999999999999", -ERANGE, 0 },
                { "16E", -ERANGE, 0 },
        };
        for (size_t i = 0; i < ELEMENTSOF(t); i++) {
                uint64_t v = 0;
                int r = tf_parse_size(t[i].in, &v);
                IS_INT(r, t[i].r, "size '%s' result", t[i].in);
                if (r == 0)
                        IS_INT(v, t[i].v, "size '%s' value", t[i].in);
        }
}

static void test_duration(void) {
        static const struct {
                const char *in;
                int r;
                uint64_t v;
        } t[] = {
                { "90s", 0, 90 * TF_USEC_PER_SEC },
                { "90", 0, 90 * TF_USEC_PER_SEC },
                { "1h30m", 0, 5400 * TF_USEC_PER_SEC },
                { "1h 30min", 0, 5400 * TF_USEC_PER_SEC },
                { "2d", 0, 2 * 86400 * TF_USEC_PER_SEC },
                { "500ms", 0, 500 * TF_USEC_PER_MSEC },
                { "1.5h", 0, 5400 * TF_USEC_PER_SEC },
                { "10 s", 0, 10 * TF_USEC_PER_SEC },
                { "1w", 0, 7 * 86400 * TF_USEC_PER_SEC },
                { "3us", 0, 3 },
                { "1M", 0, 2629800 * TF_USEC_PER_SEC },
                { "infinity", 0, TF_USEC_INFINITY },
                { "", -EINVAL, 0 },
                { "abc", -EINVAL, 0 },
                { "5 parsecs", -EINVAL, 0 },
                { "-5s", -EINVAL, 0 },
        };
        for (size_t i = 0; i < ELEMENTSOF(t); i++) {
                uint64_t v = 0;
                int r = tf_parse_duration(t[i].in, &v);
                IS_INT(r, t[i].r, "duration '%s' result", t[i].in);
                if (r == 0)
                        IS_INT(v, t[i].v, "duration '%s' value", t[i].in);
        }
        char buf[64];
        IS_STR(tf_format_duration(buf, sizeof buf, 5400 * TF_USEC_PER_SEC), "1h 30min", "format 1h30m");
        IS_STR(tf_format_duration(buf, sizeof buf, 2500 * TF_USEC_PER_MSEC), "2s 500ms", "format 2.5s");
}

static void test_signal(void) {
        IS_INT(tf_parse_signal("SIGTERM"), SIGTERM, "SIGTERM");
        IS_INT(tf_parse_signal("term"), SIGTERM, "term");
        IS_INT(tf_parse_signal("9"), SIGKILL, "9");
        IS_INT(tf_parse_signal("SIGRTMIN+2"), SIGRTMIN + 2, "SIGRTMIN+2");
        IS_INT(tf_parse_signal("SIGFOO"), -EINVAL, "SIGFOO");
        IS_INT(tf_parse_signal("0"), -EINVAL, "0");
        IS_STR(tf_signal_name(SIGINT), "SIGINT", "name of 2");
}

static void test_split(void) {
        _cleanup_strv_free_ char **v = NULL;
        IS_INT(tf_split_shell("python3 -c 'print(\"a b\")' \"x\\\"y\" a\\ b", &v, NULL), 0, "split ok");
        IS_INT(tf_strv_length(v), 5, "split count");
        IS_STR(v[2], "print(\"a b\")", "single quotes");
        IS_STR(v[3], "x\"y", "double quotes with escape");
        IS_STR(v[4], "a b", "backslash space");
        size_t off = 0;
        char **w = NULL;
        IS_INT(tf_split_shell("echo 'oops", &w, &off), -EINVAL, "unterminated quote");
        IS_INT(off, 5, "offset of the quote");
        _cleanup_free_ char *j = tf_strv_join_quoted(v);
        IS_STR(j, "python3 -c 'print(\"a b\")' 'x\"y' 'a b'", "join quoted");
}

static void test_error(void) {
        _cleanup_error_ tf_error *e = NULL;
        IS_INT(tf_error_setc(&e, ENOENT, "open '%s'", "x"), -ENOENT, "set returns -code");
        tf_error_prefix(&e, "load spec");
        IS_STR(e->msg, "load spec: open 'x': No such file or directory", "prefix and strerror");
        IS_INT(tf_error_set(NULL, -EPERM, "nothing"), -EPERM, "NULL err keeps the code");
        IS_INT(tf_edit_distance("memroy", "memory"), 2, "edit distance");
}

/* The no-symlink walk the sandbox's mounts and the docker body's bind sources share. */
static void test_open_nofollow(void) {
        char dir[] = "/tmp/tf-nofollow-XXXXXX";
        if (!mkdtemp(dir)) {
                OK(false, "mkdtemp: %s", strerror(errno));
                return;
        }
        _cleanup_free_ char *real = tf_asprintf("%s/real", dir), *link = tf_asprintf("%s/link", dir),
                            *file = tf_asprintf("%s/real/f", dir), *via = tf_asprintf("%s/link/f", dir),
                            *missing = tf_asprintf("%s/real/none/f", dir);
        OK(mkdir(real, 0700) == 0 && symlink("real", link) == 0, "fixture: a directory and a link to it");
        _cleanup_close_ int wfd = open(file, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);

        int fd = -1;
        char *bad = NULL;
        IS_INT(tf_open_nofollow(file, &fd, &bad), 0, "a path without links opens");
        struct stat a, b;
        OK(fd >= 0 && fstat(fd, &a) == 0 && stat(file, &b) == 0 && a.st_ino == b.st_ino,
           "... the path itself");
        OK(fd >= 0 && (fcntl(fd, F_GETFD) & FD_CLOEXEC), "... close-on-exec");
        if (fd >= 0)
                close(fd);
        IS_INT(tf_open_nofollow(via, NULL, &bad), -ELOOP, "a link in a middle component: -ELOOP");
        IS_STR(bad, link, "... naming the prefix that is the link");
        free(bad);
        bad = NULL;
        IS_INT(tf_open_nofollow(link, NULL, &bad), -ELOOP, "a link as the last component: -ELOOP");
        free(bad);
        bad = NULL;
        IS_INT(tf_open_nofollow(missing, NULL, &bad), -ENOENT, "a missing component: -ENOENT");
        _cleanup_free_ char *none = tf_asprintf("%s/real/none", dir);
        IS_STR(bad, none, "... naming the missing prefix");
        free(bad);
        bad = NULL;
        IS_INT(tf_open_nofollow("/", NULL, &bad), 0, "/ opens");

        unlink(file);
        unlink(link);
        rmdir(real);
        rmdir(dir);
}

static void hexof(const uint8_t d[TF_SHA256_SIZE], char out[2 * TF_SHA256_SIZE + 1]) {
        tf_hex(d, TF_SHA256_SIZE, out);
}

/* FIPS 180-4's examples (NIST's "SHA-256" example document and the long-message vector), one message fed in
 * pieces that straddle blocks, and RFC 4231's HMAC-SHA256 cases 1, 2 and 6 (a key longer than a block). */
static void test_sha256(void) {
        static const struct {
                const char *in, *want;
        } v[] = {
                { "", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855" },
                { "abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad" },
                { "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
                  "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1" },
                { "abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmno"
                  "ijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu",
                  "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1" },
        };
        uint8_t d[TF_SHA256_SIZE];
        char hex[2 * TF_SHA256_SIZE + 1];
        for (size_t i = 0; i < ELEMENTSOF(v); i++) {
                tf_sha256(v[i].in, strlen(v[i].in), d);
                hexof(d, hex);
                IS_STR(hex, v[i].want, "sha256 of %zu bytes", strlen(v[i].in));
        }
        struct tf_sha256 c;
        tf_sha256_init(&c);
        char a[1001];
        memset(a, 'a', sizeof(a));
        for (int i = 0; i < 1000; i++)
                tf_sha256_update(&c, a, i % 2 ? 999 : 1001); /* one million 'a', in uneven pieces */
        tf_sha256_final(&c, d);
        hexof(d, hex);
        IS_STR(hex, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0",
               "sha256 of a million 'a'");
        const char *m = v[3].in;
        tf_sha256_init(&c);
        for (size_t i = 0; i < strlen(m); i += 7)
                tf_sha256_update(&c, m + i, strlen(m) - i < 7 ? strlen(m) - i : 7);
        tf_sha256_final(&c, d);
        hexof(d, hex);
        IS_STR(hex, v[3].want, "sha256 fed 7 bytes at a time");

        uint8_t k1[20], k6[131];
        memset(k1, 0x0b, sizeof(k1));
        memset(k6, 0xaa, sizeof(k6));
        tf_hmac_sha256(k1, sizeof(k1), "Hi There", 8, d);
        hexof(d, hex);
        IS_STR(hex, "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7",
               "hmac-sha256: RFC 4231 case 1");
        const char *m2 = "what do ya want for nothing?";
        tf_hmac_sha256("Jefe", 4, m2, strlen(m2), d);
        hexof(d, hex);
        IS_STR(hex, "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843",
               "hmac-sha256: RFC 4231 case 2");
        const char *m6 = "Test Using Larger Than Block-Size Key - Hash Key First";
        tf_hmac_sha256(k6, sizeof(k6), m6, strlen(m6), d);
        hexof(d, hex);
        IS_STR(hex, "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54",
               "hmac-sha256: RFC 4231 case 6");
        /* The rest of RFC 4231: the webhook signatures of notify: rest on it (X-Tfrun-Signature). */
        uint8_t k3[20], d3[50], k4[25], d4[50], k5[20];
        memset(k3, 0xaa, sizeof(k3));
        memset(d3, 0xdd, sizeof(d3));
        for (size_t i = 0; i < sizeof(k4); i++)
                k4[i] = (uint8_t)(i + 1);
        memset(d4, 0xcd, sizeof(d4));
        memset(k5, 0x0c, sizeof(k5));
        tf_hmac_sha256(k3, sizeof(k3), d3, sizeof(d3), d);
        hexof(d, hex);
        IS_STR(hex, "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe",
               "hmac-sha256: RFC 4231 case 3");
        tf_hmac_sha256(k4, sizeof(k4), d4, sizeof(d4), d);
        hexof(d, hex);
        IS_STR(hex, "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b",
               "hmac-sha256: RFC 4231 case 4");
        tf_hmac_sha256(k5, sizeof(k5), "Test With Truncation", 20, d);
        hexof(d, hex);
        hex[32] = 0;
        IS_STR(hex, "a3b6167473100ee06e0c796c2955552b", "hmac-sha256: RFC 4231 case 5 (128 bits)");
        const char *m7 = "This is a test using a larger than block-size key and a larger than block-size data. "
                         "The key needs to be hashed before being used by the HMAC algorithm.";
        tf_hmac_sha256(k6, sizeof(k6), m7, strlen(m7), d);
        hexof(d, hex);
        IS_STR(hex, "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2",
               "hmac-sha256: RFC 4231 case 7");

        OK(tf_memeq_const("abcd", "abcd", 4), "memeq_const: equal");
        OK(!tf_memeq_const("abcd", "abce", 4), "memeq_const: the last byte differs");
        OK(!tf_memeq_const("xbcd", "abcd", 4), "memeq_const: the first byte differs");
        OK(tf_memeq_const("a", "b", 0), "memeq_const: nothing to compare is equal");
}

/* procfs, sysfs and cgroupfs files say size 0: they are read whole anyway, and bounded. */
static void test_read_file_procfs(void) {
        char *b = NULL;
        size_t n = 0;
        OK(tf_read_file("/proc/sys/kernel/random/boot_id", 4096, &b, &n) == 0 && n == 37 && b[36] == '\n',
           "boot_id (size 0 in stat) read whole: 37 bytes");
        free(b);
        b = NULL;
        OK(tf_read_file("/proc/self/status", 1 << 20, &b, &n) == 0 && n > 100 && tf_startswith(b, "Name:") &&
                   strstr(b, "\nVmPeak:") && b[n - 1] == '\n',
           "/proc/self/status read whole");
        free(b);
        b = NULL;
        int r = tf_read_file("/proc/self/smaps", 64 << 20, &b, &n);
        OK(r == 0 && n > 8192 && b[n - 1] == '\n' && strlen(b) == n, "/proc/self/smaps (> 4 KiB) read whole");
        free(b);
        b = NULL;
        OK(tf_read_file("/proc/self/smaps", 5000, &b, &n) == -EFBIG && !b, "a size-0 file beyond max: EFBIG");
}

int main(void) {
        test_read_file_procfs();
        test_size();
        test_duration();
        test_signal();
        test_split();
        test_error();
        test_open_nofollow();
        test_sha256();
        return tap_done();
}
