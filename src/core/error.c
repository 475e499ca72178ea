/* The error catalogue (BRIEF.md §6): for every code a stable id, a sentence
 * saying what failed, and a remedy saying what to do. */
#include "dcpki/error.h"
#include "dcpki/config.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

struct entry {
    const char *id;
    const char *sentence;
    const char *remedy;
};

static const struct entry catalogue[DCPKI_E__COUNT] = {
    [DCPKI_OK] = { "ok", "success", "nothing to do" },
    [DCPKI_E_CONFIG_MISSING] = { "config_missing", "the configuration file cannot be read",
        "create it from dcpki.conf.example, or name another file with --config or DCPKI_CONF; without "
        DCPKI_DEFAULT_CONF ", SM_HOST, SM_API_KEY and SM_CLIENT_CERT_FILE may give the configuration (dcpki.conf(5))" },
    [DCPKI_E_CONFIG_SYNTAX] = { "config_syntax", "the configuration file has a syntax error",
        "write each line as [section], key = value, or a comment starting with ; or #, each key once" },
    [DCPKI_E_CONFIG_UNKNOWN_KEY] = { "config_unknown_key",
        "the configuration file has an unknown section or key",
        "use only the sections [ca] [ra] [signing] [profiles] and the keys listed in dcpki.conf.example" },
    [DCPKI_E_CONFIG_BAD_VALUE] = { "config_bad_value", "the configuration has an invalid value",
        "correct the value as dcpki.conf.example describes it (an SM_* variable: dcpki.conf(5), ENVIRONMENT)" },
    [DCPKI_E_CONFIG_INCOMPLETE] = { "config_incomplete",
        "the configuration lacks a setting this operation needs",
        "add the named key to dcpki.conf (see dcpki.conf.example), or set the named SM_* variable (dcpki.conf(5))" },
    [DCPKI_E_URI] = { "bad_uri", "the dcpki: URI is malformed",
        "write dcpki:ra or dcpki:key=ALIAS, optionally followed by ;type=private, ;type=public or ;type=cert" },
    [DCPKI_E_KEYREF] = { "bad_keyref", "the key reference file is malformed",
        "write it again with `dcpki keys ref ALIAS`" },
    [DCPKI_E_RA_CERT_NOT_FOUND] = { "ra_cert_not_found",
        "unable to retrieve the client (RA) certificate",
        "install the RA certificate with its private key and check [ra] certificate_thumbprint / certificate" },
    [DCPKI_E_RA_KEY_UNREADABLE] = { "ra_key_unreadable", "the RA private key cannot be read",
        "install the RA private key and run with the rights to read it; check [ra] key, pkcs12 and pkcs12_password_file (or SM_CLIENT_CERT_FILE and SM_CLIENT_CERT_PASSWORD)" },
    [DCPKI_E_RA_KEY_MISMATCH] = { "ra_key_mismatch",
        "the RA private key does not belong to the RA certificate",
        "install the private key that made the RA certificate's request, or the certificate issued for that key" },
    [DCPKI_E_THUMBPRINT] = { "bad_thumbprint", "the certificate thumbprint is invalid",
        "write the certificate's SHA-1 thumbprint as 40 hexadecimal digits, e.g. EA7A4E0CD1A4F81CF0740527C31A57F6020C17C5" },
    [DCPKI_E_TIMEOUT] = { "timeout", "the operation has timed out",
        "raise [ca] timeout_ms (CloudCAConnTimeoutInMilliseconds) or check that the service is reachable, then retry" },
    [DCPKI_E_CONNECT] = { "connect", "could not connect to the service",
        "check [ca] host / [signing] url, name resolution and that the service is reachable, then retry" },
    [DCPKI_E_TLS_SERVER_UNTRUSTED] = { "tls_server_untrusted",
        "could not create SSL/TLS secure channel: the server certificate is not trusted",
        "check [ca] trust and the host name" },
    [DCPKI_E_TLS_CLIENT] = { "tls_client",
        "could not create SSL/TLS secure channel: the client (RA) certificate was refused or cannot be used",
        "check that the RA certificate was issued by this service and is not revoked or expired, and that its private key is readable" },
    [DCPKI_E_TLS] = { "tls", "could not create SSL/TLS secure channel",
        "check [ca] host / [signing] url, [ca] trust and the RA identity" },
    [DCPKI_E_HTTP] = { "http", "the service answered with an unexpected HTTP status",
        "check [signing] url / [ca] host, then retry; DCPKI_DEBUG=1 shows the requests" },
    [DCPKI_E_API_KEY] = { "api_key", "the API key is missing, or the service refused the API key or the client certificate",
        "check that [signing] api_key_file (or SM_API_KEY) holds a valid API key and that the RA certificate has not expired" },
    [DCPKI_E_ACCESS_DENIED] = { "access_denied", "the service denied access",
        "ask the service administrator for a signer role on this key" },
    [DCPKI_E_KEY_NOT_FOUND] = { "key_not_found", "no signing key with that alias",
        "list keys with `dcpki keys list`" },
    [DCPKI_E_RATE_LIMITED] = { "rate_limited", "the service's request limit was exceeded",
        "wait and retry, or send fewer requests (keep one process open instead of many)" },
    [DCPKI_E_SERVICE_UNAVAILABLE] = { "service_unavailable", "the service is unavailable",
        "retry later; if it persists, check the service status" },
    [DCPKI_E_BAD_RESPONSE] = { "bad_response", "the service sent a response that cannot be understood",
        "check that [signing] url / [ca] host name the right service; DCPKI_DEBUG=1 shows the requests" },
    [DCPKI_E_BAD_SIGNATURE] = { "bad_signature",
        "the signature returned by the service does not verify with the key's public key",
        "do not use the result; report it to the service administrator" },
    [DCPKI_E_UNSUPPORTED] = { "unsupported", "the operation or algorithm is not supported",
        "use RSA PKCS#1 v1.5, RSA-PSS or ECDSA with SHA-256, SHA-384 or SHA-512" },
    [DCPKI_E_INVALID_ARGUMENT] = { "invalid_argument", "an invalid argument was given",
        "check the command line or the call's arguments" },
    [DCPKI_E_PRIVATE_EXPORT] = { "private_export", "the private key cannot be exported",
        "the key stays in its store; export the public key or the certificate instead" },
    [DCPKI_E_IO] = { "io", "a local file cannot be read or written",
        "check the path, the permissions and the free space" },
    [DCPKI_E_NOMEM] = { "nomem", "out of memory", "free memory and retry" },
    [DCPKI_E_INTERNAL] = { "internal", "an internal error occurred",
        "report a bug with the output of DCPKI_DEBUG=1" },
    [DCPKI_E_PROFILE_UNKNOWN] = { "profile_unknown",
        "unable to get policy: a request element is not understood (certificate profile OID unknown to the CA)",
        "fetch the right certificate profile OID from the DigiCert portal and update the profile" },
    [DCPKI_E_POLICY_VIOLATION] = { "policy_violation",
        "policy verification failed: an attribute is not in the profile's supported attributes list",
        "align the subject name and subject alternative names with what the profile allows (dcpki policy OID)" },
    [DCPKI_E_BAD_HEX] = { "bad_hex", "the other-name value is not valid hex",
        "give it as hex bytes, e.g. othername:1.3.6.1.4.1.311.25.1;04 10 b8 ba ..." },
    [DCPKI_E_NO_EMAIL_SOURCE] = { "no_email_source",
        "no e-mail or UPN source for a subject alternative name the profile needs",
        "give --san email: or --san upn:, or a subject with E= or an e-mail common name" },
    [DCPKI_E_UPN_NAME] = { "upn_name",
        "the UPN has characters the profile's mail_firstName/mail_lastName cannot take",
        "use a profile that asks for CN=<upn> (or give GN= and SN=)" },
    [DCPKI_E_CA_REFUSED] = { "ca_refused", "the CA refused the request",
        "read the CA's message in the detail; fix the request or the profile" },
    [DCPKI_E_PENDING] = { "pending", "the CA left the request pending approval",
        "have it approved in the portal, then run dcpki enroll --poll ID" },
    [DCPKI_E_FILE_UNREADABLE] = { "file_unreadable", "a file dcpki needs cannot be read",
        "check that it exists and that the user this process runs as may read it; a server that drops privileges must load its dcpki key before it does" },
    [DCPKI_E_CONNECTION_BROKEN] = { "connection_broken",
        "the connection broke after the request was sent; the service may have acted on it",
        "check the network path to the service (proxies, load balancers), then find out whether the operation took effect before repeating it: `dcpki status --serial`, or the same enroll command again (it asks the CA what it issued before sending anything again)" },
    [DCPKI_E_STORE] = { "store",
        "the store of issued certificates cannot be used",
        "read the detail: fix the directory's permissions or free space (SQLite), or the database server and [store] url (PostgreSQL), then run the same command again: it finishes what was started" },
    [DCPKI_E_STORE_KEY] = { "store_key",
        "the store key is missing, unreadable or not the key this store was made with",
        "give the key file the store was made with ([store] key_file, 32 bytes, mode 0600); every RA host sharing a store needs the same file" },
    [DCPKI_E_AGENT] = { "agent", "the dcpki agent cannot be reached or refused this process",
        "start it (systemctl start dcpki-agent, or dcpki agent), give this process's user access to its socket (the agent's group, e.g. adduser USER dcpki), or remove [signing] agent to connect to the service directly" },
};

