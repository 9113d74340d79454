/* ktmon kop_dispatch: resolving targets to addresses.
 *
 * SYMBOL and PERCPU: vmlinux symbol (KASLR applied; per-CPU offset of the
 * CPU), then the BTF member path inside the symbol's struct, then the extra
 * offset.  DIRECT: the direct-map bound (kop_check.c).  KVA: kernel half, the
 * walk happens at access time, page by page.  PA: as given.  TASK: the task
 * list from init_task (threads through signal->thread_head), at most
 * KM_KOP_TASK_WALK_MAX steps, with the reference's identity and safety checks.
 *
 * Kernel-version facts (Linux 7.3, unchanged in layout-relevant ways since
 * 5.14): task_struct.__state (TASK_DEAD = 0x80), exit_state, on_rq (u8 in 7.3,
 * int before: read with its BTF size), sched_class, scx.dsq (sched_ext,
 * 6.12+), tasks, pid, start_time, start_boottime, signal, thread_node;
 * signal_struct.thread_head (6.6+). */
#include <string.h>

#include "kop_int.h"
#include "kop_msg.h"

/* include/linux/sched.h (7.3): TASK_DEAD. */
#define KM_KOP_TASK_DEAD 0x80u

/* Struct type of well-known kernel variables whose names differ from their types. */
static const char *km_kop_known_struct(const char *sym)
{
    static const char *const map[][2] = {
        {"init_task", "task_struct"},
        {"runqueues", "rq"},
        {"kstat", "kernel_stat"},
        {"tick_cpu_sched", "tick_sched"},
        {"init_mm", "mm_struct"},
        {"kernel_cpustat", "kernel_cpustat"},
        {"init_signals", "signal_struct"},
        {"init_uts_ns", "uts_namespace"},
        {"init_nsproxy", "nsproxy"},
        {"init_cred", "cred"},
    };
    const char *t = NULL;
    for (size_t i = 0u; (t == NULL) && (i < (sizeof(map) / sizeof(map[0]))); i++) {
        if (strcmp(map[i][0], sym) == 0) {
            t = map[i][1];
        }
    }
    return t;
}

void km_kop_ctx_init(km_kop_ctx *c, const km_mem *mem, km_guest_kernel *gk, const km_ksym *ks,
                     const km_btf *btf)
{
    (void)memset(c, 0, sizeof(*c));
    c->mem = mem;
    c->gk = gk;
    c->ks = ks;
    c->btf = btf;
    c->cas_max_tries = KM_KOP_CAS_MAX_TRIES;
    c->task_tried = false;
    c->task_status = KM_ERR_NOT_READY;
}

/* Is a name/type/field string set? */
static bool km_kop_given(const char *s)
{
    return s[0] != '\0';
}

static km_status km_kop_need_gk(const km_kop_ctx *c, km_kop_msg *why)
{
    km_status st = KM_OK;
    if ((c->gk == NULL) || !c->gk->ready) {
        st = KM_ERR_NOT_READY;
        km_kop_msg_put(why, "the guest kernel is not known (no vmlinux handshake): only pa: targets work");
    }
    return st;
}

static km_status km_kop_need_btf(const km_kop_ctx *c, km_kop_msg *why)
{
    km_status st = KM_OK;
    if (c->btf == NULL) {
        st = KM_ERR_NO_TYPE;
        km_kop_msg_put(why, "member paths and task targets need the vmlinux BTF");
    }
    return st;
}

