/* The PostgreSQL back end: one connection per dcpki_store (under its mutex),
 * parameterised statements only, results in binary format (bytea as raw
 * bytes, bigint as 8 big-endian bytes, text as its bytes). Per-request locks
 * are session advisory locks, each on a connection of its own: the server
 * drops them when that connection goes, whatever happened to its host. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "../internal.h"
#include "store_internal.h"

#define CONN(s) ((PGconn *)(s)->db)

/* the key of pg_advisory_xact_lock that serialises schema creation */
#define SCHEMA_LOCK_KEY "7233542170463215913"

/* PQerrorMessage without its final line break (dcpki_err_set escapes the rest) */
static const char *pg_msg(PGconn *c, char *buf, size_t n)
{
    snprintf(buf, n, "%s", c ? PQerrorMessage(c) : "out of memory");
    size_t l = strlen(buf);
    while (l > 0 && (buf[l - 1] == '\n' || buf[l - 1] == ' '))
        buf[--l] = '\0';
    return buf;
}

static dcpki_code pg_err(dcpki_store *s, PGconn *c, const char *what, dcpki_err *err)
{
    char m[300];
    return dcpki_err_set(err, DCPKI_E_STORE, "%s %s: %s (check the database server and [store] url)",
                         what, s->desc, pg_msg(c, m, sizeof m));
}

/* "PostgreSQL database D on host H port P", from the URL, without its password */
static char *describe(const char *url)
{
    char *e = NULL;
    PQconninfoOption *o = PQconninfoParse(url, &e);
    PQfreemem(e);
    const char *db = NULL, *host = NULL, *port = NULL, *user = NULL;
    for (PQconninfoOption *i = o; i && i->keyword; i++) {
        if (i->val == NULL || !*i->val)
            continue;
        if (strcmp(i->keyword, "dbname") == 0)
            db = i->val;
        else if (strcmp(i->keyword, "host") == 0)
            host = i->val;
        else if (strcmp(i->keyword, "port") == 0)
            port = i->val;
        else if (strcmp(i->keyword, "user") == 0)
            user = i->val;
    }
    char *d = dcpki_strfmt("PostgreSQL database %s on %s%s%s%s%s%s", db ? db : "(the user's default)",
                           host ? "host " : "the local socket", host ? host : "", port ? " port " : "",
                           port ? port : "", user ? " as user " : "", user ? user : "");
    PQconninfoFree(o);
    return d;
}

/* the server's notices ("relation ... already exists, skipping", shutdown
 * warnings) are not messages for the user of dcpki: libpq's default prints
 * them on standard error */
static void quiet_notice(void *arg, const char *message)
{
    (void)arg;
    (void)message;
}

static PGconn *connect_to(const char *url)
{
    PGconn *c = PQconnectdb(url);
    if (c != NULL)
        PQsetNoticeProcessor(c, quiet_notice, NULL);
    return c;
}

/* a connection that works: reconnected once when the server dropped it */
static int usable(PGconn *c)
{
    if (PQstatus(c) == CONNECTION_OK)
        return 1;
    PQreset(c);
    return PQstatus(c) == CONNECTION_OK;
}

static PGresult *run(PGconn *c, const char *sql, int n, const char *const *vals, const int *lens,
                     const int *fmts)
{
    return PQexecParams(c, sql, n, NULL, vals, lens, fmts, 1);
}

static int cmd_ok(PGconn *c, const char *sql)
{
    PGresult *r = PQexec(c, sql);
    int ok = PQresultStatus(r) == PGRES_COMMAND_OK || PQresultStatus(r) == PGRES_TUPLES_OK;
    PQclear(r);
    return ok;
}

static const char *const schema_sql[] = {
    "CREATE TABLE IF NOT EXISTS meta(name TEXT PRIMARY KEY, value TEXT)",
    "CREATE TABLE IF NOT EXISTS entries("
    " id TEXT PRIMARY KEY, state TEXT NOT NULL, ca_host TEXT, profile TEXT, subject TEXT,"
    " sans TEXT, pending_id TEXT, serial TEXT, txid TEXT, csr BYTEA, created BIGINT,"
    " key_sealed BYTEA, cert BYTEA, chain BYTEA, updated BIGINT)",
    "CREATE INDEX IF NOT EXISTS entries_pending_id ON entries(pending_id)",
    "CREATE INDEX IF NOT EXISTS entries_serial ON entries(serial)",
    "INSERT INTO meta(name, value) VALUES('schema', '" STORE_SCHEMA "') ON CONFLICT(name) DO NOTHING",
};

