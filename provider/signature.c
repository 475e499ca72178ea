/* Signature operations common to RSA and ECDSA.
 *
 * The message is hashed locally in the provider's private library context
 * (so duplicating a context is EVP_MD_CTX_copy_ex, which OpenSSL 3.0 needs:
 * EVP_DigestSignFinal duplicates the context and fails without dupctx; 3.2+
 * would finalise in place). The digest is signed by the key's signer
 * (dcpki/signer.h): the signing service, which receives only the digest, or
 * the RA key (dcpki:ra), local or on a PKCS#11 token. Verification is always local, from the public key, because our keys cannot
 * be exported to another provider. */
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/x509.h>

#include "signature.h"

int dcpki_sig_fetch_mds(dcpki_prov *prov)
{
    for (int i = 0; i < DCPKI_N_MD; i++)
        if ((prov->mds[i] = EVP_MD_fetch(prov->libctx, dcpki_md_name(i), NULL)) == NULL)
            return 0;
    return 1;
}

void dcpki_sig_free_mds(dcpki_prov *prov)
{
    for (int i = 0; i < DCPKI_N_MD; i++) {
        EVP_MD_free(prov->mds[i]);
        prov->mds[i] = NULL;
    }
}

int dcpki_sig_fetch_md(dcpki_sig_ctx *c, const char *name, EVP_MD **out)
{
    EVP_MD *md = NULL;
    int i = dcpki_md_index(name);
    /* the usual names: the digests fetched at load; others (an OID, ...):
     * fetched now and then known by their own name */
    if (i >= 0 && EVP_MD_up_ref(c->prov->mds[i]))
        md = c->prov->mds[i];
    if (md == NULL) {
        ERR_set_mark();
        md = EVP_MD_fetch(dcpki_prov_libctx(c->prov), name, NULL);
        ERR_pop_to_mark();
    }
    if (md == NULL || dcpki_md_canonical(EVP_MD_get0_name(md), NULL) == NULL) {
        EVP_MD_free(md);
        DCPKI_RAISE(c->prov, DCPKI_E_UNSUPPORTED,
                    "%s: digest '%s' (%s)", dcpki_code_sentence(DCPKI_E_UNSUPPORTED), name,
                    "use SHA256, SHA384 or SHA512");
        return 0;
    }
    EVP_MD_free(*out);
    *out = md;
    return 1;
}

void *dcpki_sig_newctx(void *provctx, int alg)
{
    dcpki_sig_ctx *c = calloc(1, sizeof(*c));
    if (c == NULL)
        return NULL;
    c->prov = provctx;
    c->alg = alg;
    c->pad = RSA_PKCS1_PADDING;
    c->saltlen = RSA_PSS_SALTLEN_DIGEST;
    return c;
}

/* ---- keys that are not dcpki keys: the default provider's signature ---- */

static void fwd_end(dcpki_sig_ctx *c)
{
    if (c->fwd != NULL)
        DCPKI_SIG_FWD(c, freectx, OSSL_FUNC_SIGNATURE_FREECTX)(c->fwd);
    c->fwd = NULL;
    c->fwd_sig = NULL;
}

/* Start forwarding for a forwarded key f, or re-initialise the context kept
 * for the same key when f is NULL (provkey NULL: OpenSSL 3.2+ re-init).
 * digest: a digest init, mdname "" or a name; else a sign, verify or
 * verify-recover init (op). */
