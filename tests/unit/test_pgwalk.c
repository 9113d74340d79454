/* Unit tests: modules/pgwalk over hand-built page tables in fake guest memory. */
#include <criterion/criterion.h>
#include <string.h>

#include "ktmon/pgwalk.h"

/* 64 pages of 64 KiB = 4 MiB of fake RAM: enough for tables of any granule. */
#define RAM_SIZE (64u * 65536u)
static uint8_t ram[RAM_SIZE] __attribute__((aligned(65536)));
static km_mem mem;
static uint64_t ram_base;

static void ram_at(uint64_t base)
{
    memset(ram, 0, sizeof(ram));
    ram_base = base;
    km_mem_init(&mem);
    cr_assert_eq(km_mem_add_region(&mem, base, RAM_SIZE, ram, true), KM_OK);
}

static void set_entry(uint64_t table_pa, uint64_t index, uint64_t value)
{
    cr_assert_eq(km_mem_write_u64(&mem, table_pa + index * 8u, value), KM_OK);
}

/* ------------------------------------------------------------------ x86_64 */

#define P 1u
#define RW 2u
#define PS (1u << 7)
#define NX (1ull << 63)

static unsigned idx9(uint64_t va, unsigned shift) { return (unsigned)((va >> shift) & 511u); }

/* Tables: PML5 0x1000, PML4 0x2000, PDPT 0x3000, PD 0x4000, PT 0x5000; data page 0x9000. */
static const uint64_t KVA = 0xffffffff81234567ull;

static void x86_map_4k(bool la57)
{
    ram_at(0);
    uint64_t top = la57 ? 0x1000u : 0x2000u;
    if (la57) {
        set_entry(0x1000, idx9(KVA, 48), 0x2000u | P | RW);
    }
    set_entry(0x2000, idx9(KVA, 39), 0x3000u | P | RW);
    set_entry(0x3000, idx9(KVA, 30), 0x4000u | P | RW);
    set_entry(0x4000, idx9(KVA, 21), 0x5000u | P | RW);
    set_entry(0x5000, idx9(KVA, 12), 0x9000u | P | RW | NX);
    (void)top;
}

Test(pgwalk_x86, four_level_4k_page_and_trace)
{
    km_pgwalk_cfg cfg;
    km_pgwalk_result r;
    km_pgwalk_trace tr;
    x86_map_4k(false);
    cr_assert_eq(km_pgwalk_cfg_x86_64(0x2000u | 0x5u /* PCID */, false, &cfg), KM_OK);
    cr_assert_eq(cfg.root_pa, 0x2000u);
    cr_assert_eq(km_pgwalk_walk(&mem, &cfg, KVA, &r, &tr), KM_OK);
    cr_assert_eq(r.pa, 0x9567u);
    cr_assert_eq(r.page_size, 4096u);
    cr_assert_eq(r.level, 1);
    cr_assert_eq(tr.n, 4u);
    cr_assert_eq(tr.status, KM_OK);
    cr_assert_eq(tr.entries[0].level, 4);
    cr_assert_eq(tr.entries[0].entry_pa, 0x2000u + 8u * idx9(KVA, 39));
    cr_assert_eq(tr.entries[0].value, 0x3000u | P | RW);
    cr_assert_eq(tr.entries[3].level, 1);
    cr_assert_eq(tr.entries[3].value, 0x9000u | P | RW | NX);
}

Test(pgwalk_x86, five_level_walk_uses_pml5)
{
    km_pgwalk_cfg cfg;
    km_pgwalk_result r;
    km_pgwalk_trace tr;
    x86_map_4k(true);
    cr_assert_eq(km_pgwalk_cfg_x86_64(0x1000u, true, &cfg), KM_OK);
    cr_assert_eq(cfg.levels, 5u);
    cr_assert_eq(km_pgwalk_walk(&mem, &cfg, KVA, &r, &tr), KM_OK);
    cr_assert_eq(r.pa, 0x9567u);
    cr_assert_eq(tr.n, 5u);
    cr_assert_eq(tr.entries[0].level, 5);
    cr_assert_eq(tr.entries[0].entry_pa, 0x1000u + 8u * idx9(KVA, 48));
}

