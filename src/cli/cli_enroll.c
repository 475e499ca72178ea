/* dcpki enroll: profile enrollment through the PKI Platform (issue 4). */
#include "cli_enroll.h"
#include "cli_batch.h"

#include <errno.h>
#include <libgen.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "dcpki/pkcs12_out.h"
#include "dcpki/request.h"

/* ------------------------------------------------------- shared helpers */

/* the engine (policy cache) and, once an enrollment command needs it, the store */
typedef struct pki_state {
    dcpki_enroller *eng;
    dcpki_store *store;
} pki_state;

static void pki_state_free(void *p)
{
    pki_state *s = p;
    dcpki_enroller_free(s->eng);
    dcpki_store_close(s->store);
    free(s);
}

static void notice_to_stderr(void *arg, const char *msg)
{
    (void)arg;
    char shown[1200];
    fprintf(stderr, "dcpki: %s\n", dcpki_escape(msg, shown, sizeof shown));
}

static dcpki_code pki_state_get(cli_ctx *ctx, pki_state **out, dcpki_err *err)
{
    pki_state *s = ctx->pki;
    if (s == NULL) {
        dcpki_ctx *core;
        dcpki_code rc = cli_core(ctx, &core, err);
        if (rc != DCPKI_OK)
            return rc;
        if ((s = calloc(1, sizeof(*s))) == NULL)
            return dcpki_err_set(err, DCPKI_E_NOMEM, "enrollment engine");
        if ((rc = dcpki_enroller_new(core, NULL, &s->eng, err)) != DCPKI_OK) {
            free(s);
            return rc;
        }
        dcpki_enroller_set_notice(s->eng, notice_to_stderr, NULL);
        ctx->pki = s;
        ctx->pki_free = pki_state_free;
    }
    *out = s;
    return DCPKI_OK;
}

dcpki_code cli_pki_host(cli_ctx *ctx, const char **host, dcpki_err *err)
{
    pki_state *s;
    dcpki_code rc = pki_state_get(ctx, &s, err);
    return rc == DCPKI_OK ? dcpki_enroll_ca_host(s->eng, host, err) : rc;
}

dcpki_code cli_pki_profile(cli_ctx *ctx, const char *opt, const char **oid, dcpki_err *err)
{
    const dcpki_config *cfg = NULL;
    dcpki_code rc;
    if (dcpki_is_dotted_oid(opt)) {
        /* an OID needs no configuration, unless a [profiles] name is spelled like one */
        dcpki_err ignored;
        if (cli_config(ctx, &cfg, &ignored) != DCPKI_OK)
            cfg = NULL;
        const char *named = cfg ? dcpki_config_profile(cfg, opt) : NULL;
        *oid = named ? named : opt;
        return DCPKI_OK;
    }
    if ((rc = cli_config(ctx, &cfg, err)) != DCPKI_OK)
        return rc;
    const char *name = opt ? opt : "default";
    const char *found = dcpki_config_profile(cfg, name);
    if (found != NULL) {
        *oid = found;
        return DCPKI_OK;
    }
    char known[256] = "";
    size_t kl = 0;
    for (size_t i = 0; i < cfg->n_profiles && kl < sizeof known; i++)
        kl += (size_t)snprintf(known + kl, sizeof known - kl, "%s%s", i ? ", " : "",
                               cfg->profiles[i].name);
    if (opt == NULL)
        return dcpki_err_set(err, DCPKI_E_CONFIG_INCOMPLETE,
                             "no profile given and %s has no [profiles] default (give a profile "
                             "OID or a [profiles] name%s%s, or set default = OID under [profiles])",
                             cfg->path, kl ? ": " : "", known);
    char shown[128];
    dcpki_escape(opt, shown, sizeof shown);
    return dcpki_err_set(err, DCPKI_E_CONFIG_INCOMPLETE,
                         "profile \"%s\" is neither a dotted OID nor a name under [profiles] in %s "
                         "(%s%s; add %s = OID under [profiles], or give the OID)",
                         shown, cfg->path, kl ? "names: " : "no names are defined", known, shown);
}

dcpki_code cli_enroller(cli_ctx *ctx, const char *store_opt, dcpki_enroller **out, dcpki_err *err)
{
    pki_state *s;
    dcpki_code rc = pki_state_get(ctx, &s, err);
    if (rc != DCPKI_OK)
        return rc;
    if (s->store == NULL) {
        /* --store DIR, else [store] url (PostgreSQL), else [store] dir, else (dir NULL)
         * the default directory, which dcpki_store_open picks */
        const dcpki_config *cfg;
        if ((rc = cli_config(ctx, &cfg, err)) != DCPKI_OK)
            return rc;
        dcpki_store_params p = {.key_file = cfg->store.key_file};
        if (store_opt != NULL)
            p.dir = store_opt;
        else if (cfg->store.url != NULL)
            p.url = cfg->store.url;
        else
            p.dir = cfg->store.dir;
        if ((rc = dcpki_store_open(&p, &s->store, err)) != DCPKI_OK)
            return rc;
        dcpki_enroller_set_store(s->eng, s->store);
    }
    *out = s->eng;
    return DCPKI_OK;
}

