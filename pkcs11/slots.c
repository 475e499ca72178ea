/* Slots and tokens: slot 0 holds "dcpki RA", slot 1 "dcpki signing"; both
 * always present (their objects load at first need, so a service that is down
 * never hides a token). Mechanism lists and information. */
#include <string.h>
#include "p11.h"

/* RSA mechanisms first, then ECDSA (p11_key_mechanisms hands out the halves) */
static const CK_MECHANISM_TYPE mechanisms[] = {
    CKM_RSA_PKCS, CKM_SHA256_RSA_PKCS, CKM_SHA384_RSA_PKCS, CKM_SHA512_RSA_PKCS,
    CKM_RSA_PKCS_PSS, CKM_SHA256_RSA_PKCS_PSS, CKM_SHA384_RSA_PKCS_PSS, CKM_SHA512_RSA_PKCS_PSS,
    CKM_ECDSA, CKM_ECDSA_SHA256, CKM_ECDSA_SHA384, CKM_ECDSA_SHA512,
};
#define N_MECHS (sizeof(mechanisms) / sizeof(mechanisms[0]))
#define N_RSA_MECHS 8

const CK_MECHANISM_TYPE *p11_key_mechanisms(CK_KEY_TYPE kt, size_t *n)
{
    *n = kt == CKK_RSA ? N_RSA_MECHS : N_MECHS - N_RSA_MECHS;
    return kt == CKK_RSA ? mechanisms : mechanisms + N_RSA_MECHS;
}

int p11_slot_valid(CK_SLOT_ID id)
{
    return id < P11_NSLOTS;
}

static const char *token_label(CK_SLOT_ID id)
{
    return id == P11_SLOT_RA ? "dcpki RA" : "dcpki signing";
}

CK_RV C_GetSlotList(CK_BBOOL tokenPresent, CK_SLOT_ID_PTR pSlotList, CK_ULONG_PTR pulCount)
{
    CK_RV rv = p11_enter();
    if (rv != CKR_OK)
        return rv;
    if (!pulCount)
        return CKR_ARGUMENTS_BAD;
    if (!pSlotList) {
        *pulCount = P11_NSLOTS;
        return CKR_OK;
    }
    if (*pulCount < P11_NSLOTS) {
        *pulCount = P11_NSLOTS;
        return CKR_BUFFER_TOO_SMALL;
    }
    for (CK_ULONG i = 0; i < P11_NSLOTS; i++)
        pSlotList[i] = i;
    *pulCount = P11_NSLOTS;
    return CKR_OK;
}

CK_RV C_GetSlotInfo(CK_SLOT_ID slotID, CK_SLOT_INFO_PTR pInfo)
{
    CK_RV rv = p11_enter();
    if (rv != CKR_OK)
        return rv;
    if (!p11_slot_valid(slotID))
        return CKR_SLOT_ID_INVALID;
    if (!pInfo)
        return CKR_ARGUMENTS_BAD;
    memset(pInfo, 0, sizeof(*pInfo));
    p11_pad(pInfo->slotDescription, sizeof(pInfo->slotDescription),
            slotID == P11_SLOT_RA ? "dcpki RA identity" : "dcpki remote signing service");
    p11_pad(pInfo->manufacturerID, sizeof(pInfo->manufacturerID), "dcpki");
    pInfo->flags = CKF_TOKEN_PRESENT;
    pInfo->hardwareVersion.major = 0;
    pInfo->hardwareVersion.minor = 1;
    pInfo->firmwareVersion.major = 0;
    pInfo->firmwareVersion.minor = 1;
    return CKR_OK;
}

