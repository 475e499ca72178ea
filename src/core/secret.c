/* Memory for secrets (API key, passwords, PINs, the x-api-key header): every
 * allocation has pages of its own, mapped privately, excluded from core dumps
 * (madvise MADV_DONTDUMP), locked against swap where the limits allow
 * (mlock, best effort) and wiped (OPENSSL_cleanse) before it is unmapped.
 * Nothing here changes the process's own dumpability or any global state, so
 * it is safe in a provider or PKCS#11 module loaded by any host.
 * Thread-safe: each call works on its own mapping only. */
#define _GNU_SOURCE
#include "internal.h"
#include "dcpki/secret.h"
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <sys/mman.h>
#include <unistd.h>
#include <openssl/crypto.h>

/* The live mappings, so that a pointer is recognised as ours without reading
 * memory in front of it (a heap string's neighbour bytes are not ours to read:
 * ASan calls that an overflow). Few secrets live at once. */
static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static void **g_live;
static size_t g_nlive, g_caplive;
static pthread_once_t g_once = PTHREAD_ONCE_INIT;

static void atfork_child(void)
{
    pthread_mutex_init(&g_lock, NULL);
}

static void register_atfork(void)
{
    pthread_atfork(NULL, NULL, atfork_child);
}

static int live_add(void *m)
{
    pthread_once(&g_once, register_atfork);
    pthread_mutex_lock(&g_lock);
    int ok = 1;
    if (g_nlive == g_caplive) {
        size_t nc = g_caplive ? 2 * g_caplive : 16;
        void **nl = realloc(g_live, nc * sizeof(*nl));
        if (nl) {
            g_live = nl;
            g_caplive = nc;
        } else {
            ok = 0;
        }
    }
    if (ok)
        g_live[g_nlive++] = m;
    pthread_mutex_unlock(&g_lock);
    return ok;
}

/* 1 and removed when m is a live mapping of ours (remove: 1) or just 1 (remove: 0) */
static int live_find(const void *m, int remove)
{
    int found = 0;
    pthread_mutex_lock(&g_lock);
    for (size_t i = 0; i < g_nlive; i++)
        if (g_live[i] == m) {
            found = 1;
            if (remove)
                g_live[i] = g_live[--g_nlive];
            break;
        }
    pthread_mutex_unlock(&g_lock);
    return found;
}

#define SECRET_MAGIC UINT64_C(0x64637065b15ec2e7)

struct secret_head {
    uint64_t magic;
    size_t maplen;
};
/* the user's bytes start this far into the first page */
#define SECRET_OFF 16

static size_t page_size(void)
{
    long p = sysconf(_SC_PAGESIZE);
    return p > 0 ? (size_t)p : 4096;
}

void *dcpki_secret_alloc(size_t n)
{
    size_t ps = page_size();
    if (n > SIZE_MAX - SECRET_OFF - ps)
        return NULL;
    size_t len = (n + SECRET_OFF + ps - 1) / ps * ps;
    void *m = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED)
        return NULL;
#ifdef MADV_DONTDUMP
    if (madvise(m, len, MADV_DONTDUMP) != 0) {
        /* a secret that would land in a core dump is not handed out */
        munmap(m, len);
        return NULL;
    }
#endif
    (void)mlock(m, len); /* best effort: RLIMIT_MEMLOCK may forbid it */
    struct secret_head *h = m;
    h->magic = SECRET_MAGIC;
    h->maplen = len;
    if (!live_add(m)) {
        munlock(m, len);
        munmap(m, len);
        return NULL;
    }
    return (unsigned char *)m + SECRET_OFF;
}

static struct secret_head *head_of(const void *p)
{
    size_t ps = page_size();
    uintptr_t u = (uintptr_t)p;
    if ((u & (ps - 1)) != SECRET_OFF)
        return NULL;
    struct secret_head *h = (struct secret_head *)(u - SECRET_OFF);
    return live_find(h, 0) && h->magic == SECRET_MAGIC ? h : NULL;
}

int dcpki_secret_is_protected(const void *p)
{
    return p && head_of(p) != NULL;
}

void dcpki_secret_release(void *p)
{
    if (!p)
        return;
    struct secret_head *h = head_of(p);
    if (!h) {
        /* not ours (a string from an older path): wipe it as a string at least */
        OPENSSL_cleanse(p, strlen(p));
        free(p);
        return;
    }
    size_t len = h->maplen;
    live_find(h, 1);
    OPENSSL_cleanse(h, len);
    munlock(h, len);
    munmap(h, len);
}

char *dcpki_secret_strndup(const char *s, size_t n)
{
    if (!s)
        return NULL;
    char *d = dcpki_secret_alloc(n + 1);
    if (d) {
        memcpy(d, s, n);
        d[n] = '\0';
    }
    return d;
}

char *dcpki_secret_strdup(const char *s)
{
    return s ? dcpki_secret_strndup(s, strlen(s)) : NULL;
}

char *dcpki_secret_strfmt(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *d = dcpki_vstrfmt_with(dcpki_secret_alloc, fmt, ap);
    va_end(ap);
    return d;
}
