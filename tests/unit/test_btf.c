/* Unit tests: modules/btf.
 *
 * Inputs: the committed fixtures (tests/fixtures/ksym_btf: kernel.c and
 * module.c encoded by pahole: anonymous members, typedef chains, bitfields,
 * enum64, split BTF) and BTF assembled here word by word for the hostile
 * cases (loops, self-nesting, bad ids, corrupt headers, old-style
 * bitfields). */
#include <bpf/btf.h>
#include <criterion/criterion.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ktmon/btf.h"
#include "tests/fixtures/ksym_btf/fixtures.h"

/* ---------------------------------------------------------------- BTF builder */

typedef struct bb {
    uint32_t w[16384];
    uint32_t nw;
    char s[16384];
    uint32_t ns;
    uint32_t ntypes;
} bb;

static bb *bb_new(void)
{
    bb *b = calloc(1, sizeof(bb));
    b->ns = 1; /* offset 0: the empty name */
    return b;
}

static uint32_t bb_str(bb *b, const char *x)
{
    uint32_t off = 0;
    if (x != NULL) {
        size_t n = strlen(x) + 1;
        cr_assert_lt(b->ns + n, sizeof(b->s));
        off = b->ns;
        memcpy(b->s + b->ns, x, n);
        b->ns += (uint32_t)n;
    }
    return off;
}

static void bb_u32(bb *b, uint32_t v)
{
    cr_assert_lt(b->nw, sizeof(b->w) / 4);
    b->w[b->nw++] = v;
}

static uint32_t bb_type(bb *b, const char *name, uint32_t kind, uint32_t vlen, bool kflag,
                        uint32_t size_or_type)
{
    bb_u32(b, bb_str(b, name));
    bb_u32(b, (kind << 24) | vlen | (kflag ? 0x80000000u : 0u));
    bb_u32(b, size_or_type);
    return ++b->ntypes;
}

static void bb_member(bb *b, const char *name, uint32_t type, uint32_t off)
{
    bb_u32(b, bb_str(b, name));
    bb_u32(b, type);
    bb_u32(b, off);
}

static uint32_t bb_int(bb *b, const char *name, uint32_t size, uint32_t bits, bool sign)
{
    uint32_t id = bb_type(b, name, BTF_KIND_INT, 0, false, size);
    bb_u32(b, (sign ? (1u << 24) : 0u) | bits);
    return id;
}

/* header + types + strings in a new buffer */
static uint8_t *bb_blob(const bb *b, size_t *len)
{
    uint32_t tlen = b->nw * 4;
    *len = 24 + tlen + b->ns;
    uint8_t *p = calloc(1, *len);
    uint32_t hdr[6] = {0x0001eb9fu, 24, 0, tlen, tlen, b->ns};
    memcpy(p, hdr, 24);
    memcpy(p + 24, b->w, tlen);
    memcpy(p + 24 + tlen, b->s, b->ns);
    return p;
}

static km_btf fx_base;
static km_btf_error berr;
static char msg[512];

static void load_fx_base(void)
{
    km_status st = km_btf_load_buffer(&fx_base, fx_base_btf, sizeof(fx_base_btf), NULL, &berr);
    cr_assert_eq(st, KM_OK, "%s", km_btf_strerror(&berr, msg, sizeof(msg)));
}

static void unload_fx_base(void)
{
    km_btf_fini(&fx_base);
}

static km_btf_member_info member_ok(const km_btf *b, const char *path)
{
    km_btf_member_info m;
    memset(&m, 0, sizeof(m));
    km_status st = km_btf_member(b, path, &m, &berr);
    cr_assert_eq(st, KM_OK, "%s: %s", path, km_btf_strerror(&berr, msg, sizeof(msg)));
    return m;
}

TestSuite(btf, .init = load_fx_base, .fini = unload_fx_base);

Test(btf, offsets_through_nested_anonymous_members)
{
    cr_assert_eq(member_ok(&fx_base, "outer.first").offset, 0u);
    cr_assert_eq(member_ok(&fx_base, "outer.anon_a").offset, 8u, "union > struct > anon_a");
    cr_assert_eq(member_ok(&fx_base, "outer.anon_b").offset, 12u);
    km_btf_member_info u = member_ok(&fx_base, "outer.anon_u");
    cr_assert_eq(u.offset, 8u);
    cr_assert_eq(u.size, 8u);
    cr_assert_eq(member_ok(&fx_base, "outer.in").offset, 16u);
    cr_assert_eq(member_ok(&fx_base, "outer.in.a").offset, 16u);
    km_btf_member_info b = member_ok(&fx_base, "outer.in.b");
    cr_assert_eq(b.offset, 24u);
    cr_assert_eq(b.bit_offset, 192u);
    cr_assert_eq(b.size, 8u, "u64 through a typedef");
    cr_assert_eq(b.kind, KM_BTF_KIND_INT);
    cr_assert_not(b.is_signed);
    cr_assert_eq(member_ok(&fx_base, "outer.nest.deep").offset, 116u, "named > anon > anon > deep");
}

Test(btf, sizes_and_kinds_of_members)
{
    km_btf_member_info arr = member_ok(&fx_base, "outer.arr");
    cr_assert_eq(arr.offset, 32u);
    cr_assert_eq(arr.size, 64u, "4 x struct inner");
    cr_assert_eq(arr.kind, KM_BTF_KIND_ARRAY);
    km_btf_member_info cv = member_ok(&fx_base, "outer.cv");
    cr_assert_eq(cv.offset, 96u);
    cr_assert_eq(cv.size, 4u, "typedef > const > volatile > typedef > typedef > int");
    cr_assert_eq(cv.kind, KM_BTF_KIND_INT);
    km_btf_member_info ptr = member_ok(&fx_base, "outer.ptr");
    cr_assert_eq(ptr.offset, 104u);
    cr_assert_eq(ptr.size, 8u);
    cr_assert_eq(ptr.kind, KM_BTF_KIND_PTR);
    km_btf_member_info col = member_ok(&fx_base, "outer.col");
    cr_assert_eq(col.offset, 112u);
    cr_assert_eq(col.size, 4u);
    cr_assert_eq(col.kind, KM_BTF_KIND_ENUM);
    uint32_t off = 0;
    cr_assert_eq(km_btf_offsetof(&fx_base, "outer.nest.deep", &off, &berr), KM_OK);
    cr_assert_eq(off, 116u);
}

