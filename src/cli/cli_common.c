/* Shared parts of the dcpki command-line tool (see cli_common.h). */
#include "cli_common.h"

#include "dcpki/pki_platform.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "dcpki/thumbprint.h"

/* ------------------------------------------------------------------ errors */

int cli_error(const dcpki_err *err)
{
    char buf[DCPKI_ERR_DETAIL_MAX + 512];
    fprintf(stderr, "dcpki: %s\n", dcpki_err_format(err, buf, sizeof buf));
    return 1;
}

int cli_errorf(dcpki_code code, const char *fmt, ...)
{
    dcpki_err err;
    va_list ap;
    char raw[DCPKI_ERR_DETAIL_MAX];
    dcpki_err_clear(&err);
    err.code = code;
    va_start(ap, fmt);
    vsnprintf(raw, sizeof raw, fmt, ap);
    va_end(ap);
    dcpki_escape(raw, err.detail, sizeof err.detail);
    return cli_error(&err);
}

int cli_usage_error(const cli_ctx *ctx, const char *fmt, ...)
{
    char raw[512], detail[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(raw, sizeof raw, fmt, ap);
    va_end(ap);
    fprintf(stderr, "dcpki: invalid command line: %s (run '%s --help' for usage)\n", dcpki_escape(raw, detail, sizeof detail),
            ctx->cmdpath[0] ? ctx->cmdpath : "dcpki");
    return CLI_EXIT_USAGE;
}

void cli_warn(const char *fmt, ...)
{
    char raw[2048], line[8192];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(raw, sizeof raw, fmt, ap);
    va_end(ap);
    fprintf(stderr, "dcpki: warning: %s\n", dcpki_escape(raw, line, sizeof line));
}

dcpki_code cli_ossl_err(dcpki_err *err, dcpki_code code, const char *what)
{
    unsigned long e = ERR_peek_last_error();
    const char *reason = e ? ERR_reason_error_string(e) : NULL;
    ERR_clear_error();
    if (reason)
        return dcpki_err_set(err, code, "%s: %s", what, reason);
    return dcpki_err_set(err, code, "%s", what);
}

/* ----------------------------------------------------------- dispatching */

void cli_print_usage(FILE *f, const cli_cmd *cmd, const char *cmdpath)
{
    fputs(cmd->usage, f);
    if (cmd->subs) {
        size_t w = 0;
        for (const cli_cmd *const *s = cmd->subs; *s; s++)
            if (strlen((*s)->name) > w)
                w = strlen((*s)->name);
        fputs("\nCommands:\n", f);
        for (const cli_cmd *const *s = cmd->subs; *s; s++)
            fprintf(f, "  %-*s  %s\n", (int)w, (*s)->name, (*s)->summary);
        fprintf(f, "\nRun '%s COMMAND --help' for the options of a command.\n", cmdpath);
    }
}

static void path_push(cli_ctx *ctx, const char *name)
{
    size_t n = strlen(ctx->cmdpath);
    snprintf(ctx->cmdpath + n, sizeof ctx->cmdpath - n, "%s%s", n ? " " : "", name);
}

int cli_dispatch(cli_ctx *ctx, const cli_cmd *cmd, int argc, char **argv)
{
    path_push(ctx, cmd->name);
    if (cmd->run)
        return cmd->run(ctx, cmd, argc, argv);

    /* a group: its own options (--help and the global ones), then a command */
    static const struct option longopts[] = {CLI_COMMON_LONGOPTS, {NULL, 0, NULL, 0}};
    int rc = 0, c;
    optind = 0;
    /* "+": stop at the subcommand, whose options are its own */
    while ((c = cli_getopt(ctx, cmd, argc, argv, "+", longopts, &rc)) != CLI_OPTS_END) {
        if (c == CLI_OPTS_EXIT)
            return rc;
        return cli_usage_error(ctx, "unexpected option");
    }
    if (optind >= argc)
        return cli_usage_error(ctx, "'%s' needs a command", ctx->cmdpath);
    const char *name = argv[optind];
    for (const cli_cmd *const *s = cmd->subs; *s; s++)
        if (strcmp((*s)->name, name) == 0)
            return cli_dispatch(ctx, *s, argc - optind, argv + optind);
    if (strcmp(name, "help") == 0) {
        cli_print_usage(stdout, cmd, ctx->cmdpath);
        return 0;
    }
    return cli_usage_error(ctx, "unknown command '%s %s'", ctx->cmdpath, name);
}

int cli_getopt(cli_ctx *ctx, const cli_cmd *cmd, int argc, char **argv,
               const char *shortopts, const struct option *longopts, int *rc)
{
    char opts[128];
    const char *rest = shortopts;
    const char *plus = "";
    if (*rest == '+') {
        plus = "+";
        rest++;
    }
    /* leading ':' (after '+'): report a missing value as ':' and print nothing */
    snprintf(opts, sizeof opts, "%s:h%s", plus, rest);
    opterr = 0;
    for (;;) {
        int c = getopt_long(argc, argv, opts, longopts, NULL);
        switch (c) {
        case -1:
            return CLI_OPTS_END;
        case 'h':
            cli_print_usage(stdout, cmd, ctx->cmdpath);
            *rc = 0;
            return CLI_OPTS_EXIT;
        case CLI_OPT_JSON:
            ctx->json = 1;
            continue;
        case CLI_OPT_CONFIG:
            if (ctx->core) { /* only possible if a command loaded before parsing */
                *rc = cli_usage_error(ctx, "--config given after the configuration was read");
                return CLI_OPTS_EXIT;
            }
            ctx->config_path = optarg;
            continue;
        case '?':
            if (optopt > 0 && optopt < 0x100)
                *rc = cli_usage_error(ctx, "unknown option '-%c'", optopt);
            else
                *rc = cli_usage_error(ctx, "unknown option '%s'", argv[optind - 1]);
            return CLI_OPTS_EXIT;
        case ':':
            if (optind > 0 && optind <= argc && strncmp(argv[optind - 1], "--", 2) == 0)
                *rc = cli_usage_error(ctx, "option '%.*s' needs a value",
                                      (int)strcspn(argv[optind - 1], "="), argv[optind - 1]);
            else if (optopt > 0 && optopt < 0x100)
                *rc = cli_usage_error(ctx, "option '-%c' needs a value", optopt);
            else
                *rc = cli_usage_error(ctx, "an option needs a value");
            return CLI_OPTS_EXIT;
        default:
            return c;
        }
    }
}

int cli_check_operands(cli_ctx *ctx, int argc, char **argv, int min, int max)
{
    int n = argc - optind;
    if (n < min)
        return cli_usage_error(ctx, "'%s' needs %s", ctx->cmdpath,
                               min - n == 1 && max == min ? "one more argument" : "more arguments");
    if (max >= 0 && n > max)
        return cli_usage_error(ctx, "unexpected argument '%s'", argv[optind + max]);
    return 0;
}

int cli_parse_common_only(cli_ctx *ctx, const cli_cmd *cmd, int argc, char **argv, int min,
                          int max)
{
    static const struct option longopts[] = {CLI_COMMON_LONGOPTS, {NULL, 0, NULL, 0}};
    int rc = 0, c;
    optind = 0;
    while ((c = cli_getopt(ctx, cmd, argc, argv, "", longopts, &rc)) != CLI_OPTS_END) {
        if (c == CLI_OPTS_EXIT)
            return rc;
        return cli_usage_error(ctx, "unexpected option");
    }
    if (cli_check_operands(ctx, argc, argv, min, max))
        return CLI_EXIT_USAGE;
    return CLI_OPTS_END;
}

/* ---------------------------------------------------------- lazy loading */

/* The core context is made at first need, once the options (--config) are known. */
static dcpki_code core(cli_ctx *ctx, dcpki_err *err)
{
    return ctx->core ? DCPKI_OK : dcpki_ctx_new(ctx->config_path, NULL, &ctx->core, err);
}

dcpki_code cli_core(cli_ctx *ctx, dcpki_ctx **out, dcpki_err *err)
{
    dcpki_code rc = core(ctx, err);
    *out = ctx->core;
    return rc;
}

dcpki_code cli_config(cli_ctx *ctx, const dcpki_config **out, dcpki_err *err)
{
    dcpki_code rc = core(ctx, err);
    return rc != DCPKI_OK ? rc : dcpki_ctx_config(ctx->core, out, err);
}

dcpki_code cli_identity(cli_ctx *ctx, const dcpki_identity **out, dcpki_err *err)
{
    dcpki_code rc = core(ctx, err);
    return rc != DCPKI_OK ? rc : dcpki_ctx_identity(ctx->core, out, err);
}

dcpki_code cli_transport(cli_ctx *ctx, dcpki_transport **out, dcpki_err *err)
{
    dcpki_code rc = core(ctx, err);
    return rc != DCPKI_OK ? rc : dcpki_ctx_transport(ctx->core, out, err);
}

dcpki_code cli_signing(cli_ctx *ctx, dcpki_signing **out, dcpki_err *err)
{
    dcpki_code rc = core(ctx, err);
    return rc != DCPKI_OK ? rc : dcpki_ctx_signing(ctx->core, out, err);
}

unsigned long cli_connections(cli_ctx *ctx)
{
    dcpki_transport *t = ctx->core ? dcpki_ctx_transport_if_made(ctx->core) : NULL;
    return t ? dcpki_transport_connections(t) : 0;
}

void cli_ctx_free(cli_ctx *ctx)
{
    if (ctx->pki_free != NULL && ctx->pki != NULL)
        ctx->pki_free(ctx->pki);
    ctx->pki = NULL;
    dcpki_ctx_free(ctx->core);
    ctx->core = NULL;
}

/* ---------------------------------------------------------------- output */

int cli_json_print(json_object *obj)
{
    const char *s = json_object_to_json_string_ext(
        obj, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED | JSON_C_TO_STRING_NOSLASHESCAPE);
    int rc = 0;
    if (!s || printf("%s\n", s) < 0 || fflush(stdout) != 0)
        rc = cli_errorf(DCPKI_E_IO, "cannot write the JSON output: %s", strerror(errno));
    json_object_put(obj);
    return rc;
}

json_object *cli_json_str(const char *s)
{
    return s ? json_object_new_string(s) : NULL;
}

static char *bio_to_str(BIO *b)
{
    char *data = NULL;
    long n = BIO_get_mem_data(b, &data);
    char *s = malloc((size_t)(n > 0 ? n : 0) + 1);
    if (!s)
        return NULL;
    if (n > 0)
        memcpy(s, data, (size_t)n);
    s[n > 0 ? n : 0] = '\0';
    return s;
}

char *cli_name_str(const X509_NAME *name)
{
    BIO *b = BIO_new(BIO_s_mem());
    char *s = NULL;
    if (!b)
        return NULL;
    unsigned long flags = (ASN1_STRFLGS_RFC2253 & ~ASN1_STRFLGS_ESC_MSB) | XN_FLAG_SEP_CPLUS_SPC |
                          XN_FLAG_DN_REV | XN_FLAG_FN_SN;
    if (X509_NAME_print_ex(b, name, 0, flags) >= 0)
        s = bio_to_str(b);
    BIO_free(b);
    return s;
}

void cli_time_str(const ASN1_TIME *t, char out[32])
{
    struct tm tm;
    if (!t || !ASN1_TIME_to_tm(t, &tm) || !strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm))
        snprintf(out, 32, "?");
}

