/* ktmon bpf_introspect: the guest-read primitives (trusted base of the WP
 * proof, see bpf_int.h).  Nothing here allocates. */
#include "bpf_int.h"

km_status km_bpf_rd_u64(km_guest_kernel *gk, uint64_t kva, uint64_t *out)
{
    return km_gk_read_u64(gk, kva, out);
}

km_status km_bpf_rd_u32(km_guest_kernel *gk, uint64_t kva, uint32_t *out)
{
    return km_gk_read_u32(gk, kva, out);
}

km_status km_bpf_rd_u8(km_guest_kernel *gk, uint64_t kva, uint8_t *out)
{
    uint8_t b[1] = {0u};
    km_status st = km_gk_read_bytes(gk, kva, b, 1u);
    if (st == KM_OK) {
        *out = b[0];
    }
    return st;
}