Test(pgwalk_x86, two_mib_and_one_gib_pages)
{
    km_pgwalk_cfg cfg;
    km_pgwalk_result r;
    ram_at(0);
    /* 2 MiB page at PA 0x40200000 (the PAT bit 12 must not leak into the address). */
    set_entry(0x2000, idx9(KVA, 39), 0x3000u | P);
    set_entry(0x3000, idx9(KVA, 30), 0x4000u | P);
    set_entry(0x4000, idx9(KVA, 21), 0x40200000u | P | PS | (1u << 12));
    cr_assert_eq(km_pgwalk_cfg_x86_64(0x2000u, false, &cfg), KM_OK);
    cr_assert_eq(km_pgwalk_walk(&mem, &cfg, KVA, &r, NULL), KM_OK);
    cr_assert_eq(r.pa, 0x40200000u + (KVA & 0x1fffffu));
    cr_assert_eq(r.page_size, 2u << 20);
    cr_assert_eq(r.level, 2);
    /* 1 GiB page at PA 0x80000000. */
    set_entry(0x3000, idx9(KVA, 30), 0x80000000u | P | PS);
    cr_assert_eq(km_pgwalk_walk(&mem, &cfg, KVA, &r, NULL), KM_OK);
    cr_assert_eq(r.pa, 0x80000000u + (KVA & 0x3fffffffu));
    cr_assert_eq(r.page_size, 1u << 30);
    cr_assert_eq(r.level, 3);
}

Test(pgwalk_x86, each_level_not_present)
{
    km_pgwalk_cfg cfg;
    km_pgwalk_result r = {.pa = 0xdead};
    km_pgwalk_trace tr;
    const uint64_t tables[4] = {0x2000, 0x3000, 0x4000, 0x5000};
    const unsigned shifts[4] = {39, 30, 21, 12};
    for (int lvl = 0; lvl < 4; lvl++) {
        x86_map_4k(false);
        set_entry(tables[lvl], idx9(KVA, shifts[lvl]), 0x7000u /* present bit clear */);
        cr_assert_eq(km_pgwalk_cfg_x86_64(0x2000u, false, &cfg), KM_OK);
        cr_assert_eq(km_pgwalk_walk(&mem, &cfg, KVA, &r, &tr), KM_ERR_NOT_PRESENT, "level %d", 4 - lvl);
        cr_assert_eq(tr.fault_level, 4 - lvl);
        cr_assert_eq(tr.fault_addr, tables[lvl] + 8u * idx9(KVA, shifts[lvl]));
        cr_assert_eq(tr.n, (uint32_t)lvl + 1u);
        cr_assert_eq(r.pa, 0xdeadu, "result must be untouched on failure");
    }
}

Test(pgwalk_x86, ps_bit_in_pml4_is_an_invalid_descriptor)
{
    km_pgwalk_cfg cfg;
    km_pgwalk_result r;
    x86_map_4k(false);
    set_entry(0x2000, idx9(KVA, 39), 0x3000u | P | PS);
    cr_assert_eq(km_pgwalk_cfg_x86_64(0x2000u, false, &cfg), KM_OK);
    cr_assert_eq(km_pgwalk_walk(&mem, &cfg, KVA, &r, NULL), KM_ERR_BAD_DESCRIPTOR);
}

Test(pgwalk_x86, table_outside_ram)
{
    km_pgwalk_cfg cfg;
    km_pgwalk_result r;
    km_pgwalk_trace tr;
    x86_map_4k(false);
    set_entry(0x3000, idx9(KVA, 30), 0x7fff000000ull | P);
    cr_assert_eq(km_pgwalk_cfg_x86_64(0x2000u, false, &cfg), KM_OK);
    cr_assert_eq(km_pgwalk_walk(&mem, &cfg, KVA, &r, &tr), KM_ERR_TABLE_OUTSIDE_RAM);
    cr_assert_eq(tr.fault_level, 2);
    cr_assert_eq(tr.fault_addr, 0x7fff000000ull + 8u * idx9(KVA, 21));
    /* A root outside RAM fails on the first read. */
    cr_assert_eq(km_pgwalk_cfg_x86_64(0x7fff000000ull, false, &cfg), KM_OK);
    cr_assert_eq(km_pgwalk_walk(&mem, &cfg, KVA, &r, &tr), KM_ERR_TABLE_OUTSIDE_RAM);
    cr_assert_eq(tr.n, 0u);
}

Test(pgwalk_x86, self_referencing_table_terminates)
{
    km_pgwalk_cfg cfg;
    km_pgwalk_result r;
    km_pgwalk_trace tr;
    ram_at(0);
    for (unsigned i = 0; i < 512; i++) {
        set_entry(0x2000, i, 0x2000u | P | RW); /* every entry points back to the PML4 */
    }
    cr_assert_eq(km_pgwalk_cfg_x86_64(0x2000u, false, &cfg), KM_OK);
    cr_assert_eq(km_pgwalk_walk(&mem, &cfg, KVA, &r, &tr), KM_OK);
    cr_assert_eq(tr.n, 4u);
    cr_assert_eq(r.pa, 0x2000u + (KVA & 0xfffu));
    /* With PS set in every entry the 1 GiB leaf is taken at the PDPT. */
    for (unsigned i = 0; i < 512; i++) {
        set_entry(0x2000, i, 0x2000u | P | PS);
    }
    cr_assert_eq(km_pgwalk_walk(&mem, &cfg, KVA, &r, &tr), KM_ERR_BAD_DESCRIPTOR);
    cr_assert_eq(tr.n, 1u);
}

