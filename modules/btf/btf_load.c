/* ktmon: loading BTF (setup time; the only part of modules/btf that
 * allocates or makes system calls).
 *
 * Input: raw BTF (magic 0xEB9F) or an ELF file with a .BTF section, from a
 * path or from memory.  ELF files are opened through libelf with
 * ELF_C_READ_MMAP (a read-only mapping of which only the section headers
 * and .BTF are touched).  The BTF bytes are copied into one owned blob so
 * the km_btf does not depend on the file after the load.  Then:
 *   - btf_parse.c checks the header and walks the type section once,
 *     recording each record's offset (the type index);
 *   - the named types (struct, union, enum, typedef, int, ...) are indexed
 *     by a 32-bit name hash, radix-sorted (hash ascending, then type id), so
 *     a lookup by name is a binary search. */
#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "btf_int.h"

/* Largest BTF blob accepted (the format's offsets are 32-bit). */
#define KM_BTF_MAX_BLOB 0xFFFFFFF0u

void km_btf_init(km_btf *b)
{
    for (uint32_t i = 0u; i < KM_BTF_MAX_LAYERS; i++) {
        km_btf_layer *l = &b->layers[i];
        l->types = NULL;
        l->types_len = 0u;
        l->strs = NULL;
        l->strs_len = 0u;
        l->offs = NULL;
        l->nr_types = 0u;
        l->start_id = 0u;
        l->start_str = 0u;
        l->name_hash = NULL;
        l->name_ids = NULL;
        l->named = 0u;
    }
    b->nlayers = 0u;
    b->ptr_size = 8u;
    b->blob = NULL;
    b->own_offs = NULL;
    b->own_hash = NULL;
    b->own_ids = NULL;
}

static void km_btf_release(km_btf *b)
{
    free(b->blob);
    free(b->own_offs);
    free(b->own_hash);
    free(b->own_ids);
    km_btf_init(b);
}

void km_btf_fini(km_btf *b)
{
    if (b != NULL) {
        km_btf_release(b);
    }
}

/* Stable LSD radix sort of keys[0 .. n-1] by their upper 32 bits. */
static uint64_t *km_btf_radix_hi32(uint64_t *keys, uint64_t *tmp, uint32_t n)
{
    uint32_t count[4][256];
    uint64_t *src = keys;
    uint64_t *dst = tmp;
    for (uint32_t d = 0u; d < 4u; d++) {
        for (uint32_t k = 0u; k < 256u; k++) {
            count[d][k] = 0u;
        }
    }
    for (uint32_t i = 0u; i < n; i++) {
        for (uint32_t d = 0u; d < 4u; d++) {
            uint32_t shift = 32u + (8u * d);
            count[d][(uint32_t)((keys[i] >> shift) & 0xFFu)]++;
        }
    }
    for (uint32_t d = 0u; d < 4u; d++) {
        uint32_t shift = 32u + (8u * d);
        uint32_t sum = 0u;
        bool trivial = false;
        for (uint32_t k = 0u; k < 256u; k++) {
            uint32_t c = count[d][k];
            if (c == n) {
                trivial = true;
            }
            count[d][k] = sum;
            sum += c;
        }
        if (!trivial) {
            for (uint32_t i = 0u; i < n; i++) {
                uint32_t k = (uint32_t)((src[i] >> shift) & 0xFFu);
                dst[count[d][k]] = src[i];
                count[d][k]++;
            }
            uint64_t *t = src;
            src = dst;
            dst = t;
        }
    }
    return src;
}

