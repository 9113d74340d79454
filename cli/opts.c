/* ktmon command line: shared options and target setup. */
#include "opts.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

bool km_cli_u64(const char *s, uint64_t *out)
{
    bool ok = false;
    if ((s != NULL) && (*s != '\0') && (*s != '-')) {
        char *end = NULL;
        int base = ((s[0] == '0') && ((s[1] == 'x') || (s[1] == 'X'))) ? 16 : 10;
        errno = 0;
        unsigned long long v = strtoull(s, &end, base);
        if ((errno == 0) && (end != NULL) && (*end == '\0')) {
            *out = (uint64_t)v;
            ok = true;
        } else if (base == 10) {
            /* a bare hex string such as ffffffff81000000 */
            errno = 0;
            v = strtoull(s, &end, 16);
            if ((errno == 0) && (end != NULL) && (*end == '\0')) {
                *out = (uint64_t)v;
                ok = true;
            }
        } else {
            ok = false;
        }
    }
    return ok;
}

const char *km_cli_arch_name(km_arch a)
{
    return (a == KM_ARCH_AARCH64) ? "arm64" : "x86_64";
}

static bool km_parse_arch(const char *s, km_arch *a)
{
    bool ok = true;
    if ((strcmp(s, "x86_64") == 0) || (strcmp(s, "x86") == 0) || (strcmp(s, "amd64") == 0)) {
        *a = KM_ARCH_X86_64;
    } else if ((strcmp(s, "arm64") == 0) || (strcmp(s, "aarch64") == 0)) {
        *a = KM_ARCH_AARCH64;
    } else {
        ok = false;
    }
    return ok;
}

int km_cli_parse(int argc, char **argv, km_cli_opts *o)
{
    int rc = KM_EXIT_OK;
    (void)memset(o, 0, sizeof(*o));
    o->vmlinux = getenv("KTMON_VMLINUX");
    o->mem_backend = "mem";
    for (int i = 1; (rc == KM_EXIT_OK) && (i < argc); i++) {
        const char *a = (argv[i] != NULL) ? argv[i] : "";
        const char *v = (i + 1 < argc) ? argv[i + 1] : NULL;
        bool takes = true;
        bool bad = false;
        if ((strcmp(a, "--help") == 0) || (strcmp(a, "-h") == 0)) {
            o->help = true;
            takes = false;
        } else if (strcmp(a, "--json") == 0) {
            o->json = true;
            takes = false;
        } else if (strcmp(a, "--la57") == 0) {
            o->la57 = true;
            takes = false;
        } else if (v == NULL) {
            takes = false;
            if ((strncmp(a, "--", 2) == 0) &&
                ((strcmp(a, "--vmlinux") == 0) || (strcmp(a, "--mem") == 0) || (strcmp(a, "--qmp") == 0) ||
                 (strcmp(a, "--gdb") == 0) || (strcmp(a, "--arch") == 0) || (strcmp(a, "--cpu") == 0) ||
                 (strcmp(a, "--cr3") == 0) || (strcmp(a, "--ttbr1") == 0) || (strcmp(a, "--tcr") == 0) ||
                 (strcmp(a, "--ram-base") == 0) || (strcmp(a, "--mem-backend") == 0) ||
                 (strcmp(a, "--wait-kernel") == 0))) {
                km_cli_err("option %s needs a value", a);
                rc = KM_EXIT_USAGE;
            } else if (o->nrest < KM_CLI_MAX_ARGS) {
                o->rest[o->nrest] = argv[i];
                o->nrest++;
            } else {
                bad = true;
            }
        } else if (strcmp(a, "--vmlinux") == 0) {
            o->vmlinux = v;
        } else if (strcmp(a, "--mem") == 0) {
            o->mem = v;
        } else if (strcmp(a, "--qmp") == 0) {
            o->qmp = v;
        } else if (strcmp(a, "--gdb") == 0) {
            o->gdb = v;
        } else if (strcmp(a, "--mem-backend") == 0) {
            o->mem_backend = v;
        } else if (strcmp(a, "--arch") == 0) {
            bad = !km_parse_arch(v, &o->arch);
            o->arch_set = true;
        } else if (strcmp(a, "--cpu") == 0) {
            uint64_t c = 0u;
            bad = !km_cli_u64(v, &c) || (c > 4095u);
            o->cpu = (int)c;
        } else if (strcmp(a, "--cr3") == 0) {
            bad = !km_cli_u64(v, &o->cr3);
            o->have_cr3 = true;
        } else if (strcmp(a, "--ttbr1") == 0) {
            bad = !km_cli_u64(v, &o->ttbr1);
            o->have_ttbr1 = true;
        } else if (strcmp(a, "--tcr") == 0) {
            bad = !km_cli_u64(v, &o->tcr);
            o->have_tcr = true;
        } else if (strcmp(a, "--wait-kernel") == 0) {
            uint64_t secs = 0u;
            bad = !km_cli_u64(v, &secs) || (secs > 3600u);
            o->wait_kernel_ms = (uint32_t)secs * 1000u;
        } else if (strcmp(a, "--ram-base") == 0) {
            bad = !km_cli_u64(v, &o->ram_base);
            o->have_ram_base = true;
        } else {
            takes = false;
            if (o->nrest < KM_CLI_MAX_ARGS) {
                o->rest[o->nrest] = argv[i];
                o->nrest++;
            } else {
                bad = true;
            }
        }
        if (bad) {
            km_cli_err("bad value for %s: '%s'", a, (v != NULL) ? v : "");
            rc = KM_EXIT_USAGE;
        }
        if (takes) {
            i++;
        }
    }
    return rc;
}

