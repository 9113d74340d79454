/* Unit tests: modules/ksym (vmlinux .symtab through libelf, System.map).
 *
 * Inputs: the committed fixtures (tests/fixtures/ksym_btf, made by gen.sh
 * with clang/ld.lld/pahole) and ELF images assembled here byte by byte, so
 * each odd case (duplicates, undefined and empty names, a missing .symtab,
 * a wrong machine, a truncated file) is exactly what the test says. */
#include <criterion/criterion.h>
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ktmon/ksym.h"
#include "modules/ksym/ksym_int.h"
#include "tests/fixtures/ksym_btf/fixtures.h"

/* ---------------------------------------------------------------- ELF builder */

typedef struct tsym {
    const char *name; /* NULL: st_name 0 */
    uint64_t value;
    uint64_t size;
    unsigned char bind;
    unsigned char type;
    uint16_t shndx;
} tsym;

enum { SEC_NULL, SEC_TEXT, SEC_DATA, SEC_BSS, SEC_RODATA, SEC_SYMTAB, SEC_STRTAB, SEC_SHSTRTAB, SEC_N };

typedef struct tbuild {
    uint16_t machine;
    unsigned char elf_class;
    bool no_symtab;           /* .symtab becomes SHT_PROGBITS */
    bool unterminated_strtab;
    uint32_t bad_name_sym;    /* 1-based symbol index whose st_name is out of range, 0: none */
    uint64_t bad_entsize;
} tbuild;

typedef struct tbuf {
    uint8_t *p;
    size_t len;
} tbuf;

static void put(tbuf *b, size_t off, const void *src, size_t n)
{
    cr_assert_leq(off + n, b->len);
    memcpy(b->p + off, src, n);
}

/* An ELF64 little-endian ET_EXEC image with the given symbols (index 0 is
 * the null symbol, added here). */
static tbuf build_elf(const tbuild *o, const tsym *syms, size_t nsyms)
{
    static const char shstr[] = "\0.text\0.data\0.bss\0.rodata\0.symtab\0.strtab\0.shstrtab";
    const uint32_t shname[SEC_N] = {0, 1, 7, 13, 18, 26, 34, 42};
    size_t strcap = 64;
    for (size_t i = 0; i < nsyms; i++) {
        strcap += (syms[i].name != NULL) ? strlen(syms[i].name) + 1 : 0;
    }
    char *strtab = calloc(1, strcap);
    size_t slen = 1;
    Elf64_Sym *st = calloc(nsyms + 1, sizeof(Elf64_Sym));
    for (size_t i = 0; i < nsyms; i++) {
        Elf64_Sym *s = &st[i + 1];
        if (syms[i].name != NULL) {
            size_t n = strlen(syms[i].name) + 1;
            cr_assert_lt(slen + n, strcap);
            memcpy(strtab + slen, syms[i].name, n);
            s->st_name = (Elf64_Word)slen;
            slen += n;
        }
        if (o->bad_name_sym == i + 1) {
            s->st_name = 100000;
        }
        s->st_value = syms[i].value;
        s->st_size = syms[i].size;
        s->st_info = (unsigned char)ELF64_ST_INFO(syms[i].bind, syms[i].type);
        s->st_shndx = syms[i].shndx;
    }
    if (o->unterminated_strtab) {
        strtab[slen] = 'X';
        slen++;
    }
    size_t symsz = (nsyms + 1) * sizeof(Elf64_Sym);
    size_t off_text = 64, off_data = 80, off_ro = 96, off_sym = 112;
    size_t off_str = off_sym + symsz;
    size_t off_shs = off_str + slen;
    size_t off_sh = (off_shs + sizeof(shstr) + 7) & ~(size_t)7;
    tbuf b = {NULL, off_sh + SEC_N * sizeof(Elf64_Shdr)};
    b.p = calloc(1, b.len);

    Elf64_Ehdr eh;
    memset(&eh, 0, sizeof(eh));
    memcpy(eh.e_ident, ELFMAG, SELFMAG);
    eh.e_ident[EI_CLASS] = o->elf_class ? o->elf_class : ELFCLASS64;
    eh.e_ident[EI_DATA] = ELFDATA2LSB;
    eh.e_ident[EI_VERSION] = EV_CURRENT;
    eh.e_type = ET_EXEC;
    eh.e_machine = o->machine ? o->machine : EM_X86_64;
    eh.e_version = EV_CURRENT;
    eh.e_ehsize = sizeof(Elf64_Ehdr);
    eh.e_shoff = off_sh;
    eh.e_shentsize = sizeof(Elf64_Shdr);
    eh.e_shnum = SEC_N;
    eh.e_shstrndx = SEC_SHSTRTAB;
    put(&b, 0, &eh, sizeof(eh));
    put(&b, off_sym, st, symsz);
    put(&b, off_str, strtab, slen);
    put(&b, off_shs, shstr, sizeof(shstr));

    Elf64_Shdr sh[SEC_N];
    memset(sh, 0, sizeof(sh));
    for (int i = 0; i < SEC_N; i++) {
        sh[i].sh_name = shname[i];
        sh[i].sh_addralign = 1;
    }
    sh[SEC_TEXT].sh_type = SHT_PROGBITS;
    sh[SEC_TEXT].sh_flags = SHF_ALLOC | SHF_EXECINSTR;
    sh[SEC_TEXT].sh_addr = 0xffffffff81000000u;
    sh[SEC_TEXT].sh_offset = off_text;
    sh[SEC_TEXT].sh_size = 16;
    sh[SEC_DATA].sh_type = SHT_PROGBITS;
    sh[SEC_DATA].sh_flags = SHF_ALLOC | SHF_WRITE;
    sh[SEC_DATA].sh_addr = 0xffffffff82000000u;
    sh[SEC_DATA].sh_offset = off_data;
    sh[SEC_DATA].sh_size = 16;
    sh[SEC_BSS].sh_type = SHT_NOBITS;
    sh[SEC_BSS].sh_flags = SHF_ALLOC | SHF_WRITE;
    sh[SEC_BSS].sh_addr = 0xffffffff83000000u;
    sh[SEC_BSS].sh_offset = off_ro;
    sh[SEC_BSS].sh_size = 4096;
    sh[SEC_RODATA].sh_type = SHT_PROGBITS;
    sh[SEC_RODATA].sh_flags = SHF_ALLOC;
    sh[SEC_RODATA].sh_addr = 0xffffffff82800000u;
    sh[SEC_RODATA].sh_offset = off_ro;
    sh[SEC_RODATA].sh_size = 16;
    sh[SEC_SYMTAB].sh_type = o->no_symtab ? SHT_PROGBITS : SHT_SYMTAB;
    sh[SEC_SYMTAB].sh_offset = off_sym;
    sh[SEC_SYMTAB].sh_size = symsz;
    sh[SEC_SYMTAB].sh_link = SEC_STRTAB;
    sh[SEC_SYMTAB].sh_info = 1;
    sh[SEC_SYMTAB].sh_entsize = o->bad_entsize ? o->bad_entsize : sizeof(Elf64_Sym);
    sh[SEC_SYMTAB].sh_addralign = 8;
    sh[SEC_STRTAB].sh_type = SHT_STRTAB;
    sh[SEC_STRTAB].sh_offset = off_str;
    sh[SEC_STRTAB].sh_size = slen;
    sh[SEC_SHSTRTAB].sh_type = SHT_STRTAB;
    sh[SEC_SHSTRTAB].sh_offset = off_shs;
    sh[SEC_SHSTRTAB].sh_size = sizeof(shstr);
    put(&b, off_sh, sh, sizeof(sh));
    free(st);
    free(strtab);
    return b;
}