Test(pgwalk_x86, non_canonical_and_bad_registers)
{
    km_pgwalk_cfg cfg;
    km_pgwalk_result r;
    x86_map_4k(false);
    cr_assert_eq(km_pgwalk_cfg_x86_64(0x2000u, false, &cfg), KM_OK);
    cr_assert_eq(km_pgwalk_walk(&mem, &cfg, 0xff00000000000000ull, &r, NULL), KM_ERR_RANGE);
    cr_assert_eq(km_pgwalk_walk(&mem, &cfg, 0x0000800000000000ull, &r, NULL), KM_ERR_RANGE);
    /* The same address is canonical under LA57. */
    cr_assert_eq(km_pgwalk_cfg_x86_64(0x2000u, true, &cfg), KM_OK);
    cr_assert_neq(km_pgwalk_walk(&mem, &cfg, 0x0000800000000000ull, &r, NULL), KM_ERR_RANGE);
    cr_assert_eq(km_pgwalk_cfg_x86_64(0xfffu, false, &cfg), KM_ERR_BAD_REGISTERS);
}

/* ----------------------------------------------------------------- aarch64 */

#define A64_BASE 0x40000000ull
#define D_VALID 1u
#define D_TABLE 3u /* valid + table/page */
#define D_BLOCK 1u /* valid, bit 1 clear */
#define D_AF (1u << 10)

static uint64_t tcr(unsigned t1sz, unsigned tg1, unsigned ips)
{
    return ((uint64_t)t1sz << 16) | ((uint64_t)tg1 << 30) | ((uint64_t)ips << 32) | 25u /* T0SZ */;
}

static unsigned idx(uint64_t va, unsigned shift, unsigned bits)
{
    return (unsigned)((va >> shift) & ((1u << bits) - 1u));
}

Test(pgwalk_a64, granule_4k_48bit_page_and_blocks)
{
    const uint64_t va = 0xffff800012345678ull;
    km_pgwalk_cfg cfg;
    km_pgwalk_result r;
    km_pgwalk_trace tr;
    ram_at(A64_BASE);
    uint64_t l0 = A64_BASE + 0x1000, l1 = A64_BASE + 0x2000, l2 = A64_BASE + 0x3000,
             l3 = A64_BASE + 0x4000;
    set_entry(l0, idx(va, 39, 9), l1 | D_TABLE);
    set_entry(l1, idx(va, 30, 9), l2 | D_TABLE);
    set_entry(l2, idx(va, 21, 9), l3 | D_TABLE);
    set_entry(l3, idx(va, 12, 9), (A64_BASE + 0x9000) | D_TABLE | D_AF);
    cr_assert_eq(km_pgwalk_cfg_aarch64(l0 | 1u /* CnP */ | (7ull << 48) /* ASID */, tcr(16, 2, 5), &cfg),
                 KM_OK);
    cr_assert_eq(cfg.levels, 4u);
    cr_assert_eq(cfg.root_pa, l0);
    cr_assert_eq(km_pgwalk_walk(&mem, &cfg, va, &r, &tr), KM_OK);
    cr_assert_eq(r.pa, A64_BASE + 0x9678);
    cr_assert_eq(r.page_size, 4096u);
    cr_assert_eq(r.level, 3);
    cr_assert_eq(tr.n, 4u);
    cr_assert_eq(tr.entries[0].level, 0);
    /* 2 MiB block at level 2 */
    set_entry(l2, idx(va, 21, 9), (A64_BASE + 0x200000) | D_BLOCK | D_AF);
    cr_assert_eq(km_pgwalk_walk(&mem, &cfg, va, &r, NULL), KM_OK);
    cr_assert_eq(r.pa, A64_BASE + 0x200000 + (va & 0x1fffff));
    cr_assert_eq(r.level, 2);
    /* 1 GiB block at level 1 */
    set_entry(l1, idx(va, 30, 9), 0x40000000ull | D_BLOCK);
    cr_assert_eq(km_pgwalk_walk(&mem, &cfg, va, &r, NULL), KM_OK);
    cr_assert_eq(r.pa, 0x40000000ull + (va & 0x3fffffff));
    cr_assert_eq(r.page_size, 1u << 30);
    /* a block at level 0 does not exist with 4K pages */
    set_entry(l0, idx(va, 39, 9), 0x40000000ull | D_BLOCK);
    cr_assert_eq(km_pgwalk_walk(&mem, &cfg, va, &r, &tr), KM_ERR_BAD_DESCRIPTOR);
    cr_assert_eq(tr.fault_level, 0);
}

