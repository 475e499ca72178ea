/* The store's handle (store.h): back-end choice, the store key, entries
 * to and from rows, the mutex around the back end's one connection. */
#define _GNU_SOURCE /* mkostemp */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>
#include <openssl/crypto.h>
#include <openssl/decoder.h>
#include <openssl/encoder.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/x509.h>

#include "../internal.h"
#include "dcpki/log.h"
#include "dcpki/pki_platform.h"
#include "dcpki/secret.h"
#include "store_internal.h"

/* ---- small helpers ---- */

int dcpki_store_id_ok(const char *id)
{
    if (id == NULL || strlen(id) != DCPKI_STORE_ID_LEN)
        return 0;
    for (const char *p = id; *p; p++)
        if (!isxdigit((unsigned char)*p))
            return 0;
    return 1;
}

int store_json_strings(json_object *a, char ***out, size_t *n)
{
    size_t k = json_object_array_length(a);
    *out = k ? calloc(k, sizeof(char *)) : NULL;
    if (k && *out == NULL)
        return 0;
    for (size_t i = 0; i < k; i++) {
        (*out)[i] = dcpki_strdup0(json_object_get_string(json_object_array_get_idx(a, i)));
        *n = i + 1;
        if ((*out)[i] == NULL)
            return 0;
    }
    return 1;
}

void store_row_clear(store_row *r)
{
    if (r == NULL)
        return;
    free(r->ca_host);
    free(r->profile);
    free(r->subject);
    free(r->sans);
    free(r->pending_id);
    free(r->serial);
    free(r->txid);
    free(r->csr);
    free(r->key_sealed);
    free(r->cert);
    free(r->chain);
    memset(r, 0, sizeof(*r));
}

static const struct {
    const char *name;
    dcpki_store_state state;
} states[] = {
    {"issued", DCPKI_STORE_ISSUED},   {"pending", DCPKI_STORE_PENDING},
    {"revoked", DCPKI_STORE_REVOKED}, {"sending", DCPKI_STORE_SENDING},
    {"revoking", DCPKI_STORE_REVOKING},
};

const char *store_state_name(dcpki_store_state s)
{
    for (size_t i = 0; i < sizeof states / sizeof states[0]; i++)
        if (states[i].state == s)
            return states[i].name;
    return "issued";
}

int store_state_of(const char *name, dcpki_store_state *out)
{
    for (size_t i = 0; name && i < sizeof states / sizeof states[0]; i++)
        if (strcmp(name, states[i].name) == 0) {
            *out = states[i].state;
            return 1;
        }
    return 0;
}

const char *store_state_static(const char *name)
{
    dcpki_store_state st;
    return store_state_of(name, &st) ? store_state_name(st) : "?";
}

static int der_of_cert(X509 *x, unsigned char **out, size_t *len)
{
    unsigned char *d = NULL;
    int n = i2d_X509(x, &d);
    if (n <= 0)
        return 0;
    *out = malloc((size_t)n);
    if (*out != NULL)
        memcpy(*out, d, (size_t)n);
    OPENSSL_free(d);
    *len = (size_t)n;
    return *out != NULL;
}

/* PKCS#8 PrivateKeyInfo DER of k into secret memory. OSSL_ENCODER's own
 * buffer is a memory BIO, cleared when freed (BUF_MEM_free). */
