/* PKCS#10 requests for profile enrollment: load, build from a prepared
 * request, and turn an existing CSR back into subject + --san arguments. */
#include "dcpki/request.h"
#include "internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/asn1.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#define CSR_MAX (64 * 1024)

static int dn_nid(const char *type)
{
    static const struct {
        const char *t;
        int nid;
    } map[] = {
        {"CN", NID_commonName}, {"E", NID_pkcs9_emailAddress}, {"GN", NID_givenName},
        {"SN", NID_surname},    {"O", NID_organizationName},   {"OU", NID_organizationalUnitName},
        {"C", NID_countryName}, {"L", NID_localityName},       {"ST", NID_stateOrProvinceName},
        {"title", NID_title},
    };
    for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
        if (strcmp(map[i].t, type) == 0)
            return map[i].nid;
    return NID_undef;
}

dcpki_code dcpki_csr_load(const unsigned char *data, size_t len, X509_REQ **out, dcpki_err *err)
{
    *out = NULL;
    if (data == NULL || len == 0 || len > CSR_MAX)
        return dcpki_err_set(err, DCPKI_E_INVALID_ARGUMENT,
                             "the CSR is empty or larger than %d bytes", CSR_MAX);
    X509_REQ *req = NULL;
    int pem = 0;
    for (size_t i = 0; i + 10 <= len && !pem; i++)
        pem = memcmp(data + i, "-----BEGIN", 10) == 0;
    if (pem) {
        BIO *b = BIO_new_mem_buf(data, (int)len);
        if (b == NULL)
            return dcpki_err_set(err, DCPKI_E_NOMEM, "reading the CSR");
        req = PEM_read_bio_X509_REQ(b, NULL, NULL, NULL); /* both PEM labels */
        BIO_free(b);
    } else {
        const unsigned char *p = data;
        req = d2i_X509_REQ(NULL, &p, (long)len);
        if (req != NULL && p != data + len) {
            X509_REQ_free(req);
            req = NULL;
        }
    }
    if (req == NULL) {
        ERR_clear_error();
        return dcpki_err_set(err, DCPKI_E_INVALID_ARGUMENT,
                             "the CSR is no PKCS#10 request (PEM \"CERTIFICATE REQUEST\" or DER)");
    }
    EVP_PKEY *pub = X509_REQ_get0_pubkey(req);
    if (pub == NULL || X509_REQ_verify(req, pub) != 1) {
        ERR_clear_error();
        X509_REQ_free(req);
        return dcpki_err_set(err, DCPKI_E_INVALID_ARGUMENT,
                             "the CSR's signature does not verify with its own public key");
    }
    *out = req;
    return DCPKI_OK;
}

/* otherName value from the given bytes: the DER value itself when the bytes
 * are exactly one DER value, else an OCTET STRING holding them. */
static ASN1_TYPE *othername_value(const unsigned char *der, size_t len)
{
    const unsigned char *p = der;
    ASN1_TYPE *t = d2i_ASN1_TYPE(NULL, &p, (long)len);
    if (t != NULL && p == der + len) {
        unsigned char *re = NULL;
        int n = i2d_ASN1_TYPE(t, &re);
        int same = n == (int)len && memcmp(re, der, len) == 0;
        OPENSSL_free(re);
        if (same)
            return t;
    }
    ASN1_TYPE_free(t);
    ERR_clear_error();
    ASN1_OCTET_STRING *os = ASN1_OCTET_STRING_new();
    t = ASN1_TYPE_new();
    if (os == NULL || t == NULL || !ASN1_OCTET_STRING_set(os, der, (int)len)) {
        ASN1_OCTET_STRING_free(os);
        ASN1_TYPE_free(t);
        return NULL;
    }
    ASN1_TYPE_set(t, V_ASN1_OCTET_STRING, os);
    return t;
}

static int push_othername(GENERAL_NAMES *gens, const char *oid, ASN1_TYPE *val)
{
    GENERAL_NAME *g = GENERAL_NAME_new();
    ASN1_OBJECT *o = OBJ_txt2obj(oid, 1);
    if (g == NULL || o == NULL || val == NULL || !GENERAL_NAME_set0_othername(g, o, val)) {
        GENERAL_NAME_free(g);
        ASN1_OBJECT_free(o);
        ASN1_TYPE_free(val);
        return 0;
    }
    if (!sk_GENERAL_NAME_push(gens, g)) {
        GENERAL_NAME_free(g);
        return 0;
    }
    return 1;
}

