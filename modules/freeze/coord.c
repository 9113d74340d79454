/* ktmon: the coordinator (see include/ktmon/freeze.h). */
#include <string.h>
#include <time.h>

#include "coord_int.h"

/* exit kinds named in a dump (values come from BTF, never from this list) */
static const char *const km_exit_names[] = {
    "SCX_EXIT_NONE",       "SCX_EXIT_DONE",        "SCX_EXIT_UNREG",       "SCX_EXIT_UNREG_BPF",
    "SCX_EXIT_UNREG_KERN", "SCX_EXIT_SYSRQ",       "SCX_EXIT_PARENT",      "SCX_EXIT_PARENT_KILL",
    "SCX_EXIT_ERROR",      "SCX_EXIT_ERROR_BPF",   "SCX_EXIT_ERROR_STALL", "SCX_EXIT_ERROR_REENQ",
    "SCX_EXIT_ERROR_RESCUE",
};
#define KM_NEXIT (sizeof(km_exit_names) / sizeof(km_exit_names[0]))
static uint64_t km_exit_values[KM_NEXIT];
static bool km_exit_known[KM_NEXIT];

uint64_t km_coord_now_ns(void)
{
    struct timespec ts;
    (void)clock_gettime(CLOCK_MONOTONIC, &ts);
    return ((uint64_t)ts.tv_sec * UINT64_C(1000000000)) + (uint64_t)ts.tv_nsec;
}

const char *km_coord_exit_name(const km_coord *c, uint32_t value)
{
    const char *n = "unknown";
    (void)c;
    for (size_t i = 0u; i < KM_NEXIT; i++) {
        if (km_exit_known[i] && (km_exit_values[i] == value)) {
            n = km_exit_names[i];
        }
    }
    return n;
}

static void km_emit(km_coord *c, km_coord_ev kind, uint64_t kva, uint64_t id, uint64_t value, uint32_t slot,
                    km_status st, const char *text)
{
    if (c->cfg.on_event != NULL) {
        km_coord_event *e = &c->ev;
        e->kind = kind;
        e->t_ns = km_coord_now_ns();
        e->kva = kva;
        e->id = id;
        e->value = value;
        e->slot = slot;
        e->status = st;
        e->text[0] = '\0';
        if (text != NULL) {
            size_t n = strlen(text);
            if (n >= sizeof(e->text)) {
                n = sizeof(e->text) - 1u;
            }
            (void)memcpy(e->text, text, n);
            e->text[n] = '\0';
        }
        c->cfg.on_event(c->cfg.ev_ctx, e);
    }
}

km_status km_coord_init(km_coord *c, km_hal hal, const km_mem *mem, km_guest_kernel *gk, const km_btf *btf,
                        const km_ksym *ks, const km_coord_config *cfg)
{
    km_status st = KM_OK;
    (void)memset(c, 0, sizeof(*c));
    c->hal = hal;
    c->mem = mem;
    c->gk = gk;
    c->btf = btf;
    c->ks = ks;
    c->cfg = *cfg;
    if (c->cfg.tick_ms == 0u) {
        c->cfg.tick_ms = KM_COORD_DEFAULT_TICK_MS;
    }
    if (c->cfg.warn_after == 0u) {
        c->cfg.warn_after = 12u;
    }
    if (c->cfg.late_wait_ms == 0u) {
        c->cfg.late_wait_ms = 1000u;
    }
    if ((hal.ops == NULL) || (c->cfg.out_dir == NULL) || (c->cfg.nuser > KM_COORD_MAX_USER)) {
        st = KM_ERR_INVALID_ARG;
    } else if (km_ksym_addr(ks, "scx_root", &c->scx_root_link) != KM_OK) {
        st = KM_ERR_NO_SYMBOL; /* no sched_ext in this kernel */
    } else {
        (void)km_ksym_addr(ks, "runqueues", &c->runqueues_link);
        (void)km_ksym_addr(ks, "jiffies_64", &c->jiffies_link);
        km_wp_table_init(&c->wp, NULL, NULL, -1);
        c->fstate = KM_FREEZE_IDLE;
    }
    return st;
}

