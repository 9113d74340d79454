/* Unit tests: kernel-op dispatch (modules/kop_dispatch) over a fake guest.
 *
 * The fake: 64 MiB of RAM at PA 0, the kernel image of tests/fixtures/kop
 * (symbols + BTF of a miniature kernel) at PA 32 MiB with a KASLR offset,
 * a direct map at 0xffff9c0000000000, two vmalloc-style pages reached only by
 * a page walk (not physically contiguous), two CPUs' per-CPU areas and a task
 * list.  The km_guest_kernel is built by hand (the handshake has its own
 * tests). */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ktmon/kop_dispatch.h"
#include "tests/fixtures/kop/fixtures.h"

#define RAM_SIZE (64u << 20)
#define LINK_TEXT 0xffffffff81000000ull
#define KASLR 0x2a00000ull
#define TEXT_PA 0x2000000ull
#define PAGE_OFFSET 0xffff9c0000000000ull
#define VMALLOC 0xffffc90000123000ull /* -> PA 0x3000000; +0x1000 -> PA 0x3005000; +0x2000 unmapped */
#define PGD_PA 0x100000ull
#define PERCPU_PA(c) (0x1000000ull + (uint64_t)(c)*0x100000ull)
#define TASK_A_PA 0x1800000ull
#define TASK_B_PA 0x1801000ull
#define TASK_C_PA 0x1802000ull
#define SIG_A_PA 0x1803000ull
#define SIG_C_PA 0x1804000ull
#define DSQ_PA 0x1805000ull

static uint8_t *ram;
static km_mem mem;
static km_ksym ks;
static km_btf btf;
static km_guest_kernel gk;
static km_kop_ctx ctx;
static km_kop_gate gate;
static km_freeze_token tok;
static km_kop_request req;
static km_kop_reply rep;
static uint8_t data[1 << 17];

static uint64_t link_of(const char *name)
{
    uint64_t a = 0;
    cr_assert_eq(km_ksym_addr(&ks, name, &a), KM_OK, "%s", name);
    return a;
}
static uint64_t kva_of(const char *name) { return link_of(name) + KASLR; }
static uint64_t pa_of(const char *name) { return TEXT_PA + (link_of(name) - LINK_TEXT); }
static uint64_t dm(uint64_t pa) { return PAGE_OFFSET + pa; }
static uint32_t off(const char *path)
{
    uint32_t o = 0;
    cr_assert_eq(km_btf_offsetof(&btf, path, &o, NULL), KM_OK, "%s", path);
    return o;
}
static uint32_t r32(uint64_t pa) { uint32_t v; memcpy(&v, &ram[pa], 4); return v; }
static uint64_t r64(uint64_t pa) { uint64_t v; memcpy(&v, &ram[pa], 8); return v; }
static void w32(uint64_t pa, uint32_t v) { memcpy(&ram[pa], &v, 4); }
static void w64(uint64_t pa, uint64_t v) { memcpy(&ram[pa], &v, 8); }
static unsigned ix(uint64_t va, unsigned shift) { return (unsigned)((va >> shift) & 511u); }

/* A task at pa (kva in the direct map, or init_task in the image). */
static void task(uint64_t pa, uint64_t kva, uint32_t pid, uint64_t start, bool ext)
{
    w32(pa + off("task_struct.pid"), pid);
    w64(pa + off("task_struct.start_time"), start);
    w64(pa + off("task_struct.start_boottime"), start + 5);
    w64(pa + off("task_struct.sched_class"), ext ? kva_of("ext_sched_class") : 0xffffffff81000040ull + KASLR);
    (void)kva;
}

/* list_head at kva `node` (PA node_pa) -> next */
static void link_next(uint64_t node_pa, uint64_t next_kva) { w64(node_pa, next_kva); }

static void setup(void)
{
    if (ram == NULL) {
        ram = aligned_alloc(1u << 21, RAM_SIZE);
        cr_assert_not_null(ram);
    }
    memset(ram, 0, RAM_SIZE);
    km_mem_init(&mem);
    cr_assert_eq(km_mem_add_region(&mem, 0, RAM_SIZE, ram, true), KM_OK);
    km_ksym_init(&ks);
    cr_assert_eq(km_ksym_load_elf_buffer(&ks, fx_kop_vmlinux, sizeof(fx_kop_vmlinux), NULL, NULL), KM_OK);
    km_btf_init(&btf);
    cr_assert_eq(km_btf_load_buffer(&btf, fx_kop_vmlinux, sizeof(fx_kop_vmlinux), NULL, NULL), KM_OK);

    /* page tables: vmalloc pages only (image and direct map translate by arithmetic) */
    uint64_t pdpt = 0x101000, pd = 0x102000, pt = 0x103000;
    w64(PGD_PA + 8 * ix(VMALLOC, 39), pdpt | 3);
    w64(pdpt + 8 * ix(VMALLOC, 30), pd | 3);
    w64(pd + 8 * ix(VMALLOC, 21), pt | 3);
    w64(pt + 8 * ix(VMALLOC, 12), 0x3000000u | 3);
    w64(pt + 8 * ix(VMALLOC + 0x1000, 12), 0x3005000u | 3);

    km_gk_symbols sym;
    memset(&sym, 0, sizeof(sym));
    sym.arch = KM_ARCH_X86_64;
    sym.text = LINK_TEXT;
    km_gk_init(&gk, &mem, &sym);
    gk.ready = true;
    gk.kaslr = KASLR;
    gk.text_kva = LINK_TEXT + KASLR;
    gk.text_pa = TEXT_PA;
    gk.text_end_kva = gk.text_kva + (4u << 20);
    gk.page_offset = PAGE_OFFSET;
    gk.direct_pa_base = 0;
    cr_assert_eq(km_pgwalk_cfg_x86_64(PGD_PA, false, &gk.cfg), KM_OK);
    gk.ncpus = 2;
    for (unsigned c = 0; c < 2; c++) {
        gk.percpu[c] = dm(PERCPU_PA(c)) - kva_of("runqueues");
    }
    gk.percpu_ready = true;

    /* tasks: init (pid 0) -> A (100, thread B 101) -> C (200, sched_ext) -> init */
    uint64_t it = kva_of("init_task"), it_pa = pa_of("init_task");
    uint64_t tasks = off("task_struct.tasks"), tn = off("task_struct.thread_node"),
             sig = off("task_struct.signal"), th = off("signal_struct.thread_head");
    uint64_t is = kva_of("init_signals"), is_pa = pa_of("init_signals");
    task(it_pa, it, 0, 0, false);
    task(TASK_A_PA, dm(TASK_A_PA), 100, 1000000000ull, false);
    task(TASK_B_PA, dm(TASK_B_PA), 101, 1000500000ull, false);
    task(TASK_C_PA, dm(TASK_C_PA), 200, 2000000000ull, true);
    link_next(it_pa + tasks, dm(TASK_A_PA) + tasks);
    link_next(TASK_A_PA + tasks, dm(TASK_C_PA) + tasks);
    link_next(TASK_C_PA + tasks, it + tasks);
    w64(it_pa + sig, is);
    w64(TASK_A_PA + sig, dm(SIG_A_PA));
    w64(TASK_B_PA + sig, dm(SIG_A_PA));
    w64(TASK_C_PA + sig, dm(SIG_C_PA));
    link_next(is_pa + th, it + tn);
    link_next(it_pa + tn, is + th);
    link_next(SIG_A_PA + th, dm(TASK_A_PA) + tn);
    link_next(TASK_A_PA + tn, dm(TASK_B_PA) + tn);
    link_next(TASK_B_PA + tn, dm(SIG_A_PA) + th);
    link_next(SIG_C_PA + th, dm(TASK_C_PA) + tn);
    link_next(TASK_C_PA + tn, dm(SIG_C_PA) + th);

    km_kop_ctx_init(&ctx, &mem, &gk, &ks, &btf);
    km_kop_gate_init(&gate);
    cr_assert_eq(km_kop_gate_mint(&gate, &tok), KM_OK);
    km_kop_reply_init(&rep, data, sizeof(data));
}

