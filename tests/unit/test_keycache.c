/* The on-disk cache of keypair metadata (src/core/keycache.c): directory
 * choice from the environment, file names, directory and file permissions,
 * TTL, malformed files, atomic writes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../../src/core/keycache.h"

static char work[256];

static char *wp(const char *name)
{
    static char bufs[8][600];
    static int i;
    char *b = bufs[i++ % 8];
    snprintf(b, 600, "%s/%s", work, name);
    return b;
}

static int setup(void **state)
{
    (void)state;
    snprintf(work, sizeof(work), "/tmp/dcpki-test-keycache-XXXXXX");
    return mkdtemp(work) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[600];
    snprintf(cmd, sizeof(cmd), "chmod -R u+rwx '%s' 2>/dev/null; rm -rf '%s'", work, work);
    return system(cmd) == 0 ? 0 : -1;
}

static void write_raw(const char *path, const char *text, mode_t mode)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    assert_int_equal(fclose(f), 0);
    assert_int_equal(chmod(path, mode), 0);
}

/* Entries of dir (not . and ..); with names starting with prefix when given. */
static int count_entries(const char *dir, const char *prefix)
{
    DIR *d = opendir(dir);
    assert_non_null(d);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        if (!prefix || strncmp(e->d_name, prefix, strlen(prefix)) == 0)
            n++;
    }
    closedir(d);
    return n;
}

static void expect_dir(const char *want)
{
    char *d = dcpki_keycache_dir();
    if (!want) {
        if (d)
            fail_msg("expected no cache directory, got %s", d);
        return;
    }
    assert_non_null(d);
    assert_string_equal(d, want);
    free(d);
}

static void test_dir_selection(void **state)
{
    (void)state;
    setenv("XDG_CACHE_HOME", "/xdg/cache", 1);
    setenv("HOME", "/home/someone", 1);
    unsetenv("DCPKI_NO_DISK_CACHE");
    expect_dir("/xdg/cache/dcpki/keys");
    /* disabled */
    setenv("DCPKI_NO_DISK_CACHE", "1", 1);
    expect_dir(NULL);
    setenv("DCPKI_NO_DISK_CACHE", "yes", 1);
    expect_dir(NULL);
    setenv("DCPKI_NO_DISK_CACHE", "0", 1);
    expect_dir("/xdg/cache/dcpki/keys");
    setenv("DCPKI_NO_DISK_CACHE", "", 1);
    expect_dir("/xdg/cache/dcpki/keys");
    unsetenv("DCPKI_NO_DISK_CACHE");
    /* a relative or empty XDG_CACHE_HOME is ignored (XDG base directory spec) */
    setenv("XDG_CACHE_HOME", "relative/cache", 1);
    expect_dir("/home/someone/.cache/dcpki/keys");
    setenv("XDG_CACHE_HOME", "", 1);
    expect_dir("/home/someone/.cache/dcpki/keys");
    unsetenv("XDG_CACHE_HOME");
    expect_dir("/home/someone/.cache/dcpki/keys");
    /* no HOME (a service): /var/cache for root, else no disk cache */
    unsetenv("HOME");
    expect_dir(geteuid() == 0 ? "/var/cache/dcpki/keys" : NULL);
    setenv("HOME", "", 1);
    expect_dir(geteuid() == 0 ? "/var/cache/dcpki/keys" : NULL);
    unsetenv("HOME");
    setenv("DCPKI_NO_DISK_CACHE", "1", 1);
    expect_dir(NULL);
    unsetenv("DCPKI_NO_DISK_CACHE");
}

