/* dcpki ra keygen|csr|import|show: the RA identity (BRIEF.md §1). The RA key
 * is made locally (RSA 2048, written atomically with mode 0600), the PKCS#10
 * request matches the seed's certreq.ini (key usage 0xa0, EKU clientAuth,
 * SHA-256), the certificate returned by the portal is checked and installed,
 * and the configured identity can be shown. */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "cli_common.h"

#define RA_MIN_BITS 2048
#define RA_MAX_BITS 16384

static int is_pkcs11_uri(const char *s)
{
    return s && strncasecmp(s, "pkcs11:", 7) == 0;
}

/* ------------------------------------------------------------ ra keygen */

enum { OPT_FORCE = CLI_OPT_FIRST_FREE };

static int ra_keygen(cli_ctx *ctx, const cli_cmd *self, int argc, char **argv)
{
    static const struct option longopts[] = {
        CLI_COMMON_LONGOPTS,
        {"out", required_argument, NULL, 'o'},
        {"bits", required_argument, NULL, 'b'},
        {"force", no_argument, NULL, OPT_FORCE},
        {NULL, 0, NULL, 0},
    };
    const char *out = NULL, *bits_s = NULL;
    int force = 0, rc = 0, c;
    optind = 0;
    while ((c = cli_getopt(ctx, self, argc, argv, "o:b:", longopts, &rc)) != CLI_OPTS_END) {
        switch (c) {
        case CLI_OPTS_EXIT: return rc;
        case 'o': out = optarg; break;
        case 'b': bits_s = optarg; break;
        case OPT_FORCE: force = 1; break;
        default: return cli_usage_error(ctx, "unexpected option");
        }
    }
    if (cli_check_operands(ctx, argc, argv, 0, 0))
        return CLI_EXIT_USAGE;

    long bits = 2048;
    if (bits_s) {
        char *end;
        errno = 0;
        bits = strtol(bits_s, &end, 10);
        if (errno || end == bits_s || *end || bits < RA_MIN_BITS || bits > RA_MAX_BITS)
            return cli_usage_error(ctx, "--bits must be a number from %d to %d (the RA key is RSA, "
                                   "2048 bits at least), not '%s'", RA_MIN_BITS, RA_MAX_BITS, bits_s);
    }

    dcpki_err err;
    dcpki_err_clear(&err);
    if (!out) {
        const dcpki_config *cfg;
        if (cli_config(ctx, &cfg, &err) != DCPKI_OK)
            return cli_error(&err);
        if (!cfg->ra.key)
            return cli_errorf(DCPKI_E_CONFIG_INCOMPLETE,
                              "[ra] key is not set in %s; give --out FILE or set [ra] key", cfg->path);
        if (is_pkcs11_uri(cfg->ra.key))
            return cli_errorf(DCPKI_E_INVALID_ARGUMENT,
                              "[ra] key in %s is a pkcs11: URI; generate the key on the token "
                              "(p11tool, pkcs11-tool) or give --out FILE", cfg->path);
        out = cfg->ra.key;
    }
    if (!force && access(out, F_OK) == 0)
        return cli_errorf(DCPKI_E_IO, "%s already exists and was left unchanged; an RA key is not "
                          "replaced unless --force is given", out);

    EVP_PKEY *pk = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)bits);
    if (!pk) {
        cli_ossl_err(&err, DCPKI_E_INTERNAL, "RSA key generation failed");
        return cli_error(&err);
    }
    BIO *b = BIO_new(BIO_s_secmem());
    dcpki_code code;
    if (!b || !PEM_write_bio_PrivateKey(b, pk, NULL, NULL, 0, NULL, NULL))
        code = cli_ossl_err(&err, DCPKI_E_INTERNAL, "cannot encode the RSA key");
    else
        code = cli_emit_bio(b, out, 0600, force, &err);
    BIO_free(b);
    EVP_PKEY_free(pk);
    if (code != DCPKI_OK)
        return cli_error(&err);

    if (ctx->json) {
        json_object *o = json_object_new_object();
        json_object_object_add(o, "key", json_object_new_string(out));
        json_object_object_add(o, "algorithm", json_object_new_string("RSA"));
        json_object_object_add(o, "bits", json_object_new_int((int)bits));
        return cli_json_print(o);
    }
    printf("wrote a new RSA-%ld RA key to %s (mode 0600)\n", bits, out);
    printf("next: dcpki ra csr --subject \"CN=...\" --key %s --out ra.csr\n", out);
    return 0;
}

