/* The host process of p11_engine: OpenSSL ENGINEs set as the default for
 * everything, as engine-era programs do (openssl -engine, ENGINE_set_default),
 * so this file alone uses the deprecated ENGINE API.
 *   - libp11's "pkcs11" engine (libengine-pkcs11-openssl), the one consumers load;
 *   - a "hostile" engine made here whose EVP_PKEY methods (RSA, EC) and
 *     digests (SHA-1/256/384/512) all fail and count their calls: what an
 *     engine like libp11 takes over, and what the module must never reach.
 *     Its RSA and EC_KEY methods are OpenSSL's software ones, counted but
 *     working: OpenSSL 3.0's default provider itself gives every RSA and
 *     EC_KEY it makes the default ENGINE's method (crypto/rsa/rsa_lib.c
 *     rsa_new_intern, crypto/ec/ec_kmeth.c ossl_ec_key_new_method_int), in
 *     any library context, and a real engine (libp11's included) hands keys
 *     that are not its own to the software method, as these do. */
/* the project builds with OPENSSL_NO_DEPRECATED (top CMakeLists.txt); this
 * file needs the ENGINE and METHOD APIs that OpenSSL 3.0 deprecates */
#undef OPENSSL_NO_DEPRECATED
#undef OPENSSL_API_COMPAT
#define OPENSSL_API_COMPAT 10101
#include <stdio.h>
#include <openssl/ec.h>
#include <openssl/engine.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>
#include "p11_engine.h"

static ENGINE *p11_engine, *hostile;
static int hostile_calls, software_calls;
static RSA_METHOD *rsa_meth;
static EC_KEY_METHOD *ec_meth;
static EVP_PKEY_METHOD *pmeth_rsa, *pmeth_ec;
static EVP_MD *mds[4];
static const int md_nids[4] = { NID_sha1, NID_sha256, NID_sha384, NID_sha512 };
static const int pkey_nids[2] = { EVP_PKEY_RSA, EVP_PKEY_EC };

static int rsa_pub_dec(int flen, const unsigned char *from, unsigned char *to, RSA *rsa, int padding)
{
    software_calls++;
    return RSA_meth_get_pub_dec(RSA_PKCS1_OpenSSL())(flen, from, to, rsa, padding);
}

static int rsa_priv_enc(int flen, const unsigned char *from, unsigned char *to, RSA *rsa, int padding)
{
    software_calls++;
    return RSA_meth_get_priv_enc(RSA_PKCS1_OpenSSL())(flen, from, to, rsa, padding);
}

static int (*ec_verify_real)(int, const unsigned char *, int, const unsigned char *, int, EC_KEY *);

static int ec_verify(int type, const unsigned char *dgst, int dgst_len, const unsigned char *sigbuf, int sig_len,
                     EC_KEY *eckey)
{
    software_calls++;
    return ec_verify_real(type, dgst, dgst_len, sigbuf, sig_len, eckey);
}

static int pkey_sign_fail(EVP_PKEY_CTX *ctx, unsigned char *sig, size_t *siglen, const unsigned char *tbs,
                          size_t tbslen)
{
    (void)ctx, (void)sig, (void)siglen, (void)tbs, (void)tbslen;
    hostile_calls++;
    return 0;
}

static int pkey_verify_fail(EVP_PKEY_CTX *ctx, const unsigned char *sig, size_t siglen, const unsigned char *tbs,
                            size_t tbslen)
{
    (void)ctx, (void)sig, (void)siglen, (void)tbs, (void)tbslen;
    hostile_calls++;
    return 0;
}

static int md_init_fail(EVP_MD_CTX *ctx)
{
    (void)ctx;
    hostile_calls++;
    return 0;
}

static int md_update_fail(EVP_MD_CTX *ctx, const void *data, size_t count)
{
    (void)ctx, (void)data, (void)count;
    hostile_calls++;
    return 0;
}

static int md_final_fail(EVP_MD_CTX *ctx, unsigned char *md)
{
    (void)ctx, (void)md;
    hostile_calls++;
    return 0;
}

static int digests(ENGINE *e, const EVP_MD **md, const int **nids, int nid)
{
    (void)e;
    if (!md) {
        *nids = md_nids;
        return 4;
    }
    for (int i = 0; i < 4; i++)
        if (md_nids[i] == nid) {
            *md = mds[i];
            return 1;
        }
    *md = NULL;
    return 0;
}

static int pkey_meths(ENGINE *e, EVP_PKEY_METHOD **pm, const int **nids, int nid)
{
    (void)e;
    if (!pm) {
        *nids = pkey_nids;
        return 2;
    }
    *pm = nid == EVP_PKEY_RSA ? pmeth_rsa : nid == EVP_PKEY_EC ? pmeth_ec : NULL;
    return *pm != NULL;
}