static void test_file_names(void **state)
{
    (void)state;
    char *a = dcpki_keycache_path(NULL, "/d", "https://s.example", "sha1:AB", "issuing-ca");
    char *b = dcpki_keycache_path(NULL, "/d", "https://s.example", "sha1:AB", "issuing-ca");
    char *c = dcpki_keycache_path(NULL, "/d", "https://s.example", "sha1:AB", "ec-ca");
    char *d = dcpki_keycache_path(NULL, "/d", "https://t.example", "sha1:AB", "issuing-ca");
    char *e = dcpki_keycache_path(NULL, "/d", "https://s.example", "sha1:AC", "issuing-ca");
    /* the parts are separated: ("ab","c") is not ("a","bc") */
    char *f = dcpki_keycache_path(NULL, "/d", "u", "ab", "c");
    char *g = dcpki_keycache_path(NULL, "/d", "u", "a", "bc");
    assert_true(a && b && c && d && e && f && g);
    assert_int_equal(strlen(a), 3 + 64);
    assert_int_equal(strncmp(a, "/d/", 3), 0);
    for (const char *p = a + 3; *p; p++)
        assert_non_null(strchr("0123456789abcdef", *p));
    assert_string_equal(a, b);
    assert_string_not_equal(a, c);
    assert_string_not_equal(a, d);
    assert_string_not_equal(a, e);
    assert_string_not_equal(f, g);
    /* nothing of the inputs shows in the name */
    assert_null(strstr(a, "issuing"));
    free(a); free(b); free(c); free(d); free(e); free(f); free(g);
}

static void test_prepare_dir(void **state)
{
    (void)state;
    struct stat st;
    const char *dir = wp("x/cache/dcpki/keys");
    assert_int_equal(dcpki_keycache_prepare_dir(dir), 0);
    assert_int_equal(lstat(dir, &st), 0);
    assert_true(S_ISDIR(st.st_mode));
    assert_int_equal(st.st_mode & 07777, 0700);
    assert_int_equal(lstat(wp("x/cache"), &st), 0);
    assert_int_equal(st.st_mode & 07777, 0700);
    /* again: fine */
    assert_int_equal(dcpki_keycache_prepare_dir(dir), 0);
    /* a directory others can write is refused */
    assert_int_equal(chmod(dir, 0777), 0);
    assert_int_equal(dcpki_keycache_prepare_dir(dir), -1);
    assert_int_equal(chmod(dir, 0720), 0);
    assert_int_equal(dcpki_keycache_prepare_dir(dir), -1);
    assert_int_equal(chmod(dir, 0700), 0);
    /* a symbolic link is refused, even to a good directory */
    assert_int_equal(symlink(dir, wp("link")), 0);
    assert_int_equal(dcpki_keycache_prepare_dir(wp("link")), -1);
    /* a file in the way */
    write_raw(wp("file"), "x", 0600);
    assert_int_equal(dcpki_keycache_prepare_dir(wp("file/keys")), -1);
    assert_int_equal(dcpki_keycache_prepare_dir(wp("file")), -1);
    /* relative */
    assert_int_equal(dcpki_keycache_prepare_dir("rel/keys"), -1);
    /* owned by someone else (needs root to set up) */
    if (geteuid() == 0) {
        assert_int_equal(mkdir(wp("theirs"), 0700), 0);
        assert_int_equal(chown(wp("theirs"), 1, 1), 0);
        assert_int_equal(dcpki_keycache_prepare_dir(wp("theirs")), -1);
    }
}

static const char JSON[] = "{\"id\":\"1\",\"alias\":\"k\",\"key_alg\":\"RSA\"}";

