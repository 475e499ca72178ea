/* dcpki.conf parser: sections [ca] [ra] [signing] [pkcs11] [profiles] [seat_id] [store] with
 * exactly the keys of DESIGN.md (plus [pkcs11] pin_file, the module's PIN). Comments: lines starting with ; or #, and " ;" after a
 * value. A key may follow its section header on the same line, as in
 * DESIGN.md's block ("[ca]   host = ..."). Every error names file, line, key. */
#define _GNU_SOURCE /* secure_getenv */
#include "dcpki/config.h"
#include "dcpki/log.h"
#include "dcpki/request.h"
#include "dcpki/uri.h"
#include "dcpki/thumbprint.h"
#include "internal.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>

#define CONFIG_MAX_BYTES (1024 * 1024)

enum section { SEC_NONE, SEC_CA, SEC_RA, SEC_SIGNING, SEC_PKCS11, SEC_PROFILES, SEC_SEAT_ID, SEC_STORE };
static const char *const section_names[] = { "", "ca", "ra", "signing", "pkcs11", "profiles", "seat_id", "store" };

/* where each fixed key was set (for duplicate detection) */
struct seen {
    enum section sec;
    const char *key;
    int line;
};

struct parser {
    const char *name;
    dcpki_config *cfg;
    dcpki_err *err;
    int line;
    struct seen seen[32];
    size_t n_seen;
    int *profile_lines;
};

const char *dcpki_config_path(const char *explicit_path)
{
    if (explicit_path && *explicit_path)
        return explicit_path;
    const char *env = getenv("DCPKI_CONF");
    if (env && *env)
        return env;
    return DCPKI_DEFAULT_CONF;
}

void dcpki_config_free(dcpki_config *cfg)
{
    if (!cfg)
        return;
    free(cfg->path);
    free(cfg->ca.host);
    free(cfg->ca.name);
    free(cfg->ca.trust);
    free(cfg->ra.certificate_thumbprint);
    free(cfg->ra.store);
    free(cfg->ra.certificate);
    free(cfg->ra.key);
    free(cfg->ra.pkcs12);
    free(cfg->ra.pkcs12_password_file);
    dcpki_secret_free(cfg->ra.pkcs12_password);
    free(cfg->signing.url);
    free(cfg->signing.api_key_file);
    dcpki_secret_free(cfg->signing.api_key);
    free(cfg->signing.keys);
    free(cfg->signing.agent);
    free(cfg->pkcs11.pin_file);
    free(cfg->store.url);
    free(cfg->store.key_file);
    free(cfg->store.dir);
    for (size_t i = 0; i < cfg->n_profiles; i++) {
        free(cfg->profiles[i].name);
        free(cfg->profiles[i].oid);
    }
    free(cfg->profiles);
    for (size_t i = 0; i < cfg->n_seat_ids; i++) {
        free(cfg->seat_ids[i].key);
        free(cfg->seat_ids[i].source);
    }
    free(cfg->seat_ids);
    free(cfg);
}

const char *dcpki_config_profile(const dcpki_config *cfg, const char *name)
{
    if (!cfg || !name)
        return NULL;
    for (size_t i = 0; i < cfg->n_profiles; i++)
        if (strcmp(cfg->profiles[i].name, name) == 0)
            return cfg->profiles[i].oid;
    return NULL;
}

const char *dcpki_config_seat_source(const dcpki_config *cfg, const char *profile_oid)
{
    if (!cfg)
        return NULL;
    const char *by_name = NULL, *dflt = NULL;
    for (size_t i = 0; i < cfg->n_seat_ids; i++) {
        const dcpki_seat_entry *e = &cfg->seat_ids[i];
        if (strcmp(e->key, "default") == 0)
            dflt = e->source;
        else if (profile_oid && strcmp(e->key, profile_oid) == 0)
            return e->source;
        else if (!by_name && profile_oid) {
            const char *oid = dcpki_config_profile(cfg, e->key);
            if (oid && strcmp(oid, profile_oid) == 0)
                by_name = e->source;
        }
    }
    return by_name ? by_name : dflt;
}

/* ---- value checks ---- */

static int valid_label(const char *s, size_t n)
{
    if (n == 0 || n > 63 || s[0] == '-' || s[n - 1] == '-')
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!isalnum((unsigned char)s[i]) && s[i] != '-')
            return 0;
    return 1;
}

static int valid_ipv4(const char *s, size_t n)
{
    int parts = 0;
    size_t i = 0;
    while (i < n) {
        size_t st = i;
        long v = 0;
        while (i < n && isdigit((unsigned char)s[i])) {
            v = v * 10 + (s[i] - '0');
            if (v > 255 || i - st >= 3)
                return 0;
            i++;
        }
        if (i == st)
            return 0;
        parts++;
        if (i < n) {
            if (s[i] != '.')
                return 0;
            i++;
            if (i == n)
                return 0;
        }
    }
    return parts == 4;
}

