/* ktmon watch / ktmon dump: the coordinator on a live QEMU. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "kernel.h"
#include "ktmon/freeze.h"

void km_usage_watch(FILE *out)
{
    (void)fprintf(out,
                  "usage: ktmon watch --vmlinux PATH --qmp SOCKET --gdb HOST:PORT [--user SYMBOL]...\n"
                  "                   [--tick-ms N] [--out DIR] [--once] [--json]\n"
                  "\n"
                  "Watch scx_root->exit_kind of the running guest with a hardware watchpoint (the\n"
                  "gdbstub's write watchpoints; DR0-3 under KVM).  Each scan tick (default 250 ms)\n"
                  "finishes the guest-kernel handshake if the guest is still booting, follows\n"
                  "sched_ext schedulers attaching (published), detaching and being replaced\n"
                  "(rebind), and arms --user watches (up to 3 4-byte-aligned kernel symbols).\n"
                  "\n"
                  "When a scheduler exits with an error (exit_kind >= SCX_EXIT_ERROR, 1024) the VM is\n"
                  "frozen at the store, the kernel's exit message awaited, the state dumped as JSON\n"
                  "into --out (default .), and the VM thawed.  Exits below the gate (sysrq, unregister)\n"
                  "are reported and watching goes on.  A user watch that fires is dumped too.\n"
                  "\n"
                  "One line per event on stdout (JSON lines with --json).  Stops on SIGINT/SIGTERM,\n"
                  "after the first error exit with --once, or when QEMU goes away.\n"
                  "Exit status: 0 no error exit caught, 1 a scheduler error exit was caught,\n"
                  "2 usage, 3 target or I/O error (QEMU died, connection lost).\n");
}

void km_usage_dump(FILE *out)
{
    (void)fprintf(out,
                  "usage: ktmon dump --vmlinux PATH --qmp SOCKET [--gdb HOST:PORT] [--out DIR] [--json]\n"
                  "\n"
                  "Freeze the VM, write the same JSON dump `watch` writes on an error exit (runqueues,\n"
                  "sched_ext state, BPF maps and programs, vCPU registers), and thaw it.  Prints the\n"
                  "path of the dump.  arm64 guests need --gdb for the vCPU system registers.\n");
}

static volatile sig_atomic_t km_stop;

static void km_on_signal(int sig)
{
    (void)sig;
    km_stop = 1;
}

typedef struct {
    bool json;
    bool tty;
    /* Human output shows the first of a run of duplicate reports and then one line with how many more
     * followed: a locked RMW that leaves exit_kind as it was still writes it, and the 7.3 guest's
     * scheduler does so thousands of times a second (4257 lines in one run of make demo).  --json keeps
     * every event. */
    bool dup_run;         /* the last event printed was a duplicate */
    uint64_t dup_more;    /* duplicates since then, not printed */
    double dup_last_t;    /* time of the last of them */
} km_watch_out;

/* The line for the duplicates held back since the last one printed, if any. */
static void km_flush_duplicates(km_watch_out *w)
{
    if (w->dup_more > 0u) {
        (void)printf("[%10.3f] ... and %llu more report(s) of the same store: ignored\n", w->dup_last_t,
                     (unsigned long long)w->dup_more);
    }
    w->dup_run = false;
    w->dup_more = 0u;
}

