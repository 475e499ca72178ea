/* Entries of the store of issued certificates: ids, normalised names (see
 * issued_store.h; the store is src/core/store/). */
#include "dcpki/issued_store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "dcpki/request.h"
#include "internal.h"

dcpki_code dcpki_store_default_dir(char *buf, size_t n, dcpki_err *err)
{
    int r;
    const char *xdg = getenv("XDG_STATE_HOME");
    const char *home = getenv("HOME");
    if (xdg != NULL && xdg[0] == '/')
        r = snprintf(buf, n, "%s/dcpki/issued", xdg);
    else if (geteuid() == 0)
        r = snprintf(buf, n, "/var/lib/dcpki/issued");
    else if (home != NULL && home[0] == '/')
        r = snprintf(buf, n, "%s/.local/state/dcpki/issued", home);
    else
        return dcpki_err_set(err, DCPKI_E_IO,
                             "no place for the store of issued certificates: $HOME is not set "
                             "(give --store DIR)");
    if (r < 0 || (size_t)r >= n)
        return dcpki_err_set(err, DCPKI_E_IO, "the store directory's path is too long");
    return DCPKI_OK;
}

dcpki_code dcpki_store_norm_subject(const char *subject, char **out, dcpki_err *err)
{
    *out = NULL;
    dcpki_subject *s = NULL;
    dcpki_code rc = dcpki_subject_parse(subject, &s, err);
    if (rc != DCPKI_OK)
        return rc;
    size_t len = 1;
    for (size_t i = 0; i < s->n; i++)
        len += strlen(s->rdns[i].type) + 2 * strlen(s->rdns[i].value) + 2;
    char *b = malloc(len);
    if (b == NULL) {
        dcpki_subject_free(s);
        return dcpki_err_set(err, DCPKI_E_NOMEM, "normalising the subject");
    }
    size_t k = 0;
    for (size_t i = 0; i < s->n; i++) {
        if (i > 0)
            b[k++] = ',';
        size_t tl = strlen(s->rdns[i].type);
        memcpy(b + k, s->rdns[i].type, tl);
        k += tl;
        b[k++] = '=';
        for (const char *p = s->rdns[i].value; *p; p++) {
            if (*p == ',' || *p == '\\')
                b[k++] = '\\';
            b[k++] = *p;
        }
    }
    b[k] = '\0';
    dcpki_subject_free(s);
    *out = b;
    return DCPKI_OK;
}

dcpki_code dcpki_store_norm_san(const char *san, char **out, dcpki_err *err)
{
    *out = NULL;
    dcpki_san s;
    dcpki_code rc = dcpki_san_parse(san, &s, err);
    if (rc != DCPKI_OK)
        return rc;
    if (s.type == DCPKI_SAN_OTHERNAME) {
        size_t ol = strlen(s.oid);
        char *b = malloc(ol + 12 + 2 * s.der_len + 1);
        if (b != NULL) {
            int k = sprintf(b, "othername:%s;", s.oid);
            for (size_t i = 0; i < s.der_len; i++)
                k += sprintf(b + k, "%02X", s.der[i]);
        }
        *out = b;
    } else {
        *out = dcpki_strfmt("%s:%s", s.type == DCPKI_SAN_EMAIL ? "email" : "upn", s.value);
    }
    dcpki_san_clear(&s);
    if (*out == NULL)
        return dcpki_err_set(err, DCPKI_E_NOMEM, "normalising a SAN");
    return DCPKI_OK;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

void dcpki_store_entry_clear(dcpki_store_entry *e)
{
    if (e == NULL)
        return;
    free(e->ca_host);
    free(e->profile);
    free(e->subject);
    for (size_t i = 0; i < e->n_sans; i++)
        free(e->sans[i]);
    free(e->sans);
    free(e->pending_id);
    free(e->serial);
    free(e->txid);
    free(e->csr);
    EVP_PKEY_free(e->key);
    X509_free(e->cert);
    for (size_t i = 0; i < e->n_chain; i++)
        X509_free(e->chain[i]);
    free(e->chain);
    memset(e, 0, sizeof(*e));
}

dcpki_code dcpki_store_entry_init(dcpki_store_entry *e, const char *ca_host, const char *profile,
                                  const char *key_origin, const char *subject,
                                  const char *const *sans, size_t n_sans, dcpki_err *err)
{
    memset(e, 0, sizeof(*e));
    e->ca_host = dcpki_strdup0(ca_host);
    e->profile = dcpki_strdup0(profile);
    e->subject = dcpki_strdup0(subject);
    e->sans = n_sans ? calloc(n_sans, sizeof(char *)) : NULL;
    if (e->ca_host == NULL || e->profile == NULL || e->subject == NULL || (n_sans && !e->sans)) {
        dcpki_store_entry_clear(e);
        return dcpki_err_set(err, DCPKI_E_NOMEM, "building a store entry");
    }
    for (size_t i = 0; i < n_sans; i++) {
        if ((e->sans[i] = strdup(sans[i])) == NULL) {
            e->n_sans = i;
            dcpki_store_entry_clear(e);
            return dcpki_err_set(err, DCPKI_E_NOMEM, "building a store entry");
        }
    }
    e->n_sans = n_sans;
    if (n_sans > 1)
        qsort(e->sans, n_sans, sizeof(char *), cmp_str);
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    unsigned char h[32];
    unsigned int hl = 0;
    const char *parts[] = {"dcpki-issued-v1", ca_host, profile, key_origin, subject};
    int ok = md != NULL && EVP_DigestInit_ex(md, EVP_sha256(), NULL) == 1;
    for (size_t i = 0; ok && i < sizeof(parts) / sizeof(parts[0]); i++)
        ok = EVP_DigestUpdate(md, parts[i], strlen(parts[i]) + 1) == 1; /* NUL separates */
    for (size_t i = 0; ok && i < n_sans; i++)
        ok = EVP_DigestUpdate(md, e->sans[i], strlen(e->sans[i]) + 1) == 1;
    ok = ok && EVP_DigestFinal_ex(md, h, &hl) == 1 && hl == 32;
    EVP_MD_CTX_free(md);
    if (!ok) {
        dcpki_store_entry_clear(e);
        return dcpki_err_set(err, DCPKI_E_INTERNAL, "hashing a store entry's name");
    }
    dcpki_hex_lower(h, 32, e->id);
    return DCPKI_OK;
}
