/* The line parser of `dcpki enroll --batch` (cli_batch.c), apart from
 * cli_enroll.c so that the fuzz harness tests/fuzz/fuzz_request.c (target
 * batch) can call it without the rest of the command-line tool. */
#ifndef DCPKI_CLI_BATCH_H
#define DCPKI_CLI_BATCH_H
#include <stddef.h>

/* One request of a batch file. */
typedef struct batch_item {
    char *subject;
    char **sans;
    size_t n_sans;
    char *profile;
    char *pfx;
} batch_item;

/* A line of the batch file with leading blanks and trailing blanks, CR and LF
 * cut off (in place); the caller skips it when empty or a comment ('#'). */
char *batch_trim(char *s);

void batch_item_clear(batch_item *b);

/* A line (trimmed, not empty, not a comment): a JSON object {"subject": "...",
 * "san": [...] | "...", "profile": "...", "pfx": "..."} or a subject string.
 * Returns 0 with b filled, or -1 with b empty and msg (n bytes) set. */
int batch_parse(char *line, batch_item *b, char *msg, size_t n);

#endif
