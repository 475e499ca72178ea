/* The SQLite back end: DIR/store.sqlite in WAL mode (readers never wait for
 * the writer; several processes on one host write in turn under the busy
 * timeout), every write a BEGIN IMMEDIATE transaction committed with
 * synchronous=FULL before it returns. Per-request locks are flock(2)ed files
 * DIR/locks/<id>: the kernel drops them with their holder. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sqlite3.h>

#include "../internal.h"
#include "store_internal.h"

#define DB(s) ((sqlite3 *)(s)->db)

static const char *const schema_sql =
    "CREATE TABLE IF NOT EXISTS meta(name TEXT PRIMARY KEY, value TEXT);"
    "CREATE TABLE IF NOT EXISTS entries("
    " id TEXT PRIMARY KEY, state TEXT NOT NULL, ca_host TEXT, profile TEXT, subject TEXT,"
    " sans TEXT, pending_id TEXT, serial TEXT, txid TEXT, csr BLOB, created BIGINT,"
    " key_sealed BLOB, cert BLOB, chain BLOB, updated BIGINT);"
    "CREATE INDEX IF NOT EXISTS entries_pending_id ON entries(pending_id);"
    "CREATE INDEX IF NOT EXISTS entries_serial ON entries(serial);"
    "INSERT INTO meta(name, value) VALUES('schema', '" STORE_SCHEMA "')"
    " ON CONFLICT(name) DO NOTHING;";

static dcpki_code db_err(dcpki_store *s, const char *what, dcpki_err *err)
{
    int code = DB(s) ? sqlite3_errcode(DB(s)) : SQLITE_CANTOPEN;
    const char *msg = DB(s) ? sqlite3_errmsg(DB(s)) : "cannot open";
    const char *hint = code == SQLITE_BUSY || code == SQLITE_LOCKED
                           ? "another process kept it busy for 30 s; run the command again"
                       : code == SQLITE_FULL ? "free space on its file system"
                       : code == SQLITE_READONLY || code == SQLITE_CANTOPEN || code == SQLITE_PERM
                           ? "check the permissions of the file and its directory"
                       : code == SQLITE_CORRUPT || code == SQLITE_NOTADB
                           ? "restore it from a backup"
                           : "read the message";
    return dcpki_err_set(err, DCPKI_E_STORE, "%s %s: %s (%s)", what, s->desc, msg, hint);
}

static dcpki_code exec(dcpki_store *s, const char *sql, const char *what, dcpki_err *err)
{
    if (sqlite3_exec(DB(s), sql, NULL, NULL, NULL) != SQLITE_OK)
        return db_err(s, what, err);
    return DCPKI_OK;
}

static void rollback(dcpki_store *s)
{
    if (!sqlite3_get_autocommit(DB(s)))
        (void)sqlite3_exec(DB(s), "ROLLBACK", NULL, NULL, NULL);
}

static dcpki_code sq_open(dcpki_store *s, dcpki_err *err)
{
    char eb[128];
    if ((s->desc = dcpki_strfmt("SQLite database %s", s->path)) == NULL)
        return dcpki_err_set(err, DCPKI_E_NOMEM, "opening the store");
    /* created 0600 here: SQLite would make it 0644 under the usual umask, and
     * its -wal and -shm files take the database file's mode */
    int fd = open(s->path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0)
        return dcpki_err_set(err, DCPKI_E_STORE, "cannot open %s: %s (check the permissions of "
                             "the file and its directory)", s->desc,
                             dcpki_strerror(errno, eb, sizeof eb));
    close(fd);
    sqlite3 *db = NULL;
    int r = sqlite3_open_v2(s->path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL);
    s->db = db;
    if (r != SQLITE_OK)
        return db_err(s, "cannot open", err);
    sqlite3_busy_timeout(db, STORE_BUSY_MS);
    sqlite3_extended_result_codes(db, 0);
    dcpki_code rc = exec(s, "PRAGMA journal_mode=WAL", "cannot switch to WAL mode", err);
    if (rc == DCPKI_OK)
        rc = exec(s, "PRAGMA synchronous=FULL", "cannot set synchronous=FULL on", err);
    if (rc == DCPKI_OK && (rc = exec(s, "BEGIN IMMEDIATE", "cannot write to", err)) == DCPKI_OK) {
        rc = exec(s, schema_sql, "cannot create the tables of", err);
        if (rc == DCPKI_OK)
            rc = exec(s, "COMMIT", "cannot create the tables of", err);
        if (rc != DCPKI_OK)
            rollback(s);
    }
    return rc;
}