static int fwd_init(dcpki_sig_ctx *c, const dcpki_fwd_key *f, const char *mdname, int digest,
                    const OSSL_PARAM params[], int op)
{
    void *inner = NULL;
    int ok = 0;
    if (f != NULL) {
        OSSL_FUNC_signature_newctx_fn *newctx;
        fwd_end(c);
        c->fwd_sig = dcpki_fwd_sig(c->prov, f->type);
        newctx = DCPKI_SIG_FWD(c, newctx, OSSL_FUNC_SIGNATURE_NEWCTX);
        if (newctx == NULL || (c->fwd = newctx(c->prov->deflt_provctx, NULL)) == NULL) {
            c->fwd_sig = NULL;
            return 0;
        }
        inner = f->inner;
    }
    if (digest && op == EVP_PKEY_OP_SIGN)
        ok = DCPKI_SIG_FWD(c, digest_sign_init, OSSL_FUNC_SIGNATURE_DIGEST_SIGN_INIT)(
            c->fwd, mdname, inner, params);
    else if (digest)
        ok = DCPKI_SIG_FWD(c, digest_verify_init, OSSL_FUNC_SIGNATURE_DIGEST_VERIFY_INIT)(
            c->fwd, mdname, inner, params);
    else if (op == EVP_PKEY_OP_SIGN)
        ok = DCPKI_SIG_FWD(c, sign_init, OSSL_FUNC_SIGNATURE_SIGN_INIT)(c->fwd, inner, params);
    else if (op == EVP_PKEY_OP_VERIFYRECOVER)
        ok = DCPKI_SIG_FWD(c, verify_recover_init, OSSL_FUNC_SIGNATURE_VERIFY_RECOVER_INIT)(
            c->fwd, inner, params);
    else
        ok = DCPKI_SIG_FWD(c, verify_init, OSSL_FUNC_SIGNATURE_VERIFY_INIT)(c->fwd, inner, params);
    if (f != NULL)
        c->operation = op;
    return ok;
}

/* The key is forwarded (or, NULL, was at the last init): fwd_init does it all. */
static int fwd_wanted(const dcpki_sig_ctx *c, const void *provkey)
{
    return dcpki_is_fwd(provkey) || (provkey == NULL && c->fwd != NULL);
}

int dcpki_sig_fwd_set_params(dcpki_sig_ctx *c, const OSSL_PARAM params[], int *ok)
{
    if (c->fwd == NULL)
        return 0;
    *ok = DCPKI_SIG_FWD(c, set_ctx_params, OSSL_FUNC_SIGNATURE_SET_CTX_PARAMS)(c->fwd, params);
    return 1;
}

int dcpki_sig_fwd_get_params(dcpki_sig_ctx *c, OSSL_PARAM params[], int *ok)
{
    if (c->fwd == NULL)
        return 0;
    *ok = DCPKI_SIG_FWD(c, get_ctx_params, OSSL_FUNC_SIGNATURE_GET_CTX_PARAMS)(c->fwd, params);
    return 1;
}

const OSSL_PARAM *dcpki_sig_fwd_table(dcpki_sig_ctx *c, int id)
{
    OSSL_FUNC_signature_settable_ctx_params_fn *fn;
    if (c == NULL || c->fwd == NULL)
        return NULL;
    fn = OSSL_FUNC_signature_settable_ctx_params(dcpki_fwd_entry(c->fwd_sig, id));
    return fn == NULL ? NULL : fn(c->fwd, c->prov->deflt_provctx);
}

void dcpki_sig_freectx(void *vctx)
{
    dcpki_sig_ctx *c = vctx;
    if (c == NULL)
        return;
    fwd_end(c);
    dcpki_key_free(c->key);
    EVP_MD_free(c->md);
    EVP_MD_free(c->mgf1);
    EVP_MD_CTX_free(c->mdctx);
    free(c);
}

