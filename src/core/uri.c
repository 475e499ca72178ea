/* dcpki: URIs: dcpki:ra, dcpki:key=ALIAS, optional ;type=private|public|cert.
 * Attributes are ';'-separated (RFC 7512 style), the alias percent-decoded,
 * unknown or repeated attributes rejected. */
#include "dcpki/uri.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

static dcpki_code bad(dcpki_err *err, const char *s, const char *why)
{
    return dcpki_err_set(err, DCPKI_E_URI, "'%s': %s", s, why);
}

dcpki_code dcpki_uri_parse(const char *s, dcpki_uri *out, dcpki_err *err)
{
    if (!s || !out)
        return dcpki_err_set(err, DCPKI_E_URI, "no URI given");
    if (strlen(s) > 4 * DCPKI_ALIAS_MAX)
        return dcpki_err_set(err, DCPKI_E_URI, "the URI is longer than %d characters",
                             4 * DCPKI_ALIAS_MAX);
    if (strncasecmp(s, "dcpki:", 6) != 0)
        return bad(err, s, "the scheme is not dcpki:");
    dcpki_uri u;
    memset(&u, 0, sizeof(u));
    int have_kind = 0, have_type = 0;
    const char *p = s + 6;
    for (;;) {
        const char *end = strchr(p, ';');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if (len == 0)
            return bad(err, s, "empty attribute (stray ';')");
        const char *eq = memchr(p, '=', len);
        size_t nlen = eq ? (size_t)(eq - p) : len;
        char name[32];
        if (nlen >= sizeof(name))
            return bad(err, s, "unknown attribute");
        memcpy(name, p, nlen);
        name[nlen] = '\0';
        const char *val = eq ? eq + 1 : NULL;
        size_t vlen = eq ? len - nlen - 1 : 0;

        if (strcmp(name, "ra") == 0) {
            if (val)
                return bad(err, s, "'ra' takes no value");
            if (have_kind)
                return bad(err, s, "names more than one key (ra / key=)");
            have_kind = 1;
            u.kind = DCPKI_URI_RA;
        } else if (strcmp(name, "key") == 0) {
            if (!val)
                return bad(err, s, "'key' needs a value: key=ALIAS");
            if (have_kind)
                return bad(err, s, "names more than one key (ra / key=)");
            have_kind = 1;
            u.kind = DCPKI_URI_KEY;
            size_t o = 0;
            for (size_t i = 0; i < vlen; i++) {
                char c = val[i];
                if (c == '%') {
                    int h = i + 1 < vlen ? hexval(val[i + 1]) : -1;
                    int l = i + 2 < vlen ? hexval(val[i + 2]) : -1;
                    if (h < 0 || l < 0)
                        return bad(err, s, "bad percent-escape in the alias (write %XX with two hexadecimal digits)");
                    c = (char)(h * 16 + l);
                    if (c == '\0')
                        return bad(err, s, "the alias contains %00");
                    i += 2;
                } else if ((unsigned char)c < 0x21 || c == 0x7f) {
                    return bad(err, s, "the alias contains a space or control character (percent-encode it)");
                } else if (c == '?' || c == '#' || c == '=') {
                    return bad(err, s, "the alias contains '?', '#' or '=' (percent-encode it)");
                }
                if (o + 1 >= DCPKI_ALIAS_MAX)
                    return bad(err, s, "the alias is too long");
                u.alias[o++] = c;
            }
            u.alias[o] = '\0';
            if (o == 0)
                return bad(err, s, "the alias is empty (write dcpki:key=ALIAS)");
        } else if (strcmp(name, "type") == 0) {
            if (!val || vlen == 0)
                return bad(err, s, "'type' needs a value: private, public or cert");
            if (have_type)
                return bad(err, s, "'type' is given twice");
            have_type = 1;
            if (vlen == 7 && strncmp(val, "private", 7) == 0)
                u.type = DCPKI_OBJ_PRIVATE;
            else if (vlen == 6 && strncmp(val, "public", 6) == 0)
                u.type = DCPKI_OBJ_PUBLIC;
            else if (vlen == 4 && strncmp(val, "cert", 4) == 0)
                u.type = DCPKI_OBJ_CERT;
            else
                return dcpki_err_set(err, DCPKI_E_URI,
                                     "'%s': unknown type '%.*s' (use private, public or cert)", s,
                                     (int)(vlen > 40 ? 40 : vlen), val);
        } else {
            return dcpki_err_set(err, DCPKI_E_URI, "'%s': unknown attribute '%s'", s, name);
        }
        if (!end)
            break;
        p = end + 1;
    }
    if (!have_kind)
        return bad(err, s, "names no key (write dcpki:ra or dcpki:key=ALIAS)");
    *out = u;
    return DCPKI_OK;
}

int dcpki_uri_format(const dcpki_uri *u, char *buf, size_t n)
{
    static const char hex[] = "0123456789ABCDEF";
    char tmp[16 + 3 * DCPKI_ALIAS_MAX + 16];
    size_t o = 0;
    if (u->kind == DCPKI_URI_RA) {
        o = (size_t)snprintf(tmp, sizeof(tmp), "dcpki:ra");
    } else if (u->kind == DCPKI_URI_KEY) {
        o = (size_t)snprintf(tmp, sizeof(tmp), "dcpki:key=");
        for (const unsigned char *a = (const unsigned char *)u->alias; *a; a++) {
            unsigned char c = *a;
            int plain = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                        c == '-' || c == '.' || c == '_' || c == '~' || c == ':' || c == '@' ||
                        c == '+' || c == ',' || c == '!' || c == '*' || c == '(' || c == ')';
            if (o + 4 >= sizeof(tmp))
                return -1;
            if (plain) {
                tmp[o++] = (char)c;
            } else {
                tmp[o++] = '%';
                tmp[o++] = hex[c >> 4];
                tmp[o++] = hex[c & 15];
            }
        }
        tmp[o] = '\0';
    } else {
        return -1;
    }
    static const char *const types[] = { NULL, "private", "public", "cert" };
    if (u->type > DCPKI_OBJ_ANY && u->type <= DCPKI_OBJ_CERT) {
        int k = snprintf(tmp + o, sizeof(tmp) - o, ";type=%s", types[u->type]);
        if (k < 0 || (size_t)k >= sizeof(tmp) - o)
            return -1;
        o += (size_t)k;
    }
    if (o + 1 > n)
        return -1;
    memcpy(buf, tmp, o + 1);
    return (int)o;
}
