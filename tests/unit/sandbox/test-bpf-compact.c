/* SPDX-License-Identifier: MIT */
/*
 * The compacted seccomp filter (sandbox/bpf-compact.c) gives libseccomp's verdict for every input tried:
 * both programs run in a classic-BPF interpreter of the test's own over every architecture the filter
 * names and one it does not, every syscall number up to past the highest any table has, the x32 range,
 * the edges of the 32-bit range, and arguments chosen to hit the profile's conditional rules (every
 * constant the program compares with, zero, all ones, random words). A control shows that the comparison
 * sees a single changed verdict.
 */
#include <errno.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "sandbox/sandbox-internal.h"
#include "sandbox/sandbox.h"
#include "tests/tap.h"

/* Classic BPF as seccomp runs it; -1 for a program the kernel would refuse at run time. */
static int64_t bpf_run(const struct sock_filter *f, size_t n, const struct seccomp_data *d) {
        uint32_t a = 0, x = 0, mem[BPF_MEMWORDS] = {0};
        const uint8_t *data = (const uint8_t *)d;
        for (size_t pc = 0; pc < n; pc++) {
                const struct sock_filter *s = &f[pc];
                uint32_t k = s->k, src = BPF_SRC(s->code) == BPF_X ? x : k;
                switch (BPF_CLASS(s->code)) {
                case BPF_LD:
                        if (s->code == (BPF_LD | BPF_W | BPF_ABS)) {
                                if (k > sizeof(*d) - 4 || k % 4)
                                        return -1;
                                memcpy(&a, data + k, 4);
                        } else if (s->code == (BPF_LD | BPF_IMM))
                                a = k;
                        else if (s->code == (BPF_LD | BPF_MEM) && k < BPF_MEMWORDS)
                                a = mem[k];
                        else
                                return -1;
                        break;
                case BPF_LDX:
                        if (s->code == (BPF_LDX | BPF_IMM))
                                x = k;
                        else if (s->code == (BPF_LDX | BPF_MEM) && k < BPF_MEMWORDS)
                                x = mem[k];
                        else
                                return -1;
                        break;
                case BPF_ST:
                        if (k >= BPF_MEMWORDS)
                                return -1;
                        mem[k] = a;
                        break;
                case BPF_STX:
                        if (k >= BPF_MEMWORDS)
                                return -1;
                        mem[k] = x;
                        break;
                case BPF_ALU:
                        switch (BPF_OP(s->code)) {
                        case BPF_ADD:
                                a += src;
                                break;
                        case BPF_SUB:
                                a -= src;
                                break;
                        case BPF_MUL:
                                a *= src;
                                break;
                        case BPF_DIV:
                                if (!src)
                                        return -1;
                                a /= src;
                                break;
                        case BPF_MOD:
                                if (!src)
                                        return -1;
                                a %= src;
                                break;
                        case BPF_AND:
                                a &= src;
                                break;
                        case BPF_OR:
                                a |= src;
                                break;
                        case BPF_XOR:
                                a ^= src;
                                break;
                        case BPF_LSH:
                                a = src < 32 ? a << src : 0;
                                break;
                        case BPF_RSH:
                                a = src < 32 ? a >> src : 0;
                                break;
                        case BPF_NEG:
                                a = -a;
                                break;
                        default:
                                return -1;
                        }
                        break;
                case BPF_JMP: {
                        if (BPF_OP(s->code) == BPF_JA) {
                                pc += k;
                                break;
                        }
                        bool t;
                        switch (BPF_OP(s->code)) {
                        case BPF_JEQ:
                                t = a == src;
                                break;
                        case BPF_JGT:
                                t = a > src;
                                break;
                        case BPF_JGE:
                                t = a >= src;
                                break;
                        case BPF_JSET:
                                t = (a & src) != 0;
                                break;
                        default:
                                return -1;
                        }
                        pc += t ? s->jt : s->jf;
                        break;
                }
                case BPF_RET:
                        return BPF_RVAL(s->code) == BPF_A ? a : k;
                case BPF_MISC:
                        if (BPF_MISCOP(s->code) == BPF_TAX)
                                x = a;
                        else
                                a = x;
                        break;
                default:
                        return -1;
                }
        }
        return -1; /* fell off the end */
}

static uint64_t rng = 0x9e3779b97f4a7c15ULL;
static uint32_t rnd(void) {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        return (uint32_t)rng;
}

struct cmp {
        size_t inputs, differ;
        char first[160];
};

static void try_input(const struct sock_filter *a, size_t na, const struct sock_filter *b, size_t nb,
                      const struct seccomp_data *d, struct cmp *c) {
        int64_t x = bpf_run(a, na, d), y = bpf_run(b, nb, d);
        c->inputs++;
        if (x == y && x >= 0)
                return;
        if (c->differ++ == 0)
                snprintf(c->first, sizeof(c->first), "arch %#x nr %#x arg0 %#llx: %#llx vs %#llx", d->arch,
                         d->nr, (unsigned long long)d->args[0], (long long)x, (long long)y);
}