dcpki_code cli_policy_get(cli_ctx *ctx, const char *profile, const dcpki_policy **out,
                          dcpki_err *err)
{
    pki_state *s;
    dcpki_code rc = pki_state_get(ctx, &s, err);
    return rc == DCPKI_OK ? dcpki_enroll_policy(s->eng, profile, out, err) : rc;
}

int cli_enroll_unrecorded(dcpki_code rc, const dcpki_enroll_result *res)
{
    return rc == DCPKI_E_STORE && res->cert != NULL;
}

/* the exit status of a failed enrollment: CLI_EXIT_PENDING, CLI_EXIT_NOT_RECORDED
 * (issued and delivered, not recorded), else CLI_EXIT_FAILURE */
static int enroll_exit(dcpki_code rc, const dcpki_enroll_result *res)
{
    if (rc == DCPKI_E_PENDING)
        return CLI_EXIT_PENDING;
    if (cli_enroll_unrecorded(rc, res))
        return CLI_EXIT_NOT_RECORDED;
    return CLI_EXIT_FAILURE;
}

/* ------------------------------------------------------------- delivery */

static dcpki_code write_pfx(const dcpki_enroll_result *r, const char *path, const char *pass,
                            const char *friendly, dcpki_err *err)
{
    if (r->key == NULL)
        return dcpki_err_set(err, DCPKI_E_INVALID_ARGUMENT,
                             "no private key for a PKCS#12 (the request was a CSR: use --out)");
    unsigned char *der = NULL;
    size_t len = 0;
    dcpki_code rc = dcpki_pkcs12_make(r->key, r->cert, r->chain, r->n_chain, pass, friendly, &der,
                                      &len, err);
    if (rc == DCPKI_OK)
        rc = cli_write_file_atomic(path, der, len, 0600, 1, err);
    free(der);
    return rc;
}

static dcpki_code write_cert_pem(const dcpki_enroll_result *r, const char *path, const char *chain_path,
                                 dcpki_err *err)
{
    BIO *b = BIO_new(BIO_s_mem());
    if (b == NULL || PEM_write_bio_X509(b, r->cert) != 1) {
        BIO_free(b);
        return dcpki_err_set(err, DCPKI_E_NOMEM, "writing the certificate");
    }
    dcpki_code rc = cli_emit_bio(b, path, 0644, 1, err);
    BIO_free(b);
    if (rc != DCPKI_OK || chain_path == NULL)
        return rc;
    b = BIO_new(BIO_s_mem());
    int ok = b != NULL;
    for (size_t i = 0; ok && i < r->n_chain; i++)
        ok = PEM_write_bio_X509(b, r->chain[i]) == 1;
    if (!ok) {
        BIO_free(b);
        return dcpki_err_set(err, DCPKI_E_NOMEM, "writing the chain");
    }
    rc = cli_emit_bio(b, chain_path, 0644, 1, err);
    BIO_free(b);
    return rc;
}

static const char *outcome_word(dcpki_enroll_outcome o)
{
    switch (o) {
    case DCPKI_ENROLL_PENDING: return "pending";
    case DCPKI_ENROLL_REDELIVERED: return "redelivered";
    case DCPKI_ENROLL_RECOVERED: return "recovered";
    default: return "issued";
    }
}

static json_object *res_json(const dcpki_enroll_result *r, const char *subject, const char *out)
{
    json_object *o = json_object_new_object();
    if (o == NULL)
        return NULL;
    json_object_object_add(o, "subject", cli_json_str(subject));
    json_object_object_add(o, "status", json_object_new_string(
                                            outcome_word(r->outcome)));
    json_object_object_add(o, "serial", cli_json_str(r->serial));
    json_object_object_add(o, "pending_id", cli_json_str(r->pending_id));
    json_object_object_add(o, "output", cli_json_str(out));
    json_object_object_add(o, "store_entry", cli_json_str(r->store_id[0] ? r->store_id : NULL));
    if (r->cert != NULL) {
        char t[32];
        cli_time_str(X509_get0_notAfter(r->cert), t);
        json_object_object_add(o, "not_after", json_object_new_string(t));
    }
    return o;
}

/* ------------------------------------------------------------- command */

enum {
    OPT_PROFILE = CLI_OPT_FIRST_FREE, OPT_SUBJECT, OPT_SAN, OPT_PFX, OPT_PASS, OPT_CSR, OPT_OUT,
    OPT_CHAIN_OUT, OPT_RENEW, OPT_POLL, OPT_BATCH, OPT_OUT_DIR, OPT_STORE, OPT_QUIET
};

typedef struct opts {
    const char *profile, *subject, *pfx, *pass_file, *csr, *out, *chain_out, *poll, *batch,
        *out_dir, *store;
    const char **sans;
    size_t n_sans;
    int renew;
    int quiet;
} opts;

static dcpki_code read_pass(const char *file, char **pass, dcpki_err *err)
{
    dcpki_code rc = dcpki_read_secret_file(file, pass, err);
    if (rc != DCPKI_OK)
        return rc;
    if ((*pass)[0] == '\0') {
        dcpki_secret_free(*pass);
        *pass = NULL;
        return dcpki_err_set(err, DCPKI_E_INVALID_ARGUMENT,
                             "the PFX password file %s is empty (write a password in it)", file);
    }
    return DCPKI_OK;
}

