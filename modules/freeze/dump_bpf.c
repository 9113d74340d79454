/* ktmon: the BPF part of a dump: every map (with the first values of array
 * maps) and the struct_ops programs, found through map_idr / prog_idr. */
#include <string.h>

#include "coord_int.h"
#include "ktmon/bpf_introspect.h"

/* Bounds of what a dump copies out of BPF maps. */
#define KM_DUMP_BPF_MAX_MAPS 256u
#define KM_DUMP_BPF_MAX_PROGS 256u
#define KM_DUMP_BPF_VALUE_KEYS 4u
#define KM_DUMP_BPF_VALUE_BYTES 256u

static void km_dump_hex(FILE *f, const uint8_t *b, uint32_t n)
{
    static const char hex[] = "0123456789abcdef";
    (void)fputc('"', f);
    for (uint32_t i = 0u; i < n; i++) {
        (void)fputc(hex[(b[i] >> 4) & 0xFu], f);
        (void)fputc(hex[b[i] & 0xFu], f);
    }
    (void)fputc('"', f);
}

static void km_dump_name(FILE *f, const char *s)
{
    (void)fputc('"', f);
    for (size_t i = 0u; (i < KM_BPF_OBJ_NAME_LEN) && (s[i] != '\0'); i++) {
        unsigned char ch = (unsigned char)s[i];
        if ((ch < 0x20u) || (ch >= 0x7fu) || (ch == (unsigned char)'"') || (ch == (unsigned char)'\\')) {
            (void)fprintf(f, "\\u%04x", (unsigned int)ch);
        } else {
            (void)fputc((int)ch, f);
        }
    }
    (void)fputc('"', f);
}

static void km_dump_map_values(km_coord *c, FILE *f, const km_bpf_map_info *m)
{
    uint8_t buf[KM_DUMP_BPF_VALUE_BYTES];
    uint32_t len = m->value_size;
    uint32_t keys = m->max_entries;
    if (len > KM_DUMP_BPF_VALUE_BYTES) {
        len = KM_DUMP_BPF_VALUE_BYTES;
    }
    if (keys > KM_DUMP_BPF_VALUE_KEYS) {
        keys = KM_DUMP_BPF_VALUE_KEYS;
    }
    (void)fprintf(f, ", \"values\": [");
    for (uint32_t k = 0u; (k < keys) && (len > 0u); k++) {
        km_bpf_error be;
        km_status st = km_bpf_map_value(c->gk, &c->bpf_off, m, k, 0u, buf, len, &be);
        (void)fprintf(f, "%s{\"key\": %u, ", (k > 0u) ? ", " : "", k);
        if (st == KM_OK) {
            (void)fprintf(f, "\"bytes\": %u, \"hex\": ", len);
            km_dump_hex(f, buf, len);
        } else {
            (void)fprintf(f, "\"error\": \"%s\"", km_status_name(st));
        }
        (void)fputc('}', f);
    }
    (void)fputc(']', f);
}

static void km_dump_maps(km_coord *c, FILE *f)
{
    km_bpf_idr_iter it;
    km_bpf_error be;
    bool has = true;
    uint32_t n = 0u;
    km_status st = km_bpf_maps_begin(c->gk, &c->bpf_off, &it, &be);
    (void)fprintf(f, "    \"maps\": [");
    while ((st == KM_OK) && has && (n < KM_DUMP_BPF_MAX_MAPS)) {
        km_bpf_map_info m;
        km_status s = km_bpf_maps_next(c->gk, &c->bpf_off, &it, &m, &has, &be);
        if ((s == KM_OK) && has) {
            (void)fprintf(f, "%s\n      {\"id\": %u, \"name\": ", (n > 0u) ? "," : "", m.id);
            km_dump_name(f, m.name);
            (void)fprintf(f, ", \"type\": %u, \"type_name\": \"%s\", \"key_size\": %u, \"value_size\": %u, "
                             "\"max_entries\": %u, \"flags\": \"0x%x\", \"kva\": \"0x%llx\"",
                          m.type, (m.type_name != NULL) ? m.type_name : "unknown", m.key_size, m.value_size,
                          m.max_entries, m.map_flags, (unsigned long long)m.kva);
            if ((m.kind == KM_BPF_MAP_ARRAY) || (m.kind == KM_BPF_MAP_STRUCT_OPS)) {
                km_dump_map_values(c, f, &m);
            }
            (void)fputc('}', f);
            n++;
        } else if (s != KM_OK) {
            (void)fprintf(f, "%s\n      {\"error\": \"%s\"}", (n > 0u) ? "," : "", km_status_name(s));
            n++;
            st = (it.xa.state == KM_BPF_XA_FAILED) ? s : KM_OK; /* one unreadable map: go on */
        } else {
            /* done */
        }
    }
    (void)fprintf(f, "\n    ]");
    if (st != KM_OK) {
        (void)fprintf(f, ",\n    \"maps_error\": \"%s\"", km_status_name(st));
    }
}

static void km_dump_progs(km_coord *c, FILE *f)
{
    km_bpf_idr_iter it;
    km_bpf_error be;
    bool has = true;
    uint32_t n = 0u;
    km_status st = km_bpf_progs_begin(c->gk, &c->bpf_off, &it, &be);
    (void)fprintf(f, ",\n    \"struct_ops_progs\": [");
    while ((st == KM_OK) && has && (n < KM_DUMP_BPF_MAX_PROGS)) {
        km_bpf_prog_info p;
        km_status s = km_bpf_progs_next(c->gk, &c->bpf_off, &it, false, &p, &has, &be);
        if ((s == KM_OK) && has) {
            (void)fprintf(f, "%s\n      {\"id\": %u, \"name\": ", (n > 0u) ? "," : "", p.id);
            km_dump_name(f, p.name);
            (void)fprintf(f, ", \"verified_insns\": %u", p.verified_insns);
            if (p.stats_status == KM_OK) {
                (void)fprintf(f, ", \"run_cnt\": %llu, \"run_time_ns\": %llu", (unsigned long long)p.run_cnt,
                              (unsigned long long)p.run_time_ns);
            } else {
                (void)fprintf(f, ", \"stats_error\": \"%s\"", km_status_name(p.stats_status));
            }
            (void)fputc('}', f);
            n++;
        } else if (s != KM_OK) {
            (void)fprintf(f, "%s\n      {\"error\": \"%s\"}", (n > 0u) ? "," : "", km_status_name(s));
            n++;
            st = (it.xa.state == KM_BPF_XA_FAILED) ? s : KM_OK;
        } else {
            /* done */
        }
    }
    (void)fprintf(f, "\n    ]");
    if (st != KM_OK) {
        (void)fprintf(f, ",\n    \"progs_error\": \"%s\"", km_status_name(st));
    }
}

void km_coord_dump_bpf(km_coord *c, FILE *f)
{
    if (!c->bpf_off.ready) {
        km_bpf_error be;
        (void)km_bpf_offsets_init(c->btf, c->ks, &c->bpf_off, &be);
    }
    (void)fprintf(f, "  \"bpf\": {\n");
    if (!c->bpf_off.ready) {
        (void)fprintf(f, "    \"error\": \"BPF offsets not in BTF\"\n");
    } else {
        km_dump_maps(c, f);
        km_dump_progs(c, f);
        (void)fputc('\n', f);
    }
    (void)fprintf(f, "  },\n");
}
