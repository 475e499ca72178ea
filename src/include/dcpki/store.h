/* The store of issued certificates and the enrollment journal, behind one
 * interface with two back ends (issue 9):
 * - SQLite (default): DIR/store.sqlite, one file; safe for concurrent
 *   processes on one host (WAL, busy timeout, short transactions);
 * - PostgreSQL ([store] url = postgresql://...): several RA hosts share it.
 *
 * Entries are those of issued_store.h (their id is the request's identity).
 * Private keys of entries are never stored in clear: PKCS#8 DER sealed with
 * AES-256-GCM under the store key (32 bytes from [store] key_file; with
 * SQLite and no key_file, DIR/store.key, generated 0600 on first use), the
 * entry id as additional data. The store remembers a check value of its key:
 * opening it with another key is DCPKI_E_STORE_KEY, never a silent
 * re-enrollment.
 *
 * Per-request serialisation: dcpki_store_lock_id() blocks until the caller
 * is the only holder of that id's lock (other ids stay parallel), across
 * processes (SQLite: an flock(2)ed file DIR/locks/<id>; PostgreSQL: a
 * session advisory lock on a connection of its own, so across hosts). The
 * lock goes with the holder's death (kill -9, host crash: the kernel or the
 * database server drops it); the journal entry it leaves is resolved by the
 * next holder. Lock files are never removed (removing one while a process
 * waits on it would let a third lock a new file of the same name).
 *
 * An old file store (one JSON file per entry in DIR, issued_store.h before
 * issue 9) is imported into SQLite when opened (in one transaction; files that
 * do not parse stay and are logged) and its files removed (they held keys in
 * clear). DCPKI_DEBUG=1 logs what was imported.
 *
 * Ids are DCPKI_STORE_ID_LEN hex digits (dcpki_store_entry_init): an entry
 * with another id is not stored (DCPKI_E_INVALID_ARGUMENT), nor locked; get
 * and remove of such an id find nothing.
 *
 * A dcpki_store is safe to use from several threads (one lock inside). */
#ifndef DCPKI_STORE_H
#define DCPKI_STORE_H
#include "dcpki/error.h"
#include "dcpki/issued_store.h"

typedef struct dcpki_store dcpki_store;
typedef struct dcpki_store_lock dcpki_store_lock;

typedef struct dcpki_store_params {
    const char *dir;       /* SQLite: the directory (made 0700 when missing); NULL with url,
                            * or for the default (dcpki_store_default_dir) */
    const char *url;       /* "postgresql://..." or "postgres://..."; NULL: SQLite in dir */
    const char *key_file;  /* the store key (32 bytes, mode 0600 or stricter); NULL: with
                            * SQLite DIR/store.key (generated when missing), with
                            * PostgreSQL an error (DCPKI_E_CONFIG_INCOMPLETE) */
} dcpki_store_params;

/* Opens (creating the schema when missing) and checks the store key.
 * Errors: DCPKI_E_STORE (cannot open / schema / database error, the detail
 * names the file or server and what to do), DCPKI_E_STORE_KEY (key file
 * unreadable, not 32 bytes, too open, or not this store's key),
 * DCPKI_E_CONFIG_INCOMPLETE. */
dcpki_code dcpki_store_open(const dcpki_store_params *p, dcpki_store **out, dcpki_err *err);
void dcpki_store_close(dcpki_store *s);
/* "SQLite database /path/store.sqlite" or "PostgreSQL database dcpki on
 * host ..." (no password), for messages. */
const char *dcpki_store_describe(const dcpki_store *s);

/* See above. Waits at most timeout_ms (0: without limit); a timeout is
 * DCPKI_E_STORE with a detail saying another process holds it. */
dcpki_code dcpki_store_lock_id(dcpki_store *s, const char *id, long timeout_ms,
                               dcpki_store_lock **out, dcpki_err *err);
void dcpki_store_unlock(dcpki_store_lock *l);

/* The entry with that id; *found = 0 (DCPKI_OK) when absent. */
dcpki_code dcpki_store_get(dcpki_store *s, const char *id, dcpki_store_entry *out, int *found,
                           dcpki_err *err);
/* Inserts or replaces e (by e->id), durably (committed) before returning.
 * e->serial is stored normalised (dcpki_serial_normalise: upper-case hex, no
 * ':' or leading zeros), as dcpki_store_get then returns it. */
dcpki_code dcpki_store_put(dcpki_store *s, const dcpki_store_entry *e, dcpki_err *err);
/* Removes the entry (absent is fine). */
dcpki_code dcpki_store_remove(dcpki_store *s, const char *id, dcpki_err *err);
/* The PENDING entry with that pendingTokenReferenceID. */
dcpki_code dcpki_store_find_pending(dcpki_store *s, const char *pending_id,
                                    dcpki_store_entry *out, int *found, dcpki_err *err);
/* The ids of entries whose serial is serial_hex (compared normalised by
 * dcpki_serial_normalise: without ':' or blanks, case-insensitive, leading
 * zeros ignored): *ids malloc'd array of
 * malloc'd strings, free with dcpki_store_ids_free. */
dcpki_code dcpki_store_find_serial(dcpki_store *s, const char *serial_hex, char ***ids,
                                   size_t *n, dcpki_err *err);
void dcpki_store_ids_free(char **ids, size_t n);

#endif
