/* dcpki.conf: the configuration of DESIGN.md, exactly those keys.
 * Unknown sections/keys and bad values are errors naming file, line and key.
 *
 * The environment of DigiCert KeyLocker / Software Trust Manager's PKCS#11
 * library (smpkcs11) is accepted too, read by dcpki_config_load:
 *   SM_HOST                 -> [signing] url
 *   SM_API_KEY              -> the API key ([signing] api_key_file), in memory
 *   SM_CLIENT_CERT_FILE     -> [ra] pkcs12
 *   SM_CLIENT_CERT_PASSWORD -> the PKCS#12 password ([ra] pkcs12_password_file), in memory
 *   SM_CONN_TIMEOUT         -> [ca] timeout_ms
 *   SM_CA_FILE              -> [ca] trust
 * When the file is the default one (DCPKI_DEFAULT_CONF), it does not exist and
 * SM_HOST is set, the configuration is made of these variables alone
 * (SM_API_KEY and SM_CLIENT_CERT_FILE are then required). When a file is read,
 * a variable fills only a key the file leaves unset (the file wins); the RA
 * identity is taken from SM_CLIENT_CERT_FILE (+ _PASSWORD) only when [ra]
 * names none at all. Variables are read with secure_getenv (ignored in
 * set-user-ID programs); an empty one counts as unset. */
#ifndef DCPKI_CONFIG_H
#define DCPKI_CONFIG_H
#include "dcpki/secret.h"
#include "dcpki/error.h"

#define DCPKI_DEFAULT_CONF "/etc/dcpki/dcpki.conf"
#define DCPKI_DEFAULT_TIMEOUT_MS 30000L

typedef struct dcpki_profile_entry {
    char *name; /* key in [profiles], e.g. "default" */
    char *oid;  /* dotted OID */
} dcpki_profile_entry;

/* One [seat_id] line: where the seat_id nameValuePair of a profile's
 * enrollments comes from (dcpki_request_input.seat_source). */
typedef struct dcpki_seat_entry {
    char *key;    /* "default", a [profiles] name or a dotted OID, as written */
    char *source; /* "email" | "cn" | "dn:TYPE" with TYPE canonical ("dn:OU", "dn:UID") */
    int line;
} dcpki_seat_entry;

/* All strings are NULL when unset. Paths are stored as written. */
typedef struct dcpki_config {
    char *path;                  /* file it was read from (or the name given to _parse) */
    struct {
        char *host;              /* host[:port], no scheme, no trailing slash */
        char *name;              /* "Symantec" */
        long timeout_ms;         /* default DCPKI_DEFAULT_TIMEOUT_MS */
        int timeout_ms_set;      /* timeout_ms was written in the file */
        char *trust;             /* PEM bundle verifying the servers */
    } ca;
    struct {
        char *certificate_thumbprint; /* normalised: 40 upper-case hex digits */
        char *store;             /* directory of certificates (+ keys) */
        char *certificate;       /* PEM certificate file */
        char *key;               /* PEM key file or pkcs11: URI */
        char *pkcs12;            /* PKCS#12 file */
        char *pkcs12_password_file;
        char *pkcs12_password;   /* secret (SM_CLIENT_CERT_PASSWORD), never from the file */
    } ra;
    struct {
        char *url;               /* https://host[:port] base, no trailing slash */
        char *api_key_file;
        char *api_key;           /* secret (SM_API_KEY), never from the file */
        char *keys;              /* optional: the aliases this host uses, comma-separated
                                  * (dcpki doctor checks each); checked, stored as written */
        char *agent;             /* optional: absolute path of the dcpki agent's socket; set,
                                  * remote keys are used through the agent (agent.h) */
    } signing;
    struct {
        char *pin_file;          /* the tokens' user PIN (first line); unset: no PIN */
    } pkcs11;
    struct {
        char *url;               /* postgresql:// or postgres:// URI (libpq); unset: SQLite */
        char *key_file;          /* the store key (32 bytes, 0600); required with url */
        char *dir;               /* absolute: the SQLite store's directory; unset: the default
                                  * (issued_store.h) */
    } store;
    dcpki_profile_entry *profiles; /* [profiles] name = OID */
    size_t n_profiles;
    dcpki_seat_entry *seat_ids;  /* [seat_id] profile = source */
    size_t n_seat_ids;
    unsigned from_env;           /* bits 1u << dcpki_config_item: values taken from SM_* */
} dcpki_config;