static void km_print_event(void *ctx, const km_coord_event *e)
{
    km_watch_out *w = ctx;
    double t = (double)e->t_ns / 1e9;
    if ((!w->json) && (e->kind == KM_EV_DUPLICATE) && w->dup_run) {
        w->dup_more++;
        w->dup_last_t = t;
        return;
    }
    if ((!w->json) && (e->kind != KM_EV_DUPLICATE)) {
        km_flush_duplicates(w);
    }
    if (w->json) {
        (void)printf("{\"event\":\"%s\",\"t\":%.6f,\"kva\":\"0x%llx\",\"id\":%llu,\"value\":%llu,\"slot\":%u,"
                     "\"status\":\"%s\",\"text\":\"",
                     km_coord_ev_name(e->kind), t, (unsigned long long)e->kva, (unsigned long long)e->id,
                     (unsigned long long)e->value, e->slot, km_status_name(e->status));
        for (const char *p = e->text; *p != '\0'; p++) {
            unsigned char c = (unsigned char)*p;
            if ((c == '"') || (c == '\\')) {
                (void)printf("\\%c", c);
            } else if ((c < 0x20u) || (c >= 0x7fu)) {
                (void)printf("\\u%04x", c);
            } else {
                (void)putchar(c);
            }
        }
        (void)printf("\"}\n");
    } else {
        switch (e->kind) {
        case KM_EV_INIT_WAIT:
            (void)printf("[%10.3f] waiting for the guest kernel (%s at %s, attempt %llu)\n", t,
                         km_status_name(e->status), e->text, (unsigned long long)e->value);
            break;
        case KM_EV_INIT_OK:
            (void)printf("[%10.3f] guest kernel found: _text at 0x%llx, KASLR offset 0x%llx\n", t,
                         (unsigned long long)e->kva, (unsigned long long)e->value);
            break;
        case KM_EV_PUBLISHED:
            (void)printf("[%10.3f] scheduler attached: scx_sched 0x%llx id %llu; watching exit_kind at 0x%llx\n", t,
                         (unsigned long long)e->kva, (unsigned long long)e->id, (unsigned long long)e->value);
            break;
        case KM_EV_DEFERRED:
            (void)printf("[%10.3f] scheduler attached (0x%llx) but exit_kind not mapped yet: retrying\n", t,
                         (unsigned long long)e->kva);
            break;
        case KM_EV_DETACHED:
            (void)printf("[%10.3f] scheduler detached: watch disarmed\n", t);
            break;
        case KM_EV_REBIND:
            (void)printf("[%10.3f] another scheduler instance (0x%llx id %llu): disarmed, publishing next tick\n", t,
                         (unsigned long long)e->kva, (unsigned long long)e->id);
            break;
        case KM_EV_HIT:
            (void)printf("[%10.3f] watchpoint hit: exit_kind = %llu (%s)\n", t, (unsigned long long)e->value, e->text);
            break;
        case KM_EV_BELOW_GATE:
            (void)printf("[%10.3f] not an error exit (%s): no dump, watching on\n", t, e->text);
            break;
        case KM_EV_DUPLICATE:
            (void)printf("[%10.3f] same store reported again: ignored\n", t);
            w->dup_run = true;
            break;
        case KM_EV_ERROR_EXIT:
            (void)printf("[%10.3f] SCHEDULER ERROR EXIT %s (%llu): VM frozen, dumping\n", t, e->text,
                         (unsigned long long)e->value);
            break;
        case KM_EV_USER_ARMED:
            (void)printf("[%10.3f] user watch %u on %s at 0x%llx\n", t, e->slot, e->text, (unsigned long long)e->kva);
            break;
        case KM_EV_USER_HIT:
            (void)printf("[%10.3f] user watch %u (%s) written: value %llu: VM frozen, dumping\n", t, e->slot, e->text,
                         (unsigned long long)e->value);
            break;
        case KM_EV_SUMMARY:
            (void)printf("[%10.3f]   %s\n", t, e->text);
            break;
        case KM_EV_DUMP:
            (void)printf("[%10.3f] dump written: %s\n", t, e->text);
            break;
        case KM_EV_THAWED:
            (void)printf("[%10.3f] VM thawed after %.1f ms frozen\n", t, (double)e->value / 1000.0);
            break;
        case KM_EV_WARN:
        default:
            (void)printf("[%10.3f] warning: %s (%s)\n", t, e->text, km_status_name(e->status));
            break;
        }
    }
    (void)fflush(stdout);
}

typedef struct {
    km_cli_kernel k;      /* symbols, BTF, memory (its QMP released) */
    km_hal_qemu hq;
    bool hq_open;
    km_coord *coord;
} km_watch_ctx;

