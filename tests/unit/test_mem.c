/* Unit tests: modules/mem (region table, access, file backends). */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ktmon/mem.h"

/* Two regions: [0x1000, 0x2000) and [0x10000, 0x10100), backed by buffers. */
static uint8_t buf_a[0x1000] __attribute__((aligned(64)));
static uint8_t buf_b[0x100] __attribute__((aligned(64)));
static km_mem mem;

static void setup_two(void)
{
    for (size_t i = 0; i < sizeof(buf_a); i++) {
        buf_a[i] = (uint8_t)i;
    }
    memset(buf_b, 0xEE, sizeof(buf_b));
    km_mem_init(&mem);
    cr_assert_eq(km_mem_add_region(&mem, 0x1000u, sizeof(buf_a), buf_a, true), KM_OK);
    cr_assert_eq(km_mem_add_region(&mem, 0x10000u, sizeof(buf_b), buf_b, false), KM_OK);
}

TestSuite(mem, .init = setup_two);

Test(mem, reads_every_width_little_endian)
{
    uint8_t v8 = 0;
    uint16_t v16 = 0;
    uint32_t v32 = 0;
    uint64_t v64 = 0;
    cr_assert_eq(km_mem_read_u8(&mem, 0x1005u, &v8), KM_OK);
    cr_assert_eq(v8, 0x05);
    cr_assert_eq(km_mem_read_u16(&mem, 0x1010u, &v16), KM_OK);
    cr_assert_eq(v16, 0x1110);
    cr_assert_eq(km_mem_read_u32(&mem, 0x1020u, &v32), KM_OK);
    cr_assert_eq(v32, 0x23222120u);
    cr_assert_eq(km_mem_read_u64(&mem, 0x1040u, &v64), KM_OK);
    cr_assert_eq(v64, 0x4746454443424140ull);
}

Test(mem, misaligned_reads_use_the_byte_path_and_agree)
{
    uint16_t v16 = 0;
    uint32_t v32 = 0;
    uint64_t v64 = 0;
    cr_assert_eq(km_mem_read_u16(&mem, 0x1011u, &v16), KM_OK);
    cr_assert_eq(v16, 0x1211);
    cr_assert_eq(km_mem_read_u32(&mem, 0x1023u, &v32), KM_OK);
    cr_assert_eq(v32, 0x26252423u);
    cr_assert_eq(km_mem_read_u64(&mem, 0x1047u, &v64), KM_OK);
    cr_assert_eq(v64, 0x4e4d4c4b4a494847ull);
}

Test(mem, last_bytes_of_a_region_are_readable)
{
    uint64_t v64 = 0;
    uint8_t v8 = 0;
    cr_assert_eq(km_mem_read_u64(&mem, 0x1ff8u, &v64), KM_OK);
    cr_assert_eq(v64, 0xfffefdfcfbfaf9f8ull);
    cr_assert_eq(km_mem_read_u8(&mem, 0x1fffu, &v8), KM_OK);
    cr_assert_eq(v8, 0xff);
}

Test(mem, out_of_range_is_an_error_and_output_untouched)
{
    uint64_t v = 0x5555;
    uint8_t b = 0x55;
    cr_assert_eq(km_mem_read_u64(&mem, 0x0u, &v), KM_ERR_RANGE);
    cr_assert_eq(km_mem_read_u64(&mem, 0x2000u, &v), KM_ERR_RANGE);
    cr_assert_eq(km_mem_read_u8(&mem, 0x10100u, &b), KM_ERR_RANGE);
    cr_assert_eq(v, 0x5555u);
    cr_assert_eq(b, 0x55);
}

Test(mem, crossing_a_region_end_is_an_error)
{
    uint64_t v = 7;
    uint32_t w = 7;
    cr_assert_eq(km_mem_read_u64(&mem, 0x1ff9u, &v), KM_ERR_CROSSES_REGION);
    cr_assert_eq(km_mem_read_u32(&mem, 0x100feu, &w), KM_ERR_CROSSES_REGION);
    cr_assert_eq(v, 7u);
    cr_assert_eq(w, 7u);
}

