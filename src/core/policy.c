/* Certificate profile policy: model, look-ups, key check, JSON and text. */
#include "dcpki/policy.h"
#include "dcpki/thumbprint.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <json-c/json.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/x509.h>

const char *dcpki_san_type_label(dcpki_san_type t)
{
    switch (t) {
    case DCPKI_SAN_EMAIL: return "e-mail (rfc822Name)";
    case DCPKI_SAN_UPN: return "UPN (otherName " DCPKI_OID_UPN ")";
    case DCPKI_SAN_OTHERNAME: return "other name";
    }
    return "?";
}

dcpki_policy *dcpki_policy_new(void)
{
    dcpki_policy *p = calloc(1, sizeof(*p));
    if (p == NULL)
        return NULL;
    p->validity_days = -1;
    p->renewal_days = -1;
    p->key_exportable = -1;
    return p;
}

static void ca_clear(dcpki_policy_ca *ca)
{
    free(ca->issuer_name);
    free(ca->type);
    X509_free(ca->certificate);
    for (size_t i = 0; i < ca->n_intermediates; i++)
        X509_free(ca->intermediates[i]);
    free(ca->intermediates);
    X509_free(ca->root);
}

void dcpki_policy_free(dcpki_policy *p)
{
    if (p == NULL)
        return;
    free(p->profile_oid);
    free(p->policy_id);
    free(p->friendly_name);
    free(p->key_algorithm_oid);
    free(p->delivery_format);
    free(p->status);
    for (size_t i = 0; i < p->n_attrs; i++) {
        free(p->attrs[i].name);
        free(p->attrs[i].dn);
        free(p->attrs[i].fixed_value);
    }
    free(p->attrs);
    for (size_t i = 0; i < p->n_sans; i++) {
        free(p->sans[i].name);
        free(p->sans[i].oid);
    }
    free(p->sans);
    for (size_t i = 0; i < p->n_cas; i++)
        ca_clear(&p->cas[i]);
    free(p->cas);
    free(p);
}

const dcpki_policy_attr *dcpki_policy_find_attr_dn(const dcpki_policy *p, const char *dn)
{
    if (p == NULL || dn == NULL)
        return NULL;
    for (size_t i = 0; i < p->n_attrs; i++)
        if (p->attrs[i].dn != NULL && strcasecmp(p->attrs[i].dn, dn) == 0)
            return &p->attrs[i];
    return NULL;
}

const dcpki_policy_san *dcpki_policy_find_san(const dcpki_policy *p, dcpki_san_type t,
                                              const char *oid)
{
    if (p == NULL)
        return NULL;
    const dcpki_policy_san *any = NULL;
    for (size_t i = 0; i < p->n_sans; i++) {
        const dcpki_policy_san *s = &p->sans[i];
        if (s->type != t)
            continue;
        if (t != DCPKI_SAN_OTHERNAME || oid == NULL)
            return s;
        if (s->oid != NULL && strcmp(s->oid, oid) == 0)
            return s;
        if (s->oid == NULL && any == NULL)
            any = s;
    }
    return any;
}

/* Appends to buf (always NUL-terminated, silently truncated). */
static void cat(char *buf, size_t n, const char *s)
{
    size_t l = strlen(buf);
    if (l + 1 >= n)
        return;
    snprintf(buf + l, n - l, "%s", s);
}

const char *dcpki_policy_allowed_attrs(const dcpki_policy *p, char *buf, size_t n)
{
    if (n == 0)
        return buf;
    buf[0] = '\0';
    size_t shown = 0;
    for (size_t i = 0; p != NULL && i < p->n_attrs; i++) {
        const dcpki_policy_attr *a = &p->attrs[i];
        if (shown++)
            cat(buf, n, ", ");
        if (a->dn != NULL) {
            cat(buf, n, a->dn);
            if (a->name != NULL) {
                cat(buf, n, " (");
                cat(buf, n, a->name);
                cat(buf, n, ")");
            }
        } else {
            cat(buf, n, a->name != NULL ? a->name : "?");
        }
        if (a->fixed_value != NULL) {
            cat(buf, n, " fixed to \"");
            cat(buf, n, a->fixed_value);
            cat(buf, n, "\"");
        } else if (a->mandatory) {
            cat(buf, n, " mandatory");
        }
    }
    if (shown == 0)
        cat(buf, n, "none");
    return buf;
}

