/* Key reference files: a PEM block labelled "DCPKI KEY REFERENCE" whose body is
 * the DER of  DcpkiKeyReference ::= SEQUENCE { version INTEGER (1), uri UTF8String }
 * holding a dcpki: URI, never key material. */
#ifndef DCPKI_KEYREF_H
#define DCPKI_KEYREF_H
#include <stddef.h>
#include "dcpki/error.h"

#define DCPKI_KEYREF_PEM_LABEL "DCPKI KEY REFERENCE"

/* DER body <-> URI. *out_uri is malloc'ed (free()); *der with OPENSSL_free. */
dcpki_code dcpki_keyref_encode_der(const char *uri, unsigned char **der, size_t *der_len,
                                   dcpki_err *err);
dcpki_code dcpki_keyref_decode_der(const unsigned char *der, size_t der_len, char **out_uri,
                                   dcpki_err *err);
/* Whole PEM text (malloc'ed, NUL-terminated). */
dcpki_code dcpki_keyref_pem(const char *uri, char **pem, dcpki_err *err);
/* The URI of a PEM key reference (label DCPKI_KEYREF_PEM_LABEL, no headers).
 * *out_uri is malloc'ed (free()). */
dcpki_code dcpki_keyref_parse_pem(const char *pem, size_t len, char **out_uri, dcpki_err *err);

#endif
