/* ktmon: the vmlinux .symtab loader (libelf).
 *
 * The file is opened with ELF_C_READ_MMAP (a read-only private mapping; the
 * pages of .symtab and .strtab are the only ones touched), the string table
 * is copied once so the table does not depend on the file after the load,
 * and the file is closed before returning.  Every header value libelf does
 * not check for us (section extents, the string table's termination, each
 * symbol's name offset) is range-checked here: a corrupt or truncated file
 * is an error with a reason, never a crash. */
#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ksym_int.h"

/* ELF symbol binding and type values beyond <elf.h>'s portable set. */
#define KM_STB_GNU_UNIQUE 10u
#define KM_STT_GNU_IFUNC 10u

/* The local (lower-case) form of a section letter. */
static char km_ksym_lower(char c)
{
    char r;
    switch (c) {
    case 'T':
        r = 't';
        break;
    case 'D':
        r = 'd';
        break;
    case 'B':
        r = 'b';
        break;
    case 'R':
        r = 'r';
        break;
    case 'N':
        r = 'n';
        break;
    case 'A':
        r = 'a';
        break;
    case 'C':
        r = 'c';
        break;
    default:
        r = c;
        break;
    }
    return r;
}

/* nm's letter for a section: T code, B zero-filled, D writable data,
 * R read-only data, N not loaded (debug, notes). */
static char km_ksym_section_letter(const GElf_Shdr *sh)
{
    char c;
    if ((sh->sh_flags & (GElf_Xword)SHF_ALLOC) == 0u) {
        c = 'N';
    } else if ((sh->sh_flags & (GElf_Xword)SHF_EXECINSTR) != 0u) {
        c = 'T';
    } else if (sh->sh_type == (GElf_Word)SHT_NOBITS) {
        c = 'B';
    } else if ((sh->sh_flags & (GElf_Xword)SHF_WRITE) != 0u) {
        c = 'D';
    } else {
        c = 'R';
    }
    return c;
}

/* nm's letter for a defined symbol; lower case when local. */
static char km_ksym_sym_letter(const GElf_Sym *s, const char *sec_letters, size_t shnum)
{
    uint32_t bind = (uint32_t)ELF64_ST_BIND(s->st_info);
    uint32_t type = (uint32_t)ELF64_ST_TYPE(s->st_info);
    char c;
    if (bind == (uint32_t)STB_WEAK) {
        c = (type == (uint32_t)STT_OBJECT) ? 'V' : 'W';
    } else if (bind == KM_STB_GNU_UNIQUE) {
        c = 'u';
    } else if (type == KM_STT_GNU_IFUNC) {
        c = 'i';
    } else {
        if (s->st_shndx == (GElf_Section)SHN_ABS) {
            c = 'A';
        } else if (s->st_shndx == (GElf_Section)SHN_COMMON) {
            c = 'C';
        } else if ((size_t)s->st_shndx < shnum) {
            c = sec_letters[s->st_shndx];
        } else {
            c = '?'; /* SHN_XINDEX or a section that does not exist */
        }
        if (bind == (uint32_t)STB_LOCAL) {
            c = km_ksym_lower(c);
        }
    }
    return c;
}

/*@ assigns \nothing; */
static uint8_t km_ksym_rank(uint32_t bind)
{
    uint8_t r = 0u;
    if ((bind == (uint32_t)STB_GLOBAL) || (bind == KM_STB_GNU_UNIQUE)) {
        r = 2u;
    } else if (bind == (uint32_t)STB_WEAK) {
        r = 1u;
    } else {
        /* local (and anything processor-specific) */
    }
    return r;
}

static km_status km_ksym_elf_error(km_ksym_error *err, km_ksym_reason reason, uint64_t offset)
{
    km_status st = km_ksym_fail(err, KM_ERR_BAD_DATA, reason, 0, 0u, offset);
    if (err != NULL) {
        err->lib_msg = elf_errmsg(-1);
    }
    return st;
}