const char *dcpki_policy_allowed_sans(const dcpki_policy *p, char *buf, size_t n)
{
    if (n == 0)
        return buf;
    buf[0] = '\0';
    size_t shown = 0;
    for (size_t i = 0; p != NULL && i < p->n_sans; i++) {
        const dcpki_policy_san *s = &p->sans[i];
        if (shown++)
            cat(buf, n, ", ");
        cat(buf, n, dcpki_san_type_label(s->type));
        if (s->type == DCPKI_SAN_OTHERNAME) {
            cat(buf, n, " ");
            cat(buf, n, s->oid != NULL ? s->oid : "(any OID)");
        }
        if (s->mandatory)
            cat(buf, n, " mandatory");
    }
    if (shown == 0)
        cat(buf, n, "none");
    return buf;
}

dcpki_code dcpki_policy_check_key(const dcpki_policy *p, const EVP_PKEY *key, dcpki_err *err)
{
    if (p == NULL || key == NULL)
        return dcpki_err_set(err, DCPKI_E_INVALID_ARGUMENT, "no policy or no key to check");
    const char *alg = NULL;
    if (EVP_PKEY_is_a(key, "RSA") || EVP_PKEY_is_a(key, "RSA-PSS"))
        alg = "RSA";
    else if (EVP_PKEY_is_a(key, "EC"))
        alg = "EC";
    else if (EVP_PKEY_is_a(key, "DSA"))
        alg = "DSA";
    if (p->key_algorithm != NULL && (alg == NULL || strcmp(alg, p->key_algorithm) != 0))
        return dcpki_err_set(err, DCPKI_E_INVALID_ARGUMENT,
                             "profile %s demands a %s key, the request's key is %s",
                             p->profile_oid ? p->profile_oid : "?", p->key_algorithm,
                             alg ? alg : "of another type");
    int bits = EVP_PKEY_get_bits(key);
    if (p->key_size > 0 && bits < p->key_size)
        return dcpki_err_set(err, DCPKI_E_INVALID_ARGUMENT,
                             "profile %s demands keys of at least %d bits, the request's key has %d",
                             p->profile_oid ? p->profile_oid : "?", p->key_size, bits);
    return DCPKI_OK;
}

/* ---- JSON ---- */

static int jadd_str(json_object *o, const char *k, const char *v)
{
    json_object *s = v != NULL ? json_object_new_string(v) : NULL;
    if (v != NULL && s == NULL)
        return -1;
    return json_object_object_add(o, k, s);
}

static int jadd_int(json_object *o, const char *k, long v)
{
    json_object *i = json_object_new_int64(v);
    if (i == NULL)
        return -1;
    return json_object_object_add(o, k, i);
}

static int jadd_bool(json_object *o, const char *k, int v)
{
    json_object *b = json_object_new_boolean(v ? 1 : 0);
    if (b == NULL)
        return -1;
    return json_object_object_add(o, k, b);
}

static json_object *cert_json(X509 *x)
{
    if (x == NULL)
        return NULL;
    char *subj = X509_NAME_oneline(X509_get_subject_name(x), NULL, 0);
    char *iss = X509_NAME_oneline(X509_get_issuer_name(x), NULL, 0);
    unsigned char md[DCPKI_THUMBPRINT_LEN];
    char hex[41] = "";
    if (dcpki_thumbprint_of(x, NULL, md) == 0)
        dcpki_thumbprint_format(md, hex);
    json_object *c = json_object_new_object();
    if (c == NULL || subj == NULL || iss == NULL || jadd_str(c, "subject", subj) != 0 ||
        jadd_str(c, "issuer", iss) != 0 || jadd_str(c, "sha1", hex) != 0) {
        json_object_put(c);
        c = NULL;
    }
    OPENSSL_free(subj);
    OPENSSL_free(iss);
    return c;
}

static int jadd_cert(json_object *o, const char *k, X509 *x)
{
    if (x == NULL)
        return jadd_str(o, k, NULL);
    json_object *c = cert_json(x);
    if (c == NULL)
        return -1;
    return json_object_object_add(o, k, c);
}

