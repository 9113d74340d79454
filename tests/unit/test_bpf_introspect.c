/* Unit tests: modules/bpf_introspect over a hand-built fake kernel.
 *
 * Guest RAM is a buffer; the guest kernel is "ready" with a direct map, a
 * kernel image (KASLR-shifted) and a page-walked vmalloc area with a hole.
 * Kernel objects are laid out with the structs of tests/fixtures/bpf/kbpf.h,
 * and the offsets the module uses come from that fixture's BTF. */
#include <criterion/criterion.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "ktmon/bpf_introspect.h"
#include "tests/fixtures/bpf/bpf_fixture.h"
#include "tests/fixtures/bpf/kbpf.h"
#include "tests/fixtures/ksym_btf/fixtures.h"

#define RAM_SIZE (32u << 20)
#define PO 0xffff888000000000ull          /* direct map */
#define LINK_TEXT 0xffffffff81000000ull
#define KASLR 0x2e00000ull
#define TEXT_PA 0x1000000ull              /* image: 16 MiB at PA 16 MiB */
#define VMALLOC 0xffffc90000000000ull     /* 8 pages at PA 0x800000.., page 4 unmapped */
#define VM_PA 0x800000ull
#define PGD_PA 0x10000ull
#define LINK_MAP_IDR (LINK_TEXT + 0x200000ull)
#define LINK_PROG_IDR (LINK_TEXT + 0x200100ull)
#define LINK_STATS_KEY (LINK_TEXT + 0x200200ull)
#define NCPU 2u

static uint8_t *ram;
static km_mem mem;
static km_guest_kernel gk;
static km_btf btf;
static km_ksym ks;
static km_bpf_offsets off;
static uint64_t bump; /* next free PA of the object heap */
static const uint64_t pcpu_off[NCPU] = {0x300000ull, 0x340000ull}; /* per-CPU areas: PO + 0x300000 + ... */

static void *at(uint64_t pa) { return ram + pa; }
static uint64_t dm(uint64_t pa) { return PO + pa; }
static void w64(uint64_t pa, uint64_t v) { memcpy(at(pa), &v, 8); }
static void w32(uint64_t pa, uint32_t v) { memcpy(at(pa), &v, 4); }

static uint64_t alloc(uint64_t size)
{
    uint64_t pa = bump;
    bump = (bump + size + 63u) & ~63ull;
    cr_assert_lt(bump, 0x800000ull, "fake heap exhausted");
    return pa;
}

static uint64_t image_pa(uint64_t link) { return TEXT_PA + (link - LINK_TEXT); }

static void map_vmalloc_page(unsigned i)
{
    uint64_t va = VMALLOC + (uint64_t)i * 4096u;
    uint64_t pud = 0x11000, pmd = 0x12000, pt = 0x13000;
    w64(PGD_PA + 8 * ((va >> 39) & 511), pud | 3);
    w64(pud + 8 * ((va >> 30) & 511), pmd | 3);
    w64(pmd + 8 * ((va >> 21) & 511), pt | 3);
    w64(pt + 8 * ((va >> 12) & 511), (VM_PA + (uint64_t)i * 4096u) | 3);
}

static void fake_kernel(void)
{
    ram = aligned_alloc(4096, RAM_SIZE);
    cr_assert_not_null(ram);
    memset(ram, 0, RAM_SIZE);
    km_mem_init(&mem);
    cr_assert_eq(km_mem_add_region(&mem, 0, RAM_SIZE, ram, true), KM_OK);
    km_gk_symbols sym;
    memset(&sym, 0, sizeof(sym));
    sym.arch = KM_ARCH_X86_64;
    km_gk_init(&gk, &mem, &sym);
    /* what a handshake would have found */
    gk.ready = true;
    gk.kaslr = KASLR;
    gk.text_kva = LINK_TEXT + KASLR;
    gk.text_pa = TEXT_PA;
    gk.text_end_kva = gk.text_kva + (16u << 20);
    gk.page_offset = PO;
    gk.direct_pa_base = 0;
    cr_assert_eq(km_pgwalk_cfg_x86_64(PGD_PA, false, &gk.cfg), KM_OK);
    for (unsigned i = 0; i < 8; i++) {
        if (i != 4) {
            map_vmalloc_page(i);
        }
    }
    gk.percpu_ready = true;
    gk.ncpus = NCPU;
    gk.percpu[0] = pcpu_off[0];
    gk.percpu[1] = pcpu_off[1];
    bump = 0x100000;

    km_btf_init(&btf);
    km_btf_error be;
    cr_assert_eq(km_btf_load_buffer(&btf, fx_bpf_btf, sizeof(fx_bpf_btf), NULL, &be), KM_OK);
    static const char map[] = "ffffffff81200000 D map_idr\n"
                              "ffffffff81200100 D prog_idr\n"
                              "ffffffff81200200 D bpf_stats_enabled_key\n";
    km_ksym_init(&ks);
    cr_assert_eq(km_ksym_load_system_map_buffer(&ks, map, strlen(map), NULL), KM_OK);
    km_bpf_error e;
    cr_assert_eq(km_bpf_offsets_init(&btf, &ks, &off, &e), KM_OK, "reason %s (%s)", km_bpf_reason_name(e.reason),
                 e.what ? e.what : "-");
}

static void fake_fini(void)
{
    km_btf_fini(&btf);
    km_ksym_fini(&ks);
    free(ram);
    ram = NULL;
}

TestSuite(bpf, .init = fake_kernel, .fini = fake_fini);

/* ------------------------------------------------------------------ xarray building */

static uint64_t node_new(unsigned shift)
{
    uint64_t pa = alloc(sizeof(struct xa_node));
    struct xa_node *n = at(pa);
    n->shift = (unsigned char)shift;
    return pa;
}

static uint64_t node_entry(uint64_t pa) { return dm(pa) | 2u; }

static void slot_set(uint64_t node_pa, unsigned slot, uint64_t e)
{
    w64(node_pa + offsetof(struct xa_node, slots) + 8u * slot, e);
}

static uint64_t obj(void) { return dm(alloc(64)); } /* some pointer-looking leaf */

static km_status load(uint64_t head, uint64_t index, uint64_t *entry, km_bpf_error *e)
{
    return km_bpf_xa_load(&gk, &off, head, index, entry, e);
}

/* ------------------------------------------------------------------ pure parts */

