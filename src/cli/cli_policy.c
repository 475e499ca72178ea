/* dcpki policy [PROFILE]: what a certificate profile allows, from the policy service. */
#include "cli_enroll.h"

#include <stdlib.h>
#include <string.h>

static int policy_run(cli_ctx *ctx, const cli_cmd *self, int argc, char **argv)
{
    int st = cli_parse_common_only(ctx, self, argc, argv, 0, 1);
    if (st != CLI_OPTS_END)
        return st;
    dcpki_err err;
    dcpki_err_clear(&err);
    const char *profile;
    const dcpki_policy *pol;
    if (cli_pki_profile(ctx, optind < argc ? argv[optind] : NULL, &profile, &err) != DCPKI_OK ||
        cli_policy_get(ctx, profile, &pol, &err) != DCPKI_OK)
        return cli_error(&err);
    char *out = NULL;
    dcpki_code r = ctx->json ? dcpki_policy_to_json(pol, 1, &out, &err)
                             : dcpki_policy_to_text(pol, &out, &err);
    if (r != DCPKI_OK)
        return cli_error(&err);
    fputs(out, stdout);
    if (out[0] != '\0' && out[strlen(out) - 1] != '\n')
        fputc('\n', stdout);
    free(out);
    return 0;
}

const cli_cmd cli_cmd_policy = {
    .name = "policy",
    .summary = "show what a certificate profile allows (policy service)",
    .usage =
        "Usage: dcpki policy [PROFILE] [--json]\n"
        "\n"
        "Fetches the profile's policy from the PKI Platform's policy service (mutual TLS with\n"
        "the RA certificate) and prints the subject attributes (mandatory, fixed values), SAN\n"
        "types, key algorithm and size, validity and CA certificates. PROFILE is the profile's\n"
        "OID or a name under [profiles] (default: [profiles] default).\n",
    .run = policy_run,
};
