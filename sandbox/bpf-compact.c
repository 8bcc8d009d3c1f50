/* SPDX-License-Identifier: MIT */
/*
 * A seccomp filter rewritten smaller, with the same verdict for every input.
 *
 * Attaching a filter costs in proportion to its length: the kernel converts the classic program to eBPF
 * and JIT-compiles it, several passes over the whole program, on every seccomp(2). libseccomp's tree for
 * Docker's profile has one comparison per syscall and architecture (1257 instructions with tfrun's ENOSYS
 * stub), about 0.3-0.4 ms per launch on a busy 2-core VM. Most verdicts depend only on the architecture and
 * the syscall number, and the numbers with the same verdict form few runs: Docker's profile on x86_64 is
 * about 280 runs over i386, x86_64 and x32.
 *
 * The rewrite: the program is walked with the architecture as a constant and the syscall number as an
 * interval, split at every comparison, until each piece ends in a constant verdict or reaches anything
 * else (an argument load, an instruction this walk does not model): such a piece is "complex". The new
 * program dispatches on the architecture, then binary-searches the number over the runs of equal
 * verdicts and returns the verdict; a complex piece jumps to the original program, cut down to the
 * instructions that the complex pieces can reach, which then runs from its start on the real input, so
 * its verdict is the original's by construction. The result is walked the same way and its table of
 * runs compared with the original's; on any difference, or when it is not smaller, the original is kept.
 */
#include "sandbox/sandbox-internal.h"

#include <errno.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/cleanup.h"

#define OFF_NR ((uint32_t)offsetof(struct seccomp_data, nr))
#define OFF_ARCH ((uint32_t)offsetof(struct seccomp_data, arch))
#define MAX_ARCHS 16

enum { A_NONE, A_ARCH, A_NR };

struct run {
        uint32_t lo, hi;
        bool complex;
        uint32_t ret;
};

struct runs {
        struct run *v;
        size_t n, cap;
};

struct walk {
        const struct sock_filter *f;
        size_t len;
        struct runs *out;
        uint8_t *mark; /* NULL, or instructions that the complex pieces reach */
        bool failed;   /* out of memory, or a malformed program */
};

static void runs_add(struct walk *w, uint32_t lo, uint32_t hi, bool complex, uint32_t ret) {
        struct runs *r = w->out;
        if (!r)
                return;
        if (r->n == r->cap) {
                size_t cap = r->cap ? r->cap * 2 : 256;
                struct run *v = realloc(r->v, cap * sizeof(*v));
                if (!v) {
                        w->failed = true;
                        return;
                }
                r->v = v;
                r->cap = cap;
        }
        r->v[r->n++] = (struct run){.lo = lo, .hi = hi, .complex = complex, .ret = ret};
}

/* Everything reachable from pc: classic BPF jumps only forward, so one sweep does. */
static void mark_from(struct walk *w, size_t pc) {
        w->mark[pc] = 1;
        for (size_t i = pc; i < w->len; i++) {
                if (!w->mark[i])
                        continue;
                const struct sock_filter *s = &w->f[i];
                size_t t[2] = {i + 1, i + 1};
                if (BPF_CLASS(s->code) == BPF_RET)
                        continue;
                if (BPF_CLASS(s->code) == BPF_JMP) {
                        if (BPF_OP(s->code) == BPF_JA)
                                t[0] = t[1] = i + 1 + s->k;
                        else {
                                t[0] = i + 1 + s->jt;
                                t[1] = i + 1 + s->jf;
                        }
                }
                for (int b = 0; b < 2; b++) {
                        if (t[b] >= w->len) {
                                w->failed = true;
                                return;
                        }
                        w->mark[t[b]] = 1;
                }
        }
}

static void walk(struct walk *w, size_t pc, int a, uint32_t arch, uint32_t lo, uint32_t hi);

/* Marking: from an instruction the walk does not model, on. Past a load of an argument or arithmetic,
 * both ways of every jump on the accumulator, the number's interval kept, until the number is loaded
 * again (libseccomp reloads it after an argument check) and the walk is exact once more. */
