/* p11_engine_host.c: the host process's ENGINEs (the deprecated API stays there). */
#ifndef P11_ENGINE_H
#define P11_ENGINE_H
/* libp11's "pkcs11" engine, default for everything. 1, or 0 (reason printed). */
int host_load_pkcs11_engine(void);
/* An engine whose EVP_PKEY methods and digests fail, default for everything. 1, or 0. */
int host_load_hostile_engine(void);
/* How many times a failing method of the hostile engine was called. */
int host_hostile_calls(void);
/* How many times its RSA/EC_KEY software methods were called. */
int host_software_calls(void);
/* Unregister both engines and free what was built. */
void host_remove_engines(void);
#endif
