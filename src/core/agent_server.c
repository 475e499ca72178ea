/* The agent's side (dcpki/agent.h): a Unix socket, a thread per connection,
 * each request checked against what the agent forwards, then performed by
 * the caller's forward function (the signing client's transport).
 *
 * Every read and write has a deadline: a connection that sends nothing for
 * IDLE_MS, or does not finish a frame in that time, is closed (a client sends
 * its request again on a new connection), and an answer the client does not
 * read within WRITE_MS ends its connection. One lock file per socket keeps a
 * second agent off a socket that one serves. */
#define _GNU_SOURCE /* struct ucred, SO_PEERGROUPS, ppoll */
#include "dcpki/agent.h"
#include "dcpki/log.h"
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define MAX_CONNECTIONS 512
#define MAX_PATH_LEN 2048
#define MAX_SIGN_BODY (64 * 1024)
#define IDLE_MS (60 * 1000)
#define WRITE_MS (10 * 1000)

typedef struct server {
    const dcpki_agent_service *svc;
    pthread_mutex_t lock;
    pthread_cond_t idle;
    int nconn;
    int conn[MAX_CONNECTIONS]; /* -1: free */
    atomic_ulong accepted, turned_away, forwarded, refused_requests;
    int64_t accept_failed_logged; /* dcpki_now_ms() of the last such line (the accepting thread's) */
} server;

typedef struct conn_arg {
    server *s;
    int slot;
    struct ucred peer;
} conn_arg;

/* What the signing client's escaping (curl_easy_escape) leaves as it is, the
 * unreserved characters of RFC 3986 §2.3, and '%' of its escapes. */
static int id_char(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.' ||
           c == '_' || c == '~' || c == '%';
}

/* An id that stays one path segment whatever the service or libcurl does
 * with it: not "." or ".." (RFC 3986 §5.2.4 removes them), and no escaped
 * '.', '/' or '\'. */
static const char *bad_id(const char *id, size_t n)
{
    if (n == 0)
        return "no key id";
    if ((n == 1 && id[0] == '.') || (n == 2 && id[0] == '.' && id[1] == '.'))
        return "a key id of '.' or '..'";
    for (size_t i = 0; i < n; i++) {
        if (!id_char(id[i]))
            return "the key id has characters other than letters, digits, -._~%";
        if (id[i] == '%' && n - i >= 3 &&
            (strncasecmp(id + i, "%2e", 3) == 0 || strncasecmp(id + i, "%2f", 3) == 0 ||
             strncasecmp(id + i, "%5c", 3) == 0))
            return "an escaped '.', '/' or '\\' in the key id";
    }
    return NULL;
}

/* The three requests of the signing client (signing.c): list and search
 * (keypairs?...), describe (keypairs/{id}), sign (keypairs/{id}/sign). */
const char *dcpki_agent_refused(const char *method, const char *path, size_t body_len)
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
        if (*p != '/')
            return "not keypairs?QUERY or keypairs/ID";
        return bad_id(p + 1, strlen(p + 1));
    }
    if (strcmp(method, "POST") == 0) {
        static const char sign[] = "/sign";
        size_t n = strlen(p);
        if (*p != '/' || n < sizeof(sign) || strcmp(p + n - (sizeof(sign) - 1), sign) != 0)
            return "POST only to keypairs/ID/sign";
        const char *why = bad_id(p + 1, n - 1 - (sizeof(sign) - 1));
        if (why)
            return why;
        if (body_len > MAX_SIGN_BODY)
            return "the body of a signature request is larger than 64 KiB";
        return NULL;
    }
    return "the agent forwards only GET and POST";
}