static dcpki_code pkcs8_of(EVP_PKEY *k, unsigned char **out, size_t *len, dcpki_err *err)
{
    *out = NULL;
    *len = 0;
    OSSL_ENCODER_CTX *ec = OSSL_ENCODER_CTX_new_for_pkey(k, OSSL_KEYMGMT_SELECT_ALL, "DER",
                                                         "PrivateKeyInfo", NULL);
    size_t n = 0;
    unsigned char *buf = NULL;
    int ok = ec != NULL && OSSL_ENCODER_CTX_get_num_encoders(ec) > 0 &&
             OSSL_ENCODER_to_data(ec, NULL, &n) == 1 && n > 0 &&
             (buf = dcpki_secret_alloc(n)) != NULL;
    if (ok) {
        unsigned char *p = buf;
        size_t left = n;
        ok = OSSL_ENCODER_to_data(ec, &p, &left) == 1 && left == 0;
    }
    OSSL_ENCODER_CTX_free(ec);
    ERR_clear_error();
    if (!ok) {
        dcpki_secret_release(buf);
        return dcpki_err_set(err, DCPKI_E_STORE,
                             "the entry's private key cannot be encoded as PKCS#8 (a key that "
                             "cannot be exported cannot be kept in the store)");
    }
    *out = buf;
    *len = n;
    return DCPKI_OK;
}

dcpki_code dcpki_store_row_of(dcpki_store *s, const dcpki_store_entry *e, store_row *r,
                              dcpki_err *err)
{
    memset(r, 0, sizeof(*r));
    if (!dcpki_store_id_ok(e->id))
        return dcpki_err_set(err, DCPKI_E_INVALID_ARGUMENT,
                             "a store entry's id must be %d hex digits", DCPKI_STORE_ID_LEN);
    memcpy(r->id, e->id, sizeof r->id);
    r->state = store_state_name(e->state);
    r->created = e->created;
    r->updated = (long long)time(NULL);
    json_object *a = json_object_new_array();
    int bad = a == NULL;
    for (size_t i = 0; !bad && i < e->n_sans; i++) {
        json_object *v = json_object_new_string(e->sans[i]);
        bad = v == NULL || json_object_array_add(a, v) != 0;
        if (bad)
            json_object_put(v);
    }
    if (!bad)
        bad = (r->sans = dcpki_strdup0(json_object_to_json_string_ext(a, JSON_C_TO_STRING_PLAIN))) ==
              NULL;
    json_object_put(a);
    r->ca_host = dcpki_strdup0(e->ca_host);
    r->profile = dcpki_strdup0(e->profile);
    r->subject = dcpki_strdup0(e->subject);
    r->pending_id = dcpki_strdup0(e->pending_id);
    r->txid = dcpki_strdup0(e->txid);
    bad = bad || (e->ca_host && !r->ca_host) || (e->profile && !r->profile) ||
          (e->subject && !r->subject) || (e->pending_id && !r->pending_id) ||
          (e->txid && !r->txid);
    char norm[DCPKI_SERIAL_BUF];
    if (!bad && e->serial != NULL && dcpki_serial_normalise(e->serial, norm, sizeof norm) != 0) {
        store_row_clear(r);
        return dcpki_err_set(err, DCPKI_E_INVALID_ARGUMENT,
                             "a store entry's serial number is not hex");
    }
    if (!bad && e->serial != NULL)
        bad = (r->serial = strdup(norm)) == NULL;
    if (!bad && e->csr != NULL) {
        bad = (r->csr = malloc(e->csr_len ? e->csr_len : 1)) == NULL;
        if (!bad) {
            memcpy(r->csr, e->csr, e->csr_len);
            r->csr_len = e->csr_len;
        }
    }
    if (!bad && e->cert != NULL)
        bad = !der_of_cert(e->cert, &r->cert, &r->cert_len);
    for (size_t i = 0; !bad && i < e->n_chain; i++) {
        unsigned char *d;
        size_t dl;
        if (!(bad = !der_of_cert(e->chain[i], &d, &dl))) {
            unsigned char *n = realloc(r->chain, r->chain_len + dl);
            if (!(bad = n == NULL)) {
                memcpy(n + r->chain_len, d, dl);
                r->chain = n;
                r->chain_len += dl;
            }
            free(d);
        }
    }
    if (bad) {
        store_row_clear(r);
        ERR_clear_error();
        return dcpki_err_set(err, DCPKI_E_NOMEM, "building the store row of entry %s", e->id);
    }
    if (e->key != NULL) {
        unsigned char *p8;
        size_t p8l;
        dcpki_code rc = pkcs8_of(e->key, &p8, &p8l, err);
        if (rc == DCPKI_OK) {
            rc = dcpki_store_seal(s->key, r->id, p8, p8l, &r->key_sealed, &r->key_sealed_len, err);
            dcpki_secret_release(p8);
        }
        if (rc != DCPKI_OK) {
            store_row_clear(r);
            return rc;
        }
    }
    return DCPKI_OK;
}

