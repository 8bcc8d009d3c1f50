/* SPDX-License-Identifier: MIT */
/*
 * `tfrun doctor`: what this host offers tfrun, one line per check, each "ok" or what to do
 * (docs/export.md). Status 0 when native jobs can run here with the default sandbox (cgroups with the
 * memory, pids and cpu controllers writable by this user, seccomp, user namespaces where tfrun is not
 * root, a usable state directory), 1 otherwise. Warnings (no PSI, no engine) never fail: a missing
 * engine only means the docker backend is unavailable.
 *
 * The engine is asked with plain HTTP/1.0 over its unix socket (GET /version, /info, /nodes), each
 * bounded by a short timeout, so that a hung engine costs doctor two seconds, not a hang.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <jansson.h>
#include <linux/seccomp.h>
#include <poll.h>
#include <seccomp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/io.h"
#include "base/strutil.h"
#include "base/timeutil.h"
#include "docker/docker.h"
#include "runner/export.h"
#include "runner/runner.h"
#include "runner/service.h"

#define ENGINE_TIMEOUT_MS 2000
#define ENGINE_REPLY_MAX (4u * 1024 * 1024)

enum level { OK, WARN, FAIL, INFO };
static const char *const level_name[] = {"ok", "warn", "fail", "info"};

struct report {
        json_t *checks;
        bool json;
        bool failed;
};

static void line(struct report *r, enum level lv, const char *check, const char *detail, const char *fix) {
        if (lv == FAIL)
                r->failed = true;
        if (r->json) {
                json_t *o = json_pack("{s:s,s:s,s:s}", "check", check, "status", level_name[lv], "detail",
                                      detail);
                if (fix)
                        json_object_set_new(o, "fix", json_string(fix));
                json_array_append_new(r->checks, o);
                return;
        }
        printf("%-4s  %-17s %s%s%s\n", level_name[lv], check, detail, fix ? "; " : "", fix ? fix : "");
}

static int read_small(const char *path, char *buf, size_t size) {
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        ssize_t n = tf_read_full(fd, buf, size - 1);
        if (n < 0)
                return (int)n;
        buf[n] = 0;
        while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == ' '))
                buf[--n] = 0;
        return (int)n;
}

/* ---- cgroups ---- */

static const char *const v1_controllers[] = {"cpu",     "cpuacct", "cpuset",   "memory", "devices",
                                             "freezer", "net_cls", "net_prio", "blkio",  "perf_event",
                                             "hugetlb", "pids",    "rdma",     "misc",   NULL};

struct cg {
        char **v1;     /* controllers mounted as v1, in mount order */
        char **v1_mnt; /* their mount points, same index */
        char *v2_mnt;  /* the cgroup2 mount, NULL without */
        char *v2_ctl;  /* its root's cgroup.controllers */
        char *self_v2; /* our cgroup in it ("0::PATH") */
};

static void cg_done(struct cg *c) {
        tf_strv_free(c->v1);
        tf_strv_free(c->v1_mnt);
        free(c->v2_mnt);
        free(c->v2_ctl);
        free(c->self_v2);
}

static void cg_detect(struct cg *c) {
        FILE *f = fopen("/proc/self/mounts", "re");
        char *l = NULL;
        size_t n = 0;
        while (f && getline(&l, &n, f) > 0) {
                char dev[256], mnt[4096], type[64], opts[1024];
                if (sscanf(l, "%255s %4095s %63s %1023s", dev, mnt, type, opts) != 4)
                        continue;
                if (streq(type, "cgroup2") && !c->v2_mnt)
                        c->v2_mnt = tf_strdup(mnt);
                else if (streq(type, "cgroup"))
                        for (char *save = NULL, *o = strtok_r(opts, ",", &save); o;
                             o = strtok_r(NULL, ",", &save))
                                if (tf_strv_contains((char **)v1_controllers, o) &&
                                    !tf_strv_contains(c->v1, o)) {
                                        tf_strv_push(&c->v1, o);
                                        tf_strv_push(&c->v1_mnt, mnt);
                                }
        }
        free(l);
        if (f)
                fclose(f);
        if (c->v2_mnt) {
                _cleanup_free_ char *p = tf_asprintf("%s/cgroup.controllers", c->v2_mnt);
                char buf[1024];
                c->v2_ctl = tf_strdup(read_small(p, buf, sizeof(buf)) >= 0 ? buf : "");
        }
}