static int push_email(GENERAL_NAMES *gens, const char *email)
{
    GENERAL_NAME *g = GENERAL_NAME_new();
    ASN1_IA5STRING *s = ASN1_IA5STRING_new();
    if (g == NULL || s == NULL || !ASN1_STRING_set(s, email, -1)) {
        GENERAL_NAME_free(g);
        ASN1_IA5STRING_free(s);
        return 0;
    }
    GENERAL_NAME_set0_value(g, GEN_EMAIL, s);
    if (!sk_GENERAL_NAME_push(gens, g)) {
        GENERAL_NAME_free(g);
        return 0;
    }
    return 1;
}

static int push_upn(GENERAL_NAMES *gens, const char *upn)
{
    ASN1_UTF8STRING *u = ASN1_UTF8STRING_new();
    ASN1_TYPE *t = ASN1_TYPE_new();
    if (u == NULL || t == NULL || !ASN1_STRING_set(u, upn, -1)) {
        ASN1_UTF8STRING_free(u);
        ASN1_TYPE_free(t);
        return 0;
    }
    ASN1_TYPE_set(t, V_ASN1_UTF8STRING, u);
    return push_othername(gens, DCPKI_OID_UPN, t);
}

dcpki_code dcpki_request_build_csr(const dcpki_request *r, EVP_PKEY *key, unsigned char **der,
                                   size_t *der_len, dcpki_err *err)
{
    *der = NULL;
    *der_len = 0;
    if (r == NULL || r->subject == NULL || key == NULL)
        return dcpki_err_set(err, DCPKI_E_INVALID_ARGUMENT, "no request or no key for the CSR");
    dcpki_code rc = DCPKI_OK;
    X509_REQ *req = X509_REQ_new();
    X509_NAME *name = X509_NAME_new();
    GENERAL_NAMES *gens = sk_GENERAL_NAME_new_null();
    STACK_OF(X509_EXTENSION) *exts = sk_X509_EXTENSION_new_null();
    unsigned char *buf = NULL;
    if (req == NULL || name == NULL || gens == NULL || exts == NULL) {
        rc = dcpki_err_set(err, DCPKI_E_NOMEM, "building the CSR");
        goto done;
    }
    for (size_t i = 0; i < r->subject->n; i++) {
        const dcpki_rdn *d = &r->subject->rdns[i];
        int nid = dn_nid(d->type);
        int type = (nid == NID_pkcs9_emailAddress) ? V_ASN1_IA5STRING
                   : (nid == NID_countryName) ? V_ASN1_PRINTABLESTRING : MBSTRING_UTF8;
        if (nid == NID_undef ||
            !X509_NAME_add_entry_by_NID(name, nid, type, (const unsigned char *)d->value, -1, -1, 0)) {
            ERR_clear_error();
            rc = dcpki_err_set(err, DCPKI_E_INVALID_ARGUMENT,
                               "subject attribute %s=\"%s\" cannot go into a CSR%s", d->type, d->value,
                               nid == NID_countryName ? " (C is two letters)" : "");
            goto done;
        }
    }
    int ok = 1;
    if (r->email != NULL)
        ok = push_email(gens, r->email);
    if (ok && r->upn != NULL)
        ok = push_upn(gens, r->upn);
    for (size_t i = 0; ok && i < r->n_othernames; i++)
        ok = push_othername(gens, r->othernames[i].oid,
                            othername_value(r->othernames[i].der, r->othernames[i].der_len));
    if (!ok) {
        rc = dcpki_err_set(err, DCPKI_E_NOMEM, "building the CSR's subjectAltName");
        goto done;
    }
    if (!X509_REQ_set_version(req, 0) || !X509_REQ_set_subject_name(req, name) ||
        !X509_REQ_set_pubkey(req, key)) {
        rc = dcpki_err_set(err, DCPKI_E_INTERNAL, "building the CSR");
        goto done;
    }
    if (sk_GENERAL_NAME_num(gens) > 0) {
        X509_EXTENSION *ext = X509V3_EXT_i2d(NID_subject_alt_name, 0, gens);
        if (ext != NULL && !sk_X509_EXTENSION_push(exts, ext)) {
            X509_EXTENSION_free(ext);
            ext = NULL;
        }
        /* ext, when pushed, is owned by exts */
        if (ext == NULL || !X509_REQ_add_extensions(req, exts)) {
            rc = dcpki_err_set(err, DCPKI_E_INTERNAL, "adding the subjectAltName to the CSR");
            goto done;
        }
    }
    if (X509_REQ_sign(req, key, EVP_sha256()) <= 0) {
        unsigned long e = ERR_get_error();
        char ebuf[160];
        ERR_error_string_n(e, ebuf, sizeof(ebuf));
        ERR_clear_error();
        rc = dcpki_err_set(err, DCPKI_E_INVALID_ARGUMENT, "signing the CSR failed: %s", ebuf);
        goto done;
    }
    int n = i2d_X509_REQ(req, &buf);
    if (n <= 0) {
        rc = dcpki_err_set(err, DCPKI_E_INTERNAL, "encoding the CSR");
        goto done;
    }
    *der = malloc((size_t)n);
    if (*der == NULL) {
        rc = dcpki_err_set(err, DCPKI_E_NOMEM, "encoding the CSR");
        goto done;
    }
    memcpy(*der, buf, (size_t)n);
    *der_len = (size_t)n;
done:
    OPENSSL_free(buf);
    sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
    GENERAL_NAMES_free(gens);
    X509_NAME_free(name);
    X509_REQ_free(req);
    return rc;
}