static int km_watch_open(const km_cli_opts *o, km_watch_ctx *w, bool need_gdb)
{
    int rc = KM_EXIT_OK;
    km_ksym_error ke;
    km_btf_error be;
    km_error err;
    char host[256] = "127.0.0.1";
    uint64_t port = 0u;
    (void)memset(w, 0, sizeof(*w));
    km_cli_target_init(&w->k.t);
    km_btf_init(&w->k.btf);
    if ((o->vmlinux == NULL) || (o->qmp == NULL) || (need_gdb && (o->gdb == NULL))) {
        km_cli_err("needs --vmlinux PATH, --qmp SOCKET%s", need_gdb ? " and --gdb HOST:PORT" : "");
        rc = KM_EXIT_USAGE;
    } else if (o->gdb != NULL) {
        const char *colon = strrchr(o->gdb, ':');
        if ((colon == NULL) || ((size_t)(colon - o->gdb) >= sizeof(host)) || !km_cli_u64(&colon[1], &port) ||
            (port == 0u) || (port > 65535u)) {
            km_cli_err("--gdb takes HOST:PORT, not '%s'", o->gdb);
            rc = KM_EXIT_USAGE;
        } else {
            (void)memcpy(host, o->gdb, (size_t)(colon - o->gdb));
            host[colon - o->gdb] = '\0';
        }
    } else {
        /* QMP only */
    }
    if (rc == KM_EXIT_OK) {
        km_ksym_init(&w->k.ks);
        if (km_ksym_load_elf(&w->k.ks, o->vmlinux, NULL, &ke) != KM_OK) {
            char msg[512];
            km_cli_err("%s: %s", o->vmlinux, km_ksym_strerror(&ke, msg, sizeof(msg)));
            rc = KM_EXIT_TARGET;
        } else {
            w->k.ks_loaded = true;
        }
    }
    if (rc == KM_EXIT_OK) {
        if (km_btf_load_file(&w->k.btf, o->vmlinux, NULL, &be) != KM_OK) {
            char msg[256];
            km_cli_err("%s: BTF: %s", o->vmlinux, km_btf_strerror(&be, msg, sizeof(msg)));
            rc = KM_EXIT_TARGET;
        } else {
            w->k.btf_loaded = true;
        }
    }
    if (rc == KM_EXIT_OK) {
        rc = km_cli_open_mem(o, &w->k.t);
        /* the HAL opens its own QMP session: the monitor takes one client at a time */
        if (w->k.t.qmp != NULL) {
            km_qmp_close(w->k.t.qmp);
            free(w->k.t.qmp);
            w->k.t.qmp = NULL;
        }
    }
    if (rc == KM_EXIT_OK) {
        km_status st = km_hal_qemu_open(&w->hq, o->qmp, host, (uint16_t)port, &err);
        if (st != KM_OK) {
            km_cli_report("connecting to QEMU (QMP and gdbstub)", st, &err);
            rc = KM_EXIT_TARGET;
        } else {
            w->hq_open = true;
            w->k.t.arch = w->hq.arch;
        }
    }
    if (rc == KM_EXIT_OK) {
        km_gk_symbols syms;
        const char *missing = "?";
        uint8_t banner[KM_GK_BANNER_MAX];
        uint32_t got = 0u;
        if (km_gk_symbols_from_ksym(&w->k.ks, w->hq.arch, &syms, &missing) != KM_OK) {
            km_cli_err("%s: no symbol '%s'", o->vmlinux, missing);
            rc = KM_EXIT_TARGET;
        } else {
            if (km_cli_vmlinux_bytes(o->vmlinux, syms.linux_banner, banner, sizeof(banner), &got) == KM_EXIT_OK) {
                km_gk_set_banner(&syms, banner, got);
            }
            w->k.gk = malloc(sizeof(*w->k.gk));
            w->coord = malloc(sizeof(*w->coord));
            if ((w->k.gk == NULL) || (w->coord == NULL)) {
                rc = KM_EXIT_TARGET;
            } else {
                km_gk_init(w->k.gk, &w->k.t.mem, &syms);
            }
        }
    }
    return rc;
}

static void km_watch_close(km_watch_ctx *w)
{
    if (w->hq_open) {
        km_hal_qemu_close(&w->hq);
    }
    free(w->coord);
    km_cli_kernel_close(&w->k);
}

