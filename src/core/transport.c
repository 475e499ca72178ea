/* HTTPS transport over libcurl (GnuTLS flavour).
 *
 * - One CURLSH per transport shares the connection cache, TLS sessions and DNS
 *   between all easy handles and threads, so N requests reuse one connection
 *   (one TLS handshake). Easy handles are pooled and configured once: a
 *   request sets only what differs from the handle's previous request (body,
 *   and URL, headers or deadline when they changed), and a handle is reset
 *   only when the HTTP method changes. The pool grows to the largest number of
 *   requests in flight and MAXCONNECTS follows it (libcurl's default of 5
 *   would close connections that other threads are about to reuse), so T
 *   threads use T connections, never more.
 * - The server is verified against [ca] trust only (CAINFO set, CAPATH cleared,
 *   VERIFYPEER/VERIFYHOST always on); mutual TLS with the RA identity's files.
 * - Every request has a deadline ([ca] timeout_ms) covering connect, transfer
 *   and retries. Idempotent requests are retried on 429/502/503/504 and on a
 *   reset reused connection with exponential backoff, honouring Retry-After
 *   (seconds or HTTP date), never past the deadline.
 * - curl_global_init runs once (pthread_once) when the first transport is
 *   made, never at library/provider load. curl_global_cleanup is never called:
 *   a library cannot know whether other code in the process still uses curl.
 *
 * Fork safety. A forked child inherits the parent's sockets and TLS states. If
 * the child closed those connections through curl, curl would read from and
 * send a TLS close_notify on the parent's sockets, breaking the parent's
 * connections (and could consume bytes meant for the parent). So every socket
 * curl opens is recorded (OPENSOCKET/CLOSESOCKET callbacks); on the first
 * request in a new process (dcpki/fork.h) the transport first points each
 * inherited descriptor at /dev/null (dup2), then cleans up its pooled handles
 * and the share (curl's shutdown traffic goes nowhere, the parent's sockets
 * stay intact), and starts a fresh share. pthread_atfork handlers hold every
 * transport's locks across fork() (the parent then releases them, the child
 * makes them anew) so the child never inherits a lock held by a thread that no
 * longer exists. Handles that other threads were using at the
 * moment of fork cannot be recovered in the child; they (and the old share
 * they keep referenced) are left allocated there, by design. */
#include "dcpki/transport.h"
#include "dcpki/fork.h"
#include "dcpki/log.h"
#include "internal.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <malloc.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>

#define MAXCONN_MIN 8 /* connections kept at least (libcurl's default is 5) */
#define MAX_ATTEMPTS 5
#define MAX_BODY (16 * 1024 * 1024)

struct xfer {
    char *body;
    size_t len, cap;
    int too_big;
    long retry_after_ms; /* -1 when absent */
};

enum method { M_NONE, M_GET, M_POST, M_OTHER };

/* A pooled easy handle and what is set on it now. */
struct handle {
    CURL *h;
    CURLSH *share;             /* the share it is attached to */
    struct xfer x;             /* CURLOPT_WRITEDATA / HEADERDATA */
    char eb[CURL_ERROR_SIZE];  /* CURLOPT_ERRORBUFFER */
    enum method method;
    char *custom;              /* CUSTOMREQUEST for M_OTHER */
    char *url;                 /* CURLOPT_URL */
    char **hdr;                /* the header lines set, NULL-terminated */
    void *hdrblk;              /* CURLOPT_HTTPHEADER's list: its nodes, lines and hdr all live in
                                * this one block of secret memory (the x-api-key line is a secret) */
    long timeout_ms;           /* CURLOPT_TIMEOUT_MS and CONNECTTIMEOUT_MS */
    long maxconn;              /* CURLOPT_MAXCONNECTS */
};

struct dcpki_transport {
    pthread_mutex_t lock;        /* pool, pid, share replacement, in-flight count */
    pthread_mutex_t share_lock;  /* curl share data (recursive) */
    pthread_mutex_t sock_lock;   /* socket list */
    CURLSH *share;
    unsigned long forkgen;       /* the process that made the share and pool (dcpki/fork.h) */
    struct handle **pool;        /* idle handles */
    size_t npool, cappool;
    size_t inflight, peak;       /* requests under way now / at most so far */
    int *socks;
    size_t nsocks, capsocks;
    char *cainfo;
    dcpki_memfile *trust_mem;    /* [ca] trust in memory (memfile.c), NULL on fallback */
    const dcpki_identity *id;    /* borrowed: its TLS credentials may be memory files too */
    int creds_lost;              /* a host program closed a memory file's descriptor (after fork) */
    char *cert, *cert_type, *key, *key_type, *key_pass; /* key_pass is secret */
    char *proxy, *noproxy;       /* from the environment, read once ("" for none); secret (credentials) */
    int has_client;              /* an RA identity is presented ... */
    unsigned char client_tp[DCPKI_THUMBPRINT_LEN]; /* ... with this certificate thumbprint */
    long timeout_ms;
    atomic_ulong connections;
    struct dcpki_transport *next; /* registry for the fork handlers */
};

static void handle_free(struct handle *hd);

/* ---- process-wide state ---- */

static pthread_once_t g_once = PTHREAD_ONCE_INIT;
static CURLcode g_init_rc = CURLE_FAILED_INIT;
static pthread_mutex_t g_reg_lock = PTHREAD_MUTEX_INITIALIZER;
static struct dcpki_transport *g_reg;

static void atfork_prepare(void)
{
    pthread_mutex_lock(&g_reg_lock);
    for (struct dcpki_transport *t = g_reg; t; t = t->next) {
        pthread_mutex_lock(&t->lock);
        pthread_mutex_lock(&t->share_lock);
        pthread_mutex_lock(&t->sock_lock);
    }
}

