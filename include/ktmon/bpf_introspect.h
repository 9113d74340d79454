/* ktmon: BPF maps and programs of the guest kernel, read from guest memory.
 *
 * The kernel keeps every BPF map in the IDR `map_idr` and every program in
 * `prog_idr`.  An IDR (7.3: struct idr { struct xarray idr_rt; unsigned int
 * idr_base; unsigned int idr_next; }) is an xarray indexed by id - idr_base.
 * This module walks those xarrays through the guest-kernel translation and
 * reads struct bpf_map / bpf_prog / bpf_prog_aux fields at offsets resolved
 * once from BTF (km_bpf_offsets).
 *
 * The xarray rules (the kernel's xa_is_node / xa_to_node / xas_descend):
 *   - entry 0 is empty;
 *   - an entry is an internal node iff (e & 3) == 2 && e > 4096; the node is
 *     at KVA e & ~3;
 *   - a head that is not a node is a single entry at index 0;
 *   - a node's shift (u8) must be < 64 and a multiple of 6 (XA_CHUNK_SHIFT);
 *     slot = (index >> shift) & 63; a child's shift is its parent's - 6;
 *   - any other entry is a leaf (pointers, value entries and the small
 *     internal entries such as XA_ZERO_ENTRY; km_bpf_xa_is_pointer tells
 *     object pointers apart).
 * Guest memory is untrusted: a shift that breaks these rules, a misaligned
 * node, a node below shift 0 or a walk deeper than KM_BPF_XA_MAX_DEPTH levels
 * is a status (KM_ERR_BAD_DATA with a reason), never a loop.  One lookup
 * reads at most KM_BPF_XA_MAX_DEPTH nodes; one iteration over a whole
 * xarray enters at most KM_BPF_XA_MAX_NODES nodes (KM_ERR_CAPACITY beyond),
 * so at most KM_BPF_XA_MAX_NODES * 64 slot reads.
 *
 * Improvement over the reference: an index beyond the range the root node
 * covers ((64 << shift) - 1) is empty, as in the kernel, instead of being
 * folded into a slot by the & 63.
 *
 * Allocation: none.  km_bpf_offsets_init runs BTF and symbol look-ups once;
 * every query fills caller storage (fixed-size records, fixed-size
 * iterators) and allocates nothing. */
#ifndef KTMON_BPF_INTROSPECT_H
#define KTMON_BPF_INTROSPECT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ktmon/api.h"
#include "ktmon/btf.h"
#include "ktmon/guest_kernel.h"
#include "ktmon/ksym.h"
#include "ktmon/status.h"

/* ------------------------------------------------------------------ xarray */

#define KM_BPF_XA_CHUNK_SHIFT 6u              /* XA_CHUNK_SHIFT (CONFIG_BASE_SMALL=n) */
#define KM_BPF_XA_CHUNK_SIZE 64u              /* slots a node */
#define KM_BPF_XA_NODE_MIN UINT64_C(4096)     /* internal entries above this are nodes */
#define KM_BPF_XA_MAX_SHIFT 60u               /* highest legal shift (a multiple of 6 below 64) */
#define KM_BPF_XA_MAX_DEPTH 11u               /* ceil(64 / 6): nodes on one root-to-leaf path */
#define KM_BPF_XA_MAX_NODES 4096u             /* nodes one iteration may enter (262,144 slots) */
/* Loop bound of one km_bpf_xa_next call: every slot of every node once, plus the pops. */
#define KM_BPF_XA_MAX_STEPS ((KM_BPF_XA_MAX_NODES + 1u) * (KM_BPF_XA_CHUNK_SIZE + 1u))

typedef enum km_bpf_xa_kind {
    KM_BPF_XA_EMPTY = 0,  /* 0 */
    KM_BPF_XA_NODE = 1,   /* (e & 3) == 2 && e > 4096 */
    KM_BPF_XA_LEAF = 2    /* anything else */
} km_bpf_xa_kind;

