/* SPDX-License-Identifier: MIT */
#pragma once

#include "sandbox/init-proto.h"

/*
 * The native backend's sandbox: a spec's `sandbox:` and `mounts:` sections enforced on a child process
 * with the effect Docker gives a container. It is the default: no `sandbox:` key means `sandbox: {}`
 * (Docker's seccomp profile, capabilities and no_new_privileges; private mount, pid, ipc, uts and cgroup
 * namespaces; Docker's masked and read-only paths; /sys read-only). Only `sandbox: host` (spec.host)
 * runs the plain child, and native.c then makes no plan at all.
 *
 * Everything that can fail for a reason a person must fix is decided in the PARENT by
 * tf_sandbox_prepare(): capability names resolved against the running kernel, the final capability sets
 * computed as Docker computes them, the seccomp profile parsed (jansson) and compiled once (libseccomp)
 * into raw BPF, mount sources opened without following any symbolic link. The child then only makes
 * system calls: no allocation, no stdio, no NSS, so it is safe between fork and exec.
 *
 * Order in the child (runner/native.c follows it; the child-side steps live in sandbox/child.c, which
 * neither allocates nor prints):
 *   clone3                          CLONE_NEWPID (pid private), CLONE_NEWUSER (tfrun not root):
 *                                   tf_sandbox_plan_clone_flags()
 *   cgroup placement                before the cgroup namespace, whose root is where the child is then
 *   tf_sandbox_child_namespaces()   uid/gid map (user namespace), unshare mount, network, ipc, uts, cgroup;
 *                                   lo up; read-only root, /proc, masked and read-only paths, mqueue and
 *                                   /dev/shm, fresh cgroup mounts, /sys read-only, private /tmp, binds
 *   (pid: private) fork             the child stays as the pid namespace's init; the service goes on
 *   working_dir chdir               after the binds: working_dir may lie inside a mount target
 *   rlimits
 *   tf_sandbox_child_bounding()     bounding set dropped, PR_SET_KEEPCAPS (needs the privileges of root)
 *   user switch                     setgroups, setresgid, setresuid
 *   tf_sandbox_child_privileges()   capability sets, ambient capabilities, no_new_privs, seccomp
 *   execve                          nothing may run between privileges() and exec but the exec itself
 *
 * Capabilities (tfrun running as root):
 *   - the final set is Docker's: (defaults - cap_drop) + cap_add, "ALL" in cap_add means the engine's
 *     list, pinned as Docker 20.10 has it (CHOWN..AUDIT_READ, capabilities 0..37; not PERFMON, BPF,
 *     CHECKPOINT_RESTORE, which only cap_add by name grants natively and Docker 20.10 refuses as
 *     "unknown capability") minus cap_drop, "ALL" in cap_drop means only cap_add. Defaults are moby's
 *     oci/caps/defaults.go: CHOWN DAC_OVERRIDE FSETID FOWNER MKNOD NET_RAW SETGID SETUID SETFCAP SETPCAP
 *     NET_BIND_SERVICE SYS_CHROOT KILL AUDIT_WRITE.
 *   - the bounding set becomes the final set. A uid-0 service gets it as effective and permitted.
 *   - a root service whose final set holds a capability tfrun's own bounding set lacks (a host that
 *     withholds one, e.g. SYS_RESOURCE, from every process) is refused before start on both backends,
 *     naming it ("add SYS_RESOURCE to cap_drop"): natively capset would fail, and runc fails the same way.
 *   - a non-root service holds nothing after execve: cap_add widens its bounding set only, as in Docker
 *     (CapInh CapPrm CapEff CapAmb 0; moby issues 8460, 45491). sandbox.cap_ambient: true (native
 *     only; the docker backend refuses it) keeps the capabilities named in cap_add as inheritable,
 *     permitted, effective and ambient, so that they survive execve of an ordinary binary:
 *     "cap_add: [NET_BIND_SERVICE], cap_ambient: true" with "user: nobody" binds port 80.
 * Capabilities (tfrun not root): tfrun cannot grant or shrink anything. cap_add is refused; cap_drop is
 *   accepted only with no_new_privileges (the bounding set cannot change without CAP_SETPCAP, but with
 *   no_new_privs the service can never gain a capability it does not hold, and it holds none).
 *
 * Seccomp: `default` is Docker's default profile, pinned (moby profiles/seccomp v0.2.3, shipped in
 * sandbox/seccomp-default.json, named in seccomp-default.c) and `FILE` a Docker-format profile; both take
 * the same path: parsed with jansson, filtered by arch/caps/minKernel as moby's setupSeccomp() does (caps
 * tested against the final capability set), compiled with libseccomp. `unconfined`: no filter. The filter is
 * installed last, after no_new_privs; with no_new_privileges: false it is installed before the capability
 * step (as runc does, because seccomp(2) then needs CAP_SYS_ADMIN), so a custom profile must then allow
 * capset and prctl. Syscalls newer than the profile answer ENOSYS, as under runc (sandbox.c, enosys_stub()).
 *
 * The default namespaces (tfrun root, or not root in a user namespace of the child's own):
 *   - mount: always; / made recursively MS_SLAVE (host mounts still propagate in, nothing propagates out).
 *   - pid (unless pid: host): below. ipc (unless ipc: host): a new IPC namespace, a fresh mqueue on
 *     /dev/mqueue and a 64 MiB tmpfs on /dev/shm. uts (unless uts: host): a copy of the host's, hostname
 *     kept. cgroup (unless cgroupns: host): unshared after placement, so its root is the service's cgroup;
 *     the host's cgroup filesystems under /sys (found in /proc/self/mountinfo at prepare time) are mounted
 *     afresh there, read-only, through fsopen/fsmount (mount(2) refuses the same filesystem again on its
 *     own mount point), so that /sys/fs/cgroup shows the service's cgroup at its top, as in a container.
 *   - system_paths: masked (the default): tf_sandbox_masked_paths (a file: /dev/null bound over; a
 *     directory: an empty read-only tmpfs) and tf_sandbox_readonly_paths (bound read-only onto
 *     themselves), on the pid namespace's fresh /proc and on /sys; absent paths are skipped.
 *   - /sys read-only, recursively (mount_setattr AT_RECURSIVE): the cgroup tree above the service, and
 *     its own limits, answer EROFS. tfrun's parent keeps the host's view for placement, kill and removal.
 *   - tfrun not root: clone3 adds CLONE_NEWUSER; the child maps only tfrun's uid and gid (setgroups
 *     denied) before anything else, holds every capability in that namespace for the mounts, and loses
 *     them at execve (its uid is not 0 there). Where the kernel allows no unprivileged user namespace,
 *     tf_sandbox_prepare() refuses (EPERM) naming the knob and `sandbox: host`.
 * Namespaces and mounts on request (tfrun must be root):
 *   - network: none: a new network namespace whose `lo` is brought up (ioctl SIOCSIFFLAGS), before the
 *     mounts make /proc/sys read-only. /proc/net shows the new namespace; /sys/class/net still shows the
 *     host's (sysfs is not remounted).
 *   - read_only_root: every mount under / read-only at once (mount_setattr AT_RECURSIVE, Linux >= 5.12,
 *     where bubblewrap walks /proc/self/mountinfo and remounts each), except the API filesystems a
 *     container also has writable: /proc, /dev/shm, /dev/pts, /dev/mqueue. A private /tmp and rw binds
 *     are mounted after, so they stay writable.
 *   - private_tmp: a fresh tmpfs (mode 1777, nosuid, nodev) on /tmp.
 *   - mounts: recursive binds (Docker's rbind, rprivate), read-only recursively when read_only; mounted
 *     parents first (sorted by target depth, as Docker does). Sources: no symbolic link in any component,
 *     must exist; the source is pinned by an O_PATH descriptor at prepare time, so a swap after the check
 *     cannot redirect the bind. Targets: must exist on the host with the source's type (directory or
 *     not), contain no symbolic link, and are never created on the host; the one exception is a target
 *     under /tmp with private_tmp, created inside the private tmpfs (it exists only in the service's
 *     mount namespace).
 *   - network: none also sets net.ipv4.ip_unprivileged_port_start to 0 in the new namespace, as Docker
 *     does for every container with a network namespace of its own: any user binds any port on `lo`.
 *   - pid: private (also unset, the default): the child is cloned into a new pid namespace
 *     (CLONE_NEWPID, native.c) and is its pid 1; tf_sandbox_child_namespaces() mounts a fresh procfs on
 *     /proc in the new mount namespace. native.c then forks the service as pid 2 and stays as a minimal
 *     init (see there).
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/error.h"
#include "spec/spec.h"

/* Bounds: the child keeps per-mount state on its stack. */
#define TF_SANDBOX_MAX_MOUNTS 64

