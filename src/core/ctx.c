/* The core context (dcpki/ctx.h): the set-up chain config -> identity ->
 * transport -> signing, made once per context under one lock.
 *
 * Fork: a child forked while another thread holds a context's lock would
 * inherit it locked forever, so the child makes every context's lock anew
 * (registry below). The lock is deliberately not taken in a prepare handler:
 * the transport registers its own fork locks while a context's lock is held
 * during set-up, and taking both in the handlers would order them against
 * each other. A child forked in the middle of another thread's set-up sees the
 * stage not made and makes it again. */
#include "dcpki/ctx.h"
#include "dcpki/log.h"
#include "internal.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

struct dcpki_ctx {
    pthread_mutex_t lock;
    char *config_path;          /* as given, NULL = $DCPKI_CONF or the default */
    OSSL_LIB_CTX *libctx;       /* borrowed */
    dcpki_config *cfg;
    dcpki_identity *id;
    dcpki_transport *transport;
    dcpki_signing *signing;
    struct dcpki_ctx *next;     /* registry for the fork handler */
};

static pthread_mutex_t g_reg_lock = PTHREAD_MUTEX_INITIALIZER;
static struct dcpki_ctx *g_reg;
static pthread_once_t g_atfork_once = PTHREAD_ONCE_INIT;

static void atfork_child(void)
{
    pthread_mutex_init(&g_reg_lock, NULL);
    for (struct dcpki_ctx *c = g_reg; c; c = c->next)
        pthread_mutex_init(&c->lock, NULL);
}

static void atfork_register(void)
{
    pthread_atfork(NULL, NULL, atfork_child);
}

dcpki_code dcpki_ctx_new(const char *config_path, OSSL_LIB_CTX *libctx, dcpki_ctx **out, dcpki_err *err)
{
    *out = NULL;
    struct dcpki_ctx *c = calloc(1, sizeof(*c));
    if (!c)
        return dcpki_err_set(err, DCPKI_E_NOMEM, "creating the dcpki context");
    if (config_path && !(c->config_path = strdup(config_path))) {
        free(c);
        return dcpki_err_set(err, DCPKI_E_NOMEM, "creating the dcpki context");
    }
    if (pthread_mutex_init(&c->lock, NULL) != 0) {
        free(c->config_path);
        free(c);
        return dcpki_err_set(err, DCPKI_E_INTERNAL, "creating the dcpki context: pthread_mutex_init failed");
    }
    c->libctx = libctx;
    pthread_once(&g_atfork_once, atfork_register);
    pthread_mutex_lock(&g_reg_lock);
    c->next = g_reg;
    g_reg = c;
    pthread_mutex_unlock(&g_reg_lock);
    *out = c;
    return DCPKI_OK;
}

void dcpki_ctx_free_at_teardown(dcpki_ctx *c)
{
    if (c)
        dcpki_identity_keep_token_loaded(c->id);
    dcpki_ctx_free(c);
}

void dcpki_ctx_free(dcpki_ctx *c)
{
    if (!c)
        return;
    pthread_mutex_lock(&g_reg_lock);
    for (struct dcpki_ctx **pp = &g_reg; *pp; pp = &(*pp)->next)
        if (*pp == c) {
            *pp = c->next;
            break;
        }
    pthread_mutex_unlock(&g_reg_lock);
    dcpki_signing_free(c->signing);
    dcpki_transport_free(c->transport);
    dcpki_identity_free(c->id);
    dcpki_config_free(c->cfg);
    pthread_mutex_destroy(&c->lock);
    free(c->config_path);
    free(c);
}

/* ---- the stages; c->lock held ---- */

static dcpki_code need_config(struct dcpki_ctx *c, dcpki_err *err)
{
    if (c->cfg)
        return DCPKI_OK;
    const char *path = dcpki_config_path(c->config_path);
    DCPKI_DEBUG("dcpki: loading %s", path);
    return dcpki_config_load(path, &c->cfg, err);
}

