/* Module life cycle: C_Initialize/C_Finalize (CK_C_INITIALIZE_ARGS, locking
 * callbacks or OS locking, fork detection), C_GetInfo, the function list and
 * the PKCS#11 3.0 interface entry points (C_GetInterfaceList/C_GetInterface,
 * offering the v2.40 list, so a dependency's C_GetInterface is never picked
 * up by dlsym on this module). */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <openssl/evp.h>
#include <openssl/provider.h>
#include "dcpki/fork.h"
#include "dcpki/ossl.h"
#include "p11.h"

p11_module *p11_mod;

/* Protects p11_mod itself. A static pthread mutex: it must exist before any
 * application callbacks are known. Kept consistent across fork(). */
static pthread_mutex_t init_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;

static void fork_prepare(void) { pthread_mutex_lock(&init_lock); }
static void fork_parent(void) { pthread_mutex_unlock(&init_lock); }
static void fork_child(void) { pthread_mutex_unlock(&init_lock); }
static void register_atfork(void) { pthread_atfork(fork_prepare, fork_parent, fork_child); }

/* ---- locks ---- */
static struct {
    int app; /* use the application's callbacks */
    CK_CREATEMUTEX create;
    CK_DESTROYMUTEX destroy;
    CK_LOCKMUTEX lock;
    CK_UNLOCKMUTEX unlock;
} lockfns;

struct p11_mutex {
    void *app;
    pthread_mutex_t pm;
};

CK_RV p11_mutex_new(p11_mutex **out)
{
    p11_mutex *m = calloc(1, sizeof(*m));
    if (!m)
        return CKR_HOST_MEMORY;
    if (lockfns.app) {
        CK_RV rv = lockfns.create(&m->app);
        if (rv != CKR_OK) {
            free(m);
            return rv;
        }
    } else if (pthread_mutex_init(&m->pm, NULL) != 0) {
        free(m);
        return CKR_CANT_LOCK;
    }
    *out = m;
    return CKR_OK;
}

void p11_mutex_free(p11_mutex *m)
{
    if (!m)
        return;
    if (lockfns.app)
        lockfns.destroy(m->app);
    else
        pthread_mutex_destroy(&m->pm);
    free(m);
}

void p11_lock(p11_mutex *m)
{
    if (lockfns.app)
        lockfns.lock(m->app);
    else
        pthread_mutex_lock(&m->pm);
}

void p11_unlock(p11_mutex *m)
{
    if (lockfns.app)
        lockfns.unlock(m->app);
    else
        pthread_mutex_unlock(&m->pm);
}

struct dcpki_digest *p11_digest_new(const p11_module *m, const char *name)
{
    int i = dcpki_md_index(name);
    return i < 0 ? NULL : dcpki_digest_dup(m->digests[i]);
}

CK_RV p11_enter(void)
{
    CK_RV rv = CKR_OK;
    pthread_mutex_lock(&init_lock);
    if (!p11_mod || p11_mod->forkgen != dcpki_fork_generation())
        rv = CKR_CRYPTOKI_NOT_INITIALIZED;
    pthread_mutex_unlock(&init_lock);
    return rv;
}

void p11_pad(unsigned char *dst, size_t n, const char *src)
{
    size_t l = strlen(src);
    memset(dst, ' ', n);
    memcpy(dst, src, l < n ? l : n);
}

/* ---- life cycle ---- */
static void module_free(p11_module *m)
{
    if (!m)
        return;
    p11_sessions_free_all(m);
    for (int i = 0; i < P11_NSLOTS; i++) {
        p11_token_free_objects(&m->tokens[i]);
        p11_mutex_free(m->tokens[i].load_lock);
    }
    p11_backend_free(m);
    for (size_t i = 0; i < sizeof(m->digests) / sizeof(m->digests[0]); i++)
        dcpki_digest_free(m->digests[i]);
    OSSL_PROVIDER_unload(m->provider);
    OSSL_LIB_CTX_free(m->libctx);
    p11_mutex_free(m->lock);
    free(m);
}