static void atfork_release(void)
{
    for (struct dcpki_transport *t = g_reg; t; t = t->next) {
        pthread_mutex_unlock(&t->sock_lock);
        pthread_mutex_unlock(&t->share_lock);
        pthread_mutex_unlock(&t->lock);
    }
    pthread_mutex_unlock(&g_reg_lock);
}

static void init_mutexes(struct dcpki_transport *t)
{
    pthread_mutexattr_t ra;
    pthread_mutexattr_init(&ra);
    pthread_mutexattr_settype(&ra, PTHREAD_MUTEX_RECURSIVE);
    pthread_mutex_init(&t->lock, NULL);
    pthread_mutex_init(&t->share_lock, &ra);
    pthread_mutex_init(&t->sock_lock, NULL);
    pthread_mutexattr_destroy(&ra);
}

/* In the child the locks taken by atfork_prepare belong to a thread id that
 * no longer exists (a recursive mutex refuses to be unlocked by another id),
 * so they are made anew; the child has a single thread at this point. */
static void atfork_child(void)
{
    for (struct dcpki_transport *t = g_reg; t; t = t->next)
        init_mutexes(t);
    pthread_mutex_init(&g_reg_lock, NULL);
}

/* libcurl copies the header lines (x-api-key among them) into buffers of its
 * own for every request and frees them afterwards: its memory functions wipe
 * what they free, so no copy of the API key stays behind in freed heap. They
 * take effect only if this program had not initialised this libcurl yet (the
 * GnuTLS flavour dcpki links is rarely used by the host itself). */
static void wipe_free(void *p)
{
    if (p) {
        /* explicit_bzero: memset's vector stores, kept by the compiler; this
         * runs for every buffer of every request, where OPENSSL_cleanse's
         * byte-and-word loop cost more than the request's JSON */
        explicit_bzero(p, malloc_usable_size(p));
        free(p);
    }
}

static void *wipe_realloc(void *p, size_t n)
{
    if (!p)
        return malloc(n);
    size_t old = malloc_usable_size(p);
    void *q = malloc(n ? n : 1);
    if (!q)
        return NULL;
    memcpy(q, p, old < n ? old : n);
    wipe_free(p);
    return q;
}

static void global_init(void)
{
    g_init_rc = curl_global_init_mem(CURL_GLOBAL_DEFAULT, malloc, wipe_free, wipe_realloc, strdup, calloc);
    pthread_atfork(atfork_prepare, atfork_release, atfork_child);
}

/* ---- curl callbacks ---- */

static void share_lock_cb(CURL *h, curl_lock_data data, curl_lock_access access, void *u)
{
    (void)h; (void)data; (void)access;
    pthread_mutex_lock(&((struct dcpki_transport *)u)->share_lock);
}

static void share_unlock_cb(CURL *h, curl_lock_data data, void *u)
{
    (void)h; (void)data;
    pthread_mutex_unlock(&((struct dcpki_transport *)u)->share_lock);
}

static curl_socket_t open_sock_cb(void *u, curlsocktype purpose, struct curl_sockaddr *a)
{
    (void)purpose;
    struct dcpki_transport *t = u;
    int fd = socket(a->family, a->socktype | SOCK_CLOEXEC, a->protocol);
    if (fd < 0)
        return CURL_SOCKET_BAD;
    pthread_mutex_lock(&t->sock_lock);
    if (t->nsocks == t->capsocks) {
        size_t nc = t->capsocks ? t->capsocks * 2 : 8;
        int *ns = realloc(t->socks, nc * sizeof(int));
        if (!ns) {
            pthread_mutex_unlock(&t->sock_lock);
            close(fd);
            return CURL_SOCKET_BAD;
        }
        t->socks = ns;
        t->capsocks = nc;
    }
    t->socks[t->nsocks++] = fd;
    pthread_mutex_unlock(&t->sock_lock);
    return fd;
}

static int close_sock_cb(void *u, curl_socket_t fd)
{
    struct dcpki_transport *t = u;
    pthread_mutex_lock(&t->sock_lock);
    for (size_t i = 0; i < t->nsocks; i++)
        if (t->socks[i] == fd) {
            t->socks[i] = t->socks[--t->nsocks];
            break;
        }
    pthread_mutex_unlock(&t->sock_lock);
    return close(fd);
}

static size_t write_cb(char *p, size_t sz, size_t n, void *u)
{
    struct xfer *x = u;
    size_t add = sz * n;
    if (x->len + add > MAX_BODY) {
        x->too_big = 1;
        return 0;
    }
    if (x->len + add + 1 > x->cap) {
        size_t nc = x->cap ? x->cap : 4096;
        while (nc < x->len + add + 1)
            nc *= 2;
        char *nb = realloc(x->body, nc);
        if (!nb)
            return 0;
        x->body = nb;
        x->cap = nc;
    }
    memcpy(x->body + x->len, p, add);
    x->len += add;
    x->body[x->len] = '\0';
    return add;
}

static size_t header_cb(char *p, size_t sz, size_t n, void *u)
{
    struct xfer *x = u;
    size_t len = sz * n;
    static const char name[] = "retry-after:";
    if (len > sizeof(name) - 1 && strncasecmp(p, name, sizeof(name) - 1) == 0) {
        char v[128];
        size_t vl = len - (sizeof(name) - 1);
        if (vl >= sizeof(v))
            vl = sizeof(v) - 1;
        memcpy(v, p + sizeof(name) - 1, vl);
        v[vl] = '\0';
        char *s = v;
        while (*s == ' ' || *s == '\t')
            s++;
        char *e = s + strlen(s);
        while (e > s && isspace((unsigned char)e[-1]))
            *--e = '\0';
        if (*s && strspn(s, "0123456789") == strlen(s)) {
            long secs = strlen(s) > 6 ? 999999 : atol(s);
            x->retry_after_ms = secs * 1000;
        } else if (*s) {
            time_t when = curl_getdate(s, NULL);
            if (when > 0) {
                time_t now = time(NULL);
                x->retry_after_ms = when > now ? (long)(when - now) * 1000 : 0;
            }
        }
    }
    return len;
}

