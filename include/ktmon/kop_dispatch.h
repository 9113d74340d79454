/* ktmon: kernel operations (reads and writes of guest kernel memory) and their wire codec.
 *
 * A request is a batch of entries {target, value}, all reads or all writes,
 * run in order by one of two paths:
 *
 *   cold  only while the VM is frozen.  The dispatcher takes a km_freeze_token
 *         that only km_kop_gate_mint hands out, and refuses it once the gate
 *         has been thawed (docs/kernel-ops.md).  Anything goes: U32, U64,
 *         Bytes, OrU32 as a plain read-modify-write, misaligned addresses
 *         through the per-byte path, spans over several pages.
 *   hot   on a running guest.  Writes are U32/U64 at naturally aligned
 *         addresses (one single-copy-atomic release store) and OrU32 as a
 *         compare-and-swap loop on the host pointer (bounded retries, then
 *         KM_ERR_BUSY); Bytes and misaligned writes are refused.  Hot reads
 *         of aligned U32/U64 are single acquire loads; other hot reads are
 *         allowed but may tear (docs/memory-ordering.md).
 *
 * The first failing entry stops the batch: the reply names it
 * ("entry[i]: reason"), says how many entries completed and how many writes
 * were applied (writes are never rolled back).  An entry is all or nothing:
 * every page of a multi-page write is translated and checked writable before
 * the first byte is stored.
 *
 * Targets: a symbol (+ BTF member path + offset), a direct-map KVA, any
 * kernel VA (page walk), a guest physical address, a per-CPU variable
 * (+ member path) of one CPU, a member of a task found by pid (and start
 * time) on the task list.  Values: U32, U64, Bytes (<= KM_KOP_BYTES_MAX),
 * OrU32; a read names its width with the value kind (Bytes: the length).
 *
 * Wire codec (docs/wire-format.md): 16-byte frame header {tag, length,
 * crc32(payload), 0}, little-endian, versioned payload.  The decoders
 * allocate nothing: they fill caller-provided fixed-capacity structs, refer
 * to request Bytes payloads in place, copy reply Bytes into caller storage,
 * never read outside the input, cap counts and lengths and reject trailing
 * bytes and unknown tags.  Proved with WP (verify/wp/kop_wire.wp), as is the
 * validation logic of the dispatcher (verify/wp/kop_dispatch.wp).
 *
 * Allocation: none anywhere in this module.  System calls: none. */
#ifndef KTMON_KOP_DISPATCH_H
#define KTMON_KOP_DISPATCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ktmon/api.h"
#include "ktmon/atomic.h"
#include "ktmon/btf.h"
#include "ktmon/guest_kernel.h"
#include "ktmon/ksym.h"
#include "ktmon/mem.h"
#include "ktmon/status.h"

/* ------------------------------------------------------------------ limits */

#define KM_KOP_MAX_ENTRIES 64u          /* entries of one batch */
#define KM_KOP_NAME_MAX 127u            /* bytes of a symbol or struct name */
#define KM_KOP_FIELD_MAX 255u           /* bytes of a member path */
#define KM_KOP_TAG_MAX 256u             /* bytes of a request tag */
#define KM_KOP_REASON_MAX 256u          /* bytes of a failure reason */
#define KM_KOP_BYTES_MAX 65536u         /* bytes of one Bytes value */
#define KM_KOP_PAYLOAD_MAX (UINT32_C(1) << 20) /* bytes of one frame's payload (the reply cap) */
#define KM_KOP_HDR_SIZE 16u             /* frame header */
#define KM_KOP_FRAME_MAX (KM_KOP_PAYLOAD_MAX + KM_KOP_HDR_SIZE)
#define KM_KOP_WIRE_VERSION 1u
#define KM_KOP_TAG_REQUEST UINT32_C(0x4B4F5251) /* "KORQ" */
#define KM_KOP_TAG_REPLY UINT32_C(0x4B4F5250)   /* "KORP" */
/* Bound on task-list steps of one task lookup (a cycle cannot make it spin). */
#define KM_KOP_TASK_WALK_MAX 65536u
/* A task matches an expected start time t if t <= start_time < t + 10 ms. */
#define KM_KOP_TASK_START_WINDOW_NS UINT64_C(10000000)
/* Default bound on compare-and-swap attempts of one hot OrU32. */
#define KM_KOP_CAS_MAX_TRIES 1024u
/* Lowest kernel-half address on any supported configuration (x86_64 LA57,
 * arm64 52-bit VA): below it a KVA target is refused before any walk. */
