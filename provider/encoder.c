/* Encoders for the keys of our keymgmt.
 *
 * dcpki keys: PEM PrivateKeyInfo (openssl pkey -out, PEM_write_bio_PrivateKey)
 * writes a key reference file: a "DCPKI KEY REFERENCE" block holding the
 * key's dcpki: URI and no key material. Every other private encoding (DER
 * PrivateKeyInfo as used by EVP_PKEY2PKCS8 / pkcs8 -topk8 / pkcs12 -export,
 * encrypted PKCS#8, type-specific DER/PEM, text) refuses, so the user reads
 * why instead of a generic "unsupported". Public encodings are never claimed
 * here (does_selection): the default provider encodes them from the exported
 * public parts.
 *
 * Keys of the built-in default provider that a generic fetch put into our
 * keymgmt (forward.c): OpenSSL offers the encoders of the key's own provider,
 * ours, beside those of other providers that can import the key, and ours
 * may be the ones tried (ossl crypto/encode_decode/encoder_pkey.c
 * collect_encoder: another provider's encoder needs import_object, the
 * keymgmt's provider's does not). So each of our encoders carries the default
 * provider's encoder for the same output and structure (found in our private
 * library context) and hands such a key's own data to it, with the caller's
 * BIO, selection, parameters (cipher, properties, save-parameters) and
 * passphrase callback: the output is exactly what the default provider
 * writes. The key reference and the refusals are only ever for dcpki keys. */
#include <stdlib.h>
#include <string.h>

#include <openssl/bio.h>

#include "dcpki/keyref.h"
#include "provider.h"

/* index, key type, output and structure, what it does for a dcpki key */
#define DCPKI_ENCODERS(X)                                                   \
    X(0, RSA, "output=pem,structure=PrivateKeyInfo", 1)                     \
    X(1, RSA, "output=der,structure=PrivateKeyInfo", 0)                     \
    X(2, RSA, "output=der,structure=EncryptedPrivateKeyInfo", 0)            \
    X(3, RSA, "output=pem,structure=EncryptedPrivateKeyInfo", 0)            \
    X(4, RSA, "output=der,structure=type-specific", 0)                      \
    X(5, RSA, "output=pem,structure=type-specific", 0)                      \
    X(6, RSA, "output=text", 0)                                             \
    X(7, EC, "output=pem,structure=PrivateKeyInfo", 1)                      \
    X(8, EC, "output=der,structure=PrivateKeyInfo", 0)                      \
    X(9, EC, "output=der,structure=EncryptedPrivateKeyInfo", 0)             \
    X(10, EC, "output=pem,structure=EncryptedPrivateKeyInfo", 0)            \
    X(11, EC, "output=der,structure=type-specific", 0)                      \
    X(12, EC, "output=pem,structure=type-specific", 0)                      \
    X(13, EC, "output=text", 0)

static const struct enc_desc {
    int type;          /* EVP_PKEY_RSA or EVP_PKEY_EC */
    const char *name;  /* the default provider's encoder name */
    const char *props; /* output and structure */
    int keyref;        /* 1: writes a dcpki key's reference, 0: refuses */
} enc_desc[] = {
#define ENC_DESC(i, T, props, keyref) [i] = { EVP_PKEY_##T, #T, props, keyref },
    DCPKI_ENCODERS(ENC_DESC)
#undef ENC_DESC
};
_Static_assert(sizeof(enc_desc) / sizeof(enc_desc[0]) == DCPKI_N_ENCODERS,
               "DCPKI_N_ENCODERS matches DCPKI_ENCODERS");

int dcpki_enc_fwd_init(dcpki_prov *prov)
{
    for (int i = 0; i < DCPKI_N_ENCODERS; i++) {
        prov->fwd_enc[i] = dcpki_fwd_find(prov, OSSL_OP_ENCODER, enc_desc[i].name,
                                          enc_desc[i].props);
        if (prov->fwd_enc[i] == NULL)
            return 0;
    }
    return 1;
}

