/* One signer for every dcpki key (dcpki/signer.h). */
#include "dcpki/signer.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include "dcpki/ossl.h"
#include "internal.h"

enum signer_kind {
    SIGNER_REMOTE,   /* a keypair of the signing service */
    SIGNER_RA_LOCAL, /* the RA key in this process's memory */
    SIGNER_RA_TOKEN  /* the RA key on a PKCS#11 token, through the identity */
};

struct dcpki_signer {
    enum signer_kind kind;
    int is_ec;
    EVP_PKEY *pub;
    size_t k;                   /* RSA: modulus bytes; EC: order bytes */
    int bits;                   /* RSA: modulus bits; EC: order bits */
    dcpki_signing *sg;          /* SIGNER_REMOTE (borrowed) */
    dcpki_keypair *kp;          /* SIGNER_REMOTE (a reference) */
    const dcpki_identity *id;   /* SIGNER_RA_TOKEN (borrowed) */
    const dcpki_prepared_key *local; /* SIGNER_RA_LOCAL: the identity's (borrowed) */
};

static const struct {
    const char *names[3];
    const char *canon;
    size_t len;
} mds[] = {
    { { "SHA256", "SHA2-256", "SHA-256" }, "SHA256", 32 },
    { { "SHA384", "SHA2-384", "SHA-384" }, "SHA384", 48 },
    { { "SHA512", "SHA2-512", "SHA-512" }, "SHA512", 64 },
};

int dcpki_md_index(const char *name)
{
    for (int i = 0; name && i < DCPKI_N_MD; i++)
        for (size_t j = 0; j < 3; j++)
            if (strcasecmp(name, mds[i].names[j]) == 0)
                return i;
    return -1;
}

const char *dcpki_md_name(int i)
{
    return i >= 0 && i < DCPKI_N_MD ? mds[i].canon : NULL;
}

const char *dcpki_md_canonical(const char *name, size_t *len)
{
    int i = dcpki_md_index(name);
    if (i < 0)
        return NULL;
    if (len)
        *len = mds[i].len;
    return mds[i].canon;
}

/* The digest a bare hash of that length is, for holders that sign ECDSA and
 * PSS only over a digest they can name (the service, tokens). */
static const char *md_of_length(size_t len)
{
    for (size_t i = 0; i < sizeof(mds) / sizeof(mds[0]); i++)
        if (mds[i].len == len)
            return mds[i].canon;
    return NULL;
}

static dcpki_code signer_init(dcpki_signer *s, EVP_PKEY *pub, dcpki_err *err)
{
    s->is_ec = EVP_PKEY_is_a(pub, "EC");
    if (!s->is_ec && !EVP_PKEY_is_a(pub, "RSA"))
        return dcpki_err_set(err, DCPKI_E_UNSUPPORTED, "a %s key (dcpki signs with RSA and EC keys)",
                             EVP_PKEY_get0_type_name(pub) ? EVP_PKEY_get0_type_name(pub) : "unknown");
    if (!EVP_PKEY_up_ref(pub))
        return dcpki_err_set(err, DCPKI_E_INTERNAL, "holding the public key");
    s->pub = pub;
    s->bits = EVP_PKEY_get_bits(pub);
    s->k = s->is_ec ? ((size_t)s->bits + 7) / 8 : (size_t)EVP_PKEY_get_size(pub);
    return s->bits > 0 ? DCPKI_OK : dcpki_err_set(err, DCPKI_E_UNSUPPORTED, "a key of unknown size");
}

dcpki_code dcpki_signer_new_remote(dcpki_signing *sg, dcpki_keypair *kp, dcpki_signer **out, dcpki_err *err)
{
    *out = NULL;
    if (!sg || !kp || !kp->pub)
        return dcpki_err_set(err, DCPKI_E_INVALID_ARGUMENT, "keypair '%s' has no public key (describe it first)",
                             kp && kp->alias ? kp->alias : "");
    dcpki_signer *s = calloc(1, sizeof(*s));
    if (!s)
        return dcpki_err_set(err, DCPKI_E_NOMEM, "preparing to sign with '%s'", kp->alias);
    s->kind = SIGNER_REMOTE;
    s->sg = sg;
    s->kp = dcpki_keypair_ref(kp);
    dcpki_code rc = signer_init(s, kp->pub, err);
    if (rc != DCPKI_OK) {
        dcpki_signer_free(s);
        return rc;
    }
    *out = s;
    return DCPKI_OK;
}

