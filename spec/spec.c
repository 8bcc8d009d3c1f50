/* SPDX-License-Identifier: MIT */
/*
 * spec/: service.yaml -> struct tf_spec. This file loads, frees and names; the rest lives in its rooms
 * (spec/spec-internal.h): yaml.c (the node tree), value.c (messages and typed values), env.c (env: and
 * env_file:), schema.c (the key tables and their parsers, the whole-document checks). The format:
 *
 * Reading
 * - A spec is one YAML document (libyaml, events API) whose top level is a mapping. It is read into a small
 *   node tree first (with 1-based line:column for every node), then checked key by key against the schema.
 * - Refused before the schema is looked at, each with its own message: files larger than 1 MiB, more than
 *   one document, anchors (&a), aliases (*a) and tags (!!str): none is needed for a spec, and refusing
 *   aliases rules out expansion bombs; nesting deeper than 16 levels; more than 1024 items in one list or
 *   keys in one mapping; keys that are not plain strings; NUL characters in values; tabs used for
 *   indentation (detected by tfrun, because libyaml's own message for them is cryptic).
 * - Unknown keys are errors, with a suggestion when a known key is close ("did you mean 'memory'?"), or
 *   when a top-level key belongs in a section (`memory:` -> 'limits.memory'). docker-compose's keys at the
 *   top level (volumes, environment, mem_limit, entrypoint, container_name, ports, depends_on, services,
 *   ...) name tfrun's key or say that there is none; `restart: always` (compose's string form) suggests
 *   `restart: {policy: always}`. Duplicate keys are errors.
 * - Every error message reads `FILE:LINE:COL: KEYPATH: what is wrong; expected WHAT[; did you mean 'X'?]`,
 *   with FILE as given to tf_spec_load(), LINE:COL 1-based and pointing at the offending key or value,
 *   and KEYPATH like `limits.io[0].device`. Messages about the document as a whole (empty, not a mapping,
 *   YAML syntax, tabs, too large) leave KEYPATH out. The return value is then -EINVAL. A file that cannot
 *   be read gives its errno (-ENOENT, -EISDIR, -EACCES) and "FILE: cannot open: <strerror>" or
 *   "FILE: is a directory, expected a spec file", without a position.
 * - Suggestions compare case-insensitively by edit distance (at most 1 for words of up to 3 letters, 2 up
 *   to 8, else 3), preferring a candidate with the same letters on a tie, so swapped letters find their
 * word.
 *
 * Values
 * - Scalars are text: a quoted "64" is accepted where a number is expected, and numbers or booleans given
 *   where a string is expected (env values, command arguments) are kept as written ("1.50" stays "1.50").
 *   A key with no value (`key:`, `key: ~`, `key: null`) is an error, never "unset": leave the key out.
 * - Booleans are `true` or `false` only; YAML 1.1's yes/no/on/off are refused with "expected true or false".
 * - Whole numbers are plain decimal. Sizes are bytes or a number with a binary suffix K, M, G, T (P, E;
 *   fractions allowed: 1.5G; 2G, 2GB and 2GiB all mean 2^31 bytes); memory, memory_high, memory_swap and
 *   pids also take `max` or `infinity` (TF_LIMIT_MAX). A size with a space or a spelled-out unit ('2 GB',
 *   '1.5 gigabytes') is refused with the accepted form suggested ('2G'). A bare number is bytes: below the
 *   1M minimum, a number up to 65536 is taken for a forgotten M ('512' -> '512M'), a larger one for bytes
 *   meant as a decimal megabyte ('1000000' -> '1M').
 *   Durations follow systemd: 90s, 1h30m, '1h 30min', 2d; a bare number is seconds.
 *
 * Keys (defaults in brackets)
 * - name [file basename without .yaml/.yml]: [a-z0-9][a-z0-9_.-]{0,62}. When name: is absent and the
 *   basename does not match, that is an error that suggests a valid name.
 * - description: any text.
 * - command: a list of strings (argv as is), or a string split like a POSIX shell would (quotes and
 *   backslashes; no expansion, no shell is run). Must yield at least one word. Required unless image: is set
 *   (then the image's own command runs). A shell operator outside quotes in the string (&& || | ; > >> <
 *   & 2>&1 $( `), alone or attached to a word, is refused with the operator's position: no shell would
 *   run it, and the program would get it as an argument. Write [sh, -c, '...'] for a shell, or quote it.
 * - image: a container image reference (no whitespace). backend [auto]: auto | native | docker.
 *   resolved_backend is docker when image: is set and backend is auto, else native. backend: native with
 *   an image and backend: docker without one are errors.
 * - working_dir: an absolute path. With sandbox.private_tmp on the native backend, a working_dir
 *   strictly under /tmp is refused unless a mount's target holds it: the private /tmp is empty, and nothing
 *   creates it (the docker engine creates a missing working directory, so docker specs may).
 * - env: a mapping NAME: value, NAME matching [A-Za-z_][A-Za-z0-9_]*. In values, ${VAR} and
 *   ${VAR:-default} (default used when VAR is unset or empty; taken literally) are replaced from the
 *   environment tfrun was given, $$ is a literal $. ${VAR} with VAR unset is an error, as is $VAR without
 *   braces (write ${VAR}, or $$VAR for the literal text). A $ before anything else stays literal.
 * - env_file: a path or a list of paths, relative to the spec's directory, read at load. Lines KEY=VALUE;
 *   blank lines and lines starting with # are skipped; an optional leading `export ` is dropped; a value
 *   wrapped in matching single or double quotes is unwrapped, otherwise trailing whitespace is trimmed.
 *   No interpolation in env files. Later files override earlier ones, and env: overrides them all.
 *   tf_spec.env holds one "NAME=VALUE" per name: env_file names first (in first-seen order, with their
 *   final values), then names only set by env:.
 * - user: "name", "uid", "uid:gid", "name:group" (also "uid:group", "name:gid"); numeric parts are filled
 *   into uid/gid (else (uid_t)-1 / (gid_t)-1) and names are resolved by the runner.
 * - limits: cpus (0.01..10000; quota = round(cpus * 100000) over a 100000 us period), cpu_weight
 *   (1..10000), cpuset ("0-3,6": numbers and ascending ranges, comma separated), memory and memory_high
 *   (sizes of at least 1M, or max), memory_swap (a size, 0 allowed, or max), pids (1.. or max), io_weight
 *   (1..10000), io (a list of {device: absolute path, read_bps, write_bps: sizes > 0, read_iops,
 *   write_iops: whole numbers > 0}, at least one limit per device), nofile (1..2^30, soft and hard).
 * - timeout: a duration > 0; `infinity` means none, as does leaving it out.
 * - stop: signal [SIGTERM] (name with or without SIG, any case, a number, or SIGRTMIN+N), grace [10s].
 * - restart: policy [no]: no | on-failure | always; max_retries [unlimited] (not with policy no);
 *   backoff: initial [1s] > 0, max [5m] >= initial, jitter [true].
 * - schedule: calendar (a string or a list of systemd OnCalendar expressions), cron (a string), every (a
 *   duration > 0); at least one of the three. persistent [false], randomized_delay [0], overlap [skip]:
 *   skip | queue | replace | allow. Calendar and cron syntax is checked by schedule/, which gets their
 *   positions. path: file triggers {exists, glob, changed, modified, not_empty: an absolute path or a
 *   list of them; settle [500ms]}; a path trigger alone is a schedule too.
 * - on_success, on_failure: a service name or a list of them (not the spec's own, each once): services
 *   `tfrun up` triggers when a run of this one ended for good; checked against DIR by the manager.
 * - sandbox: seccomp [default]: default | unconfined | a path to a Docker-format JSON profile (a value
 *   with a '/' or ending in .json; resolved against the spec's directory, not opened here);
 *   no_new_privileges [true]; cap_drop, cap_add: lists of capability names with or without CAP_, any
 *   case, stored upper case without the prefix, checked against Linux's names, plus ALL;
 *   cap_ambient [false] (native only: a non-root user keeps cap_add as ambient capabilities);
 *   read_only_root [false]; network [unset]: none | host | bridge | a network name
 *   ([A-Za-z0-9][A-Za-z0-9_.-]*; a different-case none/host/bridge is refused); private_tmp [false];
 *   pid [unset]: private | host.
 * - mounts: a list of {source (required; relative to the spec's directory), target (required, absolute),
 *   read_only [false]}.
 * - steps: a workflow instead of command:/image: (docs/spec.md, "Workflows (steps)"): steps with a
 *   service's keys plus depends_on, output, when, continue_on; max_parallel; handlers. Read and checked in
 *   schema.c (the graph: unknown, duplicate, self and cyclic dependencies, ${NAME} of outputs), each step
 *   loaded into a spec of its own with the top level's defaults; workflow.c gives the run order and
 *   expands outputs.
 * Relative paths are resolved lexically (".." and "." folded) against the absolute directory of the spec
 * file; nothing but env_file is opened at load. Vectors (env, env_files, cap_drop, cap_add) are never
 * NULL after a successful load; argv is NULL only when image: is set without command:.
 */