static void teardown(void)
{
    km_btf_fini(&btf);
    km_ksym_fini(&ks);
}

TestSuite(kop, .init = setup, .fini = teardown);

/* ------------------------------------------------------------------ request helpers */

static km_kop_entry *add(void)
{
    cr_assert_lt(req.count, KM_KOP_MAX_ENTRIES);
    km_kop_entry *e = &req.entries[req.count++];
    memset(e, 0, sizeof(*e));
    return e;
}
static km_kop_entry *t_sym(const char *name, const char *field, uint64_t plus)
{
    km_kop_entry *e = add();
    e->target.kind = KM_KOP_T_SYMBOL;
    strcpy(e->target.name, name);
    strcpy(e->target.field, field);
    e->target.offset = plus;
    return e;
}
static km_kop_entry *t_addr(km_kop_target_kind k, uint64_t a)
{
    km_kop_entry *e = add();
    e->target.kind = k;
    e->target.addr = a;
    return e;
}
static km_kop_entry *t_percpu(const char *name, const char *field, uint32_t cpu)
{
    km_kop_entry *e = add();
    e->target.kind = KM_KOP_T_PERCPU;
    strcpy(e->target.name, name);
    strcpy(e->target.field, field);
    e->target.cpu = cpu;
    return e;
}
static km_kop_entry *t_task(uint32_t pid, const char *field)
{
    km_kop_entry *e = add();
    e->target.kind = KM_KOP_T_TASK;
    e->target.pid = pid;
    strcpy(e->target.field, field);
    return e;
}
static void v_u32(km_kop_entry *e, uint32_t v) { e->value.kind = KM_KOP_V_U32; e->value.scalar = v; }
static void v_u64(km_kop_entry *e, uint64_t v) { e->value.kind = KM_KOP_V_U64; e->value.scalar = v; }
static void v_or(km_kop_entry *e, uint32_t m) { e->value.kind = KM_KOP_V_OR_U32; e->value.scalar = m; }
static void v_bytes(km_kop_entry *e, const void *p, uint32_t n)
{
    e->value.kind = KM_KOP_V_BYTES;
    e->value.bytes = p;
    e->value.len = n;
}
static void begin(km_kop_mode mode, km_kop_dir dir) { km_kop_request_init(&req, 42, mode, dir); }
static km_status cold(void) { return km_kop_dispatch_cold(&ctx, &gate, &tok, &req, &rep); }
static km_status hot(void) { return km_kop_dispatch_hot(&ctx, &req, &rep); }
#define OK_REPLY(st) cr_assert_eq((st), KM_OK, "%s", rep.reason.text)

/* ------------------------------------------------------------------ every target x value, exact bytes */

static const uint8_t pattern[] = {0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99, 0xaa};

/* Write U32, U64, Bytes and OrU32 to one target (cold) and check the bytes at pa. */
static void all_values_at(km_kop_entry *(*mk)(void), uint64_t pa)
{
    begin(KM_KOP_COLD, KM_KOP_WRITE);
    v_u32(mk(), 0xa1b2c3d4u);
    OK_REPLY(cold());
    cr_assert_eq(r32(pa), 0xa1b2c3d4u);
    cr_assert_eq(ram[pa + 4], 0u, "U32 writes 4 bytes only");
    begin(KM_KOP_COLD, KM_KOP_WRITE);
    v_u64(mk(), 0x0102030405060708ull);
    OK_REPLY(cold());
    cr_assert_eq(r64(pa), 0x0102030405060708ull);
    cr_assert_eq(ram[pa], 0x08u, "little-endian");
    begin(KM_KOP_COLD, KM_KOP_WRITE);
    v_bytes(mk(), pattern, sizeof(pattern));
    OK_REPLY(cold());
    cr_assert_arr_eq(&ram[pa], pattern, sizeof(pattern));
    w32(pa, 0x01u);
    begin(KM_KOP_COLD, KM_KOP_WRITE);
    v_or(mk(), 0x10u);
    OK_REPLY(cold());
    cr_assert_eq(r32(pa), 0x11u, "OrU32 0x01 | 0x10");
    cr_assert_eq(ram[pa + 4], pattern[4], "OrU32 touches 4 bytes only");
    cr_assert_eq(rep.writes_applied, 1u);
}

