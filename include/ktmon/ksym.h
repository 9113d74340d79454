/* ktmon: kernel symbols from a vmlinux (.symtab through libelf) or a System.map.
 *
 * A km_ksym is loaded once and then only read.  Loading builds one table
 * sorted by a 32-bit hash of the name (lookup by name: binary search on the
 * hash, then a scan of the few entries sharing it) and an index sorted by
 * address (lookup by address: the nearest preceding symbol and the offset
 * from it).
 *
 * Which symbols are kept (as the reference): every .symtab entry except
 * SHN_UNDEF ones and those with an empty name; every System.map line except
 * undefined ('U', 'w', 'v') ones.  The address index leaves out STT_FILE and
 * STT_SECTION entries, which name no kernel object.
 *
 * Duplicate names (static symbols of different files, compiler labels such
 * as ".LC0"): a global or weak symbol wins over local ones, and among
 * symbols of the same binding the last one in the table wins (the
 * reference's rule).  km_ksym_sym.same_name says how many others share the
 * name, so a caller can tell an unambiguous answer from a guess.
 *
 * Allocation: the km_ksym_load_* functions allocate the table (48 bytes a
 * symbol plus a copy of the names: 16.5 MB for the 229,131 symbols of a 7.3
 * x86_64 vmlinux) and km_ksym_fini frees it.  The vmlinux is
 * read through a read-only mmap (ELF_C_READ_MMAP); only .symtab and .strtab
 * are touched, and the file is closed before the load returns.  Lookups
 * allocate nothing, make no system call and may run concurrently. */
#ifndef KTMON_KSYM_H
#define KTMON_KSYM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "ktmon/api.h"
#include "ktmon/arch.h"
#include "ktmon/status.h"

/* Longest symbol name accepted from a System.map (the kernel's own limit,
 * KSYM_NAME_LEN, is 512). */
#define KM_KSYM_NAME_MAX 1024u
/* Most symbols a table holds (a 7.3 vmlinux has 229,131). */
#define KM_KSYM_MAX_SYMBOLS (UINT32_C(1) << 24)
/* Largest System.map accepted (a 7.3 one is 10 MB). */
#define KM_KSYM_MAX_MAP_BYTES (UINT64_C(1) << 30)

/* ELF machine numbers ktmon knows (from the ELF specification). */
#define KM_KSYM_EM_X86_64 62u
#define KM_KSYM_EM_AARCH64 183u

typedef enum km_ksym_source {
    KM_KSYM_SOURCE_NONE = 0,   /* empty table (after init or fini) */
    KM_KSYM_SOURCE_ELF,        /* vmlinux .symtab */
    KM_KSYM_SOURCE_SYSTEM_MAP  /* "ADDR TYPE NAME" lines */
} km_ksym_source;

/* Why a load failed (km_ksym_error.reason). */
typedef enum km_ksym_reason {
    KM_KSYM_R_NONE = 0,
    KM_KSYM_R_INVALID_ARG,    /* NULL path, table or buffer */
    KM_KSYM_R_OPEN,           /* open/fstat/read failed: sys_errno */
    KM_KSYM_R_NOT_ELF,        /* no ELF magic */
    KM_KSYM_R_ELF_CLASS,      /* not a little-endian ELF64 file */
    KM_KSYM_R_ELF_CORRUPT,    /* libelf refused the file: lib_msg */
    KM_KSYM_R_ELF_TRUNCATED,  /* a section lies past the end of the file: offset */
    KM_KSYM_R_NO_SYMTAB,      /* no .symtab (stripped, e.g. extracted from vmlinuz) */
    KM_KSYM_R_BAD_SYMTAB,     /* .symtab/.strtab malformed: index = symbol */
    KM_KSYM_R_WRONG_ARCH,     /* machine differs from the expected one */
    KM_KSYM_R_EMPTY_MAP,      /* System.map without a symbol */
    KM_KSYM_R_MAP_LINE,       /* malformed System.map line: line */
    KM_KSYM_R_TOO_BIG,        /* more than KM_KSYM_MAX_SYMBOLS / KM_KSYM_MAX_MAP_BYTES */
    KM_KSYM_R_NO_SYMBOLS,     /* .symtab holds no defined, named symbol */
    KM_KSYM_R_NO_MEMORY       /* allocation failed */
} km_ksym_reason;