void *dcpki_sig_dupctx(void *vctx)
{
    dcpki_sig_ctx *src = vctx, *c;
    c = calloc(1, sizeof(*c));
    if (c == NULL)
        return NULL;
    *c = *src;
    c->fwd = NULL;
    if (src->fwd != NULL
        && (c->fwd = DCPKI_SIG_FWD(src, dupctx, OSSL_FUNC_SIGNATURE_DUPCTX)(src->fwd)) == NULL) {
        free(c);
        return NULL;
    }
    c->key = NULL;
    c->md = NULL;
    c->mgf1 = NULL;
    c->mdctx = NULL;
    if (src->md != NULL && !EVP_MD_up_ref(src->md))
        goto err;
    c->md = src->md;
    if (src->mgf1 != NULL && !EVP_MD_up_ref(src->mgf1))
        goto err;
    c->mgf1 = src->mgf1;
    if (src->mdctx != NULL) {
        c->mdctx = EVP_MD_CTX_new();
        if (c->mdctx == NULL || !EVP_MD_CTX_copy_ex(c->mdctx, src->mdctx))
            goto err;
    }
    c->key = dcpki_key_ref(src->key);
    return c;
err:
    dcpki_sig_freectx(c);
    return NULL;
}

static int sig_set_params(dcpki_sig_ctx *c, const OSSL_PARAM params[])
{
    if (c->alg == DCPKI_SIGALG_RSA)
        return dcpki_rsa_sig_set_params(c, params);
    return dcpki_sig_set_common_params(c, params);
}

static int sig_init(dcpki_sig_ctx *c, void *provkey, const OSSL_PARAM params[], int op)
{
    dcpki_key *k = provkey;
    if (fwd_wanted(c, provkey))
        return fwd_init(c, provkey, NULL, 0, params, op);
    fwd_end(c);
    if (k != NULL) {
        if (!dcpki_is_key(k)) {
            DCPKI_RAISE(c->prov, DCPKI_R_NOT_OURS, "the key is not a key of the dcpki provider");
            return 0;
        }
        int want = c->alg == DCPKI_SIGALG_RSA ? EVP_PKEY_RSA : EVP_PKEY_EC;
        if (k->type != want || k->pkey == NULL) {
            DCPKI_RAISE(c->prov, DCPKI_R_NOT_OURS, "the key is not an %s key",
                        want == EVP_PKEY_RSA ? "RSA" : "EC");
            return 0;
        }
        if (op == EVP_PKEY_OP_SIGN && !k->has_private) {
            DCPKI_RAISE(c->prov, DCPKI_E_INVALID_ARGUMENT,
                        "%s: %s is a public key object and cannot sign (%s)",
                        dcpki_code_sentence(DCPKI_E_INVALID_ARGUMENT), k->uri,
                        "name the private key, without ;type=public");
            return 0;
        }
        dcpki_key_free(c->key);
        c->key = dcpki_key_ref(k);
    } else if (c->key == NULL) {
        DCPKI_RAISE(c->prov, DCPKI_R_OPERATION, "no key given to the signature operation");
        return 0;
    }
    c->operation = op;
    c->pad = RSA_PKCS1_PADDING;
    c->saltlen = op == EVP_PKEY_OP_SIGN ? RSA_PSS_SALTLEN_DIGEST : RSA_PSS_SALTLEN_AUTO;
    EVP_MD_free(c->mgf1);
    c->mgf1 = NULL;
    EVP_MD_free(c->md);
    c->md = NULL;
    EVP_MD_CTX_free(c->mdctx);
    c->mdctx = NULL;
    return sig_set_params(c, params);
}

int dcpki_sig_sign_init(void *vctx, void *provkey, const OSSL_PARAM params[])
{
    return sig_init(vctx, provkey, params, EVP_PKEY_OP_SIGN);
}

int dcpki_sig_verify_init(void *vctx, void *provkey, const OSSL_PARAM params[])
{
    return sig_init(vctx, provkey, params, EVP_PKEY_OP_VERIFY);
}

/* A local EVP_PKEY_CTX on our key's public key for op (verify or
 * verify-recover), which the context must have been initialised for; what
 * names op in the error ("verify"). */