/* Our cgroup in a v1 hierarchy ("4:memory:/x" -> "/x"), or in v2 for controller NULL. */
static char *self_cgroup(const char *controller) {
        FILE *f = fopen("/proc/self/cgroup", "re");
        char *l = NULL, *ret = NULL;
        size_t n = 0;
        while (!ret && f && getline(&l, &n, f) > 0) {
                l[strcspn(l, "\n")] = 0;
                char *a = strchr(l, ':'), *b = a ? strchr(a + 1, ':') : NULL;
                if (!b)
                        continue;
                *b = 0;
                if (!controller ? streq(a + 1, "") : false)
                        ret = tf_strdup(b + 1);
                else if (controller)
                        for (char *save = NULL, *o = strtok_r(a + 1, ",", &save); o;
                             o = strtok_r(NULL, ",", &save))
                                if (streq(o, controller))
                                        ret = tf_strdup(b + 1);
        }
        free(l);
        if (f)
                fclose(f);
        return ret;
}

static bool word_in(const char *list, const char *w) {
        _cleanup_free_ char *c = tf_strdup(list ? list : "");
        for (char *save = NULL, *t = strtok_r(c, " ", &save); t; t = strtok_r(NULL, " ", &save))
                if (streq(t, w))
                        return true;
        return false;
}

static void check_cgroups(struct report *r) {
        struct cg c = {};
        cg_detect(&c);
        _cleanup_free_ char *v1 = NULL;
        for (size_t i = 0; c.v1 && c.v1[i]; i++) {
                char *n = tf_asprintf("%s%s%s", v1 ? v1 : "", v1 ? " " : "", c.v1[i]);
                free(v1);
                v1 = n;
        }
        bool v2_has = c.v2_ctl && *c.v2_ctl;
        _cleanup_free_ char *d = NULL;
        const char *mode;
        if (c.v2_mnt && !c.v1)
                mode = "v2",
                d = tf_asprintf("v2 at %s, controllers: %s", c.v2_mnt, v2_has ? c.v2_ctl : "(none)");
        else if (c.v2_mnt)
                mode = "hybrid",
                d = tf_asprintf("hybrid: v1 controllers: %s; v2 at %s with %s%s", v1, c.v2_mnt,
                                v2_has ? "controllers: " : "no controllers", v2_has ? c.v2_ctl : "");
        else if (c.v1)
                mode = "v1", d = tf_asprintf("v1 (no cgroup2 hierarchy): controllers: %s", v1);
        else
                mode = NULL;
        if (!mode) {
                line(r, FAIL, "cgroup", "no cgroup filesystem is mounted",
                     "mount cgroup2 on /sys/fs/cgroup (or run tfrun where cgroups are available)");
                cg_done(&c);
                return;
        }
        line(r, OK, "cgroup", d, NULL);
        /* Each controller tfrun writes, where it lives and whether this user may make cgroups there. */
        static const char *const want[] = {"cpu", "memory", "pids", "io", "cpuset", NULL};
        for (size_t i = 0; want[i]; i++) {
                const char *v1name = streq(want[i], "io") ? "blkio" : want[i];
                bool needed = streq(want[i], "cpu") || streq(want[i], "memory") || streq(want[i], "pids");
                _cleanup_free_ char *path = NULL, *detail = NULL;
                if (c.v2_mnt && word_in(c.v2_ctl, want[i])) {
                        _cleanup_free_ char *self = self_cgroup(NULL);
                        path = tf_asprintf("%s%s", c.v2_mnt, self && !streq(self, "/") ? self : "");
                } else {
                        for (size_t k = 0; c.v1 && c.v1[k]; k++)
                                if (streq(c.v1[k], v1name)) {
                                        _cleanup_free_ char *self = self_cgroup(v1name);
                                        path = tf_asprintf("%s%s", c.v1_mnt[k],
                                                           self && !streq(self, "/") ? self : "");
                                }
                }
                _cleanup_free_ char *check = tf_asprintf("delegation %s", want[i]);
                if (!path) {
                        detail = tf_asprintf("no %s controller on this host", want[i]);
                        line(r, needed ? FAIL : WARN, check, detail,
                             needed ? "enable the controller (limits of this kind are refused)"
                                    : "limits of this kind are refused here");
                        continue;
                }
                if (access(path, W_OK) < 0) {
                        detail = tf_asprintf("%s (%s) is not writable by uid %u", path, want[i],
                                             (unsigned)geteuid());
                        line(r, needed ? FAIL : WARN, check, detail,
                             "run tfrun as root, or delegate a cgroup to this user (systemd: Delegate=yes, "
                             "or `systemd-run --user -p Delegate=yes`) and pass --cgroup-parent");
                } else {
                        detail = tf_asprintf("%s: writable (cgroups below it can be made)", path);
                        line(r, OK, check, detail, NULL);
                }
        }
        if (c.v2_mnt && !v2_has) {
                _cleanup_free_ char *self = self_cgroup(NULL);
                _cleanup_free_ char *p = tf_asprintf("%s%s", c.v2_mnt, self ? self : "/");
                _cleanup_free_ char *dd =
                        tf_asprintf("v2 %s %s: used to track runs and kill them as a whole", p,
                                    access(p, W_OK) == 0 ? "writable" : "not writable");
                line(r, access(p, W_OK) == 0 ? OK : WARN, "tracking", dd,
                     access(p, W_OK) == 0 ? NULL : "runs are tracked through the v1 hierarchies instead");
        }
        cg_done(&c);
}