/* --------------------------------------------------------------- ra csr */

/* Attribute names as Windows' certreq and RFC 4514 write them, mapped to
 * OpenSSL's short names; anything else is looked up as an OpenSSL name or OID. */
static const struct {
    const char *in, *ossl;
} attr_alias[] = {
    {"E", "emailAddress"}, {"EMAIL", "emailAddress"}, {"EMAILADDRESS", "emailAddress"},
    {"CN", "CN"}, {"O", "O"}, {"OU", "OU"}, {"C", "C"}, {"L", "L"}, {"S", "ST"}, {"ST", "ST"},
    {"STREET", "street"}, {"DC", "DC"}, {"T", "title"}, {"TITLE", "title"},
    {"G", "GN"}, {"GN", "GN"}, {"GIVENNAME", "GN"}, {"SN", "SN"}, {"SURNAME", "SN"},
    {"SERIALNUMBER", "serialNumber"}, {"UID", "UID"}, {"I", "initials"},
};

typedef struct {
    char *key, *value;
} rdn_part;

/* Split "CN=x, O=y" (separator ',' or ';') or "/CN=x/O=y" into key/value
 * parts. Values may be double-quoted; a backslash escapes the next character. */
static int split_subject(const char *s, rdn_part **parts, size_t *n, int *slash_form,
                         char *why, size_t whylen)
{
    size_t cap = 8, cnt = 0, len = strlen(s);
    rdn_part *p = calloc(cap, sizeof *p);
    char *buf = malloc(len + 1);
    if (!p || !buf) {
        free(p);
        free(buf);
        snprintf(why, whylen, "out of memory");
        return 0;
    }
    while (*s == ' ' || *s == '\t')
        s++;
    *slash_form = (*s == '/');
    char sep1 = *slash_form ? '/' : ',', sep2 = *slash_form ? '/' : ';';
    if (*slash_form)
        s++;
    for (;;) {
        /* one "key=value" up to an unquoted, unescaped separator */
        size_t bl = 0;
        int quoted = 0;
        ptrdiff_t eq = -1;
        while (*s && (quoted || (*s != sep1 && *s != sep2))) {
            if (*s == '\\' && s[1]) {
                buf[bl++] = s[1];
                s += 2;
                continue;
            }
            if (*s == '"') {
                quoted = !quoted;
                s++;
                continue;
            }
            if (*s == '=' && eq < 0 && !quoted)
                eq = (ptrdiff_t)bl;
            buf[bl++] = *s++;
        }
        buf[bl] = '\0';
        if (quoted) {
            snprintf(why, whylen, "unbalanced double quote");
            goto bad;
        }
        if (eq < 0) {
            snprintf(why, whylen, "'%s' is not ATTRIBUTE=value", buf);
            goto bad;
        }
        char *k = buf, *v = buf + eq + 1;
        buf[eq] = '\0';
        while (*k == ' ' || *k == '\t') k++;
        for (char *e = k + strlen(k); e > k && (e[-1] == ' ' || e[-1] == '\t'); ) *--e = '\0';
        while (*v == ' ' || *v == '\t') v++;
        for (char *e = v + strlen(v); e > v && (e[-1] == ' ' || e[-1] == '\t'); ) *--e = '\0';
        if (!*k) {
            snprintf(why, whylen, "an attribute name is missing before '='");
            goto bad;
        }
        if (!*v) {
            snprintf(why, whylen, "attribute %s has an empty value", k);
            goto bad;
        }
        if (cnt == cap) {
            rdn_part *np = realloc(p, 2 * cap * sizeof *p);
            if (!np) {
                snprintf(why, whylen, "out of memory");
                goto bad;
            }
            p = np;
            cap *= 2;
        }
        p[cnt].key = strdup(k);
        p[cnt].value = strdup(v);
        cnt++;
        if (!p[cnt - 1].key || !p[cnt - 1].value) {
            snprintf(why, whylen, "out of memory");
            goto bad;
        }
        if (!*s)
            break;
        s++; /* separator */
        while (*s == ' ' || *s == '\t')
            s++;
        if (!*s && *slash_form)
            break;
    }
    free(buf);
    *parts = p;
    *n = cnt;
    return 1;
bad:
    for (size_t i = 0; i < cnt; i++) {
        free(p[i].key);
        free(p[i].value);
    }
    free(p);
    free(buf);
    return 0;
}

