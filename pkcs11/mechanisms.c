/* The module's mechanisms, in one table read by C_GetMechanismList,
 * C_GetMechanismInfo, CKA_ALLOWED_MECHANISMS and C_SignInit. */
#include <string.h>
#include "p11.h"

#define RSA_FLAGS CKF_SIGN
/* PKCS#11 v2.40 §2.3.6: the curves are named, over a prime field, and the
 * public points uncompressed */
#define EC_FLAGS (CKF_SIGN | CKF_EC_F_P | CKF_EC_NAMEDCURVE | CKF_EC_UNCOMPRESS)

static const p11_mech mechs[] = {
    /* RSA first: C_GetMechanismList lists them in this order */
    { CKM_RSA_PKCS, CKK_RSA, DCPKI_SIG_RSA_RAW, NULL, 1024, 16384, RSA_FLAGS },
    { CKM_SHA256_RSA_PKCS, CKK_RSA, DCPKI_SIG_RSA_PKCS1, "SHA256", 1024, 16384, RSA_FLAGS },
    { CKM_SHA384_RSA_PKCS, CKK_RSA, DCPKI_SIG_RSA_PKCS1, "SHA384", 1024, 16384, RSA_FLAGS },
    { CKM_SHA512_RSA_PKCS, CKK_RSA, DCPKI_SIG_RSA_PKCS1, "SHA512", 1024, 16384, RSA_FLAGS },
    { CKM_RSA_PKCS_PSS, CKK_RSA, DCPKI_SIG_RSA_PSS, NULL, 1024, 16384, RSA_FLAGS },
    { CKM_SHA256_RSA_PKCS_PSS, CKK_RSA, DCPKI_SIG_RSA_PSS, "SHA256", 1024, 16384, RSA_FLAGS },
    { CKM_SHA384_RSA_PKCS_PSS, CKK_RSA, DCPKI_SIG_RSA_PSS, "SHA384", 1024, 16384, RSA_FLAGS },
    { CKM_SHA512_RSA_PKCS_PSS, CKK_RSA, DCPKI_SIG_RSA_PSS, "SHA512", 1024, 16384, RSA_FLAGS },
    { CKM_ECDSA, CKK_EC, DCPKI_SIG_ECDSA, NULL, 256, 521, EC_FLAGS },
    { CKM_ECDSA_SHA256, CKK_EC, DCPKI_SIG_ECDSA, "SHA256", 256, 521, EC_FLAGS },
    { CKM_ECDSA_SHA384, CKK_EC, DCPKI_SIG_ECDSA, "SHA384", 256, 521, EC_FLAGS },
    { CKM_ECDSA_SHA512, CKK_EC, DCPKI_SIG_ECDSA, "SHA512", 256, 521, EC_FLAGS },
};
#define N_MECHS (sizeof(mechs) / sizeof(mechs[0]))

const p11_mech *p11_mech_find(CK_MECHANISM_TYPE type)
{
    for (size_t i = 0; i < N_MECHS; i++)
        if (mechs[i].type == type)
            return &mechs[i];
    return NULL;
}

size_t p11_mech_list(CK_KEY_TYPE kt, CK_MECHANISM_TYPE *out, size_t room)
{
    size_t n = 0;
    for (size_t i = 0; i < N_MECHS; i++)
        if (kt == (CK_KEY_TYPE)-1 || mechs[i].key_type == kt) {
            if (out && n < room)
                out[n] = mechs[i].type;
            n++;
        }
    return n;
}

const char *p11_mech_hash_name(CK_MECHANISM_TYPE hash)
{
    switch (hash) {
    case CKM_SHA256: return "SHA256";
    case CKM_SHA384: return "SHA384";
    case CKM_SHA512: return "SHA512";
    default: return NULL;
    }
}

const char *p11_mech_mgf_name(CK_RSA_PKCS_MGF_TYPE mgf)
{
    switch (mgf) {
    case CKG_MGF1_SHA256: return "SHA256";
    case CKG_MGF1_SHA384: return "SHA384";
    case CKG_MGF1_SHA512: return "SHA512";
    default: return NULL;
    }
}
