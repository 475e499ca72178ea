/* Client of the signing service (Software Trust Manager REST API,
 * shared/protocols/signing.md): list, describe (cached in memory and on disk,
 * keycache.h, TTL 300 s), sign a digest. Every signature is verified with the
 * key's public key (in the client's library context) before it is returned;
 * a failure with metadata from the disk cache is retried once after describing
 * the key again. */
#include "dcpki/signing.h"
#include "dcpki/agent.h"
#include "dcpki/signer.h"
#include "dcpki/log.h"
#include "dcpki/ossl.h"
#include "dcpki/thumbprint.h"
#include "internal.h"
#include "keycache.h"

#include <ctype.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <curl/curl.h>
#include <json-c/json.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/pem.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#define API_PATH "/signingmanager/api/v1/"
#define CACHE_TTL_MS (300 * 1000)
#define LIST_PAGE 100
#define LIST_MAX 10000

struct kp_priv {
    dcpki_keypair kp; /* first: a dcpki_keypair * is a struct kp_priv * */
    atomic_int refs;
    char *disk_alias; /* read from the disk cache under this name; NULL when fetched */
    dcpki_prepared_key *verifier; /* kp.pub, ready to verify each signature */
    char *sign_path;              /* keypairs/{id}/sign, the id escaped */
};

struct cache_ent {
    char *alias;
    dcpki_keypair *kp;
    int64_t fetched_ms;
};

struct dcpki_signing {
    dcpki_transport *t;         /* NULL when the requests go through the agent */
    dcpki_agent_client *agent;  /* [signing] agent: NULL when connecting directly */
    OSSL_LIB_CTX *libctx;
    char *base;     /* <url>/signingmanager/api/v1/ */
    char *api_hdr;  /* "x-api-key: ..." (secret); NULL with the agent */
    char *url;      /* [signing] url */
    const char *key_from; /* where the API key came from: "[signing] api_key_file" or "SM_API_KEY" */
    char *ra_label; /* the RA identity in the disk cache's file names (no secret) */
    char *disk_dir; /* disk cache directory, NULL when none */
    pthread_mutex_t lock;
    struct cache_ent *cache;
    size_t ncache, capcache;
};

/* ---- keypairs ---- */

static dcpki_keypair *kp_new(void)
{
    struct kp_priv *p = calloc(1, sizeof(*p));
    if (!p)
        return NULL;
    atomic_init(&p->refs, 1);
    return &p->kp;
}

dcpki_keypair *dcpki_keypair_ref(dcpki_keypair *kp)
{
    if (kp)
        atomic_fetch_add(&((struct kp_priv *)kp)->refs, 1);
    return kp;
}

void dcpki_keypair_free(dcpki_keypair *kp)
{
    if (!kp)
        return;
    struct kp_priv *p = (struct kp_priv *)kp;
    if (atomic_fetch_sub(&p->refs, 1) != 1)
        return;
    free(kp->id);
    free(kp->alias);
    free(kp->curve);
    free(kp->status);
    free(kp->account_id);
    OPENSSL_free(kp->spki.data);
    EVP_PKEY_free(kp->pub);
    dcpki_prepared_key_free(p->verifier);
    free(p->sign_path);
    OPENSSL_free(kp->cert.data);
    for (size_t i = 0; i < kp->chain_len; i++)
        OPENSSL_free(kp->chain[i].data);
    free(kp->chain);
    free(p->disk_alias);
    free(p);
}

void dcpki_keypairs_free(dcpki_keypair **items, size_t n)
{
    if (!items)
        return;
    for (size_t i = 0; i < n; i++)
        dcpki_keypair_free(items[i]);
    free(items);
}

/* ---- JSON helpers ---- */

static json_object *jget(json_object *o, const char *key, json_type type)
{
    json_object *v;
    if (!o || !json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, type))
        return NULL;
    return v;
}

static void printable(char *dst, size_t n, const char *src, size_t len)
{
    size_t o = 0;
    for (size_t i = 0; i < len && o + 1 < n; i++) {
        unsigned char c = (unsigned char)src[i];
        dst[o++] = (c >= 0x20 && c < 0x7f) ? (char)c : ' ';
    }
    dst[o] = '\0';
}

/* The service's error message from the body shapes of signing.md:
 * {"error":{"code"|"status","message"}}, {"errors":[{"code","message"}...]},
 * {"error":"text"}; else a printable excerpt of the body. */
static void error_message(const dcpki_http_response *r, char *out, size_t n)
{
    out[0] = '\0';
    if (!r->body || r->len == 0)
        return;
    json_tokener *tok = json_tokener_new();
    json_object *o = tok ? json_tokener_parse_ex(tok, r->body, (int)(r->len > 65536 ? 65536 : r->len)) : NULL;
    if (tok)
        json_tokener_free(tok);
    if (o && json_object_is_type(o, json_type_object)) {
        json_object *e = NULL;
        json_object *arr = jget(o, "errors", json_type_array);
        if (jget(o, "error", json_type_object))
            e = jget(o, "error", json_type_object);
        else if (arr && json_object_array_length(arr) > 0 &&
                 json_object_is_type(json_object_array_get_idx(arr, 0), json_type_object))
            e = json_object_array_get_idx(arr, 0);
        if (e) {
            const char *code = dcpki_json_str(e, "code") ? dcpki_json_str(e, "code") : dcpki_json_str(e, "status");
            const char *msg = dcpki_json_str(e, "message");
            if (code && msg)
                snprintf(out, n, "%.80s: %.300s", code, msg);
            else if (msg || code)
                snprintf(out, n, "%.300s", msg ? msg : code);
        } else if (dcpki_json_str(o, "error")) {
            snprintf(out, n, "%.300s", dcpki_json_str(o, "error"));
        } else if (dcpki_json_str(o, "message")) {
            snprintf(out, n, "%.300s", dcpki_json_str(o, "message"));
        }
    }
    json_object_put(o);
    if (!out[0]) {
        char tmp[201];
        printable(tmp, sizeof(tmp), r->body, r->len);
        snprintf(out, n, "%s", tmp);
    }
    /* keep it printable */
    for (char *c = out; *c; c++)
        if ((unsigned char)*c < 0x20 || *c == 0x7f)
            *c = ' ';
}

