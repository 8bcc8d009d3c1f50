/* SPDX-License-Identifier: MIT */
#include "parse.h"
#include "strutil.h"

#include <ctype.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <inttypes.h>

int tf_parse_u64(const char *s, uint64_t *ret) {
        if (!s || !isdigit((unsigned char) *s))
                return -EINVAL;
        uint64_t v = 0;
        for (; *s; s++) {
                if (!isdigit((unsigned char) *s))
                        return -EINVAL;
                unsigned d = (unsigned) (*s - '0');
                if (v > (UINT64_MAX - d) / 10)
                        return -ERANGE;
                v = v * 10 + d;
        }
        *ret = v;
        return 0;
}

/* Reads "123" or "123.456" at *p into an integer part and a fraction (numerator/denominator), so that
 * multiplications stay exact in integers. */
static int read_number(const char **p, uint64_t *ip, uint64_t *fnum, uint64_t *fden) {
        const char *s = *p;
        if (!isdigit((unsigned char) *s) && !(*s == '.' && isdigit((unsigned char) s[1])))
                return -EINVAL;
        uint64_t v = 0;
        for (; isdigit((unsigned char) *s); s++) {
                unsigned d = (unsigned) (*s - '0');
                if (v > (UINT64_MAX - d) / 10)
                        return -ERANGE;
                v = v * 10 + d;
        }
        uint64_t num = 0, den = 1;
        if (*s == '.') {
                s++;
                if (!isdigit((unsigned char) *s))
                        return -EINVAL;
                for (; isdigit((unsigned char) *s); s++) {
                        /* Digits past 1e-12 cannot matter for bytes or microseconds. */
                        if (den < UINT64_C(1000000000000)) {
                                num = num * 10 + (unsigned) (*s - '0');
                                den *= 10;
                        }
                }
        }
        *ip = v;
        *fnum = num;
        *fden = den;
        *p = s;
        return 0;
}

static int mul_add(uint64_t ip, uint64_t fnum, uint64_t fden, uint64_t mult, uint64_t *acc) {
        if (ip && mult > UINT64_MAX / ip)
                return -ERANGE;
        uint64_t v = ip * mult;
        /* fnum < fden <= 1e12 and mult <= 2^60: compute the fractional part in long double to avoid overflow. */
        uint64_t frac = (uint64_t) ((long double) fnum * (long double) mult / (long double) fden);
        if (v > UINT64_MAX - frac || *acc > UINT64_MAX - v - frac)
                return -ERANGE;
        *acc += v + frac;
        return 0;
}

int tf_parse_size(const char *s, uint64_t *ret) {
        if (!s || !*s)
                return -EINVAL;
        const char *p = s;
        uint64_t ip, fnum, fden;
        int r = read_number(&p, &ip, &fnum, &fden);
        if (r < 0)
                return r;
        uint64_t mult = 1;
        if (*p) {
                static const char units[] = "KMGTPE";
                const char *u = strchr(units, toupper((unsigned char) *p));
                if (!u)
                        return -EINVAL;
                mult = UINT64_C(1) << (10 * (u - units + 1));
                p++;
                if (*p == 'i' || *p == 'I')
                        p++;
                if (*p == 'B' || *p == 'b')
                        p++;
                if (*p)
                        return -EINVAL;
        } else if (fnum)
                return -EINVAL; /* fractional bytes */
        uint64_t acc = 0;
        r = mul_add(ip, fnum, fden, mult, &acc);
        if (r < 0)
                return r;
        *ret = acc;
        return 0;
}

static const struct {
        const char *suffix;
        uint64_t usec;
} time_units[] = {
        /* Order matters: the first prefix that matches wins, as in systemd's parse_time(). */
        { "seconds", TF_USEC_PER_SEC },
        { "second", TF_USEC_PER_SEC },
        { "sec", TF_USEC_PER_SEC },
        { "s", TF_USEC_PER_SEC },
        { "minutes", 60 * TF_USEC_PER_SEC },
        { "minute", 60 * TF_USEC_PER_SEC },
        { "min", 60 * TF_USEC_PER_SEC },
        { "months", 2629800 * TF_USEC_PER_SEC },
        { "month", 2629800 * TF_USEC_PER_SEC },
        { "M", 2629800 * TF_USEC_PER_SEC },
        { "msec", TF_USEC_PER_MSEC },
        { "ms", TF_USEC_PER_MSEC },
        { "m", 60 * TF_USEC_PER_SEC },
        { "hours", 3600 * TF_USEC_PER_SEC },
        { "hour", 3600 * TF_USEC_PER_SEC },
        { "hr", 3600 * TF_USEC_PER_SEC },
        { "h", 3600 * TF_USEC_PER_SEC },
        { "days", 86400 * TF_USEC_PER_SEC },
        { "day", 86400 * TF_USEC_PER_SEC },
        { "d", 86400 * TF_USEC_PER_SEC },
        { "weeks", 7 * 86400 * TF_USEC_PER_SEC },
        { "week", 7 * 86400 * TF_USEC_PER_SEC },
        { "w", 7 * 86400 * TF_USEC_PER_SEC },
        { "years", 31557600 * TF_USEC_PER_SEC },
        { "year", 31557600 * TF_USEC_PER_SEC },
        { "y", 31557600 * TF_USEC_PER_SEC },
        { "usec", 1 },
        { "us", 1 },
        { "\xce\xbcs", 1 }, /* μs, Greek mu */
        { "\xc2\xb5s", 1 }, /* µs, micro sign */
};

