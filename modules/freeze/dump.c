/* ktmon: dump_state - what the coordinator writes when it has frozen the VM.
 *
 * The VM is frozen for the whole collection.  Every value comes from guest
 * memory through the guest-kernel translation; a value that cannot be read
 * is reported with its status, never as a zero.  The file is written to a
 * temporary name in the same directory and renamed: a reader sees either
 * no dump or a complete one. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "coord_int.h"

static void km_json_str(FILE *f, const char *s, size_t max)
{
    (void)fputc('"', f);
    for (size_t i = 0u; (i < max) && (s[i] != '\0'); i++) {
        unsigned char ch = (unsigned char)s[i];
        if ((ch == (unsigned char)'"') || (ch == (unsigned char)'\\')) {
            (void)fprintf(f, "\\%c", (char)ch);
        } else if ((ch < 0x20u) || (ch >= 0x7fu)) {
            (void)fprintf(f, "\\u%04x", (unsigned int)ch);
        } else {
            (void)fputc((int)ch, f);
        }
    }
    (void)fputc('"', f);
}

/* A NUL-terminated string at a guest KVA (pointer read from the guest), bounded. */
static km_status km_dump_guest_str(km_coord *c, uint64_t kva, char *out, size_t cap)
{
    km_status st = KM_OK;
    size_t n = 0u;
    bool end = false;
    if ((kva == 0u) || (cap == 0u)) {
        st = KM_ERR_INVALID_ARG;
    }
    /* page by page: a string may end just before an unmapped page */
    while ((st == KM_OK) && !end && ((n + 1u) < cap)) {
        uint64_t va = kva + n;
        size_t chunk = (size_t)(4096u - (va & 4095u));
        if (chunk > ((cap - 1u) - n)) {
            chunk = (cap - 1u) - n;
        }
        st = km_gk_read_bytes(c->gk, va, (uint8_t *)&out[n], chunk);
        if (st == KM_OK) {
            for (size_t i = 0u; (i < chunk) && !end; i++) {
                if (out[n + i] == '\0') {
                    end = true;
                }
            }
            n += chunk;
        }
    }
    if (st == KM_OK) {
        out[(n < cap) ? n : (cap - 1u)] = '\0';
    }
    return st;
}

/* Append "label" + text (printable ASCII only) to the one-line summary. */
static void km_summary_add(km_coord *c, const char *label, const char *text)
{
    size_t n = strlen(c->summary);
    const char *parts[2] = {label, text};
    for (size_t k = 0u; k < 2u; k++) {
        for (const char *p = parts[k]; (*p != '\0') && ((n + 1u) < sizeof(c->summary)); p++) {
            unsigned char ch = (unsigned char)*p;
            if ((ch >= 0x20u) && (ch < 0x7fu)) {
                c->summary[n] = *p;
            } else {
                c->summary[n] = ' ';
            }
            n++;
        }
    }
    c->summary[n] = '\0';
}