#define KM_KOP_KERNEL_HALF_MIN ((uint64_t)0xFF00000000000000u)
/* Per-page granule used to split kernel-VA accesses (the smallest page size). */
#define KM_KOP_PAGE UINT64_C(4096)

/* ------------------------------------------------------------------ requests */

typedef enum km_kop_mode {
    KM_KOP_HOT = 0,
    KM_KOP_COLD = 1
} km_kop_mode;

typedef enum km_kop_dir {
    KM_KOP_WRITE = 0,
    KM_KOP_READ = 1
} km_kop_dir;

typedef enum km_kop_target_kind {
    KM_KOP_T_SYMBOL = 0,  /* name [+ type] [+ field] + offset */
    KM_KOP_T_DIRECT = 1,  /* addr: a direct-map KVA */
    KM_KOP_T_KVA = 2,     /* addr: any kernel VA (page walk) */
    KM_KOP_T_PERCPU = 3,  /* name [+ type] [+ field] + offset, cpu */
    KM_KOP_T_TASK = 4,    /* pid [+ start_ns], field */
    KM_KOP_T_PA = 5       /* addr: a guest physical address */
} km_kop_target_kind;

#define KM_KOP_TARGET_KINDS 6u

typedef enum km_kop_value_kind {
    KM_KOP_V_U32 = 0,
    KM_KOP_V_U64 = 1,
    KM_KOP_V_BYTES = 2,
    KM_KOP_V_OR_U32 = 3
} km_kop_value_kind;

#define KM_KOP_VALUE_KINDS 4u

typedef struct km_kop_target {
    km_kop_target_kind kind;
    uint64_t addr;                      /* DIRECT, KVA, PA */
    uint64_t offset;                    /* SYMBOL, PERCPU: added after the member */
    uint32_t cpu;                       /* PERCPU */
    uint32_t pid;                       /* TASK */
    uint64_t start_ns;                  /* TASK: expected start_time when check_start */
    bool check_start;                   /* TASK */
    char name[KM_KOP_NAME_MAX + 1u];    /* SYMBOL, PERCPU: the symbol */
    char type[KM_KOP_NAME_MAX + 1u];    /* SYMBOL, PERCPU: its struct ("" = infer) */
    char field[KM_KOP_FIELD_MAX + 1u];  /* SYMBOL, PERCPU, TASK: member path ("" = none) */
} km_kop_target;

typedef struct km_kop_value {
    km_kop_value_kind kind;
    uint64_t scalar;       /* U32 (low 32 bits), U64, OR_U32 (the mask, low 32 bits) */
    const uint8_t *bytes;  /* BYTES write: the payload, not owned; NULL for a read */
    uint32_t len;          /* BYTES: bytes to write or to read */
} km_kop_value;

typedef struct km_kop_entry {
    km_kop_target target;
    km_kop_value value;
} km_kop_entry;

typedef struct km_kop_request {
    uint64_t request_id;
    km_kop_mode mode;
    km_kop_dir dir;
    uint32_t tag_len;
    uint8_t tag[KM_KOP_TAG_MAX];  /* free text (UTF-8), not NUL-terminated */
    uint32_t count;
    km_kop_entry entries[KM_KOP_MAX_ENTRIES];
} km_kop_request;

/* ------------------------------------------------------------------ replies */

/* A bounded text: reasons are cut to KM_KOP_REASON_MAX bytes at a UTF-8
 * character boundary.  text is always NUL-terminated. */
typedef struct km_kop_msg {
    uint32_t len;
    bool truncated;  /* something was cut: later appends are dropped */
    char text[KM_KOP_REASON_MAX + 1u];
} km_kop_msg;

/* One value read, by entry index. */
typedef struct km_kop_read {
    uint32_t index;          /* the entry */
    km_kop_value_kind kind;  /* U32, U64 or BYTES */
    uint64_t kva;            /* where (0 for PA targets) */
    uint64_t pa;             /* physical address of the first byte */
    uint64_t scalar;         /* U32, U64 */
    uint32_t off;            /* BYTES: data[off .. off + len) of the reply */
    uint32_t len;
} km_kop_read;