static dcpki_code pg_open(dcpki_store *s, dcpki_err *err)
{
    if ((s->desc = describe(s->url)) == NULL)
        return dcpki_err_set(err, DCPKI_E_NOMEM, "opening the store");
    PGconn *c = connect_to(s->url);
    s->db = c;
    if (c == NULL || PQstatus(c) != CONNECTION_OK)
        return pg_err(s, c, "cannot connect to", err);
    /* CREATE TABLE IF NOT EXISTS is not safe against itself in two sessions
     * (both may pass the check; one then fails on pg_type): the transaction
     * lock makes the second wait for the first's commit */
    int ok = cmd_ok(c, "BEGIN") && cmd_ok(c, "SELECT pg_advisory_xact_lock(" SCHEMA_LOCK_KEY ")");
    for (size_t i = 0; ok && i < sizeof schema_sql / sizeof schema_sql[0]; i++)
        ok = cmd_ok(c, schema_sql[i]);
    if (ok && cmd_ok(c, "COMMIT"))
        return DCPKI_OK;
    dcpki_code rc = pg_err(s, c, "cannot create the tables of", err);
    (void)cmd_ok(c, "ROLLBACK");
    return rc;
}

static void pg_close(dcpki_store *s)
{
    PQfinish(CONN(s));
    s->db = NULL;
}

static dcpki_code pg_meta_get(dcpki_store *s, const char *name, char **value, dcpki_err *err)
{
    *value = NULL;
    if (!usable(CONN(s)))
        return pg_err(s, CONN(s), "cannot connect to", err);
    const char *v[] = {name};
    PGresult *r = run(CONN(s), "SELECT value FROM meta WHERE name = $1", 1, v, NULL, NULL);
    dcpki_code rc = DCPKI_OK;
    if (PQresultStatus(r) != PGRES_TUPLES_OK)
        rc = pg_err(s, CONN(s), "cannot read", err);
    else if (PQntuples(r) > 0 && !PQgetisnull(r, 0, 0) &&
             (*value = strdup(PQgetvalue(r, 0, 0))) == NULL)
        rc = dcpki_err_set(err, DCPKI_E_NOMEM, "reading %s", s->desc);
    PQclear(r);
    return rc;
}

static dcpki_code pg_meta_add(dcpki_store *s, const char *name, const char *value, dcpki_err *err)
{
    if (!usable(CONN(s)))
        return pg_err(s, CONN(s), "cannot connect to", err);
    const char *v[] = {name, value};
    PGresult *r = run(CONN(s), "INSERT INTO meta(name, value) VALUES($1, $2) ON CONFLICT(name) DO NOTHING",
                      2, v, NULL, NULL);
    dcpki_code rc = PQresultStatus(r) == PGRES_COMMAND_OK ? DCPKI_OK
                                                          : pg_err(s, CONN(s), "cannot write to", err);
    PQclear(r);
    return rc;
}

#define COLS "id, state, ca_host, profile, subject, sans, pending_id, serial, txid, csr, created, " \
             "key_sealed, cert, chain, updated"

static long long be64(const char *p, int len)
{
    if (len != 8)
        return 0;
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = v << 8 | (unsigned char)p[i];
    long long r;
    memcpy(&r, &v, sizeof r);
    return r;
}

static int get_text(PGresult *r, int i, char **out)
{
    *out = NULL;
    if (PQgetisnull(r, 0, i))
        return 1;
    int n = PQgetlength(r, 0, i);
    if ((*out = malloc((size_t)n + 1)) == NULL)
        return 0;
    memcpy(*out, PQgetvalue(r, 0, i), (size_t)n);
    (*out)[n] = '\0';
    return 1;
}

static int get_blob(PGresult *r, int i, unsigned char **out, size_t *len)
{
    *out = NULL;
    *len = 0;
    if (PQgetisnull(r, 0, i))
        return 1;
    int n = PQgetlength(r, 0, i);
    if ((*out = malloc(n > 0 ? (size_t)n : 1)) == NULL)
        return 0;
    memcpy(*out, PQgetvalue(r, 0, i), (size_t)n);
    *len = (size_t)n;
    return 1;
}

