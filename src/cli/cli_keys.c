/* dcpki keys list|show|ref: the remote signing keys of the signing service
 * (protocols/signing.md), seen through the RA identity and the API key. */
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "cli_common.h"
#include "dcpki/keyref.h"
#include "dcpki/uri.h"

/* "RSA-2048", "EC P-256" */
static void alg_str(const dcpki_keypair *kp, char *buf, size_t n)
{
    if (kp->alg == DCPKI_KEY_RSA) {
        snprintf(buf, n, "RSA-%d", kp->bits);
        return;
    }
    if (kp->alg == DCPKI_KEY_EC) {
        static const struct {
            const char *ossl, *nist;
        } curves[] = {{"prime256v1", "P-256"}, {"P-256", "P-256"}, {"secp384r1", "P-384"},
                      {"P-384", "P-384"}, {"secp521r1", "P-521"}, {"P-521", "P-521"}};
        for (size_t i = 0; kp->curve && i < sizeof curves / sizeof curves[0]; i++)
            if (strcmp(kp->curve, curves[i].ossl) == 0) {
                snprintf(buf, n, "EC %s", curves[i].nist);
                return;
            }
        if (kp->curve)
            snprintf(buf, n, "EC %s", kp->curve);
        else
            snprintf(buf, n, "EC-%d", kp->bits);
        return;
    }
    snprintf(buf, n, "unknown");
}

static X509 *der_cert(const dcpki_der *d)
{
    if (!d->data || d->len == 0)
        return NULL;
    const unsigned char *p = d->data;
    X509 *x = d2i_X509(NULL, &p, (long)d->len);
    ERR_clear_error();
    return x;
}

static json_object *keypair_json_base(const dcpki_keypair *kp)
{
    char alg[64];
    alg_str(kp, alg, sizeof alg);
    json_object *o = json_object_new_object();
    json_object_object_add(o, "id", cli_json_str(kp->id));
    json_object_object_add(o, "alias", cli_json_str(kp->alias));
    json_object_object_add(o, "algorithm", json_object_new_string(alg));
    json_object_object_add(o, "key_type", json_object_new_string(kp->alg == DCPKI_KEY_RSA ? "RSA"
                                                                 : kp->alg == DCPKI_KEY_EC ? "EC"
                                                                                           : "unknown"));
    json_object_object_add(o, "bits", json_object_new_int(kp->bits));
    json_object_object_add(o, "curve", cli_json_str(kp->curve));
    json_object_object_add(o, "status", cli_json_str(kp->status));
    return o;
}

/* ------------------------------------------------------------ keys list */

static int keys_list(cli_ctx *ctx, const cli_cmd *self, int argc, char **argv)
{
    int rc = cli_parse_common_only(ctx, self, argc, argv, 0, 0);
    if (rc != CLI_OPTS_END)
        return rc;
    rc = 0;

    dcpki_err err;
    dcpki_err_clear(&err);
    dcpki_signing *s;
    dcpki_keypair **items = NULL;
    size_t n = 0;
    if (cli_signing(ctx, &s, &err) != DCPKI_OK || dcpki_signing_list(s, &items, &n, &err) != DCPKI_OK)
        return cli_error(&err);

    char **subjects = calloc(n ? n : 1, sizeof *subjects);
    if (!subjects) {
        dcpki_keypairs_free(items, n);
        return cli_errorf(DCPKI_E_NOMEM, "out of memory");
    }
    for (size_t i = 0; i < n; i++) {
        X509 *x = der_cert(&items[i]->cert);
        if (x) {
            subjects[i] = cli_name_str(X509_get_subject_name(x));
            X509_free(x);
        }
    }

    if (ctx->json) {
        json_object *arr = json_object_new_array();
        for (size_t i = 0; i < n; i++) {
            json_object *o = keypair_json_base(items[i]);
            json_object_object_add(o, "certificate_subject", cli_json_str(subjects[i]));
            json_object_array_add(arr, o);
        }
        json_object *root = json_object_new_object();
        json_object_object_add(root, "keys", arr);
        rc = cli_json_print(root);
    } else {
        int wa = 5, wg = 9, ws = 6;
        char alg[64];
        for (size_t i = 0; i < n; i++) {
            alg_str(items[i], alg, sizeof alg);
            if (items[i]->alias && (int)strlen(items[i]->alias) > wa)
                wa = (int)strlen(items[i]->alias);
            if ((int)strlen(alg) > wg)
                wg = (int)strlen(alg);
            if (items[i]->status && (int)strlen(items[i]->status) > ws)
                ws = (int)strlen(items[i]->status);
        }
        printf("%-*s  %-*s  %-*s  %s\n", wa, "ALIAS", wg, "ALGORITHM", ws, "STATUS", "CERTIFICATE SUBJECT");
        for (size_t i = 0; i < n; i++) {
            alg_str(items[i], alg, sizeof alg);
            printf("%-*s  %-*s  %-*s  %s\n", wa, items[i]->alias ? items[i]->alias : "-", wg, alg, ws,
                   items[i]->status ? items[i]->status : "-", subjects[i] ? subjects[i] : "-");
        }
        if (fflush(stdout) != 0)
            rc = cli_errorf(DCPKI_E_IO, "cannot write to the standard output");
    }
    for (size_t i = 0; i < n; i++)
        free(subjects[i]);
    free(subjects);
    dcpki_keypairs_free(items, n);
    return rc;
}

