/* src/core/secret.c: secrets get pages of their own that are excluded from
 * core dumps ("dd" in /proc/self/smaps), zeroed, and unmapped on release;
 * strings from elsewhere are still wiped and freed; threads may use it at once. */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "dcpki/secret.h"

/* The VmFlags of the mapping that holds p, or "" when no mapping does. */
static void vmflags_of(const void *p, char *out, size_t n)
{
    out[0] = '\0';
    FILE *f = fopen("/proc/self/smaps", "r");
    assert_non_null(f);
    char line[512];
    int inside = 0;
    uintptr_t a = (uintptr_t)p;
    while (fgets(line, sizeof line, f)) {
        unsigned long lo, hi;
        if (sscanf(line, "%lx-%lx ", &lo, &hi) == 2 && strchr(line, '-') == line + strspn(line, "0123456789abcdef")) {
            inside = a >= lo && a < hi;
            continue;
        }
        if (inside && strncmp(line, "VmFlags:", 8) == 0) {
            snprintf(out, n, "%s", line + 8);
            break;
        }
    }
    fclose(f);
}

static void test_not_dumped(void **state)
{
    (void)state;
    char *s = dcpki_secret_strfmt("x-api-key: %s", "0123456789abcdef");
    assert_non_null(s);
    assert_string_equal(s, "x-api-key: 0123456789abcdef");
    assert_true(dcpki_secret_is_protected(s));
    char flags[512];
    vmflags_of(s, flags, sizeof flags);
    if (!strstr(flags, " dd"))
        fail_msg("the secret's mapping is not excluded from core dumps: VmFlags:%s", flags);
    dcpki_secret_release(s);
    vmflags_of(s, flags, sizeof flags);
    assert_string_equal(flags, ""); /* unmapped */
}

static void test_sizes(void **state)
{
    (void)state;
    unsigned char *p = dcpki_secret_alloc(10000);
    assert_non_null(p);
    for (size_t i = 0; i < 10000; i++)
        assert_int_equal(p[i], 0);
    memset(p, 0xa5, 10000);
    dcpki_secret_release(p);
    char *d = dcpki_secret_strndup("abcdef", 3);
    assert_string_equal(d, "abc");
    dcpki_secret_release(d);
    assert_null(dcpki_secret_strdup(NULL));
    dcpki_secret_release(NULL);
    /* a heap string (not ours) is wiped and freed, not unmapped */
    char *h = strdup("heap secret");
    assert_false(dcpki_secret_is_protected(h));
    dcpki_secret_release(h);
}

static void *worker(void *arg)
{
    (void)arg;
    for (int i = 0; i < 500; i++) {
        char *s = dcpki_secret_strfmt("pin-%d", i);
        if (!s || strncmp(s, "pin-", 4) != 0)
            return (void *)1;
        dcpki_secret_release(s);
    }
    return NULL;
}

static void test_threads(void **state)
{
    (void)state;
    pthread_t th[4];
    for (int i = 0; i < 4; i++)
        assert_int_equal(pthread_create(&th[i], NULL, worker, NULL), 0);
    for (int i = 0; i < 4; i++) {
        void *r;
        pthread_join(th[i], &r);
        assert_null(r);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_not_dumped),
        cmocka_unit_test(test_sizes),
        cmocka_unit_test(test_threads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
