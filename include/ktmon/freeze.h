/* ktmon: the coordinator.
 *
 * One event loop per monitored VM: a scan tick (default 250 ms) and the
 * HAL's watchpoint hits.  Each tick runs the lazy guest-kernel init, reads
 * *scx_root (and that scx_sched's id) and drives the watchpoint state
 * machine (modules/watchpoint_fsm), arming and disarming through the HAL,
 * and arms pending user watches.
 *
 * A hit on slot 0 finds the VM frozen (the HAL stops it at the hit).  The
 * gate: exit_kind < 1024 (SCX_EXIT_ERROR) is not an error - the VM is
 * thawed and watching goes on.  An error exit is the early trigger; the
 * late trigger is the kernel's exit_info->kind store, which follows the
 * exit message (scx_vexit fills msg, then kind): the coordinator watches it
 * with a spare slot so the dump carries the message.  Then dump_state
 * (runqueues, scx_sched state and exit info, BPF maps and programs, vCPU
 * registers, timestamps) is written as JSON (temporary file + rename) and
 * the VM is thawed.  FreezeState: IDLE -> TOOK_EARLY -> DONE.
 *
 * Allocation: km_coord_init only; the tick and the hit path allocate
 * nothing (the dump writer uses stdio). */
#ifndef KTMON_FREEZE_H
#define KTMON_FREEZE_H

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>

#include "ktmon/api.h"
#include "ktmon/bpf_introspect.h"
#include "ktmon/btf.h"
#include "ktmon/guest_kernel.h"
#include "ktmon/hal.h"
#include "ktmon/ksym.h"
#include "ktmon/watchpoint_fsm.h"

#define KM_COORD_DEFAULT_TICK_MS 250u
#define KM_COORD_MAX_USER 3u
#define KM_COORD_PATH_MAX 4096u
#define KM_COORD_MAX_CPUS 64u

typedef enum km_coord_ev {
    KM_EV_INIT_WAIT = 0,    /* the guest kernel is not up yet (status, attempts in value) */
    KM_EV_INIT_OK,          /* handshake done: KASLR offset in value */
    KM_EV_PUBLISHED,        /* a scheduler attached: exit_kind of (kva, id) armed */
    KM_EV_DEFERRED,         /* attached, exit_kind not translatable yet */
    KM_EV_DETACHED,         /* scheduler gone: disarmed */
    KM_EV_REBIND,           /* another instance: disarmed, publish next tick */
    KM_EV_HIT,              /* slot 0 fired: value = exit_kind */
    KM_EV_BELOW_GATE,       /* not an error exit: thawed, watching on */
    KM_EV_DUPLICATE,        /* the same store reported again: ignored */
    KM_EV_ERROR_EXIT,       /* exit_kind >= 1024: freezing for a dump */
    KM_EV_USER_ARMED,       /* a user watch armed (slot, kva) */
    KM_EV_USER_HIT,         /* a user watch fired (slot, value) */
    KM_EV_SUMMARY,          /* one-line summary of the dump about to be reported (text) */
    KM_EV_DUMP,             /* a dump was written (text = path) */
    KM_EV_THAWED,           /* the VM runs again (value = frozen time in us) */
    KM_EV_WARN              /* something worth a line (text) */
} km_coord_ev;

typedef struct km_coord_event {
    km_coord_ev kind;
    uint64_t t_ns;          /* CLOCK_MONOTONIC */
    uint64_t kva;
    uint64_t id;
    uint64_t value;
    uint32_t slot;
    km_status status;
    char text[KM_COORD_PATH_MAX];
} km_coord_event;

typedef void (*km_coord_event_fn)(void *ctx, const km_coord_event *ev);

typedef struct km_coord_config {
    uint32_t tick_ms;
    const char *out_dir;            /* where dumps go (must exist) */
    uint32_t warn_after;            /* failed init attempts before a warning (12 ~ 3 s) */
    uint32_t late_wait_ms;          /* how long to wait for the exit message after an error hit */
    const char *user_syms[KM_COORD_MAX_USER];
    uint32_t nuser;
    bool once;                      /* stop after the first error exit */
    km_coord_event_fn on_event;
    void *ev_ctx;
} km_coord_config;

typedef enum km_freeze_state {
    KM_FREEZE_IDLE = 0,
    KM_FREEZE_TOOK_EARLY,   /* error exit seen, waiting for the exit message */
    KM_FREEZE_DONE          /* dumped */
} km_freeze_state;

/* BTF offsets the coordinator needs (resolved once). */
typedef struct km_coord_offsets {
    uint32_t sched_exit_kind;
    uint32_t sched_id;
    uint32_t sched_exit_info;
    uint32_t ei_kind;
    uint32_t ei_exit_code;
    uint32_t ei_reason;
    uint32_t ei_msg;
    uint32_t rq_nr_running;
    uint32_t rq_clock;
    uint32_t rq_scx_nr_running;
    uint32_t rq_scx_flags;
    uint32_t rq_dsq_nr;
    uint32_t rq_cpu;
    bool have_exit_info;
    bool have_rq;
} km_coord_offsets;

typedef struct km_coord {
    km_hal hal;
    const km_mem *mem;
    km_guest_kernel *gk;
    const km_btf *btf;
    const km_ksym *ks;
    km_coord_config cfg;
    km_coord_offsets off;
    bool offsets_ok;
    uint64_t scx_root_link;
    uint64_t runqueues_link;
    uint64_t jiffies_link;
    km_wp_table wp;
    km_bpf_offsets bpf_off;         /* resolved at the first dump */
    km_wp_root last;
    uint64_t slot0_kva;             /* what the HAL has armed for slot 0 (0 = none) */
    volatile uint32_t *slot0_host;
    uint64_t user_kva[KM_COORD_MAX_USER];
    bool user_armed[KM_COORD_MAX_USER];
    km_freeze_state fstate;
    bool have_last_hit;
    km_wp_root last_hit_root;
    uint32_t last_hit_value;
    uint64_t ticks;
    uint64_t hits;
    uint64_t dumps;
    uint64_t errors_caught;
    uint64_t published;
    uint64_t detached;
    uint64_t rebinds;
    char last_dump[KM_COORD_PATH_MAX];
    char summary[1024];             /* one line about the last dump */
    uint32_t dump_seq;
    km_coord_event ev;              /* scratch for events (no stack copies of the path) */
} km_coord;

/* Set up (allocates nothing itself; gk, btf, ks are the caller's). */
KM_API km_status km_coord_init(km_coord *c, km_hal hal, const km_mem *mem, km_guest_kernel *gk,
                               const km_btf *btf, const km_ksym *ks, const km_coord_config *cfg);

/* One scan tick (lazy init, republish, user watches). */
KM_API km_status km_coord_tick(km_coord *c);

/* Handle a hit the HAL reported (the VM is frozen). */
KM_API km_status km_coord_on_hit(km_coord *c, const km_hal_hit *hit);

/* The event loop: ticks and hits until *stop becomes non-zero, the VM goes
 * away (KM_ERR_IO) or, with cfg.once, an error exit was dumped (KM_OK with
 * errors_caught > 0). */
KM_API km_status km_coord_run(km_coord *c, const volatile sig_atomic_t *stop);

/* Freeze, dump, thaw now (ktmon dump).  path receives the file written. */
KM_API km_status km_coord_dump_now(km_coord *c, const char *reason, char *path, size_t cap);

KM_API const char *km_coord_ev_name(km_coord_ev e);

#endif /* KTMON_FREEZE_H */