#define G STB_GLOBAL
#define L STB_LOCAL
#define W STB_WEAK

/* The standard symbol set of most tests. */
static const tsym std_syms[] = {
    {"startup_64", 0xffffffff81000000u, 0, G, STT_NOTYPE, SEC_TEXT},
    {"_text", 0xffffffff81000000u, 0, G, STT_NOTYPE, SEC_TEXT},
    {"first_fn", 0xffffffff81000000u, 0x40, L, STT_FUNC, SEC_TEXT},
    {"second_fn", 0xffffffff81000040u, 0x20, G, STT_FUNC, SEC_TEXT},
    {"data_obj", 0xffffffff82000000u, 8, G, STT_OBJECT, SEC_DATA},
    {"local_data", 0xffffffff82000010u, 4, L, STT_OBJECT, SEC_DATA},
    {"ro_obj", 0xffffffff82800000u, 16, G, STT_OBJECT, SEC_RODATA},
    {"bss_obj", 0xffffffff83000000u, 64, G, STT_OBJECT, SEC_BSS},
    {"weak_fn", 0xffffffff81000080u, 4, W, STT_FUNC, SEC_TEXT},
    {"weak_obj", 0xffffffff82000020u, 4, W, STT_OBJECT, SEC_DATA},
    {"abs_sym", 0x1000u, 0, G, STT_NOTYPE, SHN_ABS},
    {"undef_sym", 0, 0, G, STT_NOTYPE, SHN_UNDEF},
    {NULL, 0xffffffff81000010u, 0, L, STT_SECTION, SEC_TEXT},
    {"main.c", 0, 0, L, STT_FILE, SHN_ABS},
    {"last_bss", 0xffffffff83000f00u, 0x100, L, STT_OBJECT, SEC_BSS},
};

static km_ksym tab;
static km_ksym_error kerr;

static void load_std(void)
{
    tbuild o = {0};
    tbuf b = build_elf(&o, std_syms, sizeof(std_syms) / sizeof(std_syms[0]));
    km_status st = km_ksym_load_elf_buffer(&tab, b.p, b.len, NULL, &kerr);
    char msg[256];
    cr_assert_eq(st, KM_OK, "load: %s", km_ksym_strerror(&kerr, msg, sizeof(msg)));
    free(b.p); /* the table must not depend on the buffer */
}

static void unload(void)
{
    km_ksym_fini(&tab);
}

TestSuite(ksym, .init = load_std, .fini = unload);

Test(ksym, lookup_by_name_gives_address_size_and_nm_type)
{
    km_ksym_sym s;
    cr_assert_eq(km_ksym_lookup(&tab, "second_fn", &s), KM_OK);
    cr_assert_eq(s.addr, 0xffffffff81000040u);
    cr_assert_eq(s.size, 0x20u);
    cr_assert_eq(s.type, 'T');
    cr_assert(s.size_known);
    cr_assert_str_eq(s.name, "second_fn");
    cr_assert_eq(s.same_name, 0u);
    cr_assert_eq(km_ksym_lookup(&tab, "first_fn", &s), KM_OK);
    cr_assert_eq(s.type, 't');
    cr_assert_eq(km_ksym_lookup(&tab, "data_obj", &s), KM_OK);
    cr_assert_eq(s.type, 'D');
    cr_assert_eq(km_ksym_lookup(&tab, "local_data", &s), KM_OK);
    cr_assert_eq(s.type, 'd');
    cr_assert_eq(km_ksym_lookup(&tab, "ro_obj", &s), KM_OK);
    cr_assert_eq(s.type, 'R');
    cr_assert_eq(km_ksym_lookup(&tab, "bss_obj", &s), KM_OK);
    cr_assert_eq(s.type, 'B');
    cr_assert_eq(s.addr, 0xffffffff83000000u);
    cr_assert_eq(km_ksym_lookup(&tab, "last_bss", &s), KM_OK);
    cr_assert_eq(s.type, 'b');
    cr_assert_eq(km_ksym_lookup(&tab, "weak_fn", &s), KM_OK);
    cr_assert_eq(s.type, 'W');
    cr_assert_eq(km_ksym_lookup(&tab, "weak_obj", &s), KM_OK);
    cr_assert_eq(s.type, 'V');
    cr_assert_eq(km_ksym_lookup(&tab, "abs_sym", &s), KM_OK);
    cr_assert_eq(s.type, 'A');
    cr_assert_eq(s.addr, 0x1000u);
    uint64_t a = 0;
    cr_assert_eq(km_ksym_addr(&tab, "_text", &a), KM_OK);
    cr_assert_eq(a, 0xffffffff81000000u);
}