/* Why a BPF query failed (km_bpf_error.reason). */
typedef enum km_bpf_reason {
    KM_BPF_R_NONE = 0,
    KM_BPF_R_INVALID_ARG,   /* NULL argument or uninitialised offsets */
    KM_BPF_R_BTF,           /* a required BTF member/enum is missing: what */
    KM_BPF_R_LAYOUT,        /* a BTF member has an unexpected size: what, value = size */
    KM_BPF_R_SYMBOL,        /* a required symbol is missing: what */
    KM_BPF_R_NOT_READY,     /* guest kernel (or its per-CPU offsets) not known yet */
    KM_BPF_R_READ,          /* guest read failed at addr (status says why) */
    KM_BPF_R_XA_SHIFT,      /* node shift not < 64 or not a multiple of 6: addr = node, value = shift */
    KM_BPF_R_XA_CHILD,      /* child shift is not parent shift - 6 (or a node below shift 0): value = entry */
    KM_BPF_R_XA_ALIGN,      /* node address not 8-byte aligned: value = entry */
    KM_BPF_R_XA_DEPTH,      /* deeper than KM_BPF_XA_MAX_DEPTH levels */
    KM_BPF_R_XA_NODES,      /* more than KM_BPF_XA_MAX_NODES nodes in one iteration */
    KM_BPF_R_XA_INDEX,      /* an occupied slot stands for an index beyond 2^64 - 1 */
    KM_BPF_R_KEY,           /* key >= max_entries: value = key */
    KM_BPF_R_BOUNDS,        /* off + len > value_size (or len 0): value = off + len */
    KM_BPF_R_MAP_TYPE,      /* values of this map type are not readable: value = type */
    KM_BPF_R_CPU            /* CPU index >= number of CPUs: value = cpu */
} km_bpf_reason;

#define KM_BPF_REASON_COUNT 17

/* Error context: fixed size, no heap.  `what` points to a static string
 * (a BTF path or symbol name) or is NULL. */
typedef struct km_bpf_error {
    km_status status;
    km_bpf_reason reason;
    uint64_t addr;       /* KVA involved, or 0 */
    uint64_t value;      /* the offending value (shift, entry, key, ...), or 0 */
    uint32_t depth;      /* xarray level (0 = root), or KM_NO_INDEX */
    uint32_t id;         /* object id involved, or 0 */
    const char *what;    /* static name of the missing member or symbol, or NULL */
} km_bpf_error;

/* ------------------------------------------------------------------ offsets */

#define KM_BPF_OBJ_NAME_LEN 16u  /* BPF_OBJ_NAME_LEN: bpf_map.name, bpf_prog_aux.name */
#define KM_BPF_MAX_TYPE_NAMES 48u /* enumerators of bpf_map_type / bpf_prog_type this build names */

/* Everything resolved once from BTF and the symbol table (7.3 names). */
typedef struct km_bpf_offsets {
    bool ready;
    /* struct idr / struct xarray / struct xa_node */
    uint32_t idr_rt;
    uint32_t idr_base;
    uint32_t idr_next;
    bool have_idr_next;
    uint32_t xa_head;
    uint32_t xa_node_shift;
    uint32_t xa_node_slots;
    /* struct bpf_map */
    uint32_t map_name;
    uint32_t map_type;
    uint32_t map_flags;
    uint32_t map_key_size;
    uint32_t map_value_size;
    uint32_t map_max_entries;
    uint32_t map_id;
    /* struct bpf_array: value[] and pptrs[] (anonymous union members) */
    uint32_t array_value;
    uint32_t array_pptrs;
    /* struct bpf_struct_ops_map.kvalue, struct bpf_struct_ops_value.data */
    uint32_t st_map_kvalue;
    uint32_t st_value_data;
    bool have_struct_ops_map;
    /* struct bpf_prog / bpf_prog_aux / bpf_prog_stats */
    uint32_t prog_type;
    uint32_t prog_aux;
    uint32_t prog_stats;
    uint32_t aux_id;
    uint32_t aux_name;
    uint32_t aux_verified_insns;
    uint32_t stats_cnt;
    uint32_t stats_nsecs;
    /* enum values (BTF) */
    uint64_t map_type_array;
    uint64_t map_type_percpu_array;
    uint64_t map_type_struct_ops;
    bool have_map_type_struct_ops;
    uint64_t prog_type_struct_ops;
    /* the values of the enumerators km_bpf_map_type_name/km_bpf_prog_type_name know */
    uint64_t map_type_val[KM_BPF_MAX_TYPE_NAMES];
    bool map_type_have[KM_BPF_MAX_TYPE_NAMES];
    uint64_t prog_type_val[KM_BPF_MAX_TYPE_NAMES];
    bool prog_type_have[KM_BPF_MAX_TYPE_NAMES];
    /* link-time addresses (ksym) */
    uint64_t map_idr_link;
    uint64_t prog_idr_link;
    uint64_t stats_key_link;   /* bpf_stats_enabled_key, 0 if absent */
    uint32_t static_key_enabled; /* offsetof(struct static_key, enabled) */
    bool have_stats_key;
} km_bpf_offsets;

