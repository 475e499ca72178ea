/* Sessions: C_OpenSession/C_CloseSession/C_CloseAllSessions/C_GetSessionInfo.
 * The table is under the module lock; each session has its own lock so one
 * call at a time runs on a session while other sessions run in parallel. A
 * session closed while another thread still uses it is freed by the last
 * user (reference count). */
#include <stdlib.h>
#include <string.h>
#include "p11.h"

static void session_free(p11_session *s)
{
    p11_find_clear(s);
    p11_sign_op_free(s->sign);
    p11_mutex_free(s->lock);
    free(s);
}

CK_STATE p11_session_state(const p11_module *m, const p11_session *s)
{
    int rw = (s->flags & CKF_RW_SESSION) != 0;
    switch (m->tokens[s->slot].login) {
    case CKU_SO:
        return CKS_RW_SO_FUNCTIONS;
    case CKU_USER:
        return rw ? CKS_RW_USER_FUNCTIONS : CKS_RO_USER_FUNCTIONS;
    default:
        return rw ? CKS_RW_PUBLIC_SESSION : CKS_RO_PUBLIC_SESSION;
    }
}

CK_RV p11_session_get(CK_SESSION_HANDLE h, p11_session **out)
{
    p11_module *m;
    p11_session *s = NULL;
    CK_RV rv = p11_enter();
    if (rv != CKR_OK)
        return rv;
    m = p11_mod;
    p11_lock(m->lock);
    for (size_t i = 0; i < m->n_sessions; i++)
        if (m->sessions[i]->handle == h) {
            s = m->sessions[i];
            s->refs++;
            break;
        }
    p11_unlock(m->lock);
    if (!s)
        return CKR_SESSION_HANDLE_INVALID;
    p11_lock(s->lock);
    if (s->closed) { /* closed while we waited */
        p11_session_put(s);
        return CKR_SESSION_HANDLE_INVALID;
    }
    *out = s;
    return CKR_OK;
}

void p11_session_put(p11_session *s)
{
    p11_module *m = p11_mod;
    int gone;
    p11_unlock(s->lock);
    p11_lock(m->lock);
    gone = --s->refs == 0 && s->closed;
    p11_unlock(m->lock);
    if (gone)
        session_free(s);
}

CK_RV C_OpenSession(CK_SLOT_ID slotID, CK_FLAGS flags, CK_VOID_PTR pApplication, CK_NOTIFY Notify,
                    CK_SESSION_HANDLE_PTR phSession)
{
    p11_module *m;
    p11_session *s;
    p11_token *t;
    CK_RV rv = p11_enter();
    if (rv != CKR_OK)
        return rv;
    if (!p11_slot_valid(slotID))
        return CKR_SLOT_ID_INVALID;
    if (!(flags & CKF_SERIAL_SESSION))
        return CKR_SESSION_PARALLEL_NOT_SUPPORTED;
    if (!phSession)
        return CKR_ARGUMENTS_BAD;
    m = p11_mod;
    t = &m->tokens[slotID];
    if (!(s = calloc(1, sizeof(*s))))
        return CKR_HOST_MEMORY;
    if ((rv = p11_mutex_new(&s->lock)) != CKR_OK) {
        free(s);
        return rv;
    }
    s->slot = slotID;
    s->flags = flags & (CKF_SERIAL_SESSION | CKF_RW_SESSION);

    p11_lock(m->lock);
    if (!(flags & CKF_RW_SESSION) && t->login == CKU_SO) {
        p11_unlock(m->lock);
        session_free(s);
        return CKR_SESSION_READ_WRITE_SO_EXISTS;
    }
    if (m->n_sessions == m->cap_sessions) {
        size_t cap = m->cap_sessions ? m->cap_sessions * 2 : 16;
        p11_session **ns = realloc(m->sessions, cap * sizeof(*ns));
        if (!ns) {
            p11_unlock(m->lock);
            session_free(s);
            return CKR_HOST_MEMORY;
        }
        m->sessions = ns;
        m->cap_sessions = cap;
    }
    s->handle = m->next_session++;
    if (m->next_session == CK_INVALID_HANDLE)
        m->next_session = 1;
    m->sessions[m->n_sessions++] = s;
    t->n_sessions++;
    if (s->flags & CKF_RW_SESSION)
        t->n_rw_sessions++;
    *phSession = s->handle;
    p11_unlock(m->lock);
    return CKR_OK;
}

