/* Publish order of the watchpoint slot 0 (DESIGN.md "The watchpoint state machine").
 *
 * The coordinator publishes the host pointer of exit_kind BEFORE the request KVA, and
 * disarms in the opposite order (KVA, then pointer).  A vCPU that acquire-loads a
 * non-zero request KVA and then loads the pointer must never see NULL or a pointer
 * for a different scheduler instance.  Promela interleavings are sequentially
 * consistent, which is exactly what release/acquire pairs give these two locations.
 *
 * The .fail.pml twin swaps the publish order; make verify checks that it fails. */

#define NONE 0
#define A    1
#define B    2

byte request_kva = NONE;   /* which instance's exit_kind the vCPUs should watch */
byte kind_host_ptr = NONE; /* which instance's exit_kind the host pointer points at */

inline publish(x) {
#ifdef SWAPPED
    request_kva = x;
    kind_host_ptr = x;
#else
    kind_host_ptr = x;
    request_kva = x;
#endif
}

inline disarm() {
    request_kva = NONE;
    kind_host_ptr = NONE;
}

active proctype coordinator() {
    publish(A);
    disarm();
    publish(B);
    disarm();
}

active [2] proctype vcpu() {
    byte armed, ptr;
    do
    :: armed = request_kva;          /* acquire */
       if
       :: armed != NONE ->
          ptr = kind_host_ptr;       /* the hit handler's acquire load */
          /* While the request this vCPU armed still stands, the host pointer names
           * that same instance: never NULL, never another scheduler's exit_kind. */
          assert(request_kva != armed || ptr == armed)
       :: else -> skip
       fi
    :: timeout -> break
    od
}
