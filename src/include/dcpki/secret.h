/* Memory for secrets: the API key, passwords, PINs and the x-api-key header.
 * Each allocation has pages of its own, excluded from core dumps
 * (MADV_DONTDUMP), locked in memory where RLIMIT_MEMLOCK allows, and wiped
 * with OPENSSL_cleanse before it is returned. The process's dumpability and
 * other global state are never touched. Thread-safe. */
#ifndef DCPKI_SECRET_H
#define DCPKI_SECRET_H
#include <stddef.h>

/* n zeroed bytes, or NULL (out of memory, or the pages could not be kept out
 * of core dumps). Freed with dcpki_secret_release. */
void *dcpki_secret_alloc(size_t n);
/* Wipes and unmaps p (NULL is ignored). A string not from dcpki_secret_alloc
 * is wiped up to its NUL and freed with free(). */
void dcpki_secret_release(void *p);
char *dcpki_secret_strdup(const char *s);
char *dcpki_secret_strndup(const char *s, size_t n);
char *dcpki_secret_strfmt(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Whether p came from dcpki_secret_alloc (tests). */
int dcpki_secret_is_protected(const void *p);

#endif