/* Subject from the command line. The comma form is written as Windows and
 * RFC 4514 write names (most specific first, "CN=x, O=y"), so it is encoded in
 * reverse order (O, then CN); the slash form is OpenSSL's (encoding order). */
static dcpki_code parse_subject(const char *text, X509_NAME **out, dcpki_err *err)
{
    rdn_part *parts = NULL;
    size_t n = 0;
    int slash = 0;
    char why[256];
    if (!split_subject(text, &parts, &n, &slash, why, sizeof why))
        return dcpki_err_set(err, DCPKI_E_INVALID_ARGUMENT, "subject \"%s\": %s", text, why);
    dcpki_code rc = DCPKI_OK;
    X509_NAME *name = X509_NAME_new();
    if (!name)
        rc = dcpki_err_set(err, DCPKI_E_NOMEM, "out of memory");
    for (size_t j = 0; rc == DCPKI_OK && j < n; j++) {
        const rdn_part *pt = &parts[slash ? j : n - 1 - j];
        const char *field = pt->key;
        for (size_t a = 0; a < sizeof attr_alias / sizeof attr_alias[0]; a++)
            if (strcasecmp(pt->key, attr_alias[a].in) == 0)
                field = attr_alias[a].ossl;
        if (OBJ_txt2nid(field) == NID_undef) {
            rc = dcpki_err_set(err, DCPKI_E_INVALID_ARGUMENT,
                               "subject \"%s\": unknown attribute '%s' (use CN, E, O, OU, C, L, S, ...)",
                               text, pt->key);
            break;
        }
        if (!X509_NAME_add_entry_by_txt(name, field, MBSTRING_UTF8, (const unsigned char *)pt->value,
                                        -1, -1, 0)) {
            unsigned long e = ERR_peek_last_error();
            const char *reason = e ? ERR_reason_error_string(e) : NULL;
            ERR_clear_error();
            rc = dcpki_err_set(err, DCPKI_E_INVALID_ARGUMENT, "subject \"%s\": bad value for %s%s%s",
                               text, pt->key, reason ? ": " : "", reason ? reason : "");
        }
    }
    if (rc == DCPKI_OK && n == 0)
        rc = dcpki_err_set(err, DCPKI_E_INVALID_ARGUMENT, "subject \"%s\" names no attribute", text);
    for (size_t i = 0; i < n; i++) {
        free(parts[i].key);
        free(parts[i].value);
    }
    free(parts);
    if (rc != DCPKI_OK) {
        X509_NAME_free(name);
        return rc;
    }
    *out = name;
    return DCPKI_OK;
}

static dcpki_code add_ext(STACK_OF(X509_EXTENSION) *exts, int nid, const char *value, dcpki_err *err)
{
    X509_EXTENSION *ext = X509V3_EXT_nconf_nid(NULL, NULL, nid, value);
    if (!ext || !sk_X509_EXTENSION_push(exts, ext)) {
        X509_EXTENSION_free(ext);
        return cli_ossl_err(err, DCPKI_E_INTERNAL, "cannot build the certificate request extensions");
    }
    return DCPKI_OK;
}

/* Key path for ra csr / ra import: explicit, else [ra] key. */
static const char *ra_key_path(cli_ctx *ctx, const char *explicit_path, dcpki_err *err, int *failed)
{
    *failed = 0;
    if (explicit_path)
        return explicit_path;
    const dcpki_config *cfg;
    if (cli_config(ctx, &cfg, err) != DCPKI_OK) {
        *failed = 1;
        return NULL;
    }
    return cfg->ra.key;
}

