/* SPDX-License-Identifier: MIT */
#include "runner/pathwatch.h"

#include <dirent.h>
#include <errno.h>
#include <fnmatch.h>
#include <glob.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/inotify.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/strutil.h"
#include "base/timeutil.h"

/* What a change of the path itself, or of an entry in it (a directory), or of its own entry in its parent
 * means, per kind (after systemd's path.c). */
#define CHANGED_MASK                                                                                        \
        (IN_CLOSE_WRITE | IN_ATTRIB | IN_CREATE | IN_DELETE | IN_MOVED_FROM | IN_MOVED_TO |                 \
         IN_DELETE_SELF | IN_MOVE_SELF)
#define NEW_NAME_MASK (IN_CREATE | IN_MOVED_TO)
#define PARENT_MASK (IN_CREATE | IN_MOVED_TO | IN_MOVED_FROM | IN_DELETE | IN_DELETE_SELF | IN_MOVE_SELF)
/* A burst that never pauses still fires at this many settle periods after its first event. */
#define SETTLE_MAX_FACTOR 10
/* Reads per dispatch: the loop comes back for the rest (level-triggered), so that no callback runs long. */
#define READS_PER_DISPATCH 16

struct cond {
        enum tf_path_kind kind;
        char *path;   /* the path (glob: the pattern) */
        char *target; /* what is watched: the path, or the glob's directory */
        char *base;   /* the last component of path (glob: the pattern of names) */
        char *parent; /* target's parent directory ("/" for a top-level name); NULL for "/" */
        bool state;   /* exists, glob, not_empty: held at the last look */
};

struct wentry {
        int wd;
        char *path;
};

struct tf_path_watch {
        struct tf_loop *loop;
        int fd;
        struct tf_source *io;
        struct tf_source *settle; /* CLOCK_MONOTONIC; NULL until the first burst */
        struct cond *conds;
        size_t n_conds;
        struct wentry *w;
        size_t n_w;
        uint64_t settle_usec;
        bool pending;
        uint64_t burst_start, fire_at;
        char *why;
        tf_path_fire_cb fire;
        void *userdata;
};

const char *tf_path_kind_name(enum tf_path_kind k) {
        static const char *const names[] = {
                [TF_PATH_EXISTS] = "exists",       [TF_PATH_GLOB] = "glob",
                [TF_PATH_CHANGED] = "changed",     [TF_PATH_MODIFIED] = "modified",
                [TF_PATH_NOT_EMPTY] = "not_empty",
        };
        return (size_t)k < ELEMENTSOF(names) ? names[k] : "?";
}

bool tf_path_watch_same(const struct tf_schedule *a, const struct tf_schedule *b) {
        if (a->n_paths != b->n_paths || a->path_settle_usec != b->path_settle_usec)
                return false;
        for (size_t i = 0; i < a->n_paths; i++)
                if (a->paths[i].kind != b->paths[i].kind || !streq(a->paths[i].path, b->paths[i].path))
                        return false;
        return true;
}

static char *dir_of(const char *p) {
        const char *slash = strrchr(p, '/');
        if (!slash || slash == p)
                return tf_strdup("/");
        return tf_strndup(p, (size_t)(slash - p));
}

static bool dir_has_entry(const char *path) {
        DIR *d = opendir(path);
        if (!d)
                return false;
        struct dirent *de;
        bool any = false;
        while (!any && (de = readdir(d)))
                any = !streq(de->d_name, ".") && !streq(de->d_name, "..");
        closedir(d);
        return any;
}

static bool glob_matches(const char *pattern) {
        glob_t g = {};
        int r = glob(pattern, GLOB_NOSORT, NULL, &g);
        bool any = r == 0 && g.gl_pathc > 0;
        globfree(&g);
        return any;
}

