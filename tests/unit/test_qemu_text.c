/* Unit tests: hal/qemu's parsers of monitor text (no QEMU needed): JSON scanning, `info mtree -f`,
 * `info registers`, gdbstub stop replies. */
#include <criterion/criterion.h>
#include <string.h>

#include "ktmon/qemu.h"

Test(qemu_json, finds_top_level_keys_and_skips_nested_ones)
{
    const char *j = "{\"a\": {\"return\": 1}, \"return\": {\"x\": [1, \"}\", 3]}, \"s\": \"q\\\"x\"}";
    const char *v = NULL;
    size_t n = 0;
    cr_assert_eq(km_json_find(j, strlen(j), "return", &v, &n), KM_OK);
    cr_assert_eq(n, strlen("{\"x\": [1, \"}\", 3]}"));
    cr_assert_eq(strncmp(v, "{\"x\"", 4), 0);
    cr_assert_eq(km_json_find(j, strlen(j), "s", &v, &n), KM_OK);
    char out[16];
    size_t len = 0;
    cr_assert_eq(km_json_unescape(v, n, out, sizeof(out), &len), KM_OK);
    cr_assert_str_eq(out, "q\"x");
    cr_assert_eq(km_json_find(j, strlen(j), "missing", &v, &n), KM_ERR_NO_SYMBOL);
    cr_assert_eq(km_json_find(j, strlen(j), "x", &v, &n), KM_ERR_NO_SYMBOL, "nested keys are not top level");
}

Test(qemu_json, malformed_input_is_bad_data)
{
    const char *v = NULL;
    size_t n = 0;
    const char *bad[] = {"", "[1]", "{\"a\" 1}", "{\"a\": }", "{\"a\": \"unterminated}", "{\"a\": {\"b\": 1}", "{\"a\": 1,"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        cr_assert_eq(km_json_find(bad[i], strlen(bad[i]), "zz", &v, &n), KM_ERR_BAD_DATA, "input %zu: %s", i, bad[i]);
    }
    char out[8];
    cr_assert_eq(km_json_unescape("\"\\u00zz\"", 8, out, sizeof(out), NULL), KM_ERR_BAD_DATA);
    cr_assert_eq(km_json_unescape("\"abcdefghij\"", 12, out, sizeof(out), NULL), KM_ERR_CAPACITY);
    cr_assert_eq(km_json_unescape("noquotes", 8, out, sizeof(out), NULL), KM_ERR_BAD_DATA);
}

Test(qemu_json, escapes_decode)
{
    char out[32];
    const char *t = "\"a\\nb\\tc\\\\d\\/e\\u0041\"";
    cr_assert_eq(km_json_unescape(t, strlen(t), out, sizeof(out), NULL), KM_OK);
    cr_assert_str_eq(out, "a\nb\tc\\d/eA");
}

/* As QEMU 7.2 prints it for q35 with 3 GiB in memory-backend-file "mem" (abridged). */
static const char MTREE[] =
    "FlatView #0\n"
    " AS \"I/O\", root: io\n"
    " Root memory region: io\n"
    "  0000000000000000-0000000000000007 (prio 0, i/o): dma-chan\n"
    "\n"
    "FlatView #1\n"
    " AS \"memory\", root: system\n"
    " AS \"cpu-memory-0\", root: system\n"
    " Root memory region: system\n"
    "  0000000000000000-000000000009ffff (prio 0, ram): mem\n"
    "  00000000000a0000-00000000000bffff (prio 1, i/o): vga-lowmem\n"
    "  00000000000c0000-00000000000dffff (prio 0, rom): mem @00000000000c0000\n"
    "  00000000000e0000-00000000000fffff (prio 0, ram): mem @00000000000e0000\n"
    "  0000000000100000-000000007fffffff (prio 0, ram): mem @0000000000100000\n"
    "  00000000fec00000-00000000fec00fff (prio 0, i/o): ioapic\n"
    "  0000000100000000-000000013fffffff (prio 0, ram): mem @0000000080000000\n"
    "  0000000140000000-000000014000ffff (prio 0, ram): mem2-something\n"
    "\n"
    "FlatView #2\n"
    " AS \"other\", root: system\n"
    "  0000000200000000-00000002ffffffff (prio 0, ram): mem @00000000c0000000\n";