static km_status km_coord_resolve_offsets(km_coord *c)
{
    km_btf_error be;
    km_status st;
    km_btf_field req[] = {
        {"scx_sched.exit_kind", &c->off.sched_exit_kind, NULL, true, false},
        {"scx_sched.id", &c->off.sched_id, NULL, true, false},
    };
    st = km_btf_resolve_fields(c->btf, req, (uint32_t)(sizeof(req) / sizeof(req[0])), &be);
    if (st == KM_OK) {
        km_btf_field ei[] = {
            {"scx_sched.exit_info", &c->off.sched_exit_info, NULL, true, false},
            {"scx_exit_info.kind", &c->off.ei_kind, NULL, true, false},
            {"scx_exit_info.exit_code", &c->off.ei_exit_code, NULL, true, false},
            {"scx_exit_info.reason", &c->off.ei_reason, NULL, true, false},
            {"scx_exit_info.msg", &c->off.ei_msg, NULL, true, false},
        };
        km_btf_field rq[] = {
            {"rq.cpu", &c->off.rq_cpu, NULL, true, false},
            {"rq.nr_running", &c->off.rq_nr_running, NULL, true, false},
            {"rq.clock", &c->off.rq_clock, NULL, true, false},
            {"rq.scx.nr_running", &c->off.rq_scx_nr_running, NULL, true, false},
            {"rq.scx.flags", &c->off.rq_scx_flags, NULL, true, false},
            {"rq.scx.local_dsq.nr", &c->off.rq_dsq_nr, NULL, true, false},
        };
        c->off.have_exit_info = km_btf_resolve_fields(c->btf, ei, (uint32_t)(sizeof(ei) / sizeof(ei[0])), &be) == KM_OK;
        c->off.have_rq = km_btf_resolve_fields(c->btf, rq, (uint32_t)(sizeof(rq) / sizeof(rq[0])), &be) == KM_OK;
        for (size_t i = 0u; i < KM_NEXIT; i++) {
            km_btf_enum_val v;
            km_exit_known[i] = km_btf_enum_value(c->btf, "scx_exit_kind", km_exit_names[i], &v, &be) == KM_OK;
            km_exit_values[i] = km_exit_known[i] ? v.value : 0u;
        }
        c->offsets_ok = true;
    }
    return st;
}

static km_status km_coord_regs(void *ctx, uint32_t cpu, km_gk_regs *out)
{
    /* cppcheck-suppress misra-c2012-11.5 ; callback context, docs/misra-deviations.md */
    km_coord *c = ctx;
    km_hal_regs r;
    km_error err;
    km_status st = c->hal.ops->read_regs(c->hal.ctx, cpu, &r, &err);
    if (st == KM_OK) {
        out->arch = r.arch;
        out->cr3 = r.cr3;
        out->cr4 = r.cr4;
        out->ttbr1 = r.ttbr1;
        out->tcr = r.tcr;
    }
    return st;
}

/* The host pointer to exit_kind of the instance at kva (for the FSM's target). */
static void km_coord_xlate(km_coord *c, uint64_t kva, km_wp_xlate *xl)
{
    uint64_t target = 0u;
    uint64_t pa = 0u;
    volatile uint8_t *host = NULL;
    xl->ok = false;
    xl->host = NULL;
    if ((km_wp_target_kva(kva, c->off.sched_exit_kind, &target) == KM_OK) && ((target & 3u) == 0u) &&
        (km_gk_kva_to_pa(c->gk, target, &pa) == KM_OK) && (km_mem_host_ptr(c->mem, pa, 4u, &host) == KM_OK)) {
        /* exit_kind is a naturally aligned u32 field (checked above on the KVA, and the page offset
         * carries over to the host mapping of page-aligned RAM), so the host address is 4-aligned. */
        volatile void *word = host;
        /* cppcheck-suppress misra-c2012-11.5 ; aligned guest word, docs/misra-deviations.md */
        xl->host = (volatile uint32_t *)word;
        xl->ok = true;
    }
}

