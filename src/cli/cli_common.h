/* Shared parts of the dcpki command-line tool: the command table types, option
 * parsing with the global options, error and JSON output, lazy loading of the
 * config / RA identity / transport / signing client, and file writing.
 *
 * Adding a command group: write src/cli/cli_<group>.c defining a `const cli_cmd`
 * (a group with `subs`, or a leaf with `run`), declare it below and list it in
 * the table of main.c. */
#ifndef DCPKI_CLI_COMMON_H
#define DCPKI_CLI_COMMON_H
#include <stdio.h>
#include <getopt.h>
#include <sys/types.h>
#include <json-c/json.h>
#include <openssl/types.h>
#include "dcpki/config.h"
#include "dcpki/error.h"
#include "dcpki/ctx.h"
#include "dcpki/identity.h"
#include "dcpki/signing.h"
#include "dcpki/transport.h"

#ifndef DCPKI_VERSION
#define DCPKI_VERSION "0.1.0"
#endif

/* Exit statuses of every command but certmonger-submit (which speaks
 * certmonger's, see cli_certmonger.c). Documented in dcpki(1) and dcpki --help. */
enum {
    CLI_EXIT_OK = 0,
    CLI_EXIT_FAILURE = 1, /* the operation failed: one line on stderr */
    CLI_EXIT_USAGE = 2,   /* invalid command line: unknown command or option, missing
                           * operand or value, a value that can never be valid */
    CLI_EXIT_PENDING = 3, /* enrollment: the CA has not decided yet (poll later) */
    CLI_EXIT_NOT_RECORDED = 4 /* enrollment: the CA issued and the certificate was delivered,
                               * but the store could not record it (run again to finish) */
};

typedef struct cli_ctx {
    const char *config_path;    /* --config, NULL = $DCPKI_CONF or the default */
    int json;                   /* --json */
    char cmdpath[128];          /* "dcpki ra csr": used in usage messages */
    /* the core context (dcpki/ctx.h), made on first use, freed by cli_ctx_free */
    dcpki_ctx *core;
    /* state of the enrollment commands (cli_enroll.c), released by pki_free */
    void *pki;
    void (*pki_free)(void *pki);
} cli_ctx;

typedef struct cli_cmd cli_cmd;
struct cli_cmd {
    const char *name;
    const char *summary;        /* one line, shown in the parent's list */
    const char *usage;          /* full help text (usage lines, options) */
    /* leaf: argv[0] is the command name, options and operands follow */
    int (*run)(cli_ctx *ctx, const cli_cmd *self, int argc, char **argv);
    const cli_cmd *const *subs; /* group: NULL-terminated subcommands */
};

/* Command groups and top-level commands (one file each). */
extern const cli_cmd cli_cmd_ra;   /* cli_ra.c */
extern const cli_cmd cli_cmd_keys; /* cli_keys.c */
extern const cli_cmd cli_cmd_agent; /* cli_agent.c */

/* Run a command (leaf or group) with argv[0] = its name. */
int cli_dispatch(cli_ctx *ctx, const cli_cmd *cmd, int argc, char **argv);
void cli_print_usage(FILE *f, const cli_cmd *cmd, const char *cmdpath);
void cli_ctx_free(cli_ctx *ctx);

/* ---- options ----
 * Every command accepts the global options too (dcpki policy OID --json). */
enum { CLI_OPT_JSON = 0x1001, CLI_OPT_CONFIG, CLI_OPT_FIRST_FREE = 0x1100 };
#define CLI_COMMON_LONGOPTS                                  \
    {"help", no_argument, NULL, 'h'},                        \
    {"json", no_argument, NULL, CLI_OPT_JSON},               \
    {"config", required_argument, NULL, CLI_OPT_CONFIG}
enum { CLI_OPTS_END = -1, CLI_OPTS_EXIT = -2 };
/* Next command-specific option (optarg set as with getopt_long). Handles
 * --help (usage on stdout, *rc = 0), the global options, unknown options and
 * missing values (one line on stderr, *rc = CLI_EXIT_USAGE). Returns the option, CLI_OPTS_END
 * when done (optind = first operand), or CLI_OPTS_EXIT with *rc set.
 * Start a new parse by setting optind = 0 first. */
int cli_getopt(cli_ctx *ctx, const cli_cmd *cmd, int argc, char **argv,
               const char *shortopts, const struct option *longopts, int *rc);