CK_RV C_GetTokenInfo(CK_SLOT_ID slotID, CK_TOKEN_INFO_PTR pInfo)
{
    p11_token *t;
    CK_RV rv = p11_enter();
    if (rv != CKR_OK)
        return rv;
    if (!p11_slot_valid(slotID))
        return CKR_SLOT_ID_INVALID;
    if (!pInfo)
        return CKR_ARGUMENTS_BAD;
    memset(pInfo, 0, sizeof(*pInfo));
    p11_pad(pInfo->label, sizeof(pInfo->label), token_label(slotID));
    p11_pad(pInfo->manufacturerID, sizeof(pInfo->manufacturerID), "dcpki");
    p11_pad(pInfo->model, sizeof(pInfo->model), slotID == P11_SLOT_RA ? "RA identity" : "remote keys");
    /* unique per RA identity and signing account, stable across runs (token.c) */
    p11_token_serial(p11_mod, slotID, pInfo->serialNumber);
    /* Objects are never created, changed or deleted, and no PIN can be set:
     * CKF_WRITE_PROTECTED (v2.40 §3.2 leaves its exact meaning to the token;
     * R/W sessions may still be opened, as some consumers open them). With
     * [pkcs11] pin_file the private keys need the user's login. */
    pInfo->flags = CKF_TOKEN_INITIALIZED | CKF_WRITE_PROTECTED;
    if (p11_pin_required(p11_mod)) {
        pInfo->flags |= CKF_LOGIN_REQUIRED | CKF_USER_PIN_INITIALIZED;
        pInfo->ulMaxPinLen = DCPKI_PIN_MAX;
        pInfo->ulMinPinLen = 1;
    }
    pInfo->ulMaxSessionCount = CK_EFFECTIVELY_INFINITE;
    pInfo->ulMaxRwSessionCount = CK_EFFECTIVELY_INFINITE;
    pInfo->ulTotalPublicMemory = CK_UNAVAILABLE_INFORMATION;
    pInfo->ulFreePublicMemory = CK_UNAVAILABLE_INFORMATION;
    pInfo->ulTotalPrivateMemory = CK_UNAVAILABLE_INFORMATION;
    pInfo->ulFreePrivateMemory = CK_UNAVAILABLE_INFORMATION;
    pInfo->hardwareVersion.major = 0;
    pInfo->hardwareVersion.minor = 1;
    pInfo->firmwareVersion.major = 0;
    pInfo->firmwareVersion.minor = 1;
    p11_pad(pInfo->utcTime, sizeof(pInfo->utcTime), "");
    t = &p11_mod->tokens[slotID];
    p11_lock(p11_mod->lock);
    pInfo->ulSessionCount = t->n_sessions;
    pInfo->ulRwSessionCount = t->n_rw_sessions;
    p11_unlock(p11_mod->lock);
    return CKR_OK;
}

CK_RV C_GetMechanismList(CK_SLOT_ID slotID, CK_MECHANISM_TYPE_PTR pMechanismList,
                         CK_ULONG_PTR pulCount)
{
    CK_RV rv = p11_enter();
    if (rv != CKR_OK)
        return rv;
    if (!p11_slot_valid(slotID))
        return CKR_SLOT_ID_INVALID;
    if (!pulCount)
        return CKR_ARGUMENTS_BAD;
    if (!pMechanismList) {
        *pulCount = N_MECHS;
        return CKR_OK;
    }
    if (*pulCount < N_MECHS) {
        *pulCount = N_MECHS;
        return CKR_BUFFER_TOO_SMALL;
    }
    memcpy(pMechanismList, mechanisms, sizeof(mechanisms));
    *pulCount = N_MECHS;
    return CKR_OK;
}

CK_RV C_GetMechanismInfo(CK_SLOT_ID slotID, CK_MECHANISM_TYPE type, CK_MECHANISM_INFO_PTR pInfo)
{
    size_t i;
    CK_RV rv = p11_enter();
    if (rv != CKR_OK)
        return rv;
    if (!p11_slot_valid(slotID))
        return CKR_SLOT_ID_INVALID;
    if (!pInfo)
        return CKR_ARGUMENTS_BAD;
    for (i = 0; i < N_MECHS && mechanisms[i] != type; i++)
        ;
    if (i == N_MECHS)
        return CKR_MECHANISM_INVALID;
    memset(pInfo, 0, sizeof(*pInfo));
    if (i >= N_RSA_MECHS) { /* ECDSA */
        pInfo->ulMinKeySize = 256;
        pInfo->ulMaxKeySize = 521;
        pInfo->flags = CKF_SIGN | CKF_EC_F_P | CKF_EC_NAMEDCURVE | CKF_EC_UNCOMPRESS;
    } else {
        pInfo->ulMinKeySize = 1024;
        pInfo->ulMaxKeySize = 16384;
        pInfo->flags = CKF_SIGN;
    }
    /* the signing token's keys sign in the service's HSM */
    if (slotID == P11_SLOT_SIGNING)
        pInfo->flags |= CKF_HW;
    return CKR_OK;
}