/* ---- PSI, user namespaces, seccomp ---- */

static void check_psi(struct report *r) {
        char buf[512];
        bool all = true;
        for (const char *const *p = (const char *const[]){"cpu", "memory", "io", NULL}; *p; p++) {
                _cleanup_free_ char *f = tf_asprintf("/proc/pressure/%s", *p);
                if (read_small(f, buf, sizeof(buf)) < 0)
                        all = false;
        }
        if (all)
                line(r, OK, "psi", "/proc/pressure/{cpu,memory,io} readable", NULL);
        else
                line(r, WARN, "psi", "/proc/pressure is missing or unreadable",
                     "boot with psi=1 (CONFIG_PSI) for admission by pressure");
}

static void check_userns(struct report *r) {
        char a[64] = "", b[64] = "";
        int ra = read_small("/proc/sys/kernel/unprivileged_userns_clone", a, sizeof(a));
        int rb = read_small("/proc/sys/user/max_user_namespaces", b, sizeof(b));
        _cleanup_free_ char *d = tf_asprintf("unprivileged_userns_clone %s, max_user_namespaces %s",
                                             ra >= 0 ? a : "(absent: allowed)", rb >= 0 ? b : "(absent)");
        bool usable = (ra < 0 || !streq(a, "0")) && (rb < 0 || !streq(b, "0"));
        if (usable)
                line(r, OK, "userns", d, NULL);
        else if (geteuid() == 0)
                line(r, INFO, "userns", d, "not needed while tfrun runs as root");
        else
                line(r, FAIL, "userns", d,
                     "the default sandbox of a non-root tfrun needs them: sysctl "
                     "kernel.unprivileged_userns_clone=1 user.max_user_namespaces=15000, or use sandbox: "
                     "host");
}

static void check_seccomp(struct report *r) {
        char buf[4096];
        bool mode = read_small("/proc/self/status", buf, sizeof(buf)) >= 0 && strstr(buf, "\nSeccomp:");
        uint32_t action = SECCOMP_RET_ERRNO;
        bool avail = syscall(SYS_seccomp, SECCOMP_GET_ACTION_AVAIL, 0, &action) == 0;
        const struct scmp_version *v = seccomp_version();
        _cleanup_free_ char *d =
                tf_asprintf("kernel filter %s, libseccomp %u.%u.%u", mode && avail ? "available" : "missing",
                            v ? v->major : 0, v ? v->minor : 0, v ? v->micro : 0);
        if (mode && avail)
                line(r, OK, "seccomp", d, NULL);
        else
                line(r, FAIL, "seccomp", d,
                     "build the kernel with CONFIG_SECCOMP_FILTER (or use seccomp: unconfined)");
}

/* ---- the engine ---- */

