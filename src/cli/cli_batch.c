/* dcpki enroll --batch: the parser of one line of the batch file (see
 * cli_batch.h). Depends on json-c and libc only. */
#include "cli_batch.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

char *batch_trim(char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    size_t n = strlen(s);
    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r' || s[n - 1] == '\n'))
        s[--n] = '\0';
    return s;
}

void batch_item_clear(batch_item *b)
{
    free(b->subject);
    for (size_t i = 0; i < b->n_sans; i++)
        free(b->sans[i]);
    free(b->sans);
    free(b->profile);
    free(b->pfx);
    memset(b, 0, sizeof(*b));
}

/* A JSON string of the line taken as text: its value, or NULL (-1 in *nul when
 * it holds a NUL character, which C strings would silently cut at). */
static char *str_dup_checked(json_object *v, int *nul)
{
    const char *s = json_object_get_string(v);
    if ((size_t)json_object_get_string_len(v) != strlen(s)) {
        *nul = 1;
        return NULL;
    }
    return strdup(s);
}

/* The keys of the top-level object, read from the text: json-c keeps the last
 * of two equal keys without a word, and a key with \u0000 is cut at the NUL.
 * The text is a valid JSON object (json-c parsed it whole). Returns 0, or -1
 * with msg set. */
static int check_keys(const char *t, size_t len, char *msg, size_t n)
{
    char **keys = NULL;
    size_t nk = 0, cap = 0;
    int depth = 0, want_key = 0, rc = 0;
    for (size_t i = 0; i < len && rc == 0; i++) {
        char c = t[i];
        if (c == '"') {
            size_t j = i + 1;
            while (j < len && t[j] != '"')
                j += t[j] == '\\' ? 2 : 1;
            if (depth == 1 && want_key) {
                char *tok = strndup(t + i, j - i + 1);
                json_object *k = tok ? json_tokener_parse(tok) : NULL;
                free(tok);
                if (k == NULL || !json_object_is_type(k, json_type_string)) {
                    snprintf(msg, n, "out of memory");
                    rc = -1;
                } else if ((size_t)json_object_get_string_len(k) != strlen(json_object_get_string(k))) {
                    snprintf(msg, n, "a key holds a NUL character (\\u0000)");
                    rc = -1;
                } else {
                    const char *ks = json_object_get_string(k);
                    for (size_t q = 0; q < nk && rc == 0; q++)
                        if (strcmp(keys[q], ks) == 0) {
                            snprintf(msg, n, "the key \"%.40s\" is given twice (give each key once)", ks);
                            rc = -1;
                        }
                    if (rc == 0 && nk == cap) {
                        size_t nc = cap ? 2 * cap : 8;
                        char **nkeys = realloc(keys, nc * sizeof(*keys));
                        if (nkeys == NULL) {
                            snprintf(msg, n, "out of memory");
                            rc = -1;
                        } else {
                            keys = nkeys;
                            cap = nc;
                        }
                    }
                    if (rc == 0 && (keys[nk] = strdup(ks)) == NULL) {
                        snprintf(msg, n, "out of memory");
                        rc = -1;
                    } else if (rc == 0) {
                        nk++;
                    }
                }
                json_object_put(k);
                want_key = 0;
            }
            i = j;
        } else if (c == '{' || c == '[') {
            depth++;
            want_key = depth == 1 && c == '{';
        } else if (c == '}' || c == ']') {
            depth--;
        } else if (c == ',' && depth == 1) {
            want_key = 1;
        }
    }
    for (size_t q = 0; q < nk; q++)
        free(keys[q]);
    free(keys);
    return rc;
}

/* A line: a JSON object {"subject": "...", "san": [...] | "...", "profile": "...",
 * "pfx": "..."} or a subject string. Returns 0, or -1 with msg set. */