Test(btf, struct_and_type_sizes)
{
    static const struct {
        const char *name;
        uint32_t size;
    } cases[] = {{"outer", 120}, {"inner", 16}, {"flags", 16},  {"u32", 4},         {"u64", 8},
                 {"cv_u32", 4},  {"color", 4},  {"big", 8},     {"unsigned int", 4}, {"int", 4}};
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        uint32_t sz = 0;
        cr_assert_eq(km_btf_sizeof(&fx_base, cases[i].name, &sz, &berr), KM_OK, "%s: %s",
                     cases[i].name, km_btf_strerror(&berr, msg, sizeof(msg)));
        cr_assert_eq(sz, cases[i].size, "%s", cases[i].name);
    }
    /* A path without a dot asks for the type itself. */
    km_btf_member_info m = member_ok(&fx_base, "outer");
    cr_assert_eq(m.size, 120u);
    cr_assert_eq(m.offset, 0u);
    cr_assert_eq(m.kind, KM_BTF_KIND_STRUCT);
    uint32_t sz = 7;
    cr_assert_eq(km_btf_sizeof(&fx_base, "outer.in", &sz, &berr), KM_ERR_INVALID_ARG);
    cr_assert_eq(sz, 7u);
}

Test(btf, bitfields_are_reported_and_refused_as_byte_offsets)
{
    km_btf_member_info lo = member_ok(&fx_base, "flags.lo");
    cr_assert_eq(lo.bit_offset, 0u);
    cr_assert_eq(lo.bitfield_bits, 3u);
    km_btf_member_info mid = member_ok(&fx_base, "flags.mid");
    cr_assert_eq(mid.bit_offset, 3u);
    cr_assert_eq(mid.bitfield_bits, 5u);
    km_btf_member_info hi = member_ok(&fx_base, "flags.hi");
    cr_assert_eq(hi.bit_offset, 8u);
    cr_assert_eq(hi.bitfield_bits, 24u);
    uint32_t off = 1234;
    cr_assert_eq(km_btf_offsetof(&fx_base, "flags.mid", &off, &berr), KM_ERR_UNSUPPORTED);
    cr_assert_eq(berr.reason, KM_BTF_R_BITFIELD);
    cr_assert_eq(off, 1234u);
    km_btf_strerror(&berr, msg, sizeof(msg));
    cr_assert(strstr(msg, "bitfield") != NULL && strstr(msg, "bit offset 3") != NULL, "%s", msg);
    /* hi is a bitfield even though it starts on a byte boundary */
    cr_assert_eq(km_btf_offsetof(&fx_base, "flags.hi", &off, &berr), KM_ERR_UNSUPPORTED);
    cr_assert_eq(km_btf_offsetof(&fx_base, "flags.after", &off, &berr), KM_OK);
    cr_assert_eq(off, 8u);
}

Test(btf, enum_values_32_64_signed)
{
    km_btf_enum_val v;
    cr_assert_eq(km_btf_enum_value(&fx_base, "color", "BLUE", &v, &berr), KM_OK);
    cr_assert_eq(v.value, 1025u);
    cr_assert_not(v.is_signed);
    cr_assert_eq(v.size, 4u);
    cr_assert_eq(km_btf_enum_value(&fx_base, NULL, "BLUE", &v, &berr), KM_OK);
    cr_assert_eq(v.value, 1025u);
    cr_assert_eq(km_btf_enum_value(&fx_base, "neg", "NEG_ONE", &v, &berr), KM_OK);
    cr_assert(v.is_signed);
    cr_assert_eq((int64_t)v.value, -1);
    cr_assert_eq(km_btf_enum_value(&fx_base, "big", "BIG_HUGE", &v, &berr), KM_OK);
    cr_assert_eq(v.value, 0x123456789u, "ENUM64");
    cr_assert_eq(v.size, 8u);
    cr_assert_eq(km_btf_enum_value(&fx_base, NULL, "BIG_SMALL", &v, &berr), KM_OK);
    cr_assert_eq(v.value, 1u);
}

Test(btf, missing_enum_and_enumerator)
{
    km_btf_enum_val v = {.value = 42};
    cr_assert_eq(km_btf_enum_value(&fx_base, "color", "PURPLE", &v, &berr), KM_ERR_NO_TYPE);
    cr_assert_eq(berr.reason, KM_BTF_R_NO_ENUMERATOR);
    km_btf_strerror(&berr, msg, sizeof(msg));
    cr_assert(strstr(msg, "'PURPLE'") != NULL && strstr(msg, "'color'") != NULL, "%s", msg);
    cr_assert_eq(km_btf_enum_value(&fx_base, NULL, "PURPLE", &v, &berr), KM_ERR_NO_TYPE);
    km_btf_strerror(&berr, msg, sizeof(msg));
    cr_assert(strstr(msg, "any enum") != NULL, "%s", msg);
    cr_assert_eq(km_btf_enum_value(&fx_base, "colour", "BLUE", &v, &berr), KM_ERR_NO_TYPE);
    cr_assert_eq(berr.reason, KM_BTF_R_NO_ENUM);
    cr_assert_eq(km_btf_enum_value(&fx_base, "outer", "BLUE", &v, &berr), KM_ERR_NO_TYPE);
    cr_assert_eq(km_btf_enum_value(&fx_base, NULL, "", &v, &berr), KM_ERR_INVALID_ARG);
    cr_assert_eq(km_btf_enum_value(&fx_base, NULL, NULL, &v, &berr), KM_ERR_INVALID_ARG);
    cr_assert_eq(v.value, 42u);
}