Test(ksym, missing_names_are_no_symbol_and_leave_output_alone)
{
    km_ksym_sym s;
    memset(&s, 0x5a, sizeof(s));
    km_ksym_sym before = s;
    uint64_t a = 77;
    cr_assert_eq(km_ksym_lookup(&tab, "no_such_symbol", &s), KM_ERR_NO_SYMBOL);
    cr_assert_eq(km_ksym_lookup(&tab, "second_f", &s), KM_ERR_NO_SYMBOL);   /* prefix */
    cr_assert_eq(km_ksym_lookup(&tab, "second_fnx", &s), KM_ERR_NO_SYMBOL); /* extension */
    cr_assert_eq(km_ksym_lookup(&tab, "", &s), KM_ERR_NO_SYMBOL);
    cr_assert_eq(km_ksym_lookup(&tab, NULL, &s), KM_ERR_INVALID_ARG);
    cr_assert_eq(memcmp(&s, &before, sizeof(s)), 0);
    cr_assert_eq(km_ksym_addr(&tab, "nope", &a), KM_ERR_NO_SYMBOL);
    cr_assert_eq(a, 77u);
}

Test(ksym, undefined_and_empty_names_are_skipped)
{
    km_ksym_sym s;
    cr_assert_eq(km_ksym_lookup(&tab, "undef_sym", &s), KM_ERR_NO_SYMBOL);
    /* 15 input symbols: the undefined one and the unnamed section symbol are dropped. */
    cr_assert_eq(km_ksym_count(&tab), 13u);
    /* STT_FILE is found by name but is not an address. */
    cr_assert_eq(km_ksym_lookup(&tab, "main.c", &s), KM_OK);
    uint64_t off = 0;
    cr_assert_eq(km_ksym_lookup_addr(&tab, 0x10u, &s, &off), KM_ERR_NO_SYMBOL);
}

Test(ksym, address_lookup_finds_nearest_preceding_symbol)
{
    km_ksym_sym s;
    uint64_t off = 0;
    cr_assert_eq(km_ksym_lookup_addr(&tab, 0xffffffff81000044u, &s, &off), KM_OK);
    cr_assert_str_eq(s.name, "second_fn");
    cr_assert_eq(off, 4u);
    cr_assert_eq(km_ksym_lookup_addr(&tab, 0xffffffff81000040u, &s, &off), KM_OK);
    cr_assert_str_eq(s.name, "second_fn");
    cr_assert_eq(off, 0u);
    cr_assert_eq(km_ksym_lookup_addr(&tab, 0xffffffff8100003fu, &s, &off), KM_OK);
    cr_assert_str_eq(s.name, "first_fn");
    cr_assert_eq(off, 0x3fu);
}

Test(ksym, address_lookup_boundaries)
{
    km_ksym_sym s;
    uint64_t off = 99;
    /* Below the lowest symbol (abs_sym at 0x1000). */
    cr_assert_eq(km_ksym_lookup_addr(&tab, 0xfffu, &s, &off), KM_ERR_NO_SYMBOL);
    cr_assert_eq(off, 99u);
    cr_assert_eq(km_ksym_lookup_addr(&tab, 0u, &s, &off), KM_ERR_NO_SYMBOL);
    /* The lowest symbol itself. */
    cr_assert_eq(km_ksym_lookup_addr(&tab, 0x1000u, &s, &off), KM_OK);
    cr_assert_str_eq(s.name, "abs_sym");
    cr_assert_eq(off, 0u);
    /* The highest symbol and beyond it. */
    cr_assert_eq(km_ksym_lookup_addr(&tab, 0xffffffff83000f00u, &s, &off), KM_OK);
    cr_assert_str_eq(s.name, "last_bss");
    cr_assert_eq(km_ksym_lookup_addr(&tab, UINT64_MAX, &s, &off), KM_OK);
    cr_assert_str_eq(s.name, "last_bss");
    cr_assert_eq(off, UINT64_MAX - 0xffffffff83000f00u);
}

Test(ksym, same_address_prefers_sized_then_global_then_first)
{
    km_ksym_sym s;
    uint64_t off = 0;
    /* startup_64, _text (global markers, size 0) and first_fn (local, 0x40 bytes). */
    cr_assert_eq(km_ksym_lookup_addr(&tab, 0xffffffff81000008u, &s, &off), KM_OK);
    cr_assert_str_eq(s.name, "first_fn");
    cr_assert_eq(off, 8u);
}

Test(ksym, same_address_markers_prefer_global_then_source_order)
{
    static const tsym syms[] = {
        {"loc_marker", 0x5000, 0, L, STT_NOTYPE, SEC_TEXT},
        {"glob_b", 0x5000, 0, G, STT_NOTYPE, SEC_TEXT},
        {"glob_a", 0x5000, 0, G, STT_NOTYPE, SEC_TEXT},
    };
    km_ksym t;
    tbuild o = {0};
    tbuf b = build_elf(&o, syms, 3);
    cr_assert_eq(km_ksym_load_elf_buffer(&t, b.p, b.len, NULL, NULL), KM_OK);
    km_ksym_sym s;
    uint64_t off = 0;
    cr_assert_eq(km_ksym_lookup_addr(&t, 0x5004, &s, &off), KM_OK);
    cr_assert_str_eq(s.name, "glob_b");
    cr_assert_eq(off, 4u);
    km_ksym_fini(&t);
    free(b.p);
}