/* ------------------------------------------------------------ keys show */

enum { OPT_CERT = CLI_OPT_FIRST_FREE };

static int keys_show(cli_ctx *ctx, const cli_cmd *self, int argc, char **argv)
{
    static const struct option longopts[] = {
        CLI_COMMON_LONGOPTS,
        {"cert", no_argument, NULL, OPT_CERT},
        {NULL, 0, NULL, 0},
    };
    int rc = 0, c, want_cert = 0;
    optind = 0;
    while ((c = cli_getopt(ctx, self, argc, argv, "", longopts, &rc)) != CLI_OPTS_END) {
        switch (c) {
        case CLI_OPTS_EXIT: return rc;
        case OPT_CERT: want_cert = 1; break;
        default: return cli_usage_error(ctx, "unexpected option");
        }
    }
    if (cli_check_operands(ctx, argc, argv, 1, 1))
        return CLI_EXIT_USAGE;
    const char *alias = argv[optind];

    dcpki_err err;
    dcpki_err_clear(&err);
    dcpki_signing *s;
    dcpki_keypair *kp = NULL;
    if (cli_signing(ctx, &s, &err) != DCPKI_OK || dcpki_signing_describe(s, alias, &kp, &err) != DCPKI_OK)
        return cli_error(&err);

    X509 *cert = der_cert(&kp->cert);
    size_t nchain = kp->chain_len;
    X509 **chain = calloc(nchain ? nchain : 1, sizeof *chain);
    if (!chain) {
        X509_free(cert);
        dcpki_keypair_free(kp);
        return cli_errorf(DCPKI_E_NOMEM, "out of memory");
    }
    for (size_t i = 0; i < nchain; i++)
        chain[i] = der_cert(&kp->chain[i]);
    char *pub = kp->pub ? cli_pubkey_pem(kp->pub) : NULL;

    if (want_cert) {
        /* only PEM on stdout: "dcpki keys show ALIAS --cert > ca.pem" */
        if (!cert) {
            rc = cli_errorf(DCPKI_E_BAD_RESPONSE, "the signing service lists no certificate for key "
                            "'%s'; ask its administrator to attach one", alias);
            goto done;
        }
        BIO *b = BIO_new(BIO_s_mem());
        int ok = b && PEM_write_bio_X509(b, cert);
        for (size_t i = 0; ok && i < nchain; i++)
            if (chain[i])
                ok = PEM_write_bio_X509(b, chain[i]);
        if (!ok)
            rc = cli_errorf(DCPKI_E_INTERNAL, "cannot encode the certificates of key '%s'", alias);
        else if (cli_emit_bio(b, NULL, 0, 0, &err) != DCPKI_OK)
            rc = cli_error(&err);
        BIO_free(b);
        goto done;
    }

    if (ctx->json) {
        json_object *o = keypair_json_base(kp);
        json_object_object_add(o, "account_id", cli_json_str(kp->account_id));
        json_object_object_add(o, "public_key_pem", cli_json_str(pub));
        json_object_object_add(o, "certificate", cert ? cli_cert_json(cert, 1) : NULL);
        json_object *arr = json_object_new_array();
        for (size_t i = 0; i < nchain; i++)
            if (chain[i])
                json_object_array_add(arr, cli_cert_json(chain[i], 1));
        json_object_object_add(o, "chain", arr);
        char uri[DCPKI_ALIAS_MAX * 3 + 32];
        dcpki_uri u;
        memset(&u, 0, sizeof u);
        u.kind = DCPKI_URI_KEY;
        snprintf(u.alias, sizeof u.alias, "%s", kp->alias ? kp->alias : alias);
        if (dcpki_uri_format(&u, uri, sizeof uri) >= 0)
            json_object_object_add(o, "uri", json_object_new_string(uri));
        rc = cli_json_print(o);
        goto done;
    }

    char alg[64];
    alg_str(kp, alg, sizeof alg);
    printf("id:          %s\n", kp->id ? kp->id : "-");
    printf("alias:       %s\n", kp->alias ? kp->alias : alias);
    printf("algorithm:   %s\n", alg);
    printf("status:      %s\n", kp->status ? kp->status : "-");
    if (kp->account_id)
        printf("account:     %s\n", kp->account_id);
    if (cert) {
        printf("certificate:\n");
        cli_cert_print(stdout, "  ", cert);
    } else {
        printf("certificate: none\n");
    }
    printf("chain:       %zu certificate%s\n", nchain, nchain == 1 ? "" : "s");
    for (size_t i = 0; i < nchain; i++) {
        char *sub = chain[i] ? cli_name_str(X509_get_subject_name(chain[i])) : NULL;
        char *iss = chain[i] ? cli_name_str(X509_get_issuer_name(chain[i])) : NULL;
        char na[32] = "?";
        if (chain[i])
            cli_time_str(X509_get0_notAfter(chain[i]), na);
        printf("  [%zu] %s (issuer: %s; not after %s)\n", i + 1, sub ? sub : "unparseable certificate",
               iss ? iss : "?", na);
        free(sub);
        free(iss);
    }
    printf("public key:\n%s", pub ? pub : "  none\n");
    if (fflush(stdout) != 0)
        rc = cli_errorf(DCPKI_E_IO, "cannot write to the standard output");
done:
    free(pub);
    for (size_t i = 0; i < nchain; i++)
        X509_free(chain[i]);
    free(chain);
    X509_free(cert);
    dcpki_keypair_free(kp);
    return rc;
}