Test(btf, missing_struct_and_member_say_which)
{
    km_btf_member_info m = {.offset = 99};
    cr_assert_eq(km_btf_member(&fx_base, "nosuch.x", &m, &berr), KM_ERR_NO_TYPE);
    cr_assert_eq(berr.reason, KM_BTF_R_NO_TYPE);
    cr_assert_str_eq(berr.name, "nosuch");
    cr_assert_eq(km_btf_member(&fx_base, "outer.in.c", &m, &berr), KM_ERR_NO_TYPE);
    cr_assert_eq(berr.reason, KM_BTF_R_NO_MEMBER);
    cr_assert_str_eq(berr.name, "c");
    cr_assert_str_eq(berr.context, "inner");
    cr_assert_eq(berr.index, 2u);
    km_btf_strerror(&berr, msg, sizeof(msg));
    cr_assert(strstr(msg, "'inner' has no member 'c'") != NULL, "%s", msg);
    cr_assert_eq(km_btf_member(&fx_base, "outer.nest.nope", &m, &berr), KM_ERR_NO_TYPE);
    cr_assert_str_eq(berr.context, "(anonymous)");
    cr_assert_eq(m.offset, 99u);
}

Test(btf, descending_into_scalars_and_pointers_is_refused)
{
    km_btf_member_info m;
    cr_assert_eq(km_btf_member(&fx_base, "outer.ptr.a", &m, &berr), KM_ERR_NO_TYPE);
    cr_assert_eq(berr.reason, KM_BTF_R_POINTER);
    km_btf_strerror(&berr, msg, sizeof(msg));
    cr_assert(strstr(msg, "pointer") != NULL, "%s", msg);
    cr_assert_eq(km_btf_member(&fx_base, "outer.first.x", &m, &berr), KM_ERR_NO_TYPE);
    cr_assert_eq(berr.reason, KM_BTF_R_NOT_COMPOSITE);
    cr_assert_eq(km_btf_member(&fx_base, "outer.arr.a", &m, &berr), KM_ERR_NO_TYPE);
    cr_assert_eq(km_btf_member(&fx_base, "u32.x", &m, &berr), KM_ERR_NO_TYPE);
}

Test(btf, malformed_paths)
{
    static const char *bad[] = {"", ".", "outer.", ".outer", "outer..in", "outer.in b",
                                "outer->in", "outer.in[0]", "a.b.c.d.e.f.g.h.i.j.k.l.m.n.o.p.q"};
    km_btf_member_info m;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        cr_assert_eq(km_btf_member(&fx_base, bad[i], &m, &berr), KM_ERR_INVALID_ARG, "'%s'", bad[i]);
        cr_assert_eq(berr.reason, KM_BTF_R_BAD_PATH);
    }
    char longname[200];
    memset(longname, 'a', sizeof(longname));
    longname[128] = '\0';
    cr_assert_eq(km_btf_member(&fx_base, longname, &m, &berr), KM_ERR_INVALID_ARG);
    longname[127] = '\0';
    cr_assert_eq(km_btf_member(&fx_base, longname, &m, &berr), KM_ERR_NO_TYPE);
    cr_assert_eq(km_btf_member(&fx_base, NULL, &m, &berr), KM_ERR_INVALID_ARG);
    /* 16 components are fine (the 2nd is already missing). */
    cr_assert_eq(km_btf_member(&fx_base, "a.b.c.d.e.f.g.h.i.j.k.l.m.n.o.p", &m, &berr),
                 KM_ERR_NO_TYPE);
}

Test(btf, find_type_and_type_info)
{
    uint32_t id = 0;
    cr_assert_eq(km_btf_find_type(&fx_base, "outer", KM_BTF_KIND_STRUCT, &id), KM_OK);
    km_btf_kind k;
    const char *name = NULL;
    uint32_t size = 0;
    cr_assert_eq(km_btf_type_info(&fx_base, id, &k, &name, &size), KM_OK);
    cr_assert_eq(k, KM_BTF_KIND_STRUCT);
    cr_assert_str_eq(name, "outer");
    cr_assert_eq(size, 120u);
    cr_assert_eq(km_btf_find_type(&fx_base, "outer", KM_BTF_KIND_UNION, &id), KM_ERR_NO_TYPE);
    cr_assert_eq(km_btf_find_type(&fx_base, "u32", KM_BTF_KIND_VOID, &id), KM_OK);
    cr_assert_eq(km_btf_type_info(&fx_base, id, &k, &name, &size), KM_OK);
    cr_assert_eq(k, KM_BTF_KIND_TYPEDEF);
    cr_assert_eq(km_btf_type_count(&fx_base), 28u);
    cr_assert_eq(km_btf_type_info(&fx_base, 28, &k, &name, &size), KM_ERR_NO_TYPE);
    cr_assert_eq(km_btf_type_info(&fx_base, 0, &k, &name, &size), KM_OK);
    cr_assert_eq(k, KM_BTF_KIND_VOID);
}

/* ---------------------------------------------------------------- split BTF */

Test(btf, split_btf_on_its_base)
{
    km_btf split;
    km_status st = km_btf_load_buffer(&split, fx_split_btf, sizeof(fx_split_btf), &fx_base, &berr);
    cr_assert_eq(st, KM_OK, "%s", km_btf_strerror(&berr, msg, sizeof(msg)));
    cr_assert_eq(km_btf_type_count(&split), 31u, "27 base types + 3 split types + void");
    km_btf_member_info m = member_ok(&split, "modstate.in.b");
    cr_assert_eq(m.offset, 8u, "struct inner comes from the base");
    m = member_ok(&split, "modstate.o");
    cr_assert_eq(m.offset, 16u);
    cr_assert_eq(m.kind, KM_BTF_KIND_PTR);
    cr_assert_eq(m.size, 8u);
    m = member_ok(&split, "modstate.c");
    cr_assert_eq(m.offset, 28u);
    cr_assert_eq(m.kind, KM_BTF_KIND_ENUM);
    /* base types and enums are visible through the split */
    cr_assert_eq(member_ok(&split, "outer.nest.deep").offset, 116u);
    km_btf_enum_val v;
    cr_assert_eq(km_btf_enum_value(&split, "modenum", "MOD_B", &v, &berr), KM_OK);
    cr_assert_eq(v.value, 8u);
    cr_assert_eq(km_btf_enum_value(&split, NULL, "BLUE", &v, &berr), KM_OK);
    cr_assert_eq(v.value, 1025u);
    /* the base does not see the split's types */
    cr_assert_eq(km_btf_member(&fx_base, "modstate.in", &m, &berr), KM_ERR_NO_TYPE);
    km_btf_fini(&split);
}