int tf_parse_duration(const char *s, uint64_t *ret_usec) {
        if (!s)
                return -EINVAL;
        const char *p = s;
        while (isspace((unsigned char) *p))
                p++;
        if (streq(p, "infinity")) {
                *ret_usec = TF_USEC_INFINITY;
                return 0;
        }
        if (!*p)
                return -EINVAL;
        uint64_t acc = 0;
        while (*p) {
                uint64_t ip, fnum, fden;
                int r = read_number(&p, &ip, &fnum, &fden);
                if (r < 0)
                        return r;
                while (isspace((unsigned char) *p))
                        p++;
                uint64_t mult = TF_USEC_PER_SEC;
                for (size_t i = 0; i < sizeof(time_units) / sizeof(time_units[0]); i++)
                        if (tf_startswith(p, time_units[i].suffix)) {
                                mult = time_units[i].usec;
                                p += strlen(time_units[i].suffix);
                                break;
                        }
                r = mul_add(ip, fnum, fden, mult, &acc);
                if (r < 0)
                        return r;
                while (isspace((unsigned char) *p))
                        p++;
                if (*p && !isdigit((unsigned char) *p) && *p != '.')
                        return -EINVAL;
        }
        if (acc == TF_USEC_INFINITY)
                return -ERANGE;
        *ret_usec = acc;
        return 0;
}

char *tf_format_duration(char *buf, size_t len, uint64_t usec) {
        static const struct {
                const char *suffix;
                uint64_t usec;
        } table[] = {
                { "y", 31557600 * TF_USEC_PER_SEC }, { "month", 2629800 * TF_USEC_PER_SEC },
                { "w", 7 * 86400 * TF_USEC_PER_SEC }, { "d", 86400 * TF_USEC_PER_SEC },
                { "h", 3600 * TF_USEC_PER_SEC },      { "min", 60 * TF_USEC_PER_SEC },
                { "s", TF_USEC_PER_SEC },             { "ms", TF_USEC_PER_MSEC },
                { "us", 1 },
        };
        if (usec == TF_USEC_INFINITY) {
                snprintf(buf, len, "infinity");
                return buf;
        }
        if (usec == 0) {
                snprintf(buf, len, "0");
                return buf;
        }
        size_t off = 0;
        buf[0] = 0;
        for (size_t i = 0; i < sizeof(table) / sizeof(table[0]) && usec > 0; i++) {
                if (usec < table[i].usec)
                        continue;
                uint64_t n = usec / table[i].usec;
                usec %= table[i].usec;
                int w = snprintf(buf + off, len - off, "%s%" PRIu64 "%s", off ? " " : "", n, table[i].suffix);
                if (w < 0 || (size_t) w >= len - off)
                        break;
                off += (size_t) w;
        }
        return buf;
}

char *tf_format_duration_short(char *buf, size_t len, uint64_t usec) {
        if (usec < TF_USEC_PER_SEC)
                snprintf(buf, len, "%.1fms", (double) usec / 1000.0);
        else if (usec < 60 * TF_USEC_PER_SEC)
                snprintf(buf, len, "%.3fs", (double) usec / 1e6);
        else
                snprintf(buf, len, "%" PRIu64 "m%02" PRIu64 "s", usec / (60 * TF_USEC_PER_SEC),
                         (usec / TF_USEC_PER_SEC) % 60);
        return buf;
}