static const struct entry *lookup(dcpki_code c)
{
    if ((int)c < 0 || c >= DCPKI_E__COUNT || !catalogue[c].id)
        return &catalogue[DCPKI_E_INTERNAL];
    return &catalogue[c];
}

const char *dcpki_code_id(dcpki_code c) { return lookup(c)->id; }

dcpki_code dcpki_code_of_id(const char *id, size_t len)
{
    for (int c = 1; c < DCPKI_E__COUNT; c++)
        if (catalogue[c].id && strlen(catalogue[c].id) == len && memcmp(catalogue[c].id, id, len) == 0)
            return (dcpki_code)c;
    return DCPKI_E_INTERNAL;
}
const char *dcpki_code_sentence(dcpki_code c) { return lookup(c)->sentence; }
const char *dcpki_code_remedy(dcpki_code c) { return lookup(c)->remedy; }

/* Length of the valid UTF-8 sequence (RFC 3629 §4) at p that is not a C1
 * control (U+0080..U+009F), else 0. A sequence cut by the string's NUL fails
 * at the NUL, which is no continuation byte. */
static size_t utf8_printable(const unsigned char *p)
{
    size_t len = p[0] >= 0xf0 ? 4 : p[0] >= 0xe0 ? 3 : p[0] >= 0xc2 ? 2 : 0;
    if (len == 0 || p[0] > 0xf4)
        return 0;
    for (size_t i = 1; i < len; i++)
        if ((p[i] & 0xc0) != 0x80)
            return 0;
    if ((len == 2 && p[0] == 0xc2 && p[1] < 0xa0) ||                 /* C1 controls */
        (len == 3 && p[0] == 0xe0 && p[1] < 0xa0) ||                 /* overlong */
        (len == 3 && p[0] == 0xed && p[1] >= 0xa0) ||                /* surrogates */
        (len == 4 && p[0] == 0xf0 && p[1] < 0x90) ||                 /* overlong */
        (len == 4 && p[0] == 0xf4 && p[1] >= 0x90))                  /* above U+10FFFF */
        return 0;
    return len;
}