Test(bpf, entry_classification)
{
    cr_assert_eq(km_bpf_xa_classify(0), KM_BPF_XA_EMPTY);
    cr_assert_eq(km_bpf_xa_classify(0x1002), KM_BPF_XA_NODE);
    cr_assert_eq(km_bpf_xa_classify(dm(0x5000) | 2), KM_BPF_XA_NODE);
    cr_assert_eq(km_bpf_xa_classify(4098), KM_BPF_XA_NODE);          /* > 4096, (e & 3) == 2 */
    cr_assert_eq(km_bpf_xa_classify(4094), KM_BPF_XA_LEAF);          /* internal but small */
    cr_assert_eq(km_bpf_xa_classify(0x402), KM_BPF_XA_LEAF);         /* XA_RETRY_ENTRY */
    cr_assert_eq(km_bpf_xa_classify(0x406), KM_BPF_XA_LEAF);         /* XA_ZERO_ENTRY */
    cr_assert_eq(km_bpf_xa_classify(dm(0x5000)), KM_BPF_XA_LEAF);    /* pointer */
    cr_assert_eq(km_bpf_xa_classify((42u << 1) | 1u), KM_BPF_XA_LEAF); /* xa_mk_value(42) */
    cr_assert_eq(km_bpf_xa_classify(dm(0x5000) | 3), KM_BPF_XA_LEAF);
    cr_assert(km_bpf_xa_is_pointer(dm(0x5000)));
    cr_assert(!km_bpf_xa_is_pointer(0x406));
    cr_assert(!km_bpf_xa_is_pointer(0x55));
    cr_assert(!km_bpf_xa_is_pointer(0));
    cr_assert_eq(km_bpf_xa_node_kva(dm(0x5000) | 2), dm(0x5000));
}

Test(bpf, shift_rules_and_slot_arithmetic)
{
    for (uint32_t s = 0; s < 300; s++) {
        cr_assert_eq(km_bpf_xa_shift_ok(s), s < 64 && s % 6 == 0, "shift %u", s);
    }
    cr_assert(km_bpf_xa_shift_ok(0) && km_bpf_xa_shift_ok(6) && km_bpf_xa_shift_ok(12) && km_bpf_xa_shift_ok(60));
    cr_assert(!km_bpf_xa_shift_ok(255) && !km_bpf_xa_shift_ok(7) && !km_bpf_xa_shift_ok(66));
    cr_assert_eq(km_bpf_xa_slot(0x12345, 0), 0x05u);
    cr_assert_eq(km_bpf_xa_slot(0x12345, 6), (0x12345u >> 6) & 63u);
    cr_assert_eq(km_bpf_xa_slot(0x12345, 12), (0x12345u >> 12) & 63u);
    cr_assert_eq(km_bpf_xa_slot(UINT64_MAX, 60), 15u);
    cr_assert(km_bpf_xa_in_range(63, 0) && !km_bpf_xa_in_range(64, 0));
    cr_assert(km_bpf_xa_in_range(4095, 6) && !km_bpf_xa_in_range(4096, 6));
    cr_assert(km_bpf_xa_in_range(UINT64_MAX, 60) && km_bpf_xa_in_range(UINT64_MAX, 58));
    uint64_t v = 7;
    cr_assert_eq(km_bpf_xa_slot_index(0, 15, 60, &v), KM_OK);
    cr_assert_eq(v, 15ull << 60);
    v = 7;
    cr_assert_eq(km_bpf_xa_slot_index(0, 16, 60, &v), KM_ERR_OVERFLOW);
    cr_assert_eq(v, 7u);
    cr_assert_eq(km_bpf_xa_slot_index(4096 * 3, 5, 6, &v), KM_OK);
    cr_assert_eq(v, 4096u * 3 + 5 * 64);
    cr_assert_eq(km_bpf_xa_slot_index(UINT64_MAX - 10, 1, 6, &v), KM_ERR_OVERFLOW);
}

Test(bpf, array_element_bounds)
{
    uint64_t kva = 1;
    /* value_size 12: elements 16 bytes apart */
    cr_assert_eq(km_bpf_elem_kva(0x1000, 3, 4, 12, 4, 8, &kva), KM_OK);
    cr_assert_eq(kva, 0x1000u + 3 * 16 + 4);
    kva = 1;
    cr_assert_eq(km_bpf_elem_kva(0x1000, 4, 4, 12, 0, 1, &kva), KM_ERR_RANGE);
    cr_assert_eq(km_bpf_elem_kva(0x1000, 0, 4, 12, 4, 9, &kva), KM_ERR_INVALID_ARG);  /* off + len > size */
    cr_assert_eq(km_bpf_elem_kva(0x1000, 0, 4, 12, 12, 1, &kva), KM_ERR_INVALID_ARG);
    cr_assert_eq(km_bpf_elem_kva(0x1000, 0, 4, 12, 0, 0, &kva), KM_ERR_INVALID_ARG);  /* len 0 */
    cr_assert_eq(km_bpf_elem_kva(0x1000, 0, 4, UINT32_MAX, UINT32_MAX, 1, &kva), KM_ERR_INVALID_ARG);
    cr_assert_eq(kva, 1u);
    /* the largest key and value size cannot overflow the product, only the address */
    cr_assert_eq(km_bpf_elem_kva(PO, UINT32_MAX - 1, UINT32_MAX, UINT32_MAX, 0, 1, &kva), KM_ERR_OVERFLOW);
    cr_assert_eq(km_bpf_elem_kva(0, UINT32_MAX - 1, UINT32_MAX, UINT32_MAX, 0, 1, &kva), KM_OK);
    cr_assert_eq(kva, (uint64_t)(UINT32_MAX - 1) * (1ull << 32));
}

/* ------------------------------------------------------------------ xa_load */

Test(bpf, xa_load_empty_and_single_entry)
{
    uint64_t e = 99;
    cr_assert_eq(load(0, 0, &e, NULL), KM_OK);
    cr_assert_eq(e, 0u);
    cr_assert_eq(load(0, 12345, &e, NULL), KM_OK);
    cr_assert_eq(e, 0u);
    uint64_t p = obj();
    cr_assert_eq(load(p, 0, &e, NULL), KM_OK);
    cr_assert_eq(e, p);
    cr_assert_eq(load(p, 1, &e, NULL), KM_OK);
    cr_assert_eq(e, 0u, "a non-node head holds index 0 only");
    /* a value entry at the root (xa_mk_value(21)) and a small internal entry are leaves too */
    cr_assert_eq(load(0x2b, 0, &e, NULL), KM_OK);
    cr_assert_eq(e, 0x2bu);
    cr_assert_eq(load(0x406, 0, &e, NULL), KM_OK);
    cr_assert_eq(e, 0x406u);
}