void cli_thumbprint(const X509 *x, char out[41])
{
    unsigned char md[DCPKI_THUMBPRINT_LEN];
    if (dcpki_thumbprint_of(x, NULL, md) == 0)
        dcpki_thumbprint_format(md, out);
    else
        snprintf(out, 41, "?");
}

int cli_cert_expired(const X509 *x)
{
    return X509_cmp_current_time(X509_get0_notAfter(x)) < 0;
}

int cli_cert_not_yet_valid(const X509 *x)
{
    return X509_cmp_current_time(X509_get0_notBefore(x)) > 0;
}

char *cli_cert_pem(X509 *x)
{
    BIO *b = BIO_new(BIO_s_mem());
    char *s = NULL;
    if (b && PEM_write_bio_X509(b, x))
        s = bio_to_str(b);
    BIO_free(b);
    return s;
}

char *cli_pubkey_pem(EVP_PKEY *pk)
{
    BIO *b = BIO_new(BIO_s_mem());
    char *s = NULL;
    if (b && PEM_write_bio_PUBKEY(b, pk))
        s = bio_to_str(b);
    BIO_free(b);
    return s;
}

json_object *cli_cert_json(X509 *x, int with_pem)
{
    json_object *o = json_object_new_object();
    char *subject = cli_name_str(X509_get_subject_name(x));
    char *issuer = cli_name_str(X509_get_issuer_name(x));
    char *serial = dcpki_serial_of_cert(x);
    char nb[32], na[32], tp[41];
    cli_time_str(X509_get0_notBefore(x), nb);
    cli_time_str(X509_get0_notAfter(x), na);
    cli_thumbprint(x, tp);
    json_object_object_add(o, "subject", cli_json_str(subject));
    json_object_object_add(o, "issuer", cli_json_str(issuer));
    json_object_object_add(o, "serial", cli_json_str(serial));
    json_object_object_add(o, "not_before", json_object_new_string(nb));
    json_object_object_add(o, "not_after", json_object_new_string(na));
    json_object_object_add(o, "thumbprint", json_object_new_string(tp));
    json_object_object_add(o, "expired", json_object_new_boolean(cli_cert_expired(x)));
    if (with_pem) {
        char *pem = cli_cert_pem(x);
        json_object_object_add(o, "pem", cli_json_str(pem));
        free(pem);
    }
    free(subject);
    free(issuer);
    free(serial);
    return o;
}