/* ------------------------------------------------------------- keys ref */

static int keys_ref(cli_ctx *ctx, const cli_cmd *self, int argc, char **argv)
{
    static const struct option longopts[] = {
        CLI_COMMON_LONGOPTS,
        {"out", required_argument, NULL, 'o'},
        {NULL, 0, NULL, 0},
    };
    const char *out = NULL;
    int rc = 0, c;
    optind = 0;
    while ((c = cli_getopt(ctx, self, argc, argv, "o:", longopts, &rc)) != CLI_OPTS_END) {
        switch (c) {
        case CLI_OPTS_EXIT: return rc;
        case 'o': out = optarg; break;
        default: return cli_usage_error(ctx, "unexpected option");
        }
    }
    if (cli_check_operands(ctx, argc, argv, 1, 1))
        return CLI_EXIT_USAGE;
    const char *alias = argv[optind];
    if (strlen(alias) >= DCPKI_ALIAS_MAX)
        return cli_usage_error(ctx, "the alias is longer than %d characters", DCPKI_ALIAS_MAX - 1);

    dcpki_err err;
    dcpki_err_clear(&err);
    dcpki_signing *s;
    dcpki_keypair *kp = NULL;
    /* the key must exist: a reference to nothing would fail later, far from here */
    if (cli_signing(ctx, &s, &err) != DCPKI_OK || dcpki_signing_describe(s, alias, &kp, &err) != DCPKI_OK)
        return cli_error(&err);
    dcpki_keypair_free(kp);

    dcpki_uri u;
    memset(&u, 0, sizeof u);
    u.kind = DCPKI_URI_KEY;
    u.type = DCPKI_OBJ_ANY;
    snprintf(u.alias, sizeof u.alias, "%s", alias);
    char uri[DCPKI_ALIAS_MAX * 3 + 32];
    if (dcpki_uri_format(&u, uri, sizeof uri) < 0)
        return cli_errorf(DCPKI_E_INTERNAL, "cannot write the URI of key '%s'", alias);
    char *pem = NULL;
    if (dcpki_keyref_pem(uri, &pem, &err) != DCPKI_OK)
        return cli_error(&err);

    if (out) {
        if (cli_write_file_atomic(out, pem, strlen(pem), 0644, 1, &err) != DCPKI_OK)
            rc = cli_error(&err);
    } else if (!ctx->json) {
        if (fputs(pem, stdout) < 0 || fflush(stdout) != 0)
            rc = cli_errorf(DCPKI_E_IO, "cannot write to the standard output");
    }
    if (rc == 0 && ctx->json) {
        json_object *o = json_object_new_object();
        json_object_object_add(o, "uri", json_object_new_string(uri));
        json_object_object_add(o, "file", cli_json_str(out));
        json_object_object_add(o, "pem", json_object_new_string(pem));
        rc = cli_json_print(o);
    } else if (rc == 0 && out) {
        printf("wrote a key reference to %s in %s (a URI only, no key material)\n", uri, out);
    }
    free(pem);
    return rc;
}

