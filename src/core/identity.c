/* The RA identity (DESIGN.md [ra]): certificate + private key from
 *   1. certificate (+ key) files: PEM or DER; key may be a pkcs11: URI;
 *   2. a PKCS#12 file (+ pkcs12_password_file);
 *   3. a store directory where certificate_thumbprint picks the certificate
 *      among the .pem, .crt, .cer and .der files; its key is BASE.key, or in the same
 *      PEM file, or any .key file in the directory whose public key matches.
 *
 * TLS credentials for libcurl/GnuTLS: curl's GnuTLS backend (7.88) reads only
 * files, by name, again for every new connection. The identity is loaded once
 * (when a key is loaded, before a server drops privileges) and handed to curl
 * as a sealed memory file (memfile.c) holding the certificate, its chain and
 * the key (PKCS#8); it lives only in this process's memory. A key on a
 * PKCS#11 token is given by its pkcs11: URI. Where the system has no memory
 * files, the configured PEM files are given when curl can read them as they
 * are, else a private temporary file (0600, removed by dcpki_identity_free)
 * with the key encrypted with AES-256 under a random one-time password that
 * lives only in this process's memory (CURLOPT_KEYPASSWD). The key is never
 * written to a disk in clear. */
#include "dcpki/identity.h"
#include "dcpki/ossl.h"
#include "internal.h"
#include "dcpki/log.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/decoder.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/pkcs12.h>
#include <openssl/rand.h>
#include <openssl/x509.h>

#define MAX_FILE (1024 * 1024)

struct dcpki_identity {
    X509 *cert;
    EVP_PKEY *key;             /* the local private key while loading; NULL for a pkcs11: URI and after load */
    EVP_PKEY *pub;             /* the certificate's public key, decoded in libctx */
    dcpki_prepared_key *signing_key; /* the local key after load: its only copy here */
    dcpki_prepared_key *verifier; /* pub, ready to check each signature of a token */
    STACK_OF(X509) *chain;     /* extra certificates (PKCS#12 CA list); may be NULL */
    unsigned char tp[DCPKI_THUMBPRINT_LEN];
    char *tls_cert_path;
    char *tls_key_path;
    char *tls_password;        /* secret */
    char *cert_src, *key_src;  /* where they were read: file paths or a pkcs11: URI */
    dcpki_ra_token *token;     /* the key on a PKCS#11 token (ra_token.c), else NULL */
    dcpki_memfile *mem;        /* the TLS credentials in memory (memfile.c) */
    char *tmp_path;            /* fallback: temporary file to remove */
    pid_t tmp_owner;           /* the process that made it: only it removes it */
};

/* Contents of one file: certificates and at most the first private key. */
struct parsed {
    STACK_OF(X509) *certs;
    EVP_PKEY *key;
    int key_encrypted;
    int pem;                   /* the file is PEM */
};

static void parsed_free(struct parsed *p)
{
    sk_X509_pop_free(p->certs, X509_free);
    EVP_PKEY_free(p->key);
    memset(p, 0, sizeof(*p));
}

static X509 *cert_from_der(const unsigned char *der, long len, OSSL_LIB_CTX *libctx)
{
    X509 *x = X509_new_ex(libctx, NULL);
    if (!x)
        return NULL;
    const unsigned char *p = der;
    if (!d2i_X509(&x, &p, len) || p != der + len) {
        X509_free(x);
        return NULL;
    }
    return x;
}

/* Through OSSL_DECODER in libctx, so the key is the provider's own: the
 * d2i_ functions make a legacy key whenever the host process has a default
 * ENGINE for the key type (dcpki/ossl.h), and that ENGINE would then serve
 * every later use of the RA key. */
static EVP_PKEY *key_from_der(const unsigned char *der, long len, OSSL_LIB_CTX *libctx)
{
    EVP_PKEY *pk = NULL;
    const unsigned char *p = der;
    size_t left = (size_t)len;
    OSSL_DECODER_CTX *dc = OSSL_DECODER_CTX_new_for_pkey(&pk, "DER", NULL, NULL, EVP_PKEY_KEYPAIR, libctx, NULL);
    if (dc && !OSSL_DECODER_from_data(dc, &p, &left)) {
        EVP_PKEY_free(pk);
        pk = NULL;
    }
    OSSL_DECODER_CTX_free(dc);
    return pk;
}

/* Parse PEM (every CERTIFICATE block, the first private key) or DER (one
 * certificate or one key). Returns 0, or -1 on memory failure. */