/* Writes what the CA issued: a PKCS#12 to pfx (friendly name: friendly), else
 * the PEM certificate to out (standard output when NULL) and the chain to
 * chain_out. The certificate the store could not record (cli_enroll_unrecorded)
 * is still delivered: rc stays DCPKI_E_STORE (exit CLI_EXIT_NOT_RECORDED) once
 * written, and with say_wrote the file is then named on standard error. */
static dcpki_code deliver(dcpki_code rc, const dcpki_enroll_result *res, const char *pfx,
                          const char *out, const char *chain_out, const char *pass,
                          const char *friendly, int say_wrote, dcpki_err *err)
{
    if (rc != DCPKI_OK && !cli_enroll_unrecorded(rc, res))
        return rc;
    dcpki_err werr;
    dcpki_err_clear(&werr);
    dcpki_code wrc = pfx != NULL ? write_pfx(res, pfx, pass, friendly, &werr)
                                 : write_cert_pem(res, out, chain_out, &werr);
    if (wrc != DCPKI_OK) {
        /* not delivered: that is the failure to report (exit 1), even when the store
         * failed too (the next run finds the certificate at the CA) */
        *err = werr;
        return wrc;
    }
    if (say_wrote && rc != DCPKI_OK && (pfx != NULL || out != NULL)) {
        char shown[512];
        fprintf(stderr, "dcpki: wrote %s\n", dcpki_escape(pfx ? pfx : out, shown, sizeof shown));
    }
    return rc;
}

static int run_single(cli_ctx *ctx, const opts *o, const char *profile, const char *store)
{
    dcpki_err err;
    dcpki_err_clear(&err);
    char *pass = NULL;
    X509_REQ *csr = NULL;
    dcpki_code rc = DCPKI_OK;
    if (o->pfx != NULL && (rc = read_pass(o->pass_file, &pass, &err)) != DCPKI_OK)
        return cli_error(&err);
    if (o->csr != NULL) {
        char *data = NULL;
        size_t len = 0;
        rc = cli_read_file(o->csr, &data, &len, DCPKI_E_IO, &err);
        if (rc == DCPKI_OK)
            rc = dcpki_csr_load((const unsigned char *)data, len, &csr, &err);
        free(data);
        if (rc != DCPKI_OK) {
            dcpki_secret_free(pass);
            return cli_error(&err);
        }
    }
    dcpki_enroll_request rq = {.profile = profile, .subject = o->subject, .sans = o->sans,
                               .n_sans = o->n_sans, .csr = csr, .renew = o->renew};
    dcpki_enroll_result res;
    memset(&res, 0, sizeof res);
    dcpki_enroller *eng;
    rc = cli_enroller(ctx, store, &eng, &err);
    if (rc == DCPKI_OK)
        rc = dcpki_enroll_run(eng, &rq, &res, &err);
    rc = deliver(rc, &res, o->pfx, o->out, o->chain_out, pass, o->subject, 1, &err);
    int ret;
    if (rc != DCPKI_OK) {
        cli_error(&err);
        ret = enroll_exit(rc, &res);
    } else {
        const char *outp = o->pfx ? o->pfx : o->out;
        if (ctx->json) {
            ret = cli_json_print(res_json(&res, o->subject ? o->subject : "(CSR)", outp));
        } else {
            if (res.outcome == DCPKI_ENROLL_REDELIVERED)
                fprintf(stderr, "dcpki: re-delivered certificate %s from the store of issued "
                        "certificates (no request sent to the CA)\n", res.serial);
            else if (res.outcome == DCPKI_ENROLL_RECOVERED)
                fprintf(stderr, "dcpki: the CA had issued certificate %s for the earlier request "
                        "(found at the CA; nothing new requested)\n", res.serial);
            else
                fprintf(stderr, "dcpki: the CA issued certificate %s (profile %s)\n", res.serial,
                        profile);
            if (outp != NULL)
                fprintf(stderr, "dcpki: wrote %s\n", outp);
            ret = 0;
        }
    }
    dcpki_enroll_result_clear(&res);
    X509_REQ_free(csr);
    dcpki_secret_free(pass);
    return ret;
}

static int run_poll(cli_ctx *ctx, const opts *o, const char *profile, const char *store)
{
    dcpki_err err;
    dcpki_err_clear(&err);
    char *pass = NULL;
    if (o->pfx != NULL && read_pass(o->pass_file, &pass, &err) != DCPKI_OK)
        return cli_error(&err);
    dcpki_enroll_result res;
    memset(&res, 0, sizeof res);
    dcpki_enroller *eng;
    dcpki_code rc = cli_enroller(ctx, store, &eng, &err);
    if (rc == DCPKI_OK)
        rc = dcpki_enroll_poll(eng, profile, o->poll, &res, &err);
    /* a key kept in the store waits for --pfx; a CSR's certificate goes to standard output */
    if (o->pfx != NULL || o->out != NULL || res.key == NULL)
        rc = deliver(rc, &res, o->pfx, o->out, o->chain_out, pass, o->subject, 1, &err);
    int ret = 0;
    if (rc != DCPKI_OK) {
        cli_error(&err);
        ret = enroll_exit(rc, &res);
    } else if (ctx->json) {
        ret = cli_json_print(res_json(&res, NULL, o->pfx ? o->pfx : o->out));
    } else {
        fprintf(stderr, "dcpki: the CA issued certificate %s for pending request %s\n", res.serial,
                o->poll);
        if (o->pfx || o->out)
            fprintf(stderr, "dcpki: wrote %s\n", o->pfx ? o->pfx : o->out);
        else if (res.key != NULL)
            fprintf(stderr, "dcpki: kept in the store; deliver it with the same 'dcpki enroll' "
                    "command and --pfx\n");
    }
    dcpki_enroll_result_clear(&res);
    dcpki_secret_free(pass);
    return ret;
}