Test(ksym, duplicate_names_global_wins_else_last)
{
    static const tsym syms[] = {
        {"dup_local", 0x1000, 1, L, STT_OBJECT, SEC_DATA},
        {"dup_local", 0x2000, 2, L, STT_OBJECT, SEC_DATA},
        {"dup_local", 0x3000, 3, L, STT_OBJECT, SEC_DATA},
        {"dup_mixed", 0x4000, 4, G, STT_FUNC, SEC_TEXT},
        {"dup_mixed", 0x5000, 5, L, STT_FUNC, SEC_TEXT},
        {"dup_weak", 0x6000, 6, L, STT_FUNC, SEC_TEXT},
        {"dup_weak", 0x7000, 7, W, STT_FUNC, SEC_TEXT},
        {"dup_weak", 0x8000, 8, L, STT_FUNC, SEC_TEXT},
        {"unique", 0x9000, 9, L, STT_FUNC, SEC_TEXT},
    };
    km_ksym t;
    tbuild o = {0};
    tbuf b = build_elf(&o, syms, sizeof(syms) / sizeof(syms[0]));
    cr_assert_eq(km_ksym_load_elf_buffer(&t, b.p, b.len, NULL, NULL), KM_OK);
    km_ksym_sym s;
    cr_assert_eq(km_ksym_lookup(&t, "dup_local", &s), KM_OK);
    cr_assert_eq(s.addr, 0x3000u, "among locals the last one wins (the reference's rule)");
    cr_assert_eq(s.same_name, 2u);
    cr_assert_eq(km_ksym_lookup(&t, "dup_mixed", &s), KM_OK);
    cr_assert_eq(s.addr, 0x4000u, "a global wins over a later local");
    cr_assert_eq(s.same_name, 1u);
    cr_assert_eq(km_ksym_lookup(&t, "dup_weak", &s), KM_OK);
    cr_assert_eq(s.addr, 0x7000u, "weak wins over locals");
    cr_assert_eq(km_ksym_lookup(&t, "unique", &s), KM_OK);
    cr_assert_eq(s.same_name, 0u);
    km_ksym_fini(&t);
    free(b.p);
}

Test(ksym, many_symbols_all_found_by_name_and_address)
{
    enum { N = 5000 };
    tsym *syms = calloc(N, sizeof(tsym));
    char(*names)[24] = calloc(N, 24);
    for (int i = 0; i < N; i++) {
        snprintf(names[i], 24, "sym_%d_%x", i, (unsigned)i * 2654435761u);
        /* addresses in a scrambled order, 16 bytes apart */
        uint64_t slot = ((uint64_t)i * 7919u) % N;
        syms[i] = (tsym){names[i], 0xffffffff81000000u + slot * 16u, 16, G, STT_FUNC, SEC_TEXT};
    }
    km_ksym t;
    tbuild o = {0};
    tbuf b = build_elf(&o, syms, N);
    cr_assert_eq(km_ksym_load_elf_buffer(&t, b.p, b.len, NULL, NULL), KM_OK);
    cr_assert_eq(km_ksym_count(&t), (uint32_t)N);
    for (int i = 0; i < N; i++) {
        km_ksym_sym s;
        uint64_t off = 0;
        cr_assert_eq(km_ksym_lookup(&t, names[i], &s), KM_OK, "%s", names[i]);
        cr_assert_eq(s.addr, syms[i].value);
        cr_assert_eq(km_ksym_lookup_addr(&t, syms[i].value + 5u, &s, &off), KM_OK);
        cr_assert_str_eq(s.name, names[i]);
        cr_assert_eq(off, 5u);
    }
    km_ksym_fini(&t);
    free(b.p);
    free(syms);
    free(names);
}

/* ---------------------------------------------------------------- errors */

static km_status load_built(const tbuild *o, const tsym *syms, size_t n, km_ksym_error *e)
{
    km_ksym t;
    tbuf b = build_elf(o, syms, n);
    km_status st = km_ksym_load_elf_buffer(&t, b.p, b.len, NULL, e);
    cr_assert_eq(km_ksym_count(&t), st == KM_OK ? km_ksym_count(&t) : 0u);
    km_ksym_fini(&t);
    free(b.p);
    return st;
}

Test(ksym_errors, no_symtab_says_stripped_and_suggests_dbg_or_system_map)
{
    tbuild o = {.no_symtab = true};
    km_ksym_error e;
    char msg[512];
    cr_assert_eq(load_built(&o, std_syms, 3, &e), KM_ERR_NO_SYMBOL);
    cr_assert_eq(e.reason, KM_KSYM_R_NO_SYMTAB);
    km_ksym_strerror(&e, msg, sizeof(msg));
    cr_assert(strstr(msg, ".symtab") != NULL, "%s", msg);
    cr_assert(strstr(msg, "vmlinuz") != NULL, "%s", msg);
    cr_assert(strstr(msg, "-dbg") != NULL, "%s", msg);
    cr_assert(strstr(msg, "System.map") != NULL, "%s", msg);
}

Test(ksym_errors, wrong_architecture_names_both)
{
    km_ksym t;
    km_ksym_error e;
    char msg[256];
    km_ksym_opts want_arm = {.check_arch = true, .arch = KM_ARCH_AARCH64};
    km_ksym_opts want_x86 = {.check_arch = true, .arch = KM_ARCH_X86_64};
    cr_assert_eq(km_ksym_load_elf_buffer(&t, fx_vmlinux_x86_64_elf, sizeof(fx_vmlinux_x86_64_elf),
                                         &want_arm, &e),
                 KM_ERR_MISMATCH);
    cr_assert_eq(e.reason, KM_KSYM_R_WRONG_ARCH);
    cr_assert_eq(e.machine, KM_KSYM_EM_X86_64);
    cr_assert_eq(e.expected_machine, KM_KSYM_EM_AARCH64);
    km_ksym_strerror(&e, msg, sizeof(msg));
    cr_assert(strstr(msg, "x86_64") != NULL && strstr(msg, "aarch64") != NULL, "%s", msg);
    cr_assert_eq(km_ksym_count(&t), 0u);
    cr_assert_eq(km_ksym_load_elf_buffer(&t, fx_vmlinux_aarch64_elf, sizeof(fx_vmlinux_aarch64_elf),
                                         &want_x86, &e),
                 KM_ERR_MISMATCH);
    cr_assert_eq(km_ksym_load_elf_buffer(&t, fx_vmlinux_aarch64_elf, sizeof(fx_vmlinux_aarch64_elf),
                                         &want_arm, &e),
                 KM_OK);
    km_ksym_fini(&t);
    /* A machine ktmon does not know: fine without a check, unknown arch. */
    tbuild o = {.machine = EM_RISCV};
    tbuf b = build_elf(&o, std_syms, 4);
    cr_assert_eq(km_ksym_load_elf_buffer(&t, b.p, b.len, NULL, &e), KM_OK);
    km_arch a = KM_ARCH_X86_64;
    cr_assert_eq(km_ksym_arch(&t, &a), KM_ERR_UNSUPPORTED);
    km_ksym_fini(&t);
    cr_assert_eq(km_ksym_load_elf_buffer(&t, b.p, b.len, &want_x86, &e), KM_ERR_MISMATCH);
    km_ksym_strerror(&e, msg, sizeof(msg));
    cr_assert(strstr(msg, "riscv") != NULL, "%s", msg);
    free(b.p);
}