static int parse_blob(const unsigned char *data, size_t len, OSSL_LIB_CTX *libctx, struct parsed *out)
{
    memset(out, 0, sizeof(*out));
    out->certs = sk_X509_new_null();
    if (!out->certs)
        return -1;
    int is_pem = 0;
    for (size_t i = 0; i + 11 <= len; i++)
        if (memcmp(data + i, "-----BEGIN ", 11) == 0) {
            is_pem = 1;
            break;
        }
    out->pem = is_pem;
    if (!is_pem) {
        X509 *x = cert_from_der(data, (long)len, libctx);
        if (x) {
            if (!sk_X509_push(out->certs, x)) {
                X509_free(x);
                return -1;
            }
        } else {
            out->key = key_from_der(data, (long)len, libctx);
        }
        ERR_clear_error();
        return 0;
    }
    BIO *b = BIO_new_mem_buf(data, (int)len);
    if (!b)
        return -1;
    for (;;) {
        char *name = NULL, *header = NULL;
        unsigned char *der = NULL;
        long dlen = 0;
        if (PEM_read_bio(b, &name, &header, &der, &dlen) != 1)
            break;
        if (strcmp(name, "CERTIFICATE") == 0 || strcmp(name, "X509 CERTIFICATE") == 0) {
            X509 *x = cert_from_der(der, dlen, libctx);
            if (x && !sk_X509_push(out->certs, x))
                X509_free(x);
        } else if (!out->key && (strcmp(name, "PRIVATE KEY") == 0 || strcmp(name, "RSA PRIVATE KEY") == 0 ||
                                 strcmp(name, "EC PRIVATE KEY") == 0)) {
            if (header && strstr(header, "ENCRYPTED"))
                out->key_encrypted = 1;
            else
                out->key = key_from_der(der, dlen, libctx);
        } else if (strcmp(name, "ENCRYPTED PRIVATE KEY") == 0) {
            out->key_encrypted = 1;
        }
        if (der)
            OPENSSL_cleanse(der, (size_t)dlen);
        OPENSSL_free(name);
        OPENSSL_free(header);
        OPENSSL_free(der);
    }
    BIO_free(b);
    ERR_clear_error();
    return 0;
}

/* Read + parse a file; on failure returns errno (>0) or -1 (memory). */
static int parse_file(const char *path, OSSL_LIB_CTX *libctx, struct parsed *out)
{
    memset(out, 0, sizeof(*out));
    unsigned char *data;
    size_t len;
    if (dcpki_read_file(path, MAX_FILE, &data, &len) != 0)
        return errno ? errno : EIO;
    int r = parse_blob(data, len, libctx, out);
    OPENSSL_cleanse(data, len);
    free(data);
    return r;
}

static int key_matches(X509 *x, EVP_PKEY *k)
{
    EVP_PKEY *pub = X509_get0_pubkey(x);
    int r = pub && k && EVP_PKEY_eq(pub, k) == 1;
    ERR_clear_error();
    return r;
}

void dcpki_identity_free(dcpki_identity *id)
{
    if (!id)
        return;
    if (id->tmp_path) {
        /* A forked child (nginx worker) that frees its copy at exit must not
         * take the file away from its parent and siblings. */
        if (id->tmp_owner == getpid())
            unlink(id->tmp_path);
        free(id->tmp_path);
    }
    dcpki_memfile_free(id->mem);
    dcpki_ra_token_free(id->token);
    free(id->cert_src);
    free(id->key_src);
    X509_free(id->cert);
    EVP_PKEY_free(id->key);
    EVP_PKEY_free(id->pub);
    dcpki_prepared_key_free(id->signing_key);
    dcpki_prepared_key_free(id->verifier);
    sk_X509_pop_free(id->chain, X509_free);
    free(id->tls_cert_path);
    free(id->tls_key_path);
    dcpki_secret_free(id->tls_password);
    free(id);
}

X509 *dcpki_identity_cert(const dcpki_identity *id) { return id ? id->cert : NULL; }

int dcpki_identity_creds_intact(const dcpki_identity *id)
{
    return !id->mem || dcpki_memfile_intact(id->mem);
}

void dcpki_identity_keep_token_loaded(dcpki_identity *id)
{
    if (id)
        dcpki_ra_token_keep_loaded(id->token);
}

static const char *md_of(dcpki_sig_scheme scheme, const char *md)
{
    return scheme == DCPKI_SIG_RSA_RAW ? NULL : md;
}

dcpki_code dcpki_identity_sign(const dcpki_identity *id, dcpki_sig_scheme scheme, const char *md,
                               const unsigned char *data, size_t len, unsigned char **sig, size_t *sig_len,
                               dcpki_err *err)
{
    *sig = NULL;
    if (!id->token)
        return dcpki_err_set(err, DCPKI_E_INTERNAL, "the RA key is not on a token (a local key signs through its signer)");
    return dcpki_ra_token_sign(id->token, id->verifier, scheme, md_of(scheme, md), data, len, sig, sig_len, err);
}
const char *dcpki_identity_cert_source(const dcpki_identity *id) { return id ? id->cert_src : NULL; }
const char *dcpki_identity_key_source(const dcpki_identity *id) { return id ? id->key_src : NULL; }
EVP_PKEY *dcpki_identity_public_key(const dcpki_identity *id) { return id ? id->pub : NULL; }
const dcpki_prepared_key *dcpki_identity_signing_key(const dcpki_identity *id)
{
    return id ? id->signing_key : NULL;
}

/* After load: the local key goes into the signature provider once
 * (dcpki/ossl.h) and the EVP_PKEY is freed (its private numbers wiped), so
 * one copy of the key stays in this process's memory whoever signs with it. */
