/* ktmon: error context and error text of modules/btf (no stdio, no heap). */
#include <string.h>

#include "btf_int.h"

void km_btf_err_copy(char *dst, const char *name, uint32_t n)
{
    uint32_t k = 0u;
    while ((k < n) && ((k + 1u) < KM_BTF_ERR_NAME) && (name[k] != '\0')) {
        dst[k] = name[k];
        k++;
    }
    dst[k] = '\0';
}

const char *km_btf_kind_name(km_btf_kind kind)
{
    static const char *const names[KM_BTF_KIND_MAX + 1u] = {
        "void",     "int",   "pointer",    "array", "struct",   "union",    "enum",
        "fwd",      "typedef", "volatile", "const", "restrict", "function", "function prototype",
        "variable", "datasec", "float",    "decl tag", "type tag", "enum64"};
    const char *n = "unknown kind";
    uint32_t k = (uint32_t)kind;
    if (k <= KM_BTF_KIND_MAX) {
        n = names[k];
    }
    return n;
}

typedef struct km_btf_out {
    char *buf;
    size_t len;
    size_t used;
} km_btf_out;

static void km_btf_put(km_btf_out *o, const char *s)
{
    size_t i = 0u;
    while ((s[i] != '\0') && ((o->used + 1u) < o->len)) {
        o->buf[o->used] = s[i];
        o->used++;
        i++;
    }
    o->buf[o->used] = '\0';
}

static void km_btf_put_u64(km_btf_out *o, uint64_t v, bool hex)
{
    char digits[24];
    char tmp[28];
    size_t n = 0u;
    size_t k = 0u;
    uint64_t x = v;
    uint64_t base = 10u;
    if (hex) {
        base = 16u;
    }
    do {
        static const char km_digits[17] = "0123456789abcdef";
        digits[n] = km_digits[x % base];
        n++;
        x /= base;
    } while ((x != 0u) && (n < sizeof(digits)));
    if (hex) {
        tmp[0] = '0';
        tmp[1] = 'x';
        k = 2u;
    }
    while (n > 0u) {
        n--;
        tmp[k] = digits[n];
        k++;
    }
    tmp[k] = '\0';
    km_btf_put(o, tmp);
}

static void km_btf_put_quoted(km_btf_out *o, const char *s)
{
    km_btf_put(o, "'");
    km_btf_put(o, s);
    km_btf_put(o, "'");
}

static void km_btf_put_at(km_btf_out *o, const km_btf_error *e)
{
    if (e->type_id != 0u) {
        km_btf_put(o, " (type id ");
        km_btf_put_u64(o, (uint64_t)e->type_id, false);
        km_btf_put(o, ")");
    }
    if (e->offset != 0u) {
        km_btf_put(o, " at offset ");
        km_btf_put_u64(o, e->offset, true);
    }
}