static int answer(int fd, size_t n, const char *const *field, const size_t *len)
{
    return dcpki_agent_write_frame(fd, n, field, len, dcpki_now_ms() + WRITE_MS);
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
    if (q->nfields == 6 && q->len[3] > MAX_PATH_LEN)
        return answer_err(fd, DCPKI_E_INVALID_ARGUMENT, "a path longer than the agent takes (2048 bytes)") ? -1 : 0;
    if (q->nfields != 6 || q->len[2] > 8 || q->len[5] != 1)
        return answer_err(fd, DCPKI_E_AGENT, "malformed request (is the client the same version of dcpki?)") ? -1
                                                                                                               : 0;
    char method[9], path[MAX_PATH_LEN + 1];
    memcpy(method, q->field[2], q->len[2]);
    method[q->len[2]] = '\0';
    memcpy(path, q->field[3], q->len[3]);
    path[q->len[3]] = '\0';
    if (strlen(method) != q->len[2] || strlen(path) != q->len[3])
        return answer_err(fd, DCPKI_E_AGENT, "a NUL byte in the method or the path") ? -1 : 0;
    const char *why = dcpki_agent_refused(method, path, q->len[4]);
    if (why) {
        char em[40], esc[256], msg[512];
        dcpki_escape(method, em, sizeof(em));
        dcpki_escape(path, esc, sizeof(esc));
        snprintf(msg, sizeof(msg), "the agent does not forward %s %s: %s", em, esc, why);
        dcpki_log(0, "agent: refused %s %s from pid %ld (uid %lu): %s", em, esc, (long)peer->pid,
                  (unsigned long)peer->uid, why);
        atomic_fetch_add(&s->refused_requests, 1);
        return answer_err(fd, DCPKI_E_ACCESS_DENIED, msg) ? -1 : 0;
    }
    dcpki_http_response r;
    dcpki_err err;
    dcpki_err_clear(&err);
    /* the body as it came (the transport takes it by its length, no NUL needed) */
    dcpki_code rc = svc->forward(svc->arg, method, path, q->len[4] ? q->field[4] : NULL, q->len[4],
                                 q->field[5][0] == '1', &r, &err);
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
        /* idle, or a frame not finished: the connection ends (ETIMEDOUT) */
        if (dcpki_agent_read_frame(fd, DCPKI_AGENT_MAX_REQUEST, dcpki_now_ms() + IDLE_MS, &q) != 1) {
            if (errno == EMSGSIZE) /* said before closing: the client reads it even if its write failed */
                answer_err(fd, DCPKI_E_INVALID_ARGUMENT, "a request larger than the agent takes (80 KiB)");
            break;
        }
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

/* 1: root, the agent's user, or a member of its group (primary or
 * supplementary: SO_PEERGROUPS, Linux 4.13); 0: another; -1 (errno): the
 * peer's credentials cannot be read. */
static int peer_allowed(int fd, struct ucred *cr)
{
    socklen_t cl = sizeof(*cr);
    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, cr, &cl) != 0)
        return -1;
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

/* Refuses fd with code and a message, and closes it. */
static void turn_away(server *s, int fd, dcpki_code code, const char *msg)
{
    atomic_fetch_add(&s->turned_away, 1);
    answer_err(fd, code, msg);
    close(fd);
}

static void accept_one(server *s, int lfd)
{
    char msg[256], eb[128];
    int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
    if (fd < 0) {
        if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
            /* the connection waits in the backlog: no busy loop on it */
            static const struct timespec pause = { 0, 100 * 1000 * 1000 };
            if (dcpki_now_ms() - s->accept_failed_logged >= 10000) {
                dcpki_log(0, "agent: cannot accept a connection: %s", dcpki_strerror(errno, eb, sizeof(eb)));
                s->accept_failed_logged = dcpki_now_ms();
            }
            nanosleep(&pause, NULL);
        }
        return;
    }
    conn_arg *a = calloc(1, sizeof(*a));
    if (!a) {
        turn_away(s, fd, DCPKI_E_NOMEM, "the agent is out of memory");
        return;
    }
    int allowed = peer_allowed(fd, &a->peer);
    if (allowed <= 0) {
        if (allowed < 0) {
            dcpki_log(0, "agent: refused a connection: its credentials cannot be read (SO_PEERCRED): %s",
                      dcpki_strerror(errno, eb, sizeof(eb)));
            snprintf(msg, sizeof(msg), "the agent cannot read this process's credentials");
        } else {
            dcpki_log(0, "agent: refused a connection from pid %ld (uid %lu, gid %lu): not root, not uid %lu, "
                      "not in group %lu", (long)a->peer.pid, (unsigned long)a->peer.uid,
                      (unsigned long)a->peer.gid, (unsigned long)geteuid(), (unsigned long)getegid());
            snprintf(msg, sizeof(msg), "the agent serves root, uid %lu and the members of group %lu; this process "
                     "runs as uid %lu", (unsigned long)geteuid(), (unsigned long)getegid(),
                     (unsigned long)a->peer.uid);
        }
        free(a);
        turn_away(s, fd, DCPKI_E_AGENT, msg);
        return;
    }
    a->s = s;
    a->slot = -1;
    pthread_mutex_lock(&s->lock);
    for (int i = 0; i < MAX_CONNECTIONS && a->slot < 0; i++)
        if (s->conn[i] < 0)
            a->slot = i;
    if (a->slot >= 0) {
        s->conn[a->slot] = fd;
        s->nconn++;
    }
    pthread_mutex_unlock(&s->lock);
    if (a->slot < 0) {
        dcpki_log(0, "agent: no room for a connection from pid %ld (%d connections)", (long)a->peer.pid,
                  MAX_CONNECTIONS);
        free(a);
        turn_away(s, fd, DCPKI_E_SERVICE_UNAVAILABLE, "the agent serves as many connections as it can; retry later");
        return;
    }
    pthread_t th;
    pthread_attr_t at;
    int e = pthread_attr_init(&at);
    if (e == 0) {
        pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
        e = pthread_create(&th, &at, conn_main, a); /* the thread inherits the blocked signals */
        pthread_attr_destroy(&at);
    }
    if (e == 0) {
        atomic_fetch_add(&s->accepted, 1);
        return;
    }
    dcpki_log(0, "agent: cannot start a thread for a connection from pid %ld: %s", (long)a->peer.pid,
              dcpki_strerror(e, eb, sizeof(eb)));
    pthread_mutex_lock(&s->lock);
    s->conn[a->slot] = -1;
    s->nconn--;
    pthread_mutex_unlock(&s->lock);
    free(a);
    turn_away(s, fd, DCPKI_E_SERVICE_UNAVAILABLE, "the agent cannot start a thread for this connection; retry later");
}

