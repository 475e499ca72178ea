/* The agent's side (dcpki/agent.h): a Unix socket, a thread per connection,
 * each request checked against what the agent forwards, then performed by
 * the caller's forward function (the signing client's transport). */
#define _GNU_SOURCE /* struct ucred, SO_PEERGROUPS */
#include "dcpki/agent.h"
#include "dcpki/log.h"
#include "internal.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#define MAX_CONNECTIONS 512
#define MAX_PATH_LEN 2048
#define MAX_SIGN_BODY (64 * 1024)

typedef struct server {
    const dcpki_agent_service *svc;
    pthread_mutex_t lock;
    pthread_cond_t idle;
    int nconn;
    int conn[MAX_CONNECTIONS]; /* -1: free */
    atomic_ulong accepted, turned_away, forwarded, refused_requests;
} server;

typedef struct conn_arg {
    server *s;
    int slot;
    struct ucred peer;
} conn_arg;

/* Ids and the unreserved characters of RFC 3986 §2.3, and '%' for escapes. */
static int id_char(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.' ||
           c == '_' || c == '~' || c == '%';
}

/* NULL when the agent forwards this request, else why not. The three
 * requests of the signing client (signing.c): list and search
 * (keypairs?...), describe (keypairs/{id}), sign (keypairs/{id}/sign). */
static const char *refused(const char *method, const char *path, size_t body_len)
{
    static const char pre[] = "keypairs";
    if (strncmp(path, pre, sizeof(pre) - 1) != 0)
        return "the agent forwards only keypairs requests";
    const char *p = path + sizeof(pre) - 1;
    if (strcmp(method, "GET") == 0) {
        if (body_len)
            return "a GET request has no body";
        if (*p == '?') {
            for (p++; *p; p++)
                if (!id_char(*p) && *p != '=' && *p != '&')
                    return "the query has characters other than letters, digits, -._~%=&";
            return NULL;
        }
        if (*p != '/' || !p[1])
            return "not keypairs?QUERY or keypairs/ID";
        for (p++; *p; p++)
            if (!id_char(*p))
                return "the key id has characters other than letters, digits, -._~%";
        return NULL;
    }
    if (strcmp(method, "POST") == 0) {
        if (*p != '/')
            return "POST only to keypairs/ID/sign";
        const char *id = ++p;
        while (id_char(*p))
            p++;
        if (p == id || strcmp(p, "/sign") != 0)
            return "POST only to keypairs/ID/sign";
        if (body_len > MAX_SIGN_BODY)
            return "the body of a signature request is larger than 64 KiB";
        return NULL;
    }
    return "the agent forwards only GET and POST";
}

static int answer(int fd, size_t n, const char *const *field, const size_t *len)
{
    return dcpki_agent_write_frame(fd, n, field, len);
}

static int answer_err(int fd, dcpki_code code, const char *detail)
{
    const char *f[] = { dcpki_code_id(code), detail };
    size_t l[] = { strlen(f[0]), strlen(detail) };
    return answer(fd, 2, f, l);
}

static int answer_hello(int fd, const dcpki_agent_service *svc)
{
    char t[24];
    snprintf(t, sizeof(t), "%ld", svc->timeout_ms);
    const char *f[] = { "ok", "", svc->base, svc->label, t };
    size_t l[] = { 2, 0, strlen(svc->base), strlen(svc->label), strlen(t) };
    return answer(fd, 5, f, l);
}

static int answer_http(int fd, const dcpki_http_response *r)
{
    char st[24], at[24], ra[24], to[24];
    snprintf(st, sizeof(st), "%ld", r->status);
    snprintf(at, sizeof(at), "%d", r->attempts);
    snprintf(ra, sizeof(ra), "%ld", r->retry_after_ms);
    snprintf(to, sizeof(to), "%ld", r->timeout_ms);
    const char *ct = r->content_type ? r->content_type : "";
    const char *f[] = { "ok", "", st, ct, at, ra, to, r->body ? r->body : "" };
    size_t l[] = { 2, 0, strlen(st), strlen(ct), strlen(at), strlen(ra), strlen(to), r->body ? r->len : 0 };
    return answer(fd, 8, f, l);
}

