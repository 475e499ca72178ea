/* Private helpers shared by the core's source files (not installed, not part
 * of the public API). */
#ifndef DCPKI_CORE_INTERNAL_H
#define DCPKI_CORE_INTERNAL_H
#include <stddef.h>
#include <stdint.h>
#include "dcpki/error.h"

/* strdup that returns NULL for NULL input. */
char *dcpki_strdup0(const char *s);
/* asprintf-like; NULL on failure. */
char *dcpki_strfmt(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Base64 (RFC 4648, with padding) through OpenSSL's EVP_EncodeBlock/DecodeBlock.
 * Decoding tolerates surrounding whitespace and embedded line breaks. Results
 * are malloc'ed (OPENSSL_malloc / OPENSSL_free). */
char *dcpki_b64_encode(const unsigned char *data, size_t len);
int dcpki_b64_decode(const char *text, unsigned char **out, size_t *out_len);

/* Read a whole file (at most max bytes). On failure returns -1 and errno is set
 * (EFBIG when larger than max). *data is NUL-terminated; free with free(). */
int dcpki_read_file(const char *path, size_t max, unsigned char **data, size_t *len);

/* strerror with a lower-case first letter ("permission denied"), thread-safe. */
const char *dcpki_strerror(int errnum, char *buf, size_t n);

/* Monotonic milliseconds. */
int64_t dcpki_now_ms(void);
void dcpki_sleep_ms(int64_t ms);

#endif