/* The scx_sched at root (attached): id, exit kind, exit info. */
static void km_dump_sched(km_coord *c, FILE *f, uint64_t root)
{
    uint64_t id = 0u;
    uint32_t kind = 0u;
    km_status sid = km_gk_read_u64(c->gk, root + c->off.sched_id, &id);
    km_status sk = km_gk_read_u32(c->gk, root + c->off.sched_exit_kind, &kind);
    (void)fprintf(f, "    \"attached\": true,\n");
    if (sid == KM_OK) {
        (void)fprintf(f, "    \"id\": %llu,\n", (unsigned long long)id);
    }
    if (sk == KM_OK) {
        (void)fprintf(f, "    \"exit_kind\": %u,\n    \"exit_kind_name\": ", kind);
        km_json_str(f, km_coord_exit_name(c, kind), 64u);
        (void)fprintf(f, ",\n");
    } else {
        (void)fprintf(f, "    \"exit_kind_error\": \"%s\",\n", km_status_name(sk));
    }
    if (c->off.have_exit_info) {
        uint64_t ei = 0u;
        km_status se = km_gk_read_u64(c->gk, root + c->off.sched_exit_info, &ei);
        (void)fprintf(f, "    \"exit_info\": {");
        if ((se != KM_OK) || (ei == 0u)) {
            (void)fprintf(f, "\"error\": \"%s\"", (se != KM_OK) ? km_status_name(se) : "no exit_info");
        } else {
            uint32_t ekind = 0u;
            uint64_t code = 0u;
            uint64_t reason_p = 0u;
            uint64_t msg_p = 0u;
            char text[1024];
            (void)fprintf(f, "\"kva\": \"0x%llx\"", (unsigned long long)ei);
            if (km_gk_read_u32(c->gk, ei + c->off.ei_kind, &ekind) == KM_OK) {
                (void)fprintf(f, ", \"kind\": %u", ekind);
            }
            if (km_gk_read_u64(c->gk, ei + c->off.ei_exit_code, &code) == KM_OK) {
                (void)fprintf(f, ", \"exit_code\": %lld", (long long)code);
            }
            if ((km_gk_read_u64(c->gk, ei + c->off.ei_reason, &reason_p) == KM_OK) && (reason_p != 0u) &&
                (km_dump_guest_str(c, reason_p, text, 256u) == KM_OK)) {
                (void)fprintf(f, ", \"reason\": ");
                km_json_str(f, text, 256u);
                km_summary_add(c, " reason: ", text);
            }
            if ((km_gk_read_u64(c->gk, ei + c->off.ei_msg, &msg_p) == KM_OK) && (msg_p != 0u) &&
                (km_dump_guest_str(c, msg_p, text, sizeof(text)) == KM_OK)) {
                (void)fprintf(f, ", \"msg\": ");
                km_json_str(f, text, sizeof(text));
                km_summary_add(c, "; message: ", text);
            }
        }
        (void)fprintf(f, "},\n");
    }
    (void)fprintf(f, "    \"exit_kind_offset\": %u\n  },\n", c->off.sched_exit_kind);
}

static void km_dump_scx(km_coord *c, FILE *f)
{
    uint64_t root = 0u;
    uint64_t root_kva = 0u;
    km_status st = km_gk_sym_kva(c->gk, c->scx_root_link, &root_kva);
    if (st == KM_OK) {
        st = km_gk_read_u64(c->gk, root_kva, &root);
    }
    (void)fprintf(f, "  \"scx\": {\n");
    if (st != KM_OK) {
        (void)fprintf(f, "    \"error\": \"scx_root: %s\"\n  },\n", km_status_name(st));
    } else if (root == 0u) {
        (void)fprintf(f, "    \"scx_root\": \"0x0\",\n    \"attached\": false\n  },\n");
    } else {
        (void)fprintf(f, "    \"scx_root\": \"0x%llx\",\n", (unsigned long long)root);
        km_dump_sched(c, f, root);
    }
}

static void km_dump_rqs(km_coord *c, FILE *f);

static void km_dump_cpus(km_coord *c, FILE *f)
{
    km_gk_error ge;
    km_status st = km_gk_try_init_percpu(c->gk, &ge);
    (void)fprintf(f, "  \"cpus\": [");
    if ((st != KM_OK) || !c->off.have_rq || (c->runqueues_link == 0u)) {
        (void)fprintf(f, "],\n  \"cpus_error\": \"%s\",\n",
                      (st != KM_OK) ? km_status_name(st) : "no runqueue offsets in BTF");
    } else {
        km_dump_rqs(c, f);
    }
}