static void walk_unknown(struct walk *w, size_t pc, uint32_t arch, uint32_t lo, uint32_t hi) {
        for (; !w->failed; pc++) {
                if (pc >= w->len) {
                        w->failed = true;
                        return;
                }
                w->mark[pc] = 1;
                const struct sock_filter *s = &w->f[pc];
                switch (BPF_CLASS(s->code)) {
                case BPF_LD:
                        if (s->code == (BPF_LD | BPF_W | BPF_ABS) && (s->k == OFF_NR || s->k == OFF_ARCH)) {
                                walk(w, pc + 1, s->k == OFF_NR ? A_NR : A_ARCH, arch, lo, hi);
                                return;
                        }
                        if (s->code == (BPF_LD | BPF_W | BPF_ABS) || s->code == (BPF_LD | BPF_IMM))
                                continue;
                        mark_from(w, pc);
                        return;
                case BPF_ALU:
                        if (BPF_SRC(s->code) == BPF_K)
                                continue;
                        mark_from(w, pc);
                        return;
                case BPF_RET:
                        return;
                case BPF_JMP:
                        if (BPF_OP(s->code) == BPF_JA) {
                                pc += s->k;
                                continue;
                        }
                        if (BPF_SRC(s->code) != BPF_K) {
                                mark_from(w, pc);
                                return;
                        }
                        walk_unknown(w, pc + 1 + s->jt, arch, lo, hi);
                        pc += s->jf;
                        continue;
                default:
                        mark_from(w, pc);
                        return;
                }
        }
}

static void complex_at(struct walk *w, size_t pc, uint32_t lo, uint32_t hi, uint32_t arch) {
        runs_add(w, lo, hi, true, 0);
        if (w->mark)
                walk_unknown(w, pc, arch, lo, hi);
}

/* The verdicts of [lo, hi] for architecture `arch`, from pc on with the accumulator holding `a`. */
static void walk(struct walk *w, size_t pc, int a, uint32_t arch, uint32_t lo, uint32_t hi) {
        for (;;) {
                if (w->failed)
                        return;
                if (pc >= w->len) {
                        w->failed = true;
                        return;
                }
                if (w->mark)
                        w->mark[pc] = 1;
                const struct sock_filter *s = &w->f[pc];
                uint32_t k = s->k;
                size_t t = pc + 1 + s->jt, f = pc + 1 + s->jf;
                switch (BPF_CLASS(s->code)) {
                case BPF_LD:
                        if (s->code == (BPF_LD | BPF_W | BPF_ABS) && (k == OFF_NR || k == OFF_ARCH)) {
                                a = k == OFF_NR ? A_NR : A_ARCH;
                                pc++;
                                continue;
                        }
                        complex_at(w, pc, lo, hi, arch);
                        return;
                case BPF_RET:
                        if (BPF_RVAL(s->code) != BPF_K) {
                                complex_at(w, pc, lo, hi, arch);
                                return;
                        }
                        runs_add(w, lo, hi, false, k);
                        return;
                case BPF_JMP:
                        if (BPF_OP(s->code) == BPF_JA) {
                                pc += 1 + (size_t)k;
                                continue;
                        }
                        if (BPF_SRC(s->code) != BPF_K || a == A_NONE) {
                                complex_at(w, pc, lo, hi, arch);
                                return;
                        }
                        if (a == A_ARCH) {
                                if (BPF_OP(s->code) != BPF_JEQ) {
                                        complex_at(w, pc, lo, hi, arch);
                                        return;
                                }
                                pc = arch == k ? t : f;
                                continue;
                        }
                        switch (BPF_OP(s->code)) {
                        case BPF_JEQ:
                                if (k < lo || k > hi) {
                                        pc = f;
                                        continue;
                                }
                                if (lo < k)
                                        walk(w, f, a, arch, lo, k - 1);
                                walk(w, t, a, arch, k, k);
                                if (k == hi)
                                        return;
                                lo = k + 1;
                                pc = f;
                                continue;
                        case BPF_JGT:
                        case BPF_JGE: {
                                /* taken for nr >= first */
                                if (BPF_OP(s->code) == BPF_JGT && k == UINT32_MAX) {
                                        pc = f;
                                        continue;
                                }
                                uint32_t first = BPF_OP(s->code) == BPF_JGT ? k + 1 : k;
                                if (hi < first) {
                                        pc = f;
                                        continue;
                                }
                                if (lo >= first) {
                                        pc = t;
                                        continue;
                                }
                                walk(w, f, a, arch, lo, first - 1);
                                lo = first;
                                pc = t;
                                continue;
                        }
                        case BPF_JSET:
                                if (k != 0 && (k & (k - 1)) == 0) { /* one bit: runs of k numbers */
                                        uint64_t x = lo;
                                        while (x <= hi && !w->failed) {
                                                uint64_t end = (x / k + 1) * (uint64_t)k - 1;
                                                if (end > hi)
                                                        end = hi;
                                                walk(w, (x & k) ? t : f, a, arch, (uint32_t)x,
                                                     (uint32_t)end);
                                                x = end + 1;
                                        }
                                        return;
                                }
                                complex_at(w, pc, lo, hi, arch);
                                return;
                        default:
                                complex_at(w, pc, lo, hi, arch);
                                return;
                        }
                default:
                        complex_at(w, pc, lo, hi, arch);
                        return;
                }
        }
}