Test(btf, split_btf_needs_its_base)
{
    km_btf split;
    cr_assert_neq(km_btf_load_buffer(&split, fx_split_btf, sizeof(fx_split_btf), NULL, &berr), KM_OK);
    cr_assert_eq(berr.reason, KM_BTF_R_NEEDS_BASE, "split strings do not start with the empty name");
    km_btf_strerror(&berr, msg, sizeof(msg));
    cr_assert(strstr(msg, "--base-btf") != NULL, "%s", msg);
    km_btf none;
    km_btf_init(&none);
    cr_assert_eq(km_btf_load_buffer(&split, fx_split_btf, sizeof(fx_split_btf), &none, &berr),
                 KM_ERR_INVALID_ARG);
    /* Split levels are bounded. */
    km_btf lv[KM_BTF_MAX_LAYERS];
    const km_btf *below = &fx_base;
    uint32_t made = 0;
    for (uint32_t i = 0; i < KM_BTF_MAX_LAYERS; i++) {
        km_status st = km_btf_load_buffer(&lv[i], fx_split_btf, sizeof(fx_split_btf), below, &berr);
        if (st != KM_OK) {
            cr_assert_eq(berr.reason, KM_BTF_R_TOO_MANY);
            break;
        }
        below = &lv[i];
        made++;
    }
    cr_assert_eq(made, KM_BTF_MAX_LAYERS - 1u);
    for (uint32_t i = made; i > 0; i--) {
        km_btf_fini(&lv[i - 1]);
    }
}

/* ---------------------------------------------------------------- ELF and files */

Test(btf, elf_section_and_files)
{
    km_btf b;
    cr_assert_eq(km_btf_load_buffer(&b, fx_vmlinux_x86_64_elf, sizeof(fx_vmlinux_x86_64_elf), NULL,
                                    &berr),
                 KM_OK, "%s", km_btf_strerror(&berr, msg, sizeof(msg)));
    cr_assert_eq(member_ok(&b, "outer.in.b").offset, 24u);
    cr_assert_eq(b.ptr_size, 8u);
    km_btf_fini(&b);
    cr_assert_eq(km_btf_load_buffer(&b, fx_vmlinux_aarch64_elf, sizeof(fx_vmlinux_aarch64_elf), NULL,
                                    &berr),
                 KM_OK);
    cr_assert_eq(member_ok(&b, "outer.nest.deep").offset, 116u);
    km_btf_fini(&b);

    /* Rename .BTF in the section-name table: no BTF section. */
    uint8_t *copy = malloc(sizeof(fx_vmlinux_x86_64_elf));
    memcpy(copy, fx_vmlinux_x86_64_elf, sizeof(fx_vmlinux_x86_64_elf));
    uint8_t *hit = NULL;
    for (size_t i = 0; (hit == NULL) && (i + 5 <= sizeof(fx_vmlinux_x86_64_elf)); i++) {
        if (memcmp(copy + i, ".BTF", 5) == 0) {
            hit = copy + i;
        }
    }
    cr_assert_not_null(hit);
    hit[1] = 'X';
    cr_assert_eq(km_btf_load_buffer(&b, copy, sizeof(fx_vmlinux_x86_64_elf), NULL, &berr),
                 KM_ERR_NO_TYPE);
    cr_assert_eq(berr.reason, KM_BTF_R_NO_BTF_SECTION);
    km_btf_strerror(&berr, msg, sizeof(msg));
    cr_assert(strstr(msg, "CONFIG_DEBUG_INFO_BTF") != NULL, "%s", msg);
    free(copy);

    char path[] = "/tmp/ktmon-btf-XXXXXX";
    int fd = mkstemp(path);
    cr_assert_geq(fd, 0);
    cr_assert_eq(write(fd, fx_base_btf, sizeof(fx_base_btf)), (ssize_t)sizeof(fx_base_btf));
    close(fd);
    cr_assert_eq(km_btf_load_file(&b, path, NULL, &berr), KM_OK);
    cr_assert_eq(member_ok(&b, "outer.anon_b").offset, 12u);
    km_btf_fini(&b);
    fd = open(path, O_WRONLY | O_TRUNC);
    cr_assert_eq(write(fd, fx_vmlinux_x86_64_elf, sizeof(fx_vmlinux_x86_64_elf)),
                 (ssize_t)sizeof(fx_vmlinux_x86_64_elf));
    close(fd);
    cr_assert_eq(km_btf_load_file(&b, path, NULL, &berr), KM_OK);
    km_btf_fini(&b);
    unlink(path);
    cr_assert_eq(km_btf_load_file(&b, "/nonexistent/btf", NULL, &berr), KM_ERR_IO);
    km_btf_strerror(&berr, msg, sizeof(msg));
    cr_assert(strstr(msg, "No such file") != NULL, "%s", msg);
    cr_assert_neq(km_btf_load_file(&b, "/tmp", NULL, &berr), KM_OK);
}

/* ---------------------------------------------------------------- corrupt headers */

static km_status load_patched(const uint8_t *src, size_t len, size_t at, uint32_t v, size_t nbytes)
{
    uint8_t *p = malloc(len);
    memcpy(p, src, len);
    memcpy(p + at, &v, nbytes);
    km_btf b;
    km_status st = km_btf_load_buffer(&b, p, len, NULL, &berr);
    if (st == KM_OK) {
        km_btf_fini(&b);
    } else {
        cr_assert_eq(b.nlayers, 0u, "a failed load leaves b not loaded");
    }
    free(p);
    return st;
}

