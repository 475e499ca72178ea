/* RSA signatures: PKCS#1 v1.5 and PSS.
 *
 * The signing service does PSS with MGF1 over the same hash and a salt as
 * long as the digest (the TLS and X.509 defaults). Parameters that would
 * produce anything else are refused with a clear error instead of yielding a
 * signature that does not match its AlgorithmIdentifier. Pad mode and salt
 * length arrive as integers (EVP_PKEY_CTX_set_rsa_*) or strings (-sigopt). */
#include <stdlib.h>
#include <string.h>

#include <openssl/objects.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include "signature.h"

#ifndef RSA_PSS_SALTLEN_AUTO_DIGEST_MAX
#define RSA_PSS_SALTLEN_AUTO_DIGEST_MAX -4 /* OpenSSL 3.1+ "auto-digestmax" */
#endif

static const struct {
    int id;
    const char *name;
} pad_names[] = {
    { RSA_PKCS1_PADDING, OSSL_PKEY_RSA_PAD_MODE_PKCSV15 },
    { RSA_PKCS1_PSS_PADDING, OSSL_PKEY_RSA_PAD_MODE_PSS },
    { RSA_NO_PADDING, OSSL_PKEY_RSA_PAD_MODE_NONE },
    { RSA_X931_PADDING, OSSL_PKEY_RSA_PAD_MODE_X931 },
    { RSA_PKCS1_OAEP_PADDING, OSSL_PKEY_RSA_PAD_MODE_OAEP },
};

static const struct {
    int id;
    const char *name;
} salt_names[] = {
    { RSA_PSS_SALTLEN_DIGEST, OSSL_PKEY_RSA_PSS_SALT_LEN_DIGEST },
    { RSA_PSS_SALTLEN_MAX, OSSL_PKEY_RSA_PSS_SALT_LEN_MAX },
    { RSA_PSS_SALTLEN_AUTO, OSSL_PKEY_RSA_PSS_SALT_LEN_AUTO },
    { RSA_PSS_SALTLEN_AUTO_DIGEST_MAX, "auto-digestmax" },
};

static int bad_param(dcpki_sig_ctx *c, const char *what, const char *remedy)
{
    DCPKI_RAISE(c->prov, DCPKI_R_BAD_PARAM, "%s (%s)", what, remedy);
    return 0;
}

int dcpki_rsa_sig_set_params(dcpki_sig_ctx *c, const OSSL_PARAM params[])
{
    const OSSL_PARAM *p;
    if (params == NULL)
        return 1;
    if (!dcpki_sig_set_common_params(c, params))
        return 0;

    p = OSSL_PARAM_locate_const(params, OSSL_SIGNATURE_PARAM_PAD_MODE);
    if (p != NULL) {
        int pad = -1;
        if (p->data_type == OSSL_PARAM_UTF8_STRING) {
            const char *s = NULL;
            if (!OSSL_PARAM_get_utf8_string_ptr(p, &s))
                return 0;
            for (size_t i = 0; i < sizeof(pad_names) / sizeof(pad_names[0]); i++)
                if (strcmp(s, pad_names[i].name) == 0)
                    pad = pad_names[i].id;
        } else if (!OSSL_PARAM_get_int(p, &pad)) {
            return 0;
        }
        if (pad != RSA_PKCS1_PADDING && pad != RSA_PKCS1_PSS_PADDING)
            return bad_param(c, "this RSA padding mode is not available for dcpki keys",
                             "use rsa_padding_mode:pkcs1 or rsa_padding_mode:pss");
        c->pad = pad;
    }

    p = OSSL_PARAM_locate_const(params, OSSL_SIGNATURE_PARAM_PSS_SALTLEN);
    if (p != NULL) {
        int salt = 0;
        if (p->data_type == OSSL_PARAM_UTF8_STRING) {
            const char *s = NULL;
            int found = 0;
            if (!OSSL_PARAM_get_utf8_string_ptr(p, &s))
                return 0;
            for (size_t i = 0; i < sizeof(salt_names) / sizeof(salt_names[0]); i++) {
                if (strcmp(s, salt_names[i].name) == 0) {
                    salt = salt_names[i].id;
                    found = 1;
                }
            }
            if (!found) {
                char *end = NULL;
                long v = strtol(s, &end, 10);
                /* -1..-4 are the RSA_PSS_SALTLEN_* values (digest, auto, max,
                 * auto-digestmax) that -sigopt rsa_pss_saltlen:-1 passes as text,
                 * as OpenSSL's default provider accepts them */
                if (end == s || *end != '\0' || v < RSA_PSS_SALTLEN_AUTO_DIGEST_MAX || v > 100000)
                    return bad_param(c, "the PSS salt length is not a number or a known keyword",
                                     "use rsa_pss_saltlen:digest");
                salt = (int)v;
            }
        } else if (!OSSL_PARAM_get_int(p, &salt)) {
            return 0;
        }
        c->saltlen = salt;
    }

    p = OSSL_PARAM_locate_const(params, OSSL_SIGNATURE_PARAM_MGF1_DIGEST);
    if (p != NULL) {
        const char *name = NULL;
        if (!OSSL_PARAM_get_utf8_string_ptr(p, &name))
            return 0;
        if (!dcpki_sig_fetch_md(c, name, &c->mgf1))
            return 0;
    }
    /* OSSL_SIGNATURE_PARAM_MGF1_PROPERTIES: accepted and ignored. */
    return 1;
}