void km_cli_report(const char *what, km_status st, const km_error *err)
{
    char extra[160];
    extra[0] = '\0';
    if ((err != NULL) && (err->status == st)) {
        size_t n = 0u;
        if (err->sys_errno != 0) {
            n += (size_t)snprintf(&extra[n], sizeof(extra) - n, ": %s", strerror(err->sys_errno));
        }
        if ((err->addr != 0u) && (n < sizeof(extra))) {
            n += (size_t)snprintf(&extra[n], sizeof(extra) - n, " (at 0x%llx)", (unsigned long long)err->addr);
        }
        if ((err->index != KM_NO_INDEX) && (n < sizeof(extra))) {
            (void)snprintf(&extra[n], sizeof(extra) - n, " (entry %u)", err->index);
        }
    }
    km_cli_err("%s: %s%s", what, km_status_name(st), extra);
}

void km_cli_target_init(km_cli_target *t)
{
    (void)memset(t, 0, sizeof(*t));
    km_mem_init(&t->mem);
}

void km_cli_target_fini(km_cli_target *t)
{
    if (t->mem_open) {
        km_mem_fini(&t->mem);
        t->mem_open = false;
    }
    if (t->qmp != NULL) {
        km_qmp_close(t->qmp);
        free(t->qmp);
        t->qmp = NULL;
    }
}

int km_cli_open_qmp(const km_cli_opts *o, km_cli_target *t)
{
    int rc = KM_EXIT_OK;
    if (o->arch_set) {
        t->arch = o->arch;
        t->arch_known = true;
    }
    if ((o->qmp != NULL) && (t->qmp == NULL)) {
        km_error err;
        km_status st;
        t->qmp = malloc(sizeof(*t->qmp));
        if (t->qmp == NULL) {
            km_cli_err("out of memory");
            rc = KM_EXIT_TARGET;
        } else {
            st = km_qmp_connect(t->qmp, o->qmp, KM_QMP_DEFAULT_TIMEOUT_MS, &err);
            if (st != KM_OK) {
                km_cli_report(o->qmp, st, &err);
                free(t->qmp);
                t->qmp = NULL;
                rc = KM_EXIT_TARGET;
            }
        }
        if ((rc == KM_EXIT_OK) && !t->arch_known) {
            char ret[256];
            st = km_qmp_execute(t->qmp, "{\"execute\":\"query-target\"}", ret, sizeof(ret), &err);
            if (st == KM_OK) {
                t->arch = (strstr(ret, "aarch64") != NULL) ? KM_ARCH_AARCH64 : KM_ARCH_X86_64;
                t->arch_known = true;
            }
        }
    }
    return rc;
}