Test(mem, address_plus_length_overflow_is_an_error)
{
    uint64_t v = 9;
    uint32_t idx = 0;
    cr_assert_eq(km_mem_read_u64(&mem, UINT64_MAX - 3u, &v), KM_ERR_OVERFLOW);
    cr_assert_eq(km_mem_find(&mem, 0x1000u, 0u, &idx), KM_ERR_INVALID_ARG);
    cr_assert_eq(v, 9u);
}

Test(mem, writes_land_little_endian_aligned_and_not)
{
    cr_assert_eq(km_mem_write_u32(&mem, 0x1100u, 0xdeadbeefu), KM_OK);
    cr_assert_eq(buf_a[0x100], 0xef);
    cr_assert_eq(buf_a[0x103], 0xde);
    cr_assert_eq(km_mem_write_u64(&mem, 0x1203u, 0x0102030405060708ull), KM_OK);
    for (int i = 0; i < 8; i++) {
        cr_assert_eq(buf_a[0x203 + i], 8 - i);
    }
    cr_assert_eq(km_mem_write_u16(&mem, 0x1301u, 0xa1b2u), KM_OK);
    cr_assert_eq(buf_a[0x301], 0xb2);
    cr_assert_eq(buf_a[0x302], 0xa1);
    cr_assert_eq(km_mem_write_u8(&mem, 0x1400u, 0x7fu), KM_OK);
    cr_assert_eq(buf_a[0x400], 0x7f);
}

Test(mem, write_to_read_only_region_is_refused)
{
    cr_assert_eq(km_mem_write_u32(&mem, 0x10000u, 1u), KM_ERR_STATE);
    cr_assert_eq(buf_b[0], 0xEE);
    cr_assert_eq(km_mem_write_u32(&mem, 0x3000u, 1u), KM_ERR_RANGE);
}

Test(mem, byte_reads_clip_at_region_end)
{
    uint8_t out[64];
    size_t n = 99;
    memset(out, 0, sizeof(out));
    cr_assert_eq(km_mem_read_bytes(&mem, 0x1fe0u, out, sizeof(out), &n), KM_OK);
    cr_assert_eq(n, 32u);
    cr_assert_eq(out[0], 0xe0);
    cr_assert_eq(out[31], 0xff);
    cr_assert_eq(out[32], 0);
    n = 99;
    cr_assert_eq(km_mem_read_bytes(&mem, 0x5000u, out, sizeof(out), &n), KM_ERR_RANGE);
    cr_assert_eq(n, 99u);
    cr_assert_eq(km_mem_read_bytes(&mem, 0x1000u, out, 0u, &n), KM_OK);
    cr_assert_eq(n, 0u);
}

Test(mem, byte_writes_clip_and_respect_read_only)
{
    uint8_t src[16];
    size_t n = 0;
    memset(src, 0x42, sizeof(src));
    cr_assert_eq(km_mem_write_bytes(&mem, 0x1ff8u, src, sizeof(src), &n), KM_OK);
    cr_assert_eq(n, 8u);
    cr_assert_eq(buf_a[0xfff], 0x42);
    cr_assert_eq(km_mem_write_bytes(&mem, 0x10000u, src, sizeof(src), &n), KM_ERR_STATE);
}

Test(mem, host_ptr_and_avail)
{
    volatile uint8_t *p = NULL;
    uint64_t left = 0;
    cr_assert_eq(km_mem_host_ptr(&mem, 0x1010u, 8u, &p), KM_OK);
    cr_assert_eq((const void *)p, (const void *)&buf_a[0x10]);
    cr_assert_eq(km_mem_host_ptr(&mem, 0x1ffcu, 8u, &p), KM_ERR_CROSSES_REGION);
    cr_assert_eq(km_mem_avail(&mem, 0x1ff0u, &left), KM_OK);
    cr_assert_eq(left, 0x10u);
    cr_assert_eq(km_mem_avail(&mem, 0x100ffu, &left), KM_OK);
    cr_assert_eq(left, 1u);
    cr_assert_eq(km_mem_avail(&mem, 0x2000u, &left), KM_ERR_RANGE);
    cr_assert_eq(km_mem_total(&mem), sizeof(buf_a) + sizeof(buf_b));
}