/* ---- batch ---- */

/* s with control characters escaped (dcpki_escape), whole, in a new string */
static char *batch_escape_dup(const char *s)
{
    size_t n = 4 * strlen(s) + 1;
    char *o = malloc(n);
    if (o != NULL)
        dcpki_escape(s, o, n);
    return o;
}

/* DIR/<CN or subject, file-name safe>.p12 */
static char *batch_pfx_path(const char *dir, const batch_item *b)
{
    char name[128];
    const char *src = b->subject;
    for (const char *p = b->subject; *p; p++)
        if ((p == b->subject || p[-1] == ',' || p[-1] == '/' || p[-1] == ' ') &&
            strncasecmp(p, "CN=", 3) == 0) {
            src = p + 3;
            break;
        }
    size_t k = 0;
    for (const char *p = src; *p && *p != ',' && k + 1 < sizeof name; p++) {
        unsigned char c = (unsigned char)*p;
        name[k++] = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                            c == '.' || c == '-' || c == '_' || c == '@'
                        ? (char)c
                        : '_';
    }
    name[k] = '\0';
    if (k == 0 || name[0] == '.')
        return NULL;
    size_t len = strlen(dir) + strlen(name) + 6;
    char *path = malloc(len);
    if (path)
        snprintf(path, len, "%s/%s.p12", dir, name);
    return path;
}

/* A batch entry's own "pfx": a relative path that stays under --out-dir: not
 * absolute, no ".." component, and its directory (resolved, symbolic links
 * followed) inside the resolved --out-dir. *path gets DIR/PFX. Returns 0, or -1
 * with msg set. */
static int batch_pfx_inside(const char *dir, const char *pfx, char **path, char *msg, size_t n)
{
    *path = NULL;
    if (pfx[0] == '/') {
        snprintf(msg, n, "\"pfx\" must be a path relative to --out-dir, not an absolute path");
        return -1;
    }
    for (const char *c = pfx; *c;) {
        size_t cl = strcspn(c, "/");
        if (cl == 2 && c[0] == '.' && c[1] == '.') {
            snprintf(msg, n, "\"pfx\" must stay under --out-dir: it has a \"..\" component");
            return -1;
        }
        c += cl;
        c += *c == '/';
    }
    size_t pl = strlen(pfx);
    if (pl == 0 || pfx[pl - 1] == '/') {
        snprintf(msg, n, "\"pfx\" names no file");
        return -1;
    }
    size_t len = strlen(dir) + pl + 2;
    char *p = malloc(len);
    char *copy = p ? malloc(len) : NULL;
    if (copy == NULL) {
        free(p);
        snprintf(msg, n, "out of memory");
        return -1;
    }
    snprintf(p, len, "%s/%s", dir, pfx);
    memcpy(copy, p, len);
    char *rdir = realpath(dir, NULL), *rsub = realpath(dirname(copy), NULL);
    int rc = 0;
    if (rdir == NULL || rsub == NULL) {
        /* a missing directory is reported by batch_path_writable with its cause */
        if (rdir == NULL)
            snprintf(msg, n, "--out-dir cannot be resolved: %s", strerror(errno));
        rc = rdir == NULL ? -1 : 0;
    } else {
        size_t dl = strlen(rdir);
        int inside = strncmp(rsub, rdir, dl) == 0 &&
                     (rsub[dl] == '\0' || rsub[dl] == '/' || (dl == 1 && rdir[0] == '/'));
        if (!inside) {
            snprintf(msg, n, "\"pfx\" must stay under --out-dir: its directory leads to %.100s "
                     "(a symbolic link)", rsub);
            rc = -1;
        }
    }
    free(rdir);
    free(rsub);
    free(copy);
    if (rc != 0)
        free(p);
    else
        *path = p;
    return rc;
}

/* How much of a subject a result line shows; longer ones end in "...". */
#define BATCH_SUBJECT_SHOWN 200

/* s escaped, cut at a character boundary and ended with "..." when it is
 * longer than BATCH_SUBJECT_SHOWN bytes; out holds n >= BATCH_SUBJECT_SHOWN + 8. */
static void batch_shown(const char *s, char *out, size_t n)
{
    size_t l = strlen(s);
    if (l <= BATCH_SUBJECT_SHOWN) {
        char *e = batch_escape_dup(s);
        snprintf(out, n, "%s", e ? e : "(out of memory)");
        free(e);
        return;
    }
    size_t cut = BATCH_SUBJECT_SHOWN - 3;
    while (cut > 0 && ((unsigned char)s[cut] & 0xC0) == 0x80)
        cut--; /* not inside a UTF-8 character */
    char *head = strndup(s, cut);
    char *e = head ? batch_escape_dup(head) : NULL;
    /* escaping may lengthen it: cut again, never inside an escape (\\xNN) */
    size_t el = e ? strlen(e) : 0;
    size_t keep = el < n - 4 ? el : n - 4;
    if (e != NULL && keep < el) {
        for (size_t b = keep >= 3 ? keep - 3 : 0; b < keep; b++)
            if (e[b] == '\\') {
                keep = b;
                break;
            }
        while (keep > 0 && ((unsigned char)e[keep] & 0xC0) == 0x80)
            keep--;
    }
    snprintf(out, n, "%.*s...", (int)keep, e ? e : "");
    free(e);
    free(head);
}