/* Resolve every offset, enum value and symbol the module needs.  Required:
 * the idr/xarray/xa_node, bpf_map, bpf_array, bpf_prog, bpf_prog_aux and
 * bpf_prog_stats members, BPF_MAP_TYPE_ARRAY/PERCPU_ARRAY and
 * BPF_PROG_TYPE_STRUCT_OPS, map_idr and prog_idr.  Sizes are checked
 * (xa_node.slots must be 64 pointers: a CONFIG_BASE_SMALL kernel has 16 and
 * is KM_ERR_UNSUPPORTED).  *out is written only on success. */
KM_API km_status km_bpf_offsets_init(const km_btf *btf, const km_ksym *ks, km_bpf_offsets *out,
                                     km_bpf_error *err);

/* ------------------------------------------------------------------ pure xarray arithmetic */

/*@ assigns \nothing;
    behavior empty:
      assumes e == 0;
      ensures \result == KM_BPF_XA_EMPTY;
    behavior node:
      assumes e % 4 == 2 && e > 4096;
      ensures \result == KM_BPF_XA_NODE;
    behavior leaf:
      assumes e != 0 && !(e % 4 == 2 && e > 4096);
      ensures \result == KM_BPF_XA_LEAF;
    complete behaviors;
    disjoint behaviors; */
KM_API km_bpf_xa_kind km_bpf_xa_classify(uint64_t e);

/* A leaf that is an object pointer (low two bits clear, not 0). */
/*@ assigns \nothing;
    ensures \result <==> (e != 0 && e % 4 == 0); */
KM_API bool km_bpf_xa_is_pointer(uint64_t e);

/* Node address of a node entry (e & ~3). */
/*@ assigns \nothing;
    ensures \result == e - e % 4;
    ensures \result % 4 == 0; */
KM_API uint64_t km_bpf_xa_node_kva(uint64_t e);

/*@ assigns \nothing;
    ensures \result <==> (shift < 64 && shift % 6 == 0); */
KM_API bool km_bpf_xa_shift_ok(uint32_t shift);

/*@ requires shift < 64;
    assigns \nothing;
    ensures \result == ((index >> shift) & 63);
    ensures \result < 64; */
KM_API uint32_t km_bpf_xa_slot(uint64_t index, uint32_t shift);

/* Does a root node of this shift cover index (index <= (64 << shift) - 1)? */
/*@ requires shift < 64;
    assigns \nothing;
    ensures shift >= 58 ==> \result;
    ensures shift < 58 ==> (\result <==> (index >> (shift + 6)) == 0); */
KM_API bool km_bpf_xa_in_range(uint64_t index, uint32_t shift);

/* Index of slot `slot` of a node whose slot 0 is index `base`:
 * base + (slot << shift); KM_ERR_OVERFLOW when that is not below 2^64. */
/*@ logic integer km_xa_span(integer shift) =
        shift == 0 ? 1 : shift == 6 ? 64 : shift == 12 ? 4096 : shift == 18 ? 262144 :
        shift == 24 ? 16777216 : shift == 30 ? 1073741824 : shift == 36 ? 68719476736 :
        shift == 42 ? 4398046511104 : shift == 48 ? 281474976710656 :
        shift == 54 ? 18014398509481984 : 1152921504606846976;  // 2^shift for shift = 0, 6, ..., 60
*/
/*@ requires shift <= 60 && shift % 6 == 0 && slot < 64 && \valid(out);
    assigns *out;
    ensures \result == KM_OK || \result == KM_ERR_OVERFLOW;
    ensures \result == KM_OK ==> *out == base + slot * km_xa_span(shift);
    ensures \result != KM_OK ==> *out == \old(*out); */
KM_API km_status km_bpf_xa_slot_index(uint64_t base, uint32_t slot, uint32_t shift, uint64_t *out);

/* ------------------------------------------------------------------ xarray walk */

