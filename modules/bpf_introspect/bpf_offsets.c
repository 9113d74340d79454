/* ktmon bpf_introspect: offsets, enum values and symbols resolved once from
 * BTF and the vmlinux symbol table, and the names of map/program types.
 *
 * Kernel-version facts (7.3): struct idr { struct xarray idr_rt; unsigned
 * int idr_base; unsigned int idr_next; }; bpf_array's value[] and pptrs[]
 * are members of an anonymous union; bpf_prog->stats is a per-CPU pointer to
 * struct bpf_prog_stats { u64_stats_t cnt, nsecs, misses; ... }; the
 * sysctl kernel.bpf_stats_enabled is the static key bpf_stats_enabled_key.
 * Only names are hard-coded here; every value comes from this kernel's BTF.
 * Nothing here allocates. */
#include "ktmon/bpf_introspect.h"

#include "bpf_int.h"

typedef struct km_bpf_type_name {
    const char *enumerator; /* as in the kernel's BTF */
    const char *short_name; /* what tools print */
} km_bpf_type_name;

/* enum bpf_map_type enumerators as of 7.3; aliases (_DEPRECATED) last so that
 * a shared value is named by its current enumerator. */
static const km_bpf_type_name km_bpf_map_types[] = {
    {"BPF_MAP_TYPE_UNSPEC", "unspec"},
    {"BPF_MAP_TYPE_HASH", "hash"},
    {"BPF_MAP_TYPE_ARRAY", "array"},
    {"BPF_MAP_TYPE_PROG_ARRAY", "prog_array"},
    {"BPF_MAP_TYPE_PERF_EVENT_ARRAY", "perf_event_array"},
    {"BPF_MAP_TYPE_PERCPU_HASH", "percpu_hash"},
    {"BPF_MAP_TYPE_PERCPU_ARRAY", "percpu_array"},
    {"BPF_MAP_TYPE_STACK_TRACE", "stack_trace"},
    {"BPF_MAP_TYPE_CGROUP_ARRAY", "cgroup_array"},
    {"BPF_MAP_TYPE_LRU_HASH", "lru_hash"},
    {"BPF_MAP_TYPE_LRU_PERCPU_HASH", "lru_percpu_hash"},
    {"BPF_MAP_TYPE_LPM_TRIE", "lpm_trie"},
    {"BPF_MAP_TYPE_ARRAY_OF_MAPS", "array_of_maps"},
    {"BPF_MAP_TYPE_HASH_OF_MAPS", "hash_of_maps"},
    {"BPF_MAP_TYPE_DEVMAP", "devmap"},
    {"BPF_MAP_TYPE_SOCKMAP", "sockmap"},
    {"BPF_MAP_TYPE_CPUMAP", "cpumap"},
    {"BPF_MAP_TYPE_XSKMAP", "xskmap"},
    {"BPF_MAP_TYPE_SOCKHASH", "sockhash"},
    {"BPF_MAP_TYPE_CGROUP_STORAGE", "cgroup_storage"},
    {"BPF_MAP_TYPE_REUSEPORT_SOCKARRAY", "reuseport_sockarray"},
    {"BPF_MAP_TYPE_PERCPU_CGROUP_STORAGE", "percpu_cgroup_storage"},
    {"BPF_MAP_TYPE_QUEUE", "queue"},
    {"BPF_MAP_TYPE_STACK", "stack"},
    {"BPF_MAP_TYPE_SK_STORAGE", "sk_storage"},
    {"BPF_MAP_TYPE_DEVMAP_HASH", "devmap_hash"},
    {"BPF_MAP_TYPE_STRUCT_OPS", "struct_ops"},
    {"BPF_MAP_TYPE_RINGBUF", "ringbuf"},
    {"BPF_MAP_TYPE_INODE_STORAGE", "inode_storage"},
    {"BPF_MAP_TYPE_TASK_STORAGE", "task_storage"},
    {"BPF_MAP_TYPE_BLOOM_FILTER", "bloom_filter"},
    {"BPF_MAP_TYPE_USER_RINGBUF", "user_ringbuf"},
    {"BPF_MAP_TYPE_CGRP_STORAGE", "cgrp_storage"},
    {"BPF_MAP_TYPE_ARENA", "arena"},
    {"BPF_MAP_TYPE_INSN_ARRAY", "insn_array"},
    {"BPF_MAP_TYPE_RHASH", "rhash"},
    {"BPF_MAP_TYPE_CGROUP_STORAGE_DEPRECATED", "cgroup_storage_deprecated"},
    {"BPF_MAP_TYPE_PERCPU_CGROUP_STORAGE_DEPRECATED", "percpu_cgroup_storage_deprecated"},
};