typedef struct km_kop_reply {
    uint64_t request_id;
    bool success;
    km_status status;        /* KM_OK, or the failing entry's status */
    uint32_t failed_index;   /* KM_NO_INDEX on success */
    uint32_t completed;      /* entries [0, completed) ran to completion */
    uint32_t writes_applied; /* writes among them: applied, never rolled back */
    km_kop_msg reason;       /* "" on success, else "entry[i]: ..." */
    uint32_t nreads;
    km_kop_read reads[KM_KOP_MAX_ENTRIES];
    uint8_t *data;           /* caller storage for BYTES read values (may be NULL if data_cap 0) */
    uint32_t data_cap;
    uint32_t data_len;
} km_kop_reply;

/* ------------------------------------------------------------------ the freeze gate */

/* One gate per VM, owned by the freeze coordinator.  Public only so it can
 * live in caller storage: use the functions. */
typedef struct km_kop_gate {
    uint64_t id;                 /* distinct for every gate of the process */
    km_atomic_u64 generation;    /* bumped by every thaw */
    km_atomic_bool frozen;
} km_kop_gate;

/* Proof that the VM was frozen when it was minted; current until the gate's
 * next thaw.  The fields are private: a token that km_kop_gate_mint did not
 * produce (zeroed, copied from another gate, kept over a thaw) is refused. */
typedef struct km_freeze_token {
    uint64_t priv_gate;
    uint64_t priv_generation;
} km_freeze_token;

/* A thawed gate with a fresh id. */
KM_API void km_kop_gate_init(km_kop_gate *g);

/* For the freeze coordinator, and only after it has confirmed that every vCPU
 * is stopped: marks the gate frozen and returns a token for cold dispatches. */
/*@ requires \valid(g) && \valid(out) && \separated(g, out);
    assigns g->frozen, *out;
    ensures g->frozen == \true;
    ensures out->priv_gate == g->id && out->priv_generation == g->generation;
    ensures \result == KM_OK; */
KM_API km_status km_kop_gate_mint(km_kop_gate *g, km_freeze_token *out);

/* For the freeze coordinator, before it lets the vCPUs run: every token
 * minted so far stops being current. */
/*@ requires \valid(g);
    requires g->generation < UINT64_MAX;
    assigns g->frozen, g->generation;
    ensures g->frozen == \false && g->generation == \old(g->generation) + 1; */
KM_API void km_kop_gate_thaw(km_kop_gate *g);

/*@ predicate km_kop_token_ok(km_kop_gate *g, km_freeze_token *t) =
        g != \null && t != \null && g->frozen == \true &&
        t->priv_gate == g->id && t->priv_generation == g->generation; */

/* Is t a token of g minted since g's last thaw (and g still frozen)? */
/*@ requires g == \null || \valid_read(g);
    requires t == \null || \valid_read(t);
    assigns \nothing;
    ensures \result == \true <==> km_kop_token_ok(g, t); */
KM_API bool km_kop_token_current(const km_kop_gate *g, const km_freeze_token *t);

/* ------------------------------------------------------------------ dispatch */

/* Member offsets of task_struct / signal_struct used by TASK targets,
 * resolved from BTF on first use. */
typedef struct km_kop_task_offs {
    uint32_t tasks;
    uint32_t pid;
    uint32_t signal;
    uint32_t thread_head;
    uint32_t thread_node;
    uint32_t start_time;
    uint32_t start_boottime;
    uint32_t exit_state;
    uint32_t exit_state_size;
    uint32_t state;
    uint32_t state_size;
    uint32_t on_rq;
    uint32_t on_rq_size;
    uint32_t sched_class;
    uint32_t scx_dsq;
    bool have_scx;          /* the kernel has sched_ext (task_struct.scx.dsq) */
} km_kop_task_offs;

/* What a dispatch works on.  mem is required; gk (a ready guest kernel)
 * for every target but PA; ks for SYMBOL/PERCPU/TASK; btf for member paths
 * and TASK targets. */