static EVP_PKEY_METHOD *failing_pmeth(int id)
{
    EVP_PKEY_METHOD *m = EVP_PKEY_meth_new(id, 0);
    if (!m)
        return NULL;
    EVP_PKEY_meth_copy(m, EVP_PKEY_meth_find(id));
    EVP_PKEY_meth_set_sign(m, NULL, pkey_sign_fail);
    EVP_PKEY_meth_set_verify(m, NULL, pkey_verify_fail);
    return m;
}

static int make_hostile(void)
{
    int (*verify_sig)(const unsigned char *, int, const ECDSA_SIG *, EC_KEY *) = NULL;

    if (!(rsa_meth = RSA_meth_dup(RSA_PKCS1_OpenSSL())) || !RSA_meth_set1_name(rsa_meth, "counted software") ||
        !RSA_meth_set_pub_dec(rsa_meth, rsa_pub_dec) || !RSA_meth_set_priv_enc(rsa_meth, rsa_priv_enc))
        return 0;
    if (!(ec_meth = EC_KEY_METHOD_new(EC_KEY_OpenSSL())))
        return 0;
    EC_KEY_METHOD_get_verify(ec_meth, &ec_verify_real, &verify_sig);
    EC_KEY_METHOD_set_verify(ec_meth, ec_verify, verify_sig);
    if (!(pmeth_rsa = failing_pmeth(EVP_PKEY_RSA)) || !(pmeth_ec = failing_pmeth(EVP_PKEY_EC)))
        return 0;
    for (int i = 0; i < 4; i++) {
        const EVP_MD *real = EVP_get_digestbynid(md_nids[i]);
        if (!real || !(mds[i] = EVP_MD_meth_new(md_nids[i], NID_undef)) ||
            !EVP_MD_meth_set_result_size(mds[i], EVP_MD_get_size(real)) ||
            !EVP_MD_meth_set_input_blocksize(mds[i], EVP_MD_get_block_size(real)) ||
            !EVP_MD_meth_set_init(mds[i], md_init_fail) || !EVP_MD_meth_set_update(mds[i], md_update_fail) ||
            !EVP_MD_meth_set_final(mds[i], md_final_fail))
            return 0;
    }
    return (hostile = ENGINE_new()) != NULL && ENGINE_set_id(hostile, "dcpki-hostile") &&
           ENGINE_set_name(hostile, "fails every method") && ENGINE_set_RSA(hostile, rsa_meth) &&
           ENGINE_set_EC(hostile, ec_meth) && ENGINE_set_digests(hostile, digests) &&
           ENGINE_set_pkey_meths(hostile, pkey_meths);
}

int host_load_pkcs11_engine(void)
{
    ENGINE_load_builtin_engines();
    if (!(p11_engine = ENGINE_by_id("pkcs11"))) {
        fprintf(stderr, "host: ENGINE_by_id(\"pkcs11\") failed (libengine-pkcs11-openssl installed?)\n");
        return 0;
    }
    if (!ENGINE_set_default(p11_engine, ENGINE_METHOD_ALL)) {
        fprintf(stderr, "host: ENGINE_set_default(pkcs11, ENGINE_METHOD_ALL) failed\n");
        return 0;
    }
    return 1;
}

int host_load_hostile_engine(void)
{
    if (!make_hostile()) {
        fprintf(stderr, "host: could not build the hostile engine\n");
        return 0;
    }
    if (!ENGINE_set_default(hostile, ENGINE_METHOD_ALL)) {
        fprintf(stderr, "host: ENGINE_set_default(hostile, ENGINE_METHOD_ALL) failed\n");
        return 0;
    }
    /* the default RSA and EC_KEY methods too (ENGINE_set_default covers them
     * through the tables; these are what RSA_new()/EC_KEY_new() consult) */
    if (!ENGINE_set_default_RSA(hostile) || !ENGINE_set_default_EC(hostile)) {
        fprintf(stderr, "host: ENGINE_set_default_RSA/EC(hostile) failed\n");
        return 0;
    }
    return 1;
}

int host_hostile_calls(void)
{
    return hostile_calls;
}

int host_software_calls(void)
{
    return software_calls;
}

void host_remove_engines(void)
{
    ENGINE *es[2] = { hostile, p11_engine };
    for (int i = 0; i < 2; i++) {
        if (!es[i])
            continue;
        ENGINE_unregister_RSA(es[i]);
        ENGINE_unregister_EC(es[i]);
        ENGINE_unregister_digests(es[i]);
        ENGINE_unregister_pkey_meths(es[i]);
        ENGINE_unregister_ciphers(es[i]);
        ENGINE_unregister_RAND(es[i]);
        ENGINE_unregister_pkey_asn1_meths(es[i]);
        /* the tables dropped their functional references; freeing the
         * engine frees its dynamic EVP_PKEY methods too (engine_pkey_meths_free) */
        ENGINE_free(es[i]);
    }
    hostile = p11_engine = NULL;
    RSA_meth_free(rsa_meth);
    EC_KEY_METHOD_free(ec_meth);
    pmeth_rsa = pmeth_ec = NULL;
    for (int i = 0; i < 4; i++)
        EVP_MD_meth_free(mds[i]);
}
