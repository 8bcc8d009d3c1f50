/* SPDX-License-Identifier: MIT */
/*
 * The native backend: the service's command as a child process in a cgroup of its own.
 *
 * Placement is race-free: on cgroup v2 the child is born in its cgroup (clone3 with CLONE_INTO_CGROUP);
 * where v1 controllers are involved, the child's first step is to move itself into every v1 hierarchy
 * (tf_cg_attach_self), before anything of the service runs. It moves itself rather than being moved: a
 * parent writing the child's pid takes the kernel's global threadgroup lock, whose writer waits for an
 * RCU grace period, about 10 ms on an idle host, where a thread moving itself through a v1 "tasks" file
 * skips it (bench/launch.sh, docs/benchmarks.md). A CLOEXEC socket carries the parent's go (to a forked
 * child; one sharing tfrun's memory needs none, see spawn_shared()) and the setup and exec errors back;
 * EOF with no message means exec succeeded.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <grp.h>
#include <linux/sched.h>
#include <poll.h>
#include <pwd.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/parse.h"
#include "base/strutil.h"
#include "cgroup/cgroup.h"
#include "runner/outlog.h"
#include "runner/runner.h"
#include "sandbox/sandbox.h"
#include "spec/limits.h"

#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif
#ifndef P_PIDFD
#define P_PIDFD 3
#endif
/* The 32-bit id calls where the plain ones take 16-bit ids (i386). */
#ifdef SYS_setresuid32
#define SYS_SETGROUPS SYS_setgroups32
#define SYS_SETRESGID SYS_setresgid32
#define SYS_SETRESUID SYS_setresuid32
#else
#define SYS_SETGROUPS SYS_setgroups
#define SYS_SETRESGID SYS_setresgid
#define SYS_SETRESUID SYS_setresuid
#endif

extern char **environ;

struct native {
        struct tf_sandbox_plan *sandbox; /* NULL when the spec asks for no sandbox */
        struct tf_cg_plan *cg_plan; /* from check, used by start */
        struct tf_cg *cg;
        char *cg_name; /* its leaf name, "tfrun-<run id>" */
        pid_t pid;
        int pidfd;
        struct tf_source *pid_source;
        bool exited; /* reaped */
        int status_fd; /* pid: private: the init writes the service's wait status here; -1 otherwise */
        /* The exec handshake: EOF on sock means exec succeeded, a struct tf_child_msg that it did not. */
        int sock;
        struct tf_source *sock_source;
        bool handshake_done, failed;
        int fail_status; /* 125 (setup), 126, 127 */
        int fail_err;
        char *fail_msg;
        /* After the main process ended: the rest of the cgroup is killed and waited for, from the loop. */
        int code, status;
        struct tf_run *run;
        struct native *drain_next; /* in native_ctx's list of runs waiting for their cgroup to empty */
        bool draining;
        struct tf_source *drain_timer;
        uint64_t drain_deadline, drain_delay;
};

/* How long the rest of a run's cgroup may take to empty after SIGKILL before the run is reported
 * without it (a process stuck in the kernel); and the re-kill/re-check period meanwhile. */
#define DRAIN_MAX_USEC (5 * TF_USEC_PER_SEC)
#define DRAIN_RECHECK_USEC (100 * TF_USEC_PER_MSEC)


static struct native_ctx *native_ctx(struct tf_run *r);
static int native_cg_host(struct tf_run *r, struct tf_cg_host **ret, tf_error **err);
static void own_add(struct native_ctx *nc, const char *name);
static bool swept_once(struct native_ctx *nc, const char *parent, const char *service);
static struct tf_sandbox_cache *native_sandbox_cache(struct tf_run *r);
static void swept_forget(struct native_ctx *nc);

static int native_check(struct tf_run *r, tf_error **err) {
        const struct tf_spec *s = r->spec;
        _cleanup_free_ char *where = NULL;

        if (s->image) {
                where = tf_spec_where(s, s->pos_image);
                return tf_error_set(err, EOPNOTSUPP, "%s: image: the native backend runs commands, not images; "
                                    "remove image or use backend: docker", where);
        }
        struct native *n = tf_malloc0(sizeof(*n));
        n->pidfd = -1;
        n->status_fd = -1;
        n->sock = -1;
        r->backend = n;
        /* The sandbox is compiled here, in the parent, before anything exists: a bad profile, an unknown
         * capability or an unsafe mount source refuses the run with nothing created. No `sandbox:` key
         * is `sandbox: {}`, Docker's defaults; only `sandbox: host` runs the service unsandboxed. */
        if (!s->sandbox.host) {
                int ret = tf_sandbox_prepare_cached(native_sandbox_cache(r), s, geteuid() == 0, &n->sandbox,
                                                    err);
                if (ret < 0)
                        return ret;
        }
        /* Without mounts the command runs in this host's tree as it is: a working_dir that is not there
         * is refused with the spec's position, before anything is created. (Mounts or a private /tmp may
         * make it; the child's chdir then tells.) */
        struct stat st;
        bool host_tree = s->n_mounts == 0 && !s->sandbox.private_tmp;
        if (s->working_dir && host_tree && stat(s->working_dir, &st) < 0) {
                int e = errno;
                where = tf_spec_where(s, s->pos_working_dir);
                return tf_error_set(err, e, "%s: working_dir: %s: %s on this host; create it or choose "
                                    "another working_dir", where, s->working_dir,
                                    e == ENOENT ? "no such directory" : strerror(e));
        }
        if (s->working_dir && host_tree && !S_ISDIR(st.st_mode)) {
                where = tf_spec_where(s, s->pos_working_dir);
                return tf_error_set(err, ENOTDIR, "%s: working_dir: %s is not a directory", where,
                                    s->working_dir);
        }
        struct tf_cg_host *host;
        int ret = native_cg_host(r, &host, err);
        if (ret < 0)
                return ret;
        n->cg_name = tf_asprintf("tfrun-%s", r->run_id);
        /* Sandboxed, the job sees its cgroup namespace: a cgroup of its own in every hierarchy, as in a
         * container, so that none shows it tfrun's cgroup (the host's tree) as its root. */
        struct tf_cg_options o = { .parent = r->opts->cgroup_parent, .name = n->cg_name,
                                   .spec_path = s->path, .every_controller = !s->sandbox.host };
        return tf_cg_check(host, &s->limits, &o, &n->cg_plan, err);
}

/* Everything the child needs, computed before the fork: the child calls no NSS and no allocator (it may
 * share tfrun's memory: spawn_shared()). */
struct child_plan {
        char **argv;
        char **envp;
        const char *working_dir;
        bool set_user;
        uid_t uid;
        gid_t gid;
        gid_t *groups;
        int n_groups;
        uint64_t nofile;
        const struct tf_sandbox_plan *sandbox;
        struct tf_cg *cg;
        bool self_attach; /* v1 hierarchies (or no CLONE_INTO_CGROUP): the child moves itself */
        bool placed;      /* born in the unified leaf by CLONE_INTO_CGROUP */
        bool shared;      /* spawn_shared(): tfrun's memory, tfrun suspended until the execve; no go */
        int sock;
        int status_fd; /* write end, pid: private only */
        int init_fd;   /* pid: private: tfrun-init to exec once the service is cloned; -1: stay the init */
        int out_fd, err_fd; /* write ends of the output pipes (the run's log); -1: tfrun's own stdio */
};

static char **build_env(const struct tf_spec *s) {
        char **env = NULL;
        /* The child inherits tfrun's environment, as with cron, supercronic and env(1); the spec's env
         * (env_file first, then env:) overrides per name. */
        for (char **e = environ; e && *e; e++) {
                const char *eq = strchr(*e, '=');
                if (!eq)
                        continue;
                bool overridden = false;
                for (char **o = s->env; o && *o; o++)
                        if (strncmp(*o, *e, (size_t) (eq - *e) + 1) == 0) {
                                overridden = true;
                                break;
                        }
                if (!overridden)
                        tf_strv_push(&env, *e);
        }
        for (char **o = s->env; o && *o; o++)
                tf_strv_push(&env, *o);
        if (!env)
                env = tf_malloc0(sizeof(char *));
        return env;
}

static int resolve_user(const struct tf_spec *s, struct child_plan *p, tf_error **err) {
        if (!s->user)
                return 0;
        _cleanup_free_ char *where = tf_spec_where(s, s->pos_user);
        _cleanup_free_ char *u = tf_strdup(s->user);
        char *g = strchr(u, ':');
        if (g)
                *g++ = 0;
        struct passwd *pw = NULL;
        if (s->uid != (uid_t) -1) {
                p->uid = s->uid;
                pw = getpwuid(p->uid);
        } else {
                errno = 0;
                pw = getpwnam(u);
                if (!pw)
                        return tf_error_set(err, ENOENT, "%s: user: no such user '%s' on this host", where, u);
                p->uid = pw->pw_uid;
        }
        if (g) {
                if (s->gid != (gid_t) -1)
                        p->gid = s->gid;
                else {
                        struct group *gr = getgrnam(g);
                        if (!gr)
                                return tf_error_set(err, ENOENT, "%s: user: no such group '%s' on this host",
                                                    where, g);
                        p->gid = gr->gr_gid;
                }
        } else
                p->gid = pw ? pw->pw_gid : (gid_t) p->uid;
        /* Supplementary groups: the user's own when known, none otherwise; never tfrun's (root's). */
        if (pw) {
                int n = 64;
                p->groups = tf_malloc0(sizeof(gid_t) * (size_t) n);
                if (getgrouplist(pw->pw_name, p->gid, p->groups, &n) < 0) {
                        p->groups = tf_realloc(p->groups, sizeof(gid_t) * (size_t) n);
                        if (getgrouplist(pw->pw_name, p->gid, p->groups, &n) < 0)
                                n = 0;
                }
                p->n_groups = n;
        }
        p->set_user = true;
        return 0;
}