static dcpki_code map_status(const dcpki_http_response *r, const char *what, const char *alias, const char *key_from,
                             dcpki_err *err)
{
    char msg[400];
    error_message(r, msg, sizeof(msg));
    const char *sep = msg[0] ? ": " : "";
    long st = r->status;
    if (st == 401)
        return dcpki_err_set(err, DCPKI_E_API_KEY, "HTTP 401 to %s%s%s (the API key is from %s)", what, sep, msg,
                             key_from);
    if (st == 403)
        return dcpki_err_set(err, DCPKI_E_ACCESS_DENIED, "HTTP 403 to %s%s%s", what, sep, msg);
    if (st == 404 && alias)
        return dcpki_err_set(err, DCPKI_E_KEY_NOT_FOUND, "alias '%s' (HTTP 404 to %s%s%s)", alias, what, sep, msg);
    char note[160];
    if (st == 429)
        return dcpki_err_set(err, DCPKI_E_RATE_LIMITED, "HTTP 429 to %s, %s%s%s", what,
                             dcpki_http_retry_note(r, note, sizeof(note)), sep, msg);
    if (st == 502 || st == 503 || st == 504)
        return dcpki_err_set(err, DCPKI_E_SERVICE_UNAVAILABLE, "HTTP %ld to %s, %s%s%s", st, what,
                             dcpki_http_retry_note(r, note, sizeof(note)), sep, msg);
    if (st >= 500 && st <= 599)
        return dcpki_err_set(err, DCPKI_E_SERVICE_UNAVAILABLE, "HTTP %ld to %s%s%s", st, what, sep, msg);
    return dcpki_err_set(err, DCPKI_E_HTTP, "HTTP %ld to %s%s%s", st, what, sep, msg);
}

/* s %-escaped for a path segment or a query value: every byte but RFC 3986's
 * unreserved characters (§2.3), by libcurl; curl_free() it. */
static char *url_escape(const char *s)
{
    return curl_easy_escape(NULL, s, 0);
}

/* A whole JSON text that is an object (trailing bytes other than white space
 * are an error), or NULL. */
static json_object *parse_object(const char *text, size_t len)
{
    if (!text || len == 0 || len >= (size_t)INT32_MAX)
        return NULL;
    json_tokener *tok = json_tokener_new();
    if (!tok)
        return NULL;
    json_object *o = json_tokener_parse_ex(tok, text, (int)len);
    int ok = o && json_tokener_get_error(tok) == json_tokener_success && json_object_is_type(o, json_type_object);
    if (ok) {
        for (size_t i = json_tokener_get_parse_end(tok); i < len; i++)
            if (!isspace((unsigned char)text[i])) {
                ok = 0;
                break;
            }
    }
    json_tokener_free(tok);
    if (!ok) {
        json_object_put(o);
        return NULL;
    }
    return o;
}

dcpki_code dcpki_signing_forward(dcpki_signing *s, const char *method, const char *path, const char *body,
                                 size_t body_len, int idempotent, dcpki_http_response *r, dcpki_err *err)
{
    if (s->agent)
        return dcpki_agent_perform(s->agent, method, path, body, body_len, idempotent, r, err);
    char *url = dcpki_strjoin(s->base, path, (char *)NULL);
    if (!url) {
        memset(r, 0, sizeof(*r));
        return dcpki_err_set(err, DCPKI_E_NOMEM, "preparing %s %s", method, path);
    }
    const char *hdrs[] = { s->api_hdr, "Accept: application/json",
                           body ? "Content-Type: application/json" : NULL, NULL };
    dcpki_http_request req = { .method = method, .url = url, .headers = hdrs, .body = body,
                               .body_len = body_len, .idempotent = idempotent };
    dcpki_code rc = dcpki_transport_perform(s->t, &req, r, err);
    free(url);
    return rc;
}

const char *dcpki_signing_base(const dcpki_signing *s) { return s->base; }
const char *dcpki_signing_label(const dcpki_signing *s) { return s->ra_label; }
const char *dcpki_signing_agent(const dcpki_signing *s) { return s->agent ? dcpki_agent_client_path(s->agent) : NULL; }

/* Perform method on base+path; on 2xx parse the JSON object into *out (and,
 * when raw is not NULL, hand over the body as received in *raw / *raw_len).
 * For other statuses map the error (alias: for 404 → KEY_NOT_FOUND). */
static dcpki_code call_raw(dcpki_signing *s, const char *method, const char *path, const char *body, int idempotent,
                           const char *alias, json_object **out, char **raw, size_t *raw_len, long *status,
                           dcpki_err *err)
{
    *out = NULL;
    if (raw) {
        *raw = NULL;
        *raw_len = 0;
    }
    if (status)
        *status = 0;
    dcpki_http_response r;
    dcpki_code rc = dcpki_signing_forward(s, method, path, body, body ? strlen(body) : 0, idempotent, &r, err);
    if (rc != DCPKI_OK)
        return rc;
    if (status)
        *status = r.status;
    int success = r.status >= 200 && r.status <= 299;
    json_object *o = NULL;
    if (!success || !(o = parse_object(r.body, r.len))) {
        char what[300], ex[81]; /* for messages: made only when one is needed */
        snprintf(what, sizeof(what), "%s %s%s", method, s->base, path);
        if (!success) {
            rc = map_status(&r, what, alias, s->key_from, err);
        } else {
            printable(ex, sizeof(ex), r.body, r.len);
            rc = dcpki_err_set(err, DCPKI_E_BAD_RESPONSE, "%s: HTTP %ld with a body that is not a JSON object: '%s'",
                               what, r.status, ex);
        }
    } else if (raw) {
        *raw = r.body;
        *raw_len = r.len;
        r.body = NULL;
    }
    dcpki_http_response_free(&r);
    *out = o;
    return rc;
}

static dcpki_code call(dcpki_signing *s, const char *method, const char *path, const char *body, int idempotent,
                       const char *alias, json_object **out, long *status, dcpki_err *err)
{
    return call_raw(s, method, path, body, idempotent, alias, out, NULL, NULL, status, err);
}

static int b64_field(json_object *o, const char *key, dcpki_der *out)
{
    const char *v = dcpki_json_str(o, key);
    if (!v)
        return 0;
    return dcpki_b64_decode(v, &out->data, &out->len) == 0 && out->len > 0 ? 1 : -1;
}