static int engine_get(const char *sock, const char *path, json_t **ret, char *why, size_t whylen) {
        struct sockaddr_un sa = {.sun_family = AF_UNIX};
        if (strlen(sock) >= sizeof(sa.sun_path)) {
                snprintf(why, whylen, "socket path too long");
                return -ENAMETOOLONG;
        }
        strcpy(sa.sun_path, sock);
        _cleanup_close_ int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd < 0 || (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 && errno != EINPROGRESS)) {
                int e = errno;
                snprintf(why, whylen, "connect %s: %s", sock, strerror(e));
                return -e;
        }
        uint64_t deadline = tf_now(CLOCK_MONOTONIC) + ENGINE_TIMEOUT_MS * UINT64_C(1000);
        _cleanup_free_ char *req = tf_asprintf("GET %s HTTP/1.0\r\nHost: docker\r\n\r\n", path);
        size_t off = 0, len = strlen(req);
        _cleanup_free_ char *buf = NULL;
        size_t n = 0;
        for (;;) {
                uint64_t now = tf_now(CLOCK_MONOTONIC);
                if (now >= deadline) {
                        snprintf(why, whylen, "GET %s: no answer within %d ms", path, ENGINE_TIMEOUT_MS);
                        return -ETIMEDOUT;
                }
                struct pollfd p = {.fd = fd, .events = off < len ? POLLOUT : POLLIN};
                int pr = poll(&p, 1, (int)((deadline - now) / 1000) + 1);
                if (pr <= 0)
                        continue;
                if (off < len) {
                        ssize_t w = send(fd, req + off, len - off, MSG_NOSIGNAL);
                        if (w < 0 && errno != EAGAIN) {
                                snprintf(why, whylen, "send: %s", strerror(errno));
                                return -errno;
                        }
                        if (w > 0)
                                off += (size_t)w;
                        continue;
                }
                buf = tf_realloc(buf, n + 65536 + 1);
                ssize_t k = read(fd, buf + n, 65536);
                if (k < 0 && errno == EAGAIN)
                        continue;
                if (k < 0) {
                        snprintf(why, whylen, "read: %s", strerror(errno));
                        return -errno;
                }
                if (k == 0)
                        break;
                n += (size_t)k;
                if (n > ENGINE_REPLY_MAX) {
                        snprintf(why, whylen, "GET %s: answer larger than %u bytes", path, ENGINE_REPLY_MAX);
                        return -EFBIG;
                }
        }
        if (!buf) {
                snprintf(why, whylen, "GET %s: empty answer", path);
                return -EPROTO;
        }
        buf[n] = 0;
        int code = 0;
        char *body = strstr(buf, "\r\n\r\n");
        if (sscanf(buf, "HTTP/%*s %d", &code) != 1 || !body) {
                snprintf(why, whylen, "GET %s: not an HTTP answer", path);
                return -EPROTO;
        }
        if (code != 200) {
                snprintf(why, whylen, "GET %s: status %d", path, code);
                return -EIO;
        }
        json_error_t je;
        *ret = json_loads(body + 4, 0, &je);
        if (!*ret) {
                snprintf(why, whylen, "GET %s: %s", path, je.text);
                return -EPROTO;
        }
        return 0;
}