Test(qemu_mtree, ram_ranges_of_the_backend_sorted_and_merged)
{
    km_qemu_ram_range r[8];
    uint32_t n = 0;
    cr_assert_eq(km_qemu_parse_mtree(MTREE, "mem", r, 8, &n), KM_OK);
    /* 0-9ffff and e0000-7fffffff are not contiguous (the vga/rom hole): 3 ranges, the other view ignored */
    cr_assert_eq(n, 3u);
    cr_assert_eq(r[0].gpa, 0u);
    cr_assert_eq(r[0].size, 0xa0000u);
    cr_assert_eq(r[1].gpa, 0xe0000u);
    cr_assert_eq(r[1].file_off, 0xe0000u);
    cr_assert_eq(r[1].size, 0x80000000u - 0xe0000u);
    cr_assert_eq(r[2].gpa, 0x100000000ull);
    cr_assert_eq(r[2].file_off, 0x80000000u);
    cr_assert_eq(r[2].size, 0x40000000u);
}

Test(qemu_mtree, unknown_backend_and_capacity)
{
    km_qemu_ram_range r[8];
    uint32_t n = 0;
    cr_assert_eq(km_qemu_parse_mtree(MTREE, "nosuch", r, 8, &n), KM_ERR_NO_SYMBOL);
    cr_assert_eq(km_qemu_parse_mtree(MTREE, "mem", r, 2, &n), KM_ERR_CAPACITY);
    cr_assert_eq(km_qemu_parse_mtree("", "mem", r, 8, &n), KM_ERR_NO_SYMBOL);
}

Test(qemu_regs, cr3_and_cr4_from_info_registers)
{
    const char *t = "RAX=0000000000000000 RBX=ffffffff8a4116c0\nRIP=ffffffff8a0e8d4e RFL=00000246\n"
                    "CR0=80050033 CR2=00007f2b6c7c8000 CR3=0000000002a0e000 CR4=00350ef0\nDR0=0000000000000000\n";
    uint64_t cr3 = 0, cr4 = 0;
    cr_assert_eq(km_qemu_parse_x86_regs(t, &cr3, &cr4), KM_OK);
    cr_assert_eq(cr3, 0x2a0e000u);
    cr_assert_eq(cr4, 0x350ef0u);
    cr3 = 7;
    cr_assert_neq(km_qemu_parse_x86_regs("XCR3=1 CR4=2", &cr3, &cr4), KM_OK, "XCR3 is not CR3");
    cr_assert_neq(km_qemu_parse_x86_regs("CR3=zz CR4=2", &cr3, &cr4), KM_OK);
    cr_assert_eq(cr3, 7u, "untouched on failure");
}

Test(qemu_gdb, stop_replies)
{
    km_gdb_stop s;
    cr_assert_eq(km_gdb_parse_stop("T05thread:p01.02;watch:ffff888004602b90;", &s), KM_OK);
    cr_assert(s.watch);
    cr_assert_eq(s.watch_addr, 0xffff888004602b90ull);
    cr_assert_eq(s.thread, 1);
    cr_assert_eq(s.signal, 5u);
    cr_assert_eq(km_gdb_parse_stop("T02thread:01;", &s), KM_OK);
    cr_assert(!s.watch);
    cr_assert_eq(s.thread, 0);
    cr_assert_eq(km_gdb_parse_stop("S05", &s), KM_OK);
    cr_assert_eq(s.thread, -1);
    cr_assert_eq(km_gdb_parse_stop("W00", &s), KM_OK);
    cr_assert(s.exited);
    cr_assert_eq(km_gdb_parse_stop("OK", &s), KM_ERR_PROTOCOL);
    cr_assert_eq(km_gdb_parse_stop("T0", &s), KM_ERR_PROTOCOL);
    cr_assert_eq(km_gdb_parse_stop("T05watch", &s), KM_ERR_PROTOCOL);
}
