/* ktmon: error context and error text of modules/ksym.
 *
 * km_ksym_strerror writes into the caller's buffer with a small appender
 * (no stdio, no allocation) and always NUL-terminates. */
#include <string.h>

#include "ksym_int.h"

typedef struct km_ksym_out {
    char *buf;
    size_t len;   /* capacity, >= 1 */
    size_t used;  /* < len: buf[used] is the terminating NUL */
} km_ksym_out;

static void km_ksym_put(km_ksym_out *o, const char *s)
{
    size_t i = 0u;
    while ((s[i] != '\0') && ((o->used + 1u) < o->len)) {
        o->buf[o->used] = s[i];
        o->used++;
        i++;
    }
    o->buf[o->used] = '\0';
}

static void km_ksym_put_u64(km_ksym_out *o, uint64_t v, bool hex)
{
    char digits[24];
    size_t n = 0u;
    uint64_t x = v;
    uint64_t base = 10u;
    if (hex) {
        base = 16u;
    }
    do {
        static const char km_digits[17] = "0123456789abcdef";
        digits[n] = km_digits[x % base];
        n++;
        x /= base;
    } while ((x != 0u) && (n < sizeof(digits)));
    char tmp[28];
    size_t k = 0u;
    if (hex) {
        tmp[0] = '0';
        tmp[1] = 'x';
        k = 2u;
    }
    while (n > 0u) {
        n--;
        tmp[k] = digits[n];
        k++;
    }
    tmp[k] = '\0';
    km_ksym_put(o, tmp);
}

const char *km_ksym_arch_name(km_arch arch)
{
    const char *n = "unknown";
    if (arch == KM_ARCH_X86_64) {
        n = "x86_64";
    } else if (arch == KM_ARCH_AARCH64) {
        n = "aarch64";
    } else {
        /* out of range */
    }
    return n;
}

static void km_ksym_put_machine(km_ksym_out *o, uint32_t m)
{
    switch (m) {
    case KM_KSYM_EM_X86_64:
        km_ksym_put(o, "x86_64");
        break;
    case KM_KSYM_EM_AARCH64:
        km_ksym_put(o, "aarch64");
        break;
    case 3u:
        km_ksym_put(o, "i386");
        break;
    case 40u:
        km_ksym_put(o, "arm (32-bit)");
        break;
    case 243u:
        km_ksym_put(o, "riscv");
        break;
    default:
        km_ksym_put(o, "ELF machine ");
        km_ksym_put_u64(o, (uint64_t)m, false);
        break;
    }
}

const char *km_ksym_strerror(const km_ksym_error *err, char *buf, size_t len)
{
    km_ksym_out o = {buf, len, 0u};
    if ((buf != NULL) && (len > 0u)) {
        buf[0] = '\0';
        if (err == NULL) {
            km_ksym_put(&o, "no error information");
        } else {
            switch (err->reason) {
            case KM_KSYM_R_NONE:
                km_ksym_put(&o, (err->status == KM_OK) ? "no error" : km_status_name(err->status));
                break;
            case KM_KSYM_R_INVALID_ARG:
                km_ksym_put(&o, "invalid argument (NULL table, path or buffer)");
                break;
            case KM_KSYM_R_OPEN: {
                char msg[128];
                km_ksym_put(&o, "cannot open or read the file: ");
                if ((err->sys_errno != 0) && (strerror_r(err->sys_errno, msg, sizeof(msg)) == 0)) {
                    km_ksym_put(&o, msg);
                } else {
                    km_ksym_put(&o, "errno ");
                    km_ksym_put_u64(&o, (uint64_t)(uint32_t)err->sys_errno, false);
                }
                break;
            }
            case KM_KSYM_R_NOT_ELF:
                km_ksym_put(&o, "not an ELF file (no ELF magic); give the uncompressed vmlinux, "
                                "or a System.map with --system-map");
                break;
            case KM_KSYM_R_ELF_CLASS:
                km_ksym_put(&o, "not a 64-bit ELF file: ktmon reads x86_64 and aarch64 kernels");
                break;
            case KM_KSYM_R_ELF_CORRUPT:
                km_ksym_put(&o, "corrupt ELF file");
                if (err->lib_msg != NULL) {
                    km_ksym_put(&o, " (libelf: ");
                    km_ksym_put(&o, err->lib_msg);
                    km_ksym_put(&o, ")");
                }
                break;
            case KM_KSYM_R_ELF_TRUNCATED:
                km_ksym_put(&o, "truncated ELF file: data at file offset ");
                km_ksym_put_u64(&o, err->offset, true);
                km_ksym_put(&o, " lies past the end of the file (incomplete copy or download?)");
                break;
            case KM_KSYM_R_NO_SYMTAB:
                km_ksym_put(&o, "no .symtab section: this vmlinux is stripped (one extracted from "
                                "vmlinuz has no symbols); use the vmlinux of the kernel's -dbg "
                                "package (linux-image-VERSION-dbg: "
                                "/usr/lib/debug/lib/modules/VERSION/vmlinux) or give the kernel's "
                                "System.map with --system-map");
                break;
            case KM_KSYM_R_BAD_SYMTAB:
                km_ksym_put(&o, "malformed symbol table");
                if (err->line != 0u) {
                    km_ksym_put(&o, ": symbol ");
                    km_ksym_put_u64(&o, (uint64_t)err->line, false);
                    km_ksym_put(&o, " has name offset ");
                    km_ksym_put_u64(&o, err->offset, true);
                    km_ksym_put(&o, " outside .strtab");
                } else {
                    km_ksym_put(&o, " (.symtab entry size, string table link, or an "
                                    "unterminated .strtab)");
                }
                break;
            case KM_KSYM_R_WRONG_ARCH:
                km_ksym_put(&o, "wrong architecture: the file is for ");
                km_ksym_put_machine(&o, err->machine);
                km_ksym_put(&o, ", expected ");
                km_ksym_put_machine(&o, err->expected_machine);
                break;
            case KM_KSYM_R_EMPTY_MAP:
                km_ksym_put(&o, "the System.map holds no symbol");
                break;
            case KM_KSYM_R_MAP_LINE:
                km_ksym_put(&o, "System.map line ");
                km_ksym_put_u64(&o, (uint64_t)err->line, false);
                km_ksym_put(&o, " is malformed (expected \"ADDRESS TYPE NAME\", address in hex)");
                break;
            case KM_KSYM_R_TOO_BIG:
                km_ksym_put(&o, "too many symbols or file too large (limits: 16777216 symbols, "
                                "1 GiB System.map)");
                break;
            case KM_KSYM_R_NO_SYMBOLS:
                km_ksym_put(&o, ".symtab holds no defined, named symbol");
                break;
            case KM_KSYM_R_NO_MEMORY:
                km_ksym_put(&o, "out of memory while building the symbol table");
                break;
            default:
                km_ksym_put(&o, "unknown error");
                break;
            }
        }
    }
    return buf;
}