static km_kop_entry *mk_sym(void) { return t_sym("init_uts_ns", "name.nodename", 0); }
static km_kop_entry *mk_direct(void) { return t_addr(KM_KOP_T_DIRECT, dm(0x2200000)); }
static km_kop_entry *mk_kva(void) { return t_addr(KM_KOP_T_KVA, VMALLOC + 0x40); }
static km_kop_entry *mk_pa(void) { return t_addr(KM_KOP_T_PA, 0x2300000); }
static km_kop_entry *mk_percpu(void) { return t_percpu("runqueues", "scx.clock", 1); }

Test(kop, symbol_field_all_values)
{
    all_values_at(mk_sym, pa_of("init_uts_ns") + off("uts_namespace.name.nodename"));
}
Test(kop, direct_all_values) { all_values_at(mk_direct, 0x2200000); }
Test(kop, kva_walk_all_values) { all_values_at(mk_kva, 0x3000040); }
Test(kop, pa_all_values) { all_values_at(mk_pa, 0x2300000); }
Test(kop, percpu_all_values) { all_values_at(mk_percpu, PERCPU_PA(1) + off("rq.scx.clock")); }

Test(kop, task_u32_u64_and_refused_widths)
{
    uint64_t c = TASK_C_PA;
    begin(KM_KOP_COLD, KM_KOP_WRITE);
    v_u64(t_task(200, "scx.dsq_vtime"), 0xabcdef0123456789ull);
    v_u32(t_task(200, "scx.weight"), 77u);
    OK_REPLY(cold());
    cr_assert_eq(r64(c + off("task_struct.scx.dsq_vtime")), 0xabcdef0123456789ull);
    cr_assert_eq(r32(c + off("task_struct.scx.weight")), 77u);
    /* Bytes and OrU32 are not task widths */
    begin(KM_KOP_COLD, KM_KOP_WRITE);
    v_bytes(t_task(200, "comm"), "x", 1);
    cr_assert_eq(cold(), KM_ERR_INVALID_ARG);
    cr_assert(strstr(rep.reason.text, "task fields take U32 or U64") != NULL, "%s", rep.reason.text);
    begin(KM_KOP_COLD, KM_KOP_WRITE);
    v_or(t_task(200, "scx.flags"), 1);
    cr_assert_eq(cold(), KM_ERR_INVALID_ARG);
    /* reads of any task (identity checks only) */
    begin(KM_KOP_COLD, KM_KOP_READ);
    v_u32(t_task(101, "pid"), 0);
    v_u32(t_task(0, "pid"), 0);
    OK_REPLY(cold());
    cr_assert_eq(rep.reads[0].scalar, 101u);
    cr_assert_eq(rep.reads[0].kva, dm(TASK_B_PA) + off("task_struct.pid"));
    cr_assert_eq(rep.reads[1].kva, kva_of("init_task") + off("task_struct.pid"));
}

Test(kop, task_write_safety_checks)
{
    uint64_t c = TASK_C_PA;
    /* not a sched_ext task */
    begin(KM_KOP_COLD, KM_KOP_WRITE);
    v_u64(t_task(100, "scx.dsq_vtime"), 1);
    cr_assert_eq(cold(), KM_ERR_STATE);
    cr_assert(strstr(rep.reason.text, "not a sched_ext task") != NULL, "%s", rep.reason.text);
    /* on a runqueue */
    w32(c + off("task_struct.on_rq"), 1);
    begin(KM_KOP_COLD, KM_KOP_WRITE);
    v_u64(t_task(200, "scx.dsq_vtime"), 1);
    cr_assert_eq(cold(), KM_ERR_STATE);
    cr_assert(strstr(rep.reason.text, "on a runqueue") != NULL, "%s", rep.reason.text);
    w32(c + off("task_struct.on_rq"), 0);
    /* queued on a DSQ */
    w64(c + off("task_struct.scx.dsq"), dm(DSQ_PA));
    cr_assert_eq(cold(), KM_ERR_STATE);
    cr_assert(strstr(rep.reason.text, "dispatch queue") != NULL, "%s", rep.reason.text);
    w64(c + off("task_struct.scx.dsq"), 0);
    /* dead */
    w32(c + off("task_struct.exit_state"), 16);
    cr_assert_eq(cold(), KM_ERR_STATE);
    cr_assert(strstr(rep.reason.text, "exiting or dead") != NULL, "%s", rep.reason.text);
    w32(c + off("task_struct.exit_state"), 0);
    w32(c + off("task_struct.__state"), 0x80);
    cr_assert_eq(cold(), KM_ERR_STATE);
    w32(c + off("task_struct.__state"), 0);
    /* not fully created */
    w64(c + off("task_struct.start_boottime"), 0);
    cr_assert_eq(cold(), KM_ERR_STATE);
    w64(c + off("task_struct.start_boottime"), 7);
    /* start time window [t, t + 10 ms) */
    req.entries[0].target.check_start = true;
    req.entries[0].target.start_ns = 2000000000ull + 1;
    cr_assert_eq(cold(), KM_ERR_MISMATCH, "%s", rep.reason.text);
    cr_assert(strstr(rep.reason.text, "pid reused?") != NULL, "%s", rep.reason.text);
    req.entries[0].target.start_ns = 2000000000ull - 10000000ull;
    cr_assert_eq(cold(), KM_ERR_MISMATCH, "start == t + 10 ms is outside");
    req.entries[0].target.start_ns = 2000000000ull - 9999999ull;
    OK_REPLY(cold());
    req.entries[0].target.start_ns = 2000000000ull;
    OK_REPLY(cold());
    cr_assert_eq(r64(c + off("task_struct.scx.dsq_vtime")), 1u);
    /* no such pid */
    begin(KM_KOP_COLD, KM_KOP_READ);
    v_u32(t_task(999, "pid"), 0);
    cr_assert_eq(cold(), KM_ERR_RANGE);
    cr_assert(strstr(rep.reason.text, "no task with pid 999") != NULL, "%s", rep.reason.text);
}

Test(kop, task_walk_is_bounded)
{
    /* A's leader link points to itself: the walk never returns to init_task */
    uint64_t tasks = off("task_struct.tasks");
    w64(TASK_A_PA + tasks, dm(TASK_A_PA) + tasks);
    begin(KM_KOP_COLD, KM_KOP_READ);
    v_u32(t_task(999, "pid"), 0);
    cr_assert_eq(cold(), KM_ERR_RANGE);
    cr_assert(strstr(rep.reason.text, "exceeded 65536 steps") != NULL, "%s", rep.reason.text);
    /* a thread list that loops without returning to its head */
    teardown();
    setup();
    uint64_t tn = off("task_struct.thread_node");
    w64(TASK_B_PA + tn, dm(TASK_A_PA) + tn);
    begin(KM_KOP_COLD, KM_KOP_READ);
    v_u32(t_task(999, "pid"), 0);
    cr_assert_eq(cold(), KM_ERR_RANGE);
    cr_assert(strstr(rep.reason.text, "exceeded") != NULL, "%s", rep.reason.text);
}