const char *dcpki_escape(const char *in, char *out, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *p = (const unsigned char *)(in ? in : "");
    size_t o = 0;
    if (n == 0)
        return out;
    while (*p && o + 1 < n) {
        size_t u = *p >= 0x80 ? utf8_printable(p) : 0;
        char esc[5];
        size_t el = 0;
        if (u) {
            if (o + u >= n)
                break;
            memcpy(out + o, p, u);
            o += u;
            p += u;
            continue;
        }
        if (*p == '\n' || *p == '\r' || *p == '\t') {
            esc[el++] = '\\';
            esc[el++] = *p == '\n' ? 'n' : *p == '\r' ? 'r' : 't';
        } else if (*p < 0x20 || *p >= 0x7f) {
            esc[el++] = '\\';
            esc[el++] = 'x';
            esc[el++] = hex[*p >> 4];
            esc[el++] = hex[*p & 15];
        } else {
            esc[el++] = (char)*p;
        }
        if (o + el >= n)
            break;
        memcpy(out + o, esc, el);
        o += el;
        p++;
    }
    out[o] = '\0';
    return out;
}

dcpki_code dcpki_err_set(dcpki_err *err, dcpki_code code, const char *fmt, ...)
{
    if (err) {
        err->code = code;
        err->detail[0] = '\0';
        if (fmt) {
            /* the detail quotes untrusted text (URIs, subjects, server
             * messages): control characters are shown escaped, never raw */
            char raw[DCPKI_ERR_DETAIL_MAX];
            va_list ap;
            va_start(ap, fmt);
            vsnprintf(raw, sizeof(raw), fmt, ap);
            va_end(ap);
            dcpki_escape(raw, err->detail, sizeof(err->detail));
        }
    }
    return code;
}

void dcpki_err_clear(dcpki_err *err)
{
    if (err) {
        err->code = DCPKI_OK;
        err->detail[0] = '\0';
    }
}

const char *dcpki_err_format(const dcpki_err *err, char *buf, size_t n)
{
    if (!buf || n == 0)
        return buf;
    if (!err) {
        snprintf(buf, n, "%s", dcpki_code_sentence(DCPKI_E_INTERNAL));
        return buf;
    }
    const struct entry *e = lookup(err->code);
    if (err->code == DCPKI_OK)
        snprintf(buf, n, "%s", e->sentence);
    else if (err->detail[0])
        snprintf(buf, n, "%s: %s (%s)", e->sentence, err->detail, e->remedy);
    else
        snprintf(buf, n, "%s (%s)", e->sentence, e->remedy);
    return buf;
}
