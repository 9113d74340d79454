/* ktmon kop_dispatch: the validation logic (proved by WP: verify/wp/kop_dispatch.wp).
 *
 * Everything here is pure or touches only the freeze gate: which entries a
 * dispatcher accepts, the token check, bounds and alignment tests, and
 * UTF-8 cutting.  No memory access, no allocation, no system call. */
#include "kop_int.h"

#include "ktmon/atomic.h"

/* ---------------------------------------------------------------- the freeze gate */

/* Gate ids: distinct per gate of the process, so a token of one VM's gate is
 * refused by another's.  Starts at 1: a zeroed token never names a gate. */
static km_atomic_u64 km_kop_next_gate_id = 1u;

/*@ requires \valid(g);
    assigns *g, km_kop_next_gate_id;
    ensures g->frozen == 0 && g->generation == 1; */
void km_kop_gate_init(km_kop_gate *g)
{
    g->id = km_atomic_fetch_add_u64(&km_kop_next_gate_id, 1u);
    km_atomic_store_relaxed_u64(&g->generation, 1u);
    km_atomic_store_relaxed_bool(&g->frozen, false);
}

km_status km_kop_gate_mint(km_kop_gate *g, km_freeze_token *out)
{
    /* Release: whoever acquires `frozen` sees the freeze that preceded it. */
    km_atomic_store_release_bool(&g->frozen, true);
    out->priv_gate = g->id;
    out->priv_generation = km_atomic_load_acquire_u64(&g->generation);
    return KM_OK;
}

void km_kop_gate_thaw(km_kop_gate *g)
{
    /* frozen first: a dispatcher that still sees the old generation then
     * sees frozen == false (both acquire-loaded in km_kop_token_current). */
    km_atomic_store_release_bool(&g->frozen, false);
    km_atomic_store_release_u64(&g->generation, km_atomic_load_acquire_u64(&g->generation) + 1u);
}

bool km_kop_token_current(const km_kop_gate *g, const km_freeze_token *t)
{
    bool ok = false;
    if ((g != NULL) && (t != NULL)) {
        bool frozen = km_atomic_load_acquire_bool(&g->frozen);
        uint64_t gen = km_atomic_load_acquire_u64(&g->generation);
        ok = frozen && (t->priv_gate == g->id) && (t->priv_generation == gen);
    }
    return ok;
}

/* ---------------------------------------------------------------- the entry check */

km_kop_refusal km_kop_check_entry(uint32_t mode, uint32_t dir, uint32_t tk, uint32_t vk, uint32_t len,
                                  bool has_bytes, uint64_t scalar)
{
    km_kop_refusal r = KM_KOP_R_OK;
    if (mode > (uint32_t)KM_KOP_COLD) {
        r = KM_KOP_R_BAD_MODE;
    } else if (dir > (uint32_t)KM_KOP_READ) {
        r = KM_KOP_R_BAD_DIR;
    } else if (tk >= KM_KOP_TARGET_KINDS) {
        r = KM_KOP_R_BAD_TARGET;
    } else if (vk >= KM_KOP_VALUE_KINDS) {
        r = KM_KOP_R_BAD_VALUE;
    } else if ((dir == (uint32_t)KM_KOP_READ) && (vk == (uint32_t)KM_KOP_V_OR_U32)) {
        r = KM_KOP_R_OR_READ;
    } else if ((vk == (uint32_t)KM_KOP_V_BYTES) && ((len == 0u) || (len > KM_KOP_BYTES_MAX))) {
        r = KM_KOP_R_BYTES_LEN;
    } else if ((vk == (uint32_t)KM_KOP_V_BYTES) && (dir == (uint32_t)KM_KOP_WRITE) && !has_bytes) {
        r = KM_KOP_R_BYTES_NULL;
    } else if ((tk == (uint32_t)KM_KOP_T_TASK) && (vk != (uint32_t)KM_KOP_V_U32) &&
               (vk != (uint32_t)KM_KOP_V_U64)) {
        r = KM_KOP_R_TASK_WIDTH;
    } else if (((vk == (uint32_t)KM_KOP_V_U32) || (vk == (uint32_t)KM_KOP_V_OR_U32)) &&
               (dir == (uint32_t)KM_KOP_WRITE) && (scalar > UINT32_MAX)) {
        r = KM_KOP_R_U32_RANGE;
    } else if ((mode == (uint32_t)KM_KOP_HOT) && (dir == (uint32_t)KM_KOP_WRITE) &&
               (vk == (uint32_t)KM_KOP_V_BYTES)) {
        r = KM_KOP_R_HOT_BYTES;
    } else {
        r = KM_KOP_R_OK;
    }
    return r;
}