static EVP_PKEY_CTX *sig_local_pctx(dcpki_sig_ctx *c, int op, const char *what)
{
    EVP_PKEY_CTX *pctx;
    if (c->operation != op || c->key == NULL) {
        DCPKI_RAISE(c->prov, DCPKI_R_OPERATION, "%s called without %s_init", what, what);
        return NULL;
    }
    pctx = EVP_PKEY_CTX_new_from_pkey(dcpki_prov_libctx(c->prov), c->key->pkey, NULL);
    if (pctx == NULL)
        return NULL;
    if ((op == EVP_PKEY_OP_VERIFYRECOVER ? EVP_PKEY_verify_recover_init(pctx)
                                         : EVP_PKEY_verify_init(pctx)) <= 0)
        goto err;
    if (c->md != NULL && EVP_PKEY_CTX_set_signature_md(pctx, c->md) <= 0)
        goto err;
    if (c->alg == DCPKI_SIGALG_RSA && !dcpki_rsa_sig_setup_pctx(c, pctx))
        goto err;
    return pctx;
err:
    EVP_PKEY_CTX_free(pctx);
    return NULL;
}

static int sig_sign_hash(dcpki_sig_ctx *c, unsigned char *sig, size_t *siglen, size_t sigsize,
                         const unsigned char *tbs, size_t tbslen)
{
    dcpki_sig_request req = { .salt_len = DCPKI_PSS_SALT_DIGEST, .form = DCPKI_ECDSA_DER };
    dcpki_err err;

    if (c->operation != EVP_PKEY_OP_SIGN || c->key == NULL || c->key->signer == NULL) {
        DCPKI_RAISE(c->prov, DCPKI_R_OPERATION, "sign called without sign_init");
        return 0;
    }
    if (sig == NULL) {
        *siglen = dcpki_key_max_sig_size(c->key);
        return 1;
    }
    if (c->alg == DCPKI_SIGALG_RSA) {
        if (!dcpki_rsa_sig_scheme(c, tbslen, &req.scheme))
            return 0;
    } else {
        req.scheme = DCPKI_SIG_ECDSA;
    }
    req.md = c->md != NULL ? EVP_MD_get0_name(c->md) : NULL;
    *siglen = sigsize;
    dcpki_err_clear(&err);
    if (dcpki_signer_sign(c->key->signer, &req, tbs, tbslen, sig, siglen, &err) != DCPKI_OK) {
        DCPKI_RAISE_ERR(c->prov, &err);
        return 0;
    }
    return 1;
}

int dcpki_sig_sign(void *vctx, unsigned char *sig, size_t *siglen, size_t sigsize,
                   const unsigned char *tbs, size_t tbslen)
{
    dcpki_sig_ctx *c = vctx;
    if (c->fwd != NULL)
        return DCPKI_SIG_FWD(c, sign, OSSL_FUNC_SIGNATURE_SIGN)(c->fwd, sig, siglen, sigsize, tbs,
                                                               tbslen);
    return sig_sign_hash(vctx, sig, siglen, sigsize, tbs, tbslen);
}

static int sig_verify_hash(dcpki_sig_ctx *c, const unsigned char *sig, size_t siglen,
                           const unsigned char *tbs, size_t tbslen)
{
    EVP_PKEY_CTX *pctx = sig_local_pctx(c, EVP_PKEY_OP_VERIFY, "verify");
    int ok = pctx != NULL && EVP_PKEY_verify(pctx, sig, siglen, tbs, tbslen) == 1;
    EVP_PKEY_CTX_free(pctx);
    return ok;
}

int dcpki_sig_verify(void *vctx, const unsigned char *sig, size_t siglen,
                     const unsigned char *tbs, size_t tbslen)
{
    dcpki_sig_ctx *c = vctx;
    if (c->fwd != NULL)
        return DCPKI_SIG_FWD(c, verify, OSSL_FUNC_SIGNATURE_VERIFY)(c->fwd, sig, siglen, tbs,
                                                                   tbslen);
    return sig_verify_hash(vctx, sig, siglen, tbs, tbslen);
}

/* RSA verify-recover (pkeyutl -verifyrecover): local, from the public key,
 * or the default provider's for a forwarded key. */
