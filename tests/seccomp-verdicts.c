/* SPDX-License-Identifier: MIT */
/*
 * tfprobe-seccomp: the seccomp verdict of every x86_64 system call number 0..460 and of the
 * argument-conditional cases of Docker's profile (clone flags, socket families, personality values), as
 * seen from inside a job, WITHOUT executing any of the calls. Static, so that it runs in a busybox
 * container as well.
 *
 * How: a child process stacks one more filter of its own (SECCOMP_FILTER_FLAG_NEW_LISTENER; it sets
 * no_new_privs first, which the job usually has already) that answers SECCOMP_RET_USER_NOTIF for every call
 * made from the probe's own `syscall` instruction (told by the instruction pointer) and ALLOW otherwise, and
 * passes the listener to the parent over a unix socket (SCM_RIGHTS). The parent, outside that filter,
 * answers every notification with errno MARK_ERRNO without running the call. The kernel takes the action of
 * highest precedence over all filters (seccomp(2): KILL_PROCESS > KILL_THREAD > TRAP > ERRNO > USER_NOTIF >
 * TRACE > LOG > ALLOW), so:
 *   - a call the job's filter denies returns the job filter's errno (EPERM, ENOSYS) and never reaches the
 *     parent: "EPERM", "ENOSYS", ...;
 *   - a call the job's filter allows reaches the parent, which refuses it: "allowed". It never runs, so no
 *     capability check, no side effect: a filter verdict is never confused with a missing capability.
 * Arguments other than the probed ones are 0. `tfprobe-seccomp selftest` checks the mechanism itself: a call
 * the probe's own extra filter denies with ERRNO must not reach the parent.
 *
 * Output: one "KEY=VERDICT" per line (KEY a number, or clone:FLAG, socket:FAMILY, personality:VALUE), then
 * "done=N" with the number of notifications the parent answered.
 */
#include <errno.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#define MARK_ERRNO 1234 /* what the parent answers: no real errno has this number */
#define LAST_NR 460

static const char *verdict(long r, int e, char *buf, size_t len) {
        if (r != -1)
                snprintf(buf, len, "returned-%ld", r); /* the call ran: the probe is broken */
        else if (e == MARK_ERRNO)
                snprintf(buf, len, "allowed");
        else if (e == EPERM)
                snprintf(buf, len, "EPERM");
        else if (e == ENOSYS)
                snprintf(buf, len, "ENOSYS");
        else if (e == EACCES)
                snprintf(buf, len, "EACCES");
        else
                snprintf(buf, len, "errno-%d", e);
        return buf;
}

/* Every probed call is made by the one `syscall` instruction below; the extra filter recognises it by the
 * instruction pointer the kernel reports (the address after it), so no other call of the probe or of libc
 * is ever notified, whatever its registers hold. */
extern const char probe_syscall_ret[];
__attribute__((noinline)) static long probe_syscall(long nr, unsigned long a0, unsigned long a1) {
        long ret;
        register unsigned long r10 __asm__("r10") = 0, r8 __asm__("r8") = 0, r9 __asm__("r9") = 0;
        __asm__ volatile("syscall\n"
                         ".globl probe_syscall_ret\n"
                         "probe_syscall_ret:\n"
                         : "=a"(ret)
                         : "a"(nr), "D"(a0), "S"(a1), "d"(0UL), "r"(r10), "r"(r8), "r"(r9)
                         : "rcx", "r11", "memory");
        return ret;
}

static void probe(const char *key, long nr, unsigned long a0, unsigned long a1) {
        char buf[64];
        long r = probe_syscall(nr, a0, a1);
        printf("%s=%s\n", key,
               verdict(r < 0 && r > -4096 ? -1 : r, r < 0 && r > -4096 ? (int)-r : 0, buf, sizeof buf));
}