Test(pgwalk_a64, granule_4k_39bit_starts_at_level_1)
{
    const uint64_t va = 0xffffff8000123000ull;
    km_pgwalk_cfg cfg;
    km_pgwalk_result r;
    ram_at(A64_BASE);
    uint64_t l1 = A64_BASE + 0x1000, l2 = A64_BASE + 0x2000, l3 = A64_BASE + 0x3000;
    set_entry(l1, idx(va, 30, 9), l2 | D_TABLE);
    set_entry(l2, idx(va, 21, 9), l3 | D_TABLE);
    set_entry(l3, idx(va, 12, 9), (A64_BASE + 0x7000) | D_TABLE);
    cr_assert_eq(km_pgwalk_cfg_aarch64(l1, tcr(25, 2, 2), &cfg), KM_OK);
    cr_assert_eq(cfg.levels, 3u);
    cr_assert_eq(cfg.steps[0].level, 1);
    cr_assert_eq(km_pgwalk_walk(&mem, &cfg, va, &r, NULL), KM_OK);
    cr_assert_eq(r.pa, A64_BASE + 0x7000);
    /* an address below the TTBR1 range */
    cr_assert_eq(km_pgwalk_walk(&mem, &cfg, 0xffff800000000000ull, &r, NULL), KM_ERR_RANGE);
}

Test(pgwalk_a64, granule_16k_47bit_and_48bit)
{
    const uint64_t va = 0xffffc00012345678ull; /* 47-bit kernel VA */
    km_pgwalk_cfg cfg;
    km_pgwalk_result r;
    km_pgwalk_trace tr;
    ram_at(A64_BASE);
    /* 16K: levels 1..3, 11 index bits, L1 indexes VA bits 46:36 */
    uint64_t l1 = A64_BASE + 0x10000, l2 = A64_BASE + 0x14000, l3 = A64_BASE + 0x18000;
    set_entry(l1, idx(va, 36, 11), l2 | D_TABLE);
    set_entry(l2, idx(va, 25, 11), l3 | D_TABLE);
    set_entry(l3, idx(va, 14, 11), (A64_BASE + 0x20000) | D_TABLE);
    cr_assert_eq(km_pgwalk_cfg_aarch64(l1, tcr(17, 1, 5), &cfg), KM_OK);
    cr_assert_eq(cfg.levels, 3u);
    cr_assert_eq(cfg.page_shift, 14u);
    cr_assert_eq(km_pgwalk_walk(&mem, &cfg, va, &r, &tr), KM_OK);
    cr_assert_eq(r.pa, A64_BASE + 0x20000 + (va & 0x3fff));
    cr_assert_eq(r.page_size, 16384u);
    /* 32 MiB block at level 2 */
    set_entry(l2, idx(va, 25, 11), (A64_BASE + 0x2000000) | D_BLOCK);
    cr_assert_eq(km_pgwalk_walk(&mem, &cfg, va, &r, NULL), KM_OK);
    cr_assert_eq(r.page_size, 32u << 20);
    cr_assert_eq(r.pa, A64_BASE + 0x2000000 + (va & 0x1ffffff));
    /* no level-1 blocks with 16K pages */
    set_entry(l1, idx(va, 36, 11), A64_BASE | D_BLOCK);
    cr_assert_eq(km_pgwalk_walk(&mem, &cfg, va, &r, NULL), KM_ERR_BAD_DESCRIPTOR);
    /* 48-bit 16K: four levels, level 0 holds two entries (VA bit 47) */
    cr_assert_eq(km_pgwalk_cfg_aarch64(l1, tcr(16, 1, 5), &cfg), KM_OK);
    cr_assert_eq(cfg.levels, 4u);
    cr_assert_eq(cfg.steps[0].idx_bits, 1u);
    cr_assert_eq(cfg.steps[0].level, 0);
}