Test(mem, add_region_rejects_bad_input_and_keeps_table)
{
    uint8_t extra[16];
    cr_assert_eq(km_mem_add_region(&mem, 0x1800u, 16u, extra, true), KM_ERR_INVALID_ARG); /* order */
    cr_assert_eq(km_mem_add_region(&mem, 0x100f0u, 16u, extra, true), KM_ERR_INVALID_ARG); /* overlap */
    cr_assert_eq(km_mem_add_region(&mem, 0x20000u, 0u, extra, true), KM_ERR_INVALID_ARG);
    cr_assert_eq(km_mem_add_region(&mem, 0x20000u, 16u, NULL, true), KM_ERR_INVALID_ARG);
    cr_assert_eq(km_mem_add_region(&mem, KM_MEM_GPA_LIMIT - 8u, 16u, extra, true), KM_ERR_OVERFLOW);
    cr_assert_eq(mem.count, 2u);
    cr_assert_eq(km_mem_add_region(&mem, 0x10100u, 16u, extra, true), KM_OK); /* adjacent is fine */
}

Test(mem, table_capacity_is_enforced)
{
    static uint8_t cell[KM_MEM_MAX_REGIONS + 1][16];
    km_mem t;
    km_mem_init(&t);
    for (uint32_t i = 0; i < KM_MEM_MAX_REGIONS; i++) {
        cr_assert_eq(km_mem_add_region(&t, (uint64_t)i * 0x100u, 16u, cell[i], true), KM_OK);
    }
    cr_assert_eq(km_mem_add_region(&t, 0x100000u, 16u, cell[KM_MEM_MAX_REGIONS], true),
                 KM_ERR_CAPACITY);
    cr_assert_eq(t.count, KM_MEM_MAX_REGIONS);
}

/* ------------------------------------------------------------ file backends */

static char *tmp_file(const void *data, size_t len)
{
    char *path = strdup("/tmp/ktmon-unit-XXXXXX");
    int fd = mkstemp(path);
    cr_assert_geq(fd, 0);
    cr_assert_eq(write(fd, data, len), (ssize_t)len);
    close(fd);
    return path;
}

Test(mem_file, ram_file_with_a_hole_maps_high_ram_at_4g)
{
    static uint8_t ram[0x3000];
    for (size_t i = 0; i < sizeof(ram); i++) {
        ram[i] = (uint8_t)(i >> 8);
    }
    char *path = tmp_file(ram, sizeof(ram));
    /* Deliberately unsorted: the backend sorts. */
    km_mem_file_range layout[2] = {
        {.gpa = 0x100000000ull, .file_off = 0x2000u, .size = 0x1000u},
        {.gpa = 0x0u, .file_off = 0x0u, .size = 0x2000u},
    };
    km_mem m;
    km_error e;
    cr_assert_eq(km_mem_open_ram_file(&m, path, layout, 2u, 0u, true, &e), KM_OK);
    uint8_t b = 0;
    cr_assert_eq(km_mem_read_u8(&m, 0x1000u, &b), KM_OK);
    cr_assert_eq(b, 0x10);
    cr_assert_eq(km_mem_read_u8(&m, 0x100000000ull, &b), KM_OK);
    cr_assert_eq(b, 0x20);
    cr_assert_eq(km_mem_read_u8(&m, 0x2000u, &b), KM_ERR_RANGE); /* the hole */
    cr_assert_eq(km_mem_write_u32(&m, 0x100000004ull, 0xcafef00du), KM_OK);
    km_mem_fini(&m);
    /* The write went to the shared file. */
    FILE *f = fopen(path, "rb");
    uint32_t v = 0;
    cr_assert_eq(fseek(f, 0x2004, SEEK_SET), 0);
    cr_assert_eq(fread(&v, 4, 1, f), 1u);
    fclose(f);
    cr_assert_eq(v, 0xcafef00du);
    unlink(path);
    free(path);
}

Test(mem_file, ram_file_default_layout_uses_ram_base)
{
    static uint8_t ram[0x2000];
    ram[0x10] = 0x99;
    char *path = tmp_file(ram, sizeof(ram));
    km_mem m;
    km_error e;
    cr_assert_eq(km_mem_open_ram_file(&m, path, NULL, 0u, 0x40000000u, false, &e), KM_OK);
    uint8_t b = 0;
    cr_assert_eq(km_mem_read_u8(&m, 0x40000010u, &b), KM_OK);
    cr_assert_eq(b, 0x99);
    cr_assert_eq(km_mem_read_u8(&m, 0x10u, &b), KM_ERR_RANGE);
    cr_assert_eq(km_mem_write_u8(&m, 0x40000010u, 1u), KM_ERR_STATE);
    km_mem_fini(&m);
    unlink(path);
    free(path);
}