typedef struct km_kop_ctx {
    const km_mem *mem;
    km_guest_kernel *gk;
    const km_ksym *ks;
    const km_btf *btf;
    uint32_t cas_max_tries;   /* hot OrU32 attempts; KM_KOP_CAS_MAX_TRIES after init */
    bool task_tried;
    km_status task_status;
    km_kop_task_offs task;
} km_kop_ctx;

/* Where a target resolved to. */
typedef struct km_kop_where {
    bool physical;        /* pa-addressed (PA, DIRECT): pa is valid, kva only for DIRECT */
    uint64_t kva;
    uint64_t pa;          /* physical address of the first byte (after translation) */
    bool has_member;      /* a BTF member path was resolved */
    uint32_t member_size; /* its size in bytes */
    bool member_is_array;
    uint64_t sym_size;    /* ELF st_size of the symbol (SYMBOL, PERCPU), 0 if unknown */
} km_kop_where;

KM_API void km_kop_ctx_init(km_kop_ctx *c, const km_mem *mem, km_guest_kernel *gk,
                            const km_ksym *ks, const km_btf *btf);

/* An empty reply over caller storage for BYTES read values. */
KM_API void km_kop_reply_init(km_kop_reply *rep, uint8_t *data, uint32_t data_cap);

/* Run a COLD request: refused (KM_ERR_STATE, nothing done) unless t is
 * current for g; the gate is checked again before every entry.  The reply is
 * always filled (it is the result record); returns KM_OK iff rep->success. */
KM_API km_status km_kop_dispatch_cold(km_kop_ctx *c, const km_kop_gate *g, const km_freeze_token *t,
                                      const km_kop_request *req, km_kop_reply *rep);

/* Run a HOT request on a running guest. */
KM_API km_status km_kop_dispatch_hot(km_kop_ctx *c, const km_kop_request *req, km_kop_reply *rep);

/* Run req by its mode (a decoded wire request): COLD needs g and t. */
KM_API km_status km_kop_dispatch(km_kop_ctx *c, const km_kop_gate *g, const km_freeze_token *t,
                                 const km_kop_request *req, km_kop_reply *rep);

/* Resolve one target as a dispatch would (len: bytes accessed, dir: the
 * write checks of TASK targets), without accessing the value.  For tools
 * that need the member size or the address; why_out (may be NULL) says why not. */
KM_API km_status km_kop_resolve(km_kop_ctx *c, const km_kop_target *t, km_kop_dir dir, uint32_t len,
                                km_kop_where *out, km_kop_msg *why_out);

/* ------------------------------------------------------------------ building requests */

/* An empty request (count 0, no tag). */
KM_API void km_kop_request_init(km_kop_request *req, uint64_t request_id, km_kop_mode mode,
                                km_kop_dir dir);
/* Set the tag, cut to KM_KOP_TAG_MAX bytes at a UTF-8 boundary. */
KM_API void km_kop_request_set_tag(km_kop_request *req, const uint8_t *tag, size_t len);
/* Copy s into a fixed field (name, type, field) of cap bytes + NUL:
 * KM_ERR_INVALID_ARG if it does not fit; dst untouched then. */
KM_API km_status km_kop_copy_name(char *dst, size_t cap, const char *s);

/* Bytes of s[0 .. len) kept when cutting to at most max bytes without
 * splitting a UTF-8 character (continuation bytes 0x80..0xBF are never the
 * first byte left out). */
/*@ requires len > 0 ==> \valid_read(s + (0 .. len - 1));
    assigns \nothing;
    ensures \result <= len && \result <= max;
    ensures len <= max ==> \result == len;
    ensures len > max && max >= 3 ==> \result >= max - 3;
    ensures len > max ==> \result == 0 || \result + 3 == max || (s[\result] & 0xC0) != 0x80; */
KM_API size_t km_kop_utf8_cut(const uint8_t *s, size_t len, size_t max);

/* ------------------------------------------------------------------ wire codec */