Test(btf_corrupt, header_fields)
{
    const uint8_t *src = fx_base_btf;
    size_t len = sizeof(fx_base_btf);
    cr_assert_eq(load_patched(src, len, 0, 0x1234, 2), KM_ERR_BAD_DATA);
    cr_assert_eq(berr.reason, KM_BTF_R_NOT_BTF);
    cr_assert_eq(load_patched(src, len, 0, 0x9feb, 2), KM_ERR_UNSUPPORTED);
    cr_assert_eq(berr.reason, KM_BTF_R_ENDIAN);
    cr_assert_eq(load_patched(src, len, 2, 2, 1), KM_ERR_UNSUPPORTED);
    cr_assert_eq(berr.reason, KM_BTF_R_VERSION);
    cr_assert_eq(load_patched(src, len, 3, 1, 1), KM_ERR_UNSUPPORTED);
    cr_assert_eq(berr.reason, KM_BTF_R_FLAGS);
    cr_assert_eq(load_patched(src, len, 4, 23, 4), KM_ERR_BAD_DATA);
    cr_assert_eq(berr.reason, KM_BTF_R_HEADER);
    cr_assert_eq(load_patched(src, len, 4, 0x7fffffff, 4), KM_ERR_BAD_DATA);
    cr_assert_eq(berr.reason, KM_BTF_R_HEADER);
    cr_assert_eq(load_patched(src, len, 12, 0x7fffffff, 4), KM_ERR_BAD_DATA, "type_len");
    cr_assert_eq(berr.reason, KM_BTF_R_SECTIONS);
    cr_assert_eq(load_patched(src, len, 20, 0xffffffff, 4), KM_ERR_BAD_DATA, "str_len");
    cr_assert_eq(berr.reason, KM_BTF_R_SECTIONS);
    cr_assert_eq(load_patched(src, len, 16, 4, 4), KM_ERR_BAD_DATA, "strings overlap types");
    cr_assert_eq(berr.reason, KM_BTF_R_SECTIONS);
    km_btf_strerror(&berr, msg, sizeof(msg));
    cr_assert(strstr(msg, "overlap") != NULL, "%s", msg);
    uint8_t tiny[10] = {0x9f, 0xeb, 1, 0};
    km_btf b;
    cr_assert_eq(km_btf_load_buffer(&b, tiny, sizeof(tiny), NULL, &berr), KM_ERR_BAD_DATA);
    cr_assert_eq(berr.reason, KM_BTF_R_HEADER);
    cr_assert_eq(km_btf_load_buffer(&b, tiny, 0, NULL, &berr), KM_ERR_BAD_DATA);
    cr_assert_eq(km_btf_load_buffer(&b, NULL, 10, NULL, &berr), KM_ERR_INVALID_ARG);
}

Test(btf_corrupt, longer_header_needs_zero_tail)
{
    bb *b = bb_new();
    bb_int(b, "int", 4, 32, true);
    size_t len = 0;
    uint8_t *p = bb_blob(b, &len);
    /* Insert 8 header bytes: hdr_len 32. */
    uint8_t *q = calloc(1, len + 8);
    memcpy(q, p, 24);
    memcpy(q + 32, p + 24, len - 24);
    uint32_t hl = 32;
    memcpy(q + 4, &hl, 4);
    km_btf bt;
    cr_assert_eq(km_btf_load_buffer(&bt, q, len + 8, NULL, &berr), KM_OK);
    uint32_t id;
    cr_assert_eq(km_btf_find_type(&bt, "int", KM_BTF_KIND_INT, &id), KM_OK);
    km_btf_fini(&bt);
    q[29] = 1;
    cr_assert_eq(km_btf_load_buffer(&bt, q, len + 8, NULL, &berr), KM_ERR_UNSUPPORTED);
    cr_assert_eq(berr.reason, KM_BTF_R_HEADER);
    cr_assert_eq(berr.offset, 29u);
    free(p);
    free(q);
    free(b);
}

Test(btf_corrupt, truncated_string_section)
{
    /* The last string loses its NUL (a truncated file whose header was fixed up). */
    uint32_t hdr[6];
    memcpy(hdr, fx_base_btf, 24);
    cr_assert_eq(load_patched(fx_base_btf, sizeof(fx_base_btf), 20, hdr[5] - 1, 4), KM_ERR_BAD_DATA);
    cr_assert_eq(berr.reason, KM_BTF_R_STRINGS);
    km_btf_strerror(&berr, msg, sizeof(msg));
    cr_assert(strstr(msg, "NUL-terminated") != NULL, "%s", msg);
    /* The file itself cut short: the string section runs past the end. */
    km_btf b;
    cr_assert_eq(km_btf_load_buffer(&b, fx_base_btf, sizeof(fx_base_btf) - 10, NULL, &berr),
                 KM_ERR_BAD_DATA);
    cr_assert_eq(berr.reason, KM_BTF_R_SECTIONS);
    /* A string section that does not start with the empty name. */
    cr_assert_eq(load_patched(fx_base_btf, sizeof(fx_base_btf), 24 + hdr[4], 'x', 1), KM_ERR_BAD_DATA);
    cr_assert_eq(berr.reason, KM_BTF_R_NEEDS_BASE);
}

Test(btf_corrupt, every_prefix_fails_cleanly)
{
    for (size_t n = 0; n < sizeof(fx_base_btf); n++) {
        uint8_t *p = malloc(n ? n : 1);
        memcpy(p, fx_base_btf, n);
        km_btf b;
        cr_assert_neq(km_btf_load_buffer(&b, p, n, NULL, &berr), KM_OK, "prefix %zu", n);
        cr_assert_gt(strlen(km_btf_strerror(&berr, msg, sizeof(msg))), 5u);
        free(p);
    }
}