/* Salt length as the service produces it, for a signing context. */
static int effective_salt_ok(dcpki_sig_ctx *c)
{
    int hlen = EVP_MD_get_size(c->md);
    int maxsalt = EVP_PKEY_get_size(c->key->pkey) - hlen - 2;
    if ((EVP_PKEY_get_bits(c->key->pkey) & 7) == 1)
        maxsalt--;
    switch (c->saltlen) {
    case RSA_PSS_SALTLEN_DIGEST:
    case RSA_PSS_SALTLEN_AUTO:            /* verifiers recover the length */
    case RSA_PSS_SALTLEN_AUTO_DIGEST_MAX: /* any length up to the digest's */
        return 1;
    case RSA_PSS_SALTLEN_MAX:
        return maxsalt == hlen;
    default:
        return c->saltlen == hlen;
    }
}

int dcpki_rsa_sig_scheme(dcpki_sig_ctx *c, size_t tbslen, dcpki_sig_scheme *scheme)
{
    if (c->pad == RSA_PKCS1_PADDING) {
        /* Without a digest, PKCS#1 v1.5 signs the caller's bytes (normally a
         * DigestInfo) as they are: the service's NONEWithRSA. */
        *scheme = c->md != NULL ? DCPKI_SIG_RSA_PKCS1 : DCPKI_SIG_RSA_RAW;
        return 1;
    }
    if (c->md == NULL)
        return bad_param(c, "RSA-PSS needs to know which digest was signed",
                         "set it, e.g. openssl pkeyutl -pkeyopt digest:sha256");
    if (c->mgf1 != NULL && !EVP_MD_is_a(c->mgf1, EVP_MD_get0_name(c->md)))
        return bad_param(c, "the signing service does RSA-PSS with MGF1 over the signature's own digest",
                         "drop rsa_mgf1_md or set it to the same digest");
    if (!effective_salt_ok(c))
        return bad_param(c, "the signing service does RSA-PSS with a salt as long as the digest",
                         "use rsa_pss_saltlen:digest");
    *scheme = DCPKI_SIG_RSA_PSS;
    return 1;
}

int dcpki_rsa_sig_setup_pctx(dcpki_sig_ctx *c, EVP_PKEY_CTX *pctx)
{
    if (EVP_PKEY_CTX_set_rsa_padding(pctx, c->pad) <= 0)
        return 0;
    if (c->pad != RSA_PKCS1_PSS_PADDING)
        return 1;
    if (EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, c->saltlen) <= 0)
        return 0;
    if ((c->mgf1 != NULL || c->md != NULL)
        && EVP_PKEY_CTX_set_rsa_mgf1_md(pctx, c->mgf1 != NULL ? c->mgf1 : c->md) <= 0)
        return 0;
    return 1;
}

static X509_ALGOR *md_algor(const EVP_MD *md)
{
    X509_ALGOR *a = X509_ALGOR_new();
    if (a != NULL)
        X509_ALGOR_set_md(a, md);
    return a;
}