static dcpki_code pg_get(dcpki_store *s, store_by by, const char *key, store_row *out, int *found,
                         dcpki_err *err)
{
    memset(out, 0, sizeof(*out));
    *found = 0;
    if (!usable(CONN(s)))
        return pg_err(s, CONN(s), "cannot connect to", err);
    const char *sql = by == STORE_BY_ID
                          ? "SELECT " COLS " FROM entries WHERE id = $1"
                          : "SELECT " COLS " FROM entries WHERE pending_id = $1 AND state = 'pending' "
                            "ORDER BY updated DESC LIMIT 1";
    const char *v[] = {key};
    PGresult *r = run(CONN(s), sql, 1, v, NULL, NULL);
    dcpki_code rc = DCPKI_OK;
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        rc = pg_err(s, CONN(s), "cannot read", err);
    } else if (PQntuples(r) > 0) {
        if (!PQgetisnull(r, 0, 0) && PQgetlength(r, 0, 0) == DCPKI_STORE_ID_LEN)
            memcpy(out->id, PQgetvalue(r, 0, 0), DCPKI_STORE_ID_LEN + 1);
        out->state = store_state_static(PQgetvalue(r, 0, 1));
        int ok = get_text(r, 2, &out->ca_host) && get_text(r, 3, &out->profile) &&
                 get_text(r, 4, &out->subject) && get_text(r, 5, &out->sans) &&
                 get_text(r, 6, &out->pending_id) && get_text(r, 7, &out->serial) &&
                 get_text(r, 8, &out->txid) && get_blob(r, 9, &out->csr, &out->csr_len) &&
                 get_blob(r, 11, &out->key_sealed, &out->key_sealed_len) &&
                 get_blob(r, 12, &out->cert, &out->cert_len) &&
                 get_blob(r, 13, &out->chain, &out->chain_len);
        out->created = be64(PQgetvalue(r, 0, 10), PQgetlength(r, 0, 10));
        out->updated = be64(PQgetvalue(r, 0, 14), PQgetlength(r, 0, 14));
        if (!ok) {
            store_row_clear(out);
            rc = dcpki_err_set(err, DCPKI_E_NOMEM, "reading %s", s->desc);
        } else {
            *found = 1;
        }
    }
    PQclear(r);
    return rc;
}

static dcpki_code pg_put(dcpki_store *s, const store_row *rows, size_t n, dcpki_err *err)
{
    PGconn *c = CONN(s);
    if (!usable(c))
        return pg_err(s, c, "cannot connect to", err);
    if (!cmd_ok(c, "BEGIN"))
        return pg_err(s, c, "cannot write to", err);
    dcpki_code rc = DCPKI_OK;
    for (size_t i = 0; rc == DCPKI_OK && i < n; i++) {
        const store_row *w = &rows[i];
        char created[24], updated[24];
        snprintf(created, sizeof created, "%lld", w->created);
        snprintf(updated, sizeof updated, "%lld", w->updated);
        const char *v[15] = {w->id, w->state, w->ca_host, w->profile, w->subject, w->sans,
                             w->pending_id, w->serial, w->txid, (const char *)w->csr, created,
                             (const char *)w->key_sealed, (const char *)w->cert,
                             (const char *)w->chain, updated};
        int lens[15] = {0}, fmts[15] = {0};
        lens[9] = (int)w->csr_len;
        lens[11] = (int)w->key_sealed_len;
        lens[12] = (int)w->cert_len;
        lens[13] = (int)w->chain_len;
        fmts[9] = fmts[11] = fmts[12] = fmts[13] = 1; /* bytea in binary */
        PGresult *r = run(c,
                          "INSERT INTO entries(" COLS ") VALUES($1, $2, $3, $4, $5, $6, $7, $8, $9, "
                          "$10, $11, $12, $13, $14, $15) ON CONFLICT(id) DO UPDATE SET "
                          "state = EXCLUDED.state, ca_host = EXCLUDED.ca_host, "
                          "profile = EXCLUDED.profile, subject = EXCLUDED.subject, "
                          "sans = EXCLUDED.sans, pending_id = EXCLUDED.pending_id, "
                          "serial = EXCLUDED.serial, txid = EXCLUDED.txid, csr = EXCLUDED.csr, "
                          "created = EXCLUDED.created, key_sealed = EXCLUDED.key_sealed, "
                          "cert = EXCLUDED.cert, chain = EXCLUDED.chain, updated = EXCLUDED.updated",
                          15, v, lens, fmts);
        if (PQresultStatus(r) != PGRES_COMMAND_OK)
            rc = pg_err(s, c, "cannot write to", err);
        PQclear(r);
    }
    if (rc == DCPKI_OK && !cmd_ok(c, "COMMIT"))
        rc = pg_err(s, c, "cannot write to", err);
    if (rc != DCPKI_OK)
        (void)cmd_ok(c, "ROLLBACK");
    return rc;
}

static dcpki_code pg_remove(dcpki_store *s, const char *id, dcpki_err *err)
{
    if (!usable(CONN(s)))
        return pg_err(s, CONN(s), "cannot connect to", err);
    const char *v[] = {id};
    PGresult *r = run(CONN(s), "DELETE FROM entries WHERE id = $1", 1, v, NULL, NULL);
    dcpki_code rc = PQresultStatus(r) == PGRES_COMMAND_OK ? DCPKI_OK
                                                          : pg_err(s, CONN(s), "cannot write to", err);
    PQclear(r);
    return rc;
}

