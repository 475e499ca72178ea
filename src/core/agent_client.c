/* The client side of the dcpki agent (dcpki/agent.h).
 *
 * Kept connections sit in lock-free idle slots (atomic exchange, as the
 * prepared keys of ossl.c): no lock a fork could leave held. A slot holds
 * the process id with the descriptor, so a forked child closes its copies of
 * the parent's connections instead of sharing them. */
#define _GNU_SOURCE /* struct ucred */
#include "dcpki/agent.h"
#include "dcpki/log.h"
#include "internal.h"

#include <errno.h>
#include <libgen.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#define IDLE_SLOTS 8
/* beyond the agent's own deadline: its retries within that deadline, and the way back */
#define ANSWER_MARGIN_MS 5000

struct dcpki_agent_client {
    char *path;
    char *base, *label;
    long timeout_ms;
    _Atomic uint64_t idle[IDLE_SLOTS]; /* pid << 32 | (fd + 1); 0: empty */
};

static uint64_t slot_of(int fd)
{
    return (uint64_t)(uint32_t)getpid() << 32 | (uint32_t)(fd + 1);
}

static int take_idle(dcpki_agent_client *c)
{
    uint32_t pid = (uint32_t)getpid();
    for (int i = 0; i < IDLE_SLOTS; i++) {
        if (atomic_load_explicit(&c->idle[i], memory_order_relaxed) == 0)
            continue;
        uint64_t v = atomic_exchange(&c->idle[i], 0);
        if (v == 0)
            continue;
        int fd = (int)(uint32_t)v - 1;
        if ((uint32_t)(v >> 32) == pid)
            return fd;
        close(fd); /* the parent's, inherited by fork */
    }
    return -1;
}

static void give_back(dcpki_agent_client *c, int fd)
{
    uint64_t v = slot_of(fd);
    for (int i = 0; i < IDLE_SLOTS; i++) {
        uint64_t empty = 0;
        if (atomic_compare_exchange_strong(&c->idle[i], &empty, v))
            return;
    }
    close(fd);
}

static dcpki_code agent_err(const dcpki_agent_client *c, dcpki_err *err, const char *what, int e)
{
    char eb[128];
    return dcpki_err_set(err, DCPKI_E_AGENT, "%s the dcpki agent at %s: %s", what, c->path,
                         dcpki_strerror(e, eb, sizeof(eb)));
}

/* A new connection to an agent this process trusts: one running as root, as
 * this process's user, or as the owner of the socket's directory (whoever
 * could have put the socket there). */
static dcpki_code connect_agent(dcpki_agent_client *c, int *out, dcpki_err *err)
{
    *out = -1;
    struct sockaddr_un a = { .sun_family = AF_UNIX };
    size_t pl = strlen(c->path);
    if (pl >= sizeof(a.sun_path))
        return dcpki_err_set(err, DCPKI_E_CONFIG_BAD_VALUE, "the agent's socket path %s is too long", c->path);
    memcpy(a.sun_path, c->path, pl + 1);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return agent_err(c, err, "cannot make a socket for", errno);
    if (connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0) {
        int e = errno;
        close(fd);
        char eb[128];
        if (e == ENOENT || e == ECONNREFUSED)
            return dcpki_err_set(err, DCPKI_E_AGENT, "no dcpki agent serves %s (is it running?): %s", c->path,
                                 dcpki_strerror(e, eb, sizeof(eb)));
        return agent_err(c, err, e == EACCES ? "this process may not connect to" : "cannot connect to", e);
    }
    struct ucred cr;
    socklen_t cl = sizeof(cr);
    char *dir_of = strdup(c->path);
    struct stat st;
    int have_dir = dir_of && stat(dirname(dir_of), &st) == 0;
    free(dir_of);
    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &cl) != 0 || cl != sizeof(cr)) {
        int e = errno;
        close(fd);
        return agent_err(c, err, "cannot learn who serves", e);
    }
    if (cr.uid != 0 && cr.uid != geteuid() && !(have_dir && cr.uid == st.st_uid)) {
        close(fd);
        return dcpki_err_set(err, DCPKI_E_AGENT,
                             "the process serving %s (pid %ld, uid %lu) is not trusted: it is neither root, nor "
                             "this process's user, nor the owner of the socket's directory",
                             c->path, (long)cr.pid, (unsigned long)cr.uid);
    }
    long wait_ms = (c->timeout_ms > 0 ? c->timeout_ms : 30000) + ANSWER_MARGIN_MS;
    struct timeval tv = { .tv_sec = wait_ms / 1000, .tv_usec = (wait_ms % 1000) * 1000 };
    if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) != 0 ||
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) != 0) {
        int e = errno;
        close(fd);
        return agent_err(c, err, "cannot set a deadline on the connection to", e);
    }
    *out = fd;
    return DCPKI_OK;
}

/* Sends a request and reads its answer. A kept connection the agent closed
 * meanwhile (it restarted) fails before any answer: the request is sent once
 * more on a new one (what the agent forwards is idempotent, and that copy
 * never reached it). On success *fd is the connection, to give back. */
