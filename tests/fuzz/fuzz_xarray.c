/* libFuzzer target: modules/bpf_introspect over hostile guest memory.
 *
 * Input: head (u64), index (u64), the per-CPU offsets of CPUs 0 and 1 (u64
 * each), then up to 64 KiB of guest RAM (PA 0, zero-padded).  The guest is a
 * ready x86_64 kernel: direct map at 0xffff888000000000, kernel image
 * (map_idr, prog_idr, bpf_stats_enabled_key) at PA 0x8000, anything else
 * page-walked from a PGD at PA 0x1000 of the same (random) RAM.  Offsets are
 * those of tests/fixtures/bpf/kbpf.h.
 *
 * Checked besides the sanitizers (abort() on violation):
 *   - a non-node head: xa_load gives head at index 0 and 0 elsewhere;
 *   - the iterator returns strictly ascending indices (the first 256 are
 *     checked), and xa_load of each returned index gives the same leaf;
 *   - every map/program record read has a NUL-terminated name;
 *   - value reads never report success for a span the checks refuse.
 * Seeds: tests/fuzz/corpus/xarray/ (tests/fixtures/bpf/gen_fuzz_seeds.c). */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ktmon/bpf_introspect.h"
#include "tests/fixtures/bpf/kbpf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FZ_RAM (64u * 1024u)
#define FZ_HDR 32u
#define FZ_PO UINT64_C(0xffff888000000000)
#define FZ_TEXT UINT64_C(0xffffffff81000000)
#define FZ_TEXT_PA UINT64_C(0x8000)
#define FZ_LEAVES 256u

static volatile uint64_t sink;
static km_guest_kernel gk;
static km_bpf_offsets off;

static uint64_t rd64(const uint8_t *p)
{
    uint64_t v = 0;
    for (unsigned i = 0; i < 8; i++) {
        v |= (uint64_t)p[i] << (8u * i);
    }
    return v;
}

static void offsets(void)
{
    memset(&off, 0, sizeof(off));
    off.ready = true;
    off.idr_rt = offsetof(struct idr, idr_rt);
    off.idr_base = offsetof(struct idr, idr_base);
    off.idr_next = offsetof(struct idr, idr_next);
    off.have_idr_next = true;
    off.xa_head = offsetof(struct xarray, xa_head);
    off.xa_node_shift = offsetof(struct xa_node, shift);
    off.xa_node_slots = offsetof(struct xa_node, slots);
    off.map_name = offsetof(struct bpf_map, name);
    off.map_type = offsetof(struct bpf_map, map_type);
    off.map_flags = offsetof(struct bpf_map, map_flags);
    off.map_key_size = offsetof(struct bpf_map, key_size);
    off.map_value_size = offsetof(struct bpf_map, value_size);
    off.map_max_entries = offsetof(struct bpf_map, max_entries);
    off.map_id = offsetof(struct bpf_map, id);
    off.array_value = offsetof(struct bpf_array, value);
    off.array_pptrs = offsetof(struct bpf_array, pptrs);
    off.st_map_kvalue = offsetof(struct bpf_struct_ops_map, kvalue);
    off.st_value_data = offsetof(struct bpf_struct_ops_value, data);
    off.have_struct_ops_map = true;
    off.prog_type = offsetof(struct bpf_prog, type);
    off.prog_aux = offsetof(struct bpf_prog, aux);
    off.prog_stats = offsetof(struct bpf_prog, stats);
    off.aux_id = offsetof(struct bpf_prog_aux, id);
    off.aux_name = offsetof(struct bpf_prog_aux, name);
    off.aux_verified_insns = offsetof(struct bpf_prog_aux, verified_insns);
    off.stats_cnt = offsetof(struct bpf_prog_stats, cnt);
    off.stats_nsecs = offsetof(struct bpf_prog_stats, nsecs);
    off.map_type_array = BPF_MAP_TYPE_ARRAY;
    off.map_type_percpu_array = BPF_MAP_TYPE_PERCPU_ARRAY;
    off.map_type_struct_ops = BPF_MAP_TYPE_STRUCT_OPS;
    off.have_map_type_struct_ops = true;
    off.prog_type_struct_ops = BPF_PROG_TYPE_STRUCT_OPS;
    off.map_idr_link = FZ_TEXT + 0x100u;
    off.prog_idr_link = FZ_TEXT + 0x200u;
    off.stats_key_link = FZ_TEXT + 0x300u;
    off.static_key_enabled = offsetof(struct static_key, enabled);
    off.have_stats_key = true;
}

static void check_name(const char *n)
{
    if (memchr(n, 0, KM_BPF_OBJ_NAME_LEN + 1u) == NULL) {
        abort();
    }
}