/* ------------------------------------------------------------------ targets: errors */

Test(kop, absent_symbol_and_member)
{
    begin(KM_KOP_COLD, KM_KOP_READ);
    v_u32(t_sym("no_such_symbol_xyz", "", 0), 0);
    cr_assert_eq(cold(), KM_ERR_NO_SYMBOL);
    cr_assert_str_eq(rep.reason.text, "entry[0]: no symbol 'no_such_symbol_xyz' in the vmlinux");
    begin(KM_KOP_COLD, KM_KOP_READ);
    v_u32(t_sym("init_task", "no_such_field", 0), 0);
    cr_assert_eq(cold(), KM_ERR_NO_TYPE);
    cr_assert(strstr(rep.reason.text, "no_such_field") != NULL, "%s", rep.reason.text);
    /* a symbol whose struct cannot be inferred */
    begin(KM_KOP_COLD, KM_KOP_READ);
    v_u32(t_sym("g_counter64", "x", 0), 0);
    cr_assert_eq(cold(), KM_ERR_NO_TYPE);
    cr_assert(strstr(rep.reason.text, "struct type of 'g_counter64' is unknown") != NULL, "%s", rep.reason.text);
    /* ... unless it is given */
    begin(KM_KOP_COLD, KM_KOP_READ);
    km_kop_entry *e = t_sym("g_counter64", "cpu", 0);
    strcpy(e->target.type, "rq");
    v_u32(e, 0);
    OK_REPLY(cold());
    cr_assert_eq(rep.reads[0].kva, kva_of("g_counter64") + off("rq.cpu"));
}

Test(kop, direct_map_bounds)
{
    begin(KM_KOP_COLD, KM_KOP_WRITE);
    v_u32(t_addr(KM_KOP_T_DIRECT, PAGE_OFFSET + RAM_SIZE - 4), 5);
    OK_REPLY(cold());
    cr_assert_eq(r32(RAM_SIZE - 4), 5u);
    req.entries[0].target.addr = PAGE_OFFSET + RAM_SIZE - 2; /* runs past the end */
    cr_assert_eq(cold(), KM_ERR_RANGE);
    cr_assert(strstr(rep.reason.text, "outside the direct map") != NULL, "%s", rep.reason.text);
    req.entries[0].target.addr = PAGE_OFFSET - 4; /* below */
    cr_assert_eq(cold(), KM_ERR_RANGE);
    req.entries[0].target.addr = UINT64_MAX - 1; /* wraps */
    cr_assert_eq(cold(), KM_ERR_RANGE);
    cr_assert_eq(rep.writes_applied, 0u);
}

Test(kop, unmapped_kva)
{
    begin(KM_KOP_COLD, KM_KOP_READ);
    v_u32(t_addr(KM_KOP_T_KVA, VMALLOC + 0x2000), 0);
    cr_assert_eq(cold(), KM_ERR_UNMAPPED);
    cr_assert(strstr(rep.reason.text, "page unmapped") != NULL, "%s", rep.reason.text);
    /* a page walk that finds no root: CR3 pointing at a zero page */
    cr_assert_eq(km_pgwalk_cfg_x86_64(0x3800000, false, &gk.cfg), KM_OK);
    km_gk_invalidate(&gk);
    req.entries[0].target.addr = VMALLOC;
    cr_assert_eq(cold(), KM_ERR_UNMAPPED, "%s", rep.reason.text);
}

Test(kop, user_half_kva_refused_before_any_walk)
{
    uint64_t walks = gk.tlb.hits + gk.tlb.misses;
    begin(KM_KOP_COLD, KM_KOP_WRITE);
    v_u32(t_addr(KM_KOP_T_KVA, 0x00007fff12345000ull), 1);
    cr_assert_eq(cold(), KM_ERR_RANGE);
    cr_assert(strstr(rep.reason.text, "not a kernel-half address") != NULL, "%s", rep.reason.text);
    cr_assert_eq(gk.tlb.hits + gk.tlb.misses, walks, "no translation was attempted");
    req.entries[0].target.addr = 0xfeffffffffffffffull;
    cr_assert_eq(cold(), KM_ERR_RANGE);
    cr_assert_eq(gk.tlb.hits + gk.tlb.misses, walks);
}

Test(kop, or_u32_is_not_a_read_width)
{
    begin(KM_KOP_COLD, KM_KOP_READ);
    v_or(t_sym("dirty_writeback_interval", "", 0), 0);
    cr_assert_eq(cold(), KM_ERR_INVALID_ARG);
    cr_assert(strstr(rep.reason.text, "OrU32 is a write, not a read width") != NULL, "%s", rep.reason.text);
    begin(KM_KOP_HOT, KM_KOP_READ);
    v_or(t_sym("dirty_writeback_interval", "", 0), 0);
    cr_assert_eq(hot(), KM_ERR_INVALID_ARG);
}

Test(kop, percpu_mapping_and_cpu_range)
{
    begin(KM_KOP_COLD, KM_KOP_WRITE);
    v_u32(t_percpu("runqueues", "cpu", 0), 0);
    v_u32(t_percpu("runqueues", "cpu", 1), 1);
    OK_REPLY(cold());
    cr_assert_eq(r32(PERCPU_PA(0) + off("rq.cpu")), 0u);
    cr_assert_eq(r32(PERCPU_PA(1) + off("rq.cpu")), 1u);
    begin(KM_KOP_COLD, KM_KOP_READ);
    v_u32(t_percpu("runqueues", "cpu", 1), 0);
    OK_REPLY(cold());
    cr_assert_eq(rep.reads[0].kva, dm(PERCPU_PA(1)) + off("rq.cpu"));
    cr_assert_eq(rep.reads[0].pa, PERCPU_PA(1) + off("rq.cpu"));
    begin(KM_KOP_COLD, KM_KOP_READ);
    v_u32(t_percpu("runqueues", "cpu", 2), 0);
    cr_assert_eq(cold(), KM_ERR_RANGE);
    cr_assert(strstr(rep.reason.text, "the guest has 2 CPUs") != NULL, "%s", rep.reason.text);
}