static X509_ALGOR *pss_algor(dcpki_sig_ctx *c)
{
    RSA_PSS_PARAMS *pss = RSA_PSS_PARAMS_new();
    X509_ALGOR *mgf1md = NULL, *alg = NULL;
    ASN1_STRING *mgfparam = NULL, *pssparam = NULL;
    int hlen = EVP_MD_get_size(c->md);

    if (pss == NULL)
        goto err;
    if (!EVP_MD_is_a(c->md, "SHA1")) {
        if ((pss->hashAlgorithm = md_algor(c->md)) == NULL)
            goto err;
        if ((mgf1md = md_algor(c->md)) == NULL
            || ASN1_item_pack(mgf1md, ASN1_ITEM_rptr(X509_ALGOR), &mgfparam) == NULL
            || (pss->maskGenAlgorithm = X509_ALGOR_new()) == NULL
            || !X509_ALGOR_set0(pss->maskGenAlgorithm, OBJ_nid2obj(NID_mgf1), V_ASN1_SEQUENCE,
                                mgfparam))
            goto err;
        mgfparam = NULL;
    }
    if (hlen != 20) {
        if ((pss->saltLength = ASN1_INTEGER_new()) == NULL
            || !ASN1_INTEGER_set(pss->saltLength, hlen))
            goto err;
    }
    if (ASN1_item_pack(pss, ASN1_ITEM_rptr(RSA_PSS_PARAMS), &pssparam) == NULL)
        goto err;
    if ((alg = X509_ALGOR_new()) == NULL
        || !X509_ALGOR_set0(alg, OBJ_nid2obj(NID_rsassaPss), V_ASN1_SEQUENCE, pssparam))
        goto err;
    pssparam = NULL;
    X509_ALGOR_free(mgf1md);
    RSA_PSS_PARAMS_free(pss);
    return alg;
err:
    X509_ALGOR_free(alg);
    ASN1_STRING_free(mgfparam);
    ASN1_STRING_free(pssparam);
    X509_ALGOR_free(mgf1md);
    RSA_PSS_PARAMS_free(pss);
    return NULL;
}

static int rsa_algorithm_id(dcpki_sig_ctx *c, OSSL_PARAM *p)
{
    X509_ALGOR *alg = NULL;
    int ok;
    dcpki_sig_scheme scheme;
    if (c->md == NULL) {
        DCPKI_RAISE(c->prov, DCPKI_R_OPERATION, "no digest set, so no signature algorithm identifier");
        return 0;
    }
    if (c->pad != RSA_PKCS1_PSS_PADDING)
        return dcpki_sig_set_sigid_param(c, p, NID_rsaEncryption, V_ASN1_NULL, "RSA");
    if (c->operation == EVP_PKEY_OP_SIGN && !dcpki_rsa_sig_scheme(c, 0, &scheme))
        return 0;
    alg = pss_algor(c);
    ok = dcpki_sig_set_algor_param(c, p, alg);
    X509_ALGOR_free(alg);
    return ok;
}

int dcpki_rsa_sig_get_params(dcpki_sig_ctx *c, OSSL_PARAM params[])
{
    OSSL_PARAM *p;
    if (!dcpki_sig_get_common_params(c, params))
        return 0;
    p = OSSL_PARAM_locate(params, OSSL_SIGNATURE_PARAM_ALGORITHM_ID);
    if (p != NULL && !rsa_algorithm_id(c, p))
        return 0;
    p = OSSL_PARAM_locate(params, OSSL_SIGNATURE_PARAM_PAD_MODE);
    if (p != NULL) {
        if (p->data_type == OSSL_PARAM_INTEGER) {
            if (!OSSL_PARAM_set_int(p, c->pad))
                return 0;
        } else {
            const char *name = c->pad == RSA_PKCS1_PSS_PADDING ? OSSL_PKEY_RSA_PAD_MODE_PSS
                                                               : OSSL_PKEY_RSA_PAD_MODE_PKCSV15;
            if (!OSSL_PARAM_set_utf8_string(p, name))
                return 0;
        }
    }
    p = OSSL_PARAM_locate(params, OSSL_SIGNATURE_PARAM_PSS_SALTLEN);
    if (p != NULL) {
        /* A signing context reports what the service does: digest length. */
        int salt = c->operation == EVP_PKEY_OP_SIGN ? RSA_PSS_SALTLEN_DIGEST : c->saltlen;
        if (p->data_type == OSSL_PARAM_INTEGER) {
            if (!OSSL_PARAM_set_int(p, salt))
                return 0;
        } else {
            char buf[32];
            const char *s = NULL;
            for (size_t i = 0; i < sizeof(salt_names) / sizeof(salt_names[0]); i++)
                if (salt == salt_names[i].id)
                    s = salt_names[i].name;
            if (s == NULL) {
                snprintf(buf, sizeof(buf), "%d", salt);
                s = buf;
            }
            if (!OSSL_PARAM_set_utf8_string(p, s))
                return 0;
        }
    }
    p = OSSL_PARAM_locate(params, OSSL_SIGNATURE_PARAM_MGF1_DIGEST);
    if (p != NULL) {
        const EVP_MD *m = c->mgf1 != NULL ? c->mgf1 : c->md;
        if (!OSSL_PARAM_set_utf8_string(p, m != NULL ? EVP_MD_get0_name(m) : ""))
            return 0;
    }
    return 1;
}

