/* Local store of issued certificates (see issued_store.h). */
#include "dcpki/issued_store.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "dcpki/request.h"
#include "internal.h"

#define ENTRY_MAX (1024 * 1024)

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
    for (size_t i = 0; i < 32; i++)
        sprintf(e->id + 2 * i, "%02x", h[i]);
    return DCPKI_OK;
}

/* ---- files ---- */

static dcpki_code mkdirs(const char *dir, dcpki_err *err)
{
    char p[4096];
    if (strlen(dir) >= sizeof p)
        return dcpki_err_set(err, DCPKI_E_IO, "store directory path too long");
    strcpy(p, dir);
    for (char *s = p + 1; *s; s++) {
        if (*s != '/')
            continue;
        *s = '\0';
        if (mkdir(p, 0700) != 0 && errno != EEXIST) {
            char eb[128];
            return dcpki_err_set(err, DCPKI_E_IO, "cannot create %s: %s", p,
                                 dcpki_strerror(errno, eb, sizeof eb));
        }
        *s = '/';
    }
    if (mkdir(p, 0700) != 0 && errno != EEXIST) {
        char eb[128];
        return dcpki_err_set(err, DCPKI_E_IO, "cannot create the store directory %s: %s", p,
                             dcpki_strerror(errno, eb, sizeof eb));
    }
    return DCPKI_OK;
}

static dcpki_code write_atomic(const char *dir, const char *name, const char *data, size_t len,
                               dcpki_err *err)
{
    char path[4096], tmp[4200], eb[128];
    if ((size_t)snprintf(path, sizeof path, "%s/%s", dir, name) >= sizeof path)
        return dcpki_err_set(err, DCPKI_E_IO, "store path too long");
    snprintf(tmp, sizeof tmp, "%s/.%s.XXXXXX", dir, name);
    int fd = mkstemp(tmp);
    if (fd < 0)
        return dcpki_err_set(err, DCPKI_E_IO, "cannot write in the store directory %s: %s", dir,
                             dcpki_strerror(errno, eb, sizeof eb));
    int ok = fchmod(fd, 0600) == 0 && dcpki_write_all(fd, data, len) == 0 && fsync(fd) == 0;
    int saved = errno;
    if (close(fd) != 0)
        ok = 0;
    if (ok && rename(tmp, path) != 0) {
        saved = errno;
        ok = 0;
    }
    if (!ok) {
        unlink(tmp);
        return dcpki_err_set(err, DCPKI_E_IO, "cannot write %s: %s", path,
                             dcpki_strerror(saved, eb, sizeof eb));
    }
    int dfd = open(dir, O_RDONLY | O_DIRECTORY);
    if (dfd >= 0) {
        (void)fsync(dfd);
        close(dfd);
    }
    return DCPKI_OK;
}

static char *pem_of(int (*fn)(BIO *, const void *), const void *obj)
{
    BIO *b = BIO_new(BIO_s_mem());
    char *out = NULL;
    if (b != NULL && fn(b, obj) == 1) {
        char *p;
        long n = BIO_get_mem_data(b, &p);
        out = malloc((size_t)n + 1);
        if (out) {
            memcpy(out, p, (size_t)n);
            out[n] = '\0';
        }
    }
    BIO_free_all(b);
    return out;
}

static int w_cert(BIO *b, const void *x)
{
    return PEM_write_bio_X509(b, (X509 *)x);
}

static int w_key(BIO *b, const void *k)
{
    return PEM_write_bio_PrivateKey(b, (EVP_PKEY *)k, NULL, NULL, 0, NULL, NULL);
}

static const char *state_name(dcpki_store_state s)
{
    return s == DCPKI_STORE_PENDING   ? "pending"
           : s == DCPKI_STORE_REVOKED ? "revoked"
           : s == DCPKI_STORE_SENDING ? "sending"
                                      : "issued";
}

static int jstr(json_object *o, const char *k, const char *v)
{
    if (v == NULL)
        return 0;
    json_object *s = json_object_new_string(v);
    return s == NULL || json_object_object_add(o, k, s) != 0 ? -1 : 0;
}

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