#define KM_KSYM_REASON_COUNT 15

/* Error context of a load: fixed size, no heap. */
typedef struct km_ksym_error {
    km_status status;
    km_ksym_reason reason;
    int32_t sys_errno;         /* errno of the failing call, or 0 */
    uint32_t line;             /* System.map line (1-based) or symbol index; 0 if none */
    uint64_t offset;           /* file offset involved, or 0 */
    uint32_t machine;          /* ELF e_machine found (WRONG_ARCH) */
    uint32_t expected_machine; /* ELF e_machine expected (WRONG_ARCH) */
    const char *lib_msg;       /* libelf's static message, or NULL */
} km_ksym_error;

/* Load options; NULL means defaults (any architecture). */
typedef struct km_ksym_opts {
    bool check_arch;  /* refuse an ELF file built for another machine */
    km_arch arch;     /* the expected machine when check_arch */
} km_ksym_opts;

/* One symbol as stored (public so that callers can hold a km_ksym by value). */
typedef struct km_ksym_entry {
    uint64_t addr;
    uint64_t size;      /* st_size; 0 for System.map */
    uint32_t name;      /* offset of the NUL-terminated name in km_ksym.names */
    uint32_t order;     /* position in the source (.symtab index, System.map line) */
    char type;          /* nm-style letter (T t D d B b R r A a W w V v N n ...) */
    uint8_t rank;       /* 2 global, 1 weak, 0 local: duplicate-name preference */
    uint8_t in_addr;    /* 1 if the entry is in the address index */
    uint8_t pad[5];
} km_ksym_entry;

typedef struct km_ksym {
    km_ksym_entry *entries;  /* sorted by name_hash */
    uint32_t *name_hash;     /* name_hash[i] is the hash of entries[i]'s name, ascending */
    uint64_t *addr_sorted;   /* addresses of the address index, ascending */
    uint32_t *by_addr;       /* by_addr[i]: entry with address addr_sorted[i] */
    uint32_t count;          /* entries */
    uint32_t addr_count;     /* entries in the address index */
    char *names;             /* owned copy of the names (ELF .strtab or System.map text) */
    size_t names_len;
    km_ksym_source source;
    uint32_t elf_machine;    /* ELF e_machine, 0 for System.map */
    bool arch_known;
    km_arch arch;            /* valid when arch_known */
} km_ksym;

/* A symbol returned by a lookup; name points into the table. */
typedef struct km_ksym_sym {
    const char *name;
    uint64_t addr;
    uint64_t size;       /* 0 when the source has no size (System.map) */
    char type;           /* nm-style letter, '?' when unknown */
    bool size_known;
    uint32_t same_name;  /* other symbols with this name (0: unambiguous) */
} km_ksym_sym;

/*@ predicate km_ksym_ok(km_ksym *t) =
        \valid_read(t) && t->addr_count <= t->count && t->count <= KM_KSYM_MAX_SYMBOLS &&
        (t->count > 0 ==> \valid_read(t->entries + (0 .. t->count - 1)) &&
                          \valid_read(t->name_hash + (0 .. t->count - 1))) &&
        (t->addr_count > 0 ==> \valid_read(t->addr_sorted + (0 .. t->addr_count - 1)) &&
                               \valid_read(t->by_addr + (0 .. t->addr_count - 1))) &&
        (\forall integer i; 0 <= i < t->addr_count ==> t->by_addr[i] < t->count) &&
        (\forall integer i, j; 0 <= i <= j < t->count ==> t->name_hash[i] <= t->name_hash[j]) &&
        (\forall integer i, j; 0 <= i <= j < t->addr_count ==>
            t->addr_sorted[i] <= t->addr_sorted[j]) &&
        (\forall integer i; 0 <= i < t->count ==> t->entries[i].name < t->names_len) &&
        (t->names_len > 0 ==> \valid_read(t->names + (0 .. t->names_len - 1)) &&
                              t->names[t->names_len - 1] == 0);
*/

/* An empty table: every lookup says KM_ERR_NO_SYMBOL. */
/*@ requires \valid(t);
    assigns *t;
    ensures km_ksym_ok(t) && t->count == 0 && t->addr_count == 0; */
KM_API void km_ksym_init(km_ksym *t);