int batch_parse(char *line, batch_item *b, char *msg, size_t n)
{
    memset(b, 0, sizeof(*b));
    if (line[0] != '{') {
        b->subject = strdup(line);
        return b->subject ? 0 : (snprintf(msg, n, "out of memory"), -1);
    }
    size_t len = strlen(line);
    json_tokener *tok = json_tokener_new();
    json_object *o = tok && len < (size_t)INT32_MAX ? json_tokener_parse_ex(tok, line, (int)len) : NULL;
    int whole = o != NULL && json_tokener_get_error(tok) == json_tokener_success &&
                json_tokener_get_parse_end(tok) == len;
    json_tokener_free(tok);
    if (o == NULL || !json_object_is_type(o, json_type_object) || !whole) {
        json_object_put(o);
        snprintf(msg, n, "not a JSON object%s", o != NULL && !whole ? " (text follows it)" : "");
        return -1;
    }
    if (check_keys(line, len, msg, n) != 0) {
        json_object_put(o);
        return -1;
    }
    int rc = 0, nul = 0;
    json_object_object_foreach(o, k, v) {
        if (strcmp(k, "subject") == 0 && json_object_is_type(v, json_type_string)) {
            b->subject = str_dup_checked(v, &nul);
        } else if (strcmp(k, "profile") == 0 && json_object_is_type(v, json_type_string)) {
            b->profile = str_dup_checked(v, &nul);
        } else if (strcmp(k, "pfx") == 0 && json_object_is_type(v, json_type_string)) {
            b->pfx = str_dup_checked(v, &nul);
        } else if ((strcmp(k, "san") == 0 || strcmp(k, "sans") == 0) &&
                   (json_object_is_type(v, json_type_array) || json_object_is_type(v, json_type_string))) {
            size_t m = json_object_is_type(v, json_type_array) ? json_object_array_length(v) : 1;
            /* both "san" and "sans": the second list must not be written into the first */
            if (b->sans != NULL) {
                snprintf(msg, n, "give \"san\" or \"sans\", not both");
                rc = -1;
                break;
            }
            b->sans = calloc(m ? m : 1, sizeof(char *));
            if (b->sans == NULL) {
                snprintf(msg, n, "out of memory");
                rc = -1;
            }
            for (size_t i = 0; b->sans && i < m; i++) {
                json_object *s = json_object_is_type(v, json_type_array)
                                     ? json_object_array_get_idx(v, i) : v;
                if (!json_object_is_type(s, json_type_string)) {
                    snprintf(msg, n, "\"san\" entries must be strings");
                    rc = -1;
                    break;
                }
                if ((b->sans[b->n_sans] = str_dup_checked(s, &nul)) == NULL) {
                    if (nul)
                        snprintf(msg, n, "\"%s\" holds a NUL character (\\u0000), which would cut it "
                                 "short", k);
                    else
                        snprintf(msg, n, "out of memory");
                    rc = -1;
                    break;
                }
                b->n_sans++;
            }
        } else if (strcmp(k, "subject") == 0 || strcmp(k, "profile") == 0 || strcmp(k, "pfx") == 0 ||
                   strcmp(k, "san") == 0 || strcmp(k, "sans") == 0) {
            snprintf(msg, n, "\"%s\" must be a string%s", k,
                     k[0] == 's' && k[1] == 'a' ? " or a list of strings" : "");
            rc = -1;
        } else {
            snprintf(msg, n, "unknown key \"%.40s\" (known: subject, san, profile, pfx)", k);
            rc = -1;
        }
        if (rc == 0 && nul) {
            snprintf(msg, n, "\"%s\" holds a NUL character (\\u0000), which would cut it short", k);
            rc = -1;
        } else if (rc == 0 && strcmp(k, "san") != 0 && strcmp(k, "sans") != 0 &&
                   ((strcmp(k, "subject") == 0 && b->subject == NULL) ||
                    (strcmp(k, "profile") == 0 && b->profile == NULL) ||
                    (strcmp(k, "pfx") == 0 && b->pfx == NULL))) {
            snprintf(msg, n, "out of memory");
            rc = -1;
        }
        if (rc != 0)
            break;
    }
    json_object_put(o);
    if (rc == 0 && b->subject == NULL) {
        snprintf(msg, n, "no \"subject\"");
        rc = -1;
    }
    if (rc != 0)
        batch_item_clear(b);
    return rc;
}