/* host name, IPv4 address, or [IPv6]; then optional :port */
static const char *check_host(const char *v)
{
    if (strstr(v, "://"))
        return "must not contain a scheme (write the host name only, e.g. pki-ws.symauth.com)";
    if (strchr(v, '/'))
        return "must not contain '/' (write the host name only, no path or trailing slash)";
    const char *port = NULL;
    size_t hlen;
    if (v[0] == '[') {
        const char *close = strchr(v, ']');
        if (!close || close == v + 1)
            return "has an unterminated IPv6 address (write [address]:port)";
        for (const char *c = v + 1; c < close; c++)
            if (!isxdigit((unsigned char)*c) && *c != ':' && *c != '.')
                return "is not a valid IPv6 address";
        if (close[1] == ':')
            port = close + 2;
        else if (close[1] != '\0')
            return "has characters after the IPv6 address";
    } else {
        const char *colon = strchr(v, ':');
        hlen = colon ? (size_t)(colon - v) : strlen(v);
        if (colon)
            port = colon + 1;
        if (hlen == 0)
            return "has no host name";
        if (hlen > 253)
            return "is longer than 253 characters";
        int all_numeric = 1;
        for (size_t i = 0; i < hlen; i++)
            if (!isdigit((unsigned char)v[i]) && v[i] != '.')
                all_numeric = 0;
        if (all_numeric) {
            if (!valid_ipv4(v, hlen))
                return "is not a valid IPv4 address";
        } else {
            size_t st = 0;
            for (size_t i = 0; i <= hlen; i++) {
                if (i == hlen || v[i] == '.') {
                    if (!valid_label(v + st, i - st))
                        return "is not a valid host name (letters, digits, '-' and '.' only)";
                    st = i + 1;
                }
            }
        }
    }
    if (port) {
        if (!*port)
            return "has an empty port after ':'";
        long p = 0;
        for (const char *c = port; *c; c++) {
            if (!isdigit((unsigned char)*c))
                return "has a port that is not a number";
            p = p * 10 + (*c - '0');
            if (p > 65535)
                return "has a port above 65535";
        }
        if (p == 0)
            return "has port 0";
    }
    return NULL;
}

static const char *check_url(const char *v)
{
    if (strncasecmp(v, "https://", 8) != 0)
        return "must start with https:// (e.g. https://clientauth.one.digicert.com)";
    const char *h = v + 8;
    size_t n = strlen(v);
    if (n > 8 && v[n - 1] == '/')
        return "must not end with '/' (remove the trailing slash)";
    for (const char *c = v; *c; c++)
        if ((unsigned char)*c <= 0x20 || *c == 0x7f || *c == '?' || *c == '#')
            return "must not contain spaces, control characters, '?' or '#'";
    if (strchr(h, '@'))
        return "must not contain user information ('@')";
    const char *slash = strchr(h, '/');
    size_t hl = slash ? (size_t)(slash - h) : strlen(h);
    char host[300];
    if (hl == 0 || hl >= sizeof(host))
        return "has no host name after https://";
    memcpy(host, h, hl);
    host[hl] = '\0';
    if (check_host(host))
        return "has an invalid host[:port] after https://";
    if (slash && strstr(slash, "//"))
        return "has an empty path segment ('//')";
    return NULL;
}

static const char *check_oid(const char *v)
{
    int arcs = 0;
    const char *p = v;
    while (*p) {
        const char *st = p;
        while (isdigit((unsigned char)*p))
            p++;
        if (p == st)
            return "is not a dotted OID (e.g. 2.16.840.1.113733.1.16.1.2.3.1.1.47196109)";
        if (*st == '0' && p - st > 1)
            return "is not a dotted OID: an arc has a leading zero";
        if (arcs == 0 && (p - st != 1 || *st > '2'))
            return "is not a dotted OID: the first arc must be 0, 1 or 2";
        arcs++;
        if (*p == '.') {
            p++;
            if (!*p)
                return "is not a dotted OID: it ends with '.'";
        } else if (*p) {
            return "is not a dotted OID (digits and dots only)";
        }
    }
    if (arcs < 2)
        return "is not a dotted OID: it needs at least two arcs";
    return NULL;
}

/* [signing] keys: aliases separated by commas (spaces around them ignored) */
static const char *check_aliases(const char *v)
{
    const char *p = v;
    for (;;) {
        while (*p == ' ' || *p == '\t')
            p++;
        size_t n = strcspn(p, ",");
        while (n > 0 && (p[n - 1] == ' ' || p[n - 1] == '\t'))
            n--;
        if (n == 0)
            return "has an empty alias (write alias, alias, ...)";
        if (n >= DCPKI_ALIAS_MAX)
            return "has an alias longer than 255 characters";
        for (size_t i = 0; i < n; i++)
            if ((unsigned char)p[i] < 0x20 || p[i] == 0x7f)
                return "has a control character in an alias";
        p += strcspn(p, ",");
        if (*p == '\0')
            return NULL;
        p++;
    }
}

