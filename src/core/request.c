/* The connector's subject / SAN rules (BRIEF.md §4), checked against the
 * profile's policy before anything is sent. */
#include "dcpki/request.h"
#include "internal.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/evp.h>
#include <openssl/objects.h>

#define SUBJECT_MAX 4096
#define VALUE_MAX 1024

/* ---- DN types ---- */

typedef struct dn_type {
    const char *canon;
    const char *pair;
    const char *aliases[4];
} dn_type;

static const dn_type DN_TYPES[] = {
    {"CN", "common_name", {"commonName", NULL}},
    {"E", "mail_email", {"EMAIL", "emailAddress", NULL}},
    {"GN", "mail_firstName", {"givenName", "G", NULL}},
    {"SN", "mail_lastName", {"surname", NULL}},
    {"O", "corp_company", {"organizationName", NULL}},
    {"OU", "org_unit", {"organizationalUnitName", NULL}},
    {"C", "country", {"countryName", NULL}},
    {"L", "locality", {"localityName", NULL}},
    {"ST", "state", {"S", "stateOrProvinceName", NULL}},
    {"title", "jobTitle", {"T", NULL}},
};
#define N_DN_TYPES (sizeof(DN_TYPES) / sizeof(DN_TYPES[0]))

const char *dcpki_dn_canonical(const char *type)
{
    if (type == NULL)
        return NULL;
    for (size_t i = 0; i < N_DN_TYPES; i++) {
        if (strcasecmp(type, DN_TYPES[i].canon) == 0)
            return DN_TYPES[i].canon;
        for (size_t j = 0; DN_TYPES[i].aliases[j] != NULL; j++)
            if (strcasecmp(type, DN_TYPES[i].aliases[j]) == 0)
                return DN_TYPES[i].canon;
    }
    return NULL;
}

const char *dcpki_dn_default_pair(const char *dn)
{
    const char *c = dcpki_dn_canonical(dn);
    for (size_t i = 0; c != NULL && i < N_DN_TYPES; i++)
        if (strcmp(c, DN_TYPES[i].canon) == 0)
            return DN_TYPES[i].pair;
    return NULL;
}

const char *dcpki_dn_from_pair(const char *pair)
{
    if (pair == NULL)
        return NULL;
    for (size_t i = 0; i < N_DN_TYPES; i++)
        if (strcasecmp(pair, DN_TYPES[i].pair) == 0)
            return DN_TYPES[i].canon;
    if (strcasecmp(pair, "emailAddress") == 0 || strcasecmp(pair, "mail") == 0)
        return "E";
    return NULL;
}

/* ---- small helpers ---- */

static int utf8_ok(const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    while (*p) {
        unsigned char c = *p;
        size_t n;
        if (c < 0x20 || c == 0x7f)
            return 0;
        if (c < 0x80)
            n = 0;
        else if ((c & 0xe0) == 0xc0 && c >= 0xc2)
            n = 1;
        else if ((c & 0xf0) == 0xe0)
            n = 2;
        else if ((c & 0xf8) == 0xf0 && c <= 0xf4)
            n = 3;
        else
            return 0;
        p++;
        for (size_t i = 0; i < n; i++, p++)
            if ((*p & 0xc0) != 0x80)
                return 0;
    }
    return 1;
}

int dcpki_is_email(const char *s)
{
    if (s == NULL || !utf8_ok(s))
        return 0;
    const char *at = strchr(s, '@');
    if (at == NULL || at == s || at[1] == '\0' || strchr(at + 1, '@') != NULL)
        return 0;
    for (const char *p = s; *p; p++)
        if (*p == ' ' || *p == '\t' || *p == ',' || *p == ';' || *p == '<' || *p == '>')
            return 0;
    const char *dom = at + 1;
    if (dom[0] == '.' || dom[strlen(dom) - 1] == '.' || strstr(dom, "..") != NULL)
        return 0;
    return 1;
}

int dcpki_name_field_bad_char(const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p >= 0x80 || isalpha(*p) || *p == ' ' || *p == '-' || *p == '\'' || *p == '.')
            continue;
        return *p;
    }
    return 0;
}

static int has_letter(const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if (*p >= 0x80 || isalpha(*p))
            return 1;
    return 0;
}

static int is_ascii(const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if (*p >= 0x80)
            return 0;
    return 1;
}

static char *trim_dup(const char *b, const char *e)
{
    while (b < e && isspace((unsigned char)*b))
        b++;
    while (e > b && isspace((unsigned char)e[-1]))
        e--;
    size_t n = (size_t)(e - b);
    char *r = malloc(n + 1);
    if (r == NULL)
        return NULL;
    memcpy(r, b, n);
    r[n] = '\0';
    return r;
}

static int is_oid(const char *s)
{
    if (!dcpki_is_dotted_oid(s))
        return 0;
    ASN1_OBJECT *o = OBJ_txt2obj(s, 1);
    ASN1_OBJECT_free(o);
    return o != NULL;
}

/* ---- subject ---- */

