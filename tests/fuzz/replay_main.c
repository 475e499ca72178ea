/* Replay driver of the libFuzzer harnesses, built with any C compiler (no
 * libFuzzer): calls LLVMFuzzerTestOneInput on every file of the corpus
 * directories (or files) given, in name order, then on deterministic
 * mutations of each: every truncation up to TRUNC bytes plus 31 evenly
 * spaced prefixes, and MUT copies with 1 to 4 byte edits (bit flip,
 * interesting byte, erase, duplicate, insert) from a fixed-seed PRNG. The
 * same build replays the same inputs on every run.
 *   fuzz-replay-<target> [-m MUT] [-t TRUNC] [-s SEED] DIR|FILE...
 * An invariant failure aborts; SIGABRT/SIGSEGV/... write the input that
 * caused it to ./replay-crash-<target>-<pid> (with ASan/UBSan this needs
 * abort_on_error=1, as ctest sets) and name the seed and mutation. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#ifndef FUZZ_TARGET_NAME
#define FUZZ_TARGET_NAME "target"
#endif
#define REPLAY_MAX_INPUT (1u << 20)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* what is being run, for the crash handler */
static const uint8_t *cur_data;
static size_t cur_size;
static const char *cur_file = "";
static long cur_mut = -1;
static char crash_path[256];

static void put(const char *s)
{
    ssize_t r = write(2, s, strlen(s));
    (void)r;
}

static void on_crash(int sig)
{
    char num[32];
    int k = (int)sizeof(num) - 1;
    unsigned long v = cur_mut < 0 ? 0 : (unsigned long)cur_mut;
    num[k] = '\0';
    do {
        num[--k] = (char)('0' + v % 10);
        v /= 10;
    } while (v && k > 0);
    put("replay: crash on ");
    put(cur_file);
    if (cur_mut >= 0) {
        put(" mutation ");
        put(num + k);
    }
    int fd = open(crash_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd >= 0) {
        size_t off = 0;
        while (off < cur_size) {
            ssize_t w = write(fd, cur_data + off, cur_size - off);
            if (w <= 0)
                break;
            off += (size_t)w;
        }
        close(fd);
        put("; input written to ");
        put(crash_path);
    }
    put("\n");
    signal(sig, SIG_DFL);
    raise(sig);
}

static uint64_t rng_state;
static uint64_t rng(void)
{
    /* xorshift64* */
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 0x2545F4914F6CDD1DULL;
}

static size_t n_runs;

static void run(const uint8_t *d, size_t n, long mut)
{
    /* a fresh heap copy of exactly n bytes, so ASan sees reads past the end */
    uint8_t *copy = malloc(n ? n : 1);
    if (!copy)
        abort();
    if (n)
        memcpy(copy, d, n);
    cur_data = copy;
    cur_size = n;
    cur_mut = mut;
    LLVMFuzzerTestOneInput(copy, n);
    cur_data = NULL;
    cur_size = 0;
    free(copy);
    n_runs++;
}

static const uint8_t interesting[] = {0x00, 0x01, 0x7f, 0x80, 0xff, '<', '>', '&', '"', '\'',
                                      '=', ',', ':', ';', '\\', '/', '\n', ' ', '{', '}', '0', '9'};

/* 1..4 edits of buf (capacity cap, length *n) */
static void mutate(uint8_t *buf, size_t *n, size_t cap)
{
    int edits = 1 + (int)(rng() % 4);
    for (int e = 0; e < edits; e++) {
        size_t len = *n;
        unsigned op = (unsigned)(rng() % 5);
        size_t pos = len ? (size_t)(rng() % len) : 0;
        if (len == 0)
            op = 4;
        switch (op) {
        case 0: buf[pos] ^= (uint8_t)(1u << (rng() % 8)); break;
        case 1: buf[pos] = interesting[rng() % sizeof(interesting)]; break;
        case 2: { /* erase 1..16 bytes */
            size_t k = 1 + (size_t)(rng() % 16);
            if (k > len - pos)
                k = len - pos;
            memmove(buf + pos, buf + pos + k, len - pos - k);
            *n = len - k;
            break;
        }
        case 3: { /* duplicate 1..32 bytes */
            size_t k = 1 + (size_t)(rng() % 32);
            if (k > len - pos)
                k = len - pos;
            if (len + k > cap)
                break;
            memmove(buf + pos + k, buf + pos, len - pos);
            *n = len + k;
            break;
        }
        default: /* insert one interesting byte */
            if (len + 1 > cap)
                break;
            memmove(buf + pos + 1, buf + pos, len - pos);
            buf[pos] = interesting[rng() % sizeof(interesting)];
            *n = len + 1;
            break;
        }
    }
}

