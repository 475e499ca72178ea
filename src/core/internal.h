/* Private helpers shared by the core's source files (not installed, not part
 * of the public API). */
#ifndef DCPKI_CORE_INTERNAL_H
#define DCPKI_CORE_INTERNAL_H
#include <stddef.h>
#include <stdint.h>
#include <openssl/params.h>
#include "dcpki/config.h"
#include "dcpki/error.h"

/* strdup that returns NULL for NULL input. */
char *dcpki_strdup0(const char *s);
/* vasprintf-like with the allocator given (malloc, dcpki_secret_alloc); NULL
 * on failure. */
#include <stdarg.h>
char *dcpki_vstrfmt_with(void *(*alloc)(size_t), const char *fmt, va_list ap);
/* asprintf-like; NULL on failure. */
char *dcpki_strfmt(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* The strings up to NULL one after the other, malloc'ed; for paths that run
 * for every request, where a format would be parsed each time. */
char *dcpki_strjoin(const char *first, ...) __attribute__((sentinel));

/* dcpki_is_dotted_oid: dcpki/config.h */
/* Whether u is a libpq URI (postgresql:// or postgres://), the [store] url forms. */
int dcpki_is_pg_url(const char *u);

/* Whether needle occurs in hay, ignoring ASCII case; 0 when hay is NULL. */
int dcpki_contains_ci(const char *hay, const char *needle);

/* The string member key of a JSON object, or NULL (o NULL, no such member,
 * or not a string). Owned by o. */
struct json_object;
const char *dcpki_json_str(struct json_object *o, const char *key);

/* Base64 (RFC 4648, with padding) through OpenSSL's EVP_EncodeBlock/DecodeBlock.
 * Decoding tolerates surrounding whitespace and embedded line breaks. Results
 * are malloc'ed (OPENSSL_malloc / OPENSSL_free). */
char *dcpki_b64_encode(const unsigned char *data, size_t len);
int dcpki_b64_decode(const char *text, unsigned char **out, size_t *out_len);

/* n bytes as 2n lower-case hex digits and a NUL into out (2n + 1 bytes). */
void dcpki_hex_lower(const unsigned char *d, size_t n, char *out);

/* dcpki_read_file: dcpki/config.h */

/* write() all n bytes (retrying on EINTR and short writes); 0, or -1 with errno
 * set (EIO when write() returns 0). */
int dcpki_write_all(int fd, const void *data, size_t n);

/* strerror with a lower-case first letter ("permission denied"), thread-safe. */
const char *dcpki_strerror(int errnum, char *buf, size_t n);

/* Monotonic milliseconds. */
int64_t dcpki_now_ms(void);
void dcpki_sleep_ms(int64_t ms);

/* The signing client's parsers of the service's answers, callable without the
 * network (signing.c; unit tests and fuzzing). */
#include "dcpki/signing.h"
/* One keypair object (GET keypairs/{id} body). need_pub: public_key required. */
dcpki_code dcpki_signing_parse_keypair_json(OSSL_LIB_CTX *libctx, const char *text, size_t len, int need_pub,
                                            dcpki_keypair **out, dcpki_err *err);
/* The answer to POST keypairs/{id}/sign: the signature decoded, converted to
 * DER for ECDSA when it is r||s, verified with kp->pub over data (the digest,
 * or the DigestInfo for DCPKI_SIG_RSA_RAW with md NULL). */
dcpki_code dcpki_signing_parse_sign_answer(const dcpki_keypair *kp, dcpki_sig_scheme scheme,
                                           const char *md, const unsigned char *data, size_t data_len,
                                           const char *text, size_t len, unsigned char **sig, size_t *sig_len,
                                           dcpki_err *err);
/* The RA key on a PKCS#11 token (ra_token.c). _new only parses the URI. */
typedef struct dcpki_ra_token dcpki_ra_token;
dcpki_code dcpki_ra_token_new(const char *uri, dcpki_ra_token **out, dcpki_err *err);
void dcpki_ra_token_free(dcpki_ra_token *t);
/* Let dcpki_ra_token_free leave the token's modules loaded and initialised:
 * when OpenSSL is being torn down (a provider's teardown runs inside
 * OPENSSL_cleanup), a module that uses OpenSSL itself (SoftHSM2) crashes in
 * C_Finalize; pkcs11-provider #723 meets the same. The process is ending. */
void dcpki_ra_token_keep_loaded(dcpki_ra_token *t);
/* 1 unless the identity's TLS credentials are a memory file whose descriptor
 * no longer refers to it (identity.c). */
int dcpki_identity_creds_intact(const dcpki_identity *id);
/* The same for an identity's token (identity.c). */
void dcpki_identity_keep_token_loaded(dcpki_identity *id);
/* As dcpki_identity_sign; verifier (the certificate's public key) checks the result. */
dcpki_code dcpki_ra_token_sign(dcpki_ra_token *t, const struct dcpki_prepared_key *verifier, dcpki_sig_scheme scheme,
                               const char *md, const unsigned char *data, size_t len, unsigned char **sig,
                               size_t *sig_len, dcpki_err *err);
/* r||s (two halves of len) -> DER ECDSA-Sig-Value (OPENSSL_free); 1 or 0. */
int dcpki_ecdsa_raw_to_der(const unsigned char *raw, size_t len, unsigned char **der, size_t *der_len);
/* The OSSL_SIGNATURE_PARAM_* of a scheme (provider-signature(7)): pad mode,
 * digest, and for PSS the MGF1 digest and the salt length. The strings live
 * in the struct, as long as p. _of: MGF1 with md and salt = digest length
 * (what the service and tokens make); _pss: any MGF1 digest and salt length
 * in bytes (DCPKI_PSS_SALT_DIGEST: the digest's). */
typedef struct dcpki_sig_params {
    OSSL_PARAM p[5];
    char md[16], mgf1[16], pad[16], salt[16];
    int salt_len;
} dcpki_sig_params;
void dcpki_sig_params_of(dcpki_sig_params *sp, dcpki_sig_scheme scheme, const char *md);
void dcpki_sig_params_pss(dcpki_sig_params *sp, dcpki_sig_scheme scheme, const char *md, const char *mgf1,
                          int salt_len);
/* The request base + path with the API key, over the transport or through
 * the agent, as dcpki_transport_perform (the agent forwards with this). */
dcpki_code dcpki_signing_forward(dcpki_signing *s, const char *method, const char *path, const char *body,
                                 size_t body_len, int idempotent, dcpki_http_response *r, dcpki_err *err);

/* The printable message of an error body (any bytes), at most n-1 chars. */
void dcpki_signing_error_text(const char *body, size_t len, char *out, size_t n);

/* A sealed in-memory copy of a file that libcurl/GnuTLS opens by name
 * (memfile.c): it stays readable after the process drops privileges and
 * never touches a disk. */
typedef struct dcpki_memfile dcpki_memfile;
/* name is for messages and /proc; DCPKI_E_UNSUPPORTED when the system has no
 * memfd_create or no /proc/self/fd (the caller may fall back to the file). */
dcpki_code dcpki_memfile_new(const char *name, const void *data, size_t len, dcpki_memfile **out, dcpki_err *err);
/* The name to give to GnuTLS: /proc/self/fd/N. */
const char *dcpki_memfile_path(const dcpki_memfile *m);
/* 1 when descriptor N is still this memory file (a host program may close
 * descriptors it did not open, e.g. when it daemonises). */
int dcpki_memfile_intact(const dcpki_memfile *m);
void dcpki_memfile_free(dcpki_memfile *m);

#endif