static void check_engine(struct report *r, const char *host) {
        const char *env = host ? host : secure_getenv("DOCKER_HOST");
        _cleanup_free_ char *sock = NULL;
        if (env && *env) {
                if (!tf_startswith(env, "unix://")) {
                        _cleanup_free_ char *d =
                                tf_asprintf("DOCKER_HOST=%s: tfrun talks to unix sockets only", env);
                        line(r, WARN, "engine", d, "set DOCKER_HOST=unix:///var/run/docker.sock");
                        return;
                }
                sock = tf_strdup(env + 7);
        } else
                sock = tf_strdup(TF_DOCKER_DEFAULT_SOCKET);
        char why[512];
        _cleanup_(json_decrefp) json_t *ver = NULL;
        if (access(sock, F_OK) < 0) {
                _cleanup_free_ char *d =
                        tf_asprintf("no engine socket at %s: the docker backend is unavailable", sock);
                line(r, INFO, "engine", d, "install and start dockerd for container specs");
                return;
        }
        if (engine_get(sock, "/version", &ver, why, sizeof(why)) < 0) {
                _cleanup_free_ char *d = tf_asprintf("%s: the docker backend is unavailable", why);
                line(r, WARN, "engine", d,
                     "start dockerd, or check the socket's permissions (group docker)");
                return;
        }
        const char *v = json_string_value(json_object_get(ver, "Version"));
        const char *api = json_string_value(json_object_get(ver, "ApiVersion"));
        const char *min = json_string_value(json_object_get(ver, "MinAPIVersion"));
        _cleanup_free_ char *d = tf_asprintf("Docker %s at %s, API %s (min %s)", v ? v : "?", sock,
                                             api ? api : "?", min ? min : "?");
        /* tfrun speaks 1.41 and newer (docker/docker.h). */
        unsigned ma = 0, mi = 0;
        bool old = !api || sscanf(api, "%u.%u", &ma, &mi) != 2 || ma < 1 || (ma == 1 && mi < 41);
        line(r, old ? WARN : OK, "engine", d,
             old ? "tfrun needs API " TF_DOCKER_API_MIN " (Docker 20.10) or newer" : NULL);

        _cleanup_(json_decrefp) json_t *info = NULL;
        if (engine_get(sock, "/info", &info, why, sizeof(why)) < 0) {
                line(r, WARN, "swarm", why, NULL);
                return;
        }
        json_t *sw = json_object_get(info, "Swarm");
        const char *state = json_string_value(json_object_get(sw, "LocalNodeState"));
        bool manager = json_is_true(json_object_get(sw, "ControlAvailable"));
        if (!state || !streq(state, "active")) {
                _cleanup_free_ char *dd =
                        tf_asprintf("not part of a swarm (LocalNodeState %s)", state ? state : "?");
                line(r, INFO, "swarm", dd, "backend: swarm needs a swarm manager (docker swarm init)");
                return;
        }
        if (!manager) {
                line(r, WARN, "swarm", "a swarm worker, not a manager",
                     "backend: swarm needs a manager's engine");
                return;
        }
        _cleanup_(json_decrefp) json_t *nodes = NULL;
        _cleanup_free_ char *list = NULL;
        if (engine_get(sock, "/nodes", &nodes, why, sizeof(why)) >= 0) {
                size_t i;
                json_t *nd;
                json_array_foreach(nodes, i, nd) {
                        const char *h = json_string_value(
                                json_object_get(json_object_get(nd, "Description"), "Hostname"));
                        const char *st =
                                json_string_value(json_object_get(json_object_get(nd, "Status"), "State"));
                        const char *id = json_string_value(json_object_get(nd, "ID"));
                        char *x = tf_asprintf("%s%s%.12s %s %s", list ? list : "", list ? ", " : "",
                                              id ? id : "?", h ? h : "?", st ? st : "?");
                        free(list);
                        list = x;
                }
        }
        _cleanup_free_ char *dd = tf_asprintf("a swarm manager; nodes: %s", list ? list : why);
        line(r, OK, "swarm", dd, NULL);
}

/* ---- state dir and socket ---- */

static void check_path_mode(struct report *r, const char *check, const char *path, bool dir) {
        struct stat st;
        _cleanup_free_ char *d = NULL;
        if (lstat(path, &st) < 0) {
                if (dir) {
                        /* Made at first use: its parent must let us. */
                        _cleanup_free_ char *parent = tf_strdup(path);
                        char *slash = strrchr(parent, '/');
                        while (slash && slash > parent) {
                                *slash = 0;
                                if (access(parent, F_OK) == 0)
                                        break;
                                slash = strrchr(parent, '/');
                        }
                        bool can = access(parent, W_OK) == 0;
                        d = tf_asprintf("%s does not exist yet; %s", path,
                                        can ? "it is made at first use" : "its parent is not writable");
                        line(r, can ? OK : FAIL, check, d,
                             can ? NULL : "pass --state-dir DIR with a writable DIR");
                } else {
                        d = tf_asprintf("%s: no manager is listening (tfrun up makes it)", path);
                        line(r, INFO, check, d, NULL);
                }
                return;
        }
        bool mine = st.st_uid == geteuid();
        bool open_to_others = (st.st_mode & 022) != 0;
        if (dir && !S_ISDIR(st.st_mode)) {
                d = tf_asprintf("%s is not a directory", path);
                line(r, FAIL, check, d, "remove it or pass another --state-dir");
                return;
        }
        if (!dir && !S_ISSOCK(st.st_mode)) {
                d = tf_asprintf("%s is not a socket", path);
                line(r, WARN, check, d, "remove it; the manager makes the socket");
                return;
        }
        d = tf_asprintf("%s: mode %04o, owner uid %u", path, (unsigned)(st.st_mode & 07777),
                        (unsigned)st.st_uid);
        if (!mine)
                line(r, dir ? FAIL : WARN, check, d,
                     "it belongs to another user: use your own (--state-dir, --socket)");
        else if (open_to_others)
                line(r, dir ? FAIL : WARN, check, d, "others may write it: chmod go-w");
        else
                line(r, OK, check, d, NULL);
}

