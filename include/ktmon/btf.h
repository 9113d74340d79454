/* ktmon: struct member offsets, type sizes and enum values from BTF.
 *
 * ktmon reads BTF itself (docs/btf.md says why not libbpf): from a vmlinux's
 * or module's .BTF section, from a raw BTF file (/sys/kernel/btf/vmlinux,
 * `objcopy -O binary --only-section=.BTF`), or a split BTF (module BTF)
 * on top of an already loaded base.  The input is untrusted: every record,
 * string offset and type id is bounds-checked where it is read, and every
 * walk has a fixed bound, so hostile BTF is a status, never a crash or a
 * hang.
 *
 * Allocation: km_btf_load_* copy the BTF bytes (5 MB for a 7.3 vmlinux) and
 * build two indexes (the offset of every type, a sorted hash index of named
 * types); km_btf_fini frees them.  Queries allocate nothing and may run
 * concurrently.  A split km_btf points at its base: the base must stay
 * loaded (and unchanged) until the split one is finalised. */
#ifndef KTMON_BTF_H
#define KTMON_BTF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "ktmon/api.h"
#include "ktmon/status.h"

#define KM_BTF_MAGIC 0xEB9Fu
#define KM_BTF_VERSION 1u
#define KM_BTF_HDR_MIN 24u            /* bytes of the version-1 header */
#define KM_BTF_MAX_LAYERS 4u          /* base + up to three split levels */
#define KM_BTF_MAX_TYPES 0x00FFFFFFu  /* type ids per km_btf (vmlinux 7.3: 121,185) */
#define KM_BTF_MAX_HOPS 32u           /* typedef/const/volatile/array chain length */
#define KM_BTF_MAX_NEST 32u           /* anonymous struct/union nesting */
#define KM_BTF_MAX_VISITS (UINT32_C(1) << 20) /* members examined by one lookup */
#define KM_BTF_MAX_PATH 16u           /* components of a member path */
#define KM_BTF_NAME_MAX 127u          /* characters of one path component */
#define KM_BTF_ERR_NAME 64u           /* bytes kept of a name in km_btf_error */

/* Type kinds (the BTF_KIND_* numbering of the kernel's BTF format). */
typedef enum km_btf_kind {
    KM_BTF_KIND_VOID = 0,   /* also "any kind" for km_btf_find_type */
    KM_BTF_KIND_INT = 1,
    KM_BTF_KIND_PTR = 2,
    KM_BTF_KIND_ARRAY = 3,
    KM_BTF_KIND_STRUCT = 4,
    KM_BTF_KIND_UNION = 5,
    KM_BTF_KIND_ENUM = 6,
    KM_BTF_KIND_FWD = 7,
    KM_BTF_KIND_TYPEDEF = 8,
    KM_BTF_KIND_VOLATILE = 9,
    KM_BTF_KIND_CONST = 10,
    KM_BTF_KIND_RESTRICT = 11,
    KM_BTF_KIND_FUNC = 12,
    KM_BTF_KIND_FUNC_PROTO = 13,
    KM_BTF_KIND_VAR = 14,
    KM_BTF_KIND_DATASEC = 15,
    KM_BTF_KIND_FLOAT = 16,
    KM_BTF_KIND_DECL_TAG = 17,
    KM_BTF_KIND_TYPE_TAG = 18,
    KM_BTF_KIND_ENUM64 = 19
} km_btf_kind;

#define KM_BTF_KIND_MAX 19u