/* One request frame of an http exchange: checked, forwarded, answered. -1
 * when the connection cannot go on. */
static int serve_http(int fd, server *s, const dcpki_agent_frame *q, const struct ucred *peer)
{
    const dcpki_agent_service *svc = s->svc;
    if (q->nfields != 6 || q->len[2] > 8 || q->len[3] > MAX_PATH_LEN || q->len[5] != 1)
        return answer_err(fd, DCPKI_E_AGENT, "malformed request (is the client the same version of dcpki?)") ? -1
                                                                                                               : 0;
    char method[9], path[MAX_PATH_LEN + 1];
    memcpy(method, q->field[2], q->len[2]);
    method[q->len[2]] = '\0';
    memcpy(path, q->field[3], q->len[3]);
    path[q->len[3]] = '\0';
    if (strlen(method) != q->len[2] || strlen(path) != q->len[3])
        return answer_err(fd, DCPKI_E_AGENT, "a NUL byte in the method or the path") ? -1 : 0;
    const char *why = refused(method, path, q->len[4]);
    if (why) {
        char esc[256], msg[512];
        dcpki_escape(path, esc, sizeof(esc));
        snprintf(msg, sizeof(msg), "the agent does not forward %s %s: %s", method, esc, why);
        dcpki_log(0, "agent: refused %s %s from pid %ld (uid %lu): %s", method, esc, (long)peer->pid,
                  (unsigned long)peer->uid, why);
        atomic_fetch_add(&s->refused_requests, 1);
        return answer_err(fd, DCPKI_E_ACCESS_DENIED, msg) ? -1 : 0;
    }
    char *body = NULL;
    if (q->len[4]) {
        body = malloc(q->len[4] + 1);
        if (!body)
            return answer_err(fd, DCPKI_E_NOMEM, "reading the request") ? -1 : 0;
        memcpy(body, q->field[4], q->len[4]);
        body[q->len[4]] = '\0';
    }
    dcpki_http_response r;
    dcpki_err err;
    dcpki_err_clear(&err);
    dcpki_code rc = svc->forward(svc->arg, method, path, body, q->len[4], q->field[5][0] == '1', &r, &err);
    free(body);
    atomic_fetch_add(&s->forwarded, 1);
    DCPKI_DEBUG("agent: %s %s for pid %ld (uid %lu): %s %ld", method, path, (long)peer->pid,
                (unsigned long)peer->uid, dcpki_code_id(rc), rc == DCPKI_OK ? r.status : 0L);
    if (rc != DCPKI_OK)
        return answer_err(fd, rc, err.detail) ? -1 : 0;
    int w = answer_http(fd, &r);
    dcpki_http_response_free(&r);
    return w ? -1 : 0;
}

static void *conn_main(void *arg)
{
    conn_arg *a = arg;
    server *s = a->s;
    int fd = s->conn[a->slot];
    for (;;) {
        dcpki_agent_frame q;
        if (dcpki_agent_read_frame(fd, DCPKI_AGENT_MAX_REQUEST, &q) != 1)
            break;
        int r = -1;
        if (!dcpki_agent_field_is(&q, 0, "1"))
            answer_err(fd, DCPKI_E_AGENT, "unknown protocol version (is the client the same version of dcpki?)");
        else if (dcpki_agent_field_is(&q, 1, "hello"))
            r = answer_hello(fd, s->svc);
        else if (dcpki_agent_field_is(&q, 1, "http"))
            r = serve_http(fd, s, &q, &a->peer);
        else
            answer_err(fd, DCPKI_E_AGENT, "unknown request (is the client the same version of dcpki?)");
        dcpki_agent_frame_free(&q);
        if (r != 0)
            break;
    }
    pthread_mutex_lock(&s->lock);
    close(fd);
    s->conn[a->slot] = -1;
    if (--s->nconn == 0)
        pthread_cond_broadcast(&s->idle);
    pthread_mutex_unlock(&s->lock);
    free(a);
    return NULL;
}

