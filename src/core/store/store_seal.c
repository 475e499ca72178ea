/* Sealing of the entries' private keys: AES-256-GCM (NIST SP 800-38D) with a
 * random 96-bit nonce per seal and the entry id as additional data, so that a
 * sealed key copied into another entry's row does not open there. */
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include "dcpki/secret.h"
#include "../internal.h"
#include "store_internal.h"

#define SEAL_VERSION 1
#define NONCE_LEN 12
#define TAG_LEN 16
#define SEAL_OVERHEAD (1 + NONCE_LEN + TAG_LEN)

dcpki_code dcpki_store_seal(const unsigned char key[STORE_KEY_LEN], const char *id,
                            const unsigned char *plain, size_t len, unsigned char **blob,
                            size_t *blob_len, dcpki_err *err)
{
    *blob = NULL;
    *blob_len = 0;
    if (len > 1024 * 1024)
        return dcpki_err_set(err, DCPKI_E_INTERNAL, "a private key of %zu bytes is too large to seal",
                             len);
    unsigned char *b = malloc(len + SEAL_OVERHEAD);
    EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
    int outl = 0, fl = 0;
    int ok = b != NULL && c != NULL;
    if (ok) {
        b[0] = SEAL_VERSION;
        ok = RAND_bytes(b + 1, NONCE_LEN) == 1 &&
             EVP_EncryptInit_ex2(c, EVP_aes_256_gcm(), NULL, NULL, NULL) == 1 &&
             EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_IVLEN, NONCE_LEN, NULL) == 1 &&
             EVP_EncryptInit_ex2(c, NULL, key, b + 1, NULL) == 1 &&
             EVP_EncryptUpdate(c, NULL, &outl, (const unsigned char *)id, (int)strlen(id)) == 1 &&
             EVP_EncryptUpdate(c, b + 1 + NONCE_LEN, &outl, plain, (int)len) == 1 &&
             EVP_EncryptFinal_ex(c, b + 1 + NONCE_LEN + outl, &fl) == 1 &&
             (size_t)(outl + fl) == len &&
             EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG, TAG_LEN, b + 1 + NONCE_LEN + len) == 1;
    }
    EVP_CIPHER_CTX_free(c);
    if (!ok) {
        free(b);
        ERR_clear_error();
        return dcpki_err_set(err, DCPKI_E_INTERNAL, "sealing a private key with AES-256-GCM failed");
    }
    *blob = b;
    *blob_len = len + SEAL_OVERHEAD;
    return DCPKI_OK;
}

dcpki_code dcpki_store_open_sealed(const unsigned char key[STORE_KEY_LEN], const char *id,
                                   const unsigned char *blob, size_t blob_len,
                                   unsigned char **plain, size_t *len, const char *where,
                                   dcpki_err *err)
{
    *plain = NULL;
    *len = 0;
    if (blob_len < SEAL_OVERHEAD || blob[0] != SEAL_VERSION)
        return dcpki_err_set(err, DCPKI_E_STORE,
                             "the sealed private key of entry %s in %s is damaged (not a dcpki "
                             "sealed key); remove the entry to request a new certificate", id, where);
    size_t n = blob_len - SEAL_OVERHEAD;
    unsigned char *p = dcpki_secret_alloc(n ? n : 1);
    EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
    int outl = 0, fl = 0;
    int ok = p != NULL && c != NULL;
    if (!ok) {
        dcpki_secret_release(p);
        EVP_CIPHER_CTX_free(c);
        return dcpki_err_set(err, DCPKI_E_NOMEM, "opening a sealed private key");
    }
    ok = EVP_DecryptInit_ex2(c, EVP_aes_256_gcm(), NULL, NULL, NULL) == 1 &&
         EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_IVLEN, NONCE_LEN, NULL) == 1 &&
         EVP_DecryptInit_ex2(c, NULL, key, blob + 1, NULL) == 1 &&
         EVP_DecryptUpdate(c, NULL, &outl, (const unsigned char *)id, (int)strlen(id)) == 1 &&
         EVP_DecryptUpdate(c, p, &outl, blob + 1 + NONCE_LEN, (int)n) == 1 &&
         EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_TAG, TAG_LEN,
                             (void *)(blob + 1 + NONCE_LEN + n)) == 1;
    /* the tag is checked here: a wrong key and a changed blob look the same */
    int verified = ok && EVP_DecryptFinal_ex(c, p + outl, &fl) == 1;
    EVP_CIPHER_CTX_free(c);
    ERR_clear_error();
    if (!verified) {
        dcpki_secret_release(p);
        if (!ok)
            return dcpki_err_set(err, DCPKI_E_INTERNAL, "AES-256-GCM is not available");
        return dcpki_err_set(err, DCPKI_E_STORE_KEY,
                             "the private key of entry %s in %s does not open with the store key "
                             "(the key file is not the one it was sealed with, or the row was "
                             "altered)", id, where);
    }
    *plain = p;
    *len = n;
    return DCPKI_OK;
}

dcpki_code dcpki_store_key_check(const unsigned char key[STORE_KEY_LEN], char out[65],
                                 dcpki_err *err)
{
    static const char label[] = "dcpki store key check v1";
    unsigned char mac[32];
    unsigned int ml = 0;
    if (HMAC(EVP_sha256(), key, STORE_KEY_LEN, (const unsigned char *)label, sizeof label - 1, mac,
             &ml) == NULL || ml != sizeof mac) {
        ERR_clear_error();
        return dcpki_err_set(err, DCPKI_E_INTERNAL, "computing the store key's check value failed");
    }
    dcpki_hex_lower(mac, sizeof mac, out);
    return DCPKI_OK;
}