/* Operand count check: prints the usage error and returns CLI_EXIT_USAGE when
 * argc-optind is outside [min, max]; 0 when fine. */
int cli_check_operands(cli_ctx *ctx, int argc, char **argv, int min, int max);
/* For a command with no options of its own: parses the common ones and checks
 * the operand count. Returns CLI_OPTS_END to go on (optind = first operand),
 * else the exit status to return. */
int cli_parse_common_only(cli_ctx *ctx, const cli_cmd *cmd, int argc, char **argv, int min,
                          int max);

/* ---- errors: exactly one line on stderr; cli_error/cli_errorf return CLI_EXIT_FAILURE ---- */
/* "dcpki: <sentence>: <detail> (<remedy>)" */
int cli_error(const dcpki_err *err);
int cli_errorf(dcpki_code code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* "dcpki: invalid command line: <detail> (run '<cmdpath> --help' for usage)";
 * returns CLI_EXIT_USAGE */
int cli_usage_error(const cli_ctx *ctx, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void cli_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Set err from OpenSSL's error queue (the last error's reason), emptying it. */
dcpki_code cli_ossl_err(dcpki_err *err, dcpki_code code, const char *what);

/* ---- lazy loading: each loads what it depends on, once; errors as dcpki_err ---- */
dcpki_code cli_config(cli_ctx *ctx, const dcpki_config **out, dcpki_err *err);
/* The core context itself (made on first use). */
dcpki_code cli_core(cli_ctx *ctx, dcpki_ctx **out, dcpki_err *err);
dcpki_code cli_identity(cli_ctx *ctx, const dcpki_identity **out, dcpki_err *err);
/* HTTPS transport with the RA identity (one per process: one TLS session cache) */
dcpki_code cli_transport(cli_ctx *ctx, dcpki_transport **out, dcpki_err *err);
dcpki_code cli_signing(cli_ctx *ctx, dcpki_signing **out, dcpki_err *err);
/* TLS connections the transport made so far (0 when it was not made). */
unsigned long cli_connections(cli_ctx *ctx);

/* ---- output ---- */
/* Print a JSON document (pretty) on stdout and release it; 0, or 1 on failure. */
int cli_json_print(json_object *obj);
/* json string, or JSON null for NULL */
json_object *cli_json_str(const char *s);

/* Certificates */
char *cli_name_str(const X509_NAME *name);         /* "CN=x, O=y" (RFC 4514 order); free() */
void cli_time_str(const ASN1_TIME *t, char out[32]); /* 2026-11-25T12:00:00Z */
void cli_thumbprint(const X509 *x, char out[41]);  /* SHA-1, 40 upper-case hex */
int cli_cert_expired(const X509 *x);               /* notAfter in the past */
int cli_cert_not_yet_valid(const X509 *x);
char *cli_cert_pem(X509 *x);                       /* PEM text; free() */
char *cli_pubkey_pem(EVP_PKEY *pk);                /* PEM text; free() */
/* subject, issuer, serial, not_before, not_after, thumbprint, expired (+ pem) */
json_object *cli_cert_json(X509 *x, int with_pem);
/* Lines "<indent>subject:    ..." etc. on f */
void cli_cert_print(FILE *f, const char *indent, X509 *x);

/* ---- files ---- */
/* Write data whole or not at all: temporary file in the same directory,
 * fchmod(mode), write, fsync, then rename (overwrite != 0) or link (refusing an
 * existing file), and fsync of the directory. */
dcpki_code cli_write_file_atomic(const char *path, const void *data, size_t len, mode_t mode,
                                 int overwrite, dcpki_err *err);
/* Whole file into memory (NUL-terminated); free(). */
dcpki_code cli_read_file(const char *path, char **data, size_t *len, dcpki_code on_error,
                         dcpki_err *err);
/* Load a certificate from a PEM or DER file. */
dcpki_code cli_load_cert(const char *path, X509 **out, dcpki_code on_error, dcpki_err *err);
/* Load an unencrypted private key from a PEM or DER file. */
dcpki_code cli_load_key(const char *path, EVP_PKEY **out, dcpki_err *err);
/* Contents of a memory BIO written to path (atomic) or to stdout when path is NULL. */
dcpki_code cli_emit_bio(BIO *bio, const char *path, mode_t mode, int overwrite, dcpki_err *err);

#endif