/* Index the named types of the top layer (b->layers[b->nlayers-1]). */
static km_status km_btf_build_names(km_btf *b, km_btf_error *err)
{
    km_status st = KM_OK;
    km_btf_layer *top = &b->layers[b->nlayers - 1u];
    uint32_t n = top->nr_types;
    uint64_t *keys = calloc((n > 0u) ? (size_t)n : 1u, sizeof(uint64_t));
    uint64_t *tmp = calloc((n > 0u) ? (size_t)n : 1u, sizeof(uint64_t));
    uint32_t named = 0u;
    if ((keys == NULL) || (tmp == NULL)) {
        st = km_btf_fail(err, KM_ERR_NO_MEMORY, KM_BTF_R_NO_MEMORY, 0u, 0u);
    }
    for (uint32_t i = 0u; (st == KM_OK) && (i < n); i++) {
        uint32_t id = top->start_id + i;
        km_btf_tv tv;
        km_btf_reason why = KM_BTF_R_NONE;
        const uint8_t *s = NULL;
        uint32_t room = 0u;
        if (km_btf_type(b, id, &tv, &why) != KM_OK) {
            st = km_btf_fail(err, KM_ERR_BAD_DATA, why, id, (uint64_t)top->offs[i]);
        } else if (km_btf_str(b, tv.name_off, &s, &room) != KM_OK) {
            st = km_btf_fail(err, KM_ERR_BAD_DATA, KM_BTF_R_BAD_NAME, id, (uint64_t)tv.name_off);
        } else if ((tv.name_off != 0u) && (s[0] != 0u) && km_btf_kind_indexed(km_btf_kind_of(tv.info))) {
            uint32_t len = (uint32_t)strnlen((const char *)s, (size_t)room);
            keys[named] = ((uint64_t)km_btf_hash_bytes(s, len) << 32) | (uint64_t)id;
            named++;
        } else {
            /* anonymous, or a kind that is not looked up by name */
        }
    }
    if (st == KM_OK) {
        uint32_t *hashes = calloc((named > 0u) ? (size_t)named : 1u, sizeof(uint32_t));
        uint32_t *ids = calloc((named > 0u) ? (size_t)named : 1u, sizeof(uint32_t));
        if ((hashes == NULL) || (ids == NULL)) {
            free(hashes);
            free(ids);
            st = km_btf_fail(err, KM_ERR_NO_MEMORY, KM_BTF_R_NO_MEMORY, 0u, 0u);
        } else {
            const uint64_t *sorted = km_btf_radix_hi32(keys, tmp, named);
            for (uint32_t i = 0u; i < named; i++) {
                hashes[i] = (uint32_t)(sorted[i] >> 32);
                ids[i] = (uint32_t)(sorted[i] & 0xFFFFFFFFu);
            }
            b->own_hash = hashes;
            b->own_ids = ids;
            top->name_hash = hashes;
            top->name_ids = ids;
            top->named = named;
        }
    }
    free(keys);
    free(tmp);
    return st;
}

/* Pointer size when no ELF header says it: the size of "long". */
static uint32_t km_btf_guess_ptr_size(const km_btf *b)
{
    uint32_t size = 8u;
    uint32_t id = 0u;
    if (km_btf_find_type(b, "long unsigned int", KM_BTF_KIND_INT, &id) == KM_OK) {
        km_btf_tv tv;
        km_btf_reason why = KM_BTF_R_NONE;
        if ((km_btf_type(b, id, &tv, &why) == KM_OK) && ((tv.st == 4u) || (tv.st == 8u))) {
            size = tv.st;
        }
    }
    return size;
}

