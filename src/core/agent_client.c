/* The client side of the dcpki agent (dcpki/agent.h).
 *
 * Kept connections sit in lock-free idle slots (a state per slot changed by
 * compare-and-swap, as the prepared keys of ossl.c): no lock a fork could
 * leave held. A slot remembers the process and the socket (device, inode)
 * with the descriptor: a forked child closes its copies of the parent's
 * connections instead of sharing them, and a descriptor number the host
 * program closed and reused for something else is forgotten, never written
 * to or closed. */
#define _GNU_SOURCE /* struct ucred */
#include "dcpki/agent.h"
#include "dcpki/log.h"
#include "internal.h"

#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#define IDLE_SLOTS 8
/* beyond the agent's own deadline: its retries within that deadline, and the way back */
#define ANSWER_MARGIN_MS 5000
/* the agent answers hello itself, at once */
#define HELLO_MS 10000

enum { SLOT_EMPTY, SLOT_FULL, SLOT_BUSY };

typedef struct kept {
    int fd;
    pid_t pid;
    dev_t dev;
    ino_t ino;
} kept;

struct dcpki_agent_client {
    char *path;
    char *base, *label;
    long timeout_ms; /* the agent's; 0 until hello */
    _Atomic int state[IDLE_SLOTS];
    kept slot[IDLE_SLOTS]; /* read and written only by who moved state to SLOT_BUSY */
};

/* 1 when fd is still the socket k remembers */
static int still(const kept *k)
{
    struct stat st;
    return fstat(k->fd, &st) == 0 && S_ISSOCK(st.st_mode) && st.st_dev == k->dev && st.st_ino == k->ino;
}

/* A kept connection of this process, still the socket it was: 1 with *out. */
static int take_idle(dcpki_agent_client *c, kept *out)
{
    pid_t pid = getpid();
    for (int i = 0; i < IDLE_SLOTS; i++) {
        int want = SLOT_FULL;
        if (atomic_load_explicit(&c->state[i], memory_order_relaxed) != SLOT_FULL ||
            !atomic_compare_exchange_strong(&c->state[i], &want, SLOT_BUSY))
            continue;
        kept k = c->slot[i];
        atomic_store(&c->state[i], SLOT_EMPTY);
        if (!still(&k))
            continue; /* the number is something else now: not ours to close */
        if (k.pid == pid) {
            *out = k;
            return 1;
        }
        close(k.fd); /* the parent's connection, this process's copy of it (fork) */
    }
    return 0;
}

/* k: a connection of this process (taken, or made by connect_agent) */
static void give_back(dcpki_agent_client *c, const kept *k)
{
    for (int i = 0; i < IDLE_SLOTS; i++) {
        int want = SLOT_EMPTY;
        if (atomic_compare_exchange_strong(&c->state[i], &want, SLOT_BUSY)) {
            c->slot[i] = *k;
            atomic_store(&c->state[i], SLOT_FULL);
            return;
        }
    }
    close(k->fd);
}

static dcpki_code agent_err(const dcpki_agent_client *c, dcpki_err *err, const char *what, int e)
{
    char eb[128];
    return dcpki_err_set(err, DCPKI_E_AGENT, "%s the dcpki agent at %s: %s", what, c->path,
                         dcpki_strerror(e, eb, sizeof(eb)));
}

/* A directory only root and uid may change (no write for group or others). */
static int safe_dir(const struct stat *st, uid_t uid)
{
    return S_ISDIR(st->st_mode) && !(st->st_mode & 022) && (st->st_uid == 0 || st->st_uid == uid);
}

/* Whether uid could have put the socket at path and nobody else could (as
 * OpenSSH checks the paths of authorized keys):
 * - the path as written, from the root down: each directory on the way is
 *   safe_dir, and a symbolic link lies in one (so whoever made it was trusted);
 * - the path with the links resolved: each directory is safe_dir, and the one
 *   holding the socket belongs to uid. */