static dcpki_code keep_one_copy(dcpki_identity *id, OSSL_LIB_CTX *libctx, dcpki_err *err)
{
    if (!(id->pub = dcpki_cert_pubkey(libctx, id->cert)))
        return dcpki_err_set(err, DCPKI_E_UNSUPPORTED,
                             "the RA certificate's public key cannot be read by this OpenSSL (RSA or EC keys)");
    if (!id->key)
        return (id->verifier = dcpki_prepared_key_new(libctx, id->pub, 0))
                   ? DCPKI_OK
                   : dcpki_err_set(err, DCPKI_E_UNSUPPORTED,
                                   "the RA certificate's public key cannot verify with this OpenSSL (RSA or EC keys)");
    if (!(id->signing_key = dcpki_prepared_key_new(libctx, id->key, 1)))
        return dcpki_err_set(err, DCPKI_E_UNSUPPORTED, "the RA key cannot sign with this OpenSSL (RSA or EC keys)");
    EVP_PKEY_free(id->key);
    id->key = NULL;
    return DCPKI_OK;
}

void dcpki_identity_thumbprint(const dcpki_identity *id, unsigned char out[DCPKI_THUMBPRINT_LEN])
{
    memcpy(out, id->tp, DCPKI_THUMBPRINT_LEN);
}

void dcpki_identity_tls_creds(const dcpki_identity *id, dcpki_tls_client_creds *out)
{
    memset(out, 0, sizeof(*out));
    if (!id)
        return;
    out->cert_path = id->tls_cert_path;
    out->cert_type = "PEM";
    out->key_path = id->tls_key_path;
    out->key_type = (id->tls_key_path && strncasecmp(id->tls_key_path, "pkcs11:", 7) == 0) ? NULL : "PEM";
    out->password = id->tls_password;
}

/* Certificate, chain and (unless key is NULL) the key as PKCS#8, as one PEM
 * text for curl. With encrypt the key is encrypted with AES-256 under a random
 * one-time password (kept in id->tls_password): for a file on a disk. A
 * memory file gets the key unencrypted: it never leaves this process's memory,
 * and encrypting would hand the key to an ENGINE the host may have made the
 * default for AES (EVP_CipherInit_ex consults it even for a fetched cipher). */
static dcpki_code tls_pem(dcpki_identity *id, EVP_PKEY *key, OSSL_LIB_CTX *libctx, int encrypt, BIO **out,
                          dcpki_err *err)
{
    BIO *b = BIO_new(BIO_s_secmem());
    int ok = b != NULL && PEM_write_bio_X509(b, id->cert);
    for (int i = 0; ok && id->chain && i < sk_X509_num(id->chain); i++)
        ok = PEM_write_bio_X509(b, sk_X509_value(id->chain, i));
    if (ok && key && !encrypt)
        ok = PEM_write_bio_PrivateKey(b, key, NULL, NULL, 0, NULL, NULL);
    if (ok && key && encrypt) {
        unsigned char rnd[24];
        char pass[2 * sizeof(rnd) + 1];
        ok = RAND_bytes_ex(libctx, rnd, sizeof(rnd), 0) == 1;
        if (ok) {
            dcpki_hex_lower(rnd, sizeof rnd, pass);
            EVP_CIPHER *aes = EVP_CIPHER_fetch(libctx, "AES-256-CBC", NULL);
            ok = aes != NULL &&
                 PEM_write_bio_PKCS8PrivateKey(b, key, aes, pass, (int)strlen(pass), NULL, NULL);
            EVP_CIPHER_free(aes);
        }
        if (ok)
            ok = (id->tls_password = dcpki_secret_strdup(pass)) != NULL;
        OPENSSL_cleanse(rnd, sizeof(rnd));
        OPENSSL_cleanse(pass, sizeof(pass));
    }
    ERR_clear_error();
    if (!ok) {
        BIO_free(b);
        return dcpki_err_set(err, DCPKI_E_INTERNAL, "OpenSSL could not encode the RA certificate and key for TLS");
    }
    *out = b;
    return DCPKI_OK;
}

/* Fallback where memory files are unavailable: a private temporary file
 * (0600 under $TMPDIR or /tmp), removed by dcpki_identity_free. */
static dcpki_code write_tls_file(dcpki_identity *id, const char *data, size_t len, dcpki_err *err)
{
    const char *dir = getenv("TMPDIR");
    if (!dir || !*dir)
        dir = "/tmp";
    char *path = dcpki_strfmt("%s/dcpki-ra-XXXXXX", dir);
    if (!path)
        return dcpki_err_set(err, DCPKI_E_NOMEM, "preparing the TLS credentials");
    mode_t old = umask(077);
    int fd = mkstemp(path);
    umask(old);
    char eb[128];
    if (fd < 0) {
        dcpki_code rc = dcpki_err_set(err, DCPKI_E_IO, "cannot create a temporary file in %s: %s", dir,
                                      dcpki_strerror(errno, eb, sizeof(eb)));
        free(path);
        return rc;
    }
    id->tmp_path = path;
    id->tmp_owner = getpid();
    int w = dcpki_write_all(fd, data, len);
    int e = errno;
    if (close(fd) != 0 && w == 0) {
        w = -1;
        e = errno;
    }
    if (w != 0)
        return dcpki_err_set(err, DCPKI_E_IO, "cannot write the temporary TLS credentials file %s: %s", path,
                             dcpki_strerror(e, eb, sizeof(eb)));
    return DCPKI_OK;
}

/* Give curl the identity: in a memory file (memfile.c) when the system has
 * them, else the configured PEM files when curl can read them as they are,
 * else a temporary file. key_uri is the pkcs11: URI of a token key, or NULL. */