/* ---- lifecycle ---- */

static CURLSH *make_share(struct dcpki_transport *t)
{
    CURLSH *sh = curl_share_init();
    if (!sh)
        return NULL;
    if (curl_share_setopt(sh, CURLSHOPT_LOCKFUNC, share_lock_cb) != CURLSHE_OK ||
        curl_share_setopt(sh, CURLSHOPT_UNLOCKFUNC, share_unlock_cb) != CURLSHE_OK ||
        curl_share_setopt(sh, CURLSHOPT_USERDATA, t) != CURLSHE_OK ||
        curl_share_setopt(sh, CURLSHOPT_SHARE, CURL_LOCK_DATA_CONNECT) != CURLSHE_OK ||
        curl_share_setopt(sh, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION) != CURLSHE_OK ||
        curl_share_setopt(sh, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS) != CURLSHE_OK) {
        curl_share_cleanup(sh);
        return NULL;
    }
    return sh;
}

/* Read [ca] trust now, while the process may still read it (a server reads
 * its keys before it drops privileges), and keep it in a memory file that
 * GnuTLS reads for each new connection. Where memory files are unavailable,
 * GnuTLS reads the file itself. */
static dcpki_code load_trust(struct dcpki_transport *t, const char *path, const char *from, dcpki_err *err)
{
    unsigned char *data;
    size_t len;
    char eb[128];
    if (dcpki_read_file(path, 16 * 1024 * 1024, &data, &len) != 0) {
        int e = errno;
        if (e == ENOENT)
            return dcpki_err_set(err, DCPKI_E_FILE_UNREADABLE, "the file %s (%s) does not exist", path, from);
        return dcpki_err_set(err, DCPKI_E_FILE_UNREADABLE, "cannot read %s (%s): %s", path, from,
                             e == EFBIG ? "larger than 16 MiB" : dcpki_strerror(e, eb, sizeof(eb)));
    }
    dcpki_err merr;
    dcpki_err_clear(&merr);
    dcpki_code rc = dcpki_memfile_new("dcpki-trust", data, len, &t->trust_mem, &merr);
    free(data);
    if (rc == DCPKI_E_UNSUPPORTED) {
        DCPKI_DEBUG("transport: %s; GnuTLS reads %s", merr.detail, path);
        return DCPKI_OK;
    }
    if (rc != DCPKI_OK && err)
        *err = merr;
    return rc;
}

/* The first of the variables that is set and not empty (libcurl's
 * curl_getenv takes an empty one for unset), as a secret copy ("" when none
 * is): a proxy URL may carry a password. */
static char *env_first(const char *const *names)
{
    const char *v = NULL;
    for (; *names && !(v && *v); names++)
        v = getenv(*names);
    return dcpki_secret_strdup(v && *v ? v : "");
}

dcpki_code dcpki_transport_new(const dcpki_config *cfg, const dcpki_identity *id, dcpki_transport **out,
                               dcpki_err *err)
{
    /* what libcurl would read from the environment for every https request
     * (lib/url.c: detect_proxy, and no_proxy for each connection), read once */
    static const char *const proxy_vars[] = { "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY", NULL };
    static const char *const noproxy_vars[] = { "no_proxy", "NO_PROXY", NULL };
    *out = NULL;
    if (!cfg)
        return dcpki_err_set(err, DCPKI_E_INVALID_ARGUMENT, "no configuration");
    pthread_once(&g_once, global_init);
    if (g_init_rc != CURLE_OK)
        return dcpki_err_set(err, DCPKI_E_INTERNAL, "curl_global_init failed: %s", curl_easy_strerror(g_init_rc));
    const curl_version_info_data *vi = curl_version_info(CURLVERSION_NOW);
    if (!vi || !vi->ssl_version || !strstr(vi->ssl_version, "GnuTLS"))
        return dcpki_err_set(err, DCPKI_E_UNSUPPORTED,
                             "libcurl %s uses %s for TLS, not GnuTLS: install libcurl3-gnutls and build against libcurl4-gnutls-dev (dcpki's TLS must stay out of OpenSSL)",
                             vi && vi->version ? vi->version : "?", vi && vi->ssl_version ? vi->ssl_version : "no TLS library");
    struct dcpki_transport *t = calloc(1, sizeof(*t));
    if (!t)
        return dcpki_err_set(err, DCPKI_E_NOMEM, "creating the transport");
    if (cfg->ca.trust) {
        dcpki_code rc = load_trust(t, cfg->ca.trust, dcpki_config_origin(cfg, DCPKI_CI_CA_TRUST), err);
        if (rc != DCPKI_OK) {
            free(t);
            return rc;
        }
    }
    init_mutexes(t);
    atomic_init(&t->connections, 0);
    t->forkgen = dcpki_fork_generation();
    t->timeout_ms = cfg->ca.timeout_ms > 0 ? cfg->ca.timeout_ms : DCPKI_DEFAULT_TIMEOUT_MS;
    int ok = 1;
    if (cfg->ca.trust)
        ok &= (t->cainfo = strdup(t->trust_mem ? dcpki_memfile_path(t->trust_mem) : cfg->ca.trust)) != NULL;
    if (id) {
        t->has_client = 1;
        t->id = id;
        dcpki_identity_thumbprint(id, t->client_tp);
        dcpki_tls_client_creds c;
        dcpki_identity_tls_creds(id, &c);
        if (c.cert_path)
            ok &= (t->cert = strdup(c.cert_path)) != NULL;
        if (c.cert_type)
            ok &= (t->cert_type = strdup(c.cert_type)) != NULL;
        if (c.key_path)
            ok &= (t->key = strdup(c.key_path)) != NULL;
        if (c.key_type)
            ok &= (t->key_type = strdup(c.key_type)) != NULL;
        if (c.password)
            ok &= (t->key_pass = dcpki_secret_strdup(c.password)) != NULL;
    }
    ok &= (t->proxy = env_first(proxy_vars)) != NULL && (t->noproxy = env_first(noproxy_vars)) != NULL;
    if (ok)
        t->share = make_share(t);
    if (!ok || !t->share) {
        dcpki_transport_free(t);
        return dcpki_err_set(err, DCPKI_E_NOMEM, "creating the transport");
    }
    pthread_mutex_lock(&g_reg_lock);
    t->next = g_reg;
    g_reg = t;
    pthread_mutex_unlock(&g_reg_lock);
    DCPKI_DEBUG("transport: %s, timeout %ld ms, trust %s, client certificate %s", vi->version ? vi->version : "",
                t->timeout_ms, t->cainfo ? t->cainfo : "(system default)", t->cert ? t->cert : "(none)");
    *out = t;
    return DCPKI_OK;
}