static int valid_cert(const dcpki_der *d, OSSL_LIB_CTX *libctx)
{
    const unsigned char *p = d->data;
    X509 *x = X509_new_ex(libctx, NULL);
    int ok = x && d2i_X509(&x, &p, (long)d->len) && p == d->data + d->len;
    X509_free(x);
    ERR_clear_error();
    return ok;
}

/* Parse one keypair object. need_pub: the public key must be present. */
static dcpki_code parse_keypair(OSSL_LIB_CTX *libctx, json_object *o, int need_pub, dcpki_keypair **out, dcpki_err *err)
{
    *out = NULL;
    const char *id = dcpki_json_str(o, "id"), *alias = dcpki_json_str(o, "alias"), *alg = dcpki_json_str(o, "key_alg");
    if (!id || !alias)
        return dcpki_err_set(err, DCPKI_E_BAD_RESPONSE, "a keypair without id or alias");
    dcpki_keypair *kp = kp_new();
    if (!kp)
        return dcpki_err_set(err, DCPKI_E_NOMEM, "reading keypair '%s'", alias);
    dcpki_code rc = DCPKI_OK;
    kp->id = strdup(id);
    kp->alias = strdup(alias);
    kp->status = dcpki_strdup0(dcpki_json_str(o, "key_status"));
    json_object *acc = jget(o, "account", json_type_object);
    kp->account_id = dcpki_strdup0(acc ? dcpki_json_str(acc, "id") : dcpki_json_str(o, "account"));
    char *esc = kp->id ? url_escape(kp->id) : NULL;
    ((struct kp_priv *)kp)->sign_path = esc ? dcpki_strfmt("keypairs/%s/sign", esc) : NULL;
    curl_free(esc);
    if (!kp->id || !kp->alias || !((struct kp_priv *)kp)->sign_path) {
        rc = dcpki_err_set(err, DCPKI_E_NOMEM, "reading keypair '%s'", alias);
        goto fail;
    }
    if (alg && strcasecmp(alg, "RSA") == 0)
        kp->alg = DCPKI_KEY_RSA;
    else if (alg && (strcasecmp(alg, "ECDSA") == 0 || strcasecmp(alg, "EC") == 0))
        kp->alg = DCPKI_KEY_EC;
    else {
        rc = dcpki_err_set(err, DCPKI_E_UNSUPPORTED, "keypair '%s' uses the algorithm %s; dcpki supports RSA and ECDSA",
                           alias, alg ? alg : "(none)");
        goto fail;
    }
    json_object *ks = jget(o, "key_size", json_type_int);
    if (ks) {
        /* only a plausible size is believed (it sizes buffers when no public key came) */
        int64_t v = json_object_get_int64(ks);
        kp->bits = v > 0 && v <= 16384 ? (int)v : 0;
    }

    int r = b64_field(o, "public_key", &kp->spki);
    if (r < 0 || (r == 0 && need_pub)) {
        rc = dcpki_err_set(err, DCPKI_E_BAD_RESPONSE, "keypair '%s' has %s public_key", alias,
                           r < 0 ? "an undecodable" : "no");
        goto fail;
    }
    if (r > 0) {
        kp->pub = dcpki_pubkey_from_der(libctx, kp->spki.data, kp->spki.len);
        if (!kp->pub) {
            rc = dcpki_err_set(err, DCPKI_E_BAD_RESPONSE, "keypair '%s': public_key is not a SubjectPublicKeyInfo", alias);
            goto fail;
        }
        int is_rsa = EVP_PKEY_is_a(kp->pub, "RSA"), is_ec = EVP_PKEY_is_a(kp->pub, "EC");
        if ((kp->alg == DCPKI_KEY_RSA && !is_rsa) || (kp->alg == DCPKI_KEY_EC && !is_ec)) {
            rc = dcpki_err_set(err, DCPKI_E_BAD_RESPONSE, "keypair '%s': key_alg %s does not match its public key",
                               alias, alg);
            goto fail;
        }
        kp->bits = EVP_PKEY_get_bits(kp->pub);
        if (!(((struct kp_priv *)kp)->verifier = dcpki_prepared_key_new(libctx, kp->pub, 0))) {
            rc = dcpki_err_set(err, DCPKI_E_UNSUPPORTED, "keypair '%s': OpenSSL cannot verify with its public key",
                               alias);
            goto fail;
        }
        if (is_ec) {
            char g[80];
            size_t gl = 0;
            if (EVP_PKEY_get_group_name(kp->pub, g, sizeof(g), &gl) != 1) {
                rc = dcpki_err_set(err, DCPKI_E_UNSUPPORTED, "keypair '%s': its EC key has no named curve", alias);
                goto fail;
            }
            if (!(kp->curve = strdup(g))) {
                rc = dcpki_err_set(err, DCPKI_E_NOMEM, "reading keypair '%s'", alias);
                goto fail;
            }
        }
    }
    json_object *certs = jget(o, "certificates", json_type_array);
    if (certs && json_object_array_length(certs) > 0) {
        json_object *c = NULL;
        size_t nc = json_object_array_length(certs);
        for (size_t i = 0; i < nc && !c; i++) {
            json_object *ci = json_object_array_get_idx(certs, i);
            json_object *dc = jget(ci, "default_cert", json_type_boolean);
            if (dc && json_object_get_boolean(dc))
                c = ci;
        }
        if (!c)
            c = json_object_array_get_idx(certs, 0);
        if (json_object_is_type(c, json_type_object)) {
            if (b64_field(c, "cert", &kp->cert) < 0 || (kp->cert.data && !valid_cert(&kp->cert, libctx))) {
                rc = dcpki_err_set(err, DCPKI_E_BAD_RESPONSE, "keypair '%s': its certificate is not DER X.509", alias);
                goto fail;
            }
            json_object *chain = jget(c, "chain", json_type_array);
            size_t n = chain ? json_object_array_length(chain) : 0;
            if (n > 0) {
                kp->chain = calloc(n, sizeof(dcpki_der));
                if (!kp->chain) {
                    rc = dcpki_err_set(err, DCPKI_E_NOMEM, "reading keypair '%s'", alias);
                    goto fail;
                }
                for (size_t i = 0; i < n; i++) {
                    json_object *e = json_object_array_get_idx(chain, i);
                    dcpki_der d = { NULL, 0 };
                    if (b64_field(e, "blob", &d) != 1 || !valid_cert(&d, libctx)) {
                        OPENSSL_free(d.data);
                        rc = dcpki_err_set(err, DCPKI_E_BAD_RESPONSE,
                                           "keypair '%s': chain entry %zu is not a DER X.509 certificate", alias, i);
                        goto fail;
                    }
                    kp->chain[kp->chain_len++] = d;
                }
            }
        }
    }
    *out = kp;
    return DCPKI_OK;
fail:
    ERR_clear_error();
    dcpki_keypair_free(kp);
    return rc;
}