char *tf_format_size(char *buf, size_t len, uint64_t bytes) {
        static const char units[] = "KMGTPE";
        if (bytes < 1024) {
                snprintf(buf, len, "%" PRIu64 "B", bytes);
                return buf;
        }
        double v = (double) bytes;
        int u = -1;
        while (v >= 1024.0 && u < 5) {
                v /= 1024.0;
                u++;
        }
        snprintf(buf, len, "%.1f%c", v, units[u]);
        return buf;
}

static const struct {
        const char *name;
        int sig;
} signals[] = {
        { "HUP", SIGHUP },     { "INT", SIGINT },       { "QUIT", SIGQUIT },   { "ILL", SIGILL },
        { "TRAP", SIGTRAP },   { "ABRT", SIGABRT },     { "BUS", SIGBUS },     { "FPE", SIGFPE },
        { "KILL", SIGKILL },   { "USR1", SIGUSR1 },     { "SEGV", SIGSEGV },   { "USR2", SIGUSR2 },
        { "PIPE", SIGPIPE },   { "ALRM", SIGALRM },     { "TERM", SIGTERM },   { "STKFLT", SIGSTKFLT },
        { "CHLD", SIGCHLD },   { "CONT", SIGCONT },     { "STOP", SIGSTOP },   { "TSTP", SIGTSTP },
        { "TTIN", SIGTTIN },   { "TTOU", SIGTTOU },     { "URG", SIGURG },     { "XCPU", SIGXCPU },
        { "XFSZ", SIGXFSZ },   { "VTALRM", SIGVTALRM }, { "PROF", SIGPROF },   { "WINCH", SIGWINCH },
        { "IO", SIGIO },       { "PWR", SIGPWR },       { "SYS", SIGSYS },
};

int tf_parse_signal(const char *s) {
        if (!s || !*s)
                return -EINVAL;
        uint64_t n;
        if (tf_parse_u64(s, &n) == 0)
                return n >= 1 && n <= (uint64_t) SIGRTMAX ? (int) n : -EINVAL;
        const char *p = s;
        if (strncasecmp(p, "SIG", 3) == 0)
                p += 3;
        for (size_t i = 0; i < sizeof(signals) / sizeof(signals[0]); i++)
                if (strcasecmp(p, signals[i].name) == 0)
                        return signals[i].sig;
        if (strncasecmp(p, "RTMIN", 5) == 0) {
                if (!p[5])
                        return SIGRTMIN;
                if (p[5] == '+' && tf_parse_u64(p + 6, &n) == 0 && n <= (uint64_t) (SIGRTMAX - SIGRTMIN))
                        return SIGRTMIN + (int) n;
        }
        if (strncasecmp(p, "RTMAX", 5) == 0) {
                if (!p[5])
                        return SIGRTMAX;
                if (p[5] == '-' && tf_parse_u64(p + 6, &n) == 0 && n <= (uint64_t) (SIGRTMAX - SIGRTMIN))
                        return SIGRTMAX - (int) n;
        }
        return -EINVAL;
}

const char *tf_signal_name(int sig) {
        static const char *full[] = {
                [SIGHUP] = "SIGHUP",   [SIGINT] = "SIGINT",     [SIGQUIT] = "SIGQUIT",   [SIGILL] = "SIGILL",
                [SIGTRAP] = "SIGTRAP", [SIGABRT] = "SIGABRT",   [SIGBUS] = "SIGBUS",     [SIGFPE] = "SIGFPE",
                [SIGKILL] = "SIGKILL", [SIGUSR1] = "SIGUSR1",   [SIGSEGV] = "SIGSEGV",   [SIGUSR2] = "SIGUSR2",
                [SIGPIPE] = "SIGPIPE", [SIGALRM] = "SIGALRM",   [SIGTERM] = "SIGTERM",   [SIGSTKFLT] = "SIGSTKFLT",
                [SIGCHLD] = "SIGCHLD", [SIGCONT] = "SIGCONT",   [SIGSTOP] = "SIGSTOP",   [SIGTSTP] = "SIGTSTP",
                [SIGTTIN] = "SIGTTIN", [SIGTTOU] = "SIGTTOU",   [SIGURG] = "SIGURG",     [SIGXCPU] = "SIGXCPU",
                [SIGXFSZ] = "SIGXFSZ", [SIGVTALRM] = "SIGVTALRM", [SIGPROF] = "SIGPROF", [SIGWINCH] = "SIGWINCH",
                [SIGIO] = "SIGIO",     [SIGPWR] = "SIGPWR",     [SIGSYS] = "SIGSYS",
        };
        if (sig > 0 && (size_t) sig < sizeof(full) / sizeof(full[0]))
                return full[sig];
        return NULL;
}