static int ra_csr(cli_ctx *ctx, const cli_cmd *self, int argc, char **argv)
{
    static const struct option longopts[] = {
        CLI_COMMON_LONGOPTS,
        {"subject", required_argument, NULL, 's'},
        {"key", required_argument, NULL, 'k'},
        {"out", required_argument, NULL, 'o'},
        {NULL, 0, NULL, 0},
    };
    const char *subject = NULL, *keyfile = NULL, *out = NULL;
    int rc = 0, c;
    optind = 0;
    while ((c = cli_getopt(ctx, self, argc, argv, "s:k:o:", longopts, &rc)) != CLI_OPTS_END) {
        switch (c) {
        case CLI_OPTS_EXIT: return rc;
        case 's': subject = optarg; break;
        case 'k': keyfile = optarg; break;
        case 'o': out = optarg; break;
        default: return cli_usage_error(ctx, "unexpected option");
        }
    }
    if (cli_check_operands(ctx, argc, argv, 0, 0))
        return CLI_EXIT_USAGE;
    if (!subject)
        return cli_usage_error(ctx, "--subject \"CN=...\" is required");

    dcpki_err err;
    dcpki_err_clear(&err);
    X509_NAME *name = NULL;
    if (parse_subject(subject, &name, &err) != DCPKI_OK)
        return err.code == DCPKI_E_INVALID_ARGUMENT ? cli_usage_error(ctx, "%s", err.detail)
                                                    : cli_error(&err);

    int failed;
    const char *kp = ra_key_path(ctx, keyfile, &err, &failed);
    if (failed) {
        X509_NAME_free(name);
        return cli_error(&err);
    }
    if (!kp) {
        X509_NAME_free(name);
        return cli_errorf(DCPKI_E_CONFIG_INCOMPLETE, "[ra] key is not set in %s; give --key FILE "
                          "or set [ra] key (make one with 'dcpki ra keygen')", dcpki_config_path(ctx->config_path));
    }
    if (is_pkcs11_uri(kp)) {
        X509_NAME_free(name);
        return cli_errorf(DCPKI_E_INVALID_ARGUMENT, "the RA key is a pkcs11: URI; make the request "
                          "with 'openssl req -new -key dcpki:ra' or give --key FILE");
    }

    EVP_PKEY *pk = NULL;
    if (cli_load_key(kp, &pk, &err) != DCPKI_OK) {
        X509_NAME_free(name);
        if (access(kp, F_OK) != 0 && errno == ENOENT)
            return cli_errorf(DCPKI_E_RA_KEY_UNREADABLE, "%s does not exist; make the RA key first "
                              "with 'dcpki ra keygen --out %s'", kp, kp);
        return cli_error(&err);
    }
    if (!EVP_PKEY_is_a(pk, "RSA") || EVP_PKEY_get_bits(pk) < RA_MIN_BITS) {
        X509_NAME_free(name);
        EVP_PKEY_free(pk);
        return cli_errorf(DCPKI_E_UNSUPPORTED, "the RA key %s is not RSA of %d bits or more; make one "
                          "with 'dcpki ra keygen'", kp, RA_MIN_BITS);
    }

    dcpki_code code = DCPKI_OK;
    X509_REQ *req = X509_REQ_new_ex(NULL, NULL);
    STACK_OF(X509_EXTENSION) *exts = sk_X509_EXTENSION_new_null();
    BIO *b = BIO_new(BIO_s_mem());
    if (!req || !exts || !b)
        code = dcpki_err_set(&err, DCPKI_E_NOMEM, "out of memory");
    if (code == DCPKI_OK &&
        (!X509_REQ_set_version(req, X509_REQ_VERSION_1) || !X509_REQ_set_subject_name(req, name) ||
         !X509_REQ_set_pubkey(req, pk)))
        code = cli_ossl_err(&err, DCPKI_E_INTERNAL, "cannot build the certificate request");
    /* certreq.ini: KeyUsage = 0xa0, EKU clientAuth (1.3.6.1.5.5.7.3.2) */
    if (code == DCPKI_OK)
        code = add_ext(exts, NID_key_usage, "critical,digitalSignature,keyEncipherment", &err);
    if (code == DCPKI_OK)
        code = add_ext(exts, NID_ext_key_usage, "clientAuth", &err);
    if (code == DCPKI_OK && !X509_REQ_add_extensions(req, exts))
        code = cli_ossl_err(&err, DCPKI_E_INTERNAL, "cannot add the request extensions");
    if (code == DCPKI_OK && !X509_REQ_sign(req, pk, EVP_sha256()))
        code = cli_ossl_err(&err, DCPKI_E_INTERNAL, "cannot sign the certificate request");
    if (code == DCPKI_OK && !PEM_write_bio_X509_REQ_NEW(b, req))
        code = cli_ossl_err(&err, DCPKI_E_INTERNAL, "cannot encode the certificate request");
    char *subj_str = code == DCPKI_OK ? cli_name_str(X509_REQ_get_subject_name(req)) : NULL;

    if (code == DCPKI_OK && (out || !ctx->json))
        code = cli_emit_bio(b, out, 0644, 1, &err);
    int ret = 0;
    if (code != DCPKI_OK) {
        ret = cli_error(&err);
    } else if (ctx->json) {
        char *pem = NULL;
        long n = BIO_get_mem_data(b, &pem);
        json_object *o = json_object_new_object();
        json_object_object_add(o, "subject", cli_json_str(subj_str));
        json_object_object_add(o, "key", json_object_new_string(kp));
        json_object_object_add(o, "file", cli_json_str(out));
        json_object_object_add(o, "pem", json_object_new_string_len(pem, (int)(n > 0 ? n : 0)));
        ret = cli_json_print(o);
    } else if (out) {
        printf("wrote the RA certificate request for %s to %s\n", subj_str ? subj_str : subject, out);
        printf("next: have it signed by the CA (DigiCert portal: \"Get an RA certificate\"), then "
               "dcpki ra import CERT\n");
    }
    free(subj_str);
    BIO_free(b);
    sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
    X509_REQ_free(req);
    EVP_PKEY_free(pk);
    X509_NAME_free(name);
    return ret;
}