/* Whether a level condition holds now. */
static bool level(const struct cond *c) {
        switch (c->kind) {
        case TF_PATH_EXISTS:
                return access(c->path, F_OK) == 0;
        case TF_PATH_GLOB:
                return glob_matches(c->path);
        case TF_PATH_NOT_EMPTY:
                return dir_has_entry(c->path);
        default:
                return false;
        }
}

static const char *wd_path(const struct tf_path_watch *w, int wd) {
        for (size_t i = 0; i < w->n_w; i++)
                if (w->w[i].wd == wd)
                        return w->w[i].path;
        return NULL;
}

static void wd_forget(struct tf_path_watch *w, int wd) {
        for (size_t i = 0; i < w->n_w; i++)
                if (w->w[i].wd == wd) {
                        free(w->w[i].path);
                        w->w[i] = w->w[--w->n_w];
                        return;
                }
}

struct want {
        char *path;
        uint32_t mask;
};

static void want_add(struct want **v, size_t *n, const char *path, uint32_t mask) {
        for (size_t i = 0; i < *n; i++)
                if (streq((*v)[i].path, path)) {
                        (*v)[i].mask |= mask;
                        return;
                }
        *v = tf_realloc(*v, (*n + 1) * sizeof(**v));
        (*v)[(*n)++] = (struct want){tf_strdup(path), mask};
}

/* The watches the conditions need now: each target if it exists, and its parent or, when that does not
 * exist yet, the nearest ancestor that does (to see the next component appear). Watches no longer needed
 * are removed. Called at start and after every batch of events (a directory may have come or gone). */
static void rewatch(struct tf_path_watch *w) {
        struct want *v = NULL;
        size_t n = 0;
        for (size_t i = 0; i < w->n_conds; i++) {
                const struct cond *c = &w->conds[i];
                uint32_t tmask;
                switch (c->kind) {
                case TF_PATH_EXISTS:
                        tmask = IN_DELETE_SELF | IN_MOVE_SELF | IN_ATTRIB;
                        break;
                case TF_PATH_GLOB:
                case TF_PATH_NOT_EMPTY:
                        tmask = IN_ONLYDIR | NEW_NAME_MASK | IN_DELETE | IN_MOVED_FROM | IN_DELETE_SELF |
                                IN_MOVE_SELF;
                        break;
                case TF_PATH_MODIFIED:
                        tmask = CHANGED_MASK | IN_MODIFY;
                        break;
                default:
                        tmask = CHANGED_MASK;
                        break;
                }
                if (access(c->target, F_OK) == 0)
                        want_add(&v, &n, c->target, tmask);
                if (!c->parent)
                        continue;
                /* The parent, or the nearest ancestor that exists. */
                _cleanup_free_ char *a = tf_strdup(c->parent);
                while (access(a, F_OK) < 0 && !streq(a, "/")) {
                        char *up = dir_of(a);
                        free(a);
                        a = up;
                }
                uint32_t pmask = PARENT_MASK | IN_ONLYDIR;
                if (c->kind == TF_PATH_CHANGED || c->kind == TF_PATH_MODIFIED)
                        pmask |= IN_CLOSE_WRITE | IN_ATTRIB | (c->kind == TF_PATH_MODIFIED ? IN_MODIFY : 0);
                want_add(&v, &n, a, pmask);
        }
        /* Masks are replaced, not added to: two paths naming one inode (a symbolic link) share a watch, the
         * last one's mask wins; the names in the events are still matched against both. */
        int *keep = tf_malloc0((n + 1) * sizeof(int));
        size_t n_keep = 0;
        for (size_t i = 0; i < n; i++) {
                int wd = inotify_add_watch(w->fd, v[i].path, v[i].mask);
                if (wd >= 0) {
                        keep[n_keep++] = wd;
                        bool known = false;
                        for (size_t j = 0; j < w->n_w && !known; j++)
                                if (w->w[j].wd == wd) {
                                        known = true;
                                        if (!streq(w->w[j].path, v[i].path)) {
                                                free(w->w[j].path);
                                                w->w[j].path = tf_strdup(v[i].path);
                                        }
                                }
                        if (!known) {
                                w->w = tf_realloc(w->w, (w->n_w + 1) * sizeof(*w->w));
                                w->w[w->n_w++] = (struct wentry){wd, tf_strdup(v[i].path)};
                        }
                }
                /* ENOENT/ENOTDIR: it went (or is not a directory) between the look and the watch: the
                 * parent's events bring the next rewatch. */
                free(v[i].path);
        }
        free(v);
        for (size_t j = 0; j < w->n_w;) {
                bool needed = false;
                for (size_t k = 0; k < n_keep && !needed; k++)
                        needed = keep[k] == w->w[j].wd;
                if (needed) {
                        j++;
                        continue;
                }
                (void)inotify_rm_watch(w->fd, w->w[j].wd);
                free(w->w[j].path);
                w->w[j] = w->w[--w->n_w];
        }
        free(keep);
}