static dcpki_code need_identity(struct dcpki_ctx *c, dcpki_err *err)
{
    dcpki_code rc = need_config(c, err);
    if (rc != DCPKI_OK || c->id)
        return rc;
    return dcpki_identity_load(c->cfg, c->libctx, &c->id, err);
}

static dcpki_code need_transport(struct dcpki_ctx *c, dcpki_err *err)
{
    dcpki_code rc = need_identity(c, err);
    if (rc != DCPKI_OK || c->transport)
        return rc;
    return dcpki_transport_new(c->cfg, c->id, &c->transport, err);
}

/* With [signing] agent, through the agent (no identity, no transport), unless
 * direct (the agent itself). */
static dcpki_code need_signing(struct dcpki_ctx *c, int direct, dcpki_err *err)
{
    dcpki_code rc = need_config(c, err);
    if (rc != DCPKI_OK || c->signing)
        return rc;
    if (c->cfg->signing.agent && !direct)
        return dcpki_signing_new_agent(c->cfg, c->libctx, &c->signing, err);
    rc = need_transport(c, err);
    if (rc != DCPKI_OK)
        return rc;
    return dcpki_signing_new(c->cfg, c->transport, c->libctx, &c->signing, err);
}

/* ---- public accessors ---- */

#define WITH_LOCK(c, call)                       \
    do {                                         \
        pthread_mutex_lock(&(c)->lock);          \
        rc = (call);                             \
        pthread_mutex_unlock(&(c)->lock);        \
    } while (0)

dcpki_code dcpki_ctx_config(dcpki_ctx *c, const dcpki_config **out, dcpki_err *err)
{
    dcpki_code rc;
    WITH_LOCK(c, need_config(c, err));
    *out = rc == DCPKI_OK ? c->cfg : NULL;
    return rc;
}

dcpki_code dcpki_ctx_identity(dcpki_ctx *c, const dcpki_identity **out, dcpki_err *err)
{
    dcpki_code rc;
    WITH_LOCK(c, need_identity(c, err));
    *out = rc == DCPKI_OK ? c->id : NULL;
    return rc;
}

dcpki_code dcpki_ctx_transport(dcpki_ctx *c, dcpki_transport **out, dcpki_err *err)
{
    dcpki_code rc;
    WITH_LOCK(c, need_transport(c, err));
    *out = rc == DCPKI_OK ? c->transport : NULL;
    return rc;
}

dcpki_code dcpki_ctx_signing(dcpki_ctx *c, dcpki_signing **out, dcpki_err *err)
{
    dcpki_code rc;
    WITH_LOCK(c, need_signing(c, 0, err));
    *out = rc == DCPKI_OK ? c->signing : NULL;
    return rc;
}

dcpki_code dcpki_ctx_signing_direct(dcpki_ctx *c, dcpki_signing **out, dcpki_err *err)
{
    dcpki_code rc;
    WITH_LOCK(c, c->signing ? dcpki_err_set(err, DCPKI_E_INTERNAL, "the signing client exists already")
                            : need_signing(c, 1, err));
    *out = rc == DCPKI_OK ? c->signing : NULL;
    return rc;
}

dcpki_code dcpki_ctx_prepare(dcpki_ctx *c, dcpki_need need, dcpki_err *err)
{
    dcpki_code rc;
    WITH_LOCK(c, need >= DCPKI_NEED_SIGNING     ? need_signing(c, 0, err)
                 : need == DCPKI_NEED_TRANSPORT ? need_transport(c, err)
                                                : need_identity(c, err));
    return rc;
}

dcpki_transport *dcpki_ctx_transport_if_made(dcpki_ctx *c)
{
    pthread_mutex_lock(&c->lock);
    dcpki_transport *t = c->transport;
    pthread_mutex_unlock(&c->lock);
    return t;
}
