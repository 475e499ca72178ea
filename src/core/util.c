/* Small private helpers: strings, JSON, base64 (OpenSSL), files, time. */
#include "internal.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>

char *dcpki_strdup0(const char *s)
{
    return s ? strdup(s) : NULL;
}

char *dcpki_vstrfmt_with(void *(*alloc)(size_t), const char *fmt, va_list ap)
{
    va_list again;
    va_copy(again, ap);
    int n = vsnprintf(NULL, 0, fmt, ap);
    char *s = n < 0 ? NULL : alloc((size_t)n + 1);
    if (s)
        vsnprintf(s, (size_t)n + 1, fmt, again);
    va_end(again);
    return s;
}

char *dcpki_strfmt(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *s = dcpki_vstrfmt_with(malloc, fmt, ap);
    va_end(ap);
    return s;
}

char *dcpki_strjoin(const char *first, ...)
{
    va_list ap;
    size_t n = 0;
    va_start(ap, first);
    for (const char *s = first; s; s = va_arg(ap, const char *))
        n += strlen(s);
    va_end(ap);
    char *out = malloc(n + 1), *p = out;
    if (!out)
        return NULL;
    va_start(ap, first);
    for (const char *s = first; s; s = va_arg(ap, const char *)) {
        size_t k = strlen(s);
        memcpy(p, s, k);
        p += k;
    }
    va_end(ap);
    *p = '\0';
    return out;
}

int dcpki_is_pg_url(const char *u)
{
    return strncmp(u, "postgresql://", 13) == 0 || strncmp(u, "postgres://", 11) == 0;
}

int dcpki_is_dotted_oid(const char *s)
{
    if (s == NULL || !isdigit((unsigned char)s[0]))
        return 0;
    int dots = 0;
    for (const char *p = s; *p; p++) {
        if (*p == '.') {
            if (p[1] == '\0' || p[1] == '.')
                return 0;
            dots++;
        } else if (!isdigit((unsigned char)*p)) {
            return 0;
        }
    }
    return dots >= 1;
}

int dcpki_contains_ci(const char *hay, const char *needle)
{
    if (hay == NULL)
        return 0;
    size_t n = strlen(needle);
    for (const char *p = hay; *p; p++)
        if (strncasecmp(p, needle, n) == 0)
            return 1;
    return 0;
}

const char *dcpki_json_str(json_object *o, const char *key)
{
    json_object *v;
    if (!o || !json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_string))
        return NULL;
    return json_object_get_string(v);
}

void dcpki_hex_lower(const unsigned char *d, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[d[i] >> 4];
        out[2 * i + 1] = digits[d[i] & 15];
    }
    out[2 * n] = '\0';
}

char *dcpki_b64_encode(const unsigned char *data, size_t len)
{
    if (len > (size_t)INT32_MAX / 2)
        return NULL;
    size_t cap = 4 * ((len + 2) / 3) + 1;
    unsigned char *out = OPENSSL_malloc(cap);
    if (!out)
        return NULL;
    int n = EVP_EncodeBlock(out, data, (int)len);
    if (n < 0) {
        OPENSSL_free(out);
        return NULL;
    }
    out[n] = '\0';
    return (char *)out;
}

int dcpki_b64_decode(const char *text, unsigned char **out, size_t *out_len)
{
    static const char space[] = " \t\n\v\f\r";
    *out = NULL;
    *out_len = 0;
    size_t tl = strlen(text);
    if (tl > (size_t)INT32_MAX / 2)
        return -1;
    /* whitespace (line breaks in PEM-like bodies) is dropped from a copy;
     * text without any, the usual JSON field, is decoded as it is */
    char *clean = NULL;
    size_t cl = tl;
    if (strcspn(text, space) < tl) {
        if (!(clean = OPENSSL_malloc(tl + 1)))
            return -1;
        cl = 0;
        for (size_t i = 0; i < tl; i++)
            if (!strchr(space, text[i]))
                clean[cl++] = text[i];
        clean[cl] = '\0';
        text = clean;
    }
    if (cl % 4 != 0) {
        OPENSSL_free(clean);
        return -1;
    }
    size_t pad = 0;
    if (cl >= 1 && text[cl - 1] == '=')
        pad++;
    if (cl >= 2 && text[cl - 2] == '=')
        pad++;
    unsigned char *buf = OPENSSL_malloc(cl / 4 * 3 + 1);
    if (!buf) {
        OPENSSL_free(clean);
        return -1;
    }
    int n = cl ? EVP_DecodeBlock(buf, (const unsigned char *)text, (int)cl) : 0;
    OPENSSL_free(clean);
    if (n < 0 || (size_t)n < pad) {
        OPENSSL_free(buf);
        return -1;
    }
    *out = buf;
    *out_len = (size_t)n - pad;
    return 0;
}

int dcpki_read_file(const char *path, size_t max, unsigned char **data, size_t *len)
{
    *data = NULL;
    *len = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int e = errno;
        close(fd);
        errno = e;
        return -1;
    }
    if (S_ISDIR(st.st_mode)) {
        close(fd);
        errno = EISDIR;
        return -1;
    }
    size_t cap = 4096, used = 0;
    unsigned char *buf = malloc(cap + 1);
    if (!buf) {
        close(fd);
        errno = ENOMEM;
        return -1;
    }
    for (;;) {
        if (used == cap) {
            if (cap >= max) {
                OPENSSL_cleanse(buf, used);
                free(buf);
                close(fd);
                errno = EFBIG;
                return -1;
            }
            size_t ncap = cap * 2 > max ? max : cap * 2;
            unsigned char *nb = malloc(ncap + 1);
            if (!nb) {
                OPENSSL_cleanse(buf, used);
                free(buf);
                close(fd);
                errno = ENOMEM;
                return -1;
            }
            memcpy(nb, buf, used);
            OPENSSL_cleanse(buf, used);
            free(buf);
            buf = nb;
            cap = ncap;
        }
        ssize_t r = read(fd, buf + used, cap - used);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            int e = errno;
            OPENSSL_cleanse(buf, used);
            free(buf);
            close(fd);
            errno = e;
            return -1;
        }
        if (r == 0)
            break;
        used += (size_t)r;
    }
    close(fd);
    buf[used] = '\0';
    *data = buf;
    *len = used;
    return 0;
}

int dcpki_write_all(int fd, const void *data, size_t n)
{
    const unsigned char *p = data;
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            if (w == 0)
                errno = EIO;
            return -1;
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

const char *dcpki_strerror(int errnum, char *buf, size_t n)
{
    if (n == 0)
        return buf;
    /* POSIX strerror_r (we build with _POSIX_C_SOURCE) */
    char tmp[128];
#if defined(__GLIBC__) && defined(_GNU_SOURCE)
    const char *m = strerror_r(errnum, tmp, sizeof(tmp));
#else
    const char *m = tmp;
    if (strerror_r(errnum, tmp, sizeof(tmp)) != 0)
        snprintf(tmp, sizeof(tmp), "error %d", errnum);
#endif
    snprintf(buf, n, "%s", m);
    if (buf[0] && buf[1] && !isupper((unsigned char)buf[1]))
        buf[0] = (char)tolower((unsigned char)buf[0]);
    return buf;
}

int64_t dcpki_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void dcpki_sleep_ms(int64_t ms)
{
    if (ms <= 0)
        return;
    struct timespec ts = { (time_t)(ms / 1000), (long)(ms % 1000) * 1000000L };
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}