/* Why an operation failed (km_btf_error.reason). */
typedef enum km_btf_reason {
    KM_BTF_R_NONE = 0,
    KM_BTF_R_INVALID_ARG,     /* NULL argument, or a base that is not loaded */
    KM_BTF_R_OPEN,            /* open/fstat/read failed: sys_errno */
    KM_BTF_R_NOT_BTF,         /* neither BTF magic nor an ELF file */
    KM_BTF_R_ELF,             /* libelf refused the ELF file: lib_msg */
    KM_BTF_R_NO_BTF_SECTION,  /* ELF file without .BTF */
    KM_BTF_R_ENDIAN,          /* big-endian BTF */
    KM_BTF_R_VERSION,         /* version != 1: offset = version */
    KM_BTF_R_FLAGS,           /* header flags != 0 */
    KM_BTF_R_HEADER,          /* header length or its unknown tail: offset */
    KM_BTF_R_SECTIONS,        /* type/string sections outside the data or overlapping */
    KM_BTF_R_STRINGS,         /* string section empty or its last string unterminated */
    KM_BTF_R_NEEDS_BASE,      /* strings do not start with the empty name: split BTF without its base */
    KM_BTF_R_TRUNCATED,       /* a type record runs past the type section: type_id, offset */
    KM_BTF_R_UNKNOWN_KIND,    /* kind > 19: type_id, offset = kind */
    KM_BTF_R_TOO_MANY,        /* more than KM_BTF_MAX_TYPES types or layers */
    KM_BTF_R_BAD_NAME,        /* name offset outside the strings: type_id, offset */
    KM_BTF_R_BAD_TYPE_ID,     /* reference to a type id that does not exist: type_id */
    KM_BTF_R_LOOP,            /* typedef/modifier/array chain longer than KM_BTF_MAX_HOPS */
    KM_BTF_R_NESTING,         /* anonymous members nested deeper than KM_BTF_MAX_NEST */
    KM_BTF_R_BAD_PATH,        /* malformed member path: index = component */
    KM_BTF_R_NO_TYPE,         /* no struct/union (or type) with that name: name */
    KM_BTF_R_FWD_ONLY,        /* the struct is only forward-declared: name */
    KM_BTF_R_NO_MEMBER,       /* context has no member name: index = component */
    KM_BTF_R_NOT_COMPOSITE,   /* cannot descend into member name (not a struct/union) */
    KM_BTF_R_POINTER,         /* cannot descend through pointer member name */
    KM_BTF_R_BITFIELD,        /* member is a bitfield: offset = bit offset, kind = bits */
    KM_BTF_R_NO_SIZE,         /* the type has no size (void, function, forward decl.) */
    KM_BTF_R_OVERFLOW,        /* size or offset beyond 32 bits */
    KM_BTF_R_NO_ENUM,         /* no enum with that name: context */
    KM_BTF_R_NO_ENUMERATOR,   /* no enumerator with that name: name (context = enum or empty) */
    KM_BTF_R_AMBIGUOUS,       /* enumerator in several enums with different values: name */
    KM_BTF_R_NO_MEMORY        /* allocation failed */
} km_btf_reason;

#define KM_BTF_REASON_COUNT 33

/* Error context: fixed size, no heap. */
typedef struct km_btf_error {
    km_status status;
    km_btf_reason reason;
    int32_t sys_errno;             /* errno of the failing call, or 0 */
    uint32_t type_id;              /* type involved, or 0 */
    uint32_t index;                /* path component (0 = the struct), or KM_NO_INDEX */
    uint32_t entry;                /* failing entry of a batch resolver, or KM_NO_INDEX */
    uint32_t kind;                 /* a kind or a bit count (see the reasons) */
    uint64_t offset;               /* offset in the BTF data, or a bit offset */
    char name[KM_BTF_ERR_NAME];    /* the name looked for (truncated), or "" */
    char context[KM_BTF_ERR_NAME]; /* the struct/union/enum searched (truncated), or "" */
    const char *lib_msg;           /* libelf's static message, or NULL */
} km_btf_error;

/* One BTF blob: the base, or one split level above it.  Public only so a
 * km_btf can live in caller storage; read it through the functions. */
