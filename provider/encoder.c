/* Encoders for dcpki private keys.
 *
 * PEM PrivateKeyInfo (openssl pkey -out, PEM_write_bio_PrivateKey) writes a
 * key reference file: a "DCPKI KEY REFERENCE" block holding the key's dcpki:
 * URI and no key material. Every other private encoding (DER PrivateKeyInfo
 * as used by EVP_PKEY2PKCS8 / pkcs8 -topk8 / pkcs12 -export, encrypted
 * PKCS#8, type-specific DER/PEM, text) is answered by a refusing encoder, so
 * the user reads why instead of a generic "unsupported". Public encodings
 * are never claimed here (does_selection): the default provider encodes them
 * from the exported public parts. */
#include <stdlib.h>
#include <string.h>

#include <openssl/bio.h>

#include "dcpki/keyref.h"
#include "provider.h"

static void *enc_newctx(void *provctx)
{
    return provctx;
}

static void enc_freectx(void *ctx)
{
}

static int enc_does_selection(void *provctx, int selection)
{
    return (selection & OSSL_KEYMGMT_SELECT_PRIVATE_KEY) != 0;
}

static int keyref_encode(dcpki_prov *prov, int type, OSSL_CORE_BIO *cout, const void *obj_raw,
                         const OSSL_PARAM obj_abstract[], int selection)
{
    const dcpki_key *k = obj_raw;
    char *pem = NULL;
    BIO *out;
    dcpki_err err;
    int ok = 0;

    if (!dcpki_is_key(k) || obj_abstract != NULL || k->type != type) {
        DCPKI_RAISE(prov, DCPKI_R_NOT_OURS, "only dcpki keys can be written as key references");
        return 0;
    }
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

static int keyref_rsa_encode(void *ctx, OSSL_CORE_BIO *cout, const void *obj_raw,
                             const OSSL_PARAM obj_abstract[], int selection,
                             OSSL_PASSPHRASE_CALLBACK *cb, void *cbarg)
{
    return keyref_encode(ctx, EVP_PKEY_RSA, cout, obj_raw, obj_abstract, selection);
}

static int keyref_ec_encode(void *ctx, OSSL_CORE_BIO *cout, const void *obj_raw,
                            const OSSL_PARAM obj_abstract[], int selection,
                            OSSL_PASSPHRASE_CALLBACK *cb, void *cbarg)
{
    return keyref_encode(ctx, EVP_PKEY_EC, cout, obj_raw, obj_abstract, selection);
}

/* Any other private-key encoding: refuse with the catalogue's message. */
static int refuse_encode(void *ctx, OSSL_CORE_BIO *cout, const void *obj_raw,
                         const OSSL_PARAM obj_abstract[], int selection,
                         OSSL_PASSPHRASE_CALLBACK *cb, void *cbarg)
{
    dcpki_prov *prov = ctx;
    const dcpki_key *k = dcpki_is_key(obj_raw) ? obj_raw : NULL;
    DCPKI_RAISE(prov, DCPKI_E_PRIVATE_EXPORT, "%s: %s stays with %s (%s)",
                dcpki_code_sentence(DCPKI_E_PRIVATE_EXPORT),
                k != NULL && k->uri != NULL ? k->uri : "a dcpki key",
                k != NULL && k->is_ra ? "the RA identity" : "the signing service",
                "export the public key or the certificate, or write a key reference with "
                "openssl pkey -in URI -out FILE.pem");
    return 0;
}

const OSSL_DISPATCH dcpki_refuse_encoder_functions[] = {
    { OSSL_FUNC_ENCODER_NEWCTX, (void (*)(void))enc_newctx },
    { OSSL_FUNC_ENCODER_FREECTX, (void (*)(void))enc_freectx },
    { OSSL_FUNC_ENCODER_DOES_SELECTION, (void (*)(void))enc_does_selection },
    { OSSL_FUNC_ENCODER_ENCODE, (void (*)(void))refuse_encode },
    { 0, NULL }
};

const OSSL_DISPATCH dcpki_keyref_rsa_encoder_functions[] = {
    { OSSL_FUNC_ENCODER_NEWCTX, (void (*)(void))enc_newctx },
    { OSSL_FUNC_ENCODER_FREECTX, (void (*)(void))enc_freectx },
    { OSSL_FUNC_ENCODER_DOES_SELECTION, (void (*)(void))enc_does_selection },
    { OSSL_FUNC_ENCODER_ENCODE, (void (*)(void))keyref_rsa_encode },
    { 0, NULL }
};

const OSSL_DISPATCH dcpki_keyref_ec_encoder_functions[] = {
    { OSSL_FUNC_ENCODER_NEWCTX, (void (*)(void))enc_newctx },
    { OSSL_FUNC_ENCODER_FREECTX, (void (*)(void))enc_freectx },
    { OSSL_FUNC_ENCODER_DOES_SELECTION, (void (*)(void))enc_does_selection },
    { OSSL_FUNC_ENCODER_ENCODE, (void (*)(void))keyref_ec_encode },
    { 0, NULL }
};
