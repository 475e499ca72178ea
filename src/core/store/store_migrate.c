/* Import of the file store that came before the database (issued_store.h
 * before issue 9): one JSON file DIR/<id>.json per entry, the private key in
 * it as PKCS#8 PEM in clear. On each SQLite open the files found are read,
 * inserted in one transaction, and removed once it is committed: a key
 * stays on disk in clear no longer than that. Files that do not parse are
 * left in place and named in the log. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include <json-c/json.h>
#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "../internal.h"
#include "dcpki/log.h"
#include "store_internal.h"

#define ENTRY_MAX (1024 * 1024)

/* json-c keeps a string member in a buffer of its own that json_object_put
 * frees without wiping: the private key's PEM is wiped there first. */
static void wipe_member(json_object *o, const char *key)
{
    json_object *v;
    if (o && json_object_object_get_ex(o, key, &v) && json_object_is_type(v, json_type_string))
        OPENSSL_cleanse((void *)json_object_get_string(v), (size_t)json_object_get_string_len(v));
}

/* json_tokener_parse, with the tokener's scratch buffer (which holds every
 * string it decoded, the private key among them) wiped before it is freed. */
static json_object *parse_wiped(const char *txt)
{
    json_tokener *tok = json_tokener_new();
    if (!tok)
        return NULL;
    json_object *o = json_tokener_parse_ex(tok, txt, -1);
    if (json_tokener_get_error(tok) != json_tokener_success) {
        json_object_put(o);
        o = NULL;
    }
    if (tok->pb && tok->pb->buf)
        OPENSSL_cleanse(tok->pb->buf, (size_t)tok->pb->size);
    json_tokener_free(tok);
    return o;
}

static X509 *cert_from_pem(const char *pem)
{
    BIO *b = BIO_new_mem_buf(pem, -1);
    X509 *x = b ? PEM_read_bio_X509(b, NULL, NULL, NULL) : NULL;
    BIO_free(b);
    return x;
}

static dcpki_code parse_entry(const char *path, const char *txt, dcpki_store_entry *e,
                              dcpki_err *err)
{
    memset(e, 0, sizeof(*e));
    json_object *o = parse_wiped(txt);
    const char *id = o ? dcpki_json_str(o, "id") : NULL, *st = o ? dcpki_json_str(o, "state") : NULL;
    if (o == NULL || id == NULL || strlen(id) != DCPKI_STORE_ID_LEN || st == NULL) {
        wipe_member(o, "private_key");
        json_object_put(o);
        return dcpki_err_set(err, DCPKI_E_IO, "store entry %s is damaged (not a dcpki entry)",
                             path);
    }
    memcpy(e->id, id, DCPKI_STORE_ID_LEN + 1);
    if (!store_state_of(st, &e->state))
        e->state = DCPKI_STORE_ISSUED;
    e->txid = dcpki_strdup0(dcpki_json_str(o, "txid"));
    e->ca_host = dcpki_strdup0(dcpki_json_str(o, "ca_host"));
    e->profile = dcpki_strdup0(dcpki_json_str(o, "profile"));
    e->subject = dcpki_strdup0(dcpki_json_str(o, "subject"));
    e->pending_id = dcpki_strdup0(dcpki_json_str(o, "pending_id"));
    e->serial = dcpki_strdup0(dcpki_json_str(o, "serial"));
    json_object *v;
    if (json_object_object_get_ex(o, "created", &v))
        e->created = json_object_get_int64(v);
    int bad = 0;
    if (json_object_object_get_ex(o, "sans", &v) && json_object_is_type(v, json_type_array))
        bad = !store_json_strings(v, &e->sans, &e->n_sans);
    const char *c = dcpki_json_str(o, "certificate");
    if (!bad && c != NULL)
        bad = (e->cert = cert_from_pem(c)) == NULL;
    if (!bad && json_object_object_get_ex(o, "chain", &v) && json_object_is_type(v, json_type_array)) {
        size_t n = json_object_array_length(v);
        e->chain = n ? calloc(n, sizeof(X509 *)) : NULL;
        bad = n && !e->chain;
        for (size_t i = 0; !bad && i < n; i++) {
            e->chain[i] = cert_from_pem(json_object_get_string(json_object_array_get_idx(v, i)));
            bad = e->chain[i] == NULL;
            e->n_chain = i + 1;
        }
    }
    const char *k = dcpki_json_str(o, "private_key");
    if (!bad && k != NULL) {
        BIO *b = BIO_new_mem_buf(k, -1);
        e->key = b ? PEM_read_bio_PrivateKey(b, NULL, NULL, NULL) : NULL;
        BIO_free(b);
        bad = e->key == NULL;
    }
    const char *csr = dcpki_json_str(o, "csr");
    if (!bad && csr != NULL) {
        unsigned char *d = NULL;
        size_t dl = 0;
        if (dcpki_b64_decode(csr, &d, &dl) != 0 || (e->csr = malloc(dl ? dl : 1)) == NULL) {
            bad = 1;
        } else {
            memcpy(e->csr, d, dl);
            e->csr_len = dl;
        }
        OPENSSL_free(d);
    }
    bad = bad || ((e->state == DCPKI_STORE_ISSUED || e->state == DCPKI_STORE_REVOKED) && e->cert == NULL) ||
          (e->state == DCPKI_STORE_PENDING && e->pending_id == NULL) ||
          (e->state == DCPKI_STORE_SENDING && (e->txid == NULL || e->csr == NULL));
    wipe_member(o, "private_key");
    json_object_put(o);
    ERR_clear_error();
    if (bad) {
        dcpki_store_entry_clear(e);
        return dcpki_err_set(err, DCPKI_E_IO, "store entry %s is damaged (remove it to request "
                             "a new certificate)", path);
    }
    return DCPKI_OK;
}