int km_cli_open_mem(const km_cli_opts *o, km_cli_target *t)
{
    int rc = km_cli_open_qmp(o, t);
    km_error err;
    km_status st = KM_OK;
    char path[4096];
    const char *ram = NULL;
    (void)memset(&err, 0, sizeof(err));
    if (rc != KM_EXIT_OK) {
        /* reported */
    } else if ((o->mem != NULL) && (strncmp(o->mem, "core:", 5) == 0)) {
        st = km_mem_open_elf_core(&t->mem, &o->mem[5], &err);
        if (st != KM_OK) {
            km_cli_report(&o->mem[5], st, &err);
            rc = KM_EXIT_TARGET;
        }
    } else if ((o->mem != NULL) && (strncmp(o->mem, "qemu-ram:", 9) == 0)) {
        ram = &o->mem[9];
    } else if (o->mem != NULL) {
        km_cli_err("--mem takes qemu-ram:PATH or core:PATH, not '%s'", o->mem);
        rc = KM_EXIT_USAGE;
    } else if (t->qmp != NULL) {
        st = km_qmp_mem_path(t->qmp, o->mem_backend, path, sizeof(path), &err);
        if (st != KM_OK) {
            km_cli_err("QEMU has no memory-backend-file object '%s' with a mem-path (use --mem)", o->mem_backend);
            rc = KM_EXIT_TARGET;
        } else {
            ram = path;
        }
    } else {
        km_cli_err("no guest memory: give --mem qemu-ram:PATH|core:PATH or --qmp SOCKET");
        rc = KM_EXIT_USAGE;
    }
    if ((rc == KM_EXIT_OK) && (ram != NULL)) {
        km_qemu_ram_range qr[KM_QEMU_MAX_RAM_RANGES];
        km_mem_file_range fr[KM_QEMU_MAX_RAM_RANGES];
        uint32_t n = 0u;
        if (t->qmp != NULL) {
            /* The layout (holes, RAM above 4 GiB) comes from QEMU itself. */
            static char mtree[KM_QMP_BUF_SIZE];
            st = km_qmp_hmp(t->qmp, "info mtree -f", -1, mtree, sizeof(mtree), &err);
            if (st == KM_OK) {
                st = km_qemu_parse_mtree(mtree, o->mem_backend, qr, KM_QEMU_MAX_RAM_RANGES, &n);
            }
            if (st != KM_OK) {
                km_cli_report("reading the RAM layout (info mtree -f)", st, &err);
                rc = KM_EXIT_TARGET;
            }
            for (uint32_t i = 0u; i < n; i++) {
                fr[i].gpa = qr[i].gpa;
                fr[i].file_off = qr[i].file_off;
                fr[i].size = qr[i].size;
            }
        }
        if (rc == KM_EXIT_OK) {
            uint64_t base = o->have_ram_base ? o->ram_base
                                             : ((t->arch_known && (t->arch == KM_ARCH_AARCH64)) ? 0x40000000u : 0u);
            /* Writable: kernel-op commands write through the same mapping. */
            st = km_mem_open_ram_file(&t->mem, ram, (n > 0u) ? fr : NULL, n, base, true, &err);
            if ((st == KM_ERR_IO) && (err.sys_errno == EACCES)) {
                st = km_mem_open_ram_file(&t->mem, ram, (n > 0u) ? fr : NULL, n, base, false, &err);
            }
            if (st != KM_OK) {
                km_cli_report(ram, st, &err);
                rc = KM_EXIT_TARGET;
            }
        }
    }
    if (rc == KM_EXIT_OK) {
        t->mem_open = true;
    }
    return rc;
}

static int km_cli_regs_from_gdb(const km_cli_opts *o, km_cli_target *t)
{
    int rc = KM_EXIT_OK;
    km_error err;
    km_status st = KM_OK;
    char host[256];
    uint64_t port = 0u;
    const char *colon = strrchr(o->gdb, ':');
    bool was_running = true;
    km_gdb *g = malloc(sizeof(*g));
    if (g == NULL) {
        km_cli_err("out of memory");
        rc = KM_EXIT_TARGET;
    } else if ((colon == NULL) || ((size_t)(colon - o->gdb) >= sizeof(host)) || !km_cli_u64(&colon[1], &port) ||
               (port == 0u) || (port > 65535u)) {
        km_cli_err("--gdb takes HOST:PORT, not '%s'", o->gdb);
        rc = KM_EXIT_USAGE;
    } else {
        (void)memcpy(host, o->gdb, (size_t)(colon - o->gdb));
        host[colon - o->gdb] = '\0';
        /* Attaching stops the VM: note whether it ran, to leave it as found. */
        if ((t->qmp != NULL) && (km_qmp_query_status(t->qmp, &was_running, NULL, 0u, &err) != KM_OK)) {
            was_running = true;
        }
        st = km_gdb_connect(g, host, (uint16_t)port, 5000, &err);
        if (st != KM_OK) {
            km_cli_report(o->gdb, st, &err);
            rc = KM_EXIT_TARGET;
        }
    }
    if (rc == KM_EXIT_OK) {
        uint32_t rn_ttbr = 0u;
        uint32_t rn_tcr = 0u;
        uint64_t ttbr1 = 0u;
        uint64_t tcr = 0u;
        st = km_gdb_load_regs(g, &err);
        if ((st == KM_OK) && ((km_gdb_regnum(g, "TTBR1_EL1", &rn_ttbr) != KM_OK) ||
                              (km_gdb_regnum(g, "TCR_EL1", &rn_tcr) != KM_OK))) {
            km_cli_err("the gdbstub's target description has no TTBR1_EL1/TCR_EL1 (is this an arm64 guest?)");
            rc = KM_EXIT_TARGET;
        } else if (st != KM_OK) {
            km_cli_report("reading the gdbstub target description", st, &err);
            rc = KM_EXIT_TARGET;
        } else {
            st = km_gdb_read_reg(g, o->cpu, rn_ttbr, &ttbr1, &err);
            if (st == KM_OK) {
                st = km_gdb_read_reg(g, o->cpu, rn_tcr, &tcr, &err);
            }
            if (st != KM_OK) {
                km_cli_report("reading TTBR1_EL1/TCR_EL1", st, &err);
                rc = KM_EXIT_TARGET;
            }
        }
        /* Detach so the VM runs on if it ran before (the attach stopped it). */
        st = km_gdb_detach(g, was_running, &err);
        if ((st != KM_OK) && (rc == KM_EXIT_OK)) {
            km_cli_report("detaching from the gdbstub", st, &err);
            rc = KM_EXIT_TARGET;
        }
        if (rc == KM_EXIT_OK) {
            t->ttbr1 = ttbr1;
            t->tcr = tcr;
            t->arch = KM_ARCH_AARCH64;
            t->arch_known = true;
            st = km_pgwalk_cfg_aarch64(ttbr1, tcr, &t->cfg);
            if (st != KM_OK) {
                km_cli_err("TTBR1_EL1=0x%llx TCR_EL1=0x%llx: %s", (unsigned long long)ttbr1,
                           (unsigned long long)tcr, km_status_name(st));
                rc = KM_EXIT_TARGET;
            }
        }
    }
    free(g);
    return rc;
}