#include "spec/spec.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/parse.h"
#include "base/strutil.h"
#include "spec/spec-internal.h"

extern char **environ;

static int spec_dir(const char *path, char **ret, tf_error **err) {
        const char *slash = strrchr(path, '/');
        _cleanup_free_ char *d = slash ? tf_strndup(path, (size_t)(slash - path) + 1) : tf_strdup(".");
        if (d[0] == '/') {
                *ret = spec_path_normalize(d);
                return 0;
        }
        _cleanup_free_ char *cwd = getcwd(NULL, 0);
        if (!cwd)
                return tf_error_setc(err, errno, "%s: cannot resolve the spec's directory", path);
        _cleanup_free_ char *j = tf_asprintf("%s/%s", cwd, d);
        *ret = spec_path_normalize(j);
        return 0;
}

/* Reads a whole file of at most `max` bytes. -EFBIG when larger; *ret_opened tells open() failures apart. */
int spec_read_file(const char *path, size_t max, char **ret, size_t *ret_len, bool *ret_opened) {
        *ret_opened = false;
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return -errno;
        *ret_opened = true;
        struct stat st;
        if (fstat(fd, &st) < 0)
                return -errno;
        if (S_ISDIR(st.st_mode))
                return -EISDIR;
        if (S_ISREG(st.st_mode) && (uint64_t)st.st_size > max)
                return -EFBIG;
        size_t cap = 4096, len = 0;
        _cleanup_free_ char *buf = tf_malloc0(cap + 1);
        for (;;) {
                if (len == cap) {
                        if (cap > max)
                                return -EFBIG;
                        cap *= 2;
                        buf = tf_realloc(buf, cap + 1);
                }
                ssize_t n = read(fd, buf + len, cap - len);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                if (n == 0)
                        break;
                len += (size_t)n;
        }
        if (len > max)
                return -EFBIG;
        buf[len] = 0;
        *ret = TAKE_PTR(buf);
        *ret_len = len;
        return 0;
}