/* enum bpf_prog_type enumerators as of 7.3. */
static const km_bpf_type_name km_bpf_prog_types[] = {
    {"BPF_PROG_TYPE_UNSPEC", "unspec"},
    {"BPF_PROG_TYPE_SOCKET_FILTER", "socket_filter"},
    {"BPF_PROG_TYPE_KPROBE", "kprobe"},
    {"BPF_PROG_TYPE_SCHED_CLS", "sched_cls"},
    {"BPF_PROG_TYPE_SCHED_ACT", "sched_act"},
    {"BPF_PROG_TYPE_TRACEPOINT", "tracepoint"},
    {"BPF_PROG_TYPE_XDP", "xdp"},
    {"BPF_PROG_TYPE_PERF_EVENT", "perf_event"},
    {"BPF_PROG_TYPE_CGROUP_SKB", "cgroup_skb"},
    {"BPF_PROG_TYPE_CGROUP_SOCK", "cgroup_sock"},
    {"BPF_PROG_TYPE_LWT_IN", "lwt_in"},
    {"BPF_PROG_TYPE_LWT_OUT", "lwt_out"},
    {"BPF_PROG_TYPE_LWT_XMIT", "lwt_xmit"},
    {"BPF_PROG_TYPE_SOCK_OPS", "sock_ops"},
    {"BPF_PROG_TYPE_SK_SKB", "sk_skb"},
    {"BPF_PROG_TYPE_CGROUP_DEVICE", "cgroup_device"},
    {"BPF_PROG_TYPE_SK_MSG", "sk_msg"},
    {"BPF_PROG_TYPE_RAW_TRACEPOINT", "raw_tracepoint"},
    {"BPF_PROG_TYPE_CGROUP_SOCK_ADDR", "cgroup_sock_addr"},
    {"BPF_PROG_TYPE_LWT_SEG6LOCAL", "lwt_seg6local"},
    {"BPF_PROG_TYPE_LIRC_MODE2", "lirc_mode2"},
    {"BPF_PROG_TYPE_SK_REUSEPORT", "sk_reuseport"},
    {"BPF_PROG_TYPE_FLOW_DISSECTOR", "flow_dissector"},
    {"BPF_PROG_TYPE_CGROUP_SYSCTL", "cgroup_sysctl"},
    {"BPF_PROG_TYPE_RAW_TRACEPOINT_WRITABLE", "raw_tracepoint_writable"},
    {"BPF_PROG_TYPE_CGROUP_SOCKOPT", "cgroup_sockopt"},
    {"BPF_PROG_TYPE_TRACING", "tracing"},
    {"BPF_PROG_TYPE_STRUCT_OPS", "struct_ops"},
    {"BPF_PROG_TYPE_EXT", "ext"},
    {"BPF_PROG_TYPE_LSM", "lsm"},
    {"BPF_PROG_TYPE_SK_LOOKUP", "sk_lookup"},
    {"BPF_PROG_TYPE_SYSCALL", "syscall"},
    {"BPF_PROG_TYPE_NETFILTER", "netfilter"},
};

#define KM_BPF_NMAP_TYPES ((uint32_t)(sizeof(km_bpf_map_types) / sizeof(km_bpf_map_types[0])))
#define KM_BPF_NPROG_TYPES ((uint32_t)(sizeof(km_bpf_prog_types) / sizeof(km_bpf_prog_types[0])))