/* ---- client ---- */

/* The RA identity as it names disk cache files: the thumbprint of the
 * certificate the transport presents (public data only). */
static char *ra_label(const dcpki_transport *t)
{
    unsigned char tp[DCPKI_THUMBPRINT_LEN];
    if (dcpki_transport_client_thumbprint(t, tp) != 0)
        return dcpki_strfmt("none:");
    char hex[41];
    dcpki_thumbprint_format(tp, hex);
    return dcpki_strfmt("sha1:%s", hex);
}

/* What every client has: the service's url (url_len bytes), the API base
 * under it, the RA label (label: malloc'ed, taken, freed on failure), the disk
 * cache's directory. NULL when out of memory. */
static dcpki_signing *signing_alloc(OSSL_LIB_CTX *libctx, const char *url, size_t url_len, char *label)
{
    dcpki_signing *s = calloc(1, sizeof(*s));
    if (!s) {
        free(label);
        return NULL;
    }
    s->libctx = libctx;
    pthread_mutex_init(&s->lock, NULL);
    s->ra_label = label;
    s->url = strndup(url, url_len);
    s->base = s->url ? dcpki_strjoin(s->url, API_PATH, (char *)NULL) : NULL;
    s->disk_dir = dcpki_keycache_dir();
    if (!s->url || !s->base || !s->ra_label) {
        dcpki_signing_free(s);
        return NULL;
    }
    return s;
}

dcpki_code dcpki_signing_new(const dcpki_config *cfg, dcpki_transport *t, OSSL_LIB_CTX *libctx, dcpki_signing **out,
                             dcpki_err *err)
{
    *out = NULL;
    if (!cfg || !t)
        return dcpki_err_set(err, DCPKI_E_INVALID_ARGUMENT, "no configuration or transport");
    if (!cfg->signing.url)
        return dcpki_err_set(err, DCPKI_E_CONFIG_INCOMPLETE, "[signing] url is not set in %s",
                             cfg->path ? cfg->path : "the configuration");
    char *key = NULL;
    dcpki_code rc = dcpki_config_read_api_key(cfg, &key, err);
    if (rc != DCPKI_OK)
        return rc;
    dcpki_signing *s = signing_alloc(libctx, cfg->signing.url, strlen(cfg->signing.url), ra_label(t));
    if (s) {
        s->t = t;
        s->key_from = dcpki_config_origin(cfg, DCPKI_CI_API_KEY);
        if (!(s->api_hdr = dcpki_secret_strfmt("x-api-key: %s", key))) {
            dcpki_signing_free(s);
            s = NULL;
        }
    }
    dcpki_secret_free(key);
    if (!s)
        return dcpki_err_set(err, DCPKI_E_NOMEM, "creating the signing client");
    *out = s;
    return DCPKI_OK;
}

dcpki_code dcpki_signing_new_agent(const dcpki_config *cfg, OSSL_LIB_CTX *libctx, dcpki_signing **out,
                                   dcpki_err *err)
{
    *out = NULL;
    dcpki_agent_client *a;
    dcpki_code rc = dcpki_agent_client_new(cfg->signing.agent, &a, err);
    if (rc != DCPKI_OK)
        return rc;
    const char *base = dcpki_agent_client_base(a);
    size_t bl = strlen(base), al = strlen(API_PATH);
    if (bl <= al || strcmp(base + bl - al, API_PATH) != 0) {
        char esc[300];
        rc = dcpki_err_set(err, DCPKI_E_AGENT, "the dcpki agent at %s serves '%s', not a URL ending in %s (is it the "
                           "same version of dcpki?)", cfg->signing.agent, dcpki_escape(base, esc, sizeof(esc)),
                           API_PATH);
        dcpki_agent_client_free(a);
        return rc;
    }
    /* the service's URL (and the agent's RA label) name the disk cache's files, as with a direct connection */
    dcpki_signing *s = signing_alloc(libctx, base, bl - al, strdup(dcpki_agent_client_label(a)));
    if (!s) {
        dcpki_agent_client_free(a);
        return dcpki_err_set(err, DCPKI_E_NOMEM, "creating the signing client");
    }
    s->agent = a;
    s->key_from = "the dcpki agent's configuration";
    *out = s;
    return DCPKI_OK;
}

void dcpki_signing_free(dcpki_signing *s)
{
    if (!s)
        return;
    dcpki_agent_client_free(s->agent);
    for (size_t i = 0; i < s->ncache; i++) {
        free(s->cache[i].alias);
        dcpki_keypair_free(s->cache[i].kp);
    }
    free(s->cache);
    free(s->base);
    free(s->url);
    free(s->ra_label);
    free(s->disk_dir);
    dcpki_secret_free(s->api_hdr);
    pthread_mutex_destroy(&s->lock);
    free(s);
}

/* fetched_ms: when the service sent it (dcpki_now_ms() clock) */
static void cache_put_at(dcpki_signing *s, const char *alias, dcpki_keypair *kp, int64_t now)
{
    pthread_mutex_lock(&s->lock);
    for (size_t i = 0; i < s->ncache; i++)
        if (strcmp(s->cache[i].alias, alias) == 0) {
            dcpki_keypair_free(s->cache[i].kp);
            s->cache[i].kp = dcpki_keypair_ref(kp);
            s->cache[i].fetched_ms = now;
            pthread_mutex_unlock(&s->lock);
            return;
        }
    if (s->ncache == s->capcache) {
        size_t nc = s->capcache ? 2 * s->capcache : 8;
        struct cache_ent *ne = realloc(s->cache, nc * sizeof(*ne));
        if (!ne) {
            pthread_mutex_unlock(&s->lock);
            return; /* not cached: harmless */
        }
        s->cache = ne;
        s->capcache = nc;
    }
    char *a = strdup(alias);
    if (a) {
        s->cache[s->ncache].alias = a;
        s->cache[s->ncache].kp = dcpki_keypair_ref(kp);
        s->cache[s->ncache].fetched_ms = now;
        s->ncache++;
    }
    pthread_mutex_unlock(&s->lock);
}

