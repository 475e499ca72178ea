/* Object attributes: the full sets generic consumers read (Java SunPKCS11,
 * NSS, libp11, GnuTLS, OpenSC), built from public keys and certificates, and
 * C_GetAttributeValue / C_GetObjectSize exactly as PKCS#11 v2.40 §5.7 says. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/x509.h>
#include "dcpki/ossl.h"
#include "p11.h"

/* ---- attribute lists ---- */
void p11_attrs_add(p11_attrs *as, CK_ATTRIBUTE_TYPE t, const void *v, size_t len)
{
    p11_attr *a;
    if (as->oom)
        return;
    if (as->n == as->cap) {
        size_t cap = as->cap ? as->cap * 2 : 32;
        p11_attr *na = realloc(as->a, cap * sizeof(*na));
        if (!na) {
            as->oom = 1;
            return;
        }
        as->a = na;
        as->cap = cap;
    }
    a = &as->a[as->n];
    memset(a, 0, sizeof(*a));
    a->type = t;
    a->len = (CK_ULONG)len;
    if (len) {
        if (!(a->val = malloc(len))) {
            as->oom = 1;
            return;
        }
        memcpy(a->val, v, len);
    }
    as->n++;
}

void p11_attrs_add_bool(p11_attrs *as, CK_ATTRIBUTE_TYPE t, CK_BBOOL b)
{
    p11_attrs_add(as, t, &b, sizeof(b));
}

void p11_attrs_add_ulong(p11_attrs *as, CK_ATTRIBUTE_TYPE t, CK_ULONG v)
{
    p11_attrs_add(as, t, &v, sizeof(v));
}

void p11_attrs_add_sensitive(p11_attrs *as, CK_ATTRIBUTE_TYPE t)
{
    p11_attrs_add(as, t, NULL, 0);
    if (!as->oom)
        as->a[as->n - 1].sensitive = 1;
}

void p11_attrs_free(p11_attrs *as)
{
    for (size_t i = 0; i < as->n; i++)
        free(as->a[i].val);
    free(as->a);
    memset(as, 0, sizeof(*as));
}

const p11_attr *p11_attrs_find(const p11_attrs *as, CK_ATTRIBUTE_TYPE t)
{
    for (size_t i = 0; i < as->n; i++)
        if (as->a[i].type == t)
            return &as->a[i];
    return NULL;
}

/* ---- helpers over OpenSSL ---- */
/* der/len from an i2d_* call; what names the structure for the log */
static void add_der_free(p11_attrs *as, CK_ATTRIBUTE_TYPE t, unsigned char *der, int len,
                         const char *what)
{
    if (len < 0 || !der) {
        if (!as->unreadable)
            as->unreadable = what;
        return;
    }
    p11_attrs_add(as, t, der, (size_t)len);
    OPENSSL_free(der);
}

static void add_bn(p11_attrs *as, CK_ATTRIBUTE_TYPE t, EVP_PKEY *pk, const char *name)
{
    BIGNUM *bn = NULL;
    unsigned char *buf;
    int len;
    if (!EVP_PKEY_get_bn_param(pk, name, &bn)) {
        if (!as->unreadable)
            as->unreadable = t == CKA_MODULUS ? "RSA modulus" : "RSA public exponent";
        return;
    }
    len = BN_num_bytes(bn);
    if ((buf = OPENSSL_malloc(len > 0 ? (size_t)len : 1)) == NULL) {
        BN_free(bn);
        as->oom = 1;
        return;
    }
    BN_bn2bin(bn, buf);
    p11_attrs_add(as, t, buf, (size_t)len);
    OPENSSL_free(buf);
    BN_free(bn);
}

static void add_spki(p11_attrs *as, EVP_PKEY *pub)
{
    unsigned char *der = NULL;
    int len = i2d_PUBKEY(pub, &der);
    add_der_free(as, CKA_PUBLIC_KEY_INFO, der, len, "SubjectPublicKeyInfo");
}