static dcpki_code make_tls_creds(dcpki_identity *id, OSSL_LIB_CTX *libctx, const char *key_uri,
                                 const char *cert_file, const char *key_file, int files_usable, dcpki_err *err)
{
    EVP_PKEY *key = key_uri ? NULL : id->key;
    BIO *b = NULL;
    char *data = NULL;
    const char *creds = NULL;
    dcpki_code rc = tls_pem(id, key, libctx, 0, &b, err);
    if (rc != DCPKI_OK)
        return rc;
    long len = BIO_get_mem_data(b, &data);
    dcpki_err merr;
    dcpki_err_clear(&merr);
    rc = dcpki_memfile_new("dcpki-ra-identity", data, (size_t)len, &id->mem, &merr);
    BIO_free(b);
    b = NULL;
    if (rc == DCPKI_OK) {
        creds = dcpki_memfile_path(id->mem);
    } else if (rc == DCPKI_E_UNSUPPORTED && files_usable) {
        DCPKI_DEBUG("RA identity: %s; curl reads %s", merr.detail, cert_file);
        rc = DCPKI_OK;
    } else if (rc == DCPKI_E_UNSUPPORTED) {
        DCPKI_DEBUG("RA identity: %s; using a temporary file", merr.detail);
        rc = tls_pem(id, key, libctx, 1, &b, err);
        if (rc == DCPKI_OK) {
            len = BIO_get_mem_data(b, &data);
            rc = write_tls_file(id, data, (size_t)len, err);
            creds = id->tmp_path;
        }
        BIO_free(b);
    } else if (err) {
        *err = merr;
    }
    if (rc != DCPKI_OK)
        return rc;
    id->tls_cert_path = strdup(creds ? creds : cert_file);
    id->tls_key_path = strdup(key_uri ? key_uri : creds ? creds : key_file);
    if (!id->tls_cert_path || !id->tls_key_path)
        return dcpki_err_set(err, DCPKI_E_NOMEM, "loading the RA identity");
    return DCPKI_OK;
}

static int is_pkcs11_uri(const char *s) { return s && strncasecmp(s, "pkcs11:", 7) == 0; }

static dcpki_code check_thumbprint(const dcpki_config *cfg, dcpki_identity *id, const char *where,
                                   dcpki_err *err)
{
    if (!cfg->ra.certificate_thumbprint)
        return DCPKI_OK;
    unsigned char want[DCPKI_THUMBPRINT_LEN];
    dcpki_code rc = dcpki_thumbprint_parse(cfg->ra.certificate_thumbprint, want, err);
    if (rc != DCPKI_OK)
        return rc;
    if (memcmp(want, id->tp, sizeof(want)) != 0) {
        char have[41];
        dcpki_thumbprint_format(id->tp, have);
        return dcpki_err_set(err, DCPKI_E_RA_CERT_NOT_FOUND,
                             "the certificate in %s has thumbprint %s, not [ra] certificate_thumbprint %s",
                             where, have, cfg->ra.certificate_thumbprint);
    }
    return DCPKI_OK;
}

/* Pick the certificate of a parsed file: by thumbprint when wanted, else the
 * first. Returns its index or -1. */
static int pick_cert(struct parsed *p, const unsigned char *want, OSSL_LIB_CTX *libctx)
{
    for (int i = 0; i < sk_X509_num(p->certs); i++) {
        if (!want)
            return i;
        unsigned char tp[DCPKI_THUMBPRINT_LEN];
        if (dcpki_thumbprint_of(sk_X509_value(p->certs, i), libctx, tp) == 0 && memcmp(tp, want, sizeof(tp)) == 0)
            return i;
    }
    return -1;
}

static dcpki_code key_file_error(const char *path, int e, dcpki_err *err)
{
    char eb[128];
    if (e == ENOENT)
        return dcpki_err_set(err, DCPKI_E_RA_KEY_UNREADABLE, "the key file %s does not exist", path);
    return dcpki_err_set(err, DCPKI_E_RA_KEY_UNREADABLE, "cannot read the key file %s: %s", path,
                         dcpki_strerror(e, eb, sizeof(eb)));
}

/* A pkcs11: URI for messages: the value of pin-value (RFC 7512 §2.3) is hidden. */
static char *uri_without_pin(const char *uri)
{
    size_t n = strlen(uri);
    /* each pin-value= (11 bytes) gains at most the 8 of "(hidden)" */
    char *out = malloc(2 * n + 16);
    if (!out)
        return NULL;
    size_t o = 0;
    for (size_t i = 0; i < n;) {
        if ((uri[i] == ';' || uri[i] == '?' || uri[i] == '&') && strncasecmp(uri + i + 1, "pin-value=", 10) == 0) {
            memcpy(out + o, uri + i, 11);
            o += 11;
            memcpy(out + o, "(hidden)", 8);
            o += 8;
            i += 11;
            while (i < n && uri[i] != ';' && uri[i] != '?' && uri[i] != '&')
                i++;
        } else {
            out[o++] = uri[i++];
        }
    }
    out[o] = '\0';
    return out;
}