km_status km_kop_refusal_status(km_kop_refusal r)
{
    km_status st;
    switch (r) {
    case KM_KOP_R_OK:
        st = KM_OK;
        break;
    case KM_KOP_R_HOT_BYTES:
        st = KM_ERR_UNSUPPORTED;
        break;
    case KM_KOP_R_BAD_MODE:
    case KM_KOP_R_BAD_DIR:
    case KM_KOP_R_BAD_TARGET:
    case KM_KOP_R_BAD_VALUE:
    case KM_KOP_R_OR_READ:
    case KM_KOP_R_BYTES_LEN:
    case KM_KOP_R_BYTES_NULL:
    case KM_KOP_R_TASK_WIDTH:
    case KM_KOP_R_U32_RANGE:
    default:
        st = KM_ERR_INVALID_ARG;
        break;
    }
    return st;
}

const char *km_kop_refusal_text(km_kop_refusal r)
{
    const char *s;
    switch (r) {
    case KM_KOP_R_OK:
        s = "ok";
        break;
    case KM_KOP_R_BAD_MODE:
        s = "mode is neither hot nor cold";
        break;
    case KM_KOP_R_BAD_DIR:
        s = "direction is neither read nor write";
        break;
    case KM_KOP_R_BAD_TARGET:
        s = "unknown target kind";
        break;
    case KM_KOP_R_BAD_VALUE:
        s = "unknown value kind";
        break;
    case KM_KOP_R_OR_READ:
        s = "OrU32 is a write, not a read width (read U32)";
        break;
    case KM_KOP_R_BYTES_LEN:
        s = "Bytes length must be 1..65536";
        break;
    case KM_KOP_R_BYTES_NULL:
        s = "Bytes write without a payload";
        break;
    case KM_KOP_R_TASK_WIDTH:
        s = "task fields take U32 or U64 only";
        break;
    case KM_KOP_R_U32_RANGE:
        s = "value does not fit in 32 bits";
        break;
    case KM_KOP_R_HOT_BYTES:
        s = "hot Bytes writes are refused: a multi-byte copy is not atomic against the running "
            "guest (use a cold write)";
        break;
    default:
        s = "unknown refusal";
        break;
    }
    return s;
}

uint32_t km_kop_width(uint32_t vk, uint32_t len)
{
    uint32_t w;
    if (vk == (uint32_t)KM_KOP_V_U64) {
        w = 8u;
    } else if ((vk == (uint32_t)KM_KOP_V_U32) || (vk == (uint32_t)KM_KOP_V_OR_U32)) {
        w = 4u;
    } else {
        w = len;
    }
    return w;
}

/* ---------------------------------------------------------------- address checks */

bool km_kop_kernel_half(uint64_t kva)
{
    return kva >= KM_KOP_KERNEL_HALF_MIN;
}

km_status km_kop_direct_pa(uint64_t page_offset, uint64_t pa_base, uint64_t pa_limit, uint64_t kva,
                           uint64_t len, uint64_t *pa)
{
    km_status st = KM_ERR_RANGE;
    if ((len >= 1u) && (pa_limit > pa_base) && (kva >= page_offset)) {
        uint64_t span = pa_limit - pa_base;
        uint64_t off = kva - page_offset;
        /* off + len <= span, written without overflow */
        if ((len <= span) && (off <= (span - len))) {
            *pa = off + pa_base;
            st = KM_OK;
        }
    }
    return st;
}

bool km_kop_aligned(uint64_t addr, uint32_t width)
{
    return (addr % (uint64_t)width) == 0u;
}

bool km_kop_in_one_page(uint64_t addr, uint64_t len)
{
    return ((addr % KM_KOP_PAGE) + len) <= KM_KOP_PAGE;
}

bool km_kop_task_start_ok(uint64_t start, uint64_t expected)
{
    return (start >= expected) && ((start - expected) < KM_KOP_TASK_START_WINDOW_NS);
}

uint32_t km_kop_or(uint32_t old, uint32_t mask)
{
    return old | mask;
}

/* ---------------------------------------------------------------- UTF-8 */

size_t km_kop_utf8_cut(const uint8_t *s, size_t len, size_t max)
{
    size_t cut = len;
    if (len > max) {
        uint32_t steps = 0u;
        cut = max;
        /* Step back over at most three continuation bytes (a UTF-8 character
         * has at most three): s[cut] is then the first byte of a character. */
        /*@ loop invariant steps <= 3 && cut + steps == max && cut < len;
            loop assigns cut, steps;
            loop variant cut; */
        while ((cut > 0u) && (steps < 3u) && ((s[cut] & 0xC0u) == 0x80u)) {
            cut--;
            steps++;
        }
    }
    return cut;
}