typedef struct km_btf_layer {
    const uint8_t *types;       /* type section */
    uint32_t types_len;
    const uint8_t *strs;        /* string section */
    uint32_t strs_len;
    const uint32_t *offs;       /* offs[i]: offset in types of type start_id + i */
    uint32_t nr_types;
    uint32_t start_id;          /* first type id of this layer (1 for a base) */
    uint32_t start_str;         /* first string offset of this layer (0 for a base) */
    const uint32_t *name_hash;  /* index of named types: hashes ascending ... */
    const uint32_t *name_ids;   /* ... and their type ids */
    uint32_t named;
} km_btf_layer;

typedef struct km_btf {
    km_btf_layer layers[KM_BTF_MAX_LAYERS]; /* [0] the base ... [nlayers-1] this BTF */
    uint32_t nlayers;                       /* 0: not loaded */
    uint32_t ptr_size;                      /* bytes of a pointer (8 unless a 32-bit ELF says 4) */
    uint8_t *blob;                          /* owned: the top layer's bytes */
    uint32_t *own_offs;                     /* owned: the top layer's indexes */
    uint32_t *own_hash;
    uint32_t *own_ids;
} km_btf;

/* A member (or, for a path without '.', the type itself: offset 0). */
typedef struct km_btf_member_info {
    uint32_t offset;         /* bytes from the start of the outermost type */
    uint64_t bit_offset;     /* bits from the start of the outermost type */
    uint32_t size;           /* bytes of the member's type (a bitfield: of its storage type) */
    uint32_t bitfield_bits;  /* 0 unless the member is a bitfield */
    uint32_t type_id;        /* the member's type as declared */
    km_btf_kind kind;        /* its kind once typedef/const/volatile/restrict/type tags are peeled */
    bool is_signed;          /* a signed integer or a signed enum */
} km_btf_member_info;

/* An enumerator's value: the 64 bits of value, sign-extended when signed. */
typedef struct km_btf_enum_val {
    uint64_t value;
    bool is_signed;
    uint32_t size;     /* bytes of the enum type */
    uint32_t enum_id;  /* the enum type that holds it */
} km_btf_enum_val;

/* Batch request for km_btf_resolve_fields: path -> *offset (and *size). */
typedef struct km_btf_field {
    const char *path;   /* "rq.scx.nr_running"; "rq" alone asks for sizeof */
    uint32_t *offset;   /* receives the byte offset; may be NULL */
    uint32_t *size;     /* receives the member's size; may be NULL */
    bool required;      /* absence fails the batch */
    bool found;         /* set by the resolver */
} km_btf_field;

/* Batch request for km_btf_resolve_enums: (enum, name) -> *value. */
typedef struct km_btf_enum_field {
    const char *enum_name;  /* "scx_exit_kind", or NULL to search every enum */
    const char *name;       /* "SCX_EXIT_ERROR_BPF" */
    uint64_t *value;        /* receives the value (sign-extended if signed) */
    bool required;
    bool found;
} km_btf_enum_field;

/*@ predicate km_btf_layer_ok(km_btf_layer l) =
        l.nr_types <= KM_BTF_MAX_TYPES && l.start_id <= KM_BTF_MAX_TYPES &&
        l.named <= KM_BTF_MAX_TYPES &&
        (l.types_len > 0 ==> \valid_read(l.types + (0 .. l.types_len - 1))) &&
        (l.strs_len > 0 ==> \valid_read(l.strs + (0 .. l.strs_len - 1))) &&
        (l.nr_types > 0 ==> \valid_read(l.offs + (0 .. l.nr_types - 1))) &&
        (l.named > 0 ==> \valid_read(l.name_hash + (0 .. l.named - 1)) &&
                         \valid_read(l.name_ids + (0 .. l.named - 1)));

    predicate km_btf_ok(km_btf *b) =
        \valid_read(b) && 1 <= b->nlayers <= KM_BTF_MAX_LAYERS &&
        (b->ptr_size == 4 || b->ptr_size == 8) &&
        (\forall integer i; 0 <= i < b->nlayers ==> km_btf_layer_ok(b->layers[i]));

    // An error record outside *b (every read of the BTF bytes is bounds-checked
    // against *b's fields, so only *b must stay unchanged while errors are written).
    predicate km_btf_err_sep(km_btf *b, km_btf_error *e) = \separated(e, b);

    predicate km_btf_err_ok(km_btf *b, km_btf_error *e) =
        e == \null || (\valid(e) && km_btf_err_sep(b, e));

    // What the query functions accept: loaded and well-formed, or not loaded.
    predicate km_btf_usable(km_btf *b) =
        \valid_read(b) && ((1 <= b->nlayers <= KM_BTF_MAX_LAYERS) ==> km_btf_ok(b));
*/