dcpki_code dcpki_signer_new_ra(const dcpki_identity *id, dcpki_signer **out, dcpki_err *err)
{
    *out = NULL;
    EVP_PKEY *pub = id ? dcpki_identity_public_key(id) : NULL;
    if (!pub)
        return dcpki_err_set(err, DCPKI_E_INTERNAL, "the RA certificate has no usable public key");
    dcpki_signer *s = calloc(1, sizeof(*s));
    if (!s)
        return dcpki_err_set(err, DCPKI_E_NOMEM, "preparing the RA key");
    dcpki_code rc = signer_init(s, pub, err);
    if (rc != DCPKI_OK) {
        dcpki_signer_free(s);
        return rc;
    }
    s->local = dcpki_identity_signing_key(id);
    s->kind = s->local ? SIGNER_RA_LOCAL : SIGNER_RA_TOKEN;
    s->id = id;
    *out = s;
    return DCPKI_OK;
}

void dcpki_signer_free(dcpki_signer *s)
{
    if (!s)
        return;
    EVP_PKEY_free(s->pub);
    dcpki_keypair_free(s->kp);
    free(s);
}

EVP_PKEY *dcpki_signer_public(const dcpki_signer *s)
{
    return s ? s->pub : NULL;
}

size_t dcpki_signer_sig_size(const dcpki_signer *s, dcpki_ecdsa_form form)
{
    if (!s)
        return 0;
    if (!s->is_ec)
        return s->k;
    if (form == DCPKI_ECDSA_RS)
        return 2 * s->k;
    int n = EVP_PKEY_get_size(s->pub); /* the largest ECDSA-Sig-Value */
    return n > 0 ? (size_t)n : 0;
}

static const char *who(const dcpki_signer *s)
{
    if (s->kind == SIGNER_REMOTE)
        return s->kp->alias ? s->kp->alias : s->kp->id;
    return "the RA key";
}

/* What a request means for this key: the canonical digest (NULL: none), its
 * length, MGF1's digest and the salt length in bytes. tbslen 0: no data yet. */
typedef struct resolved {
    const char *md;
    size_t mdlen;
    const char *mgf1;
    int salt;
} resolved;