int dcpki_sig_verify_recover_init(void *vctx, void *provkey, const OSSL_PARAM params[])
{
    return sig_init(vctx, provkey, params, EVP_PKEY_OP_VERIFYRECOVER);
}

int dcpki_sig_verify_recover(void *vctx, unsigned char *rout, size_t *routlen, size_t routsize,
                             const unsigned char *sig, size_t siglen)
{
    dcpki_sig_ctx *c = vctx;
    EVP_PKEY_CTX *pctx;
    int ok;
    if (c->fwd != NULL)
        return DCPKI_SIG_FWD(c, verify_recover, OSSL_FUNC_SIGNATURE_VERIFY_RECOVER)(
            c->fwd, rout, routlen, routsize, sig, siglen);
    pctx = sig_local_pctx(c, EVP_PKEY_OP_VERIFYRECOVER, "verify_recover");
    if (pctx == NULL)
        return 0;
    *routlen = routsize;
    ok = EVP_PKEY_verify_recover(pctx, rout, routlen, sig, siglen) == 1;
    EVP_PKEY_CTX_free(pctx);
    return ok;
}

static int digest_init(dcpki_sig_ctx *c, const char *mdname, void *provkey,
                       const OSSL_PARAM params[], int op)
{
    if (fwd_wanted(c, provkey))
        return fwd_init(c, provkey, mdname, 1, params, op);
    if (!sig_init(c, provkey, params, op))
        return 0;
    /* NULL name: the key's default digest (apps/ca "default_md = default",
     * CMS_add1_signer, do_sigver_init). */
    if (mdname != NULL && mdname[0] != '\0') {
        if (!dcpki_sig_fetch_md(c, mdname, &c->md))
            return 0;
    } else if (c->md == NULL && !dcpki_sig_fetch_md(c, "SHA256", &c->md)) {
        return 0;
    }
    c->mdctx = EVP_MD_CTX_new();
    if (c->mdctx == NULL || !EVP_DigestInit_ex2(c->mdctx, c->md, NULL)) {
        DCPKI_RAISE(c->prov, DCPKI_E_INTERNAL, "cannot start the local digest");
        return 0;
    }
    return 1;
}

int dcpki_sig_digest_sign_init(void *vctx, const char *mdname, void *provkey,
                               const OSSL_PARAM params[])
{
    return digest_init(vctx, mdname, provkey, params, EVP_PKEY_OP_SIGN);
}

int dcpki_sig_digest_verify_init(void *vctx, const char *mdname, void *provkey,
                                 const OSSL_PARAM params[])
{
    return digest_init(vctx, mdname, provkey, params, EVP_PKEY_OP_VERIFY);
}

int dcpki_sig_digest_update(void *vctx, const unsigned char *data, size_t datalen)
{
    dcpki_sig_ctx *c = vctx;
    if (c->fwd != NULL)
        return c->operation == EVP_PKEY_OP_SIGN
                   ? DCPKI_SIG_FWD(c, digest_sign_update, OSSL_FUNC_SIGNATURE_DIGEST_SIGN_UPDATE)(
                         c->fwd, data, datalen)
                   : DCPKI_SIG_FWD(c, digest_verify_update,
                                   OSSL_FUNC_SIGNATURE_DIGEST_VERIFY_UPDATE)(c->fwd, data, datalen);
    if (c->mdctx == NULL) {
        DCPKI_RAISE(c->prov, DCPKI_R_OPERATION, "digest update without digest init");
        return 0;
    }
    return EVP_DigestUpdate(c->mdctx, data, datalen);
}

/* The digest so far, leaving the running context usable (final may be
 * called more than once, e.g. by apps/dgst). */