void dcpki_transport_free(dcpki_transport *t)
{
    if (!t)
        return;
    pthread_mutex_lock(&g_reg_lock);
    for (struct dcpki_transport **pp = &g_reg; *pp; pp = &(*pp)->next)
        if (*pp == t) {
            *pp = t->next;
            break;
        }
    pthread_mutex_unlock(&g_reg_lock);
    if (t->forkgen != dcpki_fork_generation()) {
        /* forked copy: neutralise inherited sockets before curl closes them */
        int dn = open("/dev/null", O_RDWR | O_CLOEXEC);
        if (dn >= 0) {
            for (size_t i = 0; i < t->nsocks; i++)
                dup2(dn, t->socks[i]);
            close(dn);
        }
    }
    for (size_t i = 0; i < t->npool; i++)
        handle_free(t->pool[i]);
    free(t->pool);
    if (t->share)
        curl_share_cleanup(t->share);
    pthread_mutex_destroy(&t->lock);
    pthread_mutex_destroy(&t->share_lock);
    pthread_mutex_destroy(&t->sock_lock);
    free(t->socks);
    free(t->cainfo);
    dcpki_memfile_free(t->trust_mem);
    free(t->cert);
    free(t->cert_type);
    free(t->key);
    free(t->key_type);
    dcpki_secret_free(t->key_pass);
    dcpki_secret_free(t->proxy);
    dcpki_secret_free(t->noproxy);
    free(t);
}

/* Called with t->lock held, in a process that is not the one that made t. */
static void after_fork(struct dcpki_transport *t)
{
    int dn = open("/dev/null", O_RDWR | O_CLOEXEC);
    pthread_mutex_lock(&t->sock_lock);
    if (dn >= 0)
        for (size_t i = 0; i < t->nsocks; i++)
            dup2(dn, t->socks[i]);
    pthread_mutex_unlock(&t->sock_lock);
    if (dn >= 0)
        close(dn);
    for (size_t i = 0; i < t->npool; i++)
        handle_free(t->pool[i]);
    t->npool = 0;
    t->inflight = 0; /* requests of the parent's other threads never come back here */
    if (curl_share_cleanup(t->share) != CURLSHE_OK)
        DCPKI_DEBUG("transport: a handle in use at fork() keeps the old connection cache; it is left allocated");
    pthread_mutex_lock(&t->sock_lock);
    t->nsocks = 0; /* remaining descriptors now refer to /dev/null and belong to the old share */
    pthread_mutex_unlock(&t->sock_lock);
    t->share = make_share(t);
    t->forkgen = dcpki_fork_generation();
    /* a daemon that closes every descriptor after fork() takes the memory
     * files with them: say so rather than fail the handshake obscurely */
    t->creds_lost = (t->trust_mem && !dcpki_memfile_intact(t->trust_mem)) ||
                    (t->id && !dcpki_identity_creds_intact(t->id));
    DCPKI_DEBUG("transport: new process %ld, connections dropped", (long)getpid());
}

/* An idle handle (or a new one), counted in flight; *maxconn is the number of
 * connections the shared cache must keep: never fewer than requests in flight. */
static struct handle *pool_get(struct dcpki_transport *t, CURLSH **share, long *maxconn)
{
    pthread_mutex_lock(&t->lock);
    if (t->forkgen != dcpki_fork_generation())
        after_fork(t);
    struct handle *hd = NULL;
    if (t->npool > 0)
        hd = t->pool[--t->npool];
    *share = t->share;
    if (++t->inflight > t->peak)
        t->peak = t->inflight;
    *maxconn = t->peak > MAXCONN_MIN ? (long)t->peak : MAXCONN_MIN;
    pthread_mutex_unlock(&t->lock);
    if (!hd && (hd = calloc(1, sizeof(*hd))) != NULL && (hd->h = curl_easy_init()) == NULL) {
        free(hd);
        hd = NULL;
    }
    if (!hd) {
        pthread_mutex_lock(&t->lock);
        t->inflight--;
        pthread_mutex_unlock(&t->lock);
    }
    return hd;
}

/* Back to the pool, which holds as many handles as were ever in flight at
 * once; a handle made before fork() in another process is freed. */
static void pool_put(struct dcpki_transport *t, struct handle *hd, int keep)
{
    pthread_mutex_lock(&t->lock);
    if (t->inflight > 0)
        t->inflight--;
    if (keep && t->forkgen == dcpki_fork_generation() && hd->share == t->share) {
        if (t->npool == t->cappool) {
            size_t nc = t->cappool ? t->cappool * 2 : 8;
            struct handle **np = realloc(t->pool, nc * sizeof(*np));
            if (np) {
                t->pool = np;
                t->cappool = nc;
            }
        }
        if (t->npool < t->cappool) {
            t->pool[t->npool++] = hd;
            hd = NULL;
        }
    }
    pthread_mutex_unlock(&t->lock);
    handle_free(hd);
}