static dcpki_code pg_find_serial(dcpki_store *s, const char *serial, char ***ids, size_t *n,
                                 dcpki_err *err)
{
    if (!usable(CONN(s)))
        return pg_err(s, CONN(s), "cannot connect to", err);
    const char *v[] = {serial};
    PGresult *r = run(CONN(s), "SELECT id FROM entries WHERE serial = $1 ORDER BY id", 1, v, NULL, NULL);
    dcpki_code rc = DCPKI_OK;
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        rc = pg_err(s, CONN(s), "cannot read", err);
    } else if (PQntuples(r) > 0) {
        int t = PQntuples(r);
        if ((*ids = calloc((size_t)t, sizeof(char *))) == NULL)
            rc = dcpki_err_set(err, DCPKI_E_NOMEM, "reading %s", s->desc);
        for (int i = 0; rc == DCPKI_OK && i < t; i++) {
            if (((*ids)[i] = strdup(PQgetvalue(r, i, 0))) == NULL)
                rc = dcpki_err_set(err, DCPKI_E_NOMEM, "reading %s", s->desc);
            else
                *n = (size_t)i + 1;
        }
    }
    PQclear(r);
    if (rc != DCPKI_OK) {
        dcpki_store_ids_free(*ids, *n);
        *ids = NULL;
        *n = 0;
    }
    return rc;
}

/* the advisory lock's key: the id's first 16 hex digits as a signed 64-bit
 * number (ids are SHA-256 values: collisions are negligible, and one only
 * serialises two requests needlessly) */
static long long lock_key(const char *id)
{
    uint64_t v = 0;
    for (int i = 0; i < 16; i++) {
        char ch = id[i];
        int d = ch >= '0' && ch <= '9' ? ch - '0' : (ch | 0x20) - 'a' + 10;
        v = v << 4 | (uint64_t)d;
    }
    long long k;
    memcpy(&k, &v, sizeof k);
    return k;
}

static int first_bool(PGresult *r)
{
    return PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1 && PQgetlength(r, 0, 0) == 1 &&
           PQgetvalue(r, 0, 0)[0] == 1;
}

static dcpki_code pg_lock(dcpki_store *s, const char *id, long timeout_ms, dcpki_store_lock *l,
                          dcpki_err *err)
{
    PGconn *c = connect_to(s->url);
    if (c == NULL || PQstatus(c) != CONNECTION_OK) {
        dcpki_code rc = pg_err(s, c, "cannot connect (to lock a request) to", err);
        PQfinish(c);
        return rc;
    }
    l->pg_key = lock_key(id);
    char key[24];
    snprintf(key, sizeof key, "%lld", l->pg_key);
    const char *v[] = {key};
    dcpki_code rc = DCPKI_OK;
    if (timeout_ms <= 0) {
        PGresult *r = run(c, "SELECT pg_advisory_lock($1::bigint)", 1, v, NULL, NULL);
        if (PQresultStatus(r) != PGRES_TUPLES_OK)
            rc = pg_err(s, c, "cannot lock a request in", err);
        PQclear(r);
    } else {
        int64_t end = dcpki_now_ms() + timeout_ms;
        for (;;) {
            PGresult *r = run(c, "SELECT pg_try_advisory_lock($1::bigint)", 1, v, NULL, NULL);
            int st = PQresultStatus(r), got = first_bool(r);
            PQclear(r);
            if (st != PGRES_TUPLES_OK) {
                rc = pg_err(s, c, "cannot lock a request in", err);
                break;
            }
            if (got)
                break;
            if (dcpki_now_ms() >= end) {
                rc = dcpki_err_set(err, DCPKI_E_STORE,
                                   "request %s is being worked on by another process or RA host "
                                   "(advisory lock %s in %s held for more than %ld ms); run the "
                                   "command again when it is done", id, key, s->desc, timeout_ms);
                break;
            }
            dcpki_sleep_ms(STORE_LOCK_POLL_MS);
        }
    }
    if (rc != DCPKI_OK) {
        PQfinish(c);
        return rc;
    }
    l->conn = c;
    return DCPKI_OK;
}

static void pg_unlock(dcpki_store_lock *l)
{
    PGconn *c = l->conn;
    if (c == NULL)
        return;
    char key[24];
    snprintf(key, sizeof key, "%lld", l->pg_key);
    const char *v[] = {key};
    /* closing the session would release it too; the explicit unlock says so */
    PQclear(run(c, "SELECT pg_advisory_unlock($1::bigint)", 1, v, NULL, NULL));
    PQfinish(c);
    l->conn = NULL;
}

const store_ops dcpki_store_pg_ops = {
    .open = pg_open,
    .close = pg_close,
    .meta_get = pg_meta_get,
    .meta_add = pg_meta_add,
    .get = pg_get,
    .put = pg_put,
    .remove = pg_remove,
    .find_serial = pg_find_serial,
    .lock = pg_lock,
    .unlock = pg_unlock,
};