static void *rsa_newctx(void *provctx, const char *propq)
{
    return dcpki_sig_newctx(provctx, DCPKI_SIGALG_RSA);
}

static int rsa_set_ctx_params(void *vctx, const OSSL_PARAM params[])
{
    int ok;
    if (dcpki_sig_fwd_set_params(vctx, params, &ok))
        return ok;
    return dcpki_rsa_sig_set_params(vctx, params);
}

static int rsa_get_ctx_params(void *vctx, OSSL_PARAM params[])
{
    int ok;
    if (dcpki_sig_fwd_get_params(vctx, params, &ok))
        return ok;
    return dcpki_rsa_sig_get_params(vctx, params);
}

static const OSSL_PARAM rsa_settable[] = {
    OSSL_PARAM_utf8_string(OSSL_SIGNATURE_PARAM_DIGEST, NULL, 0),
    OSSL_PARAM_utf8_string(OSSL_SIGNATURE_PARAM_PROPERTIES, NULL, 0),
    OSSL_PARAM_utf8_string(OSSL_SIGNATURE_PARAM_PAD_MODE, NULL, 0),
    OSSL_PARAM_utf8_string(OSSL_SIGNATURE_PARAM_PSS_SALTLEN, NULL, 0),
    OSSL_PARAM_utf8_string(OSSL_SIGNATURE_PARAM_MGF1_DIGEST, NULL, 0),
    OSSL_PARAM_utf8_string(OSSL_SIGNATURE_PARAM_MGF1_PROPERTIES, NULL, 0),
    OSSL_PARAM_END
};

static const OSSL_PARAM rsa_gettable[] = {
    OSSL_PARAM_octet_string(OSSL_SIGNATURE_PARAM_ALGORITHM_ID, NULL, 0),
    OSSL_PARAM_utf8_string(OSSL_SIGNATURE_PARAM_DIGEST, NULL, 0),
    OSSL_PARAM_utf8_string(OSSL_SIGNATURE_PARAM_PAD_MODE, NULL, 0),
    OSSL_PARAM_utf8_string(OSSL_SIGNATURE_PARAM_PSS_SALTLEN, NULL, 0),
    OSSL_PARAM_utf8_string(OSSL_SIGNATURE_PARAM_MGF1_DIGEST, NULL, 0),
    OSSL_PARAM_END
};

static const OSSL_PARAM *rsa_settable_ctx_params(void *vctx, void *provctx)
{
    const OSSL_PARAM *f = dcpki_sig_fwd_table(vctx, OSSL_FUNC_SIGNATURE_SETTABLE_CTX_PARAMS);
    if (f != NULL)
        return f;
    return rsa_settable;
}

static const OSSL_PARAM *rsa_gettable_ctx_params(void *vctx, void *provctx)
{
    const OSSL_PARAM *f = dcpki_sig_fwd_table(vctx, OSSL_FUNC_SIGNATURE_GETTABLE_CTX_PARAMS);
    if (f != NULL)
        return f;
    return rsa_gettable;
}

const OSSL_DISPATCH dcpki_rsa_signature_functions[] = {
    { OSSL_FUNC_SIGNATURE_NEWCTX, (void (*)(void))rsa_newctx },
    DCPKI_SIG_COMMON_DISPATCH,
    { OSSL_FUNC_SIGNATURE_VERIFY_RECOVER_INIT, (void (*)(void))dcpki_sig_verify_recover_init },
    { OSSL_FUNC_SIGNATURE_VERIFY_RECOVER, (void (*)(void))dcpki_sig_verify_recover },
    { OSSL_FUNC_SIGNATURE_SET_CTX_PARAMS, (void (*)(void))rsa_set_ctx_params },
    { OSSL_FUNC_SIGNATURE_SETTABLE_CTX_PARAMS, (void (*)(void))rsa_settable_ctx_params },
    { OSSL_FUNC_SIGNATURE_GET_CTX_PARAMS, (void (*)(void))rsa_get_ctx_params },
    { OSSL_FUNC_SIGNATURE_GETTABLE_CTX_PARAMS, (void (*)(void))rsa_gettable_ctx_params },
    { 0, NULL }
};