Test(btf_corrupt, truncated_record_and_unknown_kind)
{
    bb *b = bb_new();
    bb_int(b, "int", 4, 32, true);
    uint32_t s = bb_type(b, "s", BTF_KIND_STRUCT, 2, false, 8);
    bb_member(b, "a", 1, 0);
    bb_member(b, "b", 1, 32);
    size_t len = 0;
    uint8_t *p = bb_blob(b, &len);
    km_btf bt;
    cr_assert_eq(km_btf_load_buffer(&bt, p, len, NULL, &berr), KM_OK);
    km_btf_fini(&bt);
    /* Claim 3 members: the record runs into the string section. */
    uint32_t info = (BTF_KIND_STRUCT << 24) | 3;
    memcpy(p + 24 + 16 + 4, &info, 4);
    cr_assert_eq(km_btf_load_buffer(&bt, p, len, NULL, &berr), KM_ERR_BAD_DATA);
    cr_assert_eq(berr.reason, KM_BTF_R_TRUNCATED);
    cr_assert_eq(berr.type_id, s);
    km_btf_strerror(&berr, msg, sizeof(msg));
    cr_assert(strstr(msg, "type id 2") != NULL, "%s", msg);
    /* Kind 25. */
    info = (25u << 24);
    memcpy(p + 24 + 16 + 4, &info, 4);
    cr_assert_eq(km_btf_load_buffer(&bt, p, len, NULL, &berr), KM_ERR_BAD_DATA);
    cr_assert_eq(berr.reason, KM_BTF_R_UNKNOWN_KIND);
    cr_assert_eq(berr.kind, 25u);
    km_btf_strerror(&berr, msg, sizeof(msg));
    cr_assert(strstr(msg, "kind 25") != NULL, "%s", msg);
    free(p);
    free(b);
}

Test(btf_corrupt, bad_name_offset)
{
    bb *b = bb_new();
    bb_int(b, "int", 4, 32, true);
    size_t len = 0;
    uint8_t *p = bb_blob(b, &len);
    uint32_t bad = 5000;
    memcpy(p + 24, &bad, 4);
    km_btf bt;
    cr_assert_eq(km_btf_load_buffer(&bt, p, len, NULL, &berr), KM_ERR_BAD_DATA);
    cr_assert_eq(berr.reason, KM_BTF_R_BAD_NAME);
    cr_assert_eq(berr.type_id, 1u);
    free(p);
    free(b);
}

/* Hostile but structurally valid BTF: loops, cycles, dangling ids. */
static km_btf hostile;

static void load_hostile(void)
{
    bb *b = bb_new();
    uint32_t t_int = bb_int(b, "int", 4, 32, true);                 /* 1 */
    uint32_t t_uint = bb_int(b, "unsigned int", 4, 32, false);      /* 2 */
    uint32_t t_old = bb_type(b, "old_bf", BTF_KIND_STRUCT, 2, false, 8); /* 3 */
    bb_member(b, "x", 4, 3);
    bb_member(b, "y", t_uint, 32);
    bb_int(b, "unsigned int", 4, 5, false);                         /* 4: a 5-bit int */
    bb_type(b, "loop_a", BTF_KIND_TYPEDEF, 0, false, 6);            /* 5 */
    bb_type(b, "loop_b", BTF_KIND_TYPEDEF, 0, false, 5);            /* 6 */
    bb_type(b, "self", BTF_KIND_STRUCT, 1, false, 8);               /* 7 */
    bb_member(b, NULL, 7, 0);
    bb_type(b, "badref", BTF_KIND_STRUCT, 1, false, 4);             /* 8 */
    bb_member(b, "m", 9999, 0);
    bb_type(b, "loopmem", BTF_KIND_STRUCT, 1, false, 4);            /* 9 */
    bb_member(b, "m", 5, 0);
    bb_type(b, "dupe1", BTF_KIND_ENUM, 1, false, 4);                /* 10 */
    bb_u32(b, bb_str(b, "SAME"));
    bb_u32(b, 1);
    bb_type(b, "dupe2", BTF_KIND_ENUM, 1, false, 4);                /* 11 */
    bb_u32(b, bb_str(b, "SAME"));
    bb_u32(b, 2);
    bb_type(b, "agree1", BTF_KIND_ENUM, 1, true, 4);                /* 12 */
    bb_u32(b, bb_str(b, "AGREE"));
    bb_u32(b, (uint32_t)-5);
    bb_type(b, "agree2", BTF_KIND_ENUM, 1, true, 4);                /* 13 */
    bb_u32(b, bb_str(b, "AGREE"));
    bb_u32(b, (uint32_t)-5);
    uint32_t proto = bb_type(b, NULL, BTF_KIND_FUNC_PROTO, 0, false, t_int); /* 14 */
    bb_type(b, "fn", BTF_KIND_FUNC, 0, false, proto);              /* 15 */
    uint32_t huge = bb_type(b, NULL, BTF_KIND_ARRAY, 0, false, 0);  /* 16 */
    bb_u32(b, t_uint);
    bb_u32(b, t_int);
    bb_u32(b, 0x80000000u);
    bb_type(b, "hasbig", BTF_KIND_STRUCT, 1, false, 8);             /* 17 */
    bb_member(b, "big", huge, 0);
    bb_type(b, "only_fwd", BTF_KIND_FWD, 0, false, 0);              /* 18 */
    /* 19 .. 58: deep0 has an anonymous member of deep1, ... 40 levels. */
    uint32_t first_deep = b->ntypes + 1;
    for (uint32_t i = 0; i < 40; i++) {
        char name[16];
        snprintf(name, sizeof(name), "deep%u", i);
        bb_type(b, name, BTF_KIND_STRUCT, 1, false, 8);
        if (i < 39) {
            bb_member(b, NULL, first_deep + i + 1, 8); /* each level adds 8 bits */
        } else {
            bb_member(b, "bottom", t_int, 0);
        }
    }
    bb_type(b, "sel", BTF_KIND_TYPEDEF, 0, false, t_old);           /* typedef of a struct */
    size_t len = 0;
    uint8_t *p = bb_blob(b, &len);
    cr_assert_eq(km_btf_load_buffer(&hostile, p, len, NULL, &berr), KM_OK, "%s",
                 km_btf_strerror(&berr, msg, sizeof(msg)));
    free(p);
    free(b);
    (void)t_old;
}

static void unload_hostile(void)
{
    km_btf_fini(&hostile);
}

TestSuite(btf_hostile, .init = load_hostile, .fini = unload_hostile);