static dcpki_code exchange(dcpki_agent_client *c, size_t n, const char *const *field, const size_t *len,
                           dcpki_agent_frame *ans, int *fd_out, dcpki_err *err)
{
    *fd_out = -1;
    for (;;) {
        int fd = take_idle(c), kept = fd >= 0;
        if (!kept) {
            dcpki_code rc = connect_agent(c, &fd, err);
            if (rc != DCPKI_OK)
                return rc;
        }
        int r = dcpki_agent_write_frame(fd, n, field, len);
        /* even when the write failed: an agent that refuses this process answers
         * why and closes at once, maybe before the request is written */
        int we = errno;
        int rr = dcpki_agent_read_frame(fd, DCPKI_AGENT_MAX_ANSWER, ans);
        if (r == 0 || rr == 1)
            r = rr;
        else
            errno = we;
        if (r == 1 && ans->nfields >= 2) {
            *fd_out = fd;
            return DCPKI_OK;
        }
        int e = r == 0 ? ECONNRESET : r == 1 ? EPROTO : errno;
        close(fd);
        if (r == 1)
            dcpki_agent_frame_free(ans);
        if (kept && (r == 0 || e == EPIPE || e == ECONNRESET))
            continue;
        if (e == EAGAIN || e == EWOULDBLOCK)
            return dcpki_err_set(err, DCPKI_E_TIMEOUT, "the dcpki agent at %s did not answer within %ld ms",
                                 c->path, c->timeout_ms + ANSWER_MARGIN_MS);
        if (e == EPROTO || e == EMSGSIZE)
            return dcpki_err_set(err, DCPKI_E_AGENT, "the dcpki agent at %s answered with a malformed frame "
                                 "(is it the same version of dcpki?)", c->path);
        return agent_err(c, err, r == 0 ? "the connection was closed by" : "the connection broke with", e);
    }
}

/* The answer's error (fields 0 and 1), with the agent named (dcpki_err_set escapes the text). */
static dcpki_code answer_error(const dcpki_agent_client *c, const dcpki_agent_frame *ans, dcpki_err *err)
{
    int n = ans->len[1] > 400 ? 400 : (int)ans->len[1];
    return dcpki_err_set(err, dcpki_code_of_id(ans->field[0], ans->len[0]), "%.*s (from the dcpki agent at %s)", n,
                         ans->field[1], c->path);
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
    int fd;
    dcpki_code rc = exchange(c, 2, hello, hello_len, &ans, &fd, err);
    if (rc != DCPKI_OK) {
        dcpki_agent_client_free(c);
        return rc;
    }
    int ok = 1;
    if (!dcpki_agent_field_is(&ans, 0, "ok")) {
        rc = answer_error(c, &ans, err);
    } else if (ans.nfields != 5) {
        rc = dcpki_err_set(err, DCPKI_E_AGENT, "the dcpki agent at %s answered hello with %zu fields, not 5 (is it "
                           "the same version of dcpki?)", c->path, ans.nfields);
    } else {
        c->base = field_dup(&ans, 2);
        c->label = field_dup(&ans, 3);
        c->timeout_ms = field_long(&ans, 4, &ok);
        if (!c->base || !c->label)
            rc = dcpki_err_set(err, DCPKI_E_NOMEM, "connecting to the dcpki agent");
        else if (!ok || c->timeout_ms <= 0)
            rc = dcpki_err_set(err, DCPKI_E_AGENT, "the dcpki agent at %s gave no valid deadline", c->path);
    }
    dcpki_agent_frame_free(&ans);
    if (rc != DCPKI_OK) {
        close(fd);
        dcpki_agent_client_free(c);
        return rc;
    }
    give_back(c, fd);
    DCPKI_DEBUG("agent: %s serves %s as %s (deadline %ld ms)", c->path, c->base, c->label, c->timeout_ms);
    *out = c;
    return DCPKI_OK;
}

void dcpki_agent_client_free(dcpki_agent_client *c)
{
    if (!c)
        return;
    int fd;
    while ((fd = take_idle(c)) >= 0)
        close(fd);
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
    int fd;
    dcpki_code rc = exchange(c, 6, field, len, &ans, &fd, err);
    if (rc != DCPKI_OK)
        return rc;
    int ok = 1;
    if (!dcpki_agent_field_is(&ans, 0, "ok")) {
        rc = answer_error(c, &ans, err);
    } else if (ans.nfields != 8) {
        rc = dcpki_err_set(err, DCPKI_E_AGENT, "the dcpki agent at %s answered with %zu fields, not 8 (is it the "
                           "same version of dcpki?)", c->path, ans.nfields);
    } else {
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
            rc = dcpki_err_set(err, DCPKI_E_AGENT, "the dcpki agent at %s answered with a malformed status",
                               c->path);
    }
    dcpki_agent_frame_free(&ans);
    if (rc != DCPKI_OK)
        dcpki_http_response_free(resp);
    give_back(c, fd); /* the exchange itself completed */
    return rc;
}