/* ---------------------------------------------------------------- table */

static const cli_cmd keys_list_cmd = {
    .name = "list",
    .summary = "list the signing service's keys",
    .usage = "Usage: dcpki keys list [--json]\n"
             "\n"
             "Lists the keys of the signing service ([signing] url): alias, algorithm, status\n"
             "and the subject of the key's certificate.\n",
    .run = keys_list,
};

static const cli_cmd keys_show_cmd = {
    .name = "show",
    .summary = "show one key: algorithm, public key, certificate and chain",
    .usage = "Usage: dcpki keys show ALIAS [--cert] [--json]\n"
             "\n"
             "Shows the key ALIAS: id, algorithm, status, its certificate, the chain and the\n"
             "public key (PEM).\n"
             "\n"
             "  --cert  print only the key's certificate then the chain, in PEM, e.g.\n"
             "          dcpki keys show issuing-ca --cert > ca.pem\n",
    .run = keys_show,
};

static const cli_cmd keys_ref_cmd = {
    .name = "ref",
    .summary = "write a key reference file (a URI, never key material)",
    .usage = "Usage: dcpki keys ref ALIAS [--out FILE] [--json]\n"
             "\n"
             "Writes a PEM block labelled DCPKI KEY REFERENCE that names dcpki:key=ALIAS.\n"
             "Programs that only take a key file (-key ref.pem, ssl_certificate_key) then sign\n"
             "with the remote key through the dcpki provider.\n"
             "\n"
             "  -o, --out FILE  write it there (default: standard output)\n",
    .run = keys_ref,
};

static const cli_cmd *const keys_subs[] = {&keys_list_cmd, &keys_show_cmd, &keys_ref_cmd, NULL};

const cli_cmd cli_cmd_keys = {
    .name = "keys",
    .summary = "the signing service's remote keys",
    .usage = "Usage: dcpki keys COMMAND [OPTIONS]\n"
             "\n"
             "Remote keys live in the signing service ([signing] url, api_key_file); dcpki\n"
             "reaches it over mutual TLS with the RA identity. OpenSSL uses them as\n"
             "dcpki:key=ALIAS through the dcpki provider.\n",
    .subs = keys_subs,
};