Test(bpf, xa_load_leaves_of_one_node)
{
    uint64_t n = node_new(0);
    uint64_t p[64];
    for (unsigned i = 0; i < 64; i++) {
        p[i] = (i % 3 == 0) ? obj() : 0;
        slot_set(n, i, p[i]);
    }
    for (unsigned i = 0; i < 64; i++) {
        uint64_t e = 1;
        cr_assert_eq(load(node_entry(n), i, &e, NULL), KM_OK);
        cr_assert_eq(e, p[i], "index %u", i);
    }
    uint64_t e = 1;
    slot_set(n, 0, p[0]);
    cr_assert_eq(load(node_entry(n), 64, &e, NULL), KM_OK);
    cr_assert_eq(e, 0u, "beyond the root's range is absent, not slot 0 again");
    cr_assert_eq(load(node_entry(n), 1u << 20, &e, NULL), KM_OK);
    cr_assert_eq(e, 0u);
}

Test(bpf, xa_load_multi_level)
{
    uint64_t root = node_new(12), mid = node_new(6), leaf = node_new(0);
    slot_set(root, 2, node_entry(mid));
    slot_set(mid, 9, node_entry(leaf));
    uint64_t p = obj(), q = obj();
    slot_set(leaf, 33, p);
    slot_set(leaf, 63, q);
    uint64_t e = 0;
    cr_assert_eq(load(node_entry(root), (2u << 12) | (9u << 6) | 33u, &e, NULL), KM_OK);
    cr_assert_eq(e, p);
    cr_assert_eq(load(node_entry(root), (2u << 12) | (9u << 6) | 63u, &e, NULL), KM_OK);
    cr_assert_eq(e, q);
    cr_assert_eq(load(node_entry(root), (2u << 12) | (8u << 6) | 33u, &e, NULL), KM_OK);
    cr_assert_eq(e, 0u);
    cr_assert_eq(load(node_entry(root), (3u << 12) | (9u << 6) | 33u, &e, NULL), KM_OK);
    cr_assert_eq(e, 0u);
    /* a leaf directly in an upper node (the kernel's multi-index entries look like this) */
    slot_set(root, 5, p);
    cr_assert_eq(load(node_entry(root), (5u << 12) | 7u, &e, NULL), KM_OK);
    cr_assert_eq(e, p);
}

Test(bpf, xa_load_shifts_0_6_12_accepted_255_and_others_refused)
{
    const unsigned good[] = {0, 6, 12};
    for (unsigned g = 0; g < 3; g++) {
        uint64_t n = node_new(good[g]);
        uint64_t p = obj();
        slot_set(n, 1, p);
        uint64_t e = 0;
        cr_assert_eq(load(node_entry(n), 1ull << good[g], &e, NULL), KM_OK, "shift %u", good[g]);
        cr_assert_eq(e, p);
    }
    const unsigned bad[] = {255, 7, 1, 63, 64, 66, 72};
    for (unsigned b = 0; b < sizeof(bad) / sizeof(bad[0]); b++) {
        uint64_t n = node_new(bad[b]);
        slot_set(n, 1, obj());
        uint64_t e = 77;
        km_bpf_error err;
        cr_assert_eq(load(node_entry(n), 1, &e, &err), KM_ERR_BAD_DATA, "shift %u", bad[b]);
        cr_assert_eq(err.reason, KM_BPF_R_XA_SHIFT);
        cr_assert_eq(err.value, bad[b]);
        cr_assert_eq(err.addr, dm(n));
        cr_assert_eq(e, 77u, "output untouched on failure");
    }
}

Test(bpf, xa_load_hostile_children)
{
    km_bpf_error err;
    uint64_t e = 5;
    /* a node that points to itself: refused on the first descent, no loop */
    uint64_t self = node_new(6);
    slot_set(self, 0, node_entry(self));
    cr_assert_eq(load(node_entry(self), 0, &e, &err), KM_ERR_BAD_DATA);
    cr_assert_eq(err.reason, KM_BPF_R_XA_CHILD);
    /* a shift-0 node pointing to itself: a node below the last level */
    uint64_t self0 = node_new(0);
    slot_set(self0, 3, node_entry(self0));
    cr_assert_eq(load(node_entry(self0), 3, &e, &err), KM_ERR_BAD_DATA);
    cr_assert_eq(err.reason, KM_BPF_R_XA_CHILD);
    /* a child whose shift does not follow its parent's */
    uint64_t a = node_new(12), b = node_new(0);
    slot_set(a, 0, node_entry(b));
    cr_assert_eq(load(node_entry(a), 0, &e, &err), KM_ERR_BAD_DATA);
    cr_assert_eq(err.reason, KM_BPF_R_XA_CHILD);
    cr_assert_eq(err.depth, 1u);
    /* a two-node cycle */
    uint64_t c = node_new(6), d = node_new(6);
    slot_set(c, 0, node_entry(d));
    slot_set(d, 0, node_entry(c));
    cr_assert_eq(load(node_entry(c), 0, &e, &err), KM_ERR_BAD_DATA);
    /* misaligned node */
    uint64_t m = node_new(0);
    cr_assert_eq(load(dm(m + 4) | 2, 0, &e, &err), KM_ERR_BAD_DATA);
    cr_assert_eq(err.reason, KM_BPF_R_XA_ALIGN);
    /* a node in the unmapped vmalloc page, and one past the end of RAM */
    cr_assert_eq(load((VMALLOC + 4 * 4096 + 64) | 2, 0, &e, &err), KM_ERR_UNMAPPED);
    cr_assert_eq(err.reason, KM_BPF_R_READ);
    cr_assert_eq(load(dm(RAM_SIZE + 0x1000) | 2, 0, &e, &err), KM_ERR_UNMAPPED);
    /* a node near the top of the address space: the slot address would wrap */
    cr_assert_neq(load(0xfffffffffffffff2ull, 0, &e, &err), KM_OK);
    cr_assert_eq(e, 5u);
}

Test(bpf, xa_load_deepest_tree_reads_eleven_levels)
{
    uint64_t idx = 0x0123456789abcdefull & ~(0xfull << 60);
    idx |= 7ull << 60;
    uint64_t nodes[11];
    for (int l = 10; l >= 0; l--) {
        nodes[l] = node_new((unsigned)(6 * l));
    }
    for (int l = 10; l >= 1; l--) {
        slot_set(nodes[l], km_bpf_xa_slot(idx, (uint32_t)(6 * l)), node_entry(nodes[l - 1]));
    }
    uint64_t p = obj();
    slot_set(nodes[0], km_bpf_xa_slot(idx, 0), p);
    uint64_t e = 0;
    cr_assert_eq(load(node_entry(nodes[10]), idx, &e, NULL), KM_OK);
    cr_assert_eq(e, p);
    cr_assert_eq(load(node_entry(nodes[10]), idx ^ 1, &e, NULL), KM_OK);
    cr_assert_eq(e, 0u);
}

