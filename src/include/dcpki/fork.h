/* Whether this is still the process that made some state: a number that
 * changes in the child of every fork() (a pthread_atfork child handler), for
 * state that a child must not use as its own (connections, PKCS#11 sessions).
 * getpid() would do, but it is a system call on every use (glibc keeps no
 * cache since 2.25), which costs a microsecond on some virtual machines and
 * is called several times per signature; this is a load. A child made
 * without fork() (clone(2) directly) is not seen: such a child cannot use
 * the C library's locks either. */
#ifndef DCPKI_FORK_H
#define DCPKI_FORK_H

unsigned long dcpki_fork_generation(void);

#endif