static void test_roundtrip_and_permissions(void **state)
{
    (void)state;
    const char *dir = wp("rt");
    assert_int_equal(dcpki_keycache_prepare_dir(dir), 0);
    char *path = dcpki_keycache_path(NULL, dir, "u", "r", "k");
    assert_non_null(path);
    assert_int_equal(dcpki_keycache_write(path, 1000, JSON, strlen(JSON)), 0);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0600);
    char *json = NULL;
    size_t len = 0;
    int64_t at = 0;
    assert_int_equal(dcpki_keycache_read(path, 1010, 300, &json, &len, &at), 0);
    assert_int_equal(at, 1000);
    assert_int_equal(len, strlen(JSON));
    assert_string_equal(json, JSON);
    free(json);
    /* the file as stored: the header line, then the JSON as given */
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    char line[200];
    assert_non_null(fgets(line, sizeof(line), f));
    assert_string_equal(line, "dcpki-keycache 1 1000\n");
    assert_non_null(fgets(line, sizeof(line), f));
    assert_string_equal(line, JSON);
    fclose(f);
    /* group/world-writable: ignored, and left alone */
    assert_int_equal(chmod(path, 0620), 0);
    assert_int_equal(dcpki_keycache_read(path, 1010, 300, &json, &len, NULL), -1);
    assert_null(json);
    assert_int_equal(chmod(path, 0602), 0);
    assert_int_equal(dcpki_keycache_read(path, 1010, 300, &json, &len, NULL), -1);
    assert_int_equal(access(path, F_OK), 0);
    /* readable by others is no secret leak (public data): accepted */
    assert_int_equal(chmod(path, 0644), 0);
    assert_int_equal(dcpki_keycache_read(path, 1010, 300, &json, &len, NULL), 0);
    free(json);
    assert_int_equal(chmod(path, 0600), 0);
    /* a symbolic link to a good file is not followed */
    char *lnk = dcpki_keycache_path(NULL, dir, "u", "r", "link");
    assert_int_equal(symlink(path, lnk), 0);
    assert_int_equal(dcpki_keycache_read(lnk, 1010, 300, &json, &len, NULL), -1);
    assert_int_equal(access(path, F_OK), 0);
    /* a directory is not a cache file */
    char *sub = dcpki_keycache_path(NULL, dir, "u", "r", "dir");
    assert_int_equal(mkdir(sub, 0700), 0);
    assert_int_equal(dcpki_keycache_read(sub, 1010, 300, &json, &len, NULL), -1);
    /* another owner's file is ignored and not removed */
    if (geteuid() == 0) {
        assert_int_equal(chown(path, 1, 1), 0);
        assert_int_equal(dcpki_keycache_read(path, 1010, 300, &json, &len, NULL), -1);
        assert_int_equal(access(path, F_OK), 0);
        assert_int_equal(chown(path, 0, 0), 0);
    }
    /* missing */
    char *none = dcpki_keycache_path(NULL, dir, "u", "r", "none");
    assert_int_equal(dcpki_keycache_read(none, 1010, 300, &json, &len, NULL), -1);
    free(none);
    free(sub);
    free(lnk);
    free(path);
}

static void test_ttl(void **state)
{
    (void)state;
    const char *dir = wp("ttl");
    assert_int_equal(dcpki_keycache_prepare_dir(dir), 0);
    char *path = dcpki_keycache_path(NULL, dir, "u", "r", "k");
    char *json = NULL;
    size_t len = 0;
    assert_int_equal(dcpki_keycache_write(path, 1000, JSON, strlen(JSON)), 0);
    assert_int_equal(dcpki_keycache_read(path, 1000, 300, &json, &len, NULL), 0);
    free(json);
    assert_int_equal(dcpki_keycache_read(path, 1299, 300, &json, &len, NULL), 0);
    free(json);
    /* expired: ignored and removed */
    assert_int_equal(dcpki_keycache_read(path, 1300, 300, &json, &len, NULL), -1);
    assert_null(json);
    assert_int_equal(access(path, F_OK), -1);
    /* fetched "in the future" (beyond a minute of clock skew): not believed */
    assert_int_equal(dcpki_keycache_write(path, 1000, JSON, strlen(JSON)), 0);
    assert_int_equal(dcpki_keycache_read(path, 960, 300, &json, &len, NULL), 0);
    free(json);
    assert_int_equal(dcpki_keycache_read(path, 900, 300, &json, &len, NULL), -1);
    assert_int_equal(access(path, F_OK), -1);
    free(path);
}