/* Finish an identity whose cert (and key, or pkcs11 URI) are set. */
static dcpki_code finish(dcpki_identity *id, const dcpki_config *cfg, OSSL_LIB_CTX *libctx,
                         const char *cert_file, int cert_file_usable, const char *key_file,
                         int key_file_usable, dcpki_err *err)
{
    if (dcpki_thumbprint_of(id->cert, libctx, id->tp) != 0)
        return dcpki_err_set(err, DCPKI_E_INTERNAL, "cannot compute the SHA-1 thumbprint of %s", cert_file);
    char tps[41];
    dcpki_thumbprint_format(id->tp, tps);
    if (id->key && !key_matches(id->cert, id->key))
        return dcpki_err_set(err, DCPKI_E_RA_KEY_MISMATCH,
                             "the key in %s does not belong to the certificate in %s (thumbprint %s)",
                             key_file ? key_file : cert_file, cert_file, tps);
    id->cert_src = strdup(cert_file);
    id->key_src = is_pkcs11_uri(key_file) ? uri_without_pin(key_file) : strdup(key_file ? key_file : cert_file);
    if (!id->cert_src || !id->key_src)
        return dcpki_err_set(err, DCPKI_E_NOMEM, "loading the RA identity");
    int pkcs11 = is_pkcs11_uri(key_file);
    if (pkcs11) {
        dcpki_code trc = dcpki_ra_token_new(key_file, &id->token, err);
        if (trc != DCPKI_OK)
            return trc;
    }
    dcpki_code rc = make_tls_creds(id, libctx, pkcs11 ? key_file : NULL, cert_file, key_file,
                                   cert_file_usable && (pkcs11 || key_file_usable), err);
    if (rc != DCPKI_OK)
        return rc;
    DCPKI_DEBUG("RA identity: certificate %s (thumbprint %s), key %s", cert_file, tps,
                is_pkcs11_uri(key_file) ? "on a PKCS#11 token" : key_file ? key_file : cert_file);
    return DCPKI_OK;
}

static dcpki_code load_files(const dcpki_config *cfg, OSSL_LIB_CTX *libctx, dcpki_identity *id,
                             dcpki_err *err)
{
    const char *cf = cfg->ra.certificate, *kf = cfg->ra.key;
    char eb[128];
    if (!cf)
        return dcpki_err_set(err, DCPKI_E_CONFIG_INCOMPLETE,
                             "[ra] key is set but [ra] certificate is not (in %s)", cfg->path);
    struct parsed pc, pk;
    memset(&pk, 0, sizeof(pk));
    int e = parse_file(cf, libctx, &pc);
    if (e != 0) {
        if (e < 0)
            return dcpki_err_set(err, DCPKI_E_NOMEM, "reading %s", cf);
        if (e == ENOENT)
            return dcpki_err_set(err, DCPKI_E_RA_CERT_NOT_FOUND, "the file %s ([ra] certificate) does not exist", cf);
        return dcpki_err_set(err, DCPKI_E_RA_CERT_NOT_FOUND, "cannot read %s ([ra] certificate): %s", cf,
                             dcpki_strerror(e, eb, sizeof(eb)));
    }
    dcpki_code rc = DCPKI_OK;
    unsigned char want[DCPKI_THUMBPRINT_LEN];
    int have_want = cfg->ra.certificate_thumbprint &&
                    dcpki_thumbprint_parse(cfg->ra.certificate_thumbprint, want, NULL) == DCPKI_OK;
    int idx = sk_X509_num(pc.certs) > 0 ? pick_cert(&pc, have_want ? want : NULL, libctx) : -1;
    if (sk_X509_num(pc.certs) == 0) {
        rc = dcpki_err_set(err, DCPKI_E_RA_CERT_NOT_FOUND, "%s ([ra] certificate) holds no certificate", cf);
        goto out;
    }
    if (idx < 0) {
        unsigned char tp[DCPKI_THUMBPRINT_LEN];
        char have[41] = "?";
        if (dcpki_thumbprint_of(sk_X509_value(pc.certs, 0), libctx, tp) == 0)
            dcpki_thumbprint_format(tp, have);
        rc = dcpki_err_set(err, DCPKI_E_RA_CERT_NOT_FOUND,
                           "the certificate in %s has thumbprint %s, not [ra] certificate_thumbprint %s", cf,
                           have, cfg->ra.certificate_thumbprint);
        goto out;
    }
    id->cert = sk_X509_value(pc.certs, idx);
    X509_up_ref(id->cert);
    int cert_usable = pc.pem && idx == 0;

    if (is_pkcs11_uri(kf)) {
        rc = finish(id, cfg, libctx, cf, cert_usable, kf, 0, err);
        goto out;
    }
    int key_usable;
    const char *key_src;
    if (kf && strcmp(kf, cf) != 0) {
        e = parse_file(kf, libctx, &pk);
        if (e != 0) {
            rc = e < 0 ? dcpki_err_set(err, DCPKI_E_NOMEM, "reading %s", kf) : key_file_error(kf, e, err);
            goto out;
        }
        if (!pk.key) {
            rc = dcpki_err_set(err, DCPKI_E_RA_KEY_UNREADABLE,
                               pk.key_encrypted ? "%s ([ra] key) is encrypted; give an unencrypted key file readable only by this service, or a PKCS#12 file with pkcs12_password_file"
                                                : "%s ([ra] key) holds no private key that OpenSSL can read",
                               kf);
            goto out;
        }
        id->key = pk.key;
        pk.key = NULL;
        key_usable = pk.pem;
        key_src = kf;
    } else {
        if (!pc.key) {
            rc = dcpki_err_set(err, DCPKI_E_RA_KEY_UNREADABLE,
                               pc.key_encrypted ? "the key in %s is encrypted; give an unencrypted key file or a PKCS#12 file with pkcs12_password_file"
                                                : "[ra] key is not set and %s holds no private key",
                               cf);
            goto out;
        }
        id->key = pc.key;
        pc.key = NULL;
        key_usable = pc.pem;
        key_src = cf;
    }
    rc = finish(id, cfg, libctx, cf, cert_usable, key_src, key_usable, err);
out:
    parsed_free(&pc);
    parsed_free(&pk);
    return rc;
}

