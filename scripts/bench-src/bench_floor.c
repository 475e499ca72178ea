/* The floor of scripts/bench: what any client of the signing service must spend
 * on one remote signature, measured with the same machine, emulator and
 * messages as the dcpki phases beside it.
 *
 *   bench_floor --conf dcpki.conf --alias A [--scheme pkcs1|pss|ecdsa] [--n N] [--rounds R]
 *               [--emu-pids PID,PID...]
 *
 * Reads [signing] url + api_key_file, [ca] trust, [ra] certificate + key (a PEM
 * key file) from dcpki.conf. Set-up (not timed): one libcurl (GnuTLS) easy
 * handle with mutual TLS, the keypair's id and public key from
 * GET keypairs?alias=A, one warm-up request. Timed, per message (bench_message,
 * like the dcpki phases): SHA-256 of the message, the request body
 * {"hash": b64, "sig_alg": ...} with snprintf, POST keypairs/ID/sign on the one
 * kept-alive connection, json-c parse of the answer, base64 decode of
 * "signature", and one verification with the public key (default provider):
 * bare client + JSON + verify. One RESULT line per round (bench_common.h),
 * phase floor_1. */
#define _GNU_SOURCE
#include "bench_common.h"

#include <curl/curl.h>
#include <json-c/json.h>
#include <openssl/err.h>
#include <openssl/x509.h>

struct buf {
    char *p;
    size_t n, cap;
};

static size_t on_data(char *d, size_t sz, size_t nm, void *u)
{
    struct buf *b = u;
    size_t len = sz * nm;
    if (b->n + len + 1 > b->cap) {
        size_t cap = (b->n + len + 1) * 2;
        char *p = realloc(b->p, cap);
        if (p == NULL)
            return 0;
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->n, d, len);
    b->n += len;
    b->p[b->n] = '\0';
    return len;
}

static void die(const char *what)
{
    fprintf(stderr, "bench_floor: %s\n", what);
    ERR_print_errors_fp(stderr);
    exit(1);
}

/* value of key in [section] of an INI file, or NULL (static storage per call site) */
static char *ini(const char *path, const char *section, const char *key)
{
    char line[1024], sec[64] = "";
    FILE *f = fopen(path, "r");
    char *val = NULL;
    if (f == NULL)
        return NULL;
    while (val == NULL && fgets(line, sizeof(line), f) != NULL) {
        char *p = line, *e;
        line[strcspn(line, "\r\n")] = '\0';
        while (*p == ' ' || *p == '\t')
            p++;
        if (*p == '[') {
            snprintf(sec, sizeof(sec), "%.*s", (int)strcspn(p + 1, "]"), p + 1);
            continue;
        }
        if (strcmp(sec, section) != 0 || (e = strchr(p, '=')) == NULL)
            continue;
        char *k = p, *ke = e;
        while (ke > k && (ke[-1] == ' ' || ke[-1] == '\t'))
            ke--;
        if ((size_t)(ke - k) != strlen(key) || strncmp(k, key, strlen(key)) != 0)
            continue;
        e++;
        while (*e == ' ' || *e == '\t')
            e++;
        val = strdup(e);
    }
    fclose(f);
    return val;
}

