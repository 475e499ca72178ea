/* SHA-1 certificate thumbprints as Windows shows them (BRIEF §1): 40 hex digits,
 * upper or lower case; spaces, colons and the invisible U+200E/U+200F/U+FEFF
 * marks that copying from the Windows certificate dialog adds are tolerated. */
#ifndef DCPKI_THUMBPRINT_H
#define DCPKI_THUMBPRINT_H
#include <openssl/types.h>
#include "dcpki/error.h"

#define DCPKI_THUMBPRINT_LEN 20

dcpki_code dcpki_thumbprint_parse(const char *s, unsigned char out[DCPKI_THUMBPRINT_LEN],
                                  dcpki_err *err);
/* 40 upper-case hex digits + NUL. */
void dcpki_thumbprint_format(const unsigned char tp[DCPKI_THUMBPRINT_LEN], char out[41]);
/* The SHA-1 thumbprint of a certificate (of its DER), hashed in libctx (NULL:
 * the default one). Returns 0, or -1. */
int dcpki_thumbprint_of(const X509 *x, OSSL_LIB_CTX *libctx, unsigned char out[DCPKI_THUMBPRINT_LEN]);

#endif