static dcpki_code load_path(const char *path, dcpki_store_entry *out, int *found, dcpki_err *err)
{
    unsigned char *data = NULL;
    size_t len = 0;
    *found = 0;
    if (dcpki_read_file(path, ENTRY_MAX, &data, &len) != 0) {
        char eb[128];
        if (errno == ENOENT)
            return DCPKI_OK;
        return dcpki_err_set(err, DCPKI_E_IO, "cannot read store entry %s: %s", path,
                             dcpki_strerror(errno, eb, sizeof eb));
    }
    dcpki_code rc = parse_entry(path, (const char *)data, out, err);
    OPENSSL_cleanse(data, len);
    free(data);
    if (rc == DCPKI_OK)
        *found = 1;
    return rc;
}

static int is_entry_name(const char *n)
{
    size_t l = strlen(n);
    if (l != DCPKI_STORE_ID_LEN + 5 || strcmp(n + DCPKI_STORE_ID_LEN, ".json") != 0)
        return 0;
    char id[DCPKI_STORE_ID_LEN + 1];
    memcpy(id, n, DCPKI_STORE_ID_LEN);
    id[DCPKI_STORE_ID_LEN] = '\0';
    return dcpki_store_id_ok(id);
}

dcpki_code dcpki_store_migrate_files(dcpki_store *s, dcpki_err *err)
{
    char eb[128];
    DIR *d = opendir(s->dir);
    if (d == NULL)
        return dcpki_err_set(err, DCPKI_E_STORE, "cannot read the store directory %s: %s", s->dir,
                             dcpki_strerror(errno, eb, sizeof eb));
    /* the directory's flock serialises two processes that open the store
     * at once: the second finds the files gone */
    int locked = flock(dirfd(d), LOCK_EX) == 0;
    store_row *rows = NULL;
    char **names = NULL;
    size_t n = 0, cap = 0;
    dcpki_code rc = DCPKI_OK;
    struct dirent *de;
    while (rc == DCPKI_OK && (de = readdir(d)) != NULL) {
        if (!is_entry_name(de->d_name))
            continue;
        char path[4200];
        snprintf(path, sizeof path, "%s/%s", s->dir, de->d_name);
        dcpki_store_entry e;
        int found = 0;
        dcpki_err perr;
        dcpki_err_clear(&perr);
        if (load_path(path, &e, &found, &perr) != DCPKI_OK) {
            dcpki_log(0, "store: %s was not imported into %s and stays in place: %s", path,
                      s->desc, perr.detail);
            continue;
        }
        if (!found)
            continue;
        if (n == cap) {
            size_t nc = cap ? 2 * cap : 16;
            store_row *nr = realloc(rows, nc * sizeof *rows);
            if (nr != NULL)
                rows = nr;
            char **nn = realloc(names, nc * sizeof *names);
            if (nn != NULL)
                names = nn;
            if (nr == NULL || nn == NULL) {
                dcpki_store_entry_clear(&e);
                rc = dcpki_err_set(err, DCPKI_E_NOMEM, "importing the old store %s", s->dir);
                break;
            }
            cap = nc;
        }
        rc = dcpki_store_row_of(s, &e, &rows[n], err);
        dcpki_store_entry_clear(&e);
        if (rc != DCPKI_OK)
            break;
        if ((names[n] = strdup(path)) == NULL) {
            store_row_clear(&rows[n]);
            rc = dcpki_err_set(err, DCPKI_E_NOMEM, "importing the old store %s", s->dir);
            break;
        }
        n++;
    }
    if (rc == DCPKI_OK && n > 0) {
        pthread_mutex_lock(&s->mu);
        rc = s->ops->put(s, rows, n, err);
        pthread_mutex_unlock(&s->mu);
    }
    if (rc == DCPKI_OK && n > 0) {
        size_t gone = 0;
        for (size_t i = 0; i < n; i++) {
            if (unlink(names[i]) == 0 || errno == ENOENT) {
                gone++;
                DCPKI_DEBUG("store: imported %s into %s as entry %s (%s)", names[i], s->desc,
                            rows[i].id, rows[i].state);
            } else {
                dcpki_log(0, "store: %s was imported into %s but cannot be removed: %s; remove "
                             "it (it holds a private key in clear)", names[i], s->desc,
                          dcpki_strerror(errno, eb, sizeof eb));
            }
        }
        (void)fsync(dirfd(d));
        /* DCPKI_DEBUG: stderr stays for errors (a caller may expect its error alone) */
        DCPKI_DEBUG("store: imported %zu entr%s of the old file store %s into %s, private keys "
                     "sealed; removed %zu JSON file%s", n, n == 1 ? "y" : "ies", s->dir, s->desc,
                  gone, gone == 1 ? "" : "s");
    }
    for (size_t i = 0; i < n; i++) {
        store_row_clear(&rows[i]);
        free(names[i]);
    }
    free(rows);
    free(names);
    if (locked)
        (void)flock(dirfd(d), LOCK_UN);
    closedir(d);
    return rc;
}