void cli_cert_print(FILE *f, const char *indent, X509 *x)
{
    char *subject = cli_name_str(X509_get_subject_name(x));
    char *issuer = cli_name_str(X509_get_issuer_name(x));
    char *serial = dcpki_serial_of_cert(x);
    char nb[32], na[32], tp[41];
    cli_time_str(X509_get0_notBefore(x), nb);
    cli_time_str(X509_get0_notAfter(x), na);
    cli_thumbprint(x, tp);
    fprintf(f, "%ssubject:     %s\n", indent, subject ? subject : "?");
    fprintf(f, "%sissuer:      %s\n", indent, issuer ? issuer : "?");
    fprintf(f, "%sserial:      %s\n", indent, serial ? serial : "?");
    fprintf(f, "%snot before:  %s\n", indent, nb);
    fprintf(f, "%snot after:   %s%s\n", indent, na,
            cli_cert_expired(x) ? " (EXPIRED)" : cli_cert_not_yet_valid(x) ? " (NOT YET VALID)" : "");
    fprintf(f, "%sthumbprint:  %s\n", indent, tp);
    free(subject);
    free(issuer);
    free(serial);
}

/* ----------------------------------------------------------------- files */

#define CLI_FILE_MAX ((size_t)64 * 1024 * 1024)

