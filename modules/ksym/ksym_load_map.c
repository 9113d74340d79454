/* ktmon: the System.map loader.
 *
 * The text is read into one owned buffer (a 7.3 System.map is 10 MB) and
 * parsed in place: each name is NUL-terminated where its line's separator
 * was, so the names need no further copy.  Lines are parsed by
 * km_ksym_parse_map_line (ksym_core.c, proved by WP). */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ksym_int.h"

/*@ assigns \nothing; */
static uint8_t km_ksym_map_rank(char type)
{
    uint8_t r = 0u;
    if ((type == 'W') || (type == 'V')) {
        r = 1u;
    } else if (((type >= 'A') && (type <= 'Z')) || (type == 'u')) {
        r = 2u;
    } else {
        /* lower case: local */
    }
    return r;
}

/* Parse buf[0 .. len-1] (followed by 1 + KM_KSYM_NAME_PAD zero bytes);
 * takes ownership of buf. */
static km_status km_ksym_parse_map(km_ksym *t, char *buf, size_t len, km_ksym_error *err)
{
    km_status st = KM_OK;
    km_ksym_raw raw = {NULL, 0u, 0u};
    size_t lines = 1u;
    for (size_t i = 0u; i < len; i++) {
        if (buf[i] == '\n') {
            lines++;
        }
    }
    if (lines > (size_t)KM_KSYM_MAX_SYMBOLS) {
        st = km_ksym_fail(err, KM_ERR_CAPACITY, KM_KSYM_R_TOO_BIG, 0, 0u, 0u);
    } else {
        raw.entries = calloc(lines, sizeof(km_ksym_entry));
        raw.cap = (uint32_t)lines;
        if (raw.entries == NULL) {
            st = km_ksym_fail(err, KM_ERR_NO_MEMORY, KM_KSYM_R_NO_MEMORY, 0, 0u, 0u);
        }
    }
    size_t pos = 0u;
    uint32_t line = 1u;
    while ((st == KM_OK) && (pos < len)) {
        km_ksym_map_line ml;
        if (km_ksym_parse_map_line(buf, len, pos, &ml) != KM_OK) {
            st = km_ksym_fail(err, KM_ERR_BAD_DATA, KM_KSYM_R_MAP_LINE, 0, line, (uint64_t)pos);
        } else {
            if (!ml.skip && (raw.count < raw.cap)) {
                km_ksym_entry *e = &raw.entries[raw.count];
                buf[ml.name_start + ml.name_len] = '\0';
                e->addr = ml.addr;
                e->size = 0u;
                e->name = (uint32_t)ml.name_start;
                e->order = line;
                e->type = ml.type;
                e->rank = km_ksym_map_rank(ml.type);
                e->in_addr = 1u;
                raw.count++;
            }
            pos = ml.next;
            line++;
        }
    }
    if ((st == KM_OK) && (raw.count == 0u)) {
        st = km_ksym_fail(err, KM_ERR_BAD_DATA, KM_KSYM_R_EMPTY_MAP, 0, 0u, 0u);
    }
    if (st == KM_OK) {
        st = km_ksym_build(t, &raw, buf, len + 1u, err); /* owns raw and buf from here */
        if (st == KM_OK) {
            t->source = KM_KSYM_SOURCE_SYSTEM_MAP;
        }
    } else {
        free(raw.entries);
        free(buf);
    }
    return st;
}

km_status km_ksym_load_system_map_buffer(km_ksym *t, const char *text, size_t len,
                                         km_ksym_error *err)
{
    km_status st = KM_OK;
    (void)km_ksym_fail(err, KM_OK, KM_KSYM_R_NONE, 0, 0u, 0u);
    if (t == NULL) {
        st = km_ksym_fail(err, KM_ERR_INVALID_ARG, KM_KSYM_R_INVALID_ARG, 0, 0u, 0u);
    } else {
        km_ksym_init(t);
        if ((text == NULL) && (len > 0u)) {
            st = km_ksym_fail(err, KM_ERR_INVALID_ARG, KM_KSYM_R_INVALID_ARG, 0, 0u, 0u);
        } else if ((uint64_t)len > KM_KSYM_MAX_MAP_BYTES) {
            st = km_ksym_fail(err, KM_ERR_CAPACITY, KM_KSYM_R_TOO_BIG, 0, 0u, 0u);
        } else {
            char *buf = malloc(len + 1u + KM_KSYM_NAME_PAD);
            if (buf == NULL) {
                st = km_ksym_fail(err, KM_ERR_NO_MEMORY, KM_KSYM_R_NO_MEMORY, 0, 0u, 0u);
            } else {
                km_ksym_copy(buf, text, len);
                km_ksym_zero(&buf[len], 1u + KM_KSYM_NAME_PAD);
                st = km_ksym_parse_map(t, buf, len, err);
            }
        }
    }
    return st;
}

km_status km_ksym_load_system_map(km_ksym *t, const char *path, km_ksym_error *err)
{
    char *buf = NULL;
    size_t len = 0u;
    int fd = -1;
    struct stat sb;
    km_status st = km_ksym_open_input(t, path, &fd, &sb, err);
    if (st == KM_OK) {
        if (!S_ISREG(sb.st_mode) || (sb.st_size < 0)) {
            st = km_ksym_fail(err, KM_ERR_IO, KM_KSYM_R_OPEN, (int32_t)EINVAL, 0u, 0u);
        } else if ((uint64_t)sb.st_size > KM_KSYM_MAX_MAP_BYTES) {
            st = km_ksym_fail(err, KM_ERR_CAPACITY, KM_KSYM_R_TOO_BIG, 0, 0u, 0u);
        } else {
            size_t want = (size_t)sb.st_size;
            buf = malloc(want + 1u + KM_KSYM_NAME_PAD);
            if (buf == NULL) {
                st = km_ksym_fail(err, KM_ERR_NO_MEMORY, KM_KSYM_R_NO_MEMORY, 0, 0u, 0u);
            }
            /* The file may shrink while it is read: stop at end of file. */
            while ((st == KM_OK) && (len < want)) {
                ssize_t n = read(fd, &buf[len], want - len);
                int read_errno = errno;
                if (n < 0) {
                    if (read_errno != EINTR) {
                        st = km_ksym_fail(err, KM_ERR_IO, KM_KSYM_R_OPEN, (int32_t)read_errno, 0u,
                                          (uint64_t)len);
                    }
                } else if (n == 0) {
                    want = len;
                } else {
                    len += (size_t)n;
                }
            }
        }
        (void)close(fd);
    }
    if (st == KM_OK) {
        km_ksym_zero(&buf[len], 1u + KM_KSYM_NAME_PAD);
        st = km_ksym_parse_map(t, buf, len, err); /* owns buf */
    } else {
        free(buf);
    }
    return st;
}
