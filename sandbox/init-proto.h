/* SPDX-License-Identifier: MIT */
/*
 * What runner/native.c and tfrun-init (sandbox/init.c) agree on: the descriptors the init finds, the
 * mark of a signal meant for the whole namespace, and the message a child sends tfrun when it cannot
 * exec. Freestanding: included by the init, which has no libc.
 */
#pragma once

/* The init's descriptors after its execve: the status pipe (it writes the service's wait status) and
 * the exec handshake socket (a failure message; EOF once its setup is done). */
#define TF_INIT_STATUS_FD 3
#define TF_INIT_SOCK_FD 4

/* sival_int of a sigqueue from tfrun asking the init to signal every process of its namespace. */
#define TF_INIT_SIGNAL_ALL 0x74667275

/* Sent on the handshake socket by a child that cannot exec (or an init that cannot set itself up):
 * tfrun formats `text` with strerror(err). */
struct tf_child_msg {
        int exec_stage; /* 1: the service's execve failed (126/127); 0: setup failed (125) */
        int err;
        char text[512];
};
