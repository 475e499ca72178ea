/* HTTPS transport: libcurl (GnuTLS flavour), mutual TLS with the RA identity,
 * server verified against [ca] trust (never skipped), deadline [ca] timeout_ms,
 * one connection/TLS-session cache per transport shared by all threads, so N
 * requests cost one handshake. Safe retries for idempotent requests (429/503,
 * Retry-After honoured) within the deadline. A forked child gets fresh
 * connections. Thread-safe. */
#ifndef DCPKI_TRANSPORT_H
#define DCPKI_TRANSPORT_H
#include <stddef.h>
#include "dcpki/config.h"
#include "dcpki/identity.h"

typedef struct dcpki_transport dcpki_transport;

typedef struct dcpki_http_response {
    long status;         /* HTTP status */
    char *body;          /* NUL-terminated, len bytes */
    size_t len;
    char *content_type;  /* may be NULL */
    int attempts;        /* requests made for this answer (1 = no retry) */
    int idempotent;      /* the request could be repeated */
    long retry_after_ms; /* the answer's Retry-After, -1 when absent */
    long timeout_ms;     /* the deadline the retries had to fit in */
} dcpki_http_response;

typedef struct dcpki_http_request {
    const char *method;          /* "GET", "POST" */
    const char *url;             /* absolute https URL */
    const char *const *headers;  /* NULL-terminated "Name: value" list, may be NULL */
    const char *body;            /* may be NULL */
    size_t body_len;
    int idempotent;              /* may be retried on 429/503/connection reset */
} dcpki_http_request;

/* id is borrowed and must outlive the transport. Global curl init is done
 * once, thread-safely, on first call. No network I/O here. */
dcpki_code dcpki_transport_new(const dcpki_config *cfg, const dcpki_identity *id,
                               dcpki_transport **out, dcpki_err *err);
void dcpki_transport_free(dcpki_transport *t);

/* Performs the request. Returns DCPKI_OK for any HTTP status (the caller maps
 * statuses); transport failures map to DCPKI_E_TIMEOUT, _CONNECT,
 * _TLS_SERVER_UNTRUSTED, _TLS_CLIENT, _TLS with curl's message as detail, or
 * to DCPKI_E_CONNECTION_BROKEN when the connection broke after the request
 * was written (the service may have acted: the outcome is unknown). Every
 * detail ends by saying whether the request was sent ("the request was sent;
 * the service may have acted on it") or not ("nothing was sent").
 * resp is filled on DCPKI_OK and must be released with dcpki_http_response_free. */
dcpki_code dcpki_transport_perform(dcpki_transport *t, const dcpki_http_request *req,
                                   dcpki_http_response *resp, dcpki_err *err);
void dcpki_http_response_free(dcpki_http_response *resp);

/* For an answer that asks to be retried (429, 502, 503, 504): what was done
 * about it, e.g. "the service asked to retry after 30 s, beyond the deadline of
 * 1000 ms; no retry was made" or "still after 3 attempts within the deadline of
 * 1000 ms". Returns buf. */
const char *dcpki_http_retry_note(const dcpki_http_response *r, char *buf, size_t n);

/* SHA-1 thumbprint of the RA certificate this transport presents: 0, or -1
 * when it presents none. */
int dcpki_transport_client_thumbprint(const dcpki_transport *t,
                                      unsigned char out[DCPKI_THUMBPRINT_LEN]);

/* Number of TLS handshakes/new connections made so far (tests, benchmarks). */
unsigned long dcpki_transport_connections(const dcpki_transport *t);

#endif
