/* Decoders for key reference files.
 *
 * A key reference file is a PEM block "DCPKI KEY REFERENCE" around the DER of
 * DcpkiKeyReference (keyref.h), which holds a dcpki: URI and never key
 * material. Two steps hook into OpenSSL's decoder chain, as the pkcs11
 * provider does for its URI PEM files:
 *   PEM -> DER (structure "dcpki-keyref"), only for our label;
 *   DER (structure "dcpki-keyref") -> RSA or EC key, by reference, resolved
 *   through the same code as the store (so the key is a dcpki key object). */
#include <stdlib.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/core_object.h>
#include <openssl/err.h>
#include <openssl/pem.h>

#include "dcpki/keyref.h"
#include "provider.h"

static void *dec_newctx(void *provctx)
{
    return provctx; /* no per-operation state */
}

static void dec_freectx(void *ctx)
{
}

static int pem_keyref_decode(void *ctx, OSSL_CORE_BIO *cin, int selection,
                             OSSL_CALLBACK *object_cb, void *object_cbarg,
                             OSSL_PASSPHRASE_CALLBACK *pw_cb, void *pw_cbarg)
{
    dcpki_prov *prov = ctx;
    BIO *in = BIO_new_from_core_bio(dcpki_prov_libctx(prov), cin);
    char *name = NULL, *header = NULL;
    unsigned char *der = NULL;
    long len = 0;
    int ret = 1; /* carry on: not ours is not an error */

    if (in == NULL)
        return 1;
    ERR_set_mark();
    if (PEM_read_bio(in, &name, &header, &der, &len) > 0
        && strcmp(name, DCPKI_KEYREF_PEM_LABEL) == 0) {
        OSSL_PARAM params[3];
        char *uri = NULL;
        dcpki_err err;
        ERR_pop_to_mark();
        /* the block is ours: a broken one is reported as such (not as OpenSSL's
         * "unsupported" after every other decoder has declined it) */
        dcpki_err_clear(&err);
        ERR_set_mark(); /* the ASN.1 decoder's own errors: ours names the cause */
        int bad = len <= 0 || dcpki_keyref_decode_der(der, (size_t)len, &uri, &err) != DCPKI_OK;
        ERR_pop_to_mark();
        if (bad) {
            dcpki_err e2;
            dcpki_err_set(&e2, err.code ? err.code : DCPKI_E_KEYREF,
                          "the %s block holds no valid dcpki: URI: %s", DCPKI_KEYREF_PEM_LABEL,
                          err.detail[0] ? err.detail : "it is empty");
            DCPKI_RAISE_ERR(prov, &e2);
            ret = 0;
            goto out;
        }
        free(uri);
        params[0] = OSSL_PARAM_construct_octet_string(OSSL_OBJECT_PARAM_DATA, der, (size_t)len);
        params[1] = OSSL_PARAM_construct_utf8_string(OSSL_OBJECT_PARAM_DATA_STRUCTURE,
                                                     (char *)DCPKI_KEYREF_STRUCTURE, 0);
        params[2] = OSSL_PARAM_construct_end();
        ret = object_cb(params, object_cbarg);
    } else {
        ERR_pop_to_mark();
    }
out:
    OPENSSL_free(name);
    OPENSSL_free(header);
    OPENSSL_free(der);
    BIO_free(in);
    return ret;
}