_Static_assert((sizeof(km_bpf_map_types) / sizeof(km_bpf_map_types[0])) <= KM_BPF_MAX_TYPE_NAMES,
               "map type table larger than km_bpf_offsets holds");
_Static_assert((sizeof(km_bpf_prog_types) / sizeof(km_bpf_prog_types[0])) <= KM_BPF_MAX_TYPE_NAMES,
               "prog type table larger than km_bpf_offsets holds");

/* One member: where its offset and size go and which size it must have (0: any). */
typedef struct km_bpf_member_req {
    const char *path;
    uint32_t *offset;
    uint32_t size;
    bool required;
} km_bpf_member_req;

#define KM_BPF_NMEMBERS 26u
/* Entries of the member table whose presence is remembered. */
#define KM_BPF_M_IDR_NEXT 2u
#define KM_BPF_M_ST_KVALUE 15u
#define KM_BPF_M_ST_DATA 16u
#define KM_BPF_M_STATIC_KEY 25u

static km_status km_bpf_resolve_members(const km_btf *btf, km_bpf_offsets *o, km_bpf_error *err)
{
    km_status st = KM_OK;
    uint32_t sizes[KM_BPF_NMEMBERS];
    const km_bpf_member_req req[KM_BPF_NMEMBERS] = {
        {"idr.idr_rt", &o->idr_rt, 0u, true},
        {"idr.idr_base", &o->idr_base, 4u, true},
        {"idr.idr_next", &o->idr_next, 4u, false},
        {"xarray.xa_head", &o->xa_head, 8u, true},
        {"xa_node.shift", &o->xa_node_shift, 1u, true},
        /* 64 slots of 8 bytes: XA_CHUNK_SHIFT 6 (a CONFIG_BASE_SMALL kernel has 16) */
        {"xa_node.slots", &o->xa_node_slots, KM_BPF_XA_CHUNK_SIZE * KM_BPF_PTR_SIZE, true},
        {"bpf_map.name", &o->map_name, KM_BPF_OBJ_NAME_LEN, true},
        {"bpf_map.map_type", &o->map_type, 4u, true},
        {"bpf_map.map_flags", &o->map_flags, 4u, true},
        {"bpf_map.key_size", &o->map_key_size, 4u, true},
        {"bpf_map.value_size", &o->map_value_size, 4u, true},
        {"bpf_map.max_entries", &o->map_max_entries, 4u, true},
        {"bpf_map.id", &o->map_id, 4u, true},
        {"bpf_array.value", &o->array_value, 0u, true},
        {"bpf_array.pptrs", &o->array_pptrs, 0u, true},
        {"bpf_struct_ops_map.kvalue", &o->st_map_kvalue, 0u, false},
        {"bpf_struct_ops_value.data", &o->st_value_data, 0u, false},
        {"bpf_prog.type", &o->prog_type, 4u, true},
        {"bpf_prog.aux", &o->prog_aux, 8u, true},
        {"bpf_prog.stats", &o->prog_stats, 8u, true},
        {"bpf_prog_aux.id", &o->aux_id, 4u, true},
        {"bpf_prog_aux.name", &o->aux_name, KM_BPF_OBJ_NAME_LEN, true},
        {"bpf_prog_aux.verified_insns", &o->aux_verified_insns, 4u, true},
        {"bpf_prog_stats.cnt", &o->stats_cnt, 8u, true},
        {"bpf_prog_stats.nsecs", &o->stats_nsecs, 8u, true},
        {"static_key.enabled", &o->static_key_enabled, 4u, false},
    };
    km_btf_field f[KM_BPF_NMEMBERS];
    km_btf_error be;
    for (uint32_t i = 0u; i < KM_BPF_NMEMBERS; i++) {
        sizes[i] = 0u;
        f[i].path = req[i].path;
        f[i].offset = req[i].offset;
        f[i].size = &sizes[i];
        f[i].required = req[i].required;
        f[i].found = false;
    }
    st = km_btf_resolve_fields(btf, f, KM_BPF_NMEMBERS, &be);
    if (st != KM_OK) {
        (void)km_bpf_fail(err, st, KM_BPF_R_BTF, 0u, 0u, KM_NO_INDEX);
        if ((err != NULL) && (be.entry < KM_BPF_NMEMBERS)) {
            err->what = req[be.entry].path;
        }
    }
    for (uint32_t i = 0u; (st == KM_OK) && (i < KM_BPF_NMEMBERS); i++) {
        if (f[i].found && (req[i].size != 0u) && (sizes[i] != req[i].size)) {
            st = km_bpf_fail(err, KM_ERR_UNSUPPORTED, KM_BPF_R_LAYOUT, 0u, (uint64_t)sizes[i], KM_NO_INDEX);
            if (err != NULL) {
                err->what = req[i].path;
            }
        }
    }
    if (st == KM_OK) {
        o->have_idr_next = f[KM_BPF_M_IDR_NEXT].found;
        o->have_struct_ops_map = f[KM_BPF_M_ST_KVALUE].found && f[KM_BPF_M_ST_DATA].found;
        o->have_stats_key = f[KM_BPF_M_STATIC_KEY].found; /* completed by the symbol below */
    }
    return st;
}

