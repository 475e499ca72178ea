/* The fork generation (dcpki/fork.h). */
#include "dcpki/fork.h"

#include <pthread.h>
#include <stdatomic.h>

static atomic_ulong generation;
static pthread_once_t registered = PTHREAD_ONCE_INIT;

static void in_child(void)
{
    atomic_fetch_add(&generation, 1);
}

static void register_handler(void)
{
    /* glibc drops the handler when this library is unloaded (dlclose) */
    pthread_atfork(NULL, NULL, in_child);
}

unsigned long dcpki_fork_generation(void)
{
    pthread_once(&registered, register_handler);
    return atomic_load_explicit(&generation, memory_order_relaxed);
}