Test(bpf, xa_load_refuses_bad_arguments)
{
    uint64_t e = 3;
    km_bpf_error err;
    km_bpf_offsets none;
    memset(&none, 0, sizeof(none));
    cr_assert_eq(km_bpf_xa_load(&gk, &none, 0, 0, &e, &err), KM_ERR_INVALID_ARG);
    cr_assert_eq(km_bpf_xa_load(NULL, &off, 0, 0, &e, &err), KM_ERR_INVALID_ARG);
    cr_assert_eq(km_bpf_xa_load(&gk, &off, 0, 0, NULL, &err), KM_ERR_INVALID_ARG);
    cr_assert_eq(e, 3u);
}

/* ------------------------------------------------------------------ iterator */

static unsigned iterate(uint64_t head, uint64_t *idx, uint64_t *ent, unsigned cap, km_status *last, km_bpf_error *err)
{
    km_bpf_xa_iter it;
    km_bpf_xa_iter_init(&it, head);
    unsigned n = 0;
    for (;;) {
        uint64_t i = 0, e = 0;
        bool has = false;
        *last = km_bpf_xa_next(&gk, &off, &it, &i, &e, &has, err);
        if (*last != KM_OK || !has) {
            break;
        }
        if (n < cap) {
            idx[n] = i;
            ent[n] = e;
        }
        n++;
    }
    return n;
}

Test(bpf, iterator_visits_every_present_index_in_order)
{
    uint64_t root = node_new(12), mid = node_new(6), leaf = node_new(0), leaf2 = node_new(0);
    slot_set(root, 0, node_entry(mid));
    slot_set(root, 3, obj()); /* leaf in the root: index 3 << 12 */
    slot_set(mid, 0, node_entry(leaf));
    slot_set(mid, 63, node_entry(leaf2));
    const unsigned in_leaf[] = {0, 1, 17, 63};
    for (unsigned i = 0; i < 4; i++) {
        slot_set(leaf, in_leaf[i], obj());
    }
    slot_set(leaf2, 5, 0x406); /* XA_ZERO_ENTRY: present as a leaf */
    uint64_t idx[16], ent[16];
    km_status st;
    unsigned n = iterate(node_entry(root), idx, ent, 16, &st, NULL);
    cr_assert_eq(st, KM_OK);
    cr_assert_eq(n, 6u);
    const uint64_t want[] = {0, 1, 17, 63, (63u << 6) | 5u, 3u << 12};
    for (unsigned i = 0; i < 6; i++) {
        cr_assert_eq(idx[i], want[i], "entry %u", i);
    }
    cr_assert_eq(ent[4], 0x406u);
    /* empty and single-entry heads */
    cr_assert_eq(iterate(0, idx, ent, 16, &st, NULL), 0u);
    cr_assert_eq(st, KM_OK);
    uint64_t p = obj();
    cr_assert_eq(iterate(p, idx, ent, 16, &st, NULL), 1u);
    cr_assert_eq(idx[0], 0u);
    cr_assert_eq(ent[0], p);
}

Test(bpf, iterator_node_bound_stops_a_shared_subtree_blowup)
{
    /* three nodes, but every slot of the root and of the middle node points
     * to the same child: 1 + 64 + 64*64 = 4161 node visits > 4096 */
    uint64_t root = node_new(12), mid = node_new(6), leaf = node_new(0);
    for (unsigned i = 0; i < 64; i++) {
        slot_set(root, i, node_entry(mid));
        slot_set(mid, i, node_entry(leaf));
    }
    slot_set(leaf, 0, obj());
    uint64_t idx[1], ent[1];
    km_status st;
    km_bpf_error err;
    unsigned n = iterate(node_entry(root), idx, ent, 1, &st, &err);
    cr_assert_eq(st, KM_ERR_CAPACITY);
    cr_assert_eq(err.reason, KM_BPF_R_XA_NODES);
    cr_assert_lt(n, KM_BPF_XA_MAX_NODES);
    cr_assert_gt(n, 4000u);
}

Test(bpf, iterator_refuses_cycles_bad_shifts_and_impossible_indices)
{
    uint64_t idx[4], ent[4];
    km_status st;
    km_bpf_error err;
    uint64_t self = node_new(6);
    slot_set(self, 10, node_entry(self));
    iterate(node_entry(self), idx, ent, 4, &st, &err);
    cr_assert_eq(st, KM_ERR_BAD_DATA);
    cr_assert_eq(err.reason, KM_BPF_R_XA_CHILD);
    uint64_t bad = node_new(255);
    iterate(node_entry(bad), idx, ent, 4, &st, &err);
    cr_assert_eq(st, KM_ERR_BAD_DATA);
    cr_assert_eq(err.reason, KM_BPF_R_XA_SHIFT);
    /* slot 16 of a shift-60 root stands for index 2^64 */
    uint64_t top = node_new(60);
    slot_set(top, 15, obj());
    slot_set(top, 16, obj());
    unsigned n = iterate(node_entry(top), idx, ent, 4, &st, &err);
    cr_assert_eq(n, 1u);
    cr_assert_eq(idx[0], 15ull << 60);
    cr_assert_eq(st, KM_ERR_BAD_DATA);
    cr_assert_eq(err.reason, KM_BPF_R_XA_INDEX);
    /* a failed iterator stays failed */
    km_bpf_xa_iter it;
    km_bpf_xa_iter_init(&it, node_entry(bad));
    uint64_t i = 0, e = 0;
    bool has = true;
    cr_assert_eq(km_bpf_xa_next(&gk, &off, &it, &i, &e, &has, NULL), KM_ERR_BAD_DATA);
    cr_assert_eq(km_bpf_xa_next(&gk, &off, &it, &i, &e, &has, NULL), KM_ERR_STATE);
    cr_assert(has, "outputs untouched on failure");
}

/* ------------------------------------------------------------------ offsets from BTF */

