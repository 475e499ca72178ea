/* libFuzzer harnesses for what a user gives to `dcpki enroll`
 * (dcpki/request.h, src/cli/cli_batch.h). One binary per target, -DFUZZ_<NAME>:
 *   SUBJECT dcpki_subject_parse (+ format/re-parse round trip, look-ups)
 *   SAN     dcpki_san_parse and dcpki_hex_decode (+ round trips)
 *   BATCH   the --batch file: each line through batch_parse (cli_batch.c),
 *           then its subject and SANs through the parsers above
 *   CSR     dcpki_csr_load (PEM or DER PKCS#10), dcpki_csr_to_input, and
 *           what it gives through the subject and SAN parsers */
#include <ctype.h>

#include <openssl/x509.h>

#include "cli_batch.h"
#include "dcpki/policy.h"
#include "dcpki/request.h"
#include "fuzz.h"

/* ---- subject ---- */

/* "T=v,..." with ',', '/', '\' and a leading space of a value escaped */
static char *format_subject(const dcpki_subject *s)
{
    size_t cap = 1;
    for (size_t i = 0; i < s->n; i++)
        cap += strlen(s->rdns[i].type) + 2 * strlen(s->rdns[i].value) + 3;
    char *o = malloc(cap), *w = o;
    if (!o)
        abort();
    for (size_t i = 0; i < s->n; i++) {
        if (i)
            *w++ = ',';
        w += sprintf(w, "%s=", s->rdns[i].type);
        for (const char *v = s->rdns[i].value; *v; v++) {
            if (*v == ',' || *v == '/' || *v == '\\' || (v == s->rdns[i].value && *v == ' '))
                *w++ = '\\';
            *w++ = *v;
        }
    }
    *w = '\0';
    return o;
}

FUZZ_MAYBE_UNUSED static void check_subject(const char *in)
{
    dcpki_subject *s = NULL;
    dcpki_err err;
    dcpki_code rc = dcpki_subject_parse(in, &s, &err);
    if (rc != DCPKI_OK) {
        fuzz_check_err(&err, rc);
        FUZZ_ASSERT(s == NULL);
        return;
    }
    FUZZ_ASSERT(s != NULL && s->n > 0);
    for (size_t i = 0; i < s->n; i++) {
        const char *t = s->rdns[i].type, *v = s->rdns[i].value;
        FUZZ_ASSERT(t != NULL && v != NULL && v[0] != '\0');
        FUZZ_ASSERT(dcpki_dn_canonical(t) != NULL && strcmp(dcpki_dn_canonical(t), t) == 0);
        FUZZ_ASSERT(dcpki_subject_get(s, t) == v); /* each type once */
        if (strcmp(t, "E") == 0)
            FUZZ_ASSERT(dcpki_is_email(v));
    }
    const char *em = dcpki_subject_email(s);
    FUZZ_ASSERT(em == NULL || dcpki_is_email(em));
    /* round trip: the canonical form parses to the same attributes */
    char *f = format_subject(s);
    if (strlen(f) <= strlen(in)) { /* else it may pass the length limit */
        dcpki_subject *s2 = NULL;
        rc = dcpki_subject_parse(f, &s2, &err);
        if (rc != DCPKI_OK)
            fprintf(stderr, "round trip of \"%s\" as \"%s\": %s\n", in, f, err.detail);
        FUZZ_ASSERT(rc == DCPKI_OK && s2->n == s->n);
        for (size_t i = 0; i < s->n; i++)
            FUZZ_ASSERT(strcmp(s2->rdns[i].type, s->rdns[i].type) == 0 &&
                        strcmp(s2->rdns[i].value, s->rdns[i].value) == 0);
        dcpki_subject_free(s2);
    }
    free(f);
    dcpki_subject_free(s);
}

/* ---- SAN ---- */

FUZZ_MAYBE_UNUSED static void check_hex(const char *hex)
{
    unsigned char *b = NULL;
    size_t n = 0;
    dcpki_err err;
    dcpki_code rc = dcpki_hex_decode(hex, &b, &n, &err);
    if (rc != DCPKI_OK) {
        fuzz_check_err(&err, rc);
        FUZZ_ASSERT(b == NULL && n == 0);
        return;
    }
    size_t digits = 0;
    for (const char *p = hex; *p; p++)
        digits += isxdigit((unsigned char)*p) != 0;
    FUZZ_ASSERT(b != NULL && n > 0 && n * 2 == digits);
    free(b);
}