void dcpki_subject_free(dcpki_subject *s)
{
    if (s == NULL)
        return;
    for (size_t i = 0; i < s->n; i++) {
        free(s->rdns[i].type);
        free(s->rdns[i].value);
    }
    free(s->rdns);
    free(s);
}

const char *dcpki_subject_get(const dcpki_subject *s, const char *type)
{
    for (size_t i = 0; s != NULL && i < s->n; i++)
        if (strcasecmp(s->rdns[i].type, type) == 0)
            return s->rdns[i].value;
    return NULL;
}

const char *dcpki_subject_email(const dcpki_subject *s)
{
    const char *e = dcpki_subject_get(s, "E");
    if (e != NULL && dcpki_is_email(e))
        return e;
    const char *cn = dcpki_subject_get(s, "CN");
    if (cn != NULL && dcpki_is_email(cn))
        return cn;
    return NULL;
}

/* Parses one "TYPE=value" component (raw, escapes still in). */
static dcpki_code subject_add(dcpki_subject *s, const char *b, const char *e, const char *whole,
                              dcpki_err *err)
{
    const char *eq = NULL;
    for (const char *p = b; p < e; p++) {
        if (*p == '\\' && p + 1 < e) {
            p++;
            continue;
        }
        if (*p == '=') {
            eq = p;
            break;
        }
    }
    char *comp = trim_dup(b, e);
    if (comp == NULL)
        return dcpki_err_set(err, DCPKI_E_NOMEM, "parsing the subject");
    if (eq == NULL) {
        dcpki_err_set(err, DCPKI_E_INVALID_ARGUMENT, "subject \"%s\": \"%s\" is not TYPE=value", whole, comp);
        free(comp);
        return DCPKI_E_INVALID_ARGUMENT;
    }
    char *type = trim_dup(b, eq);
    char *raw = trim_dup(eq + 1, e);
    char *val = raw ? malloc(strlen(raw) + 1) : NULL;
    if (type == NULL || raw == NULL || val == NULL) {
        free(comp), free(type), free(raw), free(val);
        return dcpki_err_set(err, DCPKI_E_NOMEM, "parsing the subject");
    }
    size_t k = 0;
    for (const char *p = raw; *p; p++) {
        if (*p == '\\' && p[1] != '\0')
            p++;
        val[k++] = *p;
    }
    val[k] = '\0';
    free(raw);
    dcpki_code rc = DCPKI_OK;
    const char *canon = dcpki_dn_canonical(type);
    if (canon == NULL)
        rc = dcpki_err_set(err, DCPKI_E_INVALID_ARGUMENT,
                           "subject attribute \"%s\" is unknown (known: CN, E, GN, SN, O, OU, C, L, "
                           "ST, title)", type);
    else if (val[0] == '\0')
        rc = dcpki_err_set(err, DCPKI_E_INVALID_ARGUMENT, "subject attribute %s has an empty value", canon);
    else if (strlen(val) > VALUE_MAX || !utf8_ok(val))
        rc = dcpki_err_set(err, DCPKI_E_INVALID_ARGUMENT,
                           "subject attribute %s: the value is too long, not UTF-8, or has control "
                           "characters", canon);
    else if (dcpki_subject_get(s, canon) != NULL)
        rc = dcpki_err_set(err, DCPKI_E_INVALID_ARGUMENT, "subject attribute %s appears twice in \"%s\"", canon, whole);
    else if (strcmp(canon, "E") == 0 && (!dcpki_is_email(val) || !is_ascii(val)))
        rc = dcpki_err_set(err, DCPKI_E_INVALID_ARGUMENT, "subject attribute E=\"%s\" is not an e-mail address (ASCII "
                           "name@domain)", val);
    if (rc == DCPKI_OK) {
        dcpki_rdn *n = realloc(s->rdns, (s->n + 1) * sizeof(*n));
        char *t = strdup(canon);
        if (n == NULL || t == NULL) {
            if (n != NULL)
                s->rdns = n;
            free(t);
            rc = dcpki_err_set(err, DCPKI_E_NOMEM, "parsing the subject");
        } else {
            s->rdns = n;
            n[s->n].type = t;
            n[s->n].value = val;
            val = NULL;
            s->n++;
        }
    }
    free(comp);
    free(type);
    free(val);
    return rc;
}