static X509 *cert_of_der(const unsigned char **p, size_t len)
{
    return d2i_X509(NULL, p, (long)len);
}

static dcpki_code entry_of_row(dcpki_store *s, const store_row *r, dcpki_store_entry *e,
                               dcpki_err *err)
{
    memset(e, 0, sizeof(*e));
    memcpy(e->id, r->id, sizeof e->id);
    if (!store_state_of(r->state, &e->state))
        return dcpki_err_set(err, DCPKI_E_STORE,
                             "entry %s in %s has an unknown state '%.20s' (written by a newer dcpki?)",
                             r->id, s->desc, r->state ? r->state : "");
    e->created = r->created;
    e->ca_host = dcpki_strdup0(r->ca_host);
    e->profile = dcpki_strdup0(r->profile);
    e->subject = dcpki_strdup0(r->subject);
    e->pending_id = dcpki_strdup0(r->pending_id);
    e->serial = dcpki_strdup0(r->serial);
    e->txid = dcpki_strdup0(r->txid);
    int bad = (r->ca_host && !e->ca_host) || (r->profile && !e->profile) ||
              (r->subject && !e->subject) || (r->pending_id && !e->pending_id) ||
              (r->serial && !e->serial) || (r->txid && !e->txid);
    int damaged = 0;
    if (!bad && r->csr != NULL) {
        bad = (e->csr = malloc(r->csr_len ? r->csr_len : 1)) == NULL;
        if (!bad) {
            memcpy(e->csr, r->csr, r->csr_len);
            e->csr_len = r->csr_len;
        }
    }
    if (!bad && r->sans != NULL) {
        json_object *a = json_tokener_parse(r->sans);
        if (a == NULL || !json_object_is_type(a, json_type_array)) {
            damaged = 1;
        } else {
            bad = !store_json_strings(a, &e->sans, &e->n_sans);
        }
        json_object_put(a);
    }
    if (!bad && !damaged && r->cert != NULL) {
        const unsigned char *p = r->cert;
        damaged = (e->cert = cert_of_der(&p, r->cert_len)) == NULL || p != r->cert + r->cert_len;
    }
    if (!bad && !damaged && r->chain != NULL) {
        const unsigned char *p = r->chain, *end = r->chain + r->chain_len;
        while (!bad && !damaged && p < end) {
            X509 **n = realloc(e->chain, (e->n_chain + 1) * sizeof(X509 *));
            if ((bad = n == NULL))
                break;
            e->chain = n;
            damaged = (e->chain[e->n_chain] = cert_of_der(&p, (size_t)(end - p))) == NULL;
            if (!damaged)
                e->n_chain++;
        }
    }
    ERR_clear_error();
    if (bad || damaged) {
        dcpki_store_entry_clear(e);
        if (bad)
            return dcpki_err_set(err, DCPKI_E_NOMEM, "reading entry %s of %s", r->id, s->desc);
        return dcpki_err_set(err, DCPKI_E_STORE,
                             "entry %s in %s is damaged (its SANs or certificates do not parse); "
                             "remove it to request a new certificate", r->id, s->desc);
    }
    if (r->key_sealed != NULL) {
        unsigned char *p8;
        size_t p8l;
        dcpki_code rc = dcpki_store_open_sealed(s->key, r->id, r->key_sealed, r->key_sealed_len,
                                                &p8, &p8l, s->desc, err);
        if (rc != DCPKI_OK) {
            dcpki_store_entry_clear(e);
            return rc;
        }
        const unsigned char *p = p8;
        e->key = d2i_AutoPrivateKey(NULL, &p, (long)p8l);
        dcpki_secret_release(p8);
        ERR_clear_error();
        if (e->key == NULL) {
            dcpki_store_entry_clear(e);
            return dcpki_err_set(err, DCPKI_E_STORE,
                                 "the private key of entry %s in %s opens but is not a PKCS#8 key; "
                                 "remove the entry to request a new certificate", r->id, s->desc);
        }
    }
    return DCPKI_OK;
}