typedef struct {
    dcpki_prov *prov;
    const struct enc_desc *desc;
    const OSSL_DISPATCH *fwd; /* the default provider's encoder, same output and structure */
    void *fwdctx;             /* its context */
} enc_ctx;

#define ENC(c, name, id) DCPKI_FWD_FN((c)->fwd, encoder_##name, (id))

static void *enc_newctx(void *provctx, int idx)
{
    dcpki_prov *prov = provctx;
    enc_ctx *c = calloc(1, sizeof(*c));
    OSSL_FUNC_encoder_newctx_fn *fn;
    if (c == NULL) {
        DCPKI_RAISE(prov, DCPKI_E_NOMEM, "out of memory");
        return NULL;
    }
    c->prov = prov;
    c->desc = &enc_desc[idx];
    c->fwd = prov->fwd_enc[idx];
    fn = ENC(c, newctx, OSSL_FUNC_ENCODER_NEWCTX);
    if (fn == NULL || (c->fwdctx = fn(prov->deflt_provctx)) == NULL) {
        DCPKI_RAISE(prov, DCPKI_E_INTERNAL, "the default provider's %s encoder (%s) has no context",
                    c->desc->name, c->desc->props);
        free(c);
        return NULL;
    }
    return c;
}

static void enc_freectx(void *vctx)
{
    enc_ctx *c = vctx;
    if (c == NULL)
        return;
    ENC(c, freectx, OSSL_FUNC_ENCODER_FREECTX)(c->fwdctx);
    free(c);
}

/* cipher, properties, save-parameters: the default provider's encoder uses
 * them; a dcpki key is refused or written as a reference whatever they are. */
static int enc_set_ctx_params(void *vctx, const OSSL_PARAM params[])
{
    enc_ctx *c = vctx;
    OSSL_FUNC_encoder_set_ctx_params_fn *fn = ENC(c, set_ctx_params,
                                                  OSSL_FUNC_ENCODER_SET_CTX_PARAMS);
    return fn == NULL || fn(c->fwdctx, params);
}

static const OSSL_PARAM *enc_settable(void *provctx, int idx)
{
    dcpki_prov *prov = provctx;
    OSSL_FUNC_encoder_settable_ctx_params_fn *fn = OSSL_FUNC_encoder_settable_ctx_params(
        dcpki_fwd_entry(prov->fwd_enc[idx], OSSL_FUNC_ENCODER_SETTABLE_CTX_PARAMS));
    return fn == NULL ? NULL : fn(prov->deflt_provctx);
}

static int enc_does_selection(void *provctx, int selection)
{
    return (selection & OSSL_KEYMGMT_SELECT_PRIVATE_KEY) != 0;
}

static int keyref_encode(dcpki_prov *prov, const dcpki_key *k, OSSL_CORE_BIO *cout, int selection)
{
    char *pem = NULL;
    BIO *out;
    dcpki_err err;
    int ok = 0;

    if ((selection & OSSL_KEYMGMT_SELECT_PRIVATE_KEY) == 0 || !k->has_private) {
        DCPKI_RAISE(prov, DCPKI_E_PRIVATE_EXPORT, "%s: %s is not a private key object (%s)",
                    dcpki_code_sentence(DCPKI_E_PRIVATE_EXPORT), k->uri,
                    dcpki_code_remedy(DCPKI_E_PRIVATE_EXPORT));
        return 0;
    }
    dcpki_err_clear(&err);
    if (dcpki_keyref_pem(k->uri, &pem, &err) != DCPKI_OK) {
        DCPKI_RAISE_ERR(prov, &err);
        return 0;
    }
    out = BIO_new_from_core_bio(dcpki_prov_libctx(prov), cout);
    if (out != NULL && BIO_write(out, pem, (int)strlen(pem)) == (int)strlen(pem))
        ok = 1;
    else
        DCPKI_RAISE(prov, DCPKI_E_IO, "%s: cannot write the key reference (%s)",
                    dcpki_code_sentence(DCPKI_E_IO), dcpki_code_remedy(DCPKI_E_IO));
    BIO_free(out);
    free(pem);
    return ok;
}