static dcpki_code load_pkcs12(const dcpki_config *cfg, OSSL_LIB_CTX *libctx, dcpki_identity *id,
                              dcpki_err *err)
{
    const char *path = cfg->ra.pkcs12;
    /* "[ra] pkcs12" or "SM_CLIENT_CERT_FILE", and the same for the password */
    const char *from = dcpki_config_origin(cfg, DCPKI_CI_RA_PKCS12);
    const char *pass_from = dcpki_config_origin(cfg, DCPKI_CI_RA_PKCS12_PASSWORD);
    /* what to set when the file needs a password and none was given */
    const char *pass_set = (cfg->from_env & (1u << DCPKI_CI_RA_PKCS12)) ? "SM_CLIENT_CERT_PASSWORD"
                                                                          : "[ra] pkcs12_password_file";
    char eb[128];
    unsigned char *data = NULL;
    size_t len = 0;
    if (dcpki_read_file(path, MAX_FILE, &data, &len) != 0) {
        int e = errno;
        if (e == ENOENT)
            return dcpki_err_set(err, DCPKI_E_RA_CERT_NOT_FOUND, "the file %s (%s) does not exist", path, from);
        return dcpki_err_set(err, DCPKI_E_RA_CERT_NOT_FOUND, "cannot read %s (%s): %s", path, from,
                             dcpki_strerror(e, eb, sizeof(eb)));
    }
    char *pass = NULL;
    dcpki_code rc = DCPKI_OK;
    PKCS12 *p12 = NULL;
    EVP_PKEY *pkey = NULL;
    X509 *cert = NULL;
    STACK_OF(X509) *ca = NULL;
    if (cfg->ra.pkcs12_password) {
        if (!(pass = dcpki_secret_strdup(cfg->ra.pkcs12_password))) {
            rc = dcpki_err_set(err, DCPKI_E_NOMEM, "reading %s", pass_from);
            goto out;
        }
    } else if (cfg->ra.pkcs12_password_file) {
        dcpki_err perr;
        if (dcpki_read_secret_file(cfg->ra.pkcs12_password_file, &pass, &perr) != DCPKI_OK) {
            rc = dcpki_err_set(err, DCPKI_E_RA_KEY_UNREADABLE, "[ra] pkcs12_password_file: %.400s", perr.detail);
            goto out;
        }
    }
    const unsigned char *p = data;
    p12 = d2i_PKCS12(NULL, &p, (long)len);
    if (!p12) {
        rc = dcpki_err_set(err, DCPKI_E_RA_CERT_NOT_FOUND, "%s (%s) is not a PKCS#12 file", path, from);
        goto out;
    }
    if (PKCS12_mac_present(p12)) {
        int ok;
        if (pass)
            ok = PKCS12_verify_mac(p12, pass, -1);
        else
            ok = PKCS12_verify_mac(p12, NULL, 0) || PKCS12_verify_mac(p12, "", 0);
        if (!ok) {
            if (pass)
                rc = dcpki_err_set(err, DCPKI_E_RA_KEY_UNREADABLE, "wrong password for %s (check %s)", path,
                                   pass_from);
            else
                rc = dcpki_err_set(err, DCPKI_E_RA_KEY_UNREADABLE, "%s is protected by a password: set %s", path,
                                   pass_set);
            goto out;
        }
    }
    if (!PKCS12_parse(p12, pass ? pass : "", &pkey, &cert, &ca)) {
        unsigned long ecode = ERR_peek_last_error();
        const char *reason = ecode ? ERR_reason_error_string(ecode) : NULL;
        rc = dcpki_err_set(err, DCPKI_E_RA_KEY_UNREADABLE,
                           "cannot decrypt %s: %s (a file made with legacy RC2/3DES encryption must be re-exported with AES)",
                           path, reason ? reason : "unknown error");
        goto out;
    }
    if (!cert) {
        rc = dcpki_err_set(err, DCPKI_E_RA_CERT_NOT_FOUND, "%s (%s) holds no certificate for its key", path, from);
        goto out;
    }
    if (!pkey) {
        rc = dcpki_err_set(err, DCPKI_E_RA_KEY_UNREADABLE, "%s (%s) holds no private key", path, from);
        goto out;
    }
    /* move key and certificate into libctx */
    {
        unsigned char *der = NULL;
        int n = i2d_X509(cert, &der);
        id->cert = n > 0 ? cert_from_der(der, n, libctx) : NULL;
        OPENSSL_free(der);
        der = NULL;
        n = i2d_PrivateKey(pkey, &der);
        id->key = n > 0 ? key_from_der(der, n, libctx) : NULL;
        if (der) {
            OPENSSL_cleanse(der, (size_t)n);
            OPENSSL_free(der);
        }
        if (!id->cert || !id->key) {
            rc = dcpki_err_set(err, DCPKI_E_RA_KEY_UNREADABLE, "cannot use the key or certificate of %s", path);
            goto out;
        }
    }
    id->chain = ca;
    ca = NULL;
    rc = finish(id, cfg, libctx, path, 0, path, 0, err);
    if (rc == DCPKI_OK)
        rc = check_thumbprint(cfg, id, path, err);
out:
    ERR_clear_error();
    sk_X509_pop_free(ca, X509_free);
    X509_free(cert);
    EVP_PKEY_free(pkey);
    PKCS12_free(p12);
    dcpki_secret_free(pass);
    OPENSSL_cleanse(data, len);
    free(data);
    return rc;
}