/* ---- requests ---- */

/* What libcurl knew about how far the exchange got when it failed. */
struct progress {
    long new_conns;     /* connections opened for this request */
    int handshake_done; /* the TLS handshake finished (CURLINFO_APPCONNECT_TIME_T > 0 or a reused connection) */
    long sent;          /* bytes of the request written (CURLINFO_REQUEST_SIZE) */
    long got_headers;   /* bytes of response headers received (CURLINFO_HEADER_SIZE) */
};

static const char *const client_alerts[] = {
    "certificate is required", "certificate required", "certificate is bad", "bad certificate",
    "ca is unknown", "unknown ca", "certificate was revoked", "certificate revoked", "certificate is expired",
    "certificate expired", "certificate is unsupported", "unsupported certificate", "access was denied",
    "access denied", "key or certificate file", NULL
};

static int names_client_alert(const char *msg)
{
    for (const char *const *a = client_alerts; *a; a++)
        if (dcpki_contains_ci(msg, *a))
            return 1;
    return 0;
}

/* A transport failure, named by what happened: refused in the handshake, no
 * connection at all (nothing sent), or broken after the request went out
 * (DCPKI_E_CONNECTION_BROKEN: the service may have acted on it). */
static dcpki_code map_curl_error(CURLcode cc, const char *eb, const struct progress *pg, int client_cert,
                                 const dcpki_http_request *req, long timeout_ms, dcpki_err *err)
{
    const char *msg = eb[0] ? eb : curl_easy_strerror(cc);
    const char *fate = pg->sent > 0 ? "the request was sent; the service may have acted on it"
                                     : "nothing was sent";
    switch (cc) {
    case CURLE_OPERATION_TIMEDOUT:
        return dcpki_err_set(err, DCPKI_E_TIMEOUT, "%s %s: no complete answer within %ld ms (%s); %s", req->method,
                             req->url, timeout_ms, msg, fate);
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
    case CURLE_COULDNT_CONNECT:
        return dcpki_err_set(err, DCPKI_E_CONNECT, "%s %s: %s; nothing was sent", req->method, req->url, msg);
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_ISSUER_ERROR:
    case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
    case CURLE_SSL_INVALIDCERTSTATUS:
        return dcpki_err_set(err, DCPKI_E_TLS_SERVER_UNTRUSTED, "%s %s: %s; nothing was sent", req->method,
                             req->url, msg);
    case CURLE_SSL_CERTPROBLEM:
        return dcpki_err_set(err, DCPKI_E_TLS_CLIENT,
                             "%s %s: the RA certificate or key cannot be used: %s; nothing was sent", req->method,
                             req->url, msg);
    case CURLE_SSL_CONNECT_ERROR:
        /* the handshake did not finish: nothing of the request went out */
        if (names_client_alert(msg))
            return dcpki_err_set(err, DCPKI_E_TLS_CLIENT, "%s %s: %s; nothing was sent", req->method, req->url,
                                 msg);
        if (client_cert) {
            /* the server cut the handshake after our certificate went out:
             * the peer closed or reset instead of answering with an alert */
            static const char *const broken[] = { "send failure", "recv failure", "broken pipe", "connection reset",
                                                  "pull function", "push function", "non-properly terminated",
                                                  "unexpected eof", "fatal alert", NULL };
            for (const char *const *b = broken; *b; b++)
                if (dcpki_contains_ci(msg, *b))
                    return dcpki_err_set(err, DCPKI_E_TLS_CLIENT,
                                         "%s %s: the server broke off the TLS handshake after receiving the RA certificate, which means it refused it (%s); nothing was sent",
                                         req->method, req->url, msg);
        }
        return dcpki_err_set(err, DCPKI_E_TLS, "%s %s: %s; nothing was sent", req->method, req->url, msg);
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE:
        if (pg->got_headers > 0)
            /* an answer had begun: the service received the request */
            return dcpki_err_set(err, DCPKI_E_CONNECTION_BROKEN,
                                 "%s %s: the connection broke in the middle of the answer (%s); the request was sent; the service may have acted on it",
                                 req->method, req->url, msg);
        if (!pg->handshake_done) {
            if (client_cert && names_client_alert(msg))
                return dcpki_err_set(err, DCPKI_E_TLS_CLIENT, "%s %s: %s; nothing was sent", req->method,
                                     req->url, msg);
            return dcpki_err_set(err, DCPKI_E_TLS, "%s %s: the connection broke during the TLS handshake (%s); nothing was sent",
                                 req->method, req->url, msg);
        }
        if (pg->new_conns > 0 && client_cert &&
            (names_client_alert(msg) || dcpki_contains_ci(msg, "fatal alert")))
            /* TLS 1.3: the server checks the client certificate after our side
             * has finished the handshake; its answer to the first read is a
             * TLS alert instead of HTTP. A service that took the request
             * answers in HTTP, so it did not act on it. */
            return dcpki_err_set(err, DCPKI_E_TLS_CLIENT,
                                 "%s %s: the server answered the new connection with a TLS alert instead of an HTTP answer, right after the handshake, which means it refused the RA certificate (%s); the service did not act on the request",
                                 req->method, req->url, msg);
        if (pg->new_conns > 0 && client_cert && pg->sent == 0)
            /* TLS 1.3 again: the server closed the new connection as soon as
             * it had our certificate, before the request could go out */
            return dcpki_err_set(err, DCPKI_E_TLS_CLIENT,
                                 "%s %s: the server closed the new connection right after the TLS handshake, before the request went out, which means it refused the RA certificate (%s); nothing was sent",
                                 req->method, req->url, msg);
        if (pg->sent > 0)
            return dcpki_err_set(err, DCPKI_E_CONNECTION_BROKEN,
                                 "%s %s: the connection broke after the request was sent, before any answer came (%s%s); the request was sent; the service may have acted on it",
                                 req->method, req->url, msg,
                                 pg->new_conns > 0 && client_cert
                                     ? "; if every new connection ends so, the server may be refusing the RA certificate without a TLS alert"
                                     : "");
        return dcpki_err_set(err, DCPKI_E_CONNECT, "%s %s: the connection broke before the request went out (%s); nothing was sent",
                             req->method, req->url, msg);
    default:
        if (dcpki_contains_ci(msg, "ssl") || dcpki_contains_ci(msg, "tls") || dcpki_contains_ci(msg, "gnutls"))
            return dcpki_err_set(err, DCPKI_E_TLS, "%s %s: %s; %s", req->method, req->url, msg, fate);
        return dcpki_err_set(err, DCPKI_E_CONNECT, "%s %s: %s; %s", req->method, req->url, msg, fate);
    }
}