Test(btf_hostile, old_style_bitfield_from_int_encoding)
{
    km_btf_member_info m = member_ok(&hostile, "old_bf.x");
    cr_assert_eq(m.bitfield_bits, 5u);
    cr_assert_eq(m.bit_offset, 3u);
    uint32_t off = 0;
    cr_assert_eq(km_btf_offsetof(&hostile, "old_bf.x", &off, &berr), KM_ERR_UNSUPPORTED);
    cr_assert_eq(km_btf_offsetof(&hostile, "old_bf.y", &off, &berr), KM_OK);
    cr_assert_eq(off, 4u);
    cr_assert_eq(km_btf_offsetof(&hostile, "sel.y", &off, &berr), KM_OK, "typedef as the root");
    cr_assert_eq(off, 4u);
}

Test(btf_hostile, typedef_loop_is_an_error_not_a_hang)
{
    uint32_t sz;
    cr_assert_eq(km_btf_sizeof(&hostile, "loop_a", &sz, &berr), KM_ERR_BAD_DATA);
    cr_assert_eq(berr.reason, KM_BTF_R_LOOP);
    km_btf_member_info m;
    cr_assert_eq(km_btf_member(&hostile, "loopmem.m", &m, &berr), KM_ERR_BAD_DATA);
    cr_assert_eq(berr.reason, KM_BTF_R_LOOP);
    cr_assert_eq(km_btf_member(&hostile, "loop_a.x", &m, &berr), KM_ERR_BAD_DATA);
}

Test(btf_hostile, self_nesting_anonymous_member_is_bounded)
{
    km_btf_member_info m;
    cr_assert_eq(km_btf_member(&hostile, "self.x", &m, &berr), KM_ERR_BAD_DATA);
    cr_assert_eq(berr.reason, KM_BTF_R_NESTING);
    cr_assert_eq(km_btf_member(&hostile, "deep0.bottom", &m, &berr), KM_ERR_BAD_DATA);
    cr_assert_eq(berr.reason, KM_BTF_R_NESTING);
    /* 31 anonymous levels below deep8 fit in the stack of 32 */
    m = member_ok(&hostile, "deep8.bottom");
    cr_assert_eq(m.bit_offset, 31u * 8u);
    cr_assert_eq(m.offset, 31u);
}

Test(btf_hostile, dangling_type_ids)
{
    km_btf_member_info m;
    cr_assert_eq(km_btf_member(&hostile, "badref.m", &m, &berr), KM_ERR_BAD_DATA);
    cr_assert_eq(berr.reason, KM_BTF_R_BAD_TYPE_ID);
    cr_assert_eq(berr.type_id, 9999u);
    km_btf_strerror(&berr, msg, sizeof(msg));
    cr_assert(strstr(msg, "9999") != NULL, "%s", msg);
}

Test(btf_hostile, sizes_that_do_not_exist_or_overflow)
{
    uint32_t sz = 5;
    cr_assert_eq(km_btf_sizeof(&hostile, "hasbig", &sz, &berr), KM_OK);
    cr_assert_eq(sz, 8u);
    km_btf_member_info m;
    cr_assert_eq(km_btf_member(&hostile, "hasbig.big", &m, &berr), KM_ERR_OVERFLOW);
    cr_assert_eq(berr.reason, KM_BTF_R_OVERFLOW);
    cr_assert_eq(km_btf_sizeof(&hostile, "only_fwd", &sz, &berr), KM_ERR_NO_TYPE);
    cr_assert_eq(berr.reason, KM_BTF_R_FWD_ONLY);
    km_btf_strerror(&berr, msg, sizeof(msg));
    cr_assert(strstr(msg, "forward-declared") != NULL, "%s", msg);
    cr_assert_eq(km_btf_sizeof(&hostile, "fn", &sz, &berr), KM_ERR_NO_TYPE, "functions are not roots");
    cr_assert_eq(sz, 8u);
}

Test(btf_hostile, ambiguous_enumerators)
{
    km_btf_enum_val v;
    cr_assert_eq(km_btf_enum_value(&hostile, NULL, "SAME", &v, &berr), KM_ERR_MISMATCH);
    cr_assert_eq(berr.reason, KM_BTF_R_AMBIGUOUS);
    cr_assert_eq(km_btf_enum_value(&hostile, "dupe2", "SAME", &v, &berr), KM_OK);
    cr_assert_eq(v.value, 2u);
    cr_assert_eq(km_btf_enum_value(&hostile, NULL, "AGREE", &v, &berr), KM_OK);
    cr_assert_eq((int64_t)v.value, -5);
    cr_assert(v.is_signed);
}

/* ---------------------------------------------------------------- batch resolvers */

Test(btf, resolve_fields_writes_only_when_every_required_one_resolves)
{
    uint32_t off_a = 0xdead, off_b = 0xdead, sz_b = 0xdead, off_c = 0xdead, off_d = 0xdead;
    km_btf_field f[] = {
        {"outer.anon_b", &off_a, NULL, true, false},
        {"outer.in.b", &off_b, &sz_b, true, false},
        {"outer.not_there", &off_c, NULL, false, false},
        {"inner", &off_d, NULL, true, false},
    };
    cr_assert_eq(km_btf_resolve_fields(&fx_base, f, 4, &berr), KM_OK,
                 "%s", km_btf_strerror(&berr, msg, sizeof(msg)));
    cr_assert_eq(off_a, 12u);
    cr_assert_eq(off_b, 24u);
    cr_assert_eq(sz_b, 8u);
    cr_assert(f[0].found && f[1].found && f[3].found);
    cr_assert_not(f[2].found);
    cr_assert_eq(off_c, 0xdeadu, "absent optional field untouched");
    cr_assert_eq(off_d, 0u);

    uint32_t x = 0xbeef, y = 0xbeef;
    km_btf_field g[] = {
        {"outer.first", &x, NULL, true, false},
        {"outer.missing", &y, NULL, true, false},
    };
    cr_assert_eq(km_btf_resolve_fields(&fx_base, g, 2, &berr), KM_ERR_NO_TYPE);
    cr_assert_eq(berr.entry, 1u);
    cr_assert_eq(x, 0xbeefu, "nothing written when a required entry fails");
    cr_assert_not(g[0].found);
    km_btf_strerror(&berr, msg, sizeof(msg));
    cr_assert(strstr(msg, "[entry 1]") != NULL, "%s", msg);

    km_btf_field h[] = {{"flags.mid", &x, NULL, false, false}};
    cr_assert_eq(km_btf_resolve_fields(&fx_base, h, 1, &berr), KM_ERR_UNSUPPORTED,
                 "a bitfield is an error even when optional");
    km_btf_field bad[] = {{"outer..x", &x, NULL, false, false}};
    cr_assert_eq(km_btf_resolve_fields(&fx_base, bad, 1, &berr), KM_ERR_INVALID_ARG);
    cr_assert_eq(km_btf_resolve_fields(&fx_base, NULL, 0, &berr), KM_OK);
}

