/* ktmon translate: kernel virtual -> guest physical, with every level's entry. */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "opts.h"

void km_usage_translate(FILE *out)
{
    (void)fprintf(out,
                  "usage: ktmon translate [--mem qemu-ram:PATH|core:PATH]\n"
                  "                       [--qmp SOCKET | --gdb HOST:PORT | --cr3 X [--la57] | --ttbr1 X --tcr Y]\n"
                  "                       [--arch x86_64|arm64] [--cpu N] [--json] KVA...\n"
                  "\n"
                  "Translate kernel virtual addresses through the guest's page tables and print,\n"
                  "for each, the physical address, the page size, the leaf level and every level's\n"
                  "entry (its physical address and value).\n"
                  "\n"
                  "Registers come from --cr3/--ttbr1/--tcr, from a live QEMU over QMP (x86: CR3 and\n"
                  "CR4.LA57 of vCPU --cpu, default 0) or its gdbstub (arm64: TTBR1_EL1, TCR_EL1).\n"
                  "Guest memory comes from --mem, or from the RAM file QEMU reports over --qmp.\n"
                  "\n"
                  "Levels: x86_64 5=PML5 4=PML4 3=PDPT 2=PD 1=PT; arm64 0..3.\n"
                  "Exit status: 0 all translated, 3 some address did not translate, 2 usage.\n");
}

static void km_print_entries_json(const km_pgwalk_trace *tr)
{
    (void)printf("\"entries\":[");
    for (uint32_t i = 0u; i < tr->n; i++) {
        const km_pgwalk_entry *e = &tr->entries[i];
        (void)printf("%s{\"level\":%d,\"index\":%u,\"entry_pa\":\"0x%llx\",\"value\":\"0x%llx\"}",
                     (i > 0u) ? "," : "", (int)e->level, e->index, (unsigned long long)e->entry_pa,
                     (unsigned long long)e->value);
    }
    (void)printf("]");
}

static void km_print_entries_text(const km_pgwalk_trace *tr)
{
    for (uint32_t i = 0u; i < tr->n; i++) {
        const km_pgwalk_entry *e = &tr->entries[i];
        (void)printf("    level %d [%3u] entry at pa 0x%llx = 0x%016llx\n", (int)e->level, e->index,
                     (unsigned long long)e->entry_pa, (unsigned long long)e->value);
    }
}

int km_cmd_translate(int argc, char **argv)
{
    km_cli_opts o;
    km_cli_target t;
    int rc = km_cli_parse(argc, argv, &o);
    bool any_failed = false;
    km_cli_target_init(&t);
    if ((rc == KM_EXIT_OK) && o.help) {
        km_usage_translate(stdout);
    } else if (rc == KM_EXIT_OK) {
        for (int i = 0; (rc == KM_EXIT_OK) && (i < o.nrest); i++) {
            uint64_t v = 0u;
            if ((o.rest[i][0] == '-') || !km_cli_u64(o.rest[i], &v)) {
                km_cli_err("translate: not an address or option: '%s'", o.rest[i]);
                rc = KM_EXIT_USAGE;
            }
        }
        if ((rc == KM_EXIT_OK) && (o.nrest == 0)) {
            km_cli_err("translate: no address given (see ktmon translate --help)");
            rc = KM_EXIT_USAGE;
        }
        if (rc == KM_EXIT_OK) {
            rc = km_cli_load_regs(&o, &t);
        }
        if (rc == KM_EXIT_OK) {
            rc = km_cli_open_mem(&o, &t);
        }
        if ((rc == KM_EXIT_OK) && o.json) {
            (void)printf("[");
        }
        for (int i = 0; (rc == KM_EXIT_OK) && (i < o.nrest); i++) {
            uint64_t va = 0u;
            km_pgwalk_result r;
            km_pgwalk_trace tr;
            (void)km_cli_u64(o.rest[i], &va);
            km_status st = km_pgwalk_walk(&t.mem, &t.cfg, va, &r, &tr);
            if (o.json) {
                (void)printf("%s{\"kva\":\"0x%llx\",", (i > 0) ? "," : "", (unsigned long long)va);
                if (st == KM_OK) {
                    (void)printf("\"pa\":\"0x%llx\",\"page_size\":\"0x%llx\",\"level\":%d,",
                                 (unsigned long long)r.pa, (unsigned long long)r.page_size, (int)r.level);
                } else {
                    (void)printf("\"error\":\"%s\",\"fault_level\":%d,\"fault_addr\":\"0x%llx\",",
                                 km_status_name(st), (int)tr.fault_level, (unsigned long long)tr.fault_addr);
                }
                km_print_entries_json(&tr);
                (void)printf("}");
            } else if (st == KM_OK) {
                (void)printf("0x%016llx -> pa 0x%llx (page size 0x%llx, level %d)\n", (unsigned long long)va,
                             (unsigned long long)r.pa, (unsigned long long)r.page_size, (int)r.level);
                km_print_entries_text(&tr);
            } else {
                (void)printf("0x%016llx -> %s (level %d, at 0x%llx)\n", (unsigned long long)va,
                             km_status_name(st), (int)tr.fault_level, (unsigned long long)tr.fault_addr);
                km_print_entries_text(&tr);
            }
            if (st != KM_OK) {
                any_failed = true;
            }
        }
        if ((rc == KM_EXIT_OK) && o.json) {
            (void)printf("]\n");
        }
    } else {
        /* usage error reported */
    }
    km_cli_target_fini(&t);
    if ((rc == KM_EXIT_OK) && any_failed) {
        rc = KM_EXIT_TARGET;
    }
    return rc;
}