static void test_corrupt(void **state)
{
    (void)state;
    const char *dir = wp("bad");
    assert_int_equal(dcpki_keycache_prepare_dir(dir), 0);
    static const char *bad[] = {
        "",
        "garbage",
        "dcpki-keycache 1 1000",              /* no newline, no body */
        "dcpki-keycache 1 1000\n",            /* no body */
        "dcpki-keycache 1 abc\n{}",
        "dcpki-keycache 1 -5\n{}",
        "dcpki-keycache 1 1000x\n{}",
        "dcpki-keycache 1  1000\n{}",
        "dcpki-keycache 2 1000\n{}",
        "dcpki-keycache 1 99999999999999999999999\n{}",
        "{\"id\":\"1\"}",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char *path = dcpki_keycache_path(NULL, dir, "u", "r", "k");
        write_raw(path, bad[i], 0600);
        char *json = NULL;
        size_t len = 0;
        if (dcpki_keycache_read(path, 1000, 300, &json, &len, NULL) != -1)
            fail_msg("accepted malformed cache file #%zu", i);
        assert_null(json);
        /* ours and malformed: removed */
        assert_int_equal(access(path, F_OK), -1);
        free(path);
    }
    /* larger than any cache file */
    char *path = dcpki_keycache_path(NULL, dir, "u", "r", "big");
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs("dcpki-keycache 1 1000\n", f);
    for (int i = 0; i < DCPKI_KEYCACHE_MAX; i += 8)
        fputs("        ", f);
    fclose(f);
    assert_int_equal(chmod(path, 0600), 0);
    char *json = NULL;
    size_t len = 0;
    assert_int_equal(dcpki_keycache_read(path, 1000, 300, &json, &len, NULL), -1);
    assert_int_equal(access(path, F_OK), -1);
    free(path);
}

static void test_atomic_write(void **state)
{
    (void)state;
    const char *dir = wp("atomic");
    assert_int_equal(dcpki_keycache_prepare_dir(dir), 0);
    char *p1 = dcpki_keycache_path(NULL, dir, "u", "r", "one");
    char *p2 = dcpki_keycache_path(NULL, dir, "u", "r", "two");
    for (int i = 0; i < 20; i++) {
        assert_int_equal(dcpki_keycache_write(p1, 1000 + i, JSON, strlen(JSON)), 0);
        assert_int_equal(dcpki_keycache_write(p2, 1000 + i, JSON, strlen(JSON)), 0);
    }
    /* replaced in place: two files, no temporary file left */
    assert_int_equal(count_entries(dir, NULL), 2);
    assert_int_equal(count_entries(dir, ".tmp"), 0);
    char *json = NULL;
    size_t len = 0;
    assert_int_equal(dcpki_keycache_read(p1, 1019, 300, &json, &len, NULL), 0);
    free(json);
    /* failures leave nothing behind */
    assert_int_equal(dcpki_keycache_write(p1, 1000, JSON, 0), -1);
    assert_int_equal(dcpki_keycache_write(p1, 1000, NULL, 5), -1);
    assert_int_equal(dcpki_keycache_write(p1, 1000, JSON, DCPKI_KEYCACHE_MAX), -1);
    char *missing = dcpki_keycache_path(NULL, wp("no-such-dir"), "u", "r", "one");
    assert_int_equal(dcpki_keycache_write(missing, 1000, JSON, strlen(JSON)), -1);
    assert_int_equal(access(wp("no-such-dir"), F_OK), -1);
    /* rename over a directory fails: the temporary file is removed */
    char *sub = dcpki_keycache_path(NULL, dir, "u", "r", "dir");
    assert_int_equal(mkdir(sub, 0700), 0);
    assert_int_equal(dcpki_keycache_write(sub, 1000, JSON, strlen(JSON)), -1);
    assert_int_equal(count_entries(dir, ".tmp"), 0);
    assert_int_equal(count_entries(dir, NULL), 3);
    /* the earlier entry is intact */
    assert_int_equal(dcpki_keycache_read(p1, 1019, 300, &json, &len, NULL), 0);
    assert_string_equal(json, JSON);
    free(json);
    dcpki_keycache_remove(p1);
    dcpki_keycache_remove(p1);
    dcpki_keycache_remove(NULL);
    assert_int_equal(access(p1, F_OK), -1);
    free(sub);
    free(missing);
    free(p1);
    free(p2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dir_selection),
        cmocka_unit_test(test_file_names),
        cmocka_unit_test(test_prepare_dir),
        cmocka_unit_test(test_roundtrip_and_permissions),
        cmocka_unit_test(test_ttl),
        cmocka_unit_test(test_corrupt),
        cmocka_unit_test(test_atomic_write),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