/* Parse an owned blob into b (takes ownership of blob). ptr_size 0: guess. */
static km_status km_btf_from_blob(km_btf *b, uint8_t *blob, uint32_t len, const km_btf *base,
                                  uint32_t ptr_size, km_btf_error *err)
{
    km_status st;
    km_btf_hdr hdr = {0u, 0u, 0u, 0u, 0u};
    km_btf_reason why = KM_BTF_R_NONE;
    uint64_t where = 0u;
    uint32_t *offs = NULL;
    uint32_t n = 0u;
    uint32_t start_id = 1u;
    uint32_t start_str = 0u;

    b->blob = blob;
    if ((base != NULL) &&
        ((base->nlayers == 0u) || (base->nlayers >= KM_BTF_MAX_LAYERS))) {
        st = km_btf_fail(err, (base->nlayers == 0u) ? KM_ERR_INVALID_ARG : KM_ERR_CAPACITY,
                         (base->nlayers == 0u) ? KM_BTF_R_INVALID_ARG : KM_BTF_R_TOO_MANY, 0u, 0u);
    } else {
        st = km_btf_parse_header(blob, len, base != NULL, &hdr, &why, &where);
        if (st != KM_OK) {
            (void)km_btf_fail(err, st, why, 0u, where);
        }
    }
    if (st == KM_OK) {
        if (base != NULL) {
            const km_btf_layer *bt = &base->layers[base->nlayers - 1u];
            start_id = bt->start_id + bt->nr_types;
            start_str = bt->start_str + bt->strs_len;
        }
        uint32_t cap = hdr.types_len / KM_BTF_TYPE_HDR;
        if (cap > (KM_BTF_MAX_TYPES - start_id)) {
            cap = KM_BTF_MAX_TYPES - start_id;
        }
        offs = calloc((cap > 0u) ? (size_t)cap : 1u, sizeof(uint32_t));
        if (offs == NULL) {
            st = km_btf_fail(err, KM_ERR_NO_MEMORY, KM_BTF_R_NO_MEMORY, 0u, 0u);
        } else {
            b->own_offs = offs;
            st = km_btf_index_types(&blob[hdr.types_off], hdr.types_len, offs, cap, &n, &why, &where);
            if (st != KM_OK) {
                (void)km_btf_fail(err, st, why, start_id + n, (uint64_t)hdr.types_off + where);
                if ((err != NULL) && (why == KM_BTF_R_UNKNOWN_KIND)) {
                    uint32_t info = 0u;
                    (void)km_btf_rd32(&blob[hdr.types_off], hdr.types_len, where + 4u, &info);
                    err->kind = km_btf_kind_of(info);
                }
            }
        }
    }
    if (st == KM_OK) {
        uint32_t top = 0u;
        if (base != NULL) {
            for (uint32_t i = 0u; i < base->nlayers; i++) {
                b->layers[i] = base->layers[i];
            }
            top = base->nlayers;
        }
        km_btf_layer *l = &b->layers[top];
        l->types = &blob[hdr.types_off];
        l->types_len = hdr.types_len;
        l->strs = &blob[hdr.strs_off];
        l->strs_len = hdr.strs_len;
        l->offs = offs;
        l->nr_types = n;
        l->start_id = start_id;
        l->start_str = start_str;
        l->name_hash = NULL;
        l->name_ids = NULL;
        l->named = 0u;
        b->nlayers = top + 1u;
        b->ptr_size = (base != NULL) ? base->ptr_size : 8u;
        st = km_btf_build_names(b, err);
    }
    if (st == KM_OK) {
        if (ptr_size != 0u) {
            b->ptr_size = ptr_size;
        } else if (base == NULL) {
            b->ptr_size = km_btf_guess_ptr_size(b);
        } else {
            /* keep the base's */
        }
    } else {
        km_btf_release(b);
    }
    return st;
}

/* Copy the .BTF section of an open ELF into a new blob. */
static km_status km_btf_elf_section(Elf *e, uint64_t flen, uint8_t **blob, uint32_t *blen,
                                    uint32_t *ptr_size, km_btf_error *err)
{
    km_status st = KM_OK;
    size_t shstrndx = 0u;
    size_t idlen = 0u;
    const char *id = NULL;
    Elf_Scn *found = NULL;
    uint64_t sec_off = 0u;
    uint64_t sec_size = 0u;
    bool nobits = false;

    if ((e == NULL) || (elf_kind(e) != ELF_K_ELF)) {
        st = km_btf_fail(err, KM_ERR_BAD_DATA, KM_BTF_R_ELF, 0u, 0u);
        if (err != NULL) {
            err->lib_msg = elf_errmsg(-1);
        }
    } else {
        id = elf_getident(e, &idlen);
        if ((id == NULL) || (idlen < (size_t)EI_NIDENT) || (elf_getshdrstrndx(e, &shstrndx) != 0)) {
            st = km_btf_fail(err, KM_ERR_BAD_DATA, KM_BTF_R_ELF, 0u, 0u);
            if (err != NULL) {
                err->lib_msg = elf_errmsg(-1);
            }
        } else {
            *ptr_size = 8u;
            if ((uint8_t)id[EI_CLASS] == (uint8_t)ELFCLASS32) {
                *ptr_size = 4u;
            }
        }
    }
    Elf_Scn *scn = NULL;
    bool more = (st == KM_OK);
    while (more) {
        GElf_Shdr sh;
        scn = elf_nextscn(e, scn);
        if (scn == NULL) {
            more = false;
        } else if (gelf_getshdr(scn, &sh) == NULL) {
            st = km_btf_fail(err, KM_ERR_BAD_DATA, KM_BTF_R_ELF, 0u, 0u);
            if (err != NULL) {
                err->lib_msg = elf_errmsg(-1);
            }
            more = false;
        } else {
            const char *name = elf_strptr(e, shstrndx, (size_t)sh.sh_name);
            if ((name != NULL) && (strcmp(name, ".BTF") == 0)) {
                found = scn;
                sec_off = sh.sh_offset;
                sec_size = sh.sh_size;
                nobits = (sh.sh_type == (GElf_Word)SHT_NOBITS);
                more = false;
            }
        }
    }
    if ((st == KM_OK) && (found == NULL)) {
        st = km_btf_fail(err, KM_ERR_NO_TYPE, KM_BTF_R_NO_BTF_SECTION, 0u, 0u);
    }
    if (st == KM_OK) {
        if (nobits || (sec_off > flen) || (sec_size > (flen - sec_off))) {
            st = km_btf_fail(err, KM_ERR_BAD_DATA, KM_BTF_R_ELF, 0u, sec_off);
        } else if ((sec_size == 0u) || (sec_size > KM_BTF_MAX_BLOB)) {
            st = km_btf_fail(err, KM_ERR_BAD_DATA, KM_BTF_R_SECTIONS, 0u, sec_off);
        } else {
            Elf_Data *d = elf_rawdata(found, NULL);
            if ((d == NULL) || (d->d_buf == NULL) || (d->d_size != (size_t)sec_size)) {
                st = km_btf_fail(err, KM_ERR_BAD_DATA, KM_BTF_R_ELF, 0u, sec_off);
                if (err != NULL) {
                    err->lib_msg = elf_errmsg(-1);
                }
            } else {
                uint8_t *p = malloc(d->d_size);
                if (p == NULL) {
                    st = km_btf_fail(err, KM_ERR_NO_MEMORY, KM_BTF_R_NO_MEMORY, 0u, 0u);
                } else {
                    km_btf_copy(p, d->d_buf, d->d_size);
                    *blob = p;
                    *blen = (uint32_t)d->d_size;
                }
            }
        }
    }
    return st;
}

