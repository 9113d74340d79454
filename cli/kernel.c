/* ktmon command line: opening the running guest kernel. */
#include "kernel.h"

#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"

int km_cli_vmlinux_bytes(const char *path, uint64_t addr, uint8_t *buf, uint32_t len, uint32_t *got)
{
    int rc = KM_EXIT_TARGET;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    Elf *e = NULL;
    if ((fd >= 0) && (elf_version(EV_CURRENT) != EV_NONE)) {
        e = elf_begin(fd, ELF_C_READ_MMAP, NULL);
    }
    if (e != NULL) {
        Elf_Scn *scn = NULL;
        while ((rc != KM_EXIT_OK) && ((scn = elf_nextscn(e, scn)) != NULL)) {
            GElf_Shdr sh;
            if ((gelf_getshdr(scn, &sh) != NULL) && (sh.sh_type == SHT_PROGBITS) && (addr >= sh.sh_addr) &&
                ((addr - sh.sh_addr) < sh.sh_size)) {
                Elf_Data *d = elf_getdata(scn, NULL);
                uint64_t off = addr - sh.sh_addr;
                if ((d != NULL) && (d->d_buf != NULL) && (off < d->d_size)) {
                    uint64_t n = d->d_size - off;
                    if (n > len) {
                        n = len;
                    }
                    (void)memcpy(buf, (const uint8_t *)d->d_buf + off, (size_t)n);
                    *got = (uint32_t)n;
                    rc = KM_EXIT_OK;
                }
            }
        }
        (void)elf_end(e);
    }
    if (fd >= 0) {
        (void)close(fd);
    }
    return rc;
}

int km_cli_offsetof(km_cli_kernel *k, const char *path, uint32_t *off)
{
    int rc = KM_EXIT_OK;
    km_btf_error be;
    km_status st = km_btf_offsetof(&k->btf, path, off, &be);
    if (st != KM_OK) {
        char msg[256];
        km_cli_err("BTF: %s: %s", path, km_btf_strerror(&be, msg, sizeof(msg)));
        rc = KM_EXIT_TARGET;
    }
    return rc;
}

static int km_cli_load_vmlinux(const km_cli_opts *o, km_cli_kernel *k)
{
    int rc = KM_EXIT_OK;
    km_ksym_error ke;
    km_ksym_opts ko = {.check_arch = k->t.arch_known, .arch = k->t.arch};
    km_status st;
    if (o->vmlinux == NULL) {
        km_cli_err("this command needs the guest's vmlinux: --vmlinux PATH (or KTMON_VMLINUX)");
        rc = KM_EXIT_USAGE;
    } else {
        km_ksym_init(&k->ks);
        st = km_ksym_load_elf(&k->ks, o->vmlinux, &ko, &ke);
        if (st != KM_OK) {
            char msg[512];
            km_cli_err("%s: %s", o->vmlinux, km_ksym_strerror(&ke, msg, sizeof(msg)));
            rc = KM_EXIT_TARGET;
        } else {
            km_arch a = KM_ARCH_X86_64;
            k->ks_loaded = true;
            if (!k->t.arch_known && (km_ksym_arch(&k->ks, &a) == KM_OK)) {
                k->t.arch = a;
                k->t.arch_known = true;
            }
        }
    }
    return rc;
}

static int km_cli_handshake(const km_cli_opts *o, km_cli_kernel *k)
{
    int rc = KM_EXIT_OK;
    km_gk_symbols syms;
    const char *missing = "?";
    km_status st = km_gk_symbols_from_ksym(&k->ks, k->t.arch, &syms, &missing);
    if (st != KM_OK) {
        km_cli_err("%s: no symbol '%s' (needed to find the kernel in guest memory)", o->vmlinux, missing);
        rc = KM_EXIT_TARGET;
    } else {
        uint8_t banner[KM_GK_BANNER_MAX];
        uint32_t got = 0u;
        if (km_cli_vmlinux_bytes(o->vmlinux, syms.linux_banner, banner, sizeof(banner), &got) == KM_EXIT_OK) {
            km_gk_set_banner(&syms, banner, got);
        }
        k->gk = malloc(sizeof(*k->gk));
        if (k->gk == NULL) {
            km_cli_err("out of memory");
            rc = KM_EXIT_TARGET;
        } else {
            km_gk_init(k->gk, &k->t.mem, &syms);
        }
    }
    /* One vCPU may be unusable (early boot tables, a trampoline): try a few. */
    km_gk_error e;
    (void)memset(&e, 0, sizeof(e));
    st = KM_ERR_NOT_READY;
    bool explicit_regs = o->have_cr3 || o->have_ttbr1;
    for (int cpu = o->cpu; (rc == KM_EXIT_OK) && (st == KM_ERR_NOT_READY) && (cpu < (o->cpu + 4)); cpu++) {
        km_cli_opts oc = *o;
        oc.cpu = cpu;
        km_cli_set_quiet(cpu > o->cpu); /* further vCPUs are a silent second chance */
        rc = km_cli_load_regs(&oc, &k->t);
        km_cli_set_quiet(false);
        if (rc == KM_EXIT_OK) {
            km_gk_regs r = {.arch = k->t.arch, .cr3 = k->t.cr3, .cr4 = k->t.cr4, .ttbr1 = k->t.ttbr1, .tcr = k->t.tcr};
            st = km_gk_handshake(k->gk, &r, &e);
        } else if ((cpu > o->cpu) && (rc == KM_EXIT_TARGET)) {
            rc = KM_EXIT_OK; /* no such vCPU: stop trying */
            break;
        } else {
            /* reported */
        }
        if (explicit_regs) {
            break;
        }
    }
    if ((rc == KM_EXIT_OK) && (st != KM_OK)) {
        if (st == KM_ERR_MISMATCH) {
            km_cli_err("%s does not match the running guest: its linux_banner differs from the guest's", o->vmlinux);
        } else {
            km_cli_err("cannot find the kernel in guest memory: %s at step '%s' (address 0x%llx)%s", km_status_name(st),
                       km_gk_stage_name(e.stage), (unsigned long long)e.addr,
                       (st == KM_ERR_NOT_READY) ? "; is the guest booted?" : "");
        }
        rc = KM_EXIT_TARGET;
    }
    return rc;
}

