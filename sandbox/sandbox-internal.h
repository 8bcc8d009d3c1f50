/* SPDX-License-Identifier: MIT */
#pragma once

/* What sandbox.c (the parent side) and child.c (the child side) share; not part of the public API. */

#include <linux/capability.h>
#include <linux/filter.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "spec/caps.h" /* tf_cap_name(): the capability table, inline, so child.c imports nothing */

#ifndef PR_CAP_AMBIENT
#define PR_CAP_AMBIENT 47
#define PR_CAP_AMBIENT_RAISE 2
#define PR_CAP_AMBIENT_CLEAR_ALL 4
#endif

#define CAPBIT(c) (UINT64_C(1) << (c))

/* tfrun-init's bytes (init-embed.c), on architectures that build it. */
extern const unsigned char tf_init_binary[];
extern const size_t tf_init_binary_size;

struct plan_mount {
        int source_fd; /* O_PATH, pinned at prepare time */
        char *target;
        bool read_only;
        bool is_dir;
        bool create_in_tmp; /* target lies in the private /tmp and is created there */
        unsigned depth;
};

/* A cgroup filesystem of the host's, mounted afresh in the service's cgroup namespace so that the
 * service sees its own cgroup as the root, as in a container. */
struct plan_cgmount {
        char *target;
        bool v2;
        char *data; /* v1: the hierarchy's controllers and name=, as mount(2) data */
};

struct tf_sandbox_plan {
        /* capabilities */
        bool manage_caps; /* tfrun is root: bounding set and capability sets are ours to set */
        unsigned cap_last;
        uint64_t caps;    /* final set: bounding, and effective/permitted for a uid-0 service */
        uint64_t ambient; /* explicitly added: raised as ambient for a non-root service */
        bool no_new_privs;

        /* seccomp */
        bool seccomp;
        struct sock_fprog prog;
        unsigned seccomp_flags;

        /* namespaces and mounts */
        bool unshare_net, unshare_mnt, read_only_root, private_tmp, pid_private;
        bool unshare_ipc, unshare_uts, unshare_cgroup;
        bool mask_system_paths; /* tf_sandbox_masked_paths and tf_sandbox_readonly_paths */
        /* tfrun is not root: the child is cloned into a user namespace of its own (CLONE_NEWUSER) that
         * maps only tfrun's uid and gid, so that it may create the other namespaces and mount. */
        bool userns;
        uid_t outer_uid;
        gid_t outer_gid;
        struct plan_cgmount *cgmounts;
        size_t n_cgmounts;
        struct plan_mount *mounts;
        size_t n_mounts;
};

/* bpf-compact.c: `f` rewritten smaller with the same verdict for every input, checked before it is
 * returned (a new array in *ret). -EOPNOTSUPP when it cannot be made smaller or proven equal, -ENOMEM. */
int tf_bpf_compact(const struct sock_filter *f, size_t len, struct sock_filter **ret, size_t *ret_len);