static int on_settle(struct tf_source *src, int fd, uint32_t events, void *userdata) {
        struct tf_path_watch *w = userdata;
        if (!w->pending)
                return 0;
        uint64_t now = tf_loop_now(w->loop, CLOCK_MONOTONIC);
        if (now < w->fire_at) {
                tf_source_set_time(w->settle, w->fire_at);
                return 0;
        }
        w->pending = false;
        _cleanup_free_ char *why = TAKE_PTR(w->why);
        w->fire(why ? why : "path", w->userdata);
        return 0;
}

/* Condition c saw something: part of the burst going on, or the first event of a new one. */
static void hit(struct tf_path_watch *w, const struct cond *c) {
        uint64_t now = tf_loop_now(w->loop, CLOCK_MONOTONIC);
        if (!w->pending) {
                w->pending = true;
                w->burst_start = now;
                free(w->why);
                w->why = tf_asprintf("%s %s", tf_path_kind_name(c->kind), c->path);
        }
        uint64_t at = now + w->settle_usec, latest = w->burst_start + SETTLE_MAX_FACTOR * w->settle_usec;
        w->fire_at = at < latest ? at : latest;
        _cleanup_error_ tf_error *e = NULL;
        if (w->settle)
                tf_source_set_time(w->settle, w->fire_at);
        else if (tf_loop_add_timer(w->loop, CLOCK_MONOTONIC, w->fire_at, on_settle, w, &w->settle, &e) < 0) {
                /* Without the timer the burst cannot end: fire now rather than never. */
                w->pending = false;
                _cleanup_free_ char *why = TAKE_PTR(w->why);
                w->fire(why ? why : "path", w->userdata);
        }
}

/* Does an event (on the watch of wpath, about `name` in it, or about wpath itself when name is NULL) concern
 * condition c? */
static bool concerns(const struct cond *c, const char *wpath, const char *name, uint32_t mask) {
        bool self = !name && streq(wpath, c->target);
        bool child = name && streq(wpath, c->target);
        bool entry = name && c->parent && streq(wpath, c->parent) && streq(name, c->base);
        switch (c->kind) {
        case TF_PATH_EXISTS:
                return false; /* a level: looked at after the batch */
        case TF_PATH_GLOB:
                return child && (mask & NEW_NAME_MASK) && fnmatch(c->base, name, FNM_PERIOD) == 0;
        case TF_PATH_NOT_EMPTY:
                return child && (mask & NEW_NAME_MASK);
        case TF_PATH_CHANGED:
        case TF_PATH_MODIFIED: {
                uint32_t m = CHANGED_MASK | (c->kind == TF_PATH_MODIFIED ? IN_MODIFY : 0);
                return (self || child || entry) && (mask & m);
        }
        }
        return false;
}