/* ------------------------------------------------------------ ra import */

/* Path of a *.key file in dir whose key belongs to x (malloc'ed), or NULL. */
static char *store_matching_key(const char *dir, X509 *x)
{
    DIR *d = opendir(dir);
    char *found = NULL;
    if (!d)
        return NULL;
    struct dirent *e;
    while (!found && (e = readdir(d)) != NULL) {
        size_t n = strlen(e->d_name);
        if (e->d_name[0] == '.' || n < 5 || strcmp(e->d_name + n - 4, ".key") != 0)
            continue;
        size_t pl = strlen(dir) + n + 2;
        char *path = malloc(pl);
        if (!path)
            break;
        snprintf(path, pl, "%s/%s", dir, e->d_name);
        EVP_PKEY *pk = NULL;
        dcpki_err err;
        if (cli_load_key(path, &pk, &err) == DCPKI_OK && X509_check_private_key(x, pk))
            found = path;
        else
            free(path);
        ERR_clear_error();
        EVP_PKEY_free(pk);
    }
    closedir(d);
    return found;
}

static int ra_import(cli_ctx *ctx, const cli_cmd *self, int argc, char **argv)
{
    static const struct option longopts[] = {
        CLI_COMMON_LONGOPTS,
        {"store", required_argument, NULL, 'd'},
        {"key", required_argument, NULL, 'k'},
        {NULL, 0, NULL, 0},
    };
    const char *store = NULL, *keyopt = NULL;
    int rc = 0, c;
    optind = 0;
    while ((c = cli_getopt(ctx, self, argc, argv, "d:k:", longopts, &rc)) != CLI_OPTS_END) {
        switch (c) {
        case CLI_OPTS_EXIT: return rc;
        case 'd': store = optarg; break;
        case 'k': keyopt = optarg; break;
        default: return cli_usage_error(ctx, "unexpected option");
        }
    }
    if (cli_check_operands(ctx, argc, argv, 1, 1))
        return CLI_EXIT_USAGE;
    const char *certfile = argv[optind];

    dcpki_err err;
    dcpki_err_clear(&err);
    X509 *x = NULL;
    if (cli_load_cert(certfile, &x, DCPKI_E_RA_CERT_NOT_FOUND, &err) != DCPKI_OK)
        return cli_error(&err);

    int ret = 1;
    char *dest = NULL, *subj = NULL, *pem = NULL, *key_checked = NULL, *keydest = NULL;
    EVP_PKEY *key = NULL;
    char tp[41];
    cli_thumbprint(x, tp);

    /* an RA certificate authenticates TLS clients */
    uint32_t flags = X509_get_extension_flags(x);
    if (!(flags & EXFLAG_XKUSAGE) || !(X509_get_extended_key_usage(x) & XKU_SSL_CLIENT)) {
        cli_errorf(DCPKI_E_INVALID_ARGUMENT, "%s has no extended key usage clientAuth "
                   "(1.3.6.1.5.5.7.3.2), so it cannot be an RA certificate; request one with "
                   "'dcpki ra csr'", certfile);
        goto done;
    }
    if (cli_cert_expired(x))
        cli_warn("%s expired; the CA will refuse it", certfile);

    /* configuration: needed unless --store names the destination */
    const dcpki_config *cfg = NULL;
    if (cli_config(ctx, &cfg, &err) != DCPKI_OK) {
        if (!(store && err.code == DCPKI_E_CONFIG_MISSING)) {
            cli_error(&err);
            goto done;
        }
        cfg = NULL;
        dcpki_err_clear(&err);
    }

    /* where it goes: --store DIR, [ra] store, or [ra] certificate */
    const char *dir = store ? store : cfg ? cfg->ra.store : NULL;
    if (dir) {
        struct stat st;
        if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
            cli_errorf(DCPKI_E_IO, "the store %s is not a directory; create it (mkdir -p %s)", dir, dir);
            goto done;
        }
    }

    /* does it belong to the RA key (--key, else [ra] key, else a key in the store)? */
    const char *keypath = keyopt ? keyopt : cfg ? cfg->ra.key : NULL;
    if (keypath && is_pkcs11_uri(keypath)) {
        cli_warn("the RA key is a pkcs11: URI; check with 'dcpki ra show' that it matches the certificate");
    } else if (keypath) {
        if (cli_load_key(keypath, &key, &err) != DCPKI_OK) {
            if (keyopt) {
                cli_error(&err);
                goto done;
            }
            char buf[DCPKI_ERR_DETAIL_MAX + 512];
            cli_warn("the certificate was not checked against [ra] key: %s",
                     dcpki_err_format(&err, buf, sizeof buf));
            dcpki_err_clear(&err);
        } else {
            int match = X509_check_private_key(x, key);
            ERR_clear_error();
            if (!match) {
                cli_errorf(DCPKI_E_RA_KEY_MISMATCH, "%s was not issued for the key %s%s; import the "
                           "certificate made from that key's request", certfile, keypath,
                           keyopt ? "" : " ([ra] key)");
                goto done;
            }
            key_checked = strdup(keypath);
        }
    } else if (dir) {
        key_checked = store_matching_key(dir, x);
    }
    if (!key_checked && !keypath)
        cli_warn("%s", dir ? "no key in the store matches the certificate; give the RA key with --key FILE "
                             "so that it is installed beside the certificate"
                           : "no [ra] key is configured, so the certificate was not checked against a key");

    if (dir) {
        size_t n = strlen(dir) + 64;
        dest = malloc(n);
        if (dest)
            snprintf(dest, n, "%s/%s.pem", dir, tp);
    } else if (cfg && cfg->ra.certificate) {
        dest = strdup(cfg->ra.certificate);
    } else {
        cli_errorf(DCPKI_E_CONFIG_INCOMPLETE, "nowhere to install the RA certificate: neither "
                   "[ra] store nor [ra] certificate is set in %s; give --store DIR or set one of them",
                   cfg ? cfg->path : dcpki_config_path(ctx->config_path));
        goto done;
    }
    pem = cli_cert_pem(x);
    subj = cli_name_str(X509_get_subject_name(x));
    if (!dest || !pem) {
        cli_errorf(DCPKI_E_NOMEM, "out of memory");
        goto done;
    }
    /* a store holds the key beside the certificate: DIR/THUMBPRINT.key */
    if (dir && keyopt && key) {
        size_t n = strlen(dir) + 64;
        keydest = malloc(n);
        BIO *kb = BIO_new(BIO_s_secmem());
        dcpki_code kc;
        if (!keydest || !kb) {
            kc = dcpki_err_set(&err, DCPKI_E_NOMEM, "out of memory");
        } else {
            snprintf(keydest, n, "%s/%s.key", dir, tp);
            kc = PEM_write_bio_PrivateKey(kb, key, NULL, NULL, 0, NULL, NULL)
                     ? cli_emit_bio(kb, keydest, 0600, 1, &err)
                     : cli_ossl_err(&err, DCPKI_E_INTERNAL, "cannot encode the RA key");
        }
        BIO_free(kb);
        if (kc != DCPKI_OK) {
            cli_error(&err);
            goto done;
        }
        free(key_checked);
        key_checked = strdup(keydest);
    }
    if (cli_write_file_atomic(dest, pem, strlen(pem), 0644, 1, &err) != DCPKI_OK) {
        cli_error(&err);
        goto done;
    }

    if (ctx->json) {
        json_object *o = json_object_new_object();
        json_object_object_add(o, "thumbprint", json_object_new_string(tp));
        json_object_object_add(o, "subject", cli_json_str(subj));
        json_object_object_add(o, "file", json_object_new_string(dest));
        json_object_object_add(o, "key_checked", json_object_new_boolean(key_checked != NULL));
        json_object_object_add(o, "key", cli_json_str(key_checked));
        json_object_object_add(o, "key_file", cli_json_str(keydest));
        char line[80];
        snprintf(line, sizeof line, "certificate_thumbprint = %s", tp);
        json_object_object_add(o, "config_line", json_object_new_string(line));
        ret = cli_json_print(o);
    } else {
        printf("imported the RA certificate %s\n", subj ? subj : "");
        printf("installed:  %s\n", dest);
        if (keydest)
            printf("key:        installed as %s (mode 0600)\n", keydest);
        else if (key_checked)
            printf("key:        matches %s\n", key_checked);
        else
            printf("key:        not checked\n");
        printf("thumbprint: %s\n", tp);
        printf("put this line in the [ra] section of dcpki.conf:\n");
        printf("certificate_thumbprint = %s\n", tp);
        if (store && !(cfg && cfg->ra.store && strcmp(cfg->ra.store, store) == 0))
            printf("store = %s\n", store);
        ret = 0;
    }