/* ------------------------------------------------------------------ batches */

Test(kop, batch_all_ok_and_reads_by_index)
{
    uint64_t dwi = pa_of("dirty_writeback_interval");
    begin(KM_KOP_COLD, KM_KOP_WRITE);
    v_u32(t_sym("dirty_writeback_interval", "", 0), 4242);
    v_u64(t_sym("g_counter64", "", 0), 99);
    v_bytes(t_sym("init_uts_ns", "name.nodename", 0), "kt-cold", 8);
    OK_REPLY(cold());
    cr_assert(rep.success);
    cr_assert_eq(rep.completed, 3u);
    cr_assert_eq(rep.writes_applied, 3u);
    cr_assert_eq(rep.failed_index, KM_NO_INDEX);
    cr_assert_eq(rep.reason.len, 0u);
    cr_assert_eq(r32(dwi), 4242u);
    begin(KM_KOP_COLD, KM_KOP_READ);
    v_u32(t_sym("dirty_writeback_interval", "", 0), 0);
    km_kop_entry *e = t_sym("init_uts_ns", "name.nodename", 0);
    e->value.kind = KM_KOP_V_BYTES;
    e->value.len = 16;
    v_u64(t_sym("g_counter64", "", 0), 0);
    OK_REPLY(cold());
    cr_assert_eq(rep.nreads, 3u);
    cr_assert_eq(rep.reads[0].index, 0u);
    cr_assert_eq(rep.reads[0].kind, KM_KOP_V_U32);
    cr_assert_eq(rep.reads[0].scalar, 4242u);
    cr_assert_eq(rep.reads[0].pa, dwi);
    cr_assert_eq(rep.reads[1].index, 1u);
    cr_assert_eq(rep.reads[1].len, 16u);
    cr_assert_str_eq((const char *)&rep.data[rep.reads[1].off], "kt-cold");
    cr_assert_eq(rep.reads[2].index, 2u);
    cr_assert_eq(rep.reads[2].scalar, 99u);
    cr_assert_eq(rep.writes_applied, 0u);
}

Test(kop, batch_first_failure_stops_and_reports_applied_writes)
{
    uint64_t dwi = pa_of("dirty_writeback_interval"), cnt = pa_of("g_counter64");
    begin(KM_KOP_COLD, KM_KOP_WRITE);
    v_u32(t_sym("dirty_writeback_interval", "", 0), 1);
    v_u64(t_sym("g_counter64", "", 0), 2);
    v_u32(t_sym("nope", "", 0), 3);
    v_u32(t_addr(KM_KOP_T_PA, 0x2400000), 4);
    cr_assert_eq(cold(), KM_ERR_NO_SYMBOL);
    cr_assert_not(rep.success);
    cr_assert_eq(rep.failed_index, 2u);
    cr_assert_eq(rep.completed, 2u);
    cr_assert_eq(rep.writes_applied, 2u);
    cr_assert_str_eq(rep.reason.text, "entry[2]: no symbol 'nope' in the vmlinux");
    cr_assert_eq(r32(dwi), 1u, "entry 0 applied");
    cr_assert_eq(r64(cnt), 2u, "entry 1 applied");
    cr_assert_eq(r32(0x2400000), 0u, "entry 3 never ran");
}

Test(kop, a_failing_multi_page_write_stores_nothing)
{
    /* 8 KiB from the first vmalloc page: pages 1 and 2 map, page 3 does not */
    static uint8_t buf[8200];
    memset(buf, 0xee, sizeof(buf));
    begin(KM_KOP_COLD, KM_KOP_WRITE);
    v_bytes(t_addr(KM_KOP_T_KVA, VMALLOC + 0x10), buf, sizeof(buf));
    cr_assert_eq(cold(), KM_ERR_UNMAPPED);
    cr_assert_eq(rep.writes_applied, 0u);
    cr_assert_eq(ram[0x3000010], 0u, "nothing stored on the mapped pages");
    cr_assert_eq(ram[0x3005000], 0u);
    /* within the two mapped pages it lands on both, physically apart */
    req.entries[0].value.len = 0x2000 - 0x10;
    OK_REPLY(cold());
    cr_assert_eq(ram[0x3000010], 0xeeu);
    cr_assert_eq(ram[0x3000fff], 0xeeu);
    cr_assert_eq(ram[0x3001000], 0u);
    cr_assert_eq(ram[0x3005000], 0xeeu);
    cr_assert_eq(ram[0x3005fff], 0xeeu);
}

Test(kop, misaligned_and_page_crossing_cold_accesses)
{
    uint64_t pa = pa_of("g_counter64");
    begin(KM_KOP_COLD, KM_KOP_WRITE);
    v_u32(t_sym("g_counter64", "", 1), 0xcafebabeu);
    OK_REPLY(cold());
    cr_assert_eq(r32(pa + 1), 0xcafebabeu);
    /* a U64 across the two (discontiguous) vmalloc pages */
    begin(KM_KOP_COLD, KM_KOP_WRITE);
    v_u64(t_addr(KM_KOP_T_KVA, VMALLOC + 0xffc), 0x1122334455667788ull);
    OK_REPLY(cold());
    cr_assert_eq(r32(0x3000ffc), 0x55667788u);
    cr_assert_eq(r32(0x3005000), 0x11223344u);
    begin(KM_KOP_COLD, KM_KOP_READ);
    v_u64(t_addr(KM_KOP_T_KVA, VMALLOC + 0xffc), 0);
    OK_REPLY(cold());
    cr_assert_eq(rep.reads[0].scalar, 0x1122334455667788ull);
    /* OrU32 across the pages */
    begin(KM_KOP_COLD, KM_KOP_WRITE);
    v_or(t_addr(KM_KOP_T_KVA, VMALLOC + 0xffe), 0x00f000f0u);
    OK_REPLY(cold());
    cr_assert_eq(r32(0x3000ffc), 0x55f67788u);
    cr_assert_eq(r32(0x3005000), 0x112233f4u);
}

/* ------------------------------------------------------------------ reasons */