static void cache_put(dcpki_signing *s, const char *alias, dcpki_keypair *kp)
{
    cache_put_at(s, alias, kp, dcpki_now_ms());
}

static dcpki_keypair *cache_get(dcpki_signing *s, const char *alias)
{
    dcpki_keypair *kp = NULL;
    int64_t now = dcpki_now_ms();
    pthread_mutex_lock(&s->lock);
    for (size_t i = 0; i < s->ncache; i++)
        if (strcmp(s->cache[i].alias, alias) == 0 && now - s->cache[i].fetched_ms < CACHE_TTL_MS) {
            kp = dcpki_keypair_ref(s->cache[i].kp);
            break;
        }
    pthread_mutex_unlock(&s->lock);
    return kp;
}

dcpki_code dcpki_signing_list(dcpki_signing *s, dcpki_keypair ***items, size_t *n, dcpki_err *err)
{
    *items = NULL;
    *n = 0;
    if (!s)
        return dcpki_err_set(err, DCPKI_E_INVALID_ARGUMENT, "no signing client");
    dcpki_keypair **arr = NULL;
    size_t cnt = 0, cap = 0;
    dcpki_code rc = DCPKI_OK;
    for (long offset = 0; offset < LIST_MAX;) {
        char path[80];
        snprintf(path, sizeof(path), "keypairs?offset=%ld&limit=%d", offset, LIST_PAGE);
        json_object *o;
        rc = call(s, "GET", path, NULL, 1, NULL, &o, NULL, err);
        if (rc != DCPKI_OK)
            break;
        json_object *its = jget(o, "items", json_type_array);
        if (!its) {
            json_object_put(o);
            rc = dcpki_err_set(err, DCPKI_E_BAD_RESPONSE, "GET %skeypairs: no items[] in the answer", s->base);
            break;
        }
        size_t m = json_object_array_length(its);
        json_object *tot = jget(o, "total", json_type_int);
        long total = tot ? (long)json_object_get_int64(tot) : -1;
        for (size_t i = 0; i < m && rc == DCPKI_OK; i++) {
            dcpki_keypair *kp;
            dcpki_err perr;
            dcpki_code prc = parse_keypair(s->libctx, json_object_array_get_idx(its, i), 0, &kp, &perr);
            if (prc == DCPKI_E_UNSUPPORTED) {
                DCPKI_DEBUG("keys list: skipped: %s", perr.detail);
                continue;
            }
            if (prc != DCPKI_OK) {
                rc = prc;
                if (err)
                    *err = perr;
                break;
            }
            if (cnt == cap) {
                size_t nc = cap ? 2 * cap : 16;
                dcpki_keypair **na = realloc(arr, nc * sizeof(*na));
                if (!na) {
                    dcpki_keypair_free(kp);
                    rc = dcpki_err_set(err, DCPKI_E_NOMEM, "listing keypairs");
                    break;
                }
                arr = na;
                cap = nc;
            }
            arr[cnt++] = kp;
            if (kp->pub)
                cache_put(s, kp->alias, kp);
        }
        json_object_put(o);
        if (rc != DCPKI_OK)
            break;
        offset += (long)m;
        if (m == 0 || total < 0 || offset >= total)
            break;
    }
    if (rc != DCPKI_OK) {
        dcpki_keypairs_free(arr, cnt);
        return rc;
    }
    *items = arr;
    *n = cnt;
    return DCPKI_OK;
}

static dcpki_code fetch_keypair(dcpki_signing *s, const char *ident, const char *alias_for_err, dcpki_keypair **out,
                                char **raw, size_t *raw_len, long *status, dcpki_err *err)
{
    char *esc = url_escape(ident);
    char *path = esc ? dcpki_strfmt("keypairs/%s", esc) : NULL;
    curl_free(esc);
    if (!path)
        return dcpki_err_set(err, DCPKI_E_NOMEM, "describing '%s'", ident);
    json_object *o;
    dcpki_code rc = call_raw(s, "GET", path, NULL, 1, alias_for_err, &o, raw, raw_len, status, err);
    free(path);
    if (rc != DCPKI_OK)
        return rc;
    rc = parse_keypair(s->libctx, o, 1, out, err);
    json_object_put(o);
    if (rc != DCPKI_OK) {
        free(*raw);
        *raw = NULL;
    }
    return rc;
}

/* ---- disk cache (keycache.h) ---- */

static void cache_drop(dcpki_signing *s, const char *alias)
{
    pthread_mutex_lock(&s->lock);
    for (size_t i = 0; i < s->ncache; i++)
        if (strcmp(s->cache[i].alias, alias) == 0) {
            free(s->cache[i].alias);
            dcpki_keypair_free(s->cache[i].kp);
            s->cache[i] = s->cache[--s->ncache];
            break;
        }
    pthread_mutex_unlock(&s->lock);
}

static char *disk_path(dcpki_signing *s, const char *alias)
{
    return s->disk_dir ? dcpki_keycache_path(s->libctx, s->disk_dir, s->url, s->ra_label, alias) : NULL;
}

static int contains(const char *hay, size_t n, const char *needle)
{
    size_t k = strlen(needle);
    if (k == 0 || k > n)
        return 0;
    for (size_t i = 0; i + k <= n; i++)
        if (hay[i] == needle[0] && memcmp(hay + i, needle, k) == 0)
            return 1;
    return 0;
}

/* The cached metadata of alias when the disk cache has a usable entry. It goes
 * through the parser of a fresh answer; an entry that does not parse or names
 * another key is removed. */
static dcpki_keypair *disk_get(dcpki_signing *s, const char *alias, int64_t *fetched_at)
{
    char *path = disk_path(s, alias);
    if (!path)
        return NULL;
    char *json = NULL;
    size_t len = 0;
    dcpki_keypair *kp = NULL;
    if (dcpki_keycache_read(path, (int64_t)time(NULL), DCPKI_KEYCACHE_TTL_S, &json, &len, fetched_at) == 0) {
        dcpki_err perr;
        if (dcpki_signing_parse_keypair_json(s->libctx, json, len, 1, &kp, &perr) != DCPKI_OK) {
            DCPKI_DEBUG("key cache: the entry of '%s' is not usable (%s); removed", alias, perr.detail);
            dcpki_keycache_remove(path);
        } else if (strcmp(kp->alias, alias) != 0 && strcmp(kp->id, alias) != 0) {
            DCPKI_DEBUG("key cache: the entry of '%s' names another key; removed", alias);
            dcpki_keycache_remove(path);
            dcpki_keypair_free(kp);
            kp = NULL;
        } else if (!(((struct kp_priv *)kp)->disk_alias = strdup(alias))) {
            dcpki_keypair_free(kp);
            kp = NULL;
        } else {
            DCPKI_DEBUG("key cache: '%s' from %s", alias, path);
        }
        free(json);
    }
    free(path);
    return kp;
}