static int cmp_run(const void *x, const void *y) {
        const struct run *a = x, *b = y;
        return a->lo < b->lo ? -1 : a->lo > b->lo;
}

/* Sorted, adjacent runs of the same verdict merged; complex runs are never merged with others. */
static void runs_normalize(struct runs *r) {
        if (r->n == 0)
                return;
        qsort(r->v, r->n, sizeof(*r->v), cmp_run);
        size_t o = 0;
        for (size_t i = 1; i < r->n; i++) {
                struct run *p = &r->v[o], *c = &r->v[i];
                if (p->complex == c->complex && p->ret == c->ret && (uint64_t)p->hi + 1 == c->lo)
                        p->hi = c->hi;
                else
                        r->v[++o] = *c;
        }
        r->n = o + 1;
}

/* The architectures the program compares against once it has loaded the architecture, and one that it
 * never names (standing for every other). */
static size_t archs_of(const struct sock_filter *f, size_t len, uint32_t *archs) {
        size_t n = 0;
        int a = A_NONE;
        for (size_t i = 0; i < len; i++) {
                /* Only a hint: which instructions see the architecture in the accumulator is decided by the
                 * walk; a constant that is not an architecture merely costs a table. */
                if (f[i].code == (BPF_LD | BPF_W | BPF_ABS))
                        a = f[i].k == OFF_ARCH ? A_ARCH : A_NONE;
                if (a == A_ARCH && f[i].code == (BPF_JMP | BPF_JEQ | BPF_K)) {
                        bool seen = false;
                        for (size_t j = 0; j < n; j++)
                                seen = seen || archs[j] == f[i].k;
                        if (!seen) {
                                if (n == MAX_ARCHS - 1)
                                        return 0;
                                archs[n++] = f[i].k;
                        }
                }
        }
        uint32_t other = 0;
        for (bool clash = true; clash; other++) {
                clash = false;
                for (size_t j = 0; j < n; j++)
                        clash = clash || archs[j] == other;
                if (!clash)
                        break;
        }
        archs[n++] = other;
        return n;
}

static bool table(const struct sock_filter *f, size_t len, uint32_t arch, uint8_t *mark, struct runs *out) {
        struct walk w = {.f = f, .len = len, .out = out, .mark = NULL};
        walk(&w, 0, A_NONE, arch, 0, UINT32_MAX);
        if (w.failed)
                return false;
        runs_normalize(out);
        if (!mark)
                return true;
        /* Again, marking, over the complex runs only. */
        w.out = NULL;
        w.mark = mark;
        for (size_t i = 0; i < out->n && !w.failed; i++)
                if (out->v[i].complex)
                        walk(&w, 0, A_NONE, arch, out->v[i].lo, out->v[i].hi);
        return !w.failed;
}