static _Noreturn void child_fail(int sock, int exec_stage, int e, const char *what) {
        struct tf_child_msg m = { .exec_stage = exec_stage, .err = e };
        /* Nothing formatted here (the child may share tfrun's memory): tfrun adds strerror(e). */
        for (size_t i = 0; what[i] && i + 1 < sizeof(m.text); i++)
                m.text[i] = what[i];
        ssize_t _unused_ w = send(sock, &m, sizeof(m), MSG_NOSIGNAL);
        _exit(exec_stage ? (e == ENOENT ? 127 : 126) : 125);
}

/* Synchronous signals concern the init itself; forwarding them would be wrong. */
static bool forwardable(int sig) {
        switch (sig) {
        case SIGCHLD:
        case SIGILL:
        case SIGTRAP:
        case SIGABRT:
        case SIGBUS:
        case SIGFPE:
        case SIGSEGV:
        case SIGSYS:
        case SIGTTIN:
        case SIGTTOU:
                return false;
        }
        return true;
}

/*
 * pid: private. We are pid 1 of a new pid namespace, its mounts done. Start the service (pid 2), which
 * goes on with child_main's remaining steps, and become the namespace's init, as tini and bwrap's init
 * do: tfrun-init (sandbox/init.c) where this build has it, so that the init is not a copy (or, from
 * spawn_shared(), the very memory) of tfrun; otherwise the loop below, which does the same:
 *   - reap every child: orphans of the service are reparented to pid 1, and without this they would
 *     stay zombies until the run ends;
 *   - forward the signals tfrun sends (si_code <= 0, from outside the namespace: si_pid 0) to the
 *     service. Signals from inside (the service's own kill(0, ...)) are not sent back to it. Signals the
 *     kernel sends the terminal's process group (^C, SIGWINCH, SIGHUP) reach the service directly, as it
 *     shares the group: forwarding those would deliver them twice. A signal tfrun marks with
 *     TF_INIT_SIGNAL_ALL (the stop signal of a timeout) goes to every process of the namespace;
 *   - when the service ends, hand its wait status to tfrun through status_fd and exit; the kernel then
 *     kills whatever is left in the namespace. The init cannot end by the service's signal itself (a
 *     namespace's init ignores signals it has no handler for), so tfrun reports the service's status
 *     from the pipe, not the init's.
 * The init keeps only CAP_KILL, gets no_new_privs, is not dumpable and runs under a filter of its own
 * (tf_sandbox_init_filter). Its setup errors still go through p->sock until it closes it. A failure to
 * exec tfrun-init kills the service: the child cannot stay the init when it shares tfrun's memory.
 */
static _Noreturn void child_exec(const struct child_plan *p);

/* The service's side of become_init()'s clone: it shares the init's memory until its execve, on a stack
 * of its own, and never returns. */
static int service_main(void *userdata) {
        const struct child_plan *p = userdata;
        sigset_t all;
        sigfillset(&all);
        close(p->status_fd);
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        sigprocmask(SIG_UNBLOCK, &all, NULL);
        child_exec(p);
}

/* The service's stack while it shares the init's memory: child_exec() needs little (execvp's path
 * buffer, child_fail()'s message); the mapping dies with the init. */
#define SERVICE_STACK_SIZE (256 * 1024)

/* Under AddressSanitizer (and TSan, MSan) a CLONE_VM child would share the sanitizer's per-thread state
 * with the init and run on a stack it does not know: such builds fork the service as before. */
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define SERVICE_BY_FORK 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer) || __has_feature(memory_sanitizer)
#define SERVICE_BY_FORK 1
#endif
#endif

/* Become tfrun-init (sandbox/init.c): fds and argv as init-proto.h says, nothing else of ours. */
static _Noreturn void exec_init(const struct child_plan *p, pid_t svc) {
        /* Above the numbers the init takes first, so that no dup2 below clobbers one of them. */
        int prog = fcntl(p->init_fd, F_DUPFD_CLOEXEC, TF_INIT_SOCK_FD + 1);
        int st = fcntl(p->status_fd, F_DUPFD_CLOEXEC, TF_INIT_SOCK_FD + 1);
        int sk = fcntl(p->sock, F_DUPFD_CLOEXEC, TF_INIT_SOCK_FD + 1);
        if (prog < 0 || st < 0 || sk < 0 || dup2(st, TF_INIT_STATUS_FD) < 0 || dup2(sk, TF_INIT_SOCK_FD) < 0) {
                kill(svc, SIGKILL);
                child_fail(p->sock, 0, errno, "sandbox.pid: the init's descriptors");
        }
        char pid[16], *d = pid + sizeof(pid);
        *--d = 0;
        for (unsigned v = (unsigned) svc; v || !*d; v /= 10)
                *--d = (char) ('0' + v % 10);
        char *argv[] = { "tfrun-init", d, NULL }, *envp[] = { NULL };
        syscall(SYS_execveat, prog, "", argv, envp, AT_EMPTY_PATH);
        int e = errno;
        kill(svc, SIGKILL);
        child_fail(TF_INIT_SOCK_FD, 0, e, "sandbox.pid: exec tfrun-init");
}

static void become_init(const struct child_plan *p) {
        sigset_t all;
        sigfillset(&all); /* blocked since child_main's start: what arrives waits for the loop below */
        /* Named before the service starts, not after: the service may read /proc/1/comm before we reach
         * exec_init()'s execveat (we are suspended until its execve), and it must see its init's name
         * then too, not tfrun's. The service inherits the name until its own execve renames it. */
        prctl(PR_SET_NAME, "tfrun-init");
        /* The service shares our memory until its execve (CLONE_VM | CLONE_VFORK, as posix_spawn does),
         * with us suspended meanwhile: a fork would copy tfrun's page tables once more, and the service's
         * execve would then tear that copy down again, both on the launch's critical path. */
#ifdef SERVICE_BY_FORK
        /* A forked service runs beside us at once, and would see the name execveat gives us
         * ("memfd:tfrun-ini") until tfrun-init renames itself: it waits for EOF on a pipe whose write
         * end we hold above the init's descriptors, not close-on-exec, closed by tfrun-init's
         * close_range() after its rename (or by ours below, the in-process init, named already). */
        int gate[2];
        if (pipe2(gate, O_CLOEXEC) < 0)
                child_fail(p->sock, 0, errno, "sandbox.pid: pipe");
        int gw = fcntl(gate[1], F_DUPFD, TF_INIT_SOCK_FD + 1);
        if (gw < 0)
                child_fail(p->sock, 0, errno, "sandbox.pid: pipe");
        close(gate[1]);
        pid_t svc = fork();
        if (svc == 0) {
                close(gw);
                char c;
                while (read(gate[0], &c, 1) < 0 && errno == EINTR) {
                }
                close(gate[0]);
                service_main((void *) p);
        }
        close(gate[0]);
#else
        /* Mapped once: when we share tfrun's memory (spawn_shared) this is tfrun's static, kept for the
         * next launch; in a fork of tfrun it is the copy's, gone with it. Each service has exec'ed before
         * the next can need it. */
        static void *stack;
        if (!stack) {
                void *m = mmap(NULL, SERVICE_STACK_SIZE, PROT_READ | PROT_WRITE,
                               MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
                if (m == MAP_FAILED)
                        child_fail(p->sock, 0, errno, "sandbox.pid: the service's stack");
                stack = m;
        }
        pid_t svc = clone(service_main, (char *) stack + SERVICE_STACK_SIZE,
                          CLONE_VM | CLONE_VFORK | SIGCHLD, (void *) p);
#endif
        if (svc < 0)
                child_fail(p->sock, 0, errno, "sandbox.pid: fork the service");
        if (p->init_fd >= 0)
                exec_init(p, svc);
        char what[128];
        int r = tf_sandbox_init_privileges(what, sizeof(what));
        if (r < 0) {
                kill(svc, SIGKILL);
                child_fail(p->sock, 0, -r, what);
        }
        /* tfrun learns that exec succeeded from EOF on the socket: the init must not hold it open, nor
         * any other descriptor of tfrun's (a pipe's write end held here would delay someone's EOF). */
        int keep = p->status_fd;
        close(p->sock);
        if (syscall(SYS_close_range, (unsigned) keep + 1, ~0U, 0U) < 0) /* Linux < 5.9 */
                for (int fd = keep + 1; fd < 4096; fd++)
                        close(fd);
        for (int fd = 3; fd < keep; fd++)
                close(fd);
        if (chdir("/") < 0) {
                /* Only so the init pins no directory; nothing depends on it. */
        }
        /* The service must not be able to borrow the init to escape its own filter: not dumpable (no
         * ptrace, no /proc/1/mem without CAP_SYS_PTRACE), and a filter of the init's own that allows only
         * what the loop below does. */
        r = tf_sandbox_init_filter(what, sizeof(what));
        if (r < 0) {
                kill(svc, SIGKILL);
                _exit(125);
        }
        for (;;) {
                siginfo_t si;
                int sig = sigwaitinfo(&all, &si);
                if (sig < 0)
                        continue;
                if (sig != SIGCHLD) {
                        if (!forwardable(sig))
                                continue;
                        /* si_pid is 0 for a sender outside the namespace (tfrun); the service's own
                         * kill(0, ...) or kill(1, ...) must not come back to it a second time. */
                        if (si.si_code > 0 || si.si_pid != 0)
                                continue;
                        if (si.si_code == SI_QUEUE && si.si_value.sival_int == TF_INIT_SIGNAL_ALL)
                                kill(-1, sig); /* everyone in the namespace but us */
                        else
                                kill(svc, sig);
                        continue;
                }
                int st;
                pid_t w;
                while ((w = waitpid(-1, &st, WNOHANG)) > 0)
                        if (w == svc) {
                                ssize_t _unused_ n = write(p->status_fd, &st, sizeof(st));
                                _exit(WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st));
                        }
        }
}