/* After a batch (and at start): levels that became true fire; the watches follow the tree. */
static void look(struct tf_path_watch *w, bool fire_levels) {
        rewatch(w);
        for (size_t i = 0; i < w->n_conds; i++) {
                struct cond *c = &w->conds[i];
                if (c->kind == TF_PATH_CHANGED || c->kind == TF_PATH_MODIFIED)
                        continue;
                bool now = level(c);
                if (now && !c->state && fire_levels)
                        hit(w, c);
                c->state = now;
        }
}

static int on_events(struct tf_source *src, int fd, uint32_t events, void *userdata) {
        struct tf_path_watch *w = userdata;
        char buf[8192] __attribute__((aligned(__alignof__(struct inotify_event))));
        bool any = false;
        for (int round = 0; round < READS_PER_DISPATCH; round++) {
                ssize_t n = read(fd, buf, sizeof(buf));
                if (n < 0 && errno == EINTR)
                        continue;
                if (n <= 0)
                        break;
                any = true;
                for (char *p = buf; p < buf + n;) {
                        const struct inotify_event *ev = (const struct inotify_event *)p;
                        p += sizeof(*ev) + ev->len;
                        if (ev->mask & IN_Q_OVERFLOW) {
                                /* Events were lost: anything may have changed. */
                                for (size_t i = 0; i < w->n_conds; i++)
                                        if (w->conds[i].kind != TF_PATH_EXISTS)
                                                hit(w, &w->conds[i]);
                                continue;
                        }
                        const char *wpath = wd_path(w, ev->wd);
                        if (!wpath)
                                continue;
                        const char *name = ev->len > 0 && ev->name[0] ? ev->name : NULL;
                        for (size_t i = 0; i < w->n_conds; i++)
                                if (concerns(&w->conds[i], wpath, name, ev->mask))
                                        hit(w, &w->conds[i]);
                        if (ev->mask & IN_IGNORED)
                                wd_forget(w, ev->wd);
                }
        }
        if (any)
                look(w, true);
        return 0;
}

int tf_path_watch_new(struct tf_loop *loop, const struct tf_schedule *sc, bool initial, tf_path_fire_cb fire,
                      void *userdata, struct tf_path_watch **ret, tf_error **err) {
        int fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
        if (fd < 0)
                return tf_error_set(err, errno, "inotify: %s", strerror(errno));
        struct tf_path_watch *w = tf_malloc0(sizeof(*w));
        w->loop = loop;
        w->fd = fd;
        w->fire = fire;
        w->userdata = userdata;
        w->settle_usec = sc->path_settle_usec;
        w->conds = tf_malloc0(sc->n_paths * sizeof(*w->conds));
        w->n_conds = sc->n_paths;
        for (size_t i = 0; i < sc->n_paths; i++) {
                struct cond *c = &w->conds[i];
                c->kind = sc->paths[i].kind;
                c->path = tf_strdup(sc->paths[i].path);
                c->target = c->kind == TF_PATH_GLOB ? dir_of(c->path) : tf_strdup(c->path);
                const char *slash = strrchr(c->path, '/');
                c->base = tf_strdup(slash ? slash + 1 : c->path);
                c->parent = streq(c->target, "/") ? NULL : dir_of(c->target);
        }
        int r = tf_loop_add_io(loop, fd, EPOLLIN, on_events, w, &w->io, err);
        if (r < 0) {
                tf_path_watch_free(w);
                return r;
        }
        look(w, initial);
        *ret = w;
        return 0;
}

void tf_path_watch_free(struct tf_path_watch *w) {
        if (!w)
                return;
        tf_source_remove(w->io);
        tf_source_remove(w->settle);
        if (w->fd >= 0)
                close(w->fd);
        for (size_t i = 0; i < w->n_conds; i++) {
                free(w->conds[i].path);
                free(w->conds[i].target);
                free(w->conds[i].base);
                free(w->conds[i].parent);
        }
        free(w->conds);
        for (size_t i = 0; i < w->n_w; i++)
                free(w->w[i].path);
        free(w->w);
        free(w->why);
        free(w);
}
