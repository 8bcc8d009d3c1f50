/* SPDX-License-Identifier: MIT */
/*
 * tfrun-init: the init of a sandboxed native run's pid namespace, as a program of its own that the child
 * execs once it has cloned the service. Why a program: the child is a copy of tfrun's address space (or
 * shares it, suspending tfrun), and an init that stays such a copy makes the clone copy tfrun's page
 * tables and the init's exit tear them down again, both on every launch's critical path; after this
 * execve the init is a few pages. It is embedded in tfrun (scripts/embed-binary.py) and executed from a
 * sealed memfd, so no path, install layout or environment decides what runs as the namespace's init.
 *
 * Freestanding (no libc: no TLS, no start-up code, nothing but system calls); x86-64 only, where the
 * child is started sharing tfrun's memory. Other architectures keep the init inside the child
 * (runner/native.c).
 *
 * Contract with runner/native.c: the signal mask is all blocked (inherited across execve, so nothing sent
 * since the clone is lost); fd 0-2 are the service's stdio, fd 3 the status pipe, fd 4 the exec
 * handshake socket; argv[1] is the service's pid. The init keeps only CAP_KILL, sets no_new_privs, is not
 * dumpable, closes fd 4 (tfrun's EOF) and everything but 0-3, then runs under a filter of its own. It reaps
 * every child, forwards what tfrun sends to the service (or to the whole namespace when marked with
 * TF_INIT_SIGNAL_ALL), writes the service's wait status to fd 3 and exits. A setup failure is sent on fd 4
 * as a struct tf_child_msg, after which the service is killed.
 */
#include <asm/unistd.h>
#include <linux/audit.h>
#include <linux/capability.h>
#include <linux/errno.h>
#include <linux/filter.h>
#include <linux/prctl.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <stdint.h>

#include "sandbox/init-proto.h"

#define SIGKILL 9
#define SIGCHLD 17
#define WNOHANG 1
#define SI_QUEUE (-1)

static long sys6(long nr, long a, long b, long c, long d, long e, long f) {
        register long r10 __asm__("r10") = d;
        register long r8 __asm__("r8") = e;
        register long r9 __asm__("r9") = f;
        long ret;
        __asm__ volatile("syscall"
                         : "=a"(ret)
                         : "a"(nr), "D"(a), "S"(b), "d"(c), "r"(r10), "r"(r8), "r"(r9)
                         : "rcx", "r11", "memory");
        return ret;
}
#define sys(nr, a, b, c) sys6((nr), (long) (a), (long) (b), (long) (c), 0, 0, 0)

/* The compiler may still emit calls to these for aggregate copies. */
void *memset(void *d, int c, size_t n) {
        unsigned char *p = d;
        while (n--)
                *p++ = (unsigned char) c;
        return d;
}

void *memcpy(void *d, const void *s, size_t n) {
        unsigned char *p = d;
        const unsigned char *q = s;
        while (n--)
                *p++ = *q++;
        return d;
}

static _Noreturn void die(int code) {
        for (;;)
                sys(__NR_exit_group, code, 0, 0);
}

static int svc;

static _Noreturn void fail(const char *what, long err) {
        struct tf_child_msg m = {.exec_stage = 0, .err = (int) -err};
        size_t n = 0;
        while (what[n] && n + 1 < sizeof(m.text)) {
                m.text[n] = what[n];
                n++;
        }
        sys6(__NR_sendto, TF_INIT_SOCK_FD, (long) &m, sizeof(m), 0x4000 /* MSG_NOSIGNAL */, 0, 0);
        sys(__NR_kill, svc, SIGKILL, 0);
        die(125);
}

static void privileges(void) {
        long r;
        for (int cap = 0; cap <= 63; cap++) {
                if (cap == CAP_KILL)
                        continue;
                r = sys(__NR_prctl, PR_CAPBSET_DROP, cap, 0);
                if (r == -EINVAL)
                        break; /* past the kernel's last capability */
                /* EPERM: no CAP_SETPCAP. The bounding set only limits what an exec may gain, and the
                 * init never execs again and has no_new_privs. */
                if (r < 0 && r != -EPERM)
                        fail("sandbox.pid: init: drop the bounding set", r);
        }
        r = sys6(__NR_prctl, PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0, 0);
        if (r < 0 && r != -EINVAL)
                fail("sandbox.pid: init: clear ambient capabilities", r);
        struct __user_cap_header_struct h = {.version = _LINUX_CAPABILITY_VERSION_3};
        struct __user_cap_data_struct d[2] = {{0}};
        r = sys(__NR_capget, &h, d, 0);
        if (r < 0)
                fail("sandbox.pid: init: capget", r);
        uint32_t keep = d[0].permitted & (1U << CAP_KILL);
        struct __user_cap_data_struct k[2] = {{.effective = keep, .permitted = keep}};
        h.version = _LINUX_CAPABILITY_VERSION_3;
        h.pid = 0;
        r = sys(__NR_capset, &h, k, 0);
        if (r < 0)
                fail("sandbox.pid: init: capset", r);
        r = sys6(__NR_prctl, PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0, 0);
        if (r < 0)
                fail("sandbox.pid: init: no_new_privs", r);
}

