/* BROKEN ON PURPOSE (make verify requires spin to find the bug): verify/models/watchpoint.pml
 * with NO_RETRACT defined -- the latch withdrawal removed (the reference's behaviour): a vCPU that read the request
 * before a disarm latches after the disarm's hit = false, and the latch outlives the
 * instance, so P4 fails.
 * This file is the #define below followed by watchpoint.pml verbatim; regenerate it when the
 * model changes (docs/watchpoint-fsm.md, "Model checking"). */
#define NO_RETRACT 1

/* The watchpoint slot-0 protocol: coordinator (publish, detach, rebind over two ticks)
 * and NVCPU vCPUs (self-arm, fire, latch), as implemented in
 * modules/watchpoint_fsm/watchpoint_fsm.c (docs/watchpoint-fsm.md).
 *
 * Memory model: Promela interleavings are sequentially consistent.  Every shared location
 * here is a single writer (the coordinator) + acquire readers, or the hit flag changed
 * only by CAS and release stores; for these release/acquire gives the same outcomes as SC
 * for the properties checked (docs/memory-ordering.md argues it per property).
 *
 * Instances: a root is (address, id).  Addresses NONE=0, A=1, B=2; A can come back with a
 * new id (the 7.3 "same scx_sched address, new instance" case).  A host pointer is named by
 * the address whose exit_kind it points at (same address, same word).
 *
 * Checked (assertions):
 *   P1  a vCPU that accepts the host pointer for a fire gets the pointer of the address it
 *       fired on: never NULL, never another instance's exit_kind;
 *   P1' a fire on a request that still stands is never dropped for a NULL pointer
 *       (this is what the publish order buys; the .fail.pml twin swaps it and fails here);
 *   P2  one published instance latches at most one hit (a latch that races a disarm is
 *       withdrawn, never kept);
 *   P3  an instance is published only when no vCPU still has another address loaded in its
 *       debug registers, and with hit == false;
 *   P4  after a disarm and the tick wait, no latch is left over (hit == false).
 *
 * The tick assumption, modelled explicitly: a tick starts only after every vCPU has
 * completed one self-arm that began after the previous tick's stores (done_epoch[i] ==
 * epoch).  In the VMM this is "every vCPU re-enters KVM_RUN through km_wp_vcpu_self_arm
 * between two ticks" (kick after a disarm, or a tick period much longer than a run slice).
 * set_debug failures are not modelled here (see watchpoint_failures.pml). */

#ifndef NVCPU
#define NVCPU 3
#endif
#ifndef NTICKS
#define NTICKS 5
#endif

#define NONE 0
#define A    1
#define B    2

/* slot 0 */
byte request_kva = NONE;
byte kind_host_ptr = NONE;
bool hit = false;
bool any_armed = false;

/* the tick assumption */
byte epoch = 0;
byte done_epoch[NVCPU];

/* ghost state for the assertions */
byte hw0[NVCPU];      /* what each vCPU's debug registers hold */
byte kept = 0;        /* latches kept since the last publish */
bool done = false;

#if NVCPU == 1
#define ALL_REARMED (done_epoch[0] == epoch)
#define NOBODY_HOLDS (hw0[0] == NONE)
#elif NVCPU == 2
#define ALL_REARMED (done_epoch[0] == epoch && done_epoch[1] == epoch)
#define NOBODY_HOLDS (hw0[0] == NONE && hw0[1] == NONE)
#else
#define ALL_REARMED (done_epoch[0] == epoch && done_epoch[1] == epoch && done_epoch[2] == epoch)
#define NOBODY_HOLDS (hw0[0] == NONE && hw0[1] == NONE && hw0[2] == NONE)
#endif

inline publish(x) {
#ifdef SWAPPED
    request_kva = x;
    kind_host_ptr = x;
#else
    kind_host_ptr = x;          /* release */
    request_kva = x;            /* release */
#endif
    any_armed = true
}