/*@ assigns \nothing; */
static bool km_btf_is_elf(const uint8_t *p, size_t len)
{
    return (len >= 4u) && (p[0] == 0x7Fu) && (p[1] == (uint8_t)'E') && (p[2] == (uint8_t)'L') &&
           (p[3] == (uint8_t)'F');
}

static km_status km_btf_start(km_btf *b, const km_btf *base, km_btf_error *err)
{
    km_status st = KM_OK;
    (void)km_btf_fail(err, KM_OK, KM_BTF_R_NONE, 0u, 0u);
    if (b == NULL) {
        st = km_btf_fail(err, KM_ERR_INVALID_ARG, KM_BTF_R_INVALID_ARG, 0u, 0u);
    } else {
        km_btf_init(b);
        if ((base != NULL) && ((base == b) || (base->nlayers == 0u))) {
            st = km_btf_fail(err, KM_ERR_INVALID_ARG, KM_BTF_R_INVALID_ARG, 0u, 0u);
        }
    }
    return st;
}

km_status km_btf_load_buffer(km_btf *b, const uint8_t *buf, size_t len, const km_btf *base,
                             km_btf_error *err)
{
    km_status st = km_btf_start(b, base, err);
    uint8_t *blob = NULL;
    uint32_t blen = 0u;
    uint32_t ptr_size = 0u;
    if ((st == KM_OK) && (buf == NULL)) {
        st = km_btf_fail(err, KM_ERR_INVALID_ARG, KM_BTF_R_INVALID_ARG, 0u, 0u);
    }
    if (st == KM_OK) {
        if (km_btf_is_elf(buf, len)) {
            if (elf_version(EV_CURRENT) == EV_NONE) {
                st = km_btf_fail(err, KM_ERR_BAD_DATA, KM_BTF_R_ELF, 0u, 0u);
            } else {
                /* elf_memory takes char * but, opened this way (ELF_C_READ),
                 * libelf only reads the image. */
                /* cppcheck-suppress misra-c2012-11.8 ; libelf reads, never writes, an elf_memory image, docs/misra-deviations.md */
                Elf *e = elf_memory((char *)buf, len);
                st = km_btf_elf_section(e, (uint64_t)len, &blob, &blen, &ptr_size, err);
                if (e != NULL) {
                    (void)elf_end(e);
                }
            }
        } else if ((len == 0u) || ((uint64_t)len > KM_BTF_MAX_BLOB)) {
            st = km_btf_fail(err, KM_ERR_BAD_DATA, (len == 0u) ? KM_BTF_R_NOT_BTF : KM_BTF_R_SECTIONS,
                             0u, (uint64_t)len);
        } else {
            blob = malloc(len);
            if (blob == NULL) {
                st = km_btf_fail(err, KM_ERR_NO_MEMORY, KM_BTF_R_NO_MEMORY, 0u, 0u);
            } else {
                km_btf_copy(blob, buf, len);
                blen = (uint32_t)len;
            }
        }
    }
    if (st == KM_OK) {
        st = km_btf_from_blob(b, blob, blen, base, ptr_size, err); /* owns blob */
    }
    return st;
}