Test(bpf, offsets_come_from_btf)
{
    cr_assert(off.ready);
    cr_assert_eq(off.idr_rt, offsetof(struct idr, idr_rt));
    cr_assert_eq(off.idr_base, offsetof(struct idr, idr_base));
    cr_assert_eq(off.idr_next, offsetof(struct idr, idr_next));
    cr_assert_eq(off.xa_head, offsetof(struct xarray, xa_head));
    cr_assert_eq(off.xa_node_shift, offsetof(struct xa_node, shift));
    cr_assert_eq(off.xa_node_slots, offsetof(struct xa_node, slots));
    cr_assert_eq(off.map_name, offsetof(struct bpf_map, name));
    cr_assert_eq(off.map_type, offsetof(struct bpf_map, map_type));
    cr_assert_eq(off.map_flags, offsetof(struct bpf_map, map_flags));
    cr_assert_eq(off.map_key_size, offsetof(struct bpf_map, key_size));
    cr_assert_eq(off.map_value_size, offsetof(struct bpf_map, value_size));
    cr_assert_eq(off.map_max_entries, offsetof(struct bpf_map, max_entries));
    cr_assert_eq(off.map_id, offsetof(struct bpf_map, id));
    cr_assert_eq(off.array_value, offsetof(struct bpf_array, value));
    cr_assert_eq(off.array_pptrs, offsetof(struct bpf_array, pptrs));
    cr_assert_eq(off.st_map_kvalue, offsetof(struct bpf_struct_ops_map, kvalue));
    cr_assert_eq(off.st_value_data, offsetof(struct bpf_struct_ops_value, data));
    cr_assert_eq(off.prog_type, offsetof(struct bpf_prog, type));
    cr_assert_eq(off.prog_aux, offsetof(struct bpf_prog, aux));
    cr_assert_eq(off.prog_stats, offsetof(struct bpf_prog, stats));
    cr_assert_eq(off.aux_id, offsetof(struct bpf_prog_aux, id));
    cr_assert_eq(off.aux_name, offsetof(struct bpf_prog_aux, name));
    cr_assert_eq(off.aux_verified_insns, offsetof(struct bpf_prog_aux, verified_insns));
    cr_assert_eq(off.stats_cnt, offsetof(struct bpf_prog_stats, cnt));
    cr_assert_eq(off.stats_nsecs, offsetof(struct bpf_prog_stats, nsecs));
    cr_assert(off.have_idr_next && off.have_struct_ops_map && off.have_stats_key);
    /* the fixture numbers its enums unlike the real kernel: the values must be these */
    cr_assert_eq(off.map_type_array, BPF_MAP_TYPE_ARRAY);
    cr_assert_eq(off.map_type_percpu_array, BPF_MAP_TYPE_PERCPU_ARRAY);
    cr_assert_eq(off.map_type_struct_ops, BPF_MAP_TYPE_STRUCT_OPS);
    cr_assert_eq(off.prog_type_struct_ops, BPF_PROG_TYPE_STRUCT_OPS);
    cr_assert_eq(off.map_idr_link, LINK_MAP_IDR);
    cr_assert_eq(off.prog_idr_link, LINK_PROG_IDR);
    cr_assert_str_eq(km_bpf_map_type_name(&off, BPF_MAP_TYPE_ARRAY), "array");
    cr_assert_str_eq(km_bpf_map_type_name(&off, BPF_MAP_TYPE_STRUCT_OPS), "struct_ops");
    cr_assert_str_eq(km_bpf_map_type_name(&off, BPF_MAP_TYPE_RINGBUF), "ringbuf");
    cr_assert_null(km_bpf_map_type_name(&off, 2), "2 is the real kernel's ARRAY, not this BTF's");
    cr_assert_str_eq(km_bpf_prog_type_name(&off, BPF_PROG_TYPE_STRUCT_OPS), "struct_ops");
    cr_assert_str_eq(km_bpf_prog_type_name(&off, BPF_PROG_TYPE_KPROBE), "kprobe");
    cr_assert_null(km_bpf_prog_type_name(&off, 27));
}

Test(bpf, offsets_init_says_what_is_missing)
{
    km_bpf_offsets o;
    memset(&o, 0xa5, sizeof(o));
    km_bpf_error e;
    /* a BTF without the BPF structs */
    km_btf other;
    km_btf_init(&other);
    cr_assert_eq(km_btf_load_buffer(&other, fx_base_btf, sizeof(fx_base_btf), NULL, NULL), KM_OK);
    cr_assert_eq(km_bpf_offsets_init(&other, &ks, &o, &e), KM_ERR_NO_TYPE);
    cr_assert_eq(e.reason, KM_BPF_R_BTF);
    cr_assert_str_eq(e.what, "idr.idr_rt");
    cr_assert_eq(((uint8_t *)&o)[0], 0xa5, "output untouched on failure");
    km_btf_fini(&other);
    /* symbols without prog_idr */
    km_ksym k2;
    km_ksym_init(&k2);
    static const char map[] = "ffffffff81200000 D map_idr\n";
    cr_assert_eq(km_ksym_load_system_map_buffer(&k2, map, strlen(map), NULL), KM_OK);
    cr_assert_eq(km_bpf_offsets_init(&btf, &k2, &o, &e), KM_ERR_NO_SYMBOL);
    cr_assert_eq(e.reason, KM_BPF_R_SYMBOL);
    cr_assert_str_eq(e.what, "prog_idr");
    km_ksym_fini(&k2);
    cr_assert_eq(km_bpf_offsets_init(NULL, &ks, &o, &e), KM_ERR_INVALID_ARG);
}

/* ------------------------------------------------------------------ a fake kernel's maps and programs */

static void idr_set(uint64_t link, unsigned base, unsigned next, uint64_t head)
{
    uint64_t pa = image_pa(link);
    w64(pa + offsetof(struct idr, idr_rt) + offsetof(struct xarray, xa_head), head);
    w32(pa + offsetof(struct idr, idr_base), base);
    w32(pa + offsetof(struct idr, idr_next), next);
}

static void map_fill(struct bpf_map *m, enum bpf_map_type type, const char *name, u32 id, u32 key, u32 value,
                     u32 max, u32 flags)
{
    m->map_type = type;
    m->id = id;
    m->key_size = key;
    m->value_size = value;
    m->max_entries = max;
    m->map_flags = flags;
    memset(m->name, 0, sizeof(m->name));
    memcpy(m->name, name, strnlen(name, sizeof(m->name)));
}

typedef struct {
    uint64_t array_kva, percpu_kva, hash_kva, st_kva, vm_array_kva;
    uint64_t pcpu_elem[2]; /* per-CPU pointers of PERCPU_ARRAY keys 0 and 1 */
} fake_maps;

/* map_idr: id 1 ARRAY "kt.bss", 2 PERCPU_ARRAY "pcpu", 3 reserved (XA_ZERO_ENTRY), 5 HASH
 * (16-char name, no NUL), 9 ARRAY in vmalloc "vm.data", 70 STRUCT_OPS "ktsched_ops" */