struct tf_spec *spec_new(void) {
        struct tf_spec *s = tf_malloc0(sizeof(*s));
        s->backend = TF_BACKEND_AUTO;
        s->uid = (uid_t)-1;
        s->gid = (gid_t)-1;
        struct tf_limits *l = &s->limits;
        l->cpu_quota_usec = l->cpu_period_usec = l->cpu_weight = l->memory = l->memory_high =
                l->memory_swap = l->pids = l->io_weight = l->nofile = TF_UNSET;
        s->timeout_usec = TF_UNSET;
        s->max_parallel = TF_UNSET;
        s->history.keep_runs = s->history.keep_days = TF_UNSET;
        s->requests.cpu_quota_usec = s->requests.memory = TF_UNSET;
        s->stop_signal = SIGTERM;
        s->stop_grace_usec = 10 * TF_USEC_PER_SEC;
        s->restart.policy = TF_RESTART_NO;
        s->restart.max_retries = TF_UNSET;
        s->restart.backoff_initial_usec = TF_USEC_PER_SEC;
        s->restart.backoff_max_usec = 5 * 60 * TF_USEC_PER_SEC;
        s->restart.jitter = true;
        s->schedule.every_usec = TF_UNSET;
        s->schedule.overlap = TF_OVERLAP_SKIP;
        s->schedule.path_settle_usec = TF_PATH_SETTLE_DEFAULT_USEC;
        s->sandbox.seccomp = TF_SECCOMP_DEFAULT;
        s->sandbox.no_new_privileges = true;
        s->sandbox.network = TF_NETWORK_UNSET;
        return s;
}