/* ---- the store key ---- */

static dcpki_code read_key_file(const char *path, unsigned char **out, dcpki_err *err)
{
    char eb[128];
    struct stat st;
    *out = NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0)
        return dcpki_err_set(err, DCPKI_E_STORE_KEY, "cannot read the store key file %s: %s", path,
                             dcpki_strerror(errno, eb, sizeof eb));
    dcpki_code rc = DCPKI_OK;
    /* checked on the file opened, not on its name */
    if (fstat(fd, &st) != 0)
        rc = dcpki_err_set(err, DCPKI_E_STORE_KEY, "cannot read the store key file %s: %s", path,
                           dcpki_strerror(errno, eb, sizeof eb));
    else if (!S_ISREG(st.st_mode))
        rc = dcpki_err_set(err, DCPKI_E_STORE_KEY, "the store key file %s is not a regular file",
                           path);
    else if (st.st_mode & 077)
        rc = dcpki_err_set(err, DCPKI_E_STORE_KEY,
                           "the store key file %s has mode %04o: other users may read or replace it; "
                           "run chmod 600 %s", path, (unsigned)(st.st_mode & 07777), path);
    else if (st.st_size != STORE_KEY_LEN)
        rc = dcpki_err_set(err, DCPKI_E_STORE_KEY,
                           "the store key file %s holds %lld bytes, not %d: give the store's own key "
                           "file (a new one is made with: head -c %d /dev/urandom > FILE; chmod 600 "
                           "FILE, before the store is first used)", path, (long long)st.st_size,
                           STORE_KEY_LEN, STORE_KEY_LEN);
    unsigned char *k = rc == DCPKI_OK ? dcpki_secret_alloc(STORE_KEY_LEN) : NULL;
    if (rc == DCPKI_OK && k == NULL)
        rc = dcpki_err_set(err, DCPKI_E_NOMEM, "reading the store key file %s", path);
    size_t got = 0;
    while (rc == DCPKI_OK && got < STORE_KEY_LEN) {
        ssize_t r = read(fd, k + got, STORE_KEY_LEN - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            rc = dcpki_err_set(err, DCPKI_E_STORE_KEY, "cannot read the store key file %s: %s", path,
                               r < 0 ? dcpki_strerror(errno, eb, sizeof eb) : "it is shorter than 32 bytes");
        else
            got += (size_t)r;
    }
    close(fd);
    if (rc != DCPKI_OK) {
        dcpki_secret_release(k);
        return rc;
    }
    *out = k;
    return DCPKI_OK;
}

/* DIR/store.key made whole or not at all: written to a temporary file, then
 * link(2)ed to its name, which fails when another process made it first (the
 * winner's file is then read; it is complete, never half-written). */
