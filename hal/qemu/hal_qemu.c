/* ktmon: the HAL ops table over QEMU's QMP and gdbstub.
 *
 * km_hal_qemu_open allocates the two clients (their buffers are too large for
 * a caller's stack) and km_hal_qemu_close frees them; no other function
 * allocates (docs/misra-deviations.md, 21.3). */
#include <stdlib.h>
#include <string.h>

#include "ktmon/qemu.h"
#include "sock.h"
#include "text.h"

/* The backend state behind the HAL's type-erased context: km_hal_qemu_hal
 * stores a km_hal_qemu * as the ctx that the coordinator hands back to every
 * op of km_hal_qemu_ops, and nothing else calls these ops. */
static km_hal_qemu *km_hq_of(void *ctx)
{
    /* cppcheck-suppress misra-c2012-11.5 ; HAL ops context back to its backend type, docs/misra-deviations.md */
    return (km_hal_qemu *)ctx;
}

/* Which armed slot covers addr (the stub names the watched address or one inside it). */
static bool km_hq_slot_of(const km_hal_qemu *h, uint64_t addr, uint32_t *slot)
{
    bool found = false;
    for (uint32_t i = 0u; (i < KM_HAL_SLOTS) && !found; i++) {
        if ((h->armed_len[i] != 0u) && (addr >= h->armed_kva[i]) && ((addr - h->armed_kva[i]) < h->armed_len[i])) {
            *slot = i;
            found = true;
        }
    }
    return found;
}

/* A stop reply arrived: is it one of our watchpoints? */
static bool km_hq_stop_to_hit(const km_hal_qemu *h, const km_gdb_stop *s, km_hal_hit *hit)
{
    uint32_t slot = 0u;
    bool ok = false;
    if (s->watch && km_hq_slot_of(h, s->watch_addr, &slot)) {
        hit->slot = slot;
        hit->addr = s->watch_addr;
        hit->cpu = s->thread;
        hit->t_ns = km_now_ns();
        ok = true;
    }
    return ok;
}

/* Stop the VM through the gdbstub (interrupt); a hit that raced in is kept. */
static km_status km_hq_stop(km_hal_qemu *h, km_error *err)
{
    km_status st = KM_OK;
    if (h->running) {
        km_gdb_stop s;
        st = km_gdb_interrupt(h->gdb, &s, err);
        if (st == KM_OK) {
            km_hal_hit hit;
            h->running = false;
            h->stops++;
            if (s.exited) {
                st = km_error_set(err, KM_ERR_IO, 0u, KM_NO_INDEX, 0);
            } else if (km_hq_stop_to_hit(h, &s, &hit) && !h->has_pending) {
                h->pending = hit;
                h->has_pending = true;
            } else {
                /* the interrupt's own stop */
            }
        }
    }
    return st;
}

static km_status km_hq_resume(km_hal_qemu *h, km_error *err)
{
    km_status st = KM_OK;
    if (!h->running) {
        st = km_gdb_continue(h->gdb, err);
        if (st == KM_OK) {
            h->running = true;
        }
    }
    return st;
}

static km_status km_hq_freeze(void *ctx, km_error *err)
{
    km_hal_qemu *h = km_hq_of(ctx);
    km_status st;
    if (h->gdb == NULL) {
        st = km_qmp_stop(h->qmp, err); /* QMP-only mode */
        if (st == KM_OK) {
            h->running = false;
            h->stops++;
        }
    } else {
        st = km_hq_stop(h, err);
    }
    return st;
}

static km_status km_hq_thaw(void *ctx, km_error *err)
{
    km_hal_qemu *h = km_hq_of(ctx);
    km_status st = KM_OK;
    if (h->gdb == NULL) {
        st = km_qmp_cont(h->qmp, err);
        h->running = (st == KM_OK);
    } else if (h->has_pending) {
        /* a hit is still to be reported: stay frozen until wait_hit hands it out */
        st = KM_OK;
    } else {
        st = km_hq_resume(h, err);
    }
    return st;
}

static km_status km_hq_vcpus(void *ctx, uint32_t *n, km_error *err)
{
    km_hal_qemu *h = km_hq_of(ctx);
    (void)err;
    *n = h->ncpus;
    return KM_OK;
}