/* ---- CSR → subject string + --san arguments ---- */

typedef struct strv {
    char **v;
    size_t n;
} strv;

static int strv_push(strv *s, char *str)
{
    if (str == NULL)
        return 0;
    char **n = realloc(s->v, (s->n + 1) * sizeof(*n));
    if (n == NULL) {
        free(str);
        return 0;
    }
    s->v = n;
    n[s->n++] = str;
    return 1;
}

static char *fmt2(const char *a, const char *b, const char *c)
{
    size_t n = strlen(a) + strlen(b) + strlen(c) + 1;
    char *o = malloc(n);
    if (o != NULL)
        snprintf(o, n, "%s%s%s", a, b, c);
    return o;
}

static char *hex_of(const unsigned char *d, size_t n)
{
    char *o = malloc(2 * n + 1);
    if (o == NULL)
        return NULL;
    dcpki_hex_lower(d, n, o);
    return o;
}

static char *asn1_utf8(const ASN1_STRING *s)
{
    unsigned char *u = NULL;
    int n = ASN1_STRING_to_UTF8(&u, s);
    if (n < 0)
        return NULL;
    char *o = malloc((size_t)n + 1);
    if (o != NULL) {
        memcpy(o, u, (size_t)n);
        o[n] = '\0';
    }
    OPENSSL_free(u);
    return o;
}

void dcpki_csr_input_free(char *subject, char **sans, size_t n_sans)
{
    free(subject);
    for (size_t i = 0; sans != NULL && i < n_sans; i++)
        free(sans[i]);
    free(sans);
}