/* Root, the agent's user, and members of its group (primary or
 * supplementary: SO_PEERGROUPS, Linux 4.13). */
static int peer_allowed(int fd, struct ucred *cr)
{
    socklen_t cl = sizeof(*cr);
    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, cr, &cl) != 0)
        return 0;
    if (cr->uid == 0 || cr->uid == geteuid() || cr->gid == getegid())
        return 1;
    gid_t groups[64], *g = groups;
    socklen_t gl = sizeof(groups);
    if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, g, &gl) != 0) {
        g = errno == ERANGE ? malloc(gl) : NULL;
        if (!g || getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, g, &gl) != 0) {
            free(g);
            return 0; /* the groups cannot be known (a kernel before 4.13): refused */
        }
    }
    int ok = 0;
    for (size_t i = 0; i < gl / sizeof(gid_t); i++)
        if (g[i] == getegid())
            ok = 1;
    if (g != groups)
        free(g);
    return ok;
}

/* A socket at path: an agent's that answers (refused), a stale one (removed)
 * or none. */
static dcpki_code clear_path(const char *path, const struct sockaddr_un *a, dcpki_err *err)
{
    struct stat st;
    if (lstat(path, &st) != 0)
        return DCPKI_OK;
    if (!S_ISSOCK(st.st_mode))
        return dcpki_err_set(err, DCPKI_E_IO, "%s exists and is not a socket; remove it or choose another "
                             "[signing] agent", path);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int live = fd >= 0 && connect(fd, (const struct sockaddr *)a, sizeof(*a)) == 0;
    if (fd >= 0)
        close(fd);
    if (live)
        return dcpki_err_set(err, DCPKI_E_IO, "another agent already serves %s (stop it first, or give this one "
                             "another --socket)", path);
    if (unlink(path) != 0) {
        char eb[128];
        return dcpki_err_set(err, DCPKI_E_IO, "cannot remove the stale socket %s: %s", path,
                             dcpki_strerror(errno, eb, sizeof(eb)));
    }
    return DCPKI_OK;
}

static dcpki_code listen_on(const char *path, int *out, dcpki_err *err)
{
    char eb[128];
    struct sockaddr_un a = { .sun_family = AF_UNIX };
    if (strlen(path) >= sizeof(a.sun_path))
        return dcpki_err_set(err, DCPKI_E_CONFIG_BAD_VALUE, "the agent's socket path %s is too long", path);
    strcpy(a.sun_path, path);
    dcpki_code rc = clear_path(path, &a, err);
    if (rc != DCPKI_OK)
        return rc;
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return dcpki_err_set(err, DCPKI_E_IO, "socket: %s", dcpki_strerror(errno, eb, sizeof(eb)));
    mode_t old = umask(0117); /* the socket is made 0660: owner and group may connect */
    int b = bind(fd, (struct sockaddr *)&a, sizeof(a));
    int e = errno;
    umask(old);
    if (b != 0 || listen(fd, 128) != 0) {
        if (b == 0)
            e = errno;
        close(fd);
        return dcpki_err_set(err, DCPKI_E_IO, "cannot listen on %s: %s", path, dcpki_strerror(e, eb, sizeof(eb)));
    }
    *out = fd;
    return DCPKI_OK;
}