static void add_ec_params_point(p11_attrs *as, EVP_PKEY *pub)
{
    char group[80];
    unsigned char pt[256];
    size_t ptlen = 0;
    unsigned char *der = NULL;
    int nid, len;
    ASN1_OCTET_STRING *os;

    if (!EVP_PKEY_get_utf8_string_param(pub, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof(group), NULL) ||
        (nid = OBJ_txt2nid(group)) == NID_undef) {
        if (!as->unreadable)
            as->unreadable = "EC named curve";
        return;
    }
    len = i2d_ASN1_OBJECT(OBJ_nid2obj(nid), &der);
    add_der_free(as, CKA_EC_PARAMS, der, len, "EC named curve");
    /* CKA_EC_POINT: DER OCTET STRING holding the uncompressed point */
    if (!EVP_PKEY_get_octet_string_param(pub, OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY, pt, sizeof(pt), &ptlen)) {
        if (!as->unreadable)
            as->unreadable = "EC public point";
        return;
    }
    if (!(os = ASN1_OCTET_STRING_new())) {
        as->oom = 1;
        return;
    }
    if (!ASN1_OCTET_STRING_set(os, pt, (int)ptlen)) {
        ASN1_OCTET_STRING_free(os);
        as->oom = 1;
        return;
    }
    der = NULL;
    len = i2d_ASN1_OCTET_STRING(os, &der);
    ASN1_OCTET_STRING_free(os);
    add_der_free(as, CKA_EC_POINT, der, len, "EC public point");
}

/* CKA_KEY_TYPE; 0 with *ok = 0 when the key is neither RSA nor EC */
static CK_KEY_TYPE key_type_of(EVP_PKEY *pub, int *ok)
{
    *ok = 1;
    if (EVP_PKEY_is_a(pub, "RSA"))
        return CKK_RSA;
    if (EVP_PKEY_is_a(pub, "EC"))
        return CKK_EC;
    *ok = 0;
    return 0;
}

int p11_key_id(EVP_PKEY *pub, unsigned char out[20])
{
    X509_PUBKEY *xp = NULL;
    const unsigned char *pk;
    int pklen, ok;
    if (!X509_PUBKEY_set(&xp, pub))
        return 0;
    ok = X509_PUBKEY_get0_param(NULL, &pk, &pklen, NULL, xp) && p11_sha1(pk, (size_t)pklen, out);
    X509_PUBKEY_free(xp);
    return ok;
}

int p11_cert_key_id(const X509 *x, unsigned char out[20])
{
    const unsigned char *pk;
    int pklen;
    return X509_PUBKEY_get0_param(NULL, &pk, &pklen, NULL, X509_get_X509_PUBKEY(x)) &&
           p11_sha1(pk, (size_t)pklen, out);
}

int p11_sha1(const void *data, size_t len, unsigned char out[20])
{
    return dcpki_digest_once(p11_mod->libctx, "SHA1", data, len, out, 20);
}

/* CKR_OK, or why the set is incomplete (logged, naming the object) */
static CK_RV built(const p11_attrs *as, const char *label, const char *kind)
{
    if (as->oom)
        return CKR_HOST_MEMORY;
    if (as->unreadable) {
        p11_logf("%s %s: OpenSSL could not read or encode its %s", kind, label, as->unreadable);
        return CKR_FUNCTION_FAILED;
    }
    return CKR_OK;
}

static void add_common(p11_attrs *as, CK_OBJECT_CLASS cls, const char *label, int priv)
{
    p11_attrs_add_ulong(as, CKA_CLASS, cls);
    p11_attrs_add_bool(as, CKA_TOKEN, CK_TRUE);
    p11_attrs_add_bool(as, CKA_PRIVATE, priv ? CK_TRUE : CK_FALSE);
    p11_attrs_add_bool(as, CKA_MODIFIABLE, CK_FALSE);
    p11_attrs_add_bool(as, CKA_COPYABLE, CK_FALSE);
    p11_attrs_add_bool(as, CKA_DESTROYABLE, CK_FALSE);
    p11_attrs_add(as, CKA_LABEL, label, strlen(label));
}