/*@ assigns \nothing; */
static bool km_ksym_extent_ok(uint64_t off, uint64_t size, uint64_t flen)
{
    return (off <= flen) && (size <= (flen - off));
}

/* Check the ELF identity, header and machine; *machine on success. */
static km_status km_ksym_elf_header(Elf *e, uint64_t flen, const km_ksym_opts *opts,
                                    uint32_t *machine, km_ksym_error *err)
{
    km_status st = KM_OK;
    size_t idlen = 0u;
    const char *id = NULL;
    if (elf_kind(e) != ELF_K_ELF) {
        st = km_ksym_fail(err, KM_ERR_BAD_DATA, KM_KSYM_R_NOT_ELF, 0, 0u, 0u);
    } else {
        id = elf_getident(e, &idlen);
        if ((id == NULL) || (idlen < (size_t)EI_NIDENT)) {
            st = km_ksym_elf_error(err, KM_KSYM_R_ELF_CORRUPT, 0u);
        } else if (((uint8_t)id[EI_CLASS] != (uint8_t)ELFCLASS64) ||
                   (((uint8_t)id[EI_DATA] != (uint8_t)ELFDATA2LSB) &&
                    ((uint8_t)id[EI_DATA] != (uint8_t)ELFDATA2MSB))) {
            st = km_ksym_fail(err, KM_ERR_UNSUPPORTED, KM_KSYM_R_ELF_CLASS, 0, 0u,
                              (uint64_t)EI_CLASS);
        } else {
            /* identity fine */
        }
    }
    if (st == KM_OK) {
        GElf_Ehdr ehb;
        const GElf_Ehdr *eh = gelf_getehdr(e, &ehb);
        if (eh == NULL) {
            st = km_ksym_elf_error(err, KM_KSYM_R_ELF_CORRUPT, 0u);
        } else if ((eh->e_shoff == 0u) || (eh->e_shentsize != (GElf_Half)sizeof(Elf64_Shdr))) {
            st = km_ksym_fail(err, KM_ERR_BAD_DATA, KM_KSYM_R_NO_SYMTAB, 0, 0u, eh->e_shoff);
        } else if (!km_ksym_extent_ok(eh->e_shoff, (uint64_t)sizeof(Elf64_Shdr), flen)) {
            st = km_ksym_fail(err, KM_ERR_BAD_DATA, KM_KSYM_R_ELF_TRUNCATED, 0, 0u, eh->e_shoff);
        } else {
            uint32_t em = (uint32_t)eh->e_machine;
            uint32_t want = 0u;
            if ((opts != NULL) && opts->check_arch) {
                if (opts->arch == KM_ARCH_AARCH64) {
                    want = KM_KSYM_EM_AARCH64;
                } else {
                    want = KM_KSYM_EM_X86_64;
                }
            }
            if ((want != 0u) && (em != want)) {
                st = km_ksym_fail(err, KM_ERR_MISMATCH, KM_KSYM_R_WRONG_ARCH, 0, 0u, 0u);
                if (err != NULL) {
                    err->machine = em;
                    err->expected_machine = want;
                }
            } else {
                *machine = em;
            }
        }
    }
    return st;
}

typedef struct km_ksym_elf_scan {
    Elf_Scn *symtab;
    Elf_Scn *strtab;
    char *sec_letters;  /* nm letter per section index */
    size_t shnum;
} km_ksym_elf_scan;