Test(pgwalk_a64, granule_64k_two_levels_and_52bit_output)
{
    const uint64_t va = 0xfffffc0012345678ull; /* 42-bit VA */
    km_pgwalk_cfg cfg;
    km_pgwalk_result r;
    ram_at(A64_BASE);
    uint64_t l2 = A64_BASE + 0x10000, l3 = A64_BASE + 0x20000;
    set_entry(l2, idx(va, 29, 13), l3 | D_TABLE);
    set_entry(l3, idx(va, 16, 13), (A64_BASE + 0x30000) | D_TABLE);
    cr_assert_eq(km_pgwalk_cfg_aarch64(l2, tcr(22, 3, 5), &cfg), KM_OK);
    cr_assert_eq(cfg.levels, 2u);
    cr_assert_eq(cfg.steps[0].level, 2);
    cr_assert_eq(km_pgwalk_walk(&mem, &cfg, va, &r, NULL), KM_OK);
    cr_assert_eq(r.pa, A64_BASE + 0x30000 + (va & 0xffff));
    cr_assert_eq(r.page_size, 65536u);
    /* 512 MiB block at level 2 */
    set_entry(l2, idx(va, 29, 13), 0x40000000ull | D_BLOCK);
    cr_assert_eq(km_pgwalk_walk(&mem, &cfg, va, &r, NULL), KM_OK);
    cr_assert_eq(r.page_size, 512u << 20);
    /* 52-bit output: descriptor bits 15:12 carry OA[51:48]; without IPS=52 they are ignored */
    set_entry(l2, idx(va, 29, 13), l3 | D_TABLE);
    set_entry(l3, idx(va, 16, 13), 0x30000ull | (0x1ull << 12) | D_TABLE);
    cr_assert_eq(km_pgwalk_cfg_aarch64(l2, tcr(22, 3, 6), &cfg), KM_OK);
    cr_assert_eq(cfg.oa_bits, 52u);
    cr_assert_eq(km_pgwalk_walk(&mem, &cfg, va, &r, NULL), KM_OK);
    cr_assert_eq(r.pa, (1ull << 48) + 0x30000 + (va & 0xffff));
    cr_assert_eq(km_pgwalk_cfg_aarch64(l2, tcr(22, 3, 5), &cfg), KM_OK);
    cr_assert_eq(km_pgwalk_walk(&mem, &cfg, va, &r, NULL), KM_OK);
    cr_assert_eq(r.pa, 0x30000ull + (va & 0xffff));
}

Test(pgwalk_a64, level3_reserved_encoding_and_outside_ram)
{
    const uint64_t va = 0xffff800012345678ull;
    km_pgwalk_cfg cfg;
    km_pgwalk_result r;
    km_pgwalk_trace tr;
    ram_at(A64_BASE);
    uint64_t l0 = A64_BASE + 0x1000, l1 = A64_BASE + 0x2000, l2 = A64_BASE + 0x3000,
             l3 = A64_BASE + 0x4000;
    set_entry(l0, idx(va, 39, 9), l1 | D_TABLE);
    set_entry(l1, idx(va, 30, 9), l2 | D_TABLE);
    set_entry(l2, idx(va, 21, 9), l3 | D_TABLE);
    set_entry(l3, idx(va, 12, 9), (A64_BASE + 0x9000) | D_BLOCK); /* bit 1 clear at level 3 */
    cr_assert_eq(km_pgwalk_cfg_aarch64(l0, tcr(16, 2, 5), &cfg), KM_OK);
    cr_assert_eq(km_pgwalk_walk(&mem, &cfg, va, &r, &tr), KM_ERR_BAD_DESCRIPTOR);
    cr_assert_eq(tr.fault_level, 3);
    /* a table below the start of RAM (the reference's DRAM underflow) */
    set_entry(l2, idx(va, 21, 9), 0x1000u | D_TABLE);
    cr_assert_eq(km_pgwalk_walk(&mem, &cfg, va, &r, &tr), KM_ERR_TABLE_OUTSIDE_RAM);
    cr_assert_eq(tr.fault_level, 3);
    set_entry(l2, idx(va, 21, 9), 0);
    cr_assert_eq(km_pgwalk_walk(&mem, &cfg, va, &r, &tr), KM_ERR_NOT_PRESENT);
    cr_assert_eq(tr.fault_level, 2);
}

