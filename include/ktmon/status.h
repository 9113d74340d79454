/* ktmon: the error model shared by every module.
 *
 * Every fallible function returns a km_status (KM_OK == 0) and writes its
 * outputs only when it returns KM_OK.  Where a caller needs more than the
 * status (which address faulted, which errno, which entry of a batch), the
 * function fills a km_error: a small fixed-size record, never a heap string. */
#ifndef KTMON_STATUS_H
#define KTMON_STATUS_H

#include <stdint.h>
#include "ktmon/api.h"

typedef enum km_status {
    KM_OK = 0,
    KM_ERR_RANGE,             /* address or index outside every known range */
    KM_ERR_UNMAPPED,          /* virtual address has no translation */
    KM_ERR_MISALIGNED,        /* access needs an alignment the address lacks */
    KM_ERR_BAD_DATA,          /* input (guest memory, file, frame) is malformed */
    KM_ERR_NO_SYMBOL,         /* symbol not in the symbol table */
    KM_ERR_NO_TYPE,           /* type or member not in BTF */
    KM_ERR_IO,                /* system call failed; km_error.sys_errno says why */
    KM_ERR_PROTOCOL,          /* peer (QMP, gdbstub, wire) broke the protocol */
    KM_ERR_TIMEOUT,           /* deadline passed */
    KM_ERR_BUSY,              /* resource in use; retry later */
    KM_ERR_UNSUPPORTED,       /* valid request this build cannot serve */
    KM_ERR_INVALID_ARG,       /* caller passed an invalid argument */
    KM_ERR_OVERFLOW,          /* address + length wraps around */
    KM_ERR_CROSSES_REGION,    /* access starts in a region but runs past its end */
    KM_ERR_NOT_PRESENT,       /* page-table entry not present */
    KM_ERR_BAD_DESCRIPTOR,    /* page-table entry invalid for its level */
    KM_ERR_TABLE_OUTSIDE_RAM, /* page-table entry points outside guest RAM */
    KM_ERR_BAD_REGISTERS,     /* CR3/CR4/TTBR/TCR values that cannot be walked */
    KM_ERR_NO_MEMORY,         /* setup-time allocation failed */
    KM_ERR_CAPACITY,          /* fixed-size table is full */
    KM_ERR_STATE,             /* operation not allowed in the current state */
    KM_ERR_NOT_READY,         /* guest not booted far enough yet; retry */
    KM_ERR_MISMATCH           /* inputs disagree (e.g. vmlinux vs running guest) */
} km_status;

/* Number of km_status values (one past the last). */
#define KM_STATUS_COUNT 24

/* km_error.index when no entry index applies. */
#define KM_NO_INDEX UINT32_MAX

/* Context for an error, small enough to return by value and never allocated. */
typedef struct km_error {
    km_status status;
    int32_t sys_errno;   /* errno of the failing system call, or 0 */
    uint32_t index;      /* failing entry, level or CPU; KM_NO_INDEX if none */
    uint64_t addr;       /* faulting address (PA, KVA or file offset), or 0 */
} km_error;

/*@ ensures \valid_read(\result);
    assigns \nothing; */
KM_API const char *km_status_name(km_status s);

/* Fill *err (if non-NULL) with the given context; returns s so that callers
 * can write `return km_error_set(err, KM_ERR_RANGE, pa, KM_NO_INDEX, 0);`. */
/*@ requires err == \null || \valid(err);
    assigns *err;
    ensures \result == s;
    ensures err != \null ==> err->status == s && err->addr == addr
                          && err->index == index && err->sys_errno == sys_errno; */
KM_API km_status km_error_set(km_error *err, km_status s, uint64_t addr,
                              uint32_t index, int32_t sys_errno);

#endif /* KTMON_STATUS_H */
