/* Writes every kind of SOAP request dcpki sends to the PKI Platform as
 * DIR/NNN.req (the layout of tests/tools/soapproxy.py recordings), for
 * tests/tools/soapcheck.py --requests to validate against VeriSign's published
 * schemas (tests/tools/verisign-schemas). Exit 0 when all were built. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dcpki/pki_platform.h"

#define P1 "2.16.840.1.113733.1.16.1.2.3.1.1.47196109"
#define P2 "2.16.840.1.113733.1.16.1.2.3.1.1.61904612"

static const char *dir;
static int n_written, failed;

static void put(const char *what, dcpki_code rc, char *xml, size_t len, const dcpki_err *e)
{
    if (rc != DCPKI_OK) {
        fprintf(stderr, "%s: not built: %s\n", what, e->detail);
        failed = 1;
        return;
    }
    char path[4096];
    snprintf(path, sizeof path, "%s/%03d.req", dir, ++n_written);
    FILE *f = fopen(path, "wb");
    if (f == NULL || fwrite(xml, 1, len, f) != len || fclose(f) != 0) {
        perror(path);
        failed = 1;
    } else {
        printf("%s: %s\n", path, what);
    }
    free(xml);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s DIR\n", argv[0]);
        return 2;
    }
    dir = argv[1];
    char *xml;
    size_t len;
    dcpki_err e;
    /* the builder runs before its output is read */
#define PUT(what, call)                                                                            \
    do {                                                                                           \
        xml = NULL;                                                                                \
        len = 0;                                                                                   \
        dcpki_code rc_ = (call);                                                                   \
        put(what, rc_, xml, len, &e);                                                              \
    } while (0)

    /* policy */
    const char *one[] = {P1}, *two[] = {P1, P2};
    PUT("getPolicies, one OID", dcpki_pki_build_get_policies("dcpki-1", one, 1, &xml, &len, &e));
    PUT("getPolicies, two OIDs", dcpki_pki_build_get_policies(NULL, two, 2, &xml, &len, &e));
    PUT("getPolicies, no OID", dcpki_pki_build_get_policies("dcpki-2", NULL, 0, &xml, &len, &e));

    /* enrollment: the pairs of a prepared request, seat_id first */
    static const unsigned char csr[] = {0x30, 0x82, 0x01, 0x0a, 0x02, 0x01, 0x00, 0x30, 0x00};
    const dcpki_nvp pairs[] = {{"seat_id", "iw@contoso.example"}, {"common_name", "IW User"},
                               {"mail_email", "iw@contoso.example"}, {"upn", "iw@contoso.example"}};
    dcpki_pki_enroll_params ep = {.profile_oid = P1, .txid = "dcpki-3", .type = DCPKI_PKI_ISSUE,
                                  .csr_der = csr, .csr_len = sizeof csr, .pairs = pairs, .n_pairs = 4};
    PUT("Issue with pairs", dcpki_pki_build_enroll(&ep, &xml, &len, &e));
    ep.type = DCPKI_PKI_RENEW;
    ep.txid = NULL;
    PUT("Renew with pairs", dcpki_pki_build_enroll(&ep, &xml, &len, &e));
    ep.n_pairs = 0;
    PUT("Issue without pairs", dcpki_pki_build_enroll(&ep, &xml, &len, &e));
    dcpki_pki_enroll_params q = {.profile_oid = P1, .txid = "dcpki-4", .type = DCPKI_PKI_QUERY,
                                 .pending_id = "PENDING-42", .pairs = pairs, .n_pairs = 1};
    PUT("QueryTokenStatus", dcpki_pki_build_enroll(&q, &xml, &len, &e));

    /* certificate management */
    PUT("Revoke, reason and comment",
        dcpki_pki_build_update_status("dcpki-5", "4AC5E2F19B", "Revoke", "keyCompromise", "key lost",
                                      &xml, &len, &e));
    PUT("Suspend", dcpki_pki_build_update_status(NULL, "00A1", "Suspend", NULL, NULL, &xml, &len, &e));
    PUT("Resume", dcpki_pki_build_update_status(NULL, "A1", "Resume", NULL, NULL, &xml, &len, &e));
    const dcpki_pki_search_filter filters[] = {
        {.serial_hex = "4AC5E2F19B"},
        {.profile_oid = P1},
        {.common_name = "IW User"},
        {.status = "REVOKED"},
        {.email = "iw@contoso.example"},
        {.valid_from_ms = 1700000000000LL},
        {.valid_to_ms = 1800000000000LL},
        {.profile_oid = P1, .start_index = 50},
        {.serial_hex = "00A1", .profile_oid = P1, .common_name = "IW User", .status = "VALID",
         .email = "iw@contoso.example", .valid_from_ms = 1700000000000LL,
         .valid_to_ms = 1800000000000LL, .start_index = 100},
    };
    for (size_t i = 0; i < sizeof filters / sizeof filters[0]; i++) {
        char what[64];
        snprintf(what, sizeof what, "searchCertificateRequest, filter %zu", i + 1);
        PUT(what, dcpki_pki_build_search(i % 2 ? NULL : "dcpki-6", &filters[i], &xml, &len, &e));
    }

    /* health */
    PUT("health", dcpki_pki_build_health("dcpki-7", NULL, &xml, &len, &e));
    PUT("health, profile", dcpki_pki_build_health(NULL, P1, &xml, &len, &e));
    return failed;
}