Test(mem_file, ram_file_range_past_file_end_is_refused)
{
    static uint8_t ram[0x1000];
    char *path = tmp_file(ram, sizeof(ram));
    km_mem_file_range layout[1] = {{.gpa = 0, .file_off = 0x800u, .size = 0x1000u}};
    km_mem m;
    km_error e;
    cr_assert_eq(km_mem_open_ram_file(&m, path, layout, 1u, 0u, false, &e), KM_ERR_RANGE);
    cr_assert_eq(e.index, 0u);
    cr_assert_eq(m.count, 0u);
    unlink(path);
    free(path);
}

Test(mem_file, missing_file_reports_errno)
{
    km_mem m;
    km_error e;
    cr_assert_eq(km_mem_open_ram_file(&m, "/nonexistent/ktmon", NULL, 0u, 0u, false, &e), KM_ERR_IO);
    cr_assert_eq(e.sys_errno, 2); /* ENOENT */
}

/* A little-endian ELF64 core with the given PT_LOADs (paddr, filesz, fill byte). */
typedef struct {
    uint64_t paddr;
    uint64_t size;
    uint8_t fill;
    uint32_t type;
} seg_spec;

static void put(uint8_t *p, uint64_t v, int n)
{
    for (int i = 0; i < n; i++) {
        p[i] = (uint8_t)(v >> (8 * i));
    }
}

static size_t build_core(uint8_t *out, size_t cap, const seg_spec *segs, int n)
{
    size_t data = 64 + 56 * (size_t)n;
    memset(out, 0, cap);
    memcpy(out, "\177ELF", 4);
    out[4] = 2;
    out[5] = 1;
    out[6] = 1;
    put(out + 16, 4, 2);  /* ET_CORE */
    put(out + 18, 62, 2); /* EM_X86_64 */
    put(out + 32, 64, 8); /* e_phoff */
    put(out + 52, 64, 2);
    put(out + 54, 56, 2);
    put(out + 56, (uint64_t)n, 2);
    for (int i = 0; i < n; i++) {
        uint8_t *ph = out + 64 + 56 * i;
        put(ph, segs[i].type ? segs[i].type : 1u, 4);
        put(ph + 8, data, 8);
        put(ph + 16, 0xffff888000000000ull + segs[i].paddr, 8);
        put(ph + 24, segs[i].paddr, 8);
        put(ph + 32, segs[i].size, 8);
        put(ph + 40, segs[i].size, 8);
        cr_assert_leq(data + segs[i].size, cap);
        memset(out + data, segs[i].fill, segs[i].size);
        data += segs[i].size;
    }
    return data;
}

Test(mem_file, elf_core_maps_pt_load_by_physical_address)
{
    static uint8_t core[0x4000];
    seg_spec segs[3] = {
        {.paddr = 0x100000000ull, .size = 0x800, .fill = 0xBB},
        {.paddr = 0x0, .size = 0x1000, .fill = 0xAA},
        {.paddr = 0x0, .size = 0x10, .fill = 0x00, .type = 4}, /* PT_NOTE: ignored */
    };
    size_t len = build_core(core, sizeof(core), segs, 3);
    char *path = tmp_file(core, len);
    km_mem m;
    km_error e;
    cr_assert_eq(km_mem_open_elf_core(&m, path, &e), KM_OK);
    cr_assert_eq(m.count, 2u);
    uint8_t b = 0;
    cr_assert_eq(km_mem_read_u8(&m, 0xfffu, &b), KM_OK);
    cr_assert_eq(b, 0xAA);
    cr_assert_eq(km_mem_read_u8(&m, 0x100000000ull, &b), KM_OK);
    cr_assert_eq(b, 0xBB);
    cr_assert_eq(km_mem_read_u8(&m, 0x1000u, &b), KM_ERR_RANGE);
    cr_assert_eq(km_mem_write_u8(&m, 0x0u, 1u), KM_ERR_STATE);
    km_mem_fini(&m);
    unlink(path);
    free(path);
}

