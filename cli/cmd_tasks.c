/* ktmon tasks: every task of the guest (pid, tgid, comm), walked from init_task. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "kernel.h"

/* Bound on tasks visited: a cycle or a corrupted list cannot make the walk run forever. */
#define KM_TASKS_MAX 65536u

void km_usage_tasks(FILE *out)
{
    (void)fprintf(out,
                  "usage: ktmon tasks --vmlinux PATH [--qmp SOCKET] [--gdb HOST:PORT] [--mem SPEC] [--json]\n"
                  "\n"
                  "List every task of the running guest: the thread-group leaders on init_task.tasks\n"
                  "and each leader's threads (signal->thread_head), with pid, tgid and comm, using\n"
                  "struct offsets from the vmlinux BTF.  At most %u tasks are visited; a longer or\n"
                  "cyclic list is reported as an error.\n",
                  KM_TASKS_MAX);
}

typedef struct {
    uint32_t tasks, pid, tgid, comm, signal, thread_head, thread_node;
} km_task_offs;

int km_cmd_tasks(int argc, char **argv)
{
    km_cli_opts o;
    km_cli_kernel k;
    km_task_offs off;
    int rc = km_cli_parse(argc, argv, &o);
    bool opened = false;
    uint32_t count = 0u;
    if ((rc == KM_EXIT_OK) && o.help) {
        km_usage_tasks(stdout);
        return KM_EXIT_OK;
    }
    if ((rc == KM_EXIT_OK) && (o.nrest > 0)) {
        km_cli_err("tasks: unexpected argument '%s'", o.rest[0]);
        rc = KM_EXIT_USAGE;
    }
    if (rc == KM_EXIT_OK) {
        rc = km_cli_kernel_open(&o, &k, KM_CLI_NEED_BTF);
        opened = true;
    }
    if (rc == KM_EXIT_OK) {
        km_btf_field f[] = {
            {"task_struct.tasks", &off.tasks, NULL, true, false},
            {"task_struct.pid", &off.pid, NULL, true, false},
            {"task_struct.tgid", &off.tgid, NULL, true, false},
            {"task_struct.comm", &off.comm, NULL, true, false},
            {"task_struct.signal", &off.signal, NULL, true, false},
            {"signal_struct.thread_head", &off.thread_head, NULL, true, false},
            {"task_struct.thread_node", &off.thread_node, NULL, true, false},
        };
        km_btf_error be;
        if (km_btf_resolve_fields(&k.btf, f, (uint32_t)(sizeof(f) / sizeof(f[0])), &be) != KM_OK) {
            char msg[256];
            km_cli_err("BTF: %s", km_btf_strerror(&be, msg, sizeof(msg)));
            rc = KM_EXIT_TARGET;
        }
    }
    uint64_t init_task = 0u;
    if (rc == KM_EXIT_OK) {
        uint64_t link = 0u;
        if (km_ksym_addr(&k.ks, "init_task", &link) != KM_OK) {
            km_cli_err("no symbol init_task in %s", o.vmlinux);
            rc = KM_EXIT_TARGET;
        } else {
            (void)km_gk_sym_kva(k.gk, link, &init_task);
        }
    }
    if ((rc == KM_EXIT_OK) && o.json) {
        (void)printf("[");
    }
    km_status st = KM_OK;
    uint64_t leader = init_task;
    uint64_t fail_at = 0u;
    bool done = (rc != KM_EXIT_OK);
    while (!done && (st == KM_OK)) {
        /* the leader's thread group, including the leader itself */
        uint64_t sig = 0u;
        st = km_gk_read_u64(k.gk, leader + off.signal, &sig);
        fail_at = leader + off.signal;
        if ((st == KM_OK) && (sig != 0u)) {
            uint64_t head = sig + off.thread_head;
            uint64_t node = 0u;
            st = km_gk_read_u64(k.gk, head, &node);
            fail_at = head;
            while ((st == KM_OK) && (node != head)) {
                uint64_t task = node - off.thread_node;
                uint32_t pid = 0u;
                uint32_t tgid = 0u;
                char comm[17];
                (void)memset(comm, 0, sizeof(comm));
                fail_at = task;
                st = km_gk_read_u32(k.gk, task + off.pid, &pid);
                if (st == KM_OK) {
                    st = km_gk_read_u32(k.gk, task + off.tgid, &tgid);
                }
                if (st == KM_OK) {
                    st = km_gk_read_bytes(k.gk, task + off.comm, (uint8_t *)comm, 16u);
                }
                if (st == KM_OK) {
                    count++;
                    if (count > KM_TASKS_MAX) {
                        st = KM_ERR_RANGE;
                    } else if (o.json) {
                        (void)printf("%s{\"pid\":%u,\"tgid\":%u,\"comm\":\"", (count > 1u) ? "," : "", pid, tgid);
                        for (int i = 0; comm[i] != '\0'; i++) {
                            unsigned char c = (unsigned char)comm[i];
                            if ((c == '"') || (c == '\\')) {
                                (void)printf("\\%c", c);
                            } else if ((c < 0x20u) || (c >= 0x7fu)) {
                                (void)printf("\\u%04x", c);
                            } else {
                                (void)putchar(c);
                            }
                        }
                        (void)printf("\",\"task\":\"0x%llx\"}", (unsigned long long)task);
                    } else {
                        (void)printf("%7u %7u %s\n", pid, tgid, comm);
                    }
                    st = (st == KM_OK) ? km_gk_read_u64(k.gk, node, &node) : st;
                }
            }
        }
        if (st == KM_OK) {
            uint64_t next = 0u;
            st = km_gk_read_u64(k.gk, leader + off.tasks, &next);
            fail_at = leader + off.tasks;
            leader = next - off.tasks;
            done = (leader == init_task);
        }
    }
    if ((rc == KM_EXIT_OK) && o.json) {
        (void)printf("]\n");
    }
    if ((rc == KM_EXIT_OK) && (st != KM_OK)) {
        km_cli_err("task list walk stopped after %u tasks at 0x%llx: %s%s", count, (unsigned long long)fail_at,
                   km_status_name(st), (st == KM_ERR_RANGE) ? " (list longer than the bound, or cyclic)" : "");
        rc = KM_EXIT_TARGET;
    }
    if (opened) {
        km_cli_kernel_close(&k);
    }
    return rc;
}