/* A not-loaded km_btf (queries say KM_ERR_STATE). */
KM_API void km_btf_init(km_btf *b);

/* Free what a load allocated; NULL is a no-op. */
KM_API void km_btf_fini(km_btf *b);

/* Load BTF from a file: an ELF with a .BTF section (vmlinux, a module) or
 * raw BTF.  base is NULL for a vmlinux/base BTF, or the loaded base of a
 * split BTF.  b is initialised first and left not-loaded on failure. */
KM_API km_status km_btf_load_file(km_btf *b, const char *path, const km_btf *base,
                                  km_btf_error *err);

/* The same over bytes in memory (raw BTF or an ELF image); the bytes are
 * copied, the caller may free them when this returns. */
KM_API km_status km_btf_load_buffer(km_btf *b, const uint8_t *buf, size_t len, const km_btf *base,
                                    km_btf_error *err);

/* One past the highest type id (type ids 1 .. count-1 exist; 0 is void). */
/*@ requires b == \null || km_btf_usable(b);
    assigns \nothing; */
KM_API uint32_t km_btf_type_count(const km_btf *b);

/* Lowest type id with this name and kind (KM_BTF_KIND_VOID: any kind that
 * carries a name: int, struct, union, enum, enum64, fwd, typedef, float,
 * var, datasec).  KM_ERR_NO_TYPE if none. */
/*@ requires b == \null || km_btf_usable(b);
    requires name == \null || valid_read_string(name);
    requires id == \null || \valid(id);
    assigns *id;
    ensures \result == KM_OK || \result == KM_ERR_NO_TYPE || \result == KM_ERR_INVALID_ARG ||
            \result == KM_ERR_STATE;
    ensures \result != KM_OK ==> (id == \null || *id == \old(*id)); */
KM_API km_status km_btf_find_type(const km_btf *b, const char *name, km_btf_kind kind,
                                  uint32_t *id);

/* Kind, name and size of a type id (for tools).  name is "" when anonymous;
 * size is 0 when the kind has none. */
/*@ requires b == \null || km_btf_usable(b);
    requires kind == \null || \valid(kind);
    requires name == \null || \valid(name);
    requires size == \null || \valid(size);
    requires \separated(kind, name, size);
    assigns *kind, *name, *size; */
KM_API km_status km_btf_type_info(const km_btf *b, uint32_t id, km_btf_kind *kind,
                                  const char **name, uint32_t *size);

/* Member by dotted path: "STRUCT.MEMBER[.MEMBER...]".  STRUCT names a
 * struct or union (or a typedef of one); each MEMBER is searched through
 * anonymous struct/union members and typedef/const/volatile wrappers.
 * Bitfields are reported (bit_offset, bitfield_bits); see km_btf_offsetof.
 * KM_ERR_NO_TYPE for a missing struct or member, KM_ERR_INVALID_ARG for a
 * malformed path, KM_ERR_BAD_DATA for broken BTF; err says which. */