dcpki_code dcpki_subject_parse(const char *str, dcpki_subject **out, dcpki_err *err)
{
    *out = NULL;
    if (str == NULL)
        return dcpki_err_set(err, DCPKI_E_INVALID_ARGUMENT, "no subject given (e.g. --subject \"CN=IWUser0\")");
    if (strlen(str) > SUBJECT_MAX)
        return dcpki_err_set(err, DCPKI_E_INVALID_ARGUMENT, "the subject is longer than %d characters", SUBJECT_MAX);
    dcpki_subject *s = calloc(1, sizeof(*s));
    if (s == NULL)
        return dcpki_err_set(err, DCPKI_E_NOMEM, "parsing the subject");
    const char *p = str;
    while (isspace((unsigned char)*p))
        p++;
    char sep = ',';
    if (*p == '/') {
        sep = '/';
        p++;
    }
    dcpki_code rc = DCPKI_OK;
    const char *b = p;
    for (;; p++) {
        if (*p == '\\' && p[1] != '\0') {
            p++;
            continue;
        }
        if (*p == sep || *p == '\0') {
            const char *q = b;
            while (q < p && isspace((unsigned char)*q))
                q++;
            if (q == p && *p == '\0' && s->n > 0 && sep == '/')
                break; /* trailing '/' */
            if (q == p) {
                rc = dcpki_err_set(err, DCPKI_E_INVALID_ARGUMENT, "subject \"%s\" has an empty component", str);
                break;
            }
            rc = subject_add(s, b, p, str, err);
            if (rc != DCPKI_OK || *p == '\0')
                break;
            b = p + 1;
        }
    }
    if (rc == DCPKI_OK && s->n == 0)
        rc = dcpki_err_set(err, DCPKI_E_INVALID_ARGUMENT, "the subject is empty (e.g. --subject \"CN=IWUser0\")");
    if (rc != DCPKI_OK) {
        dcpki_subject_free(s);
        return rc;
    }
    *out = s;
    return DCPKI_OK;
}

/* ---- SAN ---- */

void dcpki_san_clear(dcpki_san *s)
{
    if (s == NULL)
        return;
    free(s->value);
    free(s->oid);
    free(s->der);
    memset(s, 0, sizeof(*s));
}

dcpki_code dcpki_hex_decode(const char *hex, unsigned char **out, size_t *out_len, dcpki_err *err)
{
    *out = NULL;
    *out_len = 0;
    size_t digits = 0;
    for (const char *p = hex; *p; p++) {
        if (isspace((unsigned char)*p) || *p == ':')
            continue;
        if (!isxdigit((unsigned char)*p)) {
            if ((unsigned char)*p < 0x20 || (unsigned char)*p >= 0x7f)
                return dcpki_err_set(err, DCPKI_E_BAD_HEX,
                                     "malformed hex \"%.200s\": byte 0x%02x at position %zu is no hex "
                                     "digit", hex, (unsigned char)*p, (size_t)(p - hex) + 1);
            return dcpki_err_set(err, DCPKI_E_BAD_HEX,
                                 "malformed hex \"%.200s\": '%c' at position %zu is no hex digit", hex,
                                 *p, (size_t)(p - hex) + 1);
        }
        digits++;
    }
    if (digits == 0)
        return dcpki_err_set(err, DCPKI_E_BAD_HEX, "malformed hex \"%.200s\": no hex digits", hex);
    if (digits % 2 != 0)
        return dcpki_err_set(err, DCPKI_E_BAD_HEX, "malformed hex \"%.200s\": odd number of hex digits (%zu)",
                             hex, digits);
    unsigned char *b = malloc(digits / 2);
    if (b == NULL)
        return dcpki_err_set(err, DCPKI_E_NOMEM, "decoding hex");
    size_t n = 0;
    int hi = -1;
    for (const char *p = hex; *p; p++) {
        if (isspace((unsigned char)*p) || *p == ':')
            continue;
        int v = isdigit((unsigned char)*p) ? *p - '0' : (tolower((unsigned char)*p) - 'a' + 10);
        if (hi < 0) {
            hi = v;
        } else {
            b[n++] = (unsigned char)(hi << 4 | v);
            hi = -1;
        }
    }
    *out = b;
    *out_len = n;
    return DCPKI_OK;
}

