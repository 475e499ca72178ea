/* libFuzzer harness of the agent's frames (dcpki/agent.h), which the agent
 * reads from any local process that may connect to it:
 *   AGENTFRAME  dcpki_agent_read_frame over a stream of bytes, each frame
 *               written again with dcpki_agent_write_frame (a socket, as
 *               the agent's) and read back identical.
 * ctest replays the corpus (tests/fuzz/CMakeLists.txt); tests/fuzz/run-fuzz
 * runs libFuzzer. */
#define _GNU_SOURCE /* memfd_create */
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include "dcpki/agent.h"
#include "fuzz.h"
#include "internal.h"

#if !defined(FUZZ_AGENTFRAME)
#error "define one FUZZ_* target"
#endif

static int stream_of(const void *data, size_t size)
{
    int fd = memfd_create("fuzz-agent", MFD_CLOEXEC);
    FUZZ_ASSERT(fd >= 0);
    FUZZ_ASSERT(dcpki_write_all(fd, data, size) == 0);
    FUZZ_ASSERT(lseek(fd, 0, SEEK_SET) == 0);
    return fd;
}

typedef struct {
    int fd;
    const dcpki_agent_frame *f;
} writer_arg;

static void *writer(void *p)
{
    const writer_arg *w = p;
    FUZZ_ASSERT(dcpki_agent_write_frame(w->fd, w->f->nfields, w->f->field, w->f->len, -1) == 0);
    return NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int fd = stream_of(data, size);
    size_t consumed = 0;
    dcpki_agent_frame f;
    while (dcpki_agent_read_frame(fd, DCPKI_AGENT_MAX_REQUEST, -1, &f) == 1) {
        size_t total = 0;
        for (size_t i = 0; i < f.nfields; i++) {
            /* every field lies inside the frame's buffer, one after the other */
            FUZZ_ASSERT((const unsigned char *)f.field[i] == f.buf + total + 4);
            total += 4 + f.len[i];
        }
        consumed += 4 + total;
        FUZZ_ASSERT(consumed <= size);
        int sv[2];
        FUZZ_ASSERT(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
        writer_arg w = { sv[0], &f };
        pthread_t th;
        FUZZ_ASSERT(pthread_create(&th, NULL, writer, &w) == 0);
        dcpki_agent_frame g;
        FUZZ_ASSERT(dcpki_agent_read_frame(sv[1], DCPKI_AGENT_MAX_REQUEST, -1, &g) == 1 && g.nfields == f.nfields);
        pthread_join(th, NULL);
        for (size_t i = 0; i < f.nfields; i++)
            FUZZ_ASSERT(g.len[i] == f.len[i] && memcmp(g.field[i], f.field[i], f.len[i]) == 0);
        dcpki_agent_frame_free(&g);
        dcpki_agent_frame_free(&f);
        close(sv[0]);
        close(sv[1]);
    }
    close(fd);
    return 0;
}