/* One level of the iterator's explicit stack. */
typedef struct km_bpf_xa_level {
    uint64_t node;   /* node KVA */
    uint64_t base;   /* index of slot 0 */
    uint32_t shift;
    uint32_t next;   /* next slot to look at, 0 .. 64 */
} km_bpf_xa_level;

typedef enum km_bpf_xa_state {
    KM_BPF_XA_START = 0,  /* nothing read yet */
    KM_BPF_XA_WALK,       /* inside the tree */
    KM_BPF_XA_DONE,       /* every present index returned */
    KM_BPF_XA_FAILED      /* stopped by hostile data or a read failure */
} km_bpf_xa_state;

/* Iterator over every present (non-zero leaf) index, ascending. */
typedef struct km_bpf_xa_iter {
    uint64_t head;
    km_bpf_xa_state state;
    uint32_t depth;                              /* levels on the stack */
    km_bpf_xa_level lv[KM_BPF_XA_MAX_DEPTH];
    uint32_t nodes;                              /* nodes entered so far */
} km_bpf_xa_iter;

/*@ predicate km_xa_off_ok(km_bpf_offsets *o) = \valid_read(o) && o->ready; */

/*@ predicate km_xa_level_ok(km_bpf_xa_level l) =
        l.shift < 64 && l.shift % 6 == 0 && l.next <= 64 && l.node % 8 == 0; */

/*@ predicate km_xa_iter_ok(km_bpf_xa_iter *it) =
        it->depth <= KM_BPF_XA_MAX_DEPTH && it->nodes <= KM_BPF_XA_MAX_NODES &&
        (\forall integer i; 0 <= i < it->depth ==> km_xa_level_ok(it->lv[i])); */

/* Entry at index of the xarray whose xa_head holds `head`; 0 when absent.
 * Reads only through km_gk_* (each node translated on its own). */
/*@ requires gk == \null || \valid(gk);
    requires o == \null || \valid_read(o);
    requires entry == \null || \valid(entry);
    requires err == \null || \valid(err);
    requires gk != \null && o != \null && entry != \null ==> \separated(gk, o, entry);
    requires err != \null && gk != \null && o != \null && entry != \null ==> \separated(err, gk, o, entry);
    requires err != \null && entry != \null ==> \separated(err, entry);
    assigns gk->tlb, *entry, *err;
    ensures \result != KM_OK ==> entry == \null || *entry == \old(*entry);
    ensures \result == KM_OK && !(head % 4 == 2 && head > 4096) ==>
            *entry == (index == 0 ? head : 0); */
KM_API km_status km_bpf_xa_load(km_guest_kernel *gk, const km_bpf_offsets *o, uint64_t head,
                                uint64_t index, uint64_t *entry, km_bpf_error *err);

/*@ requires \valid(it);
    assigns *it;
    ensures it->head == head && it->state == KM_BPF_XA_START && it->depth == 0 && it->nodes == 0; */
KM_API void km_bpf_xa_iter_init(km_bpf_xa_iter *it, uint64_t head);

/* Next present index and its leaf entry.  *has is false once the walk is
 * done (index/entry untouched).  After a failure the iterator stays failed. */
/*@ requires gk == \null || \valid(gk);
    requires o == \null || \valid_read(o);
    requires it == \null || (\valid(it) && km_xa_iter_ok(it));
    requires index == \null || \valid(index);
    requires entry == \null || \valid(entry);
    requires has == \null || \valid(has);
    requires err == \null || \valid(err);
    requires \separated(gk, o, it, index, entry, has);
    requires err != \null ==> \separated(err, gk, o, it, index, entry, has);
    assigns gk->tlb, *it, *index, *entry, *has, *err;
    ensures it != \null ==> it->depth <= KM_BPF_XA_MAX_DEPTH;
    ensures it != \null ==> it->nodes <= KM_BPF_XA_MAX_NODES;
    ensures it != \null ==> \forall integer i; 0 <= i < it->depth ==> km_xa_level_ok(it->lv[i]);
    ensures \result != KM_OK && index != \null ==> *index == \old(*index);
    ensures \result != KM_OK && entry != \null ==> *entry == \old(*entry);
    ensures \result != KM_OK && has != \null ==> *has == \old(*has); */
KM_API km_status km_bpf_xa_next(km_guest_kernel *gk, const km_bpf_offsets *o, km_bpf_xa_iter *it,
                                uint64_t *index, uint64_t *entry, bool *has, km_bpf_error *err);