/* Every CPU's runqueue (per-CPU offsets cached). */
static void km_dump_rqs(km_coord *c, FILE *f)
{
    uint32_t total_nr = 0u;
    uint32_t total_scx = 0u;
    for (uint32_t cpu = 0u; cpu < c->gk->ncpus; cpu++) {
        uint64_t rq = 0u;
        uint32_t nr = 0u;
        uint32_t scx_nr = 0u;
        uint32_t flags = 0u;
        uint32_t dsq = 0u;
        uint32_t self = 0u;
        uint64_t clock = 0u;
        km_status s = km_gk_percpu_kva(c->gk, c->runqueues_link, cpu, &rq);
        if (s == KM_OK) {
            s = km_gk_read_u32(c->gk, rq + c->off.rq_cpu, &self);
        }
        if (s == KM_OK) {
            s = km_gk_read_u32(c->gk, rq + c->off.rq_nr_running, &nr);
        }
        if (s == KM_OK) {
            s = km_gk_read_u64(c->gk, rq + c->off.rq_clock, &clock);
        }
        if (s == KM_OK) {
            s = km_gk_read_u32(c->gk, rq + c->off.rq_scx_nr_running, &scx_nr);
        }
        if (s == KM_OK) {
            s = km_gk_read_u32(c->gk, rq + c->off.rq_scx_flags, &flags);
        }
        if (s == KM_OK) {
            s = km_gk_read_u32(c->gk, rq + c->off.rq_dsq_nr, &dsq);
        }
        (void)fprintf(f, "%s\n    {\"cpu\": %u, \"rq\": \"0x%llx\"", (cpu > 0u) ? "," : "", cpu,
                      (unsigned long long)rq);
        if (s == KM_OK) {
            total_nr += nr;
            total_scx += scx_nr;
            (void)fprintf(f,
                          ", \"rq_cpu\": %u, \"nr_running\": %u, \"clock\": %llu, \"scx_nr_running\": %u, "
                          "\"scx_flags\": \"0x%x\", \"local_dsq_nr\": %u}",
                          self, nr, (unsigned long long)clock, scx_nr, flags, dsq);
        } else {
            (void)fprintf(f, ", \"error\": \"%s\"}", km_status_name(s));
        }
    }
    (void)fprintf(f, "\n  ],\n");
    {
        char line[96];
        (void)snprintf(line, sizeof(line), "; %u CPUs, runnable %u (sched_ext %u)", c->gk->ncpus, total_nr, total_scx);
        km_summary_add(c, line, "");
    }
}

static void km_dump_vcpus(km_coord *c, FILE *f)
{
    uint32_t n = 0u;
    km_error err;
    km_status st = c->hal.ops->vcpus(c->hal.ctx, &n, &err);
    (void)fprintf(f, "  \"vcpus\": [");
    for (uint32_t i = 0u; (st == KM_OK) && (i < n) && (i < KM_COORD_MAX_CPUS); i++) {
        km_hal_regs r;
        km_status s = c->hal.ops->read_regs(c->hal.ctx, i, &r, &err);
        (void)fprintf(f, "%s\n    {\"cpu\": %u", (i > 0u) ? "," : "", i);
        if (s != KM_OK) {
            (void)fprintf(f, ", \"error\": \"%s\"}", km_status_name(s));
        } else if (r.arch == KM_ARCH_AARCH64) {
            (void)fprintf(f, ", \"pc\": \"0x%llx\", \"sp\": \"0x%llx\", \"ttbr0\": \"0x%llx\", \"ttbr1\": \"0x%llx\", "
                             "\"tcr\": \"0x%llx\"}",
                          (unsigned long long)r.pc, (unsigned long long)r.sp, (unsigned long long)r.ttbr0,
                          (unsigned long long)r.ttbr1, (unsigned long long)r.tcr);
        } else {
            (void)fprintf(f, ", \"rip\": \"0x%llx\", \"rsp\": \"0x%llx\", \"cr3\": \"0x%llx\", \"cr4\": \"0x%llx\"}",
                          (unsigned long long)r.pc, (unsigned long long)r.sp, (unsigned long long)r.cr3,
                          (unsigned long long)r.cr4);
        }
    }
    (void)fprintf(f, "\n  ],\n");
}

static void km_dump_jiffies(km_coord *c, FILE *f, const char *key)
{
    uint64_t kva = 0u;
    uint64_t v = 0u;
    if ((c->jiffies_link != 0u) && (km_gk_sym_kva(c->gk, c->jiffies_link, &kva) == KM_OK) &&
        (km_gk_read_u64(c->gk, kva, &v) == KM_OK)) {
        (void)fprintf(f, "  \"%s\": %llu,\n", key, (unsigned long long)v);
    }
}