static km_status km_hq_read_regs(void *ctx, uint32_t cpu, km_hal_regs *out, km_error *err)
{
    km_hal_qemu *h = km_hq_of(ctx);
    km_status st = KM_OK;
    km_hal_regs r;
    (void)memset(&r, 0, sizeof(r));
    r.arch = h->arch;
    if (cpu >= h->ncpus) {
        st = km_error_set(err, KM_ERR_RANGE, 0u, cpu, 0);
    } else if ((h->arch == KM_ARCH_AARCH64) && (h->gdb == NULL)) {
        st = km_error_set(err, KM_ERR_UNSUPPORTED, 0u, cpu, 0); /* arm64 system registers need the gdbstub */
    } else if (h->arch == KM_ARCH_X86_64) {
        /* QMP reads x86 registers without stopping the VM. */
        static char text[64u * 1024u];
        st = km_qmp_hmp(h->qmp, "info registers", (int)cpu, text, sizeof(text), err);
        if (st == KM_OK) {
            st = km_qemu_parse_x86_regs(text, &r.cr3, &r.cr4);
        }
        if (st == KM_OK) {
            /* RIP and RSP are informational: a parse failure leaves them 0 */
            const char *rip = strstr(text, "RIP=");
            const char *rsp = strstr(text, "RSP=");
            if (rip != NULL) {
                r.pc = km_txt_strtou64(&rip[4], strlen(&rip[4]), 16u);
            }
            if (rsp != NULL) {
                r.sp = km_txt_strtou64(&rsp[4], strlen(&rsp[4]), 16u);
            }
        }
    } else {
        bool was = h->running;
        st = km_hq_stop(h, err);
        if (st == KM_OK) {
            st = km_gdb_read_reg(h->gdb, (int)cpu, h->rn_ttbr1, &r.ttbr1, err);
        }
        if (st == KM_OK) {
            st = km_gdb_read_reg(h->gdb, (int)cpu, h->rn_tcr, &r.tcr, err);
        }
        if (st == KM_OK) {
            (void)km_gdb_read_reg(h->gdb, (int)cpu, h->rn_ttbr0, &r.ttbr0, err);
            (void)km_gdb_read_reg(h->gdb, (int)cpu, h->rn_pc, &r.pc, err);
            (void)km_gdb_read_reg(h->gdb, (int)cpu, h->rn_sp, &r.sp, err);
        }
        if (was && !h->has_pending) {
            km_status rs = km_hq_resume(h, err);
            st = (st == KM_OK) ? rs : st;
        }
    }
    if (st == KM_OK) {
        *out = r;
    }
    return st;
}

static km_status km_hq_set_watch(km_hal_qemu *h, uint32_t slot, uint64_t kva, uint32_t len, bool insert,
                                 km_error *err)
{
    km_status st = KM_OK;
    bool was = h->running;
    if (h->gdb == NULL) {
        st = km_error_set(err, KM_ERR_UNSUPPORTED, kva, slot, 0); /* watchpoints need the gdbstub */
    } else if ((slot >= KM_HAL_SLOTS) || (insert && ((len == 0u) || (len > 8u)))) {
        st = km_error_set(err, KM_ERR_INVALID_ARG, kva, slot, 0);
    } else {
        st = km_hq_stop(h, err);
        if ((st == KM_OK) && (h->armed_len[slot] != 0u)) {
            /* replace whatever the slot held */
            st = km_gdb_watch(h->gdb, h->armed_kva[slot], h->armed_len[slot], false, err);
            if (st == KM_OK) {
                h->armed_len[slot] = 0u;
                h->armed_kva[slot] = 0u;
            }
        }
        if ((st == KM_OK) && insert) {
            st = km_gdb_watch(h->gdb, kva, len, true, err);
            if (st == KM_OK) {
                h->armed_kva[slot] = kva;
                h->armed_len[slot] = len;
            }
        }
    }
    if (was && !h->has_pending) {
        km_status rs = km_hq_resume(h, err);
        st = (st == KM_OK) ? rs : st;
    }
    return st;
}

static km_status km_hq_arm(void *ctx, uint32_t slot, uint64_t kva, uint32_t len, km_error *err)
{
    return km_hq_set_watch(km_hq_of(ctx), slot, kva, len, true, err);
}

static km_status km_hq_disarm(void *ctx, uint32_t slot, km_error *err)
{
    return km_hq_set_watch(km_hq_of(ctx), slot, 0u, 0u, false, err);
}