/* Temporary files of a target are named .dcpki-tmp-<target's name>.XXXXXX
 * (the name cut so that the whole fits in NAME_MAX). One older than this was
 * left by a run that was killed between writing and renaming it. */
#define STALE_TMP_SECONDS (10 * 60)
#define TMP_PREFIX ".dcpki-tmp-"
#define TMP_BASE_MAX (255 - (sizeof(TMP_PREFIX) - 1) - 7)

/* Remove this user's stale temporary files of the target named base in dir
 * (only regular files of that target, older than STALE_TMP_SECONDS: a fresh one
 * may be another process's write in progress). */
static void remove_stale_tmp(const char *dir, const char *base)
{
    DIR *d = opendir(dir);
    if (d == NULL)
        return;
    char prefix[sizeof(TMP_PREFIX) + TMP_BASE_MAX + 2];
    snprintf(prefix, sizeof prefix, "%s%.*s.", TMP_PREFIX, (int)TMP_BASE_MAX, base);
    size_t pl = strlen(prefix);
    time_t now = time(NULL);
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        struct stat st;
        if (strncmp(e->d_name, prefix, pl) != 0 || strlen(e->d_name) != pl + 6 ||
            fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISREG(st.st_mode) ||
            st.st_uid != geteuid() || now - st.st_mtime < STALE_TMP_SECONDS)
            continue;
        if (unlinkat(dirfd(d), e->d_name, 0) == 0) {
            char full[4400], shown[4400];
            snprintf(full, sizeof full, "%s/%s", dir, e->d_name);
            fprintf(stderr, "dcpki: removed %s, a temporary file left by an interrupted run\n",
                    dcpki_escape(full, shown, sizeof shown));
        }
    }
    closedir(d);
}

