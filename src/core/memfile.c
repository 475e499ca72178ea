/* In-memory files for libcurl's GnuTLS backend.
 *
 * curl 7.88 with GnuTLS takes the client certificate, the client key and the
 * trust bundle only as file names (its GnuTLS backend has no *_BLOB options,
 * CURLOPT_SSLCERT_BLOB(3)) and reads them again for every new connection. A server that loads
 * its dcpki key as root and then serves from workers running as another user
 * could not reopen 0600 root files there. So the core reads those files once,
 * when a key is loaded, into a sealed anonymous memory file (memfd_create(2))
 * and gives curl its name in /proc/self/fd:
 * - the contents never touch a disk (tmpfs pages, like the process's heap);
 * - only this process and its forked children hold the descriptor; another
 *   user cannot open /proc/PID/fd/N of our process (the kernel checks
 *   ptrace access, denied across users and for non-dumpable processes);
 * - MFD_CLOEXEC: a program the host execs does not inherit it;
 * - sealed (F_SEAL_WRITE/GROW/SHRINK/SEAL): nobody can change it afterwards.
 * The private key in it is plain PKCS#8 (identity.c says why); only the
 * temporary-file fallback encrypts it under a one-time password. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal.h"

struct dcpki_memfile {
    int fd;
    dev_t dev;
    ino_t ino;
    char path[40];
};

dcpki_code dcpki_memfile_new(const char *name, const void *data, size_t len, dcpki_memfile **out, dcpki_err *err)
{
    char eb[128];
    *out = NULL;
    dcpki_memfile *m = calloc(1, sizeof(*m));
    if (!m)
        return dcpki_err_set(err, DCPKI_E_NOMEM, "keeping %s in memory", name);
    m->fd = memfd_create(name, MFD_CLOEXEC | MFD_ALLOW_SEALING);
    if (m->fd < 0) {
        int e = errno;
        free(m);
        return dcpki_err_set(err, DCPKI_E_UNSUPPORTED, "cannot keep %s in memory: memfd_create: %s", name,
                             dcpki_strerror(e, eb, sizeof(eb)));
    }
    struct stat st;
    if (dcpki_write_all(m->fd, data, len) != 0 ||
        fcntl(m->fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL) != 0 ||
        fstat(m->fd, &st) != 0) {
        int e = errno;
        dcpki_memfile_free(m);
        return dcpki_err_set(err, DCPKI_E_IO, "cannot keep %s in memory: %s", name, dcpki_strerror(e, eb, sizeof(eb)));
    }
    m->dev = st.st_dev;
    m->ino = st.st_ino;
    snprintf(m->path, sizeof(m->path), "/proc/self/fd/%d", m->fd);
    /* GnuTLS opens the name: it must work here (no /proc in a chroot, say) */
    int probe = open(m->path, O_RDONLY | O_CLOEXEC);
    if (probe < 0) {
        int e = errno;
        dcpki_memfile_free(m);
        return dcpki_err_set(err, DCPKI_E_UNSUPPORTED, "cannot keep %s in memory: /proc/self/fd: %s", name,
                             dcpki_strerror(e, eb, sizeof(eb)));
    }
    close(probe);
    *out = m;
    return DCPKI_OK;
}

const char *dcpki_memfile_path(const dcpki_memfile *m)
{
    return m ? m->path : NULL;
}

int dcpki_memfile_intact(const dcpki_memfile *m)
{
    struct stat st;
    return m && fstat(m->fd, &st) == 0 && st.st_dev == m->dev && st.st_ino == m->ino;
}

void dcpki_memfile_free(dcpki_memfile *m)
{
    if (!m)
        return;
    /* in a forked child, and when the host closed it: only close what is still ours */
    if (m->fd >= 0 && dcpki_memfile_intact(m))
        close(m->fd);
    free(m);
}