/* Free what a load allocated and leave an empty table.  NULL is a no-op. */
KM_API void km_ksym_fini(km_ksym *t);

/* Load a vmlinux's .symtab.  t is initialised first and is a valid table
 * (empty on failure) when the call returns.  err (may be NULL) says why a
 * load failed; km_ksym_strerror turns it into text. */
KM_API km_status km_ksym_load_elf(km_ksym *t, const char *path, const km_ksym_opts *opts,
                                  km_ksym_error *err);

/* The same over an ELF image in memory (the bytes are only read; the caller
 * may free them once this returns). */
KM_API km_status km_ksym_load_elf_buffer(km_ksym *t, const uint8_t *buf, size_t len,
                                         const km_ksym_opts *opts, km_ksym_error *err);

/* Load a System.map ("ADDR TYPE NAME" per line, ADDR in hex).  Blank lines
 * are skipped; anything else that does not parse is KM_ERR_BAD_DATA with
 * reason KM_KSYM_R_MAP_LINE and the 1-based line number. */
KM_API km_status km_ksym_load_system_map(km_ksym *t, const char *path, km_ksym_error *err);
KM_API km_status km_ksym_load_system_map_buffer(km_ksym *t, const char *text, size_t len,
                                                km_ksym_error *err);

/* Symbol by exact name (see the duplicate rule above).  KM_ERR_NO_SYMBOL if
 * absent, KM_ERR_INVALID_ARG for a NULL name. */
/*@ requires km_ksym_ok(t) && \valid(out);
    requires name == \null || valid_read_string(name);
    assigns *out;
    ensures \result == KM_OK || \result == KM_ERR_NO_SYMBOL || \result == KM_ERR_INVALID_ARG;
    ensures \result != KM_OK ==> *out == \old(*out); */
KM_API km_status km_ksym_lookup(const km_ksym *t, const char *name, km_ksym_sym *out);

/* Address of a symbol (km_ksym_lookup's rules). */
/*@ requires km_ksym_ok(t) && \valid(addr);
    requires name == \null || valid_read_string(name);
    assigns *addr;
    ensures \result == KM_OK || \result == KM_ERR_NO_SYMBOL || \result == KM_ERR_INVALID_ARG;
    ensures \result != KM_OK ==> *addr == \old(*addr); */
KM_API km_status km_ksym_addr(const km_ksym *t, const char *name, uint64_t *addr);

/* The symbol with the highest address <= addr and addr's offset from it.
 * Among symbols at the same address a global one is preferred over a weak
 * one over a local one, then the first in the source.  The answer may lie
 * past the symbol's size (sym.size says so).  KM_ERR_NO_SYMBOL when addr is
 * below every symbol. */
/*@ requires km_ksym_ok(t) && \valid(out) && \valid(offset) && \separated(out, offset);
    assigns *out, *offset;
    ensures \result == KM_OK || \result == KM_ERR_NO_SYMBOL;
    ensures \result != KM_OK ==> *out == \old(*out) && *offset == \old(*offset); */
KM_API km_status km_ksym_lookup_addr(const km_ksym *t, uint64_t addr, km_ksym_sym *out,
                                     uint64_t *offset);

/* Symbols in the table. */
/*@ requires km_ksym_ok(t);
    assigns \nothing;
    ensures \result == t->count; */
KM_API uint32_t km_ksym_count(const km_ksym *t);

/* The architecture of the ELF the table came from; KM_ERR_UNSUPPORTED for a
 * System.map (it records none) or a machine ktmon does not know. */
/*@ requires km_ksym_ok(t) && \valid(arch);
    assigns *arch;
    ensures \result == KM_OK || \result == KM_ERR_UNSUPPORTED;
    ensures \result != KM_OK ==> *arch == \old(*arch); */
KM_API km_status km_ksym_arch(const km_ksym *t, km_arch *arch);

/* Human-readable text for a load error, e.g. for the CLI:
 * "no .symtab section: ...".  Always NUL-terminates buf (len >= 1); returns
 * buf.  Never allocates. */
KM_API const char *km_ksym_strerror(const km_ksym_error *err, char *buf, size_t len);

/* Name of an architecture ("x86_64", "aarch64"). */
KM_API const char *km_ksym_arch_name(km_arch arch);

#endif /* KTMON_KSYM_H */