int tf_cmd_doctor(int argc, char **argv) {
        static const struct option longopts[] = {
                {"json", no_argument, NULL, 'j'},         {"state-dir", required_argument, NULL, 's'},
                {"socket", required_argument, NULL, 'S'}, {"docker-host", required_argument, NULL, 'H'},
                {"help", no_argument, NULL, 'h'},         {},
        };
        struct report r = {};
        const char *state_dir = NULL, *socket_path = NULL, *host = NULL;
        int c;
        optind = 1;
        opterr = 0;
        while ((c = getopt_long(argc, argv, "+:h", longopts, NULL)) >= 0) {
                switch (c) {
                case 'j':
                        r.json = true;
                        break;
                case 's':
                        state_dir = optarg;
                        break;
                case 'S':
                        socket_path = optarg;
                        break;
                case 'H':
                        host = optarg;
                        break;
                case 'h':
                        puts("Usage: tfrun doctor [--json] [--state-dir DIR] [--socket PATH] [--docker-host "
                             "unix://PATH]\n\n"
                             "Check what this host offers tfrun: cgroups and their delegation, PSI, user\n"
                             "namespaces, seccomp, the Docker engine (and swarm), the state directory and "
                             "the\n"
                             "manager's socket. Each line says ok or what to do. Exit status 0 when native\n"
                             "jobs can run here with the default sandbox, 1 otherwise.");
                        return 0;
                default:
                        if (c == ':')
                                tf_log("doctor: option '%s' needs a value; see `tfrun doctor --help`",
                                       argv[optind - 1]);
                        else
                                tf_log("doctor: unknown option '%s'; see `tfrun doctor --help`",
                                       argv[optind - 1]);
                        return 125;
                }
        }
        if (optind != argc) {
                tf_log("doctor: takes no arguments, not '%s' (see tfrun doctor --help)", argv[optind]);
                return 125;
        }
        if (r.json)
                r.checks = json_array();
        _cleanup_free_ char *uid =
                tf_asprintf("uid %u%s", (unsigned)geteuid(), geteuid() == 0 ? " (root)" : "");
        line(&r, INFO, "user", uid, NULL);
        check_cgroups(&r);
        check_psi(&r);
        check_userns(&r);
        check_seccomp(&r);
        check_engine(&r, host);
        _cleanup_free_ char *sd = state_dir ? tf_strdup(state_dir) : tf_default_state_dir();
        check_path_mode(&r, "state-dir", sd, true);
        _cleanup_free_ char *sock = NULL;
        const char *e = secure_getenv("TFRUN_SOCKET");
        if (socket_path)
                sock = tf_strdup(socket_path);
        else if (e && *e)
                sock = tf_strdup(e);
        else if (geteuid() == 0)
                sock = tf_strdup("/run/tfrun/tfrun.sock");
        else if ((e = secure_getenv("XDG_RUNTIME_DIR")) && *e == '/')
                sock = tf_asprintf("%s/tfrun/tfrun.sock", e);
        if (sock) {
                _cleanup_free_ char *sdir = tf_strdup(sock);
                char *slash = strrchr(sdir, '/');
                if (slash && slash != sdir) {
                        *slash = 0;
                        struct stat st;
                        if (stat(sdir, &st) == 0 && (st.st_mode & 077)) {
                                _cleanup_free_ char *d =
                                        tf_asprintf("%s: mode %04o", sdir, (unsigned)(st.st_mode & 07777));
                                line(&r, WARN, "socket-dir", d,
                                     "the manager's socket directory should be 0700");
                        }
                }
                check_path_mode(&r, "socket", sock, false);
        } else
                line(&r, WARN, "socket", "XDG_RUNTIME_DIR is not set: no default socket for the manager",
                     "set XDG_RUNTIME_DIR or TFRUN_SOCKET, or pass --socket");
        if (r.json) {
                json_t *o = json_pack("{s:b,s:o}", "usable", !r.failed, "checks", r.checks);
                _cleanup_free_ char *t = json_dumps(o, JSON_INDENT(2));
                puts(t);
                json_decref(o);
        } else
                printf("%s\n",
                       r.failed ? "tfrun cannot run native jobs here as it is: see the fail lines above"
                                : "usable: native jobs can run here");
        return r.failed ? 1 : 0;
}