static _Noreturn void child_main(const struct child_plan *p) {
        /* The parent blocked these for its signalfd; the command must start with a clean slate. */
        sigset_t all;
        sigfillset(&all);
        for (int sig = 1; sig < NSIG; sig++)
                if (sig != SIGKILL && sig != SIGSTOP)
                        signal(sig, SIG_DFL);
        /* pid: private: we are pid 1 of the namespace, and a pid 1 drops signals it has no handler for:
         * keep everything blocked (queued) until become_init() waits for them. */
        sigprocmask(p->status_fd >= 0 ? SIG_BLOCK : SIG_UNBLOCK, &all, NULL);

        /* If tfrun dies, so does the run: the cgroup it leaves is then empty and removable. */
        prctl(PR_SET_PDEATHSIG, SIGKILL);

        /* Wait for the parent's word. EOF: the parent gave up. A shared child has no word to wait for
         * (tfrun is suspended until its execve): tfrun gone before the death signal was set is seen as
         * EOF on the socket, whose other end only tfrun holds. */
        char go;
        if (p->shared ? recv(p->sock, &go, 1, MSG_DONTWAIT) == 0 : recv(p->sock, &go, 1, 0) != 1)
                _exit(125);
        /* The run's output is kept (tf_run_options.log): its stdout and stderr are the pipes tfrun reads.
         * dup2 clears CLOEXEC on 1 and 2; the pipes' own numbers (above 2) go at exec. */
        if (p->out_fd >= 0 && (dup2(p->out_fd, 1) < 0 || dup2(p->err_fd, 2) < 0))
                child_fail(p->sock, 0, errno, "output pipes: dup2");

        /* The order matters (see runner/sandbox.h): cgroups first, namespaces and mounts while still
         * root, chdir after the binds, the bounding set before the user switch, capabilities,
         * no_new_privs and seccomp last, with nothing but exec after them. */
        char what[256];
        int r;
        if (p->self_attach && (r = tf_cg_attach_self(p->cg, p->placed, what, sizeof(what))) < 0)
                child_fail(p->sock, 0, -r, what);
        if (p->sandbox && (r = tf_sandbox_child_namespaces(p->sandbox, what, sizeof(what))) < 0)
                child_fail(p->sock, 0, -r, what);
        if (p->status_fd >= 0)
                become_init(p); /* the service (pid 2) goes on in child_exec() */
        child_exec(p);
}

/* The rest of the child's steps, then execve: in the child itself, or in the service that a pid
 * namespace's init cloned. This may share the init's memory (become_init): only system calls and its
 * own stack; the user switch through raw system calls, since glibc's wrappers would broadcast it to
 * what glibc believes are this process's threads. */
static _Noreturn void child_exec(const struct child_plan *p) {
        char what[256];
        int r;
        if (p->working_dir && chdir(p->working_dir) < 0)
                child_fail(p->sock, 0, errno, "working_dir: chdir");
        if (tf_limit_is_set(p->nofile)) {
                struct rlimit rl = { .rlim_cur = p->nofile, .rlim_max = p->nofile };
                if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
                        child_fail(p->sock, 0, errno, "setrlimit RLIMIT_NOFILE");
        }
        if (p->sandbox && (r = tf_sandbox_child_bounding(p->sandbox, what, sizeof(what))) < 0)
                child_fail(p->sock, 0, -r, what);
        if (p->set_user) {
                if (syscall(SYS_SETGROUPS, (size_t) p->n_groups, p->groups) < 0)
                        child_fail(p->sock, 0, errno, "user: setgroups");
                if (syscall(SYS_SETRESGID, p->gid, p->gid, p->gid) < 0)
                        child_fail(p->sock, 0, errno, "user: setresgid");
                if (syscall(SYS_SETRESUID, p->uid, p->uid, p->uid) < 0)
                        child_fail(p->sock, 0, errno, "user: setresuid");
        }

        /* No descriptor of tfrun's reaches the command: everything above stdio is marked CLOEXEC. */
        if (syscall(SYS_close_range, 3U, ~0U, CLOSE_RANGE_CLOEXEC) < 0) {
                for (int fd = 3; fd < 4096; fd++)
                        if (fd != p->sock)
                                fcntl(fd, F_SETFD, FD_CLOEXEC);
        }
        if (p->sandbox && (r = tf_sandbox_child_privileges(p->sandbox, what, sizeof(what))) < 0)
                child_fail(p->sock, 0, -r, what);

        execvpe(p->argv[0], p->argv, p->envp);
        child_fail(p->sock, 1, errno, p->argv[0]);
}

/*
 * Without a sandbox the child is started as posix_spawn starts one: sharing tfrun's memory (CLONE_VM |
 * CLONE_VFORK) on a stack of its own, tfrun suspended until the child's execve (or its exit). A fork
 * would copy tfrun's page tables and the execve would tear that copy down again, both on the launch's
 * critical path and the second on tfrun's: about 1.5 ms per run in a manager of 1,000 services
 * (bench/manager.sh, docs/benchmarks.md). The child then calls no allocator and writes nothing of
 * tfrun's but its own stack (child_main(): system calls, the prepared plan, tf_cg_attach_self()'s
 * writes through the leaves' descriptors). The cost of waiting: tfrun's loop waits for the child's
 * chdir, v1 attach and execve, a fraction of a millisecond, or as long as a hung filesystem holds the
 * working_dir or the binary. A sandboxed child is started so too, tfrun then waiting for its whole
 * setup (namespaces, mounts, the service's own clone and execve, then its own execve of tfrun-init), as
 * long as a pid namespace's init is that program; a child that would stay the init itself
 * (become_init()'s loop) never execs, and is forked. glibc has no clone3 wrapper that starts a function
 * on a new stack, hence the few instructions below (x86-64; other architectures fork).
 */
#if defined(__x86_64__) && !defined(SERVICE_BY_FORK)
#define SPAWN_SHARED 1
#define SHARED_STACK_SIZE SERVICE_STACK_SIZE

static int shared_main(void *userdata) {
        child_main(userdata);
}

/* clone3(ca), the child on ca's stack calling fn(arg), which never returns. The parent gets the pid or
 * -errno. Every register but rax, rcx and r11 survives the system call, in the child too. */
static long clone3_call(struct clone_args *ca, int (*fn)(void *), void *arg) {
        register long rax __asm__("rax") = SYS_clone3;
        register struct clone_args *rdi __asm__("rdi") = ca;
        register size_t rsi __asm__("rsi") = sizeof(*ca);
        register int (*r12)(void *) __asm__("r12") = fn;
        register void *r13 __asm__("r13") = arg;
        __asm__ volatile("syscall\n\t"
                         "test %%rax, %%rax\n\t"
                         "jnz 1f\n\t"
                         "xor %%ebp, %%ebp\n\t" /* the child: the end of its stack's frame chain */
                         "mov %%r13, %%rdi\n\t"
                         "call *%%r12\n\t"
                         "ud2\n"
                         "1:"
                         : "+r"(rax)
                         : "r"(rdi), "r"(rsi), "r"(r12), "r"(r13)
                         : "rcx", "r11", "memory");
        return rax;
}

/* spawn() sharing tfrun's memory: see above. p->placed is set before each attempt, since the child reads it
 * from the shared plan. Returns the pid (the child has exec'ed, the service or tfrun-init, or exited by
 * then). */