dcpki_code cli_write_file_atomic(const char *path, const void *data, size_t len, mode_t mode,
                                 int overwrite, dcpki_err *err)
{
    char *pcopy = strdup(path);
    char *bcopy = strdup(path);
    if (!pcopy || !bcopy) {
        free(pcopy);
        free(bcopy);
        return dcpki_err_set(err, DCPKI_E_NOMEM, "out of memory");
    }
    char *dir = dirname(pcopy);
    const char *base = basename(bcopy);
    remove_stale_tmp(dir, base);
    size_t tlen = strlen(dir) + sizeof(TMP_PREFIX) + TMP_BASE_MAX + 16;
    char *tmp = malloc(tlen);
    if (!tmp) {
        free(pcopy);
        free(bcopy);
        return dcpki_err_set(err, DCPKI_E_NOMEM, "out of memory");
    }
    snprintf(tmp, tlen, "%s/%s%.*s.XXXXXX", dir, TMP_PREFIX, (int)TMP_BASE_MAX, base);

    dcpki_code rc = DCPKI_OK;
    int fd = mkstemp(tmp);
    if (fd < 0) {
        rc = dcpki_err_set(err, DCPKI_E_IO, "cannot create a file in %s: %s", dir, strerror(errno));
        goto out;
    }
    if (fchmod(fd, mode) != 0) {
        rc = dcpki_err_set(err, DCPKI_E_IO, "cannot set the mode of %s: %s", tmp, strerror(errno));
        goto fail;
    }
    const unsigned char *p = data;
    size_t left = len;
    while (left > 0) {
        ssize_t w = write(fd, p, left);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0) {
            rc = dcpki_err_set(err, DCPKI_E_IO, "cannot write %s: %s", path, strerror(errno));
            goto fail;
        }
        p += w;
        left -= (size_t)w;
    }
    if (fsync(fd) != 0) {
        rc = dcpki_err_set(err, DCPKI_E_IO, "cannot write %s: fsync: %s", path, strerror(errno));
        goto fail;
    }
    if (close(fd) != 0) {
        fd = -1;
        rc = dcpki_err_set(err, DCPKI_E_IO, "cannot write %s: %s", path, strerror(errno));
        goto fail;
    }
    fd = -1;
    if (overwrite) {
        if (rename(tmp, path) != 0) {
            rc = dcpki_err_set(err, DCPKI_E_IO, "cannot write %s: %s", path, strerror(errno));
            goto fail;
        }
    } else {
        /* link() fails when path exists: no window where another file is replaced */
        if (link(tmp, path) != 0) {
            if (errno == EEXIST)
                rc = dcpki_err_set(err, DCPKI_E_IO, "%s already exists and was left unchanged "
                                   "(use --force to replace it)", path);
            else
                rc = dcpki_err_set(err, DCPKI_E_IO, "cannot write %s: %s", path, strerror(errno));
            goto fail;
        }
        unlink(tmp);
    }
    int dfd = open(dir, O_RDONLY | O_DIRECTORY);
    if (dfd >= 0) {
        (void)fsync(dfd);
        close(dfd);
    }
    goto out;
