/* dcpki enroll --batch: the parser of one line of the batch file (see
 * cli_batch.h). Depends on json-c and libc only. */
#include "cli_batch.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

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

/* A line: a JSON object {"subject": "...", "san": [...] | "...", "profile": "...",
 * "pfx": "..."} or a subject string. Returns 0, or -1 with msg set. */
int batch_parse(char *line, batch_item *b, char *msg, size_t n)
{
    memset(b, 0, sizeof(*b));
    if (line[0] != '{') {
        b->subject = strdup(line);
        return b->subject ? 0 : (snprintf(msg, n, "out of memory"), -1);
    }
    json_object *o = json_tokener_parse(line);
    if (o == NULL || !json_object_is_type(o, json_type_object)) {
        json_object_put(o);
        snprintf(msg, n, "not a JSON object");
        return -1;
    }
    int rc = 0;
    json_object_object_foreach(o, k, v) {
        if (strcmp(k, "subject") == 0 && json_object_is_type(v, json_type_string)) {
            b->subject = strdup(json_object_get_string(v));
        } else if (strcmp(k, "profile") == 0 && json_object_is_type(v, json_type_string)) {
            b->profile = strdup(json_object_get_string(v));
        } else if (strcmp(k, "pfx") == 0 && json_object_is_type(v, json_type_string)) {
            b->pfx = strdup(json_object_get_string(v));
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
                if ((b->sans[b->n_sans] = strdup(json_object_get_string(s))) == NULL) {
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
