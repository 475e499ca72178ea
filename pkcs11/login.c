/* C_Login/C_Logout. dcpki.conf configures no PIN, so the tokens do not set
 * CKF_LOGIN_REQUIRED and every object is public (CKA_PRIVATE false); a
 * consumer that logs in anyway gets the standard state machine (login state
 * shared by all sessions of the token, ended by C_Logout or by closing its
 * last session) with any PIN accepted: there is none to check. */
#include "p11.h"

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
    if (!pPin && ulPinLen > 0) {
        p11_session_put(s);
        return CKR_ARGUMENTS_BAD;
    }
    t = &m->tokens[s->slot];
    p11_lock(m->lock);
    switch (userType) {
    case CKU_USER:
    case CKU_SO:
        if (t->login == userType)
            rv = CKR_USER_ALREADY_LOGGED_IN;
        else if (t->login != P11_NOBODY)
            rv = CKR_USER_ANOTHER_ALREADY_LOGGED_IN;
        else if (userType == CKU_SO && t->n_sessions != t->n_rw_sessions)
            rv = CKR_SESSION_READ_ONLY_EXISTS;
        else
            t->login = userType;
        break;
    case CKU_CONTEXT_SPECIFIC:
        /* no key has CKA_ALWAYS_AUTHENTICATE; allowed right after C_SignInit */
        rv = s->sign ? CKR_OK : CKR_OPERATION_NOT_INITIALIZED;
        break;
    default:
        rv = CKR_USER_TYPE_INVALID;
        break;
    }
    p11_unlock(m->lock);
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
        rv = CKR_USER_NOT_LOGGED_IN;
    else
        m->tokens[s->slot].login = P11_NOBODY;
    p11_unlock(m->lock);
    p11_session_put(s);
    return rv;
}