static fake_maps build_maps(void)
{
    fake_maps f;
    /* ARRAY: value_size 12 -> stride 16, 3 elements */
    uint64_t a = alloc(sizeof(struct bpf_array) + 64);
    map_fill(at(a), BPF_MAP_TYPE_ARRAY, "kt.bss", 1, 4, 12, 3, 0x400);
    for (unsigned k = 0; k < 3; k++) {
        for (unsigned b = 0; b < 12; b++) {
            ((uint8_t *)at(a + offsetof(struct bpf_array, value) + 16 * k))[b] = (uint8_t)(0x10 * k + b);
        }
    }
    f.array_kva = dm(a);
    /* PERCPU_ARRAY: 2 keys of 8 bytes; per-CPU copies in the direct map */
    uint64_t pc = alloc(sizeof(struct bpf_array) + 16);
    map_fill(at(pc), BPF_MAP_TYPE_PERCPU_ARRAY, "pcpu", 2, 4, 8, 2, 0);
    for (unsigned k = 0; k < 2; k++) {
        uint64_t unit = 0x1000u + 0x40u * k; /* the per-CPU "address" (an offset into each CPU's area) */
        f.pcpu_elem[k] = dm(unit);
        w64(pc + offsetof(struct bpf_array, pptrs) + 8 * k, dm(unit));
        for (unsigned c = 0; c < NCPU; c++) {
            w64(unit + pcpu_off[c], 0x1111111100000000ull * (c + 1) + k);
        }
    }
    f.percpu_kva = dm(pc);
    uint64_t h = alloc(sizeof(struct bpf_map));
    map_fill(at(h), BPF_MAP_TYPE_HASH, "abcdefghijklmnopqrs", 5, 8, 8, 128, 1);
    f.hash_kva = dm(h);
    /* an ARRAY whose 3 x 4000-byte values straddle vmalloc pages 0..2 (page 4 is the hole) */
    uint64_t vstart = VMALLOC + 4096 + 8 - offsetof(struct bpf_array, value);
    struct bpf_array va;
    memset(&va, 0, sizeof(va));
    map_fill(&va.map, BPF_MAP_TYPE_ARRAY, "vm.data", 9, 4, 4000, 5, 0);
    for (unsigned i = 0; i < 4 * 4096; i++) {
        ((uint8_t *)at(VM_PA + 4096))[i] = (uint8_t)(i * 7);
    }
    memcpy(at(VM_PA + (vstart - VMALLOC)), &va, offsetof(struct bpf_array, value));
    f.vm_array_kva = vstart;
    /* STRUCT_OPS */
    uint64_t s = alloc(sizeof(struct bpf_struct_ops_map) + 64);
    struct bpf_struct_ops_map *sm = at(s);
    map_fill(&sm->map, BPF_MAP_TYPE_STRUCT_OPS, "ktsched_ops", 70, 4, sizeof(struct bpf_struct_ops_value) + 32, 1,
             0);
    memcpy(sm->kvalue.data, "ktsched", 8);
    f.st_kva = dm(s);

    uint64_t root = node_new(6), low = node_new(0), high = node_new(0);
    slot_set(root, 0, node_entry(low));
    slot_set(root, 1, node_entry(high));
    slot_set(low, 1, f.array_kva);
    slot_set(low, 2, f.percpu_kva);
    slot_set(low, 3, 0x406);
    slot_set(low, 5, f.hash_kva);
    slot_set(low, 9, f.vm_array_kva);
    slot_set(high, 70 - 64, f.st_kva);
    idr_set(LINK_MAP_IDR, 0, 71, node_entry(root));
    return f;
}

Test(bpf, maps_are_listed_with_their_fields)
{
    fake_maps f = build_maps();
    km_bpf_idr_iter it;
    km_bpf_error e;
    cr_assert_eq(km_bpf_maps_begin(&gk, &off, &it, &e), KM_OK);
    cr_assert_eq(it.next_id, 71u);
    km_bpf_map_info m[8];
    unsigned n = 0;
    bool has = true;
    while (has) {
        cr_assert_eq(km_bpf_maps_next(&gk, &off, &it, &m[n], &has, &e), KM_OK, "%s", km_bpf_reason_name(e.reason));
        n += has ? 1u : 0u;
        cr_assert_leq(n, 6u);
    }
    cr_assert_eq(n, 5u);
    cr_assert_eq(it.skipped, 1u, "the reserved id 3 (XA_ZERO_ENTRY) is not a map");
    cr_assert_eq(m[0].id, 1u);
    cr_assert_eq(m[0].idr_id, 1u);
    cr_assert_str_eq(m[0].name, "kt.bss");
    cr_assert_eq(m[0].type, BPF_MAP_TYPE_ARRAY);
    cr_assert_str_eq(m[0].type_name, "array");
    cr_assert_eq(m[0].kind, KM_BPF_MAP_ARRAY);
    cr_assert_eq(m[0].key_size, 4u);
    cr_assert_eq(m[0].value_size, 12u);
    cr_assert_eq(m[0].max_entries, 3u);
    cr_assert_eq(m[0].map_flags, 0x400u);
    cr_assert_eq(m[0].kva, f.array_kva);
    cr_assert_eq(m[0].value_kva, f.array_kva + offsetof(struct bpf_array, value));
    cr_assert_eq(m[1].kind, KM_BPF_MAP_PERCPU_ARRAY);
    cr_assert_eq(m[1].pptrs_kva, f.percpu_kva + offsetof(struct bpf_array, pptrs));
    cr_assert_eq(m[2].id, 5u);
    cr_assert_str_eq(m[2].name, "abcdefghijklmnop", "16 bytes without a NUL: cut at 16");
    cr_assert_eq(m[2].kind, KM_BPF_MAP_OTHER);
    cr_assert_str_eq(m[2].type_name, "hash");
    cr_assert_eq(m[3].id, 9u);
    cr_assert_eq(m[4].id, 70u);
    cr_assert_eq(m[4].kind, KM_BPF_MAP_STRUCT_OPS);
    cr_assert_eq(m[4].value_kva, f.st_kva + offsetof(struct bpf_struct_ops_map, kvalue));
    cr_assert_eq(m[4].data_kva, m[4].value_kva + offsetof(struct bpf_struct_ops_value, data));
}

Test(bpf, ids_follow_idr_base)
{
    fake_maps f = build_maps();
    (void)f;
    idr_set(LINK_MAP_IDR, 100, 0, f.hash_kva); /* single entry at index 0 */
    km_bpf_idr_iter it;
    km_bpf_map_info m;
    bool has = false;
    cr_assert_eq(km_bpf_maps_begin(&gk, &off, &it, NULL), KM_OK);
    cr_assert_eq(km_bpf_maps_next(&gk, &off, &it, &m, &has, NULL), KM_OK);
    cr_assert(has);
    cr_assert_eq(m.idr_id, 100u);
    cr_assert_eq(m.id, 5u, "the id the map itself holds");
}

