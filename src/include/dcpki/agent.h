/* The dcpki agent: one long-lived process (dcpki agent, dcpki-agent.service)
 * holds the RA identity, the API key and kept-alive TLS connections to the
 * signing service. A process whose configuration sets [signing] agent sends
 * the signing service's requests to it over a Unix socket instead: it needs
 * neither the RA key nor the API key, and a fresh process signs without a TLS
 * handshake (two RSA private-key operations of the RA key in GnuTLS).
 *
 * What the agent forwards is fixed: GET keypairs (list and search), GET
 * keypairs/{id}, POST keypairs/{id}/sign. The client still verifies every
 * signature with the key's public key. Who may connect: root, the agent's
 * user and members of the agent's group (SO_PEERCRED and SO_PEERGROUPS,
 * unix(7)), on top of the socket's mode 0660; the client accepts an agent
 * running as root, as the client's own user, or as the only user who could
 * have put the socket where it is (the directory holding it is that user's,
 * and no directory on the way is writable by anyone else).
 *
 * Wire format (version 1), both ways: a frame is a 4-byte big-endian length
 * and that many bytes of fields, each a 4-byte big-endian length and its
 * bytes. Request: "1", "hello" | "http", then for http: method, path (under
 * the service's API base), body, "0" | "1" (idempotent). Answer: an error id
 * of the catalogue ("ok" on success) and its detail, then for hello: the API
 * base URL, the RA label, the agent's deadline in ms; for http: status,
 * content type, attempts, Retry-After in ms (-1: none), deadline in ms, body. */
#ifndef DCPKI_AGENT_H
#define DCPKI_AGENT_H
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include "dcpki/error.h"
#include "dcpki/transport.h"

typedef struct dcpki_agent_client dcpki_agent_client;

/* Connects to the agent at path and says hello (learns the service's base
 * URL, the RA label and the agent's deadline). DCPKI_E_AGENT when it cannot
 * be reached, refuses this process or is not trusted. */
dcpki_code dcpki_agent_client_new(const char *path, dcpki_agent_client **out, dcpki_err *err);
void dcpki_agent_client_free(dcpki_agent_client *c);
/* "<[signing] url>/signingmanager/api/v1/" and the RA label of the agent's
 * identity ("sha1:<thumbprint>"), as the agent said. */
const char *dcpki_agent_client_base(const dcpki_agent_client *c);
const char *dcpki_agent_client_label(const dcpki_agent_client *c);
const char *dcpki_agent_client_path(const dcpki_agent_client *c);
/* As dcpki_transport_perform for base + path, through the agent. Connections
 * are kept (up to 8 idle) and never shared with a forked child. The agent's
 * transport errors come back with their code, the detail naming the agent. */
dcpki_code dcpki_agent_perform(dcpki_agent_client *c, const char *method, const char *path, const char *body,
                               size_t body_len, int idempotent, dcpki_http_response *resp, dcpki_err *err);

/* The agent's side: forward performs an allowed request for the service;
 * body (body_len bytes) is not NUL-terminated. */
typedef dcpki_code (*dcpki_agent_forward_fn)(void *arg, const char *method, const char *path, const char *body,
                                             size_t body_len, int idempotent, dcpki_http_response *resp,
                                             dcpki_err *err);
typedef struct dcpki_agent_service {
    const char *socket_path; /* made anew (a stale socket is replaced, a live agent's is not) */
    const char *base;        /* sent in hello */
    const char *label;
    long timeout_ms;
    dcpki_agent_forward_fn forward;
    void *arg;
    void (*ready)(void);     /* called once the socket listens; may be NULL */
} dcpki_agent_service;
/* Serves until *stop is set (by a handler of SIGTERM or SIGINT), then stops
 * accepting, lets the requests in flight be answered and removes the socket.
 * Each time *report is set (may be NULL; by a handler of SIGUSR1) it is
 * cleared and one line is logged: the connections accepted and refused, the
 * requests forwarded and refused, and the process's CPU time (getrusage) so
 * far. SIGTERM, SIGINT and SIGUSR1 are blocked while serving except in the
 * wait for connections, so the handlers run in the calling thread. The socket
 * is made with mode 0660; socket_path.lock is held while serving, so a second
 * agent on the same socket fails. */
dcpki_code dcpki_agent_serve(const dcpki_agent_service *svc, volatile sig_atomic_t *stop,
                             volatile sig_atomic_t *report, dcpki_err *err);

/* NULL when the agent forwards method (NUL-terminated) on path (under the
 * API base) with a body of body_len bytes, else why not (agent_server.c;
 * the server and the tests). */
const char *dcpki_agent_refused(const char *method, const char *path, size_t body_len);

/* The wire format (agent_wire.c), for both sides and the tests. */
#define DCPKI_AGENT_MAX_FIELDS 12
#define DCPKI_AGENT_MAX_REQUEST (80 * 1024) /* a path of 2 KiB and a body of 64 KiB, and room */
#define DCPKI_AGENT_MAX_ANSWER (64 * 1024 * 1024)
typedef struct dcpki_agent_frame {
    unsigned char *buf; /* the frame as read (OPENSSL_free) */
    size_t nfields;
    const char *field[DCPKI_AGENT_MAX_FIELDS]; /* into buf, not NUL-terminated */
    size_t len[DCPKI_AGENT_MAX_FIELDS];
} dcpki_agent_frame;
/* Writes one frame of n fields before deadline_ms (dcpki_now_ms(); -1: no
 * deadline); 0, or -1 with errno set (ETIMEDOUT: the deadline passed). */
int dcpki_agent_write_frame(int fd, size_t n, const char *const *field, const size_t *len, int64_t deadline_ms);
/* Reads one frame of at most max bytes before deadline_ms: 1, 0 at end of
 * file before a frame, -1 with errno set (EPROTO: malformed or cut short,
 * EMSGSIZE: too long, ETIMEDOUT: the deadline passed). */
int dcpki_agent_read_frame(int fd, size_t max, int64_t deadline_ms, dcpki_agent_frame *f);
void dcpki_agent_frame_free(dcpki_agent_frame *f);
/* Field i equals the string s. */
int dcpki_agent_field_is(const dcpki_agent_frame *f, size_t i, const char *s);

#endif