/* Read a whole raw BTF file (fd at offset 0) into a new blob. */
static km_status km_btf_read_raw(int fd, uint64_t size, uint8_t **blob, uint32_t *blen,
                                 km_btf_error *err)
{
    km_status st = KM_OK;
    size_t want = (size_t)size;
    size_t got = 0u;
    uint8_t *p = NULL;
    if ((size == 0u) || (size > KM_BTF_MAX_BLOB)) {
        st = km_btf_fail(err, KM_ERR_BAD_DATA, (size == 0u) ? KM_BTF_R_NOT_BTF : KM_BTF_R_SECTIONS,
                         0u, size);
    } else {
        p = malloc(want);
        if (p == NULL) {
            st = km_btf_fail(err, KM_ERR_NO_MEMORY, KM_BTF_R_NO_MEMORY, 0u, 0u);
        }
    }
    while ((st == KM_OK) && (got < want)) {
        ssize_t r = read(fd, &p[got], want - got);
        int read_errno = errno;
        if (r < 0) {
            if (read_errno != EINTR) {
                st = km_btf_fail(err, KM_ERR_IO, KM_BTF_R_OPEN, 0u, (uint64_t)got);
                if (err != NULL) {
                    err->sys_errno = (int32_t)read_errno;
                }
            }
        } else if (r == 0) {
            want = got; /* shrank while being read */
        } else {
            got += (size_t)r;
        }
    }
    if ((st == KM_OK) && (got == 0u)) {
        st = km_btf_fail(err, KM_ERR_BAD_DATA, KM_BTF_R_NOT_BTF, 0u, 0u);
    }
    if (st == KM_OK) {
        *blob = p;
        *blen = (uint32_t)got;
    } else {
        free(p);
    }
    return st;
}

km_status km_btf_load_file(km_btf *b, const char *path, const km_btf *base, km_btf_error *err)
{
    km_status st = km_btf_start(b, base, err);
    uint8_t *blob = NULL;
    uint32_t blen = 0u;
    uint32_t ptr_size = 0u;
    int fd = -1;
    struct stat sb;
    uint8_t magic[4] = {0u, 0u, 0u, 0u};

    if ((st == KM_OK) && (path == NULL)) {
        st = km_btf_fail(err, KM_ERR_INVALID_ARG, KM_BTF_R_INVALID_ARG, 0u, 0u);
    }
    if (st == KM_OK) {
        bool io_ok = false;
        fd = open(path, O_RDONLY | O_CLOEXEC);
        int sys_errno = errno;
        if (fd >= 0) {
            int rc = fstat(fd, &sb);
            sys_errno = errno;
            if ((rc == 0) && (!S_ISREG(sb.st_mode) || (sb.st_size < 0))) {
                sys_errno = EINVAL;
            } else if (rc == 0) {
                ssize_t r = pread(fd, magic, sizeof(magic), 0);
                sys_errno = errno;
                io_ok = (r >= 0);
            } else {
                /* fstat failed: sys_errno says why */
            }
        }
        if (!io_ok) {
            st = km_btf_fail(err, KM_ERR_IO, KM_BTF_R_OPEN, 0u, 0u);
            if (err != NULL) {
                err->sys_errno = (int32_t)((sys_errno != 0) ? sys_errno : EIO);
            }
        }
    }
    if (st == KM_OK) {
        if (km_btf_is_elf(magic, sizeof(magic))) {
            if (elf_version(EV_CURRENT) == EV_NONE) {
                st = km_btf_fail(err, KM_ERR_BAD_DATA, KM_BTF_R_ELF, 0u, 0u);
            } else {
                Elf *e = elf_begin(fd, ELF_C_READ_MMAP, NULL);
                st = km_btf_elf_section(e, (uint64_t)sb.st_size, &blob, &blen, &ptr_size, err);
                if (e != NULL) {
                    (void)elf_end(e);
                }
            }
        } else {
            st = km_btf_read_raw(fd, (uint64_t)sb.st_size, &blob, &blen, err);
        }
    }
    if (fd >= 0) {
        (void)close(fd);
    }
    if (st == KM_OK) {
        st = km_btf_from_blob(b, blob, blen, base, ptr_size, err); /* owns blob */
    }
    return st;
}

uint32_t km_btf_type_count(const km_btf *b)
{
    uint32_t n = 0u;
    if ((b != NULL) && (b->nlayers > 0u) && (b->nlayers <= KM_BTF_MAX_LAYERS)) {
        n = km_btf_total(b);
    }
    return n;
}