static CK_RV module_new(p11_module **out)
{
    CK_RV rv;
    p11_module *m = calloc(1, sizeof(*m));
    if (!m)
        return CKR_HOST_MEMORY;
    if ((rv = p11_mutex_new(&m->lock)) != CKR_OK)
        goto err;
    for (int i = 0; i < P11_NSLOTS; i++) {
        m->tokens[i].id = (CK_SLOT_ID)i;
        m->tokens[i].login = P11_NOBODY;
        if ((rv = p11_mutex_new(&m->tokens[i].load_lock)) != CKR_OK)
            goto err;
    }
    /* A private library context with OpenSSL's default provider only: no
     * configuration file, so no provider, default property query (such as
     * "fips=yes") or configuration of the host program (dcpki's own provider
     * included) is ever involved in our parsing, hashing and verification.
     * The host's ENGINEs are kept out by dcpki/ossl.h. */
    rv = CKR_GENERAL_ERROR;
    if (!(m->libctx = OSSL_LIB_CTX_new()) || !(m->provider = OSSL_PROVIDER_load(m->libctx, "default")))
        goto err;
    for (size_t i = 0; i < sizeof(m->digests) / sizeof(m->digests[0]); i++)
        if (!(m->digests[i] = dcpki_digest_new(m->libctx, dcpki_md_name((int)i))))
            goto err;
    if ((rv = p11_backend_new(m)) != CKR_OK)
        goto err;
    m->next_session = 1;
    m->forkgen = dcpki_fork_generation();
    *out = m;
    return CKR_OK;
err:
    module_free(m);
    return rv;
}

CK_RV C_Initialize(CK_VOID_PTR pInitArgs)
{
    CK_C_INITIALIZE_ARGS *args = pInitArgs;
    int app_locks = 0;
    CK_RV rv;

    pthread_once(&atfork_once, register_atfork);
    if (args) {
        int given = (args->CreateMutex != NULL) + (args->DestroyMutex != NULL) +
                    (args->LockMutex != NULL) + (args->UnlockMutex != NULL);
        if (args->pReserved != NULL || (given != 0 && given != 4))
            return CKR_ARGUMENTS_BAD;
        /* CKF_LIBRARY_CANT_CREATE_OS_THREADS (GnuTLS and p11-kit set it) is
         * honoured as far as the module goes: it starts no thread of its own;
         * libcurl may resolve a host name in a helper thread that ends with
         * the call. */
        /* Callbacks without CKF_OS_LOCKING_OK: the application's locks must be used. */
        app_locks = given == 4 && !(args->flags & CKF_OS_LOCKING_OK);
    }

    pthread_mutex_lock(&init_lock);
    if (p11_mod && p11_mod->forkgen == dcpki_fork_generation()) {
        pthread_mutex_unlock(&init_lock);
        return CKR_CRYPTOKI_ALREADY_INITIALIZED;
    }
    /* A forked child: the parent's state is abandoned, never freed here (its
     * locks may be held by threads that do not exist in this process, and
     * closing its connections would disturb the parent's TLS sessions). */
    p11_mod = NULL;
    memset(&lockfns, 0, sizeof(lockfns));
    if (app_locks) {
        lockfns.app = 1;
        lockfns.create = args->CreateMutex;
        lockfns.destroy = args->DestroyMutex;
        lockfns.lock = args->LockMutex;
        lockfns.unlock = args->UnlockMutex;
    }
    rv = module_new(&p11_mod);
    if (rv == CKR_OK)
        p11_backend_prepare(p11_mod);
    pthread_mutex_unlock(&init_lock);
    return rv;
}

CK_RV C_Finalize(CK_VOID_PTR pReserved)
{
    p11_module *m;
    if (pReserved != NULL)
        return CKR_ARGUMENTS_BAD;
    pthread_mutex_lock(&init_lock);
    if (!p11_mod || p11_mod->forkgen != dcpki_fork_generation()) {
        pthread_mutex_unlock(&init_lock);
        return CKR_CRYPTOKI_NOT_INITIALIZED;
    }
    m = p11_mod;
    p11_mod = NULL;
    pthread_mutex_unlock(&init_lock);
    module_free(m);
    memset(&lockfns, 0, sizeof(lockfns));
    return CKR_OK;
}

CK_RV C_GetInfo(CK_INFO_PTR pInfo)
{
    CK_RV rv = p11_enter();
    if (rv != CKR_OK)
        return rv;
    if (!pInfo)
        return CKR_ARGUMENTS_BAD;
    memset(pInfo, 0, sizeof(*pInfo));
    pInfo->cryptokiVersion.major = CRYPTOKI_VERSION_MAJOR;
    pInfo->cryptokiVersion.minor = CRYPTOKI_VERSION_MINOR;
    p11_pad(pInfo->manufacturerID, sizeof(pInfo->manufacturerID), "dcpki");
    pInfo->flags = 0;
    p11_pad(pInfo->libraryDescription, sizeof(pInfo->libraryDescription),
            "dcpki remote keys and RA key");
    pInfo->libraryVersion.major = 0;
    pInfo->libraryVersion.minor = 1;
    return CKR_OK;
}

/* ---- function list ---- */
static CK_RV get_function_list(CK_FUNCTION_LIST_PTR_PTR ppFunctionList);