static km_status km_hq_wait_hit(void *ctx, int timeout_ms, km_hal_hit *hit, km_error *err)
{
    km_hal_qemu *h = km_hq_of(ctx);
    km_status st = KM_ERR_TIMEOUT;
    if (h->has_pending) {
        *hit = h->pending;
        h->has_pending = false;
        st = KM_OK;
    } else if (!h->running || (h->gdb == NULL)) {
        /* nothing can hit while the VM is stopped, or without the gdbstub */
        km_sleep_ms(timeout_ms);
        st = km_error_set(err, KM_ERR_TIMEOUT, 0u, KM_NO_INDEX, 0);
    } else {
        km_gdb_stop s;
        st = km_gdb_wait_stop(h->gdb, timeout_ms, &s, err);
        if (st == KM_OK) {
            h->running = false;
            if (s.exited) {
                st = km_error_set(err, KM_ERR_IO, 0u, KM_NO_INDEX, 0);
            } else if (km_hq_stop_to_hit(h, &s, hit)) {
                st = KM_OK;
            } else {
                /* a stop that is not ours (or a watch we no longer hold): carry on */
                st = km_hq_resume(h, err);
                if (st == KM_OK) {
                    st = km_error_set(err, KM_ERR_TIMEOUT, 0u, KM_NO_INDEX, 0);
                }
            }
        }
    }
    return st;
}

static km_status km_hq_complete_hit(void *ctx, const km_hal_hit *hit, km_error *err)
{
    km_hal_qemu *h = km_hq_of(ctx);
    km_status st = KM_OK;
    if ((h->gdb != NULL) && (h->arch == KM_ARCH_AARCH64) && (hit->slot < KM_HAL_SLOTS) &&
        (h->armed_len[hit->slot] != 0u)) {
        /* arm64 reports a watchpoint before the store executes: lift the
         * watch, step that vCPU over the store, put the watch back. */
        km_gdb_stop s;
        uint64_t kva = h->armed_kva[hit->slot];
        uint32_t len = h->armed_len[hit->slot];
        st = km_gdb_watch(h->gdb, kva, len, false, err);
        if (st == KM_OK) {
            char cmd[64];
            km_txt t;
            /* thread ids are vCPU index + 1; an unknown vCPU (-1) steps vCPU 0 */
            uint64_t tid = (hit->cpu >= 0) ? ((uint64_t)hit->cpu + 1u) : 1u;
            km_txt_init(&t, cmd, sizeof(cmd));
            km_txt_str(&t, "vCont;s:p1.");
            km_txt_hex(&t, tid, 1u);
            st = km_gdb_command(h->gdb, cmd, err); /* the reply is the step's stop */
        }
        if ((st == KM_OK) && (km_gdb_parse_stop(h->gdb->pkt, &s) != KM_OK)) {
            st = km_error_set(err, KM_ERR_PROTOCOL, 0u, KM_NO_INDEX, 0);
        }
        km_status ws = km_gdb_watch(h->gdb, kva, len, true, err);
        st = (st == KM_OK) ? ws : st;
    }
    return st;
}

const km_hal_ops km_hal_qemu_ops = {
    .name = "qemu",
    .freeze = km_hq_freeze,
    .thaw = km_hq_thaw,
    .vcpus = km_hq_vcpus,
    .read_regs = km_hq_read_regs,
    .arm = km_hq_arm,
    .disarm = km_hq_disarm,
    .wait_hit = km_hq_wait_hit,
    .complete_hit = km_hq_complete_hit,
};

km_hal km_hal_qemu_hal(km_hal_qemu *h)
{
    km_hal hal = {.ops = &km_hal_qemu_ops, .ctx = h};
    return hal;
}

