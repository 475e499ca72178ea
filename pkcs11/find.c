/* C_FindObjectsInit/C_FindObjects/C_FindObjectsFinal. The first search on a
 * token loads its objects (p11_token_load); a load failure is
 * CKR_DEVICE_ERROR with the reason logged. The matching handles are taken
 * at C_FindObjectsInit; an attribute matches when the object has it (not
 * sensitive) with exactly the template's bytes. Private objects are found
 * only while the user is logged in. */
#include <stdlib.h>
#include <string.h>
#include "p11.h"

void p11_find_clear(p11_session *s)
{
    free(s->found);
    s->found = NULL;
    s->n_found = s->find_pos = 0;
    s->find_active = 0;
}

static int matches(const p11_object *o, const CK_ATTRIBUTE *tmpl, CK_ULONG n)
{
    for (CK_ULONG i = 0; i < n; i++) {
        const p11_attr *a = p11_attrs_find(&o->attrs, tmpl[i].type);
        if (!a || a->sensitive || a->len != tmpl[i].ulValueLen)
            return 0;
        if (a->len && (!tmpl[i].pValue || memcmp(a->val, tmpl[i].pValue, a->len) != 0))
            return 0;
    }
    return 1;
}

CK_RV C_FindObjectsInit(CK_SESSION_HANDLE hSession, CK_ATTRIBUTE_PTR pTemplate, CK_ULONG ulCount)
{
    p11_session *s;
    p11_module *m;
    p11_token *t;
    CK_RV rv = p11_session_get(hSession, &s);
    if (rv != CKR_OK)
        return rv;
    m = p11_mod;
    if (!pTemplate && ulCount > 0) {
        rv = CKR_ARGUMENTS_BAD;
        goto out;
    }
    if (s->find_active) {
        rv = CKR_OPERATION_ACTIVE;
        goto out;
    }
    if ((rv = p11_token_load(m, s->slot)) != CKR_OK)
        goto out;
    t = &m->tokens[s->slot];
    /* loaded objects never change until C_Finalize */
    if (t->n_objs && !(s->found = calloc(t->n_objs, sizeof(*s->found)))) {
        rv = CKR_HOST_MEMORY;
        goto out;
    }
    /* private objects only while the user is logged in (v2.40 §4.4, CKA_PRIVATE) */
    p11_lock(m->lock);
    for (size_t i = 0; i < t->n_objs; i++)
        if (p11_object_visible(t, t->objs[i]) && matches(t->objs[i], pTemplate, ulCount))
            s->found[s->n_found++] = p11_object_handle(t, t->objs[i]);
    p11_unlock(m->lock);
    s->find_pos = 0;
    s->find_active = 1;
out:
    p11_session_put(s);
    return rv;
}

CK_RV C_FindObjects(CK_SESSION_HANDLE hSession, CK_OBJECT_HANDLE_PTR phObject,
                    CK_ULONG ulMaxObjectCount, CK_ULONG_PTR pulObjectCount)
{
    p11_session *s;
    CK_ULONG n = 0;
    CK_RV rv = p11_session_get(hSession, &s);
    if (rv != CKR_OK)
        return rv;
    if (!pulObjectCount || (!phObject && ulMaxObjectCount > 0)) {
        rv = CKR_ARGUMENTS_BAD;
    } else if (!s->find_active) {
        rv = CKR_OPERATION_NOT_INITIALIZED;
    } else {
        while (n < ulMaxObjectCount && s->find_pos < s->n_found)
            phObject[n++] = s->found[s->find_pos++];
        *pulObjectCount = n;
    }
    p11_session_put(s);
    return rv;
}

CK_RV C_FindObjectsFinal(CK_SESSION_HANDLE hSession)
{
    p11_session *s;
    CK_RV rv = p11_session_get(hSession, &s);
    if (rv != CKR_OK)
        return rv;
    if (!s->find_active)
        rv = CKR_OPERATION_NOT_INITIALIZED;
    else
        p11_find_clear(s);
    p11_session_put(s);
    return rv;
}