Test(ksym_errors, truncated_elf_is_an_error_at_every_length)
{
    tbuild o = {0};
    tbuf b = build_elf(&o, std_syms, sizeof(std_syms) / sizeof(std_syms[0]));
    km_ksym_error e;
    char msg[256];
    for (size_t n = 0; n < b.len; n++) {
        km_ksym t;
        uint8_t *cut = malloc(n ? n : 1);
        memcpy(cut, b.p, n);
        km_status st = km_ksym_load_elf_buffer(&t, cut, n, NULL, &e);
        cr_assert_neq(st, KM_OK, "a %zu-byte prefix of %zu loaded", n, b.len);
        cr_assert_eq(km_ksym_count(&t), 0u);
        km_ksym_strerror(&e, msg, sizeof(msg));
        cr_assert_gt(strlen(msg), 5u);
        free(cut);
    }
    /* Cut just before the section headers: reported as truncated. */
    km_ksym t;
    Elf64_Ehdr eh;
    memcpy(&eh, b.p, sizeof(eh));
    km_status st = km_ksym_load_elf_buffer(&t, b.p, eh.e_shoff + 8, NULL, &e);
    cr_assert_neq(st, KM_OK);
    cr_assert(e.reason == KM_KSYM_R_ELF_TRUNCATED || e.reason == KM_KSYM_R_ELF_CORRUPT,
              "reason %d", e.reason);
    km_ksym_strerror(&e, msg, sizeof(msg));
    cr_assert(strstr(msg, "ELF") != NULL, "%s", msg);
    free(b.p);
}

Test(ksym_errors, truncated_vmlinux_file_reports_truncation)
{
    /* The real-world case: a partial copy; section headers are at the end. */
    char path[] = "/tmp/ktmon-ksym-XXXXXX";
    int fd = mkstemp(path);
    cr_assert_geq(fd, 0);
    size_t n = sizeof(fx_vmlinux_x86_64_elf) - 200;
    cr_assert_eq(write(fd, fx_vmlinux_x86_64_elf, n), (ssize_t)n);
    close(fd);
    km_ksym t;
    km_ksym_error e;
    char msg[256];
    cr_assert_neq(km_ksym_load_elf(&t, path, NULL, &e), KM_OK);
    km_ksym_strerror(&e, msg, sizeof(msg));
    cr_assert(e.reason == KM_KSYM_R_ELF_TRUNCATED || e.reason == KM_KSYM_R_ELF_CORRUPT, "%s", msg);
    unlink(path);
}

Test(ksym_errors, corrupt_symbol_tables_are_refused)
{
    km_ksym_error e;
    char msg[256];
    tbuild bad_name = {.bad_name_sym = 2};
    cr_assert_eq(load_built(&bad_name, std_syms, 4, &e), KM_ERR_BAD_DATA);
    cr_assert_eq(e.reason, KM_KSYM_R_BAD_SYMTAB);
    cr_assert_eq(e.line, 2u);
    km_ksym_strerror(&e, msg, sizeof(msg));
    cr_assert(strstr(msg, "symbol 2") != NULL, "%s", msg);
    tbuild unterminated = {.unterminated_strtab = true};
    cr_assert_eq(load_built(&unterminated, std_syms, 4, &e), KM_ERR_BAD_DATA);
    cr_assert_eq(e.reason, KM_KSYM_R_BAD_SYMTAB);
    tbuild entsize = {.bad_entsize = 16};
    cr_assert_eq(load_built(&entsize, std_syms, 4, &e), KM_ERR_BAD_DATA);
    cr_assert_eq(e.reason, KM_KSYM_R_BAD_SYMTAB);
    static const tsym only_undef[] = {{"u", 0, 0, G, STT_NOTYPE, SHN_UNDEF}};
    tbuild o = {0};
    cr_assert_eq(load_built(&o, only_undef, 1, &e), KM_ERR_NO_SYMBOL);
    cr_assert_eq(e.reason, KM_KSYM_R_NO_SYMBOLS);
}

Test(ksym_errors, not_elf_and_wrong_class)
{
    km_ksym t;
    km_ksym_error e;
    char msg[256];
    static const uint8_t text[] = "ffffffff81000000 T _text\n";
    cr_assert_eq(km_ksym_load_elf_buffer(&t, text, sizeof(text) - 1, NULL, &e), KM_ERR_BAD_DATA);
    cr_assert_eq(e.reason, KM_KSYM_R_NOT_ELF);
    km_ksym_strerror(&e, msg, sizeof(msg));
    cr_assert(strstr(msg, "--system-map") != NULL, "%s", msg);
    tbuild o = {.elf_class = ELFCLASS32};
    cr_assert_eq(load_built(&o, std_syms, 3, &e), KM_ERR_UNSUPPORTED);
    cr_assert_eq(e.reason, KM_KSYM_R_ELF_CLASS);
    cr_assert_eq(km_ksym_load_elf_buffer(&t, NULL, 10, NULL, &e), KM_ERR_INVALID_ARG);
    cr_assert_eq(km_ksym_load_elf_buffer(NULL, text, 10, NULL, &e), KM_ERR_INVALID_ARG);
}

