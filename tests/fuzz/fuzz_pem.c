/* libFuzzer harness for the RA identity files (PEM / DER certificate and key,
 * PKCS#12), through the public dcpki_identity_load on temporary files named
 * in a [ra] section. -DFUZZ_IDENTITY. The first byte of the input picks the
 * form, the rest is the file content:
 *   0  [ra] certificate = FILE (the key in the same file)
 *   1  [ra] certificate = FILE1, key = FILE2: the content split at the first
 *      "\n%%\n" (FILE2 empty when there is none)
 *   2  [ra] pkcs12 = FILE, pkcs12_password_file holding "fuzz"
 *   3  [ra] pkcs12 = FILE without a password file
 * A loaded identity must have a certificate whose thumbprint is its SHA-1 and
 * a local private key that belongs to it. */
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "dcpki/config.h"
#include "dcpki/identity.h"
#include "dcpki/thumbprint.h"
#include "fuzz.h"

#define SEP "\n%%\n"

static char dir[512], f_cert[600], f_key[600], f_pass[600];
static dcpki_config *cfgs[4];

static void cleanup(void)
{
    for (int i = 0; i < 4; i++)
        dcpki_config_free(cfgs[i]);
    unlink(f_cert);
    unlink(f_key);
    unlink(f_pass);
    rmdir(dir);
}

static void put_file(const char *path, const uint8_t *d, size_t n)
{
    FILE *f = fopen(path, "wb");
    if (!f || (n && fwrite(d, 1, n, f) != n) || fclose(f) != 0)
        abort();
}

static void init(void)
{
    if (cfgs[0])
        return;
    const char *tmp = getenv("TMPDIR");
    snprintf(dir, sizeof(dir), "%s/dcpki-fuzz-XXXXXX", tmp && *tmp && strlen(tmp) < 400 ? tmp : "/tmp");
    if (!mkdtemp(dir))
        abort();
    snprintf(f_cert, sizeof(f_cert), "%s/ra.pem", dir);
    snprintf(f_key, sizeof(f_key), "%s/ra.key", dir);
    snprintf(f_pass, sizeof(f_pass), "%s/pass", dir);
    put_file(f_pass, (const uint8_t *)"fuzz\n", 5);
    char text[4][2048];
    snprintf(text[0], sizeof(text[0]), "[ra]\ncertificate = %s\n", f_cert);
    snprintf(text[1], sizeof(text[1]), "[ra]\ncertificate = %s\nkey = %s\n", f_cert, f_key);
    snprintf(text[2], sizeof(text[2]), "[ra]\npkcs12 = %s\npkcs12_password_file = %s\n", f_cert, f_pass);
    snprintf(text[3], sizeof(text[3]), "[ra]\npkcs12 = %s\n", f_cert);
    for (int i = 0; i < 4; i++) {
        dcpki_err err;
        if (dcpki_config_parse(text[i], strlen(text[i]), "fuzz.conf", &cfgs[i], &err) != DCPKI_OK) {
            fprintf(stderr, "fuzz config %d: %s\n", i, err.detail);
            abort();
        }
    }
    atexit(cleanup);
}

static const uint8_t *find(const uint8_t *d, size_t n, const char *needle)
{
    size_t k = strlen(needle);
    for (size_t i = 0; i + k <= n; i++)
        if (memcmp(d + i, needle, k) == 0)
            return d + i;
    return NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
#if defined(FUZZ_IDENTITY)
    init();
    if (size < 1)
        return 0;
    int mode = data[0] % 4;
    const uint8_t *d = data + 1;
    size_t n = size - 1;
    if (mode == 1) {
        const uint8_t *sep = find(d, n, SEP);
        size_t first = sep ? (size_t)(sep - d) : n;
        size_t rest = sep ? n - first - strlen(SEP) : 0;
        put_file(f_cert, d, first);
        put_file(f_key, sep ? sep + strlen(SEP) : d, rest);
    } else {
        put_file(f_cert, d, n);
    }
    dcpki_identity *id = NULL;
    dcpki_err err;
    dcpki_code rc = dcpki_identity_load(cfgs[mode], NULL, &id, &err);
    if (rc != DCPKI_OK) {
        fuzz_check_err(&err, rc);
        FUZZ_ASSERT(id == NULL);
        return 0;
    }
    X509 *cert = dcpki_identity_cert(id);
    /* a local key that matched the certificate at load, kept ready to sign */
    FUZZ_ASSERT(cert != NULL && dcpki_identity_signing_key(id) != NULL);
    FUZZ_ASSERT(EVP_PKEY_eq(dcpki_identity_public_key(id), X509_get0_pubkey(cert)) == 1);
    unsigned char tp[DCPKI_THUMBPRINT_LEN], sha1[EVP_MAX_MD_SIZE];
    unsigned int sl = 0;
    dcpki_identity_thumbprint(id, tp);
    FUZZ_ASSERT(X509_digest(cert, EVP_sha1(), sha1, &sl) == 1 && sl == DCPKI_THUMBPRINT_LEN);
    FUZZ_ASSERT(memcmp(tp, sha1, sl) == 0);
    FUZZ_ASSERT(dcpki_identity_cert_source(id) != NULL && dcpki_identity_key_source(id) != NULL);
    dcpki_tls_client_creds creds;
    dcpki_identity_tls_creds(id, &creds);
    FUZZ_ASSERT(creds.cert_path != NULL && creds.key_path != NULL);
    dcpki_identity_free(id);
#else
#error "define one FUZZ_* target"
#endif
    return 0;
}