/* The lock that makes one agent per socket: PATH.lock, held while serving. */
static dcpki_code lock_path(const char *path, int *out, dcpki_err *err)
{
    char eb[128];
    char *name = dcpki_strjoin(path, ".lock", (char *)NULL);
    if (!name)
        return dcpki_err_set(err, DCPKI_E_NOMEM, "locking %s", path);
    int fd = open(name, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    int e = errno;
    if (fd >= 0 && flock(fd, LOCK_EX | LOCK_NB) != 0) {
        e = errno;
        close(fd);
        fd = -1;
        if (e == EWOULDBLOCK) {
            dcpki_code rc = dcpki_err_set(err, DCPKI_E_IO, "another agent already serves %s (it holds %s; stop it "
                                          "first, or give this one another --socket)", path, name);
            free(name);
            return rc;
        }
    }
    if (fd < 0) {
        dcpki_code rc = dcpki_err_set(err, DCPKI_E_IO, "cannot lock %s: %s", name, dcpki_strerror(e, eb, sizeof(eb)));
        free(name);
        return rc;
    }
    free(name);
    *out = fd;
    return DCPKI_OK;
}

/* With the lock held: a socket left at path by an agent that died is
 * removed; one that a process (not a dcpki agent of this kind) serves is not. */
static dcpki_code clear_path(const char *path, const struct sockaddr_un *a, dcpki_err *err)
{
    char eb[128];
    struct stat st;
    if (lstat(path, &st) != 0)
        return DCPKI_OK;
    if (!S_ISSOCK(st.st_mode))
        return dcpki_err_set(err, DCPKI_E_IO, "%s exists and is not a socket; remove it or choose another "
                             "socket ([signing] agent or --socket)", path);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0)
        return dcpki_err_set(err, DCPKI_E_IO, "socket: %s", dcpki_strerror(errno, eb, sizeof(eb)));
    int c = connect(fd, (const struct sockaddr *)a, sizeof(*a)), e = errno;
    close(fd);
    if (c == 0 || e == EAGAIN)
        return dcpki_err_set(err, DCPKI_E_IO, "a process already serves %s; stop it or choose another "
                             "socket ([signing] agent or --socket)", path);
    if (e != ECONNREFUSED)
        return dcpki_err_set(err, DCPKI_E_IO, "cannot tell whether a process serves %s: %s", path,
                             dcpki_strerror(e, eb, sizeof(eb)));
    if (unlink(path) != 0)
        return dcpki_err_set(err, DCPKI_E_IO, "cannot remove the stale socket %s: %s", path,
                             dcpki_strerror(errno, eb, sizeof(eb)));
    return DCPKI_OK;
}

/* The listening socket, mode 0660 (set between bind and listen, when nobody
 * can connect yet); *made: the socket file's, to remove only it at the end. */