/* ------------------------------------------------------------------ IDR */

typedef struct km_bpf_idr_iter {
    km_bpf_xa_iter xa;
    uint64_t idr_kva;
    uint32_t base;      /* idr_base */
    uint32_t next_id;   /* idr_next (0 if the kernel has none) */
    uint32_t found;     /* objects returned */
    uint32_t skipped;   /* leaves that were not object pointers (XA_ZERO_ENTRY, values) */
    uint32_t filtered;  /* objects left out by a filter (programs of other types) */
} km_bpf_idr_iter;

/* Start iterating the IDR at idr_kva (reads idr_base, idr_next, xa_head). */
KM_API km_status km_bpf_idr_begin(km_guest_kernel *gk, const km_bpf_offsets *o, uint64_t idr_kva,
                                  km_bpf_idr_iter *it, km_bpf_error *err);

/* Next object pointer and its id (index + idr_base); leaves that are not
 * pointers are skipped and counted. */
KM_API km_status km_bpf_idr_next(km_guest_kernel *gk, const km_bpf_offsets *o, km_bpf_idr_iter *it,
                                 uint32_t *id, uint64_t *ptr, bool *has, km_bpf_error *err);

/* ------------------------------------------------------------------ maps */

typedef enum km_bpf_map_kind {
    KM_BPF_MAP_OTHER = 0,
    KM_BPF_MAP_ARRAY,         /* BPF_MAP_TYPE_ARRAY: value readable */
    KM_BPF_MAP_PERCPU_ARRAY,  /* BPF_MAP_TYPE_PERCPU_ARRAY: value per CPU */
    KM_BPF_MAP_STRUCT_OPS     /* BPF_MAP_TYPE_STRUCT_OPS: kvalue readable */
} km_bpf_map_kind;

typedef struct km_bpf_map_info {
    uint64_t kva;               /* struct bpf_map */
    uint32_t id;                /* bpf_map.id */
    uint32_t idr_id;            /* IDR index + idr_base (equals id unless the map is being set up) */
    uint32_t type;              /* enum bpf_map_type value */
    const char *type_name;      /* "array", ... (static), or NULL when this build does not know it */
    uint32_t key_size;
    uint32_t value_size;
    uint32_t max_entries;
    uint32_t map_flags;
    char name[KM_BPF_OBJ_NAME_LEN + 1u];  /* up to the first NUL, always terminated */
    km_bpf_map_kind kind;
    uint64_t value_kva;         /* ARRAY: element 0; STRUCT_OPS: kvalue; else 0 */
    uint64_t data_kva;          /* STRUCT_OPS: kvalue.data; else 0 */
    uint64_t pptrs_kva;         /* PERCPU_ARRAY: pptrs[0]; else 0 */
} km_bpf_map_info;

/* Read the struct bpf_map at map_kva. */
KM_API km_status km_bpf_map_read(km_guest_kernel *gk, const km_bpf_offsets *o, uint64_t map_kva,
                                 km_bpf_map_info *out, km_bpf_error *err);

/* Iterate map_idr: begin, then next until *has is false.  A map whose
 * fields cannot be read fails that call (err->id says which); the iterator
 * has moved past it, so the caller may go on. */
KM_API km_status km_bpf_maps_begin(km_guest_kernel *gk, const km_bpf_offsets *o, km_bpf_idr_iter *it,
                                   km_bpf_error *err);
KM_API km_status km_bpf_maps_next(km_guest_kernel *gk, const km_bpf_offsets *o, km_bpf_idr_iter *it,
                                  km_bpf_map_info *out, bool *has, km_bpf_error *err);

/* First map whose name equals `name`, or else ends with it (".bss" finds
 * "ktsched.bss").  KM_ERR_NO_SYMBOL when none. */
KM_API km_status km_bpf_find_map(km_guest_kernel *gk, const km_bpf_offsets *o, const char *name,
                                 km_bpf_map_info *out, km_bpf_error *err);

/* Address of [off, off+len) of the value of key (ARRAY: element key at
 * value + key * round_up(value_size, 8); STRUCT_OPS: key 0, kvalue).
 * Checks key < max_entries and off + len <= value_size (len >= 1). */