/*@ requires b == \null || km_btf_usable(b);
    requires path == \null || valid_read_string(path);
    requires \valid(out);
    requires err == \null || \valid(err);
    requires b != \null ==> km_btf_err_ok(b, err);
    requires err != \null ==> \separated(err, out);
    requires err != \null && path != \null ==> \separated(err, path + (0 .. strlen(path)));
    assigns *out, *err;
    ensures \result != KM_OK ==> *out == \old(*out); */
KM_API km_status km_btf_member(const km_btf *b, const char *path, km_btf_member_info *out,
                               km_btf_error *err);

/* Byte offset of a member.  A bitfield, or any member not starting on a
 * byte boundary, is refused with KM_ERR_UNSUPPORTED (reason BITFIELD). */
/*@ requires b == \null || km_btf_usable(b);
    requires path == \null || valid_read_string(path);
    requires \valid(offset);
    requires err == \null || \valid(err);
    requires b != \null ==> km_btf_err_ok(b, err);
    requires err != \null ==> \separated(err, offset);
    requires err != \null && path != \null ==> \separated(err, path + (0 .. strlen(path)));
    assigns *offset, *err;
    ensures \result != KM_OK ==> *offset == \old(*offset); */
KM_API km_status km_btf_offsetof(const km_btf *b, const char *path, uint32_t *offset,
                                 km_btf_error *err);

/* Size of a named struct/union/typedef/enum/int ("rq", "scx_sched"). */
/*@ requires b == \null || km_btf_usable(b);
    requires type_name == \null || valid_read_string(type_name);
    requires size == \null || \valid(size);
    requires err == \null || \valid(err);
    requires b != \null ==> km_btf_err_ok(b, err);
    requires err != \null && size != \null ==> \separated(err, size);
    requires err != \null && type_name != \null ==>
        \separated(err, type_name + (0 .. strlen(type_name)));
    assigns *size, *err;
    ensures \result != KM_OK && size != \null ==> *size == \old(*size); */
KM_API km_status km_btf_sizeof(const km_btf *b, const char *type_name, uint32_t *size,
                               km_btf_error *err);

/* Value of an enumerator.  enum_name NULL searches every enum (including
 * anonymous ones); the same name with different values in several enums is
 * KM_ERR_MISMATCH (reason AMBIGUOUS).  ENUM and ENUM64 alike. */
/*@ requires b == \null || km_btf_usable(b);
    requires enum_name == \null || valid_read_string(enum_name);
    requires name == \null || valid_read_string(name);
    requires out == \null || \valid(out);
    requires err == \null || \valid(err);
    requires b != \null ==> km_btf_err_ok(b, err);
    requires err != \null && out != \null ==> \separated(err, out);
    requires err != \null && name != \null ==> \separated(err, name + (0 .. strlen(name)));
    requires err != \null && enum_name != \null ==>
        \separated(err, enum_name + (0 .. strlen(enum_name)));
    assigns *out, *err; */
KM_API km_status km_btf_enum_value(const km_btf *b, const char *enum_name, const char *name,
                                   km_btf_enum_val *out, km_btf_error *err);

/* Resolve a batch (e.g. at init).  Every entry is looked up; if a required
 * one fails, nothing is written (no *offset, *size or found flag) and the
 * status and err (entry = the entry's index) describe the first failure.  On
 * KM_OK, each entry's found flag is set, and *offset / *size are written for
 * the entries found. */
KM_API km_status km_btf_resolve_fields(const km_btf *b, km_btf_field *fields, uint32_t n,
                                       km_btf_error *err);
KM_API km_status km_btf_resolve_enums(const km_btf *b, km_btf_enum_field *fields, uint32_t n,
                                      km_btf_error *err);

/* Human-readable text for an error.  Always NUL-terminates buf (len >= 1);
 * returns buf.  Never allocates. */
KM_API const char *km_btf_strerror(const km_btf_error *err, char *buf, size_t len);

/* "struct", "union", "int", ... */
KM_API const char *km_btf_kind_name(km_btf_kind kind);

#endif /* KTMON_BTF_H */
