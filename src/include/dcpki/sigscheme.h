/* The signature schemes every dcpki signer (the signing service, the RA key
 * local or on a token) speaks. */
#ifndef DCPKI_SIGSCHEME_H
#define DCPKI_SIGSCHEME_H
typedef enum {
    DCPKI_SIG_RSA_PKCS1 = 1, /* PKCS#1 v1.5 over a digest: SHA*WithRSA */
    DCPKI_SIG_RSA_PSS,       /* PSS, MGF1 with the same hash, salt = digest length: SHA*WithRSA/PSS */
    DCPKI_SIG_ECDSA,         /* SHA*WithECDSA; signature returned DER-encoded */
    DCPKI_SIG_RSA_RAW        /* NONEWithRSA: PKCS#1 v1.5 type 1 over caller's DigestInfo */
} dcpki_sig_scheme;
#endif