static long backoff_ms(int attempt)
{
    long base = 100L << (attempt > 5 ? 5 : attempt - 1); /* 100, 200, 400 ... */
    if (base > 2000)
        base = 2000;
    unsigned char r = 0;
    RAND_bytes(&r, 1);
    return base + (base * r) / 512; /* + up to 50% jitter */
}

#define SET(opt, val) if (cc == CURLE_OK) cc = curl_easy_setopt(h, opt, val)

static void forget_settings(struct handle *hd)
{
    dcpki_secret_release(hd->hdrblk);
    hd->hdrblk = NULL;
    hd->hdr = NULL;
    free(hd->url);
    hd->url = NULL;
    free(hd->custom);
    hd->custom = NULL;
    hd->method = M_NONE;
    hd->timeout_ms = 0;
    hd->maxconn = 0;
    hd->share = NULL;
}

static void handle_free(struct handle *hd)
{
    if (!hd)
        return;
    if (hd->h)
        curl_easy_cleanup(hd->h);
    forget_settings(hd);
    free(hd->x.body);
    free(hd);
}

/* Everything that stays the same for every request of this transport. */
static CURLcode configure(struct dcpki_transport *t, struct handle *hd, CURLSH *sh)
{
    CURL *h = hd->h;
    CURLcode cc = CURLE_OK;
    SET(CURLOPT_SHARE, sh);
    SET(CURLOPT_PROTOCOLS_STR, "https");
    SET(CURLOPT_FOLLOWLOCATION, 0L);
    SET(CURLOPT_NOSIGNAL, 1L);
    SET(CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
    SET(CURLOPT_TCP_KEEPALIVE, 1L);
    SET(CURLOPT_SSL_VERIFYPEER, 1L);
    SET(CURLOPT_SSL_VERIFYHOST, 2L);
    SET(CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2);
    SET(CURLOPT_PROXY, t->proxy);
    SET(CURLOPT_NOPROXY, t->noproxy);
    if (t->cainfo) {
        SET(CURLOPT_CAINFO, t->cainfo);
        SET(CURLOPT_CAPATH, (char *)NULL);
    }
    if (t->cert) {
        SET(CURLOPT_SSLCERT, t->cert);
        SET(CURLOPT_SSLCERTTYPE, t->cert_type ? t->cert_type : "PEM");
    }
    if (t->key)
        SET(CURLOPT_SSLKEY, t->key);
    if (t->key_type)
        SET(CURLOPT_SSLKEYTYPE, t->key_type);
    if (t->key_pass)
        SET(CURLOPT_KEYPASSWD, t->key_pass);
    SET(CURLOPT_OPENSOCKETFUNCTION, open_sock_cb);
    SET(CURLOPT_OPENSOCKETDATA, t);
    SET(CURLOPT_CLOSESOCKETFUNCTION, close_sock_cb);
    SET(CURLOPT_CLOSESOCKETDATA, t);
    SET(CURLOPT_ERRORBUFFER, hd->eb);
    SET(CURLOPT_WRITEFUNCTION, write_cb);
    SET(CURLOPT_WRITEDATA, &hd->x);
    SET(CURLOPT_HEADERFUNCTION, header_cb);
    SET(CURLOPT_HEADERDATA, &hd->x);
    SET(CURLOPT_USERAGENT, "dcpki/0.1");
    /* libcurl copies each request (headers with x-api-key, then the body)
     * into its upload buffer before TLS sends it, and frees that buffer after
     * every transfer: wipe_free clears all of it each time, so it is kept at
     * libcurl's minimum instead of its 64 KiB default (our requests are
     * small; larger bodies go out in several pieces) */
    SET(CURLOPT_UPLOAD_BUFFERSIZE, 16384L);
    if (cc == CURLE_OK)
        hd->share = sh;
    return cc;
}

static int same_headers(const struct handle *hd, const char *const *want)
{
    if (!hd->hdr)
        return 0;
    size_t i = 0;
    for (; want && want[i]; i++)
        if (!hd->hdr[i] || strcmp(hd->hdr[i], want[i]) != 0)
            return 0;
    return hd->hdr[i] == NULL;
}

/* The header list is built by hand in one block of secret memory (not with
 * curl_slist_append, which would copy the x-api-key line into the ordinary
 * heap): curl only reads CURLOPT_HTTPHEADER, and the block is wiped when the
 * handle gets other headers or is freed. */
static CURLcode set_headers(struct handle *hd, const char *const *want)
{
    static const char expect[] = "Expect:";
    size_t n = 0, text = sizeof(expect);
    while (want && want[n])
        text += strlen(want[n++]) + 1;
    size_t nodes = (n + 1) * sizeof(struct curl_slist), ptrs = (n + 1) * sizeof(char *);
    unsigned char *blk = dcpki_secret_alloc(nodes + ptrs + text);
    if (!blk)
        return CURLE_OUT_OF_MEMORY;
    struct curl_slist *list = (struct curl_slist *)blk;
    char **copy = (char **)(blk + nodes);
    char *p = (char *)(blk + nodes + ptrs);
    memcpy(p, expect, sizeof(expect));
    list[0].data = p;
    list[0].next = n ? &list[1] : NULL;
    p += sizeof(expect);
    for (size_t i = 0; i < n; i++) {
        size_t l = strlen(want[i]) + 1;
        memcpy(p, want[i], l);
        copy[i] = p;
        list[i + 1].data = p;
        list[i + 1].next = i + 1 < n ? &list[i + 2] : NULL;
        p += l;
    }
    copy[n] = NULL;
    CURLcode cc = curl_easy_setopt(hd->h, CURLOPT_HTTPHEADER, list);
    if (cc != CURLE_OK) {
        dcpki_secret_release(blk);
        return cc;
    }
    dcpki_secret_release(hd->hdrblk);
    hd->hdrblk = blk;
    hd->hdr = copy;
    return CURLE_OK;
}

/* Sets on hd only what this request needs and the handle does not have yet.
 * A change of method (or a method other than GET and POST) starts from a
 * reset handle, so nothing of an earlier request's verb or body stays. */
static CURLcode prepare(struct dcpki_transport *t, struct handle *hd, CURLSH *sh, const dcpki_http_request *req,
                        long timeout_ms, long maxconn)
{
    CURL *h = hd->h;
    CURLcode cc = CURLE_OK;
    enum method m = strcmp(req->method, "GET") == 0 ? M_GET : strcmp(req->method, "POST") == 0 ? M_POST : M_OTHER;
    if (hd->share != sh || hd->method != m || m == M_OTHER) {
        if (hd->share || hd->method != M_NONE)
            curl_easy_reset(h);
        forget_settings(hd);
        cc = configure(t, hd, sh);
        if (m == M_GET) {
            SET(CURLOPT_HTTPGET, 1L);
        } else if (m == M_POST) {
            SET(CURLOPT_POST, 1L);
        } else {
            if (cc == CURLE_OK && (hd->custom = strdup(req->method)) == NULL)
                cc = CURLE_OUT_OF_MEMORY;
            SET(CURLOPT_CUSTOMREQUEST, hd->custom);
        }
        if (cc != CURLE_OK)
            return cc;
        hd->method = m;
    }
    if (!hd->url || strcmp(hd->url, req->url) != 0) {
        free(hd->url);
        if ((hd->url = strdup(req->url)) == NULL)
            return CURLE_OUT_OF_MEMORY;
        SET(CURLOPT_URL, hd->url);
    }
    if (cc == CURLE_OK && !same_headers(hd, req->headers))
        cc = set_headers(hd, req->headers);
    if (hd->timeout_ms != timeout_ms) {
        SET(CURLOPT_TIMEOUT_MS, timeout_ms);
        SET(CURLOPT_CONNECTTIMEOUT_MS, timeout_ms);
        if (cc == CURLE_OK)
            hd->timeout_ms = timeout_ms;
    }
    if (hd->maxconn < maxconn) {
        SET(CURLOPT_MAXCONNECTS, maxconn);
        if (cc == CURLE_OK)
            hd->maxconn = maxconn;
    }
    if (m == M_POST || (m == M_OTHER && req->body)) {
        SET(CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)req->body_len);
        SET(CURLOPT_POSTFIELDS, req->body ? req->body : "");
    }
    return cc;
}
#undef SET