Test(pgwalk_a64, tcr_values_it_cannot_walk_are_refused)
{
    km_pgwalk_cfg cfg;
    const uint64_t root = A64_BASE + 0x1000;
    cr_assert_eq(km_pgwalk_cfg_aarch64(root, 0u, &cfg), KM_ERR_BAD_REGISTERS);
    cr_assert_eq(km_pgwalk_cfg_aarch64(root, tcr(16, 2, 5) | (1ull << 59), &cfg), KM_ERR_UNSUPPORTED);
    cr_assert_eq(km_pgwalk_cfg_aarch64(root, tcr(16, 0, 5), &cfg), KM_ERR_BAD_REGISTERS);
    cr_assert_eq(km_pgwalk_cfg_aarch64(root, tcr(0, 2, 5), &cfg), KM_ERR_BAD_REGISTERS);
    cr_assert_eq(km_pgwalk_cfg_aarch64(root, tcr(16, 2, 5) | (1u << 23), &cfg), KM_ERR_BAD_REGISTERS);
    cr_assert_eq(km_pgwalk_cfg_aarch64(root, tcr(12, 2, 5), &cfg), KM_ERR_BAD_REGISTERS); /* 52-bit VA, 4K */
    cr_assert_eq(km_pgwalk_cfg_aarch64(root, tcr(40, 2, 5), &cfg), KM_ERR_BAD_REGISTERS); /* 24-bit VA */
    cr_assert_eq(km_pgwalk_cfg_aarch64(0u, tcr(16, 2, 5), &cfg), KM_ERR_BAD_REGISTERS);
    cr_assert_eq(km_pgwalk_cfg_aarch64(root, tcr(12, 3, 6), &cfg), KM_OK); /* 52-bit VA, 64K */
    cr_assert_eq(cfg.levels, 3u);
}

/* ------------------------------------------------------------------- cache */

Test(pgwalk_cache, hits_after_a_walk_and_invalidation_forgets)
{
    km_pgwalk_cfg cfg;
    km_pgwalk_result r;
    static km_tlb tlb;
    x86_map_4k(false);
    km_tlb_init(&tlb);
    cr_assert_eq(km_pgwalk_cfg_x86_64(0x2000u, false, &cfg), KM_OK);
    cr_assert_eq(km_pgwalk_translate_cached(&mem, &cfg, &tlb, KVA, &r), KM_OK);
    cr_assert_eq(tlb.misses, 1u);
    cr_assert_eq(r.pa, 0x9567u);
    cr_assert_eq(km_pgwalk_translate_cached(&mem, &cfg, &tlb, KVA + 0x10, &r), KM_OK);
    cr_assert_eq(tlb.hits, 1u);
    cr_assert_eq(r.pa, 0x9577u);
    cr_assert_eq(r.level, 1);
    /* The guest remaps the page: the cache keeps the old answer until invalidated. */
    set_entry(0x5000, idx9(KVA, 12), 0xa000u | P);
    cr_assert_eq(km_pgwalk_translate_cached(&mem, &cfg, &tlb, KVA, &r), KM_OK);
    cr_assert_eq(r.pa, 0x9567u);
    km_tlb_invalidate(&tlb);
    cr_assert_eq(km_pgwalk_translate_cached(&mem, &cfg, &tlb, KVA, &r), KM_OK);
    cr_assert_eq(r.pa, 0xa567u);
}

Test(pgwalk_cache, failures_are_not_cached_and_roots_are_keys)
{
    km_pgwalk_cfg cfg, other;
    km_pgwalk_result r;
    static km_tlb tlb;
    x86_map_4k(false);
    km_tlb_init(&tlb);
    set_entry(0x5000, idx9(KVA, 12), 0);
    cr_assert_eq(km_pgwalk_cfg_x86_64(0x2000u, false, &cfg), KM_OK);
    cr_assert_eq(km_pgwalk_translate_cached(&mem, &cfg, &tlb, KVA, &r), KM_ERR_NOT_PRESENT);
    set_entry(0x5000, idx9(KVA, 12), 0x9000u | P);
    cr_assert_eq(km_pgwalk_translate_cached(&mem, &cfg, &tlb, KVA, &r), KM_OK);
    cr_assert_eq(tlb.hits, 0u);
    cr_assert_eq(tlb.misses, 2u);
    /* A different root (another CR3) must not hit the entry. */
    set_entry(0x6000, idx9(KVA, 39), 0x3000u | P);
    cr_assert_eq(km_pgwalk_cfg_x86_64(0x6000u, false, &other), KM_OK);
    cr_assert_eq(km_pgwalk_translate_cached(&mem, &other, &tlb, KVA, &r), KM_OK);
    cr_assert_eq(tlb.hits, 0u);
    cr_assert_eq(tlb.misses, 3u);
    /* Both roots now have the page cached in two ways of one set: alternating
     * between them hits every time, each on its own entry. */
    for (int i = 0; i < 4; i++) {
        cr_assert_eq(km_pgwalk_translate_cached(&mem, &cfg, &tlb, KVA, &r), KM_OK);
        cr_assert_eq(r.pa, 0x9000u + (KVA & 0xfffu));
        cr_assert_eq(km_pgwalk_translate_cached(&mem, &other, &tlb, KVA, &r), KM_OK);
    }
    cr_assert_eq(tlb.hits, 8u);
    cr_assert_eq(tlb.misses, 3u);
}

