/* ktmon: the layout of a file backend (private to modules/mem).
 *
 * Both file backends reduce their input to a list of segments, each "guest
 * physical [gpa, gpa+size) is at byte `off` of the file", and then register
 * one region per segment.  Working that list out is the part that reads
 * untrusted bytes (an ELF core's headers) or caller input (a RAM file's
 * layout), so it lives here, apart from the system calls of mem_file.c, and
 * WP proves it (verify/wp/mem_layout.wp): every byte read is inside the file, every
 * segment it returns lies inside the file and below KM_MEM_GPA_LIMIT, and
 * the segments of a core are in ascending, disjoint GPA order. */
#ifndef KTMON_MEM_LAYOUT_H
#define KTMON_MEM_LAYOUT_H

#include <stdbool.h>
#include <stdint.h>

#include "ktmon/mem.h"
#include "ktmon/status.h"

typedef struct km_mem_seg {
    uint64_t gpa;   /* first guest physical address */
    uint64_t off;   /* file offset of gpa */
    uint64_t size;  /* bytes, > 0 */
} km_mem_seg;

/*@ predicate km_seg_ok(km_mem_seg s, integer flen) =
        0 < s.size <= KM_MEM_MAX_SIZE && s.off <= flen && s.size <= flen - s.off &&
        s.gpa <= KM_MEM_GPA_LIMIT - s.size;

    predicate km_segs_ok(km_mem_seg *segs, integer n, integer flen) =
        \forall integer k; 0 <= k < n ==> km_seg_ok(segs[k], flen);

    predicate km_segs_ascending(km_mem_seg *segs, integer n) =
        \forall integer k; 0 <= k < n - 1 ==> segs[k].gpa + segs[k].size <= segs[k + 1].gpa;
*/

/* The segments of an ELF64 little-endian core (QEMU dump-guest-memory, kdump
 * vmcore): each PT_LOAD with p_filesz > 0 at its p_paddr, neighbours that are
 * contiguous in both GPA and file merged, sorted by GPA, and a segment wholly
 * inside the one before dropped (kdump repeats the kernel image).  Refused:
 * a file shorter than its headers or longer than KM_MEM_MAX_SIZE, a bad
 * magic, type or header size, a segment outside the file or ending beyond
 * KM_MEM_GPA_LIMIT, a partial overlap, no segment at all (KM_ERR_BAD_DATA);
 * ELFCLASS32 or big-endian (KM_ERR_UNSUPPORTED); more than
 * KM_MEM_MAX_REGIONS segments (KM_ERR_CAPACITY).  err names the file offset
 * or GPA and the program header. */
/*@ requires \valid_read(f + (0 .. flen - 1));
    requires \valid(segs + (0 .. KM_MEM_MAX_REGIONS - 1)) && \valid(nseg);
    requires err == \null || \valid(err);
    requires \separated(segs + (0 .. KM_MEM_MAX_REGIONS - 1), nseg, f + (0 .. flen - 1));
    requires err != \null ==> \separated(err, segs + (0 .. KM_MEM_MAX_REGIONS - 1), nseg,
                                         f + (0 .. flen - 1));
    assigns segs[0 .. KM_MEM_MAX_REGIONS - 1], *nseg, *err;
    ensures \result == KM_OK || \result == KM_ERR_BAD_DATA || \result == KM_ERR_UNSUPPORTED ||
            \result == KM_ERR_CAPACITY;
    ensures \result == KM_OK ==> 1 <= *nseg <= KM_MEM_MAX_REGIONS &&
        km_segs_ok(segs, *nseg, flen) && km_segs_ascending(segs, *nseg);
    ensures \result != KM_OK ==> *nseg == \old(*nseg);
    ensures \result != KM_OK && err != \null ==> err->status == \result; */
km_status km_mem_core_layout(const uint8_t *f, uint64_t flen, km_mem_seg *segs, uint32_t *nseg,
                             km_error *err);

/* The segments of a RAM file of flen bytes: with no ranges, all of it at
 * ram_base; otherwise the ranges, each checked against the file (size 0 or
 * past the end: KM_ERR_RANGE, err index = the range) and against
 * KM_MEM_GPA_LIMIT (KM_ERR_OVERFLOW), then sorted by GPA.  Overlaps are
 * left to km_mem_add_region, which refuses them. */
/*@ requires nranges <= KM_MEM_MAX_REGIONS;
    requires nranges > 0 ==> \valid_read(ranges + (0 .. nranges - 1));
    requires \valid(segs + (0 .. KM_MEM_MAX_REGIONS - 1)) && \valid(nseg);
    requires err == \null || \valid(err);
    requires \separated(segs + (0 .. KM_MEM_MAX_REGIONS - 1), nseg);
    requires nranges > 0 ==> \separated(ranges + (0 .. nranges - 1),
                                        segs + (0 .. KM_MEM_MAX_REGIONS - 1), nseg);
    requires err != \null ==> \separated(err, segs + (0 .. KM_MEM_MAX_REGIONS - 1), nseg);
    requires err != \null && nranges > 0 ==> \separated(err, ranges + (0 .. nranges - 1));
    assigns segs[0 .. KM_MEM_MAX_REGIONS - 1], *nseg, *err;
    ensures \result == KM_OK || \result == KM_ERR_RANGE || \result == KM_ERR_OVERFLOW;
    ensures \result == KM_OK ==> 1 <= *nseg <= KM_MEM_MAX_REGIONS && km_segs_ok(segs, *nseg, flen);
    ensures \result != KM_OK ==> *nseg == \old(*nseg);
    ensures \result != KM_OK && err != \null ==> err->status == \result; */
km_status km_mem_ram_layout(const km_mem_file_range *ranges, uint32_t nranges, uint64_t flen,
                            uint64_t ram_base, km_mem_seg *segs, uint32_t *nseg, km_error *err);

/* Register one region per segment, the host address of a segment being
 * base + off.  On failure err names the segment's GPA and index; the
 * caller empties the table. */
/*@ requires km_mem_ok(m) && \valid(m);
    requires n <= KM_MEM_MAX_REGIONS && \valid_read(segs + (0 .. n - 1));
    requires \valid(base + (0 .. blen - 1)) && \separated(m, base + (0 .. blen - 1));
    requires km_segs_ok(segs, n, blen);
    requires \separated(m, segs + (0 .. n - 1));
    requires err == \null || \valid(err);
    requires err != \null ==> \separated(err, m, segs + (0 .. n - 1), base + (0 .. blen - 1));
    assigns m->regions[0 .. KM_MEM_MAX_REGIONS - 1], m->count, *err;
    ensures km_mem_ok(m);
    ensures \result == KM_OK ==> m->count == \old(m->count) + n;
    ensures \result == KM_OK || \result == KM_ERR_INVALID_ARG || \result == KM_ERR_OVERFLOW ||
            \result == KM_ERR_CAPACITY; */
km_status km_mem_add_segs(km_mem *m, volatile uint8_t *base, uint64_t blen, const km_mem_seg *segs,
                          uint32_t n, bool writable, km_error *err);

#endif /* KTMON_MEM_LAYOUT_H */