static int digest_peek(dcpki_sig_ctx *c, unsigned char *h, unsigned int *hlen)
{
    EVP_MD_CTX *tmp;
    int ok;
    if (c->mdctx == NULL) {
        DCPKI_RAISE(c->prov, DCPKI_R_OPERATION, "digest final without digest init");
        return 0;
    }
    tmp = EVP_MD_CTX_new();
    ok = tmp != NULL && EVP_MD_CTX_copy_ex(tmp, c->mdctx) && EVP_DigestFinal_ex(tmp, h, hlen);
    EVP_MD_CTX_free(tmp);
    if (!ok)
        DCPKI_RAISE(c->prov, DCPKI_E_INTERNAL, "the local digest failed");
    return ok;
}

int dcpki_sig_digest_sign_final(void *vctx, unsigned char *sig, size_t *siglen, size_t sigsize)
{
    dcpki_sig_ctx *c = vctx;
    unsigned char h[EVP_MAX_MD_SIZE];
    unsigned int hlen = 0;
    if (c->fwd != NULL)
        return DCPKI_SIG_FWD(c, digest_sign_final, OSSL_FUNC_SIGNATURE_DIGEST_SIGN_FINAL)(
            c->fwd, sig, siglen, sigsize);
    if (sig == NULL) /* size query only: no digest, no network */
        return sig_sign_hash(c, NULL, siglen, 0, NULL, 0);
    if (!digest_peek(c, h, &hlen))
        return 0;
    return sig_sign_hash(c, sig, siglen, sigsize, h, hlen);
}

/* A forwarded key's EVP_DigestSign(): its provider's update, then its final
 * on a copy of the context, as EVP_DigestSignFinal() would do without a
 * one-shot function (3.0's finals consume the context they run on). */
static int fwd_digest_sign(dcpki_sig_ctx *c, unsigned char *sig, size_t *siglen, size_t sigsize,
                           const unsigned char *tbs, size_t tbslen)
{
    OSSL_FUNC_signature_digest_sign_final_fn *final =
        DCPKI_SIG_FWD(c, digest_sign_final, OSSL_FUNC_SIGNATURE_DIGEST_SIGN_FINAL);
    void *copy;
    int ok;
    if (sig == NULL) /* a size query: nothing hashed, nothing consumed */
        return final(c->fwd, NULL, siglen, sigsize);
    if (!DCPKI_SIG_FWD(c, digest_sign_update, OSSL_FUNC_SIGNATURE_DIGEST_SIGN_UPDATE)(c->fwd, tbs, tbslen) ||
        (copy = DCPKI_SIG_FWD(c, dupctx, OSSL_FUNC_SIGNATURE_DUPCTX)(c->fwd)) == NULL)
        return 0;
    ok = final(copy, sig, siglen, sigsize);
    DCPKI_SIG_FWD(c, freectx, OSSL_FUNC_SIGNATURE_FREECTX)(copy);
    return ok;
}

/* EVP_DigestSign() in one call (what ASN1_item_sign_ctx and CMS use): the
 * message is hashed in place, without the context copies of
 * EVP_DigestSignFinal(), and the context is ready for the next message, as in
 * OpenSSL 3.2+ (3.0 would have signed the messages so far together). */
int dcpki_sig_digest_sign(void *vctx, unsigned char *sig, size_t *siglen, size_t sigsize,
                          const unsigned char *tbs, size_t tbslen)
{
    dcpki_sig_ctx *c = vctx;
    unsigned char h[EVP_MAX_MD_SIZE];
    unsigned int hlen = 0;
    if (c->fwd != NULL)
        return fwd_digest_sign(c, sig, siglen, sigsize, tbs, tbslen);
    if (sig == NULL) /* size query only: no digest, no network */
        return sig_sign_hash(c, NULL, siglen, 0, NULL, 0);
    if (c->mdctx == NULL) {
        DCPKI_RAISE(c->prov, DCPKI_R_OPERATION, "digest sign without digest sign init");
        return 0;
    }
    if (!EVP_DigestUpdate(c->mdctx, tbs, tbslen) || !EVP_DigestFinal_ex(c->mdctx, h, &hlen) ||
        !EVP_DigestInit_ex2(c->mdctx, c->md, NULL)) {
        DCPKI_RAISE(c->prov, DCPKI_E_INTERNAL, "the local digest failed");
        return 0;
    }
    return sig_sign_hash(c, sig, siglen, sigsize, h, hlen);
}