/* The set function of modules/pgwalk/pgwalk.c (km_tlb_set), restated to build colliding pages. */
static uint32_t tlb_set(uint64_t vpage)
{
    uint64_t folded = (vpage ^ (vpage >> 32)) & 0xffffffffu;
    return (uint32_t)(((folded * 2654435761u) >> 24) % KM_TLB_SETS);
}

Test(pgwalk_cache, four_ways_a_set_and_round_robin_replacement)
{
    km_pgwalk_cfg cfg;
    km_pgwalk_result r;
    static km_tlb tlb;
    x86_map_4k(false);
    /* a 1 GiB page: 2^18 translatable 4K pages, plenty that share a set */
    set_entry(0x3000, idx9(KVA, 30), 0x80000000u | P | PS);
    km_tlb_init(&tlb);
    cr_assert_eq(km_pgwalk_cfg_x86_64(0x2000u, false, &cfg), KM_OK);
    const uint64_t base = KVA & ~0x3fffffffull;
    const uint32_t want = tlb_set(base >> 12);
    uint64_t va[KM_TLB_WAYS + 1u];
    uint32_t n = 0;
    for (uint64_t p = 0; (p < (1u << 18)) && (n < KM_TLB_WAYS + 1u); p++) {
        if (tlb_set((base >> 12) + p) == want) {
            va[n++] = base + (p << 12) + 0x123u;
        }
    }
    cr_assert_eq(n, KM_TLB_WAYS + 1u);
    for (uint32_t i = 0; i < KM_TLB_WAYS; i++) {
        cr_assert_eq(km_pgwalk_translate_cached(&mem, &cfg, &tlb, va[i], &r), KM_OK);
    }
    cr_assert_eq(tlb.misses, KM_TLB_WAYS);
    /* all four stay cached: one set holds four pages */
    for (uint32_t i = 0; i < KM_TLB_WAYS; i++) {
        cr_assert_eq(km_pgwalk_translate_cached(&mem, &cfg, &tlb, va[i], &r), KM_OK);
        cr_assert_eq(r.pa, 0x80000000u + (va[i] & 0x3fffffffu));
        cr_assert_eq(r.page_size, 1u << 30);
        cr_assert_eq(r.level, 3);
    }
    cr_assert_eq(tlb.hits, KM_TLB_WAYS);
    /* a fifth page of the set replaces the oldest (va[0]); the others still hit */
    cr_assert_eq(km_pgwalk_translate_cached(&mem, &cfg, &tlb, va[KM_TLB_WAYS], &r), KM_OK);
    cr_assert_eq(tlb.misses, KM_TLB_WAYS + 1u);
    for (uint32_t i = 1; i <= KM_TLB_WAYS; i++) {
        cr_assert_eq(km_pgwalk_translate_cached(&mem, &cfg, &tlb, va[i], &r), KM_OK);
    }
    cr_assert_eq(tlb.hits, 2u * KM_TLB_WAYS);
    cr_assert_eq(km_pgwalk_translate_cached(&mem, &cfg, &tlb, va[0], &r), KM_OK);
    cr_assert_eq(tlb.misses, KM_TLB_WAYS + 2u, "the evicted page is walked again");
    cr_assert_eq(r.pa, 0x80000000u + (va[0] & 0x3fffffffu));
}

/* Found by fuzz_pgwalk: an output address wider than TCR_EL1.IPS is an Address
 * size fault, not a table to follow or a page to report. */
Test(pgwalk_a64, output_address_beyond_ips_is_a_bad_descriptor)
{
    const uint64_t va = 0xffffff8000123000ull;
    km_pgwalk_cfg cfg;
    km_pgwalk_result r = {.pa = 0xdead};
    km_pgwalk_trace tr;
    ram_at(A64_BASE);
    uint64_t l1 = A64_BASE + 0x1000, l2 = A64_BASE + 0x2000, l3 = A64_BASE + 0x3000;
    set_entry(l1, idx(va, 30, 9), l2 | D_TABLE);
    set_entry(l2, idx(va, 21, 9), l3 | D_TABLE);
    /* IPS = 0b010: 40-bit output; the page at 2^40 + 0x7000 is one bit too wide */
    set_entry(l3, idx(va, 12, 9), ((1ull << 40) + 0x7000) | D_TABLE | D_AF);
    cr_assert_eq(km_pgwalk_cfg_aarch64(l1, tcr(25, 2, 2), &cfg), KM_OK);
    cr_assert_eq(cfg.oa_bits, 40u);
    cr_assert_eq(km_pgwalk_walk(&mem, &cfg, va, &r, &tr), KM_ERR_BAD_DESCRIPTOR);
    cr_assert_eq(tr.fault_level, 3);
    cr_assert_eq(tr.fault_addr, l3 + 8u * idx(va, 12, 9));
    cr_assert_eq(r.pa, 0xdeadu);
    /* the same page with IPS = 0b101 (48 bits) is fine */
    cr_assert_eq(km_pgwalk_cfg_aarch64(l1, tcr(25, 2, 5), &cfg), KM_OK);
    cr_assert_eq(km_pgwalk_walk(&mem, &cfg, va, &r, NULL), KM_OK);
    cr_assert_eq(r.pa, (1ull << 40) + 0x7000);
    /* a table address beyond IPS stops the walk at the entry that holds it (the
     * low 40 bits alone would be the next table, inside RAM) */
    set_entry(l2, idx(va, 21, 9), ((1ull << 41) | l3) | D_TABLE);
    cr_assert_eq(km_pgwalk_cfg_aarch64(l1, tcr(25, 2, 2), &cfg), KM_OK);
    cr_assert_eq(km_pgwalk_walk(&mem, &cfg, va, &r, &tr), KM_ERR_BAD_DESCRIPTOR);
    cr_assert_eq(tr.fault_level, 2);
    cr_assert_eq(tr.n, 2u);
}