static int install_listener(uint32_t deny_nr) {
        /* Calls from probe_syscall() -> USER_NOTIF (or, for the self-test, ERRNO(EACCES) for deny_nr); the
         * rest ALLOW. Only the native ABI is probed. */
        uint64_t ip = (uint64_t)(uintptr_t)probe_syscall_ret;
        struct sock_filter f[] = {
                BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, instruction_pointer)),
                BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (uint32_t)ip, 0, 2),
                BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, instruction_pointer) + 4),
                BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (uint32_t)(ip >> 32), 1, 0),
                BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
                BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
                BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, deny_nr, 0, 1),
                BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EACCES),
                BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_USER_NOTIF),
        };
        struct sock_fprog prog = {.len = sizeof f / sizeof f[0], .filter = f};
        if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
                return -1;
        return (int)syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_NEW_LISTENER, &prog);
}

static int send_fd(int sock, int fd) {
        char data = 'L';
        struct iovec iov = {.iov_base = &data, .iov_len = 1};
        union {
                char buf[CMSG_SPACE(sizeof(int))];
                struct cmsghdr align;
        } u;
        memset(&u, 0, sizeof u);
        struct msghdr m = {
                .msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf, .msg_controllen = sizeof u.buf};
        struct cmsghdr *c = CMSG_FIRSTHDR(&m);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(sizeof(int));
        memcpy(CMSG_DATA(c), &fd, sizeof(int));
        return sendmsg(sock, &m, 0) == 1 ? 0 : -1;
}

static int recv_fd(int sock) {
        char data;
        struct iovec iov = {.iov_base = &data, .iov_len = 1};
        union {
                char buf[CMSG_SPACE(sizeof(int))];
                struct cmsghdr align;
        } u;
        struct msghdr m = {
                .msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf, .msg_controllen = sizeof u.buf};
        if (recvmsg(sock, &m, 0) != 1)
                return -1;
        struct cmsghdr *c = CMSG_FIRSTHDR(&m);
        if (!c || c->cmsg_type != SCM_RIGHTS)
                return -1;
        int fd;
        memcpy(&fd, CMSG_DATA(c), sizeof(int));
        return fd;
}

static void child_probes(bool selftest) {
        char key[64];
        if (selftest) {
                /* getppid is denied by the probe's own filter with ERRNO: it must say EACCES, not allowed;
                 * getpid reaches the parent. */
                probe("self:getppid", SYS_getppid, 0, 0);
                probe("self:getpid", SYS_getpid, 0, 0);
                return;
        }
        for (long nr = 0; nr <= LAST_NR; nr++) {
                snprintf(key, sizeof key, "%ld", nr);
                /* uretprobe (335) and uprobe (336) bypass seccomp on Linux >= 6.14 (kernel/seccomp.c
                 * seccomp_uprobe_exception(): no filter sees them, there is no verdict to compare) and
                 * raise SIGILL when not called from a uprobe trampoline. */
                if (nr == 335 || nr == 336) {
                        printf("%s=not-probed\n", key);
                        continue;
                }
                probe(key, nr, 0, 0);
        }
        /* Docker's clone rule: allowed without CAP_SYS_ADMIN only if no namespace flag of the mask
         * 0x7E020000 is set. */
        static const struct {
                const char *name;
                unsigned long flag;
        } clones[] = {
                {"SIGCHLD", SIGCHLD},
                {"NEWNS", CLONE_NEWNS},
                {"NEWCGROUP", CLONE_NEWCGROUP},
                {"NEWUTS", CLONE_NEWUTS},
                {"NEWIPC", CLONE_NEWIPC},
                {"NEWUSER", CLONE_NEWUSER},
                {"NEWPID", CLONE_NEWPID},
                {"NEWNET", CLONE_NEWNET},
                {"NEWTIME", 0x80},
                {"THREAD", CLONE_THREAD | CLONE_SIGHAND | CLONE_VM},
        };
        for (size_t i = 0; i < sizeof clones / sizeof clones[0]; i++) {
                snprintf(key, sizeof key, "clone:%s", clones[i].name);
                probe(key, SYS_clone, clones[i].flag, 0);
        }
        for (unsigned long fam = 0; fam <= 46; fam++) {
                snprintf(key, sizeof key, "socket:%lu", fam);
                probe(key, SYS_socket, fam, 1 /* SOCK_STREAM */);
        }
        static const unsigned long pers[] = {
                0, 8, 0x20000, 0x20008, 0xffffffffUL, 0xffffffffffffffffUL, 1, 0x40000, 0x400000, 0x0200000};
        for (size_t i = 0; i < sizeof pers / sizeof pers[0]; i++) {
                snprintf(key, sizeof key, "personality:%#lx", pers[i]);
                probe(key, SYS_personality, pers[i], 0);
        }
}