static int placed_by(const char *path, uid_t uid)
{
    char *dir = strdup(path), real[PATH_MAX];
    if (!dir)
        return 0;
    char *end = strrchr(dir, '/');
    if (!end || end == dir) {
        free(dir);
        return 0; /* the socket right under / (or a relative path): nothing to check it by */
    }
    *end = '\0';
    int ok = 1;
    for (char *p = dir + 1; ok; p++) {
        char keep = *p;
        if (keep != '/' && keep != '\0')
            continue;
        *p = '\0';
        struct stat st;
        ok = lstat(dir, &st) == 0 && (S_ISLNK(st.st_mode) || safe_dir(&st, uid));
        *p = keep;
        if (!keep)
            break;
    }
    ok = ok && realpath(dir, real) != NULL;
    free(dir);
    for (int first = 1; ok; first = 0) {
        struct stat st;
        if (stat(real, &st) != 0 || !safe_dir(&st, uid) || (first && st.st_uid != uid))
            return 0;
        if (strcmp(real, "/") == 0)
            return 1;
        char *slash = strrchr(real, '/');
        slash[slash == real ? 1 : 0] = '\0';
    }
    return 0;
}

/* A new connection to an agent this process trusts: one running as root, as
 * this process's user, or as the user who alone could have put the socket
 * where it is (placed_by). */
static dcpki_code connect_agent(dcpki_agent_client *c, int64_t deadline, kept *out, dcpki_err *err)
{
    struct sockaddr_un a = { .sun_family = AF_UNIX };
    size_t pl = strlen(c->path);
    if (pl >= sizeof(a.sun_path))
        return dcpki_err_set(err, DCPKI_E_CONFIG_BAD_VALUE, "the agent's socket path %s is too long", c->path);
    memcpy(a.sun_path, c->path, pl + 1);
    /* non-blocking: a full backlog (an agent stopped or overloaded) is EAGAIN, retried until the deadline,
     * not a connect() that sleeps without end; the frames' I/O waits with poll */
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0)
        return agent_err(c, err, "cannot make a socket for", errno);
    int cr_ = -1;
    while ((cr_ = connect(fd, (struct sockaddr *)&a, sizeof(a))) != 0 && (errno == EINTR || errno == EAGAIN) &&
           dcpki_now_ms() < deadline)
        if (errno == EAGAIN)
            dcpki_sleep_ms(10);
    if (cr_ != 0) {
        int e = errno;
        close(fd);
        char eb[128];
        if (e == EAGAIN)
            return dcpki_err_set(err, DCPKI_E_TIMEOUT, "the dcpki agent at %s did not accept the connection in "
                                 "time (its queue is full: is it stopped or overloaded?)", c->path);
        if (e == ENOENT || e == ECONNREFUSED)
            return dcpki_err_set(err, DCPKI_E_AGENT, "no dcpki agent serves %s (is it running?): %s", c->path,
                                 dcpki_strerror(e, eb, sizeof(eb)));
        return agent_err(c, err, e == EACCES ? "this process may not connect to" : "cannot connect to", e);
    }
    struct ucred cr;
    socklen_t cl = sizeof(cr);
    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &cl) != 0 || cl != sizeof(cr)) {
        int e = cl != sizeof(cr) ? EPROTO : errno;
        close(fd);
        return agent_err(c, err, "cannot learn who serves", e);
    }
    if (cr.uid != 0 && cr.uid != geteuid() && !placed_by(c->path, cr.uid)) {
        close(fd);
        return dcpki_err_set(err, DCPKI_E_AGENT,
                             "the process serving %s (pid %ld, uid %lu) is not trusted: it is neither root, nor "
                             "this process's user, nor the only user who could have put the socket there",
                             c->path, (long)cr.pid, (unsigned long)cr.uid);
    }
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int e = errno;
        close(fd);
        return agent_err(c, err, "cannot identify the connection to", e);
    }
    *out = (kept){ .fd = fd, .pid = getpid(), .dev = st.st_dev, .ino = st.st_ino };
    return DCPKI_OK;
}

/* Sends a request and reads its answer, all within one deadline. A kept
 * connection that the agent closed meanwhile (it restarted or let it idle)
 * fails before any answer: an idempotent request is then sent once more on a
 * new connection. An agent that refuses this process answers why and closes
 * at once, maybe before the request is written: that answer is still read.
 * On success *conn is the connection, to give back. */
