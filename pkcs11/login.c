/* C_Login/C_Logout/C_InitPIN/C_SetPIN (PKCS#11 v2.40 §5.5, §5.6).
 *
 * With [pkcs11] pin_file the tokens have CKF_LOGIN_REQUIRED and
 * CKF_USER_PIN_INITIALIZED; the user PIN is the file's first line, read at
 * each C_Login (a changed file takes effect without a restart) and compared
 * in constant time. The private keys are private objects: not found, not
 * usable before C_Login(CKU_USER). Login state is per token and shared by
 * all the application's sessions with it; it ends with C_Logout or when the
 * last session with the token closes (§5.6 C_CloseSession/C_CloseAllSessions).
 *
 * Without a PIN nothing is private and the tokens say no login is required;
 * their user PIN was never initialised, so C_Login(CKU_USER) answers
 * CKR_USER_PIN_NOT_INITIALIZED, the code §5.1 defines for exactly that
 * ("can only be returned by C_Login ... the normal user's PIN has not yet been
 * initialized"), and pkcs11-tool --login reports it instead of pretending a
 * PIN was checked.
 *
 * There is no SO PIN: the tokens are read-only (CKF_WRITE_PROTECTED) and
 * nothing an SO could do is offered. C_Login(CKU_SO) first gets the state
 * errors §5.6 prescribes (CKR_SESSION_READ_ONLY_EXISTS while a R/O session is
 * open, CKR_USER_ANOTHER_ALREADY_LOGGED_IN while the user is), then
 * CKR_PIN_INCORRECT: no PIN matches an SO PIN that does not exist
 * (CKR_USER_TYPE_INVALID would be wrong, §5.1 names CKU_SO a valid type). */
#include "p11.h"

static const char *label_of(CK_SLOT_ID slot)
{
    return slot == P11_SLOT_RA ? "dcpki RA" : "dcpki signing";
}

CK_RV C_Login(CK_SESSION_HANDLE hSession, CK_USER_TYPE userType, CK_UTF8CHAR_PTR pPin,
              CK_ULONG ulPinLen)
{
    p11_session *s;
    p11_module *m;
    p11_token *t;
    CK_RV rv = p11_session_get(hSession, &s);
    if (rv != CKR_OK)
        return rv;
    m = p11_mod;
    t = &m->tokens[s->slot];
    if (!pPin && ulPinLen > 0) {
        rv = CKR_ARGUMENTS_BAD;
        goto out;
    }
    if (userType != CKU_USER && userType != CKU_SO && userType != CKU_CONTEXT_SPECIFIC) {
        rv = CKR_USER_TYPE_INVALID;
        goto out;
    }
    if (userType == CKU_CONTEXT_SPECIFIC) {
        /* no key has CKA_ALWAYS_AUTHENTICATE; allowed right after C_SignInit,
         * checking the PIN when there is one */
        if (!s->sign)
            rv = CKR_OPERATION_NOT_INITIALIZED;
        else if (p11_pin_required(m) && (rv = p11_pin_check(m, pPin, ulPinLen)) == CKR_PIN_INCORRECT)
            p11_logf("C_Login (context specific) on \"%s\": wrong PIN", label_of(s->slot));
        goto out;
    }

    p11_lock(m->lock);
    if (t->login == userType)
        rv = CKR_USER_ALREADY_LOGGED_IN;
    else if (t->login != P11_NOBODY)
        rv = CKR_USER_ANOTHER_ALREADY_LOGGED_IN;
    else if (userType == CKU_SO && t->n_sessions != t->n_rw_sessions)
        rv = CKR_SESSION_READ_ONLY_EXISTS;
    p11_unlock(m->lock);
    if (rv != CKR_OK)
        goto out;

    if (userType == CKU_SO) {
        p11_logf("C_Login on \"%s\": the dcpki tokens have no security officer PIN",
                 label_of(s->slot));
        rv = CKR_PIN_INCORRECT;
        goto out;
    }
    if (!p11_pin_required(m)) {
        p11_logf("C_Login on \"%s\": no PIN is configured ([pkcs11] pin_file), no login is needed",
                 label_of(s->slot));
        rv = CKR_USER_PIN_NOT_INITIALIZED;
        goto out;
    }
    if ((rv = p11_pin_check(m, pPin, ulPinLen)) != CKR_OK) {
        if (rv == CKR_PIN_INCORRECT)
            p11_logf("C_Login on \"%s\": wrong PIN", label_of(s->slot));
        goto out;
    }
    /* another session of the application may have logged in meanwhile */
    p11_lock(m->lock);
    if (t->login == P11_NOBODY)
        t->login = CKU_USER;
    else
        rv = t->login == CKU_USER ? CKR_USER_ALREADY_LOGGED_IN : CKR_USER_ANOTHER_ALREADY_LOGGED_IN;
    p11_unlock(m->lock);
out:
    p11_session_put(s);
    return rv;
}

CK_RV C_Logout(CK_SESSION_HANDLE hSession)
{
    p11_session *s;
    p11_module *m;
    CK_RV rv = p11_session_get(hSession, &s);
    if (rv != CKR_OK)
        return rv;
    m = p11_mod;
    p11_lock(m->lock);
    if (m->tokens[s->slot].login == P11_NOBODY)
        rv = CKR_USER_NOT_LOGGED_IN; /* §5.1: "a session cannot be logged out unless it is logged in" */
    else
        p11_token_logout(&m->tokens[s->slot]);
    p11_unlock(m->lock);
    p11_session_put(s);
    return rv;
}

/* The tokens are write-protected (CKF_WRITE_PROTECTED): no PIN can be set
 * through PKCS#11 (the PIN is [pkcs11] pin_file). CKR_TOKEN_WRITE_PROTECTED
 * is among both functions' return values (§5.5) and outranks
 * CKR_SESSION_READ_ONLY (§5.1); a bad session handle comes first. */
static CK_RV write_protected(CK_SESSION_HANDLE hSession)
{
    p11_session *s;
    CK_RV rv = p11_session_get(hSession, &s);
    if (rv != CKR_OK)
        return rv;
    p11_session_put(s);
    return CKR_TOKEN_WRITE_PROTECTED;
}

CK_RV C_InitPIN(CK_SESSION_HANDLE hSession, CK_UTF8CHAR_PTR pPin, CK_ULONG ulPinLen)
{
    (void)pPin;
    (void)ulPinLen;
    return write_protected(hSession);
}

CK_RV C_SetPIN(CK_SESSION_HANDLE hSession, CK_UTF8CHAR_PTR pOldPin, CK_ULONG ulOldLen,
               CK_UTF8CHAR_PTR pNewPin, CK_ULONG ulNewLen)
{
    (void)pOldPin;
    (void)ulOldLen;
    (void)pNewPin;
    (void)ulNewLen;
    return write_protected(hSession);
}