Test(ksym_errors, missing_file_and_directory)
{
    km_ksym t;
    km_ksym_error e;
    char msg[256];
    cr_assert_eq(km_ksym_load_elf(&t, "/nonexistent/ktmon/vmlinux", NULL, &e), KM_ERR_IO);
    cr_assert_eq(e.sys_errno, ENOENT);
    km_ksym_strerror(&e, msg, sizeof(msg));
    cr_assert(strstr(msg, "No such file") != NULL, "%s", msg);
    cr_assert_neq(km_ksym_load_elf(&t, "/tmp", NULL, &e), KM_OK);
    cr_assert_eq(km_ksym_load_system_map(&t, "/nonexistent/System.map", &e), KM_ERR_IO);
    cr_assert_neq(km_ksym_load_system_map(&t, "/tmp", &e), KM_OK);
    cr_assert_eq(km_ksym_load_elf(&t, NULL, NULL, &e), KM_ERR_INVALID_ARG);
}

Test(ksym_errors, strerror_covers_every_reason_and_truncates_safely)
{
    char msg[512];
    char prev[512] = "";
    for (int r = 0; r < KM_KSYM_REASON_COUNT; r++) {
        km_ksym_error e;
        memset(&e, 0, sizeof(e));
        e.status = KM_ERR_BAD_DATA;
        e.reason = (km_ksym_reason)r;
        e.line = 3;
        km_ksym_strerror(&e, msg, sizeof(msg));
        cr_assert_gt(strlen(msg), 3u, "reason %d", r);
        cr_assert_str_neq(msg, prev, "reason %d repeats the previous text", r);
        strcpy(prev, msg);
    }
    km_ksym_error e = {.status = KM_ERR_BAD_DATA, .reason = KM_KSYM_R_NO_SYMTAB};
    char tiny[8];
    memset(tiny, 'x', sizeof(tiny));
    km_ksym_strerror(&e, tiny, sizeof(tiny));
    cr_assert_eq(tiny[7], '\0');
    cr_assert_eq(strlen(tiny), 7u);
    char one[1] = {'x'};
    km_ksym_strerror(&e, one, 1);
    cr_assert_eq(one[0], '\0');
    cr_assert_str_eq(km_ksym_strerror(NULL, msg, sizeof(msg)), "no error information");
}

/* ---------------------------------------------------------------- fixtures */

Test(ksym_fixture, x86_64_and_aarch64_fixtures)
{
    km_ksym t;
    km_arch a = KM_ARCH_AARCH64;
    km_ksym_sym s;
    cr_assert_eq(km_ksym_load_elf_buffer(&t, fx_vmlinux_x86_64_elf, sizeof(fx_vmlinux_x86_64_elf),
                                         NULL, NULL),
                 KM_OK);
    cr_assert_eq(km_ksym_arch(&t, &a), KM_OK);
    cr_assert_eq(a, KM_ARCH_X86_64);
    cr_assert_eq(t.elf_machine, KM_KSYM_EM_X86_64);
    cr_assert_eq(km_ksym_lookup(&t, "fixture_fn", &s), KM_OK);
    cr_assert_eq(s.addr, 0xffffffff81000000u);
    cr_assert_eq(s.type, 'T');
    cr_assert_eq(km_ksym_lookup(&t, "s_local", &s), KM_OK);
    cr_assert_eq(s.type, 'b');
    km_ksym_fini(&t);
    cr_assert_eq(km_ksym_load_elf_buffer(&t, fx_vmlinux_aarch64_elf, sizeof(fx_vmlinux_aarch64_elf),
                                         NULL, NULL),
                 KM_OK);
    cr_assert_eq(km_ksym_arch(&t, &a), KM_OK);
    cr_assert_eq(a, KM_ARCH_AARCH64);
    cr_assert_eq(km_ksym_lookup(&t, "fixture_start", &s), KM_OK);
    cr_assert_geq(s.addr, 0xffff800080000000u);
    km_ksym_fini(&t);
    km_ksym_fini(&t); /* twice is harmless */
}

Test(ksym_fixture, system_map_agrees_with_the_elf)
{
    km_ksym elf;
    km_ksym map;
    km_arch a;
    cr_assert_eq(km_ksym_load_elf_buffer(&elf, fx_vmlinux_x86_64_elf, sizeof(fx_vmlinux_x86_64_elf),
                                         NULL, NULL),
                 KM_OK);
    cr_assert_eq(km_ksym_load_system_map_buffer(&map, (const char *)fx_System_map,
                                                sizeof(fx_System_map), NULL),
                 KM_OK);
    cr_assert_eq(km_ksym_arch(&map, &a), KM_ERR_UNSUPPORTED);
    cr_assert_eq(km_ksym_count(&map), km_ksym_count(&elf));
    const char *names[] = {"fixture_fn", "fixture_start", "g_counter", "s_local", "g_outer",
                           "g_flags",    "g_big",         "g_neg"};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        km_ksym_sym a1, a2;
        cr_assert_eq(km_ksym_lookup(&elf, names[i], &a1), KM_OK);
        cr_assert_eq(km_ksym_lookup(&map, names[i], &a2), KM_OK);
        cr_assert_eq(a1.addr, a2.addr, "%s", names[i]);
        cr_assert_eq(a1.type, a2.type, "%s: nm says %c, ktmon %c", names[i], a2.type, a1.type);
        cr_assert_not(a2.size_known);
    }
    km_ksym_fini(&elf);
    km_ksym_fini(&map);
}

Test(ksym_fixture, loads_from_files)
{
    char path[] = "/tmp/ktmon-ksym-XXXXXX";
    int fd = mkstemp(path);
    cr_assert_geq(fd, 0);
    cr_assert_eq(write(fd, fx_vmlinux_x86_64_elf, sizeof(fx_vmlinux_x86_64_elf)),
                 (ssize_t)sizeof(fx_vmlinux_x86_64_elf));
    close(fd);
    km_ksym t;
    km_ksym_sym s;
    cr_assert_eq(km_ksym_load_elf(&t, path, NULL, NULL), KM_OK);
    cr_assert_eq(km_ksym_lookup(&t, "g_outer", &s), KM_OK);
    cr_assert_eq(s.size, 120u);
    km_ksym_fini(&t);
    /* The same file as a System.map is malformed at line 1. */
    km_ksym_error e;
    cr_assert_eq(km_ksym_load_system_map(&t, path, &e), KM_ERR_BAD_DATA);
    cr_assert_eq(e.reason, KM_KSYM_R_MAP_LINE);
    cr_assert_eq(e.line, 1u);
    fd = open(path, O_WRONLY | O_TRUNC);
    cr_assert_eq(write(fd, fx_System_map, sizeof(fx_System_map)), (ssize_t)sizeof(fx_System_map));
    close(fd);
    cr_assert_eq(km_ksym_load_system_map(&t, path, &e), KM_OK);
    cr_assert_eq(km_ksym_lookup(&t, "g_outer", &s), KM_OK);
    cr_assert_eq(s.type, 'B');
    km_ksym_fini(&t);
    unlink(path);
}

