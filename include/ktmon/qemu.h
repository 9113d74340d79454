/* ktmon: clients for a running QEMU: QMP (the JSON monitor) and the gdbstub.
 *
 * Both talk over a socket with a timeout on every call; QEMU exiting, a
 * closed socket or a garbled reply is a status (KM_ERR_IO, KM_ERR_PROTOCOL,
 * KM_ERR_TIMEOUT), never a hang.  Buffers are fixed-size and live in the
 * client structs; nothing here allocates.  Not thread-safe: one thread per
 * client. */
#ifndef KTMON_QEMU_H
#define KTMON_QEMU_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ktmon/api.h"
#include "ktmon/arch.h"
#include "ktmon/hal.h"
#include "ktmon/status.h"

#define KM_QMP_BUF_SIZE (256u * 1024u)
#define KM_QMP_DEFAULT_TIMEOUT_MS 5000

typedef struct km_qmp {
    int fd;
    int timeout_ms;
    size_t len;                  /* bytes buffered in buf */
    char buf[KM_QMP_BUF_SIZE];   /* received, not yet consumed */
    char line[KM_QMP_BUF_SIZE];  /* the current reply line */
} km_qmp;

/* Connect to a QMP unix socket, read the greeting, negotiate capabilities. */
KM_API km_status km_qmp_connect(km_qmp *q, const char *path, int timeout_ms, km_error *err);
KM_API void km_qmp_close(km_qmp *q);

/* Execute one command (a complete JSON object text, e.g.
 * {"execute":"stop"}); events that arrive meanwhile are skipped.  On success
 * the JSON text of the "return" value is copied to out (NUL-terminated);
 * KM_ERR_CAPACITY (out untouched) if it does not fit in cap.  A reply line
 * that is not one whole JSON object is KM_ERR_PROTOCOL.  An {"error":...}
 * reply is KM_ERR_PROTOCOL with its description in out (NUL-terminated, cut
 * to cap).  KM_ERR_TIMEOUT closes the connection (a late reply would be read
 * as the next command's): later calls return KM_ERR_STATE. */
KM_API km_status km_qmp_execute(km_qmp *q, const char *cmd, char *out, size_t cap, km_error *err);

/* human-monitor-command; cpu < 0 means QEMU's current CPU.  out receives
 * the unescaped text. */
KM_API km_status km_qmp_hmp(km_qmp *q, const char *command_line, int cpu, char *out, size_t cap,
                            km_error *err);

KM_API km_status km_qmp_stop(km_qmp *q, km_error *err);
KM_API km_status km_qmp_cont(km_qmp *q, km_error *err);
/* *running: the VM executes guest code; status (may be NULL) gets QEMU's
 * status word (KM_ERR_CAPACITY, status "", if it does not fit in cap). */
KM_API km_status km_qmp_query_status(km_qmp *q, bool *running, char *status, size_t cap,
                                     km_error *err);

/* The mem-path of memory backend object `id` (e.g. "mem"), via qom-get. */
KM_API km_status km_qmp_mem_path(km_qmp *q, const char *id, char *path, size_t cap, km_error *err);

/* ---------------------------------------------------------------- text parsers (no I/O) */

#define KM_QEMU_MAX_RAM_RANGES 16u

typedef struct km_qemu_ram_range {
    uint64_t gpa;
    uint64_t file_off;  /* offset inside the RAM backend */
    uint64_t size;
} km_qemu_ram_range;

/* Parse `info mtree -f` output: the ranges of the first flat view ("memory"
 * address space) that map RAM region `backend` (e.g. "mem"), sorted by GPA.
 * KM_ERR_NO_SYMBOL if the backend is not mapped. */
KM_API km_status km_qemu_parse_mtree(const char *text, const char *backend, km_qemu_ram_range *out,
                                     uint32_t cap, uint32_t *n);

/* Parse x86 `info registers` output: CR3 and CR4. */
KM_API km_status km_qemu_parse_x86_regs(const char *text, uint64_t *cr3, uint64_t *cr4);

/* Find the value of key `key` at the top level of the JSON object text
 * [json, json+len): *val and *vlen span the raw value (strings keep their
 * quotes).  KM_ERR_NO_SYMBOL if absent, KM_ERR_BAD_DATA if the object is
 * malformed or cut short (even after the key) or is followed by more than
 * white space. */
KM_API km_status km_json_find(const char *json, size_t len, const char *key, const char **val,
                              size_t *vlen);
/* Unescape a JSON string token (with its quotes) into out (NUL-terminated). */
KM_API km_status km_json_unescape(const char *tok, size_t len, char *out, size_t cap,
                                  size_t *outlen);

/* ---------------------------------------------------------------- gdbstub */

#define KM_GDB_BUF_SIZE (64u * 1024u)
#define KM_GDB_MAX_REGS 2048u

typedef struct km_gdb_reg {
    char name[32];
    uint32_t regnum;
    uint32_t bitsize;
} km_gdb_reg;