/* Find .symtab and its string table; record each section's nm letter. */
static km_status km_ksym_elf_sections(Elf *e, uint64_t flen, km_ksym_elf_scan *sc,
                                      km_ksym_error *err)
{
    km_status st = KM_OK;
    size_t shnum = 0u;
    if (elf_getshdrnum(e, &shnum) != 0) {
        st = km_ksym_elf_error(err, KM_KSYM_R_ELF_CORRUPT, 0u);
    } else if ((shnum == 0u) || (shnum > (size_t)(flen / sizeof(Elf64_Shdr)))) {
        st = km_ksym_fail(err, KM_ERR_BAD_DATA, KM_KSYM_R_ELF_TRUNCATED, 0, 0u, 0u);
    } else {
        sc->sec_letters = calloc(shnum, 1u);
        sc->shnum = shnum;
        if (sc->sec_letters == NULL) {
            st = km_ksym_fail(err, KM_ERR_NO_MEMORY, KM_KSYM_R_NO_MEMORY, 0, 0u, 0u);
        }
    }
    Elf_Scn *scn = NULL;
    while (st == KM_OK) {
        scn = elf_nextscn(e, scn);
        if (scn == NULL) {
            break;
        }
        GElf_Shdr shb;
        const GElf_Shdr *sh = gelf_getshdr(scn, &shb);
        size_t ndx = elf_ndxscn(scn);
        if (sh == NULL) {
            st = km_ksym_elf_error(err, KM_KSYM_R_ELF_CORRUPT, 0u);
        } else if (ndx < shnum) {
            sc->sec_letters[ndx] = km_ksym_section_letter(sh);
            if ((sh->sh_type == (GElf_Word)SHT_SYMTAB) && (sc->symtab == NULL)) {
                sc->symtab = scn;
            }
        } else {
            /* cannot happen: libelf numbers sections below shnum */
        }
    }
    if ((st == KM_OK) && (sc->symtab == NULL)) {
        st = km_ksym_fail(err, KM_ERR_NO_SYMBOL, KM_KSYM_R_NO_SYMTAB, 0, 0u, 0u);
    }
    if (st == KM_OK) {
        GElf_Shdr shb;
        GElf_Shdr strshb;
        const GElf_Shdr *sh = gelf_getshdr(sc->symtab, &shb);
        const GElf_Shdr *strsh = NULL;
        if (sh != NULL) {
            sc->strtab = elf_getscn(e, (size_t)sh->sh_link);
        }
        if (sc->strtab != NULL) {
            strsh = gelf_getshdr(sc->strtab, &strshb);
        }
        if ((sh == NULL) || (strsh == NULL) || (sh->sh_link == 0u) ||
            (strsh->sh_type != (GElf_Word)SHT_STRTAB) ||
            (sh->sh_entsize != (GElf_Xword)sizeof(Elf64_Sym)) ||
            ((sh->sh_size % (GElf_Xword)sizeof(Elf64_Sym)) != 0u)) {
            st = km_ksym_fail(err, KM_ERR_BAD_DATA, KM_KSYM_R_BAD_SYMTAB, 0, 0u,
                              (sh != NULL) ? sh->sh_offset : 0u);
        } else if (!km_ksym_extent_ok(sh->sh_offset, sh->sh_size, flen)) {
            st = km_ksym_fail(err, KM_ERR_BAD_DATA, KM_KSYM_R_ELF_TRUNCATED, 0, 0u, sh->sh_offset);
        } else if (!km_ksym_extent_ok(strsh->sh_offset, strsh->sh_size, flen)) {
            st = km_ksym_fail(err, KM_ERR_BAD_DATA, KM_KSYM_R_ELF_TRUNCATED, 0, 0u,
                              strsh->sh_offset);
        } else {
            /* both tables inside the file */
        }
    }
    return st;
}