static int read_all(const char *path, uint8_t **out, size_t *n)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return -1;
    uint8_t *b = malloc(REPLAY_MAX_INPUT);
    size_t r = b ? fread(b, 1, REPLAY_MAX_INPUT, f) : 0;
    int e = !b ? ENOMEM : ferror(f) ? EIO : !feof(f) ? EFBIG : 0;
    fclose(f);
    if (e) {
        free(b);
        errno = e;
        return -1;
    }
    *out = b;
    *n = r;
    return 0;
}

static void replay_file(const char *path, long muts, size_t trunc, uint64_t seed)
{
    uint8_t *d;
    size_t n;
    if (read_all(path, &d, &n) != 0) {
        fprintf(stderr, "replay: cannot read %s: %s\n", path, strerror(errno));
        exit(2);
    }
    cur_file = path;
    run(d, n, -1);
    long m = 0;
    for (size_t k = 0; k < n && k <= trunc; k++)
        run(d, k, m++);
    for (size_t i = 1; i < 32 && n > trunc; i++)
        run(d, n * i / 32, m++);
    /* the PRNG restarts for each file from the seed and the file's name: its
     * mutations depend neither on the other files nor on where the tree is */
    const char *base = strrchr(path, '/');
    rng_state = seed;
    for (const char *p = base ? base + 1 : path; *p; p++)
        rng_state = (rng_state ^ (uint8_t)*p) * 0x100000001B3ULL;
    if (!rng_state)
        rng_state = 1;
    size_t cap = n + 256;
    uint8_t *buf = malloc(cap);
    if (!buf)
        abort();
    for (long i = 0; i < muts; i++) {
        size_t len = n;
        memcpy(buf, d, n);
        mutate(buf, &len, cap);
        run(buf, len, m++);
    }
    free(buf);
    free(d);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int main(int argc, char **argv)
{
    long muts = 200;
    size_t trunc = 64;
    uint64_t seed = 0x6463706b69ULL; /* "dcpki" */
    int opt;
    while ((opt = getopt(argc, argv, "m:t:s:")) != -1) {
        switch (opt) {
        case 'm': muts = strtol(optarg, NULL, 10); break;
        case 't': trunc = (size_t)strtoul(optarg, NULL, 10); break;
        case 's': seed = strtoull(optarg, NULL, 0); break;
        default:
            fprintf(stderr, "usage: %s [-m MUTATIONS] [-t TRUNCATIONS] [-s SEED] DIR|FILE...\n", argv[0]);
            return 2;
        }
    }
    if (optind >= argc) {
        fprintf(stderr, "usage: %s [-m MUTATIONS] [-t TRUNCATIONS] [-s SEED] DIR|FILE...\n", argv[0]);
        return 2;
    }
    snprintf(crash_path, sizeof(crash_path), "replay-crash-%s-%ld", FUZZ_TARGET_NAME, (long)getpid());
    const int sigs[] = {SIGABRT, SIGSEGV, SIGBUS, SIGFPE, SIGILL};
    for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
        signal(sigs[i], on_crash);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    size_t files = 0;
    for (int a = optind; a < argc; a++) {
        struct stat st;
        if (stat(argv[a], &st) != 0) {
            fprintf(stderr, "replay: %s: %s\n", argv[a], strerror(errno));
            return 2;
        }
        if (!S_ISDIR(st.st_mode)) {
            replay_file(argv[a], muts, trunc, seed);
            files++;
            continue;
        }
        DIR *dir = opendir(argv[a]);
        if (!dir) {
            fprintf(stderr, "replay: %s: %s\n", argv[a], strerror(errno));
            return 2;
        }
        char **names = NULL;
        size_t n = 0;
        for (struct dirent *e; (e = readdir(dir)) != NULL;) {
            if (e->d_name[0] == '.')
                continue;
            char **nn = realloc(names, (n + 1) * sizeof(*names));
            size_t pl = strlen(argv[a]) + strlen(e->d_name) + 2;
            char *p = malloc(pl);
            if (!nn || !p)
                abort();
            snprintf(p, pl, "%s/%s", argv[a], e->d_name);
            names = nn;
            names[n++] = p;
        }
        closedir(dir);
        if (n > 1)
            qsort(names, n, sizeof(*names), cmp_str);
        for (size_t i = 0; i < n; i++) {
            struct stat fs;
            if (stat(names[i], &fs) == 0 && S_ISREG(fs.st_mode)) {
                replay_file(names[i], muts, trunc, seed);
                files++;
            }
            free(names[i]);
        }
        free(names);
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    if (files == 0) {
        fprintf(stderr, "replay: no corpus files in the arguments\n");
        return 2;
    }
    printf("%s: %zu corpus files, %zu inputs in %.2f s\n", FUZZ_TARGET_NAME, files, n_runs,
           (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9);
    return 0;
}