/* BTF member "TYPE.PATH" (path without a leading dot). */
static km_status km_kop_member(const km_kop_ctx *c, const char *type, const char *path,
                               km_btf_member_info *mi, km_kop_msg *why)
{
    char full[KM_KOP_NAME_MAX + KM_KOP_FIELD_MAX + 3u];
    km_btf_error be;
    km_status st = km_kop_need_btf(c, why);
    size_t tl = strlen(type);
    size_t pl = strlen(path);
    if ((st == KM_OK) && ((tl > KM_KOP_NAME_MAX) || (pl > KM_KOP_FIELD_MAX))) {
        st = KM_ERR_INVALID_ARG;
        km_kop_msg_put(why, "type or member path too long");
    }
    if (st == KM_OK) {
        (void)memcpy(full, type, tl);
        full[tl] = '.';
        (void)memcpy(&full[tl + 1u], path, pl);
        full[tl + 1u + pl] = '\0';
        (void)memset(&be, 0, sizeof(be));
        st = km_btf_member(c->btf, full, mi, &be);
        if (st != KM_OK) {
            char msg[KM_KOP_REASON_MAX];
            km_kop_msg_put(why, "member ");
            km_kop_msg_put_quoted(why, full);
            km_kop_msg_put(why, ": ");
            km_kop_msg_put(why, km_btf_strerror(&be, msg, sizeof(msg)));
        }
    }
    return st;
}

/* The struct behind a SYMBOL/PERCPU target: given, a well-known variable,
 * or a struct with the symbol's own name. */
static km_status km_kop_symbol_type(const km_kop_ctx *c, const km_kop_target *t, const char **type,
                                    km_kop_msg *why)
{
    km_status st = km_kop_need_btf(c, why);
    const char *ty = NULL;
    if (st == KM_OK) {
        uint32_t id = 0u;
        if (km_kop_given(t->type)) {
            ty = t->type;
        } else {
            ty = km_kop_known_struct(t->name);
            if ((ty == NULL) && (km_btf_find_type(c->btf, t->name, KM_BTF_KIND_STRUCT, &id) == KM_OK)) {
                ty = t->name;
            }
        }
        if (ty == NULL) {
            st = KM_ERR_NO_TYPE;
            km_kop_msg_put(why, "the struct type of ");
            km_kop_msg_put_quoted(why, t->name);
            km_kop_msg_put(why, " is unknown: give its type (--struct NAME)");
        } else {
            *type = ty;
        }
    }
    return st;
}

/* The symbol's runtime address and size. */
static km_status km_kop_symbol(const km_kop_ctx *c, const char *name, uint64_t *link, uint64_t *size,
                               km_kop_msg *why)
{
    km_status st = KM_OK;
    km_ksym_sym s;
    if (c->ks == NULL) {
        st = KM_ERR_NO_SYMBOL;
        km_kop_msg_put(why, "symbol targets need the vmlinux symbols");
    } else if (name[0] == '\0') {
        st = KM_ERR_INVALID_ARG;
        km_kop_msg_put(why, "empty symbol name");
    } else {
        st = km_ksym_lookup(c->ks, name, &s);
        if (st != KM_OK) {
            km_kop_msg_put(why, "no symbol ");
            km_kop_msg_put_quoted(why, name);
            km_kop_msg_put(why, " in the vmlinux");
        } else {
            *link = s.addr;
            *size = s.size_known ? s.size : 0u;
        }
    }
    return st;
}

/* Read an unsigned integer of 1, 2, 4 or 8 bytes at a kernel VA. */
static km_status km_kop_read_uint(km_guest_kernel *gk, uint64_t kva, uint32_t size, uint64_t *out)
{
    km_status st = KM_ERR_INVALID_ARG;
    if (size == 8u) {
        st = km_gk_read_u64(gk, kva, out);
    } else if (size == 4u) {
        uint32_t v = 0u;
        st = km_gk_read_u32(gk, kva, &v);
        if (st == KM_OK) {
            *out = v;
        }
    } else if ((size == 1u) || (size == 2u)) {
        uint8_t b[2] = {0u, 0u};
        st = km_gk_read_bytes(gk, kva, b, size);
        if (st == KM_OK) {
            *out = (uint64_t)b[0] + ((size == 2u) ? ((uint64_t)b[1] * 256u) : 0u);
        }
    } else {
        st = KM_ERR_INVALID_ARG;
    }
    return st;
}