Test(mem_file, elf_core_duplicate_kernel_segment_is_dropped)
{
    static uint8_t core[0x4000];
    seg_spec segs[2] = {
        {.paddr = 0x0, .size = 0x2000, .fill = 0x11},
        {.paddr = 0x1000, .size = 0x800, .fill = 0x11}, /* kdump's kernel-text copy */
    };
    size_t len = build_core(core, sizeof(core), segs, 2);
    char *path = tmp_file(core, len);
    km_mem m;
    km_error e;
    cr_assert_eq(km_mem_open_elf_core(&m, path, &e), KM_OK);
    cr_assert_eq(m.count, 1u);
    km_mem_fini(&m);
    unlink(path);
    free(path);
}

Test(mem_file, elf_core_corruptions_are_refused)
{
    static uint8_t core[0x4000];
    seg_spec segs[2] = {
        {.paddr = 0x0, .size = 0x1000, .fill = 0x11},
        {.paddr = 0x800, .size = 0x1000, .fill = 0x22}, /* partial overlap */
    };
    km_mem m;
    km_error e;
    size_t len = build_core(core, sizeof(core), segs, 2);
    char *path = tmp_file(core, len);
    cr_assert_eq(km_mem_open_elf_core(&m, path, &e), KM_ERR_BAD_DATA);
    unlink(path);
    free(path);

    len = build_core(core, sizeof(core), segs, 1);
    path = tmp_file(core, 100); /* truncated inside the program headers */
    cr_assert_eq(km_mem_open_elf_core(&m, path, &e), KM_ERR_BAD_DATA);
    unlink(path);
    free(path);

    put(core + 64 + 32, 0x100000, 8); /* filesz beyond the file */
    path = tmp_file(core, len);
    cr_assert_eq(km_mem_open_elf_core(&m, path, &e), KM_ERR_BAD_DATA);
    unlink(path);
    free(path);

    len = build_core(core, sizeof(core), segs, 1);
    core[4] = 1; /* ELFCLASS32 */
    path = tmp_file(core, len);
    cr_assert_eq(km_mem_open_elf_core(&m, path, &e), KM_ERR_UNSUPPORTED);
    unlink(path);
    free(path);

    core[4] = 2;
    put(core + 56, 0xffff, 2); /* PN_XNUM without section headers */
    path = tmp_file(core, len);
    cr_assert_eq(km_mem_open_elf_core(&m, path, &e), KM_ERR_BAD_DATA);
    cr_assert_eq(m.count, 0u);
    unlink(path);
    free(path);
}

/* The layout checks of mem_layout.c, through the in-memory entry point. */
Test(mem_file, elf_core_buffer_merges_contiguous_segments_and_names_the_header)
{
    static uint8_t core[0x4000];
    seg_spec segs[2] = {
        {.paddr = 0x0, .size = 0x1000, .fill = 0x11},
        {.paddr = 0x1000, .size = 0x1000, .fill = 0x22}, /* contiguous in PA and in the file */
    };
    km_mem m;
    km_error e = {KM_OK, 0, 0u, 0u};
    size_t len = build_core(core, sizeof(core), segs, 2);
    cr_assert_eq(km_mem_open_elf_core_buffer(&m, core, len, &e), KM_OK);
    cr_assert_eq(m.count, 1u);
    cr_assert_eq(m.regions[0].size, 0x2000u);
    uint8_t b = 0;
    cr_assert_eq(km_mem_read_u8(&m, 0x1fffu, &b), KM_OK);
    cr_assert_eq(b, 0x22);

    /* a segment that ends beyond the 2^52 physical-address limit is refused by the
     * parser, naming its GPA and program header */
    put(core + 64 + 56 + 24, KM_MEM_GPA_LIMIT - 0x800u, 8);
    cr_assert_eq(km_mem_open_elf_core_buffer(&m, core, len, &e), KM_ERR_BAD_DATA);
    cr_assert_eq(e.addr, KM_MEM_GPA_LIMIT - 0x800u);
    cr_assert_eq(e.index, 1u);
    cr_assert_eq(m.count, 0u);
}