static void km_coord_user_watches(km_coord *c)
{
    for (uint32_t i = 0u; i < c->cfg.nuser; i++) {
        if (!c->user_armed[i]) {
            km_wp_symbol sym = {.found = false, .link_kva = 0u, .kaslr_resolved = c->gk->ready};
            uint32_t slot = 0u;
            km_error err;
            sym.found = km_ksym_addr(c->ks, c->cfg.user_syms[i], &sym.link_kva) == KM_OK;
            km_status st = km_wp_user_arm(&c->wp, &sym, c->gk->kaslr, c->cfg.user_syms[i],
                                          strlen(c->cfg.user_syms[i]), &slot, &err);
            if (st == KM_OK) {
                uint64_t kva = sym.link_kva + c->gk->kaslr;
                st = c->hal.ops->arm(c->hal.ctx, slot, kva, 4u, &err);
                if (st == KM_OK) {
                    c->user_armed[i] = true;
                    c->user_kva[i] = kva;
                    km_emit(c, KM_EV_USER_ARMED, kva, 0u, 0u, slot, KM_OK, c->cfg.user_syms[i]);
                } else {
                    (void)km_wp_user_clear(&c->wp, slot);
                    km_emit(c, KM_EV_WARN, kva, 0u, 0u, slot, st, "arming a user watch failed");
                }
            } else {
                km_emit(c, KM_EV_WARN, 0u, 0u, 0u, 0u, st, c->cfg.user_syms[i]);
                c->user_armed[i] = true; /* reported once; not retried */
            }
        }
    }
}

km_status km_coord_tick(km_coord *c)
{
    km_status st = KM_OK;
    c->ticks++;
    if (!c->gk->ready) {
        st = km_gk_try_init(c->gk, km_coord_regs, c);
        if (st == KM_OK) {
            km_emit(c, KM_EV_INIT_OK, c->gk->text_kva, 0u, c->gk->kaslr, 0u, KM_OK, NULL);
        } else if ((c->gk->attempts == 1u) || ((c->gk->attempts % c->cfg.warn_after) == 0u)) {
            km_emit(c, KM_EV_INIT_WAIT, c->gk->last.addr, 0u, c->gk->attempts, 0u, c->gk->last.status,
                    km_gk_stage_name(c->gk->last.stage));
        } else {
            /* quiet retry */
        }
    }
    if ((st == KM_OK) && !c->offsets_ok) {
        st = km_coord_resolve_offsets(c);
        if (st != KM_OK) {
            km_emit(c, KM_EV_WARN, 0u, 0u, 0u, 0u, st, "BTF has no scx_sched.exit_kind/id: no sched_ext?");
        }
    }
    if (st == KM_OK) {
        uint64_t root_kva = 0u;
        km_wp_root cur = {.kva = 0u, .id = 0u};
        km_wp_xlate xl = {.ok = false, .host = NULL};
        km_wp_step step;
        (void)km_gk_sym_kva(c->gk, c->scx_root_link, &root_kva);
        st = km_gk_read_u64(c->gk, root_kva, &cur.kva);
        if ((st == KM_OK) && (cur.kva != 0u)) {
            /* read the id with the root: 7.3 reuses scx_sched addresses */
            st = km_gk_read_u64(c->gk, cur.kva + c->off.sched_id, &cur.id);
        }
        if ((st == KM_OK) && km_wp_needs_target(&c->last, &cur)) {
            km_coord_xlate(c, cur.kva, &xl);
        }
        if (st == KM_OK) {
            (void)km_wp_tick(&c->wp, &c->last, &cur, c->off.sched_exit_kind, &xl, &step);
            km_error err;
            if (step.outcome == KM_WP_PUBLISHED) {
                st = c->hal.ops->arm(c->hal.ctx, 0u, step.target_kva, 4u, &err);
                if (st == KM_OK) {
                    c->slot0_kva = step.target_kva;
                    c->slot0_host = step.host;
                    c->published++;
                    c->have_last_hit = false;
                    km_emit(c, KM_EV_PUBLISHED, cur.kva, cur.id, step.target_kva, 0u, KM_OK, NULL);
                }
            } else if ((step.outcome == KM_WP_DETACHED) || (step.outcome == KM_WP_REBIND_DISARMED)) {
                st = c->hal.ops->disarm(c->hal.ctx, 0u, &err);
                c->slot0_kva = 0u;
                c->slot0_host = NULL;
                if (step.outcome == KM_WP_DETACHED) {
                    c->detached++;
                    km_emit(c, KM_EV_DETACHED, 0u, 0u, 0u, 0u, st, NULL);
                } else {
                    c->rebinds++;
                    km_emit(c, KM_EV_REBIND, cur.kva, cur.id, 0u, 0u, st, NULL);
                }
            } else if (step.outcome == KM_WP_PUBLISH_DEFERRED) {
                km_emit(c, KM_EV_DEFERRED, cur.kva, cur.id, 0u, 0u, KM_OK, NULL);
            } else {
                /* unchanged */
            }
        } else {
            /* the root or its id could not be read this tick (a teardown in progress): try again next tick */
            st = KM_OK;
        }
        km_coord_user_watches(c);
    } else if (st == KM_ERR_NOT_READY) {
        st = KM_OK; /* not booted yet: keep ticking */
    } else {
        /* reported */
    }
    return st;
}