static json_object *policy_json(const dcpki_policy *p)
{
    json_object *o = json_object_new_object();
    json_object *attrs = json_object_new_array();
    json_object *sans = json_object_new_array();
    json_object *cas = json_object_new_array();
    json_object *key = json_object_new_object();
    json_object *val = json_object_new_object();
    int bad = (o == NULL || attrs == NULL || sans == NULL || cas == NULL || key == NULL ||
               val == NULL);
    if (!bad)
        bad = jadd_str(o, "profile_oid", p->profile_oid) || jadd_str(o, "policy_id", p->policy_id) ||
              jadd_str(o, "friendly_name", p->friendly_name) || jadd_str(o, "status", p->status) ||
              jadd_str(o, "delivery_format", p->delivery_format);
    for (size_t i = 0; !bad && i < p->n_attrs; i++) {
        const dcpki_policy_attr *a = &p->attrs[i];
        json_object *e = json_object_new_object();
        bad = e == NULL || jadd_str(e, "attribute", a->dn) || jadd_str(e, "name", a->name) ||
              jadd_bool(e, "mandatory", a->mandatory) ||
              jadd_str(e, "fixed_value", a->fixed_value) || json_object_array_add(attrs, e);
        if (bad)
            json_object_put(e);
    }
    for (size_t i = 0; !bad && i < p->n_sans; i++) {
        const dcpki_policy_san *s = &p->sans[i];
        static const char *const kinds[] = {"email", "upn", "othername"};
        json_object *e = json_object_new_object();
        bad = e == NULL || jadd_str(e, "type", kinds[s->type]) || jadd_str(e, "name", s->name) ||
              jadd_str(e, "oid", s->oid) || jadd_bool(e, "mandatory", s->mandatory) ||
              json_object_array_add(sans, e);
        if (bad)
            json_object_put(e);
    }
    for (size_t i = 0; !bad && i < p->n_cas; i++) {
        const dcpki_policy_ca *c = &p->cas[i];
        json_object *e = json_object_new_object();
        json_object *im = json_object_new_array();
        bad = e == NULL || im == NULL;
        for (size_t j = 0; !bad && j < c->n_intermediates; j++) {
            json_object *h = cert_json(c->intermediates[j]);
            bad = h == NULL || json_object_array_add(im, h);
            if (bad)
                json_object_put(h);
        }
        if (!bad)
            bad = jadd_int(e, "reference", c->ref_id) || jadd_str(e, "issuer_name", c->issuer_name) ||
                  jadd_str(e, "type", c->type) || jadd_cert(e, "certificate", c->certificate) ||
                  jadd_cert(e, "root", c->root);
        if (!bad) {
            bad = json_object_object_add(e, "intermediates", im);
            im = NULL;
        }
        json_object_put(im);
        if (!bad)
            bad = json_object_array_add(cas, e);
        if (bad)
            json_object_put(e);
    }
    if (!bad)
        bad = jadd_str(key, "algorithm", p->key_algorithm) ||
              jadd_str(key, "algorithm_oid", p->key_algorithm_oid) ||
              jadd_int(key, "min_size", p->key_size) ||
              (p->key_exportable >= 0 ? jadd_bool(key, "exportable", p->key_exportable)
                                      : jadd_str(key, "exportable", NULL)) ||
              (p->validity_days >= 0 ? jadd_int(val, "days", p->validity_days)
                                     : jadd_str(val, "days", NULL)) ||
              (p->renewal_days >= 0 ? jadd_int(val, "renewal_days", p->renewal_days)
                                    : jadd_str(val, "renewal_days", NULL));
    if (!bad) {
        json_object_object_add(o, "subject", attrs);
        json_object_object_add(o, "san", sans);
        json_object_object_add(o, "key", key);
        json_object_object_add(o, "validity", val);
        json_object_object_add(o, "override_subject_format",
                               json_object_new_boolean(p->override_subject_format ? 1 : 0));
        json_object_object_add(o, "cas", cas);
        return o;
    }
    json_object_put(o);
    json_object_put(attrs);
    json_object_put(sans);
    json_object_put(cas);
    json_object_put(key);
    json_object_put(val);
    return NULL;
}

dcpki_code dcpki_policy_to_json(const dcpki_policy *p, int pretty, char **out, dcpki_err *err)
{
    *out = NULL;
    if (p == NULL)
        return dcpki_err_set(err, DCPKI_E_INVALID_ARGUMENT, "no policy");
    json_object *o = policy_json(p);
    if (o == NULL)
        return dcpki_err_set(err, DCPKI_E_NOMEM, "building the policy's JSON");
    const char *s = json_object_to_json_string_ext(
        o, (pretty ? JSON_C_TO_STRING_PRETTY : JSON_C_TO_STRING_PLAIN) | JSON_C_TO_STRING_NOSLASHESCAPE);
    *out = s != NULL ? strdup(s) : NULL;
    json_object_put(o);
    if (*out == NULL)
        return dcpki_err_set(err, DCPKI_E_NOMEM, "building the policy's JSON");
    return DCPKI_OK;
}

/* ---- text ---- */

typedef struct sbuf {
    char *s;
    size_t len, cap;
    int oom;
} sbuf;

