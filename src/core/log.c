/* Diagnostics on stderr, switched on by DCPKI_DEBUG (1: events, 2: HTTP traces
 * without headers or bodies). Secrets are never passed here. */
#include "dcpki/log.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static int level = -1;
static pthread_once_t level_once = PTHREAD_ONCE_INIT;

static void read_level(void)
{
    const char *v = getenv("DCPKI_DEBUG");
    int l = 0;
    if (v && *v) {
        char *end;
        long n = strtol(v, &end, 10);
        if (*end == '\0' && n >= 0)
            l = n > 9 ? 9 : (int)n;
        else
            l = 1; /* any other non-empty value means "on" */
    }
    level = l;
}

int dcpki_log_level(void)
{
    pthread_once(&level_once, read_level);
    return level;
}

void dcpki_log(int lvl, const char *fmt, ...)
{
    if (dcpki_log_level() < lvl)
        return;
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    /* one write per line so that lines of several threads do not interleave */
    fprintf(stderr, "dcpki[%ld]: %s\n", (long)getpid(), line);
}
