/* On-disk cache of keypair metadata (keycache.h). */
#define _GNU_SOURCE /* secure_getenv */
#include "keycache.h"
#include "dcpki/log.h"
#include "dcpki/ossl.h"
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>


#define MAGIC "dcpki-keycache 1 "

static const char *env(const char *name)
{
    const char *v = secure_getenv(name);
    return v && *v ? v : NULL;
}

char *dcpki_keycache_dir(void)
{
    const char *off = env("DCPKI_NO_DISK_CACHE");
    if (off && strcmp(off, "0") != 0)
        return NULL;
    const char *xdg = env("XDG_CACHE_HOME");
    if (xdg && xdg[0] == '/') /* the XDG spec: relative paths are ignored */
        return dcpki_strfmt("%s/dcpki/keys", xdg);
    const char *home = env("HOME");
    if (home && home[0] == '/')
        return dcpki_strfmt("%s/.cache/dcpki/keys", home);
    if (geteuid() == 0)
        return dcpki_strfmt("/var/cache/dcpki/keys");
    return NULL;
}

char *dcpki_keycache_path(OSSL_LIB_CTX *libctx, const char *dir, const char *url, const char *ra,
                          const char *alias)
{
    static const char hex[] = "0123456789abcdef";
    unsigned char md[32];
    dcpki_digest *c = dcpki_digest_new(libctx, "SHA256");
    /* NUL separators: no two different triples hash the same input */
    int ok = c && dcpki_digest_size(c) == sizeof(md) &&
             dcpki_digest_update(c, "dcpki-keycache-v1", sizeof("dcpki-keycache-v1")) &&
             dcpki_digest_update(c, url, strlen(url) + 1) && dcpki_digest_update(c, ra, strlen(ra) + 1) &&
             dcpki_digest_update(c, alias, strlen(alias) + 1) && dcpki_digest_final(c, md, sizeof(md));
    dcpki_digest_free(c);
    if (!ok)
        return NULL;
    char name[65];
    for (size_t i = 0; i < sizeof(md); i++) {
        name[2 * i] = hex[md[i] >> 4];
        name[2 * i + 1] = hex[md[i] & 15];
    }
    name[64] = '\0';
    return dcpki_strfmt("%s/%s", dir, name);
}

static int dir_ok(const char *dir)
{
    struct stat st;
    if (lstat(dir, &st) != 0)
        return 0;
    return S_ISDIR(st.st_mode) && st.st_uid == geteuid() && (st.st_mode & (S_IWGRP | S_IWOTH)) == 0;
}

int dcpki_keycache_prepare_dir(const char *dir)
{
    if (!dir || dir[0] != '/')
        return -1;
    if (dir_ok(dir))
        return 0;
    char *p = strdup(dir);
    if (!p)
        return -1;
    /* parents: created 0700 when missing, existing ones left as they are */
    for (char *q = p + 1; *q; q++) {
        if (*q != '/')
            continue;
        *q = '\0';
        if (mkdir(p, 0700) != 0 && errno != EEXIST) {
            DCPKI_DEBUG("key cache: cannot create %s (errno %d); no disk cache", p, errno);
            free(p);
            return -1;
        }
        *q = '/';
    }
    free(p);
    if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
        DCPKI_DEBUG("key cache: cannot create %s (errno %d); no disk cache", dir, errno);
        return -1;
    }
    if (!dir_ok(dir)) {
        DCPKI_DEBUG("key cache: %s is not a directory of ours that only we can write; no disk cache", dir);
        return -1;
    }
    return 0;
}

int dcpki_keycache_read(const char *path, int64_t now, int64_t ttl_s, char **json, size_t *len,
                        int64_t *fetched_at)
{
    *json = NULL;
    *len = 0;
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0)
        return -1;
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_uid != geteuid() ||
        (st.st_mode & (S_IWGRP | S_IWOTH)) != 0) {
        DCPKI_DEBUG("key cache: %s is not a private regular file of ours; ignored", path);
        close(fd);
        return -1;
    }
    int bad = st.st_size <= 0 || st.st_size > DCPKI_KEYCACHE_MAX;
    char *buf = NULL;
    size_t n = 0;
    if (!bad) {
        buf = malloc((size_t)st.st_size + 1);
        if (!buf) {
            close(fd);
            return -1;
        }
        while (n < (size_t)st.st_size) {
            ssize_t r = read(fd, buf + n, (size_t)st.st_size - n);
            if (r < 0 && errno == EINTR)
                continue;
            if (r <= 0)
                break;
            n += (size_t)r;
        }
        buf[n] = '\0';
        bad = n != (size_t)st.st_size;
    }
    close(fd);
    /* header: MAGIC <seconds>\n */
    int64_t at = -1;
    char *body = NULL;
    if (!bad && n > strlen(MAGIC) && memcmp(buf, MAGIC, strlen(MAGIC)) == 0) {
        char *nl = memchr(buf, '\n', n);
        char *end = NULL;
        errno = 0;
        long long v = nl ? strtoll(buf + strlen(MAGIC), &end, 10) : -1;
        if (nl && end == nl && errno == 0 && v >= 0 && buf[strlen(MAGIC)] >= '0' && buf[strlen(MAGIC)] <= '9') {
            at = (int64_t)v;
            body = nl + 1;
        }
    }
    if (!body || body == buf + n) {
        DCPKI_DEBUG("key cache: %s is malformed; removed", path);
        free(buf);
        unlink(path);
        return -1;
    }
    /* a time in the future (clock set back, or a forged file) is not believed */
    if (now - at >= ttl_s || at > now + 60) {
        DCPKI_DEBUG("key cache: %s has expired; removed", path);
        free(buf);
        unlink(path);
        return -1;
    }
    *len = n - (size_t)(body - buf);
    memmove(buf, body, *len);
    buf[*len] = '\0';
    *json = buf;
    if (fetched_at)
        *fetched_at = at;
    return 0;
}

int dcpki_keycache_write(const char *path, int64_t now, const char *json, size_t len)
{
    if (!json || len == 0 || len > DCPKI_KEYCACHE_MAX - 64)
        return -1;
    const char *slash = strrchr(path, '/');
    if (!slash)
        return -1;
    char *tmp = dcpki_strfmt("%.*s/.tmp-XXXXXX", (int)(slash - path), path);
    if (!tmp)
        return -1;
    int fd = mkostemp(tmp, O_CLOEXEC);
    if (fd < 0) {
        DCPKI_DEBUG("key cache: cannot create a file in %.*s (errno %d)", (int)(slash - path), path, errno);
        free(tmp);
        return -1;
    }
    char head[64];
    int hl = snprintf(head, sizeof(head), MAGIC "%" PRId64 "\n", now);
    int ok = fchmod(fd, 0600) == 0 && hl > 0 && dcpki_write_all(fd, head, (size_t)hl) == 0 &&
             dcpki_write_all(fd, json, len) == 0 && fsync(fd) == 0;
    if (close(fd) != 0)
        ok = 0;
    if (ok && rename(tmp, path) != 0)
        ok = 0;
    if (!ok) {
        DCPKI_DEBUG("key cache: cannot write %s (errno %d)", path, errno);
        unlink(tmp);
    }
    free(tmp);
    return ok ? 0 : -1;
}

void dcpki_keycache_remove(const char *path)
{
    if (path)
        unlink(path);
}