dcpki_code dcpki_transport_perform(dcpki_transport *t, const dcpki_http_request *req, dcpki_http_response *resp,
                                   dcpki_err *err)
{
    if (resp)
        memset(resp, 0, sizeof(*resp));
    if (!t || !req || !req->method || !req->url || !resp)
        return dcpki_err_set(err, DCPKI_E_INVALID_ARGUMENT, "incomplete HTTP request");
    if (strncasecmp(req->url, "https://", 8) != 0)
        return dcpki_err_set(err, DCPKI_E_INVALID_ARGUMENT, "only https:// URLs are allowed, not %s", req->url);

    const int64_t start = dcpki_now_ms();
    const int64_t deadline = start + t->timeout_ms;
    dcpki_code rc = DCPKI_OK;
    for (int attempt = 1;; attempt++) {
        int64_t now = attempt == 1 ? start : dcpki_now_ms();
        long remaining = (long)(deadline - now);
        if (remaining <= 0) {
            rc = dcpki_err_set(err, DCPKI_E_TIMEOUT, "%s %s: no complete answer within %ld ms", req->method, req->url,
                               t->timeout_ms);
            break;
        }
        CURLSH *sh;
        long maxconn;
        struct handle *hd = pool_get(t, &sh, &maxconn);
        if (t->creds_lost) {
            if (hd)
                pool_put(t, hd, 0);
            rc = dcpki_err_set(err, DCPKI_E_FILE_UNREADABLE,
                               "%s %s: the in-memory copy of the RA identity or [ca] trust was closed by this program after it forked (it closes descriptors it did not open); load dcpki keys after that point or keep descriptors open",
                               req->method, req->url);
            break;
        }
        if (!hd || !sh) {
            if (hd)
                pool_put(t, hd, 0);
            rc = dcpki_err_set(err, DCPKI_E_NOMEM, "preparing %s %s", req->method, req->url);
            break;
        }
        struct xfer *x = &hd->x;
        free(x->body);
        *x = (struct xfer){ .retry_after_ms = -1 };
        hd->eb[0] = '\0';
        CURLcode cc = prepare(t, hd, sh, req, remaining, maxconn);
        if (cc != CURLE_OK) {
            pool_put(t, hd, 0);
            rc = dcpki_err_set(err, cc == CURLE_OUT_OF_MEMORY ? DCPKI_E_NOMEM : DCPKI_E_INTERNAL,
                               "setting up %s %s: %s", req->method, req->url, curl_easy_strerror(cc));
            break;
        }
        int64_t t0 = dcpki_now_ms();
        cc = curl_easy_perform(hd->h);
        long status = 0, nconn = 0;
        char *ct = NULL;
        curl_off_t appconnect = 0;
        struct progress pg = { 0 };
        curl_easy_getinfo(hd->h, CURLINFO_RESPONSE_CODE, &status);
        curl_easy_getinfo(hd->h, CURLINFO_NUM_CONNECTS, &nconn);
        curl_easy_getinfo(hd->h, CURLINFO_APPCONNECT_TIME_T, &appconnect);
        curl_easy_getinfo(hd->h, CURLINFO_REQUEST_SIZE, &pg.sent);
        curl_easy_getinfo(hd->h, CURLINFO_HEADER_SIZE, &pg.got_headers);
        pg.new_conns = nconn;
        /* a reused connection had finished its handshake long ago */
        pg.handshake_done = appconnect > 0 || nconn == 0;
        curl_easy_getinfo(hd->h, CURLINFO_CONTENT_TYPE, &ct);
        char *ctype = ct ? strdup(ct) : NULL;
        if (nconn > 0)
            atomic_fetch_add(&t->connections, (unsigned long)nconn);
        /* the answer and the error text leave the handle before it goes back */
        struct xfer xr = *x;
        x->body = NULL;
        x->len = x->cap = 0;
        char eb[CURL_ERROR_SIZE];
        memcpy(eb, hd->eb, sizeof(eb));
        eb[sizeof(eb) - 1] = '\0';
        pool_put(t, hd, 1);
        hd = NULL;
        if (dcpki_log_level() >= 1) {
            long took = (long)(dcpki_now_ms() - t0);
            if (cc == CURLE_OK)
                dcpki_log(1, "HTTP %s %s -> %ld in %ld ms (%s connection, attempt %d)", req->method, req->url,
                          status, took, nconn > 0 ? "new" : "reused", attempt);
            else
                dcpki_log(1, "HTTP %s %s -> failed in %ld ms: %s (%s)", req->method, req->url, took,
                          curl_easy_strerror(cc), eb);
        }

        if (cc == CURLE_OK) {
            int retryable = status == 429 || status == 502 || status == 503 || status == 504;
            if (req->idempotent && retryable && attempt < MAX_ATTEMPTS) {
                long wait = xr.retry_after_ms >= 0 ? xr.retry_after_ms : backoff_ms(attempt);
                if (dcpki_now_ms() + wait < deadline - 10) {
                    DCPKI_DEBUG("HTTP %ld: retrying in %ld ms", status, wait);
                    free(xr.body);
                    free(ctype);
                    dcpki_sleep_ms(wait);
                    continue;
                }
            }
            if (!xr.body) {
                xr.body = malloc(1);
                if (xr.body)
                    xr.body[0] = '\0';
            }
            if (!xr.body) {
                free(ctype);
                rc = dcpki_err_set(err, DCPKI_E_NOMEM, "reading the answer to %s %s", req->method, req->url);
                break;
            }
            resp->status = status;
            resp->attempts = attempt;
            resp->idempotent = req->idempotent != 0;
            resp->retry_after_ms = xr.retry_after_ms;
            resp->timeout_ms = t->timeout_ms;
            resp->body = xr.body;
            resp->len = xr.len;
            resp->content_type = ctype;
            rc = DCPKI_OK;
            break;
        }
        free(ctype);
        free(xr.body);
        if (cc == CURLE_WRITE_ERROR && xr.too_big) {
            rc = dcpki_err_set(err, DCPKI_E_BAD_RESPONSE, "%s %s: the answer is larger than %d bytes", req->method,
                               req->url, MAX_BODY);
            break;
        }
        rc = map_curl_error(cc, eb, &pg, t->cert != NULL, req, t->timeout_ms, err);
        /* a reused keep-alive connection that the server had closed: retry */
        int reset = (cc == CURLE_SEND_ERROR || cc == CURLE_RECV_ERROR || cc == CURLE_GOT_NOTHING) && nconn == 0;
        if (req->idempotent && reset && attempt < MAX_ATTEMPTS) {
            long wait = attempt == 1 ? 0 : backoff_ms(attempt - 1);
            if (dcpki_now_ms() + wait < deadline - 10) {
                dcpki_sleep_ms(wait);
                continue;
            }
        }
        break;
    }
    return rc;
}