Test(btf, resolve_enums)
{
    uint64_t blue = 0, huge = 0, none = 77;
    km_btf_enum_field e[] = {
        {"color", "BLUE", &blue, true, false},
        {NULL, "BIG_HUGE", &huge, true, false},
        {NULL, "NOT_AN_ENUMERATOR", &none, false, false},
    };
    cr_assert_eq(km_btf_resolve_enums(&fx_base, e, 3, &berr), KM_OK);
    cr_assert_eq(blue, 1025u);
    cr_assert_eq(huge, 0x123456789u);
    cr_assert_eq(none, 77u);
    cr_assert_not(e[2].found);
    e[2].required = true;
    blue = 0;
    cr_assert_eq(km_btf_resolve_enums(&fx_base, e, 3, &berr), KM_ERR_NO_TYPE);
    cr_assert_eq(berr.entry, 2u);
    cr_assert_eq(blue, 0u);
}

Test(btf, not_loaded_and_null_arguments)
{
    km_btf b;
    km_btf_init(&b);
    km_btf_member_info m;
    uint32_t id;
    cr_assert_eq(km_btf_member(&b, "outer.first", &m, &berr), KM_ERR_STATE);
    km_btf_strerror(&berr, msg, sizeof(msg));
    cr_assert(strstr(msg, "not loaded") != NULL, "%s", msg);
    cr_assert_eq(km_btf_find_type(&b, "outer", KM_BTF_KIND_STRUCT, &id), KM_ERR_STATE);
    cr_assert_eq(km_btf_type_count(&b), 0u);
    cr_assert_eq(km_btf_member(NULL, "outer.first", &m, &berr), KM_ERR_INVALID_ARG);
    km_btf_fini(&b);
    km_btf_fini(NULL);
}

Test(btf, strerror_covers_every_reason)
{
    char prev[512] = "";
    for (int r = 0; r < KM_BTF_REASON_COUNT; r++) {
        km_btf_error e;
        memset(&e, 0, sizeof(e));
        e.status = KM_ERR_BAD_DATA;
        e.reason = (km_btf_reason)r;
        e.index = KM_NO_INDEX;
        e.entry = KM_NO_INDEX;
        strcpy(e.name, "nm");
        strcpy(e.context, "ctx");
        km_btf_strerror(&e, msg, sizeof(msg));
        cr_assert_gt(strlen(msg), 3u, "reason %d", r);
        cr_assert_str_neq(msg, prev, "reason %d", r);
        strcpy(prev, msg);
    }
    for (int k = 0; k <= (int)KM_BTF_KIND_MAX + 1; k++) {
        cr_assert_not_null(km_btf_kind_name((km_btf_kind)k));
    }
    char tiny[4];
    km_btf_error e = {.status = KM_ERR_NO_TYPE, .reason = KM_BTF_R_NO_TYPE, .entry = KM_NO_INDEX};
    km_btf_strerror(&e, tiny, sizeof(tiny));
    cr_assert_eq(strlen(tiny), 3u);
}

/* ---------------------------------------------------------------- optional: a real vmlinux */

Test(btf_real, real_vmlinux_agrees_with_libbpf)
{
    const char *path = getenv("KTMON_VMLINUX");
    if ((path == NULL) || (path[0] == '\0')) {
        cr_skip_test("KTMON_VMLINUX is not set (path of a vmlinux with .BTF)");
    }
    km_btf b;
    cr_assert_eq(km_btf_load_file(&b, path, NULL, &berr), KM_OK, "%s",
                 km_btf_strerror(&berr, msg, sizeof(msg)));
    struct btf *lb = btf__parse_elf(path, NULL);
    cr_assert_not_null(lb);
    cr_assert_eq(km_btf_type_count(&b), btf__type_cnt(lb));
    long checked = 0;
    for (uint32_t id = 1; id < btf__type_cnt(lb); id++) {
        const struct btf_type *t = btf__type_by_id(lb, id);
        if (!btf_is_composite(t) || (t->name_off == 0)) {
            continue;
        }
        const char *sn = btf__name_by_offset(lb, t->name_off);
        if ((uint32_t)btf__find_by_name_kind(lb, sn, BTF_KIND_STRUCT) != id &&
            (uint32_t)btf__find_by_name_kind(lb, sn, BTF_KIND_UNION) != id) {
            continue; /* a duplicate name: ktmon answers for the first */
        }
        if (btf_is_union(t) && btf__find_by_name_kind(lb, sn, BTF_KIND_STRUCT) > 0) {
            continue;
        }
        const struct btf_member *m = btf_members(t);
        for (uint32_t k = 0; k < btf_vlen(t); k++, m++) {
            if (m->name_off == 0) {
                continue;
            }
            char p[600];
            snprintf(p, sizeof(p), "%s.%s", sn, btf__name_by_offset(lb, m->name_off));
            km_btf_member_info mi;
            cr_assert_eq(km_btf_member(&b, p, &mi, &berr), KM_OK, "%s: %s", p,
                         km_btf_strerror(&berr, msg, sizeof(msg)));
            cr_assert_eq(mi.bit_offset, (uint64_t)btf_member_bit_offset(t, k), "%s", p);
            cr_assert_eq(mi.bitfield_bits, (uint32_t)btf_member_bitfield_size(t, k), "%s", p);
            __s64 sz = btf__resolve_size(lb, m->type);
            if (sz >= 0) {
                cr_assert_eq((int64_t)mi.size, (int64_t)sz, "%s", p);
            }
            checked++;
        }
    }
    cr_assert_gt(checked, 1000);
    btf__free(lb);
    km_btf_fini(&b);
}