static void km_btf_put_load(km_btf_out *o, const km_btf_error *e)
{
    switch (e->reason) {
    case KM_BTF_R_OPEN: {
        char msg[128];
        km_btf_put(o, "cannot open or read the file: ");
        if ((e->sys_errno != 0) && (strerror_r(e->sys_errno, msg, sizeof(msg)) == 0)) {
            km_btf_put(o, msg);
        } else {
            km_btf_put(o, "errno ");
            km_btf_put_u64(o, (uint64_t)(uint32_t)e->sys_errno, false);
        }
        break;
    }
    case KM_BTF_R_NOT_BTF:
        km_btf_put(o, "not BTF: neither the BTF magic 0xEB9F nor an ELF file");
        break;
    case KM_BTF_R_ELF:
        km_btf_put(o, "corrupt ELF file");
        if (e->lib_msg != NULL) {
            km_btf_put(o, " (libelf: ");
            km_btf_put(o, e->lib_msg);
            km_btf_put(o, ")");
        }
        if (e->offset != 0u) {
            km_btf_put(o, ": section at file offset ");
            km_btf_put_u64(o, e->offset, true);
            km_btf_put(o, " lies past the end of the file");
        }
        break;
    case KM_BTF_R_NO_BTF_SECTION:
        km_btf_put(o, "the ELF file has no .BTF section (kernel built without "
                      "CONFIG_DEBUG_INFO_BTF?); give /sys/kernel/btf/vmlinux of the guest or a raw "
                      "BTF file with --btf");
        break;
    case KM_BTF_R_ENDIAN:
        km_btf_put(o, "big-endian BTF: ktmon reads little-endian (x86_64, aarch64) kernels");
        break;
    case KM_BTF_R_VERSION:
        km_btf_put(o, "unsupported BTF version ");
        km_btf_put_u64(o, e->offset, false);
        km_btf_put(o, " (ktmon reads version 1)");
        break;
    case KM_BTF_R_FLAGS:
        km_btf_put(o, "unsupported BTF header flags ");
        km_btf_put_u64(o, e->offset, true);
        break;
    case KM_BTF_R_HEADER:
        km_btf_put(o, "bad BTF header (truncated, wrong length, or unknown non-zero fields)");
        km_btf_put_at(o, e);
        break;
    case KM_BTF_R_SECTIONS:
        km_btf_put(o, "BTF type or string section lies outside the data or they overlap");
        km_btf_put_at(o, e);
        break;
    case KM_BTF_R_STRINGS:
        km_btf_put(o, "bad BTF string section (empty, or truncated: its last string is not "
                      "NUL-terminated)");
        km_btf_put_at(o, e);
        break;
    case KM_BTF_R_NEEDS_BASE:
        km_btf_put(o, "BTF string section does not start with the empty name: a split (module) "
                      "BTF? load its base BTF first (ktmon offsetof --base-btf)");
        break;
    case KM_BTF_R_TRUNCATED:
        km_btf_put(o, "truncated BTF type record");
        km_btf_put_at(o, e);
        break;
    case KM_BTF_R_UNKNOWN_KIND:
        km_btf_put(o, "unknown BTF kind ");
        km_btf_put_u64(o, (uint64_t)e->kind, false);
        km_btf_put(o, " (newer than ktmon, or corrupt)");
        km_btf_put_at(o, e);
        break;
    case KM_BTF_R_TOO_MANY:
        km_btf_put(o, "too many BTF types or split levels");
        break;
    case KM_BTF_R_BAD_NAME:
        km_btf_put(o, "BTF name offset ");
        km_btf_put_u64(o, e->offset, true);
        km_btf_put(o, " lies outside the string section");
        if (e->type_id != 0u) {
            km_btf_put(o, " (type id ");
            km_btf_put_u64(o, (uint64_t)e->type_id, false);
            km_btf_put(o, ")");
        }
        break;
    case KM_BTF_R_BAD_TYPE_ID:
        km_btf_put(o, "BTF refers to type id ");
        km_btf_put_u64(o, (uint64_t)e->type_id, false);
        km_btf_put(o, ", which does not exist");
        break;
    case KM_BTF_R_LOOP:
        km_btf_put(o, "BTF typedef/modifier/array chain too long or cyclic");
        km_btf_put_at(o, e);
        break;
    case KM_BTF_R_NESTING:
        km_btf_put(o, "anonymous struct/union members nested too deep or cyclic");
        km_btf_put_at(o, e);
        break;
    case KM_BTF_R_NO_MEMORY:
        km_btf_put(o, "out of memory while loading BTF");
        break;
    default:
        km_btf_put(o, km_status_name(e->status));
        break;
    }
}