/* task_struct / signal_struct offsets, from BTF once. */
static km_status km_kop_task_offsets(km_kop_ctx *c, km_kop_msg *why)
{
    if (!c->task_tried) {
        km_kop_task_offs *o = &c->task;
        struct {
            const char *type;
            const char *path;
            uint32_t *off;
            uint32_t *size;
        } f[] = {
            {"task_struct", "tasks", &o->tasks, NULL},
            {"task_struct", "pid", &o->pid, NULL},
            {"task_struct", "signal", &o->signal, NULL},
            {"task_struct", "thread_node", &o->thread_node, NULL},
            {"task_struct", "start_time", &o->start_time, NULL},
            {"task_struct", "start_boottime", &o->start_boottime, NULL},
            {"task_struct", "exit_state", &o->exit_state, &o->exit_state_size},
            {"task_struct", "__state", &o->state, &o->state_size},
            {"task_struct", "on_rq", &o->on_rq, &o->on_rq_size},
            {"task_struct", "sched_class", &o->sched_class, NULL},
            {"signal_struct", "thread_head", &o->thread_head, NULL},
        };
        km_status st = KM_OK;
        km_btf_member_info mi;
        for (size_t i = 0u; (st == KM_OK) && (i < (sizeof(f) / sizeof(f[0]))); i++) {
            st = km_kop_member(c, f[i].type, f[i].path, &mi, why);
            if (st == KM_OK) {
                *f[i].off = mi.offset;
                if (f[i].size != NULL) {
                    *f[i].size = mi.size;
                }
            }
        }
        if (st == KM_OK) {
            /* sched_ext (6.12+): only write checks need it */
            km_kop_msg scratch;
            km_kop_msg_clear(&scratch);
            o->have_scx = (km_kop_member(c, "task_struct", "scx.dsq", &mi, &scratch) == KM_OK);
            o->scx_dsq = o->have_scx ? mi.offset : 0u;
        }
        c->task_status = st;
        c->task_tried = true;
    } else if (c->task_status != KM_OK) {
        km_kop_msg_put(why, "task_struct offsets are not in the BTF");
    } else {
        /* cached */
    }
    return c->task_status;
}

/* Find the task with this pid: thread-group leaders on init_task.tasks, each
 * leader's threads on signal->thread_head.  Every list step counts against
 * KM_KOP_TASK_WALK_MAX. */
static km_status km_kop_find_task(km_kop_ctx *c, uint32_t pid, uint64_t *task, km_kop_msg *why)
{
    const km_kop_task_offs *o = &c->task;
    km_guest_kernel *gk = c->gk;
    uint64_t link = 0u;
    uint64_t size = 0u;
    uint64_t init = 0u;
    uint64_t leader = 0u;
    uint64_t found = 0u;
    uint32_t steps = 0u;
    bool done = false;
    km_status st = km_kop_symbol(c, "init_task", &link, &size, why);
    if (st == KM_OK) {
        st = km_gk_sym_kva(gk, link, &init);
        leader = init;
    }
    while ((st == KM_OK) && !done) {
        uint64_t sig = 0u;
        st = km_gk_read_u64(gk, leader + o->signal, &sig);
        if ((st == KM_OK) && (sig != 0u)) {
            uint64_t head = sig + o->thread_head;
            uint64_t node = 0u;
            st = km_gk_read_u64(gk, head, &node);
            while ((st == KM_OK) && !done && (node != head)) {
                uint32_t p = UINT32_MAX;
                uint64_t t = node - o->thread_node;
                steps++;
                if (steps > KM_KOP_TASK_WALK_MAX) {
                    st = KM_ERR_RANGE;
                } else {
                    st = km_gk_read_u32(gk, t + o->pid, &p);
                }
                if ((st == KM_OK) && (p == pid)) {
                    found = t;
                    done = true;
                } else if (st == KM_OK) {
                    st = km_gk_read_u64(gk, node, &node);
                } else {
                    /* stop */
                }
            }
        }
        if ((st == KM_OK) && !done) {
            uint64_t next = 0u;
            steps++;
            if (steps > KM_KOP_TASK_WALK_MAX) {
                st = KM_ERR_RANGE;
            } else {
                st = km_gk_read_u64(gk, leader + o->tasks, &next);
            }
            leader = next - o->tasks;
            if ((st == KM_OK) && (leader == init)) {
                done = true;
            }
        }
    }
    if ((st == KM_OK) && (found == 0u)) {
        st = KM_ERR_RANGE;
        km_kop_msg_put(why, "no task with pid ");
        km_kop_msg_put_u64(why, pid);
        km_kop_msg_put(why, " on the task list");
    } else if (st == KM_ERR_RANGE) {
        km_kop_msg_put(why, "task list walk exceeded ");
        km_kop_msg_put_u64(why, KM_KOP_TASK_WALK_MAX);
        km_kop_msg_put(why, " steps (a cycle or a corrupted list)");
    } else if (st != KM_OK) {
        km_kop_msg_put(why, "task list walk: ");
        km_kop_msg_put(why, km_status_name(st));
    } else {
        *task = found;
    }
    return st;
}