int main(int argc, char **argv)
{
    const char *conf = NULL, *alias = NULL;
    bench_scheme scheme = BENCH_PKCS1;
    long n = 500;
    int rounds = 3;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--conf") == 0)
            conf = argv[i + 1];
        else if (strcmp(argv[i], "--alias") == 0)
            alias = argv[i + 1];
        else if (strcmp(argv[i], "--scheme") == 0) {
            if (!bench_scheme_parse(argv[i + 1], &scheme))
                die("--scheme is pkcs1, pss or ecdsa");
        } else if (strcmp(argv[i], "--n") == 0)
            n = bench_parse_long(argv[i + 1], "--n", 1, 10000000);
        else if (strcmp(argv[i], "--rounds") == 0)
            rounds = (int)bench_parse_long(argv[i + 1], "--rounds", 1, 1000);
        else if (strcmp(argv[i], "--emu-pids") == 0)
            bench_emu_pids = argv[i + 1];
        else
            die("usage: bench_floor --conf dcpki.conf --alias A [--scheme S] [--n N] [--rounds R] [--emu-pids P]");
    }
    if (conf == NULL || alias == NULL)
        die("--conf and --alias are needed");
    char *url = ini(conf, "signing", "url"), *akf = ini(conf, "signing", "api_key_file");
    char *trust = ini(conf, "ca", "trust"), *cert = ini(conf, "ra", "certificate"), *key = ini(conf, "ra", "key");
    if (!url || !akf || !trust || !cert || !key)
        die("dcpki.conf lacks [signing] url / api_key_file, [ca] trust or [ra] certificate / key");
    char apikey[512], hdr_key[600];
    FILE *f = fopen(akf, "r");
    if (f == NULL || fgets(apikey, sizeof(apikey), f) == NULL)
        die("cannot read the API key file");
    fclose(f);
    apikey[strcspn(apikey, "\r\n")] = '\0';
    snprintf(hdr_key, sizeof(hdr_key), "x-api-key: %s", apikey);

    curl_global_init(CURL_GLOBAL_DEFAULT);
    CURL *h = curl_easy_init();
    struct buf b = { NULL, 0, 0 };
    struct curl_slist *hdrs = NULL;
    hdrs = curl_slist_append(hdrs, hdr_key);
    hdrs = curl_slist_append(hdrs, "Accept: application/json");
    hdrs = curl_slist_append(hdrs, "Content-Type: application/json");
    hdrs = curl_slist_append(hdrs, "Expect:");
    if (h == NULL || hdrs == NULL)
        die("curl set-up failed");
    curl_easy_setopt(h, CURLOPT_CAINFO, trust);
    curl_easy_setopt(h, CURLOPT_SSLCERT, cert);
    curl_easy_setopt(h, CURLOPT_SSLKEY, key);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &b);

    /* the keypair: id and public key */
    char req_url[1024];
    snprintf(req_url, sizeof(req_url), "%s/signingmanager/api/v1/keypairs?alias=%s", url, alias);
    curl_easy_setopt(h, CURLOPT_URL, req_url);
    curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
    if (curl_easy_perform(h) != CURLE_OK)
        die("GET keypairs failed");
    json_object *list = json_tokener_parse(b.p), *items, *kp, *v;
    if (list == NULL || !json_object_object_get_ex(list, "items", &items) || json_object_array_length(items) < 1)
        die("no keypair with that alias");
    kp = json_object_array_get_idx(items, 0);
    char kid[128];
    if (!json_object_object_get_ex(kp, "id", &v))
        die("keypair without id");
    snprintf(kid, sizeof(kid), "%s", json_object_get_string(v));
    if (!json_object_object_get_ex(kp, "public_key", &v))
        die("keypair without public_key");
    const char *pk64 = json_object_get_string(v);
    unsigned char *der = malloc(strlen(pk64));
    int dl = der ? EVP_DecodeBlock(der, (const unsigned char *)pk64, (int)strlen(pk64)) : -1;
    const unsigned char *dp = der;
    EVP_PKEY *pub = dl > 0 ? d2i_PUBKEY_ex(NULL, &dp, dl, NULL, "provider=default") : NULL;
    free(der);
    json_object_put(list);
    if (pub == NULL)
        die("cannot decode the public key");

    snprintf(req_url, sizeof(req_url), "%s/signingmanager/api/v1/keypairs/%s/sign", url, kid);
    curl_easy_setopt(h, CURLOPT_URL, req_url);
    curl_easy_setopt(h, CURLOPT_POST, 1L);
    const char *sig_alg = scheme == BENCH_PKCS1 ? "SHA256WithRSA" : scheme == BENCH_PSS ? "SHA256WithRSA/PSS"
                                                                                        : "SHA256WithECDSA";
    int ok = 1;
    for (int r = 0; r <= rounds && ok; r++) {
        long count = r == 0 ? 1 : n; /* round 0: the warm-up request, not reported */
        bench_mark m = bench_mark_now(NULL);
        for (long i = 0; i < count; i++) {
            unsigned char msg[64], dg[32], sig[1024];
            char b64[64], body[256];
            unsigned int dglen = 0;
            bench_message(msg, BENCH_PHASE(8, r), 0, i);
            if (EVP_Digest(msg, sizeof(msg), dg, &dglen, EVP_sha256(), NULL) != 1)
                die("SHA-256 failed");
            EVP_EncodeBlock((unsigned char *)b64, dg, (int)dglen);
            snprintf(body, sizeof(body), "{\"hash\":\"%s\",\"sig_alg\":\"%s\"}", b64, sig_alg);
            curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
            b.n = 0;
            long status = 0;
            if (curl_easy_perform(h) != CURLE_OK ||
                curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status) != CURLE_OK || status != 200)
                die("POST sign failed");
            json_object *o = json_tokener_parse(b.p);
            if (o == NULL || !json_object_object_get_ex(o, "signature", &v))
                die("the answer has no signature");
            const char *s64 = json_object_get_string(v);
            size_t l64 = (size_t)json_object_get_string_len(v);
            int sl = l64 <= 4 * sizeof(sig) / 3 ? EVP_DecodeBlock(sig, (const unsigned char *)s64, (int)l64) : -1;
            while (sl > 0 && l64 > 0 && s64[l64 - 1] == '=') {
                l64--;
                sl--;
            }
            json_object_put(o);
            EVP_PKEY_CTX *pctx = EVP_PKEY_CTX_new_from_pkey(NULL, pub, "provider=default");
            if (sl <= 0 || pctx == NULL || EVP_PKEY_verify_init(pctx) != 1 || !bench_scheme_params(pctx, scheme) ||
                EVP_PKEY_CTX_set_signature_md(pctx, EVP_sha256()) != 1 ||
                EVP_PKEY_verify(pctx, sig, (size_t)sl, dg, dglen) != 1) {
                ok = 0;
                fprintf(stderr, "bench_floor: signature %ld does not verify\n", i);
            }
            EVP_PKEY_CTX_free(pctx);
            if (!ok)
                break;
        }
        if (r > 0)
            bench_report("floor_1", n, 1, r, &m, NULL);
    }
    curl_easy_cleanup(h);
    curl_slist_free_all(hdrs);
    curl_global_cleanup();
    free(b.p);
    EVP_PKEY_free(pub);
    free(url);
    free(akf);
    free(trust);
    free(cert);
    free(key);
    return ok ? 0 : 1;
}