const char *km_btf_strerror(const km_btf_error *err, char *buf, size_t len)
{
    km_btf_out o = {buf, len, 0u};
    if ((buf != NULL) && (len > 0u)) {
        buf[0] = '\0';
        if (err == NULL) {
            km_btf_put(&o, "no error information");
        } else {
            switch (err->reason) {
            case KM_BTF_R_NONE:
                km_btf_put(&o, (err->status == KM_OK) ? "no error" : km_status_name(err->status));
                break;
            case KM_BTF_R_INVALID_ARG:
                km_btf_put(&o, (err->status == KM_ERR_STATE) ? "BTF not loaded"
                                                             : "invalid argument");
                break;
            case KM_BTF_R_BAD_PATH:
                km_btf_put(&o, "malformed path ");
                km_btf_put_quoted(&o, err->name);
                km_btf_put(&o, ": expected STRUCT[.MEMBER...], identifiers of up to 127 "
                               "characters, at most 16 components");
                break;
            case KM_BTF_R_NO_TYPE:
                km_btf_put(&o, "no struct, union or type named ");
                km_btf_put_quoted(&o, err->name);
                km_btf_put(&o, " in BTF");
                break;
            case KM_BTF_R_FWD_ONLY:
                km_btf_put(&o, "struct ");
                km_btf_put_quoted(&o, err->name);
                km_btf_put(&o, " is only forward-declared in this BTF (its layout is in another "
                               "object: load the vmlinux BTF as the base)");
                break;
            case KM_BTF_R_NO_MEMBER:
                km_btf_put(&o, "struct/union ");
                km_btf_put_quoted(&o, err->context);
                km_btf_put(&o, " has no member ");
                km_btf_put_quoted(&o, err->name);
                if (err->index != KM_NO_INDEX) {
                    km_btf_put(&o, " (path component ");
                    km_btf_put_u64(&o, (uint64_t)err->index + 1u, false);
                    km_btf_put(&o, ")");
                }
                break;
            case KM_BTF_R_NOT_COMPOSITE:
            case KM_BTF_R_POINTER:
                km_btf_put(&o, "cannot descend into ");
                km_btf_put_quoted(&o, err->name);
                km_btf_put(&o, (err->reason == KM_BTF_R_POINTER)
                                   ? ": it is a pointer (offsets do not follow pointers)"
                                   : ": it is not a struct or union (it is ");
                if (err->reason != KM_BTF_R_POINTER) {
                    km_btf_put(&o, km_btf_kind_name((km_btf_kind)err->kind));
                    km_btf_put(&o, ")");
                }
                break;
            case KM_BTF_R_BITFIELD:
                km_btf_put_quoted(&o, err->name);
                km_btf_put(&o, " is a bitfield or not byte-aligned: bit offset ");
                km_btf_put_u64(&o, err->offset, false);
                if (err->kind != 0u) {
                    km_btf_put(&o, ", ");
                    km_btf_put_u64(&o, (uint64_t)err->kind, false);
                    km_btf_put(&o, " bits");
                }
                km_btf_put(&o, "; it has no byte offset");
                break;
            case KM_BTF_R_NO_SIZE:
                km_btf_put(&o, "type has no size (it is ");
                km_btf_put(&o, km_btf_kind_name((km_btf_kind)err->kind));
                km_btf_put(&o, ")");
                km_btf_put_at(&o, err);
                break;
            case KM_BTF_R_OVERFLOW:
                km_btf_put(&o, "size or offset does not fit in 32 bits");
                km_btf_put_at(&o, err);
                break;
            case KM_BTF_R_NO_ENUM:
                km_btf_put(&o, "no enum named ");
                km_btf_put_quoted(&o, err->context);
                km_btf_put(&o, " in BTF");
                break;
            case KM_BTF_R_NO_ENUMERATOR:
                km_btf_put(&o, "no enumerator ");
                km_btf_put_quoted(&o, err->name);
                if ((uint8_t)err->context[0] != 0u) {
                    km_btf_put(&o, " in enum ");
                    km_btf_put_quoted(&o, err->context);
                } else {
                    km_btf_put(&o, " in any enum");
                }
                break;
            case KM_BTF_R_AMBIGUOUS:
                km_btf_put(&o, "enumerator ");
                km_btf_put_quoted(&o, err->name);
                km_btf_put(&o, " has different values in several enums: name the enum "
                               "(ENUM.NAME)");
                break;
            default:
                km_btf_put_load(&o, err);
                break;
            }
            if (err->entry != KM_NO_INDEX) {
                km_btf_put(&o, " [entry ");
                km_btf_put_u64(&o, (uint64_t)err->entry, false);
                km_btf_put(&o, "]");
            }
        }
    }
    return buf;
}