static dcpki_code resolve(const dcpki_signer *s, const dcpki_sig_request *r, size_t tbslen, resolved *out,
                          dcpki_err *err)
{
    int is_rsa_scheme = r->scheme == DCPKI_SIG_RSA_PKCS1 || r->scheme == DCPKI_SIG_RSA_PSS ||
                        r->scheme == DCPKI_SIG_RSA_RAW;
    memset(out, 0, sizeof(*out));
    if (!is_rsa_scheme && r->scheme != DCPKI_SIG_ECDSA)
        return dcpki_err_set(err, DCPKI_E_UNSUPPORTED, "unknown signature scheme %d", (int)r->scheme);
    if (is_rsa_scheme == s->is_ec)
        return dcpki_err_set(err, DCPKI_E_UNSUPPORTED, "%s is an %s key; this signature needs an %s key", who(s),
                             s->is_ec ? "EC" : "RSA", s->is_ec ? "RSA" : "EC");
    if (r->md && !(out->md = dcpki_md_canonical(r->md, &out->mdlen)))
        return dcpki_err_set(err, DCPKI_E_UNSUPPORTED, "digest %s (use SHA256, SHA384 or SHA512)", r->md);
    if (r->scheme == DCPKI_SIG_RSA_RAW) {
        if (out->md)
            return dcpki_err_set(err, DCPKI_E_INVALID_ARGUMENT, "PKCS#1 v1.5 over a DigestInfo takes no digest name");
        /* RFC 8017 §9.2: the encoded message leaves at least 11 bytes of padding */
        if (tbslen > 0 && tbslen + 11 > s->k)
            return dcpki_err_set(err, DCPKI_E_INVALID_ARGUMENT,
                                 "%zu bytes are too many for PKCS#1 v1.5 with a %d-bit key (at most %zu)", tbslen,
                                 s->bits, s->k - 11);
        return DCPKI_OK;
    }
    if (!out->md && tbslen > 0 && !(s->kind == SIGNER_RA_LOCAL && r->scheme == DCPKI_SIG_ECDSA)) {
        /* a bare hash: its length names it for the service and tokens */
        if (!(out->md = md_of_length(tbslen)))
            return dcpki_err_set(err, DCPKI_E_INVALID_ARGUMENT,
                                 "a %zu-byte hash cannot be signed by %s (use a SHA-256, SHA-384 or SHA-512 digest)",
                                 tbslen, who(s));
        out->mdlen = tbslen;
    }
    if (r->md && tbslen > 0 && tbslen != out->mdlen)
        return dcpki_err_set(err, DCPKI_E_INVALID_ARGUMENT,
                             "a %s digest has %zu bytes, not %zu (sign the digest of the data, or let the digest "
                             "be computed: openssl dgst, -rawin, a hashing mechanism)", out->md, out->mdlen, tbslen);
    if (r->scheme != DCPKI_SIG_RSA_PSS)
        return DCPKI_OK;
    if (r->mgf1_md && !(out->mgf1 = dcpki_md_canonical(r->mgf1_md, NULL)))
        return dcpki_err_set(err, DCPKI_E_UNSUPPORTED, "MGF1 digest %s (use SHA256, SHA384 or SHA512)", r->mgf1_md);
    if (!out->md) /* PSS over a hash not yet given */
        return DCPKI_OK;
    if (!out->mgf1)
        out->mgf1 = out->md;
    out->salt = r->salt_len == DCPKI_PSS_SALT_DIGEST ? (int)out->mdlen : r->salt_len;
    if (s->kind != SIGNER_RA_LOCAL && (out->mgf1 != out->md || out->salt != (int)out->mdlen))
        return dcpki_err_set(err, DCPKI_E_UNSUPPORTED,
                             "%s makes PSS signatures only with MGF1 over the signature's digest and a salt as long as "
                             "the digest (%s, %zu bytes)", who(s), out->md, out->mdlen);
    /* RFC 8017 §9.1.1: emLen >= hLen + sLen + 2, emLen = ceil((modBits - 1) / 8) */
    size_t emlen = ((size_t)s->bits - 1 + 7) / 8;
    if (out->salt < 0 || (size_t)out->salt + out->mdlen + 2 > emlen)
        return dcpki_err_set(err, DCPKI_E_INVALID_ARGUMENT, "a PSS salt of %d bytes does not fit a %d-bit key with %s",
                             out->salt, s->bits, out->md);
    return DCPKI_OK;
}

dcpki_code dcpki_signer_check(const dcpki_signer *s, const dcpki_sig_request *r, dcpki_err *err)
{
    resolved rv;
    if (!s || !r)
        return dcpki_err_set(err, DCPKI_E_INVALID_ARGUMENT, "no signer or no request");
    return resolve(s, r, 0, &rv, err);
}

dcpki_code dcpki_signer_check_input(const dcpki_signer *s, const dcpki_sig_request *r, size_t tbslen,
                                    dcpki_err *err)
{
    resolved rv;
    if (!s || !r)
        return dcpki_err_set(err, DCPKI_E_INVALID_ARGUMENT, "no signer or no request");
    if (tbslen == 0)
        return dcpki_err_set(err, DCPKI_E_INVALID_ARGUMENT, "nothing to sign");
    return resolve(s, r, tbslen, &rv, err);
}