int km_cli_load_regs(const km_cli_opts *o, km_cli_target *t)
{
    int rc = km_cli_open_qmp(o, t);
    km_status st = KM_OK;
    km_error err;
    if (rc != KM_EXIT_OK) {
        /* reported */
    } else if (o->have_cr3) {
        t->arch = KM_ARCH_X86_64;
        t->arch_known = true;
        t->cr3 = o->cr3;
        t->cr4 = o->la57 ? KM_X86_CR4_LA57 : 0u;
        st = km_pgwalk_cfg_x86_64(o->cr3, o->la57, &t->cfg);
    } else if (o->have_ttbr1 || o->have_tcr) {
        if (!(o->have_ttbr1 && o->have_tcr)) {
            km_cli_err("--ttbr1 and --tcr go together");
            rc = KM_EXIT_USAGE;
        } else {
            t->arch = KM_ARCH_AARCH64;
            t->arch_known = true;
            t->ttbr1 = o->ttbr1;
            t->tcr = o->tcr;
            st = km_pgwalk_cfg_aarch64(o->ttbr1, o->tcr, &t->cfg);
        }
    } else if (t->arch_known && (t->arch == KM_ARCH_AARCH64)) {
        if (o->gdb == NULL) {
            km_cli_err("arm64 registers (TTBR1_EL1, TCR_EL1) come from the gdbstub: give --gdb HOST:PORT "
                       "or --ttbr1/--tcr");
            rc = KM_EXIT_USAGE;
        } else {
            rc = km_cli_regs_from_gdb(o, t);
        }
    } else if (t->qmp != NULL) {
        static char regs[64u * 1024u];
        uint64_t cr3 = 0u;
        uint64_t cr4 = 0u;
        st = km_qmp_hmp(t->qmp, "info registers", o->cpu, regs, sizeof(regs), &err);
        if (st == KM_OK) {
            st = km_qemu_parse_x86_regs(regs, &cr3, &cr4);
        }
        if (st != KM_OK) {
            km_cli_report("reading CR3/CR4 over QMP", st, &err);
            rc = KM_EXIT_TARGET;
            st = KM_OK;
        } else {
            t->arch = KM_ARCH_X86_64;
            t->arch_known = true;
            t->cr3 = cr3;
            t->cr4 = cr4;
            st = km_pgwalk_cfg_x86_64(cr3, (cr4 & KM_X86_CR4_LA57) != 0u, &t->cfg);
        }
    } else if (o->gdb != NULL) {
        rc = km_cli_regs_from_gdb(o, t);
    } else {
        km_cli_err("no registers: give --qmp, --gdb, --cr3 [--la57] or --ttbr1/--tcr");
        rc = KM_EXIT_USAGE;
    }
    if ((rc == KM_EXIT_OK) && (st != KM_OK)) {
        km_cli_err("cannot walk page tables with these registers: %s", km_status_name(st));
        rc = KM_EXIT_TARGET;
    }
    if (rc == KM_EXIT_OK) {
        t->cfg_ok = true;
    }
    return rc;
}