dcpki_code dcpki_san_parse(const char *arg, dcpki_san *out, dcpki_err *err)
{
    memset(out, 0, sizeof(*out));
    if (arg == NULL)
        return dcpki_err_set(err, DCPKI_E_INVALID_ARGUMENT, "empty --san argument");
    const char *colon = strchr(arg, ':');
    if (colon == NULL || strlen(arg) > VALUE_MAX * 4)
        return dcpki_err_set(err, DCPKI_E_INVALID_ARGUMENT,
                             "--san \"%.200s\" is not email:ADDRESS, upn:NAME or othername:OID;HEX",
                             arg);
    size_t kl = (size_t)(colon - arg);
    const char *v = colon + 1;
    dcpki_code rc = DCPKI_OK;
    if ((kl == 5 && strncasecmp(arg, "email", 5) == 0) ||
        (kl == 6 && strncasecmp(arg, "rfc822", 6) == 0) ||
        (kl == 10 && strncasecmp(arg, "rfc822name", 10) == 0)) {
        out->type = DCPKI_SAN_EMAIL;
        out->value = trim_dup(v, v + strlen(v));
        if (out->value == NULL)
            rc = dcpki_err_set(err, DCPKI_E_NOMEM, "parsing --san");
        else if (!dcpki_is_email(out->value) || !is_ascii(out->value))
            rc = dcpki_err_set(err, DCPKI_E_INVALID_ARGUMENT, "e-mail SAN \"%s\" is not an e-mail address (ASCII "
                               "name@domain)", out->value);
    } else if (kl == 3 && strncasecmp(arg, "upn", 3) == 0) {
        out->type = DCPKI_SAN_UPN;
        out->value = trim_dup(v, v + strlen(v));
        out->oid = strdup(DCPKI_OID_UPN);
        if (out->value == NULL || out->oid == NULL)
            rc = dcpki_err_set(err, DCPKI_E_NOMEM, "parsing --san");
        else if (!dcpki_is_email(out->value))
            rc = dcpki_err_set(err, DCPKI_E_INVALID_ARGUMENT, "UPN SAN \"%s\" is not of the form name@domain",
                               out->value);
    } else if ((kl == 9 && strncasecmp(arg, "othername", 9) == 0) ||
               (kl == 10 && strncasecmp(arg, "other_name", 10) == 0)) {
        out->type = DCPKI_SAN_OTHERNAME;
        const char *semi = strchr(v, ';');
        if (semi == NULL) {
            rc = dcpki_err_set(err, DCPKI_E_INVALID_ARGUMENT, "other-name SAN \"%.200s\" is not othername:OID;HEX "
                               "(e.g. othername:" DCPKI_OID_DS_OBJECT_GUID ";04 10 ...)", arg);
        } else {
            out->oid = trim_dup(v, semi);
            if (out->oid == NULL)
                rc = dcpki_err_set(err, DCPKI_E_NOMEM, "parsing --san");
            else if (!is_oid(out->oid))
                rc = dcpki_err_set(err, DCPKI_E_INVALID_ARGUMENT, "other-name SAN: \"%s\" is not a dotted OID",
                                   out->oid);
            else if (strcmp(out->oid, DCPKI_OID_UPN) == 0)
                rc = dcpki_err_set(err, DCPKI_E_INVALID_ARGUMENT, "other-name SAN with the UPN OID: give it as "
                                   "upn:NAME@DOMAIN");
            else {
                dcpki_err e2;
                dcpki_err_clear(&e2);
                rc = dcpki_hex_decode(semi + 1, &out->der, &out->der_len, &e2);
                if (rc != DCPKI_OK)
                    dcpki_err_set(err, rc, "other-name SAN %s: %s", out->oid, e2.detail);
            }
        }
    } else {
        rc = dcpki_err_set(err, DCPKI_E_INVALID_ARGUMENT,
                           "--san \"%.200s\": unknown type \"%.*s\" (use email:, upn: or "
                           "othername:OID;HEX)", arg, (int)(kl > 40 ? 40 : kl), arg);
    }
    if (rc != DCPKI_OK)
        dcpki_san_clear(out);
    return rc;
}

/* ---- the request ---- */

void dcpki_request_free(dcpki_request *r)
{
    if (r == NULL)
        return;
    dcpki_subject_free(r->subject);
    free(r->email);
    free(r->upn);
    for (size_t i = 0; i < r->n_othernames; i++)
        dcpki_san_clear(&r->othernames[i]);
    free(r->othernames);
    for (size_t i = 0; i < r->n_pairs; i++) {
        free(r->pairs[i].name);
        free(r->pairs[i].value);
    }
    free(r->pairs);
    free(r);
}

const char *dcpki_request_pair(const dcpki_request *r, const char *name)
{
    for (size_t i = 0; r != NULL && i < r->n_pairs; i++)
        if (strcmp(r->pairs[i].name, name) == 0)
            return r->pairs[i].value;
    return NULL;
}

static dcpki_code add_pair(dcpki_request *r, const char **froms, const char *name,
                           const char *value, const char *from, dcpki_err *err)
{
    for (size_t i = 0; i < r->n_pairs; i++) {
        if (strcmp(r->pairs[i].name, name) != 0)
            continue;
        if (strcmp(r->pairs[i].value, value) == 0)
            return DCPKI_OK;
        return dcpki_err_set(err, DCPKI_E_POLICY_VIOLATION,
                             "the profile sends %s and %s in the same field \"%s\", but they differ "
                             "(\"%s\" and \"%s\"); give the same value to both",
                             froms[i], from, name, r->pairs[i].value, value);
    }
    dcpki_nvp *n = realloc(r->pairs, (r->n_pairs + 1) * sizeof(*n));
    if (n == NULL)
        return dcpki_err_set(err, DCPKI_E_NOMEM, "building the request");
    r->pairs = n;
    n[r->n_pairs].name = strdup(name);
    n[r->n_pairs].value = strdup(value);
    if (n[r->n_pairs].name == NULL || n[r->n_pairs].value == NULL) {
        free(n[r->n_pairs].name);
        free(n[r->n_pairs].value);
        return dcpki_err_set(err, DCPKI_E_NOMEM, "building the request");
    }
    froms[r->n_pairs] = from;
    r->n_pairs++;
    return DCPKI_OK;
}

static const char *oid_or(const char *p)
{
    return p != NULL ? p : "?";
}

/* The profile's own seat pair: attributeName seat_id or seatId (the
 * management schema's spelling). */