/* Store the answer describing alias, unless it holds a secret (the API key, a
 * private key): the cache is for public data only. (Through the agent this
 * process never had the API key.) */
static void disk_put(dcpki_signing *s, const char *alias, const char *raw, size_t len)
{
    if (!s->disk_dir || !raw || len == 0)
        return;
    if ((s->api_hdr && contains(raw, len, s->api_hdr + strlen("x-api-key: "))) ||
        contains(raw, len, "PRIVATE KEY")) {
        DCPKI_DEBUG("key cache: the description of '%s' contains a secret; not cached on disk", alias);
        return;
    }
    if (dcpki_keycache_prepare_dir(s->disk_dir) != 0)
        return;
    char *path = disk_path(s, alias);
    if (path)
        dcpki_keycache_write(path, (int64_t)time(NULL), raw, len);
    free(path);
}

/* Describe alias from the service (no cache read); the answer is cached in
 * memory and on disk. */
static dcpki_code describe_service(dcpki_signing *s, const char *alias, dcpki_keypair **out, dcpki_err *err)
{
    dcpki_keypair *kp = NULL;
    char *raw = NULL;
    size_t raw_len = 0;
    long status = 0;
    dcpki_code rc = fetch_keypair(s, alias, alias, &kp, &raw, &raw_len, &status, err);
    if (rc == DCPKI_E_KEY_NOT_FOUND && status == 404) {
        /* services that take only the UUID in the path: search by alias */
        dcpki_err first = err ? *err : (dcpki_err){ 0 };
        char *esc = url_escape(alias);
        char *path = esc ? dcpki_strfmt("keypairs?alias=%s&offset=0&limit=2", esc) : NULL;
        curl_free(esc);
        json_object *o = NULL;
        dcpki_err lerr;
        if (path && call(s, "GET", path, NULL, 1, alias, &o, NULL, &lerr) == DCPKI_OK) {
            json_object *its = jget(o, "items", json_type_array);
            json_object *it = its && json_object_array_length(its) == 1 ? json_object_array_get_idx(its, 0) : NULL;
            const char *id = dcpki_json_str(it, "id");
            const char *ia = dcpki_json_str(it, "alias");
            if (id && ia && strcmp(ia, alias) == 0 && strcmp(id, alias) != 0)
                rc = fetch_keypair(s, id, alias, &kp, &raw, &raw_len, NULL, err);
        }
        json_object_put(o);
        free(path);
        if (rc == DCPKI_E_KEY_NOT_FOUND && err)
            *err = first;
    }
    if (rc != DCPKI_OK)
        return rc;
    if (strcmp(kp->alias, alias) != 0 && strcmp(kp->id, alias) != 0) {
        dcpki_code bad = dcpki_err_set(err, DCPKI_E_BAD_RESPONSE, "asked for keypair '%s', the service sent '%s'",
                                       alias, kp->alias);
        dcpki_keypair_free(kp);
        free(raw);
        return bad;
    }
    cache_put(s, alias, kp);
    disk_put(s, alias, raw, raw_len);
    free(raw);
    *out = kp;
    return DCPKI_OK;
}

dcpki_code dcpki_signing_describe(dcpki_signing *s, const char *alias, dcpki_keypair **out, dcpki_err *err)
{
    *out = NULL;
    if (!s || !alias || !*alias)
        return dcpki_err_set(err, DCPKI_E_INVALID_ARGUMENT, "no key alias given");
    dcpki_keypair *kp = cache_get(s, alias);
    int64_t at = 0;
    if (!kp && (kp = disk_get(s, alias, &at)) != NULL) {
        /* in memory for what is left of its TTL */
        int64_t age_ms = ((int64_t)time(NULL) - at) * 1000;
        cache_put_at(s, alias, kp, dcpki_now_ms() - (age_ms > 0 ? age_ms : 0));
    }
    if (kp) {
        *out = kp;
        return DCPKI_OK;
    }
    return describe_service(s, alias, out, err);
}

/* ---- signing ---- */

/* r||s (fixed width) → DER, for services that return the raw form. */
int dcpki_ecdsa_raw_to_der(const unsigned char *raw, size_t len, unsigned char **der, size_t *der_len)
{
    ECDSA_SIG *sig = ECDSA_SIG_new();
    BIGNUM *r = BN_bin2bn(raw, (int)(len / 2), NULL);
    BIGNUM *sv = BN_bin2bn(raw + len / 2, (int)(len / 2), NULL);
    int ok = 0;
    if (sig && r && sv && ECDSA_SIG_set0(sig, r, sv)) {
        r = sv = NULL;
        unsigned char *out = NULL;
        int n = i2d_ECDSA_SIG(sig, &out);
        if (n > 0) {
            *der = out;
            *der_len = (size_t)n;
            ok = 1;
        }
    }
    BN_free(r);
    BN_free(sv);
    ECDSA_SIG_free(sig);
    return ok;
}