/* The local RA key: OpenSSL's signature, any PSS parameters. */
static dcpki_code sign_local(const dcpki_signer *s, const dcpki_sig_request *r, const resolved *rv,
                             const unsigned char *tbs, size_t tbslen, unsigned char **out, size_t *outlen,
                             dcpki_err *err)
{
    dcpki_sig_params sp;
    dcpki_sig_params_pss(&sp, r->scheme, rv->md, rv->mgf1, rv->salt);
    int room = EVP_PKEY_get_size(s->pub);
    *outlen = room > 0 ? (size_t)room : 0;
    if (room <= 0 || !(*out = OPENSSL_malloc(*outlen)))
        return dcpki_err_set(err, DCPKI_E_NOMEM, "signing with the RA key");
    if (!dcpki_prepared_sign(s->local, sp.p, *out, outlen, tbs, tbslen)) {
        OPENSSL_free(*out);
        *out = NULL;
        return dcpki_err_set(err, DCPKI_E_INTERNAL, "the RA key could not make the signature");
    }
    return DCPKI_OK;
}

/* DER ECDSA-Sig-Value → r||s, n bytes each */
static int der_to_rs(const unsigned char *der, size_t der_len, unsigned char *out, size_t n)
{
    const unsigned char *p = der;
    const BIGNUM *r, *sv;
    ECDSA_SIG *sig = d2i_ECDSA_SIG(NULL, &p, (long)der_len);
    int ok = 0;
    if (sig) {
        ECDSA_SIG_get0(sig, &r, &sv);
        ok = p == der + der_len && BN_bn2binpad(r, out, (int)n) == (int)n &&
             BN_bn2binpad(sv, out + n, (int)n) == (int)n;
        ECDSA_SIG_free(sig);
    }
    ERR_clear_error();
    return ok;
}

dcpki_code dcpki_signer_sign(const dcpki_signer *s, const dcpki_sig_request *r, const unsigned char *tbs,
                             size_t tbslen, unsigned char *sig, size_t *siglen, dcpki_err *err)
{
    resolved rv;
    unsigned char *out = NULL;
    size_t outlen = 0;
    dcpki_code rc;

    if (!s || !r || !sig || !siglen)
        return dcpki_err_set(err, DCPKI_E_INVALID_ARGUMENT, "nothing to sign into");
    if (!tbs || tbslen == 0)
        return dcpki_err_set(err, DCPKI_E_INVALID_ARGUMENT, "nothing to sign");
    if ((rc = resolve(s, r, tbslen, &rv, err)) != DCPKI_OK)
        return rc;
    size_t need = dcpki_signer_sig_size(s, r->form);
    if (*siglen < need)
        return dcpki_err_set(err, DCPKI_E_INVALID_ARGUMENT, "a signature of %s needs %zu bytes, not %zu", who(s),
                             need, *siglen);
    switch (s->kind) {
    case SIGNER_REMOTE:
        rc = dcpki_signing_sign(s->sg, s->kp, r->scheme, rv.md, tbs, tbslen, &out, &outlen, err);
        break;
    case SIGNER_RA_TOKEN:
        rc = dcpki_identity_sign(s->id, r->scheme, rv.md, tbs, tbslen, &out, &outlen, err);
        break;
    default:
        rc = sign_local(s, r, &rv, tbs, tbslen, &out, &outlen, err);
        break;
    }
    if (rc != DCPKI_OK)
        return rc;
    if (s->is_ec && r->form == DCPKI_ECDSA_RS) {
        if (!der_to_rs(out, outlen, sig, s->k))
            rc = dcpki_err_set(err, DCPKI_E_BAD_SIGNATURE, "the ECDSA signature of %s is not a valid ECDSA-Sig-Value",
                               who(s));
        outlen = 2 * s->k;
    } else if (!s->is_ec && outlen != s->k) {
        /* the signing client and tokens give I2OSP's full length (RFC 8017 §8.2.1) */
        rc = dcpki_err_set(err, DCPKI_E_BAD_SIGNATURE, "the RSA signature of %s has %zu bytes, not %zu", who(s),
                           outlen, s->k);
    } else if (outlen > *siglen) {
        rc = dcpki_err_set(err, DCPKI_E_INTERNAL, "the signature of %s has %zu bytes, more than %zu", who(s), outlen,
                           *siglen);
    } else {
        memcpy(sig, out, outlen);
    }
    OPENSSL_free(out);
    if (rc == DCPKI_OK)
        *siglen = outlen;
    return rc;
}