static bool km_dir_ok(const char *dir)
{
    struct stat sb;
    return (stat(dir, &sb) == 0) && S_ISDIR(sb.st_mode) && (access(dir, W_OK) == 0);
}

int km_cmd_watch(int argc, char **argv)
{
    km_cli_opts o;
    km_watch_ctx w;
    km_watch_out out = {.json = false, .tty = false, .dup_run = false, .dup_more = 0u, .dup_last_t = 0.0};
    km_coord_config cfg;
    int rc = km_cli_parse(argc, argv, &o);
    bool opened = false;
    (void)memset(&cfg, 0, sizeof(cfg));
    cfg.out_dir = ".";
    cfg.tick_ms = KM_COORD_DEFAULT_TICK_MS;
    for (int i = 0; (rc == KM_EXIT_OK) && (i < o.nrest); i++) {
        const char *a = o.rest[i];
        uint64_t v = 0u;
        if ((strcmp(a, "--user") == 0) && ((i + 1) < o.nrest)) {
            if (cfg.nuser >= KM_COORD_MAX_USER) {
                km_cli_err("watch: at most %u --user watches", KM_COORD_MAX_USER);
                rc = KM_EXIT_USAGE;
            } else {
                cfg.user_syms[cfg.nuser] = o.rest[i + 1];
                cfg.nuser++;
            }
            i++;
        } else if ((strcmp(a, "--tick-ms") == 0) && ((i + 1) < o.nrest)) {
            if (!km_cli_u64(o.rest[i + 1], &v) || (v < 10u) || (v > 60000u)) {
                km_cli_err("watch: --tick-ms takes 10..60000");
                rc = KM_EXIT_USAGE;
            }
            cfg.tick_ms = (uint32_t)v;
            i++;
        } else if ((strcmp(a, "--out") == 0) && ((i + 1) < o.nrest)) {
            cfg.out_dir = o.rest[i + 1];
            i++;
        } else if (strcmp(a, "--once") == 0) {
            cfg.once = true;
        } else {
            km_cli_err("watch: unexpected argument '%s' (see ktmon watch --help)", a);
            rc = KM_EXIT_USAGE;
        }
    }
    if ((rc == KM_EXIT_OK) && o.help) {
        km_usage_watch(stdout);
        return KM_EXIT_OK;
    }
    if ((rc == KM_EXIT_OK) && !km_dir_ok(cfg.out_dir)) {
        km_cli_err("watch: --out %s is not a writable directory", cfg.out_dir);
        rc = KM_EXIT_USAGE;
    }
    if (rc == KM_EXIT_OK) {
        rc = km_watch_open(&o, &w, true);
        opened = true;
    }
    km_status st = KM_OK;
    if (rc == KM_EXIT_OK) {
        struct sigaction sa;
        (void)memset(&sa, 0, sizeof(sa));
        sa.sa_handler = km_on_signal;
        (void)sigaction(SIGINT, &sa, NULL);
        (void)sigaction(SIGTERM, &sa, NULL);
        out.json = o.json;
        out.tty = isatty(STDOUT_FILENO) != 0;
        cfg.on_event = km_print_event;
        cfg.ev_ctx = &out;
        st = km_coord_init(w.coord, km_hal_qemu_hal(&w.hq), &w.k.t.mem, w.k.gk, &w.k.btf, &w.k.ks, &cfg);
        if (st == KM_ERR_NO_SYMBOL) {
            km_cli_err("%s has no scx_root: this kernel has no sched_ext", o.vmlinux);
            rc = KM_EXIT_TARGET;
        } else if (st != KM_OK) {
            km_cli_err("watch: %s", km_status_name(st));
            rc = KM_EXIT_TARGET;
        } else {
            if (!o.json) {
                (void)printf("watching %s (%s, %u vCPUs), tick %u ms, dumps in %s\n", o.qmp,
                             km_cli_arch_name(w.hq.arch), w.hq.ncpus, cfg.tick_ms, cfg.out_dir);
                (void)fflush(stdout);
            }
            st = km_coord_run(w.coord, &km_stop);
            if (st == KM_ERR_IO) {
                km_cli_err("lost the VM (QEMU exited or closed the connection) after %llu ticks; %llu dump(s) written",
                           (unsigned long long)w.coord->ticks, (unsigned long long)w.coord->dumps);
                rc = KM_EXIT_TARGET;
            } else if (st != KM_OK) {
                km_cli_err("watch stopped: %s", km_status_name(st));
                rc = KM_EXIT_TARGET;
            } else {
                rc = (w.coord->errors_caught > 0u) ? KM_EXIT_SCHED_ERROR : KM_EXIT_OK;
            }
            if (!o.json) {
                km_flush_duplicates(&out);
                (void)printf("summary: %llu ticks, %llu published, %llu detached, %llu rebinds, %llu hits, %llu error "
                             "exit(s), %llu dump(s)%s%s\n",
                             (unsigned long long)w.coord->ticks, (unsigned long long)w.coord->published,
                             (unsigned long long)w.coord->detached, (unsigned long long)w.coord->rebinds,
                             (unsigned long long)w.coord->hits, (unsigned long long)w.coord->errors_caught,
                             (unsigned long long)w.coord->dumps, (w.coord->dumps > 0u) ? "; last: " : "",
                             w.coord->last_dump);
            }
        }
    }
    if (opened) {
        if (st == KM_ERR_IO) {
            w.hq_open = false; /* the VM is gone: nothing to detach from */
            if (w.hq.gdb != NULL) {
                km_gdb_close(w.hq.gdb);
            }
            if (w.hq.qmp != NULL) {
                km_qmp_close(w.hq.qmp);
            }
            free(w.hq.gdb);
            free(w.hq.qmp);
        }
        km_watch_close(&w);
    }
    return rc;
}

