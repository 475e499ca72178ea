/* dcpki: URIs (DESIGN.md "URIs and key reference files"):
 *   dcpki:ra            the RA key (and certificate)
 *   dcpki:key=ALIAS     a remote signing key
 *   ;type=private|public|cert may follow (RFC 7512 style); alias is
 *   percent-decoded; unknown attributes are errors. */
#ifndef DCPKI_URI_H
#define DCPKI_URI_H
#include "dcpki/error.h"

#define DCPKI_ALIAS_MAX 256

typedef enum { DCPKI_URI_RA = 1, DCPKI_URI_KEY = 2 } dcpki_uri_kind;
typedef enum {
    DCPKI_OBJ_ANY = 0, DCPKI_OBJ_PRIVATE, DCPKI_OBJ_PUBLIC, DCPKI_OBJ_CERT
} dcpki_obj_type;

typedef struct dcpki_uri {
    dcpki_uri_kind kind;
    char alias[DCPKI_ALIAS_MAX]; /* empty for DCPKI_URI_RA */
    dcpki_obj_type type;
} dcpki_uri;

dcpki_code dcpki_uri_parse(const char *s, dcpki_uri *out, dcpki_err *err);
/* Canonical text form (alias percent-encoded where needed). Returns the
 * length written, or -1 if n is too small. */
int dcpki_uri_format(const dcpki_uri *u, char *buf, size_t n);

#endif