static void add_key_common(p11_attrs *as, CK_KEY_TYPE kt, const unsigned char *id, size_t id_len,
                           const unsigned char *subj, size_t subj_len)
{
    p11_attrs_add_ulong(as, CKA_KEY_TYPE, kt);
    p11_attrs_add(as, CKA_ID, id, id_len);
    p11_attrs_add(as, CKA_START_DATE, NULL, 0);
    p11_attrs_add(as, CKA_END_DATE, NULL, 0);
    p11_attrs_add_bool(as, CKA_DERIVE, CK_FALSE);
    p11_attrs_add_bool(as, CKA_LOCAL, CK_FALSE);
    p11_attrs_add_ulong(as, CKA_KEY_GEN_MECHANISM, CK_UNAVAILABLE_INFORMATION);
    CK_MECHANISM_TYPE mechs[16];
    size_t nm = p11_mech_list(kt, mechs, sizeof(mechs) / sizeof(mechs[0]));
    p11_attrs_add(as, CKA_ALLOWED_MECHANISMS, mechs, nm * sizeof(*mechs));
    p11_attrs_add(as, CKA_SUBJECT, subj, subj ? subj_len : 0);
}

CK_RV p11_build_private(p11_object *o, EVP_PKEY *pub, const unsigned char *id, size_t id_len,
                        const char *label, const unsigned char *subj, size_t subj_len, int priv)
{
    p11_attrs *as = &o->attrs;
    int ok;
    CK_KEY_TYPE kt = key_type_of(pub, &ok);
    if (!ok) {
        p11_logf("key %s: its algorithm is neither RSA nor EC, which the PKCS#11 module offers", label);
        return CKR_FUNCTION_FAILED;
    }
    o->cls = CKO_PRIVATE_KEY;
    o->key_type = kt;
    o->priv = priv;
    add_common(as, CKO_PRIVATE_KEY, label, priv);
    add_key_common(as, kt, id, id_len, subj, subj_len);
    p11_attrs_add_bool(as, CKA_SENSITIVE, CK_TRUE);
    p11_attrs_add_bool(as, CKA_DECRYPT, CK_FALSE);
    p11_attrs_add_bool(as, CKA_SIGN, CK_TRUE);
    p11_attrs_add_bool(as, CKA_SIGN_RECOVER, CK_FALSE);
    p11_attrs_add_bool(as, CKA_UNWRAP, CK_FALSE);
    p11_attrs_add_bool(as, CKA_EXTRACTABLE, CK_FALSE);
    p11_attrs_add_bool(as, CKA_ALWAYS_SENSITIVE, CK_TRUE);
    p11_attrs_add_bool(as, CKA_NEVER_EXTRACTABLE, CK_TRUE);
    p11_attrs_add_bool(as, CKA_WRAP_WITH_TRUSTED, CK_FALSE);
    p11_attrs_add_bool(as, CKA_ALWAYS_AUTHENTICATE, CK_FALSE);
    add_spki(as, pub);
    if (kt == CKK_RSA) {
        add_bn(as, CKA_MODULUS, pub, OSSL_PKEY_PARAM_RSA_N);
        add_bn(as, CKA_PUBLIC_EXPONENT, pub, OSSL_PKEY_PARAM_RSA_E);
        p11_attrs_add_sensitive(as, CKA_PRIVATE_EXPONENT);
        p11_attrs_add_sensitive(as, CKA_PRIME_1);
        p11_attrs_add_sensitive(as, CKA_PRIME_2);
        p11_attrs_add_sensitive(as, CKA_EXPONENT_1);
        p11_attrs_add_sensitive(as, CKA_EXPONENT_2);
        p11_attrs_add_sensitive(as, CKA_COEFFICIENT);
    } else {
        add_ec_params_point(as, pub);
        p11_attrs_add_sensitive(as, CKA_VALUE);
    }
    return built(as, label, "private key");
}