int dcpki_sig_digest_verify_final(void *vctx, const unsigned char *sig, size_t siglen)
{
    dcpki_sig_ctx *c = vctx;
    unsigned char h[EVP_MAX_MD_SIZE];
    unsigned int hlen = 0;
    if (c->fwd != NULL)
        return DCPKI_SIG_FWD(c, digest_verify_final, OSSL_FUNC_SIGNATURE_DIGEST_VERIFY_FINAL)(
            c->fwd, sig, siglen);
    if (!digest_peek(c, h, &hlen))
        return 0;
    return sig_verify_hash(c, sig, siglen, h, hlen);
}

/* ---- parameters common to both algorithms ---- */

int dcpki_sig_set_common_params(dcpki_sig_ctx *c, const OSSL_PARAM params[])
{
    const OSSL_PARAM *p;
    if (params == NULL)
        return 1;
    p = OSSL_PARAM_locate_const(params, OSSL_SIGNATURE_PARAM_DIGEST);
    if (p != NULL) {
        const char *name = NULL;
        if (!OSSL_PARAM_get_utf8_string_ptr(p, &name))
            return 0;
        if (c->mdctx != NULL && c->md != NULL && EVP_MD_is_a(c->md, name))
            return 1;
        if (c->mdctx != NULL) {
            DCPKI_RAISE(c->prov, DCPKI_R_BAD_PARAM,
                        "the digest cannot be changed once message hashing has started");
            return 0;
        }
        if (!dcpki_sig_fetch_md(c, name, &c->md))
            return 0;
    }
    /* OSSL_SIGNATURE_PARAM_PROPERTIES: our digests always come from our
     * private library context; accepted and ignored. */
    return 1;
}

int dcpki_sig_get_common_params(dcpki_sig_ctx *c, OSSL_PARAM params[])
{
    OSSL_PARAM *p = OSSL_PARAM_locate(params, OSSL_SIGNATURE_PARAM_DIGEST);
    if (p != NULL && !OSSL_PARAM_set_utf8_string(p, c->md != NULL ? EVP_MD_get0_name(c->md) : ""))
        return 0;
    return 1;
}

int dcpki_sig_set_algor_param(dcpki_sig_ctx *c, OSSL_PARAM *p, X509_ALGOR *alg)
{
    unsigned char *der = NULL;
    int len = alg != NULL ? i2d_X509_ALGOR(alg, &der) : -1;
    int ok = len > 0 && OSSL_PARAM_set_octet_string(p, der, (size_t)len);
    OPENSSL_free(der);
    if (!ok)
        DCPKI_RAISE(c->prov, DCPKI_E_INTERNAL, "cannot encode the signature AlgorithmIdentifier");
    return ok;
}

int dcpki_sig_set_sigid_param(dcpki_sig_ctx *c, OSSL_PARAM *p, int pkey_nid, int ptype,
                              const char *what)
{
    X509_ALGOR *alg;
    int signid = NID_undef, ok;
    if (!OBJ_find_sigid_by_algs(&signid, EVP_MD_get_type(c->md), pkey_nid)) {
        DCPKI_RAISE(c->prov, DCPKI_E_UNSUPPORTED, "no %s signature OID for %s", what,
                    EVP_MD_get0_name(c->md));
        return 0;
    }
    alg = X509_ALGOR_new();
    if (alg != NULL && !X509_ALGOR_set0(alg, OBJ_nid2obj(signid), ptype, NULL)) {
        X509_ALGOR_free(alg);
        alg = NULL;
    }
    ok = dcpki_sig_set_algor_param(c, p, alg);
    X509_ALGOR_free(alg);
    return ok;
}