dcpki_code dcpki_csr_to_input(const X509_REQ *req, char **subject, char ***sans, size_t *n_sans,
                              dcpki_err *err)
{
    *subject = NULL;
    *sans = NULL;
    *n_sans = 0;
    const X509_NAME *name = X509_REQ_get_subject_name(req);
    size_t cap = 1;
    char *subj = calloc(1, 1);
    strv sv = {0};
    dcpki_code rc = DCPKI_OK;
    if (subj == NULL)
        return dcpki_err_set(err, DCPKI_E_NOMEM, "reading the CSR");
    for (int i = 0; name != NULL && i < X509_NAME_entry_count(name); i++) {
        const X509_NAME_ENTRY *e = X509_NAME_get_entry(name, i);
        int nid = OBJ_obj2nid(X509_NAME_ENTRY_get_object(e));
        const char *sn = nid == NID_pkcs9_emailAddress ? "E" : nid != NID_undef ? OBJ_nid2sn(nid) : NULL;
        char oidbuf[80];
        if (sn == NULL) {
            OBJ_obj2txt(oidbuf, sizeof(oidbuf), X509_NAME_ENTRY_get_object(e), 1);
            sn = oidbuf;
        }
        char *v = asn1_utf8(X509_NAME_ENTRY_get_data(e));
        if (v == NULL) {
            rc = dcpki_err_set(err, DCPKI_E_INVALID_ARGUMENT,
                               "the CSR's subject attribute %s is not a readable string", sn);
            goto done;
        }
        size_t need = cap + strlen(sn) + 2 + 2 * strlen(v) + 1;
        char *ns = realloc(subj, need);
        if (ns == NULL) {
            free(v);
            rc = dcpki_err_set(err, DCPKI_E_NOMEM, "reading the CSR");
            goto done;
        }
        subj = ns;
        size_t l = strlen(subj);
        l += (size_t)snprintf(subj + l, need - l, "%s%s=", l ? "," : "", sn);
        for (const char *p = v; *p; p++) {
            if (*p == ',' || *p == '\\' || (p == v && *p == '/'))
                subj[l++] = '\\';
            subj[l++] = *p;
        }
        subj[l] = '\0';
        cap = need;
        free(v);
    }
    STACK_OF(X509_EXTENSION) *exts = X509_REQ_get_extensions((X509_REQ *)req);
    GENERAL_NAMES *gens = NULL;
    for (int i = 0; exts != NULL && i < sk_X509_EXTENSION_num(exts) && gens == NULL; i++) {
        X509_EXTENSION *x = sk_X509_EXTENSION_value(exts, i);
        if (OBJ_obj2nid(X509_EXTENSION_get_object(x)) == NID_subject_alt_name)
            gens = X509V3_EXT_d2i(x);
    }
    sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
    int ok = 1;
    for (int i = 0; gens != NULL && ok && i < sk_GENERAL_NAME_num(gens); i++) {
        const GENERAL_NAME *g = sk_GENERAL_NAME_value(gens, i);
        int type;
        if (g->type == GEN_OTHERNAME) {
            ASN1_OBJECT *oid = NULL;
            ASN1_TYPE *val = NULL;
            GENERAL_NAME_get0_otherName(g, &oid, &val);
            char ob[128];
            OBJ_obj2txt(ob, sizeof(ob), oid, 1);
            if (strcmp(ob, DCPKI_OID_UPN) == 0 && val != NULL && val->type == V_ASN1_UTF8STRING) {
                char *u = asn1_utf8(val->value.utf8string);
                ok = u != NULL && strv_push(&sv, fmt2("upn:", u, ""));
                free(u);
            } else {
                unsigned char *d = NULL;
                int n = val ? i2d_ASN1_TYPE(val, &d) : -1;
                char *h = n > 0 ? hex_of(d, (size_t)n) : NULL;
                OPENSSL_free(d);
                char *pre = h ? fmt2("othername:", ob, ";") : NULL;
                ok = h != NULL && pre != NULL && strv_push(&sv, fmt2(pre, h, ""));
                free(pre);
                free(h);
            }
            continue;
        }
        const ASN1_STRING *s = GENERAL_NAME_get0_value(g, &type);
        const char *kind = type == GEN_EMAIL ? "email:" : type == GEN_DNS ? "dns:"
                           : type == GEN_URI ? "uri:" : type == GEN_IPADD ? "ip:" : "other:";
        char *v = NULL;
        if (type == GEN_EMAIL || type == GEN_DNS || type == GEN_URI)
            v = asn1_utf8(s);
        else if (type == GEN_IPADD)
            v = hex_of(ASN1_STRING_get0_data(s), (size_t)ASN1_STRING_length(s));
        else
            v = strdup("?");
        ok = v != NULL && strv_push(&sv, fmt2(kind, v, ""));
        free(v);
    }
    GENERAL_NAMES_free(gens);
    if (!ok) {
        rc = dcpki_err_set(err, DCPKI_E_NOMEM, "reading the CSR's subjectAltName");
        goto done;
    }
done:
    if (rc != DCPKI_OK) {
        dcpki_csr_input_free(subj, sv.v, sv.n);
        return rc;
    }
    *subject = subj;
    *sans = sv.v;
    *n_sans = sv.n;
    return DCPKI_OK;
}
