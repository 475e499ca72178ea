/* The module's libdcpki objects: configuration ($DCPKI_CONF, else
 * /etc/dcpki/dcpki.conf), RA identity, transport and signing client, made at
 * first need and kept until C_Finalize. A failure is not remembered: the next
 * call tries again (the service may be back, the file fixed). Failures are
 * logged with the catalogue's sentence and remedy and mapped to CK_RV. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <syslog.h>
#include "dcpki/log.h"
#include "p11.h"

void p11_logf(const char *fmt, ...)
{
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
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
    case DCPKI_E_TLS_SERVER_UNTRUSTED:
    case DCPKI_E_TLS_CLIENT:
    case DCPKI_E_TLS:
    case DCPKI_E_HTTP:
    case DCPKI_E_RATE_LIMITED:
    case DCPKI_E_SERVICE_UNAVAILABLE:
    case DCPKI_E_BAD_RESPONSE:
    case DCPKI_E_API_KEY:
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

/* core_lock held */
static CK_RV need_config(p11_module *m)
{
    dcpki_err err;
    dcpki_err_clear(&err);
    if (m->cfg)
        return CKR_OK;
    if (dcpki_config_load(dcpki_config_path(NULL), &m->cfg, &err) != DCPKI_OK) {
        m->cfg = NULL;
        return p11_fail("reading the configuration", &err);
    }
    return CKR_OK;
}

static CK_RV need_identity(p11_module *m)
{
    dcpki_err err;
    CK_RV rv = need_config(m);
    if (rv != CKR_OK || m->id)
        return rv;
    dcpki_err_clear(&err);
    if (dcpki_identity_load(m->cfg, m->libctx, &m->id, &err) != DCPKI_OK) {
        m->id = NULL;
        return p11_fail("loading the RA identity", &err);
    }
    return CKR_OK;
}

CK_RV p11_backend_identity(p11_module *m, dcpki_identity **out)
{
    CK_RV rv;
    p11_lock(m->core_lock);
    rv = need_identity(m);
    *out = m->id;
    p11_unlock(m->core_lock);
    return rv;
}

CK_RV p11_backend_signing(p11_module *m, dcpki_signing **out)
{
    dcpki_err err;
    CK_RV rv;
    dcpki_err_clear(&err);
    p11_lock(m->core_lock);
    rv = need_identity(m);
    if (rv == CKR_OK && !m->transport &&
        dcpki_transport_new(m->cfg, m->id, &m->transport, &err) != DCPKI_OK) {
        m->transport = NULL;
        rv = p11_fail("setting up the connection to the signing service", &err);
    }
    if (rv == CKR_OK && !m->signing &&
        dcpki_signing_new(m->cfg, m->transport, m->libctx, &m->signing, &err) != DCPKI_OK) {
        m->signing = NULL;
        rv = p11_fail("setting up the signing service client", &err);
    }
    *out = m->signing;
    p11_unlock(m->core_lock);
    return rv;
}

void p11_backend_free(p11_module *m)
{
    dcpki_signing_free(m->signing);
    dcpki_transport_free(m->transport);
    dcpki_identity_free(m->id);
    dcpki_config_free(m->cfg);
    m->signing = NULL;
    m->transport = NULL;
    m->id = NULL;
    m->cfg = NULL;
}
