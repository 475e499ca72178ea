/* The module's core context (dcpki/ctx.h: configuration from $DCPKI_CONF,
 * else /etc/dcpki/dcpki.conf; RA identity; transport; signing client), made
 * at C_Initialize and prepared there, so that a process that initialises the
 * module and then drops privileges signs without reading those files again;
 * kept until C_Finalize. Failures are logged with the catalogue's sentence
 * and remedy and mapped to CK_RV. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <syslog.h>
#include "dcpki/log.h"
#include "p11.h"

void p11_logf(const char *fmt, ...)
{
    char raw[1024], buf[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(raw, sizeof(raw), fmt, ap);
    va_end(ap);
    /* untrusted text (aliases, server messages) never reaches syslog raw */
    dcpki_escape(raw, buf, sizeof(buf));
    if (dcpki_log_level() >= 1)
        dcpki_log(1, "dcpki-pkcs11: %s", buf);
    syslog(LOG_USER | LOG_ERR, "dcpki-pkcs11: %s", buf);
}

CK_RV p11_rv_of(dcpki_code c)
{
    switch (c) {
    case DCPKI_OK:
        return CKR_OK;
    case DCPKI_E_NOMEM:
        return CKR_HOST_MEMORY;
    /* the "device" (configuration, identity, service) cannot be reached or used */
    case DCPKI_E_CONFIG_MISSING:
    case DCPKI_E_CONFIG_SYNTAX:
    case DCPKI_E_CONFIG_UNKNOWN_KEY:
    case DCPKI_E_CONFIG_BAD_VALUE:
    case DCPKI_E_CONFIG_INCOMPLETE:
    case DCPKI_E_RA_CERT_NOT_FOUND:
    case DCPKI_E_RA_KEY_UNREADABLE:
    case DCPKI_E_RA_KEY_MISMATCH:
    case DCPKI_E_THUMBPRINT:
    case DCPKI_E_TIMEOUT:
    case DCPKI_E_CONNECT:
    case DCPKI_E_CONNECTION_BROKEN:
    case DCPKI_E_TLS_SERVER_UNTRUSTED:
    case DCPKI_E_TLS_CLIENT:
    case DCPKI_E_TLS:
    case DCPKI_E_HTTP:
    case DCPKI_E_RATE_LIMITED:
    case DCPKI_E_SERVICE_UNAVAILABLE:
    case DCPKI_E_BAD_RESPONSE:
    case DCPKI_E_API_KEY:
    case DCPKI_E_FILE_UNREADABLE:
    case DCPKI_E_AGENT:
        return CKR_DEVICE_ERROR;
    /* this one operation failed */
    default:
        return CKR_FUNCTION_FAILED;
    }
}

CK_RV p11_fail(const char *what, const dcpki_err *err)
{
    char buf[DCPKI_ERR_DETAIL_MAX + 512];
    dcpki_err_format(err, buf, sizeof(buf));
    p11_logf("%s: %s [%s]", what, buf, dcpki_code_id(err->code));
    return p11_rv_of(err->code);
}

CK_RV p11_backend_new(p11_module *m)
{
    dcpki_err err;
    dcpki_err_clear(&err);
    if (dcpki_ctx_new(NULL, m->libctx, &m->core, &err) != DCPKI_OK)
        return p11_fail("creating the dcpki context", &err);
    return CKR_OK;
}

void p11_backend_prepare(p11_module *m)
{
    dcpki_err err;
    dcpki_err_clear(&err);
    /* Quiet: a host that loads every registered module (p11-kit) must not log
     * for a dcpki that is installed but not configured; the same error is
     * reported by the first call that needs what failed. */
    if (dcpki_ctx_prepare(m->core, DCPKI_NEED_SIGNING, &err) != DCPKI_OK)
        DCPKI_DEBUG("dcpki-pkcs11: not prepared at C_Initialize: %s", err.detail);
}

CK_RV p11_config(p11_module *m, const dcpki_config **out)
{
    dcpki_err err;
    dcpki_err_clear(&err);
    if (dcpki_ctx_config(m->core, out, &err) != DCPKI_OK)
        return p11_fail("reading the configuration", &err);
    return CKR_OK;
}

CK_RV p11_backend_identity(p11_module *m, const dcpki_identity **out)
{
    dcpki_err err;
    dcpki_err_clear(&err);
    if (dcpki_ctx_identity(m->core, out, &err) != DCPKI_OK)
        return p11_fail("loading the RA identity", &err);
    return CKR_OK;
}

CK_RV p11_backend_signing(p11_module *m, dcpki_signing **out)
{
    dcpki_err err;
    dcpki_err_clear(&err);
    if (dcpki_ctx_signing(m->core, out, &err) != DCPKI_OK)
        return p11_fail("setting up the signing service client", &err);
    return CKR_OK;
}

void p11_backend_free(p11_module *m)
{
    dcpki_ctx_free(m->core);
    m->core = NULL;
}
