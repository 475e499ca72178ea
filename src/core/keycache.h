/* On-disk cache of the signing service's keypair metadata (the JSON of
 * GET keypairs/{alias}), so that a short-lived process signs with one request
 * instead of two. Only public data is stored (the caller checks that no secret
 * is in it). Private to the core.
 *
 * Directory: $XDG_CACHE_HOME/dcpki/keys (XDG_CACHE_HOME absolute), else
 * $HOME/.cache/dcpki/keys, else /var/cache/dcpki/keys for root, else none;
 * none when DCPKI_NO_DISK_CACHE is set to anything but "" or "0". Created
 * 0700; used only when it is a directory (not a symbolic link) owned by the
 * effective uid that neither group nor others can write.
 *
 * One file per (service URL, RA identity, alias), named by the hex SHA-256 of
 * them; content: the line "dcpki-keycache 1 <fetched-at, Unix seconds>" and
 * the keypair JSON exactly as received. Written atomically (temporary file in
 * the directory, fsync, rename), mode 0600, so concurrent writers are harmless
 * and readers never see a partial file. */
#ifndef DCPKI_CORE_KEYCACHE_H
#define DCPKI_CORE_KEYCACHE_H
#include <stddef.h>
#include <stdint.h>
#include <openssl/types.h>

#define DCPKI_KEYCACHE_TTL_S 300
#define DCPKI_KEYCACHE_MAX (1024 * 1024) /* larger files are not cache files */

/* The cache directory (malloc'ed) from the environment, or NULL when there is
 * none. Does not create it. */
char *dcpki_keycache_dir(void);

/* The cache file for (url, ra, alias) inside dir (malloc'ed), named by a
 * SHA-256 computed in libctx (NULL: the default one); NULL on ENOMEM or when
 * libctx has no SHA-256. */
char *dcpki_keycache_path(OSSL_LIB_CTX *libctx, const char *dir, const char *url, const char *ra,
                          const char *alias);

/* Create dir (and missing parents) with mode 0700 and check it as described
 * above. 0 when usable, -1 otherwise. */
int dcpki_keycache_prepare_dir(const char *dir);

/* The cached JSON when the file is a regular file owned by the effective uid,
 * not group/world-writable, well-formed and younger than ttl_s seconds (now is
 * the current Unix time). Returns 0 and *json (malloc'ed, NUL-terminated) /
 * *len / *fetched_at (may be NULL); -1 when there is nothing usable. A file of
 * ours that is expired or malformed is removed. */
int dcpki_keycache_read(const char *path, int64_t now, int64_t ttl_s, char **json, size_t *len,
                        int64_t *fetched_at);

/* Store json with fetched-at time now: temporary file in the file's
 * directory, fsync, rename; mode 0600. 0 on success, -1 (nothing left behind)
 * otherwise. The directory must have been prepared. */
int dcpki_keycache_write(const char *path, int64_t now, const char *json, size_t len);

/* Remove the entry (missing is fine). */
void dcpki_keycache_remove(const char *path);

#endif
