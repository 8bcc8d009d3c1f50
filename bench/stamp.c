/* SPDX-License-Identifier: MIT */
/*
 * bench/stamp FILE: writes the CLOCK_REALTIME (microseconds) at which it runs to FILE, and exits 0. Linked
 * statically (when the toolchain can) so that the dynamic loader's own start does not count as the
 * manager's latency: what it stamps is the exec plus a few microseconds.
 */
#include <fcntl.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        if (argc != 2)
                return 2;
        char b[32];
        int n = snprintf(b, sizeof(b), "%lld\n", (long long)ts.tv_sec * 1000000 + ts.tv_nsec / 1000);
        int fd = open(argv[1], O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        return fd < 0 || write(fd, b, (size_t)n) != n ? 1 : 0;
}