static CK_FUNCTION_LIST function_list = {
    { CRYPTOKI_VERSION_MAJOR, CRYPTOKI_VERSION_MINOR },
    C_Initialize, C_Finalize, C_GetInfo, get_function_list,
    C_GetSlotList, C_GetSlotInfo, C_GetTokenInfo, C_GetMechanismList, C_GetMechanismInfo,
    C_InitToken, C_InitPIN, C_SetPIN,
    C_OpenSession, C_CloseSession, C_CloseAllSessions, C_GetSessionInfo,
    C_GetOperationState, C_SetOperationState, C_Login, C_Logout,
    C_CreateObject, C_CopyObject, C_DestroyObject, C_GetObjectSize,
    C_GetAttributeValue, C_SetAttributeValue,
    C_FindObjectsInit, C_FindObjects, C_FindObjectsFinal,
    C_EncryptInit, C_Encrypt, C_EncryptUpdate, C_EncryptFinal,
    C_DecryptInit, C_Decrypt, C_DecryptUpdate, C_DecryptFinal,
    C_DigestInit, C_Digest, C_DigestUpdate, C_DigestKey, C_DigestFinal,
    C_SignInit, C_Sign, C_SignUpdate, C_SignFinal, C_SignRecoverInit, C_SignRecover,
    C_VerifyInit, C_Verify, C_VerifyUpdate, C_VerifyFinal, C_VerifyRecoverInit, C_VerifyRecover,
    C_DigestEncryptUpdate, C_DecryptDigestUpdate, C_SignEncryptUpdate, C_DecryptVerifyUpdate,
    C_GenerateKey, C_GenerateKeyPair, C_WrapKey, C_UnwrapKey, C_DeriveKey,
    C_SeedRandom, C_GenerateRandom,
    C_GetFunctionStatus, C_CancelFunction, C_WaitForSlotEvent,
};

static CK_RV get_function_list(CK_FUNCTION_LIST_PTR_PTR ppFunctionList)
{
    if (!ppFunctionList)
        return CKR_ARGUMENTS_BAD;
    *ppFunctionList = &function_list;
    return CKR_OK;
}

P11_EXPORT CK_RV C_GetFunctionList(CK_FUNCTION_LIST_PTR_PTR ppFunctionList)
{
    return get_function_list(ppFunctionList);
}

/* PKCS#11 3.0 interfaces (p11-kit 0.24's header predates them; the layout is
 * the standard's CK_INTERFACE). The one interface is "PKCS 11" with the v2.40
 * function list, which a 3.0 consumer recognises by its version field. */
typedef struct p11_interface {
    CK_UTF8CHAR *pInterfaceName;
    CK_VOID_PTR pFunctionList;
    CK_FLAGS flags;
} p11_interface;

static p11_interface interfaces[] = {
    { (CK_UTF8CHAR *)"PKCS 11", &function_list, 0 },
};

P11_EXPORT CK_RV C_GetInterfaceList(p11_interface *pInterfacesList, CK_ULONG *pulCount);
P11_EXPORT CK_RV C_GetInterface(CK_UTF8CHAR *pInterfaceName, CK_VERSION *pVersion,
                                p11_interface **ppInterface, CK_FLAGS flags);

CK_RV C_GetInterfaceList(p11_interface *pInterfacesList, CK_ULONG *pulCount)
{
    CK_ULONG n = sizeof(interfaces) / sizeof(interfaces[0]);
    if (!pulCount)
        return CKR_ARGUMENTS_BAD;
    if (!pInterfacesList) {
        *pulCount = n;
        return CKR_OK;
    }
    if (*pulCount < n) {
        *pulCount = n;
        return CKR_BUFFER_TOO_SMALL;
    }
    memcpy(pInterfacesList, interfaces, sizeof(interfaces));
    *pulCount = n;
    return CKR_OK;
}

CK_RV C_GetInterface(CK_UTF8CHAR *pInterfaceName, CK_VERSION *pVersion,
                     p11_interface **ppInterface, CK_FLAGS flags)
{
    if (!ppInterface)
        return CKR_ARGUMENTS_BAD;
    if (pInterfaceName && strcmp((const char *)pInterfaceName, "PKCS 11") != 0)
        return CKR_ARGUMENTS_BAD;
    if (pVersion && (pVersion->major != CRYPTOKI_VERSION_MAJOR ||
                     pVersion->minor != CRYPTOKI_VERSION_MINOR))
        return CKR_ARGUMENTS_BAD;
    if ((flags & interfaces[0].flags) != flags)
        return CKR_ARGUMENTS_BAD;
    *ppInterface = &interfaces[0];
    return CKR_OK;
}