/* Collect the defined, named symbols and build the table. */
static km_status km_ksym_elf_symbols(km_ksym *t, const km_ksym_elf_scan *sc, km_ksym_error *err)
{
    km_status st = KM_OK;
    Elf_Data *sd = elf_getdata(sc->symtab, NULL);
    Elf_Data *nd = elf_getdata(sc->strtab, NULL);
    char *names = NULL;
    size_t names_len = 0u;
    size_t nsyms = 0u;
    km_ksym_raw raw = {NULL, 0u, 0u};

    if ((sd == NULL) || (nd == NULL) || (sd->d_buf == NULL) || (nd->d_buf == NULL)) {
        st = km_ksym_elf_error(err, KM_KSYM_R_ELF_CORRUPT, 0u);
    } else if (((sd->d_size % sizeof(Elf64_Sym)) != 0u) || (nd->d_size == 0u)) {
        st = km_ksym_fail(err, KM_ERR_BAD_DATA, KM_KSYM_R_BAD_SYMTAB, 0, 0u, 0u);
    } else {
        nsyms = sd->d_size / sizeof(Elf64_Sym);
        names_len = nd->d_size;
        const char *strs = nd->d_buf;
        if (strs[names_len - 1u] != '\0') {
            st = km_ksym_fail(err, KM_ERR_BAD_DATA, KM_KSYM_R_BAD_SYMTAB, 0, 0u, 0u);
        } else if ((nsyms > (size_t)KM_KSYM_MAX_SYMBOLS) || (names_len > (size_t)UINT32_MAX)) {
            st = km_ksym_fail(err, KM_ERR_CAPACITY, KM_KSYM_R_TOO_BIG, 0, 0u, 0u);
        } else {
            names = malloc(names_len + KM_KSYM_NAME_PAD);
            raw.entries = calloc((nsyms > 0u) ? nsyms : 1u, sizeof(km_ksym_entry));
            if ((names == NULL) || (raw.entries == NULL)) {
                st = km_ksym_fail(err, KM_ERR_NO_MEMORY, KM_KSYM_R_NO_MEMORY, 0, 0u, 0u);
            } else {
                km_ksym_copy(names, strs, names_len);
                km_ksym_zero(&names[names_len], KM_KSYM_NAME_PAD);
                raw.cap = (uint32_t)nsyms;
            }
        }
    }
    if (st == KM_OK) {
        /* libelf hands out the section in place when the host allows
         * unaligned access, so d_buf may be unaligned (a hostile file): then
         * gelf_getsym copies each symbol out; else the array is read directly. */
        const uint8_t *raw_bytes = sd->d_buf;
        const Elf64_Sym *syms = NULL;
        /* cppcheck-suppress misra-c2012-11.4 ; alignment test of libelf's buffer, docs/misra-deviations.md */
        if (((uintptr_t)raw_bytes % 8u) == 0u) { /* Elf64_Sym has 64-bit fields */
            syms = sd->d_buf;
        }
        for (size_t i = 1u; (i < nsyms) && (st == KM_OK); i++) {
            GElf_Sym sym;
            const GElf_Sym *s = (syms != NULL) ? &syms[i] : gelf_getsym(sd, (int)i, &sym);
            if (s == NULL) {
                st = km_ksym_elf_error(err, KM_KSYM_R_ELF_CORRUPT, 0u);
                continue;
            }
            if ((s->st_shndx == (GElf_Section)SHN_UNDEF) || (s->st_name == 0u)) {
                continue;
            }
            if ((size_t)s->st_name >= names_len) {
                st = km_ksym_fail(err, KM_ERR_BAD_DATA, KM_KSYM_R_BAD_SYMTAB, 0, (uint32_t)i,
                                  (uint64_t)s->st_name);
                continue;
            }
            if (names[s->st_name] == '\0') {
                continue;
            }
            uint32_t type = (uint32_t)ELF64_ST_TYPE(s->st_info);
            km_ksym_entry *e = &raw.entries[raw.count];
            e->addr = s->st_value;
            e->size = s->st_size;
            e->name = s->st_name;
            e->order = (uint32_t)i;
            e->type = km_ksym_sym_letter(s, sc->sec_letters, sc->shnum);
            e->rank = km_ksym_rank((uint32_t)ELF64_ST_BIND(s->st_info));
            e->in_addr = ((type == (uint32_t)STT_FILE) || (type == (uint32_t)STT_SECTION)) ? (uint8_t)0u : (uint8_t)1u;
            raw.count++;
        }
    }
    if ((st == KM_OK) && (raw.count == 0u)) {
        st = km_ksym_fail(err, KM_ERR_NO_SYMBOL, KM_KSYM_R_NO_SYMBOLS, 0, 0u, 0u);
    }
    if (st == KM_OK) {
        st = km_ksym_build(t, &raw, names, names_len, err); /* owns raw and names from here */
    } else {
        free(raw.entries);
        free(names);
    }
    return st;
}