static void sq_close(dcpki_store *s)
{
    sqlite3_close(DB(s));
    s->db = NULL;
}

static char *col_text(sqlite3_stmt *st, int i)
{
    const unsigned char *t = sqlite3_column_text(st, i);
    return t ? strdup((const char *)t) : NULL;
}

/* a copy of a BLOB column; 0 when out of memory */
static int col_blob(sqlite3_stmt *st, int i, unsigned char **out, size_t *len)
{
    *out = NULL;
    *len = 0;
    if (sqlite3_column_type(st, i) == SQLITE_NULL)
        return 1;
    const void *b = sqlite3_column_blob(st, i);
    int n = sqlite3_column_bytes(st, i);
    if ((*out = malloc(n > 0 ? (size_t)n : 1)) == NULL)
        return 0;
    if (n > 0)
        memcpy(*out, b, (size_t)n);
    *len = (size_t)n;
    return 1;
}

static dcpki_code sq_meta_get(dcpki_store *s, const char *name, char **value, dcpki_err *err)
{
    *value = NULL;
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(DB(s), "SELECT value FROM meta WHERE name = ?1", -1, &st, NULL) !=
        SQLITE_OK)
        return db_err(s, "cannot read", err);
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    int r = sqlite3_step(st);
    dcpki_code rc = DCPKI_OK;
    if (r == SQLITE_ROW) {
        if (sqlite3_column_type(st, 0) != SQLITE_NULL && (*value = col_text(st, 0)) == NULL)
            rc = dcpki_err_set(err, DCPKI_E_NOMEM, "reading %s", s->desc);
    } else if (r != SQLITE_DONE) {
        rc = db_err(s, "cannot read", err);
    }
    sqlite3_finalize(st);
    return rc;
}

static dcpki_code sq_meta_add(dcpki_store *s, const char *name, const char *value, dcpki_err *err)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(DB(s),
                           "INSERT INTO meta(name, value) VALUES(?1, ?2) ON CONFLICT(name) DO NOTHING",
                           -1, &st, NULL) != SQLITE_OK)
        return db_err(s, "cannot write to", err);
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, value, -1, SQLITE_STATIC);
    dcpki_code rc = sqlite3_step(st) == SQLITE_DONE ? DCPKI_OK : db_err(s, "cannot write to", err);
    sqlite3_finalize(st);
    return rc;
}

#define COLS "id, state, ca_host, profile, subject, sans, pending_id, serial, txid, csr, created, " \
             "key_sealed, cert, chain, updated"