static dcpki_code make_key_file(const char *dir, const char *path, unsigned char **out,
                                dcpki_err *err)
{
    char tmp[4200], eb[128];
    *out = NULL;
    snprintf(tmp, sizeof tmp, "%s/.store.key.XXXXXX", dir);
    unsigned char *k = dcpki_secret_alloc(STORE_KEY_LEN);
    if (k == NULL)
        return dcpki_err_set(err, DCPKI_E_NOMEM, "making the store key");
    if (RAND_priv_bytes(k, STORE_KEY_LEN) != 1) {
        dcpki_secret_release(k);
        ERR_clear_error();
        return dcpki_err_set(err, DCPKI_E_INTERNAL, "the random generator failed making the store key");
    }
    int fd = mkostemp(tmp, O_CLOEXEC);
    if (fd < 0) {
        dcpki_secret_release(k);
        return dcpki_err_set(err, DCPKI_E_STORE, "cannot write the store key in %s: %s", dir,
                             dcpki_strerror(errno, eb, sizeof eb));
    }
    int ok = fchmod(fd, 0600) == 0 && dcpki_write_all(fd, k, STORE_KEY_LEN) == 0 && fsync(fd) == 0;
    int saved = errno;
    if (close(fd) != 0 && ok) {
        ok = 0;
        saved = errno;
    }
    int lost = 0;
    if (ok && link(tmp, path) != 0) {
        saved = errno;
        lost = saved == EEXIST;
        ok = 0;
    }
    unlink(tmp);
    if (!ok) {
        dcpki_secret_release(k);
        if (lost)
            return read_key_file(path, out, err);
        return dcpki_err_set(err, DCPKI_E_STORE, "cannot write the store key %s: %s", path,
                             dcpki_strerror(saved, eb, sizeof eb));
    }
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        (void)fsync(dfd);
        close(dfd);
    }
    /* stderr stays for errors: dcpki.conf(5) says to back the key file up */
    DCPKI_DEBUG("store: made the store key %s", path);
    *out = k;
    return DCPKI_OK;
}

static dcpki_code mkdirs(const char *dir, dcpki_err *err)
{
    char p[4096], eb[128];
    if (strlen(dir) >= sizeof p)
        return dcpki_err_set(err, DCPKI_E_STORE, "the store directory's path is too long");
    strcpy(p, dir);
    for (char *c = p + 1; *c; c++) {
        if (*c != '/')
            continue;
        *c = '\0';
        if (mkdir(p, 0700) != 0 && errno != EEXIST)
            return dcpki_err_set(err, DCPKI_E_STORE, "cannot create %s: %s", p,
                                 dcpki_strerror(errno, eb, sizeof eb));
        *c = '/';
    }
    if (mkdir(p, 0700) != 0 && errno != EEXIST)
        return dcpki_err_set(err, DCPKI_E_STORE, "cannot create the store directory %s: %s", p,
                             dcpki_strerror(errno, eb, sizeof eb));
    return DCPKI_OK;
}

/* The key, its check against the one the store remembers (stored when the
 * store has none), the schema version. */
static dcpki_code check_key(dcpki_store *s, const char *key_file, dcpki_err *err)
{
    char *schema = NULL, *stored = NULL, kcv[65];
    dcpki_code rc = s->ops->meta_get(s, "schema", &schema, err);
    if (rc != DCPKI_OK)
        return rc;
    if (schema == NULL || strcmp(schema, STORE_SCHEMA) != 0) {
        rc = dcpki_err_set(err, DCPKI_E_STORE,
                           "%s has schema version %.20s, this dcpki knows version %s: use the dcpki "
                           "that made it, or a newer one", s->desc, schema ? schema : "(none)",
                           STORE_SCHEMA);
        free(schema);
        return rc;
    }
    free(schema);
    if ((rc = s->ops->meta_get(s, "key_check", &stored, err)) != DCPKI_OK)
        return rc;
    char path[4200];
    if (key_file != NULL) {
        rc = read_key_file(key_file, &s->key, err);
    } else {
        snprintf(path, sizeof path, "%s/store.key", s->dir);
        key_file = path;
        if (access(path, F_OK) == 0 || errno != ENOENT)
            rc = read_key_file(path, &s->key, err);
        else if (stored != NULL)
            rc = dcpki_err_set(err, DCPKI_E_STORE_KEY,
                               "the store key %s is missing, and %s holds keys sealed with it: "
                               "restore the file from a backup (or give [store] key_file)", path,
                               s->desc);
        else
            rc = make_key_file(s->dir, path, &s->key, err);
    }
    if (rc == DCPKI_OK)
        rc = dcpki_store_key_check(s->key, kcv, err);
    if (rc == DCPKI_OK && stored == NULL) {
        /* first use; when two processes get here at once the first insert wins and
         * the other compares with it below */
        if ((rc = s->ops->meta_add(s, "key_check", kcv, err)) == DCPKI_OK)
            rc = s->ops->meta_get(s, "key_check", &stored, err);
        if (rc == DCPKI_OK && stored == NULL)
            rc = dcpki_err_set(err, DCPKI_E_STORE, "%s did not keep the store key's check value",
                               s->desc);
    }
    if (rc == DCPKI_OK && CRYPTO_memcmp(stored, kcv, 64) != 0)
        rc = dcpki_err_set(err, DCPKI_E_STORE_KEY,
                           "the store key %s is not the key of %s: give the key file this store "
                           "was made with", key_file, s->desc);
    free(stored);
    return rc;
}