typedef enum km_kop_wire_reason {
    KM_KOP_W_NONE = 0,
    KM_KOP_W_SHORT_HEADER,   /* fewer than 16 bytes */
    KM_KOP_W_UNKNOWN_TAG,    /* msg_type is not the expected tag */
    KM_KOP_W_PAD,            /* header pad word not zero */
    KM_KOP_W_LENGTH,         /* length field larger than KM_KOP_PAYLOAD_MAX or than the input */
    KM_KOP_W_TRAILING,       /* bytes after the payload */
    KM_KOP_W_CRC,            /* crc32(payload) differs from the header */
    KM_KOP_W_VERSION,        /* payload version is not KM_KOP_WIRE_VERSION */
    KM_KOP_W_TRUNCATED,      /* the payload ends inside a field */
    KM_KOP_W_PAYLOAD_TRAILING, /* the payload has bytes after its last field */
    KM_KOP_W_BAD_ENUM,       /* mode, direction, kind or flag out of range */
    KM_KOP_W_TOO_MANY,       /* more than KM_KOP_MAX_ENTRIES entries or reads */
    KM_KOP_W_STRING,         /* string too long for its field, or holds a NUL */
    KM_KOP_W_BYTES,          /* Bytes length 0 or over KM_KOP_BYTES_MAX */
    KM_KOP_W_INCONSISTENT,   /* reply fields contradict each other */
    KM_KOP_W_CAPACITY        /* caller storage (reply data, output buffer) too small */
} km_kop_wire_reason;

#define KM_KOP_WIRE_REASONS 16u

typedef struct km_kop_wire_error {
    km_status status;
    km_kop_wire_reason reason;
    uint32_t offset;   /* byte offset in the frame where decoding stopped */
    uint32_t entry;    /* entry (or read value) being decoded, or KM_NO_INDEX */
} km_kop_wire_error;

/* CRC-32 (IEEE 802.3: reflected polynomial 0xEDB88320, initial value and
 * final xor 0xFFFFFFFF) of buf[0 .. len), bit by bit as its definition. */
/*@ logic integer km_crc_step(integer c) = (c % 2 == 1) ? ((c / 2) ^ 0xEDB88320) : (c / 2);
    logic integer km_crc_bits(integer c, integer k) =
        k <= 0 ? c : km_crc_step(km_crc_bits(c, k - 1));
    logic integer km_crc_acc{L}(uint8_t *b, integer n) =
        n <= 0 ? 0xFFFFFFFF : km_crc_bits(km_crc_acc(b, n - 1) ^ b[n - 1], 8); */
/*@ requires len > 0 ==> \valid_read(buf + (0 .. len - 1));
    assigns \nothing;
    ensures \result == (km_crc_acc(buf, len) ^ 0xFFFFFFFF); */
KM_API uint32_t km_kop_crc32(const uint8_t *buf, size_t len);

/* Encode into out[0 .. cap); *written = frame bytes.  KM_ERR_CAPACITY if
 * cap is too small, KM_ERR_INVALID_ARG for a request the decoder would
 * refuse (counts, lengths, enums, strings); out/written untouched then. */
KM_API km_status km_kop_encode_request(const km_kop_request *req, uint8_t *out, size_t cap,
                                       size_t *written);
KM_API km_status km_kop_encode_reply(const km_kop_reply *rep, uint8_t *out, size_t cap,
                                     size_t *written);

/* Decode one whole frame (buf[0 .. len) must be exactly one frame).  On
 * failure *out is untouched and err (may be NULL) says why and where.
 * Request Bytes values point into buf: keep buf alive while *out is used. */
KM_API km_status km_kop_decode_request(const uint8_t *buf, size_t len, km_kop_request *out,
                                       km_kop_wire_error *err);
/* Reply Bytes values are copied into out->data (out->data_cap bytes, set by
 * km_kop_reply_init before the call): KM_ERR_CAPACITY if they do not fit. */
KM_API km_status km_kop_decode_reply(const uint8_t *buf, size_t len, km_kop_reply *out,
                                     km_kop_wire_error *err);

/* Peek at a frame's tag (after checking the 16-byte header is there). */
/*@ requires buf == \null || len == 0 || \valid_read(buf + (0 .. len - 1));
    requires \valid(tag);
    assigns *tag;
    ensures \result == KM_OK || \result == KM_ERR_BAD_DATA; */
KM_API km_status km_kop_frame_tag(const uint8_t *buf, size_t len, uint32_t *tag);

KM_API const char *km_kop_wire_reason_name(km_kop_wire_reason r);
KM_API const char *km_kop_target_kind_name(km_kop_target_kind k);
KM_API const char *km_kop_value_kind_name(km_kop_value_kind k);

#endif /* KTMON_KOP_DISPATCH_H */