Test(bpf, find_map_by_name_or_suffix)
{
    build_maps();
    km_bpf_map_info m;
    km_bpf_error e;
    cr_assert_eq(km_bpf_find_map(&gk, &off, ".bss", &m, &e), KM_OK);
    cr_assert_str_eq(m.name, "kt.bss");
    cr_assert_eq(km_bpf_find_map(&gk, &off, "ktsched_ops", &m, &e), KM_OK);
    cr_assert_eq(m.id, 70u);
    cr_assert_eq(km_bpf_find_map(&gk, &off, "data", &m, &e), KM_OK);
    cr_assert_eq(m.id, 9u);
    m.id = 1234;
    cr_assert_eq(km_bpf_find_map(&gk, &off, "nosuch", &m, &e), KM_ERR_NO_SYMBOL);
    cr_assert_eq(m.id, 1234u);
    cr_assert_eq(km_bpf_find_map(&gk, &off, "", &m, &e), KM_ERR_NO_SYMBOL);
}

Test(bpf, array_values_are_bounded)
{
    build_maps();
    km_bpf_map_info m;
    km_bpf_error e;
    cr_assert_eq(km_bpf_find_map(&gk, &off, "kt.bss", &m, &e), KM_OK);
    uint8_t buf[16];
    memset(buf, 0xee, sizeof(buf));
    cr_assert_eq(km_bpf_map_value(&gk, &off, &m, 2, 4, buf, 8, &e), KM_OK);
    for (unsigned b = 0; b < 8; b++) {
        cr_assert_eq(buf[b], 0x20 + 4 + b, "byte %u: element 2 starts 32 bytes in (stride 16)", b);
    }
    cr_assert_eq(buf[8], 0xee);
    memset(buf, 0xee, sizeof(buf));
    cr_assert_eq(km_bpf_map_value(&gk, &off, &m, 3, 0, buf, 4, &e), KM_ERR_RANGE);
    cr_assert_eq(e.reason, KM_BPF_R_KEY);
    cr_assert_eq(km_bpf_map_value(&gk, &off, &m, 0, 8, buf, 5, &e), KM_ERR_INVALID_ARG);
    cr_assert_eq(e.reason, KM_BPF_R_BOUNDS);
    cr_assert_eq(e.value, 13u);
    cr_assert_eq(km_bpf_map_value(&gk, &off, &m, 0, 0, buf, 0, &e), KM_ERR_INVALID_ARG);
    cr_assert_eq(buf[0], 0xee);
    /* values of a hash map are not readable this way */
    cr_assert_eq(km_bpf_find_map(&gk, &off, "abcdefghijklmnop", &m, &e), KM_OK);
    cr_assert_eq(km_bpf_map_value(&gk, &off, &m, 0, 0, buf, 4, &e), KM_ERR_UNSUPPORTED);
    cr_assert_eq(e.reason, KM_BPF_R_MAP_TYPE);
}

Test(bpf, values_across_pages_and_the_unmapped_page)
{
    build_maps();
    km_bpf_map_info m;
    km_bpf_error e;
    cr_assert_eq(km_bpf_find_map(&gk, &off, "vm.data", &m, &e), KM_OK);
    cr_assert_eq(m.value_kva, VMALLOC + 4096 + 8);
    static uint8_t buf[4000];
    /* key 1: bytes 4000 .. 7999 of the area after value_kva, crossing from page 1 into page 2 */
    cr_assert_eq(km_bpf_map_value(&gk, &off, &m, 1, 0, buf, 4000, &e), KM_OK);
    for (unsigned i = 0; i < 4000; i++) {
        cr_assert_eq(buf[i], (uint8_t)((8 + 4000 + i) * 7), "byte %u", i);
    }
    /* key 3 spans pages 3 and 4: page 4 is unmapped, so nothing is copied */
    memset(buf, 0x5a, sizeof(buf));
    cr_assert_eq(km_bpf_map_value(&gk, &off, &m, 3, 0, buf, 4000, &e), KM_ERR_UNMAPPED);
    cr_assert_eq(e.reason, KM_BPF_R_READ);
    cr_assert_eq(e.addr, VMALLOC + 4 * 4096);
    for (unsigned i = 0; i < 4000; i++) {
        cr_assert_eq(buf[i], 0x5a, "dst touched at %u although the read failed", i);
    }
}

Test(bpf, percpu_values_per_cpu)
{
    build_maps();
    km_bpf_map_info m;
    km_bpf_error e;
    cr_assert_eq(km_bpf_find_map(&gk, &off, "pcpu", &m, &e), KM_OK);
    for (unsigned k = 0; k < 2; k++) {
        for (unsigned c = 0; c < NCPU; c++) {
            uint64_t v = 0;
            cr_assert_eq(km_bpf_map_percpu_value(&gk, &off, &m, k, c, 0, (uint8_t *)&v, 8, &e), KM_OK);
            cr_assert_eq(v, 0x1111111100000000ull * (c + 1) + k);
        }
    }
    uint64_t v = 9;
    cr_assert_eq(km_bpf_map_percpu_value(&gk, &off, &m, 0, NCPU, 0, (uint8_t *)&v, 8, &e), KM_ERR_RANGE);
    cr_assert_eq(e.reason, KM_BPF_R_CPU);
    cr_assert_eq(km_bpf_map_percpu_value(&gk, &off, &m, 2, 0, 0, (uint8_t *)&v, 8, &e), KM_ERR_RANGE);
    cr_assert_eq(e.reason, KM_BPF_R_KEY);
    cr_assert_eq(km_bpf_map_percpu_value(&gk, &off, &m, 0, 0, 4, (uint8_t *)&v, 8, &e), KM_ERR_INVALID_ARG);
    cr_assert_eq(km_bpf_map_value(&gk, &off, &m, 0, 0, (uint8_t *)&v, 8, &e), KM_ERR_UNSUPPORTED);
    gk.percpu_ready = false;
    cr_assert_eq(km_bpf_map_percpu_value(&gk, &off, &m, 0, 0, 0, (uint8_t *)&v, 8, &e), KM_ERR_NOT_READY);
    cr_assert_eq(v, 9u);
}

Test(bpf, struct_ops_value_is_kvalue)
{
    build_maps();
    km_bpf_map_info m;
    cr_assert_eq(km_bpf_find_map(&gk, &off, "ktsched_ops", &m, NULL), KM_OK);
    char name[8];
    cr_assert_eq(km_bpf_map_value(&gk, &off, &m, 0, (uint32_t)offsetof(struct bpf_struct_ops_value, data),
                                  (uint8_t *)name, 8, NULL),
                 KM_OK);
    cr_assert_str_eq(name, "ktsched");
    cr_assert_eq(km_bpf_map_value(&gk, &off, &m, 1, 0, (uint8_t *)name, 8, NULL), KM_ERR_RANGE);
}