/* The reference's checks on a found task: identity for every access, and
 * for writes that the task is a sched_ext task that is neither running nor
 * queued (writing its scheduling fields then cannot race the scheduler). */
static km_status km_kop_task_checks(km_kop_ctx *c, const km_kop_target *t, uint64_t task, km_kop_dir dir,
                                    km_kop_msg *why)
{
    const km_kop_task_offs *o = &c->task;
    km_guest_kernel *gk = c->gk;
    uint64_t start = 0u;
    uint64_t boot = 0u;
    uint64_t exit_state = 0u;
    uint64_t state = 0u;
    km_status st = km_gk_read_u64(gk, task + o->start_time, &start);
    if (st == KM_OK) {
        st = km_gk_read_u64(gk, task + o->start_boottime, &boot);
    }
    if (st == KM_OK) {
        st = km_kop_read_uint(gk, task + o->exit_state, o->exit_state_size, &exit_state);
    }
    if (st == KM_OK) {
        st = km_kop_read_uint(gk, task + o->state, o->state_size, &state);
    }
    if (st != KM_OK) {
        km_kop_msg_put(why, "reading the task: ");
        km_kop_msg_put(why, km_status_name(st));
    } else if (t->check_start && !km_kop_task_start_ok(start, t->start_ns)) {
        st = KM_ERR_MISMATCH;
        km_kop_msg_put(why, "pid ");
        km_kop_msg_put_u64(why, t->pid);
        km_kop_msg_put(why, " started at ");
        km_kop_msg_put_u64(why, start);
        km_kop_msg_put(why, " ns, not within 10 ms after ");
        km_kop_msg_put_u64(why, t->start_ns);
        km_kop_msg_put(why, " (pid reused?)");
    } else if ((exit_state != 0u) || ((state & KM_KOP_TASK_DEAD) != 0u)) {
        st = KM_ERR_STATE;
        km_kop_msg_put(why, "task ");
        km_kop_msg_put_u64(why, t->pid);
        km_kop_msg_put(why, " is exiting or dead");
    } else if (dir == KM_KOP_WRITE) {
        uint64_t on_rq = 0u;
        uint64_t cls = 0u;
        uint64_t dsq = 0u;
        uint64_t ext_link = 0u;
        uint64_t ext_size = 0u;
        uint64_t ext = 0u;
        if (boot == 0u) {
            st = KM_ERR_STATE;
            km_kop_msg_put(why, "task has no start_boottime (not fully created)");
        } else if (!o->have_scx) {
            st = KM_ERR_UNSUPPORTED;
            km_kop_msg_put(why, "task writes need a sched_ext kernel (no task_struct.scx.dsq in BTF)");
        } else {
            st = km_kop_symbol(c, "ext_sched_class", &ext_link, &ext_size, why);
        }
        if (st == KM_OK) {
            st = km_gk_sym_kva(gk, ext_link, &ext);
        }
        if (st == KM_OK) {
            st = km_kop_read_uint(gk, task + o->on_rq, o->on_rq_size, &on_rq);
        }
        if (st == KM_OK) {
            st = km_gk_read_u64(gk, task + o->sched_class, &cls);
        }
        if (st == KM_OK) {
            st = km_gk_read_u64(gk, task + o->scx_dsq, &dsq);
        }
        if ((st == KM_OK) && (cls != ext)) {
            st = KM_ERR_STATE;
            km_kop_msg_put(why, "task ");
            km_kop_msg_put_u64(why, t->pid);
            km_kop_msg_put(why, " is not a sched_ext task (sched_class is not ext_sched_class)");
        } else if ((st == KM_OK) && (on_rq != 0u)) {
            st = KM_ERR_STATE;
            km_kop_msg_put(why, "task ");
            km_kop_msg_put_u64(why, t->pid);
            km_kop_msg_put(why, " is on a runqueue");
        } else if ((st == KM_OK) && (dsq != 0u)) {
            st = KM_ERR_STATE;
            km_kop_msg_put(why, "task ");
            km_kop_msg_put_u64(why, t->pid);
            km_kop_msg_put(why, " is queued on a dispatch queue");
        } else {
            /* ok, or the symbol/read failure already said why */
        }
    } else {
        /* a read: identity checks only */
    }
    return st;
}