/* Value of a required enumerator. */
static km_status km_bpf_enum_required(const km_btf *btf, const char *enum_name, const char *name, uint64_t *value,
                                      km_bpf_error *err)
{
    km_btf_enum_val v;
    km_btf_error be;
    km_status st = km_btf_enum_value(btf, enum_name, name, &v, &be);
    if (st != KM_OK) {
        (void)km_bpf_fail(err, st, KM_BPF_R_BTF, 0u, 0u, KM_NO_INDEX);
        if (err != NULL) {
            err->what = name;
        }
    } else {
        *value = v.value;
    }
    return st;
}

/* Values of the enumerators the name tables know (absent ones are left out). */
static void km_bpf_enum_table(const km_btf *btf, const char *enum_name, const km_bpf_type_name *tab, uint32_t n,
                              uint64_t *vals, bool *have)
{
    for (uint32_t i = 0u; i < KM_BPF_MAX_TYPE_NAMES; i++) {
        vals[i] = 0u;
        have[i] = false;
        if (i < n) {
            km_btf_enum_val v;
            km_btf_error be;
            if (km_btf_enum_value(btf, enum_name, tab[i].enumerator, &v, &be) == KM_OK) {
                vals[i] = v.value;
                have[i] = true;
            }
        }
    }
}

static km_status km_bpf_resolve_enums(const km_btf *btf, km_bpf_offsets *o, km_bpf_error *err)
{
    km_status st = km_bpf_enum_required(btf, "bpf_map_type", "BPF_MAP_TYPE_ARRAY", &o->map_type_array, err);
    if (st == KM_OK) {
        st = km_bpf_enum_required(btf, "bpf_map_type", "BPF_MAP_TYPE_PERCPU_ARRAY", &o->map_type_percpu_array, err);
    }
    if (st == KM_OK) {
        st = km_bpf_enum_required(btf, "bpf_prog_type", "BPF_PROG_TYPE_STRUCT_OPS", &o->prog_type_struct_ops, err);
    }
    if (st == KM_OK) {
        km_btf_enum_val v;
        km_btf_error be;
        o->have_map_type_struct_ops =
            (km_btf_enum_value(btf, "bpf_map_type", "BPF_MAP_TYPE_STRUCT_OPS", &v, &be) == KM_OK);
        o->map_type_struct_ops = o->have_map_type_struct_ops ? v.value : 0u;
        km_bpf_enum_table(btf, "bpf_map_type", km_bpf_map_types, KM_BPF_NMAP_TYPES, o->map_type_val,
                          o->map_type_have);
        km_bpf_enum_table(btf, "bpf_prog_type", km_bpf_prog_types, KM_BPF_NPROG_TYPES, o->prog_type_val,
                          o->prog_type_have);
    }
    return st;
}