const char *dcpki_http_retry_note(const dcpki_http_response *r, char *buf, size_t n)
{
    if (r->attempts > 1)
        snprintf(buf, n, "still after %d attempts within the deadline of %ld ms", r->attempts,
                 r->timeout_ms);
    else if (!r->idempotent)
        snprintf(buf, n, "no retry was made (the request is not safe to send twice)");
    else if (r->retry_after_ms >= 0)
        snprintf(buf, n, "the service asked to retry after %ld s, beyond the deadline of %ld ms; "
                 "no retry was made", (r->retry_after_ms + 999) / 1000, r->timeout_ms);
    else
        snprintf(buf, n, "no retry fitted in the deadline of %ld ms", r->timeout_ms);
    return buf;
}

void dcpki_http_response_free(dcpki_http_response *resp)
{
    if (!resp)
        return;
    free(resp->body);
    free(resp->content_type);
    memset(resp, 0, sizeof(*resp));
}

unsigned long dcpki_transport_connections(const dcpki_transport *t)
{
    return t ? atomic_load(&((dcpki_transport *)t)->connections) : 0;
}

int dcpki_transport_client_thumbprint(const dcpki_transport *t, unsigned char out[DCPKI_THUMBPRINT_LEN])
{
    if (t == NULL || !t->has_client)
        return -1;
    memcpy(out, t->client_tp, DCPKI_THUMBPRINT_LEN);
    return 0;
}
