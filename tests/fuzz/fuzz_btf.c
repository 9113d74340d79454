/* libFuzzer target: the BTF reader of modules/btf over arbitrary bytes.
 * The input is loaded as a base BTF (raw or ELF) and as a split BTF on top
 * of the fixture base; each BTF that loads is queried: every named struct's
 * members by path, sizes, enumerators, the batch resolvers. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ktmon/btf.h"
#include "modules/btf/btf_int.h"
#include "tests/fixtures/ksym_btf/fixtures.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static volatile uint64_t sink;
static km_btf base;
static int base_loaded;

static void query_paths(const km_btf *b)
{
    uint32_t n = km_btf_type_count(b);
    uint32_t queried = 0;
    for (uint32_t id = 1; id < n && queried < 200u; id++) {
        km_btf_kind kind;
        const char *name = NULL;
        uint32_t size = 0;
        if (km_btf_type_info(b, id, &kind, &name, &size) != KM_OK || name[0] == '\0') {
            continue;
        }
        queried++;
        km_btf_error err;
        char msg[256];
        uint32_t sz = 0;
        sink += (uint64_t)km_btf_sizeof(b, name, &sz, &err) + sz;
        sink += strlen(km_btf_strerror(&err, msg, sizeof(msg)));
        if (kind != KM_BTF_KIND_STRUCT && kind != KM_BTF_KIND_UNION) {
            continue;
        }
        km_btf_tv tv;
        km_btf_reason why;
        if (km_btf_type(b, id, &tv, &why) != KM_OK) {
            abort(); /* type_info just read it */
        }
        uint32_t vlen = km_btf_vlen_of(tv.info);
        for (uint32_t m = 0; m < vlen && m < 16u; m++) {
            uint32_t moff = 0;
            const uint8_t *s = NULL;
            uint32_t room = 0;
            if (km_btf_ext(b, &tv, 12u * m, &moff) != KM_OK ||
                km_btf_str(b, moff, &s, &room) != KM_OK) {
                continue;
            }
            char path[300];
            snprintf(path, sizeof(path), "%.120s.%.120s", name, (const char *)s);
            km_btf_member_info mi;
            if (km_btf_member(b, path, &mi, &err) == KM_OK) {
                if (mi.offset != mi.bit_offset / 8u) {
                    abort();
                }
                sink += mi.offset + mi.size + mi.bitfield_bits;
            }
            uint32_t off = 0;
            sink += (uint64_t)km_btf_offsetof(b, path, &off, &err) + off;
            sink += strlen(km_btf_strerror(&err, msg, sizeof(msg)));
        }
    }
}

static void query_fixed(const km_btf *b)
{
    static const char *paths[] = {"outer.anon_a", "outer.in.b",  "outer.nest.deep", "flags.mid",
                                  "modstate.in.b", "outer.ptr.a", "outer",          "a.b.c"};
    km_btf_error err;
    char msg[256];
    for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
        km_btf_member_info mi;
        sink += (uint64_t)km_btf_member(b, paths[i], &mi, &err);
        sink += strlen(km_btf_strerror(&err, msg, sizeof(msg)));
    }
    static const char *enums[] = {"BLUE", "NEG_ONE", "BIG_HUGE", "MOD_B", "X"};
    for (size_t i = 0; i < sizeof(enums) / sizeof(enums[0]); i++) {
        km_btf_enum_val v;
        sink += (uint64_t)km_btf_enum_value(b, NULL, enums[i], &v, &err);
        sink += (uint64_t)km_btf_enum_value(b, "color", enums[i], &v, &err);
    }
    uint32_t o1 = 0, o2 = 0, s2 = 0;
    km_btf_field f[] = {{"outer.in.b", &o1, NULL, false, false}, {"inner", &o2, &s2, false, false}};
    sink += (uint64_t)km_btf_resolve_fields(b, f, 2, &err) + o1 + o2 + s2;
    uint64_t v1 = 0;
    km_btf_enum_field e[] = {{NULL, "GREEN", &v1, false, false}};
    sink += (uint64_t)km_btf_resolve_enums(b, e, 1, &err) + v1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!base_loaded) {
        if (km_btf_load_buffer(&base, fx_base_btf, sizeof(fx_base_btf), NULL, NULL) != KM_OK) {
            abort();
        }
        base_loaded = 1;
    }
    /* Own copy so ASan sees any read past the end of the input. */
    uint8_t *buf = malloc(size ? size : 1u);
    if (buf == NULL) {
        return 0;
    }
    memcpy(buf, data, size);
    km_btf b;
    km_btf_error err;
    char msg[256];
    if (km_btf_load_buffer(&b, buf, size, NULL, &err) == KM_OK) {
        query_paths(&b);
        query_fixed(&b);
        km_btf_fini(&b);
    } else if (b.nlayers != 0u) {
        abort(); /* a failed load leaves b not loaded */
    }
    sink += strlen(km_btf_strerror(&err, msg, sizeof(msg)));
    if (km_btf_load_buffer(&b, buf, size, &base, &err) == KM_OK) {
        query_paths(&b);
        query_fixed(&b);
        km_btf_fini(&b);
    }
    sink += strlen(km_btf_strerror(&err, msg, sizeof(msg)));
    free(buf);
    return 0;
}