void dcpki_sig_params_pss(dcpki_sig_params *sp, dcpki_sig_scheme scheme, const char *md, const char *mgf1,
                          int salt_len)
{
    size_t np = 0;
    snprintf(sp->md, sizeof(sp->md), "%s", md ? md : "");
    snprintf(sp->mgf1, sizeof(sp->mgf1), "%s", mgf1 ? mgf1 : sp->md);
    snprintf(sp->pad, sizeof(sp->pad), "%s",
             scheme == DCPKI_SIG_RSA_PSS ? OSSL_PKEY_RSA_PAD_MODE_PSS : OSSL_PKEY_RSA_PAD_MODE_PKCSV15);
    snprintf(sp->salt, sizeof(sp->salt), "%s", OSSL_PKEY_RSA_PSS_SALT_LEN_DIGEST);
    sp->salt_len = salt_len;
    if (scheme != DCPKI_SIG_ECDSA)
        sp->p[np++] = OSSL_PARAM_construct_utf8_string(OSSL_SIGNATURE_PARAM_PAD_MODE, sp->pad, 0);
    if (md && scheme != DCPKI_SIG_RSA_RAW)
        sp->p[np++] = OSSL_PARAM_construct_utf8_string(OSSL_SIGNATURE_PARAM_DIGEST, sp->md, 0);
    if (scheme == DCPKI_SIG_RSA_PSS) {
        sp->p[np++] = OSSL_PARAM_construct_utf8_string(OSSL_SIGNATURE_PARAM_MGF1_DIGEST, sp->mgf1, 0);
        sp->p[np++] = salt_len == DCPKI_PSS_SALT_DIGEST
                          ? OSSL_PARAM_construct_utf8_string(OSSL_SIGNATURE_PARAM_PSS_SALTLEN, sp->salt, 0)
                          : OSSL_PARAM_construct_int(OSSL_SIGNATURE_PARAM_PSS_SALTLEN, &sp->salt_len);
    }
    sp->p[np] = OSSL_PARAM_construct_end();
}

void dcpki_sig_params_of(dcpki_sig_params *sp, dcpki_sig_scheme scheme, const char *md)
{
    dcpki_sig_params_pss(sp, scheme, md, md, DCPKI_PSS_SALT_DIGEST);
}

/* The signature in the service's answer {"signature": b64}: decoded, an ECDSA
 * r||s converted to DER, and verified with kp->pub. */
static dcpki_code sig_from_answer(const dcpki_keypair *kp, dcpki_sig_scheme scheme,
                                  const char *md, const char *sig_alg, const unsigned char *data, size_t data_len,
                                  json_object *o, unsigned char **sig, size_t *sig_len, dcpki_err *err)
{
    unsigned char *raw = NULL;
    size_t rlen = 0;
    *sig = NULL;
    *sig_len = 0;
    const char *sv = dcpki_json_str(o, "signature");
    if (!sv || dcpki_b64_decode(sv, &raw, &rlen) != 0 || rlen == 0) {
        OPENSSL_free(raw);
        return dcpki_err_set(err, DCPKI_E_BAD_RESPONSE, "the answer to sign with '%s' has no base64 signature",
                             kp->alias);
    }
    if (scheme == DCPKI_SIG_ECDSA) {
        /* DER expected; accept r||s of twice the field size and convert */
        const unsigned char *p = raw;
        ECDSA_SIG *es = d2i_ECDSA_SIG(NULL, &p, (long)rlen);
        int is_der = es && p == raw + rlen;
        ECDSA_SIG_free(es);
        ERR_clear_error();
        size_t fb = ((size_t)kp->bits + 7) / 8;
        if (!is_der && rlen == 2 * fb) {
            unsigned char *der;
            size_t dl;
            if (dcpki_ecdsa_raw_to_der(raw, rlen, &der, &dl)) {
                OPENSSL_free(raw);
                raw = der;
                rlen = dl;
            }
        }
    }
    if (scheme != DCPKI_SIG_ECDSA) {
        /* an RSA signature is an integer of the modulus' length (RFC 8017
         * §8.2.1 I2OSP); a service that drops leading zero bytes is padded back */
        int k = EVP_PKEY_get_size(kp->pub);
        if (k > 0 && rlen < (size_t)k) {
            unsigned char *full = OPENSSL_zalloc((size_t)k);
            if (full == NULL) {
                OPENSSL_free(raw);
                return dcpki_err_set(err, DCPKI_E_NOMEM, "signature of '%s'", kp->alias);
            }
            memcpy(full + ((size_t)k - rlen), raw, rlen);
            OPENSSL_free(raw);
            raw = full;
            rlen = (size_t)k;
        }
    }
    dcpki_sig_params sp;
    dcpki_sig_params_of(&sp, scheme, md);
    if (!dcpki_prepared_verify(((const struct kp_priv *)kp)->verifier, sp.p, raw, rlen, data, data_len)) {
        OPENSSL_free(raw);
        return dcpki_err_set(err, DCPKI_E_BAD_SIGNATURE, "%s signature by '%s'", sig_alg, kp->alias);
    }
    *sig = raw;
    *sig_len = rlen;
    return DCPKI_OK;
}

