/* dcpki: command-line tool. Global options, then a command group or command
 * from the table below (one source file per group). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/err.h>

#include "cli_common.h"
#include "cli_enroll.h"

static void print_version(void)
{
    printf("dcpki %s (%s)\n", DCPKI_VERSION, OpenSSL_version(OPENSSL_VERSION));
}

static int version_run(cli_ctx *ctx, const cli_cmd *self, int argc, char **argv)
{
    int st = cli_parse_common_only(ctx, self, argc, argv, 0, 0);
    if (st != CLI_OPTS_END)
        return st;
    print_version();
    return CLI_EXIT_OK;
}

static const cli_cmd cli_cmd_version = {
    .name = "version",
    .summary = "show the version of dcpki and of the OpenSSL it runs on",
    .usage = "Usage: dcpki version\n"
             "\n"
             "Prints \"dcpki VERSION (OpenSSL VERSION DATE)\", as dcpki --version does.\n",
    .run = version_run,
    .subs = NULL,
};

static const cli_cmd *const commands[] = {
    &cli_cmd_ra,
    &cli_cmd_keys,
    &cli_cmd_agent,
    &cli_cmd_policy,
    &cli_cmd_enroll,
    &cli_cmd_revoke,
    &cli_cmd_status,
    &cli_cmd_doctor,
    &cli_cmd_certmonger,
    &cli_cmd_version,
    NULL,
};

enum { OPT_VERSION = CLI_OPT_FIRST_FREE };

static const cli_cmd cli_root = {
    .name = "dcpki",
    .summary = "DigiCert cloud CA and signing keys from OpenSSL and PKCS#11",
    .usage =
        "Usage: dcpki [--config FILE] [--json] COMMAND [ARGS...]\n"
        "       dcpki --help | help | --version | version\n"
        "\n"
        "Options (accepted before or after the command):\n"
        "  --config FILE  configuration file (default: $DCPKI_CONF, else " DCPKI_DEFAULT_CONF ")\n"
        "  --json         machine-readable output where the output is data\n"
        "  -h, --help     show help (also after any command)\n"
        "  --version      show the version\n"
        "\n"
        "Exit status:\n"
        "  0  success\n"
        "  1  failure (one line on standard error saying what failed and what to do)\n"
        "  2  invalid command line: unknown command or option, missing operand or value,\n"
        "     a value that can never be valid\n"
        "  3  enroll: the CA left the request pending (collect it with 'dcpki enroll --poll ID')\n"
        "  4  enroll: the CA issued and the certificate was written, but the store of issued\n"
        "     certificates could not record it (the same command again records it)\n"
        "certmonger-submit uses certmonger's statuses instead (see its --help).\n",
    .run = NULL,
    .subs = commands,
};

int main(int argc, char **argv)
{
    /* The CLI's own crypto runs on the built-in default provider: openssl.cnf
     * (which may activate the dcpki provider for other programs) is not read. */
    OPENSSL_init_crypto(OPENSSL_INIT_NO_LOAD_CONFIG, NULL);

    cli_ctx ctx;
    memset(&ctx, 0, sizeof ctx);
    snprintf(ctx.cmdpath, sizeof ctx.cmdpath, "dcpki");

    static const struct option longopts[] = {
        CLI_COMMON_LONGOPTS,
        {"version", no_argument, NULL, OPT_VERSION},
        {NULL, 0, NULL, 0},
    };
    int rc = 0, c;
    optind = 0;
    while ((c = cli_getopt(&ctx, &cli_root, argc, argv, "+", longopts, &rc)) != CLI_OPTS_END) {
        if (c == CLI_OPTS_EXIT)
            return rc;
        if (c == OPT_VERSION) {
            print_version();
            return CLI_EXIT_OK;
        }
    }
    if (optind >= argc)
        return cli_usage_error(&ctx, "no command given");
    const char *name = argv[optind];
    const cli_cmd *cmd = NULL;
    for (const cli_cmd *const *s = commands; *s; s++)
        if (strcmp((*s)->name, name) == 0)
            cmd = *s;
    if (!cmd && strcmp(name, "help") == 0) {
        cli_print_usage(stdout, &cli_root, "dcpki");
        return 0;
    }
    if (!cmd)
        return cli_usage_error(&ctx, "unknown command '%s'", name);

    /* cmdpath grows to "dcpki <group> <command>" as cli_dispatch descends */
    rc = cli_dispatch(&ctx, cmd, argc - optind, argv + optind);
    cli_ctx_free(&ctx);
    ERR_clear_error();
    /* certmonger-submit speaks certmonger's exit statuses (0..6); all others CLI_EXIT_* */
    if (cmd == &cli_cmd_certmonger)
        return rc >= 0 && rc <= 6 ? rc : 4;
    switch (rc) {
    case CLI_EXIT_OK:
    case CLI_EXIT_USAGE:
    case CLI_EXIT_PENDING:
    case CLI_EXIT_NOT_RECORDED:
        return rc;
    default:
        return CLI_EXIT_FAILURE;
    }
}