/* Value of exit_kind now, through the host pointer the FSM published. */
static bool km_coord_read_kind(const km_coord *c, uint32_t *v)
{
    bool ok = false;
    if (c->slot0_host != NULL) {
        *v = *c->slot0_host;
        ok = true;
    }
    return ok;
}

/* Is the exit info complete (ei->kind == kind and ei->reason set)? */
static bool km_coord_exit_info_ready(km_coord *c, uint64_t ei, uint32_t kind)
{
    uint32_t ekind = 0u;
    uint64_t reason = 0u;
    return (km_gk_read_u32(c->gk, ei + c->off.ei_kind, &ekind) == KM_OK) && (ekind == kind) &&
           (km_gk_read_u64(c->gk, ei + c->off.ei_reason, &reason) == KM_OK) && (reason != 0u);
}

/* Wait for the exit message.  scx_vexit() (kernel/sched/ext.c, 6.12 .. 7.3) stores exit_kind (the early
 * trigger), then the message, then ei->kind and last ei->reason: a write watch on ei->reason in a spare
 * slot is the late trigger.  The VM is frozen on entry and on return. */
static void km_coord_late_trigger(km_coord *c, uint64_t sched, uint32_t kind)
{
    uint64_t ei = 0u;
    km_error err;
    uint32_t spare = KM_HAL_SLOTS;
    bool ready = !c->off.have_exit_info || (km_gk_read_u64(c->gk, sched + c->off.sched_exit_info, &ei) != KM_OK) ||
                 (ei == 0u) || km_coord_exit_info_ready(c, ei, kind);
    for (uint32_t s = KM_HAL_SLOTS - 1u; !ready && (s > 0u) && (spare == KM_HAL_SLOTS); s--) {
        if (c->wp.user[s - 1u].request_kva == 0u) {
            spare = s;
        }
    }
    if (!ready && (spare == KM_HAL_SLOTS)) {
        km_emit(c, KM_EV_WARN, 0u, 0u, 0u, 0u, KM_ERR_CAPACITY, "no spare watch slot for the exit message");
    } else if (!ready && (c->hal.ops->arm(c->hal.ctx, spare, ei + c->off.ei_reason, 8u, &err) == KM_OK)) {
        uint64_t deadline = km_coord_now_ns() + ((uint64_t)c->cfg.late_wait_ms * UINT64_C(1000000));
        bool stop = false;
        (void)c->hal.ops->thaw(c->hal.ctx, &err);
        while (!ready && !stop && (km_coord_now_ns() < deadline)) {
            km_hal_hit h;
            km_status s = c->hal.ops->wait_hit(c->hal.ctx, 50, &h, &err);
            if (s == KM_OK) {
                (void)c->hal.ops->complete_hit(c->hal.ctx, &h, &err);
                ready = km_coord_exit_info_ready(c, ei, kind);
                if (!ready) {
                    (void)c->hal.ops->thaw(c->hal.ctx, &err); /* another store: keep going */
                }
            } else if (s != KM_ERR_TIMEOUT) {
                stop = true;
            } else {
                /* keep waiting */
            }
        }
        (void)c->hal.ops->freeze(c->hal.ctx, &err);
        (void)c->hal.ops->disarm(c->hal.ctx, spare, &err);
        if (!ready) {
            km_emit(c, KM_EV_WARN, ei, 0u, 0u, spare, KM_ERR_TIMEOUT, "exit message not seen in time");
        }
    } else {
        /* ready already, or the spare watch could not be armed: dump what there is */
    }
}