static void accept_one(server *s, int lfd)
{
    int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
    if (fd < 0)
        return;
    conn_arg *a = calloc(1, sizeof(*a));
    if (!a || !peer_allowed(fd, &a->peer)) {
        atomic_fetch_add(&s->turned_away, 1);
        if (a) {
            dcpki_log(0, "agent: refused a connection from pid %ld (uid %lu, gid %lu): not root, not uid %lu, "
                      "not in group %lu", (long)a->peer.pid, (unsigned long)a->peer.uid,
                      (unsigned long)a->peer.gid, (unsigned long)geteuid(), (unsigned long)getegid());
            char msg[200];
            snprintf(msg, sizeof(msg), "the agent serves root, uid %lu and the members of group %lu; this process "
                     "runs as uid %lu", (unsigned long)geteuid(), (unsigned long)getegid(),
                     (unsigned long)a->peer.uid);
            answer_err(fd, DCPKI_E_AGENT, msg);
        }
        close(fd);
        free(a);
        return;
    }
    a->s = s;
    pthread_mutex_lock(&s->lock);
    a->slot = -1;
    for (int i = 0; i < MAX_CONNECTIONS && a->slot < 0; i++)
        if (s->conn[i] < 0)
            a->slot = i;
    if (a->slot >= 0) {
        s->conn[a->slot] = fd;
        s->nconn++;
    }
    pthread_mutex_unlock(&s->lock);
    pthread_t th;
    pthread_attr_t at;
    int started = 0;
    if (a->slot >= 0 && pthread_attr_init(&at) == 0) {
        pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
        started = pthread_create(&th, &at, conn_main, a) == 0;
        pthread_attr_destroy(&at);
    }
    if (started) {
        atomic_fetch_add(&s->accepted, 1);
        return;
    }
    dcpki_log(0, "agent: no room for a connection from pid %ld (%d connections)", (long)a->peer.pid,
              MAX_CONNECTIONS);
    answer_err(fd, DCPKI_E_AGENT, "the agent has no room for another connection; retry later");
    pthread_mutex_lock(&s->lock);
    if (a->slot >= 0) {
        s->conn[a->slot] = -1;
        s->nconn--;
    }
    pthread_mutex_unlock(&s->lock);
    close(fd);
    free(a);
}

static void log_stats(server *s)
{
    struct rusage ru;
    double ms = 0;
    if (getrusage(RUSAGE_SELF, &ru) == 0)
        ms = (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e3 +
             (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e3;
    dcpki_log(0, "agent: %lu connections accepted, %lu refused; %lu requests forwarded, %lu refused; CPU %.3f ms",
              atomic_load(&s->accepted), atomic_load(&s->turned_away), atomic_load(&s->forwarded),
              atomic_load(&s->refused_requests), ms);
}

dcpki_code dcpki_agent_serve(const dcpki_agent_service *svc, volatile sig_atomic_t *stop,
                             volatile sig_atomic_t *report, dcpki_err *err)
{
    int lfd = -1;
    dcpki_code rc = listen_on(svc->socket_path, &lfd, err);
    if (rc != DCPKI_OK)
        return rc;
    server s = { .svc = svc };
    pthread_mutex_init(&s.lock, NULL);
    pthread_cond_init(&s.idle, NULL);
    for (int i = 0; i < MAX_CONNECTIONS; i++)
        s.conn[i] = -1;
    dcpki_log(0, "agent: serving %s for %s as %s", svc->socket_path, svc->base, svc->label);
    if (svc->ready)
        svc->ready();
    while (!*stop) {
        struct pollfd p = { .fd = lfd, .events = POLLIN };
        /* a signal interrupts poll (EINTR): *stop and *report are seen at once; the timeout is a safety net */
        if (poll(&p, 1, 1000) > 0 && (p.revents & POLLIN))
            accept_one(&s, lfd);
        if (report && *report) {
            *report = 0;
            log_stats(&s);
        }
    }
    close(lfd);
    unlink(svc->socket_path);
    /* connections waiting for a request end now; requests in flight finish and are answered */
    pthread_mutex_lock(&s.lock);
    for (int i = 0; i < MAX_CONNECTIONS; i++)
        if (s.conn[i] >= 0)
            shutdown(s.conn[i], SHUT_RD);
    while (s.nconn > 0)
        pthread_cond_wait(&s.idle, &s.lock);
    pthread_mutex_unlock(&s.lock);
    pthread_cond_destroy(&s.idle);
    pthread_mutex_destroy(&s.lock);
    log_stats(&s);
    dcpki_log(0, "agent: stopped");
    return DCPKI_OK;
}