/* ---------------------------------------------------------------- System.map */

static km_status map_load(km_ksym *t, const char *text, km_ksym_error *e)
{
    return km_ksym_load_system_map_buffer(t, text, strlen(text), e);
}

Test(ksym_map, parses_types_blank_lines_crlf_and_skips_undefined)
{
    km_ksym t;
    km_ksym_sym s;
    uint64_t off = 0;
    const char *text = "ffffffff81000000 T _text\n"
                       "\n"
                       "ffffffff81000010 t local_fn\r\n"
                       "                 U undefined_thing\n"
                       "0000000000000000 w weak_undef\n"
                       "ffffffff82000000 D data_sym\n"
                       "ffffffff82000008 d data_sym\n"
                       "ffffffff82000010 W weak_def\n"
                       "FFFFFFFF83000000 B upper_hex\n"
                       "1 A tiny\n"
                       "ffffffff84000000 R last_sym";
    cr_assert_eq(map_load(&t, text, NULL), KM_OK);
    cr_assert_eq(km_ksym_count(&t), 8u);
    cr_assert_eq(km_ksym_lookup(&t, "_text", &s), KM_OK);
    cr_assert_eq(s.addr, 0xffffffff81000000u);
    cr_assert_eq(s.type, 'T');
    cr_assert_not(s.size_known);
    cr_assert_eq(km_ksym_lookup(&t, "local_fn", &s), KM_OK);
    cr_assert_eq(s.type, 't');
    cr_assert_str_eq(s.name, "local_fn");
    cr_assert_eq(km_ksym_lookup(&t, "undefined_thing", &s), KM_ERR_NO_SYMBOL);
    cr_assert_eq(km_ksym_lookup(&t, "weak_undef", &s), KM_ERR_NO_SYMBOL);
    cr_assert_eq(km_ksym_lookup(&t, "data_sym", &s), KM_OK);
    cr_assert_eq(s.addr, 0xffffffff82000000u, "the global 'D' wins over the later local 'd'");
    cr_assert_eq(s.same_name, 1u);
    cr_assert_eq(km_ksym_lookup(&t, "upper_hex", &s), KM_OK);
    cr_assert_eq(s.addr, 0xffffffff83000000u);
    cr_assert_eq(km_ksym_lookup(&t, "tiny", &s), KM_OK);
    cr_assert_eq(s.addr, 1u);
    cr_assert_eq(km_ksym_lookup(&t, "last_sym", &s), KM_OK);
    cr_assert_eq(km_ksym_lookup_addr(&t, 0xffffffff81000011u, &s, &off), KM_OK);
    cr_assert_str_eq(s.name, "local_fn");
    cr_assert_eq(off, 1u);
    km_ksym_fini(&t);
}

Test(ksym_map, malformed_lines_report_their_number)
{
    static const struct {
        const char *text;
        uint32_t line;
    } cases[] = {
        {"ffffffff81000000 T ok\nzzzz T bad\n", 2},
        {"ffffffff81000000 T ok\nffffffff81000000 T\n", 2},              /* no name */
        {"ffffffff81000000 T ok\n\n\nffffffff81000000\n", 4},            /* no type */
        {"10000000000000000 T too_wide\n", 1},                           /* 17 hex digits */
        {"ffffffff81000000 T two words\n", 1},                           /* trailing text */
        {"ffffffff81000000 1 digit_type\n", 1},                          /* type not a letter */
        {"ffffffff81000000TT glued\n", 1},                               /* no separator */
        {"ffffffff81000000 T ok\nffffffff81000000 TT x\n", 2},          /* two-letter type */
        {"0x81000000 T prefixed\n", 1},                                  /* 0x is not System.map */
        {"ffffffff81000000 T ok\n-1 T negative\n", 2},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        km_ksym t;
        km_ksym_error e;
        char msg[256];
        cr_assert_eq(map_load(&t, cases[i].text, &e), KM_ERR_BAD_DATA, "case %zu", i);
        cr_assert_eq(e.reason, KM_KSYM_R_MAP_LINE, "case %zu", i);
        cr_assert_eq(e.line, cases[i].line, "case %zu: line %u", i, e.line);
        km_ksym_strerror(&e, msg, sizeof(msg));
        char want[32];
        snprintf(want, sizeof(want), "line %u", cases[i].line);
        cr_assert(strstr(msg, want) != NULL, "%s", msg);
        cr_assert_eq(km_ksym_count(&t), 0u);
    }
    /* A NUL byte inside a name. */
    km_ksym t;
    km_ksym_error e;
    static const char nul_text[] = "ffffffff81000000 T a\0b\n";
    cr_assert_eq(km_ksym_load_system_map_buffer(&t, nul_text, sizeof(nul_text) - 1, &e),
                 KM_ERR_BAD_DATA);
    cr_assert_eq(e.line, 1u);
    /* A name longer than KM_KSYM_NAME_MAX. */
    char *longline = malloc(KM_KSYM_NAME_MAX + 64);
    strcpy(longline, "ffffffff81000000 T ");
    memset(longline + 19, 'n', KM_KSYM_NAME_MAX + 1);
    longline[19 + KM_KSYM_NAME_MAX + 1] = '\0';
    cr_assert_eq(map_load(&t, longline, &e), KM_ERR_BAD_DATA);
    longline[19 + KM_KSYM_NAME_MAX] = '\0';
    cr_assert_eq(map_load(&t, longline, &e), KM_OK);
    km_ksym_fini(&t);
    free(longline);
}