/* The emitted program, with one kind of forward reference: a jump to the cut-down original. */
struct prog {
        struct sock_filter *v;
        size_t n, cap;
        size_t *to_rest; /* indexes of JA instructions whose k is the original's start, fixed up last */
        size_t n_rest, cap_rest;
        bool failed;
};

static size_t emit(struct prog *p, uint16_t code, uint32_t k, uint8_t jt, uint8_t jf) {
        if (p->n == p->cap) {
                size_t cap = p->cap ? p->cap * 2 : 512;
                struct sock_filter *v = realloc(p->v, cap * sizeof(*v));
                if (!v) {
                        p->failed = true;
                        return 0;
                }
                p->v = v;
                p->cap = cap;
        }
        p->v[p->n] = (struct sock_filter){.code = code, .jt = jt, .jf = jf, .k = k};
        return p->n++;
}

static void emit_to_rest(struct prog *p) {
        size_t i = emit(p, BPF_JMP | BPF_JA, 0, 0, 0);
        if (p->failed)
                return;
        if (p->n_rest == p->cap_rest) {
                size_t cap = p->cap_rest ? p->cap_rest * 2 : 32;
                size_t *v = realloc(p->to_rest, cap * sizeof(*v));
                if (!v) {
                        p->failed = true;
                        return;
                }
                p->to_rest = v;
                p->cap_rest = cap;
        }
        p->to_rest[p->n_rest++] = i;
}

/* The search over one architecture's runs, in chunks of at most CHUNK runs. A chunk is a binary search
 * whose comparisons jump straight to a pool of its verdicts at its end (one RET per distinct verdict, one
 * jump to the cut-down original for the complex runs), so that a run costs one comparison and the 8-bit
 * jump offsets always reach; the chunks are found by a search of the same shape whose far branches jump
 * with JA where they must. */
#define CHUNK 96

static bool same_verdict(const struct run *x, const struct run *y) {
        return x->complex == y->complex && (x->complex || x->ret == y->ret);
}

static size_t pool_size(const struct run *r, size_t a, size_t b) {
        size_t n = 0;
        for (size_t i = a; i <= b; i++) {
                bool seen = false;
                for (size_t j = a; j < i && !seen; j++)
                        seen = same_verdict(&r[j], &r[i]);
                n += !seen;
        }
        return n;
}

static void emit_verdict(struct prog *p, const struct run *r) {
        if (r->complex)
                emit_to_rest(p);
        else
                emit(p, BPF_RET | BPF_K, r->ret, 0, 0);
}

static size_t chunk_size(const struct run *r, size_t a, size_t b) {
        return a == b ? 1 : (b - a) + pool_size(r, a, b);
}

/* A subtree of a chunk, as a jump target: a leaf (a run, whose verdict is in the pool) or the index of
 * its first comparison. */
struct ref {
        bool leaf;
        size_t at; /* run index, or instruction index */
};

struct pending {
        size_t insn;
        struct ref left, right;
};

static struct ref chunk_node(struct prog *p, const struct run *r, size_t a, size_t b, struct pending *pend,
                             size_t *n_pend) {
        if (a == b)
                return (struct ref){.leaf = true, .at = a};
        size_t mid = a + (b - a + 1) / 2;
        size_t i = emit(p, BPF_JMP | BPF_JGE | BPF_K, r[mid].lo, 0, 0);
        struct ref left = chunk_node(p, r, a, mid - 1, pend, n_pend);
        struct ref right = chunk_node(p, r, mid, b, pend, n_pend);
        pend[(*n_pend)++] = (struct pending){.insn = i, .left = left, .right = right};
        return (struct ref){.leaf = false, .at = i};
}