km_status km_hal_qemu_open(km_hal_qemu *h, const char *qmp_path, const char *gdb_host, uint16_t gdb_port,
                           km_error *err)
{
    km_status st = KM_OK;
    (void)memset(h, 0, sizeof(*h));
    h->qmp = (km_qmp *)malloc(sizeof(*h->qmp));
    if (gdb_port != 0u) { /* port 0: QMP-only (no watchpoints) */
        h->gdb = (km_gdb *)malloc(sizeof(*h->gdb));
    }
    /* no descriptor yet: km_hal_qemu_close must not close whatever malloc left in fd */
    if (h->qmp != NULL) {
        h->qmp->fd = -1;
    }
    if (h->gdb != NULL) {
        h->gdb->fd = -1;
    }
    if ((h->qmp == NULL) || ((gdb_port != 0u) && (h->gdb == NULL))) {
        st = KM_ERR_NO_MEMORY; /* set here, not through km_error_set: analysers see h->qmp != NULL when st is OK */
        (void)km_error_set(err, st, 0u, KM_NO_INDEX, 0);
    } else {
        st = km_qmp_connect(h->qmp, qmp_path, KM_QMP_DEFAULT_TIMEOUT_MS, err);
        if (st != KM_OK) {
            h->qmp->fd = -1;
        }
    }
    if (st == KM_OK) {
        char ret[8192];
        st = km_qmp_execute(h->qmp, "{\"execute\":\"query-target\"}", ret, sizeof(ret), err);
        h->arch = ((st == KM_OK) && (strstr(ret, "aarch64") != NULL)) ? KM_ARCH_AARCH64 : KM_ARCH_X86_64;
    }
    if (st == KM_OK) {
        /* vCPU count: one "cpu-index" per vCPU, counted in the whole reply
         * line (qmp->line), which may be longer than a copy */
        st = km_qmp_execute(h->qmp, "{\"execute\":\"query-cpus-fast\"}", NULL, 0u, err);
        for (const char *p = strstr(h->qmp->line, "\"cpu-index\""); (st == KM_OK) && (p != NULL);
             p = strstr(&p[1], "\"cpu-index\"")) {
            h->ncpus++;
        }
        if ((st == KM_OK) && (h->ncpus == 0u)) {
            st = km_error_set(err, KM_ERR_PROTOCOL, 0u, KM_NO_INDEX, 0);
        }
    }
    if (st == KM_OK) {
        st = km_qmp_query_status(h->qmp, &h->was_running, NULL, 0u, err);
    }
    if ((st == KM_OK) && (h->gdb == NULL)) {
        h->running = h->was_running;
    } else if (st == KM_OK) {
        st = km_gdb_connect(h->gdb, gdb_host, gdb_port, 5000, err); /* stops the VM */
    } else {
        /* reported */
    }
    if ((st == KM_OK) && (h->gdb != NULL) && (h->arch == KM_ARCH_AARCH64)) {
        st = km_gdb_load_regs(h->gdb, err);
        if ((st == KM_OK) && ((km_gdb_regnum(h->gdb, "TTBR1_EL1", &h->rn_ttbr1) != KM_OK) ||
                              (km_gdb_regnum(h->gdb, "TCR_EL1", &h->rn_tcr) != KM_OK) ||
                              (km_gdb_regnum(h->gdb, "TTBR0_EL1", &h->rn_ttbr0) != KM_OK) ||
                              (km_gdb_regnum(h->gdb, "pc", &h->rn_pc) != KM_OK) ||
                              (km_gdb_regnum(h->gdb, "sp", &h->rn_sp) != KM_OK))) {
            st = km_error_set(err, KM_ERR_UNSUPPORTED, 0u, KM_NO_INDEX, 0);
        }
    }
    if ((st == KM_OK) && (h->gdb != NULL) && h->was_running) {
        st = km_gdb_continue(h->gdb, err);
        h->running = (st == KM_OK);
    }
    if (st != KM_OK) {
        km_hal_qemu_close(h);
    }
    return st;
}

void km_hal_qemu_close(km_hal_qemu *h)
{
    km_error err;
    if ((h->gdb == NULL) && (h->qmp != NULL) && (h->qmp->fd >= 0) && h->was_running && !h->running) {
        (void)km_qmp_cont(h->qmp, &err); /* QMP-only: leave it running as found */
    }
    if ((h->gdb != NULL) && (h->gdb->fd >= 0)) {
        if (km_hq_stop(h, &err) == KM_OK) {
            for (uint32_t i = 0u; i < KM_HAL_SLOTS; i++) {
                if (h->armed_len[i] != 0u) {
                    (void)km_gdb_watch(h->gdb, h->armed_kva[i], h->armed_len[i], false, &err);
                    h->armed_len[i] = 0u;
                }
            }
        }
        (void)km_gdb_detach(h->gdb, h->was_running, &err);
    }
    if ((h->qmp != NULL) && (h->qmp->fd >= 0)) {
        km_qmp_close(h->qmp);
    }
    free(h->gdb);
    free(h->qmp);
    h->gdb = NULL;
    h->qmp = NULL;
}