FUZZ_MAYBE_UNUSED static void check_san(const char *in)
{
    dcpki_san s;
    dcpki_err err;
    dcpki_code rc = dcpki_san_parse(in, &s, &err);
    if (rc != DCPKI_OK) {
        fuzz_check_err(&err, rc);
        FUZZ_ASSERT(!s.value && !s.oid && !s.der && s.der_len == 0);
        return;
    }
    char *again = NULL;
    switch (s.type) {
    case DCPKI_SAN_EMAIL:
        FUZZ_ASSERT(s.value && dcpki_is_email(s.value) && !s.oid && !s.der);
        again = malloc(strlen(s.value) + 8);
        sprintf(again, "email:%s", s.value);
        break;
    case DCPKI_SAN_UPN:
        FUZZ_ASSERT(s.value && dcpki_is_email(s.value) && s.oid && strcmp(s.oid, DCPKI_OID_UPN) == 0 && !s.der);
        again = malloc(strlen(s.value) + 8);
        sprintf(again, "upn:%s", s.value);
        break;
    case DCPKI_SAN_OTHERNAME:
        FUZZ_ASSERT(!s.value && s.oid && strcmp(s.oid, DCPKI_OID_UPN) != 0 && s.der && s.der_len > 0);
        again = malloc(strlen(s.oid) + 2 * s.der_len + 16);
        {
            char *w = again + sprintf(again, "othername:%s;", s.oid);
            for (size_t i = 0; i < s.der_len; i++)
                w += sprintf(w, "%02x", s.der[i]);
        }
        break;
    default:
        FUZZ_ASSERT(!"SAN type");
    }
    /* round trip, unless the canonical form is longer than the limit allows */
    if (strlen(again) <= strlen(in)) {
        dcpki_san s2;
        rc = dcpki_san_parse(again, &s2, &err);
        FUZZ_ASSERT(rc == DCPKI_OK && s2.type == s.type);
        FUZZ_ASSERT((!s.value && !s2.value) || (s.value && s2.value && strcmp(s.value, s2.value) == 0));
        FUZZ_ASSERT((!s.oid && !s2.oid) || (s.oid && s2.oid && strcmp(s.oid, s2.oid) == 0));
        FUZZ_ASSERT(s2.der_len == s.der_len && (s.der_len == 0 || memcmp(s2.der, s.der, s.der_len) == 0));
        dcpki_san_clear(&s2);
    }
    free(again);
    dcpki_san_clear(&s);
}

/* ---- batch ---- */

#if defined(FUZZ_BATCH)

static void check_batch_line(char *line)
{
    char *l = batch_trim(line);
    if (*l == '\0' || *l == '#')
        return;
    batch_item b;
    char msg[256];
    memset(msg, 0x55, sizeof(msg));
    msg[0] = '\0';
    int r = batch_parse(l, &b, msg, sizeof(msg));
    if (r != 0) {
        FUZZ_ASSERT(r == -1);
        FUZZ_ASSERT(memchr(msg, '\0', sizeof(msg)) != NULL && msg[0] != '\0');
        /* no output on error */
        FUZZ_ASSERT(!b.subject && !b.sans && b.n_sans == 0 && !b.profile && !b.pfx);
        return;
    }
    FUZZ_ASSERT(b.subject != NULL);
    FUZZ_ASSERT(b.n_sans == 0 || b.sans != NULL);
    for (size_t i = 0; i < b.n_sans; i++)
        FUZZ_ASSERT(b.sans[i] != NULL);
    check_subject(b.subject);
    for (size_t i = 0; i < b.n_sans; i++)
        check_san(b.sans[i]);
    batch_item_clear(&b);
}
#endif

/* ---- CSR ---- */

#if defined(FUZZ_CSR)
static void check_csr(const uint8_t *data, size_t size)
{
    X509_REQ *req = NULL;
    dcpki_err err;
    dcpki_code rc = dcpki_csr_load(data, size, &req, &err);
    if (rc != DCPKI_OK) {
        fuzz_check_err(&err, rc);
        FUZZ_ASSERT(req == NULL);
        return;
    }
    FUZZ_ASSERT(req != NULL);
    char *subject = NULL, **sans = NULL;
    size_t n = 0;
    rc = dcpki_csr_to_input(req, &subject, &sans, &n, &err);
    if (rc != DCPKI_OK) {
        fuzz_check_err(&err, rc);
        FUZZ_ASSERT(subject == NULL && sans == NULL && n == 0);
    } else {
        FUZZ_ASSERT(subject != NULL && (n == 0 || sans != NULL));
        check_subject(subject);
        for (size_t i = 0; i < n; i++) {
            FUZZ_ASSERT(sans[i] != NULL && strchr(sans[i], ':') != NULL);
            check_san(sans[i]);
        }
        dcpki_csr_input_free(subject, sans, n);
    }
    X509_REQ_free(req);
}
#endif

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
#if defined(FUZZ_SUBJECT) || defined(FUZZ_SAN)
    char *s = fuzz_cstr(data, size);
#if defined(FUZZ_SUBJECT)
    check_subject(s);
#else
    check_san(s);
    const char *semi = strchr(s, ';');
    check_hex(semi ? semi + 1 : s);
#endif
    free(s);
#elif defined(FUZZ_BATCH)
    char *s = fuzz_cstr(data, size);
    for (char *line = s, *next; line != NULL; line = next) {
        next = strchr(line, '\n');
        if (next != NULL)
            *next++ = '\0';
        check_batch_line(line);
    }
    free(s);
#elif defined(FUZZ_CSR)
    check_csr(data, size);
#else
#error "define one FUZZ_* target"
#endif
    return 0;
}