static dcpki_code sign_once(dcpki_signing *s, const dcpki_keypair *kp, dcpki_sig_scheme scheme, const char *md,
                            const unsigned char *data, size_t data_len, unsigned char **sig, size_t *sig_len,
                            long *status, dcpki_err *err)
{
    *sig = NULL;
    *sig_len = 0;
    if (!s || !kp || !data || data_len == 0)
        return dcpki_err_set(err, DCPKI_E_INVALID_ARGUMENT, "nothing to sign");
    if (!kp->pub)
        return dcpki_err_set(err, DCPKI_E_INVALID_ARGUMENT, "keypair '%s' has no public key (describe it first)",
                             kp->alias);
    int is_rsa_scheme = scheme == DCPKI_SIG_RSA_PKCS1 || scheme == DCPKI_SIG_RSA_PSS || scheme == DCPKI_SIG_RSA_RAW;
    if (!is_rsa_scheme && scheme != DCPKI_SIG_ECDSA)
        return dcpki_err_set(err, DCPKI_E_UNSUPPORTED, "unknown signature scheme %d", (int)scheme);
    if ((is_rsa_scheme && kp->alg != DCPKI_KEY_RSA) || (scheme == DCPKI_SIG_ECDSA && kp->alg != DCPKI_KEY_EC))
        return dcpki_err_set(err, DCPKI_E_UNSUPPORTED, "keypair '%s' is %s; this signature scheme needs %s", kp->alias,
                             kp->alg == DCPKI_KEY_RSA ? "RSA" : "EC", is_rsa_scheme ? "RSA" : "EC");
    const char *cmd = NULL, *sig_alg;
    if (scheme == DCPKI_SIG_RSA_RAW) {
        if (md)
            return dcpki_err_set(err, DCPKI_E_INVALID_ARGUMENT, "NONEWithRSA takes no digest name");
        size_t mod = ((size_t)kp->bits + 7) / 8;
        if (data_len + 11 > mod)
            return dcpki_err_set(err, DCPKI_E_INVALID_ARGUMENT, "%zu bytes are too many for PKCS#1 with a %d-bit key",
                                 data_len, kp->bits);
        sig_alg = "NONEWithRSA";
    } else {
        size_t dlen = 0;
        cmd = dcpki_md_canonical(md, &dlen);
        if (!cmd)
            return dcpki_err_set(err, DCPKI_E_UNSUPPORTED, "digest %s (use SHA256, SHA384 or SHA512)", md ? md : "(none)");
        if (data_len != dlen)
            return dcpki_err_set(err, DCPKI_E_INVALID_ARGUMENT, "a %s digest has %zu bytes, not %zu", cmd, dlen, data_len);
        /* the service's sig_alg names, by digest (dcpki_md_index) and scheme */
        static const char *const names[DCPKI_N_MD][3] = {
            { "SHA256WithRSA", "SHA256WithRSA/PSS", "SHA256WithECDSA" },
            { "SHA384WithRSA", "SHA384WithRSA/PSS", "SHA384WithECDSA" },
            { "SHA512WithRSA", "SHA512WithRSA/PSS", "SHA512WithECDSA" },
        };
        sig_alg = names[dcpki_md_index(cmd)][scheme == DCPKI_SIG_RSA_PKCS1 ? 0 : scheme == DCPKI_SIG_RSA_PSS ? 1 : 2];
    }
    char *hash = dcpki_b64_encode(data, data_len);
    /* The request of DigiCert's own tutorial ("Create a keypair and sign a file
     * hash", dev.digicert.com/software-trust-api): hash and sig_alg only. jsign
     * adds the keypair's account object; the service knows the keypair's account
     * from its id. Base64 and the sig_alg names need no JSON escaping. */
    char *body = hash ? dcpki_strjoin("{\"hash\":\"", hash, "\",\"sig_alg\":\"", sig_alg, "\"}", (char *)NULL) : NULL;
    OPENSSL_free(hash);
    if (!body)
        return dcpki_err_set(err, DCPKI_E_NOMEM, "signing with '%s'", kp->alias);
    json_object *o;
    int64_t t0 = dcpki_now_ms();
    dcpki_code rc = call(s, "POST", ((const struct kp_priv *)kp)->sign_path, body, 1, kp->alias, &o, status, err);
    free(body);
    if (rc != DCPKI_OK)
        return rc;
    unsigned char *raw = NULL;
    size_t rlen = 0;
    rc = sig_from_answer(kp, scheme, cmd, sig_alg, data, data_len, o, &raw, &rlen, err);
    json_object_put(o);
    if (rc != DCPKI_OK)
        return rc;
    DCPKI_DEBUG("signed with '%s' (%s) in %ld ms", kp->alias, sig_alg, (long)(dcpki_now_ms() - t0));
    *sig = raw;
    *sig_len = rlen;
    return DCPKI_OK;
}

/* A signature that fails verification with metadata from the disk cache, or a
 * 404 for its id, means the entry is stale: it is dropped (disk and memory),
 * the key described again and the signature tried once more. */
dcpki_code dcpki_signing_sign(dcpki_signing *s, const dcpki_keypair *kp, dcpki_sig_scheme scheme, const char *md,
                              const unsigned char *data, size_t data_len, unsigned char **sig, size_t *sig_len,
                              dcpki_err *err)
{
    long status = 0;
    dcpki_code rc = sign_once(s, kp, scheme, md, data, data_len, sig, sig_len, &status, err);
    const char *da = kp ? ((const struct kp_priv *)kp)->disk_alias : NULL;
    if (!da || !(rc == DCPKI_E_BAD_SIGNATURE || (rc == DCPKI_E_KEY_NOT_FOUND && status == 404)))
        return rc;
    DCPKI_DEBUG("key cache: the cached description of '%s' is stale (%s); describing it again", da,
                dcpki_code_id(rc));
    /* another thread may have described it again already */
    dcpki_keypair *fresh = cache_get(s, da);
    if (fresh && (fresh == kp || ((struct kp_priv *)fresh)->disk_alias)) {
        dcpki_keypair_free(fresh);
        fresh = NULL;
    }
    if (!fresh) {
        cache_drop(s, da);
        char *path = disk_path(s, da);
        dcpki_keycache_remove(path);
        free(path);
        dcpki_code drc = describe_service(s, da, &fresh, err);
        if (drc != DCPKI_OK)
            return drc;
    }
    rc = sign_once(s, fresh, scheme, md, data, data_len, sig, sig_len, NULL, err);
    dcpki_keypair_free(fresh);
    return rc;
}

/* ---- parsers without the network (internal.h; unit tests and fuzzing) ---- */

dcpki_code dcpki_signing_parse_keypair_json(OSSL_LIB_CTX *libctx, const char *text, size_t len, int need_pub,
                                            dcpki_keypair **out, dcpki_err *err)
{
    *out = NULL;
    json_object *o = parse_object(text, len);
    if (!o)
        return dcpki_err_set(err, DCPKI_E_BAD_RESPONSE, "a keypair that is not a JSON object");
    dcpki_code rc = parse_keypair(libctx, o, need_pub, out, err);
    json_object_put(o);
    return rc;
}

dcpki_code dcpki_signing_parse_sign_answer(const dcpki_keypair *kp, dcpki_sig_scheme scheme,
                                           const char *md, const unsigned char *data, size_t data_len,
                                           const char *text, size_t len, unsigned char **sig, size_t *sig_len,
                                           dcpki_err *err)
{
    *sig = NULL;
    *sig_len = 0;
    if (!kp || !kp->pub)
        return dcpki_err_set(err, DCPKI_E_INVALID_ARGUMENT, "no public key to verify with");
    json_object *o = parse_object(text, len);
    if (!o)
        return dcpki_err_set(err, DCPKI_E_BAD_RESPONSE, "the answer to sign with '%s' is not a JSON object",
                             kp->alias);
    dcpki_code rc = sig_from_answer(kp, scheme, md, md ? md : "NONEWithRSA", data, data_len, o, sig,
                                    sig_len, err);
    json_object_put(o);
    return rc;
}

void dcpki_signing_error_text(const char *body, size_t len, char *out, size_t n)
{
    dcpki_http_response r;
    memset(&r, 0, sizeof(r));
    r.body = (char *)body;
    r.len = len;
    error_message(&r, out, n);
}