static dcpki_code sq_get(dcpki_store *s, store_by by, const char *key, store_row *out, int *found,
                         dcpki_err *err)
{
    memset(out, 0, sizeof(*out));
    *found = 0;
    const char *sql = by == STORE_BY_ID
                          ? "SELECT " COLS " FROM entries WHERE id = ?1"
                          : "SELECT " COLS " FROM entries WHERE pending_id = ?1 AND state = 'pending' "
                            "ORDER BY updated DESC LIMIT 1";
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(DB(s), sql, -1, &st, NULL) != SQLITE_OK)
        return db_err(s, "cannot read", err);
    sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
    int r = sqlite3_step(st);
    dcpki_code rc = DCPKI_OK;
    if (r == SQLITE_ROW) {
        const char *id = (const char *)sqlite3_column_text(st, 0);
        if (id != NULL && strlen(id) == DCPKI_STORE_ID_LEN)
            memcpy(out->id, id, DCPKI_STORE_ID_LEN + 1);
        out->state = store_state_static((const char *)sqlite3_column_text(st, 1));
        int bad = 0;
#define TXT(f, i) bad |= sqlite3_column_type(st, i) != SQLITE_NULL && (out->f = col_text(st, i)) == NULL
        TXT(ca_host, 2);
        TXT(profile, 3);
        TXT(subject, 4);
        TXT(sans, 5);
        TXT(pending_id, 6);
        TXT(serial, 7);
        TXT(txid, 8);
#undef TXT
        bad |= !col_blob(st, 9, &out->csr, &out->csr_len);
        out->created = sqlite3_column_int64(st, 10);
        bad |= !col_blob(st, 11, &out->key_sealed, &out->key_sealed_len);
        bad |= !col_blob(st, 12, &out->cert, &out->cert_len);
        bad |= !col_blob(st, 13, &out->chain, &out->chain_len);
        out->updated = sqlite3_column_int64(st, 14);
        if (bad) {
            store_row_clear(out);
            rc = dcpki_err_set(err, DCPKI_E_NOMEM, "reading %s", s->desc);
        } else {
            *found = 1;
        }
    } else if (r != SQLITE_DONE) {
        rc = db_err(s, "cannot read", err);
    }
    sqlite3_finalize(st);
    return rc;
}

static void bind_text(sqlite3_stmt *st, int i, const char *v)
{
    if (v != NULL)
        sqlite3_bind_text(st, i, v, -1, SQLITE_STATIC);
    else
        sqlite3_bind_null(st, i);
}

static void bind_blob(sqlite3_stmt *st, int i, const unsigned char *v, size_t n)
{
    if (v != NULL)
        sqlite3_bind_blob64(st, i, v, n, SQLITE_STATIC);
    else
        sqlite3_bind_null(st, i);
}

static dcpki_code sq_put(dcpki_store *s, const store_row *rows, size_t n, dcpki_err *err)
{
    dcpki_code rc = exec(s, "BEGIN IMMEDIATE", "cannot write to", err);
    if (rc != DCPKI_OK)
        return rc;
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(DB(s),
                           "INSERT OR REPLACE INTO entries(" COLS ") VALUES(?1, ?2, ?3, ?4, ?5, ?6, "
                           "?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)", -1, &st, NULL) != SQLITE_OK) {
        rc = db_err(s, "cannot write to", err);
        rollback(s);
        return rc;
    }
    for (size_t i = 0; rc == DCPKI_OK && i < n; i++) {
        const store_row *r = &rows[i];
        sqlite3_reset(st);
        sqlite3_clear_bindings(st);
        sqlite3_bind_text(st, 1, r->id, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, r->state, -1, SQLITE_STATIC);
        bind_text(st, 3, r->ca_host);
        bind_text(st, 4, r->profile);
        bind_text(st, 5, r->subject);
        bind_text(st, 6, r->sans);
        bind_text(st, 7, r->pending_id);
        bind_text(st, 8, r->serial);
        bind_text(st, 9, r->txid);
        bind_blob(st, 10, r->csr, r->csr_len);
        sqlite3_bind_int64(st, 11, r->created);
        bind_blob(st, 12, r->key_sealed, r->key_sealed_len);
        bind_blob(st, 13, r->cert, r->cert_len);
        bind_blob(st, 14, r->chain, r->chain_len);
        sqlite3_bind_int64(st, 15, r->updated);
        if (sqlite3_step(st) != SQLITE_DONE)
            rc = db_err(s, "cannot write to", err);
    }
    sqlite3_finalize(st);
    if (rc == DCPKI_OK)
        rc = exec(s, "COMMIT", "cannot write to", err);
    if (rc != DCPKI_OK)
        rollback(s);
    return rc;
}

static dcpki_code sq_remove(dcpki_store *s, const char *id, dcpki_err *err)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(DB(s), "DELETE FROM entries WHERE id = ?1", -1, &st, NULL) != SQLITE_OK)
        return db_err(s, "cannot write to", err);
    sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
    /* one statement outside BEGIN is its own transaction, committed on return */
    dcpki_code rc = sqlite3_step(st) == SQLITE_DONE ? DCPKI_OK : db_err(s, "cannot write to", err);
    sqlite3_finalize(st);
    return rc;
}