static pid_t spawn_shared(int cgroup_fd, uint64_t flags, struct child_plan *p, int *ret_pidfd) {
        /* One stack for every shared child: each has exec'ed or exited before clone3 returns. */
        static void *stack;
        if (!stack) {
                void *m = mmap(NULL, SHARED_STACK_SIZE, PROT_READ | PROT_WRITE,
                               MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
                if (m == MAP_FAILED)
                        return -1;
                stack = m;
        }
        struct clone_args ca = {
                .flags = CLONE_PIDFD | CLONE_VM | CLONE_VFORK | flags,
                .pidfd = (uint64_t) (uintptr_t) ret_pidfd,
                .exit_signal = SIGCHLD,
                .stack = (uint64_t) (uintptr_t) stack,
                .stack_size = SHARED_STACK_SIZE,
        };
        p->shared = true;
        long pid = -EINVAL;
        if (cgroup_fd >= 0) {
                ca.flags |= CLONE_INTO_CGROUP;
                ca.cgroup = (uint64_t) cgroup_fd;
                p->placed = true;
                p->self_attach = tf_cg_needs_attach(p->cg);
                pid = clone3_call(&ca, shared_main, p);
                if (pid < 0 && pid != -EINVAL && pid != -EOPNOTSUPP && pid != -E2BIG) {
                        errno = (int) -pid;
                        return -1;
                }
                ca.flags &= ~(uint64_t) CLONE_INTO_CGROUP;
                ca.cgroup = 0;
        }
        if (pid < 0) {
                p->placed = false;
                p->self_attach = true;
                pid = clone3_call(&ca, shared_main, p);
        }
        if (pid < 0) {
                errno = (int) -pid;
                return -1;
        }
        return (pid_t) pid;
}
#endif

/* clone3 with a pidfd and `flags` (CLONE_NEWPID), born in cgroup_fd when given. *ret_placed (in the
 * child too) says whether CLONE_INTO_CGROUP was used; kernels before 5.7 lack it and the child then
 * attaches itself to every hierarchy. */
static pid_t spawn(int cgroup_fd, uint64_t flags, int *ret_pidfd, bool *ret_placed) {
        struct clone_args ca = {
                .flags = CLONE_PIDFD | flags,
                .pidfd = (uint64_t) (uintptr_t) ret_pidfd,
                .exit_signal = SIGCHLD,
        };
        *ret_placed = false;
        if (cgroup_fd >= 0) {
                ca.flags |= CLONE_INTO_CGROUP;
                ca.cgroup = (uint64_t) cgroup_fd;
                long pid = syscall(SYS_clone3, &ca, sizeof(ca));
                if (pid >= 0) {
                        *ret_placed = true;
                        return (pid_t) pid;
                }
                if (errno != EINVAL && errno != EOPNOTSUPP && errno != E2BIG)
                        return -1;
                ca.flags &= ~(uint64_t) CLONE_INTO_CGROUP;
                ca.cgroup = 0;
        }
        return (pid_t) syscall(SYS_clone3, &ca, sizeof(ca));
}

static void drain(struct tf_run *r);
static void drain_unlink(struct tf_run *r);
static int drain_link(struct tf_run *r, tf_error **err);

static void close_sock(struct native *n) {
        tf_source_remove(n->sock_source);
        n->sock_source = NULL;
        if (n->sock >= 0)
                close(n->sock);
        n->sock = -1;
}

static void drain_done(struct tf_run *r) {
        struct native *n = r->backend;
        drain_unlink(r);
        tf_source_remove(n->drain_timer);
        n->drain_timer = NULL;
        tf_run_child_exited(r, n->code, n->status);
}

/* Whether the cgroup is empty now; kills again (a fork may have raced the last pass) when it is not. */
static bool drain_check(struct tf_run *r) {
        struct native *n = r->backend;
        if (!tf_cg_populated(n->cg))
                return true;
        _cleanup_error_ tf_error *e = NULL;
        if (tf_cg_kill(n->cg, SIGKILL, &e) < 0)
                tf_log("warning: %s: %s", r->run_id, e->msg);
        return false;
}

static int on_drain_timer(struct tf_source *s, int fd, uint32_t events, void *userdata) {
        struct tf_run *r = userdata;
        struct native *n = r->backend;
        if (drain_check(r)) {
                drain_done(r);
                return 0;
        }
        uint64_t now = tf_now(CLOCK_MONOTONIC);
        if (now >= n->drain_deadline) {
                tf_log("warning: %s: cgroup %s still has processes %" PRIu64 " s after the main process "
                       "ended and SIGKILL; reporting the run without waiting for them",
                       r->run_id, tf_cg_path(n->cg), DRAIN_MAX_USEC / TF_USEC_PER_SEC);
                drain_done(r);
                return 0;
        }
        if (n->drain_delay < DRAIN_RECHECK_USEC)
                n->drain_delay *= 2;
        tf_source_set_time(s, now + n->drain_delay);
        return 0;
}

/* The main process is gone; what it left behind goes too (systemd's KillMode=control-group), and the run
 * is reported once the cgroup is empty. Waited for as loop sources: cgroup.events through inotify where a
 * cgroup2 hierarchy exists, with a timer that re-kills (a fork that raced a freeze/kill pass) and bounds
 * the wait; on a pure v1 host (no cgroup2 mounted) the timer alone re-checks, from 1 ms up to every
 * 100 ms. */
static void drain(struct tf_run *r) {
        struct native *n = r->backend;
        _cleanup_error_ tf_error *e = NULL;
        if (tf_cg_kill(n->cg, SIGKILL, &e) < 0)
                tf_log("warning: %s: %s", r->run_id, e->msg);
        tf_error_free(TAKE_PTR(e));
        /* Usually the main process was the last one: empty now, no watch needed. Otherwise watch, then
         * check again, so that no change is missed. */
        if (!tf_cg_populated(n->cg)) {
                drain_done(r);
                return;
        }
        bool events = tf_cg_watch(n->cg) == 0 && drain_link(r, &e) >= 0;
        tf_error_free(TAKE_PTR(e));
        if (!tf_cg_populated(n->cg)) {
                drain_done(r);
                return;
        }
        uint64_t now = tf_now(CLOCK_MONOTONIC);
        n->drain_deadline = now + DRAIN_MAX_USEC;
        n->drain_delay = events ? DRAIN_RECHECK_USEC : TF_USEC_PER_MSEC;
        if (tf_loop_add_timer(r->loop, CLOCK_MONOTONIC, now + n->drain_delay, on_drain_timer, r, &n->drain_timer,
                              &e) < 0) {
                tf_log("warning: %s: %s; reporting the run without waiting for its cgroup", r->run_id, e->msg);
                drain_done(r);
        }
}

/* Read the exec handshake without blocking. Returns false while the child has said nothing yet. */
static bool handshake_read(struct tf_run *r) {
        struct native *n = r->backend;
        struct tf_child_msg m;
        ssize_t got = recv(n->sock, &m, sizeof(m), MSG_DONTWAIT);
        if (got < 0 && (errno == EAGAIN || errno == EINTR))
                return false;
        /* A whole message (SOCK_SEQPACKET keeps it whole), or EOF: exec happened (or the child died
         * before it could say why; its exit status then tells). */
        if (got == (ssize_t) sizeof(m)) {
                m.text[sizeof(m.text) - 1] = 0;
                n->failed = true;
                n->fail_err = m.err;
                if (m.exec_stage) {
                        n->fail_status = m.err == ENOENT ? 127 : 126;
                        n->fail_msg = tf_asprintf("%s: %s", m.text, strerror(m.err));
                } else {
                        n->fail_status = 125;
                        n->fail_msg = tf_asprintf("%s: prepare the child: %s: %s", r->spec->path, m.text,
                                                  strerror(m.err));
                }
        }
        close_sock(n);
        n->handshake_done = true;
        return true;
}

/* EOF or a message on the handshake socket. A failure is reported once the child is reaped (on_pidfd):
 * it exits right after its message. */
static int on_sock(struct tf_source *src, int fd, uint32_t events, void *userdata) {
        struct tf_run *r = userdata;
        struct native *n = r->backend;
        if (handshake_read(r) && !n->failed)
                tf_run_started(r);
        return 0;
}

static int on_pidfd(struct tf_source *src, int fd, uint32_t events, void *userdata) {
        struct tf_run *r = userdata;
        struct native *n = r->backend;
        siginfo_t si = { 0 };
        if (waitid((idtype_t) P_PIDFD, (id_t) fd, &si, WEXITED | WNOHANG) < 0 || si.si_pid == 0)
                return 0;
        tf_source_remove(src);
        n->pid_source = NULL;
        n->exited = true;
        int code = si.si_code, status = si.si_status, st;
        /* pid: private: the child was the init; the service's own status is in the pipe, unless the
         * init was killed (timeout, tfrun's kill of the cgroup) before the service ended. */
        if (n->status_fd >= 0 && read(n->status_fd, &st, sizeof(st)) == (ssize_t) sizeof(st)) {
                if (WIFEXITED(st)) {
                        code = CLD_EXITED;
                        status = WEXITSTATUS(st);
                } else {
                        code = WCOREDUMP(st) ? CLD_DUMPED : CLD_KILLED;
                        status = WTERMSIG(st);
                }
        }
        /* The pidfd may fire before the socket's EOF was dispatched: the handshake is read first. What
         * still holds the socket's other end now (pid: private's service, which dies with its init)
         * cannot have exec'ed a failure message in time: no message is no failure. */
        if (!n->handshake_done && !handshake_read(r)) {
                tf_source_remove(n->sock_source);
                n->sock_source = NULL;
                close_sock(n);
                n->handshake_done = true;
        }
        if (n->failed) {
                tf_error *e = NULL;
                if (n->fail_status == 125) {
                        tf_error_set(&e, n->fail_err, "%s", n->fail_msg);
                        tf_run_start_failed(r, e);
                } else
                        tf_run_exec_failed(r, n->fail_status, n->fail_msg);
                return 0;
        }
        tf_run_started(r);
        /* The main process's end is the run's end in time; what it left behind is killed and waited for
         * before the report (stats of an empty cgroup are final), not counted in the wall time. */
        if (!r->ended) {
                r->ended = true;
                r->result.wall_usec = tf_now(CLOCK_MONOTONIC) - r->start_mono_usec;
        }
        r->exit_realtime_usec = tf_now(CLOCK_REALTIME);
        n->code = code;
        n->status = status;
        drain(r);
        return 0;
}

static int native_start(struct tf_run *r, tf_error **err) {
        const struct tf_spec *s = r->spec;
        struct native *n = r->backend;

        /* What a killed tfrun left of this service goes first (never waited for), so that this run's
         * cgroup is not the only one left standing. A failure to look is not this run's failure. */
        _cleanup_error_ tf_error *se = NULL;
        if (!swept_once(native_ctx(r), r->opts->cgroup_parent, s->name) &&
            tf_native_sweep(r->ctx, r->opts->cgroup_parent, s->name, &se) < 0) {
                tf_log("warning: %s: looking for cgroups left by an earlier tfrun: %s", s->name, se->msg);
                swept_forget(native_ctx(r));
        }
        int ret = tf_cg_create_from(n->cg_plan, &n->cg, err);
        if (ret < 0)
                return ret;
        own_add(native_ctx(r), n->cg_name);

        struct child_plan p = {
                .argv = s->argv,
                .working_dir = s->working_dir,
                .nofile = s->limits.nofile,
                .sandbox = n->sandbox,
        };
        _cleanup_strv_free_ char **envp = build_env(s);
        p.envp = envp;
        ret = resolve_user(s, &p, err);
        _cleanup_free_ _unused_ gid_t *groups = p.groups; /* freed at return; clang counts no use */
        if (ret < 0)
                return ret;

        /* The run's log: stdout and stderr through pipes of their own, read from the loop. Numbers above 2,
         * so that the child's dup2 onto 1 and 2 clobbers neither. */
        _cleanup_close_ int out_r = -1, out_w = -1, err_r = -1, err_w = -1;
        if (r->outlog) {
                int op[2], ep[2];
                if (pipe2(op, O_CLOEXEC) < 0)
                        return tf_error_setc(err, errno, "output pipe");
                out_r = op[0], out_w = op[1];
                if (pipe2(ep, O_CLOEXEC) < 0)
                        return tf_error_setc(err, errno, "output pipe");
                err_r = ep[0], err_w = ep[1];
                int *w[] = { &out_w, &err_w };
                for (size_t i = 0; i < ELEMENTSOF(w); i++)
                        if (*w[i] <= 2) {
                                int fd = fcntl(*w[i], F_DUPFD_CLOEXEC, 3);
                                if (fd < 0)
                                        return tf_error_setc(err, errno, "output pipe");
                                close(*w[i]);
                                *w[i] = fd;
                        }
        }
        p.out_fd = out_w;
        p.err_fd = err_w;

        int sv[2];
        if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
                return tf_error_setc(err, errno, "socketpair");
        _cleanup_close_ int parent_sock = sv[0];
        p.sock = sv[1];
        p.status_fd = -1;
        uint64_t flags = 0;
        if (tf_sandbox_plan_pid_private(n->sandbox)) {
                int pfd[2];
                if (pipe2(pfd, O_CLOEXEC | O_NONBLOCK) < 0) {
                        ret = -errno;
                        close(sv[1]);
                        return tf_error_setc(err, ret, "pipe2");
                }
                n->status_fd = pfd[0];
                p.status_fd = pfd[1];
        }
        flags |= tf_sandbox_plan_clone_flags(n->sandbox);
        /* A namespace's init that is a program of its own (below, become_init()) lets the child share
         * tfrun's memory too; where there is none the child stays the init, as a fork of tfrun. */
        p.init_fd = -1;
        if (p.status_fd >= 0) {
                int fd = tf_sandbox_init_program(native_sandbox_cache(r));
                p.init_fd = fd >= 0 ? fd : -1;
        }
        int cgfd = tf_cg_clone_fd(n->cg);
        int pidfd = -1;
        bool placed = false;
        p.cg = n->cg;
        pid_t pid;
#ifdef SPAWN_SHARED
        bool stays_init = p.status_fd >= 0 && p.init_fd < 0;
        if (!stays_init)
                pid = spawn_shared(cgfd, flags, &p, &pidfd);
        else
#endif
                pid = spawn(cgfd, flags, &pidfd, &placed);
        if (pid < 0) {
                int e = errno;
                close(sv[1]);
                if (p.status_fd >= 0)
                        close(p.status_fd);
                if (e == EPERM && (flags & CLONE_NEWUSER))
                        /* Not the cgroup's: its permission checks answer EACCES, ENOENT or EBUSY. The
                         * kernel refuses a user namespace to a chrooted process (create_user_ns(), even
                         * to root), and seccomp profiles (Docker's) or security modules may refuse it. */
                        return tf_error_set(err, e,
                                            "%s: sandbox: the kernel refused the user namespace the default "
                                            "sandbox needs when tfrun is not root (clone3: %s): it allows "
                                            "none inside a chroot, and a seccomp filter or a security module "
                                            "may deny them; run tfrun as root or outside the chroot, or write "
                                            "`sandbox: host` to run unconfined",
                                            s->path, strerror(e));
                return tf_error_setc(err, e, "clone3");
        }
        if (pid == 0) {
                p.placed = placed;
                p.self_attach = !placed || tf_cg_needs_attach(n->cg);
                child_main(&p);
        }
        close(sv[1]);
        if (p.status_fd >= 0)
                close(p.status_fd);
        n->pid = pid;
        n->pidfd = pidfd;

        if (!p.shared && send(parent_sock, "g", 1, MSG_NOSIGNAL) != 1)
                /* The child is gone already; cleanup reaps it without waiting. */
                return tf_error_setc(err, errno, "release the child");
        n->sock = TAKE_FD(parent_sock);
        /* The rest happens from the loop: EOF or a message on the socket, the pidfd when it exits, the
         * output until the run's end (tf_outlog_finish() reads what is left). */
        if (r->outlog) {
                close(TAKE_FD(out_w));
                close(TAKE_FD(err_w));
                ret = tf_outlog_watch(r->outlog, r->loop, TAKE_FD(out_r), 1, err);
                if (ret >= 0)
                        ret = tf_outlog_watch(r->outlog, r->loop, TAKE_FD(err_r), 2, err);
                if (ret < 0)
                        return ret; /* cleanup kills and reaps it */
        }
        ret = tf_loop_add_io(r->loop, n->sock, EPOLLIN, on_sock, r, &n->sock_source, err);
        if (ret >= 0)
                ret = tf_loop_add_io(r->loop, pidfd, EPOLLIN, on_pidfd, r, &n->pid_source, err);
        if (ret < 0)
                return ret; /* cleanup kills and reaps it */
        return 0;
}

static int native_signal(struct tf_run *r, int sig, bool all, tf_error **err) {
        struct native *n = r->backend;
        if (!n || !n->cg)
                return 0;
        /* pid: private and a signal for every process (the stop signal of a timeout): signalling the
         * cgroup would reach the service twice, directly and forwarded by the init. The init is asked
         * instead, with a marked sigqueue, to signal its whole namespace (kill(-1)). SIGKILL needs no
         * one's help. */
        bool via_init = all && sig != SIGKILL && n->status_fd >= 0 && !n->exited && n->pidfd >= 0;
        if (all && !via_init)
                return tf_cg_kill(n->cg, sig, err);
        if (n->exited || n->pidfd < 0)
                return 0;
        siginfo_t si = { .si_signo = sig, .si_code = SI_QUEUE };
        si.si_pid = getpid();
        si.si_uid = getuid();
        si.si_value.sival_int = TF_INIT_SIGNAL_ALL;
        if (syscall(SYS_pidfd_send_signal, n->pidfd, sig, via_init ? &si : NULL, 0) < 0 && errno != ESRCH)
                return tf_error_setc(err, errno, "send %s to pid %d", tf_signal_name(sig), (int) n->pid);
        return 0;
}

static int native_collect(struct tf_run *r, struct tf_run_result *res, bool *oom, tf_error **err) {
        struct native *n = r->backend;
        *oom = false;
        if (!n || !n->cg)
                return 0;
        /* Called once the cgroup is empty (drain()): the numbers are final. */
        struct tf_cg_stats st;
        int ret = tf_cg_stats(n->cg, &st, err);
        if (ret < 0)
                return ret;
        res->cpu_usec = st.cpu_usage_usec;
        res->memory_peak = st.memory_peak;
        res->pids_peak = st.pids_peak;
        res->oom_kills = st.oom_kills;
        res->pids_refused = st.pids_refused;
        *oom = st.oom_kills != TF_UNSET && st.oom_kills > 0;
        return 0;
}

/*
 * What a run leaves behind when it is cleaned up before its child was reaped (a start that failed after
 * the clone, a run freed at shutdown): the child was sent SIGKILL, and it is reaped from the loop when its
 * pidfd fires, never waited for. A leftover holds the loop (tf_loop_hold) so that tfrun does not exit
 * first, and is bounded: a process that SIGKILL does not end within LEFTOVER_MAX_USEC (stuck in the
 * kernel) is reported and abandoned. Leftovers still pending when the loop is gone get one last
 * non-blocking try, then the same report.
 */
#define LEFTOVER_MAX_USEC (5 * TF_USEC_PER_SEC)

struct native_ctx {
        struct tf_loop *loop;
        /* The cgroup host description, detected at the first check (tf_cg_host_new); every plan and
         * cgroup of the process's native runs borrows it, so it is freed last. */
        struct tf_cg_host *cg_host;
        struct leftover *leftovers;
        /* The host's one cgroup events fd (tf_cg_events_fd) as a source, added on first use, and the
         * runs waiting on it for their cgroup to empty. */
        struct tf_source *events_source;
        struct native *draining;
        /* The leaf names of the cgroups this process made and has not removed or given up on yet: a
         * sweep takes a cgroup named with this process's pid only when it is not one of them (an earlier
         * tfrun had the same pid). */
        char **own_cgroups;
        /* The one-path workflow cgroups this process made ("1/a/b/tfrun-RUN": its ancestors below tfrun's
         * own cgroup are ours too; "0/...": below an absolute --cgroup-parent). The engine's runtime makes a
         * container's CgroupParent again when it deletes the container, which may be after the workflow's
         * cgroup went (a DELETE in flight at a SIGTERM): removed again once the loop has stopped, after
         * every DELETE. */
        char **one_paths;
        /* "PARENT\nSERVICE" for each service whose leftovers this process swept before its first run:
         * a later run of it finds nothing new there but what another tfrun, killed meanwhile, left, and
         * that is the next tfrun's to sweep (as at any tfrun's start). Listing and opening every parent
         * was a tenth of a millisecond of each warm launch. Emptied when a swept cgroup would not go. */
        char **swept;
        struct tf_sandbox_cache *sandbox_cache; /* the host's mounts and compiled filters, for every plan */
};

struct leftover {
        struct native_ctx *nc;
        struct leftover *next;
        int pidfd;
        pid_t pid;
        struct tf_cg *cg;
        char *cg_path;
        char *own_name; /* cg's name in own_cgroups, when this process made it */
        /* A cgroup swept from a tfrun that is gone (tf_native_sweep): its service, run id, tfrun pid, and
         * whether that pid is now another process's. NULL service: not swept. */
        char *swept_service, *swept_run;
        pid_t swept_pid;
        bool swept_reused;
        /* A workflow's cgroup at one path (tf_native_parent_create(one_path)): the engine's runtime made it
         * in the v1 hierarchies cgroup/ does not use too, and its ancestors where tfrun's own cgroup is
         * higher up may be this process's (ancestors): removed with it. */
        char *others_path;
        bool ancestors;
        struct tf_source *pid_source, *timer;
        uint64_t deadline, delay;
};

static struct tf_sandbox_cache *native_sandbox_cache(struct tf_run *r) {
        return native_ctx(r)->sandbox_cache;
}

/* Whether the service's leftovers below parent were swept by this process already; marks them swept. */
/* "PARENT\nSERVICE"; SERVICE NULL: every service's below PARENT. */
static char *swept_key(const char *parent, const char *service) {
        return tf_asprintf("%s\n%s", parent ? parent : "", service ? service : "");
}

static bool swept_once(struct native_ctx *nc, const char *parent, const char *service) {
        _cleanup_free_ char *all = swept_key(parent, NULL);
        _cleanup_free_ char *key = swept_key(parent, service);
        if (tf_strv_contains(nc->swept, all) || tf_strv_contains(nc->swept, key))
                return true;
        tf_strv_push(&nc->swept, key);
        return false;
}

static void swept_forget(struct native_ctx *nc) {
        tf_strv_free(nc->swept);
        nc->swept = NULL;
}

static void own_add(struct native_ctx *nc, const char *name) {
        tf_strv_push(&nc->own_cgroups, name);
}

static void own_remove(struct native_ctx *nc, const char *name) {
        for (size_t i = 0; name && nc->own_cgroups && nc->own_cgroups[i]; i++)
                if (streq(nc->own_cgroups[i], name)) {
                        free(nc->own_cgroups[i]);
                        memmove(&nc->own_cgroups[i], &nc->own_cgroups[i + 1],
                                (tf_strv_length(nc->own_cgroups + i + 1) + 1) * sizeof(char *));
                        return;
                }
}

/* The leftover's cgroup is removed or given up on: free it, and it is no longer this process's. */
static void leftover_cg_done(struct leftover *lo) {
        tf_cg_free(lo->cg);
        lo->cg = NULL;
        own_remove(lo->nc, lo->own_name);
}

/* After the cgroup: its path in the hierarchies cgroup/ does not use, where the runtime removes the
 * container's own directory one hierarchy after another (retried while it is there), then the ancestors
 * made for it. True once done; last: the final try, done either way. */
static bool others_done(struct leftover *lo, bool last) {
        if (!lo->others_path)
                return true;
        /* The last try: the containers are gone (the run's own removed, a killed run's swept), so what
         * is still below is what the runtime failed to remove. */
        if (tf_cg_rmdir_others(lo->others_path, last) == -EBUSY) {
                if (!last)
                        return false;
                tf_log("warning: cgroup %s not removed in the hierarchies tfrun does not use (freezer, "
                       "devices, ...): still busy",
                       lo->others_path);
        }
        _cleanup_free_ char *up = TAKE_PTR(lo->others_path);
        *strrchr(up, '/') = 0;
        if (lo->ancestors && *up && lo->nc->cg_host)
                tf_cg_rmdir_parent(lo->nc->cg_host, up);
        return true;
}

static void swept_log(const struct leftover *lo) {
        tf_log("%s: removed cgroup %s left by run %s (its tfrun, pid %d, is gone%s)", lo->swept_service,
               lo->cg_path, lo->swept_run, (int) lo->swept_pid,
               lo->swept_reused ? "; the pid is now another process's" : "");
}

/* True once nothing is left to do. */
static bool leftover_try(struct leftover *lo) {
        if (lo->pidfd >= 0) {
                siginfo_t si = { 0 };
                if (waitid((idtype_t) P_PIDFD, (id_t) lo->pidfd, &si, WEXITED | WNOHANG) < 0 || si.si_pid != 0) {
                        tf_source_remove(lo->pid_source);
                        lo->pid_source = NULL;
                        close(lo->pidfd);
                        lo->pidfd = -1;
                }
        }
        if (lo->cg) {
                _cleanup_error_ tf_error *e = NULL;
                int r = tf_cg_remove(lo->cg, &e);
                if (r != -EBUSY) {
                        if (r < 0)
                                tf_log("warning: %s", e->msg);
                        else if (lo->swept_service)
                                swept_log(lo);
                        leftover_cg_done(lo);
                }
        }
        if (!lo->cg && !others_done(lo, false))
                return false;
        return lo->pidfd < 0 && !lo->cg;
}

static void leftover_free(struct leftover *lo, bool report) {
        struct native_ctx *nc = lo->nc;
        for (struct leftover **p = &nc->leftovers; *p; p = &(*p)->next)
                if (*p == lo) {
                        *p = lo->next;
                        break;
                }
        tf_source_remove(lo->pid_source);
        tf_source_remove(lo->timer);
        if (lo->cg) {
                if (report && lo->swept_service) {
                        swept_forget(nc);
                        tf_log("warning: %s: cgroup %s left by run %s (its tfrun, pid %d, is gone) not "
                               "removed: still busy %" PRIu64 " s after SIGKILL; the next run of %s tries again",
                               lo->swept_service, lo->cg_path, lo->swept_run, (int) lo->swept_pid,
                               LEFTOVER_MAX_USEC / TF_USEC_PER_SEC, lo->swept_service);
                } else if (report)
                        tf_log("warning: cgroup %s not removed: still busy %" PRIu64 " s after SIGKILL",
                               lo->cg_path, LEFTOVER_MAX_USEC / TF_USEC_PER_SEC);
                leftover_cg_done(lo);
        }
        others_done(lo, true);
        free(lo->cg_path);
        free(lo->others_path);
        free(lo->own_name);
        free(lo->swept_service);
        free(lo->swept_run);
        if (lo->pidfd >= 0) {
                if (report)
                        tf_log("warning: pid %d did not end %" PRIu64 " s after SIGKILL; not waiting for it",
                               (int) lo->pid, LEFTOVER_MAX_USEC / TF_USEC_PER_SEC);
                close(lo->pidfd);
        }
        free(lo);
}

static void leftover_done(struct leftover *lo, bool report) {
        struct tf_loop *l = lo->nc->loop;
        leftover_free(lo, report);
        tf_loop_release(l);
}

static int on_leftover_pidfd(struct tf_source *s, int fd, uint32_t events, void *userdata) {
        struct leftover *lo = userdata;
        if (leftover_try(lo))
                leftover_done(lo, false);
        return 0;
}

static int on_leftover_timer(struct tf_source *s, int fd, uint32_t events, void *userdata) {
        struct leftover *lo = userdata;
        if (leftover_try(lo)) {
                leftover_done(lo, false);
                return 0;
        }
        uint64_t now = tf_now(CLOCK_MONOTONIC);
        if (now >= lo->deadline) {
                leftover_done(lo, true);
                return 0;
        }
        lo->delay = lo->delay * 2 > 500 * TF_USEC_PER_MSEC ? 500 * TF_USEC_PER_MSEC : lo->delay * 2;
        tf_source_set_time(lo->timer, now + lo->delay > lo->deadline ? lo->deadline : now + lo->delay);
        return 0;
}

static void native_ctx_free(void *state) {
        struct native_ctx *nc = state;
        tf_source_remove(nc->events_source);
        /* The loop has stopped: one last try each, nothing waited for. */
        while (nc->leftovers) {
                struct leftover *lo = nc->leftovers;
                leftover_free(lo, !leftover_try(lo));
        }
        for (char **p = nc->one_paths; p && *p && nc->cg_host; p++) {
                const char *path = *p + 1;
                _cleanup_free_ char *parent = tf_strdup(path);
                char *name = strrchr(parent, '/');
                *name++ = 0;
                struct tf_cg *cg;
                if (tf_cg_open(nc->cg_host, *parent ? parent : "/", name, &cg, NULL) >= 0) {
                        if (tf_cg_remove(cg, NULL) < 0)
                                tf_log("warning: cgroup %s not removed: still busy", tf_cg_path(cg));
                        tf_cg_free(cg);
                }
                (void) tf_cg_rmdir_others(path, false);
                if (**p == '1' && *parent)
                        tf_cg_rmdir_parent(nc->cg_host, parent);
        }
        tf_strv_free(nc->one_paths);
        tf_strv_free(nc->swept);
        tf_sandbox_cache_free(nc->sandbox_cache);
        tf_cg_host_free(nc->cg_host);
        tf_strv_free(nc->own_cgroups);
        free(nc);
}

static struct native_ctx *native_ctx_of(struct tf_run_ctx *c) {
        if (!c->backend_state[TF_RUN_CTX_NATIVE]) {
                struct native_ctx *nc = tf_malloc0(sizeof(*nc));
                nc->loop = c->loop;
                nc->sandbox_cache = tf_sandbox_cache_new();
                c->backend_state[TF_RUN_CTX_NATIVE] = nc;
                c->backend_state_free[TF_RUN_CTX_NATIVE] = native_ctx_free;
        }
        return c->backend_state[TF_RUN_CTX_NATIVE];
}

static struct native_ctx *native_ctx(struct tf_run *r) {
        return native_ctx_of(r->ctx);
}

/* The process's cgroup host description, detected at the first use in this run context. */
static int ctx_cg_host(struct native_ctx *nc, struct tf_cg_host **ret, tf_error **err) {
        if (!nc->cg_host) {
                int k = tf_cg_host_new(&nc->cg_host, err);
                if (k < 0)
                        return k;
        }
        *ret = nc->cg_host;
        return 0;
}

int tf_native_cg_host(struct tf_run_ctx *c, struct tf_cg_host **ret, tf_error **err) {
        return ctx_cg_host(native_ctx_of(c), ret, err);
}

static int native_cg_host(struct tf_run *r, struct tf_cg_host **ret, tf_error **err) {
        return ctx_cg_host(native_ctx(r), ret, err);
}

/* Some watched cgroup changed: every run waiting for its cgroup checks its own. */
static int on_cg_events(struct tf_source *s, int fd, uint32_t events, void *userdata) {
        struct native_ctx *nc = userdata;
        tf_cg_events_drain(nc->cg_host);
        struct tf_run *done[64];
        size_t k = 0;
        for (struct native *n = nc->draining; n && k < ELEMENTSOF(done); n = n->drain_next)
                if (!tf_cg_populated(n->cg))
                        done[k++] = n->run;
        /* Ends after the walk: drain_done() unlinks. More than 64 at once wait for their timers. */
        for (size_t i = 0; i < k; i++)
                drain_done(done[i]);
        return 0;
}

static int drain_link(struct tf_run *r, tf_error **err) {
        struct native_ctx *nc = native_ctx(r);
        struct native *n = r->backend;
        if (!nc->events_source) {
                int fd = tf_cg_events_fd(nc->cg_host);
                if (fd < 0)
                        return tf_error_setc(err, fd, "inotify");
                int ret = tf_loop_add_io(nc->loop, fd, EPOLLIN, on_cg_events, nc, &nc->events_source, err);
                if (ret < 0)
                        return ret;
        }
        n->run = r;
        n->drain_next = nc->draining;
        nc->draining = n;
        n->draining = true;
        return 0;
}

static void drain_unlink(struct tf_run *r) {
        struct native *n = r->backend;
        if (!n->draining)
                return;
        struct native_ctx *nc = native_ctx(r);
        for (struct native **p = &nc->draining; *p; p = &(*p)->drain_next)
                if (*p == n) {
                        *p = n->drain_next;
                        break;
                }
        n->draining = false;
}

/* A child that was sent SIGKILL but is not reaped yet (pidfd, -1 if none) and a cgroup not removed yet
 * (cg, NULL if none; own_name: its name in own_cgroups, or NULL); all are taken. leftover_start() makes
 * the first try and, when something is left, retries from the loop. */
static struct leftover *leftover_new(struct native_ctx *nc, int pidfd, pid_t pid, struct tf_cg *cg,
                                     char *own_name) {
        struct leftover *lo = tf_malloc0(sizeof(*lo));
        *lo = (struct leftover){ .nc = nc, .pidfd = pidfd, .pid = pid, .cg = cg, .own_name = own_name,
                                 .delay = 10 * TF_USEC_PER_MSEC };
        lo->cg_path = cg ? tf_strdup(tf_cg_path(cg)) : NULL;
        return lo;
}

static void leftover_start(struct leftover *lo) {
        struct native_ctx *nc = lo->nc;
        lo->next = nc->leftovers;
        nc->leftovers = lo;
        if (leftover_try(lo)) {
                leftover_free(lo, false);
                return;
        }
        uint64_t now = tf_now(CLOCK_MONOTONIC);
        lo->deadline = now + LEFTOVER_MAX_USEC;
        _cleanup_error_ tf_error *e = NULL;
        if (lo->pidfd >= 0 &&
            tf_loop_add_io(nc->loop, lo->pidfd, EPOLLIN, on_leftover_pidfd, lo, &lo->pid_source, &e) < 0)
                tf_log("warning: %s", e->msg);
        tf_error_free(TAKE_PTR(e));
        /* The timer bounds the wait, and retries what has no event of its own. */
        if (tf_loop_add_timer(nc->loop, CLOCK_MONOTONIC, now + lo->delay, on_leftover_timer, lo, &lo->timer,
                              &e) < 0) {
                tf_log("warning: %s", e->msg);
                leftover_free(lo, true);
                return;
        }
        tf_loop_hold(nc->loop);
}

static void leftover_add(struct tf_run *r, int pidfd, pid_t pid, struct tf_cg *cg, char *own_name) {
        leftover_start(leftover_new(native_ctx(r), pidfd, pid, cg, own_name));
}

static void native_cleanup(struct tf_run *r) {
        struct native *n = r->backend;
        if (!n)
                return;
        tf_source_remove(n->pid_source);
        n->pid_source = NULL;
        close_sock(n);
        if (n->pidfd >= 0 && !n->exited)
                syscall(SYS_pidfd_send_signal, n->pidfd, SIGKILL, NULL, 0);
        drain_unlink(r);
        tf_source_remove(n->drain_timer);
        n->drain_timer = NULL;
        /* Normally the cgroup is empty by now (drain()) and goes in one rmdir per hierarchy; what is
         * still busy, or a child not reaped yet, is finished from the loop by a leftover. */
        struct tf_cg *busy = NULL;
        if (n->cg) {
                _cleanup_error_ tf_error *e = NULL;
                int ret = tf_cg_remove(n->cg, &e);
                if (ret == -EBUSY)
                        busy = n->cg;
                else {
                        if (ret < 0)
                                tf_log("warning: %s", e->msg);
                        tf_cg_free(n->cg);
                        own_remove(native_ctx(r), n->cg_name);
                }
                n->cg = NULL;
        }
        int pidfd = n->pidfd;
        if (pidfd >= 0 && n->exited) {
                close(pidfd);
                pidfd = -1;
        }
        if (pidfd >= 0 || busy)
                leftover_add(r, pidfd, n->pid, busy, busy ? TAKE_PTR(n->cg_name) : NULL);
        free(n->cg_name);
        if (n->status_fd >= 0)
                close(n->status_fd);
        free(n->fail_msg);
        tf_cg_plan_free(n->cg_plan);
        tf_sandbox_plan_free(n->sandbox);
        free(n);
        r->backend = NULL;
}

const struct tf_backend_ops tf_native_backend = {
        .name = "native",
        .shares_pgrp = true,
        .check = native_check,
        .start = native_start,
        .signal = native_signal,
        .collect = native_collect,
        .cleanup = native_cleanup,
};

/*
 * What a tfrun that is gone (killed with SIGKILL, crashed) left: PR_SET_PDEATHSIG ends its main child,
 * not what that child forked, which lives on in the run's cgroup; and the cgroup stays in every
 * hierarchy. Before a run creates its cgroup, the cgroups of the same service below the same parent
 * whose tfrun is gone are killed and removed, as the docker backend removes containers by label. The
 * cgroup/ module lists, kills and removes; what may be taken is decided here, from the name
 * "tfrun-<service>-<tfrun pid>-<n>" and that pid. Never waited for: a cgroup that does not empty at once
 * is a leftover (re-killed and retried from the loop for at most LEFTOVER_MAX_USEC, then a warning; the
 * next run tries again).
 */

/* "tfrun-<service>-<pid>-<n>" -> service, pid; -EINVAL for any other name. Read from the end: a service
 * name may hold '-' and digits ("a-1"), the two numbers after it may not. */
static int parse_leaf(const char *leaf, char **ret_service, pid_t *ret_pid) {
        if (!tf_startswith(leaf, "tfrun-"))
                return -EINVAL;
        const char *s = leaf + strlen("tfrun-"), *e = s + strlen(s), *d[2];
        for (int k = 0; k < 2; k++) {
                const char *q = e;
                while (q > s && q[-1] >= '0' && q[-1] <= '9')
                        q--;
                if (q == e || q - 1 <= s || q[-1] != '-' || e - q > 10)
                        return -EINVAL;
                d[k] = q;
                e = q - 1;
        }
        char *end;
        errno = 0;
        long pid = strtol(d[1], &end, 10);
        if (errno || *end != '-' || pid <= 0 || pid > INT32_MAX)
                return -EINVAL;
        *ret_service = tf_strndup(s, (size_t) (e - s));
        *ret_pid = (pid_t) pid;
        return 0;
}

/* Field 22 of /proc/PID/stat, the start time in clock ticks since boot; 0 when unknown. */
static uint64_t proc_start_time(pid_t pid) {
        char path[64], buf[1024];
        snprintf(path, sizeof(path), "/proc/%d/stat", (int) pid);
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
        ssize_t k = fd < 0 ? -1 : read(fd, buf, sizeof(buf) - 1);
        if (k <= 0)
                return 0;
        buf[k] = 0;
        /* The name in parentheses may hold spaces and ')': the fields start after the last ')'. */
        char *p = strrchr(buf, ')'), *save = NULL;
        if (!p)
                return 0;
        int field = 3;
        for (char *t = strtok_r(p + 1, " ", &save); t; t = strtok_r(NULL, " ", &save), field++) {
                uint64_t v;
                if (field == 22)
                        return tf_parse_u64(t, &v) == 0 ? v : 0;
        }
        return 0;
}

enum owner {
        OWNER_ALIVE,  /* a tfrun that may have made it: leave it alone */
        OWNER_GONE,   /* no process has that pid */
        OWNER_REUSED, /* the pid is another process's now */
};

/* Whether the tfrun with pid `pid`, which made the cgroup named leaf (cg), still runs. A process with
 * that pid is another one when it is not a tfrun (/proc/PID/comm; the pid namespace's init of a
 * `pid: private` run calls itself tfrun-init), or when it started after a process in the cgroup (a
 * tfrun's runs are its descendants: they start after it). The pidfd makes the reads about one process:
 * had it ended meanwhile and its pid gone to another, the pidfd would tell. What cannot be read
 * (hidepid) counts as alive. */
static enum owner owner_of(struct native_ctx *nc, const char *leaf, pid_t pid, struct tf_cg *cg) {
        if (pid == getpid())
                /* This process's own, unless a tfrun before it had the same pid. */
                return tf_strv_contains(nc->own_cgroups, leaf) ? OWNER_ALIVE : OWNER_REUSED;
        _cleanup_close_ int pfd = (int) syscall(SYS_pidfd_open, pid, 0);
        if (pfd < 0) {
                if (errno == ESRCH)
                        return OWNER_GONE;
                if (errno == EINVAL)
                        return OWNER_REUSED; /* a thread of another process, not a process */
                if (errno == ENOSYS && kill(pid, 0) < 0 && errno == ESRCH)
                        return OWNER_GONE;
                return OWNER_ALIVE;
        }
        char path[64], comm[32] = "";
        snprintf(path, sizeof(path), "/proc/%d/comm", (int) pid);
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
        ssize_t k = fd < 0 ? -1 : read(fd, comm, sizeof(comm) - 1);
        if (k <= 0)
                return OWNER_ALIVE;
        comm[k] = 0;
        comm[strcspn(comm, "\n")] = 0;
        enum owner o = OWNER_ALIVE;
        if (!tf_startswith(comm, "tfrun") || streq(comm, "tfrun-init"))
                o = OWNER_REUSED;
        uint64_t start = proc_start_time(pid);
        _cleanup_free_ pid_t *pids = NULL;
        size_t n = 0;
        if (o == OWNER_ALIVE && start > 0 && tf_cg_pids(cg, &pids, &n, NULL) >= 0)
                for (size_t i = 0; i < n && o == OWNER_ALIVE; i++) {
                        uint64_t t = proc_start_time(pids[i]);
                        if (t > 0 && t < start)
                                o = OWNER_REUSED;
                }
        if (syscall(SYS_pidfd_send_signal, pfd, 0, NULL, 0) < 0 && errno == ESRCH)
                return OWNER_GONE;
        return o;
}

int tf_native_sweep(struct tf_run_ctx *c, const char *cgroup_parent, const char *service, tf_error **err) {
        struct native_ctx *nc = native_ctx_of(c);
        struct tf_cg_host *h;
        int ret = ctx_cg_host(nc, &h, err);
        if (ret < 0)
                return ret;
        _cleanup_free_ char *prefix = service ? tf_asprintf("tfrun-%s-", service) : tf_strdup("tfrun-");
        _cleanup_strv_free_ char **names = NULL;
        ret = tf_cg_list(h, cgroup_parent, prefix, &names, err);
        if (ret < 0)
                return ret;
        for (char **p = names; p && *p; p++) {
                _cleanup_free_ char *svc = NULL;
                pid_t pid;
                if (parse_leaf(*p, &svc, &pid) < 0 || (service && !streq(svc, service)))
                        continue;
                _cleanup_error_ tf_error *e = NULL;
                struct tf_cg *cg;
                if (tf_cg_open(h, cgroup_parent, *p, &cg, &e) < 0) {
                        if (e->code != ENOENT) /* gone meanwhile: someone else swept it */
                                tf_log("warning: %s: %s", svc, e->msg);
                        continue;
                }
                enum owner o = owner_of(nc, *p, pid, cg);
                /* The pid in the name is the maker's in its own pid namespace: a tfrun in a container
                 * that shares these hierarchies names its cgroups with pids that mean other processes
                 * here. Its lock on the directory says it lives; ours, taken, is kept until the cgroup
                 * is gone, so that it cannot start using the cgroup meanwhile. */
                if (o != OWNER_ALIVE && tf_cg_take(cg) < 0)
                        o = OWNER_ALIVE;
                if (o == OWNER_ALIVE) {
                        tf_cg_free(cg);
                        continue;
                }
                if (tf_cg_kill(cg, SIGKILL, &e) < 0)
                        tf_log("warning: %s: %s", svc, e->msg);
                /* A workflow's cgroup holds its steps' (the kill above reached them): they go first, the
                 * parent's removal is retried until they are gone. */
                _cleanup_free_ char *below =
                        cgroup_parent ? tf_asprintf("%s/%s", cgroup_parent, *p) : tf_strdup(*p);
                _cleanup_error_ tf_error *ce = NULL;
                if (tf_native_sweep(c, below, NULL, &ce) < 0)
                        tf_log("warning: %s: %s", svc, ce->msg);
                struct leftover *lo = leftover_new(nc, -1, 0, cg, NULL);
                lo->swept_service = TAKE_PTR(svc);
                lo->swept_run = tf_strdup(*p + strlen("tfrun-"));
                lo->swept_pid = pid;
                lo->swept_reused = o == OWNER_REUSED;
                if (cgroup_parent && cgroup_parent[0] == '/')
                        lo->others_path = tf_strdup(below); /* a workflow's with container steps */
                leftover_start(lo);
        }
        /* Every service's, as a manager does at its start: no run below this parent looks again. */
        if (!service) {
                _cleanup_free_ char *all = swept_key(cgroup_parent, NULL);
                if (!tf_strv_contains(nc->swept, all))
                        tf_strv_push(&nc->swept, all);
        }
        return 0;
}

/* The one path of a workflow's cgroup parent when containers run below it (their CgroupParent names one
 * path for every hierarchy): an absolute --cgroup-parent (the manager's budget), else below the deepest of
 * tfrun's own cgroups, which is below tfrun's own cgroup in every hierarchy. */
static char *one_path_base(struct tf_run *r, struct tf_cg_host *h) {
        const char *p = r->opts->cgroup_parent, *own = tf_cg_host_deepest_own(h);
        if (p && p[0] == '/')
                return tf_strdup(p);
        if (!p)
                return tf_strdup(own);
        return tf_asprintf("%s/%s", streq(own, "/") ? "" : own, p);
}

static char *path_join(const char *parent, const char *name) {
        if (!parent)
                return tf_strdup(name);
        return tf_asprintf("%s/%s", streq(parent, "/") ? "" : parent, name);
}

int tf_native_parent_create(struct tf_run *r, bool one_path, struct tf_cg **ret_cg, char **ret_name,
                            char **ret_path, tf_error **err) {
        struct tf_cg_host *h;
        int ret = native_cg_host(r, &h, err);
        if (ret < 0)
                return ret;
        _cleanup_free_ char *base = one_path ? one_path_base(r, h) : NULL;
        const char *parent = base ?: r->opts->cgroup_parent;
        /* Below tfrun's own cgroup a missing ancestor is made (and removed with the workflow's cgroup). */
        bool make = base && !(r->opts->cgroup_parent && r->opts->cgroup_parent[0] == '/');
        _cleanup_strv_free_ char **made = NULL;
        if (make && (ret = tf_cg_make_parent(h, base, &made, err)) < 0)
                return ret;
        _cleanup_error_ tf_error *se = NULL;
        if (tf_native_sweep(r->ctx, parent, r->spec->name, &se) < 0)
                tf_log("warning: %s: looking for cgroups left by an earlier tfrun: %s", r->spec->name,
                       se->msg);
        _cleanup_free_ char *name = tf_asprintf("tfrun-%s", r->run_id);
        struct tf_cg_options o = { .parent = parent, .name = name,
                                   .spec_path = r->spec->path, .every_controller = true };
        /* Another workflow's end may remove an ancestor just made (it was empty): make it again. */
        for (int tries = 0;; tries++) {
                _cleanup_error_ tf_error *ce = NULL;
                ret = tf_cg_create(h, &r->spec->limits, &o, ret_cg, &ce);
                if (ret >= 0)
                        break;
                if (!make || ret != -ENOENT || tries >= 3 || (ret = tf_cg_make_parent(h, base, &made, err)) < 0) {
                        if (ce && err && !*err)
                                *err = TAKE_PTR(ce);
                        tf_cg_rmdirs(made); /* what is not empty (another run's) stays */
                        return ret;
                }
        }
        own_add(native_ctx(r), name);
        *ret_path = path_join(parent, name);
        if (base) {
                _cleanup_free_ char *e = tf_asprintf("%c%s", make ? '1' : '0', *ret_path);
                tf_strv_push(&native_ctx(r)->one_paths, e);
        }
        *ret_name = TAKE_PTR(name);
        return 0;
}

int tf_native_parent_check(struct tf_run *r, tf_error **err) {
        struct tf_cg_host *h;
        int ret = native_cg_host(r, &h, err);
        if (ret < 0)
                return ret;
        /* Below tfrun's own cgroups (one_path or not: the ancestors a one-path cgroup needs are made when it
         * is, not here), or below an absolute --cgroup-parent, the same either way. */
        _cleanup_free_ char *name = tf_asprintf("tfrun-%s", r->run_id);
        struct tf_cg_options o = { .parent = r->opts->cgroup_parent, .name = name,
                                   .spec_path = r->spec->path, .every_controller = true };
        return tf_cg_check(h, &r->spec->limits, &o, NULL, err);
}

void tf_native_parent_remove(struct tf_run *r, struct tf_cg *cg, char *name, const char *one_path) {
        if (!cg) {
                free(name);
                return;
        }
        /* Through the leftovers: the steps' cgroups below it may still be going (their own leftovers). */
        struct leftover *lo = leftover_new(native_ctx(r), -1, 0, cg, name);
        if (one_path) {
                lo->others_path = tf_strdup(one_path);
                lo->ancestors = !(r->opts->cgroup_parent && r->opts->cgroup_parent[0] == '/');
        }
        leftover_start(lo);
        if (one_path) {
                /* The engine's runtime, deleting a container an earlier tfrun left (swept by label when the
                 * step started), makes its CgroupParent again in every hierarchy: that earlier workflow's
                 * cgroup, swept at this run's start, is back (empty) by now. */
                _cleanup_free_ char *parent = tf_strdup(one_path);
                *strrchr(parent, '/') = 0;
                _cleanup_error_ tf_error *se = NULL;
                if (tf_native_sweep(r->ctx, *parent ? parent : "/", r->spec->name, &se) < 0)
                        tf_log("warning: %s: looking for cgroups left by an earlier tfrun: %s", r->spec->name,
                               se->msg);
        }
}