/*@ requires \valid(kva);
    assigns *kva;
    ensures \result == KM_OK || \result == KM_ERR_RANGE || \result == KM_ERR_INVALID_ARG ||
            \result == KM_ERR_OVERFLOW;
    ensures \result == KM_OK ==> key < max_entries && len >= 1 && off + len <= value_size &&
            *kva == base + key * ((value_size + 7) / 8 * 8) + off;
    ensures \result != KM_OK ==> *kva == \old(*kva); */
KM_API km_status km_bpf_elem_kva(uint64_t base, uint32_t key, uint32_t max_entries, uint32_t value_size,
                                 uint32_t off, uint32_t len, uint64_t *kva);

/* Read bytes [off, off+len) of key's value (ARRAY, STRUCT_OPS).  Every 4K
 * page of the span is translated before anything is copied: one unmapped
 * page fails the whole read and leaves dst untouched. */
KM_API km_status km_bpf_map_value(km_guest_kernel *gk, const km_bpf_offsets *o, const km_bpf_map_info *m,
                                  uint32_t key, uint32_t off, uint8_t *dst, uint32_t len, km_bpf_error *err);

/* The same for one CPU's copy of a PERCPU_ARRAY value:
 * pptrs[key] + __per_cpu_offset[cpu] (needs the per-CPU offsets). */
KM_API km_status km_bpf_map_percpu_value(km_guest_kernel *gk, const km_bpf_offsets *o,
                                         const km_bpf_map_info *m, uint32_t key, uint32_t cpu, uint32_t off,
                                         uint8_t *dst, uint32_t len, km_bpf_error *err);

/* ------------------------------------------------------------------ programs */

typedef struct km_bpf_prog_info {
    uint64_t kva;               /* struct bpf_prog */
    uint64_t aux_kva;           /* struct bpf_prog_aux */
    uint32_t id;                /* aux->id */
    uint32_t idr_id;            /* IDR index + idr_base */
    uint32_t type;              /* enum bpf_prog_type value */
    const char *type_name;      /* "struct_ops", ... (static) or NULL */
    bool struct_ops;            /* type == BPF_PROG_TYPE_STRUCT_OPS (from BTF) */
    uint32_t verified_insns;
    char name[KM_BPF_OBJ_NAME_LEN + 1u];
    /* run statistics, summed over CPUs (collected only while bpf_stats_enabled) */
    km_status stats_status;     /* KM_OK: the sums below are valid */
    uint32_t stats_cpus;        /* CPUs summed */
    uint64_t run_cnt;
    uint64_t run_time_ns;
} km_bpf_prog_info;

/* Read the struct bpf_prog at prog_kva (and its aux and per-CPU stats: when
 * the per-CPU offsets are not known, stats_status says so and the rest is
 * still returned). */
KM_API km_status km_bpf_prog_read(km_guest_kernel *gk, const km_bpf_offsets *o, uint64_t prog_kva,
                                  km_bpf_prog_info *out, km_bpf_error *err);

/* Iterate prog_idr; all == false returns struct_ops programs only (the
 * others are counted in it->filtered). */
KM_API km_status km_bpf_progs_begin(km_guest_kernel *gk, const km_bpf_offsets *o, km_bpf_idr_iter *it,
                                    km_bpf_error *err);
KM_API km_status km_bpf_progs_next(km_guest_kernel *gk, const km_bpf_offsets *o, km_bpf_idr_iter *it,
                                   bool all, km_bpf_prog_info *out, bool *has, km_bpf_error *err);

/* Is bpf_stats_enabled_key on (sysctl kernel.bpf_stats_enabled or a
 * BPF_ENABLE_STATS fd)?  KM_ERR_NO_SYMBOL when the kernel has no such key. */
KM_API km_status km_bpf_stats_enabled(km_guest_kernel *gk, const km_bpf_offsets *o, bool *on,
                                      km_bpf_error *err);

/* ------------------------------------------------------------------ names */

/* "array", "percpu_array", "struct_ops", ... for a bpf_map_type value as
 * this kernel's BTF numbers it; NULL if unknown.  Likewise for programs.
 * The names are the enumerators' (BPF_MAP_TYPE_ARRAY -> "array"). */
KM_API const char *km_bpf_map_type_name(const km_bpf_offsets *o, uint32_t type);
KM_API const char *km_bpf_prog_type_name(const km_bpf_offsets *o, uint32_t type);

KM_API const char *km_bpf_reason_name(km_bpf_reason r);

#endif /* KTMON_BPF_INTROSPECT_H */