int km_cmd_dump(int argc, char **argv)
{
    km_cli_opts o;
    km_watch_ctx w;
    km_coord_config cfg;
    int rc = km_cli_parse(argc, argv, &o);
    bool opened = false;
    (void)memset(&cfg, 0, sizeof(cfg));
    cfg.out_dir = ".";
    for (int i = 0; (rc == KM_EXIT_OK) && (i < o.nrest); i++) {
        if ((strcmp(o.rest[i], "--out") == 0) && ((i + 1) < o.nrest)) {
            cfg.out_dir = o.rest[i + 1];
            i++;
        } else {
            km_cli_err("dump: unexpected argument '%s'", o.rest[i]);
            rc = KM_EXIT_USAGE;
        }
    }
    if ((rc == KM_EXIT_OK) && o.help) {
        km_usage_dump(stdout);
        return KM_EXIT_OK;
    }
    if ((rc == KM_EXIT_OK) && !km_dir_ok(cfg.out_dir)) {
        km_cli_err("dump: --out %s is not a writable directory", cfg.out_dir);
        rc = KM_EXIT_USAGE;
    }
    if (rc == KM_EXIT_OK) {
        rc = km_watch_open(&o, &w, false);
        opened = true;
    }
    if (rc == KM_EXIT_OK) {
        char path[KM_COORD_PATH_MAX];
        km_status st = km_coord_init(w.coord, km_hal_qemu_hal(&w.hq), &w.k.t.mem, w.k.gk, &w.k.btf, &w.k.ks, &cfg);
        /* one tick does the handshake; the dump needs the kernel found */
        if (st == KM_OK) {
            (void)km_coord_tick(w.coord);
            st = w.k.gk->ready ? km_coord_dump_now(w.coord, "manual", path, sizeof(path)) : KM_ERR_NOT_READY;
        }
        if (st != KM_OK) {
            km_cli_err("dump: %s%s", km_status_name(st),
                       (st == KM_ERR_NOT_READY) ? " (guest kernel not found: still booting?)" : "");
            rc = KM_EXIT_TARGET;
        } else if (o.json) {
            (void)printf("{\"dump\":\"%s\"}\n", path);
        } else {
            (void)printf("%s\n", path);
        }
    }
    if (opened) {
        km_watch_close(&w);
    }
    return rc;
}