struct tf_sandbox_plan;

/* In the parent, before fork. Validates spec->sandbox and spec->mounts and compiles everything the child
 * needs. `running_as_root`: tfrun's effective uid is 0 (namespaces, mounts and capability changes need
 * it). On success *ret owns a new plan, which may serve any number of forks. Errors (-EINVAL bad value,
 * -ENOENT missing mount source, -ELOOP symlink in a path, -EOPNOTSUPP not possible here, -errno from the
 * system) fill *err with "FILE:LINE:COL: key: cause". The plan holds open O_CLOEXEC descriptors (mount
 * sources) until freed. */
int tf_sandbox_prepare(const struct tf_spec *spec, bool running_as_root, struct tf_sandbox_plan **ret,
                       tf_error **err);

/* What tf_sandbox_prepare() reads of the host and of the filter cache on disk, kept for the next plans of
 * one long-lived process (a manager, a resident service, a workflow): the cgroup mounts of
 * /proc/self/mountinfo and the compiled seccomp filters, under the same key as on disk. Read at a
 * process's first plan, that was about 0.3 ms of each sandboxed launch (docs/benchmarks.md). A cgroup
 * hierarchy mounted or unmounted later is seen by the next process. Not thread-safe; NULL-safe free. */
struct tf_sandbox_cache;
struct tf_sandbox_cache *tf_sandbox_cache_new(void);
void tf_sandbox_cache_free(struct tf_sandbox_cache *c);
/* tfrun-init (sandbox/init.c, init-proto.h) as a descriptor to execveat(fd, "", ..., AT_EMPTY_PATH), made
 * once per cache and owned by it; -EOPNOTSUPP where this build has none (not x86-64), or the error that
 * made it impossible (a memfd the host will not execute is found at the execveat). */