done:
    free(dest);
    free(subj);
    free(pem);
    free(key_checked);
    free(keydest);
    EVP_PKEY_free(key);
    X509_free(x);
    return ret;
}

/* -------------------------------------------------------------- ra show */

static int ra_show(cli_ctx *ctx, const cli_cmd *self, int argc, char **argv)
{
    int st = cli_parse_common_only(ctx, self, argc, argv, 0, 0);
    if (st != CLI_OPTS_END)
        return st;

    dcpki_err err;
    dcpki_err_clear(&err);
    const dcpki_identity *id;
    if (cli_identity(ctx, &id, &err) != DCPKI_OK)
        return cli_error(&err);
    X509 *x = dcpki_identity_cert(id);
    const dcpki_config *cfg;
    if (cli_config(ctx, &cfg, &err) != DCPKI_OK)
        return cli_error(&err);
    /* where the user put them */
    int p12 = cfg->ra.pkcs12 != NULL;
    const char *certloc = dcpki_identity_cert_source(id);
    const char *keyloc = dcpki_identity_key_source(id);
    int client_auth = (X509_get_extension_flags(x) & EXFLAG_XKUSAGE) &&
                      (X509_get_extended_key_usage(x) & XKU_SSL_CLIENT);
    int expired = cli_cert_expired(x), early = cli_cert_not_yet_valid(x);

    if (ctx->json) {
        json_object *o = cli_cert_json(x, 0);
        json_object_object_add(o, "certificate_file", cli_json_str(certloc));
        json_object_object_add(o, "pkcs12", json_object_new_boolean(p12));
        json_object_object_add(o, "key", cli_json_str(keyloc));
        json_object_object_add(o, "key_matches", json_object_new_boolean(1));
        json_object_object_add(o, "not_yet_valid", json_object_new_boolean(early));
        json_object_object_add(o, "client_auth", json_object_new_boolean(client_auth));
        json_object_object_add(o, "config", json_object_new_string(cfg->path));
        return cli_json_print(o);
    }
    printf("RA identity (%s)\n", cfg->path);
    cli_cert_print(stdout, "", x);
    printf("certificate: %s%s\n", certloc ? certloc : "?", p12 ? " (PKCS#12)" : "");
    printf("key:         %s%s\n", keyloc ? keyloc : "?", p12 ? " (PKCS#12)" : "");
    printf("key matches certificate: yes\n");
    printf("client authentication:   %s\n", client_auth ? "yes" : "NO (extended key usage lacks clientAuth)");
    printf("expired:                 %s\n", expired ? "YES (ask the CA for a new RA certificate)"
                                                    : early ? "no (but not yet valid)" : "no");
    return 0;
}

