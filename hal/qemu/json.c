/* ktmon: a bounded JSON scanner for QMP replies (no allocation, no recursion).
 *
 * It does not build a tree: it finds the span of a top-level key's value
 * and unescapes string tokens.  Malformed input is KM_ERR_BAD_DATA. */
#include <stdbool.h>
#include <string.h>

#include "ktmon/qemu.h"

static size_t km_json_ws(const char *s, size_t len, size_t i)
{
    size_t k = i;
    while ((k < len) && ((s[k] == ' ') || (s[k] == '\t') || (s[k] == '\r') || (s[k] == '\n'))) {
        k++;
    }
    return k;
}

/* End (one past) of the string token starting at s[i] == '"', or 0 if unterminated. */
static size_t km_json_string_end(const char *s, size_t len, size_t i)
{
    size_t end = 0u;
    size_t k = i + 1u;
    while ((end == 0u) && (k < len)) {
        if (s[k] == '\\') {
            k += 2u;
        } else if (s[k] == '"') {
            end = k + 1u;
        } else {
            k++;
        }
    }
    return end;
}

/* End (one past) of the value starting at s[i], or 0 if malformed. */
static size_t km_json_value_end(const char *s, size_t len, size_t i)
{
    size_t end = 0u;
    if (i >= len) {
        end = 0u;
    } else if (s[i] == '"') {
        end = km_json_string_end(s, len, i);
    } else if ((s[i] == '{') || (s[i] == '[')) {
        size_t depth = 0u;
        size_t k = i;
        bool bad = false;
        while ((end == 0u) && !bad && (k < len)) {
            char c = s[k];
            if (c == '"') {
                size_t e = km_json_string_end(s, len, k);
                if (e == 0u) {
                    bad = true;
                } else {
                    k = e;
                }
            } else {
                if ((c == '{') || (c == '[')) {
                    depth++;
                } else if ((c == '}') || (c == ']')) {
                    if (depth == 0u) {
                        bad = true;
                    } else {
                        depth--;
                        if (depth == 0u) {
                            end = k + 1u;
                        }
                    }
                } else {
                    /* scalar characters inside the container */
                }
                k++;
            }
        }
    } else {
        size_t k = i;
        while ((k < len) && (s[k] != ',') && (s[k] != '}') && (s[k] != ']') && (s[k] != ' ') &&
               (s[k] != '\r') && (s[k] != '\n') && (s[k] != '\t')) {
            k++;
        }
        end = (k > i) ? k : 0u;
    }
    return end;
}

km_status km_json_find(const char *json, size_t len, const char *key, const char **val, size_t *vlen)
{
    km_status st = KM_ERR_NO_SYMBOL;
    size_t klen = strlen(key);
    size_t i = km_json_ws(json, len, 0u);
    bool stop = false;
    if ((i >= len) || (json[i] != '{')) {
        st = KM_ERR_BAD_DATA;
        stop = true;
    } else {
        i = km_json_ws(json, len, i + 1u);
        if ((i < len) && (json[i] == '}')) {
            stop = true;
        }
    }
    while (!stop) {
        size_t kend = ((i < len) && (json[i] == '"')) ? km_json_string_end(json, len, i) : 0u;
        size_t v = 0u;
        size_t vend = 0u;
        if (kend != 0u) {
            v = km_json_ws(json, len, kend);
        }
        if ((kend == 0u) || (v >= len) || (json[v] != ':')) {
            st = KM_ERR_BAD_DATA;
            stop = true;
        } else {
            v = km_json_ws(json, len, v + 1u);
            vend = km_json_value_end(json, len, v);
            if (vend == 0u) {
                st = KM_ERR_BAD_DATA;
                stop = true;
            } else if (((kend - i) == (klen + 2u)) && (memcmp(&json[i + 1u], key, klen) == 0)) {
                *val = &json[v];
                *vlen = vend - v;
                st = KM_OK;
                stop = true;
            } else {
                i = km_json_ws(json, len, vend);
                if ((i < len) && (json[i] == ',')) {
                    i = km_json_ws(json, len, i + 1u);
                } else if ((i < len) && (json[i] == '}')) {
                    stop = true; /* key absent */
                } else {
                    st = KM_ERR_BAD_DATA;
                    stop = true;
                }
            }
        }
    }
    return st;
}

static int km_hexval(char c)
{
    int v = -1;
    if ((c >= '0') && (c <= '9')) {
        v = c - '0';
    } else if ((c >= 'a') && (c <= 'f')) {
        v = (c - 'a') + 10;
    } else if ((c >= 'A') && (c <= 'F')) {
        v = (c - 'A') + 10;
    } else {
        v = -1;
    }
    return v;
}

km_status km_json_unescape(const char *tok, size_t len, char *out, size_t cap, size_t *outlen)
{
    km_status st = KM_OK;
    size_t o = 0u;
    if ((len < 2u) || (tok[0] != '"') || (tok[len - 1u] != '"') || (cap == 0u)) {
        st = KM_ERR_BAD_DATA;
    }
    for (size_t i = 1u; (st == KM_OK) && (i < (len - 1u)); i++) {
        char c = tok[i];
        if (c == '\\') {
            i++;
            c = (i < (len - 1u)) ? tok[i] : '\0';
            switch (c) {
            case 'n':
                c = '\n';
                break;
            case 'r':
                c = '\r';
                break;
            case 't':
                c = '\t';
                break;
            case 'b':
                c = '\b';
                break;
            case 'f':
                c = '\f';
                break;
            case '"':
            case '\\':
            case '/':
                break;
            case 'u': {
                int code = 0;
                for (size_t k = 1u; (k <= 4u) && (st == KM_OK); k++) {
                    int h = ((i + k) < (len - 1u)) ? km_hexval(tok[i + k]) : -1;
                    if (h < 0) {
                        st = KM_ERR_BAD_DATA;
                    } else {
                        code = (code * 16) + h;
                    }
                }
                i += 4u;
                /* QMP text is ASCII; anything else becomes '?'. */
                c = ((code > 0) && (code < 0x80)) ? (char)code : '?';
                break;
            }
            default:
                st = KM_ERR_BAD_DATA;
                break;
            }
        }
        if (st == KM_OK) {
            if ((o + 1u) >= cap) {
                st = KM_ERR_CAPACITY;
            } else {
                out[o] = c;
                o++;
            }
        }
    }
    if (st == KM_OK) {
        out[o] = '\0';
        if (outlen != NULL) {
            *outlen = o;
        }
    }
    return st;
}