static km_status km_bpf_resolve_symbols(const km_ksym *ks, km_bpf_offsets *o, km_bpf_error *err)
{
    km_status st = km_ksym_addr(ks, "map_idr", &o->map_idr_link);
    const char *what = "map_idr";
    if (st == KM_OK) {
        st = km_ksym_addr(ks, "prog_idr", &o->prog_idr_link);
        what = "prog_idr";
    }
    if (st != KM_OK) {
        (void)km_bpf_fail(err, KM_ERR_NO_SYMBOL, KM_BPF_R_SYMBOL, 0u, 0u, KM_NO_INDEX);
        st = KM_ERR_NO_SYMBOL;
        if (err != NULL) {
            err->what = what;
        }
    } else if (o->have_stats_key) {
        o->have_stats_key = (km_ksym_addr(ks, "bpf_stats_enabled_key", &o->stats_key_link) == KM_OK);
    } else {
        o->stats_key_link = 0u;
    }
    return st;
}

km_status km_bpf_offsets_init(const km_btf *btf, const km_ksym *ks, km_bpf_offsets *out, km_bpf_error *err)
{
    static const km_bpf_offsets zero;
    km_bpf_offsets o = zero;
    km_status st = KM_OK;
    if ((btf == NULL) || (ks == NULL) || (out == NULL)) {
        st = km_bpf_fail(err, KM_ERR_INVALID_ARG, KM_BPF_R_INVALID_ARG, 0u, 0u, KM_NO_INDEX);
    } else {
        st = km_bpf_resolve_members(btf, &o, err);
    }
    if (st == KM_OK) {
        st = km_bpf_resolve_enums(btf, &o, err);
    }
    if (st == KM_OK) {
        st = km_bpf_resolve_symbols(ks, &o, err);
    }
    if (st == KM_OK) {
        o.ready = true;
        *out = o;
    }
    return st;
}

static const char *km_bpf_type_lookup(const km_bpf_type_name *tab, uint32_t n, const uint64_t *vals,
                                      const bool *have, uint32_t type)
{
    const char *name = NULL;
    for (uint32_t i = 0u; (name == NULL) && (i < n) && (i < KM_BPF_MAX_TYPE_NAMES); i++) {
        if (have[i] && (vals[i] == (uint64_t)type)) {
            name = tab[i].short_name;
        }
    }
    return name;
}

const char *km_bpf_map_type_name(const km_bpf_offsets *o, uint32_t type)
{
    const char *name = NULL;
    if ((o != NULL) && o->ready) {
        name = km_bpf_type_lookup(km_bpf_map_types, KM_BPF_NMAP_TYPES, o->map_type_val, o->map_type_have, type);
    }
    return name;
}

const char *km_bpf_prog_type_name(const km_bpf_offsets *o, uint32_t type)
{
    const char *name = NULL;
    if ((o != NULL) && o->ready) {
        name = km_bpf_type_lookup(km_bpf_prog_types, KM_BPF_NPROG_TYPES, o->prog_type_val, o->prog_type_have,
                                  type);
    }
    return name;
}

const char *km_bpf_reason_name(km_bpf_reason r)
{
    static const char *const names[KM_BPF_REASON_COUNT] = {
        "no error",
        "invalid argument",
        "BTF member or enumerator missing",
        "BTF member of unexpected size",
        "symbol missing",
        "guest kernel or per-CPU offsets not known yet",
        "guest memory read failed",
        "xarray node shift not a multiple of 6 below 64",
        "xarray child node shift is not its parent's - 6",
        "xarray node address not 8-byte aligned",
        "xarray deeper than 11 levels",
        "xarray iteration entered more than 4096 nodes",
        "xarray slot stands for an index beyond 2^64 - 1",
        "key >= max_entries",
        "offset + length beyond value_size (or length 0)",
        "map type has no readable value",
        "CPU index beyond the guest's CPUs",
    };
    const char *n = "unknown reason";
    if (((uint32_t)r) < (uint32_t)KM_BPF_REASON_COUNT) {
        n = names[(uint32_t)r];
    }
    return n;
}
