/* SHA-1 thumbprints as Windows prints them (BRIEF §1). */
#include "dcpki/thumbprint.h"
#include "dcpki/ossl.h"

#include <stdio.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/x509.h>

static int hexval(unsigned char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Length of an ignorable sequence at s (0 if none): space, tab, colon,
 * U+00A0, U+200E, U+200F, U+FEFF in UTF-8. */
static size_t ignorable(const unsigned char *s)
{
    if (s[0] == ' ' || s[0] == '\t' || s[0] == ':')
        return 1;
    if (s[0] == 0xC2 && s[1] == 0xA0)
        return 2;
    if (s[0] == 0xE2 && s[1] == 0x80 && (s[2] == 0x8E || s[2] == 0x8F))
        return 3;
    if (s[0] == 0xEF && s[1] == 0xBB && s[2] == 0xBF)
        return 3;
    return 0;
}

dcpki_code dcpki_thumbprint_parse(const char *s, unsigned char out[DCPKI_THUMBPRINT_LEN],
                                  dcpki_err *err)
{
    if (!s)
        return dcpki_err_set(err, DCPKI_E_THUMBPRINT, "no thumbprint given");
    const unsigned char *p = (const unsigned char *)s;
    unsigned char tmp[DCPKI_THUMBPRINT_LEN];
    size_t digits = 0;
    while (*p) {
        size_t skip = ignorable(p);
        if (skip) {
            p += skip;
            continue;
        }
        int v = hexval(*p);
        if (v < 0) {
            if (*p >= 0x21 && *p < 0x7f)
                return dcpki_err_set(err, DCPKI_E_THUMBPRINT,
                                     "'%s' is not a SHA-1 thumbprint: '%c' is not a hexadecimal digit",
                                     s, *p);
            return dcpki_err_set(err, DCPKI_E_THUMBPRINT,
                                 "'%s' is not a SHA-1 thumbprint: it holds the byte 0x%02X, not a hexadecimal digit",
                                 s, *p);
        }
        if (digits < 2 * DCPKI_THUMBPRINT_LEN) {
            if (digits % 2 == 0)
                tmp[digits / 2] = (unsigned char)(v << 4);
            else
                tmp[digits / 2] |= (unsigned char)v;
        }
        digits++;
        p++;
    }
    if (digits != 2 * DCPKI_THUMBPRINT_LEN)
        return dcpki_err_set(err, DCPKI_E_THUMBPRINT,
                             "'%s' has %zu hexadecimal digits; a SHA-1 thumbprint has 40", s, digits);
    memcpy(out, tmp, sizeof(tmp));
    return DCPKI_OK;
}

void dcpki_thumbprint_format(const unsigned char tp[DCPKI_THUMBPRINT_LEN], char out[41])
{
    static const char hex[] = "0123456789ABCDEF";
    for (size_t i = 0; i < DCPKI_THUMBPRINT_LEN; i++) {
        out[2 * i] = hex[tp[i] >> 4];
        out[2 * i + 1] = hex[tp[i] & 15];
    }
    out[40] = '\0';
}

int dcpki_thumbprint_of(const X509 *x, OSSL_LIB_CTX *libctx, unsigned char out[DCPKI_THUMBPRINT_LEN])
{
    unsigned char *der = NULL;
    int n = x != NULL ? i2d_X509(x, &der) : -1;
    if (n <= 0)
        return -1;
    int ok = dcpki_digest_once(libctx, "SHA1", der, (size_t)n, out, DCPKI_THUMBPRINT_LEN);
    OPENSSL_free(der);
    ERR_clear_error();
    return ok ? 0 : -1;
}
