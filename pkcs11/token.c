/* What the configuration says about the tokens themselves: the user PIN
 * ([pkcs11] pin_file) and the serial numbers that tell two configurations on
 * one host apart in pkcs11: URIs.
 *
 * Serial numbers (CK_TOKEN_INFO.serialNumber, 16 characters; PKCS#11 v2.40
 * §3.2) are the first 8 bytes, in upper-case hex, of a SHA-256 over a label
 * and the identity of what the token stands for:
 *   "dcpki RA":      the RA certificate's SHA-1 thumbprint ([ra]
 *                    certificate_thumbprint, else the loaded identity's);
 *   "dcpki signing": [signing] url, that thumbprint and, when an API key is
 *                    configured (api_key_file or SM_API_KEY), the SHA-256 of
 *                    the API key (never the key itself).
 * Through the agent ([signing] agent) the thumbprint and the URL are the
 * agent's (its hello), and the agent's socket path stands for the API key,
 * which the client never has: the RA token keeps its serial, the signing
 * token has one of its own, stable for that agent.
 * They are stable across runs and processes, and computed once per
 * C_Initialize. While those inputs cannot be had (no configuration, an RA
 * identity that does not load) the serial is "unconfigured", not remembered,
 * and the reason is logged by the backend. */
#include <stdio.h>
#include <string.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include "dcpki/ossl.h"
#include "p11.h"

#define FALLBACK_SERIAL "unconfigured"

int p11_pin_required(p11_module *m)
{
    const dcpki_config *cfg;
    return p11_config(m, &cfg) == CKR_OK && cfg->pkcs11.pin_file != NULL;
}

CK_RV p11_pin_check(p11_module *m, const CK_UTF8CHAR *pin, CK_ULONG len)
{
    const dcpki_config *cfg;
    unsigned char want[32], got[32];
    char *secret = NULL;
    dcpki_err err;
    CK_RV rv = p11_config(m, &cfg);
    if (rv != CKR_OK)
        return rv;
    dcpki_err_clear(&err);
    if (dcpki_config_read_pin(cfg, &secret, &err) != DCPKI_OK) {
        /* the PIN cannot be checked: a fault of the token's set-up, not of
         * the caller's PIN (C_Login may return CKR_DEVICE_ERROR, v2.40 §5.6) */
        p11_fail("checking the PIN", &err);
        return CKR_DEVICE_ERROR;
    }
    /* equal-length digests compared in constant time: neither the PIN's
     * bytes nor its length show in the time taken */
    if (!dcpki_digest_once(m->libctx, "SHA256", secret, strlen(secret), want, sizeof(want)) ||
        !dcpki_digest_once(m->libctx, "SHA256", pin ? (const void *)pin : "", (size_t)len, got, sizeof(got)))
        rv = CKR_HOST_MEMORY;
    else if (CRYPTO_memcmp(want, got, sizeof(want)) != 0)
        rv = CKR_PIN_INCORRECT;
    dcpki_secret_free(secret);
    OPENSSL_cleanse(want, sizeof(want));
    OPENSSL_cleanse(got, sizeof(got));
    return rv;
}

void p11_token_logout(p11_token *t)
{
    if (t->login == P11_NOBODY)
        return;
    t->login = P11_NOBODY;
    t->login_gen++; /* v2.40 §5.6 C_Logout: the handles of private objects become invalid */
}

/* The RA thumbprint: the configured one (no I/O; a loaded identity always
 * matches it), else that of the identity, which is then loaded (files only,
 * never the network) as the first search on the token would load it. */
static int ra_thumbprint(p11_module *m, const dcpki_config *cfg, unsigned char tp[DCPKI_THUMBPRINT_LEN])
{
    const dcpki_identity *id;
    dcpki_err err;
    if (cfg->ra.certificate_thumbprint &&
        dcpki_thumbprint_parse(cfg->ra.certificate_thumbprint, tp, &err) == DCPKI_OK)
        return 1;
    if (p11_backend_identity(m, &id) != CKR_OK || !id)
        return 0;
    dcpki_identity_thumbprint(id, tp);
    return 1;
}