inline disarm() {
    request_kva = NONE;         /* release */
    kind_host_ptr = NONE;       /* release */
    hit = false                 /* release */
}

active proctype coordinator() {
    byte last_kva = NONE, last_id = 0, cur_kva, cur_id, t = 0, what;
    do
    :: t < NTICKS ->
#ifndef NO_TICK_ASSUMPTION
        /* the tick assumption: every vCPU has re-armed since the last tick's stores */
        ALL_REARMED;
#endif
        atomic {
            /* P4: no latch survives its instance by a whole tick */
            assert(request_kva != NONE || !hit);
            /* *scx_root and scx_sched.id as read this tick */
            if
            :: cur_kva = NONE; cur_id = 0
            :: cur_kva = A; cur_id = 1
            :: cur_kva = A; cur_id = 2
            :: cur_kva = B; cur_id = 1
            fi;
            /* km_wp_transition: 0 unchanged, 1 disarm (detach/rebind), 2 publish, 3 deferred */
            if
            :: (cur_kva == last_kva && (cur_kva == NONE || cur_id == last_id)) -> what = 0
            :: else ->
                if
                :: last_kva != NONE -> what = 1; last_kva = NONE; last_id = 0
                :: else ->
                    if
                    :: what = 2                          /* translation ok */
                    :: what = 3                          /* translation failed */
                    fi
                fi
            fi
        }
        /* km_wp_apply */
        if
        :: what == 1 -> disarm()
        :: what == 2 ->
            /* P3: nobody holds another address, and the instance starts unlatched */
            atomic { assert(NOBODY_HOLDS); assert(!hit); kept = 0 }
            publish(cur_kva);
            last_kva = cur_kva; last_id = cur_id
        :: else -> skip
        fi;
        atomic { epoch++; t++; what = 0; cur_kva = NONE; cur_id = 0 }
    :: else -> break
    od;
    done = true
}

active [NVCPU] proctype vcpu() {
    byte me = _pid - 1;
    byte armed0 = NONE, e, req, p, r, g;
    bool won;
    do
    :: done -> break
    :: /* km_wp_vcpu_self_arm, before KVM_RUN (any_armed is monotonic, so reading it with
        * the request in one step loses no outcome) */
        atomic {
            e = epoch;
            if
            :: any_armed -> req = request_kva           /* acquire */
            :: else -> req = armed0
            fi
        }
        atomic {
            if
            :: req != armed0 -> hw0[me] = req; armed0 = req   /* set_debug succeeded */
            :: else -> skip
            fi;
            done_epoch[me] = e;
            e = 0; req = 0
        }
    :: hw0[me] != NONE ->
        /* a guest store hit the watched word; km_wp_vcpu_on_hit, slot 0:
         * the pointer (acquire), then the request (acquire) */
        atomic { p = kind_host_ptr; g = request_kva }
        /* P1': a NULL pointer only when the request this vCPU loaded is gone */
        assert(p != NONE || g != hw0[me]);
        g = 0;
        if
        :: p == NONE -> skip                            /* stale fire */
        :: else ->
            r = request_kva;
            if
            :: (r != NONE && r == hw0[me]) ->
                assert(p == hw0[me]);                   /* P1 */
                if
                :: skip                                 /* exit_kind < 1024: not an error */
                :: atomic {                             /* >= 1024: CAS false -> true */
                       if
                       :: !hit -> hit = true; won = true
                       :: else -> won = false
                       fi
                   }
                   if
                   :: won ->
                       atomic {
                           if
                           :: request_kva != r ->       /* disarmed meanwhile: withdraw */
#ifndef NO_RETRACT
                               if
                               :: hit -> hit = false    /* CAS true -> false */
                               :: else -> skip
                               fi
#else
                               skip
#endif
                           :: else ->
                               kept++;
                               assert(kept <= 1)        /* P2 */
                           fi
                       }
                   :: else -> skip
                   fi
                fi
            :: else -> skip                             /* stale: request moved */
            fi
        fi;
        p = 0; r = 0; won = false
    od
}