static int has_ext(const char *name, const char *const *exts)
{
    const char *dot = strrchr(name, '.');
    if (!dot)
        return 0;
    for (; *exts; exts++)
        if (strcasecmp(dot + 1, *exts) == 0)
            return 1;
    return 0;
}

static dcpki_code load_store(const dcpki_config *cfg, OSSL_LIB_CTX *libctx, dcpki_identity *id,
                             dcpki_err *err)
{
    static const char *const cert_exts[] = { "pem", "crt", "cer", "der", NULL };
    static const char *const key_exts[] = { "key", NULL };
    const char *dir = cfg->ra.store;
    char eb[128];
    if (!cfg->ra.certificate_thumbprint)
        return dcpki_err_set(err, DCPKI_E_CONFIG_INCOMPLETE,
                             "[ra] store is set but [ra] certificate_thumbprint is not (in %s)", cfg->path);
    unsigned char want[DCPKI_THUMBPRINT_LEN];
    dcpki_code rc = dcpki_thumbprint_parse(cfg->ra.certificate_thumbprint, want, err);
    if (rc != DCPKI_OK)
        return rc;
    struct dirent **ents = NULL;
    int n = scandir(dir, &ents, NULL, alphasort);
    if (n < 0) {
        int e = errno;
        if (e == ENOENT)
            return dcpki_err_set(err, DCPKI_E_RA_CERT_NOT_FOUND, "the store directory %s ([ra] store) does not exist",
                                 dir);
        return dcpki_err_set(err, DCPKI_E_RA_CERT_NOT_FOUND, "cannot open the store directory %s: %s", dir,
                             dcpki_strerror(e, eb, sizeof(eb)));
    }
    struct parsed found;
    memset(&found, 0, sizeof(found));
    char *found_path = NULL;
    int found_idx = -1, n_certs = 0, n_files = 0, unreadable_errno = 0;
    char *unreadable_path = NULL;
    for (int i = 0; i < n && found_idx < 0; i++) {
        if (ents[i]->d_name[0] == '.' || !has_ext(ents[i]->d_name, cert_exts))
            continue;
        char *path = dcpki_strfmt("%s/%s", dir, ents[i]->d_name);
        struct parsed p;
        memset(&p, 0, sizeof(p));
        int pe = path ? parse_file(path, libctx, &p) : -1;
        if (pe != 0) {
            if (pe > 0 && !unreadable_errno) {
                unreadable_errno = pe;
                unreadable_path = path;
                path = NULL;
            }
            free(path);
            parsed_free(&p);
            continue;
        }
        n_files++;
        n_certs += sk_X509_num(p.certs);
        int idx = pick_cert(&p, want, libctx);
        if (idx >= 0) {
            found = p;
            found_idx = idx;
            found_path = path;
        } else {
            parsed_free(&p);
            free(path);
        }
    }
    struct parsed pk;
    memset(&pk, 0, sizeof(pk));
    char *key_path = NULL;
    if (found_idx < 0) {
        if (unreadable_errno)
            rc = dcpki_err_set(err, DCPKI_E_RA_CERT_NOT_FOUND,
                               "no certificate in %s has thumbprint %s (%d certificates in %d files examined; cannot read %s: %s)",
                               dir, cfg->ra.certificate_thumbprint, n_certs, n_files, unreadable_path,
                               dcpki_strerror(unreadable_errno, eb, sizeof(eb)));
        else
            rc = dcpki_err_set(err, DCPKI_E_RA_CERT_NOT_FOUND,
                               "no certificate in %s has thumbprint %s (%d certificates in %d files examined)", dir,
                               cfg->ra.certificate_thumbprint, n_certs, n_files);
        goto out;
    }
    id->cert = sk_X509_value(found.certs, found_idx);
    X509_up_ref(id->cert);
    int cert_usable = found.pem && found_idx == 0;
    int key_usable = 0;
    char tps[41];
    dcpki_thumbprint_format(want, tps);

    /* 1. BASE.key */
    const char *dot = strrchr(found_path, '.');
    key_path = dcpki_strfmt("%.*s.key", (int)(dot - found_path), found_path);
    if (!key_path) {
        rc = dcpki_err_set(err, DCPKI_E_NOMEM, "reading %s", dir);
        goto out;
    }
    int e = parse_file(key_path, libctx, &pk);
    if (e == 0) {
        if (!pk.key) {
            rc = dcpki_err_set(err, DCPKI_E_RA_KEY_UNREADABLE,
                               pk.key_encrypted ? "%s is encrypted; store an unencrypted key readable only by this service"
                                                : "%s holds no private key that OpenSSL can read",
                               key_path);
            goto out;
        }
        if (!key_matches(id->cert, pk.key)) {
            rc = dcpki_err_set(err, DCPKI_E_RA_KEY_MISMATCH, "the key in %s does not belong to the certificate %s (thumbprint %s)",
                               key_path, found_path, tps);
            goto out;
        }
        id->key = pk.key;
        pk.key = NULL;
        key_usable = pk.pem;
    } else if (e != ENOENT) {
        rc = e < 0 ? dcpki_err_set(err, DCPKI_E_NOMEM, "reading %s", key_path) : key_file_error(key_path, e, err);
        goto out;
    } else if (found.key) {
        /* 2. the same PEM file */
        if (!key_matches(id->cert, found.key)) {
            rc = dcpki_err_set(err, DCPKI_E_RA_KEY_MISMATCH, "the key in %s does not belong to its certificate (thumbprint %s)",
                               found_path, tps);
            goto out;
        }
        id->key = found.key;
        found.key = NULL;
        free(key_path);
        key_path = strdup(found_path);
        key_usable = found.pem;
    } else {
        /* 3. any *.key file whose public key matches */
        free(key_path);
        key_path = NULL;
        int first_errno = 0;
        char *first_err_path = NULL;
        for (int i = 0; i < n && !id->key; i++) {
            if (ents[i]->d_name[0] == '.' || !has_ext(ents[i]->d_name, key_exts))
                continue;
            char *path = dcpki_strfmt("%s/%s", dir, ents[i]->d_name);
            if (!path)
                continue;
            struct parsed p;
            int pe = parse_file(path, libctx, &p);
            if (pe > 0 && !first_errno) {
                first_errno = pe;
                first_err_path = strdup(path);
            }
            if (pe == 0 && p.key && key_matches(id->cert, p.key)) {
                id->key = p.key;
                p.key = NULL;
                key_usable = p.pem;
                key_path = path;
                path = NULL;
            }
            parsed_free(&p);
            free(path);
        }
        if (!id->key) {
            if (first_errno)
                rc = key_file_error(first_err_path ? first_err_path : dir, first_errno, err);
            else
                rc = dcpki_err_set(err, DCPKI_E_RA_KEY_UNREADABLE,
                                   "no private key for the certificate %s (thumbprint %s) in %s: looked for %.*s.key, a key in the same file and every *.key file",
                                   found_path, tps, dir, (int)(dot - found_path), found_path);
            free(first_err_path);
            goto out;
        }
        free(first_err_path);
    }
    rc = finish(id, cfg, libctx, found_path, cert_usable, key_path, key_usable, err);
out:
    parsed_free(&found);
    parsed_free(&pk);
    free(unreadable_path);
    free(found_path);
    free(key_path);
    for (int i = 0; i < n; i++)
        free(ents[i]);
    free(ents);
    return rc;
}