/* ---------------------------------------------------------------- table */

static const cli_cmd ra_keygen_cmd = {
    .name = "keygen",
    .summary = "make the RA key pair (RSA 2048) in a file of mode 0600",
    .usage =
        "Usage: dcpki ra keygen [--out FILE] [--bits N] [--force] [--json]\n"
        "\n"
        "Makes a new RSA key for the RA identity, written whole or not at all with mode 0600.\n"
        "\n"
        "  -o, --out FILE  where to write it (default: [ra] key of dcpki.conf)\n"
        "  -b, --bits N    RSA modulus size, 2048 (default) to 16384\n"
        "      --force     replace an existing key file (its certificate stops working)\n",
    .run = ra_keygen,
};

static const cli_cmd ra_csr_cmd = {
    .name = "csr",
    .summary = "make the PKCS#10 request for the RA certificate",
    .usage =
        "Usage: dcpki ra csr --subject \"CN=...\" [--key FILE] [--out FILE] [--json]\n"
        "\n"
        "Makes the request to paste into the CA portal (\"Get an RA certificate\"), as the\n"
        "connector's certreq.ini does: RSA key, key usage digitalSignature+keyEncipherment\n"
        "(0xa0, critical), extended key usage clientAuth, SHA-256, PEM labelled\n"
        "NEW CERTIFICATE REQUEST.\n"
        "\n"
        "  -s, --subject DN  \"CN=name\", \"CN=name, E=mail\", \"CN=x, O=y, C=US\" (Windows and\n"
        "                    RFC 4514 order, most specific first) or \"/C=US/O=y/CN=x\"\n"
        "                    (OpenSSL order); E is the e-mail address attribute\n"
        "  -k, --key FILE    the RA private key (default: [ra] key)\n"
        "  -o, --out FILE    write the request there (default: standard output)\n",
    .run = ra_csr,
};