static int64_t km_cli_now_ms(void)
{
    struct timespec ts;
    (void)clock_gettime(CLOCK_MONOTONIC, &ts);
    return ((int64_t)ts.tv_sec * 1000) + ((int64_t)ts.tv_nsec / 1000000);
}

int km_cli_kernel_open(const km_cli_opts *o, km_cli_kernel *k, unsigned int need)
{
    int rc;
    (void)memset(k, 0, sizeof(*k));
    km_cli_target_init(&k->t);
    km_btf_init(&k->btf);
    rc = km_cli_open_qmp(o, &k->t);
    if (rc == KM_EXIT_OK) {
        rc = km_cli_load_vmlinux(o, k);
    }
    if (rc == KM_EXIT_OK) {
        rc = km_cli_open_mem(o, &k->t);
    }
    if ((rc == KM_EXIT_OK) && (o->wait_kernel_ms > 0u)) {
        /* Lazy init against a booting guest: fresh registers on every attempt,
         * nothing believed until the handshake and the per-CPU gate pass. */
        int64_t deadline = km_cli_now_ms() + (int64_t)o->wait_kernel_ms;
        bool up = false;
        uint32_t attempts = 0u;
        while (!up && (rc == KM_EXIT_OK) && (km_cli_now_ms() < deadline)) {
            km_cli_set_quiet(true);
            int r = km_cli_handshake(o, k);
            km_gk_error e;
            if ((r == KM_EXIT_OK) && (km_gk_try_init_percpu(k->gk, &e) == KM_OK)) {
                up = true;
            }
            km_cli_set_quiet(false);
            attempts++;
            if (!up) {
                free(k->gk);
                k->gk = NULL;
                struct timespec ts = {.tv_sec = 0, .tv_nsec = 100L * 1000L * 1000L};
                (void)nanosleep(&ts, NULL);
            }
        }
        if (!up) {
            km_cli_err("the guest kernel did not come up within %u s (%u attempts)", o->wait_kernel_ms / 1000u,
                       attempts);
            rc = km_cli_handshake(o, k); /* once more, loudly: say why */
            if (rc == KM_EXIT_OK) {
                rc = KM_EXIT_TARGET;
            }
        }
    } else if (rc == KM_EXIT_OK) {
        rc = km_cli_handshake(o, k);
    } else {
        /* reported */
    }
    if ((rc == KM_EXIT_OK) && ((need & KM_CLI_NEED_BTF) != 0u)) {
        km_btf_error be;
        km_status st = km_btf_load_file(&k->btf, o->vmlinux, NULL, &be);
        if (st != KM_OK) {
            char msg[256];
            km_cli_err("%s: BTF: %s", o->vmlinux, km_btf_strerror(&be, msg, sizeof(msg)));
            rc = KM_EXIT_TARGET;
        } else {
            k->btf_loaded = true;
        }
    }
    if ((rc == KM_EXIT_OK) && ((need & KM_CLI_NEED_PERCPU) != 0u)) {
        km_gk_error e;
        km_status st = km_gk_try_init_percpu(k->gk, &e);
        if (st != KM_OK) {
            km_cli_err("per-CPU offsets: %s (CPU %u)", km_status_name(st), e.index);
            rc = KM_EXIT_TARGET;
        }
    }
    return rc;
}

void km_cli_kernel_close(km_cli_kernel *k)
{
    if (k->btf_loaded) {
        km_btf_fini(&k->btf);
    }
    if (k->ks_loaded) {
        km_ksym_fini(&k->ks);
    }
    free(k->gk);
    k->gk = NULL;
    km_cli_target_fini(&k->t);
}