dcpki_code dcpki_store_save(const char *dir, const dcpki_store_entry *e, dcpki_err *err)
{
    dcpki_code rc = mkdirs(dir, err);
    if (rc != DCPKI_OK)
        return rc;
    json_object *o = json_object_new_object();
    json_object *sans = json_object_new_array();
    json_object *chain = json_object_new_array();
    char *keypem = e->key ? pem_of(w_key, e->key) : NULL;
    char *certpem = e->cert ? pem_of(w_cert, e->cert) : NULL;
    int bad = o == NULL || sans == NULL || chain == NULL || (e->key && !keypem) ||
              (e->cert && !certpem);
    for (size_t i = 0; !bad && i < e->n_sans; i++)
        bad = json_object_array_add(sans, json_object_new_string(e->sans[i])) != 0;
    for (size_t i = 0; !bad && i < e->n_chain; i++) {
        char *p = pem_of(w_cert, e->chain[i]);
        bad = p == NULL || json_object_array_add(chain, json_object_new_string(p)) != 0;
        free(p);
    }
    if (!bad) {
        bad = json_object_object_add(o, "version", json_object_new_int(1)) != 0 ||
              jstr(o, "id", e->id) || jstr(o, "state", state_name(e->state)) ||
              jstr(o, "ca_host", e->ca_host) || jstr(o, "profile", e->profile) ||
              jstr(o, "subject", e->subject) ||
              json_object_object_add(o, "sans", sans) != 0;
        sans = NULL;
        bad = bad || jstr(o, "pending_id", e->pending_id) || jstr(o, "serial", e->serial) ||
              json_object_object_add(o, "created", json_object_new_int64(e->created)) != 0 ||
              jstr(o, "certificate", certpem) || json_object_object_add(o, "chain", chain) != 0;
        chain = NULL;
        bad = bad || jstr(o, "private_key", keypem) || jstr(o, "txid", e->txid);
        if (!bad && e->csr != NULL) {
            char *b64 = dcpki_b64_encode(e->csr, e->csr_len);
            bad = b64 == NULL || jstr(o, "csr", b64);
            OPENSSL_free(b64);
        }
    }
    json_object_put(sans);
    json_object_put(chain);
    if (keypem) {
        OPENSSL_cleanse(keypem, strlen(keypem));
        free(keypem);
    }
    free(certpem);
    if (bad) {
        wipe_member(o, "private_key");
        json_object_put(o);
        return dcpki_err_set(err, DCPKI_E_NOMEM, "building a store entry");
    }
    size_t len = 0;
    const char *txt = json_object_to_json_string_length(o, JSON_C_TO_STRING_PRETTY, &len);
    char name[DCPKI_STORE_ID_LEN + 8];
    snprintf(name, sizeof name, "%s.json", e->id);
    rc = txt ? write_atomic(dir, name, txt, len, err)
             : dcpki_err_set(err, DCPKI_E_NOMEM, "serialising a store entry");
    if (txt)
        OPENSSL_cleanse((void *)txt, len);
    wipe_member(o, "private_key");
    json_object_put(o);
    return rc;
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
    e->state = strcmp(st, "pending") == 0   ? DCPKI_STORE_PENDING
               : strcmp(st, "revoked") == 0 ? DCPKI_STORE_REVOKED
               : strcmp(st, "sending") == 0 ? DCPKI_STORE_SENDING
                                            : DCPKI_STORE_ISSUED;
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
    if (json_object_object_get_ex(o, "sans", &v) && json_object_is_type(v, json_type_array)) {
        size_t n = json_object_array_length(v);
        e->sans = n ? calloc(n, sizeof(char *)) : NULL;
        bad = n && !e->sans;
        for (size_t i = 0; !bad && i < n; i++) {
            e->sans[i] = dcpki_strdup0(json_object_get_string(json_object_array_get_idx(v, i)));
            bad = e->sans[i] == NULL;
            e->n_sans = i + 1;
        }
    }
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

dcpki_code dcpki_store_load(const char *dir, const char *id, dcpki_store_entry *out, int *found,
                            dcpki_err *err)
{
    char path[4096];
    if ((size_t)snprintf(path, sizeof path, "%s/%s.json", dir, id) >= sizeof path)
        return dcpki_err_set(err, DCPKI_E_IO, "store path too long");
    return load_path(path, out, found, err);
}

dcpki_code dcpki_store_delete(const char *dir, const char *id, dcpki_err *err)
{
    char path[4096], eb[128];
    if ((size_t)snprintf(path, sizeof path, "%s/%s.json", dir, id) >= sizeof path)
        return dcpki_err_set(err, DCPKI_E_IO, "store path too long");
    if (unlink(path) != 0 && errno != ENOENT)
        return dcpki_err_set(err, DCPKI_E_IO, "cannot remove store entry %s: %s", path,
                             dcpki_strerror(errno, eb, sizeof eb));
    return DCPKI_OK;
}

/* Calls fn on each entry of dir; fn returns 1 to stop. Damaged entries are skipped. */
static dcpki_code each_entry(const char *dir, int (*fn)(const char *path, dcpki_store_entry *e,
                                                        void *arg), void *arg, dcpki_err *err)
{
    DIR *d = opendir(dir);
    if (d == NULL) {
        char eb[128];
        if (errno == ENOENT)
            return DCPKI_OK;
        return dcpki_err_set(err, DCPKI_E_IO, "cannot read the store directory %s: %s", dir,
                             dcpki_strerror(errno, eb, sizeof eb));
    }
    struct dirent *de;
    dcpki_code rc = DCPKI_OK;
    while (rc == DCPKI_OK && (de = readdir(d)) != NULL) {
        size_t l = strlen(de->d_name);
        if (l != DCPKI_STORE_ID_LEN + 5 || strcmp(de->d_name + DCPKI_STORE_ID_LEN, ".json") != 0)
            continue;
        char path[4096];
        if ((size_t)snprintf(path, sizeof path, "%s/%s", dir, de->d_name) >= sizeof path)
            continue;
        dcpki_store_entry e;
        int found = 0;
        dcpki_err ignore;
        if (load_path(path, &e, &found, &ignore) != DCPKI_OK || !found)
            continue;
        int stop = fn(path, &e, arg);
        if (stop < 0)
            rc = dcpki_err_set(err, DCPKI_E_IO, "updating store entry %s failed", path);
        if (stop != 0)
            break;
    }
    closedir(d);
    return rc;
}

typedef struct find_arg {
    const char *pending_id;
    dcpki_store_entry *out;
    int found;
} find_arg;

static int find_cb(const char *path, dcpki_store_entry *e, void *arg)
{
    (void)path;
    find_arg *a = arg;
    if (e->state == DCPKI_STORE_PENDING && strcmp(e->pending_id, a->pending_id) == 0) {
        *a->out = *e; /* moves ownership */
        a->found = 1;
        return 1;
    }
    dcpki_store_entry_clear(e);
    return 0;
}

dcpki_code dcpki_store_find_pending(const char *dir, const char *pending_id,
                                    dcpki_store_entry *out, int *found, dcpki_err *err)
{
    find_arg a = {pending_id, out, 0};
    memset(out, 0, sizeof(*out));
    dcpki_code rc = each_entry(dir, find_cb, &a, err);
    *found = a.found;
    return rc;
}

typedef struct revoke_arg {
    const char *dir;
    const char *serial;
    int count;
} revoke_arg;

static const char *skip_zeros(const char *s)
{
    while (*s == '0' && s[1] != '\0')
        s++;
    return s;
}

static int revoke_cb(const char *path, dcpki_store_entry *e, void *arg)
{
    (void)path;
    revoke_arg *a = arg;
    int r = 0;
    if (e->state == DCPKI_STORE_ISSUED && e->serial != NULL &&
        strcasecmp(skip_zeros(e->serial), skip_zeros(a->serial)) == 0) {
        dcpki_err ignore;
        e->state = DCPKI_STORE_REVOKED;
        if (dcpki_store_save(a->dir, e, &ignore) == DCPKI_OK)
            a->count++;
        else
            r = -1;
    }
    dcpki_store_entry_clear(e);
    return r;
}

dcpki_code dcpki_store_mark_revoked(const char *dir, const char *serial_hex, int *count,
                                    dcpki_err *err)
{
    char s[130];
    size_t k = 0;
    for (const char *p = serial_hex; *p && k + 1 < sizeof s; p++)
        if (*p != ':' && *p != ' ')
            s[k++] = *p;
    s[k] = '\0';
    revoke_arg a = {dir, s, 0};
    dcpki_code rc = each_entry(dir, revoke_cb, &a, err);
    *count = a.count;
    return rc;
}