km_status km_coord_on_hit(km_coord *c, const km_hal_hit *hit)
{
    km_status st = KM_OK;
    km_error err;
    uint64_t t_frozen = km_coord_now_ns();
    (void)c->hal.ops->complete_hit(c->hal.ctx, hit, &err);
    km_gk_invalidate(c->gk); /* stopped at the store: translate against the page tables of now */
    c->hits++;
    if ((hit->slot == 0u) && (c->slot0_kva != 0u)) {
        uint32_t kind = 0u;
        if (!km_coord_read_kind(c, &kind)) {
            /* a stale fire: the slot was withdrawn */
            st = c->hal.ops->thaw(c->hal.ctx, &err);
        } else if (c->have_last_hit && (c->last_hit_root.kva == c->last.kva) && (c->last_hit_root.id == c->last.id) &&
                   (c->last_hit_value == kind)) {
            /* QEMU 7.2 reports a lock cmpxchg store twice */
            km_emit(c, KM_EV_DUPLICATE, c->last.kva, c->last.id, kind, 0u, KM_OK, NULL);
            st = c->hal.ops->thaw(c->hal.ctx, &err);
        } else {
            c->have_last_hit = true;
            c->last_hit_root = c->last;
            c->last_hit_value = kind;
            km_emit(c, KM_EV_HIT, c->last.kva, c->last.id, kind, 0u, KM_OK, km_coord_exit_name(c, kind));
            if (kind < KM_WP_EXIT_ERROR_MIN) {
                km_emit(c, KM_EV_BELOW_GATE, c->last.kva, c->last.id, kind, 0u, KM_OK, km_coord_exit_name(c, kind));
                st = c->hal.ops->thaw(c->hal.ctx, &err);
            } else {
                uint64_t sched = c->last.kva;
                c->fstate = KM_FREEZE_TOOK_EARLY;
                km_emit(c, KM_EV_ERROR_EXIT, sched, c->last.id, kind, 0u, KM_OK, km_coord_exit_name(c, kind));
                km_coord_late_trigger(c, sched, kind);
                st = km_coord_write_dump(c, "scx_exit", 0u, kind, hit->t_ns, t_frozen);
                c->fstate = KM_FREEZE_DONE;
                c->errors_caught++;
                if (st == KM_OK) {
                    km_emit(c, KM_EV_SUMMARY, sched, c->last.id, kind, 0u, KM_OK, c->summary);
                    km_emit(c, KM_EV_DUMP, sched, c->last.id, kind, 0u, KM_OK, c->last_dump);
                } else {
                    km_emit(c, KM_EV_WARN, sched, 0u, kind, 0u, st, "writing the dump failed");
                }
                km_status ts = c->hal.ops->thaw(c->hal.ctx, &err);
                km_emit(c, KM_EV_THAWED, 0u, 0u, (km_coord_now_ns() - t_frozen) / 1000u, 0u, ts, NULL);
                st = (st == KM_OK) ? ts : st;
                c->fstate = KM_FREEZE_IDLE;
            }
        }
    } else if ((hit->slot >= 1u) && (hit->slot < KM_HAL_SLOTS)) {
        uint32_t v = 0u;
        uint64_t kva = c->wp.user[hit->slot - 1u].request_kva;
        (void)km_gk_read_u32(c->gk, kva, &v);
        km_emit(c, KM_EV_USER_HIT, kva, 0u, v, hit->slot, KM_OK, c->wp.user[hit->slot - 1u].tag);
        st = km_coord_write_dump(c, "user_watch", hit->slot, v, hit->t_ns, t_frozen);
        if (st == KM_OK) {
            km_emit(c, KM_EV_SUMMARY, kva, 0u, v, hit->slot, KM_OK, c->summary);
            km_emit(c, KM_EV_DUMP, kva, 0u, v, hit->slot, KM_OK, c->last_dump);
        }
        km_status ts = c->hal.ops->thaw(c->hal.ctx, &err);
        km_emit(c, KM_EV_THAWED, 0u, 0u, (km_coord_now_ns() - t_frozen) / 1000u, hit->slot, ts, NULL);
        st = (st == KM_OK) ? ts : st;
    } else {
        st = c->hal.ops->thaw(c->hal.ctx, &err); /* not ours any more */
    }
    return st;
}