static dcpki_code sq_find_serial(dcpki_store *s, const char *serial, char ***ids, size_t *n,
                                 dcpki_err *err)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(DB(s), "SELECT id FROM entries WHERE serial = ?1 ORDER BY id", -1, &st,
                           NULL) != SQLITE_OK)
        return db_err(s, "cannot read", err);
    sqlite3_bind_text(st, 1, serial, -1, SQLITE_STATIC);
    dcpki_code rc = DCPKI_OK;
    int r;
    while (rc == DCPKI_OK && (r = sqlite3_step(st)) == SQLITE_ROW) {
        char **g = realloc(*ids, (*n + 1) * sizeof(char *));
        if (g == NULL || (g[*n] = col_text(st, 0)) == NULL) {
            if (g != NULL)
                *ids = g;
            rc = dcpki_err_set(err, DCPKI_E_NOMEM, "reading %s", s->desc);
            break;
        }
        *ids = g;
        (*n)++;
    }
    if (rc == DCPKI_OK && r != SQLITE_DONE)
        rc = db_err(s, "cannot read", err);
    sqlite3_finalize(st);
    if (rc != DCPKI_OK) {
        dcpki_store_ids_free(*ids, *n);
        *ids = NULL;
        *n = 0;
    }
    return rc;
}

/* One open(2) per lock: flock(2) locks belong to the open file description,
 * so two threads of one process exclude each other as two processes do. */
static dcpki_code sq_lock(dcpki_store *s, const char *id, long timeout_ms, dcpki_store_lock *l,
                          dcpki_err *err)
{
    char dir[4200], path[4300], eb[128];
    snprintf(dir, sizeof dir, "%s/locks", s->dir);
    snprintf(path, sizeof path, "%s/%s", dir, id);
    if (mkdir(dir, 0700) != 0 && errno != EEXIST)
        return dcpki_err_set(err, DCPKI_E_STORE, "cannot create the lock directory %s: %s", dir,
                             dcpki_strerror(errno, eb, sizeof eb));
    /* lock files are never removed: removing one while another process waits
     * on it would let a third lock a new file of the same name */
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY, 0600);
    if (fd < 0)
        return dcpki_err_set(err, DCPKI_E_STORE, "cannot open the lock file %s: %s", path,
                             dcpki_strerror(errno, eb, sizeof eb));
    int64_t end = timeout_ms > 0 ? dcpki_now_ms() + timeout_ms : 0;
    for (;;) {
        if (flock(fd, timeout_ms > 0 ? LOCK_EX | LOCK_NB : LOCK_EX) == 0)
            break;
        int e = errno;
        if (e == EINTR)
            continue;
        if (e == EWOULDBLOCK && timeout_ms > 0 && dcpki_now_ms() < end) {
            dcpki_sleep_ms(STORE_LOCK_POLL_MS);
            continue;
        }
        close(fd);
        if (e == EWOULDBLOCK)
            return dcpki_err_set(err, DCPKI_E_STORE,
                                 "request %s is being worked on by another process (lock %s held "
                                 "for more than %ld ms); run the command again when it is done",
                                 id, path, timeout_ms);
        return dcpki_err_set(err, DCPKI_E_STORE, "cannot lock %s: %s", path,
                             dcpki_strerror(e, eb, sizeof eb));
    }
    l->fd = fd;
    return DCPKI_OK;
}

static void sq_unlock(dcpki_store_lock *l)
{
    if (l->fd >= 0) {
        (void)flock(l->fd, LOCK_UN);
        close(l->fd);
        l->fd = -1;
    }
}

const store_ops dcpki_store_sqlite_ops = {
    .open = sq_open,
    .close = sq_close,
    .meta_get = sq_meta_get,
    .meta_add = sq_meta_add,
    .get = sq_get,
    .put = sq_put,
    .remove = sq_remove,
    .find_serial = sq_find_serial,
    .lock = sq_lock,
    .unlock = sq_unlock,
};