Test(bpf, an_unreadable_map_fails_its_entry_only)
{
    fake_maps f = build_maps();
    /* id 2 now points into the vmalloc hole */
    uint64_t root = node_new(0);
    slot_set(root, 1, f.array_kva);
    slot_set(root, 2, VMALLOC + 4 * 4096 + 128);
    slot_set(root, 5, f.hash_kva);
    idr_set(LINK_MAP_IDR, 0, 0, node_entry(root));
    km_bpf_idr_iter it;
    km_bpf_map_info m;
    km_bpf_error e;
    bool has = false;
    cr_assert_eq(km_bpf_maps_begin(&gk, &off, &it, &e), KM_OK);
    cr_assert_eq(km_bpf_maps_next(&gk, &off, &it, &m, &has, &e), KM_OK);
    cr_assert_eq(m.id, 1u);
    m.id = 4242;
    cr_assert_eq(km_bpf_maps_next(&gk, &off, &it, &m, &has, &e), KM_ERR_UNMAPPED);
    cr_assert_eq(e.id, 2u);
    cr_assert_eq(m.id, 4242u);
    cr_assert_eq(km_bpf_maps_next(&gk, &off, &it, &m, &has, &e), KM_OK);
    cr_assert(has);
    cr_assert_eq(m.id, 5u);
    cr_assert_eq(km_bpf_maps_next(&gk, &off, &it, &m, &has, &e), KM_OK);
    cr_assert(!has);
}

Test(bpf, not_ready_guest_is_refused)
{
    build_maps();
    gk.ready = false;
    km_bpf_idr_iter it;
    km_bpf_error e;
    cr_assert_eq(km_bpf_maps_begin(&gk, &off, &it, &e), KM_ERR_NOT_READY);
    cr_assert_eq(e.reason, KM_BPF_R_NOT_READY);
}

/* progs: id 4 struct_ops "kt_enqueue" (stats on both CPUs), 6 kprobe "kp", 7 struct_ops "kt_dispatch" without
 * a stats pointer */
static void build_progs(void)
{
    uint64_t ids[3] = {4, 6, 7};
    const char *names[3] = {"kt_enqueue", "kp", "kt_dispatch"};
    enum bpf_prog_type types[3] = {BPF_PROG_TYPE_STRUCT_OPS, BPF_PROG_TYPE_KPROBE, BPF_PROG_TYPE_STRUCT_OPS};
    uint64_t root = node_new(0);
    for (unsigned i = 0; i < 3; i++) {
        uint64_t p = alloc(sizeof(struct bpf_prog)), a = alloc(sizeof(struct bpf_prog_aux));
        struct bpf_prog *bp = at(p);
        struct bpf_prog_aux *ba = at(a);
        bp->type = types[i];
        bp->aux = (struct bpf_prog_aux *)(uintptr_t)dm(a);
        ba->id = (u32)ids[i];
        ba->verified_insns = 100u + i;
        strcpy(ba->name, names[i]);
        if (i == 0) {
            uint64_t unit = 0x2000; /* per-CPU pointer of the stats */
            bp->stats = (struct bpf_prog_stats *)(uintptr_t)dm(unit);
            for (unsigned c = 0; c < NCPU; c++) {
                struct bpf_prog_stats *s = at(unit + pcpu_off[c]);
                s->cnt.v = 3 + c;
                s->nsecs.v = 1000 * (c + 1);
            }
        }
        slot_set(root, (unsigned)ids[i], dm(p));
    }
    idr_set(LINK_PROG_IDR, 0, 8, node_entry(root));
}

static unsigned list_progs(bool all, km_bpf_prog_info *p, unsigned cap, km_bpf_idr_iter *it)
{
    km_bpf_error e;
    cr_assert_eq(km_bpf_progs_begin(&gk, &off, it, &e), KM_OK);
    unsigned n = 0;
    bool has = true;
    while (has) {
        cr_assert_eq(km_bpf_progs_next(&gk, &off, it, all, &p[n < cap ? n : cap - 1], &has, &e), KM_OK);
        n += has ? 1u : 0u;
    }
    return n;
}

Test(bpf, struct_ops_programs_by_default_all_with_the_option)
{
    build_progs();
    km_bpf_prog_info p[4];
    km_bpf_idr_iter it;
    cr_assert_eq(list_progs(false, p, 4, &it), 2u);
    cr_assert_eq(it.filtered, 1u);
    cr_assert_eq(p[0].id, 4u);
    cr_assert_str_eq(p[0].name, "kt_enqueue");
    cr_assert(p[0].struct_ops);
    cr_assert_str_eq(p[0].type_name, "struct_ops");
    cr_assert_eq(p[0].type, BPF_PROG_TYPE_STRUCT_OPS);
    cr_assert_eq(p[0].verified_insns, 100u);
    cr_assert_eq(p[0].stats_status, KM_OK);
    cr_assert_eq(p[0].stats_cpus, NCPU);
    cr_assert_eq(p[0].run_cnt, 3u + 4u, "summed over CPUs");
    cr_assert_eq(p[0].run_time_ns, 1000u + 2000u);
    cr_assert_eq(p[1].id, 7u);
    cr_assert_eq(p[1].stats_status, KM_ERR_BAD_DATA, "no stats pointer");
    cr_assert_eq(p[1].run_cnt, 0u);
    cr_assert_eq(list_progs(true, p, 4, &it), 3u);
    cr_assert_eq(it.filtered, 0u);
    cr_assert_eq(p[1].id, 6u);
    cr_assert_str_eq(p[1].type_name, "kprobe");
    cr_assert(!p[1].struct_ops);
    /* without per-CPU offsets the rest is still read */
    gk.percpu_ready = false;
    cr_assert_eq(list_progs(false, p, 4, &it), 2u);
    cr_assert_eq(p[0].stats_status, KM_ERR_NOT_READY);
    cr_assert_eq(p[0].verified_insns, 100u);
}

Test(bpf, stats_enabled_key)
{
    bool on = true;
    cr_assert_eq(km_bpf_stats_enabled(&gk, &off, &on, NULL), KM_OK);
    cr_assert(!on);
    w32(image_pa(LINK_STATS_KEY) + offsetof(struct static_key, enabled), 2);
    cr_assert_eq(km_bpf_stats_enabled(&gk, &off, &on, NULL), KM_OK);
    cr_assert(on);
    km_bpf_offsets o = off;
    o.have_stats_key = false;
    km_bpf_error e;
    cr_assert_eq(km_bpf_stats_enabled(&gk, &o, &on, &e), KM_ERR_NO_SYMBOL);
}

Test(bpf, reason_names)
{
    for (int r = 0; r < KM_BPF_REASON_COUNT; r++) {
        cr_assert_not_null(km_bpf_reason_name((km_bpf_reason)r));
        cr_assert_str_neq(km_bpf_reason_name((km_bpf_reason)r), "unknown reason");
    }
    cr_assert_str_eq(km_bpf_reason_name((km_bpf_reason)KM_BPF_REASON_COUNT), "unknown reason");
}