void tf_spec_notify_command(const struct tf_spec *service, const struct tf_notify *n, struct tf_spec **ret) {
        struct tf_spec *s = spec_new();
        s->path = tf_strdup(service->path);
        s->dir = tf_strdup(service->dir);
        s->name = tf_asprintf("%s.notify", service->name);
        s->argv = tf_strv_copy(n->argv);
        s->backend = s->resolved_backend = TF_BACKEND_NATIVE;
        s->env = tf_malloc0(sizeof(char *));
        s->env_files = tf_malloc0(sizeof(char *));
        s->sandbox.cap_drop = tf_malloc0(sizeof(char *));
        s->sandbox.cap_add = tf_malloc0(sizeof(char *));
        /* A notifier is a small program that talks to a pager or a chat: bounded so that a hung one
         * cannot pile up behind a flapping service. */
        s->timeout_usec = n->command_timeout_usec;
        s->limits.memory = (uint64_t)256 << 20;
        s->limits.pids = 64;
        s->limits.nofile = 1024;
        s->pos_command = n->pos_command;
        *ret = s;
}

static int load(struct ctx *c, const char *buf, size_t len) {
        _cleanup_node_ struct node *root = NULL;
        int r = spec_build_tree(c, buf, len, &root);
        if (r < 0)
                return r;
        if (!root || spec_is_null(root))
                return spec_fail(
                        c, (struct tf_pos){1, 1}, NULL,
                        "the spec is empty; expected a mapping of keys (e.g. command: [echo, hello])");
        if (root->type != NODE_MAP) {
                _cleanup_free_ char *q = root->type == NODE_SCALAR ? spec_quoted(root) : NULL;
                return spec_fail(c, root->pos, NULL,
                                 "the document is %s; expected a mapping of keys (e.g. command: [echo, "
                                 "hello])",
                                 root->type == NODE_SEQ ? "a list" : q);
        }
        c->root_pos = root->pos;
        return spec_apply_schema(c, root);
}

int tf_spec_load_buffer(const char *path, const char *buf, size_t len, char *const *environ_in,
                        struct tf_spec **ret, tf_error **err) {
        _cleanup_spec_ struct tf_spec *s = spec_new();
        struct ctx c = {
                .path = path,
                .environ_in = environ_in ? environ_in : environ,
                .s = s,
                .err = err,
        };

        if (len > SPEC_MAX_SIZE)
                return spec_fail(&c, (struct tf_pos){1, 1}, NULL,
                                 "the file is larger than 1 MiB; expected a smaller spec");
        s->path = tf_strdup(path);
        int r = spec_dir(path, &s->dir, err);
        if (r < 0)
                return r;
        r = load(&c, buf, len);
        spec_ctx_done(&c);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(s);
        return 0;
}

int tf_spec_load(const char *path, char *const *environ_in, struct tf_spec **ret, tf_error **err) {
        _cleanup_free_ char *buf = NULL;
        size_t len;
        bool opened;
        int r = spec_read_file(path, SPEC_MAX_SIZE, &buf, &len, &opened);
        if (r == -EFBIG)
                return tf_error_set(err, EINVAL,
                                    "%s:1:1: the file is larger than 1 MiB; expected a smaller spec", path);
        if (r == -EISDIR)
                return tf_error_set(err, r, "%s: is a directory, expected a spec file", path);
        if (r < 0)
                return tf_error_setc(err, r, "%s: %s", path, opened ? "cannot read" : "cannot open");
        return tf_spec_load_buffer(path, buf, len, environ_in, ret, err);
}