static void xarray(uint64_t head, uint64_t index)
{
    uint64_t e = 0;
    km_bpf_error err;
    km_status st = km_bpf_xa_load(&gk, &off, head, index, &e, &err);
    if ((st == KM_OK) && (km_bpf_xa_classify(head) != KM_BPF_XA_NODE) && (e != ((index == 0u) ? head : 0u))) {
        abort();
    }
    sink += e + (uint64_t)st;
    km_bpf_xa_iter it;
    km_bpf_xa_iter_init(&it, head);
    uint64_t prev = 0;
    uint64_t n = 0;
    /* at most FZ_LEAVES leaves an input: a shared-subtree input would otherwise cost the full
     * node bound (4096 nodes x 64 slots) on every execution; the unit tests cover that bound */
    while (n < FZ_LEAVES) {
        uint64_t i = 0;
        uint64_t leaf = 0;
        bool has = false;
        st = km_bpf_xa_next(&gk, &off, &it, &i, &leaf, &has, &err);
        if ((st != KM_OK) || !has) {
            break;
        }
        if (((n > 0u) && (i <= prev)) || (leaf == 0u)) {
            abort();
        }
        uint64_t again = 0;
        if ((km_bpf_xa_load(&gk, &off, head, i, &again, NULL) != KM_OK) || (again != leaf)) {
            abort();
        }
        prev = i;
        n++;
    }
    sink += n + (uint64_t)st;
}

static void maps_and_progs(void)
{
    km_bpf_idr_iter it;
    km_bpf_error err;
    if (km_bpf_maps_begin(&gk, &off, &it, &err) == KM_OK) {
        for (unsigned k = 0; k < 512u; k++) {
            km_bpf_map_info m;
            bool has = false;
            km_status st = km_bpf_maps_next(&gk, &off, &it, &m, &has, &err);
            if ((st == KM_OK) && !has) {
                break;
            }
            if ((st != KM_OK) && (it.xa.state == KM_BPF_XA_FAILED)) {
                break;
            }
            if (st != KM_OK) {
                continue;
            }
            check_name(m.name);
            uint8_t buf[64];
            uint32_t len = (m.value_size < sizeof(buf)) ? m.value_size : (uint32_t)sizeof(buf);
            if (len > 0u) {
                st = km_bpf_map_value(&gk, &off, &m, 0, 0, buf, len, &err);
                if ((st == KM_OK) && (m.max_entries == 0u)) {
                    abort();
                }
                sink += buf[0] + (uint64_t)st;
                st = km_bpf_map_percpu_value(&gk, &off, &m, 0, 1, 0, buf, len, &err);
                sink += (uint64_t)st;
            }
        }
    }
    km_bpf_map_info found;
    sink += (uint64_t)km_bpf_find_map(&gk, &off, ".bss", &found, &err);
    if (km_bpf_progs_begin(&gk, &off, &it, &err) == KM_OK) {
        for (unsigned k = 0; k < 512u; k++) {
            km_bpf_prog_info p;
            bool has = false;
            km_status st = km_bpf_progs_next(&gk, &off, &it, (k % 2u) == 0u, &p, &has, &err);
            if (((st == KM_OK) && !has) || ((st != KM_OK) && (it.xa.state == KM_BPF_XA_FAILED))) {
                break;
            }
            if (st == KM_OK) {
                check_name(p.name);
                sink += p.run_cnt + p.run_time_ns + p.verified_insns;
            }
        }
    }
    bool on = false;
    sink += (uint64_t)km_bpf_stats_enabled(&gk, &off, &on, &err) + (on ? 1u : 0u);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* Guest RAM is one malloc'd buffer kept across inputs: each input copies its
     * bytes in and zeroes only what the previous input left beyond them (the
     * region is registered read-only, so only this function writes it).  This
     * replaces a 64 KiB malloc + memset + free per input, about 2-3% of the run
     * (ASan's quarantine hands out fresh pages, so they were also faulted in).
     * What dominates the run is not the harness: an input whose xarray shares
     * subtrees without leaves makes one km_bpf_xa_next call enter the full
     * KM_BPF_XA_MAX_NODES (4096) nodes, 262,144 slot reads, ~0.1 s under the
     * sanitizers; the fuzzer keeps such inputs (they reach the capacity path). */
    static km_mem mem;
    static uint8_t *ram;
    static size_t dirty; /* bytes of ram that may be non-zero */
    static bool once;
    if (size < FZ_HDR) {
        return 0;
    }
    if (ram == NULL) {
        ram = calloc(1u, FZ_RAM);
        if (ram == NULL) {
            return 0;
        }
    }
    if (!once) {
        offsets(); /* constant: the offsets of tests/fixtures/bpf/kbpf.h */
        once = true;
    }
    size_t n = size - FZ_HDR;
    if (n > FZ_RAM) {
        n = FZ_RAM;
    }
    memcpy(ram, data + FZ_HDR, n);
    if (dirty > n) {
        memset(ram + n, 0, dirty - n);
    }
    dirty = n;
    uint64_t head = rd64(data);
    uint64_t index = rd64(data + 8);
    km_mem_init(&mem);
    if (km_mem_add_region(&mem, 0, FZ_RAM, ram, false) != KM_OK) {
        abort();
    }
    km_gk_symbols sym;
    memset(&sym, 0, sizeof(sym));
    sym.arch = KM_ARCH_X86_64;
    km_gk_init(&gk, &mem, &sym);
    gk.ready = true;
    gk.text_kva = FZ_TEXT;
    gk.text_pa = FZ_TEXT_PA;
    gk.text_end_kva = FZ_TEXT + 0x8000u;
    gk.page_offset = FZ_PO;
    (void)km_pgwalk_cfg_x86_64(0x1000, false, &gk.cfg);
    gk.percpu_ready = true;
    gk.ncpus = 2;
    gk.percpu[0] = rd64(data + 16);
    gk.percpu[1] = rd64(data + 24);
    xarray(head, index);
    maps_and_progs();
    return 0;
}