static int der_keyref_decode(dcpki_prov *prov, int type, OSSL_CORE_BIO *cin, int selection,
                             OSSL_CALLBACK *object_cb, void *object_cbarg)
{
    BIO *in = BIO_new_from_core_bio(dcpki_prov_libctx(prov), cin);
    BIO *mem = NULL;
    char buf[4096];
    int n, ret = 1;
    char *uri = NULL;
    dcpki_key *k = NULL;
    dcpki_err err;
    const unsigned char *der;
    long derlen;

    if (in == NULL)
        return 1;
    mem = BIO_new(BIO_s_mem());
    if (mem == NULL)
        goto out;
    while ((n = BIO_read(in, buf, sizeof(buf))) > 0)
        if (BIO_write(mem, buf, n) != n)
            goto out;
    derlen = BIO_get_mem_data(mem, (char **)&der);
    /* A quick look at the DER before anything else: it must be ours. */
    dcpki_err_clear(&err);
    ERR_set_mark();
    if (derlen <= 0 || dcpki_keyref_decode_der(der, (size_t)derlen, &uri, &err) != DCPKI_OK) {
        ERR_pop_to_mark();
        goto out; /* not a key reference: let other decoders try */
    }
    ERR_pop_to_mark();
    k = dcpki_key_from_uri_string(prov, uri, (selection & OSSL_KEYMGMT_SELECT_PRIVATE_KEY) != 0
                                                 || selection == 0);
    if (k == NULL) {
        /* The error (bad URI, service down, unknown alias ...) is on the
         * queue; stop decoding so it is what the user sees. */
        ret = 0;
        goto out;
    }
    if (k->type != type)
        goto out; /* the other key type's decoder will take it */
    {
        OSSL_PARAM params[4];
        int objtype = OSSL_OBJECT_PKEY;
        params[0] = OSSL_PARAM_construct_int(OSSL_OBJECT_PARAM_TYPE, &objtype);
        params[1] = OSSL_PARAM_construct_utf8_string(OSSL_OBJECT_PARAM_DATA_TYPE,
                                                     type == EVP_PKEY_RSA ? "RSA" : "EC", 0);
        params[2] = OSSL_PARAM_construct_octet_string(OSSL_OBJECT_PARAM_REFERENCE, &k, sizeof(k));
        params[3] = OSSL_PARAM_construct_end();
        ret = object_cb(params, object_cbarg);
    }
out:
    dcpki_key_free(k);
    free(uri);
    BIO_free(mem);
    BIO_free(in);
    return ret;
}

static int der_keyref_rsa_decode(void *ctx, OSSL_CORE_BIO *cin, int selection,
                                 OSSL_CALLBACK *object_cb, void *object_cbarg,
                                 OSSL_PASSPHRASE_CALLBACK *pw_cb, void *pw_cbarg)
{
    return der_keyref_decode(ctx, EVP_PKEY_RSA, cin, selection, object_cb, object_cbarg);
}

static int der_keyref_ec_decode(void *ctx, OSSL_CORE_BIO *cin, int selection,
                                OSSL_CALLBACK *object_cb, void *object_cbarg,
                                OSSL_PASSPHRASE_CALLBACK *pw_cb, void *pw_cbarg)
{
    return der_keyref_decode(ctx, EVP_PKEY_EC, cin, selection, object_cb, object_cbarg);
}

const OSSL_DISPATCH dcpki_pem_keyref_decoder_functions[] = {
    { OSSL_FUNC_DECODER_NEWCTX, (void (*)(void))dec_newctx },
    { OSSL_FUNC_DECODER_FREECTX, (void (*)(void))dec_freectx },
    { OSSL_FUNC_DECODER_DECODE, (void (*)(void))pem_keyref_decode },
    { 0, NULL }
};

const OSSL_DISPATCH dcpki_der_keyref_rsa_decoder_functions[] = {
    { OSSL_FUNC_DECODER_NEWCTX, (void (*)(void))dec_newctx },
    { OSSL_FUNC_DECODER_FREECTX, (void (*)(void))dec_freectx },
    { OSSL_FUNC_DECODER_DECODE, (void (*)(void))der_keyref_rsa_decode },
    { 0, NULL }
};

const OSSL_DISPATCH dcpki_der_keyref_ec_decoder_functions[] = {
    { OSSL_FUNC_DECODER_NEWCTX, (void (*)(void))dec_newctx },
    { OSSL_FUNC_DECODER_FREECTX, (void (*)(void))dec_freectx },
    { OSSL_FUNC_DECODER_DECODE, (void (*)(void))der_keyref_ec_decode },
    { 0, NULL }
};