/* Every input of the kinds above through both programs. */
static void compare(const struct sock_filter *a, size_t na, const struct sock_filter *b, size_t nb,
                    size_t n_archs, struct cmp *c) {
        uint32_t archs[] = {AUDIT_ARCH_X86_64, AUDIT_ARCH_I386, AUDIT_ARCH_AARCH64, 0, 0xffffffff};
        if (n_archs > ELEMENTSOF(archs))
                n_archs = ELEMENTSOF(archs);
        size_t nr_max = 1200;
        for (size_t i = 0; i < na; i++)
                if (BPF_CLASS(a[i].code) == BPF_JMP && a[i].k < 0x10000 && a[i].k + 16 > nr_max)
                        nr_max = a[i].k + 16;
        /* Argument words worth trying: every constant the original compares with, and its neighbours. */
        uint32_t words[1024];
        size_t nw = 0;
        words[nw++] = 0;
        words[nw++] = 0xffffffff;
        /* The constants compared right after an argument load (libseccomp's argument rules), once each. */
        size_t since_arg = SIZE_MAX; /* instructions since an argument load */
        for (size_t i = 0; i < na && nw + 3 < ELEMENTSOF(words); i++, since_arg++) {
                if (a[i].code == (BPF_LD | BPF_W | BPF_ABS))
                        since_arg = a[i].k >= offsetof(struct seccomp_data, args) ? 0 : SIZE_MAX - na;
                if (since_arg > 8 || (BPF_CLASS(a[i].code) != BPF_JMP && BPF_CLASS(a[i].code) != BPF_ALU))
                        continue;
                uint32_t cand[3] = {a[i].k, a[i].k + 1, a[i].k - 1};
                for (int j = 0; j < 3; j++) {
                        bool seen = false;
                        for (size_t w = 0; w < nw && !seen; w++)
                                seen = words[w] == cand[j];
                        if (!seen)
                                words[nw++] = cand[j];
                }
        }
        memset(c, 0, sizeof(*c));
        for (size_t ai = 0; ai < n_archs; ai++) {
                static uint32_t nrs[2 * 0x10000 + 128];
                size_t nn = 0;
                for (uint32_t nr = 0; nr < nr_max; nr++)
                        nrs[nn++] = nr;
                for (uint32_t nr = 0x40000000; nr < 0x40000000 + nr_max; nr++)
                        nrs[nn++] = nr;
                uint32_t edges[] = {0x3fffffff, 0x7fffffff, 0x80000000,     0xbfffffff, 0xc0000000,
                                    0xfffffffe, 0xffffffff, 0x40000000 - 1, 0x50000000};
                for (size_t e = 0; e < ELEMENTSOF(edges); e++)
                        nrs[nn++] = edges[e];
                for (size_t i = 0; i < 64; i++)
                        nrs[nn++] = rnd();
                for (size_t ni = 0; ni < nn; ni++) {
                        struct seccomp_data d = {.nr = (int)nrs[ni], .arch = archs[ai]};
                        try_input(a, na, b, nb, &d, c);
                        /* Each argument word in turn, in the low and the high half of each argument,
                         * the others zero; then random ones. */
                        for (size_t w = 0; w < nw; w++)
                                for (int arg = 0; arg < 6; arg++) {
                                        memset(d.args, 0, sizeof(d.args));
                                        d.args[arg] = words[w];
                                        try_input(a, na, b, nb, &d, c);
                                        d.args[arg] = (uint64_t)words[w] << 32;
                                        try_input(a, na, b, nb, &d, c);
                                }
                        for (int i = 0; i < 16; i++) {
                                for (int arg = 0; arg < 6; arg++)
                                        d.args[arg] = ((uint64_t)rnd() << 32 | rnd()) &
                                                      (i & 1 ? ~0ULL : 0xffffffffULL);
                                d.instruction_pointer = (uint64_t)rnd() << 32 | rnd();
                                try_input(a, na, b, nb, &d, c);
                        }
                }
        }
}

static void spec_init(struct tf_spec *s) {
        memset(s, 0, sizeof(*s));
        s->path = (char *)"test.yaml";
        s->sandbox.seccomp = TF_SECCOMP_DEFAULT;
        s->sandbox.no_new_privileges = true;
        s->sandbox.network = TF_NETWORK_UNSET;
        s->sandbox_present = true;
        s->pos_sandbox = (struct tf_pos){3, 1};
}

/* The default profile's filter for these capabilities, compacted or as libseccomp made it. */
static struct tf_sandbox_plan *plan(char **cap_add, bool compact) {
        struct tf_spec s;
        spec_init(&s);
        s.sandbox.cap_add = cap_add;
        setenv("TFRUN_SECCOMP_COMPACT", compact ? "1" : "0", 1);
        struct tf_sandbox_plan *p = NULL;
        tf_error *e = NULL;
        if (tf_sandbox_prepare(&s, geteuid() == 0, &p, &e) < 0) {
                printf("# prepare: %s\n", e ? e->msg : "?");
                tf_error_free(e);
                return NULL;
        }
        return p;
}