dcpki_code dcpki_identity_load(const dcpki_config *cfg, OSSL_LIB_CTX *libctx, dcpki_identity **out,
                               dcpki_err *err)
{
    *out = NULL;
    if (!cfg)
        return dcpki_err_set(err, DCPKI_E_INVALID_ARGUMENT, "no configuration");
    int files = cfg->ra.certificate || cfg->ra.key;
    int p12 = cfg->ra.pkcs12 != NULL;
    int store = cfg->ra.store != NULL;
    if (files + p12 + store == 0)
        return dcpki_err_set(err, DCPKI_E_CONFIG_INCOMPLETE,
                             "[ra] in %s names no RA identity: set certificate and key, or pkcs12 (and pkcs12_password_file), or store and certificate_thumbprint",
                             cfg->path ? cfg->path : "the configuration");
    if (files + p12 + store > 1)
        return dcpki_err_set(err, DCPKI_E_CONFIG_BAD_VALUE,
                             "[ra] in %s names the RA identity in more than one way: use only one of certificate/key, pkcs12, store",
                             cfg->path ? cfg->path : "the configuration");
    if (cfg->ra.pkcs12_password_file && !p12)
        return dcpki_err_set(err, DCPKI_E_CONFIG_BAD_VALUE,
                             "[ra] pkcs12_password_file is set without [ra] pkcs12 (in %s)",
                             cfg->path ? cfg->path : "the configuration");
    dcpki_identity *id = calloc(1, sizeof(*id));
    if (!id)
        return dcpki_err_set(err, DCPKI_E_NOMEM, "loading the RA identity");
    dcpki_code rc;
    if (p12)
        rc = load_pkcs12(cfg, libctx, id, err);
    else if (store)
        rc = load_store(cfg, libctx, id, err);
    else {
        rc = load_files(cfg, libctx, id, err);
        if (rc == DCPKI_OK)
            rc = check_thumbprint(cfg, id, cfg->ra.certificate, err);
    }
    if (rc == DCPKI_OK)
        rc = keep_one_copy(id, libctx, err);
    ERR_clear_error();
    if (rc != DCPKI_OK) {
        dcpki_identity_free(id);
        return rc;
    }
    *out = id;
    return DCPKI_OK;
}