static int is_seat_pair(const char *name)
{
    return name != NULL && (strcasecmp(name, DCPKI_SEAT_PAIR) == 0 || strcasecmp(name, "seatId") == 0);
}

/* seat_id's value (see dcpki_request_input.seat_source); *from for messages. */
static dcpki_code seat_value(const dcpki_policy *pol, const dcpki_subject *subj, const char *subject,
                             const char *source, const char **name, const char **value,
                             const char **from, dcpki_err *err)
{
    const dcpki_policy_attr *pa = NULL;
    for (size_t i = 0; i < pol->n_attrs && pa == NULL; i++)
        if (is_seat_pair(pol->attrs[i].name))
            pa = &pol->attrs[i];
    *name = pa ? pa->name : DCPKI_SEAT_PAIR;
    if (pa && pa->fixed_value) {
        *value = pa->fixed_value;
        *from = "the profile's fixed seat_id";
        return DCPKI_OK;
    }
    if (pa && pa->dn && (*value = dcpki_subject_get(subj, pa->dn)) != NULL) {
        *from = "the subject attribute the profile names for seat_id";
        return DCPKI_OK;
    }
    const char *src = source ? source : "email";
    if (strcasecmp(src, "email") == 0) {
        *value = dcpki_subject_email(subj);
        *from = *value ? "the subject's e-mail (seat_id)" : "subject CN (seat_id)";
        if (*value == NULL)
            *value = dcpki_subject_get(subj, "CN");
    } else if (strcasecmp(src, "cn") == 0) {
        *value = dcpki_subject_get(subj, "CN");
        *from = "subject CN (seat_id)";
    } else if (strncasecmp(src, "dn:", 3) == 0 && dcpki_dn_canonical(src + 3) != NULL) {
        const char *dn = dcpki_dn_canonical(src + 3);
        *value = dcpki_subject_get(subj, dn);
        *from = "the subject attribute [seat_id] names";
        if (*value == NULL)
            return dcpki_err_set(err, DCPKI_E_POLICY_VIOLATION,
                                 "the seat_id of profile %s comes from subject attribute %s (dcpki.conf "
                                 "[seat_id] %s), and the subject \"%s\" has no %s; add %s= to the "
                                 "subject, or change that profile's (or the default) line in [seat_id] "
                                 "to email, cn or another dn:TYPE", oid_or(pol->profile_oid), dn, src,
                                 subject, dn, dn);
    } else {
        return dcpki_err_set(err, DCPKI_E_INVALID_ARGUMENT,
                             "seat_id source \"%.40s\" is not email, cn or dn:TYPE (TYPE: CN, E, GN, "
                             "SN, O, OU, C, L, ST, title)", src);
    }
    return DCPKI_OK;
}

/* First and last name out of a UPN's local part ("john.doe@x" → john, doe). */
static dcpki_code names_from_upn(const dcpki_policy *pol, const char *upn, const char *upn_from,
                                 char **first, char **last, dcpki_err *err)
{
    *first = *last = NULL;
    const char *at = strchr(upn, '@');
    size_t ll = at ? (size_t)(at - upn) : strlen(upn);
    char *local = trim_dup(upn, upn + ll);
    if (local == NULL)
        return dcpki_err_set(err, DCPKI_E_NOMEM, "building the request");
    dcpki_code rc = DCPKI_OK;
    int bad = dcpki_name_field_bad_char(local);
    const char *dot = strchr(local, '.');
    if (bad)
        rc = dcpki_err_set(err, DCPKI_E_UPN_NAME,
                           "the UPN \"%s\" (%s) has characters ('%c') that the fields "
                           "mail_firstName/mail_lastName of profile %s cannot take; use a profile "
                           "that asks for CN=<upn> instead", upn, upn_from, bad, oid_or(pol->profile_oid));
    else if (dot == NULL || dot == local || dot[1] == '\0')
        rc = dcpki_err_set(err, DCPKI_E_UPN_NAME,
                           "profile %s asks for mail_firstName/mail_lastName and the UPN \"%s\" (%s) "
                           "is not first.last@domain; give GN= and SN= in the subject, or use a "
                           "profile that asks for CN=<upn>", oid_or(pol->profile_oid), upn, upn_from);
    else if (!has_letter(local) || !has_letter(dot + 1) || dot == local || dot[1] == '\0') {
        rc = dcpki_err_set(err, DCPKI_E_UPN_NAME,
                           "profile %s asks for mail_firstName/mail_lastName and the UPN \"%s\" (%s) "
                           "gives no first and last name; give GN= and SN= in the subject, or use a "
                           "profile that asks for CN=<upn>", oid_or(pol->profile_oid), upn, upn_from);
    } else {
        *first = trim_dup(local, dot);
        *last = trim_dup(dot + 1, local + strlen(local));
        if (*first == NULL || *last == NULL) {
            free(*first), free(*last);
            *first = *last = NULL;
            rc = dcpki_err_set(err, DCPKI_E_NOMEM, "building the request");
        }
    }
    free(local);
    return rc;
}