/* module lock held; returns 1 when the caller must free s (after unlocking) */
static int unlink_session(p11_module *m, size_t i)
{
    p11_session *s = m->sessions[i];
    p11_token *t = &m->tokens[s->slot];
    m->sessions[i] = m->sessions[--m->n_sessions];
    s->closed = 1;
    t->n_sessions--;
    if (s->flags & CKF_RW_SESSION)
        t->n_rw_sessions--;
    if (t->n_sessions == 0) /* the last session ends the login (v2.40 §5.6 C_CloseSession) */
        p11_token_logout(t);
    return s->refs == 0;
}

CK_RV C_CloseSession(CK_SESSION_HANDLE hSession)
{
    p11_module *m;
    p11_session *s = NULL;
    int do_free = 0;
    CK_RV rv = p11_enter();
    if (rv != CKR_OK)
        return rv;
    m = p11_mod;
    p11_lock(m->lock);
    for (size_t i = 0; i < m->n_sessions; i++)
        if (m->sessions[i]->handle == hSession) {
            s = m->sessions[i];
            do_free = unlink_session(m, i);
            break;
        }
    p11_unlock(m->lock);
    if (!s)
        return CKR_SESSION_HANDLE_INVALID;
    if (do_free)
        session_free(s);
    return CKR_OK;
}

CK_RV C_CloseAllSessions(CK_SLOT_ID slotID)
{
    p11_module *m;
    p11_session **gone = NULL;
    size_t n_gone = 0;
    CK_RV rv = p11_enter();
    if (rv != CKR_OK)
        return rv;
    if (!p11_slot_valid(slotID))
        return CKR_SLOT_ID_INVALID;
    m = p11_mod;
    p11_lock(m->lock);
    if (m->n_sessions && !(gone = calloc(m->n_sessions, sizeof(*gone)))) {
        p11_unlock(m->lock);
        return CKR_HOST_MEMORY;
    }
    for (size_t i = 0; i < m->n_sessions;) {
        p11_session *s = m->sessions[i];
        if (s->slot != slotID) {
            i++;
            continue;
        }
        if (unlink_session(m, i))
            gone[n_gone++] = s;
    }
    p11_token_logout(&m->tokens[slotID]);
    p11_unlock(m->lock);
    for (size_t i = 0; i < n_gone; i++)
        session_free(gone[i]);
    free(gone);
    return CKR_OK;
}

CK_RV C_GetSessionInfo(CK_SESSION_HANDLE hSession, CK_SESSION_INFO_PTR pInfo)
{
    p11_session *s;
    CK_RV rv = p11_session_get(hSession, &s);
    if (rv != CKR_OK)
        return rv;
    if (!pInfo) {
        p11_session_put(s);
        return CKR_ARGUMENTS_BAD;
    }
    memset(pInfo, 0, sizeof(*pInfo));
    pInfo->slotID = s->slot;
    pInfo->flags = s->flags;
    pInfo->ulDeviceError = 0;
    p11_lock(p11_mod->lock);
    pInfo->state = p11_session_state(p11_mod, s);
    p11_unlock(p11_mod->lock);
    p11_session_put(s);
    return CKR_OK;
}

void p11_sessions_free_all(p11_module *m)
{
    /* C_Finalize: no other thread may be inside the library any more */
    for (size_t i = 0; i < m->n_sessions; i++)
        session_free(m->sessions[i]);
    free(m->sessions);
    m->sessions = NULL;
    m->n_sessions = m->cap_sessions = 0;
}