static void emit_chunk(struct prog *p, const struct run *r, size_t a, size_t b) {
        if (a == b) {
                emit_verdict(p, &r[a]);
                return;
        }
        struct pending pend[CHUNK];
        size_t n_pend = 0, pool[CHUNK], slot[CHUNK];
        chunk_node(p, r, a, b, pend, &n_pend);
        /* The pool: the first run of each verdict, in order. */
        size_t n_pool = 0;
        for (size_t i = a; i <= b; i++) {
                size_t j = 0;
                while (j < n_pool && !same_verdict(&r[pool[j]], &r[i]))
                        j++;
                if (j == n_pool) {
                        pool[n_pool] = i;
                        slot[n_pool++] = p->n;
                        emit_verdict(p, &r[i]);
                }
        }
        if (p->failed)
                return;
        for (size_t k = 0; k < n_pend; k++) {
                size_t to[2];
                const struct ref *ref[2] = {&pend[k].right, &pend[k].left};
                for (int s = 0; s < 2; s++) {
                        if (!ref[s]->leaf) {
                                to[s] = ref[s]->at;
                                continue;
                        }
                        size_t j = 0;
                        while (!same_verdict(&r[pool[j]], &r[ref[s]->at]))
                                j++;
                        to[s] = slot[j];
                }
                size_t i = pend[k].insn;
                p->v[i].jt = (uint8_t)(to[0] - i - 1);
                p->v[i].jf = (uint8_t)(to[1] - i - 1);
        }
}

static size_t chunks_size(const struct run *r, size_t n, size_t ca, size_t cb) {
        if (ca == cb) {
                size_t b = (ca + 1) * CHUNK - 1;
                return chunk_size(r, ca * CHUNK, b < n ? b : n - 1);
        }
        size_t mid = ca + (cb - ca + 1) / 2, left = chunks_size(r, n, ca, mid - 1);
        return 1 + (left > 255 ? 1 : 0) + left + chunks_size(r, n, mid, cb);
}

/* The accumulator holds the syscall number. */
static void emit_chunks(struct prog *p, const struct run *r, size_t n, size_t ca, size_t cb) {
        if (ca == cb) {
                size_t b = (ca + 1) * CHUNK - 1;
                emit_chunk(p, r, ca * CHUNK, b < n ? b : n - 1);
                return;
        }
        size_t mid = ca + (cb - ca + 1) / 2, left = chunks_size(r, n, ca, mid - 1);
        if (left > 255) {
                emit(p, BPF_JMP | BPF_JGE | BPF_K, r[mid * CHUNK].lo, 0, 1);
                emit(p, BPF_JMP | BPF_JA, (uint32_t)left, 0, 0);
        } else
                emit(p, BPF_JMP | BPF_JGE | BPF_K, r[mid * CHUNK].lo, (uint8_t)left, 0);
        emit_chunks(p, r, n, ca, mid - 1);
        emit_chunks(p, r, n, mid, cb);
}

static bool same_runs(const struct runs *x, const struct runs *y) {
        if (x->n != y->n)
                return false;
        for (size_t i = 0; i < x->n; i++) {
                const struct run *a = &x->v[i], *b = &y->v[i];
                if (a->lo != b->lo || a->hi != b->hi || a->complex != b->complex ||
                    (!a->complex && a->ret != b->ret))
                        return false;
        }
        return true;
}

