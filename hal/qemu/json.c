/* ktmon: a bounded JSON scanner for QMP replies (no allocation, no recursion).
 *
 * It does not build a tree: it finds the span of a top-level key's value
 * and unescapes string tokens.  Malformed input is KM_ERR_BAD_DATA. */
#include <stdbool.h>
#include <string.h>

#include "ktmon/qemu.h"
#include "text.h"

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
    size_t i = km_json_ws(json, len, 0u);
    size_t fv = 0u;  /* the first match's value: json[fv .. fv + fvl) */
    size_t fvl = 0u;
    bool found = false;
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
    /* Scan the whole object even after a match: a reply cut short after the
     * key's value is malformed, not an answer. */
    while (!stop) {
        size_t kend = ((i < len) && (json[i] == '"')) ? km_json_string_end(json, len, i) : 0u;
        size_t v = 0u;
        if (kend != 0u) {
            v = km_json_ws(json, len, kend);
        }
        if ((kend == 0u) || (v >= len) || (json[v] != ':')) {
            st = KM_ERR_BAD_DATA;
            stop = true;
        } else {
            size_t vend;
            v = km_json_ws(json, len, v + 1u);
            vend = km_json_value_end(json, len, v);
            if (vend == 0u) {
                st = KM_ERR_BAD_DATA;
                stop = true;
            } else {
                /* the key token without its quotes, compared byte for byte */
                if (!found && km_txt_span_is(&json[i + 1u], (kend - i) - 2u, key)) {
                    fv = v;
                    fvl = vend - v;
                    found = true;
                }
                i = km_json_ws(json, len, vend);
                if ((i < len) && (json[i] == ',')) {
                    i = km_json_ws(json, len, i + 1u);
                } else if ((i < len) && (json[i] == '}')) {
                    stop = true; /* json[i] closes the object */
                } else {
                    st = KM_ERR_BAD_DATA;
                    stop = true;
                }
            }
        }
    }
    /* only white space may follow the closing brace */
    if ((st != KM_ERR_BAD_DATA) && (km_json_ws(json, len, i + 1u) < len)) {
        st = KM_ERR_BAD_DATA;
    }
    if ((st != KM_ERR_BAD_DATA) && found) {
        *val = &json[fv];
        *vlen = fvl;
        st = KM_OK;
    }
    return st;
}

/* The character an escape sequence \c stands for (c not 'u'); false if c is no JSON escape. */
static bool km_json_escape(char c, char *out)
{
    bool ok = true;
    switch (c) {
    case 'n':
        *out = '\n';
        break;
    case 'r':
        *out = '\r';
        break;
    case 't':
        *out = '\t';
        break;
    case 'b':
        *out = '\b';
        break;
    case 'f':
        *out = '\f';
        break;
    case '"':
    case '\\':
    case '/':
        *out = c;
        break;
    default:
        ok = false;
        break;
    }
    return ok;
}

/* The four hex digits of a \uXXXX escape at tok[at .. at+4), before `end`: its
 * character, where QMP text (ASCII) can only hold code points 1 .. 0x7f;
 * anything else becomes '?'.  False if a digit is missing or not hex. */
static bool km_json_u_escape(const char *tok, size_t at, size_t end, char *out)
{
    bool ok = true;
    uint32_t code = 0u;
    for (size_t k = 0u; ok && (k < 4u); k++) {
        int32_t h = ((at + k) < end) ? km_txt_hexval(tok[at + k]) : -1;
        if (h < 0) {
            ok = false;
        } else {
            code = (code * 16u) + (uint32_t)h;
        }
    }
    if (ok) {
        char c = '?';
        if ((code > 0u) && (code < 0x80u)) {
            c = (char)code;
        }
        *out = c;
    }
    return ok;
}

km_status km_json_unescape(const char *tok, size_t len, char *out, size_t cap, size_t *outlen)
{
    km_status st = KM_OK;
    size_t o = 0u;
    size_t i = 1u;
    if ((len < 2u) || (tok[0] != '"') || (tok[len - 1u] != '"') || (cap == 0u)) {
        st = KM_ERR_BAD_DATA;
    }
    /* tok[1 .. len-1) is the body; i advances past each character or escape */
    while ((st == KM_OK) && (i < (len - 1u))) {
        char c = tok[i];
        size_t used = 1u;
        if (c == '\\') {
            char e = '\0'; /* a backslash closing the body escapes nothing: bad */
            if ((i + 1u) < (len - 1u)) {
                e = tok[i + 1u];
            }
            if (e == 'u') {
                if (!km_json_u_escape(tok, i + 2u, len - 1u, &c)) {
                    st = KM_ERR_BAD_DATA;
                }
                used = 6u;
            } else if (!km_json_escape(e, &c)) {
                st = KM_ERR_BAD_DATA;
            } else {
                used = 2u;
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
        i += used;
    }
    if (st == KM_OK) {
        out[o] = '\0';
        if (outlen != NULL) {
            *outlen = o;
        }
    }
    return st;
}