struct tf_spec *tf_spec_free(struct tf_spec *s) {
        if (!s)
                return NULL;
        free(s->path);
        free(s->dir);
        free(s->name);
        free(s->description);
        tf_strv_free(s->argv);
        free(s->image);
        tf_strv_free(s->placement);
        free(s->working_dir);
        tf_strv_free(s->env);
        tf_strv_free(s->env_files);
        free(s->user);
        free(s->queue);
        free(s->limits.cpuset);
        for (size_t i = 0; i < s->limits.n_io; i++)
                free(s->limits.io[i].device);
        free(s->limits.io);
        for (size_t i = 0; i < s->schedule.n_calendar; i++)
                free(s->schedule.calendar[i].expr);
        free(s->schedule.calendar);
        free(s->schedule.cron.expr);
        for (size_t i = 0; i < s->schedule.n_paths; i++)
                free(s->schedule.paths[i].path);
        free(s->schedule.paths);
        const struct tf_service_refs *refs[] = {&s->on_success_services, &s->on_failure_services};
        for (size_t k = 0; k < ELEMENTSOF(refs); k++) {
                for (size_t i = 0; i < refs[k]->n; i++)
                        free(refs[k]->refs[i].name);
                free(refs[k]->refs);
        }
        free(s->sandbox.seccomp_profile);
        tf_strv_free(s->sandbox.cap_drop);
        tf_strv_free(s->sandbox.cap_add);
        free(s->sandbox.network_name);
        for (size_t i = 0; i < s->n_mounts; i++) {
                free(s->mounts[i].source);
                free(s->mounts[i].target);
        }
        free(s->mounts);
        tf_notify_done(&s->notify);
        for (size_t i = 0; i < s->n_steps; i++)
                spec_step_done(&s->steps[i]);
        free(s->steps);
        struct tf_step *handlers[] = {s->on_success, s->on_failure, s->on_exit};
        for (size_t i = 0; i < ELEMENTSOF(handlers); i++) {
                spec_step_done(handlers[i]);
                free(handlers[i]);
        }
        free(s);
        return NULL;
}

char *tf_spec_where(const struct tf_spec *s, struct tf_pos pos) {
        const char *path = s && s->path ? s->path : "<spec>";
        if (pos.line == 0)
                return tf_strdup(path);
        return tf_asprintf("%s:%u:%u", path, pos.line, pos.column);
}

const char *tf_backend_name(enum tf_backend b) {
        switch (b) {
        case TF_BACKEND_AUTO:
                return "auto";
        case TF_BACKEND_NATIVE:
                return "native";
        case TF_BACKEND_DOCKER:
                return "docker";
        case TF_BACKEND_SWARM:
                return "swarm";
        }
        return NULL;
}

const char *tf_restart_policy_name(enum tf_restart_policy p) {
        switch (p) {
        case TF_RESTART_NO:
                return "no";
        case TF_RESTART_ON_FAILURE:
                return "on-failure";
        case TF_RESTART_ALWAYS:
                return "always";
        }
        return NULL;
}

const char *tf_overlap_name(enum tf_overlap o) {
        switch (o) {
        case TF_OVERLAP_SKIP:
                return "skip";
        case TF_OVERLAP_QUEUE:
                return "queue";
        case TF_OVERLAP_REPLACE:
                return "replace";
        case TF_OVERLAP_ALLOW:
                return "allow";
        }
        return NULL;
}

const char *tf_seccomp_mode_name(enum tf_seccomp_mode m) {
        switch (m) {
        case TF_SECCOMP_DEFAULT:
                return "default";
        case TF_SECCOMP_UNCONFINED:
                return "unconfined";
        case TF_SECCOMP_PROFILE:
                return "profile";
        }
        return NULL;
}

const char *tf_pid_mode_name(enum tf_pid_mode m) {
        switch (m) {
        case TF_PID_UNSET:
                return "unset";
        case TF_PID_PRIVATE:
                return "private";
        case TF_PID_HOST:
                return "host";
        }
        return "?";
}

const char *tf_ns_mode_name(enum tf_ns_mode m) {
        return m == TF_NS_HOST ? "host" : "private";
}

const char *tf_network_mode_name(enum tf_network_mode m) {
        switch (m) {
        case TF_NETWORK_UNSET:
                return "unset";
        case TF_NETWORK_NONE:
                return "none";
        case TF_NETWORK_HOST:
                return "host";
        case TF_NETWORK_BRIDGE:
                return "bridge";
        case TF_NETWORK_NAMED:
                return "named";
        }
        return NULL;
}
