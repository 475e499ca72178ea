/* Key reference files: PEM "DCPKI KEY REFERENCE" around the DER of
 *   DcpkiKeyReference ::= SEQUENCE { version INTEGER (1), uri UTF8String }
 * The URI names a dcpki key; no key material is ever stored. */
#include "dcpki/keyref.h"
#include "dcpki/uri.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/asn1.h>
#include <openssl/asn1t.h>
#include <openssl/bio.h>
#include <openssl/pem.h>

typedef struct {
    ASN1_INTEGER *version;
    ASN1_UTF8STRING *uri;
} DCPKI_KEYREF;

ASN1_SEQUENCE(DCPKI_KEYREF) = {
    ASN1_SIMPLE(DCPKI_KEYREF, version, ASN1_INTEGER),
    ASN1_SIMPLE(DCPKI_KEYREF, uri, ASN1_UTF8STRING),
} static_ASN1_SEQUENCE_END(DCPKI_KEYREF)

#define KEYREF_ITEM ASN1_ITEM_rptr(DCPKI_KEYREF)
#define KEYREF_MAX_DER 8192

dcpki_code dcpki_keyref_encode_der(const char *uri, unsigned char **der, size_t *der_len,
                                   dcpki_err *err)
{
    *der = NULL;
    *der_len = 0;
    dcpki_uri u;
    dcpki_code rc = dcpki_uri_parse(uri, &u, err);
    if (rc != DCPKI_OK)
        return rc;
    DCPKI_KEYREF *ref = (DCPKI_KEYREF *)ASN1_item_new(KEYREF_ITEM);
    if (!ref)
        return dcpki_err_set(err, DCPKI_E_NOMEM, "encoding a key reference");
    unsigned char *out = NULL;
    int n = -1;
    if (ASN1_INTEGER_set(ref->version, 1) == 1 &&
        ASN1_STRING_set(ref->uri, uri, (int)strlen(uri)) == 1)
        n = ASN1_item_i2d((ASN1_VALUE *)ref, &out, KEYREF_ITEM);
    ASN1_item_free((ASN1_VALUE *)ref, KEYREF_ITEM);
    if (n <= 0)
        return dcpki_err_set(err, DCPKI_E_NOMEM, "encoding a key reference");
    *der = out;
    *der_len = (size_t)n;
    return DCPKI_OK;
}

dcpki_code dcpki_keyref_decode_der(const unsigned char *der, size_t der_len, char **out_uri,
                                   dcpki_err *err)
{
    *out_uri = NULL;
    if (!der || der_len == 0 || der_len > KEYREF_MAX_DER)
        return dcpki_err_set(err, DCPKI_E_KEYREF, "the body is empty or larger than %d bytes",
                             KEYREF_MAX_DER);
    const unsigned char *p = der;
    DCPKI_KEYREF *ref = (DCPKI_KEYREF *)ASN1_item_d2i(NULL, &p, (long)der_len, KEYREF_ITEM);
    if (!ref)
        return dcpki_err_set(err, DCPKI_E_KEYREF,
                             "the body is not a DER SEQUENCE { version INTEGER, uri UTF8String }");
    dcpki_code rc = DCPKI_OK;
    int64_t version = 0;
    if (p != der + der_len) {
        rc = dcpki_err_set(err, DCPKI_E_KEYREF, "%zu bytes of garbage follow the reference",
                           (size_t)(der + der_len - p));
    } else if (ASN1_INTEGER_get_int64(&version, ref->version) != 1 || version != 1) {
        rc = dcpki_err_set(err, DCPKI_E_KEYREF, "unsupported version (expected 1)");
    } else {
        int n = ASN1_STRING_length(ref->uri);
        const unsigned char *d = ASN1_STRING_get0_data(ref->uri);
        if (n <= 0 || memchr(d, '\0', (size_t)n)) {
            rc = dcpki_err_set(err, DCPKI_E_KEYREF, "the URI is empty or contains a NUL byte");
        } else {
            char *s = malloc((size_t)n + 1);
            if (!s) {
                rc = dcpki_err_set(err, DCPKI_E_NOMEM, "decoding a key reference");
            } else {
                memcpy(s, d, (size_t)n);
                s[n] = '\0';
                dcpki_uri u;
                dcpki_err uerr;
                if (dcpki_uri_parse(s, &u, &uerr) != DCPKI_OK) {
                    rc = dcpki_err_set(err, DCPKI_E_KEYREF, "it holds a bad URI: %.400s", uerr.detail);
                    free(s);
                } else {
                    *out_uri = s;
                }
            }
        }
    }
    ASN1_item_free((ASN1_VALUE *)ref, KEYREF_ITEM);
    return rc;
}

dcpki_code dcpki_keyref_pem(const char *uri, char **pem, dcpki_err *err)
{
    *pem = NULL;
    unsigned char *der;
    size_t len;
    dcpki_code rc = dcpki_keyref_encode_der(uri, &der, &len, err);
    if (rc != DCPKI_OK)
        return rc;
    BIO *b = BIO_new(BIO_s_mem());
    rc = DCPKI_E_NOMEM;
    if (b && PEM_write_bio(b, DCPKI_KEYREF_PEM_LABEL, "", der, (long)len) > 0) {
        char *data;
        long n = BIO_get_mem_data(b, &data);
        char *s = n > 0 ? malloc((size_t)n + 1) : NULL;
        if (s) {
            memcpy(s, data, (size_t)n);
            s[n] = '\0';
            *pem = s;
            rc = DCPKI_OK;
        }
    }
    BIO_free(b);
    OPENSSL_free(der);
    if (rc != DCPKI_OK)
        return dcpki_err_set(err, DCPKI_E_NOMEM, "writing a key reference");
    return DCPKI_OK;
}

dcpki_code dcpki_keyref_parse_pem(const char *pem, size_t len, char **out_uri, dcpki_err *err)
{
    *out_uri = NULL;
    if (!pem || len == 0 || len > 4 * KEYREF_MAX_DER)
        return dcpki_err_set(err, DCPKI_E_KEYREF, "the file is empty or too large");
    BIO *b = BIO_new_mem_buf(pem, (int)len);
    if (!b)
        return dcpki_err_set(err, DCPKI_E_NOMEM, "reading a key reference");
    char *name = NULL, *header = NULL;
    unsigned char *data = NULL;
    long dlen = 0;
    dcpki_code rc;
    if (PEM_read_bio(b, &name, &header, &data, &dlen) != 1)
        rc = dcpki_err_set(err, DCPKI_E_KEYREF, "no PEM block found");
    else if (strcmp(name, DCPKI_KEYREF_PEM_LABEL) != 0)
        rc = dcpki_err_set(err, DCPKI_E_KEYREF, "the PEM label is '%.100s', not '%s'", name,
                           DCPKI_KEYREF_PEM_LABEL);
    else if (header && *header)
        rc = dcpki_err_set(err, DCPKI_E_KEYREF, "the PEM block has headers (it must have none)");
    else
        rc = dcpki_keyref_decode_der(data, (size_t)dlen, out_uri, err);
    OPENSSL_free(name);
    OPENSSL_free(header);
    OPENSSL_free(data);
    BIO_free(b);
    return rc;
}