int tf_bpf_compact(const struct sock_filter *f, size_t len, struct sock_filter **ret, size_t *ret_len) {
        uint32_t archs[MAX_ARCHS];
        struct runs t[MAX_ARCHS] = {{0}};
        struct prog p = {0};
        _cleanup_free_ uint8_t *mark = calloc(len ? len : 1, 1);
        _cleanup_free_ size_t *newidx = calloc(len ? len : 1, sizeof(size_t));
        int r = -ENOMEM;
        size_t n_archs = len ? archs_of(f, len, archs) : 0;

        *ret = NULL;
        *ret_len = 0;
        if (!mark || !newidx)
                goto out;
        r = -EOPNOTSUPP;
        if (n_archs == 0 || BPF_CLASS(f[len - 1].code) != BPF_RET)
                goto out;
        for (size_t i = 0; i < n_archs; i++)
                if (!table(f, len, archs[i], mark, &t[i]))
                        goto out;

        /* Dispatch: the architectures named, then the table of the one that stands for all others. */
        size_t last = n_archs - 1;
        size_t *jump = calloc(n_archs, sizeof(size_t));
        if (!jump) {
                r = -ENOMEM;
                goto out;
        }
        emit(&p, BPF_LD | BPF_W | BPF_ABS, OFF_ARCH, 0, 0);
        for (size_t i = 0; i < last; i++) {
                emit(&p, BPF_JMP | BPF_JEQ | BPF_K, archs[i], 0, 1);
                jump[i] = emit(&p, BPF_JMP | BPF_JA, 0, 0, 0);
        }
        /* The table of the other architectures first, where the dispatch falls through, then the named. */
        for (size_t pass = 0; pass < n_archs; pass++) {
                size_t i = pass == 0 ? last : pass - 1;
                if (i != last)
                        p.v[jump[i]].k = (uint32_t)(p.n - jump[i] - 1);
                if (t[i].n == 1 && !t[i].v[0].complex) {
                        emit(&p, BPF_RET | BPF_K, t[i].v[0].ret, 0, 0);
                        continue;
                }
                emit(&p, BPF_LD | BPF_W | BPF_ABS, OFF_NR, 0, 0);
                emit_chunks(&p, t[i].v, t[i].n, 0, (t[i].n - 1) / CHUNK);
        }
        free(jump);

        /* The original, cut down to what the complex runs reach. A jump whose target was cut goes to the
         * next instruction kept: no input that enters here takes it. A final RET catches those that would
         * fall off the end. */
        size_t start = p.n;
        bool any = false;
        for (size_t i = 0; i < len; i++)
                any = any || mark[i];
        if (any) {
                size_t k = start;
                for (size_t i = 0; i < len; i++)
                        newidx[i] = mark[i] ? k++ : SIZE_MAX;
                size_t guard = k;
                for (size_t i = len; i-- > 0;)
                        if (newidx[i] == SIZE_MAX)
                                newidx[i] = i + 1 < len ? newidx[i + 1] : guard;
                for (size_t i = 0; i < len; i++) {
                        if (!mark[i])
                                continue;
                        struct sock_filter s = f[i];
                        size_t me = newidx[i];
                        if (BPF_CLASS(s.code) == BPF_JMP) {
                                if (BPF_OP(s.code) == BPF_JA)
                                        s.k = (uint32_t)(newidx[i + 1 + s.k] - me - 1);
                                else {
                                        s.jt = (uint8_t)(newidx[i + 1 + s.jt] - me - 1);
                                        s.jf = (uint8_t)(newidx[i + 1 + s.jf] - me - 1);
                                }
                        }
                        emit(&p, s.code, s.k, s.jt, s.jf);
                }
                emit(&p, BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS, 0, 0);
        }
        if (p.failed) {
                r = -ENOMEM;
                goto out;
        }
        for (size_t i = 0; i < p.n_rest; i++)
                p.v[p.to_rest[i]].k = (uint32_t)(start - p.to_rest[i] - 1);
        r = -EOPNOTSUPP;
        if (p.n >= len || p.n > BPF_MAXINSNS || (p.n_rest > 0 && !any))
                goto out;

        /* The proof: the new program's runs are the original's, verdict for verdict. */
        for (size_t i = 0; i < n_archs; i++) {
                struct runs u = {0};
                bool same = table(p.v, p.n, archs[i], NULL, &u) && same_runs(&t[i], &u);
                free(u.v);
                if (!same)
                        goto out;
        }
        *ret = TAKE_PTR(p.v);
        *ret_len = p.n;
        r = 0;
out:
        for (size_t i = 0; i < MAX_ARCHS; i++)
                free(t[i].v);
        free(p.v);
        free(p.to_rest);
        return r;
}