Test(mem_file, elf_core_buffer_without_data_or_with_too_many_segments_is_refused)
{
    static uint8_t core[0x10000];
    seg_spec note[1] = {{.paddr = 0x0, .size = 0x10, .fill = 0x0, .type = 4}};
    km_mem m;
    km_error e = {KM_OK, 0, 0u, 0u};
    size_t len = build_core(core, sizeof(core), note, 1);
    cr_assert_eq(km_mem_open_elf_core_buffer(&m, core, len, &e), KM_ERR_BAD_DATA); /* no PT_LOAD */
    cr_assert_eq(km_mem_open_elf_core_buffer(&m, NULL, len, &e), KM_ERR_INVALID_ARG);
    cr_assert_eq(km_mem_open_elf_core_buffer(&m, core, 63u, &e), KM_ERR_BAD_DATA);  /* short */

    /* KM_MEM_MAX_REGIONS + 1 segments with gaps between them: too many to register */
    seg_spec many[KM_MEM_MAX_REGIONS + 1u];
    for (uint32_t i = 0; i < KM_MEM_MAX_REGIONS + 1u; i++) {
        many[i] = (seg_spec){.paddr = (uint64_t)i * 0x2000u, .size = 0x100, .fill = (uint8_t)i};
    }
    len = build_core(core, sizeof(core), many, (int)(KM_MEM_MAX_REGIONS + 1u));
    cr_assert_eq(km_mem_open_elf_core_buffer(&m, core, len, &e), KM_ERR_CAPACITY);
    cr_assert_eq(e.index, KM_MEM_MAX_REGIONS);
    len = build_core(core, sizeof(core), many, (int)KM_MEM_MAX_REGIONS);
    cr_assert_eq(km_mem_open_elf_core_buffer(&m, core, len, &e), KM_OK);
    cr_assert_eq(m.count, KM_MEM_MAX_REGIONS);
    uint8_t b = 0;
    cr_assert_eq(km_mem_read_u8(&m, 31u * 0x2000u + 0xffu, &b), KM_OK);
    cr_assert_eq(b, 31u);
}

Test(mem_file, elf_core_buffer_reads_the_count_from_section_zero_under_pn_xnum)
{
    static uint8_t core[0x4000];
    seg_spec segs[1] = {{.paddr = 0x3000, .size = 0x100, .fill = 0x5A}};
    km_mem m;
    km_error e = {KM_OK, 0, 0u, 0u};
    size_t len = build_core(core, sizeof(core), segs, 1);
    /* section header 0 after the data: sh_info (offset 44) holds the real count */
    size_t shoff = len;
    memset(core + shoff, 0, 64);
    put(core + shoff + 44, 1u, 4);
    put(core + 40, shoff, 8);
    put(core + 56, 0xffff, 2);
    cr_assert_eq(km_mem_open_elf_core_buffer(&m, core, shoff + 64u, &e), KM_OK);
    cr_assert_eq(m.count, 1u);
    cr_assert_eq(m.regions[0].gpa, 0x3000u);
    /* a count beyond the file's program headers is refused */
    put(core + shoff + 44, 1000u, 4);
    cr_assert_eq(km_mem_open_elf_core_buffer(&m, core, shoff + 64u, &e), KM_ERR_BAD_DATA);
}

Test(mem_file, ram_file_range_beyond_the_physical_address_limit_overflows)
{
    static uint8_t ram[0x2000];
    char *path = tmp_file(ram, sizeof(ram));
    km_mem_file_range layout[1] = {{.gpa = KM_MEM_GPA_LIMIT - 0x1000u, .file_off = 0u, .size = 0x2000u}};
    km_mem m;
    km_error e = {KM_OK, 0, 0u, 0u};
    cr_assert_eq(km_mem_open_ram_file(&m, path, layout, 1u, 0u, false, &e), KM_ERR_OVERFLOW);
    cr_assert_eq(e.addr, KM_MEM_GPA_LIMIT - 0x1000u);
    cr_assert_eq(e.index, 0u);
    cr_assert_eq(m.count, 0u);
    cr_assert_eq(km_mem_open_ram_file(&m, path, NULL, 0u, KM_MEM_GPA_LIMIT - 0x1000u, false, &e),
                 KM_ERR_OVERFLOW);
    unlink(path);
    free(path);
}
