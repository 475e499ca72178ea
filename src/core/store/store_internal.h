/* Private to src/core/store/: the handle, the row both back ends read and
 * write, and the back-end operations (store.h gives the contract). */
#ifndef DCPKI_STORE_INTERNAL_H
#define DCPKI_STORE_INTERNAL_H
#include <pthread.h>
#include <stddef.h>

#include "dcpki/store.h"

#define STORE_KEY_LEN 32
#define STORE_SCHEMA "1"
/* the busy timeout of SQLite and the pause between two attempts at a lock */
#define STORE_BUSY_MS 30000
#define STORE_LOCK_POLL_MS 20

/* One row of table entries, as stored (key sealed, certificates DER). */
typedef struct store_row {
    char id[DCPKI_STORE_ID_LEN + 1];
    const char *state;          /* static string */
    char *ca_host, *profile, *subject;
    char *sans;                 /* JSON array of strings */
    char *pending_id;
    char *serial;               /* dcpki_serial_normalise'd, or NULL */
    char *txid;
    unsigned char *csr;
    size_t csr_len;
    long long created;
    unsigned char *key_sealed;
    size_t key_sealed_len;
    unsigned char *cert;
    size_t cert_len;
    unsigned char *chain;       /* concatenated DER certificates */
    size_t chain_len;
    long long updated;
} store_row;

void store_row_clear(store_row *r);

/* A look-up of get/find_pending: by id, or the PENDING row of a pending_id. */
typedef enum store_by { STORE_BY_ID, STORE_BY_PENDING } store_by;

typedef struct store_ops {
    /* connect or open, create the schema (idempotent, safe when several do it
     * at once) */
    dcpki_code (*open)(dcpki_store *s, dcpki_err *err);
    void (*close)(dcpki_store *s);
    /* *value malloc'd, NULL when absent */
    dcpki_code (*meta_get)(dcpki_store *s, const char *name, char **value, dcpki_err *err);
    /* inserts name = value unless name is there already */
    dcpki_code (*meta_add)(dcpki_store *s, const char *name, const char *value, dcpki_err *err);
    dcpki_code (*get)(dcpki_store *s, store_by by, const char *key, store_row *out, int *found,
                      dcpki_err *err);
    /* n rows inserted or replaced in one transaction, committed on return */
    dcpki_code (*put)(dcpki_store *s, const store_row *rows, size_t n, dcpki_err *err);
    dcpki_code (*remove)(dcpki_store *s, const char *id, dcpki_err *err);
    dcpki_code (*find_serial)(dcpki_store *s, const char *serial, char ***ids, size_t *n,
                              dcpki_err *err);
    dcpki_code (*lock)(dcpki_store *s, const char *id, long timeout_ms, dcpki_store_lock *l,
                       dcpki_err *err);
    void (*unlock)(dcpki_store_lock *l);
} store_ops;

struct dcpki_store {
    const store_ops *ops;
    pthread_mutex_t mu;         /* around db: one connection, several threads */
    char *desc;                 /* dcpki_store_describe */
    char *dir;                  /* SQLite */
    char *path;                 /* SQLite: DIR/store.sqlite */
    char *url;                  /* PostgreSQL */
    unsigned char *key;         /* STORE_KEY_LEN bytes, secret memory */
    void *db;                   /* sqlite3 * or PGconn * */
};

struct dcpki_store_lock {
    dcpki_store *s;
    int fd;                     /* SQLite: the flock(2)ed file */
    void *conn;                 /* PostgreSQL: the connection holding the advisory lock */
    long long pg_key;
};

extern const store_ops dcpki_store_sqlite_ops;
extern const store_ops dcpki_store_pg_ops;

/* store_seal.c: AES-256-GCM, blob = version 1 byte || nonce 12 || ciphertext || tag 16 */
dcpki_code dcpki_store_seal(const unsigned char key[STORE_KEY_LEN], const char *id,
                            const unsigned char *plain, size_t len, unsigned char **blob,
                            size_t *blob_len, dcpki_err *err);
/* *plain in secret memory (dcpki_secret_release); DCPKI_E_STORE_KEY when the tag
 * does not verify */
dcpki_code dcpki_store_open_sealed(const unsigned char key[STORE_KEY_LEN], const char *id,
                                   const unsigned char *blob, size_t blob_len,
                                   unsigned char **plain, size_t *len, const char *where,
                                   dcpki_err *err);
/* hex HMAC-SHA256(key, "dcpki store key check v1"), 65 bytes */
dcpki_code dcpki_store_key_check(const unsigned char key[STORE_KEY_LEN], char out[65],
                                 dcpki_err *err);

/* store.c */
dcpki_code dcpki_store_row_of(dcpki_store *s, const dcpki_store_entry *e, store_row *r,
                              dcpki_err *err);
/* the strings of the JSON array a, each dcpki_strdup0'd, into *out (*n of
 * them, set as they are made: dcpki_store_entry_clear frees a partial list);
 * 0 when out of memory (or an element is JSON null) */
struct json_object;
int store_json_strings(struct json_object *a, char ***out, size_t *n);
/* the states' names in rows: "issued", "pending", ... (static strings) */
const char *store_state_name(dcpki_store_state s);
/* *out from a name; 0 when it is none (or NULL) */
int store_state_of(const char *name, dcpki_store_state *out);
/* the static string equal to name, "?" when it is no state's name */
const char *store_state_static(const char *name);
/* whether id is DCPKI_STORE_ID_LEN lower- or upper-case hex digits */
int dcpki_store_id_ok(const char *id);

/* store_migrate.c: the JSON files of the old file store in s->dir, imported
 * in one transaction and removed */
dcpki_code dcpki_store_migrate_files(dcpki_store *s, dcpki_err *err);

#endif