CK_RV p11_build_public(p11_object *o, EVP_PKEY *pub, const unsigned char *id, size_t id_len,
                       const char *label, const unsigned char *subj, size_t subj_len)
{
    p11_attrs *as = &o->attrs;
    int ok;
    CK_KEY_TYPE kt = key_type_of(pub, &ok);
    if (!ok) {
        p11_logf("key %s: its algorithm is neither RSA nor EC, which the PKCS#11 module offers", label);
        return CKR_FUNCTION_FAILED;
    }
    o->cls = CKO_PUBLIC_KEY;
    o->key_type = kt;
    add_common(as, CKO_PUBLIC_KEY, label, 0);
    add_key_common(as, kt, id, id_len, subj, subj_len);
    p11_attrs_add_bool(as, CKA_ENCRYPT, CK_FALSE);
    p11_attrs_add_bool(as, CKA_VERIFY, CK_TRUE);
    p11_attrs_add_bool(as, CKA_VERIFY_RECOVER, CK_FALSE);
    p11_attrs_add_bool(as, CKA_WRAP, CK_FALSE);
    p11_attrs_add_bool(as, CKA_TRUSTED, CK_FALSE);
    add_spki(as, pub);
    if (kt == CKK_RSA) {
        add_bn(as, CKA_MODULUS, pub, OSSL_PKEY_PARAM_RSA_N);
        p11_attrs_add_ulong(as, CKA_MODULUS_BITS, (CK_ULONG)EVP_PKEY_get_bits(pub));
        add_bn(as, CKA_PUBLIC_EXPONENT, pub, OSSL_PKEY_PARAM_RSA_E);
    } else {
        add_ec_params_point(as, pub);
    }
    return built(as, label, "public key");
}

static void add_date(p11_attrs *as, CK_ATTRIBUTE_TYPE t, const ASN1_TIME *at)
{
    struct tm tm;
    char buf[48];
    CK_DATE d;
    if (!at || !ASN1_TIME_to_tm(at, &tm) || tm.tm_year < 0 || tm.tm_year + 1900 > 9999) {
        p11_attrs_add(as, t, NULL, 0);
        return;
    }
    snprintf(buf, sizeof(buf), "%04d%02d%02d", tm.tm_year + 1900, (tm.tm_mon + 1) % 100, tm.tm_mday % 100);
    memcpy(d.year, buf, 4);
    memcpy(d.month, buf + 4, 2);
    memcpy(d.day, buf + 6, 2);
    p11_attrs_add(as, t, &d, sizeof(d));
}

CK_RV p11_build_cert(p11_object *o, X509 *x, const unsigned char *id, size_t id_len,
                     const char *label, CK_ULONG category)
{
    p11_attrs *as = &o->attrs;
    unsigned char *der = NULL, md[20];
    int len;
    unsigned char spki_hash[20];

    o->cls = CKO_CERTIFICATE;
    add_common(as, CKO_CERTIFICATE, label, 0);
    p11_attrs_add_ulong(as, CKA_CERTIFICATE_TYPE, CKC_X_509);
    p11_attrs_add_bool(as, CKA_TRUSTED, CK_FALSE);
    p11_attrs_add_ulong(as, CKA_CERTIFICATE_CATEGORY, category);
    p11_attrs_add(as, CKA_ID, id, id_len);
    len = i2d_X509(x, &der);
    if (len <= 0) {
        p11_logf("certificate %s: OpenSSL could not encode it", label);
        return CKR_FUNCTION_FAILED;
    }
    if (!p11_sha1(der, (size_t)len, md)) {
        OPENSSL_free(der);
        p11_logf("certificate %s: SHA-1 (its CKA_CHECK_VALUE) failed", label);
        return CKR_FUNCTION_FAILED;
    }
    p11_attrs_add(as, CKA_CHECK_VALUE, md, 3);
    add_der_free(as, CKA_VALUE, der, len, "DER encoding");
    der = NULL;
    len = i2d_X509_NAME(X509_get_subject_name(x), &der);
    add_der_free(as, CKA_SUBJECT, der, len, "subject");
    der = NULL;
    len = i2d_X509_NAME(X509_get_issuer_name(x), &der);
    add_der_free(as, CKA_ISSUER, der, len, "issuer");
    der = NULL;
    len = i2d_ASN1_INTEGER(X509_get0_serialNumber(x), &der);
    add_der_free(as, CKA_SERIAL_NUMBER, der, len, "serial number");
    der = NULL;
    len = i2d_X509_PUBKEY(X509_get_X509_PUBKEY(x), &der);
    add_der_free(as, CKA_PUBLIC_KEY_INFO, der, len, "SubjectPublicKeyInfo");
    add_date(as, CKA_START_DATE, X509_get0_notBefore(x));
    add_date(as, CKA_END_DATE, X509_get0_notAfter(x));
    p11_attrs_add(as, CKA_URL, NULL, 0);
    if (p11_cert_key_id(x, spki_hash))
        p11_attrs_add(as, CKA_HASH_OF_SUBJECT_PUBLIC_KEY, spki_hash, sizeof(spki_hash));
    else
        p11_attrs_add(as, CKA_HASH_OF_SUBJECT_PUBLIC_KEY, NULL, 0);
    p11_attrs_add(as, CKA_HASH_OF_ISSUER_PUBLIC_KEY, NULL, 0);
    p11_attrs_add_ulong(as, CKA_JAVA_MIDP_SECURITY_DOMAIN, 0);
    p11_attrs_add_ulong(as, CKA_NAME_HASH_ALGORITHM, CKM_SHA_1);
    return built(as, label, "certificate");
}