/* --out-dir: made (0700) when missing; a directory this user can write to.
 * Checked before the first request, so the CA issues nothing that cannot be delivered. */
static dcpki_code batch_out_dir(const char *dir, dcpki_err *err)
{
    struct stat st;
    if (stat(dir, &st) != 0) {
        if (errno != ENOENT)
            return dcpki_err_set(err, DCPKI_E_IO, "--out-dir %s cannot be used: %s; nothing was "
                                 "sent to the CA", dir, strerror(errno));
        if (mkdir(dir, 0700) != 0)
            return dcpki_err_set(err, DCPKI_E_IO, "--out-dir %s does not exist and cannot be made: "
                                 "%s; nothing was sent to the CA", dir, strerror(errno));
        fprintf(stderr, "dcpki: made the output directory %s (mode 0700)\n", dir);
        return DCPKI_OK;
    }
    if (!S_ISDIR(st.st_mode))
        return dcpki_err_set(err, DCPKI_E_IO, "--out-dir %s is not a directory; nothing was sent "
                             "to the CA", dir);
    if (access(dir, W_OK | X_OK) != 0)
        return dcpki_err_set(err, DCPKI_E_IO, "--out-dir %s is not writable by this user: %s; "
                             "nothing was sent to the CA", dir, strerror(errno));
    return DCPKI_OK;
}

/* the directory a PFX goes to can take it (an entry's own "pfx" may name another) */
static dcpki_code batch_path_writable(const char *path, dcpki_err *err)
{
    char *copy = strdup(path);
    if (copy == NULL)
        return dcpki_err_set(err, DCPKI_E_NOMEM, "checking %s", path);
    const char *dir = dirname(copy);
    dcpki_code rc = DCPKI_OK;
    if (access(dir, W_OK | X_OK) != 0)
        rc = dcpki_err_set(err, DCPKI_E_IO, "cannot write %s: %s: %s; not sent to the CA", path,
                           dir, strerror(errno));
    free(copy);
    return rc;
}

/* Progress of --batch on standard error: on a terminal one line rewritten in
 * place (cut to the terminal's width); otherwise a plain line per subject;
 * nothing with --quiet. Result lines (standard output) are not progress. */
typedef struct progress {
    int mode;      /* 0 quiet, 1 lines, 2 terminal */
    int shown;     /* a terminal line is on screen */
    size_t total;
} progress;

static void progress_clear(progress *p)
{
    if (p->mode == 2 && p->shown) {
        fputs("\r\033[K", stderr);
        fflush(stderr);
        p->shown = 0;
    }
}