/* 1 with serial filled (16 hex digits + NUL), or 0 when the inputs are not at hand */
static int derive_serial(p11_module *m, CK_SLOT_ID slot, char serial[17])
{
    static const char ra_label[] = "dcpki-pkcs11 RA token";
    static const char sg_label[] = "dcpki-pkcs11 signing token";
    const dcpki_config *cfg;
    unsigned char tp[DCPKI_THUMBPRINT_LEN], key_hash[32], md[32];
    dcpki_digest *ctx;
    int ok, with_key = 0;
    const char *url, *agent = NULL;

    if (p11_config(m, &cfg) != CKR_OK)
        return 0;
    if (cfg->signing.agent) {
        dcpki_signing *sg;
        dcpki_err err;
        const char *label;
        if (p11_backend_signing(m, &sg) != CKR_OK)
            return 0;
        label = dcpki_signing_label(sg);
        if (strncmp(label, "sha1:", 5) != 0 || dcpki_thumbprint_parse(label + 5, tp, &err) != DCPKI_OK)
            return 0;
        url = dcpki_signing_base(sg);
        agent = dcpki_signing_agent(sg);
    } else if (!ra_thumbprint(m, cfg, tp)) {
        return 0;
    } else {
        url = cfg->signing.url;
    }
    if (slot == P11_SLOT_SIGNING && !agent) {
        if (!url)
            return 0;
        if (dcpki_config_has_api_key(cfg)) {
            char *key = NULL;
            dcpki_err err;
            dcpki_err_clear(&err);
            if (dcpki_config_read_api_key(cfg, &key, &err) != DCPKI_OK) {
                p11_fail("naming the signing token", &err);
                return 0;
            }
            ok = dcpki_digest_once(m->libctx, "SHA256", key, strlen(key), key_hash, sizeof(key_hash));
            dcpki_secret_free(key);
            if (!ok)
                return 0;
            with_key = 1;
        }
    }
    /* not EVP_Digest*: an ENGINE of the host could answer (dcpki/ossl.h) */
    if (!(ctx = dcpki_digest_new(m->libctx, "SHA256")))
        return 0;
    if (slot == P11_SLOT_RA)
        ok = dcpki_digest_update(ctx, ra_label, sizeof(ra_label)) && dcpki_digest_update(ctx, tp, sizeof(tp));
    else
        ok = dcpki_digest_update(ctx, sg_label, sizeof(sg_label)) &&
             dcpki_digest_update(ctx, url, strlen(url) + 1) && dcpki_digest_update(ctx, tp, sizeof(tp)) &&
             (!with_key || dcpki_digest_update(ctx, key_hash, sizeof(key_hash))) &&
             (!agent || dcpki_digest_update(ctx, agent, strlen(agent) + 1));
    ok = ok && dcpki_digest_final(ctx, md, sizeof(md));
    dcpki_digest_free(ctx);
    OPENSSL_cleanse(key_hash, sizeof(key_hash));
    if (!ok)
        return 0;
    for (int i = 0; i < 8; i++)
        snprintf(serial + 2 * i, 3, "%02X", md[i]);
    return 1;
}

void p11_token_serial(p11_module *m, CK_SLOT_ID slot, unsigned char out[16])
{
    p11_token *t = &m->tokens[slot];
    char serial[17];
    p11_lock(m->lock);
    memcpy(serial, t->serial, sizeof(serial));
    p11_unlock(m->lock);
    if (!serial[0] && derive_serial(m, slot, serial)) {
        p11_lock(m->lock);
        memcpy(t->serial, serial, sizeof(serial));
        p11_unlock(m->lock);
    }
    p11_pad(out, 16, serial[0] ? serial : FALLBACK_SERIAL);
}