/* Its loop waits for signals (rt_sigtimedwait), reaps (wait4), forwards (kill), reports (write) and
 * exits, after closing the handshake socket (close); nothing else is allowed, on x86-64 only. */
#define ALLOW_NR(nr) \
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (nr), 0, 1), BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW)
static const struct sock_filter filter[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 1, 0),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS),
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
        /* x32 system calls share the architecture: refuse the whole range. */
        BPF_JUMP(BPF_JMP | BPF_JGE | BPF_K, 0x40000000, 0, 1),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS),
        ALLOW_NR(__NR_rt_sigtimedwait),
        ALLOW_NR(__NR_wait4),
        ALLOW_NR(__NR_kill),
        ALLOW_NR(__NR_write),
        ALLOW_NR(__NR_close),
        ALLOW_NR(__NR_exit_group),
        ALLOW_NR(__NR_exit),
        ALLOW_NR(__NR_restart_syscall),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS),
};

/* Synchronous signals concern the init itself; forwarding them would be wrong. */
static int forwardable(int sig) {
        switch (sig) {
        case SIGCHLD:
        case 4:  /* SIGILL */
        case 5:  /* SIGTRAP */
        case 6:  /* SIGABRT */
        case 7:  /* SIGBUS */
        case 8:  /* SIGFPE */
        case 11: /* SIGSEGV */
        case 31: /* SIGSYS */
        case 21: /* SIGTTIN */
        case 22: /* SIGTTOU */
                return 0;
        }
        return 1;
}

/* The kernel's siginfo on x86-64, the fields read here. */
struct siginfo_min {
        int signo, err, code, pad;
        int pid, uid;
        int value_int, value_pad;
        char rest[96];
};

__attribute__((used)) _Noreturn void tf_init_main(long *sp) {
        /* First of all: the service runs already, and execveat named us after the memfd
         * ("memfd:tfrun-ini"); from here on it reads the name it read before our exec. */
        sys6(__NR_prctl, PR_SET_NAME, (long) "tfrun-init", 0, 0, 0, 0);
        char **argv = (char **) (sp + 1);
        if (sp[0] < 2)
                die(125);
        for (const char *c = argv[1]; *c; c++) {
                if (*c < '0' || *c > '9')
                        die(125);
                svc = svc * 10 + (*c - '0');
        }
        /* Not dumpable first: until then a process of the same uid with the capabilities we hold could
         * ptrace us; the service has fewer, and none after this. */
        long r = sys6(__NR_prctl, PR_SET_DUMPABLE, 0, 0, 0, 0, 0);
        if (r < 0)
                fail("sandbox.pid: init: not dumpable", r);
        privileges();
        /* Only so the init pins no directory; nothing depends on it. */
        sys(__NR_chdir, "/", 0, 0);
        /* No descriptor of tfrun's but the status pipe, the socket (until the end of the setup) and the
         * service's stdio stays. */
        sys(__NR_close_range, TF_INIT_SOCK_FD + 1, ~0U, 0);
        struct sock_fprog prog = {.len = sizeof(filter) / sizeof(filter[0]),
                                  .filter = (struct sock_filter *) filter};
        r = sys(__NR_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog);
        if (r < 0)
                fail("sandbox.pid: init: seccomp", r);
        /* The setup is over: tfrun learns it from EOF on the socket. */
        sys(__NR_close, TF_INIT_SOCK_FD, 0, 0);

        uint64_t all = ~(uint64_t) 0;
        for (;;) {
                struct siginfo_min si;
                long sig = sys6(__NR_rt_sigtimedwait, (long) &all, (long) &si, 0, 8, 0, 0);
                if (sig < 0)
                        continue;
                if (sig != SIGCHLD) {
                        if (!forwardable((int) sig))
                                continue;
                        /* si_pid is 0 for a sender outside the namespace (tfrun); the service's own
                         * kill(0, ...) or kill(1, ...) must not come back to it a second time. */
                        if (si.code > 0 || si.pid != 0)
                                continue;
                        if (si.code == SI_QUEUE && si.value_int == TF_INIT_SIGNAL_ALL)
                                sys(__NR_kill, -1, sig, 0); /* everyone in the namespace but us */
                        else
                                sys(__NR_kill, svc, sig, 0);
                        continue;
                }
                int st;
                long w;
                while ((w = sys6(__NR_wait4, -1, (long) &st, WNOHANG, 0, 0, 0)) > 0)
                        if (w == svc) {
                                sys(__NR_write, TF_INIT_STATUS_FD, &st, sizeof(st));
                                /* The exit code is not what tfrun reports (the pipe is), but keep it
                                 * meaningful for anyone reading /proc or an strace. */
                                die((st & 0x7f) == 0 ? (st >> 8) & 0xff : 128 + (st & 0x7f));
                        }
        }
}

__asm__(".text\n"
        ".global _start\n"
        "_start:\n"
        "        xor %ebp, %ebp\n"
        "        mov %rsp, %rdi\n"
        "        and $-16, %rsp\n"
        "        call tf_init_main\n"
        "        hlt\n");