static dcpki_code perr(struct parser *ps, dcpki_code code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static dcpki_code perr(struct parser *ps, dcpki_code code, const char *fmt, ...)
{
    char msg[DCPKI_ERR_DETAIL_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    return dcpki_err_set(ps->err, code, "%s:%d: %s", ps->name, ps->line, msg);
}

static dcpki_code set_str(struct parser *ps, char **slot, const char *v)
{
    char *d = strdup(v);
    if (!d)
        return dcpki_err_set(ps->err, DCPKI_E_NOMEM, "reading %s", ps->name);
    free(*slot);
    *slot = d;
    return DCPKI_OK;
}

/* [seat_id] key = email | cn | dn:TYPE. The key ("default", a [profiles] name
 * or a dotted OID) is checked against [profiles] once the whole file is read,
 * as [profiles] may come later. The seat_id nameValuePair itself: both public
 * SOAP enrollment clients send one (labiraus/DigiCert.Demo RAConnector.cs from
 * the CN, a VMProtect RA client's TaggantWebService.cs from the e-mail). */
static dcpki_code set_seat(struct parser *ps, const char *key, const char *val)
{
    dcpki_config *cfg = ps->cfg;
    for (const char *c = key; *c; c++)
        if (!isalnum((unsigned char)*c) && *c != '_' && *c != '-' && *c != '.')
            return perr(ps, DCPKI_E_CONFIG_SYNTAX,
                        "'%s' in [seat_id] is no profile: write default, a [profiles] name or a dotted OID",
                        key);
    for (size_t i = 0; i < cfg->n_seat_ids; i++)
        if (strcmp(cfg->seat_ids[i].key, key) == 0)
            return perr(ps, DCPKI_E_CONFIG_SYNTAX, "duplicate key '%s' in [seat_id] (first set on line %d)",
                        key, cfg->seat_ids[i].line);
    char src[64];
    if (strcasecmp(val, "email") == 0 || strcasecmp(val, "cn") == 0) {
        snprintf(src, sizeof src, "%s", strcasecmp(val, "email") == 0 ? "email" : "cn");
    } else if (strncasecmp(val, "dn:", 3) == 0 && dcpki_dn_canonical(val + 3) != NULL) {
        snprintf(src, sizeof src, "dn:%s", dcpki_dn_canonical(val + 3));
    } else {
        return perr(ps, DCPKI_E_CONFIG_BAD_VALUE,
                    "'%s' in [seat_id] must be email, cn or dn:TYPE with TYPE a subject attribute "
                    "(CN, E, GN, SN, O, OU, C, L, ST, title), not '%s'", key, val);
    }
    dcpki_seat_entry *n = realloc(cfg->seat_ids, (cfg->n_seat_ids + 1) * sizeof(*n));
    if (!n)
        return dcpki_err_set(ps->err, DCPKI_E_NOMEM, "reading %s", ps->name);
    cfg->seat_ids = n;
    n[cfg->n_seat_ids].key = strdup(key);
    n[cfg->n_seat_ids].source = strdup(src);
    n[cfg->n_seat_ids].line = ps->line;
    if (!n[cfg->n_seat_ids].key || !n[cfg->n_seat_ids].source) {
        free(n[cfg->n_seat_ids].key);
        free(n[cfg->n_seat_ids].source);
        return dcpki_err_set(ps->err, DCPKI_E_NOMEM, "reading %s", ps->name);
    }
    cfg->n_seat_ids++;
    return DCPKI_OK;
}

/* After the whole file: each [seat_id] key that is neither default nor an OID
 * names a [profiles] entry. */
static dcpki_code check_seat_keys(struct parser *ps)
{
    dcpki_config *cfg = ps->cfg;
    for (size_t i = 0; i < cfg->n_seat_ids; i++) {
        const dcpki_seat_entry *e = &cfg->seat_ids[i];
        if (strcmp(e->key, "default") == 0 || dcpki_config_profile(cfg, e->key))
            continue;
        ps->line = e->line;
        if (isdigit((unsigned char)e->key[0])) {
            const char *why = check_oid(e->key);
            if (why)
                return perr(ps, DCPKI_E_CONFIG_BAD_VALUE, "'%s' in [seat_id] %s", e->key, why);
            continue;
        }
        return perr(ps, DCPKI_E_CONFIG_BAD_VALUE,
                    "'%s' in [seat_id] is not a profile of [profiles] (write default, a [profiles] "
                    "name or a dotted OID)", e->key);
    }
    return DCPKI_OK;
}

static dcpki_code set_key(struct parser *ps, enum section sec, const char *key, const char *val)
{
    dcpki_config *cfg = ps->cfg;
    const char *sn = section_names[sec];

    if (sec == SEC_PROFILES) {
        for (const char *c = key; *c; c++)
            if (!isalnum((unsigned char)*c) && *c != '_' && *c != '-' && *c != '.')
                return perr(ps, DCPKI_E_CONFIG_SYNTAX,
                            "profile name '%s' in [%s] may hold only letters, digits, '_', '-' and '.'",
                            key, sn);
        for (size_t i = 0; i < cfg->n_profiles; i++)
            if (strcmp(cfg->profiles[i].name, key) == 0)
                return perr(ps, DCPKI_E_CONFIG_SYNTAX, "duplicate key '%s' in [%s] (first set on line %d)",
                            key, sn, ps->profile_lines[i]);
        const char *why = check_oid(val);
        if (why)
            return perr(ps, DCPKI_E_CONFIG_BAD_VALUE, "'%s' in [%s] %s", key, sn, why);
        dcpki_profile_entry *np = realloc(cfg->profiles, (cfg->n_profiles + 1) * sizeof(*np));
        if (!np)
            return dcpki_err_set(ps->err, DCPKI_E_NOMEM, "reading %s", ps->name);
        cfg->profiles = np;
        int *nl = realloc(ps->profile_lines, (cfg->n_profiles + 1) * sizeof(int));
        if (!nl)
            return dcpki_err_set(ps->err, DCPKI_E_NOMEM, "reading %s", ps->name);
        ps->profile_lines = nl;
        np[cfg->n_profiles].name = strdup(key);
        np[cfg->n_profiles].oid = strdup(val);
        if (!np[cfg->n_profiles].name || !np[cfg->n_profiles].oid) {
            free(np[cfg->n_profiles].name);
            free(np[cfg->n_profiles].oid);
            return dcpki_err_set(ps->err, DCPKI_E_NOMEM, "reading %s", ps->name);
        }
        nl[cfg->n_profiles] = ps->line;
        cfg->n_profiles++;
        return DCPKI_OK;
    }

    if (sec == SEC_SEAT_ID)
        return set_seat(ps, key, val);

    char **slot = NULL;
    const char *canon = NULL; /* static name of the key, for duplicate detection */
#define KEY(s, k, field)                                                                           \
    if (!slot && sec == (s) && strcmp(key, k) == 0) {                                              \
        slot = &(field);                                                                           \
        canon = k;                                                                                 \
    }
    int is_timeout = (sec == SEC_CA && strcmp(key, "timeout_ms") == 0);
    KEY(SEC_CA, "host", cfg->ca.host)
    KEY(SEC_CA, "name", cfg->ca.name)
    KEY(SEC_CA, "trust", cfg->ca.trust)
    KEY(SEC_RA, "certificate_thumbprint", cfg->ra.certificate_thumbprint)
    KEY(SEC_RA, "store", cfg->ra.store)
    KEY(SEC_RA, "certificate", cfg->ra.certificate)
    KEY(SEC_RA, "key", cfg->ra.key)
    KEY(SEC_RA, "pkcs12", cfg->ra.pkcs12)
    KEY(SEC_RA, "pkcs12_password_file", cfg->ra.pkcs12_password_file)
    KEY(SEC_SIGNING, "url", cfg->signing.url)
    KEY(SEC_SIGNING, "api_key_file", cfg->signing.api_key_file)
    KEY(SEC_SIGNING, "keys", cfg->signing.keys)
    KEY(SEC_SIGNING, "agent", cfg->signing.agent)
    KEY(SEC_PKCS11, "pin_file", cfg->pkcs11.pin_file)
    KEY(SEC_STORE, "url", cfg->store.url)
    KEY(SEC_STORE, "key_file", cfg->store.key_file)
    KEY(SEC_STORE, "dir", cfg->store.dir)
#undef KEY
    if (is_timeout)
        canon = "timeout_ms";
    if (!canon)
        return perr(ps, DCPKI_E_CONFIG_UNKNOWN_KEY, "unknown key '%s' in [%s]", key, sn);

    for (size_t i = 0; i < ps->n_seen; i++)
        if (ps->seen[i].sec == sec && strcmp(ps->seen[i].key, canon) == 0)
            return perr(ps, DCPKI_E_CONFIG_SYNTAX, "duplicate key '%s' in [%s] (first set on line %d)",
                        key, sn, ps->seen[i].line);
    if (ps->n_seen < sizeof(ps->seen) / sizeof(ps->seen[0])) {
        ps->seen[ps->n_seen].sec = sec;
        ps->seen[ps->n_seen].key = canon;
        ps->seen[ps->n_seen].line = ps->line;
        ps->n_seen++;
    }

    if (is_timeout) {
        const char *c = val;
        long v = 0;
        for (; *c; c++) {
            if (!isdigit((unsigned char)*c))
                return perr(ps, DCPKI_E_CONFIG_BAD_VALUE,
                            "'%s' in [%s] must be a whole number of milliseconds, not '%s'", key, sn, val);
            v = v * 10 + (*c - '0');
            if (v > 3600000L)
                break;
        }
        if (v <= 0 || v > 3600000L)
            return perr(ps, DCPKI_E_CONFIG_BAD_VALUE,
                        "'%s' in [%s] must be between 1 and 3600000 (one hour), not '%s'", key, sn, val);
        cfg->ca.timeout_ms = v;
        cfg->ca.timeout_ms_set = 1;
        return DCPKI_OK;
    }
    if (slot == &cfg->ca.host) {
        const char *why = check_host(val);
        if (why)
            return perr(ps, DCPKI_E_CONFIG_BAD_VALUE, "'%s' in [%s] %s", key, sn, why);
    } else if (slot == &cfg->signing.url) {
        const char *why = check_url(val);
        if (why)
            return perr(ps, DCPKI_E_CONFIG_BAD_VALUE, "'%s' in [%s] %s", key, sn, why);
    } else if (slot == &cfg->store.url) {
        /* libpq's URI forms (PQconnectdb takes the value as it is) */
        if (!dcpki_is_pg_url(val))
            return perr(ps, DCPKI_E_CONFIG_BAD_VALUE,
                        "'%s' in [%s] must start with postgresql:// or postgres:// (e.g. "
                        "postgresql://dcpki@db.example/dcpki); leave it unset for the local SQLite store",
                        key, sn);
    } else if (slot == &cfg->store.dir) {
        if (val[0] != '/')
            return perr(ps, DCPKI_E_CONFIG_BAD_VALUE,
                        "'%s' in [%s] must be an absolute path (it is used by services whatever their "
                        "working directory), not '%s'", key, sn, val);
    } else if (slot == &cfg->signing.agent) {
        if (!dcpki_agent_path_ok(val))
            return perr(ps, DCPKI_E_CONFIG_BAD_VALUE,
                        "'%s' in [%s] must be the absolute path of the agent's socket, at most 107 bytes "
                        "(e.g. /run/dcpki/agent.sock), not '%s'", key, sn, val);
    } else if (slot == &cfg->signing.keys) {
        const char *why = check_aliases(val);
        if (why)
            return perr(ps, DCPKI_E_CONFIG_BAD_VALUE, "'%s' in [%s] %s", key, sn, why);
    } else if (slot == &cfg->ra.certificate_thumbprint) {
        unsigned char tp[DCPKI_THUMBPRINT_LEN];
        dcpki_err terr;
        if (dcpki_thumbprint_parse(val, tp, &terr) != DCPKI_OK)
            return perr(ps, DCPKI_E_CONFIG_BAD_VALUE, "'%s' in [%s]: %s", key, sn, terr.detail);
        char norm[41];
        dcpki_thumbprint_format(tp, norm);
        return set_str(ps, slot, norm);
    }
    return set_str(ps, slot, val);
}

static char *trim(char *s, char *e)
{
    while (s < e && isspace((unsigned char)*s))
        s++;
    while (e > s && isspace((unsigned char)e[-1]))
        e--;
    *e = '\0';
    return s;
}

/* cut an inline comment: ';' (or '#') preceded by whitespace */
static void cut_comment(char *s)
{
    for (char *c = s; *c; c++)
        if ((*c == ';' || *c == '#') && c > s && (c[-1] == ' ' || c[-1] == '\t')) {
            *c = '\0';
            return;
        }
}

static dcpki_code parse_kv(struct parser *ps, enum section sec, char *s)
{
    char *eq = strchr(s, '=');
    if (!eq)
        return perr(ps, DCPKI_E_CONFIG_SYNTAX, "expected 'key = value' or '[section]', found '%s'",
                    s);
    char *key = trim(s, eq);
    char *val = trim(eq + 1, eq + 1 + strlen(eq + 1));
    if (!*key)
        return perr(ps, DCPKI_E_CONFIG_SYNTAX, "a line starts with '=' (no key name)");
    for (char *c = key; *c; c++)
        if (isspace((unsigned char)*c))
            return perr(ps, DCPKI_E_CONFIG_SYNTAX, "key '%s' contains a space", key);
    if (sec == SEC_NONE)
        return perr(ps, DCPKI_E_CONFIG_SYNTAX,
                    "key '%s' is outside any section (put it under [ca], [ra], [signing], [pkcs11], [profiles], "
                    "[seat_id] or [store])",
                    key);
    if (!*val)
        return perr(ps, DCPKI_E_CONFIG_BAD_VALUE,
                    "empty value for '%s' in [%s] (remove the line or give a value)", key,
                    section_names[sec]);
    return set_key(ps, sec, key, val);
}

dcpki_code dcpki_config_parse(const char *text, size_t len, const char *name, dcpki_config **out,
                              dcpki_err *err)
{
    *out = NULL;
    if (!name)
        name = "dcpki.conf";
    dcpki_config *cfg = calloc(1, sizeof(*cfg));
    char *buf = malloc(len + 1);
    if (!cfg || !buf || !(cfg->path = strdup(name))) {
        free(buf);
        dcpki_config_free(cfg);
        return dcpki_err_set(err, DCPKI_E_NOMEM, "reading %s", name);
    }
    cfg->ca.timeout_ms = DCPKI_DEFAULT_TIMEOUT_MS;
    if (len > 0)
        memcpy(buf, text, len);
    buf[len] = '\0';

    struct parser ps = { .name = name, .cfg = cfg, .err = err, .line = 0 };
    enum section sec = SEC_NONE;
    dcpki_code rc = DCPKI_OK;
    char *p = buf;
    size_t off = 0;
    /* skip a UTF-8 byte order mark */
    if (len >= 3 && memcmp(buf, "\xEF\xBB\xBF", 3) == 0)
        off = 3;
    p = buf + off;
    while (rc == DCPKI_OK && p <= buf + len) {
        ps.line++;
        char *nl = memchr(p, '\n', (size_t)(buf + len - p));
        char *end = nl ? nl : buf + len;
        if (memchr(p, '\0', (size_t)(end - p))) {
            rc = perr(&ps, DCPKI_E_CONFIG_SYNTAX, "the line contains a NUL byte");
            break;
        }
        char *s = trim(p, end);
        p = end + 1;
        if (*s == '\0' || *s == ';' || *s == '#') {
            if (!nl)
                break;
            continue;
        }
        cut_comment(s);
        s = trim(s, s + strlen(s));
        if (*s == '[') {
            char *close = strchr(s, ']');
            if (!close) {
                rc = perr(&ps, DCPKI_E_CONFIG_SYNTAX, "section header '%s' lacks ']'", s);
                break;
            }
            char *sname = trim(s + 1, close);
            char *rest = close + 1;
            enum section ns = SEC_NONE;
            for (int i = 1; i <= SEC_STORE; i++)
                if (strcmp(sname, section_names[i]) == 0)
                    ns = (enum section)i;
            if (ns == SEC_NONE) {
                rc = perr(&ps, DCPKI_E_CONFIG_UNKNOWN_KEY,
                          "unknown section [%s] (use [ca], [ra], [signing], [pkcs11], [profiles], [seat_id] "
                          "or [store])",
                          sname);
                break;
            }
            sec = ns;
            rest = trim(rest, rest + strlen(rest));
            if (*rest)
                rc = parse_kv(&ps, sec, rest);
        } else {
            rc = parse_kv(&ps, sec, s);
        }
        if (!nl)
            break;
    }
    if (rc == DCPKI_OK)
        rc = check_seat_keys(&ps);
    free(ps.profile_lines);
    free(buf);
    if (rc != DCPKI_OK) {
        dcpki_config_free(cfg);
        return rc;
    }
    *out = cfg;
    return DCPKI_OK;
}

/* ---- the SM_* environment of DigiCert KeyLocker / Software Trust Manager ---- */

/* each item's dcpki.conf key and SM_* variable */
static const struct {
    const char *file, *env;
} origin[DCPKI_CI__COUNT] = {
    [DCPKI_CI_SIGNING_URL] = { "[signing] url", "SM_HOST" },
    [DCPKI_CI_API_KEY] = { "[signing] api_key_file", "SM_API_KEY" },
    [DCPKI_CI_RA_PKCS12] = { "[ra] pkcs12", "SM_CLIENT_CERT_FILE" },
    [DCPKI_CI_RA_PKCS12_PASSWORD] = { "[ra] pkcs12_password_file", "SM_CLIENT_CERT_PASSWORD" },
    [DCPKI_CI_CA_TIMEOUT] = { "[ca] timeout_ms", "SM_CONN_TIMEOUT" },
    [DCPKI_CI_CA_TRUST] = { "[ca] trust", "SM_CA_FILE" },
};

const char *dcpki_config_origin(const dcpki_config *cfg, dcpki_config_item item)
{
    if ((unsigned)item >= DCPKI_CI__COUNT)
        return "?";
    return cfg && (cfg->from_env & (1u << item)) ? origin[item].env : origin[item].file;
}

int dcpki_agent_path_ok(const char *path)
{
    /* sockaddr_un.sun_path holds 108 bytes with the NUL (unix(7)) */
    return path[0] == '/' && strlen(path) <= 107;
}

int dcpki_config_names_ra(const dcpki_config *cfg)
{
    return cfg && (cfg->ra.certificate_thumbprint || cfg->ra.store || cfg->ra.certificate || cfg->ra.key ||
                   cfg->ra.pkcs12);
}

int dcpki_config_has_api_key(const dcpki_config *cfg)
{
    return cfg && (cfg->signing.api_key || cfg->signing.api_key_file);
}

/* secure_getenv: a set-user-ID program does not take its caller's service,
 * credentials or trust. Empty counts as unset. */
static const char *sm_env(dcpki_config_item item)
{
    const char *v = secure_getenv(origin[item].env);
    return v && *v ? v : NULL;
}

static dcpki_code env_set(dcpki_config *cfg, dcpki_config_item item, char **slot, const char *v, dcpki_err *err)
{
    char *d = strdup(v);
    if (!d)
        return dcpki_err_set(err, DCPKI_E_NOMEM, "reading %s", origin[item].env);
    free(*slot);
    *slot = d;
    cfg->from_env |= 1u << item;
    return DCPKI_OK;
}

dcpki_code dcpki_config_apply_env(dcpki_config *cfg, dcpki_err *err)
{
    const char *v;
    dcpki_code rc = DCPKI_OK;
    if (!cfg->signing.url && (v = sm_env(DCPKI_CI_SIGNING_URL))) {
        /* as smpkcs11 takes it: https://host[:port], a trailing '/' tolerated */
        char *u = strdup(v);
        if (!u)
            return dcpki_err_set(err, DCPKI_E_NOMEM, "reading SM_HOST");
        size_t n = strlen(u);
        while (n > 8 && u[n - 1] == '/')
            u[--n] = '\0';
        const char *why = check_url(u);
        if (why)
            rc = dcpki_err_set(err, DCPKI_E_CONFIG_BAD_VALUE, "SM_HOST '%.200s' %s", v, why);
        else
            rc = env_set(cfg, DCPKI_CI_SIGNING_URL, &cfg->signing.url, u, err);
        free(u);
        if (rc != DCPKI_OK)
            return rc;
    }
    if (!cfg->signing.api_key_file && (v = sm_env(DCPKI_CI_API_KEY))) {
        /* as from a file: trailing white space and line ends dropped; the value
         * itself never appears in a message */
        size_t n = strlen(v);
        while (n > 0 && (v[n - 1] == '\r' || v[n - 1] == '\n' || v[n - 1] == ' ' || v[n - 1] == '\t'))
            n--;
        if (n == 0)
            return dcpki_err_set(err, DCPKI_E_API_KEY, "SM_API_KEY holds only white space");
        for (size_t i = 0; i < n; i++)
            if ((unsigned char)v[i] < 0x20 || v[i] == 0x7f)
                return dcpki_err_set(err, DCPKI_E_API_KEY,
                                     "SM_API_KEY holds a control character (give the API key alone, on one line)");
        char *k = dcpki_secret_strndup(v, n);
        if (!k)
            return dcpki_err_set(err, DCPKI_E_NOMEM, "reading SM_API_KEY");
        dcpki_secret_free(cfg->signing.api_key);
        cfg->signing.api_key = k;
        cfg->from_env |= 1u << DCPKI_CI_API_KEY;
    }
    /* the RA identity as a whole: only when [ra] names none */
    if (!cfg->ra.certificate && !cfg->ra.key && !cfg->ra.pkcs12 && !cfg->ra.store &&
        !cfg->ra.certificate_thumbprint && !cfg->ra.pkcs12_password_file &&
        (v = sm_env(DCPKI_CI_RA_PKCS12))) {
        if ((rc = env_set(cfg, DCPKI_CI_RA_PKCS12, &cfg->ra.pkcs12, v, err)) != DCPKI_OK)
            return rc;
        if ((v = sm_env(DCPKI_CI_RA_PKCS12_PASSWORD))) {
            char *p = dcpki_secret_strdup(v); /* taken as it is: a password may end in a space */
            if (!p)
                return dcpki_err_set(err, DCPKI_E_NOMEM, "reading SM_CLIENT_CERT_PASSWORD");
            dcpki_secret_free(cfg->ra.pkcs12_password);
            cfg->ra.pkcs12_password = p;
            cfg->from_env |= 1u << DCPKI_CI_RA_PKCS12_PASSWORD;
        }
    }
    if (!cfg->ca.timeout_ms_set && (v = sm_env(DCPKI_CI_CA_TIMEOUT))) {
        long t = 0;
        for (const char *c = v; *c; c++) {
            if (!isdigit((unsigned char)*c))
                return dcpki_err_set(err, DCPKI_E_CONFIG_BAD_VALUE,
                                     "SM_CONN_TIMEOUT must be a whole number of milliseconds, not '%.100s'", v);
            if (t <= 3600000L)
                t = t * 10 + (*c - '0');
        }
        if (t <= 0 || t > 3600000L)
            return dcpki_err_set(err, DCPKI_E_CONFIG_BAD_VALUE,
                                 "SM_CONN_TIMEOUT must be between 1 and 3600000 (one hour), not '%.100s'", v);
        cfg->ca.timeout_ms = t;
        cfg->from_env |= 1u << DCPKI_CI_CA_TIMEOUT;
    }
    if (!cfg->ca.trust && (v = sm_env(DCPKI_CI_CA_TRUST)) &&
        (rc = env_set(cfg, DCPKI_CI_CA_TRUST, &cfg->ca.trust, v, err)) != DCPKI_OK)
        return rc;
    return DCPKI_OK;
}

dcpki_code dcpki_config_from_env(const char *path, dcpki_config **out, dcpki_err *err)
{
    *out = NULL;
    if (!path)
        path = DCPKI_DEFAULT_CONF;
    if (!sm_env(DCPKI_CI_SIGNING_URL))
        return dcpki_err_set(err, DCPKI_E_CONFIG_MISSING,
                             "%s does not exist and SM_HOST, which would take the configuration from the SM_* "
                             "environment variables, is not set", path);
    dcpki_config *cfg = calloc(1, sizeof(*cfg));
    if (!cfg || !(cfg->path = dcpki_strfmt("the SM_* environment variables (%s does not exist)", path))) {
        dcpki_config_free(cfg);
        return dcpki_err_set(err, DCPKI_E_NOMEM, "reading the SM_* environment variables");
    }
    cfg->ca.timeout_ms = DCPKI_DEFAULT_TIMEOUT_MS;
    dcpki_code rc = dcpki_config_apply_env(cfg, err);
    if (rc == DCPKI_OK && !cfg->signing.api_key)
        rc = dcpki_err_set(err, DCPKI_E_CONFIG_INCOMPLETE,
                           "SM_API_KEY is not set (needed with SM_HOST when no dcpki.conf is found: %s does not "
                           "exist); set SM_API_KEY to the API key of the DigiCert ONE service user, or write %s",
                           path, path);
    else if (rc == DCPKI_OK && !cfg->ra.pkcs12)
        rc = dcpki_err_set(err, DCPKI_E_CONFIG_INCOMPLETE,
                           "SM_CLIENT_CERT_FILE is not set (needed with SM_HOST when no dcpki.conf is found: %s "
                           "does not exist); set SM_CLIENT_CERT_FILE to the client authentication certificate's "
                           "PKCS#12 file (and SM_CLIENT_CERT_PASSWORD to its password), or write %s",
                           path, path);
    if (rc != DCPKI_OK) {
        dcpki_config_free(cfg);
        return rc;
    }
    DCPKI_DEBUG("config: %s does not exist; using SM_HOST=%s, SM_API_KEY (not shown), SM_CLIENT_CERT_FILE=%s%s%s%s%s",
                path, cfg->signing.url, cfg->ra.pkcs12,
                cfg->ra.pkcs12_password ? ", SM_CLIENT_CERT_PASSWORD (not shown)" : "",
                cfg->from_env & (1u << DCPKI_CI_CA_TIMEOUT) ? ", SM_CONN_TIMEOUT" : "",
                cfg->ca.trust ? ", SM_CA_FILE=" : "", cfg->ca.trust ? cfg->ca.trust : "");
    *out = cfg;
    return DCPKI_OK;
}

dcpki_code dcpki_config_load(const char *path, dcpki_config **out, dcpki_err *err)
{
    *out = NULL;
    path = dcpki_config_path(path);
    unsigned char *data;
    size_t len;
    if (dcpki_read_file(path, CONFIG_MAX_BYTES, &data, &len) != 0) {
        char eb[128];
        int e = errno;
        if (e == EFBIG)
            return dcpki_err_set(err, DCPKI_E_CONFIG_MISSING, "%s is larger than 1 MiB", path);
        /* only the default file may be absent; a file named on purpose must exist */
        if (e == ENOENT && strcmp(path, DCPKI_DEFAULT_CONF) == 0 && sm_env(DCPKI_CI_SIGNING_URL))
            return dcpki_config_from_env(path, out, err);
        if (e == ENOENT && strcmp(path, DCPKI_DEFAULT_CONF) == 0)
            return dcpki_err_set(err, DCPKI_E_CONFIG_MISSING,
                                 "cannot read %s: %s (and SM_HOST, which would take the configuration from the "
                                 "SM_* environment variables, is not set)",
                                 path, dcpki_strerror(e, eb, sizeof(eb)));
        return dcpki_err_set(err, DCPKI_E_CONFIG_MISSING, "cannot read %s: %s", path,
                             dcpki_strerror(e, eb, sizeof(eb)));
    }
    dcpki_code rc = dcpki_config_parse((const char *)data, len, path, out, err);
    free(data);
    if (rc == DCPKI_OK && (rc = dcpki_config_apply_env(*out, err)) != DCPKI_OK) {
        dcpki_config_free(*out);
        *out = NULL;
    }
    if (rc == DCPKI_OK && (*out)->from_env) {
        char used[200] = "";
        for (int i = 0; i < DCPKI_CI__COUNT; i++)
            if ((*out)->from_env & (1u << i))
                snprintf(used + strlen(used), sizeof(used) - strlen(used), "%s%s", used[0] ? ", " : "",
                         origin[i].env);
        DCPKI_DEBUG("config: %s: the keys it leaves unset are taken from %s", path, used);
    }
    return rc;
}

dcpki_code dcpki_read_secret_file(const char *path, char **out, dcpki_err *err)
{
    *out = NULL;
    if (!path)
        return dcpki_err_set(err, DCPKI_E_INVALID_ARGUMENT, "no secret file named");
    unsigned char *data;
    size_t len;
    if (dcpki_read_file(path, 64 * 1024, &data, &len) != 0) {
        char eb[128];
        int e = errno;
        if (e == EFBIG)
            return dcpki_err_set(err, DCPKI_E_IO, "cannot read %s: the file is larger than 64 KiB", path);
        if (e == ENOENT)
            return dcpki_err_set(err, DCPKI_E_FILE_UNREADABLE, "the file %s does not exist", path);
        return dcpki_err_set(err, DCPKI_E_FILE_UNREADABLE, "cannot read %s: %s", path,
                             dcpki_strerror(e, eb, sizeof(eb)));
    }
    size_t n = 0;
    while (n < len && data[n] != '\n' && data[n] != '\0')
        n++;
    while (n > 0 && (data[n - 1] == '\r' || data[n - 1] == ' ' || data[n - 1] == '\t'))
        n--;
    char *s = dcpki_secret_alloc(n + 1);
    if (!s) {
        OPENSSL_cleanse(data, len);
        free(data);
        return dcpki_err_set(err, DCPKI_E_NOMEM, "reading %s", path);
    }
    memcpy(s, data, n);
    s[n] = '\0';
    OPENSSL_cleanse(data, len);
    free(data);
    *out = s;
    return DCPKI_OK;
}

dcpki_code dcpki_config_read_api_key(const dcpki_config *cfg, char **out, dcpki_err *err)
{
    *out = NULL;
    if (cfg && cfg->signing.api_key) {
        if (!(*out = dcpki_secret_strdup(cfg->signing.api_key)))
            return dcpki_err_set(err, DCPKI_E_NOMEM, "reading SM_API_KEY");
        return DCPKI_OK;
    }
    if (!cfg || !cfg->signing.api_key_file)
        return dcpki_err_set(err, DCPKI_E_CONFIG_INCOMPLETE, "[signing] api_key_file is not set in %s",
                             cfg && cfg->path ? cfg->path : "the configuration");
    dcpki_code rc = dcpki_read_secret_file(cfg->signing.api_key_file, out, err);
    if (rc != DCPKI_OK) {
        if (err) {
            char d[DCPKI_ERR_DETAIL_MAX];
            snprintf(d, sizeof(d), "[signing] api_key_file: %.400s", err->detail);
            dcpki_err_set(err, rc, "%s", d);
        }
        return rc;
    }
    if (!**out) {
        dcpki_secret_free(*out);
        *out = NULL;
        return dcpki_err_set(err, DCPKI_E_API_KEY, "[signing] api_key_file %s is empty",
                             cfg->signing.api_key_file);
    }
    for (const char *c = *out; *c; c++)
        if ((unsigned char)*c < 0x20 || *c == 0x7f) {
            dcpki_secret_free(*out);
            *out = NULL;
            return dcpki_err_set(err, DCPKI_E_API_KEY,
                                 "[signing] api_key_file %s holds a control character in its first line",
                                 cfg->signing.api_key_file);
        }
    return DCPKI_OK;
}

dcpki_code dcpki_config_read_pin(const dcpki_config *cfg, char **out, dcpki_err *err)
{
    char eb[128], buf[1024]; /* a PIN line, trailing blanks included */
    struct stat st;
    size_t n = 0;
    dcpki_code rc = DCPKI_OK;
    *out = NULL;
    if (!cfg || !cfg->pkcs11.pin_file)
        return dcpki_err_set(err, DCPKI_E_CONFIG_INCOMPLETE, "[pkcs11] pin_file is not set in %s",
                             cfg && cfg->path ? cfg->path : "the configuration");
    const char *path = cfg->pkcs11.pin_file;
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0)
        return dcpki_err_set(err, DCPKI_E_IO, "[pkcs11] pin_file: cannot read %s: %s", path,
                             dcpki_strerror(errno, eb, sizeof(eb)));
    /* the checks are made on the file opened, not on its name */
    if (fstat(fd, &st) != 0) {
        rc = dcpki_err_set(err, DCPKI_E_IO, "[pkcs11] pin_file: cannot read %s: %s", path,
                           dcpki_strerror(errno, eb, sizeof(eb)));
    } else if (!S_ISREG(st.st_mode)) {
        rc = dcpki_err_set(err, DCPKI_E_IO, "[pkcs11] pin_file %s is not a regular file", path);
    } else if ((st.st_mode & 07777) != 0600 && (st.st_mode & 07777) != 0400) {
        rc = dcpki_err_set(err, DCPKI_E_IO,
                           "[pkcs11] pin_file %s has mode %04o; it must be 0600 or 0400 "
                           "(readable by its owner only): run chmod 600 %s",
                           path, (unsigned)(st.st_mode & 07777), path);
    } else if (st.st_uid != geteuid()) {
        rc = dcpki_err_set(err, DCPKI_E_IO,
                           "[pkcs11] pin_file %s is owned by uid %lu, not by uid %lu that reads it: "
                           "run chown %lu %s",
                           path, (unsigned long)st.st_uid, (unsigned long)geteuid(),
                           (unsigned long)geteuid(), path);
    }
    /* the first line only: at most DCPKI_PIN_MAX bytes and its end are needed */
    while (rc == DCPKI_OK && n < sizeof(buf) && !memchr(buf, '\n', n)) {
        ssize_t r = read(fd, buf + n, sizeof(buf) - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            rc = dcpki_err_set(err, DCPKI_E_IO, "[pkcs11] pin_file: cannot read %s: %s", path,
                               dcpki_strerror(errno, eb, sizeof(eb)));
        if (r <= 0)
            break;
        n += (size_t)r;
    }
    close(fd);
    if (rc == DCPKI_OK) {
        size_t len = 0;
        while (len < n && buf[len] != '\n' && buf[len] != '\0')
            len++;
        int cut = len == sizeof(buf); /* the line goes on beyond what was read */
        while (len > 0 && (buf[len - 1] == '\r' || buf[len - 1] == ' ' || buf[len - 1] == '\t'))
            len--;
        if (cut || len > DCPKI_PIN_MAX)
            rc = dcpki_err_set(err, DCPKI_E_CONFIG_BAD_VALUE,
                               "[pkcs11] pin_file %s: the PIN is longer than %d bytes", path, DCPKI_PIN_MAX);
        else if (len == 0)
            rc = dcpki_err_set(err, DCPKI_E_CONFIG_BAD_VALUE,
                               "[pkcs11] pin_file %s is empty: write the PIN on its first line", path);
        if (rc == DCPKI_OK && !(*out = dcpki_secret_strndup(buf, len)))
            rc = dcpki_err_set(err, DCPKI_E_NOMEM, "reading %s", path);
    }
    OPENSSL_cleanse(buf, sizeof(buf));
    return rc;
}

void dcpki_secret_free(char *s)
{
    dcpki_secret_release(s);
}