static dcpki_code listen_on(const char *path, int *out, struct stat *made, dcpki_err *err)
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
    struct stat st;
    const char *step = "bind";
    int ok = bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0;
    /* not following a link someone may have put at path meanwhile */
    if (ok && !(ok = fchmodat(AT_FDCWD, path, 0660, AT_SYMLINK_NOFOLLOW) == 0 && lstat(path, &st) == 0 &&
                     S_ISSOCK(st.st_mode)))
        step = "chmod";
    if (ok && !(ok = listen(fd, 128) == 0))
        step = "listen";
    if (!ok) {
        int e = errno;
        close(fd);
        if (strcmp(step, "bind") != 0)
            unlink(path);
        return dcpki_err_set(err, DCPKI_E_IO, "cannot listen on %s (%s): %s", path, step,
                             dcpki_strerror(e, eb, sizeof(eb)));
    }
    *made = st;
    *out = fd;
    return DCPKI_OK;
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

/* How long a stop waits for the requests in flight: the longest a forward
 * and its answer may take. */
static long drain_ms(const dcpki_agent_service *svc)
{
    return svc->timeout_ms + WRITE_MS + 5000;
}

dcpki_code dcpki_agent_serve(const dcpki_agent_service *svc, volatile sig_atomic_t *stop,
                             volatile sig_atomic_t *report, dcpki_err *err)
{
    int lock = -1, lfd = -1;
    struct stat made = { 0 };
    dcpki_code rc = lock_path(svc->socket_path, &lock, err);
    if (rc == DCPKI_OK && (rc = listen_on(svc->socket_path, &lfd, &made, err)) != DCPKI_OK)
        close(lock);
    if (rc != DCPKI_OK)
        return rc;
    /* on the heap: a connection's thread still running when a stop gives up waiting must not touch freed memory */
    server *s = calloc(1, sizeof(*s));
    if (!s || pthread_mutex_init(&s->lock, NULL) != 0 || pthread_cond_init(&s->idle, NULL) != 0) {
        free(s);
        close(lfd);
        unlink(svc->socket_path);
        close(lock);
        return dcpki_err_set(err, DCPKI_E_NOMEM, "the agent cannot make its state");
    }
    s->svc = svc;
    s->accept_failed_logged = -10000;
    for (int i = 0; i < MAX_CONNECTIONS; i++)
        s->conn[i] = -1;
    /* SIGTERM, SIGINT and SIGUSR1 reach this thread only inside ppoll: one is
     * never missed between a check of *stop and the wait, and never lands in
     * a connection's thread (which inherit the mask) */
    sigset_t block, old, waiting;
    sigemptyset(&block);
    sigaddset(&block, SIGTERM);
    sigaddset(&block, SIGINT);
    sigaddset(&block, SIGUSR1);
    pthread_sigmask(SIG_BLOCK, &block, &old);
    waiting = old; /* even if the caller had them blocked */
    sigdelset(&waiting, SIGTERM);
    sigdelset(&waiting, SIGINT);
    sigdelset(&waiting, SIGUSR1);
    dcpki_log(0, "agent: serving %s for %s as %s", svc->socket_path, svc->base, svc->label);
    if (svc->ready)
        svc->ready();
    while (!*stop) {
        struct pollfd p = { .fd = lfd, .events = POLLIN };
        if (ppoll(&p, 1, NULL, &waiting) > 0 && (p.revents & POLLIN))
            accept_one(s, lfd);
        if (report && *report) {
            *report = 0;
            log_stats(s);
        }
    }
    close(lfd);
    struct stat st;
    if (lstat(svc->socket_path, &st) == 0 && st.st_ino == made.st_ino && st.st_dev == made.st_dev)
        unlink(svc->socket_path);
    /* connections waiting for a request end now; requests in flight finish and are answered, for as long as
     * they may take */
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += drain_ms(svc) / 1000 + 1;
    pthread_mutex_lock(&s->lock);
    for (int i = 0; i < MAX_CONNECTIONS; i++)
        if (s->conn[i] >= 0)
            shutdown(s->conn[i], SHUT_RD);
    int timed_out = 0;
    while (s->nconn > 0 && !timed_out)
        timed_out = pthread_cond_timedwait(&s->idle, &s->lock, &until) == ETIMEDOUT;
    int left = s->nconn;
    pthread_mutex_unlock(&s->lock);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    close(lock); /* the lock file stays: removing it would race with the next agent's open */
    log_stats(s);
    if (left > 0) {
        /* their threads still use *s: it is left to the process's end */
        dcpki_log(0, "agent: stopped with %d request%s still in flight after %ld ms", left, left == 1 ? "" : "s",
                  drain_ms(svc));
        return DCPKI_OK;
    }
    pthread_cond_destroy(&s->idle);
    pthread_mutex_destroy(&s->lock);
    free(s);
    dcpki_log(0, "agent: stopped");
    return DCPKI_OK;
}
