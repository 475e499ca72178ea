/* dcpki.conf: the configuration of DESIGN.md, exactly those keys.
 * Unknown sections/keys and bad values are errors naming file, line and key. */
#ifndef DCPKI_CONFIG_H
#define DCPKI_CONFIG_H
#include "dcpki/error.h"

#define DCPKI_DEFAULT_CONF "/etc/dcpki/dcpki.conf"
#define DCPKI_DEFAULT_TIMEOUT_MS 30000L

typedef struct dcpki_profile_entry {
    char *name; /* key in [profiles], e.g. "default" */
    char *oid;  /* dotted OID */
} dcpki_profile_entry;

/* All strings are NULL when unset. Paths are stored as written. */
typedef struct dcpki_config {
    char *path;                  /* file it was read from (or the name given to _parse) */
    struct {
        char *host;              /* host[:port], no scheme, no trailing slash */
        char *name;              /* "Symantec" */
        long timeout_ms;         /* default DCPKI_DEFAULT_TIMEOUT_MS */
        char *trust;             /* PEM bundle verifying the servers */
    } ca;
    struct {
        char *certificate_thumbprint; /* normalised: 40 upper-case hex digits */
        char *store;             /* directory of certificates (+ keys) */
        char *certificate;       /* PEM certificate file */
        char *key;               /* PEM key file or pkcs11: URI */
        char *pkcs12;            /* PKCS#12 file */
        char *pkcs12_password_file;
    } ra;
    struct {
        char *url;               /* https://host[:port] base, no trailing slash */
        char *api_key_file;
        char *keys;              /* optional: the aliases this host uses, comma-separated
                                  * (dcpki doctor checks each); checked, stored as written */
    } signing;
    struct {
        char *pin_file;          /* the tokens' user PIN (first line); unset: no PIN */
    } pkcs11;
    dcpki_profile_entry *profiles; /* [profiles] name = OID */
    size_t n_profiles;
} dcpki_config;

/* Path to use: explicit if non-NULL, else $DCPKI_CONF, else DCPKI_DEFAULT_CONF. */
const char *dcpki_config_path(const char *explicit_path);
dcpki_code dcpki_config_load(const char *path, dcpki_config **out, dcpki_err *err);
/* Parse text; `name` is used in messages and stored as cfg->path. */
dcpki_code dcpki_config_parse(const char *text, size_t len, const char *name,
                              dcpki_config **out, dcpki_err *err);
void dcpki_config_free(dcpki_config *cfg);
/* Profile OID by name ("default"), NULL when absent. */
const char *dcpki_config_profile(const dcpki_config *cfg, const char *name);
/* Read the API key from [signing] api_key_file (trailing whitespace stripped).
 * *out is freed by the caller with dcpki_secret_free. */
dcpki_code dcpki_config_read_api_key(const dcpki_config *cfg, char **out, dcpki_err *err);
/* The longest PIN [pkcs11] pin_file may hold (the tokens' ulMaxPinLen). */
#define DCPKI_PIN_MAX 255
/* Read the tokens' PIN from [pkcs11] pin_file: its first line, trailing
 * whitespace stripped, 1..DCPKI_PIN_MAX bytes. The file must be a regular file
 * of mode 0600 or 0400 owned by the effective user, else DCPKI_E_IO naming the
 * file, its mode or owner and the remedy (chmod 600 FILE). Unset:
 * DCPKI_E_CONFIG_INCOMPLETE. *out is freed with dcpki_secret_free. */
dcpki_code dcpki_config_read_pin(const dcpki_config *cfg, char **out, dcpki_err *err);
/* Read a secret file (password, API key): first line, trailing CR/LF stripped. */
dcpki_code dcpki_read_secret_file(const char *path, char **out, dcpki_err *err);
/* Wipe and free a secret string. */
void dcpki_secret_free(char *s);
/* Read a whole file (at most max bytes); the buffers it outgrows are wiped, as
 * the file may hold a key. On failure returns -1 and errno is set (EFBIG when
 * larger than max, EISDIR for a directory). *data is NUL-terminated; free with
 * free(). */
int dcpki_read_file(const char *path, size_t max, unsigned char **data, size_t *len);

#endif
