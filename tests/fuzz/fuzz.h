/* Shared by the harnesses of tests/fuzz: invariant checks that abort (so that
 * libFuzzer and the replay driver both report them) and small helpers. */
#ifndef DCPKI_FUZZ_H
#define DCPKI_FUZZ_H
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dcpki/error.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* a helper that only some targets of a file use */
#define FUZZ_MAYBE_UNUSED __attribute__((unused))

#define FUZZ_ASSERT(c)                                                                     \
    do {                                                                                   \
        if (!(c)) {                                                                        \
            fprintf(stderr, "%s:%d: invariant failed: %s\n", __FILE__, __LINE__, #c);      \
            abort();                                                                       \
        }                                                                                  \
    } while (0)

/* The input as a NUL-terminated string (cut at its first NUL). */
static inline char *fuzz_cstr(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1);
    if (!s)
        abort();
    if (size)
        memcpy(s, data, size);
    s[size] = '\0';
    return s;
}

/* After a failure: the code is the one returned and the detail is a
 * non-empty NUL-terminated sentence. */
static inline void fuzz_check_err(const dcpki_err *e, dcpki_code rc)
{
    FUZZ_ASSERT(rc != DCPKI_OK);
    FUZZ_ASSERT(e->code == rc);
    FUZZ_ASSERT(memchr(e->detail, '\0', sizeof(e->detail)) != NULL);
    FUZZ_ASSERT(e->detail[0] != '\0');
}

/* A string output: NULL or NUL-terminated and no longer than max bytes. */
static inline void fuzz_check_str(const char *s, size_t max)
{
    FUZZ_ASSERT(s == NULL || strnlen(s, max + 1) <= max);
}
#endif