static dcpki_code exchange(dcpki_agent_client *c, size_t n, const char *const *field, const size_t *len,
                           int idempotent, dcpki_agent_frame *ans, kept *conn, dcpki_err *err)
{
    long wait_ms = c->timeout_ms > 0 ? c->timeout_ms + ANSWER_MARGIN_MS : HELLO_MS;
    int64_t deadline = dcpki_now_ms() + wait_ms;
    for (;;) {
        int kept_conn = take_idle(c, conn);
        if (!kept_conn) {
            dcpki_code rc = connect_agent(c, deadline, conn, err);
            if (rc != DCPKI_OK)
                return rc;
        }
        int fd = conn->fd;
        int r = dcpki_agent_write_frame(fd, n, field, len, deadline);
        int we = errno;
        int rr = r == 0 || we == EPIPE || we == ECONNRESET ? dcpki_agent_read_frame(fd, DCPKI_AGENT_MAX_ANSWER,
                                                                                    deadline, ans)
                                                           : -1;
        if (r == 0 || rr == 1)
            r = rr;
        else
            errno = we;
        if (r == 1 && ans->nfields >= 2)
            return DCPKI_OK;
        int e = r == 0 ? ECONNRESET : r == 1 ? EPROTO : errno;
        close(fd);
        if (r == 1)
            dcpki_agent_frame_free(ans);
        if (kept_conn && idempotent && (r == 0 || e == EPIPE || e == ECONNRESET))
            continue;
        if (e == ETIMEDOUT && c->timeout_ms == 0)
            return dcpki_err_set(err, DCPKI_E_TIMEOUT, "the dcpki agent at %s did not answer hello within %ld ms "
                                 "(is it stopped or overloaded?)", c->path, wait_ms);
        if (e == ETIMEDOUT)
            return dcpki_err_set(err, DCPKI_E_TIMEOUT, "the dcpki agent at %s did not answer within %ld ms (the "
                                 "agent's [ca] timeout_ms and %d ms)", c->path, wait_ms, ANSWER_MARGIN_MS);
        if (e == EMSGSIZE)
            return dcpki_err_set(err, DCPKI_E_AGENT, "the dcpki agent at %s sent an answer larger than %d MiB",
                                 c->path, DCPKI_AGENT_MAX_ANSWER >> 20);
        if (e == EPROTO)
            return dcpki_err_set(err, DCPKI_E_AGENT, "the dcpki agent at %s answered with a malformed or cut "
                                 "frame (is it the same version of dcpki?)", c->path);
        return agent_err(c, err, r == 0 ? "the connection was closed by" : "the connection broke with", e);
    }
}

/* One exchange whose answer says "ok" with want fields; on success ans and
 * *conn (to give back) are the caller's. An answer saying why not becomes the
 * error, with the agent named (dcpki_err_set escapes the text). */
static dcpki_code ask(dcpki_agent_client *c, size_t n, const char *const *field, const size_t *len, int idempotent,
                      size_t want, dcpki_agent_frame *ans, kept *conn, dcpki_err *err)
{
    dcpki_code rc = exchange(c, n, field, len, idempotent, ans, conn, err);
    if (rc != DCPKI_OK)
        return rc;
    if (!dcpki_agent_field_is(ans, 0, "ok")) {
        int l = ans->len[1] > 400 ? 400 : (int)ans->len[1];
        rc = dcpki_err_set(err, dcpki_code_of_id(ans->field[0], ans->len[0]), "%.*s (from the dcpki agent at %s)", l,
                           ans->field[1], c->path);
    } else if (ans->nfields != want) {
        rc = dcpki_err_set(err, DCPKI_E_AGENT, "the dcpki agent at %s answered %s with %zu fields, not %zu (is it "
                           "the same version of dcpki?)", c->path, field[1], ans->nfields, want);
    } else {
        return DCPKI_OK;
    }
    dcpki_agent_frame_free(ans);
    give_back(c, conn); /* the exchange itself went well */
    return rc;
}

static char *field_dup(const dcpki_agent_frame *f, size_t i)
{
    char *s = malloc(f->len[i] + 1);
    if (s) {
        memcpy(s, f->field[i], f->len[i]);
        s[f->len[i]] = '\0';
    }
    return s;
}