km_status km_kop_resolve(km_kop_ctx *c, const km_kop_target *t, km_kop_dir dir, uint32_t len,
                         km_kop_where *out, km_kop_msg *why_out)
{
    km_kop_msg local;
    km_kop_msg *why = &local;
    km_kop_where w;
    km_btf_member_info mi;
    km_status st = KM_OK;
    uint64_t link = 0u;
    const char *type = NULL;
    (void)memset(&w, 0, sizeof(w));
    (void)memset(&mi, 0, sizeof(mi));
    km_kop_msg_clear(&local);
    if (why_out != NULL) {
        why = why_out;
    }
    switch (t->kind) {
    case KM_KOP_T_PA:
        w.physical = true;
        w.pa = t->addr;
        break;
    case KM_KOP_T_DIRECT:
        st = km_kop_need_gk(c, why);
        if (st == KM_OK) {
            uint64_t limit = 0u;
            uint32_t n = c->mem->count;
            if ((n > 0u) && (n <= KM_MEM_MAX_REGIONS)) {
                limit = c->mem->regions[n - 1u].gpa + c->mem->regions[n - 1u].size;
            }
            st = km_kop_direct_pa(c->gk->page_offset, c->gk->direct_pa_base, limit, t->addr,
                                  (len > 0u) ? len : 1u, &w.pa);
            if (st != KM_OK) {
                km_kop_msg_put(why, "direct-map address ");
                km_kop_msg_put_hex(why, t->addr);
                km_kop_msg_put(why, " (+");
                km_kop_msg_put_u64(why, len);
                km_kop_msg_put(why, " bytes) is outside the direct map [");
                km_kop_msg_put_hex(why, c->gk->page_offset);
                km_kop_msg_put(why, ", +");
                km_kop_msg_put_hex(why, (limit > c->gk->direct_pa_base) ? (limit - c->gk->direct_pa_base) : 0u);
                km_kop_msg_put(why, ")");
            } else {
                w.physical = true;
                w.kva = t->addr;
            }
        }
        break;
    case KM_KOP_T_KVA:
        w.kva = t->addr;
        break;
    case KM_KOP_T_SYMBOL:
    case KM_KOP_T_PERCPU:
        st = km_kop_need_gk(c, why);
        if (st == KM_OK) {
            st = km_kop_symbol(c, t->name, &link, &w.sym_size, why);
        }
        if ((st == KM_OK) && (t->kind == KM_KOP_T_PERCPU)) {
            km_gk_error ge;
            if (!c->gk->percpu_ready) {
                (void)km_gk_try_init_percpu(c->gk, &ge);
            }
            st = km_gk_percpu_kva(c->gk, link, t->cpu, &w.kva);
            if (st == KM_ERR_RANGE) {
                km_kop_msg_put(why, "cpu ");
                km_kop_msg_put_u64(why, t->cpu);
                km_kop_msg_put(why, " out of range (the guest has ");
                km_kop_msg_put_u64(why, c->gk->ncpus);
                km_kop_msg_put(why, " CPUs)");
            } else if (st != KM_OK) {
                km_kop_msg_put(why, "per-CPU offsets not available: ");
                km_kop_msg_put(why, km_status_name(st));
            } else {
                /* resolved */
            }
        } else if (st == KM_OK) {
            st = km_gk_sym_kva(c->gk, link, &w.kva);
        } else {
            /* said why */
        }
        if ((st == KM_OK) && km_kop_given(t->field)) {
            st = km_kop_symbol_type(c, t, &type, why);
            if (st == KM_OK) {
                st = km_kop_member(c, type, t->field, &mi, why);
            }
            if (st == KM_OK) {
                w.kva += mi.offset;
                w.has_member = true;
                w.member_size = mi.size;
                w.member_is_array = (mi.kind == KM_BTF_KIND_ARRAY);
            }
        }
        w.kva += t->offset;
        break;
    case KM_KOP_T_TASK:
        st = km_kop_need_gk(c, why);
        if ((st == KM_OK) && !km_kop_given(t->field)) {
            st = KM_ERR_INVALID_ARG;
            km_kop_msg_put(why, "a task target names a task_struct member");
        }
        if (st == KM_OK) {
            st = km_kop_task_offsets(c, why);
        }
        if (st == KM_OK) {
            st = km_kop_member(c, "task_struct", t->field, &mi, why);
        }
        if (st == KM_OK) {
            uint64_t task = 0u;
            st = km_kop_find_task(c, t->pid, &task, why);
            if (st == KM_OK) {
                st = km_kop_task_checks(c, t, task, dir, why);
            }
            if (st == KM_OK) {
                w.kva = task + mi.offset;
                w.has_member = true;
                w.member_size = mi.size;
                w.member_is_array = (mi.kind == KM_BTF_KIND_ARRAY);
            }
        }
        break;
    default:
        st = KM_ERR_INVALID_ARG;
        km_kop_msg_put(why, "unknown target kind");
        break;
    }
    if ((st == KM_OK) && !w.physical) {
        /* Every kernel-VA target: the kernel half, checked before any walk. */
        if (!km_kop_kernel_half(w.kva)) {
            st = KM_ERR_RANGE;
            km_kop_msg_put(why, "kva ");
            km_kop_msg_put_hex(why, w.kva);
            km_kop_msg_put(why, " is not a kernel-half address (refused before any walk): out of range");
        } else {
            st = km_kop_need_gk(c, why);
        }
        if (st == KM_OK) {
            st = km_gk_kva_to_pa(c->gk, w.kva, &w.pa);
            if (st != KM_OK) {
                km_kop_msg_put(why, "kva ");
                km_kop_msg_put_hex(why, w.kva);
                km_kop_msg_put(why, (st == KM_ERR_UNMAPPED) ? ": page unmapped" : ": ");
                if (st != KM_ERR_UNMAPPED) {
                    km_kop_msg_put(why, km_status_name(st));
                }
            }
        }
    }
    if (st == KM_OK) {
        *out = w;
    }
    return st;
}