Test(ksym_map, empty_maps_are_errors)
{
    km_ksym t;
    km_ksym_error e;
    char msg[256];
    cr_assert_eq(map_load(&t, "", &e), KM_ERR_BAD_DATA);
    cr_assert_eq(e.reason, KM_KSYM_R_EMPTY_MAP);
    km_ksym_strerror(&e, msg, sizeof(msg));
    cr_assert(strstr(msg, "no symbol") != NULL, "%s", msg);
    cr_assert_eq(map_load(&t, "\n\n  \n", &e), KM_ERR_BAD_DATA);
    cr_assert_eq(e.reason, KM_KSYM_R_EMPTY_MAP);
    cr_assert_eq(map_load(&t, "                 U only_undefined\n", &e), KM_ERR_BAD_DATA);
    cr_assert_eq(e.reason, KM_KSYM_R_EMPTY_MAP);
    cr_assert_eq(km_ksym_load_system_map_buffer(&t, NULL, 0, &e), KM_ERR_BAD_DATA);
    cr_assert_eq(km_ksym_load_system_map_buffer(&t, NULL, 5, &e), KM_ERR_INVALID_ARG);
}

Test(ksym_map, line_parser_reports_positions)
{
    const char *text = "ffffffff81000000 T name_one\nabc t b\n";
    km_ksym_map_line ml;
    cr_assert_eq(km_ksym_parse_map_line(text, strlen(text), 0, &ml), KM_OK);
    cr_assert_eq(ml.addr, 0xffffffff81000000u);
    cr_assert_eq(ml.type, 'T');
    cr_assert_eq(ml.name_start, 19u);
    cr_assert_eq(ml.name_len, 8u);
    cr_assert_eq(ml.next, 28u);
    cr_assert_not(ml.skip);
    cr_assert_eq(km_ksym_parse_map_line(text, strlen(text), ml.next, &ml), KM_OK);
    cr_assert_eq(ml.addr, 0xabcu);
    cr_assert_eq(ml.name_len, 1u);
    cr_assert_eq(ml.next, strlen(text));
}

/* ---------------------------------------------------------------- internals */

Test(ksym_hash, word_and_byte_hashes_agree_for_every_length)
{
    char buf[64 + KM_KSYM_NAME_PAD];
    for (size_t n = 0; n < 48; n++) {
        memset(buf, 0, sizeof(buf));
        for (size_t i = 0; i < n; i++) {
            buf[i] = (char)('a' + (char)((i * 7u) % 26u));
        }
        size_t len = 99;
        uint32_t h1 = km_ksym_hash_padded(buf, &len);
        cr_assert_eq(len, n);
        cr_assert_eq(h1, km_ksym_hash(buf, n), "length %zu", n);
        /* bytes after the NUL must not matter */
        memset(buf + n + 1, 0x7f, sizeof(buf) - n - 1);
        cr_assert_eq(km_ksym_hash_padded(buf, &len), h1);
    }
    cr_assert_neq(km_ksym_hash("runqueues", 9), km_ksym_hash("runqueuez", 9));
    /* High bytes (0x80..0xff) do not fool the word-at-a-time NUL test. */
    char hi[16 + KM_KSYM_NAME_PAD] = {(char)0x80, (char)0xff, (char)0x81, 1, (char)0xfe, 0};
    size_t len = 0;
    cr_assert_eq(km_ksym_hash_padded(hi, &len), km_ksym_hash(hi, 5));
    cr_assert_eq(len, 5u);
}

Test(ksym_hash, empty_table_behaves)
{
    km_ksym t;
    km_ksym_sym s;
    uint64_t off;
    km_arch a;
    km_ksym_init(&t);
    cr_assert_eq(km_ksym_lookup(&t, "x", &s), KM_ERR_NO_SYMBOL);
    cr_assert_eq(km_ksym_lookup_addr(&t, 123, &s, &off), KM_ERR_NO_SYMBOL);
    cr_assert_eq(km_ksym_arch(&t, &a), KM_ERR_UNSUPPORTED);
    cr_assert_eq(km_ksym_count(&t), 0u);
    km_ksym_fini(&t);
    km_ksym_fini(NULL);
    cr_assert_str_eq(km_ksym_arch_name(KM_ARCH_X86_64), "x86_64");
    cr_assert_str_eq(km_ksym_arch_name(KM_ARCH_AARCH64), "aarch64");
}

/* ---------------------------------------------------------------- optional: a real vmlinux */

Test(ksym_real, real_vmlinux_if_given)
{
    const char *path = getenv("KTMON_VMLINUX");
    if ((path == NULL) || (path[0] == '\0')) {
        cr_skip_test("KTMON_VMLINUX is not set (path of a vmlinux with .symtab)");
    }
    km_ksym t;
    km_ksym_error e;
    char msg[512];
    km_status st = km_ksym_load_elf(&t, path, NULL, &e);
    cr_assert_eq(st, KM_OK, "%s: %s", path, km_ksym_strerror(&e, msg, sizeof(msg)));
    cr_assert_gt(km_ksym_count(&t), 10000u);
    km_arch a;
    cr_assert_eq(km_ksym_arch(&t, &a), KM_OK);
    const char *required[] = {"runqueues", "__per_cpu_offset", "_text", "init_task", "jiffies_64"};
    for (size_t i = 0; i < sizeof(required) / sizeof(required[0]); i++) {
        km_ksym_sym s;
        uint64_t off = 1;
        cr_assert_eq(km_ksym_lookup(&t, required[i], &s), KM_OK, "%s", required[i]);
        cr_assert_geq(s.addr, 0xffff000000000000u, "%s", required[i]);
        km_ksym_sym r;
        cr_assert_eq(km_ksym_lookup_addr(&t, s.addr, &r, &off), KM_OK);
        cr_assert_eq(off, 0u);
        cr_assert_eq(r.addr, s.addr);
    }
    km_ksym_fini(&t);
}
