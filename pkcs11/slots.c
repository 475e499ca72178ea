/* Slots and tokens: slot 0 holds "dcpki RA", slot 1 "dcpki signing"; both
 * always present (their objects load at first need, so a service that is down
 * never hides a token). Mechanism lists and information (from mechanisms.c). */
#include <string.h>
#include "p11.h"

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
    size_t n;
    CK_RV rv = p11_enter();
    if (rv != CKR_OK)
        return rv;
    if (!p11_slot_valid(slotID))
        return CKR_SLOT_ID_INVALID;
    if (!pulCount)
        return CKR_ARGUMENTS_BAD;
    n = p11_mech_list((CK_KEY_TYPE)-1, NULL, 0);
    if (pMechanismList && *pulCount < n)
        rv = CKR_BUFFER_TOO_SMALL;
    else if (pMechanismList)
        p11_mech_list((CK_KEY_TYPE)-1, pMechanismList, n);
    *pulCount = n;
    return rv;
}

CK_RV C_GetMechanismInfo(CK_SLOT_ID slotID, CK_MECHANISM_TYPE type, CK_MECHANISM_INFO_PTR pInfo)
{
    const p11_mech *d;
    CK_RV rv = p11_enter();
    if (rv != CKR_OK)
        return rv;
    if (!p11_slot_valid(slotID))
        return CKR_SLOT_ID_INVALID;
    if (!pInfo)
        return CKR_ARGUMENTS_BAD;
    if (!(d = p11_mech_find(type)))
        return CKR_MECHANISM_INVALID;
    memset(pInfo, 0, sizeof(*pInfo));
    pInfo->ulMinKeySize = d->min_bits;
    pInfo->ulMaxKeySize = d->max_bits;
    pInfo->flags = d->flags;
    /* the signing token's keys sign in the service's HSM */
    if (slotID == P11_SLOT_SIGNING)
        pInfo->flags |= CKF_HW;
    return CKR_OK;
}