int main(int argc, char **argv) {
        bool selftest = argc > 1 && !strcmp(argv[1], "selftest");
        setvbuf(stdout, NULL, _IOLBF, 0);
        int sv[2];
        if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) {
                perror("tfprobe-seccomp: socketpair");
                return 2;
        }
        fflush(stdout);
        pid_t pid = fork();
        if (pid < 0) {
                perror("tfprobe-seccomp: fork");
                return 2;
        }
        if (pid == 0) {
                close(sv[0]);
                int l = install_listener(selftest ? SYS_getppid : 0xffffffffU);
                if (l < 0) {
                        fprintf(stderr, "tfprobe-seccomp: seccomp(NEW_LISTENER): %s\n", strerror(errno));
                        _exit(3);
                }
                if (send_fd(sv[1], l) < 0) {
                        perror("tfprobe-seccomp: sendmsg");
                        _exit(3);
                }
                close(l);
                /* Wait until the parent holds the listener: a marked call before that would block
                 * forever only if the parent were gone, but the order keeps the output deterministic. */
                char go;
                if (read(sv[1], &go, 1) != 1)
                        _exit(3);
                child_probes(selftest);
                fflush(stdout);
                _exit(0);
        }
        close(sv[1]);
        int l = recv_fd(sv[0]);
        if (l < 0) {
                fprintf(stderr, "tfprobe-seccomp: no listener from the child\n");
                waitpid(pid, NULL, 0);
                return 2;
        }
        if (write(sv[0], "g", 1) != 1)
                return 2;
        struct seccomp_notif_sizes sz;
        if (syscall(SYS_seccomp, SECCOMP_GET_NOTIF_SIZES, 0, &sz) < 0) {
                perror("tfprobe-seccomp: SECCOMP_GET_NOTIF_SIZES");
                return 2;
        }
        struct seccomp_notif *req =
                calloc(1, sz.seccomp_notif > sizeof *req ? sz.seccomp_notif : sizeof *req);
        struct seccomp_notif_resp *resp =
                calloc(1, sz.seccomp_notif_resp > sizeof *resp ? sz.seccomp_notif_resp : sizeof *resp);
        unsigned long answered = 0;
        for (;;) {
                struct pollfd p = {.fd = l, .events = POLLIN};
                int n = poll(&p, 1, -1);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0 || (p.revents & POLLIN) == 0)
                        break; /* POLLHUP: the child and its filter are gone */
                memset(req, 0, sz.seccomp_notif);
                if (ioctl(l, SECCOMP_IOCTL_NOTIF_RECV, req) < 0) {
                        if (errno == EINTR || errno == ENOENT)
                                continue;
                        break;
                }
                memset(resp, 0, sz.seccomp_notif_resp);
                resp->id = req->id;
                resp->error = -MARK_ERRNO;
                resp->val = 0;
                resp->flags = 0;
                if (ioctl(l, SECCOMP_IOCTL_NOTIF_SEND, resp) == 0)
                        answered++;
        }
        int st = 0;
        waitpid(pid, &st, 0);
        if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
                fprintf(stderr, "tfprobe-seccomp: child ended with status %#x\n", st);
                return 2;
        }
        printf("done=%lu\n", answered);
        return 0;
}