km_status km_coord_run(km_coord *c, const volatile sig_atomic_t *stop)
{
    km_status st = KM_OK;
    uint64_t next_tick = km_coord_now_ns();
    bool done = false;
    while (!done && (*stop == 0)) {
        uint64_t now = km_coord_now_ns();
        if (now >= next_tick) {
            st = km_coord_tick(c);
            next_tick = now + ((uint64_t)c->cfg.tick_ms * UINT64_C(1000000));
            done = (st != KM_OK);
        }
        if (!done) {
            km_hal_hit hit;
            km_error err;
            now = km_coord_now_ns();
            int wait_ms = (next_tick > now) ? (int)((next_tick - now) / UINT64_C(1000000)) : 0;
            km_status w = c->hal.ops->wait_hit(c->hal.ctx, (wait_ms > 0) ? wait_ms : 1, &hit, &err);
            if (w == KM_OK) {
                st = km_coord_on_hit(c, &hit);
                done = (st != KM_OK) || (c->cfg.once && (c->errors_caught > 0u));
            } else if (w != KM_ERR_TIMEOUT) {
                st = w; /* the VM is gone */
                done = true;
            } else {
                /* tick time */
            }
        }
    }
    return st;
}

km_status km_coord_dump_now(km_coord *c, const char *reason, char *path, size_t cap)
{
    km_error err;
    uint64_t t0 = km_coord_now_ns();
    km_status st = c->hal.ops->freeze(c->hal.ctx, &err);
    if (st == KM_OK) {
        uint64_t t1 = km_coord_now_ns();
        if (!c->offsets_ok) {
            (void)km_coord_resolve_offsets(c);
        }
        st = km_coord_write_dump(c, reason, KM_HAL_SLOTS, 0u, t0, t1);
        km_status ts = c->hal.ops->thaw(c->hal.ctx, &err);
        st = (st == KM_OK) ? ts : st;
    }
    /* a freeze that did not complete aborts the dump without reading guest memory */
    if ((st == KM_OK) && (path != NULL) && (cap > 0u)) {
        size_t n = strlen(c->last_dump);
        if (n >= cap) {
            n = cap - 1u;
        }
        (void)memcpy(path, c->last_dump, n);
        path[n] = '\0';
    }
    return st;
}

const char *km_coord_ev_name(km_coord_ev e)
{
    static const char *const names[] = {"init-wait",  "init-ok",  "published", "deferred", "detached",
                                        "rebind",     "hit",      "below-gate", "duplicate", "error-exit",
                                        "user-armed", "user-hit", "summary",   "dump",     "thawed",
                                        "warn"};
    const char *n = "unknown";
    if ((uint32_t)e < (uint32_t)(sizeof(names) / sizeof(names[0]))) {
        n = names[(uint32_t)e];
    }
    return n;
}
