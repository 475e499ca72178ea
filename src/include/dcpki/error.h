/* dcpki error catalogue: one code per failure a user can meet, each with a
 * sentence (what failed) and a remedy (what to do). Every front end (CLI,
 * provider, PKCS#11 module) reports errors from this one table (BRIEF.md §6). */
#ifndef DCPKI_ERROR_H
#define DCPKI_ERROR_H
#include <stddef.h>

typedef enum dcpki_code {
    DCPKI_OK = 0,
    /* configuration */
    DCPKI_E_CONFIG_MISSING,      /* config file absent/unreadable */
    DCPKI_E_CONFIG_SYNTAX,       /* line is not [section] or key = value */
    DCPKI_E_CONFIG_UNKNOWN_KEY,  /* key or section not in DESIGN.md */
    DCPKI_E_CONFIG_BAD_VALUE,    /* value invalid for its key */
    DCPKI_E_CONFIG_INCOMPLETE,   /* a key needed for this operation is not set */
    /* URIs and references */
    DCPKI_E_URI,                 /* malformed dcpki: URI */
    DCPKI_E_KEYREF,              /* malformed key reference file */
    /* RA identity (BRIEF §1, §6 "unable to retrieve client certificate") */
    DCPKI_E_RA_CERT_NOT_FOUND,   /* no certificate (file missing / thumbprint matches none) */
    DCPKI_E_RA_KEY_UNREADABLE,   /* key file missing, no permission, wrong password */
    DCPKI_E_RA_KEY_MISMATCH,     /* key does not belong to the certificate */
    DCPKI_E_THUMBPRINT,          /* thumbprint is not 40 hex digits */
    /* transport (BRIEF §6 "operation timed out", "SSL/TLS secure channel") */
    DCPKI_E_TIMEOUT,
    DCPKI_E_CONNECT,             /* refused / host unreachable / DNS */
    DCPKI_E_TLS_SERVER_UNTRUSTED,/* server certificate not verified by [ca] trust, or wrong host name */
    DCPKI_E_TLS_CLIENT,          /* server refused our client certificate / key unusable in TLS */
    DCPKI_E_TLS,                 /* other TLS failure */
    DCPKI_E_HTTP,                /* unexpected HTTP status */
    /* remote service */
    DCPKI_E_API_KEY,             /* 401: API key refused or missing */
    DCPKI_E_ACCESS_DENIED,       /* 403 */
    DCPKI_E_KEY_NOT_FOUND,       /* no keypair with that alias */
    DCPKI_E_RATE_LIMITED,        /* 429 after retries */
    DCPKI_E_SERVICE_UNAVAILABLE, /* 5xx after retries */
    DCPKI_E_BAD_RESPONSE,        /* response not parseable / missing fields */
    DCPKI_E_BAD_SIGNATURE,       /* returned signature does not verify */
    DCPKI_E_UNSUPPORTED,         /* algorithm / operation not supported */
    DCPKI_E_INVALID_ARGUMENT,
    DCPKI_E_PRIVATE_EXPORT,      /* attempt to export a private key */
    DCPKI_E_IO,                  /* local file write/read failure */
    DCPKI_E_NOMEM,
    DCPKI_E_INTERNAL,
    /* profile enrollment (BRIEF §4, §6) */
    DCPKI_E_PROFILE_UNKNOWN,     /* "a request element is not understood" */
    DCPKI_E_POLICY_VIOLATION,    /* subject/SAN attribute not in the profile */
    DCPKI_E_BAD_HEX,             /* other-name value is not hex */
    DCPKI_E_NO_EMAIL_SOURCE,     /* no e-mail/UPN source for a SAN the profile needs */
    DCPKI_E_UPN_NAME,            /* UPN characters vs mail_firstName/mail_lastName */
    DCPKI_E_CA_REFUSED,          /* SOAP fault / negative successCode */
    DCPKI_E_PENDING,             /* request left pending by the CA */
    DCPKI_E_FILE_UNREADABLE,     /* a file dcpki reads (trust, API key, identity) is missing or not readable */
    DCPKI_E_CONNECTION_BROKEN,   /* the request was sent, then the connection broke: the outcome is unknown */
    DCPKI_E_STORE,               /* the store of issued certificates cannot be opened, read or written */
    DCPKI_E_STORE_KEY,           /* the store key is missing, unreadable, malformed or not this store's */
    DCPKI_E_AGENT,               /* the dcpki agent ([signing] agent) cannot be reached or refused this process */
    DCPKI_E__COUNT
} dcpki_code;

#define DCPKI_ERR_DETAIL_MAX 512

/* An error: the code plus a detail sentence with the specifics (file, line,
 * alias, HTTP status, server message). Never contains a secret. */
typedef struct dcpki_err {
    dcpki_code code;
    char detail[DCPKI_ERR_DETAIL_MAX];
} dcpki_err;

/* Stable short identifier, e.g. "timeout" (used in --json output and logs). */
const char *dcpki_code_id(dcpki_code c);
/* The code whose id is the len bytes at id; DCPKI_E_INTERNAL for none. */
dcpki_code dcpki_code_of_id(const char *id, size_t len);
/* What failed, one sentence without final period, e.g. "the operation has timed out". */
const char *dcpki_code_sentence(dcpki_code c);
/* What to do, one sentence. */
const char *dcpki_code_remedy(dcpki_code c);

/* Copy in to out (n bytes, always NUL-terminated, truncated if needed) with
 * every control character escaped: \n \r \t, other C0/C1 controls, DEL and
 * bytes that are not valid UTF-8 as \xNN. For untrusted text in messages.
 * Returns out. */
const char *dcpki_escape(const char *in, char *out, size_t n);
/* Set err (may be NULL) and return code. Detail is printf-formatted, then
 * escaped (dcpki_escape). */
dcpki_code dcpki_err_set(dcpki_err *err, dcpki_code code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void dcpki_err_clear(dcpki_err *err);
/* One line: "<sentence>: <detail> (<remedy>)" (detail omitted if empty).
 * Returns buf. */
const char *dcpki_err_format(const dcpki_err *err, char *buf, size_t n);

#endif