static const cli_cmd ra_import_cmd = {
    .name = "import",
    .summary = "check and install the RA certificate, print its thumbprint",
    .usage =
        "Usage: dcpki ra import CERT [--key FILE] [--store DIR] [--json]\n"
        "\n"
        "Checks CERT (PEM or DER: a certificate with extended key usage clientAuth, made for\n"
        "the RA key) and installs it: as DIR/THUMBPRINT.pem in the store directory (--store,\n"
        "else [ra] store), else at [ra] certificate. Prints the SHA-1 thumbprint and the\n"
        "certificate_thumbprint line for dcpki.conf.\n"
        "\n"
        "  -k, --key FILE   the RA private key the certificate must match (default: [ra] key,\n"
        "                   or a *.key file in the store); with a store it is installed\n"
        "                   beside the certificate as DIR/THUMBPRINT.key (mode 0600)\n"
        "  -d, --store DIR  the certificate store directory to install into\n",
    .run = ra_import,
};

static const cli_cmd ra_show_cmd = {
    .name = "show",
    .summary = "load the configured RA identity and show it",
    .usage =
        "Usage: dcpki ra show [--json]\n"
        "\n"
        "Loads the RA certificate and key as dcpki.conf names them ([ra]) and shows the\n"
        "certificate, its thumbprint, where the key is, and whether it is expired.\n",
    .run = ra_show,
};

static const cli_cmd *const ra_subs[] = {&ra_keygen_cmd, &ra_csr_cmd, &ra_import_cmd, &ra_show_cmd,
                                         NULL};

const cli_cmd cli_cmd_ra = {
    .name = "ra",
    .summary = "the RA identity: key, request, certificate",
    .usage = "Usage: dcpki ra COMMAND [OPTIONS]\n"
             "\n"
             "The RA (registration authority) identity authenticates dcpki to the CA and the\n"
             "signing service over mutual TLS. Make the key, make the request, have the CA\n"
             "sign it, import the certificate, check it:\n"
             "  dcpki ra keygen; dcpki ra csr --subject \"CN=my RA\" --out ra.csr\n"
             "  dcpki ra import ra.pem; dcpki ra show\n",
    .subs = ra_subs,
};