km_status km_coord_write_dump(km_coord *c, const char *trigger, uint32_t slot, uint64_t value, uint64_t t_hit_ns,
                              uint64_t t_frozen_ns)
{
    km_status st = KM_OK;
    char tmp[KM_COORD_PATH_MAX];
    char final[KM_COORD_PATH_MAX];
    struct timespec wall;
    struct tm tmv;
    char stamp[32];
    FILE *f = NULL;
    /* The VM is frozen now, but it ran since the translations were cached: vmalloc'd objects
     * (BPF maps, per-CPU chunks) may have been freed and their pages remapped.  Walk the frozen
     * page tables afresh. */
    km_gk_invalidate(c->gk);
    (void)clock_gettime(CLOCK_REALTIME, &wall);
    (void)gmtime_r(&wall.tv_sec, &tmv);
    (void)strftime(stamp, sizeof(stamp), "%Y%m%dT%H%M%SZ", &tmv);
    c->dump_seq++;
    int n1 = snprintf(final, sizeof(final), "%s/ktmon-dump-%s-%u.json", c->cfg.out_dir, stamp, c->dump_seq);
    int n2 = snprintf(tmp, sizeof(tmp), "%s/.ktmon-dump-%s-%u.json.tmp", c->cfg.out_dir, stamp, c->dump_seq);
    if ((n1 < 0) || (n2 < 0) || ((size_t)n1 >= sizeof(final)) || ((size_t)n2 >= sizeof(tmp))) {
        st = KM_ERR_INVALID_ARG;
    } else {
        int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, S_IRUSR | S_IWUSR | S_IRGRP | S_IROTH);
        f = (fd >= 0) ? fdopen(fd, "w") : NULL;
        if (f == NULL) {
            st = KM_ERR_IO;
            if (fd >= 0) {
                (void)close(fd);
            }
        }
    }
    if (st == KM_OK) {
        c->summary[0] = '\0';
        km_summary_add(c, trigger, (slot == 0u) ? ": " : "");
        if (slot == 0u) {
            km_summary_add(c, "", km_coord_exit_name(c, (uint32_t)value));
        }
        (void)fprintf(f, "{\n  \"ktmon_version\": \"%s\",\n", KTMON_VERSION_STRING);
        (void)fprintf(f, "  \"time_utc\": \"%s\",\n", stamp);
        (void)fprintf(f, "  \"trigger\": {\"kind\": ");
        km_json_str(f, trigger, 64u);
        (void)fprintf(f, ", \"slot\": %u, \"value\": %llu", slot, (unsigned long long)value);
        if (slot == 0u) {
            (void)fprintf(f, ", \"exit_kind_name\": ");
            km_json_str(f, km_coord_exit_name(c, (uint32_t)value), 64u);
        }
        (void)fprintf(f, "},\n");
        (void)fprintf(f, "  \"timestamps_ns\": {\"hit\": %llu, \"frozen\": %llu, \"dump_start\": %llu},\n",
                      (unsigned long long)t_hit_ns, (unsigned long long)t_frozen_ns, (unsigned long long)km_coord_now_ns());
        (void)fprintf(f, "  \"kernel\": {\"kaslr_offset\": \"0x%llx\", \"page_offset\": \"0x%llx\", \"text_pa\": \"0x%llx\"},\n",
                      (unsigned long long)c->gk->kaslr, (unsigned long long)c->gk->page_offset,
                      (unsigned long long)c->gk->text_pa);
        km_dump_jiffies(c, f, "jiffies_start");
        km_dump_scx(c, f);
        km_dump_cpus(c, f);
        km_coord_dump_bpf(c, f);
        km_dump_vcpus(c, f);
        /* equal to jiffies_start: the guest did not run while it was dumped */
        km_dump_jiffies(c, f, "jiffies_end");
        (void)fprintf(f, "  \"dump_end_ns\": %llu\n}\n", (unsigned long long)km_coord_now_ns());
        if ((fflush(f) != 0) || (fsync(fileno(f)) != 0)) {
            st = KM_ERR_IO;
        }
        if (fclose(f) != 0) {
            st = KM_ERR_IO;
        }
        if ((st == KM_OK) && (rename(tmp, final) != 0)) {
            st = KM_ERR_IO;
        }
        if (st != KM_OK) {
            (void)unlink(tmp);
        }
    }
    if (st == KM_OK) {
        size_t len = strlen(final);
        (void)memcpy(c->last_dump, final, len + 1u);
        c->dumps++;
    }
    return st;
}