int tf_sandbox_init_program(struct tf_sandbox_cache *c);
/* tf_sandbox_prepare() through `cache` (NULL: none). */
int tf_sandbox_prepare_cached(struct tf_sandbox_cache *cache, const struct tf_spec *spec, bool running_as_root,
                              struct tf_sandbox_plan **ret, tf_error **err);

/* Docker's default seccomp profile as pinned (sandbox/seccomp-default.c): the Docker-format JSON text behind
 * `seccomp: default` on both backends, and the revision it is, for messages and docs. */
extern const char tf_seccomp_default_profile[];
extern const char tf_seccomp_default_revision[];

/* Docker's masked and read-only paths as pinned (sandbox/system-paths.c), NULL-terminated: what the
 * default `system_paths: masked` means on both backends, and the revision they come from. */
extern const char *const tf_sandbox_masked_paths[];
extern const char *const tf_sandbox_readonly_paths[];
extern const char tf_sandbox_system_paths_revision[];

/* For the docker backend: parse and compile a `seccomp: FILE` profile exactly as the native backend would,
 * so that a profile the engine would only reject at start (unknown action or architecture) is refused
 * before any container exists, with the same message on both backends. 0 for default/unconfined. */
int tf_sandbox_check_seccomp_profile(const struct tf_spec *spec, tf_error **err);

/* For the docker backend: the capability set the container's root would hold, checked as natively
 * against tfrun's own bounding set (the engine's on this host), so that runc's bare "unable to apply
 * caps" becomes the native message naming the capability, before any container exists. */
int tf_sandbox_check_capabilities(const struct tf_spec *spec, tf_error **err);

/* NULL-safe; returns NULL. */
struct tf_sandbox_plan *tf_sandbox_plan_free(struct tf_sandbox_plan *p);
static inline void tf_sandbox_plan_freep(struct tf_sandbox_plan **p) {
        if (*p)
                tf_sandbox_plan_free(*p);
}
#define _cleanup_sandbox_plan_ __attribute__((cleanup(tf_sandbox_plan_freep)))

/* For messages, `tfrun explain` and tests. */
uint64_t tf_sandbox_plan_capabilities(const struct tf_sandbox_plan *p); /* final (bounding) set, bit = cap */
uint64_t tf_sandbox_plan_ambient(const struct tf_sandbox_plan *p);      /* raised for non-root services */
bool tf_sandbox_plan_has_seccomp(const struct tf_sandbox_plan *p);
bool tf_sandbox_plan_pid_private(const struct tf_sandbox_plan *p); /* NULL-safe: false */
/* The namespace flags the child must be cloned with (CLONE_NEWPID, CLONE_NEWUSER for a non-root tfrun);
 * the others it unshares itself. NULL-safe: 0. */
uint64_t tf_sandbox_plan_clone_flags(const struct tf_sandbox_plan *p);
size_t tf_sandbox_plan_seccomp_instructions(const struct tf_sandbox_plan *p);

/* Child side, between fork and exec, in the order above. Each makes only system calls (no allocation, no
 * stdio), returns 0 or -errno, and on failure writes a short description of the failing step into
 * what[len] ("sandbox: unshare(CLONE_NEWNS)", "mounts: bind onto /data"); the caller appends
 * strerror. */
int tf_sandbox_child_namespaces(const struct tf_sandbox_plan *p, char *what, size_t len);
int tf_sandbox_child_bounding(const struct tf_sandbox_plan *p, char *what, size_t len);
int tf_sandbox_child_privileges(const struct tf_sandbox_plan *p, char *what, size_t len);

/* For the init of a private pid namespace, once the service is forked: keep only CAP_KILL (to forward
 * signals to a service of another uid) in every set, clear the ambient set, set no_new_privs. The init
 * then holds less than any service. Same contract as the child steps above. */
int tf_sandbox_init_privileges(char *what, size_t len);

/* Last, for the same init (after tf_sandbox_init_privileges: needs no_new_privs): not dumpable, and a
 * filter that allows only rt_sigtimedwait, wait4, kill, write, exit_group, exit and restart_syscall on
 * the native architecture, killing the init on anything else. A service that could ptrace its init
 * (CAP_SYS_PTRACE) gains nothing its own filter denies. */
int tf_sandbox_init_filter(char *what, size_t len);