/* Any other private-key encoding of a dcpki key: the catalogue's message. */
static int refuse_encode(dcpki_prov *prov, const dcpki_key *k)
{
    DCPKI_RAISE(prov, DCPKI_E_PRIVATE_EXPORT, "%s: %s stays with %s (%s)",
                dcpki_code_sentence(DCPKI_E_PRIVATE_EXPORT),
                k->uri != NULL ? k->uri : "a dcpki key",
                k->is_ra ? "the RA identity" : "the signing service",
                "export the public key or the certificate, or write a key reference with "
                "openssl pkey -in URI -out FILE.pem");
    return 0;
}

static int enc_encode(void *vctx, OSSL_CORE_BIO *cout, const void *obj_raw,
                      const OSSL_PARAM obj_abstract[], int selection,
                      OSSL_PASSPHRASE_CALLBACK *cb, void *cbarg)
{
    enc_ctx *c = vctx;
    const dcpki_fwd_key *f = obj_raw;
    const dcpki_key *k = obj_raw;

    /* Without import_object we are only given our keymgmt's key data
     * (encoder_pkey.c encoder_construct_pkey), never obj_abstract. */
    if (obj_abstract == NULL && dcpki_is_fwd(f) && f->type == c->desc->type)
        return ENC(c, encode, OSSL_FUNC_ENCODER_ENCODE)(c->fwdctx, cout, f->inner, NULL,
                                                        selection, cb, cbarg);
    if (obj_abstract == NULL && dcpki_is_key(k) && k->type == c->desc->type)
        return c->desc->keyref ? keyref_encode(c->prov, k, cout, selection)
                               : refuse_encode(c->prov, k);
    DCPKI_RAISE(c->prov, DCPKI_R_NOT_OURS,
                "the dcpki %s encoder (%s) was given a key that is not an %s key of its keymgmt",
                c->desc->name, c->desc->props, c->desc->name);
    return 0;
}

#define ENC_FUNCTIONS(i, T, props, keyref)                                            \
    static void *enc_newctx_##i(void *provctx)                                        \
    {                                                                                 \
        return enc_newctx(provctx, i);                                                \
    }                                                                                 \
    static const OSSL_PARAM *enc_settable_##i(void *provctx)                          \
    {                                                                                 \
        return enc_settable(provctx, i);                                              \
    }                                                                                 \
    static const OSSL_DISPATCH enc_functions_##i[] = {                                \
        { OSSL_FUNC_ENCODER_NEWCTX, (void (*)(void))enc_newctx_##i },                 \
        { OSSL_FUNC_ENCODER_FREECTX, (void (*)(void))enc_freectx },                   \
        { OSSL_FUNC_ENCODER_SET_CTX_PARAMS, (void (*)(void))enc_set_ctx_params },     \
        { OSSL_FUNC_ENCODER_SETTABLE_CTX_PARAMS, (void (*)(void))enc_settable_##i },  \
        { OSSL_FUNC_ENCODER_DOES_SELECTION, (void (*)(void))enc_does_selection },     \
        { OSSL_FUNC_ENCODER_ENCODE, (void (*)(void))enc_encode },                     \
        { 0, NULL }                                                                   \
    };
DCPKI_ENCODERS(ENC_FUNCTIONS)
#undef ENC_FUNCTIONS

const OSSL_ALGORITHM dcpki_encoder_algorithms[] = {
#define ENC_ALGORITHM(i, T, props, keyref)                                  \
    { DCPKI_NAMES_##T, DCPKI_PROV_PROPS "," props, enc_functions_##i,       \
      keyref ? "dcpki " #T " keys as key reference PEM, others as default"  \
             : "refuses dcpki " #T " private keys, others as default" },
    DCPKI_ENCODERS(ENC_ALGORITHM)
#undef ENC_ALGORITHM
    { NULL, NULL, NULL, NULL }
};