/* A TTBR1 table beyond the output address size (IPS) cannot be walked: the
 * configuration is refused, and a refused configuration leaves *out as it was. */
Test(pgwalk_a64, ttbr1_root_beyond_ips_is_refused)
{
    km_pgwalk_cfg cfg;
    memset(&cfg, 0x5a, sizeof(cfg));
    km_pgwalk_cfg before = cfg;
    /* IPS = 0b010: 40 bits; a root at 2^40 is one bit too wide */
    cr_assert_eq(km_pgwalk_cfg_aarch64((1ull << 40) | 0x1000u, tcr(25, 2, 2), &cfg), KM_ERR_BAD_REGISTERS);
    cr_assert_eq(memcmp(&cfg, &before, sizeof(cfg)), 0, "a refused configuration is not written");
    /* just below the limit is accepted */
    cr_assert_eq(km_pgwalk_cfg_aarch64((1ull << 40) - 0x1000u, tcr(25, 2, 2), &cfg), KM_OK);
    cr_assert_eq(cfg.root_pa, (1ull << 40) - 0x1000u);
    /* 48 bits (IPS = 0b101) takes the same root */
    cr_assert_eq(km_pgwalk_cfg_aarch64((1ull << 40) | 0x1000u, tcr(25, 2, 5), &cfg), KM_OK);
}

/* The precomputed step fields the walker indexes and aligns with: entries is
 * 1 << idx_bits and size 1 << va_shift for every used step of every
 * configuration (the WP proof assumes powers of two; this pins the values). */
Test(pgwalk_cfg, step_sizes_are_the_powers_of_two_of_their_shifts)
{
    km_pgwalk_cfg cfg;
    const struct { unsigned t1sz, tg1; } a64[] = {
        {25, 2}, {16, 2}, {34, 2}, {17, 1}, {16, 1}, {28, 1}, {22, 3}, {16, 3}, {12, 3}, {39, 3},
    };
    for (int la57 = 0; la57 < 2; la57++) {
        cr_assert_eq(km_pgwalk_cfg_x86_64(0x1000u, la57 != 0, &cfg), KM_OK);
        cr_assert_eq(cfg.page_size, 4096u);
        for (uint32_t s = 0; s < cfg.levels; s++) {
            cr_assert_eq(cfg.steps[s].entries, 1u << cfg.steps[s].idx_bits);
            cr_assert_eq(cfg.steps[s].size, 1ull << cfg.steps[s].va_shift);
        }
    }
    for (size_t i = 0; i < sizeof(a64) / sizeof(a64[0]); i++) {
        cr_assert_eq(km_pgwalk_cfg_aarch64(A64_BASE + 0x10000u, tcr(a64[i].t1sz, a64[i].tg1, 6), &cfg), KM_OK,
                     "T1SZ %u TG1 %u", a64[i].t1sz, a64[i].tg1);
        cr_assert_eq(cfg.page_size, 1ull << cfg.page_shift);
        uint32_t covered = cfg.page_shift;
        for (uint32_t s = 0; s < cfg.levels; s++) {
            cr_assert_eq(cfg.steps[s].entries, 1u << cfg.steps[s].idx_bits);
            cr_assert_eq(cfg.steps[s].size, 1ull << cfg.steps[s].va_shift);
            covered += cfg.steps[s].idx_bits;
        }
        cr_assert_eq(covered, 64u - a64[i].t1sz, "the levels index exactly the VA bits");
    }
}