static km_status km_ksym_from_elf(km_ksym *t, Elf *e, uint64_t flen, const km_ksym_opts *opts,
                                  km_ksym_error *err)
{
    km_status st;
    uint32_t machine = 0u;
    km_ksym_elf_scan sc = {NULL, NULL, NULL, 0u};
    if (e == NULL) {
        st = km_ksym_elf_error(err, KM_KSYM_R_ELF_CORRUPT, 0u);
    } else {
        st = km_ksym_elf_header(e, flen, opts, &machine, err);
    }
    if (st == KM_OK) {
        st = km_ksym_elf_sections(e, flen, &sc, err);
    }
    if (st == KM_OK) {
        st = km_ksym_elf_symbols(t, &sc, err);
    }
    free(sc.sec_letters);
    if (st == KM_OK) {
        t->source = KM_KSYM_SOURCE_ELF;
        t->elf_machine = machine;
        if (machine == KM_KSYM_EM_X86_64) {
            t->arch_known = true;
            t->arch = KM_ARCH_X86_64;
        } else if (machine == KM_KSYM_EM_AARCH64) {
            t->arch_known = true;
            t->arch = KM_ARCH_AARCH64;
        } else {
            t->arch_known = false;
        }
    }
    return st;
}

km_status km_ksym_load_elf_buffer(km_ksym *t, const uint8_t *buf, size_t len,
                                  const km_ksym_opts *opts, km_ksym_error *err)
{
    km_status st;
    (void)km_ksym_fail(err, KM_OK, KM_KSYM_R_NONE, 0, 0u, 0u);
    if (t == NULL) {
        st = km_ksym_fail(err, KM_ERR_INVALID_ARG, KM_KSYM_R_INVALID_ARG, 0, 0u, 0u);
    } else {
        km_ksym_init(t);
        if ((buf == NULL) || (len == 0u)) {
            st = km_ksym_fail(err, KM_ERR_INVALID_ARG, KM_KSYM_R_INVALID_ARG, 0, 0u, 0u);
        } else if (elf_version(EV_CURRENT) == EV_NONE) {
            st = km_ksym_elf_error(err, KM_KSYM_R_ELF_CORRUPT, 0u);
        } else {
            /* elf_memory takes char * but, opened this way (ELF_C_READ),
             * libelf only reads the image. */
            /* cppcheck-suppress misra-c2012-11.8 ; libelf reads, never writes, an elf_memory image, docs/misra-deviations.md */
            Elf *e = elf_memory((char *)buf, len);
            st = km_ksym_from_elf(t, e, (uint64_t)len, opts, err);
            if (e != NULL) {
                (void)elf_end(e);
            }
        }
    }
    return st;
}

km_status km_ksym_load_elf(km_ksym *t, const char *path, const km_ksym_opts *opts,
                           km_ksym_error *err)
{
    int fd = -1;
    struct stat sb;
    km_status st = km_ksym_open_input(t, path, &fd, &sb, err);
    if (st == KM_OK) {
        if (!S_ISREG(sb.st_mode) || (sb.st_size < (off_t)EI_NIDENT)) {
            st = km_ksym_fail(err, KM_ERR_BAD_DATA, KM_KSYM_R_NOT_ELF, 0, 0u, 0u);
        } else if (elf_version(EV_CURRENT) == EV_NONE) {
            st = km_ksym_elf_error(err, KM_KSYM_R_ELF_CORRUPT, 0u);
        } else {
            Elf *e = elf_begin(fd, ELF_C_READ_MMAP, NULL);
            st = km_ksym_from_elf(t, e, (uint64_t)sb.st_size, opts, err);
            if (e != NULL) {
                (void)elf_end(e);
            }
        }
        (void)close(fd);
    }
    return st;
}