dcpki_code dcpki_request_prepare(const dcpki_policy *pol, const dcpki_request_input *in,
                                 dcpki_request **out, dcpki_err *err)
{
    *out = NULL;
    if (pol == NULL || in == NULL)
        return dcpki_err_set(err, DCPKI_E_INVALID_ARGUMENT, "no policy or no request to check");
    const char *prof = oid_or(pol->profile_oid);
    char allowed[DCPKI_ERR_DETAIL_MAX / 2];
    dcpki_request *r = calloc(1, sizeof(*r));
    dcpki_san *given = in->n_sans ? calloc(in->n_sans, sizeof(*given)) : NULL;
    /* one origin per pair: at most one per policy attribute, per policy SAN and per --san,
     * and seat_id */
    const char **froms = calloc(pol->n_attrs + pol->n_sans + in->n_sans + 2, sizeof(*froms));
    char *first = NULL, *last = NULL;
    dcpki_code rc = DCPKI_OK;
    if (r == NULL || froms == NULL || (in->n_sans && given == NULL)) {
        rc = dcpki_err_set(err, DCPKI_E_NOMEM, "building the request");
        goto done;
    }

    rc = dcpki_subject_parse(in->subject, &r->subject, err);
    if (rc != DCPKI_OK)
        goto done;
    const dcpki_subject *subj = r->subject;
    if (dcpki_subject_get(subj, "CN") == NULL) {
        rc = dcpki_err_set(err, DCPKI_E_INVALID_ARGUMENT, "the subject \"%s\" has no CN (it is CN=name, CN=name,E=mail, "
                           "or CN=mail)", in->subject);
        goto done;
    }

    /* the --san arguments */
    const char *g_email = NULL, *g_upn = NULL;
    for (size_t i = 0; i < in->n_sans; i++) {
        rc = dcpki_san_parse(in->sans[i], &given[i], err);
        if (rc != DCPKI_OK)
            goto done;
        const dcpki_san *s = &given[i];
        if ((s->type == DCPKI_SAN_EMAIL && g_email != NULL) || (s->type == DCPKI_SAN_UPN && g_upn != NULL)) {
            rc = dcpki_err_set(err, DCPKI_E_INVALID_ARGUMENT, "more than one %s SAN given", dcpki_san_type_label(s->type));
            goto done;
        }
        for (size_t j = 0; s->type == DCPKI_SAN_OTHERNAME && j < i; j++)
            if (given[j].type == DCPKI_SAN_OTHERNAME && strcmp(given[j].oid, s->oid) == 0) {
                rc = dcpki_err_set(err, DCPKI_E_INVALID_ARGUMENT, "more than one other-name SAN with OID %s given", s->oid);
                goto done;
            }
        if (s->type == DCPKI_SAN_EMAIL)
            g_email = s->value;
        else if (s->type == DCPKI_SAN_UPN)
            g_upn = s->value;
    }

    /* subject attributes against the policy */
    for (size_t i = 0; i < subj->n; i++) {
        const dcpki_rdn *d = &subj->rdns[i];
        const dcpki_policy_attr *pa = dcpki_policy_find_attr_dn(pol, d->type);
        if (pa == NULL) {
            rc = dcpki_err_set(err, DCPKI_E_POLICY_VIOLATION,
                               "subject attribute %s is not in the "
                               "attributes list of profile %s (allowed: %s)", d->type, prof,
                               dcpki_policy_allowed_attrs(pol, allowed, sizeof(allowed)));
            goto done;
        }
        if (pa->fixed_value != NULL && strcmp(pa->fixed_value, d->value) != 0) {
            rc = dcpki_err_set(err, DCPKI_E_POLICY_VIOLATION,
                               "subject attribute %s=\"%s\" differs from "
                               "the value \"%s\" that profile %s fixes; leave it out or use that value",
                               d->type, d->value, pa->fixed_value, prof);
            goto done;
        }
    }
    /* SAN types against the policy */
    for (size_t i = 0; i < in->n_sans; i++) {
        const dcpki_san *s = &given[i];
        if (dcpki_policy_find_san(pol, s->type, s->oid) == NULL) {
            rc = dcpki_err_set(err, DCPKI_E_POLICY_VIOLATION,
                               "%s SAN%s%s is not in the attributes list "
                               "of profile %s (allowed SANs: %s)", dcpki_san_type_label(s->type),
                               s->type == DCPKI_SAN_OTHERNAME ? " with OID " : "",
                               s->type == DCPKI_SAN_OTHERNAME ? s->oid : "", prof,
                               dcpki_policy_allowed_sans(pol, allowed, sizeof(allowed)));
            goto done;
        }
    }

    /* fallbacks, for the SAN types the profile has */
    const char *s_email = dcpki_subject_email(subj);
    const char *s_email_from = s_email == NULL ? NULL
                               : (dcpki_subject_get(subj, "E") == s_email ? "subject E" : "subject CN");
    for (size_t i = 0; i < pol->n_sans; i++) {
        const dcpki_policy_san *ps = &pol->sans[i];
        if (ps->type == DCPKI_SAN_EMAIL && r->email == NULL) {
            /* an rfc822Name is ASCII (IA5String): a non-ASCII UPN is no source */
            const char *v = g_email ? g_email : (g_upn && is_ascii(g_upn)) ? g_upn
                            : (s_email && is_ascii(s_email)) ? s_email : NULL;
            r->email_from = g_email ? "--san email" : (g_upn && is_ascii(g_upn)) ? "--san upn"
                            : s_email_from;
            if (v == NULL && ps->mandatory) {
                rc = dcpki_err_set(err, DCPKI_E_NO_EMAIL_SOURCE,
                                   "profile %s needs an e-mail SAN and the request has no source for "
                                   "it: no --san email, no --san upn, and the subject has no e-mail "
                                   "(E= or a CN that is an e-mail)", prof);
                goto done;
            }
            if (v != NULL && (r->email = strdup(v)) == NULL)
                goto oom;
        } else if (ps->type == DCPKI_SAN_UPN && r->upn == NULL) {
            const char *v = g_upn ? g_upn : g_email ? g_email : s_email;
            r->upn_from = g_upn ? "--san upn" : g_email ? "--san email" : s_email_from;
            if (v == NULL && ps->mandatory) {
                rc = dcpki_err_set(err, DCPKI_E_NO_EMAIL_SOURCE,
                                   "profile %s needs a UPN SAN and the request has no source for it: "
                                   "no --san upn, no --san email, and the subject has no e-mail (E= or "
                                   "a CN that is an e-mail)", prof);
                goto done;
            }
            if (v != NULL && (r->upn = strdup(v)) == NULL)
                goto oom;
        } else if (ps->type == DCPKI_SAN_OTHERNAME) {
            const dcpki_san *m = NULL;
            for (size_t j = 0; j < in->n_sans && m == NULL; j++)
                if (given[j].type == DCPKI_SAN_OTHERNAME &&
                    (ps->oid == NULL || strcmp(ps->oid, given[j].oid) == 0))
                    m = &given[j];
            if (m == NULL && ps->mandatory) {
                rc = dcpki_err_set(err, DCPKI_E_POLICY_VIOLATION,
                                   "profile %s needs an other-name SAN%s%s and the request has none; "
                                   "give --san othername:%s;HEX", prof, ps->oid ? " with OID " : "",
                                   ps->oid ? ps->oid : "", ps->oid ? ps->oid : "OID");
                goto done;
            }
        }
    }
    if (r->email == NULL)
        r->email_from = NULL;
    if (r->upn == NULL)
        r->upn_from = NULL;
    /* the other names requested: all given ones (each checked above) */
    if (in->n_sans) {
        r->othernames = calloc(in->n_sans, sizeof(*r->othernames));
        if (r->othernames == NULL)
            goto oom;
        for (size_t i = 0; i < in->n_sans; i++)
            if (given[i].type == DCPKI_SAN_OTHERNAME) {
                r->othernames[r->n_othernames++] = given[i];
                memset(&given[i], 0, sizeof(given[i]));
            }
    }

    /* mandatory subject attributes; first/last name derivation */
    const dcpki_policy_attr *pa_gn = dcpki_policy_find_attr_dn(pol, "GN");
    const dcpki_policy_attr *pa_sn = dcpki_policy_find_attr_dn(pol, "SN");
    const char *s_gn = dcpki_subject_get(subj, "GN"), *s_sn = dcpki_subject_get(subj, "SN");
    for (int k = 0; k < 2; k++) {
        const char *v = k == 0 ? s_gn : s_sn;
        int bad = v != NULL ? dcpki_name_field_bad_char(v) : 0;
        if (v != NULL && !bad && !has_letter(v))
            bad = (unsigned char)v[0];
        if (bad) {
            rc = dcpki_err_set(err, DCPKI_E_UPN_NAME, "the name \"%s\" has a character ('%c') that the "
                               "fields mail_firstName/mail_lastName of profile %s cannot take", v,
                               bad, prof);
            goto done;
        }
    }
    if (((pa_gn && !pa_gn->fixed_value && !s_gn) || (pa_sn && !pa_sn->fixed_value && !s_sn))) {
        const char *src = r->upn ? r->upn : g_upn ? g_upn : g_email ? g_email : s_email;
        const char *src_from = r->upn ? r->upn_from : g_upn ? "--san upn" : g_email ? "--san email"
                                                                           : s_email_from;
        int need = (pa_gn && pa_gn->mandatory && !pa_gn->fixed_value && !s_gn) ||
                   (pa_sn && pa_sn->mandatory && !pa_sn->fixed_value && !s_sn);
        if (src == NULL && need) {
            rc = dcpki_err_set(err, DCPKI_E_NO_EMAIL_SOURCE,
                               "profile %s asks for mail_firstName/mail_lastName and the request has "
                               "neither GN=/SN= in the subject nor a UPN or e-mail to take them from",
                               prof);
            goto done;
        }
        if (src != NULL) {
            rc = names_from_upn(pol, src, src_from, &first, &last, err);
            if (rc != DCPKI_OK)
                goto done;
        }
    }
    for (size_t i = 0; i < pol->n_attrs; i++) {
        const dcpki_policy_attr *pa = &pol->attrs[i];
        if (!pa->mandatory || pa->fixed_value != NULL)
            continue;
        if (pa->dn != NULL && dcpki_subject_get(subj, pa->dn) != NULL)
            continue;
        if (pa->dn != NULL && ((strcmp(pa->dn, "GN") == 0 && first) || (strcmp(pa->dn, "SN") == 0 && last)))
            continue;
        if (pa->dn == NULL && is_seat_pair(pa->name))
            continue; /* filled from [seat_id] below */
        if (pa->dn != NULL)
            rc = dcpki_err_set(err, DCPKI_E_POLICY_VIOLATION,
                               "profile %s needs subject attribute %s and "
                               "the subject \"%s\" has none", prof, pa->dn, in->subject);
        else
            rc = dcpki_err_set(err, DCPKI_E_POLICY_VIOLATION,
                               "profile %s needs the field \"%s\", which dcpki cannot fill from a "
                               "subject or SAN; give it a fixed value in the profile", prof,
                               pa->name ? pa->name : "?");
        goto done;
    }

    /* the nameValuePairs: seat_id first (as the public clients send it), subject
     * attributes in policy order, then SANs */
    const char *seat_name, *seat, *seat_from;
    rc = seat_value(pol, subj, in->subject, in->seat_source, &seat_name, &seat, &seat_from, err);
    if (rc == DCPKI_OK)
        rc = add_pair(r, froms, seat_name, seat, seat_from, err);
    if (rc != DCPKI_OK)
        goto done;
    for (size_t i = 0; i < pol->n_attrs; i++) {
        const dcpki_policy_attr *pa = &pol->attrs[i];
        if (pa->fixed_value != NULL || pa->dn == NULL)
            continue;
        const char *v = dcpki_subject_get(subj, pa->dn);
        const char *from = pa->dn;
        if (v == NULL && strcmp(pa->dn, "GN") == 0)
            v = first, from = "the first name taken from the UPN";
        if (v == NULL && strcmp(pa->dn, "SN") == 0)
            v = last, from = "the last name taken from the UPN";
        if (v == NULL)
            continue;
        static const char *const subj_from[] = {"subject CN", "subject E", "subject GN", "subject SN"};
        if (from == pa->dn)
            from = strcmp(pa->dn, "CN") == 0 ? subj_from[0] : strcmp(pa->dn, "E") == 0 ? subj_from[1]
                   : strcmp(pa->dn, "GN") == 0 ? subj_from[2] : strcmp(pa->dn, "SN") == 0 ? subj_from[3]
                   : "a subject attribute";
        const char *name = pa->name ? pa->name : dcpki_dn_default_pair(pa->dn);
        rc = add_pair(r, froms, name, v, from, err);
        if (rc != DCPKI_OK)
            goto done;
    }
    for (size_t i = 0; i < pol->n_sans; i++) {
        const dcpki_policy_san *ps = &pol->sans[i];
        if (ps->type == DCPKI_SAN_EMAIL && r->email) {
            rc = add_pair(r, froms, ps->name ? ps->name : "mail_email", r->email, "the e-mail SAN", err);
        } else if (ps->type == DCPKI_SAN_UPN && r->upn) {
            /* the profile names the pair; the caller's name and the guess only when it does not */
            const char *name = ps->name ? ps->name : in->upn_pair ? in->upn_pair : DCPKI_DEFAULT_UPN_PAIR;
            rc = add_pair(r, froms, name, r->upn, "the UPN SAN", err);
        } else if (ps->type == DCPKI_SAN_OTHERNAME) {
            for (size_t j = 0; j < r->n_othernames && rc == DCPKI_OK; j++) {
                const dcpki_san *o = &r->othernames[j];
                if (ps->oid != NULL && strcmp(ps->oid, o->oid) != 0)
                    continue;
                if (ps->oid == NULL && dcpki_policy_find_san(pol, DCPKI_SAN_OTHERNAME, o->oid) != ps)
                    continue;
                char *v = dcpki_b64_encode(o->der, o->der_len);
                if (v == NULL)
                    goto oom;
                const char *name = ps->name ? ps->name : in->othername_pair ? in->othername_pair
                                                                  : DCPKI_DEFAULT_OTHERNAME_PAIR;
                rc = add_pair(r, froms, name, v, "the other-name SAN", err);
                OPENSSL_free(v);
            }
        }
        if (rc != DCPKI_OK)
            goto done;
    }
    goto done;
oom:
    rc = dcpki_err_set(err, DCPKI_E_NOMEM, "building the request");
done:
    for (size_t i = 0; given != NULL && i < in->n_sans; i++)
        dcpki_san_clear(&given[i]);
    free(given);
    free((void *)froms);
    free(first);
    free(last);
    if (rc != DCPKI_OK) {
        dcpki_request_free(r);
        return rc;
    }
    *out = r;
    return DCPKI_OK;
}