static void check(const char *name, char **cap_add) {
        struct tf_sandbox_plan *orig = plan(cap_add, false), *small = plan(cap_add, true);
        if (!orig || !small) {
                OK(false, "%s: the filter compiles both ways", name);
                tf_sandbox_plan_free(orig);
                tf_sandbox_plan_free(small);
                return;
        }
        size_t na = orig->prog.len, nb = small->prog.len;
        OK(nb < na * 2 / 3, "%s: compacted from %zu to %zu instructions", name, na, nb);
        struct cmp c;
        compare(orig->prog.filter, na, small->prog.filter, nb, SIZE_MAX, &c);
        OK(c.differ == 0 && c.inputs > 100000, "%s: the same verdict on all %zu inputs (%zu differ%s%s)",
           name, c.inputs, c.differ, c.differ ? ", first: " : "", c.first);

        /* The control: one verdict of the compacted program changed is seen. */
        struct sock_filter *mut = malloc(nb * sizeof(*mut));
        memcpy(mut, small->prog.filter, nb * sizeof(*mut));
        size_t i = 0;
        while (i < nb && !(mut[i].code == (BPF_RET | BPF_K) && mut[i].k == SECCOMP_RET_ALLOW))
                i++;
        if (i < nb)
                mut[i].k = SECCOMP_RET_ERRNO | EPERM;
        compare(orig->prog.filter, na, mut, nb, SIZE_MAX, &c);
        OK(i < nb && c.differ > 0, "%s: control: one ALLOW made EPERM is seen (%zu inputs differ)", name,
           c.differ);
        free(mut);
        tf_sandbox_plan_free(orig);
        tf_sandbox_plan_free(small);
}

int main(void) {
        setenv("TFRUN_SECCOMP_CACHE", "0", 1);
        check("default profile", NULL);
        /* More of the profile's conditional entries (includes.caps) and argument rules. */
        char *admin[] = {(char *)"SYS_ADMIN",      (char *)"SYS_PTRACE",      (char *)"SYS_BOOT",
                         (char *)"SYS_MODULE",     (char *)"SYS_TIME",        (char *)"SYS_NICE",
                         (char *)"SYS_PACCT",      (char *)"SYS_RAWIO",       (char *)"SYSLOG",
                         (char *)"SYS_TTY_CONFIG", (char *)"DAC_READ_SEARCH", NULL};
        check("default profile with SYS_ADMIN and others", admin);

        /* Built by hand, bigger than a chunk of the search many times over: a chain of 900 numbers with
         * many verdicts (ALLOW, or an errno from the number), so that the search needs JA trampolines and
         * big pools, and an argument rule on three numbers early in the chain, which the cut-down
         * original keeps. */
        static struct sock_filter hand[4096];
        size_t nh = 0;
        hand[nh++] =
                (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr));
        for (uint32_t nr = 0; nr < 900; nr++) {
                switch (nr == 2 || nr == 5 || nr == 8 ? 2 : nr % 2) {
                case 0:
                        hand[nh++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, nr, 0, 1);
                        hand[nh++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
                        break;
                case 1:
                        hand[nh++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, nr, 0, 1);
                        hand[nh++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K,
                                                                  SECCOMP_RET_ERRNO | (nr & 0xff));
                        break;
                default:
                        hand[nh++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, nr, 0, 4);
                        hand[nh++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
                                                                  offsetof(struct seccomp_data, args[1]));
                        hand[nh++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JSET | BPF_K, 0x10, 0, 1);
                        hand[nh++] =
                                (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EPERM);
                        hand[nh++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
                }
        }
        hand[nh++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS);
        struct sock_filter *out = NULL;
        size_t n_out = 0;
        int r = tf_bpf_compact(hand, nh, &out, &n_out);
        OK(r == 0 && n_out < nh, "hand-made: compacted (%d), %zu -> %zu instructions", r, nh, n_out);
        if (r == 0) {
                struct cmp c;
                compare(hand, nh, out, n_out, 1, &c); /* it never looks at the architecture */
                OK(c.differ == 0 && c.inputs > 10000, "hand-made: the same verdict on all %zu inputs (%s)",
                   c.inputs, c.differ ? c.first : "none differ");
                free(out);
        }
        /* Nothing to gain: a program that is all argument checks is kept. */
        struct sock_filter args_only[] = {
                BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, args[0])),
                BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 7, 0, 1),
                BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EPERM),
                BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
        };
        IS_INT(tf_bpf_compact(args_only, ELEMENTSOF(args_only), &out, &n_out), -EOPNOTSUPP,
               "a program that looks only at arguments is kept as it is");
        return tap_done();
}
