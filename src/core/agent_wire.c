/* The agent's frames (dcpki/agent.h): length-prefixed fields both ways. */
#include "dcpki/agent.h"
#include "internal.h"

#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <openssl/crypto.h>

static void put32(unsigned char *p, size_t v)
{
    p[0] = (unsigned char)(v >> 24);
    p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8);
    p[3] = (unsigned char)v;
}

static size_t get32(const unsigned char *p)
{
    return (size_t)p[0] << 24 | (size_t)p[1] << 16 | (size_t)p[2] << 8 | (size_t)p[3];
}

/* Until fd is ready for events or the deadline (dcpki_now_ms(); -1: none)
 * passes: 0, or -1 with errno (ETIMEDOUT). */
static int wait_ready(int fd, short events, int64_t deadline_ms)
{
    for (;;) {
        int ms = -1;
        if (deadline_ms >= 0) {
            int64_t left = deadline_ms - dcpki_now_ms();
            if (left <= 0) {
                errno = ETIMEDOUT;
                return -1;
            }
            ms = left > INT32_MAX ? INT32_MAX : (int)left;
        }
        struct pollfd p = { .fd = fd, .events = events };
        int r = poll(&p, 1, ms);
        if (r > 0)
            return 0;
        if (r < 0 && errno != EINTR)
            return -1;
    }
}

int dcpki_agent_write_frame(int fd, size_t n, const char *const *field, const size_t *len, int64_t deadline_ms)
{
    if (n > DCPKI_AGENT_MAX_FIELDS) {
        errno = EINVAL;
        return -1;
    }
    unsigned char hdr[4 * (DCPKI_AGENT_MAX_FIELDS + 1)];
    struct iovec iov[2 * DCPKI_AGENT_MAX_FIELDS + 1];
    size_t total = 0;
    for (size_t i = 0; i < n; i++) {
        if (total > UINT32_MAX - 4 || len[i] > UINT32_MAX - 4 - total) {
            errno = EMSGSIZE;
            return -1;
        }
        total += 4 + len[i];
    }
    put32(hdr, total);
    iov[0] = (struct iovec){ hdr, 4 };
    size_t niov = 1;
    for (size_t i = 0; i < n; i++) {
        put32(hdr + 4 * (i + 1), len[i]);
        iov[niov++] = (struct iovec){ hdr + 4 * (i + 1), 4 };
        if (len[i])
            iov[niov++] = (struct iovec){ (void *)field[i], len[i] };
    }
    /* until everything is out; MSG_NOSIGNAL: a closed peer is EPIPE, not a
     * SIGPIPE that would end the host program */
    struct iovec *v = iov;
    while (niov > 0) {
        if (wait_ready(fd, POLLOUT, deadline_ms) != 0)
            return -1;
        struct msghdr m = { .msg_iov = v, .msg_iovlen = niov };
        ssize_t w = sendmsg(fd, &m, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (w < 0) {
            if (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK)
                continue;
            return -1;
        }
        size_t done = (size_t)w;
        while (niov > 0 && done >= v->iov_len) {
            done -= v->iov_len;
            v++;
            niov--;
        }
        if (niov > 0) {
            v->iov_base = (char *)v->iov_base + done;
            v->iov_len -= done;
        }
    }
    return 0;
}

/* 1 when all n bytes were read, 0 at end of file before the first, -1 (errno;
 * EPROTO for end of file in the middle). */
static int read_all(int fd, unsigned char *p, size_t n, int64_t deadline_ms)
{
    size_t got = 0;
    while (got < n) {
        if (wait_ready(fd, POLLIN, deadline_ms) != 0)
            return -1;
        ssize_t r = read(fd, p + got, n - got);
        if (r < 0) {
            if (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK)
                continue;
            return -1;
        }
        if (r == 0) {
            if (got == 0)
                return 0;
            errno = EPROTO;
            return -1;
        }
        got += (size_t)r;
    }
    return 1;
}

int dcpki_agent_read_frame(int fd, size_t max, int64_t deadline_ms, dcpki_agent_frame *f)
{
    memset(f, 0, sizeof(*f));
    unsigned char h[4];
    int r = read_all(fd, h, 4, deadline_ms);
    if (r <= 0)
        return r;
    size_t total = get32(h);
    if (total > max) {
        errno = EMSGSIZE;
        return -1;
    }
    f->buf = OPENSSL_malloc(total ? total : 1);
    if (!f->buf) {
        errno = ENOMEM;
        return -1;
    }
    if (total && (r = read_all(fd, f->buf, total, deadline_ms)) != 1) {
        if (r == 0)
            errno = EPROTO; /* the end of the stream inside a frame */
        dcpki_agent_frame_free(f);
        return -1;
    }
    for (size_t off = 0; off < total;) {
        if (f->nfields == DCPKI_AGENT_MAX_FIELDS || total - off < 4 || get32(f->buf + off) > total - off - 4) {
            dcpki_agent_frame_free(f);
            errno = EPROTO;
            return -1;
        }
        size_t l = get32(f->buf + off);
        f->field[f->nfields] = (const char *)f->buf + off + 4;
        f->len[f->nfields++] = l;
        off += 4 + l;
    }
    return 1;
}

void dcpki_agent_frame_free(dcpki_agent_frame *f)
{
    OPENSSL_free(f->buf);
    memset(f, 0, sizeof(*f));
}

int dcpki_agent_field_is(const dcpki_agent_frame *f, size_t i, const char *s)
{
    return i < f->nfields && strlen(s) == f->len[i] && memcmp(f->field[i], s, f->len[i]) == 0;
}