dcpki_code dcpki_store_open(const dcpki_store_params *p, dcpki_store **out, dcpki_err *err)
{
    *out = NULL;
    if (p->url != NULL && !dcpki_is_pg_url(p->url))
        return dcpki_err_set(err, DCPKI_E_CONFIG_BAD_VALUE,
                             "[store] url must start with postgresql:// or postgres://");
    if (p->url != NULL && p->key_file == NULL)
        return dcpki_err_set(err, DCPKI_E_CONFIG_INCOMPLETE,
                             "[store] key_file must be set with a PostgreSQL store: every RA host "
                             "sharing it needs the same key file");
    dcpki_store *s = calloc(1, sizeof(*s));
    if (s == NULL)
        return dcpki_err_set(err, DCPKI_E_NOMEM, "opening the store");
    if (pthread_mutex_init(&s->mu, NULL) != 0) {
        free(s);
        return dcpki_err_set(err, DCPKI_E_NOMEM, "opening the store");
    }
    dcpki_code rc = DCPKI_OK;
    if (p->url != NULL) {
        s->ops = &dcpki_store_pg_ops;
        if ((s->url = strdup(p->url)) == NULL)
            rc = dcpki_err_set(err, DCPKI_E_NOMEM, "opening the store");
    } else {
        char def[4096];
        const char *dir = p->dir;
        if (dir == NULL && (rc = dcpki_store_default_dir(def, sizeof def, err)) == DCPKI_OK)
            dir = def;
        s->ops = &dcpki_store_sqlite_ops;
        if (rc == DCPKI_OK && ((s->dir = strdup(dir)) == NULL ||
                               (s->path = dcpki_strfmt("%s/store.sqlite", dir)) == NULL))
            rc = dcpki_err_set(err, DCPKI_E_NOMEM, "opening the store");
        if (rc == DCPKI_OK)
            rc = mkdirs(dir, err);
    }
    if (rc == DCPKI_OK)
        rc = s->ops->open(s, err);
    if (rc == DCPKI_OK)
        rc = check_key(s, p->key_file, err);
    if (rc == DCPKI_OK && s->ops == &dcpki_store_sqlite_ops)
        rc = dcpki_store_migrate_files(s, err);
    if (rc != DCPKI_OK) {
        dcpki_store_close(s);
        return rc;
    }
    DCPKI_DEBUG("store: opened %s", s->desc);
    *out = s;
    return DCPKI_OK;
}

void dcpki_store_close(dcpki_store *s)
{
    if (s == NULL)
        return;
    if (s->ops != NULL && s->db != NULL)
        s->ops->close(s);
    dcpki_secret_release(s->key);
    free(s->desc);
    free(s->dir);
    free(s->path);
    free(s->url);
    pthread_mutex_destroy(&s->mu);
    free(s);
}

const char *dcpki_store_describe(const dcpki_store *s)
{
    return s && s->desc ? s->desc : "the store of issued certificates";
}