/* The settings the SM_* variables can give, for dcpki_config_origin. */
typedef enum dcpki_config_item {
    DCPKI_CI_SIGNING_URL,        /* SM_HOST */
    DCPKI_CI_API_KEY,            /* SM_API_KEY */
    DCPKI_CI_RA_PKCS12,          /* SM_CLIENT_CERT_FILE */
    DCPKI_CI_RA_PKCS12_PASSWORD, /* SM_CLIENT_CERT_PASSWORD */
    DCPKI_CI_CA_TIMEOUT,         /* SM_CONN_TIMEOUT */
    DCPKI_CI_CA_TRUST,           /* SM_CA_FILE */
    DCPKI_CI__COUNT
} dcpki_config_item;

/* Where a setting came from, for messages: the environment variable
 * ("SM_CLIENT_CERT_FILE") when it gave the value, else the dcpki.conf key
 * ("[ra] pkcs12"). A static string. */
const char *dcpki_config_origin(const dcpki_config *cfg, dcpki_config_item item);
/* Whether an API key is configured (in memory or as api_key_file). */
int dcpki_config_has_api_key(const dcpki_config *cfg);
/* Whether path can be the agent's socket ([signing] agent, dcpki agent
 * --socket): absolute, and short enough for a Unix socket address. */
int dcpki_agent_path_ok(const char *path);
/* Whether cfg names an RA identity in any of [ra]'s ways (or SM_CLIENT_CERT_FILE). */
int dcpki_config_names_ra(const dcpki_config *cfg);

/* Path to use: explicit if non-NULL, else $DCPKI_CONF, else DCPKI_DEFAULT_CONF. */
const char *dcpki_config_path(const char *explicit_path);
/* Read the file dcpki_config_path(path) names and apply the SM_* variables
 * (above). With the configuration from the environment alone, cfg->path
 * describes that ("the SM_* environment variables (... does not exist)"). */
dcpki_code dcpki_config_load(const char *path, dcpki_config **out, dcpki_err *err);
/* The configuration of the SM_* variables alone, used by dcpki_config_load
 * when path (the default file; NULL: DCPKI_DEFAULT_CONF) does not exist: needs
 * SM_HOST, SM_API_KEY and SM_CLIENT_CERT_FILE, else an error naming the
 * missing variable. */
dcpki_code dcpki_config_from_env(const char *path, dcpki_config **out, dcpki_err *err);
/* Apply the SM_* variables to a parsed file's configuration: each fills only
 * what the file leaves unset. Errors name the variable. */
dcpki_code dcpki_config_apply_env(dcpki_config *cfg, dcpki_err *err);
/* Parse text; `name` is used in messages and stored as cfg->path. */
dcpki_code dcpki_config_parse(const char *text, size_t len, const char *name,
                              dcpki_config **out, dcpki_err *err);
void dcpki_config_free(dcpki_config *cfg);
/* Profile OID by name ("default"), NULL when absent. */
const char *dcpki_config_profile(const dcpki_config *cfg, const char *name);
/* The [seat_id] source for enrollments with profile_oid: the line whose key is
 * that OID, else one whose key is a [profiles] name of that OID, else the
 * "default" line ("default" is every profile's fallback, also when [profiles]
 * has a profile named default). NULL when none applies: the request then takes
 * "email" (the subject's e-mail, else its CN). */
const char *dcpki_config_seat_source(const dcpki_config *cfg, const char *profile_oid);
/* The API key: from SM_API_KEY (in memory) or read from [signing]
 * api_key_file (trailing whitespace stripped).
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
/* Wipe and release a secret string: one from dcpki_secret_alloc (dcpki/secret.h),
 * which every secret this library hands out is. */
void dcpki_secret_free(char *s);
/* Read a whole file (at most max bytes); the buffers it outgrows are wiped, as
 * the file may hold a key. On failure returns -1 and errno is set (EFBIG when
 * larger than max, EISDIR for a directory). *data is NUL-terminated; free with
 * free(). */
int dcpki_read_file(const char *path, size_t max, unsigned char **data, size_t *len);

/* Whether s is a dotted OID in form: digits, at least two arcs, no empty arc
 * (syntax only; 0 for NULL). A profile option that is one is taken as an OID. */
int dcpki_is_dotted_oid(const char *s);

#endif
