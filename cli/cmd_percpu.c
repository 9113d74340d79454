/* ktmon percpu: per-CPU offsets and each CPU's runqueue. */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "kernel.h"

void km_usage_percpu(FILE *out)
{
    (void)fprintf(out,
                  "usage: ktmon percpu --vmlinux PATH [--qmp SOCKET] [--gdb HOST:PORT] [--mem SPEC] [--json]\n"
                  "\n"
                  "For every possible CPU: its per-CPU offset (__per_cpu_offset[cpu]), the address\n"
                  "of its runqueue (runqueues) and the runqueue fields rq.cpu, rq.nr_running,\n"
                  "rq.clock, rq.scx.nr_running, rq.scx.flags and rq.scx.local_dsq.nr (offsets from BTF).\n");
}

int km_cmd_percpu(int argc, char **argv)
{
    km_cli_opts o;
    km_cli_kernel k;
    int rc = km_cli_parse(argc, argv, &o);
    bool opened = false;
    uint32_t o_cpu = 0, o_nr = 0, o_clock = 0, o_scx_nr = 0, o_scx_flags = 0, o_dsq_nr = 0;
    uint64_t rq_link = 0u;
    if ((rc == KM_EXIT_OK) && o.help) {
        km_usage_percpu(stdout);
        return KM_EXIT_OK;
    }
    if ((rc == KM_EXIT_OK) && (o.nrest > 0)) {
        km_cli_err("percpu: unexpected argument '%s'", o.rest[0]);
        rc = KM_EXIT_USAGE;
    }
    if (rc == KM_EXIT_OK) {
        rc = km_cli_kernel_open(&o, &k, KM_CLI_NEED_BTF | KM_CLI_NEED_PERCPU);
        opened = true;
    }
    if (rc == KM_EXIT_OK) {
        km_btf_field f[] = {
            {"rq.cpu", &o_cpu, NULL, true, false},
            {"rq.nr_running", &o_nr, NULL, true, false},
            {"rq.clock", &o_clock, NULL, true, false},
            {"rq.scx.nr_running", &o_scx_nr, NULL, true, false},
            {"rq.scx.flags", &o_scx_flags, NULL, true, false},
            {"rq.scx.local_dsq.nr", &o_dsq_nr, NULL, true, false},
        };
        km_btf_error be;
        if (km_btf_resolve_fields(&k.btf, f, (uint32_t)(sizeof(f) / sizeof(f[0])), &be) != KM_OK) {
            char msg[256];
            km_cli_err("BTF: %s", km_btf_strerror(&be, msg, sizeof(msg)));
            rc = KM_EXIT_TARGET;
        } else if (km_ksym_addr(&k.ks, "runqueues", &rq_link) != KM_OK) {
            km_cli_err("no symbol runqueues in %s", o.vmlinux);
            rc = KM_EXIT_TARGET;
        } else {
            /* offsets resolved */
        }
    }
    if ((rc == KM_EXIT_OK) && o.json) {
        (void)printf("{\"ncpus\":%u,\"cpus\":[", k.gk->ncpus);
    }
    for (uint32_t c = 0u; (rc == KM_EXIT_OK) && (c < k.gk->ncpus); c++) {
        uint64_t rq = 0u;
        uint32_t cpu = 0u, nr = 0u, scx_nr = 0u, scx_flags = 0u, dsq_nr = 0u;
        uint64_t clock = 0u;
        km_status st = km_gk_percpu_kva(k.gk, rq_link, c, &rq);
        if (st == KM_OK) {
            st = km_gk_read_u32(k.gk, rq + o_cpu, &cpu);
        }
        if (st == KM_OK) {
            st = km_gk_read_u32(k.gk, rq + o_nr, &nr);
        }
        if (st == KM_OK) {
            st = km_gk_read_u64(k.gk, rq + o_clock, &clock);
        }
        if (st == KM_OK) {
            st = km_gk_read_u32(k.gk, rq + o_scx_nr, &scx_nr);
        }
        if (st == KM_OK) {
            st = km_gk_read_u32(k.gk, rq + o_scx_flags, &scx_flags);
        }
        if (st == KM_OK) {
            st = km_gk_read_u32(k.gk, rq + o_dsq_nr, &dsq_nr);
        }
        if (st != KM_OK) {
            km_cli_err("CPU %u runqueue at 0x%llx: %s", c, (unsigned long long)rq, km_status_name(st));
            rc = KM_EXIT_TARGET;
        } else if (o.json) {
            (void)printf("%s{\"cpu\":%u,\"offset\":\"0x%llx\",\"rq\":\"0x%llx\",\"rq_cpu\":%u,\"nr_running\":%u,"
                         "\"clock\":%llu,\"scx_nr_running\":%u,\"scx_flags\":\"0x%x\",\"local_dsq_nr\":%u}",
                         (c > 0u) ? "," : "", c, (unsigned long long)k.gk->percpu[c], (unsigned long long)rq, cpu,
                         nr, (unsigned long long)clock, scx_nr, scx_flags, dsq_nr);
        } else {
            (void)printf("cpu %u: offset 0x%llx rq 0x%llx rq.cpu=%u nr_running=%u clock=%llu scx.nr_running=%u "
                         "scx.flags=0x%x local_dsq.nr=%u\n",
                         c, (unsigned long long)k.gk->percpu[c], (unsigned long long)rq, cpu, nr,
                         (unsigned long long)clock, scx_nr, scx_flags, dsq_nr);
        }
    }
    if ((rc == KM_EXIT_OK) && o.json) {
        (void)printf("]}\n");
    }
    if (opened) {
        km_cli_kernel_close(&k);
    }
    return rc;
}