/* ---- C_GetAttributeValue ---- */
CK_RV C_GetAttributeValue(CK_SESSION_HANDLE hSession, CK_OBJECT_HANDLE hObject,
                          CK_ATTRIBUTE_PTR pTemplate, CK_ULONG ulCount)
{
    p11_session *s;
    p11_object *o;
    CK_RV rv = p11_session_get(hSession, &s), res = CKR_OK;
    if (rv != CKR_OK)
        return rv;
    if (!pTemplate && ulCount > 0) {
        p11_session_put(s);
        return CKR_ARGUMENTS_BAD;
    }
    if (!(o = p11_object_get(p11_mod, s->slot, hObject))) {
        p11_session_put(s);
        return CKR_OBJECT_HANDLE_INVALID;
    }
    /* Every attribute is processed; the return value reports the problems
     * met, sensitive before invalid type before buffer too small. */
    for (CK_ULONG i = 0; i < ulCount; i++) {
        CK_ATTRIBUTE *t = &pTemplate[i];
        const p11_attr *a = p11_attrs_find(&o->attrs, t->type);
        if (a && a->sensitive) {
            t->ulValueLen = CK_UNAVAILABLE_INFORMATION;
            res = CKR_ATTRIBUTE_SENSITIVE;
        } else if (!a) {
            t->ulValueLen = CK_UNAVAILABLE_INFORMATION;
            if (res != CKR_ATTRIBUTE_SENSITIVE)
                res = CKR_ATTRIBUTE_TYPE_INVALID;
        } else if (!t->pValue) {
            t->ulValueLen = a->len;
        } else if (t->ulValueLen >= a->len) {
            if (a->len)
                memcpy(t->pValue, a->val, a->len);
            t->ulValueLen = a->len;
        } else {
            t->ulValueLen = CK_UNAVAILABLE_INFORMATION;
            if (res == CKR_OK)
                res = CKR_BUFFER_TOO_SMALL;
        }
    }
    p11_session_put(s);
    return res;
}

CK_RV C_GetObjectSize(CK_SESSION_HANDLE hSession, CK_OBJECT_HANDLE hObject, CK_ULONG_PTR pulSize)
{
    p11_session *s;
    p11_object *o;
    CK_ULONG size = 0;
    CK_RV rv = p11_session_get(hSession, &s);
    if (rv != CKR_OK)
        return rv;
    if (!pulSize) {
        p11_session_put(s);
        return CKR_ARGUMENTS_BAD;
    }
    if (!(o = p11_object_get(p11_mod, s->slot, hObject))) {
        p11_session_put(s);
        return CKR_OBJECT_HANDLE_INVALID;
    }
    for (size_t i = 0; i < o->attrs.n; i++)
        size += o->attrs.a[i].len;
    *pulSize = size;
    p11_session_put(s);
    return CKR_OK;
}