Test(kop, reasons_are_cut_at_256_bytes_on_a_utf8_boundary)
{
    /* a member path of 2-byte characters: the reason quoting it is far longer than 256 bytes */
    char field[KM_KOP_FIELD_MAX + 1];
    size_t n = 0;
    field[n++] = 'n';
    while (n + 2 <= KM_KOP_FIELD_MAX) {
        field[n++] = (char)0xc3;
        field[n++] = (char)0xa9;
    }
    field[n] = 0;
    begin(KM_KOP_COLD, KM_KOP_READ);
    v_u32(t_sym("init_uts_ns", field, 0), 0);
    cr_assert_neq(cold(), KM_OK);
    cr_assert_leq(rep.reason.len, 256u);
    cr_assert_geq(rep.reason.len, 253u);
    cr_assert_eq(strlen(rep.reason.text), rep.reason.len);
    cr_assert(rep.reason.truncated);
    cr_assert_eq(strncmp(rep.reason.text, "entry[0]: member 'uts_namespace.n", 33), 0, "%s", rep.reason.text);
    /* the text ends on a character boundary: every 0xc3 is followed by its 0xa9 */
    const uint8_t *t = (const uint8_t *)rep.reason.text;
    for (uint32_t i = 0; i < rep.reason.len; i++) {
        if (t[i] == 0xc3) {
            cr_assert_lt(i + 1, rep.reason.len, "cut inside a character");
            cr_assert_eq(t[i + 1], 0xa9);
        }
    }
}

Test(kop, utf8_cut)
{
    const uint8_t s[] = "ab\xe2\x82\xac" "cd"; /* a b EURO c d */
    cr_assert_eq(km_kop_utf8_cut(s, 7, 10), 7u);
    cr_assert_eq(km_kop_utf8_cut(s, 7, 5), 5u);
    cr_assert_eq(km_kop_utf8_cut(s, 7, 4), 2u, "never inside the 3-byte euro sign");
    cr_assert_eq(km_kop_utf8_cut(s, 7, 3), 2u);
    cr_assert_eq(km_kop_utf8_cut(s, 7, 2), 2u);
    cr_assert_eq(km_kop_utf8_cut(s, 7, 0), 0u);
    const uint8_t bad[] = {0x80, 0x80, 0x80, 0x80, 0x80, 0x80};
    cr_assert_eq(km_kop_utf8_cut(bad, 6, 5), 2u, "at most three steps back on invalid input");
}

/* ------------------------------------------------------------------ the freeze token */

Test(kop, cold_dispatch_needs_a_current_token)
{
    uint64_t dwi = pa_of("dirty_writeback_interval");
    begin(KM_KOP_COLD, KM_KOP_WRITE);
    v_u32(t_sym("dirty_writeback_interval", "", 0), 7);
    /* no token */
    cr_assert_eq(km_kop_dispatch_cold(&ctx, &gate, NULL, &req, &rep), KM_ERR_STATE);
    cr_assert(strstr(rep.reason.text, "not frozen") != NULL, "%s", rep.reason.text);
    cr_assert_eq(rep.failed_index, KM_NO_INDEX);
    /* a token nobody minted */
    km_freeze_token forged;
    memset(&forged, 0, sizeof(forged));
    cr_assert_eq(km_kop_dispatch_cold(&ctx, &gate, &forged, &req, &rep), KM_ERR_STATE);
    /* another gate's token */
    km_kop_gate other;
    km_freeze_token other_tok;
    km_kop_gate_init(&other);
    km_kop_gate_mint(&other, &other_tok);
    cr_assert_eq(km_kop_dispatch_cold(&ctx, &gate, &other_tok, &req, &rep), KM_ERR_STATE);
    /* the right token, then a thaw: stale */
    OK_REPLY(cold());
    cr_assert_eq(r32(dwi), 7u);
    km_kop_gate_thaw(&gate);
    cr_assert_not(km_kop_token_current(&gate, &tok));
    req.entries[0].value.scalar = 8;
    cr_assert_eq(cold(), KM_ERR_STATE);
    cr_assert_eq(r32(dwi), 7u, "nothing written without a freeze");
    /* a new freeze mints a new token; the old one stays stale */
    km_freeze_token old = tok;
    km_kop_gate_mint(&gate, &tok);
    OK_REPLY(cold());
    cr_assert_eq(r32(dwi), 8u);
    cr_assert_eq(km_kop_dispatch_cold(&ctx, &gate, &old, &req, &rep), KM_ERR_STATE);
    /* km_kop_dispatch routes by mode: cold without a token is refused too */
    cr_assert_eq(km_kop_dispatch(&ctx, NULL, NULL, &req, &rep), KM_ERR_STATE);
    /* a hot request on the cold path and vice versa */
    req.mode = KM_KOP_HOT;
    cr_assert_eq(cold(), KM_ERR_INVALID_ARG);
    req.mode = KM_KOP_COLD;
    cr_assert_eq(hot(), KM_ERR_INVALID_ARG);
}

/* ------------------------------------------------------------------ the hot path */

Test(kop, hot_u32_u64_single_stores)
{
    uint64_t dwi = pa_of("dirty_writeback_interval"), cnt = pa_of("g_counter64");
    begin(KM_KOP_HOT, KM_KOP_WRITE);
    v_u32(t_sym("dirty_writeback_interval", "", 0), 4242);
    v_u64(t_sym("g_counter64", "", 0), 0x1122334455667788ull);
    v_u64(t_addr(KM_KOP_T_DIRECT, dm(0x2200008)), 5);
    OK_REPLY(hot());
    cr_assert_eq(r32(dwi), 4242u);
    cr_assert_eq(r64(cnt), 0x1122334455667788ull);
    cr_assert_eq(r64(0x2200008), 5u);
    begin(KM_KOP_HOT, KM_KOP_READ);
    v_u32(t_sym("dirty_writeback_interval", "", 0), 0);
    v_u64(t_sym("g_counter64", "", 0), 0);
    OK_REPLY(hot());
    cr_assert_eq(rep.reads[0].scalar, 4242u);
    cr_assert_eq(rep.reads[1].scalar, 0x1122334455667788ull);
}

