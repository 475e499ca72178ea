/* The core context: the one set-up chain every front end uses (the CLI, each
 * provider instance, the PKCS#11 module between C_Initialize and C_Finalize).
 *
 * It owns, made in this order and each at most once:
 *   configuration -> RA identity (its TLS credentials in memory) ->
 *   transport (trust in memory, connection cache) -> signing client (API key
 *   in memory).
 * Rules:
 * - Creating a context reads nothing: a front end may exist in a process that
 *   never uses a dcpki key (a provider activated system-wide).
 * - dcpki_ctx_prepare reads every file a later operation needs into memory, so
 *   a process that prepares (when a key is loaded) and then forks workers that
 *   drop privileges signs there without opening any file again.
 * - One rollback rule: a stage that succeeded is kept for the life of the
 *   context; a stage that failed leaves nothing behind and the next call tries
 *   it again (the file may have been fixed, the service may be back).
 * - Thread-safe: one lock guards the set-up; the objects it hands out are
 *   themselves thread-safe. Fork-safe: the lock is made anew in a child, and
 *   the transport reconnects there with the identity it inherited.
 * - Errors name the file and the reason (missing, permission denied) with the
 *   catalogue's remedy, the same in every front end. */
#ifndef DCPKI_CTX_H
#define DCPKI_CTX_H
#include <openssl/types.h>
#include "dcpki/config.h"
#include "dcpki/identity.h"
#include "dcpki/signing.h"
#include "dcpki/transport.h"

typedef struct dcpki_ctx dcpki_ctx;

/* config_path NULL: $DCPKI_CONF, else /etc/dcpki/dcpki.conf, resolved when
 * the configuration is first needed. libctx (may be NULL, borrowed) is used
 * for every OpenSSL call the core makes for this context. No I/O. */
dcpki_code dcpki_ctx_new(const char *config_path, OSSL_LIB_CTX *libctx, dcpki_ctx **out, dcpki_err *err);
void dcpki_ctx_free(dcpki_ctx *c);
/* For a provider's teardown, which runs inside OPENSSL_cleanup: as
 * dcpki_ctx_free, but the PKCS#11 modules of an RA key on a token are left
 * initialised (their C_Finalize may use the OpenSSL being torn down). */
void dcpki_ctx_free_at_teardown(dcpki_ctx *c);

/* Each makes what it needs of the chain. The objects are owned by the
 * context and live until dcpki_ctx_free. */
dcpki_code dcpki_ctx_config(dcpki_ctx *c, const dcpki_config **out, dcpki_err *err);
dcpki_code dcpki_ctx_identity(dcpki_ctx *c, const dcpki_identity **out, dcpki_err *err);
dcpki_code dcpki_ctx_transport(dcpki_ctx *c, dcpki_transport **out, dcpki_err *err);
dcpki_code dcpki_ctx_signing(dcpki_ctx *c, dcpki_signing **out, dcpki_err *err);
/* The signing client connecting to the service itself even when [signing]
 * agent is set: the agent's own. Call it before anything makes the signing
 * client. */
dcpki_code dcpki_ctx_signing_direct(dcpki_ctx *c, dcpki_signing **out, dcpki_err *err);

/* How far dcpki_ctx_prepare goes. */
typedef enum {
    DCPKI_NEED_IDENTITY = 1,  /* configuration + RA identity (dcpki:ra: a local key) */
    DCPKI_NEED_TRANSPORT,     /* + the trust bundle and the connection cache (enrollment) */
    DCPKI_NEED_SIGNING        /* + the API key and the signing client (remote keys); with
                               * [signing] agent only the configuration and a hello to the agent */
} dcpki_need;

/* Read into memory now everything later operations up to `need` use: the
 * configuration, the RA identity, the trust bundle, the API key. No network
 * I/O (with [signing] agent, one hello over the agent's Unix socket). */
dcpki_code dcpki_ctx_prepare(dcpki_ctx *c, dcpki_need need, dcpki_err *err);

/* The transport if it was made, else NULL (statistics; makes nothing). */
dcpki_transport *dcpki_ctx_transport_if_made(dcpki_ctx *c);
#endif