typedef struct km_gdb {
    int fd;
    int timeout_ms;
    bool no_ack;
    size_t len;
    char rx[KM_GDB_BUF_SIZE];
    char pkt[KM_GDB_BUF_SIZE];      /* payload of the last packet */
    char xml[4u * KM_GDB_BUF_SIZE]; /* target description scratch */
    km_gdb_reg regs[KM_GDB_MAX_REGS];
    uint32_t nregs;
    bool stop_pending;              /* a stop reply arrived while a command awaited its reply */
    char stop_pkt[512];
} km_gdb;

/* A stop reply, decoded. */
typedef struct km_gdb_stop {
    uint32_t signal;
    bool watch;          /* a watchpoint stop */
    uint64_t watch_addr;
    int32_t thread;      /* vCPU index (0-based), -1 if not given */
    bool exited;         /* W/X reply: the target is gone */
} km_gdb_stop;

/* Connect to HOST:PORT (stops the VM, as QEMU's gdbstub does on attach). */
KM_API km_status km_gdb_connect(km_gdb *g, const char *host, uint16_t port, int timeout_ms,
                                km_error *err);
/* End the session.  resume: detach with D;1, which lets the VM run (use it
 * when the VM was running before the attach stopped it); otherwise just
 * close the connection, which leaves a paused VM paused (QEMU 7.2). */
KM_API km_status km_gdb_detach(km_gdb *g, bool resume, km_error *err);
KM_API void km_gdb_close(km_gdb *g);

/* Send a command, receive its reply payload into g->pkt.  KM_ERR_TIMEOUT
 * closes the connection (a late reply would be read as the next command's):
 * later commands and km_gdb_wait_stop return KM_ERR_STATE. */
KM_API km_status km_gdb_command(km_gdb *g, const char *cmd, km_error *err);
/* Load the register list from the target description (qXfer features). */
KM_API km_status km_gdb_load_regs(km_gdb *g, km_error *err);
/* Register number of `name` (after km_gdb_load_regs). */
KM_API km_status km_gdb_regnum(const km_gdb *g, const char *name, uint32_t *regnum);
/* Read register regnum (<= 64 bits) of vCPU cpu (0-based). */
KM_API km_status km_gdb_read_reg(km_gdb *g, int cpu, uint32_t regnum, uint64_t *val, km_error *err);
/* Insert/remove a write watchpoint (Z2/z2). */
KM_API km_status km_gdb_watch(km_gdb *g, uint64_t addr, uint32_t len, bool insert, km_error *err);
/* Resume all vCPUs (vCont;c or c) without waiting. */
KM_API km_status km_gdb_continue(km_gdb *g, km_error *err);
/* Wait up to timeout_ms for a stop reply; KM_ERR_TIMEOUT if none. */
KM_API km_status km_gdb_wait_stop(km_gdb *g, int timeout_ms, km_gdb_stop *stop, km_error *err);
/* Interrupt (0x03) and wait for the stop reply. */
KM_API km_status km_gdb_interrupt(km_gdb *g, km_gdb_stop *stop, km_error *err);
/* Parse a stop-reply payload (T05watch:ADDR;thread:p1.2;...). */
KM_API km_status km_gdb_parse_stop(const char *payload, km_gdb_stop *stop);

/* ---------------------------------------------------------------- the HAL over QMP + gdbstub */

/* State of the QEMU backend.  Every gdbstub command is sent with the VM
 * stopped (QEMU stops a running VM on any byte it receives), so arm/disarm
 * and arm64 register reads are stop / command / continue.  A watchpoint hit
 * stops the whole VM: it is frozen by the time wait_hit reports it. */
typedef struct km_hal_qemu {
    km_qmp *qmp;                 /* heap (large buffers) */
    km_gdb *gdb;
    km_arch arch;
    bool running;                /* the VM executes guest code */
    bool was_running;            /* ... when we attached */
    uint32_t ncpus;
    uint64_t armed_kva[KM_HAL_SLOTS];
    uint32_t armed_len[KM_HAL_SLOTS];
    bool has_pending;            /* a hit seen while stopping the VM for something else */
    km_hal_hit pending;
    uint32_t rn_pc;              /* gdb register numbers (arm64) */
    uint32_t rn_sp;
    uint32_t rn_ttbr0;
    uint32_t rn_ttbr1;
    uint32_t rn_tcr;
    uint64_t stops;              /* stop/continue round trips (statistics) */
} km_hal_qemu;

/* Connect QMP and the gdbstub (allocates the clients; setup time).  The VM
 * is left running if it was running. */
KM_API km_status km_hal_qemu_open(km_hal_qemu *h, const char *qmp_path, const char *gdb_host,
                                  uint16_t gdb_port, km_error *err);
/* Remove our watchpoints and detach, leaving the VM running if it ran when
 * we attached.  Safe on a dead QEMU. */
KM_API void km_hal_qemu_close(km_hal_qemu *h);
KM_API km_hal km_hal_qemu_hal(km_hal_qemu *h);
KM_API extern const km_hal_ops km_hal_qemu_ops;

#endif /* KTMON_QEMU_H */