static void progress_show(progress *p, size_t idx, size_t ok, size_t failed, const char *subject)
{
    char shown[256];
    dcpki_escape(subject, shown, sizeof shown);
    if (p->mode == 1) {
        fprintf(stderr, "[%zu/%zu] %s ...\n", idx, p->total, shown);
    } else if (p->mode == 2) {
        struct winsize ws;
        int width = ioctl(STDERR_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0 ? ws.ws_col : 80;
        char line[512];
        snprintf(line, sizeof line, "[%zu/%zu] %zu done, %zu failed: %s ...", idx, p->total, ok,
                 failed, shown);
        if (width > 1 && (size_t)width - 1 < sizeof line)
            line[width - 1] = '\0'; /* never wrap: \r must return to this line */
        fprintf(stderr, "\r\033[K%s", line);
        fflush(stderr);
        p->shown = 1;
    }
}

static int run_batch(cli_ctx *ctx, const opts *o, const char *profile, const char *store)
{
    dcpki_err err;
    dcpki_err_clear(&err);
    char *pass = NULL, *data = NULL;
    size_t len = 0;
    if (read_pass(o->pass_file, &pass, &err) != DCPKI_OK)
        return cli_error(&err);
    if (batch_out_dir(o->out_dir, &err) != DCPKI_OK) {
        dcpki_secret_free(pass);
        return cli_error(&err);
    }
    if (cli_read_file(o->batch, &data, &len, DCPKI_E_IO, &err) != DCPKI_OK) {
        dcpki_secret_free(pass);
        return cli_error(&err);
    }
    /* count the items first, for the progress line */
    size_t total = 0;
    for (char *l = data; l && l < data + len;) {
        char *nl = memchr(l, '\n', (size_t)(data + len - l));
        size_t ll = nl ? (size_t)(nl - l) : (size_t)(data + len - l);
        size_t i = 0;
        while (i < ll && (l[i] == ' ' || l[i] == '\t' || l[i] == '\r'))
            i++;
        if (i < ll && l[i] != '#')
            total++;
        l = nl ? nl + 1 : NULL;
    }
    progress prog = {.mode = o->quiet ? 0 : isatty(STDERR_FILENO) ? 2 : 1, .total = total};
    json_object *arr = ctx->json ? json_object_new_array() : NULL;
    size_t idx = 0, n_ok = 0, n_re = 0, n_fail = 0, n_pend = 0, lineno = 0;
    char *end = data + len;
    for (char *line = data, *next; line != NULL; line = next) {
        next = memchr(line, '\n', (size_t)(end - line));
        /* a NUL byte in the file would end the line early, silently */
        int raw_nul = memchr(line, '\0', (size_t)((next ? next : end) - line)) != NULL;
        if (next != NULL)
            *next++ = '\0';
        if (next != NULL && next >= end)
            next = NULL;
        lineno++;
        char *l = batch_trim(line);
        if (*l == '\0' || *l == '#')
            continue;
        idx++;
        batch_item b;
        char msg[256] = "";
        char *path = NULL;
        const char *line_profile = NULL;
        dcpki_enroll_result res;
        memset(&res, 0, sizeof res);
        dcpki_code rc;
        dcpki_err_clear(&err);
        if (raw_nul) {
            memset(&b, 0, sizeof b);
            rc = dcpki_err_set(&err, DCPKI_E_INVALID_ARGUMENT, "%s line %zu: the line holds a NUL "
                               "byte; not sent to the CA", o->batch, lineno);
        } else if (batch_parse(l, &b, msg, sizeof msg) != 0) {
            rc = dcpki_err_set(&err, DCPKI_E_INVALID_ARGUMENT, "%s line %zu: %s; not sent to the CA",
                               o->batch, lineno, msg);
        } else if (b.pfx != NULL && batch_pfx_inside(o->out_dir, b.pfx, &path, msg, sizeof msg) != 0) {
            rc = dcpki_err_set(&err, DCPKI_E_INVALID_ARGUMENT, "%s line %zu: %s; not sent to the CA",
                               o->batch, lineno, msg);
        } else {
            if (b.pfx == NULL)
                path = batch_pfx_path(o->out_dir, &b);
            progress_show(&prog, idx, n_ok + n_re, n_fail, b.subject);
            if (path == NULL) {
                rc = dcpki_err_set(&err, DCPKI_E_INVALID_ARGUMENT,
                                   "no file name can be made from \"%.100s\" (give \"pfx\")", b.subject);
            } else if (b.profile != NULL &&
                       cli_pki_profile(ctx, b.profile, &line_profile, &err) != DCPKI_OK) {
                rc = err.code;
            } else if (batch_path_writable(path, &err) != DCPKI_OK) {
                rc = err.code;
            } else {
                dcpki_enroll_request rq = {.profile = b.profile ? line_profile : profile,
                                           .subject = b.subject,
                                           .sans = (const char *const *)b.sans, .n_sans = b.n_sans,
                                           .renew = o->renew};
                dcpki_enroller *eng;
                rc = cli_enroller(ctx, store, &eng, &err);
                if (rc == DCPKI_OK)
                    rc = dcpki_enroll_run(eng, &rq, &res, &err);
                rc = deliver(rc, &res, path, NULL, NULL, pass, b.subject, 0, &err);
            }
        }
        /* the result line: the subject shortened (with "...") when long, the verdict always whole */
        char subj[BATCH_SUBJECT_SHOWN + 8];
        batch_shown(b.subject ? b.subject : "(line)", subj, sizeof subj);
        char eb[DCPKI_ERR_DETAIL_MAX + 256] = "";
        if (rc == DCPKI_OK) {
            if (res.outcome == DCPKI_ENROLL_REDELIVERED)
                n_re++;
            else
                n_ok++;
        } else {
            if (rc == DCPKI_E_PENDING)
                n_pend++;
            else
                n_fail++;
            dcpki_err_format(&err, eb, sizeof eb);
        }
        if (arr != NULL) {
            json_object *jo = res_json(&res, b.subject, rc == DCPKI_OK ? path : NULL);
            if (jo != NULL && rc != DCPKI_OK) {
                json_object_object_add(jo, "status", json_object_new_string(
                                                         rc == DCPKI_E_PENDING ? "pending" : "failed"));
                json_object_object_add(jo, "error", json_object_new_string(dcpki_code_id(rc)));
                json_object_object_add(jo, "message",
                                       json_object_new_string(eb));
            }
            json_object_object_add(jo, "line", json_object_new_int64((int64_t)lineno));
            json_object_array_add(arr, jo);
        } else {
            progress_clear(&prog);
            if (rc == DCPKI_OK) {
                char *ep = batch_escape_dup(path);
                printf("%s: %s %s -> %s\n", subj, res.outcome == DCPKI_ENROLL_REDELIVERED ? "re-delivered"
                       : res.outcome == DCPKI_ENROLL_RECOVERED ? "recovered" : "issued",
                       res.serial, ep ? ep : "(out of memory)");
                free(ep);
            } else {
                printf("%s: %s: %s\n", subj, rc == DCPKI_E_PENDING ? "PENDING" : "FAILED", eb);
            }
            fflush(stdout);
        }
        free(path);
        batch_item_clear(&b);
        dcpki_enroll_result_clear(&res);
    }
    progress_clear(&prog);
    unsigned long conns = cli_connections(ctx);
    fprintf(stderr, "dcpki: %zu subjects: %zu issued, %zu re-delivered, %zu pending, %zu failed "
            "(%lu connection%s to the CA)\n", idx, n_ok, n_re, n_pend, n_fail, conns,
            conns == 1 ? "" : "s");
    if (arr != NULL)
        cli_json_print(arr);
    free(data);
    dcpki_secret_free(pass);
    return n_fail > 0 ? CLI_EXIT_FAILURE : n_pend > 0 ? CLI_EXIT_PENDING : CLI_EXIT_OK;
}

static int enroll_run(cli_ctx *ctx, const cli_cmd *self, int argc, char **argv)
{
    static const struct option longopts[] = {
        CLI_COMMON_LONGOPTS,
        {"profile", required_argument, NULL, OPT_PROFILE},
        {"subject", required_argument, NULL, OPT_SUBJECT},
        {"san", required_argument, NULL, OPT_SAN},
        {"pfx", required_argument, NULL, OPT_PFX},
        {"pfx-pass-file", required_argument, NULL, OPT_PASS},
        {"csr", required_argument, NULL, OPT_CSR},
        {"out", required_argument, NULL, OPT_OUT},
        {"chain-out", required_argument, NULL, OPT_CHAIN_OUT},
        {"renew", no_argument, NULL, OPT_RENEW},
        {"poll", required_argument, NULL, OPT_POLL},
        {"batch", required_argument, NULL, OPT_BATCH},
        {"out-dir", required_argument, NULL, OPT_OUT_DIR},
        {"store", required_argument, NULL, OPT_STORE},
        {"quiet", no_argument, NULL, OPT_QUIET},
        {NULL, 0, NULL, 0},
    };
    opts o;
    memset(&o, 0, sizeof o);
    o.sans = calloc((size_t)argc + 1, sizeof(char *));
    if (o.sans == NULL)
        return cli_errorf(DCPKI_E_NOMEM, "parsing the command line");
    int rc = 0, c;
    optind = 0;
    while ((c = cli_getopt(ctx, self, argc, argv, "", longopts, &rc)) != CLI_OPTS_END) {
        switch (c) {
        case CLI_OPTS_EXIT: free(o.sans); return rc;
        case OPT_PROFILE: o.profile = optarg; break;
        case OPT_SUBJECT: o.subject = optarg; break;
        case OPT_SAN: o.sans[o.n_sans++] = optarg; break;
        case OPT_PFX: o.pfx = optarg; break;
        case OPT_PASS: o.pass_file = optarg; break;
        case OPT_CSR: o.csr = optarg; break;
        case OPT_OUT: o.out = optarg; break;
        case OPT_CHAIN_OUT: o.chain_out = optarg; break;
        case OPT_RENEW: o.renew = 1; break;
        case OPT_POLL: o.poll = optarg; break;
        case OPT_BATCH: o.batch = optarg; break;
        case OPT_OUT_DIR: o.out_dir = optarg; break;
        case OPT_STORE: o.store = optarg; break;
        case OPT_QUIET: o.quiet = 1; break;
        default: free(o.sans); return cli_usage_error(ctx, "unexpected option");
        }
    }
    if (cli_check_operands(ctx, argc, argv, 0, 0)) {
        free(o.sans);
        return CLI_EXIT_USAGE;
    }
    int modes = (o.subject != NULL) + (o.csr != NULL) + (o.poll != NULL) + (o.batch != NULL);
    const char *bad = NULL;
    if (modes != 1)
        bad = "give exactly one of --subject, --csr, --poll and --batch";
    else if (o.n_sans > 0 && o.subject == NULL)
        bad = "--san goes with --subject";
    else if (o.subject != NULL && o.pfx == NULL)
        bad = "--subject needs --pfx FILE (the key is generated here and delivered in a PKCS#12)";
    else if (o.csr != NULL && o.out == NULL)
        bad = "--csr needs --out FILE (the certificate, PEM)";
    else if ((o.csr != NULL || o.batch != NULL) && o.pfx != NULL)
        bad = "--pfx goes with --subject or --poll";
    else if (o.batch != NULL && o.out_dir == NULL)
        bad = "--batch needs --out-dir DIR (one PKCS#12 per subject)";
    else if (o.quiet && o.batch == NULL)
        bad = "--quiet goes with --batch (it silences the progress)";
    else if ((o.pfx != NULL || o.batch != NULL) && o.pass_file == NULL)
        bad = "a PKCS#12 is always encrypted: give --pfx-pass-file FILE (its first line is the "
              "password)";
    else if (o.pfx != NULL && o.out != NULL)
        bad = "give --pfx or --out, not both";
    else if (o.poll != NULL && o.renew)
        bad = "--renew does not go with --poll";
    if (bad != NULL) {
        free(o.sans);
        return cli_usage_error(ctx, "%s", bad);
    }
    dcpki_err err;
    dcpki_err_clear(&err);
    /* the syntax of --subject and --san is a usage error; what the profile
     * allows is checked later, against its policy */
    if (o.subject != NULL) {
        dcpki_subject *subj = NULL;
        if (dcpki_subject_parse(o.subject, &subj, &err) != DCPKI_OK) {
            free(o.sans);
            return err.code == DCPKI_E_INVALID_ARGUMENT ? cli_usage_error(ctx, "%s", err.detail)
                                                        : cli_error(&err);
        }
        dcpki_subject_free(subj);
    }
    for (size_t i = 0; i < o.n_sans; i++) {
        dcpki_san san;
        if (dcpki_san_parse(o.sans[i], &san, &err) != DCPKI_OK) {
            free(o.sans);
            char eb[DCPKI_ERR_DETAIL_MAX + 256];
            return err.code == DCPKI_E_NOMEM ? cli_error(&err)
                                             : cli_usage_error(ctx, "%s", dcpki_err_format(&err, eb, sizeof eb));
        }
        dcpki_san_clear(&san);
    }
    const char *store = o.store;
    const char *profile = NULL;
    if ((o.poll == NULL || o.profile != NULL) &&
        cli_pki_profile(ctx, o.profile, &profile, &err) != DCPKI_OK) {
        free(o.sans);
        return cli_error(&err);
    }
    int ret;
    if (o.poll != NULL)
        ret = run_poll(ctx, &o, profile, store);
    else if (o.batch != NULL)
        ret = run_batch(ctx, &o, profile, store);
    else
        ret = run_single(ctx, &o, profile, store);
    free(o.sans);
    return ret;
}

const cli_cmd cli_cmd_enroll = {
    .name = "enroll",
    .summary = "enroll for a certificate under a DigiCert certificate profile",
    .usage =
        "Usage: dcpki enroll [--profile P] --subject DN [--san TYPE:VALUE]... --pfx FILE\n"
        "                    --pfx-pass-file FILE [--renew] [--store DIR]\n"
        "       dcpki enroll [--profile P] --csr FILE --out CERT.pem [--chain-out FILE] [--renew]\n"
        "       dcpki enroll --poll ID (--pfx FILE --pfx-pass-file FILE | --out CERT.pem)\n"
        "       dcpki enroll [--profile P] --batch FILE --out-dir DIR --pfx-pass-file FILE [--quiet]\n"
        "\n"
        "Generates a key pair locally (RSA 2048, or what the profile demands), applies the\n"
        "connector's subject/SAN rules and checks them against the profile's policy before\n"
        "anything is sent, enrolls over mutual TLS with the RA certificate, and writes a PKCS#12\n"
        "(key, certificate, chain; AES-256-CBC/PBKDF2, SHA-256 MAC; mode 0600).\n"
        "\n"
        "Options:\n"
        "  --profile P          certificate profile: its OID or a name under [profiles]\n"
        "                       (default: [profiles] default)\n"
        "  --subject DN         CN=name | CN=name,E=mail | CN=mail (other attributes only when\n"
        "                       the profile has them)\n"
        "  --san TYPE:VALUE     email:ADDR | upn:NAME@DOMAIN | othername:OID;HEX (repeatable);\n"
        "                       missing e-mail/UPN SANs fall back to each other, then to the\n"
        "                       subject's e-mail\n"
        "  --pfx FILE           PKCS#12 to write\n"
        "  --pfx-pass-file FILE the PKCS#12 password (first line); required: a PFX is never\n"
        "                       written unencrypted and a password never goes on the command line\n"
        "  --csr FILE           enroll this PKCS#10 request (PEM or DER) instead\n"
        "  --out FILE           certificate (PEM) for --csr / --poll\n"
        "  --chain-out FILE     CA certificates (PEM) for --csr / --poll\n"
        "  --renew              ask the CA for a new certificate even when one was issued\n"
        "  --poll ID            collect the certificate of a pending request\n"
        "                       (its pendingTokenReferenceID)\n"
        "  --batch FILE         one request per line: a subject DN, or a JSON object\n"
        "                       {\"subject\":..., \"san\":[...], \"profile\":..., \"pfx\":...}\n"
        "                       (profile: an OID or a [profiles] name);\n"
        "                       one process, one connection, a result line per request\n"
        "  --out-dir DIR        where --batch writes DIR/<CN>.p12 (made, mode 0700, when missing;\n"
        "                       checked before the first request)\n"
        "  --quiet              --batch: no progress on standard error (a line rewritten in\n"
        "                       place on a terminal, else a line per subject)\n"
        "  --store DIR          store of issued certificates, an SQLite database in DIR\n"
        "                       (default: [store] url or dir, else $XDG_STATE_HOME/dcpki/issued\n"
        "                       when set, else /var/lib/dcpki/issued for root, else\n"
        "                       ~/.local/state/dcpki/issued)\n"
        "\n"
        "Re-delivery: the same profile, subject and SANs again return the certificate kept in the\n"
        "store (with its key), without a request to the CA, unless --renew or it was revoked or\n"
        "has expired. Concurrent requests for the same subject wait for the first one and get its\n"
        "certificate. A request whose answer was lost is looked up at the CA (certificate search,\n"
        "matched on its key) before anything is sent again. Success is reported only once the\n"
        "store holds the certificate.\n"
        "Exit status: 0 issued or re-delivered; 1 failed; 2 invalid command line; 3 pending:\n"
        "the CA has not decided yet (the pendingTokenReferenceID is in the message; collect the\n"
        "certificate with --poll ID); 4 the CA issued and the certificate was written, but the\n"
        "store could not record it (run the same command again once the store is writable: it\n"
        "records it without a new request). --batch: 1 when any request failed, else 3 when any\n"
        "is pending, else 0.\n",
    .run = enroll_run,
};