dcpki_code dcpki_store_lock_id(dcpki_store *s, const char *id, long timeout_ms,
                               dcpki_store_lock **out, dcpki_err *err)
{
    *out = NULL;
    if (!dcpki_store_id_ok(id))
        return dcpki_err_set(err, DCPKI_E_INVALID_ARGUMENT,
                             "a store entry's id must be %d hex digits", DCPKI_STORE_ID_LEN);
    dcpki_store_lock *l = calloc(1, sizeof(*l));
    if (l == NULL)
        return dcpki_err_set(err, DCPKI_E_NOMEM, "locking a store entry");
    l->s = s;
    l->fd = -1;
    /* no s->mu here: a lock may wait long, and the store stays usable meanwhile */
    dcpki_code rc = s->ops->lock(s, id, timeout_ms, l, err);
    if (rc != DCPKI_OK) {
        free(l);
        return rc;
    }
    *out = l;
    return DCPKI_OK;
}

void dcpki_store_unlock(dcpki_store_lock *l)
{
    if (l == NULL)
        return;
    l->s->ops->unlock(l);
    free(l);
}

/* the entry of the row the back end finds by id or pending_id */
static dcpki_code get_entry(dcpki_store *s, store_by by, const char *key, dcpki_store_entry *out,
                            int *found, dcpki_err *err)
{
    store_row r;
    int f = 0;
    pthread_mutex_lock(&s->mu);
    dcpki_code rc = s->ops->get(s, by, key, &r, &f, err);
    pthread_mutex_unlock(&s->mu);
    if (rc == DCPKI_OK && f) {
        rc = entry_of_row(s, &r, out, err);
        *found = rc == DCPKI_OK;
    }
    if (f)
        store_row_clear(&r);
    return rc;
}

dcpki_code dcpki_store_get(dcpki_store *s, const char *id, dcpki_store_entry *out, int *found,
                           dcpki_err *err)
{
    memset(out, 0, sizeof(*out));
    *found = 0;
    if (!dcpki_store_id_ok(id))
        return DCPKI_OK;
    return get_entry(s, STORE_BY_ID, id, out, found, err);
}

dcpki_code dcpki_store_find_pending(dcpki_store *s, const char *pending_id,
                                    dcpki_store_entry *out, int *found, dcpki_err *err)
{
    memset(out, 0, sizeof(*out));
    *found = 0;
    return get_entry(s, STORE_BY_PENDING, pending_id, out, found, err);
}

dcpki_code dcpki_store_put(dcpki_store *s, const dcpki_store_entry *e, dcpki_err *err)
{
    store_row r;
    dcpki_code rc = dcpki_store_row_of(s, e, &r, err);
    if (rc != DCPKI_OK)
        return rc;
    pthread_mutex_lock(&s->mu);
    rc = s->ops->put(s, &r, 1, err);
    pthread_mutex_unlock(&s->mu);
    store_row_clear(&r);
    return rc;
}

dcpki_code dcpki_store_remove(dcpki_store *s, const char *id, dcpki_err *err)
{
    if (!dcpki_store_id_ok(id))
        return DCPKI_OK;
    pthread_mutex_lock(&s->mu);
    dcpki_code rc = s->ops->remove(s, id, err);
    pthread_mutex_unlock(&s->mu);
    return rc;
}

dcpki_code dcpki_store_find_serial(dcpki_store *s, const char *serial_hex, char ***ids,
                                   size_t *n, dcpki_err *err)
{
    *ids = NULL;
    *n = 0;
    char norm[DCPKI_SERIAL_BUF];
    if (dcpki_serial_normalise(serial_hex, norm, sizeof norm) != 0)
        return dcpki_err_set(err, DCPKI_E_INVALID_ARGUMENT,
                             "the serial number '%.80s' is not hex", serial_hex);
    pthread_mutex_lock(&s->mu);
    dcpki_code rc = s->ops->find_serial(s, norm, ids, n, err);
    pthread_mutex_unlock(&s->mu);
    return rc;
}

void dcpki_store_ids_free(char **ids, size_t n)
{
    for (size_t i = 0; ids && i < n; i++)
        free(ids[i]);
    free(ids);
}