static long field_long(const dcpki_agent_frame *f, size_t i, int *ok)
{
    char b[24];
    if (f->len[i] == 0 || f->len[i] >= sizeof(b)) {
        *ok = 0;
        return 0;
    }
    memcpy(b, f->field[i], f->len[i]);
    b[f->len[i]] = '\0';
    char *end;
    errno = 0;
    long v = strtol(b, &end, 10);
    if (errno || *end)
        *ok = 0;
    return v;
}

dcpki_code dcpki_agent_client_new(const char *path, dcpki_agent_client **out, dcpki_err *err)
{
    *out = NULL;
    dcpki_agent_client *c = calloc(1, sizeof(*c));
    if (!c || !(c->path = strdup(path))) {
        free(c);
        return dcpki_err_set(err, DCPKI_E_NOMEM, "connecting to the dcpki agent");
    }
    static const char *const hello[] = { "1", "hello" };
    static const size_t hello_len[] = { 1, 5 };
    dcpki_agent_frame ans;
    kept conn;
    dcpki_code rc = ask(c, 2, hello, hello_len, 1, 5, &ans, &conn, err);
    if (rc != DCPKI_OK) {
        dcpki_agent_client_free(c);
        return rc;
    }
    int ok = 1;
    c->base = field_dup(&ans, 2);
    c->label = field_dup(&ans, 3);
    c->timeout_ms = field_long(&ans, 4, &ok);
    if (!c->base || !c->label)
        rc = dcpki_err_set(err, DCPKI_E_NOMEM, "connecting to the dcpki agent");
    else if (!ok || c->timeout_ms <= 0)
        rc = dcpki_err_set(err, DCPKI_E_AGENT, "the dcpki agent at %s gave no valid deadline", c->path);
    dcpki_agent_frame_free(&ans);
    give_back(c, &conn);
    if (rc != DCPKI_OK) {
        dcpki_agent_client_free(c);
        return rc;
    }
    DCPKI_DEBUG("agent: %s serves %s as %s (deadline %ld ms)", c->path, c->base, c->label, c->timeout_ms);
    *out = c;
    return DCPKI_OK;
}

void dcpki_agent_client_free(dcpki_agent_client *c)
{
    if (!c)
        return;
    kept k;
    while (take_idle(c, &k))
        close(k.fd);
    free(c->path);
    free(c->base);
    free(c->label);
    free(c);
}

const char *dcpki_agent_client_base(const dcpki_agent_client *c) { return c->base; }
const char *dcpki_agent_client_label(const dcpki_agent_client *c) { return c->label; }
const char *dcpki_agent_client_path(const dcpki_agent_client *c) { return c->path; }

dcpki_code dcpki_agent_perform(dcpki_agent_client *c, const char *method, const char *path, const char *body,
                               size_t body_len, int idempotent, dcpki_http_response *resp, dcpki_err *err)
{
    memset(resp, 0, sizeof(*resp));
    const char *field[] = { "1", "http", method, path, body ? body : "", idempotent ? "1" : "0" };
    size_t len[] = { 1, 4, strlen(method), strlen(path), body ? body_len : 0, 1 };
    dcpki_agent_frame ans;
    kept conn;
    dcpki_code rc = ask(c, 6, field, len, idempotent, 8, &ans, &conn, err);
    if (rc != DCPKI_OK)
        return rc;
    int ok = 1;
    resp->status = field_long(&ans, 2, &ok);
    resp->content_type = ans.len[3] ? field_dup(&ans, 3) : NULL;
    resp->attempts = (int)field_long(&ans, 4, &ok);
    resp->retry_after_ms = field_long(&ans, 5, &ok);
    resp->timeout_ms = field_long(&ans, 6, &ok);
    resp->idempotent = idempotent;
    resp->body = field_dup(&ans, 7);
    resp->len = ans.len[7];
    if (!resp->body || (ans.len[3] && !resp->content_type))
        rc = dcpki_err_set(err, DCPKI_E_NOMEM, "reading the dcpki agent's answer");
    else if (!ok || resp->status < 100 || resp->status > 999)
        rc = dcpki_err_set(err, DCPKI_E_AGENT, "the dcpki agent at %s answered with a malformed status", c->path);
    dcpki_agent_frame_free(&ans);
    if (rc != DCPKI_OK)
        dcpki_http_response_free(resp);
    give_back(c, &conn); /* the exchange itself completed */
    return rc;
}
