/* libFuzzer harnesses of what the agent (dcpki/agent.h) reads from any
 * local process that may connect to it:
 *   AGENTFRAME  dcpki_agent_read_frame over a stream of bytes, each frame
 *               written again with dcpki_agent_write_frame (a socket, as
 *               the agent's) and read back identical;
 *   AGENTPATH   dcpki_agent_refused: whatever it lets through stays one of
 *               the three requests after the escapes of '.', '/' and '\'
 *               are decoded and the dot segments removed (RFC 3986 §5.2.4),
 *               as libcurl or the service may do.
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

#if defined(FUZZ_AGENTFRAME)

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

#elif defined(FUZZ_AGENTPATH)
#include <strings.h>

/* path (before any '?') with %2e %2f %5c decoded, split at '/' and '\', and
 * the dot segments removed; the segments' count, or -1 when one is empty */
static int segments(const char *path, char seg[8][2049])
{
    char dec[4096];
    size_t n = 0;
    for (const char *p = path; *p && *p != '?' && n + 1 < sizeof(dec); p++) {
        if (p[0] == '%' && p[1] && p[2] && (!strncasecmp(p, "%2e", 3) || !strncasecmp(p, "%2f", 3) ||
                                            !strncasecmp(p, "%5c", 3))) {
            dec[n++] = strncasecmp(p, "%2e", 3) == 0 ? '.' : '/';
            p += 2;
        } else {
            dec[n++] = *p == '\\' ? '/' : *p;
        }
    }
    dec[n] = '\0';
    int k = 0;
    for (char *save = NULL, *t = strtok_r(dec, "/", &save); t; t = strtok_r(NULL, "/", &save)) {
        if (strcmp(t, ".") == 0)
            continue;
        if (strcmp(t, "..") == 0) {
            k = k > 0 ? k - 1 : 0;
            continue;
        }
        FUZZ_ASSERT(k < 8 && strlen(t) < 2049);
        strcpy(seg[k++], t);
    }
    return k;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    static const char *const methods[] = { "GET", "POST", "DELETE", "PUT" };
    static const size_t bodies[] = { 0, 100, 70000, 1 };
    const char *method = methods[data[0] & 3];
    size_t body_len = bodies[(data[0] >> 2) & 3];
    char *path = fuzz_cstr(data + 1, size - 1);
    if (strlen(path) < 2048 && dcpki_agent_refused(method, path, body_len) == NULL) {
        char seg[8][2049];
        int k = segments(path, seg);
        int query = strchr(path, '?') != NULL;
        FUZZ_ASSERT(k >= 1 && strcmp(seg[0], "keypairs") == 0);
        if (strcmp(method, "GET") == 0) {
            FUZZ_ASSERT(body_len == 0);
            FUZZ_ASSERT(query ? k == 1 : k == 2);
        } else {
            FUZZ_ASSERT(strcmp(method, "POST") == 0 && !query && k == 3 && strcmp(seg[2], "sign") == 0);
            FUZZ_ASSERT(body_len <= 64 * 1024);
        }
    }
    free(path);
    return 0;
}
#else
#error "define one FUZZ_* target"
#endif