Test(kop, hot_misaligned_and_bytes_writes_are_refused)
{
    uint64_t cnt = pa_of("g_counter64");
    begin(KM_KOP_HOT, KM_KOP_WRITE);
    v_u32(t_sym("g_counter64", "", 1), 0xffffffffu);
    cr_assert_eq(hot(), KM_ERR_MISALIGNED);
    cr_assert(strstr(rep.reason.text, "not 4-byte aligned") != NULL, "%s", rep.reason.text);
    begin(KM_KOP_HOT, KM_KOP_WRITE);
    v_u64(t_sym("g_counter64", "", 4), 1);
    cr_assert_eq(hot(), KM_ERR_MISALIGNED, "4-aligned is not 8-aligned");
    begin(KM_KOP_HOT, KM_KOP_WRITE);
    v_or(t_addr(KM_KOP_T_PA, cnt + 2), 1);
    cr_assert_eq(hot(), KM_ERR_MISALIGNED);
    begin(KM_KOP_HOT, KM_KOP_WRITE);
    v_bytes(t_sym("init_uts_ns", "name.nodename", 0), "kt", 3);
    cr_assert_eq(hot(), KM_ERR_UNSUPPORTED);
    cr_assert(strstr(rep.reason.text, "hot Bytes writes are refused") != NULL, "%s", rep.reason.text);
    cr_assert_eq(r64(cnt), 0u, "nothing was stored");
    /* hot reads may be misaligned or Bytes (documented: they may tear) */
    begin(KM_KOP_HOT, KM_KOP_READ);
    v_u32(t_sym("g_counter64", "", 1), 0);
    OK_REPLY(hot());
}

Test(kop, hot_or_u32_by_compare_and_swap)
{
    uint64_t dwi = pa_of("dirty_writeback_interval");
    w32(dwi, 0x01);
    begin(KM_KOP_HOT, KM_KOP_WRITE);
    v_or(t_sym("dirty_writeback_interval", "", 0), 0x10);
    OK_REPLY(hot());
    cr_assert_eq(r32(dwi), 0x11u);
    /* bounded retries: with no attempt allowed, nothing is stored and the status says why */
    ctx.cas_max_tries = 0;
    req.entries[0].value.scalar = 0x100;
    cr_assert_eq(hot(), KM_ERR_BUSY);
    cr_assert(strstr(rep.reason.text, "compare-and-swap lost 0 times") != NULL, "%s", rep.reason.text);
    cr_assert_eq(rep.writes_applied, 0u);
    cr_assert_eq(r32(dwi), 0x11u);
}

/* A guest-side writer: atomic increments of the low 16 bits, while the host ORs high bits in. */
typedef struct {
    _Atomic uint32_t *word;
    uint32_t n;
    atomic_bool go;
    atomic_bool done;
} writer_arg;

static void *writer(void *p)
{
    writer_arg *a = p;
    while (!atomic_load(&a->go)) {
    }
    for (uint32_t i = 0; i < a->n; i++) {
        atomic_fetch_add_explicit(a->word, 1u, memory_order_relaxed);
    }
    atomic_store(&a->done, true);
    return NULL;
}

static void concurrent_or(uint32_t max_tries, uint32_t *busy)
{
    uint64_t pa = 0x2500000; /* 4-aligned word in RAM */
    w32(pa, 0);
    writer_arg a = {.word = (_Atomic uint32_t *)(void *)&ram[pa], .n = 60000};
    atomic_init(&a.done, false);
    atomic_init(&a.go, false);
    ctx.cas_max_tries = max_tries;
    pthread_t th;
    cr_assert_eq(pthread_create(&th, NULL, writer, &a), 0);
    uint32_t rounds = 0, ok = 0, overlapped = 0;
    *busy = 0;
    atomic_store(&a.go, true);
    /* keep ORing while the writer runs (and at least 32 times) */
    while (!atomic_load(&a.done) || rounds < 32) {
        begin(KM_KOP_HOT, KM_KOP_WRITE);
        v_or(t_addr(KM_KOP_T_DIRECT, dm(pa)), 1u << (16 + (rounds % 16)));
        km_status st = hot();
        if (!atomic_load(&a.done)) {
            overlapped++;
        }
        if (st == KM_OK) {
            ok++;
            cr_assert_eq(rep.writes_applied, 1u);
        } else {
            cr_assert_eq(st, KM_ERR_BUSY, "%s", rep.reason.text);
            cr_assert_eq(rep.writes_applied, 0u);
            (*busy)++;
        }
        rounds++;
    }
    pthread_join(th, NULL);
    cr_log_info("max_tries %u: %u ORs, %u while the writer ran, %u lost the race", max_tries, rounds, overlapped,
                *busy);
    uint32_t v = r32(pa);
    cr_assert_eq(v & 0xffffu, 60000u & 0xffffu, "no guest increment lost (got %u)", v & 0xffffu);
    cr_assert_gt(ok, 0u);
    if (max_tries >= 1024) {
        cr_assert_eq(*busy, 0u);
        cr_assert_eq(v >> 16, 0xffffu, "every host OR landed: 0x%08x", v);
    }
}

Test(kop, hot_or_u32_against_a_concurrent_writer)
{
    uint32_t busy = 0;
    concurrent_or(KM_KOP_CAS_MAX_TRIES, &busy);
    /* one attempt per OR: some may lose to the writer and say so; none may lose the writer's updates */
    concurrent_or(1, &busy);
}

/* ------------------------------------------------------------------ capacity, resolve, wire integration */

Test(kop, reply_storage_capacity)
{
    km_kop_reply_init(&rep, data, 4);
    begin(KM_KOP_COLD, KM_KOP_READ);
    km_kop_entry *e = t_sym("init_uts_ns", "name.nodename", 0);
    e->value.kind = KM_KOP_V_BYTES;
    e->value.len = 8;
    cr_assert_eq(cold(), KM_ERR_CAPACITY);
    cr_assert(strstr(rep.reason.text, "data storage is full") != NULL);
    km_kop_reply_init(&rep, data, sizeof(data));
    OK_REPLY(cold());
}