fail:
    if (fd >= 0)
        close(fd);
    unlink(tmp);
out:
    free(tmp);
    free(pcopy);
    free(bcopy);
    return rc;
}

dcpki_code cli_read_file(const char *path, char **data, size_t *len, dcpki_code on_error,
                         dcpki_err *err)
{
    unsigned char *buf;
    if (dcpki_read_file(path, CLI_FILE_MAX, &buf, len) != 0) {
        int e = errno;
        if (e == ENOMEM)
            return dcpki_err_set(err, DCPKI_E_NOMEM, "out of memory reading %s", path);
        return dcpki_err_set(err, on_error, "cannot read %s: %s", path,
                             e == EFBIG ? "the file is larger than 64 MiB" : strerror(e));
    }
    *data = (char *)buf;
    return DCPKI_OK;
}

dcpki_code cli_load_cert(const char *path, X509 **out, dcpki_code on_error, dcpki_err *err)
{
    char *data;
    size_t len;
    dcpki_code rc = cli_read_file(path, &data, &len, on_error, err);
    if (rc != DCPKI_OK)
        return rc;
    X509 *x = NULL;
    BIO *b = BIO_new_mem_buf(data, (int)len);
    if (b)
        x = PEM_read_bio_X509(b, NULL, NULL, NULL);
    BIO_free(b);
    if (!x) {
        const unsigned char *p = (const unsigned char *)data;
        x = d2i_X509(NULL, &p, (long)len);
    }
    free(data);
    ERR_clear_error();
    if (!x)
        return dcpki_err_set(err, on_error, "%s is not a certificate (PEM or DER)", path);
    *out = x;
    return DCPKI_OK;
}

static int no_password(char *buf, int size, int rwflag, void *u)
{
    (void)buf;
    (void)size;
    (void)rwflag;
    *(int *)u = 1;
    return -1;
}

dcpki_code cli_load_key(const char *path, EVP_PKEY **out, dcpki_err *err)
{
    char *data;
    size_t len;
    dcpki_code rc = cli_read_file(path, &data, &len, DCPKI_E_RA_KEY_UNREADABLE, err);
    if (rc != DCPKI_OK)
        return rc;
    int encrypted = 0;
    EVP_PKEY *pk = NULL;
    BIO *b = BIO_new_mem_buf(data, (int)len);
    if (b)
        pk = PEM_read_bio_PrivateKey(b, NULL, no_password, &encrypted);
    BIO_free(b);
    if (!pk && !encrypted) {
        const unsigned char *p = (const unsigned char *)data;
        pk = d2i_AutoPrivateKey(NULL, &p, (long)len);
    }
    OPENSSL_cleanse(data, len);
    free(data);
    ERR_clear_error();
    if (!pk)
        return dcpki_err_set(err, DCPKI_E_RA_KEY_UNREADABLE,
                             encrypted ? "%s is encrypted with a password; dcpki needs an unencrypted key file (mode 0600)"
                                       : "%s holds no private key (PEM or DER)", path);
    *out = pk;
    return DCPKI_OK;
}

dcpki_code cli_emit_bio(BIO *bio, const char *path, mode_t mode, int overwrite, dcpki_err *err)
{
    char *data = NULL;
    long n = BIO_get_mem_data(bio, &data);
    if (n < 0)
        n = 0;
    if (path)
        return cli_write_file_atomic(path, data, (size_t)n, mode, overwrite, err);
    if (fwrite(data, 1, (size_t)n, stdout) != (size_t)n || fflush(stdout) != 0)
        return dcpki_err_set(err, DCPKI_E_IO, "cannot write to the standard output: %s",
                             strerror(errno));
    return DCPKI_OK;
}