static void sb_printf(sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_printf(sbuf *b, const char *fmt, ...)
{
    if (b->oom)
        return;
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        size_t room = b->cap - b->len;
        int n = vsnprintf(b->s ? b->s + b->len : NULL, b->s ? room : 0, fmt, ap);
        va_end(ap);
        if (n < 0) {
            b->oom = 1;
            return;
        }
        if (b->s != NULL && (size_t)n < room) {
            b->len += (size_t)n;
            return;
        }
        size_t ncap = (b->cap ? b->cap * 2 : 256) + (size_t)n + 1;
        char *t = realloc(b->s, ncap);
        if (t == NULL) {
            b->oom = 1;
            return;
        }
        b->s = t;
        b->cap = ncap;
        b->s[b->len] = '\0';
    }
}

static void sb_cert(sbuf *b, const char *label, X509 *x)
{
    if (x == NULL)
        return;
    char *subj = X509_NAME_oneline(X509_get_subject_name(x), NULL, 0);
    sb_printf(b, "  %s: %s\n", label, subj ? subj : "?");
    OPENSSL_free(subj);
}

dcpki_code dcpki_policy_to_text(const dcpki_policy *p, char **out, dcpki_err *err)
{
    *out = NULL;
    if (p == NULL)
        return dcpki_err_set(err, DCPKI_E_INVALID_ARGUMENT, "no policy");
    sbuf b = {0};
    sb_printf(&b, "profile: %s\n", p->profile_oid ? p->profile_oid : "?");
    if (p->friendly_name)
        sb_printf(&b, "name: %s\n", p->friendly_name);
    if (p->status)
        sb_printf(&b, "status: %s\n", p->status);
    sb_printf(&b, "subject attributes:\n");
    if (p->n_attrs == 0)
        sb_printf(&b, "  none\n");
    for (size_t i = 0; i < p->n_attrs; i++) {
        const dcpki_policy_attr *a = &p->attrs[i];
        sb_printf(&b, "  %s%s%s%s", a->dn ? a->dn : (a->name ? a->name : "?"),
                  a->dn && a->name ? " (" : "", a->dn && a->name ? a->name : "",
                  a->dn && a->name ? ")" : "");
        if (a->fixed_value)
            sb_printf(&b, ": fixed to \"%s\"\n", a->fixed_value);
        else
            sb_printf(&b, ": %s\n", a->mandatory ? "mandatory" : "optional");
    }
    sb_printf(&b, "subject alternative names:\n");
    if (p->n_sans == 0)
        sb_printf(&b, "  none\n");
    for (size_t i = 0; i < p->n_sans; i++) {
        const dcpki_policy_san *s = &p->sans[i];
        sb_printf(&b, "  %s%s%s (pair %s): %s\n", dcpki_san_type_label(s->type),
                  s->type == DCPKI_SAN_OTHERNAME ? " " : "",
                  s->type == DCPKI_SAN_OTHERNAME ? (s->oid ? s->oid : "(any OID)") : "",
                  s->name ? s->name : "?", s->mandatory ? "mandatory" : "optional");
    }
    sb_printf(&b, "key: %s", p->key_algorithm ? p->key_algorithm
                                              : (p->key_algorithm_oid ? p->key_algorithm_oid : "any algorithm"));
    if (p->key_size > 0)
        sb_printf(&b, ", at least %d bits", p->key_size);
    if (p->key_exportable >= 0)
        sb_printf(&b, ", %sexportable", p->key_exportable ? "" : "not ");
    sb_printf(&b, "\n");
    if (p->validity_days >= 0)
        sb_printf(&b, "validity: %ld days\n", p->validity_days);
    if (p->renewal_days >= 0)
        sb_printf(&b, "renewal: %ld days before expiry\n", p->renewal_days);
    for (size_t i = 0; i < p->n_cas; i++) {
        const dcpki_policy_ca *c = &p->cas[i];
        sb_printf(&b, "CA %ld%s%s%s:\n", c->ref_id, c->issuer_name ? " (" : "",
                  c->issuer_name ? c->issuer_name : "", c->issuer_name ? ")" : "");
        sb_cert(&b, "certificate", c->certificate);
        for (size_t j = 0; j < c->n_intermediates; j++)
            sb_cert(&b, "intermediate", c->intermediates[j]);
        sb_cert(&b, "root", c->root);
    }
    if (b.oom || b.s == NULL) {
        free(b.s);
        return dcpki_err_set(err, DCPKI_E_NOMEM, "describing the policy");
    }
    *out = b.s;
    return DCPKI_OK;
}