Test(kop, resolve_reports_member_size_and_address)
{
    km_kop_target t;
    memset(&t, 0, sizeof(t));
    t.kind = KM_KOP_T_SYMBOL;
    strcpy(t.name, "init_uts_ns");
    strcpy(t.field, "name.nodename");
    km_kop_where w;
    km_kop_msg why;
    cr_assert_eq(km_kop_resolve(&ctx, &t, KM_KOP_READ, 1, &w, &why), KM_OK);
    cr_assert(w.has_member);
    cr_assert_eq(w.member_size, 65u);
    cr_assert(w.member_is_array);
    cr_assert_eq(w.kva, kva_of("init_uts_ns") + off("uts_namespace.name.nodename"));
    cr_assert_eq(w.pa, pa_of("init_uts_ns") + off("uts_namespace.name.nodename"));
    t.field[0] = 0;
    strcpy(t.name, "dirty_writeback_interval");
    cr_assert_eq(km_kop_resolve(&ctx, &t, KM_KOP_READ, 1, &w, NULL), KM_OK);
    cr_assert_eq(w.sym_size, 4u);
    /* PA targets need no guest kernel at all */
    km_kop_ctx bare;
    km_kop_ctx_init(&bare, &mem, NULL, NULL, NULL);
    begin(KM_KOP_HOT, KM_KOP_READ);
    v_u32(t_addr(KM_KOP_T_PA, pa_of("dirty_writeback_interval")), 0);
    w32(pa_of("dirty_writeback_interval"), 500);
    cr_assert_eq(km_kop_dispatch_hot(&bare, &req, &rep), KM_OK);
    cr_assert_eq(rep.reads[0].scalar, 500u);
    begin(KM_KOP_HOT, KM_KOP_READ);
    v_u32(t_sym("dirty_writeback_interval", "", 0), 0);
    cr_assert_eq(km_kop_dispatch_hot(&bare, &req, &rep), KM_ERR_NOT_READY);
}

Test(kop, read_only_memory_refuses_writes)
{
    km_mem ro;
    km_mem_init(&ro);
    cr_assert_eq(km_mem_add_region(&ro, 0, RAM_SIZE, ram, false), KM_OK);
    km_kop_ctx c2;
    km_kop_ctx_init(&c2, &ro, NULL, NULL, NULL);
    begin(KM_KOP_COLD, KM_KOP_WRITE);
    v_u32(t_addr(KM_KOP_T_PA, 0x2600000), 1);
    cr_assert_eq(km_kop_dispatch_cold(&c2, &gate, &tok, &req, &rep), KM_ERR_STATE);
    cr_assert(strstr(rep.reason.text, "read-only") != NULL, "%s", rep.reason.text);
    req.mode = KM_KOP_HOT;
    cr_assert_eq(km_kop_dispatch_hot(&c2, &req, &rep), KM_ERR_STATE);
    cr_assert_eq(r32(0x2600000), 0u);
}

Test(kop, wire_request_dispatch_and_reply)
{
    static uint8_t f[8192], g[8192], d2[256];
    begin(KM_KOP_COLD, KM_KOP_WRITE);
    v_u32(t_sym("dirty_writeback_interval", "", 0), 31337);
    v_bytes(t_sym("init_uts_ns", "name.nodename", 0), "wire", 5);
    size_t n = 0, m = 0;
    cr_assert_eq(km_kop_encode_request(&req, f, sizeof(f), &n), KM_OK);
    static km_kop_request dec;
    cr_assert_eq(km_kop_decode_request(f, n, &dec, NULL), KM_OK);
    cr_assert_eq(km_kop_dispatch(&ctx, &gate, &tok, &dec, &rep), KM_OK, "%s", rep.reason.text);
    cr_assert_eq(r32(pa_of("dirty_writeback_interval")), 31337u);
    cr_assert_str_eq((const char *)&ram[pa_of("init_uts_ns") + off("uts_namespace.name.nodename")], "wire");
    cr_assert_eq(km_kop_encode_reply(&rep, g, sizeof(g), &m), KM_OK);
    km_kop_reply back;
    km_kop_reply_init(&back, d2, sizeof(d2));
    cr_assert_eq(km_kop_decode_reply(g, m, &back, NULL), KM_OK);
    cr_assert(back.success);
    cr_assert_eq(back.request_id, 42u);
    cr_assert_eq(back.writes_applied, 2u);
    /* a failing batch's reply carries index, counts and reason */
    begin(KM_KOP_COLD, KM_KOP_READ);
    v_u32(t_sym("dirty_writeback_interval", "", 0), 0);
    v_u32(t_sym("nope", "", 0), 0);
    cr_assert_neq(cold(), KM_OK);
    cr_assert_eq(km_kop_encode_reply(&rep, g, sizeof(g), &m), KM_OK);
    cr_assert_eq(km_kop_decode_reply(g, m, &back, NULL), KM_OK);
    cr_assert_not(back.success);
    cr_assert_eq(back.failed_index, 1u);
    cr_assert_eq(back.completed, 1u);
    cr_assert_eq(back.nreads, 1u);
    cr_assert_eq(back.reads[0].scalar, 31337u);
    cr_assert_str_eq(back.reason.text, "entry[1]: no symbol 'nope' in the vmlinux");
}

Test(kop, entry_check_table)
{
    /* bad enums in a hand-built request are refused, not trusted */
    begin(KM_KOP_COLD, KM_KOP_WRITE);
    km_kop_entry *e = t_addr(KM_KOP_T_PA, 0x2600000);
    e->value.kind = (km_kop_value_kind)7;
    cr_assert_eq(cold(), KM_ERR_INVALID_ARG);
    e->value.kind = KM_KOP_V_U32;
    e->target.kind = (km_kop_target_kind)9;
    cr_assert_eq(cold(), KM_ERR_INVALID_ARG);
    e->target.kind = KM_KOP_T_PA;
    e->value.scalar = 0x100000000ull;
    cr_assert_eq(cold(), KM_ERR_INVALID_ARG);
    cr_assert(strstr(rep.reason.text, "32 bits") != NULL);
    v_bytes(e, NULL, 4);
    cr_assert_eq(cold(), KM_ERR_INVALID_ARG);
    v_bytes(e, data, 0);
    cr_assert_eq(cold(), KM_ERR_INVALID_ARG);
    v_bytes(e, data, KM_KOP_BYTES_MAX + 1);
    cr_assert_eq(cold(), KM_ERR_INVALID_ARG);
    req.count = KM_KOP_MAX_ENTRIES + 1;
    cr_assert_eq(cold(), KM_ERR_INVALID_ARG);
    cr_assert(strstr(rep.reason.text, "too many entries") != NULL);
}
