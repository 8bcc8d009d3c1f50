/* SPDX-License-Identifier: MIT */
/*
 * sandbox-probe: what test-sandbox execs inside a sandbox, so that every assertion is about the state
 * after execve (ambient capabilities, no_new_privs and the seccomp filter all matter only there). Static
 * and unsanitized: it runs under the default seccomp profile and as an unprivileged user.
 *
 * Commands run in order; each prints "key=value" lines. Values are 0 or an errno number.
 *   status            Cap*, NoNewPrivs and Seccomp lines of /proc/self/status
 *   try SYSCALL       reboot kexec_load keyctl unshare-user clone3 getpid write: harmless arguments, so
 *                     that "filtered" (EPERM, or seccomp's own errno) differs from the kernel's answer
 *   bind PORT         bind a TCP socket to 127.0.0.1:PORT
 *   chown PATH        chown PATH to 0:0
 *   write PATH        create PATH and write one byte
 *   read PATH         print the first line of PATH as read:PATH=line
 *   netdev            interfaces of /proc/net/dev, and whether lo is up
 *   ls DIR            number of entries in DIR
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

static int res(long r) {
        return r < 0 ? errno : 0;
}

static int try_syscall(const char *n) {
        errno = 0;
        if (!strcmp(n, "reboot")) /* magic1 0 is invalid: EINVAL once the call gets through */
                return res(syscall(SYS_reboot, 0, 0, 0, NULL));
        if (!strcmp(n, "kexec_load")) /* flag 0x8000 does not exist: EINVAL once through */
                return res(syscall(SYS_kexec_load, 0UL, 0UL, NULL, 0x8000UL));
        if (!strcmp(n, "keyctl")) /* KEYCTL_GET_KEYRING_ID of a key that cannot exist */
                return res(syscall(SYS_keyctl, 0, 0x7ffffff0, 0));
        if (!strcmp(n, "unshare-user"))
                return res(syscall(SYS_unshare, CLONE_NEWUSER));
        if (!strcmp(n, "clone3")) /* size 0 is invalid: EINVAL once through */
                return res(syscall(SYS_clone3, NULL, 0));
        if (!strcmp(n, "getpid"))
                return res(syscall(SYS_getpid));
        if (!strcmp(n, "write"))
                return res(syscall(SYS_write, 1, "", 0));
        return -1;
}

static void status(void) {
        FILE *f = fopen("/proc/self/status", "re");
        char line[256];
        while (f && fgets(line, sizeof line, f))
                if (!strncmp(line, "Cap", 3) || !strncmp(line, "NoNewPrivs", 10) ||
                    !strncmp(line, "Seccomp:", 8)) {
                        char *colon = strchr(line, ':');
                        *colon = '=';
                        char *v = colon + 1;
                        while (*v == '\t' || *v == ' ')
                                memmove(v, v + 1, strlen(v));
                        fputs(line, stdout);
                }
        if (f)
                fclose(f);
}

static void netdev(void) {
        FILE *f = fopen("/proc/net/dev", "re");
        char line[512];
        printf("netdev=");
        int n = 0;
        while (f && fgets(line, sizeof line, f)) {
                char *colon = strchr(line, ':');
                if (!colon)
                        continue;
                *colon = 0;
                char *name = line;
                while (*name == ' ')
                        name++;
                printf("%s%s", n++ ? "," : "", name);
        }
        printf("\n");
        if (f)
                fclose(f);
        int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        struct ifreq ifr = {0};
        strcpy(ifr.ifr_name, "lo");
        int up = s >= 0 && ioctl(s, SIOCGIFFLAGS, &ifr) == 0 && (ifr.ifr_flags & IFF_UP);
        printf("lo_up=%d\n", up);
}

int main(int argc, char **argv) {
        for (int i = 1; i < argc; i++) {
                const char *c = argv[i], *a = i + 1 < argc ? argv[i + 1] : NULL;
                if (!strcmp(c, "status"))
                        status();
                else if (!strcmp(c, "netdev"))
                        netdev();
                else if (!a) {
                        fprintf(stderr, "sandbox-probe: %s needs an argument\n", c);
                        return 2;
                } else if (!strcmp(c, "try")) {
                        printf("%s=%d\n", a, try_syscall(a));
                        i++;
                } else if (!strcmp(c, "bind")) {
                        int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
                        struct sockaddr_in sa = {.sin_family = AF_INET,
                                                 .sin_port = htons((uint16_t)atoi(a))};
                        sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
                        errno = 0;
                        printf("bind=%d\n", s < 0 ? errno : res(bind(s, (struct sockaddr *)&sa, sizeof sa)));
                        i++;
                } else if (!strcmp(c, "chown")) {
                        errno = 0;
                        printf("chown=%d\n", res(chown(a, 0, 0)));
                        i++;
                } else if (!strcmp(c, "write")) {
                        errno = 0;
                        int fd = open(a, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
                        printf("write=%d\n", fd < 0 ? errno : res(write(fd, "x", 1)));
                        if (fd >= 0)
                                close(fd);
                        i++;
                } else if (!strcmp(c, "read")) {
                        FILE *f = fopen(a, "re");
                        char line[256] = "";
                        if (f && fgets(line, sizeof line, f))
                                line[strcspn(line, "\n")] = 0;
                        printf("read=%s\n", f ? line : "(error)");
                        if (f)
                                fclose(f);
                        i++;
                } else if (!strcmp(c, "ls")) {
                        DIR *d = opendir(a);
                        int n = 0;
                        struct dirent *de;
                        while (d && (de = readdir(d)))
                                if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
                                        n++;
                        printf("ls=%d\n", d ? n : -1);
                        if (d)
                                closedir(d);
                        i++;
                } else {
                        fprintf(stderr, "sandbox-probe: unknown command %s\n", c);
                        return 2;
                }
        }
        fflush(stdout);
        return 0;
}
